/*
 * ncsendmail.c - sendmail-compatible submission: read a message on stdin,
 * work out its envelope, and leave it durably in QDIR/maildrop for pickup.
 * Exit 0 only once the file and its directory entry are on disk; any
 * failure removes the partial file and exits with a sysexits code.
 * It runs for every message, so it stays small: no event loop, no DNS.
 * The options and the other modes (-bp, -q, -bs, -bi) start here too.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "dsnparam.h"
#include "log.h"
#include "maildrop.h"
#include "ncsendmail.h"
#include "util.h"

#define SM_FULLNAME_MAX 200

struct sm sm = {.dot_ends = 1, .dropfd = -1};

void
sm_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ncsendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(code);
}

static void
sm_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: ncsendmail [-t] [-i] [-f sender] [-F full_name] "
	    "[-C config_dir]\n"
	    "                  [-N dsn] [-R ret] [-V envid] [-B type] [-v] "
	    "[--] [recipient ...]\n"
	    "       ncsendmail -bs   (SMTP on standard input and output)\n"
	    "       ncsendmail -bp   (list the queue, as mailq)\n"
	    "       ncsendmail -bi   (check the aliases file, as newaliases)\n"
	    "       ncsendmail -q    (retry deferred mail now)\n");
}

/* -- option handlers ------------------------------------------------------ */

static void
opt_t(const char *arg)
{
	(void)arg;
	sm.md.extract = 1;
}

static void
opt_i(const char *arg)
{
	(void)arg;
	sm.dot_ends = 0;
}

static void
opt_v(const char *arg)
{
	(void)arg;
	sm.verbose = 1;
}

static void
opt_ignore(const char *arg)
{
	(void)arg;
}

static void
opt_sender(const char *arg)
{
	sm.sender_arg = arg;
}

static void
opt_fullname(const char *arg)
{
	sm.fullname_arg = arg;
}

static void
opt_confdir(const char *arg)
{
	sm.confdir = arg;
}

static void
opt_set(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
}

