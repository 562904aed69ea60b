/*
 * qlayout_test.c - the queue tree (common/qlayout.c) in a scratch
 * directory, without root: directories made with their modes through
 * descriptors, a symbolic link in place of a directory or a queue file
 * refused and named, never followed; the queue files' check as the
 * master and ncctl check use it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "config.h"
#include "qlayout.h"
#include "util.h"

static char base[] = "/tmp/qlayout_test.XXXXXX";
static FILE *quiet; /* what qlayout_check() prints goes here */

static void
load(struct nc_config *cfg, const char *qdir)
{
	struct cf_errors e = {NULL, 0};
	char *text;

	xasprintf(&text, "queue_directory = %s\n", qdir);
	if (config_load_text(cfg, "test.conf", text, &e) == -1)
		abort();
	free(text);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void
test_create(void)
{
	struct nc_config cfg;
	char qdir[256], path[300], *err = NULL;

	snprintf(qdir, sizeof(qdir), "%s/queue", base);
	load(&cfg, qdir);
	ok(qlayout_create(&cfg, getuid(), getgid(), 0, &err) == 0,
	    "the tree is made: %s", err ? err : "");
	snprintf(path, sizeof(path), "%s/maildrop", qdir);
	is_int(mode_of(path), 01733, "maildrop 1733");
	snprintf(path, sizeof(path), "%s/private", qdir);
	is_int(mode_of(path), 0711, "private 0711");
	chmod(path, 0777);
	ok(qlayout_create(&cfg, getuid(), getgid(), 0, &err) == 0 &&
	        mode_of(path) == 0711,
	    "a wrong mode is put right");
	is_int(qlayout_check(&cfg, getuid(), getgid(), 0, quiet), 0,
	    "and the check finds nothing");
	snprintf(path, sizeof(path), "%s/incoming", qdir);
	is_int(mode_of(path), 0700, "incoming 0700 (smtpd's spool)");
	chmod(path, 0755);
	is_int(qlayout_check(&cfg, getuid(), getgid(), 0, quiet), 1,
	    "incoming open to others: the check names it");
	ok(qlayout_create(&cfg, getuid(), getgid(), 0, &err) == 0 &&
	        mode_of(path) == 0700,
	    "and the master puts it right");

	/* a link in place of a directory: refused, its target untouched */
	snprintf(path, sizeof(path), "%s/elsewhere", base);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/flags", qdir);
	rmdir(path);
	if (symlink("../elsewhere", path) == -1)
		abort();
	err = NULL;
	ok(qlayout_create(&cfg, getuid(), getgid(), 0, &err) == -1,
	    "a link in place of flags/ is refused");
	ok(err != NULL && strstr(err, "flags is a symbolic link") != NULL,
	    "naming it: %s", err ? err : "");
	free(err);
	snprintf(path, sizeof(path), "%s/elsewhere", base);
	is_int(mode_of(path), 0750, "the link's target keeps its mode");
	ok(qlayout_check(&cfg, getuid(), getgid(), 0, quiet) == 1,
	    "ncctl check names it too");
	snprintf(path, sizeof(path), "%s/flags", qdir);
	unlink(path);
	config_free(&cfg);
}

static void
test_queue_files(void)
{
	struct nc_config cfg;
	char qdir[256], path[300], *why = NULL;
	int fd;

	snprintf(qdir, sizeof(qdir), "%s/queue", base);
	load(&cfg, qdir);
	is_int(qlayout_check_queue_files(&cfg, getuid(), NULL, &why), 0,
	    "no queue files yet: nothing wrong");
	ok(why == NULL, "and nothing said");
	snprintf(path, sizeof(path), "%s/db/data.mdb", qdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	is_int(qlayout_check_queue_files(&cfg, getuid(), NULL, NULL), 0,
	    "a regular file of the owner's is right");
	is_int(qlayout_check_queue_files(&cfg, getuid() + 1, NULL, &why), 1,
	    "someone else's is not");
	ok(why != NULL && strstr(why, "db/data.mdb") != NULL &&
	        strstr(why, ": owner ") != NULL,
	    "the reason names it: %s", why ? why : "");
	free(why);
	snprintf(path, sizeof(path), "%s/db/lock.mdb", qdir);
	if (symlink("/etc/passwd", path) == -1)
		abort();
	is_int(qlayout_check_queue_files(&cfg, getuid(), NULL, &why), 1,
	    "a link in place of lock.mdb is wrong");
	ok(why != NULL && strstr(why, "db/lock.mdb") != NULL &&
	        strstr(why, "a symbolic link, should be a regular file") !=
	            NULL,
	    "and said so: %s", why ? why : "");
	free(why);
	unlink(path);
	snprintf(path, sizeof(path), "%s/db/data.mdb", qdir);
	unlink(path);
	config_free(&cfg);
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(base) == NULL)
		abort();
	umask(022);
	if ((quiet = fopen("/dev/null", "w")) == NULL)
		abort();
	test_create();
	test_queue_files();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return done_testing();
}
