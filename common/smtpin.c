/*
 * smtpin.c - the SMTP server engine of `ncsendmail -bs` and smtpd (RFC
 * 5321 with PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8,
 * DSN, CHUNKING and STARTTLS): a state machine fed the client's octets.
 * Commands are answered in order; DATA content is dot-unstuffed and BDAT
 * chunks counted out, both streamed to the caller within the size limit.
 * No I/O: the caller writes smtpin_output() to the client.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsnparam.h"
#include "log.h"
#include "smtpin.h"
#include "util.h"

/* A content line longer than this, without its end yet, is passed on in
 * parts; shorter ones wait for the rest so a final dot is recognised. */
#define SI_DATA_CHUNK 4096
/* DATA content goes to ops->data in pieces of at most this, gathered
 * from the lines of one smtpin_feed() call (never kept across calls). */
#define SI_STAGE 8192
#define SI_TOO_BIG "552 5.3.4 Message size exceeds fixed limit"
#define SI_BAD_ORCPT "501 5.5.4 Error: Bad ORCPT parameter syntax"

const char SMTPIN_LATER[] = "(the reply comes later)";

enum si_state {
	SI_COMMAND, /* command lines */
	SI_DATA, /* after 354: content lines up to the final dot */
	SI_CHUNK, /* the octets of a BDAT chunk */
	SI_WAIT_DATA, /* data_end said SMTPIN_LATER */
	SI_WAIT_TLS, /* 220 to STARTTLS given: the handshake is the caller's */
	SI_CLOSED, /* QUIT answered, or the session was ended */
	SI_NSTATES
};

/* What becomes of the BDAT chunk being read. */
enum si_chunk_fate {
	SI_CHUNK_TAKE, /* its octets go to ops->data (unless refused) */
	SI_CHUNK_ERROR, /* dropped; its reply is a client error */
	SI_CHUNK_REFUSE /* dropped; its reply repeats a failed chunk's */
};

struct si_chunk {
	uint64_t size, left;
	int last;
	enum si_chunk_fate fate;
	char *reply; /* the reply unless SI_CHUNK_TAKE */
	char line[SMTPIN_LINE_MAX + 1]; /* its BDAT command */
};

struct smtpin {
	const struct smtpin_ops *ops;
	void *arg;
	struct smtpin_config cfg; /* cfg.hostname is our copy */
	enum si_state state;
	char *out; /* replies not yet written */
	size_t outlen, outcap;
	char *helo; /* NULL before HELO/EHLO (and after STARTTLS) */
	int extended, tls;
	int skipping; /* discarding the rest of an over-long line */
	char line[SMTPIN_LINE_MAX + 1]; /* the command line as given */
	char work[SMTPIN_LINE_MAX + 1]; /* its copy the parsers cut up */
	const char *cur_line; /* for ops->refused: line, or "" */
	enum smtpin_cmd cmd; /* the command being answered */
	struct smtpin_counts counts;
	/* the transaction */
	int mail; /* MAIL accepted */
	unsigned nrcpt, rcpt_tried;
	int chunked; /* a BDAT chunk was taken: no more RCPT, no DATA */
	enum smtpin_cmd content_cmd; /* DATA or BDAT */
	uint64_t size; /* content octets passed on */
	int too_big;
	char *refusal; /* ops->data's refusal of the content */
	int bol; /* DATA: at the start of a line */
	char stage[SI_STAGE]; /* DATA content not yet passed on */
	size_t stagelen;
	struct si_chunk chunk;
	char *bdat_fail; /* the reply to BDATs pipelined after a failed one */
};

/* -- replies -------------------------------------------------------------- */

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

static void
si_ok(struct smtpin *s)
{
	s->counts.ok[s->cmd]++;
}

/* The transaction ends or is dropped. */
static void
si_reset(struct smtpin *s)
{
	s->mail = 0;
	s->nrcpt = s->rcpt_tried = 0;
	s->chunked = 0;
	s->size = 0;
	s->too_big = 0;
	free(s->refusal);
	s->refusal = NULL;
	s->stagelen = 0;
	s->ops->reset(s->arg);
}

