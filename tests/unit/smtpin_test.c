/*
 * smtpin_test.c - the SMTP server engine (common/smtpin.c) of -bs and
 * smtpd: replies and their order for pipelined input split anywhere,
 * command sequence, syntax, EHLO per configuration, MAIL and RCPT
 * parameters (DSN, SMTPUTF8), dot-unstuffing and streamed content, BDAT,
 * replies given later, STARTTLS, the limits, counts and the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "smtpin.h"

/* What the fake caller saw, and how it answers. */
struct seen {
	char sender[600], body[16], rcpts[2048], helo[64];
	char ret[8], envid[128], notify[256], orcpt[1024];
	unsigned long long size;
	int smtputf8;
	char msg[200000];
	size_t msglen;
	int pieces, messages, resets, starttls, overflow;
	const char *refuse_helo, *refuse_mail, *refuse_rcpt, *refuse_data;
	const char *reply; /* data_end's, else "250 2.0.0 Ok: queued" */
	char refused[4096]; /* ops->refused: "CMD|line|reply\n" each */
};

static const char *
t_helo(void *arg, const char *name, int extended)
{
	struct seen *s = arg;

	snprintf(
	    s->helo, sizeof(s->helo), "%s%s", extended ? "E:" : "H:", name);
	return s->refuse_helo;
}

static const char *
t_mail(void *arg, const struct smtpin_mail *m)
{
	struct seen *s = arg;

	snprintf(s->sender, sizeof(s->sender), "%s", m->addr);
	snprintf(s->body, sizeof(s->body), "%s", m->body ? m->body : "");
	snprintf(s->ret, sizeof(s->ret), "%s", m->ret ? m->ret : "");
	snprintf(s->envid, sizeof(s->envid), "%s", m->envid ? m->envid : "");
	s->size = m->size;
	s->smtputf8 = m->smtputf8;
	return s->refuse_mail;
}

static const char *
t_rcpt(void *arg, const struct smtpin_rcpt *r)
{
	struct seen *s = arg;

	if (s->refuse_rcpt != NULL && strstr(r->addr, "bad") != NULL)
		return s->refuse_rcpt;
	strlcat(s->rcpts, r->addr, sizeof(s->rcpts));
	strlcat(s->rcpts, ";", sizeof(s->rcpts));
	strlcat(s->notify, r->notify ? r->notify : "-", sizeof(s->notify));
	strlcat(s->notify, ";", sizeof(s->notify));
	strlcat(s->orcpt, r->orcpt ? r->orcpt : "-", sizeof(s->orcpt));
	strlcat(s->orcpt, ";", sizeof(s->orcpt));
	return NULL;
}

/* The content arrives in pieces: gathered here. */
static const char *
t_data(void *arg, const char *p, size_t n)
{
	struct seen *s = arg;

	s->pieces++;
	if (s->msglen + n > sizeof(s->msg))
		s->overflow = 1;
	else {
		memcpy(s->msg + s->msglen, p, n);
		s->msglen += n;
	}
	return s->refuse_data;
}

static const char *
t_data_end(void *arg)
{
	struct seen *s = arg;

	s->messages++;
	return s->reply != NULL ? s->reply : "250 2.0.0 Ok: queued";
}

static void
t_reset(void *arg)
{
	((struct seen *)arg)->resets++;
}

static void
t_starttls(void *arg)
{
	((struct seen *)arg)->starttls++;
}

static const char *const cmd_names[] = {"EHLO", "HELO", "STARTTLS", "MAIL",
    "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT", "UNKNOWN"};

static void
t_refused(void *arg, int cmd, const char *line, const char *reply)
{
	struct seen *s = arg;
	char one[600];

	snprintf(one, sizeof(one), "%s|%s|%s\n", cmd_names[cmd], line, reply);
	strlcat(s->refused, one, sizeof(s->refused));
}

static const struct smtpin_ops ops = {
    t_helo, t_mail, t_rcpt, t_data, t_data_end, t_reset, t_starttls, t_refused};

#define EXT_ALL                                                                \
	(SMTPIN_EXT_SMTPUTF8 | SMTPIN_EXT_DSN | SMTPIN_EXT_CHUNKING |          \
	    SMTPIN_EXT_STARTTLS)

/* An engine as "mx.test", 1000 recipients, 20 errors. */
static struct smtpin *
si_new(uint64_t size_limit, unsigned ext, struct seen *s)
{
	struct smtpin_config cfg = {"mx.test", size_limit, 1000, 20, ext};

	return smtpin_new(&cfg, &ops, s);
}

/* A driver as smtpd or -bs would be: the bytes not used are held and
 * offered again with what follows; the replies are gathered. */
struct drv {
	struct smtpin *si;
	char buf[300000];
	size_t have, most; /* held now, and the most ever held */
	char out[65536];
};

