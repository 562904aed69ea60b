"""The drop directory (drop_directory): applications drop RFC 5322 files
there, IIS pickup-directory style. Leading X-Sender:/X-Receiver: lines give
the envelope and are not relayed, so a Bcc recipient named only there does
not leak; without them From and To/Cc/Bcc do. Only complete files are
taken; a file that cannot be used goes to bad/ with a NAME.reason file;
files dropped while ncmta is stopped are delivered when it starts.
"""

import os
import pwd
import re
import signal
import time

from instance import mail_owner, wait_for
from msgs import new_token, token_counts, token_of


def _drop_dir(inst):
    """A drop directory as ncmta makes it (mail_owner, 1733), configured."""
    path = os.path.join(inst.base, "drop")
    os.makedirs(path, exist_ok=True)
    pw = pwd.getpwnam(mail_owner())
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o1733)
    inst.configure(drop_directory=path)
    return path


def _drop(path, name, data, uid=None, mode=0o644):
    """Write data under a hidden name, then rename it into place, as an
    application following the convention does."""
    tmp = os.path.join(path, "." + name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    if uid is not None:
        os.chown(tmp, uid, -1)
    os.rename(tmp, os.path.join(path, name))


def _files(path):
    return sorted(f for f in os.listdir(path) if f != "bad")


def _crlf(text):
    return text.replace("\n", "\r\n").encode()


def test_x_receiver_envelope_and_bcc_does_not_leak(instances, sink):
    inst = instances(smart_host=[sink])
    drop = _drop_dir(inst)
    inst.start()
    tok = new_token()
    nobody = pwd.getpwnam("nobody").pw_uid
    _drop(drop, "%s.eml" % tok, _crlf(
        "X-Sender: app@test.example\n"
        "X-Receiver: <visible@rcpt.example>\n"
        "X-Receiver: hidden@rcpt.example\n"
        "From: Web Shop <shop@test.example>\n"
        "To: visible@rcpt.example, header-only@rcpt.example\n"
        "Bcc: header-bcc@rcpt.example\n"
        "Subject: order ncmta-token-%s\n"
        "\n"
        "Your order.\n"
        "X-Receiver: body@rcpt.example stays in the body\n" % tok),
        uid=nobody)

    assert sink.wait_count(1, 20), "the drop file was not delivered"
    wait_for(lambda: not _files(drop), 10, "the drop file removed")
    inst.wait_empty()
    time.sleep(0.5)
    got = sink.snapshot()
    assert len(got) == 1 and token_of(got[0]) == tok
    m = got[0]
    assert m.mail_from == "app@test.example"
    assert sorted(m.rcpt_tos) == ["hidden@rcpt.example",
                                  "visible@rcpt.example"]
    head, body = m.headers_body()
    assert b"x-receiver" not in head.lower(), head
    assert b"x-sender" not in head.lower(), head
    assert b"hidden@rcpt.example" not in m.content
    assert not m.header("Bcc"), head
    assert b"header-bcc@rcpt.example" not in m.content
    assert m.header("To") == [
        "visible@rcpt.example, header-only@rcpt.example"]
    assert m.header("Date") and m.header("Message-ID"), head
    assert m.header("Received")[0].startswith(
        "by test.example (ncmta, from userid %d)" % nobody)
    assert body == b"Your order.\r\nX-Receiver: body@rcpt.example stays " \
        b"in the body\r\n"
    assert re.search(r"ncmta/pickup\[\d+\]: [0-9A-F]+: uid=%d "
                     r"from=<app@test\.example>" % nobody, inst.log())


def test_envelope_from_headers(instances, sink):
    inst = instances(smart_host=[sink])
    drop = _drop_dir(inst)
    inst.start()
    tok = new_token()
    _drop(drop, "no-x-lines", (
        "From: \"Cron Daemon\" <cron@test.example>\n"
        "To: a@rcpt.example,\n  B <b@rcpt.example>\n"
        "Cc: c@rcpt.example, a@rcpt.example\n"
        "Bcc: secret@rcpt.example\n"
        "Subject: report ncmta-token-%s\n"
        "\n"
        "body line\n" % tok).encode())

    assert sink.wait_count(1, 20), "the drop file was not delivered"
    inst.wait_empty()
    got = sink.snapshot()
    assert len(got) == 1 and token_of(got[0]) == tok
    m = got[0]
    assert m.mail_from == "cron@test.example"
    assert sorted(m.rcpt_tos) == ["a@rcpt.example", "b@rcpt.example",
                                  "c@rcpt.example", "secret@rcpt.example"]
    assert not m.header("Bcc")
    assert b"secret@rcpt.example" not in m.content
    assert m.header("From") == ['"Cron Daemon" <cron@test.example>']
    assert not _files(drop)


def test_partial_file_not_taken_early(instances, sink):
    inst = instances(smart_host=[sink])
    drop = _drop_dir(inst)
    inst.start()
    tok = new_token()
    pieces = [b"X-Sender: slow@test.example\r\n",
              b"X-Receiver: r@rcpt.example\r\n",
              b"Subject: slow ncmta-token-%s\r\n" % tok.encode(),
              b"To: r@rcpt.example\r\n\r\n"]
    pieces += [b"line %d of a slowly written body\r\n" % i
               for i in range(36)]
    # Complete files under names that say "still being written".
    waiting = {}
    for name in ("later.eml.tmp", ".later"):
        t = new_token()
        waiting[name] = t
        with open(os.path.join(drop, name), "wb") as f:
            f.write(b"X-Sender: s@test.example\nX-Receiver: w@rcpt.example\n"
                    b"Subject: ncmta-token-%s\n\nbody\n" % t.encode())
    path = os.path.join(drop, "slow.eml")
    # Written in place under its final name, a piece every 0.1 s (a
    # twentieth of the 2 s a file must stand still): with the file
    # incomplete for about 4 s, pickup must wait.
    with open(path, "wb") as f:
        for p in pieces:
            f.write(p)
            f.flush()
            time.sleep(0.1)
            assert sink.count() == 0, "taken while still being written"
            assert os.path.exists(path), "removed while being written"
    assert sink.wait_count(1, 20), "the complete file was not delivered"
    inst.wait_empty()
    time.sleep(2.5)  # a second look at the directory brings no copy
    got = sink.snapshot()
    assert len(got) == 1 and token_of(got[0]) == tok
    _, body = got[0].headers_body()
    assert body == b"".join(pieces[4:])
    assert got[0].rcpt_tos == ["r@rcpt.example"]
    # Seven seconds and at least one scan later the *.tmp and dot files
    # are untouched; renamed to a final name, they go.
    assert _files(drop) == [".later", "later.eml.tmp"]
    for name in waiting:
        os.rename(os.path.join(drop, name),
                  os.path.join(drop, name.strip(".").replace(".tmp", "")))
    assert sink.wait_count(3, 20)
    wait_for(lambda: not _files(drop), 10, "the renamed files taken")
    assert token_counts(sink.snapshot()) == dict(
        [(tok, 1)] + [(t, 1) for t in waiting.values()])


BAD = {
    "no-recipients.eml": (b"From: a@test.example\nSubject: x\n\nbody\n",
                          "no recipients"),
    "no-sender.eml": (b"To: r@rcpt.example\nSubject: x\n\nbody\n",
                      "no sender"),
    "not-a-message.bin": (b"\x00\x01\x02binary\n", "not a message"),
    "too-big.eml": (b"From: a@test.example\nTo: r@rcpt.example\n\n" +
                    b"x" * 70 + b"\n" * 300,
                    "larger than message_size_limit"),
    "two-senders.eml": (b"X-Sender: a@test.example\nX-Sender: b@test.example"
                        b"\nX-Receiver: r@rcpt.example\nSubject: x\n\n",
                        "more than one X-Sender"),
}


def test_bad_files_moved_to_bad_with_reason(instances, sink):
    inst = instances(smart_host=[sink], message_size_limit="20000")
    drop = _drop_dir(inst)
    inst.start()
    bad = os.path.join(drop, "bad")
    wait_for(lambda: os.path.isdir(bad), 10, "bad/ made")
    st = os.stat(bad)
    assert st.st_mode & 0o7777 == 0o750
    assert st.st_uid == pwd.getpwnam(mail_owner()).pw_uid
    BAD["too-big.eml"] = (BAD["too-big.eml"][0] + b"y" * 30000,
                          BAD["too-big.eml"][1])
    for name, (data, _) in BAD.items():
        _drop(drop, name, data)
    # Readable by root only: pickup, as mail_owner, cannot read it.
    _drop(drop, "unreadable.eml",
          b"From: a@test.example\nTo: r@rcpt.example\n\nbody\n", mode=0o600)
    tok = new_token()
    _drop(drop, "good.eml", b"From: a@test.example\nTo: r@rcpt.example\n"
          b"Subject: ncmta-token-%s\n\nfine\n" % tok.encode())

    want = dict((n, w) for n, (_, w) in BAD.items())
    want["unreadable.eml"] = "cannot be read"
    wait_for(lambda: all(os.path.exists(os.path.join(bad, n + ".reason"))
                         for n in want), 20, "every bad file in bad/")
    assert sink.wait_count(1, 20)
    inst.wait_empty()
    for name, why in want.items():
        assert os.path.exists(os.path.join(bad, name)), name
        with open(os.path.join(bad, name + ".reason")) as f:
            reason = f.read()
        assert reason.count("\n") == 1 and why in reason, (name, reason)
        assert inst.log_lines("warning", name, why, "moved to bad/"), name
    assert _files(drop) == []
    assert [token_of(m) for m in sink.snapshot()] == [tok]

    # The same name again: the older bad file is kept beside the new one.
    _drop(drop, "no-sender.eml", BAD["no-sender.eml"][0])
    wait_for(lambda: os.path.exists(os.path.join(bad, "no-sender.eml.1"
                                                 ".reason")), 20,
             "a second bad file of the same name")
    assert os.path.exists(os.path.join(bad, "no-sender.eml"))


def test_dropped_while_stopped_delivered_at_start(instances, sink):
    inst = instances(smart_host=[sink])
    drop = _drop_dir(inst)
    toks = [new_token() for _ in range(3)]
    # Before the first start, and after a stop.
    for i, t in enumerate(toks[:2]):
        _drop(drop, "before-%d.eml" % i, b"X-Sender: s@test.example\n"
              b"X-Receiver: r%d@rcpt.example\nSubject: ncmta-token-%s\n\n"
              b"body\n" % (i, t.encode()))
    inst.start()
    assert sink.wait_count(2, 20)
    inst.wait_empty()
    inst.stop()
    _drop(drop, "while-stopped.eml", b"X-Sender: s@test.example\n"
          b"X-Receiver: r@rcpt.example\nSubject: ncmta-token-%s\n\nbody\n"
          % toks[2].encode())
    time.sleep(0.2)
    assert sink.count() == 2
    inst.start()
    assert sink.wait_count(3, 20)
    inst.wait_empty()
    assert token_counts(sink.snapshot()) == {t: 1 for t in toks}
    assert _files(drop) == []


def test_ncctl_check_names_unusable_drop_directory(instances):
    inst = instances(smart_host="[127.0.0.1]:2525")
    _drop_dir(inst)
    p = inst.ctl("check")
    assert p.returncode == 0, p.stderr.decode()

    missing = os.path.join(inst.base, "no-such-parent", "drop")
    inst.configure(drop_directory=missing)
    p = inst.ctl("check")
    assert p.returncode == 1
    assert ("drop_directory %s does not exist" % missing) in \
        p.stderr.decode()

    inst.configure(drop_directory="relative/drop")
    p = inst.ctl("check")
    assert p.returncode == 1
    assert "not an absolute path" in p.stderr.decode()

    path = os.path.join(inst.base, "ro-drop")
    os.makedirs(path)
    os.chmod(path, 0o755)  # root's, not writable by mail_owner
    inst.configure(drop_directory=path)
    p = inst.ctl("check")
    assert p.returncode == 1
    assert "drop_directory (%s)" % path in p.stderr.decode()


def _drop_numbered(drop, n, tok, extra=b""):
    _drop(drop, "m%04d.eml" % n, b"X-Sender: s@test.example\n"
          b"X-Receiver: r%d@rcpt.example\nSubject: %d ncmta-token-%s\n\n"
          b"%s\n%s" % (n, n, tok.encode(), tok.encode(), extra))


def test_queue_full_leaves_drop_files_for_later(instances, sinks):
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], queue_map_size="1M")
    drop = _drop_dir(inst)
    inst.start()
    flag = os.path.join(inst.queue, "flags", "full")
    filler = b"".join(b"%06d fill line for a large message\n" % n
                      for n in range(1800))  # about 64 KB
    toks = [new_token() for _ in range(25)]
    for i, t in enumerate(toks):
        _drop_numbered(drop, i, t, filler)
    wait_for(lambda: os.path.exists(flag), 30, "the queue marked full")
    # Every file is queued or still waiting in the drop directory.
    wait_for(lambda: len(inst.qshow_json()) + len(_files(drop)) == 25, 20,
             "queued + waiting = dropped")
    left = _files(drop)
    assert left, "a 1 MB queue took 1.6 MB of messages"
    assert not os.listdir(os.path.join(drop, "bad"))
    assert inst.log_lines("cannot queue", "will retry")

    inst.stop()
    inst.configure(queue_map_size="64M")
    inst.start()
    sink.start()
    inst.ctl("flush", check=True)
    assert sink.wait_count(25, 60), "only %d of 25" % sink.count()
    wait_for(lambda: not _files(drop) and inst.qshow_json() == [], 30,
             "an empty queue and drop directory")
    assert token_counts(sink.snapshot()) == {t: 1 for t in toks}


def test_kill9_pickup_while_taking_drop_files(instances, sink, capsys):
    inst = instances(smart_host=[sink])
    inst.expect_restarts = True
    drop = _drop_dir(inst)
    inst.start()
    toks = [new_token() for _ in range(300)]
    for i, t in enumerate(toks):
        _drop_numbered(drop, i, t)
    # Strike while pickup is part way through the files.
    wait_for(lambda: len(_files(drop)) < 200, 20, "pickup taking files",
             interval=0.005, max_interval=0.005)
    left = len(_files(drop))
    old = inst.pids("pickup")[0]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: inst.pids("pickup") and old not in inst.pids("pickup"),
             15, "pickup restarted")
    assert sink.wait_count(300, 60), "only %d of 300" % sink.count()
    inst.wait_empty()
    wait_for(lambda: not _files(drop), 10, "an empty drop directory")
    time.sleep(2.5)
    counts = token_counts(sink.snapshot())
    with capsys.disabled():
        print("\n  kill -9 pickup with %d of 300 drop files left: %d "
              "delivered, %d more than once" % (
                  left, len(counts), sum(1 for n in counts.values()
                                         if n > 1)))
    assert counts == {t: 1 for t in toks}
