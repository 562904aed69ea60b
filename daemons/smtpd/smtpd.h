/*
 * smtpd.h - the listener for local applications: SMTP sessions on the
 * sockets the master opened (smtpd.c) and their conversation (session.c).
 * smtpd never opens the queue: each message becomes a spool file in its
 * chroot (QDIR/incoming) that pickup queues on request, and the client
 * hears 250 only once pickup says the message is committed.
 */
#ifndef NCMTA_SMTPD_H
#define NCMTA_SMTPD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "maildrop.h"
#include "netaddr.h"
#include "smtpin.h"

#define SMTPD_MAX_LISTEN 16
/* Content kept in memory; beyond, a file beside the spool file. */
#define SMTPD_MEM_CONTENT (1024 * 1024)
#define SMTPD_INPUT_MAX (256 * 1024) /* client bytes read ahead */
/* A message this small goes to pickup in its request, no file. */
#define SMTPD_INLINE_MAX (192 * 1024)
#define SMTPD_STOP_GRACE 10 /* seconds sessions get on CTL_STOP */

/* Sessions from one client address, for smtpd_client_connection_limit. */
struct smtpd_client {
	RB_ENTRY(smtpd_client) entry;
	char ip[64];
	unsigned sessions;
};
RB_HEAD(smtpd_clients, smtpd_client);
RB_PROTOTYPE(smtpd_clients, smtpd_client, entry, smtpd_client_cmp);

struct smtpd_session;
TAILQ_HEAD(smtpd_sessions, smtpd_session);

/* The daemon's one state struct. */
struct smtpd {
	struct nc_config cfg;
	struct event_base *base;
	struct ipc_peer *master, *pickup;
	int dir_fd; /* the spool directory, our root */
	int queue_full; /* pickup said so: 452 at MAIL */
	struct net_cidr nets[NET_CIDR_MAX]; /* mynetworks */
	int nnets;
	struct ssl_ctx_st *tls; /* SSL_CTX when a certificate is set */
	struct event *listen_ev[SMTPD_MAX_LISTEN];
	int nlisten;
	struct smtpd_sessions sessions;
	unsigned nsessions;
	struct smtpd_clients clients;
	uint64_t next_request, spool_seq;
	int stopping;
};

extern struct smtpd *sd;

/* session.c */
void session_accept(int fd, const struct sockaddr *, socklen_t);
/* pickup's answer for request: queued (code 0, qid) or not (text). */
void session_ingest_done(
    uint64_t request, int code, uint64_t qid, const char *text);
/* CTL_STOP: no new transactions; sessions end as they finish. */
void session_stop_all(void);

#endif
