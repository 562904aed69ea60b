"""Direct mode (doc/design.md, "Direct mode, step by step"), step by step,
against real peers: dnsmasq serves each test's MX / A / AAAA records to
ncmta's resolver, and SMTP sinks on 127.0.0.2, 127.0.0.3, ... (and ::1) all
listen on the one smtp_port.

  step 1 (ask for MX)            test_highest_preference_used,
                                 test_implicit_mx, test_mx_answer_cached_*
  step 2 (order, address kinds)  test_equal_preference_*, test_null_mx_*,
                                 test_nxdomain_*, test_address_literal,
                                 test_ipv6_*, test_implicit_mx
  step 3 (connect, next address) test_connect_refused_*, test_next_address_*,
                                 test_mx_address_limit
  step 4 (greeting, EHLO/HELO)   test_third_exchanger_*,
                                 test_unworkable_exchanger_*,
                                 test_ehlo_502_falls_back_to_helo
  step 5 (send)                  every delivery; test_smart_host_mode_*
  step 6 (smart host, deferral)  test_all_exchangers_down_*, test_*smart_host*,
                                 test_everything_down_*, test_dns_timeout_*,
                                 test_servfail_*
  resolver daemon and cache      test_resolver_*, test_mx_answer_cached_*,
                                 test_nxdomain_cached_*
"""

import os
import pwd
import re
import signal
import time

import pytest

from instance import Proc, mail_owner, wait_for
from msgs import message, new_token, submit_many, token_counts, token_of
from listener import Conn, send_data
from msgs import crlf
from peers import (Behaviour, ScriptedNameServer, free_port,
                   skip_unless_attempts_countable)

SENDER = "sender@test.example"


def mx(domain, *prefs_addrs):
    """Records for domain's exchangers: mx(d, (10, ip), (20, ip2), ...) ->
    MX d -> mxN.d with an A record each (a list for several addresses)."""
    recs = []
    for i, (pref, addrs) in enumerate(prefs_addrs, 1):
        host = "mx%d.%s" % (i, domain)
        recs.append(("MX", domain, pref, host))
        for a in ([addrs] if isinstance(addrs, str) else addrs):
            recs.append(("AAAA" if ":" in a else "A", host, a))
    return recs


def send(inst, rcpt, n=1, sender=SENDER):
    """Submit n messages to rcpt (a string or a list); their tokens."""
    rcpts = [rcpt] if isinstance(rcpt, str) else list(rcpt)
    toks = [new_token() for _ in range(n)]
    jobs = [(rcpts, message(t, rcpts[0], i)[0], sender)
            for i, t in enumerate(toks)]
    for r in submit_many(inst, jobs):
        assert r.returncode == 0, r.stderr
    return toks


def start(instances, net, **settings):
    return instances(**net.settings(**settings)).start()


def tokens(sink):
    return sorted(token_of(m) for m in sink.snapshot())


def bounced(inst, rcpt):
    return inst.log_lines("to=<%s>" % rcpt, "status=bounced")


# -- step 1 and 2: MX records, preference order ---------------------------


def test_highest_preference_used(instances, net):
    ns = net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3"),
                    (30, "127.0.0.4")))
    s1, s2, s3 = (net.sink(a) for a in ("127.0.0.2", "127.0.0.3",
                                        "127.0.0.4"))
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example", 5)
    assert s1.wait_count(5, 30), "preference 10 got %d of 5" % s1.count()
    inst.wait_empty()
    assert tokens(s1) == sorted(toks)
    assert s2.connections == 0 and s3.connections == 0, \
        "lower-preference exchangers contacted while the best one works"
    assert ("MX", "dest.example") in ns.queries()
    m = s1.snapshot()[0]
    assert m.rcpt_tos == ["rcpt@dest.example"] and m.mail_from == SENDER
    assert m.helo == "EHLO test.example"
    sent = inst.log_lines("to=<rcpt@dest.example>", "status=sent")
    assert len(sent) == 5
    assert "relay=mx1.dest.example[127.0.0.2]:%d" % net.port in sent[0], \
        sent[0]


