/*
 * mtasts.h - MTA-STS (RFC 8461) as text: the "_mta-sts" TXT record, the
 * policy file served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt,
 * and whether an exchanger's name matches a policy's mx patterns. Pure
 * functions: no I/O, no allocation. The resolver daemon reads the TXT
 * record and fetches the file; qmgr parses, caches and applies it
 * (doc/design.md, "MTA-STS").
 */
#ifndef NCMTA_MTASTS_H
#define NCMTA_MTASTS_H

#include <stddef.h>
#include <stdint.h>

#define MTASTS_ID_MAX 32 /* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define MTASTS_MAX_MX 32 /* mx lines kept; a policy with more is invalid */
#define MTASTS_MX_MAX 253 /* octets in one mx pattern */
#define MTASTS_POLICY_MAX 65536 /* octets in a policy file (3.3: "64k") */
#define MTASTS_MAX_AGE_MAX 31557600 /* one year, RFC 8461 3.2 */

enum mtasts_mode { MTASTS_NONE = 0, MTASTS_TESTING, MTASTS_ENFORCE };

struct mtasts_policy {
	enum mtasts_mode mode;
	uint32_t max_age; /* seconds, 0..MTASTS_MAX_AGE_MAX */
	int nmx;
	char mx[MTASTS_MAX_MX][MTASTS_MX_MAX + 1]; /* lower case */
};

/*
 * One TXT record (its strings already joined) for _mta-sts.DOMAIN:
 * 1 and the id (NUL-terminated, into id[MTASTS_ID_MAX + 1]) when it is
 * a valid STSv1 record; 0 when it does not start with "v=STSv1" (another
 * record at that name: ignored); -1 with why when it starts so but is
 * malformed (3.1: then no policy applies).
 */
int mtasts_txt_parse(
    const char *txt, size_t len, char *id, char *why, size_t whylen);

/*
 * A policy file's body, strictly (RFC 8461 3.2): "key: value" lines
 * ending in CRLF or LF (the last one may lack it), in any order, with
 * "version: STSv1", "mode" and "max_age" exactly once each. 0 on
 * success, -1 with why (the first offence, "line N: ...") otherwise,
 * and then *policy is zeroed. Unknown keys are ignored (3.2); a
 * missing or repeated version, mode or max_age, a bad key or value, an
 * empty line, a NUL, control or non-ASCII octet, more than
 * MTASTS_MAX_MX mx lines, more than MTASTS_POLICY_MAX octets, and an
 * enforce or testing policy without mx lines are refused.
 */
int mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *,
    char *why, size_t whylen);

/* Whether host (an exchanger's name, any case, a final dot allowed)
 * matches one of the policy's mx patterns (RFC 8461 4.1: "*.example.com"
 * matches exactly one leftmost label). */
int mtasts_mx_match(const struct mtasts_policy *, const char *host);

/* "none", "testing", "enforce". */
const char *mtasts_mode_name(enum mtasts_mode);
/* The policy's mx patterns as one line, "a.example, *.b.example". */
void mtasts_mx_text(const struct mtasts_policy *, char *buf, size_t len);

#endif
