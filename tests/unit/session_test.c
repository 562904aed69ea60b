/*
 * session_test.c - the SMTP client's state table (daemons/smtp/session.c)
 * driven by scripted servers in this process: each script is the
 * sequence of commands the client must send and the replies it gets
 * (multi-line, 4xx/5xx at each step, a 421, a stall past the time-out, a
 * dropped connection, a malformed reply). The smtp worker's outcome
 * report to qmgr is replaced by one that records what session.c decided
 * for each recipient, so every transition is checked by its result, with
 * no qmgr and no real mail server.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "tap.h"
#include "config.h"
#include "log.h"
#include "proto.h"
#include "util.h"
#include "../../daemons/smtp/smtp.h"
#include "../../daemons/smtp/wire.h"

/* ---- what the worker would report to qmgr ---- */

#define MAXRCPT 4

static struct outcome {
	int done, established, nrcpt;
	int cls[MAXRCPT];
	char dsn[MAXRCPT][16];
	char reason[MAXRCPT][512];
	char last_reason[512];
} out;

/* What the worker would report to qmgr (smtp.c), kept for the checks;
 * the outcomes themselves are job.c's, as in the worker. */
void
smtp_job_done(struct smtp_job *job)
{
	size_t i;

	/* what no step decided is deferred, as the worker does */
	smtp_rcpts_unresolved(job, 4,
	    job->last_dsn[0] != '\0' ? job->last_dsn : "4.4.1",
	    job->last_reason ? job->last_reason : "not attempted", NULL);
	out.done = 1;
	out.established = job->established;
	out.nrcpt = (int)job->nrcpt;
	strlcpy(out.last_reason, job->last_reason ? job->last_reason : "",
	    sizeof(out.last_reason));
	for (i = 0; i < job->nrcpt && i < MAXRCPT; i++) {
		out.cls[i] = job->rcpts[i].class;
		strlcpy(out.dsn[i], job->rcpts[i].dsn, sizeof(out.dsn[i]));
		strlcpy(
		    out.reason[i], job->rcpts[i].reason, sizeof(out.reason[i]));
	}
	smtp_job_free(job);
}

/* What the worker would send qmgr for TLS reporting (M_SMTP_TLS). */
static struct tls_report {
	int n, policy, result;
	char mx[256];
} rpt;

void
smtp_tls_report(struct smtp_job *job, const char *mx, int policy, int result)
{
	(void)job;
	rpt.n++;
	rpt.policy = policy;
	rpt.result = result;
	strlcpy(rpt.mx, mx, sizeof(rpt.mx));
}

/* ---- the scripted server ---- */

/*
 * One step: the command line the client must send (a prefix; "." is the
 * end of the content) and the reply, lines joined by "\n"; NULL expect
 * is the greeting. Reply "" sends nothing (a stall), "CLOSE" drops the
 * connection instead of answering.
 */
struct step {
	const char *expect;
	const char *reply;
};

#define MAXLINES 32

static struct server {
	const struct step *script;
	int next; /* the step awaited */
	int in_body; /* between 354 and "." */
	int body_lines;
	int reads; /* read callbacks so far */
	int mismatch;
	int closing; /* answered 421 or dropped: input is ignored */
	char got[MAXLINES][256];
	int batch[MAXLINES]; /* the read that brought each line: lines of
				one read came in one write of the client */
	int nlines;
	int connections;
	struct bufferevent *bev;
} srv;

static struct event_base *base;
static struct smtp_worker w;
static uint32_t job_hflags; /* HOST_F_* of the next job's host */
static struct evconnlistener *listener;
static int port;

