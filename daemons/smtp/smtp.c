/*
 * smtp.c - the smtp worker process: connects to qmgr, drops privileges
 * into an empty chroot, takes jobs (JOB_BEGIN/BODY/END, every field
 * checked), hands them to session.c, and reports one SMTP_RCPT per
 * recipient and one SMTP_DONE per job, logging each outcome.
 */
#include <sys/stat.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "daemon.h"
#include "dsnparam.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "qlayout.h"
#include "tls.h"
#include "proto.h"
#include "dane.h"
#include "smtp.h"
#include "wire.h"

static struct smtp_job *
job_find(struct smtp_worker *w, uint64_t id)
{
	struct smtp_job *job;

	TAILQ_FOREACH(job, &w->jobs, entry)
	if (job->id == id)
		return job;
	return NULL;
}

static const char *
rcpt_status_word(int cls)
{
	return cls == 2 ? "sent" : cls == 5 ? "bounced" : "deferred";
}

static void
rcpt_report(struct smtp_job *job, struct smtp_rcpt *r)
{
	struct smtp_worker *w = job->w;
	struct ipcm_smtp_rcpt out;
	struct log_delivery d;

	memset(&d, 0, sizeof(d));
	d.qid = job->qid;
	d.rcpt = r->address;
	d.relay = r->relay != NULL ? r->relay : "none";
	d.arrival = job->arrival;
	d.t_active = job->t_active;
	d.t_handoff = job->t_handoff;
	d.t_connected = job->t_connected;
	d.t_done = r->t_done;
	d.dsn = r->dsn;
	d.status = rcpt_status_word(r->class);
	d.reason = r->reason;
	log_delivery(&d);
	if (r->class == 2)
		w->nsent++;
	else if (r->class == 5)
		w->nbounced++;
	else
		w->ndeferred++;

	out = (struct ipcm_smtp_rcpt){.job = job->id,
	    .index = r->index,
	    .class = (uint32_t)r->class,
	    .dsn = r->dsn,
	    .reply = r->reason,
	    .relay = d.relay};
	ipcm_smtp_rcpt_send(w->qmgr, &out);
}

void
smtp_tls_report(struct smtp_job *job, const char *mx, int policy, int result)
{
	struct ipcm_smtp_tls t = {.job = job->id,
	    .mx = mx,
	    .policy = (uint32_t)policy,
	    .result = (uint32_t)result};

	ipcm_smtp_tls_send(job->w->qmgr, &t);
}

/* The job is over: report every recipient, then the job, and forget it. */
void
smtp_job_done(struct smtp_job *job)
{
	struct smtp_worker *w = job->w;
	struct ipcm_smtp_done done;
	size_t i;

	/* Whatever no step decided is deferred with the last known reason. */
	smtp_rcpts_unresolved(job, 4,
	    job->last_dsn[0] != '\0' ? job->last_dsn : "4.4.1",
	    job->last_reason != NULL ? job->last_reason
	                             : "delivery was not attempted",
	    job->last_relay);
	/* the outcomes and the end, with those of the other jobs that end
	 * in this round of the event loop, in one write */
	ipc_peer_cork_round(w->qmgr);
	for (i = 0; i < job->nrcpt; i++)
		rcpt_report(job, &job->rcpts[i]);
	done = (struct ipcm_smtp_done){.job = job->id,
	    .class = job->established ? 2 : 4,
	    .reason = job->established ? "" : job->last_reason};
	ipcm_smtp_done_send(w->qmgr, &done);
	smtp_job_free(job);
}

/* ---- JOB_* frames from qmgr ---- */

/* No octet that could end or split an SMTP command line. */
static int
job_text_ok(const char *s, size_t max, int allow_empty)
{
	size_t len = strlen(s), i;

	if (len > max || (len == 0 && !allow_empty))
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* A host name; octets above 0x7f are a U-label (RFC 6531): a recipient
 * domain with UTF-8 and no MX is its own exchanger. */
static int
job_hostname_ok(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > SMTP_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-_:", s[i]) &&
		    (unsigned char)s[i] < 0x80)
			return 0;
	return 1;
}

