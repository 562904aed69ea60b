/*
 * fuzz_smtpin.c - the `ncsendmail -bs` server engine (common/smtpin.c)
 * driven as sendmail_smtp.c drives it: client bytes arrive in chunks
 * (sizes chosen by the input's first octets) into a 64 KiB buffer,
 * smtpin_feed() takes what it can, the rest waits, at_eof at the end.
 * The stub ops check addresses with addr_normalize() as ncsendmail does
 * and accept or refuse as the input's flags say. Every reply must be a
 * well-formed CRLF line of printable ASCII; the callbacks must come in
 * transaction order; a message must fit the size limit and end a line.
 */
#include "addr.h"
#include "fuzz.h"
#include "smtpin.h"
#include "smtpreply.h"

#define BUF_SIZE (64 * 1024) /* BS_BUF in commands/sendmail_smtp.c */
#define WAIT_MAX 4096 /* the most smtpin may leave unused */

struct stub {
	int flags;
	int open; /* MAIL accepted, no reset since */
	size_t nrcpt;
	uint64_t limit;
	char reply[600];
};

static const char *
stub_mail(void *arg, const struct smtpin_mail *m)
{
	struct stub *st = arg;
	char addr[ADDR_MAX];
	const char *err;

	FUZZ_CHECK(!st->open, "MAIL inside a transaction");
	FUZZ_CHECK(strlen(m->addr) < SMTPIN_PATH_MAX, "sender length");
	FUZZ_CHECK(m->size <= st->limit, "SIZE over the limit was taken");
	if (addr_normalize(
	        m->addr, "example.org", 1, addr, sizeof(addr), &err) == -1) {
		snprintf(st->reply, sizeof(st->reply),
		    "501 5.1.7 Bad sender address syntax (%s)", err);
		return st->reply;
	}
	FUZZ_CHECK(!addr_has_control(addr, strlen(addr)), "sender");
	if (st->flags & 1)
		return "452 4.3.1 Insufficient system storage";
	st->open = 1;
	st->nrcpt = 0;
	return NULL;
}

static const char *
stub_rcpt(void *arg, const char *raw)
{
	struct stub *st = arg;
	char addr[ADDR_MAX];
	const char *err;

	FUZZ_CHECK(st->open, "RCPT outside a transaction");
	FUZZ_CHECK(
	    *raw != '\0' && strlen(raw) < SMTPIN_PATH_MAX, "recipient length");
	if (addr_normalize(raw, "example.org", 0, addr, sizeof(addr), &err) ==
	    -1) {
		snprintf(st->reply, sizeof(st->reply),
		    "501 5.1.3 Bad recipient address syntax (%s)", err);
		return st->reply;
	}
	if ((st->flags & 2) && strlen(addr) % 3 == 0)
		return "550 5.1.1 No such user";
	st->nrcpt++;
	FUZZ_CHECK(st->nrcpt <= SMTPIN_RCPT_MAX, "%zu recipients", st->nrcpt);
	return NULL;
}

static const char *
stub_data(void *arg, const char *msg, size_t len)
{
	struct stub *st = arg;

	FUZZ_CHECK(st->open && st->nrcpt > 0,
	    "DATA without MAIL and an accepted RCPT");
	FUZZ_CHECK(len <= st->limit, "message of %zu over the limit %llu", len,
	    (unsigned long long)st->limit);
	FUZZ_CHECK(
	    len == 0 || msg[len - 1] == '\n', "message does not end a line");
	return (st->flags & 4) ? "554 5.6.0 refused" : "250 2.0.0 Ok: queued";
}

static void
stub_reset(void *arg)
{
	struct stub *st = arg;

	st->open = 0;
	st->nrcpt = 0;
}

static const struct smtpin_ops stub_ops = {
    stub_mail, stub_rcpt, stub_data, stub_reset};

/* The replies written so far: CRLF lines, each a valid reply line. */
static void
check_output(const char *out, size_t len, struct smtp_reply *r)
{
	const char *p = out, *end = out + len, *crlf;
	size_t i, n;

	FUZZ_CHECK(len == 0 ||
	        (len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n'),
	    "output does not end with CRLF");
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
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = {0, 10, 100, 1000, 100000, 10240000};
	struct fuzz_in in = {data, size};
	struct stub st;
	struct smtp_reply r;
	struct smtpin *si;
	char *buf;
	const char *out;
	size_t have = 0, used, n, outlen, k = 0;
	uint8_t chunk[4];
	int eof = 0;

	memset(&st, 0, sizeof(st));
	st.flags = fuzz_u8(&in);
	st.limit = limits[fuzz_u8(&in) % 6];
	for (n = 0; n < sizeof(chunk); n++)
		chunk[n] = fuzz_u8(&in);
	if ((buf = malloc(BUF_SIZE)) == NULL)
		abort();
	smtp_reply_init(&r);
	si = smtpin_new("mx.example.org", st.limit, &stub_ops, &st);
	smtpin_greet(si);
	for (;;) {
		used = smtpin_feed(si, buf, have, eof);
		FUZZ_CHECK(used <= have, "used %zu of %zu", used, have);
		memmove(buf, buf + used, have - used);
		have -= used;
		out = smtpin_output(si, &outlen);
		check_output(out, outlen, &r);
		smtpin_output_done(si);
		if (smtpin_closed(si) || eof)
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
	FUZZ_CHECK(smtpin_closed(si) || have == 0,
	    "%zu octets not taken at the end", have);
	FUZZ_CHECK(r.nlines == 0, "the last reply is incomplete");
	FUZZ_CHECK(smtpin_pending(si) == st.open || !st.open,
	    "transaction state differs");
	smtpin_free(si);
	free(buf);
	return 0;
}
