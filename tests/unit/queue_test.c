/*
 * queue_test.c - the LMDB queue (queue/queue.c) in a temporary directory:
 * queue IDs, message records and bodies, record versioning and corrupt
 * records, maildrop bookkeeping, transactions and group commit, a full
 * map that must lose nothing, and read-only opens of an empty queue.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "tap.h"
#include "queue.h"
#include "util.h"

static char tmpdir[] = "/tmp/queue_test.XXXXXX";

static char *
tpath(const char *rel)
{
	char *p;

	xasprintf(&p, "%s/%s", tmpdir, rel);
	return p;
}

/* A message with n recipients of mixed states. */
static void
msg_make(struct q_msg *m, uint64_t qid, uint32_t n)
{
	static const uint8_t st[] = {
	    QR_PENDING, QR_DEFERRED, QR_SENT, QR_BOUNCED};
	uint32_t i;

	memset(m, 0, sizeof(*m));
	m->qid = qid;
	m->state = Q_DEFERRED;
	m->flags = QMSG_F_8BIT;
	m->uid = 1000;
	m->arrival_us = 1606564801123456ULL;
	m->size = 1834;
	m->next_attempt = 1606565101;
	m->attempts = 3;
	m->sender = xstrdup("alice@example.com");
	m->nrcpt = n;
	m->rcpt = xcalloc(n, sizeof(*m->rcpt));
	for (i = 0; i < n; i++) {
		xasprintf(&m->rcpt[i].addr, "rcpt%u@example.org", i);
		m->rcpt[i].status = st[i % 4];
		m->rcpt[i].dsn = xstrdup(i % 4 == 1 ? "4.4.1" : "");
		m->rcpt[i].reason = xstrdup(i % 4 == 1
		        ? "connect to 127.0.0.1[127.0.0.1]:2525: Connection "
		          "refused"
		        : "");
		if (i % 3 == 1)
			xasprintf(
			    &m->rcpt[i].orcpt, "rfc822;Orig+%u@example.org", i);
	}
}

/* ---- records as older ncmta wrote them ---- */

struct old_rec {
	uint8_t b[4096];
	size_t len;
};

static void
old_uint(struct old_rec *r, uint64_t v, int bytes)
{
	int i;

	for (i = bytes - 1; i >= 0; i--)
		r->b[r->len++] = (uint8_t)(v >> (8 * i));
}

static void
old_str(struct old_rec *r, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	old_uint(r, n, 2);
	memcpy(r->b + r->len, s != NULL ? s : "", n);
	r->len += n;
}

/* m's record in the layout of version 2 (DSN fields, no ORCPT) or 1 (the
 * two DSN bytes zero, no envid), as the code before ORCPT wrote it. */
static void
old_record(const struct q_msg *m, int version, struct old_rec *r)
{
	uint32_t i;

	r->len = 0;
	old_uint(r, (uint64_t)version, 1);
	old_uint(r, m->state, 1);
	old_uint(r, version >= 2 ? m->dsn_notify : 0, 1);
	old_uint(r, version >= 2 ? m->dsn_ret : 0, 1);
	old_uint(r, m->flags, 4);
	old_uint(r, m->uid, 4);
	old_uint(r, m->arrival_us, 8);
	old_uint(r, m->size, 8);
	old_uint(r, (uint64_t)m->next_attempt, 8);
	old_uint(r, m->attempts, 4);
	old_uint(r, m->nrcpt, 4);
	old_str(r, m->sender);
	for (i = 0; i < m->nrcpt; i++) {
		old_uint(r, m->rcpt[i].status, 1);
		old_str(r, m->rcpt[i].dsn);
		old_str(r, m->rcpt[i].addr);
		old_str(r, m->rcpt[i].reason);
	}
	if (version >= 2)
		old_str(r, m->envid);
}

/* Whether d is m as an old record keeps it: every field but the ORCPTs
 * (none) and, for version 1, the DSN parameters (none). */
static int
old_equal(const struct q_msg *m, const struct q_msg *d, int version)
{
	struct q_msg want = *m;
	struct q_rcpt r[8];
	uint32_t i;

	if (m->nrcpt > 8)
		return 0;
	for (i = 0; i < m->nrcpt; i++) {
		r[i] = m->rcpt[i];
		r[i].orcpt = NULL;
	}
	want.rcpt = r;
	if (version == 1) {
		want.dsn_notify = want.dsn_ret = 0;
		want.envid = NULL;
	}
	return q_msg_equal(&want, d);
}

/* DSN parameters and ORCPTs survive a round trip; records of versions
 * 1 and 2 (made as the code before them wrote them) still decode. */
