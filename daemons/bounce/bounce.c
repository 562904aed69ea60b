/*
 * bounce.c - ncmta-bounce: answers qmgr's M_BOUNCE_REQ on private/qmgr by
 * queueing the delivery status notification as a new message from the
 * null sender to the original sender, and says M_BOUNCE_DONE only once
 * the queue transaction holding it is committed. It opens the queue and
 * connects to qmgr, then chroots to QDIR and drops to mail_owner.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "bounce.h"
#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "rewrite.h"
#include "proto.h"
#include "queue.h"
#include "util.h"

/* Up to ~128 KiB of original headers plus every failed recipient of one
 * message: more than the default frame limit allows. */
#define BOUNCE_MAX_FRAME (4 * 1024 * 1024)
#define BOUNCE_STOP_GRACE 5 /* seconds to hand qmgr its last answers */

/* One M_BOUNCE_REQ: the strings point into the frame. */
struct bounce_req {
	uint64_t request;
	uint64_t qid;
	struct dsn_notice notice;
	struct dsn_rcpt *rcpt;
};

static struct bounce {
	struct nc_config cfg;
	struct event_base *base;
	struct queue *q;
	struct ipc_peer *master, *qmgr;
	uint32_t uid; /* recorded as the notices' submitter: mail_owner */
	struct rewrite rw; /* aliases for notices to local senders */
	uint64_t nfailure, ndelay, nerror;
} bn;

/* -- qmgr's requests --------------------------------------------------------- */

static void
bounce_reply(uint64_t request, uint32_t code, uint64_t qid, const char *why)
{
	struct ipcm_bounce_done d = {
	    .request = request, .code = code, .qid = qid, .error = why};

	ipcm_bounce_done_send(bn.qmgr, &d);
}

/* Read the frame into r; the recipients are bounded by what the frame
 * holds, as the decoder checked every one of them. */
static int
bounce_req_parse(struct ipc_msg *m, struct bounce_req *r)
{
	struct dsn_notice *n = &r->notice;
	struct ipcm_bounce_req q;
	struct ipcm_bounce_rcpt rc;
	uint32_t count = 0;

	if (ipcm_bounce_req_get(m, &q) == -1)
		return -1;
	r->request = q.request;
	r->qid = q.qid;
	n->kind = (int)q.kind;
	n->sender = q.sender;
	n->arrival = q.arrival;
	n->headers = q.headers;
	n->headers_len = strlen(n->headers);
	n->envid = q.envid;
	r->rcpt = xcalloc(q.rcpts_n > 0 ? q.rcpts_n : 1, sizeof(*r->rcpt));
	while (count < q.rcpts_n && ipcm_bounce_rcpt_next(&q.rcpts_rd, &rc)) {
		r->rcpt[count].addr = rc.rcpt;
		r->rcpt[count].orcpt = rc.orcpt;
		r->rcpt[count].status = rc.status;
		r->rcpt[count].action = rc.action;
		r->rcpt[count].remote_mta = rc.mta;
		r->rcpt[count].diagnostic = rc.diag;
		count++;
	}
	n->rcpt = r->rcpt;
	n->nrcpt = count;
	return 0;
}

/*
 * Who gets the notice: the sender, through the aliases and generic_maps
 * as pickup would have rewritten a message to it (root@myhostname is
 * cron's sender and an alias's business). A target that cannot take
 * mail is queued failed: qmgr drops it, as undeliverable mail from the
 * null sender.
 */
static struct q_rcpt *
bounce_recipients(const char *sender, uint32_t *n)
{
	char *one[1] = {(char *)sender};
	struct rw_result res;
	struct q_rcpt *to;
	size_t i;

	rewrite_recipients(&bn.rw, one, NULL, 1, &res);
	to = xcalloc(res.n > 0 ? res.n : 1, sizeof(*to));
	for (i = 0; i < res.n; i++) {
		to[i].addr = xstrdup(res.r[i].addr);
		to[i].status = *res.r[i].dsn ? QR_FAILED : QR_PENDING;
		to[i].dsn = xstrdup(res.r[i].dsn);
		to[i].reason = xstrdup(res.r[i].reason);
		to[i].orcpt = xstrdup(res.r[i].orcpt);
	}
	*n = (uint32_t)res.n;
	if (res.n == 0) { /* cannot happen: rewriting keeps every address */
		to[0] = (struct q_rcpt){xstrdup(sender), QR_PENDING,
		    xstrdup(""), xstrdup(""), NULL};
		*n = 1;
	}
	rw_result_free(&res);
	return to;
}

