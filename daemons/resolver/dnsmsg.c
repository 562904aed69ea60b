/*
 * dnsmsg.c - parse DNS replies (RFC 1035 wire format) for the resolver:
 * header, AD bit and rcode, the question, answer records with name
 * compression, CNAME chains followed inside the answer, MX/A/AAAA/TLSA/TXT
 * data, and the SOA of negative answers (RFC 2308); and build the
 * questions. Every read is checked against the packet's end; a reply
 * that does not parse is a temporary failure.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"
#include "proto.h"
#include "util.h"

#define DNS_HDR_LEN 12
#define DNS_T_CNAME 5
#define DNS_T_SOA 6
#define DNS_C_IN 1
#define DNS_MAX_ANSWERS 256 /* answer records looked at per reply */
#define DNS_MAX_POINTERS 64 /* compression pointers followed per name */

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_AD 0x0020

enum { RCODE_NOERROR = 0, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3 };

struct dns_pkt {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

/* An answer record's header; its data stays in the packet. */
struct dns_rrhdr {
	char owner[DNS_NAME_BUF];
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	size_t rdata;
	uint16_t rdlen;
};

static int
pkt_u16(struct dns_pkt *k, uint16_t *v)
{
	if (k->len < 2 || k->pos > k->len - 2)
		return -1;
	*v = (uint16_t)(k->p[k->pos] << 8 | k->p[k->pos + 1]);
	k->pos += 2;
	return 0;
}

static int
pkt_u32(struct dns_pkt *k, uint32_t *v)
{
	uint16_t hi, lo;

	if (pkt_u16(k, &hi) == -1 || pkt_u16(k, &lo) == -1)
		return -1;
	*v = (uint32_t)hi << 16 | lo;
	return 0;
}

/* A label octet as text: anything that could confuse a log line or a
 * host name comparison becomes '?', which no valid name contains. */
static char
label_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '.' && c != '\\' ? (char)c : '?';
}

/*
 * Read a possibly compressed name at k->pos into out (DNS_NAME_BUF) as
 * dotted text, the root as "". k->pos ends after the name as it appears
 * in place. Pointers may go anywhere in the packet but are counted, so
 * a loop ends as an error.
 */
static int
pkt_name(struct dns_pkt *k, char *out)
{
	size_t p = k->pos, n = 0, end = 0;
	int jumps = 0;
	uint8_t c;

	for (;;) {
		if (p >= k->len)
			return -1;
		c = k->p[p];
		if (c == 0)
			break;
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= k->len || ++jumps > DNS_MAX_POINTERS)
				return -1;
			if (end == 0)
				end = p + 2;
			p = (size_t)(c & 0x3f) << 8 | k->p[p + 1];
			continue;
		}
		if ((c & 0xc0) != 0 || p + 1 + c > k->len ||
		    n + (n > 0) + c > DNS_NAME_MAX)
			return -1;
		if (n > 0)
			out[n++] = '.';
		for (size_t i = 0; i < c; i++)
			out[n++] = label_char(k->p[p + 1 + i]);
		p += 1 + (size_t)c;
	}
	out[n] = '\0';
	k->pos = end ? end : p + 1;
	return 0;
}

static int
pkt_rrhdr(struct dns_pkt *k, struct dns_rrhdr *rr)
{
	if (pkt_name(k, rr->owner) == -1 || pkt_u16(k, &rr->type) == -1 ||
	    pkt_u16(k, &rr->class) == -1 || pkt_u32(k, &rr->ttl) == -1 ||
	    pkt_u16(k, &rr->rdlen) == -1 || rr->rdlen > k->len - k->pos)
		return -1;
	/* RFC 2181 8: a TTL with the top bit set means zero */
	if (rr->ttl > 0x7fffffff)
		rr->ttl = 0;
	rr->rdata = k->pos;
	k->pos += rr->rdlen;
	return 0;
}

static void
res_fail(struct dns_result *res, const char *why)
{
	dns_result_free(res);
	dns_result_init(res, DNS_S_TEMPFAIL);
	strlcpy(res->why, why, sizeof(res->why));
}

/* The question must be ours: one entry, same name and type. */
static int
pkt_question(struct dns_pkt *k, uint16_t qdcount, const char *qname, int qtype)
{
	char name[DNS_NAME_BUF];
	uint16_t type, class;

	if (qdcount != 1 || pkt_name(k, name) == -1 ||
	    pkt_u16(k, &type) == -1 || pkt_u16(k, &class) == -1)
		return -1;
	return strcasecmp(name, qname) == 0 && type == qtype &&
	        class == DNS_C_IN
	    ? 0
	    : -1;
}

