/*
 * ncctl.c - the administrator's command: start, stop, reload, status,
 * check, flush and show. It talks to the master over QDIR/public/control
 * and reads the queue directly (read-only) for counts and listings.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "queue.h"
#include "routes.h"
#include "util.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_TEMPFAIL 75
#define EX_CONFIG 78

struct ncctl {
	struct nc_config cfg;
	const char *dir;
	int config_ok;
	struct cf_errors errs;
};

static struct ncctl ctl;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: ncctl [-c config_dir] command [arguments]\n"
	    "commands:\n"
	    "  start [--foreground]   check the configuration and start ncmta\n"
	    "  stop                   stop gracefully; queued mail stays "
	    "queued\n"
	    "  reload                 re-read the configuration\n"
	    "  status                 daemons, restarts and queue counts\n"
	    "  check [-n|-d]          validate; -n: non-default settings, -d: "
	    "all\n"
	    "  flush [ID...|--domain D]  retry deferred mail now\n"
	    "  show ID                print a queued message\n"
	    "  hold|release|delete|requeue ID...   queue administration\n"
	    "  resolver flush         empty the resolver cache\n");
}

static void
load_config(void)
{
	ctl.config_ok = config_load(&ctl.cfg, ctl.dir, &ctl.errs) == 0;
}

static void
need_config(void)
{
	if (!ctl.config_ok) {
		fprintf(stderr, "%s", ctl.errs.text);
		exit(EX_CONFIG);
	}
}

/* The master's pid if one holds the pid-file lock, else 0. */
static pid_t
master_pid(void)
{
	char *path = config_qpath(&ctl.cfg, "pid/master.pid"), buf[32];
	ssize_t n;
	pid_t pid = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd); /* nobody holds it: stale */
		return 0;
	}
	if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		pid = (pid_t)atoi(buf);
	}
	close(fd);
	return pid;
}

