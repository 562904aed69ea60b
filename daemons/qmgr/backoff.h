/*
 * backoff.h - retry times and lifetimes (pure).
 */
#ifndef NCMTA_QMGR_BACKOFF_H
#define NCMTA_QMGR_BACKOFF_H

#include <stdint.h>

int64_t backoff_delay(
    uint32_t attempts, int64_t min_backoff, int64_t max_backoff);
int backoff_expired(double arrival, double now, int64_t lifetime);

#endif
