/*
 * qmgr.c - queue manager start-up and bookkeeping: load the queue, accept
 * pickup and smtp workers on private/qmgr, keep the ready and deferred
 * lists, and run the deferred queue every queue_run_delay (or at once on
 * `ncctl flush`).
 */
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "qmgr.h"
#include "util.h"

struct qmgr *qm;

int qm_msg_cmp(struct qm_msg *, struct qm_msg *);

int
qm_msg_cmp(struct qm_msg *a, struct qm_msg *b)
{
	return a->qid < b->qid ? -1 : a->qid > b->qid;
}
RB_GENERATE(qm_msg_tree, qm_msg, by_qid, qm_msg_cmp);

int qm_age_cmp(struct qm_msg *, struct qm_msg *);

int
qm_age_cmp(struct qm_msg *a, struct qm_msg *b)
{
	if (a->arrival_ms != b->arrival_ms)
		return a->arrival_ms < b->arrival_ms ? -1 : 1;
	return qm_msg_cmp(a, b);
}
RB_GENERATE(qm_age_tree, qm_msg, by_age, qm_age_cmp);

/* The queue gauges for the master: messages and the oldest arrival by
 * state, O(states x log n); sent at most every METRICS_FLUSH_MS. */
static void
qm_metrics(void)
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
qm_msg_find(uint64_t qid)
{
	struct qm_msg key;

	key.qid = qid;
	return RB_FIND(qm_msg_tree, &qm->msgs, &key);
}

void
qm_msg_set_state(struct qm_msg *m, int state)
{
	if (m->state == state)
		return;
	qm->counts[m->state]--;
	RB_REMOVE(qm_age_tree, &qm->age[m->state], m);
	m->state = (uint8_t)state;
	qm->counts[m->state]++;
	RB_INSERT(qm_age_tree, &qm->age[m->state], m);
	qm_metrics();
}

/* Out of the index (its record is gone); the caller frees it. */
void
qm_msg_unindex(struct qm_msg *m)
{
	qm->counts[m->state]--;
	RB_REMOVE(qm_age_tree, &qm->age[m->state], m);
	RB_REMOVE(qm_msg_tree, &qm->msgs, m);
	qm_metrics();
}

static struct qm_msg_list *
qm_msg_list_of(struct qm_msg *m)
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
qm_msg_list_remove(struct qm_msg *m)
{
	struct qm_msg_list *l = qm_msg_list_of(m);

	if (l != NULL)
		TAILQ_REMOVE(l, m, link);
	m->on_list = ON_NONE;
	m->dest = NULL;
}

void
qm_msg_make_ready(struct qm_msg *m)
{
	qm_msg_list_remove(m);
	TAILQ_INSERT_TAIL(&qm->ready, m, link);
	m->on_list = ON_READY;
	qm_kick();
}

/* Back to the head of the line: it was already due before others. */
void
qm_msg_make_ready_first(struct qm_msg *m)
{
	qm_msg_list_remove(m);
	TAILQ_INSERT_HEAD(&qm->ready, m, link);
	m->on_list = ON_READY;
	qm_kick();
}

void
qm_msg_make_deferred(struct qm_msg *m, int64_t when)
{
	qm_msg_list_remove(m);
	m->next_attempt = when;
	TAILQ_INSERT_TAIL(&qm->deferred, m, link);
	m->on_list = ON_DEFERRED;
}

/* A suspect waits until no other suspect is in flight. */
void
qm_msg_make_probation(struct qm_msg *m)
{
	qm_msg_list_remove(m);
	TAILQ_INSERT_TAIL(&qm->probation, m, link);
	m->on_list = ON_PROBATION;
}

/* Wait on a destination: for its lookup, or for a free session slot. */
void
qm_msg_park(struct qm_msg *m, struct qm_dest *d, enum qm_list which)
{
	qm_msg_list_remove(m);
	m->dest = d;
	m->on_list = which;
	TAILQ_INSERT_TAIL(
	    which == ON_WAITING ? &d->waiting : &d->blocked, m, link);
}

/* Add a message to the index from its record; returns it. */
static struct qm_msg *
qm_msg_add(const struct q_msg *rec)
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
	qm_metrics();
	if (m->state == Q_DEFERRED)
		qm_msg_make_deferred(m, m->next_attempt);
	else if (m->state == Q_INCOMING)
		qm_msg_make_ready(m);
	return m;
}

