/*
 * secrets_test.c - the smart-host credentials file: the four HOST forms,
 * comments, passwords with ':' and blanks, bad lines named by number and
 * never quoting a password, lookups (default port, case, brackets, first
 * match), and the owner/mode/type checks on real temporary files.
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <unistd.h>

#include "tap.h"

#include "secrets.h"
#include "util.h"

static const char good[] =
    "# smart-host credentials\n"
    "[relay.example.com]:587   alice:s3cret\n"
    "\n"
    "   # an indented comment\n"
    "Mail.Example.ORG:2525\tbob:pa:ss:word  \r\n"
    "[bracket.example]         carol:with spaces inside\n"
    "plain.example             dave:x#not-a-comment\n"
    "relay.example.com:587     second:never-used\n"
    "[::1]:2526                v6:pw\n"
    "last.example              eve:no-newline";

static int
parse_errs(const char *text, struct cf_errors *e)
{
	struct secrets t;
	int r;

	cf_errors_free(e);
	r = secrets_parse("sec", text, &t, e);
	ok(t.n == 0 && t.v == NULL, "a refused table is empty");
	secrets_free(&t);
	return r;
}

static void
test_parse(void)
{
	struct cf_errors e = {NULL, 0};
	struct secrets t;

	is_int(secrets_parse("sec", good, &t, &e), 0, "example file parses");
	is_int(e.count, 0, "without errors");
	is_int(t.n, 7, "seven entries");
	if (t.n != 7)
		return;
	is_str(t.v[0].host, "relay.example.com", "[name]:port: name");
	is_int(t.v[0].port, 587, "[name]:port: port");
	is_str(t.v[0].user, "alice", "user");
	is_str(t.v[0].password, "s3cret", "password");
	is_str(t.v[1].host, "mail.example.org", "name:port, lower-cased");
	is_int(t.v[1].port, 2525, "name:port: port");
	is_str(t.v[1].user, "bob", "user before the first ':'");
	is_str(t.v[1].password, "pa:ss:word",
	    "password keeps its ':', loses trailing blanks and CR");
	is_str(t.v[2].host, "bracket.example", "[name] without brackets");
	is_int(t.v[2].port, 25, "[name]: port 25");
	is_str(t.v[2].password, "with spaces inside",
	    "password with blanks runs to the end of the line");
	is_str(t.v[3].host, "plain.example", "bare name");
	is_int(t.v[3].port, 25, "bare name: port 25");
	is_str(t.v[3].password, "x#not-a-comment", "'#' inside a password");
	is_str(t.v[5].host, "::1", "bracketed IPv6 address");
	is_int(t.v[5].port, 2526, "its port");
	is_str(t.v[6].password, "no-newline", "last line without newline");
	secrets_free(&t);
	ok(t.v == NULL && t.n == 0, "secrets_free empties the table");

	is_int(secrets_parse("sec", "", &t, &e), 0, "empty file is fine");
	is_int(t.n, 0, "and has no entries");
	is_int(secrets_parse("sec", "# only\n\n  \n", &t, &e), 0,
	    "comments and blank lines only");
	is_int(t.n, 0, "no entries");
	cf_errors_free(&e);
}

static void
test_bad_lines(void)
{
	struct cf_errors e = {NULL, 0};
	char big[5000];

	is_int(parse_errs("ok.example a:b\nbad.example\n", &e), -1,
	    "host without credentials refused");
	is_str(e.text, "sec:2: expected HOST user:password\n",
	    "error names file and line");
	is_int(parse_errs("relay.example nocolon\n", &e), -1,
	    "credentials without ':' refused");
	is_str(e.text,
	    "sec:1: relay.example: expected user:password after the host\n",
	    "with a clear reason");
	ok(strstr(e.text, "nocolon") == NULL, "and without the field");
	is_int(parse_errs("relay.example :TopSecret\n", &e), -1,
	    "empty user refused");
	ok(e.text && strstr(e.text, "user name is empty") &&
	        !strstr(e.text, "TopSecret"),
	    "reason given, password not quoted");
	is_int(parse_errs("relay.example alice:\n", &e), -1,
	    "empty password refused");
	ok(e.text && strstr(e.text, "password is empty"), "reason given");
	is_int(parse_errs("relay.example al ice:TopSecret\n", &e), -1,
	    "blank inside the user name refused");
	ok(e.text && strstr(e.text, "contains a blank") &&
	        !strstr(e.text, "TopSecret"),
	    "reason given, password not quoted");
	is_int(parse_errs("relay.example:99999 a:b\n", &e), -1,
	    "port out of range refused");
	ok(e.text &&
	        strncmp(e.text, "sec:1: the first field is not a host", 36) ==
	            0,
	    "error says which field");
	is_int(parse_errs("[relay.example:25 a:b\n", &e), -1,
	    "unbalanced bracket refused");
	is_int(parse_errs("a.example,b.example a:b\n", &e), -1,
	    "two hosts on a line refused");
	ok(e.text && strstr(e.text, "one host per line"), "reason given");
	/* the fields swapped: the first one is the credentials */
	is_int(parse_errs("alice:TopSecret relay.example\n", &e), -1,
	    "swapped fields refused");
	ok(e.text && !strstr(e.text, "TopSecret"), "password not quoted");
	is_int(parse_errs("alice:1234\n", &e), -1, "credentials alone refused");
	ok(e.text && !strstr(e.text, "1234"), "password not quoted");
	is_int(parse_errs("# fine\nx.example a:b\n\nbad1\nbad2 y\nz a:b\n", &e),
	    -1, "several bad lines");
	is_int(e.count, 2, "every bad line reported");
	ok(e.text && strstr(e.text, "sec:4:") && strstr(e.text, "sec:5:"),
	    "each with its number");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(parse_errs(big, &e), -1, "over-long line refused");
	is_str(e.text, "sec:1: line too long\n", "as too long");
	cf_errors_free(&e);
}

