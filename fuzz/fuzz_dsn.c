/*
 * fuzz_dsn.c - delivery status notifications (daemons/bounce/dsn.c).
 * The input is the payload of an M_BOUNCE_REQ frame, read field by field
 * as the bounce daemon reads it (bounce.c); a request dsn_check() takes
 * is composed with dsn_compose(). The notice must be a clean message
 * whatever the diagnostics and headers held: lines of at most 998
 * octets, no CR or NUL, a header of fields, 7-bit parts 1 and 2, the
 * boundary exactly where the parts are, and one recipient block per
 * recipient (a server's text cannot add one).
 */
#include "bounce.h"
#include "fuzz.h"
#include "ipc.h"
#include "proto.h"

#define RCPT_MIN (6 * 5) /* BOUNCE_RCPT_MIN in bounce.c */

/* Lines of text[0..len) that are exactly "prefix" + rest; counted. */
static size_t
count_lines(const char *text, size_t len, const char *prefix)
{
	const char *p = text, *end = text + len, *nl;
	size_t n = 0, plen = strlen(prefix);

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		n += (size_t)(nl - p) >= plen && memcmp(p, prefix, plen) == 0;
	}
	return n;
}

static void
check_notice(const struct dsn_notice *n, const struct dsn_out *out)
{
	const char *t = out->text, *end = t + out->len, *p, *nl;
	const char *bound[4] = {NULL, NULL, NULL, NULL};
	char line[DSN_BOUNDARY_MAX + 8];
	size_t i, part = 0, col, blen = strlen(out->boundary), rlen;
	int header = 1;

	FUZZ_CHECK(out->len > 0 && t[out->len - 1] == '\n', "no final LF");
	FUZZ_CHECK(memchr(t, '\0', out->len) == NULL &&
	        memchr(t, '\r', out->len) == NULL,
	    "NUL or CR in the notice");
	for (p = t; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		col = (size_t)(nl - p);
		FUZZ_CHECK(
		    col <= DSN_LINE_MAX, "line of %zu octets: %.60s", col, p);
		if (header && col == 0)
			header = 0;
		else if (header)
			FUZZ_CHECK(*p == ' ' || *p == '\t' ||
			        (memchr(p, ':', col) != NULL &&
			            memchr(p, ' ', col) >
			                (const void *)memchr(p, ':', col)),
			    "header line \"%.*s\"", (int)col, p);
		if ((col == blen + 2 || col == blen + 4) && p[0] == '-' &&
		    p[1] == '-' && memcmp(p + 2, out->boundary, blen) == 0) {
			FUZZ_CHECK(part < 4, "more than four boundary lines");
			bound[part++] = p;
		}
		for (i = 0; i < col; i++) {
			unsigned char c = (unsigned char)p[i];

			FUZZ_CHECK(
			    part >= 3 || header || (c >= 0x20 && c < 0x7f),
			    "octet 0x%02x in part %zu", c, part);
			FUZZ_CHECK(c < 0x80 || (out->eightbit && part >= 3),
			    "8-bit octet in part %zu (8bit %d)", part,
			    out->eightbit);
		}
	}
	FUZZ_CHECK(part == 4, "%zu boundary lines", part);
	snprintf(line, sizeof(line), "--%s--\n", out->boundary);
	FUZZ_CHECK(
	    out->len > strlen(line) && strcmp(end - strlen(line), line) == 0,
	    "does not end with the closing boundary");
	/* the delivery report: one block per recipient, nothing more */
	rlen = (size_t)(bound[2] - bound[1]);
	FUZZ_CHECK(
	    count_lines(bound[1], rlen, "Final-Recipient: ") == n->nrcpt &&
	        count_lines(bound[1], rlen, "Action: ") == n->nrcpt &&
	        count_lines(bound[1], rlen, "Status: ") == n->nrcpt &&
	        count_lines(bound[1], rlen, "Diagnostic-Code: ") <= n->nrcpt &&
	        count_lines(bound[1], rlen, "Remote-MTA: ") <= n->nrcpt &&
	        count_lines(bound[1], rlen, "Original-Recipient: ") <=
	            n->nrcpt &&
	        count_lines(bound[1], rlen, "Reporting-MTA: ") == 1,
	    "recipient blocks do not match the %zu recipients", n->nrcpt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_notice n;
	struct dsn_rcpt *r;
	struct dsn_out out;
	struct ipc_msg m;
	uint32_t i, count;
	const char *why;

	memset(&n, 0, sizeof(n));
	ipc_msg_init(&m, M_BOUNCE_REQ, data, size);
	(void)ipc_get_u64(&m); /* request */
	(void)ipc_get_u64(&m); /* qid */
	n.kind = (int)ipc_get_u32(&m);
	n.sender = ipc_get_str(&m);
	n.arrival = ipc_get_double(&m);
	n.headers = ipc_get_str(&m);
	n.headers_len = strlen(n.headers);
	n.envid = ipc_get_str(&m);
	count = ipc_get_u32(&m);
	if (m.error || count > (m.len - m.pos) / RCPT_MIN)
		return 0;
	if ((r = calloc(count > 0 ? count : 1, sizeof(*r))) == NULL)
		abort();
	for (i = 0; i < count; i++) {
		r[i].addr = ipc_get_str(&m);
		r[i].orcpt = ipc_get_str(&m);
		r[i].status = ipc_get_str(&m);
		r[i].action = ipc_get_str(&m);
		r[i].remote_mta = ipc_get_str(&m);
		r[i].diagnostic = ipc_get_str(&m);
	}
	n.rcpt = r;
	n.nrcpt = count;
	if (!ipc_msg_done(&m) || (why = dsn_check(&n)) != NULL) {
		free(r);
		return 0;
	}
	n.myhostname = "mx.example.org";
	n.orig_qid = "0006A1F0C2B7D123";
	n.new_qid = "0006A1F0C2B7D200";
	n.now = 1764373839;
	n.lifetime = 5 * 86400;
	dsn_compose(&n, &out);
	check_notice(&n, &out);
	free(out.text);
	free(r);
	return 0;
}
