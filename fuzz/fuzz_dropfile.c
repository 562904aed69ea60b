/*
 * fuzz_dropfile.c - files dropped into drop_directory
 * (daemons/pickup/dropfile.c dropfile_parse()): leading X-Sender: and
 * X-Receiver: lines, else From: and To:/Cc:/Bcc:. Any local user (or an
 * application's customer) writes these. A parsed file must give
 * normalised, de-duplicated addresses without control characters and a
 * message that is the rest of the file; a refused one a one-line reason.
 */
#include "addr.h"
#include "fuzz.h"
#include "maildrop.h"
#include "pickup.h"

#define ORIGIN "origin.example"

/* An address as dropfile_parse() leaves it: addr_normalize() keeps it. */
static void
check_addr(const char *a, int allow_null)
{
	char again[ADDR_MAX];
	const char *err;

	FUZZ_CHECK(strlen(a) < ADDR_MAX && !addr_has_control(a, strlen(a)),
	    "address \"%s\"", a);
	FUZZ_CHECK(addr_normalize(a, ORIGIN, allow_null, again, sizeof(again),
	               &err) == 0 &&
	        strcmp(a, again) == 0,
	    "address \"%s\" is not normalised", a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct maildrop md;
	char why[256];
	size_t i, j;

	memset(why, 'x', sizeof(why));
	if (dropfile_parse(buf, size, ORIGIN, &md, why, sizeof(why)) == -1) {
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL &&
		        why[0] != '\0' && !fuzz_has_control(why, strlen(why)),
		    "reason");
		FUZZ_CHECK(md.sender == NULL && md.nrcpt == 0,
		    "a refused file left a result");
		return 0;
	}
	FUZZ_CHECK(md.msg >= buf && md.msg + md.msglen == buf + size,
	    "message outside the file");
	FUZZ_CHECK(md.nrcpt > 0, "no recipients");
	check_addr(md.sender, 1);
	for (i = 0; i < md.nrcpt; i++) {
		check_addr(md.rcpt[i], 0);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(md.rcpt[i], md.rcpt[j]) != 0,
			    "recipient \"%s\" twice", md.rcpt[i]);
	}
	maildrop_clear(&md);
	return 0;
}
