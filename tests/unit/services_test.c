/*
 * services_test.c - the master's service table (daemons/master/
 * services.c): what every row must hold for the master to run it (one
 * row answers each request the master waits on, the start and stop
 * orders the pipeline needs, settings that exist), how many processes a
 * row runs under a configuration, and the TCP sockets of listen.c.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "listen.h"
#include "services.h"
#include "tap.h"

static void
load(struct nc_config *cfg, const char *text)
{
	struct cf_errors e = {NULL, 0};

	if (config_load_text(cfg, "test.conf", text, &e) == -1)
		abort();
}

static int
row_of(const char *name)
{
	const struct service *s = svc_find(name);

	return s ? (int)(s - services) : -1;
}

/* How many rows take the control message flag. */
static int
rows_taking(unsigned flag)
{
	const struct service *s;
	int n = 0;

	for (s = services; s->name != NULL; s++)
		n += (s->ctl & flag) != 0;
	return n;
}

static void
test_rows(void)
{
	const struct service *s, *t;
	int i, j, bad = 0, sockets = 0;

	for (s = services; s->name != NULL; s++) {
		for (t = s + 1; t->name != NULL; t++)
			bad += strcmp(s->name, t->name) == 0;
		bad += strcmp(s->user, "mail_owner") != 0;
		bad += s->stop_stage < 0 || s->stop_stage >= SVC_STOP_STAGES;
		for (i = 0; i < SVC_MAX_SOCKETS; i++) {
			const struct svc_socket *k = &s->sockets[i];

			if (k->kind == SVC_SOCK_NONE)
				continue;
			sockets++;
			if (k->kind == SVC_SOCK_UNIX)
				bad += strcmp(k->dir, "private") != 0 &&
				    strcmp(k->dir, "public") != 0;
			for (t = services; t->name != NULL; t++)
				for (j = 0; j < SVC_MAX_SOCKETS; j++)
					bad += (t != s || j != i) &&
					    t->sockets[j].kind == k->kind &&
					    strcmp(t->sockets[j].name,
					        k->name) == 0;
		}
	}
	is_int(bad, 0,
	    "names and sockets unique, users mail_owner, stop "
	    "stages in range");
	is_int(svc_rows(), 8, "eight rows");
	is_int(sockets, 6, "six socket lines");

	/* the master waits for one answer to each of these */
	is_int(rows_taking(SVC_CTL_ADMIN), 1, "one row takes administration");
	is_int(rows_taking(SVC_CTL_STATUS), 1, "one row is asked for status");
	is_int(rows_taking(SVC_CTL_DNS_FLUSH), 1, "one row flushes DNS");
	ok(svc_find("qmgr")->ctl & SVC_CTL_ADMIN, "qmgr administers");
	ok(svc_find("resolver")->ctl & SVC_CTL_DNS_FLUSH,
	    "the resolver's "
	    "cache");
	ok((svc_find("smtp")->ctl & SVC_CTL_SECRET) &&
	        rows_taking(SVC_CTL_SECRET) == 1,
	    "only smtp workers may ask for credentials");
	ok(!(svc_find("showq")->ctl & SVC_CTL_RELOAD), "showq takes no reload");

	/* start order */
	ok(row_of("resolver") == 0, "the resolver starts first");
	is_int(row_of("bounce"), row_of("qmgr") + 1, "bounce right after qmgr");
	ok(row_of("pickup") < row_of("smtpd"), "pickup before smtpd");
	/* stop order */
	bad = 0;
	for (s = services; s->name != NULL; s++) {
		if (strcmp(s->name, "smtpd") != 0 &&
		    strcmp(s->name, "metricsd") != 0)
			bad += s->stop_stage <= svc_find("smtpd")->stop_stage;
		/* only metricsd may ask for the exposition text */
		bad += !(s->ctl & SVC_CTL_METRICS) !=
		    (strcmp(s->name, "metricsd") != 0);
		if (strcmp(s->name, "qmgr") != 0 &&
		    strcmp(s->name, "resolver") != 0)
			bad += s->stop_stage >= svc_find("qmgr")->stop_stage;
	}
	is_int(bad, 0,
	    "smtpd and metricsd stop first, qmgr and the resolver last; "
	    "metricsd alone asks for the metrics");
	is_int(svc_find("qmgr")->stop_stage, svc_find("resolver")->stop_stage,
	    "qmgr and the resolver together");

	is_str(svc_find("smtpd")->chroot, "incoming", "smtpd in incoming/");
	is_str(svc_find("smtp")->chroot, "empty", "smtp in empty/");
	is_str(svc_find("qmgr")->chroot, "", "qmgr in QDIR");
	is_str(svc_find("pickup")->sockets[0].name, "pickup",
	    "pickup gets private/pickup");
	is_int(svc_find("pickup")->sockets[0].mode, 0600, "0600");
	ok(svc_find("pickup")->sockets[0].mail_owner, "mail_owner's");
	is_str(svc_tcp_setting(svc_find("smtpd")), "smtpd_listen",
	    "smtpd listens on smtpd_listen");
	ok(svc_tcp_setting(svc_find("qmgr")) == NULL, "qmgr on no TCP");
	ok(svc_find("smtpd")->optional && !svc_find("qmgr")->optional,
	    "smtpd is optional, qmgr is not");
	ok(svc_find("nonesuch") == NULL, "an unknown name is no row");
}

