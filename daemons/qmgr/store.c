/*
 * store.c - qmgr's message store (store.h): the index of every message by
 * queue ID and, per state, by arrival; the ready, deferred and probation
 * lists and a destination's waiting and blocked lists; loading records;
 * the state machine every change of state goes through; and the batched
 * commit that writes changed records. A message leaves the queue only
 * once that commit holds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

int qm_msg_cmp(struct qm_msg *, struct qm_msg *);

int
qm_msg_cmp(struct qm_msg *a, struct qm_msg *b)
{
	return a->qid < b->qid ? -1 : a->qid > b->qid;
}
RB_GENERATE(qm_msg_tree, qm_msg, by_qid, qm_msg_cmp);

int qm_age_cmp(struct qm_msg *, struct qm_msg *);

/* by arrival, then by queue ID: every message has its own place */
int
qm_age_cmp(struct qm_msg *a, struct qm_msg *b)
{
	if (a->arrival_ms != b->arrival_ms)
		return a->arrival_ms < b->arrival_ms ? -1 : 1;
	return qm_msg_cmp(a, b);
}
RB_GENERATE(qm_age_tree, qm_msg, by_age, qm_age_cmp);

static const char *const state_names[] = {
    "incoming", "active", "deferred", "hold", "removed"};

/*
 * The moves store_move() allows, [from][to] (doc/design.md, "The queue"):
 * a move to the state a message is in already is no move at all.
 */
static const uint8_t legal[5][5] = {
    /* to:      incoming active deferred hold removed */
    /* incoming */ {1, 1, 0, 1, 1},
    /* active   */ {0, 1, 1, 1, 1},
    /* deferred */ {0, 1, 1, 1, 1},
    /* hold     */ {1, 0, 0, 1, 1},
    /* removed  */ {0, 0, 0, 0, 1},
};

static unsigned long refused_moves;

static void store_metrics(void);

void
store_init(void)
{
	int i;

	RB_INIT(&qm->msgs);
	for (i = 0; i < 4; i++)
		RB_INIT(&qm->age[i]);
	TAILQ_INIT(&qm->ready);
	TAILQ_INIT(&qm->deferred);
	TAILQ_INIT(&qm->dirty);
	TAILQ_INIT(&qm->probation);
	metrics_gauge_source(store_metrics);
}

/* The queue gauges for the master: messages and the oldest arrival by
 * state, O(states x log n); worked out once per flush (every
 * METRICS_FLUSH_MS at most), not at every change. */
static void
store_metrics(void)
{
	struct qm_msg *oldest;
	int i;

	for (i = 0; i < 4; i++) {
		metrics_gauge(NCM_QUEUE_INCOMING + i, qm->counts[i]);
		oldest = RB_MIN(qm_age_tree, &qm->age[i]);
		metrics_gauge(
		    NCM_OLDEST_INCOMING + i, oldest ? oldest->arrival_ms : 0);
	}
}

struct qm_msg *
store_find(uint64_t qid)
{
	struct qm_msg key;

	key.qid = qid;
	return RB_FIND(qm_msg_tree, &qm->msgs, &key);
}

struct qm_msg *
store_next(struct qm_msg *m)
{
	return m == NULL ? RB_MIN(qm_msg_tree, &qm->msgs)
	                 : RB_NEXT(qm_msg_tree, &qm->msgs, m);
}

void
store_mark_dirty(struct qm_msg *m)
{
	if (!m->dirty) {
		m->dirty = 1;
		TAILQ_INSERT_TAIL(&qm->dirty, m, dirty_link);
	}
}

