/*
 * dest_test.c - qmgr's destinations (daemons/qmgr/dest.c) against a
 * scripted resolver: exchangers ordered by preference with equal ones
 * shared, implicit MX, null MX, NXDOMAIN, temporary failures, fallback
 * relays, smart hosts with ports, address literals, IPv4/IPv6 choice,
 * the address limit, the TTL a lookup is reused for, answers that come
 * later than the question, the session window and suspension, DANE:
 * which hosts get TLSA records (RFC 7672 2.2), and MTA-STS: which
 * exchangers a policy lets through, and with which mode (RFC 8461 4.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "config.h"
#include "proto.h"
#include "util.h"
#include "../../daemons/qmgr/dest.h"
#include "../../daemons/qmgr/resolve.h"
#include "../../daemons/qmgr/sts.h"

struct qmgr *qm;

/* ---- the scripted resolver ---- */

struct rr {
	int qtype;
	const char *name;
	uint32_t status, ttl;
	const char *data[4]; /* MX: "pref name" */
};

/* Every answer is DNSSEC-validated but those for these (type, name). */
static const struct {
	int qtype;
	const char *name;
} * insecure;

static uint32_t
validated(int qtype, const char *name)
{
	for (int i = 0; insecure != NULL && insecure[i].name != NULL; i++)
		if (insecure[i].qtype == qtype &&
		    strcmp(insecure[i].name, name) == 0)
			return 0;
	return 1;
}

static const struct rr *zone;
static int asked, later, asked_tlsa, asked_dnssec;
static struct {
	dns_answer_fn *fn;
	void *arg;
	const struct rr *rr;
	int qtype;
} held[64];
static int nheld;

static void
answer(dns_answer_fn *fn, void *arg, const struct rr *rr, int qtype)
{
	struct dns_answer a;
	char names[4][256];
	int i;

	memset(&a, 0, sizeof(a));
	a.error = "";
	if (rr == NULL) {
		a.status = DNS_S_NXDOMAIN;
		a.ttl = 60;
		fn(&a, arg);
		return;
	}
	a.status = rr->status;
	a.ttl = rr->ttl;
	a.secure = validated(rr->qtype, rr->name);
	a.error = rr->status == DNS_S_TEMPFAIL ? "connection timed out" : "";
	for (i = 0; i < 4 && rr->data[i] != NULL; i++) {
		if (qtype == DNS_T_MX) {
			unsigned pref;

			sscanf(rr->data[i], "%u %255s", &pref, names[i]);
			if (strcmp(names[i], ".") == 0)
				names[i][0] = '\0';
			a.rec[i].pref = pref;
			a.rec[i].data = names[i];
		} else
			a.rec[i].data = rr->data[i];
		a.n++;
	}
	fn(&a, arg);
}

void
resolve_query(
    int qtype, const char *name, uint32_t flags, dns_answer_fn *fn, void *arg)
{
	const struct rr *rr;

	asked++;
	asked_tlsa += qtype == DNS_T_TLSA;
	asked_dnssec += (flags & DNS_Q_DNSSEC) != 0;
	for (rr = zone; rr != NULL && rr->name != NULL; rr++)
		if (rr->qtype == qtype && strcasecmp(rr->name, name) == 0)
			break;
	if (rr != NULL && rr->name == NULL)
		rr = NULL;
	if (later) {
		held[nheld].fn = fn;
		held[nheld].arg = arg;
		held[nheld].rr = rr;
		held[nheld++].qtype = qtype;
		return;
	}
	answer(fn, arg, rr, qtype);
}

/* Answer the questions held back, as the resolver daemon would later:
 * also those that the answers raise. */
static void
answer_held(void)
{
	while (nheld > 0) {
		int n = nheld, i;
		__typeof__(held[0]) now[64];

		memcpy(now, held, sizeof(held[0]) * (size_t)n);
		nheld = 0;
		for (i = 0; i < n; i++)
			answer(now[i].fn, now[i].arg, now[i].rr, now[i].qtype);
	}
}

/* ---- the scripted MTA-STS policies (sts.c) ---- */

