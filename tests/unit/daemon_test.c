/*
 * daemon_test.c - what a daemon takes from its argv (common/daemon.c):
 * the chroot and listening sockets its row of the master's service
 * table gives it (-r, -l), nothing when started by hand, and a usage
 * error (exit 64) for a count out of range or a relative chroot.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "tap.h"

static char dir[] = "/tmp/daemon_test.XXXXXX";

/* daemon_setup() with argv in a child; its exit status (64: usage), or
 * 0 when it returned with no chroot and no sockets, 1 otherwise. */
static int
setup_in_child(char **argv)
{
	struct nc_config cfg;
	int argc = 0, status, n;
	pid_t pid;

	while (argv[argc] != NULL)
		argc++;
	fflush(stdout); /* the child may exit() */
	if ((pid = fork()) == 0) {
		fclose(stderr); /* the usage line */
		daemon_setup(argc, argv, "test", &cfg);
		daemon_listen_fds(&n);
		_exit(n == 0 && daemon_chroot() == NULL ? 0 : 1);
	}
	if (pid == -1 || waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int
main(void)
{
	struct nc_config cfg;
	char conf[300];
	FILE *f;
	int first, n;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(conf, sizeof(conf), "%s/ncmta.conf", dir);
	if ((f = fopen(conf, "w")) == NULL)
		abort();
	fputs("log_target = stderr\n", f);
	fclose(f);

	{
		char *argv[] = {"ncmta-test", "-c", dir, NULL};

		is_int(setup_in_child(argv), 0,
		    "started by hand: no chroot, no listening socket");
	}
	{
		char *argv[] = {"ncmta-test", "-c", dir, "-l", "33", NULL};

		is_int(setup_in_child(argv), 64, "-l 33: too many sockets");
	}
	{
		char *argv[] = {"ncmta-test", "-c", dir, "-l", "2x", NULL};

		is_int(setup_in_child(argv), 64, "-l 2x: not a number");
	}
	{
		char *argv[] = {"ncmta-test", "-c", dir, "-r", "spool", NULL};

		is_int(setup_in_child(argv), 64, "-r spool: not absolute");
	}
	{
		char *argv[] = {"ncmta-test", "-c", dir, "-u", "nobody", "-r",
		    "/var/spool/ncmta/incoming", "-l", "2", NULL};

		daemon_setup(9, argv, "test", &cfg);
		first = daemon_listen_fds(&n);
		is_int(first, DAEMON_LISTEN_FD, "the first socket is fd 4");
		is_int(first, 4, "fd 4 it is");
		is_int(n, 2, "two of them (-l 2)");
		is_str(daemon_chroot(), "/var/spool/ncmta/incoming",
		    "the chroot of -r");
		config_free(&cfg);
	}
	unlink(conf);
	rmdir(dir);
	return done_testing();
}
