/*
 * ncsendmail.h - what the parts of ncsendmail share: the one struct of a
 * run, the maildrop writer that both a normal submission and every
 * message of an SMTP session (-bs) go through, and the modes' entries.
 */
#ifndef NCMTA_NCSENDMAIL_H
#define NCMTA_NCSENDMAIL_H

#include <stddef.h>

#include "config.h"
#include "maildrop.h"

#define SM_WARN_MAX 16

enum sm_mode { SM_SUBMIT, SM_MAILQ, SM_FLUSH, SM_SMTP, SM_ALIASES };

/* Everything one run of ncsendmail knows. */
struct sm {
	int argc, argi; /* options may consume following arguments */
	int arg_separate; /* the current option's argument was its own word */
	char **argv;
	enum sm_mode mode;
	const char *confdir;
	const char *sender_arg, *fullname_arg, *flush_domain;
	int dot_ends; /* a lone "." line ends the message (no -i) */
	int verbose;
	const char *warn[SM_WARN_MAX]; /* options ignored, logged later */
	int nwarn;
	char **rcpt_args;
	int nrcpt_args;
	struct nc_config cfg;
	struct maildrop md;
	char *msg;
	size_t msglen, msgcap;
	int dropfd, dir_syncable;
};

extern struct sm sm;

/* Why a message could not be left in the maildrop: a sysexits code and
 * one line for the user. */
struct sm_err {
	int code;
	char text[256];
};

/* Print one line on stderr and exit with code. */
void sm_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Whether a message of msglen octets may be dropped now (the maildrop
 * opens, the queue is not full, there is free space): 0 or -1. */
int sm_drop_room(size_t msglen, struct sm_err *);

/*
 * Leave md's envelope and msg durably in the maildrop: written, fsync'd,
 * renamed, the directory entry committed. Returns 0 with the file's name
 * in name, or -1 with no file left behind.
 */
int sm_drop_write(const struct maildrop *md, const char *msg, size_t len,
    char *name, size_t namelen, struct sm_err *);

/* -bs: an SMTP session on stdin/stdout; returns the exit code. */
int sm_smtp(void);

/* -bi, -I, newaliases: check the aliases file, have ncmta reload it;
 * returns the exit code. */
int sm_newaliases(void);

/* Run a sibling command (from our own directory, else PATH) and wait,
 * its standard output discarded when quiet; returns its exit code, or -1
 * when it could not be run. */
int sm_run(const char *prog, char **args, int quiet);

#endif
