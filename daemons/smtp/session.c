/*
 * session.c - the RFC 5321 client. One struct smtp_session per TCP
 * connection, driven by libevent: the state names the reply awaited, a
 * table gives each state its reply handler, timeout and wording, and one
 * timer bounds every step. Session-level failures move the job to its
 * next host; a good session is kept idle and reused for the same hosts.
 * Between EHLO and MAIL come STARTTLS (RFC 3207) and AUTH (RFC 4954) as
 * the host's flags from qmgr ask; TLS is an OpenSSL bufferevent put over
 * the socket's.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "auth.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "dsnparam.h"
#include "smtp.h"
#include "dane.h"
#include "tls.h"

#define SMTP_QUIT_TIMEOUT 10 /* seconds a polite QUIT may take */

enum smtp_state {
	S_CONNECT,
	S_GREETING,
	S_EHLO,
	S_HELO,
	S_STARTTLS,
	S_HANDSHAKE, /* TLS handshake under way: no reply awaited */
	S_AUTH_WAIT, /* waiting for the master's credentials */
	S_AUTH,
	S_AUTH_USER, /* LOGIN: the 334 asking for the user name */
	S_AUTH_PASS, /* LOGIN: the 334 asking for the password */
	S_RSET,
	S_MAIL,
	S_RCPT,
	S_DATA,
	S_BODY, /* message octets still being written */
	S_DOT, /* all written, awaiting the final reply */
	S_IDLE,
	S_QUIT,
	S_NSTATES
};

enum smtp_timeout { T_CONNECT, T_HELO, T_DATA, T_IDLE, T_QUIT };

/* EHLO keywords we act on; the rest are recorded for later features. */
#define CAP_PIPELINING 0x01
#define CAP_SIZE 0x02
#define CAP_8BITMIME 0x04
#define CAP_STARTTLS 0x08
#define CAP_AUTH 0x10
#define CAP_ENHANCEDSTATUSCODES 0x20
#define CAP_SMTPUTF8 0x40
#define CAP_DSN 0x80

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;
	struct smtp_worker *w;
	struct smtp_job *job; /* NULL while idle or quitting */
	enum smtp_state state;
	int fd; /* until the connection is up */
	int connect_errno; /* -1 while the connect is in progress */
	struct event *conn_ev; /* writability of the connecting socket */
	struct bufferevent *bev;
	struct evbuffer_cb_entry *out_cb; /* progress of the message body */
	struct event *timer; /* the current step's deadline */
	struct smtp_reply reply;
	int skipping; /* discarding the rest of an over-long line */
	char *key; /* host list of the job that opened it */
	char namaddr[SMTP_RELAY_MAX - 8]; /* "name[addr]" */
	char relay[SMTP_RELAY_MAX]; /* "name[addr]:port" */
	char name[SMTP_NAME_MAX + 1]; /* the host's name, for TLS checks */
	char nexthop[SMTP_NAME_MAX + 1]; /* a relay's configured name */
	uint16_t port;
	uint32_t hflags; /* HOST_F_* of the host it was opened to */
	char *tlsa; /* the host's TLSA records (TLS_DANE), "" for none */
	int dane; /* TLS_DANE: records OpenSSL took (0: none usable) */
	int notls; /* "may" whose handshake failed here: plain text */
	int tlsrpt_policy; /* TLSRPT_P_* this connection runs under */
	int tlsrpt_sent; /* its TLS outcome went to qmgr (or none is due) */
	int wrapper; /* implicit TLS: the greeting comes after it */
	int tls; /* TLS is up */
	int authed; /* AUTH succeeded */
	unsigned auth_mechs; /* AUTH_MECH_* the server offers */
	uint64_t secret_req; /* the credentials request awaited */
	char *auth_user, *auth_pass; /* for LOGIN's two steps, then wiped */
	unsigned caps;
	uint64_t size_max; /* SIZE parameter, 0 = none */
	double t_established;
	int established; /* greeting and EHLO/HELO done */
	int reused; /* on a reused connection, MAIL not yet answered */
	int need_rset; /* the last transaction was left open */
	int no_reuse; /* close after this transaction */
	int broken; /* close without QUIT (421, mid-DATA) */
	int pipelining; /* this transaction's commands went in one write */
	int mail_ok;
	double body_deadline; /* sending the content ends by then */
	size_t rcpt_reply; /* next recipient whose reply is awaited */
	size_t naccepted;
	int in_cb, dead; /* freed only once no callback is on the stack */
};

struct state_def {
	const char *cmd; /* "(in reply to %s command)" */
	const char *doing; /* "lost connection with X while %s" */
	enum smtp_timeout timeout;
	void (*on_reply)(struct smtp_session *);
};

static void on_greeting(struct smtp_session *);
static void on_ehlo(struct smtp_session *);
static void on_helo(struct smtp_session *);
static void on_starttls(struct smtp_session *);
static void on_auth(struct smtp_session *);
static void on_rset(struct smtp_session *);
static void on_mail(struct smtp_session *);
static void on_rcpt(struct smtp_session *);
static void on_data(struct smtp_session *);
static void on_dot(struct smtp_session *);
static void on_unexpected(struct smtp_session *);
static void session_connect(struct smtp_job *);
static void session_mail_start(struct smtp_session *);
static void session_setup_bev(struct smtp_session *);
static void session_tls_problem(
    struct smtp_session *, int result, const char *why);

static const struct state_def states[S_NSTATES] = {
    [S_CONNECT] = {"CONNECT", "connecting", T_CONNECT, on_unexpected},
    [S_GREETING] = {"greeting", "receiving the initial server greeting", T_HELO,
        on_greeting},
    [S_EHLO] = {"EHLO", "performing the EHLO handshake", T_HELO, on_ehlo},
    [S_HELO] = {"HELO", "performing the HELO handshake", T_HELO, on_helo},
    [S_STARTTLS] = {"STARTTLS", "sending STARTTLS", T_HELO, on_starttls},
    [S_HANDSHAKE] = {"STARTTLS", "performing the TLS handshake", T_HELO,
        on_unexpected},
    [S_AUTH_WAIT] = {"AUTH", "looking up SASL credentials", T_HELO,
        on_unexpected},
    [S_AUTH] = {"AUTH", "authenticating", T_HELO, on_auth},
    [S_AUTH_USER] = {"AUTH", "authenticating", T_HELO, on_auth},
    [S_AUTH_PASS] = {"AUTH", "authenticating", T_HELO, on_auth},
    [S_RSET] = {"RSET", "sending RSET", T_HELO, on_rset},
    [S_MAIL] = {"MAIL FROM", "sending MAIL FROM", T_HELO, on_mail},
    [S_RCPT] = {"RCPT TO", "sending RCPT TO", T_HELO, on_rcpt},
    [S_DATA] = {"DATA", "sending DATA command", T_DATA, on_data},
    [S_BODY] = {"end of DATA", "sending message body", T_DATA, on_dot},
    [S_DOT] = {"end of DATA",
        "sending end of data -- message may be sent more than once", T_DATA,
        on_dot},
    [S_IDLE] = {"QUIT", "idle", T_IDLE, on_unexpected},
    [S_QUIT] = {"QUIT", "sending QUIT", T_QUIT, on_unexpected},
};

