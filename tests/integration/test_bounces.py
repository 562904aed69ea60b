"""Bounce and delay notices (doc/design.md, bounce in "Processes and
sockets"; ncmta.conf(5); issue 4 items 4 and 5): an RFC 3464
multipart/report to the envelope sender, from the null sender, sent like any
other mail (here: to the same smart-host sink), one notice per message per
event listing every failed recipient; none for the null sender; expiry by
max_queue_lifetime, a delay notice after delay_warning_time, mail loops by
hop_count_limit, and an undeliverable notice dropped after
bounce_queue_lifetime. Notices are taken apart with Python's email package
(msgs.Notice)."""

import email.utils
import re
import time

from instance import wait_for
from msgs import is_notice, message, new_token, notices, token_of
from peers import RcptScript, skip_unless_attempts_countable

# Not in mydestination (test.example is myhostname), so notices to the
# sender leave through the smart host like any mail.
SENDER = "sender@origin.example"
QID = r"[0-9A-F]{10,20}"
FAILED_SUBJECT = "Undelivered Mail Returned to Sender"
DELAY_SUBJECT = "Delayed Mail (still being retried)"


def qid_of(inst, rcpt, timeout=20):
    """The queue ID of the message whose delivery to rcpt was logged."""
    pat = re.compile(r"(%s): to=<%s>" % (QID, re.escape(rcpt)))

    def find():
        m = pat.search(inst.log())
        return m and m.group(1)
    return wait_for(find, timeout, "a delivery log line for %s" % rcpt)


def notices_for(sink, tok):
    """Notices about the message carrying token tok."""
    return [n for n in notices(sink) if n.token == tok]


def delivered_to(sink, tok):
    """Recipients that got the message tok (not notices), sorted."""
    return sorted(r for m in sink.snapshot()
                  if token_of(m) == tok and not is_notice(m)
                  for r in m.rcpt_tos)


def notification_line(inst, qid):
    """NEWQID from 'QID: sender non-delivery notification: NEWQID'."""
    m = re.search(r"%s: sender non-delivery notification: (%s)"
                  % (qid, QID), inst.log())
    return m and m.group(1)


def check_report_shape(n, subject, sender=SENDER):
    """What every notice has: envelope from <> to the sender, the three
    parts of a delivery-status report, the original headers only."""
    assert n.received.mail_from == "", n.received.mail_from
    assert n.received.rcpt_tos == [sender], n.received.rcpt_tos
    assert n.report_type == "delivery-status", n.msg["Content-Type"]
    assert n.types[0] == "text/plain", n.types
    assert "message/delivery-status" in n.types, n.types
    assert ("text/rfc822-headers" in n.types or
            "message/rfc822-headers" in n.types), n.types
    assert n.subject == subject, n.subject
    assert n.msg["From"], "notice without From"
    assert n.msg["Date"] and email.utils.parsedate_to_datetime(
        n.msg["Date"]), "notice without a valid Date"
    assert sender in (n.msg["To"] or ""), n.msg["To"]
    assert n.text.strip(), "empty human-readable part"
    pm = n.per_message
    assert "reporting-mta" in pm and "test.example" in pm["reporting-mta"], pm
    assert "arrival-date" in pm, pm
    arrival = email.utils.parsedate_to_datetime(pm["arrival-date"])
    assert abs(time.time() - arrival.timestamp()) < 600, pm["arrival-date"]
    assert n.original_headers and "ncmta-token-" in n.original_headers
    assert re.search(r"^Message-ID:", n.original_headers, re.M | re.I), \
        n.original_headers
    # text/rfc822-headers: the header block, not the body
    assert "a line that starts with a dot" not in n.original_headers
    for r in n.recipients:
        assert r.get("final-recipient", "").lower().startswith("rfc822;"), r
        assert r.get("action") in ("failed", "delayed"), r
        assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", r.get("status", "")), r