/* Offer what is held (at_eof as said), then take the replies. */
static size_t
drv_offer(struct drv *d, int at_eof)
{
	size_t used = smtpin_feed(d->si, d->buf, d->have, at_eof), len;
	const char *o;

	memmove(d->buf, d->buf + used, d->have - used);
	d->have -= used;
	if (d->have > d->most)
		d->most = d->have;
	o = smtpin_output(d->si, &len);
	strncat(d->out, o, len);
	smtpin_output_done(d->si);
	return used;
}

/* in arrives in pieces of step octets (0: all at once); eof: it is the
 * end of the input. */
static void
drv_send(struct drv *d, const char *in, size_t inlen, size_t step, int eof)
{
	size_t off = 0, n;

	do {
		n = step == 0 ? inlen - off : step;
		if (n > inlen - off)
			n = inlen - off;
		memcpy(d->buf + d->have, in + off, n);
		d->have += n;
		off += n;
		drv_offer(d, eof && off == inlen);
	} while (off < inlen && !smtpin_closed(d->si));
}

static struct drv *
drv_new(struct smtpin *si)
{
	struct drv *d = calloc(1, sizeof(*d));

	d->si = si;
	return d;
}

/* Take the replies so far off the driver's output. */
static char *
drv_take(struct drv *d)
{
	char *out = strdup(d->out);

	d->out[0] = '\0';
	return out;
}

/* Feed input in pieces of step octets (0: all at once) as a driver
 * would, keeping what was not used; returns every reply, joined. */
static char *
run(struct smtpin *si, const char *in, size_t step)
{
	struct drv *d = drv_new(si);
	char *out;

	drv_send(d, in, strlen(in), step, 1);
	out = drv_take(d);
	free(d);
	return out;
}

/* Reply codes only, one per line: "220 250- 250 ...". */
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

/* The codes of the replies to in, given all at once. */
static void
check_codes(
    struct smtpin *si, const char *in, const char *want, const char *what)
{
	char *out = run(si, in, 0), *c = codes(out);

	is_str(c, want, "%s", what);
	free(c);
	free(out);
}

static void
test_pipelined_session(size_t step)
{
	struct seen s = {0};
	struct smtpin *si = si_new(10000, 0, &s);
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
	struct smtpin *si = si_new(10000, 0, &s);
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
	struct smtpin *si = si_new(10000, 0, &s);
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
	struct smtpin *si = si_new(1000, 0, &s);
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
	struct smtpin *si = si_new(1024, 0, &s);
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
	is_int(s.resets, 1, "reset after the 552");
	ok(strstr(s.refused,
	       "DATA||552 5.3.4 Message size exceeds fixed limit\n") != NULL,
	    "refused op told of the 552 at the end of DATA");
	free(c);
	free(out);
	free(in);
	smtpin_free(si);
}

static void
test_refusals(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, 0, &s);
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
	struct smtpin *si = si_new(100000, 0, &s);
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
	struct smtpin *si = si_new(1000, 0, &s);
	char *out;

	out = run(si, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\npart", 0);
	ok(smtpin_pending(si), "EOF inside DATA leaves a transaction pending");
	is_int(s.messages, 0, "and hands nothing over");
	free(out);
	smtpin_free(si);

	si = si_new(1000, 0, &s);
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
	struct smtpin *si = si_new(1000, 0, &s);
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
	struct smtpin *si = si_new(1000, 0, &s);
	char in[1024] = "", *out;
	int i;

	for (i = 0; i < 20 + 5; i++)
		strcat(in, "BOGUS\r\n");
	out = run(si, in, 0);
	ok(smtpin_closed(si), "session ends after too many errors");
	ok(strstr(out, "421 4.7.0") != NULL, "with a 421");
	free(out);
	smtpin_free(si);
}

/* -- EHLO and HELO -------------------------------------------------------- */

