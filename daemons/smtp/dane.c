/*
 * dane.c - TLSA records for DANE (RFC 6698, RFC 7672) from the text qmgr
 * sends with a host to fields OpenSSL takes (SSL_dane_tlsa_add), and the
 * rules that make a record usable for SMTP. Every byte of the text is
 * checked: a malformed list refuses the job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dane.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A decimal octet followed by one space; p moves past both. */
static int
parse_field(const char **p, uint8_t *v)
{
	unsigned n = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 3) {
		n = n * 10 + (unsigned)(**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || n > 255 || **p != ' ')
		return -1;
	(*p)++;
	*v = (uint8_t)n;
	return 0;
}

/* One line "U S M hex" ending at '\n' or the end; p moves past it. */
static int
parse_line(const char **p, struct dane_rr *rr)
{
	int hi, lo;

	if (parse_field(p, &rr->usage) == -1 ||
	    parse_field(p, &rr->selector) == -1 ||
	    parse_field(p, &rr->mtype) == -1)
		return -1;
	rr->len = 0;
	while (**p != '\0' && **p != '\n') {
		if (rr->len >= DANE_DATA_MAX || (hi = hex_value(**p)) == -1 ||
		    (lo = hex_value((*p)[1])) == -1)
			return -1;
		rr->data[rr->len++] = (uint8_t)(hi << 4 | lo);
		*p += 2;
	}
	if (rr->len == 0)
		return -1;
	if (**p == '\n' && *++(*p) == '\0')
		return -1; /* a trailing empty line */
	return 0;
}

int
dane_parse(const char *text, struct dane_rr *out, size_t max)
{
	const char *p = text;
	size_t n = 0;

	while (*p != '\0') {
		if (n >= max || parse_line(&p, &out[n]) == -1)
			return -1;
		n++;
	}
	return (int)n;
}

int
dane_usable(const struct dane_rr *rr)
{
	if (rr->usage != DANE_TA && rr->usage != DANE_EE)
		return 0;
	if (rr->selector > 1)
		return 0;
	switch (rr->mtype) {
	case 0:
		return 1;
	case 1:
		return rr->len == 32;
	case 2:
		return rr->len == 64;
	default:
		return 0;
	}
}

void
dane_describe(const struct dane_rr *rr, char *buf, size_t len)
{
	static const char *usages[] = {
	    "PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"};
	static const char *selectors[] = {"Cert", "SPKI"};
	static const char *mtypes[] = {"Full", "SHA2-256", "SHA2-512"};

	snprintf(buf, len, "%s(%u) %s(%u) %s(%u)",
	    rr->usage < 4 ? usages[rr->usage] : "?", rr->usage,
	    rr->selector < 2 ? selectors[rr->selector] : "?", rr->selector,
	    rr->mtype < 3 ? mtypes[rr->mtype] : "?", rr->mtype);
}
