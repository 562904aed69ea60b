/*
 * viewgroup.c - queue_view_group membership. showq decides, in its
 * chroot and without root, from what the kernel recorded about the
 * caller at connect(): SO_PEERCRED's gid and SO_PEERGROUPS' supplementary
 * groups. Neither can be forged by the caller, neither changes after the
 * connection is made (unlike /proc/PID/status, which a caller could
 * exit and have its pid reused under), and neither needs /etc/group,
 * which the chroot hides: only the group's name is resolved, once, at
 * start. Membership is thus that of the caller's process, as for file
 * permissions: a user added to the group gets it from their next login.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "viewgroup.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

#define VIEWGROUP_MAX_GROUPS 65536 /* NGROUPS_MAX of Linux */

int
viewgroup_resolve(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group *gr;

	if (*name == '\0')
		return 0;
	errno = 0;
	if ((gr = getgrnam(name)) == NULL) {
		snprintf(err, errlen,
		    "queue_view_group \"%s\" is not a group%s%s", name,
		    errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	*gid = gr->gr_gid;
	return 1;
}

static int
viewgroup_in(const gid_t *groups, size_t n, gid_t gid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

int
viewgroup_peer_member(int s, gid_t gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t *groups;
	int member;

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	if (cred.gid == gid)
		return 1;
	/* ERANGE gives the size needed; the list is fixed at connect() */
	len = 0;
	if (getsockopt(s, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == -1 &&
	    errno != ERANGE)
		return 0;
	if (len == 0 || len / sizeof(gid_t) > VIEWGROUP_MAX_GROUPS)
		return 0;
	groups = xcalloc(len / sizeof(gid_t), sizeof(gid_t));
	member = getsockopt(s, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0 &&
	    viewgroup_in(groups, len / sizeof(gid_t), gid);
	free(groups);
	return member;
}

int
viewgroup_self_member(gid_t gid)
{
	gid_t *groups;
	int n, member;

	if (getegid() == gid)
		return 1;
	if ((n = getgroups(0, NULL)) <= 0)
		return 0;
	groups = xcalloc((size_t)n, sizeof(gid_t));
	n = getgroups(n, groups);
	member = n > 0 && viewgroup_in(groups, (size_t)n, gid);
	free(groups);
	return member;
}
