/*
 * dsn_test.c - the bounce daemon's notices, parsed back: the header,
 * the boundary, three MIME parts, every RFC 3464 field per recipient
 * (Remote-MTA only when known), folding under 998 octets, 7-bit parts,
 * the delay variant, and CR/LF in texts that must not make new lines.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemons/bounce/bounce.h"
#include "dsnparam.h"
#include "proto.h"
#include "tap.h"

#define NOW 1764373839 /* 2025-11-28 23:50:39 UTC */
#define ARRIVAL (NOW - 5 * 3600)
#define LIFETIME (5 * 86400)
#define MAXPARTS 8

static const char orig_headers[] =
    "Received: by client.example.com (ncmta, from userid 1000)\n"
    "\tid 0006A1F0C2B7D123; Fri, 28 Nov 2025 18:50:39 +0000\n"
    "From: Alice <alice@example.com>\n"
    "To: bob@example.org, carol@nx.example, dave@slow.example\n"
    "Subject: quarterly figures\n"
    "Message-ID: <x1@client.example.com>\n";

/* A notice parsed back: the top header, and each part's header and
 * body (pointers into text, with lengths). */
struct parsed {
	char *text;
	size_t len;
	const char *head;
	size_t headlen;
	int nparts;
	int closed; /* the closing delimiter was found */
	struct {
		const char *head, *body;
		size_t headlen, bodylen;
	} part[MAXPARTS];
};

/* -- a small RFC 5322 / MIME reader ------------------------------------- */

/* The n-th (0-based) field called name in a header block, unfolded
 * (line ends removed), malloc'd; NULL if there is none. */
static char *
field_nth(const char *h, size_t len, const char *name, int nth)
{
	size_t nl = strlen(name), pos = 0, end, o;
	char *v;

	while (pos < len) {
		end = pos;
		while (end < len && h[end] != '\n')
			end++;
		if (end - pos > nl && strncasecmp(h + pos, name, nl) == 0 &&
		    h[pos + nl] == ':' && nth-- == 0) {
			v = malloc(len + 1);
			o = 0;
			pos += nl + 1;
			while (pos < len && h[pos] == ' ')
				pos++;
			for (; pos < len; pos++) {
				if (h[pos] == '\n' &&
				    (pos + 1 >= len ||
				        (h[pos + 1] != ' ' &&
				            h[pos + 1] != '\t')))
					break;
				if (h[pos] != '\n')
					v[o++] = h[pos];
			}
			v[o] = '\0';
			return v;
		}
		pos = end + 1;
	}
	return NULL;
}

static char *
field(const char *h, size_t len, const char *name)
{
	return field_nth(h, len, name, 0);
}

static int
field_count(const char *h, size_t len, const char *name)
{
	int n = 0;
	char *v;

	while ((v = field_nth(h, len, name, n)) != NULL) {
		free(v);
		n++;
	}
	return n;
}

/* Length of the header block at s (up to the empty line), and where the
 * body starts. */
static size_t
header_len(const char *s, size_t len, const char **body)
{
	const char *e = memmem(s, len, "\n\n", 2);

	if (e == NULL) {
		*body = s + len;
		return len;
	}
	*body = e + 2;
	return (size_t)(e - s) + 1;
}

/* The boundary parameter of a Content-Type value (malloc'd). */
static char *
boundary_of(const char *ctype)
{
	const char *b = strstr(ctype, "boundary=\"");
	const char *e;

	if (b == NULL)
		return NULL;
	b += strlen("boundary=\"");
	if ((e = strchr(b, '"')) == NULL)
		return NULL;
	return strndup(b, (size_t)(e - b));
}

