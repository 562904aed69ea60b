/*
 * secrets.c - the master keeps the smart-host credentials: it reads
 * secrets_file at start and on reload (refusing a file that others could
 * read), and answers the smtp workers' M_CHILD_SECRET_REQ with the one
 * entry they ask for, since the privilege-dropped workers cannot read the
 * file. Credentials never reach a log line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcmsg.h"
#include "log.h"
#include "master.h"
#include "proto.h"
#include "util.h"

/*
 * Read cfg's secrets_file into t (an empty table when smtp_sasl_auth is
 * off). A relative secrets_file means the default in the configuration
 * directory, as config_load() decides; the reload path parses ncmta.conf
 * as text and gets here without that step.
 */
int
master_secrets_load(
    struct nc_config *cfg, struct secrets *t, struct cf_errors *errs)
{
	memset(t, 0, sizeof(*t));
	if (*cfg->secrets_file != '/') {
		free(cfg->secrets_file);
		xasprintf(&cfg->secrets_file, "%s/secrets", master->config_dir);
	}
	if (!cfg->smtp_sasl_auth)
		return 0;
	/* ncmta started by another user runs as that user and reads the
	 * file as that user: then it must be theirs */
	return secrets_load(cfg->secrets_file, geteuid(), t, errs);
}

/* At start, before the daemons: a bad file stops the master. */
void
master_secrets_init(void)
{
	struct cf_errors errs = {NULL, 0};
	struct secrets t;

	if (master_secrets_load(&master->cfg, &t, &errs) == -1) {
		fprintf(stderr, "%s", errs.text);
		cf_errors_free(&errs);
		exit(78);
	}
	master->secrets = t;
}

/* Replace the table in force (the old one is wiped) and say so. */
void
master_secrets_install(struct secrets *t)
{
	secrets_free(&master->secrets);
	master->secrets = *t;
	memset(t, 0, sizeof(*t));
	master_secrets_log();
}

void
master_secrets_log(void)
{
	if (master->cfg.smtp_sasl_auth)
		log_info("secrets: %zu entries from %s", master->secrets.n,
		    master->cfg.secrets_file);
}

/* A host name as a worker may send it (brackets do not matter for the
 * lookup); it ends up in the log. */
static int
secret_host_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 255)
		return 0;
	for (; *h != '\0'; h++)
		if (!isalnum((unsigned char)*h) && strchr("-._:[]", *h) == NULL)
			return 0;
	return 1;
}

static void
secret_answer(struct ipc_peer *p, uint64_t req, const struct secret *s)
{
	struct ipcm_ctl_secret a = {.request = req,
	    .found = s != NULL,
	    .user = s ? s->user : "",
	    .password = s ? s->password : ""};
	struct ipc_buf b;

	/* the encoder allocates the whole frame at once: the password is
	 * never left behind in a reallocation */
	ipcm_ctl_secret_encode(&b, &a);
	ipc_peer_send_secret(p, &b);
}

/* M_CHILD_SECRET_REQ {u64 request, str host, u32 port}: only smtp workers
 * log in to smart hosts, so any other daemon asking is a protocol error. */
void
master_secret_request(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	const struct child *c = arg;
	struct ipcm_child_secret_req rq;
	const struct secret *s = NULL;

	if (ipcm_child_secret_req_get(m, &rq) == -1)
		return; /* the dispatcher reports the malformed frame */
	if (!(c->svc->ctl & SVC_CTL_SECRET)) {
		ipc_peer_error(p,
		    "credentials asked for by a daemon that is "
		    "not an smtp worker");
		return;
	}
	if (!secret_host_ok(rq.host) || rq.port == 0 || rq.port > 65535) {
		ipc_peer_error(p, "bad host or port in a credentials request");
		return;
	}
	if (master->cfg.smtp_sasl_auth)
		s = secrets_find(&master->secrets, rq.host, rq.port);
	if (s != NULL)
		log_debug("secrets: credentials for [%s]:%u sent to smtp "
		          "pid %d",
		    rq.host, rq.port, (int)c->pid);
	else if (master->cfg.smtp_sasl_auth)
		log_info("secrets: no entry for [%s]:%u in %s", rq.host,
		    rq.port, master->cfg.secrets_file);
	secret_answer(p, rq.request, s);
}
