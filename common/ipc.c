/*
 * ipc.c - framing for every ncmta socket: typed, length-prefixed frames,
 * encoded with ipc_add_*() and checked field by field with ipc_get_*().
 * All protocol errors end in peer_fail(): logged, peer closed, the
 * process carries on.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

struct ipc_peer {
	struct bufferevent *bev;
	char *name;
	const struct ipc_handler *table;
	size_t max_frame;
	ipc_close_fn *on_close;
	void *arg;
	int in_dispatch; /* a handler is running: defer the free */
	int doomed; /* close once the handler returns */
	int closing; /* close when the output buffer drains */
	char *why;
	size_t max_unsent; /* ipc_peer_set_limits(); 0: no cap */
	int idle_secs; /* 0: no idle time-out */
	int read_paused; /* output waits: the next frame is not read yet */
	struct event *idle_ev;
	struct event *kill_ev; /* closes a peer over its cap from the loop */
	ipc_drain_fn *on_drain; /* everything queued was written */
	int corked; /* ipc_peer_cork() depth: frames wait in cork */
	struct evbuffer *cork; /* made at the first cork */
	struct event *round_ev; /* ipc_peer_cork_round()'s uncork */
	int round_corked;
};

/* ---- encoding ---- */

static void
buf_reserve(struct ipc_buf *b, size_t more)
{
	size_t want = b->len + more;

	if (want <= b->cap)
		return;
	while (b->cap < want)
		b->cap = b->cap ? b->cap * 2 : 256;
	b->data = xreallocarray(b->data, b->cap, 1);
}

