/*
 * relay.c - smart-host lists: parse "[host]:port, host:port" (SPEC §4;
 * port 25 by default) and turn the list into numeric addresses in order.
 * Names are looked up with the system resolver when qmgr starts, before
 * it chroots.
 */
#include <sys/socket.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostlist.h"
#include "qmgr.h"

void
relay_resolve(
    const char *smart_host, int family_mask, int limit, struct relay_list *rl)
{
	struct host_spec parsed[HOSTLIST_MAX];
	struct addrinfo hints, *res, *ai;
	char port[8];
	int i, n, rc;

	memset(rl, 0, sizeof(*rl));
	n = hostlist_parse(
	    smart_host, parsed, HOSTLIST_MAX, rl->error, sizeof(rl->error));
	for (i = 0; i < n && rl->n < limit; i++) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = family_mask;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%u", parsed[i].port);
		rc = getaddrinfo(parsed[i].name, port, &hints, &res);
		if (rc != 0) {
			snprintf(rl->error, sizeof(rl->error),
			    "smart host %.200s: %.40s", parsed[i].name,
			    gai_strerror(rc));
			continue;
		}
		for (ai = res; ai != NULL && rl->n < limit; ai = ai->ai_next) {
			struct relay_host *h = &rl->host[rl->n];

			if (getnameinfo(ai->ai_addr, ai->ai_addrlen, h->addr,
			        sizeof(h->addr), NULL, 0, NI_NUMERICHOST) != 0)
				continue;
			strlcpy(h->name, parsed[i].name, sizeof(h->name));
			h->port = parsed[i].port;
			rl->n++;
		}
		freeaddrinfo(res);
	}
}