/* -N: NEVER, or a list of SUCCESS, FAILURE, DELAY. */
static void
opt_notify(const char *arg)
{
	char *v = xstrdup(arg), *p, *tok;
	int never = 0, other = 0;

	for (p = v; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	opt_set(&sm.md.notify, v);
	for (p = v; (tok = strsep(&p, ",")) != NULL;) {
		if (strcmp(tok, "NEVER") == 0)
			never = 1;
		else if (strcmp(tok, "SUCCESS") == 0 ||
		    strcmp(tok, "FAILURE") == 0 || strcmp(tok, "DELAY") == 0)
			other = 1;
		else
			sm_fail(EX_USAGE, "bad -N value \"%s\"", arg);
	}
	if (never && other)
		sm_fail(EX_USAGE, "-N NEVER cannot be combined with others");
	free(v);
}

static void
opt_ret(const char *arg)
{
	if (strcasecmp(arg, "full") == 0)
		opt_set(&sm.md.ret, "FULL");
	else if (strcasecmp(arg, "hdrs") == 0)
		opt_set(&sm.md.ret, "HDRS");
	else
		sm_fail(EX_USAGE, "bad -R value \"%s\" (FULL or HDRS)", arg);
}

static void
opt_envid(const char *arg)
{
	if (*arg == '\0' || !dsn_envid_valid(arg))
		sm_fail(
		    addr_has_control(arg, strlen(arg)) ? EX_DATAERR : EX_USAGE,
		    "bad -V envelope ID: 1 to %d printable characters, no "
		    "space or control character",
		    DSN_ENVID_MAX);
	opt_set(&sm.md.envid, arg);
}

static void
opt_body(const char *arg)
{
	if (strcasecmp(arg, "8bitmime") == 0)
		opt_set(&sm.md.body_type, "8BITMIME");
	else if (strcasecmp(arg, "7bit") == 0)
		opt_set(&sm.md.body_type, "7BIT");
	else
		sm_fail(
		    EX_USAGE, "bad -B value \"%s\" (7BIT or 8BITMIME)", arg);
}

/* -o: -oi matters; -oem, -odb and the like are Sendmail's and ignored.
 * "-o x value" (separate words) sets an option we do not have: skip it. */
static void
opt_o(const char *arg)
{
	if (strcmp(arg, "i") == 0)
		sm.dot_ends = 0;
	else if (sm.arg_separate && strlen(arg) == 1 && sm.argi < sm.argc)
		sm.argi++;
}

static void
opt_b(const char *arg)
{
	if (strcmp(arg, "m") == 0)
		sm.mode = SM_SUBMIT;
	else if (strcmp(arg, "p") == 0)
		sm.mode = SM_MAILQ;
	else if (strcmp(arg, "s") == 0)
		sm.mode = SM_SMTP;
	else if (strcmp(arg, "i") == 0)
		sm.mode = SM_ALIASES;
	else
		sm_fail(EX_USAGE, "mode -b%s is not supported", arg);
}

static void
opt_I(const char *arg)
{
	(void)arg;
	sm.mode = SM_ALIASES;
}

/* -q: run the queue now; -qRsite: only for that domain; -q1h: same. */
static void
opt_q(const char *arg)
{
	sm.mode = SM_FLUSH;
	if (arg[0] == 'R' && arg[1] != '\0')
		sm.flush_domain = arg + 1;
	else if (arg[0] == 'R' && sm.argi < sm.argc)
		sm.flush_domain = sm.argv[sm.argi++];
}

enum { ARG_NONE, ARG_NEEDED, ARG_JOINED };

static const struct sm_opt {
	char flag;
	int arg;
	void (*fn)(const char *);
} sm_opts[] = {{'t', ARG_NONE, opt_t}, {'i', ARG_NONE, opt_i},
    {'v', ARG_NONE, opt_v}, {'n', ARG_NONE, opt_ignore},
    {'m', ARG_NONE, opt_ignore}, {'U', ARG_NONE, opt_ignore},
    {'G', ARG_NONE, opt_ignore}, {'x', ARG_NONE, opt_ignore},
    {'c', ARG_NONE, opt_ignore}, {'I', ARG_NONE, opt_I},
    {'f', ARG_NEEDED, opt_sender}, {'r', ARG_NEEDED, opt_sender},
    {'F', ARG_NEEDED, opt_fullname}, {'C', ARG_NEEDED, opt_confdir},
    {'N', ARG_NEEDED, opt_notify}, {'R', ARG_NEEDED, opt_ret},
    {'V', ARG_NEEDED, opt_envid}, {'B', ARG_NEEDED, opt_body},
    {'o', ARG_NEEDED, opt_o}, {'b', ARG_NEEDED, opt_b},
    {'O', ARG_NEEDED, opt_ignore}, {'A', ARG_NEEDED, opt_ignore},
    {'L', ARG_NEEDED, opt_ignore}, {'h', ARG_NEEDED, opt_ignore},
    {'X', ARG_NEEDED, opt_ignore}, {'e', ARG_NEEDED, opt_ignore},
    {'p', ARG_NEEDED, opt_ignore}, {'q', ARG_JOINED, opt_q}, {0, 0, NULL}};

static const struct sm_opt *
sm_opt_find(char c)
{
	const struct sm_opt *o;

	for (o = sm_opts; o->fn != NULL; o++)
		if (o->flag == c)
			return o;
	return NULL;
}

/* One "-xyz" word: flags without arguments may be grouped ("-ti"). */
static void
sm_parse_word(const char *w)
{
	const struct sm_opt *o;
	const char *p;

	for (p = w + 1; *p != '\0'; p++) {
		if ((o = sm_opt_find(*p)) == NULL) {
			if (sm.nwarn < SM_WARN_MAX)
				sm.warn[sm.nwarn++] = w;
			return; /* its argument, if any, is unknowable */
		}
		if (o->arg == ARG_NONE) {
			o->fn(NULL);
			continue;
		}
		if (o->arg == ARG_JOINED || p[1] != '\0') {
			sm.arg_separate = 0;
			o->fn(p + 1);
			return;
		}
		if (sm.argi >= sm.argc)
			sm_fail(EX_USAGE, "option -%c needs an argument", *p);
		sm.arg_separate = 1;
		o->fn(sm.argv[sm.argi++]);
		return;
	}
}

/* Options may come before, between or after recipients, until "--". */
static void
sm_parse_args(int argc, char **argv)
{
	char *w;

	sm.argc = argc;
	sm.argv = argv;
	sm.rcpt_args = xcalloc((size_t)argc, sizeof(char *));
	for (sm.argi = 1; sm.argi < argc;) {
		w = argv[sm.argi++];
		if (strcmp(w, "--") == 0) {
			while (sm.argi < argc)
				sm.rcpt_args[sm.nrcpt_args++] = argv[sm.argi++];
		} else if (strcmp(w, "--help") == 0) {
			sm_usage(stdout);
			exit(0);
		} else if (w[0] == '-' && w[1] == '-') {
			if (sm.nwarn < SM_WARN_MAX)
				sm.warn[sm.nwarn++] = w;
		} else if (w[0] == '-' && w[1] != '\0')
			sm_parse_word(w);
		else
			sm.rcpt_args[sm.nrcpt_args++] = w;
	}
}

/* -- other modes ------------------------------------------------------------ */

/*
 * Run a sibling command: from our own directory (the build tree, or an
 * installation whose commands share one directory), else from where
 * "make install" put it (ncqshow in bindir, ncctl in sbindir; the
 * directory need not be on PATH), else from PATH.
 */
static void __attribute__((noreturn)) sm_exec(const char *prog, char **args)
{
	char self[PATH_MAX], path[PATH_MAX + 32], *slash;
	const char *installed;
	ssize_t n;
	int err = ENOENT;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/%s", self, prog);
			execv(path, args);
			if (errno != ENOENT)
				err = errno;
		}
	}
	installed = strcmp(prog, "ncqshow") == 0 ? BINDIR : SBINDIR;
	snprintf(path, sizeof(path), "%s/%s", installed, prog);
	execv(path, args);
	if (errno != ENOENT)
		err = errno;
	execvp(prog, args);
	if (errno != ENOENT)
		err = errno;
	sm_fail(EX_UNAVAILABLE, "cannot run %s: %s", prog, strerror(err));
}

