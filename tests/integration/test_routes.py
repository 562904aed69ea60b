"""The routing table (ncmta-routes(5), route_table): every action -- direct,
direct fallback, smarthost, reject (5xx bounces, 4xx defers), hold -- the
order in which patterns match (exact, then .parent, then *), line-numbered
errors from ncctl check and ncctl start, and ncctl reload switching tables
without a restart while a bad table is refused and the old one stays.

Peers as in test_direct: dnsmasq for the records, sinks on 127.0.0.x
sharing the smtp_port."""

import re
import time

import pytest

from instance import wait_for
from msgs import message, new_token, submit_many, token_of
from peers import skip_unless_attempts_countable

SENDER = "sender@test.example"


def mx(domain, addr, pref=10):
    host = "mx.%s" % domain
    return [("MX", domain, pref, host), ("A", host, addr)]


def send(inst, rcpt, n=1):
    rcpts = [rcpt] if isinstance(rcpt, str) else list(rcpt)
    toks = [new_token() for _ in range(n)]
    jobs = [(rcpts, message(t, rcpts[0], i)[0], SENDER)
            for i, t in enumerate(toks)]
    for r in submit_many(inst, jobs):
        assert r.returncode == 0, r.stderr
    return toks


def tokens(sink):
    return sorted(token_of(m) for m in sink.snapshot())


def routed(instances, net, table, **settings):
    """A started instance with the routing table text (where {P} stands
    for the sinks' port)."""
    inst = instances(**net.settings(**settings))
    inst.routes(table.replace("{P}", str(net.port)))
    return inst.start()


# -- actions ------------------------------------------------------------------


def test_route_direct_overrides_smarthost_mode(instances, net):
    ns = net.dns(mx("dest.example", "127.0.0.2") +
                 mx("other.example", "127.0.0.3"))
    exch, other_exch = net.sink("127.0.0.2"), net.sink("127.0.0.3")
    relay = net.sink("127.0.0.6")
    inst = routed(instances, net, "# direct for one domain\n"
                  "dest.example   direct\n",
                  delivery_mode="smarthost",
                  smart_host=net.hostspec("127.0.0.6"))
    t_dest = send(inst, "rcpt@dest.example")
    t_other = send(inst, "rcpt@other.example")
    assert exch.wait_count(1, 30), "route direct: the exchanger got nothing"
    assert relay.wait_count(1, 30), "unrouted mail did not go to smart_host"
    inst.wait_empty()
    assert tokens(exch) == t_dest and tokens(relay) == t_other
    assert other_exch.connections == 0
    assert ("MX", "dest.example") in ns.queries()
    assert ("MX", "other.example") not in ns.queries()


def test_route_direct_fallback(instances, net):
    net.dns(mx("legacy.example", "127.0.0.2") +
            mx("plain.example", "127.0.0.3"))
    net.sink("127.0.0.2", up=False)
    net.sink("127.0.0.3", up=False)
    fallback = net.sink("127.0.0.6")
    inst = routed(instances, net,
                  "legacy.example  direct fallback [127.0.0.6]:{P}\n")
    toks = send(inst, "rcpt@legacy.example")
    assert fallback.wait_count(1, 30), "the route's fallback got nothing"
    assert tokens(fallback) == toks
    # The fallback belongs to that route only: other domains defer.
    send(inst, "rcpt@plain.example")
    q = inst.wait_deferred(1, 30)
    assert q[0]["recipients"][0]["address"] == "rcpt@plain.example"
    time.sleep(2)
    assert fallback.count() == 1


def test_route_smarthost_in_direct_mode(instances, net):
    skip_unless_attempts_countable()
    ns = net.dns(mx("partner.example", "127.0.0.2"))
    exch = net.sink("127.0.0.2")
    first = net.sink("127.0.0.4", up=False).count_attempts()
    second = net.sink("127.0.0.5")
    inst = routed(instances, net,
                  "partner.example smarthost [127.0.0.4]:{P}, "
                  "[127.0.0.5]:{P}\n")
    toks = send(inst, "rcpt@partner.example", 3)
    assert second.wait_count(3, 30), "second route host got %d of 3" % (
        second.count())
    inst.wait_empty()
    assert tokens(second) == sorted(toks)
    assert first.attempts() >= 1, "the route's first host never tried"
    assert exch.connections == 0
    assert ("MX", "partner.example") not in ns.queries(), ns.queries()


