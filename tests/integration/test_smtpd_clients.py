"""ncmta's smtpd driven by SMTP clients written by others, as local
applications would use it: swaks (plain, pipelined, an 8-bit message,
STARTTLS with the certificate of smtpd_tls_cert_file), curl, msmtp and
Postfix's load generator smtp-source; every message checked where it
lands, an aiosmtpd sink acting as the smart host. Then durability: the
whole instance killed with SIGKILL right after each 250 reply loses no
acknowledged message; and pflogsumm reads smtpd's log lines as Postfix's.

The programs come from Debian's packages (.ci/run installs them;
smtp-source comes unpacked from the postfix package by
tools/get-smtp-source, found through $NCMTA_SMTP_SOURCE)."""

import os
import re
import signal
import subprocess
import time

from instance import wait_for
from listener import (Conn, arrived, body_of, need, qid_of, received, run,
                      self_signed, send_message, smtpd_instance, start_smtpd)
from msgs import crlf, message, new_token, token_of

SMTP_SOURCE = "/var/tmp/ncmta-postfix/usr/sbin/smtp-source"
QUEUED = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)")


def write(inst, name, data):
    path = os.path.join(inst.base, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# -- swaks --------------------------------------------------------------------

def swaks(inst, tok, *extra):
    """swaks to bob@example.net through the instance's smtpd; returns
    (queue ID, swaks's transcript)."""
    out = run([need("swaks"), "--server", "127.0.0.1:%d" % inst.port,
               "--helo", "swaks.example", "--from", "alice@example.org",
               "--to", "bob@example.net"] + list(extra))
    qids = QUEUED.findall(out)
    assert len(qids) == 1, out
    return qids[0], out


def swaks_body(m):
    """The body as swaks gave it: swaks ends its data with an empty line
    of its own."""
    body = body_of(m)
    assert body.endswith(b"\r\n\r\n"), body[-20:]
    return body[:-2]


def test_swaks_plain_and_pipelined(instances, sink):
    """swaks in lockstep and with --pipeline (MAIL, RCPT and DATA in one
    write): both messages arrive with their Received: fields."""
    inst = smtpd_instance(instances, sink)
    for extra in ((), ("--pipeline",)):
        tok = new_token()
        qid, out = swaks(inst, tok, "--header",
                         "Subject: swaks ncmta-token-%s" % tok,
                         "--body", "one\n.two\n..three\n", *extra)
        if extra:
            # swaks says what it sent in one go
            assert re.search(r" -> MAIL FROM:<alice@example.org>\n"
                             r" -> RCPT TO:<bob@example.net>\n -> DATA\n",
                             out), out
        m = arrived(sink, tok)
        received(m, helo="swaks.example", qid=qid, rcpt="bob@example.net")
        # (swaks's template ends the body with empty lines of its own)
        assert body_of(m).rstrip(b"\r\n") == b"one\r\n.two\r\n..three"
        assert m.mail_from == "alice@example.org"


def test_swaks_8bit_data(instances, sink):
    """swaks --data with a whole message holding 8-bit octets (UTF-8 and
    every octet from 0x80 to 0xff) in a header field and the body: it
    arrives octet for octet."""
    inst = smtpd_instance(instances, sink)
    tok = new_token()
    data, body = message(tok, "bob@example.net", full_headers=True,
                         extra_headers=[b"X-Utf8: Gr\xc3\xbc\xc3\x9fe"])
    qid, _ = swaks(inst, tok, "--data", write(inst, "8bit.eml", data))
    m = arrived(sink, tok)
    received(m, helo="swaks.example", qid=qid)
    assert swaks_body(m) == crlf(body)
    assert b"\r\nX-Utf8: Gr\xc3\xbc\xc3\x9fe\r\n" in m.content


def test_swaks_starttls(instances, sink):
    """With smtpd_tls_cert_file and smtpd_tls_key_file set (a self-signed
    certificate) EHLO offers STARTTLS; swaks --tls takes it, the log
    has Postfix's TLS line, and the Received: field says ESMTPS."""
    inst = smtpd_instance(instances, sink, start=False)
    cert, key = self_signed(inst.base)
    inst.configure(smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
    start_smtpd(inst)
    tok = new_token()
    qid, out = swaks(inst, tok, "--tls", "--header",
                     "Subject: tls ncmta-token-%s" % tok)
    assert "250-STARTTLS" in out and "220 2.0.0 Ready to start TLS" in out
    assert "TLS started" in out, out
    m = arrived(sink, tok)
    received(m, "ESMTPS", helo="swaks.example", qid=qid)
    assert inst.log_lines("Anonymous TLS connection established from "
                          "localhost[127.0.0.1]: TLSv1.")
    # after STARTTLS the EHLO reply offers it no more
    assert out.count("250-STARTTLS") == 1, out


# -- curl and msmtp -----------------------------------------------------------

def test_curl(instances, sink):
    """curl smtp://127.0.0.1:PORT/NAME --mail-from --mail-rcpt (two)
    --upload-file, with --crlf for a file with LF line ends (curl
    dot-stuffs only lines after a CRLF): it arrives whole, to both, with
    curl's HELO name."""
    inst = smtpd_instance(instances, sink)
    tok = new_token()
    data, body = message(tok, "bob@example.net", full_headers=True)
    out = run([need("curl"), "-sS", "-v",
               "smtp://127.0.0.1:%d/curl.example" % inst.port,
               "--mail-from", "alice@example.org",
               "--mail-rcpt", "bob@example.net", "--mail-rcpt",
               "carol@example.net", "--crlf", "--upload-file",
               write(inst, "curl.eml", data)])
    qid = QUEUED.findall(out)
    assert len(qid) == 1, out
    m = arrived(sink, tok)
    assert sorted(m.rcpt_tos) == ["bob@example.net", "carol@example.net"]
    received(m, helo="curl.example", qid=qid[0])
    assert body_of(m) == crlf(body)


def test_msmtp(instances, sink):
    """msmtp with its settings on the command line (no configuration
    file; auth and TLS off) reading a message on stdin, recipients taken
    from its header (-t): it arrives whole."""
    inst = smtpd_instance(instances, sink)
    tok = new_token()
    data, body = message(tok, "bob@example.net", full_headers=True,
                         extra_headers=["Cc: carol@example.net"])
    out = run([need("msmtp"), "--host=127.0.0.1", "--port=%d" % inst.port,
               "--from=alice@example.org", "--auth=off", "--tls=off",
               "--domain=msmtp.example", "--logfile=-", "-t"], input=data)
    m = arrived(sink, tok)
    assert sorted(m.rcpt_tos) == ["bob@example.net", "carol@example.net"]
    got = received(m, helo="msmtp.example")
    assert "smtpstatus=250" in out and got["qid"] in out, out
    assert body_of(m) == crlf(body)
    assert m.mail_from == "alice@example.org"


# -- load: smtp-source --------------------------------------------------------

def test_smtp_source_load(instances, sink):
    """Postfix's smtp-source, 20 sessions at once, 2000 messages (a session
    each): every one is acknowledged and logged ("QID: client=") and the
    sink receives each exactly once (by the queue IDs in their Received:
    fields)."""
    path = need("smtp-source", env="NCMTA_SMTP_SOURCE", default=SMTP_SOURCE)
    libdir = os.path.join(os.path.dirname(os.path.dirname(path)), "lib",
                          "postfix")
    tracer = need("strace")
    inst = smtpd_instance(instances, sink, smtp_worker_count=2)
    n = 2000
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    # the group commit: pickup's syncs of the queue while the 20 sessions
    # submit (LMDB syncs data.mdb with fdatasync, then writes its meta
    # page through an O_DSYNC descriptor: one fdatasync per commit)
    trace = os.path.join(inst.base, "pickup.strace")
    st = subprocess.Popen([tracer, "-f", "-qq", "-e", "trace=fdatasync,fsync",
                           "-y", "-o", trace, "-p",
                           str(inst.pids("pickup")[0])],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(trace), 10, "strace attached")
        run([path, "-s", "20", "-m", str(n), "-l", "2000", "-M",
             "source.example", "-f", "load@example.org", "-t",
             "sink@example.net", "127.0.0.1:%d" % inst.port], timeout=120,
            env=env)
    finally:
        st.terminate()
        st.wait(10)
    with open(trace) as f:
        commits = sum(1 for line in f
                      if "fdatasync(" in line and "data.mdb" in line)
    print("pickup: %d messages in %d queue commits (%.1f per commit)"
          % (n, commits, n / max(commits, 1)))
    # concurrent sessions share commits: far fewer syncs than messages
    assert 0 < commits < n / 2, commits
    logged = [re.search(r": ([0-9A-F]+): client=", line).group(1)
              for line in inst.log_lines("smtpd[", ": client=")]
    assert len(logged) == n and len(set(logged)) == n
    assert sink.wait_count(n, 120), "%d of %d delivered" % (sink.count(), n)
    inst.wait_empty(30)
    # smtp-source says HELO: the Received: field says SMTP
    got = [received(m, "SMTP", helo="source.example",
                    rcpt="sink@example.net")["qid"]
           for m in sink.snapshot()]
    assert sorted(got) == sorted(logged)
    print("smtp-source: %d messages acknowledged, %d delivered, %d distinct"
          % (len(logged), len(got), len(set(got))))
    # a session per message, each as Postfix's smtpd would log it
    dis = inst.log_lines("disconnect from localhost[127.0.0.1]")
    assert len(dis) == n and all(line.endswith(
        " helo=1 mail=1 rcpt=1 data=1 quit=1 commands=5") for line in dis)


# -- durability: SIGKILL after each 250 ---------------------------------------

def kill_everything(inst):
    """SIGKILL every process of the instance until none is left."""
    def gone():
        inst.kill_all()
        return not inst.processes()
    wait_for(gone, 10, "%s: every process killed" % inst.name)


def test_kill9_after_each_250(instances, sink):
    """50 times: one message (every fifth one 300 KB, handed to pickup as a
    spool file rather than inline), and the moment its 250 arrives the
    whole instance, master and every daemon, is killed with SIGKILL and
    started again. Every acknowledged message is delivered; a copy more
    comes only where a kill cut its delivery short (at-least-once)."""
    inst = smtpd_instance(instances, sink)
    inst.expect_restarts = True
    big = b"".join(b"%06d a line to make the message large\r\n" % i
                   for i in range(7500))
    acked = []
    for i in range(50):
        tok = new_token()
        content = (b"Subject: crash %d ncmta-token-%s\r\n\r\n"
                   % (i, tok.encode()))
        content += big if i % 5 == 4 else b"small\r\n"
        with Conn(inst.port) as c:
            reply = send_message(c, "a@example.org", ["x@example.net"],
                                 content, ehlo="crash.example")
            if reply.startswith("250"):
                acked.append(tok)
                qid_of(reply)
            kill_everything(inst)
        start_smtpd(inst)
    assert len(acked) == 50
    assert sink.wait_count(len(acked), 60), \
        "%d of %d delivered" % (sink.count(), len(acked))
    inst.wait_empty(30)
    copies = {}
    for m in sink.snapshot():
        copies[token_of(m)] = copies.get(token_of(m), 0) + 1
    lost = [t for t in acked if t not in copies]
    dups = sum(n - 1 for n in copies.values())
    print("kill -9 after each 250: %d acknowledged, %d delivered, %d lost, "
          "%d duplicates" % (len(acked), len(copies), len(lost), dups))
    assert not lost
    assert set(copies) == set(acked)
    # A copy more only where a kill cut a delivery short: the sink had the
    # message, but the kill came before qmgr committed its removal, so the
    # next run sent it again. The log shows it exactly (the sink's clock
    # does not: it stamps a copy when it gets round to it, which can be
    # after the kill that cut the delivery short). Within one run of the
    # instance no message is sent twice, and no message is sent after
    # qmgr logged its removal, which it does once the removal is committed.
    runs, sent, removed = 0, {}, set()
    for line in inst.log().splitlines():
        if re.search(r"master\[\d+\]: daemon started", line):
            runs += 1
        m = re.search(r"smtp\[\d+\]: ([0-9A-F]+): to=.*status=sent", line)
        if m:
            assert m.group(1) not in removed, "sent after removal: " + line
            assert (runs, m.group(1)) not in sent, "sent twice: " + line
            sent[(runs, m.group(1))] = line
        m = re.search(r"qmgr\[\d+\]: ([0-9A-F]+): removed", line)
        if m:
            removed.add(m.group(1))
    assert runs == 51, runs
    assert len({qid for _, qid in sent}) == len(acked)
    assert dups <= runs - 1


# -- pflogsumm ----------------------------------------------------------------

def test_pflogsumm_counts_smtpd(instances, sink):
    """pflogsumm --smtpd-stats --syslog_name=ncmta over the instance's log:
    its "received" is the number of messages smtpd acknowledged, its
    "rejected" the NOQUEUE lines, and its smtpd section counts the
    connections, a refused one (outside mynetworks) included. The
    sessions come one after another: pflogsumm pairs connect
    and disconnect by process ID, as Postfix has a process per session,
    while ncmta's one smtpd serves them all."""
    inst = smtpd_instance(instances, sink, mynetworks="127.0.0.1/32")
    toks, conns = [], 0
    for i in range(4):
        with Conn(inst.port) as c:
            conns += 1
            for j in range(i % 2 + 1):  # 1 or 2 messages a session
                tok = new_token()
                qid_of(send_message(
                    c, "a@example.org", ["x%d@example.net" % i],
                    b"Subject: summary ncmta-token-%s\r\n\r\nhi\r\n"
                    % tok.encode(), ehlo="app.example" if j == 0 else None))
                toks.append(tok)
            assert c.cmd("RCPT TO:<y@example.net>").startswith("503")
            c.cmd("QUIT")
    with Conn(inst.port, source="127.0.0.3") as c:
        conns += 1
        assert c.greeting.startswith("554 5.7.1")
    assert sink.wait_count(len(toks), 30)
    inst.wait_empty()
    wait_for(lambda: len(inst.log_lines("smtpd[", "disconnect from")) ==
             conns, 10, "every disconnect line")
    out = run([need("pflogsumm"), "--smtpd-stats", "--syslog_name=ncmta",
               inst.logfile])
    figures = {}
    for m in re.finditer(r"^\s+(\d+)\s+([a-z/. ]+?)(?: \(\d+%\))?\s*$",
                         out, re.M):
        figures.setdefault(m.group(2), int(m.group(1)))
    print("pflogsumm: received %s, delivered %s, rejected %s, connections "
          "%s, hosts/domains %s" % tuple(figures.get(k) for k in (
              "received", "delivered", "rejected", "connections",
              "hosts/domains")))
    assert figures.get("received") == len(toks) == 6, out
    assert figures.get("delivered") == len(toks), out
    assert figures.get("connections") == conns == 5, out
    assert figures.get("rejected") == 5, out  # 4 RCPTs and the CONNECT
    # both clients are "localhost" (127.0.0.1 and 127.0.0.3), one name
    assert figures.get("hosts/domains") == 1, out


def test_smtpd_restarts_after_sigkill_alone(instances, sink):
    """smtpd alone killed with SIGKILL in the middle of a session: the
    master starts a new one on the same socket, the client whose
    message was not acknowledged sends it again, and it arrives once."""
    inst = smtpd_instance(instances, sink)
    inst.expect_restarts = True
    tok = new_token()
    content = crlf(message(tok, "x@example.net")[0])
    with Conn(inst.port) as c:
        c.cmd("EHLO victim.example")
        c.cmd("MAIL FROM:<a@example.org>")
        old = inst.pids("smtpd")
        os.kill(old[0], signal.SIGKILL)
        assert c.closed()
    wait_for(lambda: inst.pids("smtpd") and inst.pids("smtpd") != old, 20,
             "a new smtpd")
    with Conn(inst.port) as c:
        qid = qid_of(send_message(c, "a@example.org", ["x@example.net"],
                                  content))
    received(arrived(sink, tok), qid=qid)
    assert sink.count() == 1
