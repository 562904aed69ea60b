"""What the smtp worker does with what a server offers in EHLO: PIPELINING
(RFC 2920) and SIZE (RFC 1870), against the aiosmtpd peer offering them
(peers.Behaviour.pipelining, .size_limit). Postfix's smtp-sink, the other
real peer (test_smtp_sink.py), never offers SIZE."""

import re

from instance import wait_for
from msgs import message, new_token
from peers import Behaviour, RcptScript
from test_bounces import SENDER, delivered_to, notices_for, qid_of


def test_pipelined_group_to_a_server_that_offers_it(instances, sinks):
    """A server offering PIPELINING gets MAIL, RCPT, RCPT, RCPT and DATA in
    one group (the rest of the group is already in its buffer when it
    reads MAIL); one recipient refused with 550 bounces, the others are
    delivered in that same transaction. A server that does not offer it
    gets MAIL alone, and the same outcome."""
    ok1, bad, ok2 = ("ok1@dest.example", "bad@dest.example",
                     "ok2@dest.example")
    for offer in (True, False):
        s = sinks(behaviour=Behaviour(pipelining=offer))
        s.behaviour.rcpt_hook = RcptScript(
            {bad: ["550 5.1.1 <bad@dest.example>: no such user"]})
        inst = instances(smart_host=[s]).start()
        tok = new_token()
        inst.submit([ok1, bad, ok2], message(tok, ok1)[0], sender=SENDER)
        wait_for(lambda: delivered_to(s, tok) == [ok1, ok2], 20,
                 "ok1@ and ok2@ delivered")
        n = wait_for(lambda: notices_for(s, tok), 30, "the bounce notice")[0]
        inst.wait_empty()
        assert n.final_recipients() == [bad], n.recipients
        assert n.recipient(bad)["status"] == "5.1.1", n.recipients
        got = [m for m in s.snapshot() if m.rcpt_tos == [ok1, ok2]]
        assert len(got) == 1, "not one transaction for both: %r" % (
            [m.rcpt_tos for m in s.snapshot()],)
        # The message's own MAIL is the first; the notice's comes later.
        assert s.mail_log[0][1] == SENDER, s.mail_log
        assert s.mail_pipelined[0] is offer, (
            "PIPELINING %s, yet MAIL %s" % (
                "offered" if offer else "not offered",
                "came alone" if offer else "had commands behind it"))
        inst.stop()


def test_message_over_the_servers_size_bounces_unsent(instances, sinks):
    """A server offering SIZE 4000: a message of about 8000 octets is
    never offered to it (no MAIL command at all) and bounces with 5.3.4
    naming the limit; a message under the limit, in the same session set,
    is delivered with SIZE= no smaller than what arrived."""
    s = sinks(behaviour=Behaviour(size_limit=4000))
    inst = instances(smart_host=[s]).start()
    big_rcpt, small_rcpt = "big@dest.example", "small@dest.example"
    big = new_token()
    data, _ = message(big, big_rcpt)
    data = data + (b"x" * 70 + b"\n") * 115
    assert len(data) > 8000
    inst.submit([big_rcpt], data, sender=SENDER)
    qid = qid_of(inst, big_rcpt)
    n = wait_for(lambda: notices_for(s, big), 30, "the bounce notice")[0]
    r = n.recipient(big_rcpt)
    assert r["action"] == "failed" and r["status"] == "5.3.4", r
    assert re.search(r"%s: to=<%s>, .*dsn=5\.3\.4, status=bounced "
                     r"\(message size \d+ exceeds size limit 4000 of "
                     r"server " % (qid, re.escape(big_rcpt)), inst.log()), \
        inst.log()
    # The notice went out (its own MAIL, from <>): nothing else did.
    assert [a for _, a in s.mail_log] == ["<>"], s.mail_log

    small = new_token()
    inst.submit([small_rcpt], message(small, small_rcpt)[0], sender=SENDER)
    wait_for(lambda: delivered_to(s, small) == [small_rcpt], 20,
             "the small message delivered")
    inst.wait_empty()
    m = [m for m in s.snapshot() if small_rcpt in m.rcpt_tos][0]
    sizes = [int(o.split("=", 1)[1]) for o in m.mail_options
             if o.upper().startswith("SIZE=")]
    assert sizes and sizes[0] >= len(m.content), (m.mail_options,
                                                  len(m.content))
    assert delivered_to(s, big) == [], "the big message was sent"
