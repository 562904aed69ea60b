"""Hostile frames on ncmta's Unix sockets: oversized, unknown, truncated
and out-of-context messages on private/qmgr (what a compromised smtp
worker could send) and public/control are logged and close that peer; the
receiver keeps running and mail keeps flowing."""

import os
import socket
import struct

import pytest

from instance import wait_for
from msgs import message, new_token, token_of

M_PICKUP_HELLO, M_PICKUP_NEW = 40, 41
M_SMTP_HELLO, M_SMTP_RCPT, M_SMTP_DONE = 60, 61, 62
M_REQ_STATUS = 100


def frame(mtype, payload=b"", length=None):
    return struct.pack(">II", len(payload) if length is None else length,
                       mtype) + payload


def s(text):
    b = text.encode()
    return struct.pack(">I", len(b)) + b + b"\0"


HOSTILE = {
    "oversized": frame(M_PICKUP_NEW, length=0x7FFFFFF0),
    "unknown type": frame(9999),
    "truncated": frame(M_PICKUP_HELLO, struct.pack(">I", 1)) +
    frame(M_PICKUP_NEW, struct.pack(">IQ", 5, 1)),
    "out of context": frame(M_PICKUP_NEW, struct.pack(">IQ", 1, 1)),
    "bad string": frame(M_SMTP_HELLO, struct.pack(">II", 1, 10)) +
    frame(M_SMTP_RCPT, struct.pack(">QII", 1, 0, 2) +
          struct.pack(">I", 0xFFFFFF) + b"x"),
    "unknown job": frame(M_SMTP_HELLO, struct.pack(">II", 1, 10)) +
    frame(M_SMTP_RCPT, struct.pack(">QII", 0xDEAD, 0, 2) + s("2.0.0") +
          s("250 ok") + s("evil[127.0.0.1]:25")) +
    frame(M_SMTP_DONE, struct.pack(">QI", 0xDEAD, 2) + s("")),
    "garbage": os.urandom(4096),
}


def _send(path, data):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(5)
        c.connect(path)
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass  # until the receiver closes us
        except (ConnectionError, socket.timeout):
            pass


@pytest.mark.skipif(os.getuid() != 0, reason="the sockets are mail_owner's")
def test_hostile_frames_close_the_peer_only(running):
    sink = running.sink
    before = {p.name: p.pid for p in running.processes()
              if p.name in ("master", "qmgr")}
    qmgr_sock = os.path.join(running.queue, "private", "qmgr")
    control = os.path.join(running.queue, "public", "control")
    for name, data in HOSTILE.items():
        _send(qmgr_sock, data)
    for name in ("oversized", "unknown type", "garbage"):
        _send(control, HOSTILE[name])

    # One logged protocol error per hostile connection, from the right
    # receiver.
    def logged():
        log = running.log()
        return (log.count("qmgr client") >= len(HOSTILE) and
                log.count("control client") >= 3)
    wait_for(logged, 10, "a protocol error logged per hostile peer")
    after = {p.name: p.pid for p in running.processes()
             if p.name in ("master", "qmgr")}
    assert after == before, "a receiver died: %r -> %r" % (before, after)
    assert running.ctl("status").returncode == 0

    tok = new_token()
    data, body = message(tok, "after@dest.example")
    running.submit(["after@dest.example"], data, sender="s@test.example")
    assert sink.wait_count(1, 20), "no delivery after the hostile frames"
    m = sink.snapshot()[0]
    assert token_of(m) == tok and m.rcpt_tos == ["after@dest.example"]
    assert "evil[" not in running.log(), "a forged outcome was logged"
