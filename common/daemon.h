/*
 * daemon.h - the start-up every ncmta daemon shares: parse "-c DIR",
 * load ncmta.conf, open the log, and talk to the master over the control
 * socketpair it left on fd 3. A daemon whose master goes away exits.
 */
#ifndef NCMTA_DAEMON_H
#define NCMTA_DAEMON_H

#include "config.h"
#include "ipc.h"

#define DAEMON_MASTER_FD 3
#define DAEMON_LISTEN_FD 4

/* Parse argv (-c DIR, -v), load the configuration into cfg (fatal on
 * error) and start logging as "ncmta/name". */
void daemon_setup(
    int argc, char **argv, const char *name, struct nc_config *cfg);

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
 * into fresh (the tables in the frame are other daemons' business).
 * 0, or -1 when the frame carries no text or the text does not parse
 * (logged; the settings in force stay and fresh holds nothing).
 */
int daemon_reload_config(struct ipc_msg *, struct nc_config *fresh);

/* QDIR/rel as a daemon that privdrop()ed into queue_directory sees it:
 * "/rel" inside that chroot, the whole path otherwise (not root). */
char *daemon_qpath(const struct nc_config *, const char *rel);

/* Connect to QDIR/private/qmgr, waiting up to 10 s for it; fatal after. */
int daemon_connect_qmgr(const struct nc_config *);

#endif
