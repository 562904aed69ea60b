"""The user commands' contract: ncsendmail's exit codes and flags, ncctl
check's file:line errors and ncctl status, ncqshow's mailq-like listing and
its --json form."""

import os
import pwd
import re

import pytest

from instance import NCSENDMAIL, wait_for
from msgs import message, new_token, token_of

QID = r"[0-9A-F]{10,20}"


def _sendmail(inst, args, data=b"Subject: x\n\nbody\n", confdir=None):
    return inst.run([NCSENDMAIL, "-C", confdir or inst.confdir] + args,
                    input=data)


def test_sendmail_exit_codes(instances):
    inst = instances(smart_host="[127.0.0.1]:9")
    inst.start()
    inst.stop()  # the queue exists; nothing runs
    before = set(inst.maildrop_files())

    r = _sendmail(inst, ["-i"])
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert r.stderr.strip() and len(r.stderr.strip().splitlines()) == 1

    r = _sendmail(inst, ["-i", "-f"])  # -f without its argument
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert r.stderr.strip()

    missing = os.path.join(inst.base, "no-such-dir")
    r = _sendmail(inst, ["-i", "rcpt@x.example"], confdir=missing)
    assert r.returncode == 78, (r.returncode, r.stderr)
    assert r.stderr.strip()

    assert set(inst.maildrop_files()) == before, "failed submission left a file"

    # An unknown flag is ignored, never a lost message.
    r = _sendmail(inst, ["-i", "-Zbogus", "rcpt@x.example"])
    assert r.returncode == 0, r.stderr
    assert len(inst.maildrop_files()) == len(before) + 1


def test_sendmail_flags_t_f_F(running):
    """-t takes To/Cc/Bcc (plus command-line recipients) and removes Bcc;
    -f sets the envelope sender, -F the name of the From pickup adds."""
    sink = running.sink
    tok = new_token()
    data = (b"Subject: ncmta-token-%s\nTo: a@t.example\nCc: B <b@t.example>\n"
            b"Bcc: hidden@t.example\n\nbody\n" % tok.encode())
    running.submit(["extra@t.example"], data, sender="env@test.example",
                   flags=("-t", "-i", "-F", "Some Body"))
    assert sink.wait_count(1, 20)
    m = sink.snapshot()[0]
    assert token_of(m) == tok
    assert m.mail_from == "env@test.example"
    assert sorted(m.rcpt_tos) == ["a@t.example", "b@t.example",
                                  "extra@t.example", "hidden@t.example"]
    head, body = m.headers_body()
    assert b"hidden@t.example" not in head, "Bcc leaked"
    assert m.header("Bcc") == []
    assert m.header("From") == ["Some Body <env@test.example>"], \
        m.header("From")
    assert body == b"body\r\n"


def test_sendmail_duplicate_recipients_once(running):
    sink = running.sink
    tok = new_token()
    data, _ = message(tok, "dup@t.example")
    running.submit(["dup@t.example", "dup@t.example", "other@t.example"],
                   data, sender="s@test.example")
    assert sink.wait_count(1, 20)
    wait_for(lambda: running.qshow_json() == [], 10, "an empty queue")
    rcpts = sorted(r for m in sink.snapshot() for r in m.rcpt_tos)
    assert rcpts == ["dup@t.example", "other@t.example"]


def test_ncctl_check(instances):
    inst = instances(smart_host="[127.0.0.1]:9")
    r = inst.ctl("check")
    assert r.returncode == 0, (r.stdout, r.stderr)

    with open(inst.conffile) as f:
        nlines = len(f.read().splitlines())
    inst.configure(extra_lines=["no_such_setting = 1"])
    r = inst.ctl("check")
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 1, out
    assert "%s:%d" % (inst.conffile, nlines + 1) in out, out
    assert "no_such_setting" in out, out

    inst.configure(extra_lines=["min_backoff = banana"])
    r = inst.ctl("check")
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 1, out
    assert "%s:%d" % (inst.conffile, nlines + 1) in out, out

    # ncctl start refuses a broken configuration.
    r = inst.ctl("start")
    assert r.returncode != 0
    assert "%s:%d" % (inst.conffile, nlines + 1) in r.stderr.decode()
    inst.configure()
    assert inst.ctl("status").returncode == 1
    assert inst.processes() == []


def test_ncctl_status(instances, sink):
    inst = instances(smart_host=[sink])
    assert inst.ctl("status").returncode == 1
    inst.start()
    r = inst.ctl("status")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for p in inst.processes():
        assert str(p.pid) in out, (p, out)
    inst.stop()
    assert inst.ctl("status").returncode == 1


def _queue_deferred(instances, sinks, n=1):
    sink = sinks(up=False)
    inst = instances(smart_host=[sink]).start()
    toks = []
    for i in range(n):
        tok = new_token()
        data, _ = message(tok, "rcpt%d@queued.example" % i, i)
        inst.submit(["rcpt%d@queued.example" % i], data,
                    sender="sender@test.example")
        toks.append(tok)
    wait_for(lambda: len(inst.qshow_json()) == n and all(
        m["queue_name"] == "deferred" for m in inst.qshow_json()), 20,
        "%d deferred messages" % n)
    return inst, sink, toks