/* One request to the master; returns the reply code, prints its text. */
static int
control_request(struct ipc_buf *req, FILE *out)
{
	char *path = config_qpath(&ctl.cfg, "public/control");
	uint8_t *payload;
	uint32_t type, code;
	size_t len;
	struct ipc_msg m;
	const char *text;
	int fd;

	if ((fd = ipc_connect(path)) == -1) {
		fprintf(stderr, "ncctl: cannot reach the master at %s: %s\n",
		    path, strerror(errno));
		ipc_buf_free(req);
		free(path);
		return -1;
	}
	free(path);
	if (ipc_send_blocking(fd, req) == -1 ||
	    ipc_recv_blocking(fd, IPC_MAX_FRAME_DEFAULT, &type, &payload, &len,
	        30000) == -1) {
		fprintf(stderr, "ncctl: control request failed: %s\n",
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	ipc_msg_init(&m, type, payload, len);
	code = ipc_get_u32(&m);
	text = ipc_get_str(&m);
	if (type != M_REPLY || !ipc_msg_done(&m)) {
		fprintf(stderr, "ncctl: malformed reply from the master\n");
		free(payload);
		return -1;
	}
	if (*text != '\0')
		fprintf(code ? stderr : out, "%s%s", text,
		    text[strlen(text) - 1] == '\n' ? "" : "\n");
	free(payload);
	return (int)code;
}

static int
require_running(void)
{
	if (master_pid() == 0) {
		fprintf(stderr, "ncctl: ncmta is not running (queue %s)\n",
		    ctl.cfg.queue_directory);
		return 0;
	}
	return 1;
}

/* ---- check ---- */

static int
check_file_exec(const char *dir, const char *name)
{
	char *path;
	int ok;

	xasprintf(&path, "%s/ncmta-%s", dir, name);
	ok = access(path, X_OK) == 0;
	if (!ok)
		fprintf(stderr, "ncctl: daemon_directory: %s: %s\n", path,
		    strerror(errno));
	free(path);
	return ok;
}

/* The routing table: every bad line, with its number. */
static int
check_routes(void)
{
	struct cf_errors errs = {NULL, 0};
	struct route_table rt;

	if (*ctl.cfg.route_table == '\0')
		return 0;
	if (routes_load(ctl.cfg.route_table, &rt, &errs) == 0) {
		routes_free(&rt);
		return 0;
	}
	fprintf(stderr, "%s", errs.text);
	cf_errors_free(&errs);
	return 1;
}

static int
cmd_check(int argc, char **argv)
{
	static const char *daemons[] = {
	    "master", "pickup", "qmgr", "smtp", "resolver", NULL};
	int i, problems = 0, print = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0)
			print = 1;
		else if (strcmp(argv[i], "-d") == 0)
			print = 2;
		else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (!ctl.config_ok) {
		fprintf(stderr, "%s", ctl.errs.text);
		return 1;
	}
	if (print)
		config_print(&ctl.cfg, stdout, print == 1);
	if (geteuid() == 0 && getpwnam(ctl.cfg.mail_owner) == NULL) {
		fprintf(stderr, "ncctl: mail_owner \"%s\" is not a user\n",
		    ctl.cfg.mail_owner);
		problems++;
	}
	problems += check_routes();
	for (i = 0; daemons[i] != NULL; i++)
		problems +=
		    !check_file_exec(ctl.cfg.daemon_directory, daemons[i]);
	return problems ? 1 : 0;
}

/* ---- start / stop ---- */

static int
cmd_start(int argc, char **argv)
{
	char *path, *args[5];
	int fg = argc > 1 && strcmp(argv[1], "--foreground") == 0, n = 0;
	pid_t pid;

	if (argc > 2 || (argc == 2 && !fg)) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	if ((pid = master_pid()) != 0) {
		fprintf(stderr, "ncctl: ncmta is already running (pid %d)\n",
		    (int)pid);
		return 1;
	}
	if (cmd_check(1, argv) != 0)
		return 1;
	xasprintf(&path, "%s/ncmta-master", ctl.cfg.daemon_directory);
	args[n++] = path;
	args[n++] = "-c";
	args[n++] = (char *)ctl.dir;
	if (fg)
		args[n++] = "-f";
	args[n] = NULL;
	execv(path, args);
	fprintf(
	    stderr, "ncctl: cannot execute %s: %s\n", path, strerror(errno));
	return 1;
}

static int
cmd_stop(int argc, char **argv)
{
	struct ipc_buf b;
	pid_t pid;
	int i;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	if ((pid = master_pid()) == 0) {
		fprintf(stderr, "ncctl: ncmta is not running\n");
		return 1;
	}
	ipc_buf_init(&b, M_REQ_STOP);
	if (control_request(&b, stdout) != 0 && kill(pid, SIGTERM) == -1)
		return 1;
	/* bounded wait for the master (it waits for its children) */
	for (i = 0; i < 600; i++) {
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return 0;
		usleep(50000);
	}
	fprintf(
	    stderr, "ncctl: ncmta (pid %d) did not stop in 30s\n", (int)pid);
	return 1;
}

static int
cmd_simple(int argc, uint32_t type)
{
	struct ipc_buf b;

	if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	if (!require_running())
		return 1;
	ipc_buf_init(&b, type);
	return control_request(&b, stdout) == 0 ? 0 : 1;
}

/* ---- status ---- */

static int
count_cb(const struct q_msg *m, void *arg)
{
	unsigned long *counts = arg;

	if (m->state <= Q_HOLD)
		counts[m->state]++;
	return 0;
}

static void
print_queue_counts(void)
{
	unsigned long counts[4] = {0, 0, 0, 0};
	struct queue *q;
	struct queue_txn *t;
	char *path = config_qpath(&ctl.cfg, "db");
	int i;

	if (queue_open(&q, path, 0, 1) != 0) {
		printf("queue: empty (no queue at %s)\n", path);
		free(path);
		return;
	}
	free(path);
	if (queue_txn_begin(q, &t, 1) == 0) {
		queue_walk(t, count_cb, counts);
		queue_txn_abort(t);
	}
	queue_close(q);
	printf("queue:");
	for (i = 0; i <= Q_HOLD; i++)
		printf(" %s=%lu", q_state_name(i), counts[i]);
	printf("\n");
}

static int
cmd_status(int argc, char **argv)
{
	struct ipc_buf b;
	int rc;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	if (master_pid() == 0) {
		printf("ncmta is not running\n");
		print_queue_counts();
		return 1;
	}
	printf("ncmta is running\n");
	ipc_buf_init(&b, M_REQ_STATUS);
	rc = control_request(&b, stdout);
	print_queue_counts();
	return rc == 0 ? 0 : 1;
}

/* ---- flush ---- */

struct flush_ctx {
	const char *domain;
	uint64_t *ids;
	size_t n;
};

static int
flush_domain_cb(const struct q_msg *m, void *arg)
{
	struct flush_ctx *f = arg;
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++) {
		const char *at = strrchr(m->rcpt[i].addr, '@');
		if (at != NULL && strcasecmp(at + 1, f->domain) == 0) {
			f->ids = xreallocarray(f->ids, f->n + 1, 8);
			f->ids[f->n++] = m->qid;
			break;
		}
	}
	return 0;
}

static int
flush_collect_domain(struct flush_ctx *f)
{
	char *path = config_qpath(&ctl.cfg, "db");
	struct queue *q;
	struct queue_txn *t;
	int rc;

	rc = queue_open(&q, path, 0, 1);
	free(path);
	if (rc != 0)
		return 0;
	if (queue_txn_begin(q, &t, 1) == 0) {
		queue_walk(t, flush_domain_cb, f);
		queue_txn_abort(t);
	}
	queue_close(q);
	return 0;
}

