/*
 * notify.c - qmgr's side of bounce and delay notices. Recipients that
 * failed for good wait in state "failed" until the bounce daemon has
 * committed the notice to the queue; only then do they become "bounced"
 * and may the message leave the queue. A lost request is asked again at
 * the message's next scan, so a notice is never lost (and is sent twice
 * only after a crash between the two commits).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "log.h"
#include "ipcmsg.h"
#include "notify.h"
#include "proto.h"
#include "store.h"
#include "util.h"

/*
 * One request stays well below the bounce daemon's 4 MiB frame limit
 * whatever the message: at most NOTIFY_MAX_RCPT recipients (more make
 * several notices, one after the other), each with at most
 * NOTIFY_TEXT_MAX octets of diagnostic, and 128 KiB of headers.
 */
#define NOTIFY_HEADERS_MAX (128 * 1024)
#define NOTIFY_MAX_RCPT 1000
#define NOTIFY_TEXT_MAX 1000

struct notify_req {
	TAILQ_ENTRY(notify_req) link;
	uint64_t id;
	uint64_t qid;
	uint32_t kind;
	uint32_t *rcpt; /* indices of the recipients reported */
	uint32_t n;
};

static struct {
	struct ipc_peer *peer;
	TAILQ_HEAD(, notify_req) pending;
	uint64_t next_id;
	int init;
} nt;

static void
notify_init(void)
{
	if (!nt.init) {
		TAILQ_INIT(&nt.pending);
		nt.init = 1;
	}
}

static void
req_free(struct notify_req *r)
{
	free(r->rcpt);
	free(r);
}

void
notify_attach(struct ipc_peer *p)
{
	notify_init();
	nt.peer = p;
	qm_kick();
}

/* The bounce daemon went away: the messages will ask again. A message
 * whose notice was pending each of QMGR_QUARANTINE_STRIKES times is held
 * (notify_failures), so one notice cannot keep the daemon dying. */
void
notify_detach(void)
{
	struct notify_req *r;
	struct qm_msg *m;

	notify_init();
	nt.peer = NULL;
	while ((r = TAILQ_FIRST(&nt.pending)) != NULL) {
		TAILQ_REMOVE(&nt.pending, r, link);
		if ((m = store_find(r->qid)) != NULL) {
			m->notify_pending = 0;
			m->notice_strikes++;
		}
		req_free(r);
	}
}

/* Text for the bounce daemon: no control character (it would refuse the
 * request), at most max octets; allocated. */
static char *
notify_text(const char *s, size_t max)
{
	char *t = xstrndup(s, max);

	log_printable(t);
	return t;
}

