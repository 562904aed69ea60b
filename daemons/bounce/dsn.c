/*
 * dsn.c - the text of a delivery status notification: RFC 3464's
 * message/delivery-status inside an RFC 6522 multipart/report, with a
 * human-readable part in Postfix's words and the original headers. Pure
 * functions of their input (the clock comes in the notice), unit-tested
 * in dsn_test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "dsnparam.h"
#include "log.h"
#include "proto.h"
#include "util.h"

/* Where a word too long for any line is broken, below DSN_LINE_MAX. */
#define DSN_HARD_WIDTH (DSN_LINE_MAX - 8)
#define DSN_HOST_MAX 255
#define DSN_BOUNDARY_HOST 30 /* host name octets in a boundary */
/* 9999-12-31 23:59:59 UTC: a later arrival has no date to write, and
 * much later ones do not fit a time_t */
#define DSN_ARRIVAL_MAX 253402300799.0

static const char dsn_failure_text[] =
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. Its headers are attached\n"
    "below.\n\n";

static const char dsn_delay_banner[] =
    "#################################################################"
    "###\n"
    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. "
    "#\n"
    "#################################################################"
    "###\n\n";

static const char dsn_contact_text[] =
    "For further assistance, please send mail to postmaster.\n\n"
    "If you do so, please include this problem report.\n\n"
    "                   The mail system\n\n";

/* -- small helpers --------------------------------------------------------- */

static FILE *
dsn_stream(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (f == NULL)
		fatal("open_memstream");
	return f;
}

static void
dsn_stream_close(FILE *f)
{
	if (fclose(f) != 0)
		fatal("composing a notice");
}

/* A copy of s fit for a 7-bit line: control characters (CR and LF among
 * them, so nothing can start a line of its own) become spaces, octets
 * above 127 '?'. At most max octets are kept. */
static char *
dsn_clean(const char *s, size_t max)
{
	char *c = xstrndup(s, max), *p;

	for (p = c; *p != '\0'; p++) {
		unsigned char u = (unsigned char)*p;

		if (u < 32 || u == 127)
			*p = ' ';
		else if (u > 127)
			*p = '?';
	}
	return c;
}

