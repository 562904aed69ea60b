/*
 * smtpd.c - ncmta-smtpd: takes SMTP from local applications on the
 * sockets the master bound from smtpd_listen (fds 4, 5, ...). It connects
 * to pickup on private/pickup, loads its certificate (if any), then
 * chroots to QDIR/incoming -- its spool directory -- and drops to
 * mail_owner; it never opens the queue. session.c holds the conversation.
 */
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon.h"
#include "ipcmsg.h"
#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "util.h"

#define SMTPD_ACCEPT_BURST 64

struct smtpd *sd;

/* ---- pickup ---- */

static void
pickup_done(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipcm_ingest_done d;

	(void)p;
	(void)arg;
	if (ipcm_ingest_done_get(m, &d) == 0)
		session_ingest_done(d.request, (int)d.code, d.qid, d.text);
}

static void
pickup_state(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipcm_ingest_state st;

	(void)p;
	(void)arg;
	if (ipcm_ingest_state_get(m, &st) == -1)
		return;
	if ((int)st.full != sd->queue_full)
		log_info("the queue is %s",
		    st.full ? "full: refusing mail until "
		              "there is room"
		            : "taking mail again");
	sd->queue_full = st.full != 0;
}

static const struct ipc_handler pickup_table[] = {
    IPCM_ON(INGEST_DONE, pickup_done), IPCM_ON(INGEST_STATE, pickup_state),
    {0, NULL, NULL}};

/* Without pickup nothing can be queued; the master starts a new smtpd,
 * which connects again. Clients that did not hear 250 send again. */
static void
pickup_closed(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	log_warnx("pickup went away; exiting");
	exit(0);
}

/* ---- listening ---- */

static void
smtpd_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s, i;

	(void)ev;
	(void)arg;
	for (i = 0; i < SMTPD_ACCEPT_BURST && !sd->stopping; i++) {
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		session_accept(s, (struct sockaddr *)&ss, len);
	}
}

/* The TCP sockets the master bound for us (its service table). */
static void
smtpd_listeners(void)
{
	int first = daemon_listen_fds(&sd->nlisten), i;

	if (sd->nlisten > SMTPD_MAX_LISTEN)
		sd->nlisten = SMTPD_MAX_LISTEN;
	for (i = 0; i < sd->nlisten; i++) {
		fd_nonblock(first + i);
		sd->listen_ev[i] = event_new(sd->base, first + i,
		    EV_READ | EV_PERSIST, smtpd_accept, NULL);
		if (sd->listen_ev[i] == NULL)
			fatalx("event_new");
		event_add(sd->listen_ev[i], NULL);
	}
	if (sd->nlisten == 0)
		log_warnx("no listening socket from the master");
}

/* ---- set-up ---- */

static struct ssl_ctx_st *
smtpd_tls_ctx(void)
{
	const struct nc_config *cfg = &sd->cfg;
	SSL_CTX *ctx;

	if (*cfg->smtpd_tls_cert_file == '\0')
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->smtpd_tls_cert_file) !=
	        1 ||
	    SSL_CTX_use_PrivateKey_file(
	        ctx, cfg->smtpd_tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		fatalx("cannot use smtpd_tls_cert_file %s with "
		       "smtpd_tls_key_file %s: %s",
		    cfg->smtpd_tls_cert_file, cfg->smtpd_tls_key_file,
		    ERR_reason_error_string(ERR_get_error()));
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

static void
smtpd_networks(const struct nc_config *cfg)
{
	char err[256];

	sd->nnets = net_cidr_parse(
	    cfg->mynetworks, sd->nets, NET_CIDR_MAX, err, sizeof(err));
	if (sd->nnets == -1) /* ncmta.conf was checked: cannot happen */
		fatalx("mynetworks: %s", err);
}

/* Spool files a dead smtpd left were never handed to pickup (their
 * clients did not hear 250): they go. */
static void
smtpd_clean_spool(void)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	if ((fd = dup(sd->dir_fd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("cannot read the spool directory");
		return;
	}
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.' &&
		    unlinkat(sd->dir_fd, de->d_name, 0) == 0)
			log_debug(
			    "removed the stale spool file %s", de->d_name);
	closedir(dir);
}

/* Into the spool directory (the service table's chroot for smtpd). */
static void
smtpd_privdrop(void)
{
	char *dir = config_qpath(&sd->cfg, "incoming");

	daemon_privdrop(&sd->cfg);
	sd->dir_fd = open(daemon_chroot() != NULL ? "/" : dir,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sd->dir_fd == -1)
		fatal("open %s", dir);
	free(dir);
}

/* ---- the master ---- */

static void
ctl_stop(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	int i;

	(void)p;
	(void)m;
	(void)arg;
	sd->stopping = 1;
	for (i = 0; i < sd->nlisten; i++)
		event_del(sd->listen_ev[i]);
	session_stop_all();
}

/* New limits, time-outs and mynetworks for the sessions from now on;
 * smtpd_listen and the certificate wait for a restart (the master says
 * so when they change). */
static void
ctl_reload(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct nc_config fresh;

	(void)p;
	(void)arg;
	if (daemon_reload_config(m, &fresh, &sd->cfg) == -1)
		return;
	smtpd_networks(&fresh);
	config_free(&sd->cfg);
	sd->cfg = fresh;
}

static void
ctl_status(struct ipc_peer *p, struct ipc_msg *m, void *arg)
{
	struct ipcm_child_status st;
	char *text;

	(void)m;
	(void)arg;
	xasprintf(
	    &text, "sessions=%u queue_full=%d", sd->nsessions, sd->queue_full);
	st.text = text;
	ipcm_child_status_send(p, &st);
	free(text);
}

static const struct ipc_handler master_table[] = {IPCM_ON(CTL_STOP, ctl_stop),
    IPCM_ON(CTL_RELOAD, ctl_reload), IPCM_ON(CTL_STATUS, ctl_status),
    IPCM_ON(CTL_FLUSH, ipc_ignore), {0, NULL, NULL}};

int
main(int argc, char **argv)
{
	int fd;

	sd = xcalloc(1, sizeof(*sd));
	TAILQ_INIT(&sd->sessions);
	RB_INIT(&sd->clients);
	daemon_setup(argc, argv, "smtpd", &sd->cfg);
	smtpd_networks(&sd->cfg);
	sd->tls = smtpd_tls_ctx();
	fd = daemon_connect(&sd->cfg, "private/pickup");
	smtpd_privdrop();
	if ((sd->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	sd->pickup = ipc_peer_new(
	    sd->base, fd, "pickup", pickup_table, 0, pickup_closed, NULL);
	sd->master = daemon_master_peer(sd->base, master_table, NULL);
	smtpd_clean_spool();
	smtpd_listeners();
	log_debug("ready on %d sockets", sd->nlisten);
	event_base_dispatch(sd->base);
	return 0;
}
