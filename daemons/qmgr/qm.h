/*
 * qm.h - the queue manager's shared state: what every part of qmgr
 * knows about (messages, destinations, jobs, workers, the settings) and
 * the one struct qmgr that holds it, defined in qm.c. The parts and who
 * owns what: doc/design.md, "qmgr's source".
 *
 * qmgr is the only process that changes the queue after pickup. It keeps an in-memory index of every message (state and
 * next attempt; recipients only while a delivery is in flight), routes
 * each recipient by the routing table to a destination, has the
 * destination's hosts looked up through the resolver, hands jobs to the
 * smtp workers, records each recipient's outcome in batched transactions
 * and schedules retries.
 */
#ifndef NCMTA_QM_H
#define NCMTA_QM_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "queue.h"
#include "routes.h"
#include "sched.h"

/* Outcomes wait at most this long for their commit, so that those of
 * many jobs share it: each commit holds the queue's one write lock for a
 * disk sync, which ingest then waits for. A crash in between costs
 * nothing but a second delivery of what was delivered meanwhile. */
#define QMGR_COMMIT_DELAY_MS 10
#define QMGR_WORKER_BACKLOG (4 * 1024 * 1024) /* bytes queued to a worker */
/* A job's recipients (addresses and ORCPTs) stop at about this many
 * octets, so JOB_BEGIN stays within the worker's frame limit (256 KiB)
 * whatever smtp_recipient_limit says. */
#define QMGR_JOB_RCPT_BYTES (192 * 1024)
/* The TLSA records of a job's hosts stop at about this many octets (the
 * first host's always go): hosts past it wait for the next attempt. The
 * worker's frame limit (SMTP_QMGR_MAX_FRAME) has room for both. */
#define QMGR_JOB_TLSA_BYTES (32 * 1024)

/* One address to try: exchanger or relay name, numeric address, port. */
struct dest_host {
	char name[256];
	char nexthop[256]; /* the relay's configured name, "" for an MX */
	char addr[64];
	unsigned port;
	uint32_t flags; /* HOST_F_* */
	int pref; /* MX preference; -1 for relays (kept in order) */
	/* under smtp_tls_security_level = dane: the host's validated TLSA
	 * records ("U S M hex" lines), NULL when DANE does not apply */
	char *tlsa;
	/* an exchanger listed in the domain's MTA-STS policy: the policy's
	 * mode (enum mtasts_mode, MTASTS_NONE when none applies) */
	int sts;
};

enum qm_list {
	ON_NONE,
	ON_READY,
	ON_DEFERRED,
	ON_BLOCKED,
	ON_WAITING,
	ON_PROBATION /* suspect: waits for its turn to run alone */
};

/* A message in flight when this many workers died is held. */
#define QMGR_QUARANTINE_STRIKES 3

struct qm_dest;

struct qm_body_ref {
	struct qm_worker *worker;
	int jobs;
};

struct qm_msg {
	RB_ENTRY(qm_msg) by_qid;
	RB_ENTRY(qm_msg) by_age; /* in qm->age[state] */
	uint64_t arrival_ms; /* the record's arrival, for the oldest age */
	TAILQ_ENTRY(qm_msg) link; /* on the list named by on_list */
	uint64_t qid;
	uint8_t state; /* enum q_state */
	enum qm_list on_list;
	struct qm_dest *dest; /* ON_BLOCKED / ON_WAITING: which one */
	int64_t next_attempt;
	int jobs_in_flight;
	int dirty; /* record must be written */
	int removed; /* every recipient done: delete */
	int logged_active; /* "(queue active)" logged for this attempt */
	int hold_after; /* ncctl hold while in flight */
	int delete_after; /* ncctl delete while in flight */
	int deleted; /* removed by the administrator */
	int notify_pending; /* a bounce notice request is out */
	double t_active;
	struct q_msg *rec; /* loaded while in flight or dirty */
	/* The attempt under way: per recipient, 1 once it is in a job or
	 * decided. Recipients wait untaken while their destination has no
	 * free session, so one message never opens more sessions than the
	 * limits allow, however many recipients it has. NULL between
	 * attempts. */
	uint8_t *taken;
	/* The workers keeping its body (JOB_F_KEEP), each with the number
	 * of the message's jobs in flight there: one copy per worker. */
	struct qm_body_ref *bodies;
	int nbodies;
	/* Poison-message defence: workers lost while it was in flight, and
	 * the loss counted last (one strike per loss). A message with
	 * strikes runs alone among suspects (probation); at
	 * QMGR_QUARANTINE_STRIKES it is held. */
	int strikes;
	unsigned long last_loss;
	int probation_jobs;
	int worker_lost; /* this attempt ended with a worker's loss */
	int notice_strikes; /* bounce daemon lost with its notice pending */
	char *quarantine; /* hold with this reason once its jobs end */
	TAILQ_ENTRY(qm_msg) dirty_link;
};