/* Split the body at the delimiter lines "--B" and "--B--". */
static void
split_parts(struct parsed *p, const char *body, const char *boundary)
{
	const char *end = p->text + p->len, *line = body, *nl, *start = NULL;
	size_t blen = strlen(boundary);
	const char *after;

	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (nl - line < (long)blen + 2 || strncmp(line, "--", 2) != 0 ||
		    strncmp(line + 2, boundary, blen) != 0)
			continue;
		after = line + 2 + blen;
		if (start != NULL && p->nparts < MAXPARTS) {
			/* the line end before the delimiter belongs to it */
			size_t n = (size_t)(line - start);

			n = n > 0 ? n - 1 : 0;
			p->part[p->nparts].headlen =
			    header_len(start, n, &p->part[p->nparts].body);
			p->part[p->nparts].head = start;
			p->part[p->nparts].bodylen =
			    (size_t)(start + n - p->part[p->nparts].body);
			p->nparts++;
		}
		if (after == nl) {
			start = nl + 1;
		} else if (nl - after == 2 && strncmp(after, "--", 2) == 0) {
			p->closed = 1;
			return;
		}
	}
}

static void
parse(struct parsed *p, const struct dsn_out *o)
{
	const char *body;
	char *ctype, *b;

	memset(p, 0, sizeof(*p));
	p->text = o->text;
	p->len = o->len;
	p->head = o->text;
	p->headlen = header_len(o->text, o->len, &body);
	ctype = field(p->head, p->headlen, "Content-Type");
	b = ctype ? boundary_of(ctype) : NULL;
	if (b != NULL)
		split_parts(p, body, b);
	free(b);
	free(ctype);
}

/* Blocks of the delivery-status part, separated by empty lines. */
static int
report_blocks(
    const char *s, size_t len, const char **blk, size_t *blen, int max)
{
	int n = 0;
	const char *end = s + len, *e;

	while (s < end && n < max) {
		while (s < end && *s == '\n')
			s++;
		if (s >= end)
			break;
		e = memmem(s, (size_t)(end - s), "\n\n", 2);
		blk[n] = s;
		blen[n] = e ? (size_t)(e - s) + 1 : (size_t)(end - s);
		n++;
		s = e ? e + 2 : end;
	}
	return n;
}

static int
longest_line(const char *s, size_t len)
{
	size_t i, col = 0, max = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > max)
			max = col;
	}
	return (int)max;
}

static int
seven_bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] > 127)
			return 0;
	return 1;
}

/* Whether some line of s starts with prefix. */
static int
line_starts(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix), i;

	for (i = 0; i < len; i++)
		if ((i == 0 || s[i - 1] == '\n') && len - i >= pl &&
		    strncasecmp(s + i, prefix, pl) == 0)
			return 1;
	return 0;
}

static int
has(const char *s, size_t len, const char *needle)
{
	return memmem(s, len, needle, strlen(needle)) != NULL;
}

/* -- the notices ---------------------------------------------------------- */

static struct dsn_notice
notice(int kind, const struct dsn_rcpt *r, size_t n)
{
	struct dsn_notice d = {
	    .kind = kind,
	    .myhostname = "mx.example.com",
	    .orig_qid = "0006A1F0C2B7D123",
	    .new_qid = "0006A1F0C2B7E456",
	    .sender = "alice@example.com",
	    .arrival = ARRIVAL + 0.25,
	    .now = NOW,
	    .lifetime = LIFETIME,
	    .headers = orig_headers,
	    .headers_len = strlen(orig_headers),
	    .rcpt = r,
	    .nrcpt = n,
	};
	return d;
}

static void
is_field(const char *blk, size_t len, const char *name, const char *want,
    const char *what)
{
	char *v = field(blk, len, name);

	is_str(v, want, "%s: %s", what, name);
	free(v);
}

