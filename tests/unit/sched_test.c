/*
 * sched_test.c - destination windows and dead-destination throttling:
 * slow start, growth to the limit, shrinking on failures, suspension
 * after a failed cohort, the single probe, and recovery.
 */
#include "tap.h"

#include "../../daemons/qmgr/sched.h"

int
main(void)
{
	struct dest_health h;
	time_t now = 1000000;
	int i;

	sched_init(&h);
	is_int(sched_allowed(&h, now, 20), 5, "starts at 5 sessions");
	is_int(sched_allowed(&h, now, 3), 3, "never above the limit");
	for (i = 0; i < 30; i++)
		sched_success(&h, 20);
	is_int(sched_allowed(&h, now, 20), 20, "grows to the limit");
	is_int(h.window, 20, "and stops there");

	is_int(sched_failure(&h, now, 300, 3600), 0, "one failure: alive");
	is_int(sched_allowed(&h, now, 20), 19, "window shrinks");
	sched_success(&h, 20);
	is_int(h.failures, 0, "a success resets the failure count");
	is_int(sched_failure(&h, now, 300, 3600), 0, "failure 1");
	is_int(sched_failure(&h, now, 300, 3600), 0, "failure 2");
	is_int(sched_failure(&h, now, 300, 3600), 1,
	    "third failure in a row: suspended");
	ok(sched_is_suspended(&h, now), "suspended now");
	is_int(sched_allowed(&h, now, 20), 0, "no session while suspended");
	is_int(h.dead_until, now + 300, "for min_backoff");
	ok(!sched_is_suspended(&h, now + 300), "suspension ends");
	is_int(sched_allowed(&h, now + 300, 20), 1, "then one probe");
	is_int(sched_failure(&h, now + 300, 300, 3600), 1,
	    "a failed probe suspends again at once");
	is_int(h.dead_until, now + 300 + 600, "for a longer back-off");
	sched_wake(&h);
	ok(!sched_is_suspended(&h, now + 301), "flush wakes it");
	is_int(sched_allowed(&h, now + 301, 20), 1, "to a single probe");
	sched_success(&h, 20);
	is_int(sched_allowed(&h, now + 302, 20), 5,
	    "a good probe reopens at the initial window");
	is_int(h.dead_count, 0, "and forgets the suspensions");
	for (i = 0; i < 20; i++)
		(void)sched_failure(&h, now, 1, 2);
	ok(h.dead_until <= now + 2, "back-off capped by max_backoff");
	ok(h.window >= 1, "window never below one");
	return done_testing();
}