static void
test_codec_versions(void)
{
	struct q_msg m, d;
	struct old_rec old;
	uint8_t *rec;
	size_t len;
	int v;

	msg_make(&m, 0, 4);
	m.dsn_notify = DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	m.dsn_ret = DSN_RET_HDRS;
	m.envid = xstrdup("QQ314159");
	is_int(q_msg_encode(&m, &rec, &len), 0, "encode with DSN fields");
	is_int(q_msg_decode(rec, len, &d), 0, "decode with DSN fields");
	ok(q_msg_equal(&m, &d) && d.dsn_notify == m.dsn_notify &&
	        d.dsn_ret == DSN_RET_HDRS && strcmp(d.envid, "QQ314159") == 0,
	    "NOTIFY, RET, ENVID and ORCPTs survive");
	is_str(d.rcpt[1].orcpt, "rfc822;Orig+1@example.org", "the second's");
	ok(m.rcpt[0].orcpt == NULL && d.rcpt[0].orcpt != NULL &&
	        *d.rcpt[0].orcpt == '\0',
	    "no ORCPT (NULL) comes back as \"\"");
	q_msg_free(&d);
	free(rec);

	for (v = 1; v <= 2; v++) {
		old_record(&m, v, &old);
		is_int(q_msg_decode(old.b, old.len, &d), 0,
		    "version %d record read", v);
		ok(old_equal(&m, &d, v), "version %d: its fields, no ORCPTs%s",
		    v, v == 1 ? ", no DSN parameters" : "");
		q_msg_free(&d);
		is_int(q_msg_decode(old.b, old.len - 1, &d), QUEUE_EFORMAT,
		    "version %d: one byte short", v);
	}
	/* the version says what follows: version 2's layout under a 3 is
	 * corrupt */
	old_record(&m, 2, &old);
	old.b[0] = 3;
	is_int(q_msg_decode(old.b, old.len, &d), QUEUE_EFORMAT,
	    "version 3 without ORCPTs is corrupt");
	q_msg_free(&m);
}

static void
test_codec(void)
{
	struct q_msg m, d;
	uint8_t *rec, *bad;
	size_t len;

	msg_make(&m, 0, 5);
	m.next_attempt = -1;
	is_int(q_msg_encode(&m, &rec, &len), 0, "encode 5 recipients");
	is_int(rec[0], QUEUE_RECORD_VERSION, "record starts with its version");
	is_int(q_msg_decode(rec, len, &d), 0, "decode");
	ok(q_msg_equal(&m, &d), "round trip keeps every field");
	ok(d.next_attempt == -1, "negative next_attempt survives");
	q_msg_free(&d);

	bad = xmalloc(len + 1);
	memcpy(bad, rec, len);
	bad[0] = QUEUE_RECORD_VERSION + 1;
	is_int(q_msg_decode(bad, len, &d), QUEUE_ENEWER,
	    "a later version is refused, not misread");
	ok(strstr(queue_strerror(QUEUE_ENEWER), "later release") != NULL &&
	        strstr(queue_strerror(QUEUE_ENEWER), "versions 1 to 3") != NULL,
	    "and said so: %s", queue_strerror(QUEUE_ENEWER));
	bad[0] = 255;
	is_int(q_msg_decode(bad, len, &d), QUEUE_ENEWER, "version 255 too");
	bad[0] = 0;
	is_int(q_msg_decode(bad, len, &d), QUEUE_EFORMAT, "version 0");
	bad[0] = QUEUE_RECORD_VERSION;
	bad[len] = 'x';
	is_int(
	    q_msg_decode(bad, len + 1, &d), QUEUE_EFORMAT, "trailing garbage");
	is_int(q_msg_decode(bad, len - 1, &d), QUEUE_EFORMAT, "one byte short");
	is_int(q_msg_decode(bad, 20, &d), QUEUE_EFORMAT, "cut in the header");
	is_int(q_msg_decode(bad, 0, &d), QUEUE_EFORMAT, "empty record");
	bad[1] = Q_HOLD + 1;
	is_int(q_msg_decode(bad, len, &d), QUEUE_EFORMAT, "unknown state");
	bad[1] = rec[1];
	/* nrcpt is at offset 40: claim a million recipients */
	bad[40] = 0x00;
	bad[41] = 0x0f;
	is_int(q_msg_decode(bad, len, &d), QUEUE_EFORMAT,
	    "recipient count larger than the record");
	ok(d.rcpt == NULL && d.sender == NULL, "failed decode leaves nothing");
	memcpy(bad, rec, len);
	/* the sender's octets start at 46 (after its u16 length at 44): a
	 * NUL in it would be read as a shorter sender; never written */
	bad[47] = '\0';
	is_int(q_msg_decode(bad, len, &d), QUEUE_EFORMAT,
	    "a NUL inside a string is corrupt");
	free(bad);
	free(rec);
	q_msg_free(&m);

	test_codec_versions();
	is_int(dsn_notify_parse("SUCCESS,delay"),
	    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, "NOTIFY list parsed");
	is_int(dsn_notify_parse("never"), DSN_NOTIFY_NEVER, "NEVER");
	is_int(dsn_notify_parse("NEVER,FAILURE"), -1, "NEVER stands alone");
	is_int(dsn_notify_parse("SOMETIMES"), -1, "unknown word");
	is_int(dsn_notify_parse(""), -1, "empty list");
	is_int(dsn_ret_parse("hdrs"), DSN_RET_HDRS, "RET=HDRS");
	is_int(dsn_ret_parse("PARTIAL"), -1, "unknown RET");
	{
		char buf[64];

		dsn_notify_text(
		    DSN_NOTIFY_FAILURE | DSN_NOTIFY_SUCCESS, buf, sizeof(buf));
		is_str(buf, "SUCCESS,FAILURE", "NOTIFY written back");
	}
	m.dsn_notify = 0;
	ok(q_dsn_wants(&m, DSN_NOTIFY_FAILURE) &&
	        q_dsn_wants(&m, DSN_NOTIFY_DELAY),
	    "no NOTIFY: failure and delay notices wanted");
	m.dsn_notify = DSN_NOTIFY_NEVER;
	ok(!q_dsn_wants(&m, DSN_NOTIFY_FAILURE), "NEVER: no failure notice");
	m.dsn_notify = DSN_NOTIFY_FAILURE;
	ok(!q_dsn_wants(&m, DSN_NOTIFY_DELAY), "FAILURE only: no delay notice");

	msg_make(&m, 0, 0);
	free(m.sender);
	m.sender = xstrdup("");
	is_int(q_msg_encode(&m, &rec, &len), 0, "null sender, no recipients");
	is_int(q_msg_decode(rec, len, &d), 0, "decodes");
	ok(q_msg_equal(&m, &d), "and round-trips");
	q_msg_free(&d);
	free(rec);
	q_msg_free(&m);

	msg_make(&m, 0, 1);
	free(m.rcpt[0].reason);
	m.rcpt[0].reason = xmalloc(70000);
	memset(m.rcpt[0].reason, 'r', 69999);
	m.rcpt[0].reason[69999] = '\0';
	is_int(q_msg_encode(&m, &rec, &len), QUEUE_EFORMAT,
	    "a string over 65535 bytes cannot be encoded");
	q_msg_free(&m);
}

