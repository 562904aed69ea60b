/*
 * cache.c - the resolver's bounded answer cache: a red-black tree on
 * (type, name) for look-ups and a list in order of use for eviction.
 * Nothing here knows about sockets or clocks; the caller says what time
 * it is.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "proto.h"
#include "util.h"

struct dns_cache_entry {
	RB_ENTRY(dns_cache_entry) node;
	TAILQ_ENTRY(dns_cache_entry) lru;
	int qtype;
	char *name; /* lower-case */
	int64_t expires;
	struct dns_result res;
};

RB_HEAD(dns_cache_tree, dns_cache_entry);
TAILQ_HEAD(dns_cache_lru, dns_cache_entry);

struct dns_cache {
	struct dns_cache_tree tree;
	struct dns_cache_lru lru; /* most recently used first */
	size_t count;
	size_t max;
	uint32_t max_ttl;
	uint32_t negative_ttl;
};

static int
entry_cmp(const struct dns_cache_entry *a, const struct dns_cache_entry *b)
{
	if (a->qtype != b->qtype)
		return a->qtype < b->qtype ? -1 : 1;
	return strcmp(a->name, b->name);
}

RB_PROTOTYPE(dns_cache_tree, dns_cache_entry, node, entry_cmp);
RB_GENERATE(dns_cache_tree, dns_cache_entry, node, entry_cmp);

struct dns_cache *
dns_cache_new(size_t max_entries, uint32_t max_ttl, uint32_t negative_ttl)
{
	struct dns_cache *c = xcalloc(1, sizeof(*c));

	RB_INIT(&c->tree);
	TAILQ_INIT(&c->lru);
	dns_cache_limits(c, max_entries, max_ttl, negative_ttl);
	return c;
}

static void
entry_drop(struct dns_cache *c, struct dns_cache_entry *e)
{
	RB_REMOVE(dns_cache_tree, &c->tree, e);
	TAILQ_REMOVE(&c->lru, e, lru);
	c->count--;
	dns_result_free(&e->res);
	free(e->name);
	free(e);
}

static void
cache_trim(struct dns_cache *c, size_t max)
{
	while (c->count > max)
		entry_drop(c, TAILQ_LAST(&c->lru, dns_cache_lru));
}

void
dns_cache_limits(struct dns_cache *c, size_t max_entries, uint32_t max_ttl,
    uint32_t negative_ttl)
{
	c->max = max_entries;
	c->max_ttl = max_ttl;
	c->negative_ttl = negative_ttl;
	cache_trim(c, c->max);
}

void
dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	dns_cache_flush(c);
	free(c);
}

static struct dns_cache_entry *
entry_find(struct dns_cache *c, int qtype, const char *name)
{
	struct dns_cache_entry key;

	key.qtype = qtype;
	key.name = (char *)name;
	return RB_FIND(dns_cache_tree, &c->tree, &key);
}

const struct dns_result *
dns_cache_get(struct dns_cache *c, int qtype, const char *name, int64_t now,
    uint32_t *left)
{
	struct dns_cache_entry *e = entry_find(c, qtype, name);

	if (e == NULL)
		return NULL;
	if (e->expires <= now) {
		entry_drop(c, e);
		return NULL;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	*left = (uint32_t)(e->expires - now);
	return &e->res;
}

static uint32_t
cache_lifetime(const struct dns_cache *c, const struct dns_result *res)
{
	uint32_t cap;

	switch (res->status) {
	case DNS_S_OK:
		cap = c->max_ttl;
		break;
	case DNS_S_NXDOMAIN:
	case DNS_S_NODATA:
		cap = c->negative_ttl;
		break;
	default:
		return 0; /* a temporary failure is asked again */
	}
	return res->ttl < cap ? res->ttl : cap;
}

uint32_t
dns_cache_put(struct dns_cache *c, int qtype, const char *name,
    const struct dns_result *res, int64_t now)
{
	struct dns_cache_entry *e;
	uint32_t ttl = cache_lifetime(c, res);

	if ((e = entry_find(c, qtype, name)) != NULL)
		entry_drop(c, e);
	if (ttl == 0 || c->max == 0)
		return 0;
	cache_trim(c, c->max - 1);
	e = xcalloc(1, sizeof(*e));
	e->qtype = qtype;
	e->name = xstrdup(name);
	e->expires = now + ttl;
	dns_result_copy(&e->res, res);
	RB_INSERT(dns_cache_tree, &c->tree, e);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->count++;
	return ttl;
}

size_t
dns_cache_flush(struct dns_cache *c)
{
	size_t n = c->count;

	while (!TAILQ_EMPTY(&c->lru))
		entry_drop(c, TAILQ_FIRST(&c->lru));
	return n;
}

size_t
dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}