size_t
dsn_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* "5 day(s)", "4 hour(s)": the largest unit that fits, rounded down. */
static void
dsn_span(int64_t secs, char *out, size_t len)
{
	static const struct {
		int64_t secs;
		const char *name;
	} unit[] = {
	    {86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
	size_t i = 0;

	if (secs < 0)
		secs = 0;
	while (i < 3 && secs < unit[i].secs)
		i++;
	snprintf(out, len, "%lld %s(s)", (long long)(secs / unit[i].secs),
	    unit[i].name);
}

/*
 * Write text, cleaned, from column col on, wrapped at spaces before
 * DSN_FOLD_WIDTH; a continuation line starts with indent, whose white
 * space stands for the space it replaced (so a folded field unfolds to
 * the original words). A word longer than a line is broken. Runs of
 * spaces become one. Ends the line.
 */
static void
dsn_wrap(FILE *f, size_t col, const char *text, const char *indent)
{
	char *clean = dsn_clean(text, strlen(text));
	const char *w = clean;
	size_t ilen = strlen(indent), wlen, room;
	int first = 1;

	for (;; first = 0) {
		w += strspn(w, " ");
		if (*w == '\0')
			break;
		wlen = strcspn(w, " ");
		if (!first && col + 1 + wlen > DSN_FOLD_WIDTH) {
			fprintf(f, "\n%s", indent);
			col = ilen;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		while (col + wlen > DSN_HARD_WIDTH) {
			room = DSN_HARD_WIDTH - col;
			fwrite(w, 1, room, f);
			fprintf(f, "\n%s", indent);
			col = ilen;
			w += room;
			wlen -= room;
		}
		fwrite(w, 1, wlen, f);
		col += wlen;
		w += wlen;
	}
	fputc('\n', f);
	free(clean);
}

/* One header-style field, folded. */
static void
dsn_field(FILE *f, const char *name, const char *value)
{
	fprintf(f, "%s: ", name);
	dsn_wrap(f, strlen(name) + 2, value, " ");
}

static void
dsn_field2(FILE *f, const char *name, const char *type, const char *value)
{
	char *v;

	xasprintf(&v, "%s; %s", type, value);
	dsn_field(f, name, v);
	free(v);
}

/* -- checking a request ------------------------------------------------------ */

/* An address qmgr took from the queue: pickup let no control character
 * in, so one here means a broken request. */
static int
dsn_addr_valid(const char *a)
{
	size_t n = strlen(a), i;

	if (n == 0 || n > DSN_ADDR_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] < 32 || a[i] == 127)
			return 0;
	return 1;
}

const char *
dsn_check(const struct dsn_notice *n)
{
	const char *want;
	size_t i;

	if (n->kind != BOUNCE_K_FAILURE && n->kind != BOUNCE_K_DELAY)
		return "unknown notice kind";
	if (!dsn_addr_valid(n->sender))
		return "bad sender address";
	if (!isfinite(n->arrival) || n->arrival <= 0 ||
	    n->arrival > DSN_ARRIVAL_MAX)
		return "bad arrival time";
	if (n->nrcpt == 0)
		return "no recipients";
	want = n->kind == BOUNCE_K_DELAY ? "delayed" : "failed";
	for (i = 0; i < n->nrcpt; i++) {
		const struct dsn_rcpt *r = &n->rcpt[i];

		if (!dsn_addr_valid(r->addr))
			return "bad recipient address";
		if (r->orcpt != NULL && *r->orcpt != '\0' &&
		    !dsn_orcpt_valid(r->orcpt))
			return "bad ORCPT";
		if (!dsn_status_valid(r->status) || r->status[0] == '2')
			return "bad status code";
		if (strcmp(r->action, want) != 0)
			return "action does not match the notice kind";
		if (n->kind == BOUNCE_K_DELAY && r->status[0] != '4')
			return "a delayed recipient needs a 4.x.x status";
	}
	return NULL;
}

/* -- part 1: for people ------------------------------------------------------ */

static void
dsn_human_delay(FILE *f, const struct dsn_notice *n)
{
	char late[32], life[32], until[64];

	dsn_span(n->now - (int64_t)n->arrival, late, sizeof(late));
	dsn_span(n->lifetime, life, sizeof(life));
	dsn_date(
	    (time_t)n->arrival + (time_t)n->lifetime, until, sizeof(until));
	fputs(dsn_delay_banner, f);
	fprintf(f,
	    "Your message could not be delivered for %s and is\n"
	    "still being retried. It will be retried until\n"
	    "%s, when it is %s old.\n\n",
	    late, until, life);
}

static void
dsn_human(FILE *f, const struct dsn_notice *n, const char *host)
{
	char *line;
	size_t i;

	fprintf(f, "This is the mail system at host %s.\n\n", host);
	if (n->kind == BOUNCE_K_DELAY)
		dsn_human_delay(f, n);
	else
		fputs(dsn_failure_text, f);
	fputs(dsn_contact_text, f);
	for (i = 0; i < n->nrcpt; i++) {
		if (i > 0)
			fputc('\n', f);
		xasprintf(
		    &line, "<%s>: %s", n->rcpt[i].addr, n->rcpt[i].diagnostic);
		dsn_wrap(f, 0, line, "    ");
		free(line);
	}
}

/* -- part 2: for programs ---------------------------------------------------- */

/* Whether p starts with an SMTP reply code ("550 ...", "421-..."). */
static int
dsn_is_reply(const char *p)
{
	return p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' &&
	    (p[3] == ' ' || p[3] == '-' || p[3] == '\0');
}

/*
 * The Diagnostic-Code value: "smtp; 550 5.1.1 ..." when the diagnostic
 * quotes a server's reply ("host X said: 550 ...", qmgr's "(in reply to
 * ... command)" note left out), else "X-Ncmta; text". Malloc'd.
 */
static char *
dsn_diag_code(const char *diag)
{
	const char *p = strstr(diag, " said: "), *q, *note = NULL;
	size_t n;
	char *out;

	p = p != NULL ? p + strlen(" said: ") : diag;
	if (!dsn_is_reply(p)) {
		xasprintf(&out, "X-Ncmta; %s", diag);
		return out;
	}
	for (q = p; (q = strstr(q, " (in reply to ")) != NULL; q++)
		note = q;
	n = strlen(p);
	if (note != NULL && p[n - 1] == ')')
		n = (size_t)(note - p);
	xasprintf(&out, "smtp; %.*s", (int)n, p);
	return out;
}

/* The remote server's name, without an "[address]:port" after it. */
static char *
dsn_mta_name(const char *mta)
{
	const char *b = strchr(mta, '[');

	return xstrndup(
	    mta, b != NULL && b > mta ? (size_t)(b - mta) : strlen(mta));
}

static void
dsn_report_rcpt(FILE *f, const struct dsn_notice *n, const struct dsn_rcpt *r)
{
	char date[64], *s;

	fputc('\n', f);
	/* RFC 3464 section 2.3.1: the ORCPT as given, xtext decoded */
	if (r->orcpt != NULL && *r->orcpt != '\0')
		dsn_field(f, "Original-Recipient", r->orcpt);
	dsn_field2(f, "Final-Recipient", "rfc822", r->addr);
	dsn_field(f, "Action", r->action);
	dsn_field(f, "Status", r->status);
	if (*r->remote_mta != '\0') {
		s = dsn_mta_name(r->remote_mta);
		dsn_field2(f, "Remote-MTA", "dns", s);
		free(s);
	}
	if (*r->diagnostic != '\0') {
		s = dsn_diag_code(r->diagnostic);
		dsn_field(f, "Diagnostic-Code", s);
		free(s);
	}
	if (n->kind == BOUNCE_K_DELAY) {
		dsn_date((time_t)n->arrival + (time_t)n->lifetime, date,
		    sizeof(date));
		dsn_field(f, "Will-Retry-Until", date);
	}
}

static void
dsn_report(FILE *f, const struct dsn_notice *n, const char *host)
{
	char date[64];
	size_t i;

	dsn_date((time_t)n->arrival, date, sizeof(date));
	if (n->envid != NULL && *n->envid != '\0')
		dsn_field(f, "Original-Envelope-Id", n->envid);
	dsn_field2(f, "Reporting-MTA", "dns", host);
	dsn_field(f, "X-Ncmta-Queue-ID", n->orig_qid);
	dsn_field2(f, "X-Ncmta-Sender", "rfc822", n->sender);
	dsn_field(f, "Arrival-Date", date);
	for (i = 0; i < n->nrcpt; i++)
		dsn_report_rcpt(f, n, &n->rcpt[i]);
}

/* -- part 3: the original headers ------------------------------------------ */

/*
 * Copy the header block up to its end (the first empty line): CRs
 * dropped, a line too long folded so it stays a header line. 8-bit
 * octets stay (the part is then labelled 8bit).
 */
static void
dsn_orig_headers(FILE *f, const char *h, size_t len, int *eightbit)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '\r')
			continue;
		if (c == '\n') {
			if (col == 0)
				break;
			fputc('\n', f);
			col = 0;
			continue;
		}
		if (col >= DSN_HARD_WIDTH) {
			fputs("\n ", f);
			col = 1;
		}
		*eightbit |= c > 127;
		fputc(c, f);
		col++;
	}
	if (col > 0)
		fputc('\n', f);
}

