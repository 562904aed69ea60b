/*
 * list.c - one queue listing, in a child of showq (mail_owner, chrooted
 * to the queue directory): the caller's M_REQ_LIST, then an M_LIST_ITEM
 * for each message the caller may see and one M_REPLY. Writes block, each
 * for at most SHOWQ_SEND_TIMEOUT: a caller that stops reading loses its
 * connection, and nothing is buffered here beyond one frame.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "proto.h"
#include "queue.h"
#include "showq.h"
#include "util.h"

#define LIST_MAX_RECORD (IPC_MAX_FRAME_DEFAULT - 64) /* one M_LIST_ITEM */
#define LIST_MAX_BYTES (32 * 1024 * 1024) /* one listing */

struct list_ctx {
	int fd; /* the caller, blocking */
	uid_t uid; /* the caller (SO_PEERCRED) */
	int privileged; /* root, mail_owner, queue_view_group: every one */
	int state; /* -1: any */
	unsigned long items, cut, skipped;
	size_t bytes; /* sent to this caller so far */
	int full; /* stopped at LIST_MAX_BYTES */
	time_t deadline; /* SHOWQ_DEADLINE after the request */
	int late; /* stopped at the deadline */
	int broken; /* a write failed: the caller left or stopped reading */
};

static void
list_send(struct list_ctx *lc, struct ipc_buf *b)
{
	if (lc->broken) {
		ipc_buf_free(b);
		return;
	}
	if (ipc_send_blocking(lc->fd, b) == -1) {
		log_warnx("showq client uid %d: %s; listing abandoned",
		    (int)lc->uid,
		    errno == EAGAIN ? "not reading its listing"
		                    : strerror(errno));
		lc->broken = 1;
	}
}

static void
list_answer(struct list_ctx *lc, int code, const char *text)
{
	struct ipcm_reply r = {.code = (uint32_t)code, .text = text};
	struct ipc_buf b;

	ipcm_reply_encode(&b, &r);
	list_send(lc, &b);
}

/*
 * The record to send: only recipients still to be delivered (ncqshow
 * shows no others), and no more of them than fit in one frame (*cut set
 * when some were left out). Too big, the list is cut in proportion and
 * encoded again, so a huge message costs a few encodings, not one per
 * recipient.
 */
static int
list_encode(const struct q_msg *m, uint8_t **rec, size_t *len, int *cut)
{
	struct q_msg copy = *m;
	uint32_t i, n = 0;
	int rc;

	copy.rcpt = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*copy.rcpt));
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].status == QR_PENDING ||
		    m->rcpt[i].status == QR_DEFERRED)
			copy.rcpt[n++] = m->rcpt[i];
	copy.nrcpt = n;
	*cut = 0;
	while ((rc = q_msg_encode(&copy, rec, len)) == 0 &&
	    *len > LIST_MAX_RECORD) {
		free(*rec);
		if (copy.nrcpt == 0) {
			rc = QUEUE_EFORMAT;
			break;
		}
		n = (uint32_t)((uint64_t)copy.nrcpt * LIST_MAX_RECORD / *len *
		    9 / 10);
		copy.nrcpt = n < copy.nrcpt ? n : copy.nrcpt - 1;
		*cut = 1;
	}
	free(copy.rcpt);
	return rc;
}

/* queue_walk() callback: one M_LIST_ITEM if the caller may see m. */
static int
list_item(const struct q_msg *m, void *arg)
{
	struct list_ctx *lc = arg;
	struct ipcm_list_item it;
	struct ipc_buf b;
	uint8_t *rec;
	size_t len;
	int cut;

	if ((!lc->privileged && m->uid != (uint32_t)lc->uid) ||
	    (lc->state != -1 && m->state != lc->state))
		return 0;
	if (lc->bytes >= LIST_MAX_BYTES) {
		lc->full = 1;
		return 1;
	}
	if (time(NULL) > lc->deadline) {
		lc->late = 1;
		return 1;
	}
	if (list_encode(m, &rec, &len, &cut) != 0) {
		lc->skipped++;
		return 0;
	}
	lc->cut += (unsigned long)cut;
	it = (struct ipcm_list_item){
	    .qid = m->qid, .record = rec, .record_len = len};
	ipcm_list_item_encode(&b, &it);
	free(rec);
	lc->bytes += b.len;
	lc->items++;
	list_send(lc, &b);
	return lc->broken;
}

static int
list_ids(
    struct list_ctx *lc, struct queue_txn *t, const uint64_t *ids, uint32_t n)
{
	struct q_msg m;
	uint32_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = queue_get_msg(t, ids[i], &m)) != 0) {
			/* absent or unreadable: ncqshow says so */
			rc = rc == QUEUE_ENOTFOUND || rc == QUEUE_EFORMAT ||
			        rc == QUEUE_ENEWER
			    ? 0
			    : rc;
			continue;
		}
		rc = list_item(&m, lc);
		q_msg_free(&m);
	}
	return rc;
}

