/*
 * notify.h - bounce and delay notices through the bounce daemon.
 */
#ifndef NCMTA_QMGR_NOTIFY_H
#define NCMTA_QMGR_NOTIFY_H

#include "ipc.h"
#include "qm.h"

void notify_attach(struct ipc_peer *);
void notify_detach(void);
void notify_done(struct ipc_peer *, struct ipc_msg *);
void notify_failures(struct qm_msg *);
void notify_delay(struct qm_msg *);

#endif