static void
srv_send(const char *reply)
{
	struct evbuffer *o = bufferevent_get_output(srv.bev);
	const char *p = reply, *nl;

	for (;;) {
		nl = strchr(p, '\n');
		evbuffer_add(o, p, nl ? (size_t)(nl - p) : strlen(p));
		evbuffer_add(o, "\r\n", 2);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static void
srv_close(void)
{
	if (srv.bev != NULL) {
		bufferevent_free(srv.bev);
		srv.bev = NULL;
	}
}

static void
srv_flushed(struct bufferevent *bev, void *arg)
{
	(void)bev, (void)arg;
	srv_close();
}

/* Close once what is written has gone, as a server does after 421. */
static void
srv_close_soon(void)
{
	srv.closing = 1;
	bufferevent_disable(srv.bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(srv.bev)) == 0)
		srv_close();
	else
		bufferevent_setcb(srv.bev, NULL, srv_flushed, NULL, NULL);
}

static void
srv_answer(const struct step *st)
{
	if (strcmp(st->reply, "CLOSE") == 0) {
		srv_close();
		return;
	}
	if (st->reply[0] != '\0')
		srv_send(st->reply);
	if (strncmp(st->reply, "421", 3) == 0)
		srv_close_soon();
}

static void
srv_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	const struct step *st;
	char *line;
	size_t len;

	(void)arg;
	srv.reads++;
	while (srv.bev != NULL && !srv.closing &&
	    (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT))) {
		if (srv.in_body && strcmp(line, ".") != 0) {
			srv.body_lines++;
			free(line);
			continue;
		}
		srv.in_body = 0;
		if (srv.nlines < MAXLINES) {
			strlcpy(srv.got[srv.nlines], line, sizeof(srv.got[0]));
			srv.batch[srv.nlines++] = srv.reads;
		}
		st = &srv.script[srv.next];
		if (st->expect == NULL ||
		    strncmp(line, st->expect, strlen(st->expect)) != 0) {
			printf("# step %d: got \"%s\", want \"%s\"\n", srv.next,
			    line, st->expect ? st->expect : "(end)");
			srv.mismatch = 1;
			free(line);
			srv_close_soon();
			return;
		}
		free(line);
		srv.next++;
		if (strncmp(st->reply, "354", 3) == 0)
			srv.in_body = 1;
		srv_answer(st);
	}
}

static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev, (void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		srv_close();
}

static void
srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	(void)l, (void)sa, (void)salen, (void)arg;
	srv.connections++;
	if (srv.bev != NULL) { /* one connection at a time */
		close(fd);
		return;
	}
	srv.bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(srv.bev, srv_read, NULL, srv_event, NULL);
	bufferevent_enable(srv.bev, EV_READ | EV_WRITE);
	srv_answer(&srv.script[srv.next++]); /* the greeting */
}

