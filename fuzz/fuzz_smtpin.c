/*
 * fuzz_smtpin.c - the SMTP server engine (common/smtpin.c) driven as
 * smtpd or `ncsendmail -bs` drives it: client bytes arrive in chunks
 * (sizes chosen by the input's first octets) into a 64 KiB buffer,
 * smtpin_feed() takes what it can, the rest waits, at_eof at the end.
 * The stub ops check addresses with addr_normalize() as ncsendmail does
 * and accept, refuse or answer the content later as the input's flags
 * say; when the engine waits, the next input octet decides the late
 * reply or how the TLS handshake ends. Every reply must be a well-formed
 * CRLF line of printable ASCII; the callbacks must come in transaction
 * order; content must fit the size limit; what arrived after STARTTLS
 * is thrown away, as smtpd must.
 */
#include "addr.h"
#include "dsnparam.h"
#include "fuzz.h"
#include "smtpin.h"
#include "smtpreply.h"

#define BUF_SIZE (64 * 1024) /* BS_BUF in commands/sendmail_smtp.c */
#define WAIT_MAX 4096 /* the most smtpin leaves unused, unless waiting */

/* flags, the input's first octet */
#define F_MAIL_REFUSED 0x01
#define F_RCPT_REFUSED 0x02 /* some of them */
#define F_END_REFUSED 0x04 /* data_end: 554 */
#define F_DATA_REFUSED 0x08 /* data refuses a piece holding '!' */
#define F_LATER 0x10 /* data_end: SMTPIN_LATER */
#define F_HELO_REFUSED 0x20 /* names holding 'x' */
#define F_TIGHT 0x40 /* 3 recipients, 5 errors */

struct stub {
	struct smtpin *si;
	int flags;
	unsigned ext;
	struct smtpin_config cfg;
	int open; /* MAIL accepted, no reset since */
	int waiting; /* data_end said SMTPIN_LATER */
	int tls_wait, tls; /* starttls op called; TLS up */
	unsigned bdat_at_mail; /* BDATs given before MAIL: DATA or BDAT? */
	size_t nrcpt;
	uint64_t size; /* content octets of this transaction */
	char last; /* the last octet of content */
	char reply[600];
};

static void
stub_in_order(struct stub *st, const char *what)
{
	FUZZ_CHECK(
	    !st->waiting, "%s while the content's reply is pending", what);
	FUZZ_CHECK(!st->tls_wait, "%s while TLS is being started", what);
}

static const char *
stub_helo(void *arg, const char *name, int extended)
{
	struct stub *st = arg;

	(void)extended;
	stub_in_order(st, "HELO");
	FUZZ_CHECK(*name != '\0' && !fuzz_has_control(name, strlen(name)),
	    "HELO name \"%s\"", name);
	if ((st->flags & F_HELO_REFUSED) && strchr(name, 'x') != NULL)
		return "550 5.7.1 Helo command rejected";
	return NULL;
}

static void
stub_check_mail(struct stub *st, const struct smtpin_mail *m)
{
	FUZZ_CHECK(!st->open, "MAIL inside a transaction");
	FUZZ_CHECK(strlen(m->addr) < SMTPIN_PATH_MAX, "sender length");
	FUZZ_CHECK(m->size <= st->cfg.size_limit, "SIZE over the limit taken");
	FUZZ_CHECK(!m->smtputf8 || (st->ext & SMTPIN_EXT_SMTPUTF8),
	    "SMTPUTF8 not offered");
	FUZZ_CHECK(
	    (m->ret == NULL && m->envid == NULL) || (st->ext & SMTPIN_EXT_DSN),
	    "RET or ENVID without DSN");
	FUZZ_CHECK(m->ret == NULL || strcmp(m->ret, "FULL") == 0 ||
	        strcmp(m->ret, "HDRS") == 0,
	    "RET \"%s\"", m->ret);
	FUZZ_CHECK(m->envid == NULL ||
	        (*m->envid != '\0' && dsn_envid_valid(m->envid)),
	    "ENVID \"%s\"", m->envid);
	FUZZ_CHECK(m->body == NULL || strcmp(m->body, "7BIT") == 0 ||
	        strcmp(m->body, "8BITMIME") == 0,
	    "BODY \"%s\"", m->body);
}

