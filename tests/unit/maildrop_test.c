/*
 * maildrop_test.c - the maildrop file format: what ncsendmail writes,
 * pickup reads back unchanged (per-recipient ORCPTs included); files
 * written before ORCPT existed still read; truncated, foreign or
 * malformed files are refused with a reason; SMTP recipients share one
 * NOTIFY; the header-field walk handles folding and CRLF.
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
	maildrop_add_rcpt(&md, "bob@example.org", NULL);
	maildrop_add_rcpt(
	    &md, "carol@example.net", "rfc822;Carol+x=y@example.net");
	maildrop_add_rcpt(&md, "dave@example.net", "");
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
	ok(strstr(file,
	       "rcpt <carol@example.net>\n"
	       "orcpt rfc822;Carol+x=y@example.net\n") != NULL,
	    "the orcpt line follows its rcpt line, decoded");
	is_str(back.orcpt[0], "", "no ORCPT for the first");
	is_str(back.orcpt[1], "rfc822;Carol+x=y@example.net",
	    "the second's ORCPT");
	is_str(back.orcpt[2], "", "an empty ORCPT is none");
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

	free(md.orcpt[2]);
	md.orcpt[2] = strdup("rfc822;x@y\nrcpt <evil@example.com>");
	ok(maildrop_envelope(&md, 0, &len, &err) == NULL,
	    "line break in an ORCPT is refused");
	is_str(err, "malformed ORCPT", "ORCPT reason");
	free(md.orcpt[2]);
	md.orcpt[2] = strdup("");

	free(md.fullname);
	md.fullname = strdup("Evil\nrcpt <x@y>");
	ok(maildrop_envelope(&md, 0, &len, &err) == NULL,
	    "line break in the full name is refused");
	maildrop_clear(&md);
}

/* orcpt lines: where they may stand and what they may hold. */
static void
test_orcpt(void)
{
	static const struct {
		const char *env, *why;
	} bad[] = {
	    {"orcpt rfc822;a@b\nrcpt <a@b>\n", "before any rcpt"},
	    {"rcpt <a@b>\nfullname x\norcpt rfc822;a@b\n",
	        "not right after its rcpt"},
	    {"rcpt <a@b>\norcpt rfc822;a@b\norcpt rfc822;c@d\n", "twice"},
	    {"rcpt <a@b>\norcpt a@b\n", "no address type"},
	    {"rcpt <a@b>\norcpt ;a@b\n", "empty address type"},
	    {"rcpt <a@b>\norcpt rfc822;\n", "empty address"},
	    {"rcpt <a@b>\norcpt rfc_822;a@b\n", "type not an atom"},
	    {"rcpt <a@b>\norcpt rfc822;a\rb@c\n", "a CR"},
	    {"rcpt <a@b>\norcpt rfc822;a\tb@c\n", "a tab"},
	    {"rcpt <a@b>\norcpt rfc822;a\x7f@c\n", "DEL"},
	    {"rcpt <a@b>\norcpt rfc822;\xc3(@c\n", "broken UTF-8"},
	    {"rcpt <a@b>\norcpt rfc822;\xc0\xaf@c\n", "overlong UTF-8"},
	    {"rcpt <a@b>\norcpt\n", "no value"},
	};
	char text[2048], big[700];
	const char *err = NULL;
	struct maildrop md;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "NCMTA-DROP 1\nsender <>\n%ssize 0\n\n", bad[i].env);
		is_int(parse_text(text, &err), -1, "orcpt refused: %s",
		    bad[i].why);
	}

	/* a file from before ORCPT: every recipient without one */
	snprintf(text, sizeof(text),
	    "NCMTA-DROP 1\nsender <a@b>\n"
	    "rcpt <c@d>\nrcpt <e@f>\nsize 0\n\n");
	is_int(maildrop_parse(text, strlen(text), &md, &err), 0,
	    "a file without orcpt lines");
	ok(md.nrcpt == 2 && *md.orcpt[0] == '\0' && *md.orcpt[1] == '\0',
	    "its recipients have no ORCPT");
	maildrop_clear(&md);

	snprintf(text, sizeof(text),
	    "NCMTA-DROP 1\nsender <a@b>\nrcpt <c@d>\n"
	    "orcpt utf-8;J\xc3\xb6rg @x.example\nsize 0\n\n");
	is_int(maildrop_parse(text, strlen(text), &md, &err), 0,
	    "UTF-8 and a space in an ORCPT");
	is_str(md.orcpt[0], "utf-8;J\xc3\xb6rg @x.example", "kept as is");
	maildrop_clear(&md);

	/* 500 octets in all at most (RFC 3461 section 4.2) */
	memset(big, 'x', sizeof(big));
	memcpy(big, "rfc822;", 7);
	for (i = 500; i <= 501; i++) {
		big[i] = '\0';
		snprintf(text, sizeof(text),
		    "NCMTA-DROP 1\nsender <a@b>\nrcpt <c@d>\norcpt %s\n"
		    "size 0\n\n",
		    big);
		is_int(parse_text(text, &err), i == 500 ? 0 : -1,
		    "an ORCPT of %zu octets", i);
		big[i] = 'x';
	}
	is_str(err, "malformed ORCPT", "too long");
}

/* SMTP recipients: one NOTIFY for all, each its own ORCPT; duplicates
 * go with their ORCPT. */
static void
test_smtp_rcpt(void)
{
	struct maildrop md;
	const char *r;

	maildrop_init(&md);
	ok(maildrop_smtp_rcpt(&md, "a@x", "SUCCESS,FAILURE", "rfc822;A@x") ==
	        NULL,
	    "first recipient sets NOTIFY");
	is_str(md.notify, "SUCCESS,FAILURE", "the message's NOTIFY");
	r = maildrop_smtp_rcpt(&md, "b@x", "NEVER", NULL);
	is_str(r,
	    "452 4.5.3 Error: NOTIFY differs from the other recipients'; "
	    "send this one in another transaction",
	    "another NOTIFY: 452 4.5.3");
	r = maildrop_smtp_rcpt(&md, "b@x", NULL, NULL);
	ok(r != NULL && strncmp(r, "452 4.5.3 ", 10) == 0,
	    "no NOTIFY after one: 452 too");
	is_int(md.nrcpt, 1, "neither was taken");
	ok(maildrop_smtp_rcpt(&md, "b@x", "SUCCESS,FAILURE", NULL) == NULL,
	    "the same NOTIFY is taken");
	ok(maildrop_smtp_rcpt(&md, "a@x", "SUCCESS,FAILURE", "rfc822;B@x") ==
	        NULL,
	    "a repeated recipient too");
	maildrop_dedup(&md);
	ok(md.nrcpt == 2 && strcmp(md.rcpt[0], "a@x") == 0 &&
	        strcmp(md.orcpt[0], "rfc822;A@x") == 0 &&
	        strcmp(md.rcpt[1], "b@x") == 0 && *md.orcpt[1] == '\0',
	    "de-duplicated: the first of each, with its own ORCPT");
	maildrop_clear(&md);

	maildrop_init(&md);
	ok(maildrop_smtp_rcpt(&md, "a@x", NULL, NULL) == NULL &&
	        maildrop_smtp_rcpt(&md, "b@x", NULL, NULL) == NULL,
	    "no NOTIFY at all: every recipient taken");
	ok(maildrop_smtp_rcpt(&md, "c@x", "DELAY", NULL) != NULL,
	    "a NOTIFY after none: 452");
	is_str(md.notify, "", "NOTIFY stays unset");
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
	test_orcpt();
	test_smtp_rcpt();
	test_fields();
	return done_testing();
}
