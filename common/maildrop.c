/*
 * maildrop.c - write and read the envelope block of maildrop files, and
 * walk a message's header fields. The reader takes input from any local
 * user: every line is bounded, every field checked, and the message must
 * be exactly as long as the envelope says (a truncated file is refused).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "dsnparam.h"
#include "maildrop.h"
#include "util.h"

#define MAILDROP_RCPT_MAX 100000 /* recipients one file may carry */

void
maildrop_init(struct maildrop *md)
{
	memset(md, 0, sizeof(*md));
	md->sender = xstrdup("");
	md->fullname = xstrdup("");
	md->notify = xstrdup("");
	md->ret = xstrdup("");
	md->envid = xstrdup("");
	md->body_type = xstrdup("");
	md->client = xstrdup("");
	md->helo = xstrdup("");
	md->proto = xstrdup("");
}

void
maildrop_clear(struct maildrop *md)
{
	size_t i;

	for (i = 0; i < md->nrcpt; i++) {
		free(md->rcpt[i]);
		free(md->orcpt[i]);
	}
	free(md->rcpt);
	free(md->orcpt);
	free(md->sender);
	free(md->fullname);
	free(md->notify);
	free(md->ret);
	free(md->envid);
	free(md->body_type);
	free(md->client);
	free(md->helo);
	free(md->proto);
	memset(md, 0, sizeof(*md));
}

void
maildrop_add_rcpt(struct maildrop *md, const char *addr, const char *orcpt)
{
	size_t room = md->nrcpt ? md->nrcpt * 2 : 1;

	/* Grow in powers of two: the count is a power of two when full. */
	if ((md->nrcpt & (md->nrcpt - 1)) == 0) {
		md->rcpt = xreallocarray(md->rcpt, room, sizeof(*md->rcpt));
		md->orcpt = xreallocarray(md->orcpt, room, sizeof(*md->orcpt));
	}
	md->orcpt[md->nrcpt] = xstrdup(orcpt != NULL ? orcpt : "");
	md->rcpt[md->nrcpt++] = xstrdup(addr);
}

void
maildrop_dedup(struct maildrop *md)
{
	md->nrcpt = addr_dedup_with(md->rcpt, md->orcpt, md->nrcpt);
}

const char *
maildrop_smtp_rcpt(struct maildrop *md, const char *addr, const char *notify,
    const char *orcpt)
{
	if (notify == NULL)
		notify = "";
	if (md->nrcpt > 0 && strcmp(notify, md->notify) != 0)
		return "452 4.5.3 Error: NOTIFY differs from the other "
		       "recipients'; send this one in another transaction";
	free(md->notify);
	md->notify = xstrdup(notify);
	maildrop_add_rcpt(md, addr, orcpt);
	return NULL;
}

/* A field value may hold any octet but line ends and NULs. */
static int
md_value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\n' || *s == '\r')
			return 0;
	return 1;
}

struct md_out {
	char *buf;
	size_t len, cap;
};

static void
md_put(struct md_out *o, const char *key, const char *val, int angle)
{
	size_t need = strlen(key) + strlen(val) + 5;

	if (o->len + need > o->cap) {
		o->cap = (o->len + need) * 2;
		o->buf = xreallocarray(o->buf, o->cap, 1);
	}
	o->len += (size_t)snprintf(o->buf + o->len, o->cap - o->len,
	    angle ? "%s <%s>\n" : "%s %s\n", key, val);
}

