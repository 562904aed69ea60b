/*
 * control.c - the master's control socket (QDIR/public/control, 0666):
 * ncctl's status, flush, reload, stop, resolver flush, queue
 * administration and qmgr's TLS report. The caller's uid (SO_PEERCRED)
 * decides: root and mail_owner may do everything, anyone else may ask
 * for the status and the metrics.
 * Each request gets one M_REPLY {code, text}. Queue listings are not
 * served here but by showq, as mail_owner: root never reads the queue.
 * Every connection is bounded (unread output, idle time); ordinary users
 * also in number, per uid and in all.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcmsg.h"
#include "log.h"
#include "master.h"
#include "proto.h"
#include "util.h"

/* Bounds that keep one caller from tying up the master (ncctl(8)). */
#define CONTROL_MAX_PER_UID 8 /* connections of one ordinary user */
#define CONTROL_MAX_CLIENTS 256 /* ordinary users' connections in all */
#define CONTROL_IDLE_TIMEOUT 15 /* seconds without a request: closed */
#define CONTROL_MAX_UNSENT (256 * 1024) /* unread replies: closed */
#define CONTROL_MAX_OWNER 64 /* mail_owner's: a compromised daemon's bound */
#define ADMIN_MAX_IDS 16384 /* queue IDs in one administration request */

void master_begin_stop(void);

static struct event *control_ev, *control_resume_ev;

static void
control_reply(struct ipc_peer *p, int code, const char *text)
{
	struct ipcm_reply r = {.code = (uint32_t)code, .text = text};

	ipcm_reply_send(p, &r);
}

/*
 * Root and mail_owner may do everything; anyone else gets "permission
 * denied" (and a log line) for what would change or stop ncmta.
 */
static int
control_permitted(struct control_client *cl, const char *what)
{
	char *text;

	if (cl->privileged)
		return 1;
	log_warnx("control: permission denied: uid %d asked to %s",
	    (int)cl->uid, what);
	xasprintf(&text,
	    "permission denied: only root and the mail owner may %s; "
	    "other users may ask for the status and list their own "
	    "messages with ncqshow",
	    what);
	control_reply(cl->peer, 1, text);
	free(text);
	return 0;
}

static void
control_status_reply(struct ipc_peer *p)
{
	char *kids, *text;

	children_status(&kids);
	xasprintf(&text, "master   pid=%d uptime=%lds\n%s", (int)getpid(),
	    (long)(time(NULL) - master->started), kids);
	control_reply(p, 0, text);
	free(kids);
	free(text);
}

/* Park cl until an answer comes, or ms milliseconds pass. */
static void
control_wait(struct control_client *cl, uint32_t req, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	cl->waiting = req;
	TAILQ_INSERT_TAIL(&master->waits, cl, wait);
	evtimer_add(cl->timer, &tv);
}

static void
control_unwait(struct control_client *cl)
{
	TAILQ_REMOVE(&master->waits, cl, wait);
	evtimer_del(cl->timer);
	cl->waiting = 0;
}

/* Ask the resolver (CTL_STATUS, or CTL_FLUSH for req ==
 * M_REQ_RESOLVER_FLUSH) and reply to cl once it answered; 0 if it cannot
 * be asked. */
static int
control_ask_resolver(struct control_client *cl, uint32_t req)
{
	struct ipcm_ctl_flush all = {.ids = NULL, .ids_n = 0};
	struct ipc_buf b;

	if (cl->waiting)
		return 0; /* one request at a time; answer this one now */
	if (req == M_REQ_STATUS)
		ipcm_ctl_status_encode(&b);
	else
		ipcm_ctl_flush_encode(&b, &all);
	cl->want =
	    children_ask(children_find(req == M_REQ_STATUS ? SVC_CTL_STATUS
	                                                   : SVC_CTL_DNS_FLUSH),
	        &b);
	if (cl->want == 0)
		return 0;
	control_wait(cl, req, CONTROL_WAIT_MS);
	return 1;
}

/* Without an answer in time, status shows the last counters known. */
static void
control_resolver_done(struct control_client *cl, int answered)
{
	uint32_t req = cl->waiting;

	control_unwait(cl);
	if (req == M_REQ_STATUS)
		control_status_reply(cl->peer);
	else if (answered) {
		struct ipc_buf b;

		/* qmgr keeps looked-up destinations: make it ask again */
		ipcm_ctl_dns_flushed_encode(&b);
		children_send(SVC_CTL_DNS_FLUSHED, &b);
		control_reply(cl->peer, 0, "resolver cache flushed");
	} else
		control_reply(
		    cl->peer, 1, "the resolver did not confirm the flush");
}

