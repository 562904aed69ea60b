/*
 * sendmail_smtp.c - `ncsendmail -bs`: an SMTP session on stdin/stdout for
 * programs that submit over a pipe. The protocol is smtpin's; here each
 * transaction becomes an envelope (DSN parameters as -N, -R, -V give
 * them, and each recipient's ORCPT), the content is gathered in memory, and each message goes through
 * the same maildrop writer as a normal submission before its 250 is sent.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "ncsendmail.h"
#include "smtpin.h"
#include "util.h"

#define BS_BUF (64 * 1024) /* client bytes held: > any line smtpin waits on */
#define BS_TIMEOUT_MS (300 * 1000) /* RFC 5321's server time-out */
#define BS_RCPT_LIMIT 1000 /* recipients per message */
#define BS_ERROR_LIMIT 20 /* client errors before the session ends */

/* The session's own state: replies built here outlive the hook call. */
struct bs {
	struct smtpin *si;
	char reply[512];
	char *fullname; /* -F, kept for every message */
	char *buf; /* client bytes not yet used */
	char *msg; /* the content of the message being received */
	size_t msglen, msgcap;
	int open; /* MAIL accepted, its content not yet answered */
};

static struct bs bs;

static void
bs_set(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
}

static void
bs_envelope_new(void)
{
	maildrop_clear(&sm.md);
	maildrop_init(&sm.md);
	if (bs.fullname != NULL)
		bs_set(&sm.md.fullname, bs.fullname);
}

static const char *
bs_mail(void *arg, const struct smtpin_mail *m)
{
	char addr[ADDR_MAX];
	const char *err = NULL;
	struct sm_err e;

	(void)arg;
	bs_envelope_new();
	if (addr_normalize(m->addr, sm.cfg.myorigin,
	        ADDR_NULL_OK | (m->smtputf8 ? ADDR_UTF8 : 0), addr,
	        sizeof(addr), &err) == -1) {
		if (strcmp(err, ADDR_ERR_8BIT) == 0)
			return SMTPIN_NEED_SMTPUTF8;
		snprintf(bs.reply, sizeof(bs.reply),
		    "501 5.1.7 Bad sender address syntax (%s)", err);
		return bs.reply;
	}
	if (sm_drop_room(m->size, &e) == -1) {
		snprintf(bs.reply, sizeof(bs.reply), "452 4.3.1 %s", e.text);
		return bs.reply;
	}
	bs_set(&sm.md.sender, addr);
	sm.md.smtputf8 = m->smtputf8;
	if (m->body != NULL)
		bs_set(&sm.md.body_type, m->body);
	if (m->ret != NULL)
		bs_set(&sm.md.ret, m->ret);
	if (m->envid != NULL)
		bs_set(&sm.md.envid, m->envid);
	bs.open = 1;
	return NULL;
}

/* NOTIFY and ORCPT as maildrop_smtp_rcpt() keeps them: one NOTIFY per
 * message (452 4.5.3 for a recipient that asks for another), ORCPT per
 * recipient. */
static const char *
bs_rcpt(void *arg, const struct smtpin_rcpt *r)
{
	char addr[ADDR_MAX];
	const char *err = NULL;

	(void)arg;
	if (addr_normalize(r->addr, sm.cfg.myorigin,
	        sm.md.smtputf8 ? ADDR_UTF8 : 0, addr, sizeof(addr),
	        &err) == -1) {
		if (strcmp(err, ADDR_ERR_8BIT) == 0)
			return SMTPIN_NEED_SMTPUTF8;
		snprintf(bs.reply, sizeof(bs.reply),
		    "501 5.1.3 Bad recipient address syntax (%s)", err);
		return bs.reply;
	}
	return maildrop_smtp_rcpt(&sm.md, addr, r->notify, r->orcpt);
}

/* The content, bounded by message_size_limit (smtpin's size_limit). */
static const char *
bs_data(void *arg, const char *p, size_t n)
{
	(void)arg;
	if (bs.msglen + n > bs.msgcap) {
		bs.msgcap = bs.msglen + n + bs.msgcap / 2 + 4096;
		bs.msg = xreallocarray(bs.msg, bs.msgcap, 1);
	}
	memcpy(bs.msg + bs.msglen, p, n);
	bs.msglen += n;
	return NULL;
}

