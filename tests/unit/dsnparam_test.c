/*
 * dsnparam_test.c - RFC 3461's xtext both ways (what the smtp worker
 * sends as ENVID= and ORCPT=, what smtpin takes), and what an ORCPT may
 * hold as ncmta keeps it.
 */
#include <stdlib.h>
#include <string.h>

#include "dsnparam.h"
#include "tap.h"

/* dsn_xtext_encode() into len octets, or dsn_xtext_decode() of at most
 * len octets: the result, or why there is none. */
static const char *
xt(int encode, const char *in, size_t len)
{
	static char out[2048];

	if (encode && dsn_xtext_encode(in, out, len) == -1)
		return *out == '\0' ? "(does not fit)" : "(not emptied)";
	if (!encode && dsn_xtext_decode(in, out, len) == -1)
		return "(refused)";
	return out;
}

#define enc(in, len) xt(1, in, len)
#define dec(in, max) xt(0, in, max)

static void
test_encode(void)
{
	char all[256], back[1024], x[1024];
	size_t i;

	is_str(enc("rfc822;orig+x@example.com", 64),
	    "rfc822;orig+2Bx@example.com", "'+' becomes +2B");
	is_str(enc("a=b", 64), "a+3Db", "'=' becomes +3D");
	is_str(enc("a b\tc", 64), "a+20b+09c", "space and tab");
	is_str(enc("J\xc3\xb6rg", 64), "J+C3+B6rg", "8-bit octets");
	is_str(enc("!~", 64), "!~", "33 and 126 stay as they are");
	is_str(enc("\x7f", 64), "+7F", "DEL");
	is_str(enc("", 1), "", "empty");
	is_str(enc("abc", 4), "abc", "exactly fits");
	is_str(enc("abcd", 4), "(does not fit)", "one octet too many");
	is_str(enc("ab+", 5), "(does not fit)", "+HH needs three");
	is_str(enc("ab+", 6), "ab+2B", "and fits with them");
	is_int(dsn_xtext_encode("x", x, 0), -1, "no room at all");

	/* every octet but NUL, encoded and decoded back, except the
	 * control characters decode refuses */
	for (i = 1; i < 256; i++)
		all[i - 1] = (char)(i < 0x20 || i == 0x7f ? 'c' : i);
	all[255] = '\0';
	is_int(dsn_xtext_encode(all, x, sizeof(x)), 0, "all octets encoded");
	ok(strspn(x,
	       "!\"#$%&'()*,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	       "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~+") == strlen(x),
	    "the encoding is printable, without '=' or space");
	is_int(dsn_xtext_decode(x, back, sizeof(back) - 1), 0, "decoded");
	is_str(back, all, "and back to what it was");
}

static void
test_decode(void)
{
	is_str(dec("rfc822;orig+2Bx@example.com", 100),
	    "rfc822;orig+x@example.com", "+2B");
	is_str(dec("a+3db", 100), "a=b", "lower-case hex");
	is_str(dec("a+20b", 100), "a b", "an encoded space");
	is_str(dec("a b", 100), "(refused)", "a bare space");
	is_str(dec("a=b", 100), "(refused)", "a bare '='");
	is_str(dec("a+2", 100), "(refused)", "a cut +HH");
	is_str(dec("a+ZZ", 100), "(refused)", "not hex");
	is_str(dec("a+0D+0Ab", 100), "(refused)", "CR LF");
	is_str(dec("a+7F", 100), "(refused)", "DEL");
	is_str(dec("", 100), "(refused)", "empty");
	is_str(dec("abc", 3), "abc", "max octets");
	is_str(dec("abcd", 3), "(refused)", "one over max");
}

static void
test_orcpt(void)
{
	char big[600];

	ok(dsn_orcpt_valid("rfc822;a@b.example"), "rfc822;a@b");
	ok(dsn_orcpt_valid("RFC822;a+b=c@d"), "'+' and '=' decoded");
	ok(dsn_orcpt_valid("x-400;/C=us/"), "a '-' in the type");
	ok(dsn_orcpt_valid("utf-8;J\xc3\xb6rg@example.de"), "UTF-8");
	ok(dsn_orcpt_valid("rfc822;\"a b\"@c"), "a space");
	ok(dsn_orcpt_valid("rfc822;a;b"), "a ';' in the address");
	ok(!dsn_orcpt_valid(""), "empty");
	ok(!dsn_orcpt_valid("rfc822"), "no ';'");
	ok(!dsn_orcpt_valid(";a@b"), "no type");
	ok(!dsn_orcpt_valid("rfc822;"), "no address");
	ok(!dsn_orcpt_valid("rfc 822;a@b"), "a space in the type");
	ok(!dsn_orcpt_valid("rfc822;a\r\n@b"), "CR LF");
	ok(!dsn_orcpt_valid("rfc822;a\t@b"), "a tab");
	ok(!dsn_orcpt_valid("rfc822;a\x7f"), "DEL");
	ok(!dsn_orcpt_valid("rfc822;\xff"), "not UTF-8");
	ok(!dsn_orcpt_valid("rfc822;\xc3"), "a cut UTF-8 sequence");
	ok(!dsn_orcpt_valid("rfc822;\xe0\x80\x80"), "overlong UTF-8");
	ok(!dsn_orcpt_valid("rfc822;\xed\xa0\x80"), "a UTF-16 surrogate");
	ok(!dsn_orcpt_valid("rfc822;\xf4\x90\x80\x80"), "above U+10FFFF");
	memset(big, 'a', sizeof(big));
	memcpy(big, "rfc822;", 7);
	big[DSN_ORCPT_MAX] = '\0';
	ok(dsn_orcpt_valid(big), "DSN_ORCPT_MAX octets");
	big[DSN_ORCPT_MAX] = 'a';
	big[DSN_ORCPT_MAX + 1] = '\0';
	ok(!dsn_orcpt_valid(big), "one more");
	memset(big, 'a', sizeof(big));
	big[DSN_ORCPT_TYPE_MAX] = ';';
	big[DSN_ORCPT_TYPE_MAX + 2] = '\0';
	ok(dsn_orcpt_valid(big), "the longest type");
	big[DSN_ORCPT_TYPE_MAX] = 'a';
	big[DSN_ORCPT_TYPE_MAX + 1] = ';';
	ok(!dsn_orcpt_valid(big), "a longer one");
}

int
main(void)
{
	test_encode();
	test_decode();
	test_orcpt();
	return done_testing();
}
