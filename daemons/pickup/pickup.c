/*
 * pickup.c - the pickup daemon: moves maildrop files into the queue.
 * Every ready file of a batch is inserted, with its name recorded in the
 * queue's drop table, in ONE transaction (the group commit); only then
 * are the files unlinked, and the names forgotten in a later
 * transaction. A file whose name is still recorded after a crash was
 * already queued and is only unlinked: nothing lost, nothing twice.
 */
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "maildrop.h"
#include "pickup.h"
#include "privdrop.h"
#include "proto.h"
#include "queue.h"
#include "rewrite.h"
#include "util.h"

#define PK_BATCH_FILES 512
#define PK_PRIORITIES 3 /* events default to 1; the batched ingest is 2 */
#define PK_BATCH_BYTES (16 * 1024 * 1024)
#define PK_SCAN_SECS 5
#define PK_TMP_MAX_AGE 86400
#define PK_CONNECT_WAIT_MS 10000

/* A set of maildrop file names, in name (= submission time) order. */
struct pk_name {
	RB_ENTRY(pk_name) entry;
	char *name;
};
RB_HEAD(pk_names, pk_name);
RB_PROTOTYPE(pk_names, pk_name, entry, pk_name_cmp);

static int
pk_name_cmp(struct pk_name *a, struct pk_name *b)
{
	return strcmp(a->name, b->name);
}
RB_GENERATE(pk_names, pk_name, entry, pk_name_cmp);

/* One file of a batch. */
struct pk_item {
	char *name;
	char *data; /* the whole file */
	size_t len;
	uint32_t uid; /* the file's owner: the submitting user */
	struct maildrop md;
	struct rw_result rr; /* md's recipients after rewriting */
	char *hdrs; /* the message with rewritten header fields, or NULL */
	uint64_t qid;
	char *msgid; /* its Message-ID:, as normalize_message() logs it */
	int already; /* its name was in the drop table: queued before */
};

static struct pickup {
	struct nc_config cfg;
	struct event_base *base;
	struct queue *q;
	int qdir_fd, drop_fd, corrupt_fd, ino_fd;
	struct event *ev_ino, *ev_scan, *ev_reconnect;
	struct event *ev_ingest; /* when nothing else is ready: a batch */
	struct event *ev_ingest_now; /* a batch is full: do not wait */
	size_t takes; /* names taken since the last ingest */
	struct ipc_peer *master, *qmgr;
	char *qmgr_path;
	struct pk_names pending; /* files to ingest */
	struct pk_names forget; /* unlinked files still in the drop table */
	struct pk_names ignore; /* bad files we could not move aside */
	struct dropdir *dd; /* drop_directory, or NULL (dropdir.c) */
	size_t batch_max; /* files per batch: shrinks while the queue is full */
	int full; /* the queue was full: wait for the next scan */
	int full_flag; /* QDIR/full may exist */
	const char *why; /* reason a file is refused */
	struct rewrite rw; /* aliases, generic_maps (common/rewrite.c) */
	int suspect_fd; /* flags/pickup.suspect, or -1 */
	char *suspect_map; /* its record, mapped shared; NULL: pwrite() */
	uint32_t uid; /* ours after the privilege drop: smtpd's messages' */
	char *suspect; /* the file pickup died on last time, or NULL */
	int suspect_strikes; /* how many times in a row */
} pk;

/* -- name sets --------------------------------------------------------------- */

static int
pk_names_has(struct pk_names *set, const char *name)
{
	struct pk_name key = {.name = (char *)name};

	return RB_FIND(pk_names, set, &key) != NULL;
}

static void
pk_names_add(struct pk_names *set, const char *name)
{
	struct pk_name *n = xcalloc(1, sizeof(*n));

	n->name = xstrdup(name);
	if (RB_INSERT(pk_names, set, n) != NULL) {
		free(n->name);
		free(n);
	}
}

static void
pk_names_clear(struct pk_names *set)
{
	struct pk_name *n, *tmp;

	RB_FOREACH_SAFE(n, pk_names, set, tmp)
	{
		RB_REMOVE(pk_names, set, n);
		free(n->name);
		free(n);
	}
}

/* Remove and return the first name (the caller frees it), or NULL. */
static char *
pk_names_pop(struct pk_names *set)
{
	struct pk_name *n = RB_MIN(pk_names, set);
	char *name;

	if (n == NULL)
		return NULL;
	RB_REMOVE(pk_names, set, n);
	name = n->name;
	free(n);
	return name;
}

/* A file pickup should look at: not "." or "..", not being written. */
static int
pk_candidate(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 &&
	    strncmp(name, MAILDROP_TMP_PREFIX, strlen(MAILDROP_TMP_PREFIX)) !=
	    0 &&
	    !pk_names_has(&pk.ignore, name);
}

/* -- suspects ----------------------------------------------------------------- */

/*
 * While pickup parses and rewrites a file, flags/pickup.suspect names it
 * (written without fsync: it only has to survive pickup, not the host).
 * Should pickup die there, the next pickup finds the name; a file it died
 * on PK_SUSPECT_STRIKES times running is moved aside (corrupt/, or bad/
 * for a drop file) as quarantined, so one file cannot stop the ingest of
 * all the others.
 */
#define PK_SUSPECT_FILE "flags/pickup.suspect"
#define PK_SUSPECT_STRIKES 3
#define PK_SUSPECT_REC 512

