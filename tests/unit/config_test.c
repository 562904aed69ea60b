/*
 * config_test.c - ncmta.conf parsing (config/config.c) and the value
 * parsers behind it (common/util.c): defaults, every setting type with
 * its bounds, errors with file:line, $myhostname expansion, printing of
 * changed settings, and queue ID formatting.
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "config.h"
#include "util.h"

/* Load text; return the error count, leaving the text in *errtext. */
static int
load(struct nc_config *cfg, const char *text, char **errtext)
{
	struct cf_errors e = {NULL, 0};
	size_t len;
	int n;

	config_load_text(cfg, "test.conf", text, &e);
	n = e.count;
	if (errtext != NULL) {
		*errtext = e.text ? xstrdup(e.text) : xstrdup("");
		len = strlen(*errtext);
		if (len > 0 && (*errtext)[len - 1] == '\n')
			(*errtext)[len - 1] = '\0'; /* keep TAP lines whole */
	}
	cf_errors_free(&e);
	return n;
}

/* Does one setting line load, and what number does it give? */
static int
load_num(const char *line, size_t off, int64_t *v)
{
	struct nc_config cfg;
	int n = load(&cfg, line, NULL);

	*v = *(int64_t *)((char *)&cfg + off);
	config_free(&cfg);
	return n;
}

#define NUM_OK(line, field, want)                                              \
	do {                                                                   \
		int64_t v_ = -1;                                               \
		int n_ =                                                       \
		    load_num(line, offsetof(struct nc_config, field), &v_);    \
		ok(n_ == 0 && v_ == (want), "\"%s\" -> %lld", line,            \
		    (long long)(want));                                        \
	} while (0)

#define NUM_BAD(line)                                                          \
	do {                                                                   \
		int64_t v_;                                                    \
		ok(load_num(line, 0, &v_) == 1, "\"%s\" is an error", line);   \
	} while (0)

static void
test_defaults(void)
{
	struct nc_config cfg;
	const struct cf_setting *s;
	int n = 0;

	is_int(load(&cfg, "", NULL), 0, "empty file loads");
	is_str(cfg.mail_owner, "ncmta", "mail_owner default");
	is_str(cfg.delivery_mode, "direct", "delivery_mode default");
	is_str(cfg.inet_protocols, "all", "inet_protocols default");
	is_int(cfg.smtp_port, 25, "smtp_port default");
	is_int(cfg.message_size_limit, 50LL * 1024 * 1024,
	    "message_size_limit default 50M");
	is_int(cfg.queue_minfree, 100LL * 1024 * 1024, "queue_minfree 100M");
	is_int(cfg.min_backoff, 300, "min_backoff 5m");
	is_int(cfg.max_backoff, 3600, "max_backoff 1h");
	is_int(cfg.max_queue_lifetime, 5 * 86400, "max_queue_lifetime 5d");
	is_int(cfg.delay_warning_time, 0, "delay_warning_time off");
	is_int(cfg.destination_concurrency_limit, 20, "concurrency 20");
	is_int(cfg.smtp_mx_address_limit, 5, "mx address limit 5");
	is_int(cfg.hop_count_limit, 50, "hop_count_limit 50");
	is_int(cfg.smtp_connection_reuse_time, 300, "reuse time 300s");
	is_int(cfg.smtp_connection_idle_time, 2, "idle time 2s");
	is_int(cfg.smtp_sasl_auth, 0, "smtp_sasl_auth no");
	is_str(cfg.smtp_tls_security_level, "", "TLS level unset");
	ok(*cfg.myhostname != '\0', "myhostname from the system");
	ok(*cfg.myorigin != '\0', "myorigin filled in");
	ok(strstr(cfg.mydestination, "$myhostname") == NULL &&
	        strstr(cfg.mydestination, cfg.myhostname) != NULL,
	    "default mydestination has the host name expanded");
	ok(cfg.queue_directory[0] == '/', "queue_directory absolute");
	config_free(&cfg);

	for (s = cf_settings; s->name != NULL; s++)
		if (s->help == NULL || *s->help == '\0' || s->def == NULL)
			n++;
	is_int(n, 0, "every setting has a default and help");
}

