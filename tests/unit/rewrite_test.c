/*
 * rewrite_test.c - rewriting at submission: generic_maps lines parse or
 * name their line, lookups follow Postfix's order, local recipients go
 * through aliases to local_recipient_forward or a 5.1.1/5.4.6 bounce,
 * results are de-duplicated and keep or gain their ORCPT, and
 * From/To/Cc/Reply-To get their addresses (only) qualified and mapped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

#include "rewrite.h"

static const char aliases[] = "root: admin@example.net\n"
                              "postmaster: root\n"
                              "ops: admin@example.net, oncall\n"
                              "loop1: loop2\n"
                              "loop2: loop1\n"
                              "both: admin@example.net, root\n"
                              "me: me\n";

static const char generic[] = "# generic_maps\n"
                              "root@host.local   server1@example.com\n"
                              "www-data          web@example.com\n"
                              "@host.local       @example.com\n"
                              "Partner@Old.Example  new@partner.example\n";

static struct nc_config cfg;

static void
setup(struct rewrite *rw, const char *forward)
{
	struct cf_errors e = {NULL, 0};

	config_defaults(&cfg);
	free(cfg.myorigin);
	cfg.myorigin = strdup("host.local");
	free(cfg.mydestination);
	cfg.mydestination = strdup("host.local, localhost");
	free(cfg.local_recipient_forward);
	cfg.local_recipient_forward = strdup(forward);
	free(cfg.alias_maps);
	cfg.alias_maps = strdup("/etc/aliases");
	free(cfg.generic_maps);
	cfg.generic_maps = strdup("/etc/ncmta/generic");
	if (rewrite_init(rw, &cfg, aliases, generic, &e) != 0)
		printf("# %s", e.text);
	cf_errors_free(&e);
	config_free(&cfg);
}

/* "addr" or "addr=dsn" for each result, space-separated. */
static const char *
rcpts(const struct rewrite *rw, const char *list)
{
	static char out[2048];
	char *copy = strdup(list), *v[32], *p, *w;
	struct rw_result res;
	size_t n = 0, i;

	for (w = strtok_r(copy, " ", &p); w && n < 32;
	     w = strtok_r(NULL, " ", &p))
		v[n++] = w;
	rewrite_recipients(rw, v, NULL, n, &res);
	out[0] = '\0';
	for (i = 0; i < res.n; i++) {
		if (i > 0)
			strlcat(out, " ", sizeof(out));
		strlcat(out, res.r[i].addr, sizeof(out));
		if (*res.r[i].dsn) {
			strlcat(out, "=", sizeof(out));
			strlcat(out, res.r[i].dsn, sizeof(out));
		}
	}
	rw_result_free(&res);
	free(copy);
	return out;
}

static const char *
gen(const struct rewrite *rw, const char *addr)
{
	static char out[512];
	char *n = rewrite_generic(rw, addr);

	snprintf(out, sizeof(out), "%s", n ? n : "(same)");
	free(n);
	return out;
}

static const char *
hdr(const struct rewrite *rw, const char *value)
{
	static char out[2048];
	char *n = rewrite_address_list(rw, value, strlen(value));

	snprintf(out, sizeof(out), "%s", n ? n : "(same)");
	free(n);
	return out;
}

static int
bad_generic(const char *text, const char *want)
{
	struct cf_errors e = {NULL, 0};
	struct generic_table t;
	int found;

	found = generic_parse("generic", text, &t, &e) == -1 && e.text &&
	    strstr(e.text, want) != NULL;
	if (!found)
		printf("# errors: %s", e.text ? e.text : "(none)\n");
	generic_free(&t);
	cf_errors_free(&e);
	return found;
}

static void
test_generic(void)
{
	struct rewrite rw;

	setup(&rw, "");
	is_int(rw.generic.n, 4, "four generic_maps lines");
	is_str(gen(&rw, "root@host.local"), "server1@example.com",
	    "user@domain first");
	is_str(gen(&rw, "ROOT@HOST.local"), "server1@example.com",
	    "case-insensitive");
	is_str(gen(&rw, "www-data@localhost"), "web@example.com",
	    "bare user for a local domain");
	is_str(gen(&rw, "www-data@elsewhere.example"), "(same)",
	    "bare user: not for other domains");
	is_str(gen(&rw, "cron@host.local"), "cron@example.com",
	    "@domain keeps the local part");
	is_str(gen(&rw, "partner@old.example"), "new@partner.example",
	    "keys are lower-cased");
	is_str(gen(&rw, "someone@example.org"), "(same)", "no match");
	rewrite_free(&rw);

	ok(bad_generic("a@b\n", "generic:1: expected \"address  new-address\""),
	    "one field");
	ok(bad_generic("a@b c@d e@f\n", "generic:1: expected"), "three fields");
	ok(bad_generic("# c\n@ x@y\n", "generic:2: bad key"), "empty domain");
	ok(bad_generic("a@b nodomain\n", "generic:1: bad address \"nodomain\""),
	    "value without a domain");
	ok(bad_generic("a@b x@y\nA@B z@y\n",
	       "generic:2: \"a@b\" already given on line 1"),
	    "duplicate key");
	ok(bad_generic("a@b x@y\n  c@d\n", "generic:2: line starts with white"),
	    "indented line");
}