def test_route_reject_5xx_bounces(instances, net):
    ns = net.dns(mx("dest.example", "127.0.0.2") +
                 mx("blocked.example", "127.0.0.3"))
    exch, blocked_exch = net.sink("127.0.0.2"), net.sink("127.0.0.3")
    inst = routed(instances, net,
                  "blocked.example reject 5.7.1 relaying to this domain "
                  "is disabled\n")
    send(inst, ["rcpt@blocked.example", "rcpt@dest.example"])
    assert exch.wait_count(1, 30)

    def line():
        return inst.log_lines("to=<rcpt@blocked.example>", "status=bounced")
    wait_for(line, 30, "the rejected recipient bounced")
    inst.wait_empty()
    text = line()[0]
    assert "dsn=5.7.1" in text, text
    assert "relaying to this domain is disabled" in text, text
    assert exch.snapshot()[0].rcpt_tos == ["rcpt@dest.example"]
    assert blocked_exch.connections == 0
    assert ("MX", "blocked.example") not in ns.queries()


def test_route_reject_4xx_defers(instances, net):
    net.dns(mx("later.example", "127.0.0.2"))
    exch = net.sink("127.0.0.2")
    inst = routed(instances, net, "later.example reject 4.7.1 not today\n")
    send(inst, "rcpt@later.example")
    q = inst.wait_deferred(1, 30)
    reason = q[0]["recipients"][0].get("delay_reason", "")
    assert "not today" in reason, q
    time.sleep(3)  # several retries (max_backoff 2s): still deferred
    q = inst.qshow_json()
    assert len(q) == 1 and q[0]["queue_name"] in ("deferred", "active"), q
    assert not inst.log_lines("status=bounced")
    assert inst.log_lines("to=<rcpt@later.example>", "status=deferred",
                          "not today")
    assert exch.connections == 0


def test_route_hold(instances, net):
    net.dns(mx("slow.example", "127.0.0.2") + mx("fast.example",
                                                  "127.0.0.3"))
    slow, fast = net.sink("127.0.0.2"), net.sink("127.0.0.3")
    inst = routed(instances, net, "slow.example   hold   # on hold\n")
    send(inst, "rcpt@slow.example")
    toks = send(inst, "rcpt@fast.example")
    assert fast.wait_count(1, 30)
    assert tokens(fast) == toks

    def held():
        q = inst.qshow_json()
        return q if len(q) == 1 and q[0]["queue_name"] == "hold" else None
    q = wait_for(held, 20, "the message on hold")
    qid = q[0]["queue_id"]
    listing = inst.qshow().stdout.decode()
    assert re.search(r"^%s!" % qid, listing, re.M), listing
    inst.ctl("flush", check=True)
    time.sleep(3)
    q = inst.qshow_json()
    assert [m["queue_name"] for m in q] == ["hold"], q
    assert slow.connections == 0
    assert not inst.log_lines("to=<rcpt@slow.example>", "status=")


# -- patterns -------------------------------------------------------------------


def test_pattern_precedence_exact_parent_star(instances, net):
    net.dns([])
    exact, parent, star = (net.sink(a) for a in ("127.0.0.2", "127.0.0.3",
                                                 "127.0.0.4"))
    # Listed in the reverse of their precedence: file order must not
    # matter.
    inst = routed(instances, net,
                  "*                 smarthost [127.0.0.4]:{P}\n"
                  ".prec.example     smarthost [127.0.0.3]:{P}\n"
                  "a.prec.example    smarthost [127.0.0.2]:{P}\n")
    cases = {
        "x@a.prec.example": exact,
        "x@A.Prec.Example": exact,  # domains match lower-cased
        "x@b.prec.example": parent,
        "x@deep.b.prec.example": parent,
        "x@sub.a.prec.example": parent,
        "x@prec.example": star,  # .parent matches subdomains only
        "x@elsewhere.example": star,
    }
    want = {}
    for rcpt, sink in cases.items():
        want.setdefault(sink.host, []).extend(send(inst, rcpt))
    for sink in (exact, parent, star):
        n = len(want[sink.host])
        assert sink.wait_count(n, 30), "%s got %d of %d" % (
            sink.host, sink.count(), n)
    inst.wait_empty()
    time.sleep(0.5)
    for sink in (exact, parent, star):
        got = sorted(token_of(m) for m in sink.snapshot())
        assert got == sorted(want[sink.host]), "%s got mail for %s" % (
            sink.host, sorted(r for m in sink.snapshot()
                              for r in m.rcpt_tos))


def test_spec_example_table_passes_check(instances, net):
    inst = instances(**net.settings())
    path = inst.routes(
        "# pattern            action\n"
        "example.com          direct\n"
        ".example.com         direct                         # subdomains\n"
        "partner.example      smarthost [mx.partner.example]:2525\n"
        "legacy.example       direct fallback [relay2.corp]:25\n"
        "blocked.example      reject 5.7.1 relaying to this domain is "
        "disabled\n"
        "slow.example         hold                           # on hold\n"
        "tls.example          smarthost [relay.corp]:587 tls=encrypt\n"
        "bare.example         direct fallback relay.corp\n"
        "*                    smarthost [relay.corp]:587, [relay-b.corp]:587\n"
        "\n")
    p = inst.ctl("check")
    assert p.returncode == 0, "%s rejected:\n%s%s" % (
        path, p.stdout.decode(), p.stderr.decode())


