/*
 * dispatch.c - from the ready list to the smtp workers and back: build a
 * job per group of recipients, stream it to the least busy worker, apply
 * each recipient's outcome, and write the changed records in one
 * transaction per event-loop round (the queue's group commit for state
 * changes). A message leaves the queue only once that commit holds.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "log.h"
#include "proto.h"
#include "qmgr.h"
#include "util.h"

int qm_job_cmp(struct qm_job *, struct qm_job *);

int
qm_job_cmp(struct qm_job *a, struct qm_job *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}
RB_GENERATE(qm_job_tree, qm_job, by_id, qm_job_cmp);

static void msg_finish(struct qm_msg *);
static int dispatch_settle_check(struct qm_msg *);

void
dispatch_mark_dirty(struct qm_msg *m)
{
	if (!m->dirty) {
		m->dirty = 1;
		TAILQ_INSERT_TAIL(&qm->dirty, m, dirty_link);
	}
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

static int
rcpt_open(const struct q_rcpt *r)
{
	return r->status == QR_PENDING || r->status == QR_DEFERRED;
}

/* Open, and not yet in a job or decided in this attempt. */
static int
rcpt_waiting(const struct qm_msg *m, uint32_t i)
{
	return rcpt_open(&m->rec->rcpt[i]) &&
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

/* Hold m with reason as soon as its jobs in flight have ended. */
void
dispatch_quarantine(struct qm_msg *m, const char *fmt, ...)
{
	va_list ap;
	char *why;

	if (m->quarantine != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) == -1)
		fatalx("vasprintf");
	va_end(ap);
	xasprintf(&m->quarantine, "quarantined: %s", why);
	free(why);
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

int
dispatch_load(struct qm_msg *m)
{
	struct queue_txn *t;
	struct q_msg *rec;
	int rc;

	if (m->rec != NULL)
		return 0;
	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0)
		return rc;
	rec = xcalloc(1, sizeof(*rec));
	if ((rc = queue_get_msg(t, m->qid, rec)) == 0)
		m->rec = rec;
	else
		free(rec);
	queue_txn_abort(t);
	return rc;
}

static int
msg_load(struct qm_msg *m, struct queue_txn *t)
{
	int rc;

	if (m->rec != NULL)
		return 0;
	m->rec = xcalloc(1, sizeof(*m->rec));
	if ((rc = queue_get_msg(t, m->qid, m->rec)) != 0) {
		free(m->rec);
		m->rec = NULL;
	}
	return rc;
}

/* The content, unless the worker keeps it from an earlier job of the
 * message (JOB_F_KEPT): then only JOB_END. */
static void
job_send_body(struct qm_job *j, const uint8_t *body, size_t len, uint32_t flags)
{
	struct ipc_buf b;
	size_t off, n;

	for (off = 0; off < len && !(flags & JOB_F_KEPT); off += n) {
		n = len - off > NC_BODY_CHUNK ? NC_BODY_CHUNK : len - off;
		ipc_buf_init(&b, M_JOB_BODY);
		ipc_add_u64(&b, j->id);
		ipc_add_data(&b, body + off, n);
		ipc_peer_send(j->worker->peer, &b);
	}
	ipc_buf_init(&b, M_JOB_END);
	ipc_add_u64(&b, j->id);
	ipc_peer_send(j->worker->peer, &b);
}

static uint32_t
tls_level_value(const char *level)
{
	static const char *names[] = {"none", "may", "encrypt", "verify"};
	uint32_t i;

	for (i = 0; i < 4; i++)
		if (strcmp(level, names[i]) == 0)
			return i;
	return TLS_MAY; /* the configuration checks rule this out */
}

