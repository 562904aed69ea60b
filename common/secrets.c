/*
 * secrets.c - read, check and look up the smart-host credentials file.
 * The file is refused as a whole when it is not a private regular file of
 * the right owner or when any line is wrong, so a reload never applies half
 * of it. Every copy of a password this file makes is wiped before it is
 * freed, and no error message quotes the credentials field.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hostlist.h"
#include "secrets.h"
#include "util.h"

#define SECRETS_LINE_MAX 4096

/* Type, owner and mode of an opened or named file: every problem. */
static int
secrets_check_stat(const char *path, const struct stat *st, uid_t owner,
    struct cf_errors *errs)
{
	int before = errs->count;

	if (!S_ISREG(st->st_mode)) {
		cf_error(
		    errs, NULL, 0, "secrets_file %s: not a regular file", path);
		return -1;
	}
	if (st->st_uid != owner && owner == 0)
		cf_error(errs, NULL, 0,
		    "secrets_file %s: owned by uid %u, must be owned by root",
		    path, (unsigned)st->st_uid);
	else if (st->st_uid != owner)
		cf_error(errs, NULL, 0,
		    "secrets_file %s: owned by uid %u, must be owned by uid "
		    "%u (the user ncmta runs as)",
		    path, (unsigned)st->st_uid, (unsigned)owner);
	if ((st->st_mode & 077) != 0)
		cf_error(errs, NULL, 0,
		    "secrets_file %s: mode %04o %s; run: chmod 600 %s", path,
		    (unsigned)(st->st_mode & 07777),
		    (st->st_mode & 044) ? "lets group or others read it"
		                        : "gives group or others access to it",
		    path);
	return errs->count > before ? -1 : 0;
}

int
secrets_check_file(const char *path, uid_t owner, struct cf_errors *errs)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		cf_error(errs, NULL, 0, "secrets_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return secrets_check_stat(path, &st, owner, errs);
}

/* The user:password field; NULL when it is fine, else why not (a
 * message that never quotes the field). */
static const char *
secrets_cred_problem(const char *cred)
{
	const char *colon = strchr(cred, ':');

	if (colon == NULL)
		return "expected user:password after the host";
	if (colon == cred)
		return "the user name is empty";
	if (strcspn(cred, " \t") < (size_t)(colon - cred))
		return "the user name contains a blank (user and password "
		       "are separated by ':')";
	if (colon[1] == '\0')
		return "the password is empty";
	return NULL;
}