static const char *
stub_mail(void *arg, const struct smtpin_mail *m)
{
	struct stub *st = arg;
	char addr[ADDR_MAX];
	const char *err;

	stub_in_order(st, "MAIL");
	stub_check_mail(st, m);
	if (addr_normalize(m->addr, "example.org", ADDR_NULL_OK, addr,
	        sizeof(addr), &err) == -1) {
		snprintf(st->reply, sizeof(st->reply),
		    "501 5.1.7 Bad sender address syntax (%s)", err);
		return st->reply;
	}
	FUZZ_CHECK(!addr_has_control(addr, strlen(addr)), "sender");
	if (st->flags & F_MAIL_REFUSED)
		return "452 4.3.1 Insufficient system storage";
	st->open = 1;
	st->nrcpt = 0;
	st->size = 0;
	st->bdat_at_mail = smtpin_counts(st->si)->given[SMTPIN_C_BDAT];
	return NULL;
}

static void
stub_check_rcpt(struct stub *st, const struct smtpin_rcpt *r)
{
	const char *semi;

	FUZZ_CHECK(st->open, "RCPT outside a transaction");
	FUZZ_CHECK(*r->addr != '\0' && strlen(r->addr) < SMTPIN_PATH_MAX,
	    "recipient length");
	FUZZ_CHECK((r->notify == NULL && r->orcpt == NULL) ||
	        (st->ext & SMTPIN_EXT_DSN),
	    "NOTIFY or ORCPT without DSN");
	FUZZ_CHECK(r->notify == NULL || dsn_notify_parse(r->notify) > 0,
	    "NOTIFY \"%s\"", r->notify);
	if (r->orcpt == NULL)
		return;
	/* what the maildrop writer and pickup take (dsn_orcpt_valid()) */
	semi = strchr(r->orcpt, ';');
	FUZZ_CHECK(semi != NULL && semi > r->orcpt && semi[1] != '\0' &&
	        !fuzz_has_control(r->orcpt, strlen(r->orcpt)) &&
	        dsn_orcpt_valid(r->orcpt),
	    "ORCPT \"%s\"", r->orcpt);
}

static const char *
stub_rcpt(void *arg, const struct smtpin_rcpt *r)
{
	struct stub *st = arg;
	char addr[ADDR_MAX];
	const char *err;

	stub_in_order(st, "RCPT");
	stub_check_rcpt(st, r);
	if (addr_normalize(
	        r->addr, "example.org", 0, addr, sizeof(addr), &err) == -1) {
		snprintf(st->reply, sizeof(st->reply),
		    "501 5.1.3 Bad recipient address syntax (%s)", err);
		return st->reply;
	}
	if ((st->flags & F_RCPT_REFUSED) && strlen(addr) % 3 == 0)
		return "550 5.1.1 No such user";
	st->nrcpt++;
	FUZZ_CHECK(
	    st->nrcpt <= st->cfg.rcpt_limit, "%zu recipients", st->nrcpt);
	return NULL;
}

static const char *
stub_data(void *arg, const char *p, size_t n)
{
	struct stub *st = arg;

	stub_in_order(st, "content");
	FUZZ_CHECK(st->open && st->nrcpt > 0,
	    "content without MAIL and an accepted RCPT");
	FUZZ_CHECK(n > 0, "an empty piece of content");
	st->size += n;
	FUZZ_CHECK(st->size <= st->cfg.size_limit,
	    "content of %llu octets over the limit %llu",
	    (unsigned long long)st->size,
	    (unsigned long long)st->cfg.size_limit);
	st->last = p[n - 1];
	if ((st->flags & F_DATA_REFUSED) && memchr(p, '!', n) != NULL)
		return "554 5.7.1 Content refused";
	return NULL;
}

