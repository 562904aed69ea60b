/*
 * metrics.c - counting in the daemons, and the exposition the master
 * renders (see metrics.h). A daemon's counts wait at most
 * METRICS_FLUSH_MS, so a busy daemon sends the master a few small frames
 * a second, not one per event.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

static const char *const senders[NCM_MAX] = {
    [NCM_RECV_SENDMAIL] = "pickup",
    [NCM_RECV_SMTPD] = "pickup",
    [NCM_RECV_DROPDIR] = "pickup",
    [NCM_RECV_NOTICE] = "bounce",
    [NCM_STATUS_SENT] = "smtp qmgr pickup",
    [NCM_STATUS_DEFERRED] = "smtp qmgr pickup",
    [NCM_STATUS_BOUNCED] = "smtp qmgr pickup",
    [NCM_TLS_VERIFIED] = "smtp",
    [NCM_TLS_TRUSTED] = "smtp",
    [NCM_TLS_UNTRUSTED] = "smtp",
    [NCM_TLS_FAILED] = "smtp",
    [NCM_DNS_HIT] = "resolver",
    [NCM_DNS_MISS] = "resolver",
    [NCM_DNS_MERGED] = "resolver",
    [NCM_DNS_TEMPFAIL] = "resolver",
    [NCM_SESSIONS] = "smtp",
    [NCM_QUEUE_INCOMING] = "qmgr",
    [NCM_QUEUE_ACTIVE] = "qmgr",
    [NCM_QUEUE_DEFERRED] = "qmgr",
    [NCM_QUEUE_HOLD] = "qmgr",
    [NCM_OLDEST_INCOMING] = "qmgr",
    [NCM_OLDEST_ACTIVE] = "qmgr",
    [NCM_OLDEST_DEFERRED] = "qmgr",
    [NCM_OLDEST_HOLD] = "qmgr",
};

const char *
metrics_senders(enum ncm_id id)
{
	return (unsigned)id < NCM_MAX ? senders[id] : NULL;
}

/* ---- in a daemon ---- */

static struct {
	struct ipc_peer *master;
	struct event *flush_ev;
	uint64_t counts[NCM_COUNTERS]; /* not sent yet */
	uint64_t gauges[NCM_GAUGES];
	uint8_t gauge_changed[NCM_GAUGES];
	void (*gauge_source)(void);
	int pending;
} mc;

static void
metrics_flush(evutil_socket_t fd, short ev, void *arg)
{
	struct ipcm_metric items[NCM_MAX];
	struct ipcm_child_metrics cm;
	uint32_t n = 0;
	int i;

	(void)fd;
	(void)ev;
	(void)arg;
	/* still pending: what the source sets goes in this flush */
	if (mc.gauge_source != NULL && mc.master != NULL)
		mc.gauge_source();
	mc.pending = 0;
	if (mc.master == NULL)
		return;
	for (i = 0; i < NCM_COUNTERS; i++)
		if (mc.counts[i] != 0) {
			items[n].id = (uint32_t)i;
			items[n++].value = mc.counts[i];
			mc.counts[i] = 0;
		}
	for (i = 0; i < NCM_GAUGES; i++)
		if (mc.gauge_changed[i]) {
			items[n].id = (uint32_t)(NCM_COUNTERS + i);
			items[n++].value = mc.gauges[i];
			mc.gauge_changed[i] = 0;
		}
	if (n == 0)
		return;
	cm = (struct ipcm_child_metrics){.items = items, .items_n = n};
	ipcm_child_metrics_send(mc.master, &cm);
}

static void
metrics_schedule(void)
{
	struct timeval tv = {0, METRICS_FLUSH_MS * 1000};

	if (mc.pending || mc.flush_ev == NULL)
		return;
	mc.pending = 1;
	evtimer_add(mc.flush_ev, &tv);
}

void
metrics_client(struct event_base *base, struct ipc_peer *p)
{
	log_delivery_counter(metrics_status);
	if (p == NULL)
		return;
	mc.master = p;
	if (mc.flush_ev == NULL &&
	    (mc.flush_ev = evtimer_new(base, metrics_flush, NULL)) == NULL)
		fatalx("evtimer_new");
	metrics_schedule(); /* gauges set before the master was known */
}

void
metrics_count(enum ncm_id id, uint64_t n)
{
	if ((unsigned)id >= NCM_COUNTERS || n == 0)
		return;
	mc.counts[id] += n;
	metrics_schedule();
}

void
metrics_gauge(enum ncm_id id, uint64_t value)
{
	int g = (int)NCM_GAUGE(id);

	if (id < NCM_COUNTERS || id >= NCM_MAX || mc.gauges[g] == value)
		return;
	mc.gauges[g] = value;
	mc.gauge_changed[g] = 1;
	metrics_schedule();
}

void
metrics_gauge_source(void (*fn)(void))
{
	mc.gauge_source = fn;
	metrics_schedule();
}

void
metrics_gauges_changed(void)
{
	metrics_schedule();
}

