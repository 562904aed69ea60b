/*
 * ipc_test.c - the framing layer (common/ipc.c): field encoding and
 * strict decoding, header limits, event-driven peers fed whole, batched
 * and byte-by-byte frames, protocol errors that close only the offending
 * peer, and the blocking helpers used by the command-line clients.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tap.h"
#include "ipc.h"
#include "util.h"

enum {
	T_NUM = 1,
	T_STR = 2,
	T_BLOB = 3,
	T_REJECT = 4,
	T_ECHO = 5,
	T_SECRET = 6
};

/* What the handlers saw; one per peer under test. */
struct seen {
	int nums, strs, blobs, closed;
	uint64_t sum;
	uint32_t first_nums[4]; /* values of the first T_NUM frames, in order */
	char last_str[64];
	size_t last_blob;
	int wiped; /* T_SECRET: the payload was all zero after the wipe */
	struct ipc_peer *peer;
};

/* ---- encoding and decoding without an event loop ---- */

static void
payload_of(struct ipc_buf *b, struct ipc_msg *m)
{
	uint32_t len, type;

	ipc_buf_finish(b);
	ipc_hdr_parse(b->data, SIZE_MAX, &len, &type);
	ipc_msg_init(m, type, b->data + IPC_HDR_LEN, len);
}

static void
test_round_trip(void)
{
	const uint8_t blob[] = {0, 1, 2, 0, 0xff, 0x80};
	struct ipc_buf b;
	struct ipc_msg m;
	const void *d;
	size_t dlen = 99;
	uint32_t len, type;

	ipc_buf_init(&b, 0xabcd0123);
	ipc_add_u32(&b, 0);
	ipc_add_u32(&b, 0xdeadbeef);
	ipc_add_u32(&b, UINT32_MAX);
	ipc_add_u64(&b, 0x0102030405060708ULL);
	ipc_add_u64(&b, UINT64_MAX);
	ipc_add_double(&b, -1234.5625);
	ipc_add_double(&b, 1e300);
	ipc_add_str(&b, "hello, world");
	ipc_add_str(&b, "");
	ipc_add_str(&b, NULL);
	ipc_add_str(&b, "caf\xc3\xa9");
	ipc_add_data(&b, blob, sizeof(blob));
	ipc_add_data(&b, NULL, 0);
	ipc_buf_finish(&b);
	ok(ipc_hdr_parse(b.data, SIZE_MAX, &len, &type) == 0, "header parses");
	is_int(type, 0xabcd0123, "type survives");
	is_int(len, b.len - IPC_HDR_LEN, "header length is the payload length");

	ipc_msg_init(&m, type, b.data + IPC_HDR_LEN, len);
	is_int(ipc_get_u32(&m), 0, "u32 0");
	is_int(ipc_get_u32(&m), 0xdeadbeef, "u32 0xdeadbeef");
	is_int(ipc_get_u32(&m), UINT32_MAX, "u32 max");
	ok(ipc_get_u64(&m) == 0x0102030405060708ULL, "u64 byte order");
	ok(ipc_get_u64(&m) == UINT64_MAX, "u64 max");
	ok(ipc_get_double(&m) == -1234.5625, "negative double");
	ok(ipc_get_double(&m) == 1e300, "large double");
	is_str(ipc_get_str(&m), "hello, world", "string");
	is_str(ipc_get_str(&m), "", "empty string");
	is_str(ipc_get_str(&m), "", "NULL is sent as the empty string");
	is_str(ipc_get_str(&m), "caf\xc3\xa9", "bytes > 127 in a string");
	d = ipc_get_data(&m, &dlen);
	ok(d != NULL && dlen == sizeof(blob) && memcmp(d, blob, dlen) == 0,
	    "binary data with NULs");
	ipc_get_data(&m, &dlen);
	is_int(dlen, 0, "zero-length data");
	ok(!m.error, "no getter failed");
	ok(ipc_msg_done(&m), "whole payload consumed");
	ipc_buf_free(&b);
	ok(b.data == NULL && b.len == 0, "ipc_buf_free resets the buffer");
}

static void
test_past_end(void)
{
	struct ipc_buf b;
	struct ipc_msg m;
	size_t dlen = 7;

	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 42);
	payload_of(&b, &m);
	is_int(ipc_get_u32(&m), 42, "the one field is there");
	is_int(ipc_get_u32(&m), 0, "a second u32 reads as 0");
	ok(m.error, "and sets the error");
	ok(!ipc_msg_done(&m), "msg_done false after a failed getter");

	payload_of(&b, &m);
	ok(ipc_get_u64(&m) == 0 && m.error, "u64 from 4 bytes fails");
	payload_of(&b, &m);
	ok(ipc_get_double(&m) == 0 && m.error, "double from 4 bytes fails");

	/* the u32 says 42 bytes of data follow; there are none */
	payload_of(&b, &m);
	ok(ipc_get_data(&m, &dlen) == NULL && dlen == 0 && m.error,
	    "data longer than the payload fails");
	payload_of(&b, &m);
	is_str(ipc_get_str(&m), "", "string longer than the payload is \"\"");
	ok(m.error, "and sets the error");

	/* errors are sticky: later fields are not read */
	ipc_buf_free(&b);
	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 1);
	ipc_add_u32(&b, 2);
	payload_of(&b, &m);
	ipc_get_u64(&m);
	ipc_get_u64(&m);
	is_int(ipc_get_u32(&m), 0, "getters return 0 once an error is set");
	ipc_buf_free(&b);

	ipc_msg_init(&m, T_NUM, (const uint8_t *)"", 0);
	ok(ipc_msg_done(&m), "an empty payload is done at once");
	ipc_get_u32(&m);
	ok(m.error && !ipc_msg_done(&m), "reading from it fails");
}

