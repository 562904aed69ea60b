/*
 * ipcmsg_test.c - the typed messages of common/ipcmsg.h: every message
 * declared in common/proto.h, filled with distinct values (lists with
 * several records), encoded and decoded back field for field; every
 * shortened payload, a trailing octet and a list count larger than the
 * records that follow are refused; frames written field by field with
 * ipc_add_*() the way the declaration reads decode the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ipc.h"
#include "ipcmsg.h"

#define NREC 3

static const char *const words[] = {"", "a", "example.org", "smtp.example.net",
    "250 2.0.0 Ok: queued as 4F3A", "5.1.1", "rfc822;user@example.com",
    "\xc3\xa9t\xc3\xa9@example.fr"};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const char blob[] = "From: a@b\r\n\r\nbody\0with a NUL\r\n";

/* Fill every field with a value derived from *k, distinct per field. */
#define FILL_U32(n) m->n = (uint32_t)(++*k * 2654435761u);
#define FILL_U64(n)                                                            \
	++*k;                                                                  \
	m->n = ((uint64_t)*k << 40) | *k;
#define FILL_DBL(n) m->n = 1.5e9 + ++*k / 8.0;
#define FILL_STR(n) m->n = words[++*k % NWORDS];
#define FILL_DATA(n)                                                           \
	m->n = blob;                                                           \
	m->n##_len = ++*k % sizeof(blob);
#define FILL_LIST(n, rec)                                                      \
	{                                                                      \
		struct ipcm_##rec *r_ = calloc(NREC, sizeof(*r_));             \
		for (int i_ = 0; i_ < NREC; i_++)                              \
			fill_##rec(&r_[i_], k);                                \
		m->n = r_;                                                     \
		m->n##_n = NREC;                                               \
	}

/* Compare a decoded field with the one sent; 0 if they differ. */
#define SAME_U32(n) same = same && g->n == m->n;
#define SAME_U64(n) same = same && g->n == m->n;
#define SAME_DBL(n) same = same && g->n == m->n;
#define SAME_STR(n) same = same && strcmp(g->n, m->n) == 0;
#define SAME_DATA(n)                                                           \
	same = same && g->n##_len == m->n##_len &&                             \
	    memcmp(g->n, m->n, m->n##_len) == 0;
#define SAME_LIST(n, rec)                                                      \
	{                                                                      \
		struct ipcm_##rec r_;                                          \
		uint32_t i_ = 0;                                               \
		same = same && g->n##_n == m->n##_n;                           \
		while (ipcm_##rec##_next(&g->n##_rd, &r_))                     \
			same = same && i_ < m->n##_n &&                        \
			    same_##rec(&r_, &m->n[i_++]);                      \
		same = same && i_ == m->n##_n;                                 \
	}
#define FREE_U32(n)
#define FREE_U64(n)
#define FREE_DBL(n)
#define FREE_STR(n)
#define FREE_DATA(n)
#define FREE_LIST(n, rec) free((void *)m->n);

#define RECORD_HELPERS(NAME, name)                                             \
	static void fill_##name(struct ipcm_##name *m, unsigned *k)            \
	{                                                                      \
		IPCR_##NAME(FILL_U32, FILL_U64, FILL_DBL, FILL_STR, FILL_DATA, \
		    FILL_LIST)                                                 \
	}                                                                      \
	static int same_##name(                                                \
	    const struct ipcm_##name *g, const struct ipcm_##name *m)          \
	{                                                                      \
		int same = 1;                                                  \
		IPCR_##NAME(SAME_U32, SAME_U64, SAME_DBL, SAME_STR, SAME_DATA, \
		    SAME_LIST) return same;                                    \
	}
IPC_RECORDS(RECORD_HELPERS)

/* Decoding any strict prefix of the payload, or the payload with one
 * more octet, must fail. */
