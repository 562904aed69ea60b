/*
 * ncctl.c - the administrator's command: start, stop, reload, status,
 * metrics, check, show, and queue administration (flush, hold, release, delete,
 * requeue). It talks to the master over QDIR/public/control, which
 * checks the caller's uid, and reads the queue directly (read-only) for
 * counts and show -- run by root, as mail_owner, never as root.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
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
#include "listen.h"
#include "services.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "privdrop.h"
#include "proto.h"
#include "qlayout.h"
#include "queue.h"
#include "rewrite.h"
#include "routes.h"
#include "secrets.h"
#include "showqc.h"
#include "util.h"
#include "viewgroup.h"

#define EX_USAGE 64
#define EX_TEMPFAIL 75
#define EX_CONFIG 78

struct ncctl {
	struct nc_config cfg;
	const char *dir;
	int config_ok;
	int starting; /* check before start: the master fixes the modes */
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
	    "  metrics                counters and gauges, Prometheus text "
	    "format\n"
	    "  check [-n|-d]          validate; -n: non-default settings, -d: "
	    "all\n"
	    "  flush [SELECT]         retry deferred mail now (default: all "
	    "of it)\n"
	    "  hold SELECT            keep messages queued, undelivered\n"
	    "  release SELECT         route held messages again\n"
	    "  delete SELECT          remove messages, without a bounce\n"
	    "  requeue SELECT         try every open recipient again now\n"
	    "  show ID                print a queued message\n"
	    "  resolver flush         empty the resolver cache\n"
	    "  tls-report [--json]    TLS sessions per recipient domain "
	    "(RFC 8460)\n"
	    "SELECT: queue IDs (- reads them from standard input), ALL,\n"
	    "        --deferred, or --domain D\n");
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

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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

/* One request to the master; returns the reply code, prints its text
 * (after prefix; on stderr when the code is not 0). */
/* A reply's text: on stderr when it reports a failure; else on out,
 * but for its "warning: " lines (a reload's settings that wait for a
 * restart), which go to stderr as ncctl's warnings. */
static void
reply_print(const struct ipcm_reply *r, FILE *out, const char *prefix)
{
	const char *p = r->text, *nl;
	int n;

	if (r->code != 0) {
		if (*p != '\0')
			fprintf(stderr, "%s%s%s", prefix, p,
			    p[strlen(p) - 1] == '\n' ? "" : "\n");
		return;
	}
	for (; *p != '\0'; p = *nl ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		n = (int)(nl - p);
		if (strncmp(p, "warning: ", 9) == 0)
			fprintf(stderr, "ncctl: %.*s\n", n, p);
		else
			fprintf(out, "%s%.*s\n", prefix, n, p);
	}
}