static void
test_types(void)
{
	struct nc_config cfg;
	char *err;

	NUM_OK("min_backoff = 30s", min_backoff, 30);
	NUM_OK("min_backoff = 5m", min_backoff, 300);
	NUM_OK("max_backoff = 2h", max_backoff, 7200);
	NUM_OK("max_queue_lifetime = 5d", max_queue_lifetime, 432000);
	NUM_OK("max_queue_lifetime = 1w", max_queue_lifetime, 604800);
	NUM_OK("smtp_connect_timeout = 45", smtp_connect_timeout, 45);
	NUM_BAD("smtp_connect_timeout = 5x");
	NUM_BAD("smtp_connect_timeout = m");
	NUM_BAD("smtp_connect_timeout = -5s");
	NUM_BAD("smtp_connect_timeout = 0"); /* min 1 */
	NUM_BAD("smtp_connect_timeout = 2d"); /* max 1 day */

	NUM_OK("queue_minfree = 10M", queue_minfree, 10485760);
	NUM_OK("message_size_limit = 512k", message_size_limit, 524288);
	NUM_OK("message_size_limit = 512K", message_size_limit, 524288);
	NUM_OK("queue_map_size = 2G", queue_map_size, 2147483648LL);
	NUM_OK("message_size_limit = 4096", message_size_limit, 4096);
	NUM_BAD("message_size_limit = 100"); /* under 1024 */
	NUM_BAD("message_size_limit = 10MB");
	NUM_BAD("message_size_limit = ten");

	NUM_OK("smtp_port = 2525", smtp_port, 2525);
	NUM_OK("smtp_port = 1", smtp_port, 1);
	NUM_OK("smtp_port = 65535", smtp_port, 65535);
	NUM_BAD("smtp_port = 0");
	NUM_BAD("smtp_port = 65536");
	NUM_BAD("smtp_port = -1");
	NUM_BAD("smtp_port = 25k");
	NUM_BAD("smtp_port = 2.5");
	NUM_BAD("smtp_port =");

	is_int(load(&cfg,
	           "smtp_sasl_auth = yes\nsmtp_tls_wrappermode = true\n"
	           "smtp_sasl_allow_plaintext = no\n",
	           NULL),
	    0, "bools yes/true/no");
	ok(cfg.smtp_sasl_auth == 1 && cfg.smtp_tls_wrappermode == 1 &&
	        cfg.smtp_sasl_allow_plaintext == 0,
	    "bool values");
	config_free(&cfg);
	is_int(load(&cfg, "smtp_sasl_auth = false", NULL), 0, "bool false");
	is_int(cfg.smtp_sasl_auth, 0, "false is 0");
	config_free(&cfg);
	is_int(load(&cfg, "smtp_sasl_auth = maybe", &err), 1, "bool maybe");
	ok(strstr(err, "test.conf:1:") != NULL && strstr(err, "yes or no"),
	    "says yes or no: %s", err);
	free(err);
	config_free(&cfg);

	is_int(load(&cfg,
	           "delivery_mode = smarthost\nsmart_host = "
	           "[relay.example]:587, relay-b.example\n",
	           NULL),
	    0, "enum with a smart host");
	is_str(cfg.delivery_mode, "smarthost", "enum value");
	is_str(cfg.smart_host, "[relay.example]:587, relay-b.example",
	    "string value kept whole");
	config_free(&cfg);
	is_int(load(&cfg, "inet_protocols = ipv5", &err), 1, "bad enum");
	ok(strstr(err, "test.conf:1:") != NULL, "with file:line: %s", err);
	free(err);
	config_free(&cfg);
	is_int(load(&cfg, "smtp_tls_security_level = verify", NULL), 0,
	    "TLS level verify");
	config_free(&cfg);
	is_int(load(&cfg, "smtp_tls_security_level = strict", NULL), 1,
	    "TLS level strict refused");
	config_free(&cfg);
	is_int(load(&cfg, "delivery_mode = smarthost", &err), 1,
	    "smarthost mode without a smart_host");
	ok(strstr(err, "smart_host") != NULL, "says why: %s", err);
	free(err);
	config_free(&cfg);
}

/* A file of many bad lines (a binary, a wrong file) is refused with
 * every problem counted and the first ones shown, in time linear in its
 * size: the text of the problems does not grow with each of them. */
