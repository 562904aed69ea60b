/*
 * job.c - an smtp job's recipients' outcomes and its memory, shared by
 * the worker (smtp.c), which reports them to qmgr, and session.c's unit
 * test, which checks them.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp.h"
#include "util.h"

void
smtp_wire_unref(struct smtp_wire *wire)
{
	if (wire != NULL && --wire->refs == 0)
		free(wire);
}

void
smtp_job_free(struct smtp_job *job)
{
	size_t i;

	TAILQ_REMOVE(&job->w->jobs, job, entry);
	for (i = 0; i < job->nhosts; i++) {
		free(job->hosts[i].name);
		free(job->hosts[i].addr);
		free(job->hosts[i].nexthop);
		free(job->hosts[i].tlsa);
	}
	for (i = 0; i < job->nrcpt; i++) {
		free(job->rcpts[i].address);
		free(job->rcpts[i].orcpt);
		free(job->rcpts[i].reason);
		free(job->rcpts[i].relay);
	}
	free(job->hosts);
	free(job->rcpts);
	free(job->sender);
	free(job->envid);
	free(job->key);
	free(job->body);
	smtp_wire_unref(job->wire);
	free(job->last_reason);
	free(job->last_relay);
	free(job);
}

void
smtp_rcpt_outcome(struct smtp_rcpt *r, int cls, const char *dsn,
    const char *reason, const char *relay)
{
	if (r->status == RCPT_DONE)
		return;
	r->status = RCPT_DONE;
	r->class = cls;
	strlcpy(r->dsn, dsn[0] != '\0' ? dsn : (cls == 2 ? "2.0.0" : "4.0.0"),
	    sizeof(r->dsn));
	/* A failure we only defer must not carry a permanent status. */
	if (cls == 4 && r->dsn[0] == '5')
		r->dsn[0] = '4';
	if (cls == 5 && r->dsn[0] != '5')
		r->dsn[0] = '5';
	free(r->reason);
	r->reason = xstrdup(reason);
	free(r->relay);
	r->relay = relay != NULL ? xstrdup(relay) : NULL;
	r->t_done = now_sec();
}

void
smtp_rcpts_unresolved(struct smtp_job *job, int cls, const char *dsn,
    const char *reason, const char *relay)
{
	size_t i;

	for (i = 0; i < job->nrcpt; i++)
		smtp_rcpt_outcome(&job->rcpts[i], cls, dsn, reason, relay);
}