static void
test_trailing(void)
{
	struct ipc_buf b;
	struct ipc_msg m;

	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 1);
	ipc_add_u32(&b, 2);
	payload_of(&b, &m);
	ipc_get_u32(&m);
	ok(!m.error, "first field fine");
	ok(!ipc_msg_done(&m), "msg_done false with trailing bytes");
	ipc_get_u32(&m);
	ok(ipc_msg_done(&m), "done once everything is read");
	ipc_buf_free(&b);
}

/* A raw payload: u32 length then the given bytes. */
static struct ipc_msg *
raw_str(struct ipc_msg *m, uint8_t *buf, uint32_t n, const void *p, size_t plen)
{
	uint32_t be = htonl(n);

	memcpy(buf, &be, 4);
	memcpy(buf + 4, p, plen);
	ipc_msg_init(m, T_STR, buf, 4 + plen);
	return m;
}

static void
test_bad_strings(void)
{
	struct ipc_msg m;
	uint8_t buf[64];

	is_str(ipc_get_str(raw_str(&m, buf, 5, "hello\0", 6)), "hello",
	    "well-formed raw string");
	ok(ipc_msg_done(&m), "consumed");
	ipc_get_str(raw_str(&m, buf, 5, "hello", 5));
	ok(m.error, "missing NUL at the end of the payload is rejected");
	ipc_get_str(raw_str(&m, buf, 5, "helloX\0", 7));
	ok(m.error, "a non-NUL byte where the NUL belongs is rejected");
	ipc_get_str(raw_str(&m, buf, 5, "he\0lo\0", 6));
	ok(m.error, "an embedded NUL is rejected");
	ipc_get_str(raw_str(&m, buf, 0, "\0", 1));
	ok(!m.error && ipc_msg_done(&m), "zero-length string with its NUL");
	ipc_get_str(raw_str(&m, buf, 0, "", 0));
	ok(m.error, "zero-length string without its NUL is rejected");
	ipc_get_str(raw_str(&m, buf, UINT32_MAX, "abc\0", 4));
	ok(m.error, "length 0xffffffff is rejected (no wrap-around)");
	ipc_get_str(raw_str(&m, buf, UINT32_MAX - 1, "abc\0", 4));
	ok(m.error, "huge length is rejected");
}

static void
test_hdr(void)
{
	uint8_t hdr[IPC_HDR_LEN];
	uint32_t v[2], len = 0, type = 0;

	v[0] = htonl(1024);
	v[1] = htonl(77);
	memcpy(hdr, v, sizeof(v));
	is_int(ipc_hdr_parse(hdr, 1024, &len, &type), 0, "length == max ok");
	is_int(len, 1024, "length");
	is_int(type, 77, "type");
	is_int(ipc_hdr_parse(hdr, 1023, &len, &type), -1, "length > max fails");
	v[0] = htonl(UINT32_MAX);
	memcpy(hdr, v, sizeof(v));
	is_int(ipc_hdr_parse(hdr, IPC_MAX_FRAME_DEFAULT, &len, &type), -1,
	    "length 0xffffffff fails against the default limit");
}

/* ---- event-driven peers ---- */

static void
h_num(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct seen *s = arg;
	uint32_t v;

	(void)p;
	v = ipc_get_u32(m);
	s->sum += v;
	if (m->error)
		return;
	if (s->nums < (int)(sizeof(s->first_nums) / sizeof(s->first_nums[0])))
		s->first_nums[s->nums] = v;
	s->nums++;
}

static void
h_str(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct seen *s = arg;
	const char *str = ipc_get_str(m);

	(void)p;
	if (m->error)
		return;
	strlcpy(s->last_str, str, sizeof(s->last_str));
	s->strs++;
}

static void
h_blob(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct seen *s = arg;
	size_t n;

	(void)p;
	if (ipc_get_data(m, &n) != NULL) {
		s->last_blob = n;
		s->blobs++;
	}
}

/* A well-framed message whose content the handler refuses. */
static void
h_reject(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)arg;
	if (ipc_get_u32(m) != 1)
		ipc_peer_error(p, "value must be 1");
}

static void
h_echo(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipc_buf b;
	const char *str = ipc_get_str(m);

	(void)arg;
	if (m->error)
		return;
	ipc_buf_init(&b, T_ECHO);
	ipc_add_str(&b, str);
	ipc_peer_send(p, &b);
}

/* Echo a password the way the master answers a worker: sent by
 * reference and wiped, and the received payload wiped after use. */
