"""Metrics: ncctl metrics and ncmta-metricsd's GET /metrics in the
Prometheus text format, read by Debian's python3-prometheus-client; the
counters follow a scripted run of sent, deferred and bounced mail
exactly, the queue gauges agree with ncqshow, restarts are counted."""

import os
import signal
import socket
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from instance import wait_for
from msgs import message, new_token
from peers import free_port

# family name (as the parser reports it) -> type, label, label values
CONTRACT = {
    "ncmta_up": ("gauge", None, None),
    "ncmta_build_info": ("gauge", "version", None),
    "ncmta_queue_messages": ("gauge", "state",
                             {"incoming", "active", "deferred", "hold"}),
    "ncmta_queue_oldest_age_seconds": ("gauge", "state",
                                       {"incoming", "active", "deferred",
                                        "hold"}),
    "ncmta_received_messages": ("counter", "source",
                                {"sendmail", "smtpd", "dropdir", "notice"}),
    "ncmta_delivery_status": ("counter", "status",
                              {"sent", "deferred", "bounced"}),
    "ncmta_smtp_sessions_active": ("gauge", None, None),
    "ncmta_tls_sessions": ("counter", "result",
                           {"verified", "trusted", "untrusted", "failed"}),
    "ncmta_resolver_lookups": ("counter", "result",
                               {"hit", "miss", "merged", "tempfail"}),
    "ncmta_daemon_restarts": ("counter", "daemon", None),
}


def parse(text):
    """{family: (type, {sample name + sorted labels: value})}, every line
    read by prometheus_client's parser."""
    out = {}
    for fam in text_string_to_metric_families(text):
        samples = {}
        for s in fam.samples:
            samples[(s.name,) + tuple(sorted(s.labels.items()))] = s.value
        out[fam.name] = (fam.type, samples)
    return out


def scrape(inst, as_user=None):
    r = inst.ctl("metrics", as_user=as_user)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8")


def value(metrics, family, label=None, lvalue=None):
    _, samples = metrics[family]
    for key, v in samples.items():
        if label is None or (label, lvalue) in key[1:]:
            return v
    raise KeyError((family, label, lvalue))


def check_contract(metrics):
    for name, (typ, label, values) in CONTRACT.items():
        assert name in metrics, "family %s missing" % name
        got, samples = metrics[name]
        assert got == typ, "%s is a %s, not a %s" % (name, got, typ)
        if values is not None:
            seen = {dict(k[1:])[label] for k in samples}
            assert seen == values, (name, seen)
    assert value(metrics, "ncmta_up") == 1
    (key,) = metrics["ncmta_build_info"][1]
    assert dict(key[1:])["version"]


def test_every_family_present_with_its_type(running):
    inst = running
    text = scrape(inst)
    assert text.endswith("\n")
    metrics = parse(text)
    check_contract(metrics)
    daemons = {dict(k[1:])["daemon"]
               for k in metrics["ncmta_daemon_restarts"][1]}
    assert {"qmgr", "pickup", "smtp", "resolver", "bounce"} <= daemons
    # counters start at 0 with the master
    for fam in ("ncmta_received_messages", "ncmta_delivery_status",
                "ncmta_tls_sessions", "ncmta_daemon_restarts"):
        assert all(v == 0 for v in metrics[fam][1].values()), fam
    # metrics are no secret: any local user may read them
    if os.getuid() == 0:
        check_contract(parse(scrape(inst, as_user="nobody")))


