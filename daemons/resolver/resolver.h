/*
 * resolver.h - the resolver daemon's one state struct and the seams
 * between its parts: resolver.c (start-up, the master's control channel,
 * configuration), lookup.c (clients on private/resolver, the cache and
 * merged in-flight questions), aresev.c (c-ares on libevent), ubev.c
 * (libunbound, for questions whose DNSSEC validation matters), sts.c
 * (MTA-STS questions: the TXT record, merged per domain) and stsfetch.c
 * (the policy file over HTTPS).
 */
#ifndef NCMTA_RESOLVER_H
#define NCMTA_RESOLVER_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>

#include <ares.h>
#include <event2/event.h>

#include "cache.h"
#include "config.h"
#include "dnsmsg.h"
#include "ipc.h"

/*
 * Time limits for an MTA: a question is sent RESOLVER_TRIES times to each
 * server, waiting RESOLVER_TIMEOUT_MS the first round (c-ares doubles it
 * each round), so one silent server means a temporary failure after about
 * 6 s -- the mail is deferred and retried, nothing waits for minutes.
 */
#define RESOLVER_TIMEOUT_MS 2000
#define RESOLVER_TRIES 2
#define RESOLVER_CLIENT_MAX_PENDING 1000 /* questions per client in flight */
#define RESOLVER_CLIENT_MAX_BACKLOG (4 * 1024 * 1024) /* unread answers */
#define RESOLVER_MAX_FRAME 4096 /* a query is small */

/* A connection on private/resolver. Outlives its peer while questions
 * it asked are still in flight (peer is then NULL). */
struct resolver_client {
	struct ipc_peer *peer;
	unsigned pending;
};

/* The answer to one of the resolver's own questions; res is only valid
 * during the call. ttl: as a client's answer would say. */
typedef void lookup_cb(void *arg, const struct dns_result *res, uint32_t ttl);

/* One client's question waiting for an answer, or the resolver's own
 * (cb set, client NULL). */
struct lookup_waiter {
	TAILQ_ENTRY(lookup_waiter) entry;
	struct resolver_client *client;
	uint64_t id;
	lookup_cb *cb;
	void *arg;
};

/* One question on the wire; every identical question joins it. */
struct lookup {
	RB_ENTRY(lookup) node;
	/* cancelled by a server change (c-ares), or in flight at
	 * libunbound (ubev.c) */
	TAILQ_ENTRY(lookup) resend;
	int qtype;
	int dnssec; /* validated by libunbound (DNS_Q_DNSSEC, no trust_ad) */
	char name[DNS_NAME_BUF];
	double started;
	TAILQ_HEAD(, lookup_waiter) waiters;
};

RB_HEAD(lookup_tree, lookup);

/* A socket c-ares asked us to watch. */
struct resolver_sock {
	LIST_ENTRY(resolver_sock) entry;
	int fd;
	short what; /* EV_READ | EV_WRITE */
	struct event *ev;
};

struct resolver_stats {
	uint64_t queries; /* questions from clients */
	uint64_t hits; /* answered from the cache */
	uint64_t misses; /* not in the cache */
	uint64_t merged; /* joined an identical question in flight */
	uint64_t sent; /* questions sent to a name server */
	uint64_t tempfails; /* lookups that ended in a temporary failure */
	uint64_t rejected; /* bad queries */
	uint64_t sts; /* MTA-STS questions from clients */
	uint64_t fetches; /* MTA-STS policy fetches started */
};

/* Domains whose MTA-STS question is in flight (sts.c). */
struct sts_job;
RB_HEAD(sts_tree, sts_job);

struct resolver {
	struct nc_config cfg;
	struct event_base *base;
	struct ipc_peer *master;
	struct event *accept_ev;
	ares_channel channel;
	struct ares_addr_port_node *system_servers; /* from resolv.conf */
	char *servers; /* dns_servers in force */
	LIST_HEAD(, resolver_sock) socks;
	struct event *timer;
	int reconfiguring; /* cancelled lookups are re-sent, not answered */
	TAILQ_HEAD(, lookup) resend;
	struct dns_cache *cache;
	struct lookup_tree lookups;
	size_t inflight;
	struct sts_tree sts_jobs;
	size_t sts_fetching; /* policy fetches in flight */
	struct resolver_stats stats;
};

extern struct resolver *resolver; /* the one state struct of this daemon */

/* aresev.c */
void aresev_init(void);
int aresev_set_servers(const char *spec, char *err, size_t errlen);
void aresev_send(struct lookup *);
void aresev_timer_update(void);

/* ubev.c */
void ubev_read_anchors(const char *path); /* before the chroot */
void ubev_set_servers(const char *spec);
void ubev_send(struct lookup *);

/* lookup.c */
void lookup_init(void);
/* Normalise a client's name (an A-label for UTF-8) into out
 * (DNS_NAME_BUF): 0, 1 when it is no name, 2 when it has no A-label
 * (why says why). */
int lookup_name(const char *raw, char *out, char *why, size_t whylen);
/* Ask (qtype, name) (a normalised name) for the resolver itself, through
 * the cache and any identical question in flight; cb may be called
 * before this returns. */
void lookup_internal(int qtype, const char *name, lookup_cb *cb, void *arg);
/* A client with too many unread answers is closed: 1 then. */
int lookup_client_flooded(struct ipc_peer *);
/* One of the client's questions is answered (frees a closed client). */
void client_release(struct resolver_client *);
void lookup_answered(
    struct lookup *, int status, const uint8_t *abuf, int alen);
/* The lookup's answer (res is freed, and so is lk). */
void lookup_finish(struct lookup *, struct dns_result *res);
int64_t lookup_clock(void);

/* sts.c */
void sts_init(void);
void sts_query(struct ipc_peer *, struct ipc_msg *, void *client);

/*
 * stsfetch.c: GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC
 * 8461 3.3). The callback is called exactly once, never before
 * stsfetch_start() returns, with status STS_S_FETCHED (body, len: the
 * policy file, NUL-terminated), STS_S_WEBPKI_FAIL or STS_S_FETCH_FAIL
 * (error says why).
 */
typedef void stsfetch_cb(
    void *arg, int status, const char *body, size_t len, const char *error);
void stsfetch_init(const char *cafile); /* before the chroot */
void stsfetch_start(const char *domain, stsfetch_cb *, void *arg);

#endif
