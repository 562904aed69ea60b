/*
 * dispatch.c - from the ready list to the smtp workers and back: route
 * each message's recipients to destinations (dest.h), build a job per
 * group of recipients, stream it to the least busy worker, apply each
 * recipient's outcome and decide the attempt's end: sent, deferred with
 * back-off, bounced (notices through notify.h) or held. Every change of
 * state goes through the store (store.h), which commits it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "log.h"
#include "backoff.h"
#include "dest.h"
#include "dispatch.h"
#include "ipcmsg.h"
#include "mtasts.h"
#include "notify.h"
#include "proto.h"
#include "store.h"
#include "tlsrpt.h"
#include "util.h"

int qm_job_cmp(struct qm_job *, struct qm_job *);

int
qm_job_cmp(struct qm_job *a, struct qm_job *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}
RB_GENERATE(qm_job_tree, qm_job, by_id, qm_job_cmp);

static void msg_finish(struct qm_msg *);

/* A destination's lookup has ended: its waiting messages go on, ahead of
 * the others (they were due first), oldest first. */
static void
dest_ready(struct qm_dest *d)
{
	struct qm_msg *m;

	while ((m = TAILQ_LAST(&d->waiting, qm_msg_list)) != NULL)
		store_ready_first(m);
}

/* Messages blocked on d for a session slot go on: n of them, oldest
 * first, at the end of the ready list; or (n < 0) all, at its head. */
static void
dest_unblock(struct qm_dest *d, int n)
{
	struct qm_msg *m;

	if (n < 0)
		while ((m = TAILQ_LAST(&d->blocked, qm_msg_list)) != NULL)
			store_ready_first(m);
	while (n-- > 0 && (m = TAILQ_FIRST(&d->blocked)) != NULL)
		store_ready(m);
	qm_kick();
}

void
dispatch_init(void)
{
	RB_INIT(&qm->jobs);
	TAILQ_INIT(&qm->workers);
	dest_init(dest_ready);
}

static double
msg_arrival(const struct qm_msg *m)
{
	return (double)m->rec->arrival_us / 1e6;
}

/* Log and record an outcome decided here, without an smtp session. */
static void
rcpt_decide(struct qm_msg *m, struct q_rcpt *r, int status, const char *dsn,
    const char *reason)
{
	char qid[NC_QID_LEN + 1];
	struct log_delivery d;
	double now = now_sec();

	qid_format(m->qid, qid);
	memset(&d, 0, sizeof(d));
	d.qid = qid;
	d.rcpt = r->addr;
	d.relay = "none";
	d.arrival = msg_arrival(m);
	d.t_active = d.t_handoff = d.t_done = now;
	d.dsn = dsn;
	d.status = status == QR_BOUNCED ? "bounced" : "deferred";
	d.reason = reason;
	log_delivery(&d);
	/* a bounced recipient waits for its notice in state "failed" */
	r->status = (uint8_t)(status == QR_BOUNCED ? QR_FAILED : status);
	if (m->taken != NULL)
		m->taken[r - m->rec->rcpt] = 1;
	free(r->dsn);
	free(r->reason);
	r->dsn = xstrdup(dsn);
	r->reason = xstrdup(reason);
}

/* Open, and not yet in a job or decided in this attempt. */
static int
rcpt_waiting(const struct qm_msg *m, uint32_t i)
{
	return store_rcpt_open(&m->rec->rcpt[i]) &&
	    (m->taken == NULL || !m->taken[i]);
}

static int
msg_has_waiting(const struct qm_msg *m)
{
	uint32_t i;

	if (m->rec == NULL)
		return 0;
	for (i = 0; i < m->rec->nrcpt; i++)
		if (rcpt_waiting(m, i))
			return 1;
	return 0;
}

/* Defer (or bounce) every recipient of a message not yet sent out. */
static void
msg_decide_all(
    struct qm_msg *m, int status, const char *dsn, const char *reason)
{
	uint32_t i;

	for (i = 0; i < m->rec->nrcpt; i++)
		if (rcpt_waiting(m, i))
			rcpt_decide(m, &m->rec->rcpt[i], status, dsn, reason);
	if (m->jobs_in_flight == 0)
		msg_finish(m);
}

/* The attempt is over (or abandoned by ncctl hold/delete): forget which
 * recipients it took. */
void
dispatch_attempt_end(struct qm_msg *m)
{
	free(m->taken);
	m->taken = NULL;
}

static struct qm_worker *
worker_pick(void)
{
	struct qm_worker *w, *best = NULL;

	TAILQ_FOREACH(w, &qm->workers, link)
	{
		if (w->jobs >= w->max_jobs ||
		    ipc_peer_pending(w->peer) > QMGR_WORKER_BACKLOG)
			continue;
		if (best == NULL || w->jobs < best->jobs)
			best = w;
	}
	return best;
}

