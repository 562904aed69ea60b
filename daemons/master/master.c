/*
 * master.c - ncmta's supervisor (ncmta-master, started by `ncctl start`).
 * Checks the configuration, creates the queue directory tree and the
 * sockets with their owners and modes, takes the pid-file lock so one
 * queue has one master, then starts and watches the daemons. It never
 * opens the queue itself: that is mail_owner's.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "qlayout.h"
#include "util.h"

struct master *master;

static void
master_usage(void)
{
	fprintf(stderr, "usage: ncmta-master [-f] [-c config_dir]\n");
	exit(64);
}

static void
master_owner(void)
{
	struct passwd *pw;

	master->as_root = geteuid() == 0;
	if (!master->as_root) {
		master->uid = geteuid();
		master->gid = getegid();
		return;
	}
	if ((pw = getpwnam(master->cfg.mail_owner)) == NULL)
		fatalx("mail_owner \"%s\" is not a user on this system",
		    master->cfg.mail_owner);
	if (pw->pw_uid == 0)
		fatalx("mail_owner \"%s\" must not be root",
		    master->cfg.mail_owner);
	master->uid = pw->pw_uid;
	master->gid = pw->pw_gid;
	master->owner = xstrdup(pw->pw_name);
}

/*
 * The tree with its owners and modes. The master never opens the queue:
 * the daemons create the LMDB files as mail_owner. A queue file that is
 * a link or not mail_owner's is left alone, and ncmta does not start.
 */
static void
master_mkdirs(void)
{
	char *err;

	if (qlayout_create(&master->cfg, master->uid, master->gid,
	        master->as_root, &err) == -1)
		fatalx("%s", err);
	if (qlayout_check_queue_files(&master->cfg, master->uid, NULL, &err))
		fatalx("%s; ncmta not started", err);
}

/* Before detaching, so that `ncctl start` says why a log file cannot be
 * used (a link is never followed, and it must be a regular file). */
static void
master_open_log(void)
{
	const char *target = master->cfg.log_target;

	if (log_init("master", target, master->cfg.syslog_facility) == 0)
		return;
	if (errno == ELOOP)
		fatalx("log_target %s is a symbolic link; ncmta not started",
		    target);
	if (errno == EINVAL)
		fatalx("log_target %s is not a regular file; ncmta not started",
		    target);
	fatal("cannot open log_target %s", target);
}

/* One master per queue: an exclusive lock on pid/master.pid. */
static void
master_pidfile(void)
{
	char *path = config_qpath(&master->cfg, "pid/master.pid");
	char buf[32];
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1)
		fatal("open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1)
		fatalx("ncmta is already running for %s",
		    master->cfg.queue_directory);
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || write_all(fd, buf, strlen(buf)) == -1)
		fatal("write %s", path);
	master->pid_fd = fd;
	free(path);
}

static void
master_finish(void)
{
	char *path = config_qpath(&master->cfg, "pid/master.pid");

	(void)unlink(path);
	free(path);
	log_info("stopped");
	exit(0);
}

/*
 * Before the daemons run: say why ncmta cannot start, in the log and as
 * one line "ncmta: why" to whoever started it (through the pipe that
 * ncctl start's side of master_daemonize() reads), and exit 1. No daemon
 * has been started yet, so nothing keeps running.
 */
void
master_start_failed(const char *fmt, ...)
{
	char *why, *line;
	char *path = config_qpath(&master->cfg, "pid/master.pid");
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) == -1)
		why = (char *)fmt;
	va_end(ap);
	log_warnx("%s; ncmta not started", why);
	xasprintf(&line, "ncmta: %s\n", why);
	if (master->ready_fd != -1)
		(void)write_all(master->ready_fd, line, strlen(line));
	else if (strcmp(master->cfg.log_target, "stderr") != 0)
		fputs(line, stderr);
	if (master->pid_fd != -1)
		(void)unlink(path);
	exit(1);
}

static void
master_stop_timer(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	master->stopping = 2;
	children_stop();
}

void master_begin_stop(void);

