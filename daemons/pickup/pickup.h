/*
 * pickup.h - the pickup daemon: ingests maildrop files into the queue in
 * group-committed batches, and the header normalisation it applies to
 * each message on the way in (normalize.c, pure functions).
 */
#ifndef NCMTA_PICKUP_H
#define NCMTA_PICKUP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What normalisation needs to know about one message. */
struct norm_in {
	const char *msg; /* as submitted: LF or CRLF line ends */
	size_t len;
	const char *sender; /* envelope sender, "" = null sender */
	const char *fullname; /* for a From: pickup adds; "" if none */
	const char *myhostname;
	const char *qid; /* formatted queue ID */
	uint32_t uid; /* submitting user */
	time_t now;
};

struct norm_out {
	char *body; /* malloc'd: LF line ends, headers added, Bcc removed */
	size_t len;
	int eightbit; /* an octet > 127 anywhere */
	int nreceived; /* Received: fields, ours included */
};

/*
 * Build the stored form of a message: a Received: field first, the
 * submitted header without Bcc:, then Date:, Message-ID: and From: where
 * missing, the empty line, the body; CRLF becomes LF.
 */
void normalize_message(const struct norm_in *, struct norm_out *);

/* "Sat, 28 Nov 2026 23:50:39 +0000" in the local time zone. */
size_t norm_date(time_t, char *, size_t);

/*
 * A From: value for the sender: "Full Name <a@b>" (the name quoted or
 * RFC 2047-encoded as needed), "<a@b>" without a name, and
 * "MAILER-DAEMON@myhostname" for the null sender. Returns malloc'd text.
 */
char *norm_from_value(
    const char *sender, const char *fullname, const char *myhostname);

#endif