/* The content, unless the worker keeps it from an earlier job of the
 * message (JOB_F_KEPT): then only JOB_END. */
static void
job_send_body(struct qm_job *j, const uint8_t *body, size_t len, uint32_t flags)
{
	struct ipcm_job_body chunk = {.job = j->id};
	struct ipcm_job_end end = {.job = j->id};
	size_t off;

	for (off = 0; off < len && !(flags & JOB_F_KEPT);
	     off += chunk.chunk_len) {
		chunk.chunk = body + off;
		chunk.chunk_len =
		    len - off > NC_BODY_CHUNK ? NC_BODY_CHUNK : len - off;
		ipcm_job_body_send(j->worker->peer, &chunk);
	}
	ipcm_job_end_send(j->worker->peer, &end);
}

/*
 * When a message deferred now may be tried again: delay seconds from now
 * at the earliest. next_attempt has whole seconds and the deferred queue
 * is due once the clock's second reaches it, so the fraction of the
 * current second is rounded up, never down (an attempt at 48.7 s with a
 * one-second back-off is tried again at 50, not at 49).
 */
static int64_t
retry_at(int64_t delay)
{
	return (int64_t)now_sec() + 1 + delay;
}

static uint32_t
tls_level_value(const char *level)
{
	static const char *names[] = {
	    "none", "may", "encrypt", "verify", "dane"}; /* settable ones */
	uint32_t i;

	for (i = 0; i < 5; i++)
		if (strcmp(level, names[i]) == 0)
			return i;
	return TLS_MAY; /* the configuration checks rule this out */
}

/* What the worker must do for TLS and AUTH with this host, by the
 * configuration in force now, so a reload applies to the next job.
 * Unset, the level is "may" for exchangers and "verify" for relays;
 * "dane" is "may" for a host without validated TLSA records (dest.c). */
static uint32_t
host_flags(const struct qm_dest *d, const struct dest_host *h)
{
	const struct nc_config *cfg = &qm->cfg;
	int relay = (h->flags & HOST_F_RELAY) != 0;
	const char *level = *d->tls ? d->tls : cfg->smtp_tls_security_level;
	uint32_t f = h->flags, tls;

	if (*level == '\0')
		tls = relay ? TLS_VERIFY : TLS_MAY;
	else
		tls = tls_level_value(level);
	if (tls == TLS_DANE && h->tlsa == NULL)
		tls = TLS_MAY;
	/* MTA-STS (dest.c): enforce asks what verify asks, whatever the
	 * level, unless DANE applies; testing only watches over may */
	if (h->sts == MTASTS_ENFORCE && tls != TLS_DANE)
		tls = TLS_STS;
	else if (h->sts == MTASTS_TESTING && tls <= TLS_MAY)
		tls = TLS_STS_TESTING;
	f |= tls << HOST_F_TLS_SHIFT;
	if (h->port == 465 || (relay && cfg->smtp_tls_wrappermode))
		f |= HOST_F_WRAPPER;
	if (relay && cfg->smtp_sasl_auth)
		f |= HOST_F_AUTH;
	if (cfg->smtp_sasl_allow_plaintext)
		f |= HOST_F_AUTH_PLAIN;
	return f;
}

/* SMTPUTF8 (RFC 6531) for a job: passed on when it was given; required
 * when the sender or one of the job's recipients holds UTF-8. */
static uint32_t
job_utf8_flags(const struct qm_job *j)
{
	const struct q_msg *rec = j->msg->rec;
	uint32_t f = 0, i;

	if (rec->flags & (QMSG_F_SMTPUTF8 | QMSG_F_UTF8ADDR))
		f |= JOB_F_SMTPUTF8;
	if (!(rec->flags & QMSG_F_UTF8ADDR))
		return f;
	if (addr_is_8bit(rec->sender))
		return f | JOB_F_UTF8ADDR;
	for (i = 0; i < j->nrcpt; i++)
		if (addr_is_8bit(rec->rcpt[j->rcpt[i]].addr))
			return f | JOB_F_UTF8ADDR;
	return f;
}

