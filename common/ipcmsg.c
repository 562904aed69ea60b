/*
 * ipcmsg.c - the encoders and decoders of common/ipcmsg.h, generated from
 * the declarations in common/proto.h. An encoder sizes the frame first and
 * allocates it once (so a frame that carries a password never leaves a
 * copy behind in a reallocation); a decoder checks every field, every
 * record of every list and the frame's end.
 */
#include <string.h>

#include "ipcmsg.h"

/* Octets a field takes on the wire. */
#define SZ_U32(n) +4
#define SZ_U64(n) +8
#define SZ_DBL(n) +8
#define SZ_STR(n) +4 + (m->n != NULL ? strlen(m->n) : 0) + 1
#define SZ_DATA(n) +4 + m->n##_len
#define SZ_LIST(n, rec) +4 + list_size_##rec(m->n, m->n##_n)

#define ADD_U32(n) ipc_add_u32(b, m->n);
#define ADD_U64(n) ipc_add_u64(b, m->n);
#define ADD_DBL(n) ipc_add_double(b, m->n);
#define ADD_STR(n) ipc_add_str(b, m->n);
#define ADD_DATA(n) ipc_add_data(b, m->n, m->n##_len);
#define ADD_LIST(n, rec)                                                       \
	ipc_add_u32(b, m->n##_n);                                              \
	for (uint32_t i_ = 0; i_ < m->n##_n; i_++)                             \
		ipcm_##rec##_add(b, &m->n[i_]);

#define GET_U32(n) m->n = ipc_get_u32(in);
#define GET_U64(n) m->n = ipc_get_u64(in);
#define GET_DBL(n) m->n = ipc_get_double(in);
#define GET_STR(n) m->n = ipc_get_str(in);
#define GET_DATA(n) m->n = ipc_get_data(in, &m->n##_len);
#define GET_LIST(n, rec) get_list_##rec(in, &m->n##_n, &m->n##_rd);

/* The records: encoder, size, reader and the whole-list check. */
#define RECORD_DEF(NAME, name)                                                 \
	size_t ipcm_##name##_size(const struct ipcm_##name *m)                 \
	{                                                                      \
		(void)m;                                                       \
		return 0 IPCR_##NAME(                                          \
		    SZ_U32, SZ_U64, SZ_DBL, SZ_STR, SZ_DATA, SZ_LIST);         \
	}                                                                      \
	void ipcm_##name##_add(struct ipc_buf *b, const struct ipcm_##name *m) \
	{                                                                      \
		IPCR_##NAME(                                                   \
		    ADD_U32, ADD_U64, ADD_DBL, ADD_STR, ADD_DATA, ADD_LIST)    \
	}                                                                      \
	static void read_##name(struct ipc_msg *in, struct ipcm_##name *m)     \
	{                                                                      \
		IPCR_##NAME(                                                   \
		    GET_U32, GET_U64, GET_DBL, GET_STR, GET_DATA, GET_LIST)    \
	}                                                                      \
	int ipcm_##name##_next(struct ipc_msg *in, struct ipcm_##name *m)      \
	{                                                                      \
		memset(m, 0, sizeof(*m));                                      \
		if (in->error || in->pos >= in->len)                           \
			return 0;                                              \
		read_##name(in, m);                                            \
		return !in->error;                                             \
	}                                                                      \
	static size_t list_size_##name(                                        \
	    const struct ipcm_##name *r, uint32_t n)                           \
	{                                                                      \
		size_t total = 0;                                              \
                                                                               \
		for (uint32_t i = 0; i < n; i++)                               \
			total += ipcm_##name##_size(&r[i]);                    \
		return total;                                                  \
	}                                                                      \
	/* Check n records and leave rd on exactly their octets. Every     \
	 * record takes at least 4 octets, so a lying count runs out of     \
	 * frame after as many records as the frame can hold. */   \
	static void get_list_##name(                                           \
	    struct ipc_msg *in, uint32_t *n, struct ipc_msg *rd)               \
	{                                                                      \
		struct ipcm_##name tmp;                                        \
		size_t start;                                                  \
                                                                               \
		*n = ipc_get_u32(in);                                          \
		start = in->pos;                                               \
		for (uint32_t i = 0; i < *n && !in->error; i++)                \
			read_##name(in, &tmp);                                 \
		if (in->error)                                                 \
			*n = 0;                                                \
		ipc_msg_init(rd, in->type, in->data + start,                   \
		    in->error ? 0 : in->pos - start);                          \
	}
IPC_RECORDS(RECORD_DEF)

#define MESSAGE_DEF(NAME, name)                                                \
	void ipcm_##name##_encode(                                             \
	    struct ipc_buf *b, const struct ipcm_##name *m)                    \
	{                                                                      \
		ipc_buf_init(b, M_##NAME);                                     \
		ipc_buf_reserve(b,                                             \
		    0 IPCF_##NAME(                                             \
		        SZ_U32, SZ_U64, SZ_DBL, SZ_STR, SZ_DATA, SZ_LIST));    \
		IPCF_##NAME(                                                   \
		    ADD_U32, ADD_U64, ADD_DBL, ADD_STR, ADD_DATA, ADD_LIST)    \
	}                                                                      \
	void ipcm_##name##_send(                                               \
	    struct ipc_peer *p, const struct ipcm_##name *m)                   \
	{                                                                      \
		struct ipc_buf b;                                              \
                                                                               \
		ipcm_##name##_encode(&b, m);                                   \
		ipc_peer_send(p, &b);                                          \
	}                                                                      \
	int ipcm_##name##_get(struct ipc_msg *in, struct ipcm_##name *m)       \
	{                                                                      \
		memset(m, 0, sizeof(*m));                                      \
		IPCF_##NAME(GET_U32, GET_U64, GET_DBL, GET_STR, GET_DATA,      \
		    GET_LIST) return ipc_msg_done(in)                          \
		    ? 0                                                        \
		    : -1;                                                      \
	}
IPC_MESSAGES(MESSAGE_DEF)

#define EMPTY_DEF(NAME, name)                                                  \
	void ipcm_##name##_encode(struct ipc_buf *b)                           \
	{                                                                      \
		ipc_buf_init(b, M_##NAME);                                     \
	}                                                                      \
	void ipcm_##name##_send(struct ipc_peer *p)                            \
	{                                                                      \
		struct ipc_buf b;                                              \
                                                                               \
		ipcm_##name##_encode(&b);                                      \
		ipc_peer_send(p, &b);                                          \
	}                                                                      \
	int ipcm_##name##_get(struct ipc_msg *in)                              \
	{                                                                      \
		return ipc_msg_done(in) ? 0 : -1;                              \
	}
IPC_EMPTY_MESSAGES(EMPTY_DEF)

const char *
ipcm_name(uint32_t type)
{
#define NAME_CASE(NAME, name)                                                  \
	case M_##NAME:                                                         \
		return #NAME;
	switch (type) {
		IPC_MESSAGES(NAME_CASE)
		IPC_EMPTY_MESSAGES(NAME_CASE)
	}
	return NULL;
}
