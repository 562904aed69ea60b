/*
 * normalize_test.c - pickup's header normalisation: Received: on top,
 * Bcc: removed, Date:/Message-ID:/From: added only when missing, CRLF to
 * LF, the empty line before a body that lacked one, 8-bit detection.
 */
#include <stdlib.h>
#include <string.h>

#include "daemons/pickup/pickup.h"
#include "tap.h"

static struct norm_out
run(const char *msg, const char *sender, const char *fullname)
{
	struct norm_in in = {
	    .msg = msg,
	    .len = strlen(msg),
	    .sender = sender,
	    .fullname = fullname,
	    .myhostname = "mx.example.com",
	    .qid = "0006A1F0C2B7D123",
	    .uid = 1000,
	    .now = 1764373839, /* 2025-11-28 23:50:39 UTC */
	};
	struct norm_out out;

	normalize_message(&in, &out);
	/* NUL-terminate for strstr; len stays the stored length */
	out.body = realloc(out.body, out.len + 1);
	out.body[out.len] = '\0';
	return out;
}

static void
done(struct norm_out *o)
{
	free(o->body);
	free(o->msgid);
}

static void
test_complete_message(void)
{
	const char *msg = "From: Alice <alice@example.com>\r\n"
	                  "To: bob@example.org\r\n"
	                  "Bcc: secret@example.net,\r\n\tother@example.net\r\n"
	                  "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	                  "Message-ID: <x@y>\r\n"
	                  "Received: from elsewhere\r\n"
	                  "Subject: hi\r\n"
	                  "\r\n"
	                  "line 1\r\n"
	                  "line 2\r\n";
	struct norm_out o = run(msg, "alice@example.com", "");

	ok(strncmp(o.body,
	       "Received: by mx.example.com (ncmta, from userid 1000)\n"
	       "\tid 0006A1F0C2B7D123; ",
	       strlen("Received: by mx.example.com (ncmta, from userid 1000)\n"
	              "\tid 0006A1F0C2B7D123; ")) == 0,
	    "Received: first, with uid and queue ID");
	ok(strstr(o.body, "Bcc") == NULL && strstr(o.body, "secret") == NULL &&
	        strstr(o.body, "other@") == NULL,
	    "Bcc: and its continuation removed");
	ok(strchr(o.body, '\r') == NULL, "no CR left");
	ok(strstr(o.body, "Date: Mon, 1 Jan 2024") != NULL &&
	        strstr(o.body, "\nDate: ") == strstr(o.body, "\nDate: Mon"),
	    "existing Date: kept, none added");
	ok(strstr(o.body, "Message-ID: <x@y>\n") != NULL &&
	        strstr(o.body, "Message-ID: <2025") == NULL,
	    "existing Message-ID: kept");
	is_str(o.msgid, "<x@y>", "its value for the log");
	ok(strstr(o.body, "\nFrom: Alice <alice@example.com>\n") != NULL &&
	        strstr(strstr(o.body, "\nFrom: ") + 1, "\nFrom: ") == NULL,
	    "existing From: kept, none added");
	ok(strstr(o.body, "Subject: hi\n\nline 1\nline 2\n") != NULL,
	    "body after one empty line");
	is_int(o.nreceived, 2, "Received: counted, ours included");
	is_int(o.eightbit, 0, "7-bit message");
	is_int(o.len, strlen(o.body), "length matches");
	done(&o);
}

static void
test_bare_message(void)
{
	struct norm_out o = run(
	    "Subject: test\n\nhello\n", "alice@example.com", "Alice Example");

	ok(strstr(o.body, "\nDate: ") != NULL, "Date: added");
	ok(strstr(o.body,
	       "\nMessage-ID: <20251128235039.0006A1F0C2B7D123"
	       "@mx.example.com>\n") != NULL,
	    "Message-ID: from UTC time, queue ID and myhostname");
	is_str(o.msgid, "<20251128235039.0006A1F0C2B7D123@mx.example.com>",
	    "the added Message-ID: is the one logged");
	ok(strstr(o.body, "\nFrom: Alice Example <alice@example.com>\n") !=
	        NULL,
	    "From: with the full name");
	ok(strstr(o.body, "\n\nhello\n") != NULL, "body kept");
	is_int(o.nreceived, 1, "only our Received:");
	done(&o);

	o = run("Message-ID:  \n\t<folded@x>\x01 \nMessage-ID: <2nd@x>\n\nb\n",
	    "a@b.example", "");
	is_str(o.msgid, "<folded@x>?",
	    "the first Message-ID: logged unfolded, trimmed, no control "
	    "characters");
	done(&o);

	o = run("hello world\n", "bob@example.org", "");
	ok(strstr(o.body, "\nFrom: bob@example.org\n\nhello world\n") != NULL,
	    "no header: fields added, then an empty line, then the text");
	done(&o);

	o = run("Subject: x\nno colon line\nmore\n", "a@b.example", "");
	ok(strstr(o.body, "From: a@b.example\n\nno colon line\nmore\n") != NULL,
	    "a non-field line starts the body after an added empty line");
	done(&o);

	o = run("", "", "");
	ok(strstr(o.body, "\nFrom: MAILER-DAEMON@mx.example.com\n") != NULL,
	    "null sender: From: MAILER-DAEMON");
	is_int(o.body[o.len - 1], '\n', "empty message ends with a line end");
	done(&o);

	o = run("Subject: x\n\nno final newline", "a@b.example", "");
	ok(strstr(o.body, "\n\nno final newline\n") != NULL,
	    "last line gets its LF");
	done(&o);
}

