/*
 * children.c - start, watch, restart and stop the processes of the
 * service table's rows. Each child gets a control socketpair on fd 3,
 * its row's listening sockets on fds 4, 5, ... and after them the log
 * channel (a datagram socketpair that carries a reopened log file), is
 * exec'd from
 * daemon_directory with its row's user, chroot and socket count in argv,
 * and drops its own privileges. A child that dies is restarted after a
 * back-off that doubles up to a minute and is forgotten once the child
 * has run for a minute.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "master.h"
#include "proto.h"
#include "util.h"

static void child_spawn(struct child *);

static void
child_ctl_closed(struct ipc_peer *p, void *arg)
{
	struct child *c = arg;

	(void)p;
	c->ctl = NULL;
}

static void
child_ready(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct child *c = arg;
	struct ipcm_child_ready r;

	(void)p;
	(void)ipcm_child_ready_get(m, &r); /* malformed: the dispatcher says */
	log_debug("%s (pid %d) is ready", c->name, (int)c->pid);
}

/* Counters, in answer to CTL_STATUS (and, from the resolver, CTL_FLUSH). */
static void
child_status_reply(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct child *c = arg;
	struct ipcm_child_status st;

	(void)p;
	if (ipcm_child_status_get(m, &st) == -1)
		return;
	free(c->status);
	c->status = xstrdup(st.text);
	c->answered++;
	if (c->svc->ctl & (SVC_CTL_STATUS | SVC_CTL_DNS_FLUSH))
		control_resolver_answered(c);
}

static const struct ipc_handler child_table[] = {
    IPCM_ON(CHILD_READY, child_ready),
    IPCM_ON(CHILD_STATUS, child_status_reply),
    IPCM_ON(CTL_ADMIN_DONE, control_admin_done),
    IPCM_ON(CHILD_SECRET_REQ, master_secret_request),
    IPCM_ON(CHILD_METRICS, master_metrics_update),
    IPCM_ON(CHILD_METRICS_REQ, master_metrics_request),
    {0, NULL, NULL},
};

static void
child_add(int row, int slot)
{
	struct child *c;

	if (master->nchildren >= MASTER_MAX_CHILDREN)
		fatalx("too many children");
	c = &master->children[master->nchildren++];
	memset(c, 0, sizeof(*c));
	c->svc = &services[row];
	c->state = &master->svc[row];
	c->name = services[row].name;
	c->slot = slot;
	c->delay = 0;
	c->log_fd = -1;
}

/* The processes of every row, in the table's (start) order; each row's
 * count is decided here, once. */
void
children_init(void)
{
	int row, i, n = svc_rows();

	master->nchildren = 0;
	master->svc = xcalloc((size_t)n, sizeof(*master->svc));
	for (row = 0; row < n; row++) {
		if (strcmp(services[row].user, "mail_owner") != 0)
			fatalx("service %s: user %s: only mail_owner is known",
			    services[row].name, services[row].user);
		master->svc[row].count =
		    svc_count(&services[row], &master->cfg);
		for (i = 0; i < master->svc[row].count; i++)
			child_add(row, i);
	}
}

