/*
 * admin.h - ncctl hold/release/delete/requeue/flush, relayed by the
 * master after it checked the caller.
 */
#ifndef NCMTA_QMGR_ADMIN_H
#define NCMTA_QMGR_ADMIN_H

#include "ipc.h"

void admin_request(struct ipc_peer *master, struct ipc_msg *);
/* M_CTL_TLS_REPORT: the TLS reporting counts, as M_CTL_ADMIN_DONE. */
void admin_tls_report(struct ipc_peer *master, struct ipc_msg *);

#endif
