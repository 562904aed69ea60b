/*
 * fuzz_ipc.c - IPC frames (common/ipc.c) as a daemon receives them: the
 * input is written to one end of a socketpair whose other end is a real
 * ipc_peer on a libevent loop, with a handler for every message type of
 * common/proto.h that decodes it with the decoder common/ipcmsg.h
 * generates from proto.h's declaration, as the daemons do. The same bytes then
 * go through ipc_recv_blocking(), the command-line clients' reader. A
 * frame that decodes completely must encode back to the same bytes; the
 * record of an M_LIST_ITEM goes through q_msg_decode() likewise.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <event2/event.h>

#include "fuzz.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "proto.h"
#include "queue.h"

/* A record read out of M_LIST_ITEM, as ncqshow reads it. */
static void
check_record(const void *rec, size_t len)
{
	struct q_msg m;
	uint8_t *again;
	size_t alen;

	if (q_msg_decode(rec, len, &m) != 0)
		return;
	if (q_msg_encode(&m, &again, &alen) == 0) {
		FUZZ_CHECK(((const uint8_t *)rec)[0] != QUEUE_RECORD_VERSION ||
		        (alen == len && memcmp(again, rec, len) == 0),
		    "record does not encode back");
		free(again);
	}
	q_msg_free(&m);
}

/* LIST fields: the decoded records, read back into an array to encode. */
#define NOLIST_U32(n)
#define NOLIST_U64(n)
#define NOLIST_DBL(n)
#define NOLIST_STR(n)
#define NOLIST_DATA(n)
#define TOARRAY_LIST(n, rec)                                                   \
	{                                                                      \
		struct ipcm_##rec *a_ = calloc(d.n##_n + 1, sizeof(*a_));      \
		uint32_t i_ = 0;                                               \
		FUZZ_CHECK(a_ != NULL, "memory");                              \
		while (ipcm_##rec##_next(&d.n##_rd, &a_[i_]))                  \
			FUZZ_CHECK(                                            \
			    ++i_ <= d.n##_n, "more records than counted");     \
		FUZZ_CHECK(i_ == d.n##_n, "fewer records than counted");       \
		d.n = a_;                                                      \
	}
#define FREE_LIST(n, rec) free((void *)d.n);

/* Decode with the generated decoder; what it accepts must encode back to
 * the same payload. */
#define HANDLER(NAME, name)                                                    \
	static void on_##name(                                                 \
	    struct ipc_peer *p, struct ipc_msg *m, void *arg)                  \
	{                                                                      \
		struct ipcm_##name d;                                          \
		const uint8_t *payload = m->data;                              \
		size_t len = m->len;                                           \
		struct ipc_buf b;                                              \
		(void)arg;                                                     \
		if (ipcm_##name##_get(m, &d) == -1) {                          \
			if (p != NULL)                                         \
				ipc_peer_error(p, "malformed " #NAME);         \
			return;                                                \
		}                                                              \
		IPCF_##NAME(NOLIST_U32, NOLIST_U64, NOLIST_DBL, NOLIST_STR,    \
		    NOLIST_DATA, TOARRAY_LIST) ipcm_##name##_encode(&b, &d);   \
		ipc_buf_finish(&b);                                            \
		FUZZ_CHECK(b.len == IPC_HDR_LEN + len &&                       \
		        memcmp(b.data + IPC_HDR_LEN, payload, len) == 0,       \
		    #NAME " does not encode back to its payload");             \
		ipc_buf_free(&b);                                              \
		IPCF_##NAME(NOLIST_U32, NOLIST_U64, NOLIST_DBL, NOLIST_STR,    \
		    NOLIST_DATA, FREE_LIST) after(p, m, payload, len);         \
	}
#define EMPTY_HANDLER(NAME, name)                                              \
	static void on_##name(                                                 \
	    struct ipc_peer *p, struct ipc_msg *m, void *arg)                  \
	{                                                                      \
		(void)arg;                                                     \
		if (ipcm_##name##_get(m) == -1 && p != NULL)                   \
			ipc_peer_error(p, "malformed " #NAME);                 \
	}

/* What some handlers do with a frame once decoded. */
static void
after(struct ipc_peer *p, struct ipc_msg *m, const uint8_t *payload, size_t len)
{
	struct ipcm_list_item li;
	struct ipc_msg again;

	if (m->type == M_LIST_ITEM) {
		ipc_msg_init(&again, m->type, payload, len);
		if (ipcm_list_item_get(&again, &li) == 0)
			check_record(li.record, li.record_len);
	}
	if (m->type == M_CTL_SECRET && p != NULL) {
		ipc_msg_wipe(m);
		FUZZ_CHECK(len == 0 ||
		        (payload[0] == 0 &&
		            memcmp(payload, payload + 1, len - 1) == 0),
		    "secret not wiped");
	}
}

IPC_MESSAGES(HANDLER)
IPC_EMPTY_MESSAGES(EMPTY_HANDLER)

#define ENTRY(NAME, name) IPCM_ON(NAME, on_##name),
static const struct ipc_handler table[] = {
    IPC_MESSAGES(ENTRY) IPC_EMPTY_MESSAGES(ENTRY){0, NULL, NULL}};

static void
on_close(struct ipc_peer *p, void *arg)
{
	(void)p;
	*(int *)arg = 1;
}

static void
setup(void)
{
	fuzz_quiet_log();
}

/* Through a peer on an event loop, written in one go or as it fits. */
static void
via_peer(const uint8_t *data, size_t size, size_t max)
{
	struct event_base *base = event_base_new();
	struct ipc_peer *p;
	size_t off = 0;
	ssize_t n;
	int sv[2], closed = 0;

	if (base == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	p = ipc_peer_new(base, sv[0], "fuzz", table, max, on_close, &closed);
	while (off < size && !closed) {
		n = write(sv[1], data + off, size - off);
		if (n > 0)
			off += (size_t)n;
		else if (n == -1 && errno != EAGAIN)
			break;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	shutdown(sv[1], SHUT_WR);
	while (!closed)
		event_base_loop(base, EVLOOP_ONCE);
	(void)p; /* freed by the loop once closed */
	close(sv[1]);
	event_base_free(base);
}

/* Through ipc_recv_blocking(), as ncctl and ncqshow read replies. */
static void
via_blocking(const uint8_t *data, size_t size, size_t max)
{
	struct ipc_msg m;
	uint8_t *payload;
	uint32_t type;
	size_t len;
	int sv[2];

	if (size > 100000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return;
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	while (
	    ipc_recv_blocking(sv[0], max, &type, &payload, &len, 1000) == 0) {
		FUZZ_CHECK(len <= max, "payload of %zu over %zu", len, max);
		for (const struct ipc_handler *h = table; h->fn != NULL; h++)
			if (h->type == type) {
				ipc_msg_init(&m, type, payload, len);
				h->fn(NULL, &m, NULL);
			}
		free(payload);
	}
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len, type;
	size_t max;

	static int ready;

	if (!ready++)
		setup();
	/* a small frame limit for some inputs, the default for the rest */
	max = size % 4 == 3 ? 64 : IPC_MAX_FRAME_DEFAULT;
	if (size >= IPC_HDR_LEN)
		FUZZ_CHECK((ipc_hdr_parse(data, max, &len, &type) == 0) ==
		        (len <= max),
		    "header limit");
	via_peer(data, size, max);
	via_blocking(data, size, max);
	return 0;
}
