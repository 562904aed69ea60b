/*
 * log.h - ncmta's logging: one line per event, Postfix-shaped
 * ("ncmta/qmgr[812]: QID: ...") to syslog, stderr or a file.
 * Delivery outcomes have their own function so every such line has the
 * same fields in the same order (see log_delivery()).
 */
#ifndef NCMTA_LOG_H
#define NCMTA_LOG_H

#include <stdarg.h>
#include <stdint.h>

/*
 * target: "syslog", "stderr", or an absolute file name. facility: syslog
 * facility name ("mail", "local0", ...). name: the daemon ("qmgr"), logged
 * as "ncmta/qmgr". Safe to call again (reload); the old file is closed.
 * A file is never opened through a symbolic link (-1, errno ELOOP) and
 * must be a regular file (-1, errno EINVAL); on -1 logging goes to stderr.
 */
int log_init(const char *name, const char *target, const char *facility);
void log_set_verbose(int);
/*
 * A log file renamed away (logrotate) is left for one of the name the
 * log was opened with: log_reopen() opens that name again (created if
 * missing) in place of the old file; 0, also when the log is not a file,
 * or -1 (errno set) with the old file still in use. A daemon in a chroot
 * cannot: the master passes it its descriptor (log_file_fd(), -1 when
 * the log is not a file), and log_take_file() puts a received one in
 * place of the old (closed instead when this process does not log to a
 * file, or when it is not a regular file).
 */
int log_reopen(void);
int log_file_fd(void);
void log_take_file(int fd);

void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* A warning with a text of several lines of our own (configuration
 * errors): head, then each line of text on its own log line. */
void log_warnx_text(const char *head, const char *text);
/* Turn every control character of s into '?' (what every log line
 * gets: outside text cannot start a line of its own). */
void log_printable(char *s);
/* Log (with strerror(errno) for fatal) and exit(1). */
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* One recipient's delivery outcome, as logged by smtp (and qmgr for
 * deferrals and bounces decided without a session). */
struct log_delivery {
	const char *qid;
	const char *rcpt;
	const char *orig_rcpt; /* NULL unless different (alias) */
	const char *relay; /* "host[addr]:port" or "none" */
	double arrival; /* message arrival, seconds */
	double t_active; /* when qmgr took it */
	double t_handoff; /* when handed to the worker */
	double t_connected; /* session ready (greeting/EHLO done) */
	double t_done; /* outcome known */
	const char *dsn; /* "2.0.0" */
	const char *status; /* "sent", "deferred", "bounced" */
	const char *reason; /* text in parentheses */
};
void log_delivery(const struct log_delivery *);
/* Count each logged delivery's status with fn (metrics_client() sets
 * metrics_status); log.c itself stays free of the IPC that counting
 * needs, so commands that log link neither. */
void log_delivery_counter(void (*fn)(const char *status));

/* Format a delivery line without the program prefix (for tests). */
int log_delivery_format(char *, size_t, const struct log_delivery *);

#endif
