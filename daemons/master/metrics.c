/*
 * metrics.c - the master's side of the metrics: it adds up the counts
 * the daemons send (M_CHILD_METRICS) from its own start, keeps each
 * process's last gauges until that process dies, counts the restarts
 * itself, and renders the exposition for ncctl metrics (control.c) and
 * for ncmta-metricsd (M_CHILD_METRICS_REQ). A scrape reads only what is
 * here: no daemon is asked, whatever the size of the queue.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcmsg.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

/* Whether the row named name appears in the word list words. */
static int
metrics_row_listed(const char *words, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = words; p != NULL && *p != '\0'; p += strcspn(p, " ")) {
		p += strspn(p, " ");
		if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

/* M_CHILD_METRICS: counts are added, gauges replace the process's last
 * value. A value its row does not produce is a protocol error. */
void
master_metrics_update(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct child *c = arg;
	struct ipcm_child_metrics cm;
	struct ipcm_metric r;

	if (ipcm_child_metrics_get(m, &cm) == -1 || cm.items_n > NCM_MAX * 4) {
		ipc_peer_error(p, "bad metrics count");
		return;
	}
	while (ipcm_metric_next(&cm.items_rd, &r)) {
		if (r.id >= NCM_MAX ||
		    !metrics_row_listed(metrics_senders(r.id), c->name)) {
			ipc_peer_error(p, "a metric this daemon does not send");
			return;
		}
		if (r.id < NCM_COUNTERS)
			master->counters[r.id] += r.value;
		else
			c->gauges[NCM_GAUGE(r.id)] = r.value;
	}
}

char *
master_metrics_text(void)
{
	struct metrics_snapshot s;
	struct timespec ts;
	int i, g, row;

	memset(&s, 0, sizeof(s));
	s.version = NCMTA_VERSION;
	memcpy(s.counters, master->counters, sizeof(s.counters));
	clock_gettime(CLOCK_REALTIME, &ts);
	s.now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	for (row = 0; services[row].name != NULL && row < METRICS_MAX_ROWS;
	     row++)
		s.row[s.nrows++] = services[row].name;
	for (i = 0; i < master->nchildren; i++) {
		const struct child *c = &master->children[i];

		for (row = 0; row < s.nrows; row++)
			if (c->svc == &services[row])
				s.restarts[row] += c->restarts;
		if (c->pid == 0)
			continue;
		for (g = 0; g < NCM_GAUGES; g++) {
			if (g + NCM_COUNTERS >= NCM_OLDEST_INCOMING) {
				/* the oldest of all the processes */
				if (c->gauges[g] != 0 &&
				    (s.gauges[g] == 0 ||
				        c->gauges[g] < s.gauges[g]))
					s.gauges[g] = c->gauges[g];
			} else
				s.gauges[g] += c->gauges[g];
		}
	}
	return metrics_format(&s);
}

/* ncmta-metricsd asks for one scrape's text: u64 request. Only a row
 * with SVC_CTL_METRICS may. */
void
master_metrics_request(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	const struct child *c = arg;
	struct ipcm_child_metrics_req rq;
	struct ipcm_ctl_metrics ans;
	char *text;

	if (ipcm_child_metrics_req_get(m, &rq) == -1)
		return;
	if (!(c->svc->ctl & SVC_CTL_METRICS)) {
		ipc_peer_error(p, "metrics request from a daemon that may not");
		return;
	}
	text = master_metrics_text();
	ans = (struct ipcm_ctl_metrics){.request = rq.request, .text = text};
	ipcm_ctl_metrics_send(p, &ans);
	free(text);
}
