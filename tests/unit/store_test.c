/*
 * store_test.c - qmgr's message store (daemons/qmgr/store.c) on a real
 * queue in a temporary directory: loading (an active record comes back
 * incoming, deferred ones wait on the deferred list), the state machine
 * of store_move() -- every allowed move made, every other refused and the
 * message left as it was --, the counts by state, the commit that writes
 * the state and removes removed messages, and store_settle().
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tap.h"
#include "log.h"
#include "queue.h"
#include "util.h"
#include "../../daemons/qmgr/store.h"

static const char *const names[] = {
    "incoming", "active", "deferred", "hold", "removed"};

/* The moves doc/design.md allows, [from][to]. */
static const int allowed[5][5] = {
    {1, 1, 0, 1, 1},
    {0, 1, 1, 1, 1},
    {0, 1, 1, 1, 1},
    {1, 0, 0, 1, 1},
    {0, 0, 0, 0, 1},
};

static void
diag_move(int from, int to, int rc)
{
	printf("# %s -> %s: %s\n", names[from], names[to],
	    rc == 0 ? "allowed" : "refused");
}

static uint64_t
add_record(int state, int64_t next_attempt, int rstatus)
{
	struct queue_txn *t;
	struct q_msg m;
	struct q_rcpt r;
	uint64_t qid = 0;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	r.addr = (char *)"user@example.org";
	r.status = (uint8_t)rstatus;
	r.dsn = r.reason = (char *)"";
	m.state = (uint8_t)state;
	m.next_attempt = next_attempt;
	m.arrival_us = 1700000000000000ULL;
	m.sender = (char *)"sender@example.com";
	m.nrcpt = 1;
	m.rcpt = &r;
	if (queue_txn_begin(qm->queue, &t, 0) != 0 ||
	    queue_new_qid(t, &qid) != 0)
		return 0;
	m.qid = qid;
	if (queue_put_msg(t, &m) != 0 ||
	    queue_put_body(t, qid, "Subject: x\n\nbody\n", 17) != 0 ||
	    queue_txn_commit(t) != 0)
		return 0;
	return qid;
}

static int
record_state(uint64_t qid)
{
	struct queue_txn *t;
	struct q_msg m;
	int state = -1;

	if (queue_txn_begin(qm->queue, &t, 1) != 0)
		return -2;
	if (queue_get_msg(t, qid, &m) == 0) {
		state = m.state;
		q_msg_free(&m);
	}
	queue_txn_abort(t);
	return state;
}

/* A message in state from (or removed), fresh in the store. */
static struct qm_msg *
message_in(int from)
{
	uint64_t qid = add_record(Q_INCOMING, 0, QR_PENDING);
	struct qm_msg *m;

	if (store_load_new(qid) != 0 || (m = store_find(qid)) == NULL)
		return NULL;
	if (from == Q_ACTIVE || from == Q_DEFERRED)
		store_move(m, Q_ACTIVE);
	if (from == Q_DEFERRED)
		store_move(m, Q_DEFERRED);
	if (from == Q_HOLD)
		store_move(m, Q_HOLD);
	if (from == STORE_REMOVED)
		store_move(m, STORE_REMOVED);
	return m;
}

static void
test_state_machine(void)
{
	int from, to, all = 1, kept = 1, n = 0;

	for (from = 0; from <= STORE_REMOVED; from++)
		for (to = 0; to <= STORE_REMOVED; to++) {
			struct qm_msg *m = message_in(from);
			int before, rc, now;

			if (m == NULL) {
				all = 0;
				continue;
			}
			before = m->removed ? STORE_REMOVED : m->state;
			rc = store_move(m, to);
			now = m->removed ? STORE_REMOVED : m->state;
			if (before != from || (rc == 0) != allowed[from][to]) {
				all = 0;
				diag_move(from, to, rc);
			}
			if (rc == -1 && now != from)
				kept = 0;
			if (rc == 0 && now != to)
				all = 0;
			n++;
		}
	is_int(n, 25, "every pair of states tried");
	ok(all, "store_move() allows exactly the moves of the state machine");
	ok(kept, "a refused move leaves the message as it was");
	ok(store_move(message_in(Q_INCOMING), 7) == -1,
	    "a state that does not exist is refused");
	store_commit();
}