static int
cmd_flush(int argc, char **argv)
{
	struct flush_ctx f = {NULL, NULL, 0};
	struct ipc_buf b;
	size_t i;
	int a;

	need_config();
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--domain") == 0 && a + 1 < argc)
			f.domain = argv[++a];
		else {
			f.ids = xreallocarray(f.ids, f.n + 1, 8);
			if (qid_parse(argv[a], &f.ids[f.n]) == -1) {
				fprintf(stderr, "ncctl: bad queue ID \"%s\"\n",
				    argv[a]);
				return EX_USAGE;
			}
			f.n++;
		}
	}
	if (!require_running())
		return 1;
	if (f.domain != NULL) {
		flush_collect_domain(&f);
		if (f.n == 0) {
			printf("no queued mail for %s\n", f.domain);
			return 0;
		}
	}
	ipc_buf_init(&b, M_REQ_FLUSH);
	ipc_add_u32(&b, (uint32_t)f.n);
	for (i = 0; i < f.n; i++)
		ipc_add_u64(&b, f.ids[i]);
	free(f.ids);
	return control_request(&b, stdout) == 0 ? 0 : 1;
}

/* ---- show ---- */

static int
cmd_show(int argc, char **argv)
{
	char *path, qid[NC_QID_LEN + 1];
	struct queue *q;
	struct queue_txn *t;
	struct q_msg m;
	const void *body;
	size_t len;
	uint64_t id;
	uint32_t i;
	int rc;

	if (argc != 2 || qid_parse(argv[1], &id) == -1) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	path = config_qpath(&ctl.cfg, "db");
	rc = queue_open(&q, path, 0, 1);
	free(path);
	if (rc == 0 && (rc = queue_txn_begin(q, &t, 1)) == 0) {
		if ((rc = queue_get_msg(t, id, &m)) == 0 &&
		    (rc = queue_get_body(t, id, &body, &len)) == 0) {
			qid_format(id, qid);
			printf("*** ENVELOPE RECORDS %s ***\n", qid);
			printf("queue_name: %s\nmessage_size: %llu\n"
			       "arrival_time: %llu\nsubmitted_by_uid: %u\n"
			       "sender: %s\n",
			    q_state_name(m.state), (unsigned long long)m.size,
			    (unsigned long long)(m.arrival_us / 1000000), m.uid,
			    m.sender);
			for (i = 0; i < m.nrcpt; i++)
				printf("recipient: %s (%s%s%s)\n",
				    m.rcpt[i].addr,
				    m.rcpt[i].status == QR_SENT ? "sent"
				        : m.rcpt[i].status == QR_BOUNCED
				        ? "bounced"
				        : m.rcpt[i].status == QR_DEFERRED
				        ? "deferred"
				        : "pending",
				    *m.rcpt[i].reason ? ": " : "",
				    m.rcpt[i].reason);
			printf("*** MESSAGE CONTENTS %s ***\n", qid);
			fwrite(body, 1, len, stdout);
			printf("*** END OF MESSAGE %s ***\n", qid);
			q_msg_free(&m);
		}
		queue_txn_abort(t);
		queue_close(q);
	}
	if (rc != 0) {
		fprintf(stderr, "ncctl: %s: %s\n", argv[1], queue_strerror(rc));
		return 1;
	}
	return 0;
}

static int
cmd_unavailable(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "ncctl: %s: not available in this version of ncmta\n",
	    argv[0]);
	return EX_UNAVAILABLE;
}

static int
cmd_reload(int argc, char **argv)
{
	(void)argv;
	if (ctl.config_ok == 0) {
		fprintf(stderr,
		    "ncctl: configuration refused, the running "
		    "one stays in force:\n%s",
		    ctl.errs.text);
		return EX_CONFIG;
	}
	return cmd_simple(argc, M_REQ_RELOAD);
}

/* The master forwards it and replies once the resolver has emptied its
 * cache, so a question asked after this returns goes to a name server. */
static int
cmd_resolver(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "flush") != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	return cmd_simple(1, M_REQ_RESOLVER_FLUSH);
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {{"start", cmd_start}, {"stop", cmd_stop},
    {"reload", cmd_reload}, {"status", cmd_status}, {"check", cmd_check},
    {"flush", cmd_flush}, {"show", cmd_show}, {"hold", cmd_unavailable},
    {"release", cmd_unavailable}, {"delete", cmd_unavailable},
    {"requeue", cmd_unavailable}, {"resolver", cmd_resolver}, {NULL, NULL}};

int
main(int argc, char **argv)
{
	const char *dir = NULL;
	int i;

	log_init("ncctl", "stderr", "mail");
	while (argc > 1 && argv[1][0] == '-') {
		if (strcmp(argv[1], "-c") == 0 && argc > 2) {
			dir = argv[2];
			argc -= 2;
			argv += 2;
		} else if (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	ctl.dir = config_dir_pick(dir);
	load_config();
	for (i = 0; commands[i].name != NULL; i++)
		if (strcmp(commands[i].name, argv[1]) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ncctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EX_USAGE;
}
