/*
 * tlsrpt_test.c - qmgr's TLS reporting counts (daemons/qmgr/tlsrpt.c):
 * sessions counted per policy domain and policy type, failures by result
 * type and MX, the bounds on domains and MX names, and the report in
 * both forms, exact, with a hostile domain escaped in JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "log.h"
#include "proto.h"
#include "../../daemons/qmgr/tlsrpt.h"

#define T0 1700000000 /* 2023-11-14T22:13:20Z */
#define T1 (T0 + 3600)

static void
check_report(int json, const char *want, const char *what)
{
	char *got = tlsrpt_report(json, T1);

	is_str(got, want, "%s", what);
	free(got);
}

static void
test_empty(void)
{
	tlsrpt_init(T0);
	check_report(0,
	    "no TLS sessions to report since 2023-11-14T22:13:20Z\n",
	    "empty: the text says so, with the start");
	check_report(1,
	    "{\"date-range\": {\"start-datetime\": \"2023-11-14T22:13:20Z\", "
	    "\"end-datetime\": \"2023-11-14T23:13:20Z\"}, \"policies\": [], "
	    "\"ncmta-policies-left-out\": 0, \"ncmta-sessions-not-kept\": 0}\n",
	    "empty: JSON with no policies");
}

static void
test_counts_and_text(void)
{
	int i;

	tlsrpt_init(T0);
	for (i = 0; i < 12; i++)
		tlsrpt_count("Example.COM", TLSRPT_P_STS, TLSRPT_R_SUCCESS,
		    "mx1.example.com");
	tlsrpt_count("example.com", TLSRPT_P_STS, TLSRPT_R_CERT_EXPIRED,
	    "MX1.example.com");
	tlsrpt_count("example.com", TLSRPT_P_STS, TLSRPT_R_CERT_EXPIRED,
	    "mx1.example.com");
	tlsrpt_count("example.com", TLSRPT_P_STS,
	    TLSRPT_R_STARTTLS_NOT_SUPPORTED, "mx2.example.com");
	tlsrpt_count("example.com", TLSRPT_P_STS, TLSRPT_R_CERT_EXPIRED,
	    "mx2.example.com");
	tlsrpt_count("example.com", TLSRPT_P_NONE, TLSRPT_R_SUCCESS, "mx3");
	tlsrpt_count(
	    "b.example", TLSRPT_P_STS, TLSRPT_R_STS_POLICY_FETCH_ERROR, "");
	check_report(0,
	    "TLS sessions from 2023-11-14T22:13:20Z to 2023-11-14T23:13:20Z\n"
	    "b.example policy=sts sessions: 0 successful, 1 failed\n"
	    "  sts-policy-fetch-error 1 (no MX host 1)\n"
	    "example.com policy=no-policy-found sessions: 1 successful, 0 "
	    "failed\n"
	    "example.com policy=sts sessions: 12 successful, 4 failed\n"
	    "  starttls-not-supported 1 (mx2.example.com 1)\n"
	    "  certificate-expired 3 (mx1.example.com 2, mx2.example.com 1)\n",
	    "text: one block per policy domain and type, names in lower "
	    "case, failures by result type and MX");
	check_report(1,
	    "{\"date-range\": {\"start-datetime\": \"2023-11-14T22:13:20Z\", "
	    "\"end-datetime\": \"2023-11-14T23:13:20Z\"}, \"policies\": ["
	    "{\"policy\": {\"policy-type\": \"sts\", \"policy-domain\": "
	    "\"b.example\"}, \"summary\": {\"total-successful-session-count\": "
	    "0, \"total-failure-session-count\": 1}, \"failure-details\": ["
	    "{\"result-type\": \"sts-policy-fetch-error\", "
	    "\"failed-session-count\": 1}]}, "
	    "{\"policy\": {\"policy-type\": \"no-policy-found\", "
	    "\"policy-domain\": \"example.com\"}, \"summary\": "
	    "{\"total-successful-session-count\": 1, "
	    "\"total-failure-session-count\": 0}, \"failure-details\": []}, "
	    "{\"policy\": {\"policy-type\": \"sts\", \"policy-domain\": "
	    "\"example.com\"}, \"summary\": "
	    "{\"total-successful-session-count\": "
	    "12, \"total-failure-session-count\": 4}, \"failure-details\": ["
	    "{\"result-type\": \"starttls-not-supported\", "
	    "\"receiving-mx-hostname\": \"mx2.example.com\", "
	    "\"failed-session-count\": 1}, "
	    "{\"result-type\": \"certificate-expired\", "
	    "\"receiving-mx-hostname\": \"mx1.example.com\", "
	    "\"failed-session-count\": 2}, "
	    "{\"result-type\": \"certificate-expired\", "
	    "\"receiving-mx-hostname\": \"mx2.example.com\", "
	    "\"failed-session-count\": 1}]}], "
	    "\"ncmta-policies-left-out\": 0, \"ncmta-sessions-not-kept\": 0}\n",
	    "JSON: an RFC 8460 report body, exact");
}