static void
test_load(void)
{
	uint64_t active = add_record(Q_ACTIVE, 0, QR_PENDING);
	uint64_t deferred = add_record(Q_DEFERRED, 4000000000, QR_DEFERRED);
	uint64_t held = add_record(Q_HOLD, 0, QR_DEFERRED);
	unsigned long before = qm->counts[Q_INCOMING];
	struct qm_msg *m;

	is_int(store_load_all(), 3, "three new records indexed");
	is_int(store_load_all(), 0, "... and not twice");
	m = store_find(active);
	ok(m != NULL && m->state == Q_INCOMING && m->on_list == ON_READY,
	    "a record left active is incoming again, on the ready list");
	m = store_find(deferred);
	ok(m != NULL && m->state == Q_DEFERRED && m->on_list == ON_DEFERRED &&
	        m->next_attempt == 4000000000,
	    "a deferred record waits on the deferred list for its time");
	store_run_deferred(0);
	is_int(m->on_list, ON_DEFERRED, "... not due: it stays there");
	store_run_deferred(1);
	is_int(m->on_list, ON_READY, "... a flush makes it ready");
	m = store_find(held);
	ok(m != NULL && m->state == Q_HOLD && m->on_list == ON_NONE,
	    "a held record is on no list");
	is_int(qm->counts[Q_INCOMING], before + 1, "counted as incoming");
	ok(store_load(m, NULL) == 0 && m->rec != NULL &&
	        strcmp(m->rec->sender, "sender@example.com") == 0,
	    "store_load() reads its record");
}

static void
test_commit(void)
{
	struct qm_msg *m = message_in(Q_INCOMING), *gone;
	uint64_t qid = m->qid, gone_qid;
	unsigned long incoming = qm->counts[Q_INCOMING];

	store_load(m, NULL);
	store_move(m, Q_ACTIVE);
	store_move(m, Q_DEFERRED);
	is_int(qm->counts[Q_INCOMING], incoming - 1, "counts follow the moves");
	ok(m->dirty, "a move marks the record dirty");
	is_int(record_state(qid), Q_INCOMING, "nothing written before commit");
	store_commit();
	is_int(record_state(qid), Q_DEFERRED, "the commit writes the state");
	ok(!m->dirty && m->rec == NULL,
	    "... and the record is dropped from memory");

	/* a message whose record was never read: the move still lands */
	m = message_in(Q_INCOMING);
	qid = m->qid;
	store_commit();
	ok(m->rec == NULL, "a message indexed without its record in memory");
	is_int(store_move(m, Q_HOLD), 0, "... is put on hold");
	store_commit();
	is_int(record_state(qid), Q_HOLD, "... and the commit writes it");

	gone = message_in(Q_INCOMING);
	gone_qid = gone->qid;
	store_move(gone, STORE_REMOVED);
	ok(store_find(gone_qid) != NULL, "removed: indexed until the commit");
	store_commit();
	ok(store_find(gone_qid) == NULL && record_state(gone_qid) == -1,
	    "after it, out of the index and the queue");
}

static void
test_settle(void)
{
	uint64_t sent = add_record(Q_INCOMING, 0, QR_SENT);
	uint64_t failed = add_record(Q_INCOMING, 0, QR_FAILED);
	struct qm_msg *m;

	store_load_new(sent);
	store_load_new(failed);
	m = store_find(failed);
	store_load(m, NULL);
	ok(store_settle(m) == 0 && !m->removed,
	    "a failed recipient waiting for its notice keeps the message");
	m->rec->rcpt[0].status = QR_BOUNCED;
	ok(store_settle(m) == 1 && m->removed && m->on_list == ON_NONE,
	    "once the notice is queued it settles: removed");
	m = store_find(sent);
	store_load(m, NULL);
	m->jobs_in_flight = 1;
	ok(store_settle(m) == 0, "not while a job is in flight");
	m->jobs_in_flight = 0;
	ok(store_settle(m) == 1, "every recipient sent: removed");
	store_commit();
	ok(store_find(sent) == NULL && store_find(failed) == NULL,
	    "both gone after the commit");
}

static void
kick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
}

int
main(void)
{
	char dir[] = "/tmp/store_test.XXXXXX";
	char cmd[64];

	if (mkdtemp(dir) == NULL)
		return 1;
	qm = xcalloc(1, sizeof(*qm));
	store_init();
	qm->base = event_base_new();
	qm->kick_ev = event_new(qm->base, -1, 0, kick, NULL);
	is_int(queue_open(&qm->queue, dir, 64 * 1024 * 1024, 0), 0,
	    "a queue in a temporary directory");
	test_load();
	test_state_machine();
	test_commit();
	test_settle();
	queue_close(qm->queue);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return done_testing();
}