static void
control_wait_expired(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client *cl = arg;

	(void)fd;
	(void)ev;
	if (cl->waiting != M_REQ_ADMIN) {
		control_resolver_done(cl, 0);
		return;
	}
	log_warnx("control: qmgr did not answer administration request %llu",
	    (unsigned long long)cl->request);
	control_unwait(cl);
	control_reply(cl->peer, 1,
	    "qmgr did not answer in time; the request may still take effect");
}

void
control_resolver_answered(const struct child *c)
{
	struct control_client *cl, *next;

	for (cl = TAILQ_FIRST(&master->waits); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, wait);
		if (cl->waiting != M_REQ_ADMIN && c->answered >= cl->want)
			control_resolver_done(cl, 1);
	}
}

/* The metrics are counts and queue sizes, nothing of anyone's mail: open
 * to every caller, like the status. */
static void
control_metrics(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	char *text;

	(void)arg;
	if (ipcm_req_metrics_get(m) == -1)
		return;
	text = master_metrics_text();
	control_reply(p, 0, text);
	free(text);
}

/* Status reveals pids and counters, nothing of anyone's mail: open to
 * every caller. */
static void
control_status(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (ipcm_req_status_get(m) == 0 &&
	    !control_ask_resolver(arg, M_REQ_STATUS))
		control_status_reply(p);
}

static void
control_resolver_flush(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (ipcm_req_resolver_flush_get(m) == -1 ||
	    !control_permitted(arg, "flush the resolver"))
		return;
	if (!control_ask_resolver(arg, M_REQ_RESOLVER_FLUSH))
		control_reply(p, 1, "the resolver is not running");
}

/* The n queue IDs of a decoded request, as records to pass on. */
static struct ipcm_qid *
control_qids(struct ipc_msg *rd, uint32_t n)
{
	struct ipcm_qid *ids = xcalloc(n ? n : 1, sizeof(*ids));
	uint32_t i = 0;

	while (i < n && ipcm_qid_next(rd, &ids[i]))
		i++;
	return ids;
}

/* The older flush request: retry deferred mail, all or by ID, without
 * waiting for qmgr's answer. */
static void
control_flush(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipcm_req_flush req;
	struct ipcm_ctl_flush fl;
	struct ipcm_qid *ids;
	struct ipc_buf b;

	if (ipcm_req_flush_get(m, &req) == -1) {
		ipc_peer_error(p, "bad id count");
		return;
	}
	if (!control_permitted(arg, "flush the queue"))
		return;
	ids = control_qids(&req.ids_rd, req.ids_n);
	fl = (struct ipcm_ctl_flush){.ids = ids, .ids_n = req.ids_n};
	ipcm_ctl_flush_encode(&b, &fl);
	free(ids);
	children_send(SVC_CTL_FLUSH, &b);
	control_reply(p, 0, "flush requested");
}

/* The reload itself is master_reload()'s; ncctl gets its reply, with a
 * line for each changed setting that waits for a restart. */
static void
control_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	char *reply;
	int rc;

	if (ipcm_req_reload_get(m) == -1 ||
	    !control_permitted(arg, "reload ncmta"))
		return;
	rc = master_reload(&reply);
	control_reply(p, rc == 0 ? 0 : 1, reply);
	free(reply);
}

static void
control_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (ipcm_req_stop_get(m) == -1 || !control_permitted(arg, "stop ncmta"))
		return;
	control_reply(p, 0, "stopping");
	master_begin_stop();
}

/* ---- queue administration (qmgr does the work) ---- */

static const char *const admin_verbs[] = {[ADMIN_HOLD] = "hold",
    [ADMIN_RELEASE] = "release",
    [ADMIN_DELETE] = "delete",
    [ADMIN_REQUEUE] = "requeue",
    [ADMIN_FLUSH] = "flush"};

/* A domain as ncctl passes it: no blanks or control characters. */
static int
admin_domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 255)
		return 0;
	for (; *d != '\0'; d++)
		if ((unsigned char)*d <= ' ' || *d == 0x7f)
			return 0;
	return 1;
}

