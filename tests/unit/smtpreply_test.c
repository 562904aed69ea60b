/*
 * smtpreply_test.c - SMTP reply parsing (common/smtpreply.c): single and
 * multi-line replies, enhanced status codes, malformed input, bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "smtpreply.h"

/* Feed NUL-separated lines; return the last smtp_reply_line() result. */
static int
feed(struct smtp_reply *r, const char *const *lines)
{
	int rc = 0;

	smtp_reply_init(r);
	for (; *lines != NULL && rc == 0; lines++)
		rc = smtp_reply_line(r, *lines, strlen(*lines));
	return rc;
}

static void
test_single(void)
{
	struct smtp_reply r;
	const char *l1[] = {"250 2.0.0 Ok: queued as 9F2C", NULL};
	const char *l2[] = {"220 mx.example.org ESMTP", NULL};
	const char *l3[] = {"354", NULL};

	is_int(feed(&r, l1), 0, "single line parses");
	is_int(r.code, 250, "code");
	is_str(r.dsn, "2.0.0", "enhanced code");
	is_str(r.text, "250 2.0.0 Ok: queued as 9F2C", "text kept whole");
	ok(r.complete && r.nlines == 1, "complete after one line");
	is_str(smtp_reply_dsn(&r), "2.0.0", "dsn from the reply");

	is_int(feed(&r, l2), 0, "greeting parses");
	is_str(r.dsn, "", "no enhanced code in a greeting");
	is_str(smtp_reply_dsn(&r), "2.0.0", "derived dsn for 2xx");

	is_int(feed(&r, l3), 0, "bare code is a complete reply");
	ok(r.complete && r.code == 354, "354 alone");
	is_str(r.text, "354", "text is just the code");
}

static void
test_multi(void)
{
	struct smtp_reply r;
	const char *ehlo[] = {"250-mx.example.org", "250-PIPELINING",
	    "250-SIZE 10240000", "250 8BITMIME", NULL};
	const char *gm[] = {"550-5.1.1 The account does not exist.",
	    "550-5.1.1 Please try", "550 5.1.1 again - gsmtp", NULL};

	is_int(feed(&r, ehlo), 0, "EHLO reply parses");
	ok(r.complete && r.nlines == 4, "four lines, complete");
	is_str(r.text, "250 mx.example.org PIPELINING SIZE 10240000 8BITMIME",
	    "lines joined with spaces");

	smtp_reply_init(&r);
	smtp_reply_line(&r, ehlo[0], strlen(ehlo[0]));
	ok(!r.complete, "not complete after a continuation line");

	is_int(feed(&r, gm), 0, "multi-line with enhanced codes");
	is_str(r.dsn, "5.1.1", "enhanced code from the first line");
	is_str(r.text,
	    "550 5.1.1 The account does not exist. Please try again - gsmtp",
	    "repeated enhanced codes dropped from later lines");
	is_str(smtp_reply_dsn(&r), "5.1.1", "dsn");
}

static void
test_enhanced(void)
{
	struct smtp_reply r;
	const char *mismatch[] = {"450 5.7.1 class differs", NULL};
	const char *none4[] = {"451 try later", NULL};
	const char *none5[] = {"554 no", NULL};
	const char *big[] = {"452 4.123.456 too many", NULL};
	const char *junk[] = {"550 5.1.1x not a code", NULL};
	const char *toolong[] = {"550 5.1234.1 field too long", NULL};
	const char *endl[] = {"250 2.1.0", NULL};
	const char *class3[] = {"354 3.5.5 go ahead", NULL};
	const char *bare3[] = {"334 VXNlcm5hbWU6", NULL};

	feed(&r, mismatch);
	is_str(r.dsn, "", "enhanced class must match the reply code");
	is_str(smtp_reply_dsn(&r), "4.0.0", "derived 4.0.0 instead");
	feed(&r, none4);
	is_str(smtp_reply_dsn(&r), "4.0.0", "derived 4.0.0");
	feed(&r, none5);
	is_str(smtp_reply_dsn(&r), "5.0.0", "derived 5.0.0");
	feed(&r, big);
	is_str(r.dsn, "4.123.456", "three-digit fields accepted");
	feed(&r, junk);
	is_str(r.dsn, "", "code glued to text is not a code");
	feed(&r, toolong);
	is_str(r.dsn, "", "four-digit field rejected");
	feed(&r, endl);
	is_str(r.dsn, "2.1.0", "code at the end of the line");
	/* RFC 3463 has no class 3; a 3xx reply where a final one was due
	 * (MAIL, RCPT, the dot) is deferred, so its status is 4.x.x, which
	 * the bounce daemon's notices accept */
	feed(&r, class3);
	is_str(r.dsn, "", "no enhanced status of class 3");
	is_str(smtp_reply_dsn(&r), "4.0.0", "3xx with a 3.x.x code: 4.0.0");
	feed(&r, bare3);
	is_str(smtp_reply_dsn(&r), "4.0.0", "3xx without a code: 4.0.0");
}

static void
test_malformed(void)
{
	struct smtp_reply r;
	const char *cases[] = {"", "25", "abc hello", "2x0 ok", "650 nope",
	    "199 too low", "260 second digit", "250_junk", "250x", NULL};
	const char *change[] = {"250-first", "251 second", NULL};
	const char *after[] = {"250 done", "250 more", NULL};
	size_t i;

	for (i = 0; cases[i] != NULL; i++) {
		smtp_reply_init(&r);
		is_int(smtp_reply_line(&r, cases[i], strlen(cases[i])), -1,
		    "malformed line \"%s\" rejected", cases[i]);
	}
	is_int(feed(&r, change), -1, "code changed between lines rejected");
	is_int(feed(&r, after), -1, "a line after the last one rejected");

	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_MAXLINES; i++)
		smtp_reply_line(&r, "250-x", 5);
	is_int(smtp_reply_line(&r, "250 x", 5), -1, "too many lines rejected");
}

static void
test_bounds(void)
{
	struct smtp_reply r;
	size_t len = 100000, i;
	char *line = malloc(len);
	int printable = 1;

	memcpy(line, "550 ", 4);
	memset(line + 4, 'z', len - 4);
	smtp_reply_init(&r);
	is_int(smtp_reply_line(&r, line, len), 0, "over-long line accepted");
	is_int(r.textlen, SMTP_REPLY_MAX - 1, "text truncated to the bound");
	is_int(strlen(r.text), SMTP_REPLY_MAX - 1, "and NUL-terminated");
	smtp_reply_init(&r);
	smtp_reply_line(&r, "550-x", 5);
	for (i = 0; i < 10; i++)
		smtp_reply_line(&r, line, len - 1);
	ok(r.textlen == SMTP_REPLY_MAX - 1, "many long lines stay bounded");
	free(line);

	smtp_reply_init(&r);
	smtp_reply_line(&r, "550 a\tb\x01\xff\x7f", 10);
	for (i = 0; i < r.textlen; i++)
		if (r.text[i] < 0x20 || r.text[i] >= 0x7f)
			printable = 0;
	ok(printable, "control and 8-bit octets replaced");
	is_str(r.text, "550 a b???", "tab becomes space, others '?'");
}

int
main(void)
{
	test_single();
	test_multi();
	test_enhanced();
	test_malformed();
	test_bounds();
	return done_testing();
}