static int
job_addr_ok(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

#define HOST_F_ALL                                                             \
	(HOST_F_RELAY | HOST_F_WRAPPER | HOST_F_AUTH | HOST_F_AUTH_PLAIN |     \
	    HOST_F_TLS_MASK)

/*
 * A field qmgr should never have sent (a control character in an
 * address, a host that is not a host): the job is refused -- reported
 * back as refused, its message held by qmgr -- but the frame is read to
 * its end and the connection stays, so no other job suffers. A frame
 * that does not parse is a protocol error, as always.
 */
static void
job_refuse(struct smtp_job *job, const char *why)
{
	if (job->refused == NULL)
		job->refused = why;
}

/* TLSA records come with TLS_DANE, and only then; they must parse. */
static int
job_tlsa_ok(uint32_t flags, const char *tlsa)
{
	struct dane_rr *rrs;
	int n;

	if (HOST_F_TLS(flags) > TLS_STS_TESTING)
		return 0;
	if (HOST_F_TLS(flags) != TLS_DANE)
		return *tlsa == '\0';
	rrs = xcalloc(DANE_MAX_RECORDS, sizeof(*rrs));
	n = dane_parse(tlsa, rrs, DANE_MAX_RECORDS);
	free(rrs);
	return n > 0;
}

/* Hosts (struct ipcm_job_host). Sessions are reused only by jobs with
 * the same list, flags and TLSA records included, so a session never
 * outlives the policy it was opened under. */
static const char *
job_parse_hosts(struct smtp_job *job, struct ipcm_job_begin *jb)
{
	struct ipcm_job_host h;
	char *key, *k;
	uint32_t i;

	if (jb->hosts_n == 0 || jb->hosts_n > SMTP_MAX_HOSTS)
		return "bad host count";
	key = xstrdup("");
	job->hosts = xcalloc(jb->hosts_n, sizeof(*job->hosts));
	for (i = 0; i < jb->hosts_n && ipcm_job_host_next(&jb->hosts_rd, &h);
	     i++) {
		if (!job_hostname_ok(h.name) || !job_addr_ok(h.addr) ||
		    h.port == 0 || h.port > 65535 ||
		    (h.flags & ~HOST_F_ALL) != 0 ||
		    (*h.nexthop != '\0' && !job_hostname_ok(h.nexthop))) {
			job_refuse(job, "a bad host");
			continue;
		}
		if (!job_tlsa_ok(h.flags, h.tlsa)) {
			job_refuse(job, "bad TLSA records");
			continue;
		}
		job->hosts[job->nhosts].name = xstrdup(h.name);
		job->hosts[job->nhosts].nexthop = xstrdup(h.nexthop);
		job->hosts[job->nhosts].addr = xstrdup(h.addr);
		job->hosts[job->nhosts].port = (uint16_t)h.port;
		job->hosts[job->nhosts].flags = h.flags;
		job->hosts[job->nhosts].tlsa = xstrdup(h.tlsa);
		job->nhosts++;
		xasprintf(&k, "%s%s%s[%s]:%u/%x%s%s", key, i ? "," : "", h.name,
		    h.addr, h.port, h.flags, *h.tlsa ? "/" : "", h.tlsa);
		free(key);
		key = k;
	}
	job->key = key;
	return NULL;
}

/* Recipients (struct ipcm_job_rcpt). */
static const char *
job_parse_rcpts(struct smtp_job *job, struct ipcm_job_begin *jb)
{
	struct ipcm_job_rcpt r;

	if (jb->rcpts_n == 0)
		return "bad recipient count";
	job->rcpts = xcalloc(jb->rcpts_n, sizeof(*job->rcpts));
	while (
	    job->nrcpt < jb->rcpts_n && ipcm_job_rcpt_next(&jb->rcpts_rd, &r)) {
		if (!job_text_ok(r.addr, ADDR_MAX, 0))
			job_refuse(job,
			    "a recipient address with a control "
			    "character or of a bad length");
		if (*r.orcpt != '\0' && !dsn_orcpt_valid(r.orcpt))
			job_refuse(job, "bad DSN parameters");
		job->rcpts[job->nrcpt].index = r.index;
		job->rcpts[job->nrcpt].address = xstrdup(r.addr);
		job->rcpts[job->nrcpt].orcpt = xstrdup(r.orcpt);
		job->nrcpt++;
	}
	return NULL;
}

static const char *
job_parse(struct smtp_job *job, struct ipcm_job_begin *jb)
{
	const char *err;

	job->qidnum = jb->qid;
	qid_format(jb->qid, job->qid);
	job->size = jb->size;
	job->arrival = jb->arrival;
	job->t_active = jb->t_active;
	job->t_handoff = jb->t_handoff;
	job->flags = jb->flags;
	job->dsn_notify = jb->dsn_notify;
	job->dsn_ret = jb->dsn_ret;
	job->envid = xstrdup(jb->envid);
	job->sender = xstrdup(jb->sender);
	if (!job_text_ok(jb->sender, ADDR_MAX, 1))
		job_refuse(job,
		    "a sender address with a control character or "
		    "of a bad length");
	if (job->dsn_notify > 0xf || job->dsn_ret > 2 ||
	    !job_text_ok(jb->envid, 100, 1))
		job_refuse(job, "bad DSN parameters");
	if (!isfinite(job->arrival) || !isfinite(job->t_active) ||
	    !isfinite(job->t_handoff))
		job_refuse(job, "bad times");
	if ((job->flags &
	        ~(uint32_t)(JOB_F_8BIT | JOB_F_KEEP | JOB_F_KEPT |
	            JOB_F_SMTPUTF8 | JOB_F_UTF8ADDR)) != 0 ||
	    (job->flags & (JOB_F_KEEP | JOB_F_KEPT)) ==
	        (JOB_F_KEEP | JOB_F_KEPT))
		return "unknown flags";
	if ((err = job_parse_hosts(job, jb)) != NULL)
		return err;
	return job_parse_rcpts(job, jb);
}

static void
qmgr_job_begin(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct ipcm_job_begin jb;
	struct smtp_job *job;
	const char *err;

	if (ipcm_job_begin_get(m, &jb) == -1) {
		ipc_peer_error(p, "unreadable job");
		return;
	}
	if (job_find(w, jb.job) != NULL) {
		ipc_peer_error(p, "duplicate job id");
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->w = w;
	job->id = jb.job;
	TAILQ_INSERT_TAIL(&w->jobs, job, entry);
	if ((err = job_parse(job, &jb)) != NULL) {
		smtp_job_free(job);
		ipc_peer_error(p, err);
		return;
	}
	if (job->refused != NULL)
		log_warnx("%s: job %llu refused: %s", job->qid,
		    (unsigned long long)job->id, job->refused);
	/* qmgr's size is a hint; the configured limit is the real bound */
	job->bodymax = (size_t)w->cfg.message_size_limit + NC_BODY_CHUNK;
	if (job->size < job->bodymax && job->refused == NULL)
		job->bodycap = (size_t)job->size;
}

static void
qmgr_job_body(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct ipcm_job_body jb;
	struct smtp_job *job;
	size_t need;

	if (ipcm_job_body_get(m, &jb) == -1 ||
	    (job = job_find(w, jb.job)) == NULL || job->running ||
	    jb.chunk_len > NC_BODY_CHUNK || (job->flags & JOB_F_KEPT) ||
	    jb.chunk_len > job->bodymax - job->bodylen) {
		ipc_peer_error(p, "bad body chunk");
		return;
	}
	need = job->bodylen + jb.chunk_len;
	if (job->body == NULL || need > job->bodycap) {
		/* grow geometrically, never past the bound checked above */
		if (need > job->bodycap)
			job->bodycap = job->bodycap * 2 > need + 4096
			    ? job->bodycap * 2
			    : need + 4096;
		if (job->bodycap > job->bodymax)
			job->bodycap = job->bodymax;
		job->body = xreallocarray(job->body, job->bodycap + 1, 1);
	}
	memcpy(job->body + job->bodylen, jb.chunk, jb.chunk_len);
	job->bodylen += jb.chunk_len;
}

/* ---- bodies kept for the next jobs of the same message ---- */

static struct smtp_kept *
kept_find(struct smtp_worker *w, uint64_t qid)
{
	struct smtp_kept *k;

	TAILQ_FOREACH(k, &w->kept, entry)
	if (k->qid == qid)
		return k;
	return NULL;
}

static void
kept_drop(struct smtp_worker *w, struct smtp_kept *k)
{
	TAILQ_REMOVE(&w->kept, k, entry);
	smtp_wire_unref(k->wire);
	free(k);
}

/* JOB_F_KEEP: the body stays here until JOB_FORGET names its message. */
static void
kept_add(struct smtp_worker *w, uint64_t qid, struct smtp_wire *wire)
{
	struct smtp_kept *k = kept_find(w, qid);

	if (k != NULL)
		kept_drop(w, k);
	k = xcalloc(1, sizeof(*k));
	k->qid = qid;
	k->wire = wire;
	wire->refs++;
	TAILQ_INSERT_TAIL(&w->kept, k, entry);
}

static void
qmgr_job_forget(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct ipcm_job_forget jf;
	struct smtp_kept *k;

	if (ipcm_job_forget_get(m, &jf) == -1 ||
	    (k = kept_find(w, jf.qid)) == NULL) {
		ipc_peer_error(p, "JOB_FORGET for no kept body");
		return;
	}
	kept_drop(w, k);
}

/* The content in wire form (dot-stuffed, CRLF), from the chunks. */
static struct smtp_wire *
job_wire(struct smtp_job *job)
{
	struct smtp_wire *wire;
	size_t len;

	len = wire_encode((const char *)job->body, job->bodylen, NULL);
	wire = xmalloc(sizeof(*wire) + len);
	wire->refs = 1;
	wire->len =
	    wire_encode((const char *)job->body, job->bodylen, wire->data);
	free(job->body);
	job->body = NULL;
	return wire;
}

/* A refused job gets its answer without a session: every recipient
 * deferred, the job "refused" (qmgr holds the message). */
static void
job_answer_refused(struct smtp_job *job)
{
	struct ipcm_smtp_done done = {
	    .job = job->id, .class = SMTP_DONE_REFUSED, .reason = job->refused};

	ipcm_smtp_done_send(job->w->qmgr, &done);
	smtp_job_free(job);
}

static void
qmgr_job_end(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct ipcm_job_end je;
	struct smtp_job *job;
	struct smtp_kept *k;

	if (ipcm_job_end_get(m, &je) == -1 ||
	    (job = job_find(w, je.job)) == NULL || job->running) {
		ipc_peer_error(p, "JOB_END for no pending job");
		return;
	}
	job->running = 1;
	if (job->flags & JOB_F_KEPT) {
		if ((k = kept_find(w, job->qidnum)) == NULL) {
			ipc_peer_error(p, "JOB_END: no body kept for the job");
			return;
		}
		job->wire = k->wire;
		job->wire->refs++;
	} else
		job->wire = job_wire(job);
	if (job->flags & JOB_F_KEEP)
		kept_add(w, job->qidnum, job->wire);
	if (job->refused != NULL) {
		job_answer_refused(job);
		return;
	}
	log_debug("%s: job %llu: %zu recipients, %zu hosts, %zu octets%s",
	    job->qid, (unsigned long long)job->id, job->nrcpt, job->nhosts,
	    job->wire->len, (job->flags & JOB_F_KEPT) ? " (kept body)" : "");
	session_job_start(job);
}

static void
qmgr_closed(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	log_debug("qmgr closed the connection; exiting");
	exit(0);
}

static const struct ipc_handler qmgr_table[] = {
    IPCM_ON(JOB_BEGIN, qmgr_job_begin), IPCM_ON(JOB_BODY, qmgr_job_body),
    IPCM_ON(JOB_END, qmgr_job_end), IPCM_ON(JOB_FORGET, qmgr_job_forget),
    {0, NULL, NULL}};

/* ---- the master's control channel ---- */

/* While stopping: exit once no job is left and qmgr has every report. */
static void
stop_check(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_worker *w = arg;

	(void)fd;
	(void)ev;
	if (TAILQ_EMPTY(&w->jobs) && ipc_peer_pending(w->qmgr) == 0)
		exit(0);
	if (now_sec() > w->stop_deadline) {
		log_info("stopping with deliveries still in flight");
		exit(0);
	}
}

static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct timeval tv = {0, 100 * 1000};

	(void)p;
	(void)m;
	if (w->stopping)
		return;
	w->stopping = 1;
	w->stop_deadline = now_sec() + SMTP_STOP_GRACE;
	session_quit_idle(w);
	w->stop_timer = event_new(w->base, -1, EV_PERSIST, stop_check, w);
	evtimer_add(w->stop_timer, &tv);
}

static void
ctl_status(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct ipcm_child_status st;
	struct smtp_job *job;
	unsigned njobs = 0;
	char *text;

	(void)m;
	TAILQ_FOREACH(job, &w->jobs, entry)
	njobs++;
	xasprintf(&text,
	    "jobs=%u sessions=%u idle=%u sent=%llu deferred=%llu "
	    "bounced=%llu",
	    njobs, w->nsessions, session_idle_count(w),
	    (unsigned long long)w->nsent, (unsigned long long)w->ndeferred,
	    (unsigned long long)w->nbounced);
	st.text = text;
	ipcm_child_status_send(p, &st);
	free(text);
}

/* New settings (EHLO name, time-outs, size limit) apply to the sessions
 * opened from now on. The CA bundle was read before the chroot and
 * cannot be read again here: smtp_tls_CAfile waits for a restart (the
 * master says so). */
static void
ctl_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct nc_config fresh;

	(void)p;
	if (daemon_reload_config(m, &fresh, &w->cfg) == -1)
		return;
	config_free(&w->cfg);
	w->cfg = fresh;
	log_debug("reloaded: myhostname=%s", w->cfg.myhostname);
}

