/*
 * qm.c - the queue manager's one shared state (qm.h) and its kick: the
 * event that runs a dispatch pass once the current event-loop round is
 * over, set up by main (qmgr.c).
 */
#include <event2/event.h>

#include "qm.h"

struct qmgr *qm;

void
qm_kick(void)
{
	event_active(qm->kick_ev, EV_TIMEOUT, 0);
}
