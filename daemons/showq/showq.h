/*
 * showq.h - queue listings for users who cannot read the queue
 * (ncqshow/mailq), served by mail_owner in its chroot, as Postfix's
 * showq does: root never parses the queue's pages on their behalf.
 */
#ifndef NCMTA_SHOWQ_H
#define NCMTA_SHOWQ_H

#include <sys/types.h>

#define SHOWQ_MAX_PER_UID 4 /* listings at once for one ordinary user */
#define SHOWQ_MAX_LISTINGS 32 /* listings at once in all */
#define SHOWQ_REQUEST_TIMEOUT 10 /* seconds to send the request */
#define SHOWQ_SEND_TIMEOUT 30 /* seconds one write may wait for the reader */
#define SHOWQ_DEADLINE 120 /* seconds a listing may take in all */

/*
 * list.c, in a child that serves one connection: read one M_REQ_LIST
 * (SHOWQ_REQUEST_TIMEOUT), then stream an M_LIST_ITEM for each message
 * the caller may see -- privileged (root, mail_owner, a member of
 * queue_view_group): every message, else those with the
 * caller's uid -- and one M_REPLY, opening the queue in dbpath read-only.
 */
void list_serve(int fd, uid_t uid, int privileged, const char *dbpath);

#endif