static const char *
stub_data_end(void *arg)
{
	struct stub *st = arg;
	int via_data =
	    smtpin_counts(st->si)->given[SMTPIN_C_BDAT] == st->bdat_at_mail;

	stub_in_order(st, "the end of the content");
	FUZZ_CHECK(st->open && st->nrcpt > 0,
	    "content without MAIL and an accepted RCPT");
	FUZZ_CHECK(!via_data || st->size == 0 || st->last == '\n',
	    "DATA content does not end a line");
	if (st->flags & F_LATER) {
		st->waiting = 1;
		return SMTPIN_LATER;
	}
	return (st->flags & F_END_REFUSED) ? "554 5.6.0 refused"
	                                   : "250 2.0.0 Ok: queued";
}

static void
stub_reset(void *arg)
{
	struct stub *st = arg;

	FUZZ_CHECK(!st->waiting || smtpin_closed(st->si),
	    "reset while the content's reply is pending");
	st->open = 0;
	st->waiting = 0;
	st->nrcpt = 0;
	st->size = 0;
}

static void
stub_starttls(void *arg)
{
	struct stub *st = arg;

	FUZZ_CHECK((st->ext & SMTPIN_EXT_STARTTLS) && !st->tls && !st->open,
	    "STARTTLS accepted where it must not be");
	st->tls_wait = 1;
}

static void
stub_refused(void *arg, int cmd, const char *line, const char *reply)
{
	(void)arg;
	FUZZ_CHECK(cmd >= 0 && cmd < SMTPIN_NCMDS, "command %d", cmd);
	FUZZ_CHECK(line != NULL && strlen(line) <= SMTPIN_LINE_MAX, "line");
	FUZZ_CHECK(
	    reply[0] == '4' || reply[0] == '5', "refused with %s", reply);
}

static const struct smtpin_ops stub_ops = {stub_helo, stub_mail, stub_rcpt,
    stub_data, stub_data_end, stub_reset, stub_starttls, stub_refused};

