/*
 * services.h - the service table: one row per daemon the master runs,
 * as Postfix's master.cf. A row says everything the master does with
 * the daemon: its program, how many, when it starts and stops, the user
 * and chroot it ends up in, the control messages it takes and the
 * sockets it gets. Adding a daemon is adding a row (and its program).
 * It lives below the master because ncctl reads it too (ncctl check:
 * the rows' programs and TCP addresses); only the master runs it.
 */
#ifndef NCMTA_SERVICES_H
#define NCMTA_SERVICES_H

#include <sys/types.h>

#include "config.h"
#include "netaddr.h"

#define SVC_MAX_SOCKETS 4 /* socket lines of one row */
#define SVC_STOP_STAGES 3 /* stop stages 0, 1, 2 */

/* How many processes a row runs. */
enum svc_count_kind {
	SVC_N, /* n */
	SVC_SETTING, /* the integer setting named */
	SVC_IF_LISTENING /* 1 when its TCP setting lists an address, else 0 */
};

struct svc_count {
	enum svc_count_kind kind;
	int n;
	const char *setting;
};

/* Control messages a row's daemon takes from the master (besides
 * M_CTL_STOP, which every daemon takes). */
#define SVC_CTL_RELOAD 0x01 /* M_CTL_RELOAD on ncctl reload */
#define SVC_CTL_FLUSH 0x02 /* M_CTL_FLUSH: ncctl flush (the queue) */
#define SVC_CTL_ADMIN 0x04 /* M_CTL_ADMIN: hold, release, delete... */
#define SVC_CTL_DNS_FLUSHED 0x08 /* M_CTL_DNS_FLUSHED */
#define SVC_CTL_STATUS 0x10 /* asked M_CTL_STATUS for ncctl status */
#define SVC_CTL_DNS_FLUSH 0x20 /* M_CTL_FLUSH: ncctl resolver flush */
#define SVC_CTL_SECRET 0x40 /* may send M_CHILD_SECRET_REQ */
#define SVC_CTL_METRICS 0x80 /* may send M_CHILD_METRICS_REQ */

enum svc_socket_kind {
	SVC_SOCK_NONE, /* ends the list */
	SVC_SOCK_UNIX, /* a Unix socket: dir/name */
	SVC_SOCK_TCP /* every address of the setting named */
};

struct svc_socket {
	enum svc_socket_kind kind;
	const char *dir; /* "private" or "public" under QDIR; unused for TCP */
	const char *name; /* socket name in dir, or the TCP setting */
	mode_t mode; /* Unix socket mode */
	int mail_owner; /* Unix socket owned by mail_owner, else root */
};

struct service {
	const char *name; /* "qmgr": program ncmta-qmgr in daemon_directory */
	struct svc_count count;
	int stop_stage; /* STOP once every lower stage is gone */
	const char *user; /* "mail_owner": the setting, resolved at start */
	const char *chroot; /* under QDIR ("" QDIR itself), or NULL: none */
	unsigned ctl; /* SVC_CTL_* */
	int optional; /* ncmta works without it: a missing program is a
	                 warning in ncctl check, not a reason not to start */
	struct svc_socket sockets[SVC_MAX_SOCKETS];
};

/* The rows in start order; the array ends with a NULL name. */
extern const struct service services[];

/* The number of rows. */
int svc_rows(void);
/* The row named name, or NULL. */
const struct service *svc_find(const char *name);
/* How many processes the row runs under cfg. */
int svc_count(const struct service *, const struct nc_config *);
/* The text of the string setting name in cfg, or NULL when no string
 * setting has that name. */
const char *svc_setting_str(const struct nc_config *, const char *name);
/* The TCP setting of a row ("smtpd_listen"), or NULL when it has none. */
const char *svc_tcp_setting(const struct service *);
/* The addresses of that setting under cfg, into l (NET_LISTEN_MAX of
 * them): how many (0 for none, "none", or a row without one). */
int svc_tcp_addrs(
    const struct service *, const struct nc_config *, struct net_listen *l);
/* The same as "127.0.0.1:25,[::1]:25" (malloc'd), or NULL for none. */
char *svc_tcp_text(const struct service *, const struct nc_config *);
/* Whether address l of the row may be left out after bind() failed with
 * err: the IPv6 address of a setting at its default, on a host without
 * IPv6 (EAFNOSUPPORT, EADDRNOTAVAIL). */
int svc_tcp_skippable(const struct service *, const struct nc_config *,
    const struct net_listen *l, int err);

#endif
