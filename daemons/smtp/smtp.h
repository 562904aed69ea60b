/*
 * smtp.h - the smtp worker: jobs handed over by qmgr (smtp.c) and the
 * SMTP client sessions that deliver them (session.c). A worker never
 * opens the queue; everything it knows about a message came in JOB_*
 * frames, and everything it learns goes back as SMTP_RCPT / SMTP_DONE.
 */
#ifndef NCMTA_SMTP_H
#define NCMTA_SMTP_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "smtpreply.h"
#include "util.h"

#define SMTP_MAX_HOSTS 64 /* host entries accepted in one job */
#define SMTP_NAME_MAX 255 /* a host name */
#define SMTP_RELAY_MAX 320 /* "name[addr]:port" */
#define SMTP_LINE_MAX 2048 /* reply line kept; the rest is discarded */
#define SMTP_INPUT_MAX 65536 /* bytes libevent reads ahead per session */
#define SMTP_REASON_MAX 4600 /* a reason: our words and a reply */
#define SMTP_STOP_GRACE 30 /* seconds in-flight jobs get on CTL_STOP */
/* JOB_BEGIN's bound: recipients (QMGR_JOB_RCPT_BYTES), TLSA records
 * (QMGR_JOB_TLSA_BYTES) and up to SMTP_MAX_HOSTS host entries */
#define SMTP_QMGR_MAX_FRAME (320 * 1024)

/* One address to try, already resolved by qmgr. */
struct smtp_host {
	char *name;
	char *addr; /* numeric IPv4 or IPv6 */
	uint16_t port;
	uint32_t flags; /* HOST_F_* */
	char *nexthop; /* a relay's configured name (secrets key), or "" */
	char *tlsa; /* TLS_DANE: TLSA records, "U S M hex" lines; else "" */
};

enum smtp_rcpt_status { RCPT_PENDING, RCPT_ACCEPTED, RCPT_DONE };

struct smtp_rcpt {
	uint32_t index; /* qmgr's number for it */
	char *address;
	char *orcpt; /* DSN ORCPT ("rfc822;a@b", xtext decoded), "" = none */
	enum smtp_rcpt_status status;
	int class; /* 2, 4, 5 once RCPT_DONE */
	char dsn[16];
	char *reason; /* what is logged and reported */
	char *relay; /* "name[addr]:port", or NULL for none */
	double t_done;
};

/* The wire form of a body, shared with the output buffers it is in. */
struct smtp_wire {
	int refs;
	size_t len;
	char data[];
};

/* A body kept for the next jobs of its message (JOB_F_KEEP), until
 * qmgr's JOB_FORGET: one copy per worker however many jobs share it. */
struct smtp_kept {
	TAILQ_ENTRY(smtp_kept) entry;
	uint64_t qid;
	struct smtp_wire *wire;
};

struct smtp_session;
struct smtp_worker;

struct smtp_job {
	TAILQ_ENTRY(smtp_job) entry;
	struct smtp_worker *w;
	uint64_t id;
	uint64_t qidnum;
	char qid[NC_QID_LEN + 1];
	char *sender;
	uint64_t size;
	double arrival, t_active, t_handoff, t_connected;
	uint32_t flags;
	uint32_t dsn_notify, dsn_ret; /* DSN_NOTIFY_* bits, DSN_RET_* */
	char *envid; /* "" = none */
	struct smtp_host *hosts;
	size_t nhosts;
	size_t hostidx; /* the host being tried */
	struct smtp_rcpt *rcpts;
	size_t nrcpt;
	char *key; /* the host list: sessions are reused by it */
	uint8_t *body; /* as received, until JOB_END */
	size_t bodylen, bodycap, bodymax;
	struct smtp_wire *wire;
	int running; /* JOB_END seen */
	int established; /* a session got through greeting and EHLO/HELO */
	int fresh_only; /* a reused session failed: connect anew */
	size_t plain_host; /* 1 + the host whose TLS handshake failed at
			      level "may": it is tried again in plain text */
	const char *refused; /* why the job cannot be run, or NULL */
	char *last_reason; /* of the last session-level failure */
	char last_dsn[16];
	char *last_relay; /* the host that gave it, NULL if none reached */
	struct smtp_session *session;
};

struct smtp_worker {
	struct nc_config cfg;
	struct event_base *base;
	struct ipc_peer *qmgr;
	struct ipc_peer *master;
	struct ssl_ctx_st *tls_ctx; /* SSL_CTX, made before privdrop */
	uint64_t secret_seq; /* credentials requests to the master */
	TAILQ_HEAD(, smtp_job) jobs;
	TAILQ_HEAD(, smtp_session) sessions; /* all, busy and idle */
	TAILQ_HEAD(, smtp_kept) kept; /* bodies kept (JOB_F_KEEP) */
	unsigned nsessions, max_sessions;
	int stopping;
	struct event *stop_timer;
	double stop_deadline;
	uint64_t nsent, ndeferred, nbounced;
};

/* job.c */
void smtp_job_free(struct smtp_job *); /* and out of w->jobs */
void smtp_rcpt_outcome(struct smtp_rcpt *, int cls, const char *dsn,
    const char *reason, const char *relay);
void smtp_rcpts_unresolved(struct smtp_job *, int cls, const char *dsn,
    const char *reason, const char *relay);
void smtp_wire_unref(struct smtp_wire *);
/* smtp.c */
void smtp_job_done(struct smtp_job *);
/* One connection's TLS outcome with exchanger mx for TLS reporting:
 * policy TLSRPT_P_*, result TLSRPT_R_* (M_SMTP_TLS). */
void smtp_tls_report(struct smtp_job *, const char *mx, int policy, int result);

/* session.c */
void session_job_start(struct smtp_job *);
void session_quit_idle(struct smtp_worker *);
unsigned session_idle_count(struct smtp_worker *);
/* The master's M_CTL_SECRET: credentials for the session that asked. */
void smtp_secret_answer(struct smtp_worker *, uint64_t req, int found,
    const char *user, const char *pass);

#endif
