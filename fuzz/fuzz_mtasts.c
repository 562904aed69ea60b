/*
 * fuzz_mtasts.c - MTA-STS text (common/mtasts.c). The input is both a
 * _mta-sts TXT record and a policy file. A record taken has an id of 1
 * to 32 letters and digits and reads again the same; a policy taken has
 * its three fields in range, at most MTASTS_MAX_MX lower-case patterns
 * (none only in mode none), matches each of its own patterns, and reads
 * again the same when written out. A refusal always has a reason.
 */
#include "fuzz.h"
#include "mtasts.h"

#define WHY_LEN 200

/* A reason: not empty, within its buffer. */
static void
check_why(const char *why)
{
	FUZZ_CHECK(
	    memchr(why, '\0', WHY_LEN) != NULL && *why != '\0', "no reason");
}

static void
check_txt(const uint8_t *data, size_t size)
{
	char id[MTASTS_ID_MAX + 2], again[MTASTS_ID_MAX + 2], why[WHY_LEN];
	char rec[MTASTS_ID_MAX + 16];
	int r;
	size_t n;

	memset(id, 'x', sizeof(id));
	memset(why, 'x', sizeof(why));
	r = mtasts_txt_parse((const char *)data, size, id, why, sizeof(why));
	FUZZ_CHECK(r >= -1 && r <= 1, "result %d", r);
	FUZZ_CHECK(id[MTASTS_ID_MAX + 1] == 'x', "wrote past the id");
	FUZZ_CHECK((r != 0) == (size >= 7 && memcmp(data, "v=STSv1", 7) == 0),
	    "result %d for a record starting \"%.*s\"", r,
	    (int)(size < 7 ? size : 7), (const char *)data);
	if (r == -1)
		check_why(why);
	if (r != 1) {
		FUZZ_CHECK(*id == '\0', "id \"%.32s\" left after %d", id, r);
		return;
	}
	n = strnlen(id, MTASTS_ID_MAX + 1);
	FUZZ_CHECK(n >= 1 && n <= MTASTS_ID_MAX, "id of %zu octets", n);
	FUZZ_CHECK(strspn(id,
	               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
	               "WXYZ0123456789") == n,
	    "id \"%s\"", id);
	FUZZ_CHECK(memchr(data, '\0', size) == NULL, "NUL taken");
	snprintf(rec, sizeof(rec), "v=STSv1; id=%s;", id);
	FUZZ_CHECK(
	    mtasts_txt_parse(rec, strlen(rec), again, why, sizeof(why)) == 1 &&
	        strcmp(again, id) == 0,
	    "\"%s\" does not read again", rec);
}

/* A pattern as the parser keeps it: ["*."] lower-case LDH name. */
static void
check_pattern(const char *mx)
{
	size_t n = strnlen(mx, MTASTS_MX_MAX + 1), skip;

	FUZZ_CHECK(n >= 1 && n <= MTASTS_MX_MAX, "pattern of %zu octets", n);
	skip = mx[0] == '*' ? 2 : 0;
	FUZZ_CHECK(skip == 0 || mx[1] == '.', "pattern \"%s\"", mx);
	FUZZ_CHECK(n > skip &&
	        strspn(mx + skip, "abcdefghijklmnopqrstuvwxyz0123456789.-") ==
	            n - skip &&
	        mx[skip] != '.' && mx[skip] != '-' && mx[n - 1] != '.' &&
	        mx[n - 1] != '-' && strstr(mx, "..") == NULL,
	    "pattern \"%s\"", mx);
}

/* Names the pattern stands for must match: the wildcard's label as
 * "Mx", in upper case, with and without a final dot. */
static void
check_match(const struct mtasts_policy *p, const char *mx)
{
	char host[MTASTS_MX_MAX + 8];
	size_t i;

	snprintf(host, sizeof(host), "%s%s.", mx[0] == '*' ? "Mx" : "",
	    mx + (mx[0] == '*'));
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] >= 'a' && host[i] <= 'z')
			host[i] = (char)(host[i] - 'a' + 'A');
	FUZZ_CHECK(mtasts_mx_match(p, host), "\"%s\" does not match", host);
	host[strlen(host) - 1] = '\0';
	FUZZ_CHECK(mtasts_mx_match(p, host), "\"%s\" does not match", host);
}

