/*
 * wire.h - turn a queued message body (LF line ends) into the octets sent
 * after DATA: CRLF line ends, dot-stuffed, lines of at most 998 octets,
 * ending in CRLF "." CRLF. Pure, unit-tested.
 */
#ifndef NCMTA_WIRE_H
#define NCMTA_WIRE_H

#include <stddef.h>

#define WIRE_LINE_MAX 998 /* octets per line, CRLF excluded (RFC 5321) */

/*
 * Encode in[0..inlen) into out and return the number of octets written.
 * With out == NULL nothing is written and only the length is returned,
 * so a caller measures first and then allocates exactly.
 */
size_t wire_encode(const char *in, size_t inlen, char *out);

#endif
