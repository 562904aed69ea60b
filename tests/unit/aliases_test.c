/*
 * aliases_test.c - the aliases file: entries, continuations, comments and
 * quoting parse; bad and unsupported lines name their line number; and
 * expansion is recursive, case-insensitive, de-duplicated, stops at a
 * name that aliases to itself and reports loops and runaway nesting.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tap.h"

#include "aliases.h"

static const char good[] =
    "# /etc/aliases\n"
    "mailer-daemon: postmaster\n"
    "postmaster: root\n"
    "Root: admin@example.net\n"
    "\n"
    "team: alice@example.org,\n"
    "  bob@example.org,\n"
    "   # a comment inside the entry\n"
    "\tcarol@example.org\n"
    "\"quoted name\"  :  \"john doe\"@example.com, <dave@example.com>\n"
    "self: self, other@example.org\n"
    "a: b\n"
    "b: a\n"
    "c: d, e\n"
    "d: final@example.com\n"
    "e: final@example.com, x@example.com\n"
    "keep: \\keep, copy@example.com\n"
    "crlf: crlf@example.com\r\n";

/* Local domains for the tests: "local" and "localhost". */
static int
is_local(const char *addr, void *arg)
{
	const char *at = strrchr(addr, '@');

	(void)arg;
	return at &&
	    (strcmp(at, "@local") == 0 || strcmp(at, "@localhost") == 0);
}

static struct alias_expansion x;

static const char *
expand(const struct alias_table *t, const char *addr)
{
	static char out[2048];
	size_t i;

	alias_expansion_free(&x);
	aliases_expand(t, addr, "local", is_local, NULL, &x);
	out[0] = '\0';
	if (x.status != ALIAS_OK)
		return x.status == ALIAS_LOOP ? "LOOP" : "TOO-DEEP";
	for (i = 0; i < x.n; i++) {
		if (i > 0)
			strlcat(out, " ", sizeof(out));
		strlcat(out, x.addr[i], sizeof(out));
	}
	return out;
}

static int
bad_line(const char *text, const char *want)
{
	struct cf_errors e = {NULL, 0};
	struct alias_table t;
	int r, found;

	r = aliases_parse("aliases", text, &t, &e);
	found = r == -1 && e.text && strstr(e.text, want) != NULL;
	if (!found)
		printf("# errors: %s", e.text ? e.text : "(none)\n");
	aliases_free(&t);
	cf_errors_free(&e);
	return found;
}

/* A line that parses, with a warning naming want. */
static int
warned_line(const char *text, const char *want)
{
	struct cf_errors e = {NULL, 0};
	struct alias_table t;
	int r, found;

	r = aliases_parse("aliases", text, &t, &e);
	found = r == 0 && e.count == 0 && t.warnings.text != NULL &&
	    strstr(t.warnings.text, want) != NULL;
	if (!found)
		printf("# errors: %s# warnings: %s",
		    e.text ? e.text : "(none)\n",
		    t.warnings.text ? t.warnings.text : "(none)\n");
	aliases_free(&t);
	cf_errors_free(&e);
	return found;
}

static void
test_parse(void)
{
	struct cf_errors e = {NULL, 0};
	struct alias_table t;
	const struct alias *a;

	is_int(
	    aliases_parse("aliases", good, &t, &e), 0, "example file parses");
	if (e.text)
		printf("# %s", e.text);
	is_int(t.n, 13, "thirteen aliases");
	a = aliases_lookup(&t, "ROOT");
	ok(a && a->ntargets == 1 &&
	        strcmp(a->targets[0], "admin@example.net") == 0,
	    "names are case-insensitive");
	a = aliases_lookup(&t, "team");
	ok(a && a->ntargets == 3, "continuation lines join the entry");
	is_int(a ? a->line : 0, 6, "an entry's line is its first line");
	a = aliases_lookup(&t, "quoted name");
	ok(a && a->ntargets == 2 &&
	        strcmp(a->targets[0], "\"john doe\"@example.com") == 0,
	    "quoted names and targets");
	ok(aliases_lookup(&t, "crlf") != NULL, "CRLF line ends");
	ok(aliases_lookup(&t, "nobody") == NULL, "unknown name: no alias");
	aliases_free(&t);
	cf_errors_free(&e);
}

