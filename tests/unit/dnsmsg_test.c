/*
 * dnsmsg_test.c - the resolver's DNS reply parser: MX, null MX, A, AAAA,
 * CNAME chains, TTLs, RFC 2308 negative TTLs, rcodes, TLSA records and
 * the AD bit, TXT records (strings joined, NUL and size refused), and malformed, truncated and random packets that must only
 * ever give TEMPFAIL; and the questions the resolver builds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../common/proto.h"
#include "../../daemons/resolver/dnsmsg.h"

#define T_CNAME 5
#define T_SOA 6

/* A reply under construction. */
struct pkt {
	uint8_t b[8192];
	size_t len;
};

static void
put8(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (uint8_t)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* "a.b" as labels; a trailing "@N" in the text is a pointer to N. */
static void
put_name(struct pkt *p, const char *name)
{
	const char *dot, *at = strchr(name, '@');
	size_t n, end = at ? (size_t)(at - name) : strlen(name);

	while (end > 0) {
		dot = memchr(name, '.', end);
		n = dot ? (size_t)(dot - name) : end;
		put8(p, (unsigned)n);
		memcpy(p->b + p->len, name, n);
		p->len += n;
		if (dot == NULL)
			break;
		end -= n + 1;
		name = dot + 1;
	}
	if (at != NULL)
		put16(p, 0xc000 | (unsigned)atoi(at + 1));
	else
		put8(p, 0);
}

static void
header(struct pkt *p, unsigned rcode, unsigned an, unsigned ns)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode); /* QR, RD, RA */
	put16(p, 1);
	put16(p, an);
	put16(p, ns);
	put16(p, 0);
}

static void
question(struct pkt *p, const char *name, unsigned type)
{
	put_name(p, name);
	put16(p, type);
	put16(p, 1);
}

/* Owner, type, class IN, ttl; returns where RDLENGTH goes. */
static size_t
rr_begin(struct pkt *p, const char *owner, unsigned type, uint32_t ttl)
{
	size_t at;

	put_name(p, owner);
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	at = p->len;
	put16(p, 0);
	return at;
}

static void
rr_end(struct pkt *p, size_t at)
{
	size_t n = p->len - at - 2;

	p->b[at] = (uint8_t)(n >> 8);
	p->b[at + 1] = (uint8_t)n;
}

static void
rr_mx(struct pkt *p, const char *owner, uint32_t ttl, unsigned pref,
    const char *exchange)
{
	size_t at = rr_begin(p, owner, DNS_T_MX, ttl);

	put16(p, pref);
	put_name(p, exchange);
	rr_end(p, at);
}

static void
rr_a(struct pkt *p, const char *owner, uint32_t ttl, const uint8_t ip[4])
{
	size_t at = rr_begin(p, owner, DNS_T_A, ttl);

	memcpy(p->b + p->len, ip, 4);
	p->len += 4;
	rr_end(p, at);
}

static void
rr_cname(struct pkt *p, const char *owner, uint32_t ttl, const char *target)
{
	size_t at = rr_begin(p, owner, T_CNAME, ttl);

	put_name(p, target);
	rr_end(p, at);
}

static void
rr_soa(struct pkt *p, const char *owner, uint32_t ttl, uint32_t minimum)
{
	size_t at = rr_begin(p, owner, T_SOA, ttl);

	put_name(p, "ns.example.test");
	put_name(p, "hostmaster.example.test");
	put32(p, 2024010101);
	put32(p, 3600);
	put32(p, 600);
	put32(p, 86400);
	put32(p, minimum);
	rr_end(p, at);
}

static struct dns_result
parse(const struct pkt *p, const char *qname, int qtype)
{
	struct dns_result r;

	dns_parse_reply(p->b, p->len, qname, qtype, &r);
	return r;
}

/* Two MX records, the second exchanger compressed against the question
 * name (offset 12), the lowest TTL kept. */
