"""Smart hosts that are down or refuse: mail is deferred with its reason and
delivered once one comes up; a refusing first smart host makes ncmta use
the second; a rejected EHLO falls back to HELO."""

import pytest

from instance import wait_for
from msgs import message, new_token, token_of
from peers import Behaviour, skip_unless_attempts_countable


def _deferred(inst):
    q = inst.qshow_json()
    if q and all(m["queue_name"] == "deferred" for m in q):
        return q
    return None


@pytest.mark.parametrize("how", ["flush", "retry"])
def test_smarthost_down_then_up(instances, sinks, how):
    sink = sinks(up=False)
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    data, body = message(tok, "rcpt@down.example")
    inst.submit(["rcpt@down.example"], data, sender="s@test.example")

    q = wait_for(lambda: _deferred(inst), 20, "the message deferred")
    assert len(q) == 1
    m = q[0]
    assert m["sender"] == "s@test.example"
    assert [r["address"] for r in m["recipients"]] == ["rcpt@down.example"]
    reason = m["recipients"][0].get("delay_reason", "")
    assert reason, "deferred recipient without delay_reason: %r" % m
    assert "127.0.0.1" in reason or "refused" in reason.lower(), reason
    assert "status=deferred" in inst.log()
    assert sink.count() == 0

    sink.start()
    if how == "flush":
        inst.ctl("flush", check=True)
    # max_backoff is 2s: a retry comes quickly even without a flush.
    assert sink.wait_count(1, 20), "not delivered after the sink came up"
    wait_for(lambda: inst.qshow_json() == [], 10, "an empty queue")
    got = sink.snapshot()
    assert len(got) == 1 and token_of(got[0]) == tok
    assert got[0].rcpt_tos == ["rcpt@down.example"]


REFUSALS = {
    "down": None,
    "greet421": Behaviour(greeting="421 4.3.2 Service shutting down"),
    "greet554": Behaviour(greeting="554 5.3.2 No SMTP service here"),
    "ehlo_helo_rejected": Behaviour(ehlo_reply="550 5.7.1 go away",
                                    helo_reply="550 5.7.1 go away"),
    "drop_on_connect": Behaviour(drop_at="connect"),
    "drop_after_ehlo": Behaviour(drop_at="ehlo"),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_first_smarthost_refuses_second_used(instances, sinks, refusal):
    b = REFUSALS[refusal]
    if b is None:
        skip_unless_attempts_countable()
    first = sinks(up=b is not None, behaviour=b)
    if b is None:
        first.count_attempts()
    second = sinks()
    inst = instances(smart_host=[first, second]).start()
    toks = [new_token() for _ in range(3)]
    for t in toks:
        data, _ = message(t, "rcpt@two.example")
        inst.submit(["rcpt@two.example"], data, sender="s@test.example")
    assert second.wait_count(3, 30), \
        "second smart host got %d of 3" % second.count()
    wait_for(lambda: inst.qshow_json() == [], 10, "an empty queue")
    assert sorted(token_of(m) for m in second.snapshot()) == sorted(toks)
    assert first.count() == 0
    tried = first.connections if b is not None else first.attempts()
    assert tried >= 1, "first smart host never tried"


def test_ehlo_rejected_falls_back_to_helo(instances, sinks):
    sink = sinks(behaviour=Behaviour(ehlo_reply="502 5.5.2 EHLO not here"))
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    data, body = message(tok, "rcpt@helo.example")
    inst.submit(["rcpt@helo.example"], data, sender="s@test.example")
    assert sink.wait_count(1, 20)
    m = sink.snapshot()[0]
    assert token_of(m) == tok
    assert m.helo == "HELO test.example", m.helo
    # Plain SMTP after HELO: no BODY=8BITMIME was sent, the body still
    # arrived (the sink accepts 8-bit data either way).
    assert m.rcpt_tos == ["rcpt@helo.example"]


def test_temporary_mail_from_rejection_defers(instances, sinks):
    sink = sinks(behaviour=Behaviour(mail_reply="451 4.3.0 try again later"))
    inst = instances(smart_host=[sink]).start()
    tok = new_token()
    data, _ = message(tok, "rcpt@later.example")
    inst.submit(["rcpt@later.example"], data, sender="s@test.example")
    q = wait_for(lambda: _deferred(inst), 20, "the message deferred")
    assert "451" in q[0]["recipients"][0].get("delay_reason", ""), q
    sink.behaviour.mail_reply = None
    inst.ctl("flush", check=True)
    assert sink.wait_count(1, 20)
    assert token_of(sink.snapshot()[0]) == tok
