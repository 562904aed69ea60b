/*
 * fuzz_config.c - ncmta.conf (config/config.c config_load_text()): any
 * text, as an administrator (or a reload) hands it over. Every setting
 * must end up within its table's bounds and on one line; a file that
 * loads must print (config_print(), what `ncctl check -d` shows) to a
 * text that loads again to the same settings. The smart host list goes
 * through hostlist_parse() as qmgr reads it.
 */
#include "config.h"
#include "fuzz.h"
#include "hostlist.h"

#define PRINT_MAX 4000 /* config_print() shows values up to 4 KiB */

static void
check_settings(const struct nc_config *cfg)
{
	const struct cf_setting *s;
	const char *base;
	const char *v;
	int64_t n;

	for (s = cf_settings; s->name != NULL; s++) {
		base = (const char *)cfg + s->offset;
		switch (s->type) {
		case CF_STR:
		case CF_ENUM:
			v = *(char *const *)base;
			FUZZ_CHECK(v != NULL && strchr(v, '\n') == NULL,
			    "%s spans lines", s->name);
			break;
		case CF_BOOL:
			FUZZ_CHECK(
			    *(const int *)base == 0 || *(const int *)base == 1,
			    "%s", s->name);
			break;
		default:
			n = *(const int64_t *)base;
			FUZZ_CHECK(n >= s->min && n <= s->max,
			    "%s = %lld out of range", s->name, (long long)n);
		}
	}
}

/* Whether every string setting is short enough to print whole. */
static int
printable_whole(const struct nc_config *cfg)
{
	const struct cf_setting *s;

	for (s = cf_settings; s->name != NULL; s++)
		if ((s->type == CF_STR || s->type == CF_ENUM) &&
		    strlen(*(char *const *)((const char *)cfg + s->offset)) >
		        PRINT_MAX)
			return 0;
	return strchr(cfg->myhostname, '$') == NULL;
}

/* config_print() of cfg (all settings, or those not at their default). */
static char *
printed(const struct nc_config *cfg, int only_changed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		abort();
	config_print(cfg, f, only_changed);
	fclose(f);
	return text;
}

static void
check_print(const struct nc_config *cfg)
{
	struct nc_config again;
	struct cf_errors e = {NULL, 0};
	char *text, *a, *b;
	int rc;

	if (!printable_whole(cfg))
		return;
	text = printed(cfg, 0);
	rc = config_load_text(&again, "printed", text, &e);
	FUZZ_CHECK(
	    rc == 0, "the printed settings do not load: %s\n%s", e.text, text);
	a = printed(cfg, 1);
	b = printed(&again, 1);
	FUZZ_CHECK(
	    strcmp(a, b) == 0, "printed settings differ:\n%s---\n%s", a, b);
	free(a);
	free(b);
	config_free(&again);
	cf_errors_free(&e);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nc_config cfg;
	struct cf_errors e = {NULL, 0};
	struct host_spec h[HOSTLIST_MAX];
	char *text = fuzz_cstr(data, size), err[300];
	int rc;

	rc = config_load_text(&cfg, "ncmta.conf", text, &e);
	FUZZ_CHECK(
	    (rc == 0) == (e.count == 0), "result %d, %d errors", rc, e.count);
	FUZZ_CHECK(e.count == 0 || (e.text != NULL && strlen(e.text) > 0),
	    "errors without text");
	check_settings(&cfg);
	if (rc == 0) {
		check_print(&cfg);
		if (*cfg.smart_host != '\0')
			(void)hostlist_parse(
			    cfg.smart_host, h, HOSTLIST_MAX, err, sizeof(err));
	}
	config_free(&cfg);
	cf_errors_free(&e);
	free(text);
	return 0;
}
