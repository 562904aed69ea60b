/*
 * fuzz_qmsg.c - the queue's message record (queue/queue.c q_msg_decode()),
 * which ncqshow and ncctl read from the queue or from the master's
 * M_LIST_ITEM frames. A record that decodes must encode back to the same
 * bytes (a version 1 record to its version 2 form: the version octet
 * changed and an empty ENVID after it), with fields in their ranges.
 */
#include "fuzz.h"
#include "queue.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct q_msg m;
	uint8_t *enc, *want;
	size_t len, wantlen, i;
	int rc;

	rc = q_msg_decode(data, size, &m);
	if (rc != 0) {
		FUZZ_CHECK(rc == QUEUE_EFORMAT, "decode gave %d", rc);
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
		        m.rcpt[i].reason != NULL,
		    "recipient %zu", i);
	(void)q_dsn_wants(&m, DSN_NOTIFY_FAILURE);
	FUZZ_CHECK(q_msg_encode(&m, &enc, &len) == 0, "does not encode");
	wantlen = size + (data[0] == 1 ? 2 : 0);
	if ((want = calloc(1, wantlen)) == NULL)
		abort();
	memcpy(want, data, size);
	want[0] = QUEUE_RECORD_VERSION;
	FUZZ_CHECK(len == wantlen && memcmp(enc, want, len) == 0,
	    "record does not encode back (%zu octets, %zu again)", size, len);
	free(want);
	free(enc);
	q_msg_free(&m);
	return 0;
}