/* What the worker must do for TLS and AUTH with this host, by the
 * configuration in force now, so a reload applies to the next job.
 * Unset, the level is "may" for exchangers and "verify" for relays. */
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
	struct ipc_buf b;
	uint32_t i;
	int h, *order;

	if (rec->flags & QMSG_F_8BIT)
		flags |= JOB_F_8BIT;
	flags |= job_utf8_flags(j);
	ipc_buf_init(&b, M_JOB_BEGIN);
	ipc_add_u64(&b, j->id);
	ipc_add_u64(&b, rec->qid);
	ipc_add_str(&b, rec->sender);
	ipc_add_u64(&b, rec->size);
	ipc_add_double(&b, msg_arrival(j->msg));
	ipc_add_double(&b, j->msg->t_active);
	ipc_add_double(&b, now_sec());
	ipc_add_u32(&b, flags);
	ipc_add_u32(&b, rec->dsn_notify);
	ipc_add_u32(&b, rec->dsn_ret);
	ipc_add_str(&b, rec->envid);
	order = xcalloc((size_t)d->nhosts, sizeof(*order));
	dest_host_order(d, order);
	ipc_add_u32(&b, (uint32_t)d->nhosts);
	for (h = 0; h < d->nhosts; h++) {
		const struct dest_host *dh = &d->hosts[order[h]];

		ipc_add_str(&b, dh->name);
		ipc_add_str(&b, dh->addr);
		ipc_add_u32(&b, dh->port);
		ipc_add_u32(&b, host_flags(d, dh));
		ipc_add_str(&b, dh->nexthop);
	}
	free(order);
	ipc_add_u32(&b, j->nrcpt);
	for (i = 0; i < j->nrcpt; i++) {
		ipc_add_u32(&b, j->rcpt[i]);
		ipc_add_str(&b, rec->rcpt[j->rcpt[i]].addr);
		ipc_add_str(&b, rec->rcpt[j->rcpt[i]].orcpt);
	}
	ipc_peer_send(j->worker->peer, &b);
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
 * and asks the worker to keep it (JOB_F_KEEP); the next ones there name
 * it (JOB_F_KEPT): one copy per worker, however many recipients.
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
	if (ref == NULL) {
		flags = JOB_F_KEEP;
		m->bodies = xreallocarray(
		    m->bodies, (size_t)m->nbodies + 1, sizeof(*m->bodies));
		ref = &m->bodies[m->nbodies++];
		ref->worker = w;
		ref->jobs = 0;
	}
	ref->jobs++;
	j->kept = 1;
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