/* One write a change: the record is NUL-padded to a fixed length, an
 * empty one is a NUL in its first octet. It is written into a shared
 * mapping of the file (no system call: it is set and cleared twice for
 * every message), which outlives the process as a write() would. */
static void
pk_suspect_write(const char *text)
{
	char rec[PK_SUSPECT_REC];
	size_t n = *text != '\0' ? sizeof(rec) : 1;

	if (pk.suspect_map != NULL) {
		if (*text == '\0')
			pk.suspect_map[0] = '\0';
		else
			strncpy(pk.suspect_map, text, PK_SUSPECT_REC - 1);
		return;
	}
	if (pk.suspect_fd == -1)
		return;
	memset(rec, 0, sizeof(rec));
	strlcpy(rec, text, sizeof(rec));
	if (pwrite(pk.suspect_fd, rec, n, 0) != (ssize_t)n)
		log_warn("cannot update %s", PK_SUSPECT_FILE);
}

/* The same file, or the same inline content ("/M/<digest>." alike). */
static int
pk_suspect_same(const char *key)
{
	size_t n;

	if (pk.suspect == NULL)
		return 0;
	if (ingest_inline(key) && ingest_inline(pk.suspect)) {
		n = strcspn(key, ".");
		return strncmp(key, pk.suspect, n) == 0 && pk.suspect[n] == '.';
	}
	return strcmp(pk.suspect, key) == 0;
}

int
pk_quarantined(const char *key)
{
	return pk_suspect_same(key) && pk.suspect_strikes >= PK_SUSPECT_STRIKES;
}

static void
pk_suspect_set(const char *name)
{
	char buf[PK_SUSPECT_REC];
	int strikes = pk_suspect_same(name) ? pk.suspect_strikes : 0;

	snprintf(buf, sizeof(buf), "%d %s\n", strikes + 1, name);
	pk_suspect_write(buf);
}

static void
pk_suspect_clear(void)
{
	pk_suspect_write("");
}

static void pk_move_corrupt(const char *);

/* The record mapped shared, the file made a whole record long first
 * (mail_owner's directory: nobody else can shorten it under the map). */
static void
pk_suspect_map(void)
{
	struct stat st;
	void *p;

	if (fstat(pk.suspect_fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_size < PK_SUSPECT_REC &&
	        ftruncate(pk.suspect_fd, PK_SUSPECT_REC) == -1))
		return;
	p = mmap(NULL, PK_SUSPECT_REC, PROT_READ | PROT_WRITE, MAP_SHARED,
	    pk.suspect_fd, 0);
	if (p == MAP_FAILED) {
		log_warn("mmap %s; writing it instead", PK_SUSPECT_FILE);
		return;
	}
	pk.suspect_map = p;
}

