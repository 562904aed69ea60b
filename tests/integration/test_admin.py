"""Queue administration (ncctl(8), COMMANDS; issue 4 item 6): ncctl hold /
release / delete / requeue / flush by queue ID, ALL, --deferred and --domain
D, each shown by what the sink then gets; ncctl show; ncqshow -s and its
filters; and the control socket's uid check: a user who is neither root nor
the mail owner sees only their own messages and may not change the queue.

Mail is parked by a smart host that refuses connections and a back-off of
an hour, so nothing moves unless a command moves it. To show that a
command did NOT release a message, a fresh message is sent after it and
waited for: once that one arrived, qmgr has handled the command."""

import os
import pwd
import re

import pytest

from instance import mail_owner, wait_for
from msgs import message, new_token, token_of

SENDER = "sender@origin.example"


class Parked:
    """An instance with messages deferred for an hour behind a down sink;
    rcpt -> (queue ID, token)."""

    def __init__(self, instances, sinks, rcpts, **settings):
        self.sink = sinks(up=False)
        self.inst = instances(smart_host=[self.sink], min_backoff="1h",
                              max_backoff="1h", **settings).start()
        self.msgs = {}
        for i, rcpt in enumerate(rcpts):
            tok = new_token()
            self.inst.submit([rcpt], message(tok, rcpt, i)[0], sender=SENDER)
            self.msgs[rcpt] = [None, tok]
        q = self.inst.wait_deferred(len(rcpts), timeout=30)
        for m in q:
            self.msgs[m["recipients"][0]["address"]][0] = m["queue_id"]

    def qid(self, rcpt):
        return self.msgs[rcpt][0]

    def tok(self, rcpt):
        return self.msgs[rcpt][1]

    def ctl(self, *args, **kw):
        r = self.inst.ctl(*args, **kw)
        assert r.returncode == 0, "ncctl %s exited %d: %s %s" % (
            " ".join(args), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))
        return r

    def states(self):
        """{rcpt: queue_name} of our messages that are queued."""
        out = {}
        for m in self.inst.qshow_json():
            for r in m["recipients"]:
                if r["address"] in self.msgs:
                    out[r["address"]] = m["queue_name"]
        return out

    def wait_states(self, want, timeout=20):
        """Wait until states() is want (a message delivered at the sink
        leaves the queue a moment later)."""
        wait_for(lambda: self.states() == want, timeout,
                 "queue states %s (have %s)" % (want, self.states()))

    def delivered(self):
        """Recipients the sink got (from our messages), sorted."""
        toks = {t: r for r, (_, t) in self.msgs.items()}
        return sorted(toks[token_of(m)] for m in self.sink.snapshot()
                      if token_of(m) in toks)

    def wait_delivered(self, rcpts, timeout=20):
        want = sorted(rcpts)
        wait_for(lambda: self.delivered() == want, timeout,
                 "delivered: %s (got %s)" % (want, self.delivered()))

    def barrier(self):
        """Send a fresh message and wait until the sink has it: the
        commands given before it have been acted on."""
        tok = new_token()
        rcpt = "barrier-%s@else.example" % tok[:8]
        self.inst.submit([rcpt], message(tok, rcpt)[0], sender=SENDER)
        wait_for(lambda: any(token_of(m) == tok for m in
                             self.sink.snapshot()), 20,
                 "the barrier message delivered")


def test_hold_id_survives_flush_until_released(instances, sinks):
    p = Parked(instances, sinks, ["a@one.example", "b@one.example",
                                  "c@one.example"])
    p.ctl("hold", p.qid("a@one.example"))
    assert p.states() == {"a@one.example": "hold", "b@one.example":
                          "deferred", "c@one.example": "deferred"}
    listing = p.inst.qshow().stdout.decode()
    assert re.search(r"^%s!" % p.qid("a@one.example"), listing, re.M), \
        listing
    p.sink.start()
    p.ctl("flush")
    p.wait_delivered(["b@one.example", "c@one.example"])
    p.inst.ctl("flush", p.qid("a@one.example"))  # held: flush leaves it
    p.barrier()
    assert p.delivered() == ["b@one.example", "c@one.example"]
    p.wait_states({"a@one.example": "hold"})
    p.ctl("release", p.qid("a@one.example"))
    p.wait_delivered(["a@one.example", "b@one.example", "c@one.example"])
    p.inst.wait_empty()


