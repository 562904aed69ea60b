/*
 * fuzz_http.c - ncmta-metricsd's request head parser
 * (daemons/metricsd/http.c) on any bytes, each prefix fed as the daemon
 * sees a head arrive in pieces. The answer must be one the daemon knows,
 * and must not change once given: a head that is complete (or already
 * bad) stays so as more bytes come; only 200 needs a complete head.
 */
#include "fuzz.h"
#include "http.h"

static int
known(int st)
{
	return st == 0 || st == 200 || st == 400 || st == 404 || st == 405 ||
	    st == 431 || st == 505;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	size_t n, cut = size > HTTP_MAX_HEAD ? HTTP_MAX_HEAD : size;
	int st, first = 0;

	/* a copy of exactly the size: ASan sees any read past the end */
	buf = malloc(cut ? cut : 1);
	memcpy(buf, data, cut);
	for (n = 0; n <= cut; n++) {
		st = http_request_status(buf, n);
		FUZZ_CHECK(known(st), "status %d", st);
		FUZZ_CHECK(st != 431 || n == HTTP_MAX_HEAD, "431 at %zu", n);
		if (first != 0 && first != 431)
			FUZZ_CHECK(st == first, "%d after %d", st, first);
		if (first == 0 && st == 200)
			FUZZ_CHECK(n >= 2 && buf[n - 1] == '\n',
			    "200 before the empty line");
		if (first == 0)
			first = st;
	}
	free(buf);
	return 0;
}
