/*
 * backoff.c - retry policy as pure functions: the delay before the next
 * attempt grows from min_backoff, doubling per failed attempt, to
 * max_backoff; a message older than max_queue_lifetime has expired.
 */
#include <stdint.h>

#include "backoff.h"

int64_t
backoff_delay(uint32_t attempts, int64_t min_backoff, int64_t max_backoff)
{
	int64_t d = min_backoff;
	uint32_t i;

	if (attempts == 0)
		return 0;
	for (i = 1; i < attempts && d < max_backoff; i++)
		d = d > max_backoff / 2 ? max_backoff : d * 2;
	return d > max_backoff ? max_backoff : d;
}

int
backoff_expired(double arrival, double now, int64_t lifetime)
{
	return lifetime > 0 && now - arrival >= (double)lifetime;
}
