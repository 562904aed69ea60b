"""MTA-STS for direct delivery (SPEC 12, RFC 8461; doc/design.md, "MTA-STS")
end to end: dnsmasq serves the domain's MX records, its `_mta-sts` TXT
record and mta-sts.DOMAIN, a Python HTTPS server (PolicyServer) serves the
policy file with a certificate from a throwaway CA that smtp_tls_CAfile
trusts, and aiosmtpd exchangers offer STARTTLS (or not) with certificates
from that CA (or another). Only smtp_mta_sts_port differs from production.

  enforce, listed exchanger, verified          test_enforce_verified_delivered
  enforce, first exchanger not listed          test_enforce_skips_unlisted_exchanger
  enforce, no exchanger listed                 test_enforce_none_listed_deferred
  enforce, exchanger without STARTTLS          test_downgrade_refused[enforce]
  testing, exchanger without STARTTLS          test_downgrade_refused[testing]
  no policy, exchanger without STARTTLS        test_downgrade_refused[none]
  enforce, untrusted exchanger certificate     test_enforce_untrusted_certificate_deferred
  testing, untrusted certificate, unlisted MX  test_testing_logs_and_delivers
  policy host with a bad certificate           test_policy_host_bad_certificate
  kept across a restart, TXT id change         test_kept_across_restart_and_id_change
  kept policy while the new one cannot be had  test_kept_policy_when_fetch_fails
  refreshed past half max_age, then expired    test_refreshed_then_expired
  ncctl tls-report: sts sessions and failures  test_tls_report_counts_sts
  smtp_mta_sts = no                            test_turned_off
  policy file not valid                        test_invalid_policy_ignored
"""

import json
import re

import pytest

from instance import wait_for
from msgs import message, new_token
from peers import PolicyServer
from test_tls import cas, deferred_reason, delivered  # noqa: F401 (cas)

SENDER = "sender@test.example"
DOMAIN = "sts.example"
RCPT = "rcpt@" + DOMAIN
TLS_LINE = re.compile(
    r"\b(Verified|Trusted|Untrusted) TLS connection established to "
    r"(\S+?)\[([^\]]+)\]:(\d+): TLSv1\.[23] with cipher \S+ "
    r"\(\d+/\d+ bits\) policy=(\S+)")


@pytest.fixture
def policy_server(cas):
    """make(policy, ca=trusted, name=mta-sts.sts.example) -> PolicyServer."""
    made = []

    def make(policy, ca=None, name="mta-sts." + DOMAIN):
        ctx = (ca or cas[0]).server_context([name])
        ps = PolicyServer(ctx, policy)
        made.append(ps)
        return ps
    yield make
    for ps in made:
        ps.close()


def policy(mode, *mx, max_age=86400):
    return "version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (
        mode, "".join("mx: %s\r\n" % m for m in mx), max_age)


def zone(mx, txt_id="20261207T1", extra=()):
    """MX records (pref, name, address) for sts.example, the TXT record,
    mta-sts.sts.example at 127.0.0.1."""
    recs = [("MX", DOMAIN, pref, name) for pref, name, _ in mx]
    recs += [("A", name, addr) for _, name, addr in mx]
    if txt_id is not None:
        recs.append(("TXT", "_mta-sts." + DOMAIN,
                     "v=STSv1; id=%s;" % txt_id))
    recs.append(("A", "mta-sts." + DOMAIN, "127.0.0.1"))
    return recs + list(extra)


def start(instances, net, ca, ps, **settings):
    s = {"smtp_tls_CAfile": ca.ca_file, "smtp_mta_sts_port": str(ps.port)}
    s.update(settings)
    return instances(**net.settings(**s)).start()


def send(inst, rcpt=RCPT):
    tok = new_token()
    data, _ = message(tok, rcpt)
    inst.submit([rcpt], data, sender=SENDER)
    return tok


def tls_lines(inst):
    return [m.groups() for m in
            (TLS_LINE.search(line) for line in inst.log().splitlines())
            if m]


def mx_sink(net, addr, ca, name, tls=True):
    return net.sink(addr, tls_context=ca.server_context([name])
                    if tls else None)


