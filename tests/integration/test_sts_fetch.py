"""MTA-STS questions (STS_QUERY) to the resolver daemon seen from its
socket: a dnsmasq serves _mta-sts TXT records and the policy hosts'
addresses (mta-sts.DOMAIN on 127.0.0.x), Python HTTPS servers on one
shared port play the policy hosts, well or badly, with certificates of a
throwaway CA that the instance trusts (smtp_tls_CAfile). The tests check
each STS_ANSWER: the policy file fetched, the known id answered without a
fetch, no record, record errors, a failed TXT lookup, certificate
failures, HTTP failures, a silent host within smtp_mta_sts_timeout, and
that questions for one domain share one fetch."""

import os
import re
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from instance import wait_for
from peers import NameServer, ThrowawayCA, shared_port
from proto import M_STS_ANSWER, M_STS_QUERY, PROTO_H
from test_resolver import Answer, ResolverClient, _str, counters, \
    resolver_pid


def sts_statuses(path=PROTO_H):
    """{name: number} of enum sts_status in common/proto.h."""
    with open(path, encoding="utf-8") as f:
        body = re.search(r"enum\s+sts_status\s*\{(.*?)\};", f.read(), re.S)
    src = re.sub(r"/\*.*?\*/", " ", body.group(1), flags=re.S)
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"(STS_S_\w+)\s*=\s*(\d+)", src)}


S = sts_statuses()
NONE, SAME, FETCHED = S["STS_S_NONE"], S["STS_S_SAME"], S["STS_S_FETCHED"]
TXT_FAIL, FETCH_FAIL = S["STS_S_TXT_FAIL"], S["STS_S_FETCH_FAIL"]
WEBPKI_FAIL = S["STS_S_WEBPKI_FAIL"]
TIMEOUT = 3  # smtp_mta_sts_timeout of the instances here


def policy(domain):
    return ("version: STSv1\r\nmode: enforce\r\nmx: mx.%s\r\n"
            "max_age: 86400\r\n" % domain)


# -- the policy hosts ----------------------------------------------------------
class PolicyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        host = (self.headers.get("Host") or "").split(":")[0]
        with srv.lock:
            srv.requests.append((host, self.path))
        if srv.behaviour == "midheaders":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
            self.wfile.flush()
            self.close_connection = True
            return
        domain = host[len("mta-sts."):]
        status, ctype, body, extra = {
            "good": (200, "text/plain; charset=utf-8",
                     policy(domain).encode(), ()),
            "404": (404, "text/plain", b"not here\n", ()),
            "redirect": (301, "text/plain", b"", (
                ("Location", "https://mta-sts.good.example"
                 "/.well-known/mta-sts.txt"),)),
            "html": (200, "text/html", policy(domain).encode(), ()),
            "big": (200, "text/plain", b"x" * (65536 + 1), ()),
        }[srv.behaviour]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class PolicyServer(ThreadingHTTPServer):
    """HTTPS on host:port with a certificate (cert, key); behaviour says
    how it answers ("silent": accepts and never speaks). The handshake
    runs in the connection's thread, so a client that stalls it stalls
    nothing else. requests: (Host, path) of each GET."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host, port, behaviour, cert):
        self.behaviour = behaviour
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*cert)
        super().__init__((host, port), PolicyHandler)
        self.thread = threading.Thread(target=self.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def finish_request(self, request, client_address):
        if self.behaviour == "silent":
            self.stopping.wait(60)
            return
        request.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate
        try:
            super().finish_request(tls, client_address)
        except OSError:
            pass
        finally:
            tls.close()

    def count(self, host=None):
        with self.lock:
            return len([r for r in self.requests
                        if host is None or r[0] == host])

    def stop(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self.thread.join(10)


# domain -> (behaviour, which certificate); each behaviour on its own
# 127.0.0.x, the good one serving several domains
HOSTS = {"good": "127.0.0.2", "untrusted": "127.0.0.3",
         "wrongname": "127.0.0.4", "404": "127.0.0.5",
         "redirect": "127.0.0.6", "html": "127.0.0.7", "big": "127.0.0.8",
         "silent": "127.0.0.9", "midheaders": "127.0.0.10"}
GOOD_DOMAINS = ("good.example", "split.example", "pair.example",
                "gone.example")


class World:
    """The name server, the CAs and the policy hosts, shared by the
    module's tests (each starts its own instance)."""

    def __init__(self, base):
        self.ca = ThrowawayCA(base)
        other = ThrowawayCA(os.path.join(base, "other"), name="not trusted")
        self.port = shared_port(list(HOSTS.values()))
        certs = {"good": self.ca.server_cert(
            ["mta-sts." + d for d in GOOD_DOMAINS]),
            "untrusted": other.server_cert(["mta-sts.untrusted.example"]),
            "wrongname": self.ca.server_cert(["mta-sts.other.example"])}
        self.servers = {}
        records = []
        for b, host in HOSTS.items():
            cert = certs.get(b) or self.ca.server_cert(
                ["mta-sts.%s.example" % b])
            self.servers[b] = PolicyServer(host, self.port, b, cert)
        for d in GOOD_DOMAINS:
            records.append(("A", "mta-sts." + d, HOSTS["good"]))
            if d != "split.example":
                records.append(("TXT", "_mta-sts." + d,
                                "v=STSv1; id=%s1;" % d.split(".")[0]))
        records.append(("TXT", "_mta-sts.split.example", "v=STSv1; ",
                        "id=split1;"))
        for b, host in HOSTS.items():
            if b != "good":
                records.append(("A", "mta-sts.%s.example" % b, host))
                records.append(("TXT", "_mta-sts.%s.example" % b,
                                "v=STSv1; id=%s1;" % b))
        records += [
            ("TXT", "_mta-sts.two.example", "v=STSv1; id=one;"),
            ("TXT", "_mta-sts.two.example", "v=STSv1; id=two;"),
            ("TXT", "_mta-sts.bad.example", "v=STSv1; id=;"),
            ("TXT", "_mta-sts.spf.example", "v=spf1 -all"),
            # a record but no policy host
            ("TXT", "_mta-sts.nohost.example", "v=STSv1; id=nohost1;")]
        self.ns = NameServer(base, records=records, ttl=60)

    def requests(self, host=None):
        return sum(s.count(host) for s in self.servers.values())

    def close(self):
        for s in self.servers.values():
            s.stop()
        self.ns.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("sts")))
    yield w
    w.close()