/* The session is over: no more input, an open transaction dropped. */
static void
si_end(struct smtpin *s)
{
	s->state = SI_CLOSED;
	if (s->mail)
		si_reset(s);
}

/* A reply of the engine's own that refuses a command or the content. */
static void
si_refuse(struct smtpin *s, const char *reply)
{
	si_reply(s, "%s", reply);
	if (s->ops->refused != NULL)
		s->ops->refused(s->arg, (int)s->cmd, s->cur_line, reply);
}

/* A client error (syntax, sequence): too many end the session. */
static void
si_error(struct smtpin *s, const char *reply)
{
	char bye[600];

	si_refuse(s, reply);
	if (++s->counts.errors < s->cfg.error_limit)
		return;
	snprintf(bye, sizeof(bye), "421 4.7.0 %s Error: too many errors",
	    s->cfg.hostname);
	si_refuse(s, bye);
	si_end(s);
}

/* -- addresses and parameters --------------------------------------------- */

/*
 * "<addr> params" or "addr params" after FROM:/TO:. Copies the address
 * (without brackets and source route) to out, points *rest at the
 * parameters. Returns 0, or -1 on a malformed or over-long path.
 */
static int
si_path(char *p, char out[SMTPIN_PATH_MAX], char **rest)
{
	char *start, *end, *colon;
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

/* One parameter of MAIL or RCPT: offered only with ext (0: always);
 * fn checks the value (NULL when there is no "=") into out and returns
 * NULL, or the reply refusing it. */
struct si_param {
	const char *name;
	unsigned ext;
	const char *(*fn)(struct smtpin *, void *out, const char *val);
};

/* What MAIL FROM said, and room for what its parameters decode to. */
struct si_mail {
	struct smtpin_mail m;
	char envid[DSN_ENVID_MAX + 1];
};

struct si_rcpt {
	struct smtpin_rcpt r;
	char notify[32];
	char orcpt[DSN_ORCPT_MAX + 1];
};

static const char *
si_param_size(struct smtpin *s, void *out, const char *val)
{
	struct si_mail *mp = out;
	uint64_t size = 0;
	const char *p;

	if (val == NULL || *val == '\0')
		return "501 5.5.4 Bad message size syntax";
	for (p = val; isdigit((unsigned char)*p); p++) {
		if (size > (UINT64_MAX - 9) / 10)
			return "501 5.5.4 Bad message size syntax";
		size = size * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0')
		return "501 5.5.4 Bad message size syntax";
	if (size > s->cfg.size_limit)
		return SI_TOO_BIG;
	mp->m.size = size;
	return NULL;
}

/* a or b if val is one of them (in any case), else NULL. */
static const char *
si_one_of(const char *val, const char *a, const char *b)
{
	if (val != NULL && strcasecmp(val, a) == 0)
		return a;
	if (val != NULL && strcasecmp(val, b) == 0)
		return b;
	return NULL;
}

static const char *
si_param_body(struct smtpin *s, void *out, const char *val)
{
	struct si_mail *mp = out;

	(void)s;
	if ((mp->m.body = si_one_of(val, "7BIT", "8BITMIME")) == NULL)
		return "501 5.5.4 Unsupported BODY parameter value";
	return NULL;
}

static const char *
si_param_smtputf8(struct smtpin *s, void *out, const char *val)
{
	struct si_mail *mp = out;

	(void)s;
	if (val != NULL)
		return "501 5.5.4 Bad SMTPUTF8 parameter syntax";
	mp->m.smtputf8 = 1;
	return NULL;
}

static const char *
si_param_ret(struct smtpin *s, void *out, const char *val)
{
	struct si_mail *mp = out;

	(void)s;
	if ((mp->m.ret = si_one_of(val, "FULL", "HDRS")) == NULL)
		return "501 5.5.4 Bad RET parameter syntax";
	return NULL;
}

/* ENVID as pickup takes it (dsn_envid_valid): printable ASCII, no
 * space, at most DSN_ENVID_MAX octets once decoded. */
static const char *
si_param_envid(struct smtpin *s, void *out, const char *val)
{
	struct si_mail *mp = out;

	(void)s;
	if (val == NULL ||
	    dsn_xtext_decode(val, mp->envid, sizeof(mp->envid) - 1) == -1 ||
	    !dsn_envid_valid(mp->envid))
		return "501 5.5.4 Bad ENVID parameter syntax";
	mp->m.envid = mp->envid;
	return NULL;
}

static const char *
si_param_notify(struct smtpin *s, void *out, const char *val)
{
	struct si_rcpt *rp = out;
	int bits;

	(void)s;
	if (val == NULL || (bits = dsn_notify_parse(val)) < 0)
		return "501 5.5.4 Error: Bad NOTIFY parameter syntax";
	dsn_notify_text((uint8_t)bits, rp->notify, sizeof(rp->notify));
	rp->r.notify = rp->notify;
	return NULL;
}

/* ORCPT=addr-type;xtext, kept as "addr-type;decoded" when
 * dsn_orcpt_valid() takes it, as pickup does. */
static const char *
si_param_orcpt(struct smtpin *s, void *out, const char *val)
{
	struct si_rcpt *rp = out;
	const char *semi = val != NULL ? strchr(val, ';') : NULL;
	size_t n = semi != NULL ? (size_t)(semi - val) + 1 : 0;

	(void)s;
	if (semi == NULL || n >= sizeof(rp->orcpt) ||
	    dsn_xtext_decode(
	        semi + 1, rp->orcpt + n, sizeof(rp->orcpt) - n - 1) == -1)
		return SI_BAD_ORCPT;
	memcpy(rp->orcpt, val, n);
	if (!dsn_orcpt_valid(rp->orcpt))
		return SI_BAD_ORCPT;
	rp->r.orcpt = rp->orcpt;
	return NULL;
}

static const struct si_param si_mail_params[] = {{"SIZE", 0, si_param_size},
    {"BODY", 0, si_param_body},
    {"SMTPUTF8", SMTPIN_EXT_SMTPUTF8, si_param_smtputf8},
    {"RET", SMTPIN_EXT_DSN, si_param_ret},
    {"ENVID", SMTPIN_EXT_DSN, si_param_envid}, {NULL, 0, NULL}};

static const struct si_param si_rcpt_params[] = {
    {"NOTIFY", SMTPIN_EXT_DSN, si_param_notify},
    {"ORCPT", SMTPIN_EXT_DSN, si_param_orcpt}, {NULL, 0, NULL}};

/* "KW=value KW ..." through the table; NULL, or the refusing reply. */
static const char *
si_params(struct smtpin *s, char *rest, const struct si_param *tab, void *out)
{
	unsigned seen = 0;
	char *kw, *val;
	const char *refuse;
	int i;

	while ((kw = strsep(&rest, " ")) != NULL) {
		if (*kw == '\0')
			continue;
		if ((val = strchr(kw, '=')) != NULL)
			*val++ = '\0';
		for (i = 0; tab[i].name != NULL; i++)
			if (strcasecmp(kw, tab[i].name) == 0 &&
			    (tab[i].ext & ~s->cfg.ext) == 0)
				break;
		if (tab[i].name == NULL)
			return "555 5.5.4 Unsupported option";
		if (seen & 1u << i)
			return "501 5.5.4 Error: parameter given twice";
		seen |= 1u << i;
		if ((refuse = tab[i].fn(s, out, val)) != NULL)
			return refuse;
	}
	return NULL;
}

/* -- commands ------------------------------------------------------------- */

static int
si_has_control(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

static void
si_ehlo_reply(struct smtpin *s)
{
	unsigned ext = s->cfg.ext;

	si_reply(s, "250-%s", s->cfg.hostname);
	si_reply(s, "250-PIPELINING");
	si_reply(s, "250-SIZE %llu", (unsigned long long)s->cfg.size_limit);
	if ((ext & SMTPIN_EXT_STARTTLS) && !s->tls)
		si_reply(s, "250-STARTTLS");
	si_reply(s, "250-ENHANCEDSTATUSCODES");
	if (ext & SMTPIN_EXT_DSN)
		si_reply(s, "250-DSN");
	if (ext & SMTPIN_EXT_SMTPUTF8)
		si_reply(s, "250-SMTPUTF8");
	if (ext & SMTPIN_EXT_CHUNKING)
		si_reply(s, "250-CHUNKING");
	si_reply(s, "250 8BITMIME");
}

static void
si_helo(struct smtpin *s, char *arg, int extended)
{
	size_t n = strlen(arg);
	const char *refuse;

	while (n > 0 && arg[n - 1] == ' ')
		arg[--n] = '\0';
	if (n == 0 || si_has_control(arg)) {
		si_error(s,
		    extended ? "501 5.5.4 Syntax: EHLO hostname"
		             : "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	si_reset(s);
	if (s->ops->helo != NULL &&
	    (refuse = s->ops->helo(s->arg, arg, extended)) != NULL) {
		si_reply(s, "%s", refuse);
		return;
	}
	free(s->helo);
	s->helo = xstrdup(arg);
	s->extended = extended;
	if (extended)
		si_ehlo_reply(s);
	else
		si_reply(s, "250 %s", s->cfg.hostname);
	si_ok(s);
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

/* RFC 3207 section 4.2: the octets after this line are the caller's to
 * throw away, so the state waits until smtpin_tls_started(). */
static void
si_cmd_starttls(struct smtpin *s, char *arg)
{
	if (!(s->cfg.ext & SMTPIN_EXT_STARTTLS))
		si_error(s, "502 5.5.1 Error: command not implemented");
	else if (s->tls)
		si_error(s, "503 5.5.1 Error: TLS already active");
	else if (*arg != '\0')
		si_error(s, "501 5.5.4 Syntax: STARTTLS");
	else if (s->mail)
		si_error(s, "503 5.5.1 Error: MAIL transaction in progress");
	else {
		si_reply(s, "220 2.0.0 Ready to start TLS");
		si_ok(s);
		s->state = SI_WAIT_TLS;
		if (s->ops->starttls != NULL)
			s->ops->starttls(s->arg);
	}
}

static void
si_cmd_mail(struct smtpin *s, char *arg)
{
	struct si_mail mp;
	char path[SMTPIN_PATH_MAX], *rest;
	const char *refuse;

	if (s->tls && s->helo == NULL) {
		si_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->mail) {
		si_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0 ||
	    si_path(arg + 5, path, &rest) == -1) {
		si_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	memset(&mp, 0, sizeof(mp));
	if ((refuse = si_params(s, rest, si_mail_params, &mp)) != NULL) {
		if (strcmp(refuse, SI_TOO_BIG) == 0)
			si_refuse(s, refuse); /* a limit, not an error */
		else
			si_error(s, refuse);
		return;
	}
	mp.m.addr = path;
	if ((refuse = s->ops->mail(s->arg, &mp.m)) != NULL) {
		si_reply(s, "%s", refuse);
		si_reset(s);
		return;
	}
	s->mail = 1;
	si_reply(s, "250 2.1.0 Ok");
	si_ok(s);
}

static void
si_cmd_rcpt(struct smtpin *s, char *arg)
{
	struct si_rcpt rp;
	char path[SMTPIN_PATH_MAX], *rest;
	const char *refuse;

	if (!s->mail) {
		si_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->chunked) {
		si_error(s, "503 5.5.1 Error: RCPT after BDAT");
		return;
	}
	s->rcpt_tried++;
	if (strncasecmp(arg, "TO:", 3) != 0 ||
	    si_path(arg + 3, path, &rest) == -1 || *path == '\0') {
		si_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	memset(&rp, 0, sizeof(rp));
	if ((refuse = si_params(s, rest, si_rcpt_params, &rp)) != NULL) {
		si_error(s, refuse);
		return;
	}
	if (s->nrcpt >= s->cfg.rcpt_limit) {
		si_refuse(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	rp.r.addr = path;
	if ((refuse = s->ops->rcpt(s->arg, &rp.r)) != NULL) {
		si_reply(s, "%s", refuse);
		return;
	}
	s->nrcpt++;
	si_reply(s, "250 2.1.5 Ok");
	si_ok(s);
}

static void
si_cmd_data(struct smtpin *s, char *arg)
{
	if (*arg != '\0')
		si_error(s, "501 5.5.4 Syntax: DATA");
	else if (!s->mail)
		si_error(s, "503 5.5.1 Error: need MAIL command");
	else if (s->chunked)
		si_error(s, "503 5.5.1 Error: DATA after BDAT");
	else if (s->nrcpt == 0 && s->rcpt_tried == 0)
		si_error(s, "503 5.5.1 Error: need RCPT command");
	else if (s->nrcpt == 0)
		si_refuse(s, "554 5.5.1 Error: no valid recipients");
	else {
		s->state = SI_DATA;
		s->content_cmd = SMTPIN_C_DATA;
		s->bol = 1;
		si_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	}
}

static void si_chunk_end(struct smtpin *);

/* "n [LAST]": 0, 1 when only the count could be read, -1 without it. */
static int
si_bdat_args(const char *p, uint64_t *n, int *last)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0' && *p != ' ')
		return -1;
	*n = v;
	while (*p == ' ')
		p++;
	*last = strcasecmp(p, "LAST") == 0;
	return *last || *p == '\0' ? 0 : 1;
}

/* The chunk is read whole and dropped; reply answers it. */
static void
si_chunk_drop(struct smtpin *s, enum si_chunk_fate fate, const char *reply)
{
	s->chunk.fate = fate;
	s->chunk.reply = xstrdup(reply);
}

/*
 * BDAT (RFC 3030): the chunk that follows is read whatever the answer,
 * so its octets are never taken for commands. A count that cannot be
 * read leaves no way to find the next command: the session ends.
 */
static void
si_cmd_bdat(struct smtpin *s, char *arg)
{
	struct si_chunk *c = &s->chunk;
	int syntax;

	if (!(s->cfg.ext & SMTPIN_EXT_CHUNKING)) {
		si_error(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if ((syntax = si_bdat_args(arg, &c->size, &c->last)) == -1) {
		s->counts.errors++;
		si_refuse(s, "521 5.5.4 Syntax: BDAT count [LAST]");
		si_end(s);
		return;
	}
	c->left = c->size;
	c->fate = SI_CHUNK_TAKE;
	strlcpy(c->line, s->line, sizeof(c->line));
	s->state = SI_CHUNK;
	if (s->bdat_fail != NULL)
		si_chunk_drop(s, SI_CHUNK_REFUSE, s->bdat_fail);
	else if (syntax)
		si_chunk_drop(
		    s, SI_CHUNK_ERROR, "501 5.5.4 Syntax: BDAT count [LAST]");
	else if (!s->mail)
		si_chunk_drop(
		    s, SI_CHUNK_ERROR, "503 5.5.1 Error: need MAIL command");
	else if (s->nrcpt == 0 && s->rcpt_tried == 0)
		si_chunk_drop(
		    s, SI_CHUNK_ERROR, "503 5.5.1 Error: need RCPT command");
	else if (s->nrcpt == 0)
		si_chunk_drop(
		    s, SI_CHUNK_REFUSE, "554 5.5.1 Error: no valid recipients");
	else {
		s->chunked = 1;
		s->content_cmd = SMTPIN_C_BDAT;
		if (c->size > s->cfg.size_limit - s->size)
			s->too_big = 1;
	}
	if (c->left == 0)
		si_chunk_end(s);
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
	si_ok(s);
}

static void
si_cmd_noop(struct smtpin *s, char *arg)
{
	(void)arg;
	si_reply(s, "250 2.0.0 Ok");
	si_ok(s);
}

static void
si_cmd_vrfy(struct smtpin *s, char *arg)
{
	if (*arg == '\0') {
		si_error(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	si_reply(s,
	    "252 2.0.0 Cannot VRFY user, but will accept message and attempt "
	    "delivery");
	si_ok(s);
}

static void
si_cmd_help(struct smtpin *s, char *arg)
{
	(void)arg;
	si_reply(s,
	    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP "
	    "VRFY HELP QUIT");
	si_ok(s);
}

static void
si_cmd_quit(struct smtpin *s, char *arg)
{
	(void)arg;
	si_reply(s, "221 2.0.0 Bye");
	si_ok(s);
	si_end(s);
}

static void
si_cmd_unimplemented(struct smtpin *s, char *arg)
{
	(void)arg;
	si_error(s, "502 5.5.1 Error: command not implemented");
}

static const struct si_command {
	const char *name;
	enum smtpin_cmd cmd;
	void (*fn)(struct smtpin *, char *);
} si_commands[] = {{"EHLO", SMTPIN_C_EHLO, si_cmd_ehlo},
    {"HELO", SMTPIN_C_HELO, si_cmd_helo},
    {"STARTTLS", SMTPIN_C_STARTTLS, si_cmd_starttls},
    {"MAIL", SMTPIN_C_MAIL, si_cmd_mail}, {"RCPT", SMTPIN_C_RCPT, si_cmd_rcpt},
    {"DATA", SMTPIN_C_DATA, si_cmd_data}, {"BDAT", SMTPIN_C_BDAT, si_cmd_bdat},
    {"RSET", SMTPIN_C_RSET, si_cmd_rset}, {"NOOP", SMTPIN_C_NOOP, si_cmd_noop},
    {"VRFY", SMTPIN_C_VRFY, si_cmd_vrfy}, {"QUIT", SMTPIN_C_QUIT, si_cmd_quit},
    {"HELP", SMTPIN_C_UNKNOWN, si_cmd_help},
    {"EXPN", SMTPIN_C_UNKNOWN, si_cmd_unimplemented},
    {"TURN", SMTPIN_C_UNKNOWN, si_cmd_unimplemented},
    {"ETRN", SMTPIN_C_UNKNOWN, si_cmd_unimplemented},
    {"AUTH", SMTPIN_C_UNKNOWN, si_cmd_unimplemented}, {NULL, 0, NULL}};

/* A command starts: counted; a BDAT failure is forgotten by any other. */
static void
si_begin(struct smtpin *s, enum smtpin_cmd cmd, const char *line)
{
	s->cmd = cmd;
	s->cur_line = line;
	s->counts.given[cmd]++;
	s->counts.commands++;
	if (cmd != SMTPIN_C_BDAT) {
		free(s->bdat_fail);
		s->bdat_fail = NULL;
	}
}

/* s->line, a whole command line without its end. */
static void
si_command(struct smtpin *s)
{
	size_t n;
	char *arg;
	const struct si_command *c;

	memcpy(s->work, s->line, sizeof(s->work));
	n = strcspn(s->work, " ");
	for (arg = s->work + n; *arg == ' '; arg++)
		;
	for (c = si_commands; c->name != NULL; c++)
		if (strlen(c->name) == n &&
		    strncasecmp(s->work, c->name, n) == 0)
			break;
	si_begin(s, c->name != NULL ? c->cmd : SMTPIN_C_UNKNOWN, s->line);
	if (c->name != NULL)
		c->fn(s, arg);
	else
		si_error(s, "500 5.5.2 Error: command not recognized");
	s->cur_line = "";
}

/* A line that is no command at all (too long, a NUL in it). */
static void
si_bad_line(struct smtpin *s, const char *reply)
{
	si_begin(s, SMTPIN_C_UNKNOWN, "");
	si_error(s, reply);
}

/* -- the states: each takes what it can of the input ---------------------- */

/* Command mode: one line if a whole one is there. */
static size_t
si_take_command(struct smtpin *s, const char *p, size_t n, int at_eof)
{
	const char *nl = memchr(p, '\n', n);
	size_t len, used;

	if (nl == NULL && s->skipping)
		return n;
	if (nl == NULL && n <= SMTPIN_LINE_MAX + 1 && !at_eof)
		return 0;
	len = nl != NULL ? (size_t)(nl - p) : n;
	used = nl != NULL ? len + 1 : n;
	if (s->skipping) {
		s->skipping = nl == NULL;
		return used;
	}
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len > SMTPIN_LINE_MAX) {
		s->skipping = nl == NULL;
		si_bad_line(s, "500 5.5.2 Error: line too long");
	} else if (memchr(p, '\0', len) != NULL)
		si_bad_line(s, "500 5.5.2 Error: bad syntax");
	else {
		memcpy(s->line, p, len);
		s->line[len] = '\0';
		si_command(s);
	}
	return used;
}

/* DATA content to ops->data through the stage; the size limit. */
static void
si_stage_flush(struct smtpin *s)
{
	const char *refuse;

	if (s->stagelen == 0)
		return;
	refuse = s->ops->data(s->arg, s->stage, s->stagelen);
	s->stagelen = 0;
	if (refuse != NULL)
		s->refusal = xstrdup(refuse);
}

static void
si_content(struct smtpin *s, const char *p, size_t n)
{
	size_t k;

	if (n == 0 || s->too_big || s->refusal != NULL)
		return;
	if (n > s->cfg.size_limit - s->size) {
		s->too_big = 1;
		s->stagelen = 0;
		return;
	}
	s->size += n;
	while (n > 0 && s->refusal == NULL) {
		k = SI_STAGE - s->stagelen < n ? SI_STAGE - s->stagelen : n;
		memcpy(s->stage + s->stagelen, p, k);
		s->stagelen += k;
		p += k;
		n -= k;
		if (s->stagelen == SI_STAGE)
			si_stage_flush(s);
	}
}

/* The reply to the content; the transaction is over. */
static void
si_content_reply(struct smtpin *s, const char *reply)
{
	si_reply(s, "%s", reply);
	if (reply[0] == '2')
		s->counts.ok[s->content_cmd]++;
	si_reset(s);
}

/* The final dot, or the end of BDAT ... LAST. */
static void
si_content_end(struct smtpin *s)
{
	const char *reply;

	s->state = SI_COMMAND;
	s->cmd = s->content_cmd;
	if (!s->too_big)
		si_stage_flush(s);
	if (s->too_big) {
		si_refuse(s, SI_TOO_BIG);
		si_reset(s);
	} else if (s->refusal != NULL)
		si_content_reply(s, s->refusal);
	else if ((reply = s->ops->data_end(s->arg)) == SMTPIN_LATER)
		s->state = SI_WAIT_DATA;
	else if (reply == NULL)
		fatalx("smtpin: data_end gave no reply");
	else
		si_content_reply(s, reply);
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
		si_content(s, p + skip, len - skip);
		s->bol = 0;
		return len;
	}
	len = (size_t)(nl - p);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (s->bol && len == 1 && p[0] == '.') {
		si_content_end(s);
		return (size_t)(nl - p) + 1;
	}
	skip = s->bol && len > 0 && p[0] == '.' ? 1 : 0;
	si_content(s, p + skip, len - skip);
	si_content(s, "\n", 1);
	s->bol = 1;
	return (size_t)(nl - p) + 1;
}

/* A chunk that failed (too big, refused by the caller) ends the
 * transaction; BDATs already pipelined get the same reply. */
static void
si_chunk_failed(struct smtpin *s)
{
	free(s->bdat_fail);
	s->bdat_fail = xstrdup(s->too_big ? SI_TOO_BIG : s->refusal);
	if (s->too_big)
		si_refuse(s, SI_TOO_BIG);
	else
		si_reply(s, "%s", s->refusal);
	si_reset(s);
}

static void
si_chunk_end(struct smtpin *s)
{
	struct si_chunk *c = &s->chunk;

	s->state = SI_COMMAND;
	s->cmd = SMTPIN_C_BDAT;
	s->cur_line = c->line;
	if (c->fate == SI_CHUNK_ERROR)
		si_error(s, c->reply);
	else if (c->fate == SI_CHUNK_REFUSE)
		si_refuse(s, c->reply);
	else if (s->too_big || s->refusal != NULL)
		si_chunk_failed(s);
	else if (c->last)
		si_content_end(s);
	else {
		si_reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)c->size);
		si_ok(s);
	}
	free(c->reply);
	c->reply = NULL;
	s->cur_line = "";
}

/* BDAT mode: the chunk's octets, exactly, as they come. */
static size_t
si_take_chunk(struct smtpin *s, const char *p, size_t n, int at_eof)
{
	struct si_chunk *c = &s->chunk;
	const char *refuse;

	(void)at_eof;
	if (n > c->left)
		n = (size_t)c->left;
	if (c->fate == SI_CHUNK_TAKE && !s->too_big && s->refusal == NULL) {
		s->size += n;
		if ((refuse = s->ops->data(s->arg, p, n)) != NULL)
			s->refusal = xstrdup(refuse);
	}
	c->left -= n;
	if (c->left == 0)
		si_chunk_end(s);
	return n;
}

/* Per state, what takes input; NULL: nothing is taken. */
static size_t (*const si_take[SI_NSTATES])(
    struct smtpin *, const char *, size_t, int) = {
    [SI_COMMAND] = si_take_command,
    [SI_DATA] = si_take_data,
    [SI_CHUNK] = si_take_chunk,
};

/* -- the interface -------------------------------------------------------- */

struct smtpin *
smtpin_new(
    const struct smtpin_config *cfg, const struct smtpin_ops *ops, void *arg)
{
	struct smtpin *s = xcalloc(1, sizeof(*s));

	s->ops = ops;
	s->arg = arg;
	s->cfg = *cfg;
	s->cfg.hostname = xstrdup(cfg->hostname);
	s->state = SI_COMMAND;
	s->cur_line = "";
	s->outcap = 1024;
	s->out = xmalloc(s->outcap);
	return s;
}

void
smtpin_free(struct smtpin *s)
{
	if (s == NULL)
		return;
	free((char *)s->cfg.hostname);
	free(s->out);
	free(s->helo);
	free(s->refusal);
	free(s->chunk.reply);
	free(s->bdat_fail);
	free(s);
}

void
smtpin_greet(struct smtpin *s)
{
	si_reply(s, "220 %s ESMTP ncmta", s->cfg.hostname);
}

void
smtpin_close_with(struct smtpin *s, const char *reply)
{
	if (s->state == SI_CLOSED)
		return;
	si_reply(s, "%s", reply);
	si_end(s);
}

size_t
smtpin_feed(struct smtpin *s, const char *buf, size_t len, int at_eof)
{
	size_t used = 0, n;

	while (used < len && si_take[s->state] != NULL) {
		n = si_take[s->state](s, buf + used, len - used, at_eof);
		if (n == 0)
			break;
		used += n;
	}
	if (s->state == SI_DATA)
		si_stage_flush(s);
	return used;
}

void
smtpin_data_done(struct smtpin *s, const char *reply)
{
	if (s->state == SI_CLOSED)
		return;
	if (s->state != SI_WAIT_DATA || reply == NULL)
		fatalx("smtpin: a reply to content that was not waiting");
	s->state = SI_COMMAND;
	si_content_reply(s, reply);
}

void
smtpin_tls_started(struct smtpin *s)
{
	if (s->state == SI_CLOSED)
		return;
	if (s->state != SI_WAIT_TLS)
		fatalx("smtpin: TLS started without STARTTLS");
	s->state = SI_COMMAND;
	s->tls = 1;
	free(s->helo);
	s->helo = NULL;
	s->extended = 0;
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
	return s->state == SI_CLOSED;
}

int
smtpin_pending(const struct smtpin *s)
{
	return s->mail;
}

int
smtpin_waiting(const struct smtpin *s)
{
	return s->state == SI_WAIT_DATA || s->state == SI_WAIT_TLS;
}

const char *
smtpin_helo(const struct smtpin *s)
{
	return s->helo != NULL ? s->helo : "";
}

int
smtpin_extended(const struct smtpin *s)
{
	return s->extended;
}

const struct smtpin_counts *
smtpin_counts(const struct smtpin *s)
{
	return &s->counts;
}

int
smtpin_last_cmd(const struct smtpin *s)
{
	return s->counts.commands > 0 ? (int)s->cmd : -1;
}
