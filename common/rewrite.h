/*
 * rewrite.h - address rewriting at submission (ncmta-aliases(5),
 * ncmta-generic(5)): unqualified addresses get @myorigin, local recipients
 * (domain in mydestination) go through the aliases, then to
 * local_recipient_forward or bounce, and generic_maps rewrites the envelope
 * and address headers. pickup applies it once, before a message is queued.
 * Pure.
 */
#ifndef NCMTA_REWRITE_H
#define NCMTA_REWRITE_H

#include <stddef.h>

#include "aliases.h"
#include "config.h"

/* The tables' texts travel in M_CTL_RELOAD: together at most this. */
#define REWRITE_TABLES_MAX (160 * 1024)

/* generic_maps: "key value" lines, Postfix smtp_generic_maps style. */
struct generic_map {
	char *key; /* lower-cased: "user@domain", "user" or "@domain" */
	char *value; /* "new@domain" or "@domain" (keeps the local part) */
	int line;
};

struct generic_table {
	struct generic_map *m;
	size_t n;
};

int generic_parse(const char *name, const char *text, struct generic_table *,
    struct cf_errors *);
void generic_free(struct generic_table *);

/* Everything rewriting needs, copied out of the configuration. */
struct rewrite {
	char *myorigin;
	char **mydest; /* lower-cased local domains */
	size_t nmydest;
	char *forward; /* local_recipient_forward, "" if none */
	struct alias_table aliases;
	struct generic_table generic;
};

/*
 * Set up from cfg and the texts of its alias_maps and generic_maps files.
 * Every problem (aliases, generic_maps, local_recipient_forward) goes to
 * errs with its file and line and the result is -1; rw is usable anyway
 * (bad lines left out), so a running daemon can go on with it.
 */
int rewrite_init(struct rewrite *, const struct nc_config *,
    const char *aliases_text, const char *generic_text, struct cf_errors *);
/*
 * Read the two files of cfg (a missing alias_maps file is an empty table;
 * an unset setting too). Returns 0 with both texts (malloc'd), or -1 with
 * errs. Larger than REWRITE_TABLES_MAX together is an error.
 */
int rewrite_read_tables(const struct nc_config *, char **aliases_text,
    char **generic_text, struct cf_errors *);
/* Read and check both tables and local_recipient_forward, for a reload:
 * 0 with the texts (malloc'd), or -1 with every problem in errs. */
int rewrite_check(const struct nc_config *, char **aliases_text,
    char **generic_text, struct cf_errors *);
/* rewrite_read_tables and rewrite_init. */
int rewrite_load(
    struct rewrite *, const struct nc_config *, struct cf_errors *);
void rewrite_free(struct rewrite *);

/* Whether a qualified address's domain is in mydestination. */
int rewrite_is_local(const struct rewrite *, const char *addr);

/* generic_maps for one address: the new one (malloc'd), or NULL. */
char *rewrite_generic(const struct rewrite *, const char *addr);

/* One envelope recipient after rewriting. */
struct rw_rcpt {
	char *addr;
	char dsn[8]; /* "" deliverable; else it bounces: "5.1.1", "5.4.6" */
	char *reason; /* why it bounces, "" otherwise */
	char *orcpt; /* DSN ORCPT ("rfc822;a@b") or "" (see below) */
};

struct rw_result {
	struct rw_rcpt *r;
	size_t n;
	char **notes; /* things worth a log line (ignored alias targets) */
	size_t nnotes;
	/* private: room in r, and an open-addressing index of r by address
	 * (1 + position, 0 = free) so de-duplication stays linear */
	size_t cap;
	size_t *slot;
	size_t nslot;
	/* private: the recipient being rewritten, and its ORCPT */
	const char *orig, *orig_orcpt;
};

/*
 * Rewrite qualified, normalised recipients: aliases and forwarding for
 * local ones, then generic_maps; de-duplicated. A recipient that cannot
 * be delivered is kept with its DSN code and reason. orcpt (NULL: none
 * at all) holds each one's DSN ORCPT ("" if none): every address a
 * recipient becomes keeps it. One without an ORCPT that rewriting
 * changed (an alias, local_recipient_forward, generic_maps) gets
 * "rfc822;" and the address as submitted, as Postfix records the
 * original recipient (RFC 3461 section 4.2), so the next hop's notices
 * and ours name what the sender wrote; an unchanged one gets none.
 */
void rewrite_recipients(const struct rewrite *, char *const *rcpt,
    char *const *orcpt, size_t n, struct rw_result *);
void rw_result_free(struct rw_result *);

/*
 * An address-list header value ("Name <a@b>, c, group: d;") with each
 * address qualified and passed through generic_maps; display names,
 * comments and folding are kept. Returns the new value (malloc'd) or
 * NULL when nothing changed.
 */
char *rewrite_address_list(const struct rewrite *, const char *, size_t);

/*
 * The message with its From, To, Cc and Reply-To fields rewritten as
 * above; NULL when nothing changed, else malloc'd with its length in
 * *outlen.
 */
char *rewrite_header_fields(
    const struct rewrite *, const char *msg, size_t len, size_t *outlen);

#endif
