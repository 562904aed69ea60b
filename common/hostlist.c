/*
 * hostlist.c - parse "[host]:port, host:port" lists (smart_host, route
 * hosts). Every mistake an administrator can make gets a message that
 * names the offending element.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostlist.h"

/* Parse one "[name]:port" or "name:port" or "name" element. */
static int
hostlist_parse_one(
    const char *s, size_t len, struct host_spec *h, char *err, size_t errlen)
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
	h->bracketed = *buf == '[';
	h->port = (unsigned)port;
	return 0;
}

int
hostlist_parse(
    const char *spec, struct host_spec *out, int max, char *err, size_t errlen)
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
		if (hostlist_parse_one(p, len, &out[n], err, errlen) == -1)
			return -1;
		n++;
		p += len;
	}
	return n;
}