/*
 * TLSA (RFC 6698 2.1): usage, selector and matching type octets, then
 * the association data, as "U S M hex". Any field values are kept: which
 * are usable is the smtp worker's (and OpenSSL's) question.
 */
static char *
tlsa_text(const uint8_t *p, uint16_t rdlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n;
	char *out;

	if (rdlen < 4 || rdlen - 3 > DNS_TLSA_DATA_MAX)
		return NULL;
	n = (size_t)rdlen - 3;
	out = xmalloc(13 + 2 * n);
	i = (size_t)snprintf(out, 13, "%u %u %u ", p[0], p[1], p[2]);
	for (size_t j = 0; j < n; j++) {
		out[i++] = hex[p[3 + j] >> 4];
		out[i++] = hex[p[3 + j] & 0xf];
	}
	out[i] = '\0';
	return out;
}

/*
 * TXT (RFC 1035 3.3.14): one or more character-strings, each a length
 * octet and that many octets, joined with nothing between (as RFC 7208
 * 3.3 and RFC 8461 3.1 read a record split into strings). NULL when a
 * string runs past the data, a NUL octet is in it, or the text is longer
 * than DNS_TXT_DATA_MAX.
 */
static char *
txt_text(const uint8_t *p, uint16_t rdlen)
{
	size_t pos = 0, n = 0, len;
	char *out;

	if (rdlen == 0)
		return NULL;
	out = xmalloc(rdlen); /* the text is shorter than the data */
	while (pos < rdlen) {
		len = p[pos++];
		if (len > (size_t)rdlen - pos || n + len > DNS_TXT_DATA_MAX ||
		    memchr(p + pos, '\0', len) != NULL) {
			free(out);
			return NULL;
		}
		memcpy(out + n, p + pos, len);
		n += len;
		pos += len;
	}
	out[n] = '\0';
	return out;
}

/* Turn one record's data into a dns_record; -1 if it is unusable. */
static int
rr_to_record(
    const struct dns_pkt *k, const struct dns_rrhdr *rr, struct dns_record *out)
{
	struct dns_pkt d = {k->p, rr->rdata + rr->rdlen, rr->rdata};
	char text[DNS_NAME_BUF];
	uint16_t pref;

	out->pref = 0;
	switch (rr->type) {
	case DNS_T_TLSA:
		out->data = tlsa_text(k->p + rr->rdata, rr->rdlen);
		return out->data == NULL ? -1 : 0;
	case DNS_T_TXT:
		out->data = txt_text(k->p + rr->rdata, rr->rdlen);
		return out->data == NULL ? -1 : 0;
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rr->rdlen != (rr->type == DNS_T_A ? 4 : 16) ||
		    inet_ntop(rr->type == DNS_T_A ? AF_INET : AF_INET6,
		        k->p + rr->rdata, text, sizeof(text)) == NULL)
			return -1;
		break;
	case DNS_T_MX:
		/* the exchanger may point anywhere in the packet, but must
		 * end inside this record's data */
		d.len = k->len;
		if (pkt_u16(&d, &pref) == -1 || pkt_name(&d, text) == -1 ||
		    d.pos > rr->rdata + rr->rdlen)
			return -1;
		if (*text == '\0') /* RFC 7505 null MX */
			break;
		if (dns_name_normalize(text, text) == -1)
			return -1;
		out->pref = pref;
		break;
	default:
		return -1;
	}
	out->data = xstrdup(text);
	return 0;
}

