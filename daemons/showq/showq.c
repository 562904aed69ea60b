/*
 * showq.c - ncmta-showq lists the queue for users who cannot read it
 * (ncqshow, mailq) on QDIR/public/showq, which the master binds (0666)
 * and hands over as fd 4. It runs as mail_owner, chrooted to the queue
 * directory. Each connection is served by a child of its own (list.c),
 * which alone opens the queue: LMDB is never used across fork(). The
 * caller's uid comes from SO_PEERCRED; root, mail_owner and members of
 * queue_view_group (common/viewgroup.c) see every message, the others
 * their own. Listings at once are bounded per ordinary user (members
 * included) and in all, and one over a bound gets M_REPLY code 1.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "proto.h"
#include "showq.h"
#include "util.h"
#include "viewgroup.h"

struct showq_kid {
	pid_t pid; /* 0: free slot */
	uid_t uid;
};

static struct {
	struct nc_config cfg;
	struct event_base *base;
	char *dbpath; /* the queue, as seen from the chroot */
	uid_t owner; /* mail_owner: our own uid once dropped */
	int have_view; /* queue_view_group is set and resolved */
	gid_t view_gid;
	struct showq_kid kids[SHOWQ_MAX_LISTINGS];
	int nkids;
} sq;

static int
showq_listings_of(uid_t uid)
{
	int i, n = 0;

	for (i = 0; i < SHOWQ_MAX_LISTINGS; i++)
		n += sq.kids[i].pid != 0 && sq.kids[i].uid == uid;
	return n;
}

/* The one answer a refused caller gets; a fresh socket has room for it. */
static void
showq_refuse(int s, uid_t uid, const char *why)
{
	struct ipcm_reply r = {.code = 1, .text = why};
	struct ipc_buf b;

	log_warnx("showq: refused uid %d: %s", (int)uid, why);
	ipcm_reply_encode(&b, &r);
	ipc_buf_finish(&b);
	(void)send(s, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	ipc_buf_free(&b);
	close(s);
}

/* In the child: no event loop, blocking I/O, bounded in time. */
static void __attribute__((noreturn))
showq_child(int s, uid_t uid, int privileged)
{
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	(void)close(DAEMON_LISTEN_FD);
	(void)close(DAEMON_MASTER_FD);
	/* the listing stops itself at SHOWQ_DEADLINE; this is the backstop */
	alarm(SHOWQ_DEADLINE + 2 * SHOWQ_SEND_TIMEOUT);
	list_serve(s, uid, privileged, sq.dbpath);
	_exit(0);
}

static void
showq_fork(int s, uid_t uid)
{
	int privileged = uid == 0 || uid == sq.owner ||
	    (sq.have_view && viewgroup_peer_member(s, sq.view_gid));
	pid_t pid;
	int i;

	if ((pid = fork()) == -1) {
		log_warn("showq: fork");
		showq_refuse(s, uid, "cannot list the queue now; try again");
		return;
	}
	if (pid == 0)
		showq_child(s, uid, privileged);
	close(s);
	for (i = 0; sq.kids[i].pid != 0; i++)
		;
	sq.kids[i].pid = pid;
	sq.kids[i].uid = uid;
	sq.nkids++;
}

static void
showq_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char why[128];
	int s;

	(void)ev;
	(void)arg;
	if ((s = ipc_accept(fd, "showq")) == -1)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("showq: SO_PEERCRED");
		close(s);
		return;
	}
	if (sq.nkids >= SHOWQ_MAX_LISTINGS) {
		snprintf(why, sizeof(why),
		    "too many listings in progress (at most %d at once); "
		    "try again",
		    SHOWQ_MAX_LISTINGS);
		showq_refuse(s, cred.uid, why);
	} else if (cred.uid != 0 && cred.uid != sq.owner &&
	    showq_listings_of(cred.uid) >= SHOWQ_MAX_PER_UID) {
		snprintf(why, sizeof(why),
		    "too many listings of yours in progress (at most %d at "
		    "once); try again",
		    SHOWQ_MAX_PER_UID);
		showq_refuse(s, cred.uid, why);
	} else
		showq_fork(s, cred.uid);
}

static void
showq_reap(evutil_socket_t sig, short ev, void *arg)
{
	pid_t pid;
	int i, status;

	(void)sig;
	(void)ev;
	(void)arg;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < SHOWQ_MAX_LISTINGS; i++)
			if (sq.kids[i].pid == pid)
				break;
		if (i == SHOWQ_MAX_LISTINGS)
			continue;
		if (WIFSIGNALED(status))
			log_warnx("showq: listing for uid %d killed by signal "
			          "%d",
			    (int)sq.kids[i].uid, WTERMSIG(status));
		sq.kids[i].pid = 0;
		sq.nkids--;
	}
}

/* Listings in progress end with us. */
static void
showq_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	int i;

	(void)p;
	(void)m;
	(void)arg;
	for (i = 0; i < SHOWQ_MAX_LISTINGS; i++)
		if (sq.kids[i].pid != 0)
			kill(sq.kids[i].pid, SIGTERM);
	exit(0);
}

/* Before the chroot hides /etc/group. An unknown group (ncctl check
 * refuses it) gives no one the whole queue. */
static void
showq_view_group(void)
{
	char err[256];
	int rc;

	rc = viewgroup_resolve(
	    sq.cfg.queue_view_group, &sq.view_gid, err, sizeof(err));
	if (rc == -1)
		log_warnx("%s; only root and the mail owner see the whole "
		          "queue",
		    err);
	sq.have_view = rc == 1;
}

static const struct ipc_handler master_table[] = {
    IPCM_ON(CTL_STOP, showq_stop),
    IPCM_ON(CTL_FLUSH, ipc_ignore),
    /* the settings showq uses (queue_view_group) need a restart */
    IPCM_ON(CTL_RELOAD, ipc_ignore),
    IPCM_ON(CTL_STATUS, ipc_ignore),
    {0, NULL, NULL},
};

int
main(int argc, char **argv)
{
	struct event *accept_ev, *chld_ev;

	daemon_setup(argc, argv, "showq", &sq.cfg);
	showq_view_group();
	daemon_privdrop(&sq.cfg);
	sq.owner = getuid();
	sq.dbpath = daemon_qpath(&sq.cfg, "db");
	if ((sq.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	daemon_master_peer(sq.base, master_table, NULL);
	fd_nonblock(DAEMON_LISTEN_FD);
	accept_ev = event_new(sq.base, DAEMON_LISTEN_FD, EV_READ | EV_PERSIST,
	    showq_accept, NULL);
	chld_ev = evsignal_new(sq.base, SIGCHLD, showq_reap, NULL);
	if (accept_ev == NULL || chld_ev == NULL)
		fatalx("event_new");
	event_add(accept_ev, NULL);
	evsignal_add(chld_ev, NULL);
	event_base_dispatch(sq.base);
	return 0;
}