def test_connect_refused_second_exchanger_used(instances, net):
    skip_unless_attempts_countable()
    net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3"),
               (30, "127.0.0.4")))
    s1 = net.sink("127.0.0.2", up=False).count_attempts()
    s2, s3 = net.sink("127.0.0.3"), net.sink("127.0.0.4")
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example", 3)
    assert s2.wait_count(3, 30), "second exchanger got %d of 3" % s2.count()
    inst.wait_empty()
    assert tokens(s2) == sorted(toks)
    assert s1.attempts() >= 1, "the first exchanger was never tried"
    assert s3.connections == 0


# What makes an exchanger unworkable at step 4 (doc/design.md: 4xx/5xx
# greeting, EHLO 421, EHLO and HELO both rejected, a dropped connection).
UNWORKABLE = {
    "greet421": Behaviour(greeting="421 4.3.2 Service not available"),
    "greet554": Behaviour(greeting="554 5.3.2 No SMTP service here"),
    "ehlo421": Behaviour(ehlo_reply="421 4.3.2 closing"),
    "ehlo_helo_550": Behaviour(ehlo_reply="550 5.7.1 go away",
                               helo_reply="550 5.7.1 go away"),
    "drop_on_connect": Behaviour(drop_at="connect"),
    "drop_at_ehlo": Behaviour(drop_at="ehlo"),
}


def test_third_exchanger_when_first_two_greet_421_and_554(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3"),
               (30, "127.0.0.4")))
    s1 = net.sink("127.0.0.2", behaviour=UNWORKABLE["greet421"])
    s2 = net.sink("127.0.0.3", behaviour=UNWORKABLE["greet554"])
    s3 = net.sink("127.0.0.4")
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example", 3)
    assert s3.wait_count(3, 30), "third exchanger got %d of 3" % s3.count()
    inst.wait_empty()
    assert tokens(s3) == sorted(toks)
    assert s1.connections >= 1 and s2.connections >= 1
    assert s1.count() == 0 and s2.count() == 0
    assert not inst.log_lines("status=bounced"), \
        "a 554 greeting must not bounce: the next exchanger is tried"


@pytest.mark.parametrize("how", [k for k in UNWORKABLE if k != "greet421"])
def test_unworkable_exchanger_next_one_used(instances, net, how):
    net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3")))
    s1 = net.sink("127.0.0.2", behaviour=UNWORKABLE[how])
    s2 = net.sink("127.0.0.3")
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example", 2)
    assert s2.wait_count(2, 30), "next exchanger got %d of 2" % s2.count()
    inst.wait_empty()
    assert tokens(s2) == sorted(toks)
    assert s1.count() == 0 and s1.connections >= 1
    if how == "ehlo421":
        assert not [h for h in s1.helo_log if h.startswith("HELO")], \
            "EHLO answered 421 must not fall back to HELO: %r" % s1.helo_log
    if how == "ehlo_helo_550":
        assert any(h.startswith("HELO") for h in s1.helo_log), \
            "HELO never tried after EHLO was rejected: %r" % s1.helo_log


def test_ehlo_502_falls_back_to_helo(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3")))
    s1 = net.sink("127.0.0.2",
                  behaviour=Behaviour(ehlo_reply="502 5.5.2 EHLO not here"))
    s2 = net.sink("127.0.0.3")
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example")
    assert s1.wait_count(1, 30), "the HELO-only exchanger got nothing"
    inst.wait_empty()
    m = s1.snapshot()[0]
    assert token_of(m) == toks[0]
    assert m.helo == "HELO test.example", m.helo
    assert s1.helo_log[:2] == ["EHLO test.example", "HELO test.example"]
    assert not [o for o in m.mail_options if o.upper().startswith("BODY")], \
        "ESMTP parameters sent after HELO: %r" % m.mail_options
    assert s2.connections == 0


def test_equal_preference_exchangers_share_200_messages(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2"), (10, "127.0.0.3"),
               (20, "127.0.0.4")))
    s1, s2, s3 = (net.sink(a) for a in ("127.0.0.2", "127.0.0.3",
                                        "127.0.0.4"))
    inst = start(instances, net)
    toks = []
    for i in range(4):  # in waves, so that several sessions are opened
        toks += send(inst, ["user%d@dest.example" % i], 50)
        time.sleep(0.3)
    wait_for(lambda: s1.count() + s2.count() >= 200, 60,
             "200 messages at the two preference-10 exchangers")
    inst.wait_empty()
    got = token_counts(s1.snapshot() + s2.snapshot())
    assert got == {t: 1 for t in toks}
    assert s3.connections == 0
    assert s1.count() > 0 and s2.count() > 0, \
        "equal preferences not shuffled: %d / %d" % (s1.count(), s2.count())