static int
control_request(struct ipc_buf *req, FILE *out, const char *prefix)
{
	char *path = config_qpath(&ctl.cfg, "public/control");
	struct ipcm_reply r;
	uint8_t *payload;
	uint32_t type;
	size_t len;
	struct ipc_msg m;
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
	if (type != M_REPLY || ipcm_reply_get(&m, &r) == -1) {
		fprintf(stderr, "ncctl: malformed reply from the master\n");
		free(payload);
		return -1;
	}
	reply_print(&r, out, prefix);
	free(payload);
	return (int)r.code;
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

/* ncmta-name in daemon_directory; a missing one is a warning only when
 * ncmta runs without it (optional). 1 for a problem. */
static int
check_program(const char *name, int optional)
{
	char *path;
	int ok;

	xasprintf(&path, "%s/ncmta-%s", ctl.cfg.daemon_directory, name);
	ok = access(path, X_OK) == 0;
	if (!ok)
		fprintf(stderr, "ncctl: %sdaemon_directory: %s: %s%s%s\n",
		    optional ? "warning: " : "", path, strerror(errno),
		    optional ? "; ncmta runs without " : "",
		    optional ? name : "");
	free(path);
	return !ok && !optional;
}

/*
 * Whether the master could bind a service's TCP addresses: another
 * process may hold one, or it may not be this host's. Not while ncmta
 * runs (its master holds them), nor for ncctl start (the master says
 * the same when it binds). A privileged port refused to a user other
 * than root is no problem: a root-run master binds it.
 */
static int
check_listen(const struct service *svc)
{
	struct net_listen l[NET_LISTEN_MAX];
	int i, fd, problems = 0, n = svc_tcp_addrs(svc, &ctl.cfg, l);

	for (i = 0; i < n; i++) {
		if ((fd = listen_tcp(&l[i])) != -1) {
			close(fd);
			continue;
		}
		if (errno == EACCES && geteuid() != 0)
			continue;
		if (svc_tcp_skippable(svc, &ctl.cfg, &l[i], errno)) {
			fprintf(stderr,
			    "ncctl: warning: not listening on %s (%s's "
			    "default): no IPv6 on this host\n",
			    l[i].text, svc_tcp_setting(svc));
			continue;
		}
		fprintf(stderr, "ncctl: cannot listen on %s (%s): %s\n",
		    l[i].text, svc_tcp_setting(svc), strerror(errno));
		problems++;
	}
	return problems;
}

/* Every row of the master's service table that runs under this
 * configuration: its program, and its TCP addresses. */
static int
check_services(void)
{
	const struct service *svc;
	int problems = check_program("master", 0);
	int listen = !ctl.starting && master_pid() == 0;

	for (svc = services; svc->name != NULL; svc++) {
		if (svc_count(svc, &ctl.cfg) == 0)
			continue;
		problems += check_program(svc->name, svc->optional);
		if (listen)
			problems += check_listen(svc);
	}
	return problems;
}

/* Owners and modes of the queue tree, as the master makes them. */
static int
check_layout(void)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return qlayout_check(&ctl.cfg, geteuid(), getegid(), 0, stderr);
	if ((pw = getpwnam(ctl.cfg.mail_owner)) == NULL)
		return 0; /* already reported */
	return qlayout_check(&ctl.cfg, pw->pw_uid, pw->pw_gid, 1, stderr);
}

/* queue_view_group must name a group: showq resolves it at start. */
static int
check_view_group(void)
{
	char err[256];
	gid_t gid;

	if (viewgroup_resolve(
	        ctl.cfg.queue_view_group, &gid, err, sizeof(err)) != -1)
		return 0;
	fprintf(stderr, "ncctl: %s\n", err);
	return 1;
}

/*
 * dane validated by the resolver itself (dns_trust_ad = no) needs its
 * trust anchors: without them no answer is validated and dane delivers
 * as may would, which is worth a refusal here rather than a log line of
 * the resolver's. routes: the table, or NULL when there is none.
 */
static int
check_trust_anchor(const struct route_table *routes)
{
	const char *path = ctl.cfg.dnssec_trust_anchor;
	int dane = strcmp(ctl.cfg.smtp_tls_security_level, "dane") == 0;
	size_t i;
	FILE *f;

	for (i = 0; routes != NULL && i < routes->n && !dane; i++)
		dane = strcmp(routes->r[i].tls, "dane") == 0;
	if (!dane || ctl.cfg.dns_trust_ad)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr,
		    "ncctl: dnssec_trust_anchor %s: %s (dane needs it to "
		    "validate DNSSEC; install dns-root-data, name another "
		    "file, or set dns_trust_ad = yes behind a validating name "
		    "server)\n",
		    path, strerror(errno));
		return 1;
	}
	fclose(f);
	return 0;
}

/* The routing table: every bad line, with its number; and what dane
 * needs when the table or the settings ask for it. */
static int
check_routes(void)
{
	struct cf_errors errs = {NULL, 0};
	struct route_table rt;
	int bad;

	if (*ctl.cfg.route_table == '\0')
		return check_trust_anchor(NULL);
	if (routes_load(ctl.cfg.route_table, &rt, &errs) == 0) {
		bad = check_trust_anchor(&rt);
		routes_free(&rt);
		return bad;
	}
	fprintf(stderr, "%s", errs.text);
	cf_errors_free(&errs);
	return 1;
}

