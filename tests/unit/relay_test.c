/*
 * relay_test.c - smart-host list parsing: brackets, ports, defaults,
 * several hosts in order, and the errors an administrator can make.
 */
#include "tap.h"

#include "../../daemons/qmgr/qmgr.h"

int
main(void)
{
	struct relay_host h[QMGR_MAX_HOSTS];
	char err[256];
	int n;

	n = relay_parse(
	    "[relay.example]:587", h, QMGR_MAX_HOSTS, err, sizeof(err));
	is_int(n, 1, "one bracketed host");
	is_str(h[0].name, "relay.example", "brackets removed");
	is_int(h[0].port, 587, "port");
	n = relay_parse("[a.example]:2525, b.example:26,[c.example]", h,
	    QMGR_MAX_HOSTS, err, sizeof(err));
	is_int(n, 3, "three hosts, commas with and without spaces");
	is_str(h[1].name, "b.example", "unbracketed name");
	is_int(h[1].port, 26, "unbracketed port");
	is_int(h[2].port, 25, "port defaults to 25");
	is_str(h[2].name, "c.example", "third host kept in order");
	n = relay_parse(
	    "[127.0.0.1]:2525", h, QMGR_MAX_HOSTS, err, sizeof(err));
	is_str(h[0].name, "127.0.0.1", "address in brackets");
	is_int(relay_parse("", h, QMGR_MAX_HOSTS, err, sizeof(err)), 0,
	    "empty list");
	is_int(
	    relay_parse("[a.example:25", h, QMGR_MAX_HOSTS, err, sizeof(err)),
	    -1, "missing ]");
	is_int(
	    relay_parse("[a.example]:0", h, QMGR_MAX_HOSTS, err, sizeof(err)),
	    -1, "port 0");
	is_int(relay_parse(
	           "[a.example]:99999", h, QMGR_MAX_HOSTS, err, sizeof(err)),
	    -1, "port too large");
	is_int(relay_parse("a.example:x", h, QMGR_MAX_HOSTS, err, sizeof(err)),
	    -1, "port not a number");
	is_int(relay_parse("[a]x", h, QMGR_MAX_HOSTS, err, sizeof(err)), -1,
	    "junk after ]");
	is_int(relay_parse("a,b,c", h, 2, err, sizeof(err)), -1,
	    "more hosts than allowed");
	return done_testing();
}
