/*
 * aliases.h - the aliases file (alias_maps, /etc/aliases format): local
 * names and the addresses their mail goes to, expanded recursively with
 * loop detection. ncmta delivers nothing locally, so "|command", "/file"
 * and ":include:" targets are reported and never used. Pure: parsed by
 * ncctl check, newaliases, the master before a reload, and pickup.
 */
#ifndef NCMTA_ALIASES_H
#define NCMTA_ALIASES_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define ALIAS_MAX_DEPTH 20 /* nested aliases before 5.4.6 */
#define ALIAS_MAX_RESULTS 1000 /* addresses one recipient may become */
#define ALIAS_MAX_VISITS 10000 /* aliases looked at for one recipient */

struct alias {
	char *name; /* lower-cased local part */
	char **targets; /* as written (unquoted), in order */
	size_t ntargets;
	char **ignored; /* |command, /file, :include: targets: never used */
	size_t nignored;
	int line;
};

struct alias_table {
	struct alias *a; /* sorted by name */
	size_t n;
	char *file; /* name used in messages */
	/* FILE:LINE lines about |command, /file and :include: targets: not
	 * errors (a stock /etc/aliases may have them), just never used */
	struct cf_errors warnings;
};

/*
 * Parse a whole aliases file. name is used in messages ("name:line:
 * why"). Every bad line is added to errs and the function returns -1;
 * the table still holds every entry that parsed (so a daemon can go on
 * with it), unsupported targets kept apart in "ignored". Returns 0 when
 * nothing was wrong.
 */
int aliases_parse(const char *name, const char *text, struct alias_table *,
    struct cf_errors *);
/* Read and parse a file (a missing file is an error). */
int aliases_load(const char *path, struct alias_table *, struct cf_errors *);
void aliases_free(struct alias_table *);
/* Each warning line of the table (unsupported targets), after prefix. */
void aliases_print_warnings(
    const struct alias_table *, FILE *, const char *prefix);

/* The alias for a local part (case-insensitive), or NULL. */
const struct alias *aliases_lookup(const struct alias_table *, const char *);

enum alias_status {
	ALIAS_OK = 0,
	ALIAS_LOOP, /* an alias leads back to itself: 5.4.6 */
	ALIAS_TOO_DEEP, /* more than ALIAS_MAX_DEPTH levels: 5.4.6 */
	ALIAS_TOO_MANY, /* more than ALIAS_MAX_RESULTS addresses: 5.4.6 */
};

/* What one recipient became. */
struct alias_expansion {
	enum alias_status status;
	char **addr; /* final addresses, de-duplicated, in order found */
	size_t n;
	int aliased; /* the recipient itself had an alias */
	char *why; /* status != ALIAS_OK: the reason, for the bounce */
	char **notes; /* targets ignored on the way (for the log) */
	size_t nnotes;
};

/*
 * Expand one qualified recipient. Addresses whose domain is local
 * (is_local) are looked up by local part; their targets are qualified
 * with origin and expanded in turn. A name whose targets include itself
 * ("root: root, other") ends there: the address is kept as it is. With
 * any status but ALIAS_OK, addr is empty.
 */
void aliases_expand(const struct alias_table *, const char *addr,
    const char *origin, int (*is_local)(const char *, void *), void *arg,
    struct alias_expansion *);
void alias_expansion_free(struct alias_expansion *);

#endif