/* After a start: what the last pickup died on, if anything. */
static void
pk_suspect_load(void)
{
	char buf[PK_SUSPECT_REC], *sp;
	ssize_t n;

	pk.suspect_fd = openat(pk.qdir_fd, PK_SUSPECT_FILE,
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (pk.suspect_fd == -1) {
		log_warn("cannot open %s", PK_SUSPECT_FILE);
		return;
	}
	n = pread(pk.suspect_fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	pk_suspect_map();
	buf[strcspn(buf, "\n")] = '\0';
	if (n <= 0 || (sp = strchr(buf, ' ')) == NULL || sp[1] == '\0')
		return;
	pk.suspect_strikes = atoi(buf);
	pk.suspect = xstrdup(sp + 1);
	log_warnx("pickup exited while taking %s (%d of %d)", pk.suspect,
	    pk.suspect_strikes, PK_SUSPECT_STRIKES);
	if (pk.suspect_strikes < PK_SUSPECT_STRIKES)
		return;
	pk.why = "quarantined: pickup exited while taking it, 3 times";
	/* a file is moved aside; inline content is refused when it comes
	 * again (pk_quarantined()) */
	if (!ingest_inline(pk.suspect))
		pk_move_corrupt(pk.suspect);
	pk_suspect_clear();
}

/* -- reading one file ------------------------------------------------------ */

static enum pk_read
pk_refuse(const char *why)
{
	pk.why = why;
	return PK_READ_BAD;
}

/* The sender and recipients come from any user: check them again. */
static enum pk_read
pk_check_envelope(struct maildrop *md)
{
	char addr[ADDR_MAX];
	const char *err;
	size_t i;
	int utf8 = md->smtputf8 ? ADDR_UTF8 : 0;

	if (addr_normalize(md->sender, pk.cfg.myorigin, ADDR_NULL_OK | utf8,
	        addr, sizeof(addr), &err) == -1)
		return pk_refuse("bad sender address");
	free(md->sender);
	md->sender = xstrdup(addr);
	for (i = 0; i < md->nrcpt; i++) {
		if (addr_normalize(md->rcpt[i], pk.cfg.myorigin, utf8, addr,
		        sizeof(addr), &err) == -1)
			return pk_refuse("bad recipient address");
		free(md->rcpt[i]);
		md->rcpt[i] = xstrdup(addr);
	}
	maildrop_dedup(md);
	if (md->nrcpt == 0)
		return pk_refuse("no recipients");
	if (!dsn_envid_valid(md->envid))
		return pk_refuse("bad ENVID (control characters, spaces or "
		                 "too long)");
	return PK_READ_OK;
}

int
pk_read_all(int fd, char **data, size_t *len, size_t size)
{
	ssize_t n;

	*data = xmalloc(size + 1);
	*len = 0;
	while (*len <= size) {
		n = read(fd, *data + *len, size + 1 - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		*len += (size_t)n;
	}
	errno = EFBIG; /* it grew while we read: someone still writes */
	return -1;
}

static enum pk_read
pk_read_file(struct pk_item *it)
{
	struct stat st;
	const char *err = NULL;
	enum pk_read r;
	int fd;

	if (dropdir_owns(it->name)) {
		r = dropdir_read(pk.dd, it->name, &it->data, &it->len, &it->uid,
		    &it->md, &pk.why);
		return r == PK_READ_OK ? pk_check_envelope(&it->md) : r;
	}
	if (ingest_owns(it->name)) {
		it->uid = pk.uid;
		r = ingest_read(
		    it->name, &it->data, &it->len, &it->md, &pk.why);
		return r == PK_READ_OK ? pk_check_envelope(&it->md) : r;
	}
	fd = openat(pk.drop_fd, it->name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return PK_READ_GONE;
	if (fd == -1 && errno == ELOOP)
		return pk_refuse("symbolic link");
	if (fd == -1) {
		log_warn("cannot open maildrop/%s", it->name);
		return PK_READ_RETRY;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		return pk_refuse("not a regular file with one link");
	}
	if (st.st_size > pk.cfg.message_size_limit + PK_ENVELOPE_SLACK) {
		close(fd);
		return pk_refuse("larger than message_size_limit");
	}
	it->uid = (uint32_t)st.st_uid;
	if (pk_read_all(fd, &it->data, &it->len, (size_t)st.st_size) == -1) {
		log_warn("cannot read maildrop/%s", it->name);
		close(fd);
		return PK_READ_RETRY;
	}
	close(fd);
	if (maildrop_parse(it->data, it->len, &it->md, &err) == -1)
		return pk_refuse(err);
	if (*it->md.client != '\0' || *it->md.helo != '\0' ||
	    *it->md.proto != '\0')
		return pk_refuse("client fields, which only smtpd may write");
	return pk_check_envelope(&it->md);
}

/* A file that cannot be parsed goes to QDIR/corrupt for a human. */
static void
pk_move_corrupt(const char *name)
{
	char reply[300];

	if (ingest_owns(name)) { /* smtpd tells its client, the file goes */
		snprintf(reply, sizeof(reply), "554 5.6.0 Error: %s", pk.why);
		log_warnx("incoming/%s: %s; refused", name + 3, pk.why);
		ingest_answer(name, 5, 0, reply);
		ingest_remove(name);
		return;
	}
	if (dropdir_owns(name)) {
		if (dropdir_move_bad(pk.dd, name, pk.why) == -1)
			pk_names_add(&pk.ignore, name);
		return;
	}
	if (pk.corrupt_fd != -1 &&
	    renameat(pk.drop_fd, name, pk.corrupt_fd, name) == 0) {
		log_warnx("maildrop/%s: %s; moved to corrupt/", name, pk.why);
		return;
	}
	log_warnx("maildrop/%s: %s; cannot move it to corrupt/: %s", name,
	    pk.why, strerror(errno));
	pk_names_add(&pk.ignore, name);
}

static void
pk_item_free(struct pk_item *it)
{
	free(it->name);
	free(it->data);
	if (it->md.sender != NULL)
		maildrop_clear(&it->md);
	rw_result_free(&it->rr);
	free(it->hdrs);
	free(it->msgid);
	memset(it, 0, sizeof(*it));
}

/*
 * Take names from the pending set and read their files until the batch
 * is full. Files that vanished are skipped, bad ones moved aside, and a
 * file that cannot be read now stays for the next scan.
 */
static size_t
pk_batch_collect(struct pk_item *items)
{
	size_t n = 0, bytes = 0;
	struct pk_item *it;
	enum pk_read r;

	while (n < pk.batch_max && bytes < PK_BATCH_BYTES) {
		it = &items[n];
		memset(it, 0, sizeof(*it));
		if ((it->name = pk_names_pop(&pk.pending)) == NULL)
			break;
		pk_suspect_set(it->name);
		r = pk_read_file(it);
		pk_suspect_clear();
		switch (r) {
		case PK_READ_OK:
			bytes += it->len;
			n++;
			continue;
		case PK_READ_BAD:
			pk_move_corrupt(it->name);
			break;
		case PK_READ_GONE:
			if (ingest_owns(it->name))
				ingest_answer(it->name, 4, 0,
				    "451 4.3.0 Error: the message was lost; "
				    "try again");
			break;
		case PK_READ_RETRY:
			break;
		}
		pk_item_free(it);
	}
	return n;
}

/* -- rewriting ---------------------------------------------------------------- */

/*
 * Aliases, forwarding and generic_maps, once, before the message is
 * queued: md's recipients become the results, in order, and the sender
 * and the address header fields (From, Sender, Reply-To, To, Cc, Resent-*) are rewritten.
 */
static void
pk_rewrite(struct pk_item *it)
{
	size_t i, len;
	char *g;

	rw_result_free(&it->rr);
	rewrite_recipients(
	    &pk.rw, it->md.rcpt, it->md.orcpt, it->md.nrcpt, &it->rr);
	for (i = 0; i < it->md.nrcpt; i++) {
		free(it->md.rcpt[i]);
		free(it->md.orcpt[i]);
	}
	it->md.rcpt = xreallocarray(it->md.rcpt, it->rr.n + 1, sizeof(char *));
	it->md.orcpt =
	    xreallocarray(it->md.orcpt, it->rr.n + 1, sizeof(char *));
	for (i = 0; i < it->rr.n; i++) {
		it->md.rcpt[i] = xstrdup(it->rr.r[i].addr);
		it->md.orcpt[i] = xstrdup(it->rr.r[i].orcpt);
	}
	it->md.nrcpt = it->rr.n;
	if ((g = rewrite_generic(&pk.rw, it->md.sender)) != NULL) {
		free(it->md.sender);
		it->md.sender = g;
	}
	free(it->hdrs);
	it->hdrs =
	    rewrite_header_fields(&pk.rw, it->md.msg, it->md.msglen, &len);
	if (it->hdrs != NULL) {
		it->md.msg = it->hdrs;
		it->md.msglen = len;
	}
}

/* A recipient that failed in rewriting is queued failed: qmgr sends
 * its bounce notice as for any other. */
static struct q_rcpt
pk_rcpt(struct pk_item *it, size_t i)
{
	struct rw_rcpt *r = &it->rr.r[i];

	return (struct q_rcpt){it->md.rcpt[i], *r->dsn ? QR_FAILED : QR_PENDING,
	    r->dsn, r->reason, it->md.orcpt[i]};
}

/* After the commit: what rewriting decided, in the log. */
static void
pk_log_rewrite(const struct pk_item *it, const char *qid)
{
	struct log_delivery d;
	double now = now_sec();
	size_t i;

	for (i = 0; i < it->rr.nnotes; i++)
		log_warnx("%s: %s", qid, it->rr.notes[i]);
	for (i = 0; i < it->rr.n; i++) {
		if (*it->rr.r[i].dsn == '\0')
			continue;
		memset(&d, 0, sizeof(d));
		d.qid = qid;
		d.rcpt = it->rr.r[i].addr;
		d.relay = "none";
		d.arrival = d.t_active = d.t_handoff = d.t_done = now;
		d.dsn = it->rr.r[i].dsn;
		d.status = "bounced";
		d.reason = it->rr.r[i].reason;
		log_delivery(&d);
	}
}

/* -- the group commit --------------------------------------------------------- */

/* The DSN parameters of the submission (-N, -R; -V is the envid), kept
 * in the record and passed on; a value that does not parse is dropped
 * (ncsendmail refuses them, so only a hand-made file has one). */
static void
pk_dsn_params(const struct maildrop *md, struct q_msg *m)
{
	int v;

	if (*md->notify != '\0') {
		if ((v = dsn_notify_parse(md->notify)) > 0)
			m->dsn_notify = (uint8_t)v;
		else
			log_warnx("ignoring DSN NOTIFY \"%s\"", md->notify);
	}
	if (*md->ret != '\0') {
		if ((v = dsn_ret_parse(md->ret)) > 0)
			m->dsn_ret = (uint8_t)v;
		else
			log_warnx("ignoring DSN RET \"%s\"", md->ret);
	}
}

/* QMSG_F_SMTPUTF8 and QMSG_F_UTF8ADDR, from the envelope as rewritten. */
static uint32_t
pk_utf8_flags(const struct maildrop *md)
{
	uint32_t f = md->smtputf8 ? QMSG_F_SMTPUTF8 : 0;
	size_t i;

	if (addr_is_8bit(md->sender))
		f |= QMSG_F_UTF8ADDR;
	for (i = 0; i < md->nrcpt && !(f & QMSG_F_UTF8ADDR); i++)
		if (addr_is_8bit(md->rcpt[i]))
			f |= QMSG_F_UTF8ADDR;
	if (f & QMSG_F_UTF8ADDR)
		f |= QMSG_F_SMTPUTF8;
	return f;
}

/* Insert one message: record, normalised body, and its file's name. */
static int
pk_put_item(struct queue_txn *txn, struct pk_item *it, time_t now)
{
	struct q_rcpt *rcpt;
	struct q_msg m;
	struct norm_out out;
	struct norm_in in;
	char qid[NC_QID_LEN + 1], *one;
	uint64_t old;
	size_t i;
	int rc;

	if (!ingest_inline(it->name) &&
	    queue_drop_get(txn, it->name, &old) == 0) {
		it->already = 1;
		return 0;
	}
	if ((rc = queue_new_qid(txn, &it->qid)) != 0)
		return rc;
	qid_format(it->qid, qid);
	pk_suspect_set(it->name);
	one = it->md.nrcpt == 1 ? xstrdup(it->md.rcpt[0]) : NULL;
	pk_rewrite(it);
	in = (struct norm_in){it->md.msg, it->md.msglen, it->md.sender,
	    it->md.fullname, pk.cfg.myhostname, qid, it->uid, now,
	    it->md.client, it->md.helo, it->md.proto, one};
	normalize_message(&in, &out);
	free(it->msgid); /* from a commit that failed */
	it->msgid = out.msgid;
	free(one);
	pk_suspect_clear();
	rcpt = xcalloc(it->md.nrcpt, sizeof(*rcpt));
	for (i = 0; i < it->md.nrcpt; i++)
		rcpt[i] = pk_rcpt(it, i);
	m = (struct q_msg){.qid = it->qid,
	    .state = Q_INCOMING,
	    .flags = (out.eightbit ? QMSG_F_8BIT : 0) | pk_utf8_flags(&it->md),
	    .uid = it->uid,
	    .arrival_us = now_usec(),
	    .size = out.len,
	    .sender = it->md.sender,
	    .nrcpt = (uint32_t)it->md.nrcpt,
	    .rcpt = rcpt,
	    .envid = it->md.envid};
	pk_dsn_params(&it->md, &m);
	if ((rc = queue_put_msg(txn, &m)) == 0 &&
	    (rc = queue_put_body(txn, it->qid, out.body, out.len)) == 0 &&
	    !ingest_inline(it->name)) /* no file: nothing to remember */
		rc = queue_drop_put(txn, it->name, it->qid);
	free(rcpt);
	free(out.body);
	return rc;
}

/*
 * Forget names of files already unlinked. The unlinks are made durable
 * first, so a crash cannot bring back a file whose name is gone (it
 * would be queued twice); while a directory cannot be synced the names
 * are kept, which costs nothing but their room in the drop table.
 */
static int
pk_forget_names(struct queue_txn *txn, int *forgot)
{
	struct pk_name *n;
	int rc;

	*forgot = 0;
	if (RB_EMPTY(&pk.forget))
		return 0;
	if (fsync(pk.drop_fd) == -1) {
		log_warn("fsync maildrop; its queued names are kept for now");
		return 0;
	}
	if (dropdir_sync(pk.dd) == -1 || ingest_sync() == -1)
		return 0;
	RB_FOREACH(n, pk_names, &pk.forget)
	if ((rc = queue_drop_del(txn, n->name)) != 0)
		return rc;
	*forgot = 1;
	return 0;
}

/*
 * Whether a batch of bytes may be ingested now: ingest stops before the
 * queue's map and file system fill, so that qmgr's outcomes and
 * removals and the bounce daemon's notices always find room (queue.h,
 * QUEUE_RESERVE_DIVISOR; half of queue_minfree on the file system).
 */
static int
pk_room(struct queue_txn *txn, uint64_t bytes)
{
	struct statvfs sv;

	if (!queue_room_for_ingest(txn, bytes))
		return 0;
	if (fstatvfs(pk.qdir_fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize <
	        bytes + (uint64_t)pk.cfg.queue_minfree / 2)
		return 0;
	return 1;
}

static int
pk_commit(struct pk_item *items, size_t n)
{
	struct queue_txn *txn;
	time_t now = time(NULL);
	uint64_t bytes = 0;
	size_t i;
	int rc, forgot;

	if ((rc = queue_txn_begin(pk.q, &txn, 0)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		bytes += items[i].len;
	if (n > 0 && !pk_room(txn, bytes)) {
		queue_txn_abort(txn);
		return QUEUE_EFULL;
	}
	rc = pk_forget_names(txn, &forgot);
	for (i = 0; i < n && rc == 0; i++)
		rc = pk_put_item(txn, &items[i], now);
	if (rc != 0) {
		queue_txn_abort(txn);
		return rc;
	}
	if ((rc = queue_txn_commit(txn)) == 0 && forgot)
		pk_names_clear(&pk.forget);
	return rc;
}

/* -- after the commit --------------------------------------------------------- */

static void
pk_notify_qmgr(const struct ipcm_qid *qids, size_t n)
{
	struct ipcm_pickup_new msg = {.ids = qids, .ids_n = (uint32_t)n};

	if (pk.qmgr == NULL || n == 0)
		return;
	ipcm_pickup_new_send(pk.qmgr, &msg);
}

static void
pk_set_full(int full)
{
	int fd;

	pk.full = full;
	ingest_full(full);
	if (full) {
		fd = openat(pk.qdir_fd, "flags/full",
		    O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd == -1)
			log_warn("cannot create the queue-full flag");
		else
			close(fd);
		pk.full_flag = 1;
	} else if (pk.full_flag) {
		if (unlinkat(pk.qdir_fd, "flags/full", 0) == -1 &&
		    errno != ENOENT)
			log_warn("cannot remove the queue-full flag");
		pk.full_flag = 0;
	}
}

/* The messages are queued: remove their files, tell qmgr, log. */
static void
pk_committed(struct pk_item *items, size_t n)
{
	struct ipcm_qid qids[PK_BATCH_FILES];
	char qid[NC_QID_LEN + 1];
	size_t i, nq = 0;

	ingest_batch(1);
	for (i = 0; i < n; i++) {
		if (dropdir_owns(items[i].name))
			dropdir_remove(pk.dd, items[i].name);
		else if (ingest_owns(items[i].name))
			ingest_remove(items[i].name);
		else if (unlinkat(pk.drop_fd, items[i].name, 0) == -1 &&
		    errno != ENOENT)
			log_warn("cannot remove maildrop/%s", items[i].name);
		if (!ingest_inline(items[i].name))
			pk_names_add(&pk.forget, items[i].name);
		if (items[i].already)
			continue;
		qids[nq++].qid = items[i].qid;
		qid_format(items[i].qid, qid);
		metrics_count(dropdir_owns(items[i].name) ? NCM_RECV_DROPDIR
		        : ingest_owns(items[i].name)      ? NCM_RECV_SMTPD
		                                          : NCM_RECV_SENDMAIL,
		    1);
		/* smtpd logs its client, then the Message-ID, as Postfix's
		 * smtpd and cleanup do */
		if (ingest_owns(items[i].name))
			ingest_answer(
			    items[i].name, 0, items[i].qid, items[i].msgid);
		else {
			log_info("%s: uid=%u from=<%s>", qid,
			    (unsigned)items[i].uid, items[i].md.sender);
			log_info("%s: message-id=%s", qid, items[i].msgid);
		}
		pk_log_rewrite(&items[i], qid);
	}
	ingest_batch(0);
	pk_notify_qmgr(qids, nq);
	pk_set_full(0);
}

/*
 * After a failed commit: a full queue or a record the queue refuses is
 * retried in halves, so what fits still goes in and one bad file cannot
 * hold up the others; a single such file waits for space, or goes to
 * corrupt/. Returns 0 to go on ingesting, -1 to wait for the next scan.
 */
static int
pk_failed(struct pk_item *items, size_t n, int rc)
{
	struct statvfs sv;
	size_t i;

	/* LMDB reports a write cut short by a full file system as EIO */
	if (rc == QUEUE_EIO && fstatvfs(pk.qdir_fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize <
	        (uint64_t)pk.cfg.queue_minfree)
		rc = QUEUE_EFULL;

	if ((rc == QUEUE_EFULL || rc == QUEUE_EFORMAT) && n > 1) {
		pk.batch_max = n / 2;
		for (i = 0; i < n; i++)
			pk_names_add(&pk.pending, items[i].name);
		return 0;
	}
	if (rc == QUEUE_EFORMAT && n == 1) {
		pk.why = "the queue cannot store this message";
		pk_move_corrupt(items[0].name);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (!ingest_owns(items[i].name)) {
			pk_names_add(&pk.pending, items[i].name);
			continue;
		}
		/* smtpd's client is waiting: it sends again later */
		ingest_answer(items[i].name, 4, 0,
		    rc == QUEUE_EFULL
		        ? "451 4.3.0 Error: the queue is full; try again later"
		        : "451 4.3.0 Error: the message could not be queued; "
		          "try again later");
		ingest_remove(items[i].name);
	}
	log_warnx("cannot queue %zu message(s): %s; will retry", n,
	    queue_strerror(rc));
	if (rc == QUEUE_EFULL)
		pk_set_full(1);
	return -1;
}

/* Ingest everything pending, one group commit per batch. With force,
 * a commit runs even for no files, to forget names of removed files. */
static void
pk_ingest(int force)
{
	static struct pk_item items[PK_BATCH_FILES];
	size_t n, i;
	int rc, stop = 0;

	pk.takes = 0;
	while (!stop && !pk.full && (!RB_EMPTY(&pk.pending) || force)) {
		force = 0;
		n = pk_batch_collect(items);
		if (n == 0 && RB_EMPTY(&pk.forget))
			continue;
		if ((rc = pk_commit(items, n)) == 0) {
			pk_committed(items, n);
			pk.batch_max = PK_BATCH_FILES;
		} else
			stop = pk_failed(items, n, rc) == -1;
		for (i = 0; i < n; i++)
			pk_item_free(&items[i]);
	}
}

static void
pk_ingest_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	pk_ingest(0);
}

/*
 * A name is pending: ingest it once the loop has nothing else ready, so
 * that every request already on its way (smtpd's sessions, a burst of
 * drop files) joins the same group commit -- or at once when a batch
 * is full, so that a steady stream cannot put the commit off.
 */
static void
pk_ingest_soon(void)
{
	if (++pk.takes >= PK_BATCH_FILES)
		event_active(pk.ev_ingest_now, EV_TIMEOUT, 0);
	else
		event_active(pk.ev_ingest, EV_TIMEOUT, 0);
}

/* -- finding files ------------------------------------------------------------ */

/* A name still in the drop table belongs to a message already queued:
 * its file, if a crash left it, only needs removing. */
static int
pk_recover_one(const char *name, uint64_t qid, void *arg)
{
	char q[NC_QID_LEN + 1];

	(void)arg;
	qid_format(qid, q);
	if (dropdir_owns(name))
		dropdir_recovered(pk.dd, name, q);
	else if (ingest_owns(name))
		ingest_recovered(name, q);
	else if (unlinkat(pk.drop_fd, name, 0) == 0)
		log_info(
		    "%s: maildrop/%s was already queued; removed", q, name);
	pk_names_add(&pk.forget, name);
	return 0;
}

static void
pk_recover(void)
{
	struct queue_txn *txn;
	int rc;

	if ((rc = queue_txn_begin(pk.q, &txn, 1)) != 0) {
		log_warnx("cannot read the queue: %s", queue_strerror(rc));
		return;
	}
	if ((rc = queue_drop_walk(txn, pk_recover_one, NULL)) != 0)
		log_warnx("cannot read the drop table: %s", queue_strerror(rc));
	queue_txn_abort(txn);
}

/* A tmp.* file a day old was left by a submission that died. */
static void
pk_old_tmp(const char *name, time_t now)
{
	struct stat st;

	if (fstatat(pk.drop_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime < now - PK_TMP_MAX_AGE &&
	    unlinkat(pk.drop_fd, name, 0) == 0)
		log_info("removed stale maildrop/%s", name);
}

static void
pk_scan_dir(void)
{
	struct dirent *de;
	time_t now = time(NULL);
	DIR *dir;
	int fd;

	fd = openat(pk.drop_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("cannot read the maildrop");
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, MAILDROP_TMP_PREFIX,
		        strlen(MAILDROP_TMP_PREFIX)) == 0)
			pk_old_tmp(de->d_name, now);
		else if (pk_candidate(de->d_name))
			pk_names_add(&pk.pending, de->d_name);
	}
	closedir(dir);
}

/*
 * Only a commit clears the full mark, and with nothing pending none
 * comes: smtpd refuses at MAIL and ncsendmail before the maildrop while
 * the queue is marked full. So while it is, and nothing waits, look
 * whether delivery has made room again.
 */
static void
pk_room_back(void)
{
	struct queue_txn *txn;

	if (!pk.full_flag || pk.full || !RB_EMPTY(&pk.pending) ||
	    queue_txn_begin(pk.q, &txn, 1) != 0)
		return;
	if (pk_room(txn, 0))
		pk_set_full(0);
	queue_txn_abort(txn);
}

static void
pk_scan(void)
{
	pk.full = 0; /* try again: space may have come back */
	pk_recover();
	pk_scan_dir();
	dropdir_scan(pk.dd);
	pk_ingest(1);
	pk_room_back();
}

static void
pk_scan_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	pk_scan();
}

static void
pk_inotify_cb(evutil_socket_t fd, short ev, void *arg)
{
	char buf[64 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	ssize_t n;
	char *p;

	(void)ev;
	(void)arg;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->mask & IN_Q_OVERFLOW)
				event_active(pk.ev_scan, EV_TIMEOUT, 0);
			else if (ie->len > 0 && pk_candidate(ie->name)) {
				pk_names_add(&pk.pending, ie->name);
				pk_ingest_soon();
			}
		}
	}
}

/* -- qmgr connection ---------------------------------------------------------- */

static const struct ipc_handler pk_qmgr_table[] = {{0, NULL, NULL}};

static void pk_qmgr_closed(struct ipc_peer *, void *);

static int
pk_qmgr_connect(void)
{
	struct ipcm_pickup_hello hello = {.pid = (uint32_t)getpid()};
	int fd;

	if ((fd = ipc_connect(pk.qmgr_path)) == -1)
		return -1;
	pk.qmgr = ipc_peer_new(
	    pk.base, fd, "qmgr", pk_qmgr_table, 0, pk_qmgr_closed, NULL);
	ipcm_pickup_hello_send(pk.qmgr, &hello);
	return 0;
}

static void
pk_reconnect_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval tv = {1, 0};

	(void)fd;
	(void)ev;
	(void)arg;
	if (pk.qmgr == NULL && pk_qmgr_connect() == -1)
		evtimer_add(pk.ev_reconnect, &tv);
	else
		log_debug("connected to qmgr");
}

/* qmgr reloads the queue when it starts, so nothing is lost while the
 * connection is down: keep ingesting and reconnect. */
static void
pk_qmgr_closed(struct ipc_peer *p, void *arg)
{
	struct timeval tv = {1, 0};

	(void)p;
	(void)arg;
	pk.qmgr = NULL;
	log_debug("connection to qmgr lost; reconnecting");
	evtimer_add(pk.ev_reconnect, &tv);
}

/* -- the master's control channel --------------------------------------------- */

/* Tables as read at start (outside the chroot); bad lines are left out
 * and named in the log (ncctl check refuses them before a start). */
static void
pk_rewrite_load(void)
{
	struct cf_errors errs = {NULL, 0};

	if (rewrite_load(&pk.rw, &pk.cfg, &errs) == -1)
		log_warnx_text(
		    "address rewriting, going on without these lines:",
		    errs.text);
	cf_errors_free(&errs);
}

/* New settings and tables from the master, which checked them (pickup
 * cannot read them in its chroot); the ones in force stay if they fail
 * here. The settings apply to the messages taken from now on. */
static void
pk_ctl_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct cf_errors errs = {NULL, 0};
	struct ipcm_ctl_reload rl;
	struct nc_config cfg;
	struct rewrite rw;
	int bad;

	(void)p;
	(void)arg;
	if (ipcm_ctl_reload_get(m, &rl) == -1)
		return;
	/* rl.routes is not read: the routing table is qmgr's */
	memset(&rw, 0, sizeof(rw));
	bad = config_load_text(&cfg, "ncmta.conf", rl.conf, &errs) == -1;
	if (!bad) {
		daemon_reload_apply(&cfg, &pk.cfg, rl.myorigin);
		bad = rewrite_init(&rw, &cfg, rl.aliases, rl.generic, &errs) ==
		    -1;
	}
	if (bad) {
		log_warnx_text(
		    "reload refused, the settings and tables in force stay:",
		    errs.text);
		rewrite_free(&rw);
		config_free(&cfg);
	} else {
		rewrite_free(&pk.rw);
		pk.rw = rw;
		config_free(&pk.cfg);
		pk.cfg = cfg;
		dropdir_reload(pk.dd, &pk.cfg);
		ingest_reload(&pk.cfg);
		log_info("reloaded: %zu aliases, %zu generic_maps entries",
		    rw.aliases.n, rw.generic.n);
	}
	cf_errors_free(&errs);
}

static void
pk_ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
	exit(0);
}

