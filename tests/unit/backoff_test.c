/*
 * backoff_test.c - the retry policy: delays double from min_backoff to
 * max_backoff, never exceed it, and expiry follows max_queue_lifetime.
 */
#include "tap.h"

#include "../../daemons/qmgr/backoff.h"

int
main(void)
{
	is_int(backoff_delay(0, 300, 3600), 0, "no attempt yet: no delay");
	is_int(
	    backoff_delay(1, 300, 3600), 300, "first retry after min_backoff");
	is_int(backoff_delay(2, 300, 3600), 600, "doubles");
	is_int(backoff_delay(3, 300, 3600), 1200, "doubles again");
	is_int(backoff_delay(4, 300, 3600), 2400, "and again");
	is_int(backoff_delay(5, 300, 3600), 3600, "capped at max_backoff");
	is_int(
	    backoff_delay(500, 300, 3600), 3600, "stays capped, no overflow");
	is_int(backoff_delay(1, 3600, 3600), 3600, "min == max");
	is_int(backoff_delay(70, 1, 2), 2, "short test timers");
	ok(!backoff_expired(1000.0, 1000.0 + 5 * 86400 - 1, 5 * 86400),
	    "not expired just before the lifetime");
	ok(backoff_expired(1000.0, 1000.0 + 5 * 86400, 5 * 86400),
	    "expired at the lifetime");
	ok(!backoff_expired(0.0, 1e12, 0), "lifetime 0 never expires");
	return done_testing();
}
