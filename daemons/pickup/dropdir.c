/*
 * dropdir.c - pickup's side of drop_directory: watches it (inotify and
 * pickup's periodic scan), hands pickup each file once it is complete (a
 * name not ".*" or "*.tmp", unchanged for DROPDIR_STABLE_MS), reads it
 * for the same ingest path maildrop files take, and afterwards removes
 * it or moves it to bad/ with a NAME.reason file. Everything goes
 * through descriptors opened before pickup chroots and drops root.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "maildrop.h"
#include "pickup.h"
#include "util.h"

#define DD_HEADER_SLACK (64 * 1024) /* X-Sender/X-Receiver lines */
#define DD_KEY_MAX 512
#define DD_BAD_TRIES 100 /* NAME, NAME.1 ... NAME.99 in bad/ */

/* A file seen in the directory, and how far it has come. */
enum dd_state {
	DD_WAIT, /* watching until it stands still */
	DD_TAKEN, /* handed to pickup */
	DD_DONE /* queued or refused, yet still here: never again */
};

struct dd_file {
	RB_ENTRY(dd_file) entry;
	char *name;
	struct dropdir_ident id;
	struct timespec seen_at; /* monotonic: when id was first seen */
	enum dd_state state;
	int mark; /* found by the current scan */
};
RB_HEAD(dd_files, dd_file);
RB_PROTOTYPE(dd_files, dd_file, entry, dd_file_cmp);

static int
dd_file_cmp(struct dd_file *a, struct dd_file *b)
{
	return strcmp(a->name, b->name);
}
RB_GENERATE(dd_files, dd_file, entry, dd_file_cmp);

struct dropdir {
	char *path; /* for log lines */
	char *origin; /* myorigin, for unqualified addresses */
	int64_t size_limit;
	int fd, bad_fd, ino_fd;
	struct event *ev_ino, *ev_check;
	struct dd_files files;
	void (*take)(const char *key);
	int writable; /* mail_owner may rename and remove files here */
	int unsynced; /* a file was removed since the last fsync */
	char why[256];
};

/* -- the files we watch ------------------------------------------------------ */

