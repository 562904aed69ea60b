/*
 * addr.h - e-mail address handling for submission and routing: parse an
 * address from a command line or a header, qualify a bare local part,
 * split and lower-case the domain. Pure functions, unit-tested.
 */
#ifndef NCMTA_ADDR_H
#define NCMTA_ADDR_H

#include <stddef.h>

#define ADDR_MAX 512

/*
 * Normalise one envelope address: strip surrounding "<>" and whitespace,
 * reject control characters and 8-bit octets (even quoted), spaces
 * outside quotes, a missing local part
 * or an empty domain. "" (from "<>") is the null sender, allowed only
 * when allow_null. An unqualified local part gets "@origin". The domain
 * is lower-cased. Returns 0 and writes out, or -1 with a reason in err.
 */
int addr_normalize(const char *in, const char *origin, int allow_null,
    char *out, size_t outlen, const char **err);

/* The reason addr_normalize() gives for a control character (octets
 * below 0x20 and 0x7f), anywhere in the address, quoted or not. */
#define ADDR_ERR_CONTROL "control character in address"

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
