/*
 * admin.c - queue administration for ncctl, relayed by the master after
 * it checked the caller: hold, release, delete, requeue and flush, by
 * queue ID, every message, every deferred one, or by recipient domain.
 * A message in flight finishes its current attempt before a hold or a
 * delete takes effect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proto.h"
#include "qmgr.h"
#include "util.h"

struct admin_sel {
	uint32_t select;
	const char *domain;
	uint64_t *ids;
	uint32_t n;
	uint64_t *found; /* SEL_DOMAIN: qids with a recipient there */
	size_t nfound;
};

static int
domain_cb(const struct q_msg *m, void *arg)
{
	struct admin_sel *s = arg;
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++) {
		const char *at = strrchr(m->rcpt[i].addr, '@');

		if (at != NULL && strcasecmp(at + 1, s->domain) == 0) {
			s->found = xreallocarray(s->found, s->nfound + 1, 8);
			s->found[s->nfound++] = m->qid;
			break;
		}
	}
	return 0;
}

static int
admin_selected(struct admin_sel *s, struct qm_msg *m)
{
	return s->select == SEL_ALL || m->state == Q_DEFERRED;
}

/* Apply op to one message; returns 1 if it changed anything. */
static int
admin_apply(uint32_t op, struct qm_msg *m)
{
	int busy = m->jobs_in_flight > 0;

	if (op != ADMIN_FLUSH && dispatch_load(m) != 0)
		return 0; /* gone from the queue meanwhile */
	switch (op) {
	case ADMIN_HOLD:
		if (m->state == Q_HOLD || m->removed)
			return 0;
		if (busy)
			return m->hold_after = 1;
		qm_msg_list_remove(m);
		dispatch_attempt_end(m);
		qm_msg_set_state(m, Q_HOLD);
		m->logged_active = 0;
		dispatch_mark_dirty(m);
		return 1;
	case ADMIN_RELEASE:
		m->hold_after = 0;
		if (m->state != Q_HOLD)
			return 0;
		qm_msg_set_state(m, Q_INCOMING);
		m->next_attempt = 0;
		dispatch_mark_dirty(m);
		qm_msg_make_ready(m);
		return 1;
	case ADMIN_DELETE:
		if (m->removed)
			return 0;
		if (busy)
			return m->delete_after = 1;
		qm_msg_list_remove(m);
		dispatch_attempt_end(m);
		m->removed = m->deleted = 1;
		dispatch_mark_dirty(m);
		return 1;
	case ADMIN_REQUEUE:
	case ADMIN_FLUSH:
		if (m->state != Q_DEFERRED || m->on_list != ON_DEFERRED)
			return 0;
		qm_msg_make_ready(m);
		return 1;
	}
	return 0;
}

static const char *
admin_verb(uint32_t op)
{
	static const char *verbs[] = {
	    "", "put on hold", "released", "deleted", "requeued", "flushed"};

	return op >= ADMIN_HOLD && op <= ADMIN_FLUSH ? verbs[op] : "?";
}

static void
admin_reply(struct ipc_peer *p, uint64_t req, uint32_t code, const char *t)
{
	struct ipc_buf b;

	ipc_buf_init(&b, M_CTL_ADMIN_DONE);
	ipc_add_u64(&b, req);
	ipc_add_u32(&b, code);
	ipc_add_str(&b, t);
	ipc_peer_send(p, &b);
}

void
admin_request(struct ipc_peer *p, struct ipc_msg *msg)
{
	struct admin_sel s = {0};
	struct queue_txn *t;
	struct qm_msg *m, *next;
	uint64_t req = ipc_get_u64(msg);
	uint32_t op = ipc_get_u32(msg), i;
	unsigned long count = 0;
	char text[128];

	s.select = ipc_get_u32(msg);
	s.domain = ipc_get_str(msg);
	s.n = ipc_get_u32(msg);
	if (msg->error || s.n > (msg->len - msg->pos) / 8 || op < ADMIN_HOLD ||
	    op > ADMIN_FLUSH || s.select > SEL_DOMAIN) {
		ipc_peer_error(p, "bad admin request");
		return;
	}
	s.ids = xcalloc(s.n, sizeof(*s.ids));
	for (i = 0; i < s.n; i++)
		s.ids[i] = ipc_get_u64(msg);
	if (!ipc_msg_done(msg)) {
		free(s.ids);
		return;
	}
	if (s.select == SEL_DOMAIN && queue_txn_begin(qm->queue, &t, 1) == 0) {
		(void)queue_walk(t, domain_cb, &s);
		queue_txn_abort(t);
	}
	/* destinations are looked up (and suspended ones tried) again */
	if (op == ADMIN_REQUEUE || op == ADMIN_FLUSH) {
		dest_expire_all();
		dest_wake_all();
	}
	if (s.select == SEL_IDS || s.select == SEL_DOMAIN) {
		/* look each one up: a long list must not cost list x queue */
		uint64_t *ids = s.select == SEL_IDS ? s.ids : s.found;
		size_t k, n = s.select == SEL_IDS ? s.n : s.nfound;

		for (k = 0; k < n; k++)
			if ((m = qm_msg_find(ids[k])) != NULL)
				count += admin_apply(op, m);
	} else
		for (m = RB_MIN(qm_msg_tree, &qm->msgs); m != NULL; m = next) {
			next = RB_NEXT(qm_msg_tree, &qm->msgs, m);
			if (admin_selected(&s, m))
				count += admin_apply(op, m);
		}
	snprintf(text, sizeof(text), "%lu message%s %s", count,
	    count == 1 ? "" : "s", admin_verb(op));
	log_info("administrator: %s", text);
	/* the answer says what the queue holds: ncqshow after ncctl sees it */
	dispatch_commit();
	admin_reply(p, req, 0, text);
	free(s.ids);
	free(s.found);
	qm_kick();
}