# -- step 2: what the name server says ------------------------------------


def test_implicit_mx_a_record_only(instances, net):
    ns = net.dns([("A", "implicit.example", "127.0.0.3")])
    s = net.sink("127.0.0.3")
    inst = start(instances, net)
    toks = send(inst, "rcpt@implicit.example")
    assert s.wait_count(1, 30), "not delivered to the domain's own address"
    inst.wait_empty()
    assert tokens(s) == toks
    assert ("MX", "implicit.example") in ns.queries()
    assert ("A", "implicit.example") in ns.queries()
    assert inst.log_lines("to=<rcpt@implicit.example>", "status=sent",
                          "[127.0.0.3]")


def test_nxdomain_bounces(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2")))
    s = net.sink("127.0.0.2")
    inst = start(instances, net)
    send(inst, ["nobody@missing.example", "rcpt@dest.example"])
    assert s.wait_count(1, 30)
    wait_for(lambda: bounced(inst, "nobody@missing.example"), 30,
             "the NXDOMAIN recipient bounced")
    inst.wait_empty()
    line = bounced(inst, "nobody@missing.example")[0]
    assert re.search(r"dsn=5\.\d+\.\d+", line), line
    assert s.snapshot()[0].rcpt_tos == ["rcpt@dest.example"]
    assert not inst.log_lines("to=<nobody@missing.example>",
                              "status=deferred")


def _smtputf8_submit(inst, rcpts, tok):
    """Submit to smtpd with MAIL ... SMTPUTF8 (the only way in for a UTF-8
    address); the queue ID."""
    with Conn(inst.port) as c:
        assert c.cmd("EHLO utf8.example").startswith("250")
        assert c.cmd("MAIL FROM:<%s> SMTPUTF8" % SENDER).startswith("250")
        for r in rcpts:
            assert c.cmd("RCPT TO:<%s>" % r) == "250 2.1.5 Ok"
        reply = send_data(c, crlf(message(tok, rcpts[0])[0]))
        assert reply.startswith("250"), reply
        c.cmd("QUIT")
    return reply.split()[-1]


def test_utf8_domain_resolved_by_its_a_label(instances, net):
    """A recipient domain with UTF-8 (a U-label, RFC 6531) is looked up as
    its A-label (IDNA 2008): the name server knows only
    xn--bcher-kva.example. The RCPT TO sent on keeps the address as
    written, with SMTPUTF8 on MAIL. A UTF-8 domain without an A-label
    (U+2615 is disallowed in IDNA 2008) fails for good: 5.1.2."""
    ns = net.dns(mx("xn--bcher-kva.example", (10, "127.0.0.2")))
    s = net.sink("127.0.0.2")
    port = free_port()
    inst = start(instances, net, smtpd_listen="127.0.0.1:%d" % port)
    inst.port = port
    rcpt, bad = "j\u00f6rg@b\u00fccher.example", "x@\u2615.example"
    tok = new_token()
    qid = _smtputf8_submit(inst, [rcpt, bad], tok)
    assert s.wait_count(1, 30), "not delivered through the A-label's MX"
    m = s.snapshot()[0]
    assert m.rcpt_tos == [rcpt] and "SMTPUTF8" in m.mail_options, m
    wait_for(lambda: bounced(inst, bad), 30, "the bad domain bounced")
    inst.wait_empty()
    assert ("MX", "xn--bcher-kva.example") in ns.queries()
    assert not [q for q in ns.queries() if "\u2615" in q[1] or
                "b\u00fccher" in q[1]], ns.queries()
    assert inst.log_lines("%s: to=<%s>" % (qid, rcpt), "status=sent",
                          "[127.0.0.2]")
    line = bounced(inst, bad)[0]
    assert "dsn=5.1.2" in line, line
    assert "bad destination domain \u2615.example: the domain name has " \
        "no A-label (IDNA2008)" in line, line


def test_null_mx_bounces_without_trying_the_address(instances, net):
    # RFC 7505: "0 ." means no mail, even though an A record exists.
    net.dns([("NULLMX", "nullmx.example"),
             ("A", "nullmx.example", "127.0.0.2")])
    s = net.sink("127.0.0.2")
    inst = start(instances, net)
    send(inst, "rcpt@nullmx.example")
    wait_for(lambda: bounced(inst, "rcpt@nullmx.example"), 30,
             "the null-MX recipient bounced")
    inst.wait_empty()
    line = bounced(inst, "rcpt@nullmx.example")[0]
    assert re.search(r"dsn=5\.\d+\.\d+", line), line
    assert s.connections == 0


def test_address_literal(instances, net):
    ns = net.dns([])
    s3 = net.sink("127.0.0.3")
    s2 = net.sink("127.0.0.2")
    inst = start(instances, net)
    toks = send(inst, "user@[127.0.0.3]")
    assert s3.wait_count(1, 30), "nothing at 127.0.0.3"
    inst.wait_empty()
    assert tokens(s3) == toks
    assert s3.snapshot()[0].rcpt_tos == ["user@[127.0.0.3]"]
    assert s2.connections == 0
    assert not [q for q in ns.queries() if "127" in q[1]], ns.queries()


def test_ipv6_exchanger_used_with_inet_protocols_all(instances, net):
    net.dns(mx("v6.example", (10, "::1")))
    s6 = net.sink("::1")
    inst = start(instances, net, inet_protocols="all")
    toks = send(inst, "rcpt@v6.example")
    assert s6.wait_count(1, 30), "nothing at [::1]"
    inst.wait_empty()
    assert tokens(s6) == toks


def test_ipv6_address_skipped_with_inet_protocols_ipv4(instances, net):
    net.dns(mx("dual.example", (10, ["::1", "127.0.0.2"])))
    s6 = net.sink("::1")
    s4 = net.sink("127.0.0.2")
    inst = start(instances, net, inet_protocols="ipv4")
    toks = send(inst, "rcpt@dual.example", 3)
    assert s4.wait_count(3, 30), "the IPv4 address got %d of 3" % s4.count()
    inst.wait_empty()
    assert tokens(s4) == sorted(toks)
    assert s6.connections == 0


# -- step 3: connections ----------------------------------------------------


def test_next_address_of_an_exchanger_before_the_next_exchanger(instances,
                                                                 net):
    # dnsmasq answers the A records of one name in reverse order of its
    # configuration, so the refusing 127.0.0.2 comes first.
    skip_unless_attempts_countable()
    net.dns([("MX", "dest.example", 10, "mx1.dest.example"),
             ("MX", "dest.example", 20, "mx2.dest.example"),
             ("A", "mx1.dest.example", "127.0.0.3"),
             ("A", "mx1.dest.example", "127.0.0.2"),
             ("A", "mx2.dest.example", "127.0.0.4")])
    s2 = net.sink("127.0.0.2", up=False).count_attempts()
    s3, s4 = net.sink("127.0.0.3"), net.sink("127.0.0.4")
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example", 4)
    assert s3.wait_count(4, 30), "second address got %d of 4" % s3.count()
    inst.wait_empty()
    assert tokens(s3) == sorted(toks)
    assert s4.connections == 0, "next exchanger tried before next address"
    assert s2.attempts() >= 1, "the refusing first address never tried"


@pytest.mark.parametrize("limit,reached", [(2, False), (3, True)])
def test_mx_address_limit(instances, net, limit, reached):
    net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3"),
               (30, "127.0.0.4")))
    skip_unless_attempts_countable()
    first = net.sink("127.0.0.2", up=False).count_attempts()
    net.sink("127.0.0.3", up=False)
    s3 = net.sink("127.0.0.4")
    inst = start(instances, net, smtp_mx_address_limit=limit)
    toks = send(inst, "rcpt@dest.example")
    if reached:
        assert s3.wait_count(1, 30), "third address never reached"
        assert tokens(s3) == toks
        return
    q = inst.wait_deferred(1, 30)
    # three attempts (max_backoff 2s), each starting at the first
    # address, still stop at two
    wait_for(lambda: first.attempts() >= 3, 30, "three attempts")
    assert s3.connections == 0, "more than %d addresses tried" % limit
    assert q[0]["recipients"][0].get("delay_reason")