static void
test_many_errors(void)
{
	struct nc_config cfg;
	char *text = xmalloc(2 * 20000 + 1), *err;
	int i;

	for (i = 0; i < 20000; i++)
		memcpy(text + 2 * i, "x\n", 2);
	text[2 * 20000] = '\0';
	is_int(
	    load(&cfg, text, &err), 20000, "20000 bad lines, 20000 problems");
	ok(strstr(err, "test.conf:100: ") != NULL &&
	        strstr(err, "test.conf:101: ") == NULL,
	    "the first 100 shown");
	ok(strstr(err, "more problems not shown") != NULL, "and that is said");
	ok(strlen(err) < 10000, "the text stays short (%zu octets)",
	    strlen(err));
	free(err);
	free(text);
	config_free(&cfg);
}

static void
test_errors(void)
{
	struct nc_config cfg;
	char *err;

	is_int(load(&cfg, "# comment\n\nbogus_key = 1\n", &err), 1,
	    "unknown key is an error");
	ok(strstr(err, "test.conf:3: unknown setting") != NULL,
	    "\"test.conf:3: unknown setting\": %s", err);
	ok(strstr(err, "bogus_key") != NULL, "names the key");
	free(err);
	config_free(&cfg);

	is_int(load(&cfg, "\n\n\n\nsmtp_port = many\n", &err), 1,
	    "bad value is an error");
	ok(strstr(err, "test.conf:5:") != NULL, "on line 5: %s", err);
	free(err);
	config_free(&cfg);

	is_int(load(&cfg,
	           "smtp_port = 0\n"
	           "# fine\n"
	           "nope = 1\n"
	           "min_backoff = 5m\n"
	           "just words\n"
	           "max_backoff = soon\n",
	           &err),
	    4, "four problems, four errors");
	ok(strstr(err, "test.conf:1:") && strstr(err, "test.conf:3:") &&
	        strstr(err, "test.conf:5:") && strstr(err, "test.conf:6:"),
	    "each with its line");
	ok(strstr(err, "test.conf:4:") == NULL && strstr(err, ":2:") == NULL,
	    "good lines are not reported");
	free(err);
	config_free(&cfg);

	is_int(load(&cfg, "min_backoff = 2h\nmax_backoff = 1h\n", &err), 1,
	    "min_backoff > max_backoff");
	free(err);
	config_free(&cfg);
	is_int(load(&cfg,
	           "smtpd_listen = localhost:25\nmynetworks = 10.0.0.0/40\n"
	           "smtpd_tls_cert_file = /etc/ssl/x.pem\n",
	           &err),
	    3, "smtpd_listen, mynetworks and a certificate without its key");
	ok(strstr(err, "smtpd_listen:") && strstr(err, "\"localhost:25\"") &&
	        strstr(err, "mynetworks:") && strstr(err, "10.0.0.0/40") &&
	        strstr(err, "go together"),
	    "each named: %s", err);
	free(err);
	config_free(&cfg);
	is_int(load(&cfg, "smtpd_listen = none\n", NULL), 0,
	    "smtpd_listen = none is fine");
	config_free(&cfg);
	is_int(load(&cfg, "queue_directory = relative/dir\n", NULL), 1,
	    "relative queue_directory refused");
	config_free(&cfg);
	test_many_errors();
}

static void
test_syntax(void)
{
	struct nc_config cfg;

	is_int(load(&cfg,
	           "# ncmta.conf\n"
	           "\n"
	           "   \t\n"
	           "  myhostname   =   mx.example.com   # trailing comment\n"
	           "#smtp_port = 1\n"
	           "smtp_port=2525\n"
	           "mail_owner = mailer\r\n",
	           NULL),
	    0, "comments, blank lines, spacing");
	is_str(cfg.myhostname, "mx.example.com", "value trimmed, comment cut");
	is_int(cfg.smtp_port, 2525, "no spaces around =");
	is_str(cfg.mail_owner, "mailer", "CRLF line end");
	config_free(&cfg);

	is_int(load(&cfg, "smtp_port = 2525", NULL), 0, "no final newline");
	is_int(cfg.smtp_port, 2525, "last line still read");
	config_free(&cfg);

	is_int(load(&cfg, "smtp_port = 1\nsmtp_port = 2\n", NULL), 0,
	    "repeated key");
	is_int(cfg.smtp_port, 2, "the last one wins");
	config_free(&cfg);
}

static void
expand_hangs(int sig)
{
	static const char msg[] = "not ok - $myhostname expansion never ends\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) == -1)
		_exit(2);
	_exit(1);
}

