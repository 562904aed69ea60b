/*
 * dropdir_test.c - the drop-directory rules pickup applies: the envelope
 * of a drop file (X-Sender/X-Receiver lines removed, else From and
 * To/Cc/Bcc), what is refused and why, which names are complete, the
 * key round trip, and when a file has stood still long enough.
 */
#include <stdlib.h>
#include <string.h>

#include "daemons/pickup/pickup.h"
#include "maildrop.h"
#include "tap.h"

static char why[256];

static int
parse(const char *text, struct maildrop *md)
{
	why[0] = '\0';
	return dropfile_parse(
	    text, strlen(text), "origin.example", md, why, sizeof(why));
}

static void
test_x_lines(void)
{
	const char *f = "X-Sender: <app@example.com>\r\n"
	                "X-Receiver: bob@example.org\r\n"
	                "x-receiver: Secret@Example.NET\r\n"
	                "X-RECEIVER: bob@example.org\r\n"
	                "From: Someone Else <other@example.com>\r\n"
	                "To: public@example.org\r\n"
	                "Bcc: hidden@example.net\r\n"
	                "Subject: hi\r\n\r\nbody\r\n";
	struct maildrop md;

	is_int(parse(f, &md), 0, "X- lines: parsed (%s)", why);
	is_str(md.sender, "app@example.com", "X-Sender is the sender");
	is_int(md.nrcpt, 2, "X-Receiver lines are the recipients, once each");
	is_str(md.rcpt[0], "bob@example.org", "first X-Receiver");
	is_str(md.rcpt[1], "Secret@example.net", "domain lower-cased");
	ok(md.msglen > 5 && strncmp(md.msg, "From: ", 6) == 0,
	    "the message starts after the X- lines");
	ok(strstr(md.msg, "X-Receiver") == NULL &&
	        strstr(md.msg, "x-receiver") == NULL,
	    "no X-Receiver line is left in the message");
	is_int(md.msglen, strlen(f) - (size_t)(md.msg - f),
	    "the rest of the file is the message");
	maildrop_clear(&md);
}

static void
test_x_lines_partial(void)
{
	struct maildrop md;

	is_int(parse("X-Receiver: r@example.org\nFrom: Al <al@example.com>\n"
	             "To: t@example.org\n\nbody\n",
	           &md),
	    0, "X-Receiver without X-Sender (%s)", why);
	is_str(md.sender, "al@example.com", "sender then from From");
	is_int(md.nrcpt, 1, "recipients only from X-Receiver");
	is_str(md.rcpt[0], "r@example.org", "the X-Receiver");
	maildrop_clear(&md);

	is_int(parse("X-Sender: s@example.com\nTo: a@example.org, "
	             "B <b@example.org>\nCc: c\n\nbody\n",
	           &md),
	    0, "X-Sender without X-Receiver (%s)", why);
	is_str(md.sender, "s@example.com", "sender from X-Sender");
	is_int(md.nrcpt, 3, "recipients from To and Cc");
	is_str(md.rcpt[2], "c@origin.example", "unqualified: @origin added");
	maildrop_clear(&md);

	is_int(parse("X-Sender: <>\nX-Receiver: r@example.org\nSubject: x\n\n",
	           &md),
	    0, "X-Sender <> (%s)", why);
	is_str(md.sender, "", "the null sender");
	maildrop_clear(&md);
}

static void
test_headers(void)
{
	const char *f = "From: \"Web App\" <www@example.com>, x@example.com\n"
	                "To: a@example.org,\n  b@example.org\n"
	                "Cc: undisclosed-recipients:;\n"
	                "Bcc: hidden@example.net\n"
	                "To: a@example.org\n"
	                "X-Receiver: not-leading@example.org\n"
	                "Subject: s\n\nX-Sender: body@example.com\n";
	struct maildrop md;

	is_int(parse(f, &md), 0, "headers only: parsed (%s)", why);
	is_str(md.sender, "www@example.com", "first address of From");
	is_int(md.nrcpt, 3, "To, Cc and Bcc, de-duplicated");
	is_str(md.rcpt[2], "hidden@example.net", "the Bcc recipient");
	ok(md.msg == f && md.msglen == strlen(f),
	    "the whole file is the message");
	maildrop_clear(&md);
}

static void
refused(const char *text, const char *want, const char *what)
{
	struct maildrop md;

	is_int(parse(text, &md), -1, "refused: %s", what);
	ok(strstr(why, want) != NULL, "%s: reason \"%s\" has \"%s\"", what, why,
	    want);
	ok(strchr(why, '\n') == NULL, "%s: reason is one line", what);
	ok(md.sender == NULL && md.nrcpt == 0, "%s: nothing left", what);
}

static void
test_refused(void)
{
	refused("From: a@example.com\nSubject: x\n\nbody\n", "no recipients",
	    "no recipients");
	refused("To: b@example.org\nSubject: x\n\nbody\n", "no sender",
	    "no sender and no From");
	refused("X-Receiver: b@example.org\nSubject: x\n\nbody\n",
	    "no X-Sender line and no From", "X-Receiver only, no From");
	refused("", "not a message", "empty file");
	refused("just some text\nover lines\n", "not a message", "plain text");
	refused("X-Sender: a@example.com\nX-Receiver: b@example.org\n\nbody\n",
	    "not a message", "X- lines and no header");
	refused("X-Sender: a@example.com\nX-Sender: c@example.com\n"
	        "X-Receiver: b@example.org\nSubject: x\n\n",
	    "more than one X-Sender", "two X-Sender lines");
	refused("X-Sender: a@example.com\nX-Receiver: b c@example.org\n"
	        "Subject: x\n\n",
	    "bad X-Receiver address", "bad X-Receiver");
	refused("X-Sender: a@example.com\r\nX-Receiver: b\r\n c@example.org\r\n"
	        "Subject: x\r\n\r\n",
	    "bad X-Receiver address", "a folded X-Receiver");
	refused("From: a@example.com\nTo: <b@example.org\nSubject: x\n\n", "To",
	    "unparseable To");
	refused("From: nobody-here:;\nTo: b@example.org\n\n", "no sender",
	    "From without an address");
}