int
store_move(struct qm_msg *m, int to)
{
	int from = m->removed ? STORE_REMOVED : m->state, rc;
	char qid[NC_QID_LEN + 1];

	if (to < 0 || to > STORE_REMOVED || !legal[from][to]) {
		qid_format(m->qid, qid);
		log_warnx("%s: refused to move it from %s to %s (refused "
		          "moves so far: %lu)",
		    qid, state_names[from],
		    to >= 0 && to <= STORE_REMOVED ? state_names[to] : "?",
		    ++refused_moves);
		return -1;
	}
	if (from == to)
		return 0;
	/* the commit writes the state into the record: have it */
	if (to != STORE_REMOVED && (rc = store_load(m, NULL)) != 0) {
		qid_format(m->qid, qid);
		log_warnx("%s: cannot read its record to move it to %s: %s",
		    qid, state_names[to], queue_strerror(rc));
		return -1;
	}
	store_mark_dirty(m);
	if (to == STORE_REMOVED) {
		/* counted in its state until the commit unindexes it */
		m->removed = 1;
		return 0;
	}
	qm->counts[m->state]--;
	RB_REMOVE(qm_age_tree, &qm->age[m->state], m);
	m->state = (uint8_t)to;
	qm->counts[m->state]++;
	RB_INSERT(qm_age_tree, &qm->age[m->state], m);
	metrics_gauges_changed();
	return 0;
}

void
store_quarantine(struct qm_msg *m, const char *fmt, ...)
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

int
store_rcpt_open(const struct q_rcpt *r)
{
	return r->status == QR_PENDING || r->status == QR_DEFERRED;
}

int
store_settle(struct qm_msg *m)
{
	uint32_t i;

	if (m->jobs_in_flight > 0 || m->rec == NULL)
		return 0;
	for (i = 0; i < m->rec->nrcpt; i++)
		if (store_rcpt_open(&m->rec->rcpt[i]) ||
		    m->rec->rcpt[i].status == QR_FAILED)
			return 0;
	if (store_move(m, STORE_REMOVED) == -1)
		return 0;
	store_unlist(m);
	return 1;
}

/* ---- the lists ---- */

static struct qm_msg_list *
list_of(struct qm_msg *m)
{
	switch (m->on_list) {
	case ON_READY:
		return &qm->ready;
	case ON_DEFERRED:
		return &qm->deferred;
	case ON_BLOCKED:
		return &m->dest->blocked;
	case ON_WAITING:
		return &m->dest->waiting;
	case ON_PROBATION:
		return &qm->probation;
	default:
		return NULL;
	}
}

void
store_unlist(struct qm_msg *m)
{
	struct qm_msg_list *l = list_of(m);

	if (l != NULL)
		TAILQ_REMOVE(l, m, link);
	m->on_list = ON_NONE;
	m->dest = NULL;
}

void
store_ready(struct qm_msg *m)
{
	store_unlist(m);
	TAILQ_INSERT_TAIL(&qm->ready, m, link);
	m->on_list = ON_READY;
	qm_kick();
}

/* Back to the head of the line: it was already due before others. */
void
store_ready_first(struct qm_msg *m)
{
	store_unlist(m);
	TAILQ_INSERT_HEAD(&qm->ready, m, link);
	m->on_list = ON_READY;
	qm_kick();
}

void
store_defer(struct qm_msg *m, int64_t when)
{
	store_unlist(m);
	m->next_attempt = when;
	TAILQ_INSERT_TAIL(&qm->deferred, m, link);
	m->on_list = ON_DEFERRED;
}

void
store_probation(struct qm_msg *m)
{
	store_unlist(m);
	TAILQ_INSERT_TAIL(&qm->probation, m, link);
	m->on_list = ON_PROBATION;
}

void
store_park(struct qm_msg *m, struct qm_dest *d, enum qm_list which)
{
	store_unlist(m);
	m->dest = d;
	m->on_list = which;
	TAILQ_INSERT_TAIL(
	    which == ON_WAITING ? &d->waiting : &d->blocked, m, link);
}

void
store_run_deferred(int force)
{
	struct qm_msg *m, *next;
	int64_t now = (int64_t)time(NULL);

	for (m = TAILQ_FIRST(&qm->deferred); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (force || m->next_attempt <= now)
			store_ready(m);
	}
}

/* ---- loading ---- */

/* Add a message to the index from its record; returns it. A record left
 * active by a qmgr that stopped is incoming again (doc/design.md). */
