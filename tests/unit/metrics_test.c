/*
 * metrics_test.c - the exposition text (common/metrics.c): every
 * contract family with its HELP and TYPE, label values escaped, ages from
 * arrival times; and ncmta-metricsd's request head parser
 * (daemons/metricsd/http.c): the statuses for good, bad, partial and
 * oversized heads, and random bytes that must never read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../common/metrics.h"
#include "../../daemons/metricsd/http.h"

static int
has(const char *text, const char *line)
{
	return strstr(text, line) != NULL;
}

static void
test_format(void)
{
	struct metrics_snapshot s;
	char *t;

	memset(&s, 0, sizeof(s));
	s.version = "1.2\"x\\";
	s.now = 1000.5;
	s.counters[NCM_STATUS_SENT] = 4;
	s.counters[NCM_RECV_NOTICE] = 1;
	s.counters[NCM_DNS_MERGED] = 7;
	s.counters[NCM_TLS_FAILED] = 2;
	s.gauges[NCM_GAUGE(NCM_QUEUE_DEFERRED)] = 2;
	s.gauges[NCM_GAUGE(NCM_OLDEST_DEFERRED)] = 900000; /* ms */
	s.gauges[NCM_GAUGE(NCM_OLDEST_HOLD)] = 2000000; /* in the future */
	s.gauges[NCM_GAUGE(NCM_SESSIONS)] = 3;
	s.nrows = 2;
	s.row[0] = "qmgr";
	s.row[1] = "smtp";
	s.restarts[1] = 5;
	t = metrics_format(&s);
	ok(has(t, "# TYPE ncmta_up gauge\nncmta_up 1\n"), "ncmta_up");
	ok(has(t, "ncmta_build_info{version=\"1.2\\\"x\\\\\"} 1\n"),
	    "version label escaped");
	ok(has(t, "ncmta_queue_messages{state=\"deferred\"} 2\n"),
	    "queue gauge");
	ok(has(t, "ncmta_queue_messages{state=\"hold\"} 0\n"), "empty state");
	ok(has(t,
	       "ncmta_queue_oldest_age_seconds{state=\"deferred\"} "
	       "100.500\n"),
	    "age from the arrival in ms");
	ok(has(t, "ncmta_queue_oldest_age_seconds{state=\"hold\"} 0.000\n"),
	    "an arrival after now is age 0");
	ok(has(t,
	       "ncmta_queue_oldest_age_seconds{state=\"incoming\"} "
	       "0.000\n"),
	    "no message: 0");
	ok(has(t, "# TYPE ncmta_received_messages_total counter\n"),
	    "counter type");
	ok(has(t, "ncmta_received_messages_total{source=\"notice\"} 1\n"),
	    "notice");
	ok(has(t, "ncmta_delivery_status_total{status=\"sent\"} 4\n"), "sent");
	ok(has(t, "ncmta_delivery_status_total{status=\"bounced\"} 0\n"),
	    "bounced");
	ok(has(t, "ncmta_smtp_sessions_active 3\n"), "sessions");
	ok(has(t, "ncmta_tls_sessions_total{result=\"failed\"} 2\n"), "tls");
	ok(has(t, "ncmta_resolver_lookups_total{result=\"merged\"} 7\n"),
	    "resolver");
	ok(has(t, "ncmta_daemon_restarts_total{daemon=\"smtp\"} 5\n"),
	    "restarts");
	ok(has(t, "ncmta_daemon_restarts_total{daemon=\"qmgr\"} 0\n"),
	    "no restarts");
	ok(t[strlen(t) - 1] == '\n', "ends with a newline");
	free(t);
}

static int
st(const char *head)
{
	return http_request_status(head, strlen(head));
}

static void
test_http(void)
{
	char big[HTTP_MAX_HEAD + 10], *rnd;
	size_t i, n;
	int s, bad = 0;

	is_int(st("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200, "GET");
	is_int(st("GET /metrics HTTP/1.0\n\n"), 200, "bare LF, 1.0");
	is_int(st("GET /metrics?name[]=a HTTP/1.1\r\n\r\n"), 200, "query");
	is_int(st("GET /metricsx HTTP/1.1\r\n\r\n"), 404, "other path");
	is_int(st("GET / HTTP/1.1\r\n\r\n"), 404, "root");
	is_int(st("POST /metrics HTTP/1.1\r\nContent-Length: 1\r\n\r\n"), 405,
	    "POST");
	is_int(st("get /metrics HTTP/1.1\r\n\r\n"), 405, "methods are exact");
	is_int(st("GET /metrics HTTP/2.0\r\n\r\n"), 505, "HTTP/2.0");
	is_int(st("GET /metrics HTTP/1.1\r\n"), 0, "incomplete head");
	is_int(st("GET /metr"), 0, "incomplete line");
	is_int(st(""), 0, "nothing yet");
	is_int(st("GET /metrics\r\n\r\n"), 400, "no version");
	is_int(st("GET  /metrics HTTP/1.1\r\n\r\n"), 400, "two spaces");
	is_int(st("GET metrics HTTP/1.1\r\n\r\n"), 400, "not absolute");
	is_int(st("GET /metrics HTTP/1.1 \r\n\r\n"), 400, "trailing space");
	is_int(st("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"), 400,
	    "header without a colon");
	is_int(st("GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n"), 400,
	    "obsolete folding");
	is_int(st("GET /metrics HTTP/1.1\r\nA b: x\r\n\r\n"), 400,
	    "space in a name");
	is_int(st("GET /metrics HTTP/1.1\r\nA: \001\r\n\r\n"), 400,
	    "control character in a value");
	is_int(st("GET /metrics HTTP/1.1\rX\r\n\r\n"), 400, "bare CR");
	is_int(st("GET /metrics HTTP/1.1\r\nA: x\r\n"), 0, "headers go on");
	is_int(st("BAD\r\n"), 400, "a bad line is refused at once");
	is_int(http_request_status("GET /m\0trics HTTP/1.1\r\n\r\n", 26), 400,
	    "NUL");
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	is_int(http_request_status(big, HTTP_MAX_HEAD), 431, "head too large");
	is_int(http_request_status(big, HTTP_MAX_HEAD - 1), 0,
	    "not too large yet");
	is_str(http_reason(405), "Method Not Allowed", "reason");

	/* random heads, each in a buffer of exactly its size (ASan) */
	srand(1);
	for (i = 0; i < 20000; i++) {
		n = (size_t)(rand() % 64);
		rnd = malloc(n ? n : 1);
		for (size_t j = 0; j < n; j++)
			rnd[j] =
			    "GET /metrics HTTP/1.1\r\n: \001\0"[rand() % 27];
		s = http_request_status(rnd, n);
		bad += s != 0 && s != 200 && s != 400 && s != 404 && s != 405 &&
		    s != 505;
		free(rnd);
	}
	is_int(bad, 0, "random heads get a known status");
}

int
main(void)
{
	test_format();
	test_http();
	return done_testing();
}
