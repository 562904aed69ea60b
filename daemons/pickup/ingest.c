/*
 * ingest.c - pickup's side of smtpd. smtpd writes each message it
 * receives into a spool file of QDIR/incoming (the maildrop format, with
 * the client's fields) and asks, on private/pickup, for it to be queued
 * (M_INGEST_REQ); pickup takes the file through the same path as a
 * maildrop file -- checks, rewriting, normalisation, the group commit --
 * and answers M_INGEST_DONE only once the transaction holding it is
 * committed, or with why it is not. Keys are "/I/<file>". A small
 * message comes inline, in the request itself, and never touches the
 * file system before the queue: its key is "/M/<number>".
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "maildrop.h"
#include "pickup.h"
#include "proto.h"
#include "util.h"

#define INGEST_KEY_PREFIX "/I/"
#define INGEST_INLINE_PREFIX "/M/"
#define INGEST_NAME_MAX 200
#define INGEST_MAX_WAITING 100000 /* requests not yet answered, in all */
#define INGEST_INLINE_MAX (64 * 1024 * 1024) /* inline octets held */

/* One smtpd connection; its requests outlive it only as far as needed
 * to know that nobody waits for their answers any more. */
struct ingest_client {
	TAILQ_ENTRY(ingest_client) entry; /* while connected */
	struct ipc_peer *peer; /* NULL once closed */
	unsigned refs; /* requests not answered + 1 while connected */
};

/* A request not yet answered. */
struct ingest_req {
	RB_ENTRY(ingest_req) entry;
	char *key;
	uint64_t request;
	struct ingest_client *cl;
	char *data; /* an inline message, until ingest_read() takes it */
	size_t len;
};
RB_HEAD(ingest_reqs, ingest_req);
RB_PROTOTYPE(ingest_reqs, ingest_req, entry, ingest_req_cmp);

static int
ingest_req_cmp(struct ingest_req *a, struct ingest_req *b)
{
	return strcmp(a->key, b->key);
}
RB_GENERATE(ingest_reqs, ingest_req, entry, ingest_req_cmp);

static struct {
	int fd; /* QDIR/incoming, or -1 */
	int listen_fd;
	struct event *ev_accept;
	struct ingest_reqs reqs;
	size_t nreqs;
	int unsynced; /* a file was removed since the last fsync */
	int64_t size_limit;
	void (*take)(const char *key);
	TAILQ_HEAD(, ingest_client) clients;
	int full; /* the queue is full: smtpd refuses at MAIL */
	size_t inline_bytes; /* held for inline requests */
	uint64_t inline_seq;
} in = {.fd = -1, .listen_fd = -1};

int
ingest_owns(const char *key)
{
	return strncmp(key, INGEST_KEY_PREFIX, strlen(INGEST_KEY_PREFIX)) ==
	    0 ||
	    strncmp(key, INGEST_INLINE_PREFIX, strlen(INGEST_INLINE_PREFIX)) ==
	    0;
}

int
ingest_inline(const char *key)
{
	return strncmp(key, INGEST_INLINE_PREFIX,
	           strlen(INGEST_INLINE_PREFIX)) == 0;
}

static const char *
ingest_name(const char *key)
{
	return key + strlen(INGEST_KEY_PREFIX);
}

static void
ingest_client_unref(struct ingest_client *cl)
{
	if (--cl->refs == 0)
		free(cl);
}

static struct ingest_req *
ingest_find(const char *key)
{
	struct ingest_req k = {.key = (char *)key};

	return RB_FIND(ingest_reqs, &in.reqs, &k);
}

/* M_INGEST_DONE for one request. */
static void
ingest_send_done(struct ipc_peer *peer, uint64_t request, int code,
    uint64_t qid, const char *text)
{
	struct ipcm_ingest_done d = {.request = request,
	    .code = (uint32_t)code,
	    .qid = qid,
	    .text = text};

	ipcm_ingest_done_send(peer, &d);
}

void
ingest_answer(const char *key, int code, uint64_t qid, const char *text)
{
	struct ingest_req *r = ingest_find(key);

	if (r == NULL)
		return;
	if (r->cl->peer != NULL)
		ingest_send_done(r->cl->peer, r->request, code, qid, text);
	RB_REMOVE(ingest_reqs, &in.reqs, r);
	in.nreqs--;
	in.inline_bytes -= r->len;
	ingest_client_unref(r->cl);
	free(r->key);
	free(r->data);
	free(r);
}