static int
qm_load_cb(const struct q_msg *rec, void *arg)
{
	unsigned long *n = arg;

	/* IDs only grow: one above every ID indexed cannot be known yet */
	if (rec->qid > qm->max_qid || qm_msg_find(rec->qid) == NULL) {
		qm_msg_add(rec);
		(*n)++;
	}
	return 0;
}

/* Index every message not yet known: at start-up all of them, later
 * (pickup reconnected, periodic safety net) those added since. */
static unsigned long
qm_load_all(void)
{
	struct queue_txn *t;
	unsigned long n = 0;
	int rc;

	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0) {
		log_warnx("cannot read the queue: %s", queue_strerror(rc));
		return 0;
	}
	if ((rc = queue_walk_from(t, qm->max_qid + 1, qm_load_cb, &n)) != 0)
		log_warnx("queue scan: %s", queue_strerror(rc));
	queue_txn_abort(t);
	queue_trim(qm->queue);
	return n;
}

int
qm_load_new(uint64_t qid)
{
	struct queue_txn *t;
	struct q_msg rec;
	int rc;

	if (qm_msg_find(qid) != NULL)
		return 0;
	if ((rc = queue_txn_begin(qm->queue, &t, 1)) != 0)
		return rc;
	rc = queue_get_msg(t, qid, &rec);
	queue_txn_abort(t);
	if (rc != 0)
		return rc;
	qm_msg_add(&rec);
	q_msg_free(&rec);
	return 0;
}

static void
qm_kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	dispatch_run();
	dispatch_commit_soon();
}

void
qm_kick(void)
{
	event_active(qm->kick_ev, EV_TIMEOUT, 0);
}

/* Move every deferred message that is due (or all, when forced). */
static void
qm_run_deferred(int force)
{
	struct qm_msg *m, *next;
	int64_t now = (int64_t)time(NULL);

	for (m = TAILQ_FIRST(&qm->deferred); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (force || m->next_attempt <= now)
			qm_msg_make_ready(m);
	}
}

static void
qm_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	static int scans;
	struct timeval tv = {qm->cfg.queue_run_delay, 0};

	(void)fd;
	(void)ev;
	(void)arg;
	/* a message committed while no qmgr listened is found here */
	if (++scans % 10 == 0 && qm_load_all() > 0)
		log_info("found unannounced messages in the queue");
	qm_run_deferred(0);
	dest_sweep();
	evtimer_add(qm->retry_ev, &tv);
}

/* ---- peers on private/qmgr ---- */

static void
peer_closed(struct ipc_peer *p, void *arg)
{
	struct qm_peer *qp = arg;

	(void)p;
	if (qp->kind == PEER_SMTP && qp->worker != NULL) {
		log_warnx("smtp worker pid %d went away", qp->worker->pid);
		dispatch_worker_lost(qp->worker);
		dispatch_forget_worker(qp->worker);
		TAILQ_REMOVE(&qm->workers, qp->worker, link);
		free(qp->worker);
	}
	if (qp->kind == PEER_BOUNCE) {
		log_warnx("bounce daemon went away");
		notify_detach();
	}
	free(qp);
}

static int
peer_is(struct ipc_peer *p, struct qm_peer *qp, enum qm_peer_kind kind)
{
	if (qp->kind != kind) {
		ipc_peer_error(p, "message not allowed for this peer");
		return 0;
	}
	return 1;
}

static void
on_pickup_hello(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct qm_peer *qp = arg;

	(void)ipc_get_u32(m);
	if (!peer_is(p, qp, PEER_UNKNOWN))
		return;
	qp->kind = PEER_PICKUP;
	/* what pickup committed while it had no connection to us */
	if (qm_load_all() > 0)
		log_info("picked up messages committed while disconnected");
}

static void
on_pickup_new(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct qm_peer *qp = arg;
	uint32_t i, n = ipc_get_u32(m);
	int rc;

	if (!peer_is(p, qp, PEER_PICKUP))
		return;
	if (n > (m->len - m->pos) / 8) {
		ipc_peer_error(p, "bad count");
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t qid = ipc_get_u64(m);
		if ((rc = qm_load_new(qid)) != 0 && rc != QUEUE_ENOTFOUND)
			log_warnx(
			    "cannot load new message: %s", queue_strerror(rc));
	}
}