# -- the resolver's side ---------------------------------------------------------
def sts_frame(qid, domain, known=""):
    payload = struct.pack(">Q", qid) + _str(domain) + _str(known)
    return struct.pack(">II", len(payload), M_STS_QUERY) + payload


class StsAnswer:
    def __init__(self, payload):
        self.id, self.status = struct.unpack_from(">QI", payload, 0)
        self.txt_id, pos = Answer._str(payload, 12)
        self.policy, pos = Answer._str(payload, pos)
        self.error, pos = Answer._str(payload, pos)
        self.ttl, = struct.unpack_from(">I", payload, pos)
        assert pos + 4 == len(payload), "trailing bytes in STS_ANSWER"

    def __repr__(self):
        return "StsAnswer(id=%d status=%d id=%r ttl=%d error=%r)" % (
            self.id, self.status, self.txt_id, self.ttl, self.error)


class StsClient(ResolverClient):
    def ask_sts(self, *questions):
        """questions: (domain, known id) pairs, sent at once; returns the
        answers in question order."""
        self.sock.sendall(b"".join(sts_frame(i, d, k) for i, (d, k)
                                   in enumerate(questions)))
        return self.answers(len(questions), M_STS_ANSWER, StsAnswer)


def start(instances, world):
    # no mail is sent: the smart host is only there to make a valid
    # configuration
    inst = instances(dns_servers=world.ns.spec, smart_host="[127.0.0.1]:9",
                     smtp_tls_CAfile=world.ca.ca_file,
                     smtp_mta_sts_port=world.port,
                     smtp_mta_sts_timeout="%ds" % TIMEOUT)
    inst.start()
    wait_for(lambda: resolver_pid(inst) and os.path.exists(
        os.path.join(inst.queue, "private", "resolver")), 10,
        "the resolver running")
    return inst


@pytest.fixture
def sts(instances, world):
    """A client of a started instance's resolver (its .inst)."""
    inst = start(instances, world)
    c = StsClient(inst)
    c.inst = inst
    yield c
    c.close()


def ask1(c, domain, known=""):
    return c.ask_sts((domain, known))[0]


def test_fetched_then_same_without_a_request(sts, world):
    c, inst = sts, sts.inst
    before = world.requests("mta-sts.good.example")
    a = ask1(c, "Good.Example.")
    assert (a.status, a.txt_id, a.error) == (FETCHED, "good1", ""), a
    assert a.policy == policy("good.example")
    assert 0 < a.ttl <= 60
    assert world.requests("mta-sts.good.example") == before + 1
    assert world.servers["good"].requests[-1] == (
        "mta-sts.good.example", "/.well-known/mta-sts.txt")

    same = ask1(c, "good.example", "good1")
    assert (same.status, same.txt_id, same.policy) == (SAME, "good1",
                                                       ""), same
    assert 0 < same.ttl <= 60
    assert world.requests("mta-sts.good.example") == before + 1, \
        "the known id must not be fetched again"

    # another id known: the new policy is fetched
    a = ask1(c, "good.example", "older")
    assert a.status == FETCHED and a.txt_id == "good1"
    assert world.requests("mta-sts.good.example") == before + 2

    # a record in several strings is read joined
    s = ask1(c, "split.example")
    assert (s.status, s.txt_id) == (FETCHED, "split1"), s
    assert s.policy == policy("split.example")
    n = counters(inst)
    assert n["sts"] == 4 and n["fetches"] == 3


