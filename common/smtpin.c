/*
 * smtpin.c - the SMTP engine behind `ncsendmail -bs` (RFC 5321 subset
 * with PIPELINING, SIZE, 8BITMIME and ENHANCEDSTATUSCODES). Input is
 * taken line by line from whatever the client sent, so pipelined commands
 * are answered in order; message text is dot-unstuffed and bounded by the
 * size limit. No I/O: the caller writes smtpin_output() to the client.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpin.h"
#include "util.h"

/* A message line longer than this, without its end yet, is passed on in
 * parts; shorter ones wait for the rest so a final dot is recognised. */
#define SI_DATA_CHUNK 4096

struct smtpin {
	const struct smtpin_ops *ops;
	void *arg;
	char *hostname;
	uint64_t size_limit;
	char *out; /* replies not yet written */
	size_t outlen, outcap;
	char *msg; /* the message being received */
	size_t msglen, msgcap;
	int closed;
	int skipping; /* discarding the rest of an over-long line */
	int errors;
	int mail; /* MAIL accepted */
	int in_data; /* between 354 and the final dot */
	int bol; /* in DATA: at the start of a line */
	int too_big; /* the message went over size_limit */
	size_t nrcpt, rcpt_tried;
};

static void __attribute__((format(printf, 2, 3)))
si_reply(struct smtpin *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(
		    s->out + s->outlen, s->outcap - s->outlen, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n + 2 < s->outcap - s->outlen)
			break;
		s->outcap = s->outcap * 2 + (size_t)(n > 0 ? n : 0) + 256;
		s->out = xreallocarray(s->out, s->outcap, 1);
	}
	s->outlen += (size_t)n;
	memcpy(s->out + s->outlen, "\r\n", 2);
	s->outlen += 2;
}

/* A reply that counts as a client error; too many end the session. */
static void
si_error(struct smtpin *s, const char *text)
{
	si_reply(s, "%s", text);
	if (++s->errors >= SMTPIN_ERRORS_MAX) {
		si_reply(s, "421 4.7.0 %s Error: too many errors", s->hostname);
		s->closed = 1;
	}
}

static void
si_reset(struct smtpin *s)
{
	s->mail = 0;
	s->nrcpt = s->rcpt_tried = 0;
	s->msglen = 0;
	s->too_big = 0;
	if (s->ops->reset != NULL)
		s->ops->reset(s->arg);
}

/* -- addresses and parameters --------------------------------------------- */

/*
 * "<addr> params" or "addr params" after FROM:/TO:. Copies the address
 * (without brackets and source route) to out, points *rest at the
 * parameters. Returns 0, or -1 on a malformed or over-long path.
 */
static int
si_path(const char *p, char out[SMTPIN_PATH_MAX], const char **rest)
{
	const char *start, *end, *colon;
	int quoted = 0;
	size_t n;

	while (*p == ' ')
		p++;
	if (*p != '<') {
		start = p;
		end = p + strcspn(p, " ");
		*rest = end;
	} else {
		start = ++p;
		for (; *p != '\0' && (quoted || *p != '>'); p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				quoted = !quoted;
		}
		if (*p != '>')
			return -1;
		end = p;
		*rest = p + 1;
	}
	if (*start == '@' && (colon = memchr(start, ':', end - start)) != NULL)
		start = colon + 1; /* <@relay:user@domain>: route ignored */
	n = (size_t)(end - start);
	if (n >= SMTPIN_PATH_MAX || (**rest != '\0' && **rest != ' '))
		return -1;
	memcpy(out, start, n);
	out[n] = '\0';
	return 0;
}

/* One MAIL parameter; returns NULL or the reply refusing it. */
static const char *
si_mail_param(struct smtpin *s, char *kw, struct smtpin_mail *m)
{
	char *val = strchr(kw, '='), *end;
	unsigned long long size;

	if (val != NULL)
		*val++ = '\0';
	if (strcasecmp(kw, "BODY") == 0 && val != NULL) {
		if (strcasecmp(val, "7BIT") == 0)
			m->body = "7BIT";
		else if (strcasecmp(val, "8BITMIME") == 0)
			m->body = "8BITMIME";
		else
			return "501 5.5.4 Unsupported BODY parameter value";
		return NULL;
	}
	if (strcasecmp(kw, "SIZE") == 0 && val != NULL) {
		if (!isdigit((unsigned char)*val))
			return "501 5.5.4 Bad message size syntax";
		size = strtoull(val, &end, 10);
		if (*end != '\0' || strlen(val) > 20)
			return "501 5.5.4 Bad message size syntax";
		if (size > s->size_limit)
			return "552 5.3.4 Message size exceeds fixed limit";
		m->size = size;
		return NULL;
	}
	return "555 5.5.4 Unsupported option";
}

/* -- commands ------------------------------------------------------------- */

