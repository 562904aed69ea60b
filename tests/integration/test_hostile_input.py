"""Hostile input fails alone (doc/design.md, "Hostile input and
faults"): control characters in addresses and ENVIDs are refused at every
door (ncsendmail 65, -bs 501, a drop file to bad/); a message that gets
into the queue anyway is held or bounced without taking a worker down; a
message that kills workers is quarantined while the others flow; a notice
for thousands of failed recipients is split instead of killing the bounce
daemon; one message's fan-out keeps the session limits and one copy of its
body per worker; a server that reads the content slowly is cut off at the
data-phase deadline."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

from instance import BUILDDIR, mail_owner, wait_for
from msgs import message, new_token, notices, token_counts, token_of
from test_dropdir import _drop, _drop_dir

QINJECT = os.path.join(BUILDDIR, "tests", "tools", "qinject")
SENDER = "sender@origin.example"


def qinject(inst, sender, rcpts, body=b"Subject: injected\n\nbody\n",
            envid=None):
    """Put a message straight into inst's queue (what pickup would
    refuse), as its mail_owner; returns the queue ID."""
    argv = [QINJECT, "-c", inst.confdir, "-f", sender]
    if envid is not None:
        argv += ["-V", envid]
    p = inst.run(argv + list(rcpts), input=body, check=True,
                 as_user=mail_owner() if os.getuid() == 0 else None)
    return p.stdout.decode().strip()


def inject_while_stopped(inst, *msgs):
    """qinject each (sender, rcpts[, body]) with ncmta stopped (it made
    its queue when it ran), then start it: qmgr indexes them at start.
    Returns their queue IDs."""
    inst.start()
    inst.stop()
    qids = [qinject(inst, *m) for m in msgs]
    inst.start()
    return qids


def by_qid(inst, qid):
    for m in inst.qshow_json():
        if m["queue_id"] == qid:
            return m
    return None


# -- refused at submission ------------------------------------------------

def test_control_character_sender_refused_by_ncsendmail(instances, sink):
    """The reproduction: ncsendmail -f $'"\\x01"@a.example' b@c.example
    used to exit 0 and take every smtp worker down. Now it exits 65 with
    the reason and leaves nothing behind; so do a recipient and an ENVID
    with a control character."""
    inst = instances(smart_host=[sink]).start()
    msg = b"Subject: x\n\nbody\n"
    cases = [["-f", '"\x01"@a.example', "b@c.example"],
             ["-f", "s@test.example", '"a\x01b"@c.example'],
             ["-f", "s@test.example", "--", "ok@c.example",
              '"\x7f"@c.example'],
             ["-f", "s@test.example", "-V", "env\x01id", "b@c.example"]]
    for args in cases:
        r = inst.run([inst.ncsendmail, "-C", inst.confdir, "-i"] + args,
                     input=msg)
        assert r.returncode == 65, (args, r.returncode, r.stderr)
        assert b"control character" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert inst.maildrop_files() == []
    # a quoted local part without control characters is still fine
    tok = new_token()
    inst.submit(['"a b"@c.example'], message(tok, "x@c.example")[0],
                sender="s@test.example")
    assert sink.wait_count(1, 20)
    assert sink.snapshot()[0].rcpt_tos == ['"a b"@c.example']


def test_control_character_refused_by_sendmail_bs(instances, sink):
    """ncsendmail -bs answers 501 to MAIL and RCPT with a control
    character and queues nothing for them."""
    inst = instances(smart_host=[sink]).start()
    session = (b"EHLO client.example\r\n"
               b"MAIL FROM:<\"\x01\"@a.example>\r\n"
               b"MAIL FROM:<s@test.example>\r\n"
               b"RCPT TO:<\"a\x01\"@b.example>\r\n"
               b"RSET\r\nQUIT\r\n")
    r = inst.run([inst.ncsendmail, "-C", inst.confdir, "-bs"],
                 input=session)
    replies = r.stdout.decode("ascii", "replace").split("\r\n")
    codes = [x[:3] for x in replies if re.match(r"\d{3} ", x)]
    # greeting, EHLO, bad MAIL, good MAIL, bad RCPT, RSET, QUIT
    assert codes == ["220", "250", "501", "250", "501", "250", "221"], \
        replies
    assert "control character" in r.stdout.decode("ascii", "replace")
    assert inst.maildrop_files() == []


def test_control_character_drop_file_goes_to_bad(instances, sink):
    inst = instances(smart_host=[sink])
    drop = _drop_dir(inst)
    inst.start()
    _drop(drop, "evil.eml", b"X-Sender: \"\x01\"@a.example\r\n"
          b"X-Receiver: b@c.example\r\nSubject: x\r\n\r\nbody\r\n")
    bad = os.path.join(drop, "bad")
    wait_for(lambda: os.path.exists(os.path.join(bad, "evil.eml.reason")),
             20, "the drop file moved to bad/")
    with open(os.path.join(bad, "evil.eml.reason"), "rb") as f:
        reason = f.read()
    assert b"control character" in reason, reason
    assert b"\x01" not in reason
    assert sink.count() == 0 and inst.qshow_json() == []


# -- in the queue anyway: fails alone ---------------------------------------

def test_poison_sender_in_queue_is_held_and_mail_flows(instances, sink):
    """A record with a control character in its sender (a queue written
    by something else): qmgr holds it as quarantined, no worker exits,
    and the other messages go out."""
    inst = instances(smart_host=[sink])
    bad, good = inject_while_stopped(
        inst, ('"\x01"@a.example', ["b@c.example"]),
        ("s@test.example", ["g@c.example"], b"Subject: good\n\nfine\n"))
    workers = sorted(inst.pids("smtp"))
    assert sink.wait_count(1, 20), "the good message was not delivered"
    assert sink.snapshot()[0].rcpt_tos == ["g@c.example"]
    m = wait_for(lambda: (by_qid(inst, bad) or {}).get("queue_name") ==
                 "hold" and by_qid(inst, bad), 20, "the poison held")
    wait_for(lambda: by_qid(inst, good) is None, 10,
             "the good message removed from the queue")
    reasons = [r.get("delay_reason", "") for r in m["recipients"]]
    assert reasons and all(x.startswith("quarantined: the sender address")
                           for x in reasons), m
    assert sorted(inst.pids("smtp")) == workers, "an smtp worker restarted"
    assert "protocol error" not in inst.log()
    assert re.search(r"%s: hold: quarantined: " % bad, inst.log())
    assert sink.count() == 1


def test_poison_recipient_bounces_alone(instances, sink):
    """A record with a control character in one recipient: that recipient
    bounces (5.1.3) with a notice, the other one is delivered."""
    inst = instances(smart_host=[sink])
    qid, = inject_while_stopped(
        inst, (SENDER, ['"x\x01y"@c.example', "fine@c.example"],
               b"Subject: half ncmta-token-%s\n\nbody\n"
               % new_token().encode()))
    inst.wait_empty(timeout=30)
    got = [m for m in sink.snapshot() if m.rcpt_tos == ["fine@c.example"]]
    assert len(got) == 1
    ns = notices(sink)
    assert len(ns) == 1 and ns[0].received.rcpt_tos == [SENDER]
    assert ns[0].recipients[0]["status"] == "5.1.3", ns[0].recipients
    assert re.search(r"%s: to=<\"x\?y\"@c\.example>, .*dsn=5\.1\.3, "
                     r"status=bounced" % qid, inst.log()), inst.log()
    assert "\x01" not in inst.log()


def workers_connected_to(inst, ports):
    """The smtp workers with an established TCP connection to one of
    ports on loopback (from /proc/net/tcp and each worker's fds)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            port = int(fields[2].split(":")[1], 16)
            if port in ports and fields[3] == "01":
                inodes.add("socket:[%s]" % fields[9])
    found = []
    for pid in inst.pids("smtp"):
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
            links = {os.readlink("/proc/%d/fd/%s" % (pid, fd))
                     for fd in fds}
        except OSError:
            continue
        if links & inodes:
            found.append(pid)
    return found


def test_worker_deaths_quarantine_the_message_in_flight(instances, sinks):
    """The smtp workers die three times while one message is in flight:
    that message is held as quarantined. A message in flight with it the
    first time is tried again without waiting for min_backoff (an hour)
    and delivered; mail to other destinations flows all along."""
    slow, by, fast = sinks(), sinks(), sinks()
    slow.behaviour.delay = 60  # the end of DATA is not answered in time
    by.behaviour.delay = 60
    inst = instances(smart_host=[fast], min_backoff="1h", max_backoff="1h",
                     smtp_data_timeout="120s")
    inst.routes("slow.example  smarthost %s\n"
                "by.example  smarthost %s\n"
                "*  smarthost %s\n"
                % (slow.hostspec, by.hostspec, fast.hostspec))
    inst.start()
    inst.expect_restarts = True
    poison, bystander = new_token(), new_token()
    inst.submit(["p@slow.example"], message(poison, "p@slow.example")[0],
                sender=SENDER)
    inst.submit(["b@by.example"], message(bystander, "b@by.example")[0],
                sender=SENDER)

    def tries(sink, rcpt):
        return sum(1 for a, _ in list(sink.rcpt_log) if a == rcpt)

    def held():
        return [m for m in inst.qshow_json() if m["queue_name"] == "hold"]

    # One kill may cost the message two strikes: taken back from the
    # first worker killed, it can be handed at once to the second one,
    # killed next for the bystander's session. So the rounds stop as soon
    # as it is held, after at most three.
    for kill in range(3):
        wait_for(lambda: held() or (tries(slow, "p@slow.example") > kill and
                                    (kill > 0 or
                                     tries(by, "b@by.example") > 0)), 40,
                 "the message(s) in flight before kill %d" % (kill + 1))
        if held():
            break
        ports = [slow.port] + ([by.port] if kill == 0 else [])
        victims = wait_for(lambda: workers_connected_to(inst, ports), 10,
                           "the workers with the sessions")
        by.behaviour.delay = 0
        for pid in victims:  # the others live on: no message is hit twice
            os.kill(pid, signal.SIGKILL)
        tok = new_token()
        inst.submit(["f%d@fast.example" % kill],
                    message(tok, "f%d@fast.example" % kill)[0],
                    sender=SENDER)
        wait_for(lambda: tok in token_counts(fast.snapshot()), 30,
                 "mail flowing after kill %d" % (kill + 1))
    on_hold = wait_for(held, 30, "the poison message held")
    assert len(on_hold) == 1
    reason = on_hold[0]["recipients"][0].get("delay_reason", "")
    assert reason.startswith("quarantined: an smtp worker exited 3 times"), \
        on_hold
    wait_for(lambda: bystander in token_counts(by.snapshot()), 30,
             "the bystander delivered without waiting for min_backoff")
    wait_for(lambda: [m["queue_name"] for m in inst.qshow_json()] ==
             ["hold"], 10, "the bystander removed, the poison held")
    assert re.search(r"hold: quarantined: an smtp worker exited 3 times",
                     inst.log())


# -- bounded fan-out ----------------------------------------------------------

def vm_hwm(pid):
    """Peak resident set of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def hwm_bound(pid, plain):
    """plain, or more for a process built with AddressSanitizer, whose
    allocator keeps freed memory in quarantine for a while."""
    with open("/proc/%d/maps" % pid) as f:
        return plain * 4 if "libasan" in f.read() else plain


def test_one_message_many_recipients_keeps_limits_and_memory(instances,
                                                            sink):
    """One 4 MB message to 600 recipients of one destination, 10 per
    transaction: 60 jobs. The destination never has more than
    destination_concurrency_limit sessions, the total stays within
    smtp_session_limit, every recipient gets it once, and neither qmgr
    nor a worker holds a copy of the body per job (their peak memory
    stays far below 60 x 4 MB)."""
    inst = instances(smart_host=[sink], smtp_recipient_limit="10",
                     destination_concurrency_limit="6",
                     smtp_session_limit="8", message_size_limit="10M")
    os.environ["NCMTA_DEBUG"] = "1"  # the workers log each job's body
    try:
        inst.start()
    finally:
        del os.environ["NCMTA_DEBUG"]
    rcpts = ["r%03d@wide.example" % i for i in range(600)]
    tok = new_token()
    line = b"0123456789" * 9 + b"\n"
    body = tok.encode() + b"\n" + line * (4 * 1024 * 1024 // len(line))
    sink.behaviour.delay = 0.2  # keep sessions open long enough to overlap
    inst.submit(rcpts, message(tok, rcpts[0], body=body)[0],
                sender="s@test.example", timeout=60)
    wait_for(lambda: sum(len(m.rcpt_tos) for m in sink.snapshot()) >= 600,
             180, "600 recipients served")
    inst.wait_empty(timeout=30)
    got = [r for m in sink.snapshot() for r in m.rcpt_tos]
    log = inst.log()
    # On a loaded machine a reply can come after smtp_data_timeout: the
    # worker defers that transaction (and logs it) while the sink kept the
    # copy, so it goes again. Only such a transaction may arrive twice.
    retried = re.findall(r"to=<(r\d{3}@wide\.example)>, .*status=deferred",
                         log)
    assert sorted(set(got)) == rcpts, "recipients lost"
    twice = {r: got.count(r) - 1 for r in set(got) if got.count(r) > 1}
    assert all(n <= retried.count(r) for r, n in twice.items()), \
        "delivered twice without a deferral: %r" % twice
    assert all(len(m.rcpt_tos) <= 10 for m in sink.snapshot())
    assert sink.peak_sessions() <= 6, sink.peak_sessions()
    jobs = re.findall(r"ncmta/smtp\[(\d+)\]: \w+: job \d+: 10 recipients, "
                      r"\d+ hosts, \d+ octets( \(kept body\))?", log)
    extra = len(set(retried) | set(twice))  # recipients tried again
    assert 60 <= len(jobs) <= 60 + extra, (len(jobs), extra)
    sent = [pid for pid, kept in jobs if not kept]
    print("bodies sent: %d for %d jobs, %d recipients retried"
          % (len(sent), len(jobs), extra))
    assert len(sent) <= 6 + extra, "the body went out %d times" % len(sent)
    for name in ("qmgr", "smtp"):
        for pid in inst.pids(name):
            assert vm_hwm(pid) < hwm_bound(pid, 60 * 1024 * 1024), \
                "%s pid %d peaked at %d MB" % (name, pid,
                                               vm_hwm(pid) >> 20)


# -- notices for thousands of failed recipients --------------------------------

def test_notice_for_thousands_of_long_failures(instances, sink):
    """3000 recipients refused with 1.5 KB replies: one BOUNCE_REQ would
    pass the bounce daemon's 4 MiB frame limit. The notices go out in
    parts (at most 1000 recipients each), every recipient is in exactly
    one of them, the bounce daemon never restarts, and the message
    leaves the queue."""
    long_reply = "550 5.1.1 " + "no such user here, " * 78
    sink.behaviour.rcpt_hook = lambda a: (long_reply if a.startswith("u")
                                          else None)
    inst = instances(smart_host=[sink], smtp_recipient_limit="500",
                     destination_concurrency_limit="10")
    inst.start()
    bounce = inst.pids("bounce")
    rcpts = ["u%04d@many.example" % i for i in range(3000)]
    tok = new_token()
    inst.submit(rcpts, message(tok, rcpts[0])[0], sender=SENDER, timeout=60)
    wait_for(lambda: len([n for n in notices(sink) if n.token == tok]) >= 3,
             240, "three notices")
    inst.wait_empty(timeout=30)
    ns = [n for n in notices(sink) if n.token == tok]
    assert len(ns) == 3, [len(n.recipients) for n in ns]
    listed = sorted(a for n in ns for a in n.final_recipients())
    assert listed == rcpts
    assert inst.pids("bounce") == bounce, "the bounce daemon restarted"
    assert "protocol error" not in inst.log()


# -- a server that takes the content slowly -----------------------------------

class SlowReader(threading.Thread):
    """An SMTP server that answers every command at once but, after 354,
    reads the content at about rate octets per second through a small
    receive buffer: each read frees a little room, so a client that only
    times each write out would wait for ever."""

    def __init__(self, rate=80 * 1024):
        super().__init__(daemon=True)
        self.rate = rate
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(60)
        self.port = self.sock.getsockname()[1]
        self.content = 0  # octets of content read
        self.stop = False

    def hostspec(self):
        return "[127.0.0.1]:%d" % self.port

    def run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            c.settimeout(60)
            c.sendall(b"220 slow.example ESMTP\r\n")
            f = c.makefile("rb")
            while not self.stop:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"DATA":
                    c.sendall(b"354 go ahead\r\n")
                    break
                c.sendall(b"221 bye\r\n" if verb == b"QUIT"
                          else b"250 ok\r\n")
            tail = b""
            while not self.stop:
                time.sleep(0.05)
                chunk = f.read1(int(self.rate * 0.05))
                if not chunk:
                    return
                self.content += len(chunk)
                tail = (tail + chunk)[-5:]
                if tail == b"\r\n.\r\n":
                    c.sendall(b"250 2.0.0 took it all\r\n")
                    return

    def close(self):
        self.stop = True
        self.sock.close()


def test_slow_reader_cut_at_the_data_phase_deadline(instances):
    """A server that keeps taking the content at 80 KB/s would hold a
    6 MB delivery for over a minute, each write restarting
    smtp_data_timeout (2 s). The content phase ends at smtp_data_timeout
    plus the size at smtp_min_data_rate (1 MB/s here: about 8 s): the
    session is cut, the message deferred."""
    srv = SlowReader()
    srv.start()
    try:
        inst = instances(smart_host=srv.hostspec(), smtp_data_timeout="2s",
                         smtp_min_data_rate="1M", min_backoff="1h",
                         max_backoff="1h")
        inst.start()
        line = b"abcdefghij" * 9 + b"\n"
        body = line * (6 * 1024 * 1024 // len(line))
        t0 = time.monotonic()
        inst.submit(["r@slow.example"], message(new_token(), "r@slow.example",
                                                body=body)[0],
                    sender="s@test.example", timeout=60)
        lines = wait_for(lambda: inst.log_lines("status=deferred"), 40,
                         "the delivery deferred")
        took = time.monotonic() - t0
        assert "timed out while sending message body" in lines[0], lines
        # cut while most of the content was still to be taken
        assert 0 < srv.content < len(body) // 2, srv.content
        print("cut after %.1f s, %d of %d octets taken"
              % (took, srv.content, len(body)))
        assert inst.wait_deferred(1)
    finally:
        srv.close()


# -- a full queue map ------------------------------------------------------------

def test_full_map_still_commits_outcomes_and_notices(instances, sinks):
    """Submissions fill a 1 MB queue map until ncsendmail answers 75.
    Then every queued message is refused for good by the relay: the
    outcomes, the notices (new messages) and the removals must all find
    room -- the reserve pickup leaves them -- and the queue empties."""
    sink = sinks(up=False)
    sink.behaviour.rcpt_hook = lambda a: ("550 5.1.1 no such user"
                                          if a.startswith("big") else None)
    inst = instances(smart_host=[sink], queue_map_size="1M").start()
    filler = b"".join(b"%06d fill line for a message\n" % n
                      for n in range(60))  # about 2 KB: fills to the brim
    accepted = []
    for i in range(1000):
        tok = new_token()
        data, _ = message(tok, "big%d@full.example" % i, i,
                          body=tok.encode() + b"\n" + filler)
        p = inst.submit(["big%d@full.example" % i], data, sender=SENDER,
                        check=False)
        if p.returncode != 0:
            assert p.returncode == 75, p.stderr
            break
        accepted.append(tok)
    assert 5 < len(accepted) < 1000, len(accepted)
    wait_for(lambda: not inst.maildrop_files() or
             os.path.exists(os.path.join(inst.queue, "flags", "full")),
             20, "the maildrop taken in or the queue full")
    sink.start()
    inst.ctl("flush", check=True)
    wait_for(lambda: len({n.token for n in notices(sink)}) == len(accepted),
             120, "a notice for every accepted message")
    wait_for(lambda: inst.qshow_json() == [] and not inst.maildrop_files(),
             60, "an empty queue and maildrop")
    log = inst.log()
    assert "cannot update the queue" not in log, log
    assert "cannot queue the failure notification" not in log, log
    assert sorted(n.token for n in notices(sink)) == sorted(accepted)


# -- a file pickup dies on ---------------------------------------------------------

CRASH_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

/* In ncmta-pickup only: reading a file whose name holds POISON kills
 * the process, as a parser bug would. */
int
openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	extern char *program_invocation_short_name;
	mode_t mode = 0;
	va_list ap;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (real == NULL)
		real = (int (*)(int, const char *, int, ...))dlsym(
		    RTLD_NEXT, "openat");
	if (strcmp(program_invocation_short_name, "ncmta-pickup") == 0 &&
	    strstr(path, "POISON") != NULL && (flags & O_ACCMODE) == O_RDONLY &&
	    strstr(path, ".reason") == NULL)
		raise(SIGSEGV);
	return real(dirfd, path, flags, mode);
}
"""


def test_file_that_kills_pickup_is_quarantined(instances, sink):
    """A drop file that makes pickup die as it reads it (a stand-in for a
    parser bug, injected with LD_PRELOAD) is moved to bad/ as quarantined
    after three deaths; the files dropped with it are delivered."""
    inst = instances(smart_host=[sink])
    drop = _drop_dir(inst)
    shim_c = os.path.join(inst.base, "crash.c")
    shim = os.path.join(inst.base, "crash.so")
    with open(shim_c, "w") as f:
        f.write(CRASH_SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, shim_c, "-ldl"],
                   check=True)
    os.chmod(inst.base, 0o755)
    toks = [new_token() for _ in range(3)]

    def drop_good(i, t):
        _drop(drop, "%d-%s.eml" % (i, t), (
            "X-Sender: app@test.example\r\nX-Receiver: r%d@x.example\r\n"
            "Subject: ncmta-token-%s\r\n\r\nhello\r\n" % (i, t)).encode())
    # the first pickup commits a file before it meets the poison: a
    # commit must not stop it from naming the file it then dies on
    drop_good(0, toks[0])
    inst.expect_restarts = True
    env = dict(os.environ, LD_PRELOAD=shim,
               ASAN_OPTIONS="verify_asan_link_order=0")
    subprocess.run([inst.ncctl, "-c", inst.confdir, "start"], env=env,
                   check=True, timeout=30)
    inst.started = True
    wait_for(lambda: inst.log_lines("pickup[", "uid=0 from=<app@"), 20,
             "the first drop file ingested")
    for i, t in enumerate(toks[1:], 1):
        drop_good(i, t)
    _drop(drop, "POISON.eml", b"X-Sender: app@test.example\r\n"
          b"X-Receiver: p@x.example\r\nSubject: p\r\n\r\nboom\r\n")
    reason = os.path.join(drop, "bad", "POISON.eml.reason")
    wait_for(lambda: os.path.exists(reason), 60, "POISON.eml quarantined")
    with open(reason) as f:
        assert "quarantined: pickup exited while taking it" in f.read()
    wait_for(lambda: set(token_counts(sink.snapshot())) == set(toks), 30,
             "the other drop files delivered")
    # killed by SIGSEGV; under AddressSanitizer its handler reports the
    # fault and exits 1 instead
    deaths = re.findall(r"ncmta-pickup pid \d+ (?:killed by signal 11|"
                        r"exit status 1);", inst.log())
    assert len(deaths) == 3, deaths
    assert len(inst.log_lines("pickup exited while taking")) >= 2


