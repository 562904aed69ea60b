/*
 * control.c - the master's control socket (QDIR/public/control, root
 * only, 0600): ncctl's status, flush, reload, stop and resolver flush
 * requests. Each request gets one M_REPLY {code, text}; status and
 * resolver flush wait (at most CONTROL_WAIT_MS) for the resolver.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "proto.h"
#include "routes.h"
#include "util.h"

void master_begin_stop(void);

static struct event *control_ev;

static void
control_reply(struct ipc_peer *p, int code, const char *text)
{
	struct ipc_buf b;

	ipc_buf_init(&b, M_REPLY);
	ipc_add_u32(&b, (uint32_t)code);
	ipc_add_str(&b, text);
	ipc_peer_send(p, &b);
}

static void
control_status_reply(struct ipc_peer *p)
{
	char *kids, *text;

	children_status(&kids);
	xasprintf(&text, "master   pid=%d uptime=%lds\n%s", (int)getpid(),
	    (long)(time(NULL) - master->started), kids);
	control_reply(p, 0, text);
	free(kids);
	free(text);
}

/* Ask the resolver (CTL_STATUS, or CTL_FLUSH for req ==
 * M_REQ_RESOLVER_FLUSH) and reply to cl once it answered; 0 if it cannot
 * be asked. */
static int
control_ask_resolver(struct control_client *cl, uint32_t req)
{
	struct timeval tv = {
	    CONTROL_WAIT_MS / 1000, (CONTROL_WAIT_MS % 1000) * 1000};
	struct ipc_buf b;

	if (cl->waiting)
		return 0; /* one request at a time; answer this one now */
	ipc_buf_init(&b, req == M_REQ_STATUS ? M_CTL_STATUS : M_CTL_FLUSH);
	if (req != M_REQ_STATUS)
		ipc_add_u32(&b, 0);
	if ((cl->want = children_ask(children_find(CHILD_RESOLVER), &b)) == 0)
		return 0;
	cl->waiting = req;
	TAILQ_INSERT_TAIL(&master->waits, cl, wait);
	evtimer_add(cl->timer, &tv);
	return 1;
}

/* Without an answer in time, status shows the last counters known. */
static void
control_wait_done(struct control_client *cl, int answered)
{
	uint32_t req = cl->waiting;

	TAILQ_REMOVE(&master->waits, cl, wait);
	evtimer_del(cl->timer);
	cl->waiting = 0;
	if (req == M_REQ_STATUS)
		control_status_reply(cl->peer);
	else if (answered) {
		struct ipc_buf b;

		/* qmgr keeps looked-up destinations: make it ask again */
		ipc_buf_init(&b, M_CTL_DNS_FLUSHED);
		children_send(CHILD_QMGR, &b);
		control_reply(cl->peer, 0, "resolver cache flushed");
	} else
		control_reply(
		    cl->peer, 1, "the resolver did not confirm the flush");
}

static void
control_wait_expired(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	control_wait_done(arg, 0);
}

void
control_resolver_answered(const struct child *c)
{
	struct control_client *cl, *next;

	for (cl = TAILQ_FIRST(&master->waits); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, wait);
		if (c->answered >= cl->want)
			control_wait_done(cl, 1);
	}
}

static void
control_status(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (ipc_msg_done(m) && !control_ask_resolver(arg, M_REQ_STATUS))
		control_status_reply(p);
}

static void
control_resolver_flush(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	if (ipc_msg_done(m) && !control_ask_resolver(arg, M_REQ_RESOLVER_FLUSH))
		control_reply(p, 1, "the resolver is not running");
}

static void
control_flush(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipc_buf b;
	uint32_t i, n = ipc_get_u32(m);

	(void)arg;
	if (n > (m->len - m->pos) / 8) {
		ipc_peer_error(p, "bad id count");
		return;
	}
	ipc_buf_init(&b, M_CTL_FLUSH);
	ipc_add_u32(&b, n);
	for (i = 0; i < n; i++)
		ipc_add_u64(&b, ipc_get_u64(m));
	if (!ipc_msg_done(m)) {
		ipc_buf_free(&b);
		return;
	}
	children_send(CHILD_QMGR, &b);
	control_reply(p, 0, "flush requested");
}

