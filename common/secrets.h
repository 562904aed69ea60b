/*
 * secrets.h - the smart-host credentials file (secrets_file): one
 * "HOST user:password" per line. Only the master (root) reads it; the smtp
 * workers ask the master for one host's entry over their control channel.
 * Shared by the master and `ncctl check`. Passwords are wiped when freed.
 */
#ifndef NCMTA_SECRETS_H
#define NCMTA_SECRETS_H

#include <sys/types.h>

#include <stddef.h>

#include "config.h"

#define SECRETS_MAX_SIZE (1024 * 1024) /* a bigger file is refused */

struct secret {
	char *host; /* lower-cased, without brackets */
	unsigned port; /* 25 when the line names none */
	char *user;
	char *password;
};

struct secrets {
	struct secret *v;
	size_t n;
};

/*
 * The file at path must be a regular file owned by owner (root, or the
 * user the master runs as) with no group or other permission bits. Every
 * problem is added to errs as "secrets_file PATH: why"; returns 0 or -1.
 */
int secrets_check_file(const char *path, uid_t owner, struct cf_errors *);
/*
 * Parse text as the contents of path. A line that does not parse is added
 * to errs as "PATH:LINE: why" (never with its password) and the whole
 * table is refused: returns -1 with an empty table.
 */
int secrets_parse(
    const char *path, const char *text, struct secrets *, struct cf_errors *);
/* Check the file (as above), read it and parse it. */
int secrets_load(
    const char *path, uid_t owner, struct secrets *, struct cf_errors *);
/* The first entry for host (brackets and case do not matter) and port. */
const struct secret *secrets_find(
    const struct secrets *, const char *host, unsigned port);
/* Wipe every user name and password, then free the table. */
void secrets_free(struct secrets *);

#endif