static void
secrets_add(struct secrets *t, const struct host_spec *h, const char *cred)
{
	const char *colon = strchr(cred, ':');
	struct secret *s;
	char *p;

	t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
	s = &t->v[t->n++];
	s->host = xstrdup(h->name);
	for (p = s->host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	s->port = h->port;
	s->user = xstrndup(cred, (size_t)(colon - cred));
	s->password = xstrdup(colon + 1);
}

/* One line (modified in place): "HOST user:password", a comment or blank. */
static void
secrets_parse_line(
    const char *path, int lineno, char *line, struct cf_errors *errs, void *arg)
{
	struct secrets *t = arg;
	struct host_spec h;
	char *host, *cred, *end, err[300];
	const char *why;
	int n;

	host = line + strspn(line, " \t");
	if (*host == '\0' || *host == '#')
		return;
	cred = host + strcspn(host, " \t");
	if (*cred != '\0')
		*cred++ = '\0';
	cred += strspn(cred, " \t");
	end = cred + strlen(cred);
	while (end > cred && isspace((unsigned char)end[-1]))
		*--end = '\0';
	/* the fields may be swapped or the host missing: a field that is
	 * not a well-formed host is never quoted, it may be the password */
	if (*cred == '\0') {
		cf_error(errs, NULL, 0, "%s:%d: expected HOST user:password",
		    path, lineno);
		return;
	}
	if (strchr(host, ',') != NULL) {
		cf_error(errs, NULL, 0,
		    "%s:%d: one host per line, without commas", path, lineno);
		return;
	}
	n = hostlist_parse(host, &h, 1, err, sizeof(err));
	explicit_bzero(err, sizeof(err)); /* it quotes the field */
	if (n != 1) {
		cf_error(errs, NULL, 0,
		    "%s:%d: the first field is not a host ([name]:port, "
		    "name:port, [name] or name)",
		    path, lineno);
		return;
	}
	if ((why = secrets_cred_problem(cred)) != NULL) {
		cf_error(
		    errs, NULL, 0, "%s:%d: %s: %s", path, lineno, host, why);
		return;
	}
	secrets_add(t, &h, cred);
}

int
secrets_parse(const char *path, const char *text, struct secrets *t,
    struct cf_errors *errs)
{
	memset(t, 0, sizeof(*t));
	if (cf_each_line(path, text, SECRETS_LINE_MAX, errs, secrets_parse_line,
	        t) == -1) {
		secrets_free(t);
		return -1;
	}
	return 0;
}

/* Read at most max bytes of fd into a buffer sized once (no reallocation
 * that would leave a copy behind); NULL on a read error. */
static char *
secrets_read(int fd, size_t max, size_t *len)
{
	char *text = xmalloc(max + 1);
	ssize_t n;

	*len = 0;
	while (*len < max) {
		n = read(fd, text + *len, max - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			explicit_bzero(text, max + 1);
			free(text);
			return NULL;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	text[*len] = '\0';
	return text;
}

/* Read the opened file and parse it; the text is wiped afterwards. */
static int
secrets_read_parse(const char *path, int fd, const struct stat *st,
    struct secrets *t, struct cf_errors *errs)
{
	size_t size = (size_t)st->st_size, len;
	char *text;
	int r = -1;

	if (st->st_size > SECRETS_MAX_SIZE) {
		cf_error(errs, NULL, 0, "secrets_file %s: larger than %d bytes",
		    path, SECRETS_MAX_SIZE);
		return -1;
	}
	if ((text = secrets_read(fd, size, &len)) == NULL) {
		cf_error(errs, NULL, 0, "secrets_file %s: read: %s", path,
		    strerror(errno));
		return -1;
	}
	if (memchr(text, '\0', len) != NULL)
		cf_error(errs, NULL, 0, "secrets_file %s: contains a NUL byte",
		    path);
	else
		r = secrets_parse(path, text, t, errs);
	explicit_bzero(text, size + 1);
	free(text);
	return r;
}

int
secrets_load(
    const char *path, uid_t owner, struct secrets *t, struct cf_errors *errs)
{
	struct stat st;
	int fd, r = -1;

	memset(t, 0, sizeof(*t));
	/* O_NONBLOCK: a FIFO put in its place must not hang the master */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		cf_error(errs, NULL, 0, "secrets_file %s: cannot open: %s",
		    path, strerror(errno));
		return -1;
	}
	/* check what was opened, not what the name points to later */
	if (fstat(fd, &st) == -1)
		cf_error(errs, NULL, 0, "secrets_file %s: fstat: %s", path,
		    strerror(errno));
	else if (secrets_check_stat(path, &st, owner, errs) == 0)
		r = secrets_read_parse(path, fd, &st, t, errs);
	close(fd);
	return r;
}

const struct secret *
secrets_find(const struct secrets *t, const char *host, unsigned port)
{
	size_t i, len = strlen(host);

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	for (i = 0; i < t->n; i++)
		if (t->v[i].port == port && strlen(t->v[i].host) == len &&
		    strncasecmp(t->v[i].host, host, len) == 0)
			return &t->v[i];
	return NULL;
}

static void
secret_wipe_str(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
secrets_free(struct secrets *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].host);
		secret_wipe_str(t->v[i].user);
		secret_wipe_str(t->v[i].password);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