static void
h_secret(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct seen *s = arg;
	struct ipc_buf b;
	const char *str = ipc_get_str(m);
	size_t i;

	if (m->error)
		return;
	ipc_buf_init(&b, T_SECRET);
	ipc_buf_reserve(&b, 5 + strlen(str));
	ipc_add_str(&b, str);
	strlcpy(s->last_str, str, sizeof(s->last_str));
	ipc_msg_wipe(m);
	for (i = 0; i < m->len && m->data[i] == 0; i++)
		;
	s->wiped = i == m->len;
	ipc_peer_send_secret(p, &b);
	if (b.data != NULL || b.len != 0)
		s->wiped = 0;
}

static const struct ipc_handler handlers[] = {{T_NUM, "NUM", h_num},
    {T_STR, "STR", h_str}, {T_BLOB, "BLOB", h_blob},
    {T_REJECT, "REJECT", h_reject}, {T_ECHO, "ECHO", h_echo},
    {T_SECRET, "SECRET", h_secret}, {0, NULL, NULL}};

static void
on_close(struct ipc_peer *p, void *arg)
{
	struct seen *s = arg;

	(void)p;
	s->closed++;
	s->peer = NULL;
}

/* A peer on one end of a socketpair; the test writes to *raw. */
static void
peer_pair(struct event_base *base, struct seen *s, size_t max, int *raw)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	s->peer = ipc_peer_new(base, sv[0], "test", handlers, max, on_close, s);
	*raw = sv[1];
}

/* Run the loop until cond is true or about two seconds passed. */
#define RUN_UNTIL(base, cond)                                                  \
	do {                                                                   \
		int i_;                                                        \
		for (i_ = 0; i_ < 2000 && !(cond); i_++) {                     \
			event_base_loop((base), EVLOOP_NONBLOCK);              \
			if (!(cond))                                           \
				usleep(1000);                                  \
		}                                                              \
	} while (0)

/* Run the loop for ms milliseconds of the clock (not a count of
 * naps: on a loaded machine each nap takes longer than asked). */
#define RUN_FOR(base, ms)                                                      \
	do {                                                                   \
		uint64_t end_ = now_usec() + 1000 * (uint64_t)(ms);            \
		while (now_usec() < end_) {                                    \
			event_base_loop((base), EVLOOP_NONBLOCK);              \
			usleep(1000);                                          \
		}                                                              \
	} while (0)

/* Write everything, letting the loop drain the socket in between. */
static void
feed(struct event_base *base, int fd, const uint8_t *p, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	ssize_t n;

	fd_nonblock(fd);
	while (len > 0) {
		n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN && errno != EINTR)
			return; /* peer closed on us: the test checks why */
		event_base_loop(base, EVLOOP_NONBLOCK);
		(void)poll(&pfd, 1, 1);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Append bytes to a growing byte string. */
static void
append_bytes(struct ipc_buf *all, const uint8_t *p, size_t len)
{
	if (all->cap < all->len + len) {
		all->cap = all->len + len;
		all->data = xreallocarray(all->data, all->cap, 1);
	}
	memcpy(all->data + all->len, p, len);
	all->len += len;
}

/* Append one finished frame to a growing byte string. */
static void
append_frame(struct ipc_buf *all, struct ipc_buf *b)
{
	ipc_buf_finish(b);
	append_bytes(all, b->data, b->len);
	ipc_buf_free(b);
}

static void
num_frame(struct ipc_buf *all, uint32_t v)
{
	struct ipc_buf b;

	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, v);
	append_frame(all, &b);
}

static void
str_frame(struct ipc_buf *all, const char *v)
{
	struct ipc_buf b;

	ipc_buf_init(&b, T_STR);
	ipc_add_str(&b, v);
	append_frame(all, &b);
}

/* One T_STR frame, written at once. */
static void
str_frame_now(struct event_base *base, int fd, const char *v)
{
	struct ipc_buf all = {NULL, 0, 0};

	str_frame(&all, v);
	feed(base, fd, all.data, all.len);
	free(all.data);
}

/* Is the other end closed (EOF on read)? */
static int
raw_sees_eof(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&pfd, 1, 1000) != 1)
		return 0;
	return read(fd, &c, 1) == 0;
}

/* What was sent before the close, then the end of the stream. */
static int
raw_drain_to_eof(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char buf[8192];
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, 1000) != 1)
			return 0;
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			return n == 0;
	}
}

static void
test_peer_batched(struct event_base *base)
{
	struct ipc_buf all = {NULL, 0, 0};
	struct seen s;
	int fd, i;

	peer_pair(base, &s, 0, &fd);
	for (i = 1; i <= 10; i++)
		num_frame(&all, (uint32_t)i);
	str_frame(&all, "last");
	ok(write_all(fd, all.data, all.len) == 0, "11 frames in one write");
	RUN_UNTIL(base, s.strs == 1);
	is_int(s.nums, 10, "all ten numbers dispatched");
	is_int(s.sum, 55, "in full");
	is_str(s.last_str, "last", "and the string after them");
	is_int(s.closed, 0, "peer still open");
	ipc_peer_close(s.peer);
	is_int(s.closed, 1, "ipc_peer_close runs the close callback");
	event_base_loop(base, EVLOOP_NONBLOCK); /* libevent closes the fd */
	ok(raw_sees_eof(fd), "and closes the socket");
	close(fd);
	free(all.data);
}