static void
test_ehlo_extensions(void)
{
	static const struct {
		unsigned ext;
		const char *line;
	} exts[] = {{SMTPIN_EXT_SMTPUTF8, "250-SMTPUTF8\r\n"},
	    {SMTPIN_EXT_DSN, "250-DSN\r\n"},
	    {SMTPIN_EXT_CHUNKING, "250-CHUNKING\r\n"},
	    {SMTPIN_EXT_STARTTLS, "250-STARTTLS\r\n"}};
	struct seen s = {0};
	struct smtpin *si;
	char *out;
	size_t i, j;
	int others;

	for (i = 0; i <= 4; i++) {
		si = si_new(5000, i < 4 ? exts[i].ext : 0, &s);
		out = run(si, "EHLO client.example\r\n", 0);
		for (j = 0, others = 0; j < 4; j++)
			others += j != i && strstr(out, exts[j].line) != NULL;
		ok((i == 4 || strstr(out, exts[i].line) != NULL) && !others,
		    "EHLO offers %.*s and no other optional extension",
		    i < 4 ? (int)strlen(exts[i].line) - 6 : 4,
		    i < 4 ? exts[i].line + 4 : "none");
		ok(strncmp(out,
		       "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 5000\r\n",
		       44) == 0 &&
		        strstr(out, "250-ENHANCEDSTATUSCODES\r\n") != NULL &&
		        strcmp(out + strlen(out) - 14, "250 8BITMIME\r\n") == 0,
		    "always PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME");
		free(out);
		smtpin_free(si);
	}
	si = si_new(5000, EXT_ALL, &s);
	out = run(si, "EHLO client.example\r\n", 0);
	is_str(out,
	    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 5000\r\n250-STARTTLS\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-SMTPUTF8\r\n"
	    "250-CHUNKING\r\n250 8BITMIME\r\n",
	    "EHLO with every extension");
	ok(smtpin_extended(si) &&
	        strcmp(smtpin_helo(si), "client.example") == 0,
	    "EHLO name kept, extended");
	is_str(s.helo, "E:client.example", "helo op told of EHLO");
	free(out);
	out = run(si, "HELO other.example  \r\n", 0);
	is_str(out, "250 mx.test\r\n", "HELO: a plain 250 HOST");
	ok(!smtpin_extended(si) &&
	        strcmp(smtpin_helo(si), "other.example") == 0,
	    "HELO name kept, not extended");
	free(out);
	s.refuse_helo = "550 5.7.1 not you";
	out = run(si, "EHLO bad.example\r\nEHLO a\001b\r\n", 0);
	is_str(out, "550 5.7.1 not you\r\n501 5.5.4 Syntax: EHLO hostname\r\n",
	    "helo op refuses; a control character is a syntax error");
	is_str(smtpin_helo(si), "other.example", "a refused name is not kept");
	free(out);
	smtpin_free(si);
}

/* -- MAIL and RCPT parameters ---------------------------------------------- */

static void
test_mail_params(void)
{
	struct seen s = {0};
	struct smtpin *si =
	    si_new(1000, SMTPIN_EXT_DSN | SMTPIN_EXT_SMTPUTF8, &s);
	char in[4096], x101[102];
	char *out;

	out = run(si,
	    "MAIL FROM:<a@b> SMTPUTF8 ret=hdrs ENVID=id+2B1+3dx BODY=8BITMIME "
	    "SIZE=1000\r\n",
	    0);
	is_str(out, "250 2.1.0 Ok\r\n", "MAIL with every parameter");
	ok(s.smtputf8 && s.size == 1000 && strcmp(s.body, "8BITMIME") == 0,
	    "SMTPUTF8, SIZE, BODY passed on");
	is_str(s.ret, "HDRS", "RET upper-cased");
	is_str(s.envid, "id+1=x", "ENVID xtext decoded");
	free(out);
	memset(x101, 'x', 101);
	x101[101] = '\0';
	snprintf(in, sizeof(in),
	    "RSET\r\n"
	    "MAIL FROM:<a@b> RET=ALL\r\nMAIL FROM:<a@b> RET\r\n"
	    "MAIL FROM:<a@b> ENVID=\r\nMAIL FROM:<a@b> ENVID=a+2\r\n"
	    "MAIL FROM:<a@b> ENVID=a+ZZ\r\nMAIL FROM:<a@b> ENVID=a=b\r\n"
	    "MAIL FROM:<a@b> ENVID=a+01b\r\nMAIL FROM:<a@b> ENVID=a+20b\r\n"
	    "MAIL FROM:<a@b> ENVID=%s\r\nMAIL FROM:<a@b> SMTPUTF8=yes\r\n"
	    "MAIL FROM:<a@b> RET=FULL RET=HDRS\r\n"
	    "MAIL FROM:<a@b> SIZE=1001\r\n"
	    "MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n"
	    "MAIL FROM:<a@b> FOO=1\r\nMAIL FROM:<a@b> ENVID=%s\r\n",
	    x101, x101 + 1);
	check_codes(si, in,
	    "250 501 501 501 501 501 501 501 501 501 501 501 552 501 555 250",
	    "bad RET, ENVID (xtext, control, space, 101 octets), SMTPUTF8, "
	    "twice: 501; SIZE over: 552; unknown: 555; 100 octets taken");
	is_int(strlen(s.envid), 100, "ENVID of 100 octets");
	is_int(smtpin_counts(si)->errors, 13, "552 is no client error");
	ok(strstr(s.refused,
	       "MAIL|MAIL FROM:<a@b> SIZE=1001|552 5.3.4 Message size exceeds "
	       "fixed limit\n") != NULL,
	    "refused op told of the 552 with its command line");
	smtpin_free(si);

	si = si_new(1000, 0, &s);
	check_codes(si,
	    "MAIL FROM:<a@b> SMTPUTF8\r\nMAIL FROM:<a@b> RET=FULL\r\n"
	    "MAIL FROM:<a@b> ENVID=x\r\nMAIL FROM:<a@b>\r\n",
	    "555 555 555 250", "SMTPUTF8, RET, ENVID only when offered");
	ok(*s.ret == '\0' && *s.envid == '\0' && !s.smtputf8, "none passed on");
	smtpin_free(si);
}