def test_counters_follow_sent_deferred_bounced(instances, sink):
    """3 sent, 2 deferred (450), 1 bounced (550, and its notice sent)."""
    inst = instances(smart_host=[sink], min_backoff="1h", max_backoff="1h",
                     queue_run_delay="1h").start()
    sink.behaviour.rcpt_replies = {
        "d0@dest.example": "450 4.2.1 busy",
        "d1@dest.example": "450 4.2.1 busy",
        "b0@dest.example": "550 5.1.1 no such user",
    }
    rcpts = ["s0@dest.example", "s1@dest.example", "s2@dest.example",
             "d0@dest.example", "d1@dest.example", "b0@dest.example"]
    for i, rcpt in enumerate(rcpts):
        data, _ = message(new_token(), rcpt, i)
        inst.submit([rcpt], data, sender="sender@sender.example")

    expect = {
        ("ncmta_delivery_status", "status"): {
            "sent": 4, "deferred": 2, "bounced": 1},
        ("ncmta_received_messages", "source"): {
            "sendmail": 6, "smtpd": 0, "dropdir": 0, "notice": 1},
        ("ncmta_queue_messages", "state"): {
            "incoming": 0, "active": 0, "deferred": 2, "hold": 0},
        ("ncmta_tls_sessions", "result"): {
            "verified": 0, "trusted": 0, "untrusted": 0, "failed": 0},
    }

    def settled():
        # each daemon sends its counts every 50 ms on its own: wait for
        # all of them, then check each
        m = parse(scrape(inst))
        for (fam, label), values in expect.items():
            for lv, n in values.items():
                if value(m, fam, label, lv) != n:
                    return None
        return m
    m = wait_for(settled, 30, "4 sent (3 and a notice), 2 deferred, "
                 "1 bounced, the notice received")
    assert sink.wait_count(4, 10)
    for (fam, label), values in expect.items():
        for lv, n in values.items():
            assert value(m, fam, label, lv) == n, (fam, lv, m[fam])
    log = inst.log()
    for word, n in (("sent", 4), ("deferred", 2), ("bounced", 1)):
        assert log.count("status=%s " % word) == n, word

    # the queue gauges agree with ncqshow, also after a hold
    def agree():
        q = inst.qshow_json()
        m = parse(scrape(inst))
        for state in ("incoming", "active", "deferred", "hold"):
            n = sum(1 for x in q if x["queue_name"] == state)
            if value(m, "ncmta_queue_messages", "state", state) != n:
                return None
        return m
    m = wait_for(agree, 10, "queue gauges equal to ncqshow's counts")
    assert value(m, "ncmta_queue_oldest_age_seconds", "state",
                 "deferred") > 0
    assert value(m, "ncmta_queue_oldest_age_seconds", "state",
                 "incoming") == 0
    ids = inst.queue_ids()
    assert inst.ctl("hold", ids[0]).returncode == 0
    m = wait_for(lambda: value(parse(scrape(inst)), "ncmta_queue_messages",
                               "state", "hold") == 1 and agree(), 10,
                 "one message held")
    assert value(m, "ncmta_queue_oldest_age_seconds", "state", "hold") > 0