# -- step 6: smart host after the exchangers ------------------------------


def test_all_exchangers_down_smart_host_used(instances, net):
    skip_unless_attempts_countable()
    ns = net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3")))
    s1 = net.sink("127.0.0.2", up=False).count_attempts()
    s2 = net.sink("127.0.0.3", behaviour=UNWORKABLE["greet421"])
    relay = net.sink("127.0.0.6")
    inst = start(instances, net, smart_host=net.hostspec("127.0.0.6"))
    toks = send(inst, "rcpt@dest.example", 3)
    assert relay.wait_count(3, 30), "smart host got %d of 3" % relay.count()
    inst.wait_empty()
    assert tokens(relay) == sorted(toks)
    # both exchangers were tried first: one refused, one greeted 421
    assert s1.attempts() >= 1 and s2.connections >= 1
    assert s2.count() == 0
    assert ("MX", "dest.example") in ns.queries()


def test_working_exchanger_no_smart_host(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2")))
    s1 = net.sink("127.0.0.2")
    relay = net.sink("127.0.0.6")
    inst = start(instances, net, smart_host=net.hostspec("127.0.0.6"))
    toks = send(inst, "rcpt@dest.example", 2)
    assert s1.wait_count(2, 30)
    inst.wait_empty()
    assert tokens(s1) == sorted(toks)
    assert relay.connections == 0, "smart host used while an MX works"


def test_bracketed_smart_host_uses_address_records_only(instances, net):
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")) + [
        ("A", "relay.example", "127.0.0.6"),
        ("MX", "relay.example", 10, "mx.relay.example"),
        ("A", "mx.relay.example", "127.0.0.7")])
    net.sink("127.0.0.2", up=False)
    by_a, by_mx = net.sink("127.0.0.6"), net.sink("127.0.0.7")
    inst = start(instances, net, smart_host="[relay.example]:%d" % net.port)
    toks = send(inst, "rcpt@dest.example")
    assert by_a.wait_count(1, 30), "not delivered to relay.example's A"
    inst.wait_empty()
    assert tokens(by_a) == toks
    assert by_mx.connections == 0
    assert ("MX", "relay.example") not in ns.queries(), \
        "MX looked up for a bracketed smart host"