void
master_begin_stop(void)
{
	struct timeval tv = {STOP_GRACE, 0};

	if (master->stopping)
		return;
	log_info("stopping");
	master->stopping = 1;
	master->stop_timer = evtimer_new(master->base, master_stop_timer, NULL);
	evtimer_add(master->stop_timer, &tv);
	children_stop();
	if (children_running() == 0)
		master_finish();
}

static void
master_signal(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	(void)arg;
	switch (sig) {
	case SIGCHLD:
		children_reap();
		if (master->stopping) {
			if (children_running() == 0)
				master_finish();
			children_stop(); /* next stage: qmgr */
		}
		break;
	case SIGHUP: /* exactly as ncctl reload */
		if (!master->stopping) {
			char *reply;

			log_info("reload requested by SIGHUP");
			(void)master_reload(&reply);
			free(reply);
		}
		break;
	default:
		master_begin_stop();
	}
}

/*
 * ncctl start's side of the pipe: a NUL when ncmta runs (exit 0), or the
 * line saying why it does not (printed, exit 1); nothing means the child
 * died and logged why.
 */
static void __attribute__((noreturn)) master_wait_ready(int fd)
{
	char buf[1024];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		if (buf[0] == '\0')
			exit(0);
		len += (size_t)n;
	}
	if (len > 0)
		(void)write_all(2, buf, len);
	exit(1);
}

/*
 * Detach from the terminal. The parent waits on a pipe until the child
 * reports that sockets and daemons are set up, so `ncctl start` returns
 * only once ncmta runs (or with its error).
 */
static int
master_daemonize(void)
{
	int pfd[2], null;
	pid_t pid;

	if (pipe(pfd) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(pfd[1]);
		master_wait_ready(pfd[0]);
	}
	close(pfd[0]);
	setsid();
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		if (strcmp(master->cfg.log_target, "stderr") != 0)
			dup2(null, 2);
		if (null > 2)
			close(null);
	}
	fd_cloexec(pfd[1]);
	return pfd[1];
}

static void
master_load(int argc, char **argv, int *foreground)
{
	struct cf_errors errs = {NULL, 0};
	const char *dir = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "c:fv")) != -1) {
		switch (ch) {
		case 'c':
			dir = optarg;
			break;
		case 'f':
			*foreground = 1;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		default:
			master_usage();
		}
	}
	master->config_dir = config_dir_pick(dir);
	log_init("master", "stderr", "mail");
	if (config_load(&master->cfg, master->config_dir, &errs) == -1) {
		fprintf(stderr, "%s", errs.text);
		exit(78);
	}
}

int
main(int argc, char **argv)
{
	struct event *sigs[5];
	const int signos[5] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	int foreground = 0, i;

	master = xcalloc(1, sizeof(*master));
	master->ready_fd = master->pid_fd = -1;
	TAILQ_INIT(&master->waits);
	TAILQ_INIT(&master->clients);
	master_load(argc, argv, &foreground);
	master_owner();
	master_secrets_init();
	master_mkdirs();
	master_open_log();
	if (!foreground)
		master->ready_fd = master_daemonize();
	if (getenv("NCMTA_DEBUG") != NULL)
		log_set_verbose(1);
	master_pidfile();
	children_init();
	sockets_open();
	signal(SIGPIPE, SIG_IGN);
	if ((master->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (i = 0; i < 5; i++) {
		sigs[i] =
		    evsignal_new(master->base, signos[i], master_signal, NULL);
		evsignal_add(sigs[i], NULL);
	}
	if (!master->as_root)
		log_warnx("not started as root: every daemon runs as uid %d "
		          "without privilege separation",
		    (int)master->uid);
	master->started = time(NULL);
	master_secrets_log();
	control_init();
	children_start_all();
	log_info("daemon started -- version %s, configuration %s",
	    NCMTA_VERSION, master->config_dir);
	if (master->ready_fd != -1) {
		/* fails only when ncctl start gave up waiting */
		if (write(master->ready_fd, "", 1) == -1)
			log_warn("cannot tell ncctl start that ncmta runs");
		close(master->ready_fd);
		master->ready_fd = -1;
	}
	event_base_dispatch(master->base);
	return 0;
}
