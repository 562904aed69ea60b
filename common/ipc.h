/*
 * ipc.h - the one framing layer every ncmta process speaks over Unix
 * sockets. A frame is a 8-byte header (u32 payload length, u32 type, both
 * big-endian) and a payload of typed fields. The receiver checks every
 * frame: an unknown type, a short or over-long payload, a bad string or an
 * oversized frame is a protocol error, logged and answered by closing that
 * peer -- never by crashing the receiver.
 */
#ifndef NCMTA_IPC_H
#define NCMTA_IPC_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct event_base;
struct ipc_peer;

#define IPC_HDR_LEN 8
#define IPC_MAX_FRAME_DEFAULT (256 * 1024)

/* An outgoing frame under construction. */
struct ipc_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* A received frame being read field by field. */
struct ipc_msg {
	uint32_t type;
	const uint8_t *data;
	size_t len;
	size_t pos;
	int error; /* set by a getter that ran past the end or found bad data */
};

typedef void ipc_handler_fn(struct ipc_peer *, struct ipc_msg *, void *arg);

struct ipc_handler {
	uint32_t type;
	const char *name;
	ipc_handler_fn *fn;
};

/* Called once when the peer is closed (EOF, error, protocol error). */
typedef void ipc_close_fn(struct ipc_peer *, void *arg);
/* Called when everything queued for the peer has been written. */
typedef void ipc_drain_fn(struct ipc_peer *, void *arg);

/* Encoding (usable without an event loop). */
void ipc_buf_init(struct ipc_buf *, uint32_t type);
void ipc_add_u32(struct ipc_buf *, uint32_t);
void ipc_add_u64(struct ipc_buf *, uint64_t);
void ipc_add_double(struct ipc_buf *, double);
void ipc_add_str(struct ipc_buf *, const char *); /* NULL sends "" */
void ipc_add_data(struct ipc_buf *, const void *, size_t);
/* Patch the header length; after this data/len is the complete frame. */
void ipc_buf_finish(struct ipc_buf *);
void ipc_buf_free(struct ipc_buf *);

/* Frames that carry a password: reserve room for n more bytes before
 * adding them, so the data never moves (a reallocation would leave a copy
 * behind); ipc_buf_wipe() zeroes the frame, then frees it. */
void ipc_buf_reserve(struct ipc_buf *, size_t n);
void ipc_buf_wipe(struct ipc_buf *);

/* Decoding. Getters never read past the end; on failure they set m->error
 * and return zero values. ipc_msg_done() is true when no getter failed and
 * the whole payload was consumed. */
void ipc_msg_init(struct ipc_msg *, uint32_t type, const uint8_t *, size_t);
uint32_t ipc_get_u32(struct ipc_msg *);
uint64_t ipc_get_u64(struct ipc_msg *);
double ipc_get_double(struct ipc_msg *);
const char *ipc_get_str(struct ipc_msg *); /* NUL-terminated, in the frame */
const void *ipc_get_data(struct ipc_msg *, size_t *);
int ipc_msg_done(struct ipc_msg *);
/* Zero a received payload (the peer's own input buffer) once its handler
 * has used the password it carried. */
void ipc_msg_wipe(struct ipc_msg *);

/* Parse a frame header; -1 if the length exceeds max. */
int ipc_hdr_parse(
    const uint8_t hdr[IPC_HDR_LEN], size_t max, uint32_t *len, uint32_t *type);

/* Event-driven peers on libevent. The table ends with a {0, NULL, NULL}
 * entry. A handler that finds bad content calls ipc_peer_error(). */
struct ipc_peer *ipc_peer_new(struct event_base *, int fd, const char *name,
    const struct ipc_handler *table, size_t max_frame, ipc_close_fn *,
    void *arg);
int ipc_bev_write(struct bufferevent *, const void *, size_t);
void ipc_peer_send(struct ipc_peer *, struct ipc_buf *); /* frees buf */
/* The same for a frame that carries a password: the frame is queued by
 * reference, not copied, and wiped and freed once written or dropped. */
void ipc_peer_send_secret(struct ipc_peer *, struct ipc_buf *);
/* Between cork and uncork (they nest) frames sent to the peer are held
 * back and leave together in one write: a job's frames, a batch of
 * answers. */
void ipc_peer_cork(struct ipc_peer *);
void ipc_peer_uncork(struct ipc_peer *);
/* Cork until the event loop has run the callbacks that are ready now:
 * frames sent while handling several inputs that arrived together (the
 * ends of several sessions' transactions) leave in one write. */
void ipc_peer_cork_round(struct ipc_peer *);
size_t ipc_peer_pending(struct ipc_peer *); /* bytes queued, held back too */
/* fn runs each time the peer's output has all been written (a sender
 * that holds back while much is queued learns it may go on). */
void ipc_peer_on_drain(struct ipc_peer *, ipc_drain_fn *fn);
void ipc_peer_set_arg(struct ipc_peer *, void *);
const char *ipc_peer_name(struct ipc_peer *);
int ipc_peer_fd(struct ipc_peer *);
/* Report a protocol error: logged, peer closed after the handler returns. */
void ipc_peer_error(struct ipc_peer *, const char *why);
/*
 * Bounds for a peer that serves someone who is not trusted to read what
 * it is sent or to keep talking (a local user on a public socket, a
 * daemon that may be compromised). max_unsent: once more output than
 * this waits unread, the peer is closed (logged with its name); and
 * while any output waits, no further frame is read from it, so its
 * requests queue in the kernel, not here. idle_secs: the peer is closed
 * (logged) when no frame of it has been handled for that long. 0 leaves
 * either bound off.
 */
void ipc_peer_set_limits(struct ipc_peer *, size_t max_unsent, int idle_secs);
/* Close now (runs the close callback) and free. */
void ipc_peer_close(struct ipc_peer *);
/* Close once everything queued has been written. */
void ipc_peer_close_after_flush(struct ipc_peer *);

/* A handler for frames a process takes and has nothing to do with. */
void ipc_ignore(struct ipc_peer *, struct ipc_msg *, void *arg);
/* accept4() a client of a listening socket (close-on-exec): the new fd,
 * or -1; failures other than "nothing there" are logged with what. */
int ipc_accept(int listen_fd, const char *what);

/* Blocking helpers for command-line clients. Return -1 on error/EOF. */
int ipc_send_blocking(int fd, struct ipc_buf *); /* frees buf */
int ipc_recv_blocking(int fd, size_t max, uint32_t *type, uint8_t **payload,
    size_t *len, int timeout_ms);

/*
 * Unix sockets, of any path length: each is bound or connected by its
 * last name, relative to its directory. ipc_listen*() unlinks a stale
 * socket first and gives the new one mode through the umask at bind
 * time (nothing is changed by name afterwards). The *_at() forms take a
 * descriptor on the directory (AT_FDCWD: the working directory) and a
 * name without '/'.
 */
int ipc_listen(const char *path, int mode);
int ipc_connect(const char *path);
int ipc_listen_at(int dirfd, const char *name, int mode);
int ipc_connect_at(int dirfd, const char *name);

#endif
