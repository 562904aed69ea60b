/*
 * dest.h - destinations: from a route and a recipient domain to an
 * ordered list of hosts (MX lookup, fallback relays, smart hosts), looked
 * up through the resolver and reused until the answers expire, and each
 * destination's session window (sched.h). dest never moves a message: it
 * tells its caller what happened (the callback given to dest_init(), and
 * the return values below) and the caller moves them.
 */
#ifndef NCMTA_QMGR_DEST_H
#define NCMTA_QMGR_DEST_H

#include "qm.h"
#include "routes.h"

#define DEST_MAX_TTL 300 /* seconds a resolved destination is reused */

/* The destination's lookup has ended (d->result says how): its waiting
 * messages may go on. May run inside dest_resolve(). */
typedef void dest_ready_fn(struct qm_dest *);

void dest_init(dest_ready_fn *);
struct qm_dest *dest_get(const struct route *, const char *domain);
int dest_fresh(const struct qm_dest *);
void dest_resolve(struct qm_dest *);
/* A job ended: how many more jobs the window allows now. */
int dest_job_ended(struct qm_dest *);
/* A session-level outcome: 1 when the destination is suspended now. */
int dest_session_result(struct qm_dest *, int ok, const char *reason);
/* How many sessions may be open at once now. */
int dest_window(const struct qm_dest *);
void dest_expire_all(void);
void dest_sweep(void);
void dest_host_order(const struct qm_dest *, int *order);
void dest_wake_all(void);

#endif