/* ---- life cycle ---- */

static void session_timeout(evutil_socket_t, short, void *);

static struct smtp_session *
session_new(struct smtp_worker *w, struct smtp_job *job)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->w = w;
	s->fd = -1;
	s->connect_errno = -1;
	s->key = xstrdup(job->key);
	if ((s->timer = evtimer_new(w->base, session_timeout, s)) == NULL)
		fatalx("evtimer_new");
	s->job = job;
	job->session = s;
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->nsessions++;
	metrics_gauge(NCM_SESSIONS, w->nsessions);
	return s;
}

static void
session_destroy(struct smtp_session *s)
{
	TAILQ_REMOVE(&s->w->sessions, s, entry);
	s->w->nsessions--;
	metrics_gauge(NCM_SESSIONS, s->w->nsessions);
	if (s->conn_ev != NULL)
		event_free(s->conn_ev);
	if (s->bev != NULL) {
		evbuffer_remove_cb_entry(
		    bufferevent_get_output(s->bev), s->out_cb);
		bufferevent_free(s->bev);
	} else if (s->fd != -1)
		close(s->fd);
	event_free(s->timer);
	auth_wipe_free(s->auth_user);
	auth_wipe_free(s->auth_pass);
	free(s->key);
	free(s->tlsa);
	free(s);
}

/* Drop the connection; the memory goes once no callback uses it. */
static void
session_close(struct smtp_session *s)
{
	if (s->dead)
		return;
	s->dead = 1;
	evtimer_del(s->timer);
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	if (s->in_cb == 0)
		session_destroy(s);
}

static void
session_enter(struct smtp_session *s)
{
	s->in_cb++;
}

static void
session_leave(struct smtp_session *s)
{
	if (--s->in_cb == 0 && s->dead)
		session_destroy(s);
}

static struct smtp_job *
session_detach(struct smtp_session *s)
{
	struct smtp_job *job = s->job;

	if (job != NULL)
		job->session = NULL;
	s->job = NULL;
	return job;
}

static int
state_timeout(struct smtp_session *s)
{
	const struct nc_config *cfg = &s->w->cfg;

	switch (states[s->state].timeout) {
	case T_CONNECT:
		return (int)cfg->smtp_connect_timeout;
	case T_DATA:
		return (int)cfg->smtp_data_timeout;
	case T_IDLE:
		return (int)cfg->smtp_connection_idle_time;
	case T_QUIT:
		return SMTP_QUIT_TIMEOUT;
	default:
		return (int)cfg->smtp_helo_timeout;
	}
}

/*
 * Enter a state and start its step's deadline. While the content is
 * written, each step (a write the server took) gets smtp_data_timeout,
 * but never past the phase's deadline, so a server that reads a few
 * octets at a time cannot hold the session for ever.
 */
static void
session_expect(struct smtp_session *s, enum smtp_state state)
{
	double t, left;
	struct timeval tv;

	s->state = state;
	t = state_timeout(s); /* the new state's */
	if (state == S_BODY && (left = s->body_deadline - now_sec()) < t)
		t = left > 0 ? left : 0;
	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	evtimer_add(s->timer, &tv);
}

/* smtp_data_timeout plus the content at smtp_min_data_rate. */
static void
session_body_deadline(struct smtp_session *s, size_t len)
{
	const struct nc_config *cfg = &s->w->cfg;

	s->body_deadline = now_sec() + (double)cfg->smtp_data_timeout +
	    (double)len / (double)cfg->smtp_min_data_rate;
}

static void session_cmd(struct smtp_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_cmd(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char line[SMTP_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(line) - 2) { /* formatted once */
		memcpy(line + n, "\r\n", 2);
		evbuffer_add(out, line, (size_t)n + 2);
		line[n] = '\0';
	} else { /* longer than a line we keep: the whole command anyway */
		if (n < 0)
			line[0] = '\0';
		va_start(ap, fmt);
		evbuffer_add_vprintf(out, fmt, ap);
		va_end(ap);
		evbuffer_add(out, "\r\n", 2);
	}
	log_debug("> %s: %s", s->namaddr, line);
}

/* A command carrying credentials: the log shows only "shown", and the
 * response (malloc'd) is wiped once it is in the output buffer. */
static void
session_cmd_secret(
    struct smtp_session *s, const char *shown, const char *prefix, char *resp)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add(out, prefix, strlen(prefix));
	evbuffer_add(out, resp, strlen(resp));
	evbuffer_add(out, "\r\n", 2);
	auth_wipe_free(resp);
	log_debug("> %s: %s", s->namaddr, shown);
}

static void
session_quit(struct smtp_session *s)
{
	session_detach(s);
	if (s->broken || s->bev == NULL) {
		session_close(s);
		return;
	}
	session_cmd(s, "QUIT");
	session_expect(s, S_QUIT);
}

/* ---- failures ---- */

/* The host could not be used: on to the next one, or defer the job. */
static void
job_next_host(struct smtp_job *job, const char *reason, const char *dsn,
    const char *relay)
{
	free(job->last_reason);
	job->last_reason = xstrdup(reason);
	strlcpy(job->last_dsn, dsn, sizeof(job->last_dsn));
	free(job->last_relay);
	job->last_relay = relay != NULL ? xstrdup(relay) : NULL;
	if (++job->hostidx < job->nhosts) {
		log_info("%s: %s", job->qid, reason);
		session_connect(job);
		return;
	}
	smtp_job_done(job);
}

/* A reused connection went bad before the server took our MAIL: the
 * message is not at fault, so it gets a fresh connection. */
static void
session_reuse_failed(struct smtp_session *s)
{
	struct smtp_job *job = session_detach(s);

	log_debug("%s: reused connection to %s failed; reconnecting", job->qid,
	    s->relay);
	session_close(s);
	job->fresh_only = 1;
	job->established = 0;
	job->t_connected = 0;
	job->hostidx = 0;
	session_connect(job);
}

