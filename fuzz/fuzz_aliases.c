/*
 * fuzz_aliases.c - the aliases file (common/aliases.c aliases_parse(),
 * then aliases_expand() of every name, as pickup expands a local
 * recipient). A table holds sorted, unique, lower-case names that
 * aliases_lookup() finds; an expansion is bounded (ALIAS_MAX_RESULTS),
 * and its addresses normalise, without control characters, once each.
 */
#include <ctype.h>

#include "addr.h"
#include "aliases.h"
#include "fuzz.h"

#define ORIGIN "host.local"

static int
is_local(const char *addr, void *arg)
{
	(void)arg;
	return strcasecmp(addr_domain(addr), ORIGIN) == 0;
}

static void
check_expansion(const struct alias_expansion *x)
{
	char out[ADDR_MAX];
	const char *err;
	size_t i, j;

	FUZZ_CHECK(x->n <= ALIAS_MAX_RESULTS, "%zu addresses", x->n);
	if (x->status != ALIAS_OK)
		FUZZ_CHECK(x->n == 0 && x->why != NULL && *x->why != '\0',
		    "status %d", x->status);
	for (i = 0; i < x->n; i++) {
		FUZZ_CHECK(addr_normalize(x->addr[i], ORIGIN, 0, out,
		               sizeof(out), &err) == 0 &&
		        !addr_has_control(out, strlen(out)),
		    "address \"%s\"", x->addr[i]);
		for (j = 0; j < i && i < 100; j++)
			FUZZ_CHECK(strcmp(x->addr[i], x->addr[j]) != 0,
			    "\"%s\" twice", x->addr[i]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alias_table t;
	struct alias_expansion x;
	struct cf_errors e = {NULL, 0};
	char *text = fuzz_cstr(data, size), *addr;
	FILE *null;
	size_t i, k;
	int rc;

	rc = aliases_parse("aliases", text, &t, &e);
	FUZZ_CHECK(
	    (rc == 0) == (e.count == 0), "result %d, %d errors", rc, e.count);
	for (i = 0; i < t.n; i++) {
		FUZZ_CHECK(*t.a[i].name != '\0' &&
		        strpbrk(t.a[i].name, "@\r\n") == NULL,
		    "name \"%s\"", t.a[i].name);
		for (k = 0; t.a[i].name[k] != '\0'; k++)
			FUZZ_CHECK(!isupper((unsigned char)t.a[i].name[k]),
			    "name \"%s\" not lower-cased", t.a[i].name);
		FUZZ_CHECK(i == 0 || strcmp(t.a[i - 1].name, t.a[i].name) < 0,
		    "names not sorted and unique");
		FUZZ_CHECK(aliases_lookup(&t, t.a[i].name) == &t.a[i],
		    "lookup of \"%s\"", t.a[i].name);
	}
	if ((null = fopen("/dev/null", "w")) != NULL) {
		aliases_print_warnings(&t, null, "warning: ");
		fclose(null);
	}
	/* each expansion may visit ALIAS_MAX_VISITS aliases: a few names */
	for (i = 0; i < t.n && i < 8; i++) {
		if (asprintf(&addr, "%s@" ORIGIN, t.a[i].name) == -1)
			abort();
		aliases_expand(&t, addr, ORIGIN, is_local, NULL, &x);
		check_expansion(&x);
		alias_expansion_free(&x);
		free(addr);
	}
	aliases_free(&t);
	cf_errors_free(&e);
	free(text);
	return 0;
}
