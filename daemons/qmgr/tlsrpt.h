/*
 * tlsrpt.h - TLS reporting data (RFC 8460): per policy domain, the
 * sessions that succeeded and those that failed, by result type, as
 * `ncctl tls-report` shows them. Workers report each session's outcome
 * (M_SMTP_TLS); qmgr's MTA-STS code reports the policy's own failures.
 */
#ifndef NCMTA_QMGR_TLSRPT_H
#define NCMTA_QMGR_TLSRPT_H

#include <stddef.h>

/* One session (or one failed policy fetch) for domain under policy
 * (enum tlsrpt_policy) with result (enum tlsrpt_result); mx is the
 * exchanger's name, "" when there was none. */
void tlsrpt_count(const char *domain, int policy, int result, const char *mx);

#endif
