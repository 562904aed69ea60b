/*
 * dispatch.h - from the ready list to the smtp workers and back: jobs
 * out, recipients' outcomes in, each attempt's end decided.
 */
#ifndef NCMTA_QMGR_DISPATCH_H
#define NCMTA_QMGR_DISPATCH_H

#include "ipc.h"
#include "qm.h"

void dispatch_init(void);
void dispatch_run(void);
/* The attempt is over (or abandoned by ncctl hold/delete). */
void dispatch_attempt_end(struct qm_msg *);
void dispatch_worker_lost(struct qm_worker *);
void dispatch_forget_worker(struct qm_worker *);
void dispatch_rcpt_result(struct ipc_peer *, struct ipc_msg *);
void dispatch_job_done(struct ipc_peer *, struct ipc_msg *);
/* A worker's TLS outcome (M_SMTP_TLS), counted for TLS reporting. */
void dispatch_tls_result(struct ipc_peer *, struct ipc_msg *);

#endif
