/*
 * sockets.c - the listening sockets, made by the master (root) so they
 * outlive the daemons that accept on them: its own public/control, and
 * those each row of the service table asks for, kept in master->svc for
 * the row's processes (fds 4, 5, ...): Unix sockets in private/ and
 * public/, and a TCP socket per address of a TCP setting (smtpd_listen),
 * bound once, here (a reload does not change them). A row that runs no
 * process gets none. A socket that cannot be made stops ncmta before
 * any daemon runs, with one line naming it and why.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "master.h"
#include "qlayout.h"
#include "util.h"

/*
 * A Unix socket, bound by name in root's private/ or public/ (through a
 * descriptor on the directory), so no one can put a link in place of a
 * socket between bind() and the chown of one for mail_owner's daemons.
 */
static int
sockets_unix(
    int dirfd, const char *dir, const char *name, int mode, int mail_owners)
{
	char *path;
	int fd;

	xasprintf(&path, "%s/%s/%s", master->cfg.queue_directory, dir, name);
	if ((fd = ipc_listen_at(dirfd, name, mode)) == -1)
		master_start_failed(
		    "cannot listen on %s: %s", path, strerror(errno));
	if (mail_owners && master->as_root &&
	    fchownat(dirfd, name, master->uid, master->gid,
	        AT_SYMLINK_NOFOLLOW) == -1)
		master_start_failed(
		    "cannot chown %s: %s", path, strerror(errno));
	free(path);
	return fd;
}

static void
sockets_add(struct svc_state *st, const struct service *svc, int fd)
{
	if (st->nfds >= DAEMON_MAX_LISTEN)
		fatalx("%s: more than %d listening sockets", svc->name,
		    DAEMON_MAX_LISTEN);
	st->fds[st->nfds++] = fd;
}

/*
 * One socket per address of the row's TCP setting, in its order. An
 * address that cannot be bound stops the start -- except the IPv6 half
 * of a setting left at its default ("127.0.0.1:25, [::1]:25") on a host
 * without IPv6, which is skipped with a warning.
 */
static void
sockets_tcp(const struct service *svc, struct svc_state *st)
{
	struct net_listen l[NET_LISTEN_MAX];
	const char *setting = svc_tcp_setting(svc);
	int i, fd, n = svc_tcp_addrs(svc, &master->cfg, l);

	for (i = 0; i < n; i++) {
		if ((fd = listen_tcp(&l[i])) == -1 &&
		    svc_tcp_skippable(svc, &master->cfg, &l[i], errno)) {
			log_warnx("not listening on %s (%s's default): no "
			          "IPv6 on this host",
			    l[i].text, setting);
			continue;
		}
		if (fd == -1)
			master_start_failed("cannot listen on %s (%s): %s",
			    l[i].text, setting, strerror(errno));
		sockets_add(st, svc, fd);
	}
	st->listen_text = svc_tcp_text(svc, &master->cfg);
}

/* The sockets of one row, in the order of its socket lines. */
static void
sockets_row(const struct service *svc, struct svc_state *st, int priv, int pub)
{
	const struct svc_socket *k;
	int i;

	for (i = 0; i < SVC_MAX_SOCKETS; i++) {
		k = &svc->sockets[i];
		if (k->kind == SVC_SOCK_TCP)
			sockets_tcp(svc, st);
		else if (k->kind == SVC_SOCK_UNIX)
			sockets_add(st, svc,
			    sockets_unix(
			        strcmp(k->dir, "public") == 0 ? pub : priv,
			        k->dir, k->name, (int)k->mode, k->mail_owner));
	}
}

void
sockets_open(void)
{
	char *err;
	int priv, pub, i;

	if ((priv = qlayout_open(&master->cfg, "private", &err)) == -1 ||
	    (pub = qlayout_open(&master->cfg, "public", &err)) == -1)
		master_start_failed("%s", err);
	/* every local user may ask for the status, and list their own mail
	 * through showq; control.c checks who asks for anything else */
	master->control_fd = sockets_unix(pub, "public", "control", 0666, 0);
	for (i = 0; services[i].name != NULL; i++)
		if (master->svc[i].count > 0)
			sockets_row(&services[i], &master->svc[i], priv, pub);
	close(priv);
	close(pub);
}
