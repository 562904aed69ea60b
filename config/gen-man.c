/*
 * gen-man.c - write ncmta.conf(5) from its template and the settings
 * table, so the manual lists exactly the settings, types, bounds,
 * defaults and reload behaviour the code uses. The template's lines
 * ".\" @SETTINGS@" (every setting) and ".\" @RESTART@" (the settings a
 * reload does not apply) are replaced; paths fixed at configure time are shown symbolically, so the
 * committed page does not depend on the build's prefix.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MARKER ".\\\" @SETTINGS@"
#define MARKER_RESTART ".\\\" @RESTART@"

/* Print text for roff: backslashes and hyphens escaped, and a line may
 * not start with a control character. */
static void
roff_text(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

struct unit {
	char unit;
	int64_t mult;
};

/* A duration or size in the largest unit that divides it. */
static void
unit_value(int64_t v, int duration, char *buf, size_t len)
{
	static const struct unit dur[] = {
	    {'d', 86400}, {'h', 3600}, {'m', 60}, {0, 0}};
	static const struct unit size[] = {
	    {'G', 1073741824}, {'M', 1048576}, {'k', 1024}, {0, 0}};
	const struct unit *u = duration ? dur : size;

	for (; u->unit != 0; u++)
		if (v != 0 && v % u->mult == 0) {
			snprintf(buf, len, "%lld%c", (long long)(v / u->mult),
			    u->unit);
			return;
		}
	snprintf(buf, len, duration ? "%llds" : "%lld", (long long)v);
}

/* A default with a configure-time path shown by its variable. */
static void
default_text(const char *def)
{
	static const struct {
		const char *value, *name;
	} paths[] = {{LOCALSTATEDIR, "LOCALSTATEDIR"},
	    {PKGLIBEXECDIR, "PKGLIBEXECDIR"}, {NULL, NULL}};
	int i;

	for (i = 0; paths[i].value != NULL; i++) {
		size_t n = strlen(paths[i].value);

		if (n > 0 && strncmp(def, paths[i].value, n) == 0) {
			printf("\\fI%s\\fP", paths[i].name);
			if (def[n] != '\0') {
				fputs("\\fB", stdout);
				roff_text(def + n);
				fputs("\\fP", stdout);
			}
			return;
		}
	}
	if (*def == '\0') {
		fputs("empty", stdout);
		return;
	}
	fputs("\\fB", stdout);
	roff_text(def);
	fputs("\\fP", stdout);
}

static void
type_text(const struct cf_setting *s)
{
	char lo[32], hi[32];
	const char *p;

	switch (s->type) {
	case CF_STR:
		fputs("String", stdout);
		return;
	case CF_BOOL:
		fputs("Yes or no", stdout);
		return;
	case CF_ENUM:
		fputs("One of ", stdout);
		p = s->choices +
		    (*s->choices == '|'); /* "|a|b": may be empty */
		for (; *p != '\0'; p++)
			if (*p == '|')
				fputs(", ", stdout);
			else
				putchar(*p);
		if (*s->choices == '|')
			fputs(" or empty", stdout);
		return;
	case CF_INT:
		snprintf(lo, sizeof(lo), "%lld", (long long)s->min);
		snprintf(hi, sizeof(hi), "%lld", (long long)s->max);
		fputs("Integer", stdout);
		break;
	case CF_DURATION:
	case CF_SIZE:
		unit_value(s->min, s->type == CF_DURATION, lo, sizeof(lo));
		unit_value(s->max, s->type == CF_DURATION, hi, sizeof(hi));
		fputs(s->type == CF_DURATION ? "Duration" : "Size", stdout);
		break;
	}
	if (s->max == INT64_MAX)
		printf(", at least %s", lo);
	else
		printf(", %s to %s", lo, hi);
}

static void
print_settings(void)
{
	const struct cf_setting *s;

	for (s = cf_settings; s->name != NULL; s++) {
		printf(".TP\n.B %s\n", s->name);
		type_text(s);
		fputs(". Default: ", stdout);
		default_text(s->def);
		fputs(".\n.br\n", stdout);
		putchar(toupper((unsigned char)s->help[0]));
		roff_text(s->help + 1);
		fputs(s->apply == CF_RESTART
		        ? ".\nNeeds a restart: ncctl reload leaves the value "
		          "in force and warns.\n"
		        : ".\nApplied by ncctl reload.\n",
		    stdout);
	}
}

/* The restart-only settings, as one filled paragraph of names. */
static void
print_restart(void)
{
	const struct cf_setting *s, *last = NULL;

	for (s = cf_settings; s->name != NULL; s++)
		if (s->apply == CF_RESTART)
			last = s;
	for (s = cf_settings; s->name != NULL; s++) {
		if (s->apply != CF_RESTART)
			continue;
		if (s == last)
			fputs("and\n", stdout);
		printf(s == last ? ".B %s\n" : ".BR %s ,\n", s->name);
	}
}

int
main(int argc, char **argv)
{
	char line[4096];
	FILE *fp;
	int found = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-man TEMPLATE > ncmta.conf.5\n");
		return 64;
	}
	if ((fp = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 66;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strcmp(line, MARKER "\n") == 0) {
			print_settings();
			found = 1;
		} else if (strcmp(line, MARKER_RESTART "\n") == 0)
			print_restart();
		else
			fputs(line, stdout);
	}
	fclose(fp);
	if (!found) {
		fprintf(stderr, "gen-man: no %s line in %s\n", MARKER, argv[1]);
		return 65;
	}
	return fflush(stdout) == 0 ? 0 : 74;
}