#define REFUSES_DAMAGE(name, payload, len)                                     \
	{                                                                      \
		struct ipcm_##name g_;                                         \
		struct ipc_msg cut_msg_;                                       \
		uint8_t *more_ = malloc(len + 1);                              \
		int refused_ = 1;                                              \
		for (size_t cut_ = 0; cut_ < len; cut_++) {                    \
			ipc_msg_init(&cut_msg_, 0, payload, cut_);             \
			if (ipcm_##name##_get(&cut_msg_, &g_) == 0)            \
				refused_ = 0;                                  \
		}                                                              \
		ok(refused_, #name ": every shortened payload refused");       \
		memcpy(more_, payload, len);                                   \
		more_[len] = 0;                                                \
		ipc_msg_init(&cut_msg_, 0, more_, len + 1);                    \
		ok(ipcm_##name##_get(&cut_msg_, &g_) == -1,                    \
		    #name ": a trailing octet refused");                       \
		free(more_);                                                   \
	}

#define TEST_MESSAGE(NAME, name)                                               \
	{                                                                      \
		struct ipcm_##name want_, got_, *m = &want_, *g = &got_;       \
		struct ipc_buf b_;                                             \
		struct ipc_msg dm_;                                            \
		unsigned kk_ = seed++, *k = &kk_;                              \
		uint32_t len_, type_;                                          \
		int same = 1;                                                  \
		memset(m, 0, sizeof(*m));                                      \
		IPCF_##NAME(FILL_U32, FILL_U64, FILL_DBL, FILL_STR, FILL_DATA, \
		    FILL_LIST) ipcm_##name##_encode(&b_, m);                   \
		ipc_buf_finish(&b_);                                           \
		ok(ipc_hdr_parse(b_.data, 1 << 20, &len_, &type_) == 0 &&      \
		        type_ == M_##NAME && len_ == b_.len - IPC_HDR_LEN,     \
		    #NAME ": header names the type and the payload");          \
		ipc_msg_init(&dm_, type_, b_.data + IPC_HDR_LEN, len_);        \
		is_int(ipcm_##name##_get(&dm_, g), 0, #NAME ": decodes");      \
		IPCF_##NAME(SAME_U32, SAME_U64, SAME_DBL, SAME_STR, SAME_DATA, \
		    SAME_LIST) ok(same, #NAME ": every field as sent");        \
		is_str(ipcm_name(M_##NAME), #NAME, #NAME ": named");           \
		REFUSES_DAMAGE(name, b_.data + IPC_HDR_LEN, (size_t)len_)      \
		IPCF_##NAME(FREE_U32, FREE_U64, FREE_DBL, FREE_STR, FREE_DATA, \
		    FREE_LIST) ipc_buf_free(&b_);                              \
	}

#define TEST_EMPTY(NAME, name)                                                 \
	{                                                                      \
		struct ipc_buf b_;                                             \
		struct ipc_msg dm_;                                            \
		static const uint8_t one_[1];                                  \
		ipcm_##name##_encode(&b_);                                     \
		ipc_buf_finish(&b_);                                           \
		ok(b_.len == IPC_HDR_LEN, #NAME ": no payload");               \
		ipc_msg_init(&dm_, M_##NAME, b_.data + IPC_HDR_LEN, 0);        \
		is_int(ipcm_##name##_get(&dm_), 0, #NAME ": decodes");         \
		ipc_msg_init(&dm_, M_##NAME, one_, 1);                         \
		is_int(ipcm_##name##_get(&dm_), -1, #NAME ": octet refused");  \
		is_str(ipcm_name(M_##NAME), #NAME, #NAME ": named");           \
		ipc_buf_free(&b_);                                             \
	}

/* The wire format written by hand, field by field as proto.h declares
 * SMTP_RCPT and PICKUP_NEW, decodes to the same values. */
static void
test_hand_written(void)
{
	struct ipc_buf b;
	struct ipc_msg in;
	struct ipcm_smtp_rcpt r;
	struct ipcm_pickup_new p;
	struct ipcm_qid q;
	uint64_t sum = 0;

	ipc_buf_init(&b, M_SMTP_RCPT);
	ipc_add_u64(&b, 77);
	ipc_add_u32(&b, 3);
	ipc_add_u32(&b, 5);
	ipc_add_str(&b, "5.1.1");
	ipc_add_str(&b, "550 5.1.1 no such user");
	ipc_add_str(&b, "mx.example.org[192.0.2.1]:25");
	ipc_msg_init(
	    &in, M_SMTP_RCPT, b.data + IPC_HDR_LEN, b.len - IPC_HDR_LEN);
	ok(ipcm_smtp_rcpt_get(&in, &r) == 0 && r.job == 77 && r.index == 3 &&
	        r.class == 5 && strcmp(r.dsn, "5.1.1") == 0 &&
	        strcmp(r.reply, "550 5.1.1 no such user") == 0 &&
	        strcmp(r.relay, "mx.example.org[192.0.2.1]:25") == 0,
	    "SMTP_RCPT written by hand decodes field for field");
	ipc_buf_free(&b);

	ipc_buf_init(&b, M_PICKUP_NEW);
	ipc_add_u32(&b, 3);
	ipc_add_u64(&b, 10);
	ipc_add_u64(&b, 20);
	ipc_add_u64(&b, 30);
	ipc_msg_init(
	    &in, M_PICKUP_NEW, b.data + IPC_HDR_LEN, b.len - IPC_HDR_LEN);
	is_int(ipcm_pickup_new_get(&in, &p), 0, "PICKUP_NEW of 3 decodes");
	is_int(p.ids_n, 3, "... with its count");
	while (ipcm_qid_next(&p.ids_rd, &q))
		sum += q.qid;
	is_int(sum, 60, "... and its three queue IDs");
	ipc_buf_free(&b);

	/* a count far beyond the records that follow */
	ipc_buf_init(&b, M_PICKUP_NEW);
	ipc_add_u32(&b, 0xffffffffu);
	ipc_add_u64(&b, 10);
	ipc_msg_init(
	    &in, M_PICKUP_NEW, b.data + IPC_HDR_LEN, b.len - IPC_HDR_LEN);
	is_int(ipcm_pickup_new_get(&in, &p), -1,
	    "a list count beyond the frame is refused");
	is_int(p.ids_n, 0, "... and leaves no records to read");
	ok(!ipcm_qid_next(&p.ids_rd, &q), "... none is read");
	ipc_buf_free(&b);

	/* a string that hides a NUL inside a record */
	ipc_buf_init(&b, M_DNS_ANSWER);
	ipc_add_u64(&b, 1);
	ipc_add_u32(&b, 0);
	ipc_add_u32(&b, 60);
	ipc_add_str(&b, "");
	ipc_add_u32(&b, 1);
	ipc_add_u32(&b, 10);
	ipc_add_data(&b, "mx\0evil", 8);
	{
		struct ipcm_dns_answer a;

		ipc_msg_init(&in, M_DNS_ANSWER, b.data + IPC_HDR_LEN,
		    b.len - IPC_HDR_LEN);
		is_int(ipcm_dns_answer_get(&in, &a), -1,
		    "a record's string with a NUL inside is refused");
	}
	ipc_buf_free(&b);
}

int
main(void)
{
	unsigned seed = 1;

	IPC_MESSAGES(TEST_MESSAGE)
	IPC_EMPTY_MESSAGES(TEST_EMPTY)
	ok(ipcm_name(0x7fffffff) == NULL, "an unknown type has no name");
	test_hand_written();
	return done_testing();
}
