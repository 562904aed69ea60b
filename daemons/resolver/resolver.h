/*
 * resolver.h - the resolver daemon's one state struct and the seams
 * between its parts: resolver.c (start-up, the master's control channel,
 * configuration), lookup.c (clients on private/resolver, the cache and
 * merged in-flight questions), aresev.c (c-ares on libevent) and ubev.c
 * (libunbound, for questions whose DNSSEC validation matters).
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

/* One client's question waiting for an answer. */
struct lookup_waiter {
	TAILQ_ENTRY(lookup_waiter) entry;
	struct resolver_client *client;
	uint64_t id;
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
};

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
void lookup_answered(
    struct lookup *, int status, const uint8_t *abuf, int alen);
/* The lookup's answer (res is freed, and so is lk). */
void lookup_finish(struct lookup *, struct dns_result *res);
int64_t lookup_clock(void);

#endif