int
sm_run(const char *prog, char **args, int quiet)
{
	pid_t pid;
	int status, null;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (quiet && (null = open("/dev/null", O_WRONLY)) != -1)
			dup2(null, STDOUT_FILENO);
		sm_exec(prog, args);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) != EX_UNAVAILABLE)
		return WEXITSTATUS(status);
	return -1;
}

static void
sm_other_mode(void)
{
	char *args[8];
	int n = 0;

	args[n++] = sm.mode == SM_MAILQ ? "ncqshow" : "ncctl";
	if (sm.confdir != NULL) {
		args[n++] = "-c";
		args[n++] = (char *)sm.confdir;
	}
	if (sm.mode == SM_FLUSH) {
		args[n++] = "flush";
		if (sm.flush_domain != NULL) {
			args[n++] = "--domain";
			args[n++] = (char *)sm.flush_domain;
		}
	}
	args[n] = NULL;
	sm_exec(args[0], args);
}

/* -- configuration and envelope ------------------------------------------- */

static void
sm_config(void)
{
	struct cf_errors errs = {NULL, 0};
	const char *dir = config_dir_pick(sm.confdir);
	int i;

	if (config_load(&sm.cfg, dir, &errs) == -1) {
		if (errs.text != NULL)
			errs.text[strcspn(errs.text, "\n")] = '\0';
		if (sm.mode == SM_SMTP) /* the client must hear it too */
			printf(
			    "421 4.3.0 Error: local configuration error\r\n");
		sm_fail(EX_CONFIG, "configuration error: %s%s",
		    errs.text ? errs.text : dir,
		    errs.count > 1 ? " (and more; see ncctl check)" : "");
	}
	if (sm.nwarn == 0)
		return;
	if (log_init("sendmail", sm.cfg.log_target, sm.cfg.syslog_facility) ==
	    -1)
		log_init("sendmail", "stderr", "mail");
	for (i = 0; i < sm.nwarn; i++)
		log_warnx("ignoring unknown option %s", sm.warn[i]);
}