static void
worker_drained(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	if (!TAILQ_EMPTY(&qm->ready))
		qm_kick();
}

static void
on_smtp_hello(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct qm_peer *qp = arg;
	uint32_t pid = ipc_get_u32(m), max = ipc_get_u32(m);

	if (!ipc_msg_done(m) || !peer_is(p, qp, PEER_UNKNOWN))
		return;
	if (max == 0 || max > 100000) {
		ipc_peer_error(p, "bad session count");
		return;
	}
	qp->kind = PEER_SMTP;
	qp->worker = xcalloc(1, sizeof(*qp->worker));
	qp->worker->peer = p;
	qp->worker->pid = (int)pid;
	qp->worker->max_jobs = (int)max;
	TAILQ_INSERT_TAIL(&qm->workers, qp->worker, link);
	/* a worker is not given more while QMGR_WORKER_BACKLOG waits for
	 * it (a few large bodies): once that is written, go on */
	ipc_peer_on_drain(p, worker_drained);
	qm_kick();
}

static void
on_smtp_rcpt(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (peer_is(p, arg, PEER_SMTP))
		dispatch_rcpt_result(p, m);
}

static void
on_smtp_done(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (peer_is(p, arg, PEER_SMTP))
		dispatch_job_done(p, m);
}

static void
on_bounce_hello(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct qm_peer *qp = arg;

	(void)ipc_get_u32(m);
	if (!ipc_msg_done(m) || !peer_is(p, qp, PEER_UNKNOWN))
		return;
	qp->kind = PEER_BOUNCE;
	notify_attach(p);
}

static void
on_bounce_done(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (peer_is(p, arg, PEER_BOUNCE))
		notify_done(p, m);
}

static const struct ipc_handler peer_table[] = {
    {M_PICKUP_HELLO, "PICKUP_HELLO", on_pickup_hello},
    {M_PICKUP_NEW, "PICKUP_NEW", on_pickup_new},
    {M_SMTP_HELLO, "SMTP_HELLO", on_smtp_hello},
    {M_SMTP_RCPT, "SMTP_RCPT", on_smtp_rcpt},
    {M_SMTP_DONE, "SMTP_DONE", on_smtp_done},
    {M_BOUNCE_HELLO, "BOUNCE_HELLO", on_bounce_hello},
    {M_BOUNCE_DONE, "BOUNCE_DONE", on_bounce_done}, {0, NULL, NULL}};

static void
qm_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct qm_peer *qp;
	int s;

	(void)ev;
	(void)arg;
	if ((s = ipc_accept(fd, "qmgr")) == -1)
		return;
	qp = xcalloc(1, sizeof(*qp));
	ipc_peer_new(
	    qm->base, s, "qmgr client", peer_table, 0, peer_closed, qp);
}

/* ---- control channel from the master ---- */

static void
ctl_flush(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	uint32_t i, n = ipc_get_u32(m);
	struct qm_msg *qmsg;

	(void)arg;
	if (n > (m->len - m->pos) / 8) {
		ipc_peer_error(p, "bad count");
		return;
	}
	if (n == 0) {
		log_info("flush: retrying all deferred mail");
		dest_wake_all();
		qm_run_deferred(1);
	}
	for (i = 0; i < n; i++)
		if ((qmsg = qm_msg_find(ipc_get_u64(m))) != NULL &&
		    qmsg->on_list == ON_DEFERRED)
			qm_msg_make_ready(qmsg);
}

static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
	dispatch_commit();
	log_info("stopping");
	exit(0);
}

/*
 * A new configuration and routing table, as text (qmgr cannot read files
 * in its chroot). The master checked both; should either fail here
 * anyway, the old ones stay. Queued mail is not touched: destinations
 * are looked up again at their next use.
 */
