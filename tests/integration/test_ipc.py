"""Hostile frames on ncmta's Unix sockets: oversized, unknown, truncated
and out-of-context messages on private/qmgr (what a compromised smtp
worker could send) and public/control are logged and close that peer; the
receiver keeps running and mail keeps flowing."""

import os
import shutil
import socket
import struct
import subprocess
import tempfile

import pytest

from instance import wait_for
from msgs import message, new_token, token_of

from proto import (PROTO_H, TYPES, M_PICKUP_HELLO, M_PICKUP_NEW, M_SMTP_DONE,
                   M_SMTP_HELLO, M_SMTP_RCPT)


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


def test_message_numbers_are_the_compilers():
    """The numbers the hand-made frames of these tests use are common/
    proto.h's as the C compiler reads it: tests/integration/proto.py reads
    the enum, and a program built from proto.h prints every name it found;
    a renumbered message, or one proto.py reads wrong, fails here."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert cc, "no C compiler"
    assert len(TYPES) > 30 and TYPES["M_CTL_FLUSH"] == 1
    src = ['#include <stdio.h>', '#include "%s"' % os.path.abspath(PROTO_H),
           "int main(void) {"]
    src += ['printf("%%s %%d\\n", "%s", (int)%s);' % (n, n) for n in TYPES]
    src += ["return 0; }"]
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "m.c"), "w") as f:
            f.write("\n".join(src) + "\n")
        subprocess.run([cc, "-o", os.path.join(d, "m"),
                        os.path.join(d, "m.c")], check=True, timeout=60)
        out = subprocess.run([os.path.join(d, "m")], check=True, timeout=10,
                             stdout=subprocess.PIPE).stdout.decode()
    got = {n: int(v) for n, v in (ln.split() for ln in out.splitlines())}
    assert got == TYPES


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
