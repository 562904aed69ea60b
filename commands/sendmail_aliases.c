/*
 * sendmail_aliases.c - `newaliases` (and `ncsendmail -bi` / `-I`): check
 * the aliases file named by alias_maps, print every problem as
 * FILE:LINE: why, and when ncmta runs, have it reload so the file takes
 * effect. There is no database to build: the daemons read the text file.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "aliases.h"
#include "ncsendmail.h"

/* Whether the master runs: it holds a lock on its pid file. */
static int
na_master_running(void)
{
	char *path = config_qpath(&sm.cfg, "pid/master.pid");
	int fd, running;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return 0;
	running = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);
	return running;
}

/* ncctl reload, in our configuration directory; 0 when it worked. */
static int
na_reload(void)
{
	char *args[5];
	int n = 0, rc;

	args[n++] = "ncctl";
	args[n++] = "-c";
	args[n++] = sm.cfg.config_dir;
	args[n++] = "reload";
	args[n] = NULL;
	if ((rc = sm_run(args[0], args, 1)) == -1)
		fprintf(stderr, "newaliases: cannot run ncctl reload\n");
	else if (rc != 0)
		fprintf(stderr,
		    "newaliases: the aliases file is valid, but ncmta was not "
		    "reloaded (ncctl reload exited %d)\n",
		    rc);
	return rc == 0 ? 0 : -1;
}

int
sm_newaliases(void)
{
	struct cf_errors errs = {NULL, 0};
	struct alias_table t;
	const char *path = sm.cfg.alias_maps;
	int rc;

	if (path == NULL || *path == '\0') {
		if (sm.verbose)
			fprintf(stderr,
			    "newaliases: alias_maps is empty, "
			    "no aliases file to check\n");
		return EX_OK;
	}
	rc = aliases_load(path, &t, &errs);
	aliases_print_warnings(&t, stderr, "newaliases: warning: ");
	if (rc == -1 && errs.text != NULL)
		fputs(errs.text, stderr);
	else if (rc == -1)
		fprintf(stderr, "%s: cannot be used\n", path);
	else if (sm.verbose)
		fprintf(stderr, "newaliases: %s: %zu aliases\n", path, t.n);
	aliases_free(&t);
	cf_errors_free(&errs);
	if (rc == -1)
		return 1;
	if (na_master_running() && na_reload() == -1)
		return 1;
	return EX_OK;
}