char *
maildrop_envelope(
    const struct maildrop *md, uint64_t msglen, size_t *len, const char **err)
{
	const char *opt[][2] = {{"notify", md->notify}, {"ret", md->ret},
	    {"envid", md->envid}, {"body", md->body_type},
	    {"client", md->client}, {"helo", md->helo}, {"proto", md->proto}};
	struct md_out o = {NULL, 0, 0};
	char num[32];
	size_t i;

	if (!md_value_ok(md->sender) || !md_value_ok(md->fullname) ||
	    !md_value_ok(md->notify) || !md_value_ok(md->ret) ||
	    !md_value_ok(md->envid) || !md_value_ok(md->body_type) ||
	    !md_value_ok(md->client) || !md_value_ok(md->helo) ||
	    !md_value_ok(md->proto)) {
		*err = "line break in an envelope field";
		return NULL;
	}
	snprintf(num, sizeof(num), "%d", MAILDROP_VERSION);
	md_put(&o, MAILDROP_MAGIC, num, 0);
	md_put(&o, "sender", md->sender, 1);
	if (*md->fullname != '\0')
		md_put(&o, "fullname", md->fullname, 0);
	for (i = 0; i < md->nrcpt; i++) {
		if (!md_value_ok(md->rcpt[i])) {
			free(o.buf);
			*err = "line break in a recipient";
			return NULL;
		}
		if (*md->orcpt[i] != '\0' && !dsn_orcpt_valid(md->orcpt[i])) {
			free(o.buf);
			*err = "malformed ORCPT";
			return NULL;
		}
		md_put(&o, "rcpt", md->rcpt[i], 1);
		if (*md->orcpt[i] != '\0')
			md_put(&o, "orcpt", md->orcpt[i], 0);
	}
	if (md->extract)
		md_put(&o, "extract", "1", 0);
	if (md->smtputf8)
		md_put(&o, "smtputf8", "1", 0);
	for (i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (*opt[i][1] != '\0')
			md_put(&o, opt[i][0], opt[i][1], 0);
	snprintf(num, sizeof(num), "%" PRIu64, msglen);
	md_put(&o, "size", num, 0);
	o.buf[o.len++] = '\n'; /* md_put always leaves room for one more */
	*len = o.len;
	return o.buf;
}

/* Strip "<" ">" from an address field; NULL if they are missing. */
static const char *
md_unangle(char *v)
{
	size_t n = strlen(v);

	if (n < 2 || v[0] != '<' || v[n - 1] != '>')
		return NULL;
	v[n - 1] = '\0';
	return v + 1;
}

static int
md_set(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
	return 0;
}

/* Apply one "key value" line; -1 with *err on a bad line. after_rcpt:
 * the line before was a rcpt line (an orcpt line belongs to it). */
static int
md_field(struct maildrop *md, char *key, char *val, int after_rcpt,
    int *seen_size, uint64_t *size, const char **err)
{
	const char *a;
	char *end;

	if (strcmp(key, "sender") == 0 || strcmp(key, "rcpt") == 0) {
		if ((a = md_unangle(val)) == NULL) {
			*err = "address without angle brackets";
			return -1;
		}
		if (*key == 's')
			return md_set(&md->sender, a);
		if (md->nrcpt >= MAILDROP_RCPT_MAX) {
			*err = "too many recipients";
			return -1;
		}
		maildrop_add_rcpt(md, a, NULL);
		return 0;
	}
	if (strcmp(key, "orcpt") == 0) {
		if (!after_rcpt) {
			*err = "orcpt line not right after its rcpt line";
			return -1;
		}
		if (!dsn_orcpt_valid(val)) {
			*err = "malformed ORCPT";
			return -1;
		}
		return md_set(&md->orcpt[md->nrcpt - 1], val);
	}
	if (strcmp(key, "fullname") == 0)
		return md_set(&md->fullname, val);
	if (strcmp(key, "extract") == 0) {
		md->extract = strcmp(val, "1") == 0;
		return 0;
	}
	if (strcmp(key, "smtputf8") == 0) {
		md->smtputf8 = strcmp(val, "1") == 0;
		return 0;
	}
	if (strcmp(key, "notify") == 0)
		return md_set(&md->notify, val);
	if (strcmp(key, "ret") == 0)
		return md_set(&md->ret, val);
	if (strcmp(key, "envid") == 0)
		return md_set(&md->envid, val);
	if (strcmp(key, "body") == 0)
		return md_set(&md->body_type, val);
	if (strcmp(key, "client") == 0)
		return md_set(&md->client, val);
	if (strcmp(key, "helo") == 0)
		return md_set(&md->helo, val);
	if (strcmp(key, "proto") == 0)
		return md_set(&md->proto, val);
	if (strcmp(key, "size") == 0 && isdigit((unsigned char)*val)) {
		*size = strtoull(val, &end, 10);
		if (*end == '\0') {
			*seen_size = 1;
			return 0;
		}
	}
	*err = "unknown or malformed envelope field";
	return -1;
}

/* Copy the next envelope line into line (without its LF). */
static int
md_line(const char *buf, size_t len, size_t *pos, char *line, const char **err)
{
	const char *nl = memchr(buf + *pos, '\n', len - *pos);
	size_t n;

	if (nl == NULL) {
		*err = "truncated envelope";
		return -1;
	}
	n = (size_t)(nl - (buf + *pos));
	if (n >= MAILDROP_FIELD_MAX) {
		*err = "envelope line too long";
		return -1;
	}
	memcpy(line, buf + *pos, n);
	line[n] = '\0';
	if (strlen(line) != n) {
		*err = "NUL in envelope";
		return -1;
	}
	*pos += n + 1;
	return 0;
}

int
maildrop_parse(
    const char *buf, size_t len, struct maildrop *md, const char **err)
{
	char line[MAILDROP_FIELD_MAX], magic[32], *sp;
	size_t pos = 0;
	uint64_t size = 0;
	int seen_sender = 0, seen_size = 0, after_rcpt = 0;

	maildrop_init(md);
	snprintf(
	    magic, sizeof(magic), "%s %d", MAILDROP_MAGIC, MAILDROP_VERSION);
	if (md_line(buf, len, &pos, line, err) == -1)
		goto bad;
	if (strcmp(line, magic) != 0) {
		*err = strncmp(line, MAILDROP_MAGIC " ",
		           strlen(MAILDROP_MAGIC) + 1) == 0
		    ? "unknown maildrop version"
		    : "not a maildrop file";
		goto bad;
	}
	for (;;) {
		if (md_line(buf, len, &pos, line, err) == -1)
			goto bad;
		if (line[0] == '\0')
			break;
		if ((sp = strchr(line, ' ')) == NULL) {
			*err = "envelope line without a value";
			goto bad;
		}
		*sp++ = '\0';
		seen_sender |= strcmp(line, "sender") == 0;
		if (md_field(
		        md, line, sp, after_rcpt, &seen_size, &size, err) == -1)
			goto bad;
		after_rcpt = strcmp(line, "rcpt") == 0;
	}
	if (!seen_sender || !seen_size) {
		*err = seen_sender ? "no size field" : "no sender field";
		goto bad;
	}
	if (size != len - pos) {
		*err = "message length differs from the envelope's size";
		goto bad;
	}
	md->msg = buf + pos;
	md->msglen = len - pos;
	return 0;
bad:
	maildrop_clear(md);
	return -1;
}

/* The end of the line starting at p (just past its LF, or at end). */
static size_t
md_eol(const char *msg, size_t len, size_t p)
{
	const char *nl = memchr(msg + p, '\n', len - p);

	return nl ? (size_t)(nl - msg) + 1 : len;
}

/* Length of the field name at p if the line is "name:", else 0. */
static size_t
md_field_name(const char *msg, size_t len, size_t p)
{
	size_t i;

	for (i = p; i < len; i++) {
		unsigned char c = msg[i];

		if (c == ':')
			return i - p;
		if (c <= 32 || c >= 127)
			return 0;
	}
	return 0;
}

int
msg_field_next(const char *msg, size_t len, size_t *pos, struct msg_field *f)
{
	size_t p = *pos, e, n;

	if (p >= len || (n = md_field_name(msg, len, p)) == 0)
		return 0;
	e = md_eol(msg, len, p);
	while (e < len && (msg[e] == ' ' || msg[e] == '\t'))
		e = md_eol(msg, len, e);
	f->name = msg + p;
	f->namelen = n;
	f->value = msg + p + n + 1;
	f->valuelen = e - (p + n + 1);
	while (f->valuelen > 0 &&
	    (f->value[f->valuelen - 1] == '\n' ||
	        f->value[f->valuelen - 1] == '\r'))
		f->valuelen--;
	f->start = msg + p;
	f->len = e - p;
	*pos = e;
	return 1;
}

int
msg_field_is(const struct msg_field *f, const char *name)
{
	return strlen(name) == f->namelen &&
	    strncasecmp(f->name, name, f->namelen) == 0;
}
