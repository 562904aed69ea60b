/*
 * fuzz_qmsg.c - the queue's message record (queue/queue.c q_msg_decode()),
 * which ncqshow and ncctl read from the queue or from the master's
 * M_LIST_ITEM frames. A record that decodes must encode back to the same
 * bytes, with fields in their ranges; an older one (version 1: no DSN
 * fields, 2: no ORCPTs) to its current form, which is longer by the
 * empty strings it lacked (an ENVID, an ORCPT per recipient) and decodes
 * to the same fields.
 */
#include "fuzz.h"
#include "queue.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct q_msg m, again;
	uint8_t *enc;
	size_t len, wantlen, i;
	int rc;

	rc = q_msg_decode(data, size, &m);
	if (rc != 0) {
		FUZZ_CHECK(rc == QUEUE_EFORMAT || rc == QUEUE_ENEWER,
		    "decode gave %d", rc);
		FUZZ_CHECK(
		    m.rcpt == NULL && m.sender == NULL && m.envid == NULL,
		    "a refused record left a result");
		return 0;
	}
	FUZZ_CHECK(m.state <= Q_HOLD && m.dsn_notify <= 0xf && m.dsn_ret <= 2,
	    "state %u notify %u ret %u", m.state, m.dsn_notify, m.dsn_ret);
	FUZZ_CHECK(q_state_name(m.state) != NULL, "state name");
	FUZZ_CHECK(m.sender != NULL && m.envid != NULL &&
	        (m.nrcpt == 0 || m.rcpt != NULL),
	    "missing fields");
	for (i = 0; i < m.nrcpt; i++)
		FUZZ_CHECK(m.rcpt[i].addr != NULL && m.rcpt[i].dsn != NULL &&
		        m.rcpt[i].reason != NULL && m.rcpt[i].orcpt != NULL,
		    "recipient %zu", i);
	(void)q_dsn_wants(&m, DSN_NOTIFY_FAILURE);
	FUZZ_CHECK(q_msg_encode(&m, &enc, &len) == 0, "does not encode");
	wantlen = size + (data[0] < 2 ? 2 : 0) +
	    (data[0] < 3 ? 2 * (size_t)m.nrcpt : 0);
	FUZZ_CHECK(len == wantlen && enc[0] == QUEUE_RECORD_VERSION,
	    "record encodes back to %zu octets (%zu, version %u)", len, size,
	    data[0]);
	if (data[0] == QUEUE_RECORD_VERSION)
		FUZZ_CHECK(memcmp(enc, data, len) == 0,
		    "record does not encode back to the same octets");
	FUZZ_CHECK(
	    q_msg_decode(enc, len, &again) == 0 && q_msg_equal(&m, &again),
	    "the current form decodes to other fields");
	q_msg_free(&again);
	free(enc);
	q_msg_free(&m);
	return 0;
}