static void
job_send(struct qm_job *j, const uint8_t *body, size_t len, uint32_t flags)
{
	struct q_msg *rec = j->msg->rec;
	struct qm_dest *d = j->dest;
	struct ipcm_job_host *hosts;
	struct ipcm_job_rcpt *rcpts;
	struct ipcm_job_begin jb;
	uint32_t i, nhosts = 0;
	size_t tlsa_bytes = 0;
	int h, *order;

	if (rec->flags & QMSG_F_8BIT)
		flags |= JOB_F_8BIT;
	flags |= job_utf8_flags(j);
	order = xcalloc((size_t)d->nhosts + 1, sizeof(*order));
	hosts = xcalloc((size_t)d->nhosts + 1, sizeof(*hosts));
	rcpts = xcalloc((size_t)j->nrcpt + 1, sizeof(*rcpts));
	dest_host_order(d, order);
	for (h = 0; h < d->nhosts; h++) {
		const struct dest_host *dh = &d->hosts[order[h]];
		uint32_t hf = host_flags(d, dh);
		const char *tlsa = HOST_F_TLS(hf) == TLS_DANE ? dh->tlsa : "";

		tlsa_bytes += strlen(tlsa);
		if (nhosts > 0 && tlsa_bytes > QMGR_JOB_TLSA_BYTES)
			break;
		hosts[nhosts++] = (struct ipcm_job_host){.name = dh->name,
		    .addr = dh->addr,
		    .port = dh->port,
		    .flags = hf,
		    .nexthop = dh->nexthop,
		    .tlsa = tlsa};
	}
	for (i = 0; i < j->nrcpt; i++)
		rcpts[i] = (struct ipcm_job_rcpt){.index = j->rcpt[i],
		    .addr = rec->rcpt[j->rcpt[i]].addr,
		    .orcpt = rec->rcpt[j->rcpt[i]].orcpt};
	jb = (struct ipcm_job_begin){.job = j->id,
	    .qid = rec->qid,
	    .sender = rec->sender,
	    .size = rec->size,
	    .arrival = msg_arrival(j->msg),
	    .t_active = j->msg->t_active,
	    .t_handoff = now_sec(),
	    .flags = flags,
	    .dsn_notify = rec->dsn_notify,
	    .dsn_ret = rec->dsn_ret,
	    .envid = rec->envid,
	    .hosts = hosts,
	    .hosts_n = nhosts,
	    .rcpts = rcpts,
	    .rcpts_n = j->nrcpt};
	ipcm_job_begin_send(j->worker->peer, &jb);
	free(order);
	free(hosts);
	free(rcpts);
	job_send_body(j, body, len, flags);
}

static struct qm_job *
job_new(struct qm_msg *m, struct qm_dest *d)
{
	uint32_t limit = (uint32_t)qm->cfg.smtp_recipient_limit;
	struct qm_job *j = xcalloc(1, sizeof(*j));

	j->id = ++qm->next_job;
	j->msg = m;
	j->dest = d;
	j->rcpt = xcalloc(limit, sizeof(*j->rcpt));
	j->seen = xcalloc(limit, 1);
	return j;
}

static int
worker_free(const struct qm_worker *w)
{
	return w != NULL && w->jobs < w->max_jobs &&
	    ipc_peer_pending(w->peer) <= QMGR_WORKER_BACKLOG;
}

/* Workers never forget a worker that is gone: dests must not either. */
void
dispatch_forget_worker(struct qm_worker *w)
{
	struct qm_dest *d;

	RB_FOREACH(d, qm_dest_tree, &qm->dests)
	if (d->last_worker == w)
		d->last_worker = NULL;
}

static struct qm_body_ref *
body_ref(const struct qm_msg *m, const struct qm_worker *w)
{
	int i;

	for (i = 0; i < m->nbodies; i++)
		if (m->bodies[i].worker == w)
			return &m->bodies[i];
	return NULL;
}

/*
 * The worker for a job: one that keeps the message's body, else the one
 * that served the destination last (it may hold an idle session to
 * reuse), else the least busy. NULL when every worker is full.
 */
static struct qm_worker *
job_worker(const struct qm_msg *m, const struct qm_dest *d)
{
	int i;

	for (i = 0; i < m->nbodies; i++)
		if (worker_free(m->bodies[i].worker))
			return m->bodies[i].worker;
	if (worker_free(d->last_worker))
		return d->last_worker;
	return worker_pick();
}

/*
 * Hand j to w. The first job of a message on a worker carries the body
 * and, when recipients of the attempt still wait for jobs of their own,
 * asks the worker to keep it (JOB_F_KEEP); the next ones there name it
 * (JOB_F_KEPT): one copy per worker, however many recipients. The only
 * job of an attempt keeps nothing (no JOB_FORGET follows it).
 */
static void
job_start(
    struct qm_job *j, struct qm_worker *w, const uint8_t *body, size_t len)
{
	struct qm_msg *m = j->msg;
	struct qm_body_ref *ref = body_ref(m, w);
	uint32_t flags = JOB_F_KEPT;