/* Session-level failure with this host; the connection is given up. */
static void
session_host_failed(struct smtp_session *s, const char *reason, const char *dsn,
    const char *relay)
{
	struct smtp_job *job = session_detach(s);

	session_quit(s);
	if (job != NULL)
		job_next_host(job, reason, dsn, relay);
}

/* The connection is gone or stuck: decide by how far the job got. */
static void
session_lost(struct smtp_session *s, const char *reason, const char *dsn)
{
	struct smtp_job *job = s->job;

	s->broken = 1;
	if (job == NULL) {
		session_close(s);
		return;
	}
	if (s->reused) {
		session_reuse_failed(s);
		return;
	}
	if (!s->established) {
		session_host_failed(s, reason, dsn, s->relay);
		return;
	}
	smtp_rcpts_unresolved(job, 4, dsn, reason, s->relay);
	session_detach(s);
	session_close(s);
	smtp_job_done(job);
}

/* "lost connection with X while sending RCPT TO", in Postfix's words. */
static void
session_lost_doing(struct smtp_session *s, const char *what, const char *after,
    const char *dsn)
{
	char reason[SMTP_REASON_MAX];

	snprintf(reason, sizeof(reason), "%s %s%s while %s", what, s->namaddr,
	    after, states[s->state].doing);
	session_lost(s, reason, dsn);
}

/* ---- the end of a transaction ---- */

static void
session_idle(struct smtp_session *s)
{
	const struct nc_config *cfg = &s->w->cfg;

	if (s->broken) {
		session_close(s);
		return;
	}
	if (s->no_reuse || s->w->stopping ||
	    cfg->smtp_connection_idle_time <= 0 ||
	    now_sec() - s->t_established >=
	        (double)cfg->smtp_connection_reuse_time) {
		session_quit(s);
		return;
	}
	session_expect(s, S_IDLE);
}

static void
session_txn_end(struct smtp_session *s)
{
	struct smtp_job *job = session_detach(s);

	session_idle(s);
	smtp_job_done(job);
}

/* ---- replies ---- */

static int
fail_class(const struct smtp_reply *r)
{
	return r->code / 100 == 5 ? 5 : 4;
}

static void
session_said(struct smtp_session *s, char *buf, size_t len)
{
	snprintf(buf, len, "host %s said: %s (in reply to %s command)",
	    s->namaddr, s->reply.text, states[s->state].cmd);
}

/* Every recipient the server accepted gets this reply as its outcome. */
static void
session_accepted_outcome(struct smtp_session *s, int cls, const char *reason)
{
	struct smtp_job *job = s->job;
	size_t i;

	for (i = 0; i < job->nrcpt; i++)
		if (job->rcpts[i].status == RCPT_ACCEPTED)
			smtp_rcpt_outcome(&job->rcpts[i], cls,
			    smtp_reply_dsn(&s->reply), reason, s->relay);
}

static void
on_unexpected(struct smtp_session *s)
{
	log_debug("%s: unexpected reply while %s: %s", s->namaddr,
	    states[s->state].doing, s->reply.text);
	s->broken = 1;
	if (s->job != NULL)
		session_lost_doing(s, "unexpected reply from", "", "4.5.0");
	else
		session_close(s);
}

/* EHLO or HELO: what the server said it can do before is forgotten
 * (after STARTTLS it may say something else, RFC 3207 section 4.2). */
static void
session_hello(struct smtp_session *s, enum smtp_state st)
{
	s->caps = 0;
	s->size_max = 0;
	s->auth_mechs = 0;
	session_cmd(
	    s, "%s %s", st == S_EHLO ? "EHLO" : "HELO", s->w->cfg.myhostname);
	session_expect(s, st);
}

static void
on_greeting(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	if (s->reply.code / 100 != 2) {
		snprintf(reason, sizeof(reason),
		    "host %s refused to talk to me: %s", s->namaddr,
		    s->reply.text);
		session_host_failed(
		    s, reason, smtp_reply_dsn(&s->reply), s->relay);
		return;
	}
	session_hello(s, S_EHLO);
}

/* Greeting and EHLO/HELO are done: the host is usable. */
static void
session_ready(struct smtp_session *s)
{
	s->established = 1;
	s->t_established = now_sec();
	s->job->established = 1;
	s->job->t_connected = s->t_established;
	session_mail_start(s);
}

static void session_after_ehlo(struct smtp_session *);

static void
on_ehlo(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	if (s->reply.code / 100 == 2) {
		session_after_ehlo(s);
		return;
	}
	/* with TLS required (or up) or a login expected, HELO would be a
	 * way around them */
	if (s->reply.code == 421 || s->tls ||
	    tls_level_required(HOST_F_TLS(s->hflags)) ||
	    (s->hflags & HOST_F_AUTH)) {
		session_said(s, reason, sizeof(reason));
		s->broken = 1;
		session_host_failed(
		    s, reason, smtp_reply_dsn(&s->reply), s->relay);
		return;
	}
	session_hello(s, S_HELO);
}

static void
on_helo(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	if (s->reply.code / 100 == 2) {
		session_ready(s);
		return;
	}
	session_said(s, reason, sizeof(reason));
	if (s->reply.code == 421)
		s->broken = 1;
	session_host_failed(s, reason, smtp_reply_dsn(&s->reply), s->relay);
}

/* ---- STARTTLS ---- */

/*
 * The connection's TLS object: SNI is the relay's configured name or the
 * exchanger's; under DANE the TLSA base domain is the exchanger's name
 * (RFC 7672 3.2.2) and the records go to OpenSSL. When none of them is
 * usable, TLS is still required but not authenticated (RFC 7672 2.2).
 */
static SSL *
session_ssl_new(struct smtp_session *s)
{
	SSL *ssl = tls_client_new(
	    s->w->tls_ctx, *s->nexthop != '\0' ? s->nexthop : s->name);
	struct dane_rr *rrs;
	char why[256];
	int n;

	if (HOST_F_TLS(s->hflags) != TLS_DANE)
		return ssl;
	rrs = xcalloc(DANE_MAX_RECORDS, sizeof(*rrs));
	n = dane_parse(s->tlsa, rrs, DANE_MAX_RECORDS); /* checked: smtp.c */
	s->dane = tls_dane_enable(
	    ssl, s->name, rrs, n > 0 ? (size_t)n : 0, why, sizeof(why));
	free(rrs);
	if (s->dane == -1) {
		log_warnx("%s: %s", s->namaddr, why);
		s->dane = 0;
	} else if (s->dane == 0)
		log_info("%s: no usable TLSA record: TLS without "
		         "authentication",
		    s->namaddr);
	return ssl;
}

