/*
 * showqc.h - the client side of showq (QDIR/public/showq), for the
 * commands of users who cannot read the queue: ncqshow's listing and
 * ncctl status's counts. showq decides which messages the caller sees.
 */
#ifndef NCMTA_SHOWQC_H
#define NCMTA_SHOWQC_H

#include "config.h"
#include "ipc.h"
#include "ipcmsg.h"

/*
 * Send req, then call item for each M_LIST_ITEM (a non-zero return stops
 * the listing as broken off). 0 once showq's closing M_REPLY said all is
 * well (its warnings printed as "prog: warning: ..."); otherwise the
 * reason is printed on stderr and EX_TEMPFAIL returned.
 */
int showqc_list(const struct nc_config *cfg, const char *prog,
    const struct ipcm_req_list *req,
    int (*item)(const struct ipcm_list_item *, void *), void *arg);

#endif
