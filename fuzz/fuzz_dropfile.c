/*
 * fuzz_dropfile.c - files dropped into drop_directory
 * (daemons/pickup/dropfile.c dropfile_parse()): leading X-Sender: and
 * X-Receiver: lines, else From: and To:/Cc:/Bcc:. Any local user (or an
 * application's customer) writes these. A parsed file must give
 * normalised, de-duplicated addresses without control characters and a
 * message that is the rest of the file; a refused one a one-line reason.
 * File names, which users choose as well, go through the drop table's
 * key (dropdir_key_make()/dropdir_key_parse()).
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

/*
 * The file's first line serves as its name too (users choose both): a
 * name pickup can handle must make a drop-table key that reads back to
 * the same name and identity.
 */
static void
check_name(const char *buf, size_t size)
{
	struct dropdir_ident id = {0x1234, 99, {1, 2}, {1764373839, 5}}, back;
	char name[256], key[300];
	const char *why, *n, *nl = memchr(buf, '\n', size);
	size_t len = nl != NULL ? (size_t)(nl - buf) : size;

	if (len >= sizeof(name) || memchr(buf, '\0', len) != NULL)
		return;
	memcpy(name, buf, len);
	name[len] = '\0';
	for (n = name; (n = strchr(n, '/')) != NULL;)
		name[n - name] = '_';
	/* a name pickup takes: complete, and one it can handle */
	if (!dropdir_name_ok(name) || !dropdir_name_usable(name, &why))
		return;
	if (dropdir_key_make(name, &id, key, sizeof(key)) == -1)
		return;
	FUZZ_CHECK(dropdir_key_parse(key, &back, &n) == 0 &&
	        strcmp(n, name) == 0 && back.ino == id.ino &&
	        back.ctime.tv_sec == id.ctime.tv_sec &&
	        back.ctime.tv_nsec == id.ctime.tv_nsec,
	    "key \"%s\" does not read back", key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct maildrop md;
	char why[256];
	size_t i, j;

	check_name(buf, size);
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
