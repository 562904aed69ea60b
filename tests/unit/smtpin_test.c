/*
 * smtpin_test.c - the -bs SMTP engine (common/smtpin.c): replies and
 * their order for pipelined input, command sequence, syntax errors,
 * parameters, dot-unstuffing, the size limit, input split anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "smtpin.h"

/* What the fake caller saw. */
struct seen {
	char sender[600], body[16], rcpts[2048];
	unsigned long long size;
	char msg[16384];
	size_t msglen;
	int messages, resets;
	const char *refuse_mail, *refuse_rcpt;
};

static const char *
t_mail(void *arg, const struct smtpin_mail *m)
{
	struct seen *s = arg;

	snprintf(s->sender, sizeof(s->sender), "%s", m->addr);
	snprintf(s->body, sizeof(s->body), "%s", m->body ? m->body : "");
	s->size = m->size;
	return s->refuse_mail;
}

static const char *
t_rcpt(void *arg, const char *addr)
{
	struct seen *s = arg;

	if (s->refuse_rcpt != NULL && strstr(addr, "bad") != NULL)
		return s->refuse_rcpt;
	strlcat(s->rcpts, addr, sizeof(s->rcpts));
	strlcat(s->rcpts, ";", sizeof(s->rcpts));
	return NULL;
}

static const char *
t_data(void *arg, const char *msg, size_t len)
{
	struct seen *s = arg;

	if (len < sizeof(s->msg)) {
		memcpy(s->msg, msg, len);
		s->msglen = len;
	}
	s->messages++;
	return "250 2.0.0 Ok: queued";
}

static void
t_reset(void *arg)
{
	((struct seen *)arg)->resets++;
}

static const struct smtpin_ops ops = {t_mail, t_rcpt, t_data, t_reset};

/* Feed input in pieces of step octets (0: all at once) as a driver
 * would, keeping what was not used; returns every reply, joined. */
static char *
run(struct smtpin *si, const char *in, size_t step)
{
	size_t inlen = strlen(in), off = 0, have = 0, used, n, len;
	char *buf = malloc(inlen + 1), *out = calloc(1, 65536);
	const char *o;
	int eof;

	for (;;) {
		n = step == 0 ? inlen - off : step;
		if (n > inlen - off)
			n = inlen - off;
		memcpy(buf + have, in + off, n);
		have += n;
		off += n;
		eof = off == inlen;
		used = smtpin_feed(si, buf, have, eof);
		memmove(buf, buf + used, have - used);
		have -= used;
		o = smtpin_output(si, &len);
		strncat(out, o, len);
		smtpin_output_done(si);
		if (eof || smtpin_closed(si))
			break;
	}
	free(buf);
	return out;
}

/* Reply codes only, one per line: "220 250 250 ...". */
static char *
codes(const char *out)
{
	char *c = calloc(1, strlen(out) + 1);
	const char *p;

	for (p = out; *p != '\0'; p = strchr(p, '\n') + 1) {
		strncat(c, p, 3);
		strcat(c, p[3] == '-' ? "- " : " ");
		if (strchr(p, '\n') == NULL)
			break;
	}
	if (*c != '\0')
		c[strlen(c) - 1] = '\0';
	return c;
}

static void
test_pipelined_session(size_t step)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 10000, &ops, &s);
	char *out, *c;

	smtpin_greet(si);
	out = run(si,
	    "EHLO client.example\r\n"
	    "MAIL FROM:<alice@example.org> SIZE=120 BODY=8BITMIME\r\n"
	    "RCPT TO:<bob@example.net>\r\n"
	    "RCPT TO:<carol@example.net>\r\n"
	    "DATA\r\n"
	    "Subject: hi\r\n\r\n..dot\r\n.a\r\nlast\r\n.\r\n"
	    "QUIT\r\n",
	    step);
	c = codes(out);
	is_str(c, "220 250- 250- 250- 250- 250 250 250 250 354 250 221",
	    "pipelined replies in order (step %zu)", step);
	ok(strstr(out, "250-PIPELINING\r\n") &&
	        strstr(out, "250-SIZE 10000\r\n") &&
	        strstr(out, "250-ENHANCEDSTATUSCODES\r\n") &&
	        strstr(out, "250 8BITMIME\r\n"),
	    "EHLO advertises PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME");
	is_str(s.sender, "alice@example.org", "sender");
	is_str(s.body, "8BITMIME", "BODY=");
	is_int(s.size, 120, "SIZE=");
	is_str(s.rcpts, "bob@example.net;carol@example.net;", "recipients");
	is_int(s.messages, 1, "one message");
	ok(s.msglen == strlen("Subject: hi\n\n.dot\na\nlast\n") &&
	        memcmp(s.msg, "Subject: hi\n\n.dot\na\nlast\n", s.msglen) == 0,
	    "dot-unstuffed, LF line ends (step %zu)", step);
	ok(smtpin_closed(si) && !smtpin_pending(si), "closed after QUIT");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_sequence(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 10000, &ops, &s);
	char *out, *c;

	out = run(si,
	    "RCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<>\r\nMAIL FROM:<x@y>\r\n"
	    "DATA\r\nRCPT TO:<a@b>\r\nRSET\r\nDATA\r\nNOOP\r\n",
	    0);
	c = codes(out);
	is_str(c, "503 503 250 503 503 250 250 503 250",
	    "503 for RCPT/DATA without MAIL, nested MAIL, DATA without RCPT");
	is_str(s.sender, "", "null sender passed as empty");
	ok(!smtpin_pending(si) && !smtpin_closed(si),
	    "no transaction after RSET");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_syntax(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 10000, &ops, &s);
	char *out, *c;

	out = run(si,
	    "EHLO\r\nHELO\r\nFOO bar\r\n\r\nMAIL FROM:alice\r\n"
	    "RCPT TO:<unterminated\r\nRCPT TO:<b@x> NOTIFY=NEVER\r\n"
	    "RCPT TO:<@relay.example:c@x>\r\nVRFY\r\nVRFY root\r\nHELP\r\n"
	    "EXPN list\r\nRSET now\r\nhelo host.example\r\n",
	    0);
	c = codes(out);
	is_str(c, "501 501 500 500 250 501 555 250 501 252 214 502 501 250",
	    "syntax errors 500/501/555, bare address accepted, VRFY 252");
	is_str(s.sender, "alice", "address without brackets");
	is_str(s.rcpts, "c@x;", "source route dropped");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_params(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 1000, &ops, &s);
	char *out, *c;

	out = run(si,
	    "MAIL FROM:<a@b> SIZE=1001\r\nMAIL FROM:<a@b> SIZE=x\r\n"
	    "MAIL FROM:<a@b> BODY=BINARYMIME\r\nMAIL FROM:<a@b> AUTH=<>\r\n"
	    "MAIL FROM:<\"a >b\"@c> body=7bit\r\n",
	    0);
	c = codes(out);
	is_str(c, "552 501 501 555 250",
	    "SIZE over the limit 552, bad values 501, unknown option 555");
	is_str(s.sender, "\"a >b\"@c", "quoted local part with > and space");
	is_str(s.body, "7BIT", "BODY=7bit");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_too_big(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 1024, &ops, &s);
	char *in = malloc(8192), *out, *c;
	size_t i, n;

	n = (size_t)sprintf(in, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(in + n, "%050zu\r\n", i);
	sprintf(in + n, ".\r\nMAIL FROM:<a@b>\r\n");
	out = run(si, in, 7);
	c = codes(out);
	is_str(c, "250 250 354 552 250", "552 after the dot, then a new MAIL");
	is_int(s.messages, 0, "nothing handed over");
	free(c);
	free(out);
	free(in);
	smtpin_free(si);
}