/* What is wrong with a well-formed request, or NULL. */
static const char *
admin_check(uint32_t sel, const char *domain, uint32_t n)
{
	if (sel == SEL_IDS && n == 0)
		return "no queue ID given";
	if (sel != SEL_IDS && n != 0)
		return "queue IDs given with ALL, --deferred or --domain";
	if (n > ADMIN_MAX_IDS)
		return "too many queue IDs in one request";
	if (sel == SEL_DOMAIN && !admin_domain_ok(domain))
		return "bad domain";
	return NULL;
}

/* Send the frame b (M_CTL_ADMIN, M_CTL_TLS_REPORT) to qmgr and wait for
 * its M_CTL_ADMIN_DONE. */
static void
admin_forward(struct control_client *cl, struct ipc_buf *b, const char *verb)
{
	struct child *qmgr = children_find(SVC_CTL_ADMIN);

	if (cl->waiting) {
		ipc_buf_free(b);
		control_reply(cl->peer, 1, "one request at a time");
		return;
	}
	if (qmgr == NULL || qmgr->ctl == NULL) {
		ipc_buf_free(b);
		control_reply(cl->peer, 1, "qmgr is not running; try again");
		return;
	}
	cl->request = ++master->admin_seq;
	log_info("control: uid %d: %s (request %llu)", (int)cl->uid, verb,
	    (unsigned long long)cl->request);
	ipc_peer_send(qmgr->ctl, b);
	control_wait(cl, M_REQ_ADMIN, ADMIN_WAIT_MS);
}

/*
 * hold, release, delete, requeue, flush: check the request and the
 * caller, then hand it to qmgr, which owns the queue, as M_CTL_ADMIN;
 * the caller gets qmgr's answer (control_admin_done()).
 */
static void
control_admin(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct control_client *cl = arg;
	struct ipcm_req_admin req;
	struct ipcm_ctl_admin fwd;
	struct ipcm_qid *ids;
	struct ipc_buf b;
	const char *bad;

	if (ipcm_req_admin_get(m, &req) == -1) {
		ipc_peer_error(p, "bad id count");
		return;
	}
	if (req.op < ADMIN_HOLD || req.op > ADMIN_FLUSH ||
	    req.select > SEL_DOMAIN) {
		ipc_peer_error(p, "unknown operation or selector");
		return;
	}
	if (!control_permitted(cl, admin_verbs[req.op]))
		return;
	if ((bad = admin_check(req.select, req.domain, req.ids_n)) != NULL) {
		control_reply(p, 1, bad);
		return;
	}
	ids = control_qids(&req.ids_rd, req.ids_n);
	/* the number admin_forward() will give the request */
	fwd = (struct ipcm_ctl_admin){.request = master->admin_seq + 1,
	    .op = req.op,
	    .select = req.select,
	    .domain = req.domain,
	    .ids = ids,
	    .ids_n = req.ids_n};
	ipcm_ctl_admin_encode(&b, &fwd);
	free(ids);
	admin_forward(cl, &b, admin_verbs[req.op]);
}

/*
 * The TLS reporting counts qmgr keeps: recipient domains and their
 * exchangers, which say whom this host's users write to, so only root
 * and mail_owner may read them, as they may read the queue.
 */
static void
control_tls_report(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct control_client *cl = arg;
	struct ipcm_req_tls_report req;
	struct ipcm_ctl_tls_report fwd;
	struct ipc_buf b;

	if (ipcm_req_tls_report_get(m, &req) == -1) {
		ipc_peer_error(p, "malformed REQ_TLS_REPORT");
		return;
	}
	if (!control_permitted(cl, "read the TLS report"))
		return;
	fwd = (struct ipcm_ctl_tls_report){
	    .request = master->admin_seq + 1, .flags = req.flags};
	ipcm_ctl_tls_report_encode(&b, &fwd);
	admin_forward(cl, &b, "tls-report");
}

/* qmgr's M_CTL_ADMIN_DONE (children.c's table): the answer for the
 * caller still waiting on that request (administration or TLS report),
 * if any. */
void
control_admin_done(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	const struct child *c = arg;
	struct control_client *cl;
	struct ipcm_ctl_admin_done d;

	if (ipcm_ctl_admin_done_get(m, &d) == -1)
		return;
	if (!(c->svc->ctl & SVC_CTL_ADMIN)) {
		ipc_peer_error(p,
		    "administration answer from a daemon "
		    "that was not asked");
		return;
	}
	TAILQ_FOREACH(cl, &master->waits, wait)
	{
		if (cl->waiting == M_REQ_ADMIN && cl->request == d.request)
			break;
	}
	if (cl == NULL) {
		log_info("control: qmgr answered request %llu too late: %s",
		    (unsigned long long)d.request, d.text);
		return;
	}
	control_unwait(cl);
	control_reply(cl->peer, (int)d.code, d.text);
}