static void
test_binary(void)
{
	static const char bin[] = "From: a@example.com\nTo: b@exa\0mple\n\n";
	struct maildrop md;

	is_int(dropfile_parse(bin, sizeof(bin) - 1, "o", &md, why, sizeof(why)),
	    -1, "a NUL in the header: refused");
	ok(strstr(why, "not a message") != NULL, "reason: %s", why);
}

static void
test_names(void)
{
	const char *why2 = NULL;
	char longname[260];

	ok(dropdir_name_ok("0123-abc.eml"), "a plain name is complete");
	ok(dropdir_name_ok("mail"), "a name without a suffix is complete");
	ok(!dropdir_name_ok(".hidden"), "a dot name is being written");
	ok(!dropdir_name_ok("x.tmp"), "*.tmp is being written");
	ok(!dropdir_name_ok("x.TMP"), "*.TMP is being written");
	ok(dropdir_name_ok("x.tmp.eml"), ".tmp only as the suffix");
	ok(!dropdir_name_ok(""), "the empty name");
	ok(dropdir_name_usable("a b.eml", &why2), "spaces are fine");
	ok(!dropdir_name_usable("a\nb", &why2) && strstr(why2, "control"),
	    "a newline in the name is not");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ok(!dropdir_name_usable(longname, &why2) && strstr(why2, "long"),
	    "a 259-octet name is too long for a key");
	longname[DROPDIR_NAME_MAX] = '\0';
	ok(dropdir_name_usable(longname, &why2), "200 octets are fine");
}

static void
test_keys(void)
{
	struct dropdir_ident id = {.ino = 0xfedcba9876543210ULL,
	                         .ctime = {1764373839, 999999999}},
	                     back;
	char key[512], longname[DROPDIR_NAME_MAX + 1];
	const char *name;

	is_int(dropdir_key_make("msg 1.eml", &id, key, sizeof(key)), 0,
	    "key made");
	ok(strncmp(key, DROPDIR_KEY_PREFIX, strlen(DROPDIR_KEY_PREFIX)) == 0,
	    "key %s has the prefix", key);
	is_int(dropdir_key_parse(key, &back, &name), 0, "key parsed");
	is_str(name, "msg 1.eml", "name back");
	ok(back.ino == id.ino && back.ctime.tv_sec == id.ctime.tv_sec &&
	        back.ctime.tv_nsec == id.ctime.tv_nsec,
	    "inode and ctime back");
	memset(longname, 'n', DROPDIR_NAME_MAX);
	longname[DROPDIR_NAME_MAX] = '\0';
	is_int(dropdir_key_make(longname, &id, key, sizeof(key)), 0,
	    "the longest usable name still makes a key");
	ok(strlen(key) <= 255, "within the drop table's 255 octets");
	is_int(dropdir_key_parse("0A1B2C3D4E5F", &back, &name), -1,
	    "a maildrop name is not a key");
	is_int(dropdir_key_parse("/D/12.34.56/", &back, &name), -1,
	    "no name: refused");
	is_int(dropdir_key_parse("/D/12.34.56/a/b", &back, &name), -1,
	    "a '/' in the name: refused");
	is_int(dropdir_key_parse("/D/12.34/a", &back, &name), -1,
	    "a short identity: refused");
	is_int(dropdir_key_parse("/D/12.34.3b9aca00/a", &back, &name), -1,
	    "nanoseconds past a second: refused");
}

static void
test_stable(void)
{
	struct dropdir_ident seen = {.ino = 7,
	                         .size = 100,
	                         .mtime = {1000, 0},
	                         .ctime = {1000, 500000000}},
	                     now = seen;
	struct timespec at = {50, 0}, mono = {50, 0}, wall = {1000, 600000000};

	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall), 1900,
	    "just changed, just seen: wait the interval less its age");
	mono.tv_sec = 51;
	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall), 1000,
	    "watched 1 s: 1 s to go");
	mono.tv_sec = 52;
	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall), 0,
	    "watched 2 s unchanged: complete");
	now.size = 200;
	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall),
	    DROPDIR_STABLE_MS, "it grew: the whole interval again");
	now = seen;
	now.mtime.tv_nsec = 1;
	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall),
	    DROPDIR_STABLE_MS, "a new mtime: the whole interval again");
	now = seen;
	mono.tv_sec = 50;
	wall.tv_sec = 1003;
	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall), 0,
	    "ctime 2.5 s old at first sight: complete at once");
	wall.tv_sec = 900;
	is_int(dropdir_stable_wait(&seen, &at, &now, &mono, &wall),
	    DROPDIR_STABLE_MS, "ctime in the future: our own watch decides");
}

int
main(void)
{
	test_x_lines();
	test_x_lines_partial();
	test_headers();
	test_refused();
	test_binary();
	test_names();
	test_keys();
	test_stable();
	return done_testing();
}
