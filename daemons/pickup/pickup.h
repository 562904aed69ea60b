/*
 * pickup.h - the pickup daemon: ingests maildrop and drop-directory files
 * into the queue in group-committed batches, and the header normalisation
 * it applies to each message on the way in (normalize.c, pure functions).
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
	/* Over SMTP (smtpd's files): the client "NAME[IP]", its HELO name
	 * and the protocol; NULL or "" for a local submission. rcpt: the one
	 * recipient, for "for <rcpt>", or NULL when there are several. */
	const char *client, *helo, *proto, *rcpt;
};

struct norm_out {
	char *body; /* malloc'd: LF line ends, headers added, Bcc removed */
	size_t len;
	int eightbit; /* an octet > 127 anywhere */
	int nreceived; /* Received: fields, ours included */
	char *msgid; /* malloc'd: the Message-ID: value, for the log */
};

/*
 * Build the stored form of a message: a Received: field first (by
 * userid for a local submission, from the client for one over SMTP), the
 * submitted header without Bcc:, then Date:, Message-ID: and From: where
 * missing, the empty line, the body; CRLF becomes LF. out->msgid is the
 * first Message-ID: value, given or added, unfolded and trimmed, control
 * characters as "?", at most NORM_MSGID_MAX bytes.
 */
#define NORM_MSGID_MAX 512
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

/* -- the drop directory (dropdir.c; pure parts in dropfile.c) -------------- */

struct event_base;
struct maildrop;
struct nc_config;

/* What reading one file gave. */
enum pk_read { PK_READ_OK, PK_READ_GONE, PK_READ_RETRY, PK_READ_BAD };

/*
 * A drop-directory file is named in pickup's name sets and in the queue's
 * drop table by "/D/<inode>.<ctime s>.<ctime ns>/<name>" (hex numbers):
 * no maildrop name holds a '/', and the identity keeps a new file that
 * reuses an old name from passing for one already queued.
 */
#define DROPDIR_KEY_PREFIX "/D/"
#define DROPDIR_NAME_MAX 200 /* so that a key fits the drop table */
#define DROPDIR_STABLE_MS 2000 /* a file this long unchanged is complete */

struct dropdir_ident {
	uint64_t ino, size;
	struct timespec mtime, ctime;
};

/*
 * The envelope of a drop file: leading X-Sender:/X-Receiver: lines (then
 * md->msg starts after them, so they are not relayed), and for what they
 * do not give, From: (sender) and To:/Cc:/Bcc: (recipients). Addresses
 * are normalised with origin and de-duplicated. Returns 0, or -1 with a
 * one-line reason in why.
 */
int dropfile_parse(const char *buf, size_t len, const char *origin,
    struct maildrop *md, char *why, size_t whylen);
/* A name that says the file is in place: not ".*", not "*.tmp". */
int dropdir_name_ok(const char *name);
/* A name pickup can handle (length, no control characters), else why. */
int dropdir_name_usable(const char *name, const char **why);
int dropdir_key_make(
    const char *name, const struct dropdir_ident *, char *key, size_t keylen);
/* Inode and ctime from a key, and the file name inside it. */
int dropdir_key_parse(
    const char *key, struct dropdir_ident *, const char **name);
int dropdir_ident_same(
    const struct dropdir_ident *, const struct dropdir_ident *);
/*
 * 0 when a file first seen as seen (at monotonic time seen_at) and now
 * looking like now is complete: unchanged for DROPDIR_STABLE_MS by our
 * watch or by its ctime. Else the milliseconds left to wait.
 */
long dropdir_stable_wait(const struct dropdir_ident *seen,
    const struct timespec *seen_at, const struct dropdir_ident *now,
    const struct timespec *mono, const struct timespec *wall);

/* Read a whole file of size octets into *data (malloc'd, one spare
 * octet): 0, or -1 with errno (EFBIG: it grew, someone still writes). */
int pk_read_all(int fd, char **data, size_t *len, size_t size);

#define PK_ENVELOPE_SLACK (16 * 1024 * 1024) /* recipients etc. */

/* pickup's event base, for its parts (ingest.c). */
struct event_base *pickup_base(void);
/* Whether key names what pickup died on PK_SUSPECT_STRIKES times (an
 * inline message by its content's digest). */
int pk_quarantined(const char *key);

/* -- smtpd's spool files (ingest.c) ------------------------------------------ */

/*
 * Open QDIR/incoming and accept smtpd on private/pickup (fd 4, from the
 * master) before privileges are dropped; take(key) hands pickup a file
 * smtpd asked to queue. Keys are "/I/<file>".
 */
void ingest_open(
    const struct nc_config *, int qdir_fd, void (*take)(const char *key));
/* A reload's message_size_limit, for the files taken from now on. */
void ingest_reload(const struct nc_config *);
int ingest_owns(const char *key);
/* An inline message: no file, nothing in the drop table. */
int ingest_inline(const char *key);
enum pk_read ingest_read(const char *key, char **data, size_t *len,
    struct maildrop *, const char **why);
/* Answer smtpd's request for key: code 0 (queued as qid), 4 (try again
 * later) or 5 (refused), text saying why. */
void ingest_answer(const char *key, int code, uint64_t qid, const char *text);
/* Hold the answers of a batch back (1), then send each smtpd its share
 * in one write (0). */
void ingest_batch(int begin);
void ingest_remove(const char *key);
/* Make the removals durable (before the drop table forgets them). */
int ingest_sync(void);
/* The queue is full (1) or has room again (0): smtpd is told. */
void ingest_full(int full);
/* After a crash: remove the file of a key found in the drop table. */
void ingest_recovered(const char *key, const char *qid);

struct dropdir;

/*
 * Open drop_directory and its bad/ and watch it (before privileges are
 * dropped). NULL when drop_directory is off or cannot be opened (logged).
 * take(key) hands pickup a complete file.
 */
struct dropdir *dropdir_open(const struct nc_config *, struct event_base *,
    void (*take)(const char *key));
/* A reload's myorigin and message_size_limit, for the files taken from
 * now on (dd may be NULL: no drop directory). */
void dropdir_reload(struct dropdir *dd, const struct nc_config *);
/* Look at every file (pickup's periodic scan). */
void dropdir_scan(struct dropdir *);
int dropdir_owns(const char *key);
/* Read and parse the file of key; uid is its owner. */
enum pk_read dropdir_read(struct dropdir *, const char *key, char **data,
    size_t *len, uint32_t *uid, struct maildrop *, const char **why);
/* Move it to bad/ with a NAME.reason file; -1 if it could not be. */
int dropdir_move_bad(struct dropdir *, const char *key, const char *why);
/* Remove a queued file (only if it is still the file of key): 0 done. */
int dropdir_remove(struct dropdir *, const char *key);
/* Make the removals durable (before the drop table forgets them): 0,
 * or -1 when the directory could not be synced (the names stay). */
int dropdir_sync(struct dropdir *);
/* After a crash: remove the file of a key found in the drop table. */
void dropdir_recovered(struct dropdir *, const char *key, const char *qid);

#endif