def test_hold_all_release_all(instances, sinks):
    rcpts = ["a@one.example", "b@two.example", "c@three.example"]
    p = Parked(instances, sinks, rcpts)
    p.ctl("hold", "ALL")
    assert set(p.states().values()) == {"hold"}, p.states()
    p.sink.start()
    p.ctl("flush")
    p.barrier()  # submitted after the hold: delivered
    assert p.delivered() == []
    p.ctl("release", "ALL")
    p.wait_delivered(rcpts)
    p.inst.wait_empty()


def test_hold_by_domain_and_deferred(instances, sinks):
    rcpts = ["a1@a.example", "a2@a.example", "b1@b.example", "b2@b.example"]
    p = Parked(instances, sinks, rcpts)
    p.ctl("hold", "--domain", "a.example")
    assert p.states() == {"a1@a.example": "hold", "a2@a.example": "hold",
                          "b1@b.example": "deferred",
                          "b2@b.example": "deferred"}
    assert sorted(p.inst.queue_ids("--state", "hold")) == sorted(
        [p.qid("a1@a.example"), p.qid("a2@a.example")])
    p.ctl("release", "--domain", "a.example")
    # released, tried again (the host is still down), deferred again
    wait_for(lambda: set(p.states().values()) == {"deferred"} and
             len(p.states()) == 4, 20, "all four deferred")
    p.ctl("hold", "--deferred")
    assert set(p.states().values()) == {"hold"}, p.states()
    p.sink.start()
    p.ctl("flush")
    p.barrier()
    assert p.delivered() == []
    p.ctl("release", "--domain", "b.example")
    p.wait_delivered(["b1@b.example", "b2@b.example"])
    p.wait_states({"a1@a.example": "hold", "a2@a.example": "hold"})
    p.ctl("release", "ALL")
    p.wait_delivered(rcpts)


def test_delete_id_domain_deferred_all(instances, sinks):
    rcpts = ["a@one.example", "b@one.example", "c@two.example",
             "d@three.example", "e@four.example"]
    p = Parked(instances, sinks, rcpts)
    gone = p.qid("a@one.example")
    p.ctl("delete", gone)
    assert gone not in p.inst.queue_ids()
    assert p.inst.ctl("show", gone).returncode != 0
    assert re.search(r"%s: removed" % gone, p.inst.log()), p.inst.log()

    p.ctl("delete", "--domain", "two.example")
    assert "c@two.example" not in p.states()

    p.ctl("hold", p.qid("d@three.example"))
    p.ctl("delete", "--deferred")  # b and e; d is on hold
    assert p.states() == {"d@three.example": "hold"}, p.states()

    p.sink.start()
    p.ctl("flush")
    p.barrier()
    assert p.delivered() == []
    p.ctl("delete", "ALL")
    p.inst.wait_empty()
    p.barrier()
    assert p.delivered() == [], "deleted mail was delivered"


def test_requeue_retries_at_once_by_the_table_in_force(instances, sinks):
    """The message waits an hour behind a dead host; the routing table is
    changed to a live one and reloaded; requeue sends it now, by the new
    table."""
    dead, live = sinks(up=False), sinks()
    inst = instances(smart_host=[dead], min_backoff="1h", max_backoff="1h")
    inst.routes("* smarthost %s\n" % dead.hostspec)
    inst.start()
    tok, other = new_token(), new_token()
    inst.submit(["r@dest.example"], message(tok, "r@dest.example")[0],
                sender=SENDER)
    inst.submit(["s@dest.example"], message(other, "s@dest.example")[0],
                sender=SENDER)
    q = inst.wait_deferred(2, timeout=30)
    qid = [m["queue_id"] for m in q
           if m["recipients"][0]["address"] == "r@dest.example"][0]
    inst.routes("* smarthost %s\n" % live.hostspec)
    assert inst.ctl("reload").returncode == 0
    r = inst.ctl("requeue", qid)
    assert r.returncode == 0, r.stderr
    assert live.wait_count(1, 20), "requeued mail not sent"
    assert token_of(live.snapshot()[0]) == tok


