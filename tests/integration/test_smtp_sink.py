"""Delivery to Postfix's smtp-sink, a test server that no one here wrote:
it offers PIPELINING, ENHANCEDSTATUSCODES and 8BITMIME and misbehaves on
request at any command (a 4xx or 5xx, a 421 and close, a silent
disconnect, a delay). The smtp worker's pipelined transactions, its
replies at the end of DATA and its time-outs meet a real implementation
here; smtp-sink comes from Debian's postfix package, unpacked and never
installed (tools/get-smtp-source)."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from instance import wait_for
from msgs import message, new_token
from peers import free_port

POSTFIX = os.path.dirname(os.path.dirname(os.path.dirname(
    os.environ.get("NCMTA_SMTP_SOURCE",
                   "/var/tmp/ncmta-postfix/usr/sbin/smtp-source"))))
SMTP_SINK = os.path.join(POSTFIX, "usr", "sbin", "smtp-sink")
LIBS = os.path.join(POSTFIX, "usr", "lib", "postfix")

pytestmark = [
    pytest.mark.skipif(not os.access(SMTP_SINK, os.X_OK),
                       reason="no smtp-sink: run tools/get-smtp-source"),
    pytest.mark.skipif(os.getuid() != 0,
                       reason="smtp-sink as root drops to nobody"),
]


class SmtpSink:
    """smtp-sink on a free loopback port with the given options; every
    transaction dumped to a file of its own in a directory nobody can
    write to (smtp-sink runs as nobody)."""

    def __init__(self, *options):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ncmta-smtp-sink-",
                                    dir="/var/tmp")
        os.chmod(self.dir, 0o777)
        argv = [SMTP_SINK, "-u", "nobody", "-h", "sink.example",
                "-d", os.path.join(self.dir, "%H%M%S.")] + list(options)
        argv += ["127.0.0.1:%d" % self.port, "64"]
        self.proc = subprocess.Popen(
            argv, env=dict(os.environ, LD_LIBRARY_PATH=LIBS),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self._listening, 10, "smtp-sink on port %d" % self.port)

    def _listening(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        with open("/proc/net/tcp") as f:
            return any(":%04X 00000000:0000 0A" % self.port in line
                       for line in f)

    @property
    def hostspec(self):
        return "[127.0.0.1]:%d" % self.port

    def dumps(self):
        """The content of every transaction smtp-sink took in."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def smtp_sink():
    made = []

    def make(*options):
        made.append(SmtpSink(*options))
        return made[-1]
    yield make
    for s in made:
        s.stop()


def submit(inst, rcpts, tok):
    inst.submit(rcpts, message(tok, rcpts[0])[0], sender="s@test.example")


def statuses(inst, word):
    return inst.log_lines("status=%s" % word)


def test_pipelined_transactions_to_smtp_sink(instances, smtp_sink,
                                             monkeypatch):
    """20 messages of three recipients each: every recipient is sent, each
    message once, and the worker pipelined each transaction: MAIL, the
    three RCPTs and DATA went out before the first of their replies came
    (NCMTA_DEBUG shows the dialogue)."""
    sink = smtp_sink()
    inst = instances(smart_host=sink.hostspec, smtp_connection_idle_time="5s")
    monkeypatch.setenv("NCMTA_DEBUG", "1")  # the SMTP dialogue logged
    inst.start()
    toks = [new_token() for _ in range(20)]
    for i, tok in enumerate(toks):
        submit(inst, ["a%d@dest.example" % i, "b%d@dest.example" % i,
                      "c%d@dest.example" % i], tok)
    wait_for(lambda: len(statuses(inst, "sent")) == 60, 30,
             "60 recipients sent")
    inst.wait_empty()
    dumps = b"\n".join(sink.dumps())
    for tok in toks:
        assert dumps.count(("ncmta-token-%s" % tok).encode()) >= 1, tok
    # the dialogue of one worker: a pipelined group is MAIL, 3 RCPT and
    # DATA written before the reply to MAIL was read
    lines = [ln for ln in inst.log().splitlines()
             if re.search(r"smtp\[\d+\]: [<>] ", ln)]
    by_pid = {}
    for ln in lines:
        pid = re.search(r"smtp\[(\d+)\]", ln).group(1)
        by_pid.setdefault(pid, []).append(
            re.sub(r".*smtp\[\d+\]: ([<>]) [^:]*: ", r"\1 ", ln))
    groups = 0
    for seq in by_pid.values():
        for i, ln in enumerate(seq):
            if ln.startswith("> MAIL FROM:"):
                assert [re.match(r"> (MAIL FROM|RCPT TO|DATA)", x) and
                        re.match(r"> (MAIL FROM|RCPT TO|DATA)", x).group(1)
                        for x in seq[i:i + 5]] == \
                    ["MAIL FROM", "RCPT TO", "RCPT TO", "RCPT TO", "DATA"], \
                    seq[i:i + 6]
                groups += 1
    assert groups >= 20, "%d pipelined transactions seen" % groups


