/*
 * ipcmsg.h - typed IPC messages: for each message that common/proto.h
 * declares, a struct with its fields, an encoder and a decoder, all
 * generated from that one declaration.
 *
 *	struct ipcm_smtp_done d = {.job = id, .class = 2, .reason = ""};
 *	ipcm_smtp_done_send(peer, &d);
 *
 *	struct ipcm_smtp_done d;
 *	if (ipcm_smtp_done_get(m, &d) == -1)
 *		return ipc_peer_error(peer, "malformed SMTP_DONE");
 *
 * A decoder fills the struct from a received frame and returns 0 only when
 * every field was present and well formed and nothing followed them;
 * strings and data point into the frame. A LIST field is, for sending,
 * `n` records at `name`; once decoded, the count is in `name_n` and the
 * records are read in order with ipcm_<record>_next(&m.name_rd, &r) (the
 * decoder has already checked every one of them, so the loop ends only at
 * the end of the list).
 */
#ifndef NCMTA_IPCMSG_H
#define NCMTA_IPCMSG_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "proto.h"

#define IPCM_S_U32(n) uint32_t n;
#define IPCM_S_U64(n) uint64_t n;
#define IPCM_S_DBL(n) double n;
#define IPCM_S_STR(n) const char *n;
#define IPCM_S_DATA(n)                                                         \
	const void *n;                                                         \
	size_t n##_len;
#define IPCM_S_LIST(n, rec)                                                    \
	const struct ipcm_##rec *n; /* to send: n##_n records */               \
	uint32_t n##_n;                                                        \
	struct ipc_msg n##_rd; /* received: read with ipcm_<rec>_next() */

#define IPCM_RECORD_DECL(NAME, name)                                           \
	struct ipcm_##name {                                                   \
		IPCR_##NAME(IPCM_S_U32, IPCM_S_U64, IPCM_S_DBL, IPCM_S_STR,    \
		    IPCM_S_DATA, IPCM_S_LIST)                                  \
	};                                                                     \
	void ipcm_##name##_add(struct ipc_buf *, const struct ipcm_##name *);  \
	size_t ipcm_##name##_size(const struct ipcm_##name *);                 \
	int ipcm_##name##_next(struct ipc_msg *, struct ipcm_##name *);
IPC_RECORDS(IPCM_RECORD_DECL)

#define IPCM_MESSAGE_DECL(NAME, name)                                          \
	struct ipcm_##name {                                                   \
		IPCF_##NAME(IPCM_S_U32, IPCM_S_U64, IPCM_S_DBL, IPCM_S_STR,    \
		    IPCM_S_DATA, IPCM_S_LIST)                                  \
	};                                                                     \
	void ipcm_##name##_encode(                                             \
	    struct ipc_buf *, const struct ipcm_##name *);                     \
	void ipcm_##name##_send(                                               \
	    struct ipc_peer *, const struct ipcm_##name *);                    \
	int ipcm_##name##_get(struct ipc_msg *, struct ipcm_##name *);
IPC_MESSAGES(IPCM_MESSAGE_DECL)

#define IPCM_EMPTY_DECL(NAME, name)                                            \
	void ipcm_##name##_encode(struct ipc_buf *);                           \
	void ipcm_##name##_send(struct ipc_peer *);                            \
	int ipcm_##name##_get(struct ipc_msg *);
IPC_EMPTY_MESSAGES(IPCM_EMPTY_DECL)

/* The name of a message type ("SMTP_DONE"), or NULL if there is none. */
const char *ipcm_name(uint32_t type);

/* A handler table entry with the name of its type: IPCM_ON(JOB_END, fn). */
#define IPCM_ON(NAME, fn)                                                      \
	{                                                                      \
		M_##NAME, #NAME, fn                                            \
	}

#endif