static void
buf_put(struct ipc_buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
ipc_buf_init(struct ipc_buf *b, uint32_t type)
{
	uint32_t hdr[2] = {0, htonl(type)};

	memset(b, 0, sizeof(*b));
	buf_put(b, hdr, sizeof(hdr));
}

void
ipc_add_u32(struct ipc_buf *b, uint32_t v)
{
	v = htonl(v);
	buf_put(b, &v, sizeof(v));
}

void
ipc_add_u64(struct ipc_buf *b, uint64_t v)
{
	ipc_add_u32(b, (uint32_t)(v >> 32));
	ipc_add_u32(b, (uint32_t)v);
}

void
ipc_add_double(struct ipc_buf *b, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	ipc_add_u64(b, v);
}

void
ipc_add_data(struct ipc_buf *b, const void *p, size_t n)
{
	ipc_add_u32(b, (uint32_t)n);
	buf_put(b, p, n);
}

void
ipc_add_str(struct ipc_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	ipc_add_u32(b, (uint32_t)n);
	buf_put(b, s ? s : "", n);
	buf_put(b, "", 1);
}

void
ipc_buf_finish(struct ipc_buf *b)
{
	uint32_t len = htonl((uint32_t)(b->len - IPC_HDR_LEN));

	memcpy(b->data, &len, sizeof(len));
}

void
ipc_buf_free(struct ipc_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
ipc_buf_reserve(struct ipc_buf *b, size_t n)
{
	buf_reserve(b, n);
}

void
ipc_buf_wipe(struct ipc_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	ipc_buf_free(b);
}

/* ---- decoding ---- */

void
ipc_msg_init(struct ipc_msg *m, uint32_t type, const uint8_t *p, size_t len)
{
	m->type = type;
	m->data = p;
	m->len = len;
	m->pos = 0;
	m->error = 0;
}

static const uint8_t *
msg_take(struct ipc_msg *m, size_t n)
{
	const uint8_t *p;

	if (m->error || n > m->len - m->pos) {
		m->error = 1;
		return NULL;
	}
	p = m->data + m->pos;
	m->pos += n;
	return p;
}

uint32_t
ipc_get_u32(struct ipc_msg *m)
{
	const uint8_t *p = msg_take(m, 4);
	uint32_t v;

	if (p == NULL)
		return 0;
	memcpy(&v, p, 4);
	return ntohl(v);
}

uint64_t
ipc_get_u64(struct ipc_msg *m)
{
	uint64_t hi = ipc_get_u32(m), v = hi << 32 | ipc_get_u32(m);

	return m->error ? 0 : v; /* no half value from a short payload */
}

double
ipc_get_double(struct ipc_msg *m)
{
	uint64_t v = ipc_get_u64(m);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

const void *
ipc_get_data(struct ipc_msg *m, size_t *len)
{
	uint32_t n = ipc_get_u32(m);
	const uint8_t *p = msg_take(m, n);

	*len = p ? n : 0;
	return p;
}

const char *
ipc_get_str(struct ipc_msg *m)
{
	uint32_t n = ipc_get_u32(m);
	const uint8_t *p;

	if (m->error || n == UINT32_MAX)
		return (m->error = 1, "");
	if ((p = msg_take(m, (size_t)n + 1)) == NULL)
		return "";
	/* the terminator must be there and the string must not hide a NUL */
	if (p[n] != '\0' || memchr(p, '\0', n) != NULL) {
		m->error = 1;
		return "";
	}
	return (const char *)p;
}

int
ipc_msg_done(struct ipc_msg *m)
{
	return !m->error && m->pos == m->len;
}

void
ipc_msg_wipe(struct ipc_msg *m)
{
	/* the payload points into the peer's writable input buffer */
	if (m->len > 0)
		explicit_bzero((void *)(uintptr_t)m->data, m->len);
}

int
ipc_hdr_parse(
    const uint8_t hdr[IPC_HDR_LEN], size_t max, uint32_t *len, uint32_t *type)
{
	uint32_t v[2];

	memcpy(v, hdr, sizeof(v));
	*len = ntohl(v[0]);
	*type = ntohl(v[1]);
	return *len > max ? -1 : 0;
}

/* ---- event-driven peers ---- */

static void
peer_free(struct ipc_peer *p)
{
	ipc_close_fn *cb = p->on_close;
	void *arg = p->arg;

	p->on_close = NULL;
	if (cb != NULL)
		cb(p, arg);
	if (p->idle_ev != NULL)
		event_free(p->idle_ev);
	if (p->kill_ev != NULL)
		event_free(p->kill_ev);
	if (p->round_ev != NULL)
		event_free(p->round_ev);
	bufferevent_free(p->bev);
	if (p->cork != NULL)
		evbuffer_free(p->cork);
	free(p->name);
	free(p->why);
	free(p);
}

static void
peer_fail(struct ipc_peer *p, const char *why)
{
	log_warnx("protocol error from %s: %s; closing", p->name, why);
	if (p->in_dispatch) {
		p->doomed = 1;
		return;
	}
	peer_free(p);
}

void
ipc_peer_error(struct ipc_peer *p, const char *why)
{
	if (!p->in_dispatch) {
		peer_fail(p, why);
		return;
	}
	if (p->why == NULL)
		p->why = xstrdup(why);
	p->doomed = 1;
}

static const struct ipc_handler *
peer_lookup(struct ipc_peer *p, uint32_t type)
{
	const struct ipc_handler *h;

	for (h = p->table; h->fn != NULL; h++)
		if (h->type == type)
			return h;
	return NULL;
}

/* A frame was handled: the idle time-out starts again. */
static void
peer_touch(struct ipc_peer *p)
{
	struct timeval tv = {p->idle_secs, 0};

	if (p->idle_ev != NULL && p->idle_secs > 0)
		evtimer_add(p->idle_ev, &tv);
}

static void peer_kill_cb(evutil_socket_t, short, void *);

/* Over its cap outside a handler: the caller may still hold p, so the
 * loop frees it. Nothing more is read or written meanwhile. */
static void
peer_close_soon(struct ipc_peer *p)
{
	if (p->kill_ev == NULL &&
	    (p->kill_ev = evtimer_new(
	         bufferevent_get_base(p->bev), peer_kill_cb, p)) == NULL)
		fatalx("evtimer_new");
	bufferevent_disable(p->bev, EV_READ | EV_WRITE);
	p->doomed = 1;
	if (!p->in_dispatch)
		event_active(p->kill_ev, EV_TIMEOUT, 1);
}

static void
peer_check_unsent(struct ipc_peer *p)
{
	size_t n = ipc_peer_pending(p);

	if (p->max_unsent == 0 || n <= p->max_unsent || p->doomed)
		return;
	log_warnx("%s: %zu bytes of output unread (at most %zu); closing",
	    p->name, n, p->max_unsent);
	peer_close_soon(p);
}

/* With a cap on unsent output, the next frame is taken only once the
 * answers to the last one are written: a client that sends without
 * reading fills its own socket, not our memory. */
static int
peer_hold_input(struct ipc_peer *p)
{
	if (p->max_unsent == 0 || ipc_peer_pending(p) == 0)
		return 0;
	bufferevent_disable(p->bev, EV_READ);
	p->read_paused = 1;
	return 1;
}

/* Run one frame's handler; returns -1 when the peer is gone. */
static int
peer_dispatch(
    struct ipc_peer *p, uint32_t type, const uint8_t *payload, uint32_t len)
{
	const struct ipc_handler *h = peer_lookup(p, type);
	struct ipc_msg m;
	char why[64];

	if (h == NULL) {
		snprintf(why, sizeof(why), "unknown message type %u", type);
		peer_fail(p, why);
		return -1;
	}
	ipc_msg_init(&m, type, payload, len);
	p->in_dispatch = 1;
	h->fn(p, &m, p->arg);
	/* still "in dispatch": ipc_peer_error() must only mark the peer */
	if (!p->doomed && !ipc_msg_done(&m))
		ipc_peer_error(p, "malformed message");
	p->in_dispatch = 0;
	if (p->doomed) {
		if (p->why != NULL) {
			snprintf(why, sizeof(why), "%s (%s)", p->why, h->name);
			peer_fail(p, why);
		} else
			peer_free(p);
		return -1;
	}
	peer_touch(p);
	return 0;
}

static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[IPC_HDR_LEN], *frame;
	uint32_t len, type;

	while (evbuffer_get_length(in) >= IPC_HDR_LEN) {
		if (peer_hold_input(p))
			return;
		evbuffer_copyout(in, hdr, IPC_HDR_LEN);
		if (ipc_hdr_parse(hdr, p->max_frame, &len, &type) == -1) {
			peer_fail(p, "oversized frame");
			return;
		}
		if (evbuffer_get_length(in) < (size_t)IPC_HDR_LEN + len)
			return;
		frame = evbuffer_pullup(in, (ssize_t)(IPC_HDR_LEN + len));
		if (frame == NULL)
			fatalx("evbuffer_pullup");
		if (peer_dispatch(p, type, frame + IPC_HDR_LEN, len) == -1)
			return;
		evbuffer_drain(in, IPC_HDR_LEN + len);
	}
}

static void
peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_peer *p = arg;

	if (p->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		peer_free(p);
		return;
	}
	if (p->read_paused && !p->doomed && ipc_peer_pending(p) == 0) {
		p->read_paused = 0;
		bufferevent_enable(bev, EV_READ);
		peer_read_cb(
		    bev, p); /* frames already read wait in the input */
		return; /* the read may have freed p */
	}
	if (p->on_drain != NULL && !p->doomed && ipc_peer_pending(p) == 0)
		p->on_drain(p, p->arg);
}

void
ipc_peer_on_drain(struct ipc_peer *p, ipc_drain_fn *fn)
{
	p->on_drain = fn;
}

static void
peer_idle_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_peer *p = arg;

	(void)fd;
	(void)ev;
	log_warnx(
	    "%s: no request handled in %ds; closing", p->name, p->idle_secs);
	peer_free(p);
}

