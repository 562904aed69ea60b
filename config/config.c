/*
 * config.c - read ncmta.conf ("key = value", '#' comments) over the
 * defaults of the settings table. Every problem is collected with its
 * file:line, so `ncctl check` can print them all at once; a file with
 * any problem is refused as a whole.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "netaddr.h"

/*
 * The settings layer stands alone (it is below common/): its own
 * allocation helpers, which end the process on failure as common's do.
 */
static void __attribute__((noreturn)) cf_nomem(void)
{
	static const char msg[] = "ncmta: out of memory reading the "
	                          "configuration\n";

	(void)write(2, msg, sizeof(msg) - 1);
	abort();
}

static void *
cf_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		cf_nomem();
	return p;
}

static char *
cf_strdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		cf_nomem();
	return p;
}

static int __attribute__((format(printf, 2, 3)))
cf_asprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		cf_nomem();
	return n;
}

/* Parse a non-negative number with an optional one-letter unit. */
static int
parse_unit(const char *s, const char *units, const int64_t *mult, int64_t *out)
{
	char *end;
	const char *u;
	long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v < 0)
		return -1;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
		return -1;
	if (v > INT64_MAX / mult[u - units])
		return -1;
	*out = v * mult[u - units];
	return 0;
}

int
parse_duration(const char *s, int64_t *out)
{
	static const int64_t mult[] = {1, 60, 3600, 86400, 604800};

	return parse_unit(s, "smhdw", mult, out);
}

int
parse_size(const char *s, int64_t *out)
{
	static const int64_t mult[] = {
	    1, 1024, 1024, 1048576, 1048576, 1073741824, 1073741824};

	return parse_unit(s, "bkKmMgG", mult, out);
}

#define CF_LINE_MAX 8192
/* Problems kept as text; more are only counted. Each one copies the text
 * so far, so without a bound a file of a million bad lines would take
 * hours to refuse. */
#define CF_ERRORS_SHOWN 100

void
cf_error(struct cf_errors *e, const char *file, int line, const char *fmt, ...)
{
	char msg[1024], *old = e->text;
	va_list ap;

	if (e->count >= CF_ERRORS_SHOWN) {
		if (e->count++ == CF_ERRORS_SHOWN) {
			cf_asprintf(&e->text, "%s(more problems not shown)\n",
			    old ? old : "");
			free(old);
		}
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file == NULL)
		cf_asprintf(&e->text, "%s%s\n", old ? old : "", msg);
	else if (line > 0)
		cf_asprintf(
		    &e->text, "%s%s:%d: %s\n", old ? old : "", file, line, msg);
	else
		cf_asprintf(&e->text, "%s%s: %s\n", old ? old : "", file, msg);
	free(old);
	e->count++;
}