def test_big_bodies_to_slow_readers_do_not_hold_other_mail(instances, sink):
    """Three 8 MB messages to servers that read 8 kB/s, and one to a
    normal server, queued together: while the big bodies make their way
    to the workers, qmgr holds back new jobs; once they are written it
    goes on at once, so the fourth message is delivered without waiting
    for the slow sessions (or a queue run) to end."""
    slow = [SlowReader(rate=8192) for _ in range(3)]
    for s in slow:
        s.start()
    try:
        inst = instances(smart_host=[sink], queue_run_delay="1h",
                         smtp_data_timeout="60s")
        inst.routes("".join("slow%d.example smarthost %s\n"
                            % (i, s.hostspec()) for i, s in enumerate(slow)))
        inst.start()
        inst.stop()
        line = b"abcdefghij" * 9 + b"\n"
        big = line * (8 * 1024 * 1024 // len(line))
        for i in range(3):
            rcpt = "s%d@slow%d.example" % (i, i)
            inst.submit([rcpt], message(new_token(), rcpt, body=big)[0],
                        sender="s@test.example", timeout=60)
        tok = new_token()
        inst.submit(["h@healthy.example"],
                    message(tok, "h@healthy.example", body=big)[0],
                    sender="s@test.example", timeout=60)
        inst.start()
        wait_for(lambda: tok in token_counts(sink.snapshot()), 30,
                 "the message to the healthy server")
    finally:
        for s in slow:
            s.close()


def test_every_daemon_ignores_sigpipe(running):
    """A peer that goes away while a daemon writes to it (a server that
    closes in the middle of the content, qmgr killed while a worker
    reports) must be an error return, not a death by SIGPIPE that takes
    every session of the process with it."""
    procs = running.processes()
    assert {"master", "pickup", "qmgr", "smtp", "bounce", "showq"} <= \
        {p.name for p in procs}
    for p in procs:
        ignored = int(p.status.get("SigIgn", "0").strip(), 16)
        assert ignored & (1 << (signal.SIGPIPE - 1)), \
            "%s does not ignore SIGPIPE" % p


def test_exchanger_with_a_name_that_is_no_host_name(instances, sink):
    """A name server answers MX records whose exchanger names are not host
    names. Such an exchanger is passed over: with a good one beside it
    the mail goes there; with none, the message is deferred -- not held
    as if the message were at fault."""
    from hostile import HostileDNS
    dns = HostileDNS("valid", {
        "one-bad.example": [("MX", 5, "mx!x.one-bad.example"),
                            ("MX", 10, "mx.one-bad.example")],
        "mx!x.one-bad.example": [("A", "127.0.0.1")],
        "mx.one-bad.example": [("A", "127.0.0.1")],
        "all-bad.example": [("MX", 10, "mx*y.all-bad.example")],
        "mx*y.all-bad.example": [("A", "127.0.0.1")]})
    try:
        inst = instances(delivery_mode="direct", dns_servers=dns.spec,
                         smtp_port=str(sink.port), inet_protocols="ipv4",
                         min_backoff="1h", max_backoff="1h")
        inst.start()
        tok = new_token()
        inst.submit(["a@one-bad.example"],
                    message(tok, "a@one-bad.example")[0], sender=SENDER)
        inst.submit(["b@all-bad.example"],
                    message(new_token(), "b@all-bad.example")[0],
                    sender=SENDER)
        wait_for(lambda: tok in token_counts(sink.snapshot()), 30,
                 "delivery through the good exchanger")
        q = inst.wait_deferred(1)
        assert q[0]["recipients"][0]["address"] == "b@all-bad.example"
        assert "quarantined" not in q[0]["recipients"][0].get(
            "delay_reason", ""), q
        assert "refused" not in inst.log()
        assert sink.count() == 1
    finally:
        dns.close()