static void
test_errors(void)
{
	struct cf_errors e = {NULL, 0};
	struct alias_table t;

	ok(bad_line("root admin\n", "aliases:1: expected \"name: target"),
	    "missing colon");
	ok(bad_line("ok: a\n\nroot:\n", "aliases:3: root: no target"),
	    "no target");
	ok(bad_line("a@b: c\n", "aliases:1: bad alias name"), "name with @");
	ok(bad_line("root: a b c\n", "aliases:1: root: bad target \"a b c\""),
	    "space in a target");
	ok(bad_line("  admin\n", "aliases:1: continuation line without"),
	    "continuation first");
	ok(bad_line("root: a\nx: y\nroot: b\n",
	       "aliases:3: duplicate alias \"root\" (first on line 1)"),
	    "duplicate name");
	ok(warned_line("root: |/usr/bin/procmail\n",
	       "aliases:1: root: |command target \"|/usr/bin/procmail\" is not "
	       "supported"),
	    "|command reported");
	ok(warned_line("root: \"|/usr/bin/vacation root\"\n",
	       "|command target \"|/usr/bin/vacation root\""),
	    "quoted |command reported");
	ok(warned_line("log: /var/log/mail.archive\n", "aliases:1: log: /file"),
	    "/file reported");
	ok(warned_line(
	       "list: :include:/etc/list\n", "aliases:1: list: :include:"),
	    ":include: reported");
	is_int(aliases_parse("aliases",
	           "root: admin@example.net, |/bin/cat\nbad line\nok: x\n", &t,
	           &e),
	    -1, "bad lines: -1");
	is_int(e.count, 1, "every bad line counted, not the |command");
	ok(t.warnings.count == 1, "the |command is a warning");
	ok(aliases_lookup(&t, "ok") && aliases_lookup(&t, "root") &&
	        aliases_lookup(&t, "root")->ntargets == 1 &&
	        aliases_lookup(&t, "root")->nignored == 1,
	    "the good entries stay usable, the |command set apart");
	aliases_free(&t);
	cf_errors_free(&e);
	ok(aliases_load("/nonexistent/aliases", &t, &e) == -1 && e.text &&
	        strstr(e.text, "/nonexistent/aliases: cannot open") != NULL,
	    "missing file named");
	aliases_free(&t);
	cf_errors_free(&e);
}

static void
test_expand(void)
{
	struct cf_errors e = {NULL, 0};
	struct alias_table t;
	char deep[4096] = "", line[64];
	int i;

	aliases_parse("aliases", good, &t, &e);
	is_str(expand(&t, "root@local"), "admin@example.net", "simple alias");
	ok(x.aliased, "marked as aliased");
	is_str(expand(&t, "MAILER-DAEMON@localhost"), "admin@example.net",
	    "recursive, through unqualified targets, case-insensitive");
	is_str(expand(&t, "root@example.com"), "root@example.com",
	    "remote addresses are not aliased");
	is_str(expand(&t, "nobody@local"), "nobody@local",
	    "a local name without alias stays");
	ok(!x.aliased, "and is not marked aliased");
	is_str(expand(&t, "team@local"),
	    "alice@example.org bob@example.org carol@example.org", "a list");
	is_str(expand(&t, "self@local"), "self@local other@example.org",
	    "a name aliased to itself is delivered as itself");
	is_str(expand(&t, "a@local"), "LOOP", "a: b, b: a is a loop");
	ok(x.why && strstr(x.why, "mail forwarding loop") != NULL,
	    "with a reason: %s", x.why ? x.why : "");
	is_int(x.n, 0, "and no addresses");
	is_str(expand(&t, "c@local"), "final@example.com x@example.com",
	    "two paths to one address: once");
	is_str(expand(&t, "\"Quoted Name\"@local"),
	    "\"john doe\"@example.com dave@example.com",
	    "a quoted local part finds a quoted name");
	is_str(expand(&t, "keep@local"), "keep@local copy@example.com",
	    "\\name is not expanded again");
	aliases_free(&t);

	for (i = 0; i < ALIAS_MAX_DEPTH + 5; i++) {
		snprintf(line, sizeof(line), "n%d: n%d\n", i, i + 1);
		strlcat(deep, line, sizeof(deep));
	}
	aliases_parse("aliases", deep, &t, &e);
	is_str(expand(&t, "n0@local"), "TOO-DEEP", "nesting is bounded");
	is_str(expand(&t, "n10@local"), "n25@local", "within the bound: fine");
	aliases_free(&t);

	aliases_parse("aliases", "r: |/bin/cat, a@example.com\n", &t, &e);
	is_str(expand(&t, "r@local"), "a@example.com",
	    "unsupported targets are skipped");
	ok(x.nnotes == 1 && strstr(x.notes[0], "ignored") != NULL,
	    "with a note for the log");
	aliases_free(&t);
	alias_expansion_free(&x);
	cf_errors_free(&e);
}

int
main(void)
{
	test_parse();
	test_errors();
	test_expand();
	return done_testing();
}