static void
bounce_recipients_free(struct q_rcpt *to, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		free(to[i].addr);
		free(to[i].dsn);
		free(to[i].reason);
		free(to[i].orcpt);
	}
	free(to);
}

/* Compose the notice and insert it in one transaction. */
static int
bounce_queue(struct bounce_req *r, uint64_t *newqid)
{
	char orig[NC_QID_LEN + 1], fresh[NC_QID_LEN + 1];
	uint32_t nto;
	struct q_rcpt *to = bounce_recipients(r->notice.sender, &nto);
	struct queue_txn *txn;
	struct dsn_out out;
	struct q_msg msg;
	uint32_t flags, i;
	int rc;

	if ((rc = queue_txn_begin(bn.q, &txn, 0)) != 0) {
		bounce_recipients_free(to, nto);
		return rc;
	}
	if ((rc = queue_new_qid(txn, newqid)) != 0) {
		queue_txn_abort(txn);
		bounce_recipients_free(to, nto);
		return rc;
	}
	qid_format(r->qid, orig);
	qid_format(*newqid, fresh);
	r->notice.myhostname = bn.cfg.myhostname;
	r->notice.orig_qid = orig;
	r->notice.new_qid = fresh;
	r->notice.now = time(NULL);
	r->notice.lifetime = bn.cfg.max_queue_lifetime;
	dsn_compose(&r->notice, &out);
	flags = out.eightbit ? QMSG_F_8BIT : 0;
	for (i = 0; i < nto; i++) /* a UTF-8 sender (RFC 6531) */
		if (addr_is_8bit(to[i].addr))
			flags |= QMSG_F_SMTPUTF8 | QMSG_F_UTF8ADDR;
	msg = (struct q_msg){.qid = *newqid,
	    .state = Q_INCOMING,
	    .flags = flags,
	    .uid = bn.uid,
	    .arrival_us = now_usec(),
	    .size = out.len,
	    .sender = "",
	    .nrcpt = nto,
	    .rcpt = to};
	if ((rc = queue_put_msg(txn, &msg)) == 0 &&
	    (rc = queue_put_body(txn, *newqid, out.text, out.len)) == 0)
		rc = queue_txn_commit(txn);
	else
		queue_txn_abort(txn);
	free(out.text);
	bounce_recipients_free(to, nto);
	return rc;
}

static void
on_bounce_req(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct bounce_req r;
	char orig[NC_QID_LEN + 1], fresh[NC_QID_LEN + 1];
	const char *why;
	uint64_t newqid = 0;
	int rc;

	(void)arg;
	memset(&r, 0, sizeof(r));
	if (bounce_req_parse(m, &r) == -1) {
		free(r.rcpt);
		ipc_peer_error(p, "malformed bounce request");
		return;
	}
	if ((why = dsn_check(&r.notice)) != NULL) {
		/* well formed, but it cannot become a notice: that request
		 * fails alone, the connection and the other requests stay */
		bn.nerror++;
		log_warnx("%016llX: refusing a notice request: %s",
		    (unsigned long long)r.qid, why);
		bounce_reply(r.request, BOUNCE_REFUSED, 0, why);
		free(r.rcpt);
		return;
	}
	qid_format(r.qid, orig);
	if ((rc = bounce_queue(&r, &newqid)) != 0) {
		bn.nerror++;
		log_warnx("%s: cannot queue the %s notification: %s; qmgr "
		          "will ask again",
		    orig, r.notice.kind == BOUNCE_K_DELAY ? "delay" : "failure",
		    queue_strerror(rc));
		bounce_reply(r.request, 1, 0, queue_strerror(rc));
		free(r.rcpt);
		return;
	}
	qid_format(newqid, fresh);
	if (newqid != 0)
		metrics_count(NCM_RECV_NOTICE, 1);
	if (r.notice.kind == BOUNCE_K_DELAY)
		bn.ndelay++;
	else
		bn.nfailure++;
	log_info("%s: sender %s notification: %s", orig,
	    r.notice.kind == BOUNCE_K_DELAY ? "delay" : "non-delivery", fresh);
	bounce_reply(r.request, 0, newqid, "");
	free(r.rcpt);
}

static void
qmgr_closed(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	log_debug("connection to qmgr closed; exiting");
	exit(0);
}

