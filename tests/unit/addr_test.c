/*
 * addr_test.c - envelope address normalisation (qualify, lower-case the
 * domain, null sender, bad input) and header address lists (names,
 * quotes, groups, comments, routes) as ncsendmail -t and pickup see them.
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "tap.h"

static const char *
norm(const char *in, int flags)
{
	static char out[ADDR_MAX];
	const char *err = NULL;

	if (addr_normalize(in, "example.org", flags, out, sizeof(out), &err) ==
	    -1)
		return err ? "ERR" : "ERR-without-reason";
	return out;
}

/* The reason addr_normalize() gives with ADDR_UTF8, or "OK". */
static const char *
utf8_why(const char *in)
{
	char out[ADDR_MAX];
	const char *err = NULL;

	if (addr_normalize(
	        in, "example.org", ADDR_UTF8, out, sizeof(out), &err) == 0)
		return "OK";
	return err ? err : "no reason";
}

struct list {
	char text[2048];
	int n;
};

static void
collect(const char *a, void *arg)
{
	struct list *l = arg;

	if (l->n++ > 0)
		strlcat(l->text, "|", sizeof(l->text));
	strlcat(l->text, a, sizeof(l->text));
}

static const char *
list(const char *value, int *count)
{
	static struct list l;

	memset(&l, 0, sizeof(l));
	*count = addr_list_parse(value, collect, &l);
	return l.text;
}

static void
test_normalize(void)
{
	char longaddr[ADDR_MAX + 10];
	char out[16];
	const char *err;

	is_str(norm("alice@Example.COM", 0), "alice@example.com",
	    "domain is lower-cased");
	is_str(norm("Alice@example.com", 0), "Alice@example.com",
	    "local part keeps its case");
	is_str(
	    norm("root", 0), "root@example.org", "bare local part qualified");
	is_str(norm("  <bob@example.net>  ", 0), "bob@example.net",
	    "white space and angle brackets stripped");
	is_str(norm("<www-data>", 0), "www-data@example.org",
	    "bracketed local part qualified");
	is_str(norm("<>", 1), "", "null sender allowed when asked");
	is_str(norm("", 1), "", "empty sender is the null sender");
	is_str(norm("<>", 0), "ERR", "null address refused for recipients");
	is_str(norm("\"john doe\"@example.com", 0), "\"john doe\"@example.com",
	    "quoted local part with a space");
	is_str(norm("\"a@b\"@example.com", 0), "\"a@b\"@example.com",
	    "'@' inside quotes is part of the local part");
	is_str(
	    norm("user@[192.0.2.7]", 0), "user@[192.0.2.7]", "address literal");
	is_str(norm("user@example.com.", 0), "user@example.com",
	    "trailing dot of the domain dropped");
	is_str(norm("first.last+tag@sub.example.com", 0),
	    "first.last+tag@sub.example.com", "dots and plus in local part");
	is_str(norm("@example.com", 0), "ERR", "missing local part");
	is_str(norm("user@", 0), "ERR", "empty domain");
	is_str(norm("a@b@c", 0), "ERR", "two '@'");
	is_str(norm("john doe@example.com", 0), "ERR", "space outside quotes");
	is_str(norm("bob@exa\nmple.com", 0), "ERR", "control character");
	/* quoting or escaping does not make a control character acceptable:
	 * it would reach SMTP command lines and the log */
	is_str(norm("\"\x01\"@a.example", 1), "ERR", "quoted control char");
	is_str(norm("\"a\\\x01b\"@a.example", 0), "ERR",
	    "escaped control char in quotes");
	is_str(norm("\"a\x7f\"@a.example", 0), "ERR", "quoted DEL");
	is_str(norm("\"a\rRCPT TO:<x@y>\"@a.example", 0), "ERR", "quoted CR");
	err = NULL;
	ok(addr_normalize("\"\x01\"@a.example", "example.org", 1, out,
	       sizeof(out), &err) == -1 &&
	        err != NULL && strcmp(err, ADDR_ERR_CONTROL) == 0,
	    "control character reason is ADDR_ERR_CONTROL");
	is_str(norm("\"a b\"@a.example", 0), "\"a b\"@a.example",
	    "quoted space still fine");
	is_str(norm("bob@ex ample.com", 0), "ERR", "space in domain");
	is_str(norm("<bob@example.com", 0), "ERR", "unbalanced '<'");
	is_str(norm("bob@example.com>", 0), "ERR", "unbalanced '>'");
	is_str(norm("b<o>b@example.com", 0), "ERR", "specials in local part");
	is_str(norm("bob@exa..mple.com", 0), "ERR", "empty domain label");
	is_str(norm("bob@example.com..", 0), "ERR",
	    "two trailing dots: an empty label, not the absolute form");
	is_str(norm("\"bob@example.com", 0), "ERR", "unterminated quote");
	is_str(norm("b\xc3\xa9@example.com", 0), "ERR", "8-bit address");
	/* nor does quoting make an 8-bit octet acceptable: without
	 * SMTPUTF8 it cannot be sent in MAIL FROM or RCPT TO */
	is_str(norm("\"b\xc3\xa9\"@example.com", 0), "ERR",
	    "8-bit octet in a quoted local part");
	is_str(norm("<\"\xff\"@example.com>", 1), "ERR", "8-bit quoted sender");
	is_str(norm("bob@[1.2.3.4", 0), "ERR", "unterminated literal");

	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	is_str(norm(longaddr, 0), "ERR", "over-long address");
	is_int(addr_normalize(
	           "alice@example.com", NULL, 0, out, sizeof(out), &err),
	    -1, "output buffer too small is an error, not an overflow");
	is_int(addr_normalize("root", NULL, 0, out, sizeof(out), &err), -1,
	    "no origin: an unqualified address is refused");
	is_str(addr_domain("a@b.example"), "b.example", "addr_domain");
	is_str(addr_domain("\"x@y\"@z.example"), "z.example",
	    "addr_domain takes the last '@'");
	is_str(addr_domain("local"), "", "addr_domain without a domain");
}

