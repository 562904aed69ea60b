/*
 * sched.h - per-destination scheduling policy as pure functions: the
 * concurrency window (starts at SCHED_INITIAL_WINDOW, grows by one per
 * successful session up to the limit, shrinks on session failures) and
 * dead-destination throttling (a cohort of session-level failures with no
 * success suspends the destination for a back-off, after which a single
 * probe session may try it again).
 */
#ifndef NCMTA_SCHED_H
#define NCMTA_SCHED_H

#include <stdint.h>
#include <time.h>

#define SCHED_INITIAL_WINDOW 5
#define SCHED_DEAD_COHORT 3 /* consecutive session failures */

struct dest_health {
	int window; /* sessions allowed at once */
	int failures; /* consecutive session-level failures */
	unsigned dead_count; /* suspensions in a row, for the back-off */
	time_t dead_until; /* 0: alive */
};

void sched_init(struct dest_health *);
/* Sessions allowed now: 0 while suspended, 1 for the probe after. */
int sched_allowed(const struct dest_health *, time_t now, int limit);
int sched_is_suspended(const struct dest_health *, time_t now);
void sched_success(struct dest_health *, int limit);
/* A session-level failure; returns 1 when the destination is now
 * suspended (dead_until set). */
int sched_failure(
    struct dest_health *, time_t now, int64_t min_backoff, int64_t max_backoff);
/* ncctl flush: try a suspended destination again now. */
void sched_wake(struct dest_health *);

#endif