static int
count_cb(const struct q_msg *m, void *arg)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

/* Records an older ncmta left in a queue (written into LMDB as they
 * were) still load: the ORCPTs empty, every other field as it was. */
static void
test_old_records(const char *db)
{
	struct old_rec old[3];
	struct q_msg m, g;
	struct queue *q;
	struct queue_txn *t;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[3][8];
	int i, j, n = 0, rc = -1;

	msg_make(&m, 0, 3);
	m.dsn_notify = DSN_NOTIFY_FAILURE;
	m.envid = xstrdup("OLD-1");
	for (i = 0; i < 3; i++) {
		/* the third: a later release's version, version 2's layout */
		old_record(&m, i < 2 ? i + 1 : 2, &old[i]);
		for (j = 0; j < 8; j++) /* queue IDs 0x0102...: 1 and 2 */
			key[i][j] = j == 7 ? (uint8_t)(i + 1) : (j == 0);
	}
	old[2].b[0] = QUEUE_RECORD_VERSION + 1;
	if (mdb_env_create(&env) == 0) {
		mdb_env_set_maxdbs(env, 8);
		if (mdb_env_open(env, db, 0, 0600) == 0 &&
		    mdb_txn_begin(env, NULL, 0, &txn) == 0) {
			rc = mdb_dbi_open(txn, "msg", 0, &dbi);
			for (i = 0; i < 3 && rc == 0; i++) {
				k = (MDB_val){8, key[i]};
				v = (MDB_val){old[i].len, old[i].b};
				rc = mdb_put(txn, dbi, &k, &v, 0);
			}
			rc = rc == 0 ? mdb_txn_commit(txn) : rc;
			if (rc != 0)
				mdb_txn_abort(txn);
		}
		mdb_env_close(env);
	}
	is_int(rc, 0, "version 1 and 2 records written into the queue");
	is_int(queue_open(&q, db, 0, 0), 0, "the queue opens");
	queue_txn_begin(q, &t, 0);
	for (i = 0; i < 2; i++) {
		is_int(queue_get_msg(t, (1ULL << 56) | (uint64_t)(i + 1), &g),
		    0, "a version %d record loads", i + 1);
		ok(g.nrcpt == 3 && old_equal(&m, &g, i + 1),
		    "version %d: its fields, every ORCPT empty", i + 1);
		/* written back, it is a version 3 record */
		free(g.rcpt[2].orcpt);
		g.rcpt[2].orcpt = xstrdup("rfc822;later@example.org");
		is_int(queue_put_msg(t, &g), 0, "written back");
		q_msg_free(&g);
		queue_get_msg(t, (1ULL << 56) | (uint64_t)(i + 1), &g);
		ok(g.nrcpt == 3 && *g.rcpt[0].orcpt == '\0' &&
		        strcmp(g.rcpt[2].orcpt, "rfc822;later@example.org") ==
		            0,
		    "version %d: rewritten as version 3", i + 1);
		q_msg_free(&g);
		queue_del_msg(t, (1ULL << 56) | (uint64_t)(i + 1));
	}
	is_int(queue_get_msg(t, (1ULL << 56) | 3, &g), QUEUE_ENEWER,
	    "a later version's record is refused");
	queue_walk(t, count_cb, &n);
	is_int(n, 0, "and not walked");
	is_int(queue_txn_commit(t), 0, "commit");
	queue_txn_begin(q, &t, 1);
	is_int(queue_get_msg(t, (1ULL << 56) | 3, &g), QUEUE_ENEWER,
	    "it stays in the queue as it was");
	queue_txn_abort(t);
	queue_close(q);
	q_msg_free(&m);
}

