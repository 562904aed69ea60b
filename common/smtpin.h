/*
 * smtpin.h - the one SMTP server engine of ncmta, behind `ncsendmail -bs`
 * and the smtpd daemon: fed the client's bytes, it answers with replies.
 * Command sequence, syntax, parameters, dot-unstuffing, BDAT chunks and
 * every limit are decided here, without I/O; the envelope, the message
 * and the time are the caller's, reached through ops.
 */
#ifndef NCMTA_SMTPIN_H
#define NCMTA_SMTPIN_H

#include <stddef.h>
#include <stdint.h>

#define SMTPIN_LINE_MAX 2048 /* longest command line accepted (no CRLF) */
#define SMTPIN_PATH_MAX 512 /* longest address between the brackets */

/* Extensions offered in the EHLO reply besides PIPELINING, SIZE,
 * 8BITMIME and ENHANCEDSTATUSCODES, which always are. */
#define SMTPIN_EXT_SMTPUTF8 0x1
#define SMTPIN_EXT_DSN 0x2 /* NOTIFY, ORCPT (RCPT); RET, ENVID (MAIL) */
#define SMTPIN_EXT_CHUNKING 0x4 /* BDAT */
#define SMTPIN_EXT_STARTTLS 0x8 /* offered until TLS is up */

struct smtpin_config {
	const char *hostname; /* greeting, EHLO, 421 texts */
	uint64_t size_limit; /* SIZE in EHLO; the largest message */
	unsigned rcpt_limit; /* per message; 452 4.5.3 beyond */
	unsigned error_limit; /* errors before 421 4.7.0 and the end */
	unsigned ext; /* SMTPIN_EXT_* */
};

/* The reply of smtpd and ncsendmail -bs to an address with UTF-8 in a
 * transaction whose MAIL did not give SMTPUTF8 (RFC 6531 section 3.5;
 * Postfix's words). */
#define SMTPIN_NEED_SMTPUTF8                                                   \
	"553 5.6.7 Must declare SMTPUTF8 to send unicode address"

/* What MAIL FROM said. */
struct smtpin_mail {
	const char *addr; /* inside <>, source route dropped; "" = null */
	const char *body; /* "7BIT", "8BITMIME" or NULL */
	uint64_t size; /* SIZE=, 0 when not given */
	int smtputf8; /* SMTPUTF8 given */
	const char *ret; /* DSN RET: "FULL", "HDRS" or NULL */
	const char *envid; /* DSN ENVID, xtext decoded, or NULL; as
			      dsn_envid_valid() takes it */
};

/* What RCPT TO said. */
struct smtpin_rcpt {
	const char *addr; /* inside <>, source route dropped */
	const char *notify; /* DSN NOTIFY, upper case ("SUCCESS,DELAY",
			       "NEVER") or NULL */
	const char *orcpt; /* DSN ORCPT, xtext decoded ("rfc822;a@b") and
			      as dsn_orcpt_valid() takes it, or NULL */
};

/*
 * The caller's side. helo, mail and rcpt return NULL to accept, or the
 * whole reply line to refuse ("452 4.3.1 ..."); the string must live
 * until the next call into the engine.
 *
 * The content comes through data in pieces as it arrives: after DATA
 * dot-unstuffed with LF line ends, after BDAT the octets as sent. data
 * returns NULL to go on, or a reply to refuse the message: the rest of
 * its content is read and dropped, and the reply is given at its end.
 * When the content is complete (the final dot, or BDAT ... LAST),
 * data_end gives the reply, or SMTPIN_LATER: the caller answers later
 * with smtpin_data_done(), and until then the engine takes no further
 * input (smtpin_feed() uses nothing) -- pipelined commands wait.
 * A message over size_limit is refused (552 5.3.4) by the engine
 * itself; data_end is not called, reset is.
 *
 * After BDAT the refusal (the caller's, or 552 5.3.4) is the reply to
 * the chunk it came in; the transaction ends there (reset), and BDAT
 * chunks the client had already pipelined are read whole, dropped and
 * answered with the same reply (RFC 3030 section 4.2).
 *
 * reset: the transaction ended (after the reply to its content), or
 * was dropped (RSET, EHLO, HELO, a refused MAIL, QUIT, the end: the
 * error limit or smtpin_close_with(), when smtpin_closed() is already
 * true; smtpin_free() calls none of ops).
 * starttls: "220 2.0.0 Ready to start TLS" is queued; the caller writes
 * it, starts TLS, and calls smtpin_tls_started(). helo and starttls may
 * be NULL.
 * refused (may be NULL): the engine itself answered a command, or the
 * content, with a 4xx/5xx reply (syntax, sequence, a limit: 452 4.5.3,
 * 552 5.3.4, 421 4.7.0) -- for the log line. cmd is an enum smtpin_cmd;
 * line the command line as the client sent it (any octet but NUL, CR,
 * LF: escape it before logging; a chunk's BDAT line), "" at the end of
 * DATA content.
 */
