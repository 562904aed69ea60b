/*
 * dest.c - destinations and their lookup (doc/design.md, "Direct mode, step by
 * step", steps 1, 2 and 6): a recipient domain's exchangers by preference
 * (equal ones shuffled), implicit MX, null MX and NXDOMAIN, address literals,
 * then the fallback relays; or just a relay list. Lookups go to the resolver
 * in two rounds (MX questions, then address questions, with TLSA questions
 * for DANE beside them), all questions of a round in parallel. Under
 * smtp_tls_security_level = dane (RFC 7672 2.2) a host gets its TLSA
 * records only when its MX answer (if one was asked), its address answers
 * and its TLSA answer are all DNSSEC-validated; a failed TLSA lookup of
 * such a host takes it out of the list. Messages wait on a destination
 * while it is looked up, and while all its session slots are taken; dest
 * tells its caller when they may go on (dest.h) and never moves them
 * itself.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hostlist.h"
#include "log.h"
#include "dest.h"
#include "proto.h"
#include "resolve.h"
#include "sts.h"
#include "util.h"

#define NAME_MAX_ADDRS 16
#define FAIL_TTL 2 /* seconds a failed lookup's verdict is reused */

struct lookup_name {
	struct dest_lookup *lk;
	char name[256];
	char nexthop[256]; /* a relay's configured name */
	unsigned port;
	uint32_t flags; /* HOST_F_RELAY */
	int pref; /* MX preference, -1 for a relay */
	int numeric; /* name is already an address */
	char v4[NAME_MAX_ADDRS][64], v6[NAME_MAX_ADDRS][64];
	int n4, n6;
	int notfound; /* NXDOMAIN/NODATA for every address question */
	char why[600];
	/* DANE: the MX answer that named it was validated (or none was
	 * asked); an address answer was not; the TLSA answer */
	int mx_secure, addr_insecure, tlsa_asked, tlsa_secure;
	uint32_t tlsa_status;
	char *tlsa; /* records, one a line; NULL for none */
	char tlsa_error[300];
};

/* One MX question of the first round: the domain's, or a relay's. */
struct lookup_slot {
	struct dest_lookup *lk;
	struct host_spec spec; /* relays; the domain has port smtp_port */
	int is_domain;
	int asked;
	int secure; /* the MX answer was DNSSEC-validated */
	uint32_t status;
	char error[300];
	int nmx;
	uint32_t pref[DNS_MAX_RECORDS];
	char *mx[DNS_MAX_RECORDS];
};

struct dest_lookup {
	struct qm_dest *d;
	int pending;
	uint32_t min_ttl;
	struct lookup_slot slots[1 + HOSTLIST_MAX];
	int nslots;
	struct lookup_name *names;
	int nnames;
	/* MTA-STS (sts.c): the domain's policy, asked beside the MX
	 * question; sts_have 0 when none applies */
	int sts_have;
	char sts_id[MTASTS_ID_MAX + 1];
	struct mtasts_policy sts;
	char sts_why[700];
};

int qm_dest_cmp(struct qm_dest *, struct qm_dest *);

int
qm_dest_cmp(struct qm_dest *a, struct qm_dest *b)
{
	return strcmp(a->key, b->key);
}
RB_GENERATE(qm_dest_tree, qm_dest, by_key, qm_dest_cmp);

static void lookup_round2(struct dest_lookup *);
static void lookup_finish(struct dest_lookup *);
static void dest_hosts_free(struct qm_dest *);

static dest_ready_fn *on_ready;

void
dest_init(dest_ready_fn *fn)
{
	RB_INIT(&qm->dests);
	on_ready = fn;
}

int
dest_window(const struct qm_dest *d)
{
	return sched_allowed(
	    &d->health, time(NULL), (int)qm->cfg.destination_concurrency_limit);
}

