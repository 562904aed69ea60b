"""Who may administer the queue, and what ncctl says (ncctl(8), DESCRIPTION;
issue 4 item 6): the control socket is open to every local user and checks
the caller's uid, so a user other than root and mail_owner may only ask for
the status, and list their own messages -- which ncqshow gets from showq
(mail_owner, in its chroot), the queue itself being unreadable to them --
and anything else is refused and logged; hostile or greedy clients close or
lose only their own connections. ncctl's answers and postsuper-style
selections are checked here; what each operation does to delivery is in
test_admin.py."""

import json
import os
import pwd
import re
import stat
import struct
import subprocess

import pytest

from instance import wait_for
from msgs import message, new_token, token_of

USER = "nobody"
QID = r"[0-9A-F]{16}"

needs_root = pytest.mark.skipif(os.getuid() != 0,
                                reason="needs root to become another user")


def _slow_retries(instances, sink, **kw):
    """An instance whose deferred mail waits an hour: only ncctl makes it
    move."""
    settings = dict(smart_host=[sink], min_backoff="1h", max_backoff="1h")
    settings.update(kw)
    return instances(**settings)


def _submit(inst, rcpt, as_user=None):
    """Submit one message to rcpt (as as_user if given); returns its
    token."""
    tok = new_token()
    inst.submit([rcpt], message(tok, rcpt)[0], as_user=as_user,
                sender=None if as_user else "admin@test.example")
    return tok


def _queued(inst, n):
    """Wait until n messages are queued and deferred; {recipient: qid}."""
    q = inst.wait_deferred(n, timeout=30)
    return {m["recipients"][0]["address"]: m["queue_id"] for m in q}


def _json(p):
    return [json.loads(line) for line in p.stdout.decode().splitlines()
            if line.strip()]


def _tokens(sink):
    return sorted(token_of(m) for m in sink.snapshot())


# ---- what ncctl says, and how it reads a selection ---------------------

