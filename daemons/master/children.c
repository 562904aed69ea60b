/*
 * children.c - start, watch and restart the daemons. Each child gets a
 * control socketpair on fd 3 (qmgr, the resolver and showq also their
 * listening socket on fd 4), is exec'd from daemon_directory, and drops its own
 * privileges. A child that dies is restarted after a back-off that
 * doubles up to a minute and is forgotten once the child has run for a
 * minute.
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

	(void)p;
	(void)ipc_get_u32(m);
	log_debug("%s (pid %d) is ready", c->name, (int)c->pid);
}

/* Counters, in answer to CTL_STATUS (and, from the resolver, CTL_FLUSH). */
static void
child_status_reply(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct child *c = arg;
	const char *text = ipc_get_str(m);

	(void)p;
	if (!ipc_msg_done(m))
		return;
	free(c->status);
	c->status = xstrdup(text);
	c->answered++;
	if (c->kind == CHILD_RESOLVER)
		control_resolver_answered(c);
}

static const struct ipc_handler child_table[] = {
    {M_CHILD_READY, "CHILD_READY", child_ready},
    {M_CHILD_STATUS, "CHILD_STATUS", child_status_reply},
    {M_CTL_ADMIN_DONE, "CTL_ADMIN_DONE", control_admin_done},
    {M_CHILD_SECRET_REQ, "CHILD_SECRET_REQ", master_secret_request},
    {0, NULL, NULL}};

static void
child_add(enum child_kind kind, const char *name, int slot)
{
	struct child *c;

	if (master->nchildren >= MASTER_MAX_CHILDREN)
		fatalx("too many children");
	c = &master->children[master->nchildren++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->name = name;
	c->slot = slot;
	c->delay = 0;
}

void
children_init(void)
{
	int i;

	master->nchildren = 0;
	/* the resolver first: qmgr asks it as soon as it runs */
	child_add(CHILD_RESOLVER, "resolver", 0);
	child_add(CHILD_QMGR, "qmgr", 0);
	child_add(CHILD_BOUNCE, "bounce", 0); /* a client of qmgr */
	child_add(CHILD_PICKUP, "pickup", 0);
	child_add(CHILD_SHOWQ, "showq", 0); /* listings for ordinary users */
	for (i = 0; i < master->cfg.smtp_worker_count; i++)
		child_add(CHILD_SMTP, "smtp", i);
}

/* The socket a child accepts its clients on, or -1. */
static int
child_listen_fd(const struct child *c)
{
	if (c->kind == CHILD_QMGR)
		return master->qmgr_listen_fd;
	if (c->kind == CHILD_RESOLVER)
		return master->resolver_listen_fd;
	if (c->kind == CHILD_SHOWQ)
		return master->showq_listen_fd;
	return -1;
}

/* In the child after fork: arrange fds 3 and 4, then exec. */
static void __attribute__((noreturn)) child_exec(struct child *c, int ctl_fd)
{
	char *path, *argv[4];
	int fd, listen_fd = child_listen_fd(c);

	if (dup2(ctl_fd, DAEMON_MASTER_FD) == -1)
		_exit(71);
	if (listen_fd != -1 && dup2(listen_fd, DAEMON_LISTEN_FD) == -1)
		_exit(71);
	fd = listen_fd != -1 ? DAEMON_LISTEN_FD + 1 : DAEMON_MASTER_FD + 1;
	for (; fd < 1024; fd++)
		(void)close(fd);
	signal(SIGPIPE, SIG_DFL);
	xasprintf(&path, "%s/ncmta-%s", master->cfg.daemon_directory, c->name);
	argv[0] = path;
	argv[1] = "-c";
	argv[2] = (char *)master->config_dir;
	argv[3] = NULL;
	execv(path, argv);
	log_warn("cannot execute %s", path);
	_exit(71);
}

static void
child_spawn(struct child *c)
{
	int sp[2];
	pid_t pid;

	if (master->stopping)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair for %s", c->name);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork for %s", c->name);
		close(sp[0]);
		close(sp[1]);
		return;
	}
	if (pid == 0) {
		close(sp[0]);
		child_exec(c, sp[1]);
	}
	close(sp[1]);
	c->pid = pid;
	c->started = time(NULL);
	c->asked = c->answered = 0;
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
	c->pid = 0;
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
	else {
		tv.tv_sec = c->delay;
		c->delay = c->delay == 0               ? RESTART_MIN_DELAY
		    : c->delay * 2 > RESTART_MAX_DELAY ? RESTART_MAX_DELAY
		                                       : c->delay * 2;
	}
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

void
children_send(enum child_kind kind, struct ipc_buf *b)
{
	int i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].kind == kind)
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

struct child *
children_find(enum child_kind kind)
{
	int i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].kind == kind)
			return &master->children[i];
	return NULL;
}

static void
children_signal(enum child_kind kind, int sig)
{
	int i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].kind == kind &&
		    master->children[i].pid != 0)
			kill(master->children[i].pid, sig);
}

/*
 * Graceful stop: smtp workers, pickup, bounce and showq first, so results in
 * flight still reach qmgr; qmgr and the resolver once they are gone
 * (children_reap() calls us again), and SIGKILL for anything left after
 * STOP_GRACE.
 */
void
children_stop(void)
{
	struct ipc_buf b;
	int i, workers = 0;

	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];
		evtimer_del(c->restart_ev);
		if (c->kind != CHILD_QMGR && c->kind != CHILD_RESOLVER &&
		    c->pid != 0)
			workers++;
	}
	ipc_buf_init(&b, M_CTL_STOP);
	children_send(CHILD_SMTP, &b);
	ipc_buf_init(&b, M_CTL_STOP);
	children_send(CHILD_PICKUP, &b);
	ipc_buf_init(&b, M_CTL_STOP);
	children_send(CHILD_BOUNCE, &b);
	ipc_buf_init(&b, M_CTL_STOP);
	children_send(CHILD_SHOWQ, &b);
	if (workers == 0) {
		ipc_buf_init(&b, M_CTL_STOP);
		children_send(CHILD_QMGR, &b);
		ipc_buf_init(&b, M_CTL_STOP);
		children_send(CHILD_RESOLVER, &b);
	}
	if (master->stopping > 1) { /* grace expired */
		children_signal(CHILD_SMTP, SIGKILL);
		children_signal(CHILD_PICKUP, SIGKILL);
		children_signal(CHILD_BOUNCE, SIGKILL);
		children_signal(CHILD_SHOWQ, SIGKILL);
		children_signal(CHILD_QMGR, SIGKILL);
		children_signal(CHILD_RESOLVER, SIGKILL);
	}
}

void
children_status(char **text)
{
	char *s = xstrdup(""), *n;
	int i;

	for (i = 0; i < master->nchildren; i++) {
		struct child *c = &master->children[i];

		xasprintf(&n, "%s%-8s pid=%d restarts=%u%s%s\n", s, c->name,
		    (int)c->pid, c->restarts, c->status ? " " : "",
		    c->status ? c->status : "");
		free(s);
		s = n;
	}
	*text = s;
}