static struct qm_msg *
store_add(const struct q_msg *rec)
{
	struct qm_msg *m = xcalloc(1, sizeof(*m));

	m->qid = rec->qid;
	m->state = rec->state == Q_ACTIVE ? Q_INCOMING : rec->state;
	m->next_attempt = rec->next_attempt;
	/* 0 means "none" to the master: a record of 1970 counts from 1 ms */
	m->arrival_ms = rec->arrival_us / 1000 > 0 ? rec->arrival_us / 1000 : 1;
	RB_INSERT(qm_msg_tree, &qm->msgs, m);
	if (m->qid > qm->max_qid)
		qm->max_qid = m->qid;
	qm->counts[m->state]++;
	RB_INSERT(qm_age_tree, &qm->age[m->state], m);
	metrics_gauges_changed();
	if (m->state == Q_DEFERRED)
		store_defer(m, m->next_attempt);
	else if (m->state == Q_INCOMING)
		store_ready(m);
	return m;
}

/* Out of the index (its record is gone) and freed. */
static void
store_free(struct qm_msg *m)
{
	store_unlist(m);
	qm->counts[m->state]--;
	RB_REMOVE(qm_age_tree, &qm->age[m->state], m);
	RB_REMOVE(qm_msg_tree, &qm->msgs, m);
	metrics_gauges_changed();
	if (m->rec != NULL)
		q_msg_free(m->rec);
	free(m->rec);
	free(m->taken);
	free(m->quarantine);
	free(m->bodies);
	free(m);
}

static int
load_cb(const struct q_msg *rec, void *arg)
{
	unsigned long *n = arg;

	/* IDs only grow: one above every ID indexed cannot be known yet */
	if (rec->qid > qm->max_qid || store_find(rec->qid) == NULL) {
		store_add(rec);
		(*n)++;
	}
	return 0;
}

unsigned long
store_load_all(void)
{
	struct queue_txn *t;
	unsigned long n = 0;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0) {
		log_warnx("cannot read the queue: %s", queue_strerror(rc));
		return 0;
	}
	if ((rc = queue_walk_from(t, qm->max_qid + 1, load_cb, &n)) != 0)
		log_warnx("queue scan: %s", queue_strerror(rc));
	queue_txn_abort(t);
	queue_trim(qm->queue);
	return n;
}

int
store_load_new(uint64_t qid)
{
	struct queue_txn *t;
	struct q_msg rec;
	int rc;

	if (store_find(qid) != NULL)
		return 0;
	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0)
		return rc;
	rc = queue_get_msg(t, qid, &rec);
	queue_txn_abort(t);
	if (rc != 0)
		return rc;
	store_add(&rec);
	q_msg_free(&rec);
	return 0;
}

int
store_load(struct qm_msg *m, struct queue_txn *t)
{
	struct queue_txn *own = NULL;
	int rc;

	if (m->rec != NULL)
		return 0;
	if (t == NULL && (rc = queue_txn_begin(qm->queue, &own, 1)) != 0)
		return rc;
	m->rec = xcalloc(1, sizeof(*m->rec));
	if ((rc = queue_get_msg(t != NULL ? t : own, m->qid, m->rec)) != 0) {
		free(m->rec);
		m->rec = NULL;
	}
	if (own != NULL)
		queue_txn_abort(own);
	return rc;
}

struct queue_txn *
store_read(void)
{
	struct queue_txn *t;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0) {
		log_warnx("cannot read the queue: %s", queue_strerror(rc));
		return NULL;
	}
	return t;
}

void
store_read_end(struct queue_txn *t)
{
	if (t != NULL)
		queue_txn_abort(t);
}

int
store_body(
    struct queue_txn *t, const struct qm_msg *m, const void **body, size_t *len)
{
	return queue_get_body(t, m->qid, body, len);
}