/* The full name: -F, else $NAME, else the user's GECOS name. */
static void
sm_fullname(const struct passwd *pw)
{
	const char *name = sm.fullname_arg;
	char buf[SM_FULLNAME_MAX + 1], *p;

	if (name == NULL)
		name = getenv("NAME");
	if (name == NULL && sm.sender_arg == NULL && pw != NULL &&
	    pw->pw_gecos != NULL) {
		strlcpy(buf, pw->pw_gecos, sizeof(buf));
		buf[strcspn(buf, ",")] = '\0';
		name = buf;
	}
	if (name == NULL)
		return;
	if (name != buf)
		strlcpy(buf, name, sizeof(buf));
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	opt_set(&sm.md.fullname, buf);
}

/* A control character in an address is bad data (65), whatever the
 * option it came with; other syntax errors are usage errors (64). */
static int
sm_addr_exit(const char *err)
{
	return err != NULL && strcmp(err, ADDR_ERR_CONTROL) == 0 ? EX_DATAERR
	                                                         : EX_USAGE;
}

static void
sm_sender(void)
{
	/* The password file is only read when it matters: it costs a
	 * trip through NSS on every submission. */
	struct passwd *pw = sm.sender_arg ? NULL : getpwuid(getuid());
	char addr[ADDR_MAX], local[64];
	const char *err = NULL, *in = sm.sender_arg;

	if (in == NULL) {
		snprintf(local, sizeof(local), "uid%u", (unsigned)getuid());
		in = pw != NULL ? pw->pw_name : local;
	}
	if (addr_normalize(in, sm.cfg.myorigin,
	        sm.sender_arg != NULL ? ADDR_NULL_OK : 0, addr, sizeof(addr),
	        &err) == -1)
		sm_fail(sm_addr_exit(err), "bad sender address \"%s\": %s", in,
		    err);
	opt_set(&sm.md.sender, addr);
	sm_fullname(pw);
}

static void
sm_add_rcpt(const char *raw, void *arg)
{
	char addr[ADDR_MAX];
	const char *err = NULL;

	if (addr_normalize(raw, sm.cfg.myorigin, 0, addr, sizeof(addr), &err) ==
	    -1) {
		if (arg != NULL)
			sm_fail(sm_addr_exit(err),
			    "bad recipient address \"%s\": %s", raw, err);
		fprintf(stderr, "ncsendmail: ignoring bad address \"%s\": %s\n",
		    raw, err);
		return;
	}
	maildrop_add_rcpt(&sm.md, addr, NULL);
}

/* A command-line recipient: an address, or a list ("a, B <b@x>"). */
static void
sm_rcpt_arg(const char *a)
{
	char addr[ADDR_MAX];
	const char *err = NULL;

	if (addr_normalize(a, sm.cfg.myorigin, 0, addr, sizeof(addr), &err) ==
	    0) {
		maildrop_add_rcpt(&sm.md, addr, NULL);
		return;
	}
	if (addr_list_parse(a, sm_add_rcpt, (void *)a) <= 0)
		sm_fail(sm_addr_exit(err), "bad recipient address \"%s\": %s",
		    a, err);
}

/* -t: recipients from To:, Cc: and Bcc: (pickup removes Bcc:). */
static void
sm_extract(void)
{
	struct msg_field f;
	size_t pos = 0;
	char *v;

	while (msg_field_next(sm.msg, sm.msglen, &pos, &f)) {
		if (!msg_field_is(&f, "to") && !msg_field_is(&f, "cc") &&
		    !msg_field_is(&f, "bcc"))
			continue;
		v = xstrndup(f.value, f.valuelen);
		if (addr_list_parse(v, sm_add_rcpt, NULL) == -1)
			fprintf(stderr,
			    "ncsendmail: cannot parse all of the %.*s: "
			    "header\n",
			    (int)f.namelen, f.name);
		free(v);
	}
}

/* Sender and command-line recipients: checked before the message is
 * read, so a usage error never waits for input. */