def test_smart_host_without_brackets_is_looked_up_by_mx(instances, net):
    skip_unless_attempts_countable()
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")) + [
        ("MX", "relay.example", 10, "mx.relay.example"),
        ("A", "mx.relay.example", "127.0.0.7"),
        ("A", "relay.example", "127.0.0.6")])
    exch = net.sink("127.0.0.2", up=False).count_attempts()
    by_a, by_mx = net.sink("127.0.0.6"), net.sink("127.0.0.7")
    inst = start(instances, net, smart_host="relay.example:%d" % net.port)
    toks = send(inst, "rcpt@dest.example")
    assert by_mx.wait_count(1, 30), "not delivered to relay.example's MX"
    inst.wait_empty()
    assert tokens(by_mx) == toks
    assert ("MX", "relay.example") in ns.queries()
    assert by_a.connections == 0, "smart host's A used although it has MX"
    assert exch.attempts() >= 1, "smart host used before the exchanger"


def test_unresolvable_smart_host_defers(instances, net):
    # doc/design.md, step 6: a smart host that cannot be resolved, even
    # NXDOMAIN, defers.
    net.dns(mx("dest.example", (10, "127.0.0.2")))
    net.sink("127.0.0.2", up=False)
    inst = start(instances, net,
                 smart_host="nosuch-relay.example:%d" % net.port)
    send(inst, "rcpt@dest.example")
    q = inst.wait_deferred(1, 30)
    assert q[0]["recipients"][0].get("delay_reason")
    time.sleep(2)
    assert not inst.log_lines("status=bounced")
    assert len(inst.qshow_json()) == 1