def test_delivered_bounced_deferred_then_delivered(instances, sink):
    """One message to three recipients answered 250 / 550 / 450: one is
    delivered, one bounces with a notice naming exactly it (5.1.1, the
    remote reply, the remote MTA), one is deferred and delivered on a
    later attempt when the sink changes its mind -- with no second
    notice."""
    ok, bad, later = ("ok@dest.example", "bad@dest.example",
                      "later@dest.example")
    script = RcptScript({bad: ["550 5.1.1 <bad@dest.example>: no such user"],
                         later: ["450 4.2.1 mailbox busy", None]})
    sink.behaviour.rcpt_hook = script
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    data, _ = message(tok, ok)
    inst.submit([ok, bad, later], data, sender=SENDER)

    wait_for(lambda: ok in delivered_to(sink, tok), 20, "ok@ delivered")
    n = wait_for(lambda: notices_for(sink, tok), 30, "a bounce notice")[0]
    qid = qid_of(inst, bad)
    check_report_shape(n, FAILED_SUBJECT)
    assert n.final_recipients() == [bad], n.recipients
    r = n.recipient(bad)
    assert r["action"] == "failed" and r["status"] == "5.1.1", r
    assert "550" in r.get("diagnostic-code", ""), r
    assert "no such user" in r.get("diagnostic-code", ""), r
    assert "127.0.0.1" in r.get("remote-mta", ""), r
    assert n.per_message.get("x-ncmta-queue-id") == qid, n.per_message
    assert bad in n.text, n.text

    wait_for(lambda: later in delivered_to(sink, tok), 30,
             "the deferred recipient delivered on a later attempt")
    inst.wait_empty()
    assert script.tries[later] >= 2
    assert delivered_to(sink, tok) == [later, ok]
    assert len(notices_for(sink, tok)) == 1, "more than one notice"
    log = inst.log()
    assert re.search(r"to=<%s>, .*status=bounced \(.*550" % re.escape(bad),
                     log), log
    assert re.search(r"to=<%s>, .*status=deferred \(.*450" % re.escape(later),
                     log), log
    nqid = notification_line(inst, qid)
    assert nqid and nqid != qid, "no 'sender non-delivery notification' line"
    assert re.search(r"%s: to=<%s>, .*status=sent" % (nqid,
                                                      re.escape(SENDER)), log)


def test_one_notice_lists_every_failed_recipient(instances, sink):
    """Three of four recipients fail in one delivery: a single notice
    lists all three, each with its own status and reply."""
    fails = {"a@dest.example": ("550 5.1.1 unknown user a", "5.1.1"),
             "b@dest.example": ("553 5.7.1 b is not welcome", "5.7.1"),
             "c@dest.example": ("552 5.2.2 mailbox of c full", "5.2.2")}
    sink.behaviour.rcpt_replies = {a: r for a, (r, _) in fails.items()}
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    rcpts = ["good@dest.example"] + sorted(fails)
    inst.submit(rcpts, message(tok, rcpts[0])[0], sender=SENDER)
    n = wait_for(lambda: notices_for(sink, tok), 30, "a bounce notice")[0]
    inst.wait_empty()
    check_report_shape(n, FAILED_SUBJECT)
    assert sorted(n.final_recipients()) == sorted(fails), n.recipients
    for addr, (reply, status) in fails.items():
        r = n.recipient(addr)
        assert r["action"] == "failed" and r["status"] == status, r
        assert reply.split()[0] in r.get("diagnostic-code", ""), r
    assert delivered_to(sink, tok) == ["good@dest.example"]
    assert len(notices_for(sink, tok)) == 1