def http(port, raw):
    """Send raw bytes, return the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def test_http_metrics_endpoint(instances, sink):
    port = free_port()
    inst = instances(smart_host=[sink],
                     metrics_listen="127.0.0.1:%d" % port).start()
    assert inst.pids("metricsd"), inst.processes()
    url = "http://127.0.0.1:%d" % port
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == \
            "text/plain; version=0.0.4; charset=utf-8"
        check_contract(parse(r.read().decode("utf-8")))
    for path, method, code in (("/other", "GET", 404), ("/", "GET", 404),
                               ("/metrics", "POST", 405),
                               ("/metrics", "HEAD", 405)):
        req = urllib.request.Request(url + path, method=method,
                                     data=b"x" if method == "POST" else None)
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("%s %s answered 200" % (method, path))
        except urllib.error.HTTPError as e:
            assert e.code == code, (method, path, e.code)
    for raw in (b"garbage\r\n\r\n", b"\x00\xff\r\n\r\n",
                b"GET /metrics\r\n\r\n", b"GET  /metrics HTTP/1.1\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
                b"GET /metrics HTTP/1.1\rX\r\n\r\n"):
        assert http(port, raw).startswith(b"HTTP/1.1 400 "), raw
    assert http(port, b"GET /metrics HTTP/2.0\r\n\r\n").startswith(
        b"HTTP/1.1 505 ")
    assert http(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 +
                b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    # a query string, bare LF line ends: still the metrics
    ok = http(port, b"GET /metrics?x=1 HTTP/1.0\nHost: a\n\n")
    assert ok.startswith(b"HTTP/1.1 200 ")
    check_contract(parse(ok.split(b"\r\n\r\n", 1)[1].decode()))
    # the daemon survived all of it
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.status == 200
    assert "restarting in" not in inst.log()


def test_restart_counted(running):
    inst = running
    inst.expect_restarts = True
    before = value(parse(scrape(inst)), "ncmta_daemon_restarts", "daemon",
                   "pickup")
    old = inst.pids("pickup")[0]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: [p for p in inst.pids("pickup") if p != old], 15,
             "a new pickup")
    m = parse(scrape(inst))
    assert value(m, "ncmta_daemon_restarts", "daemon", "pickup") == \
        before + 1
    assert value(m, "ncmta_daemon_restarts", "daemon", "qmgr") == 0


def test_grafana_dashboard_uses_the_families():
    """doc/grafana-dashboard.json: valid JSON, Grafana's dashboard model,
    each panel's Prometheus targets on families of the contract."""
    import json
    import re
    path = os.path.join(os.path.dirname(__file__), "..", "..", "doc",
                        "grafana-dashboard.json")
    with open(path) as f:
        d = json.load(f)
    assert d["title"] and d["panels"]
    names = set()
    for p in d["panels"]:
        assert p["type"] and p["targets"] and "gridPos" in p
        for t in p["targets"]:
            found = re.findall(r"ncmta_[a-z_]+", t["expr"])
            assert found, t
            names.update(found)
    families = {n if CONTRACT[n][0] == "gauge" else n + "_total"
                for n in CONTRACT}
    assert names <= families, names - families
    for need in ("ncmta_queue_messages", "ncmta_queue_oldest_age_seconds",
                 "ncmta_delivery_status_total",
                 "ncmta_daemon_restarts_total"):
        assert need in names


# -- the counters of the other daemons, each against a scripted run ----------


def received(m):
    return {s: value(m, "ncmta_received_messages", "source", s)
            for s in ("sendmail", "smtpd", "dropdir", "notice")}


def wait_sent(inst, n):
    """The metrics once n recipients are counted sent."""
    def settled():
        m = parse(scrape(inst))
        return m if value(m, "ncmta_delivery_status", "status",
                          "sent") == n else None
    return wait_for(settled, 10, "%d sent in the metrics" % n)


def test_received_counted_by_ingest_path(instances, sink):
    """2 messages by ncsendmail, 3 over SMTP to smtpd (one session), 1
    drop file: ncmta_received_messages counts each where it came in."""
    import smtplib

    from listener import start_smtpd
    from peers import free_port
    from test_dropdir import _crlf, _drop, _drop_dir

    port = free_port()
    inst = instances(smart_host=[sink], smtpd_listen="127.0.0.1:%d" % port)
    drop = _drop_dir(inst)
    start_smtpd(inst)
    m = parse(scrape(inst))
    assert received(m) == {"sendmail": 0, "smtpd": 0, "dropdir": 0,
                           "notice": 0}
    for i in range(2):
        data, _ = message(new_token(), "s%d@dest.example" % i, i)
        inst.submit(["s%d@dest.example" % i], data,
                    sender="sender@sender.example")
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
        for i in range(3):
            data, _ = message(new_token(), "t%d@dest.example" % i, i)
            c.sendmail("sender@sender.example", ["t%d@dest.example" % i],
                       data)
    _drop(drop, "%s.eml" % new_token(), _crlf(
        "X-Sender: app@test.example\n"
        "X-Receiver: d0@dest.example\n"
        "Subject: dropped\n\nbody\n"))
    assert sink.wait_count(6, 30), "not all six delivered"
    inst.wait_empty()

    m = wait_sent(inst, 6)
    want = {"sendmail": 2, "smtpd": 3, "dropdir": 1, "notice": 0}
    # pickup sends its counts on its own, every 50 ms
    m = wait_for(lambda: (lambda m: m if received(m) == want else None)(
        parse(scrape(inst))), 10, "the received counts")
    assert received(m) == want, received(m)
    assert value(m, "ncmta_delivery_status", "status", "deferred") == 0
    # the smtp workers keep sessions open, idle, for
    # smtp_connection_idle_time (2 s) after the last message
    assert value(m, "ncmta_smtp_sessions_active") >= 1
    wait_for(lambda: value(parse(scrape(inst)),
                           "ncmta_smtp_sessions_active") == 0, 15,
             "the idle SMTP sessions closed")


