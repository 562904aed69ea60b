/*
 * smtpreply.c - assemble one SMTP reply from its lines. The server is not
 * trusted: codes are checked on every line, the text kept is bounded and
 * made printable, and an enhanced status code is believed only when its
 * class agrees with the reply code.
 */
#include <ctype.h>
#include <string.h>

#include "smtpreply.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	/* not a memset: a reply is read four times per message, and the text
	 * is kept NUL-terminated at textlen, so 4 KB of zeroes buy nothing */
	r->code = 0;
	r->dsn[0] = '\0';
	r->text[0] = '\0';
	r->textlen = 0;
	r->complete = 0;
	r->nlines = 0;
}

/* Three digits, the first 2-5 and the second 0-5 (RFC 5321 4.2). */
static int
reply_code_parse(const char *p, size_t len)
{
	if (len < 3 || !isdigit((unsigned char)p[0]) ||
	    !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
		return -1;
	if (p[0] < '2' || p[0] > '5' || p[1] > '5')
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* Digits of a status-code field: 1 to max of them. */
static size_t
dsn_field(const char *p, size_t len, size_t max)
{
	size_t n = 0;

	while (n < len && n < max + 1 && isdigit((unsigned char)p[n]))
		n++;
	return (n >= 1 && n <= max) ? n : 0;
}

/*
 * Length of an enhanced status code "c.sss.ddd" at p, followed by a space
 * or the end of the line, whose class is the reply's; 0 if there is none.
 * RFC 3463 has no class 3, so a 3xx reply has none.
 */
static size_t
dsn_parse(const char *p, size_t len, int code)
{
	size_t n, pos;

	if (len < 5 || code / 100 == 3 || p[0] != '0' + code / 100 ||
	    p[1] != '.')
		return 0;
	pos = 2;
	if ((n = dsn_field(p + pos, len - pos, 3)) == 0)
		return 0;
	pos += n;
	if (pos >= len || p[pos] != '.')
		return 0;
	pos++;
	if ((n = dsn_field(p + pos, len - pos, 3)) == 0)
		return 0;
	pos += n;
	if (pos < len && p[pos] != ' ')
		return 0;
	return pos;
}

/* Append printable text, dropping what does not fit. */
static void
reply_append(struct smtp_reply *r, const char *p, size_t len)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < len && r->textlen < sizeof(r->text) - 1; i++) {
		c = (unsigned char)p[i];
		if (c == '\t')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		r->text[r->textlen++] = (char)c;
	}
	r->text[r->textlen] = '\0';
}

int
smtp_reply_line(struct smtp_reply *r, const char *line, size_t len)
{
	int code;
	size_t n;
	const char *rest;
	size_t restlen;

	if (r->complete || r->nlines >= SMTP_REPLY_MAXLINES)
		return -1;
	if ((code = reply_code_parse(line, len)) < 0)
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	if (r->nlines > 0 && code != r->code)
		return -1;
	rest = len > 4 ? line + 4 : "";
	restlen = len > 4 ? len - 4 : 0;
	if (r->nlines == 0) {
		r->code = code;
		reply_append(r, line, 3);
		if ((n = dsn_parse(rest, restlen, code)) > 0)
			memcpy(r->dsn, rest, n), r->dsn[n] = '\0';
	} else if (r->dsn[0] != '\0' &&
	    (n = dsn_parse(rest, restlen, code)) == strlen(r->dsn) &&
	    memcmp(rest, r->dsn, n) == 0) {
		/* The same code repeated on every line says nothing new. */
		rest += n;
		restlen -= n;
		if (restlen > 0)
			rest++, restlen--;
	}
	if (restlen > 0) {
		reply_append(r, " ", 1);
		reply_append(r, rest, restlen);
	}
	r->nlines++;
	if (len == 3 || line[3] == ' ')
		r->complete = 1;
	return 0;
}

const char *
smtp_reply_dsn(const struct smtp_reply *r)
{
	if (r->dsn[0] != '\0')
		return r->dsn;
	switch (r->code / 100) {
	case 2:
		return "2.0.0";
	case 3: /* where a final reply was due: every caller defers */
	case 4:
		return "4.0.0";
	case 5:
		return "5.0.0";
	default:
		return "";
	}
}
