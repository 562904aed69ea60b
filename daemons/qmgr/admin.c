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
#include "admin.h"
#include "dest.h"
#include "dispatch.h"
#include "ipcmsg.h"
#include "proto.h"
#include "store.h"
#include "tlsrpt.h"
#include "util.h"

struct admin_sel {
	uint32_t select;
	const char *domain;
	uint64_t *ids;
	size_t n;
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

	if (op != ADMIN_FLUSH && store_load(m, NULL) != 0)
		return 0; /* gone from the queue meanwhile */
	switch (op) {
	case ADMIN_HOLD:
		if (m->state == Q_HOLD || m->removed)
			return 0;
		if (busy)
			return m->hold_after = 1;
		if (store_move(m, Q_HOLD) == -1)
			return 0;
		store_unlist(m);
		dispatch_attempt_end(m);
		m->logged_active = 0;
		return 1;
	case ADMIN_RELEASE:
		m->hold_after = 0;
		if (m->state != Q_HOLD || store_move(m, Q_INCOMING) == -1)
			return 0;
		m->next_attempt = 0;
		store_ready(m);
		return 1;
	case ADMIN_DELETE:
		if (m->removed)
			return 0;
		if (busy)
			return m->delete_after = 1;
		if (store_move(m, STORE_REMOVED) == -1)
			return 0;
		store_unlist(m);
		dispatch_attempt_end(m);
		m->deleted = 1;
		return 1;
	case ADMIN_REQUEUE:
	case ADMIN_FLUSH:
		if (m->state != Q_DEFERRED || m->on_list != ON_DEFERRED)
			return 0;
		store_ready(m);
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
	struct ipcm_ctl_admin_done d = {
	    .request = req, .code = code, .text = t};

	ipcm_ctl_admin_done_send(p, &d);
}

void
admin_request(struct ipc_peer *p, struct ipc_msg *msg)
{
	struct admin_sel s = {0};
	struct ipcm_ctl_admin a;
	struct ipcm_qid id;
	struct qm_msg *m, *next;
	unsigned long count = 0;
	uint32_t op;
	char text[128];

	if (ipcm_ctl_admin_get(msg, &a) == -1 || a.op < ADMIN_HOLD ||
	    a.op > ADMIN_FLUSH || a.select > SEL_DOMAIN) {
		ipc_peer_error(p, "bad admin request");
		return;
	}
	op = a.op;
	s.select = a.select;
	s.domain = a.domain;
	s.ids = xcalloc(a.ids_n + 1, sizeof(*s.ids));
	while (ipcm_qid_next(&a.ids_rd, &id))
		s.ids[s.n++] = id.qid;
	if (s.select == SEL_DOMAIN)
		store_walk(domain_cb, &s);
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
			if ((m = store_find(ids[k])) != NULL)
				count += admin_apply(op, m);
	} else
		for (m = store_next(NULL); m != NULL; m = next) {
			next = store_next(m);
			if (admin_selected(&s, m))
				count += admin_apply(op, m);
		}
	snprintf(text, sizeof(text), "%lu message%s %s", count,
	    count == 1 ? "" : "s", admin_verb(op));
	log_info("administrator: %s", text);
	/* the answer says what the queue holds: ncqshow after ncctl sees it */
	store_commit();
	admin_reply(p, a.request, 0, text);
	free(s.ids);
	free(s.found);
	qm_kick();
}

void
admin_tls_report(struct ipc_peer *p, struct ipc_msg *msg)
{
	struct ipcm_ctl_tls_report r;
	char *text;

	if (ipcm_ctl_tls_report_get(msg, &r) == -1) {
		ipc_peer_error(p, "bad TLS report request");
		return;
	}
	text = tlsrpt_report((r.flags & TLSRPT_F_JSON) != 0, time(NULL));
	admin_reply(p, r.request, 0, text);
	free(text);
}
