/*
 * master.c - ncmta's supervisor (ncmta-master, started by `ncctl start`).
 * Checks the configuration, creates the queue directory tree and the
 * sockets with their owners and modes, takes the pid-file lock so one
 * queue has one master, then starts and watches the daemons.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "qlayout.h"
#include "queue.h"
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
}

/* Create the LMDB environment now, so its files get the right owner. */
static void
master_create_queue(void)
{
	struct queue *q;
	char *path = config_qpath(&master->cfg, "db");
	int rc;

	if ((rc = queue_open(&q, path, master->cfg.queue_map_size, 0)) != 0)
		fatalx("cannot open the queue in %s: %s", path,
		    queue_strerror(rc));
	queue_close(q);
	free(path);
}

static void
master_mkdirs(void)
{
	char *path, *err;

	if (qlayout_create(&master->cfg, master->uid, master->gid,
	        master->as_root, &err) == -1)
		fatalx("%s", err);
	master_create_queue();
	/* the daemons open the queue's files as mail_owner */
	path = config_qpath(&master->cfg, "db/data.mdb");
	if (master->as_root && chown(path, master->uid, master->gid) == -1)
		log_warn("chown %s", path);
	free(path);
	path = config_qpath(&master->cfg, "db/lock.mdb");
	if (master->as_root && chown(path, master->uid, master->gid) == -1)
		log_warn("chown %s", path);
	free(path);
}

/* One master per queue: an exclusive lock on pid/master.pid. */
static void
master_pidfile(void)
{
	char *path = config_qpath(&master->cfg, "pid/master.pid");
	char buf[32];
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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

/* A socket under private/ for mail_owner's daemons, made here so it
 * outlives the daemon that accepts on it. */
static int
master_private_socket(const char *name)
{
	char *path = config_qpath(&master->cfg, name);
	int fd;

	if ((fd = ipc_listen(path, 0600)) == -1)
		fatal("listen %s", path);
	if (master->as_root && chown(path, master->uid, master->gid) == -1)
		fatal("chown %s", path);
	free(path);
	return fd;
}

static void
master_sockets(void)
{
	char *path;

	master->qmgr_listen_fd = master_private_socket("private/qmgr");
	master->resolver_listen_fd = master_private_socket("private/resolver");
	/* every local user may list their own mail; control.c checks who
	 * asks for anything else */
	path = config_qpath(&master->cfg, "public/control");
	if ((master->control_fd = ipc_listen(path, 0666)) == -1)
		fatal("listen %s", path);
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
	case SIGHUP:
		log_info("reload requested by signal");
		break;
	default:
		master_begin_stop();
	}
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
	char c;

	if (pipe(pfd) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &c, 1) != 1)
			exit(1); /* the child logged why */
		exit(0);
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
	int foreground = 0, ready_fd = -1, i;

	master = xcalloc(1, sizeof(*master));
	TAILQ_INIT(&master->waits);
	TAILQ_INIT(&master->clients);
	master_load(argc, argv, &foreground);
	master_owner();
	master_secrets_init();
	master_mkdirs();
	if (!foreground)
		ready_fd = master_daemonize();
	if (log_init("master", master->cfg.log_target,
	        master->cfg.syslog_facility) == -1)
		log_warn("cannot open log %s", master->cfg.log_target);
	if (getenv("NCMTA_DEBUG") != NULL)
		log_set_verbose(1);
	master_pidfile();
	master_sockets();
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
	children_init();
	children_start_all();
	log_info("daemon started -- version %s, configuration %s",
	    NCMTA_VERSION, master->config_dir);
	if (ready_fd != -1) {
		if (write(ready_fd, "", 1) == -1) /* ncctl start gave up */
			log_warn("cannot tell ncctl start that ncmta runs");
		close(ready_fd);
	}
	event_base_dispatch(master->base);
	return 0;
}