static void
test_rcpt_params(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_DSN, &s);

	check_codes(si,
	    "MAIL FROM:<a@b>\r\n"
	    "RCPT TO:<c@d> NOTIFY=success,delay ORCPT=rfc822;c+40d\r\n"
	    "RCPT TO:<e@f> notify=Never\r\n"
	    "RCPT TO:<g@h>\r\n"
	    "RCPT TO:<x@y> NOTIFY=never,success\r\n"
	    "RCPT TO:<x@y> NOTIFY=sometimes\r\n"
	    "RCPT TO:<x@y> NOTIFY\r\n"
	    "RCPT TO:<x@y> ORCPT=rfc822\r\n"
	    "RCPT TO:<x@y> ORCPT=;x@y\r\n"
	    "RCPT TO:<x@y> ORCPT=rfc822;x+0Dy\r\n"
	    "RCPT TO:<x@y> ORCPT=rfc822;x+4\r\n"
	    "RCPT TO:<x@y> FOO=bar\r\n"
	    "RCPT TO:<x@y> NOTIFY=FAILURE NOTIFY=DELAY\r\n",
	    "250 250 250 250 501 501 501 501 501 501 501 555 501",
	    "NOTIFY and ORCPT taken; malformed 501, unknown 555");
	is_str(s.rcpts, "c@d;e@f;g@h;", "recipients");
	is_str(
	    s.notify, "SUCCESS,DELAY;NEVER;-;", "NOTIFY validated, upper case");
	is_str(s.orcpt, "rfc822;c@d;-;-;", "ORCPT xtext decoded");
	smtpin_free(si);

	/* ORCPT as dsn_orcpt_valid() takes it: UTF-8 only when well
	 * formed, a type of letters, digits and '-', 500 octets at most */
	{
		char line[2048], big[520];

		memset(&s, 0, sizeof(s));
		si = si_new(1000, SMTPIN_EXT_DSN, &s);
		memset(big, 'a', sizeof(big));
		big[500 - 7] = '\0'; /* "rfc822;" and 493: 500 in all */
		snprintf(line, sizeof(line),
		    "MAIL FROM:<a@b>\r\n"
		    "RCPT TO:<c@d> ORCPT=utf-8;J+C3+B6rg+2Bx@d\r\n"
		    "RCPT TO:<e@f> ORCPT=rfc822;%s\r\n"
		    "RCPT TO:<x@y> ORCPT=rfc822;%sa\r\n"
		    "RCPT TO:<x@y> ORCPT=rfc822;J+C3rg\r\n"
		    "RCPT TO:<x@y> ORCPT=rfc_822;x@y\r\n",
		    big, big);
		check_codes(si, line, "250 250 250 501 501 501",
		    "ORCPT: UTF-8 and 500 octets taken; one more octet, "
		    "broken UTF-8 or a bad type refused");
		ok(strncmp(s.orcpt, "utf-8;J\xc3\xb6rg+x@d;rfc822;aaa", 26) ==
		        0,
		    "decoded");
		smtpin_free(si);
	}

	si = si_new(1000, 0, &s);
	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\n"
	    "RCPT TO:<c@d> ORCPT=rfc822;c@d\r\n",
	    "250 555 555", "NOTIFY and ORCPT only with DSN");
	smtpin_free(si);
}

/* -- limits ------------------------------------------------------------------ */

