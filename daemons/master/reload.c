/*
 * reload.c - ncctl reload and SIGHUP: reopen a log file (for logrotate)
 * and pass it to every daemon, then check the new ncmta.conf, routing
 * table, aliases, generic_maps and secrets completely and hand them to
 * the daemons as text (they cannot read files in their chroot). A file
 * with any problem is refused and nothing else changes. The settings
 * that need a restart (config/settings.c marks them) keep their values,
 * and each one that changed is named in a warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"
#include "log.h"
#include "master.h"
#include "proto.h"
#include "rewrite.h"
#include "routes.h"
#include "util.h"

/* The texts a reload hands to the daemons. */
struct reload_texts {
	char *conf, *routes, *aliases, *generic;
};

static void
reload_texts_free(struct reload_texts *t)
{
	free(t->conf);
	free(t->routes);
	free(t->aliases);
	free(t->generic);
}

/* Every file read and checked into fresh, sec and t; -1 with every
 * problem in errs. */
static int
reload_read(struct nc_config *fresh, struct secrets *sec,
    struct reload_texts *t, struct cf_errors *errs)
{
	struct route_table rt;
	char *path;
	int rc = -1, loaded = 0;

	memset(&rt, 0, sizeof(rt));
	memset(t, 0, sizeof(*t));
	xasprintf(&path, "%s/ncmta.conf", master->config_dir);
	if ((t->conf = cf_read_text(path, 0, errs)) != NULL &&
	    (loaded = 1, config_load_text(fresh, path, t->conf, errs)) == 0 &&
	    (t->routes = cf_read_text(fresh->route_table, 0, errs)) != NULL &&
	    routes_parse(fresh->route_table, t->routes, &rt, errs) == 0 &&
	    rewrite_check(fresh, &t->aliases, &t->generic, errs) == 0 &&
	    master_secrets_load(fresh, sec, errs) == 0)
		rc = 0;
	routes_free(&rt); /* parsed before a later file failed, or checked */
	if (rc == -1) {
		if (loaded)
			config_free(fresh);
		reload_texts_free(t);
	}
	free(path);
	return rc;
}

/* The log file again, under its name: a rotated one is left behind. */
static void
reload_log(void)
{
	if (log_reopen() == -1) {
		log_warn("cannot reopen the log file %s; going on with the "
		         "old one",
		    master->cfg.log_target);
		return;
	}
	children_send_log();
}

/* One warning per changed restart-only setting ("name = ... needs a
 * restart; ..."), logged and added to ncctl's reply. */
static char *
reload_warn_restart(const char *lines)
{
	char *reply = xstrdup("configuration reloaded\n"), *n;
	const char *p = lines != NULL ? lines : "", *nl;

	for (; *p != '\0'; p = *nl ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		if (nl == p)
			continue;
		log_warnx("reload: %.*s", (int)(nl - p), p);
		xasprintf(
		    &n, "%swarning: reload: %.*s\n", reply, (int)(nl - p), p);
		free(reply);
		reply = n;
	}
	return reply;
}

int
master_reload(char **reply)
{
	struct cf_errors errs = {NULL, 0};
	struct nc_config fresh;
	struct reload_texts t;
	struct ipcm_ctl_reload rl;
	struct secrets sec;
	struct ipc_buf b;
	char *restart = NULL;

	reload_log();
	if (reload_read(&fresh, &sec, &t, &errs) == -1) {
		log_warnx_text("reload refused, the running configuration "
		               "stays:",
		    errs.text);
		*reply = xstrdup(errs.text ? errs.text : "reload refused");
		cf_errors_free(&errs);
		return -1;
	}
	free(fresh.config_dir);
	fresh.config_dir = xstrdup(master->config_dir);
	(void)config_keep_restart(&fresh, &master->cfg, &restart);
	config_free(&master->cfg);
	master->cfg = fresh;
	master_secrets_install(&sec);
	rl = (struct ipcm_ctl_reload){.conf = t.conf,
	    .routes = t.routes,
	    .aliases = t.aliases,
	    .generic = t.generic,
	    .myorigin = master->cfg.myorigin};
	ipcm_ctl_reload_encode(&b, &rl);
	children_send(SVC_CTL_RELOAD, &b);
	log_info("reloaded configuration");
	*reply = reload_warn_restart(restart);
	reload_texts_free(&t);
	free(restart);
	return 0;
}
