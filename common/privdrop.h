/*
 * privdrop.h - the one place a daemon gives up root: optional chroot,
 * then setgroups/setresgid/setresuid to mail_owner. Any failure is fatal.
 * Run as non-root, it only checks that nothing is left to drop.
 */
#ifndef NCMTA_PRIVDROP_H
#define NCMTA_PRIVDROP_H

/* chroot_dir may be NULL. Returns only when privileges are dropped. */
void privdrop(const char *user, const char *chroot_dir);
/* Whether privdrop() chrooted (paths must then be relative to it). */
int privdrop_chrooted(void);

#endif
