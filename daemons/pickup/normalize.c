/*
 * normalize.c - the stored form of a submitted message: pickup's
 * Received: field on top, Bcc: removed, Date:, Message-ID: and From:
 * added when missing, LF line ends. Pure functions of their input (the
 * clock comes in as an argument), unit-tested in normalize_test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildrop.h"
#include "pickup.h"
#include "util.h"

/* A growing output buffer. */
struct norm_buf {
	char *p;
	size_t len, cap;
};

static void
nb_reserve(struct norm_buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	b->cap = b->len + n + b->cap / 2 + 256;
	b->p = xreallocarray(b->p, b->cap, 1);
}

static void
nb_add(struct norm_buf *b, const char *s, size_t n)
{
	nb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
nb_str(struct norm_buf *b, const char *s)
{
	nb_add(b, s, strlen(s));
}

/* Append s[0..n) with every CRLF turned into LF. */
static void
nb_add_lf(struct norm_buf *b, const char *s, size_t n)
{
	const char *cr;

	nb_reserve(b, n);
	while (n > 0 && (cr = memchr(s, '\r', n)) != NULL) {
		size_t k = (size_t)(cr - s);

		memcpy(b->p + b->len, s, k);
		b->len += k;
		if (k + 1 < n && cr[1] == '\n') {
			s += k + 1; /* drop the CR, keep the LF */
			n -= k + 1;
			continue;
		}
		b->p[b->len++] = '\r'; /* a lone CR stays */
		s += k + 1;
		n -= k + 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

size_t
norm_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Whether a display name can be written as one or more bare atoms. */
static int
norm_name_plain(const char *s)
{
	for (; *s != '\0'; s++)
		if (!(*s == ' ' || *s == '!' || (*s >= '#' && *s <= '\'') ||
		        *s == '*' || *s == '+' || *s == '-' || *s == '/' ||
		        (*s >= '0' && *s <= '9') || *s == '=' || *s == '?' ||
		        (*s >= 'A' && *s <= 'Z') || (*s >= '^' && *s <= '~')))
			return 0;
	return 1;
}

/* Write a display name: bare, quoted, or RFC 2047 "B" encoded. */
static void
norm_display_name(struct norm_buf *b, const char *name)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)name;
	size_t i, n = strlen(name);
	int eight = 0;

	for (i = 0; i < n; i++)
		eight |= s[i] > 127 || s[i] < 32;
	if (!eight && norm_name_plain(name)) {
		nb_add(b, name, n);
		return;
	}
	if (!eight) {
		nb_str(b, "\"");
		for (i = 0; i < n; i++) {
			if (s[i] == '"' || s[i] == '\\')
				nb_str(b, "\\");
			nb_add(b, name + i, 1);
		}
		nb_str(b, "\"");
		return;
	}
	nb_str(b, "=?UTF-8?B?");
	for (i = 0; i < n; i += 3) {
		unsigned v = s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0) |
		    (i + 2 < n ? s[i + 2] : 0);
		char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63],
		    i + 1 < n ? b64[v >> 6 & 63] : '=',
		    i + 2 < n ? b64[v & 63] : '='};
		nb_add(b, q, 4);
	}
	nb_str(b, "?=");
}

char *
norm_from_value(
    const char *sender, const char *fullname, const char *myhostname)
{
	struct norm_buf b = {NULL, 0, 0};

	if (*sender == '\0') {
		nb_str(&b, "MAILER-DAEMON@");
		nb_str(&b, myhostname);
	} else if (fullname != NULL && *fullname != '\0') {
		norm_display_name(&b, fullname);
		nb_str(&b, " <");
		nb_str(&b, sender);
		nb_str(&b, ">");
	} else
		nb_str(&b, sender);
	nb_add(&b, "", 1);
	return b.p;
}

/* Which of the fields pickup may add the message already has. */
struct norm_seen {
	int date, msgid, from, received;
	char *msgid_value; /* the first Message-ID:'s, for the log */
};

/* A field's value on one line for the log: folds and runs of white
 * space become one space, control characters "?", both ends trimmed. */
