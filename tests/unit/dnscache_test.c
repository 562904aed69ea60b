/*
 * dnscache_test.c - the resolver's answer cache with a clock the test
 * moves: TTL expiry and caps, negative entries, TEMPFAIL never kept,
 * LRU eviction at the size bound, flush and copies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../common/proto.h"
#include "../../common/util.h"
#include "../../daemons/resolver/cache.h"

static struct dns_result
answer(int status, uint32_t ttl, const char *data)
{
	struct dns_result r;

	dns_result_init(&r, status);
	r.ttl = ttl;
	if (data != NULL) {
		r.rr = xcalloc(1, sizeof(*r.rr));
		r.rr[0].pref = 10;
		r.rr[0].data = xstrdup(data);
		r.n = 1;
	}
	return r;
}

static int
cached(struct dns_cache *c, int qtype, const char *name, int64_t now)
{
	uint32_t left;

	return dns_cache_get(c, qtype, name, now, &left) != NULL;
}

static void
test_ttl(void)
{
	struct dns_cache *c = dns_cache_new(100, 3600, 300);
	struct dns_result r = answer(DNS_S_OK, 300, "mx1.example.test");
	const struct dns_result *got;
	uint32_t left = 0;

	is_int(dns_cache_put(c, DNS_T_MX, "example.test", &r, 1000), 300,
	    "kept for its TTL");
	got = dns_cache_get(c, DNS_T_MX, "example.test", 1000, &left);
	ok(got != NULL && got->n == 1 &&
	        strcmp(got->rr[0].data, "mx1.example.test") == 0,
	    "found with its record");
	is_int(left, 300, "full lifetime left at once");
	got = dns_cache_get(c, DNS_T_MX, "example.test", 1299, &left);
	ok(got != NULL, "still there a second before expiry");
	is_int(left, 1, "one second left");
	ok(!cached(c, DNS_T_MX, "example.test", 1300), "gone at expiry");
	is_int(dns_cache_count(c), 0, "the expired entry is dropped");
	ok(!cached(c, DNS_T_A, "example.test", 1000), "type is in the key");
	dns_result_free(&r);

	r = answer(DNS_S_OK, 86400, "mx1.example.test");
	is_int(dns_cache_put(c, DNS_T_MX, "example.test", &r, 0), 3600,
	    "capped by resolver_max_ttl");
	dns_result_free(&r);
	r = answer(DNS_S_OK, 0, "mx1.example.test");
	is_int(dns_cache_put(c, DNS_T_MX, "zero.test", &r, 0), 0,
	    "TTL 0 is not kept");
	ok(!cached(c, DNS_T_MX, "zero.test", 0), "TTL 0 not found");
	dns_result_free(&r);
	dns_cache_free(c);

	c = dns_cache_new(100, 0, 0);
	r = answer(DNS_S_OK, 300, "mx1.example.test");
	is_int(dns_cache_put(c, DNS_T_MX, "example.test", &r, 0), 0,
	    "resolver_max_ttl = 0 keeps nothing");
	dns_result_free(&r);
	dns_cache_free(c);
}

static void
test_negative(void)
{
	struct dns_cache *c = dns_cache_new(100, 3600, 300);
	struct dns_result r;
	const struct dns_result *got;
	uint32_t left;

	r = answer(DNS_S_NXDOMAIN, 900, NULL);
	is_int(dns_cache_put(c, DNS_T_MX, "nx.test", &r, 0), 300,
	    "NXDOMAIN capped by resolver_negative_ttl");
	got = dns_cache_get(c, DNS_T_MX, "nx.test", 10, &left);
	ok(got != NULL && got->status == DNS_S_NXDOMAIN, "NXDOMAIN cached");
	is_int(left, 290, "NXDOMAIN lifetime counts down");
	ok(!cached(c, DNS_T_MX, "nx.test", 300), "NXDOMAIN expires");

	r = answer(DNS_S_NODATA, 60, NULL);
	is_int(dns_cache_put(c, DNS_T_AAAA, "v4only.test", &r, 0), 60,
	    "NODATA kept for its SOA TTL");
	r = answer(DNS_S_NODATA, 0, NULL);
	is_int(dns_cache_put(c, DNS_T_AAAA, "nosoa.test", &r, 0), 0,
	    "NODATA without SOA not kept");
	r = answer(DNS_S_TEMPFAIL, 600, NULL);
	is_int(dns_cache_put(c, DNS_T_MX, "down.test", &r, 0), 0,
	    "TEMPFAIL never kept");
	ok(!cached(c, DNS_T_MX, "down.test", 0), "TEMPFAIL not found");

	/* a temporary failure after a good answer forgets the old one: it
	 * was being asked again because the old one had expired */
	r = answer(DNS_S_OK, 100, "a");
	dns_cache_put(c, DNS_T_A, "flaky.test", &r, 0);
	dns_result_free(&r);
	r = answer(DNS_S_TEMPFAIL, 0, NULL);
	dns_cache_put(c, DNS_T_A, "flaky.test", &r, 50);
	ok(!cached(c, DNS_T_A, "flaky.test", 50), "replaced, not kept");
	dns_cache_free(c);
}

