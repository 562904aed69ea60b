/*
 * sts.c - MTA-STS policies for qmgr (RFC 8461; doc/design.md, "MTA-STS").
 * Each lookup of a direct destination asks the resolver for the domain's
 * "_mta-sts" TXT record, telling it the id of the policy kept in the
 * queue database; the resolver fetches the policy file only when the id
 * is new, or when half the kept policy's max_age has passed (its id is
 * then not told). A new policy replaces the kept one; when the record is
 * gone or the file cannot be had, a kept policy still applies until its
 * max_age runs out (RFC 8461 5.1). Questions for one domain in flight at
 * once are asked once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proto.h"
#include "qm.h"
#include "resolve.h"
#include "store.h"
#include "sts.h"
#include "tlsrpt.h"
#include "util.h"

#define STS_RECORD_VERSION "ncmta-sts 1"
#define STS_RECORD_PREFIX "sts:"
/* Policies kept at most (some 8 KiB each): a user who sends to many
 * domains with policies cannot fill the queue with them. Beyond it a new
 * policy applies to its lookup but is not kept. */
#define STS_KEPT_MAX 10000
#define STS_SWEEP_SECONDS 3600 /* expired policies deleted that often */

/* The policy kept for a domain. */
struct sts_kept {
	char id[MTASTS_ID_MAX + 1];
	time_t fetched;
	struct mtasts_policy pol;
};

struct sts_waiter {
	TAILQ_ENTRY(sts_waiter) link;
	sts_ready_fn *fn;
	void *arg;
};

struct sts_query {
	TAILQ_ENTRY(sts_query) link;
	char *domain;
	int have; /* kept is valid */
	struct sts_kept kept;
	TAILQ_HEAD(, sts_waiter) waiters;
};

static TAILQ_HEAD(, sts_query) in_flight = TAILQ_HEAD_INITIALIZER(in_flight);
static long kept_count = -1; /* records in the queue; -1: not counted */
static struct event *sweep_ev;

static void
record_name(const char *domain, char *buf, size_t len)
{
	snprintf(buf, len, STS_RECORD_PREFIX "%s", domain);
}

/*
 * A kept record: a version line, the id, the time it was fetched, then
 * the policy as ncmta writes it again (policy_text(): at most some 8 KiB
 * whatever the file was). 1 when it parses.
 */
static int
kept_parse(const char *rec, size_t len, struct sts_kept *k)
{
	const char *p = rec, *e;
	char why[256];
	long long fetched;

	if (len < sizeof(STS_RECORD_VERSION) ||
	    memcmp(p, STS_RECORD_VERSION "\n", sizeof(STS_RECORD_VERSION)) != 0)
		return 0;
	p += sizeof(STS_RECORD_VERSION);
	if ((e = strchr(p, '\n')) == NULL || e - p > MTASTS_ID_MAX || e == p)
		return 0;
	memcpy(k->id, p, (size_t)(e - p));
	k->id[e - p] = '\0';
	p = e + 1;
	if (sscanf(p, "%lld\n", &fetched) != 1 || (e = strchr(p, '\n')) == NULL)
		return 0;
	k->fetched = (time_t)fetched;
	p = e + 1;
	return mtasts_policy_parse(
	           p, len - (size_t)(p - rec), &k->pol, why, sizeof(why)) == 0;
}

static int
kept_expired(const struct sts_kept *k)
{
	return time(NULL) >= k->fetched + (time_t)k->pol.max_age;
}

/* The policy kept for domain: 1 when there is one in force; a record
 * that does not parse or is past its max_age is deleted. */