static void
test_utf8(void)
{
	const char *err = NULL;
	char out[ADDR_MAX];

	/* SMTPUTF8 (RFC 6531): UTF-8 local parts and domains */
	is_str(norm("j\xc3\xb6rg@b\xc3\xbc"
	            "cher.example",
	           ADDR_UTF8),
	    "j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example",
	    "UTF-8 address accepted");
	is_str(norm("<J\xc3\x96RG@B\xc3\x9c\x43HER.Example>",
	           ADDR_UTF8 | ADDR_NULL_OK),
	    "J\xc3\x96RG@b\xc3\x9c\x63her.example",
	    "only ASCII letters of the domain are lower-cased");
	is_str(norm("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	            "\xe5\xb9\xbf\xe5\x91\x8a",
	           ADDR_UTF8),
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a",
	    "three-octet sequences");
	is_str(norm("\xf0\x9f\x98\x80@example.com", ADDR_UTF8),
	    "\xf0\x9f\x98\x80@example.com", "four-octet sequence (U+1F600)");
	is_str(norm("\xf4\x8f\xbf\xbf@example.com", ADDR_UTF8),
	    "\xf4\x8f\xbf\xbf@example.com", "U+10FFFF, the last code point");
	is_str(norm("\"j\xc3\xb6 rg\"@example.com", ADDR_UTF8),
	    "\"j\xc3\xb6 rg\"@example.com", "UTF-8 in a quoted local part");
	is_str(norm("\xc2\xa0x@example.com", ADDR_UTF8),
	    "\xc2\xa0x@example.com", "U+00A0, just past the C1 controls");
	is_str(norm("j\xc3\xb6rg", ADDR_UTF8), "j\xc3\xb6rg@example.org",
	    "a bare UTF-8 local part is qualified");
	is_str(norm("j\xc3\xb6rg@b\xc3\xbc"
	            "cher.example",
	           0),
	    "ERR", "UTF-8 refused without ADDR_UTF8");
	ok(addr_normalize("j\xc3\xb6rg@example.com", "example.org", 0, out,
	       sizeof(out), &err) == -1 &&
	        err != NULL && strcmp(err, ADDR_ERR_8BIT) == 0,
	    "the reason without ADDR_UTF8 is ADDR_ERR_8BIT");

	is_str(utf8_why("a\xc0\xaf"
	                "b@example.com"),
	    ADDR_ERR_UTF8, "overlong two-octet form (C0 AF) refused");
	is_str(utf8_why("a\xc1\xbf@example.com"), ADDR_ERR_UTF8,
	    "overlong two-octet form (C1 BF) refused");
	is_str(utf8_why("a\xe0\x80\xaf@example.com"), ADDR_ERR_UTF8,
	    "overlong three-octet form refused");
	is_str(utf8_why("a\xf0\x80\x80\xaf@example.com"), ADDR_ERR_UTF8,
	    "overlong four-octet form refused");
	is_str(utf8_why("a\xed\xa0\x80@example.com"), ADDR_ERR_UTF8,
	    "surrogate U+D800 refused");
	is_str(utf8_why("a\xed\xbf\xbf@example.com"), ADDR_ERR_UTF8,
	    "surrogate U+DFFF refused");
	is_str(utf8_why("a\xed\x9f\xbf@example.com"), "OK",
	    "U+D7FF, just below the surrogates, accepted");
	is_str(utf8_why("a\xf4\x90\x80\x80@example.com"), ADDR_ERR_UTF8,
	    "U+110000 refused");
	is_str(utf8_why("a\xf5\x80\x80\x80@example.com"), ADDR_ERR_UTF8,
	    "lead octet F5 refused");
	is_str(
	    utf8_why("a\xff@example.com"), ADDR_ERR_UTF8, "octet FF refused");
	is_str(utf8_why("a\x80"
	                "b@example.com"),
	    ADDR_ERR_UTF8, "stray continuation octet refused");
	is_str(utf8_why("a\xc3\xb6\xb6@example.com"), ADDR_ERR_UTF8,
	    "continuation octet after a complete sequence refused");
	is_str(utf8_why("a\xc3@example.com"), ADDR_ERR_UTF8,
	    "truncated two-octet sequence refused");
	is_str(utf8_why("a\xe4\xbe@example.com"), ADDR_ERR_UTF8,
	    "truncated three-octet sequence refused");
	is_str(utf8_why("a@example.com\xf0\x9f\x98"), ADDR_ERR_UTF8,
	    "sequence cut by the end of the address refused");
	is_str(utf8_why("a@b\xc3\xbc\xc3"
	                "ch.example"),
	    ADDR_ERR_UTF8, "bad UTF-8 in the domain refused");
	is_str(utf8_why("a\xc2\x80@example.com"), ADDR_ERR_CONTROL,
	    "C1 control U+0080 refused");
	is_str(utf8_why("a\xc2\x85@example.com"), ADDR_ERR_CONTROL,
	    "C1 control U+0085 (NEL) refused");
	is_str(utf8_why("\"a\xc2\x9f\"@example.com"), ADDR_ERR_CONTROL,
	    "quoted C1 control U+009F refused");
	is_str(utf8_why("j\xc3\xb6rg@b\xc3\xbc\x01.example"), ADDR_ERR_CONTROL,
	    "C0 control still refused with ADDR_UTF8");
	is_str(utf8_why("j\xc3\xb6 rg@example.com"), "space in address",
	    "space outside quotes still refused with ADDR_UTF8");
	is_str(utf8_why("j\xc3\xb6rg@b\xc3\xbc!.example"),
	    "bad character in domain",
	    "ASCII punctuation in a UTF-8 domain still refused");

	is_int((int)addr_utf8_len((const unsigned char *)"\xc3\xb6", 2), 2,
	    "addr_utf8_len: two octets");
	is_int((int)addr_utf8_len((const unsigned char *)"\xc3\xb6", 1), 0,
	    "addr_utf8_len: bounded by n");
	is_int((int)addr_utf8_len((const unsigned char *)"a", 1), 0,
	    "addr_utf8_len: ASCII is not a sequence");
	ok(addr_is_8bit("j\xc3\xb6rg@example.com") &&
	        !addr_is_8bit("jorg@example.com"),
	    "addr_is_8bit");
}

