"""End to end through a healthy smart host: every message arrives exactly
once and byte-identical, headers are completed by pickup, the envelope is
kept, one outcome per recipient, and the log has Postfix-shaped lines."""

import os
import re

from instance import wait_for
from msgs import crlf, message, new_token, submit_many, token_counts, token_of

N_BULK = 1000


def test_thousand_messages_exactly_once_byte_identical(running):
    sink = running.sink
    jobs, expect = [], {}
    for i in range(N_BULK):
        tok = new_token()
        rcpt = "user%d@dest%d.example" % (i, i % 10)
        data, body = message(tok, rcpt, i, full_headers=(i % 2 == 1))
        jobs.append(([rcpt], data, "sender@test.example"))
        expect[tok] = (i, rcpt, body)
    results = submit_many(running, jobs)
    bad = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert not bad, "ncsendmail failed %d times, first: %r" % (len(bad),
                                                               bad[0])

    assert sink.wait_count(N_BULK, 60), \
        "only %d of %d messages arrived within 60 s" % (sink.count(), N_BULK)

    got = sink.snapshot()
    counts = token_counts(got)
    assert set(counts) == set(expect), "unknown or missing tokens"
    dups = {t: c for t, c in counts.items() if c > 1}
    assert not dups, "%d messages arrived more than once" % len(dups)
    assert len(got) == N_BULK

    for m in got:
        i, rcpt, body = expect[token_of(m)]
        assert m.mail_from == "sender@test.example"
        assert m.rcpt_tos == [rcpt]
        head, rbody = m.headers_body()
        assert rbody == crlf(body), "message %d: body differs" % i
        assert b"\n" not in m.content.replace(b"\r\n", b""), \
            "message %d: bare LF on the wire" % i
        assert m.header("X-Ncmta-Test") == [str(i)]
        assert m.header("To") == ["<%s>" % rcpt]
        for h in ("Date", "Message-ID", "From"):
            assert len(m.header(h)) == 1, \
                "message %d: %d %s headers" % (i, len(m.header(h)), h)
        assert m.header("Received"), "message %d: no Received header" % i
        if i % 2:
            assert m.header("Message-ID") == ["<%s@test.example>"
                                              % token_of(m)]
            assert m.header("From") == ["Test Sender <sender@test.example>"]
        else:
            assert m.header("Message-ID")[0].endswith("@test.example>")
            assert "sender@test.example" in m.header("From")[0]
    assert all(m.helo.startswith("EHLO test.example") for m in got)
    assert all("BODY=8BITMIME" in [o.upper() for o in m.mail_options]
               for m in got), "8-bit bodies sent without BODY=8BITMIME"
    wait_for(lambda: running.qshow_json() == [], 15, "an empty queue")
    assert sink.count() == N_BULK


def test_one_outcome_per_recipient(running):
    """250 / 550 / 450 to three recipients of one message: one delivered,
    one bounced, one deferred then delivered when the sink relents."""
    sink = running.sink
    sink.behaviour.rcpt_replies = {
        "bad@dest.example": "550 5.1.1 no such user",
        "later@dest.example": "450 4.2.1 mailbox busy",
    }
    tok = new_token()
    rcpts = ["ok@dest.example", "bad@dest.example", "later@dest.example"]
    data, body = message(tok, rcpts[0])
    running.submit(rcpts, data, sender="sender@test.example")

    assert sink.wait_count(1, 20)
    first = sink.snapshot()[0]
    assert token_of(first) == tok
    assert first.rcpt_tos == ["ok@dest.example"]

    def deferred():
        q = running.qshow_json()
        return q if (len(q) == 1 and q[0]["queue_name"] == "deferred") \
            else None
    q = wait_for(deferred, 20, "the message deferred")[0]
    left = [r["address"] for r in q["recipients"]]
    assert left == ["later@dest.example"], q
    assert "450" in q["recipients"][0]["delay_reason"] or \
        "busy" in q["recipients"][0]["delay_reason"], q

    log = running.log()
    assert re.search(r"to=<bad@dest\.example>, .*status=bounced \(.*550",
                     log), log
    assert re.search(r"to=<later@dest\.example>, .*status=deferred \(.*450",
                     log), log

    sink.behaviour.rcpt_replies = {}
    running.ctl("flush", check=True)
    wait_for(lambda: any(token_of(m) == tok and
                         m.rcpt_tos == ["later@dest.example"]
                         for m in sink.snapshot()), 20,
             "the deferred recipient delivered")
    wait_for(lambda: running.qshow_json() == [], 10, "an empty queue")
    ours = [m for m in sink.snapshot() if token_of(m) == tok and
            m.mail_from == "sender@test.example"]
    assert sorted(r for m in ours for r in m.rcpt_tos) == [
        "later@dest.example", "ok@dest.example"]


def test_log_lines(running):
    sink = running.sink
    tok = new_token()
    data, _ = message(tok, "logged@dest.example")
    running.submit(["logged@dest.example"], data, sender="who@test.example")
    assert sink.wait_count(1, 20)

    def removed():
        m = re.search(r"ncmta/smtp\[\d+\]: ([0-9A-F]{10,20}): "
                      r"to=<logged@dest\.example>, ", running.log())
        return m and re.search(r"ncmta/qmgr\[\d+\]: %s: removed$"
                               % m.group(1), running.log(), re.M) and m
    qid = wait_for(removed, 10, "a sent line and a removed line").group(1)
    log = running.log()
    sent = re.search(r"^.*ncmta/smtp\[\d+\]: %s: to=<logged@dest\.example>, "
                     r"relay=\S+\[127\.0\.0\.1\]:%d, delay=[\d.]+, "
                     r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                     r"status=sent \(250 .*\)$" % (qid, sink.port), log, re.M)
    assert sent, ("no status=sent line shaped as ncctl(8), LOGGING, says, "
                  "for %s in:\n%s" % (qid, log))
    assert re.search(r"ncmta/pickup\[\d+\]: %s: uid=%d from=<who@test\."
                     r"example>" % (qid, os.getuid()), log), log
    assert re.search(r"ncmta/qmgr\[\d+\]: %s: from=<who@test\.example>, "
                     r"size=\d+, nrcpt=1 \(queue active\)" % qid, log), log