static void
ctl_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	const char *conf = ipc_get_str(m), *routes = ipc_get_str(m);
	struct cf_errors errs = {NULL, 0};
	struct nc_config cfg;
	struct route_table rt;

	(void)p;
	(void)arg;
	(void)ipc_get_str(m); /* aliases, generic_maps, myorigin: pickup's */
	(void)ipc_get_str(m);
	(void)ipc_get_str(m);
	if (!ipc_msg_done(m))
		return;
	if (config_load_text(&cfg, "ncmta.conf", conf, &errs) == -1 ||
	    routes_parse("route_table", routes, &rt, &errs) == -1) {
		log_warnx_text(
		    "reload refused, the old configuration stays:", errs.text);
		cf_errors_free(&errs);
		config_free(&cfg);
		return;
	}
	free(cfg.config_dir);
	cfg.config_dir = xstrdup(qm->cfg.config_dir);
	config_free(&qm->cfg);
	qm->cfg = cfg;
	routes_free(&qm->routes);
	qm->routes = rt;
	dest_expire_all();
	log_info("reloaded: %zu routes", rt.n);
	qm_kick();
}

static void
ctl_dns_flushed(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)arg;
	if (ipc_msg_done(m))
		dest_expire_all();
}

static void
ctl_admin(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)arg;
	admin_request(p, m);
}

static const struct ipc_handler ctl_table[] = {
    {M_CTL_FLUSH, "CTL_FLUSH", ctl_flush}, {M_CTL_STOP, "CTL_STOP", ctl_stop},
    {M_CTL_RELOAD, "CTL_RELOAD", ctl_reload},
    {M_CTL_DNS_FLUSHED, "CTL_DNS_FLUSHED", ctl_dns_flushed},
    {M_CTL_ADMIN, "CTL_ADMIN", ctl_admin},
    {M_CTL_STATUS, "CTL_STATUS", ipc_ignore}, {0, NULL, NULL}};

/* The routing table named by route_table, read before the chroot. */
static void
qm_load_routes(void)
{
	struct cf_errors errs = {NULL, 0};

	if (*qm->cfg.route_table == '\0')
		return;
	if (routes_load(qm->cfg.route_table, &qm->routes, &errs) == -1) {
		log_warnx_text("routing table refused:", errs.text);
		fatalx("routing table refused");
	}
}

int
main(int argc, char **argv)
{
	struct timeval tv;
	struct event *accept_ev;
	char *path;
	unsigned long n;
	int rc, i;

	qm = xcalloc(1, sizeof(*qm));
	RB_INIT(&qm->msgs);
	for (i = 0; i < 4; i++)
		RB_INIT(&qm->age[i]);
	RB_INIT(&qm->jobs);
	TAILQ_INIT(&qm->ready);
	TAILQ_INIT(&qm->deferred);
	TAILQ_INIT(&qm->dirty);
	TAILQ_INIT(&qm->probation);
	TAILQ_INIT(&qm->workers);
	daemon_setup(argc, argv, "qmgr", &qm->cfg);
	qm_load_routes();
	queue_maps_preopen(); /* queue_trim() after the scan, in the chroot */
	daemon_privdrop(&qm->cfg);
	/* the queue is mail_owner's: opened only once root is given up */
	path = daemon_qpath(&qm->cfg, "db");
	if ((rc = queue_open(&qm->queue, path, qm->cfg.queue_map_size, 0)))
		fatalx(
		    "cannot open the queue %s: %s", path, queue_strerror(rc));
	free(path);
	if ((qm->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	RB_INIT(&qm->dests);
	resolve_init();
	qm->kick_ev = event_new(qm->base, -1, 0, qm_kick_cb, NULL);
	qm->retry_ev = evtimer_new(qm->base, qm_retry_cb, NULL);
	n = qm_load_all();
	log_info("queue loaded: %lu messages (%lu deferred, %lu held)", n,
	    qm->counts[Q_DEFERRED], qm->counts[Q_HOLD]);
	daemon_master_peer(qm->base, ctl_table, NULL);
	fd_nonblock(DAEMON_LISTEN_FD);
	accept_ev = event_new(
	    qm->base, DAEMON_LISTEN_FD, EV_READ | EV_PERSIST, qm_accept, NULL);
	event_add(accept_ev, NULL);
	tv.tv_sec = qm->cfg.queue_run_delay;
	tv.tv_usec = 0;
	evtimer_add(qm->retry_ev, &tv);
	qm_run_deferred(0);
	event_base_dispatch(qm->base);
	return 0;
}
