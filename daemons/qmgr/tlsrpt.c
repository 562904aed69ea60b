/*
 * tlsrpt.c - TLS reporting data (RFC 8460) in qmgr's memory: per policy
 * domain and policy type, successful and failed sessions, failures by
 * result type and receiving MX, since qmgr started. Bounded whatever the
 * peers do (TLSRPT_MAX_DOMAINS, TLSRPT_MAX_MX, TLSRPT_REPORT_MAX); the
 * report is text or an RFC 8460 4.4 report body, every name escaped.
 */
#include <sys/tree.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "log.h"
#include "proto.h"
#include "tlsrpt.h"
#include "util.h"

#define TLSRPT_NAME_MAX 255 /* a domain or MX name kept */
#define TLSRPT_MX_OTHER (-1) /* a failure row's MX past TLSRPT_MAX_MX */

struct tlsrpt_fail {
	int result;
	int mx; /* index into the entry's mx[], or TLSRPT_MX_OTHER */
	uint64_t n;
};

/* One policy domain under one policy type. */
struct tlsrpt_entry {
	RB_ENTRY(tlsrpt_entry) link;
	char *domain; /* lower case */
	int policy;
	uint64_t ok, failed;
	char *mx[TLSRPT_MAX_MX];
	int nmx;
	struct tlsrpt_fail *fails;
	size_t nfails;
};

int tlsrpt_cmp(struct tlsrpt_entry *, struct tlsrpt_entry *);

int
tlsrpt_cmp(struct tlsrpt_entry *a, struct tlsrpt_entry *b)
{
	int c = strcmp(a->domain, b->domain);

	return c != 0 ? c : a->policy - b->policy;
}

RB_HEAD(tlsrpt_tree, tlsrpt_entry);
RB_PROTOTYPE(tlsrpt_tree, tlsrpt_entry, link, tlsrpt_cmp);
RB_GENERATE(tlsrpt_tree, tlsrpt_entry, link, tlsrpt_cmp);

static struct {
	struct tlsrpt_tree entries;
	size_t n;
	time_t start;
	uint64_t not_kept; /* sessions of domains past TLSRPT_MAX_DOMAINS */
} rpt = {RB_INITIALIZER(&rpt.entries), 0, 0, 0};

static const char *const policy_words[] = {[TLSRPT_P_NONE] = "no-policy-found",
    [TLSRPT_P_STS] = "sts",
    [TLSRPT_P_TLSA] = "tlsa"};