static void
session_tls_start(struct smtp_session *s)
{
	struct bufferevent *under = s->bev;
	SSL *ssl = session_ssl_new(s);

	/* anything the server sent after its 220 is not ours to read
	 * (RFC 3207 section 4.2: no plain-text command injection) */
	evbuffer_drain(bufferevent_get_input(under),
	    evbuffer_get_length(bufferevent_get_input(under)));
	evbuffer_remove_cb_entry(bufferevent_get_output(under), s->out_cb);
	s->bev = bufferevent_openssl_filter_new(s->w->base, under, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_openssl_filter_new");
	session_setup_bev(s);
	session_expect(s, S_HANDSHAKE);
}

static void
on_starttls(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	if (s->reply.code == 220) {
		session_tls_start(s);
		return;
	}
	snprintf(reason, sizeof(reason), "STARTTLS refused: %s", s->reply.text);
	session_tls_problem(s, TLSRPT_R_STARTTLS_NOT_SUPPORTED, reason);
	if (s->reply.code == 421 || tls_level_required(HOST_F_TLS(s->hflags))) {
		snprintf(reason, sizeof(reason),
		    "TLS is required, but host %s refused to start TLS: %s",
		    s->namaddr, s->reply.text);
		s->broken = s->reply.code == 421;
		session_host_failed(s, reason, "4.7.4", s->relay);
		return;
	}
	log_info("%s refused STARTTLS (%s); going on in plain text", s->namaddr,
	    s->reply.text);
	s->notls = 1;
	session_after_ehlo(s);
}

/* The names a certificate may carry: the relay's configured name and
 * the name it resolved to, or the exchanger's name. */
static size_t
session_tls_names(struct smtp_session *s, const char *names[2])
{
	size_t n = 0;

	if (*s->nexthop != '\0')
		names[n++] = s->nexthop;
	if (n == 0 || strcasecmp(s->nexthop, s->name) != 0)
		names[n++] = s->name;
	return n;
}

/*
 * The policy an exchanger's connection runs under, for TLS reporting
 * (RFC 8460 4.4): MTA-STS in either mode, DANE with a record a client
 * may use; "dane" without one is TLS without authentication, no policy.
 */
static int
session_tlsrpt_policy(const struct smtp_session *s)
{
	unsigned level = HOST_F_TLS(s->hflags);
	struct dane_rr *rrs;
	int n, i, usable = 0;

	if (level == TLS_STS || level == TLS_STS_TESTING)
		return TLSRPT_P_STS;
	if (level != TLS_DANE)
		return TLSRPT_P_NONE;
	rrs = xcalloc(DANE_MAX_RECORDS, sizeof(*rrs));
	n = dane_parse(s->tlsa, rrs, DANE_MAX_RECORDS);
	for (i = 0; i < n; i++)
		usable += dane_usable(&rrs[i]);
	free(rrs);
	return usable > 0 ? TLSRPT_P_TLSA : TLSRPT_P_NONE;
}

/*
 * This connection's TLS outcome, once, for TLS reporting: never for a
 * relay (smart hosts are not reported) nor at level "none", where TLS
 * is not tried. Under MTA-STS in testing mode a failure is also logged
 * as what enforce mode would have refused (RFC 8461 5).
 */
static void
session_tls_problem(struct smtp_session *s, int result, const char *why)
{
	if (result != TLSRPT_R_SUCCESS &&
	    HOST_F_TLS(s->hflags) == TLS_STS_TESTING)
		log_info("%s: MTA-STS policy in testing mode: would refuse: "
		         "%s; delivering anyway",
		    s->relay, why);
	if (s->tlsrpt_sent || s->job == NULL)
		return;
	s->tlsrpt_sent = 1;
	smtp_tls_report(s->job, s->name, s->tlsrpt_policy, result);
}

/* The certificate against the level's checks: DANE's TLSA records, or
 * the CA store and the host's name; "may" and "encrypt" check nothing,
 * and any certificate is a success for them. */
static void
session_tls_check(struct smtp_session *s, SSL *ssl, struct tls_outcome *o)
{
	unsigned level = HOST_F_TLS(s->hflags);
	const char *names[2];

	if (level == TLS_DANE && s->dane > 0)
		tls_dane_verdict(ssl, o);
	else
		tls_verdict(ssl, names, session_tls_names(s, names), o);
	if (!tls_level_webpki(level) && !(level == TLS_DANE && s->dane > 0))
		o->result = TLSRPT_R_SUCCESS;
}

static void
session_tls_up(struct smtp_session *s)
{
	char desc[256], reason[SMTP_REASON_MAX];
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	unsigned level = HOST_F_TLS(s->hflags);
	struct tls_outcome o;

	session_tls_check(s, ssl, &o);
	tls_describe(ssl, desc, sizeof(desc));
	log_info("%s TLS connection established to %s: %s policy=%s",
	    tls_trust_word(o.trust), s->relay, desc, tls_level_word(level));
	metrics_count(o.trust == TLS_VERIFIED ? NCM_TLS_VERIFIED
	        : o.trust == TLS_TRUSTED      ? NCM_TLS_TRUSTED
	                                      : NCM_TLS_UNTRUSTED,
	    1);
	s->tls = 1;
	session_tls_problem(s, o.result, o.why);
	if (tls_level_required(level) && o.result != TLSRPT_R_SUCCESS) {
		snprintf(reason, sizeof(reason),
		    "TLS is required, but host %s %s", s->namaddr, o.why);
		session_host_failed(s, reason, "4.7.5", s->relay);
		return;
	}
	if (s->wrapper) {
		session_expect(s, S_GREETING);
		return;
	}
	session_hello(s, S_EHLO);
}

static void
session_tls_failed(struct smtp_session *s)
{
	unsigned long e, last = 0;
	char detail[256], reason[SMTP_REASON_MAX];
	struct smtp_job *job;

	while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
		last = e;
	tls_error_text(last, detail, sizeof(detail));
	s->broken = 1;
	metrics_count(NCM_TLS_FAILED, 1);
	snprintf(reason, sizeof(reason), "TLS handshake failed: %s", detail);
	session_tls_problem(s, TLSRPT_R_VALIDATION_FAILURE, reason);
	if (!s->wrapper && !tls_level_required(HOST_F_TLS(s->hflags)) &&
	    (job = session_detach(s)) != NULL) {
		log_info("%s: TLS handshake with %s failed (%s); trying again "
		         "in plain text",
		    job->qid, s->relay, detail);
		session_close(s);
		job->plain_host = job->hostidx + 1;
		session_connect(job);
		return;
	}
	snprintf(reason, sizeof(reason), "TLS handshake with %s failed: %s",
	    s->namaddr, detail);
	session_host_failed(s, reason, "4.7.5", s->relay);
}

/* ---- AUTH ---- */

static void session_cmd_secret(
    struct smtp_session *, const char *shown, const char *prefix, char *resp);

static void
session_auth_fail(struct smtp_session *s, const char *fmt, const char *arg)
{
	char reason[SMTP_REASON_MAX], said[SMTP_REASON_MAX];

	snprintf(said, sizeof(said), fmt, s->namaddr, arg);
	snprintf(reason, sizeof(reason), "%s", said);
	auth_wipe_free(s->auth_user);
	auth_wipe_free(s->auth_pass);
	s->auth_user = s->auth_pass = NULL;
	session_host_failed(s, reason, "4.7.0", s->relay);
}

/* Ask the master for this relay's credentials (see smtp_secret_answer). */
static void
session_auth_start(struct smtp_session *s)
{
	struct smtp_worker *w = s->w;
	struct ipcm_child_secret_req req;

	if (w->master == NULL) { /* started by hand: no secrets */
		session_ready(s);
		return;
	}
	s->secret_req = ++w->secret_seq;
	req.request = s->secret_req;
	req.host = *s->nexthop != '\0' ? s->nexthop : s->name;
	req.port = s->port;
	ipcm_child_secret_req_send(w->master, &req);
	session_expect(s, S_AUTH_WAIT);
}

static void
session_auth_send(struct smtp_session *s, const char *user, const char *pass)
{
	unsigned mech = auth_mech_pick(s->auth_mechs);

	if (!s->tls && !(s->hflags & HOST_F_AUTH_PLAIN)) {
		session_auth_fail(s,
		    "not sending AUTH to host %s: the connection is not "
		    "encrypted%s (smtp_sasl_allow_plaintext = no)",
		    (s->caps & CAP_STARTTLS) ? ""
		                             : " and it offers no STARTTLS");
		return;
	}
	if (mech == 0) {
		session_auth_fail(s,
		    "host %s offers no SASL mechanism we support%s "
		    "(PLAIN, LOGIN)",
		    "");
		return;
	}
	log_debug("%s: AUTH %s as %s", s->namaddr, auth_mech_name(mech), user);
	if (mech == AUTH_MECH_PLAIN) {
		session_cmd_secret(s, "AUTH PLAIN <credentials>", "AUTH PLAIN ",
		    auth_plain_response(user, pass));
		session_expect(s, S_AUTH);
		return;
	}
	s->auth_user = xstrdup(user);
	s->auth_pass = xstrdup(pass);
	session_cmd(s, "AUTH LOGIN");
	session_expect(s, S_AUTH_USER);
}

void
smtp_secret_answer(struct smtp_worker *w, uint64_t req, int found,
    const char *user, const char *pass)
{
	struct smtp_session *s;

	TAILQ_FOREACH(s, &w->sessions, entry)
	if (!s->dead && s->state == S_AUTH_WAIT && s->secret_req == req)
		break;
	if (s == NULL)
		return;
	evtimer_del(s->timer);
	session_enter(s);
	if (!found) {
		log_debug(
		    "%s: no credentials for %s:%u in secrets_file; no AUTH",
		    s->namaddr, *s->nexthop ? s->nexthop : s->name, s->port);
		session_ready(s);
	} else if (!(s->caps & CAP_AUTH))
		/* relaying unauthenticated could turn a login problem into
		 * bounces ("relay access denied"): wait for it to be fixed */
		session_auth_fail(s,
		    "host %s offers no AUTH%s, but secrets_file has "
		    "credentials for it",
		    s->tls ? "" : " on a connection without TLS");
	else
		session_auth_send(s, user, pass);
	session_leave(s);
}

static void
on_auth(struct smtp_session *s)
{
	if (s->state != S_AUTH && s->reply.code == 334) {
		const char *v =
		    s->state == S_AUTH_USER ? s->auth_user : s->auth_pass;

		session_cmd_secret(s,
		    s->state == S_AUTH_USER ? "<user name>" : "<password>", "",
		    auth_base64(v, strlen(v)));
		session_expect(
		    s, s->state == S_AUTH_USER ? S_AUTH_PASS : S_AUTH);
		return;
	}
	if (s->reply.code == 235) {
		auth_wipe_free(s->auth_user);
		auth_wipe_free(s->auth_pass);
		s->auth_user = s->auth_pass = NULL;
		s->authed = 1;
		session_ready(s);
		return;
	}
	if (s->reply.code == 421)
		s->broken = 1;
	session_auth_fail(
	    s, "SASL authentication failed; server %s said: %s", s->reply.text);
}

/* After EHLO (again after TLS): STARTTLS, then AUTH, then mail. */
static void
session_after_ehlo(struct smtp_session *s)
{
	unsigned level = HOST_F_TLS(s->hflags);
	char reason[SMTP_REASON_MAX];

	if (!s->tls && level != TLS_NONE && !s->notls) {
		if (s->caps & CAP_STARTTLS) {
			session_cmd(s, "STARTTLS");
			session_expect(s, S_STARTTLS);
			return;
		}
		session_tls_problem(
		    s, TLSRPT_R_STARTTLS_NOT_SUPPORTED, "STARTTLS not offered");
	}
	if (!s->tls && tls_level_required(level)) {
		snprintf(reason, sizeof(reason),
		    "TLS is required, but was not offered by host %s",
		    s->namaddr);
		session_host_failed(s, reason, "4.7.4", s->relay);
		return;
	}
	if ((s->hflags & HOST_F_AUTH) && !s->authed) {
		session_auth_start(s);
		return;
	}
	session_ready(s);
}

static void
on_rset(struct smtp_session *s)
{
	if (s->reply.code / 100 == 2) {
		session_mail_start(s);
		return;
	}
	s->broken = 1;
	session_reuse_failed(s);
}

/* ---- the transaction ---- */

/* The DSN parameters the sender gave, when the server takes them. */
static void
session_dsn_mail(struct smtp_session *s, char *buf, size_t len)
{
	struct smtp_job *job = s->job;
	char x[DSN_ENVID_MAX * 3 + 1];

	*buf = '\0';
	if (!(s->caps & CAP_DSN))
		return;
	if (job->dsn_ret != 0)
		strlcat(buf,
		    job->dsn_ret == DSN_RET_FULL ? " RET=FULL" : " RET=HDRS",
		    len);
	if (*job->envid != '\0' &&
	    dsn_xtext_encode(job->envid, x, sizeof(x)) == 0) {
		strlcat(buf, " ENVID=", len);
		strlcat(buf, x, len);
	}
}

/* NOTIFY= and ORCPT= (xtext) when the server takes DSN parameters. */
static void
session_send_rcpt(struct smtp_session *s, size_t i)
{
	const struct smtp_rcpt *r = &s->job->rcpts[i];
	char notify[64] = "", orcpt[DSN_ORCPT_MAX * 3 + 1] = "";

	if ((s->caps & CAP_DSN) && s->job->dsn_notify != 0)
		dsn_notify_text(
		    (uint8_t)s->job->dsn_notify, notify, sizeof(notify));
	if ((s->caps & CAP_DSN) && *r->orcpt != '\0')
		(void)dsn_xtext_encode(r->orcpt, orcpt, sizeof(orcpt));
	session_cmd(s, "RCPT TO:<%s>%s%s%s%s", r->address,
	    *notify ? " NOTIFY=" : "", notify, *orcpt ? " ORCPT=" : "", orcpt);
}

/* SIZE=, when the server offers it, lets it refuse a message early. */
static int
session_size_ok(struct smtp_session *s, size_t size)
{
	char reason[SMTP_REASON_MAX];

	if (!(s->caps & CAP_SIZE) || s->size_max == 0 || size <= s->size_max)
		return 1;
	snprintf(reason, sizeof(reason),
	    "message size %zu exceeds size limit %llu of server %s", size,
	    (unsigned long long)s->size_max, s->namaddr);
	smtp_rcpts_unresolved(s->job, 5, "5.3.4", reason, s->relay);
	return 0;
}

/*
 * A job whose envelope holds UTF-8 needs a server that offers SMTPUTF8
 * (RFC 6531 section 3.4): else its recipients fail here, for good, as
 * Postfix fails them.
 */
static int
session_utf8_ok(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	if (!(s->job->flags & JOB_F_UTF8ADDR) || (s->caps & CAP_SMTPUTF8))
		return 1;
	snprintf(reason, sizeof(reason),
	    "SMTPUTF8 is required, but was not offered by host %s", s->namaddr);
	smtp_rcpts_unresolved(s->job, 5, "5.6.7", reason, s->relay);
	return 0;
}

static void
session_mail_start(struct smtp_session *s)
{
	struct smtp_job *job = s->job;
	size_t size = job->wire->len - 3, i; /* the terminator is not sent */
	char sizeparam[32] = "", dsn[400];

	s->mail_ok = 0;
	s->naccepted = 0;
	s->rcpt_reply = 0;
	s->pipelining = (s->caps & CAP_PIPELINING) != 0;
	if (!session_utf8_ok(s) || !session_size_ok(s, size)) {
		session_txn_end(s);
		return;
	}
	if (s->caps & CAP_SIZE)
		snprintf(sizeparam, sizeof(sizeparam), " SIZE=%zu", size);
	session_dsn_mail(s, dsn, sizeof(dsn));
	session_cmd(s, "MAIL FROM:<%s>%s%s%s%s", job->sender, sizeparam,
	    (job->flags & JOB_F_8BIT) && (s->caps & CAP_8BITMIME)
	        ? " BODY=8BITMIME"
	        : "",
	    (job->flags & JOB_F_SMTPUTF8) && (s->caps & CAP_SMTPUTF8)
	        ? " SMTPUTF8"
	        : "",
	    dsn);
	if (s->pipelining) {
		for (i = 0; i < job->nrcpt; i++)
			session_send_rcpt(s, i);
		session_cmd(s, "DATA");
	}
	session_expect(s, S_MAIL);
}

static void
on_mail(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	s->reused = 0; /* from here on, failures belong to the message */
	if (s->reply.code / 100 == 2) {
		s->mail_ok = 1;
		if (!s->pipelining)
			session_send_rcpt(s, 0);
		session_expect(s, S_RCPT);
		return;
	}
	session_said(s, reason, sizeof(reason));
	smtp_rcpts_unresolved(s->job, fail_class(&s->reply),
	    smtp_reply_dsn(&s->reply), reason, s->relay);
	s->need_rset = 1;
	if (s->pipelining)
		session_expect(
		    s, S_RCPT); /* the RCPT and DATA replies follow */
	else
		session_txn_end(s);
}

static void
on_rcpt(struct smtp_session *s)
{
	struct smtp_job *job = s->job;
	struct smtp_rcpt *r = &job->rcpts[s->rcpt_reply++];
	char reason[SMTP_REASON_MAX];

	if (s->mail_ok && s->reply.code / 100 == 2) {
		r->status = RCPT_ACCEPTED;
		s->naccepted++;
	} else if (s->mail_ok) {
		session_said(s, reason, sizeof(reason));
		smtp_rcpt_outcome(r, fail_class(&s->reply),
		    smtp_reply_dsn(&s->reply), reason, s->relay);
	}
	if (s->rcpt_reply < job->nrcpt) {
		if (!s->pipelining)
			session_send_rcpt(s, s->rcpt_reply);
		session_expect(s, S_RCPT);
	} else if (s->pipelining)
		session_expect(s, S_DATA);
	else if (s->naccepted == 0) {
		s->need_rset = 1;
		session_txn_end(s);
	} else {
		session_cmd(s, "DATA");
		session_expect(s, S_DATA);
	}
}

static void
wire_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	smtp_wire_unref(arg);
}