static void
test_rcpt_limit(void)
{
	struct smtpin_config cfg = {"mx.test", 1000, 3, 20, 0};
	struct seen s = {0};
	struct smtpin *si = smtpin_new(&cfg, &ops, &s);
	const struct smtpin_counts *n = smtpin_counts(si);
	char *out, *c;

	out = run(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<r1@x>\r\nRCPT TO:<r2@x>\r\n"
	    "RCPT TO:<r3@x>\r\nRCPT TO:<r4@x>\r\nRCPT TO:<r5@x>\r\n"
	    "DATA\r\nx\r\n.\r\n"
	    "MAIL FROM:<a@b>\r\nRCPT TO:<r6@x>\r\nRCPT TO:<r7@x>\r\n"
	    "RCPT TO:<r8@x>\r\n",
	    0);
	c = codes(out);
	is_str(c, "250 250 250 250 452 452 354 250 250 250 250 250",
	    "recipients beyond rcpt_limit: 452, per message");
	ok(strstr(out, "452 4.5.3 Error: too many recipients\r\n") != NULL,
	    "452 4.5.3 text");
	is_str(s.rcpts, "r1@x;r2@x;r3@x;r6@x;r7@x;r8@x;", "only those passed");
	ok(n->errors == 0 && n->given[SMTPIN_C_RCPT] == 8 &&
	        n->ok[SMTPIN_C_RCPT] == 6,
	    "not a client error; counted as given, not accepted");
	ok(strstr(s.refused,
	       "RCPT|RCPT TO:<r4@x>|452 4.5.3 Error: too many recipients\n") !=
	        NULL,
	    "refused op told, with the command line");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_error_limit(void)
{
	struct smtpin_config cfg = {"mx.test", 1000, 1000, 3, 0};
	struct seen s = {0};
	struct smtpin *si = smtpin_new(&cfg, &ops, &s);
	char *out, *c;
	size_t len;

	out = run(si,
	    "MAIL FROM:<a@b>\r\nBOGUS\r\nNOOP\r\nRCPT TO:<>\r\n"
	    "MAIL FROM:<c@d>\r\nNOOP\r\n",
	    0);
	c = codes(out);
	is_str(c, "250 500 250 501 503 421",
	    "the third error ends the session, nothing after it answered");
	ok(strcmp(out + strlen(out) - 42,
	       "421 4.7.0 mx.test Error: too many errors\r\n") == 0,
	    "421 4.7.0 HOST Error: too many errors");
	ok(smtpin_closed(si) && !smtpin_pending(si) && s.resets == 1,
	    "closed; the open transaction dropped (reset)");
	is_int(smtpin_counts(si)->errors, 3, "three errors counted");
	is_int(smtpin_feed(si, "NOOP\r\n", 6, 0), 0, "no input taken after");
	smtpin_output(si, &len);
	is_int(len, 0, "and nothing answered");
	free(c);
	free(out);
	smtpin_free(si);
}

/* -- DATA streamed ---------------------------------------------------------- */

static void
test_data_streamed(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000000, 0, &s);
	struct drv *d = drv_new(si);
	char *in = malloc(200000), *want = malloc(200000), *out, *c;
	size_t n = 0, w = 0, half;
	int i;

	n +=
	    (size_t)sprintf(in, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
	for (i = 0; i < 3000; i++) {
		n += (size_t)sprintf(in + n, "%sline %05d of the message\r\n",
		    i % 100 == 7 ? ".." : "", i);
		w += (size_t)sprintf(want + w, "%sline %05d of the message\n",
		    i % 100 == 7 ? "." : "", i);
	}
	half = n / 2;
	drv_send(d, in, half, 1000, 0);
	ok(s.msglen > 0 && s.messages == 0,
	    "content passed on before its end (%zu octets)", s.msglen);
	n += (size_t)sprintf(in + n, ".\r\nQUIT\r\n");
	drv_send(d, in + half, n - half, 1000, 1);
	c = codes(out = drv_take(d));
	is_str(c, "250 250 354 250 221", "a large message");
	ok(s.msglen == w && memcmp(s.msg, want, w) == 0 && !s.overflow,
	    "all of it, dot-unstuffed, LF line ends");
	ok(s.pieces > 10, "in pieces (%d)", s.pieces);
	ok(d->most < 4096, "the caller never held a whole line's worth (%zu)",
	    d->most);
	free(c);
	free(out);
	free(d);
	free(in);
	free(want);
	smtpin_free(si);
}

static void
test_data_refused(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, 0, &s);
	char *out, *c;

	s.refuse_data = "554 5.7.1 content refused";
	out = run(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nline1\r\nline2\r\n"
	    ".\r\nNOOP\r\n",
	    1);
	c = codes(out);
	is_str(c, "250 250 354 554 250",
	    "data refuses: the rest read, the refusal at the end");
	ok(strstr(out, "554 5.7.1 content refused\r\n") != NULL,
	    "the caller's reply");
	ok(s.pieces == 1 && s.messages == 0 && s.resets == 1,
	    "nothing passed on after the refusal, no data_end, reset");
	is_int(smtpin_counts(si)->errors, 0, "no client error");
	free(c);
	free(out);
	smtpin_free(si);
}

/* -- BDAT ------------------------------------------------------------------------ */

static void
test_bdat_chunks(size_t step)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);
	char *out, *c;

	out = run(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 8\r\n.hi\r\n.\r\n"
	    "BDAT 6 LAST\r\nthere\nQUIT\r\n",
	    step);
	c = codes(out);
	is_str(c, "250 250 250 250 221", "two chunks (step %zu)", step);
	ok(strstr(out, "250 2.0.0 8 octets received\r\n") != NULL,
	    "250 2.0.0 n octets received for a chunk but the last");
	ok(s.msglen == 14 && memcmp(s.msg, ".hi\r\n.\r\nthere\n", 14) == 0,
	    "the octets exactly as sent (step %zu)", step);
	ok(s.messages == 1 && s.resets == 1, "data_end once, then reset");
	is_int(smtpin_counts(si)->ok[SMTPIN_C_BDAT], 2, "both accepted");
	free(c);
	free(out);
	smtpin_free(si);
}