char *
store_headers(uint64_t qid, size_t max)
{
	struct queue_txn *t;
	const void *body;
	const char *p, *end;
	size_t len, n;
	char *h;

	if (queue_txn_begin(qm->queue, &t, 1) != 0)
		return xstrdup("");
	if (queue_get_body(t, qid, &body, &len) != 0) {
		queue_txn_abort(t);
		return xstrdup("");
	}
	p = body;
	end = memmem(p, len, "\n\n", 2);
	n = end ? (size_t)(end - p) + 1 : len;
	if (n > max)
		n = max;
	h = xstrndup(p, n);
	queue_txn_abort(t);
	return h;
}

void
store_walk(int (*fn)(const struct q_msg *, void *), void *arg)
{
	struct queue_txn *t;

	if (queue_txn_begin(qm->queue, &t, 1) == 0) {
		(void)queue_walk(t, fn, arg);
		queue_txn_abort(t);
	}
}

/* ---- the commit ---- */

/* The timers of store_commit_soon() and of a failed commit's retry. */
static void
commit_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	store_commit();
}

void
store_commit_soon(void)
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
		store_free(m);
		return;
	}
	if (m->jobs_in_flight == 0 && m->rec != NULL && !m->notify_pending) {
		q_msg_free(m->rec);
		free(m->rec);
		m->rec = NULL;
	}
}

char *
store_policy_get(const char *name, size_t *len)
{
	struct queue_txn *t;
	const void *v;
	char *copy = NULL;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0) {
		log_warnx("cannot read the queue: %s", queue_strerror(rc));
		return NULL;
	}
	if ((rc = queue_policy_get(t, name, &v, len)) == 0) {
		copy = xmalloc(*len + 1);
		memcpy(copy, v, *len);
		copy[*len] = '\0';
	} else if (rc != QUEUE_ENOTFOUND)
		log_warnx("cannot read %s from the queue: %s", name,
		    queue_strerror(rc));
	queue_txn_abort(t);
	return copy;
}

int
store_policy_put(const char *name, const void *val, size_t len)
{
	struct queue_txn *t;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 0)) == 0) {
		rc = val != NULL ? queue_policy_put(t, name, val, len)
		                 : queue_policy_del(t, name);
		if (rc == 0)
			rc = queue_txn_commit(t);
		else
			queue_txn_abort(t);
	}
	if (rc != 0)
		log_warnx("cannot keep %s in the queue: %s", name,
		    queue_strerror(rc));
	return rc;
}

struct policy_sweep {
	int (*fn)(const char *, const char *, size_t);
	char **doomed;
	size_t ndoomed;
	long kept;
};

static int
policy_sweep_one(const char *name, const void *val, size_t len, void *arg)
{
	struct policy_sweep *sw = arg;
	char *copy = xmalloc(len + 1);
	int drop;

	memcpy(copy, val, len);
	copy[len] = '\0';
	drop = sw->fn(name, copy, len);
	free(copy);
	if (!drop) {
		sw->kept++;
		return 0;
	}
	sw->doomed = xreallocarray(sw->doomed, sw->ndoomed + 1, sizeof(char *));
	sw->doomed[sw->ndoomed++] = xstrdup(name);
	return 0;
}

long
store_policy_sweep(
    const char *prefix, int (*fn)(const char *, const char *, size_t))
{
	struct policy_sweep sw = {.fn = fn};
	struct queue_txn *t;
	size_t i;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 1)) == 0) {
		rc = queue_policy_walk(t, prefix, policy_sweep_one, &sw);
		queue_txn_abort(t);
	}
	if (rc == 0 && sw.ndoomed > 0 &&
	    (rc = queue_txn_begin(qm->queue, &t, 0)) == 0) {
		for (i = 0; i < sw.ndoomed && rc == 0; i++)
			rc = queue_policy_del(t, sw.doomed[i]);
		if (rc == 0)
			rc = queue_txn_commit(t);
		else
			queue_txn_abort(t);
	}
	for (i = 0; i < sw.ndoomed; i++)
		free(sw.doomed[i]);
	free(sw.doomed);
	if (rc != 0) {
		log_warnx(
		    "cannot sweep the kept policies: %s", queue_strerror(rc));
		return -1;
	}
	return sw.kept;
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
store_commit(void)
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