static void
test_failure(void)
{
	static char longdiag[3000];
	struct dsn_rcpt r[3] = {
	    {"bob@example.org", "5.1.1", "failed",
	        "mx.example.org[192.0.2.1]:25",
	        "host mx.example.org[192.0.2.1] said: 550 5.1.1 "
	        "<bob@example.org>: no such user (in reply to RCPT TO "
	        "command)",
	        "rfc822;Bob+lists=x@example.org"},
	    {"carol@nx.example", "5.4.4", "failed", "",
	        "Host or domain name not found. Name service error for "
	        "name=nx.example type=MX: Host not found",
	        ""},
	    {"dave@slow.example", "4.4.7", "failed", "relay.example", longdiag,
	        NULL},
	};
	struct dsn_notice n;
	struct dsn_out o;
	struct parsed p;
	const char *blk[8];
	size_t blen[8], i;
	char *v, *bnd, want[64];
	int nb;

	/* a long diagnostic of many words: folded, and unfolds intact */
	strcpy(longdiag, "conversation with relay.example timed out");
	for (i = 0; strlen(longdiag) < 2500; i++)
		strcat(longdiag, " while sending the message body");
	n = notice(BOUNCE_K_FAILURE, r, 3);
	ok(dsn_check(&n) == NULL, "a valid failure request passes the check");
	dsn_compose(&n, &o);
	parse(&p, &o);

	is_field(p.head, p.headlen, "From",
	    "MAILER-DAEMON@mx.example.com (Mail Delivery System)", "header");
	is_field(p.head, p.headlen, "To", "<alice@example.com>", "header");
	is_field(p.head, p.headlen, "Subject",
	    "Undelivered Mail Returned to Sender", "header");
	is_field(p.head, p.headlen, "Message-ID",
	    "<20251128235039.0006A1F0C2B7E456@mx.example.com>", "header");
	is_field(p.head, p.headlen, "Auto-Submitted", "auto-replied", "header");
	is_field(p.head, p.headlen, "MIME-Version", "1.0", "header");
	dsn_date(NOW, want, sizeof(want));
	is_field(p.head, p.headlen, "Date", want, "header");
	v = field(p.head, p.headlen, "Content-Type");
	ok(v != NULL && strncmp(v, "multipart/report;", 17) == 0 &&
	        strstr(v, "report-type=delivery-status") != NULL,
	    "multipart/report; report-type=delivery-status");
	free(v);
	v = field(p.head, p.headlen, "Content-Type");
	bnd = v != NULL ? boundary_of(v) : NULL;
	is_str(bnd, o.boundary, "the boundary parameter is out.boundary");
	free(bnd);
	free(v);

	is_int(p.nparts, 3, "three parts");
	ok(p.closed, "closing delimiter present");
	for (i = 0; i < (size_t)p.nparts; i++)
		ok(!has(p.part[i].head,
		       p.part[i].headlen + p.part[i].bodylen + 1, o.boundary),
		    "part %zu does not contain the boundary", i + 1);
	is_field(p.part[0].head, p.part[0].headlen, "Content-Type",
	    "text/plain; charset=us-ascii", "part 1");
	is_field(p.part[1].head, p.part[1].headlen, "Content-Type",
	    "message/delivery-status", "part 2");
	is_field(p.part[2].head, p.part[2].headlen, "Content-Type",
	    "text/rfc822-headers", "part 3");

	/* part 1: for people */
	ok(has(p.part[0].body, p.part[0].bodylen,
	       "This is the mail system at host mx.example.com."),
	    "part 1 names the host");
	ok(has(p.part[0].body, p.part[0].bodylen,
	       "could not\nbe delivered to one or more recipients"),
	    "part 1 explains, in Postfix's words");
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "\n<%s>: ", r[i].addr);
		ok(has(p.part[0].body, p.part[0].bodylen, want),
		    "part 1 lists %s with its reason", r[i].addr);
	}
	ok(has(p.part[0].body, p.part[0].bodylen,
	       "<bob@example.org>: host mx.example.org[192.0.2.1] said: 550"),
	    "part 1 quotes the remote reply");

	/* part 2: for programs */
	nb = report_blocks(p.part[1].body, p.part[1].bodylen, blk, blen, 8);
	is_int(nb, 4, "part 2: per-message block and three recipients");
	is_field(blk[0], blen[0], "Reporting-MTA", "dns; mx.example.com",
	    "per message");
	is_field(blk[0], blen[0], "X-Ncmta-Queue-ID", "0006A1F0C2B7D123",
	    "per message");
	is_field(blk[0], blen[0], "X-Ncmta-Sender", "rfc822; alice@example.com",
	    "per message");
	dsn_date(ARRIVAL, want, sizeof(want));
	is_field(blk[0], blen[0], "Arrival-Date", want, "per message");
	for (i = 0; i < 3 && (int)i + 1 < nb; i++) {
		const char *b = blk[i + 1];
		size_t l = blen[i + 1];

		snprintf(want, sizeof(want), "rfc822; %s", r[i].addr);
		is_field(b, l, "Final-Recipient", want, r[i].addr);
		ok(field_count(b, l, "Original-Recipient") == (i == 0),
		    "%s: Original-Recipient only with an ORCPT", r[i].addr);
		is_field(b, l, "Action", "failed", r[i].addr);
		is_field(b, l, "Status", r[i].status, r[i].addr);
		ok(field_count(b, l, "Diagnostic-Code") == 1,
		    "%s: one Diagnostic-Code", r[i].addr);
		ok(field_count(b, l, "Will-Retry-Until") == 0,
		    "%s: no Will-Retry-Until in a failure", r[i].addr);
	}
	is_field(blk[1], blen[1], "Remote-MTA", "dns; mx.example.org",
	    "bob (address and port left out)");
	/* RFC 3464 2.3.1: the ORCPT as given (xtext decoded), first */
	is_field(blk[1], blen[1], "Original-Recipient",
	    "rfc822;Bob+lists=x@example.org", "bob: his ORCPT");
	ok(has(blk[1], blen[1],
	       "Original-Recipient: rfc822;Bob+lists=x@example.org\n"
	       "Final-Recipient: "),
	    "bob: Original-Recipient right before Final-Recipient");
	is_int(field_count(blk[2], blen[2], "Remote-MTA"), 0,
	    "carol: no Remote-MTA when no server was involved");
	is_field(blk[3], blen[3], "Remote-MTA", "dns; relay.example", "dave");
	is_field(blk[1], blen[1], "Diagnostic-Code",
	    "smtp; 550 5.1.1 <bob@example.org>: no such user",
	    "bob: the SMTP reply without qmgr's note");
	is_field(blk[2], blen[2], "Diagnostic-Code",
	    "X-Ncmta; Host or domain name not found. Name service error "
	    "for name=nx.example type=MX: Host not found",
	    "carol: not an SMTP reply");
	v = field(blk[3], blen[3], "Diagnostic-Code");
	ok(v != NULL && strncmp(v, "X-Ncmta; ", 9) == 0 &&
	        strcmp(v + 9, longdiag) == 0,
	    "dave: a long diagnostic unfolds to the original text");
	free(v);
	ok(has(blk[3], blen[3], "\n "), "dave: the diagnostic is folded");

	/* part 3 and the whole */
	ok(p.part[2].bodylen >= strlen(orig_headers) &&
	        memcmp(p.part[2].body, orig_headers, strlen(orig_headers)) == 0,
	    "part 3 is the original header block");
	ok(longest_line(o.text, o.len) <= 78,
	    "every line within 78 octets (longest %d)",
	    longest_line(o.text, o.len));
	ok(seven_bit(o.text, o.len) && !o.eightbit, "all 7-bit, not 8bit");
	ok(strchr(o.text, '\r') == NULL, "LF line ends");
	free(o.text);
}