static int
queue_count(struct queue *q)
{
	struct queue_txn *t;
	int n = 0;

	if (queue_txn_begin(q, &t, 1) != 0)
		return -1;
	if (queue_walk(t, count_cb, &n) != 0)
		n = -1;
	queue_txn_abort(t);
	return n;
}

static void
test_qids(struct queue *q)
{
	struct queue_txn *t;
	uint64_t a = 0, b = 0, c = 0;
	char s[NC_QID_LEN + 1];
	uint64_t before = now_usec();

	is_int(queue_txn_begin(q, &t, 0), 0, "write txn");
	is_int(queue_new_qid(t, &a), 0, "new qid");
	is_int(queue_new_qid(t, &b), 0, "second qid in the same txn");
	ok(b > a, "strictly increasing within a txn");
	is_int(queue_txn_commit(t), 0, "commit");
	is_int(queue_txn_begin(q, &t, 0), 0, "write txn");
	is_int(queue_new_qid(t, &c), 0, "qid in the next txn");
	queue_txn_abort(t);
	ok(c > b, "strictly increasing across txns");
	ok(a >= before - 1000000 && a <= now_usec() + 1000000,
	    "qid is the arrival time in microseconds");
	qid_format(c, s);
	is_int(strlen(s), 16, "16 hex digits");
	ok(strspn(s, "0123456789ABCDEF") == 16, "upper-case hex");
}

static void
test_msgs(struct queue *q)
{
	struct queue_txn *t;
	struct q_msg m, g;
	const void *body;
	size_t blen;
	uint64_t qid;

	queue_txn_begin(q, &t, 0);
	queue_new_qid(t, &qid);
	msg_make(&m, qid, 3);
	is_int(queue_put_msg(t, &m), 0, "put msg");
	is_int(
	    queue_put_body(t, qid, "Subject: x\n\nhello\n", 18), 0, "put body");
	is_int(queue_txn_commit(t), 0, "commit");

	queue_txn_begin(q, &t, 1);
	is_int(queue_get_msg(t, qid, &g), 0, "get msg");
	ok(g.qid == qid && q_msg_equal(&m, &g), "stored message is intact");
	q_msg_free(&g);
	is_int(queue_get_body(t, qid, &body, &blen), 0, "get body");
	ok(blen == 18 && memcmp(body, "Subject: x\n\nhello\n", 18) == 0,
	    "body is intact");
	is_int(queue_get_msg(t, qid + 1, &g), QUEUE_ENOTFOUND,
	    "unknown qid: ENOTFOUND");
	is_int(queue_get_body(t, qid + 1, &body, &blen), QUEUE_ENOTFOUND,
	    "unknown body: ENOTFOUND");
	queue_txn_abort(t);

	/* update in place */
	queue_txn_begin(q, &t, 0);
	m.state = Q_HOLD;
	m.rcpt[1].status = QR_SENT;
	is_int(queue_put_msg(t, &m), 0, "overwrite msg");
	queue_txn_commit(t);
	queue_txn_begin(q, &t, 1);
	queue_get_msg(t, qid, &g);
	ok(g.state == Q_HOLD && g.rcpt[1].status == QR_SENT, "update visible");
	q_msg_free(&g);
	queue_txn_abort(t);

	ok(queue_txn_begin(q, &t, 1) == 0 && queue_put_msg(t, &m) != 0,
	    "a read-only txn cannot write");
	queue_txn_abort(t);

	queue_txn_begin(q, &t, 0);
	is_int(queue_del_msg(t, qid), 0, "del msg");
	is_int(queue_get_msg(t, qid, &g), QUEUE_ENOTFOUND, "msg gone");
	is_int(queue_get_body(t, qid, &body, &blen), QUEUE_ENOTFOUND,
	    "body gone with it");
	is_int(queue_del_msg(t, qid), QUEUE_ENOTFOUND, "second del: ENOTFOUND");
	queue_txn_commit(t);
	q_msg_free(&m);
	is_int(queue_count(q), 0, "queue empty again");
}

struct order {
	uint64_t last;
	int n, sorted, stop_at;
};

