/*
 * queue.h - the pending queue: an LMDB environment under
 * queue_directory/db. pickup inserts, qmgr changes states and removes,
 * ncqshow reads. Nothing is acknowledged before queue_txn_commit()
 * returns 0. Several writes share one transaction (and one fsync) when
 * the caller batches them: that is the group commit. Records carry a
 * format version; a record of an unknown version is reported, never
 * guessed at.
 */
#ifndef NCMTA_QUEUE_H
#define NCMTA_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "dsnparam.h"

/*
 * The version written. Every version from 1 up is read (1 has no DSN
 * fields, 2 no ORCPTs): a queue or a backup of any earlier release is
 * delivered. A larger one, written by a later release, is QUEUE_ENEWER,
 * never guessed at (man/ncctl.8, BACKUP AND RESTORE).
 */
#define QUEUE_RECORD_VERSION 3

/* Return codes: 0 is success. */
#define QUEUE_ENOTFOUND (-2)
#define QUEUE_EFULL (-3) /* map or disk full: temporary, nothing lost */
#define QUEUE_EFORMAT (-4) /* record of unknown version or corrupt */
#define QUEUE_EIO (-5) /* anything else (see queue_strerror) */
#define QUEUE_ENEWER (-6) /* record of a later release's format version */

enum q_state { Q_INCOMING = 0, Q_ACTIVE = 1, Q_DEFERRED = 2, Q_HOLD = 3 };
/*
 * Recipient states. QR_FAILED: failed for good, its bounce notice not yet
 * queued; QR_BOUNCED: failed and the notice is queued (or none is due).
 */
enum q_rstatus {
	QR_PENDING = 0,
	QR_DEFERRED = 1,
	QR_SENT = 2,
	QR_BOUNCED = 3,
	QR_FAILED = 4,
};

struct q_rcpt {
	char *addr;
	uint8_t status; /* enum q_rstatus */
	char *dsn; /* "4.4.1", "" if none yet */
	char *reason; /* last reason (deferred / bounced), "" if none */
	char *orcpt; /* DSN ORCPT ("rfc822;a@b", xtext decoded), NULL or ""
			= none */
};

struct q_msg {
	uint64_t qid;
	uint8_t state; /* enum q_state */
	uint32_t flags;
	uint32_t uid; /* submitting user */
	uint64_t arrival_us; /* arrival time, microseconds */
	uint64_t size; /* content bytes */
	int64_t next_attempt; /* seconds; 0 = as soon as possible */
	uint32_t attempts;
	char *sender; /* "" = null sender */
	uint32_t nrcpt;
	struct q_rcpt *rcpt;
	/* DSN parameters given at submission (RFC 3461), passed on */
	uint8_t dsn_notify; /* DSN_NOTIFY_* bits, 0 = not given */
	uint8_t dsn_ret; /* DSN_RET_*, 0 = not given */
	char *envid; /* ENVID, NULL or "" = none */
};

/* Whether a notice of this kind (DSN_NOTIFY_FAILURE or _DELAY) is
 * wanted: when NOTIFY was not given, failures and delays are. */
int q_dsn_wants(const struct q_msg *, uint8_t kind);

#define QMSG_F_8BIT 0x1
#define QMSG_F_WARNED 0x2 /* the delay notice was sent */
/* SMTPUTF8 (RFC 6531) was given at submission: passed on to a next hop
 * that offers it */
#define QMSG_F_SMTPUTF8 0x4
/* The envelope (sender or a recipient) holds UTF-8: only a next hop
 * that offers SMTPUTF8 may take it */
#define QMSG_F_UTF8ADDR 0x8

struct queue;
struct queue_txn;

int queue_open(
    struct queue **, const char *dbdir, int64_t map_size, int readonly);
void queue_close(struct queue *);
/* Release the pages of the map this process touched (no data lost). */
void queue_trim(struct queue *);
/* Before a chroot: keep /proc/self/maps open, where queue_open() of a
 * process that will call queue_trim() finds its map. */
void queue_maps_preopen(void);
const char *queue_strerror(int);