static void
on_data(struct smtp_session *s)
{
	struct smtp_wire *wire = s->job->wire;
	char reason[SMTP_REASON_MAX];

	if (!s->mail_ok || s->naccepted == 0) {
		/* a pipelined DATA with nobody to deliver to */
		if (s->reply.code == 354)
			s->broken = 1; /* it wants data we will not send */
		s->need_rset = 1;
		session_txn_end(s);
		return;
	}
	if (s->reply.code != 354) {
		session_said(s, reason, sizeof(reason));
		session_accepted_outcome(s, fail_class(&s->reply), reason);
		s->need_rset = 1;
		session_txn_end(s);
		return;
	}
	/* S_BODY first: a TLS bufferevent may take the data at once */
	session_body_deadline(s, wire->len);
	session_expect(s, S_BODY);
	wire->refs++;
	if (evbuffer_add_reference(bufferevent_get_output(s->bev), wire->data,
	        wire->len, wire_cleanup, wire) == -1)
		fatalx("evbuffer_add_reference");
}

static void
on_dot(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	if (s->state == S_BODY) {
		/* it answered before the data ended: never take that as sent */
		s->broken = 1;
		if (s->reply.code / 100 == 2) {
			on_unexpected(s);
			return;
		}
	}
	if (s->reply.code / 100 == 2)
		session_accepted_outcome(s, 2, s->reply.text);
	else {
		session_said(s, reason, sizeof(reason));
		session_accepted_outcome(s, fail_class(&s->reply), reason);
	}
	session_txn_end(s);
}

