"""pflogsumm (Debian's, run with --syslog_name=ncmta) over the log of a
scripted run through a smart host: its "received", "delivered",
"deferred" and "bounced" counts and its per-recipient-domain table match
what happened, message for message. ncmta's pickup, qmgr, smtp and bounce
lines have Postfix's shape for this."""

import re

from instance import wait_for
from listener import need, run
from msgs import message, new_token
from peers import Behaviour

SENDER = "app@sender.example"
# recipient -> what the smart host answers at RCPT (None: it accepts)
PLAN = {
    "ann@alpha.example": None,
    "bob@alpha.example": None,
    "cy@beta.example": None,
    "di@gamma.example": None,
    "ed@beta.example": "450 4.2.0 mailbox busy",
    "flo@gamma.example": "450 4.2.0 mailbox busy",
    "gus@alpha.example": "550 5.1.1 no such user",
}


def grand_totals(out):
    """{"received": 7, ...} from the Grand Totals section."""
    part = out.split("Grand Totals", 1)[1].split("Per-Hour", 1)[0]
    figures = {}
    for m in re.finditer(r"^\s+(\d+)\s+([a-z/. ]+?)(?:\s+\(.*\))?\s*$",
                         part, re.M):
        figures.setdefault(m.group(2), int(m.group(1)))
    return figures


def delivery_table(out):
    """{domain: (sent, bytes, defers)} of "Host/Domain Summary: Message
    Delivery"."""
    part = out.split("Host/Domain Summary: Message Delivery", 1)[1]
    rows = {}
    for line in part.split("\n\n", 1)[0].splitlines():
        m = re.match(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \w\s+\S+ \w\s+(\S+)$",
                     line)
        if m:
            rows[m.group(4)] = tuple(int(m.group(i)) for i in (1, 2, 3))
    return rows


def test_pflogsumm_counts_a_smart_host_run(instances, sinks):
    """7 messages from ncsendmail, one recipient each in 3 domains: 4
    delivered, 2 deferred (450 at RCPT) and tried twice, 1 bounced (550 at
    RCPT; NOTIFY=NEVER, so no notice is sent and counted as delivered)."""
    sink = sinks(behaviour=Behaviour(rcpt_replies={
        a: r for a, r in PLAN.items() if r}))
    inst = instances(smart_host=[sink]).start()
    for rcpt, reply in PLAN.items():
        flags = ["-i"] + (["-N", "never"] if reply and reply[0] == "5"
                          else [])
        inst.submit([rcpt], message(new_token(), rcpt)[0], sender=SENDER,
                    flags=flags)
    assert sink.wait_count(4, 30)
    inst.wait_deferred(2)  # the bounced one is gone by then
    assert len(inst.log_lines("status=bounced")) == 1
    assert not inst.log_lines("non-delivery notification")
    # a second try of the deferred two: 4 deferrals, still 2 deferred
    inst.ctl("flush", check=True)
    wait_for(lambda: len(inst.log_lines("status=deferred")) == 4, 20,
             "the second deferrals")
    inst.wait_deferred(2)

    # what pflogsumm should find: sizes as queued (qmgr's size=)
    size = {}
    for line in inst.log_lines("ncmta/qmgr[", ", size="):
        qid, n = re.search(r": (\w+): from=<[^>]*>, size=(\d+)",
                           line).groups()
        size[qid] = int(n)
    assert len(size) == 7
    want = {}
    for line in inst.log_lines("ncmta/smtp[", " to=<"):
        qid, rcpt, status = re.search(
            r": (\w+): to=<([^>]+)>, .* status=(\w+)", line).groups()
        domain = rcpt.split("@")[1]
        sent, nbytes, defers = want.get(domain, (0, 0, 0))
        if status == "sent":
            sent, nbytes = sent + 1, nbytes + size[qid]
        elif status == "deferred":
            defers += 1
        want[domain] = (sent, nbytes, defers)
    want = {d: v for d, v in want.items() if v != (0, 0, 0)}

    out = run([need("pflogsumm"), "--syslog_name=ncmta", inst.logfile])
    print(out)
    totals = grand_totals(out)
    assert totals.get("received") == 7, out
    assert totals.get("delivered") == 4, out
    assert totals.get("deferred") == 2, out
    assert totals.get("bounced") == 1, out
    assert totals.get("rejected") == 0, out
    assert totals.get("bytes received") == sum(size.values()), out
    assert totals.get("senders") == 1, out
    assert totals.get("recipients") == 4, out
    assert totals.get("recipient hosts/domains") == 3, out
    assert "(4 deferrals)" in out.replace("  ", " "), out

    table = delivery_table(out)
    assert want == {"alpha.example": (2, want["alpha.example"][1], 0),
                    "beta.example": (1, want["beta.example"][1], 2),
                    "gamma.example": (1, want["gamma.example"][1], 2)}
    assert table == want, out
    assert totals.get("bytes delivered") == sum(v[1] for v in want.values())
    # the deferrals and the bounce with the smart host's reasons
    assert re.search(r"smtp \(total: 4\)\n\s+4\s+4\.2\.0 mailbox busy", out)
    assert "5.1.1 no such user" in out.split("message bounce detail", 1)[1]

    # without the name it looks for postfix/ lines only: nothing counted
    out = run([need("pflogsumm"), inst.logfile])
    totals = grand_totals(out)
    assert totals.get("received") == totals.get("delivered") == 0, out