static void
test_lru(void)
{
	struct dns_cache *c = dns_cache_new(3, 3600, 300);
	struct dns_result r = answer(DNS_S_OK, 600, "192.0.2.1");

	dns_cache_put(c, DNS_T_A, "a.test", &r, 0);
	dns_cache_put(c, DNS_T_A, "b.test", &r, 1);
	dns_cache_put(c, DNS_T_A, "c.test", &r, 2);
	ok(cached(c, DNS_T_A, "a.test", 3), "a used again");
	dns_cache_put(c, DNS_T_A, "d.test", &r, 4);
	is_int(dns_cache_count(c), 3, "size bound holds");
	ok(!cached(c, DNS_T_A, "b.test", 5), "least recently used evicted");
	ok(cached(c, DNS_T_A, "a.test", 5) && cached(c, DNS_T_A, "c.test", 5) &&
	        cached(c, DNS_T_A, "d.test", 5),
	    "the others stay");

	dns_cache_put(c, DNS_T_A, "c.test", &r, 6);
	is_int(dns_cache_count(c), 3, "replacing an entry does not grow");

	/* order now, most recent first: c, d, a */
	dns_cache_limits(c, 1, 3600, 300);
	is_int(dns_cache_count(c), 1, "shrinking evicts at once");
	ok(cached(c, DNS_T_A, "c.test", 7), "the most recent survives");
	dns_cache_limits(c, 3, 3600, 300);

	dns_cache_put(c, DNS_T_A, "e.test", &r, 8);
	is_int(dns_cache_flush(c), 2, "flush says how many it dropped");
	is_int(dns_cache_count(c), 0, "flush empties");
	ok(!cached(c, DNS_T_A, "e.test", 9), "nothing found after flush");
	dns_result_free(&r);
	dns_cache_free(c);
}

static void
test_copy(void)
{
	struct dns_cache *c = dns_cache_new(10, 3600, 300);
	struct dns_result r = answer(DNS_S_OK, 600, "mx1.example.test");
	const struct dns_result *got;
	uint32_t left;

	dns_cache_put(c, DNS_T_MX, "example.test", &r, 0);
	r.rr[0].data[0] = 'X';
	dns_result_free(&r);
	got = dns_cache_get(c, DNS_T_MX, "example.test", 1, &left);
	ok(got != NULL && strcmp(got->rr[0].data, "mx1.example.test") == 0 &&
	        got->rr[0].pref == 10,
	    "the cache keeps its own copy");
	dns_cache_free(c);
}

static void
test_many(void)
{
	struct dns_cache *c = dns_cache_new(1000, 3600, 300);
	struct dns_result r = answer(DNS_S_OK, 600, "192.0.2.1");
	char name[64];
	int i, found = 0;

	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "host%d.test", i);
		dns_cache_put(c, DNS_T_A, name, &r, i / 100);
	}
	is_int(dns_cache_count(c), 1000, "5000 answers into 1000 entries");
	for (i = 4000; i < 5000; i++) {
		snprintf(name, sizeof(name), "host%d.test", i);
		found += cached(c, DNS_T_A, name, 50);
	}
	is_int(found, 1000, "the 1000 newest are the ones kept");
	dns_result_free(&r);
	dns_cache_free(c);
}

int
main(void)
{
	test_ttl();
	test_negative();
	test_lru();
	test_copy();
	test_many();
	return done_testing();
}