def test_smtp_sessions_active_while_a_session_is_open(instances, sinks):
    """A sink that takes 3 s to answer the end of DATA: one session is
    open meanwhile, none after."""
    slow = sinks()
    slow.behaviour.delay = 3.0
    inst = instances(smart_host=[slow]).start()
    data, _ = message(new_token(), "r@dest.example", 0)
    inst.submit(["r@dest.example"], data, sender="sender@sender.example")
    wait_for(lambda: value(parse(scrape(inst)),
                           "ncmta_smtp_sessions_active") == 1, 10,
             "one SMTP session open in the metrics")
    assert slow.wait_count(1, 20)
    inst.wait_empty()
    wait_for(lambda: value(parse(scrape(inst)),
                           "ncmta_smtp_sessions_active") == 0, 10,
             "no SMTP session open in the metrics")


def test_tls_counted_by_result(instances, net):
    """Four domains in direct mode, smtp_tls_security_level may, each
    exchanger offering STARTTLS with another certificate: signed by the
    trusted CA for its name (verified), by the trusted CA for another name
    (trusted), by a CA ncmta does not trust (untrusted), and TLS 1.1 only
    (the handshake fails, the message goes again in plain text)."""
    import ssl
    import warnings

    from peers import ThrowawayCA

    base = net.base
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = ThrowawayCA(os.path.join(base, "good"), "ncmta trusted CA")
        bad = ThrowawayCA(os.path.join(base, "bad"), "ncmta untrusted CA")
    for d in (os.path.join(base, "good"), os.path.join(base, "bad")):
        os.chmod(d, 0o755)
    old = good.server_context(["mx.d.example"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctxs = {"a": good.server_context(["mx.a.example"]),
            "b": good.server_context(["other.example"]),
            "c": bad.server_context(["mx.c.example"]),
            "d": old}
    records, peers = [], {}
    for i, dom in enumerate("abcd"):
        addr = "127.0.0.%d" % (i + 2)
        records += [("MX", "%s.example" % dom, 10, "mx.%s.example" % dom),
                    ("A", "mx.%s.example" % dom, addr)]
        peers[dom] = net.sink(addr, tls_context=ctxs[dom])
    net.dns(records)
    inst = instances(**net.settings(smtp_tls_security_level="may",
                                    smtp_tls_CAfile=good.ca_file)).start()
    for dom in "abcd":
        rcpt = "r@%s.example" % dom
        data, _ = message(new_token(), rcpt, 0)
        inst.submit([rcpt], data, sender="sender@sender.example")
    for dom in "abcd":
        assert peers[dom].wait_count(1, 30), "nothing delivered to " + dom
    inst.wait_empty()

    m = wait_sent(inst, 4)
    tls = {r: value(m, "ncmta_tls_sessions", "result", r)
           for r in ("verified", "trusted", "untrusted", "failed")}
    assert tls == {"verified": 1, "trusted": 1, "untrusted": 1,
                   "failed": 1}, (tls, inst.log())
    log = inst.log()
    for word in ("Verified", "Trusted", "Untrusted"):
        assert log.count("%s TLS connection established" % word) == 1, word
    assert log.count("TLS handshake with") == 1
    # four MX and four A questions, each asked once (the resolver sends
    # its counts on its own, every 50 ms)
    m = wait_for(lambda: (lambda m: m if value(
        m, "ncmta_resolver_lookups", "result", "miss") == 8 else None)(
        parse(scrape(inst))), 10, "8 resolver misses")
    assert value(m, "ncmta_resolver_lookups", "result", "miss") == 8
    assert value(m, "ncmta_resolver_lookups", "result", "tempfail") == 0


def test_resolver_counted_by_result(instances, tmp_path):
    """Questions asked straight at the resolver: three identical ones at
    once (three misses, the later ones merged into the first), twenty
    answered from the cache (hits), two more misses; then a name server
    that never answers (a temporary failure). The figures equal the
    resolver's own counters in `ncctl status`."""
    from peers import NameServer, SilentNameServer
    from test_resolver import ResolverClient, counters

    ns = NameServer(str(tmp_path), records=[
        ("MX", "dom.example", 10, "mx1.dom.example"),
        ("A", "mx1.dom.example", "127.0.0.2")])
    silent = SilentNameServer()
    try:
        inst = instances(dns_servers=ns.spec,
                         smart_host="[127.0.0.1]:9").start()
        wait_for(lambda: os.path.exists(
            os.path.join(inst.queue, "private", "resolver")), 10,
            "the resolver's socket")
        c = ResolverClient(inst)
        try:
            c.ask(*[("MX", "dom.example")] * 3)
            c.ask(*[("MX", "dom.example")] * 20)
            c.ask(("A", "mx1.dom.example"), ("MX", "nx.example"))
        finally:
            c.close()

        def lookups():
            m = parse(scrape(inst))
            return {r: value(m, "ncmta_resolver_lookups", "result", r)
                    for r in ("hit", "miss", "merged", "tempfail")}
        n = counters(inst)
        wait_for(lambda: lookups()["hit"] == 20, 10, "20 hits counted")
        got = lookups()
        assert got == {"hit": n["hits"], "miss": n["misses"],
                       "merged": n["merged"], "tempfail": n["tempfails"]}, \
            (got, n)
        assert got["hit"] == 20 and got["miss"] == 5, got
        assert 1 <= got["merged"] <= 2 and got["tempfail"] == 0, got

        inst.configure(dns_servers=silent.spec)
        assert inst.ctl("reload").returncode == 0
        wait_for(lambda: "name servers: %s" % silent.spec in inst.log(),
                 10, "the resolver to take the silent name server")
        c = ResolverClient(inst, timeout=30)
        try:
            a, = c.ask(("MX", "other.example"))
        finally:
            c.close()
        assert a.status == 3, a  # TEMPFAIL
        got = wait_for(lambda: (lambda g: g if g["tempfail"] == 1 else None)
                       (lookups()), 10, "the temporary failure counted")
        assert got["miss"] == 6 and got["hit"] == 20, got
    finally:
        silent.close()
        ns.close()


def test_scrapers_that_hold_connections(instances, sink):
    """64 scrapers that ask and never read their answers, then 64 that
    connect and never send a request: the first kind costs nothing once
    the answers are written, the second holds every slot for at most
    the 10 s time-out (a 65th is closed at once and logged); then
    scrapes are answered again, and mail flows all along."""
    port = free_port()
    inst = instances(smart_host=[sink],
                     metrics_listen="127.0.0.1:%d" % port).start()
    url = "http://127.0.0.1:%d/metrics" % port

    def scrape_ok():
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status == 200 and b"ncmta_up 1" in r.read()
        except (OSError, urllib.error.URLError):
            return False

    deaf = []
    for _ in range(64):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        deaf.append(s)
    wait_for(scrape_ok, 10, "a scrape answered beside 64 deaf scrapers")
    mute = [socket.create_connection(("127.0.0.1", port), timeout=5)
            for _ in range(64)]
    try:
        assert not scrape_ok(), "a 65th scraper was served"
        wait_for(lambda: "scrapers connected already" in inst.log(), 10,
                 "the 65th scraper refused in the log")
        data, _ = message(new_token(), "r@dest.example", 0)
        inst.submit(["r@dest.example"], data, sender="s@sender.example")
        assert sink.wait_count(1, 20), "mail stopped with the slots full"
        t0 = time.monotonic()
        wait_for(scrape_ok, 20, "scrapes answered after the time-out",
                 interval=0.5)
        assert time.monotonic() - t0 < 15
    finally:
        for s in deaf + mute:
            s.close()
    assert inst.pids("metricsd")
    assert "restarting in" not in inst.log()