def test_one_notice_for_failures_at_two_destinations(instances, sinks):
    """Recipients in two domains routed to two hosts are both refused in
    the same delivery pass: the sender gets one notice naming both."""
    one, two = sinks(), sinks()
    one.behaviour.rcpt_replies = {"x@one.example": "550 5.1.1 no x here"}
    two.behaviour.rcpt_replies = {"y@two.example": "550 5.1.1 no y here"}
    inst = instances(smart_host=[one])
    inst.routes("two.example  smarthost %s\n* smarthost %s\n"
                % (two.hostspec, one.hostspec))
    inst.start()
    tok = new_token()
    rcpts = ["x@one.example", "y@two.example"]
    inst.submit(rcpts, message(tok, rcpts[0])[0], sender=SENDER)
    n = wait_for(lambda: notices_for(one, tok), 30, "a bounce notice")[0]
    inst.wait_empty()
    check_report_shape(n, FAILED_SUBJECT)
    assert sorted(n.final_recipients()) == rcpts, n.recipients
    assert len(notices_for(one, tok)) == 1
    assert n.recipient("y@two.example").get("remote-mta") and \
        n.recipient("x@one.example").get("remote-mta")


def test_data_rejection_bounces_every_recipient(instances, sink):
    """A 5xx at the end of DATA fails every recipient of the transaction:
    one notice names them all."""
    sink.behaviour.data_hook = lambda sender, rcpts: (
        "554 5.6.0 content rejected" if sender == SENDER else None)
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    rcpts = ["x@dest.example", "y@dest.example"]
    inst.submit(rcpts, message(tok, rcpts[0])[0], sender=SENDER)
    n = wait_for(lambda: notices_for(sink, tok), 30, "the bounce notice")[0]
    inst.wait_empty()
    assert sorted(n.final_recipients()) == rcpts
    for r in n.recipients:
        assert r["status"] == "5.6.0" and "554" in r["diagnostic-code"], r


def test_no_notice_for_null_sender(instances, sink):
    """A message from <> whose recipient is refused bounces without a
    notice; a message from a real sender, refused the same way right
    after it, gets one -- the only notice the sink ever sees."""
    sink.behaviour.rcpt_replies = {
        "gone1@dest.example": "550 5.1.1 no such user",
        "gone2@dest.example": "550 5.1.1 no such user"}
    inst = instances(smart_host=[sink]).start()
    t_null, t_real = new_token(), new_token()
    inst.submit(["gone1@dest.example"],
                message(t_null, "gone1@dest.example")[0], sender="<>")
    q_null = qid_of(inst, "gone1@dest.example")
    inst.submit(["gone2@dest.example"],
                message(t_real, "gone2@dest.example")[0], sender=SENDER)
    wait_for(lambda: notices_for(sink, t_real), 30, "the control notice")
    inst.wait_empty()
    assert [n.token for n in notices(sink)] == [t_real]
    assert re.search(r"%s: to=<gone1@dest\.example>, .*status=bounced"
                     % q_null, inst.log())
    assert notification_line(inst, q_null) is None, inst.log()


def test_undeliverable_notice_makes_no_second_notice(instances, sink):
    """The sender's own address is refused, so the notice bounces too:
    it is from <>, so nothing more is generated and the queue empties."""
    sink.behaviour.rcpt_replies = {
        "gone@dest.example": "550 5.1.1 no such user",
        SENDER: "550 5.1.1 sender unknown here"}
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    inst.submit(["gone@dest.example"],
                message(tok, "gone@dest.example")[0], sender=SENDER)
    qid = qid_of(inst, "gone@dest.example")
    nqid = wait_for(lambda: notification_line(inst, qid), 30,
                    "a notification log line")
    wait_for(lambda: re.search(r"%s: to=<%s>, .*status=bounced"
                               % (nqid, re.escape(SENDER)), inst.log()),
             30, "the notice bounced")
    inst.wait_empty()
    assert notification_line(inst, nqid) is None, "a notice about a notice"
    assert notices(sink) == []


