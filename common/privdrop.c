/*
 * privdrop.c - give up root for good: chroot (optional), then
 * setgroups/setresgid/setresuid to mail_owner, then check that root
 * cannot be regained. Every failure is fatal, before any input is read.
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

static int chrooted;

void
privdrop(const char *user, const char *chroot_dir)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return; /* non-root instance: already the caller's user */
	if ((pw = getpwnam(user)) == NULL)
		fatalx("unknown mail_owner user \"%s\"", user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0)
		fatalx("mail_owner \"%s\" must not be root", user);
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) == -1)
			fatal("chroot %s", chroot_dir);
		if (chdir("/") == -1)
			fatal("chdir /");
		chrooted = 1;
	}
	if (setgroups(1, &gid) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid");
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid");
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("privileges could be regained after dropping them");
}

int
privdrop_chrooted(void)
{
	return chrooted;
}
