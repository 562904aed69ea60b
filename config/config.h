/*
 * config.h - ncmta.conf: the settings every process reads. One table
 * (settings.c) names each setting with its type, default, bounds and help;
 * the parser, `ncctl check -d` and the man page are all driven by it.
 */
#ifndef NCMTA_CONFIG_H
#define NCMTA_CONFIG_H

#include <stdint.h>
#include <stdio.h>

enum cf_type { CF_STR, CF_INT, CF_BOOL, CF_DURATION, CF_SIZE, CF_ENUM };
/* When a changed value takes effect: at ncctl reload (and SIGHUP to the
 * master), or only once ncmta is stopped and started again. */
enum cf_apply { CF_RELOAD, CF_RESTART };

struct nc_config {
	char *config_dir; /* where ncmta.conf was read from */
	char *myhostname;
	char *myorigin;
	char *mydestination;
	char *generic_maps;
	char *mail_owner;
	char *queue_directory;
	char *drop_directory;
	char *daemon_directory;
	char *delivery_mode; /* "direct" | "smarthost" */
	char *smart_host;
	char *route_table;
	char *alias_maps;
	char *local_recipient_forward;
	int64_t smtp_port;
	char *dns_servers;
	int dns_trust_ad; /* DNSSEC: believe the name servers' AD bit */
	char *dnssec_trust_anchor; /* DS/DNSKEY lines for libunbound */
	char *inet_protocols; /* "ipv4" | "ipv6" | "all" */
	int64_t queue_minfree;
	int64_t smtp_connection_idle_time;
	int64_t smtp_connect_timeout;
	int64_t smtp_helo_timeout;
	int64_t smtp_data_timeout;
	int64_t smtp_min_data_rate; /* octets per second */
	int64_t smtp_session_limit;
	int64_t smtp_worker_count;
	int64_t destination_concurrency_limit;
	int64_t smtp_recipient_limit;
	int64_t smtp_connection_reuse_time;
	int64_t smtp_mx_address_limit;
	int64_t hop_count_limit;
	char *smtp_tls_security_level; /* "" = per-route default; or
					  none|may|encrypt|verify|dane */
	char *smtp_tls_CAfile;
	int smtp_tls_wrappermode;
	int smtp_sasl_auth;
	int smtp_sasl_allow_plaintext;
	char *secrets_file;
	int64_t min_backoff;
	int64_t max_backoff;
	int64_t queue_run_delay;
	int64_t max_queue_lifetime;
	int64_t bounce_queue_lifetime;
	int64_t delay_warning_time;
	int64_t message_size_limit;
	int64_t queue_map_size;
	int64_t resolver_cache_size;
	int64_t resolver_max_ttl;
	int64_t resolver_negative_ttl;
	int smtp_mta_sts; /* look for MTA-STS policies (RFC 8461) */
	int64_t smtp_mta_sts_port; /* of the policy hosts (HTTPS) */
	int64_t smtp_mta_sts_timeout; /* one policy fetch, all in all */
	char *smtpd_listen; /* "IP:port, [IPv6]:port" or "none" */
	char *metrics_listen; /* the same, for ncmta-metricsd */
	char *queue_view_group; /* "" = none */
	char *mynetworks; /* CIDR list */
	char *smtpd_tls_cert_file;
	char *smtpd_tls_key_file;
	int64_t smtpd_client_connection_limit;
	int64_t smtpd_session_limit;
	int64_t smtpd_recipient_limit;
	int64_t smtpd_timeout;
	int64_t smtpd_hard_error_limit;
	char *log_target;
	char *syslog_facility;
};

struct cf_setting {
	const char *name;
	enum cf_type type;
	size_t offset; /* into struct nc_config */
	const char *def;
	int64_t min, max; /* CF_INT, CF_DURATION, CF_SIZE */
	const char *choices; /* CF_ENUM: "a|b|c" */
	const char *help;
	enum cf_apply apply;
};

extern const struct cf_setting cf_settings[]; /* ends with a NULL name */

/*
 * Parse "30s", "5m", "2h", "5d", "1w" (bare number = seconds) into seconds,
 * and "10M", "512k", "2G" (bare number = bytes) into bytes. Return 0 on
 * success, -1 on a malformed value.
 */
int parse_duration(const char *, int64_t *);
int parse_size(const char *, int64_t *);

/* Problems found while loading, one "file:line: text" per line. */
struct cf_errors {
	char *text;
	int count;
};

/* The configuration directory: the argument if not NULL, else
 * $NCMTA_CONFIG_DIR, else $(sysconfdir)/ncmta. */
const char *config_dir_pick(const char *arg);

/* Load dir/ncmta.conf over the defaults. Returns 0, or -1 with every
 * problem in errs (which the caller frees with cf_errors_free). */
int config_load(struct nc_config *, const char *dir, struct cf_errors *);
/* Parse text as if it were file name (for tests and reload checks). */
int config_load_text(
    struct nc_config *, const char *name, const char *text, struct cf_errors *);
void config_defaults(struct nc_config *);
void config_free(struct nc_config *);
void cf_errors_free(struct cf_errors *);
/* Add one problem: "file:line: text", "file: text" (line 0) or just
 * "text" (file NULL). Every table's parser reports through this. After
 * the first 100 problems the rest are counted, and one line says so. */
void cf_error(struct cf_errors *, const char *file, int line, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
/* A whole text file (malloc'd, "" when empty or when path is ""), or
 * NULL with "path: cannot open: why" in errs; a missing file is "" when
 * missing_ok. */
char *cf_read_text(const char *path, int missing_ok, struct cf_errors *);
/* Call fn(name, lineno, line, errs, arg) for each line of text (line
 * NUL-terminated, without its newline, lineno from 1); a line longer
 * than max is reported as too long instead. Returns -1 when errs gained
 * problems, else 0. */
int cf_each_line(const char *name, const char *text, size_t max,
    struct cf_errors *errs,
    void (*fn)(const char *name, int lineno, char *line, struct cf_errors *errs,
        void *arg),
    void *arg);

/* Print "name = value" for every setting, or only for those that differ
 * from the default. */
void config_print(const struct nc_config *, FILE *, int only_changed);

/*
 * After a reload: the restart-only settings of fresh get the values in
 * force (old's), so a process keeps running with what it started with.
 * When changed is not NULL it gets one line per such setting whose value
 * in fresh differed, "name: new value "X" waits for a restart; "Y" stays
 * in force", or NULL when none did. Returns the number of those settings.
 */
int config_keep_restart(
    struct nc_config *fresh, const struct nc_config *old, char **changed);

/* Paths under queue_directory ("db", "maildrop", "private/qmgr", ...). */
char *config_qpath(const struct nc_config *, const char *rel);

#endif