/* The closing M_REPLY: code 0, with what was left out (if anything). */
static void
list_reply(struct list_ctx *lc)
{
	char buf[512];
	size_t o = 0;

	buf[0] = '\0';
	if (lc->late)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "listing stopped after %lu messages (it took more than "
		    "%ds); select fewer with --state or queue IDs",
		    lc->items, SHOWQ_DEADLINE);
	if (lc->full)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "listing stopped after %lu messages (more than %d MB); "
		    "select fewer with --state or queue IDs",
		    lc->items, LIST_MAX_BYTES / (1024 * 1024));
	if (lc->cut && o < sizeof(buf))
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "%s%lu message%s listed with only part of %s recipients "
		    "(too many for one frame)",
		    o ? "; " : "", lc->cut, lc->cut == 1 ? "" : "s",
		    lc->cut == 1 ? "its" : "their");
	if (lc->skipped && o < sizeof(buf))
		(void)snprintf(buf + o, sizeof(buf) - o,
		    "%s%lu message%s too large to list", o ? "; " : "",
		    lc->skipped, lc->skipped == 1 ? "" : "s");
	list_answer(lc, 0, buf);
}

/*
 * Walk the queue in one read-only transaction, writing each item as it
 * is found. The transaction stays open while the caller reads: no item
 * is started after SHOWQ_DEADLINE, and LIST_MAX_BYTES bounds what one
 * listing may send.
 */
static void
list_run(
    struct list_ctx *lc, const char *dbpath, const uint64_t *ids, uint32_t n)
{
	struct queue *q;
	struct queue_txn *t;
	char *text;
	int rc;

	if ((rc = queue_open(&q, dbpath, 0, 1)) == 0) {
		if ((rc = queue_txn_begin(q, &t, 1)) == 0) {
			rc = n > 0 ? list_ids(lc, t, ids, n)
			           : queue_walk(t, list_item, lc);
			queue_txn_abort(t);
		}
		queue_close(q);
	}
	if (lc->broken)
		return;
	if (rc < 0) {
		log_warnx("listing the queue: %s", queue_strerror(rc));
		xasprintf(
		    &text, "cannot read the queue: %s", queue_strerror(rc));
		list_answer(lc, 1, text);
		free(text);
		return;
	}
	list_reply(lc);
}

static void
list_bad_request(const struct list_ctx *lc, const char *why)
{
	log_warnx("protocol error from showq client uid %d: %s; closing",
	    (int)lc->uid, why);
}

/*
 * The request: only the state and the IDs are applied here; ncqshow
 * applies its other filters itself.
 */
static void
list_request(struct list_ctx *lc, struct ipc_msg *m, const char *dbpath)
{
	struct ipcm_req_list req;
	struct ipcm_qid q;
	uint64_t *ids;
	uint32_t n = 0;

	/* the flags, the domain and the sender are ncqshow's to apply */
	if (ipcm_req_list_get(m, &req) == -1) {
		list_bad_request(lc, "bad id count (REQ_LIST)");
		return;
	}
	ids = xcalloc(req.ids_n ? req.ids_n : 1, sizeof(*ids));
	while (ipcm_qid_next(&req.ids_rd, &q))
		ids[n++] = q.qid;
	if (*req.state != '\0' && (lc->state = q_state_parse(req.state)) < 0)
		list_answer(lc, 1, "unknown state");
	else
		list_run(lc, dbpath, ids, n);
	free(ids);
}

void
list_serve(int fd, uid_t uid, int privileged, const char *dbpath)
{
	struct list_ctx lc = {
	    .fd = fd, .uid = uid, .privileged = privileged, .state = -1};
	struct timeval tv = {SHOWQ_SEND_TIMEOUT, 0};
	struct ipc_msg m;
	uint8_t *payload;
	uint32_t type;
	size_t len;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		log_warn("showq: SO_SNDTIMEO");
		return;
	}
	if (ipc_recv_blocking(fd, IPC_MAX_FRAME_DEFAULT, &type, &payload, &len,
	        SHOWQ_REQUEST_TIMEOUT * 1000) == -1) {
		if (errno == ETIMEDOUT)
			log_warnx("showq client uid %d: no request in %ds; "
			          "closing",
			    (int)uid, SHOWQ_REQUEST_TIMEOUT);
		else if (errno == EMSGSIZE)
			list_bad_request(&lc, "oversized frame");
		return;
	}
	lc.deadline = time(NULL) + SHOWQ_DEADLINE;
	ipc_msg_init(&m, type, payload, len);
	if (type != M_REQ_LIST) {
		char why[64];

		snprintf(why, sizeof(why), "unknown message type %u", type);
		list_bad_request(&lc, why);
	} else
		list_request(&lc, &m, dbpath);
	free(payload);
}
