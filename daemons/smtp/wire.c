/*
 * wire.c - the DATA encoding of a message body. Every line ending (LF,
 * CRLF, or a lone CR) becomes CRLF, a leading '.' is doubled, a line longer
 * than 998 octets is broken, the last line is terminated, and ".\r\n"
 * closes the data. A header line is broken with CRLF SP (a folded header,
 * as Postfix does), a body line with a plain CRLF, so nothing is added to
 * the body text. 8-bit octets pass unchanged.
 */
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

/* One octet of line content, breaking the line when it is full. */
static void
wire_char(struct wire_out *w, char c)
{
	if (w->col >= WIRE_LINE_MAX) {
		wire_put(w, '\r');
		wire_put(w, '\n');
		w->col = 0;
		if (w->in_header)
			wire_put(w, ' ');
	}
	if (w->col == 0 && c == '.')
		wire_put(w, '.');
	wire_put(w, c);
}

size_t
wire_encode(const char *in, size_t inlen, char *out)
{
	struct wire_out w = {out, 0, 0, 1};
	size_t i;

	for (i = 0; i < inlen; i++) {
		if (in[i] == '\r') {
			if (i + 1 < inlen && in[i + 1] == '\n')
				i++;
			wire_eol(&w);
		} else if (in[i] == '\n')
			wire_eol(&w);
		else
			wire_char(&w, in[i]);
	}
	if (w.col > 0)
		wire_eol(&w);
	wire_put(&w, '.');
	wire_put(&w, '\r');
	wire_put(&w, '\n');
	return w.len;
}