static const struct {
	const char *domain;
	enum mtasts_mode mode;
	const char *mx[3];
} * policies;
static int asked_sts;

void
sts_lookup(const char *domain, sts_ready_fn *fn, void *arg)
{
	struct mtasts_policy pol;
	struct sts_result r = {.ttl = 3600};

	asked_sts++;
	for (int i = 0; policies != NULL && policies[i].domain != NULL; i++) {
		if (strcmp(policies[i].domain, domain) != 0)
			continue;
		memset(&pol, 0, sizeof(pol));
		pol.mode = policies[i].mode;
		pol.max_age = 86400;
		for (int j = 0; j < 3 && policies[i].mx[j] != NULL; j++)
			strlcpy(pol.mx[pol.nmx++], policies[i].mx[j],
			    sizeof(pol.mx[0]));
		r.policy = &pol;
		r.id = "20261207";
	}
	fn(&r, arg);
}

static int readies;
static struct qm_dest *ready_dest;

static void
on_ready(struct qm_dest *d)
{
	readies++;
	ready_dest = d;
}

static void
set(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

/* A fresh qmgr state with the defaults, direct mode. */
static void
reset(void)
{
	if (qm != NULL) {
		dest_expire_all();
		dest_sweep();
		config_free(&qm->cfg);
		free(qm);
	}
	qm = xcalloc(1, sizeof(*qm));
	config_defaults(&qm->cfg);
	set(&qm->cfg.delivery_mode, "direct");
	set(&qm->cfg.inet_protocols, "all");
	qm->cfg.smtp_port = 25;
	dest_init(on_ready);
	readies = asked = later = nheld = asked_tlsa = asked_dnssec = 0;
	asked_sts = 0;
	ready_dest = NULL;
}

/* Look a domain up (direct, no route) and return the destination. */
static struct qm_dest *
lookup(const char *domain)
{
	struct qm_dest *d = dest_get(NULL, domain);

	dest_resolve(d);
	return d;
}

static int
host_is(const struct qm_dest *d, int i, const char *name, const char *addr,
    unsigned port)
{
	return i < d->nhosts && strcmp(d->hosts[i].name, name) == 0 &&
	    strcmp(d->hosts[i].addr, addr) == 0 && d->hosts[i].port == port;
}

static void
test_mx_by_preference(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "example.org", DNS_S_OK, 3600,
	        {"20 mx2.example.org", "10 mx1.example.org"}},
	    {DNS_T_A, "mx1.example.org", DNS_S_OK, 120, {"192.0.2.1"}},
	    {DNS_T_AAAA, "mx1.example.org", DNS_S_OK, 120, {"2001:db8::1"}},
	    {DNS_T_A, "mx2.example.org", DNS_S_OK, 30, {"192.0.2.2"}},
	    {DNS_T_AAAA, "mx2.example.org", DNS_S_NODATA, 60, {NULL}},
	    {0, NULL, 0, 0, {NULL}}};
	struct qm_dest *d;
	time_t now = time(NULL);

	reset();
	zone = z;
	d = lookup("example.org");
	is_int(readies, 1, "MX: the caller is told once the lookup ended");
	ok(ready_dest == d, "... about this destination");
	is_int(d->result, DEST_OK, "... with success");
	is_int(d->nhosts, 3, "... three addresses");
	ok(host_is(d, 0, "mx1.example.org", "192.0.2.1", 25) &&
	        host_is(d, 1, "mx1.example.org", "2001:db8::1", 25) &&
	        host_is(d, 2, "mx2.example.org", "192.0.2.2", 25),
	    "... the preferred exchanger's addresses first, IPv4 first");
	ok(d->hosts[0].pref == 10 && d->hosts[2].pref == 20 &&
	        !(d->hosts[0].flags & HOST_F_RELAY),
	    "... with their preferences, not relays");
	ok(d->expires >= now + 30 && d->expires <= now + 31,
	    "... reused for the shortest TTL of the answers (30 s)");
	ok(dest_fresh(d), "... and fresh until then");
	is_int(asked, 5, "one MX and four address questions");
	ok(dest_get(NULL, "example.org") == d,
	    "the same domain is the same destination");
}

