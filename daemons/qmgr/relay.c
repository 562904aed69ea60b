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

#include "qmgr.h"

/* Parse one "[name]:port" or "name:port" or "name" element. */
static int
relay_parse_one(
    const char *s, size_t len, struct relay_host *h, char *err, size_t errlen)
{
	char buf[300], *p = buf, *colon, *end;
	long port = 25;

	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, errlen, "empty or over-long host in list");
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL) {
			snprintf(err, errlen, "missing ']' in \"%s\"", buf);
			return -1;
		}
		*end = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL) {
			snprintf(err, errlen, "junk after ']' in \"%s\"", s);
			return -1;
		}
		p++;
	} else if ((colon = strrchr(p, ':')) != NULL)
		*colon = '\0';
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535) {
			snprintf(
			    err, errlen, "bad port in \"%.*s\"", (int)len, s);
			return -1;
		}
	}
	if (*p == '\0' || strlen(p) >= sizeof(h->name)) {
		snprintf(err, errlen, "bad host name in \"%.*s\"", (int)len, s);
		return -1;
	}
	strlcpy(h->name, p, sizeof(h->name));
	h->addr[0] = '\0';
	h->port = (unsigned)port;
	return 0;
}

int
relay_parse(
    const char *spec, struct relay_host *out, int max, char *err, size_t errlen)
{
	const char *p = spec;
	int n = 0;

	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (n == max) {
			snprintf(err, errlen, "more than %d hosts", max);
			return -1;
		}
		if (relay_parse_one(p, len, &out[n], err, errlen) == -1)
			return -1;
		n++;
		p += len;
	}
	return n;
}

void
relay_resolve(
    const char *smart_host, int family_mask, int limit, struct relay_list *rl)
{
	struct relay_host parsed[QMGR_MAX_HOSTS];
	struct addrinfo hints, *res, *ai;
	char port[8];
	int i, n, rc;

	memset(rl, 0, sizeof(*rl));
	n = relay_parse(
	    smart_host, parsed, QMGR_MAX_HOSTS, rl->error, sizeof(rl->error));
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
