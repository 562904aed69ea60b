/*
 * mtasts.c - MTA-STS (RFC 8461) as text: the "_mta-sts" TXT record
 * (3.1), the policy file (3.2), both parsed strictly to their ABNF, and
 * the match of an exchanger's name against a policy's mx patterns (4.1).
 * Pure functions over caller-provided memory; any octets are safe input.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mtasts.h"

#define STS_EXT_NAME_MAX 32 /* 3.1, 3.2: (ALPHA / DIGIT) *31(...) */
#define STS_LABEL_MAX 63 /* octets in one label of a domain name */
#define STS_QUOTE_MAX 64 /* octets of a bad value quoted in why */

/* The policy fields that must appear exactly once (3.2). */
enum { STS_SEEN_VERSION = 1, STS_SEEN_MODE = 2, STS_SEEN_MAX_AGE = 4 };

/* Where mtasts_policy_parse() is: the policy, the fields seen, the line
 * being read and where its offence goes. */
struct sts_ctx {
	struct mtasts_policy *p;
	unsigned int seen;
	int line;
	char *why;
	size_t whylen;
};

static const char *sts_modes[] = {"none", "testing", "enforce"};

/* why = "line N: " (when line > 0) and the message; -1. */
__attribute__((format(printf, 4, 5))) static int
sts_fail(char *why, size_t whylen, int line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (why == NULL || whylen == 0)
		return -1;
	if (line > 0)
		n = snprintf(why, whylen, "line %d: ", line);
	if (n < 0 || (size_t)n >= whylen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* The length of s[0..n) quoted in why. */
static int
sts_quote_len(size_t n)
{
	return (int)(n < STS_QUOTE_MAX ? n : STS_QUOTE_MAX);
}

static int
sts_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
sts_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
sts_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Whether s[0..n) is s2, case-sensitively (the ABNF's %s strings). */
static int
sts_is(const char *s, size_t n, const char *s2)
{
	return n == strlen(s2) && memcmp(s, s2, n) == 0;
}

/* The length of the sts-ext-name (3.1) or sts-policy-ext-name (3.2) at
 * s[0..n): (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
static size_t
sts_ext_name_len(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !sts_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < n; i++)
		if (!sts_alnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			break;
	return i;
}

/*
 * The TXT record (3.1). The ABNF's sts-field-delim, *WSP ";" *WSP,
 * separates fields; a final one may follow the last field. Nothing else,
 * not even a space, may end the record.
 */

/* Whether c may be in an sts-ext-value: %x21-3A / %x3C / %x3E-7E. */
static int
sts_ext_value_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';' && c != '=';
}

/* The field at *pp (name "=" value), up to end; an id goes into id and
 * is counted in *nid. txt, where the record starts, places offences. */
static int
sts_txt_field(const char *txt, const char **pp, const char *end, char *id,
    int *nid, char *why, size_t whylen)
{
	const char *p = *pp, *v;
	size_t n = sts_ext_name_len(p, (size_t)(end - p)), i;

	if (n == 0 || n > STS_EXT_NAME_MAX || p + n == end || p[n] != '=')
		return sts_fail(why, whylen, 0,
		    "the field at offset %zu is not name=value",
		    (size_t)(p - txt));
	for (v = p + n + 1; v < end && sts_ext_value_char(*v); v++)
		;
	*pp = v;
	if (v == p + n + 1)
		return sts_fail(
		    why, whylen, 0, "field \"%.*s\" has no value", (int)n, p);
	if (!sts_is(p, n, "id"))
		return 0;
	p += n + 1;
	n = (size_t)(v - p);
	for (i = 0; i < n && sts_alnum((unsigned char)p[i]); i++)
		;
	if (i < n || n > MTASTS_ID_MAX)
		return sts_fail(why, whylen, 0,
		    "id \"%.*s\" is not 1 to %d letters and digits",
		    sts_quote_len(n), p, MTASTS_ID_MAX);
	if ((*nid)++ > 0)
		return sts_fail(why, whylen, 0, "id given twice");
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

/* The sts-field-delim at *pp, up to end: *WSP ";" *WSP. */
static int
sts_txt_delim(
    const char *txt, const char **pp, const char *end, char *why, size_t whylen)
{
	const char *p = *pp;

	while (p < end && sts_wsp(*p))
		p++;
	if (p < end && *p == ';') {
		for (p++; p < end && sts_wsp(*p); p++)
			;
		*pp = p;
		return 0;
	}
	if (p == end)
		return sts_fail(why, whylen, 0, "space at the end");
	if (p == txt + 7)
		return sts_fail(
		    why, whylen, 0, "the first field is not \"v=STSv1\"");
	return sts_fail(why, whylen, 0,
	    "octet 0x%02x at offset %zu where \";\" should be",
	    (unsigned char)*p, (size_t)(p - txt));
}

int
mtasts_txt_parse(
    const char *txt, size_t len, char *id, char *why, size_t whylen)
{
	const char *p, *end = txt + len;
	int nid = 0;

	*id = '\0';
	if (why != NULL && whylen > 0)
		*why = '\0';
	if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0)
		return 0;
	if (memchr(txt, '\0', len) != NULL)
		return sts_fail(why, whylen, 0, "NUL octet in the record");
	for (p = txt + 7; p < end;)
		if (sts_txt_delim(txt, &p, end, why, whylen) == -1 ||
		    (p < end &&
		        sts_txt_field(txt, &p, end, id, &nid, why, whylen) ==
		            -1)) {
			*id = '\0';
			return -1;
		}
	if (nid == 0)
		return sts_fail(why, whylen, 0, "no id field");
	return 1;
}

/*
 * The policy file (3.2): "key:" *WSP value *WSP, each line ended by CRLF
 * or LF, the last one perhaps by the end of the file; no empty line.
 * The fields may come in any order.
 */

/* Whether s[0..n) is a domain name (RFC 5321 Domain): labels of letters,
 * digits and inner hyphens, at most 63 octets each, no final dot. */
static int
sts_domain(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > MTASTS_MX_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!sts_alnum((unsigned char)s[i]) &&
		    (s[i] != '-' || label == 0))
			return 0;
		if (++label > STS_LABEL_MAX)
			return 0;
	}
	return s[n - 1] != '.' && s[n - 1] != '-';
}