static void
test_names_and_8bit(void)
{
	char *v;
	struct norm_out o;

	v = norm_from_value("a@b.example", "Doe, John", "h");
	is_str(v, "\"Doe, John\" <a@b.example>", "name with a comma quoted");
	free(v);
	v = norm_from_value("a@b.example", "Say \"hi\"", "h");
	is_str(v, "\"Say \\\"hi\\\"\" <a@b.example>", "quotes escaped");
	free(v);
	v = norm_from_value("a@b.example", "J\xc3\xb6rg", "h");
	is_str(v, "=?UTF-8?B?SsO2cmc=?= <a@b.example>", "8-bit name encoded");
	free(v);
	v = norm_from_value("a@b.example", "CronDaemon", "h");
	is_str(v, "CronDaemon <a@b.example>", "plain name");
	free(v);

	o = run("Subject: caf\xc3\xa9\n\nx\n", "a@b.example", "");
	is_int(o.eightbit, 1, "8-bit octet seen");
	done(&o);
	o = run("Subject: x\nbcc: lower@case.example\nBCC: upper@case.example\n"
	        "\nbody Bcc: stays\n",
	    "a@b.example", "");
	ok(strstr(o.body, "case.example") == NULL,
	    "Bcc: removed whatever its case");
	ok(strstr(o.body, "body Bcc: stays") != NULL, "body untouched");
	done(&o);
	o = run("Subject: x\n\na\r\nb\rc\r\n", "a@b.example", "");
	ok(strstr(o.body, "\n\na\nb\rc\n") != NULL,
	    "CRLF to LF, a lone CR kept");
	done(&o);
}

/* A message smtpd received: Received: names the client, as Postfix's
 * smtpd writes it, "for <rcpt>" only with one recipient. */
static void
test_received_from_smtp(void)
{
	struct norm_in in = {
	    .msg = "Subject: x\r\n\r\nbody\r\n",
	    .sender = "app@example.com",
	    .fullname = "",
	    .myhostname = "mx.example.com",
	    .qid = "0006A1F0C2B7D123",
	    .uid = 109,
	    .now = 1764373839,
	    .client = "localhost[127.0.0.1]",
	    .helo = "app.example",
	    .proto = "ESMTP",
	    .rcpt = "bob@example.org",
	};
	struct norm_out out;
	const char *want = "Received: from app.example (localhost "
	                   "[127.0.0.1])\n\tby mx.example.com (ncmta) with "
	                   "ESMTP id 0006A1F0C2B7D123\n\tfor "
	                   "<bob@example.org>; ";

	in.len = strlen(in.msg);
	normalize_message(&in, &out);
	ok(out.len > strlen(want) && strncmp(out.body, want, strlen(want)) == 0,
	    "Received: from the client, with ESMTP, queue ID and recipient");
	ok(memmem(out.body, out.len, "userid", 6) == NULL, "no userid");
	done(&out);
	in.rcpt = NULL;
	in.helo = "";
	in.proto = "ESMTPS";
	normalize_message(&in, &out);
	want = "Received: from localhost (localhost [127.0.0.1])\n\tby "
	       "mx.example.com (ncmta) with ESMTPS id 0006A1F0C2B7D123; ";
	ok(out.len > strlen(want) && strncmp(out.body, want, strlen(want)) == 0,
	    "no HELO: the client's name; several recipients: no \"for\"");
	done(&out);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	test_received_from_smtp();
	test_complete_message();
	test_bare_message();
	test_names_and_8bit();
	return done_testing();
}
