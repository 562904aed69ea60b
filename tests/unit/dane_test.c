/*
 * dane_test.c - the smtp worker's TLSA records: the text qmgr sends
 * ("usage selector mtype hex" lines) to fields, malformed text refused,
 * and which records an SMTP client may use (RFC 7672 3.1).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../daemons/smtp/dane.h"

static struct dane_rr rrs[DANE_MAX_RECORDS];

static int
parse(const char *text)
{
	return dane_parse(text, rrs, DANE_MAX_RECORDS);
}

static void
test_parse(void)
{
	char sha256[65], big[2 * DANE_DATA_MAX + 16], many[512];

	memset(sha256, 'A', 64);
	sha256[64] = '\0';
	char line[128];

	snprintf(line, sizeof(line), "3 1 1 %s\n2 0 0 00ff", sha256);
	is_int(parse(line), 2, "two records");
	ok(rrs[0].usage == 3 && rrs[0].selector == 1 && rrs[0].mtype == 1 &&
	        rrs[0].len == 32 && rrs[0].data[0] == 0xaa &&
	        rrs[0].data[31] == 0xaa,
	    "3 1 1 and its digest, upper-case hex taken");
	ok(rrs[1].usage == 2 && rrs[1].selector == 0 && rrs[1].mtype == 0 &&
	        rrs[1].len == 2 && rrs[1].data[0] == 0 &&
	        rrs[1].data[1] == 0xff,
	    "2 0 0 00ff");
	is_int(parse("255 255 255 01"), 1, "any octet values parse");
	is_int(parse(""), 0, "no records");
	is_int(parse("3 1 1"), -1, "no data");
	is_int(parse("3 1 1 "), -1, "empty data");
	is_int(parse("3 1 1 abc"), -1, "odd hex");
	is_int(parse("3 1 1 zz"), -1, "bad hex");
	is_int(parse("256 1 1 00"), -1, "usage over 255");
	is_int(parse("3  1 1 00"), -1, "two spaces");
	is_int(parse("3 1 1 00\n"), -1, "trailing newline");
	is_int(parse("3 1 1 00\n\n3 1 1 00"), -1, "empty line");
	is_int(parse("3 1 1 00 "), -1, "trailing space");
	is_int(parse("-3 1 1 00"), -1, "sign");
	is_int(parse("0003 1 1 00"), -1, "four digits");
	memset(big, 'a', sizeof(big));
	memcpy(big, "3 0 0 ", 6);
	big[6 + 2 * DANE_DATA_MAX] = '\0';
	is_int(parse(big), 1, "largest data taken");
	big[6 + 2 * DANE_DATA_MAX] = 'a';
	big[6 + 2 * DANE_DATA_MAX + 2] = '\0';
	is_int(parse(big), -1, "data over DANE_DATA_MAX refused");
	*many = '\0';
	for (int i = 0; i <= DANE_MAX_RECORDS; i++)
		strcat(many, i ? "\n3 1 1 00" : "3 1 1 00");
	is_int(parse(many), -1, "too many records");
}

static void
test_usable(void)
{
	struct dane_rr r = {.usage = 3, .selector = 1, .mtype = 1, .len = 32};
	char buf[64];

	ok(dane_usable(&r), "DANE-EE SPKI SHA2-256");
	r.usage = 2;
	ok(dane_usable(&r), "DANE-TA SPKI SHA2-256");
	r.usage = 0;
	ok(!dane_usable(&r), "PKIX-TA unusable for SMTP");
	r.usage = 1;
	ok(!dane_usable(&r), "PKIX-EE unusable for SMTP");
	r.usage = 4;
	ok(!dane_usable(&r), "unknown usage");
	r.usage = 3;
	r.selector = 2;
	ok(!dane_usable(&r), "unknown selector");
	r.selector = 0;
	r.len = 31;
	ok(!dane_usable(&r), "SHA2-256 of the wrong length");
	r.mtype = 2;
	r.len = 64;
	ok(dane_usable(&r), "SHA2-512");
	r.len = 32;
	ok(!dane_usable(&r), "SHA2-512 of the wrong length");
	r.mtype = 0;
	r.len = 5;
	ok(dane_usable(&r), "Full, any length");
	r.mtype = 3;
	ok(!dane_usable(&r), "unknown matching type");
	r = (struct dane_rr){.usage = 3, .selector = 1, .mtype = 1};
	dane_describe(&r, buf, sizeof(buf));
	is_str(buf, "DANE-EE(3) SPKI(1) SHA2-256(1)", "described");
}

int
main(void)
{
	test_parse();
	test_usable();
	return done_testing();
}
