/*
 * ncqshow.c - list the mail queue: a mailq-style listing, one JSON object
 * per message with postqueue -j's keys, or a qshape-like summary by state
 * and destination domain. It reads the LMDB queue read-only in a single
 * transaction and never changes it -- run by root, as mail_owner, never
 * as root. A user who cannot read the queue gets the same listing from
 * showq (mail_owner, in its chroot) over QDIR/public/showq. Callers other
 * than root, the queue's owner and members of queue_view_group see only
 * the messages they submitted.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "privdrop.h"
#include "proto.h"
#include "queue.h"
#include "showqc.h"
#include "util.h"

/* qshape's age columns, in minutes; one more column for the rest. */
static const unsigned int qs_limits[] = {
    5, 10, 20, 40, 80, 160, 320, 640, 1280};
#define QS_NCOLS (sizeof(qs_limits) / sizeof(qs_limits[0]) + 1)
#define QS_INDENT 48 /* column where senders and recipients start */

/* One row of the summary: a state or a destination domain. */
struct qs_row {
	char *name;
	unsigned long total;
	unsigned long age[QS_NCOLS];
	uint64_t last_qid; /* count a message once per domain */
};

/* Destination domains, open addressing; cap is a power of two. */
struct qs_domains {
	struct qs_row *rows;
	size_t cap, n;
};

enum qs_mode { QS_LIST, QS_JSON, QS_SUMMARY };

struct qs {
	enum qs_mode mode;
	int state; /* -1: any */
	const char *domain; /* NULL: any; ".example.com": subdomains */
	const char *sender; /* NULL: any */
	int all_users; /* no filter by uid: root, or showq filtered */
	uid_t uid;
	time_t now;
	unsigned long count;
	uint64_t bytes;
	struct qs_row states[Q_HOLD + 1], total;
	struct qs_domains doms;
};

struct qs_output {
	void (*msg)(struct qs *, const struct q_msg *);
	void (*end)(struct qs *);
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: ncqshow [-c DIR] [-s] [--json] [--state S] [--domain D]\n"
	    "               [--sender A] [ID ...]\n"
	    "  -c DIR      configuration directory (default: "
	    "$NCMTA_CONFIG_DIR,\n"
	    "              else " SYSCONFDIR "/ncmta); -C DIR, as for mailq\n"
	    "  -s          summary by state and destination domain, by age\n"
	    "  --json      one JSON object per message per line\n"
	    "  --state S   only messages in state S: incoming, active, "
	    "deferred, hold\n"
	    "  --domain D  only messages with a recipient in domain D\n"
	    "              (.D: in D's subdomains)\n"
	    "  --sender A  only messages from envelope sender A (<> for "
	    "none)\n"
	    "  ID ...      only these queue IDs\n");
}

/* ---- selecting messages ---- */

static int
rcpt_live(const struct q_rcpt *r)
{
	return r->status == QR_PENDING || r->status == QR_DEFERRED;
}

static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static int
domain_match(const char *want, const char *dom)
{
	size_t wl, dl;

	if (want == NULL)
		return 1;
	if (*want != '.')
		return strcasecmp(want, dom) == 0;
	wl = strlen(want);
	dl = strlen(dom);
	return dl > wl && strcasecmp(dom + dl - wl, want) == 0;
}

static int
msg_selected(const struct qs *s, const struct q_msg *m)
{
	uint32_t i;

	if (!s->all_users && m->uid != s->uid)
		return 0;
	if (s->state != -1 && m->state != s->state)
		return 0;
	if (s->sender != NULL && strcasecmp(s->sender, m->sender) != 0)
		return 0;
	if (s->domain == NULL)
		return 1;
	for (i = 0; i < m->nrcpt; i++)
		if (rcpt_live(&m->rcpt[i]) &&
		    domain_match(s->domain, rcpt_domain(m->rcpt[i].addr)))
			return 1;
	return 0;
}

/* ---- mailq listing ---- */

/* Text from the queue may hold anything a remote server said. */
static void
put_safe(const char *p)
{
	for (; *p != '\0'; p++)
		putchar(iscntrl((unsigned char)*p) ? '?' : *p);
}