def test_expiry_bounces_with_notice(instances, sink):
    """A recipient that is deferred until max_queue_lifetime passes
    bounces with a notice (Action: failed, the last reply); a recipient
    refused at once got its own notice earlier: one notice per event."""
    sink.behaviour.rcpt_replies = {
        "busy@dest.example": "450 4.2.1 mailbox busy",
        "gone@dest.example": "550 5.1.1 no such user"}
    inst = instances(smart_host=[sink], max_queue_lifetime="3s",
                     min_backoff="1s", max_backoff="1s").start()
    tok = new_token()
    inst.submit(["busy@dest.example", "gone@dest.example"],
                message(tok, "busy@dest.example")[0], sender=SENDER)
    first = wait_for(lambda: notices_for(sink, tok), 30, "the 550 notice")[0]
    assert first.final_recipients() == ["gone@dest.example"]
    wait_for(lambda: len(notices_for(sink, tok)) >= 2, 30,
             "the expiry notice")
    inst.wait_empty()
    ns = notices_for(sink, tok)
    assert len(ns) == 2, [n.final_recipients() for n in ns]
    exp = ns[1]
    check_report_shape(exp, FAILED_SUBJECT)
    assert exp.final_recipients() == ["busy@dest.example"], exp.recipients
    r = exp.recipients[0]
    assert r["action"] == "failed", r
    # Postfix keeps the last temporary status on expiry; a 5.4.7-style
    # permanent one is as good.
    assert re.fullmatch(r"[45]\.\d+\.\d+", r["status"]), r
    assert "450" in r.get("diagnostic-code", "") or "busy" in exp.text, (
        r, exp.text)
    assert re.search(r"to=<busy@dest\.example>, .*status=(bounced|expired)",
                     inst.log()), inst.log()
    assert not any(m.rcpt_tos == ["busy@dest.example"]
                   for m in sink.snapshot())


def test_delay_warning_once_then_delivered(instances, sink):
    """After delay_warning_time one delay notice goes out (Action:
    delayed, a 4.x.x status), the message stays queued, later attempts
    send no second one, and it is delivered when the sink relents."""
    script = RcptScript({"slow@dest.example": ["451 4.3.0 try again"]})
    sink.behaviour.rcpt_hook = script
    inst = instances(smart_host=[sink], delay_warning_time="2s",
                     max_queue_lifetime="1h", min_backoff="1s",
                     max_backoff="1s").start()
    tok = new_token()
    inst.submit(["slow@dest.example"], message(tok, "slow@dest.example")[0],
                sender=SENDER)
    n = wait_for(lambda: notices_for(sink, tok), 30, "a delay notice")[0]
    check_report_shape(n, DELAY_SUBJECT)
    assert n.final_recipients() == ["slow@dest.example"]
    r = n.recipients[0]
    assert r["action"] == "delayed", r
    assert r["status"].startswith("4."), r
    assert [m["queue_name"] for m in inst.qshow_json("--sender", SENDER)] \
        in (["deferred"], ["active"]), "the message left the queue"
    tries = script.tries["slow@dest.example"]
    wait_for(lambda: script.tries["slow@dest.example"] >= tries + 2, 20,
             "two more attempts after the delay notice")
    assert len(notices_for(sink, tok)) == 1, "a second delay notice"
    sink.behaviour.rcpt_hook = None
    wait_for(lambda: delivered_to(sink, tok) == ["slow@dest.example"], 20,
             "delivery once the sink accepts")
    inst.wait_empty()
    assert len(notices_for(sink, tok)) == 1