	j->worker = w;
	j->dest->last_worker = w;
	if (ref == NULL && !msg_has_waiting(m))
		flags = 0;
	else if (ref == NULL) {
		flags = JOB_F_KEEP;
		m->bodies = xreallocarray(
		    m->bodies, (size_t)m->nbodies + 1, sizeof(*m->bodies));
		ref = &m->bodies[m->nbodies++];
		ref->worker = w;
		ref->jobs = 0;
	}
	if (ref != NULL) {
		ref->jobs++;
		j->kept = 1;
	}
	if (m->strikes > 0) {
		j->probation = 1;
		m->probation_jobs++;
		qm->probation_jobs++;
	}
	w->jobs++;
	j->dest->in_flight++;
	RB_INSERT(qm_job_tree, &qm->jobs, j);
	m->jobs_in_flight++;
	qm->jobs_in_flight++;
	job_send(j, body, len, flags);
}

/*
 * Jobs of up to smtp_recipient_limit recipients, one destination each,
 * one session each: only as many as the destination's window, the
 * session limit and the workers allow. Recipients left waiting stay
 * untaken; the message waits on the first full destination (or at the
 * end of the ready list when all sessions or workers are busy) and
 * goes on from there when a slot frees.
 */
static void
msg_make_jobs(
    struct qm_msg *m, struct qm_dest **rd, const uint8_t *body, size_t len)
{
	uint32_t i, k, limit = (uint32_t)qm->cfg.smtp_recipient_limit;
	struct qm_dest *full = NULL;
	struct qm_worker *w;
	struct qm_job *j;
	size_t bytes;
	int busy = 0;

	for (i = 0; i < m->rec->nrcpt; i++) {
		if (rd[i] == NULL || !rcpt_waiting(m, i))
			continue;
		if (rd[i]->in_flight >= dest_window(rd[i])) {
			if (full == NULL)
				full = rd[i];
			continue;
		}
		if (qm->jobs_in_flight >= qm->cfg.smtp_session_limit ||
		    (w = job_worker(m, rd[i])) == NULL) {
			busy = 1;
			break;
		}
		j = job_new(m, rd[i]);
		bytes = 0;
		for (k = i; k < m->rec->nrcpt && j->nrcpt < limit &&
		     bytes < QMGR_JOB_RCPT_BYTES;
		     k++)
			if (rd[k] == j->dest && rcpt_waiting(m, k)) {
				j->rcpt[j->nrcpt++] = k;
				m->taken[k] = 1;
				rd[k] = NULL;
				bytes += strlen(m->rec->rcpt[k].addr) +
				    (m->rec->rcpt[k].orcpt != NULL
				            ? strlen(m->rec->rcpt[k].orcpt)
				            : 0) +
				    16;
			}
		job_start(j, w, body, len);
	}
	if (busy)
		store_ready(m); /* at the end: others get their turn */
	else if (full != NULL)
		store_park(m, full, ON_BLOCKED);
}

static void
msg_log_active(struct qm_msg *m)
{
	char qid[NC_QID_LEN + 1];
	uint32_t i, open = 0;

	if (m->logged_active)
		return;
	m->logged_active = 1;
	for (i = 0; i < m->rec->nrcpt; i++)
		open += store_rcpt_open(&m->rec->rcpt[i]);
	qid_format(m->qid, qid);
	log_info("%s: from=<%s>, size=%llu, nrcpt=%u (queue active)", qid,
	    m->rec->sender, (unsigned long long)m->rec->size, open);
}

static const char *
rcpt_domain(const struct q_rcpt *r, char *buf, size_t len)
{
	const char *at = strrchr(r->addr, '@');
	size_t i;

	strlcpy(buf, at ? at + 1 : "", len);
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	return buf;
}

/*
 * Apply the routing table: reject decides at once, hold parks the whole
 * message, everything else gets its destination in rd[]. Returns 0, or
 * -1 when the message went on hold.
 */
static int
msg_route(struct qm_msg *m, struct qm_dest **rd)
{
	const struct route *r;
	char domain[256], qid[NC_QID_LEN + 1];
	uint32_t i;

	for (i = 0; i < m->rec->nrcpt; i++) {
		struct q_rcpt *rc = &m->rec->rcpt[i];

		if (!rcpt_waiting(m, i))
			continue;
		r = routes_lookup(
		    &qm->routes, rcpt_domain(rc, domain, sizeof(domain)));
		if (r != NULL && r->action == ROUTE_HOLD) {
			qid_format(m->qid, qid);
			log_info("%s: hold: route \"%s\" for <%s>", qid,
			    r->pattern, rc->addr);
			if (m->jobs_in_flight > 0) {
				m->hold_after = 1; /* once they are back */
				return -1;
			}
			dispatch_attempt_end(m);
			store_move(m, Q_HOLD);
			m->logged_active = 0;
			store_mark_dirty(m);
			return -1;
		}
		if (r != NULL && r->action == ROUTE_REJECT)
			rcpt_decide(m, rc,
			    r->dsn[0] == '5' ? QR_BOUNCED : QR_DEFERRED, r->dsn,
			    r->text);
		else
			rd[i] = dest_get(r, domain);
	}
	return 0;
}