static void
test_bdat_zero_and_pipelined(size_t step)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);

	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 0 LAST\r\nNOOP\r\n",
	    "250 250 250 250", "BDAT 0 LAST");
	ok(s.messages == 1 && s.msglen == 0 && s.pieces == 0,
	    "an empty message, no data call");
	smtpin_free(si);

	memset(&s, 0, sizeof(s));
	si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);
	free(run(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBDAT 3 LAST\r\n"
	    "defMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nBDAT 2\r\nghBDAT 0 LAST\r\n"
	    "RSET\r\nQUIT\r\n",
	    step));
	ok(smtpin_closed(si) && s.messages == 2 && s.msglen == 8 &&
	        memcmp(s.msg, "abcdefgh", 8) == 0,
	    "commands after chunks taken in order (step %zu)", step);
	smtpin_free(si);
}

static void
test_bdat_too_big(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(10, SMTPIN_EXT_CHUNKING, &s);

	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 8\r\n12345678"
	    "BDAT 8 LAST\r\n12345678NOOP\r\n"
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 10 LAST\r\n0123456789",
	    "250 250 250 552 250 250 250 250",
	    "a chunk over size_limit: 552, read whole; a message of "
	    "size_limit taken");
	ok(s.msglen == 18 && memcmp(s.msg, "123456780123456789", 18) == 0,
	    "the over-limit chunk passed on in no part");
	ok(s.messages == 1 && s.resets == 2, "no data_end for it, reset");
	ok(strstr(s.refused,
	       "BDAT|BDAT 8 LAST|552 5.3.4 Message size exceeds fixed "
	       "limit\n") != NULL,
	    "refused op told");
	smtpin_free(si);

	memset(&s, 0, sizeof(s));
	si = si_new(10, SMTPIN_EXT_CHUNKING, &s);
	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 11\r\n01234567890"
	    "BDAT 3\r\nabcBDAT 2 LAST\r\nxyNOOP\r\nBDAT 1 LAST\r\nz",
	    "250 250 552 552 552 250 503",
	    "chunks pipelined after the failed one: the same 552, until "
	    "another command");
	ok(s.pieces == 0 && s.messages == 0 && s.resets == 1,
	    "nothing passed on; one reset");
	is_int(smtpin_counts(si)->errors, 1, "only the 503 is a client error");
	smtpin_free(si);
}

static void
test_bdat_refused(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);

	s.refuse_mail = "452 4.3.1 the queue is full";
	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 6 LAST\r\nQUIT\r\n"
	    "NOOP\r\n",
	    "452 503 503 250",
	    "after a refused MAIL: the chunk read and dropped, never run");
	ok(!smtpin_closed(si) && s.pieces == 0, "its QUIT was not taken");
	s.refuse_mail = NULL;
	s.refuse_rcpt = "550 5.1.1 no such user";
	check_codes(si,
	    "BDAT 3\r\nabcMAIL FROM:<a@b>\r\nBDAT 2 LAST\r\nxy"
	    "RCPT TO:<bad@x>\r\nBDAT 1 LAST\r\nzNOOP\r\n",
	    "503 250 503 550 554 250",
	    "BDAT without MAIL, without RCPT, with no valid recipient");
	smtpin_free(si);

	memset(&s, 0, sizeof(s));
	si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);
	s.refuse_data = "554 5.7.1 no thanks";
	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBDAT 3\r\ndef"
	    "BDAT 1 LAST\r\ngMAIL FROM:<a@b>\r\n",
	    "250 250 554 554 554 250",
	    "data refuses a chunk: its reply, pipelined chunks the same");
	ok(s.pieces == 1 && s.messages == 0 && s.resets == 1 &&
	        smtpin_counts(si)->errors == 0,
	    "nothing more passed on, reset once, no client error");
	smtpin_free(si);
}

static void
test_bdat_syntax(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);
	char *out;

	check_codes(si,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcDATA\r\n"
	    "RCPT TO:<e@f>\r\nBDAT 0 LAST\r\nDATA\r\n",
	    "250 250 250 503 503 250 503",
	    "DATA and RCPT after BDAT: 503; the transaction goes on");
	ok(s.messages == 1 && s.msglen == 3 && memcmp(s.msg, "abc", 3) == 0,
	    "its content");
	check_codes(si, "BDAT 3 FIRST\r\nabcNOOP\r\n", "501 250",
	    "a bad end marker: 501, the chunk still read");
	out = run(si, "BDAT 12x\r\nNOOP\r\n", 0);
	is_str(out, "521 5.5.4 Syntax: BDAT count [LAST]\r\n",
	    "no count: the session ends");
	ok(smtpin_closed(si), "closed");
	free(out);
	smtpin_free(si);

	si = si_new(1000, 0, &s);
	check_codes(si, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4 LAST\r\n",
	    "250 250 502", "BDAT without CHUNKING: 502");
	smtpin_free(si);
}

/* -- the reply to the content later ------------------------------------------ */