def test_enforce_verified_delivered(instances, net, cas, policy_server):
    ca = cas[0]
    s = mx_sink(net, "127.0.0.2", ca, "mx1." + DOMAIN)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN))
    net.dns(zone([(10, "mx1." + DOMAIN, "127.0.0.2")]))
    inst = start(instances, net, ca, ps)
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert m.tls
    assert ps.requests == [("mta-sts." + DOMAIN + ":%d" % ps.port,
                            "/.well-known/mta-sts.txt")] or \
        ps.requests == [("mta-sts." + DOMAIN, "/.well-known/mta-sts.txt")], \
        ps.requests
    assert inst.log_lines("sts.example: MTA-STS policy 20261207T1 fetched: "
                          "mode=enforce max_age=86400 mx=mx1.sts.example")
    assert [(t[0], t[1], t[4]) for t in tls_lines(inst)] == [
        ("Verified", "mx1." + DOMAIN, "mta-sts")], tls_lines(inst)


def test_enforce_skips_unlisted_exchanger(instances, net, cas,
                                          policy_server):
    # The preferred exchanger is not in the policy: it is never contacted.
    ca = cas[0]
    first = mx_sink(net, "127.0.0.2", ca, "mx0.other.example").count_attempts()
    listed = mx_sink(net, "127.0.0.3", ca, "mx1." + DOMAIN)
    ps = policy_server(policy("enforce", "*." + DOMAIN))
    net.dns(zone([(10, "mx0.other.example", "127.0.0.2"),
                  (20, "mx1." + DOMAIN, "127.0.0.3")]))
    inst = start(instances, net, ca, ps)
    tok = send(inst)
    delivered(inst, listed, tok)
    assert first.attempts() == 0 and first.count() == 0
    assert inst.log_lines("mx0.other.example: not used: not listed in "
                          "MTA-STS policy 20261207T1 of sts.example "
                          "(mx: *.sts.example)")
    assert [t[4] for t in tls_lines(inst)] == ["mta-sts"]


def test_enforce_none_listed_deferred(instances, net, cas, policy_server):
    ca = cas[0]
    s = mx_sink(net, "127.0.0.2", ca, "mx0.other.example").count_attempts()
    ps = policy_server(policy("enforce", "mx.elsewhere.example"))
    net.dns(zone([(10, "mx0.other.example", "127.0.0.2")]))
    inst = start(instances, net, ca, ps)
    send(inst)
    reason = deferred_reason(inst)
    assert "MTA-STS policy 20261207T1 of sts.example (enforce) lists no " \
        "exchanger of it that could be used (mx: mx.elsewhere.example)" \
        in reason, reason
    assert s.attempts() == 0
    assert not inst.log_lines("status=bounced")


@pytest.mark.parametrize("mode", ["enforce", "testing", "none"])
def test_downgrade_refused(instances, net, cas, policy_server, mode):
    # An exchanger (or someone on the path) that does not offer STARTTLS.
    ca = cas[0]
    s = mx_sink(net, "127.0.0.2", ca, "mx1." + DOMAIN, tls=False)
    ps = policy_server(policy(mode, "mx1." + DOMAIN) if mode != "none" else
                       policy("none"))
    net.dns(zone([(10, "mx1." + DOMAIN, "127.0.0.2")]))
    inst = start(instances, net, ca, ps)
    tok = send(inst)
    if mode == "enforce":
        reason = deferred_reason(inst)
        assert "TLS is required" in reason and "mx1.sts.example" in reason, \
            reason
        assert s.count() == 0 and s.mail_log == [], "sent in plain text"
        assert not inst.log_lines("status=bounced")
        return
    m = delivered(inst, s, tok)
    assert not m.tls
    testing = inst.log_lines("MTA-STS policy in testing mode")
    if mode == "testing":
        assert len(testing) == 1 and "mx1.sts.example" in testing[0], \
            inst.log()
    else:
        assert testing == []
        assert inst.log_lines("MTA-STS policy 20261207T1 fetched: mode=none")


def test_enforce_untrusted_certificate_deferred(instances, net, cas,
                                                policy_server):
    good, bad = cas
    s = mx_sink(net, "127.0.0.2", bad, "mx1." + DOMAIN)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN))
    net.dns(zone([(10, "mx1." + DOMAIN, "127.0.0.2")]))
    inst = start(instances, net, good, ps)
    send(inst)
    reason = deferred_reason(inst)
    assert "certificate verification failed" in reason, reason
    assert s.count() == 0
    assert [t[4] for t in tls_lines(inst)] == ["mta-sts"]


def test_testing_logs_and_delivers(instances, net, cas, policy_server):
    # testing: an unlisted exchanger with an untrusted certificate is used,
    # and both faults are logged.
    good, bad = cas
    s = mx_sink(net, "127.0.0.2", bad, "mx0.other.example")
    ps = policy_server(policy("testing", "mx1." + DOMAIN))
    net.dns(zone([(10, "mx0.other.example", "127.0.0.2")]))
    inst = start(instances, net, good, ps)
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert m.tls
    assert inst.log_lines("mx0.other.example: not listed in MTA-STS policy "
                          "20261207T1 of sts.example (mx: mx1.sts.example);"
                          " testing mode: used all the same")
    assert len(inst.log_lines("MTA-STS policy in testing mode")) == 1
    assert [t[4] for t in tls_lines(inst)] == ["mta-sts-testing"]