static char *
norm_log_value(const char *v, size_t n)
{
	char *s = xcalloc(NORM_MSGID_MAX + 1, 1);
	size_t i, o = 0;
	int space = 0;

	for (i = 0; i < n && o < NORM_MSGID_MAX; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (space && o + 1 < NORM_MSGID_MAX)
			s[o++] = ' ';
		space = 0;
		s[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	return s;
}

/* Copy the submitted header minus Bcc:, noting what is present. */
static size_t
norm_copy_header(
    const struct norm_in *in, struct norm_buf *b, struct norm_seen *seen)
{
	struct msg_field f;
	size_t pos = 0;

	while (msg_field_next(in->msg, in->len, &pos, &f)) {
		if (msg_field_is(&f, "bcc"))
			continue;
		seen->date |= msg_field_is(&f, "date");
		if (msg_field_is(&f, "message-id") && !seen->msgid++)
			seen->msgid_value = norm_log_value(f.value, f.valuelen);
		seen->from |= msg_field_is(&f, "from");
		seen->received += msg_field_is(&f, "received");
		nb_add_lf(b, f.start, f.len);
		if (f.len > 0 && f.start[f.len - 1] != '\n')
			nb_str(b, "\n"); /* header without a body or final LF */
	}
	return pos;
}

static void
norm_add_missing(
    const struct norm_in *in, struct norm_buf *b, struct norm_seen *seen)
{
	char date[64], stamp[32], *from;
	struct tm tm;
	size_t start;

	if (!seen->date) {
		norm_date(in->now, date, sizeof(date));
		nb_str(b, "Date: ");
		nb_str(b, date);
		nb_str(b, "\n");
	}
	if (!seen->msgid) {
		gmtime_r(&in->now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		nb_str(b, "Message-ID: ");
		start = b->len;
		nb_str(b, "<");
		nb_str(b, stamp);
		nb_str(b, ".");
		nb_str(b, in->qid);
		nb_str(b, "@");
		nb_str(b, in->myhostname);
		nb_str(b, ">");
		seen->msgid_value =
		    norm_log_value(b->p + start, b->len - start);
		nb_str(b, "\n");
	}
	if (!seen->from) {
		from =
		    norm_from_value(in->sender, in->fullname, in->myhostname);
		nb_str(b, "From: ");
		nb_str(b, from);
		nb_str(b, "\n");
		free(from);
	}
}

/* The body starts at pos: after the empty line, or at a non-field line
 * (then the empty line that separates it from the header is added). */
static void
norm_copy_body(const struct norm_in *in, struct norm_buf *b, size_t pos)
{
	if (pos >= in->len)
		return;
	if (in->msg[pos] == '\n')
		pos++;
	else if (in->msg[pos] == '\r' && pos + 1 < in->len &&
	    in->msg[pos + 1] == '\n')
		pos += 2;
	nb_str(b, "\n");
	nb_add_lf(b, in->msg + pos, in->len - pos);
	if (b->p[b->len - 1] != '\n')
		nb_str(b, "\n");
}

/*
 * "Received: from HELO (NAME [IP])\n\tby HOST (ncmta) with ESMTP id QID\n
 * \tfor <RCPT>; DATE", as Postfix's smtpd writes it; client is "NAME[IP]".
 */
static void
norm_received_smtp(
    const struct norm_in *in, struct norm_buf *b, const char *date)
{
	const char *br = strchr(in->client, '[');
	size_t namelen = br ? (size_t)(br - in->client) : strlen(in->client);

	nb_str(b, "Received: from ");
	if (in->helo != NULL && *in->helo != '\0')
		nb_str(b, in->helo);
	else
		nb_add(b, in->client, namelen);
	nb_str(b, " (");
	nb_add(b, in->client, namelen);
	if (br != NULL) {
		nb_str(b, " ");
		nb_str(b, br);
	}
	nb_str(b, ")\n\tby ");
	nb_str(b, in->myhostname);
	nb_str(b, " (ncmta) with ");
	nb_str(b, in->proto != NULL && *in->proto != '\0' ? in->proto : "SMTP");
	nb_str(b, " id ");
	nb_str(b, in->qid);
	if (in->rcpt != NULL) {
		nb_str(b, "\n\tfor <");
		nb_str(b, in->rcpt);
		nb_str(b, ">");
	}
	nb_str(b, "; ");
	nb_str(b, date);
	nb_str(b, "\n");
}

void
normalize_message(const struct norm_in *in, struct norm_out *out)
{
	struct norm_buf b = {NULL, 0, 0};
	struct norm_seen seen = {0, 0, 0, 0, NULL};
	char date[64], uid[16];
	size_t pos, i;

	nb_reserve(&b, in->len + 512);
	norm_date(in->now, date, sizeof(date));
	if (in->client != NULL && *in->client != '\0')
		norm_received_smtp(in, &b, date);
	else {
		snprintf(uid, sizeof(uid), "%u", (unsigned)in->uid);
		nb_str(&b, "Received: by ");
		nb_str(&b, in->myhostname);
		nb_str(&b, " (ncmta, from userid ");
		nb_str(&b, uid);
		nb_str(&b, ")\n\tid ");
		nb_str(&b, in->qid);
		nb_str(&b, "; ");
		nb_str(&b, date);
		nb_str(&b, "\n");
	}
	pos = norm_copy_header(in, &b, &seen);
	norm_add_missing(in, &b, &seen);
	norm_copy_body(in, &b, pos);
	out->eightbit = 0;
	for (i = 0; i < in->len && !out->eightbit; i++)
		out->eightbit = (unsigned char)in->msg[i] > 127;
	out->nreceived = seen.received + 1;
	out->msgid = seen.msgid_value;
	out->body = b.p;
	out->len = b.len;
}