static void
test_delay(void)
{
	struct dsn_rcpt r[1] = {{"dave@slow.example", "4.4.1", "delayed",
	    "mx.slow.example[192.0.2.9]",
	    "connect to mx.slow.example[192.0.2.9]:25: Connection refused",
	    NULL}};
	struct dsn_notice n = notice(BOUNCE_K_DELAY, r, 1);
	struct dsn_out o;
	struct parsed p;
	const char *blk[4];
	size_t blen[4];
	char until[64];
	int nb;

	ok(dsn_check(&n) == NULL, "a valid delay request passes the check");
	dsn_compose(&n, &o);
	parse(&p, &o);
	is_field(p.head, p.headlen, "Subject",
	    "Delayed Mail (still being retried)", "delay header");
	is_int(p.nparts, 3, "delay: three parts");
	dsn_date(ARRIVAL + LIFETIME, until, sizeof(until));
	ok(has(p.part[0].body, p.part[0].bodylen, "THIS IS A WARNING ONLY"),
	    "delay: a warning only");
	ok(has(p.part[0].body, p.part[0].bodylen, "still being retried"),
	    "delay: still being retried");
	ok(has(p.part[0].body, p.part[0].bodylen, "for 5 hour(s)"),
	    "delay: how long it has waited");
	ok(has(p.part[0].body, p.part[0].bodylen, until) &&
	        has(p.part[0].body, p.part[0].bodylen, "5 day(s) old"),
	    "delay: when it gives up");
	nb = report_blocks(p.part[1].body, p.part[1].bodylen, blk, blen, 4);
	is_int(nb, 2, "delay: per-message block and one recipient");
	is_field(blk[1], blen[1], "Action", "delayed", "delay");
	is_field(blk[1], blen[1], "Status", "4.4.1", "delay");
	is_field(blk[1], blen[1], "Will-Retry-Until", until, "delay");
	is_field(
	    blk[1], blen[1], "Remote-MTA", "dns; mx.slow.example", "delay");
	is_field(blk[1], blen[1], "Diagnostic-Code",
	    "X-Ncmta; connect to mx.slow.example[192.0.2.9]:25: Connection "
	    "refused",
	    "delay");
	is_field(p.part[2].head, p.part[2].headlen, "Content-Description",
	    "Delayed Message Headers", "delay part 3");
	free(o.text);
}