/* 421 in a transaction: the server is closing; nothing more will come. */
static void
session_on_421(struct smtp_session *s)
{
	char reason[SMTP_REASON_MAX];

	s->broken = 1;
	if (s->reused) {
		session_reuse_failed(s);
		return;
	}
	session_said(s, reason, sizeof(reason));
	smtp_rcpts_unresolved(
	    s->job, 4, smtp_reply_dsn(&s->reply), reason, s->relay);
	session_txn_end(s);
}

/* ---- EHLO keywords ---- */

static void
ehlo_auth(struct smtp_session *s, const char *arg)
{
	s->auth_mechs |= auth_mechs_parse(arg);
}

static void
ehlo_size(struct smtp_session *s, const char *arg)
{
	unsigned long long v = 0;
	int digits = 0;

	for (; *arg >= '0' && *arg <= '9' && digits < 19; arg++, digits++)
		v = v * 10 + (unsigned)(*arg - '0');
	s->size_max = v;
}

static const struct ehlo_keyword {
	const char *name;
	unsigned cap;
	void (*param)(struct smtp_session *, const char *);
} ehlo_keywords[] = {
    {"PIPELINING", CAP_PIPELINING, NULL},
    {"SIZE", CAP_SIZE, ehlo_size},
    {"8BITMIME", CAP_8BITMIME, NULL},
    {"STARTTLS", CAP_STARTTLS, NULL},
    {"AUTH", CAP_AUTH, ehlo_auth},
    {"ENHANCEDSTATUSCODES", CAP_ENHANCEDSTATUSCODES, NULL},
    {"SMTPUTF8", CAP_SMTPUTF8, NULL},
    {"DSN", CAP_DSN, NULL},
    {NULL, 0, NULL},
};

