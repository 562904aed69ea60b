"""DSN parameters given at submission (ncsendmail -N, -R, -V; SPEC 3):
kept in the queue record and passed on as NOTIFY=, RET= and ENVID=
(xtext) to a next hop that offers DSN, left out for one that does not;
-N never and -N success suppress ncmta's own failure notice, and a
notice carries the envelope ID back."""

import re

from instance import wait_for
from msgs import message, new_token, notices
from peers import Behaviour

SENDER = "sender@origin.example"


def test_dsn_parameters_passed_to_a_dsn_server(instances, sinks):
    sink = sinks(behaviour=Behaviour(dsn=True))
    inst = instances(smart_host=[sink]).start()
    data, _ = message(new_token(), "r@dsn.example")
    inst.submit(["r@dsn.example"], data, sender=SENDER,
                flags=("-i", "-N", "success,failure", "-R", "hdrs",
                       "-V", "id+1=x"))
    assert sink.wait_count(1, 20), "not delivered"
    log = dict(sink.dsn_log)
    assert log.get("RET") == "HDRS", sink.dsn_log
    assert log.get("ENVID") == "ID+2B1+3DX", sink.dsn_log
    assert log.get("NOTIFY") == "SUCCESS,FAILURE", sink.dsn_log


def test_no_dsn_parameters_to_a_server_without_dsn(instances, sinks):
    sink = sinks()
    inst = instances(smart_host=[sink]).start()
    data, _ = message(new_token(), "r@plain.example")
    # aiosmtpd answers 555 to parameters it does not know: delivery
    # proves none were sent
    inst.submit(["r@plain.example"], data, sender=SENDER,
                flags=("-i", "-N", "delay", "-R", "full", "-V", "abc"))
    assert sink.wait_count(1, 20), "not delivered: %s" % inst.log()[-2000:]
    assert sink.snapshot()[0].mail_options == [] or all(
        not o.startswith(("RET", "ENVID"))
        for o in sink.snapshot()[0].mail_options)


def _rejected_once(inst, sink, notify):
    data, _ = message(new_token(), "gone@rej.example")
    inst.submit(["gone@rej.example"], data, sender=SENDER,
                flags=("-i", "-N", notify))


def test_notify_never_means_no_failure_notice(instances, sinks):
    sink = sinks(behaviour=Behaviour(
        rcpt_replies={"gone@rej.example": "550 5.1.1 no such user"}))
    inst = instances(smart_host=[sink]).start()
    _rejected_once(inst, sink, "never")
    wait_for(lambda: re.search(r"to=<gone@rej\.example>: the sender asked "
                               r"for no failure notice", inst.log()),
             20, "the no-notice log line")
    assert "status=bounced" in inst.log()
    inst.wait_empty(20)
    assert notices(sink) == []


def test_notify_failure_still_gets_a_notice(instances, sinks):
    """-N failure: a notice, carrying the -V envelope ID back as
    Original-Envelope-Id (RFC 3464)."""
    sink = sinks(behaviour=Behaviour(
        rcpt_replies={"gone@rej.example": "550 5.1.1 no such user"}))
    inst = instances(smart_host=[sink]).start()
    data, _ = message(new_token(), "gone@rej.example")
    inst.submit(["gone@rej.example"], data, sender=SENDER,
                flags=("-i", "-N", "failure", "-V", "batch-42"))
    assert sink.wait_count(1, 20), "no notice"
    got = notices(sink)
    assert len(got) == 1
    assert got[0].per_message.get("original-envelope-id") == "batch-42", \
        got[0].per_message
