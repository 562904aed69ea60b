/*
 * wire.c - the DATA encoding of a message body. Every line ending (LF,
 * CRLF, or a lone CR) becomes CRLF, a leading '.' is doubled, a line longer
 * than 998 octets is broken, the last line is terminated, and ".\r\n"
 * closes the data. A header line is broken with CRLF SP (a folded header,
 * as Postfix does), a body line with a plain CRLF, so nothing is added to
 * the body text. 8-bit octets pass unchanged.
 */
#include <string.h>

#include "wire.h"

struct wire_out {
	char *out; /* NULL: only count */
	size_t len;
	size_t col; /* octets on the current output line */
	int in_header; /* until the first empty line */
};

static void
wire_put(struct wire_out *w, char c)
{
	if (w->out != NULL)
		w->out[w->len] = c;
	w->len++;
	w->col++;
}

static void
wire_eol(struct wire_out *w)
{
	if (w->col == 0)
		w->in_header = 0;
	wire_put(w, '\r');
	wire_put(w, '\n');
	w->col = 0;
}

/* Line content (no CR, no LF), broken where the line is full; whole
 * runs are copied, not octet by octet. */
static void
wire_text(struct wire_out *w, const char *s, size_t n)
{
	size_t k;

	while (n > 0) {
		if (w->col >= WIRE_LINE_MAX) {
			wire_put(w, '\r');
			wire_put(w, '\n');
			w->col = 0;
			if (w->in_header)
				wire_put(w, ' ');
		}
		if (w->col == 0 && *s == '.')
			wire_put(w, '.');
		k = WIRE_LINE_MAX - w->col;
		if (k > n)
			k = n;
		if (w->out != NULL)
			memcpy(w->out + w->len, s, k);
		w->len += k;
		w->col += k;
		s += k;
		n -= k;
	}
}

/* The octets up to the next CR or LF (or the end). */
static size_t
wire_line(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	const char *cr;

	if (lf == NULL)
		lf = end;
	cr = memchr(p, '\r', (size_t)(lf - p));
	return (size_t)((cr != NULL ? cr : lf) - p);
}

size_t
wire_encode(const char *in, size_t inlen, char *out)
{
	struct wire_out w = {out, 0, 0, 1};
	const char *p = in, *end = in + inlen;
	size_t n;

	while (p < end) {
		n = wire_line(p, end);
		wire_text(&w, p, n);
		if ((p += n) == end)
			break;
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			p++;
		wire_eol(&w);
		p++;
	}
	if (w.col > 0)
		wire_eol(&w);
	wire_put(&w, '.');
	wire_put(&w, '\r');
	wire_put(&w, '\n');
	return w.len;
}