static void
test_peer_bytewise(struct event_base *base)
{
	struct ipc_buf all = {NULL, 0, 0};
	struct seen s;
	size_t i;
	int fd, early = 0;

	peer_pair(base, &s, 0, &fd);
	num_frame(&all, 7);
	str_frame(&all, "split");
	num_frame(&all, 8);
	for (i = 0; i < all.len; i++) {
		if (write_all(fd, all.data + i, 1) == -1)
			break;
		event_base_loop(base, EVLOOP_NONBLOCK);
		/* the first frame is 12 bytes: nothing may run before */
		if (i < 11 && s.nums != 0)
			early = 1;
	}
	RUN_UNTIL(base, s.nums == 2);
	ok(!early, "no handler runs on a partial frame");
	is_int(s.nums, 2, "numbers written byte by byte arrive");
	is_int(s.sum, 15, "with their values");
	is_str(s.last_str, "split", "string written byte by byte arrives");
	is_int(s.closed, 0, "peer still open");
	ipc_peer_close(s.peer);
	close(fd);
	free(all.data);
}

/*
 * Two good frames, then bytes that must make the peer close, then two more
 * good frames: the ones before run, in order; none after does. bad_nums is
 * how many T_NUM handlers the bad frame itself completes (a frame with
 * trailing bytes is handled before the leftover is seen).
 */
static void
expect_close(struct event_base *base, size_t max, struct ipc_buf *bad,
    int bad_nums, const char *what)
{
	struct ipc_buf all = {NULL, 0, 0};
	struct seen s;
	int fd;

	peer_pair(base, &s, max, &fd);
	num_frame(&all, 40);
	num_frame(&all, 2);
	append_bytes(&all, bad->data, bad->len);
	num_frame(&all, 1000); /* must never be dispatched */
	str_frame(&all, "after"); /* nor this */
	feed(base, fd, all.data, all.len);
	RUN_UNTIL(base, s.closed);
	is_int(s.closed, 1, "%s: peer closed, close callback ran once", what);
	ok(s.first_nums[0] == 40 && s.first_nums[1] == 2,
	    "%s: the frames before it were dispatched, in order", what);
	is_int(s.nums, 2 + bad_nums, "%s: no number frame after it ran", what);
	is_int(s.strs, 0, "%s: no string frame after it ran", what);
	ok(raw_sees_eof(fd), "%s: the other end sees EOF", what);
	close(fd);
	free(all.data);
	free(bad->data);
	memset(bad, 0, sizeof(*bad));
}

static void
test_peer_errors(struct event_base *base)
{
	struct ipc_buf all = {NULL, 0, 0}, b;
	struct seen by;
	uint32_t hdr[2];
	int byfd;

	/* a peer that does nothing wrong, open through all the errors */
	peer_pair(base, &by, 0, &byfd);

	ipc_buf_init(&b, 99);
	ipc_add_u32(&b, 1);
	append_frame(&all, &b);
	expect_close(base, 0, &all, 0, "unknown type");

	/* T_NUM wants a u32; give it two bytes */
	ipc_buf_init(&b, T_NUM);
	ipc_add_data(&b, "", 0);
	b.len -= 2;
	append_frame(&all, &b);
	expect_close(base, 0, &all, 0, "short payload");

	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 1);
	ipc_add_u32(&b, 2);
	append_frame(&all, &b);
	expect_close(base, 0, &all, 1, "trailing bytes");

	ipc_buf_init(&b, T_STR);
	ipc_add_u32(&b, 3); /* a 3-byte string... */
	ipc_add_u32(&b, 0); /* ...whose bytes are NULs */
	append_frame(&all, &b);
	expect_close(base, 0, &all, 0, "bad string");

	ipc_buf_init(&b, T_REJECT);
	ipc_add_u32(&b, 2);
	append_frame(&all, &b);
	expect_close(base, 0, &all, 0, "handler calls ipc_peer_error");

	/* only a header: the peer must not wait for 1025 bytes */
	hdr[0] = htonl(1025);
	hdr[1] = htonl(T_BLOB);
	append_bytes(&all, (const uint8_t *)hdr, sizeof(hdr));
	expect_close(base, 1024, &all, 0, "oversized frame");

	/* the event loop and the other peer live on */
	num_frame(&all, 9);
	feed(base, byfd, all.data, all.len);
	free(all.data);
	RUN_UNTIL(base, by.nums == 1);
	is_int(by.nums, 1,
	    "a peer open through every protocol error still "
	    "dispatches");
	is_int(by.closed, 0, "and is still open");
	ipc_peer_close(by.peer);
	close(byfd);
}

