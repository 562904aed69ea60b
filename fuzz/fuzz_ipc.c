/*
 * fuzz_ipc.c - IPC frames (common/ipc.c) as a daemon receives them: the
 * input is written to one end of a socketpair whose other end is a real
 * ipc_peer on a libevent loop, with a handler for every message type of
 * common/proto.h that decodes it field by field as proto.h declares
 * (counts bounded by the frame, as the daemons do). The same bytes then
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
#include "proto.h"
#include "queue.h"

/*
 * Field layouts: I u32, Q u64, D double, S str, B data; "n(...)" a u32
 * count, then that many of the group.
 */
static const struct layout {
	uint32_t type;
	const char *name;
	const char *fields;
} layouts[] = {
    {M_CTL_FLUSH, "CTL_FLUSH", "n(Q)"},
    {M_CTL_RELOAD, "CTL_RELOAD", "SSSSS"},
    {M_CTL_STOP, "CTL_STOP", ""},
    {M_CTL_STATUS, "CTL_STATUS", ""},
    {M_CTL_DNS_FLUSHED, "CTL_DNS_FLUSHED", ""},
    {M_CTL_SECRET, "CTL_SECRET", "QISS"},
    {M_CHILD_READY, "CHILD_READY", "I"},
    {M_CHILD_STATUS, "CHILD_STATUS", "S"},
    {M_CHILD_SECRET_REQ, "CHILD_SECRET_REQ", "QSI"},
    {M_PICKUP_HELLO, "PICKUP_HELLO", "I"},
    {M_PICKUP_NEW, "PICKUP_NEW", "n(Q)"},
    {M_SMTP_HELLO, "SMTP_HELLO", "II"},
    {M_SMTP_RCPT, "SMTP_RCPT", "QIISSS"},
    {M_SMTP_DONE, "SMTP_DONE", "QIS"},
    {M_JOB_BEGIN, "JOB_BEGIN", "QQSQDDDIIISn(SSIIS)n(IS)"},
    {M_JOB_BODY, "JOB_BODY", "QB"},
    {M_JOB_END, "JOB_END", "Q"},
    {M_DNS_QUERY, "DNS_QUERY", "QIS"},
    {M_DNS_ANSWER, "DNS_ANSWER", "QIISn(IS)"},
    {M_REQ_STATUS, "REQ_STATUS", ""},
    {M_REQ_FLUSH, "REQ_FLUSH", "n(Q)"},
    {M_REQ_STOP, "REQ_STOP", ""},
    {M_REQ_RELOAD, "REQ_RELOAD", ""},
    {M_REQ_RESOLVER_FLUSH, "REQ_RESOLVER_FLUSH", ""},
    {M_REQ_ADMIN, "REQ_ADMIN", "IISn(Q)"},
    {M_REQ_LIST, "REQ_LIST", "ISSSn(Q)"},
    {M_REPLY, "REPLY", "IS"},
    {M_LIST_ITEM, "LIST_ITEM", "QB"},
    {M_CTL_ADMIN, "CTL_ADMIN", "QIISn(Q)"},
    {M_CTL_ADMIN_DONE, "CTL_ADMIN_DONE", "QIS"},
    {M_BOUNCE_HELLO, "BOUNCE_HELLO", "I"},
    {M_BOUNCE_REQ, "BOUNCE_REQ", "QQISDSSn(SSSSS)"},
    {M_BOUNCE_DONE, "BOUNCE_DONE", "QIQS"},
};
#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static struct ipc_handler table[NLAYOUTS + 1];

static const struct layout *
layout_of(uint32_t type)
{
	size_t i;

	for (i = 0; i < NLAYOUTS; i++)
		if (layouts[i].type == type)
			return &layouts[i];
	return NULL;
}

/* The fewest octets one group of fields takes (up to its ')'). */
static size_t
group_min(const char *f)
{
	size_t n = 0;

	for (; *f != '\0' && *f != ')'; f++)
		n += *f == 'I' || *f == 'B' ? 4 : *f == 'S' ? 5 : 8;
	return n;
}

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

/*
 * Decode the fields of f from m into b (re-encoding them); returns the
 * spec after the group, or NULL when a count does not fit the frame.
 */
static const char *
decode(struct ipc_msg *m, const char *f, struct ipc_buf *b, uint32_t type)
{
	const char *s, *end = NULL;
	const void *data;
	uint32_t n, i;
	size_t len;

	for (; *f != '\0' && *f != ')'; f++) {
		switch (*f) {
		case 'I':
			ipc_add_u32(b, ipc_get_u32(m));
			break;
		case 'Q':
			ipc_add_u64(b, ipc_get_u64(m));
			break;
		case 'D':
			ipc_add_double(b, ipc_get_double(m));
			break;
		case 'S':
			s = ipc_get_str(m);
			FUZZ_CHECK(s != NULL, "string");
			ipc_add_str(b, s);
			break;
		case 'B':
			data = ipc_get_data(m, &len);
			FUZZ_CHECK(data != NULL || m->error, "data");
			ipc_add_data(b, data, len);
			if (type == M_LIST_ITEM && !m->error)
				check_record(data, len);
			break;
		case 'n':
			n = ipc_get_u32(m);
			ipc_add_u32(b, n);
			if (m->error ||
			    n > (m->len - m->pos) / group_min(f + 2))
				return NULL;
			for (i = 0; i < n && !m->error; i++)
				end = decode(m, f + 2, b, type);
			f = end != NULL ? end : f + 2 + strcspn(f + 2, ")");
			break;
		default:
			abort();
		}
	}
	return f;
}

static void
handle(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	const struct layout *l = layout_of(m->type);
	const uint8_t *payload = m->data;
	size_t len = m->len;
	struct ipc_buf b;

	(void)arg;
	FUZZ_CHECK(l != NULL, "handler for unknown type %u", m->type);
	ipc_buf_init(&b, m->type);
	if (decode(m, l->fields, &b, m->type) == NULL) {
		if (p != NULL)
			ipc_peer_error(p, "bad count");
		ipc_buf_free(&b);
		return;
	}
	if (ipc_msg_done(m)) {
		ipc_buf_finish(&b);
		FUZZ_CHECK(b.len == IPC_HDR_LEN + len &&
		        memcmp(b.data + IPC_HDR_LEN, payload, len) == 0,
		    "%s does not encode back to its payload", l->name);
	}
	ipc_buf_free(&b);
	if (m->type == M_CTL_SECRET && p != NULL) {
		ipc_msg_wipe(m);
		FUZZ_CHECK(len == 0 ||
		        (payload[0] == 0 &&
		            memcmp(payload, payload + 1, len - 1) == 0),
		    "secret not wiped");
	}
}

static void
on_close(struct ipc_peer *p, void *arg)
{
	(void)p;
	*(int *)arg = 1;
}

static void
setup(void)
{
	size_t i;

	fuzz_quiet_log();
	for (i = 0; i < NLAYOUTS; i++)
		table[i] = (struct ipc_handler){
		    layouts[i].type, layouts[i].name, handle};
	table[i] = (struct ipc_handler){0, NULL, NULL};
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
		if (layout_of(type) != NULL) {
			ipc_msg_init(&m, type, payload, len);
			handle(NULL, &m, NULL);
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

	if (table[0].fn == NULL)
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