/* -- the whole message ------------------------------------------------------- */

enum { DSN_PART_HUMAN, DSN_PART_REPORT, DSN_PART_HEADERS, DSN_NPARTS };

struct dsn_parts {
	char *text[DSN_NPARTS];
	size_t len[DSN_NPARTS];
};

/* A boundary no part contains: queue ID, time and host, and a counter
 * should a part happen to hold that text. */
static void
dsn_pick_boundary(const struct dsn_notice *n, const char *host,
    const struct dsn_parts *p, struct dsn_out *out)
{
	char safe[DSN_BOUNDARY_HOST + 1];
	size_t i, k, blen;
	int clash;

	for (i = 0; host[i] != '\0' && i < DSN_BOUNDARY_HOST; i++)
		safe[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
		                 "STUVWXYZ0123456789.-",
		              host[i]) != NULL
		    ? host[i]
		    : '_';
	safe[i] = '\0';
	for (k = 0;; k++) {
		snprintf(out->boundary, sizeof(out->boundary),
		    "%.20s.%lld.%zu/%s", n->new_qid, (long long)n->now, k,
		    safe);
		blen = strlen(out->boundary);
		for (clash = 0, i = 0; i < DSN_NPARTS && !clash; i++)
			clash = memmem(p->text[i], p->len[i], out->boundary,
			            blen) != NULL;
		if (!clash)
			return;
	}
}

