/*
 * aresev.c - c-ares driven by libevent: c-ares tells us (sock_state_cb)
 * which sockets to watch, one persistent event per socket hands readiness
 * back with ares_process_fd(), and one timer follows ares_timeout() so
 * retries and time-outs happen without any polling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "resolver.h"
#include "util.h"

static void
sock_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)arg;
	/* may close the socket and free its event: touch nothing after */
	ares_process_fd(resolver->channel,
	    (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	aresev_timer_update();
}

static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver_sock *s;
	short what =
	    (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	(void)data;
	LIST_FOREACH(s, &resolver->socks, entry)
	if (s->fd == fd)
		break;
	if (s != NULL && s->what == what)
		return;
	if (s != NULL) {
		event_free(s->ev);
		if (what == 0) {
			LIST_REMOVE(s, entry);
			free(s);
			return;
		}
	} else if (what == 0)
		return;
	else {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		LIST_INSERT_HEAD(&resolver->socks, s, entry);
	}
	s->what = what;
	s->ev = event_new(resolver->base, fd, what | EV_PERSIST, sock_ready, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		fatalx("cannot watch a name server socket");
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ares_process_fd(resolver->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	aresev_timer_update();
}

void
aresev_timer_update(void)
{
	struct timeval tv, *tvp;

	tvp = ares_timeout(resolver->channel, NULL, &tv);
	if (tvp == NULL)
		evtimer_del(resolver->timer);
	else
		evtimer_add(resolver->timer, tvp);
}

static void
query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *lk = arg;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		return; /* the process is exiting */
	if (status == ARES_ECANCELLED && resolver->reconfiguring) {
		TAILQ_INSERT_TAIL(&resolver->resend, lk, resend);
		return;
	}
	/* NXDOMAIN and NODATA come with the reply, whose SOA we want */
	if (abuf != NULL && alen > 0 &&
	    (status == ARES_SUCCESS || status == ARES_ENOTFOUND ||
	        status == ARES_ENODATA))
		lookup_answered(lk, status, abuf, alen);
	else
		lookup_answered(lk, status, NULL, 0);
}

/*
 * May answer (and free lk) before it returns. The question is built
 * here, not by ares_query(), so that it can carry the AD bit
 * (dns_trust_ad): c-ares has no option for it.
 */
void
aresev_send(struct lookup *lk)
{
	uint8_t q[DNS_QUERY_MAX];
	int len;

	len = dns_build_query(
	    lk->name, lk->qtype, resolver->cfg.dns_trust_ad, q, sizeof(q));
	if (len == -1) { /* lookup.c sends only normalised names */
		lookup_answered(lk, ARES_EBADNAME, NULL, 0);
		return;
	}
	ares_send(resolver->channel, q, len, query_done, lk);
	aresev_timer_update();
}

/* dns_servers separates entries with spaces or commas; c-ares wants
 * commas. */
static char *
servers_csv(const char *spec)
{
	char *csv = xmalloc(strlen(spec) + 1), *copy = xstrdup(spec), *tok;
	char *save = NULL;

	*csv = '\0';
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (*csv != '\0')
			strcat(csv, ",");
		strcat(csv, tok);
	}
	free(copy);
	return csv;
}

/*
 * c-ares refuses to change servers while questions are in flight, so
 * cancel them, change, and send them again: their clients only wait a
 * little longer.
 */
int
aresev_set_servers(const char *spec, char *err, size_t errlen)
{
	struct lookup *lk;
	char *csv = servers_csv(spec);
	int rc;

	resolver->reconfiguring = 1;
	ares_cancel(resolver->channel);
	resolver->reconfiguring = 0;
	if (*csv == '\0')
		rc = ares_set_servers_ports(
		    resolver->channel, resolver->system_servers);
	else
		rc = ares_set_servers_ports_csv(resolver->channel, csv);
	free(csv);
	if (rc != ARES_SUCCESS)
		snprintf(err, errlen, "%s", ares_strerror(rc));
	while ((lk = TAILQ_FIRST(&resolver->resend)) != NULL) {
		TAILQ_REMOVE(&resolver->resend, lk, resend);
		aresev_send(lk);
	}
	return rc == ARES_SUCCESS ? 0 : -1;
}

/* Reads /etc/resolv.conf: call before the chroot. */
void
aresev_init(void)
{
	struct ares_options o;
	int rc,
	    mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;

	memset(&o, 0, sizeof(o));
	o.timeout = RESOLVER_TIMEOUT_MS;
	o.tries = RESOLVER_TRIES;
	/* names are asked as given: no search list, no HOSTALIASES */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = NULL;
	LIST_INIT(&resolver->socks);
	TAILQ_INIT(&resolver->resend);
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
		fatalx("c-ares: %s", ares_strerror(rc));
	if ((rc = ares_init_options(&resolver->channel, &o, mask)) !=
	    ARES_SUCCESS)
		fatalx("c-ares: %s", ares_strerror(rc));
	/* kept, so a reload that drops dns_servers can return to them from
	 * inside the chroot */
	if ((rc = ares_get_servers_ports(
	         resolver->channel, &resolver->system_servers)) != ARES_SUCCESS)
		fatalx("c-ares: %s", ares_strerror(rc));
	if ((resolver->timer =
	            evtimer_new(resolver->base, timer_fired, NULL)) == NULL)
		fatalx("evtimer_new");
}