static void
test_later(size_t step)
{
	const char
	    *in = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\n",
	    *more = "MAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nBDAT 2 LAST\r\n"
	            "yoNOOP\r\n";
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);
	struct drv *d = drv_new(si);
	char all[512], *out;

	s.reply = SMTPIN_LATER;
	snprintf(all, sizeof(all), "%s%s", in, more);
	drv_send(d, all, strlen(all), step, 0);
	out = drv_take(d);
	is_str(out,
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
	    "<CR><LF>.<CR><LF>\r\n",
	    "no reply to the dot yet (step %zu)", step);
	ok(smtpin_waiting(si) && smtpin_pending(si) && s.messages == 1 &&
	        s.resets == 0,
	    "waiting, the transaction open");
	is_int(d->have, strlen(more), "the pipelined commands are held");
	is_int(smtpin_feed(si, d->buf, d->have, 1), 0,
	    "nothing taken while waiting, not even at the end");
	free(out);
	smtpin_data_done(si, "250 2.0.0 Ok: queued as A1");
	ok(!smtpin_waiting(si) && !smtpin_pending(si) && s.resets == 1,
	    "answered: reset, input taken again");
	drv_offer(d, 0);
	out = drv_take(d);
	is_str(out,
	    "250 2.0.0 Ok: queued as A1\r\n250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n",
	    "the reply, then the pipelined commands in order");
	ok(smtpin_waiting(si) && d->have == 6, "BDAT LAST waits the same way");
	free(out);
	smtpin_data_done(si, "451 4.3.0 try again");
	drv_offer(d, 1);
	out = drv_take(d);
	is_str(out, "451 4.3.0 try again\r\n250 2.0.0 Ok\r\n", "then NOOP");
	ok(s.msglen == 5 && memcmp(s.msg, "hi\nyo", 5) == 0, "both contents");
	ok(smtpin_counts(si)->ok[SMTPIN_C_DATA] == 1 &&
	        smtpin_counts(si)->ok[SMTPIN_C_BDAT] == 0,
	    "counted by the late reply");
	free(out);
	free(d);
	smtpin_free(si);
}

static void
test_later_closed(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, 0, &s);
	char *out;
	size_t len;

	s.reply = SMTPIN_LATER;
	free(run(
	    si, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n", 0));
	smtpin_close_with(si, "421 4.4.2 mx.test Error: timeout exceeded");
	ok(smtpin_closed(si) && !smtpin_pending(si) && s.resets == 1,
	    "ended while waiting: the transaction dropped");
	smtpin_data_done(si, "250 2.0.0 Ok: queued as B2");
	out = (char *)smtpin_output(si, &len);
	ok(len == 43 &&
	        memcmp(out, "421 4.4.2 mx.test Error: timeout exceeded\r\n",
	            43) == 0,
	    "a late reply after the end is not given");
	smtpin_free(si);
}

/* -- STARTTLS ------------------------------------------------------------------ */

static void
test_starttls(void)
{
	const char *inject = "MAIL FROM:<injected@x>\r\n";
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_STARTTLS, &s);
	const struct smtpin_counts *n = smtpin_counts(si);
	struct drv *d = drv_new(si);
	char in[256], *out, *c;

	snprintf(in, sizeof(in), "EHLO c.example\r\nSTARTTLS\r\n%s", inject);
	drv_send(d, in, strlen(in), 0, 0);
	out = drv_take(d);
	ok(strstr(out, "250-STARTTLS\r\n") != NULL &&
	        strcmp(out + strlen(out) - 30,
	            "220 2.0.0 Ready to start TLS\r\n") == 0,
	    "STARTTLS offered, 220 2.0.0 Ready to start TLS");
	ok(s.starttls == 1 && smtpin_waiting(si), "starttls op, waiting");
	is_int(d->have, strlen(inject), "the line after STARTTLS not taken");
	is_int(smtpin_feed(si, d->buf, d->have, 0), 0, "nor later");
	free(out);
	d->have = 0; /* as the caller must: sent before the handshake */
	smtpin_tls_started(si);
	ok(!smtpin_waiting(si) && *smtpin_helo(si) == '\0' &&
	        !smtpin_extended(si),
	    "TLS up: as after the greeting");
	drv_send(d,
	    "MAIL FROM:<a@b>\r\nEHLO c.example\r\nSTARTTLS\r\n"
	    "MAIL FROM:<a@b>\r\nQUIT\r\n",
	    strlen("MAIL FROM:<a@b>\r\nEHLO c.example\r\nSTARTTLS\r\n"
	           "MAIL FROM:<a@b>\r\nQUIT\r\n"),
	    0, 1);
	c = codes(out = drv_take(d));
	is_str(c, "503 250- 250- 250- 250- 250 503 250 221",
	    "EHLO needed again; no second STARTTLS");
	ok(strstr(out, "STARTTLS") == NULL, "not offered once TLS is up");
	ok(strstr(out, "503 5.5.1 Error: send HELO/EHLO first\r\n") != NULL,
	    "MAIL before EHLO: 503");
	ok(n->given[SMTPIN_C_MAIL] == 2 && n->ok[SMTPIN_C_MAIL] == 1 &&
	        strcmp(s.sender, "a@b") == 0 && s.starttls == 1,
	    "the injected MAIL never ran");
	free(c);
	free(out);
	free(d);
	smtpin_free(si);

	si = si_new(1000, SMTPIN_EXT_STARTTLS, &s);
	check_codes(si,
	    "STARTTLS now\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\nRSET\r\n",
	    "501 250 503 250",
	    "STARTTLS: no argument, not inside a transaction");
	smtpin_free(si);
	si = si_new(1000, 0, &s);
	check_codes(
	    si, "STARTTLS\r\nNOOP\r\n", "502 250", "STARTTLS not offered: 502");
	smtpin_free(si);
}

