/*
 * log.c - one line per event, "ncmta/NAME[PID]: text", to syslog, stderr
 * or a file opened O_APPEND (one write() per line, so the lines of
 * several processes never interleave). Delivery outcomes go through
 * log_delivery() so they always have Postfix's field order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

enum log_kind { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };

static struct {
	enum log_kind kind;
	int fd;
	int verbose;
	char ident[64];
	char host[256];
	pid_t pid; /* ours: getpid() is a system call per line otherwise */
	char *path; /* the file of LOG_TO_FILE, for log_reopen() */
} lg = {LOG_TO_STDERR, 2, 0, "ncmta", "localhost", 0, NULL};

static struct {
	char text[400];
	size_t len;
	time_t when; /* -1: to be made */
	pid_t pid;
} prefix = {"", 0, -1, 0};

/* A child of fork() (showq's listings) logs with its own pid. */
static void
log_forked(void)
{
	lg.pid = getpid();
}

static const struct {
	const char *name;
	int value;
} facilities[] = {{"mail", LOG_MAIL}, {"daemon", LOG_DAEMON},
    {"user", LOG_USER}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    {NULL, 0}};

static int
log_facility(const char *name)
{
	int i;

	for (i = 0; facilities[i].name != NULL; i++)
		if (strcasecmp(facilities[i].name, name) == 0)
			return facilities[i].value;
	return -1;
}

/*
 * The daemons open the log as root, before they drop privileges: never
 * through a symbolic link, and only a regular file (not a FIFO or a
 * device, which O_NONBLOCK also keeps from blocking the open).
 */
static int
log_open_file(const char *target)
{
	struct stat st;
	int fd;

	fd = open(target,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0644);
	if (fd == -1) {
		if (errno == ENXIO) /* a FIFO without a reader, a socket */
			errno = EINVAL;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	(void)fcntl(fd, F_SETFL, O_APPEND);
	return fd;
}

int
log_init(const char *name, const char *target, const char *facility)
{
	int fac = log_facility(facility ? facility : "mail");
	int fd;

	if (fac == -1)
		return -1;
	tzset(); /* before any chroot hides /etc/localtime */
	if (lg.pid == 0)
		pthread_atfork(NULL, NULL, log_forked);
	lg.pid = getpid();
	prefix.when = -1; /* a new name, host or pid */
	snprintf(lg.ident, sizeof(lg.ident), "ncmta/%s", name);
	if (gethostname(lg.host, sizeof(lg.host)) == -1)
		strlcpy(lg.host, "localhost", sizeof(lg.host));
	lg.host[strcspn(lg.host, ".")] = '\0';
	if (lg.kind == LOG_TO_FILE && lg.fd > 2)
		close(lg.fd);
	if (lg.kind == LOG_TO_SYSLOG)
		closelog();
	if (target == NULL || strcmp(target, "stderr") == 0) {
		lg.kind = LOG_TO_STDERR;
		lg.fd = 2;
	} else if (strcmp(target, "syslog") == 0) {
		lg.kind = LOG_TO_SYSLOG;
		openlog(lg.ident, LOG_PID | LOG_NDELAY, fac);
	} else {
		if ((fd = log_open_file(target)) == -1) {
			lg.kind = LOG_TO_STDERR;
			lg.fd = 2;
			return -1;
		}
		lg.kind = LOG_TO_FILE;
		lg.fd = fd;
		free(lg.path);
		lg.path = xstrdup(target);
	}
	return 0;
}

/* The new file takes the old one's descriptor number, so nothing that
 * holds the number (a forked child, a pending write) needs telling. */
static void
log_put_fd(int fd)
{
	if (fd == lg.fd)
		return;
	if (dup3(fd, lg.fd, O_CLOEXEC) == -1)
		lg.fd = fd; /* keep the new one anyway */
	else
		close(fd);
}

int
log_reopen(void)
{
	int fd;

	if (lg.kind != LOG_TO_FILE || lg.path == NULL)
		return 0;
	if ((fd = log_open_file(lg.path)) == -1)
		return -1;
	log_put_fd(fd);
	return 0;
}

int
log_file_fd(void)
{
	return lg.kind == LOG_TO_FILE ? lg.fd : -1;
}

void
log_take_file(int fd)
{
	struct stat st;

	if (lg.kind != LOG_TO_FILE || fstat(fd, &st) == -1 ||
	    !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	log_put_fd(fd);
}

void
log_set_verbose(int v)
{
	lg.verbose = v;
}

/*
 * Every control character becomes '?', as Postfix's printable() does:
 * text from outside (an address, a server's reply, a file name) can
 * never end a log line and forge the next one. Multi-line texts of our
 * own go through log_warnx_text(), one line at a time.
 */
void
log_printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* "Dec  7 01:02:03 host ncmta/smtpd[123]: ", made again only when the
 * second changes (a busy daemon logs thousands of lines a second). */

static size_t
log_prefix(char *buf, size_t len)
{
	char stamp[32];
	struct tm tm;
	time_t t = time(NULL);

	if (lg.pid == 0)
		lg.pid = getpid();
	if (t != prefix.when || prefix.pid != lg.pid) {
		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		prefix.len = (size_t)snprintf(prefix.text, sizeof(prefix.text),
		    "%s %s %s[%d]: ", stamp, lg.host, lg.ident, (int)lg.pid);
		if (prefix.len >= sizeof(prefix.text))
			prefix.len = sizeof(prefix.text) - 1;
		prefix.when = t;
		prefix.pid = lg.pid;
	}
	if (prefix.len >= len)
		return 0;
	memcpy(buf, prefix.text, prefix.len);
	return prefix.len;
}

static void
log_emit(int prio, const char *fmt, va_list ap)
{
	char line[4400];
	size_t n;
	int m;

	if (lg.kind == LOG_TO_SYSLOG) {
		vsnprintf(line, sizeof(line), fmt, ap);
		log_printable(line);
		syslog(prio, "%s", line);
		return;
	}
	n = log_prefix(line, sizeof(line));
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		return;
	line[sizeof(line) - 2] = '\0'; /* a cut line still ends */
	log_printable(line + n);
	n += strlen(line + n);
	line[n++] = '\n';
	(void)write_all(lg.fd, line, n);
}

#define ADDR_LOG_MAX 600

#define LOG_BODY(prio)                                                         \
	va_list ap;                                                            \
	va_start(ap, fmt);                                                     \
	log_emit(prio, fmt, ap);                                               \
	va_end(ap)

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO);
}

