/*
 * settings.c - every ncmta.conf setting in one table: whether ncctl
 * reload applies it or it waits for a restart, name, type, default,
 * bounds and a line of help. The parser, `ncctl check -d`, the reload's
 * warnings and the ncmta.conf(5) man page are all generated from this
 * table.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define OFF(f) offsetof(struct nc_config, f)
#define DAY (86400LL)
#define MB (1048576LL)
#define RELOAD CF_RELOAD
#define RESTART CF_RESTART

#define S(a, n, d, h)                                                          \
	{                                                                      \
#n, CF_STR, OFF(n), d, 0, 0, NULL, h, a                        \
	}
#define E(a, n, d, c, h)                                                       \
	{                                                                      \
#n, CF_ENUM, OFF(n), d, 0, 0, c, h, a                          \
	}
#define I(a, n, d, lo, hi, h)                                                  \
	{                                                                      \
#n, CF_INT, OFF(n), d, lo, hi, NULL, h, a                      \
	}
#define B(a, n, d, h)                                                          \
	{                                                                      \
#n, CF_BOOL, OFF(n), d, 0, 1, NULL, h, a                       \
	}
#define D(a, n, d, lo, hi, h)                                                  \
	{                                                                      \
#n, CF_DURATION, OFF(n), d, lo, hi, NULL, h, a                 \
	}
#define Z(a, n, d, lo, hi, h)                                                  \
	{                                                                      \
#n, CF_SIZE, OFF(n), d, lo, hi, NULL, h, a                     \
	}

const struct cf_setting cf_settings[] = {
    S(RELOAD, myhostname, "",
        "this host's fully qualified name (default: the system host name)"),
    S(RELOAD, myorigin, "",
        "domain added to unqualified addresses (default: /etc/mailname, else "
        "$myhostname)"),
    S(RELOAD, mydestination, "$myhostname, localhost",
        "domains that are local to this host"),
    S(RELOAD, generic_maps, "",
        "table rewriting local addresses on the way out"),
    S(RESTART, mail_owner, "ncmta",
        "the unprivileged user every daemon but the master runs as"),
    S(RESTART, queue_directory, LOCALSTATEDIR "/spool/ncmta",
        "where the queue, maildrop and sockets live"),
    S(RESTART, drop_directory, "",
        "absolute path of a directory applications drop RFC 5322 files "
        "into, in the IIS pickup-directory convention (empty: none). A file "
        "is taken once it stands under a name that neither starts with "
        "\".\" nor ends in \".tmp\" and has not changed for 2 seconds "
        "(write it as \".NAME\" or \"NAME.tmp\", then rename it). Leading "
        "X-Sender: and X-Receiver: lines give the envelope and are removed "
        "before the message is queued; without them the sender is the "
        "first address of From: and the recipients those of To:, Cc: and "
        "Bcc:. Bcc: is always removed. The file is deleted once its "
        "message is queued, and the queue records its owner as the "
        "submitting user. A file that cannot be used moves to bad/ (made "
        "0750, owned by mail_owner) with NAME.reason beside it saying why "
        "in one line. mail_owner must be able to read the files and write "
        "the directory; ncctl start makes a missing one, mode 1733. Read "
        "when ncmta starts"),
    S(RESTART, daemon_directory, PKGLIBEXECDIR,
        "where the ncmta-* daemon programs are"),
    E(RELOAD, delivery_mode, "direct", "direct|smarthost",
        "deliver to each domain's exchangers, or only to the smart host"),
    S(RELOAD, smart_host, "",
        "relay hosts, \"[host]:port, host:port\", tried in order"),
    S(RELOAD, route_table, "", "routing table file (patterns and actions)"),
    S(RELOAD, alias_maps, "/etc/aliases", "aliases file for local recipients"),
    S(RELOAD, local_recipient_forward, "",
        "where mail for local users without an alias goes"),
    I(RELOAD, smtp_port, "25", 1, 65535, "TCP port of remote mail exchangers"),
    S(RELOAD, dns_servers, "",
        "name servers \"IP[:port] ...\" (default: /etc/resolv.conf)"),
    B(RELOAD, dns_trust_ad, "no",
        "how the resolver knows an answer is DNSSEC-validated, which "
        "smtp_tls_security_level = dane relies on. yes: the name servers "
        "validate, and the path to them is safe (loopback, or a trusted "
        "network); the resolver sets the AD bit in its questions and takes "
        "a reply's AD bit as proof that its records, or their absence, are "
        "validated. no: the resolver validates itself, with libunbound, "
        "from dnssec_trust_anchor, asking the same name servers for the "
        "signatures"),
    S(RESTART, dnssec_trust_anchor, "/usr/share/dns/root.key",
        "trust anchors (DS or DNSKEY records, one a line, zone-file form) "
        "from which the resolver validates DNSSEC itself, with libunbound, "
        "for smtp_tls_security_level = dane when dns_trust_ad = no; the "
        "default is the root's, from the dns-root-data package"),
    E(RELOAD, inet_protocols, "all", "ipv4|ipv6|all",
        "address families used for delivery"),
    Z(RELOAD, queue_minfree, "100M", 0, INT64_MAX,
        "free space the queue's file system must keep for submissions"),
    D(RELOAD, smtp_connection_idle_time, "2s", 0, DAY,
        "close an idle session after this long when no mail waits"),
    D(RELOAD, smtp_connect_timeout, "30s", 1, DAY,
        "time allowed to open a TCP connection"),
    D(RELOAD, smtp_helo_timeout, "300s", 1, DAY,
        "time allowed for the greeting and each command's reply"),
    D(RELOAD, smtp_data_timeout, "180s", 1, DAY,
        "time allowed for each write of the message content and for the "
        "final reply"),
    Z(RELOAD, smtp_min_data_rate, "1k", 1, INT64_MAX,
        "slowest rate, in octets per second, at which a server must take "
        "the message content: sending it may last no longer than "
        "smtp_data_timeout plus the message size at this rate, however "
        "steadily a server trickles"),
    I(RESTART, smtp_session_limit, "200", 1, 100000,
        "outbound sessions at once, over all workers"),
    I(RESTART, smtp_worker_count, "2", 1, 256,
        "number of smtp worker processes"),
    I(RELOAD, destination_concurrency_limit, "20", 1, 10000,
        "sessions at once to one destination"),
    I(RELOAD, smtp_recipient_limit, "50", 1, 100000,
        "recipients per SMTP transaction"),
    D(RELOAD, smtp_connection_reuse_time, "300s", 0, DAY,
        "how long one session may be reused"),
    I(RELOAD, smtp_mx_address_limit, "5", 1, 100,
        "addresses tried per destination per attempt"),
    I(RELOAD, hop_count_limit, "50", 1, 1000,
        "Received: headers beyond which mail bounces as a loop"),
    E(RELOAD, smtp_tls_security_level, "", "|none|may|encrypt|verify|dane",
        "TLS policy for every delivery (default: may direct, verify to smart "
        "hosts). dane (RFC 7672, as in Postfix): a host whose address and "
        "TLSA records _PORT._tcp.HOST are DNSSEC-validated (see "
        "dns_trust_ad), reached through a validated MX answer or named "
        "directly, must offer STARTTLS and present a certificate matching "
        "one of its DANE-TA(2) or DANE-EE(3) records (or, when none of the "
        "records is usable, at least encrypt); a host whose TLSA lookup "
        "fails (SERVFAIL, a DNSSEC-bogus answer) is not used; everything "
        "else gets may"),
    S(RESTART, smtp_tls_CAfile, "",
        "CA certificates for verification (default: the system store)"),
    B(RELOAD, smtp_tls_wrappermode, "no",
        "use implicit TLS (port 465) to smart hosts"),
    B(RELOAD, smtp_sasl_auth, "no",
        "authenticate to smart hosts with credentials from secrets_file"),
    B(RELOAD, smtp_sasl_allow_plaintext, "no",
        "allow AUTH over an unencrypted connection"),
    S(RELOAD, secrets_file, "",
        "smart-host credentials, \"[host]:port user:password\" (default: "
        "CONFIG_DIR/secrets)"),
    D(RELOAD, min_backoff, "5m", 1, 30 * DAY,
        "first retry delay of deferred mail"),
    D(RELOAD, max_backoff, "1h", 1, 30 * DAY,
        "largest retry delay of deferred mail"),
    D(RELOAD, queue_run_delay, "5m", 1, DAY,
        "how often the deferred queue is scanned"),
    D(RELOAD, max_queue_lifetime, "5d", 0, 365 * DAY,
        "age at which deferred mail bounces"),
    D(RELOAD, bounce_queue_lifetime, "5d", 0, 365 * DAY,
        "age at which an undeliverable bounce is dropped"),
    D(RELOAD, delay_warning_time, "0", 0, 365 * DAY,
        "age at which the sender is warned of a delay (0: never)"),
    Z(RELOAD, message_size_limit, "50M", 1024, 4096 * MB,
        "largest message accepted"),
    Z(RESTART, queue_map_size, "8G", 1 * MB, INT64_MAX,
        "maximum size of the LMDB queue map"),
    I(RELOAD, resolver_cache_size, "10000", 1, 10000000,
        "DNS answers kept by the resolver"),
    D(RELOAD, resolver_max_ttl, "1h", 0, 7 * DAY,
        "longest time a DNS answer is cached"),
    D(RELOAD, resolver_negative_ttl, "5m", 0, DAY,
        "longest time a negative DNS answer is cached"),
    B(RELOAD, smtp_mta_sts, "yes",
        "MTA-STS (RFC 8461) for direct delivery: a recipient domain's "
        "policy (its _mta-sts TXT record and policy file, fetched over "
        "HTTPS and kept in the queue database) makes a verified "
        "certificate and a listed exchanger required (enforce) or only "
        "logged (testing); DANE wins over it"),
    I(RELOAD, smtp_mta_sts_port, "443", 1, 65535,
        "TCP port of the MTA-STS policy hosts (HTTPS, "
        "mta-sts.DOMAIN)"),
    D(RELOAD, smtp_mta_sts_timeout, "30s", 1, 300,
        "time allowed for fetching one MTA-STS policy file: the policy "
        "host's addresses, the TLS connection and the HTTP response; the "
        "certificate is checked against smtp_tls_CAfile, else the system "
        "bundle /etc/ssl/certs/ca-certificates.crt"),
    S(RESTART, smtpd_listen, "127.0.0.1:25, [::1]:25",
        "where smtpd takes SMTP from local applications: \"IP:port, "
        "[IPv6]:port\", or none"),
    S(RESTART, metrics_listen, "none",
        "where ncmta-metricsd serves GET /metrics over HTTP for a Prometheus "
        "scraper: \"IP:port, [IPv6]:port\", or none"),
    S(RESTART, queue_view_group, "",
        "Unix group whose members see the whole queue, read-only, with "
        "ncqshow, mailq and ncctl status, as root does (empty: none; the "
        "others see only the messages they submitted). Membership is that "
        "of the caller's process: a user added to the group sees the queue "
        "from their next login"),
    S(RELOAD, mynetworks, "127.0.0.0/8, [::1]/128",
        "clients that may submit to smtpd, as CIDR blocks; the others get "
        "554 5.7.1"),
    S(RESTART, smtpd_tls_cert_file, "",
        "certificate (PEM, chain included) smtpd offers STARTTLS with; "
        "none: no STARTTLS"),
    S(RESTART, smtpd_tls_key_file, "",
        "private key of smtpd_tls_cert_file (PEM)"),
    I(RELOAD, smtpd_client_connection_limit, "50", 1, 100000,
        "smtpd sessions at once from one client address"),
    I(RELOAD, smtpd_session_limit, "200", 1, 100000,
        "smtpd sessions at once in all"),
    I(RELOAD, smtpd_recipient_limit, "1000", 1, 100000,
        "recipients of one message taken by smtpd (452 4.5.3 beyond)"),
    D(RELOAD, smtpd_timeout, "300s", 1, DAY,
        "time an smtpd client has for each command, and idle"),
    I(RELOAD, smtpd_hard_error_limit, "20", 1, 1000,
        "errors of one smtpd client before 421 and the end of its session"),
    S(RESTART, log_target, "syslog",
        "syslog, stderr, or an absolute file name"),
    S(RESTART, syslog_facility, "mail",
        "syslog facility for log_target = syslog"),
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0}};
