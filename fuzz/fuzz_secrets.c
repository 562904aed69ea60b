/*
 * fuzz_secrets.c - the credentials file (common/secrets.c
 * secrets_parse()). A table that parses has lower-case hosts, ports in
 * range, non-empty users without blanks and non-empty passwords, and
 * secrets_find() finds each; a refused one is empty, and its error
 * messages never quote a password.
 */
#include <ctype.h>

#include "fuzz.h"
#include "secrets.h"

/* Octets the fixed texts of secrets.c's messages never hold: a password
 * with one of them is recognisable if an error quotes it. */
#define TELLTALE "!%&*+=?~^${}|"

/* The error lines about line lineno ("secrets:N: ..."), joined. */
static char *
errors_of_line(const char *errors, int lineno)
{
	char prefix[32], *out = strdup("");
	const char *p, *nl;
	size_t plen, olen = 0, n;

	snprintf(prefix, sizeof(prefix), "secrets:%d:", lineno);
	plen = strlen(prefix);
	for (p = errors; out != NULL && p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		n = (size_t)(nl - p) + 1;
		if (n < plen || strncmp(p, prefix, plen) != 0)
			continue;
		if ((out = realloc(out, olen + n + 1)) == NULL)
			abort();
		memcpy(out + olen, p, n);
		olen += n;
		out[olen] = '\0';
	}
	if (out == NULL)
		abort();
	return out;
}

/* No error about a line quotes its password (where the password can be
 * told apart from the host, which may be quoted). */
static void
check_not_quoted(const char *text, const char *errors)
{
	const char *p = text, *nl;
	char *line, *host, *cred, *colon, *e, *mine;
	size_t len;
	int lineno = 0;

	if (errors == NULL)
		return;
	for (; *p != '\0'; p += len + (nl != NULL)) {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if ((line = strndup(p, len)) == NULL)
			abort();
		host = line + strspn(line, " \t");
		cred = host + strcspn(host, " \t");
		if (*cred != '\0')
			*cred++ = '\0';
		cred += strspn(cred, " \t");
		e = cred + strlen(cred);
		while (e > cred && isspace((unsigned char)e[-1]))
			*--e = '\0';
		colon = strchr(cred, ':');
		if (colon != NULL && strlen(colon + 1) >= 6 &&
		    strpbrk(colon + 1, TELLTALE) != NULL &&
		    strstr(host, colon + 1) == NULL) {
			mine = errors_of_line(errors, lineno);
			FUZZ_CHECK(strstr(mine, colon + 1) == NULL,
			    "an error quotes the password \"%s\": %s",
			    colon + 1, mine);
			free(mine);
		}
		free(line);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secrets t;
	struct cf_errors e = {NULL, 0};
	const struct secret *s, *f;
	char *text = fuzz_cstr(data, size);
	size_t i, k;
	int rc;

	rc = secrets_parse("secrets", text, &t, &e);
	FUZZ_CHECK(
	    (rc == 0) == (e.count == 0), "result %d, %d errors", rc, e.count);
	if (rc == -1)
		FUZZ_CHECK(t.n == 0 && t.v == NULL, "refused table not empty");
	check_not_quoted(text, e.text);
	for (i = 0; i < t.n; i++) {
		s = &t.v[i];
		for (k = 0; s->host[k] != '\0'; k++)
			FUZZ_CHECK(!isupper((unsigned char)s->host[k]),
			    "host \"%s\"", s->host);
		FUZZ_CHECK(*s->host != '\0' && s->port >= 1 && s->port <= 65535,
		    "host \"%s\" port %u", s->host, s->port);
		FUZZ_CHECK(*s->user != '\0' &&
		        strpbrk(s->user, " \t") == NULL && *s->password != '\0',
		    "user or password");
		f = secrets_find(&t, s->host, s->port);
		FUZZ_CHECK(f != NULL && strcmp(f->host, s->host) == 0 &&
		        f->port == s->port,
		    "\"%s\" not found", s->host);
	}
	secrets_free(&t);
	cf_errors_free(&e);
	free(text);
	return 0;
}
