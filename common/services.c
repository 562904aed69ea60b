/*
 * services.c - the service table (see services.h) and what can be read
 * from a row without running anything: its number of processes under a
 * configuration, its settings. The master starts, stops, restarts and
 * reports the daemons from these rows; ncctl check finds their programs.
 */
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "services.h"
#include "util.h"

/* clang-format off */
#define ONE {SVC_N, 1, NULL}
#define FROM(setting) {SVC_SETTING, 0, setting}
#define IF_LISTENING {SVC_IF_LISTENING, 0, NULL}
#define PRIVATE(n) {SVC_SOCK_UNIX, "private", n, 0600, 1}
#define PUBLIC(n) {SVC_SOCK_UNIX, "public", n, 0666, 0}
#define TCP(setting) {SVC_SOCK_TCP, NULL, setting, 0, 0}
/* clang-format on */

/*
 * Start order is row order: the resolver first (qmgr asks it as soon as
 * it runs), bounce right after qmgr (a client of it), smtpd after
 * pickup (which commits its messages, taken on private/pickup). Stop:
 * smtpd first (no new mail; its sessions wait for pickup's commits),
 * then the smtp workers, pickup, bounce and showq, so results in flight
 * still reach qmgr; qmgr and the resolver once those are gone.
 * public/showq is 0666: every local user lists their own mail through
 * it. smtpd runs when smtpd_listen has an address; ncmta works without
 * it, so a missing ncmta-smtpd is no reason not to start. metricsd
 * serves the metrics over HTTP when metrics_listen has an address; it
 * holds no state and is stopped first.
 */
const struct service services[] = {
    {.name = "resolver",
        .count = ONE,
        .stop_stage = 2,
        .user = "mail_owner",
        .chroot = "empty",
        .ctl = SVC_CTL_RELOAD | SVC_CTL_STATUS | SVC_CTL_DNS_FLUSH,
        .sockets = {PRIVATE("resolver")}},
    {.name = "qmgr",
        .count = ONE,
        .stop_stage = 2,
        .user = "mail_owner",
        .chroot = "",
        .ctl = SVC_CTL_RELOAD | SVC_CTL_FLUSH | SVC_CTL_ADMIN |
            SVC_CTL_DNS_FLUSHED,
        .sockets = {PRIVATE("qmgr")}},
    {.name = "bounce",
        .count = ONE,
        .stop_stage = 1,
        .user = "mail_owner",
        .chroot = "",
        .ctl = SVC_CTL_RELOAD},
    {.name = "pickup",
        .count = ONE,
        .stop_stage = 1,
        .user = "mail_owner",
        .chroot = "",
        .ctl = SVC_CTL_RELOAD,
        .sockets = {PRIVATE("pickup")}},
    {.name = "smtpd",
        .count = IF_LISTENING,
        .stop_stage = 0,
        .user = "mail_owner",
        .chroot = "incoming",
        .ctl = SVC_CTL_RELOAD,
        .optional = 1,
        .sockets = {TCP("smtpd_listen")}},
    {.name = "showq",
        .count = ONE,
        .stop_stage = 1,
        .user = "mail_owner",
        .chroot = "",
        .sockets = {PUBLIC("showq")}},
    {.name = "smtp",
        .count = FROM("smtp_worker_count"),
        .stop_stage = 1,
        .user = "mail_owner",
        .chroot = "empty",
        .ctl = SVC_CTL_RELOAD | SVC_CTL_SECRET},
    {.name = "metricsd",
        .count = IF_LISTENING,
        .stop_stage = 0,
        .user = "mail_owner",
        .chroot = "empty",
        .ctl = SVC_CTL_METRICS,
        .optional = 1,
        .sockets = {TCP("metrics_listen")}},
    {.name = NULL}};

int
svc_rows(void)
{
	int n = 0;

	while (services[n].name != NULL)
		n++;
	return n;
}

const struct service *
svc_find(const char *name)
{
	const struct service *s;

	for (s = services; s->name != NULL; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static const struct cf_setting *
svc_setting(const char *name, enum cf_type type)
{
	const struct cf_setting *c;

	for (c = cf_settings; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c->type == type ? c : NULL;
	return NULL;
}

const char *
svc_setting_str(const struct nc_config *cfg, const char *name)
{
	const struct cf_setting *c = svc_setting(name, CF_STR);

	return c ? *(char *const *)((const char *)cfg + c->offset) : NULL;
}

const char *
svc_tcp_setting(const struct service *s)
{
	int i;

	for (i = 0; i < SVC_MAX_SOCKETS; i++)
		if (s->sockets[i].kind == SVC_SOCK_TCP)
			return s->sockets[i].name;
	return NULL;
}

int
svc_tcp_addrs(
    const struct service *s, const struct nc_config *cfg, struct net_listen *l)
{
	const char *setting = svc_tcp_setting(s), *text;
	char err[128];
	int n;

	if (setting == NULL || (text = svc_setting_str(cfg, setting)) == NULL)
		return 0;
	n = net_listen_parse(text, l, NET_LISTEN_MAX, err, sizeof(err));
	return n > 0 ? n : 0;
}

/* Whether the setting is left at its built-in value. */
static int
svc_setting_default(const struct nc_config *cfg, const char *setting)
{
	const struct cf_setting *cs;
	const char *value = svc_setting_str(cfg, setting);

	for (cs = cf_settings; cs->name != NULL; cs++)
		if (strcmp(cs->name, setting) == 0)
			return cs->def != NULL && value != NULL &&
			    strcmp(cs->def, value) == 0;
	return 0;
}

int
svc_tcp_skippable(const struct service *s, const struct nc_config *cfg,
    const struct net_listen *l, int err)
{
	const char *setting = svc_tcp_setting(s);

	return l->family == AF_INET6 &&
	    (err == EAFNOSUPPORT || err == EADDRNOTAVAIL) && setting != NULL &&
	    svc_setting_default(cfg, setting);
}

char *
svc_tcp_text(const struct service *s, const struct nc_config *cfg)
{
	struct net_listen l[NET_LISTEN_MAX];
	char *text = NULL, *more;
	int i, n = svc_tcp_addrs(s, cfg, l);

	for (i = 0; i < n; i++) {
		xasprintf(&more, "%s%s%s", text ? text : "", text ? "," : "",
		    l[i].text);
		free(text);
		text = more;
	}
	return text;
}

int
svc_count(const struct service *s, const struct nc_config *cfg)
{
	struct net_listen l[NET_LISTEN_MAX];
	const struct cf_setting *c;

	switch (s->count.kind) {
	case SVC_N:
		return s->count.n;
	case SVC_SETTING:
		if ((c = svc_setting(s->count.setting, CF_INT)) == NULL)
			return 0;
		return (int)*(const int64_t *)((const char *)cfg + c->offset);
	case SVC_IF_LISTENING:
		return svc_tcp_addrs(s, cfg, l) > 0 ? 1 : 0;
	}
	return 0;
}