/* The replies written so far: CRLF lines, each a valid reply line. */
static void
check_output(struct stub *st, struct smtp_reply *r)
{
	const char *out, *p, *end, *crlf;
	size_t len, i, n;

	p = out = smtpin_output(st->si, &len);
	end = out + len;
	FUZZ_CHECK(len == 0 ||
	        (len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n'),
	    "output does not end with CRLF");
	FUZZ_CHECK(!st->tls || memmem(out, len, "250-STARTTLS", 12) == NULL,
	    "STARTTLS offered with TLS up");
	while (p < end) {
		crlf = memmem(p, (size_t)(end - p), "\r\n", 2);
		FUZZ_CHECK(crlf != NULL, "reply line without CRLF");
		n = (size_t)(crlf - p);
		for (i = 0; i < n; i++)
			FUZZ_CHECK(p[i] >= 0x20 && p[i] < 0x7f,
			    "octet 0x%02x in a reply: %.*s",
			    (unsigned char)p[i], (int)n, p);
		FUZZ_CHECK(n >= 4 && (p[3] == ' ' || p[3] == '-'),
		    "reply line \"%.*s\"", (int)n, p);
		FUZZ_CHECK(smtp_reply_line(r, p, n) == 0,
		    "reply line \"%.*s\" does not parse", (int)n, p);
		if (r->complete)
			smtp_reply_init(r);
		p = crlf + 2;
	}
	smtpin_output_done(st->si);
}

/* What the engine's state must agree with, after every step. */
static void
check_state(struct stub *st)
{
	const struct smtpin_counts *c = smtpin_counts(st->si);
	unsigned i, sum = 0;

	FUZZ_CHECK(
	    smtpin_pending(st->si) == st->open, "transaction state differs");
	FUZZ_CHECK(smtpin_waiting(st->si) == (st->waiting || st->tls_wait),
	    "waiting differs");
	for (i = 0; i < SMTPIN_NCMDS; i++) {
		FUZZ_CHECK(c->ok[i] <= c->given[i], "command %u: %u of %u", i,
		    c->ok[i], c->given[i]);
		sum += c->given[i];
	}
	FUZZ_CHECK(
	    sum == c->commands, "%u commands, %u counted", sum, c->commands);
	FUZZ_CHECK(c->errors <= st->cfg.error_limit || smtpin_closed(st->si),
	    "%u errors", c->errors);
}

/* The engine waits: the next input octet says how the caller goes on.
 * After STARTTLS the octets held were sent in the clear: thrown away. */
static void
answer_wait(struct stub *st, struct fuzz_in *in, size_t *have)
{
	uint8_t how = fuzz_u8(in);

	if (st->tls_wait) {
		*have = 0;
		st->tls_wait = 0;
		if (how & 1)
			smtpin_close_with(
			    st->si, "421 4.7.0 TLS handshake failed");
		else {
			st->tls = 1;
			smtpin_tls_started(st->si);
		}
		return;
	}
	st->waiting = 0;
	if (how % 4 == 0)
		smtpin_close_with(st->si, "421 4.4.2 Error: timeout exceeded");
	else
		smtpin_data_done(st->si,
		    how % 4 == 1 ? "451 4.3.0 Error: queue file write error"
		                 : "250 2.0.0 Ok: queued as 0123456789ABCDEF");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = {0, 10, 100, 1000, 100000, 10240000};
	struct fuzz_in in = {data, size};
	struct stub st;
	struct smtp_reply r;
	char *buf;
	size_t have = 0, used, n, k = 0;
	uint8_t chunk[4], lim;
	int eof = 0;

	memset(&st, 0, sizeof(st));
	st.flags = fuzz_u8(&in);
	lim = fuzz_u8(&in);
	st.ext = lim >> 4;
	st.cfg.hostname = "mx.example.org";
	st.cfg.size_limit = limits[(lim & 0xf) % 6];
	st.cfg.rcpt_limit = (st.flags & F_TIGHT) ? 3 : 1000;
	st.cfg.error_limit = (st.flags & F_TIGHT) ? 5 : 20;
	st.cfg.ext = st.ext;
	for (n = 0; n < sizeof(chunk); n++)
		chunk[n] = fuzz_u8(&in);
	if ((buf = malloc(BUF_SIZE)) == NULL)
		abort();
	smtp_reply_init(&r);
	st.si = smtpin_new(&st.cfg, &stub_ops, &st);
	smtpin_greet(st.si);
	for (;;) {
		used = smtpin_feed(st.si, buf, have, eof);
		FUZZ_CHECK(used <= have, "used %zu of %zu", used, have);
		FUZZ_CHECK(!st.tls_wait ||
		        (used > 0 && (eof || buf[used - 1] == '\n')),
		    "input taken past the STARTTLS line");
		memmove(buf, buf + used, have - used);
		have -= used;
		check_output(&st, &r);
		check_state(&st);
		if (smtpin_waiting(st.si)) {
			FUZZ_CHECK(smtpin_feed(st.si, buf, have, eof) == 0,
			    "input taken while waiting");
			answer_wait(&st, &in, &have);
			check_output(&st, &r);
			continue;
		}
		if (smtpin_closed(st.si) || eof)
			break;
		FUZZ_CHECK(have <= WAIT_MAX, "%zu octets left waiting", have);
		/* one read(): up to the chunk size, 0 at the end */
		n = chunk[k++ % sizeof(chunk)];
		n = n == 0 ? BUF_SIZE : (size_t)n * n / 32 + 1;
		if (n > BUF_SIZE - have)
			n = BUF_SIZE - have;
		if (n > in.len)
			n = in.len;
		memcpy(buf + have, in.p, n);
		have += n;
		in.p += n;
		in.len -= n;
		eof = n == 0;
	}
	FUZZ_CHECK(smtpin_closed(st.si) || have == 0,
	    "%zu octets not taken at the end", have);
	FUZZ_CHECK(r.nlines == 0, "the last reply is incomplete");
	smtpin_free(st.si);
	free(buf);
	return 0;
}