TAILQ_HEAD(qm_msg_list, qm_msg);

enum dest_kind { DEST_DIRECT, DEST_RELAY };
enum dest_state { DEST_IDLE, DEST_RESOLVING, DEST_READY };
enum dest_result { DEST_OK, DEST_TEMPFAIL, DEST_PERMFAIL };

/*
 * A destination: a recipient domain delivered directly (with optional
 * fallback relays), or a list of relays. Resolved to an ordered list of
 * addresses, reused until its DNS answers expire.
 */
struct qm_dest {
	RB_ENTRY(qm_dest) by_key;
	char *key;
	enum dest_kind kind;
	char *domain; /* DEST_DIRECT */
	char *relays; /* host list ("" = none) */
	char tls[16]; /* the route's tls= level, "" for the default */
	enum dest_state state;
	time_t expires;
	enum dest_result result;
	char dsn[16];
	char reason[1024];
	struct dest_host *hosts;
	int nhosts;
	int in_flight; /* jobs */
	struct dest_health health; /* window, suspension */
	char suspend_reason[1024]; /* why it is suspended */
	struct qm_worker *last_worker; /* sessions to reuse are there */
	struct qm_msg_list waiting; /* for the lookup to finish */
	struct qm_msg_list blocked; /* for a free session slot */
	struct dest_lookup *lookup; /* while DEST_RESOLVING */
};

struct qm_worker {
	TAILQ_ENTRY(qm_worker) link;
	struct ipc_peer *peer;
	int pid;
	int max_jobs;
	int jobs;
	int lost; /* its connection is gone: send it nothing */
};

struct qm_job {
	RB_ENTRY(qm_job) by_id;
	uint64_t id;
	struct qm_msg *msg;
	struct qm_dest *dest;
	struct qm_worker *worker;
	uint32_t *rcpt; /* indices into msg->rec->rcpt */
	uint32_t nrcpt;
	uint8_t *seen; /* result received per rcpt */
	int kept; /* the worker keeps the body for it (KEEP or KEPT) */
	int probation; /* counted in qm->probation_jobs */
};

RB_HEAD(qm_msg_tree, qm_msg);
RB_HEAD(qm_age_tree, qm_msg);
RB_HEAD(qm_job_tree, qm_job);
RB_HEAD(qm_dest_tree, qm_dest);
TAILQ_HEAD(qm_worker_list, qm_worker);
RB_PROTOTYPE(qm_msg_tree, qm_msg, by_qid, qm_msg_cmp);
RB_PROTOTYPE(qm_age_tree, qm_msg, by_age, qm_age_cmp);
RB_PROTOTYPE(qm_job_tree, qm_job, by_id, qm_job_cmp);
RB_PROTOTYPE(qm_dest_tree, qm_dest, by_key, qm_dest_cmp);

struct qmgr {
	struct nc_config cfg;
	struct route_table routes;
	struct event_base *base;
	struct queue *queue;
	struct qm_msg_tree msgs;
	struct qm_job_tree jobs;
	struct qm_dest_tree dests;
	struct qm_msg_list ready;
	struct qm_msg_list deferred;
	struct qm_msg_list dirty;
	struct qm_msg_list probation; /* suspects waiting to run alone */
	int probation_jobs; /* jobs of suspects in flight */
	unsigned long worker_losses;
	struct qm_worker_list workers;
	uint64_t next_job;
	uint64_t max_qid; /* the largest queue ID indexed */
	int jobs_in_flight;
	unsigned long counts[4]; /* by enum q_state */
	/* the messages of each state by arrival: the oldest age of a state
	 * (ncmta_queue_oldest_age_seconds) is RB_MIN, O(log n) */
	struct qm_age_tree age[4];
	struct event *kick_ev; /* run dispatch + commit after this round */
	struct event *retry_ev; /* deferred scan, every queue_run_delay */
	struct event *commit_retry_ev;
	struct event *commit_soon_ev; /* dispatch_commit_soon()'s timer */
	int commit_failing;
};

extern struct qmgr *qm;

/* Run a dispatch pass (and schedule the commit) once this event-loop
 * round is over: something became ready. */
void qm_kick(void);

#endif
