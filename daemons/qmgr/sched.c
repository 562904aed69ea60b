/*
 * sched.c - the destination window and dead-destination policy (see
 * sched.h). Only session-level outcomes count: a recipient's 4xx or 5xx
 * says nothing about the destination's health.
 */
#include "backoff.h"
#include "sched.h"

void
sched_init(struct dest_health *h)
{
	h->window = SCHED_INITIAL_WINDOW;
	h->failures = 0;
	h->dead_count = 0;
	h->dead_until = 0;
}

int
sched_is_suspended(const struct dest_health *h, time_t now)
{
	return h->dead_until != 0 && now < h->dead_until;
}

int
sched_allowed(const struct dest_health *h, time_t now, int limit)
{
	if (sched_is_suspended(h, now))
		return 0;
	if (h->dead_until != 0) /* suspension over: one probe first */
		return 1;
	return h->window < limit ? h->window : limit;
}

void
sched_success(struct dest_health *h, int limit)
{
	if (h->dead_until != 0)
		h->window = SCHED_INITIAL_WINDOW; /* the probe got through */
	else if (h->window < limit)
		h->window++;
	h->failures = 0;
	h->dead_count = 0;
	h->dead_until = 0;
}

int
sched_failure(
    struct dest_health *h, time_t now, int64_t min_backoff, int64_t max_backoff)
{
	h->failures++;
	if (h->window > 1)
		h->window--;
	/* a failed probe, or a whole cohort failed with no success */
	if (h->dead_until != 0 || h->failures >= SCHED_DEAD_COHORT) {
		h->dead_count++;
		h->dead_until = now +
		    backoff_delay(h->dead_count, min_backoff, max_backoff);
		h->failures = 0;
		return 1;
	}
	return 0;
}

void
sched_wake(struct dest_health *h)
{
	if (h->dead_until != 0)
		h->dead_until = 1; /* in the past: probe at once */
}
