/*
 * daemon.c - start-up shared by every daemon: options, configuration,
 * logging, the privilege drop its row in the master's service table asks
 * for, the control channel to the master on fd 3 and the log channel
 * after the listening sockets. Losing the master means the daemon is
 * orphaned: it exits at once.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "proto.h"
#include "util.h"

/* What the master's service table says about this daemon (its argv). */
static struct {
	const char *user; /* -u: the user to become, or NULL: mail_owner */
	const char *chroot; /* -r: absolute, or NULL: none */
	int listen_count; /* -l: listening sockets from DAEMON_LISTEN_FD */
	int log_fd; /* the log channel, or -1 */
	struct event *log_ev;
} opts = {NULL, NULL, 0, -1, NULL};

static void
daemon_usage(const char *name)
{
	fprintf(stderr,
	    "usage: ncmta-%s [-v] [-c config_dir] [-u user] [-r chroot] "
	    "[-l count]\n",
	    name);
	exit(64);
}

static int
daemon_listen_count(const char *s)
{
	char *end;
	long n;

	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || n < 0 || n > DAEMON_MAX_LISTEN)
		return -1;
	return (int)n;
}

void
daemon_setup(int argc, char **argv, const char *name, struct nc_config *cfg)
{
	struct cf_errors errs = {NULL, 0};
	const char *dir = NULL;
	int ch, verbose = 0;

	while ((ch = getopt(argc, argv, "c:l:r:u:v")) != -1) {
		switch (ch) {
		case 'c':
			dir = optarg;
			break;
		case 'l':
			if ((opts.listen_count = daemon_listen_count(optarg)) ==
			    -1)
				daemon_usage(name);
			break;
		case 'r':
			if (*optarg != '/')
				daemon_usage(name);
			opts.chroot = optarg;
			break;
		case 'u':
			opts.user = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			daemon_usage(name);
		}
	}
	/* a peer that went away is an error return, never a death: the
	 * master execs us with SIGPIPE at its default */
	signal(SIGPIPE, SIG_IGN);
	if (config_load(cfg, config_dir_pick(dir), &errs) == -1) {
		log_init(name, "stderr", "mail");
		log_warnx_text("configuration errors:", errs.text);
		fatalx("configuration refused");
	}
	if (log_init(name, cfg->log_target, cfg->syslog_facility) == -1)
		log_warn("cannot open log %s", cfg->log_target);
	log_set_verbose(verbose);
	if (getenv("NCMTA_DEBUG") != NULL)
		log_set_verbose(1);
}

void
daemon_privdrop(const struct nc_config *cfg)
{
	privdrop(opts.user != NULL ? opts.user : cfg->mail_owner, opts.chroot);
}

const char *
daemon_chroot(void)
{
	return opts.chroot;
}

int
daemon_listen_fds(int *count)
{
	*count = opts.listen_count;
	return DAEMON_LISTEN_FD;
}

static void
master_gone(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	log_debug("master went away; exiting");
	exit(0);
}

static void
master_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
	exit(0);
}

static void
master_ignore(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)arg;
	m->pos = m->len;
}

static const struct ipc_handler default_table[] = {
    IPCM_ON(CTL_STOP, master_stop),
    IPCM_ON(CTL_FLUSH, master_ignore),
    IPCM_ON(CTL_RELOAD, master_ignore),
    IPCM_ON(CTL_STATUS, master_ignore),
    {0, NULL, NULL},
};

/*
 * The master's datagrams on the log channel each carry the descriptor of
 * a log file opened anew (after a rename by logrotate); the newest is
 * put in place of the old one. A datagram without one is ignored.
 */
void
daemon_log_take(void)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int fd;

	while (opts.log_fd != -1) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(opts.log_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) { /* the master went away: fd 3 says so too */
			if (opts.log_ev != NULL)
				event_del(opts.log_ev);
			close(opts.log_fd);
			opts.log_fd = -1;
			return;
		}
		cm = CMSG_FIRSTHDR(&mh);
		if (cm == NULL || cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len != CMSG_LEN(sizeof(int)))
			continue;
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		log_take_file(fd);
	}
}

static void
daemon_log_readable(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	daemon_log_take();
}

/* The log channel follows the listening sockets: a datagram socket from
 * the master, absent when the daemon was started by hand. */
static void
daemon_log_channel(struct event_base *base)
{
	int fd = DAEMON_LISTEN_FD + opts.listen_count, type;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_DGRAM)
		return;
	fd_cloexec(fd);
	opts.log_fd = fd;
	opts.log_ev = event_new(
	    base, fd, EV_READ | EV_PERSIST, daemon_log_readable, NULL);
	if (opts.log_ev == NULL)
		fatalx("event_new");
	event_add(opts.log_ev, NULL);
}

struct ipc_peer *
daemon_master_peer(
    struct event_base *base, const struct ipc_handler *table, void *arg)
{
	struct ipcm_child_ready r = {.pid = (uint32_t)getpid()};
	struct ipc_peer *p;
	struct stat st;

	/* started by hand: fd 3 is absent, or something else than our pair */
	if (fstat(DAEMON_MASTER_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		return NULL;
	p = ipc_peer_new(base, DAEMON_MASTER_FD, "master",
	    table ? table : default_table, 0, master_gone, arg);
	daemon_log_channel(base);
	ipcm_child_ready_send(p, &r);
	metrics_client(base, p);
	return p;
}

/* The daemon behind the socket may be starting too: try for up to ten
 * seconds, then give up (the master restarts us). */
int
daemon_connect(const struct nc_config *cfg, const char *rel)
{
	char *path = config_qpath(cfg, rel);
	int fd = -1, i;

	for (i = 0; i < 100; i++) {
		if ((fd = ipc_connect(path)) != -1)
			break;
		usleep(100 * 1000);
	}
	if (fd == -1)
		fatal("cannot connect to %s", path);
	free(path);
	return fd;
}

char *
daemon_qpath(const struct nc_config *cfg, const char *rel)
{
	char *p;

	if (!privdrop_chrooted())
		return config_qpath(cfg, rel);
	xasprintf(&p, "/%s", rel);
	return p;
}

int
daemon_reload_config(
    struct ipc_msg *m, struct nc_config *fresh, const struct nc_config *old)
{
	struct cf_errors errs = {NULL, 0};
	struct ipcm_ctl_reload rl;

	memset(fresh, 0, sizeof(*fresh));
	if (m->len == 0) {
		log_debug("reload without configuration text: nothing to do");
		return -1;
	}
	/* only the settings: the tables are other daemons' business */
	if (ipcm_ctl_reload_get(m, &rl) == -1)
		return -1;
	if (config_load_text(fresh, "ncmta.conf", rl.conf, &errs) == -1) {
		log_warnx_text(
		    "reload refused, the settings in force stay:", errs.text);
		cf_errors_free(&errs);
		config_free(fresh);
		return -1;
	}
	daemon_reload_apply(fresh, old, rl.myorigin);
	return 0;
}

void
daemon_reload_apply(
    struct nc_config *fresh, const struct nc_config *old, const char *myorigin)
{
	daemon_log_take();
	(void)config_keep_restart(fresh, old, NULL);
	free(fresh->config_dir);
	fresh->config_dir = xstrdup(old->config_dir);
	/* /etc/mailname is out of reach in a chroot: the master read it */
	if (myorigin != NULL && *myorigin != '\0') {
		free(fresh->myorigin);
		fresh->myorigin = xstrdup(myorigin);
	}
}
