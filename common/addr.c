/*
 * addr.c - e-mail address handling for submission and routing. Envelope
 * addresses are normalised to "local@domain" (domain lower-cased, bare
 * local parts qualified); header values are split into their addresses,
 * dropping display names, comments and group syntax. Pure functions.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define DOMAIN_MAX 255

int
addr_has_control(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

size_t
addr_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0; /* ASCII, a continuation octet, C0/C1, F5-FF */
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong (E0 80-9F, F0 80-8F), surrogates (ED A0-BF), beyond
	 * U+10FFFF (F4 90-BF) */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

int
addr_is_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 0x7f)
			return 1;
	return 0;
}

static int
addr_fail(const char **err, const char *why)
{
	if (err)
		*err = why;
	return -1;
}

/* RFC 5322 "specials" that may not appear unquoted in a local part. */
static int
addr_special(int c)
{
	return strchr("()<>[]:;@\\,\"", c) != NULL;
}

/* Length of a quoted string starting at s (which is '"'), or 0. */
static size_t
addr_quoted_len(const char *s, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Check a local part (dot-atom or quoted string); 0 if acceptable. */
static int
addr_check_local(const char *s, size_t n, const char **err)
{
	size_t i;

	if (n == 0)
		return addr_fail(err, "missing local part");
	if (s[0] == '"') {
		if (addr_quoted_len(s, n) != n)
			return addr_fail(err, "bad quoted local part");
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			return addr_fail(err, "misplaced quote");
		if (addr_special((unsigned char)s[i]))
			return addr_fail(err, "special character in address");
	}
	return 0;
}

/* Check a domain (dot-atom or [literal]); 0 if acceptable. Octets
 * above 0x7f were checked by addr_check_chars() (a U-label). */
static int
addr_check_domain(const char *s, size_t n, int utf8, const char **err)
{
	size_t i;

	if (n == 0)
		return addr_fail(err, "empty domain");
	if (n > DOMAIN_MAX)
		return addr_fail(err, "domain too long");
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']' || memchr(s + 1, '[', n - 2) ||
		    memchr(s + 1, ']', n - 2))
			return addr_fail(err, "bad address literal");
		return 0;
	}
	if (s[0] == '.' || memmem(s, n, "..", 2))
		return addr_fail(err, "empty domain label");
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '.' && s[i] != '_' &&
		    !(utf8 && (unsigned char)s[i] > 0x7f))
			return addr_fail(err, "bad character in domain");
	}
	return 0;
}

/* The '@' that separates local part and domain (outside quotes), or -1. */
static long
addr_find_at(const char *s, size_t n, const char **err)
{
	size_t i, q;
	long at = -1;

	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			if ((q = addr_quoted_len(s + i, n - i)) == 0)
				return addr_fail(err, "unterminated quote");
			i += q - 1;
		} else if (s[i] == '@') {
			if (at != -1)
				return addr_fail(err, "more than one '@'");
			at = (long)i;
		}
	}
	if (at == -1)
		return -2;
	return at;
}

/*
 * Reject control characters (anywhere, quoted or escaped too: no octet of
 * an address may end or split a line in SMTP, the log or a queue file),
 * 8-bit octets (quoted too) unless utf8, then anything but well-formed
 * UTF-8 and the C1 controls, and spaces outside quotes.
 */
static int
addr_check_chars(const char *s, size_t n, int utf8, const char **err)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, q, len;

	if (addr_has_control(s, n))
		return addr_fail(err, ADDR_ERR_CONTROL);
	for (i = 0; i < n; i++) {
		if (u[i] <= 0x7f)
			continue;
		if (!utf8)
			return addr_fail(err, ADDR_ERR_8BIT);
		if (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f)
			return addr_fail(err, ADDR_ERR_CONTROL); /* C1 */
		if ((len = addr_utf8_len(u + i, n - i)) == 0)
			return addr_fail(err, ADDR_ERR_UTF8);
		i += len - 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"') {
			if ((q = addr_quoted_len(s + i, n - i)) == 0)
				return addr_fail(err, "unterminated quote");
			i += q - 1;
		} else if (c == ' ')
			return addr_fail(err, "space in address");
	}
	return 0;
}

/* Trim whitespace and one pair of angle brackets: the bare address. */
static int
addr_strip(const char *in, const char **sp, size_t *np, const char **err)
{
	const char *s = in;
	size_t n = strlen(in);

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n > 0 && *s == '<') {
		if (n < 2 || s[n - 1] != '>')
			return addr_fail(err, "unbalanced '<'");
		s++, n -= 2;
	} else if (n > 0 && s[n - 1] == '>')
		return addr_fail(err, "unbalanced '>'");
	*sp = s;
	*np = n;
	return 0;
}