/* The patterns as text: whole in a buffer that fits, cut but terminated
 * in a short one. */
static void
check_mx_text(const struct mtasts_policy *p)
{
	static char full[MTASTS_MAX_MX * (MTASTS_MX_MAX + 2) + 1];
	char cut[16];
	size_t want = 0, k;
	int i;

	for (i = 0; i < p->nmx; i++)
		want += strlen(p->mx[i]) + (i > 0 ? 2 : 0);
	mtasts_mx_text(p, full, sizeof(full));
	FUZZ_CHECK(strlen(full) == want, "text of %zu octets, not %zu",
	    strlen(full), want);
	for (k = 1; k <= sizeof(cut); k += 5) {
		memset(cut, 'x', sizeof(cut));
		mtasts_mx_text(p, cut, k);
		FUZZ_CHECK(strlen(cut) < k && strncmp(cut, full, k - 1) == 0,
		    "text cut to %zu: \"%s\"", k, cut);
	}
}

/* The policy written out as a file reads again the same. */
static void
check_again(const struct mtasts_policy *p)
{
	static char text[MTASTS_MAX_MX * (MTASTS_MX_MAX + 6) + 128];
	static struct mtasts_policy q;
	char why[WHY_LEN];
	size_t n;
	int i;

	n = (size_t)snprintf(text, sizeof(text),
	    "version: STSv1\r\nmode: %s\r\nmax_age: %u\r\n",
	    mtasts_mode_name(p->mode), (unsigned int)p->max_age);
	for (i = 0; i < p->nmx; i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n, "mx: %s\r\n", p->mx[i]);
	FUZZ_CHECK(mtasts_policy_parse(text, n, &q, why, sizeof(why)) == 0,
	    "written out, refused: %s", why);
	FUZZ_CHECK(
	    q.mode == p->mode && q.max_age == p->max_age && q.nmx == p->nmx,
	    "written out, read differently");
	for (i = 0; i < p->nmx; i++)
		FUZZ_CHECK(strcmp(q.mx[i], p->mx[i]) == 0, "mx %d differs", i);
}

static void
check_policy(const uint8_t *data, size_t size)
{
	static struct mtasts_policy p;
	char why[WHY_LEN], *host;
	size_t i;
	int r;

	memset(why, 'x', sizeof(why));
	r = mtasts_policy_parse((const char *)data, size, &p, why, sizeof(why));
	FUZZ_CHECK(r == 0 || r == -1, "result %d", r);
	if (r == -1) {
		check_why(why);
		FUZZ_CHECK(
		    p.nmx == 0 && p.mode == MTASTS_NONE && p.max_age == 0,
		    "a refused policy left filled");
		return;
	}
	FUZZ_CHECK(size <= MTASTS_POLICY_MAX, "%zu octets taken", size);
	for (i = 0; i < size; i++)
		FUZZ_CHECK(data[i] != '\0' && data[i] < 0x7f,
		    "octet 0x%02x taken", data[i]);
	FUZZ_CHECK(p.mode == MTASTS_NONE || p.mode == MTASTS_TESTING ||
	        p.mode == MTASTS_ENFORCE,
	    "mode %d", (int)p.mode);
	FUZZ_CHECK(p.max_age <= MTASTS_MAX_AGE_MAX, "max_age %u",
	    (unsigned int)p.max_age);
	FUZZ_CHECK(
	    p.nmx >= (p.mode == MTASTS_NONE ? 0 : 1) && p.nmx <= MTASTS_MAX_MX,
	    "%d mx in mode %s", p.nmx, mtasts_mode_name(p.mode));
	for (i = 0; i < (size_t)p.nmx; i++) {
		check_pattern(p.mx[i]);
		check_match(&p, p.mx[i]);
	}
	/* no pattern is "-" or a name without a label */
	FUZZ_CHECK(!mtasts_mx_match(&p, "-") && !mtasts_mx_match(&p, ".") &&
	        !mtasts_mx_match(&p, ""),
	    "a name no pattern stands for matches");
	host = fuzz_cstr(data, size);
	(void)mtasts_mx_match(&p, host);
	free(host);
	check_mx_text(&p);
	check_again(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_txt(data, size);
	check_policy(data, size);
	return 0;
}