static int
order_cb(const struct q_msg *m, void *arg)
{
	struct order *o = arg;

	if (m->qid <= o->last)
		o->sorted = 0;
	o->last = m->qid;
	o->n++;
	return o->n == o->stop_at ? 7 : 0;
}

static void
test_walk_and_group(struct queue *q)
{
	struct queue_txn *t;
	struct q_msg m;
	struct order o = {0, 0, 1, 0};
	uint64_t qid, ids[100];
	int i, bad = 0;

	/* insert out of order: the walk must still be in qid order */
	queue_txn_begin(q, &t, 0);
	for (i = 0; i < 100; i++)
		queue_new_qid(t, &ids[i]);
	for (i = 99; i >= 0; i--) {
		msg_make(&m, ids[i], 2);
		m.size = (uint64_t)i;
		if (queue_put_msg(t, &m) != 0 ||
		    queue_put_body(t, ids[i], "x\n", 2) != 0)
			bad++;
		q_msg_free(&m);
	}
	is_int(bad, 0, "100 inserts in one transaction");
	is_int(queue_txn_commit(t), 0, "one commit for the group");
	is_int(queue_count(q), 100, "all 100 visible after commit");

	queue_txn_begin(q, &t, 1);
	is_int(queue_walk(t, order_cb, &o), 0, "walk");
	ok(o.sorted && o.n == 100, "walk visits all in qid order");
	o = (struct order){0, 0, 1, 10};
	is_int(
	    queue_walk(t, order_cb, &o), 7, "walk returns the callback's stop");
	is_int(o.n, 10, "and stops there");
	queue_txn_abort(t);

	/* abort leaves nothing */
	queue_txn_begin(q, &t, 0);
	queue_new_qid(t, &qid);
	msg_make(&m, qid, 1);
	queue_put_msg(t, &m);
	queue_put_body(t, qid, "y\n", 2);
	queue_drop_put(t, "dropped.1", qid);
	for (i = 0; i < 100; i++)
		queue_del_msg(t, ids[i]);
	queue_txn_abort(t);
	q_msg_free(&m);
	is_int(queue_count(q), 100, "abort: deletes undone, insert gone");
	queue_txn_begin(q, &t, 1);
	is_int(
	    queue_get_msg(t, qid, &m), QUEUE_ENOTFOUND, "aborted msg absent");
	is_int(queue_drop_get(t, "dropped.1", &qid), QUEUE_ENOTFOUND,
	    "aborted drop name absent");
	queue_txn_abort(t);

	queue_txn_begin(q, &t, 0);
	for (i = 0; i < 100; i++)
		bad += queue_del_msg(t, ids[i]) != 0;
	queue_txn_commit(t);
	is_int(bad, 0, "100 deletes in one transaction");
	is_int(queue_count(q), 0, "queue empty");
}

struct drops {
	char names[8][32];
	uint64_t qids[8];
	int n;
};

static int
drop_cb(const char *name, uint64_t qid, void *arg)
{
	struct drops *d = arg;

	if (d->n < 8) {
		strlcpy(d->names[d->n], name, sizeof(d->names[0]));
		d->qids[d->n] = qid;
	}
	d->n++;
	return 0;
}

static void
test_drop(struct queue *q)
{
	struct queue_txn *t;
	struct drops d = {.n = 0};
	uint64_t qid = 0;
	char longname[300];

	queue_txn_begin(q, &t, 0);
	is_int(queue_drop_put(t, "b.2", 0x22), 0, "drop put");
	is_int(queue_drop_put(t, "a.1", 0x11), 0, "drop put another");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	is_int(queue_drop_put(t, longname, 1), QUEUE_EFORMAT,
	    "over-long name refused");
	is_int(queue_drop_put(t, "", 1), QUEUE_EFORMAT, "empty name refused");
	is_int(queue_txn_commit(t), 0, "commit");

	queue_txn_begin(q, &t, 1);
	is_int(queue_drop_get(t, "b.2", &qid), 0, "drop get");
	ok(qid == 0x22, "drop get returns its qid");
	is_int(queue_drop_get(t, "c.3", &qid), QUEUE_ENOTFOUND, "unknown name");
	is_int(queue_drop_walk(t, drop_cb, &d), 0, "drop walk");
	ok(d.n == 2 && strcmp(d.names[0], "a.1") == 0 && d.qids[0] == 0x11 &&
	        strcmp(d.names[1], "b.2") == 0 && d.qids[1] == 0x22,
	    "walk sees both names with their qids");
	queue_txn_abort(t);

	queue_txn_begin(q, &t, 0);
	is_int(queue_drop_del(t, "a.1"), 0, "drop del");
	is_int(
	    queue_drop_del(t, "a.1"), 0, "drop del of a forgotten name is ok");
	queue_txn_commit(t);
	queue_txn_begin(q, &t, 1);
	d.n = 0;
	queue_drop_walk(t, drop_cb, &d);
	ok(d.n == 1 && strcmp(d.names[0], "b.2") == 0, "one name left");
	queue_txn_abort(t);
	queue_txn_begin(q, &t, 0);
	queue_drop_del(t, "b.2");
	queue_txn_commit(t);
}