/* Whether one more session may be opened to d now. */
static int
dest_has_slot(const struct qm_dest *d)
{
	return d->in_flight < sched_allowed(&d->health, time(NULL),
	                          (int)qm->cfg.destination_concurrency_limit);
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
		if (!dest_has_slot(rd[i])) {
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
		qm_msg_make_ready(m); /* at the end: others get their turn */
	else if (full != NULL)
		qm_msg_park(m, full, ON_BLOCKED);
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
		open += rcpt_open(&m->rec->rcpt[i]);
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
			qm_msg_set_state(m, Q_HOLD);
			m->logged_active = 0;
			dispatch_mark_dirty(m);
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
		qm_msg_park(m, rd[i], ON_WAITING);
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
		dispatch_mark_dirty(m);
	}
	for (i = 0; i < m->rec->nrcpt; i++) {
		r = &m->rec->rcpt[i];
		if (r->orcpt != NULL && *r->orcpt != '\0' &&
		    !dsn_orcpt_valid(r->orcpt)) {
			log_warnx("%s: to=<%s>: dropping a malformed ORCPT",
			    qid, r->addr);
			free(r->orcpt);
			r->orcpt = xstrdup("");
			dispatch_mark_dirty(m);
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
	dispatch_quarantine(m,
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
	qm_msg_make_probation(m);
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

	qm_msg_list_remove(m);
	if (m->jobs_in_flight > 0 &&
	    (m->hold_after || m->delete_after || m->quarantine != NULL))
		return; /* no more jobs: it ends with the last one */
	if (msg_on_probation(m))
		return;
	if ((rc = msg_load(m, t)) != 0 ||
	    (rc = queue_get_body(t, m->qid, &body, &len)) != 0) {
		log_warnx("cannot read message %016llX: %s",
		    (unsigned long long)m->qid, queue_strerror(rc));
		if (m->jobs_in_flight == 0)
			qm_msg_make_deferred(
			    m, (int64_t)time(NULL) + qm->cfg.min_backoff);
		return;
	}
	if (!m->logged_active) {
		m->t_active = now_sec();
		qm_msg_set_state(m, Q_ACTIVE);
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
		dispatch_mark_dirty(m);
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
	int rc;

	/* no suspect in flight: the next one may have its turn */
	if (qm->probation_jobs == 0 &&
	    (m = TAILQ_FIRST(&qm->probation)) != NULL)
		qm_msg_make_ready(m);
	/* the frames of every job of this pass leave in one write a worker */
	TAILQ_FOREACH(w, &qm->workers, link)
	ipc_peer_cork(w->peer);
	while ((m = TAILQ_FIRST(&qm->ready)) != NULL) {
		if (worker_pick() == NULL ||
		    qm->jobs_in_flight >= qm->cfg.smtp_session_limit)
			break;
		if (t == NULL &&
		    (rc = queue_txn_begin(qm->queue, &t, 1)) != 0) {
			log_warnx(
			    "cannot read the queue: %s", queue_strerror(rc));
			break;
		}
		msg_dispatch(m, t);
	}
	if (t != NULL)
		queue_txn_abort(t);
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
	uint64_t id = ipc_get_u64(m);
	uint32_t idx = ipc_get_u32(m), cls = ipc_get_u32(m), k;
	const char *dsn = ipc_get_str(m), *text = ipc_get_str(m);
	struct qm_job *j;
	struct q_rcpt *r;

	(void)ipc_get_str(m); /* relay: logged by the worker */
	if (!ipc_msg_done(m) || (j = job_find(p, id)) == NULL)
		return;
	for (k = 0; k < j->nrcpt && j->rcpt[k] != idx; k++)
		;
	if (k == j->nrcpt || j->seen[k] || cls < 2 || cls > 5 || cls == 3) {
		ipc_peer_error(p, "bad recipient result");
		return;
	}
	j->seen[k] = 1;
	r = &j->msg->rec->rcpt[idx];
	r->status = cls == 2 ? QR_SENT : cls == 5 ? QR_FAILED : QR_DEFERRED;
	free(r->dsn);
	free(r->reason);
	r->dsn = xstrdup(dsn);
	r->reason = xstrdup(text);
}

/* The worker keeps the body while the message has jobs there. */
static void
job_release_body(struct qm_job *j)
{
	struct qm_msg *m = j->msg;
	struct qm_body_ref *ref = body_ref(m, j->worker);
	struct ipc_buf b;

	if (!j->kept || ref == NULL || --ref->jobs > 0)
		return;
	if (!j->worker->lost) {
		ipc_buf_init(&b, M_JOB_FORGET);
		ipc_add_u64(&b, m->qid);
		ipc_peer_send(j->worker->peer, &b);
	}
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
		qm_msg_make_ready(m);
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
	if (session_ok >= 0)
		dest_session_result(j->dest, session_ok, reason);
	dest_job_ended(j->dest);
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
			qm_msg_make_ready(m);
	}
	qm_kick();
}

void
dispatch_job_done(struct ipc_peer *p, struct ipc_msg *m)
{
	uint64_t id = ipc_get_u64(m);
	uint32_t cls = ipc_get_u32(m);
	const char *reason = ipc_get_str(m);
	char qid[NC_QID_LEN + 1];
	struct qm_job *j;

	if (!ipc_msg_done(m) || (j = job_find(p, id)) == NULL)
		return;
	if (cls == SMTP_DONE_REFUSED) {
		/* the message, not the destination, is at fault */
		qid_format(j->msg->qid, qid);
		log_warnx("%s: the smtp worker refused it: %s", qid, reason);
		dispatch_quarantine(j->msg, "the smtp worker refused it: %s",
		    *reason ? reason : "no reason given");
		job_end(j, -1, j->msg->quarantine);
		return;
	}
	job_end(j, cls == 2, *reason ? reason : "delivery incomplete");
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
				dispatch_quarantine(m,
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

		if (!rcpt_open(r))
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
	qm_msg_set_state(m, Q_HOLD);
}

/* Every recipient of a message has an outcome for this attempt. */
static void
msg_finish(struct qm_msg *m)
{
	int64_t now = (int64_t)time(NULL);
	int open = 0, failed = 0, lost = m->worker_lost;
	uint32_t i;

	qm_msg_list_remove(m); /* it may wait for a slot on a destination */
	dispatch_attempt_end(m);
	m->logged_active = 0; /* the next attempt logs "queue active" again */
	m->worker_lost = 0;
	for (i = 0; i < m->rec->nrcpt; i++)
		failed += m->rec->rcpt[i].status == QR_FAILED;
	if (failed > 0)
		notify_failures(m); /* may settle them at once (null sender) */
	if (m->quarantine != NULL && !m->delete_after) {
		msg_hold_quarantined(m);
		dispatch_mark_dirty(m);
		return;
	}
	for (i = 0; i < m->rec->nrcpt; i++) {
		open += rcpt_open(&m->rec->rcpt[i]);
		failed += m->rec->rcpt[i].status == QR_FAILED;
	}
	dispatch_mark_dirty(m);
	if (m->delete_after) {
		m->removed = m->deleted = 1;
		return;
	}
	if (open == 0 && !dispatch_settle_check(m)) {
		/* only notices are missing: look again in a while, or
		 * as soon as the bounce daemon answers */
		qm_msg_set_state(m, Q_DEFERRED);
		qm_msg_make_deferred(m, now + qm->cfg.min_backoff);
		return;
	}
	if (open == 0)
		return;
	if (lost && !m->hold_after) {
		/* not the destination's doing: again now, not counted */
		qm_msg_set_state(m, Q_DEFERRED);
		m->next_attempt = now;
		qm_msg_make_ready(m);
		return;
	}
	m->rec->attempts++;
	if (qm->cfg.delay_warning_time > 0 &&
	    (double)now - msg_arrival(m) >= (double)qm->cfg.delay_warning_time)
		notify_delay(m);
	if (m->hold_after) {
		m->hold_after = 0;
		qm_msg_set_state(m, Q_HOLD);
		return;
	}
	qm_msg_set_state(m, Q_DEFERRED);
	qm_msg_make_deferred(m,
	    now +
	        backoff_delay(m->rec->attempts, qm->cfg.min_backoff,
	            qm->cfg.max_backoff));
}

/* Done when no recipient is open and every notice is queued: removed. */
static int
dispatch_settle_check(struct qm_msg *m)
{
	uint32_t i;

	for (i = 0; i < m->rec->nrcpt; i++)
		if (rcpt_open(&m->rec->rcpt[i]) ||
		    m->rec->rcpt[i].status == QR_FAILED)
			return 0;
	m->removed = 1;
	dispatch_mark_dirty(m);
	return 1;
}

/* A notice was queued: the message may be complete now. */
void
dispatch_settle(struct qm_msg *m)
{
	if (m->jobs_in_flight == 0 && m->rec != NULL &&
	    dispatch_settle_check(m))
		qm_msg_list_remove(m);
}

/* The timers of dispatch_commit_soon() and of a failed commit's retry. */
static void
commit_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	dispatch_commit();
}

void
dispatch_commit_soon(void)
{
	struct timeval tv = {0, QMGR_COMMIT_DELAY_MS * 1000};

	if (TAILQ_EMPTY(&qm->dirty))
		return;
	if (qm->commit_soon_ev == NULL &&
	    (qm->commit_soon_ev = evtimer_new(qm->base, commit_cb, NULL)) ==
	        NULL)
		fatalx("evtimer_new");
	if (!evtimer_pending(qm->commit_soon_ev, NULL))
		evtimer_add(qm->commit_soon_ev, &tv);
}

static int
commit_one(struct queue_txn *t, struct qm_msg *m)
{
	int rc;

	if (m->removed) {
		/* already gone (e.g. ncctl delete) is as good as removed */
		rc = queue_del_msg(t, m->qid);
		return rc == QUEUE_ENOTFOUND ? 0 : rc;
	}
	if (m->rec == NULL)
		return 0; /* nothing changed that the record holds */
	m->rec->state = m->state;
	m->rec->next_attempt = m->next_attempt;
	return queue_put_msg(t, m->rec);
}

static void
commit_done(struct qm_msg *m)
{
	char qid[NC_QID_LEN + 1];

	m->dirty = 0;
	if (m->removed) {
		qid_format(m->qid, qid);
		log_info("%s: removed%s", qid,
		    m->deleted ? " (deleted by the administrator)" : "");
		qm_msg_list_remove(m);
		qm_msg_unindex(m);
		if (m->rec != NULL)
			q_msg_free(m->rec);
		free(m->rec);
		free(m->taken);
		free(m->quarantine);
		free(m->bodies);
		free(m);
		return;
	}
	if (m->jobs_in_flight == 0 && m->rec != NULL && !m->notify_pending) {
		q_msg_free(m->rec);
		free(m->rec);
		m->rec = NULL;
	}
}

/* One transaction of the dirty messages (only the removals, when
 * removals_only); those it held are done once it is committed. */
static int
commit_pass(int removals_only)
{
	struct queue_txn *t;
	struct qm_msg *m, *next;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 0)) != 0)
		return rc;
	TAILQ_FOREACH(m, &qm->dirty, dirty_link)
	if ((!removals_only || m->removed) && (rc = commit_one(t, m)) != 0) {
		queue_txn_abort(t);
		return rc;
	}
	if ((rc = queue_txn_commit(t)) != 0)
		return rc;
	for (m = TAILQ_FIRST(&qm->dirty); m != NULL; m = next) {
		next = TAILQ_NEXT(m, dirty_link);
		if (removals_only && !m->removed)
			continue;
		TAILQ_REMOVE(&qm->dirty, m, dirty_link);
		commit_done(m);
	}
	return 0;
}

/*
 * Write every changed record and removal in one transaction. Ingest
 * leaves room for this (queue.h's reserve); should the map be full all
 * the same (queue_map_size made smaller than the queue), the removals go
 * first on their own, which frees pages, and the rest is tried again.
 */
void
dispatch_commit(void)
{
	struct timeval tv = {1, 0};
	int rc;

	if (TAILQ_EMPTY(&qm->dirty))
		return;
	rc = commit_pass(0);
	if (rc == QUEUE_EFULL && commit_pass(1) == 0 &&
	    (TAILQ_EMPTY(&qm->dirty) || (rc = commit_pass(0)) == 0))
		rc = 0;
	if (rc == 0) {
		qm->commit_failing = 0;
		return;
	}
	if (!qm->commit_failing)
		log_warnx("cannot update the queue: %s; retrying",
		    queue_strerror(rc));
	qm->commit_failing = 1;
	if (qm->commit_retry_ev == NULL)
		qm->commit_retry_ev = evtimer_new(qm->base, commit_cb, NULL);
	evtimer_add(qm->commit_retry_ev, &tv);
}