void
metrics_status(const char *status)
{
	if (strcmp(status, "sent") == 0)
		metrics_count(NCM_STATUS_SENT, 1);
	else if (strcmp(status, "deferred") == 0)
		metrics_count(NCM_STATUS_DEFERRED, 1);
	else if (strcmp(status, "bounced") == 0)
		metrics_count(NCM_STATUS_BOUNCED, 1);
}

/* ---- the exposition ---- */

struct out {
	char *buf;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fatalx("vsnprintf");
		if ((size_t)n < o->cap - o->len)
			break;
		o->cap = o->cap * 2 + (size_t)n;
		o->buf = xreallocarray(o->buf, o->cap, 1);
	}
	o->len += (size_t)n;
}

/* A label value: backslash, double quote and newline escaped. */
static void
out_label(struct out *o, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			out_printf(o, "\\%c", *v);
		else if (*v == '\n')
			out_printf(o, "\\n");
		else
			out_printf(o, "%c", *v);
	}
}

static void
out_family(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const q_states[] = {
    "incoming", "active", "deferred", "hold"};

/* One sample per label value: first..first+n-1 of values. */
static void
out_samples(struct out *o, const char *name, const char *label,
    const char *const *words, const uint64_t *values, int n)
{
	int i;

	for (i = 0; i < n; i++)
		out_printf(o, "%s{%s=\"%s\"} %llu\n", name, label, words[i],
		    (unsigned long long)values[i]);
}

char *
metrics_format(const struct metrics_snapshot *s)
{
	static const char *const sources[] = {
	    "sendmail", "smtpd", "dropdir", "notice"};
	static const char *const outcomes[] = {"sent", "deferred", "bounced"};
	static const char *const tls[] = {
	    "verified", "trusted", "untrusted", "failed"};
	static const char *const dns[] = {"hit", "miss", "merged", "tempfail"};
	struct out o = {xmalloc(4096), 0, 4096};
	uint64_t arrival;
	double age;
	int i;

	out_family(&o, "ncmta_up", "gauge", "1 while the master answers.");
	out_printf(&o, "ncmta_up 1\n");
	out_family(&o, "ncmta_build_info", "gauge",
	    "The ncmta version, as a label; always 1.");
	out_printf(&o, "ncmta_build_info{version=\"");
	out_label(&o, s->version != NULL ? s->version : "");
	out_printf(&o, "\"} 1\n");
	out_family(&o, "ncmta_queue_messages", "gauge",
	    "Messages in the queue by state (qmgr's index).");
	out_samples(&o, "ncmta_queue_messages", "state", q_states,
	    &s->gauges[NCM_GAUGE(NCM_QUEUE_INCOMING)], 4);
	out_family(&o, "ncmta_queue_oldest_age_seconds", "gauge",
	    "Age of the oldest message in each state; 0 when it has none.");
	for (i = 0; i < 4; i++) {
		arrival = s->gauges[NCM_GAUGE(NCM_OLDEST_INCOMING) + i];
		age = arrival == 0 ? 0 : s->now - (double)arrival / 1000;
		out_printf(&o,
		    "ncmta_queue_oldest_age_seconds{state=\"%s\"} %.3f\n",
		    q_states[i], age > 0 ? age : 0);
	}
	out_family(&o, "ncmta_received_messages_total", "counter",
	    "Messages queued, by where they came from.");
	out_samples(&o, "ncmta_received_messages_total", "source", sources,
	    &s->counters[NCM_RECV_SENDMAIL], 4);
	out_family(&o, "ncmta_delivery_status_total", "counter",
	    "Recipient outcomes, one per status= log line.");
	out_samples(&o, "ncmta_delivery_status_total", "status", outcomes,
	    &s->counters[NCM_STATUS_SENT], 3);
	out_family(&o, "ncmta_smtp_sessions_active", "gauge",
	    "Outbound SMTP sessions open in the smtp workers.");
	out_printf(&o, "ncmta_smtp_sessions_active %llu\n",
	    (unsigned long long)s->gauges[NCM_GAUGE(NCM_SESSIONS)]);
	out_family(&o, "ncmta_tls_sessions_total", "counter",
	    "Outbound TLS handshakes by result.");
	out_samples(&o, "ncmta_tls_sessions_total", "result", tls,
	    &s->counters[NCM_TLS_VERIFIED], 4);
	out_family(&o, "ncmta_resolver_lookups_total", "counter",
	    "Questions to the resolver: cache hits, misses, merged into one "
	    "in flight, temporary failures.");
	out_samples(&o, "ncmta_resolver_lookups_total", "result", dns,
	    &s->counters[NCM_DNS_HIT], 4);
	out_family(&o, "ncmta_daemon_restarts_total", "counter",
	    "Daemon processes the master started again, by service.");
	for (i = 0; i < s->nrows && i < METRICS_MAX_ROWS; i++) {
		out_printf(&o, "ncmta_daemon_restarts_total{daemon=\"");
		out_label(&o, s->row[i]);
		out_printf(
		    &o, "\"} %llu\n", (unsigned long long)s->restarts[i]);
	}
	return o.buf;
}
