/*
 * fuzz_routes.c - the routing table (common/routes.c routes_parse()).
 * A table that parses holds lower-case, unique patterns, hosts that
 * hostlist_parse() takes again, valid tls= levels and reject codes, and
 * each pattern is found by routes_lookup(); a refused table is empty.
 */
#include <ctype.h>

#include "fuzz.h"
#include "hostlist.h"
#include "routes.h"

static void
check_route(const struct route_table *t, const struct route *r)
{
	struct host_spec h[HOSTLIST_MAX];
	const struct route *found;
	char err[300];
	size_t i;
	int n;

	for (i = 0; r->pattern[i] != '\0'; i++)
		FUZZ_CHECK(!isupper((unsigned char)r->pattern[i]) &&
		        !isspace((unsigned char)r->pattern[i]),
		    "pattern \"%s\"", r->pattern);
	FUZZ_CHECK(*r->pattern != '\0', "empty pattern");
	FUZZ_CHECK(r->action >= ROUTE_DIRECT && r->action <= ROUTE_HOLD,
	    "action %d", r->action);
	FUZZ_CHECK(strcmp(route_action_name(r->action), "") != 0, "name");
	FUZZ_CHECK(r->hosts != NULL, "no hosts string");
	n = hostlist_parse(r->hosts, h, HOSTLIST_MAX, err, sizeof(err));
	FUZZ_CHECK(
	    n >= 0, "hosts \"%s\" do not parse again: %s", r->hosts, err);
	FUZZ_CHECK(r->action != ROUTE_SMARTHOST || n > 0, "smarthost, no host");
	FUZZ_CHECK(*r->tls == '\0' || strcmp(r->tls, "none") == 0 ||
	        strcmp(r->tls, "may") == 0 || strcmp(r->tls, "encrypt") == 0 ||
	        strcmp(r->tls, "verify") == 0,
	    "tls %s", r->tls);
	if (r->action == ROUTE_REJECT)
		FUZZ_CHECK((r->dsn[0] == '4' || r->dsn[0] == '5') &&
		        r->dsn[1] == '.' && r->text != NULL &&
		        strchr(r->text, '\n') == NULL,
		    "reject %s", r->dsn);
	found = routes_lookup(t, r->pattern);
	FUZZ_CHECK(
	    found == r || strcmp(r->pattern, "*") == 0 || *r->pattern == '.',
	    "pattern %s not found", r->pattern);
	for (i = 0; i < (size_t)(r - t->r); i++)
		FUZZ_CHECK(strcmp(t->r[i].pattern, r->pattern) != 0,
		    "pattern %s twice", r->pattern);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_table t;
	struct cf_errors e = {NULL, 0};
	char *text = fuzz_cstr(data, size);
	size_t i;
	int rc;

	rc = routes_parse("routes", text, &t, &e);
	FUZZ_CHECK(
	    (rc == 0) == (e.count == 0), "result %d, %d errors", rc, e.count);
	if (rc == -1)
		FUZZ_CHECK(t.n == 0 && t.r == NULL, "refused table not empty");
	for (i = 0; i < t.n; i++)
		check_route(&t, &t.r[i]);
	(void)routes_lookup(&t, "mail.example.com");
	routes_free(&t);
	cf_errors_free(&e);
	free(text);
	return 0;
}
