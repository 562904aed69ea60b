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

/* The MTA-STS answer for a domain (M_STS_ANSWER): status STS_S_*. */
struct sts_answer {
	uint32_t status;
	uint32_t ttl;
	const char *txt_id;
	const char *policy; /* STS_S_FETCHED: the policy file */
	const char *error;
};
typedef void sts_answer_fn(const struct sts_answer *, void *);

/* Ask for domain's MTA-STS record, and its policy file unless the
 * record's id is known_id ("" for none). fn may run before it returns. */
void resolve_sts(
    const char *domain, const char *known_id, sts_answer_fn *, void *);

#endif
