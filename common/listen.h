/*
 * listen.h - a TCP listening socket for one address of a service's TCP
 * setting (smtpd_listen): the master binds it as root at start and hands
 * it to the daemon; ncctl check tries the same.
 */
#ifndef NCMTA_LISTEN_H
#define NCMTA_LISTEN_H

#include "netaddr.h"

#define LISTEN_BACKLOG 128

/* The socket bound to l and listening: SO_REUSEADDR, IPv6 only for an
 * IPv6 address, non-blocking, close-on-exec. -1 with errno set. */
int listen_tcp(const struct net_listen *l);

#endif