static void
test_expand(void)
{
	struct nc_config cfg;

	load(&cfg, "myhostname = mx.example.com\n", NULL);
	is_str(cfg.mydestination, "mx.example.com, localhost",
	    "default mydestination uses myhostname");
	config_free(&cfg);

	load(&cfg,
	    "mydestination = $myhostname, localhost.$myhostname, other\n"
	    "myhostname = mx.example.com\n"
	    "myorigin = $myhostname\n",
	    NULL);
	is_str(cfg.mydestination,
	    "mx.example.com, localhost.mx.example.com, other",
	    "every $myhostname expanded, whatever the order of lines");
	is_str(cfg.myorigin, "mx.example.com", "myorigin = $myhostname");
	config_free(&cfg);

	load(&cfg, "myhostname = h.example\nmyorigin = example.net\n", NULL);
	is_str(cfg.myorigin, "example.net", "explicit myorigin kept");
	config_free(&cfg);

	/* a host name that itself says "$myhostname" is put in once, not
	 * expanded again for ever */
	signal(SIGALRM, expand_hangs);
	alarm(10);
	load(&cfg, "myhostname = $myhostname.example\nmyorigin = $myhostname\n",
	    NULL);
	alarm(0);
	is_str(cfg.mydestination, "$myhostname.example, localhost",
	    "$myhostname in myhostname is replaced once");
	is_str(cfg.myorigin, "$myhostname.example", "and in myorigin");
	config_free(&cfg);
}

static char *
printed(const struct nc_config *cfg, int only_changed)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	config_print(cfg, fp, only_changed);
	fclose(fp);
	return buf;
}

static void
test_print(void)
{
	struct nc_config cfg;
	const struct cf_setting *s;
	char *out, *line, *save;
	int lines = 0, all = 0;

	load(&cfg,
	    "smtp_port = 2525\nmin_backoff = 90s\n"
	    "message_size_limit = 10M\nsmtp_sasl_auth = yes\n",
	    NULL);
	out = printed(&cfg, 1);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		lines++;
	free(out);
	out = printed(&cfg, 1);
	is_int(lines, 4, "only_changed prints four lines");
	ok(strstr(out, "smtp_port = 2525\n") != NULL, "smtp_port shown");
	ok(strstr(out, "min_backoff = 90s\n") != NULL, "durations in units");
	ok(strstr(out, "message_size_limit = 10M\n") != NULL, "sizes in units");
	ok(strstr(out, "smtp_sasl_auth = yes\n") != NULL, "bools as yes/no");
	ok(strstr(out, "mail_owner") == NULL, "unchanged settings hidden");
	free(out);

	out = printed(&cfg, 0);
	for (s = cf_settings; s->name != NULL; s++)
		all++;
	lines = 0;
	for (line = out; (line = strchr(line, '\n')) != NULL; line++)
		lines++;
	is_int(lines, all, "all settings printed without only_changed");
	ok(strstr(out, "max_backoff = 1h\n") != NULL, "defaults in units");
	free(out);
	config_free(&cfg);

	load(&cfg, "", NULL);
	out = printed(&cfg, 1);
	is_str(out, "", "nothing changed, nothing printed");
	free(out);
	config_free(&cfg);
}

static void
test_load_file(void)
{
	char dir[] = "/tmp/config_test.XXXXXX", *path, *out;
	struct cf_errors e = {NULL, 0};
	struct nc_config cfg;
	FILE *fp;

	if (mkdtemp(dir) == NULL)
		abort();
	is_int(config_load(&cfg, dir, &e), -1, "missing ncmta.conf fails");
	ok(e.text && strstr(e.text, "ncmta.conf") != NULL,
	    "and names the file");
	ok(e.text && strstr(e.text, strerror(ENOENT)) != NULL,
	    "with the reason it cannot be opened");
	cf_errors_free(&e);
	config_free(&cfg);

	xasprintf(&path, "%s/ncmta.conf", dir);
	fp = fopen(path, "w");
	fputs("queue_directory = /tmp/q\nsmtp_port = 2525\nbad = 1\n", fp);
	fclose(fp);
	is_int(config_load(&cfg, dir, &e), -1, "file with an error");
	ok(e.text && strstr(e.text, "/ncmta.conf:3: unknown setting"),
	    "error names file:line");
	cf_errors_free(&e);
	config_free(&cfg);

	fp = fopen(path, "w");
	fputs("queue_directory = /tmp/q\nsmtp_port = 2525\n", fp);
	fclose(fp);
	is_int(config_load(&cfg, dir, &e), 0, "good file loads");
	is_str(cfg.config_dir, dir, "config_dir recorded");
	out = config_qpath(&cfg, "db");
	is_str(out, "/tmp/q/db", "config_qpath");
	free(out);
	ok(strncmp(cfg.secrets_file, dir, strlen(dir)) == 0,
	    "secrets_file defaults into the config dir");
	out = printed(&cfg, 1);
	is_str(out, "queue_directory = /tmp/q\nsmtp_port = 2525\n",
	    "only_changed after config_load: just the two settings");
	free(out);
	config_free(&cfg);

	setenv("NCMTA_CONFIG_DIR", dir, 1);
	is_str(config_dir_pick(NULL), dir, "NCMTA_CONFIG_DIR is used");
	is_str(config_dir_pick("/x"), "/x", "an argument wins");
	unsetenv("NCMTA_CONFIG_DIR");
	ok(strstr(config_dir_pick(NULL), "/ncmta") != NULL,
	    "else the built-in directory");
	unlink(path);
	rmdir(dir);
	free(path);
}