static const struct ipc_handler pk_ctl_table[] = {
    IPCM_ON(CTL_STOP, pk_ctl_stop), IPCM_ON(CTL_RELOAD, pk_ctl_reload),
    IPCM_ON(CTL_FLUSH, ipc_ignore), IPCM_ON(CTL_STATUS, ipc_ignore),
    {0, NULL, NULL}};

/* -- start-up ----------------------------------------------------------------- */

struct event_base *
pickup_base(void)
{
	return pk.base;
}

/* A drop-directory file is complete (dropdir.c), or smtpd asks for a
 * spool file (ingest.c): ingest it. */
static void
pk_take(const char *key)
{
	if (pk_names_has(&pk.ignore, key))
		return;
	pk_names_add(&pk.pending, key);
	pk_ingest_soon();
}

static int
pk_open_dir(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		fatal("open %s/%s", pk.cfg.queue_directory, name);
	return fd;
}

/* QDIR/corrupt: created here if the master has not, owned by
 * mail_owner so it stays writable after privileges are dropped. */
static void
pk_open_corrupt(void)
{
	struct passwd *pw;

	int made = mkdirat(pk.qdir_fd, "corrupt", 0700) == 0;

	pk.corrupt_fd = openat(pk.qdir_fd, "corrupt",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pk.corrupt_fd == -1)
		log_warn("cannot open %s/corrupt", pk.cfg.queue_directory);
	else if (made && geteuid() == 0 &&
	    (pw = getpwnam(pk.cfg.mail_owner)) != NULL &&
	    fchown(pk.corrupt_fd, pw->pw_uid, pw->pw_gid) == -1)
		log_warn("chown corrupt");
}