static int
sts_version(struct sts_ctx *c, const char *v, size_t n)
{
	if (!sts_is(v, n, "STSv1"))
		return sts_fail(c->why, c->whylen, c->line,
		    "version \"%.*s\" is not STSv1", sts_quote_len(n), v);
	return 0;
}

static int
sts_mode(struct sts_ctx *c, const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(sts_modes) / sizeof(sts_modes[0]); i++)
		if (sts_is(v, n, sts_modes[i])) {
			c->p->mode = (enum mtasts_mode)i;
			return 0;
		}
	return sts_fail(c->why, c->whylen, c->line,
	    "mode \"%.*s\" is not enforce, testing or none", sts_quote_len(n),
	    v);
}

/* max_age: 1*10(DIGIT), at most a year. */
static int
sts_max_age(struct sts_ctx *c, const char *v, size_t n)
{
	uint64_t age = 0;
	size_t i;

	for (i = 0; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		age = age * 10 + (uint64_t)(v[i] - '0');
	if (n == 0 || i < n)
		return sts_fail(c->why, c->whylen, c->line,
		    "max_age \"%.*s\" is not a number", sts_quote_len(n), v);
	if (n > 10)
		return sts_fail(c->why, c->whylen, c->line,
		    "max_age \"%.*s\" has more than 10 digits",
		    sts_quote_len(n), v);
	if (age > MTASTS_MAX_AGE_MAX)
		return sts_fail(c->why, c->whylen, c->line,
		    "max_age %llu is more than %d", (unsigned long long)age,
		    MTASTS_MAX_AGE_MAX);
	c->p->max_age = (uint32_t)age;
	return 0;
}

/* mx: ["*."] Domain, kept in lower case. */
static int
sts_mx(struct sts_ctx *c, const char *v, size_t n)
{
	size_t i, skip = n >= 2 && v[0] == '*' && v[1] == '.' ? 2 : 0;
	char *mx;

	if (c->p->nmx == MTASTS_MAX_MX)
		return sts_fail(c->why, c->whylen, c->line,
		    "more than %d mx lines", MTASTS_MAX_MX);
	if (n > MTASTS_MX_MAX || !sts_domain(v + skip, n - skip))
		return sts_fail(c->why, c->whylen, c->line,
		    "mx \"%.*s\" is neither a domain name nor *. and one",
		    sts_quote_len(n), v);
	mx = c->p->mx[c->p->nmx++];
	for (i = 0; i < n; i++)
		mx[i] = (char)sts_lower((unsigned char)v[i]);
	mx[n] = '\0';
	return 0;
}

/* Another field (sts-policy-extension): ignored, but its value must be
 * printable ASCII (the octets of the line are checked already). */
static int
sts_extension(struct sts_ctx *c, const char *v, size_t n)
{
	if (n == 0)
		return sts_fail(c->why, c->whylen, c->line, "empty value");
	if (memchr(v, '\t', n) != NULL)
		return sts_fail(c->why, c->whylen, c->line, "tab in the value");
	return 0;
}

static const struct sts_field {
	const char *key;
	unsigned int once; /* STS_SEEN_*, or 0: may repeat */
	int (*parse)(struct sts_ctx *, const char *, size_t);
} sts_fields[] = {
    {"version", STS_SEEN_VERSION, sts_version},
    {"mode", STS_SEEN_MODE, sts_mode},
    {"max_age", STS_SEEN_MAX_AGE, sts_max_age},
    {"mx", 0, sts_mx},
};

/* Any octet of s[0..n) that is no part of a policy line: a NUL, another
 * control octet but tab, or one above 0x7e (the policy is ASCII). */
static int
sts_policy_octets(struct sts_ctx *c, const char *s, size_t n)
{
	size_t i;
	unsigned char o;

	for (i = 0; i < n; i++) {
		o = (unsigned char)s[i];
		if (o == '\0')
			return sts_fail(
			    c->why, c->whylen, c->line, "NUL octet");
		if (o >= 0x7f)
			return sts_fail(c->why, c->whylen, c->line,
			    "octet 0x%02x is not ASCII", o);
		if (o < 0x20 && o != '\t')
			return sts_fail(c->why, c->whylen, c->line,
			    "control octet 0x%02x", o);
	}
	return 0;
}

/* One line s[0..n), without its CRLF or LF. */
static int
sts_policy_line(struct sts_ctx *c, const char *s, size_t n)
{
	const char *colon, *v;
	size_t klen, vlen, i;

	if (sts_policy_octets(c, s, n) == -1)
		return -1;
	if ((colon = memchr(s, ':', n)) == NULL)
		return sts_fail(c->why, c->whylen, c->line, "no \":\"");
	if ((klen = (size_t)(colon - s)) == 0)
		return sts_fail(c->why, c->whylen, c->line, "empty key");
	if (sts_ext_name_len(s, klen) != klen || klen > STS_EXT_NAME_MAX)
		return sts_fail(c->why, c->whylen, c->line, "bad key \"%.*s\"",
		    sts_quote_len(klen), s);
	for (v = colon + 1; v < s + n && sts_wsp(*v); v++)
		;
	for (vlen = (size_t)(s + n - v); vlen > 0 && sts_wsp(v[vlen - 1]);)
		vlen--;
	for (i = 0; i < sizeof(sts_fields) / sizeof(sts_fields[0]); i++) {
		if (!sts_is(s, klen, sts_fields[i].key))
			continue;
		if (c->seen & sts_fields[i].once)
			return sts_fail(c->why, c->whylen, c->line,
			    "%s given twice", sts_fields[i].key);
		c->seen |= sts_fields[i].once;
		return sts_fields[i].parse(c, v, vlen);
	}
	return sts_extension(c, v, vlen);
}

/* What the whole file must have had (3.2). */
static int
sts_policy_complete(struct sts_ctx *c)
{
	c->line = 0;
	if (!(c->seen & STS_SEEN_VERSION))
		return sts_fail(c->why, c->whylen, 0, "no version field");
	if (!(c->seen & STS_SEEN_MODE))
		return sts_fail(c->why, c->whylen, 0, "no mode field");
	if (!(c->seen & STS_SEEN_MAX_AGE))
		return sts_fail(c->why, c->whylen, 0, "no max_age field");
	if (c->p->mode != MTASTS_NONE && c->p->nmx == 0)
		return sts_fail(c->why, c->whylen, 0, "mode %s without mx",
		    sts_modes[c->p->mode]);
	return 0;
}

int
mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
    char *why, size_t whylen)
{
	struct sts_ctx c = {p, 0, 0, why, whylen};
	const char *s = text, *end = text + len, *nl;
	size_t n;

	memset(p, 0, sizeof(*p));
	if (why != NULL && whylen > 0)
		*why = '\0';
	if (len > MTASTS_POLICY_MAX)
		return sts_fail(why, whylen, 0,
		    "policy of %zu octets, more than %d", len,
		    MTASTS_POLICY_MAX);
	for (; s < end; s = nl + 1) {
		c.line++;
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		n = (size_t)(nl - s);
		if (nl < end && n > 0 && s[n - 1] == '\r')
			n--;
		if (sts_policy_line(&c, s, n) == -1) {
			memset(p, 0, sizeof(*p));
			return -1;
		}
	}
	if (sts_policy_complete(&c) == -1) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

/* Whether name[0..n) is pat, ASCII case-insensitively. */
static int
sts_name_eq(const char *pat, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pat[i] == '\0' ||
		    sts_lower((unsigned char)pat[i]) !=
		        sts_lower((unsigned char)name[i]))
			return 0;
	return pat[n] == '\0';
}

