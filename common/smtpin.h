/*
 * smtpin.h - the server side of `ncsendmail -bs`: an SMTP engine fed the
 * client's bytes that answers with replies. Command sequence, syntax,
 * dot-unstuffing and the size limit are decided here, without I/O; the
 * envelope and the maildrop belong to the caller, reached through ops.
 */
#ifndef NCMTA_SMTPIN_H
#define NCMTA_SMTPIN_H

#include <stddef.h>
#include <stdint.h>

#define SMTPIN_LINE_MAX 2048 /* longest command line accepted */
#define SMTPIN_RCPT_MAX 1000 /* recipients per transaction */
#define SMTPIN_ERRORS_MAX 20 /* bad commands before the session ends */
#define SMTPIN_PATH_MAX 512 /* longest address between the brackets */

/* What MAIL FROM said. */
struct smtpin_mail {
	const char *addr; /* inside <>, source route dropped; "" = null */
	const char *body; /* "7BIT", "8BITMIME" or NULL */
	uint64_t size; /* SIZE=, 0 when not given */
};

/* The caller's side. mail and rcpt return NULL to accept, or the whole
 * reply line to refuse ("452 4.3.1 ..."); data returns the reply to the
 * final dot. reset is called whenever a transaction ends or is dropped. */
struct smtpin_ops {
	const char *(*mail)(void *arg, const struct smtpin_mail *);
	const char *(*rcpt)(void *arg, const char *addr);
	/* The message: dot-unstuffed, LF line ends. */
	const char *(*data)(void *arg, const char *msg, size_t len);
	void (*reset)(void *arg);
};

struct smtpin;

/* size_limit: the largest message in octets (SIZE in EHLO). */
struct smtpin *smtpin_new(const char *hostname, uint64_t size_limit,
    const struct smtpin_ops *, void *arg);
void smtpin_free(struct smtpin *);

/* Queue the 220 greeting. */
void smtpin_greet(struct smtpin *);

/*
 * Take what can be taken of the client's bytes; returns how many octets
 * were used. What is left (an incomplete line) must be offered again with
 * what follows it; at_eof says nothing more will come.
 */
size_t smtpin_feed(struct smtpin *, const char *buf, size_t len, int at_eof);

/* Replies not yet written, and forgetting them once they are. */
const char *smtpin_output(const struct smtpin *, size_t *len);
void smtpin_output_done(struct smtpin *);

/* QUIT was answered (or the session was ended): read no more. */
int smtpin_closed(const struct smtpin *);
/* A transaction is open (MAIL accepted, not yet ended by the dot). */
int smtpin_pending(const struct smtpin *);

#endif
