/*
 * privdrop.c - give up root for good: chroot (optional), then
 * setgroups/setresgid/setresuid to mail_owner, then check that root
 * cannot be regained. In a daemon every failure is fatal, before any
 * input is read.
 */
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"
#include "util.h"

static int chrooted;

/* NULL when dropped, else the call that failed (errno set). */
static const char *
drop_ids(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) == -1)
		return "setgroups";
	if (setresgid(gid, gid, gid) == -1)
		return "setresgid";
	if (setresuid(uid, uid, uid) == -1)
		return "setresuid";
	if (setuid(0) != -1 || seteuid(0) != -1) {
		errno = EPERM;
		return "privileges could be regained after dropping them";
	}
	/* another process of mail_owner (a compromised daemon) must not
	 * trace this one or read its memory: not dumpable, whatever
	 * fs.suid_dumpable says */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return "prctl(PR_SET_DUMPABLE)";
	return NULL;
}

static const char *
owner_entry(const char *user, struct passwd **pw)
{
	if ((*pw = getpwnam(user)) == NULL)
		return "is not a user on this system";
	if ((*pw)->pw_uid == 0)
		return "must not be root";
	return NULL;
}

void
privdrop(const char *user, const char *chroot_dir)
{
	struct passwd *pw;
	const char *bad;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return; /* non-root instance: already the caller's user */
	if ((bad = owner_entry(user, &pw)) != NULL)
		fatalx("mail_owner \"%s\" %s", user, bad);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) == -1)
			fatal("chroot %s", chroot_dir);
		if (chdir("/") == -1)
			fatal("chdir /");
		chrooted = 1;
	}
	if ((bad = drop_ids(uid, gid)) != NULL)
		fatal("%s", bad);
}

int
privdrop_chrooted(void)
{
	return chrooted;
}

int
privdrop_queue_reader(const char *user, const char *dbdir, char **err)
{
	struct passwd *pw;
	struct stat st;
	const char *bad;

	*err = NULL;
	if (geteuid() != 0)
		return 0;
	if ((bad = owner_entry(user, &pw)) != NULL) {
		xasprintf(err, "mail_owner \"%s\" %s", user, bad);
		return -1;
	}
	if (lstat(dbdir, &st) == -1) {
		if (errno == ENOENT)
			return 1;
		xasprintf(err, "%s: %s", dbdir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != pw->pw_uid) {
		xasprintf(err,
		    "%s is %s, not a directory owned by %s: not read", dbdir,
		    S_ISLNK(st.st_mode)        ? "a symbolic link"
		        : !S_ISDIR(st.st_mode) ? "not a directory"
		                               : "owned by someone else",
		    user);
		return -1;
	}
	if ((bad = drop_ids(pw->pw_uid, pw->pw_gid)) != NULL) {
		xasprintf(err, "cannot become %s: %s: %s", user, bad,
		    strerror(errno));
		return -1;
	}
	return 0;
}
