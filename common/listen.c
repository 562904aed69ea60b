/*
 * listen.c - TCP listening sockets of the service table's TCP settings.
 * SO_REUSEADDR, so a restart binds again while old connections linger in
 * TIME_WAIT; IPV6_V6ONLY, so "[::]:25" never takes IPv4 too and
 * "0.0.0.0:25, [::]:25" binds both; close-on-exec in the master (the
 * children get their copies by dup2()); non-blocking for the daemon's
 * event loop.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"

static socklen_t
listen_addr(const struct net_listen *l, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (l->family == AF_INET &&
	    inet_pton(AF_INET, l->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)l->port);
		return sizeof(*sin);
	}
	if (l->family == AF_INET6 &&
	    inet_pton(AF_INET6, l->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)l->port);
		return sizeof(*sin6);
	}
	return 0;
}

int
listen_tcp(const struct net_listen *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1, saved;

	if ((len = listen_addr(l, &ss)) == 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	fd = socket(l->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (l->family == AF_INET6 &&
	        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) ==
	            -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
