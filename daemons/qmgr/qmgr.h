/*
 * qmgr.h - the queue manager: the only process that changes the queue
 * after pickup. It keeps an in-memory index of every message (state and
 * next attempt; recipients only while a delivery is in flight), hands
 * jobs to the smtp workers, records each recipient's outcome in batched
 * transactions and schedules retries.
 */
#ifndef NCMTA_QMGR_H
#define NCMTA_QMGR_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "queue.h"

#define QMGR_WORKER_BACKLOG (4 * 1024 * 1024) /* bytes queued to a worker */
#define QMGR_MAX_HOSTS 16

/* A delivery address: the smart host's name, numeric address and port. */
struct relay_host {
	char name[256];
	char addr[64];
	unsigned port;
};

struct relay_list {
	struct relay_host host[QMGR_MAX_HOSTS];
	int n;
	char error[512]; /* why the list is empty */
};

struct qm_job;

struct qm_msg {
	RB_ENTRY(qm_msg) by_qid;
	TAILQ_ENTRY(qm_msg) link; /* on the ready or deferred list */
	uint64_t qid;
	uint8_t state; /* enum q_state */
	int on_list; /* 0 none, 1 ready, 2 deferred */
	int64_t next_attempt;
	int jobs_in_flight;
	int dirty; /* record must be written */
	int removed; /* every recipient done: delete */
	double t_active;
	struct q_msg *rec; /* loaded while in flight or dirty */
	TAILQ_ENTRY(qm_msg) dirty_link;
};

struct qm_worker {
	TAILQ_ENTRY(qm_worker) link;
	struct ipc_peer *peer;
	int pid;
	int max_jobs;
	int jobs;
};

struct qm_job {
	RB_ENTRY(qm_job) by_id;
	uint64_t id;
	struct qm_msg *msg;
	struct qm_worker *worker;
	uint32_t *rcpt; /* indices into msg->rec->rcpt */
	uint32_t nrcpt;
	uint8_t *seen; /* result received per rcpt */
};

enum qm_peer_kind { PEER_UNKNOWN, PEER_PICKUP, PEER_SMTP };

struct qm_peer {
	enum qm_peer_kind kind;
	struct qm_worker *worker;
};

RB_HEAD(qm_msg_tree, qm_msg);
RB_HEAD(qm_job_tree, qm_job);
TAILQ_HEAD(qm_msg_list, qm_msg);
RB_PROTOTYPE(qm_msg_tree, qm_msg, by_qid, qm_msg_cmp);
RB_PROTOTYPE(qm_job_tree, qm_job, by_id, qm_job_cmp);
TAILQ_HEAD(qm_worker_list, qm_worker);

struct qmgr {
	struct nc_config cfg;
	struct event_base *base;
	struct queue *queue;
	struct qm_msg_tree msgs;
	struct qm_job_tree jobs;
	struct qm_msg_list ready;
	struct qm_msg_list deferred;
	struct qm_msg_list dirty;
	struct qm_worker_list workers;
	struct relay_list relays;
	uint64_t next_job;
	int jobs_in_flight;
	unsigned long counts[4]; /* by enum q_state */
	struct event *kick_ev; /* run dispatch + commit after this round */
	struct event *retry_ev; /* deferred scan, every queue_run_delay */
	struct event *commit_retry_ev;
	int commit_failing;
};

extern struct qmgr *qm;

/* qmgr.c */
struct qm_msg *qm_msg_find(uint64_t);
void qm_msg_set_state(struct qm_msg *, int state);
void qm_msg_make_ready(struct qm_msg *);
void qm_msg_make_deferred(struct qm_msg *, int64_t when);
void qm_msg_list_remove(struct qm_msg *);
void qm_kick(void);
int qm_load_new(uint64_t qid);

/* dispatch.c */
void dispatch_run(void);
void dispatch_worker_lost(struct qm_worker *);
void dispatch_rcpt_result(struct ipc_peer *, struct ipc_msg *);
void dispatch_job_done(struct ipc_peer *, struct ipc_msg *);
void dispatch_commit(void);
void dispatch_mark_dirty(struct qm_msg *);

/* backoff.c (pure) */
int64_t backoff_delay(
    uint32_t attempts, int64_t min_backoff, int64_t max_backoff);
int backoff_expired(double arrival, double now, int64_t lifetime);

/* relay.c */
int relay_parse(const char *spec, struct relay_host *out, int max, char *err,
    size_t errlen);
void relay_resolve(
    const char *smart_host, int family_mask, int limit, struct relay_list *);

#endif