def test_message_id_logged(running):
    """pickup logs each message's Message-ID once, after its uid= from=
    line, as Postfix's cleanup does: the one the message brings, or the
    one pickup added -- the one the next hop receives."""
    sink = running.sink
    given, added = new_token(), new_token()
    running.submit(["mid1@dest.example"],
                   message(given, "mid1@dest.example", full_headers=True)[0],
                   sender="who@test.example")
    running.submit(["mid2@dest.example"],
                   message(added, "mid2@dest.example")[0],
                   sender="who@test.example")
    assert sink.wait_count(2, 20)
    got = {token_of(m): m for m in sink.snapshot()}

    def logged(tok, rcpt):
        qid = wait_for(lambda: re.search(
            r"ncmta/smtp\[\d+\]: ([0-9A-F]{10,20}): to=<%s>"
            % re.escape(rcpt), running.log()), 10, "the sent line").group(1)
        lines = [line for line in running.log().splitlines()
                 if re.search(r"ncmta/pickup\[\d+\]: %s: " % qid, line)]
        assert len(lines) == 2 and "uid=%d from=<who@test.example>" % \
            os.getuid() in lines[0], lines
        mid = re.search(r": %s: message-id=(<[^>]+>)$" % qid, lines[1])
        assert mid, lines
        assert len(running.log_lines("%s: message-id=" % qid)) == 1
        head = got[tok].headers_body()[0].decode()
        assert re.search(r"(?mi)^Message-ID: %s\r$" % re.escape(
            mid.group(1)), head), (mid.group(1), head)
        return mid.group(1)

    assert logged(given, "mid1@dest.example") == "<%s@test.example>" % given
    assert logged(added, "mid2@dest.example").endswith("@test.example>")


def test_long_lines_are_broken(running):
    """Lines over 998 octets leave broken into legal lines, nothing lost."""
    sink = running.sink
    tok = new_token()
    long1 = bytes(ord("a") + i % 26 for i in range(5000))
    long2 = b"." + b"z" * 2500
    body = b"short\n" + long1 + b"\n" + long2 + b"\nend\n"
    data, _ = message(tok, "long@dest.example", body=body)
    running.submit(["long@dest.example"], data, sender="s@test.example")
    assert sink.wait_count(1, 20)
    m = sink.snapshot()[0]
    _, rbody = m.headers_body()
    assert all(len(line) <= 998 for line in rbody.split(b"\r\n")), \
        [len(line) for line in rbody.split(b"\r\n")]
    assert rbody.startswith(b"short\r\n") and rbody.endswith(b"\r\nend\r\n")
    assert rbody.replace(b"\r\n", b"") == body.replace(b"\n", b"")


def test_large_message_intact(running):
    """A 3 MB message crosses every IPC hop in many chunks and arrives
    byte-identical."""
    sink = running.sink
    tok = new_token()
    line = bytes(range(0x21, 0x7f)) + b"\xc3\xa9"
    body = b"".join(b"%06d " % i + line + b"\n" for i in range(30000))
    data, _ = message(tok, "big@dest.example", body=body)
    running.submit(["big@dest.example"], data, sender="s@test.example")
    assert sink.wait_count(1, 30)
    m = sink.snapshot()[0]
    assert token_of(m) == tok
    assert m.headers_body()[1] == crlf(body)


def test_null_sender(running):
    sink = running.sink
    tok = new_token()
    data, body = message(tok, "null@dest.example")
    running.submit(["null@dest.example"], data, sender="<>")
    assert sink.wait_count(1, 20)
    m = sink.snapshot()[0]
    assert token_of(m) == tok
    assert m.mail_from == ""
    assert m.headers_body()[1] == crlf(body)


def test_ncmta_debug_logs_the_smtp_dialogue(instances, sink, monkeypatch):
    """NCMTA_DEBUG in the environment of ncctl start (a systemd drop-in's
    Environment=, for one) reaches the smtp workers through the master:
    each line sent (">") and received ("<") is logged with the peer."""
    monkeypatch.setenv("NCMTA_DEBUG", "1")
    inst = instances(smart_host=[sink]).start()
    inst.submit(["rcpt@dest.example"],
                message(new_token(), "rcpt@dest.example")[0],
                sender="s@test.example")
    assert sink.wait_count(1, 30)
    inst.wait_empty()
    log = inst.log()
    peer = r"^.* ncmta/smtp\[\d+\]: %s [^ ]+\[127\.0\.0\.1\]: "
    for way, line in (("<", r"220 "), (">", r"EHLO test\.example$"),
                      (">", r"MAIL FROM:<s@test\.example>"),
                      (">", r"RCPT TO:<rcpt@dest\.example>$"),
                      (">", r"DATA$"), ("<", r"250 2\.0\.0 ")):
        pat = peer % way + line
        assert re.search(pat, log, re.M), (pat, log[-3000:])
