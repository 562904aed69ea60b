/*
 * netaddr.h - the network addresses of ncmta.conf: smtpd_listen's
 * "IP:port, [IPv6]:port" (numeric, so the master binds exactly what is
 * written) and mynetworks' CIDR blocks, with the test of a client's
 * address against them. Pure, unit-tested.
 */
#ifndef NCMTA_NETADDR_H
#define NCMTA_NETADDR_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define NET_LISTEN_MAX 16
#define NET_CIDR_MAX 64

struct net_listen {
	int family; /* AF_INET or AF_INET6 */
	char addr[64]; /* numeric */
	unsigned port;
	char text[80]; /* as written: "127.0.0.1:25", "[::1]:25" */
};

struct net_cidr {
	int family;
	uint8_t addr[16]; /* network, host bits cleared */
	unsigned bits;
};

/* "none" (or empty) gives 0 addresses; else their number, or -1 with err. */
int net_listen_parse(
    const char *, struct net_listen *, int max, char *err, size_t errlen);
/* "127.0.0.0/8, [::1]/128, 192.0.2.7" (a bare address is a whole
 * block): their number, or -1 with err. */
int net_cidr_parse(
    const char *, struct net_cidr *, int max, char *err, size_t errlen);
/* Whether sa (IPv4, IPv6, or IPv4 mapped into IPv6) is in one of the
 * blocks. */
int net_cidr_match(const struct net_cidr *, int n, const struct sockaddr *);
/* A sockaddr as text: "192.0.2.7" or "2001:db8::1". */
void net_ntop(const struct sockaddr *, char *, size_t);

#endif
