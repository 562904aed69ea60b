/*
 * aliases.c - the aliases file: "name: target, target, ...", lines that
 * start with white space continue the previous entry, '#' lines are
 * comments, names and targets may be quoted. Expansion is recursive over
 * local addresses, bounded in depth and size, and a cycle is a loop.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "aliases.h"
#include "util.h"

#define AL_ORIGIN_CHECK "origin.invalid" /* qualifies targets for checks */

/* -- parsing ------------------------------------------------------------------ */

/* Length of the quoted string at s (s[0] == '"'), or 0 if unterminated. */
static size_t
al_quoted_len(const char *s)
{
	size_t i;

	for (i = 1; s[i] != '\0'; i++) {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

static char *
al_trim(char *s)
{
	char *e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* A quoted string without its quotes and backslashes (malloc'd). */
static char *
al_unquote(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;
	size_t i;

	for (i = 1; i + 1 < len; i++) {
		if (s[i] == '\\' && i + 2 < len)
			i++;
		*o++ = s[i];
	}
	*o = '\0';
	return out;
}

/* The kind of target ncmta cannot deliver to, or NULL. */
static const char *
al_unsupported(const char *t)
{
	if (*t == '|')
		return "|command";
	if (*t == '/')
		return "/file";
	if (strncasecmp(t, ":include:", 9) == 0)
		return ":include:";
	return NULL;
}

struct al_ctx {
	const char *file;
	int line;
	struct cf_errors *errs;
	struct alias_table *t;
};

static void
al_add_str(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

/* One target of name's list: checked, then kept or set apart. */
static void
al_target(struct al_ctx *c, struct alias *a, char *item)
{
	char buf[ADDR_MAX], *t = item, *plain = NULL;
	const char *kind, *err;
	size_t q;

	if (*item == '"' && (q = al_quoted_len(item)) == strlen(item) &&
	    (plain = al_unquote(item, q)) != NULL && al_unsupported(plain))
		t = plain;
	if ((kind = al_unsupported(t)) != NULL) {
		cf_error(&c->t->warnings, c->file, c->line,
		    "%s: %s target \"%s\" is not supported (ncmta delivers no "
		    "mail locally); it is ignored",
		    a->name, kind, t);
		al_add_str(&a->ignored, &a->nignored, t);
	} else if (addr_normalize(*t == '\\' ? t + 1 : t, AL_ORIGIN_CHECK, 0,
	               buf, sizeof(buf), &err) == -1)
		cf_error(c->errs, c->file, c->line, "%s: bad target \"%s\": %s",
		    a->name, t, err);
	else
		al_add_str(&a->targets, &a->ntargets, t);
	free(plain);
}

/* Split the value at commas outside quotes and angle brackets. */
static void
al_targets(struct al_ctx *c, struct alias *a, char *v)
{
	char *start = v, *p;
	size_t q;
	int angle = 0;

	for (p = v;; p++) {
		if (*p == '"' && (q = al_quoted_len(p)) > 0)
			p += q - 1;
		else if (*p == '<')
			angle = 1;
		else if (*p == '>')
			angle = 0;
		else if ((*p == ',' && !angle) || *p == '\0') {
			int end = *p == '\0';

			*p = '\0';
			if (*al_trim(start) != '\0')
				al_target(c, a, al_trim(start));
			if (end)
				break;
			start = p + 1;
		}
	}
}

/* The name before the colon, lower-cased, or NULL after an error. */
static char *
al_name(struct al_ctx *c, char *line, char **rest)
{
	char *colon, *name;
	size_t q, i;

	if (*line == '"') {
		if ((q = al_quoted_len(line)) == 0) {
			cf_error(c->errs, c->file, c->line,
			    "unterminated quoted name");
			return NULL;
		}
		name = al_unquote(line, q);
		colon = line + q + strspn(line + q, " \t");
	} else {
		colon = line + strcspn(line, ":");
		name = xstrndup(line, (size_t)(colon - line));
	}
	if (*colon != ':') {
		cf_error(c->errs, c->file, c->line,
		    "expected \"name: target, ...\"");
		free(name);
		return NULL;
	}
	*rest = colon + 1;
	memmove(name, al_trim(name), strlen(al_trim(name)) + 1);
	for (i = 0; name[i] != '\0'; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	if (*name == '\0' || strchr(name, '@') != NULL ||
	    (*line != '"' &&
	        addr_normalize(name, AL_ORIGIN_CHECK, 0, (char[ADDR_MAX]){0},
	            ADDR_MAX, &(const char *){NULL}) == -1) ||
	    strpbrk(name, "\r\n\x7f") != NULL) {
		cf_error(c->errs, c->file, c->line,
		    "bad alias name \"%s\": a local part without '@'", name);
		free(name);
		return NULL;
	}
	return name;
}

static void
al_entry(struct al_ctx *c, char *line)
{
	struct alias a;
	char *rest;

	memset(&a, 0, sizeof(a));
	a.line = c->line;
	if ((a.name = al_name(c, line, &rest)) == NULL)
		return;
	al_targets(c, &a, rest);
	if (a.ntargets == 0 && a.nignored == 0)
		cf_error(c->errs, c->file, c->line, "%s: no target", a.name);
	c->t->a = xreallocarray(c->t->a, c->t->n + 1, sizeof(*c->t->a));
	c->t->a[c->t->n++] = a;
}

static void
al_free_one(struct alias *a)
{
	size_t i;

	for (i = 0; i < a->ntargets; i++)
		free(a->targets[i]);
	for (i = 0; i < a->nignored; i++)
		free(a->ignored[i]);
	free(a->targets);
	free(a->ignored);
	free(a->name);
}

static int
al_cmp(const void *x, const void *y)
{
	const struct alias *a = x, *b = y;
	int r = strcmp(a->name, b->name);

	return r != 0 ? r : a->line - b->line;
}

/* Sort by name; a repeated name is an error and the first one counts. */
static void
al_sort(struct al_ctx *c)
{
	struct alias_table *t = c->t;
	size_t i, o = 0;

	if (t->n > 0) /* qsort of NULL is undefined even for 0 items */
		qsort(t->a, t->n, sizeof(*t->a), al_cmp);
	for (i = 0; i < t->n; i++) {
		if (o > 0 && strcmp(t->a[o - 1].name, t->a[i].name) == 0) {
			cf_error(c->errs, c->file, t->a[i].line,
			    "duplicate alias \"%s\" (first on line %d)",
			    t->a[i].name, t->a[o - 1].line);
			al_free_one(&t->a[i]);
			continue;
		}
		t->a[o++] = t->a[i];
	}
	t->n = o;
}

/* Comment, empty, or (for a continuation) a line of white space. */
static int
al_blank(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i == len || s[i] == '#';
}

int
aliases_parse(const char *name, const char *text, struct alias_table *t,
    struct cf_errors *errs)
{
	struct al_ctx c = {name, 0, errs, t};
	const char *p = text, *nl;
	char *entry = NULL, *tmp;
	int lineno = 0, before = errs->count;
	size_t len, adv;

	memset(t, 0, sizeof(*t));
	t->file = xstrdup(name);
	for (; *p != '\0'; p += adv) {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		adv = len + (nl != NULL);
		if (len > 0 && p[len - 1] == '\r')
			len--; /* CRLF files */
		if (al_blank(p, len))
			continue;
		if ((*p == ' ' || *p == '\t') && entry != NULL) {
			xasprintf(&tmp, "%s %.*s", entry, (int)len, p);
			free(entry);
			entry = tmp;
			continue;
		}
		if (entry != NULL)
			al_entry(&c, entry);
		free(entry);
		entry = NULL;
		c.line = lineno;
		if (*p == ' ' || *p == '\t')
			cf_error(errs, name, lineno,
			    "continuation line without an entry before it");
		else
			entry = xstrndup(p, len);
	}
	if (entry != NULL)
		al_entry(&c, entry);
	free(entry);
	al_sort(&c);
	return errs->count > before ? -1 : 0;
}

int
aliases_load(const char *path, struct alias_table *t, struct cf_errors *errs)
{
	char *text;
	int r;

	memset(t, 0, sizeof(*t));
	if ((text = cf_read_text(path, 0, errs)) == NULL) {
		t->file = xstrdup(path);
		return -1;
	}
	r = aliases_parse(path, text, t, errs);
	free(text);
	return r;
}

void
aliases_free(struct alias_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		al_free_one(&t->a[i]);
	free(t->a);
	free(t->file);
	cf_errors_free(&t->warnings);
	memset(t, 0, sizeof(*t));
}

void
aliases_print_warnings(const struct alias_table *t, FILE *f, const char *prefix)
{
	const char *p = t->warnings.text, *nl;

	for (; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		fprintf(f, "%s%.*s\n", prefix, (int)(nl - p), p);
	}
}

const struct alias *
aliases_lookup(const struct alias_table *t, const char *local)
{
	size_t lo = 0, hi = t->n, mid;
	int r;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((r = strcasecmp(local, t->a[mid].name)) == 0)
			return &t->a[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* -- expansion ---------------------------------------------------------------- */

struct al_walk {
	const struct alias_table *t;
	const char *origin;
	int (*is_local)(const char *, void *);
	void *arg;
	const char *path[ALIAS_MAX_DEPTH + 1]; /* alias names being expanded */
	int depth;
	int visits;
	struct alias_expansion *x;
};

static void
al_result(struct al_walk *w, const char *addr)
{
	size_t i;

	for (i = 0; i < w->x->n; i++)
		if (strcmp(w->x->addr[i], addr) == 0)
			return;
	if (w->x->n >= ALIAS_MAX_RESULTS) {
		w->x->status = ALIAS_TOO_MANY;
		xasprintf(&w->x->why,
		    "alias expansion gives more than %d addresses",
		    ALIAS_MAX_RESULTS);
		return;
	}
	al_add_str(&w->x->addr, &w->x->n, addr);
}

/* The local part of a qualified address (malloc'd). */
static char *
al_local(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t len = at ? (size_t)(at - addr) : strlen(addr);

	if (len >= 2 && addr[0] == '"' && addr[len - 1] == '"')
		return al_unquote(addr, len); /* "john doe" is john doe */
	return xstrndup(addr, len);
}

static void al_expand(struct al_walk *, const char *addr, int terminal);

static void
al_expand_alias(struct al_walk *w, const struct alias *a)
{
	char buf[ADDR_MAX];
	const char *t, *err;
	size_t i;

	for (i = 0; i < a->nignored; i++) {
		w->x->notes = xreallocarray(
		    w->x->notes, w->x->nnotes + 1, sizeof(*w->x->notes));
		xasprintf(&w->x->notes[w->x->nnotes++],
		    "alias %s: target \"%s\" ignored: not supported", a->name,
		    a->ignored[i]);
	}
	w->path[w->depth++] = a->name;
	for (i = 0; i < a->ntargets && w->x->status == ALIAS_OK; i++) {
		t = a->targets[i];
		if (addr_normalize(*t == '\\' ? t + 1 : t, w->origin, 0, buf,
		        sizeof(buf), &err) == -1)
			continue; /* cannot happen: checked when parsed */
		al_expand(w, buf, *t == '\\');
	}
	w->depth--;
}

/* Expand addr unless terminal ("\name" targets, self-references). */
static void
al_expand(struct al_walk *w, const char *addr, int terminal)
{
	const struct alias *a = NULL;
	char *local;
	int i;

	if (!terminal && w->is_local(addr, w->arg)) {
		local = al_local(addr);
		a = aliases_lookup(w->t, local);
		free(local);
	}
	if (a != NULL && w->depth > 0 && w->path[w->depth - 1] == a->name)
		a = NULL; /* "root: root": delivered as itself */
	if (a == NULL) {
		al_result(w, addr);
		return;
	}
	for (i = 0; i < w->depth; i++)
		if (w->path[i] == a->name) {
			w->x->status = ALIAS_LOOP;
			xasprintf(&w->x->why,
			    "mail forwarding loop: alias %s leads back to %s",
			    w->path[w->depth - 1], a->name);
			return;
		}
	if (w->depth >= ALIAS_MAX_DEPTH || ++w->visits > ALIAS_MAX_VISITS) {
		w->x->status = ALIAS_TOO_DEEP;
		xasprintf(&w->x->why,
		    "alias expansion nested more than %d deep, or too large",
		    ALIAS_MAX_DEPTH);
		return;
	}
	if (w->depth == 0)
		w->x->aliased = 1;
	al_expand_alias(w, a);
}

void
aliases_expand(const struct alias_table *t, const char *addr,
    const char *origin, int (*is_local)(const char *, void *), void *arg,
    struct alias_expansion *x)
{
	struct al_walk w;
	size_t i;

	memset(x, 0, sizeof(*x));
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.origin = origin;
	w.is_local = is_local;
	w.arg = arg;
	w.x = x;
	al_expand(&w, addr, 0);
	if (x->status != ALIAS_OK) {
		for (i = 0; i < x->n; i++)
			free(x->addr[i]);
		free(x->addr);
		x->addr = NULL;
		x->n = 0;
	}
}

void
alias_expansion_free(struct alias_expansion *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		free(x->addr[i]);
	for (i = 0; i < x->nnotes; i++)
		free(x->notes[i]);
	free(x->addr);
	free(x->notes);
	free(x->why);
	memset(x, 0, sizeof(*x));
}