int queue_txn_begin(struct queue *, struct queue_txn **, int readonly);
/* Commit (fsync). On failure the transaction is gone and nothing of it
 * was written. */
int queue_txn_commit(struct queue_txn *);
void queue_txn_abort(struct queue_txn *);

/* A new queue ID, larger than every ID handed out before (write txn). */
int queue_new_qid(struct queue_txn *, uint64_t *);

/* Message records. queue_get_msg allocates into *out: free with
 * q_msg_free(). queue_get_body's pointer is valid until the transaction
 * ends. queue_del_msg removes the record and its body. */
int queue_put_msg(struct queue_txn *, const struct q_msg *);
int queue_put_body(struct queue_txn *, uint64_t qid, const void *, size_t);
int queue_get_msg(struct queue_txn *, uint64_t qid, struct q_msg *out);
int queue_get_body(struct queue_txn *, uint64_t qid, const void **, size_t *);
int queue_del_msg(struct queue_txn *, uint64_t qid);
void q_msg_free(struct q_msg *);

/* Visit every message in queue-ID order; stop when cb returns non-zero
 * (that value is returned). The q_msg is only valid during the call. */
int queue_walk(
    struct queue_txn *, int (*cb)(const struct q_msg *, void *), void *arg);
/* The same, from the first queue ID >= first (IDs only grow: a walk from
 * the largest ID known finds exactly the messages added since). */
int queue_walk_from(struct queue_txn *, uint64_t first,
    int (*cb)(const struct q_msg *, void *), void *arg);

/*
 * Room in the map. Outcomes, removals and notices must always commit,
 * so ingest (pickup) stops while less than a reserve is left: an
 * eighth of queue_map_size, at least 256 KiB. queue_usage() counts the
 * pages the databases hold (pages on LMDB's free list are room);
 * queue_room_for_ingest() says whether bytes more may be ingested now.
 */
#define QUEUE_RESERVE_DIVISOR 8
#define QUEUE_RESERVE_MIN (256 * 1024)
int queue_usage(struct queue_txn *, uint64_t *used, uint64_t *size);
int queue_room_for_ingest(struct queue_txn *, uint64_t bytes);

/* Maildrop bookkeeping for crash-safe pickup: the name of an ingested
 * file is recorded in the transaction that inserts its message, and
 * forgotten once the file is gone. */
int queue_drop_put(struct queue_txn *, const char *name, uint64_t qid);
int queue_drop_get(struct queue_txn *, const char *name, uint64_t *qid);
int queue_drop_del(struct queue_txn *, const char *name);
int queue_drop_walk(struct queue_txn *,
    int (*cb)(const char *name, uint64_t qid, void *), void *arg);

/* Delivery policies learned from the network and kept across restarts
 * (MTA-STS, doc/design.md): opaque values by name ("sts:example.com"),
 * beside the queue's own bookkeeping. get: QUEUE_ENOTFOUND when none; the
 * value stays valid until the transaction ends. */
#define QUEUE_POLICY_NAME_MAX 300
#define QUEUE_POLICY_MAX (80 * 1024)
int queue_policy_put(
    struct queue_txn *, const char *name, const void *, size_t);
int queue_policy_get(
    struct queue_txn *, const char *name, const void **, size_t *);
int queue_policy_del(struct queue_txn *, const char *name);
/* cb for every policy whose name starts with prefix, in name order; a
 * non-zero return stops the walk and is returned. */
int queue_policy_walk(struct queue_txn *, const char *prefix,
    int (*cb)(const char *name, const void *, size_t, void *), void *arg);

/* Record encoding, exposed for unit tests and tools. */
int q_msg_encode(const struct q_msg *, uint8_t **, size_t *);
int q_msg_decode(const uint8_t *, size_t, struct q_msg *);
/* Whether two messages have the same record (the queue ID aside; a
 * NULL string is the same as ""). */
int q_msg_equal(const struct q_msg *, const struct q_msg *);

const char *q_state_name(int); /* "incoming", "active", ... */
int q_state_parse(const char *); /* the state so named, or -1 */

#endif
