/*
 * qlayout.h - the directory tree under queue_directory (and the
 * drop_directory) with each directory's owner and mode: the master
 * creates it, `ncctl check` names every directory that differs.
 */
#ifndef NCMTA_QLAYOUT_H
#define NCMTA_QLAYOUT_H

#include <stdio.h>
#include <sys/types.h>

#include "config.h"

/*
 * Create what is missing and set every mode; as root, chown to uid/gid
 * (mail_owner) what mail_owner's daemons write and to root the rest.
 * Returns 0, or -1 with the reason in *err (the caller frees it).
 */
int qlayout_create(
    const struct nc_config *, uid_t, gid_t, int as_root, char **err);

/*
 * Print one line to fp per directory (or queue file) whose type, owner or
 * mode is wrong, e.g. "queue_directory/maildrop (/var/spool/ncmta/
 * maildrop): mode 0777, should be 1733"; returns how many. A missing one
 * is no problem: the master creates it when it starts.
 */
int qlayout_check(
    const struct nc_config *, uid_t, gid_t, int as_root, FILE *fp);

#endif
