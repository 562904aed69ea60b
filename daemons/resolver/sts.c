/*
 * sts.c - M_STS_QUERY on private/resolver: a domain's MTA-STS TXT record
 * (_mta-sts.DOMAIN, RFC 8461 3.1) through the resolver's own cache, and
 * when its id is not the one the client knows, the policy file
 * (stsfetch.c). Questions for one domain in flight are merged: one TXT
 * lookup, one fetch; every waiting client gets exactly one M_STS_ANSWER,
 * or none once it has gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"
#include "log.h"
#include "mtasts.h"
#include "proto.h"
#include "resolver.h"
#include "util.h"

#define STS_MAX_FETCHES 32 /* policy fetches in flight */
/* A failure is worth asking again soon; the client caches it this long. */
#define STS_FAIL_TTL 60
#define STS_ERROR_MAX 512

struct sts_waiter {
	TAILQ_ENTRY(sts_waiter) entry;
	struct resolver_client *client;
	uint64_t id;
	char known[MTASTS_ID_MAX + 1]; /* the client's policy id, "" none */
};

struct sts_job {
	RB_ENTRY(sts_job) node;
	char domain[DNS_NAME_BUF];
	int fetching; /* the record is known; its policy is on the way */
	char txt_id[MTASTS_ID_MAX + 1];
	uint32_t ttl; /* of the TXT answer */
	TAILQ_HEAD(, sts_waiter) waiters;
};

/* What every waiter of a job is told. */
struct sts_result {
	uint32_t status; /* STS_S_* */
	const char *txt_id;
	const char *policy;
	const char *error;
	uint32_t ttl;
};

static int
sts_cmp(const struct sts_job *a, const struct sts_job *b)
{
	return strcmp(a->domain, b->domain);
}

RB_PROTOTYPE(sts_tree, sts_job, node, sts_cmp);
RB_GENERATE(sts_tree, sts_job, node, sts_cmp);

void
sts_init(void)
{
	RB_INIT(&resolver->sts_jobs);
}

static void
sts_send(struct resolver_client *cl, uint64_t id, const struct sts_result *r)
{
	struct ipcm_sts_answer a = {.id = id,
	    .status = r->status,
	    .txt_id = r->txt_id,
	    .policy = r->policy,
	    .error = r->error,
	    .ttl = r->ttl};

	if (cl->peer != NULL) /* else it left while we asked */
		ipcm_sts_answer_send(cl->peer, &a);
}

static void
waiter_answer(struct sts_waiter *w, const struct sts_result *r)
{
	sts_send(w->client, w->id, r);
	client_release(w->client);
	free(w);
}

static void
job_log(const struct sts_job *job, const struct sts_result *r)
{
	switch (r->status) {
	case STS_S_NONE:
		log_debug("MTA-STS %s: no policy%s%s", job->domain,
		    *r->error ? ": " : "", r->error);
		break;
	case STS_S_FETCHED:
		log_info("MTA-STS %s: policy %s fetched, %zu octets",
		    job->domain, r->txt_id, strlen(r->policy));
		break;
	case STS_S_SAME:
		break;
	default:
		log_warnx("MTA-STS %s: %s", job->domain, r->error);
	}
}

/* Tell every waiter r, and forget the job. */
static void
job_finish(struct sts_job *job, const struct sts_result *r)
{
	struct sts_waiter *w;

	RB_REMOVE(sts_tree, &resolver->sts_jobs, job);
	job_log(job, r);
	while ((w = TAILQ_FIRST(&job->waiters)) != NULL) {
		TAILQ_REMOVE(&job->waiters, w, entry);
		waiter_answer(w, r);
	}
	free(job);
}

static void
job_fail(struct sts_job *job, uint32_t status, const char *error)
{
	struct sts_result r = {status, job->txt_id, "", error, STS_FAIL_TTL};

	job_finish(job, &r);
}

static void
sts_fetched(
    void *arg, int status, const char *body, size_t len, const char *error)
{
	struct sts_job *job = arg;
	struct sts_result r = {
	    (uint32_t)status, job->txt_id, "", error, STS_FAIL_TTL};

	(void)len;
	resolver->sts_fetching--;
	if (status == STS_S_FETCHED) {
		r.policy = body;
		r.ttl = job->ttl;
	}
	job_finish(job, &r);
}

/*
 * The one STSv1 record among the TXT records (RFC 8461 3.1: the others
 * are discarded; none, several or a malformed one mean no policy).
 * Returns 1 with its id, or 0 with why ("" when there is simply none).
 */
static int
txt_pick(const struct dns_result *res, char *id, char *why, size_t whylen)
{
	char one[MTASTS_ID_MAX + 1], err[STS_ERROR_MAX];
	size_t i, found = 0;
	int rc;

	*why = '\0';
	for (i = 0; i < res->n; i++) {
		*err = '\0';
		rc = mtasts_txt_parse(res->rr[i].data, strlen(res->rr[i].data),
		    one, err, sizeof(err));
		if (rc == 0)
			continue;
		found++;
		if (rc == 1)
			strlcpy(id, one, MTASTS_ID_MAX + 1);
		else if (*why == '\0')
			snprintf(why, whylen, "_mta-sts TXT record: %s",
			    *err ? err : "malformed");
	}
	if (found > 1)
		snprintf(why, whylen,
		    "%zu STSv1 TXT records at _mta-sts (RFC 8461 3.1)", found);
	return found == 1 && *why == '\0';
}

