/*
 * addr.h - e-mail address handling for submission and routing: parse an
 * address from a command line or a header, qualify a bare local part,
 * split and lower-case the domain. Pure functions, unit-tested.
 */
#ifndef NCMTA_ADDR_H
#define NCMTA_ADDR_H

#include <stddef.h>

#define ADDR_MAX 512

/* addr_normalize() flags */
#define ADDR_NULL_OK 0x1 /* "" (from "<>", the null sender) is allowed */
#define ADDR_UTF8 0x2 /* UTF-8 allowed (RFC 6531: SMTPUTF8 was given) */

/*
 * Normalise one envelope address: strip surrounding "<>" and whitespace,
 * reject control characters, spaces outside quotes, a missing local part
 * or an empty domain. "" (from "<>") is the null sender, allowed only
 * with ADDR_NULL_OK. Octets above 0x7f (quoted too) are refused, unless
 * ADDR_UTF8 is given: then the local part and the domain may hold
 * well-formed UTF-8 (no overlong form, surrogate or code point beyond
 * U+10FFFF, no stray or missing continuation octet), but no C1 control
 * (U+0080-U+009F). An unqualified local part gets "@origin". The
 * domain's ASCII letters are lower-cased, nothing else. Returns 0 and
 * writes out, or -1 with a reason in err.
 */
int addr_normalize(const char *in, const char *origin, int flags, char *out,
    size_t outlen, const char **err);

/* The reason addr_normalize() gives for a control character (octets
 * below 0x20 and 0x7f; with ADDR_UTF8 also U+0080-U+009F), anywhere in
 * the address, quoted or not. */
#define ADDR_ERR_CONTROL "control character in address"
/* ... for an octet above 0x7f without ADDR_UTF8 */
#define ADDR_ERR_8BIT "non-ASCII address"
/* ... for a bad UTF-8 sequence with ADDR_UTF8 */
#define ADDR_ERR_UTF8 "malformed UTF-8 in address"

/* Octets (2-4) of the well-formed UTF-8 sequence at s[0..n), or 0 (an
 * ASCII octet, a bad or cut sequence, an overlong form, a surrogate,
 * beyond U+10FFFF). */
size_t addr_utf8_len(const unsigned char *s, size_t n);

/* Whether s holds an octet above 0x7f. */
int addr_is_8bit(const char *s);

/* Whether s[0..n) holds a control character. */
int addr_has_control(const char *s, size_t n);

/* The domain of an address: text after the last '@' ("" if none). */
const char *addr_domain(const char *);

/*
 * Extract the addresses of a header value (To/Cc/Bcc: "Name <a@b>,
 * c@d, group: e@f;"). Calls cb for each raw address found; returns the
 * count, or -1 on an unparseable value.
 */
int addr_list_parse(
    const char *value, void (*cb)(const char *, void *), void *arg);

/*
 * Remove repeated addresses from v (exact match, so normalise first),
 * keeping the first of each in its place and freeing the others.
 * Returns the new count.
 */
size_t addr_dedup(char **v, size_t n);
/* The same, and with[i] follows v[i]: kept in step, freed with it. */
size_t addr_dedup_with(char **v, char **with, size_t n);

#endif
