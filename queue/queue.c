/*
 * queue.c - the pending queue on LMDB: message records, bodies, the
 * maildrop names of ingested files, and the last queue ID handed out.
 * A write transaction is one fsync at commit; callers batch (group
 * commit). LMDB's "map full" becomes QUEUE_EFULL, a temporary failure
 * after which nothing of the transaction exists.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lmdb.h>

#include "queue.h"
#include "util.h"

struct queue {
	MDB_env *env;
	MDB_dbi msg, body, drop, info;
	int readonly;
	int has_dbs; /* false: a read-only open of a queue never written */
	void *map_base; /* the map, for queue_trim() */
	size_t map_len;
};

static void queue_find_map(struct queue *, const char *);

struct queue_txn {
	struct queue *q;
	MDB_txn *txn;
	int readonly;
};

static int
q_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return QUEUE_ENOTFOUND;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
		return QUEUE_EFULL;
	default:
		errno = rc > 0 ? rc : EIO;
		return QUEUE_EIO;
	}
}

#define QUEUE_STR(x) QUEUE_STR_(x)
#define QUEUE_STR_(x) #x

const char *
queue_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "success";
	case QUEUE_ENOTFOUND:
		return "no such message";
	case QUEUE_EFULL:
		return "queue is full (map or disk)";
	case QUEUE_EFORMAT:
		return "record of unknown format";
	case QUEUE_ENEWER:
		return "record written by a later release of ncmta (this one "
		       "reads record versions 1 to " QUEUE_STR(
		           QUEUE_RECORD_VERSION) "); left in the queue as it "
		                                 "is";
	default:
		return strerror(errno ? errno : EIO);
	}
}

const char *
q_state_name(int state)
{
	static const char *names[] = {"incoming", "active", "deferred", "hold"};

	return state >= 0 && state <= Q_HOLD ? names[state] : "unknown";
}

int
q_state_parse(const char *name)
{
	int i;

	for (i = Q_INCOMING; i <= Q_HOLD; i++)
		if (strcmp(q_state_name(i), name) == 0)
			return i;
	return -1;
}

static int
queue_open_dbs(struct queue *q)
{
	unsigned int flags = q->readonly ? 0 : MDB_CREATE;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(q->env, NULL, q->readonly ? MDB_RDONLY : 0, &txn);
	if (rc != 0)
		return q_err(rc);
	if ((rc = mdb_dbi_open(txn, "msg", flags, &q->msg)) == 0 &&
	    (rc = mdb_dbi_open(txn, "body", flags, &q->body)) == 0 &&
	    (rc = mdb_dbi_open(txn, "drop", flags, &q->drop)) == 0)
		rc = mdb_dbi_open(txn, "info", flags, &q->info);
	if (rc == MDB_NOTFOUND && q->readonly) {
		mdb_txn_abort(txn);
		return 0; /* nothing was ever queued */
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return q_err(rc);
	}
	q->has_dbs = 1;
	return q_err(mdb_txn_commit(txn));
}

/* A directory without data.mdb: nothing was ever queued there. */
static int
queue_never_written(const char *dbdir)
{
	struct stat st;
	char *path;
	int r;

	xasprintf(&path, "%s/data.mdb", dbdir);
	r = stat(dbdir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    stat(path, &st) == -1 && errno == ENOENT;
	free(path);
	return r;
}

int
queue_open(struct queue **qp, const char *dbdir, int64_t map_size, int readonly)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	int rc;

	q->readonly = readonly;
	if (!readonly && mkdir(dbdir, 0700) == -1 && errno != EEXIST) {
		free(q);
		return QUEUE_EIO;
	}
	if (readonly && queue_never_written(dbdir)) {
		*qp = q; /* no environment: reads find nothing */
		return 0;
	}
	if ((rc = mdb_env_create(&q->env)) != 0)
		goto fail;
	mdb_env_set_maxdbs(q->env, 8);
	if (map_size > 0 &&
	    (rc = mdb_env_set_mapsize(q->env, (size_t)map_size)) != 0)
		goto fail;
	rc = mdb_env_open(
	    q->env, dbdir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0600);
	if (rc != 0)
		goto fail;
	if ((rc = queue_open_dbs(q)) != 0) {
		mdb_env_close(q->env);
		free(q);
		return rc;
	}
	queue_find_map(q, dbdir);
	*qp = q;
	return 0;
fail:
	if (q->env != NULL)
		mdb_env_close(q->env);
	free(q);
	return q_err(rc);
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->env != NULL)
		mdb_env_close(q->env);
	free(q);
}

