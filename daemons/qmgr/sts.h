/*
 * sts.h - MTA-STS for direct delivery (RFC 8461; doc/design.md,
 * "MTA-STS"): a recipient domain's policy, as the resolver finds it (the
 * "_mta-sts" TXT record, and the policy file over HTTPS when the record's
 * id is new), kept in the queue database until its max_age runs out and
 * used meanwhile when the record or the file cannot be had.
 */
#ifndef NCMTA_QMGR_STS_H
#define NCMTA_QMGR_STS_H

#include <stdint.h>

#include "mtasts.h"

/* What applies to a domain now: policy NULL when none does (no policy,
 * or mode none); ttl: how long the TXT answer may be reused. */
struct sts_result {
	const struct mtasts_policy *policy;
	const char *id;
	uint32_t ttl;
};
typedef void sts_ready_fn(const struct sts_result *, void *);

/* Count the kept policies, and delete expired ones every hour. */
void sts_init(void);
/* The policy for domain, looked up unless smtp_mta_sts is off; fn runs
 * once, maybe before sts_lookup() returns. */
void sts_lookup(const char *domain, sts_ready_fn *, void *);

#endif