def test_answers_and_selectors(instances, sinks):
    """ncctl prints qmgr's count; IDs may come as ncqshow prints them or on
    standard input (postsuper's "-"); a deletion is logged and bounces
    nothing; bad arguments are usage errors (64). (test_admin.py shows
    what each operation does to delivery.)"""
    sink = sinks(up=False)
    inst = _slow_retries(instances, sink)
    inst.start()
    for rcpt in ("x@sel-a.example", "y@sel-a.example", "z@sel-b.example"):
        _submit(inst, rcpt)
    ids = _queued(inst, 3)

    def says(args, text, stdin=None):
        p = inst.run([inst.ncctl, "-c", inst.confdir] + list(args),
                     input=stdin)
        assert p.returncode == 0, (args, p.stderr)
        assert p.stdout.decode() == "ncctl: %s\n" % text, (args, p.stdout)
        assert not p.stderr, (args, p.stderr)

    says(("hold", "--domain", "SEL-A.example"), "2 messages put on hold")
    says(("hold", "--deferred"), "1 message put on hold")
    assert {m["queue_name"] for m in inst.qshow_json()} == {"hold"}
    listing = inst.qshow().stdout.decode()
    says(("release", re.search(r"^%s!" % ids["z@sel-b.example"], listing,
                               re.M).group(0)), "1 message released")
    says(("release", "ALL"), "2 messages released")
    says(("hold", "0000000000000001"), "0 messages put on hold")

    # IDs on standard input: the first word of each line
    feed = "%s\n\n  %s extra words\n%s\n" % (
        ids["x@sel-a.example"], ids["z@sel-b.example"], ids["x@sel-a.example"])
    says(("delete", "-"), "2 messages deleted", stdin=feed.encode())
    for rcpt in ("x@sel-a.example", "z@sel-b.example"):
        wait_for(lambda: inst.log_lines(
            "%s: removed (deleted by the administrator)" % ids[rcpt]), 10,
            "the deletion of %s logged" % rcpt)
        assert not inst.log_lines(ids[rcpt], "status=bounced")
    wait_for(lambda: [m["queue_id"] for m in inst.qshow_json()] ==
             [ids["y@sel-a.example"]], 10, "two messages deleted")

    for args in (("hold",), ("hold", "nothex"),
                 ("delete", "ALL", "--deferred"),
                 ("release", ids["y@sel-a.example"], "ALL"),
                 ("requeue", "--domain"), ("hold", "--bogus"),
                 ("flush", "--domain", "a b"), ("flush", "--domain", "")):
        r = inst.ctl(*args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert r.stderr.strip() and not r.stdout, args
    assert len(inst.qshow_json()) == 1


# ---- access control -----------------------------------------------------

def _shared_instance(instances, sink):
    """An instance another user can run the commands of, and submit to."""
    inst = _slow_retries(instances, sink)
    inst.use_private_copies()  # the build tree may be out of their reach
    inst.start()
    return inst


@needs_root
def test_non_root_may_not_administer(instances, sinks):
    """Any user may connect to the control socket, but only root and
    mail_owner may change or stop anything: the others get "permission
    denied" (exit 1) and the master logs it."""
    sink = sinks(up=False)
    inst = _shared_instance(instances, sink)
    ctl = os.path.join(inst.queue, "public", "control")
    assert stat.S_IMODE(os.stat(ctl).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(os.path.dirname(ctl)).st_mode) == 0o755
    tok = _submit(inst, "victim@perm.example")
    qid = _queued(inst, 1)["victim@perm.example"]
    uid = pwd.getpwnam(USER).pw_uid

    for args in (("hold", qid), ("delete", "ALL"), ("flush",),
                 ("release", qid), ("requeue", "--deferred"),
                 ("flush", "--domain", "perm.example"), ("reload",),
                 ("resolver", "flush"), ("stop",)):
        r = inst.ctl(*args, as_user=USER)
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        assert "permission denied" in r.stderr.decode(), (args, r.stderr)
        assert not r.stdout.strip(), (args, r.stdout)
    assert len(inst.log_lines("permission denied: uid %d" % uid)) >= 9

    # nothing changed, and ncmta still runs
    q = inst.qshow_json()
    assert [(m["queue_id"], m["queue_name"]) for m in q] == \
        [(qid, "deferred")]
    assert inst.ctl("status").returncode == 0
    r = inst.ctl("status", as_user=USER)  # reveals nothing private
    assert r.returncode == 0, r.stderr
    assert "master" in r.stdout.decode()

    # root may
    sink.start()
    assert inst.ctl("flush", qid).returncode == 0
    assert sink.wait_count(1, 20)
    assert _tokens(sink) == [tok]


@needs_root
def test_non_root_lists_only_own_messages(instances, sinks):
    """With the smart host down, root and nobody each queue two messages:
    nobody's ncqshow (which cannot read the queue, so it asks showq)
    lists only nobody's, in every output form and with every filter;
    root's lists all four."""
    sink = sinks(up=False)
    inst = _shared_instance(instances, sink)
    db = os.path.join(inst.queue, "db")
    _submit(inst, "r1@root.example")
    _submit(inst, "r2@both.example")
    _submit(inst, "n1@nobody.example", as_user=USER)
    _submit(inst, "n2@both.example", as_user=USER)
    ids = _queued(inst, 4)
    mine = sorted([ids["n1@nobody.example"], ids["n2@both.example"]])
    theirs = sorted([ids["r1@root.example"], ids["r2@both.example"]])

    st = os.stat(db)  # the queue is closed to nobody
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid != \
        pwd.getpwnam(USER).pw_uid
    r = inst.qshow("--json", check=False, as_user=USER)
    assert r.returncode == 0, r.stderr
    got = _json(r)
    assert sorted(m["queue_id"] for m in got) == mine, got
    assert all(m["sender"].startswith(USER + "@") for m in got), got
    assert all(m["queue_name"] == "deferred" and
               m["recipients"][0]["delay_reason"] for m in got), got
    # showq's copy of a message is the one root reads directly
    root_view = {m["queue_id"]: m for m in inst.qshow_json()}
    assert sorted(root_view) == sorted(mine + theirs)
    for m in got:
        assert m == root_view[m["queue_id"]]

    out = inst.qshow(check=False, as_user=USER).stdout.decode()
    assert "-- " in out and "in 2 Requests." in out, out
    for qid in theirs:
        assert qid not in out, out

    out = inst.qshow("-s", check=False, as_user=USER).stdout.decode()
    total = [l.split() for l in out.splitlines() if l.split()[:1] == ["TOTAL"]]
    assert total and all(t[1] == "2" for t in total), out
    assert "root.example" not in out and "nobody.example" in out, out

    got = inst.qshow_json("--domain", "both.example", as_user=USER)
    assert [m["queue_id"] for m in got] == [ids["n2@both.example"]]
    assert inst.qshow_json("--state", "hold", as_user=USER) == []
    got = inst.qshow_json("--sender", "admin@test.example", as_user=USER)
    assert got == []

    # by ID: another user's message is as good as absent
    r = inst.qshow("--json", theirs[0], mine[0], check=False, as_user=USER)
    assert r.returncode == 0, r.stderr
    assert [m["queue_id"] for m in _json(r)] == [mine[0]]
    assert "%s: " % theirs[0] in r.stderr.decode(), r.stderr
    assert mine[0] not in r.stderr.decode(), r.stderr

    # held by root, nobody sees the ! too
    assert inst.ctl("hold", mine[0]).returncode == 0
    out = inst.qshow(check=False, as_user=USER).stdout.decode()
    assert re.search(r"^%s!\s" % mine[0], out, re.M), out

    # without showq (ncmta stopped), nobody cannot list a queue it cannot
    # read, and is told where it asked
    inst.stop()
    r = inst.qshow("--json", check=False, as_user=USER)
    assert r.returncode == 75, (r.returncode, r.stderr)
    assert "public/showq" in r.stderr.decode() and \
        "is ncmta running?" in r.stderr.decode(), r.stderr
    assert len(inst.qshow_json()) == 4  # root still reads it directly


@needs_root
def test_non_root_huge_message_listed_in_part(instances, sinks):
    """A message with more recipients than one control frame can carry is
    listed to its submitter with part of them and a warning; root, who
    reads the queue directly, sees them all."""
    sink = sinks(up=False)
    inst = _shared_instance(instances, sink)
    rcpts = ["recipient-number-%05d@big.example" % i for i in range(12000)]
    inst.submit(rcpts, b"Subject: many recipients\n\nbody\n", as_user=USER)
    inst.wait_deferred(1, timeout=60)

    r = inst.qshow("--json", check=False, as_user=USER)
    assert r.returncode == 0, r.stderr
    got = _json(r)
    assert len(got) == 1
    assert 1000 < len(got[0]["recipients"]) < 12000
    assert got[0]["recipients"][0]["address"] == rcpts[0]
    assert re.search(r"warning: 1 message listed with only part of its "
                     r"recipients", r.stderr.decode()), r.stderr
    assert len(inst.qshow_json()[0]["recipients"]) == 12000


# A client of the control and showq sockets run as another user, in
# Python: the frames of common/proto.h.
from proto import M_REPLY, M_REQ_LIST, script  # noqa: E402

CLIENT = r'''
import socket, struct, sys, select, time
control, showq, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def frame(t, p=b""):
    return struct.pack(">II", len(p), t) + p
def s(x):
    x = x.encode()
    return struct.pack(">I", len(x)) + x + b"\0"
def ask(path, data):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(path)
    c.sendall(data)
    out = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            out += b
            if len(out) >= 8:
                n, t = struct.unpack(">II", out[:8])
                if t == M_REPLY and len(out) >= 8 + n:
                    break
    except socket.timeout:
        out += b"TIMEOUT"
    c.close()
    return out
if mode == "frames":
    bad_list = frame(M_REQ_LIST, struct.pack(">I", 0) + s(""))
    bogus_state = frame(M_REQ_LIST, struct.pack(">I", 0) + s("bogus") + s("") +
                        s("") + struct.pack(">I", 0))
    tests = [
        (control, frame(M_REQ_ADMIN, struct.pack(">II", 1, 0) + s("") +
                        struct.pack(">I", 0xFFFFFFFF))),
        (control, frame(M_REQ_ADMIN, struct.pack(">II", 99, 1) + s("") +
                        struct.pack(">I", 0))),
        (control, bad_list),
        (control, frame(M_REQ_ADMIN, struct.pack(">II", 3, 1) + s("") +
                        struct.pack(">I", 0))),
        (control, bogus_state),
        (showq, bad_list),
        (showq, bogus_state),
        (showq, frame(M_REQ_STATUS)),
    ]
    for path, t in tests:
        print(ask(path, t).hex())
else:
    socks = []
    for i in range(80):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(control)
        socks.append(c)
    time.sleep(1)
    r, _, _ = select.select(socks, [], [], 1)
    closed = sum(1 for c in r if c.recv(1) == b"")
    print(closed, flush=True)
    sys.stdin.read()
'''


def _client(inst, mode, **kw):
    path = os.path.join(inst.base, "client.py")
    with open(path, "w") as f:
        f.write(script(CLIENT))
    os.chmod(path, 0o644)
    return ["runuser", "-u", USER, "--", "/usr/bin/python3", path,
            os.path.join(inst.queue, "public", "control"),
            os.path.join(inst.queue, "public", "showq"), mode]


def _reply(raw):
    n, t = struct.unpack(">II", raw[:8])
    code, ln = struct.unpack(">II", raw[8:16])
    return t, code, raw[16:16 + ln].decode()


@needs_root
def test_control_socket_hostile_user(instances, sinks):
    """Malformed administration and listing requests from another user
    close only that connection, on the control socket and on showq's;
    well-formed ones get a clear refusal; a user cannot crowd out root by
    holding connections open."""
    sink = sinks(up=False)
    inst = _shared_instance(instances, sink)
    _submit(inst, "stays@hostile.example")
    qid = _queued(inst, 1)["stays@hostile.example"]
    master = inst.master_pid()
    uid = pwd.getpwnam(USER).pw_uid

    p = subprocess.run(_client(inst, "frames"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    answers = [bytes.fromhex(line) for line in
               p.stdout.decode().split("\n")[:8]]
    assert len(answers) == 8, p.stdout
    # malformed administration requests; any listing request, which the
    # control socket no longer serves: closed without an answer
    assert answers[0] == answers[1] == answers[2] == answers[4] == b"", \
        answers
    t, code, text = _reply(answers[3])
    assert (t, code) == (M_REPLY, 1) and "permission denied" in text, text
    # showq: a malformed listing request and a frame of another kind are
    # closed; a well-formed one with a bad state is answered
    assert answers[5] == answers[7] == b"", answers
    t, code, text = _reply(answers[6])
    assert (t, code, text) == (M_REPLY, 1, "unknown state")
    assert len(inst.log_lines("control client", "protocol error")) >= 4
    assert inst.log_lines("control client uid %d" % uid, "protocol error",
                          "unknown message type %d" % M_REQ_LIST)
    assert len(inst.log_lines("protocol error from showq client uid %d"
                              % uid)) == 2

    client = subprocess.Popen(_client(inst, "crowd"), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        closed = int(client.stdout.readline())
        assert closed >= 80 - 8, closed  # 8 connections per user
        assert inst.ctl("status").returncode == 0  # root still gets in
    finally:
        client.communicate(b"", timeout=30)
    assert inst.log_lines("control: refused uid %d" % uid)

    assert inst.master_pid() == master
    assert [m["queue_id"] for m in inst.qshow_json()] == [qid]