static void
peer_kill_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	peer_free(arg);
}

static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_peer *p = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_debug("%s: %s", p->name, strerror(errno));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		peer_free(p);
}

struct ipc_peer *
ipc_peer_new(struct event_base *base, int fd, const char *name,
    const struct ipc_handler *table, size_t max_frame, ipc_close_fn *on_close,
    void *arg)
{
	struct ipc_peer *p = xcalloc(1, sizeof(*p));

	fd_nonblock(fd);
	fd_cloexec(fd);
	p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL)
		fatalx("bufferevent_socket_new");
	p->name = xstrdup(name);
	p->table = table;
	p->max_frame = max_frame ? max_frame : IPC_MAX_FRAME_DEFAULT;
	p->on_close = on_close;
	p->arg = arg;
	bufferevent_setcb(
	    p->bev, peer_read_cb, peer_write_cb, peer_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	return p;
}

void
ipc_peer_send(struct ipc_peer *p, struct ipc_buf *b)
{
	if (p->doomed) { /* closing: nothing more goes out */
		ipc_buf_free(b);
		return;
	}
	ipc_buf_finish(b);
	if (p->corked > 0) {
		if (evbuffer_add(p->cork, b->data, b->len) == -1)
			log_warnx(
			    "%s: cannot queue %zu bytes", p->name, b->len);
	} else if (ipc_bev_write(p->bev, b->data, b->len) == -1)
		log_warnx("%s: cannot queue %zu bytes", p->name, b->len);
	ipc_buf_free(b);
	peer_check_unsent(p);
}