static void
test_peer_max(struct event_base *base)
{
	struct ipc_buf b;
	struct seen s;
	uint8_t *big;
	int fd;

	peer_pair(base, &s, 1024, &fd);
	big = xcalloc(1, IPC_MAX_FRAME_DEFAULT);
	ipc_buf_init(&b, T_BLOB);
	ipc_add_data(&b, big, 1024 - 4); /* payload exactly 1024 */
	ipc_buf_finish(&b);
	feed(base, fd, b.data, b.len);
	ipc_buf_free(&b);
	RUN_UNTIL(base, s.blobs == 1);
	is_int(s.blobs, 1, "frame exactly at a 1024-byte limit passes");
	is_int(s.last_blob, 1020, "with its data");
	is_int(s.closed, 0, "peer still open");
	ipc_peer_close(s.peer);
	close(fd);

	peer_pair(base, &s, 0, &fd);
	ipc_buf_init(&b, T_BLOB);
	ipc_add_data(&b, big, IPC_MAX_FRAME_DEFAULT - 4);
	ipc_buf_finish(&b);
	feed(base, fd, b.data, b.len);
	ipc_buf_free(&b);
	RUN_UNTIL(base, s.blobs == 1);
	is_int(
	    s.blobs, 1, "frame exactly at the default limit (256 KiB) passes");
	is_int(s.last_blob, IPC_MAX_FRAME_DEFAULT - 4, "with all its data");
	is_int(s.closed, 0, "peer still open");

	ipc_buf_init(&b, T_BLOB);
	ipc_add_data(&b, big, IPC_MAX_FRAME_DEFAULT - 3);
	ipc_buf_finish(&b);
	feed(base, fd, b.data, b.len);
	ipc_buf_free(&b);
	RUN_UNTIL(base, s.closed);
	is_int(s.blobs, 1, "one byte over the default limit is not dispatched");
	is_int(s.closed, 1, "and closes the peer");
	close(fd);
	free(big);
}

static int
readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

static void
test_peer_send(struct event_base *base)
{
	struct ipc_buf b;
	struct ipc_msg m;
	struct seen s;
	uint8_t *payload = NULL;
	uint32_t type = 0;
	size_t len = 0;
	int fd;

	peer_pair(base, &s, 0, &fd);
	ok(ipc_peer_fd(s.peer) >= 0, "peer has a descriptor");
	is_str(ipc_peer_name(s.peer), "test", "peer name");
	ipc_buf_init(&b, T_ECHO);
	ipc_add_str(&b, "ping");
	ok(ipc_send_blocking(fd, &b) == 0, "blocking send");
	RUN_UNTIL(base, readable(fd));
	ok(ipc_recv_blocking(fd, 1024, &type, &payload, &len, 1000) == 0,
	    "blocking receive of the peer's answer");
	is_int(type, T_ECHO, "answer type");
	ipc_msg_init(&m, type, payload, len);
	is_str(ipc_get_str(&m), "ping", "answer content");
	ok(ipc_msg_done(&m), "answer well-formed");
	free(payload);

	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 3);
	ipc_peer_send(s.peer, &b);
	ipc_peer_close_after_flush(s.peer);
	RUN_UNTIL(base, s.closed);
	is_int(s.closed, 1, "close_after_flush closes");
	payload = NULL;
	ok(ipc_recv_blocking(fd, 1024, &type, &payload, &len, 1000) == 0 &&
	        type == T_NUM && len == 4,
	    "but the queued frame is delivered first");
	free(payload);
	payload = NULL;
	ok(ipc_recv_blocking(fd, 1024, &type, &payload, &len, 1000) == -1,
	    "then EOF");
	ok(payload == NULL, "no payload left allocated on EOF");
	close(fd);
}

/* Corked frames wait, in order, until the outermost uncork sends them in
 * one write; the held bytes count as pending; a doomed peer drops them. */
static void
test_peer_cork(struct event_base *base)
{
	struct ipc_buf b;
	struct seen s;
	uint8_t *payload = NULL;
	uint32_t type = 0, i, v;
	size_t len = 0, pending;
	int fd, good = 1;

	peer_pair(base, &s, 0, &fd);
	ipc_peer_cork(s.peer);
	ipc_peer_cork(s.peer); /* nested */
	for (i = 0; i < 3; i++) {
		ipc_buf_init(&b, T_NUM);
		ipc_add_u32(&b, 100 + i);
		ipc_peer_send(s.peer, &b);
	}
	pending = ipc_peer_pending(s.peer);
	is_int((int)pending, 3 * (IPC_HDR_LEN + 4), "corked bytes are pending");
	RUN_FOR(base, 20);
	ok(!readable(fd), "nothing written while corked");
	ipc_peer_uncork(s.peer);
	RUN_FOR(base, 20);
	ok(!readable(fd), "nothing written before the outermost uncork");
	ipc_peer_uncork(s.peer);
	ok(readable(fd), "the outermost uncork writes at once");
	is_int(
	    (int)ipc_peer_pending(s.peer), 0, "all of it taken by the socket");
	for (i = 0; i < 3; i++) {
		payload = NULL;
		if (ipc_recv_blocking(fd, 1024, &type, &payload, &len, 1000) !=
		        0 ||
		    type != T_NUM || len != 4)
			good = 0;
		else {
			memcpy(&v, payload, 4);
			good &= ntohl(v) == 100 + i;
		}
		free(payload);
	}
	ok(good, "three frames, whole and in order");
	ipc_peer_uncork(s.peer); /* one too many: no effect */
	ok(!readable(fd), "an unmatched uncork sends nothing");

	ipc_peer_cork(s.peer);
	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 7);
	ipc_peer_send(s.peer, &b);
	ipc_peer_close_after_flush(s.peer);
	ipc_peer_uncork(s.peer);
	RUN_UNTIL(base, s.closed);
	is_int(s.closed, 1, "a corked peer closes after its flush");
	close(fd);
}