def test_flush_by_id_and_domain(instances, sinks):
    rcpts = ["a@a.example", "b@b.example", "c@c.example"]
    p = Parked(instances, sinks, rcpts)
    p.sink.start()
    p.ctl("flush", p.qid("a@a.example"))
    p.wait_delivered(["a@a.example"])
    p.wait_states({"b@b.example": "deferred", "c@c.example": "deferred"})
    p.ctl("flush", "--domain", "b.example")
    p.wait_delivered(["a@a.example", "b@b.example"])
    p.wait_states({"c@c.example": "deferred"})
    p.ctl("flush")
    p.wait_delivered(rcpts)
    p.inst.wait_empty()


def test_show_prints_envelope_and_content(instances, sinks):
    p = Parked(instances, sinks, ["shown@dest.example"])
    qid = p.qid("shown@dest.example")
    r = p.ctl("show", qid)
    out = r.stdout.decode(errors="replace")
    assert SENDER in out and "shown@dest.example" in out, out
    assert "ncmta-token-%s" % p.tok("shown@dest.example") in out, out
    assert "a line that starts with a dot" in out, out
    bad = p.inst.ctl("show", "0" * len(qid))
    assert bad.returncode != 0 and bad.stderr.strip()


def test_qshow_summary_and_filters(instances, sinks):
    rcpts = ["a1@a.example", "a2@a.example", "a3@a.example", "b1@b.example"]
    p = Parked(instances, sinks, rcpts)
    p.ctl("hold", p.qid("b1@b.example"))
    out = p.inst.qshow("-s").stdout.decode()
    totals = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and f[1].isdigit():
            totals.setdefault(f[0], int(f[1]))
    assert totals.get("a.example") == 3 and totals.get("b.example") == 1, out
    assert totals.get("deferred") == 3 and totals.get("hold") == 1, out
    assert totals.get("TOTAL") == 4, out
    assert len(p.inst.queue_ids("--domain", "a.example")) == 3
    assert p.inst.queue_ids("--state", "hold") == [p.qid("b1@b.example")]
    assert len(p.inst.queue_ids("--sender", SENDER)) == 4
    assert p.inst.queue_ids("--sender", "other@origin.example") == []
    assert p.inst.queue_ids(p.qid("a2@a.example")) == [p.qid("a2@a.example")]


# -- who may do what ------------------------------------------------------

needs_root = pytest.mark.skipif(os.getuid() != 0,
                                reason="needs root to become other users")


@needs_root
def test_other_user_sees_only_own_messages_and_may_not_change(instances,
                                                              sinks):
    """nobody lists only what nobody submitted (through the master, the
    queue itself being out of reach) and gets "permission denied" for
    every change; the mail owner may change the queue."""
    p = Parked(instances, sinks, ["root-rcpt@dest.example"])
    tok = new_token()
    r = p.inst.submit(["nobody-rcpt@dest.example"],
                      message(tok, "nobody-rcpt@dest.example")[0],
                      sender=SENDER, as_user="nobody", check=False)
    assert r.returncode == 0, r.stderr
    q = p.inst.wait_deferred(2, timeout=30)
    mine = [m["queue_id"] for m in q
            if m["recipients"][0]["address"] == "nobody-rcpt@dest.example"]
    theirs = p.qid("root-rcpt@dest.example")

    seen = p.inst.qshow_json(as_user="nobody")
    assert [m["queue_id"] for m in seen] == mine, seen
    listing = p.inst.qshow(as_user="nobody").stdout.decode()
    assert mine[0] in listing and theirs not in listing, listing
    assert "root-rcpt@dest.example" not in listing

    for args in (("hold", theirs), ("hold", mine[0]), ("delete", theirs),
                 ("delete", "ALL"), ("release", "ALL"), ("requeue", theirs),
                 ("show", theirs)):
        r = p.inst.ctl(*args, as_user="nobody")
        err = (r.stdout + r.stderr).decode(errors="replace")
        assert r.returncode != 0, "nobody may %s: %s" % (args, err)
        assert "permission denied" in err.lower(), (args, err)
    assert {m["queue_name"] for m in p.inst.qshow_json()} == {"deferred"}

    owner = mail_owner()
    if owner != pwd.getpwuid(os.getuid()).pw_name:
        r = p.inst.ctl("hold", theirs, as_user=owner)
        assert r.returncode == 0, r.stderr
        assert p.states()["root-rcpt@dest.example"] == "hold"
        r = p.inst.ctl("release", theirs, as_user=owner)
        assert r.returncode == 0, r.stderr
