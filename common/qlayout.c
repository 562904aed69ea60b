/*
 * qlayout.c - one table of the queue directory tree, used both to create
 * it (master) and to check it (ncctl check), so the two cannot disagree.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qlayout.h"
#include "util.h"

/* maildrop is writable by every local user (ncsendmail) but listable only
 * by mail_owner; the sticky bit keeps users from removing others' files. */
static const struct {
	const char *name;
	mode_t mode;
	int owned; /* by mail_owner, else by root */
} qdirs[] = {{"", 0755, 0}, {"db", 0700, 1}, {"maildrop", 01733, 1},
    {"private", 0700, 1}, {"public", 0755, 0}, {"pid", 0755, 0},
    {"flags", 0755, 1}, {"corrupt", 0700, 1}, {"empty", 0555, 0}, {NULL, 0, 0}};

/* Queue files the daemons open as mail_owner. */
static const char *qfiles[] = {"db/data.mdb", "db/lock.mdb", NULL};

#define DROP_MODE 01733 /* like maildrop: applications drop, pickup reads */

static uid_t
want_uid(int owned, uid_t uid, int as_root)
{
	return owned || !as_root ? uid : 0;
}

static int
sys_failed(char **err, const char *call, const char *path)
{
	xasprintf(err, "%s %s: %s", call, path, strerror(errno));
	return -1;
}

static int
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, int chown_it,
    char **err)
{
	struct stat st;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return sys_failed(err, "mkdir", path);
	if (stat(path, &st) == -1)
		return sys_failed(err, "stat", path);
	if (!S_ISDIR(st.st_mode)) {
		xasprintf(err, "%s is not a directory", path);
		return -1;
	}
	if (chmod(path, mode) == -1)
		return sys_failed(err, "chmod", path);
	if (chown_it && chown(path, uid, gid) == -1)
		return sys_failed(err, "chown", path);
	return 0;
}

/* "ncmta", or "uid 1234" for a uid without a name, copied: two calls
 * share getpwuid()'s buffer. */
static const char *
user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		strlcpy(buf, pw->pw_name, len);
	else
		snprintf(buf, len, "uid %d", (int)uid);
	return buf;
}

static void
print_owner(
    FILE *fp, const char *label, const char *path, uid_t have, uid_t want)
{
	char b1[64], b2[64];

	fprintf(fp, "%s (%s): owner %s, should be %s\n", label, path,
	    user_name(have, b1, sizeof(b1)), user_name(want, b2, sizeof(b2)));
}

int
qlayout_create(
    const struct nc_config *cfg, uid_t uid, gid_t gid, int as_root, char **err)
{
	char *path;
	int i, rc = 0;

	*err = NULL;
	for (i = 0; rc == 0 && qdirs[i].name != NULL; i++) {
		path = config_qpath(cfg, qdirs[i].name);
		rc = make_dir(path, qdirs[i].mode,
		    want_uid(qdirs[i].owned, uid, as_root),
		    qdirs[i].owned ? gid : 0, as_root, err);
		free(path);
	}
	/* An existing drop directory keeps the mode its administrator
	 * chose; only a new one gets ours. */
	if (rc == 0 && *cfg->drop_directory != '\0' &&
	    access(cfg->drop_directory, F_OK) == -1)
		rc = make_dir(
		    cfg->drop_directory, DROP_MODE, uid, gid, as_root, err);
	return rc;
}

static int
check_one(const char *label, const char *path, int dir, mode_t mode, uid_t uid,
    FILE *fp)
{
	struct stat st;
	int problems = 0;

	if (lstat(path, &st) == -1)
		return 0;
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		fprintf(fp, "%s (%s): not a %s\n", label, path,
		    dir ? "directory" : "regular file");
		return 1;
	}
	if (st.st_uid != uid) {
		print_owner(fp, label, path, st.st_uid, uid);
		problems++;
	}
	if (dir && (st.st_mode & 07777) != mode) {
		fprintf(fp, "%s (%s): mode %04o, should be %04o\n", label, path,
		    (unsigned)(st.st_mode & 07777), (unsigned)mode);
		problems++;
	}
	return problems;
}

/* pickup (mail_owner) lists, removes and moves the files dropped there;
 * others may write only if the sticky bit protects each one's file. */
static int
check_drop(const struct nc_config *cfg, uid_t uid, FILE *fp)
{
	const char *path = cfg->drop_directory;
	struct stat st;
	int problems = 0;

	if (*path == '\0' || stat(path, &st) == -1)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		fprintf(fp, "drop_directory (%s): not a directory\n", path);
		return 1;
	}
	if (st.st_uid != uid) {
		print_owner(fp, "drop_directory", path, st.st_uid, uid);
		problems++;
	}
	if ((st.st_mode & 0700) != 0700 ||
	    ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX))) {
		fprintf(fp, "drop_directory (%s): mode %04o, should be %04o\n",
		    path, (unsigned)(st.st_mode & 07777), DROP_MODE);
		problems++;
	}
	return problems;
}

int
qlayout_check(
    const struct nc_config *cfg, uid_t uid, gid_t gid, int as_root, FILE *fp)
{
	char *path, *label;
	int i, problems = 0;

	(void)gid;
	for (i = 0; qdirs[i].name != NULL; i++) {
		path = config_qpath(cfg, qdirs[i].name);
		xasprintf(&label, "queue_directory%s%s",
		    *qdirs[i].name ? "/" : "", qdirs[i].name);
		problems += check_one(label, path, 1, qdirs[i].mode,
		    want_uid(qdirs[i].owned, uid, as_root), fp);
		free(label);
		free(path);
	}
	for (i = 0; qfiles[i] != NULL; i++) {
		path = config_qpath(cfg, qfiles[i]);
		xasprintf(&label, "queue_directory/%s", qfiles[i]);
		problems += check_one(label, path, 0, 0, uid, fp);
		free(label);
		free(path);
	}
	return problems + check_drop(cfg, uid, fp);
}
