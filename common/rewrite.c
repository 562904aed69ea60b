/*
 * rewrite.c - what happens to addresses between submission and the
 * queue: local recipients become their alias targets, their forward
 * address or a bounce; generic_maps gives the envelope and the address
 * header fields the names a relay will accept. Done once, in pickup.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "dsnparam.h"
#include "maildrop.h"
#include "rewrite.h"
#include "util.h"

#define RW_ORIGIN_CHECK "origin.invalid"
#define RW_UNKNOWN_LOCAL                                                       \
	"unknown local recipient, no local delivery: set an alias or "         \
	"local_recipient_forward"

/* -- generic_maps ------------------------------------------------------------- */

/* A key or value is "local@domain", "@domain" or (keys) "local". */
static int
gm_check(const char *s, int bare_ok)
{
	char buf[ADDR_MAX], tmp[ADDR_MAX];
	const char *err;

	if (*s == '@') {
		snprintf(tmp, sizeof(tmp), "x%s", s);
		s = tmp;
	} else if (strchr(s, '@') == NULL && !bare_ok)
		return -1;
	return addr_normalize(s, RW_ORIGIN_CHECK, 0, buf, sizeof(buf), &err);
}

static void
gm_line(const char *name, int lineno, char *line, struct generic_table *t,
    struct cf_errors *errs)
{
	char *key, *value, *extra, *p;
	size_t i;

	key = strtok_r(line, " \t", &p);
	value = strtok_r(NULL, " \t", &p);
	extra = strtok_r(NULL, " \t", &p);
	if (value == NULL || extra != NULL) {
		cf_error(errs, name, lineno,
		    "expected \"address  new-address\" (two fields)");
		return;
	}
	for (p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (gm_check(key, 1) == -1 || strcmp(key, "@") == 0) {
		cf_error(errs, name, lineno,
		    "bad key \"%s\": expected user@domain, user or @domain",
		    key);
		return;
	}
	if (gm_check(value, 0) == -1) {
		cf_error(errs, name, lineno,
		    "bad address \"%s\": expected user@domain or @domain",
		    value);
		return;
	}
	for (i = 0; i < t->n; i++)
		if (strcmp(t->m[i].key, key) == 0) {
			cf_error(errs, name, lineno,
			    "\"%s\" already given on line %d", key,
			    t->m[i].line);
			return;
		}
	t->m = xreallocarray(t->m, t->n + 1, sizeof(*t->m));
	t->m[t->n++] =
	    (struct generic_map){xstrdup(key), xstrdup(value), lineno};
}

int
generic_parse(const char *name, const char *text, struct generic_table *t,
    struct cf_errors *errs)
{
	const char *p = text, *nl;
	int lineno = 0, before = errs->count;
	char *line;
	size_t len;

	memset(t, 0, sizeof(*t));
	for (; *p != '\0'; p += len + (nl != NULL)) {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		line = xstrndup(p, len);
		line[strcspn(line, "\r")] = '\0';
		if (line[strspn(line, " \t")] != '\0' &&
		    line[strspn(line, " \t")] != '#') {
			if (*line == ' ' || *line == '\t')
				cf_error(errs, name, lineno,
				    "line starts with white space");
			else
				gm_line(name, lineno, line, t, errs);
		}
		free(line);
	}
	return errs->count > before ? -1 : 0;
}

void
generic_free(struct generic_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->m[i].key);
		free(t->m[i].value);
	}
	free(t->m);
	memset(t, 0, sizeof(*t));
}

static const char *
gm_find(const struct generic_table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcasecmp(t->m[i].key, key) == 0)
			return t->m[i].value;
	return NULL;
}

/* Postfix's order: user@domain, user (local domains only), @domain. */
char *
rewrite_generic(const struct rewrite *rw, const char *addr)
{
	const char *at = strrchr(addr, '@'), *v;
	char *local, *out;

	if (rw->generic.n == 0 || at == NULL || at == addr)
		return NULL;
	local = xstrndup(addr, (size_t)(at - addr));
	if ((v = gm_find(&rw->generic, addr)) == NULL &&
	    (!rewrite_is_local(rw, addr) ||
	        (v = gm_find(&rw->generic, local)) == NULL))
		v = gm_find(&rw->generic, at);
	out = NULL;
	if (v != NULL && *v == '@')
		xasprintf(&out, "%s%s", local, v);
	else if (v != NULL)
		out = xstrdup(v);
	free(local);
	if (out != NULL && strcmp(out, addr) == 0) {
		free(out);
		out = NULL;
	}
	return out;
}