/* 4.1: "*.example.com" stands for exactly one label before it. */
static int
sts_pattern_match(const char *pat, const char *host, size_t n)
{
	const char *dot;

	if (pat[0] != '*' || pat[1] != '.')
		return sts_name_eq(pat, host, n);
	if ((dot = memchr(host, '.', n)) == NULL || dot == host)
		return 0;
	return sts_name_eq(pat + 1, dot, n - (size_t)(dot - host));
}

int
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	size_t n = strlen(host);
	int i;

	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	for (i = 0; i < p->nmx && i < MTASTS_MAX_MX; i++)
		if (sts_pattern_match(p->mx[i], host, n))
			return 1;
	return 0;
}

const char *
mtasts_mode_name(enum mtasts_mode mode)
{
	if ((unsigned int)mode >= sizeof(sts_modes) / sizeof(sts_modes[0]))
		return "unknown";
	return sts_modes[mode];
}

void
mtasts_mx_text(const struct mtasts_policy *p, char *buf, size_t len)
{
	int i;

	if (len == 0)
		return;
	*buf = '\0';
	for (i = 0; i < p->nmx && i < MTASTS_MAX_MX; i++) {
		if (i > 0)
			strlcat(buf, ", ", len);
		strlcat(buf, p->mx[i], len);
	}
}
