/*
 * session.c - one SMTP client of smtpd: the bytes between its socket and
 * the engine (common/smtpin.c), the envelope and content of its current
 * message, the spool file that content becomes, and pickup's answer,
 * which alone may turn into "250 ... queued as". Every phase is bounded:
 * smtpd_timeout for each command and while idle, and while the content
 * arrives, smtpd_timeout plus what has come at smtp_min_data_rate.
 */
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "util.h"

struct smtpd_session {
	TAILQ_ENTRY(smtpd_session) entry;
	struct bufferevent *bev;
	struct smtpin *engine;
	struct event *timer;
	struct smtpd_client *client;
	char ip[64];
	char namaddr[128]; /* "localhost[127.0.0.1]" */
	int tls, handshake; /* TLS is up / being set up */
	int closing; /* the last reply goes out, then the connection */
	int end_now; /* closing: free at the next turn, sent or not */
	struct evbuffer_cb_entry *sent_cb; /* TLS: see session_under_sent() */
	/* the message under way */
	struct maildrop md;
	char *mem; /* its content, while small */
	size_t memlen, memcap;
	int spill_fd; /* the rest of a large one */
	char spill[96];
	uint64_t content; /* octets of content so far */
	double content_start;
	int in_content;
	const char
	    *content_refused; /* a reply: the content could not be kept */
	/* handed to pickup, waiting for its answer */
	uint64_t request;
	int waiting;
	char reply[700];
};

int smtpd_client_cmp(struct smtpd_client *, struct smtpd_client *);

int
smtpd_client_cmp(struct smtpd_client *a, struct smtpd_client *b)
{
	return strcmp(a->ip, b->ip);
}
RB_GENERATE(smtpd_clients, smtpd_client, entry, smtpd_client_cmp);

static void session_process(struct smtpd_session *);
static void session_setup_bev(struct smtpd_session *);

/* Commands by enum smtpin_cmd, as Postfix's smtpd names them in its log */
static const char *const session_verbs[SMTPIN_NCMDS] = {"EHLO", "HELO",
    "STARTTLS", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT",
    "UNKNOWN"};

/* The client's last command, for "timeout after DATA from ..." */
static const char *
session_last(struct smtpd_session *s)
{
	int cmd = smtpin_last_cmd(s->engine);

	return cmd >= 0 && cmd < SMTPIN_NCMDS ? session_verbs[cmd] : "CONNECT";
}

/* ---- the message under way ---- */

static void
txn_clear(struct smtpd_session *s)
{
	maildrop_clear(&s->md);
	maildrop_init(&s->md);
	s->memlen = 0;
	if (s->spill_fd != -1) {
		close(s->spill_fd);
		(void)unlinkat(sd->dir_fd, s->spill, 0);
		s->spill_fd = -1;
	}
	s->content = 0;
	s->in_content = 0;
	s->content_refused = NULL;
}

/* ---- time ---- */

/*
 * smtpd_timeout for each command and while idle; while content arrives
 * the deadline moves on only by what came at smtp_min_data_rate, so a
 * client that trickles is cut off however steadily it trickles.
 */
static void
session_arm(struct smtpd_session *s)
{
	const struct nc_config *cfg = &sd->cfg;
	double t = (double)cfg->smtpd_timeout, left;
	struct timeval tv;

	if (s->in_content) {
		left = s->content_start + (double)cfg->smtpd_timeout +
		    (double)s->content / (double)cfg->smtp_min_data_rate -
		    now_sec();
		if (left < t)
			t = left > 0 ? left : 0;
	}
	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	evtimer_add(s->timer, &tv);
}

/* ---- the end of a session ---- */