static void
pk_open_files(void)
{
	char *path;

	pk.qdir_fd =
	    open(pk.cfg.queue_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pk.qdir_fd == -1)
		fatal("open %s", pk.cfg.queue_directory);
	pk.drop_fd = pk_open_dir(pk.qdir_fd, "maildrop");
	pk_open_corrupt();
	path = config_qpath(&pk.cfg, "maildrop");
	pk.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pk.ino_fd == -1 ||
	    inotify_add_watch(pk.ino_fd, path, IN_MOVED_TO | IN_CLOSE_WRITE) ==
	        -1)
		fatal("inotify on %s", path);
	free(path);
	pk.full_flag = faccessat(pk.qdir_fd, "flags/full", F_OK, 0) == 0;
	pk.dd = dropdir_open(&pk.cfg, pk.base, pk_take);
	ingest_open(&pk.cfg, pk.qdir_fd, pk_take);
}

/* qmgr may still be starting: try for a while, then go on without it. */
static void
pk_connect_initial(void)
{
	int waited;

	pk.qmgr_path = config_qpath(&pk.cfg, "private/qmgr");
	for (waited = 0; pk_qmgr_connect() == -1; waited += 100) {
		if (waited >= PK_CONNECT_WAIT_MS) {
			log_warn("cannot connect to qmgr; will retry");
			break;
		}
		usleep(100 * 1000);
	}
}

