/*
 * lookup.c - the resolver's clients on private/resolver: each
 * M_DNS_QUERY is checked, answered from the cache, joined to an identical
 * question already in flight, or sent to a name server; every waiting
 * client gets one M_DNS_ANSWER when the reply (or the time-out) comes.
 * Answers say whether they are DNSSEC-validated (the name server's AD
 * bit, believed with dns_trust_ad = yes), for DANE (TLSA questions).
 * A name with UTF-8 (U-labels, from an SMTPUTF8 address) is asked as its
 * A-label (IDNA 2008, libidn2); one that has none is answered
 * DNS_S_BADNAME. The resolver's own questions (the MTA-STS fetch's,
 * sts.c) go through the same cache and merging with a callback instead
 * of a client.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <idn2.h>

#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "resolver.h"
#include "util.h"

static int
lookup_cmp(const struct lookup *a, const struct lookup *b)
{
	if (a->qtype != b->qtype)
		return a->qtype < b->qtype ? -1 : 1;
	if (a->dnssec != b->dnssec)
		return a->dnssec < b->dnssec ? -1 : 1;
	return strcmp(a->name, b->name);
}

RB_PROTOTYPE(lookup_tree, lookup, node, lookup_cmp);
RB_GENERATE(lookup_tree, lookup, node, lookup_cmp);

int64_t
lookup_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* Answers validated by libunbound are cached apart from the others. */
#define CACHE_DNSSEC 0x10000

static int
cache_key(int qtype, int dnssec)
{
	return qtype | (dnssec ? CACHE_DNSSEC : 0);
}

static void
answer_send(struct resolver_client *cl, uint64_t id,
    const struct dns_result *res, uint32_t ttl, const char *error, int dnssec)
{
	struct ipcm_dns_rr rrs[DNS_MAX_RECORDS];
	/* a name server's AD bit is worth what the path to it is: only
	 * believed when the administrator says so; libunbound's verdict
	 * (dnssec) is our own */
	struct ipcm_dns_answer a = {.id = id,
	    .status = (uint32_t)res->status,
	    .ttl = ttl,
	    .secure = res->ad && (dnssec || resolver->cfg.dns_trust_ad) &&
	        res->status != DNS_S_TEMPFAIL,
	    .error = error,
	    .rrs = rrs};

	if (cl->peer == NULL)
		return; /* it left while we asked */
	/* a result holds at most DNS_MAX_RECORDS (dnsmsg.c) */
	for (; a.rrs_n < res->n && a.rrs_n < DNS_MAX_RECORDS; a.rrs_n++) {
		rrs[a.rrs_n].pref = res->rr[a.rrs_n].pref;
		rrs[a.rrs_n].data = res->rr[a.rrs_n].data;
	}
	ipcm_dns_answer_send(cl->peer, &a);
}

static void
answer_tempfail(struct resolver_client *cl, uint64_t id, const char *error)
{
	struct dns_result res;

	dns_result_init(&res, DNS_S_TEMPFAIL);
	answer_send(cl, id, &res, 0, error, 0);
}

/*
 * The name to ask for raw: itself when it is ASCII, else its A-label.
 * Returns 0 with the name in out (DNS_NAME_BUF octets, normalised), 1
 * when raw is no name at all, or 2 when it holds UTF-8 that has no
 * A-label (why says why).
 */
int
lookup_name(const char *raw, char *out, char *why, size_t whylen)
{
	char *alabel = NULL;
	const char *p;
	int rc;

	for (p = raw; *p != '\0' && (unsigned char)*p < 0x80; p++)
		;
	if (*p == '\0')
		return dns_name_normalize(raw, out) == -1 ? 1 : 0;
	rc = idn2_to_ascii_8z(
	    raw, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		snprintf(why, whylen,
		    "the domain name has no A-label (IDNA2008): %s",
		    idn2_strerror(rc));
		return 2;
	}
	rc = dns_name_normalize(alabel, out);
	if (rc == -1)
		snprintf(why, whylen,
		    "the domain name's A-label is not a valid host name");
	idn2_free(alabel);
	return rc == -1 ? 2 : 0;
}

void
client_release(struct resolver_client *cl)
{
	if (--cl->pending == 0 && cl->peer == NULL)
		free(cl);
}

static const char *
status_name(int status)
{
	static const char *names[] = {
	    "ok", "NXDOMAIN", "NODATA", "TEMPFAIL", "BADNAME"};

	return status >= 0 && status <= DNS_S_BADNAME ? names[status] : "?";
}

