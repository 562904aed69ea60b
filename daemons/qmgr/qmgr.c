/*
 * qmgr.c - the queue manager's main: start-up, the peers on private/qmgr
 * (pickup, smtp workers, the bounce daemon) and the master's control
 * channel, each frame handed to the part that owns it (doc/design.md,
 * "qmgr's source"), the deferred scan every queue_run_delay, and the
 * event loop.
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
#include "admin.h"
#include "dest.h"
#include "dispatch.h"
#include "ipcmsg.h"
#include "notify.h"
#include "proto.h"
#include "resolve.h"
#include "store.h"
#include "sts.h"
#include "tlsrpt.h"
#include "util.h"

enum qm_peer_kind { PEER_UNKNOWN, PEER_PICKUP, PEER_SMTP, PEER_BOUNCE };

/* A client of private/qmgr: what it said it is. */
struct qm_peer {
	enum qm_peer_kind kind;
	struct qm_worker *worker;
};

static void
qm_kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	dispatch_run();
	store_commit_soon();
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
	if (++scans % 10 == 0 && store_load_all() > 0)
		log_info("found unannounced messages in the queue");
	store_run_deferred(0);
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
	struct ipcm_pickup_hello h;

	if (ipcm_pickup_hello_get(m, &h) == -1) {
		ipc_peer_error(p, "malformed PICKUP_HELLO");
		return;
	}
	if (!peer_is(p, qp, PEER_UNKNOWN))
		return;
	qp->kind = PEER_PICKUP;
	/* what pickup committed while it had no connection to us */
	if (store_load_all() > 0)
		log_info("picked up messages committed while disconnected");
}

static void
on_pickup_new(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct qm_peer *qp = arg;
	struct ipcm_pickup_new new;
	struct ipcm_qid id;
	int rc;

	if (!peer_is(p, qp, PEER_PICKUP))
		return;
	if (ipcm_pickup_new_get(m, &new) == -1) {
		ipc_peer_error(p, "bad count");
		return;
	}
	while (ipcm_qid_next(&new.ids_rd, &id)) {
		if ((rc = store_load_new(id.qid)) != 0 && rc != QUEUE_ENOTFOUND)
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
	struct ipcm_smtp_hello h;

	if (ipcm_smtp_hello_get(m, &h) == -1) {
		ipc_peer_error(p, "malformed SMTP_HELLO");
		return;
	}
	if (!peer_is(p, qp, PEER_UNKNOWN))
		return;
	if (h.max_sessions == 0 || h.max_sessions > 100000) {
		ipc_peer_error(p, "bad session count");
		return;
	}
	qp->kind = PEER_SMTP;
	qp->worker = xcalloc(1, sizeof(*qp->worker));
	qp->worker->peer = p;
	qp->worker->pid = (int)h.pid;
	qp->worker->max_jobs = (int)h.max_sessions;
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
on_smtp_tls(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (peer_is(p, arg, PEER_SMTP))
		dispatch_tls_result(p, m);
}

static void
on_bounce_hello(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct qm_peer *qp = arg;
	struct ipcm_bounce_hello h;

	if (ipcm_bounce_hello_get(m, &h) == -1) {
		ipc_peer_error(p, "malformed BOUNCE_HELLO");
		return;
	}
	if (!peer_is(p, qp, PEER_UNKNOWN))
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
    IPCM_ON(PICKUP_HELLO, on_pickup_hello), IPCM_ON(PICKUP_NEW, on_pickup_new),
    IPCM_ON(SMTP_HELLO, on_smtp_hello), IPCM_ON(SMTP_RCPT, on_smtp_rcpt),
    IPCM_ON(SMTP_DONE, on_smtp_done), IPCM_ON(SMTP_TLS, on_smtp_tls),
    IPCM_ON(BOUNCE_HELLO, on_bounce_hello),
    IPCM_ON(BOUNCE_DONE, on_bounce_done), {0, NULL, NULL}};

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
	struct ipcm_ctl_flush f;
	struct ipcm_qid id;
	struct qm_msg *qmsg;

	(void)arg;
	if (ipcm_ctl_flush_get(m, &f) == -1) {
		ipc_peer_error(p, "bad count");
		return;
	}
	if (f.ids_n == 0) {
		log_info("flush: retrying all deferred mail");
		dest_wake_all();
		store_run_deferred(1);
	}
	while (ipcm_qid_next(&f.ids_rd, &id))
		if ((qmsg = store_find(id.qid)) != NULL &&
		    qmsg->on_list == ON_DEFERRED)
			store_ready(qmsg);
}

static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
	store_commit();
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
	struct ipcm_ctl_reload r;
	struct cf_errors errs = {NULL, 0};
	struct nc_config cfg;
	struct route_table rt;

	(void)arg;
	/* aliases, generic_maps and myorigin are pickup's */
	if (ipcm_ctl_reload_get(m, &r) == -1) {
		ipc_peer_error(p, "malformed CTL_RELOAD");
		return;
	}
	if (config_load_text(&cfg, "ncmta.conf", r.conf, &errs) == -1 ||
	    routes_parse("route_table", r.routes, &rt, &errs) == -1) {
		log_warnx_text(
		    "reload refused, the old configuration stays:", errs.text);
		cf_errors_free(&errs);
		config_free(&cfg);
		return;
	}
	daemon_reload_apply(&cfg, &qm->cfg, NULL);
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
	(void)arg;
	if (ipcm_ctl_dns_flushed_get(m) == -1)
		ipc_peer_error(p, "malformed CTL_DNS_FLUSHED");
	else
		dest_expire_all();
}

static void
ctl_admin(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)arg;
	admin_request(p, m);
}

static void
ctl_tls_report(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)arg;
	admin_tls_report(p, m);
}

static const struct ipc_handler ctl_table[] = {IPCM_ON(CTL_FLUSH, ctl_flush),
    IPCM_ON(CTL_STOP, ctl_stop), IPCM_ON(CTL_RELOAD, ctl_reload),
    IPCM_ON(CTL_DNS_FLUSHED, ctl_dns_flushed), IPCM_ON(CTL_ADMIN, ctl_admin),
    IPCM_ON(CTL_TLS_REPORT, ctl_tls_report), IPCM_ON(CTL_STATUS, ipc_ignore),
    {0, NULL, NULL}};

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
	int rc;

	qm = xcalloc(1, sizeof(*qm));
	tlsrpt_init(time(NULL));
	store_init();
	dispatch_init();
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
	resolve_init();
	sts_init();
	qm->kick_ev = event_new(qm->base, -1, 0, qm_kick_cb, NULL);
	qm->retry_ev = evtimer_new(qm->base, qm_retry_cb, NULL);
	n = store_load_all();
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
	store_run_deferred(0);
	event_base_dispatch(qm->base);
	return 0;
}