static void
si_helo(struct smtpin *s, char *arg, int extended)
{
	if (*arg == '\0') {
		si_error(s,
		    extended ? "501 5.5.4 Syntax: EHLO hostname"
		             : "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	si_reset(s);
	if (!extended) {
		si_reply(s, "250 %s", s->hostname);
		return;
	}
	si_reply(s, "250-%s", s->hostname);
	si_reply(s, "250-PIPELINING");
	si_reply(s, "250-SIZE %llu", (unsigned long long)s->size_limit);
	si_reply(s, "250-ENHANCEDSTATUSCODES");
	si_reply(s, "250 8BITMIME");
}

static void
si_cmd_ehlo(struct smtpin *s, char *arg)
{
	si_helo(s, arg, 1);
}

static void
si_cmd_helo(struct smtpin *s, char *arg)
{
	si_helo(s, arg, 0);
}

static void
si_cmd_mail(struct smtpin *s, char *arg)
{
	struct smtpin_mail m = {NULL, NULL, 0};
	char path[SMTPIN_PATH_MAX], *rest, *kw;
	const char *refuse = NULL;

	if (s->mail) {
		si_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0 ||
	    si_path(arg + 5, path, (const char **)&rest) == -1) {
		si_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	while (refuse == NULL && (kw = strsep(&rest, " ")) != NULL)
		if (*kw != '\0')
			refuse = si_mail_param(s, kw, &m);
	if (refuse != NULL) {
		si_error(s, refuse);
		return;
	}
	m.addr = path;
	if ((refuse = s->ops->mail(s->arg, &m)) != NULL) {
		si_reply(s, "%s", refuse);
		si_reset(s);
		return;
	}
	s->mail = 1;
	si_reply(s, "250 2.1.0 Ok");
}

static void
si_cmd_rcpt(struct smtpin *s, char *arg)
{
	char path[SMTPIN_PATH_MAX], *rest;
	const char *refuse;

	if (!s->mail) {
		si_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	s->rcpt_tried++;
	if (strncasecmp(arg, "TO:", 3) != 0 ||
	    si_path(arg + 3, path, (const char **)&rest) == -1 ||
	    *path == '\0') {
		si_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	while (*rest == ' ')
		rest++;
	if (*rest != '\0') {
		si_error(s, "555 5.5.4 Unsupported option");
		return;
	}
	if (s->nrcpt >= SMTPIN_RCPT_MAX) {
		si_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if ((refuse = s->ops->rcpt(s->arg, path)) != NULL) {
		si_reply(s, "%s", refuse);
		return;
	}
	s->nrcpt++;
	si_reply(s, "250 2.1.5 Ok");
}

static void
si_cmd_data(struct smtpin *s, char *arg)
{
	if (*arg != '\0')
		si_error(s, "501 5.5.4 Syntax: DATA");
	else if (!s->mail)
		si_error(s, "503 5.5.1 Error: need MAIL command");
	else if (s->nrcpt == 0 && s->rcpt_tried == 0)
		si_error(s, "503 5.5.1 Error: need RCPT command");
	else if (s->nrcpt == 0)
		si_reply(s, "554 5.5.1 Error: no valid recipients");
	else {
		s->in_data = 1;
		s->bol = 1;
		s->msglen = 0;
		s->too_big = 0;
		si_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	}
}

static void
si_cmd_rset(struct smtpin *s, char *arg)
{
	if (*arg != '\0') {
		si_error(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	si_reset(s);
	si_reply(s, "250 2.0.0 Ok");
}

static void
si_cmd_noop(struct smtpin *s, char *arg)
{
	(void)arg;
	si_reply(s, "250 2.0.0 Ok");
}

static void
si_cmd_vrfy(struct smtpin *s, char *arg)
{
	if (*arg == '\0')
		si_error(s, "501 5.5.4 Syntax: VRFY address");
	else
		si_reply(s,
		    "252 2.0.0 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
}

static void
si_cmd_help(struct smtpin *s, char *arg)
{
	(void)arg;
	si_reply(s,
	    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
	    "VRFY HELP QUIT");
}

static void
si_cmd_quit(struct smtpin *s, char *arg)
{
	(void)arg;
	si_reply(s, "221 2.0.0 Bye");
	s->closed = 1;
}

static void
si_cmd_unimplemented(struct smtpin *s, char *arg)
{
	(void)arg;
	si_error(s, "502 5.5.1 Error: command not implemented");
}

static const struct {
	const char *name;
	void (*fn)(struct smtpin *, char *);
} si_commands[] = {{"EHLO", si_cmd_ehlo}, {"HELO", si_cmd_helo},
    {"MAIL", si_cmd_mail}, {"RCPT", si_cmd_rcpt}, {"DATA", si_cmd_data},
    {"RSET", si_cmd_rset}, {"NOOP", si_cmd_noop}, {"VRFY", si_cmd_vrfy},
    {"HELP", si_cmd_help}, {"QUIT", si_cmd_quit},
    {"EXPN", si_cmd_unimplemented}, {"TURN", si_cmd_unimplemented},
    {"ETRN", si_cmd_unimplemented}, {"BDAT", si_cmd_unimplemented},
    {"AUTH", si_cmd_unimplemented}, {"STARTTLS", si_cmd_unimplemented},
    {NULL, NULL}};

/* One command line, without its line end, NUL-terminated. */
static void
si_command(struct smtpin *s, char *line)
{
	size_t n = strcspn(line, " ");
	char *arg = line + n;
	int i;

	while (*arg == ' ')
		arg++;
	for (i = 0; si_commands[i].name != NULL; i++)
		if (strlen(si_commands[i].name) == n &&
		    strncasecmp(line, si_commands[i].name, n) == 0) {
			si_commands[i].fn(s, arg);
			return;
		}
	si_error(s, "500 5.5.2 Error: command not recognized");
}

/* Command mode: one line if a whole one is there. */
static size_t
si_take_command(struct smtpin *s, const char *p, size_t n, int at_eof)
{
	const char *nl = memchr(p, '\n', n);
	size_t len, used;
	char *line;

	if (nl == NULL && s->skipping)
		return n;
	if (nl == NULL && n <= SMTPIN_LINE_MAX && !at_eof)
		return 0;
	len = nl != NULL ? (size_t)(nl - p) : n;
	used = nl != NULL ? len + 1 : n;
	if (s->skipping) {
		s->skipping = nl == NULL;
		return used;
	}
	if (len > SMTPIN_LINE_MAX) {
		s->skipping = nl == NULL;
		si_error(s, "500 5.5.2 Error: line too long");
		return used;
	}
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (memchr(p, '\0', len) != NULL) {
		si_error(s, "500 5.5.2 Error: bad syntax");
		return used;
	}
	line = xstrndup(p, len);
	si_command(s, line);
	free(line);
	return used;
}

/* -- message text --------------------------------------------------------- */

static void
si_store(struct smtpin *s, const char *p, size_t n)
{
	if (n == 0 || s->too_big)
		return; /* before the first octet there is no buffer to add to */
	if (s->msglen + n > s->size_limit) {
		s->too_big = 1;
		return;
	}
	if (s->msglen + n > s->msgcap) {
		s->msgcap = s->msglen + n + s->msgcap / 2 + 4096;
		s->msg = xreallocarray(s->msg, s->msgcap, 1);
	}
	memcpy(s->msg + s->msglen, p, n);
	s->msglen += n;
}

static void
si_data_end(struct smtpin *s)
{
	s->in_data = 0;
	if (s->too_big)
		si_reply(s, "552 5.3.4 Message size exceeds fixed limit");
	else
		si_reply(s, "%s", s->ops->data(s->arg, s->msg, s->msglen));
	si_reset(s);
}

/* DATA mode: a whole line, or part of a long one. */
static size_t
si_take_data(struct smtpin *s, const char *p, size_t n, int at_eof)
{
	const char *nl = memchr(p, '\n', n);
	size_t len, skip;

	if (nl == NULL) {
		if (n < SI_DATA_CHUNK && !at_eof)
			return 0;
		/* A long line: keep a CR that may start its CRLF. */
		len = n > 1 && p[n - 1] == '\r' && !at_eof ? n - 1 : n;
		skip = s->bol && p[0] == '.' ? 1 : 0;
		si_store(s, p + skip, len - skip);
		s->bol = 0;
		return len;
	}
	len = (size_t)(nl - p);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (s->bol && len == 1 && p[0] == '.') {
		si_data_end(s);
		return (size_t)(nl - p) + 1;
	}
	skip = s->bol && len > 0 && p[0] == '.' ? 1 : 0;
	si_store(s, p + skip, len - skip);
	si_store(s, "\n", 1);
	s->bol = 1;
	return (size_t)(nl - p) + 1;
}

/* -- the interface -------------------------------------------------------- */

struct smtpin *
smtpin_new(const char *hostname, uint64_t size_limit,
    const struct smtpin_ops *ops, void *arg)
{
	struct smtpin *s = xcalloc(1, sizeof(*s));

	s->ops = ops;
	s->arg = arg;
	s->hostname = xstrdup(hostname);
	s->size_limit = size_limit;
	s->outcap = 1024;
	s->out = xmalloc(s->outcap);
	return s;
}

void
smtpin_free(struct smtpin *s)
{
	if (s == NULL)
		return;
	free(s->hostname);
	free(s->out);
	free(s->msg);
	free(s);
}

void
smtpin_greet(struct smtpin *s)
{
	si_reply(s, "220 %s ESMTP ncmta", s->hostname);
}

size_t
smtpin_feed(struct smtpin *s, const char *buf, size_t len, int at_eof)
{
	size_t used = 0, n;

	while (used < len && !s->closed) {
		n = s->in_data
		    ? si_take_data(s, buf + used, len - used, at_eof)
		    : si_take_command(s, buf + used, len - used, at_eof);
		if (n == 0)
			break;
		used += n;
	}
	return used;
}

const char *
smtpin_output(const struct smtpin *s, size_t *len)
{
	*len = s->outlen;
	return s->out;
}

void
smtpin_output_done(struct smtpin *s)
{
	s->outlen = 0;
}

int
smtpin_closed(const struct smtpin *s)
{
	return s->closed;
}

int
smtpin_pending(const struct smtpin *s)
{
	return s->mail || s->in_data;
}