void
ipc_peer_cork(struct ipc_peer *p)
{
	if (p->cork == NULL && (p->cork = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	p->corked++;
}

static void
round_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_peer *p = arg;

	(void)fd;
	(void)ev;
	p->round_corked = 0;
	ipc_peer_uncork(p);
}

void
ipc_peer_cork_round(struct ipc_peer *p)
{
	if (p->round_corked)
		return;
	if (p->round_ev == NULL &&
	    (p->round_ev = event_new(
	         bufferevent_get_base(p->bev), -1, 0, round_cb, p)) == NULL)
		fatalx("event_new");
	p->round_corked = 1;
	ipc_peer_cork(p);
	/* queued behind the callbacks that are ready now */
	event_active(p->round_ev, EV_TIMEOUT, 0);
}

/* The frames held back go out in one write (the rest, if the socket does
 * not take it all, is moved to the bufferevent without a copy). */
void
ipc_peer_uncork(struct ipc_peer *p)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);
	evutil_socket_t fd = bufferevent_getfd(p->bev);

	if (p->corked == 0 || --p->corked > 0 ||
	    evbuffer_get_length(p->cork) == 0)
		return;
	if (p->doomed) {
		evbuffer_drain(p->cork, evbuffer_get_length(p->cork));
		return;
	}
	if (fd >= 0 && evbuffer_get_length(out) == 0 &&
	    (bufferevent_get_enabled(p->bev) & EV_WRITE))
		(void)evbuffer_write(p->cork, fd);
	if (evbuffer_get_length(p->cork) > 0 &&
	    bufferevent_write_buffer(p->bev, p->cork) == -1)
		log_warnx("%s: cannot queue %zu bytes", p->name,
		    evbuffer_get_length(p->cork));
	if (p->closing && ipc_peer_pending(p) == 0)
		peer_close_soon(p); /* all written: no write callback comes */
	else
		peer_check_unsent(p);
}

/*
 * bufferevent_write(), but with nothing queued before them the bytes go
 * straight to the socket: no turn of the loop, no two epoll_ctl() calls
 * to switch write events on and off for each frame or reply. What the
 * socket does not take now, and any error, is left to the bufferevent.
 * For a plain socket bufferevent only (not a TLS filter).
 */
