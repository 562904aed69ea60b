/*
 * viewgroup.h - queue_view_group: the Unix group whose members may list
 * the whole queue (read-only) through showq. The group is named in
 * ncmta.conf, resolved to a gid where /etc/group can be read (before a
 * chroot), and a caller's membership is read from the kernel's
 * credentials of its socket, never from files.
 */
#ifndef NCMTA_VIEWGROUP_H
#define NCMTA_VIEWGROUP_H

#include <stddef.h>
#include <sys/types.h>

/* name's gid: 1, 0 when name is "" (no such group configured), or -1
 * with the reason in err (an unknown group). */
int viewgroup_resolve(const char *name, gid_t *gid, char *err, size_t errlen);

/*
 * Whether the process at the other end of the connected Unix socket s had
 * gid, as its effective or a supplementary group, when it connected
 * (SO_PEERCRED, SO_PEERGROUPS): 1 yes, 0 no (or unknown).
 */
int viewgroup_peer_member(int s, gid_t gid);

/* The same for this process (getegid, getgroups): what showq will
 * decide for a connection made now. */
int viewgroup_self_member(gid_t gid);

#endif
