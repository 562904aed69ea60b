/*
 * cache.h - the resolver's answer cache: (query type, lower-cased name)
 * to a parsed answer, kept for its TTL capped by resolver_max_ttl (or,
 * for NXDOMAIN/NODATA, resolver_negative_ttl), at most resolver_cache_size
 * entries with the least recently used dropped first. Time is passed in
 * (seconds on a monotonic clock), so tests can move it.
 */
#ifndef NCMTA_DNSCACHE_H
#define NCMTA_DNSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dnsmsg.h"

struct dns_cache;

struct dns_cache *dns_cache_new(
    size_t max_entries, uint32_t max_ttl, uint32_t negative_ttl);
void dns_cache_free(struct dns_cache *);
/* New limits; shrinking the size evicts at once, new TTL caps apply to
 * answers stored from now on. */
void dns_cache_limits(struct dns_cache *, size_t max_entries, uint32_t max_ttl,
    uint32_t negative_ttl);

/* The answer for (qtype, name) still valid at now, or NULL (an expired
 * entry is dropped). *left gets its remaining lifetime; the entry
 * becomes the most recently used. */
const struct dns_result *dns_cache_get(struct dns_cache *, int qtype,
    const char *name, int64_t now, uint32_t *left);

/* Keep a copy of res if it may be kept (not TEMPFAIL, TTL after capping
 * above 0), replacing an older entry. Returns the lifetime given, or 0. */
uint32_t dns_cache_put(struct dns_cache *, int qtype, const char *name,
    const struct dns_result *res, int64_t now);

/* Drop everything; returns how many entries there were. */
size_t dns_cache_flush(struct dns_cache *);
size_t dns_cache_count(const struct dns_cache *);

#endif