static void
build_mx(struct pkt *p)
{
	header(p, 0, 2, 0);
	question(p, "example.test", DNS_T_MX);
	rr_mx(p, "@12", 300, 10, "mx1.example.test");
	rr_mx(p, "@12", 120, 20, "mx2@12");
}

static void
test_mx(void)
{
	struct pkt p;
	struct dns_result r;

	build_mx(&p);
	r = parse(&p, "example.test", DNS_T_MX);
	is_int(r.status, DNS_S_OK, "MX: ok");
	is_int(r.n, 2, "MX: two records");
	is_int(r.rr[0].pref, 10, "MX: first preference");
	is_str(r.rr[0].data, "mx1.example.test", "MX: first exchanger");
	is_int(r.rr[1].pref, 20, "MX: second preference");
	is_str(r.rr[1].data, "mx2.example.test",
	    "MX: compressed exchanger expanded");
	is_int(r.ttl, 120, "MX: least TTL");
	dns_result_free(&r);

	r = parse(&p, "EXAMPLE.test", DNS_T_MX);
	is_int(r.status, DNS_S_OK, "names compare without case");
	dns_result_free(&r);

	header(&p, 0, 1, 0);
	question(&p, "example.test", DNS_T_MX);
	rr_mx(&p, "@12", 300, 10, "MX1.Example.TEST");
	r = parse(&p, "example.test", DNS_T_MX);
	is_str(r.rr[0].data, "mx1.example.test", "exchanger lower-cased");
	dns_result_free(&r);
}

static void
test_null_mx(void)
{
	struct pkt p;
	struct dns_result r;

	header(&p, 0, 1, 0);
	question(&p, "nullmx.test", DNS_T_MX);
	rr_mx(&p, "@12", 60, 0, "");
	r = parse(&p, "nullmx.test", DNS_T_MX);
	is_int(r.status, DNS_S_OK, "null MX: ok");
	is_int(r.n, 1, "null MX: one record");
	is_str(r.rr[0].data, "", "null MX: empty exchanger");
	is_int(r.rr[0].pref, 0, "null MX: preference 0");
	dns_result_free(&r);
}