static void
test_refusals(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 1000, &ops, &s);
	char *out, *c;

	s.refuse_rcpt = "550 5.1.1 no";
	out = run(
	    si, "MAIL FROM:<a@b>\r\nRCPT TO:<bad@x>\r\nDATA\r\nRSET\r\n", 0);
	c = codes(out);
	is_str(c, "250 550 554 250", "all RCPTs refused: DATA gets 554");
	free(c);
	free(out);
	s.refuse_mail = "452 4.3.1 the queue is full";
	out = run(si, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 0);
	c = codes(out);
	is_str(c, "452 503", "MAIL refused by the caller: no transaction");
	ok(strstr(out, "452 4.3.1 the queue is full\r\n") != NULL,
	    "caller's reply text passed through");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_long_lines(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 100000, &ops, &s);
	size_t big = 3 * 4096 + 17, n, i;
	char *in = malloc(big * 2 + 4096), *out, *c;

	/* An over-long command is refused and the next one still works. */
	n = (size_t)sprintf(in, "NOOP ");
	memset(in + n, 'x', 3000);
	n += 3000;
	n += (size_t)sprintf(in + n,
	    "\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
	    "DATA\r\n.");
	memset(in + n, 'y', big);
	n += big;
	sprintf(in + n, "\r\n.\r\n");
	out = run(si, in, 1000);
	c = codes(out);
	is_str(
	    c, "500 250 250 354 250", "long command 500, long data line kept");
	ok(s.msglen == big + 1, "long line whole, leading dot removed");
	for (i = 0; i < big && s.msg[i] == 'y'; i++)
		;
	ok(i == big && s.msg[big] == '\n', "content intact");
	free(c);
	free(out);
	free(in);
	smtpin_free(si);
}

static void
test_eof(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 1000, &ops, &s);
	char *out;

	out = run(si, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\npart", 0);
	ok(smtpin_pending(si), "EOF inside DATA leaves a transaction pending");
	is_int(s.messages, 0, "and hands nothing over");
	free(out);
	smtpin_free(si);

	si = smtpin_new("mx.test", 1000, &ops, &s);
	out = run(si, "EHLO x\nNOOP\n", 0);
	ok(!smtpin_pending(si) && !smtpin_closed(si), "EOF between commands");
	ok(strstr(out, "250 2.0.0 Ok\r\n") != NULL, "bare LF line ends taken");
	free(out);
	smtpin_free(si);
}

/* A message whose first line is empty: nothing stored yet, an empty
 * line to store (fails under the sanitizers without the fix). */
static void
test_empty_first_line(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 1000, &ops, &s);
	char *out;

	out = run(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n\r\nbody\r\n.\r\n", 0);
	is_int(s.messages, 1, "message starting with an empty line taken");
	ok(s.msglen == 6 && memcmp(s.msg, "\nbody\n", 6) == 0,
	    "its empty first line kept");
	free(out);
	smtpin_free(si);
}

static void
test_too_many_errors(void)
{
	struct seen s = {0};
	struct smtpin *si = smtpin_new("mx.test", 1000, &ops, &s);
	char in[1024] = "", *out;
	int i;

	for (i = 0; i < SMTPIN_ERRORS_MAX + 5; i++)
		strcat(in, "BOGUS\r\n");
	out = run(si, in, 0);
	ok(smtpin_closed(si), "session ends after too many errors");
	ok(strstr(out, "421 4.7.0") != NULL, "with a 421");
	free(out);
	smtpin_free(si);
}

int
main(void)
{
	test_pipelined_session(0);
	test_pipelined_session(1);
	test_pipelined_session(5);
	test_sequence();
	test_syntax();
	test_params();
	test_too_big();
	test_refusals();
	test_long_lines();
	test_eof();
	test_empty_first_line();
	test_too_many_errors();
	return done_testing();
}
