/*
 * routes.h - the routing table (route_table, ncmta-routes(5)): per-destination
 * overrides of delivery_mode. "pattern action [args] [tls=LEVEL]", with
 * patterns matched exact, then .parent (longest first), then "*". Parsed by
 * ncctl check, by the master before a reload, and by qmgr. Pure.
 */
#ifndef NCMTA_ROUTES_H
#define NCMTA_ROUTES_H

#include <stddef.h>

#include "config.h"
#include "hostlist.h"

enum route_action {
	ROUTE_DIRECT,
	ROUTE_SMARTHOST,
	ROUTE_REJECT,
	ROUTE_HOLD,
};

struct route {
	char *pattern; /* lower-cased: "example.com", ".example.com", "*" */
	enum route_action action;
	char *hosts; /* smarthost list, or direct's fallback list ("") */
	char dsn[16]; /* reject: "5.7.1" */
	char *text; /* reject: the text after the code */
	char tls[16]; /* "" or none|may|encrypt|verify|dane */
	int line;
};

struct route_table {
	struct route *r;
	size_t n;
};

/*
 * Parse a whole table. name is used in messages ("name:line: ..."). Every
 * problem is added to errs; returns 0, or -1 when any line is wrong (the
 * table is then empty).
 */
int routes_parse(const char *name, const char *text, struct route_table *,
    struct cf_errors *errs);
/* Read and parse a file; a missing file is an error. */
int routes_load(const char *path, struct route_table *, struct cf_errors *);
/* The route for a lower-cased domain, or NULL when none matches. */
const struct route *routes_lookup(
    const struct route_table *, const char *domain);
void routes_free(struct route_table *);
const char *route_action_name(enum route_action);

#endif