/* -- counts and the end ---------------------------------------------------- */

static void
test_counts(void)
{
	static const unsigned given[SMTPIN_NCMDS] = {1, 0, 0, 2, 3, 1, 2, 1, 1,
	    1, 1, 2},
	                      accepted[SMTPIN_NCMDS] = {
	                          1, 0, 0, 2, 2, 1, 2, 1, 1, 1, 1, 1};
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);
	const struct smtpin_counts *n = smtpin_counts(si);
	int i, same = 1;

	s.refuse_rcpt = "550 5.1.1 no such user";
	free(run(si,
	    "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<bad@x>\r\n"
	    "DATA\r\nhi\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
	    "BDAT 2\r\nhiBDAT 0 LAST\r\nBOGUS\r\nHELP\r\nVRFY x\r\nRSET\r\n"
	    "NOOP\r\nQUIT\r\n",
	    0));
	for (i = 0; i < SMTPIN_NCMDS; i++)
		same &= n->given[i] == given[i] && n->ok[i] == accepted[i];
	ok(same, "given and accepted per command");
	ok(n->commands == 15 && n->errors == 1, "15 commands, 1 error");
	smtpin_free(si);
}

/* The last command, for smtpd's "timeout after DATA": DATA or BDAT
 * while content comes, whatever command came before. */
static void
test_last_cmd(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, SMTPIN_EXT_CHUNKING, &s);

	is_int(smtpin_last_cmd(si), -1, "none before the first command");
	free(run(si, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 0));
	is_int(smtpin_last_cmd(si), SMTPIN_C_RCPT, "RCPT");
	free(run(si, "DATA\r\npart of the content\r\n", 0));
	is_int(smtpin_last_cmd(si), SMTPIN_C_DATA, "DATA while content comes");
	free(run(si,
	    ".\r\nNOOP\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
	    "BDAT 10\r\nhalf",
	    0));
	is_int(smtpin_last_cmd(si), SMTPIN_C_BDAT, "BDAT inside a chunk");
	free(run(si, " of it\r\nXYZZY\r\n", 0));
	is_int(smtpin_last_cmd(si), SMTPIN_C_UNKNOWN, "an unknown command");
	smtpin_free(si);
}

static void
test_close_with(void)
{
	struct seen s = {0};
	struct smtpin *si = si_new(1000, 0, &s);
	char *out;
	size_t len;

	free(run(si, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 0));
	smtpin_close_with(si, "421 4.4.2 mx.test Error: timeout exceeded");
	out = (char *)smtpin_output(si, &len);
	ok(len == 43 &&
	        memcmp(out, "421 4.4.2 mx.test Error: timeout exceeded\r\n",
	            43) == 0,
	    "the reply queued");
	smtpin_output_done(si);
	ok(smtpin_closed(si) && !smtpin_pending(si) && s.resets == 1,
	    "the session ended, its transaction dropped");
	smtpin_close_with(si, "421 again");
	is_int(smtpin_feed(si, "NOOP\r\n", 6, 0), 0, "no input taken after");
	smtpin_output(si, &len);
	is_int(len, 0, "nothing more said");
	smtpin_free(si);

	memset(&s, 0, sizeof(s));
	si = si_new(1000, 0, &s);
	smtpin_close_with(si, "554 5.7.1 not from your network");
	out = (char *)smtpin_output(si, &len);
	ok(len == 33 &&
	        memcmp(out, "554 5.7.1 not from your network\r\n", 33) == 0 &&
	        smtpin_closed(si) && s.resets == 0,
	    "instead of the greeting: no transaction, no reset");
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
	test_ehlo_extensions();
	test_mail_params();
	test_rcpt_params();
	test_rcpt_limit();
	test_error_limit();
	test_data_streamed();
	test_data_refused();
	test_bdat_chunks(0);
	test_bdat_chunks(1);
	test_bdat_chunks(4);
	test_bdat_zero_and_pipelined(0);
	test_bdat_zero_and_pipelined(2);
	test_bdat_too_big();
	test_bdat_refused();
	test_bdat_syntax();
	test_later(0);
	test_later(3);
	test_later_closed();
	test_starttls();
	test_counts();
	test_last_cmd();
	test_close_with();
	return done_testing();
}