static void
test_find(void)
{
	struct cf_errors e = {NULL, 0};
	struct secrets t;
	const struct secret *s;

	if (secrets_parse("sec", good, &t, &e) != 0)
		abort();
	s = secrets_find(&t, "relay.example.com", 587);
	is_str(s ? s->user : NULL, "alice", "exact host and port");
	s = secrets_find(&t, "RELAY.Example.Com", 587);
	is_str(s ? s->user : NULL, "alice", "names match without case");
	s = secrets_find(&t, "[relay.example.com]", 587);
	is_str(s ? s->user : NULL, "alice", "brackets do not matter");
	ok(secrets_find(&t, "relay.example.com", 25) == NULL,
	    "another port does not match");
	s = secrets_find(&t, "bracket.example", 25);
	is_str(s ? s->user : NULL, "carol", "[name] matches port 25");
	ok(secrets_find(&t, "bracket.example", 587) == NULL,
	    "[name] does not match another port");
	s = secrets_find(&t, "plain.example", 25);
	is_str(s ? s->user : NULL, "dave", "bare name matches port 25");
	s = secrets_find(&t, "mail.example.org", 2525);
	is_str(s ? s->password : NULL, "pa:ss:word", "lower-cased entry found");
	s = secrets_find(&t, "::1", 2526);
	is_str(s ? s->user : NULL, "v6", "IPv6 literal");
	ok(secrets_find(&t, "example.com", 587) == NULL,
	    "a suffix is not a match");
	ok(secrets_find(&t, "relay.example.co", 587) == NULL,
	    "a prefix is not a match");
	ok(secrets_find(&t, "nowhere.example", 25) == NULL, "unknown host");
	secrets_free(&t);
	ok(secrets_find(&t, "relay.example.com", 587) == NULL,
	    "a freed table finds nothing");
}

static char *
temp_file(const char *dir, const char *text, mode_t mode)
{
	char *path;
	FILE *fp;

	xasprintf(&path, "%s/secrets", dir);
	unlink(path);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
	if (chmod(path, mode) == -1)
		abort();
	return path;
}