static void
sm_envelope_args(void)
{
	int i;

	sm_sender();
	for (i = 0; i < sm.nrcpt_args; i++)
		sm_rcpt_arg(sm.rcpt_args[i]);
	if (sm.md.nrcpt == 0 && !sm.md.extract)
		sm_fail(EX_DATAERR, "no recipients specified");
}

static void
sm_envelope_final(void)
{
	if (sm.md.extract)
		sm_extract();
	maildrop_dedup(&sm.md);
	if (sm.md.nrcpt == 0)
		sm_fail(EX_DATAERR, "no recipients specified");
}

/* -- reading the message -------------------------------------------------- */

/* Without -i, a line holding only "." ends the message. Checks the
 * complete lines from *scan on; truncates the message there if found. */
static int
sm_dot_line(size_t *scan, int at_eof)
{
	const char *nl, *line;
	size_t n;

	for (;;) {
		line = sm.msg + *scan;
		nl = memchr(line, '\n', sm.msglen - *scan);
		if (nl == NULL) {
			n = sm.msglen - *scan;
			if (at_eof && n == 1 && line[0] == '.') {
				sm.msglen = *scan;
				return 1;
			}
			return 0;
		}
		n = (size_t)(nl - line);
		if ((n == 1 && line[0] == '.') ||
		    (n == 2 && line[0] == '.' && line[1] == '\r')) {
			sm.msglen = *scan;
			return 1;
		}
		*scan += n + 1;
	}
}

