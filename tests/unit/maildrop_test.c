/*
 * maildrop_test.c - the maildrop file format: what ncsendmail writes,
 * pickup reads back unchanged; truncated, foreign or malformed files are
 * refused with a reason; the header-field walk handles folding and CRLF.
 */
#include <stdlib.h>
#include <string.h>

#include "maildrop.h"
#include "tap.h"

static char *
build(const struct maildrop *md, const char *msg, size_t *len)
{
	const char *err = NULL;
	size_t elen, mlen = strlen(msg);
	char *env = maildrop_envelope(md, mlen, &elen, &err), *file;

	if (env == NULL)
		return NULL;
	file = malloc(elen + mlen + 1);
	memcpy(file, env, elen);
	memcpy(file + elen, msg, mlen + 1);
	*len = elen + mlen;
	free(env);
	return file;
}

static int
parse_text(const char *text, const char **err)
{
	struct maildrop md;
	int r = maildrop_parse(text, strlen(text), &md, err);

	if (r == 0)
		maildrop_clear(&md);
	return r;
}

static void
test_roundtrip(void)
{
	struct maildrop md, back;
	const char *err = NULL, *msg = "Subject: hi\n\nbody\n";
	size_t len;
	char *file;

	maildrop_init(&md);
	free(md.sender);
	md.sender = strdup("alice@example.com");
	free(md.fullname);
	md.fullname = strdup("Alice \"Al\" Example");
	maildrop_add_rcpt(&md, "bob@example.org");
	maildrop_add_rcpt(&md, "carol@example.net");
	maildrop_add_rcpt(&md, "dave@example.net");
	md.extract = 1;
	free(md.notify);
	md.notify = strdup("SUCCESS,FAILURE");
	free(md.envid);
	md.envid = strdup("abc123");
	file = build(&md, msg, &len);
	ok(file != NULL, "envelope written");
	ok(strncmp(file, "NCMTA-DROP 1\n", 13) == 0, "first line is versioned");
	is_int(maildrop_parse(file, len, &back, &err), 0, "parsed back");
	is_str(back.sender, "alice@example.com", "sender");
	is_str(back.fullname, "Alice \"Al\" Example", "full name");
	is_int(back.nrcpt, 3, "three recipients");
	is_str(back.rcpt[2], "dave@example.net", "third recipient");
	is_int(back.extract, 1, "-t flag");
	is_str(back.notify, "SUCCESS,FAILURE", "DSN notify");
	is_str(back.ret, "", "no DSN ret");
	is_str(back.envid, "abc123", "DSN envid");
	is_int(back.msglen, strlen(msg), "message length");
	ok(back.msglen == strlen(msg) &&
	        memcmp(back.msg, msg, back.msglen) == 0,
	    "message bytes");
	maildrop_clear(&back);

	/* A message shorter or longer than announced is refused. */
	is_int(maildrop_parse(file, len - 1, &back, &err), -1, "truncated");
	is_str(err, "message length differs from the envelope's size",
	    "truncation reason");
	free(file);

	free(md.sender);
	md.sender = strdup("");
	file = build(&md, "", &len);
	is_int(maildrop_parse(file, len, &back, &err), 0, "null sender file");
	is_str(back.sender, "", "null sender read back");
	is_int(back.msglen, 0, "empty message");
	maildrop_clear(&back);
	free(file);

	free(md.fullname);
	md.fullname = strdup("Evil\nrcpt <x@y>");
	ok(maildrop_envelope(&md, 0, &len, &err) == NULL,
	    "line break in the full name is refused");
	maildrop_clear(&md);
}

static void
test_bad_files(void)
{
	const char *err = NULL;

	is_int(parse_text("From: x\n\nbody\n", &err), -1, "foreign file");
	is_str(err, "not a maildrop file", "foreign file reason");
	is_int(parse_text("NCMTA-DROP 2\nsender <>\nsize 0\n\n", &err), -1,
	    "future version");
	is_str(err, "unknown maildrop version", "version reason");
	is_int(parse_text("NCMTA-DROP 1\nsize 0\n\n", &err), -1, "no sender");
	is_int(parse_text("NCMTA-DROP 1\nsender <>\n\n", &err), -1, "no size");
	is_int(parse_text("NCMTA-DROP 1\nsender a@b\nsize 0\n\n", &err), -1,
	    "address without brackets");
	is_int(parse_text(
	           "NCMTA-DROP 1\nsender <>\nfrobnicate 1\nsize 0\n\n", &err),
	    -1, "unknown field");
	is_int(parse_text("NCMTA-DROP 1\nsender <>\nsize 0\n", &err), -1,
	    "no empty line");
	is_int(parse_text("NCMTA-DROP 1\nsender <>\nsize -1\n\n", &err), -1,
	    "negative size");
	is_int(parse_text("NCMTA-DROP 1\nsender <>\nsize 0\n\n", &err), 0,
	    "minimal file");
	is_int(parse_text("NCMTA-DROP 1\nsender <>\nsize 3\n\nab", &err), -1,
	    "short message");
	is_int(parse_text("", &err), -1, "empty file");
}

static void
test_fields(void)
{
	const char *m = "From: a@b\r\nTo: x@y,\r\n\tz@w\r\nX-Empty:\n"
	                "Subject: s\n\nBody: not a header\n";
	struct msg_field f;
	size_t pos = 0;

	ok(msg_field_next(m, strlen(m), &pos, &f) == 1 &&
	        msg_field_is(&f, "FROM"),
	    "first field, name case-insensitive");
	ok(f.valuelen == 4 && memcmp(f.value, " a@b", 4) == 0,
	    "value without the line end");
	ok(msg_field_next(m, strlen(m), &pos, &f) == 1 &&
	        msg_field_is(&f, "to"),
	    "folded field");
	ok(f.len == strlen("To: x@y,\r\n\tz@w\r\n"), "folded field length");
	ok(msg_field_next(m, strlen(m), &pos, &f) == 1 && f.valuelen == 0,
	    "empty value");
	ok(msg_field_next(m, strlen(m), &pos, &f) == 1 &&
	        msg_field_is(&f, "subject"),
	    "last field");
	is_int(msg_field_next(m, strlen(m), &pos, &f), 0, "end of header");
	ok(m[pos] == '\n', "position at the empty line");

	m = "From someone Mon Jan 1\nSubject: x\n";
	pos = 0;
	is_int(msg_field_next(m, strlen(m), &pos, &f), 0,
	    "mbox From_ line is not a field");
	is_int(pos, 0, "body starts at the first line");
	m = "Subject: no final newline";
	pos = 0;
	ok(msg_field_next(m, strlen(m), &pos, &f) == 1 && f.len == strlen(m),
	    "field at end of input");
}

int
main(void)
{
	test_roundtrip();
	test_bad_files();
	test_fields();
	return done_testing();
}
