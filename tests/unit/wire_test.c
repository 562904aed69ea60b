/*
 * wire_test.c - the DATA encoding of daemons/smtp/wire.c: line ends,
 * dot-stuffing, the 998-octet limit, 8-bit octets and the terminator.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../daemons/smtp/wire.h"

static char outbuf[16384];

/* Encode, check the measuring pass agrees, return the NUL-ended result. */
static const char *
enc(const char *in, size_t len)
{
	size_t want = wire_encode(in, len, NULL), got;

	if (want >= sizeof(outbuf))
		return "(too long for the test buffer)";
	got = wire_encode(in, len, outbuf);
	outbuf[got] = '\0';
	if (got != want)
		return "(measured length differs)";
	return outbuf;
}

#define ENC(s) enc((s), sizeof(s) - 1)

/* The longest line of an encoded text, CRLF excluded. */
static size_t
longest_line(const char *s)
{
	size_t max = 0, n;
	const char *e;

	while ((e = strstr(s, "\r\n")) != NULL) {
		n = (size_t)(e - s);
		if (n > max)
			max = n;
		s = e + 2;
	}
	return max;
}

static void
test_line_ends(void)
{
	is_str(ENC("a\nb\n"), "a\r\nb\r\n.\r\n", "LF becomes CRLF");
	is_str(ENC("a\r\nb\r\n"), "a\r\nb\r\n.\r\n", "CRLF kept as is");
	is_str(ENC("a\rb\n"), "a\r\nb\r\n.\r\n", "lone CR becomes CRLF");
	is_str(ENC("a\r\r\nb\n"), "a\r\n\r\nb\r\n.\r\n",
	    "CR CR LF is a lone CR then CRLF");
	is_str(
	    ENC("a\n\n\nb\n"), "a\r\n\r\n\r\nb\r\n.\r\n", "empty lines kept");
	is_str(ENC("abc"), "abc\r\n.\r\n", "missing final newline added");
	is_str(ENC("abc\r"), "abc\r\n.\r\n", "final lone CR terminates");
	is_str(ENC(""), ".\r\n", "empty body is only the terminator");
	is_str(ENC("\n"), "\r\n.\r\n", "a single empty line");
}

static void
test_dots(void)
{
	is_str(ENC(".\n"), "..\r\n.\r\n", "lone dot line is stuffed");
	is_str(ENC("..x\n"), "...x\r\n.\r\n", "leading dots doubled once");
	is_str(ENC("x.y\n.\n"), "x.y\r\n..\r\n.\r\n",
	    "only a leading dot is stuffed");
	is_str(ENC("a\r.b"), "a\r\n..b\r\n.\r\n",
	    "dot after a lone CR is at line start");
	is_str(ENC("."), "..\r\n.\r\n", "body that is one dot, no newline");
}

static void
test_8bit(void)
{
	is_str(ENC("caf\xc3\xa9 \xff\x80\n"), "caf\xc3\xa9 \xff\x80\r\n.\r\n",
	    "8-bit octets kept");
	ok(enc("a\0b\n", 4)[1] == '\0' &&
	        memcmp(outbuf, "a\0b\r\n.\r\n", 8) == 0,
	    "NUL octet passed through");
}

static void
test_split(void)
{
	char in[4096], want[4096];
	const char *got;
	size_t n;

	/* exactly 998 octets: not broken */
	memset(in, 'a', 998);
	memcpy(in + 998, "\n", 1);
	got = enc(in, 999);
	is_int(strlen(got), 998 + 2 + 3, "a 998-octet line is not broken");
	is_int(longest_line(got), 998, "longest line 998");

	/* body line of 2000 octets: 998 + 998 + 4, plain CRLF breaks */
	n = strlen(memcpy(in, "Subject: x\n\n", 13));
	memset(in + n, 'b', 2000);
	in[n + 2000] = '\n';
	got = enc(in, n + 2001);
	is_int(longest_line(got), 998, "body line broken at 998");
	memcpy(want, "Subject: x\r\n\r\n", 14);
	memset(want + 14, 'b', 998);
	memcpy(want + 14 + 998, "\r\n", 2);
	memset(want + 16 + 998, 'b', 998);
	memcpy(want + 16 + 1996, "\r\nbbbb\r\n.\r\n", 12);
	is_str(got, want, "body break inserts only CRLF");

	/* header line of 1500 octets: folded with CRLF SP */
	memcpy(in, "X-Long: ", 8);
	memset(in + 8, 'c', 1492);
	memcpy(in + 1500, "\n\nbody\n", 8);
	got = enc(in, 1507);
	is_int(longest_line(got), 998, "header line broken at 998");
	ok(strncmp(got + 998, "\r\n c", 4) == 0,
	    "header break is a fold (CRLF SP)");
	ok(strstr(got, "\r\n\r\nbody\r\n.\r\n") != NULL,
	    "header/body separator intact after a fold");

	/* a break that leaves a dot at the start of the next line */
	memcpy(in, "\n", 1);
	memset(in + 1, 'd', 998);
	memcpy(in + 999, ".e\n", 3);
	got = enc(in, 1002);
	ok(strstr(got, "\r\n..e\r\n.\r\n") != NULL,
	    "dot at the start of a broken line is stuffed");
	is_int(longest_line(got), 998, "still at most 998");
}

int
main(void)
{
	test_line_ends();
	test_dots();
	test_8bit();
	test_split();
	return done_testing();
}