static int
kept_load(const char *domain, struct sts_kept *k)
{
	char name[QUEUE_POLICY_NAME_MAX + 1], *rec;
	size_t len;
	int ok;

	record_name(domain, name, sizeof(name));
	if ((rec = store_policy_get(name, &len)) == NULL)
		return 0;
	ok = kept_parse(rec, len, k);
	free(rec);
	if (ok && !kept_expired(k))
		return 1;
	if (!ok)
		log_warnx("%s: the kept MTA-STS policy cannot be read; "
		          "forgetting it",
		    domain);
	else
		log_info("%s: MTA-STS policy %s expired (max_age %" PRIu32 ")",
		    domain, k->id, k->pol.max_age);
	if (store_policy_put(name, NULL, 0) == 0 && kept_count > 0)
		kept_count--;
	return 0;
}

/* The policy as a policy file again, the way kept records hold it. */
static int
policy_text(const struct mtasts_policy *pol, char *buf, size_t len)
{
	size_t off;
	int i, n;

	n = snprintf(buf, len,
	    "version: STSv1\nmode: %s\nmax_age: %" PRIu32 "\n",
	    mtasts_mode_name(pol->mode), pol->max_age);
	off = n > 0 ? (size_t)n : 0;
	for (i = 0; i < pol->nmx && off < len; i++) {
		n = snprintf(buf + off, len - off, "mx: %s\n", pol->mx[i]);
		off += n > 0 ? (size_t)n : 0;
	}
	return off < len ? (int)off : -1;
}

/* Keep a new policy; existed: one was kept for the domain before. */
static void
kept_store(const char *domain, const struct sts_kept *k, int existed)
{
	char name[QUEUE_POLICY_NAME_MAX + 1], *text, *rec;
	size_t tlen = 64 + (size_t)MTASTS_MAX_MX * (MTASTS_MX_MAX + 6);
	int n;

	if (!existed && kept_count >= STS_KEPT_MAX) {
		log_warnx(
		    "%s: MTA-STS policy %s not kept: %d policies are kept "
		    "already; it applies to this lookup only",
		    domain, k->id, STS_KEPT_MAX);
		return;
	}
	text = xmalloc(tlen);
	if (policy_text(&k->pol, text, tlen) == -1) {
		free(text);
		return;
	}
	record_name(domain, name, sizeof(name));
	n = xasprintf(&rec, "%s\n%s\n%lld\n%s", STS_RECORD_VERSION, k->id,
	    (long long)k->fetched, text);
	if (store_policy_put(name, rec, (size_t)n) == 0 && !existed &&
	    kept_count >= 0)
		kept_count++;
	free(rec);
	free(text);
}

/* A kept record to delete in the sweep: unreadable or expired. */
static int
sweep_one(const char *name, const char *val, size_t len)
{
	struct sts_kept *k = xcalloc(1, sizeof(*k));
	int drop = !kept_parse(val, len, k) || kept_expired(k);

	(void)name;
	free(k);
	return drop;
}

static void
sweep_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval tv = {STS_SWEEP_SECONDS, 0};
	long n;

	(void)fd;
	(void)ev;
	(void)arg;
	if ((n = store_policy_sweep(STS_RECORD_PREFIX, sweep_one)) >= 0)
		kept_count = n;
	evtimer_add(sweep_ev, &tv);
}

/* Count the kept policies, dropping those past their max_age, now and
 * every STS_SWEEP_SECONDS. */
void
sts_init(void)
{
	sweep_ev = evtimer_new(qm->base, sweep_cb, NULL);
	sweep_cb(-1, 0, NULL);
}

static void
log_policy(const char *domain, const struct sts_kept *k, const char *how)
{
	char mx[512];

	mtasts_mx_text(&k->pol, mx, sizeof(mx));
	log_info("%s: MTA-STS policy %s %s: mode=%s max_age=%" PRIu32 " mx=%s",
	    domain, k->id, how, mtasts_mode_name(k->pol.mode), k->pol.max_age,
	    mx);
}

/* Whatever the answer, a kept policy in force stays in force. */
static void
keep_or_none(struct sts_query *q, const char *what)
{
	if (q->have)
		log_warnx("%s: %s; the kept MTA-STS policy %s applies until "
		          "it expires",
		    q->domain, what, q->kept.id);
	else
		log_warnx("%s: %s; no MTA-STS policy applies", q->domain, what);
}