static void
test_equal_preference_shared(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "shared.example", DNS_S_OK, 300,
	        {"10 a.shared.example", "10 b.shared.example",
	            "10 c.shared.example"}},
	    {DNS_T_A, "a.shared.example", DNS_S_OK, 300,
	        {"192.0.2.10", "192.0.2.11"}},
	    {DNS_T_A, "b.shared.example", DNS_S_OK, 300, {"192.0.2.20"}},
	    {DNS_T_A, "c.shared.example", DNS_S_OK, 300, {"192.0.2.30"}},
	    {0, NULL, 0, 0, {NULL}}};
	struct qm_dest *d;
	int first[3] = {0, 0, 0}, order[8], i, together = 1;

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	zone = z;
	d = lookup("shared.example");
	is_int(d->nhosts, 4, "equal preference: four IPv4 addresses");
	for (i = 0; i < 600; i++) {
		int k;

		dest_host_order(d, order);
		first[d->hosts[order[0]].name[0] - 'a']++;
		for (k = 0; k + 1 < 4;
		     k++) /* a's two addresses stay adjacent */
			if (strcmp(d->hosts[order[k]].name,
			        "a.shared.example") == 0 &&
			    k + 1 < 4 &&
			    strcmp(d->hosts[order[k + 1]].name,
			        "a.shared.example") != 0 &&
			    (k == 0 ||
			        strcmp(d->hosts[order[k - 1]].name,
			            "a.shared.example") != 0))
				together = 0;
	}
	ok(first[0] > 100 && first[1] > 100 && first[2] > 100,
	    "each of three equal exchangers is tried first in turn "
	    "(%d/%d/%d of 600)",
	    first[0], first[1], first[2]);
	ok(together, "an exchanger's addresses stay together in every order");
}

static void
test_implicit_null_and_missing(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "implicit.example", DNS_S_NODATA, 300, {NULL}},
	    {DNS_T_A, "implicit.example", DNS_S_OK, 300, {"192.0.2.40"}},
	    {DNS_T_MX, "nullmx.example", DNS_S_OK, 300, {"0 ."}},
	    {DNS_T_MX, "tempfail.example", DNS_S_TEMPFAIL, 0, {NULL}},
	    {DNS_T_MX, "noaddr.example", DNS_S_OK, 300,
	        {"10 gone.noaddr.example"}},
	    {DNS_T_MX, "badmx.example", DNS_S_OK, 300, {"10 bad\001name"}},
	    {0, NULL, 0, 0, {NULL}}};
	struct qm_dest *d;

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	zone = z;
	d = lookup("implicit.example");
	ok(d->result == DEST_OK &&
	        host_is(d, 0, "implicit.example", "192.0.2.40", 25),
	    "no MX record: the domain itself is the exchanger");
	d = lookup("nullmx.example");
	ok(d->result == DEST_PERMFAIL && strcmp(d->dsn, "5.1.10") == 0 &&
	        strstr(d->reason, "nullMX") != NULL,
	    "null MX: fails for good, 5.1.10 (%s)", d->reason);
	d = lookup("nxdomain.example");
	ok(d->result == DEST_PERMFAIL && strcmp(d->dsn, "5.1.2") == 0,
	    "NXDOMAIN: fails for good, 5.1.2");
	d = lookup("tempfail.example");
	ok(d->result == DEST_TEMPFAIL && strcmp(d->dsn, "4.4.3") == 0 &&
	        strstr(d->reason, "timed out") != NULL,
	    "MX time-out: deferred, 4.4.3, with the resolver's reason");
	ok(d->expires <= time(NULL) + 2,
	    "... and looked up again within seconds");
	d = lookup("noaddr.example");
	ok(d->result == DEST_PERMFAIL && strcmp(d->dsn, "5.4.4") == 0,
	    "the only exchanger has no address: 5.4.4 (%s)", d->reason);
	d = lookup("badmx.example");
	ok(d->result != DEST_OK && d->nhosts == 0,
	    "an exchanger name with a control character is passed over");
}