/* One EHLO line after the first: "KEYWORD [params]". */
static void
ehlo_line(struct smtp_session *s, const char *line, size_t len)
{
	const struct ehlo_keyword *k;
	size_t n;

	if (len < 4)
		return;
	line += 4;
	len -= 4;
	n = strcspn(line, " ="); /* "AUTH=PLAIN" is an old form of AUTH */
	for (k = ehlo_keywords; k->name != NULL; k++) {
		if (n != strlen(k->name) || strncasecmp(line, k->name, n) != 0)
			continue;
		s->caps |= k->cap;
		if (k->param != NULL)
			k->param(s, n < len ? line + n + 1 : "");
	}
}

/* ---- input ---- */

static int
state_in_transaction(enum smtp_state st)
{
	return st == S_RSET || st == S_MAIL || st == S_RCPT || st == S_DATA ||
	    st == S_BODY || st == S_DOT;
}

static void
session_line(struct smtp_session *s, const char *line, size_t len)
{
	log_debug("< %s: %.*s", s->namaddr, (int)len, line);
	if (smtp_reply_line(&s->reply, line, len) == -1) {
		s->broken = 1;
		if (s->job != NULL)
			session_lost_doing(
			    s, "malformed reply from", "", "4.5.0");
		else
			session_close(s);
		return;
	}
	if (s->state == S_EHLO && s->reply.nlines > 1)
		ehlo_line(s, line, len);
	if (!s->reply.complete)
		return;
	evtimer_del(s->timer);
	if (s->reply.code == 421 && state_in_transaction(s->state))
		session_on_421(s);
	else
		states[s->state].on_reply(s);
	smtp_reply_init(&s->reply);
}

/*
 * Take one line from the input (CRLF or LF ended, CR and LF removed) into
 * line, NUL-terminated; -1 when no complete line is there. A line longer than
 * SMTP_LINE_MAX is cut there and the rest of it discarded as it arrives,
 * so a server cannot make us buffer without bound.
 */
static ssize_t
session_getline(struct smtp_session *s, struct evbuffer *in, char *line)
{
	struct evbuffer_ptr eol;
	size_t eol_len, n;

	for (;;) {
		eol =
		    evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos == -1) {
			n = evbuffer_get_length(in);
			if (!s->skipping && n <= SMTP_LINE_MAX)
				return -1;
			if (s->skipping) {
				evbuffer_drain(in, n);
				return -1;
			}
			evbuffer_remove(in, line, SMTP_LINE_MAX);
			evbuffer_drain(in, evbuffer_get_length(in));
			line[SMTP_LINE_MAX] = '\0';
			s->skipping = 1;
			return SMTP_LINE_MAX;
		}
		if (s->skipping) {
			evbuffer_drain(in, (size_t)eol.pos + eol_len);
			s->skipping = 0;
			continue;
		}
		n = (size_t)eol.pos < SMTP_LINE_MAX ? (size_t)eol.pos
		                                    : SMTP_LINE_MAX;
		evbuffer_remove(in, line, n);
		evbuffer_drain(in, (size_t)eol.pos - n + eol_len);
		line[n] = '\0';
		return (ssize_t)n;
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[SMTP_LINE_MAX + 1];
	ssize_t len;

	session_enter(s);
	while (!s->dead && (len = session_getline(s, in, line)) >= 0) {
		if (s->state == S_IDLE || s->state == S_QUIT ||
		    s->state == S_CONNECT || s->state == S_HANDSHAKE) {
			/* a server talking out of turn is not worth keeping */
			if (s->state != S_QUIT)
				log_debug("%s: unexpected input while idle",
				    s->namaddr);
			session_close(s);
			break;
		}
		session_line(s, line, (size_t)len);
	}
	session_leave(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	session_enter(s);
	if (s->state == S_HANDSHAKE && (what & BEV_EVENT_CONNECTED)) {
		evtimer_del(s->timer);
		session_tls_up(s);
	} else if (s->state == S_HANDSHAKE &&
	    (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
		evtimer_del(s->timer);
		session_tls_failed(s);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->job == NULL)
			session_close(s);
		else
			session_lost_doing(
			    s, "lost connection with", "", "4.4.2");
	}
	session_leave(s);
}

/* Writing the message: progress restarts the data timer, and once all
 * is written the session waits for the final reply. */
static void
session_output_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct smtp_session *s = arg;

	if (info->n_deleted == 0 || s->state != S_BODY || s->dead)
		return;
	session_expect(s, evbuffer_get_length(buf) == 0 ? S_DOT : S_BODY);
}

