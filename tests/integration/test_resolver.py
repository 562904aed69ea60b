"""The resolver daemon seen from its socket: a small client speaking the
IPC framing to QDIR/private/resolver asks MX/A/AAAA questions of an
instance pointed at a dnsmasq (dns_servers), and the tests check the
answers, that identical questions reach the name server once (merged in
flight, then cached), the counters in `ncctl status`, `ncctl resolver
flush`, a silent name server giving TEMPFAIL, a reload that changes
dns_servers, and hostile frames that close only that client."""

import os
import re
import socket
import struct
import time

import pytest

from instance import wait_for
from peers import NameServer, SilentNameServer

from proto import M_DNS_ANSWER, M_DNS_QUERY
TYPES = {"A": 1, "MX": 15, "AAAA": 28}
OK, NXDOMAIN, NODATA, TEMPFAIL = 0, 1, 2, 3


def _str(text):
    b = text.encode()
    return struct.pack(">I", len(b)) + b + b"\0"


def query_frame(qid, qtype, name):
    payload = struct.pack(">QII", qid, TYPES[qtype], 0) + _str(name)
    return struct.pack(">II", len(payload), M_DNS_QUERY) + payload


class Answer:
    def __init__(self, payload):
        self.id, self.status, self.ttl, self.secure = struct.unpack_from(
            ">QIII", payload, 0)
        self.error, pos = self._str(payload, 20)
        n, = struct.unpack_from(">I", payload, pos)
        pos += 4
        self.records = []
        for _ in range(n):
            pref, = struct.unpack_from(">I", payload, pos)
            data, pos = self._str(payload, pos + 4)
            self.records.append((pref, data))
        assert pos == len(payload), "trailing bytes in DNS_ANSWER"

    @staticmethod
    def _str(payload, pos):
        n, = struct.unpack_from(">I", payload, pos)
        assert payload[pos + 4 + n] == 0
        return payload[pos + 4:pos + 4 + n].decode(), pos + 5 + n

    def __repr__(self):
        return "Answer(id=%d status=%d ttl=%d %r %r)" % (
            self.id, self.status, self.ttl, self.error, self.records)


