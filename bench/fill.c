/*
 * fill.c - bench/million's queue filler: writes N deferred messages
 * (one recipient each, spread over many domains, small bodies) straight
 * into an instance's LMDB queue through the queue API, in large group
 * commits; or, with -R, makes the next K deferred messages due now so
 * that a restarted qmgr has work at once. Run it while no qmgr writes,
 * or accept that qmgr learns of -R's change only when it restarts.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "privdrop.h"
#include "qlayout.h"
#include "queue.h"
#include "util.h"

struct fill {
	struct nc_config cfg;
	struct queue *q;
	unsigned long n; /* messages to write */
	unsigned long domains;
	unsigned long senders;
	unsigned long batch; /* messages per transaction */
	unsigned long due; /* the first `due` messages are due now */
	int make_due_mode; /* -R given */
	unsigned long make_due; /* -R's count */
	size_t body_size;
	int64_t age; /* arrivals spread over the last `age` seconds */
	time_t now;
	char *body;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fill [-c DIR] [-n N] [-d DOMAINS] [-s BYTES] [-b BATCH]\n"
	    "            [-a SECONDS] [-D K]\n"
	    "       fill [-c DIR] -R K\n"
	    "  -n N        deferred messages to write (default 1000000)\n"
	    "  -d DOMAINS  recipient domains, round robin (default 1000)\n"
	    "  -s BYTES    content size of each message (default 1024)\n"
	    "  -b BATCH    messages per transaction (default 10000)\n"
	    "  -a SECONDS  arrivals spread over the last SECONDS "
	    "(default 7200)\n"
	    "  -D K        the first K messages are due now (default 0)\n"
	    "  -R K        write nothing new: make the next K deferred "
	    "messages\n"
	    "              that are not yet due, due now\n");
	exit(64);
}

static unsigned long
num_arg(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0')
		usage();
	return v;
}

/* The same content for every message: headers, then filler lines. */
static char *
body_make(size_t size)
{
	static const char head[] = "From: Bench <bench@source.example>\n"
	                           "Subject: queued by bench/fill\n\n";
	static const char line[] =
	    "The quick brown fox jumps over the lazy dog 0123456789.\n";
	char *b = xmalloc(size + 1);
	size_t off;

	for (off = 0; off < size; off++)
		b[off] = off < sizeof(head) - 1
		    ? head[off]
		    : line[(off - (sizeof(head) - 1)) % (sizeof(line) - 1)];
	b[size] = '\0';
	return b;
}

/* Message i's record: what a first failed attempt leaves behind. */
static void
msg_make(struct fill *f, unsigned long i, uint64_t qid, struct q_msg *m,
    struct q_rcpt *r, char bufs[3][256])
{
	unsigned long d = i % f->domains;

	snprintf(bufs[0], 256, "sender%lu@source.example", i % f->senders);
	snprintf(bufs[1], 256, "user%lu@dom%lu.example", i / f->domains, d);
	snprintf(bufs[2], 256,
	    "connect to mx.dom%lu.example[192.0.2.%lu]:25: "
	    "Connection timed out",
	    d, d % 254 + 1);
	memset(m, 0, sizeof(*m));
	m->qid = qid;
	m->state = Q_DEFERRED;
	m->uid = (uint32_t)getuid();
	m->arrival_us = qid;
	m->size = f->body_size;
	/* the rest is due over the hour after the next one */
	m->next_attempt = i < f->due
	    ? (int64_t)f->now
	    : (int64_t)f->now + 3600 + (int64_t)(i % 3600);
	m->attempts = 1;
	m->sender = bufs[0];
	m->nrcpt = 1;
	m->rcpt = r;
	memset(r, 0, sizeof(*r));
	r->addr = bufs[1];
	r->status = QR_DEFERRED;
	r->dsn = "4.4.1";
	r->reason = bufs[2];
}

static void
die_queue(const char *what, int rc)
{
	fprintf(stderr, "fill: %s: %s\n", what, queue_strerror(rc));
	exit(1);
}

static int
any_msg_cb(const struct q_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	return 1;
}

/* IDs in the past are only safe in a queue that never handed one out. */
static int
queue_is_empty(struct fill *f)
{
	struct queue_txn *t;
	int rc;

	if ((rc = queue_txn_begin(f->q, &t, 1)) != 0)
		die_queue("read", rc);
	rc = queue_walk(t, any_msg_cb, NULL);
	queue_txn_abort(t);
	if (rc < 0)
		die_queue("read", rc);
	return rc == 0;
}

/* Messages [first, last) in one transaction: one fsync for the batch. */
static void
fill_batch(struct fill *f, unsigned long first, unsigned long last,
    uint64_t start_us, uint64_t step_us)
{
	struct queue_txn *t;
	struct q_msg m;
	struct q_rcpt r;
	char bufs[3][256];
	uint64_t qid;
	unsigned long i;
	int rc;

	if ((rc = queue_txn_begin(f->q, &t, 0)) != 0)
		die_queue("begin", rc);
	for (i = first; i < last; i++) {
		qid = start_us + i * step_us;
		msg_make(f, i, qid, &m, &r, bufs);
		if ((rc = queue_put_msg(t, &m)) != 0 ||
		    (rc = queue_put_body(t, qid, f->body, f->body_size)) != 0)
			die_queue("write", rc);
	}
	/* remember an ID above every one written, for later arrivals */
	if (last == f->n && (rc = queue_new_qid(t, &qid)) != 0)
		die_queue("new ID", rc);
	if ((rc = queue_txn_commit(t)) != 0)
		die_queue("commit", rc);
}