/* -- set-up ------------------------------------------------------------------- */

static void
rw_domains(struct rewrite *rw, const char *list)
{
	char *copy = xstrdup(list), *w, *p, *s;

	for (w = strtok_r(copy, ", \t", &p); w;
	     w = strtok_r(NULL, ", \t", &p)) {
		for (s = w; *s; s++)
			*s = (char)tolower((unsigned char)*s);
		rw->mydest = xreallocarray(
		    rw->mydest, rw->nmydest + 1, sizeof(*rw->mydest));
		rw->mydest[rw->nmydest++] = xstrdup(w);
	}
	free(copy);
}

static int
rw_check_forward(const struct rewrite *rw, const struct nc_config *cfg,
    struct cf_errors *errs)
{
	char *conf;
	int bad;

	if (*rw->forward == '\0')
		return 0;
	bad = gm_check(rw->forward, 0) == -1;
	xasprintf(
	    &conf, "%s/ncmta.conf", cfg->config_dir ? cfg->config_dir : ".");
	if (bad)
		cf_error(errs, conf, 0,
		    "local_recipient_forward = \"%s\": expected user@domain or "
		    "@domain",
		    rw->forward);
	else if (rewrite_is_local(rw, rw->forward)) {
		cf_error(errs, conf, 0,
		    "local_recipient_forward = \"%s\" is in mydestination: "
		    "mail would go round in circles",
		    rw->forward);
		bad = 1;
	}
	free(conf);
	return bad ? -1 : 0;
}

int
rewrite_init(struct rewrite *rw, const struct nc_config *cfg,
    const char *aliases_text, const char *generic_text, struct cf_errors *errs)
{
	int before = errs->count;

	memset(rw, 0, sizeof(*rw));
	rw->myorigin = xstrdup(cfg->myorigin);
	rw->forward = xstrdup(cfg->local_recipient_forward);
	rw_domains(rw, cfg->mydestination);
	(void)aliases_parse(*cfg->alias_maps ? cfg->alias_maps : "alias_maps",
	    aliases_text, &rw->aliases, errs);
	(void)generic_parse(
	    *cfg->generic_maps ? cfg->generic_maps : "generic_maps",
	    generic_text, &rw->generic, errs);
	if (rw_check_forward(rw, cfg, errs) == -1) {
		free(rw->forward);
		rw->forward = xstrdup("");
	}
	return errs->count > before ? -1 : 0;
}

int
rewrite_read_tables(const struct nc_config *cfg, char **aliases_text,
    char **generic_text, struct cf_errors *errs)
{
	*aliases_text = cf_read_text(cfg->alias_maps, 1, errs);
	*generic_text = cf_read_text(cfg->generic_maps, 0, errs);
	if (*aliases_text != NULL && *generic_text != NULL &&
	    strlen(*aliases_text) + strlen(*generic_text) > REWRITE_TABLES_MAX)
		cf_error(errs, cfg->alias_maps, 0,
		    "with generic_maps larger than %d KiB: too large",
		    REWRITE_TABLES_MAX / 1024);
	else if (*aliases_text != NULL && *generic_text != NULL)
		return 0;
	free(*aliases_text);
	free(*generic_text);
	*aliases_text = *generic_text = NULL;
	return -1;
}

int
rewrite_load(
    struct rewrite *rw, const struct nc_config *cfg, struct cf_errors *errs)
{
	char *at, *gt;
	int r;

	if (rewrite_read_tables(cfg, &at, &gt, errs) == -1) {
		(void)rewrite_init(rw, cfg, "", "", errs);
		return -1;
	}
	r = rewrite_init(rw, cfg, at, gt, errs);
	free(at);
	free(gt);
	return r;
}

