/*
 * dane.h - the TLSA records qmgr hands a worker with a DANE host (RFC
 * 7672), from their text form ("usage selector mtype hex", one a line,
 * as the resolver wrote them) to fields, and which of them an SMTP client
 * may use. Pure code: qmgr's text is checked, never trusted.
 */
#ifndef NCMTA_SMTP_DANE_H
#define NCMTA_SMTP_DANE_H

#include <stddef.h>
#include <stdint.h>

#define DANE_MAX_RECORDS 8 /* as the resolver keeps (DNS_MAX_TLSA) */
#define DANE_DATA_MAX 1024 /* octets of association data */

enum dane_usage { DANE_PKIX_TA = 0, DANE_PKIX_EE, DANE_TA, DANE_EE };

struct dane_rr {
	uint8_t usage, selector, mtype;
	size_t len;
	uint8_t data[DANE_DATA_MAX];
};

/*
 * Parse text into at most max records; returns how many, or -1 when the
 * text is malformed (a field out of range, odd or bad hex, too many
 * records, empty lines).
 */
int dane_parse(const char *text, struct dane_rr *out, size_t max);

/*
 * Whether an SMTP client may use the record (RFC 7672 3.1): DANE-TA(2) or
 * DANE-EE(3), selector Cert(0) or SPKI(1), matching type Full(0),
 * SHA2-256(1) or SHA2-512(2) with a digest of the right length. PKIX-TA(0)
 * and PKIX-EE(1) are unusable for SMTP (RFC 7672 3.1.3).
 */
int dane_usable(const struct dane_rr *);

/* "DANE-EE(3) SPKI(1) SHA2-256(1)", for the log. */
void dane_describe(const struct dane_rr *, char *buf, size_t len);

#endif