static void
dd_ident(const struct stat *st, struct dropdir_ident *id)
{
	id->ino = (uint64_t)st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static struct dd_file *
dd_find(struct dropdir *dd, const char *name)
{
	struct dd_file key = {.name = (char *)name};

	return RB_FIND(dd_files, &dd->files, &key);
}

static void
dd_forget(struct dropdir *dd, struct dd_file *f)
{
	RB_REMOVE(dd_files, &dd->files, f);
	free(f->name);
	free(f);
}

static void
dd_watch_from(struct dd_file *f, const struct stat *st)
{
	dd_ident(st, &f->id);
	clock_gettime(CLOCK_MONOTONIC, &f->seen_at);
	f->state = DD_WAIT;
}

static void
dd_arm(struct dropdir *dd, long ms)
{
	struct timeval tv;

	if (ms < 50)
		ms = 50;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(dd->ev_check, &tv);
}

/*
 * A name appeared or changed: start watching it, or watch it afresh when
 * it is another file now. Directories (bad/) and in-progress names are
 * not ours. Returns the entry, or NULL.
 */
static struct dd_file *
dd_note(struct dropdir *dd, const char *name)
{
	struct dd_file *f = dd_find(dd, name);
	struct dropdir_ident id;
	struct stat st;

	if (!dropdir_name_ok(name))
		return NULL;
	if (fstatat(dd->fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    S_ISDIR(st.st_mode)) {
		if (f != NULL)
			dd_forget(dd, f);
		return NULL;
	}
	if (f == NULL) {
		f = xcalloc(1, sizeof(*f));
		f->name = xstrdup(name);
		RB_INSERT(dd_files, &dd->files, f);
		dd_watch_from(f, &st);
	} else {
		dd_ident(&st, &id);
		if (!dropdir_ident_same(&id, &f->id))
			dd_watch_from(f, &st);
	}
	if (f->state == DD_WAIT && !evtimer_pending(dd->ev_check, NULL))
		dd_arm(dd, DROPDIR_STABLE_MS);
	return f;
}

static int dd_bad(struct dropdir *, const char *name, const char *why);

/* The file is complete: give it to pickup under its key. */
static void
dd_hand(struct dropdir *dd, struct dd_file *f)
{
	char key[DD_KEY_MAX];
	const char *why = "file name too long";

	if (!dropdir_name_usable(f->name, &why) ||
	    dropdir_key_make(f->name, &f->id, key, sizeof(key)) == -1) {
		dd_bad(dd, f->name, why); /* may free f */
		return;
	}
	f->state = DD_TAKEN;
	dd->take(key);
}

/* Hand over what stood still long enough; look again when the next one
 * may have. */
static void
dd_check(struct dropdir *dd)
{
	struct dd_file *f, *tmp;
	struct dropdir_ident id;
	struct timespec mono, wall;
	struct stat st;
	long wait, next = 0;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	RB_FOREACH_SAFE(f, dd_files, &dd->files, tmp)
	{
		if (f->state != DD_WAIT)
			continue;
		if (fstatat(dd->fd, f->name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			dd_forget(dd, f);
			continue;
		}
		dd_ident(&st, &id);
		if ((wait = dropdir_stable_wait(
		         &f->id, &f->seen_at, &id, &mono, &wall)) > 0) {
			if (!dropdir_ident_same(&id, &f->id))
				dd_watch_from(f, &st);
			next = next == 0 || wait < next ? wait : next;
		} else if (dd->writable)
			dd_hand(dd, f);
	}
	if (next > 0)
		dd_arm(dd, next);
}

static void
dd_check_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	dd_check(arg);
}

/* Taking files we could not remove would queue them again and again. */
static void
dd_check_writable(struct dropdir *dd)
{
	int w = faccessat(dd->fd, ".", W_OK | X_OK, AT_EACCESS) == 0;

	if (!w && dd->writable)
		log_warnx("%s is not writable by mail_owner: its files are "
		          "not taken until it is",
		    dd->path);
	else if (w && !dd->writable)
		log_info("%s is writable again", dd->path);
	dd->writable = w;
}

void
dropdir_scan(struct dropdir *dd)
{
	struct dd_file *f, *tmp;
	struct dirent *de;
	DIR *dir;
	int fd;

	if (dd == NULL)
		return;
	dd_check_writable(dd);
	fd = openat(dd->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("cannot read %s", dd->path);
		if (fd != -1)
			close(fd);
		return;
	}
	RB_FOREACH(f, dd_files, &dd->files)
	f->mark = 0;
	while ((de = readdir(dir)) != NULL)
		if ((f = dd_note(dd, de->d_name)) != NULL)
			f->mark = 1;
	closedir(dir);
	RB_FOREACH_SAFE(f, dd_files, &dd->files, tmp)
	{
		if (!f->mark)
			dd_forget(dd, f);
		else if (f->state == DD_TAKEN && dd->writable)
			dd_hand(dd, f); /* again: it may have been put back */
	}
	dd_check(dd);
}

static void
dd_inotify_cb(evutil_socket_t fd, short ev, void *arg)
{
	char buf[16 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	struct dropdir *dd = arg;
	ssize_t n;
	char *p;

	(void)ev;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->mask & IN_Q_OVERFLOW)
				dropdir_scan(dd);
			else if (ie->len > 0)
				dd_note(dd, ie->name);
		}
	}
}

/* -- what pickup does with a file ---------------------------------------------- */

int
dropdir_owns(const char *key)
{
	return strncmp(key, DROPDIR_KEY_PREFIX, strlen(DROPDIR_KEY_PREFIX)) ==
	    0;
}

static enum pk_read
dd_refuse(struct dropdir *dd, const char **why, const char *text)
{
	if (text != dd->why)
		strlcpy(dd->why, text, sizeof(dd->why));
	*why = dd->why;
	return PK_READ_BAD;
}

/* Whether the open file is still the one its key names; if not, watch
 * the new one from the start. */
static int
dd_same_file(struct dropdir *dd, const char *name,
    const struct dropdir_ident *want, const struct stat *st)
{
	struct dd_file *f;

	if ((uint64_t)st->st_ino == want->ino &&
	    st->st_ctim.tv_sec == want->ctime.tv_sec &&
	    st->st_ctim.tv_nsec == want->ctime.tv_nsec)
		return 1;
	if ((f = dd_note(dd, name)) != NULL)
		dd_watch_from(f, st);
	return 0;
}

