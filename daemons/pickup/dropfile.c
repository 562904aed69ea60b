/*
 * dropfile.c - what a file in drop_directory means: its envelope (IIS
 * pickup-directory X-Sender:/X-Receiver: lines, else From: and
 * To:/Cc:/Bcc:), which names count as complete, when a file has stood
 * still long enough, and the key that names it in pickup's sets and the
 * queue's drop table. Pure functions, unit-tested in dropdir_test.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "maildrop.h"
#include "pickup.h"
#include "util.h"

/* Parsing state shared with the addr_list_parse() callbacks. */
struct df_parse {
	struct maildrop *md;
	const char *origin;
	char *why;
	size_t whylen;
	const char *field; /* the header being read, for reasons */
	char *first; /* first address of From: */
	int failed;
};

static int df_fail(struct df_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
df_fail(struct df_parse *p, const char *fmt, ...)
{
	va_list ap;

	char *c;

	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->why, p->whylen, fmt, ap);
		va_end(ap);
		/* quoted text from the file must not break the line */
		for (c = p->why; *c != '\0'; c++)
			if ((unsigned char)*c < 32 || *c == 127)
				*c = ' ';
	}
	p->failed = 1;
	return -1;
}

/* A field value without surrounding white space, NUL-terminated. */
static char *
df_value(const struct msg_field *f)
{
	const char *v = f->value;
	size_t n = f->valuelen;

	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n > 0 &&
	    (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' ||
	        v[n - 1] == '\n'))
		n--;
	return xstrndup(v, n);
}

static void
df_add_rcpt(const char *raw, void *arg)
{
	struct df_parse *p = arg;
	char addr[ADDR_MAX];
	const char *err;

	if (addr_normalize(raw, p->origin, 0, addr, sizeof(addr), &err) == -1)
		df_fail(p, "bad recipient address \"%.100s\" in %s: %s", raw,
		    p->field, err);
	else
		maildrop_add_rcpt(p->md, addr, NULL);
}

static void
df_first(const char *raw, void *arg)
{
	struct df_parse *p = arg;

	if (p->first == NULL)
		p->first = xstrdup(raw);
}

/* One leading X-Sender:/X-Receiver: line. */
static int
df_x_line(struct df_parse *p, const struct msg_field *f, int *senders)
{
	char addr[ADDR_MAX], *v = df_value(f);
	const char *err;
	int sender = msg_field_is(f, "x-sender"), rc = 0;

	if (sender && ++*senders > 1)
		rc = df_fail(p, "more than one X-Sender line");
	else if (addr_normalize(v, p->origin, sender ? ADDR_NULL_OK : 0, addr,
	             sizeof(addr), &err) == -1)
		rc = df_fail(p, "bad %s address \"%.100s\": %s",
		    sender ? "X-Sender" : "X-Receiver", v, err);
	else if (sender) {
		free(p->md->sender);
		p->md->sender = xstrdup(addr);
	} else
		maildrop_add_rcpt(p->md, addr, NULL);
	free(v);
	return rc;
}

/* The leading X- lines; returns where the message proper starts. */
static size_t
df_x_lines(struct df_parse *p, const char *buf, size_t len, int *senders)
{
	struct msg_field f;
	size_t pos = 0, start = 0;

	while (!p->failed && msg_field_next(buf, len, &pos, &f) &&
	    (msg_field_is(&f, "x-sender") || msg_field_is(&f, "x-receiver"))) {
		df_x_line(p, &f, senders);
		start = pos;
	}
	return start;
}

/* The envelope parts the X- lines did not give, from the header. */
static void
df_from_header(struct df_parse *p, const char *msg, size_t len, int want_sender,
    int want_rcpt)
{
	struct msg_field f;
	size_t pos = 0;
	char *v;
	int from = 0;

	while (!p->failed && msg_field_next(msg, len, &pos, &f)) {
		if (want_sender && !from && msg_field_is(&f, "from")) {
			from = 1;
			v = xstrndup(f.value, f.valuelen);
			addr_list_parse(v, df_first, p);
			free(v);
			if (p->first == NULL)
				df_fail(p, "no sender: no address in From");
			continue;
		}
		if (!want_rcpt ||
		    !(msg_field_is(&f, "to") || msg_field_is(&f, "cc") ||
		        msg_field_is(&f, "bcc")))
			continue;
		p->field = msg_field_is(&f, "to") ? "To"
		    : msg_field_is(&f, "cc")      ? "Cc"
		                                  : "Bcc";
		v = xstrndup(f.value, f.valuelen);
		if (addr_list_parse(v, df_add_rcpt, p) == -1)
			df_fail(p, "cannot parse the %s header", p->field);
		free(v);
	}
	if (want_sender && !from)
		df_fail(p, "no sender: no X-Sender line and no From header");
}