static void
test_relays(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "down.example", DNS_S_TEMPFAIL, 0, {NULL}},
	    {DNS_T_MX, "fallback.example", DNS_S_NODATA, 300, {NULL}},
	    {DNS_T_A, "fallback.example", DNS_S_OK, 300, {"192.0.2.50"}},
	    {DNS_T_A, "relay.example", DNS_S_OK, 300, {"192.0.2.60"}},
	    {0, NULL, 0, 0, {NULL}}};
	struct route r = {0};
	struct qm_dest *d;

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	set(&qm->cfg.smart_host, "fallback.example");
	zone = z;
	d = lookup("down.example");
	ok(d->result == DEST_OK && d->nhosts == 1 &&
	        host_is(d, 0, "fallback.example", "192.0.2.50", 25) &&
	        (d->hosts[0].flags & HOST_F_RELAY) && d->hosts[0].pref == -1,
	    "exchangers unreachable: the fallback relay makes up for it");

	r.action = ROUTE_SMARTHOST;
	r.hosts = (char *)"[relay.example]:2525, [192.0.2.70]:587";
	strlcpy(r.tls, "encrypt", sizeof(r.tls));
	d = dest_get(&r, "any.example");
	dest_resolve(d);
	ok(d->kind == DEST_RELAY && d->nhosts == 2 &&
	        host_is(d, 0, "relay.example", "192.0.2.60", 2525) &&
	        host_is(d, 1, "192.0.2.70", "192.0.2.70", 587),
	    "smart hosts in brackets: no MX question, their ports, in order");
	ok(strcmp(d->hosts[0].nexthop, "relay.example") == 0,
	    "... each with the name it was configured as");
	is_str(d->tls, "encrypt", "... and the route's TLS level");
	ok(dest_get(&r, "other.example") == d,
	    "every domain of a smart-host route shares one destination");
}

static void
test_literal_and_limits(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "many.example", DNS_S_OK, 300,
	        {"10 m1.many.example", "20 m2.many.example"}},
	    {DNS_T_A, "m1.many.example", DNS_S_OK, 300,
	        {"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
	    {DNS_T_A, "m2.many.example", DNS_S_OK, 300, {"192.0.2.4"}},
	    {DNS_T_AAAA, "m1.many.example", DNS_S_OK, 300, {"2001:db8::9"}},
	    {0, NULL, 0, 0, {NULL}}};
	struct qm_dest *d;

	reset();
	zone = z;
	d = lookup("[192.0.2.99]");
	ok(d->result == DEST_OK && d->nhosts == 1 &&
	        strcmp(d->hosts[0].addr, "192.0.2.99") == 0 && asked == 0,
	    "an address literal is the host, nothing is asked");
	d = lookup("[IPv6:2001:db8::7]");
	ok(d->nhosts == 1 && strcmp(d->hosts[0].addr, "2001:db8::7") == 0,
	    "an IPv6 literal likewise");

	reset();
	zone = z;
	set(&qm->cfg.inet_protocols, "ipv4");
	qm->cfg.smtp_mx_address_limit = 2;
	d = lookup("many.example");
	ok(d->nhosts == 2 && strcmp(d->hosts[1].addr, "192.0.2.2") == 0,
	    "smtp_mx_address_limit caps the exchangers' addresses");
	ok(asked == 3, "inet_protocols = ipv4: no AAAA question (%d asked)",
	    asked);
}

static void
test_answers_later(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "slow.example", DNS_S_OK, 300, {"10 mx.slow.example"}},
	    {DNS_T_A, "mx.slow.example", DNS_S_OK, 300, {"192.0.2.80"}},
	    {0, NULL, 0, 0, {NULL}}};
	struct qm_dest *d;

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	zone = z;
	later = 1;
	d = lookup("slow.example");
	ok(d->state == DEST_RESOLVING && readies == 0 && !dest_fresh(d),
	    "while the resolver has not answered, the destination resolves");
	dest_resolve(d);
	is_int(nheld, 1, "... a second dest_resolve() asks nothing more");
	answer_held();
	ok(readies == 1 && d->result == DEST_OK && d->nhosts == 1 &&
	        dest_fresh(d),
	    "the answers arrive: the caller is told once, hosts are known");
}