void
log_warnx(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("warning: %s", buf);
}

void
log_warn(const char *fmt, ...)
{
	char buf[4096];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("warning: %s: %s", buf, strerror(saved));
}

void
log_warnx_text(const char *head, const char *text)
{
	const char *p = text != NULL ? text : "", *nl;

	log_warnx("%s", head);
	for (; *p != '\0'; p = *nl ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		if (nl > p)
			log_warnx("  %.*s", (int)(nl - p), p);
	}
}

void
log_debug(const char *fmt, ...)
{
	if (!lg.verbose)
		return;
	LOG_BODY(LOG_DEBUG);
}

void
fatal(const char *fmt, ...)
{
	char buf[4096];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("fatal: %s: %s", buf, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("fatal: %s", buf);
	exit(1);
}

/* Postfix prints delays with at most two decimals and no trailing zeros. */
static void
fmt_delay(char *out, size_t len, double d)
{
	char *p;

	if (d < 0.005) {
		strlcpy(out, "0", len);
		return;
	}
	if (d >= 10) {
		snprintf(out, len, "%.0f", d);
		return;
	}
	snprintf(out, len, "%.2f", d);
	p = out + strlen(out) - 1;
	while (*p == '0')
		*p-- = '\0';
	if (*p == '.')
		*p = '\0';
}

int
log_delivery_format(char *buf, size_t len, const struct log_delivery *d)
{
	char total[16], a[16], b[16], c[16], e[16], orig[ADDR_LOG_MAX];
	double conn = d->t_connected > 0 ? d->t_connected : d->t_done;

	fmt_delay(total, sizeof(total), d->t_done - d->arrival);
	fmt_delay(a, sizeof(a), d->t_active - d->arrival);
	fmt_delay(b, sizeof(b), d->t_handoff - d->t_active);
	fmt_delay(c, sizeof(c), conn - d->t_handoff);
	fmt_delay(e, sizeof(e), d->t_done - conn);
	orig[0] = '\0';
	if (d->orig_rcpt != NULL && strcmp(d->orig_rcpt, d->rcpt) != 0)
		snprintf(orig, sizeof(orig), " orig_to=<%s>,", d->orig_rcpt);
	return snprintf(buf, len,
	    "%s: to=<%s>,%s relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, "
	    "status=%s (%s)",
	    d->qid, d->rcpt, orig, d->relay ? d->relay : "none", total, a, b, c,
	    e, d->dsn, d->status, d->reason ? d->reason : "");
}

static void (*delivery_counter)(const char *);

void
log_delivery_counter(void (*fn)(const char *status))
{
	delivery_counter = fn;
}

void
log_delivery(const struct log_delivery *d)
{
	char buf[4096];

	log_delivery_format(buf, sizeof(buf), d);
	log_info("%s", buf);
	if (delivery_counter != NULL)
		delivery_counter(d->status);
}
