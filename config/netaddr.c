/*
 * netaddr.c - smtpd_listen and mynetworks: lists of numeric addresses
 * separated by commas or blanks, each parsed whole or refused with the
 * reason; and whether a client's address is in mynetworks.
 */
#include <netinet/in.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

/* The next word of a list ("," and blanks separate), or NULL at the end. */
static const char *
net_word(const char **p, char *buf, size_t len)
{
	const char *s = *p;
	size_t n;

	while (*s == ',' || isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return NULL;
	n = strcspn(s, ", \t\n");
	*p = s + n;
	if (n >= len)
		n = len - 1; /* too long to be an address: refused below */
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static int
net_fail(char *err, size_t errlen, const char *what, const char *word)
{
	snprintf(err, errlen, "%s \"%s\"", what, word);
	return -1;
}

/* "IP" or "[IPv6]" into family and binary form; 0 or -1. */
static int
net_addr(const char *s, size_t n, int *family, uint8_t bin[16], char *text,
    size_t textlen)
{
	char buf[64];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, bin) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, buf, bin) == 1)
		*family = AF_INET6;
	else
		return -1;
	if (text != NULL)
		strlcpy(text, buf, textlen);
	return 0;
}

static int
net_listen_one(const char *w, struct net_listen *l)
{
	const char *colon = strrchr(w, ':');
	uint8_t bin[16];
	char *end;
	long port;

	if (colon == NULL || colon == w)
		return -1;
	/* an IPv6 address needs its brackets, or its port is not clear */
	if (w[0] != '[' && memchr(w, ':', (size_t)(colon - w)) != NULL)
		return -1;
	if (net_addr(w, (size_t)(colon - w), &l->family, bin, l->addr,
	        sizeof(l->addr)) == -1)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end != '\0' || port < 1 ||
	    port > 65535)
		return -1;
	l->port = (unsigned)port;
	strlcpy(l->text, w, sizeof(l->text));
	return 0;
}

int
net_listen_parse(
    const char *text, struct net_listen *out, int max, char *err, size_t errlen)
{
	char word[128];
	const char *p = text;
	int n = 0, i;

	if (strcmp(text, "none") == 0)
		return 0;
	while (net_word(&p, word, sizeof(word)) != NULL) {
		if (n == max)
			return net_fail(
			    err, errlen, "too many addresses at", word);
		if (net_listen_one(word, &out[n]) == -1)
			return net_fail(err, errlen,
			    "not a numeric address and port (\"192.0.2.1:25\", "
			    "\"[::1]:25\"):",
			    word);
		for (i = 0; i < n; i++)
			if (out[i].family == out[n].family &&
			    out[i].port == out[n].port &&
			    strcmp(out[i].addr, out[n].addr) == 0)
				return net_fail(
				    err, errlen, "named twice:", word);
		n++;
	}
	return n;
}

int
net_cidr_parse(
    const char *text, struct net_cidr *out, int max, char *err, size_t errlen)
{
	char word[128], *end;
	const char *p = text, *slash;
	struct net_cidr *c;
	unsigned i, full;
	long bits;
	int n = 0;

	while (net_word(&p, word, sizeof(word)) != NULL) {
		if (n == max)
			return net_fail(
			    err, errlen, "too many blocks at", word);
		c = &out[n];
		memset(c, 0, sizeof(*c));
		slash = strchr(word, '/');
		if (net_addr(word,
		        slash ? (size_t)(slash - word) : strlen(word),
		        &c->family, c->addr, NULL, 0) == -1)
			return net_fail(err, errlen, "not an address:", word);
		full = c->family == AF_INET ? 32 : 128;
		bits = full;
		if (slash != NULL) {
			bits = strtol(slash + 1, &end, 10);
			if (!isdigit((unsigned char)slash[1]) || *end != '\0' ||
			    bits < 0 || bits > (long)full)
				return net_fail(
				    err, errlen, "bad prefix length in", word);
		}
		c->bits = (unsigned)bits;
		for (i = c->bits; i < full; i++) /* the network itself */
			c->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
		n++;
	}
	return n;
}

static int
net_in_block(const struct net_cidr *c, int family, const uint8_t *a)
{
	unsigned i;

	if (c->family != family)
		return 0;
	for (i = 0; i < c->bits; i++)
		if ((a[i / 8] ^ c->addr[i / 8]) & (0x80u >> (i % 8)))
			return 0;
	return 1;
}

int
net_cidr_match(const struct net_cidr *list, int n, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const uint8_t *a;
	int family = sa->sa_family, i;

	if (family == AF_INET)
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)
		        ->sin_addr;
	else if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		family = AF_INET;
		a = sin6->sin6_addr.s6_addr + 12;
	} else if (family == AF_INET6)
		a = sin6->sin6_addr.s6_addr;
	else
		return 0;
	for (i = 0; i < n; i++)
		if (net_in_block(&list[i], family, a))
			return 1;
	return 0;
}

void
net_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = sa->sa_family == AF_INET
	    ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
	    : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		strlcpy(buf, "unknown", len);
}