int
addr_normalize(const char *in, const char *origin, int flags, char *out,
    size_t outlen, const char **err)
{
	const char *s;
	size_t n, llen, dlen, i;
	long at;

	if (addr_strip(in, &s, &n, err) == -1)
		return -1;
	if (n == 0) {
		if (!(flags & ADDR_NULL_OK))
			return addr_fail(err, "empty address");
		if (outlen < 1)
			return addr_fail(err, "address too long");
		out[0] = '\0';
		return 0;
	}
	if (addr_check_chars(s, n, (flags & ADDR_UTF8) != 0, err) == -1)
		return -1;
	if ((at = addr_find_at(s, n, err)) == -1)
		return -1;
	llen = at == -2 ? n : (size_t)at;
	if (addr_check_local(s, llen, err) == -1)
		return -1;
	if (at == -2) {
		if (origin == NULL || *origin == '\0')
			return addr_fail(err, "unqualified address");
		dlen = strlen(origin);
	} else
		dlen = n - llen - 1;
	/* A trailing dot names the same domain (absolute form); one more
	 * would leave an empty label. */
	if (at != -2 && dlen > 1 && s[n - 1] == '.') {
		dlen--;
		if (s[n - 2] == '.')
			return addr_fail(err, "empty domain label");
	}
	if (llen + 1 + dlen + 1 > outlen || llen + 1 + dlen + 1 > ADDR_MAX)
		return addr_fail(err, "address too long");
	memcpy(out, s, llen);
	out[llen] = '@';
	memcpy(out + llen + 1, at == -2 ? origin : s + llen + 1, dlen);
	out[llen + 1 + dlen] = '\0';
	if (addr_check_domain(
	        out + llen + 1, dlen, (flags & ADDR_UTF8) != 0, err) == -1)
		return -1;
	for (i = llen + 1; i < llen + 1 + dlen; i++) /* ASCII letters only */
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	return 0;
}

const char *
addr_domain(const char *a)
{
	const char *at = strrchr(a, '@');

	return at ? at + 1 : "";
}

/*
 * Header address lists. A small tokenizer turns the value into words
 * (atoms, quoted strings, domain literals) and specials, skipping
 * comments and folding white space; the list parser then collects, per
 * mailbox, either the text between '<' and '>' or the bare addr-spec.
 */
enum addr_tok { TOK_END, TOK_WORD, TOK_SPECIAL, TOK_ERROR };

struct addr_lex {
	const char *p;
	int space_before; /* white space or comment preceded this token */
	const char *tok;
	size_t toklen;
};

static int
addr_skip_comment(struct addr_lex *lx)
{
	int depth = 0;

	do {
		if (*lx->p == '\0')
			return -1;
		if (*lx->p == '\\' && lx->p[1] != '\0')
			lx->p++;
		else if (*lx->p == '(')
			depth++;
		else if (*lx->p == ')')
			depth--;
		lx->p++;
	} while (depth > 0);
	return 0;
}

static enum addr_tok
addr_lex_next(struct addr_lex *lx)
{
	size_t q;

	lx->space_before = 0;
	for (;;) {
		if (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' ||
		    *lx->p == '\n') {
			lx->p++;
			lx->space_before = 1;
		} else if (*lx->p == '(') {
			if (addr_skip_comment(lx) == -1)
				return TOK_ERROR;
			lx->space_before = 1;
		} else
			break;
	}
	lx->tok = lx->p;
	if (*lx->p == '\0')
		return TOK_END;
	if (*lx->p == '"' || *lx->p == '[') {
		if (*lx->p == '"')
			q = addr_quoted_len(lx->p, strlen(lx->p));
		else {
			const char *e = strchr(lx->p, ']');
			q = e ? (size_t)(e - lx->p) + 1 : 0;
		}
		if (q == 0)
			return TOK_ERROR;
		lx->toklen = q;
		lx->p += q;
		return TOK_WORD;
	}
	if (strchr("<>@,;:.)]\\", *lx->p)) {
		lx->toklen = 1;
		lx->p++;
		return TOK_SPECIAL;
	}
	while (*lx->p != '\0' && !strchr(" \t\r\n()<>@,;:.\"[]\\", *lx->p))
		lx->p++;
	lx->toklen = (size_t)(lx->p - lx->tok);
	return TOK_WORD;
}

/* One mailbox being collected. */
struct addr_box {
	char buf[ADDR_MAX * 2];
	size_t len;
	int angle; /* inside <...> */
	int had_angle; /* an angle address was seen */
	int last_word; /* last appended token was a word */
	int bad_spacing; /* two words in a row in a bare addr-spec */
	char angle_buf[ADDR_MAX * 2];
	size_t angle_len;
};