/*
 * Every destination must be looked up; if one is not, the message waits
 * for it and 0 is returned. Destinations whose lookup failed, or that
 * are suspended, decide their recipients here.
 */
static int
msg_dests_ready(struct qm_msg *m, struct qm_dest **rd)
{
	uint32_t i;

	for (i = 0; i < m->rec->nrcpt; i++) {
		if (rd[i] == NULL || dest_fresh(rd[i]))
			continue;
		store_park(m, rd[i], ON_WAITING);
		dest_resolve(rd[i]); /* may answer at once: m is then ready */
		return 0;
	}
	for (i = 0; i < m->rec->nrcpt; i++) {
		if (rd[i] == NULL)
			continue;
		if (rd[i]->result != DEST_OK)
			rcpt_decide(m, &m->rec->rcpt[i],
			    rd[i]->result == DEST_PERMFAIL ? QR_BOUNCED
			                                   : QR_DEFERRED,
			    rd[i]->dsn, rd[i]->reason);
		else if (sched_is_suspended(&rd[i]->health, time(NULL)))
			/* a dead destination: deferred in one step, no try */
			rcpt_decide(m, &m->rec->rcpt[i], QR_DEFERRED, "4.4.1",
			    rd[i]->suspend_reason);
		else
			continue;
		rd[i] = NULL;
	}
	return 1;
}

