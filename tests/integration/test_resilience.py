"""Durability: submissions while the daemons are stopped wait in maildrop;
kill -9 of pickup, qmgr or an smtp worker in the middle of a burst loses
nothing (the master restarts the daemon); only the master keeps root."""

import os
import re
import signal
import threading
import time

import pytest

from instance import wait_for
from msgs import message, new_token, submit_many, token_counts


def test_submission_while_stopped(instances, sink):
    inst = instances(smart_host=[sink]).start()
    inst.stop()
    assert inst.ctl("status").returncode == 1
    toks = [new_token() for _ in range(20)]
    jobs = []
    for t in toks:
        data, _ = message(t, "rcpt@stopped.example")
        jobs.append((["rcpt@stopped.example"], data, "s@test.example"))
    for r in submit_many(inst, jobs):
        assert r.returncode == 0, r.stderr
    assert len(inst.maildrop_files()) == 20
    assert sink.count() == 0

    inst.start()
    assert inst.ctl("status").returncode == 0
    assert sink.wait_count(20, 30), "%d of 20 arrived" % sink.count()
    wait_for(lambda: inst.qshow_json() == [], 10, "an empty queue")
    assert token_counts(sink.snapshot()) == {t: 1 for t in toks}
    assert inst.maildrop_files() == []


BURST = 500


class Burst(threading.Thread):
    """Submits BURST messages with a few parallel ncsendmail processes,
    paced over `duration` seconds so that kills land while messages are
    still arriving, queued and in delivery."""

    def __init__(self, inst, duration=6.0):
        super().__init__(daemon=True)
        self.inst = inst
        self.duration = duration
        self.toks = [new_token() for _ in range(BURST)]
        self.done = 0
        self.failed = []

    def run(self):
        chunk = 20
        t0 = time.monotonic()
        for off in range(0, BURST, chunk):
            pause = t0 + self.duration * off / BURST - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            jobs = []
            for i, t in enumerate(self.toks[off:off + chunk], off):
                rcpt = "r%d@burst%d.example" % (i, i % 7)
                data, _ = message(t, rcpt, i)
                jobs.append(([rcpt], data, "s@test.example"))
            for r in submit_many(self.inst, jobs):
                if r.returncode != 0:
                    self.failed.append(r.stderr)
            self.done = off + len(jobs)


def _kill_one(inst, name):
    pids = inst.pids(name)
    assert pids, "no %s process to kill: %s" % (name, inst.processes())
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


def _where_are(inst, burst, lost, killed):
    """What a failure report needs: where the lost messages are (maildrop,
    corrupt/, the queue) and what the log says of the kills and faults."""
    out = ["kills (name, pid, submitted, delivered, t): %r" % (killed,)]
    for tok in lost:
        i = burst.toks.index(tok)
        rcpt = "r%d@burst%d.example" % (i, i % 7)
        out.append("lost: message %d (token %s, %s)" % (i, tok, rcpt))
        out += ["  " + line for line in inst.log().splitlines()
                if "<%s>" % rcpt in line]
    for sub in ("maildrop", "corrupt"):
        d = os.path.join(inst.queue, sub)
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            names = ["(%s)" % e]
        out.append("%s/: %r" % (sub, names[:20]))
    try:
        out.append("queue: %r" % (inst.qshow_json()[:20],))
    except Exception as e:  # the report must not hide the failure
        out.append("queue: (%s)" % e)
    out += [line for line in inst.log().splitlines()
            if re.search(r"warn|error|cannot|exited|pid \d+|killed|"
                         r"disconnected|already queued|deferred|held",
                         line, re.I)][-40:]
    return "\n".join(out)