static void
test_recipients(void)
{
	struct cf_errors e = {NULL, 0};
	struct rewrite rw;

	setup(&rw, "");
	is_str(rcpts(&rw, "root@host.local"), "admin@example.net",
	    "alias of a local recipient");
	is_str(rcpts(&rw, "postmaster@localhost"), "admin@example.net",
	    "recursive, on any local domain");
	is_str(rcpts(&rw, "someone@example.org"), "someone@example.org",
	    "remote recipients untouched");
	is_str(rcpts(&rw, "nobody@host.local"), "nobody@host.local=5.1.1",
	    "unknown local recipient bounces 5.1.1");
	is_str(rcpts(&rw, "loop1@host.local other@example.org"),
	    "loop1@host.local=5.4.6 other@example.org",
	    "an alias loop bounces 5.4.6, the others go on");
	is_str(
	    rcpts(&rw, "root@host.local postmaster@host.local both@localhost"),
	    "admin@example.net", "two aliases to one target: one recipient");
	is_str(rcpts(&rw, "ops@host.local"),
	    "admin@example.net oncall@host.local=5.1.1",
	    "unqualified target qualified with myorigin, then local");
	is_str(rcpts(&rw, "me@host.local"), "me@host.local=5.1.1",
	    "a self-alias ends at its own address");
	is_str(rcpts(&rw, "user@old.host.local"), "user@old.host.local",
	    "subdomains are not local");
	is_str(rcpts(&rw, "a@host.local"), "a@host.local=5.1.1", "bounce");
	rewrite_free(&rw);

	setup(&rw, "postmaster@example.com");
	is_str(rcpts(&rw, "nobody@host.local alice@localhost"),
	    "postmaster@example.com", "forward user@domain: all to one");
	is_str(rcpts(&rw, "root@host.local"), "admin@example.net",
	    "aliases before the forward");
	rewrite_free(&rw);

	setup(&rw, "@example.com");
	is_str(rcpts(&rw, "nobody@host.local alice@localhost me@localhost"),
	    "nobody@example.com alice@example.com me@example.com",
	    "forward @domain: same local part");
	rewrite_free(&rw);

	config_defaults(&cfg);
	free(cfg.local_recipient_forward);
	cfg.local_recipient_forward = strdup("@localhost");
	free(cfg.mydestination);
	cfg.mydestination = strdup("localhost");
	free(cfg.alias_maps);
	cfg.alias_maps = strdup("");
	ok(rewrite_init(&rw, &cfg, "", "", &e) == -1 && e.text &&
	        strstr(e.text, "is in mydestination") != NULL,
	    "forward to a local domain refused");
	cf_errors_free(&e);
	rewrite_free(&rw);
	free(cfg.local_recipient_forward);
	cfg.local_recipient_forward = strdup("no domain");
	ok(rewrite_init(&rw, &cfg, "", "", &e) == -1 && e.text &&
	        strstr(e.text, "local_recipient_forward = \"no domain\"") !=
	            NULL,
	    "bad forward named");
	cf_errors_free(&e);
	rewrite_free(&rw);
	config_free(&cfg);
}