/* c-ares's reply (abuf), or its error (status). */
void
lookup_answered(struct lookup *lk, int status, const uint8_t *abuf, int alen)
{
	struct dns_result res;

	if (abuf != NULL)
		dns_parse_reply(abuf, (size_t)alen, lk->name, lk->qtype, &res);
	else {
		dns_result_init(&res, DNS_S_TEMPFAIL);
		strlcpy(res.why, ares_strerror(status), sizeof(res.why));
	}
	lookup_finish(lk, &res);
}

void
lookup_finish(struct lookup *lk, struct dns_result *resp)
{
	const char *type = dns_type_name(lk->qtype);
	struct dns_result res = *resp;
	char error[DNS_ERROR_MAX];
	struct lookup_waiter *w;
	uint32_t ttl;

	RB_REMOVE(lookup_tree, &resolver->lookups, lk);
	resolver->inflight--;
	ttl = dns_cache_put(resolver->cache, cache_key(lk->qtype, lk->dnssec),
	    lk->name, &res, lookup_clock());
	if (res.status == DNS_S_TEMPFAIL) {
		resolver->stats.tempfails++;
		metrics_count(NCM_DNS_TEMPFAIL, 1);
		log_warnx(
		    "lookup of %s %s failed: %s", type, lk->name, res.why);
	} else
		log_debug("%s %s: %s%s, %zu records, ttl %u, kept %us "
		          "(%.3fs)",
		    type, lk->name, status_name(res.status),
		    res.ad ? " (AD)" : "", res.n, res.ttl, ttl,
		    now_sec() - lk->started);
	dns_error_text(error, sizeof(error), lk->name, lk->qtype, res.status);
	while ((w = TAILQ_FIRST(&lk->waiters)) != NULL) {
		TAILQ_REMOVE(&lk->waiters, w, entry);
		if (w->cb != NULL)
			w->cb(w->arg, &res, ttl);
		else {
			answer_send(
			    w->client, w->id, &res, ttl, error, lk->dnssec);
			client_release(w->client);
		}
		free(w);
	}
	dns_result_free(&res);
	free(lk);
}

/* w waits for the answer to (qtype, name), asked only if nobody has;
 * through libunbound when dnssec. */