int
rewrite_check(const struct nc_config *cfg, char **aliases_text,
    char **generic_text, struct cf_errors *errs)
{
	struct rewrite rw;
	int r;

	if (rewrite_read_tables(cfg, aliases_text, generic_text, errs) == -1)
		return -1;
	r = rewrite_init(&rw, cfg, *aliases_text, *generic_text, errs);
	rewrite_free(&rw);
	if (r == -1) {
		free(*aliases_text);
		free(*generic_text);
		*aliases_text = *generic_text = NULL;
	}
	return r;
}

void
rewrite_free(struct rewrite *rw)
{
	size_t i;

	for (i = 0; i < rw->nmydest; i++)
		free(rw->mydest[i]);
	free(rw->mydest);
	free(rw->myorigin);
	free(rw->forward);
	aliases_free(&rw->aliases);
	generic_free(&rw->generic);
	memset(rw, 0, sizeof(*rw));
}

int
rewrite_is_local(const struct rewrite *rw, const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	if (at == NULL)
		return 0;
	for (i = 0; i < rw->nmydest; i++)
		if (strcasecmp(at + 1, rw->mydest[i]) == 0)
			return 1;
	return 0;
}

/* -- recipients --------------------------------------------------------------- */

static size_t
rw_hash(const char *s)
{
	size_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The index slot of addr: where it is, or the free slot it would take. */
static size_t *
rw_slot(const struct rw_result *res, const char *addr)
{
	size_t i = rw_hash(addr) & (res->nslot - 1);

	while (res->slot[i] != 0 &&
	    strcmp(res->r[res->slot[i] - 1].addr, addr) != 0)
		i = (i + 1) & (res->nslot - 1);
	return &res->slot[i];
}

/* Keep the index at most half full (it starts at 64 slots). */
static void
rw_index_grow(struct rw_result *res)
{
	size_t i;

	if (res->nslot > 2 * res->n)
		return;
	free(res->slot);
	res->nslot = res->nslot ? res->nslot * 2 : 64;
	res->slot = xcalloc(res->nslot, sizeof(*res->slot));
	for (i = 0; i < res->n; i++)
		*rw_slot(res, res->r[i].addr) = i + 1;
}

/* The ORCPT of addr, one of what res->orig became. */
static char *
rw_orcpt(const struct rw_result *res, const char *addr)
{
	char *o;

	if (res->orig_orcpt != NULL && *res->orig_orcpt != '\0')
		return xstrdup(res->orig_orcpt);
	if (res->orig == NULL || strcmp(addr, res->orig) == 0)
		return xstrdup("");
	xasprintf(&o, "rfc822;%s", res->orig);
	if (!dsn_orcpt_valid(o)) { /* too long for an ORCPT */
		free(o);
		return xstrdup("");
	}
	return o;
}

static void
rw_add(struct rw_result *res, const char *addr, const char *dsn,
    const char *reason)
{
	size_t *slot;

	rw_index_grow(res);
	if (*(slot = rw_slot(res, addr)) != 0)
		return;
	if (res->n == res->cap) {
		res->cap = res->cap ? res->cap * 2 : 8;
		res->r = xreallocarray(res->r, res->cap, sizeof(*res->r));
	}
	*slot = res->n + 1;
	res->r[res->n].addr = xstrdup(addr);
	strlcpy(res->r[res->n].dsn, dsn, sizeof(res->r[res->n].dsn));
	res->r[res->n].reason = xstrdup(reason);
	res->r[res->n].orcpt = rw_orcpt(res, addr);
	res->n++;
}

/* A deliverable address, after generic_maps. */
static void
rw_add_ok(const struct rewrite *rw, struct rw_result *res, const char *addr)
{
	char *g = rewrite_generic(rw, addr);

	rw_add(res, g ? g : addr, "", "");
	free(g);
}

/* A local address without an alias: forwarded, or it bounces. */
static void
rw_unaliased(const struct rewrite *rw, struct rw_result *res, const char *addr)
{
	const char *at = strrchr(addr, '@');
	char *fwd;

	if (*rw->forward == '\0') {
		rw_add(res, addr, "5.1.1", RW_UNKNOWN_LOCAL);
		return;
	}
	if (*rw->forward == '@')
		xasprintf(&fwd, "%.*s%s", (int)(at - addr), addr, rw->forward);
	else
		fwd = xstrdup(rw->forward);
	rw_add_ok(rw, res, fwd);
	free(fwd);
}

static int
rw_is_local_cb(const char *addr, void *arg)
{
	return rewrite_is_local(arg, addr);
}

static void
rw_local(const struct rewrite *rw, struct rw_result *res, const char *addr)
{
	struct alias_expansion x;
	size_t i;

	aliases_expand(
	    &rw->aliases, addr, rw->myorigin, rw_is_local_cb, (void *)rw, &x);
	for (i = 0; i < x.nnotes; i++) {
		res->notes = xreallocarray(
		    res->notes, res->nnotes + 1, sizeof(*res->notes));
		res->notes[res->nnotes++] = x.notes[i];
	}
	x.nnotes = 0;
	if (x.status != ALIAS_OK)
		rw_add(res, addr, "5.4.6", x.why);
	else if (x.n == 0) /* only unsupported targets: as if no alias */
		rw_unaliased(rw, res, addr);
	for (i = 0; i < x.n; i++) {
		if (rewrite_is_local(rw, x.addr[i]))
			rw_unaliased(rw, res, x.addr[i]);
		else
			rw_add_ok(rw, res, x.addr[i]);
	}
	alias_expansion_free(&x);
}

void
rewrite_recipients(const struct rewrite *rw, char *const *rcpt,
    char *const *orcpt, size_t n, struct rw_result *res)
{
	size_t i;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < n; i++) {
		res->orig = rcpt[i];
		res->orig_orcpt = orcpt != NULL ? orcpt[i] : NULL;
		if (rewrite_is_local(rw, rcpt[i]))
			rw_local(rw, res, rcpt[i]);
		else
			rw_add_ok(rw, res, rcpt[i]);
	}
	res->orig = res->orig_orcpt = NULL;
}