struct qm_dest *
dest_get(const struct route *r, const char *domain)
{
	struct qm_dest key, *d;
	int relay_only;
	const char *relays, *tls = r != NULL ? r->tls : "";
	char *k;

	relay_only = r ? r->action == ROUTE_SMARTHOST
	               : strcmp(qm->cfg.delivery_mode, "smarthost") == 0;
	relays = r && r->hosts && *r->hosts ? r->hosts : qm->cfg.smart_host;
	if (relay_only)
		xasprintf(&k, "relay %s tls=%s", relays, tls);
	else
		xasprintf(&k, "direct %s via %s tls=%s", domain, relays, tls);
	key.key = k;
	if ((d = RB_FIND(qm_dest_tree, &qm->dests, &key)) != NULL) {
		free(k);
		return d;
	}
	d = xcalloc(1, sizeof(*d));
	d->key = k;
	d->kind = relay_only ? DEST_RELAY : DEST_DIRECT;
	d->domain = xstrdup(relay_only ? "" : domain);
	d->relays = xstrdup(relays);
	strlcpy(d->tls, tls, sizeof(d->tls));
	TAILQ_INIT(&d->waiting);
	TAILQ_INIT(&d->blocked);
	sched_init(&d->health);
	RB_INSERT(qm_dest_tree, &qm->dests, d);
	return d;
}

int
dest_fresh(const struct qm_dest *d)
{
	return d->state == DEST_READY && time(NULL) < d->expires;
}