/*
 * Mail to root as cron sends it (unqualified: root@myorigin), when it
 * would bounce: myorigin is local and root has neither an alias that
 * leads off this host nor local_recipient_forward to go to; or when a
 * root alias exists that it never meets, myorigin not being local. A
 * warning only: ncmta runs, and the rest of the mail is not concerned.
 */
static void
check_root_mail(const struct rewrite *rw)
{
	struct rw_result res;
	char *root;
	size_t i;

	xasprintf(&root, "root@%s", rw->myorigin);
	if (!rewrite_is_local(rw, root)) {
		/* a root alias the mail never meets: myorigin (often the
		 * /etc/mailname a package wrote, the host's full name) is
		 * not in mydestination, so root's mail leaves unchanged */
		if (aliases_lookup(&rw->aliases, "root") != NULL)
			fprintf(stderr,
			    "ncctl: warning: the root alias does not apply: "
			    "mail to root goes to %s, and %s is not in "
			    "mydestination (%s); if it is this host's name, "
			    "add it there\n",
			    root, rw->myorigin, ctl.cfg.mydestination);
		free(root);
		return;
	}
	rewrite_recipients(rw, &root, NULL, 1, &res);
	for (i = 0; i < res.n; i++) {
		if (*res.r[i].dsn == '\0')
			continue;
		fprintf(stderr,
		    "ncctl: warning: mail to %s would bounce (%s %s): add "
		    "\"root: you@example.com\" to %s, or set "
		    "local_recipient_forward\n",
		    root, res.r[i].dsn, res.r[i].reason,
		    *ctl.cfg.alias_maps != '\0' ? ctl.cfg.alias_maps
		                                : "an alias_maps file");
		break;
	}
	rw_result_free(&res);
	free(root);
}

/* alias_maps, generic_maps and local_recipient_forward: every bad line,
 * with its number; a warning when root's mail would bounce. */
static int
check_rewrite(void)
{
	struct cf_errors errs = {NULL, 0};
	struct rewrite rw;
	int bad = rewrite_load(&rw, &ctl.cfg, &errs) == -1;

	aliases_print_warnings(&rw.aliases, stderr, "ncctl: warning: ");
	if (bad)
		fprintf(stderr, "%s", errs.text);
	else if (!ctl.starting)
		check_root_mail(&rw);
	rewrite_free(&rw);
	cf_errors_free(&errs);
	return bad;
}

/* smtp_tls_CAfile: the smtp workers read it once, at start, before they
 * drop into their chroot; a file they cannot use would make every
 * "verify" delivery fail, so it is named here. */
static int
check_cafile(void)
{
	const char *path = ctl.cfg.smtp_tls_CAfile;
	char line[256];
	int certs = 0;
	FILE *f;

	if (*path == '\0')
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ncctl: smtp_tls_CAfile %s: %s\n", path,
		    strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		certs += strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0;
	fclose(f);
	if (certs == 0) {
		fprintf(stderr,
		    "ncctl: smtp_tls_CAfile %s: no PEM certificate in it\n",
		    path);
		return 1;
	}
	return 0;
}

/*
 * The secrets file, read as the master will read it: ncctl start runs the
 * master as the same user, so that user (root, normally) must own it.
 * While smtp_sasl_auth = no nothing reads it, but passwords that group or
 * others can read are worth a warning all the same.
 */
static int
check_secrets(void)
{
	struct cf_errors errs = {NULL, 0};
	struct secrets t;
	const char *path = ctl.cfg.secrets_file;
	struct stat st;

	if (!ctl.cfg.smtp_sasl_auth) {
		if (*path != '\0' && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode) && (st.st_mode & 044) != 0)
			fprintf(stderr,
			    "ncctl: warning: secrets_file %s: mode %04o lets "
			    "group or others read it; run: chmod 600 %s "
			    "(smtp_sasl_auth = no: the file is not used)\n",
			    path, (unsigned)(st.st_mode & 07777), path);
		return 0;
	}
	if (secrets_load(ctl.cfg.secrets_file, geteuid(), &t, &errs) == 0) {
		secrets_free(&t);
		return 0;
	}
	fprintf(stderr, "%s", errs.text);
	cf_errors_free(&errs);
	return 1;
}