static void
test_util(void)
{
	char s[NC_QID_LEN + 1];
	int64_t v = 0;
	uint64_t q = 0;

	ok(parse_duration("30s", &v) == 0 && v == 30, "30s");
	ok(parse_duration("5m", &v) == 0 && v == 300, "5m");
	ok(parse_duration("2h", &v) == 0 && v == 7200, "2h");
	ok(parse_duration("5d", &v) == 0 && v == 432000, "5d");
	ok(parse_duration("1w", &v) == 0 && v == 604800, "1w");
	ok(parse_duration("0", &v) == 0 && v == 0, "0");
	ok(parse_duration("17", &v) == 0 && v == 17, "bare seconds");
	ok(parse_duration("", &v) == -1, "empty");
	ok(parse_duration("h", &v) == -1, "unit alone");
	ok(parse_duration("5x", &v) == -1, "unknown unit");
	ok(parse_duration("5mm", &v) == -1, "two units");
	ok(parse_duration("-5s", &v) == -1, "negative");
	ok(parse_duration("1.5h", &v) == -1, "fraction");
	ok(parse_duration("99999999999999999999", &v) == -1, "overflow");
	ok(parse_duration("9999999999999999d", &v) == -1,
	    "overflow through the unit");

	ok(parse_size("10M", &v) == 0 && v == 10485760, "10M");
	ok(parse_size("512k", &v) == 0 && v == 524288, "512k");
	ok(parse_size("2G", &v) == 0 && v == 2147483648LL, "2G");
	ok(parse_size("100", &v) == 0 && v == 100, "bare bytes");
	ok(parse_size("10MB", &v) == -1, "10MB");
	ok(parse_size("M", &v) == -1, "unit alone");
	ok(parse_size("10T", &v) == -1, "unknown unit");

	qid_format(0x6449A1B2C3D4EULL, s);
	is_str(
	    s, "0006449A1B2C3D4E", "qid_format pads to 16 upper-case digits");
	qid_format(UINT64_MAX, s);
	is_str(s, "FFFFFFFFFFFFFFFF", "qid_format max");
	qid_format(0, s);
	is_str(s, "0000000000000000", "qid_format zero");
	ok(qid_parse("0006449A1B2C3D4E", &q) == 0 && q == 0x6449A1B2C3D4EULL,
	    "qid_parse round trip");
	ok(qid_parse("0006449a1b2c3d4e", &q) == 0 && q == 0x6449A1B2C3D4EULL,
	    "lower case accepted");
	ok(qid_parse("6A1F0C2B7D", &q) == 0 && q == 0x6A1F0C2B7DULL,
	    "10 digits accepted");
	ok(qid_parse("6A1F0C2B7", &q) == -1, "9 digits refused");
	ok(qid_parse("0006449A1B2C3D4E0", &q) == -1, "17 digits refused");
	ok(qid_parse("0006449A1B2C3D4G", &q) == -1, "non-hex refused");
	ok(qid_parse("", &q) == -1, "empty refused");
	ok(qid_parse("0x06449A1B2C3D4E", &q) == -1, "0x prefix refused");
}

int
main(void)
{
	test_defaults();
	test_types();
	test_errors();
	test_syntax();
	test_expand();
	test_print();
	test_load_file();
	test_util();
	return done_testing();
}