int
queue_txn_begin(struct queue *q, struct queue_txn **tp, int readonly)
{
	unsigned int flags = readonly ? MDB_RDONLY : 0;
	MDB_txn *txn = NULL;
	int rc;

	if (!readonly && q->readonly)
		return QUEUE_EIO;
	if (q->env == NULL)
		goto empty; /* read-only open of a never-written queue */
	rc = mdb_txn_begin(q->env, NULL, flags, &txn);
	if (rc == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size and retry */
		mdb_env_set_mapsize(q->env, 0);
		rc = mdb_txn_begin(q->env, NULL, flags, &txn);
	}
	if (rc != 0)
		return q_err(rc);
empty:
	*tp = xcalloc(1, sizeof(**tp));
	(*tp)->q = q;
	(*tp)->txn = txn;
	(*tp)->readonly = readonly;
	return 0;
}

int
queue_txn_commit(struct queue_txn *t)
{
	int rc = t->txn != NULL ? mdb_txn_commit(t->txn) : 0;

	free(t);
	return q_err(rc);
}

void
queue_txn_abort(struct queue_txn *t)
{
	if (t == NULL)
		return;
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	free(t);
}

static void
qid_key(uint64_t qid, uint8_t k[8], MDB_val *v)
{
	int i;

	for (i = 7; i >= 0; i--, qid >>= 8)
		k[i] = (uint8_t)qid;
	v->mv_data = k;
	v->mv_size = 8;
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
queue_new_qid(struct queue_txn *t, uint64_t *out)
{
	MDB_val k = {8, "last_qid"}, v;
	uint8_t buf[8];
	uint64_t last = 0, id = now_usec();
	int rc;

	k.mv_size = strlen("last_qid");
	rc = mdb_get(t->txn, t->q->info, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		last = be64(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return q_err(rc);
	if (id <= last)
		id = last + 1;
	qid_key(id, buf, &v);
	if ((rc = mdb_put(t->txn, t->q->info, &k, &v, 0)) != 0)
		return q_err(rc);
	*out = id;
	return 0;
}

/* ---- record encoding ---- */

struct enc {
	uint8_t *p;
	size_t len, cap;
};

static void
enc_put(struct enc *e, const void *p, size_t n)
{
	if (e->len + n > e->cap) {
		while (e->len + n > e->cap)
			e->cap = e->cap ? e->cap * 2 : 256;
		e->p = xreallocarray(e->p, e->cap, 1);
	}
	memcpy(e->p + e->len, p, n);
	e->len += n;
}

static void
enc_uint(struct enc *e, uint64_t v, int bytes)
{
	uint8_t b[8];
	int i;

	for (i = bytes - 1; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	enc_put(e, b, (size_t)bytes);
}

static int
enc_str(struct enc *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT16_MAX)
		return -1;
	enc_uint(e, n, 2);
	enc_put(e, s ? s : "", n);
	return 0;
}

int
q_msg_encode(const struct q_msg *m, uint8_t **out, size_t *len)
{
	struct enc e = {NULL, 0, 0};
	uint32_t i;
	int bad = 0;

	enc_uint(&e, QUEUE_RECORD_VERSION, 1);
	enc_uint(&e, m->state, 1);
	enc_uint(&e, m->dsn_notify, 1);
	enc_uint(&e, m->dsn_ret, 1);
	enc_uint(&e, m->flags, 4);
	enc_uint(&e, m->uid, 4);
	enc_uint(&e, m->arrival_us, 8);
	enc_uint(&e, m->size, 8);
	enc_uint(&e, (uint64_t)m->next_attempt, 8);
	enc_uint(&e, m->attempts, 4);
	enc_uint(&e, m->nrcpt, 4);
	bad |= enc_str(&e, m->sender);
	for (i = 0; i < m->nrcpt; i++) {
		enc_uint(&e, m->rcpt[i].status, 1);
		bad |= enc_str(&e, m->rcpt[i].dsn);
		bad |= enc_str(&e, m->rcpt[i].addr);
		bad |= enc_str(&e, m->rcpt[i].reason);
		bad |= enc_str(&e, m->rcpt[i].orcpt);
	}
	bad |= enc_str(&e, m->envid);
	if (bad) {
		free(e.p);
		return QUEUE_EFORMAT;
	}
	*out = e.p;
	*len = e.len;
	return 0;
}

struct dec {
	const uint8_t *p;
	size_t len, pos;
	int bad;
};

static uint64_t
dec_uint(struct dec *d, int bytes)
{
	uint64_t v = 0;
	int i;

	if (d->bad || d->len - d->pos < (size_t)bytes) {
		d->bad = 1;
		return 0;
	}
	for (i = 0; i < bytes; i++)
		v = v << 8 | d->p[d->pos++];
	return v;
}

static char *
dec_str(struct dec *d)
{
	size_t n = (size_t)dec_uint(d, 2);
	char *s;

	/* the encoder never writes a NUL inside a string: corrupt */
	if (d->bad || d->len - d->pos < n ||
	    memchr(d->p + d->pos, '\0', n) != NULL) {
		d->bad = 1;
		return xstrdup("");
	}
	s = xstrndup((const char *)d->p + d->pos, n);
	d->pos += n;
	return s;
}

int
q_msg_decode(const uint8_t *p, size_t len, struct q_msg *m)
{
	struct dec d = {p, len, 0, 0};
	uint32_t i;

	memset(m, 0, sizeof(*m));
	if (len >= 1 && p[0] > QUEUE_RECORD_VERSION)
		return QUEUE_ENEWER;
	if (len < 1 || p[0] < 1)
		return QUEUE_EFORMAT;
	dec_uint(&d, 1);
	m->state = (uint8_t)dec_uint(&d, 1);
	m->dsn_notify = (uint8_t)dec_uint(&d, 1); /* version 1: zero */
	m->dsn_ret = (uint8_t)dec_uint(&d, 1);
	m->flags = (uint32_t)dec_uint(&d, 4);
	m->uid = (uint32_t)dec_uint(&d, 4);
	m->arrival_us = dec_uint(&d, 8);
	m->size = dec_uint(&d, 8);
	m->next_attempt = (int64_t)dec_uint(&d, 8);
	m->attempts = (uint32_t)dec_uint(&d, 4);
	m->nrcpt = (uint32_t)dec_uint(&d, 4);
	m->sender = dec_str(&d);
	/* each recipient takes at least 7 bytes: bound nrcpt by the record */
	if (d.bad || m->nrcpt > (len - d.pos) / 7 || m->state > Q_HOLD) {
		q_msg_free(m);
		return QUEUE_EFORMAT;
	}
	m->rcpt = xcalloc(m->nrcpt, sizeof(*m->rcpt));
	for (i = 0; i < m->nrcpt; i++) {
		m->rcpt[i].status = (uint8_t)dec_uint(&d, 1);
		m->rcpt[i].dsn = dec_str(&d);
		m->rcpt[i].addr = dec_str(&d);
		m->rcpt[i].reason = dec_str(&d);
		/* version 1 and 2: no ORCPT */
		m->rcpt[i].orcpt = p[0] >= 3 ? dec_str(&d) : xstrdup("");
	}
	m->envid = p[0] >= 2 ? dec_str(&d) : xstrdup("");
	if (d.bad || d.pos != len || m->dsn_notify > 0xf || m->dsn_ret > 2) {
		q_msg_free(m);
		return QUEUE_EFORMAT;
	}
	return 0;
}

static int
q_str_equal(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

int
q_msg_equal(const struct q_msg *a, const struct q_msg *b)
{
	uint32_t i;

	if (a->state != b->state || a->flags != b->flags || a->uid != b->uid ||
	    a->arrival_us != b->arrival_us || a->size != b->size ||
	    a->next_attempt != b->next_attempt || a->attempts != b->attempts ||
	    a->dsn_notify != b->dsn_notify || a->dsn_ret != b->dsn_ret ||
	    a->nrcpt != b->nrcpt || !q_str_equal(a->sender, b->sender) ||
	    !q_str_equal(a->envid, b->envid))
		return 0;
	for (i = 0; i < a->nrcpt; i++)
		if (a->rcpt[i].status != b->rcpt[i].status ||
		    !q_str_equal(a->rcpt[i].addr, b->rcpt[i].addr) ||
		    !q_str_equal(a->rcpt[i].dsn, b->rcpt[i].dsn) ||
		    !q_str_equal(a->rcpt[i].reason, b->rcpt[i].reason) ||
		    !q_str_equal(a->rcpt[i].orcpt, b->rcpt[i].orcpt))
			return 0;
	return 1;
}

void
q_msg_free(struct q_msg *m)
{
	uint32_t i;

	if (m->rcpt != NULL)
		for (i = 0; i < m->nrcpt; i++) {
			free(m->rcpt[i].addr);
			free(m->rcpt[i].dsn);
			free(m->rcpt[i].reason);
			free(m->rcpt[i].orcpt);
		}
	free(m->rcpt);
	free(m->sender);
	free(m->envid);
	memset(m, 0, sizeof(*m));
}

int
q_dsn_wants(const struct q_msg *m, uint8_t kind)
{
	return m->dsn_notify == 0 ? 1 : (m->dsn_notify & kind) != 0;
}

/* ---- messages ---- */

int
queue_put_msg(struct queue_txn *t, const struct q_msg *m)
{
	MDB_val k, v;
	uint8_t kb[8], *rec;
	size_t len;
	int rc;

	if ((rc = q_msg_encode(m, &rec, &len)) != 0)
		return rc;
	qid_key(m->qid, kb, &k);
	v.mv_data = rec;
	v.mv_size = len;
	rc = mdb_put(t->txn, t->q->msg, &k, &v, 0);
	free(rec);
	return q_err(rc);
}

int
queue_put_body(struct queue_txn *t, uint64_t qid, const void *p, size_t len)
{
	MDB_val k, v = {len, (void *)p};
	uint8_t kb[8];

	qid_key(qid, kb, &k);
	return q_err(mdb_put(t->txn, t->q->body, &k, &v, 0));
}

int
queue_get_msg(struct queue_txn *t, uint64_t qid, struct q_msg *out)
{
	MDB_val k, v;
	uint8_t kb[8];
	int rc;

	if (!t->q->has_dbs)
		return QUEUE_ENOTFOUND;
	qid_key(qid, kb, &k);
	if ((rc = mdb_get(t->txn, t->q->msg, &k, &v)) != 0)
		return q_err(rc);
	if ((rc = q_msg_decode(v.mv_data, v.mv_size, out)) != 0)
		return rc;
	out->qid = qid;
	return 0;
}

int
queue_get_body(struct queue_txn *t, uint64_t qid, const void **p, size_t *len)
{
	MDB_val k, v;
	uint8_t kb[8];
	int rc;

	if (!t->q->has_dbs)
		return QUEUE_ENOTFOUND;
	qid_key(qid, kb, &k);
	if ((rc = mdb_get(t->txn, t->q->body, &k, &v)) != 0)
		return q_err(rc);
	*p = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int
queue_del_msg(struct queue_txn *t, uint64_t qid)
{
	MDB_val k;
	uint8_t kb[8];
	int rc;

	qid_key(qid, kb, &k);
	rc = mdb_del(t->txn, t->q->msg, &k, NULL);
	if (rc != 0)
		return q_err(rc);
	rc = mdb_del(t->txn, t->q->body, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : q_err(rc);
}

int
queue_walk(
    struct queue_txn *t, int (*cb)(const struct q_msg *, void *), void *arg)
{
	return queue_walk_from(t, 0, cb, arg);
}

int
queue_walk_from(struct queue_txn *t, uint64_t first,
    int (*cb)(const struct q_msg *, void *), void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	struct q_msg m;
	uint8_t kb[8];
	int rc, r = 0;

	if (!t->q->has_dbs)
		return 0;
	if ((rc = mdb_cursor_open(t->txn, t->q->msg, &c)) != 0)
		return q_err(rc);
	qid_key(first, kb, &k);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 ||
		    q_msg_decode(v.mv_data, v.mv_size, &m) != 0)
			continue; /* reported by ncctl check, skipped here */
		m.qid = be64(k.mv_data);
		r = cb(&m, arg);
		q_msg_free(&m);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return q_err(rc);
	return r;
}

/* ---- room in the map ---- */

static size_t
dbi_pages(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat st;

	if (mdb_stat(txn, dbi, &st) != 0)
		return 0;
	return st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
}

int
queue_usage(struct queue_txn *t, uint64_t *used, uint64_t *size)
{
	struct queue *q = t->q;
	MDB_envinfo info;
	MDB_stat st;
	size_t pages = 2; /* the meta pages */

	*used = *size = 0;
	if (q->env == NULL || t->txn == NULL)
		return 0;
	if (mdb_env_info(q->env, &info) != 0 || mdb_env_stat(q->env, &st) != 0)
		return QUEUE_EIO;
	pages += dbi_pages(t->txn, 0) + dbi_pages(t->txn, 1); /* free, main */
	if (q->has_dbs)
		pages += dbi_pages(t->txn, q->msg) +
		    dbi_pages(t->txn, q->body) + dbi_pages(t->txn, q->drop) +
		    dbi_pages(t->txn, q->info);
	*used = (uint64_t)pages * st.ms_psize;
	*size = info.me_mapsize;
	return 0;
}

int
queue_room_for_ingest(struct queue_txn *t, uint64_t bytes)
{
	uint64_t used, size, reserve;

	if (queue_usage(t, &used, &size) != 0 || size == 0)
		return 1; /* no way to tell: let LMDB decide */
	reserve = size / QUEUE_RESERVE_DIVISOR;
	if (reserve < QUEUE_RESERVE_MIN)
		reserve = QUEUE_RESERVE_MIN;
	/* a record takes some room beyond its bytes: pages, keys, the
	 * pages copied on write */
	return used + bytes + bytes / 4 + reserve <= size;
}

/* ---- policies, in the info table beside "last_qid" ---- */

#define POLICY_PREFIX "policy:"

static int
policy_key(const char *name, char *buf, MDB_val *k)
{
	size_t n = strlen(name);

	if (n == 0 || n > QUEUE_POLICY_NAME_MAX)
		return -1;
	memcpy(buf, POLICY_PREFIX, sizeof(POLICY_PREFIX) - 1);
	memcpy(buf + sizeof(POLICY_PREFIX) - 1, name, n);
	k->mv_data = buf;
	k->mv_size = sizeof(POLICY_PREFIX) - 1 + n;
	return 0;
}

int
queue_policy_put(
    struct queue_txn *t, const char *name, const void *val, size_t len)
{
	char buf[sizeof(POLICY_PREFIX) + QUEUE_POLICY_NAME_MAX];
	MDB_val k, v = {len, (void *)val};

	if (policy_key(name, buf, &k) == -1 || len > QUEUE_POLICY_MAX)
		return QUEUE_EFORMAT;
	return q_err(mdb_put(t->txn, t->q->info, &k, &v, 0));
}

int
queue_policy_get(
    struct queue_txn *t, const char *name, const void **val, size_t *len)
{
	char buf[sizeof(POLICY_PREFIX) + QUEUE_POLICY_NAME_MAX];
	MDB_val k, v;
	int rc;

	if (!t->q->has_dbs)
		return QUEUE_ENOTFOUND;
	if (policy_key(name, buf, &k) == -1)
		return QUEUE_EFORMAT;
	if ((rc = mdb_get(t->txn, t->q->info, &k, &v)) != 0)
		return q_err(rc);
	*val = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int
queue_policy_del(struct queue_txn *t, const char *name)
{
	char buf[sizeof(POLICY_PREFIX) + QUEUE_POLICY_NAME_MAX];
	MDB_val k;
	int rc;

	if (policy_key(name, buf, &k) == -1)
		return QUEUE_EFORMAT;
	rc = mdb_del(t->txn, t->q->info, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : q_err(rc);
}

int
queue_policy_walk(struct queue_txn *t, const char *prefix,
    int (*cb)(const char *, const void *, size_t, void *), void *arg)
{
	char buf[sizeof(POLICY_PREFIX) + QUEUE_POLICY_NAME_MAX];
	char name[QUEUE_POLICY_NAME_MAX + 1];
	size_t plen = sizeof(POLICY_PREFIX) - 1, n = strlen(prefix);
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (!t->q->has_dbs)
		return 0;
	if (n > QUEUE_POLICY_NAME_MAX)
		return QUEUE_EFORMAT;
	memcpy(buf, POLICY_PREFIX, plen);
	memcpy(buf + plen, prefix, n);
	k.mv_data = buf;
	k.mv_size = plen + n;
	if ((rc = mdb_cursor_open(t->txn, t->q->info, &c)) != 0)
		return q_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen + n ||
		    memcmp(k.mv_data, buf, plen + n) != 0)
			break;
		if (k.mv_size - plen > QUEUE_POLICY_NAME_MAX)
			continue;
		memcpy(name, (char *)k.mv_data + plen, k.mv_size - plen);
		name[k.mv_size - plen] = '\0';
		r = cb(name, v.mv_data, v.mv_size, arg);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return q_err(rc);
	return r;
}

/* ---- maildrop names ---- */

static int
drop_key(const char *name, MDB_val *k)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255)
		return -1;
	k->mv_data = (void *)name;
	k->mv_size = n;
	return 0;
}

int
queue_drop_put(struct queue_txn *t, const char *name, uint64_t qid)
{
	MDB_val k, v;
	uint8_t b[8];

	if (drop_key(name, &k) == -1)
		return QUEUE_EFORMAT;
	qid_key(qid, b, &v);
	return q_err(mdb_put(t->txn, t->q->drop, &k, &v, 0));
}

int
queue_drop_get(struct queue_txn *t, const char *name, uint64_t *qid)
{
	MDB_val k, v;
	int rc;

	if (!t->q->has_dbs)
		return QUEUE_ENOTFOUND;
	if (drop_key(name, &k) == -1)
		return QUEUE_EFORMAT;
	if ((rc = mdb_get(t->txn, t->q->drop, &k, &v)) != 0)
		return q_err(rc);
	*qid = v.mv_size == 8 ? be64(v.mv_data) : 0;
	return 0;
}

int
queue_drop_del(struct queue_txn *t, const char *name)
{
	MDB_val k;
	int rc;

	if (drop_key(name, &k) == -1)
		return QUEUE_EFORMAT;
	rc = mdb_del(t->txn, t->q->drop, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : q_err(rc);
}

int
queue_drop_walk(struct queue_txn *t,
    int (*cb)(const char *name, uint64_t qid, void *), void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	char name[256];
	int rc, r = 0;

	if (!t->q->has_dbs)
		return 0;
	if ((rc = mdb_cursor_open(t->txn, t->q->drop, &c)) != 0)
		return q_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size >= sizeof(name))
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		r = cb(name, v.mv_size == 8 ? be64(v.mv_data) : 0, arg);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return q_err(rc);
	return r;
}

static int maps_fd = -1; /* queue_maps_preopen() */

void
queue_maps_preopen(void)
{
	if (maps_fd == -1)
		maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
}

/*
 * Where LMDB mapped data.mdb in this process (LMDB does not say unless
 * the map is fixed): read once at open, from /proc/self/maps, or inside
 * a chroot from the copy queue_maps_preopen() opened before it (its
 * paths are then those seen from the chroot, as dbdir is).
 */
static void
queue_find_map(struct queue *q, const char *dbdir)
{
	char line[1024], want[1024];
	unsigned long start, end;
	FILE *fp = NULL;
	int fd;

	snprintf(want, sizeof(want), "%s/data.mdb", dbdir);
	if (maps_fd != -1 && lseek(maps_fd, 0, SEEK_SET) == 0 &&
	    (fd = dup(maps_fd)) != -1 && (fp = fdopen(fd, "r")) == NULL)
		close(fd);
	if (fp == NULL && (fp = fopen("/proc/self/maps", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strstr(line, want) == NULL ||
		    sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		q->map_base = (void *)start;
		q->map_len = end - start;
		break;
	}
	fclose(fp);
}

/*
 * Drop this process's mappings of the queue file. Reading every record
 * (qmgr's start-up scan) maps the pages around each record too; they stay
 * in the page cache, shared, but count in the process's RSS until
 * released. The map is read-only (no MDB_WRITEMAP), so nothing is lost.
 */
void
queue_trim(struct queue *q)
{
	if (q->map_base != NULL)
		(void)madvise(q->map_base, q->map_len, MADV_DONTNEED);
}