static const struct ipc_handler control_table[] = {
    IPCM_ON(REQ_STATUS, control_status),
    IPCM_ON(REQ_FLUSH, control_flush),
    IPCM_ON(REQ_RELOAD, control_reload),
    IPCM_ON(REQ_STOP, control_stop),
    IPCM_ON(REQ_RESOLVER_FLUSH, control_resolver_flush),
    IPCM_ON(REQ_ADMIN, control_admin),
    IPCM_ON(REQ_METRICS, control_metrics),
    IPCM_ON(REQ_TLS_REPORT, control_tls_report),
    {0, NULL, NULL},
};

static void
control_client_closed(struct ipc_peer *p, void *arg)
{
	struct control_client *cl = arg;

	(void)p;
	if (cl->waiting)
		TAILQ_REMOVE(&master->waits, cl, wait);
	TAILQ_REMOVE(&master->clients, cl, entry);
	if (!cl->privileged)
		master->nclients--;
	event_free(cl->timer);
	free(cl);
}

static int
control_clients_of(uid_t uid)
{
	struct control_client *cl;
	int n = 0;

	TAILQ_FOREACH(cl, &master->clients, entry)
	{
		n += cl->uid == uid;
	}
	return n;
}

/* Ordinary users: at most CONTROL_MAX_PER_UID connections each, so one
 * cannot lock out the others, and CONTROL_MAX_CLIENTS in all. mail_owner
 * (the daemons' user: one of them may be compromised) gets
 * CONTROL_MAX_OWNER; root is never refused. */
static int
control_admit(uid_t uid, int privileged)
{
	int mine;

	if (uid == 0)
		return 1;
	if (privileged) {
		if (control_clients_of(uid) < CONTROL_MAX_OWNER)
			return 1;
		log_warnx("control: refused uid %d (mail_owner): %d "
		          "connections open",
		    (int)uid, CONTROL_MAX_OWNER);
		return 0;
	}
	if ((mine = control_clients_of(uid)) >= CONTROL_MAX_PER_UID) {
		log_warnx("control: refused uid %d: %d connections open "
		          "(at most %d per user)",
		    (int)uid, mine, CONTROL_MAX_PER_UID);
		return 0;
	}
	if (master->nclients >= CONTROL_MAX_CLIENTS) {
		log_warnx("control: refused uid %d: %d connections of "
		          "ordinary users open (at most %d)",
		    (int)uid, master->nclients, CONTROL_MAX_CLIENTS);
		return 0;
	}
	return 1;
}

/* Every local user may connect; the uid decides what they may ask. */
static void
control_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char name[64];
	int s, privileged;

	(void)ev;
	(void)arg;
	if ((s = ipc_accept(fd, "control")) == -1) {
		/* out of descriptors: the socket stays readable, so stop
		 * listening for a second instead of spinning on it */
		if (errno == EMFILE || errno == ENFILE) {
			struct timeval tv = {1, 0};

			event_del(control_ev);
			evtimer_add(control_resume_ev, &tv);
		}
		return;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		close(s);
		return;
	}
	privileged = cred.uid == 0 || cred.uid == master->uid;
	if (!control_admit(cred.uid, privileged)) {
		close(s);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->uid = cred.uid;
	cl->privileged = privileged;
	cl->timer = evtimer_new(master->base, control_wait_expired, cl);
	TAILQ_INSERT_TAIL(&master->clients, cl, entry);
	if (!privileged)
		master->nclients++;
	/* the uid is in every log line about this connection */
	snprintf(name, sizeof(name), "control client uid %d", (int)cred.uid);
	cl->peer = ipc_peer_new(
	    master->base, s, name, control_table, 0, control_client_closed, cl);
	ipc_peer_set_limits(cl->peer, CONTROL_MAX_UNSENT, CONTROL_IDLE_TIMEOUT);
}

static void
control_resume(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	event_add(control_ev, NULL);
}

void
control_init(void)
{
	fd_nonblock(master->control_fd);
	control_ev = event_new(master->base, master->control_fd,
	    EV_READ | EV_PERSIST, control_accept, NULL);
	control_resume_ev = evtimer_new(master->base, control_resume, NULL);
	event_add(control_ev, NULL);
}