static int
is_numeric(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

static int
want_v4(void)
{
	return strcmp(qm->cfg.inet_protocols, "ipv6") != 0;
}

static int
want_v6(void)
{
	return strcmp(qm->cfg.inet_protocols, "ipv4") != 0;
}

static void
lookup_ttl(struct dest_lookup *lk, uint32_t ttl)
{
	if (ttl < lk->min_ttl)
		lk->min_ttl = ttl;
}

static void
lookup_done_one(struct dest_lookup *lk, int round)
{
	if (--lk->pending > 0)
		return;
	if (round == 1)
		lookup_round2(lk);
	else
		lookup_finish(lk);
}

/* ---- round 1: MX questions ---- */

static void
slot_answer(const struct dns_answer *a, void *arg)
{
	struct lookup_slot *s = arg;
	uint32_t i;

	s->status = a->status;
	s->secure = a->secure != 0;
	strlcpy(s->error, a->error ? a->error : "", sizeof(s->error));
	if (a->status == DNS_S_OK)
		for (i = 0; i < a->n && s->nmx < DNS_MAX_RECORDS; i++) {
			s->pref[s->nmx] = a->rec[i].pref;
			s->mx[s->nmx++] = xstrdup(a->rec[i].data);
		}
	if (a->status != DNS_S_TEMPFAIL)
		lookup_ttl(s->lk, a->ttl);
	lookup_done_one(s->lk, 1);
}

/* "dane" is the level in force for this destination: the route's
 * tls=, else smtp_tls_security_level. */
static int
dest_wants_dane(const struct qm_dest *d)
{
	return strcmp(*d->tls ? d->tls : qm->cfg.smtp_tls_security_level,
	           "dane") == 0;
}

/* Questions whose validation matters: every one of a DANE destination. */
static uint32_t
dest_dnssec(const struct qm_dest *d)
{
	return dest_wants_dane(d) ? DNS_Q_DNSSEC : 0;
}

static void
slot_ask(struct dest_lookup *lk, struct lookup_slot *s)
{
	s->lk = lk;
	if (s->spec.bracketed || is_numeric(s->spec.name))
		return;
	s->asked = 1;
	lk->pending++;
	resolve_query(
	    DNS_T_MX, s->spec.name, dest_dnssec(lk->d), slot_answer, s);
}

static void
sts_ready(const struct sts_result *r, void *arg)
{
	struct dest_lookup *lk = arg;

	if (r->policy != NULL) {
		lk->sts_have = 1;
		lk->sts = *r->policy;
		strlcpy(lk->sts_id, r->id, sizeof(lk->sts_id));
	}
	lookup_ttl(lk, r->ttl);
	lookup_done_one(lk, 1);
}

void
dest_resolve(struct qm_dest *d)
{
	struct host_spec specs[HOSTLIST_MAX];
	struct dest_lookup *lk;
	char err[256];
	int i, n;

	if (d->state == DEST_RESOLVING)
		return;
	d->state = DEST_RESOLVING;
	dest_hosts_free(d);
	d->result = DEST_OK;
	d->reason[0] = d->dsn[0] = '\0';
	lk = xcalloc(1, sizeof(*lk));
	lk->d = d;
	lk->min_ttl = DEST_MAX_TTL;
	lk->pending = 1; /* answers may come before we have asked all */
	d->lookup = lk;
	if (d->kind == DEST_DIRECT) {
		struct lookup_slot *s = &lk->slots[lk->nslots++];

		s->is_domain = 1;
		strlcpy(s->spec.name, d->domain, sizeof(s->spec.name));
		s->spec.port = (unsigned)qm->cfg.smtp_port;
		/* an address literal: user@[192.0.2.7] */
		s->spec.bracketed = d->domain[0] == '[';
	}
	n = hostlist_parse(d->relays, specs, HOSTLIST_MAX, err, sizeof(err));
	if (n == -1)
		log_warnx("bad relay list \"%s\": %s", d->relays, err);
	for (i = 0; i < n; i++)
		lk->slots[lk->nslots++].spec = specs[i];

	for (i = 0; i < lk->nslots; i++)
		slot_ask(lk, &lk->slots[i]);
	if (d->kind == DEST_DIRECT) {
		lk->pending++;
		sts_lookup(d->domain, sts_ready, lk);
	}
	lookup_done_one(lk, 1);
}

/* ---- between the rounds: which names, in which order ---- */

static struct lookup_name *
name_add(struct dest_lookup *lk, const char *name, const char *nexthop,
    unsigned port, uint32_t flags)
{
	struct lookup_name *nm;

	lk->names = xreallocarray(lk->names, lk->nnames + 1, sizeof(*nm));
	nm = &lk->names[lk->nnames++];
	memset(nm, 0, sizeof(*nm));
	nm->lk = lk;
	strlcpy(nm->name, name, sizeof(nm->name));
	strlcpy(nm->nexthop, nexthop, sizeof(nm->nexthop));
	nm->port = port;
	nm->flags = flags;
	nm->pref = -1;
	nm->numeric = is_numeric(name);
	return nm;
}

/*
 * An exchanger name a session can be opened to: letters, digits, '-',
 * '_' and dots. A name server may answer anything; an exchanger it
 * names otherwise is passed over (as if it had no address), so the
 * destination defers rather than a worker refusing the job.
 */
static int
mx_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < 256 &&
	    strspn(name,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789-_.") == n;
}

/* Order exchangers by preference, shuffling equal ones (RFC 5321 5.1). */
static void
mx_order(struct lookup_slot *s)
{
	uint32_t tp;
	char *tn;
	int i, j;

	for (i = s->nmx - 1; i > 0; i--) {
		j = (int)arc4random_uniform((uint32_t)i + 1);
		tp = s->pref[i], s->pref[i] = s->pref[j], s->pref[j] = tp;
		tn = s->mx[i], s->mx[i] = s->mx[j], s->mx[j] = tn;
	}
	for (i = 1; i < s->nmx; i++) /* stable: keeps the shuffle within */
		for (j = i; j > 0 && s->pref[j - 1] > s->pref[j]; j--) {
			tp = s->pref[j], s->pref[j] = s->pref[j - 1],
			s->pref[j - 1] = tp;
			tn = s->mx[j], s->mx[j] = s->mx[j - 1],
			s->mx[j - 1] = tn;
		}
}

/* A name from slot s: the DANE part of its lookup depends on whether the
 * answer that named it was validated. */
static struct lookup_name *
slot_name_add(struct dest_lookup *lk, const struct lookup_slot *s,
    const char *name, const char *relay, uint32_t flags)
{
	struct lookup_name *nm = name_add(lk, name, relay, s->spec.port, flags);

	nm->mx_secure = !s->asked || s->secure;
	return nm;
}

static void
dest_set_fail(struct qm_dest *d, enum dest_result r, const char *dsn,
    const char *fmt, const char *a, const char *b)
{
	if (d->result == DEST_PERMFAIL && r != DEST_PERMFAIL)
		return;
	d->result = r;
	strlcpy(d->dsn, dsn, sizeof(d->dsn));
	snprintf(d->reason, sizeof(d->reason), fmt, a, b);
}

/* The names an MX answer stands for; a failure is noted on the dest. */
static void
slot_names(struct dest_lookup *lk, struct lookup_slot *s)
{
	uint32_t flags = s->is_domain ? 0 : HOST_F_RELAY;
	const char *what = s->is_domain ? "" : "relay host ";
	const char *relay = s->is_domain ? "" : s->spec.name;
	char lit[256];
	int i, real = 0;

	if (!s->asked) {
		strlcpy(lit, s->spec.name, sizeof(lit));
		if (s->is_domain) { /* [192.0.2.7] or [IPv6:2001:db8::1] */
			lit[strcspn(lit, "]")] = '\0';
			memmove(lit, lit + 1, strlen(lit));
			if (strncasecmp(lit, "IPv6:", 5) == 0)
				memmove(lit, lit + 5, strlen(lit + 5) + 1);
		}
		slot_name_add(lk, s, lit, relay, flags);
		return;
	}
	switch (s->status) {
	case DNS_S_OK:
		mx_order(s);
		for (i = 0; i < s->nmx; i++)
			real += *s->mx[i] != '\0';
		if (real == 0) {
			dest_set_fail(lk->d,
			    s->is_domain ? DEST_PERMFAIL : DEST_TEMPFAIL,
			    s->is_domain ? "5.1.10" : "4.3.5",
			    "%sdomain %s does not accept mail (nullMX)", what,
			    s->spec.name);
			return;
		}
		for (i = 0; i < s->nmx; i++)
			if (!mx_name_ok(s->mx[i]))
				continue;
			else if (s->is_domain)
				slot_name_add(lk, s, s->mx[i], relay, flags)
				    ->pref = (int)s->pref[i];
			else
				slot_name_add(lk, s, s->mx[i], relay, flags);
		return;
	case DNS_S_NODATA: /* implicit MX: the name itself */
		slot_name_add(lk, s, s->spec.name, relay, flags);
		return;
	case DNS_S_NXDOMAIN:
		if (s->is_domain)
			dest_set_fail(lk->d, DEST_PERMFAIL, "5.1.2",
			    "Host or domain name not found. Name service error "
			    "for name=%s type=MX: Host not found%s",
			    s->spec.name, "");
		else
			dest_set_fail(lk->d, DEST_TEMPFAIL, "4.3.5",
			    "relay host %s not found: %s", s->spec.name,
			    "Host not found");
		return;
	case DNS_S_BADNAME: /* UTF-8 without an A-label (IDNA 2008) */
		if (s->is_domain)
			dest_set_fail(lk->d, DEST_PERMFAIL, "5.1.2",
			    "bad destination domain %s: %s", s->spec.name,
			    s->error);
		else
			dest_set_fail(lk->d, DEST_TEMPFAIL, "4.3.5",
			    "relay host %s: %s", s->spec.name, s->error);
		return;
	default:
		dest_set_fail(lk->d, DEST_TEMPFAIL,
		    s->is_domain ? "4.4.3" : "4.3.5", "%s%s", what,
		    *s->error ? s->error : "temporary DNS failure");
	}
}

/* ---- round 2: address questions ---- */

static void
name_answer(const struct dns_answer *a, void *arg, int v6)
{
	struct lookup_name *nm = arg;
	uint32_t i;

	if (a->status != DNS_S_TEMPFAIL && !a->secure)
		nm->addr_insecure = 1;
	if (a->status == DNS_S_OK) {
		for (i = 0; i < a->n; i++) {
			if (v6 && nm->n6 < NAME_MAX_ADDRS)
				strlcpy(nm->v6[nm->n6++], a->rec[i].data, 64);
			else if (!v6 && nm->n4 < NAME_MAX_ADDRS)
				strlcpy(nm->v4[nm->n4++], a->rec[i].data, 64);
		}
		nm->notfound = 0;
	} else if (a->status == DNS_S_TEMPFAIL) {
		snprintf(nm->why, sizeof(nm->why), "%s",
		    *a->error ? a->error : "temporary DNS failure");
		nm->notfound = 0;
	} else if (a->status == DNS_S_BADNAME) {
		if (nm->n4 + nm->n6 == 0)
			snprintf(nm->why, sizeof(nm->why),
			    "bad destination host %s: %s", nm->name, a->error);
	} else if (nm->n4 + nm->n6 == 0 && nm->why[0] == '\0')
		snprintf(nm->why, sizeof(nm->why),
		    "Host or domain name not found. Name service error for "
		    "name=%s type=%s: Host %s",
		    nm->name, v6 ? "AAAA" : "A",
		    a->status == DNS_S_NXDOMAIN
		        ? "not found"
		        : "found but no data record of requested type");
	if (a->status != DNS_S_TEMPFAIL)
		lookup_ttl(nm->lk, a->ttl);
	lookup_done_one(nm->lk, 2);
}

static void
name_answer4(const struct dns_answer *a, void *arg)
{
	name_answer(a, arg, 0);
}

static void
name_answer6(const struct dns_answer *a, void *arg)
{
	name_answer(a, arg, 1);
}

/* The TLSA answer: records joined one a line, validated or not. */
static void
name_answer_tlsa(const struct dns_answer *a, void *arg)
{
	struct lookup_name *nm = arg;
	size_t len = 0, off = 0;
	uint32_t i;

	nm->tlsa_status = a->status;
	nm->tlsa_secure = a->secure != 0;
	strlcpy(
	    nm->tlsa_error, a->error ? a->error : "", sizeof(nm->tlsa_error));
	if (a->status == DNS_S_OK && a->n > 0) {
		for (i = 0; i < a->n; i++)
			len += strlen(a->rec[i].data) + 1;
		nm->tlsa = xmalloc(len);
		for (i = 0; i < a->n; i++)
			off += (size_t)snprintf(nm->tlsa + off, len - off,
			    "%s%s", i ? "\n" : "", a->rec[i].data);
	}
	if (a->status != DNS_S_TEMPFAIL)
		lookup_ttl(nm->lk, a->ttl);
	lookup_done_one(nm->lk, 2);
}

/* RFC 7672 2.2.2: TLSA records are looked for only at a host reached
 * through validated answers; they count only if its addresses are
 * validated too (name_dane()). */
static void
name_ask_tlsa(struct dest_lookup *lk, struct lookup_name *nm)
{
	char qname[300];

	if (!dest_wants_dane(lk->d) || !nm->mx_secure || nm->numeric)
		return;
	snprintf(qname, sizeof(qname), "_%u._tcp.%s", nm->port, nm->name);
	nm->tlsa_asked = 1;
	lk->pending++;
	resolve_query(DNS_T_TLSA, qname, DNS_Q_DNSSEC, name_answer_tlsa, nm);
}

static void
lookup_round2(struct dest_lookup *lk)
{
	int i, n;

	lk->pending = 1;
	for (i = 0; i < lk->nslots; i++)
		slot_names(lk, &lk->slots[i]);
	n = lk->nnames; /* names[] must not move while questions are out */
	for (i = 0; i < n; i++) {
		struct lookup_name *nm = &lk->names[i];

		if (nm->numeric) {
			if (strchr(nm->name, ':') != NULL)
				strlcpy(nm->v6[nm->n6++], nm->name, 64);
			else
				strlcpy(nm->v4[nm->n4++], nm->name, 64);
			continue;
		}
		nm->notfound = 1;
		if (want_v4()) {
			lk->pending++;
			resolve_query(DNS_T_A, nm->name, dest_dnssec(lk->d),
			    name_answer4, nm);
		}
		if (want_v6()) {
			lk->pending++;
			resolve_query(DNS_T_AAAA, nm->name, dest_dnssec(lk->d),
			    name_answer6, nm);
		}
		name_ask_tlsa(lk, nm);
	}
	lookup_done_one(lk, 2);
}

/* ---- the result ---- */

/*
 * What DANE means for a name (RFC 7672 2.2): 1 with usable-looking TLSA
 * records (validated, like every answer on the way to them), 0 when it
 * does not apply (level "may"), -1 when the validated path ends in a
 * failed TLSA lookup (a DNSSEC-bogus answer is a SERVFAIL): the host
 * must not be used, since an attacker could be hiding its records.
 */
static int
name_dane(struct lookup_name *nm)
{
	if (!nm->tlsa_asked || nm->addr_insecure)
		return 0;
	switch (nm->tlsa_status) {
	case DNS_S_OK:
		return nm->tlsa_secure && nm->tlsa != NULL ? 1 : 0;
	case DNS_S_TEMPFAIL:
		snprintf(nm->why, sizeof(nm->why),
		    "TLSA lookup error for _%u._tcp.%s: %s", nm->port, nm->name,
		    *nm->tlsa_error ? nm->tlsa_error : "temporary DNS failure");
		return -1;
	default: /* validated or not, no records: no DANE */
		return 0;
	}
}

static void
host_add(struct qm_dest *d, const struct lookup_name *nm, const char *addr,
    int dane, int sts)
{
	struct dest_host *h;

	if ((nm->flags & HOST_F_RELAY) == 0 && strchr(addr, ':') != NULL &&
	    !want_v6())
		return;
	d->hosts = xreallocarray(d->hosts, d->nhosts + 1, sizeof(*h));
	h = &d->hosts[d->nhosts++];
	strlcpy(h->name, nm->name, sizeof(h->name));
	strlcpy(h->nexthop, nm->nexthop, sizeof(h->nexthop));
	strlcpy(h->addr, addr, sizeof(h->addr));
	h->port = nm->port;
	h->flags = nm->flags;
	h->pref = nm->pref;
	h->tlsa = dane == 1 ? xstrdup(nm->tlsa) : NULL;
	h->sts = sts;
}

static void
dest_hosts_free(struct qm_dest *d)
{
	int i;

	for (i = 0; i < d->nhosts; i++)
		free(d->hosts[i].tlsa);
	free(d->hosts);
	d->hosts = NULL;
	d->nhosts = 0;
}

/*
 * The MTA-STS policy that applies to the exchangers: none when DANE does
 * for one of them (RFC 8461 2: DANE wins).
 */
static const struct mtasts_policy *
lookup_sts(struct dest_lookup *lk)
{
	int i;

	if (!lk->sts_have)
		return NULL;
	for (i = 0; i < lk->nnames; i++)
		if ((lk->names[i].flags & HOST_F_RELAY) == 0 &&
		    lk->names[i].n4 + lk->names[i].n6 > 0 &&
		    name_dane(&lk->names[i]) == 1) {
			log_info("%s: DANE applies; MTA-STS policy %s not used",
			    lk->d->domain, lk->sts_id);
			return NULL;
		}
	return &lk->sts;
}

/* Whether an exchanger may be used under the policy (RFC 8461 4.1):
 * one not listed is passed over in enforce mode, logged in testing. */
static int
sts_listed(struct dest_lookup *lk, const struct mtasts_policy *pol,
    const struct lookup_name *nm)
{
	char mx[512];

	if (mtasts_mx_match(pol, nm->name))
		return 1;
	mtasts_mx_text(pol, mx, sizeof(mx));
	if (pol->mode == MTASTS_TESTING) {
		log_info("%s: not listed in MTA-STS policy %s of %s (mx: %s); "
		         "testing mode: used all the same",
		    nm->name, lk->sts_id, lk->d->domain, mx);
		return 1;
	}
	snprintf(lk->sts_why, sizeof(lk->sts_why),
	    "MTA-STS policy %s of %s (enforce) lists no exchanger of it that "
	    "could be used (mx: %s)",
	    lk->sts_id, lk->d->domain, mx);
	log_info("%s: not used: not listed in MTA-STS policy %s of %s (mx: %s)",
	    nm->name, lk->sts_id, lk->d->domain, mx);
	return 0;
}

/* Addresses in order: exchangers, then relays, each part capped at
 * smtp_mx_address_limit. */
static void
lookup_collect(struct dest_lookup *lk, const char **why, int *all_notfound)
{
	struct qm_dest *d = lk->d;
	const struct mtasts_policy *pol = lookup_sts(lk);
	int i, j, part_count[2] = {0, 0}, limit, sts;

	limit = (int)qm->cfg.smtp_mx_address_limit;
	*all_notfound = 1;
	*why = NULL;
	for (i = 0; i < lk->nnames; i++) {
		struct lookup_name *nm = &lk->names[i];
		int part = (nm->flags & HOST_F_RELAY) != 0, dane;

		if (nm->n4 + nm->n6 == 0) {
			*why = nm->why;
			*all_notfound &= nm->notfound;
			continue;
		}
		*all_notfound = 0;
		if ((dane = name_dane(nm)) == -1) {
			log_info("%s: not used: %s", nm->name, nm->why);
			*why = nm->why;
			continue;
		}
		if (nm->tlsa_asked)
			log_debug("%s: %s", nm->name,
			    dane == 1 ? "DANE, validated TLSA records"
			              : "no validated TLSA records: may");
		sts = part == 0 && pol != NULL ? (int)pol->mode : MTASTS_NONE;
		if (sts != MTASTS_NONE && !sts_listed(lk, pol, nm)) {
			*why = lk->sts_why;
			continue;
		}
		for (j = 0; j < nm->n4 && part_count[part] < limit; j++) {
			host_add(d, nm, nm->v4[j], dane, sts);
			part_count[part]++;
		}
		for (j = 0; j < nm->n6 && part_count[part] < limit; j++) {
			host_add(d, nm, nm->v6[j], dane, sts);
			part_count[part]++;
		}
	}
}

static void
lookup_free(struct dest_lookup *lk)
{
	int i, j;

	for (i = 0; i < lk->nslots; i++)
		for (j = 0; j < lk->slots[i].nmx; j++)
			free(lk->slots[i].mx[j]);
	for (i = 0; i < lk->nnames; i++)
		free(lk->names[i].tlsa);
	free(lk->names);
	free(lk);
}

static void
lookup_finish(struct dest_lookup *lk)
{
	struct qm_dest *d = lk->d;
	const char *why;
	int all_notfound;

	lookup_collect(lk, &why, &all_notfound);
	if (d->result != DEST_PERMFAIL && d->nhosts > 0)
		d->result = DEST_OK; /* the fallback relays made up for it */
	else if (d->result == DEST_OK && d->nhosts == 0) {
		if (all_notfound && d->kind == DEST_DIRECT && lk->nnames > 0 &&
		    *d->relays == '\0')
			dest_set_fail(d, DEST_PERMFAIL, "5.4.4", "%s%s",
			    why ? why : "no address for the destination", "");
		else
			dest_set_fail(d, DEST_TEMPFAIL,
			    d->kind == DEST_RELAY ? "4.3.5" : "4.4.3", "%s%s",
			    why && *why ? why : "no usable address", "");
	}
	d->expires = time(NULL) +
	    (d->result == DEST_OK
	            ? (lk->min_ttl < FAIL_TTL ? FAIL_TTL : lk->min_ttl)
	            : FAIL_TTL);
	d->state = DEST_READY;
	d->lookup = NULL;
	lookup_free(lk);
	on_ready(d);
}

/* The window may have grown: as many blocked messages may go on as
 * there are free slots. */
int
dest_job_ended(struct qm_dest *d)
{
	d->in_flight--;
	return dest_window(d) - d->in_flight;
}

/* After a reload: look every destination up again before its next use. */
void
dest_expire_all(void)
{
	struct qm_dest *d;

	RB_FOREACH(d, qm_dest_tree, &qm->dests)
	d->expires = 0;
}

/* Forget destinations nobody uses any more. */
void
dest_sweep(void)
{
	struct qm_dest *d, *next;
	time_t now = time(NULL);

	for (d = RB_MIN(qm_dest_tree, &qm->dests); d != NULL; d = next) {
		next = RB_NEXT(qm_dest_tree, &qm->dests, d);
		if (d->state == DEST_RESOLVING || d->in_flight > 0 ||
		    !TAILQ_EMPTY(&d->waiting) || !TAILQ_EMPTY(&d->blocked) ||
		    now < d->expires)
			continue;
		RB_REMOVE(qm_dest_tree, &qm->dests, d);
		free(d->key);
		free(d->domain);
		free(d->relays);
		dest_hosts_free(d);
		free(d);
	}
}

/*
 * The order in which one job tries the hosts: as looked up, except that
 * exchangers of equal preference start at a random one of them each
 * time, so that they share the load even while the lookup is reused.
 */
void
dest_host_order(const struct qm_dest *d, int *order)
{
	int i = 0, j, k, n, nblk, start, o = 0;
	int blk[64];

	while (i < d->nhosts) {
		if (d->hosts[i].pref < 0) {
			order[o++] = i++;
			continue;
		}
		/* a run of equal preference, made of one block per name */
		for (j = i, nblk = 0;
		     j < d->nhosts && d->hosts[j].pref == d->hosts[i].pref; j++)
			if ((j == i ||
			        strcmp(d->hosts[j].name,
			            d->hosts[j - 1].name) != 0) &&
			    nblk < 64)
				blk[nblk++] = j;
		start = (int)arc4random_uniform((uint32_t)nblk);
		for (k = 0; k < nblk; k++) {
			int b = blk[(start + k) % nblk];
			int end = (start + k) % nblk + 1 < nblk
			    ? blk[(start + k) % nblk + 1]
			    : j;

			for (n = b; n < end; n++)
				order[o++] = n;
		}
		i = j;
	}
}

/*
 * A session-level outcome (connection, greeting, EHLO/HELO): grows or
 * shrinks the window. 1 when the destination is suspended: every message
 * waiting for a slot is then deferred now, in one step, without a
 * connection.
 */
int
dest_session_result(struct qm_dest *d, int ok, const char *reason)
{
	time_t now = time(NULL);
	int limit = (int)qm->cfg.destination_concurrency_limit;

	if (ok) {
		sched_success(&d->health, limit);
		return 0;
	}
	if (!sched_failure(
	        &d->health, now, qm->cfg.min_backoff, qm->cfg.max_backoff))
		return 0;
	snprintf(d->suspend_reason, sizeof(d->suspend_reason),
	    "delivery temporarily suspended: %s", reason);
	log_info("%s: destination suspended for %llds: %s",
	    d->kind == DEST_DIRECT ? d->domain : d->relays,
	    (long long)(d->health.dead_until - now), reason);
	return 1;
}

/* ncctl flush / requeue: suspended destinations get their probe now. */
void
dest_wake_all(void)
{
	struct qm_dest *d;

	RB_FOREACH(d, qm_dest_tree, &qm->dests)
	sched_wake(&d->health);
}