/* "ehlo=1 mail=1 rcpt=2/3 data=1 quit=1 commands=6/7", as Postfix. */
static void
session_counts(struct smtpd_session *s, char *buf, size_t len)
{
	static const char *names[SMTPIN_NCMDS] = {"ehlo", "helo", "starttls",
	    "mail", "rcpt", "data", "bdat", "rset", "noop", "vrfy", "quit",
	    "unknown"};
	const struct smtpin_counts *c = smtpin_counts(s->engine);
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < SMTPIN_NCMDS && o < len; i++) {
		if (c->given[i] == 0)
			continue;
		if (c->ok[i] == c->given[i])
			o += (size_t)snprintf(
			    buf + o, len - o, " %s=%u", names[i], c->ok[i]);
		else
			o += (size_t)snprintf(buf + o, len - o, " %s=%u/%u",
			    names[i], c->ok[i], c->given[i]);
	}
	if (o < len)
		(void)snprintf(buf + o, len - o,
		    c->commands - c->errors == c->commands ? " commands=%u"
		                                           : " commands=%u/%u",
		    c->commands - c->errors, c->commands);
}

static void
session_free(struct smtpd_session *s)
{
	char counts[256];

	session_counts(s, counts, sizeof(counts));
	log_info("disconnect from %s%s", s->namaddr, counts);
	TAILQ_REMOVE(&sd->sessions, s, entry);
	sd->nsessions--;
	if (s->client != NULL && --s->client->sessions == 0) {
		RB_REMOVE(smtpd_clients, &sd->clients, s->client);
		free(s->client);
	}
	txn_clear(s);
	maildrop_clear(&s->md);
	free(s->mem);
	event_free(s->timer);
	if (s->sent_cb != NULL)
		evbuffer_remove_cb_entry(
		    bufferevent_get_output(bufferevent_get_underlying(s->bev)),
		    s->sent_cb);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	smtpin_free(s->engine);
	free(s);
	if (sd->stopping && sd->nsessions == 0)
		exit(0);
}

/* Whether all that was written has reached the kernel: with TLS the
 * filter passes it on, encrypted, to the connection under it, whose
 * output holds it until its own write. */