/* The message of key, read whole and parsed: an inline one from its
 * request (a copy: the request keeps it until answered), otherwise its
 * spool file. smtpd wrote either, so it is checked as strictly as a
 * maildrop file. */
enum pk_read
ingest_read(const char *key, char **data, size_t *len, struct maildrop *md,
    const char **why)
{
	const char *err = NULL;
	struct ingest_req *r;
	struct stat st;
	int fd;

	if (ingest_inline(key)) {
		if ((r = ingest_find(key)) == NULL || r->data == NULL)
			return PK_READ_GONE;
		*data = xmalloc(r->len);
		memcpy(*data, r->data, r->len);
		*len = r->len;
	} else {
		fd = openat(in.fd, ingest_name(key),
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT)
			return PK_READ_GONE;
		if (fd == -1) {
			*why = "cannot open the spool file";
			return PK_READ_BAD;
		}
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    st.st_nlink != 1 ||
		    st.st_size > in.size_limit + PK_ENVELOPE_SLACK) {
			close(fd);
			*why = "not a regular spool file of a usable size";
			return PK_READ_BAD;
		}
		if (pk_read_all(fd, data, len, (size_t)st.st_size) == -1) {
			close(fd);
			*why = "cannot read the spool file";
			return PK_READ_BAD;
		}
		close(fd);
	}
	if (maildrop_parse(*data, *len, md, &err) == -1) {
		*why = err;
		return PK_READ_BAD;
	}
	return PK_READ_OK;
}

/* Queued (or refused): the file goes; its name is forgotten only after
 * ingest_sync() made that durable. An inline message has no file. */
void
ingest_remove(const char *key)
{
	if (ingest_inline(key))
		return;
	if (unlinkat(in.fd, ingest_name(key), 0) == -1 && errno != ENOENT)
		log_warn("cannot remove incoming/%s", ingest_name(key));
	in.unsynced = 1;
}

int
ingest_sync(void)
{
	if (in.fd == -1 || !in.unsynced)
		return 0;
	if (fsync(in.fd) == -1) {
		log_warn("fsync incoming");
		return -1;
	}
	in.unsynced = 0;
	return 0;
}

/* After a crash: a file of a key still in the drop table was queued. */
void
ingest_recovered(const char *key, const char *qid)
{
	if (ingest_inline(key))
		return;
	if (unlinkat(in.fd, ingest_name(key), 0) == 0)
		log_info("%s: incoming/%s was already queued; removed", qid,
		    ingest_name(key));
}

/* -- smtpd's requests ---------------------------------------------------------- */

/* A spool file's name as smtpd makes them: no path, no dot file. */
static int
ingest_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > INGEST_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (name[i] == '/' || (unsigned char)name[i] <= ' ' ||
		    name[i] == 0x7f)
			return 0;
	return 1;
}

/* FNV-1a of an inline message, which names it across resends. */
static uint64_t
ingest_digest(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 14695981039346656037ULL;

	while (n-- > 0)
		h = (h ^ *c++) * 1099511628211ULL;
	return h;
}

static void
ingest_refuse_quarantined(
    struct ingest_client *cl, uint64_t request, struct ingest_req *r)
{
	log_warnx(
	    "refusing %s: pickup exited while taking it, 3 times", r->key);
	ingest_send_done(cl->peer, request, 5, 0,
	    "554 5.3.0 Error: quarantined: the mail system "
	    "failed on this message 3 times");
	free(r->key);
	free(r);
}

/* Too much inline content held already: smtpd's client tries later. */
static void
ingest_busy(struct ingest_client *cl, uint64_t request)
{
	ingest_send_done(cl->peer, request, 4, 0,
	    "451 4.3.0 Error: too busy; try again later");
}

