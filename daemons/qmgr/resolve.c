/*
 * resolve.c - qmgr's client of the resolver daemon: send M_DNS_QUERY,
 * call back with the answer. If the resolver goes away every pending
 * question is answered "temporary failure" and qmgr reconnects, so a
 * resolver restart costs a retry, never a lost message.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privdrop.h"
#include "ipcmsg.h"
#include "proto.h"
#include "qm.h"
#include "resolve.h"
#include "util.h"

struct dns_pending {
	TAILQ_ENTRY(dns_pending) link;
	uint64_t id;
	dns_answer_fn *fn; /* a DNS question, or */
	sts_answer_fn *sts_fn; /* an MTA-STS one */
	void *arg;
};

TAILQ_HEAD(dns_pending_list, dns_pending);

static struct {
	struct ipc_peer *peer;
	struct dns_pending_list pending;
	uint64_t next_id;
	struct event *retry_ev;
	char *path;
} rs;

static void resolve_connect(void);

static void
answer_fail(struct dns_pending *p, const char *why)
{
	struct dns_answer a;

	if (p->sts_fn != NULL) {
		struct sts_answer sa = {.status = STS_S_TXT_FAIL,
		    .txt_id = "",
		    .policy = "",
		    .error = why};

		p->sts_fn(&sa, p->arg);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.status = DNS_S_TEMPFAIL;
	a.error = why;
	p->fn(&a, p->arg);
}

static void
resolver_closed(struct ipc_peer *peer, void *arg)
{
	struct dns_pending *p;
	struct timeval tv = {1, 0};

	(void)peer;
	(void)arg;
	rs.peer = NULL;
	log_warnx("lost connection with the resolver; reconnecting");
	while ((p = TAILQ_FIRST(&rs.pending)) != NULL) {
		TAILQ_REMOVE(&rs.pending, p, link);
		answer_fail(p, "lost connection with the resolver");
		free(p);
	}
	evtimer_add(rs.retry_ev, &tv);
}

/* The question an answer is for, taken off the list; NULL (and the
 * resolver's connection dropped) when it is for none of kind. */
static struct dns_pending *
pending_take(struct ipc_peer *peer, uint64_t id, int sts)
{
	struct dns_pending *p;

	TAILQ_FOREACH(p, &rs.pending, link)
	if (p->id == id)
		break;
	if (p == NULL || (p->sts_fn != NULL) != sts) {
		ipc_peer_error(peer, "answer to no question");
		return NULL;
	}
	TAILQ_REMOVE(&rs.pending, p, link);
	return p;
}

static void
on_sts_answer(struct ipc_peer *peer, struct ipc_msg *m, void *arg)
{
	struct ipcm_sts_answer sa;
	struct sts_answer a;
	struct dns_pending *p;

	(void)arg;
	if (ipcm_sts_answer_get(m, &sa) == -1 ||
	    sa.status > STS_S_WEBPKI_FAIL) {
		ipc_peer_error(peer, "bad MTA-STS answer");
		return;
	}
	if ((p = pending_take(peer, sa.id, 1)) == NULL)
		return;
	a = (struct sts_answer){.status = sa.status,
	    .ttl = sa.ttl,
	    .txt_id = sa.txt_id,
	    .policy = sa.policy,
	    .error = sa.error};
	p->sts_fn(&a, p->arg);
	free(p);
}

static void
on_answer(struct ipc_peer *peer, struct ipc_msg *m, void *arg)
{
	struct ipcm_dns_answer da;
	struct ipcm_dns_rr rr;
	struct dns_answer a;
	struct dns_pending *p;

	(void)arg;
	if (ipcm_dns_answer_get(m, &da) == -1 || da.status > DNS_S_BADNAME) {
		ipc_peer_error(peer, "bad answer");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.status = da.status;
	a.ttl = da.ttl;
	a.secure = da.secure != 0;
	a.error = da.error;
	/* keep the first ones */
	while (a.n < DNS_MAX_RECORDS && ipcm_dns_rr_next(&da.rrs_rd, &rr)) {
		a.rec[a.n].pref = rr.pref;
		a.rec[a.n++].data = rr.data;
	}
	if ((p = pending_take(peer, da.id, 0)) == NULL)
		return;
	p->fn(&a, p->arg);
	free(p);
}

static const struct ipc_handler resolver_table[] = {
    IPCM_ON(DNS_ANSWER, on_answer), IPCM_ON(STS_ANSWER, on_sts_answer),
    {0, NULL, NULL}};

static void
resolve_connect(void)
{
	struct timeval tv = {1, 0};
	int fd;

	if (rs.peer != NULL)
		return;
	if ((fd = ipc_connect(rs.path)) == -1) {
		evtimer_add(rs.retry_ev, &tv);
		return;
	}
	rs.peer = ipc_peer_new(
	    qm->base, fd, "resolver", resolver_table, 0, resolver_closed, NULL);
}

static void
retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	resolve_connect();
}

void
resolve_init(void)
{
	TAILQ_INIT(&rs.pending);
	/* qmgr runs chrooted to the queue directory when root */
	if (privdrop_chrooted())
		rs.path = xstrdup("/private/resolver");
	else
		rs.path = config_qpath(&qm->cfg, "private/resolver");
	rs.retry_ev = evtimer_new(qm->base, retry_cb, NULL);
	resolve_connect();
}

/* A question on the list with its id, or NULL when the resolver is not
 * there (answered "temporary failure" already). */
static struct dns_pending *
pending_add(dns_answer_fn *fn, sts_answer_fn *sts_fn, void *arg)
{
	struct dns_pending *p = xcalloc(1, sizeof(*p));

	p->fn = fn;
	p->sts_fn = sts_fn;
	p->arg = arg;
	if (rs.peer == NULL) {
		answer_fail(p, "the resolver is not available");
		free(p);
		return NULL;
	}
	p->id = ++rs.next_id;
	TAILQ_INSERT_TAIL(&rs.pending, p, link);
	return p;
}

void
resolve_query(
    int qtype, const char *name, uint32_t flags, dns_answer_fn *fn, void *arg)
{
	struct dns_pending *p;
	struct ipcm_dns_query q;

	if ((p = pending_add(fn, NULL, arg)) == NULL)
		return;
	q = (struct ipcm_dns_query){.id = p->id,
	    .qtype = (uint32_t)qtype,
	    .flags = flags,
	    .name = name};
	ipcm_dns_query_send(rs.peer, &q);
}

void
resolve_sts(
    const char *domain, const char *known_id, sts_answer_fn *fn, void *arg)
{
	struct dns_pending *p;
	struct ipcm_sts_query q;

	if ((p = pending_add(NULL, fn, arg)) == NULL)
		return;
	q = (struct ipcm_sts_query){
	    .id = p->id, .domain = domain, .known_id = known_id};
	ipcm_sts_query_send(rs.peer, &q);
}
