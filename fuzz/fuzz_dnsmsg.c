/*
 * fuzz_dnsmsg.c - DNS replies (daemons/resolver/dnsmsg.c) as a name
 * server sends them. The input is the packet; the question the resolver
 * asked is read from the packet's own question section (so mutations
 * reach the answers) and normalised with dns_name_normalize() as the
 * resolver does, falling back to "example.com" MX. Every answer must be
 * a status with records that fit it: MX exchangers normalised names or
 * the null MX, addresses numeric, TLSA records "U S M hex" within their
 * bounds, TXT records without NUL within DNS_TXT_DATA_MAX, TTLs within RFC 2181's range, no AD bit on a failure. The
 * question is also built again (dns_build_query) and must parse back.
 */
#include <arpa/inet.h>

#include <stdio.h>

#include "dnsmsg.h"
#include "fuzz.h"
#include "proto.h"

/* The first question's name and type, uncompressed labels only. */
static void
question_of(const uint8_t *p, size_t len, char *name, int *qtype)
{
	char raw[DNS_NAME_BUF];
	size_t pos = 12, n = 0;
	uint8_t c;
	int t;

	strlcpy(name, "example.com", DNS_NAME_BUF);
	*qtype = DNS_T_MX;
	while (pos < len && (c = p[pos]) != 0) {
		if (c > 63 || pos + 1 + c > len || n + c + 2 > sizeof(raw))
			return;
		if (n > 0)
			raw[n++] = '.';
		memcpy(raw + n, p + pos + 1, c);
		n += c;
		pos += 1 + (size_t)c;
	}
	if (pos + 3 > len)
		return;
	raw[n] = '\0';
	if (memchr(raw, '\0', n) != NULL ||
	    dns_name_normalize(raw, name) == -1) {
		strlcpy(name, "example.com", DNS_NAME_BUF);
		return;
	}
	t = p[pos + 1] << 8 | p[pos + 2];
	if (t == DNS_T_A || t == DNS_T_AAAA || t == DNS_T_MX ||
	    t == DNS_T_TLSA || t == DNS_T_TXT)
		*qtype = t;
}

/* "U S M hex": three decimal octets, then even, lower-case hex. */
static void
check_tlsa(const struct dns_record *rr)
{
	unsigned u, sel, mt;
	int n = 0;
	size_t hex;

	FUZZ_CHECK(sscanf(rr->data, "%u %u %u %n", &u, &sel, &mt, &n) == 3 &&
	        n > 0 && u < 256 && sel < 256 && mt < 256,
	    "TLSA \"%s\" does not start with three octets", rr->data);
	hex = strlen(rr->data + n);
	FUZZ_CHECK(hex > 0 && hex % 2 == 0 && hex <= 2 * DNS_TLSA_DATA_MAX &&
	        strspn(rr->data + n, "0123456789abcdef") == hex,
	    "TLSA data \"%s\"", rr->data + n);
}

static void
check_record(const struct dns_record *rr, int qtype)
{
	char norm[DNS_NAME_BUF];
	unsigned char addr[16];

	FUZZ_CHECK(rr->data != NULL, "record without data");
	if (qtype == DNS_T_TLSA) {
		check_tlsa(rr);
		return;
	}
	if (qtype == DNS_T_TXT) {
		/* a NUL would have ended the string early: the text must
		 * be the length malloc'd, which ASan checks on reading */
		FUZZ_CHECK(
		    strlen(rr->data) <= DNS_TXT_DATA_MAX && rr->pref == 0,
		    "TXT record of %zu octets", strlen(rr->data));
		return;
	}
	if (qtype == DNS_T_MX) {
		if (*rr->data == '\0')
			return; /* null MX */
		FUZZ_CHECK(dns_name_normalize(rr->data, norm) == 0 &&
		        strcmp(norm, rr->data) == 0,
		    "exchanger \"%s\" is not a normalised name", rr->data);
		return;
	}
	FUZZ_CHECK(rr->pref == 0, "preference %u on an address", rr->pref);
	FUZZ_CHECK(inet_pton(qtype == DNS_T_A ? AF_INET : AF_INET6, rr->data,
	               addr) == 1,
	    "address \"%s\" does not parse", rr->data);
}

static void
check_result(const struct dns_result *res, int qtype)
{
	struct dns_result copy;
	size_t i;

	FUZZ_CHECK(res->status >= DNS_S_OK && res->status <= DNS_S_TEMPFAIL,
	    "status %d", res->status);
	FUZZ_CHECK(res->n <= (qtype == DNS_T_TLSA         ? DNS_MAX_TLSA
	                             : qtype == DNS_T_TXT ? DNS_MAX_TXT
	                                                  : DNS_MAX_RECORDS),
	    "%zu records", res->n);
	FUZZ_CHECK(res->ad == 0 || res->status != DNS_S_TEMPFAIL,
	    "AD on a temporary failure");
	FUZZ_CHECK(memchr(res->why, '\0', sizeof(res->why)) != NULL &&
	        !fuzz_has_control(res->why, strlen(res->why)),
	    "reason text");
	if (res->status != DNS_S_OK)
		FUZZ_CHECK(res->n == 0, "%zu records with status %d", res->n,
		    res->status);
	if (res->status == DNS_S_OK)
		FUZZ_CHECK(res->n > 0, "OK without records");
	if (res->status == DNS_S_TEMPFAIL)
		FUZZ_CHECK(res->why[0] != '\0', "temporary failure, no reason");
	else
		FUZZ_CHECK(res->ttl <= 0x7fffffff, "ttl %u", res->ttl);
	for (i = 0; i < res->n; i++)
		check_record(&res->rr[i], qtype);
	dns_result_copy(&copy, res);
	FUZZ_CHECK(copy.n == res->n && copy.status == res->status &&
	        copy.ttl == res->ttl && copy.ad == res->ad,
	    "copy differs");
	for (i = 0; i < res->n; i++)
		FUZZ_CHECK(copy.rr[i].pref == res->rr[i].pref &&
		        strcmp(copy.rr[i].data, res->rr[i].data) == 0,
		    "copied record %zu differs", i);
	dns_result_free(&copy);
}

/* The question, built as the resolver sends it, is one whose reply
 * header (QR set, no records) parses as a NODATA for that question. */
static void
check_query(const char *qname, int qtype, int ad)
{
	uint8_t q[DNS_QUERY_MAX];
	struct dns_result res;
	int len;

	len = dns_build_query(qname, qtype, ad, q, sizeof(q));
	FUZZ_CHECK(
	    len > 12 && (size_t)len <= sizeof(q), "query length %d", len);
	FUZZ_CHECK(((q[3] & 0x20) != 0) == (ad != 0), "AD bit in the query");
	q[2] |= 0x80; /* as a reply */
	dns_parse_reply(q, (size_t)len, qname, qtype, &res);
	FUZZ_CHECK(res.status == DNS_S_NODATA && res.ad == (ad != 0),
	    "own question \"%s\" does not parse back (%d)", qname, res.status);
	dns_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_result res;
	char qname[DNS_NAME_BUF], text[DNS_ERROR_MAX];
	int qtype;

	question_of(data, size, qname, &qtype);
	dns_parse_reply(data, size, qname, qtype, &res);
	check_result(&res, qtype);
	check_query(qname, qtype, size > 3 && (data[3] & 0x20));
	dns_error_text(text, sizeof(text), qname, qtype, res.status);
	FUZZ_CHECK(!fuzz_has_control(text, strlen(text)), "error text");
	dns_result_free(&res);
	return 0;
}