def test_policy_host_bad_certificate(instances, net, cas, policy_server):
    # The policy host's certificate is from a CA ncmta does not trust: no
    # policy (RFC 8461 5), the mail goes as may, the failure is logged.
    good, bad = cas
    s = mx_sink(net, "127.0.0.2", good, "mx0.other.example", tls=False)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN), ca=bad)
    net.dns(zone([(10, "mx0.other.example", "127.0.0.2")]))
    inst = start(instances, net, good, ps)
    tok = send(inst)
    delivered(inst, s, tok)
    lines = inst.log_lines("sts.example: MTA-STS policy 20261207T1:",
                           "no MTA-STS policy applies")
    assert len(lines) >= 1 and "certificate" in lines[0], inst.log()


def test_invalid_policy_ignored(instances, net, cas, policy_server):
    ca = cas[0]
    s = mx_sink(net, "127.0.0.2", ca, "mx0.other.example", tls=False)
    ps = policy_server("version: STSv1\nmode: enforce\nmax_age: soon\n"
                       "mx: mx1.sts.example\n")
    net.dns(zone([(10, "mx0.other.example", "127.0.0.2")]))
    inst = start(instances, net, ca, ps)
    tok = send(inst)
    delivered(inst, s, tok)
    lines = inst.log_lines("MTA-STS policy 20261207T1 is not valid")
    assert lines and "max_age" in lines[0], inst.log()


def two_exchangers(instances, net, ca, policy_server):
    """mx1 and mx2 of equal preference, both with good certificates, a
    policy (id 20261207T1) listing mx1 only, and a started instance."""
    mx1 = mx_sink(net, "127.0.0.2", ca, "mx1." + DOMAIN)
    mx2 = mx_sink(net, "127.0.0.3", ca, "mx2." + DOMAIN)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN))
    mx = [(10, "mx1." + DOMAIN, "127.0.0.2"), (10, "mx2." + DOMAIN,
                                               "127.0.0.3")]
    net.dns(zone(mx), ttl=1)
    return start(instances, net, ca, ps), mx1, mx2, ps, mx


def new_dns(inst, net, records, **settings):
    """A new name server with records, taken by the running instance
    (reload, then the resolver's cache emptied)."""
    ns = net.dns(records, ttl=1)
    inst.configure(dns_servers=ns.spec, **settings)
    inst.ctl("reload", check=True)
    inst.ctl("resolver", "flush", check=True)
    return ns


def test_kept_across_restart_and_id_change(instances, net, cas,
                                           policy_server):
    inst, mx1, mx2, ps, mx = two_exchangers(instances, net, cas[0],
                                            policy_server)
    tok = send(inst)
    delivered(inst, mx1, tok)
    assert len(ps.requests) == 1

    # Restarted, the policy is the one kept in the queue database: the
    # record's id is the same, so the file is not fetched again, and mx2
    # (an exchanger as good as mx1) is still passed over.
    inst.stop()
    inst.start()
    for n in range(2, 5):
        send(inst)
        assert mx1.wait_count(n, 30), inst.log()
        inst.wait_empty()
    assert mx2.count() == 0
    assert len(ps.requests) == 1, ps.requests

    # A new id: the new policy (mx2 only) is fetched and applies.
    ps.policy = policy("enforce", "mx2." + DOMAIN)
    new_dns(inst, net, zone(mx, txt_id="20261207T2"))
    tok = send(inst)
    assert mx2.wait_count(1, 30), inst.log()
    inst.wait_empty()
    assert len(ps.requests) == 2, ps.requests
    assert inst.log_lines("MTA-STS policy 20261207T2 fetched: mode=enforce")


def test_turned_off(instances, net, cas, policy_server):
    ca = cas[0]
    s = mx_sink(net, "127.0.0.2", ca, "mx0.other.example", tls=False)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN))
    ns = net.dns(zone([(10, "mx0.other.example", "127.0.0.2")]))
    inst = start(instances, net, ca, ps, smtp_mta_sts="no")
    tok = send(inst)
    delivered(inst, s, tok)
    assert ps.requests == []
    assert ns.queries("TXT") == []