/* The sender's ENVID (-V) comes back as Original-Envelope-Id, first of
 * the per-message fields (RFC 3464 section 2.2); none without one. */
static void
test_envid(void)
{
	struct dsn_rcpt r[1] = {
	    {"bob@example.org", "5.1.1", "failed", "", "no such user", NULL}};
	struct dsn_notice n = notice(BOUNCE_K_FAILURE, r, 1);
	struct dsn_out o;
	struct parsed p;
	const char *blk[4];
	size_t blen[4];

	dsn_compose(&n, &o);
	parse(&p, &o);
	report_blocks(p.part[1].body, p.part[1].bodylen, blk, blen, 4);
	ok(field_count(blk[0], blen[0], "Original-Envelope-Id") == 0,
	    "no ENVID, no Original-Envelope-Id");
	free(o.text);
	n.envid = "QQ314159";
	dsn_compose(&n, &o);
	parse(&p, &o);
	report_blocks(p.part[1].body, p.part[1].bodylen, blk, blen, 4);
	is_field(
	    blk[0], blen[0], "Original-Envelope-Id", "QQ314159", "per message");
	ok(strncmp(blk[0], "Original-Envelope-Id:", 21) == 0,
	    "Original-Envelope-Id comes first");
	free(o.text);
}

/* CR/LF from a remote reply or an address must not start a line. */
static void
test_injection(void)
{
	struct dsn_rcpt r[1] = {{"evil@example.com\r\nBcc: victim@example.net",
	    "5.7.1", "failed", "mx.example.org\r\nX-Injected: 1",
	    "host mx said: 550 no\r\nBcc: victim@example.net\r\n\r\n"
	    "--fake-boundary\r\nContent-Type: text/html\n\nhi",
	    NULL}};
	struct dsn_notice n = notice(BOUNCE_K_FAILURE, r, 1);
	struct dsn_out o;
	struct parsed p;

	n.sender = "alice@example.com\nBcc: victim2@example.net";
	ok(dsn_check(&n) != NULL, "the check refuses CR/LF in the sender");
	n.sender = "alice@example.com";
	ok(dsn_check(&n) != NULL, "the check refuses CR/LF in a recipient");
	n.sender = "alice@example.com\nBcc: victim2@example.net";
	dsn_compose(&n, &o);
	parse(&p, &o);
	ok(!line_starts(o.text, o.len, "Bcc:"), "no Bcc: line anywhere");
	ok(!line_starts(o.text, o.len, "X-Injected:"), "no injected field");
	ok(!line_starts(o.text, o.len, "--fake-boundary"),
	    "no injected delimiter");
	ok(!line_starts(o.text, o.len, "Content-Type: text/html"),
	    "no injected part header");
	is_int(field_count(p.head, p.headlen, "To"), 1, "one To:");
	is_int(p.nparts, 3, "still three parts");
	ok(strchr(o.text, '\r') == NULL, "no CR");
	free(o.text);
}