struct smtpin_ops {
	const char *(*helo)(void *arg, const char *name, int extended);
	const char *(*mail)(void *arg, const struct smtpin_mail *);
	const char *(*rcpt)(void *arg, const struct smtpin_rcpt *);
	const char *(*data)(void *arg, const char *p, size_t n);
	const char *(*data_end)(void *arg);
	void (*reset)(void *arg);
	void (*starttls)(void *arg);
	void (*refused)(
	    void *arg, int cmd, const char *line, const char *reply);
};

extern const char SMTPIN_LATER[]; /* data_end: the reply comes later */

/* Per command, for the "disconnect from ... ehlo=1 mail=1/2 ..." log
 * line (Postfix smtpd's): how many were given and how many accepted. */
enum smtpin_cmd {
	SMTPIN_C_EHLO,
	SMTPIN_C_HELO,
	SMTPIN_C_STARTTLS,
	SMTPIN_C_MAIL,
	SMTPIN_C_RCPT,
	SMTPIN_C_DATA,
	SMTPIN_C_BDAT,
	SMTPIN_C_RSET,
	SMTPIN_C_NOOP,
	SMTPIN_C_VRFY,
	SMTPIN_C_QUIT,
	SMTPIN_C_UNKNOWN, /* anything else, HELP and EXPN included */
	SMTPIN_NCMDS
};
struct smtpin_counts {
	unsigned given[SMTPIN_NCMDS], ok[SMTPIN_NCMDS];
	unsigned commands, errors; /* all given; those counted against
				      error_limit */
};

struct smtpin;

struct smtpin *smtpin_new(
    const struct smtpin_config *, const struct smtpin_ops *, void *arg);
void smtpin_free(struct smtpin *);

/* Queue the 220 greeting ("220 HOST ESMTP ncmta"). */
void smtpin_greet(struct smtpin *);
/* Queue a reply and end the session, e.g. "554 5.7.1 ..." to a client
 * outside mynetworks, "421 4.4.2 ... timeout" on a time-out. */
void smtpin_close_with(struct smtpin *, const char *reply);

/*
 * Take what can be taken of the client's bytes; returns how many octets
 * were used. What is left (an incomplete line, input after a SMTPIN_LATER,
 * after STARTTLS, or after the end) must be offered again with what
 * follows it; at_eof says nothing more will come. The caller holds at
 * most SMTPIN_LINE_MAX + 2 octets for a command line and 4096 inside
 * DATA; while the engine waits, whatever arrives.
 *
 * STARTTLS: the octets left after the STARTTLS line were sent in the
 * clear before the handshake. The caller must discard them, never offer
 * them again: a client (or someone in the path) may have put commands
 * there to have them run as if sent over TLS (RFC 3207 section 4.2).
 */
size_t smtpin_feed(struct smtpin *, const char *buf, size_t len, int at_eof);

/* The reply to the content that data_end left for later. The caller
 * then offers the octets it holds again (pipelined commands). Nothing
 * happens once the session has ended (smtpin_close_with() meanwhile). */
void smtpin_data_done(struct smtpin *, const char *reply);
/* TLS is up: the client must say EHLO again (MAIL before it: 503);
 * STARTTLS is not offered. */
void smtpin_tls_started(struct smtpin *);

/* Replies not yet written, and forgetting them once they are. */
const char *smtpin_output(const struct smtpin *, size_t *len);
void smtpin_output_done(struct smtpin *);

/* QUIT was answered, or the session was ended: read no more. */
int smtpin_closed(const struct smtpin *);
/* A transaction is open (MAIL accepted, its content not yet answered). */
int smtpin_pending(const struct smtpin *);
/* Waiting for the caller: smtpin_data_done() or smtpin_tls_started(). */
int smtpin_waiting(const struct smtpin *);
/* The HELO/EHLO name given ("" before), and whether it was EHLO. */
const char *smtpin_helo(const struct smtpin *);
int smtpin_extended(const struct smtpin *);
const struct smtpin_counts *smtpin_counts(const struct smtpin *);
/* The command given last (an enum smtpin_cmd: DATA or BDAT while its
 * content comes), or -1 before the first: "timeout after DATA". */
int smtpin_last_cmd(const struct smtpin *);

#endif