static void
pk_events(void)
{
	struct timeval scan = {PK_SCAN_SECS, 0};

	pk.ev_ino = event_new(
	    pk.base, pk.ino_fd, EV_READ | EV_PERSIST, pk_inotify_cb, NULL);
	pk.ev_scan = event_new(pk.base, -1, EV_PERSIST, pk_scan_cb, NULL);
	pk.ev_ingest = event_new(pk.base, -1, 0, pk_ingest_cb, NULL);
	pk.ev_ingest_now = event_new(pk.base, -1, 0, pk_ingest_cb, NULL);
	pk.ev_reconnect = evtimer_new(pk.base, pk_reconnect_cb, NULL);
	if (pk.ev_ino == NULL || pk.ev_scan == NULL || pk.ev_ingest == NULL ||
	    pk.ev_ingest_now == NULL || pk.ev_reconnect == NULL)
		fatalx("event_new");
	/* the lowest priority: it runs in a turn with nothing else ready */
	if (event_priority_set(pk.ev_ingest, PK_PRIORITIES - 1) == -1)
		fatalx("event_priority_set");
	event_add(pk.ev_ino, NULL);
	event_add(pk.ev_scan, &scan);
	if (pk.qmgr == NULL)
		evtimer_add(pk.ev_reconnect, &scan);
}

