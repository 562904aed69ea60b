/*
 * fuzz_rewrite.c - address rewriting at submission (common/rewrite.c),
 * with fixed small aliases and generic_maps tables set up by
 * rewrite_init(). The input is a message: rewrite_header_fields() must
 * change nothing but the addresses of the address fields -- the same
 * fields in the same order, other fields and the body untouched, no line
 * break, CR or NUL that was not there, and every rewritten list parses
 * to as many addresses as before. The addresses of To:/Cc: then go
 * through rewrite_recipients() as pickup's envelope would.
 */
#include "addr.h"
#include "dsnparam.h"
#include "fuzz.h"
#include "maildrop.h"
#include "rewrite.h"

#define ORIGIN "host.local"

static const char aliases[] = "root: admin@example.net, \\root\n"
                              "postmaster: root\n"
                              "ops: admin@example.net, oncall\n"
                              "oncall: \"on call\"@example.com, ops\n"
                              "loop1: loop2\n"
                              "loop2: loop1\n"
                              "both: admin@example.net, root\n"
                              "cmd: |/usr/bin/true, /var/mail/x\n"
                              "\"quoted name\": root\n"
                              "me: me\n";

static const char generic[] = "# generic_maps\n"
                              "root@host.local   server1@example.com\n"
                              "www-data          web@example.com\n"
                              "@host.local       @example.com\n"
                              "Partner@Old.Example  new@partner.example\n"
                              "@localhost        @example.com\n";

static struct rewrite rw;

static void
setup(void)
{
	struct nc_config cfg;
	struct cf_errors e = {NULL, 0};

	config_defaults(&cfg);
	free(cfg.myorigin);
	cfg.myorigin = strdup(ORIGIN);
	free(cfg.mydestination);
	cfg.mydestination = strdup("host.local, localhost");
	free(cfg.local_recipient_forward);
	cfg.local_recipient_forward = strdup("@forward.example");
	if (rewrite_init(&rw, &cfg, aliases, generic, &e) != 0) {
		fprintf(stderr, "%s", e.text);
		abort();
	}
	cf_errors_free(&e);
	config_free(&cfg);
}

struct addrs {
	char **v;
	size_t n;
};

static void
count_cb(const char *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

static void
collect_cb(const char *raw, void *arg)
{
	struct addrs *l = arg;
	char out[ADDR_MAX];
	const char *err;

	if (addr_normalize(raw, ORIGIN, 0, out, sizeof(out), &err) == -1)
		return;
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (l->v == NULL || (l->v[l->n] = strdup(out)) == NULL)
		abort();
	l->n++;
}

static int
list_count(const char *v, size_t len)
{
	char *s = fuzz_cstr((const uint8_t *)v, len);
	int n = 0, r;

	r = addr_list_parse(s, count_cb, &n);
	free(s);
	return r;
}

/* One field before and after: same name; an address field's addresses
 * rewritten, anything else left as it was. */
static void
check_field(const struct msg_field *a, const struct msg_field *b)
{
	int before, after;

	FUZZ_CHECK(a->namelen == b->namelen &&
	        memcmp(a->name, b->name, a->namelen) == 0,
	    "field %.*s became %.*s", (int)a->namelen, a->name, (int)b->namelen,
	    b->name);
	FUZZ_CHECK(fuzz_count(b->start, b->len, '\n') <=
	            fuzz_count(a->start, a->len, '\n') &&
	        fuzz_count(b->start, b->len, '\r') <=
	            fuzz_count(a->start, a->len, '\r') &&
	        fuzz_count(b->start, b->len, '\0') <=
	            fuzz_count(a->start, a->len, '\0'),
	    "a line break, CR or NUL appeared in %.*s", (int)a->namelen,
	    a->name);
	if (a->len == b->len && memcmp(a->start, b->start, a->len) == 0)
		return;
	before = list_count(a->value, a->valuelen);
	after = list_count(b->value, b->valuelen);
	FUZZ_CHECK(before == -1 || before == after,
	    "%.*s had %d addresses, now %d: \"%.*s\" -> \"%.*s\"",
	    (int)a->namelen, a->name, before, after, (int)a->valuelen, a->value,
	    (int)b->valuelen, b->value);
}

static void
check_header(const char *msg, size_t len, const char *out, size_t outlen)
{
	struct msg_field a, b;
	size_t pa = 0, pb = 0;

	while (msg_field_next(msg, len, &pa, &a)) {
		FUZZ_CHECK(msg_field_next(out, outlen, &pb, &b) == 1,
		    "field %.*s is gone", (int)a.namelen, a.name);
		check_field(&a, &b);
	}
	FUZZ_CHECK(msg_field_next(out, outlen, &pb, &b) == 0,
	    "field %.*s appeared", (int)b.namelen, b.name);
	FUZZ_CHECK(len - pa == outlen - pb &&
	        memcmp(msg + pa, out + pb, len - pa) == 0,
	    "the body changed");
}

static void
check_recipients(const char *msg, size_t len)
{
	struct addrs l = {NULL, 0};
	struct rw_result res;
	struct msg_field f;
	size_t pos = 0, i, j;
	char *v;

	while (msg_field_next(msg, len, &pos, &f))
		if (msg_field_is(&f, "to") || msg_field_is(&f, "cc")) {
			v = fuzz_cstr((const uint8_t *)f.value, f.valuelen);
			(void)addr_list_parse(v, collect_cb, &l);
			free(v);
		}
	l.n = addr_dedup(l.v, l.n);
	rewrite_recipients(&rw, l.v, NULL, l.n, &res);
	FUZZ_CHECK(res.n <= l.n * ALIAS_MAX_RESULTS, "%zu results", res.n);
	for (i = 0; i < res.n; i++) {
		FUZZ_CHECK(*res.r[i].addr != '\0' &&
		        !addr_has_control(res.r[i].addr, strlen(res.r[i].addr)),
		    "result \"%s\"", res.r[i].addr);
		FUZZ_CHECK(*res.r[i].dsn == '\0' ||
		        strcmp(res.r[i].dsn, "5.1.1") == 0 ||
		        strcmp(res.r[i].dsn, "5.4.6") == 0,
		    "status %s", res.r[i].dsn);
		FUZZ_CHECK(
		    *res.r[i].orcpt == '\0' || dsn_orcpt_valid(res.r[i].orcpt),
		    "ORCPT \"%s\"", res.r[i].orcpt);
		for (j = 0; j < i && i < 200; j++)
			FUZZ_CHECK(strcmp(res.r[i].addr, res.r[j].addr) != 0,
			    "\"%s\" twice", res.r[i].addr);
	}
	rw_result_free(&res);
	for (i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	size_t outlen = 0;
	char *out;

	if (rw.myorigin == NULL)
		setup();
	out = rewrite_header_fields(&rw, msg, size, &outlen);
	if (out != NULL) {
		FUZZ_CHECK(out[outlen] == '\0', "not terminated");
		check_header(msg, size, out, outlen);
		free(out);
	}
	check_recipients(msg, size);
	return 0;
}
