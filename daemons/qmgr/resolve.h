/*
 * resolve.h - qmgr's client of the resolver daemon (private/resolver):
 * one question, one callback with the answer.
 */
#ifndef NCMTA_QMGR_RESOLVE_H
#define NCMTA_QMGR_RESOLVE_H

#include <stdint.h>

#define DNS_MAX_RECORDS 64

struct dns_answer {
	uint32_t status; /* DNS_S_* */
	uint32_t ttl;
	uint32_t secure; /* DNSSEC-validated (proto.h, M_DNS_ANSWER) */
	const char *error;
	uint32_t n;
	struct {
		uint32_t pref;
		const char *data;
	} rec[DNS_MAX_RECORDS];
};
typedef void dns_answer_fn(const struct dns_answer *, void *);

void resolve_init(void);
/* fn may run before resolve_query() returns (resolver unavailable).
 * flags: DNS_Q_* (DNS_Q_DNSSEC: the answer's secure field matters). */
void resolve_query(
    int qtype, const char *name, uint32_t flags, dns_answer_fn *, void *);

#endif