int
ipc_bev_write(struct bufferevent *bev, const void *data, size_t len)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	ssize_t n = 0;

	if (fd >= 0 && len > 0 &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    (bufferevent_get_enabled(bev) & EV_WRITE)) {
		n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			n = 0;
	}
	if ((size_t)n == len)
		return 0;
	return bufferevent_write(bev, (const uint8_t *)data + n, len - n);
}

static void
peer_secret_written(const void *data, size_t len, void *arg)
{
	(void)arg;
	explicit_bzero((void *)(uintptr_t)data, len);
	free((void *)(uintptr_t)data);
}

void
ipc_peer_send_secret(struct ipc_peer *p, struct ipc_buf *b)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);

	if (p->doomed) {
		ipc_buf_wipe(b);
		return;
	}
	ipc_buf_finish(b);
	/* bytes past len were never written: wiping len bytes is enough */
	if (evbuffer_add_reference(
	        out, b->data, b->len, peer_secret_written, NULL) == -1) {
		log_warnx("%s: cannot queue %zu bytes", p->name, b->len);
		ipc_buf_wipe(b);
		return;
	}
	memset(b, 0, sizeof(*b)); /* the output buffer owns the data now */
	peer_check_unsent(p);
}

size_t
ipc_peer_pending(struct ipc_peer *p)
{
	return evbuffer_get_length(bufferevent_get_output(p->bev)) +
	    (p->cork != NULL ? evbuffer_get_length(p->cork) : 0);
}

void
ipc_peer_set_limits(struct ipc_peer *p, size_t max_unsent, int idle_secs)
{
	struct event_base *base = bufferevent_get_base(p->bev);

	p->max_unsent = max_unsent;
	p->idle_secs = idle_secs;
	if (p->kill_ev == NULL &&
	    (p->kill_ev = evtimer_new(base, peer_kill_cb, p)) == NULL)
		fatalx("evtimer_new");
	if (idle_secs > 0 && p->idle_ev == NULL &&
	    (p->idle_ev = evtimer_new(base, peer_idle_cb, p)) == NULL)
		fatalx("evtimer_new");
	if (idle_secs > 0)
		peer_touch(p);
	else if (p->idle_ev != NULL)
		evtimer_del(p->idle_ev);
}

void
ipc_peer_set_arg(struct ipc_peer *p, void *arg)
{
	p->arg = arg;
}

const char *
ipc_peer_name(struct ipc_peer *p)
{
	return p->name;
}

int
ipc_peer_fd(struct ipc_peer *p)
{
	return (int)bufferevent_getfd(p->bev);
}

void
ipc_peer_close(struct ipc_peer *p)
{
	if (p->in_dispatch) {
		p->doomed = 1;
		return;
	}
	peer_free(p);
}

void
ipc_peer_close_after_flush(struct ipc_peer *p)
{
	p->closing = 1;
	bufferevent_disable(p->bev, EV_READ);
	if (ipc_peer_pending(p) == 0 && !p->in_dispatch)
		peer_free(p);
}

/* ---- blocking clients ---- */

int
ipc_send_blocking(int fd, struct ipc_buf *b)
{
	int r;

	ipc_buf_finish(b);
	r = write_all(fd, b->data, b->len);
	ipc_buf_free(b);
	return r;
}

