/*
 * showqc.c - ask showq for a listing and read it back: one M_REQ_LIST,
 * then M_LIST_ITEMs, then the M_REPLY that must close it. Every read is
 * bounded in time; a listing that ends any other way is broken off.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "proto.h"
#include "showqc.h"

#define SHOWQC_READ_MS 30000 /* longest wait for showq's next frame */

/* The closing M_REPLY: 0, EX_TEMPFAIL (an error), -1 (malformed). */
static int
showqc_reply(struct ipc_msg *im, const char *prog)
{
	struct ipcm_reply r;

	if (ipcm_reply_get(im, &r) == -1)
		return -1;
	fflush(stdout);
	if (r.code != 0) {
		fprintf(stderr, "%s: %s\n", prog, r.text);
		return EX_TEMPFAIL;
	}
	if (*r.text != '\0')
		fprintf(stderr, "%s: warning: %s\n", prog, r.text);
	return 0;
}

static int
showqc_frame(uint32_t type, struct ipc_msg *im, const char *prog,
    int (*item)(const struct ipcm_list_item *, void *), void *arg)
{
	struct ipcm_list_item it;

	if (type == M_REPLY)
		return showqc_reply(im, prog);
	if (type != M_LIST_ITEM || ipcm_list_item_get(im, &it) == -1)
		return -1;
	return item(&it, arg) != 0 ? -1 : 1;
}

int
showqc_list(const struct nc_config *cfg, const char *prog,
    const struct ipcm_req_list *req,
    int (*item)(const struct ipcm_list_item *, void *), void *arg)
{
	char *path = config_qpath(cfg, "public/showq");
	struct ipc_msg im;
	struct ipc_buf b;
	uint8_t *payload;
	uint32_t type;
	size_t len;
	int fd, rc = -1;

	if ((fd = ipc_connect(path)) == -1) {
		fprintf(stderr,
		    "%s: the queue is not readable to this user, and "
		    "showq, which lists it, cannot be reached at %s: %s "
		    "(is ncmta running?)\n",
		    prog, path, strerror(errno));
		free(path);
		return EX_TEMPFAIL;
	}
	free(path);
	ipcm_req_list_encode(&b, req);
	if (ipc_send_blocking(fd, &b) == -1) {
		fprintf(stderr, "%s: cannot ask showq: %s\n", prog,
		    strerror(errno));
		close(fd);
		return EX_TEMPFAIL;
	}
	while (ipc_recv_blocking(fd, IPC_MAX_FRAME_DEFAULT, &type, &payload,
	           &len, SHOWQC_READ_MS) == 0) {
		ipc_msg_init(&im, type, payload, len);
		rc = showqc_frame(type, &im, prog, item, arg);
		free(payload);
		if (rc != 1)
			break;
		rc = -1; /* the listing must end with M_REPLY */
	}
	close(fd);
	if (rc == -1) {
		fflush(stdout);
		fprintf(stderr, "%s: the listing from showq broke off\n", prog);
		return EX_TEMPFAIL;
	}
	return rc;
}
