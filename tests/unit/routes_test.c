/*
 * routes_test.c - the routing table: every action parses, options and
 * host lists are checked, a bad line names its line number and refuses
 * the whole table, and lookups prefer exact over .parent over "*".
 */
#include <stdlib.h>

#include "tap.h"

#include "routes.h"

static const char good[] =
    "# pattern            action\n"
    "example.com          direct                         # subdomains\n"
    ".example.com         direct\n"
    "partner.example      smarthost [mx.partner.example]:2525\n"
    "legacy.example       direct fallback [relay2.corp]:25\n"
    "blocked.example      reject 5.7.1 relaying to this domain is disabled\n"
    "slow.example         hold\n"
    "\n"
    "Secure.Example       smarthost relay.corp:587 tls=verify\n"
    "*                    smarthost [relay.corp]:587, [relay-b.corp]:587\n";

static int
errs_for(const char *text, struct cf_errors *e)
{
	struct route_table t;
	int r;

	e->text = NULL;
	e->count = 0;
	r = routes_parse("routes", text, &t, e);
	routes_free(&t);
	return r;
}

int
main(void)
{
	struct route_table t;
	struct cf_errors e = {NULL, 0};
	const struct route *r;

	is_int(routes_parse("routes", good, &t, &e), 0, "example table parses");
	is_int(t.n, 8, "eight routes");
	r = routes_lookup(&t, "example.com");
	ok(r && r->action == ROUTE_DIRECT &&
	        strcmp(r->pattern, "example.com") == 0,
	    "exact match");
	r = routes_lookup(&t, "mail.example.com");
	is_str(r ? r->pattern : NULL, ".example.com",
	    ".parent matches a subdomain");
	r = routes_lookup(&t, "a.b.example.com");
	is_str(r ? r->pattern : NULL, ".example.com", "and deeper subdomains");
	r = routes_lookup(&t, "partner.example");
	ok(r && r->action == ROUTE_SMARTHOST, "smarthost");
	is_str(r ? r->hosts : NULL, "[mx.partner.example]:2525", "its hosts");
	r = routes_lookup(&t, "legacy.example");
	ok(r && r->action == ROUTE_DIRECT, "direct fallback is direct");
	is_str(r ? r->hosts : NULL, "[relay2.corp]:25", "with fallback hosts");
	r = routes_lookup(&t, "blocked.example");
	ok(r && r->action == ROUTE_REJECT, "reject");
	is_str(r ? r->dsn : NULL, "5.7.1", "reject code");
	is_str(r ? r->text : NULL, "relaying to this domain is disabled",
	    "reject text");
	r = routes_lookup(&t, "slow.example");
	ok(r && r->action == ROUTE_HOLD, "hold");
	r = routes_lookup(&t, "secure.example");
	ok(r != NULL, "patterns are lower-cased");
	is_str(r ? r->tls : NULL, "verify", "tls= option");
	is_str(r ? r->hosts : NULL, "relay.corp:587", "tls= not in the hosts");
	r = routes_lookup(&t, "other.org");
	is_str(r ? r->pattern : NULL, "*", "anything else: *");
	is_str(r ? r->hosts : NULL, "[relay.corp]:587, [relay-b.corp]:587",
	    "host list with a comma and a space");
	r = routes_lookup(&t, "com");
	is_str(r ? r->pattern : NULL, "*", ".example.com does not match com");
	routes_free(&t);

	is_int(routes_parse("routes", "a.example direct\n", &t, &e), 0,
	    "no *: fine");
	ok(routes_lookup(&t, "b.example") == NULL, "no match without *");
	routes_free(&t);

	is_int(errs_for("ok.example direct\nbad.example teleport\n", &e), -1,
	    "unknown action refused");
	ok(e.text &&
	        strstr(
	            e.text, "routes:2: bad.example teleport: unknown action"),
	    "error names line 2: %s", e.text ? e.text : "");
	cf_errors_free(&e);
	is_int(
	    errs_for("x.example smarthost\n", &e), -1, "smarthost needs hosts");
	cf_errors_free(&e);
	is_int(errs_for("x.example smarthost [a.example:25\n", &e), -1,
	    "bad host list");
	cf_errors_free(&e);
	is_int(errs_for("x.example reject\n", &e), -1, "reject needs a code");
	cf_errors_free(&e);
	is_int(errs_for("x.example reject 2.0.0 fine\n", &e), -1,
	    "reject code must be 4 or 5");
	cf_errors_free(&e);
	is_int(errs_for("x.example reject 4.7.1 later\n", &e), 0,
	    "4xx reject allowed");
	cf_errors_free(&e);
	is_int(errs_for("x.example hold now\n", &e), -1, "hold takes no args");
	cf_errors_free(&e);
	is_int(errs_for("x.example direct tls=sometimes\n", &e), -1,
	    "bad tls level");
	cf_errors_free(&e);
	is_int(errs_for("x.example direct [a]:25\n", &e), -1,
	    "direct without fallback keyword");
	cf_errors_free(&e);
	is_int(errs_for("x.example\n", &e), -1, "pattern without action");
	cf_errors_free(&e);
	is_int(errs_for("x.example direct\nx.example hold\n", &e), -1,
	    "duplicate pattern");
	ok(e.text && strstr(e.text, "routes:2:") && strstr(e.text, "line 1"),
	    "duplicate names both lines");
	cf_errors_free(&e);
	is_int(errs_for("bad!pattern direct\n", &e), -1, "bad pattern");
	cf_errors_free(&e);
	is_int(errs_for("a direct\nb teleport\nc teleport\n", &e), -1,
	    "several bad lines");
	is_int(e.count, 2, "every bad line reported");
	cf_errors_free(&e);
	return done_testing();
}