static int
df_set_sender(struct df_parse *p)
{
	char addr[ADDR_MAX];
	const char *err;

	if (addr_normalize(p->first, p->origin, 0, addr, sizeof(addr), &err) ==
	    -1)
		return df_fail(p, "bad sender address \"%.100s\" in From: %s",
		    p->first, err);
	free(p->md->sender);
	p->md->sender = xstrdup(addr);
	return 0;
}

/* A message starts with a header field; a NUL in its header means a
 * binary file, not a message. */
static int
df_is_message(const char *msg, size_t len)
{
	struct msg_field f;
	size_t pos = 0;
	int n = 0;

	while (msg_field_next(msg, len, &pos, &f)) {
		if (memchr(f.start, '\0', f.len) != NULL)
			return 0;
		n++;
	}
	return n > 0;
}

int
dropfile_parse(const char *buf, size_t len, const char *origin,
    struct maildrop *md, char *why, size_t whylen)
{
	struct df_parse p = {md, origin, why, whylen, "", NULL, 0};
	size_t start;
	int senders = 0;

	maildrop_init(md);
	start = df_x_lines(&p, buf, len, &senders);
	if (!p.failed && !df_is_message(buf + start, len - start))
		df_fail(&p, "not a message: no header fields");
	if (!p.failed)
		df_from_header(
		    &p, buf + start, len - start, senders == 0, md->nrcpt == 0);
	if (!p.failed && senders == 0)
		df_set_sender(&p);
	maildrop_dedup(md);
	if (!p.failed && md->nrcpt == 0)
		df_fail(&p,
		    "no recipients: no X-Receiver line and no "
		    "address in To, Cc or Bcc");
	free(p.first);
	if (p.failed) {
		maildrop_clear(md);
		return -1;
	}
	md->msg = buf + start;
	md->msglen = len - start;
	return 0;
}

int
dropdir_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && name[0] != '.' &&
	    !(n >= 4 && strcasecmp(name + n - 4, ".tmp") == 0);
}

int
dropdir_name_usable(const char *name, const char **why)
{
	const unsigned char *s;

	if (strlen(name) > DROPDIR_NAME_MAX) {
		*why = "file name longer than 200 octets";
		return 0;
	}
	for (s = (const unsigned char *)name; *s != '\0'; s++)
		if (*s < 32 || *s == 127) {
			*why = "control characters in the file name";
			return 0;
		}
	return 1;
}

int
dropdir_key_make(
    const char *name, const struct dropdir_ident *id, char *key, size_t keylen)
{
	int n;

	n = snprintf(key, keylen, "%s%" PRIx64 ".%" PRIx64 ".%lx/%s",
	    DROPDIR_KEY_PREFIX, id->ino, (uint64_t)id->ctime.tv_sec,
	    (unsigned long)id->ctime.tv_nsec, name);
	return n > 0 && (size_t)n < keylen && strlen(key) <= 255 ? 0 : -1;
}

int
dropdir_key_parse(const char *key, struct dropdir_ident *id, const char **name)
{
	unsigned long long ino, sec;
	unsigned long nsec;
	const char *p;
	int used = 0;

	if (strncmp(key, DROPDIR_KEY_PREFIX, strlen(DROPDIR_KEY_PREFIX)) != 0)
		return -1;
	p = key + strlen(DROPDIR_KEY_PREFIX);
	if (sscanf(p, "%llx.%llx.%lx/%n", &ino, &sec, &nsec, &used) != 3 ||
	    used == 0 || p[used] == '\0' || strchr(p + used, '/') != NULL ||
	    nsec >= 1000000000UL)
		return -1;
	memset(id, 0, sizeof(*id));
	id->ino = ino;
	id->ctime.tv_sec = (time_t)sec;
	id->ctime.tv_nsec = (long)nsec;
	*name = p + used;
	return 0;
}

int
dropdir_ident_same(const struct dropdir_ident *a, const struct dropdir_ident *b)
{
	return a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static long
df_ms_between(const struct timespec *from, const struct timespec *to)
{
	return (long)(to->tv_sec - from->tv_sec) * 1000 +
	    (to->tv_nsec - from->tv_nsec) / 1000000;
}

/*
 * Any change to a file (a write, a rename, a chmod) sets its ctime to
 * the present, and nothing else can set it: a ctime older than the
 * interval proves the file stood still that long. Our own observation
 * covers a clock that jumped or a file system whose clock differs.
 */
long
dropdir_stable_wait(const struct dropdir_ident *seen,
    const struct timespec *seen_at, const struct dropdir_ident *now,
    const struct timespec *mono, const struct timespec *wall)
{
	long watched, still;

	if (!dropdir_ident_same(seen, now))
		return DROPDIR_STABLE_MS;
	watched = df_ms_between(seen_at, mono);
	still = df_ms_between(&now->ctime, wall);
	if (watched >= DROPDIR_STABLE_MS || still >= DROPDIR_STABLE_MS)
		return 0;
	if (still < 0)
		still = 0;
	return DROPDIR_STABLE_MS - (watched > still ? watched : still);
}