static void
list_rcpts(const struct q_msg *m)
{
	const char *prev = NULL;
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++) {
		const struct q_rcpt *r = &m->rcpt[i];

		if (!rcpt_live(r))
			continue;
		if (r->status == QR_DEFERRED && *r->reason != '\0' &&
		    (prev == NULL || strcmp(prev, r->reason) != 0)) {
			putchar('(');
			put_safe(r->reason);
			fputs(")\n", stdout);
		}
		prev = r->status == QR_DEFERRED ? r->reason : NULL;
		printf("%*s", QS_INDENT, "");
		put_safe(r->addr);
		putchar('\n');
	}
}

static void
list_msg(struct qs *s, const struct q_msg *m)
{
	char id[NC_QID_LEN + 1], when[32];
	time_t t = (time_t)(m->arrival_us / 1000000);
	struct tm tm;
	int mark = m->state == Q_ACTIVE ? '*' : m->state == Q_HOLD ? '!' : ' ';

	if (s->count++ == 0)
		printf("%-17s %8s %-20s %s\n", "-Queue ID-", "--Size--",
		    "----Arrival Time----", "-Sender/Recipient-------");
	s->bytes += m->size;
	qid_format(m->qid, id);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
		strlcpy(when, "?", sizeof(when));
	printf("%s%c %8llu %-20.20s ", id, mark, (unsigned long long)m->size,
	    when);
	put_safe(*m->sender != '\0' ? m->sender : "MAILER-DAEMON");
	putchar('\n');
	list_rcpts(m);
}

static void
list_end(struct qs *s)
{
	if (s->count == 0) {
		puts("Mail queue is empty");
		return;
	}
	printf("\n-- %llu Kbytes in %lu Request%s.\n",
	    (unsigned long long)((s->bytes + 1023) / 1024), s->count,
	    s->count == 1 ? "" : "s");
}

/* ---- JSON ---- */

/* A JSON string; a byte that is not UTF-8 is taken as Latin-1. */
static void
json_str(const char *str)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t n;

	putchar('"');
	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			putchar('\\');
			putchar(*p++);
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			putchar('\\');
			putchar(*p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else if (*p < 0x80) {
			putchar(*p++);
		} else if ((n = utf8_len(p)) > 0) {
			fwrite(p, 1, n, stdout);
			p += n;
		} else
			printf("\\u%04x", *p++);
	}
	putchar('"');
}

static void
json_msg(struct qs *s, const struct q_msg *m)
{
	char id[NC_QID_LEN + 1];
	uint32_t i;
	int first = 1;

	s->count++;
	qid_format(m->qid, id);
	printf("{\"queue_name\": \"%s\", \"queue_id\": \"%s\", "
	       "\"arrival_time\": %llu, \"message_size\": %llu, \"sender\": ",
	    q_state_name(m->state), id,
	    (unsigned long long)(m->arrival_us / 1000000),
	    (unsigned long long)m->size);
	json_str(m->sender);
	fputs(", \"recipients\": [", stdout);
	for (i = 0; i < m->nrcpt; i++) {
		if (!rcpt_live(&m->rcpt[i]))
			continue;
		fputs(first ? "{\"address\": " : ", {\"address\": ", stdout);
		first = 0;
		json_str(m->rcpt[i].addr);
		if (m->rcpt[i].status == QR_DEFERRED) {
			fputs(", \"delay_reason\": ", stdout);
			json_str(m->rcpt[i].reason);
		}
		putchar('}');
	}
	printf("], \"next_attempt\": %lld}\n", (long long)m->next_attempt);
}

/* ---- summary (qshape) ---- */

static void
row_add(struct qs_row *r, size_t col)
{
	r->total++;
	r->age[col]++;
}

static uint64_t
dom_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) *
		    1099511628211ULL;
	return h;
}

static struct qs_row *
dom_slot(struct qs_row *rows, size_t cap, const char *name)
{
	size_t i = (size_t)dom_hash(name) & (cap - 1);

	while (rows[i].name != NULL && strcasecmp(rows[i].name, name) != 0)
		i = (i + 1) & (cap - 1);
	return &rows[i];
}

static void
dom_grow(struct qs_domains *d)
{
	struct qs_row *old = d->rows;
	size_t i, oldcap = d->cap;

	d->cap = d->cap ? d->cap * 2 : 64;
	d->rows = xcalloc(d->cap, sizeof(*d->rows));
	for (i = 0; i < oldcap; i++)
		if (old[i].name != NULL)
			*dom_slot(d->rows, d->cap, old[i].name) = old[i];
	free(old);
}