def test_hop_count_limit(instances, sink):
    """More Received: headers than hop_count_limit: the message bounces
    (5.4.6, mail loop) without a delivery attempt; a message under the
    limit is delivered."""
    inst = instances(smart_host=[sink], hop_count_limit="5").start()
    hops = ["Received: from hop%d.example by hop%d.example; "
            "Sat, 28 Nov 2026 12:00:%02d +0000" % (i, i + 1, i)
            for i in range(8)]
    t_loop, t_ok = new_token(), new_token()
    inst.submit(["loop@dest.example"],
                message(t_loop, "loop@dest.example",
                        extra_headers=hops)[0], sender=SENDER)
    inst.submit(["fine@dest.example"],
                message(t_ok, "fine@dest.example",
                        extra_headers=hops[:2])[0], sender=SENDER)
    n = wait_for(lambda: notices_for(sink, t_loop), 30, "a loop notice")[0]
    wait_for(lambda: delivered_to(sink, t_ok) == ["fine@dest.example"], 20,
             "the message under the limit")
    inst.wait_empty()
    check_report_shape(n, FAILED_SUBJECT)
    assert n.final_recipients() == ["loop@dest.example"]
    assert n.recipients[0]["status"] == "5.4.6", n.recipients
    assert "remote-mta" not in n.recipients[0], "no remote MTA was asked"
    assert not [a for a, _ in sink.rcpt_log if a == "loop@dest.example"], \
        "a delivery was attempted"
    assert re.search(r"to=<loop@dest\.example>, relay=none, .*dsn=5\.4\.6, "
                     r"status=bounced", inst.log()), inst.log()


def test_reject_route_notice_without_remote_mta(instances, sink):
    """A routing-table reject bounces with the route's code and text and
    no Remote-MTA (none was asked)."""
    inst = instances(smart_host=[sink])
    inst.routes("blocked.example  reject 5.7.1 relaying to this domain "
                "is disabled\n* smarthost %s\n" % sink.hostspec)
    inst.start()
    tok = new_token()
    inst.submit(["x@blocked.example"], message(tok, "x@blocked.example")[0],
                sender=SENDER)
    n = wait_for(lambda: notices_for(sink, tok), 30, "a bounce notice")[0]
    inst.wait_empty()
    check_report_shape(n, FAILED_SUBJECT)
    r = n.recipient("x@blocked.example")
    assert r and r["status"] == "5.7.1", n.recipients
    assert "remote-mta" not in r, r
    assert "relaying to this domain is disabled" in (
        r.get("diagnostic-code", "") + n.text)


def test_undeliverable_notice_dropped_after_bounce_queue_lifetime(
        instances, sinks):
    """The sender's domain is routed to a host that refuses connections,
    so the notice is deferred; after bounce_queue_lifetime (3 s, far less
    than max_queue_lifetime) it is dropped, logged, and the queue empties
    without a notice about the notice."""
    skip_unless_attempts_countable()
    live, dead = sinks(), sinks(up=False).count_attempts()
    live.behaviour.rcpt_replies = {"gone@dest.example":
                                   "550 5.1.1 no such user"}
    inst = instances(smart_host=[live], bounce_queue_lifetime="3s",
                     max_queue_lifetime="1h", min_backoff="1s",
                     max_backoff="1s")
    inst.routes("origin.example  smarthost %s\n* smarthost %s\n"
                % (dead.hostspec, live.hostspec))
    inst.start()
    tok = new_token()
    inst.submit(["gone@dest.example"], message(tok, "gone@dest.example")[0],
                sender=SENDER)
    qid = qid_of(inst, "gone@dest.example")
    nqid = wait_for(lambda: notification_line(inst, qid), 30,
                    "a notification log line")
    wait_for(lambda: re.search(r"%s: to=<%s>, .*status=deferred"
                               % (nqid, re.escape(SENDER)), inst.log()),
             20, "the notice deferred")
    inst.wait_empty(timeout=30)
    log = inst.log()
    dropped = [line for line in log.splitlines() if nqid in line and
               re.search(r"status=(bounced|expired)|dropped|expired|"
                         r"bounce_queue_lifetime", line)]
    assert dropped, "the dropped notice was not logged:\n" + log
    assert re.search(r"%s: removed" % nqid, log), log
    assert notification_line(inst, nqid) is None
    assert notices(live) == []
    assert dead.attempts() >= 1, "the notice never went to its route"
