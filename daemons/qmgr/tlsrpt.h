/*
 * tlsrpt.h - TLS reporting data (RFC 8460): per policy domain, the
 * sessions that succeeded and those that failed, by result type, as
 * `ncctl tls-report` shows them. Workers report each session's outcome
 * (M_SMTP_TLS); qmgr's MTA-STS code reports the policy's own failures.
 * Counts run from tlsrpt_init() (qmgr's start) and live in memory only.
 */
#ifndef NCMTA_QMGR_TLSRPT_H
#define NCMTA_QMGR_TLSRPT_H

#include <stddef.h>
#include <time.h>

/* Bounds: whatever the remote servers or the DNS do, the counts take
 * at most this many (domain, policy) entries, each with at most this
 * many MX names; sessions past them are counted as such (see below). */
#define TLSRPT_MAX_DOMAINS 4096
#define TLSRPT_MAX_MX 16
/* a report longer than this lists the first policies only */
#define TLSRPT_REPORT_MAX (192 * 1024)

/* Forget every count; start is the report's start-datetime. */
void tlsrpt_init(time_t start);

/* One session (or one failed policy fetch) for domain under policy
 * (enum tlsrpt_policy) with result (enum tlsrpt_result); mx is the
 * exchanger's name, "" when there was none. */
void tlsrpt_count(const char *domain, int policy, int result, const char *mx);

/*
 * The report from start to now, malloc'd: text, one block per policy
 * domain, or (json) an RFC 8460 4.4 report body. A failure of an MX past
 * TLSRPT_MAX_MX for its domain counts under "other MX hosts" (JSON: a
 * failure-details entry without receiving-mx-hostname); a session of a
 * domain past TLSRPT_MAX_DOMAINS is counted only as not kept.
 */
char *tlsrpt_report(int json, time_t now);

#endif