static int
read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if (timeout_ms >= 0 && poll(&pfd, 1, timeout_ms) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ipc_recv_blocking(int fd, size_t max, uint32_t *type, uint8_t **payload,
    size_t *len, int timeout_ms)
{
	uint8_t hdr[IPC_HDR_LEN];
	uint32_t n;

	if (read_full(fd, hdr, sizeof(hdr), timeout_ms) == -1)
		return -1;
	if (ipc_hdr_parse(hdr, max, &n, type) == -1) {
		errno = EMSGSIZE;
		return -1;
	}
	*payload = xmalloc(n ? n : 1);
	if (read_full(fd, *payload, n, timeout_ms) == -1) {
		free(*payload);
		*payload = NULL;
		return -1;
	}
	*len = n;
	return 0;
}

/* ---- sockets ---- */

/*
 * A socket address holds at most 107 bytes of path, and queue_directory
 * may be longer: every socket is bound and connected by its name alone,
 * relative to a descriptor on its directory, which is made the working
 * directory for that one call (every ncmta process is single-threaded).
 * A working directory that cannot be opened to come back to (a command
 * run in a directory it may not search) is left alone: the directory is
 * then named through /proc/self/fd.
 */
enum sock_op { SOCK_BIND, SOCK_CONNECT };

static int
sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
sock_call(int s, enum sock_op op, const char *path)
{
	struct sockaddr_un sun;

	if (sun_fill(&sun, path) == -1)
		return -1;
	if (op == SOCK_BIND)
		return bind(s, (struct sockaddr *)&sun, sizeof(sun));
	return connect(s, (struct sockaddr *)&sun, sizeof(sun));
}

static int
sock_at(int s, enum sock_op op, int dirfd, const char *name)
{
	char alias[64];
	int cwd, r, saved;

	if (strchr(name, '/') != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (dirfd == AT_FDCWD)
		return sock_call(s, op, name);
	if ((cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(alias, sizeof(alias), "/proc/self/fd/%d/", dirfd);
		if (strlen(alias) + strlen(name) >= sizeof(alias)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strlcat(alias, name, sizeof(alias));
		return sock_call(s, op, alias);
	}
	if (fchdir(dirfd) == -1) {
		saved = errno;
		close(cwd);
		errno = saved;
		return -1;
	}
	r = sock_call(s, op, name);
	saved = errno;
	if (fchdir(cwd) == -1)
		fatal("cannot return to the working directory");
	close(cwd);
	errno = saved;
	return r;
}

int
ipc_listen_at(int dirfd, const char *name, int mode)
{
	mode_t old;
	int fd, r, saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)unlinkat(dirfd, name, 0); /* a stale socket of an earlier run */
	/* the mode comes from the umask as bind() creates the socket: no
	 * chmod by name afterwards */
	old = umask(0777 & ~(mode_t)mode);
	r = sock_at(fd, SOCK_BIND, dirfd, name);
	saved = errno;
	umask(old);
	if (r == -1 || listen(fd, 128) == -1) {
		saved = r == -1 ? saved : errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
ipc_connect_at(int dirfd, const char *name)
{
	int fd, saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (sock_at(fd, SOCK_CONNECT, dirfd, name) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* The directory of path, opened for *at() calls, and its last name. */
static int
sock_dir(const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (slash == NULL) {
		*name = path;
		return AT_FDCWD;
	}
	*name = slash + 1;
	dir = slash == path ? xstrdup("/")
	                    : xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	return fd == -1 ? -2 : fd;
}

static int
sock_by_path(const char *path, int listen_mode)
{
	const char *name;
	int dirfd, fd, saved;

	if ((dirfd = sock_dir(path, &name)) == -2)
		return -1;
	fd = listen_mode >= 0 ? ipc_listen_at(dirfd, name, listen_mode)
	                      : ipc_connect_at(dirfd, name);
	saved = errno;
	if (dirfd >= 0)
		close(dirfd);
	errno = saved;
	return fd;
}

int
ipc_listen(const char *path, int mode)
{
	return sock_by_path(path, mode & 0777);
}

int
ipc_connect(const char *path)
{
	return sock_by_path(path, -1);
}

void
ipc_ignore(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)arg;
	m->pos = m->len;
}

int
ipc_accept(int listen_fd, const char *what)
{
	int s;

	if ((s = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) == -1 &&
	    errno != EAGAIN && errno != EINTR)
		log_warn("%s: accept", what);
	return s;
}
