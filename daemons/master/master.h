/*
 * master.h - the supervisor: one state struct, the child table and the
 * control socket. The master is the only process that keeps root; it
 * creates the queue's directories and sockets, starts every daemon and
 * restarts those that die.
 */
#ifndef NCMTA_MASTER_H
#define NCMTA_MASTER_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "metrics.h"
#include "secrets.h"
#include "services.h"

#define MASTER_MAX_CHILDREN 300
#define RESTART_MIN_DELAY 1 /* seconds */
#define RESTART_MAX_DELAY 60 /* seconds */
#define RESTART_HEALTHY 60 /* a child alive this long resets its back-off */
#define STOP_GRACE 20 /* seconds before stragglers are killed */
#define CHILD_MAX_UNSENT (8 * 1024 * 1024) /* unread output to one daemon */

/* What the master holds for one row of the service table. */
struct svc_state {
	int count; /* processes, decided at start */
	int fds[DAEMON_MAX_LISTEN]; /* its listening sockets: fds 4, 5, ... */
	int nfds;
	char *listen_text; /* TCP addresses bound, "127.0.0.1:25, [::1]:25" */
};

struct child {
	const struct service *svc; /* its row */
	struct svc_state *state; /* the row's sockets */
	const char *name; /* the row's name: "qmgr", "smtp", ... */
	int slot;
	pid_t pid; /* 0 when not running */
	time_t started;
	unsigned restarts;
	int delay; /* current restart back-off, seconds */
	struct ipc_peer *ctl;
	int log_fd; /* our end of its log channel, or -1 */
	struct event *restart_ev;
	char *status; /* counters of its last CHILD_STATUS, or NULL */
	unsigned asked; /* CTL_STATUS/CTL_FLUSH sent since it started */
	unsigned answered; /* CHILD_STATUS received since it started */
	uint64_t gauges[NCM_GAUGES]; /* its last M_CHILD_METRICS gauges */
};

/* An ncctl connection; while waiting it is on master->waits
 * until the resolver answers (or CONTROL_WAIT_MS pass), or qmgr has done
 * a queue administration request (or ADMIN_WAIT_MS pass). */
#define CONTROL_WAIT_MS 1000
#define ADMIN_WAIT_MS 10000
struct control_client {
	struct ipc_peer *peer;
	struct event *timer;
	uid_t uid; /* the caller (SO_PEERCRED) */
	int privileged; /* root or mail_owner: may do everything */
	uint32_t waiting; /* 0, or the request (M_REQ_*) being answered */
	unsigned want; /* the resolver's answer number that completes it */
	uint64_t request; /* M_CTL_ADMIN request number while waiting */
	TAILQ_ENTRY(control_client) wait;
	TAILQ_ENTRY(control_client) entry; /* on master->clients */
};

struct master {
	struct nc_config cfg;
	const char *config_dir;
	struct event_base *base;
	uid_t uid; /* mail_owner, or the caller when not root */
	gid_t gid;
	int as_root;
	char *owner; /* mail_owner's name as resolved at start (root only) */
	struct svc_state *svc; /* one per row of services[] */
	int control_fd;
	int ready_fd; /* until the daemons run: tells ncctl start, or -1 */
	int pid_fd;
	int stopping;
	time_t started;
	struct child children[MASTER_MAX_CHILDREN];
	int nchildren;
	struct event *stop_timer;
	TAILQ_HEAD(, control_client) waits;
	TAILQ_HEAD(, control_client) clients; /* every control connection */
	int nclients; /* control connections of ordinary users */
	uint64_t admin_seq; /* last M_CTL_ADMIN request number */
	struct secrets secrets; /* smart-host credentials (secrets.c) */
	uint64_t counters[NCM_COUNTERS]; /* every daemon's, since start */
};

extern struct master *master; /* the one state struct of this daemon */

/* master.c */
void master_start_failed(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* children.c */
void children_init(void);
void children_start_all(void);
void children_reap(void);
void children_stop(void);
int children_running(void);
void children_send(unsigned svc_ctl, struct ipc_buf *);
void children_status(char **text);
struct child *children_find(unsigned svc_ctl);
unsigned children_ask(struct child *, struct ipc_buf *);
void children_send_log(void);

/* sockets.c */
void sockets_open(void);

/* control.c */
void control_init(void);
void control_resolver_answered(const struct child *);
void control_admin_done(struct ipc_peer *, struct ipc_msg *, void *);

/* reload.c: ncctl reload and SIGHUP. 0, or -1 when a file was refused
 * (nothing changed but the reopened log); *reply is the text for ncctl
 * (malloc'd): the problems, or "configuration reloaded" and a warning
 * line for each changed setting that needs a restart. */
int master_reload(char **reply);

/* metrics.c */
void master_metrics_update(struct ipc_peer *, struct ipc_msg *, void *);
void master_metrics_request(struct ipc_peer *, struct ipc_msg *, void *);
char *master_metrics_text(void);

/* secrets.c */
int master_secrets_load(
    struct nc_config *, struct secrets *, struct cf_errors *);
void master_secrets_init(void);
void master_secrets_install(struct secrets *);
void master_secrets_log(void);
void master_secret_request(struct ipc_peer *, struct ipc_msg *, void *);

#endif
