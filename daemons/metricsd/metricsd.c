/*
 * metricsd.c - ncmta-metricsd: serves the metrics over HTTP for a
 * Prometheus scraper, on the TCP sockets of metrics_listen that the
 * master bound and handed over (fds 4, 5, ...). It runs as mail_owner
 * in an empty chroot, reads nothing but its clients and the master, and
 * holds nothing: for each GET /metrics it asks the master for the text
 * (M_CHILD_METRICS_REQ). One request per connection, closed after the
 * answer; at most METRICSD_MAX_CLIENTS at once, each with
 * METRICSD_TIMEOUT seconds to send its head and read the answer.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon.h"
#include "http.h"
#include "ipcmsg.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#define METRICSD_MAX_CLIENTS 64
#define METRICSD_TIMEOUT 10 /* seconds */
#define METRICSD_LINGER 2 /* seconds the client has to close after us */
#define METRICSD_MAX_LISTEN 32

struct mclient {
	TAILQ_ENTRY(mclient) entry;
	struct bufferevent *bev;
	uint64_t request; /* while the master is asked; else 0 */
	size_t len;
	char head[HTTP_MAX_HEAD];
};

static struct {
	struct nc_config cfg;
	struct event_base *base;
	struct ipc_peer *master;
	struct event *listen_ev[METRICSD_MAX_LISTEN];
	int nlisten;
	TAILQ_HEAD(, mclient) clients;
	int nclients;
	uint64_t seq;
} md;

static void
client_free(struct mclient *cl)
{
	TAILQ_REMOVE(&md.clients, cl, entry);
	md.nclients--;
	bufferevent_free(cl->bev);
	free(cl);
}

/* After the answer: what the client still sends is read and dropped. */
static void
client_discard(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
client_lingered(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg); /* EOF, error or METRICSD_LINGER passed */
}

/*
 * Once the answer is written the connection closes: our side at once,
 * then the client's is read until it closes (at most METRICSD_LINGER
 * seconds), so that input still unread (a head too large, a body) does
 * not make the kernel reset the connection before the answer is read.
 */
static void
client_written(struct bufferevent *bev, void *arg)
{
	struct timeval tv = {METRICSD_LINGER, 0};

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	(void)shutdown(bufferevent_getfd(bev), SHUT_WR);
	bufferevent_setcb(bev, client_discard, NULL, client_lingered, arg);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_enable(bev, EV_READ);
}

static void
client_answer(struct mclient *cl, int status, const char *body)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);
	char text[64];

	if (status != 200) {
		snprintf(
		    text, sizeof(text), "%d %s\n", status, http_reason(status));
		body = text;
	}
	cl->request = 0;
	bufferevent_disable(cl->bev, EV_READ);
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    status, http_reason(status),
	    status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
	                  : "text/plain; charset=utf-8",
	    status == 405 ? "Allow: GET\r\n" : "", strlen(body));
	evbuffer_add(out, body, strlen(body));
	bufferevent_setcb(cl->bev, NULL, client_written, NULL, cl);
	bufferevent_enable(cl->bev, EV_WRITE);
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct mclient *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct ipcm_child_metrics_req rq;
	int status;

	cl->len +=
	    evbuffer_remove(in, cl->head + cl->len, sizeof(cl->head) - cl->len);
	evbuffer_drain(in, evbuffer_get_length(in)); /* beyond the bound */
	if ((status = http_request_status(cl->head, cl->len)) == 0)
		return;
	if (status != 200 || md.master == NULL) {
		client_answer(cl, status == 200 ? 503 : status, NULL);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	cl->request = ++md.seq;
	rq = (struct ipcm_child_metrics_req){.request = cl->request};
	ipcm_child_metrics_req_send(md.master, &rq);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct mclient *cl = arg;

	(void)bev;
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    cl->request == 0 && cl->len > 0) {
		client_answer(cl, 408, NULL);
		return;
	}
	client_free(cl); /* EOF, error, or a time-out while writing */
}

static void
md_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval tv = {METRICSD_TIMEOUT, 0};
	struct mclient *cl;
	int s;

	(void)ev;
	(void)arg;
	if ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (md.nclients >= METRICSD_MAX_CLIENTS) {
		log_warnx("%d scrapers connected already; closing a new one",
		    md.nclients);
		close(s);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	if ((cl->bev = bufferevent_socket_new(
	         md.base, s, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bufferevent_socket_new");
	TAILQ_INSERT_TAIL(&md.clients, cl, entry);
	md.nclients++;
	bufferevent_setcb(cl->bev, client_read, NULL, client_event, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, HTTP_MAX_HEAD);
	bufferevent_enable(cl->bev, EV_READ);
}

/* The master's text for request req: to the client still waiting. */
static void
ctl_metrics(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct mclient *cl;
	struct ipcm_ctl_metrics ans;

	(void)p;
	(void)arg;
	if (ipcm_ctl_metrics_get(m, &ans) == -1)
		return;
	TAILQ_FOREACH(cl, &md.clients, entry)
	{
		if (cl->request == ans.request) {
			client_answer(cl, 200, ans.text);
			return;
		}
	}
}

static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
	exit(0);
}

static const struct ipc_handler master_table[] = {
    IPCM_ON(CTL_STOP, ctl_stop),
    IPCM_ON(CTL_METRICS, ctl_metrics),
    IPCM_ON(CTL_RELOAD, ipc_ignore),
    IPCM_ON(CTL_FLUSH, ipc_ignore),
    IPCM_ON(CTL_STATUS, ipc_ignore),
    {0, NULL, NULL},
};

int
main(int argc, char **argv)
{
	int first, i;

	TAILQ_INIT(&md.clients);
	daemon_setup(argc, argv, "metricsd", &md.cfg);
	daemon_privdrop(&md.cfg);
	if ((md.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	md.master = daemon_master_peer(md.base, master_table, NULL);
	first = daemon_listen_fds(&md.nlisten);
	if (md.nlisten > METRICSD_MAX_LISTEN)
		md.nlisten = METRICSD_MAX_LISTEN;
	for (i = 0; i < md.nlisten; i++) {
		fd_nonblock(first + i);
		if ((md.listen_ev[i] = event_new(md.base, first + i,
		         EV_READ | EV_PERSIST, md_accept, NULL)) == NULL)
			fatalx("event_new");
		event_add(md.listen_ev[i], NULL);
	}
	if (md.nlisten == 0)
		log_warnx("no listening socket from the master");
	log_debug("ready on %d sockets", md.nlisten);
	event_base_dispatch(md.base);
	return 0;
}