static void
test_headers(void)
{
	static const char nul_msg[] = "To: root\0x\n\nbody\n";
	static const char msg[] = "From: Root User <root>\n"
	                          "To: \"Doe, John\" <john@host.local>,\n"
	                          "  www-data@localhost (the web server)\n"
	                          "Cc: undisclosed-recipients:;\n"
	                          "Reply-To: team: a@other.example, b;\n"
	                          "Sender: root\n"
	                          "Resent-From: root@host.local\n"
	                          "Resent-To: bob\n"
	                          "Subject: root@host.local stays\n"
	                          "X-To: root\n"
	                          "\n"
	                          "To: root in the body stays\n";
	static const char want[] =
	    "From: Root User <server1@example.com>\n"
	    "To: \"Doe, John\" <john@example.com>,\n"
	    "  web@example.com (the web server)\n"
	    "Cc: undisclosed-recipients:;\n"
	    "Reply-To: team: a@other.example, b@example.com;\n"
	    "Sender: server1@example.com\n"
	    "Resent-From: server1@example.com\n"
	    "Resent-To: bob@example.com\n"
	    "Subject: root@host.local stays\n"
	    "X-To: root\n"
	    "\n"
	    "To: root in the body stays\n";
	struct rewrite rw;
	size_t len = 0;
	char *out;

	setup(&rw, "");
	is_str(hdr(&rw, " root"), " server1@example.com",
	    "unqualified, then mapped");
	is_str(hdr(&rw, " bob"), " bob@example.com",
	    "bob@host.local by @host.local");
	is_str(hdr(&rw, " Bob Smith <someone@example.org>"), "(same)",
	    "nothing to do");
	is_str(hdr(&rw, " =?utf-8?q?J=C3=B6rg?= <root@host.local>"),
	    " =?utf-8?q?J=C3=B6rg?= <server1@example.com>",
	    "encoded display name kept");
	is_str(hdr(&rw, " <>"), "(same)", "empty address left alone");
	is_str(
	    hdr(&rw, " John Doe"), "(same)", "a bare phrase is not an address");
	is_str(hdr(&rw, " \"x, y\"@host.local, (c) root (d)"),
	    " \"x, y\"@example.com, (c) server1@example.com (d)",
	    "quoted local parts and comments");
	out = rewrite_header_fields(&rw, msg, strlen(msg), &len);
	is_str(out, want,
	    "From/To/Cc/Reply-To/Sender/Resent-* rewritten, nothing else");
	is_int(len, strlen(want), "its length");
	free(out);
	ok(rewrite_header_fields(&rw, "Subject: x\n\nbody\n", 17, &len) == NULL,
	    "no address fields: unchanged");
	/* no address holds a NUL: one that seems to is left alone (and
	 * never read past its end) */
	ok(rewrite_header_fields(&rw, nul_msg, sizeof(nul_msg) - 1, &len) ==
	        NULL,
	    "an address with a NUL in it is left as it is");
	rewrite_free(&rw);
}

/*
 * 200 000 recipients, each named twice: one of each is kept, in order.
 * A scan of the results for every recipient (as pickup once did, inside
 * the queue's write transaction) would take minutes here; the alarm
 * turns that into a failure, a hundred times what the index needs.
 */
static void
test_many_recipients(void)
{
	struct rewrite rw;
	struct rw_result res;
	size_t i, n = 200000, bad = 0;
	char **v = calloc(2 * n, sizeof(*v));

	setup(&rw, "");
	for (i = 0; i < 2 * n; i++)
		if (asprintf(&v[i], "user%zu@example.org", i % n) == -1)
			abort();
	alarm(20);
	rewrite_recipients(&rw, v, NULL, 2 * n, &res);
	alarm(0);
	is_int(res.n, n, "each of 200 000 recipients once");
	for (i = 0; i < res.n && i < n; i++)
		bad += strcmp(res.r[i].addr, v[i]) != 0;
	is_int(bad, 0, "in the order first named");
	rw_result_free(&res);
	for (i = 0; i < 2 * n; i++)
		free(v[i]);
	free(v);
	rewrite_free(&rw);
}

/* Each result's ORCPT: the submitter's, kept through every expansion;
 * without one, the submitted address when rewriting changed it. */
static void
test_orcpt(void)
{
	char *v[] = {"root@host.local", "ops@host.local", "plain@example.org",
	    "partner@old.example", "nobody@host.local"};
	char *o[] = {
	    "rfc822;Boss@example.com", "", "rfc822;p+x@example.org", "", ""};
	struct rewrite rw;
	struct rw_result res;
	char out[1024] = "";
	size_t i;

	setup(&rw, "");
	rewrite_recipients(&rw, v, o, 5, &res);
	for (i = 0; i < res.n; i++) {
		if (i > 0)
			strlcat(out, " ", sizeof(out));
		strlcat(out, res.r[i].addr, sizeof(out));
		strlcat(out, "[", sizeof(out));
		strlcat(out, res.r[i].orcpt, sizeof(out));
		strlcat(out, "]", sizeof(out));
	}
	is_str(out,
	    "admin@example.net[rfc822;Boss@example.com] "
	    "oncall@host.local[rfc822;ops@host.local] "
	    "plain@example.org[rfc822;p+x@example.org] "
	    "new@partner.example[rfc822;partner@old.example] "
	    "nobody@host.local[]",
	    "ORCPT kept through an alias; an expanded alias and a mapped "
	    "address get the original; unchanged ones get none");
	rw_result_free(&res);
	rewrite_free(&rw);

	setup(&rw, "@relay.example");
	rewrite_recipients(&rw, v + 4, NULL, 1, &res);
	ok(res.n == 1 && strcmp(res.r[0].addr, "nobody@relay.example") == 0 &&
	        strcmp(res.r[0].orcpt, "rfc822;nobody@host.local") == 0,
	    "local_recipient_forward: the original recipient as ORCPT");
	rw_result_free(&res);
	rewrite_free(&rw);
}

int
main(void)
{
	test_generic();
	test_recipients();
	test_orcpt();
	test_headers();
	test_many_recipients();
	return done_testing();
}