def test_lockstep_when_pipelining_is_not_offered(instances, smtp_sink,
                                                monkeypatch):
    """smtp-sink -p offers no PIPELINING: each command waits for the
    reply to the one before, and the mail still goes."""
    sink = smtp_sink("-p")
    inst = instances(smart_host=sink.hostspec)
    monkeypatch.setenv("NCMTA_DEBUG", "1")  # the SMTP dialogue logged
    inst.start()
    submit(inst, ["a@dest.example", "b@dest.example"], new_token())
    wait_for(lambda: len(statuses(inst, "sent")) == 2, 30, "both sent")
    seq = [re.sub(r".*smtp\[\d+\]: ([<>]) [^:]*: ", r"\1 ", ln)
           for ln in inst.log().splitlines()
           if re.search(r"smtp\[\d+\]: [<>] ", ln)]
    i = next(i for i, ln in enumerate(seq) if ln.startswith("> MAIL"))
    assert [x[0] for x in seq[i:i + 8]] == list("><><><><"), seq[i:i + 8]


@pytest.mark.parametrize("option,word,want", [
    ("-r", "deferred", r"said: 450 4\.3\.0 Error: command failed \(in reply "
                       r"to end of DATA command\)"),
    ("-f", "bounced", r"said: 5\d\d 5\.3\.0 Error: command failed \(in reply "
                      r"to end of DATA command\)"),
])
def test_reply_at_end_of_data(instances, smtp_sink, option, word, want):
    """A 4xx to the end of the content defers the message, a 5xx bounces
    it, with smtp-sink's words and where they came."""
    sink = smtp_sink(option, ".")
    inst = instances(smart_host=sink.hostspec, min_backoff="1h",
                     max_backoff="1h")
    inst.start()
    submit(inst, ["a@dest.example"], new_token())
    wait_for(lambda: statuses(inst, word), 30, "status=%s" % word)
    assert re.search(want, statuses(inst, word)[0]), statuses(inst, word)
    assert not statuses(inst, "sent")
    assert len(sink.dumps()) == 1  # the content did arrive


@pytest.mark.parametrize("options,settings,want", [
    # a silent disconnect on RCPT, MAIL already answered
    (["-q", "rcpt"], {}, r"dsn=4\.4\.2, status=deferred \(lost connection "
                         r"with 127\.0\.0\.1\[127\.0\.0\.1\] while sending "
                         r"RCPT TO\)"),
    # 421 and close in answer to MAIL
    (["-Q", "mail"], {}, r"status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1"
                         r"\] said: 421 4\.\d\.\d .*in reply to MAIL FROM"),
    # DATA answered 4 s late, smtp_data_timeout 2 s (without PIPELINING:
    # smtp-sink holds back the replies of a pipelined group until the
    # last, so MAIL's time-out would run instead)
    (["-p", "-w", "4"], {"smtp_data_timeout": "2s"},
     r"dsn=4\.4\.2, status=deferred \(conversation with 127\.0\.0\.1"
     r"\[127\.0\.0\.1\] timed out while sending DATA command\)"),
])
def test_server_gives_up_or_stalls(instances, smtp_sink, options, settings,
                                   want):
    """A server that drops the connection, closes with 421 or stalls
    past the time-out: the message is deferred, never sent, and the
    reason says where it happened."""
    sink = smtp_sink(*options)
    inst = instances(smart_host=sink.hostspec, min_backoff="1h",
                     max_backoff="1h", **settings)
    inst.start()
    submit(inst, ["a@dest.example"], new_token())
    wait_for(lambda: statuses(inst, "deferred"), 30, "status=deferred")
    line = statuses(inst, "deferred")[0]
    assert re.search(want, line), line
    assert not statuses(inst, "sent")
    # the worker logs before qmgr has committed the deferral: wait for it
    q = inst.wait_deferred(1, 30)
    assert len(q) == 1 and q[0]["recipients"][0]["delay_reason"], q
