/*
 * fuzz_generic.c - generic_maps (common/rewrite.c generic_parse()), then
 * rewrite_generic() of each key as pickup maps an envelope address. Keys
 * are lower-case and unique; a mapped address normalises and holds no
 * control character.
 */
#include <ctype.h>

#include "addr.h"
#include "fuzz.h"
#include "rewrite.h"

static struct rewrite rw;

/* pickup maps normalised addresses only */
static void
check_mapped(const char *raw)
{
	char *g, from[ADDR_MAX], out[ADDR_MAX];
	const char *err;

	if (addr_normalize(raw, "host.local", 0, from, sizeof(from), &err) ==
	        -1 ||
	    (g = rewrite_generic(&rw, from)) == NULL)
		return;
	FUZZ_CHECK(strcmp(g, from) != 0, "\"%s\" mapped to itself", from);
	FUZZ_CHECK(
	    !addr_has_control(g, strlen(g)), "\"%s\" gave \"%s\"", from, g);
	FUZZ_CHECK(
	    addr_normalize(g, "host.local", 0, out, sizeof(out), &err) == 0 ||
	        strlen(g) >= ADDR_MAX - 1,
	    "\"%s\" gave \"%s\": %s", from, g, err);
	free(g);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_errors e = {NULL, 0};
	char *text = fuzz_cstr(data, size), *a;
	size_t i, k;
	int rc;

	if (rw.myorigin == NULL) {
		rw.myorigin = strdup("host.local");
		rw.mydest = calloc(1, sizeof(*rw.mydest));
		rw.mydest[0] = strdup("host.local");
		rw.nmydest = 1;
	}
	rc = generic_parse("generic", text, &rw.generic, &e);
	FUZZ_CHECK(
	    (rc == 0) == (e.count == 0), "result %d, %d errors", rc, e.count);
	for (i = 0; i < rw.generic.n; i++) {
		const struct generic_map *m = &rw.generic.m[i];

		for (k = 0; m->key[k] != '\0'; k++)
			FUZZ_CHECK(!isupper((unsigned char)m->key[k]),
			    "key \"%s\"", m->key);
		for (k = 0; k < i && i < 200; k++)
			FUZZ_CHECK(strcmp(rw.generic.m[k].key, m->key) != 0,
			    "key \"%s\" twice", m->key);
	}
	for (i = 0; i < rw.generic.n && i < 50; i++) {
		a = rw.generic.m[i].key;
		if (*a == '@' || strchr(a, '@') == NULL) {
			char full[ADDR_MAX * 2];

			snprintf(full, sizeof(full), "%s%s%s",
			    *a == '@' ? "user" : a, *a == '@' ? "" : "@",
			    *a == '@' ? a : "host.local");
			check_mapped(full);
		} else
			check_mapped(a);
	}
	check_mapped("root@host.local");
	generic_free(&rw.generic);
	cf_errors_free(&e);
	free(text);
	return 0;
}