static void
dsn_top_header(FILE *f, const struct dsn_notice *n, const char *host,
    const struct dsn_out *out)
{
	char date[64], stamp[32], *to;
	struct tm tm;

	dsn_date(n->now, date, sizeof(date));
	gmtime_r(&n->now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
	fprintf(f, "Date: %s\n", date);
	fprintf(f, "From: MAILER-DAEMON@%s (Mail Delivery System)\n", host);
	xasprintf(&to, "<%s>", n->sender);
	dsn_field(f, "To", to);
	free(to);
	fprintf(f, "Subject: %s\n",
	    n->kind == BOUNCE_K_DELAY ? "Delayed Mail (still being retried)"
	                              : "Undelivered Mail Returned to Sender");
	fprintf(f, "Message-ID: <%s.%s@%s>\n", stamp, n->new_qid, host);
	fprintf(f, "Auto-Submitted: auto-replied\n");
	fprintf(f, "MIME-Version: 1.0\n");
	fprintf(f,
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n",
	    out->boundary);
	fprintf(f, "Content-Transfer-Encoding: %s\n\n",
	    out->eightbit ? "8bit" : "7bit");
	fprintf(f, "This is a MIME-encapsulated message.\n");
}

static void
dsn_part(FILE *f, const struct dsn_out *out, const char *header,
    const char *text, size_t len)
{
	fprintf(f, "\n--%s\n%s\n", out->boundary, header);
	fwrite(text, 1, len, f);
}

void
dsn_compose(const struct dsn_notice *n, struct dsn_out *out)
{
	struct dsn_parts p;
	char *host = dsn_clean(n->myhostname, DSN_HOST_MAX), *hdr;
	FILE *f;
	int i;

	memset(out, 0, sizeof(*out));
	f = dsn_stream(&p.text[DSN_PART_HUMAN], &p.len[DSN_PART_HUMAN]);
	dsn_human(f, n, host);
	dsn_stream_close(f);
	f = dsn_stream(&p.text[DSN_PART_REPORT], &p.len[DSN_PART_REPORT]);
	dsn_report(f, n, host);
	dsn_stream_close(f);
	f = dsn_stream(&p.text[DSN_PART_HEADERS], &p.len[DSN_PART_HEADERS]);
	dsn_orig_headers(f, n->headers, n->headers_len, &out->eightbit);
	dsn_stream_close(f);
	dsn_pick_boundary(n, host, &p, out);

	f = dsn_stream(&out->text, &out->len);
	dsn_top_header(f, n, host, out);
	dsn_part(f, out,
	    "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n",
	    p.text[DSN_PART_HUMAN], p.len[DSN_PART_HUMAN]);
	dsn_part(f, out,
	    "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n",
	    p.text[DSN_PART_REPORT], p.len[DSN_PART_REPORT]);
	xasprintf(&hdr,
	    "Content-Description: %s Message Headers\n"
	    "Content-Type: text/rfc822-headers\n%s",
	    n->kind == BOUNCE_K_DELAY ? "Delayed" : "Undelivered",
	    out->eightbit ? "Content-Transfer-Encoding: 8bit\n" : "");
	dsn_part(
	    f, out, hdr, p.text[DSN_PART_HEADERS], p.len[DSN_PART_HEADERS]);
	fprintf(f, "\n--%s--\n", out->boundary);
	dsn_stream_close(f);
	free(hdr);
	free(host);
	for (i = 0; i < DSN_NPARTS; i++)
		free(p.text[i]);
}