char *
cf_read_text(const char *path, int missing_ok, struct cf_errors *errs)
{
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;

	if (*path == '\0') /* a setting naming no file */
		return cf_strdup("");
	if ((fp = fopen(path, "r")) == NULL) {
		if (missing_ok && errno == ENOENT)
			return cf_strdup("");
		cf_error(errs, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	n = getdelim(&text, &cap, '\0', fp);
	fclose(fp);
	if (n <= 0) {
		free(text);
		return cf_strdup("");
	}
	return text;
}

int
cf_each_line(const char *name, const char *text, size_t max,
    struct cf_errors *errs,
    void (*fn)(const char *, int, char *, struct cf_errors *, void *),
    void *arg)
{
	const char *p = text, *nl;
	int lineno = 0, before = errs->count;
	char *line = cf_malloc(max);
	size_t len;

	for (; *p != '\0'; p += len + (nl != NULL)) {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= max) {
			cf_error(errs, name, lineno, "line too long");
			continue;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		fn(name, lineno, line, errs, arg);
	}
	explicit_bzero(line, max); /* it may have held a password */
	free(line);
	return errs->count > before ? -1 : 0;
}

void
cf_errors_free(struct cf_errors *e)
{
	free(e->text);
	e->text = NULL;
	e->count = 0;
}

const char *
config_dir_pick(const char *arg)
{
	const char *env;

	if (arg != NULL && *arg != '\0')
		return arg;
	if ((env = getenv("NCMTA_CONFIG_DIR")) != NULL && *env != '\0')
		return env;
	return SYSCONFDIR "/ncmta";
}

static const struct cf_setting *
cf_find(const char *name)
{
	const struct cf_setting *s;

	for (s = cf_settings; s->name != NULL; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static int
cf_enum_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

/* Store value v into cfg for setting s; NULL on success, else why not. */
static const char *
cf_set(struct nc_config *cfg, const struct cf_setting *s, const char *v)
{
	char *base = (char *)cfg + s->offset;
	int64_t n;

	switch (s->type) {
	case CF_STR:
	case CF_ENUM:
		if (s->type == CF_ENUM && !cf_enum_ok(s->choices, v))
			return "is not one of the allowed values";
		free(*(char **)base);
		*(char **)base = cf_strdup(v);
		return NULL;
	case CF_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
			*(int *)base = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
			*(int *)base = 0;
		else
			return "must be yes or no";
		return NULL;
	case CF_INT:
	case CF_DURATION:
	case CF_SIZE:
		if (s->type == CF_INT ? parse_size(v, &n) == -1 ||
		            strspn(v, "0123456789") != strlen(v)
		        : s->type == CF_DURATION ? parse_duration(v, &n) == -1
		                                 : parse_size(v, &n) == -1)
			return s->type == CF_INT ? "must be a whole number"
			    : s->type == CF_DURATION
			    ? "must be a duration (e.g. 30s, 5m, 2h, 5d)"
			    : "must be a size (e.g. 512k, 10M, 2G)";
		if (n < s->min || n > s->max)
			return "is out of range";
		*(int64_t *)base = n;
		return NULL;
	}
	return "has an unknown type";
}

static void
cf_free_strings(struct nc_config *cfg)
{
	const struct cf_setting *s;

	for (s = cf_settings; s->name != NULL; s++)
		if (s->type == CF_STR || s->type == CF_ENUM) {
			char **p = (char **)((char *)cfg + s->offset);
			free(*p);
			*p = NULL;
		}
	free(cfg->config_dir);
	cfg->config_dir = NULL;
}

void
config_defaults(struct nc_config *cfg)
{
	const struct cf_setting *s;

	memset(cfg, 0, sizeof(*cfg));
	for (s = cf_settings; s->name != NULL; s++)
		if (cf_set(cfg, s, s->def) != NULL)
			abort(); /* the table itself is wrong */
}

void
config_free(struct nc_config *cfg)
{
	cf_free_strings(cfg);
}

static char *
cf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void
cf_parse_line(
    const char *file, int lineno, char *line, struct cf_errors *errs, void *arg)
{
	struct nc_config *cfg = arg;
	const struct cf_setting *s;
	char *eq, *key, *val;
	const char *why;

	line[strcspn(line, "#")] = '\0';
	line = cf_trim(line);
	if (*line == '\0')
		return;
	if ((eq = strchr(line, '=')) == NULL) {
		cf_error(errs, file, lineno, "expected \"key = value\"");
		return;
	}
	*eq = '\0';
	key = cf_trim(line);
	val = cf_trim(eq + 1);
	if ((s = cf_find(key)) == NULL)
		cf_error(errs, file, lineno, "unknown setting \"%s\"", key);
	else if ((why = cf_set(cfg, s, val)) != NULL)
		cf_error(errs, file, lineno, "%s = \"%s\" %s", key, val, why);
}

/* Replace each "$myhostname" in a setting's value, once: the host name
 * put in is not searched again (it may say "$myhostname" itself). */
static void
cf_expand_host(char **val, const char *host)
{
	const char *from = *val, *p;
	char *out = cf_strdup(""), *n;

	while ((p = strstr(from, "$myhostname")) != NULL) {
		cf_asprintf(&n, "%s%.*s%s", out, (int)(p - from), from, host);
		free(out);
		out = n;
		from = p + strlen("$myhostname");
	}
	cf_asprintf(&n, "%s%s", out, from);
	free(out);
	free(*val);
	*val = n;
}

/* smtpd_listen, metrics_listen and mynetworks must parse whole (config/netaddr.c). */
static void
cf_check_nets(
    const struct nc_config *cfg, const char *file, struct cf_errors *errs)
{
	struct net_listen l[NET_LISTEN_MAX];
	struct net_cidr c[NET_CIDR_MAX];
	char err[256];

	if (net_listen_parse(
	        cfg->smtpd_listen, l, NET_LISTEN_MAX, err, sizeof(err)) == -1)
		cf_error(errs, file, 0, "smtpd_listen: %s", err);
	if (net_listen_parse(
	        cfg->metrics_listen, l, NET_LISTEN_MAX, err, sizeof(err)) == -1)
		cf_error(errs, file, 0, "metrics_listen: %s", err);
	if (net_cidr_parse(
	        cfg->mynetworks, c, NET_CIDR_MAX, err, sizeof(err)) == -1)
		cf_error(errs, file, 0, "mynetworks: %s", err);
	if ((*cfg->smtpd_tls_cert_file == '\0') !=
	    (*cfg->smtpd_tls_key_file == '\0'))
		cf_error(errs, file, 0,
		    "smtpd_tls_cert_file and smtpd_tls_key_file go together");
}

static void
cf_finish(struct nc_config *cfg, const char *file, struct cf_errors *errs)
{
	char host[256], line[512];
	FILE *fp;

	if (*cfg->myhostname == '\0') {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		free(cfg->myhostname);
		cfg->myhostname = cf_strdup(host);
	}
	if (*cfg->myorigin == '\0') {
		free(cfg->myorigin);
		cfg->myorigin = NULL;
		if ((fp = fopen("/etc/mailname", "r")) != NULL) {
			if (fgets(line, sizeof(line), fp) != NULL &&
			    *cf_trim(line) != '\0')
				cfg->myorigin = cf_strdup(cf_trim(line));
			fclose(fp);
		}
		if (cfg->myorigin == NULL)
			cfg->myorigin = cf_strdup(cfg->myhostname);
	}
	cf_expand_host(&cfg->myorigin, cfg->myhostname);
	cf_expand_host(&cfg->mydestination, cfg->myhostname);
	if (*cfg->secrets_file == '\0') {
		free(cfg->secrets_file);
		cf_asprintf(&cfg->secrets_file, "%s/secrets", cfg->config_dir);
	}
	cf_check_nets(cfg, file, errs);
	if (cfg->queue_directory[0] != '/')
		cf_error(
		    errs, file, 0, "queue_directory must be an absolute path");
	if (cfg->min_backoff > cfg->max_backoff)
		cf_error(
		    errs, file, 0, "min_backoff is larger than max_backoff");
	if (strcmp(cfg->delivery_mode, "smarthost") == 0 &&
	    *cfg->smart_host == '\0')
		cf_error(errs, file, 0,
		    "delivery_mode = smarthost needs a smart_host");
}

int
config_load_text(struct nc_config *cfg, const char *name, const char *text,
    struct cf_errors *errs)
{
	config_defaults(cfg);
	cfg->config_dir = cf_strdup(".");
	(void)cf_each_line(name, text, CF_LINE_MAX, errs, cf_parse_line, cfg);
	cf_finish(cfg, name, errs);
	return errs->count ? -1 : 0;
}

int
config_load(struct nc_config *cfg, const char *dir, struct cf_errors *errs)
{
	char *path, *text;
	int r;

	cf_asprintf(&path, "%s/ncmta.conf", dir);
	if ((text = cf_read_text(path, 0, errs)) == NULL) {
		config_defaults(cfg);
		cfg->config_dir = cf_strdup(dir);
		free(path);
		return -1;
	}
	r = config_load_text(cfg, path, text, errs);
	free(cfg->config_dir);
	cfg->config_dir = cf_strdup(dir);
	if (r == 0 && *cfg->secrets_file != '/') {
		/* relative default computed before config_dir was known */
		free(cfg->secrets_file);
		cf_asprintf(&cfg->secrets_file, "%s/secrets", dir);
	}
	free(text);
	free(path);
	return r;
}

static void
cf_format(const struct nc_config *cfg, const struct cf_setting *s, char *buf,
    size_t len)
{
	const char *base = (const char *)cfg + s->offset;
	int64_t v;

	switch (s->type) {
	case CF_STR:
	case CF_ENUM:
		snprintf(buf, len, "%s", *(char *const *)base);
		break;
	case CF_BOOL:
		snprintf(buf, len, "%s", *(const int *)base ? "yes" : "no");
		break;
	case CF_INT:
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)base);
		break;
	case CF_DURATION:
		v = *(const int64_t *)base;
		if (v != 0 && v % 86400 == 0)
			snprintf(buf, len, "%lldd", (long long)(v / 86400));
		else if (v != 0 && v % 3600 == 0)
			snprintf(buf, len, "%lldh", (long long)(v / 3600));
		else if (v != 0 && v % 60 == 0)
			snprintf(buf, len, "%lldm", (long long)(v / 60));
		else
			snprintf(buf, len, "%llds", (long long)v);
		break;
	case CF_SIZE:
		v = *(const int64_t *)base;
		if (v != 0 && v % 1073741824 == 0)
			snprintf(buf, len, "%lldG", (long long)(v >> 30));
		else if (v != 0 && v % 1048576 == 0)
			snprintf(buf, len, "%lldM", (long long)(v >> 20));
		else if (v != 0 && v % 1024 == 0)
			snprintf(buf, len, "%lldk", (long long)(v >> 10));
		else
			snprintf(buf, len, "%lld", (long long)v);
		break;
	}
}

void
config_print(const struct nc_config *cfg, FILE *fp, int only_changed)
{
	struct nc_config def;
	const struct cf_setting *s;
	char a[4096], b[4096];
	struct cf_errors e = {NULL, 0};

	config_load_text(&def, "defaults", "", &e);
	cf_errors_free(&e);
	/* the default secrets_file lives in cfg's own configuration dir */
	free(def.secrets_file);
	cf_asprintf(&def.secrets_file, "%s/secrets",
	    cfg->config_dir ? cfg->config_dir : ".");
	for (s = cf_settings; s->name != NULL; s++) {
		cf_format(cfg, s, a, sizeof(a));
		cf_format(&def, s, b, sizeof(b));
		if (only_changed && strcmp(a, b) == 0)
			continue;
		fprintf(fp, "%s = %s\n", s->name, a);
	}
	config_free(&def);
}

/* Put old's value of setting s into cfg (a string is copied). */
static void
cf_copy(struct nc_config *cfg, const struct nc_config *old,
    const struct cf_setting *s)
{
	char *to = (char *)cfg + s->offset;
	const char *from = (const char *)old + s->offset;

	switch (s->type) {
	case CF_STR:
	case CF_ENUM:
		free(*(char **)to);
		*(char **)to = cf_strdup(*(char *const *)from);
		break;
	case CF_BOOL:
		*(int *)to = *(const int *)from;
		break;
	case CF_INT:
	case CF_DURATION:
	case CF_SIZE:
		*(int64_t *)to = *(const int64_t *)from;
		break;
	}
}

int
config_keep_restart(
    struct nc_config *fresh, const struct nc_config *old, char **changed)
{
	const struct cf_setting *s;
	char a[4096], b[4096], *text = NULL, *line;
	int n = 0;

	for (s = cf_settings; s->name != NULL; s++) {
		if (s->apply != CF_RESTART)
			continue;
		cf_format(fresh, s, a, sizeof(a));
		cf_format(old, s, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		n++;
		cf_copy(fresh, old, s);
		if (changed == NULL)
			continue;
		cf_asprintf(&line,
		    "%s%s = \"%s\" needs a restart; \"%s\" stays in force "
		    "until ncmta is stopped and started\n",
		    text ? text : "", s->name, a, b);
		free(text);
		text = line;
	}
	if (changed != NULL)
		*changed = text;
	return n;
}

char *
config_qpath(const struct nc_config *cfg, const char *rel)
{
	char *p;

	cf_asprintf(&p, "%s/%s", cfg->queue_directory, rel);
	return p;
}