@pytest.mark.parametrize("comes_up", ["exchanger", "smart_host"])
def test_everything_down_deferred_then_delivered(instances, net, comes_up):
    skip_unless_attempts_countable()
    net.dns(mx("dest.example", (10, "127.0.0.2"), (20, "127.0.0.3")))
    s1 = net.sink("127.0.0.2", up=False).count_attempts()
    s2 = net.sink("127.0.0.3", up=False)
    relay = net.sink("127.0.0.6", up=False).count_attempts()
    inst = start(instances, net, smart_host=net.hostspec("127.0.0.6"))
    toks = send(inst, "rcpt@dest.example")
    q = inst.wait_deferred(1, 30)
    reason = q[0]["recipients"][0].get("delay_reason", "")
    assert reason, "deferred without delay_reason: %r" % q
    listing = inst.qshow().stdout.decode()
    assert q[0]["queue_id"] in listing and reason[:30] in listing, listing
    assert inst.log_lines("to=<rcpt@dest.example>", "status=deferred")
    assert not inst.log_lines("status=bounced")

    # The first deferral may come from a DNS answer that was late on a
    # loaded machine; retries come every second, and each tries both.
    wait_for(lambda: s1.attempts() >= 1 and relay.attempts() >= 1, 30,
             "the first exchanger and the smart host to be tried")
    assert not inst.log_lines("status=bounced")
    up = s2 if comes_up == "exchanger" else relay
    up.start()
    inst.ctl("flush", check=True)
    assert up.wait_count(1, 30), "not delivered after %s came up" % comes_up
    inst.wait_empty()
    assert tokens(up) == toks


# -- temporary DNS failures -----------------------------------------------


def test_dns_timeout_defers_not_bounces(instances, net):
    silent = net.silent_dns()
    s1 = net.sink("127.0.0.2")
    inst = start(instances, net)
    toks = send(inst, "rcpt@dest.example")
    q = inst.wait_deferred(1, 60)
    assert q[0]["recipients"][0].get("delay_reason"), q
    assert not inst.log_lines("status=bounced")
    assert inst.log_lines("to=<rcpt@dest.example>", "status=deferred")

    # The name server comes back on the same port: the mail goes out.
    # A time-out is not an answer: nothing may have been cached.
    silent.close()
    net.dns(mx("dest.example", (10, "127.0.0.2")), port=silent.port)
    inst.ctl("flush", check=True)
    assert s1.wait_count(1, 60), "not delivered once DNS answered again"
    inst.wait_empty()
    assert tokens(s1) == toks


def test_dns_timeout_uses_smart_host(instances, net):
    net.silent_dns()
    mxsink = net.sink("127.0.0.2")
    relay = net.sink("127.0.0.6")
    inst = start(instances, net, smart_host=net.hostspec("127.0.0.6"))
    toks = send(inst, "rcpt@dest.example")
    assert relay.wait_count(1, 60), "smart host not used on a DNS time-out"
    inst.wait_empty()
    assert tokens(relay) == toks
    assert mxsink.connections == 0


