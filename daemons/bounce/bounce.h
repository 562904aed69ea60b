/*
 * bounce.h - the bounce daemon: turns qmgr's M_BOUNCE_REQ into an RFC 3464
 * delivery status notification, queued as a new message from the null
 * sender. dsn.c composes the notice (pure functions of their input,
 * unit-tested in dsn_test); bounce.c is the daemon around it.
 */
#ifndef NCMTA_BOUNCE_H
#define NCMTA_BOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DSN_LINE_MAX 998 /* RFC 5322: octets per line, line end excluded */
#define DSN_FOLD_WIDTH 76 /* where text and fields are wrapped */
#define DSN_BOUNDARY_MAX 70 /* RFC 2046 */
#define DSN_ADDR_MAX 1024 /* longest sender or recipient accepted */

/* One recipient of a notice, as qmgr reports it. */
struct dsn_rcpt {
	const char *addr;
	const char *status; /* "5.1.1" */
	const char *action; /* "failed" | "delayed" */
	const char *remote_mta; /* "" if no remote server was involved */
	const char *diagnostic; /* the remote reply, or ncmta's reason */
	const char *orcpt; /* DSN ORCPT ("rfc822;a@b"), "" or NULL if none */
};

/* Everything one notice is made of. */
struct dsn_notice {
	int kind; /* BOUNCE_K_FAILURE | BOUNCE_K_DELAY */
	const char *myhostname;
	const char *orig_qid; /* the message reported on */
	const char *new_qid; /* the notice itself */
	const char *sender; /* original envelope sender: the notice's To */
	double arrival; /* original arrival, Unix seconds */
	time_t now;
	int64_t lifetime; /* max_queue_lifetime, seconds (delay notices) */
	const char *envid; /* the sender's ENVID (-V), "" if none */
	const char *headers; /* the original header block, LF line ends */
	size_t headers_len;
	const struct dsn_rcpt *rcpt;
	size_t nrcpt;
};

struct dsn_out {
	char *text; /* malloc'd: the whole message, LF line ends */
	size_t len;
	int eightbit; /* the original headers carry octets > 127 */
	char boundary[DSN_BOUNDARY_MAX + 1];
};

/*
 * Why n cannot become a notice (a field qmgr is responsible for is
 * wrong: kind, sender, an address, an ORCPT, status, action), or NULL. Texts that
 * come from remote servers -- diagnostics, remote MTA names -- are not
 * refused here: dsn_compose() neutralises them.
 */
const char *dsn_check(const struct dsn_notice *n);

/*
 * Compose the multipart/report notice: header, a human-readable part, a
 * message/delivery-status part and the original headers. Parts 1 and 2
 * and the header are 7-bit (control characters in texts become spaces,
 * 8-bit octets '?'); no line is longer than DSN_LINE_MAX.
 */
void dsn_compose(const struct dsn_notice *n, struct dsn_out *out);

/* "Sat, 28 Nov 2026 23:50:39 +0000", local time zone. */
size_t dsn_date(time_t, char *, size_t);

#endif