/* ---- connecting ---- */

static void
session_connect_failed(struct smtp_session *s, int err)
{
	char reason[SMTP_REASON_MAX];

	snprintf(reason, sizeof(reason), "connect to %s: %s", s->relay,
	    strerror(err));
	s->broken = 1;
	session_host_failed(s, reason, "4.4.1", NULL);
}

static void
session_setup_bev(struct smtp_session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
	s->out_cb = evbuffer_add_cb(
	    bufferevent_get_output(s->bev), session_output_cb, s);
	if (s->tls || s->state == S_HANDSHAKE || s->wrapper)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* Connected: the greeting comes next, or first the TLS handshake of
 * implicit TLS (smtp_tls_wrappermode, port 465). */
static void
session_connect_ok(struct smtp_session *s)
{
	event_free(s->conn_ev);
	s->conn_ev = NULL;
	s->wrapper = (s->hflags & HOST_F_WRAPPER) != 0;
	if (s->wrapper)
		s->bev = bufferevent_openssl_socket_new(s->w->base, s->fd,
		    session_ssl_new(s), BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE);
	else
		s->bev = bufferevent_socket_new(
		    s->w->base, s->fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new");
	s->fd = -1;
	smtp_reply_init(&s->reply);
	session_expect(s, s->wrapper ? S_HANDSHAKE : S_GREETING);
	session_setup_bev(s);
}

static void
session_connected(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	(void)ev;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	evtimer_del(s->timer);
	session_enter(s);
	if (err != 0)
		session_connect_failed(s, err);
	else
		session_connect_ok(s);
	session_leave(s);
}

static void
session_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)ev;
	session_enter(s);
	switch (s->state) {
	case S_CONNECT:
		/* also how a connect that failed at once is reported */
		if (s->connect_errno == 0)
			session_connect_ok(s);
		else
			session_connect_failed(s,
			    s->connect_errno > 0 ? s->connect_errno
			                         : ETIMEDOUT);
		break;
	case S_IDLE:
		session_quit(s);
		break;
	case S_QUIT:
		session_close(s);
		break;
	default:
		session_lost_doing(
		    s, "conversation with", " timed out", "4.4.2");
		break;
	}
	session_leave(s);
}

static socklen_t
host_sockaddr(const struct smtp_host *h, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, h->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(h->port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, h->addr, &sin6->sin6_addr) != 1)
		fatalx("unchecked address %s", h->addr);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(h->port);
	return sizeof(*sin6);
}

/* Over the session limit: let the oldest idle connection go. */
static void
session_make_room(struct smtp_worker *w)
{
	struct smtp_session *s, *idle = NULL;
	unsigned busy = 0;

	TAILQ_FOREACH(s, &w->sessions, entry)
	{
		if (s->dead || s->state == S_QUIT)
			continue;
		busy++;
		if (s->state == S_IDLE && idle == NULL)
			idle = s;
	}
	if (busy >= w->max_sessions && idle != NULL)
		session_quit(idle);
}

static void
session_connect(struct smtp_job *job)
{
	struct smtp_host *h = &job->hosts[job->hostidx];
	struct sockaddr_storage ss;
	socklen_t sslen = host_sockaddr(h, &ss);
	struct smtp_session *s;
	struct timeval now = {0, 0};

	session_make_room(job->w);
	s = session_new(job->w, job);
	snprintf(s->namaddr, sizeof(s->namaddr), "%s[%s]", h->name, h->addr);
	snprintf(s->relay, sizeof(s->relay), "%s:%u", s->namaddr, h->port);
	strlcpy(s->name, h->name, sizeof(s->name));
	strlcpy(s->nexthop, h->nexthop, sizeof(s->nexthop));
	s->port = h->port;
	s->hflags = h->flags;
	s->tlsa = xstrdup(h->tlsa);
	s->notls = job->plain_host == job->hostidx + 1;
	/* the plain-text retry's outcome was the failed handshake's */
	s->tlsrpt_sent = s->notls || (h->flags & HOST_F_RELAY) ||
	    HOST_F_TLS(h->flags) == TLS_NONE;
	s->tlsrpt_policy = session_tlsrpt_policy(s);
	session_expect(s, S_CONNECT);
	s->fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1)
		s->connect_errno = errno;
	else if (connect(s->fd, (struct sockaddr *)&ss, sslen) == 0)
		s->connect_errno = 0;
	else if (errno != EINPROGRESS)
		s->connect_errno = errno;
	if (s->connect_errno != -1) {
		/* report from the event loop, not from inside our caller */
		evtimer_add(s->timer, &now);
		return;
	}
	s->conn_ev =
	    event_new(job->w->base, s->fd, EV_WRITE, session_connected, s);
	if (s->conn_ev == NULL)
		fatalx("event_new");
	event_add(s->conn_ev, NULL);
}

/* ---- entry points ---- */

static void
session_reuse(struct smtp_session *s, struct smtp_job *job)
{
	evtimer_del(s->timer);
	s->job = job;
	job->session = s;
	s->reused = 1;
	job->established = 1;
	job->t_connected = now_sec();
	log_debug("%s: reusing connection to %s", job->qid, s->relay);
	if (s->need_rset) {
		s->need_rset = 0;
		session_cmd(s, "RSET");
		session_expect(s, S_RSET);
		return;
	}
	session_mail_start(s);
}

void
session_job_start(struct smtp_job *job)
{
	struct smtp_session *s;

	if (!job->fresh_only) {
		TAILQ_FOREACH(s, &job->w->sessions, entry)
		{
			if (!s->dead && s->state == S_IDLE &&
			    strcmp(s->key, job->key) == 0) {
				session_reuse(s, job);
				return;
			}
		}
	}
	job->hostidx = 0;
	session_connect(job);
}

void
session_quit_idle(struct smtp_worker *w)
{
	struct smtp_session *s, *next;

	TAILQ_FOREACH_SAFE(s, &w->sessions, entry, next)
	if (!s->dead && s->state == S_IDLE)
		session_quit(s);
}

unsigned
session_idle_count(struct smtp_worker *w)
{
	struct smtp_session *s;
	unsigned n = 0;

	TAILQ_FOREACH(s, &w->sessions, entry)
	if (!s->dead && s->state == S_IDLE)
		n++;
	return n;
}