/* The message into the maildrop, now: the reply never waits. */
static const char *
bs_data_end(void *arg)
{
	char name[96];
	struct sm_err e;

	(void)arg;
	bs.open = 0;
	maildrop_dedup(&sm.md);
	if (sm_drop_write(&sm.md, bs.msg, bs.msglen, name, sizeof(name), &e) ==
	    0)
		snprintf(bs.reply, sizeof(bs.reply),
		    "250 2.0.0 Ok: queued as maildrop/%s", name);
	else if (e.code == EX_TEMPFAIL)
		snprintf(bs.reply, sizeof(bs.reply), "451 4.3.0 %s", e.text);
	else
		snprintf(bs.reply, sizeof(bs.reply), "554 5.6.0 %s", e.text);
	return bs.reply;
}

/* A transaction dropped because the session ends on too many errors
 * stays open for bs_exit(): its message was not accepted. One the
 * client leaves with QUIT was its own choice: the session ended well. */
static void
bs_reset(void *arg)
{
	(void)arg;
	if (!smtpin_closed(bs.si) ||
	    smtpin_counts(bs.si)->given[SMTPIN_C_QUIT] > 0)
		bs.open = 0;
	bs.msglen = 0;
	bs_envelope_new();
}

static const struct smtpin_ops bs_ops = {.mail = bs_mail,
    .rcpt = bs_rcpt,
    .data = bs_data,
    .data_end = bs_data_end,
    .reset = bs_reset};

/* Write the replies smtpin has; -1 when the client is gone. */
static int
bs_flush(struct smtpin *si)
{
	const char *out;
	size_t len;

	out = smtpin_output(si, &len);
	if (len > 0 && write_all(STDOUT_FILENO, out, len) == -1)
		return -1;
	smtpin_output_done(si);
	return 0;
}

/* Read more client bytes after the have already held; returns 0, 1 at
 * end of input, -1 on a time-out or error. */
static int
bs_read(char *buf, size_t *have)
{
	struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
	ssize_t n;
	int rc;

	while ((rc = poll(&pfd, 1, BS_TIMEOUT_MS)) == -1 && errno == EINTR)
		;
	if (rc == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	while ((n = read(STDIN_FILENO, buf + *have, BS_BUF - *have)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1)
		return -1;
	*have += (size_t)n;
	return n == 0;
}

/* How the session ended: fine unless a transaction was cut short. */
static int
bs_exit(struct smtpin *si, const char *why)
{
	int open = bs.open;

	if (smtpin_closed(si))
		why = "too many errors";
	if (open)
		fprintf(stderr,
		    "ncsendmail: SMTP session ended (%s) in the middle of a "
		    "transaction; that message was not accepted\n",
		    why);
	smtpin_free(si);
	return open ? EX_IOERR : EX_OK;
}

int
sm_smtp(void)
{
	struct smtpin_config cfg = {.hostname = sm.cfg.myhostname,
	    .size_limit = (uint64_t)sm.cfg.message_size_limit,
	    .rcpt_limit = BS_RCPT_LIMIT,
	    .error_limit = BS_ERROR_LIMIT,
	    .ext = SMTPIN_EXT_SMTPUTF8 | SMTPIN_EXT_DSN | SMTPIN_EXT_CHUNKING};
	struct smtpin *si;
	char *buf = bs.buf = xmalloc(BS_BUF);
	size_t have = 0, used;
	int eof = 0;

	/* A client that goes away must not kill us mid-write. */
	signal(SIGPIPE, SIG_IGN);
	bs.fullname = sm.fullname_arg != NULL ? xstrdup(sm.fullname_arg) : NULL;
	si = bs.si = smtpin_new(&cfg, &bs_ops, NULL);
	smtpin_greet(si);
	for (;;) {
		used = smtpin_feed(si, buf, have, eof);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (bs_flush(si) == -1)
			return bs_exit(si, "client gone");
		if (smtpin_closed(si) || eof)
			break;
		if ((eof = bs_read(buf, &have)) == -1) {
			if (errno == ETIMEDOUT) {
				dprintf(STDOUT_FILENO,
				    "421 4.4.2 %s Error: timeout exceeded\r\n",
				    sm.cfg.myhostname);
				return bs_exit(si, "time-out");
			}
			return bs_exit(si, strerror(errno));
		}
	}
	return bs_exit(si, "end of input without QUIT");
}