/* The master's answer to a session's credentials request. The frame is
 * wiped once the session has used what it needed. */
static void
ctl_secret(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct smtp_worker *w = arg;
	struct ipcm_ctl_secret sec;

	if (ipcm_ctl_secret_get(m, &sec) == -1) {
		ipc_peer_error(p, "bad credentials frame");
		return;
	}
	smtp_secret_answer(
	    w, sec.request, sec.found != 0, sec.user, sec.password);
	ipc_msg_wipe(m);
}

static const struct ipc_handler master_table[] = {IPCM_ON(CTL_STOP, ctl_stop),
    IPCM_ON(CTL_SECRET, ctl_secret), IPCM_ON(CTL_STATUS, ctl_status),
    IPCM_ON(CTL_FLUSH, ipc_ignore), IPCM_ON(CTL_RELOAD, ctl_reload),
    {0, NULL, NULL}};

/* ---- start-up ---- */

static int
qmgr_connect(struct smtp_worker *w)
{
	return daemon_connect(&w->cfg, "private/qmgr");
}

/* Root: chroot to an empty, root-owned, read-only directory (the
 * master's service table names it). */
static void
smtp_privdrop(struct smtp_worker *w)
{
	const char *dir = daemon_chroot();
	char *err;
	int fd;

	/* made (or fixed) through descriptors, never following a link */
	if (geteuid() == 0 && dir != NULL) {
		fd = qlayout_dir_at(AT_FDCWD, dir, dir, 0555, 0, 0, 1, &err);
		if (fd == -1)
			fatalx("cannot secure %s: %s", dir, err);
		close(fd);
	}
	daemon_privdrop(&w->cfg);
}

int
main(int argc, char **argv)
{
	static struct smtp_worker w; /* the worker's one state struct */
	struct ipcm_smtp_hello hello;
	int fd;

	daemon_setup(argc, argv, "smtp", &w.cfg);
	TAILQ_INIT(&w.jobs);
	TAILQ_INIT(&w.sessions);
	TAILQ_INIT(&w.kept);
	fd = qmgr_connect(&w);
	w.tls_ctx = tls_client_ctx(w.cfg.smtp_tls_CAfile);
	smtp_privdrop(&w);
	if ((w.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	w.max_sessions =
	    (unsigned)(w.cfg.smtp_session_limit / w.cfg.smtp_worker_count);
	if (w.max_sessions < 1)
		w.max_sessions = 1;
	w.qmgr = ipc_peer_new(w.base, fd, "qmgr", qmgr_table,
	    SMTP_QMGR_MAX_FRAME, qmgr_closed, &w);
	w.master = daemon_master_peer(w.base, master_table, &w);
	hello.pid = (uint32_t)getpid();
	hello.max_sessions = w.max_sessions;
	ipcm_smtp_hello_send(w.qmgr, &hello);
	log_debug("worker ready, %u sessions", w.max_sessions);
	event_base_dispatch(w.base);
	return 0;
}