def test_ncqshow_json(instances, sinks):
    inst, sink, toks = _queue_deferred(instances, sinks, 3)
    q = inst.qshow_json()
    keys = {"queue_name", "queue_id", "arrival_time", "message_size",
            "sender", "recipients", "next_attempt"}
    for m in q:
        assert keys <= set(m), m
        assert re.fullmatch(QID, m["queue_id"]), m["queue_id"]
        assert isinstance(m["arrival_time"], int)
        assert isinstance(m["message_size"], int) and m["message_size"] > 0
        for r in m["recipients"]:
            assert r["address"] and r["delay_reason"]
    ids = [m["queue_id"] for m in q]
    assert len(set(ids)) == 3 and len({len(i) for i in ids}) == 1
    by_arrival = sorted(q, key=lambda m: (m["arrival_time"], m["queue_id"]))
    assert [m["queue_id"] for m in by_arrival] == sorted(ids)
    assert inst.qshow_json("--state", "incoming") == []
    assert len(inst.qshow_json("--state", "deferred")) == 3


def test_ncqshow_listing(instances, sinks):
    inst, sink, toks = _queue_deferred(instances, sinks, 1)
    m = inst.qshow_json()[0]
    out = inst.qshow().stdout.decode()
    lines = out.splitlines()
    head = [i for i, l in enumerate(lines) if l.startswith(m["queue_id"])]
    assert head, out
    i = head[0]
    fields = lines[i].split()
    assert fields[0] in (m["queue_id"], m["queue_id"] + "*")
    assert int(fields[1]) == m["message_size"], out
    assert fields[-1] == "sender@test.example", out
    rest = lines[i + 1:]
    reason = m["recipients"][0]["delay_reason"]
    assert any(l.strip() == "(%s)" % reason for l in rest), out
    assert any(l.strip() == "rcpt0@queued.example" for l in rest), out
    assert re.search(r"^-- \d+ Kbytes in 1 Request\.$", out, re.M), out

    sink.start()
    inst.ctl("flush", check=True)
    wait_for(lambda: inst.qshow_json() == [], 20, "an empty queue")
    out = inst.qshow().stdout.decode()
    assert "Mail queue is empty" in out, out


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become a user")
def test_non_root_start(instances, sink):
    """Started by an ordinary user, every daemon (the master too) runs as
    that user, a warning is logged, and mail flows."""
    user = "ncmta"
    pw = pwd.getpwnam(user)
    inst = instances(smart_host=[sink], mail_owner=user)
    inst.use_private_copies()  # the build tree may be out of their reach
    for root, dirs, files in os.walk(inst.base):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    os.chown(inst.base, pw.pw_uid, pw.pw_gid)
    inst.run_as = user
    inst.start()
    procs = inst.processes()
    assert {"master", "pickup", "qmgr", "smtp"} <= {p.name for p in procs}
    for p in procs:
        assert set(p.ids("Uid")) == {pw.pw_uid}, (p, p.ids("Uid"))
    assert re.search(r"ncmta/master\[\d+\]: warning: .*root", inst.log()), \
        inst.log()
    tok = new_token()
    data, body = message(tok, "user@nonroot.example")
    inst.submit(["user@nonroot.example"], data, sender="s@test.example")
    assert sink.wait_count(1, 20)
    assert token_of(sink.snapshot()[0]) == tok
    assert sink.snapshot()[0].headers_body()[1] == body.replace(b"\n",
                                                                  b"\r\n")


def test_reload_reaches_the_smtp_workers(instances, sink):
    """ncctl reload: the smtp workers greet with the new myhostname from
    the next connection on, without a restart; a changed smtp_tls_CAfile
    is logged as waiting for the next start."""
    inst = instances(smart_host=[sink], smtp_connection_idle_time="0s")
    inst.start()
    pids = inst.pids("smtp")
    rcpt = "a@reload.example"
    inst.submit([rcpt], message(new_token(), rcpt)[0])
    assert sink.wait_count(1, 20)
    inst.configure(myhostname="renamed.example",
                   smtp_tls_CAfile="/etc/ssl/certs/ca-certificates.crt")
    assert inst.ctl("reload").returncode == 0
    wait_for(lambda: inst.log_lines(
        'warning: reload: smtp_tls_CAfile = '
        '"/etc/ssl/certs/ca-certificates.crt" needs a restart'), 10,
        "the CAfile warning")
    rcpt = "b@reload.example"
    inst.submit([rcpt], message(new_token(), rcpt)[0])
    assert sink.wait_count(2, 20)
    assert sink.helo_log[0] == "EHLO test.example", sink.helo_log
    assert sink.helo_log[-1] == "EHLO renamed.example", sink.helo_log
    assert inst.pids("smtp") == pids