/* 8-bit original headers are kept (and labelled); 8-bit diagnostics
 * become '?'; over-long lines are broken; the header block ends at its
 * empty line. */
static void
test_8bit_and_long_lines(void)
{
	static char hdrs[4096], word[1600];
	struct dsn_rcpt r[1] = {
	    {"bob@example.org", "5.1.1", "failed", "", NULL, NULL}};
	struct dsn_notice n = notice(BOUNCE_K_FAILURE, r, 1);
	struct dsn_out o;
	struct parsed p;
	char diag[2000], *v;

	memset(word, 'x', sizeof(word) - 1);
	snprintf(diag, sizeof(diag), "550 caf\xc3\xa9 %s", word);
	r[0].diagnostic = diag;
	snprintf(hdrs, sizeof(hdrs),
	    "Subject: caf\xc3\xa9\r\nX-Long: %s\r\n\r\nbody text\r\n", word);
	n.headers = hdrs;
	n.headers_len = strlen(hdrs);
	dsn_compose(&n, &o);
	parse(&p, &o);
	ok(o.eightbit, "8-bit original headers: eightbit");
	is_field(p.head, p.headlen, "Content-Transfer-Encoding", "8bit",
	    "8-bit notice");
	is_field(p.part[2].head, p.part[2].headlen, "Content-Transfer-Encoding",
	    "8bit", "part 3");
	ok(p.nparts == 3 && seven_bit(p.part[0].body, p.part[0].bodylen) &&
	        seven_bit(p.part[1].body, p.part[1].bodylen),
	    "parts 1 and 2 stay 7-bit");
	ok(has(p.part[1].body, p.part[1].bodylen, "caf??"),
	    "8-bit octets of a diagnostic become '?'");
	ok(longest_line(o.text, o.len) <= 998,
	    "no line over 998 octets (longest %d)",
	    longest_line(o.text, o.len));
	v = field(p.part[2].body, p.part[2].bodylen, "X-Long");
	ok(v != NULL && strlen(v) == strlen(word) + 1 &&
	        strspn(v, "x ") == strlen(v),
	    "a long original header is folded, not cut");
	free(v);
	ok(!has(p.part[2].body, p.part[2].bodylen, "body text"),
	    "part 3 stops at the end of the header");
	ok(strchr(o.text, '\r') == NULL, "CRLF became LF");
	free(o.text);
}

/* A part that happens to contain the first boundary choice gets another
 * one. */