static void
test_window_and_suspension(void)
{
	struct qm_dest *d;
	int i, suspended = 0, first = -1;

	reset();
	qm->cfg.destination_concurrency_limit = 20;
	qm->cfg.min_backoff = 60;
	qm->cfg.max_backoff = 600;
	zone = NULL;
	d = dest_get(NULL, "[192.0.2.1]");
	dest_resolve(d);
	ok(dest_window(d) >= 1 && dest_window(d) <= 20,
	    "a new destination starts with a window of %d session(s)",
	    dest_window(d));
	d->in_flight = 1;
	is_int(dest_job_ended(d), dest_window(d),
	    "a job's end frees its slot: the window's worth may go on");
	for (i = 0; i < 10; i++)
		(void)dest_session_result(d, 1, "");
	ok(dest_window(d) > 1, "sessions that succeed widen it (to %d)",
	    dest_window(d));
	for (i = 0; i < 50 && !suspended; i++)
		if ((suspended =
		            dest_session_result(d, 0, "connection refused")))
			first = i;
	ok(suspended, "failed sessions suspend it (after %d)", first + 1);
	ok(strstr(d->suspend_reason, "connection refused") != NULL &&
	        strstr(d->suspend_reason, "suspended") != NULL,
	    "... with the reason (%s)", d->suspend_reason);
}

#define SHA                                                                    \
	"3 1 1 "                                                               \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
