/*
 * qlayout.c - one table of the queue directory tree, used both to create
 * it (master) and to check it (ncctl check), so the two cannot disagree.
 * Directories are created and fixed through descriptors opened
 * O_NOFOLLOW: root never changes an owner or mode by name.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qlayout.h"
#include "util.h"

/* maildrop is writable by every local user (ncsendmail) but listable only
 * by mail_owner; the sticky bit keeps users from removing others' files.
 * private/ and public/ hold the sockets the master binds: root's, so
 * nobody else can swap a socket for a link between bind and chown;
 * mail_owner's daemons only need to pass through private/. incoming/ is
 * smtpd's spool and chroot: only mail_owner goes in. */
static const struct {
	const char *name;
	mode_t mode;
	int owned; /* by mail_owner, else by root */
} qdirs[] = {{"", 0755, 0}, {"db", 0700, 1}, {"maildrop", 01733, 1},
    {"private", 0711, 0}, {"public", 0755, 0}, {"pid", 0755, 0},
    {"flags", 0755, 1}, {"corrupt", 0700, 1}, {"empty", 0555, 0},
    {"incoming", 0700, 1}, {NULL, 0, 0}};

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

/* name in dirfd, made if missing (*made), opened without following it. */
static int
dir_open_at(int dirfd, const char *name, const char *path, mode_t mode,
    int *made, char **err)
{
	struct stat st;
	int fd;

	*made = mkdirat(dirfd, name, mode) == 0;
	if (!*made && errno != EEXIST)
		return sys_failed(err, "mkdir", path);
	fd = openat(
	    dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1)
		return fd;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode)) {
		xasprintf(err, "%s is %s", path,
		    S_ISLNK(st.st_mode) ? "a symbolic link, not a directory"
		                        : "not a directory");
		return -1;
	}
	return sys_failed(err, "open", path);
}

/* Owner first (a chown may clear mode bits), then the mode. */
static int
dir_fix(int fd, const char *path, mode_t mode, uid_t uid, gid_t gid,
    int chown_it, char **err)
{
	if (chown_it && fchown(fd, uid, gid) == -1)
		return sys_failed(err, "chown", path);
	if (fchmod(fd, mode) == -1)
		return sys_failed(err, "chmod", path);
	return 0;
}

int
qlayout_dir_at(int dirfd, const char *name, const char *path, mode_t mode,
    uid_t uid, gid_t gid, int chown_it, char **err)
{
	int fd, made;

	if ((fd = dir_open_at(dirfd, name, path, mode, &made, err)) == -1)
		return -1;
	if (dir_fix(fd, path, mode, uid, gid, chown_it, err) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An existing drop directory keeps the owner and mode its administrator
 * chose; only a new one gets ours. A link is refused either way. */
static int
make_drop(const char *path, uid_t uid, gid_t gid, int as_root, char **err)
{
	int fd, made, rc = 0;

	if ((fd = dir_open_at(AT_FDCWD, path, path, DROP_MODE, &made, err)) ==
	    -1)
		return -1;
	if (made)
		rc = dir_fix(fd, path, DROP_MODE, uid, gid, as_root, err);
	close(fd);
	return rc;
}

int
qlayout_create(
    const struct nc_config *cfg, uid_t uid, gid_t gid, int as_root, char **err)
{
	const char *top = cfg->queue_directory;
	char *path;
	int i, qfd, fd = 0;

	*err = NULL;
	qfd = qlayout_dir_at(
	    AT_FDCWD, top, top, qdirs[0].mode, 0, 0, as_root, err);
	if (qfd == -1)
		return -1;
	for (i = 1; fd != -1 && qdirs[i].name != NULL; i++) {
		path = config_qpath(cfg, qdirs[i].name);
		fd = qlayout_dir_at(qfd, qdirs[i].name, path, qdirs[i].mode,
		    want_uid(qdirs[i].owned, uid, as_root),
		    qdirs[i].owned ? gid : 0, as_root, err);
		if (fd != -1)
			close(fd);
		free(path);
	}
	close(qfd);
	if (fd == -1)
		return -1;
	if (*cfg->drop_directory != '\0')
		return make_drop(cfg->drop_directory, uid, gid, as_root, err);
	return 0;
}

int
qlayout_open(const struct nc_config *cfg, const char *name, char **err)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	char *path = config_qpath(cfg, name);
	int qfd, fd = -1;

	if ((qfd = open(cfg->queue_directory, flags)) != -1 &&
	    (fd = openat(qfd, name, flags)) != -1) {
		close(qfd);
		free(path);
		return fd;
	}
	(void)sys_failed(err, "open", qfd == -1 ? cfg->queue_directory : path);
	if (qfd != -1)
		close(qfd);
	free(path);
	return -1;
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

static int
check_one(const char *label, const char *path, mode_t mode, uid_t uid, FILE *fp)
{
	struct stat st;
	int problems = 0;

	if (lstat(path, &st) == -1)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		fprintf(fp, "%s (%s): %s\n", label, path,
		    S_ISLNK(st.st_mode) ? "a symbolic link, not a directory"
		                        : "not a directory");
		return 1;
	}
	if (st.st_uid != uid) {
		print_owner(fp, label, path, st.st_uid, uid);
		problems++;
	}
	if ((st.st_mode & 07777) != mode) {
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

	if (*path == '\0' || lstat(path, &st) == -1)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		fprintf(fp, "drop_directory (%s): %s\n", path,
		    S_ISLNK(st.st_mode) ? "a symbolic link, not a directory"
		                        : "not a directory");
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

/* What is wrong with one queue file, or NULL (absent is fine). */
static char *
queue_file_problem(const struct nc_config *cfg, const char *rel, uid_t uid)
{
	char *path = config_qpath(cfg, rel), *why = NULL, b1[64], b2[64];
	struct stat st;

	/* absent, or out of a non-root caller's reach: nothing to say */
	if (lstat(path, &st) == -1) {
		free(path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
		xasprintf(&why,
		    "queue_directory/%s (%s): %s, should be a regular file "
		    "owned by %s",
		    rel, path,
		    S_ISLNK(st.st_mode) ? "a symbolic link"
		                        : "not a regular file",
		    user_name(uid, b1, sizeof(b1)));
	else if (st.st_uid != uid)
		xasprintf(&why,
		    "queue_directory/%s (%s): owner %s, should be %s", rel,
		    path, user_name(st.st_uid, b1, sizeof(b1)),
		    user_name(uid, b2, sizeof(b2)));
	free(path);
	return why;
}

int
qlayout_check_queue_files(
    const struct nc_config *cfg, uid_t uid, FILE *fp, char **why)
{
	char *p;
	int i, problems = 0;

	if (why != NULL)
		*why = NULL;
	for (i = 0; qfiles[i] != NULL; i++) {
		if ((p = queue_file_problem(cfg, qfiles[i], uid)) == NULL)
			continue;
		if (fp != NULL)
			fprintf(fp, "%s\n", p);
		if (why != NULL && *why == NULL)
			*why = p;
		else
			free(p);
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
		path = *qdirs[i].name ? config_qpath(cfg, qdirs[i].name)
		                      : xstrdup(cfg->queue_directory);
		xasprintf(&label, "queue_directory%s%s",
		    *qdirs[i].name ? "/" : "", qdirs[i].name);
		problems += check_one(label, path, qdirs[i].mode,
		    want_uid(qdirs[i].owned, uid, as_root), fp);
		free(label);
		free(path);
	}
	problems += qlayout_check_queue_files(cfg, uid, fp, NULL);
	return problems + check_drop(cfg, uid, fp);
}