class ResolverClient:
    """Pipelined questions on one connection to private/resolver."""

    def __init__(self, inst, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(os.path.join(inst.queue, "private", "resolver"))
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("resolver closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def ask(self, *questions):
        """questions: (type, name) pairs, sent at once; returns the
        answers in question order."""
        self.sock.sendall(b"".join(query_frame(i, t, n) for i, (t, n)
                                   in enumerate(questions)))
        return self.answers(len(questions), M_DNS_ANSWER, Answer)

    def answers(self, n, mtype, parse):
        """The answers (frames of type mtype, parse(payload) giving an
        object with .id) to questions 0..n-1, in that order."""
        got = {}
        while len(got) < n:
            length, t = struct.unpack(">II", self._read(8))
            assert t == mtype
            a = parse(self._read(length))
            assert a.id not in got, "two answers to one question"
            got[a.id] = a
        return [got[i] for i in range(n)]

    def close(self):
        self.sock.close()


def counters(inst):
    """The resolver's counters from `ncctl status`."""
    p = inst.ctl("status")
    assert p.returncode == 0, p.stderr
    for line in p.stdout.decode().splitlines():
        if line.startswith("resolver"):
            return {k: int(v) for k, v in
                    re.findall(r"(\w+)=(\d+)", line) if k != "pid"}
    raise AssertionError("no resolver line in ncctl status:\n%s" %
                         p.stdout.decode())


def asked(ns, qtype=None, name=None):
    """Questions the name server saw, without NameServer's start-up
    probe."""
    return [q for q in ns.queries(qtype, name) if q[1] != "probe.invalid"]


def resolver_pid(inst):
    pids = inst.pids("resolver")
    return pids[0] if pids else None


@pytest.fixture
def ns(tmp_path):
    server = NameServer(str(tmp_path), records=[
        ("MX", "dom.example", 10, "mx1.dom.example"),
        ("MX", "dom.example", 20, "mx2.dom.example"),
        ("A", "mx1.dom.example", "127.0.0.2"),
        ("AAAA", "mx2.dom.example", "::2"),
        ("NULLMX", "nullmx.example"),
    ], ttl=60)
    yield server
    server.close()


def start(instances, dns_servers):
    # no mail is sent: the smart host is only there to make a valid
    # configuration
    inst = instances(dns_servers=dns_servers, smart_host="[127.0.0.1]:9")
    inst.start()
    wait_for(lambda: resolver_pid(inst) and os.path.exists(
        os.path.join(inst.queue, "private", "resolver")), 10,
        "the resolver running")
    return inst


def test_answers_merged_cached_and_counted(instances, ns):
    inst = start(instances, ns.spec)
    c = ResolverClient(inst)
    try:
        mx = c.ask(("MX", "dom.example"), ("MX", "DOM.example."),
                   ("MX", "dom.example"))
        for a in mx:
            assert a.status == OK, a
            assert sorted(a.records) == [(10, "mx1.dom.example"),
                                         (20, "mx2.dom.example")]
            assert 0 < a.ttl <= 60
        a4, a6, nodata, nx, null = c.ask(
            ("A", "mx1.dom.example"), ("AAAA", "mx2.dom.example"),
            ("AAAA", "mx1.dom.example"), ("MX", "nx.example"),
            ("MX", "nullmx.example"))
        assert (a4.status, a4.records) == (OK, [(0, "127.0.0.2")])
        assert (a6.status, a6.records) == (OK, [(0, "::2")])
        assert nodata.status == NODATA and nodata.records == []
        assert nx.status == NXDOMAIN
        assert nx.error == ("Name service error for name=nx.example "
                            "type=MX: Host not found")
        assert (null.status, null.records) == (OK, [(0, "")])

        # three identical questions at once: one query at the name server
        assert len(ns.queries("MX", "dom.example")) == 1
        again = c.ask(*[("MX", "dom.example")] * 20)
        assert all(a.status == OK for a in again)
        assert len(ns.queries("MX", "dom.example")) == 1, \
            "cached answers must not reach the name server"

        n = counters(inst)
        assert n["queries"] == 28
        assert n["hits"] >= 20
        assert n["misses"] + n["hits"] == n["queries"]
        assert n["merged"] >= 1
        assert n["sent"] == len(asked(ns))

        out = inst.ctl("resolver", "flush")
        assert out.returncode == 0, out.stderr
        assert counters(inst)["cached"] == 0
        c.ask(("MX", "dom.example"))
        assert len(ns.queries("MX", "dom.example")) == 2, \
            "after a flush the question goes to the name server again"
        assert "cache flushed" in inst.log()
    finally:
        c.close()


def test_bad_queries_get_tempfail(instances, ns):
    inst = start(instances, ns.spec)
    c = ResolverClient(inst)
    try:
        bad = c.ask(("MX", "bad name.example"), ("MX", "a..example"),
                    ("MX", "x" * 300))
        assert all(a.status == TEMPFAIL and a.error == "bad query"
                   for a in bad), bad
        assert asked(ns) == []
        assert counters(inst)["rejected"] == 3
    finally:
        c.close()


def test_silent_name_server_is_a_temporary_failure(instances):
    silent = SilentNameServer()
    try:
        inst = start(instances, silent.spec)
        c = ResolverClient(inst, timeout=30)
        t0 = time.monotonic()
        a, = c.ask(("MX", "dom.example"))
        took = time.monotonic() - t0
        c.close()
        assert a.status == TEMPFAIL, a
        assert a.error == ("Name service error for name=dom.example "
                           "type=MX: Host not found, try again")
        assert a.ttl == 0
        assert 3 < took < 15, "time-out after %.1fs" % took
        assert counters(inst)["tempfails"] == 1
        assert "lookup of MX dom.example failed" in inst.log()
    finally:
        silent.close()


def test_reload_points_at_another_name_server(instances, ns):
    silent = SilentNameServer()
    try:
        inst = start(instances, silent.spec)
        pid = resolver_pid(inst)
        inst.configure(dns_servers="%s, %s" % (ns.spec, ns.spec))
        out = inst.ctl("reload")
        assert out.returncode == 0, out.stderr
        wait_for(lambda: "name servers: %s" % ns.spec in inst.log(), 10,
                 "the resolver to take the new dns_servers")
        c = ResolverClient(inst)
        a, = c.ask(("A", "mx1.dom.example"))
        c.close()
        assert (a.status, a.records) == (OK, [(0, "127.0.0.2")])
        assert resolver_pid(inst) == pid, "reload without a restart"
    finally:
        silent.close()


HOSTILE = {
    "oversized": struct.pack(">II", 0x7FFFFFF0, M_DNS_QUERY),
    "unknown type": struct.pack(">II", 0, 9999),
    "truncated": struct.pack(">II", 12, M_DNS_QUERY) +
    struct.pack(">QI", 1, 15),
    "bad string": struct.pack(">II", 17, M_DNS_QUERY) +
    struct.pack(">QII", 1, 15, 0xFFFFFF) + b"x",
    "garbage": os.urandom(4096),
}


def test_hostile_frames_close_only_that_client(instances, ns):
    inst = start(instances, ns.spec)
    pid = resolver_pid(inst)
    path = os.path.join(inst.queue, "private", "resolver")
    for data in HOSTILE.values():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(data)
            assert s.recv(65536) == b"", "the resolver closes the peer"
    wait_for(lambda: inst.log().count(
        "protocol error from resolver client") >= len(HOSTILE), 10,
        "one protocol error logged per hostile client")
    c = ResolverClient(inst)
    a, = c.ask(("MX", "dom.example"))
    c.close()
    assert a.status == OK
    assert resolver_pid(inst) == pid


def test_questions_in_flight_are_limited_per_client(instances):
    silent = SilentNameServer()
    try:
        inst = start(instances, silent.spec)
        c = ResolverClient(inst, timeout=60)
        answers = c.ask(*[("A", "h%d.dom.example" % i)
                          for i in range(1001)])
        c.close()
        refused = [a for a in answers
                   if a.error == "too many questions in flight"]
        assert [a.id for a in refused] == [1000]
        assert all(a.status == TEMPFAIL for a in answers)
        n = counters(inst)
        assert n["rejected"] == 1 and n["tempfails"] == 1000
    finally:
        silent.close()