/* A timer that sends a frame to the peer of its argument, as a handler
 * that answers in the same round of the event loop would. */
static void
round_send_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_buf b;

	(void)fd;
	(void)ev;
	ipc_peer_cork_round(arg);
	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 9);
	ipc_peer_send(arg, &b);
}

static void
test_peer_cork_round(struct event_base *base)
{
	struct event *ev[3];
	struct ipc_buf b;
	struct seen s;
	uint8_t *payload = NULL;
	uint32_t type = 0;
	size_t len = 0;
	int fd, i, n = 0;

	peer_pair(base, &s, 0, &fd);
	ipc_peer_cork_round(s.peer);
	ipc_peer_cork_round(s.peer); /* once per round */
	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 8);
	ipc_peer_send(s.peer, &b);
	ok(!readable(fd) && ipc_peer_pending(s.peer) == IPC_HDR_LEN + 4,
	    "corked for the round: held back");
	/* three callbacks ready at once, each sending a frame */
	for (i = 0; i < 3; i++) {
		ev[i] = event_new(base, -1, 0, round_send_cb, s.peer);
		event_active(ev[i], EV_TIMEOUT, 0);
	}
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ok(readable(fd), "written once the ready callbacks have run");
	is_int((int)ipc_peer_pending(s.peer), 0, "nothing left behind");
	while (ipc_recv_blocking(fd, 1024, &type, &payload, &len, 100) == 0) {
		n++;
		free(payload);
		payload = NULL;
		if (n == 4)
			break;
	}
	is_int(n, 4, "the four frames of the round, whole");
	ipc_buf_init(&b, T_NUM);
	ipc_add_u32(&b, 10);
	ipc_peer_send(s.peer, &b);
	ok(readable(fd), "after the round, frames go out at once again");
	for (i = 0; i < 3; i++)
		event_free(ev[i]);
	ipc_peer_close(s.peer);
	close(fd);
}

/* Frames that carry passwords: reserved up front, wiped after use. */
static void
test_secret(struct event_base *base)
{
	struct ipc_buf b;
	struct ipc_msg m;
	struct seen s;
	uint8_t *payload = NULL, *before;
	uint32_t type = 0;
	size_t len = 0;
	int fd, i;

	ipc_buf_init(&b, T_SECRET);
	ipc_buf_reserve(&b, 4000);
	before = b.data;
	for (i = 0; i < 1000; i++)
		ipc_add_u32(&b, (uint32_t)i);
	ok(b.data == before && b.cap >= b.len,
	    "reserved room: adding fields never moves the data");
	ipc_buf_wipe(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0, "wipe frees and resets");

	peer_pair(base, &s, 0, &fd);
	ipc_buf_init(&b, T_SECRET);
	ipc_add_str(&b, "hunter2");
	ok(ipc_send_blocking(fd, &b) == 0, "send a secret frame");
	RUN_UNTIL(base, readable(fd));
	ok(s.wiped,
	    "handler's payload zeroed by ipc_msg_wipe, buf handed "
	    "over by ipc_peer_send_secret");
	is_str(s.last_str, "hunter2", "handler read it before the wipe");
	ok(ipc_recv_blocking(fd, 1024, &type, &payload, &len, 1000) == 0,
	    "the frame sent by reference arrives");
	ipc_msg_init(&m, type, payload, len);
	is_str(ipc_get_str(&m), "hunter2", "intact");
	ok(type == T_SECRET && ipc_msg_done(&m), "well-formed");
	free(payload);

	/* queued but never written: dropped (and wiped) with the peer */
	ipc_buf_init(&b, T_SECRET);
	ipc_add_str(&b, "hunter3");
	ipc_peer_send_secret(s.peer, &b);
	ok(ipc_peer_pending(s.peer) == 20 && b.data == NULL,
	    "a queued secret frame counts as pending");
	ipc_peer_close(s.peer);
	is_int(s.closed, 1, "peer closed with the frame still queued");
	close(fd);
}

/* ---- blocking helpers without a loop ---- */

