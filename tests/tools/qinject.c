/*
 * qinject.c - a test tool: put one message straight into an instance's
 * queue through the queue API, with whatever envelope the test wants --
 * also the malformed ones pickup never lets in (a control character in
 * an address, a bad ENVID), as a queue written by something else might
 * hold. The content comes from standard input (LF line ends); the
 * message is "incoming", so a running qmgr finds it at its next scan or
 * restart. Prints the queue ID.
 *
 *	qinject -c CONFIG_DIR -f SENDER [-V ENVID] [-u UID] RCPT...
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "queue.h"
#include "util.h"

static char *
read_stdin(size_t *len)
{
	size_t cap = 65536;
	char *buf = xmalloc(cap);
	ssize_t n;

	*len = 0;
	while ((n = read(0, buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap)
			buf = xreallocarray(buf, cap *= 2, 1);
	}
	return buf;
}

int
main(int argc, char **argv)
{
	struct cf_errors errs = {NULL, 0};
	struct nc_config cfg;
	const char *dir = NULL, *sender = "", *envid = "";
	char qid[NC_QID_LEN + 1], *path, *body;
	struct queue *q;
	struct queue_txn *t;
	struct q_msg m;
	size_t len;
	int ch, i, rc;
	uint32_t uid = (uint32_t)getuid();

	while ((ch = getopt(argc, argv, "c:f:V:u:")) != -1) {
		if (ch == 'c')
			dir = optarg;
		else if (ch == 'f')
			sender = optarg;
		else if (ch == 'V')
			envid = optarg;
		else if (ch == 'u')
			uid = (uint32_t)strtoul(optarg, NULL, 10);
		else
			return 64;
	}
	if (optind >= argc || config_load(&cfg, config_dir_pick(dir), &errs))
		return fprintf(stderr, "qinject: usage or configuration\n"), 64;
	body = read_stdin(&len);
	memset(&m, 0, sizeof(m));
	m.state = Q_INCOMING;
	m.uid = uid;
	m.arrival_us = now_usec();
	m.size = len;
	m.sender = (char *)sender;
	m.envid = (char *)envid;
	m.nrcpt = (uint32_t)(argc - optind);
	m.rcpt = xcalloc(m.nrcpt, sizeof(*m.rcpt));
	for (i = 0; i < (int)m.nrcpt; i++)
		m.rcpt[i] =
		    (struct q_rcpt){argv[optind + i], QR_PENDING, "", "", NULL};
	path = config_qpath(&cfg, "db");
	if ((rc = queue_open(&q, path, cfg.queue_map_size, 0)) != 0 ||
	    (rc = queue_txn_begin(q, &t, 0)) != 0 ||
	    (rc = queue_new_qid(t, &m.qid)) != 0 ||
	    (rc = queue_put_msg(t, &m)) != 0 ||
	    (rc = queue_put_body(t, m.qid, body, len)) != 0 ||
	    (rc = queue_txn_commit(t)) != 0)
		return fprintf(stderr, "qinject: %s\n", queue_strerror(rc)), 75;
	queue_close(q);
	qid_format(m.qid, qid);
	printf("%s\n", qid);
	free(m.rcpt);
	free(path);
	free(body);
	config_free(&cfg);
	return 0;
}