static int
policy_cb(const char *name, const void *val, size_t len, void *arg)
{
	char *seen = arg;

	strlcat(seen, name, 200);
	strlcat(seen, "=", 200);
	strncat(seen, val, len);
	strlcat(seen, ";", 200);
	return 0;
}

/* Policies by name beside last_qid: put, get, replace, walk by prefix
 * (a name that only starts like the prefix's table is not seen), del. */
static void
test_policies(struct queue *q)
{
	struct queue_txn *t;
	const void *v;
	size_t len;
	char seen[200] = "", longname[QUEUE_POLICY_NAME_MAX + 2];
	uint64_t qid;

	queue_txn_begin(q, &t, 0);
	is_int(queue_policy_put(t, "sts:b.example", "B", 1), 0, "policy put");
	is_int(queue_policy_put(t, "sts:a.example", "A1", 2), 0, "another");
	is_int(queue_policy_put(t, "sts:a.example", "A", 1), 0, "replaced");
	is_int(queue_policy_put(t, "stsx:c.example", "C", 1), 0, "other kind");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	is_int(queue_policy_put(t, longname, "x", 1), QUEUE_EFORMAT,
	    "over-long name refused");
	is_int(queue_policy_put(t, "", "x", 1), QUEUE_EFORMAT,
	    "empty name refused");
	is_int(queue_new_qid(t, &qid), 0, "last_qid beside them");
	is_int(queue_txn_commit(t), 0, "commit");

	queue_txn_begin(q, &t, 1);
	ok(queue_policy_get(t, "sts:a.example", &v, &len) == 0 && len == 1 &&
	        memcmp(v, "A", 1) == 0,
	    "policy get: the replacement");
	is_int(queue_policy_get(t, "sts:z.example", &v, &len), QUEUE_ENOTFOUND,
	    "unknown policy");
	is_int(queue_policy_walk(t, "sts:", policy_cb, seen), 0, "walk");
	is_str(seen, "sts:a.example=A;sts:b.example=B;",
	    "walk: the prefix's names in order, no other");
	queue_txn_abort(t);

	queue_txn_begin(q, &t, 0);
	is_int(queue_policy_del(t, "sts:a.example"), 0, "del");
	is_int(queue_policy_del(t, "sts:a.example"), 0, "del again is ok");
	queue_policy_del(t, "sts:b.example");
	queue_policy_del(t, "stsx:c.example");
	queue_txn_commit(t);
	queue_txn_begin(q, &t, 1);
	seen[0] = '\0';
	queue_policy_walk(t, "", policy_cb, seen);
	is_str(seen, "", "none left");
	queue_txn_abort(t);
}

struct bodies {
	struct queue_txn *t;
	int ok;
};

/* Every body is 64 KiB of one letter. */
static int
body_check_cb(const struct q_msg *m, void *arg)
{
	struct bodies *bs = arg;
	const uint8_t *p;
	const void *b;
	size_t len, i;

	if (queue_get_body(bs->t, m->qid, &b, &len) != 0 || len != 65536) {
		bs->ok = 0;
		return 0;
	}
	for (p = b, i = 1; i < len; i++)
		if (p[i] != p[0])
			bs->ok = 0;
	return 0;
}