int
main(int argc, char **argv)
{
	char *path;
	int rc;

	RB_INIT(&pk.pending);
	RB_INIT(&pk.forget);
	RB_INIT(&pk.ignore);
	pk.batch_max = PK_BATCH_FILES;
	pk.suspect_fd = -1;
	daemon_setup(argc, argv, "pickup", &pk.cfg);
	if ((pk.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (event_base_priority_init(pk.base, PK_PRIORITIES) == -1)
		fatalx("event_base_priority_init");
	pk_open_files();
	pk_connect_initial();
	pk_rewrite_load();
	daemon_privdrop(&pk.cfg);
	pk.uid = (uint32_t)getuid();
	if (privdrop_chrooted()) {
		free(pk.qmgr_path);
		pk.qmgr_path = xstrdup("/private/qmgr");
	}
	/* the queue is mail_owner's: opened only once root is given up */
	path = daemon_qpath(&pk.cfg, "db");
	if ((rc = queue_open(&pk.q, path, pk.cfg.queue_map_size, 0)) != 0)
		fatalx("cannot open the queue in %s: %s", path,
		    queue_strerror(rc));
	free(path);
	pk.master = daemon_master_peer(pk.base, pk_ctl_table, NULL);
	pk_suspect_load();
	pk_events();
	pk_scan();
	event_base_dispatch(pk.base);
	return 0;
}