static const struct ipc_handler qmgr_table[] = {
    IPCM_ON(BOUNCE_REQ, on_bounce_req), {0, NULL, NULL}};

/* -- the master's control channel -------------------------------------------- */

/* The master checked the text; in the chroot we could not read it. */
static void
ctl_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct cf_errors errs = {NULL, 0};
	struct ipcm_ctl_reload rl;
	struct nc_config fresh;
	struct rewrite rw;

	(void)p;
	(void)arg;
	if (m->len == 0)
		return;
	if (ipcm_ctl_reload_get(m, &rl) == -1)
		return;
	/* rl.routes is not read: the routing table is qmgr's */
	memset(&rw, 0, sizeof(rw));
	if (config_load_text(&fresh, "ncmta.conf", rl.conf, &errs) == -1 ||
	    (daemon_reload_apply(&fresh, &bn.cfg, rl.myorigin),
	        rewrite_init(&rw, &fresh, rl.aliases, rl.generic, &errs)) ==
	        -1) {
		log_warnx_text(
		    "reload refused, the settings in force stay:", errs.text);
		cf_errors_free(&errs);
		config_free(&fresh);
		rewrite_free(&rw);
		return;
	}
	config_free(&bn.cfg);
	bn.cfg = fresh;
	rewrite_free(&bn.rw);
	bn.rw = rw;
	log_debug("reloaded: myhostname=%s", bn.cfg.myhostname);
}

static void
ctl_status(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipcm_child_status st;
	char *text;

	(void)arg;
	if (ipcm_ctl_status_get(m) == -1)
		return;
	xasprintf(&text, "failure=%llu delay=%llu errors=%llu",
	    (unsigned long long)bn.nfailure, (unsigned long long)bn.ndelay,
	    (unsigned long long)bn.nerror);
	st.text = text;
	ipcm_child_status_send(p, &st);
	free(text);
}

static void
stop_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	log_info("stopping before qmgr took every answer");
	exit(0);
}

/* Answers already sent stay valid: let qmgr have them, then exit (the
 * close callback does). */
static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct timeval tv = {BOUNCE_STOP_GRACE, 0};

	(void)p;
	(void)m;
	(void)arg;
	event_base_once(bn.base, -1, EV_TIMEOUT, stop_timeout, NULL, &tv);
	ipc_peer_close_after_flush(bn.qmgr);
}

static const struct ipc_handler master_table[] = {IPCM_ON(CTL_STOP, ctl_stop),
    IPCM_ON(CTL_STATUS, ctl_status), IPCM_ON(CTL_RELOAD, ctl_reload),
    IPCM_ON(CTL_FLUSH, ipc_ignore), {0, NULL, NULL}};

/* -- start-up ------------------------------------------------------------------ */

static int
qmgr_connect(void)
{
	return daemon_connect(&bn.cfg, "private/qmgr");
}

static void
bounce_open_queue(void)
{
	char *path = daemon_qpath(&bn.cfg, "db");
	int rc;

	if ((rc = queue_open(&bn.q, path, bn.cfg.queue_map_size, 0)) != 0)
		fatalx("cannot open the queue in %s: %s", path,
		    queue_strerror(rc));
	free(path);
}

/* The tables are read before the chroot hides them. */
static void
bounce_load_rewrite(void)
{
	struct cf_errors errs = {NULL, 0};

	if (rewrite_load(&bn.rw, &bn.cfg, &errs) == -1)
		log_warnx("notices to local senders: %s", errs.text);
	cf_errors_free(&errs);
}

int
main(int argc, char **argv)
{
	struct ipcm_bounce_hello hello;
	int fd;

	daemon_setup(argc, argv, "bounce", &bn.cfg);
	tzset(); /* Date: fields in local time, also inside the chroot */
	bounce_load_rewrite();
	fd = qmgr_connect();
	daemon_privdrop(&bn.cfg);
	bounce_open_queue(); /* as mail_owner: the queue is not root's */
	bn.uid = (uint32_t)getuid();
	if ((bn.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	bn.qmgr = ipc_peer_new(bn.base, fd, "qmgr", qmgr_table,
	    BOUNCE_MAX_FRAME, qmgr_closed, NULL);
	bn.master = daemon_master_peer(bn.base, master_table, NULL);
	hello.pid = (uint32_t)getpid();
	ipcm_bounce_hello_send(bn.qmgr, &hello);
	log_debug("ready: notices to qmgr on private/qmgr");
	event_base_dispatch(bn.base);
	return 0;
}