/* Close every descriptor from fd up. */
static void
close_from(int fd)
{
	long max;

	if (close_range((unsigned)fd, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	for (; fd < (max > 0 ? max : 1024); fd++)
		(void)close(fd);
}

/*
 * In the child after fork: the control socket on fd 3, the n listening
 * sockets on fds 4, 5, ..., the log channel after them, nothing else of
 * the master's. Each is first copied above that range, so that no dup2()
 * overwrites one still to be placed (and dup2() to a new number leaves
 * close-on-exec off).
 */
static int
child_fds(int ctl_fd, const int *fds, int n, int log_fd)
{
	int high = DAEMON_LISTEN_FD + n + 1, moved[DAEMON_MAX_LISTEN + 2], i;

	if ((moved[0] = fcntl(ctl_fd, F_DUPFD, high)) == -1 ||
	    (moved[n + 1] = fcntl(log_fd, F_DUPFD, high)) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if ((moved[i + 1] = fcntl(fds[i], F_DUPFD, high)) == -1)
			return -1;
	for (i = 0; i <= n + 1; i++)
		if (dup2(moved[i], DAEMON_MASTER_FD + i) == -1)
			return -1;
	close_from(high);
	return 0;
}

/* The chroot of c's row as a path, or NULL. */
static char *
child_chroot(const struct child *c)
{
	if (c->svc->chroot == NULL)
		return NULL;
	if (*c->svc->chroot == '\0')
		return xstrdup(master->cfg.queue_directory);
	return config_qpath(&master->cfg, c->svc->chroot);
}

/* In the child after fork: arrange its descriptors, then exec path
 * with what its row says (-u, -r, -l). Nothing is logged from here: the
 * log's descriptor is gone (fd 3 is the master's channel now). */
static void __attribute__((noreturn))
child_exec(struct child *c, const char *path, int ctl_fd, int log_fd)
{
	char *argv[10], *root = child_chroot(c), count[16];
	int n = 0;

	argv[n++] = (char *)path;
	argv[n++] = "-c";
	argv[n++] = (char *)master->config_dir;
	if (master->as_root) {
		argv[n++] = "-u";
		argv[n++] = master->owner;
	}
	if (root != NULL) {
		argv[n++] = "-r";
		argv[n++] = root;
	}
	if (c->state->nfds > 0) {
		snprintf(count, sizeof(count), "%d", c->state->nfds);
		argv[n++] = "-l";
		argv[n++] = count;
	}
	argv[n] = NULL;
	if (child_fds(ctl_fd, c->state->fds, c->state->nfds, log_fd) == -1)
		_exit(71);
	signal(SIGPIPE, SIG_DFL);
	execv(path, argv);
	_exit(71);
}

/* The next restart delay of a daemon that cannot run: at once the first
 * time, then 1 s doubling to 60 s, so it does not spin. */
static long
child_backoff(struct child *c)
{
	long now = c->delay;

	c->delay = c->delay == 0               ? RESTART_MIN_DELAY
	    : c->delay * 2 > RESTART_MAX_DELAY ? RESTART_MAX_DELAY
	                                       : c->delay * 2;
	return now;
}

/* c could not be started (why): try again after the back-off. */
static void
child_retry(struct child *c, const char *why)
{
	struct timeval tv = {child_backoff(c), 0};

	c->restarts++;
	log_warnx("%s; trying again in %lds", why, (long)tv.tv_sec);
	evtimer_add(c->restart_ev, &tv);
}

static void
child_spawn(struct child *c)
{
	char *path, *why = NULL;
	int sp[2], lp[2] = {-1, -1};
	pid_t pid = -1;

	if (master->stopping)
		return;
	xasprintf(&path, "%s/ncmta-%s", master->cfg.daemon_directory, c->name);
	if (access(path, X_OK) == -1)
		xasprintf(&why, "cannot execute %s: %s", path, strerror(errno));
	else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		xasprintf(
		    &why, "socketpair for %s: %s", c->name, strerror(errno));
	else if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, lp) == -1) {
		xasprintf(
		    &why, "socketpair for %s: %s", c->name, strerror(errno));
		close(sp[0]);
		close(sp[1]);
	} else if ((pid = fork()) == -1) {
		xasprintf(&why, "fork for %s: %s", c->name, strerror(errno));
		close(sp[0]);
		close(sp[1]);
		close(lp[0]);
		close(lp[1]);
	}
	if (why != NULL) {
		child_retry(c, why);
		free(why);
		free(path);
		return;
	}
	if (pid == 0) {
		close(sp[0]);
		close(lp[0]);
		child_exec(c, path, sp[1], lp[1]);
	}
	free(path);
	close(sp[1]);
	close(lp[1]);
	/* the master only sends on it: a daemon's datagrams are refused */
	(void)shutdown(lp[0], SHUT_RD);
	c->log_fd = lp[0];
	c->pid = pid;
	c->started = time(NULL);
	c->asked = c->answered = 0;
	memset(c->gauges, 0, sizeof(c->gauges));
	c->ctl = ipc_peer_new(
	    master->base, sp[0], c->name, child_table, 0, child_ctl_closed, c);
	/* a daemon that stops reading (compromised, or hung) cannot make
	 * root buffer answers without end */
	ipc_peer_set_limits(c->ctl, CHILD_MAX_UNSENT, 0);
	log_debug("started %s as pid %d", c->name, (int)pid);
}

static void
child_restart_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct child *c = arg;

	(void)fd;
	(void)ev;
	child_spawn(c);
}

void
children_start_all(void)
{
	int i;

	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];

		c->restart_ev = evtimer_new(master->base, child_restart_cb, c);
		child_spawn(c);
	}
}

static struct child *
child_by_pid(pid_t pid)
{
	int i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].pid == pid)
			return &master->children[i];
	return NULL;
}