/* "host x[y] said: ..." -> "x"; "" when no remote host was involved. */
static void
remote_mta(const char *reason, char *out, size_t len)
{
	const char *p = strncmp(reason, "host ", 5) == 0 ? reason + 5 : NULL;
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	n = strcspn(p, "[ ");
	if (n < len) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

/* The recipient's status as the notice may carry it: a failure is not
 * 2.x.x, a delay is 4.x.x; anything else gets the default. */
static const char *
notify_status(uint32_t kind, const char *dsn)
{
	if (dsn_status_valid(dsn) &&
	    (kind == BOUNCE_K_FAILURE ? dsn[0] != '2' : dsn[0] == '4'))
		return dsn;
	return kind == BOUNCE_K_FAILURE ? "5.0.0" : "4.0.0";
}

static int
notify_send(struct qm_msg *m, uint32_t kind, int want_status)
{
	struct q_msg *rec = m->rec;
	struct notify_req *r;
	struct ipcm_bounce_req req;
	struct ipcm_bounce_rcpt *rr;
	char mta[256];
	uint32_t i;

	notify_init();
	if (nt.peer == NULL || m->notify_pending)
		return 0;
	r = xcalloc(1, sizeof(*r));
	r->id = ++nt.next_id;
	r->qid = m->qid;
	r->kind = kind;
	r->rcpt = xcalloc(rec->nrcpt ? rec->nrcpt : 1, sizeof(*r->rcpt));
	for (i = 0; i < rec->nrcpt && r->n < NOTIFY_MAX_RCPT; i++)
		if (rec->rcpt[i].status == want_status)
			r->rcpt[r->n++] = i;
	if (r->n == 0) {
		req_free(r);
		return 0;
	}
	rr = xcalloc(r->n, sizeof(*rr));
	for (i = 0; i < r->n; i++) {
		const struct q_rcpt *rc = &rec->rcpt[r->rcpt[i]];

		remote_mta(rc->reason, mta, sizeof(mta));
		rr[i] = (struct ipcm_bounce_rcpt){
		    .rcpt = notify_text(rc->addr, ADDR_MAX),
		    .orcpt = rc->orcpt != NULL && dsn_orcpt_valid(rc->orcpt)
		        ? rc->orcpt
		        : "",
		    .status = notify_status(kind, rc->dsn),
		    .action = kind == BOUNCE_K_FAILURE ? "failed" : "delayed",
		    .mta = notify_text(mta, sizeof(mta)),
		    .diag = notify_text(rc->reason, NOTIFY_TEXT_MAX)};
	}
	req = (struct ipcm_bounce_req){.request = r->id,
	    .qid = m->qid,
	    .kind = kind,
	    .sender = rec->sender,
	    .arrival = (double)rec->arrival_us / 1e6,
	    .headers = store_headers(m->qid, NOTIFY_HEADERS_MAX),
	    .envid = rec->envid,
	    .rcpts = rr,
	    .rcpts_n = r->n};
	ipcm_bounce_req_send(nt.peer, &req);
	for (i = 0; i < r->n; i++) {
		free((char *)rr[i].rcpt);
		free((char *)rr[i].mta);
		free((char *)rr[i].diag);
	}
	free(rr);
	free((char *)req.headers);
	TAILQ_INSERT_TAIL(&nt.pending, r, link);
	m->notify_pending = 1;
	return 1;
}

/* Failed recipients become bounced without a notice, with why. */
static void
notify_none(
    struct qm_msg *m, const uint32_t *which, uint32_t n, const char *why)
{
	char qid[NC_QID_LEN + 1];
	uint32_t i, k;

	qid_format(m->qid, qid);
	for (k = 0; k < (which != NULL ? n : m->rec->nrcpt); k++) {
		i = which != NULL ? which[k] : k;
		if (i >= m->rec->nrcpt || m->rec->rcpt[i].status != QR_FAILED)
			continue;
		m->rec->rcpt[i].status = QR_BOUNCED;
		log_info("%s: to=<%s>: %s, no notice", qid,
		    m->rec->rcpt[i].addr, why);
	}
	store_mark_dirty(m);
}

void
notify_failures(struct qm_msg *m)
{
	const char *sender = m->rec->sender;
	int wanted = q_dsn_wants(m->rec, DSN_NOTIFY_FAILURE);

	if (m->notice_strikes >= QMGR_QUARANTINE_STRIKES) {
		store_quarantine(m,
		    "the bounce daemon exited %d times while composing its "
		    "notice",
		    m->notice_strikes);
		return;
	}
	/* the null sender gets no notice: a bounce of a bounce is dropped;
	 * nor does a sender who asked for none (NOTIFY=NEVER, -N never),
	 * nor one no notice could be addressed to */
	if (*sender == '\0')
		notify_none(m, NULL, 0,
		    wanted ? "undeliverable mail from the null sender dropped"
		           : "the sender asked for no failure notice");
	else if (!wanted)
		notify_none(
		    m, NULL, 0, "the sender asked for no failure notice");
	else if (addr_has_control(sender, strlen(sender)) ||
	    strlen(sender) >= ADDR_MAX)
		notify_none(m, NULL, 0, "the sender address is unusable");
	else
		(void)notify_send(m, BOUNCE_K_FAILURE, QR_FAILED);
}

void
notify_delay(struct qm_msg *m)
{
	if (*m->rec->sender == '\0' || (m->rec->flags & QMSG_F_WARNED) ||
	    !q_dsn_wants(m->rec, DSN_NOTIFY_DELAY))
		return;
	if (notify_send(m, BOUNCE_K_DELAY, QR_DEFERRED)) {
		m->rec->flags |= QMSG_F_WARNED;
		store_mark_dirty(m);
	}
}

static struct notify_req *
req_find(uint64_t id)
{
	struct notify_req *r;

	TAILQ_FOREACH(r, &nt.pending, link)
	if (r->id == id)
		return r;
	return NULL;
}

void
notify_done(struct ipc_peer *p, struct ipc_msg *msg)
{
	struct ipcm_bounce_done d;
	struct notify_req *r;
	struct qm_msg *m;
	uint32_t i;

	if (ipcm_bounce_done_get(msg, &d) == -1) {
		ipc_peer_error(p, "malformed BOUNCE_DONE");
		return;
	}
	notify_init();
	if ((r = req_find(d.request)) == NULL) {
		ipc_peer_error(p, "answer to no request");
		return;
	}
	TAILQ_REMOVE(&nt.pending, r, link);
	if (d.qid != 0)
		(void)store_load_new(d.qid);
	m = store_find(r->qid);
	if (m != NULL)
		m->notify_pending = 0;
	if (d.code == BOUNCE_REFUSED && m != NULL && store_load(m, NULL) == 0) {
		log_warnx("%016llX: the bounce daemon refused its notice: %s",
		    (unsigned long long)r->qid, d.error);
		if (r->kind == BOUNCE_K_FAILURE)
			notify_none(m, r->rcpt, r->n, "the notice was refused");
		(void)store_settle(m);
	} else if (d.code != 0)
		log_warnx("bounce notice for %016llX not queued: %s; will "
		          "try again",
		    (unsigned long long)r->qid, d.error);
	else if (m != NULL && r->kind == BOUNCE_K_FAILURE &&
	    store_load(m, NULL) == 0) {
		for (i = 0; i < r->n; i++)
			if (r->rcpt[i] < m->rec->nrcpt &&
			    m->rec->rcpt[r->rcpt[i]].status == QR_FAILED)
				m->rec->rcpt[r->rcpt[i]].status = QR_BOUNCED;
		store_mark_dirty(m);
		/* more than one notice's worth: the next part now */
		notify_failures(m);
		(void)store_settle(m);
	}
	req_free(r);
	qm_kick();
}