def test_no_policy_and_record_errors(sts, world):
    c = sts
    before = world.requests()
    none, spf, two, bad, badname = c.ask_sts(
        ("none.example", ""), ("spf.example", ""), ("two.example", ""),
        ("bad.example", ""), ("bad name..example", ""))
    assert (none.status, none.error, none.txt_id) == (NONE, "", ""), none
    assert 0 < none.ttl <= 60
    assert (spf.status, spf.error) == (NONE, ""), spf
    assert two.status == NONE and "2 STSv1 TXT records" in two.error, two
    assert bad.status == NONE and bad.error, bad
    assert badname.status == NONE and badname.error, badname
    assert world.requests() == before

    # _mta-sts.fail.test: dnsmasq refuses it (no upstream server)
    fail = ask1(c, "fail.test")
    assert fail.status == TXT_FAIL, fail
    assert "_mta-sts.fail.test" in fail.error and fail.ttl > 0
    assert world.requests() == before


def test_certificate_failures(sts, world):
    c = sts
    untrusted, wrongname = c.ask_sts(("untrusted.example", ""),
                                     ("wrongname.example", ""))
    assert untrusted.status == WEBPKI_FAIL, untrusted
    assert untrusted.txt_id == "untrusted1"
    assert untrusted.error == (
        "policy fetch from mta-sts.untrusted.example[127.0.0.3]:%d: "
        "certificate verify failed: unable to get local issuer "
        "certificate" % world.port)
    assert wrongname.status == WEBPKI_FAIL, wrongname
    assert wrongname.error.endswith(
        "certificate verify failed: hostname mismatch"), wrongname
    assert world.servers["untrusted"].count() == 0
    assert world.servers["wrongname"].count() == 0


def test_http_failures(sts, world):
    c = sts
    good = world.requests("mta-sts.good.example")
    e404, redirect, html, big, nohost = c.ask_sts(
        ("404.example", ""), ("redirect.example", ""),
        ("html.example", ""), ("big.example", ""),
        ("nohost.example", ""))
    prefix = "policy fetch from mta-sts.%s[%s]:%d: "
    assert e404.status == FETCH_FAIL, e404
    assert e404.error == (prefix % ("404.example", HOSTS["404"],
                                    world.port)) + "HTTP status 404"
    assert redirect.status == FETCH_FAIL, redirect
    assert "HTTP status 301" in redirect.error
    assert world.requests("mta-sts.good.example") == good, \
        "the redirect is not followed"
    assert html.status == FETCH_FAIL, html
    assert "Content-Type text/html is not text/plain" in html.error
    assert big.status == FETCH_FAIL, big
    assert "larger than 65536 octets" in big.error
    assert nohost.status == FETCH_FAIL, nohost
    assert nohost.error.startswith(
        "policy fetch from mta-sts.nohost.example: no address"), nohost
    for a in (e404, redirect, html, big, nohost):
        assert a.policy == "" and a.ttl > 0
    assert world.servers["redirect"].count() == 1


def test_silent_host_and_early_close(sts, world):
    c = sts
    t0 = time.monotonic()
    silent, mid = c.ask_sts(("silent.example", ""),
                            ("midheaders.example", ""))
    took = time.monotonic() - t0
    assert silent.status == FETCH_FAIL, silent
    assert silent.error.endswith("timed out after %ds" % TIMEOUT), silent
    assert TIMEOUT - 0.5 <= took < TIMEOUT + 5, took
    assert mid.status == FETCH_FAIL, mid
    assert "closed before the end of the response headers" in \
        mid.error, mid


def test_one_fetch_for_questions_merged(sts, world):
    c, inst = sts, sts.inst
    pid = resolver_pid(inst)
    before = world.requests("mta-sts.pair.example")
    a, b, same = c.ask_sts(("pair.example", ""), ("PAIR.example", "x"),
                           ("pair.example", "pair1"))
    assert a.status == b.status == FETCHED, (a, b)
    assert a.policy == b.policy == policy("pair.example")
    assert same.status == SAME, same
    assert world.requests("mta-sts.pair.example") == before + 1

    # a client that leaves while its fetch hangs: the answer has nobody
    # to go to, and the resolver carries on
    gone = StsClient(inst)
    try:
        gone.sock.sendall(sts_frame(1, "silent.example"))
        wait_for(lambda: counters(inst)["sts"] == 4, 5,
                 "the resolver reading the question")
    finally:
        gone.close()
    wait_for(lambda: "MTA-STS silent.example: policy fetch" in inst.log(),
             TIMEOUT + 5, "the fetch timing out")
    assert ask1(c, "gone.example").status == FETCHED
    assert resolver_pid(inst) == pid