static void
ingest_on_req(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ingest_client *cl = arg;
	struct ipcm_ingest_req q;
	struct ingest_req *r;
	const char *name;
	size_t len;

	if (ipcm_ingest_req_get(m, &q) == -1)
		return;
	name = q.name;
	len = q.content_len;
	if (*name != '\0' ? !ingest_name_ok(name) || len != 0 : len == 0) {
		ipc_peer_error(p, "bad spool file name or inline message");
		return;
	}
	if (in.nreqs >= INGEST_MAX_WAITING) {
		ipc_peer_error(p, "too many requests waiting");
		return;
	}
	if (in.inline_bytes + len > INGEST_INLINE_MAX) {
		ingest_busy(cl, q.request);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	if (*name != '\0')
		xasprintf(&r->key, "%s%s", INGEST_KEY_PREFIX, name);
	else {
		/* the content's digest first: a message that makes pickup
		 * die is known again when its client sends it again */
		xasprintf(&r->key, "%s%016llx.%llu", INGEST_INLINE_PREFIX,
		    (unsigned long long)ingest_digest(q.content, len),
		    (unsigned long long)++in.inline_seq);
		if (pk_quarantined(r->key)) {
			ingest_refuse_quarantined(cl, q.request, r);
			return;
		}
		r->data = xmalloc(len);
		memcpy(r->data, q.content, len);
		r->len = len;
		in.inline_bytes += len;
	}
	r->request = q.request;
	if (RB_INSERT(ingest_reqs, &in.reqs, r) != NULL) {
		in.inline_bytes -= r->len;
		free(r->key);
		free(r->data);
		free(r);
		ipc_peer_error(p, "a spool file named twice");
		return;
	}
	r->cl = cl;
	cl->refs++;
	in.nreqs++;
	in.take(r->key);
}

static const struct ipc_handler ingest_table[] = {
    IPCM_ON(INGEST_REQ, ingest_on_req), {0, NULL, NULL}};

static void
ingest_send_state(struct ingest_client *cl)
{
	struct ipcm_ingest_state st = {.full = (uint32_t)in.full};

	ipcm_ingest_state_send(cl->peer, &st);
}

/* Whether the queue is full (pickup stops ingest): smtpd answers MAIL
 * with 452 while it is. */
void
ingest_full(int full)
{
	struct ingest_client *cl;

	if (full == in.full)
		return;
	in.full = full;
	TAILQ_FOREACH(cl, &in.clients, entry)
	ingest_send_state(cl);
}

void
ingest_batch(int begin)
{
	struct ingest_client *cl;

	TAILQ_FOREACH(cl, &in.clients, entry)
	{
		if (cl->peer == NULL)
			continue;
		if (begin)
			ipc_peer_cork(cl->peer);
		else
			ipc_peer_uncork(cl->peer);
	}
}

static void
ingest_closed(struct ipc_peer *p, void *arg)
{
	struct ingest_client *cl = arg;

	(void)p;
	TAILQ_REMOVE(&in.clients, cl, entry);
	cl->peer = NULL; /* its requests are still queued, unanswered */
	ingest_client_unref(cl);
}

static void
ingest_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct ingest_client *cl;
	int s;

	(void)ev;
	(void)arg;
	if ((s = ipc_accept(fd, "pickup")) == -1)
		return;
	cl = xcalloc(1, sizeof(*cl));
	cl->refs = 1;
	cl->peer = ipc_peer_new(
	    pickup_base(), s, "smtpd", ingest_table, 0, ingest_closed, cl);
	TAILQ_INSERT_TAIL(&in.clients, cl, entry);
	ingest_send_state(cl);
}

void
ingest_reload(const struct nc_config *cfg)
{
	in.size_limit = cfg->message_size_limit;
}

void
ingest_open(
    const struct nc_config *cfg, int qdir_fd, void (*take)(const char *key))
{
	int n;

	RB_INIT(&in.reqs);
	TAILQ_INIT(&in.clients);
	in.take = take;
	in.size_limit = cfg->message_size_limit;
	in.fd = openat(qdir_fd, "incoming",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in.fd == -1 && errno != ENOENT)
		log_warn("cannot open %s/incoming", cfg->queue_directory);
	/* private/pickup, from the master; absent when run by hand */
	in.listen_fd = daemon_listen_fds(&n);
	if (n < 1 || in.fd == -1)
		return;
	fd_nonblock(in.listen_fd);
	in.ev_accept = event_new(pickup_base(), in.listen_fd,
	    EV_READ | EV_PERSIST, ingest_accept, NULL);
	if (in.ev_accept == NULL)
		fatalx("event_new");
	event_add(in.ev_accept, NULL);
}
