"""Metrics: ncctl metrics and ncmta-metricsd's GET /metrics in the
Prometheus text format, read by Debian's python3-prometheus-client; the
counters follow a scripted run of sent, deferred and bounced mail
exactly, the queue gauges agree with ncqshow, restarts are counted."""

import os
import signal
import socket
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

    def settled():
        m = parse(scrape(inst))
        if (value(m, "ncmta_delivery_status", "status", "sent") == 4 and
                value(m, "ncmta_queue_messages", "state", "deferred") == 2):
            return m
        return None
    m = wait_for(settled, 30, "4 sent (3 and a notice), 2 deferred")
    assert sink.wait_count(4, 10)
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
