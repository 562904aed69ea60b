/*
 * netaddr_test.c - smtpd_listen and mynetworks as ncmta.conf writes
 * them: what parses, what is refused with its word, and which client
 * addresses a list of CIDR blocks takes (IPv4-mapped IPv6 included).
 */
#include <netinet/in.h>

#include <arpa/inet.h>
#include <string.h>

#include "netaddr.h"
#include "tap.h"

static struct sockaddr_storage ss;

static const struct sockaddr *
sa(const char *text)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return (const struct sockaddr *)&ss;
}

static void
test_listen(void)
{
	struct net_listen l[NET_LISTEN_MAX];
	char err[200];

	is_int(net_listen_parse("none", l, NET_LISTEN_MAX, err, sizeof(err)), 0,
	    "none: no listener");
	is_int(net_listen_parse("", l, NET_LISTEN_MAX, err, sizeof(err)), 0,
	    "empty: no listener");
	is_int(net_listen_parse("127.0.0.1:25, [::1]:25", l, NET_LISTEN_MAX,
	           err, sizeof(err)),
	    2, "the default");
	ok(l[0].family == AF_INET && strcmp(l[0].addr, "127.0.0.1") == 0 &&
	        l[0].port == 25 && strcmp(l[0].text, "127.0.0.1:25") == 0,
	    "IPv4 address and port");
	ok(l[1].family == AF_INET6 && strcmp(l[1].addr, "::1") == 0 &&
	        l[1].port == 25 && strcmp(l[1].text, "[::1]:25") == 0,
	    "IPv6 in brackets");
	is_int(net_listen_parse("0.0.0.0:2525 [2001:db8::1]:587", l,
	           NET_LISTEN_MAX, err, sizeof(err)),
	    2, "blanks separate too");
	is_int(net_listen_parse("::1:25", l, NET_LISTEN_MAX, err, sizeof(err)),
	    -1, "IPv6 without brackets");
	ok(strstr(err, "\"::1:25\"") != NULL, "the word is named: %s", err);
	is_int(net_listen_parse(
	           "localhost:25", l, NET_LISTEN_MAX, err, sizeof(err)),
	    -1, "a name is not numeric");
	is_int(
	    net_listen_parse("127.0.0.1", l, NET_LISTEN_MAX, err, sizeof(err)),
	    -1, "no port");
	is_int(net_listen_parse(
	           "127.0.0.1:0", l, NET_LISTEN_MAX, err, sizeof(err)),
	    -1, "port 0");
	is_int(net_listen_parse(
	           "127.0.0.1:65536", l, NET_LISTEN_MAX, err, sizeof(err)),
	    -1, "port 65536");
	is_int(net_listen_parse(
	           "127.0.0.1:25x", l, NET_LISTEN_MAX, err, sizeof(err)),
	    -1, "junk after the port");
	is_int(net_listen_parse("127.0.0.1:25, 127.0.0.1:25", l, NET_LISTEN_MAX,
	           err, sizeof(err)),
	    -1, "the same address twice");
	is_int(net_listen_parse("127.0.0.1:1 127.0.0.1:2 127.0.0.1:3", l, 2,
	           err, sizeof(err)),
	    -1, "more than max");
}

static void
test_cidr(void)
{
	struct net_cidr c[NET_CIDR_MAX];
	char err[200];
	int n;

	n = net_cidr_parse(
	    "127.0.0.0/8, [::1]/128", c, NET_CIDR_MAX, err, sizeof(err));
	is_int(n, 2, "the default mynetworks");
	ok(net_cidr_match(c, n, sa("127.0.0.1")), "127.0.0.1 in");
	ok(net_cidr_match(c, n, sa("127.255.1.2")), "127.255.1.2 in");
	ok(!net_cidr_match(c, n, sa("128.0.0.1")), "128.0.0.1 out");
	ok(net_cidr_match(c, n, sa("::1")), "::1 in");
	ok(!net_cidr_match(c, n, sa("::2")), "::2 out");
	ok(net_cidr_match(c, n, sa("::ffff:127.0.0.1")),
	    "IPv4-mapped loopback counts as IPv4");
	ok(!net_cidr_match(c, n, sa("::ffff:10.0.0.1")),
	    "IPv4-mapped 10.0.0.1 out");
	n = net_cidr_parse("10.1.2.3/16 172.17.0.1 2001:db8::/32", c,
	    NET_CIDR_MAX, err, sizeof(err));
	is_int(n, 3, "host bits set, a bare address, IPv6 without brackets");
	ok(net_cidr_match(c, n, sa("10.1.200.9")), "host bits ignored");
	ok(net_cidr_match(c, n, sa("172.17.0.1")) &&
	        !net_cidr_match(c, n, sa("172.17.0.2")),
	    "a bare address is one host");
	ok(net_cidr_match(c, n, sa("2001:db8:ffff::7")) &&
	        !net_cidr_match(c, n, sa("2001:db9::7")),
	    "IPv6 /32");
	n = net_cidr_parse("0.0.0.0/0", c, NET_CIDR_MAX, err, sizeof(err));
	ok(n == 1 && net_cidr_match(c, n, sa("203.0.113.5")) &&
	        !net_cidr_match(c, n, sa("2001:db8::1")),
	    "/0 takes every IPv4 address, no IPv6 one");
	is_int(net_cidr_parse("10.0.0.0/33", c, NET_CIDR_MAX, err, sizeof(err)),
	    -1, "prefix too long");
	is_int(net_cidr_parse("10.0.0.0/", c, NET_CIDR_MAX, err, sizeof(err)),
	    -1, "empty prefix");
	is_int(net_cidr_parse("example.com", c, NET_CIDR_MAX, err, sizeof(err)),
	    -1, "a name");
	ok(strstr(err, "example.com") != NULL, "named: %s", err);
	is_int(net_cidr_parse("", c, NET_CIDR_MAX, err, sizeof(err)), 0,
	    "empty: nobody");
}

int
main(void)
{
	test_listen();
	test_cidr();
	return done_testing();
}
