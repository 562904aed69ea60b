/*
 * fuzz_addr.c - address parsing (common/addr.c). The input's first
 * octet chooses the origin, whether the null sender is allowed and
 * whether UTF-8 is (ADDR_UTF8); the rest is both an envelope address
 * for addr_normalize() and a header value for addr_list_parse(), whose
 * addresses are normalised in turn and de-duplicated with addr_dedup().
 * A normalised address holds no control character, no 8-bit octet
 * (with ADDR_UTF8: only well-formed UTF-8, no C1 control), one '@'
 * before a domain without ASCII upper case, and normalises to itself.
 */
#include <ctype.h>

#include "addr.h"
#include "fuzz.h"

struct list {
	char **v;
	size_t n;
	int calls;
	const char *origin;
	int utf8; /* ADDR_UTF8 or 0 */
};

/* With ADDR_UTF8: well-formed UTF-8 and no C1 control (U+0080-U+009F). */
static void
check_utf8(const char *a, size_t n)
{
	const unsigned char *u = (const unsigned char *)a;
	size_t i, len;

	for (i = 0; i < n; i++) {
		if (u[i] < 0x80)
			continue;
		len = addr_utf8_len(u + i, n - i);
		FUZZ_CHECK(len >= 2, "bad UTF-8 at %zu in \"%s\"", i, a);
		FUZZ_CHECK(!(u[i] == 0xc2 && u[i + 1] < 0xa0),
		    "C1 control at %zu in \"%s\"", i, a);
		i += len - 1;
	}
}

static void
check_normal(const char *a, const char *origin, int flags)
{
	char again[ADDR_MAX];
	const char *err = NULL, *dom;
	size_t i, n = strlen(a);

	if (n == 0) {
		FUZZ_CHECK(flags & ADDR_NULL_OK,
		    "null address without "
		    "ADDR_NULL_OK");
		return;
	}
	FUZZ_CHECK(n < ADDR_MAX, "length %zu", n);
	FUZZ_CHECK(!addr_has_control(a, n), "control character in \"%s\"", a);
	if (flags & ADDR_UTF8)
		check_utf8(a, n);
	else
		for (i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)a[i] < 0x80,
			    "8-bit octet in \"%s\"", a);
	dom = addr_domain(a);
	FUZZ_CHECK(dom != a && *dom != '\0' && dom[-1] == '@',
	    "no domain in \"%s\"", a);
	for (i = 0; dom[i] != '\0'; i++)
		FUZZ_CHECK(!isupper((unsigned char)dom[i]),
		    "upper case domain in \"%s\"", a);
	FUZZ_CHECK(
	    addr_normalize(a, origin, flags, again, sizeof(again), &err) == 0,
	    "\"%s\" does not normalise again: %s", a, err);
	FUZZ_CHECK(
	    strcmp(a, again) == 0, "\"%s\" normalises to \"%s\"", a, again);
}

static void
collect(const char *raw, void *arg)
{
	struct list *l = arg;
	char out[ADDR_MAX];
	const char *err;

	l->calls++;
	FUZZ_CHECK(*raw != '\0', "empty address from a list");
	FUZZ_CHECK(
	    strlen(raw) < ADDR_MAX * 2, "address of %zu octets", strlen(raw));
	if (addr_normalize(raw, l->origin, l->utf8, out, sizeof(out), &err) ==
	    -1)
		return;
	check_normal(out, l->origin, l->utf8);
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (l->v == NULL || (l->v[l->n] = strdup(out)) == NULL)
		abort();
	l->n++;
}

/* addr_dedup() keeps the first of each address, in order. */
static void
check_dedup(struct list *l)
{
	char **want = calloc(l->n + 1, sizeof(*want));
	size_t i, j, nwant = 0, n;

	if (want == NULL)
		abort();
	for (i = 0; i < l->n; i++) {
		for (j = 0; j < nwant; j++)
			if (strcmp(want[j], l->v[i]) == 0)
				break;
		if (j == nwant)
			want[nwant++] = l->v[i];
	}
	n = addr_dedup(l->v, l->n);
	FUZZ_CHECK(n == nwant, "%zu left of %zu, want %zu", n, l->n, nwant);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(l->v[i] == want[i], "order changed at %zu", i);
	for (i = 0; i < n; i++)
		free(l->v[i]);
	free(want);
	free(l->v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	const char *origin = (mode & 2) ? "" : "Example.ORG";
	int flags =
	        ((mode & 1) ? ADDR_NULL_OK : 0) | ((mode & 4) ? ADDR_UTF8 : 0),
	    count;
	struct list l = {NULL, 0, 0, NULL, flags & ADDR_UTF8};
	char out[ADDR_MAX], small[8], *s = fuzz_cstr(in.p, in.len);
	const char *err = NULL;

	if (addr_normalize(s, origin, flags, out, sizeof(out), &err) == 0)
		check_normal(out, origin, flags);
	else
		FUZZ_CHECK(err != NULL && *err != '\0', "no reason");
	/* a short output buffer is refused, never overrun */
	if (addr_normalize(s, origin, flags, small, sizeof(small), &err) == 0)
		FUZZ_CHECK(strlen(small) < sizeof(small), "short buffer");
	l.origin = *origin ? origin : "example.org";
	count = addr_list_parse(s, collect, &l);
	FUZZ_CHECK(count == -1 || count == l.calls, "count %d, %d calls", count,
	    l.calls);
	check_dedup(&l);
	free(s);
	return 0;
}
