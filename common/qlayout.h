/*
 * qlayout.h - the directory tree under queue_directory (and the
 * drop_directory) with each directory's owner and mode: the master
 * creates it, `ncctl check` names every directory that differs. Root
 * works here only through descriptors opened without following a
 * symbolic link, so a link that mail_owner put in place of a directory
 * or a queue file is an error, never followed.
 */
#ifndef NCMTA_QLAYOUT_H
#define NCMTA_QLAYOUT_H

#include <stdio.h>
#include <sys/types.h>

#include "config.h"

/*
 * Create what is missing and set every mode; as root, chown to uid/gid
 * (mail_owner) what mail_owner's daemons write and to root the rest
 * (private/ and public/ too: root binds the sockets there). Every
 * directory, queue_directory itself included, is opened O_NOFOLLOW and
 * fixed through its descriptor. Returns 0, or -1 with the reason in *err
 * (the caller frees it).
 */
int qlayout_create(
    const struct nc_config *, uid_t, gid_t, int as_root, char **err);

/*
 * The directory name inside dirfd (AT_FDCWD: a path), made with mode if
 * missing, opened without following a symbolic link, its owner (when
 * chown_it) and mode set on the descriptor. path names it in *err.
 * Returns the descriptor, or -1 with the reason in *err.
 */
int qlayout_dir_at(int dirfd, const char *name, const char *path, mode_t mode,
    uid_t uid, gid_t gid, int chown_it, char **err);

/* QDIR/name (a directory qlayout_create() made), opened O_NOFOLLOW for
 * *at() calls; -1 with the reason in *err. */
int qlayout_open(const struct nc_config *, const char *name, char **err);

/*
 * Print one line to fp per directory (or queue file) whose type, owner or
 * mode is wrong, e.g. "queue_directory/maildrop (/var/spool/ncmta/
 * maildrop): mode 0777, should be 1733"; returns how many. A missing one
 * is no problem: the master creates it when it starts.
 */
int qlayout_check(
    const struct nc_config *, uid_t, gid_t, int as_root, FILE *fp);

/*
 * The queue's LMDB files (db/data.mdb, db/lock.mdb): mail_owner's
 * daemons create and open them, root never does. Each that exists must
 * be a regular file owned by uid (lstat). Returns how many are not;
 * each is printed as one line to fp (if not NULL), the first also put in
 * *why (if not NULL; the caller frees it).
 */
int qlayout_check_queue_files(
    const struct nc_config *, uid_t, FILE *fp, char **why);

#endif