static void
test_hostile_names(void)
{
	char *got;

	tlsrpt_init(T0);
	tlsrpt_count("a\"b\\c\n\x01\x7f\xc3\xa9\xf0\x9f\x98\x80\xff.example",
	    TLSRPT_P_TLSA, TLSRPT_R_VALIDATION_FAILURE, "mx\"1 \t");
	got = tlsrpt_report(1, T1);
	ok(strstr(got,
	       "\"policy-domain\": \"a\\\"b\\\\c\\u000a\\u0001\\u007f"
	       "\\u00e9\\ud83d\\ude00\\ufffd.example\"") != NULL,
	    "JSON: quote, backslash, control characters, UTF-8 (as code "
	    "points, a surrogate pair past U+FFFF) and a stray octet escaped "
	    "(%s)",
	    got);
	ok(strstr(got, "\"receiving-mx-hostname\": \"mx\\\"1 \\u0009\"") !=
	        NULL,
	    "JSON: the MX name escaped too");
	free(got);
	got = tlsrpt_report(0, T1);
	ok(strstr(got, "\na\"b\\c???\xc3\xa9\xf0\x9f\x98\x80?.example") !=
	            NULL &&
	        strstr(got, "(mx\"1?? 1)") != NULL,
	    "text: control characters, blanks and stray octets in names "
	    "shown as '?' (%s)",
	    got);
	free(got);
}

static void
test_bounds(void)
{
	char name[64], *got;
	int i;

	tlsrpt_init(T0);
	for (i = 0; i < TLSRPT_MAX_MX + 3; i++) {
		snprintf(name, sizeof(name), "mx%02d.c.example", i);
		tlsrpt_count(
		    "c.example", TLSRPT_P_STS, TLSRPT_R_CERT_NOT_TRUSTED, name);
	}
	got = tlsrpt_report(0, T1);
	ok(strstr(got, "mx15.c.example 1, other MX hosts 3)\n") != NULL &&
	        strstr(got, "mx16") == NULL,
	    "MX names past %d per domain counted as other MX hosts",
	    TLSRPT_MAX_MX);
	ok(strstr(got, "certificate-not-trusted 19 (") != NULL,
	    "... and in the result type's total");
	free(got);

	tlsrpt_init(T0);
	for (i = 0; i < TLSRPT_MAX_DOMAINS + 5; i++) {
		snprintf(name, sizeof(name), "d%05d.example", i);
		tlsrpt_count(name, TLSRPT_P_NONE, TLSRPT_R_SUCCESS, "mx");
	}
	tlsrpt_count("d00000.example", TLSRPT_P_NONE, TLSRPT_R_SUCCESS, "mx");
	got = tlsrpt_report(0, T1);
	ok(strstr(got,
	       "d00000.example policy=no-policy-found sessions: 2 "
	       "successful") != NULL,
	    "a domain kept is still counted when the table is full");
	ok(strstr(got, "d04096.example") == NULL, "no entry past %d domains",
	    TLSRPT_MAX_DOMAINS);
	ok(strstr(got,
	       "\n5 sessions not counted: more than 4096 policy "
	       "domains\n") != NULL,
	    "the sessions not kept are counted and said");
	ok(strlen(got) <= TLSRPT_REPORT_MAX,
	    "the report stays within %d "
	    "octets (%zu)",
	    TLSRPT_REPORT_MAX, strlen(got));
	free(got);

	/* long names, so that the report's bound is what stops it */
	tlsrpt_init(T0);
	for (i = 0; i < TLSRPT_MAX_DOMAINS; i++) {
		memset(name, 'x', 50);
		snprintf(name + 50, sizeof(name) - 50, "%05d", i);
		tlsrpt_count(name, TLSRPT_P_STS, TLSRPT_R_CERT_EXPIRED,
		    "an-mx-host-with-a-rather-long-name.example.net");
	}
	got = tlsrpt_report(1, T1);
	ok(strlen(got) <= TLSRPT_REPORT_MAX &&
	        strstr(got, "\"ncmta-policies-left-out\": 0") == NULL,
	    "JSON: past its bound, the report lists the first policies and "
	    "says how many were left out (%zu octets)",
	    strlen(got));
	ok(got[strlen(got) - 2] == '}', "JSON: still a whole object");
	free(got);
}

int
main(void)
{
	log_init("tlsrpt_test", "stderr", "mail");
	test_empty();
	test_counts_and_text();
	test_hostile_names();
	test_bounds();
	tlsrpt_init(T0);
	return done_testing();
}
