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
norm(const char *in, int allow_null)
{
	static char out[ADDR_MAX];
	const char *err = NULL;

	if (addr_normalize(
	        in, "example.org", allow_null, out, sizeof(out), &err) == -1)
		return err ? "ERR" : "ERR-without-reason";
	return out;
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
	test_lists();
	test_dedup();
	return done_testing();
}
