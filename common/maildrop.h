/*
 * maildrop.h - the file ncsendmail leaves in QDIR/maildrop and pickup
 * reads: a versioned envelope block, an empty line, then the message as
 * submitted. The writer is any local user, so the reader checks every
 * field and never trusts the file for the submitting uid (the file's
 * owner is). Also the header-field walk both sides use on the message.
 *
 *	NCMTA-DROP 1
 *	sender <alice@example.com>	("<>": null sender)
 *	fullname Alice Example		(optional)
 *	rcpt <bob@example.org>		(one or more)
 *	orcpt rfc822;Bob@example.org	(optional, right after the rcpt
 *					 it belongs to: its DSN ORCPT,
 *					 xtext decoded; dsn_orcpt_valid())
 *	extract 1			(optional: -t was given)
 *	smtputf8 1			(optional: SMTPUTF8 was given on
 *					 MAIL, RFC 6531; the addresses may
 *					 then hold UTF-8)
 *	notify SUCCESS,FAILURE		(optional DSN fields: notify, ret,
 *	ret HDRS			 envid, body)
 *	client host[192.0.2.1]		(optional, smtpd's files only:
 *	helo host.example		 who sent it over SMTP)
 *	proto ESMTP
 *	size 1834			(octets of message that follow)
 *
 *	message...
 */
#ifndef NCMTA_MAILDROP_H
#define NCMTA_MAILDROP_H

#include <stddef.h>
#include <stdint.h>

#define MAILDROP_MAGIC "NCMTA-DROP"
#define MAILDROP_VERSION 1
#define MAILDROP_TMP_PREFIX "tmp." /* files still being written */
#define MAILDROP_FIELD_MAX 1024 /* longest envelope line */

struct maildrop {
	char *sender; /* "" = null sender */
	char *fullname; /* "" if none */
	char **rcpt;
	char **orcpt; /* parallel to rcpt: each one's DSN ORCPT
			 ("rfc822;a@b", xtext decoded), "" if none */
	size_t nrcpt;
	int extract; /* recipients were taken from To/Cc/Bcc (-t) */
	int smtputf8; /* SMTPUTF8 was given on MAIL (RFC 6531) */
	char *notify; /* DSN NOTIFY ("NEVER", "SUCCESS,DELAY"...) or "" */
	char *ret; /* DSN RET ("FULL", "HDRS") or "" */
	char *envid; /* DSN ENVID or "" */
	char *body_type; /* "7BIT", "8BITMIME" or "" */
	/* Only in smtpd's spool files (pickup refuses them elsewhere): the
	 * client, for the Received: field pickup writes. */
	char *client; /* "NAME[IP]" or "" */
	char *helo; /* the HELO/EHLO name, "" if none */
	char *proto; /* "SMTP", "ESMTP", "ESMTPS" or "" */
	const char *msg; /* the message: into the parsed buffer */
	size_t msglen;
};

/* Empty envelope (all strings "" and owned, no recipients). */
void maildrop_init(struct maildrop *);
void maildrop_clear(struct maildrop *);
/* Append a recipient and its ORCPT (NULL or "": none), both copied. */
void maildrop_add_rcpt(struct maildrop *, const char *addr, const char *orcpt);
/* Remove repeated recipients (addr_dedup()), keeping the first of each
 * with its ORCPT. */
void maildrop_dedup(struct maildrop *);

/*
 * One RCPT of an SMTP transaction (ncsendmail -bs, smtpd) into the
 * envelope: addr, already normalised, with its NOTIFY and ORCPT (NULL:
 * not given; as smtpin hands them over). The maildrop keeps one NOTIFY
 * per message, as -N gives it: the first recipient sets it, and one
 * that asks for another is not taken -- the reply is 452 4.5.3 (as for
 * too many recipients), and the client sends it in a transaction of its
 * own. Returns NULL when taken, else that reply.
 */
const char *maildrop_smtp_rcpt(
    struct maildrop *, const char *addr, const char *notify, const char *orcpt);

/*
 * The envelope block for a message of msglen octets, ending with the
 * empty line. Returns a malloc'd string and its length in *len, or NULL
 * with *err set when a field cannot be written (control characters).
 */
char *maildrop_envelope(
    const struct maildrop *, uint64_t msglen, size_t *len, const char **err);

/*
 * Parse a whole drop file. On success md owns its strings and md->msg
 * points into buf. Returns 0, or -1 with a reason in *err.
 */
int maildrop_parse(
    const char *buf, size_t len, struct maildrop *md, const char **err);

/* One header field of a message, continuation lines included. */
struct msg_field {
	const char *name; /* field name, not NUL-terminated */
	size_t namelen;
	const char *value; /* after the colon, up to the final line end */
	size_t valuelen;
	const char *start; /* the whole field including its line end(s) */
	size_t len;
};

/*
 * Walk the header of msg (LF or CRLF line ends). *pos starts at 0.
 * Returns 1 and fills f for each field; 0 at the end of the header, with
 * *pos at the first octet after it (the empty line, or the first line
 * that is not a header field: the body then starts at *pos).
 */
int msg_field_next(
    const char *msg, size_t len, size_t *pos, struct msg_field *f);

/* Whether f is the field called name (case-insensitive). */
int msg_field_is(const struct msg_field *f, const char *name);

#endif
