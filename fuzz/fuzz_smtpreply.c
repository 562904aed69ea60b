/*
 * fuzz_smtpreply.c - SMTP replies (common/smtpreply.c) as a server sends
 * them: the input is split into lines at LF (a CR before it dropped) and
 * cut at the smtp worker's line limit, as daemons/smtp/session.c does,
 * and each line goes to smtp_reply_line(). A complete reply must have a
 * valid code, a bounded printable text and a status of its class.
 */
#include <ctype.h>

#include "fuzz.h"
#include "smtpreply.h"

#define LINE_MAX_SESSION 2048 /* SMTP_LINE_MAX in daemons/smtp/smtp.h */

static int
dsn_ok(const char *dsn, int code)
{
	const char *p = dsn;
	int k;
	size_t n;

	if (p[0] != '0' + code / 100 || p[1] != '.')
		return 0;
	p += 2;
	for (k = 0; k < 2; k++) {
		for (n = 0; isdigit((unsigned char)p[n]); n++)
			;
		if (n < 1 || n > 3)
			return 0;
		p += n;
		if (k == 0 && *p++ != '.')
			return 0;
	}
	return *p == '\0';
}

static void
check_reply(const struct smtp_reply *r)
{
	const char *d;
	size_t i;

	FUZZ_CHECK(r->code >= 200 && r->code <= 559 && r->code % 100 <= 59,
	    "code %d", r->code);
	FUZZ_CHECK(r->nlines >= 1 && r->nlines <= SMTP_REPLY_MAXLINES,
	    "%d lines", r->nlines);
	FUZZ_CHECK(r->textlen < SMTP_REPLY_MAX && strlen(r->text) == r->textlen,
	    "text length %zu", r->textlen);
	for (i = 0; i < r->textlen; i++)
		FUZZ_CHECK(r->text[i] >= 0x20 && r->text[i] < 0x7f,
		    "octet 0x%02x in the text", (unsigned char)r->text[i]);
	FUZZ_CHECK(r->textlen >= 3 && r->text[0] == '0' + r->code / 100 &&
	        r->text[1] == '0' + r->code / 10 % 10 &&
	        r->text[2] == '0' + r->code % 10,
	    "text does not start with the code: %s", r->text);
	FUZZ_CHECK(r->dsn[0] == '\0' ||
	        (r->code / 100 != 3 && dsn_ok(r->dsn, r->code)),
	    "enhanced status \"%s\" for code %d", r->dsn, r->code);
	/* what a failure outcome is given: a status of RFC 3463's classes,
	 * 4.x.x for the 3xx replies every caller takes as temporary */
	d = smtp_reply_dsn(r);
	FUZZ_CHECK(dsn_ok(d, r->code / 100 == 3 ? 400 : r->code),
	    "status \"%s\" for code %d", d, r->code);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct smtp_reply r;
	size_t len;
	int rc;

	smtp_reply_init(&r);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		/* without its end a line waits, unless it is already too
		 * long: then it is cut (and the rest discarded) */
		if (nl == NULL && end - p <= LINE_MAX_SESSION)
			break;
		len = nl != NULL ? (size_t)(nl - p) : LINE_MAX_SESSION;
		if (nl != NULL && len > 0 && p[len - 1] == '\r')
			len--;
		if (len > LINE_MAX_SESSION)
			len = LINE_MAX_SESSION;
		rc = smtp_reply_line(&r, p, len);
		FUZZ_CHECK(rc == 0 || rc == -1, "result %d", rc);
		if (rc == -1) {
			/* the session is dropped; the next one starts afresh */
			smtp_reply_init(&r);
		} else if (r.complete) {
			check_reply(&r);
			FUZZ_CHECK(smtp_reply_line(&r, "250 x", 5) == -1,
			    "a line after the last one was taken");
			smtp_reply_init(&r);
		} else
			FUZZ_CHECK(r.nlines > 0 && r.code != 0,
			    "incomplete reply without a line");
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}