static void
test_blocking(void)
{
	struct ipc_buf b;
	struct ipc_msg m;
	uint8_t *payload = NULL;
	uint32_t type = 0, hdr[2];
	size_t len = 0;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	ipc_buf_init(&b, 42);
	ipc_add_u64(&b, 0x1122334455667788ULL);
	ipc_add_str(&b, "x");
	ok(ipc_send_blocking(sv[1], &b) == 0, "send");
	ok(b.data == NULL, "send frees the buffer");
	ok(ipc_recv_blocking(sv[0], 1024, &type, &payload, &len, -1) == 0,
	    "receive without a timeout");
	is_int(type, 42, "type");
	ipc_msg_init(&m, type, payload, len);
	ok(ipc_get_u64(&m) == 0x1122334455667788ULL, "u64");
	is_str(ipc_get_str(&m), "x", "str");
	ok(ipc_msg_done(&m), "done");
	free(payload);

	ipc_buf_init(&b, 43);
	ok(ipc_send_blocking(sv[1], &b) == 0, "empty frame sent");
	payload = NULL;
	ok(ipc_recv_blocking(sv[0], 1024, &type, &payload, &len, 1000) == 0 &&
	        type == 43 && len == 0,
	    "empty frame received");
	free(payload);

	ipc_buf_init(&b, 44);
	ipc_add_data(&b, "0123456789", 10);
	ipc_send_blocking(sv[1], &b);
	payload = NULL;
	errno = 0;
	ok(ipc_recv_blocking(sv[0], 8, &type, &payload, &len, 1000) == -1 &&
	        errno == EMSGSIZE,
	    "frame over the receiver's limit: EMSGSIZE");
	ok(payload == NULL, "nothing allocated for it");
	close(sv[0]);
	close(sv[1]);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	errno = 0;
	ok(ipc_recv_blocking(sv[0], 1024, &type, &payload, &len, 50) == -1 &&
	        errno == ETIMEDOUT,
	    "nothing to read: times out");
	hdr[0] = htonl(100);
	hdr[1] = htonl(45);
	write_all(sv[1], hdr, sizeof(hdr));
	write_all(sv[1], "half", 4);
	close(sv[1]);
	payload = NULL;
	ok(ipc_recv_blocking(sv[0], 1024, &type, &payload, &len, 1000) == -1,
	    "frame cut short by EOF fails");
	ok(payload == NULL, "and frees its payload");
	close(sv[0]);
}

static void
test_unix_sockets(void)
{
	char dir[] = "/tmp/ipc_test.XXXXXX", path[128];
	struct stat st;
	int lfd, cfd, afd;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/sock", dir);
	lfd = ipc_listen(path, 0660);
	ok(lfd >= 0, "listen on a Unix socket");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0660,
	    "socket has the requested mode");
	close(lfd);
	lfd = ipc_listen(path, 0600);
	ok(lfd >= 0, "listen again over a stale socket");
	cfd = ipc_connect(path);
	ok(cfd >= 0, "connect");
	afd = accept(lfd, NULL, NULL);
	ok(afd >= 0, "accept");
	close(afd);
	close(cfd);
	close(lfd);
	unlink(path);
	ok(ipc_connect(path) == -1, "connect to a missing socket fails");
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ok(ipc_listen(path, 0600) == -1 && errno == ENAMETOOLONG,
	    "a socket name longer than a socket address holds is refused");
	rmdir(dir);
}

/* A queue_directory deeper than a socket address holds (108 bytes). */
static void
test_deep_sockets(void)
{
	char base[] = "/tmp/ipc_test.XXXXXX", path[512], cwd[512], now[512];
	char *name = "a-directory-name-of-forty-characters-xxx";
	struct stat st;
	int i, lfd, cfd, afd, dfd;

	if (mkdtemp(base) == NULL || getcwd(cwd, sizeof(cwd)) == NULL)
		abort();
	strlcpy(path, base, sizeof(path));
	for (i = 0; i < 5; i++) {
		strlcat(path, "/", sizeof(path));
		strlcat(path, name, sizeof(path));
		if (mkdir(path, 0700) == -1)
			abort();
	}
	strlcat(path, "/sock", sizeof(path));
	ok(strlen(path) > 200, "socket path of %zu bytes", strlen(path));
	lfd = ipc_listen(path, 0620);
	ok(lfd >= 0, "listen on it");
	ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	        (st.st_mode & 0777) == 0620,
	    "the socket is there, with its mode from the umask");
	cfd = ipc_connect(path);
	ok(cfd >= 0, "connect to it");
	afd = accept(lfd, NULL, NULL);
	ok(afd >= 0, "and the listener accepts");
	close(afd);
	close(cfd);
	ok(getcwd(now, sizeof(now)) != NULL && strcmp(now, cwd) == 0,
	    "the working directory is as before");

	*strrchr(path, '/') = '\0';
	dfd = open(path, O_PATH | O_DIRECTORY);
	cfd = ipc_connect_at(dfd, "sock");
	ok(cfd >= 0, "connect by directory descriptor and name");
	afd = accept(lfd, NULL, NULL);
	close(afd);
	close(cfd);
	ok(ipc_connect_at(dfd, "missing") == -1 && errno == ENOENT,
	    "a missing socket: ENOENT");
	ok(ipc_connect_at(dfd, "../sock") == -1 && errno == EINVAL,
	    "a name with a slash is refused");
	close(lfd);
	ok(unlinkat(dfd, "sock", 0) == 0, "socket removed");
	close(dfd);
	for (i = 0; i < 5; i++) {
		rmdir(path);
		*strrchr(path, '/') = '\0';
	}
	rmdir(base);
}

/* ---- limits for untrusted peers ---- */

/* Send echo requests without reading the answers, for about ms
 * milliseconds (the loop runs in between); returns how many were
 * written whole. */