/* drop_directory: pickup needs an absolute path, and the master can make
 * a missing one only inside an existing directory (owner and mode are
 * qlayout_check's). */
static int
check_drop_directory(void)
{
	const char *path = ctl.cfg.drop_directory;
	char *parent, *slash;
	struct stat st;
	int bad;

	if (*path == '\0')
		return 0;
	if (*path != '/') {
		fprintf(stderr,
		    "ncctl: drop_directory %s: not an absolute path\n", path);
		return 1;
	}
	if (stat(path, &st) == 0)
		return 0;
	parent = xstrdup(path);
	if ((slash = strrchr(parent, '/')) != NULL)
		*(slash == parent ? slash + 1 : slash) = '\0';
	bad = stat(parent, &st) == -1 || !S_ISDIR(st.st_mode);
	if (bad)
		fprintf(stderr,
		    "ncctl: drop_directory %s does not exist, and "
		    "%s is no directory to make it in\n",
		    path, parent);
	free(parent);
	return bad;
}

static int
cmd_check(int argc, char **argv)
{
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
	problems += check_view_group();
	problems += check_rewrite();
	problems += check_routes();
	problems += check_drop_directory();
	problems += check_secrets();
	problems += check_cafile();
	if (!ctl.starting)
		problems += check_layout();
	problems += check_services();
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
	ctl.starting = 1;
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
	ipcm_req_stop_encode(&b);
	if (control_request(&b, stdout, "") != 0 && kill(pid, SIGTERM) == -1)
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

/* A request without fields, encoded by encode (ipcm_req_*_encode). */
static int
cmd_simple(int argc, void (*encode)(struct ipc_buf *))
{
	struct ipc_buf b;

	if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	if (!require_running())
		return 1;
	encode(&b);
	return control_request(&b, stdout, "") == 0 ? 0 : 1;
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

/*
 * Root reads the queue as mail_owner (the files in db/ are mail_owner's
 * to replace; root never opens them): from here on this process is
 * mail_owner for good. 0, or -1 once the reason is printed.
 */
static int
queue_reader(const char *path, FILE *fp, const char *prefix)
{
	char *err;

	if (privdrop_queue_reader(ctl.cfg.mail_owner, path, &err) != -1)
		return 0;
	fprintf(fp, "%s%s\n", prefix, err);
	free(err);
	return -1;
}

static void
print_counts(const unsigned long *counts)
{
	int i;

	printf("queue:");
	for (i = 0; i <= Q_HOLD; i++)
		printf(" %s=%lu", q_state_name(i), counts[i]);
	printf("\n");
}

static int
count_item(const struct ipcm_list_item *it, void *arg)
{
	struct q_msg m;

	if (q_msg_decode(it->record, it->record_len, &m) == 0) {
		(void)count_cb(&m, arg);
		q_msg_free(&m);
	}
	return 0;
}

/*
 * A member of queue_view_group cannot read the queue either, but showq
 * lists the whole of it to them: the counts are those of its listing.
 * Everyone else is told where their own messages are listed.
 */
static void
print_viewed_counts(void)
{
	struct ipcm_req_list req = {.state = "", .domain = "", .sender = ""};
	unsigned long counts[4] = {0, 0, 0, 0};
	char err[256];
	gid_t gid;

	if (viewgroup_resolve(
	        ctl.cfg.queue_view_group, &gid, err, sizeof(err)) != 1 ||
	    !viewgroup_self_member(gid)) {
		printf("queue: not readable by uid %d (ncqshow lists your "
		       "own messages)\n",
		    (int)getuid());
		return;
	}
	fflush(stdout);
	if (showqc_list(&ctl.cfg, "ncctl", &req, count_item, counts) == 0)
		print_counts(counts);
}

static void
print_queue_counts(void)
{
	unsigned long counts[4] = {0, 0, 0, 0};
	struct queue *q;
	struct queue_txn *t;
	char *path = config_qpath(&ctl.cfg, "db");

	if (queue_reader(path, stdout, "queue: not read: ") == -1) {
		free(path);
		return;
	}
	if (access(path, R_OK | X_OK) == -1 && errno == EACCES) {
		free(path);
		print_viewed_counts();
		return;
	}
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
	print_counts(counts);
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
	ipcm_req_status_encode(&b);
	rc = control_request(&b, stdout, "");
	print_queue_counts();
	return rc == 0 ? 0 : 1;
}

/* ---- queue administration ---- */

#define ADMIN_BATCH 10000 /* queue IDs per request: frames are bounded */

struct admin_req {
	uint32_t op;
	int sel; /* SEL_*, -1 while none was given */
	const char *domain;
	uint64_t *ids;
	size_t n;
};

static void
admin_select(struct admin_req *r, int sel)
{
	if (r->sel != -1 && r->sel != sel) {
		fprintf(stderr,
		    "ncctl: give queue IDs, ALL, --deferred or "
		    "--domain, not several of them\n");
		exit(EX_USAGE);
	}
	r->sel = sel;
}

/* A queue ID as ncqshow prints it (a trailing * or ! is allowed). */
static void
admin_add_id(struct admin_req *r, const char *word)
{
	char buf[64];
	size_t len = strlen(word);

	if (len > 0 && len < sizeof(buf) &&
	    (word[len - 1] == '*' || word[len - 1] == '!')) {
		memcpy(buf, word, len - 1);
		buf[len - 1] = '\0';
		word = buf;
	}
	r->ids = xreallocarray(r->ids, r->n + 1, sizeof(*r->ids));
	if (qid_parse(word, &r->ids[r->n]) == -1) {
		fprintf(stderr, "ncctl: bad queue ID \"%s\"\n", word);
		exit(EX_USAGE);
	}
	r->n++;
	admin_select(r, SEL_IDS);
}

/* "-": queue IDs from standard input, the first word of each line, as
 * postsuper reads them. */
static void
admin_read_ids(struct admin_req *r)
{
	char *line = NULL, *p, *end;
	size_t cap = 0;

	while (getline(&line, &cap, stdin) != -1) {
		for (p = line; isspace((unsigned char)*p); p++)
			;
		for (end = p; *end != '\0' && !isspace((unsigned char)*end);
		     end++)
			;
		*end = '\0';
		if (*p != '\0')
			admin_add_id(r, p);
	}
	free(line);
	if (r->n == 0)
		admin_select(r, SEL_IDS); /* nothing to do, but say so */
}

static void
admin_domain(struct admin_req *r, const char *d)
{
	const char *p;

	for (p = d; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			break;
	if (*d == '\0' || *p != '\0' || strlen(d) > 255) {
		fprintf(stderr, "ncctl: bad domain \"%s\"\n", d);
		exit(EX_USAGE);
	}
	admin_select(r, SEL_DOMAIN);
	r->domain = d;
}

static void
admin_parse(struct admin_req *r, int argc, char **argv)
{
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "ALL") == 0)
			admin_select(r, SEL_ALL);
		else if (strcmp(argv[a], "--deferred") == 0)
			admin_select(r, SEL_DEFERRED);
		else if (strcmp(argv[a], "--domain") == 0 && a + 1 < argc)
			admin_domain(r, argv[++a]);
		else if (strncmp(argv[a], "--domain=", 9) == 0)
			admin_domain(r, argv[a] + 9);
		else if (strcmp(argv[a], "-") == 0)
			admin_read_ids(r);
		else if (argv[a][0] == '-') {
			usage(stderr);
			exit(EX_USAGE);
		} else
			admin_add_id(r, argv[a]);
	}
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One M_REQ_ADMIN; the master answers once qmgr has done it. */
static int
admin_send(const struct admin_req *r, const uint64_t *ids, size_t n)
{
	struct ipcm_qid *qids = xcalloc(n ? n : 1, sizeof(*qids));
	struct ipcm_req_admin req;
	struct ipc_buf b;
	size_t i;

	for (i = 0; i < n; i++)
		qids[i].qid = ids[i];
	req = (struct ipcm_req_admin){.op = r->op,
	    .select = (uint32_t)r->sel,
	    .domain = r->domain,
	    .ids = qids,
	    .ids_n = (uint32_t)n};
	ipcm_req_admin_encode(&b, &req);
	free(qids);
	return control_request(&b, stdout, "ncctl: ") == 0 ? 0 : 1;
}

/*
 * flush, hold, release, delete, requeue with postsuper's selectors. Only
 * root and mail_owner may; the master says "permission denied" to anyone
 * else. flush without a selector retries all deferred mail.
 */
static int
cmd_admin(uint32_t op, int argc, char **argv)
{
	struct admin_req r = {op, -1, "", NULL, 0};
	size_t i, n = 0;
	int rc = 0;

	admin_parse(&r, argc, argv);
	if (r.sel == -1 && op != ADMIN_FLUSH) {
		fprintf(stderr,
		    "ncctl: %s: give queue IDs, ALL, --deferred "
		    "or --domain D\n",
		    argv[0]);
		return EX_USAGE;
	}
	if (r.sel == -1)
		r.sel = SEL_DEFERRED;
	need_config();
	if (r.sel == SEL_IDS && r.n == 0) {
		fprintf(stderr, "ncctl: no queue IDs on standard input\n");
		return 0;
	}
	if (!require_running())
		return 1;
	if (r.n > 0)
		qsort(r.ids, r.n, sizeof(*r.ids), id_cmp);
	for (i = 0; i < r.n; i++)
		if (n == 0 || r.ids[i] != r.ids[n - 1])
			r.ids[n++] = r.ids[i];
	if (r.sel != SEL_IDS)
		rc = admin_send(&r, NULL, 0);
	for (i = 0; i < n && rc == 0; i += ADMIN_BATCH)
		rc = admin_send(
		    &r, r.ids + i, n - i < ADMIN_BATCH ? n - i : ADMIN_BATCH);
	free(r.ids);
	return rc;
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
	if (queue_reader(path, stderr, "ncctl: ") == -1) {
		free(path);
		return 1;
	}
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
	return cmd_simple(argc, ipcm_req_reload_encode);
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
	return cmd_simple(1, ipcm_req_resolver_flush_encode);
}

/* Any user may ask: the master answers with the whole exposition. */
static int
cmd_metrics(int argc, char **argv)
{
	(void)argv;
	return cmd_simple(argc, ipcm_req_metrics_encode);
}

/* qmgr's TLS reporting counts, through the master; root and mail_owner
 * only (the master checks). */
static int
cmd_tls_report(int argc, char **argv)
{
	struct ipcm_req_tls_report req = {.flags = 0};
	struct ipc_buf b;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		req.flags = TLSRPT_F_JSON;
	else if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	need_config();
	if (!require_running())
		return 1;
	ipcm_req_tls_report_encode(&b, &req);
	return control_request(&b, stdout, "") == 0 ? 0 : 1;
}

/* Commands with an op are queue administration (cmd_admin()). */
static const struct {
	const char *name;
	int (*fn)(int, char **);
	uint32_t op;
} commands[] = {{"start", cmd_start, 0}, {"stop", cmd_stop, 0},
    {"reload", cmd_reload, 0}, {"status", cmd_status, 0},
    {"metrics", cmd_metrics, 0}, {"check", cmd_check, 0}, {"show", cmd_show, 0},
    {"resolver", cmd_resolver, 0}, {"tls-report", cmd_tls_report, 0},
    {"flush", NULL, ADMIN_FLUSH}, {"hold", NULL, ADMIN_HOLD},
    {"release", NULL, ADMIN_RELEASE}, {"delete", NULL, ADMIN_DELETE},
    {"requeue", NULL, ADMIN_REQUEUE}, {NULL, NULL, 0}};

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
			return commands[i].op != 0
			    ? cmd_admin(commands[i].op, argc - 1, argv + 1)
			    : commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ncctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EX_USAGE;
}
