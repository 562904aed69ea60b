/*
 * hostlist.h - smart-host and relay lists as written in ncmta.conf and the
 * routing table: "[host]:port, host:port, ..." (ncmta.conf(5), smart_host;
 * ncmta-routes(5)). A bracketed name is used by its address records only; a
 * bare name is looked up by MX first. The port defaults to 25. Pure,
 * unit-tested.
 */
#ifndef NCMTA_HOSTLIST_H
#define NCMTA_HOSTLIST_H

#include <stddef.h>

#define HOSTLIST_MAX 16

struct host_spec {
	char name[256];
	unsigned port;
	int bracketed;
};

/* Returns the number of hosts (0 for an empty list), or -1 with err. */
int hostlist_parse(
    const char *spec, struct host_spec *out, int max, char *err, size_t errlen);

#endif