def test_kept_policy_when_fetch_fails(instances, net, cas, policy_server):
    # The record's id changes, but the new file cannot be had (404): the
    # kept policy goes on applying (RFC 8461 5.1), mx2 stays unused.
    inst, mx1, mx2, ps, mx = two_exchangers(instances, net, cas[0],
                                            policy_server)
    delivered(inst, mx1, send(inst))
    ps.status = 404
    new_dns(inst, net, zone(mx, txt_id="20261207T2"))
    for n in range(2, 5):
        send(inst)
        assert mx1.wait_count(n, 30), inst.log()
        inst.wait_empty()
    assert mx2.count() == 0
    assert len(ps.requests) >= 2, ps.requests
    lines = inst.log_lines("MTA-STS policy 20261207T2: policy fetch from "
                           "mta-sts.sts.example", "HTTP status 404",
                           "the kept MTA-STS policy 20261207T1 applies")
    assert lines, inst.log()


def test_refreshed_then_expired(instances, net, cas, policy_server):
    # max_age 4: past 2 s the file is fetched again though the id is the
    # same ("refreshed"); once the host is gone and 4 s have passed the
    # kept policy expires and no longer applies.
    ca = cas[0]
    mx1 = mx_sink(net, "127.0.0.2", ca, "mx1." + DOMAIN)
    mx2 = mx_sink(net, "127.0.0.3", ca, "mx2." + DOMAIN, tls=False)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN, max_age=4))
    net.dns(zone([(10, "mx1." + DOMAIN, "127.0.0.2"),
                  (20, "mx2." + DOMAIN, "127.0.0.3")]), ttl=1)
    inst = start(instances, net, ca, ps)
    delivered(inst, mx1, send(inst))
    sent = [1]

    def again():
        send(inst)
        sent[0] += 1
        assert mx1.wait_count(sent[0], 30), inst.log()
        inst.wait_empty()
        return len(ps.requests) >= 2
    wait_for(again, 30, "the policy fetched again past half its max_age")
    assert inst.log_lines("MTA-STS policy 20261207T1 refreshed")

    # the policy host fails from now on; mx1 goes away too, so that only
    # the end of the policy lets mail reach mx2 (unlisted, no STARTTLS)
    ps.status = 500
    mx1.stop()
    send(inst)
    wait_for(lambda: inst.log_lines("MTA-STS policy 20261207T1 expired"),
             30, "the kept policy to expire")
    inst.ctl("flush", check=True)
    assert mx2.wait_count(1, 30), inst.log()


def test_tls_report_counts_sts(instances, net, cas, policy_server):
    # One verified session under the policy, then a policy host whose
    # certificate is not trusted: sts success 1, sts-webpki-invalid 1.
    good, bad = cas
    s = mx_sink(net, "127.0.0.2", good, "mx1." + DOMAIN)
    ps = policy_server(policy("enforce", "mx1." + DOMAIN))
    net.dns(zone([(10, "mx1." + DOMAIN, "127.0.0.2")]))
    inst = start(instances, net, good, ps)
    delivered(inst, s, send(inst))
    other = "other.example"
    os_ = mx_sink(net, "127.0.0.3", good, "mx1." + other)
    ps2 = policy_server(policy("enforce", "mx1." + other), ca=bad,
                        name="mta-sts." + other)
    # the second policy host listens on another port: only one port can
    # be smtp_mta_sts_port, so it takes the first one's place
    ps.close()
    new_dns(inst, net, zone([(10, "mx1." + DOMAIN, "127.0.0.2")], extra=[
        ("MX", other, 10, "mx1." + other), ("A", "mx1." + other,
                                            "127.0.0.3"),
        ("TXT", "_mta-sts." + other, "v=STSv1; id=X1;"),
        ("A", "mta-sts." + other, "127.0.0.1")]),
        smtp_mta_sts_port=str(ps2.port))
    send(inst, "rcpt@" + other)
    assert os_.wait_count(1, 30), inst.log()
    inst.wait_empty()
    r = inst.ctl("tls-report", "--json", check=True)
    doc = json.loads(r.stdout.decode())
    got = {(p["policy"]["policy-type"], p["policy"]["policy-domain"]):
           (p["summary"]["total-successful-session-count"],
            p["summary"]["total-failure-session-count"],
            sorted(d["result-type"] for d in p.get("failure-details", [])))
           for p in doc["policies"]}
    assert got[("sts", DOMAIN)] == (1, 0, []), got
    assert got[("sts", other)] == (0, 1, ["sts-webpki-invalid"]), got
    assert got[("no-policy-found", other)] == (1, 0, []), got