static void
test_lists(void)
{
	int n;

	is_str(list("bob@example.com", &n), "bob@example.com", "single");
	is_int(n, 1, "count 1");
	is_str(list("Bob <bob@example.com>, carol@example.org", &n),
	    "bob@example.com|carol@example.org", "name and bare address");
	is_int(n, 2, "count 2");
	is_str(list("\"Doe, John\" <john@example.com>", &n), "john@example.com",
	    "quoted name with a comma");
	is_str(list("\"Doe, John\" <john@example.com>, x@y.z", &n),
	    "john@example.com|x@y.z", "comma inside quotes does not split");
	is_str(list("alice@example.com (Alice Example)", &n),
	    "alice@example.com", "trailing comment");
	is_str(list("(c (nested) c) alice@example.com", &n),
	    "alice@example.com", "nested comment");
	is_str(list("friends: a@x.example, B <b@y.example>;, c@z.example", &n),
	    "a@x.example|b@y.example|c@z.example", "group");
	is_int(n, 3, "group count");
	is_str(list("undisclosed-recipients:;", &n), "", "empty group");
	is_int(n, 0, "empty group has no address");
	is_str(list("root", &n), "root", "bare local part");
	is_str(list("a@x.example,\r\n\tb@y.example", &n),
	    "a@x.example|b@y.example", "folded value");
	is_str(list("a@x.example,,b@y.example,", &n), "a@x.example|b@y.example",
	    "empty list elements skipped");
	is_str(list("\"quoted local\"@example.com", &n),
	    "\"quoted local\"@example.com", "quoted local part");
	is_str(list("<@relay.example:bob@example.com>", &n), "bob@example.com",
	    "obsolete source route dropped");
	is_str(list("J. R. Doe <jrd@example.com>", &n), "jrd@example.com",
	    "dots in display name");
	is_str(list("user@[192.0.2.1]", &n), "user@[192.0.2.1]", "literal");
	is_str(list("", &n), "", "empty value");
	is_int(n, 0, "empty value has no address");

	list("Bob <bob@example.com", &n);
	is_int(n, -1, "unterminated angle address");
	list("\"Bob <bob@example.com>", &n);
	is_int(n, -1, "unterminated quote");
	list("bob@example.com (comment", &n);
	is_int(n, -1, "unterminated comment");
	list("John Doe", &n);
	is_int(n, -1, "name without an address");
	list("<a@x.example> <b@y.example>", &n);
	is_int(n, -1, "two angle addresses in one mailbox");
	list("a@x.example>", &n);
	is_int(n, -1, "stray '>'");
	list("a@x.example;", &n);
	is_int(n, -1, "';' outside a group");
	list("a@[1.2.3.4", &n);
	is_int(n, -1, "unterminated literal");
	list("a]@x.example", &n);
	is_int(n, -1, "stray ']'");
}

static void
test_dedup(void)
{
	char *v[5];
	size_t n;

	v[0] = strdup("b@x");
	v[1] = strdup("a@x");
	v[2] = strdup("b@x");
	v[3] = strdup("c@x");
	v[4] = strdup("a@x");
	n = addr_dedup(v, 5);
	is_int(n, 3, "dedup keeps three");
	is_str(v[0], "b@x", "first kept in place");
	is_str(v[1], "a@x", "second kept in place");
	is_str(v[2], "c@x", "order of first occurrences kept");
	while (n > 0)
		free(v[--n]);
}

int
main(void)
{
	test_normalize();
	test_utf8();
	test_lists();
	test_dedup();
	return done_testing();
}