/* A fresh listener (and so a fresh session key) for each script. */
static void
srv_start(const struct step *script)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	srv_close();
	memset(&srv, 0, sizeof(srv));
	srv.script = script;
	if (listener != NULL)
		evconnlistener_free(listener);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = evconnlistener_new_bind(base, srv_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (listener == NULL)
		fatalx("listener");
	getsockname(
	    evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
}

/* ---- jobs ---- */

static const char BODY[] = "Subject: test\r\n\r\n.a line that starts "
                           "with a dot\r\nbye\r\n";

static struct smtp_job *
job_new(size_t nrcpt, const char *const *rcpts, const char *body)
{
	struct smtp_job *job = xcalloc(1, sizeof(*job));
	char key[64];
	size_t i, len = wire_encode(body, strlen(body), NULL);

	job->w = &w;
	job->id = 1;
	strlcpy(job->qid, "0000000000000001", sizeof(job->qid));
	job->sender = xstrdup("s@a.example");
	job->envid = xstrdup("");
	job->hosts = xcalloc(1, sizeof(*job->hosts));
	job->nhosts = 1;
	job->hosts[0].name = xstrdup("mx.b.example");
	job->hosts[0].addr = xstrdup("127.0.0.1");
	job->hosts[0].port = (uint16_t)port;
	job->hosts[0].nexthop = xstrdup("");
	job->hosts[0].tlsa = xstrdup("");
	job->hosts[0].flags = job_hflags;
	job->rcpts = xcalloc(nrcpt, sizeof(*job->rcpts));
	job->nrcpt = nrcpt;
	for (i = 0; i < nrcpt; i++) {
		job->rcpts[i].index = (uint32_t)i;
		job->rcpts[i].address = xstrdup(rcpts[i]);
		job->rcpts[i].orcpt = xstrdup("");
	}
	snprintf(key, sizeof(key), "127.0.0.1:%d", port);
	job->key = xstrdup(key);
	job->wire = xmalloc(sizeof(*job->wire) + len);
	job->wire->refs = 1;
	job->wire->len = wire_encode(body, strlen(body), job->wire->data);
	job->size = strlen(body);
	job->running = 1;
	TAILQ_INSERT_TAIL(&w.jobs, job, entry);
	return job;
}

static void
give_up(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev;
	*(int *)arg = 1;
	event_base_loopbreak(base);
}

/* Run the event loop until cond holds, for at most ten seconds. */
static int
run_until(int (*cond)(void))
{
	struct timeval tv = {10, 0}, tick = {0, 10000};
	int expired = 0;
	struct event *t = evtimer_new(base, give_up, &expired);

	evtimer_add(t, &tv);
	while (!cond() && !expired) {
		struct event *k = evtimer_new(base, give_up, &(int){0});

		evtimer_add(k, &tick);
		event_base_loop(base, EVLOOP_ONCE);
		event_free(k);
	}
	event_free(t);
	return cond();
}

static int
job_is_done(void)
{
	return out.done;
}

static int
no_sessions(void)
{
	return w.nsessions == 0;
}

/* Deliver one job through script; the outcome is in out. */
static void
deliver(const struct step *script, size_t nrcpt, const char *const *rcpts,
    const char *body)
{
	memset(&out, 0, sizeof(out));
	memset(&rpt, 0, sizeof(rpt));
	srv_start(script);
	session_job_start(job_new(nrcpt, rcpts, body));
	if (!run_until(job_is_done))
		printf("# the job did not end\n");
}

/* Let the idle session go (QUIT answered by the script, or not). */
static void
finish(void)
{
	session_quit_idle(&w);
	run_until(no_sessions);
}

static int
got_index(const char *prefix)
{
	int i;

	for (i = 0; i < srv.nlines; i++)
		if (strncmp(srv.got[i], prefix, strlen(prefix)) == 0)
			return i;
	return -1;
}

/* ---- the scripts ---- */

#define EHLO_PIPE                                                              \
	"250-mx.b.example\n250-PIPELINING\n250-SIZE 1000000\n250-8BITMIME\n"   \
	"250 ENHANCEDSTATUSCODES"

static const char *const TWO[] = {"r1@b.example", "r2@b.example"};

static void
test_pipelined_transaction(void)
{
	static const struct step s[] = {{NULL, "220 mx.b.example ESMTP"},
	    {"EHLO ", EHLO_PIPE},
	    {"MAIL FROM:<s@a.example> SIZE=", "250 2.1.0 Ok"},
	    {"RCPT TO:<r1@b.example>", "250 2.1.5 Ok"},
	    {"RCPT TO:<r2@b.example>", "250 2.1.5 Ok"},
	    {"DATA", "354 go ahead"}, {".", "250 2.0.0 Ok: queued as X1"},
	    {"QUIT", "221 2.0.0 Bye"}, {NULL, NULL}};
	int mail, data;

	deliver(s, 2, TWO, BODY);
	ok(out.done && !srv.mismatch, "pipelined: the script ran through");
	is_int(out.cls[0], 2, "pipelined: first recipient sent");
	is_int(out.cls[1], 2, "pipelined: second recipient sent");
	ok(strstr(out.reason[0], "queued as X1") != NULL,
	    "pipelined: the reason is the server's final reply (%s)",
	    out.reason[0]);
	mail = got_index("MAIL FROM:");
	data = got_index("DATA");
	ok(mail >= 0 && data > mail && srv.batch[data] == srv.batch[mail],
	    "pipelined: MAIL, both RCPTs and DATA sent before any reply");
	ok(strstr(srv.got[mail], "SIZE=") != NULL,
	    "pipelined: SIZE= given, the server offered SIZE");
	is_int(srv.body_lines, 4, "pipelined: four content lines");
	finish();
	is_int(srv.next, 8, "pipelined: the idle session QUITs when asked");
}

static void
test_lockstep_without_pipelining(void)
{
	static const struct step s[] = {{NULL, "220 mx.b.example ESMTP"},
	    {"EHLO ", "250-mx.b.example\n250 8BITMIME"},
	    {"MAIL FROM:<s@a.example>", "250 ok"},
	    {"RCPT TO:<r1@b.example>", "250 ok"},
	    {"RCPT TO:<r2@b.example>", "250 ok"}, {"DATA", "354 go"},
	    {".", "250 queued"}, {"QUIT", "221 bye"}, {NULL, NULL}};
	int i, ok_order = 1;

	deliver(s, 2, TWO, BODY);
	ok(out.done && !srv.mismatch, "lockstep: the script ran through");
	is_int(out.cls[0] * 10 + out.cls[1], 22, "lockstep: both sent");
	for (i = 1; i < srv.nlines; i++)
		if (srv.batch[i] == srv.batch[i - 1])
			ok_order = 0;
	ok(ok_order, "lockstep: each command waited for the reply before it");
	ok(strstr(srv.got[got_index("MAIL")], "SIZE=") == NULL,
	    "lockstep: no SIZE= to a server that did not offer SIZE");
	finish();
}

static void
test_ehlo_refused_helo(void)
{
	static const struct step s[] = {{NULL, "220 old.example SMTP"},
	    {"EHLO ", "502 5.5.2 what?"}, {"HELO ", "250 old.example"},
	    {"MAIL FROM:<s@a.example>", "250 ok"},
	    {"RCPT TO:<r1@b.example>", "250 ok"}, {"DATA", "354 go"},
	    {".", "250 ok"}, {"QUIT", "221 bye"}, {NULL, NULL}};

	deliver(s, 1, TWO, BODY);
	ok(out.done && !srv.mismatch, "HELO: the script ran through");
	is_int(out.cls[0], 2, "HELO: sent after EHLO was refused");
	finish();
}

static void
test_greeting_421(void)
{
	static const struct step s[] = {
	    {NULL, "421 4.3.2 mx.b.example closing: try later"}, {NULL, NULL}};

	/* the server closes after its 421; the client has nothing to say */

	deliver(s, 2, TWO, BODY);
	is_int(out.cls[0] * 10 + out.cls[1], 44, "421 greeting: deferred");
	ok(strstr(out.reason[0], "421 4.3.2") != NULL,
	    "421 greeting: the reason quotes the server (%s)", out.reason[0]);
	is_int(out.established, 0, "421 greeting: no session established");
	finish();
}

static void
test_rcpt_replies_per_recipient(void)
{
	static const char *const three[] = {
	    "gone@b.example", "busy@b.example", "ok@b.example"};
	static const struct step s[] = {{NULL, "220 mx"}, {"EHLO ", EHLO_PIPE},
	    {"MAIL FROM:", "250 ok"},
	    {"RCPT TO:<gone@b.example>", "550 5.1.1 no such user"},
	    {"RCPT TO:<busy@b.example>", "450 4.2.1 mailbox busy"},
	    {"RCPT TO:<ok@b.example>", "250 ok"}, {"DATA", "354 go"},
	    {".", "250 2.0.0 queued"}, {"QUIT", "221 bye"}, {NULL, NULL}};

	deliver(s, 3, three, BODY);
	ok(out.done && !srv.mismatch, "per recipient: the script ran through");
	is_int(out.cls[0], 5, "per recipient: 550 bounces that one");
	is_str(out.dsn[0], "5.1.1", "per recipient: with the server's code");
	is_int(out.cls[1], 4, "per recipient: 450 defers that one");
	is_int(out.cls[2], 2, "per recipient: the third is sent");
	finish();
}

static void
test_all_recipients_refused_pipelined(void)
{
	static const struct step s[] = {{NULL, "220 mx"}, {"EHLO ", EHLO_PIPE},
	    {"MAIL FROM:", "250 ok"},
	    {"RCPT TO:<r1@b.example>", "550 5.1.1 no"},
	    {"RCPT TO:<r2@b.example>", "550 5.1.1 no"},
	    {"DATA", "554 5.5.1 no valid recipients"}, {"RSET", "250 ok"},
	    {"MAIL FROM:", "250 ok"}, {"RCPT TO:<r1@b.example>", "250 ok"},
	    {"RCPT TO:<r2@b.example>", "250 ok"}, {"DATA", "354 go"},
	    {".", "250 ok"}, {"QUIT", "221 bye"}, {NULL, NULL}};

	deliver(s, 2, TWO, BODY);
	is_int(out.cls[0] * 10 + out.cls[1], 55,
	    "no recipient taken: both bounce, no content sent");
	is_int(
	    srv.body_lines, 0, "no recipient taken: the DATA got no content");
	/* the next message reuses the connection, after an RSET */
	memset(&out, 0, sizeof(out));
	session_job_start(job_new(2, TWO, BODY));
	run_until(job_is_done);
	ok(!srv.mismatch && srv.connections == 1,
	    "reuse: the next job RSETs and goes on the same connection");
	is_int(out.cls[0] * 10 + out.cls[1], 22, "reuse: both sent");
	finish();
}

static void
test_end_of_data_replies(void)
{
	static const struct step temp[] = {{NULL, "220 mx"},
	    {"EHLO ", EHLO_PIPE}, {"MAIL FROM:", "250 ok"},
	    {"RCPT TO:", "250 ok"}, {"DATA", "354 go"},
	    {".", "451 4.3.0 try again later"}, {"QUIT", "221 bye"},
	    {NULL, NULL}};
	static const struct step perm[] = {{NULL, "220 mx"},
	    {"EHLO ", EHLO_PIPE}, {"MAIL FROM:", "250 ok"},
	    {"RCPT TO:", "250 ok"}, {"DATA", "354 go"},
	    {".", "554 5.7.1 content rejected"}, {"QUIT", "221 bye"},
	    {NULL, NULL}};

	deliver(temp, 1, TWO, BODY);
	is_int(out.cls[0], 4, "451 after the content: deferred");
	ok(strstr(out.reason[0], "451 4.3.0") != NULL,
	    "451 after the content: the reason says so (%s)", out.reason[0]);
	finish();
	deliver(perm, 1, TWO, BODY);
	is_int(out.cls[0], 5, "554 after the content: bounced");
	is_str(out.dsn[0], "5.7.1", "554 after the content: its code");
	finish();
}

static void
test_size_too_big(void)
{
	static const struct step s[] = {{NULL, "220 mx"},
	    {"EHLO ", "250-mx\n250-PIPELINING\n250 SIZE 20"},
	    {"QUIT", "221 bye"}, {NULL, NULL}};

	deliver(s, 1, TWO, BODY);
	is_int(out.cls[0], 5, "SIZE 20: the message is refused before MAIL");
	is_str(out.dsn[0], "5.3.4", "SIZE 20: 5.3.4");
	ok(got_index("MAIL") == -1, "SIZE 20: no MAIL sent");
	finish();
}

static void
test_dropped_after_mail(void)
{
	static const struct step s[] = {{NULL, "220 mx"},
	    {"EHLO ", "250-mx\n250 8BITMIME"}, {"MAIL FROM:", "CLOSE"},
	    {NULL, NULL}};

	deliver(s, 1, TWO, BODY);
	is_int(out.cls[0], 4, "dropped at MAIL: deferred");
	is_str(out.dsn[0], "4.4.2", "dropped at MAIL: 4.4.2");
	ok(strstr(out.reason[0],
	       "lost connection with mx.b.example"
	       "[127.0.0.1] while sending MAIL FROM") != NULL,
	    "dropped at MAIL: Postfix's words (%s)", out.reason[0]);
	finish();
}

static void
test_dropped_after_content(void)
{
	static const struct step s[] = {{NULL, "220 mx"}, {"EHLO ", EHLO_PIPE},
	    {"MAIL FROM:", "250 ok"}, {"RCPT TO:", "250 ok"},
	    {"DATA", "354 go"}, {".", "CLOSE"}, {NULL, NULL}};

	deliver(s, 1, TWO, BODY);
	is_int(out.cls[0], 4, "dropped after the content: deferred, not sent");
	ok(strstr(out.reason[0], "may be sent more than once") != NULL,
	    "dropped after the content: says it may come twice (%s)",
	    out.reason[0]);
	finish();
}

static void
test_malformed_reply(void)
{
	static const struct step s[] = {{NULL, "220 mx"},
	    {"EHLO ", "250-mx\n250 8BITMIME"}, {"MAIL FROM:", "25O ok"},
	    {NULL, NULL}};

	deliver(s, 1, TWO, BODY);
	is_int(out.cls[0], 4, "malformed reply: deferred");
	is_str(out.dsn[0], "4.5.0", "malformed reply: 4.5.0");
	finish();
}

static void
test_stall_times_out(void)
{
	static const struct step s[] = {{NULL, "220 mx"},
	    {"EHLO ", "250-mx\n250 8BITMIME"}, {"MAIL FROM:", ""},
	    {NULL, NULL}};

	w.cfg.smtp_helo_timeout = 1;
	deliver(s, 1, TWO, BODY);
	is_int(out.cls[0], 4, "stall at MAIL: deferred after the time-out");
	ok(strstr(out.reason[0], "timed out") != NULL,
	    "stall at MAIL: the reason says timed out (%s)", out.reason[0]);
	w.cfg.smtp_helo_timeout = 300;
	finish();
}

static void
test_stall_at_data(void)
{
	static const struct step s[] = {{NULL, "220 mx"},
	    {"EHLO ", "250-mx\n250 8BITMIME"}, {"MAIL FROM:", "250 ok"},
	    {"RCPT TO:", "250 ok"}, {"DATA", ""}, {NULL, NULL}};

	w.cfg.smtp_data_timeout = 1;
	deliver(s, 1, TWO, BODY);
	is_int(out.cls[0], 4, "stall at DATA: deferred after the time-out");
	ok(strstr(out.reason[0], "timed out while sending DATA command") !=
	        NULL,
	    "stall at DATA: the reason says where (%s)", out.reason[0]);
	w.cfg.smtp_data_timeout = 180;
	finish();
}

/* Each state's own time-out: the greeting gets smtp_helo_timeout (not
 * the connect time-out), an idle session smtp_connection_idle_time (not
 * the data time-out of the state before it). */
static void
test_timeouts_of_the_state_entered(void)
{
	static const struct step silent[] = {{NULL, ""}, {NULL, NULL}};
	static const struct step ok1[] = {{NULL, "220 mx"},
	    {"EHLO ", "250-mx\n250 8BITMIME"}, {"MAIL FROM:", "250 ok"},
	    {"RCPT TO:", "250 ok"}, {"DATA", "354 go"}, {".", "250 ok"},
	    {"QUIT", "221 bye"}, {NULL, NULL}};
	double t0;

	w.cfg.smtp_helo_timeout = 1;
	w.cfg.smtp_connect_timeout = 60;
	t0 = now_sec();
	deliver(silent, 1, TWO, BODY);
	ok(strstr(out.reason[0],
	       "timed out while receiving the initial "
	       "server greeting") != NULL,
	    "silent greeting: timed out (%s)", out.reason[0]);
	ok(now_sec() - t0 < 5,
	    "silent greeting: after smtp_helo_timeout "
	    "(%.1f s), not the connect time-out",
	    now_sec() - t0);
	finish();
	w.cfg.smtp_helo_timeout = 300;
	w.cfg.smtp_connect_timeout = 30;

	w.cfg.smtp_connection_idle_time = 1;
	deliver(ok1, 1, TWO, BODY);
	is_int(out.cls[0], 2, "idle time: sent");
	ok(run_until(no_sessions) && srv.next == 7,
	    "idle time: the idle session QUITs by itself after "
	    "smtp_connection_idle_time, not the data time-out");
	w.cfg.smtp_connection_idle_time = 300;
}

static void
test_421_in_transaction(void)
{
	static const struct step s[] = {{NULL, "220 mx"}, {"EHLO ", EHLO_PIPE},
	    {"MAIL FROM:", "421 4.4.2 shutting down"}, {NULL, NULL}};

	deliver(s, 2, TWO, BODY);
	is_int(out.cls[0] * 10 + out.cls[1], 44, "421 at MAIL: both deferred");
	ok(strstr(out.reason[1], "421 4.4.2") != NULL,
	    "421 at MAIL: the reason quotes it (%s)", out.reason[1]);
	finish();
	is_int(w.nsessions, 0, "421 at MAIL: the connection is not kept");
}

static void
test_multiline_and_long_lines(void)
{
	static char ehlo[8192];
	static struct step s[] = {{NULL, "220-mx\n220-welcome\n220 ready"},
	    {"EHLO ", NULL}, {"MAIL FROM:", "250 ok"}, {"RCPT TO:", "250 ok"},
	    {"DATA", "354 go"}, {".", "250 ok"}, {"QUIT", "221 bye"},
	    {NULL, NULL}};
	size_t n;

	/* a reply line far past the longest kept is cut, not fatal */
	n = (size_t)snprintf(ehlo, sizeof(ehlo), "250-mx\n250-X-LONG ");
	memset(ehlo + n, 'x', 6000);
	strlcpy(ehlo + n + 6000, "\n250 PIPELINING", sizeof(ehlo) - n - 6000);
	s[1].reply = ehlo;
	deliver(s, 1, TWO, BODY);
	ok(out.done && !srv.mismatch, "long EHLO line: the script ran through");
	is_int(out.cls[0], 2, "long EHLO line: sent");
	ok(got_index("DATA") >= 0 &&
	        srv.batch[got_index("DATA")] == srv.batch[got_index("MAIL")],
	    "long EHLO line: PIPELINING after it still seen");
	finish();
}

/* Whether the log file holds a line with text; the file is emptied. */
static int
log_has(const char *path, const char *text)
{
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "r");
	int found;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	found = strstr(buf, text) != NULL;
	if (truncate(path, 0) == -1)
		fatalx("truncate %s", path);
	return found;
}