@pytest.mark.parametrize("victim", ["pickup", "qmgr", "smtp", "all"])
def test_kill9_during_burst_loses_nothing(instances, sink, victim, capsys):
    inst = instances(smart_host=[sink]).start()
    inst.expect_restarts = True
    # A slightly slow smart host keeps deliveries in flight when we strike.
    sink.behaviour.delay = 0.05
    burst = Burst(inst)
    burst.start()
    victims = ["pickup", "qmgr", "smtp"] if victim == "all" else [victim]
    killed = []
    t0 = time.monotonic()
    for n, name in enumerate(victims):
        # Strike while both submission and delivery are under way.
        goal = (n + 1) * BURST // (len(victims) + 2)
        wait_for(lambda: burst.done >= goal or not burst.is_alive(), 60,
                 "%d submissions" % goal, interval=0.01, max_interval=0.01)
        wait_for(lambda: sink.count() >= goal // 2, 30,
                 "%d deliveries" % (goal // 2), interval=0.01,
                 max_interval=0.01)
        killed.append((name, _kill_one(inst, name), burst.done,
                       sink.count(), round(time.monotonic() - t0, 2)))
        # The master brings it back; the next victim must be a new process.
        wait_for(lambda: inst.pids(name) and
                 killed[-1][1] not in inst.pids(name), 15,
                 "%s restarted by the master" % name)
    burst.join(120)
    assert not burst.is_alive(), "submissions did not finish"
    assert not burst.failed, "ncsendmail failed: %r" % burst.failed[:3]

    want = set(burst.toks)

    def all_there():
        return want <= set(token_counts(sink.snapshot()))
    try:
        ok = wait_for(all_there, 90, "all %d messages at the sink" % BURST)
    except AssertionError:
        ok = False
    counts = token_counts(sink.snapshot())
    lost = [t for t in burst.toks if t not in counts]
    twice = sum(1 for t in burst.toks if counts.get(t, 0) > 1)
    extra = sum(n - 1 for n in counts.values())
    # A copy is sent again only if a kill cut short the bookkeeping of its
    # delivery: each kill touches at most the messages in flight then, one
    # per open session at the sink.
    in_flight = sink.peak_sessions()
    with capsys.disabled():
        print("\n  kill -9 (name, pid, submitted, delivered, t): %r" % killed)
        print("  kill -9 %s: %d of %d delivered, %d arrived more than once"
              % (victim, len(counts), BURST, twice))
    assert ok and not lost, "%d messages lost\n%s" % (
        len(lost), _where_are(inst, burst, lost, killed))
    assert extra <= len(killed) * in_flight, \
        "%d extra copies after %d kills with at most %d in flight" % (
            extra, len(killed), in_flight)
    wait_for(lambda: inst.qshow_json() == [], 20, "an empty queue")
    assert inst.maildrop_files() == []
    log = inst.log()
    for name, pid, *_ in killed:
        assert "ncmta-%s pid %d" % (name, pid) in log, \
            "the master did not log the death of %s %d" % (name, pid)


def test_deferred_mail_survives_restart(instances, sinks):
    """ncctl stop keeps every message queued; after ncctl start the queue
    is the same and is delivered once the smart host is back."""
    sink = sinks(up=False)
    inst = instances(smart_host=[sink]).start()
    toks = [new_token() for _ in range(5)]
    for t in toks:
        data, _ = message(t, "keep@restart.example")
        inst.submit(["keep@restart.example"], data, sender="s@test.example")
    wait_for(lambda: len(inst.qshow_json("--state", "deferred")) == 5, 20,
             "5 deferred messages")
    ids = sorted(m["queue_id"] for m in inst.qshow_json())
    inst.stop()
    assert sorted(m["queue_id"] for m in inst.qshow_json()) == ids
    inst.start()
    assert sorted(m["queue_id"] for m in inst.qshow_json()) == ids
    sink.start()
    inst.ctl("flush", check=True)
    assert sink.wait_count(5, 20), "%d of 5 delivered" % sink.count()
    wait_for(lambda: inst.qshow_json() == [], 10, "an empty queue")
    assert token_counts(sink.snapshot()) == {t: 1 for t in toks}


@pytest.mark.skipif(os.getuid() != 0, reason="needs root")
def test_only_master_keeps_root(running):
    def dropped():
        # A daemon is root for a moment after exec, until its set-up is
        # done; give each the time to get there.
        procs = running.processes()
        return procs if all(0 not in p.ids("Uid") for p in procs
                            if p.name != "master") else None
    try:
        procs = wait_for(dropped, 10, "every daemon but the master to drop "
                         "root")
    except AssertionError:
        procs = running.processes()
    names = sorted(p.name for p in procs)
    assert names.count("master") == 1, names
    assert {"pickup", "qmgr", "smtp"} <= set(names), names
    for p in procs:
        uids, gids = p.ids("Uid"), p.ids("Gid")
        if p.name == "master":
            assert uids[0] == 0
            continue
        assert len(uids) == 4 and 0 not in uids, (p, uids)
        assert len(gids) == 4 and 0 not in gids, (p, gids)
        groups = p.status.get("Groups", "").split()
        assert "0" not in groups, (p, groups)
    for p in procs:
        if p.name in ("pickup", "qmgr", "smtp"):
            assert p.root() not in (None, "/"), \
                "%s is not chrooted (root %s)" % (p, p.root())


def test_qmgr_releases_the_queue_pages_after_its_scan(instances):
    """qmgr reads every record at start, which maps most of data.mdb into
    its RSS; it runs chrooted where /proc is missing, and must still find
    its map and release it (queue_trim()) once the queue is loaded."""
    import subprocess

    from instance import bin_path

    inst = instances(smart_host="[127.0.0.1]:9")
    subprocess.run([bin_path("bench/fill"), "-c", inst.confdir, "-n",
                    "30000", "-d", "100", "-D", "0"], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    db = os.path.join(inst.queue, "db", "data.mdb")
    size = os.path.getsize(db)
    assert size > 30 * 1024 * 1024, size
    inst.start()
    wait_for(lambda: "queue loaded: 30000 messages" in inst.log(), 30,
             "qmgr's scan of 30000 messages")
    pid = inst.pids("qmgr")[0]

    def mapped_kb():
        kb, inside = 0, False
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    inside = line.rstrip().endswith("/data.mdb")
                elif inside and first == "Rss:":
                    kb += int(line.split()[1])
        return kb
    wait_for(lambda: mapped_kb() * 1024 < size // 10, 10,
             "qmgr's resident queue pages below a tenth of data.mdb "
             "(%d bytes)" % size)