static struct qs_row *
dom_row(struct qs_domains *d, const char *name)
{
	struct qs_row *r;
	char *p;

	if ((d->n + 1) * 10 > d->cap * 7)
		dom_grow(d);
	r = dom_slot(d->rows, d->cap, name);
	if (r->name == NULL) {
		r->name = xstrdup(name);
		for (p = r->name; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		d->n++;
	}
	return r;
}

static size_t
age_col(const struct qs *s, const struct q_msg *m)
{
	double mins = ((double)s->now - (double)m->arrival_us / 1e6) / 60.0;
	size_t i;

	for (i = 0; i < QS_NCOLS - 1; i++)
		if (mins < qs_limits[i])
			return i;
	return QS_NCOLS - 1;
}

static void
sum_msg(struct qs *s, const struct q_msg *m)
{
	size_t col = age_col(s, m);
	struct qs_row *r;
	uint32_t i;

	s->count++;
	row_add(&s->total, col);
	row_add(&s->states[m->state <= Q_HOLD ? m->state : 0], col);
	for (i = 0; i < m->nrcpt; i++) {
		const char *dom = rcpt_domain(m->rcpt[i].addr);

		if (!rcpt_live(&m->rcpt[i]) || !domain_match(s->domain, dom))
			continue;
		r = dom_row(&s->doms, *dom != '\0' ? dom : "(none)");
		if (r->total > 0 && r->last_qid == m->qid)
			continue;
		r->last_qid = m->qid;
		row_add(r, col);
	}
}

static void
sum_header(int width, const char *what)
{
	char last[16];
	size_t i;

	printf("%*s %7s", width, what, "T");
	for (i = 0; i < QS_NCOLS - 1; i++)
		printf(" %5u", qs_limits[i]);
	snprintf(last, sizeof(last), "%u+", qs_limits[QS_NCOLS - 2]);
	printf(" %5s\n", last);
}

static void
sum_row(int width, const char *name, const struct qs_row *r)
{
	size_t i;

	printf("%*s %7lu", width, name, r->total);
	for (i = 0; i < QS_NCOLS; i++)
		printf(" %5lu", r->age[i]);
	putchar('\n');
}

static int
row_cmp(const void *a, const void *b)
{
	const struct qs_row *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void
sum_end(struct qs *s)
{
	struct qs_row *rows = xcalloc(s->doms.n + 1, sizeof(*rows));
	int width = 10, i;
	size_t j, n = 0;

	for (j = 0; j < s->doms.cap; j++)
		if (s->doms.rows[j].name != NULL) {
			rows[n++] = s->doms.rows[j];
			if ((int)strlen(s->doms.rows[j].name) > width)
				width = (int)strlen(s->doms.rows[j].name);
		}
	qsort(rows, n, sizeof(*rows), row_cmp);
	sum_header(width, "state");
	sum_row(width, "TOTAL", &s->total);
	for (i = Q_INCOMING; i <= Q_HOLD; i++)
		sum_row(width, q_state_name(i), &s->states[i]);
	printf("\n");
	sum_header(width, "domain");
	sum_row(width, "TOTAL", &s->total);
	for (j = 0; j < n; j++)
		sum_row(width, rows[j].name, &rows[j]);
	for (j = 0; j < n; j++)
		free(rows[j].name);
	free(rows);
	free(s->doms.rows);
}

static const struct qs_output qs_outputs[] = {
    [QS_LIST] = {list_msg, list_end},
    [QS_JSON] = {json_msg, NULL},
    [QS_SUMMARY] = {sum_msg, sum_end},
};

/* ---- reading the queue ---- */

static int
walk_cb(const struct q_msg *m, void *arg)
{
	struct qs *s = arg;

	if (msg_selected(s, m))
		qs_outputs[s->mode].msg(s, m);
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Just the named messages (sorted, no duplicates). */
static int
show_ids(struct qs *s, struct queue_txn *t, uint64_t *ids, size_t n)
{
	char id[NC_QID_LEN + 1];
	struct q_msg m;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		qid_format(ids[i], id);
		rc = queue_get_msg(t, ids[i], &m);
		if (rc == QUEUE_EFORMAT || rc == QUEUE_ENEWER ||
		    rc == QUEUE_ENOTFOUND) {
			fprintf(stderr, "ncqshow: %s: %s\n", id,
			    queue_strerror(rc));
			continue;
		}
		if (rc != 0)
			return rc;
		/* another user's message is as good as absent */
		if (!s->all_users && m.uid != s->uid)
			fprintf(stderr, "ncqshow: %s: %s\n", id,
			    queue_strerror(QUEUE_ENOTFOUND));
		else if (msg_selected(s, &m))
			qs_outputs[s->mode].msg(s, &m);
		q_msg_free(&m);
	}
	return 0;
}

/* Open the queue; 1 if there is none yet (nothing was ever queued). */
static int
qs_open(const char *path, struct queue **q)
{
	struct stat st;
	int rc;

	if (stat(path, &st) == -1 && errno == ENOENT)
		return 1;
	if ((rc = queue_open(q, path, 0, 1)) != 0) {
		fprintf(stderr, "ncqshow: cannot open the queue %s: %s\n", path,
		    queue_strerror(rc));
		exit(EX_TEMPFAIL);
	}
	return 0;
}

static int
qs_direct(struct qs *s, const char *path, uint64_t *ids, size_t n)
{
	struct queue *q = NULL;
	struct queue_txn *t;
	int rc = 0;

	if (qs_open(path, &q) == 0) {
		if ((rc = queue_txn_begin(q, &t, 1)) == 0) {
			rc = n > 0 ? show_ids(s, t, ids, n)
			           : queue_walk(t, walk_cb, s);
			queue_txn_abort(t);
		}
		queue_close(q);
	}
	if (rc != 0) {
		fflush(stdout);
		fprintf(stderr, "ncqshow: cannot read the queue: %s\n",
		    queue_strerror(rc));
		return EX_TEMPFAIL;
	}
	return 0;
}

/* ---- through showq, for users who cannot read the queue ---- */

/* Requested IDs showq sent nothing for, up to (not including) upto. */
static void
remote_missing(const uint64_t *ids, size_t n, size_t *next, uint64_t upto)
{
	char id[NC_QID_LEN + 1];

	for (; *next < n && ids[*next] < upto; (*next)++) {
		qid_format(ids[*next], id);
		fprintf(stderr, "ncqshow: %s: %s\n", id,
		    queue_strerror(QUEUE_ENOTFOUND));
	}
}

/* What a listing from showq is read with. */
struct qs_remote {
	struct qs *s;
	const uint64_t *ids;
	size_t n, next; /* requested IDs; the next one not yet seen */
};

/* One M_LIST_ITEM: the message record as the queue holds it. */
static int
remote_item(const struct ipcm_list_item *it, void *arg)
{
	struct qs_remote *r = arg;
	char id[NC_QID_LEN + 1];
	struct q_msg m;
	int rc;

	if (r->n > 0) {
		remote_missing(r->ids, r->n, &r->next, it->qid);
		if (r->next < r->n && r->ids[r->next] == it->qid)
			r->next++;
	}
	if ((rc = q_msg_decode(it->record, it->record_len, &m)) != 0) {
		qid_format(it->qid, id);
		fprintf(stderr, "ncqshow: %s: %s\n", id, queue_strerror(rc));
		return 0;
	}
	m.qid = it->qid;
	if (msg_selected(r->s, &m))
		qs_outputs[r->s->mode].msg(r->s, &m);
	q_msg_free(&m);
	return 0;
}

/*
 * The queue is not readable to us (a root install, and we are neither
 * root nor its owner): showq reads it and sends each message we may see
 * (every one to a member of queue_view_group); the other filters and the
 * output are the same as for a direct read.
 */
static int
qs_remote(struct qs *s, const struct nc_config *cfg, uint64_t *ids, size_t n)
{
	struct qs_remote r = {.s = s, .ids = ids, .n = n, .next = 0};
	struct ipcm_qid *qids = xcalloc(n ? n : 1, sizeof(*qids));
	struct ipcm_req_list req;
	const char *sender;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		qids[i].qid = ids[i];
	sender = s->sender == NULL ? "" : *s->sender ? s->sender : "<>";
	req = (struct ipcm_req_list){
	    .flags = s->mode == QS_JSON ? LIST_F_JSON : 0,
	    .state = s->state == -1 ? "" : q_state_name(s->state),
	    .domain = s->domain,
	    .sender = sender,
	    .ids = qids,
	    .ids_n = (uint32_t)n};
	s->all_users = 1; /* showq chose by our credentials */
	rc = showqc_list(cfg, "ncqshow", &req, remote_item, &r);
	free(qids);
	if (rc == 0)
		remote_missing(ids, n, &r.next, UINT64_MAX);
	return rc;
}

/* Root becomes mail_owner to read the queue: the files in db/ are
 * mail_owner's to replace, and root never opens them. */
static int
qs_as_owner(struct qs *s, const struct nc_config *cfg, const char *path,
    uint64_t *ids, size_t n)
{
	char *err;

	if (privdrop_queue_reader(cfg->mail_owner, path, &err) == -1) {
		fprintf(stderr, "ncqshow: %s\n", err);
		free(err);
		return EX_TEMPFAIL;
	}
	return qs_direct(s, path, ids, n);
}

/* Root and the queue's owner read it directly and see every message. */
static int
qs_run(struct qs *s, const struct nc_config *cfg, uint64_t *ids, size_t n)
{
	char *path = config_qpath(cfg, "db");
	struct stat st;
	int rc;

	s->all_users =
	    s->uid == 0 || (stat(path, &st) == 0 && st.st_uid == s->uid);
	if (geteuid() == 0)
		rc = qs_as_owner(s, cfg, path, ids, n);
	else if (access(path, R_OK | X_OK) == -1 && errno == EACCES)
		rc = qs_remote(s, cfg, ids, n);
	else
		rc = qs_direct(s, path, ids, n);
	free(path);
	if (rc != 0)
		return rc;
	if (qs_outputs[s->mode].end != NULL)
		qs_outputs[s->mode].end(s);
	return 0;
}

/* ---- command line ---- */

static int
parse_state(const char *name)
{
	int state = q_state_parse(name);

	if (state >= 0)
		return state;
	fprintf(stderr,
	    "ncqshow: unknown state \"%s\" (incoming, active, "
	    "deferred, hold)\n",
	    name);
	exit(EX_USAGE);
}

static const char *
parse_args(struct qs *s, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"state", required_argument, NULL, 'S'},
	    {"domain", required_argument, NULL, 'D'},
	    {"sender", required_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	const char *dir = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:C:sh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
		case 'C': /* Postfix's mailq, and so check_mailq -d */
			dir = optarg;
			break;
		case 's':
			s->mode = QS_SUMMARY;
			break;
		case 'j':
			s->mode = QS_JSON;
			break;
		case 'S':
			s->state = parse_state(optarg);
			break;
		case 'D':
			s->domain = optarg;
			break;
		case 'F':
			s->sender = strcmp(optarg, "<>") == 0 ? "" : optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(EX_USAGE);
		}
	}
	return dir;
}

