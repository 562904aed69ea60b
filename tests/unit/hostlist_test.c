/*
 * hostlist_test.c - smart-host list parsing: brackets, ports, defaults,
 * several hosts in order, and the errors an administrator can make.
 */
#include "tap.h"

#include "hostlist.h"

int
main(void)
{
	struct host_spec h[HOSTLIST_MAX];
	char err[256];
	int n;

	n = hostlist_parse(
	    "[relay.example]:587", h, HOSTLIST_MAX, err, sizeof(err));
	is_int(n, 1, "one bracketed host");
	is_str(h[0].name, "relay.example", "brackets removed");
	ok(h[0].bracketed, "bracketed noted");
	is_int(h[0].port, 587, "port");
	n = hostlist_parse("[a.example]:2525, b.example:26,[c.example]", h,
	    HOSTLIST_MAX, err, sizeof(err));
	is_int(n, 3, "three hosts, commas with and without spaces");
	is_str(h[1].name, "b.example", "unbracketed name");
	ok(!h[1].bracketed, "unbracketed noted");
	is_int(h[1].port, 26, "unbracketed port");
	is_int(h[2].port, 25, "port defaults to 25");
	is_str(h[2].name, "c.example", "third host kept in order");
	n = hostlist_parse(
	    "[127.0.0.1]:2525", h, HOSTLIST_MAX, err, sizeof(err));
	is_str(h[0].name, "127.0.0.1", "address in brackets");
	is_int(hostlist_parse("", h, HOSTLIST_MAX, err, sizeof(err)), 0,
	    "empty list");
	is_int(
	    hostlist_parse("[a.example:25", h, HOSTLIST_MAX, err, sizeof(err)),
	    -1, "missing ]");
	is_int(
	    hostlist_parse("[a.example]:0", h, HOSTLIST_MAX, err, sizeof(err)),
	    -1, "port 0");
	is_int(hostlist_parse(
	           "[a.example]:99999", h, HOSTLIST_MAX, err, sizeof(err)),
	    -1, "port too large");
	is_int(hostlist_parse("a.example:x", h, HOSTLIST_MAX, err, sizeof(err)),
	    -1, "port not a number");
	is_int(hostlist_parse("[a]x", h, HOSTLIST_MAX, err, sizeof(err)), -1,
	    "junk after ]");
	is_int(hostlist_parse("a,b,c", h, 2, err, sizeof(err)), -1,
	    "more hosts than allowed");
	return done_testing();
}
