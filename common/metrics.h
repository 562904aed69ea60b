/*
 * metrics.h - the numbers ncctl metrics and ncmta-metricsd expose in the
 * Prometheus text format. Each daemon counts what happens in it (an
 * outcome, a TLS handshake, a cache hit) and sends the master its new
 * counts and current gauges in M_CHILD_METRICS frames, at most every
 * METRICS_FLUSH_MS; the master adds the counts up from its own start,
 * keeps each process's last gauges until it dies, and renders the text.
 */
#ifndef NCMTA_METRICS_H
#define NCMTA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "ipc.h"

#define METRICS_FLUSH_MS 50 /* a daemon's counts reach the master after */

/* Every value a daemon sends: the counters (deltas), then the gauges
 * (the process's current value). */
enum ncm_id {
	NCM_RECV_SENDMAIL,
	NCM_RECV_SMTPD,
	NCM_RECV_DROPDIR,
	NCM_RECV_NOTICE,
	NCM_STATUS_SENT,
	NCM_STATUS_DEFERRED,
	NCM_STATUS_BOUNCED,
	NCM_TLS_VERIFIED,
	NCM_TLS_TRUSTED,
	NCM_TLS_UNTRUSTED,
	NCM_TLS_FAILED,
	NCM_DNS_HIT,
	NCM_DNS_MISS,
	NCM_DNS_MERGED,
	NCM_DNS_TEMPFAIL,
	NCM_COUNTERS, /* the gauges follow */
	NCM_SESSIONS = NCM_COUNTERS,
	NCM_QUEUE_INCOMING, /* messages by state, in enum q_state's order */
	NCM_QUEUE_ACTIVE,
	NCM_QUEUE_DEFERRED,
	NCM_QUEUE_HOLD,
	NCM_OLDEST_INCOMING, /* arrival (Unix ms) of the oldest message */
	NCM_OLDEST_ACTIVE, /* of the state; 0: none */
	NCM_OLDEST_DEFERRED,
	NCM_OLDEST_HOLD,
	NCM_MAX
};
#define NCM_GAUGES (NCM_MAX - NCM_COUNTERS)
#define NCM_GAUGE(id) ((id)-NCM_COUNTERS) /* index into gauges[] */

/* The service table's rows that may send a value (the master ignores the
 * others): a row name list such as "smtp qmgr pickup". */
const char *metrics_senders(enum ncm_id);

/* ---- in a daemon ---- */

/* Send counts and gauges to the master over p (NULL: started by hand,
 * nothing is sent). daemon_master_peer() calls it. */
void metrics_client(struct event_base *, struct ipc_peer *p);
/* Add n to a counter. */
void metrics_count(enum ncm_id, uint64_t n);
/* Set a gauge of this process. */
void metrics_gauge(enum ncm_id, uint64_t value);
/* Gauges that cost something to work out: fn sets them (metrics_gauge)
 * just before each flush; metrics_gauges_changed() asks for a flush. */
void metrics_gauge_source(void (*fn)(void));
void metrics_gauges_changed(void);
/* A delivery outcome as log_delivery() logs it: "sent", "deferred",
 * "bounced" (other words are not counted). */
void metrics_status(const char *status);

/* ---- in the master ---- */

#define METRICS_MAX_ROWS 16

struct metrics_snapshot {
	const char *version;
	uint64_t counters[NCM_COUNTERS]; /* since the master started */
	uint64_t gauges[NCM_GAUGES]; /* summed over the processes */
	double now; /* the oldest ages are now - arrival */
	int nrows;
	const char *row[METRICS_MAX_ROWS]; /* ncmta_daemon_restarts_total */
	uint64_t restarts[METRICS_MAX_ROWS];
};

/* The whole exposition (Prometheus text format 0.0.4), malloc'd. */
char *metrics_format(const struct metrics_snapshot *);

#endif