int
main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct qs s = {.mode = QS_LIST, .state = -1};
	struct cf_errors errs = {NULL, 0};
	struct nc_config cfg;
	const char *dir;
	uint64_t *ids;
	int i, n, r;

	log_init("ncqshow", "stderr", NULL);
	dir = parse_args(&s, argc, argv);
	ids = xcalloc((size_t)(argc - optind) + 1, sizeof(*ids));
	for (i = optind, n = 0; i < argc; i++, n++)
		if (qid_parse(argv[i], &ids[n]) == -1) {
			fprintf(
			    stderr, "ncqshow: bad queue ID \"%s\"\n", argv[i]);
			return EX_USAGE;
		}
	qsort(ids, (size_t)n, sizeof(*ids), id_cmp);
	for (i = 0, r = 0; i < n; i++)
		if (r == 0 || ids[i] != ids[r - 1])
			ids[r++] = ids[i];
	n = r;
	if (config_load(&cfg, config_dir_pick(dir), &errs) == -1) {
		fprintf(stderr, "%s", errs.text ? errs.text : "bad config\n");
		return EX_CONFIG;
	}
	s.uid = getuid();
	s.now = time(NULL);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	r = qs_run(&s, &cfg, ids, (size_t)n);
	if (fflush(stdout) == EOF && r == 0) {
		fprintf(stderr, "ncqshow: write error: %s\n", strerror(errno));
		r = EX_IOERR;
	}
	free(ids);
	config_free(&cfg);
	return r;
}