static enum pk_read
dd_open(struct dropdir *dd, const char *name, int *fd, const char **why)
{
	*fd = openat(
	    dd->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (*fd != -1)
		return PK_READ_OK;
	if (errno == ENOENT)
		return PK_READ_GONE;
	if (errno == ELOOP)
		return dd_refuse(dd, why, "a symbolic link");
	if (errno == EACCES || errno == EPERM) {
		snprintf(dd->why, sizeof(dd->why), "cannot be read: %s",
		    strerror(errno));
		return dd_refuse(dd, why, dd->why);
	}
	log_warn("cannot open %s/%s", dd->path, name);
	return PK_READ_RETRY;
}

static enum pk_read
dd_check_open(struct dropdir *dd, int fd, const char *name,
    const struct dropdir_ident *want, struct stat *st, const char **why)
{
	if (fstat(fd, st) == -1) {
		log_warn("cannot stat %s/%s", dd->path, name);
		return PK_READ_RETRY;
	}
	if (!dd_same_file(dd, name, want, st))
		return PK_READ_RETRY;
	if (!S_ISREG(st->st_mode))
		return dd_refuse(dd, why, "not a regular file");
	if (st->st_nlink != 1)
		return dd_refuse(dd, why, "more than one link to the file");
	if (st->st_size > dd->size_limit + DD_HEADER_SLACK)
		return dd_refuse(dd, why, "larger than message_size_limit");
	return PK_READ_OK;
}

enum pk_read
dropdir_read(struct dropdir *dd, const char *key, char **data, size_t *len,
    uint32_t *uid, struct maildrop *md, const char **why)
{
	struct dropdir_ident want;
	const char *name;
	struct stat st;
	enum pk_read r;
	int fd;

	if (dd == NULL || dropdir_key_parse(key, &want, &name) == -1)
		return PK_READ_GONE;
	if ((r = dd_open(dd, name, &fd, why)) != PK_READ_OK)
		return r;
	if ((r = dd_check_open(dd, fd, name, &want, &st, why)) == PK_READ_OK &&
	    pk_read_all(fd, data, len, (size_t)st.st_size) == -1) {
		log_warn("cannot read %s/%s", dd->path, name);
		r = PK_READ_RETRY;
	}
	close(fd);
	if (r != PK_READ_OK)
		return r;
	*uid = (uint32_t)st.st_uid;
	if (dropfile_parse(
	        *data, *len, dd->origin, md, dd->why, sizeof(dd->why)) == -1)
		return dd_refuse(dd, why, dd->why);
	if ((int64_t)md->msglen > dd->size_limit)
		return dd_refuse(dd, why, "larger than message_size_limit");
	return PK_READ_OK;
}

/* A file name fit for a log line: control characters become '?'. */
static const char *
dd_show(const char *name, char *buf, size_t len)
{
	size_t i;

	strlcpy(buf, name, len);
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 32 || buf[i] == 127)
			buf[i] = '?';
	return buf;
}

/* NAME.reason beside the bad file: its one line says why. */
static void
dd_write_reason(struct dropdir *dd, const char *target, const char *why)
{
	char *rname, *line, show[NAME_MAX + 16];
	int fd, n;

	xasprintf(&rname, "%s.reason", target);
	n = xasprintf(&line, "%s\n", why);
	fd = openat(dd->bad_fd, rname,
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd == -1 || write(fd, line, (size_t)n) != n)
		log_warn("cannot write %s/bad/%s", dd->path,
		    dd_show(rname, show, sizeof(show)));
	if (fd != -1)
		close(fd);
	free(rname);
	free(line);
}

/* Move name into bad/ under a name not taken there yet; 0 and the name
 * used in target, or -1. */