BAD_LINES = {
    "unknown_action": "bad.example deliver [127.0.0.2]:25",
    "no_action": "bad.example",
    "smarthost_without_hosts": "bad.example smarthost",
    "fallback_without_hosts": "bad.example direct fallback",
    "direct_junk": "bad.example direct sideways",
    "reject_2xx": "bad.example reject 2.0.0 fine",
    "reject_no_code": "bad.example reject go away",
    "bad_host_spec": "bad.example smarthost [127.0.0.2:25",
    "bad_port": "bad.example smarthost [127.0.0.2]:99999",
    "bad_tls_level": "bad.example direct tls=sometimes",
}


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_bad_route_line_reported_with_line_number(instances, net, kind):
    inst = instances(**net.settings())
    path = inst.routes("# routes with one mistake\n"
                       "good.example   direct\n"
                       "\n"
                       "%s\n"
                       "*              direct\n" % BAD_LINES[kind])
    p = inst.ctl("check")
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 1, "ncctl check exited %d:\n%s" % (p.returncode,
                                                             out)
    assert re.search(r"routes:4\b|line 4\b", out), \
        "no line number 4 in:\n" + out
    assert "routes" in out
    assert not re.search(r"routes:[1235]\b", out), out

    p = inst.ctl("start")
    out = (p.stdout + p.stderr).decode()
    if p.returncode == 0:
        inst.started = True
    assert p.returncode != 0, "ncctl start accepted a bad routing table"
    assert re.search(r"routes:4\b|line 4\b", out), out
    assert inst.master_pid() is None


# -- reload ---------------------------------------------------------------------


def test_reload_applies_new_table_without_restart(instances, net):
    skip_unless_attempts_countable()
    net.dns([])
    a, b = net.sink("127.0.0.2"), net.sink("127.0.0.3")
    c = net.sink("127.0.0.4", up=False).count_attempts()
    inst = routed(instances, net,
                  "dest.example   smarthost [127.0.0.2]:{P}\n"
                  "stuck.example  smarthost [127.0.0.4]:{P}\n")
    before = {n: inst.pids(n) for n in ("master", "qmgr", "resolver")}
    t1 = send(inst, "rcpt@dest.example")
    assert a.wait_count(1, 30)
    send(inst, "rcpt@stuck.example")
    inst.wait_deferred(1, 30)
    wait_for(lambda: c.attempts() >= 1, 10, "stuck.example tried at its host")

    inst.routes("dest.example   smarthost [127.0.0.3]:{P}\n"
                "stuck.example  smarthost [127.0.0.3]:{P}\n"
                .replace("{P}", str(net.port)))
    p = inst.ctl("reload")
    assert p.returncode == 0, p.stderr
    # Deferred mail follows the new table at its next attempt.
    assert b.wait_count(1, 30), "deferred mail not re-routed after reload"
    tries_of_c = c.attempts()
    t2 = send(inst, "rcpt@dest.example")
    assert b.wait_count(2, 30), "new mail not routed by the new table"
    inst.wait_empty()
    assert tokens(a) == t1
    assert t2[0] in tokens(b)
    assert c.attempts() == tries_of_c, "old route used after the reload"
    after = {n: inst.pids(n) for n in ("master", "qmgr", "resolver")}
    assert after == before, "daemons restarted by reload: %r -> %r" % (
        before, after)


def test_reload_with_bad_table_refused_old_one_stays(instances, net):
    net.dns([])
    a, b = net.sink("127.0.0.2"), net.sink("127.0.0.3")
    inst = routed(instances, net, "dest.example smarthost [127.0.0.2]:{P}\n")
    qmgr = inst.pids("qmgr")
    send(inst, "rcpt@dest.example")
    assert a.wait_count(1, 30)

    inst.routes("dest.example smarthost [127.0.0.3]:{P}\n"
                "oops.example teleport\n".replace("{P}", str(net.port)))
    p = inst.ctl("reload")
    out = (p.stdout + p.stderr).decode()
    assert p.returncode != 0, "reload accepted a bad table:\n" + out
    assert re.search(r"routes:2\b|line 2\b", out), out
    assert inst.ctl("status").returncode == 0, "ncmta stopped"

    toks = send(inst, "rcpt@dest.example", 2)
    assert a.wait_count(3, 30), "the old table is no longer in force"
    inst.wait_empty()
    assert set(toks) <= set(tokens(a))
    assert b.connections == 0
    assert inst.pids("qmgr") == qmgr