static void
test_files(void)
{
	char dir[] = "/tmp/secrets_test.XXXXXX", *path, *want, *fifo;
	struct cf_errors e = {NULL, 0};
	struct secrets t;
	uid_t me = geteuid();

	if (mkdtemp(dir) == NULL)
		abort();
	path = temp_file(dir, "[relay.example]:587 alice:TopSecret\n", 0600);
	is_int(secrets_check_file(path, me, &e), 0, "0600, own file: fine");
	is_int(secrets_load(path, me, &t, &e), 0, "and it loads");
	is_int(t.n, 1, "one entry");
	ok(e.count == 0, "no errors");
	secrets_free(&t);

	chmod(path, 0644);
	is_int(secrets_check_file(path, me, &e), -1, "0644 refused");
	xasprintf(&want,
	    "secrets_file %s: mode 0644 lets group or others read it; "
	    "run: chmod 600 %s\n",
	    path, path);
	is_str(e.text, want, "with the chmod to run");
	free(want);
	cf_errors_free(&e);
	is_int(secrets_load(path, me, &t, &e), -1, "0644 does not load");
	ok(t.n == 0 && e.text && !strstr(e.text, "TopSecret"),
	    "nothing loaded, password not quoted");
	cf_errors_free(&e);
	chmod(path, 0620);
	is_int(secrets_check_file(path, me, &e), -1, "0620 refused");
	ok(e.text && strstr(e.text, "mode 0620 gives group or others access"),
	    "group write is access too");
	cf_errors_free(&e);
	chmod(path, 0601);
	is_int(secrets_check_file(path, me, &e), -1, "0601 refused");
	cf_errors_free(&e);

	chmod(path, 0600);
	is_int(secrets_check_file(path, me + 1, &e), -1, "other owner refused");
	xasprintf(&want,
	    me + 1 == 0 ? "owned by uid %u, must be owned by root"
	                : "owned by uid %u, must be owned by uid",
	    (unsigned)me);
	ok(e.text && strstr(e.text, want), "the message names the owner");
	free(want);
	cf_errors_free(&e);
	if (me != 0) {
		is_int(secrets_check_file(path, 0, &e), -1,
		    "not owned by root while root is expected");
		ok(e.text && strstr(e.text, "must be owned by root"),
		    "says root");
		cf_errors_free(&e);
	} else {
		ok(chown(path, 1000, 1000) == 0, "chown to uid 1000");
		is_int(secrets_load(path, 0, &t, &e), -1,
		    "file of uid 1000 refused for root");
		xasprintf(&want,
		    "secrets_file %s: owned by uid 1000, must be owned by "
		    "root\n",
		    path);
		is_str(e.text, want, "as owned by uid 1000");
		free(want);
		cf_errors_free(&e);
	}
	unlink(path);
	free(path);

	path = temp_file(dir, "relay.example\n", 0600);
	is_int(secrets_load(path, me, &t, &e), -1, "bad line refused");
	xasprintf(&want, "%s:1: expected HOST user:password\n", path);
	is_str(e.text, want, "as FILE:LINE: why");
	free(want);
	cf_errors_free(&e);
	unlink(path);

	is_int(secrets_load(path, me, &t, &e), -1, "missing file refused");
	ok(e.text && strstr(e.text, "No such file"), "says so");
	cf_errors_free(&e);
	is_int(secrets_check_file(path, me, &e), -1, "check: missing refused");
	cf_errors_free(&e);
	is_int(secrets_check_file(dir, me, &e), -1, "a directory refused");
	ok(e.text && strstr(e.text, "not a regular file"), "as not regular");
	cf_errors_free(&e);
	xasprintf(&fifo, "%s/fifo", dir);
	if (mkfifo(fifo, 0600) == -1)
		abort();
	is_int(secrets_load(fifo, me, &t, &e), -1,
	    "a FIFO is refused without blocking");
	cf_errors_free(&e);
	unlink(fifo);
	free(fifo);
	free(path);
	rmdir(dir);
}

int
main(void)
{
	test_parse();
	test_bad_lines();
	test_find();
	test_files();
	return done_testing();
}
