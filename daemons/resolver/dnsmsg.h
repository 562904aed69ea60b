/*
 * dnsmsg.h - DNS wire-format answers turned into what the resolver
 * hands its clients: a status (DNS_S_*), records (MX preference and
 * exchanger, a numeric address, TLSA fields, or a TXT record's text),
 * whether the name server vouched for them (the AD bit), and how long
 * the answer may be kept; and the questions the resolver sends. Pure code: no I/O, every read
 * bounds-checked, any packet is safe input.
 */
#ifndef NCMTA_DNSMSG_H
#define NCMTA_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX 253 /* text form, without the trailing dot */
#define DNS_NAME_BUF (DNS_NAME_MAX + 3)
#define DNS_MAX_RECORDS 64 /* records kept from one answer */
#define DNS_MAX_CNAMES 8 /* CNAME links followed inside one answer */
#define DNS_ERROR_MAX 512
#define DNS_MAX_TLSA 8 /* TLSA records kept from one answer */
/* Association data longer than this (a full certificate of unusual
 * size) makes a TLSA record unusable: it would not fit the frames that
 * carry it to the smtp worker. */
#define DNS_TLSA_DATA_MAX 1024
/* A TXT record is its character-strings joined (RFC 1035 3.3.14); one
 * longer than this, or holding a NUL octet (it could not be a string
 * again), is unusable. At most DNS_MAX_TXT are kept from one answer. */
#define DNS_TXT_DATA_MAX 2048
#define DNS_MAX_TXT 16
#define DNS_QUERY_MAX (12 + DNS_NAME_BUF + 1 + 4) /* a question we build */
/*
 * A negative answer without an SOA (forwarders such as dnsmasq send
 * those) has no TTL of its own; it is kept this long, as Unbound does,
 * so a burst of mail to a missing domain asks once, yet a fix of the
 * zone is seen at once.
 */
#define DNS_NEGATIVE_NOSOA_TTL 5

struct dns_record {
	uint32_t pref; /* MX preference; 0 for addresses */
	/* exchanger ("" = null MX), numeric address, for TLSA the
	 * presentation form "usage selector mtype hex" (lower-case hex), for
	 * TXT the record's character-strings joined */
	char *data;
};

struct dns_result {
	int status; /* DNS_S_* */
	/* seconds the answer may be kept: the least TTL of the records used
	 * (CNAMEs included), or for NXDOMAIN/NODATA min(SOA TTL, SOA
	 * MINIMUM) (RFC 2308), DNS_NEGATIVE_NOSOA_TTL without an SOA */
	uint32_t ttl;
	size_t n;
	struct dns_record *rr;
	char why[128]; /* TEMPFAIL: what went wrong, for the log */
	/* the reply's AD bit (RFC 4035 3.2.3): a validating name server
	 * says it checked the answer, or the absence, with DNSSEC. What it
	 * is worth depends on trusting that server (dns_trust_ad). */
	int ad;
};

/*
 * Parse the reply pkt to the question (qname, qtype DNS_T_*). Always
 * fills res (free it with dns_result_free()); a malformed or failed
 * reply gives DNS_S_TEMPFAIL with res->why set.
 */
void dns_parse_reply(const uint8_t *pkt, size_t len, const char *qname,
    int qtype, struct dns_result *res);

/*
 * Build the question (name, qtype) with recursion desired, and with the
 * AD bit set when ad is non-zero (RFC 6840 5.7: a validating name server
 * then says in its reply's AD bit whether it validated the answer). The
 * ID is left 0: c-ares sets its own. Returns the length written to buf
 * (at least DNS_QUERY_MAX octets), or -1 when name is no host name.
 */
int dns_build_query(
    const char *name, int qtype, int ad, uint8_t *buf, size_t len);

void dns_result_init(struct dns_result *, int status);
void dns_result_copy(struct dns_result *dst, const struct dns_result *src);
void dns_result_free(struct dns_result *);

/*
 * Check a host name and copy it lower-cased, without a trailing dot, to
 * out (DNS_NAME_BUF bytes): letters, digits, '-' and '_', labels of 1-63
 * octets, at most DNS_NAME_MAX in all. Returns 0, or -1 if it is no name.
 */
int dns_name_normalize(const char *name, char *out);

/* "MX", "A", "AAAA", "TLSA", "TXT", or NULL for a type the resolver
 * does not ask. */
const char *dns_type_name(int qtype);

/* The Postfix-like text a client logs for a negative or failed answer:
 * "Name service error for name=N type=T: Host not found". */
void dns_error_text(
    char *buf, size_t len, const char *name, int qtype, int status);

#endif
