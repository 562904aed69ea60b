/*
 * privdrop.h - the one place a process gives up root: optional chroot,
 * then setgroups/setresgid/setresuid to mail_owner. For a daemon any
 * failure is fatal; a command reading the queue as root gets the reason.
 * Run as non-root, there is nothing to drop.
 */
#ifndef NCMTA_PRIVDROP_H
#define NCMTA_PRIVDROP_H

/* chroot_dir may be NULL. Returns only when privileges are dropped. */
void privdrop(const char *user, const char *chroot_dir);
/* Whether privdrop() chrooted (paths must then be relative to it). */
int privdrop_chrooted(void);

/*
 * For a command run by root that reads the queue (ncqshow, ncctl status
 * and show): dbdir (QDIR/db) must be a directory owned by user, not a
 * symbolic link (lstat); then root is given up for good, without a
 * chroot, so that LMDB opens the queue's files with user's rights only.
 * Returns 0 (also when not root: nothing to do), 1 when dbdir does not
 * exist (nothing was ever queued; nothing dropped), or -1 with the reason
 * in *err (the caller frees it).
 */
int privdrop_queue_reader(const char *user, const char *dbdir, char **err);

#endif
