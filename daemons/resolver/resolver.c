/*
 * resolver.c - ncmta-resolver: answers MX/A/AAAA/TLSA/TXT questions and
 * MTA-STS questions (the TXT record and the policy file over HTTPS) of the
 * other daemons on QDIR/private/resolver (fd 4, made by the master). It
 * sets up c-ares (reading /etc/resolv.conf) and reads the CA bundle while
 * it still can, then chroots to QDIR/empty and drops to mail_owner. The master's control channel
 * flushes the cache, asks for counters and brings new settings.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "proto.h"
#include "resolver.h"
#include "util.h"

struct resolver *resolver;

static void
ctl_send_status(struct ipc_peer *p)
{
	const struct resolver_stats *s = &resolver->stats;
	struct ipcm_child_status st;
	char *text;

	xasprintf(&text,
	    "queries=%llu hits=%llu misses=%llu merged=%llu sent=%llu "
	    "tempfails=%llu rejected=%llu cached=%zu inflight=%zu sts=%llu "
	    "fetches=%llu",
	    (unsigned long long)s->queries, (unsigned long long)s->hits,
	    (unsigned long long)s->misses, (unsigned long long)s->merged,
	    (unsigned long long)s->sent, (unsigned long long)s->tempfails,
	    (unsigned long long)s->rejected, dns_cache_count(resolver->cache),
	    resolver->inflight, (unsigned long long)s->sts,
	    (unsigned long long)s->fetches);
	st.text = text;
	ipcm_child_status_send(p, &st);
	free(text);
}

static void
ctl_status(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)arg;
	if (ipcm_ctl_status_get(m) == 0)
		ctl_send_status(p);
}

/* The queue IDs of a flush mean nothing here: the whole cache goes. The
 * counters that follow tell the master the flush is done. */
static void
ctl_flush(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipcm_ctl_flush fl;

	(void)arg;
	if (ipcm_ctl_flush_get(m, &fl) == -1) {
		/* the IDs are the whole payload: their count does not fit */
		ipc_peer_error(p, "bad count");
		return;
	}
	log_info("cache flushed: %zu entries dropped",
	    dns_cache_flush(resolver->cache));
	ctl_send_status(p);
}

/* Name servers from dns_servers, or those of /etc/resolv.conf. */
static int
resolver_set_servers(const char *spec)
{
	char err[128];

	if (aresev_set_servers(spec, err, sizeof(err)) == -1) {
		log_warnx("dns_servers = %s: %s", spec, err);
		return -1;
	}
	free(resolver->servers);
	resolver->servers = xstrdup(spec);
	ubev_set_servers(spec);
	log_info("name servers: %s", *spec ? spec : "from /etc/resolv.conf");
	return 0;
}

static void
resolver_apply(struct nc_config *fresh)
{
	dns_cache_limits(resolver->cache, (size_t)fresh->resolver_cache_size,
	    (uint32_t)fresh->resolver_max_ttl,
	    (uint32_t)fresh->resolver_negative_ttl);
	if (strcmp(fresh->dns_servers, resolver->servers) != 0 &&
	    resolver_set_servers(fresh->dns_servers) == -1) {
		/* keep the servers in force and say so in the settings */
		free(fresh->dns_servers);
		fresh->dns_servers = xstrdup(resolver->servers);
	}
	/* answers kept were asked with the other AD bit */
	if (fresh->dns_trust_ad != resolver->cfg.dns_trust_ad)
		log_info("dns_trust_ad changed: cache flushed, %zu entries "
		         "dropped",
		    dns_cache_flush(resolver->cache));
	config_free(&resolver->cfg);
	resolver->cfg = *fresh;
}

/* The master checked the text already; a daemon in a chroot cannot read
 * ncmta.conf itself. An empty frame (no text) leaves everything as is. */
static void
ctl_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct nc_config fresh;

	(void)p;
	(void)arg;
	if (daemon_reload_config(m, &fresh, &resolver->cfg) == -1)
		return;
	resolver_apply(&fresh);
	log_info("reloaded: cache_size=%lld max_ttl=%llds negative_ttl=%llds",
	    (long long)resolver->cfg.resolver_cache_size,
	    (long long)resolver->cfg.resolver_max_ttl,
	    (long long)resolver->cfg.resolver_negative_ttl);
}

static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
	log_debug("stopping");
	exit(0);
}

static const struct ipc_handler ctl_table[] = {IPCM_ON(CTL_FLUSH, ctl_flush),
    IPCM_ON(CTL_RELOAD, ctl_reload), IPCM_ON(CTL_STOP, ctl_stop),
    IPCM_ON(CTL_STATUS, ctl_status), {0, NULL, NULL}};

int
main(int argc, char **argv)
{
	resolver = xcalloc(1, sizeof(*resolver));
	daemon_setup(argc, argv, "resolver", &resolver->cfg);
	if ((resolver->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	aresev_init();
	ubev_read_anchors(resolver->cfg.dnssec_trust_anchor);
	resolver->servers = xstrdup("");
	if (*resolver->cfg.dns_servers == '\0')
		ubev_set_servers("");
	else if (resolver_set_servers(resolver->cfg.dns_servers) == -1)
		fatalx("no usable dns_servers");
	stsfetch_init(resolver->cfg.smtp_tls_CAfile);
	daemon_privdrop(&resolver->cfg);
	resolver->cache =
	    dns_cache_new((size_t)resolver->cfg.resolver_cache_size,
	        (uint32_t)resolver->cfg.resolver_max_ttl,
	        (uint32_t)resolver->cfg.resolver_negative_ttl);
	lookup_init();
	sts_init();
	resolver->master = daemon_master_peer(resolver->base, ctl_table, NULL);
	log_debug("ready: timeout %dms, %d tries, cache of %lld entries",
	    RESOLVER_TIMEOUT_MS, RESOLVER_TRIES,
	    (long long)resolver->cfg.resolver_cache_size);
	event_base_dispatch(resolver->base);
	return 0;
}