static void
test_addresses(void)
{
	static const uint8_t ip4[4] = {192, 0, 2, 1};
	static const uint8_t ip6[16] = {
	    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	struct pkt p;
	struct dns_result r;
	size_t at;

	header(&p, 0, 1, 0);
	question(&p, "mx1.example.test", DNS_T_A);
	rr_a(&p, "@12", 30, ip4);
	r = parse(&p, "mx1.example.test", DNS_T_A);
	is_int(r.status, DNS_S_OK, "A: ok");
	is_str(r.n ? r.rr[0].data : "", "192.0.2.1", "A: numeric text");
	is_int(r.ttl, 30, "A: TTL");
	dns_result_free(&r);

	header(&p, 0, 1, 0);
	question(&p, "mx1.example.test", DNS_T_AAAA);
	at = rr_begin(&p, "@12", DNS_T_AAAA, 40);
	memcpy(p.b + p.len, ip6, 16);
	p.len += 16;
	rr_end(&p, at);
	r = parse(&p, "mx1.example.test", DNS_T_AAAA);
	is_int(r.status, DNS_S_OK, "AAAA: ok");
	is_str(r.n ? r.rr[0].data : "", "2001:db8::1", "AAAA: numeric text");
	dns_result_free(&r);

	/* an A record of the wrong length is unusable */
	header(&p, 0, 1, 0);
	question(&p, "mx1.example.test", DNS_T_A);
	at = rr_begin(&p, "@12", DNS_T_A, 40);
	put16(&p, 0x0102);
	rr_end(&p, at);
	r = parse(&p, "mx1.example.test", DNS_T_A);
	is_int(r.status, DNS_S_TEMPFAIL, "A of 2 octets: tempfail");
	dns_result_free(&r);

	/* a TTL with the top bit set counts as 0 (RFC 2181) */
	header(&p, 0, 1, 0);
	question(&p, "mx1.example.test", DNS_T_A);
	rr_a(&p, "@12", 0x80000000u, ip4);
	r = parse(&p, "mx1.example.test", DNS_T_A);
	is_int(r.ttl, 0, "TTL >= 2^31 is 0");
	dns_result_free(&r);
}

static void
test_cname(void)
{
	static const uint8_t ip4[4] = {192, 0, 2, 5};
	struct pkt p;
	struct dns_result r;

	header(&p, 0, 3, 0);
	question(&p, "www.example.test", DNS_T_A);
	rr_cname(&p, "@12", 50, "alias.example.test");
	rr_cname(&p, "alias.example.test", 500, "host.example.test");
	rr_a(&p, "host.example.test", 400, ip4);
	r = parse(&p, "www.example.test", DNS_T_A);
	is_int(r.status, DNS_S_OK, "CNAME chain: ok");
	is_str(r.n ? r.rr[0].data : "", "192.0.2.5",
	    "CNAME chain: the target's address");
	is_int(r.ttl, 50, "CNAME chain: least TTL includes the CNAMEs");
	dns_result_free(&r);

	/* chain ends without an address, the server adds the SOA */
	header(&p, 0, 1, 1);
	question(&p, "www.example.test", DNS_T_A);
	rr_cname(&p, "@12", 50, "gone.example.test");
	rr_soa(&p, "example.test", 3600, 120);
	r = parse(&p, "www.example.test", DNS_T_A);
	is_int(r.status, DNS_S_NODATA, "CNAME to nothing: NODATA");
	is_int(r.ttl, 120, "CNAME to nothing: SOA minimum");
	dns_result_free(&r);

	header(&p, 3, 1, 1);
	question(&p, "www.example.test", DNS_T_A);
	rr_cname(&p, "@12", 50, "gone.example.test");
	rr_soa(&p, "example.test", 3600, 120);
	r = parse(&p, "www.example.test", DNS_T_A);
	is_int(r.status, DNS_S_NXDOMAIN, "CNAME to a missing name: NXDOMAIN");
	dns_result_free(&r);

	header(&p, 0, 2, 0);
	question(&p, "a.example.test", DNS_T_A);
	rr_cname(&p, "@12", 50, "b.example.test");
	rr_cname(&p, "b.example.test", 50, "a.example.test");
	r = parse(&p, "a.example.test", DNS_T_A);
	is_int(r.status, DNS_S_TEMPFAIL, "CNAME loop: tempfail");
	dns_result_free(&r);

	/* records of another name are not ours */
	header(&p, 0, 1, 0);
	question(&p, "www.example.test", DNS_T_A);
	rr_a(&p, "evil.test", 400, ip4);
	r = parse(&p, "www.example.test", DNS_T_A);
	is_int(r.status, DNS_S_NODATA, "unrelated A record ignored");
	dns_result_free(&r);
}

static void
test_negative(void)
{
	struct pkt p;
	struct dns_result r;
	char text[DNS_ERROR_MAX];

	header(&p, 3, 0, 1);
	question(&p, "nx.example.test", DNS_T_MX);
	rr_soa(&p, "example.test", 3600, 300);
	r = parse(&p, "nx.example.test", DNS_T_MX);
	is_int(r.status, DNS_S_NXDOMAIN, "NXDOMAIN");
	is_int(r.ttl, 300, "NXDOMAIN: min(SOA TTL, MINIMUM) = MINIMUM");
	dns_result_free(&r);

	header(&p, 3, 0, 1);
	question(&p, "nx.example.test", DNS_T_MX);
	rr_soa(&p, "example.test", 60, 300);
	r = parse(&p, "nx.example.test", DNS_T_MX);
	is_int(r.ttl, 60, "NXDOMAIN: min(SOA TTL, MINIMUM) = SOA TTL");
	dns_result_free(&r);

	header(&p, 0, 0, 1);
	question(&p, "example.test", DNS_T_AAAA);
	rr_soa(&p, "@12", 3600, 900);
	r = parse(&p, "example.test", DNS_T_AAAA);
	is_int(r.status, DNS_S_NODATA, "NOERROR without records: NODATA");
	is_int(r.ttl, 900, "NODATA: SOA minimum");
	dns_result_free(&r);

	header(&p, 0, 0, 0);
	question(&p, "example.test", DNS_T_AAAA);
	r = parse(&p, "example.test", DNS_T_AAAA);
	is_int(r.status, DNS_S_NODATA, "NODATA without SOA");
	is_int(
	    r.ttl, DNS_NEGATIVE_NOSOA_TTL, "NODATA without SOA: kept briefly");
	dns_result_free(&r);

	header(&p, 2, 0, 0);
	question(&p, "example.test", DNS_T_MX);
	r = parse(&p, "example.test", DNS_T_MX);
	is_int(r.status, DNS_S_TEMPFAIL, "SERVFAIL: tempfail");
	ok(strstr(r.why, "SERVFAIL") != NULL, "SERVFAIL: says why");
	dns_result_free(&r);

	header(&p, 5, 0, 0);
	question(&p, "example.test", DNS_T_MX);
	r = parse(&p, "example.test", DNS_T_MX);
	is_int(r.status, DNS_S_TEMPFAIL, "REFUSED: tempfail");
	dns_result_free(&r);

	dns_error_text(
	    text, sizeof(text), "x.example", DNS_T_MX, DNS_S_TEMPFAIL);
	is_str(text,
	    "Name service error for name=x.example type=MX: Host not found, "
	    "try again",
	    "tempfail text");
	dns_error_text(
	    text, sizeof(text), "x.example", DNS_T_A, DNS_S_NXDOMAIN);
	is_str(text,
	    "Name service error for name=x.example type=A: Host not found",
	    "NXDOMAIN text");
	dns_error_text(text, sizeof(text), "x.example", DNS_T_A, DNS_S_OK);
	is_str(text, "", "no text for an answer");
}

static void
test_malformed(void)
{
	struct pkt p;
	struct dns_result r;
	size_t at;

	build_mx(&p);
	r = parse(&p, "other.test", DNS_T_MX);
	is_int(r.status, DNS_S_TEMPFAIL, "question for another name");
	dns_result_free(&r);
	r = parse(&p, "example.test", DNS_T_A);
	is_int(r.status, DNS_S_TEMPFAIL, "question of another type");
	dns_result_free(&r);

	/* a name pointing at itself */
	header(&p, 0, 1, 0);
	question(&p, "example.test", DNS_T_MX);
	rr_mx(&p, "@12", 300, 10, "@0");
	at = p.len - 2;
	p.b[at] = (uint8_t)(0xc0 | (at >> 8));
	p.b[at + 1] = (uint8_t)at;
	r = parse(&p, "example.test", DNS_T_MX);
	is_int(r.status, DNS_S_TEMPFAIL, "compression loop: tempfail");
	dns_result_free(&r);

	/* an exchanger that is no host name is not handed out */
	header(&p, 0, 1, 0);
	question(&p, "example.test", DNS_T_MX);
	rr_mx(&p, "@12", 300, 10, "bad host.example");
	r = parse(&p, "example.test", DNS_T_MX);
	is_int(r.status, DNS_S_TEMPFAIL, "unusable exchanger: tempfail");
	dns_result_free(&r);

	p.len = 0;
	put16(&p, 1);
	put16(&p, 0x0100); /* a query, not a response */
	put32(&p, 0x00010000);
	put32(&p, 0);
	question(&p, "example.test", DNS_T_MX);
	r = parse(&p, "example.test", DNS_T_MX);
	is_int(r.status, DNS_S_TEMPFAIL, "not a response");
	dns_result_free(&r);
}

static void
test_truncated(void)
{
	struct pkt p;
	struct dns_result r;
	size_t cut, bad = 0;

	build_mx(&p);
	for (cut = 0; cut < p.len; cut++) {
		dns_parse_reply(p.b, cut, "example.test", DNS_T_MX, &r);
		bad += r.status != DNS_S_TEMPFAIL;
		dns_result_free(&r);
	}
	is_int(bad, 0, "every truncation of an MX reply is a tempfail");
}

static void
test_many_records(void)
{
	struct pkt p;
	struct dns_result r;
	uint8_t ip[4] = {10, 0, 0, 0};
	int i;

	header(&p, 0, 100, 0);
	question(&p, "big.test", DNS_T_A);
	for (i = 0; i < 100; i++) {
		ip[3] = (uint8_t)i;
		rr_a(&p, "@12", 60, ip);
	}
	r = parse(&p, "big.test", DNS_T_A);
	is_int(r.status, DNS_S_OK, "100 A records: ok");
	is_int(r.n, DNS_MAX_RECORDS, "at most DNS_MAX_RECORDS kept");
	dns_result_free(&r);
}

/* Whatever the bytes, the parser returns a sane result. */
static int
result_sane(const struct dns_result *r)
{
	size_t i;

	if (r->status < DNS_S_OK || r->status > DNS_S_TEMPFAIL ||
	    r->n > DNS_MAX_RECORDS || (r->n > 0) != (r->status == DNS_S_OK))
		return 0;
	for (i = 0; i < r->n; i++)
		if (strlen(r->rr[i].data) > DNS_NAME_MAX)
			return 0;
	return 1;
}

static void
test_random(void)
{
	struct pkt p, valid;
	struct dns_result r;
	size_t i, len, insane = 0;
	int round, j;

	srandom(20240601);
	for (round = 0; round < 20000; round++) {
		len = (size_t)random() % 600;
		for (i = 0; i < len; i++)
			p.b[i] = (uint8_t)random();
		if (round % 2) { /* a plausible header gets further */
			p.b[2] = 0x81;
			p.b[3] = (uint8_t)(random() % 4);
			p.b[4] = 0;
			p.b[5] = 1;
		}
		dns_parse_reply(p.b, len, "example.test", DNS_T_MX, &r);
		insane += !result_sane(&r);
		dns_result_free(&r);
	}
	build_mx(&valid);
	for (round = 0; round < 20000; round++) {
		p = valid;
		for (j = 0; j < 1 + round % 4; j++)
			p.b[12 + (size_t)random() % (p.len - 12)] =
			    (uint8_t)random();
		len = round % 3 ? p.len : (size_t)random() % p.len;
		dns_parse_reply(p.b, len, "example.test", DNS_T_MX, &r);
		insane += !result_sane(&r);
		dns_result_free(&r);
	}
	is_int(insane, 0, "40000 random and mutated packets parse sanely");
}

static void
test_names(void)
{
	char out[DNS_NAME_BUF], big[300];

	ok(dns_name_normalize("Example.COM.", out) == 0 &&
	        strcmp(out, "example.com") == 0,
	    "name lower-cased, trailing dot dropped");
	ok(dns_name_normalize("_25._tcp.mx-1.example", out) == 0,
	    "underscore and hyphen allowed");
	ok(dns_name_normalize("", out) == -1, "empty name refused");
	ok(dns_name_normalize(".", out) == -1, "root refused");
	ok(dns_name_normalize("a..b", out) == -1, "empty label refused");
	ok(dns_name_normalize(".a", out) == -1, "leading dot refused");
	ok(dns_name_normalize("exa mple.com", out) == -1, "space refused");
	ok(dns_name_normalize("a\nb", out) == -1, "newline refused");
	ok(dns_name_normalize("a..", out) == -1, "two trailing dots refused");
	ok(dns_name_normalize("a.", out) == 0 && strcmp(out, "a") == 0,
	    "one trailing dot dropped");
	memset(big, 'a', 64);
	big[64] = '\0';
	ok(dns_name_normalize(big, out) == -1, "64-octet label refused");
	big[63] = '\0';
	ok(dns_name_normalize(big, out) == 0, "63-octet label accepted");
	for (int i = 0; i < 254; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[253] = '\0';
	ok(dns_name_normalize(big, out) == 0, "253-octet name accepted");
	big[253] = 'a';
	big[254] = '\0';
	ok(dns_name_normalize(big, out) == -1, "254-octet name refused");
	is_str(dns_type_name(DNS_T_AAAA), "AAAA", "type name");
	is_str(dns_type_name(DNS_T_TXT), "TXT", "TXT type name");
	ok(dns_type_name(99) == NULL, "SPF (99) is not asked");
}

static void
rr_tlsa(struct pkt *p, const char *owner, unsigned u, unsigned sel, unsigned mt,
    const uint8_t *data, size_t n)
{
	size_t at = rr_begin(p, owner, DNS_T_TLSA, 300);

	put8(p, u);
	put8(p, sel);
	put8(p, mt);
	memcpy(p->b + p->len, data, n);
	p->len += n;
	rr_end(p, at);
}

static void
test_tlsa(void)
{
	const char *q = "_25._tcp.mx1.example.com";
	uint8_t digest[32], big[DNS_TLSA_DATA_MAX + 1];
	struct dns_result r;
	struct pkt p;
	char want[128];

	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)(i * 8 + 1);
	memset(big, 0xab, sizeof(big));
	header(&p, 0, 3, 0);
	p.b[3] |= 0x20; /* AD */
	question(&p, q, DNS_T_TLSA);
	rr_tlsa(&p, q, 3, 1, 1, digest, 32);
	rr_tlsa(&p, q, 2, 0, 0, (const uint8_t *)"\x00\xff", 2);
	rr_tlsa(&p, q, 3, 1, 1, big, sizeof(big)); /* too big: dropped */
	dns_parse_reply(p.b, p.len, q, DNS_T_TLSA, &r);
	is_int(r.status, DNS_S_OK, "TLSA: ok");
	is_int(r.ad, 1, "TLSA: the AD bit is read");
	is_int(r.n, 2, "TLSA: two records, the oversized one dropped");
	strcpy(want, "3 1 1 ");
	for (int i = 0; i < 32; i++)
		snprintf(want + strlen(want), 3, "%02x", digest[i]);
	is_str(r.n > 0 ? r.rr[0].data : NULL, want, "TLSA: 3 1 1 as text");
	is_str(
	    r.n > 1 ? r.rr[1].data : NULL, "2 0 0 00ff", "TLSA: 2 0 0 as text");
	dns_result_free(&r);

	/* no data after the three fields: unusable, and nothing else */
	header(&p, 0, 1, 0);
	question(&p, q, DNS_T_TLSA);
	rr_tlsa(&p, q, 3, 1, 1, digest, 0);
	dns_parse_reply(p.b, p.len, q, DNS_T_TLSA, &r);
	is_int(r.status, DNS_S_TEMPFAIL, "TLSA without data: tempfail");
	is_int(r.ad, 0, "a tempfail is never validated");
	dns_result_free(&r);

	/* a validated absence: NXDOMAIN with AD */
	header(&p, 3, 0, 0);
	p.b[3] |= 0x20;
	question(&p, q, DNS_T_TLSA);
	dns_parse_reply(p.b, p.len, q, DNS_T_TLSA, &r);
	is_int(r.status, DNS_S_NXDOMAIN, "TLSA NXDOMAIN");
	is_int(r.ad, 1, "validated NXDOMAIN keeps AD");
	dns_result_free(&r);

	/* no AD: not validated; SERVFAIL (DNSSEC bogus): tempfail */
	header(&p, 0, 1, 0);
	question(&p, q, DNS_T_TLSA);
	rr_tlsa(&p, q, 3, 1, 1, digest, 32);
	dns_parse_reply(p.b, p.len, q, DNS_T_TLSA, &r);
	ok(r.status == DNS_S_OK && r.ad == 0, "TLSA without AD");
	dns_result_free(&r);
	header(&p, 2, 0, 0);
	p.b[3] |= 0x20;
	question(&p, q, DNS_T_TLSA);
	dns_parse_reply(p.b, p.len, q, DNS_T_TLSA, &r);
	ok(r.status == DNS_S_TEMPFAIL && r.ad == 0,
	    "SERVFAIL with AD: tempfail, not validated");
	dns_result_free(&r);

	/* at most DNS_MAX_TLSA records are kept */
	header(&p, 0, DNS_MAX_TLSA + 3, 0);
	question(&p, q, DNS_T_TLSA);
	for (int i = 0; i < DNS_MAX_TLSA + 3; i++)
		rr_tlsa(&p, q, 3, 1, 1, digest, 32);
	dns_parse_reply(p.b, p.len, q, DNS_T_TLSA, &r);
	is_int(r.n, DNS_MAX_TLSA, "TLSA records capped");
	dns_result_free(&r);
	is_str(dns_type_name(DNS_T_TLSA), "TLSA", "TLSA type name");
}

/* A TXT record of the given character-strings (lengths in len[]). */
static void
rr_txt(struct pkt *p, const char *owner, const char *const *strs,
    const size_t *len, size_t n)
{
	size_t at = rr_begin(p, owner, DNS_T_TXT, 300);

	for (size_t i = 0; i < n; i++) {
		put8(p, (unsigned)len[i]);
		memcpy(p->b + p->len, strs[i], len[i]);
		p->len += len[i];
	}
	rr_end(p, at);
}

/* The status of a reply with one TXT record of raw data. */
static int
raw_txt_status(const char *q, const char *rdata, size_t n)
{
	struct dns_result r;
	struct pkt p;
	size_t at;
	int status;

	header(&p, 0, 1, 0);
	question(&p, q, DNS_T_TXT);
	at = rr_begin(&p, "@12", DNS_T_TXT, 300);
	memcpy(p.b + p.len, rdata, n);
	p.len += n;
	rr_end(&p, at);
	r = parse(&p, q, DNS_T_TXT);
	status = r.status;
	dns_result_free(&r);
	return status;
}

static void
test_txt(void)
{
	const char *q = "_mta-sts.example.com";
	const char *one[] = {"v=STSv1; id=20240101T000000;"};
	const char *split[] = {"v=STSv1; ", "id=abc", ";"};
	const char *nul[] = {"v=STSv1;\0 id=x;"};
	const char *empty[] = {""};
	const size_t one_len[] = {strlen(one[0])}, split_len[] = {9, 6, 1},
	             nul_len[] = {15}, empty_len[] = {0};
	char big[255];
	const char *bigs[9];
	size_t bigs_len[9];
	struct dns_result r;
	struct pkt p;

	header(&p, 0, 3, 0);
	question(&p, q, DNS_T_TXT);
	rr_txt(&p, "@12", one, one_len, 1);
	rr_txt(&p, "@12", split, split_len, 3);
	rr_txt(&p, "@12", empty, empty_len, 1);
	r = parse(&p, q, DNS_T_TXT);
	is_int(r.status, DNS_S_OK, "TXT: ok");
	is_int(r.n, 3, "TXT: three records");
	is_str(r.n > 0 ? r.rr[0].data : NULL, one[0], "TXT: one string");
	is_str(r.n > 1 ? r.rr[1].data : NULL, "v=STSv1; id=abc;",
	    "TXT: strings joined without a separator");
	is_str(r.n > 2 ? r.rr[2].data : NULL, "", "TXT: one empty string");
	is_int(r.ttl, 300, "TXT: ttl");
	dns_result_free(&r);

	/* a record with a NUL is dropped, the others kept */
	header(&p, 0, 2, 0);
	question(&p, q, DNS_T_TXT);
	rr_txt(&p, "@12", nul, nul_len, 1);
	rr_txt(&p, "@12", one, one_len, 1);
	r = parse(&p, q, DNS_T_TXT);
	ok(r.status == DNS_S_OK && r.n == 1 &&
	        strcmp(r.rr[0].data, one[0]) == 0,
	    "TXT: a record with a NUL octet is dropped");
	dns_result_free(&r);
	is_int(raw_txt_status(q, "\x0ev=STSv1;\0id=x;", 15), DNS_S_TEMPFAIL,
	    "TXT: only a NUL record: tempfail");
	is_int(raw_txt_status(q, "\x28short", 6), DNS_S_TEMPFAIL,
	    "TXT: string past its record");
	is_int(raw_txt_status(q, "", 0), DNS_S_TEMPFAIL, "TXT: no string");

	/* 9 strings of 255 octets: over DNS_TXT_DATA_MAX */
	memset(big, 'a', sizeof(big));
	for (int i = 0; i < 9; i++) {
		bigs[i] = big;
		bigs_len[i] = sizeof(big);
	}
	header(&p, 0, 2, 0);
	question(&p, q, DNS_T_TXT);
	rr_txt(&p, "@12", bigs, bigs_len, 9);
	rr_txt(&p, "@12", bigs, bigs_len, 8);
	r = parse(&p, q, DNS_T_TXT);
	ok(r.status == DNS_S_OK && r.n == 1 && strlen(r.rr[0].data) == 8 * 255,
	    "TXT: a record over %d octets dropped, one of %d kept",
	    DNS_TXT_DATA_MAX, 8 * 255);
	dns_result_free(&r);

	/* at most DNS_MAX_TXT records are kept */
	header(&p, 0, DNS_MAX_TXT + 4, 0);
	question(&p, q, DNS_T_TXT);
	for (int i = 0; i < DNS_MAX_TXT + 4; i++)
		rr_txt(&p, "@12", one, one_len, 1);
	r = parse(&p, q, DNS_T_TXT);
	is_int(r.n, DNS_MAX_TXT, "TXT records capped");
	dns_result_free(&r);

	/* NXDOMAIN for _mta-sts: no record */
	header(&p, 3, 0, 0);
	question(&p, q, DNS_T_TXT);
	r = parse(&p, q, DNS_T_TXT);
	is_int(r.status, DNS_S_NXDOMAIN, "TXT: NXDOMAIN");
	dns_result_free(&r);
}

static void
test_build_query(void)
{
	static const uint8_t want[] = {0, 0, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 0,
	    3, '_', '2', '5', 4, '_', 't', 'c', 'p', 2, 'm', 'x', 0, 0, 52, 0,
	    1};
	uint8_t buf[DNS_QUERY_MAX];
	char big[300];
	int n;

	n = dns_build_query("_25._tcp.MX.", DNS_T_TLSA, 1, buf, sizeof(buf));
	is_int(n, sizeof(want), "query length");
	ok(n == sizeof(want) && memcmp(buf, want, sizeof(want)) == 0,
	    "TLSA query with RD and AD, name lower-cased");
	n = dns_build_query("example.com", DNS_T_MX, 0, buf, sizeof(buf));
	ok(n == 12 + 13 + 4 && buf[2] == 0x01 && buf[3] == 0,
	    "MX query: RD only without dns_trust_ad");
	ok(dns_build_query("a..b", DNS_T_A, 0, buf, sizeof(buf)) == -1,
	    "empty label refused");
	ok(dns_build_query("a b", DNS_T_A, 0, buf, sizeof(buf)) == -1,
	    "space refused");
	ok(dns_build_query("a", DNS_T_A, 0, buf, 20) == -1,
	    "short buffer refused");
	for (int i = 0; i < 253; i++)
		big[i] = i % 64 == 63 ? '.' : 'a';
	big[253] = '\0';
	n = dns_build_query(big, DNS_T_A, 0, buf, sizeof(buf));
	ok(n > 0 && n <= DNS_QUERY_MAX, "longest name fits");
}

int
main(void)
{
	test_tlsa();
	test_txt();
	test_build_query();
	test_mx();
	test_null_mx();
	test_addresses();
	test_cname();
	test_negative();
	test_malformed();
	test_truncated();
	test_many_records();
	test_random();
	test_names();
	return done_testing();
}