static void
child_died(struct child *c, int status)
{
	struct timeval tv = {0, 0};
	char how[64];
	time_t lived = time(NULL) - c->started;
	pid_t pid = c->pid;

	if (WIFSIGNALED(status))
		snprintf(
		    how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(
		    how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	if (c->ctl != NULL)
		ipc_peer_close(c->ctl);
	if (c->log_fd != -1)
		close(c->log_fd);
	c->log_fd = -1;
	c->pid = 0;
	memset(c->gauges, 0, sizeof(c->gauges)); /* its sessions are gone */
	free(c->status);
	c->status = NULL;
	if (master->stopping) {
		log_debug("%s stopped (%s)", c->name, how);
		return;
	}
	if (lived >= RESTART_HEALTHY)
		c->delay = 0;
	c->restarts++;
	/* Killed from outside (SIGKILL: an administrator, the OOM killer),
	 * or a clean exit after losing a peer: back at once, the mail must
	 * not wait. A crash backs off instead -- at once the first time,
	 * then 1 s doubling to 60 s -- so a daemon that cannot run does not
	 * spin. */
	if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == 0))
		tv.tv_sec = 0;
	else
		tv.tv_sec = child_backoff(c);
	log_warnx("process ncmta-%s pid %d %s; restarting in %lds", c->name,
	    (int)pid, how, (long)tv.tv_sec);
	evtimer_add(c->restart_ev, &tv);
}

void
children_reap(void)
{
	struct child *c;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if ((c = child_by_pid(pid)) != NULL)
			child_died(c, status);
}

int
children_running(void)
{
	int i, n = 0;

	for (i = 0; i < master->nchildren; i++)
		n += master->children[i].pid != 0;
	return n;
}

static void
child_send_copy(struct child *c, const struct ipc_buf *b)
{
	struct ipc_buf copy;

	if (c->ctl == NULL)
		return;
	copy.data = xmalloc(b->len);
	memcpy(copy.data, b->data, b->len);
	copy.len = copy.cap = b->len;
	ipc_peer_send(c->ctl, &copy);
}

/* b to every process whose row takes svc_ctl (SVC_CTL_*). */
void
children_send(unsigned svc_ctl, struct ipc_buf *b)
{
	int i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].svc->ctl & svc_ctl)
			child_send_copy(&master->children[i], b);
	ipc_buf_free(b);
}

/* Send c a request that it answers with one CHILD_STATUS (CTL_STATUS;
 * CTL_FLUSH to the resolver). Returns the number that answer will have
 * in c->answered, or 0 when c cannot be asked. */
unsigned
children_ask(struct child *c, struct ipc_buf *b)
{
	if (c == NULL || c->ctl == NULL) {
		ipc_buf_free(b);
		return 0;
	}
	ipc_peer_send(c->ctl, b);
	return ++c->asked;
}

/* The first process whose row takes svc_ctl, or NULL. */
struct child *
children_find(unsigned svc_ctl)
{
	int i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].svc->ctl & svc_ctl)
			return &master->children[i];
	return NULL;
}

/* The lowest stop stage that still has a process running, or -1. */
static int
children_stop_stage(void)
{
	int i, stage = -1;

	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];

		if (c->pid != 0 && (stage == -1 || c->svc->stop_stage < stage))
			stage = c->svc->stop_stage;
	}
	return stage;
}

/*
 * Graceful stop, stage by stage as the rows say: STOP to the processes of
 * the lowest stage that still runs, the next stage once they are gone
 * (children_reap() calls us again), and SIGKILL for anything left after
 * STOP_GRACE.
 */
void
children_stop(void)
{
	struct ipc_buf b;
	int i, stage = children_stop_stage();

	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];

		evtimer_del(c->restart_ev);
		if (c->pid == 0)
			continue;
		if (master->stopping > 1) /* grace expired: every stage */
			kill(c->pid, SIGKILL);
		else if (c->svc->stop_stage == stage) {
			ipcm_ctl_stop_encode(&b);
			child_send_copy(c, &b);
			ipc_buf_free(&b);
		}
	}
}

void
children_status(char **text)
{
	char *s = xstrdup(""), *n;
	int i;

	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];

		xasprintf(&n, "%s%-8s pid=%d restarts=%u%s%s%s%s\n", s, c->name,
		    (int)c->pid, c->restarts,
		    c->state->listen_text ? " listen=" : "",
		    c->state->listen_text ? c->state->listen_text : "",
		    c->status ? " " : "", c->status ? c->status : "");
		free(s);
		s = n;
	}
	*text = s;
}

/*
 * Every running daemon gets the master's log file, just reopened: sent
 * before the reload itself, so the daemon takes it first (see
 * daemon_reload_apply()). Nothing to do when the log is not a file.
 */
void
children_send_log(void)
{
	char byte = 'L', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr mh;
	struct cmsghdr *cm;
	int i, fd = log_file_fd();

	if (fd == -1)
		return;
	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];

		if (c->pid == 0 || c->log_fd == -1)
			continue;
		memset(&mh, 0, sizeof(mh));
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
		if (sendmsg(c->log_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
			log_warn("cannot pass the reopened log to %s (pid %d)",
			    c->name, (int)c->pid);
	}
}