static uint32_t
min_ttl(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* The CNAME target of name among the answers, or NULL. */
static const struct dns_rrhdr *
find_cname(const struct dns_pkt *k, const struct dns_rrhdr *an, size_t n,
    const char *name, char *target)
{
	struct dns_pkt d;
	size_t i;

	for (i = 0; i < n; i++) {
		if (an[i].type != DNS_T_CNAME || an[i].class != DNS_C_IN ||
		    strcasecmp(an[i].owner, name) != 0)
			continue;
		d = (struct dns_pkt){k->p, k->len, an[i].rdata};
		if (pkt_name(&d, target) == -1 ||
		    d.pos > an[i].rdata + an[i].rdlen)
			return NULL;
		return &an[i];
	}
	return NULL;
}

/* Collect the records of qtype owned by name; returns how many were
 * found (usable or not), and lowers *ttl to theirs. */
static size_t
collect_records(const struct dns_pkt *k, const struct dns_rrhdr *an, size_t n,
    const char *name, int qtype, struct dns_result *res, uint32_t *ttl)
{
	size_t i, found = 0, max;
	struct dns_record rec;

	max = qtype == DNS_T_TLSA ? DNS_MAX_TLSA
	    : qtype == DNS_T_TXT  ? DNS_MAX_TXT
	                          : DNS_MAX_RECORDS;
	for (i = 0; i < n; i++) {
		if (an[i].type != qtype || an[i].class != DNS_C_IN ||
		    strcasecmp(an[i].owner, name) != 0)
			continue;
		found++;
		*ttl = min_ttl(*ttl, an[i].ttl);
		if (res->n >= max || rr_to_record(k, &an[i], &rec))
			continue;
		res->rr = xreallocarray(res->rr, res->n + 1, sizeof(rec));
		res->rr[res->n++] = rec;
	}
	return found;
}

/*
 * Follow qname through CNAMEs in the answer to the records of qtype.
 * Returns 1 with records in res, 0 when the chain ends without any
 * (the final name is left in name), -1 when records exist but none is
 * usable, -2 when the chain is longer than DNS_MAX_CNAMES (or a loop).
 */
static int
follow_chain(const struct dns_pkt *k, const struct dns_rrhdr *an, size_t n,
    char *name, int qtype, struct dns_result *res)
{
	char target[DNS_NAME_BUF];
	const struct dns_rrhdr *cname;
	uint32_t ttl = UINT32_MAX;
	int hops;

	for (hops = 0; hops <= DNS_MAX_CNAMES; hops++) {
		if (collect_records(k, an, n, name, qtype, res, &ttl) > 0) {
			res->ttl = ttl;
			return res->n > 0 ? 1 : -1;
		}
		if ((cname = find_cname(k, an, n, name, target)) == NULL)
			return 0;
		ttl = min_ttl(ttl, cname->ttl);
		strlcpy(name, target, DNS_NAME_BUF);
	}
	return -2;
}

/* RFC 2308 5: a negative answer lives min(SOA TTL, SOA MINIMUM). A
 * broken authority section gives 0: such a reply is not kept. */
static uint32_t
negative_ttl(struct dns_pkt *k, uint16_t nscount)
{
	struct dns_rrhdr rr;
	struct dns_pkt d;
	char name[DNS_NAME_BUF];
	uint32_t v[5];
	int i, j;

	for (i = 0; i < nscount; i++) {
		if (pkt_rrhdr(k, &rr) == -1)
			return 0;
		if (rr.type != DNS_T_SOA)
			continue;
		d = (struct dns_pkt){k->p, k->len, rr.rdata};
		if (pkt_name(&d, name) == -1 || pkt_name(&d, name) == -1)
			return 0;
		d.len = rr.rdata + rr.rdlen;
		for (j = 0; j < 5; j++)
			if (pkt_u32(&d, &v[j]) == -1)
				return 0;
		return min_ttl(rr.ttl, v[4] > 0x7fffffff ? 0 : v[4]);
	}
	return DNS_NEGATIVE_NOSOA_TTL;
}

static int
read_answers(
    struct dns_pkt *k, uint16_t ancount, struct dns_rrhdr **out, size_t *n)
{
	struct dns_rrhdr rr;
	size_t keep = ancount < DNS_MAX_ANSWERS ? ancount : DNS_MAX_ANSWERS;
	int i;

	*out = keep ? xcalloc(keep, sizeof(**out)) : NULL;
	*n = 0;
	for (i = 0; i < ancount; i++) {
		if (pkt_rrhdr(k, &rr) == -1)
			return -1;
		if (*n < keep)
			(*out)[(*n)++] = rr;
	}
	return 0;
}

static const char *
rcode_why(int rcode)
{
	switch (rcode) {
	case RCODE_SERVFAIL:
		return "server failure (SERVFAIL)";
	case 1:
		return "format error (FORMERR)";
	case 4:
		return "not implemented (NOTIMP)";
	case 5:
		return "query refused (REFUSED)";
	default:
		return "unexpected response code";
	}
}

/* The records (or their absence) after a NOERROR or NXDOMAIN header. */
static void
parse_sections(struct dns_pkt *k, const uint16_t count[4], int rcode,
    const char *qname, int qtype, struct dns_result *res)
{
	struct dns_rrhdr *an;
	char name[DNS_NAME_BUF];
	size_t n;
	int r;

	if (read_answers(k, count[1], &an, &n) == -1) {
		free(an);
		res_fail(res, "malformed reply: truncated answer section");
		return;
	}
	strlcpy(name, qname, sizeof(name));
	r = follow_chain(k, an, n, name, qtype, res);
	free(an);
	if (r == -1)
		res_fail(res, "no usable record in the reply");
	else if (r == -2)
		res_fail(res, "CNAME chain too long or looping");
	else if (r == 0) {
		res->status =
		    rcode == RCODE_NXDOMAIN ? DNS_S_NXDOMAIN : DNS_S_NODATA;
		res->ttl = negative_ttl(k, count[2]);
	} else if (rcode != RCODE_NOERROR)
		res_fail(res, "records in a reply that says NXDOMAIN");
}

void
dns_parse_reply(const uint8_t *pkt, size_t len, const char *qname, int qtype,
    struct dns_result *res)
{
	struct dns_pkt k = {pkt, len, 0};
	uint16_t flags = 0, count[4] = {0, 0, 0, 0};
	int i, rcode;

	dns_result_init(res, DNS_S_OK);
	if (len < DNS_HDR_LEN) {
		res_fail(res, "malformed reply: short header");
		return;
	}
	k.pos = 2; /* the ID was matched by c-ares */
	(void)pkt_u16(&k, &flags);
	for (i = 0; i < 4; i++)
		(void)pkt_u16(&k, &count[i]);
	rcode = flags & 0xf;
	res->ad = (flags & DNS_FLAG_AD) != 0;
	if ((flags & DNS_FLAG_QR) == 0)
		res_fail(res, "malformed reply: not a response");
	else if (rcode != RCODE_NOERROR && rcode != RCODE_NXDOMAIN)
		res_fail(res, rcode_why(rcode));
	else if (pkt_question(&k, count[0], qname, qtype) == -1)
		res_fail(res, "malformed reply: question does not match");
	else
		parse_sections(&k, count, rcode, qname, qtype, res);
}

int
dns_build_query(const char *name, int qtype, int ad, uint8_t *buf, size_t len)
{
	char norm[DNS_NAME_BUF];
	const char *label, *dot;
	size_t pos = 12, n;
	uint16_t flags = DNS_FLAG_RD | (ad ? DNS_FLAG_AD : 0);

	if (len < DNS_QUERY_MAX || dns_name_normalize(name, norm) == -1)
		return -1;
	memset(buf, 0, 12);
	buf[2] = (uint8_t)(flags >> 8);
	buf[3] = (uint8_t)flags;
	buf[5] = 1; /* one question */
	for (label = norm;; label = dot + 1) {
		dot = strchr(label, '.');
		n = dot ? (size_t)(dot - label) : strlen(label);
		buf[pos++] = (uint8_t)n;
		memcpy(buf + pos, label, n);
		pos += n;
		if (dot == NULL)
			break;
	}
	buf[pos++] = 0;
	buf[pos++] = (uint8_t)(qtype >> 8);
	buf[pos++] = (uint8_t)qtype;
	buf[pos++] = 0;
	buf[pos++] = DNS_C_IN;
	return (int)pos;
}

void
dns_result_init(struct dns_result *res, int status)
{
	memset(res, 0, sizeof(*res));
	res->status = status;
}

void
dns_result_copy(struct dns_result *dst, const struct dns_result *src)
{
	size_t i;

	*dst = *src;
	dst->rr = src->n ? xreallocarray(NULL, src->n, sizeof(*dst->rr)) : NULL;
	for (i = 0; i < src->n; i++) {
		dst->rr[i].pref = src->rr[i].pref;
		dst->rr[i].data = xstrdup(src->rr[i].data);
	}
}

void
dns_result_free(struct dns_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		free(res->rr[i].data);
	free(res->rr);
	res->rr = NULL;
	res->n = 0;
}

int
dns_name_normalize(const char *name, char *out)
{
	size_t i, len = strlen(name), label = 0;
	char c;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = name[i];
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else
			return -1;
		out[i] = (char)tolower((unsigned char)c);
	}
	if (label == 0) /* "a..": an empty last label */
		return -1;
	out[len] = '\0';
	return 0;
}

const char *
dns_type_name(int qtype)
{
	switch (qtype) {
	case DNS_T_A:
		return "A";
	case DNS_T_MX:
		return "MX";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_TLSA:
		return "TLSA";
	case DNS_T_TXT:
		return "TXT";
	default:
		return NULL;
	}
}

void
dns_error_text(char *buf, size_t len, const char *name, int qtype, int status)
{
	const char *type = dns_type_name(qtype), *what;

	switch (status) {
	case DNS_S_OK:
		*buf = '\0';
		return;
	case DNS_S_NXDOMAIN:
		what = "Host not found";
		break;
	case DNS_S_NODATA:
		what = "Host found but no data record of requested type";
		break;
	default:
		what = "Host not found, try again";
	}
	snprintf(buf, len, "Name service error for name=%s type=%s: %s", name,
	    type ? type : "?", what);
}
