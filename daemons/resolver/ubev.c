/*
 * ubev.c - DNSSEC validation in the resolver itself (SPEC 12): questions
 * marked DNS_Q_DNSSEC, while dns_trust_ad = no, go to libunbound, which
 * asks the same name servers as c-ares (dns_servers, else resolv.conf)
 * for the records and their signatures and validates them from the trust
 * anchors of dnssec_trust_anchor (read before the chroot). Its worker
 * thread hands results back through ub_fd(), watched by one libevent
 * event; a result is parsed by dnsmsg.c like any other reply.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "log.h"
#include "proto.h"
#include "resolver.h"
#include "util.h"

#define UBEV_MAX_ANCHORS 64

static struct {
	struct ub_ctx *ctx;
	struct event *ev;
	char *anchors[UBEV_MAX_ANCHORS];
	size_t nanchors;
	TAILQ_HEAD(, lookup) pending; /* asked through the current ctx */
} ub;

/* One trust anchor per line (DS or DNSKEY, zone-file form, as
 * /usr/share/dns/root.key and ldns-keygen's .ds files have them). */
void
ubev_read_anchors(const char *path)
{
	char line[4096], *p;
	FILE *f;

	TAILQ_INIT(&ub.pending);
	if ((f = fopen(path, "r")) == NULL) {
		log_warnx("dnssec_trust_anchor %s: %s: no answer will be "
		          "DNSSEC-validated",
		    path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL &&
	    ub.nanchors < UBEV_MAX_ANCHORS) {
		line[strcspn(line, ";\r\n")] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		ub.anchors[ub.nanchors++] = xstrdup(p);
	}
	fclose(f);
	log_debug("%zu DNSSEC trust anchors from %s", ub.nanchors, path);
}

static void
ubev_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ub_process(ub.ctx);
}

/* "IP", "IP:port" or "[IPv6]:port" as unbound's "IP@port". */
static int
ubev_server(const char *spec, char *out, size_t len)
{
	char host[64];
	const char *port = NULL, *end;
	unsigned char buf[16];

	if (*spec == '[') {
		if ((end = strchr(spec, ']')) == NULL ||
		    (size_t)(end - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		port = end[1] == ':' ? end + 2 : NULL;
	} else if (strchr(spec, ':') == strrchr(spec, ':') &&
	    strchr(spec, ':') != NULL) {
		strlcpy(host, spec, sizeof(host));
		host[strcspn(host, ":")] = '\0';
		port = strchr(spec, ':') + 1;
	} else
		strlcpy(host, spec, sizeof(host));
	if (inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, buf) != 1)
		return -1;
	snprintf(out, len, "%s@%s", host, port ? port : "53");
	return 0;
}

static void
ubev_add_servers(struct ub_ctx *ctx, const char *spec)
{
	struct ares_addr_port_node *n;
	char *copy, *tok, *save = NULL, addr[64], fwd[80];

	if (*spec != '\0') {
		copy = xstrdup(spec);
		for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t,", &save))
			if (ubev_server(tok, fwd, sizeof(fwd)) == 0)
				ub_ctx_set_fwd(ctx, fwd);
		free(copy);
		return;
	}
	for (n = resolver->system_servers; n != NULL; n = n->next) {
		if (inet_ntop(n->family, &n->addr, addr, sizeof(addr)) == NULL)
			continue;
		snprintf(fwd, sizeof(fwd), "%s@%d", addr,
		    n->udp_port ? n->udp_port : 53);
		ub_ctx_set_fwd(ctx, fwd);
	}
}

static struct ub_ctx *
ubev_ctx_new(const char *servers)
{
	struct ub_ctx *ctx;
	size_t i;
	int rc;

	if ((ctx = ub_ctx_create()) == NULL)
		fatalx("ub_ctx_create failed");
	/* a thread, not a forked process: nothing the master must know of */
	if ((rc = ub_ctx_async(ctx, 1)) != 0)
		fatalx("libunbound: %s", ub_strerror(rc));
	/* the name servers may be on loopback (a local validating cache) */
	ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
	ub_ctx_set_option(ctx, "qname-minimisation:", "no");
	ubev_add_servers(ctx, servers);
	for (i = 0; i < ub.nanchors; i++)
		if ((rc = ub_ctx_add_ta(ctx, ub.anchors[i])) != 0)
			log_warnx("trust anchor \"%.40s...\": %s",
			    ub.anchors[i], ub_strerror(rc));
	return ctx;
}

static void
ubev_done(void *arg, int err, struct ub_result *r)
{
	struct lookup *lk = arg;
	struct dns_result res;

	TAILQ_REMOVE(&ub.pending, lk, resend);
	if (err != 0) {
		dns_result_init(&res, DNS_S_TEMPFAIL);
		snprintf(res.why, sizeof(res.why), "libunbound: %s",
		    ub_strerror(err));
	} else if (r->bogus) {
		dns_result_init(&res, DNS_S_TEMPFAIL);
		snprintf(res.why, sizeof(res.why),
		    "DNSSEC validation failed (bogus): %s",
		    r->why_bogus ? r->why_bogus : "no reason given");
	} else {
		dns_parse_reply(r->answer_packet, (size_t)r->answer_len,
		    lk->name, lk->qtype, &res);
		if (res.status != DNS_S_TEMPFAIL)
			res.ad = r->secure != 0;
	}
	if (r != NULL)
		ub_resolve_free(r);
	lookup_finish(lk, &res);
}

/* May answer (and free lk) before it returns. */
void
ubev_send(struct lookup *lk)
{
	struct dns_result res;
	int rc;

	if (ub.ctx == NULL)
		ubev_set_servers(resolver->servers);
	TAILQ_INSERT_TAIL(&ub.pending, lk, resend);
	rc = ub_resolve_async(
	    ub.ctx, lk->name, lk->qtype, 1 /* IN */, lk, ubev_done, NULL);
	if (rc != 0) {
		TAILQ_REMOVE(&ub.pending, lk, resend);
		dns_result_init(&res, DNS_S_TEMPFAIL);
		snprintf(res.why, sizeof(res.why), "libunbound: %s",
		    ub_strerror(rc));
		lookup_finish(lk, &res);
	}
}

/*
 * Servers cannot change once a context has resolved: a new context
 * takes over, and questions in flight are asked again through it.
 */
void
ubev_set_servers(const char *servers)
{
	TAILQ_HEAD(, lookup) again;
	struct lookup *lk;

	TAILQ_INIT(&again);
	TAILQ_CONCAT(&again, &ub.pending, resend);
	if (ub.ev != NULL)
		event_free(ub.ev);
	if (ub.ctx != NULL)
		ub_ctx_delete(ub.ctx);
	ub.ctx = ubev_ctx_new(servers);
	ub.ev = event_new(resolver->base, ub_fd(ub.ctx), EV_READ | EV_PERSIST,
	    ubev_ready, NULL);
	if (ub.ev == NULL || event_add(ub.ev, NULL) == -1)
		fatalx("cannot watch libunbound's descriptor");
	while ((lk = TAILQ_FIRST(&again)) != NULL) {
		TAILQ_REMOVE(&again, lk, resend);
		ubev_send(lk);
	}
}