static void
lookup_join(struct lookup_waiter *w, int qtype, const char *name, int dnssec)
{
	struct lookup key, *lk;

	key.qtype = qtype;
	key.dnssec = dnssec;
	strlcpy(key.name, name, sizeof(key.name));
	if ((lk = RB_FIND(lookup_tree, &resolver->lookups, &key)) != NULL) {
		resolver->stats.merged++;
		metrics_count(NCM_DNS_MERGED, 1);
		TAILQ_INSERT_TAIL(&lk->waiters, w, entry);
		log_debug("%s %s: joined the question in flight",
		    dns_type_name(qtype), name);
		return;
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->qtype = qtype;
	lk->dnssec = dnssec;
	strlcpy(lk->name, name, sizeof(lk->name));
	lk->started = now_sec();
	TAILQ_INIT(&lk->waiters);
	TAILQ_INSERT_TAIL(&lk->waiters, w, entry);
	RB_INSERT(lookup_tree, &resolver->lookups, lk);
	resolver->inflight++;
	resolver->stats.sent++;
	log_debug("%s %s: asking the name server%s", dns_type_name(qtype), name,
	    dnssec ? " (validating)" : "");
	if (dnssec)
		ubev_send(lk);
	else
		aresev_send(lk);
}

static void
answer_cached(struct resolver_client *cl, uint64_t id, int qtype,
    const char *name, const struct dns_result *res, uint32_t left, int dnssec)
{
	char error[DNS_ERROR_MAX];

	log_debug("%s %s: cache hit, %s, %us left", dns_type_name(qtype), name,
	    status_name(res->status), left);
	dns_error_text(error, sizeof(error), name, qtype, res->status);
	answer_send(cl, id, res, left, error, dnssec);
}

static void
client_query(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct resolver_client *cl = arg;
	const struct dns_result *hit;
	char name[DNS_NAME_BUF], why[DNS_ERROR_MAX];
	struct ipcm_dns_query q;
	struct lookup_waiter *w;
	struct dns_result bad;
	uint32_t left;
	int rc, dnssec;

	if (ipcm_dns_query_get(m, &q) == -1)
		return; /* the IPC layer closes the peer */
	if (lookup_client_flooded(p))
		return;
	resolver->stats.queries++;
	if (dns_type_name((int)q.qtype) == NULL || (q.flags & ~DNS_Q_DNSSEC) ||
	    (rc = lookup_name(q.name, name, why, sizeof(why))) == 1) {
		resolver->stats.rejected++;
		log_debug(
		    "bad query (type %u) from %s", q.qtype, ipc_peer_name(p));
		answer_tempfail(cl, q.id, "bad query");
		return;
	}
	if (rc == 2) {
		resolver->stats.rejected++;
		log_debug("%s: %s", dns_type_name((int)q.qtype), why);
		dns_result_init(&bad, DNS_S_BADNAME);
		answer_send(cl, q.id, &bad, 0, why, 0);
		dns_result_free(&bad);
		return;
	}
	/* with dns_trust_ad the name servers' AD bit says it already */
	dnssec = (q.flags & DNS_Q_DNSSEC) && !resolver->cfg.dns_trust_ad;
	hit = dns_cache_get(resolver->cache, cache_key((int)q.qtype, dnssec),
	    name, lookup_clock(), &left);
	if (hit != NULL) {
		resolver->stats.hits++;
		metrics_count(NCM_DNS_HIT, 1);
		answer_cached(cl, q.id, (int)q.qtype, name, hit, left, dnssec);
		return;
	}
	if (cl->pending >= RESOLVER_CLIENT_MAX_PENDING) {
		resolver->stats.rejected++;
		log_warnx("%s has %u questions in flight; refusing more",
		    ipc_peer_name(p), cl->pending);
		answer_tempfail(cl, q.id, "too many questions in flight");
		return;
	}
	resolver->stats.misses++;
	metrics_count(NCM_DNS_MISS, 1);
	w = xcalloc(1, sizeof(*w));
	w->client = cl;
	w->id = q.id;
	cl->pending++;
	lookup_join(w, (int)q.qtype, name, dnssec);
}

void
lookup_internal(int qtype, const char *name, lookup_cb *cb, void *arg)
{
	const struct dns_result *hit;
	struct lookup_waiter *w;
	uint32_t left;

	hit = dns_cache_get(
	    resolver->cache, cache_key(qtype, 0), name, lookup_clock(), &left);
	if (hit != NULL) {
		log_debug("%s %s: cache hit, %s, %us left",
		    dns_type_name(qtype), name, status_name(hit->status), left);
		cb(arg, hit, left);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	lookup_join(w, qtype, name, 0);
}

int
lookup_client_flooded(struct ipc_peer *p)
{
	if (ipc_peer_pending(p) <= RESOLVER_CLIENT_MAX_BACKLOG)
		return 0;
	ipc_peer_error(p, "does not read its answers");
	return 1;
}

static const struct ipc_handler client_table[] = {
    IPCM_ON(DNS_QUERY, client_query), IPCM_ON(STS_QUERY, sts_query),
    {0, NULL, NULL}};

static void
client_closed(struct ipc_peer *p, void *arg)
{
	struct resolver_client *cl = arg;

	(void)p;
	cl->peer = NULL;
	if (cl->pending == 0)
		free(cl);
}

static void
client_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct resolver_client *cl;
	int s;

	(void)ev;
	(void)arg;
	if ((s = ipc_accept(fd, "resolver")) == -1)
		return;
	cl = xcalloc(1, sizeof(*cl));
	cl->peer = ipc_peer_new(resolver->base, s, "resolver client",
	    client_table, RESOLVER_MAX_FRAME, client_closed, cl);
}

/* Accept clients on the socket the master left on fd 4. */
void
lookup_init(void)
{
	struct stat st;

	RB_INIT(&resolver->lookups);
	if (fstat(DAEMON_LISTEN_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx("no listening socket on fd %d: ncmta-resolver is "
		       "started by ncmta-master",
		    DAEMON_LISTEN_FD);
	fd_nonblock(DAEMON_LISTEN_FD);
	resolver->accept_ev = event_new(resolver->base, DAEMON_LISTEN_FD,
	    EV_READ | EV_PERSIST, client_accept, NULL);
	if (resolver->accept_ev == NULL ||
	    event_add(resolver->accept_ev, NULL) == -1)
		fatalx("cannot watch the listening socket");
}
