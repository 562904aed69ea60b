/*
 * daemon.h - the start-up every ncmta daemon shares: parse the options
 * the master's service table gives it (-c DIR, -u USER, -r CHROOT, -l N),
 * load ncmta.conf, open the log, give up root as its row says, and talk
 * to the master over the control socketpair it left on fd 3 (its
 * listening sockets on fds 4, 5, ..., then a datagram socket on which
 * the master sends a reopened log file). A daemon whose master goes away
 * exits.
 */
#ifndef NCMTA_DAEMON_H
#define NCMTA_DAEMON_H

#include "config.h"
#include "ipc.h"

#define DAEMON_MASTER_FD 3
#define DAEMON_LISTEN_FD 4 /* the first listening socket */
#define DAEMON_MAX_LISTEN 32 /* listening sockets one daemon may get */

/* Parse argv (-c DIR, -v, and from the master -u USER, -r CHROOT, -l N),
 * load the configuration into cfg (fatal on error) and start logging as
 * "ncmta/name". */
void daemon_setup(
    int argc, char **argv, const char *name, struct nc_config *cfg);

/*
 * Give up root as the service table says: chroot to -r (none without
 * it), then become -u (mail_owner without it). Nothing to do when not
 * root. Returns only when privileges are dropped.
 */
void daemon_privdrop(const struct nc_config *);
/* -r, or NULL: the directory daemon_privdrop() chroots to. */
const char *daemon_chroot(void);

/* The listening sockets the master handed over: the first descriptor
 * (DAEMON_LISTEN_FD), their number (-l; 0 without it) in *count. */
int daemon_listen_fds(int *count);

/*
 * Attach fd 3 to the event loop with the daemon's handlers for M_CTL_*
 * (table may be NULL: then M_CTL_STOP exits 0 and the rest are ignored).
 * EOF on fd 3 exits the daemon. Sends M_CHILD_READY. Returns the peer, or
 * NULL when fd 3 is not open (daemon started by hand, for debugging).
 */
struct ipc_peer *daemon_master_peer(
    struct event_base *, const struct ipc_handler *table, void *arg);

/*
 * M_CTL_RELOAD for a daemon that needs only ncmta.conf: the new settings
 * into fresh (the tables in the frame are other daemons' business), made
 * ready by daemon_reload_apply(). 0, or -1 when the frame carries no
 * text or the text does not parse (logged; the settings in force stay
 * and fresh holds nothing).
 */
int daemon_reload_config(
    struct ipc_msg *, struct nc_config *fresh, const struct nc_config *old);
/*
 * What every daemon does with a reloaded configuration before it uses
 * it: take a log file the master reopened (so the lines about the
 * reload go to the new file), keep the restart-only settings of old
 * (ncmta.conf(5) marks them), keep old's config_dir, and take the
 * master's myorigin (NULL or "": fresh's stays).
 */
void daemon_reload_apply(
    struct nc_config *fresh, const struct nc_config *old, const char *myorigin);
/* Take the log files the master sent on the log channel (above) now. */
void daemon_log_take(void);

/* QDIR/rel as a daemon that privdrop()ed into queue_directory sees it:
 * "/rel" inside that chroot, the whole path otherwise (not root). */
char *daemon_qpath(const struct nc_config *, const char *rel);

/* Connect to QDIR/rel (e.g. "private/qmgr"), waiting up to 10 s for the
 * daemon behind it; fatal after. */
int daemon_connect(const struct nc_config *, const char *rel);

#endif
