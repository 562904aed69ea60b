"""Helpers for the tests of ncmta's listener (smtpd): an instance with
smtpd on 127.0.0.1 and a free port, a raw SMTP client on a socket (for
what no ready-made client sends: pipelined groups, BDAT chunks, bad
commands, idling), the shape of smtpd's Received: field, and finding the
outside programs the tests drive (swaks, curl, msmtp, smtp-source, ...).
"""

import email.utils
import os
import re
import shutil
import socket
import subprocess

import pytest

from instance import wait_for
from msgs import token_of
from peers import free_port

MYHOSTNAME = "test.example"  # the test instances' myhostname
MYORIGIN = "origin.example"  # not local: unqualified addresses relay
QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]+)$")
# The Received: field pickup writes for smtpd (unfolded), RFC 5321 4.4.
RECEIVED_RE = re.compile(
    r"^from (?P<helo>\S+) \((?P<name>\S+) \[(?P<ip>[0-9a-fA-F.:]+)\]\) "
    r"by (?P<by>\S+) \(ncmta\) with (?P<proto>ESMTPS|ESMTP|SMTP) "
    r"id (?P<qid>[0-9A-F]+)(?: for <(?P<rcpt>[^>]*)>)?; (?P<date>.+)$")


def smtpd_instance(instances, sink=None, hold=False, start=True,
                   **settings):
    """An instance whose smtpd listens on 127.0.0.1:inst.port (and whose
    myorigin is origin.example). Mail relays through sink, or with
    hold=True every message stays in the queue, on hold, where a test
    can count it."""
    port = free_port()
    settings.setdefault("myorigin", MYORIGIN)
    inst = instances(smart_host=[sink] if sink is not None
                     else "[127.0.0.1]:9", smtpd_listen="127.0.0.1:%d" % port,
                     **settings)
    inst.port = port
    if hold:
        inst.routes("*   hold\n")
    if start:
        start_smtpd(inst)
    return inst


def start_smtpd(inst):
    """Start the instance and wait until its smtpd runs (the master holds
    the listening socket already, so a client could connect before)."""
    inst.start()
    wait_for(lambda: inst.pids("smtpd"), 10, "%s: smtpd running" % inst.name)
    return inst


def held(inst):
    """Queue IDs of the messages the queue holds."""
    return sorted(inst.queue_ids())


class Conn:
    """One SMTP client connection on a plain socket. Replies come back as
    text, one line per reply line ("250-a\\n250 b"); every read is
    bounded by timeout. source binds the client's end to that address."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10,
                 greet=True):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """The next whole reply (EOFError if the server closed first)."""
        lines = []
        while True:
            line = self._line()
            if line is None:
                raise EOFError("connection closed after %r" % lines)
            lines.append(line)
            if line[3:4] != "-":
                return "\n".join(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, line):
        """Send one command line, return its reply."""
        self.send(line + "\r\n")
        return self.reply()

    def closed(self):
        """Whether the server closes the connection (EOF, or a reset)
        before the next octet or the read time-out."""
        try:
            return self.sock.recv(1) == b"" and not self.buf
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_message(conn, sender, rcpts, content, ehlo="app.example"):
    """EHLO (when not None), MAIL, RCPT, DATA with content (bytes, CRLF
    line ends, dot-stuffed by us), QUIT not sent. Returns the reply to
    the end of the data."""
    if ehlo is not None:
        assert conn.cmd("EHLO " + ehlo).startswith("250")
    assert conn.cmd("MAIL FROM:<%s>" % sender).startswith("250")
    for r in rcpts:
        assert conn.cmd("RCPT TO:<%s>" % r).startswith("250")
    return send_data(conn, content)


def send_data(conn, content):
    """DATA, then content (bytes, CRLF line ends, dot-stuffed here);
    returns the reply to the end of the data."""
    assert conn.cmd("DATA").startswith("354")
    conn.send(dot_stuff(content) + b".\r\n")
    return conn.reply()


def dot_stuff(content):
    """CRLF content made transparent for DATA (RFC 5321 4.5.2), ending
    with CRLF."""
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", content)


def qid_of(reply):
    """The queue ID of a "250 2.0.0 Ok: queued as QID" reply."""
    m = QUEUED_RE.match(reply.splitlines()[-1])
    assert m, "not a queued reply: %r" % reply
    return m.group(1)


def received(msg, proto="ESMTP", helo=None, qid=None, rcpt=None):
    """The first Received: field of a message a sink got, checked against
    the documented shape; returns its parts (a dict)."""
    fields = msg.header("Received")
    assert fields, "no Received: field in %r" % msg.content[:300]
    m = RECEIVED_RE.match(fields[0])
    assert m, "Received: field of an unexpected shape: %r" % fields[0]
    got = m.groupdict()
    assert got["name"] == "localhost" and got["ip"] == "127.0.0.1", got
    assert got["by"] == MYHOSTNAME, got
    assert got["proto"] == proto, got
    for key, want in (("helo", helo), ("qid", qid), ("rcpt", rcpt)):
        assert want is None or got[key] == want, (key, got)
    assert email.utils.parsedate_to_datetime(got["date"]) is not None
    return got


def arrived(sink, tok, timeout=20):
    """The one message carrying tok (in its Subject) that the sink got;
    AssertionError if none comes in time, or more than one."""
    def copies():
        return [m for m in sink.snapshot() if token_of(m) == tok]
    wait_for(copies, timeout, "the message at the sink")
    found = copies()
    assert len(found) == 1, "%d copies" % len(found)
    return found[0]


def body_of(msg):
    return msg.headers_body()[1]


def need(program, env=None, default=None):
    """The path of an outside program a test drives: $env if that names
    one, else default, else the one on PATH. When it is missing the test
    fails under CI (which installs every one) and is skipped elsewhere."""
    for cand in (os.environ.get(env) if env else None, default):
        if cand and os.access(cand, os.X_OK):
            return cand
    found = shutil.which(program)
    if found:
        return found
    why = "%s is not installed%s" % (program, " (nor $%s set)" % env
                                     if env else "")
    if os.environ.get("CI"):
        pytest.fail(why + ": .ci/run should have installed it")
    pytest.skip(why)


def run(argv, input=None, timeout=60, env=None):
    """Run a client program; AssertionError with its output unless it
    exits 0. Returns its output (stdout and stderr, as text)."""
    p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout, env=env)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, "%s exited %d:\n%s" % (argv[0], p.returncode,
                                                    out)
    return out


def self_signed(directory, name=MYHOSTNAME):
    """(certificate, key) files for name, made with openssl."""
    cert = os.path.join(directory, "smtpd-cert.pem")
    key = os.path.join(directory, "smtpd-key.pem")
    subprocess.run([need("openssl"), "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % name],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return cert, key