static void
test_counts(void)
{
	struct nc_config cfg;
	char *text;

	load(&cfg, "");
	is_int(svc_count(svc_find("smtpd"), &cfg), 1,
	    "smtpd runs by default (smtpd_listen has addresses)");
	text = svc_tcp_text(svc_find("smtpd"), &cfg);
	is_str(text, "127.0.0.1:25,[::1]:25", "and listens on both");
	free(text);
	is_int(svc_count(svc_find("smtp"), &cfg), 2, "two smtp workers");
	is_int(svc_count(svc_find("qmgr"), &cfg), 1, "one qmgr");
	config_free(&cfg);

	load(&cfg, "smtpd_listen = none\nsmtp_worker_count = 5\n");
	is_int(svc_count(svc_find("smtpd"), &cfg), 0, "none: no smtpd");
	ok(svc_tcp_text(svc_find("smtpd"), &cfg) == NULL, "listening nowhere");
	is_int(svc_count(svc_find("smtp"), &cfg), 5,
	    "smtp_worker_count = 5: five workers");
	is_str(svc_setting_str(&cfg, "smtpd_listen"), "none",
	    "a string setting by name");
	ok(svc_setting_str(&cfg, "smtp_worker_count") == NULL,
	    "an integer is not a string");
	config_free(&cfg);
}

static int
flag_set(int fd, int level, int opt)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, level, opt, &v, &len) == 0 && v != 0;
}

static unsigned
port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static struct net_listen
addr(int family, const char *a, unsigned port)
{
	struct net_listen l;

	memset(&l, 0, sizeof(l));
	l.family = family;
	strlcpy(l.addr, a, sizeof(l.addr));
	l.port = port;
	return l;
}

static void
test_listen(void)
{
	struct net_listen l = addr(AF_INET, "127.0.0.1", 0);
	int fd, again, any4, any6;
	unsigned port;

	fd = listen_tcp(&l);
	ok(fd != -1, "127.0.0.1 bound");
	ok(fcntl(fd, F_GETFL) & O_NONBLOCK, "non-blocking");
	ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
	ok(flag_set(fd, SOL_SOCKET, SO_REUSEADDR), "SO_REUSEADDR");
	ok(flag_set(fd, SOL_SOCKET, SO_ACCEPTCONN), "listening");
	l.port = port = port_of(fd);
	again = listen_tcp(&l);
	ok(again == -1 && errno == EADDRINUSE,
	    "the same address again: in use (%s)", strerror(errno));
	close(fd);

	l = addr(AF_INET6, "::1", 0);
	if ((fd = listen_tcp(&l)) == -1) {
		ok(1, "# SKIP no IPv6 loopback (%s)", strerror(errno));
		return;
	}
	ok(flag_set(fd, IPPROTO_IPV6, IPV6_V6ONLY), "[::1] is IPv6 only");
	close(fd);
	/* IPV6_V6ONLY is what lets "0.0.0.0:P, [::]:P" bind both */
	l = addr(AF_INET, "0.0.0.0", 0);
	any4 = listen_tcp(&l);
	l = addr(AF_INET6, "::", port_of(any4));
	any6 = listen_tcp(&l);
	ok(any4 != -1 && any6 != -1, "0.0.0.0:%u and [::]:%u both bound",
	    l.port, l.port);
	close(any4);
	close(any6);

	l = addr(AF_INET, "not-an-address", 25);
	ok(listen_tcp(&l) == -1, "an address that does not parse: refused");
}

int
main(void)
{
	test_rows();
	test_counts();
	test_listen();
	return done_testing();
}