static void
test_boundary_clash(void)
{
	struct dsn_rcpt r[1] = {{"bob@example.org", "5.1.1", "failed", "",
	    "550 0006A1F0C2B7E456.1764373839.0/mx.example.com", NULL}};
	struct dsn_notice n = notice(BOUNCE_K_FAILURE, r, 1);
	struct dsn_out o;
	struct parsed p;

	dsn_compose(&n, &o);
	parse(&p, &o);
	ok(strcmp(o.boundary, "0006A1F0C2B7E456.1764373839.0/mx.example.com") !=
	        0,
	    "boundary changed: %s", o.boundary);
	ok(strlen(o.boundary) <= DSN_BOUNDARY_MAX, "boundary within 70");
	ok(p.nparts == 3 && p.closed, "three parts with a clashing text");
	free(o.text);
}

static void
test_check(void)
{
	struct dsn_rcpt good = {
	    "bob@example.org", "5.1.1", "failed", "", "550 no", NULL};
	struct dsn_rcpt r;
	struct dsn_notice n = notice(BOUNCE_K_FAILURE, &r, 1);

	r = good;
	ok(dsn_check(&n) == NULL, "check: good");
	n.kind = 3;
	ok(dsn_check(&n) != NULL, "check: unknown kind");
	n.kind = BOUNCE_K_FAILURE;
	n.sender = "";
	ok(dsn_check(&n) != NULL, "check: null sender gets no notice");
	n.sender = "alice@example.com";
	n.arrival = NAN;
	ok(dsn_check(&n) != NULL, "check: arrival not a number");
	/* no date can be written for it (and time_t cannot hold it) */
	n.arrival = 1e300;
	ok(dsn_check(&n) != NULL, "check: arrival beyond any date");
	n.arrival = 253402300800.0; /* 10000-01-01 */
	ok(dsn_check(&n) != NULL, "check: arrival after the year 9999");
	n.arrival = ARRIVAL;
	n.nrcpt = 0;
	ok(dsn_check(&n) != NULL, "check: no recipients");
	n.nrcpt = 1;
	r.addr = "";
	ok(dsn_check(&n) != NULL, "check: empty recipient");
	r = good;
	r.orcpt = "rfc822;bob@example.org";
	ok(dsn_check(&n) == NULL, "check: an ORCPT");
	r.orcpt = "";
	ok(dsn_check(&n) == NULL, "check: an empty ORCPT is none");
	r.orcpt = "rfc822;bob@example.org\r\nBcc: x@y";
	ok(dsn_check(&n) != NULL, "check: a line break in an ORCPT");
	r.orcpt = "bob@example.org";
	ok(dsn_check(&n) != NULL, "check: an ORCPT without its type");
	r = good;
	r.status = "2.0.0";
	ok(dsn_check(&n) != NULL, "check: success status");
	r.status = "5.1";
	ok(dsn_check(&n) != NULL, "check: short status");
	r.status = "4.4.7";
	ok(dsn_check(&n) == NULL, "check: expiry fails with 4.4.7");
	r.action = "delayed";
	ok(dsn_check(&n) != NULL, "check: delayed in a failure notice");
	n.kind = BOUNCE_K_DELAY;
	ok(dsn_check(&n) == NULL, "check: delayed in a delay notice");
	r.status = "5.1.1";
	ok(dsn_check(&n) != NULL, "check: delay with a 5.x.x status");
}

static void
test_status_syntax(void)
{
	ok(dsn_status_valid("5.1.1"), "5.1.1");
	ok(dsn_status_valid("4.4.7"), "4.4.7");
	ok(dsn_status_valid("5.123.999"), "5.123.999");
	ok(!dsn_status_valid("5.1234.1"), "subject of 4 digits");
	ok(!dsn_status_valid("3.1.1"), "class 3");
	ok(!dsn_status_valid("5.1.1 "), "trailing space");
	ok(!dsn_status_valid("5..1"), "empty subject");
	ok(!dsn_status_valid(""), "empty");
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	test_failure();
	test_delay();
	test_envid();
	test_injection();
	test_8bit_and_long_lines();
	test_boundary_clash();
	test_check();
	test_status_syntax();
	return done_testing();
}