def test_servfail_defers_not_bounces(instances, net):
    ns = net.scripted_dns(ScriptedNameServer.servfail)
    net.sink("127.0.0.2")
    inst = start(instances, net)
    send(inst, "rcpt@dest.example")
    q = inst.wait_deferred(1, 60)
    assert q[0]["recipients"][0].get("delay_reason"), q
    assert ns.queries("MX", "dest.example")
    time.sleep(3)  # retries (max_backoff 2s) defer again, never bounce
    assert not inst.log_lines("status=bounced")
    assert len(inst.qshow_json()) == 1


# -- the resolver's cache ---------------------------------------------------


@pytest.mark.parametrize("negative_ttl,queries", [("1h", 1), ("2s", 2)])
def test_nxdomain_cached_for_soa_minimum_capped(instances, net,
                                                negative_ttl, queries):
    ns = net.scripted_dns(ScriptedNameServer.nxdomain_with_soa(3600))
    inst = start(instances, net, resolver_negative_ttl=negative_ttl)
    send(inst, "a@nx.example")
    wait_for(lambda: bounced(inst, "a@nx.example"), 30, "first bounce")
    time.sleep(3.5)
    send(inst, "b@nx.example")
    wait_for(lambda: bounced(inst, "b@nx.example"), 30, "second bounce")
    inst.wait_empty()
    assert len(ns.queries("MX", "nx.example")) == queries, ns.queries()




def test_mx_answer_cached_100_messages_one_query_until_ttl(instances, net):
    # 100 messages take 1-3 s, under sanitizers with another test beside
    # them; the TTL is several times that
    ttl = 20
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")), ttl=ttl)
    s = net.sink("127.0.0.2")
    inst = start(instances, net, resolver_max_ttl="1h")
    t0 = time.monotonic()
    toks = send(inst, "rcpt@dest.example", 100)
    assert s.wait_count(1, 30)
    t_first = time.monotonic()  # the answer came before this
    assert s.wait_count(100, 60), "%d of 100 arrived" % s.count()
    elapsed = time.monotonic() - t0
    assert token_counts(s.snapshot()) == {t: 1 for t in toks}
    assert elapsed < ttl - 1, \
        "100 messages took %.1fs, longer than the %ds TTL" % (elapsed, ttl)
    mxq = ns.queries("MX", "dest.example")
    assert len(mxq) == 1, "%d MX queries for 100 messages" % len(mxq)

    # Once the TTL has run out, the next message asks again.
    time.sleep(max(0.0, t_first + ttl + 1.0 - time.monotonic()))
    send(inst, "rcpt@dest.example")
    assert s.wait_count(101, 20)
    assert len(ns.queries("MX", "dest.example")) == 2, \
        "no new MX query after the TTL expired: %r" % ns.queries()
    inst.wait_empty()


def test_resolver_max_ttl_caps_the_cache(instances, net):
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")), ttl=3600)
    s = net.sink("127.0.0.2")
    inst = start(instances, net, resolver_max_ttl="2s")
    send(inst, "rcpt@dest.example")
    assert s.wait_count(1, 30)
    assert len(ns.queries("MX", "dest.example")) == 1
    time.sleep(3.5)
    send(inst, "rcpt@dest.example")
    assert s.wait_count(2, 30)
    assert len(ns.queries("MX", "dest.example")) == 2, \
        "answer kept past resolver_max_ttl"


def _counter(text, word):
    """The number next to word ("hits=3", "hits: 3" or "3 hits")."""
    m = re.search(r"\b%s\w*\W{0,3}(\d+)" % word, text, re.I) or \
        re.search(r"(\d+)\s+%s" % word, text, re.I)
    return int(m.group(1)) if m else None


