/*
 * fuzz_hostlist.c - host lists (common/hostlist.c hostlist_parse()):
 * smart_host, the routing table's hosts, secrets_file's first field. At
 * most max hosts, each with a name that fits and a port in 1-65535; a
 * refusal comes with a reason. The first octet of the input chooses how
 * many hosts the caller has room for.
 */
#include "fuzz.h"
#include "hostlist.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_spec h[HOSTLIST_MAX + 1];
	struct fuzz_in in = {data, size};
	int n, i, max = fuzz_u8(&in) % (HOSTLIST_MAX + 1);
	char *spec = fuzz_cstr(in.p, in.len), err[300];

	memset(h, 0x5a, sizeof(h));
	memset(err, 'x', sizeof(err));
	n = hostlist_parse(spec, h, max, err, sizeof(err));
	if (n == -1)
		FUZZ_CHECK(
		    memchr(err, '\0', sizeof(err)) != NULL && *err != '\0',
		    "no reason");
	FUZZ_CHECK(n >= -1 && n <= max, "%d hosts for %d", n, max);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(memchr(h[i].name, '\0', sizeof(h[i].name)) != NULL &&
		        h[i].name[0] != '\0',
		    "host name");
		FUZZ_CHECK(
		    h[i].port >= 1 && h[i].port <= 65535, "port %u", h[i].port);
		FUZZ_CHECK(
		    h[i].bracketed == 0 || h[i].bracketed == 1, "bracketed");
		FUZZ_CHECK(strpbrk(h[i].name, " \t,") == NULL,
		    "separator in \"%s\"", h[i].name);
	}
	FUZZ_CHECK(h[max].port == 0x5a5a5a5a, "wrote past the array");
	free(spec);
	return 0;
}