static int
flood_echo(struct event_base *base, int fd, int ms)
{
	struct ipc_buf b;
	char text[1000];
	size_t off = 0;
	ssize_t n;
	int sent = 0, i;

	memset(text, 'e', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	ipc_buf_init(&b, T_ECHO);
	ipc_add_str(&b, text);
	ipc_buf_finish(&b);
	fd_nonblock(fd);
	for (i = 0; i < ms; i++) {
		while ((n = write(fd, b.data + off, b.len - off)) > 0) {
			off += (size_t)n;
			if (off == b.len) {
				off = 0;
				sent++;
			}
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ipc_buf_free(&b);
	return sent;
}

/* Read and count whole echo answers until none comes for 200 ms. */
static int
drain_echo(struct event_base *base, int fd)
{
	uint8_t buf[65536];
	size_t got = 0, frame = 0;
	ssize_t n;
	int quiet = 0;

	while (quiet < 200) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if ((n = read(fd, buf, sizeof(buf))) > 0) {
			got += (size_t)n;
			quiet = 0;
		} else {
			usleep(1000);
			quiet++;
		}
	}
	frame = IPC_HDR_LEN + 4 + 1000;
	return (int)(got / frame);
}

static void
test_peer_limits(struct event_base *base)
{
	static const char text[300];
	struct ipc_buf b;
	struct seen s;
	size_t queued;
	int fd, i, sent, answered;

	/* output queued outside any handler: closed once over the cap.
	 * What the socket takes at once is sent, not queued: fill it. */
	peer_pair(base, &s, 0, &fd);
	for (i = 0; i < 100000 && ipc_peer_pending(s.peer) == 0; i++) {
		ipc_buf_init(&b, T_BLOB);
		ipc_add_data(&b, text, 300);
		ipc_peer_send(s.peer, &b);
	}
	queued = ipc_peer_pending(s.peer);
	ok(queued > 0 && queued <= 312,
	    "frames go straight to the socket until it is full (%d sent)", i);
	ipc_peer_set_limits(s.peer, queued + 1000, 0);
	for (i = 0; i < 3; i++) {
		ipc_buf_init(&b, T_BLOB);
		ipc_add_data(&b, text, 300);
		ipc_peer_send(s.peer, &b);
	}
	ok(s.closed == 0 && ipc_peer_pending(s.peer) == queued + 3 * 312,
	    "under the cap: still open, 936 more bytes queued");
	ipc_buf_init(&b, T_BLOB);
	ipc_add_data(&b, text, 100);
	ipc_peer_send(s.peer, &b);
	ipc_buf_init(&b, T_STR);
	ipc_add_str(&b, "dropped");
	ipc_peer_send(s.peer, &b);
	is_int(s.closed, 0, "over the cap: not freed under the caller");
	RUN_UNTIL(base, s.closed);
	is_int(s.closed, 1, "but closed from the loop");
	ok(raw_drain_to_eof(fd), "the client sees the connection closed");
	close(fd);

	/* a client that sends without reading: its requests wait in the
	 * kernel, and only as much output as one answer is held here */
	peer_pair(base, &s, 0, &fd);
	ipc_peer_set_limits(s.peer, 64 * 1024, 0);
	sent = flood_echo(base, fd, 500);
	ok(s.closed == 0, "a client that does not read is not closed");
	ok(ipc_peer_pending(s.peer) <= 64 * 1024,
	    "output held for it stays under the cap (%zu bytes)",
	    ipc_peer_pending(s.peer));
	ok(sent < 2000, "its requests back up into its own socket (%d sent)",
	    sent);
	answered = drain_echo(base, fd);
	ok(answered == sent,
	    "once it reads, every request is answered (%d of %d)", answered,
	    sent);
	ok(s.closed == 0, "and the peer stays open");
	ipc_peer_close(s.peer);
	close(fd);

	/* idle: closed when no frame came for the time-out */
	peer_pair(base, &s, 0, &fd);
	ipc_peer_set_limits(s.peer, 0, 1);
	for (i = 0; i < 7; i++) { /* a request every 0.3 s keeps it open */
		str_frame_now(base, fd, "still here");
		RUN_FOR(base, 300);
	}
	ok(s.closed == 0 && s.strs == 7, "a peer that talks stays open");
	RUN_FOR(base, 1000);
	RUN_UNTIL(base, s.closed);
	is_int(s.closed, 1, "one silent for the time-out is closed");
	close(fd);
}

int
main(void)
{
	struct event_base *base;

	/* a peer closed on a protocol error: later writes get EPIPE */
	signal(SIGPIPE, SIG_IGN);
	test_round_trip();
	test_past_end();
	test_trailing();
	test_bad_strings();
	test_hdr();

	if ((base = event_base_new()) == NULL)
		abort();
	test_peer_batched(base);
	test_peer_bytewise(base);
	test_peer_errors(base);
	test_peer_max(base);
	test_peer_send(base);
	test_peer_cork(base);
	test_peer_cork_round(base);
	test_peer_limits(base);
	test_secret(base);
	event_base_free(base);

	test_blocking();
	test_unix_sockets();
	test_deep_sockets();
	return done_testing();
}