void
rw_result_free(struct rw_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++) {
		free(res->r[i].addr);
		free(res->r[i].reason);
		free(res->r[i].orcpt);
	}
	for (i = 0; i < res->nnotes; i++)
		free(res->notes[i]);
	free(res->slot);
	free(res->r);
	free(res->notes);
	memset(res, 0, sizeof(*res));
}

/* -- header fields ------------------------------------------------------------ */

/* A growing output string. */
struct rw_buf {
	char *p;
	size_t len, cap;
};

static void
rw_put(struct rw_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static int
rw_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Index after a quoted string, comment or domain literal starting at i. */
static size_t
rw_skip(const char *v, size_t len, size_t i)
{
	char open = v[i], close = open == '"' ? '"' : open == '(' ? ')' : ']';
	int depth = 1;

	for (i++; i < len; i++) {
		if (v[i] == '\\' && i + 1 < len)
			i++;
		else if (v[i] == close && --depth == 0)
			return i + 1;
		else if (open == '(' && v[i] == '(')
			depth++;
	}
	return len;
}

/* Skip white space and comments. */
static size_t
rw_skip_cfws(const char *v, size_t len, size_t i)
{
	while (i < len && (rw_space(v[i]) || v[i] == '('))
		i = v[i] == '(' ? rw_skip(v, len, i) : i + 1;
	return i;
}

/* The address of one list element without angle brackets: its span, or
 * -1 when it is not a plain addr-spec (a display name without <>). */
static int
rw_bare_span(const char *v, size_t es, size_t ee, size_t *s, size_t *e)
{
	size_t i = rw_skip_cfws(v, ee, es);

	*s = i;
	while (i < ee && !rw_space(v[i]) && v[i] != '(')
		i = v[i] == '"' || v[i] == '[' ? rw_skip(v, ee, i) : i + 1;
	*e = i;
	return rw_skip_cfws(v, ee, i) == ee && *e > *s ? 0 : -1;
}

/* The rewritten form of one address (malloc'd), or NULL. */
static char *
rw_header_addr(const struct rewrite *rw, const char *a, size_t n)
{
	char *text, *q = NULL, *g, buf[ADDR_MAX];
	const char *err;
	size_t i, k;

	if (memchr(a, '\0', n) != NULL)
		return NULL; /* no address holds a NUL: leave it alone */
	text = xstrndup(a, n);
	for (i = 0; i < n && text[i] != '@'; i++)
		if (text[i] == '"' && (k = rw_skip(text, n, i)) > i)
			i = k - 1;
	if (i == n) { /* unqualified: add @myorigin */
		if (addr_normalize(
		        text, rw->myorigin, 0, buf, sizeof(buf), &err) == -1) {
			free(text);
			return NULL;
		}
		q = xstrdup(buf);
	}
	g = rewrite_generic(rw, q ? q : text);
	free(text);
	if (g != NULL) {
		free(q);
		return g;
	}
	return q;
}

/* Rewrite the element [es, ee) into b; lt/gt: its <...>, if any. */
static void
rw_element(const struct rewrite *rw, const char *v, size_t *pos, size_t es,
    size_t ee, long lt, long gt, struct rw_buf *b)
{
	size_t s, e;
	char *n;

	if (lt >= 0 && gt > lt) {
		s = rw_skip_cfws(v, (size_t)gt, (size_t)lt);
		for (e = (size_t)gt; e > s && rw_space(v[e - 1]); e--)
			;
		if (e == s || memchr(v + s, ':', e - s) != NULL)
			return; /* <> or a source route: left alone */
	} else if (lt >= 0 || rw_bare_span(v, es, ee, &s, &e) == -1)
		return;
	if ((n = rw_header_addr(rw, v + s, e - s)) == NULL)
		return;
	rw_put(b, v + *pos, s - *pos);
	rw_put(b, n, strlen(n));
	*pos = e;
	free(n);
}

char *
rewrite_address_list(const struct rewrite *rw, const char *v, size_t len)
{
	struct rw_buf b = {NULL, 0, 0};
	size_t i, es = 0, pos = 0;
	long lt = -1, gt = -1;

	for (i = 0; i <= len; i++) {
		if (i < len && (v[i] == '"' || v[i] == '(' || v[i] == '[')) {
			i = rw_skip(v, len, i) - 1;
		} else if (i < len && v[i] == '<' && lt < 0)
			lt = (long)i + 1;
		else if (i < len && v[i] == '>' && lt >= 0 && gt < 0)
			gt = (long)i;
		else if (i < len && lt >= 0 && gt < 0)
			continue; /* inside <...> */
		else if (i < len && v[i] == ':')
			es = i + 1; /* "group:" */
		else if (i == len || v[i] == ',' || v[i] == ';') {
			rw_element(rw, v, &pos, es, i, lt, gt, &b);
			es = i + 1;
			lt = gt = -1;
		}
	}
	if (b.p == NULL)
		return NULL;
	rw_put(&b, v + pos, len - pos);
	return b.p;
}

static int
rw_address_field(const struct msg_field *f)
{
	/* the sender and recipient fields Postfix's generic maps rewrite */
	static const char *names[] = {"From", "Sender", "Reply-To", "To", "Cc",
	    "Resent-From", "Resent-Sender", "Resent-Reply-To", "Resent-To",
	    "Resent-Cc", NULL};
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (msg_field_is(f, names[i]))
			return 1;
	return 0;
}

char *
rewrite_header_fields(
    const struct rewrite *rw, const char *msg, size_t len, size_t *outlen)
{
	struct rw_buf b = {NULL, 0, 0};
	struct msg_field f;
	size_t pos = 0, done = 0;
	char *n;

	while (msg_field_next(msg, len, &pos, &f) == 1) {
		if (!rw_address_field(&f) ||
		    (n = rewrite_address_list(rw, f.value, f.valuelen)) == NULL)
			continue;
		rw_put(&b, msg + done, (size_t)(f.value - msg) - done);
		rw_put(&b, n, strlen(n));
		done = (size_t)(f.value - msg) + f.valuelen;
		free(n);
	}
	if (b.p == NULL)
		return NULL;
	rw_put(&b, msg + done, len - done);
	*outlen = b.len;
	return b.p;
}
