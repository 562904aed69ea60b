/*
 * routes.c - parse and look up the routing table. A table with any bad
 * line is refused as a whole, so a reload never half-applies; lookups
 * try the exact domain, then each parent (".example.com" matches
 * subdomains only), then "*".
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "routes.h"
#include "util.h"

const char *
route_action_name(enum route_action a)
{
	static const char *names[] = {"direct", "smarthost", "reject", "hold"};

	return names[a];
}

static int
pattern_ok(const char *p)
{
	const char *s = *p == '.' ? p + 1 : p;

	if (strcmp(p, "*") == 0)
		return 1;
	if (*s == '\0' || strlen(s) > 253)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("-._[]:", *s) == NULL)
			return 0;
	return 1;
}

static int
tls_level_ok(const char *v)
{
	return strcmp(v, "none") == 0 || strcmp(v, "may") == 0 ||
	    strcmp(v, "encrypt") == 0 || strcmp(v, "verify") == 0 ||
	    strcmp(v, "dane") == 0;
}

/* Split off a trailing "tls=LEVEL" option from args (modified in place). */
static const char *
take_tls(char *args, struct route *r)
{
	char *last = strrchr(args, ' '), *opt = last ? last + 1 : args;

	if (strncmp(opt, "tls=", 4) != 0)
		return NULL;
	if (!tls_level_ok(opt + 4))
		return "tls= must be none, may, encrypt or verify";
	strlcpy(r->tls, opt + 4, sizeof(r->tls));
	*opt = '\0';
	while (opt > args && isspace((unsigned char)opt[-1]))
		*--opt = '\0';
	return NULL;
}

static const char *
parse_hosts(char *args, struct route *r, int required)
{
	struct host_spec h[HOSTLIST_MAX];
	static char err[300];
	int n;

	n = hostlist_parse(args, h, HOSTLIST_MAX, err, sizeof(err));
	if (n == -1)
		return err;
	if (n == 0 && required)
		return "needs at least one host";
	r->hosts = xstrdup(args);
	return NULL;
}

static const char *
parse_reject(char *args, struct route *r)
{
	size_t n = strcspn(args, " \t");
	char *text = args + n;

	if (n < 5 || n >= sizeof(r->dsn) ||
	    (args[0] != '4' && args[0] != '5') || args[1] != '.' ||
	    strspn(args + 2, "0123456789.") != n - 2)
		return "reject needs a status code such as 5.7.1, then a text";
	memcpy(r->dsn, args, n);
	r->dsn[n] = '\0';
	text += strspn(text, " \t");
	r->text = xstrdup(*text ? text : "rejected by the routing table");
	return NULL;
}

/* Parse the action and its arguments into r; NULL or the problem. */
static const char *
parse_action(const char *action, char *args, struct route *r)
{
	const char *why;

	r->hosts = xstrdup("");
	if (strcmp(action, "reject") == 0) {
		r->action = ROUTE_REJECT;
		return parse_reject(args, r);
	}
	if ((why = take_tls(args, r)) != NULL)
		return why;
	if (strcmp(action, "hold") == 0) {
		r->action = ROUTE_HOLD;
		return *args ? "hold takes no arguments" : NULL;
	}
	free(r->hosts);
	r->hosts = NULL;
	if (strcmp(action, "smarthost") == 0) {
		r->action = ROUTE_SMARTHOST;
		return parse_hosts(args, r, 1);
	}
	if (strcmp(action, "direct") == 0) {
		r->action = ROUTE_DIRECT;
		if (*args == '\0')
			return (r->hosts = xstrdup(""), NULL);
		if (strncmp(args, "fallback", 8) != 0 ||
		    !isspace((unsigned char)args[8]))
			return (r->hosts = xstrdup(""),
			    "direct takes only \"fallback HOSTS\"");
		args += 9;
		args += strspn(args, " \t");
		return parse_hosts(args, r, 1);
	}
	r->hosts = xstrdup("");
	return "unknown action (direct, smarthost, reject, hold)";
}

static void
route_free_one(struct route *r)
{
	free(r->pattern);
	free(r->hosts);
	free(r->text);
}

static void
parse_line(
    const char *name, int lineno, char *line, struct cf_errors *errs, void *arg)
{
	struct route_table *t = arg;
	struct route r;
	char *pattern, *action, *args, *e;
	const char *why;
	size_t i;

	line[strcspn(line, "#")] = '\0';
	pattern = line + strspn(line, " \t");
	e = pattern + strlen(pattern);
	while (e > pattern && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (*pattern == '\0')
		return;
	memset(&r, 0, sizeof(r));
	r.line = lineno;
	action = pattern + strcspn(pattern, " \t");
	if (*action == '\0') {
		cf_error(errs, name, lineno, "\"%s\" has no action", pattern);
		return;
	}
	*action++ = '\0';
	action += strspn(action, " \t");
	args = action + strcspn(action, " \t");
	if (*args != '\0')
		*args++ = '\0';
	args += strspn(args, " \t");
	for (e = pattern; *e; e++)
		*e = (char)tolower((unsigned char)*e);
	if (!pattern_ok(pattern)) {
		cf_error(errs, name, lineno, "bad pattern \"%s\"", pattern);
		return;
	}
	for (i = 0; i < t->n; i++)
		if (strcmp(t->r[i].pattern, pattern) == 0) {
			cf_error(errs, name, lineno,
			    "pattern \"%s\" already given on line %d", pattern,
			    t->r[i].line);
			return;
		}
	r.pattern = xstrdup(pattern);
	if ((why = parse_action(action, args, &r)) != NULL) {
		cf_error(errs, name, lineno, "%s %s: %s", pattern, action, why);
		route_free_one(&r);
		return;
	}
	t->r = xreallocarray(t->r, t->n + 1, sizeof(*t->r));
	t->r[t->n++] = r;
}

int
routes_parse(const char *name, const char *text, struct route_table *t,
    struct cf_errors *errs)
{
	memset(t, 0, sizeof(*t));
	if (cf_each_line(name, text, 4096, errs, parse_line, t) == -1) {
		routes_free(t);
		return -1;
	}
	return 0;
}

int
routes_load(const char *path, struct route_table *t, struct cf_errors *errs)
{
	char *text;
	int r;

	memset(t, 0, sizeof(*t));
	if ((text = cf_read_text(path, 0, errs)) == NULL)
		return -1;
	r = routes_parse(path, text, t, errs);
	free(text);
	return r;
}

static const struct route *
routes_find(const struct route_table *t, const char *pattern)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->r[i].pattern, pattern) == 0)
			return &t->r[i];
	return NULL;
}

const struct route *
routes_lookup(const struct route_table *t, const char *domain)
{
	const struct route *r;
	const char *dot;

	if ((r = routes_find(t, domain)) != NULL)
		return r;
	for (dot = strchr(domain, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if ((r = routes_find(t, dot)) != NULL)
			return r;
	return routes_find(t, "*");
}

void
routes_free(struct route_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		route_free_one(&t->r[i]);
	free(t->r);
	t->r = NULL;
	t->n = 0;
}