static void
fill_run(struct fill *f)
{
	uint64_t span_us = (uint64_t)f->age * 1000000, step_us, start_us;
	unsigned long i, last;
	double t0 = now_sec(), t;

	if (!queue_is_empty(f)) {
		fprintf(stderr, "fill: the queue is not empty\n");
		exit(1);
	}
	step_us = f->n > 0 && span_us / f->n > 0 ? span_us / f->n : 1;
	start_us = now_usec() - step_us * f->n;
	for (i = 0; i < f->n; i = last) {
		last = f->n - i > f->batch ? i + f->batch : f->n;
		fill_batch(f, i, last, start_us, step_us);
	}
	t = now_sec() - t0;
	printf("filled %lu messages in %.2f s (%.0f msg/s), %lu due now\n",
	    f->n, t, t > 0 ? (double)f->n / t : 0.0,
	    f->due < f->n ? f->due : f->n);
}

struct due_walk {
	time_t now;
	unsigned long want, n;
	uint64_t *qids;
};

static int
due_walk_cb(const struct q_msg *m, void *arg)
{
	struct due_walk *w = arg;

	if (m->state == Q_DEFERRED && m->next_attempt > w->now)
		w->qids[w->n++] = m->qid;
	return w->n == w->want;
}

/* -R: the next K not-yet-due deferred messages become due now. */
static void
make_due(struct fill *f)
{
	struct due_walk w = {f->now, f->make_due, 0, NULL};
	struct queue_txn *t;
	struct q_msg m;
	unsigned long i;
	int rc;

	w.qids = xcalloc(f->make_due ? f->make_due : 1, sizeof(*w.qids));
	if ((rc = queue_txn_begin(f->q, &t, 0)) != 0)
		die_queue("begin", rc);
	if (f->make_due > 0 && (rc = queue_walk(t, due_walk_cb, &w)) < 0)
		die_queue("read", rc);
	for (i = 0; i < w.n; i++) {
		if ((rc = queue_get_msg(t, w.qids[i], &m)) != 0)
			die_queue("read", rc);
		m.next_attempt = (int64_t)f->now;
		rc = queue_put_msg(t, &m);
		q_msg_free(&m);
		if (rc != 0)
			die_queue("write", rc);
	}
	if ((rc = queue_txn_commit(t)) != 0)
		die_queue("commit", rc);
	printf("made %lu deferred messages due now\n", w.n);
	free(w.qids);
}

static void
fill_args(struct fill *f, int argc, char **argv)
{
	const char *confdir = NULL;
	struct cf_errors errs = {NULL, 0};
	int ch;

	while ((ch = getopt(argc, argv, "a:b:c:D:d:n:R:s:")) != -1) {
		switch (ch) {
		case 'a':
			f->age = (int64_t)num_arg(optarg);
			break;
		case 'b':
			f->batch = num_arg(optarg);
			break;
		case 'c':
			confdir = optarg;
			break;
		case 'D':
			f->due = num_arg(optarg);
			break;
		case 'd':
			f->domains = num_arg(optarg);
			break;
		case 'n':
			f->n = num_arg(optarg);
			break;
		case 'R':
			f->make_due = num_arg(optarg);
			f->make_due_mode = 1;
			break;
		case 's':
			f->body_size = num_arg(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || f->domains == 0 || f->batch == 0)
		usage();
	if (config_load(&f->cfg, config_dir_pick(confdir), &errs) == -1) {
		fprintf(stderr, "fill: %s", errs.text);
		exit(78);
	}
}

/* Root fills the queue as mail_owner: the tree made as the master makes
 * it, the LMDB files created by mail_owner (the master refuses to start
 * on queue files that are not mail_owner's, and root never opens them). */
static void
fill_as_owner(struct fill *f, const char *dbdir)
{
	struct passwd *pw;
	char *err = NULL;

	if ((pw = getpwnam(f->cfg.mail_owner)) == NULL) {
		fprintf(stderr, "fill: mail_owner %s is not a user\n",
		    f->cfg.mail_owner);
		exit(78);
	}
	if (qlayout_create(&f->cfg, pw->pw_uid, pw->pw_gid, 1, &err) == -1 ||
	    privdrop_queue_reader(f->cfg.mail_owner, dbdir, &err) != 0) {
		fprintf(stderr, "fill: %s\n", err ? err : "no queue directory");
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct fill f;
	char *path;
	int rc;

	memset(&f, 0, sizeof(f));
	f.n = 1000000;
	f.domains = 1000;
	f.senders = 50;
	f.batch = 10000;
	f.body_size = 1024;
	f.age = 7200;
	fill_args(&f, argc, argv);
	f.now = time(NULL);
	path = config_qpath(&f.cfg, "db");
	if (geteuid() == 0)
		fill_as_owner(&f, path);
	if ((rc = queue_open(&f.q, path, f.cfg.queue_map_size, 0)) != 0) {
		fprintf(stderr, "fill: cannot open the queue in %s: %s\n", path,
		    queue_strerror(rc));
		return 1;
	}
	free(path);
	f.body = body_make(f.body_size);
	if (f.make_due_mode)
		make_due(&f);
	else
		fill_run(&f);
	queue_close(f.q);
	free(f.body);
	config_free(&f.cfg);
	return 0;
}