test_dane(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "signed.example", DNS_S_OK, 300,
	        {"10 mx1.signed.example", "20 mx2.signed.example"}},
	    {DNS_T_A, "mx1.signed.example", DNS_S_OK, 300, {"192.0.2.1"}},
	    {DNS_T_A, "mx2.signed.example", DNS_S_OK, 300, {"192.0.2.2"}},
	    {DNS_T_TLSA, "_25._tcp.mx1.signed.example", DNS_S_OK, 300,
	        {SHA, "2 0 1 ab"}},
	    {DNS_T_TLSA, "_25._tcp.mx2.signed.example", DNS_S_NXDOMAIN, 300,
	        {NULL}},
	    /* validated MX, an unvalidated address */
	    {DNS_T_MX, "half.example", DNS_S_OK, 300, {"10 mx.half.example"}},
	    {DNS_T_A, "mx.half.example", DNS_S_OK, 300, {"192.0.2.3"}},
	    {DNS_T_TLSA, "_25._tcp.mx.half.example", DNS_S_OK, 300, {SHA}},
	    /* an unvalidated MX */
	    {DNS_T_MX, "plain.example", DNS_S_OK, 300, {"10 mx.plain.example"}},
	    {DNS_T_A, "mx.plain.example", DNS_S_OK, 300, {"192.0.2.4"}},
	    /* bogus TLSA at the first exchanger, none at the second */
	    {DNS_T_MX, "bogus.example", DNS_S_OK, 300,
	        {"10 mx1.bogus.example", "20 mx2.bogus.example"}},
	    {DNS_T_A, "mx1.bogus.example", DNS_S_OK, 300, {"192.0.2.5"}},
	    {DNS_T_A, "mx2.bogus.example", DNS_S_OK, 300, {"192.0.2.6"}},
	    {DNS_T_TLSA, "_25._tcp.mx1.bogus.example", DNS_S_TEMPFAIL, 0,
	        {NULL}},
	    {DNS_T_TLSA, "_25._tcp.mx2.bogus.example", DNS_S_NODATA, 300,
	        {NULL}},
	    {DNS_T_MX, "bogus1.example", DNS_S_OK, 300,
	        {"10 mx1.bogus.example"}},
	    /* TLSA records, not validated */
	    {DNS_T_MX, "unsigned.example", DNS_S_OK, 300,
	        {"10 mx.unsigned.example"}},
	    {DNS_T_A, "mx.unsigned.example", DNS_S_OK, 300, {"192.0.2.7"}},
	    {DNS_T_TLSA, "_25._tcp.mx.unsigned.example", DNS_S_OK, 300, {SHA}},
	    {0, NULL, 0, 0, {NULL}}};
	static const __typeof__(*insecure) unsigned_answers[] = {
	    {DNS_T_A, "mx.half.example"}, {DNS_T_MX, "plain.example"},
	    {DNS_T_A, "mx.plain.example"},
	    {DNS_T_TLSA, "_25._tcp.mx.unsigned.example"}, {0, NULL}};
	struct qm_dest *d;

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	zone = z;
	insecure = unsigned_answers;
	d = lookup("signed.example");
	ok(d->result == DEST_OK && d->nhosts == 2 && d->hosts[0].tlsa == NULL &&
	        d->hosts[1].tlsa == NULL,
	    "level may: two hosts, no TLSA records");
	is_int(asked_tlsa, 0, "... no TLSA question below the dane level");
	is_int(asked_dnssec, 0, "... nor a question marked DNS_Q_DNSSEC");

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	set(&qm->cfg.smtp_tls_security_level, "dane");
	zone = z;
	d = lookup("signed.example");
	ok(d->result == DEST_OK && d->nhosts == 2 && d->hosts[0].tlsa &&
	        strcmp(d->hosts[0].tlsa, SHA "\n2 0 1 ab") == 0 &&
	        d->hosts[1].tlsa == NULL,
	    "dane: validated records for mx1 (one a line), validated absence "
	    "for mx2");
	is_int(asked_tlsa, 2, "... one TLSA question per exchanger");
	is_int(asked_dnssec, 5, "... every question marked DNS_Q_DNSSEC");
	d = lookup("half.example");
	ok(d->nhosts == 1 && d->hosts[0].tlsa == NULL,
	    "an unvalidated address answer: no DANE (may)");
	asked_tlsa = 0;
	d = lookup("plain.example");
	ok(d->nhosts == 1 && d->hosts[0].tlsa == NULL && asked_tlsa == 0,
	    "an unvalidated MX answer: no TLSA question, may");
	d = lookup("unsigned.example");
	ok(d->nhosts == 1 && d->hosts[0].tlsa == NULL,
	    "TLSA records that are not validated: may");
	d = lookup("bogus.example");
	ok(d->result == DEST_OK && d->nhosts == 1 &&
	        host_is(d, 0, "mx2.bogus.example", "192.0.2.6", 25) &&
	        d->hosts[0].tlsa == NULL,
	    "a failed TLSA lookup takes its exchanger out, the next is used");
	d = lookup("bogus1.example");
	ok(d->result == DEST_TEMPFAIL && d->nhosts == 0 &&
	        strstr(d->reason,
	            "TLSA lookup error for "
	            "_25._tcp.mx1.bogus.example") != NULL,
	    "... and with no other exchanger the destination defers: %s",
	    d->reason);
	insecure = NULL;
}