static int
session_sent(struct smtpd_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);

	return evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 &&
	    (under == NULL ||
	        evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

/* With TLS the filter's write callback comes before the last reply is
 * written: the end waits for the connection's output to empty, and
 * comes in a turn of its own (session_timeout), outside its write. */
static void
session_under_sent(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct smtpd_session *s = arg;

	(void)info;
	if (evbuffer_get_length(buf) == 0)
		event_active(s->timer, EV_TIMEOUT, 0);
}

/* What the engine has to say goes out; after its last word, the end. */
static void
session_flush(struct smtpd_session *s)
{
	struct bufferevent *under;
	const char *out;
	size_t len;

	out = smtpin_output(s->engine, &len);
	if (len > 0) {
		if (s->tls || s->handshake)
			bufferevent_write(s->bev, out, len);
		else
			ipc_bev_write(s->bev, out, len);
		smtpin_output_done(s->engine);
	}
	if (smtpin_closed(s->engine) && !s->closing) {
		s->closing = 1;
		evtimer_del(s->timer);
		bufferevent_disable(s->bev, EV_READ);
		if ((under = bufferevent_get_underlying(s->bev)) != NULL)
			s->sent_cb =
			    evbuffer_add_cb(bufferevent_get_output(under),
			        session_under_sent, s);
		/* In the handshake no reply can go out: the end is at once.
		 * It comes in a turn of its own (session_timeout), as the
		 * caller, and its caller, still use the session. */
		if (s->handshake || session_sent(s)) {
			s->end_now = 1;
			event_active(s->timer, EV_TIMEOUT, 0);
		}
	}
}

static void
session_close_with(struct smtpd_session *s, const char *reply)
{
	smtpin_close_with(s->engine, reply);
	session_flush(s);
}

/* ---- the engine's side ---- */

/*
 * Whether the queue's file system is below queue_minfree, asked at most
 * every 100 ms (one fstatvfs per MAIL was a tenth of smtpd's system
 * time under load); what gets past a stale answer meets pickup's own
 * check before the commit and is answered 451.
 */
static int
session_disk_low(void)
{
	static struct timeval last;
	static int low;
	struct timeval now, d;
	struct statvfs sv;

	event_base_gettimeofday_cached(sd->base, &now);
	timersub(&now, &last, &d);
	if (last.tv_sec != 0 && d.tv_sec == 0 && d.tv_usec < 100000 &&
	    d.tv_usec >= 0)
		return low;
	last = now;
	low = fstatvfs(sd->dir_fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize <
	        (uint64_t)sd->cfg.queue_minfree;
	return low;
}

/* Refused addresses are logged as Postfix's smtpd logs them. */
static const char *
session_reject(struct smtpd_session *s, const char *what, const char *to)
{
	log_info("NOQUEUE: reject: %s from %s: %s; from=<%s>%s%s%s proto=%s "
	         "helo=<%s>",
	    what, s->namaddr, s->reply, s->md.sender, to ? " to=<" : "",
	    to ? to : "", to ? ">" : "",
	    smtpin_extended(s->engine) ? "ESMTP" : "SMTP",
	    smtpin_helo(s->engine));
	return s->reply;
}

static const char *
op_mail(void *arg, const struct smtpin_mail *m)
{
	struct smtpd_session *s = arg;
	char addr[ADDR_MAX];
	const char *err;

	txn_clear(s);
	if (sd->stopping) {
		snprintf(s->reply, sizeof(s->reply),
		    "421 4.3.2 %s Service shutting down", sd->cfg.myhostname);
		return session_reject(s, "MAIL", NULL);
	}
	if (sd->queue_full || session_disk_low()) {
		snprintf(s->reply, sizeof(s->reply),
		    "452 4.3.1 Insufficient system storage");
		return session_reject(s, "MAIL", NULL);
	}
	if (addr_normalize(m->addr, sd->cfg.myorigin,
	        ADDR_NULL_OK | (m->smtputf8 ? ADDR_UTF8 : 0), addr,
	        sizeof(addr), &err) == -1) {
		if (strcmp(err, ADDR_ERR_8BIT) == 0)
			snprintf(s->reply, sizeof(s->reply), "%s",
			    SMTPIN_NEED_SMTPUTF8);
		else
			snprintf(s->reply, sizeof(s->reply),
			    "501 5.1.7 Bad sender address syntax (%s)", err);
		return session_reject(s, "MAIL", NULL);
	}
	s->md.smtputf8 = m->smtputf8;
	free(s->md.sender);
	s->md.sender = xstrdup(addr);
	if (m->body != NULL) {
		free(s->md.body_type);
		s->md.body_type = xstrdup(m->body);
	}
	if (m->ret != NULL) {
		free(s->md.ret);
		s->md.ret = xstrdup(m->ret);
	}
	if (m->envid != NULL) {
		free(s->md.envid);
		s->md.envid = xstrdup(m->envid);
	}
	return NULL;
}

static const char *
op_rcpt(void *arg, const struct smtpin_rcpt *r)
{
	struct smtpd_session *s = arg;
	char addr[ADDR_MAX];
	const char *err, *refused;

	if (addr_normalize(r->addr, sd->cfg.myorigin,
	        s->md.smtputf8 ? ADDR_UTF8 : 0, addr, sizeof(addr),
	        &err) == -1) {
		if (strcmp(err, ADDR_ERR_8BIT) == 0)
			snprintf(s->reply, sizeof(s->reply), "%s",
			    SMTPIN_NEED_SMTPUTF8);
		else
			snprintf(s->reply, sizeof(s->reply),
			    "501 5.1.3 Bad recipient address syntax (%s)", err);
		return session_reject(s, "RCPT", r->addr);
	}
	/* one NOTIFY per message, as with ncsendmail -bs; ORCPT kept */
	refused = maildrop_smtp_rcpt(&s->md, addr, r->notify, r->orcpt);
	if (refused == NULL)
		return NULL;
	strlcpy(s->reply, refused, sizeof(s->reply));
	return session_reject(s, "RCPT", addr);
}

/* Content beyond SMTPD_MEM_CONTENT goes to a file beside the spool
 * file's place; 0, or -1 when it cannot be kept. */
static int
content_spill(struct smtpd_session *s, const char *p, size_t n)
{
	if (s->spill_fd == -1) {
		snprintf(s->spill, sizeof(s->spill), ".content.%016" PRIx64,
		    ++sd->spool_seq);
		s->spill_fd = openat(sd->dir_fd, s->spill,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (s->spill_fd == -1 ||
		    write_all(s->spill_fd, s->mem, s->memlen) == -1)
			return -1;
		s->memlen = 0;
	}
	return write_all(s->spill_fd, p, n);
}

static const char *
op_data(void *arg, const char *p, size_t n)
{
	struct smtpd_session *s = arg;

	if (!s->in_content) {
		s->in_content = 1;
		s->content_start = now_sec();
	}
	s->content += n;
	if (s->content_refused != NULL)
		return s->content_refused;
	if (s->spill_fd == -1 && s->memlen + n <= SMTPD_MEM_CONTENT) {
		if (s->memlen + n > s->memcap) {
			s->memcap = s->memlen + n + s->memcap / 2 + 4096;
			s->mem = xreallocarray(s->mem, s->memcap, 1);
		}
		memcpy(s->mem + s->memlen, p, n);
		s->memlen += n;
	} else if (content_spill(s, p, n) == -1) {
		log_warn("%s: cannot keep the content", s->namaddr);
		s->content_refused =
		    "451 4.3.0 Error: cannot store the message; try again";
	}
	return s->content_refused;
}

/* The spilled content after the envelope and what is in memory. */
static int
spool_copy_spill(struct smtpd_session *s, int fd)
{
	char buf[65536];
	ssize_t n;

	if (s->spill_fd == -1)
		return 0;
	if (lseek(s->spill_fd, 0, SEEK_SET) == -1)
		return -1;
	while ((n = read(s->spill_fd, buf, sizeof(buf))) > 0)
		if (write_all(fd, buf, (size_t)n) == -1)
			return -1;
	return n == 0 ? 0 : -1;
}

/* The envelope: the sender's and recipients' addresses, the DSN fields,
 * and who sent it over SMTP (for pickup's Received: field). */
static char *
spool_envelope(struct smtpd_session *s, size_t *envlen)
{
	const char *err = NULL;
	char *env;

	free(s->md.client);
	s->md.client = xstrdup(s->namaddr);
	free(s->md.helo);
	s->md.helo = xstrdup(smtpin_helo(s->engine));
	free(s->md.proto);
	s->md.proto = xstrdup(!smtpin_extended(s->engine) ? "SMTP"
	        : s->tls                                  ? "ESMTPS"
	                                                  : "ESMTP");
	if ((env = maildrop_envelope(&s->md, s->content, envlen, &err)) == NULL)
		log_warnx("%s: %s", s->namaddr, err);
	return env;
}

/* Envelope and content into a spool file of its own, not synced: pickup
 * makes it durable in the queue before anyone hears 250. */
static int
spool_write(struct smtpd_session *s, const char *env, size_t envlen, char *name,
    size_t len)
{
	int fd, rc = -1;

	snprintf(name, len, "%016" PRIx64 ".%d.%016" PRIx64, now_usec(),
	    (int)getpid(), ++sd->spool_seq);
	fd = openat(sd->dir_fd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd != -1 && write_all(fd, env, envlen) == 0 &&
	    write_all(fd, s->mem, s->memlen) == 0 &&
	    spool_copy_spill(s, fd) == 0)
		rc = 0;
	if (fd == -1 || close(fd) == -1 || rc == -1) {
		log_warn("%s: cannot write the spool file", s->namaddr);
		(void)unlinkat(sd->dir_fd, name, 0);
		rc = -1;
	}
	return rc;
}

/*
 * Hand the message to pickup: a small one inline, in the request (no
 * file system work at all before the queue), a larger one as a spool
 * file. The reply waits for pickup's answer.
 */
static const char *
op_data_end(void *arg)
{
	struct smtpd_session *s = arg;
	struct ipcm_ingest_req req;
	char name[96], *env, *whole = NULL;
	size_t envlen;

	s->in_content = 0;
	if ((env = spool_envelope(s, &envlen)) == NULL)
		return "451 4.3.0 Error: cannot write the message; try again";
	if (s->spill_fd == -1 && envlen + s->memlen <= SMTPD_INLINE_MAX) {
		name[0] = '\0';
		whole = xmalloc(envlen + s->memlen);
		memcpy(whole, env, envlen);
		memcpy(whole + envlen, s->mem, s->memlen);
	} else if (spool_write(s, env, envlen, name, sizeof(name)) == -1) {
		free(env);
		return "451 4.3.0 Error: cannot write the message; try again";
	}
	s->request = ++sd->next_request;
	s->waiting = 1;
	req.request = s->request;
	req.name = name;
	req.content = whole;
	req.content_len = whole != NULL ? envlen + s->memlen : 0;
	ipcm_ingest_req_send(sd->pickup, &req);
	free(whole);
	free(env);
	session_arm(s); /* pickup gets smtpd_timeout too */
	return SMTPIN_LATER;
}

static void
op_reset(void *arg)
{
	txn_clear(arg);
}

/* The 220 is out: TLS over the connection, as a filter, and what the
 * client sent after STARTTLS before the handshake is thrown away. */
static void
op_starttls(void *arg)
{
	struct smtpd_session *s = arg;
	struct bufferevent *under;
	SSL *ssl;

	session_flush(s);
	under = s->bev;
	evbuffer_drain(bufferevent_get_input(under),
	    evbuffer_get_length(bufferevent_get_input(under)));
	if ((ssl = SSL_new(sd->tls)) == NULL)
		fatalx("SSL_new");
	s->bev = bufferevent_openssl_filter_new(sd->base, under, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_openssl_filter_new");
	s->handshake = 1;
	session_setup_bev(s);
}

/* What the engine refused by itself (syntax, limits) gets Postfix's
 * log lines: "NOQUEUE: reject: RCPT from ...", "too many errors after
 * ...". */
static void
op_refused(void *arg, int cmd, const char *line, const char *reply)
{
	struct smtpd_session *s = arg;
	const char *verb =
	    cmd >= 0 && cmd < SMTPIN_NCMDS ? session_verbs[cmd] : "?";

	(void)line;
	if (strncmp(reply, "421 4.7.0", 9) == 0) {
		log_info("too many errors after %s from %s", verb, s->namaddr);
		return;
	}
	if (cmd != SMTPIN_C_RCPT && cmd != SMTPIN_C_MAIL &&
	    cmd != SMTPIN_C_DATA && cmd != SMTPIN_C_BDAT)
		return;
	strlcpy(s->reply, reply, sizeof(s->reply));
	(void)session_reject(s, verb, NULL);
}

static const struct smtpin_ops session_ops = {
    .mail = op_mail,
    .rcpt = op_rcpt,
    .data = op_data,
    .data_end = op_data_end,
    .reset = op_reset,
    .starttls = op_starttls,
    .refused = op_refused,
};

/* ---- input ---- */

/* Feed the engine what the client sent, as far as it takes it now. */
static void
session_process(struct smtpd_session *s)
{
	struct evbuffer *in;
	size_t len, used;
	const char *p;
	int progress = 0;

	while (!s->closing && !smtpin_waiting(s->engine)) {
		in = bufferevent_get_input(s->bev);
		if ((len = evbuffer_get_length(in)) == 0)
			break;
		if (len > SMTPD_INPUT_MAX)
			len = SMTPD_INPUT_MAX;
		if ((p = (const char *)evbuffer_pullup(in, (ssize_t)len)) ==
		    NULL)
			fatalx("evbuffer_pullup");
		used = smtpin_feed(s->engine, p, len, 0);
		if (!s->handshake)
			evbuffer_drain(in, used);
		progress |= used > 0;
		session_flush(s);
		if (used == 0)
			break;
	}
	/* While the engine waits (pickup, TLS) the client's next commands
	 * stay in the input buffer, its high watermark the bound. */
	if (s->closing || s->handshake || smtpin_waiting(s->engine))
		return;
	if (progress || s->in_content)
		session_arm(s);
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process(arg);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	(void)bev;
	if (s->closing && session_sent(s))
		session_free(s);
}

static void
session_tls_up(struct smtpd_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	s->handshake = 0;
	s->tls = 1;
	log_info("Anonymous TLS connection established from %s: %s with "
	         "cipher %s",
	    s->namaddr, SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	smtpin_tls_started(s->engine);
	session_process(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void)bev;
	if (s->handshake && (what & BEV_EVENT_CONNECTED)) {
		session_tls_up(s);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (s->handshake)
		log_info("TLS handshake with %s failed", s->namaddr);
	else if (!s->closing && !smtpin_closed(s->engine))
		log_info("lost connection after %s from %s", session_last(s),
		    s->namaddr);
	if (s->waiting) {
		/* pickup's answer for it will find nobody; the message, if
		 * queued, was never acknowledged */
		s->waiting = 0;
	}
	session_free(s);
}

static void
session_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_session *s = arg;
	char reply[300];

	(void)fd;
	(void)ev;
	if (s->closing) { /* from session_flush(), session_under_sent() */
		if (s->end_now || session_sent(s))
			session_free(s);
		return;
	}
	if (s->waiting) {
		log_warnx("%s: pickup did not answer in time", s->namaddr);
		s->waiting = 0;
		smtpin_data_done(s->engine,
		    "451 4.3.0 Error: the queue did not answer; try again");
		session_flush(s);
		session_process(s);
		return;
	}
	log_info("timeout after %s from %s", session_last(s), s->namaddr);
	snprintf(reply, sizeof(reply), "421 4.4.2 %s Error: timeout exceeded",
	    sd->cfg.myhostname);
	session_close_with(s, reply);
}

static void
session_setup_bev(struct smtpd_session *s)
{
	bufferevent_setcb(
	    s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_INPUT_MAX);
	if (s->handshake)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- new connections ---- */

/* No DNS in the chroot: loopback clients are "localhost", the others
 * "unknown", as Postfix names a client without a reverse name. */
static void
session_names(struct smtpd_session *s, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in v4;
	struct net_cidr loop[2];
	char err[64];
	int n;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
		sa = (const struct sockaddr *)&v4;
	}
	net_ntop(sa, s->ip, sizeof(s->ip));
	n = net_cidr_parse("127.0.0.0/8 ::1", loop, 2, err, sizeof(err));
	snprintf(s->namaddr, sizeof(s->namaddr), "%s[%s]",
	    net_cidr_match(loop, n, sa) ? "localhost" : "unknown", s->ip);
}

/* Admitted, or refused with its reply in reply (and a log line). */
static int
session_admit(
    struct smtpd_session *s, const struct sockaddr *sa, char *reply, size_t len)
{
	struct smtpd_client key, *c;

	if (!net_cidr_match(sd->nets, sd->nnets, sa)) {
		snprintf(reply, len,
		    "554 5.7.1 %s: Client host rejected: Access denied "
		    "(not in mynetworks)",
		    s->namaddr);
		log_info("NOQUEUE: reject: CONNECT from %s: %s; proto=SMTP",
		    s->namaddr, reply);
		return 0;
	}
	if (sd->nsessions > (unsigned)sd->cfg.smtpd_session_limit) {
		snprintf(reply, len,
		    "421 4.3.2 %s Error: too many sessions; try again later",
		    sd->cfg.myhostname);
		log_warnx("refused %s: %u sessions (smtpd_session_limit)",
		    s->namaddr, sd->nsessions - 1);
		return 0;
	}
	strlcpy(key.ip, s->ip, sizeof(key.ip));
	if ((c = RB_FIND(smtpd_clients, &sd->clients, &key)) == NULL) {
		c = xcalloc(1, sizeof(*c));
		strlcpy(c->ip, s->ip, sizeof(c->ip));
		RB_INSERT(smtpd_clients, &sd->clients, c);
	}
	c->sessions++;
	s->client = c;
	if (c->sessions > (unsigned)sd->cfg.smtpd_client_connection_limit) {
		snprintf(reply, len,
		    "421 4.7.0 %s Error: too many connections from %s",
		    sd->cfg.myhostname, s->ip);
		log_warnx("too many connections from %s: %u "
		          "(smtpd_client_connection_limit)",
		    s->namaddr, c->sessions - 1);
		return 0;
	}
	return 1;
}

void
session_accept(int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct smtpd_session *s = xcalloc(1, sizeof(*s));
	const struct nc_config *cfg = &sd->cfg;
	struct smtpin_config ec = {
	    .hostname = cfg->myhostname,
	    .size_limit = (uint64_t)cfg->message_size_limit,
	    .rcpt_limit = (unsigned)cfg->smtpd_recipient_limit,
	    .error_limit = (unsigned)cfg->smtpd_hard_error_limit,
	    .ext = SMTPIN_EXT_SMTPUTF8 | SMTPIN_EXT_DSN | SMTPIN_EXT_CHUNKING |
	        (sd->tls != NULL ? SMTPIN_EXT_STARTTLS : 0),
	};
	char reply[300];

	(void)salen;
	s->spill_fd = -1;
	maildrop_init(&s->md);
	session_names(s, sa);
	log_info("connect from %s", s->namaddr);
	TAILQ_INSERT_TAIL(&sd->sessions, s, entry);
	sd->nsessions++;
	if ((s->bev = bufferevent_socket_new(
	         sd->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bufferevent_socket_new");
	if ((s->timer = evtimer_new(sd->base, session_timeout, s)) == NULL)
		fatalx("evtimer_new");
	s->engine = smtpin_new(&ec, &session_ops, s);
	session_setup_bev(s);
	if (!session_admit(s, sa, reply, sizeof(reply))) {
		session_close_with(s, reply);
		return;
	}
	smtpin_greet(s->engine);
	session_flush(s);
	session_arm(s);
}

/* ---- pickup's answers ---- */

static struct smtpd_session *
session_waiting_for(uint64_t request)
{
	struct smtpd_session *s;

	TAILQ_FOREACH(s, &sd->sessions, entry)
	if (s->waiting && s->request == request)
		return s;
	return NULL;
}

void
session_ingest_done(uint64_t request, int code, uint64_t qid, const char *text)
{
	struct smtpd_session *s = session_waiting_for(request);
	char q[NC_QID_LEN + 1];

	if (s == NULL)
		return; /* its client went away, or gave up waiting */
	s->waiting = 0;
	if (code == 0) {
		qid_format(qid, q);
		log_info("%s: client=%s", q, s->namaddr);
		log_info("%s: message-id=%s", q, text);
		snprintf(s->reply, sizeof(s->reply),
		    "250 2.0.0 Ok: queued as %s", q);
	} else
		strlcpy(s->reply, *text ? text : "451 4.3.0 Error: not queued",
		    sizeof(s->reply));
	smtpin_data_done(s->engine, s->reply);
	session_flush(s);
	session_process(s);
}

void
session_stop_all(void)
{
	struct smtpd_session *s, *next;
	char reply[200];

	snprintf(reply, sizeof(reply), "421 4.3.2 %s Service shutting down",
	    sd->cfg.myhostname);
	for (s = TAILQ_FIRST(&sd->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (!s->waiting && !s->in_content && !s->closing)
			session_close_with(s, reply);
	}
	if (sd->nsessions == 0)
		exit(0);
}