/* Received: headers in the header block: the hop count. */
static int
hop_count(const char *p, size_t len)
{
	const char *end = p + len, *nl;
	int n = 0;

	while (p < end && *p != '\n') {
		if (end - p > 9 && strncasecmp(p, "Received:", 9) == 0)
			n++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/*
 * Before any attempt: a mail loop bounces (hop_count_limit), an expired
 * message bounces (max_queue_lifetime; bounce_queue_lifetime for notices,
 * which are dropped). -1 when the message was decided here.
 */
static int
msg_checks(struct qm_msg *m, const void *body, size_t len)
{
	int64_t life = *m->rec->sender ? qm->cfg.max_queue_lifetime
	                               : qm->cfg.bounce_queue_lifetime;
	char why[128];
	int hops;

	if (m->rec->attempts == 0 &&
	    (hops = hop_count(body, len)) > qm->cfg.hop_count_limit) {
		snprintf(why, sizeof(why),
		    "mail forwarding loop: %d Received: headers", hops);
		msg_decide_all(m, QR_BOUNCED, "5.4.6", why);
		return -1;
	}
	if (m->rec->attempts > 0 &&
	    backoff_expired(msg_arrival(m), m->t_active, life)) {
		msg_decide_all(m, QR_BOUNCED, "4.4.7",
		    "message expired: too long in the queue");
		return -1;
	}
	return 0;
}

/*
 * What only a broken or hostile submission could have queued -- a
 * control character in an address, a bad ENVID or ORCPT -- fails here,
 * for this message alone: the sender's makes it held, a recipient's
 * bounces that recipient, an ENVID or ORCPT is dropped. pickup refuses
 * all of these; a queue written by something else may still hold them.
 * 0, or -1 when the message was decided here.
 */
static int
msg_envelope_check(struct qm_msg *m)
{
	struct q_rcpt *r;
	char qid[NC_QID_LEN + 1];
	uint32_t i;

	qid_format(m->qid, qid);
	if (m->rec->envid != NULL && !dsn_envid_valid(m->rec->envid)) {
		log_warnx("%s: dropping a malformed ENVID", qid);
		free(m->rec->envid);
		m->rec->envid = xstrdup("");
		store_mark_dirty(m);
	}
	for (i = 0; i < m->rec->nrcpt; i++) {
		r = &m->rec->rcpt[i];
		if (r->orcpt != NULL && *r->orcpt != '\0' &&
		    !dsn_orcpt_valid(r->orcpt)) {
			log_warnx("%s: to=<%s>: dropping a malformed ORCPT",
			    qid, r->addr);
			free(r->orcpt);
			r->orcpt = xstrdup("");
			store_mark_dirty(m);
		}
		if (rcpt_waiting(m, i) &&
		    (addr_has_control(r->addr, strlen(r->addr)) ||
		        strlen(r->addr) >= ADDR_MAX))
			rcpt_decide(m, r, QR_BOUNCED, "5.1.3",
			    "bad recipient address syntax: control character "
			    "or too long");
	}
	if (!addr_has_control(m->rec->sender, strlen(m->rec->sender)) &&
	    strlen(m->rec->sender) < ADDR_MAX)
		return 0;
	store_quarantine(m,
	    "the sender address holds a control character "
	    "or is too long");
	msg_decide_all(m, QR_DEFERRED, "4.3.0", m->quarantine);
	return -1;
}

/*
 * A suspect (in flight when a worker died) runs only while no other
 * suspect is in flight, so the next death points at it alone.
 */
static int
msg_on_probation(struct qm_msg *m)
{
	if (m->strikes == 0 || qm->probation_jobs <= m->probation_jobs)
		return 0;
	store_probation(m);
	return 1;
}

/* Start (or continue) delivery of one message; the read transaction
 * holds its body. An attempt starts with the checks and goes on, as
 * session slots free, until every recipient was taken. */
static void
msg_dispatch(struct qm_msg *m, struct queue_txn *t)
{
	struct qm_dest **rd;
	const void *body;
	size_t len;
	int rc;

	store_unlist(m);
	if (m->jobs_in_flight > 0 &&
	    (m->hold_after || m->delete_after || m->quarantine != NULL))
		return; /* no more jobs: it ends with the last one */
	if (msg_on_probation(m))
		return;
	if ((rc = store_load(m, t)) != 0 ||
	    (rc = store_body(t, m, &body, &len)) != 0) {
		log_warnx("cannot read message %016llX: %s",
		    (unsigned long long)m->qid, queue_strerror(rc));
		if (m->jobs_in_flight == 0)
			store_defer(m, retry_at(qm->cfg.min_backoff));
		return;
	}
	if (!m->logged_active) {
		m->t_active = now_sec();
		store_move(m, Q_ACTIVE);
		msg_log_active(m);
	}
	if (m->taken == NULL) {
		m->taken = xcalloc(m->rec->nrcpt ? m->rec->nrcpt : 1, 1);
		if (msg_envelope_check(m) == -1 ||
		    msg_checks(m, body, len) == -1)
			return;
	}
	rd = xcalloc(m->rec->nrcpt ? m->rec->nrcpt : 1, sizeof(*rd));
	if (msg_route(m, rd) == 0 && msg_dests_ready(m, rd)) {
		store_mark_dirty(m);
		msg_make_jobs(m, rd, body, len);
		if (m->jobs_in_flight == 0 && !msg_has_waiting(m))
			msg_finish(m);
	}
	free(rd);
}

void
dispatch_run(void)
{
	struct queue_txn *t = NULL;
	struct qm_worker *w;
	struct qm_msg *m;

	/* no suspect in flight: the next one may have its turn */
	if (qm->probation_jobs == 0 &&
	    (m = TAILQ_FIRST(&qm->probation)) != NULL)
		store_ready(m);
	/* the frames of every job of this pass leave in one write a worker */
	TAILQ_FOREACH(w, &qm->workers, link)
	ipc_peer_cork(w->peer);
	while ((m = TAILQ_FIRST(&qm->ready)) != NULL) {
		if (worker_pick() == NULL ||
		    qm->jobs_in_flight >= qm->cfg.smtp_session_limit)
			break;
		if (t == NULL && (t = store_read()) == NULL)
			break;
		msg_dispatch(m, t);
	}
	store_read_end(t);
	TAILQ_FOREACH(w, &qm->workers, link)
	ipc_peer_uncork(w->peer);
}

static struct qm_job *
job_find(struct ipc_peer *p, uint64_t id)
{
	struct qm_job key, *j;

	key.id = id;
	j = RB_FIND(qm_job_tree, &qm->jobs, &key);
	if (j == NULL || j->worker->peer != p) {
		ipc_peer_error(p, "result for a job this worker does not have");
		return NULL;
	}
	return j;
}

void
dispatch_rcpt_result(struct ipc_peer *p, struct ipc_msg *m)
{
	struct ipcm_smtp_rcpt res;
	struct qm_job *j;
	struct q_rcpt *r;
	uint32_t k, cls;

	/* the relay is logged by the worker */
	if (ipcm_smtp_rcpt_get(m, &res) == -1) {
		ipc_peer_error(p, "malformed SMTP_RCPT");
		return;
	}
	if ((j = job_find(p, res.job)) == NULL)
		return;
	cls = res.class;
	for (k = 0; k < j->nrcpt && j->rcpt[k] != res.index; k++)
		;
	if (k == j->nrcpt || j->seen[k] || cls < 2 || cls > 5 || cls == 3) {
		ipc_peer_error(p, "bad recipient result");
		return;
	}
	j->seen[k] = 1;
	r = &j->msg->rec->rcpt[res.index];
	r->status = cls == 2 ? QR_SENT : cls == 5 ? QR_FAILED : QR_DEFERRED;
	free(r->dsn);
	free(r->reason);
	r->dsn = xstrdup(res.dsn);
	r->reason = xstrdup(res.reply);
}

/* The worker keeps the body while the message has jobs there. */
/* Counted under the job's recipient domain; a job already gone (the
 * outcome came late) or sent to a relay is not counted. */
void
dispatch_tls_result(struct ipc_peer *p, struct ipc_msg *m)
{
	struct ipcm_smtp_tls t;
	struct qm_job key, *j;

	if (ipcm_smtp_tls_get(m, &t) == -1 || t.policy > TLSRPT_P_TLSA ||
	    t.result > TLSRPT_R_VALIDATION_FAILURE || strlen(t.mx) > 255) {
		ipc_peer_error(p, "malformed SMTP_TLS");
		return;
	}
	key.id = t.job;
	j = RB_FIND(qm_job_tree, &qm->jobs, &key);
	if (j != NULL && j->worker->peer == p && j->dest->kind == DEST_DIRECT)
		tlsrpt_count(
		    j->dest->domain, (int)t.policy, (int)t.result, t.mx);
}

static void
job_release_body(struct qm_job *j)
{
	struct qm_msg *m = j->msg;
	struct qm_body_ref *ref = body_ref(m, j->worker);
	struct ipcm_job_forget f = {.qid = m->qid};

	if (!j->kept || ref == NULL || --ref->jobs > 0)
		return;
	if (!j->worker->lost)
		ipcm_job_forget_send(j->worker->peer, &f);
	*ref = m->bodies[--m->nbodies];
	if (m->nbodies == 0) {
		free(m->bodies);
		m->bodies = NULL;
	}
}

/* A suspect's job is over: the next suspect may run once none is left. */
static void
job_release_probation(struct qm_job *j)
{
	struct qm_msg *m;

	if (!j->probation)
		return;
	j->msg->probation_jobs--;
	if (--qm->probation_jobs == 0 &&
	    (m = TAILQ_FIRST(&qm->probation)) != NULL)
		store_ready(m);
}

/*
 * A job is over. The message's attempt ends with its last job unless
 * recipients still wait for a session slot: then it goes on (it is on a
 * destination's blocked list, or back on the ready list).
 */
static void
job_end(struct qm_job *j, int session_ok, const char *reason)
{
	struct qm_msg *m = j->msg;
	uint32_t k;

	for (k = 0; k < j->nrcpt; k++)
		if (!j->seen[k])
			rcpt_decide(m, &m->rec->rcpt[j->rcpt[k]], QR_DEFERRED,
			    "4.3.0", reason);
	RB_REMOVE(qm_job_tree, &qm->jobs, j);
	j->worker->jobs--;
	qm->jobs_in_flight--;
	if (session_ok >= 0 && dest_session_result(j->dest, session_ok, reason))
		dest_unblock(j->dest, -1); /* suspended: deferred in one step */
	dest_unblock(j->dest, dest_job_ended(j->dest));
	job_release_body(j);
	job_release_probation(j);
	free(j->rcpt);
	free(j->seen);
	free(j);
	if (--m->jobs_in_flight == 0) {
		if (!msg_has_waiting(m) || m->quarantine != NULL ||
		    m->worker_lost || m->hold_after || m->delete_after)
			msg_finish(m);
		else if (m->on_list == ON_NONE)
			store_ready(m);
	}
	qm_kick();
}

void
dispatch_job_done(struct ipc_peer *p, struct ipc_msg *m)
{
	struct ipcm_smtp_done done;
	const char *reason;
	char qid[NC_QID_LEN + 1];
	struct qm_job *j;

	if (ipcm_smtp_done_get(m, &done) == -1) {
		ipc_peer_error(p, "malformed SMTP_DONE");
		return;
	}
	if ((j = job_find(p, done.job)) == NULL)
		return;
	reason = done.reason;
	if (done.class == SMTP_DONE_REFUSED) {
		/* the message, not the destination, is at fault */
		qid_format(j->msg->qid, qid);
		log_warnx("%s: the smtp worker refused it: %s", qid, reason);
		store_quarantine(j->msg, "the smtp worker refused it: %s",
		    *reason ? reason : "no reason given");
		job_end(j, -1, j->msg->quarantine);
		return;
	}
	job_end(j, done.class == 2, *reason ? reason : "delivery incomplete");
}

/*
 * A worker died (or went away) with jobs in flight. Its jobs end as
 * deferred and their messages are tried again at once -- but each of
 * them gets a strike: a suspect runs alone among suspects, and one in
 * flight at QMGR_QUARANTINE_STRIKES deaths is held, so one message that
 * kills workers cannot stop the others.
 */
void
dispatch_worker_lost(struct qm_worker *w)
{
	struct qm_job *j, *next;
	struct qm_msg *m;
	char qid[NC_QID_LEN + 1];

	w->lost = 1;
	qm->worker_losses++;
	for (j = RB_MIN(qm_job_tree, &qm->jobs); j != NULL; j = next) {
		next = RB_NEXT(qm_job_tree, &qm->jobs, j);
		if (j->worker != w)
			continue;
		m = j->msg;
		m->worker_lost = 1;
		if (m->last_loss != qm->worker_losses) {
			m->last_loss = qm->worker_losses;
			if (++m->strikes >= QMGR_QUARANTINE_STRIKES)
				store_quarantine(m,
				    "an smtp worker exited %d times while "
				    "delivering it",
				    m->strikes);
			qid_format(m->qid, qid);
			log_warnx("%s: in flight when smtp worker pid %d went "
			          "away (%d of %d)",
			    qid, w->pid, m->strikes, QMGR_QUARANTINE_STRIKES);
		}
		job_end(j, -1, "lost connection with the smtp worker");
	}
}

/* Held, every recipient still open carrying the reason (ncqshow and
 * the log show why); ncctl release sends it on its way again. */
static void
msg_hold_quarantined(struct qm_msg *m)
{
	char qid[NC_QID_LEN + 1];
	uint32_t i;

	for (i = 0; i < m->rec->nrcpt; i++) {
		struct q_rcpt *r = &m->rec->rcpt[i];

		if (!store_rcpt_open(r))
			continue;
		r->status = QR_DEFERRED;
		free(r->reason);
		r->reason = xstrdup(m->quarantine);
	}
	qid_format(m->qid, qid);
	log_warnx("%s: hold: %s", qid, m->quarantine);
	free(m->quarantine);
	m->quarantine = NULL;
	m->hold_after = 0;
	store_move(m, Q_HOLD);
}

/* Every recipient of a message has an outcome for this attempt. */
static void
msg_finish(struct qm_msg *m)
{
	int64_t now = (int64_t)time(NULL);
	int open = 0, failed = 0, lost = m->worker_lost;
	uint32_t i;

	store_unlist(m); /* it may wait for a slot on a destination */
	dispatch_attempt_end(m);
	m->logged_active = 0; /* the next attempt logs "queue active" again */
	m->worker_lost = 0;
	for (i = 0; i < m->rec->nrcpt; i++)
		failed += m->rec->rcpt[i].status == QR_FAILED;
	if (failed > 0)
		notify_failures(m); /* may settle them at once (null sender) */
	if (m->quarantine != NULL && !m->delete_after) {
		msg_hold_quarantined(m);
		store_mark_dirty(m);
		return;
	}
	for (i = 0; i < m->rec->nrcpt; i++) {
		open += store_rcpt_open(&m->rec->rcpt[i]);
		failed += m->rec->rcpt[i].status == QR_FAILED;
	}
	store_mark_dirty(m);
	if (m->delete_after) {
		m->deleted = store_move(m, STORE_REMOVED) == 0;
		return;
	}
	if (open == 0 && !store_settle(m)) {
		/* only notices are missing: look again in a while, or
		 * as soon as the bounce daemon answers */
		store_move(m, Q_DEFERRED);
		store_defer(m, retry_at(qm->cfg.min_backoff));
		return;
	}
	if (open == 0)
		return;
	if (lost && !m->hold_after) {
		/* not the destination's doing: again now, not counted */
		store_move(m, Q_DEFERRED);
		m->next_attempt = now;
		store_ready(m);
		return;
	}
	m->rec->attempts++;
	if (qm->cfg.delay_warning_time > 0 &&
	    (double)now - msg_arrival(m) >= (double)qm->cfg.delay_warning_time)
		notify_delay(m);
	if (m->hold_after) {
		m->hold_after = 0;
		store_move(m, Q_HOLD);
		return;
	}
	store_move(m, Q_DEFERRED);
	store_defer(m,
	    retry_at(backoff_delay(
	        m->rec->attempts, qm->cfg.min_backoff, qm->cfg.max_backoff)));
}