/* Waiters whose known id is the record's are answered now. */
static void
job_answer_same(struct sts_job *job)
{
	struct sts_result r = {STS_S_SAME, job->txt_id, "", "", job->ttl};
	struct sts_waiter *w, *next;

	for (w = TAILQ_FIRST(&job->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (strcmp(w->known, job->txt_id) != 0)
			continue;
		TAILQ_REMOVE(&job->waiters, w, entry);
		waiter_answer(w, &r);
	}
}

static void
job_fetch(struct sts_job *job)
{
	job_answer_same(job);
	if (TAILQ_EMPTY(&job->waiters)) {
		RB_REMOVE(sts_tree, &resolver->sts_jobs, job);
		log_debug("MTA-STS %s: policy %s is the known one", job->domain,
		    job->txt_id);
		free(job);
		return;
	}
	if (resolver->sts_fetching >= STS_MAX_FETCHES) {
		job_fail(
		    job, STS_S_TXT_FAIL, "too many MTA-STS fetches in flight");
		return;
	}
	job->fetching = 1;
	resolver->sts_fetching++;
	resolver->stats.fetches++;
	stsfetch_start(job->domain, sts_fetched, job);
}

static void
sts_txt_answered(void *arg, const struct dns_result *res, uint32_t ttl)
{
	struct sts_job *job = arg;
	struct sts_result none = {STS_S_NONE, "", "", "", ttl};
	char why[STS_ERROR_MAX];

	job->ttl = ttl;
	if (res->status == DNS_S_TEMPFAIL) {
		snprintf(why, sizeof(why),
		    "TXT lookup of _mta-sts.%s failed: %s", job->domain,
		    res->why);
		job_fail(job, STS_S_TXT_FAIL, why);
	} else if (res->status != DNS_S_OK ||
	    !txt_pick(res, job->txt_id, why, sizeof(why))) {
		none.error = res->status == DNS_S_OK ? why : "";
		job_finish(job, &none);
	} else
		job_fetch(job);
}

/* Wait for domain's answer, starting its job unless one is in flight. */
static void
sts_join(struct resolver_client *cl, uint64_t id, const char *domain,
    const char *known)
{
	struct sts_waiter *w = xcalloc(1, sizeof(*w));
	struct sts_job key, *job;
	char name[DNS_NAME_BUF];

	w->client = cl;
	w->id = id;
	/* a longer one is no id: it matches nothing */
	if (strlen(known) <= MTASTS_ID_MAX)
		strlcpy(w->known, known, sizeof(w->known));
	cl->pending++;
	strlcpy(key.domain, domain, sizeof(key.domain));
	if ((job = RB_FIND(sts_tree, &resolver->sts_jobs, &key)) != NULL) {
		TAILQ_INSERT_TAIL(&job->waiters, w, entry);
		if (job->fetching)
			job_answer_same(job);
		return;
	}
	job = xcalloc(1, sizeof(*job));
	strlcpy(job->domain, domain, sizeof(job->domain));
	TAILQ_INIT(&job->waiters);
	TAILQ_INSERT_TAIL(&job->waiters, w, entry);
	RB_INSERT(sts_tree, &resolver->sts_jobs, job);
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	/* may answer, and free job, before it returns */
	lookup_internal(DNS_T_TXT, name, sts_txt_answered, job);
}

void
sts_query(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct resolver_client *cl = arg;
	struct sts_result bad = {STS_S_NONE, "", "", "", STS_FAIL_TTL};
	char domain[DNS_NAME_BUF], why[DNS_ERROR_MAX];
	struct ipcm_sts_query q;
	int rc;

	if (ipcm_sts_query_get(m, &q) == -1 || lookup_client_flooded(p))
		return; /* the IPC layer closes the peer */
	resolver->stats.sts++;
	*why = '\0';
	rc = lookup_name(q.domain, domain, why, sizeof(why));
	/* "_mta-sts." must still make a name of it */
	if (rc == 0 && strlen(domain) + 9 > DNS_NAME_MAX)
		snprintf(why, sizeof(why), "the domain name is too long");
	else if (rc == 1)
		snprintf(why, sizeof(why), "not a domain name");
	if (*why != '\0') {
		resolver->stats.rejected++;
		log_debug("MTA-STS query from %s: %s", ipc_peer_name(p), why);
		bad.error = why;
		sts_send(cl, q.id, &bad);
		return;
	}
	if (cl->pending >= RESOLVER_CLIENT_MAX_PENDING) {
		resolver->stats.rejected++;
		bad.status = STS_S_TXT_FAIL;
		bad.error = "too many questions in flight";
		sts_send(cl, q.id, &bad);
		return;
	}
	sts_join(cl, q.id, domain, q.known_id);
}