static const char *const result_words[TLSRPT_R_COUNT] = {
    [TLSRPT_R_SUCCESS] = "success",
    [TLSRPT_R_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
    [TLSRPT_R_CERT_HOST_MISMATCH] = "certificate-host-mismatch",
    [TLSRPT_R_CERT_EXPIRED] = "certificate-expired",
    [TLSRPT_R_CERT_NOT_TRUSTED] = "certificate-not-trusted",
    [TLSRPT_R_VALIDATION_FAILURE] = "validation-failure",
    [TLSRPT_R_TLSA_INVALID] = "tlsa-invalid",
    [TLSRPT_R_DNSSEC_INVALID] = "dnssec-invalid",
    [TLSRPT_R_DANE_REQUIRED] = "dane-required",
    [TLSRPT_R_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
    [TLSRPT_R_STS_POLICY_INVALID] = "sts-policy-invalid",
    [TLSRPT_R_STS_WEBPKI_INVALID] = "sts-webpki-invalid"};

static void
entry_free(struct tlsrpt_entry *e)
{
	int i;

	for (i = 0; i < e->nmx; i++)
		free(e->mx[i]);
	free(e->fails);
	free(e->domain);
	free(e);
}

void
tlsrpt_init(time_t start)
{
	struct tlsrpt_entry *e, *next;

	RB_FOREACH_SAFE(e, tlsrpt_tree, &rpt.entries, next)
	{
		RB_REMOVE(tlsrpt_tree, &rpt.entries, e);
		entry_free(e);
	}
	rpt.n = 0;
	rpt.not_kept = 0;
	rpt.start = start;
}

/* A name as kept: at most TLSRPT_NAME_MAX octets, ASCII in lower case. */
static char *
name_key(const char *name)
{
	char *k = xstrndup(name, TLSRPT_NAME_MAX), *p;

	for (p = k; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}

/* The entry for (domain, policy), made if there is room; NULL if not. */
static struct tlsrpt_entry *
entry_get(const char *domain, int policy)
{
	struct tlsrpt_entry key, *e;

	key.domain = name_key(domain);
	key.policy = policy;
	e = RB_FIND(tlsrpt_tree, &rpt.entries, &key);
	if (e != NULL || rpt.n >= TLSRPT_MAX_DOMAINS) {
		free(key.domain);
		return e;
	}
	e = xcalloc(1, sizeof(*e));
	e->domain = key.domain;
	e->policy = policy;
	RB_INSERT(tlsrpt_tree, &rpt.entries, e);
	rpt.n++;
	return e;
}

/* The index of the MX name in e, added if there is room. */
static int
entry_mx(struct tlsrpt_entry *e, const char *mx)
{
	char *k = name_key(mx);
	int i;

	for (i = 0; i < e->nmx && strcmp(e->mx[i], k) != 0; i++)
		;
	if (i == e->nmx && e->nmx < TLSRPT_MAX_MX)
		e->mx[e->nmx++] = xstrdup(k);
	free(k);
	return i < e->nmx ? i : TLSRPT_MX_OTHER;
}

static struct tlsrpt_fail *
fail_find(const struct tlsrpt_entry *e, int result, int mx)
{
	size_t i;

	for (i = 0; i < e->nfails; i++)
		if (e->fails[i].result == result && e->fails[i].mx == mx)
			return &e->fails[i];
	return NULL;
}

void
tlsrpt_count(const char *domain, int policy, int result, const char *mx)
{
	struct tlsrpt_entry *e;
	struct tlsrpt_fail *f;
	int m;

	if (policy < TLSRPT_P_NONE || policy > TLSRPT_P_TLSA || result < 0 ||
	    result >= TLSRPT_R_COUNT)
		fatalx("tlsrpt_count: policy %d, result %d", policy, result);
	if ((e = entry_get(domain, policy)) == NULL) {
		rpt.not_kept++;
		return;
	}
	if (result == TLSRPT_R_SUCCESS) {
		e->ok++;
		return;
	}
	e->failed++;
	m = entry_mx(e, mx);
	if ((f = fail_find(e, result, m)) == NULL) {
		e->fails =
		    xreallocarray(e->fails, e->nfails + 1, sizeof(*e->fails));
		f = &e->fails[e->nfails++];
		*f = (struct tlsrpt_fail){result, m, 0};
	}
	f->n++;
}

/* ---- the report ---- */

static void
rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The code point of a UTF-8 sequence of n octets (utf8_len()'s). */
static uint32_t
utf8_decode(const unsigned char *p, size_t n)
{
	uint32_t c = p[0] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
	size_t i;

	for (i = 1; i < n; i++)
		c = (c << 6) | (p[i] & 0x3f);
	return c;
}

static void
json_unit(struct evbuffer *b, uint32_t c)
{
	if (c > 0xffff) { /* a surrogate pair */
		c -= 0x10000;
		evbuffer_add_printf(b, "\\u%04x\\u%04x",
		    (unsigned)(0xd800 + (c >> 10)),
		    (unsigned)(0xdc00 + (c & 0x3ff)));
	} else
		evbuffer_add_printf(b, "\\u%04x", (unsigned)c);
}

/* A JSON string of printable ASCII: any other character escaped as its
 * code point, an octet that is not UTF-8 as U+FFFD. */
static void
json_string(struct evbuffer *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	evbuffer_add(b, "\"", 1);
	for (; *p != '\0'; p += n) {
		n = 1;
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p >= 0x20 && *p < 0x7f)
			evbuffer_add(b, p, 1);
		else if (*p < 0x80)
			json_unit(b, *p);
		else if ((n = utf8_len(p)) > 0)
			json_unit(b, utf8_decode(p, n));
		else {
			n = 1;
			json_unit(b, 0xfffd);
		}
	}
	evbuffer_add(b, "\"", 1);
}

/* A name on a text line: blanks, control characters and octets that
 * are not UTF-8 as '?', so that a line is always "name words...". */
static void
text_name(struct evbuffer *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	for (; *p != '\0'; p += n) {
		n = 1;
		if (*p > ' ' && *p < 0x7f)
			evbuffer_add(b, p, 1);
		else if (*p >= 0x80 && (n = utf8_len(p)) > 0)
			evbuffer_add(b, p, n);
		else {
			n = 1;
			evbuffer_add(b, "?", 1);
		}
	}
}

/* Walking an entry's failure rows (entry_walk_fails()). */
struct fail_walk {
	struct evbuffer *b;
	int rows; /* written so far */
};

static void
text_mx_count(struct evbuffer *b, const struct tlsrpt_entry *e,
    const struct tlsrpt_fail *f, int first)
{
	evbuffer_add_printf(b, "%s", first ? " (" : ", ");
	if (f->mx == TLSRPT_MX_OTHER)
		evbuffer_add_printf(b, "other MX hosts");
	else if (*e->mx[f->mx] == '\0')
		evbuffer_add_printf(b, "no MX host");
	else
		text_name(b, e->mx[f->mx]);
	evbuffer_add_printf(b, " %llu", (unsigned long long)f->n);
}

/*
 * Each failure row of e in report order, result type first, then MX in
 * the order first seen, "other" last; fn is called with first set on a
 * result type's first row and last on its last.
 */
static void
entry_walk_fails(const struct tlsrpt_entry *e, struct evbuffer *b,
    void (*fn)(struct fail_walk *, const struct tlsrpt_entry *,
        const struct tlsrpt_fail *, int first, int last))
{
	struct fail_walk w = {b, 0};
	const struct tlsrpt_fail *rows[TLSRPT_MAX_MX + 1];
	const struct tlsrpt_fail *f;
	int r, m, k, n;

	for (r = TLSRPT_R_SUCCESS + 1; r < TLSRPT_R_COUNT; r++) {
		n = 0;
		for (m = 0; m <= e->nmx; m++)
			if ((f = fail_find(e, r,
			         m < e->nmx ? m : TLSRPT_MX_OTHER)) != NULL)
				rows[n++] = f;
		for (k = 0; k < n; k++)
			fn(&w, e, rows[k], k == 0, k == n - 1);
	}
}

static void
text_fail(struct fail_walk *w, const struct tlsrpt_entry *e,
    const struct tlsrpt_fail *f, int first, int last)
{
	struct evbuffer *b = w->b;
	uint64_t total = 0;
	size_t i;

	if (first) {
		for (i = 0; i < e->nfails; i++)
			if (e->fails[i].result == f->result)
				total += e->fails[i].n;
		evbuffer_add_printf(b, "  %s %llu", result_words[f->result],
		    (unsigned long long)total);
	}
	text_mx_count(b, e, f, first);
	if (last)
		evbuffer_add_printf(b, ")\n");
}

static void
text_entry(struct evbuffer *b, const struct tlsrpt_entry *e)
{
	text_name(b, e->domain);
	evbuffer_add_printf(b,
	    " policy=%s sessions: %llu successful, %llu failed\n",
	    policy_words[e->policy], (unsigned long long)e->ok,
	    (unsigned long long)e->failed);
	entry_walk_fails(e, b, text_fail);
}

static void
json_fail(struct fail_walk *w, const struct tlsrpt_entry *e,
    const struct tlsrpt_fail *f, int first, int last)
{
	struct evbuffer *b = w->b;

	(void)first;
	(void)last;
	evbuffer_add_printf(b, "%s{\"result-type\": \"%s\"",
	    w->rows++ > 0 ? ", " : "", result_words[f->result]);
	if (f->mx != TLSRPT_MX_OTHER && *e->mx[f->mx] != '\0') {
		evbuffer_add_printf(b, ", \"receiving-mx-hostname\": ");
		json_string(b, e->mx[f->mx]);
	}
	evbuffer_add_printf(
	    b, ", \"failed-session-count\": %llu}", (unsigned long long)f->n);
}

static void
json_entry(struct evbuffer *b, const struct tlsrpt_entry *e)
{
	evbuffer_add_printf(b,
	    "{\"policy\": {\"policy-type\": \"%s\", "
	    "\"policy-domain\": ",
	    policy_words[e->policy]);
	json_string(b, e->domain);
	evbuffer_add_printf(b,
	    "}, \"summary\": {\"total-successful-session-count\": %llu, "
	    "\"total-failure-session-count\": %llu}, \"failure-details\": [",
	    (unsigned long long)e->ok, (unsigned long long)e->failed);
	entry_walk_fails(e, b, json_fail);
	evbuffer_add_printf(b, "]}");
}

/* Each entry's block, as long as the report stays within its bound;
 * returns how many were left out. */
static size_t
report_entries(struct evbuffer *out, int json)
{
	struct evbuffer *one;
	struct tlsrpt_entry *e;
	size_t left_out = 0, n = 0;

	RB_FOREACH(e, tlsrpt_tree, &rpt.entries)
	{
		if ((one = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		if (json && n > 0)
			evbuffer_add(one, ", ", 2);
		(json ? json_entry : text_entry)(one, e);
		if (left_out > 0 ||
		    evbuffer_get_length(out) + evbuffer_get_length(one) >
		        TLSRPT_REPORT_MAX - 512)
			left_out++;
		else {
			evbuffer_add_buffer(out, one);
			n++;
		}
		evbuffer_free(one);
	}
	return left_out;
}

static char *
report_text(struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out);
	char *s = xmalloc(len + 1);

	evbuffer_remove(out, s, len);
	s[len] = '\0';
	evbuffer_free(out);
	return s;
}

char *
tlsrpt_report(int json, time_t now)
{
	struct evbuffer *out = evbuffer_new();
	char start[32], end[32];
	size_t left_out;

	if (out == NULL)
		fatalx("evbuffer_new");
	rfc3339(rpt.start, start, sizeof(start));
	rfc3339(now, end, sizeof(end));
	if (!json && rpt.n == 0 && rpt.not_kept == 0) {
		evbuffer_add_printf(
		    out, "no TLS sessions to report since %s\n", start);
		return report_text(out);
	}
	if (json)
		evbuffer_add_printf(out,
		    "{\"date-range\": {\"start-datetime\": \"%s\", "
		    "\"end-datetime\": \"%s\"}, \"policies\": [",
		    start, end);
	else
		evbuffer_add_printf(
		    out, "TLS sessions from %s to %s\n", start, end);
	left_out = report_entries(out, json);
	if (json)
		evbuffer_add_printf(out,
		    "], \"ncmta-policies-left-out\": %zu, "
		    "\"ncmta-sessions-not-kept\": %llu}\n",
		    left_out, (unsigned long long)rpt.not_kept);
	else {
		if (left_out > 0)
			evbuffer_add_printf(out,
			    "%zu more policies left out of this report\n",
			    left_out);
		if (rpt.not_kept > 0)
			evbuffer_add_printf(out,
			    "%llu sessions not counted: more than %d policy "
			    "domains\n",
			    (unsigned long long)rpt.not_kept,
			    TLSRPT_MAX_DOMAINS);
	}
	return report_text(out);
}