/* Insert 64 KiB messages one commit each until the map is full. */
static void
test_full(void)
{
	struct queue *q;
	struct queue_txn *t;
	struct q_msg m, g;
	char *dir = tpath("full");
	uint8_t *body = xcalloc(1, 65536);
	uint64_t qid = 0, failed_qid = 0;
	int i, rc = 0, committed = 0, intact = 1;
	struct bodies bodies;
	const void *b;
	size_t blen;

	is_int(queue_open(&q, dir, 1024 * 1024, 0), 0, "open with a 1 MB map");
	for (i = 0; i < 100 && rc == 0; i++) {
		if ((rc = queue_txn_begin(q, &t, 0)) != 0)
			break;
		rc = queue_new_qid(t, &qid);
		msg_make(&m, qid, 2);
		memset(body, 'a' + i % 26, 65536);
		if (rc == 0)
			rc = queue_put_msg(t, &m);
		if (rc == 0)
			rc = queue_put_body(t, qid, body, 65536);
		if (rc == 0)
			rc = queue_drop_put(t, "full.file", qid);
		q_msg_free(&m);
		if (rc != 0) {
			failed_qid = qid;
			queue_txn_abort(t);
		} else if ((rc = queue_txn_commit(t)) == 0)
			committed++;
		else
			failed_qid = qid;
		if (rc == 0) {
			queue_txn_begin(q, &t, 0);
			queue_drop_del(t, "full.file");
			queue_txn_commit(t);
		}
	}
	is_int(rc, QUEUE_EFULL, "inserting eventually fails with EFULL");
	ok(committed > 5 && committed < 16, "after %d commits", committed);
	ok(strstr(queue_strerror(rc), "full") != NULL, "strerror says full");
	is_int(queue_count(q), committed, "every committed message is there");

	queue_txn_begin(q, &t, 1);
	is_int(queue_get_msg(t, failed_qid, &g), QUEUE_ENOTFOUND,
	    "the failed message is not");
	is_int(queue_get_body(t, failed_qid, &b, &blen), QUEUE_ENOTFOUND,
	    "nor its body");
	is_int(queue_drop_get(t, "full.file", &qid), QUEUE_ENOTFOUND,
	    "nor its drop name");
	queue_txn_abort(t);
	queue_close(q);

	is_int(queue_open(&q, dir, 1024 * 1024, 0), 0, "reopen after full");
	is_int(queue_count(q), committed, "same messages after reopen");
	bodies.ok = 1;
	queue_txn_begin(q, &t, 1);
	bodies.t = t;
	queue_walk(t, body_check_cb, &bodies);
	queue_txn_abort(t);
	ok(bodies.ok, "every committed body is intact");
	queue_close(q);

	/* a bigger map makes room; records and bodies are still intact */
	is_int(queue_open(&q, dir, 8 * 1024 * 1024, 0), 0,
	    "reopen with a larger map");
	queue_txn_begin(q, &t, 0);
	rc = queue_new_qid(t, &qid);
	msg_make(&m, qid, 1);
	if (rc == 0)
		rc = queue_put_msg(t, &m);
	if (rc == 0)
		rc = queue_put_body(t, qid, body, 65536);
	q_msg_free(&m);
	is_int(rc == 0 ? queue_txn_commit(t) : (queue_txn_abort(t), rc), 0,
	    "inserting works again with room");
	is_int(queue_count(q), committed + 1, "one more message");
	queue_txn_begin(q, &t, 1);
	is_int(queue_get_body(t, qid, &b, &blen), 0, "new body readable");
	intact = blen == 65536 && ((const uint8_t *)b)[65535] == body[0];
	ok(intact, "new body intact");
	queue_txn_abort(t);
	queue_close(q);
	free(body);
	free(dir);
}

static void
test_readonly(void)
{
	struct queue *q;
	struct queue_txn *t;
	struct q_msg g;
	struct drops d = {.n = 0};
	MDB_env *env;
	char *dir = tpath("bare"), *none = tpath("none");
	char *fresh = tpath("fresh");
	const void *body;
	size_t blen;
	uint64_t qid;
	int n = 0;

	/* an LMDB environment nobody ever created our databases in */
	mkdir(dir, 0700);
	if (mdb_env_create(&env) != 0 || mdb_env_open(env, dir, 0, 0600) != 0)
		abort();
	mdb_env_close(env);
	is_int(queue_open(&q, dir, 0, 1), 0,
	    "read-only open of an environment without databases");
	is_int(queue_txn_begin(q, &t, 1), 0, "read txn");
	is_int(queue_walk(t, count_cb, &n), 0, "walk");
	is_int(n, 0, "sees no messages");
	is_int(queue_get_msg(t, 1, &g), QUEUE_ENOTFOUND, "get: ENOTFOUND");
	is_int(queue_drop_get(t, "x", &qid), QUEUE_ENOTFOUND,
	    "drop get: ENOTFOUND");
	is_int(queue_drop_walk(t, drop_cb, &d), 0, "drop walk");
	is_int(d.n, 0, "sees no names");
	queue_txn_abort(t);
	ok(queue_txn_begin(q, &t, 0) != 0, "no write txn on a read-only queue");
	queue_close(q);

	/* a db directory made but never written (no data.mdb) */
	mkdir(fresh, 0700);
	is_int(queue_open(&q, fresh, 0, 1), 0,
	    "read-only open of a fresh directory");
	is_int(queue_count(q), 0, "behaves as an empty queue");
	is_int(queue_txn_begin(q, &t, 1), 0, "read txn");
	is_int(queue_get_msg(t, 1, &g), QUEUE_ENOTFOUND, "get: ENOTFOUND");
	is_int(queue_get_body(t, 1, &body, &blen), QUEUE_ENOTFOUND,
	    "get body: ENOTFOUND");
	d.n = 0;
	is_int(queue_drop_walk(t, drop_cb, &d), 0, "drop walk");
	is_int(queue_txn_commit(t), 0, "commit of the empty read txn");
	ok(queue_txn_begin(q, &t, 0) != 0, "no write txn");
	queue_close(q);
	ok(access(fresh, F_OK) == 0 && rmdir(fresh) == 0,
	    "nothing was created in it");

	ok(queue_open(&q, none, 0, 1) != 0,
	    "read-only open of a missing directory fails (no crash)");
	ok(access(none, F_OK) == -1, "and does not create it");
	free(dir);
	free(fresh);
	free(none);
}