static void
sm_read_message(void)
{
	size_t limit = (size_t)sm.cfg.message_size_limit, scan = 0;
	ssize_t n;

	sm.msgcap = 64 * 1024;
	sm.msg = xmalloc(sm.msgcap);
	for (;;) {
		if (sm.msglen == sm.msgcap) {
			sm.msgcap *= 2;
			sm.msg = xreallocarray(sm.msg, sm.msgcap, 1);
		}
		n = read(
		    STDIN_FILENO, sm.msg + sm.msglen, sm.msgcap - sm.msglen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			sm_fail(EX_IOERR, "reading the message: %s",
			    strerror(errno));
		sm.msglen += (size_t)n;
		if (sm.dot_ends && sm_dot_line(&scan, n == 0))
			break;
		if (sm.msglen > limit)
			sm_fail(EX_DATAERR,
			    "message is larger than message_size_limit (%zu "
			    "octets)",
			    limit);
		if (n == 0)
			break;
	}
}

/* -- writing the maildrop file -------------------------------------------- */

static int __attribute__((format(printf, 3, 4)))
sm_err_set(struct sm_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* The maildrop directory. Users other than mail_owner may not read it
 * (mode 1733), so they get an O_PATH handle and cannot fsync it. */
static int
sm_open_maildrop(struct sm_err *e)
{
	char *path;
	int rc = 0;

	if (sm.dropfd != -1)
		return 0;
	path = config_qpath(&sm.cfg, "maildrop");
	sm.dropfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sm.dir_syncable = sm.dropfd != -1;
	if (sm.dropfd == -1 && errno == EACCES)
		sm.dropfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sm.dropfd == -1)
		rc = sm_err_set(e, EX_TEMPFAIL, "cannot open %s: %s", path,
		    strerror(errno));
	free(path);
	return rc;
}

/* Refuse early what pickup could not take: a full queue or disk. */
int
sm_drop_room(size_t msglen, struct sm_err *e)
{
	struct statvfs sv;
	struct stat st;
	char *full;
	int isfull;

	if (sm_open_maildrop(e) == -1)
		return -1;
	full = config_qpath(&sm.cfg, "flags/full");
	isfull = stat(full, &st) == 0;
	free(full);
	if (isfull)
		return sm_err_set(
		    e, EX_TEMPFAIL, "the queue is full, try again later");
	if (fstatvfs(sm.dropfd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize <
	        (uint64_t)sm.cfg.queue_minfree + msglen)
		return sm_err_set(e, EX_TEMPFAIL,
		    "not enough free space in the queue's file system, try "
		    "again later");
	return 0;
}

/* A new temporary file in the maildrop, or -1. */
static int
sm_create_tmp(char *tmpname, size_t len)
{
	int tries, fd = -1;

	for (tries = 0; tries < 8; tries++) {
		snprintf(tmpname, len, "%s%08x%08x", MAILDROP_TMP_PREFIX,
		    arc4random(), arc4random());
		fd = openat(sm.dropfd, tmpname,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	return fd;
}

/* Write, fsync and rename into name; the caller removes tmpname on
 * failure. Without read access to the directory, fsync of the renamed
 * file commits the rename with it (the journal of ext4, xfs, btrfs). */
static int
sm_commit(int fd, const char *tmpname, const char *env, size_t envlen,
    const char *msg, size_t len, const char *name, struct sm_err *e)
{
	if (write_all(fd, env, envlen) == -1 || write_all(fd, msg, len) == -1 ||
	    fsync(fd) == -1)
		return sm_err_set(e, EX_TEMPFAIL,
		    "cannot write the maildrop file: %s", strerror(errno));
	if (renameat(sm.dropfd, tmpname, sm.dropfd, name) == -1)
		return sm_err_set(e, EX_TEMPFAIL,
		    "cannot rename the maildrop file: %s", strerror(errno));
	if ((sm.dir_syncable ? fsync(sm.dropfd) : fsync(fd)) == -1) {
		/* Not known to be durable: take it back if we still can. */
		(void)unlinkat(sm.dropfd, name, 0);
		return sm_err_set(e, EX_TEMPFAIL,
		    "cannot sync the maildrop: %s", strerror(errno));
	}
	return 0;
}

int
sm_drop_write(const struct maildrop *md, const char *msg, size_t len,
    char *name, size_t namelen, struct sm_err *e)
{
	char tmpname[64], *env;
	const char *err = NULL;
	sigset_t set, old;
	size_t envlen;
	int fd, rc;

	if (sm_drop_room(len, e) == -1)
		return -1;
	if ((env = maildrop_envelope(md, len, &envlen, &err)) == NULL)
		return sm_err_set(e, EX_DATAERR, "%s", err);
	/* Until the file is whole or gone, an interrupt must wait. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGXFSZ);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, &old);
	umask(022);
	snprintf(name, namelen, "%016" PRIx64 ".%d.%08x", now_usec(),
	    (int)getpid(), arc4random());
	if ((fd = sm_create_tmp(tmpname, sizeof(tmpname))) == -1)
		rc = sm_err_set(e, EX_TEMPFAIL,
		    "cannot create a file in the maildrop: %s",
		    strerror(errno));
	else if ((rc = sm_commit(
	              fd, tmpname, env, envlen, msg, len, name, e)) == -1)
		(void)unlinkat(sm.dropfd, tmpname, 0);
	if (fd != -1)
		close(fd);
	free(env);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* A normal submission: the message from stdin, one maildrop file. */
static int
sm_submit(void)
{
	struct sm_err e;
	char name[96];

	sm_envelope_args();
	sm_read_message();
	sm_envelope_final();
	if (sm_drop_write(&sm.md, sm.msg, sm.msglen, name, sizeof(name), &e) ==
	    -1)
		sm_fail(e.code, "%s", e.text);
	if (sm.verbose)
		fprintf(stderr,
		    "ncsendmail: queued as maildrop/%s, %zu "
		    "recipient(s)\n",
		    name, sm.md.nrcpt);
	return EX_OK;
}

/* How we were called: as mailq, newaliases, or sendmail. */
static void
sm_invocation(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base != NULL ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		sm.mode = SM_MAILQ;
	else if (strcmp(base, "newaliases") == 0)
		sm.mode = SM_ALIASES;
}

int
main(int argc, char **argv)
{
	maildrop_init(&sm.md);
	sm_invocation(argc > 0 ? argv[0] : "ncsendmail");
	sm_parse_args(argc, argv);
	if (sm.mode == SM_MAILQ || sm.mode == SM_FLUSH)
		sm_other_mode();
	sm_config();
	if (sm.mode == SM_SMTP)
		return sm_smtp();
	if (sm.mode == SM_ALIASES)
		return sm_newaliases();
	return sm_submit();
}