/* A whole file as a string ("" for no file name), or NULL with errs. */
static char *
read_text(const char *path, struct cf_errors *errs)
{
	char *text = NULL, *e;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;

	if (*path == '\0')
		return xstrdup("");
	if ((fp = fopen(path, "r")) == NULL) {
		xasprintf(&e, "%s%s: cannot open: %s\n",
		    errs->text ? errs->text : "", path, strerror(errno));
		free(errs->text);
		errs->text = e;
		errs->count++;
		return NULL;
	}
	n = getdelim(&text, &cap, '\0', fp);
	fclose(fp);
	if (n <= 0) {
		free(text);
		return xstrdup("");
	}
	return text;
}

/*
 * Check the new ncmta.conf and routing table completely, then hand both,
 * as text, to the daemons (which cannot read files in their chroot). A
 * file with any problem is refused and nothing changes.
 */
static void
control_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct nc_config fresh;
	struct route_table rt;
	struct cf_errors errs = {NULL, 0};
	struct ipc_buf b;
	char *path, *conf = NULL, *routes = NULL;
	enum child_kind k;

	(void)arg;
	if (!ipc_msg_done(m))
		return;
	xasprintf(&path, "%s/ncmta.conf", master->config_dir);
	memset(&rt, 0, sizeof(rt));
	if ((conf = read_text(path, &errs)) == NULL ||
	    config_load_text(&fresh, path, conf, &errs) == -1 ||
	    (routes = read_text(fresh.route_table, &errs)) == NULL ||
	    routes_parse(fresh.route_table, routes, &rt, &errs) == -1) {
		control_reply(p, 1, errs.text);
		log_warnx("reload refused, the running configuration "
		          "stays:\n%s",
		    errs.text);
		cf_errors_free(&errs);
		if (conf != NULL)
			config_free(&fresh);
		free(conf);
		free(routes);
		free(path);
		return;
	}
	routes_free(&rt);
	free(fresh.config_dir);
	fresh.config_dir = xstrdup(master->config_dir);
	config_free(&master->cfg);
	master->cfg = fresh;
	for (k = CHILD_QMGR; k < CHILD_NKINDS; k++) {
		ipc_buf_init(&b, M_CTL_RELOAD);
		ipc_add_str(&b, conf);
		ipc_add_str(&b, routes);
		children_send(k, &b);
	}
	log_info("reloaded configuration");
	control_reply(p, 0, "configuration reloaded");
	free(conf);
	free(routes);
	free(path);
}

static void
control_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)arg;
	if (!ipc_msg_done(m))
		return;
	control_reply(p, 0, "stopping");
	master_begin_stop();
}

static const struct ipc_handler control_table[] = {
    {M_REQ_STATUS, "REQ_STATUS", control_status},
    {M_REQ_FLUSH, "REQ_FLUSH", control_flush},
    {M_REQ_RELOAD, "REQ_RELOAD", control_reload},
    {M_REQ_STOP, "REQ_STOP", control_stop},
    {M_REQ_RESOLVER_FLUSH, "REQ_RESOLVER_FLUSH", control_resolver_flush},
    {0, NULL, NULL}};

static void
control_client_closed(struct ipc_peer *p, void *arg)
{
	struct control_client *cl = arg;

	(void)p;
	if (cl->waiting)
		TAILQ_REMOVE(&master->waits, cl, wait);
	event_free(cl->timer);
	free(cl);
}

static void
control_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int s;

	(void)ev;
	(void)arg;
	if ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept");
		return;
	}
	/* the socket is 0600, but say who is knocking if it is not us */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.uid != 0 && cred.uid != geteuid()) {
		log_warnx("control: refused uid %d", (int)cred.uid);
		close(s);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->timer = evtimer_new(master->base, control_wait_expired, cl);
	cl->peer = ipc_peer_new(master->base, s, "control client",
	    control_table, 0, control_client_closed, cl);
}

void
control_init(void)
{
	fd_nonblock(master->control_fd);
	control_ev = event_new(master->base, master->control_fd,
	    EV_READ | EV_PERSIST, control_accept, NULL);
	event_add(control_ev, NULL);
}