static void
test_readonly_live(void)
{
	struct queue *w, *r;
	struct queue_txn *t;
	struct q_msg m;
	char *dir = tpath("live");
	uint64_t qid;

	queue_open(&w, dir, 0, 0);
	queue_txn_begin(w, &t, 0);
	queue_new_qid(t, &qid);
	msg_make(&m, qid, 2);
	queue_put_msg(t, &m);
	queue_txn_commit(t);
	q_msg_free(&m);
	is_int(queue_open(&r, dir, 0, 1), 0, "read-only open beside a writer");
	is_int(queue_count(r), 1, "reader sees the committed message");
	queue_txn_begin(w, &t, 0);
	queue_del_msg(t, qid);
	queue_txn_commit(t);
	is_int(queue_count(r), 0, "and its removal");
	queue_close(r);
	queue_close(w);
	free(dir);
}

/* Ingest of 4 KiB messages stops while an eighth of the map is still
 * free, and that reserve takes what qmgr and bounce must commit: state
 * changes of every message, new small messages (notices), removals. */
static void
test_reserve(void)
{
	struct queue *q;
	struct queue_txn *t;
	struct q_msg m;
	char *dir = tpath("reserve");
	uint8_t body[4096];
	uint64_t qid, used, size, qids[1024];
	int i, n = 0, rc = 0;

	memset(body, 'r', sizeof(body));
	is_int(queue_open(&q, dir, 2 * 1024 * 1024, 0), 0, "a 2 MB map");
	queue_txn_begin(q, &t, 1);
	rc = queue_usage(t, &used, &size);
	queue_txn_abort(t);
	ok(rc == 0 && size == 2 * 1024 * 1024 && used > 0 && used < 64 * 1024,
	    "usage of an empty queue: %llu of %llu", (unsigned long long)used,
	    (unsigned long long)size);
	for (;;) {
		queue_txn_begin(q, &t, 0);
		if (!queue_room_for_ingest(t, sizeof(body))) {
			queue_txn_abort(t);
			break;
		}
		if ((rc = queue_new_qid(t, &qid)) == 0) {
			msg_make(&m, qid, 1);
			rc = queue_put_msg(t, &m);
			q_msg_free(&m);
		}
		if (rc == 0)
			rc = queue_put_body(t, qid, body, sizeof(body));
		if (rc != 0 || (rc = queue_txn_commit(t)) != 0 || n == 1024)
			break;
		qids[n++] = qid;
	}
	is_int(rc, 0, "ingest stopped by the reserve, not by a full map");
	ok(n > 100, "%d messages ingested before the reserve", n);
	queue_txn_begin(q, &t, 1);
	queue_usage(t, &used, &size);
	queue_txn_abort(t);
	ok(size - used >= size / QUEUE_RESERVE_DIVISOR - 8192,
	    "an eighth of the map left: %llu free",
	    (unsigned long long)(size - used));
	/* every message changes state, and 20 notices arrive, in one txn */
	queue_txn_begin(q, &t, 0);
	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = queue_get_msg(t, qids[i], &m)) != 0)
			break;
		m.state = Q_DEFERRED;
		m.rcpt[0].status = QR_FAILED;
		rc = queue_put_msg(t, &m);
		q_msg_free(&m);
	}
	for (i = 0; i < 20 && rc == 0; i++) {
		rc = queue_new_qid(t, &qid);
		msg_make(&m, qid, 1);
		rc = rc ? rc : queue_put_msg(t, &m);
		rc = rc ? rc : queue_put_body(t, qid, body, 2048);
		q_msg_free(&m);
	}
	is_int(rc == 0 ? queue_txn_commit(t) : (queue_txn_abort(t), rc), 0,
	    "outcomes and notices commit from the reserve");
	queue_close(q);
	free(dir);
}

static void
rm_rf(const char *dir)
{
	char *cmd;

	xasprintf(&cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

int
main(void)
{
	struct queue *q;
	char *db;

	if (mkdtemp(tmpdir) == NULL)
		abort();
	db = tpath("db");
	test_codec();
	is_int(queue_open(&q, db, 0, 0), 0, "open creates the queue");
	ok(access(db, F_OK) == 0, "db directory exists");
	is_int(queue_count(q), 0, "new queue is empty");
	test_qids(q);
	test_msgs(q);
	test_walk_and_group(q);
	test_drop(q);
	test_policies(q);
	queue_close(q);
	is_int(queue_open(&q, db, 0, 0), 0, "reopen");
	queue_close(q);
	test_old_records(db);
	is_str(q_state_name(Q_DEFERRED), "deferred", "state names");
	is_str(q_state_name(9), "unknown", "unknown state name");
	test_full();
	test_reserve();
	test_readonly();
	test_readonly_live();
	free(db);
	rm_rf(tmpdir);
	return done_testing();
}