static void
test_mta_sts(void)
{
	static const struct rr z[] = {
	    {DNS_T_MX, "sts.example", DNS_S_OK, 300,
	        {"10 mx1.sts.example", "20 mx2.other.example"}},
	    {DNS_T_A, "mx1.sts.example", DNS_S_OK, 300, {"192.0.2.1"}},
	    {DNS_T_A, "mx2.other.example", DNS_S_OK, 300, {"192.0.2.2"}},
	    {DNS_T_MX, "wild.example", DNS_S_OK, 300,
	        {"10 mx1.sts.example", "20 mx2.other.example"}},
	    {DNS_T_MX, "test.example", DNS_S_OK, 300,
	        {"10 mx1.sts.example", "20 mx2.other.example"}},
	    {DNS_T_MX, "none.example", DNS_S_OK, 300, {"10 mx2.other.example"}},
	    {DNS_T_MX, "implicit.example", DNS_S_NODATA, 300, {NULL}},
	    {DNS_T_A, "implicit.example", DNS_S_OK, 300, {"192.0.2.3"}},
	    {DNS_T_MX, "dane.example", DNS_S_OK, 300,
	        {"10 mx1.dane.example", "20 mx2.other.example"}},
	    {DNS_T_A, "mx1.dane.example", DNS_S_OK, 300, {"192.0.2.4"}},
	    {DNS_T_TLSA, "_25._tcp.mx1.dane.example", DNS_S_OK, 300, {SHA}},
	    {DNS_T_TLSA, "_25._tcp.mx2.other.example", DNS_S_NXDOMAIN, 300,
	        {NULL}},
	    {0, NULL, 0, 0, {NULL}}};
	static const __typeof__(*policies) p[] = {
	    {"sts.example", MTASTS_ENFORCE, {"mx1.sts.example", NULL}},
	    {"wild.example", MTASTS_ENFORCE, {"*.STS.example", NULL}},
	    {"test.example", MTASTS_TESTING, {"mx1.sts.example", NULL}},
	    {"none.example", MTASTS_ENFORCE, {"mx.none.example", NULL}},
	    {"implicit.example", MTASTS_ENFORCE, {"implicit.example", NULL}},
	    {"dane.example", MTASTS_ENFORCE, {"mx1.dane.example", NULL}},
	    {NULL, 0, {NULL}}};
	struct qm_dest *d;

	reset();
	set(&qm->cfg.inet_protocols, "ipv4");
	zone = z;
	policies = p;
	d = lookup("sts.example");
	ok(d->result == DEST_OK && d->nhosts == 1 &&
	        host_is(d, 0, "mx1.sts.example", "192.0.2.1", 25) &&
	        d->hosts[0].sts == MTASTS_ENFORCE,
	    "enforce: the listed exchanger only, marked enforce");
	is_int(asked_sts, 1, "... one MTA-STS question");
	d = lookup("wild.example");
	ok(d->result == DEST_OK && d->nhosts == 1 &&
	        host_is(d, 0, "mx1.sts.example", "192.0.2.1", 25),
	    "enforce: *.STS.example matches mx1.sts.example, not "
	    "mx2.other.example");
	d = lookup("test.example");
	ok(d->result == DEST_OK && d->nhosts == 2 &&
	        d->hosts[0].sts == MTASTS_TESTING &&
	        d->hosts[1].sts == MTASTS_TESTING,
	    "testing: every exchanger, marked testing");
	d = lookup("none.example");
	ok(d->result == DEST_TEMPFAIL && d->nhosts == 0 &&
	        strstr(d->reason,
	            "MTA-STS policy 20261207 of none.example "
	            "(enforce) lists no exchanger") != NULL,
	    "enforce, no exchanger listed: deferred: %s", d->reason);
	d = lookup("implicit.example");
	ok(d->result == DEST_OK && d->nhosts == 1 &&
	        d->hosts[0].sts == MTASTS_ENFORCE,
	    "implicit MX: the domain itself is matched against the patterns");
	d = lookup("unknown-policy.example");
	ok(d->result == DEST_PERMFAIL && d->nhosts == 0,
	    "no policy, no MX: as before (%s)", d->reason);

	set(&qm->cfg.smtp_tls_security_level, "dane");
	d = lookup("dane.example");
	ok(d->result == DEST_OK && d->nhosts == 2 && d->hosts[0].tlsa != NULL &&
	        d->hosts[0].sts == MTASTS_NONE &&
	        d->hosts[1].sts == MTASTS_NONE,
	    "DANE for one exchanger: the MTA-STS policy is not used");

	reset();
	set(&qm->cfg.delivery_mode, "smarthost");
	set(&qm->cfg.smart_host, "[192.0.2.9]");
	zone = z;
	d = lookup("sts.example");
	ok(d->result == DEST_OK && d->nhosts == 1 && d->hosts[0].sts == 0 &&
	        asked_sts == 0,
	    "smart host: no MTA-STS question, no policy");
	policies = NULL;
}

int
main(void)
{
	test_mx_by_preference();
	test_equal_preference_shared();
	test_implicit_null_and_missing();
	test_relays();
	test_literal_and_limits();
	test_answers_later();
	test_window_and_suspension();
	test_dane();
	test_mta_sts();
	return done_testing();
}