/*
 * MTA-STS in enforce mode requires TLS as "verify" does: a server that
 * does not offer STARTTLS, or refuses it, fails the host with 4.7.4 and
 * nothing is sent in plain text. In testing mode the mail goes on as
 * "may" would, with what enforce would have refused logged. Either way
 * the outcome is reported once, as starttls-not-supported under "sts".
 */
static void
test_mta_sts_levels(void)
{
	static const struct step plain[] = {{NULL, "220 mx.b.example ESMTP"},
	    {"EHLO ", "250-mx.b.example\n250 8BITMIME"}, {"QUIT", "221 bye"},
	    {NULL, NULL}};
	static const struct step refused[] = {{NULL, "220 mx.b.example"},
	    {"EHLO ", "250-mx.b.example\n250 STARTTLS"},
	    {"STARTTLS", "454 4.7.0 TLS not available"}, {"QUIT", "221 bye"},
	    {NULL, NULL}};
	static const struct step testing[] = {{NULL, "220 mx.b.example"},
	    {"EHLO ", "250-mx.b.example\n250 8BITMIME"},
	    {"MAIL FROM:<s@a.example>", "250 ok"},
	    {"RCPT TO:<r1@b.example>", "250 ok"}, {"DATA", "354 go"},
	    {".", "250 ok"}, {"QUIT", "221 bye"}, {NULL, NULL}};
	char logf[] = "/tmp/session_test.XXXXXX", want[256];
	int fd = mkstemp(logf);

	if (fd == -1 || log_init("session_test", logf, "mail") == -1)
		fatalx("cannot log to %s", logf);
	close(fd);
	job_hflags = TLS_STS << HOST_F_TLS_SHIFT;
	deliver(plain, 1, TWO, BODY);
	is_int(out.cls[0], 4, "mta-sts, no STARTTLS: deferred");
	is_str(out.dsn[0], "4.7.4", "mta-sts, no STARTTLS: 4.7.4");
	ok(got_index("MAIL") == -1 && !srv.mismatch,
	    "mta-sts, no STARTTLS: nothing sent in plain text");
	ok(rpt.n == 1 && rpt.policy == TLSRPT_P_STS &&
	        rpt.result == TLSRPT_R_STARTTLS_NOT_SUPPORTED &&
	        strcmp(rpt.mx, "mx.b.example") == 0,
	    "mta-sts, no STARTTLS: reported once, sts, "
	    "starttls-not-supported, mx.b.example");
	finish();

	deliver(refused, 1, TWO, BODY);
	is_str(out.dsn[0], "4.7.4", "mta-sts, STARTTLS refused: 4.7.4");
	ok(got_index("MAIL") == -1 && !srv.mismatch,
	    "mta-sts, STARTTLS refused: nothing sent in plain text");
	is_int(rpt.result, TLSRPT_R_STARTTLS_NOT_SUPPORTED,
	    "mta-sts, STARTTLS refused: starttls-not-supported");
	finish();
	ok(!log_has(logf, "testing mode"),
	    "mta-sts: enforce mode logs no testing line");

	job_hflags = TLS_STS_TESTING << HOST_F_TLS_SHIFT;
	deliver(testing, 1, TWO, BODY);
	is_int(out.cls[0], 2, "mta-sts testing, no STARTTLS: delivered");
	ok(rpt.n == 1 && rpt.policy == TLSRPT_P_STS &&
	        rpt.result == TLSRPT_R_STARTTLS_NOT_SUPPORTED,
	    "mta-sts testing, no STARTTLS: reported as a failure under sts");
	finish();
	snprintf(want, sizeof(want),
	    "mx.b.example[127.0.0.1]:%d: MTA-STS policy in testing mode: "
	    "would refuse: STARTTLS not offered; delivering anyway",
	    port);
	ok(log_has(logf, want), "mta-sts testing: logged: %s", want);
	job_hflags = TLS_MAY << HOST_F_TLS_SHIFT;
	deliver(testing, 1, TWO, BODY);
	finish();
	ok(rpt.n == 1 && rpt.policy == TLSRPT_P_NONE &&
	        rpt.result == TLSRPT_R_STARTTLS_NOT_SUPPORTED,
	    "may, no STARTTLS: starttls-not-supported, no policy");
	job_hflags = (TLS_STS_TESTING << HOST_F_TLS_SHIFT) | HOST_F_RELAY;
	deliver(testing, 1, TWO, BODY);
	finish();
	is_int(rpt.n, 0, "a relay's TLS is not reported");
	job_hflags = 0;
	log_init("session_test", "stderr", "mail");
	unlink(logf);
}

int
main(void)
{
	log_init("session_test", "stderr", "mail");
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	config_defaults(&w.cfg);
	w.cfg.smtp_helo_timeout = 300;
	w.base = base;
	w.max_sessions = 4;
	TAILQ_INIT(&w.jobs);
	TAILQ_INIT(&w.sessions);
	TAILQ_INIT(&w.kept);

	test_pipelined_transaction();
	test_lockstep_without_pipelining();
	test_ehlo_refused_helo();
	test_greeting_421();
	test_rcpt_replies_per_recipient();
	test_all_recipients_refused_pipelined();
	test_end_of_data_replies();
	test_size_too_big();
	test_dropped_after_mail();
	test_dropped_after_content();
	test_malformed_reply();
	test_stall_times_out();
	test_stall_at_data();
	test_timeouts_of_the_state_entered();
	test_421_in_transaction();
	test_multiline_and_long_lines();
	test_mta_sts_levels();

	if (listener != NULL)
		evconnlistener_free(listener);
	srv_close();
	config_free(&w.cfg);
	event_base_free(base);
	return done_testing();
}