def test_resolver_flush_and_status_counters(instances, net):
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")), ttl=3600)
    s = net.sink("127.0.0.2")
    inst = start(instances, net)
    send(inst, "rcpt@dest.example")
    assert s.wait_count(1, 30)
    send(inst, "rcpt@dest.example")
    assert s.wait_count(2, 30)
    assert len(ns.queries("MX", "dest.example")) == 1, "second one not cached"

    def counters():
        p = inst.ctl("status", check=True)
        out = (p.stdout + p.stderr).decode()
        hits, misses = _counter(out, "hit"), _counter(out, "miss")
        assert hits is not None and misses is not None, \
            "no resolver hits/misses in ncctl status:\n" + out
        return hits, misses
    hits, misses = counters()
    assert misses >= 1

    p = inst.ctl("resolver", "flush")
    assert p.returncode == 0, p.stderr
    send(inst, "rcpt@dest.example")
    assert s.wait_count(3, 30)
    assert len(ns.queries("MX", "dest.example")) == 2, \
        "cache not emptied by ncctl resolver flush"
    inst.wait_empty()
    hits2, misses2 = counters()
    # after the flush the third message found nothing cached
    assert misses2 > misses and hits2 == hits, (hits, misses, hits2, misses2)


# -- smart-host mode ----------------------------------------------------------


def test_smart_host_mode_never_contacts_an_exchanger(instances, net):
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")))
    exch = net.sink("127.0.0.2")
    relay = net.sink("127.0.0.6")
    inst = start(instances, net, delivery_mode="smarthost",
                 smart_host=net.hostspec("127.0.0.6"))
    toks = send(inst, "rcpt@dest.example", 5)
    assert relay.wait_count(5, 30)
    inst.wait_empty()
    assert tokens(relay) == sorted(toks)
    assert exch.connections == 0
    assert ("MX", "dest.example") not in ns.queries(), ns.queries()


def test_smart_host_mode_relay_down_defers(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2")))
    exch = net.sink("127.0.0.2")
    relay = net.sink("127.0.0.6", up=False)
    inst = start(instances, net, delivery_mode="smarthost",
                 smart_host=net.hostspec("127.0.0.6"))
    toks = send(inst, "rcpt@dest.example")
    inst.wait_deferred(1, 30)
    assert exch.connections == 0, "exchanger contacted in smart-host mode"
    relay.start()
    inst.ctl("flush", check=True)
    assert relay.wait_count(1, 30)
    assert tokens(relay) == toks
    assert exch.connections == 0


# -- the resolver daemon -------------------------------------------------------


def test_resolver_is_its_own_unprivileged_process(instances, net):
    net.dns(mx("dest.example", (10, "127.0.0.2")))
    s = net.sink("127.0.0.2")
    inst = start(instances, net)
    procs = [p for p in inst.processes() if p.name == "resolver"]
    assert len(procs) == 1, inst.processes()
    p = procs[0]
    assert p.ppid == inst.master_pid()
    uid = pwd.getpwnam(mail_owner()).pw_uid
    # Root for a moment after exec, until it has read resolv.conf, the
    # trust anchor and the CA bundle: give it the time to get there.
    try:
        wait_for(lambda: Proc(p.pid).ids("Uid") == [uid] * 4, 10,
                 "the resolver to drop root")
    except AssertionError:
        pass
    p = Proc(p.pid)
    assert p.ids("Uid") == [uid] * 4, p.status.get("Uid")
    send(inst, "rcpt@dest.example")
    assert s.wait_count(1, 30)


def test_resolver_killed_is_restarted_and_mail_flows(instances, net):
    ns = net.dns(mx("dest.example", (10, "127.0.0.2")) +
                 mx("other.example", (10, "127.0.0.2")))
    s = net.sink("127.0.0.2")
    inst = start(instances, net)
    inst.expect_restarts = True
    send(inst, "rcpt@dest.example")
    assert s.wait_count(1, 30)
    old = inst.pids("resolver")
    assert old
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: inst.pids("resolver") and inst.pids("resolver") != old,
             20, "a new resolver")
    # a domain not seen before: only the new resolver can look it up
    toks = send(inst, "rcpt2@other.example", 3)
    assert s.wait_count(4, 40), "%d of 4 after the restart" % s.count()
    inst.wait_empty()
    counts = token_counts(s.snapshot())
    assert all(counts[t] == 1 for t in toks), counts
    assert ns.queries("MX", "other.example"), ns.queries()