static int
addr_box_add(char *buf, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > ADDR_MAX * 2)
		return -1;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/* Emit the collected mailbox (if any) and reset it. */
static int
addr_box_flush(struct addr_box *b, void (*cb)(const char *, void *), void *arg)
{
	int n = 0;

	if (b->angle)
		return -1;
	if (b->had_angle) {
		/* A "<@route:" prefix (RFC 5322 obs-route) is dropped. */
		const char *a = b->angle_buf, *c;
		if (a[0] == '@' && (c = strchr(a, ':')) != NULL)
			a = c + 1;
		if (*a != '\0') {
			cb(a, arg);
			n = 1;
		}
	} else if (b->len > 0) {
		if (b->bad_spacing)
			return -1;
		cb(b->buf, arg);
		n = 1;
	}
	memset(b, 0, sizeof(*b));
	return n;
}

/* Feed one token to the mailbox; -1 on a syntax error. */
static int
addr_box_token(struct addr_box *b, enum addr_tok t, struct addr_lex *lx)
{
	char c = *lx->tok;

	if (t == TOK_SPECIAL && c == '<') {
		if (b->angle || b->had_angle)
			return -1;
		b->angle = b->had_angle = 1;
		return 0;
	}
	if (t == TOK_SPECIAL && c == '>') {
		if (!b->angle)
			return -1;
		b->angle = 0;
		return 0;
	}
	if (t == TOK_SPECIAL && (c == ')' || c == ']' || c == '\\'))
		return -1;
	if (b->angle)
		return addr_box_add(
		    b->angle_buf, &b->angle_len, lx->tok, lx->toklen);
	if (b->had_angle)
		return -1; /* text after the closing '>' */
	/* Display-name words before '<' are collected here too and simply
	 * discarded if an angle address follows. */
	if (t == TOK_WORD && b->last_word && lx->space_before)
		b->bad_spacing = 1;
	b->last_word = t == TOK_WORD;
	return addr_box_add(b->buf, &b->len, lx->tok, lx->toklen);
}

int
addr_list_parse(const char *value, void (*cb)(const char *, void *), void *arg)
{
	struct addr_lex lx = {.p = value};
	struct addr_box *b;
	enum addr_tok t;
	int count = 0, in_group = 0, r;

	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -1;
	for (;;) {
		t = addr_lex_next(&lx);
		if (t == TOK_ERROR)
			goto bad;
		if (t == TOK_END ||
		    (t == TOK_SPECIAL && !b->angle &&
		        (*lx.tok == ',' || *lx.tok == ';'))) {
			if ((r = addr_box_flush(b, cb, arg)) == -1)
				goto bad;
			count += r;
			if (t == TOK_END)
				break;
			if (*lx.tok == ';') {
				if (!in_group)
					goto bad;
				in_group = 0;
			}
			continue;
		}
		if (t == TOK_SPECIAL && *lx.tok == ':' && !b->angle) {
			/* Start of a group: what came before is its name. */
			if (in_group || b->had_angle)
				goto bad;
			memset(b, 0, sizeof(*b));
			in_group = 1;
			continue;
		}
		if (addr_box_token(b, t, &lx) == -1)
			goto bad;
	}
	free(b);
	return count;
bad:
	free(b);
	return -1;
}

struct addr_ref {
	const char *s;
	size_t idx;
};

static int
addr_ref_cmp(const void *a, const void *b)
{
	const struct addr_ref *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

size_t
addr_dedup(char **v, size_t n)
{
	return addr_dedup_with(v, NULL, n);
}

size_t
addr_dedup_with(char **v, char **with, size_t n)
{
	struct addr_ref *r;
	unsigned char *dup;
	size_t i, out = 0;

	if (n < 2)
		return n;
	r = calloc(n, sizeof(*r));
	dup = calloc(n, 1);
	if (r == NULL || dup == NULL) {
		free(r);
		free(dup);
		return n; /* keeping duplicates is safe, losing one is not */
	}
	for (i = 0; i < n; i++)
		r[i] = (struct addr_ref){v[i], i};
	qsort(r, n, sizeof(*r), addr_ref_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(r[i].s, r[i - 1].s) == 0)
			dup[r[i].idx] = 1;
	for (i = 0; i < n; i++) {
		if (dup[i]) {
			free(v[i]);
			if (with != NULL)
				free(with[i]);
			continue;
		}
		if (with != NULL)
			with[out] = with[i];
		v[out++] = v[i];
	}
	free(r);
	free(dup);
	return out;
}