static int
dd_rename_bad(struct dropdir *dd, const char *name, char *target, size_t len)
{
	int i;

	for (i = 0; i < DD_BAD_TRIES; i++) {
		if (i == 0)
			strlcpy(target, name, len);
		else
			snprintf(target, len, "%s.%d", name, i);
		if (renameat2(dd->fd, name, dd->bad_fd, target,
		        RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL &&
		    faccessat(dd->bad_fd, target, F_OK, AT_SYMLINK_NOFOLLOW) ==
		        -1 &&
		    renameat(dd->fd, name, dd->bad_fd, target) == 0)
			return 0; /* a file system without RENAME_NOREPLACE */
		if (errno != EEXIST && errno != EINVAL)
			return -1;
	}
	return -1;
}

static int
dd_bad(struct dropdir *dd, const char *name, const char *why)
{
	struct dd_file *f = dd_find(dd, name);
	char target[NAME_MAX + 1], show[NAME_MAX + 1], tshow[NAME_MAX + 1];

	dd_show(name, show, sizeof(show));
	if (dd->bad_fd == -1 ||
	    dd_rename_bad(dd, name, target, sizeof(target)) == -1) {
		log_warnx("%s/%s: %s; cannot move it to bad/: %s", dd->path,
		    show, why,
		    dd->bad_fd == -1 ? "no bad/ directory" : strerror(errno));
		if (f != NULL)
			f->state = DD_DONE;
		return -1;
	}
	log_warnx("%s/%s: %s; moved to bad/%s", dd->path, show, why,
	    dd_show(target, tshow, sizeof(tshow)));
	dd_write_reason(dd, target, why);
	if (f != NULL)
		dd_forget(dd, f);
	return 0;
}

int
dropdir_move_bad(struct dropdir *dd, const char *key, const char *why)
{
	struct dropdir_ident id;
	const char *name;

	if (dd == NULL || dropdir_key_parse(key, &id, &name) == -1)
		return -1;
	return dd_bad(dd, name, why);
}

int
dropdir_remove(struct dropdir *dd, const char *key)
{
	struct dropdir_ident want;
	struct dd_file *f;
	const char *name;
	struct stat st;

	if (dd == NULL || dropdir_key_parse(key, &want, &name) == -1 ||
	    fstatat(dd->fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    (uint64_t)st.st_ino != want.ino ||
	    st.st_ctim.tv_sec != want.ctime.tv_sec ||
	    st.st_ctim.tv_nsec != want.ctime.tv_nsec)
		return 1; /* gone, or another file took the name */
	f = dd_find(dd, name);
	if (unlinkat(dd->fd, name, 0) == -1) {
		log_warn("cannot remove %s/%s; it is queued and will not "
		         "be taken again",
		    dd->path, name);
		if (f != NULL)
			f->state = DD_DONE;
		return -1;
	}
	if (f != NULL)
		dd_forget(dd, f);
	dd->unsynced = 1;
	return 0;
}

void
dropdir_recovered(struct dropdir *dd, const char *key, const char *qid)
{
	struct dropdir_ident id;
	const char *name;

	if (dropdir_remove(dd, key) == 0 &&
	    dropdir_key_parse(key, &id, &name) == 0)
		log_info("%s: %s/%s was already queued; removed", qid, dd->path,
		    name);
}

int
dropdir_sync(struct dropdir *dd)
{
	if (dd == NULL || !dd->unsynced)
		return 0;
	if (fsync(dd->fd) == -1) {
		log_warn("fsync %s", dd->path);
		return -1;
	}
	dd->unsynced = 0;
	return 0;
}

/* -- start-up ------------------------------------------------------------------ */

/* bad/: made here if missing, owned by mail_owner, opened by descriptor
 * (never through a symbolic link someone put in its place). */
static void
dd_open_bad(struct dropdir *dd, const struct nc_config *cfg)
{
	struct passwd *pw;
	int made = mkdirat(dd->fd, "bad", 0750) == 0;

	dd->bad_fd = openat(
	    dd->fd, "bad", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dd->bad_fd == -1) {
		log_warn("cannot open %s/bad", dd->path);
		return;
	}
	if (made && geteuid() == 0 &&
	    (pw = getpwnam(cfg->mail_owner)) != NULL &&
	    fchown(dd->bad_fd, pw->pw_uid, pw->pw_gid) == -1)
		log_warn("chown %s/bad", dd->path);
}

static void
dd_events(struct dropdir *dd, struct event_base *base)
{
	dd->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (dd->ino_fd == -1 ||
	    inotify_add_watch(dd->ino_fd, dd->path,
	        IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_ATTRIB) == -1)
		fatal("inotify on %s", dd->path);
	dd->ev_ino = event_new(
	    base, dd->ino_fd, EV_READ | EV_PERSIST, dd_inotify_cb, dd);
	dd->ev_check = evtimer_new(base, dd_check_cb, dd);
	if (dd->ev_ino == NULL || dd->ev_check == NULL)
		fatalx("event_new");
	event_add(dd->ev_ino, NULL);
}

void
dropdir_reload(struct dropdir *dd, const struct nc_config *cfg)
{
	if (dd == NULL)
		return;
	free(dd->origin);
	dd->origin = xstrdup(cfg->myorigin);
	dd->size_limit = cfg->message_size_limit;
}

struct dropdir *
dropdir_open(const struct nc_config *cfg, struct event_base *base,
    void (*take)(const char *))
{
	struct dropdir *dd;
	int fd;

	if (cfg->drop_directory == NULL || *cfg->drop_directory == '\0')
		return NULL;
	if (cfg->drop_directory[0] != '/') {
		log_warnx("drop_directory %s is not an absolute path; "
		          "not used",
		    cfg->drop_directory);
		return NULL;
	}
	fd = open(cfg->drop_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		log_warn("drop_directory %s not used", cfg->drop_directory);
		return NULL;
	}
	dd = xcalloc(1, sizeof(*dd));
	dd->path = xstrdup(cfg->drop_directory);
	dd->origin = xstrdup(cfg->myorigin);
	dd->size_limit = cfg->message_size_limit;
	dd->fd = fd;
	dd->take = take;
	dd->writable = 1;
	RB_INIT(&dd->files);
	dd_open_bad(dd, cfg);
	dd_events(dd, base);
	return dd;
}
