/*
 * store.h - qmgr's message store: the in-memory index of every message in
 * the queue, the lists a message waits on, loading records, every change
 * of a message's state, and the batched commit that writes them. The only
 * part of qmgr that reads or writes queue records.
 *
 * A message's state follows doc/design.md ("The queue", States):
 *
 *	incoming -> active, hold, removed
 *	active   -> deferred, hold, removed
 *	deferred -> active, hold, removed
 *	hold     -> incoming, removed
 *
 * store_move() is the one way to change it: any other move is refused,
 * logged and counted, and the message stays as it was.
 */
#ifndef NCMTA_QMGR_STORE_H
#define NCMTA_QMGR_STORE_H

#include <stdarg.h>
#include <stdint.h>

#include "qm.h"

/* store_move(): the message leaves the queue at the next commit. */
#define STORE_REMOVED 4

void store_init(void);
struct qm_msg *store_find(uint64_t qid);
/* The message after m by queue ID (NULL: the first), NULL after the
 * last. */
struct qm_msg *store_next(struct qm_msg *m);
/* Index every message not yet known (at start-up: all of them); returns
 * how many were added. */
unsigned long store_load_all(void);
/* Index one message pickup or the bounce daemon just committed. */
int store_load_new(uint64_t qid);
/* Read the record of an indexed message, in t (NULL: a transaction of
 * its own); 0 or a queue error. */
int store_load(struct qm_msg *, struct queue_txn *t);

/* A read transaction for a dispatch pass: records and bodies read in it
 * stay valid until store_read_end(). NULL if the queue cannot be read
 * (logged). */
struct queue_txn *store_read(void);
void store_read_end(struct queue_txn *);
/* The message's content, in t. */
int store_body(
    struct queue_txn *t, const struct qm_msg *, const void **, size_t *);
/* The message's header block (at most max octets), allocated; "" if the
 * message cannot be read. */
char *store_headers(uint64_t qid, size_t max);
/* fn for every record in the queue (ncctl by domain). */
void store_walk(int (*fn)(const struct q_msg *, void *), void *arg);

/* Change the state (enum q_state, or STORE_REMOVED): 0, or -1 when the
 * state machine above does not allow it (or the record cannot be read to
 * carry the new state). Marks the record dirty. */
int store_move(struct qm_msg *, int state);
/* The record changed: write it at the next commit. */
void store_mark_dirty(struct qm_msg *);
/* Hold the message with "quarantined: <reason>" once its jobs end. */
void store_quarantine(struct qm_msg *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A recipient still to be delivered (pending or deferred). */
int store_rcpt_open(const struct q_rcpt *);
/* No recipient open and every notice queued: removed (1), else 0. */
int store_settle(struct qm_msg *);

/* The lists: where a message waits for its next step. */
void store_ready(struct qm_msg *); /* at the end of the ready list */
void store_ready_first(struct qm_msg *); /* at its head */
void store_defer(struct qm_msg *, int64_t when);
void store_probation(struct qm_msg *); /* a suspect waits to run alone */
/* On a destination: for its lookup (ON_WAITING), a slot (ON_BLOCKED). */
void store_park(struct qm_msg *, struct qm_dest *, enum qm_list);
void store_unlist(struct qm_msg *);
/* Every deferred message that is due (all of them if force) is ready. */
void store_run_deferred(int force);

/* Policies kept in the queue database (queue_policy_*): get returns a
 * copy with a NUL after it (NULL when none or unreadable); put writes
 * val (NULL: deletes the name) in a transaction of its own; 0 or a
 * queue error, logged. */
char *store_policy_get(const char *name, size_t *len);
int store_policy_put(const char *name, const void *val, size_t len);
/* fn for every policy named prefix...; then those for which it returned
 * 1 are deleted, in one transaction. How many are left, or -1. */
long store_policy_sweep(const char *prefix,
    int (*fn)(const char *name, const char *val, size_t len));

/* Write every dirty record and removal in one transaction. */
void store_commit(void);
/* ... within QMGR_COMMIT_DELAY_MS: the outcomes of that time share one
 * transaction (and one sync). */
void store_commit_soon(void);

#endif