/* A newly fetched policy file. */
static void
take_fetched(struct sts_query *q, const struct sts_answer *a)
{
	struct sts_kept k;
	char why[256], what[600];

	memset(&k, 0, sizeof(k));
	if (mtasts_policy_parse(
	        a->policy, strlen(a->policy), &k.pol, why, sizeof(why)) == -1) {
		snprintf(what, sizeof(what),
		    "MTA-STS policy %s is not valid: %s", a->txt_id, why);
		tlsrpt_count(
		    q->domain, TLSRPT_P_STS, TLSRPT_R_STS_POLICY_INVALID, "");
		keep_or_none(q, what);
		return;
	}
	strlcpy(k.id, a->txt_id, sizeof(k.id));
	k.fetched = time(NULL);
	log_policy(q->domain, &k,
	    q->have && strcmp(q->kept.id, k.id) == 0 ? "refreshed" : "fetched");
	kept_store(q->domain, &k, q->have);
	q->kept = k;
	q->have = 1;
}

static void
sts_answer(const struct sts_answer *a, void *arg)
{
	struct sts_query *q = arg;
	struct sts_result r = {.ttl = a->ttl};
	struct sts_waiter *w;
	char what[600];

	switch (a->status) {
	case STS_S_FETCHED:
		take_fetched(q, a);
		break;
	case STS_S_SAME:
		break;
	case STS_S_NONE:
		if (*a->error != '\0') {
			snprintf(
			    what, sizeof(what), "MTA-STS record: %s", a->error);
			keep_or_none(q, what);
		}
		break;
	case STS_S_TXT_FAIL:
		if (q->have) {
			snprintf(what, sizeof(what),
			    "MTA-STS record lookup failed: %s", a->error);
			keep_or_none(q, what);
		}
		break;
	default: /* STS_S_FETCH_FAIL, STS_S_WEBPKI_FAIL */
		tlsrpt_count(q->domain, TLSRPT_P_STS,
		    a->status == STS_S_WEBPKI_FAIL
		        ? TLSRPT_R_STS_WEBPKI_INVALID
		        : TLSRPT_R_STS_POLICY_FETCH_ERROR,
		    "");
		snprintf(what, sizeof(what), "MTA-STS policy %s: %s", a->txt_id,
		    a->error);
		keep_or_none(q, what);
		break;
	}
	if (q->have && q->kept.pol.mode != MTASTS_NONE) {
		r.policy = &q->kept.pol;
		r.id = q->kept.id;
	}
	TAILQ_REMOVE(&in_flight, q, link);
	while ((w = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, w, link);
		w->fn(&r, w->arg);
		free(w);
	}
	free(q->domain);
	free(q);
}

void
sts_lookup(const char *domain, sts_ready_fn *fn, void *arg)
{
	struct sts_query *q;
	struct sts_waiter *w;
	const char *known = "";

	if (!qm->cfg.smtp_mta_sts || *domain == '\0' || *domain == '[' ||
	    strlen(domain) > 253) {
		struct sts_result none = {.ttl = UINT32_MAX};

		fn(&none, arg);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	TAILQ_FOREACH(q, &in_flight, link)
	if (strcmp(q->domain, domain) == 0) {
		TAILQ_INSERT_TAIL(&q->waiters, w, link);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->domain = xstrdup(domain);
	TAILQ_INIT(&q->waiters);
	TAILQ_INSERT_TAIL(&q->waiters, w, link);
	TAILQ_INSERT_TAIL(&in_flight, q, link);
	q->have = kept_load(domain, &q->kept);
	/* past half its max_age the policy file is fetched again, even
	 * with the same id */
	if (q->have &&
	    time(NULL) < q->kept.fetched + (time_t)(q->kept.pol.max_age / 2))
		known = q->kept.id;
	resolve_sts(domain, known, sts_answer, q);
}
