"""ncmta's listener for local applications (smtpd) spoken to over TCP on
127.0.0.1: by Python's smtplib, and by a raw socket client for what a
ready-made client does not send (pipelined groups across the end of the
data, BDAT chunks, bad commands, idling). Each message is checked where
it lands (an aiosmtpd sink as the smart host) or, where delivery is not
the point, in the queue (every message held); each limit is shown with
its reply and its log line: mynetworks, SIZE, the recipient limit,
smtpd_timeout, the hard error limit, a full queue, the connection limit.
The clients written by others (swaks, curl, msmtp, smtp-source) and the
crash tests are in test_smtpd_clients.py."""

import os
import pwd
import random
import smtplib
import socket
import ssl
import time

import pytest

from instance import wait_for
from listener import (MYHOSTNAME, Conn, arrived, body_of, dot_stuff, held,
                      qid_of, received, self_signed, send_data, send_message,
                      smtpd_instance, start_smtpd)
from msgs import crlf, message, new_token, notices, token_of
from peers import Behaviour


# -- Python's smtplib ---------------------------------------------------------

@pytest.mark.parametrize("greeting", ["EHLO", "HELO"])
def test_smtplib(instances, sink, greeting):
    """smtplib in an ESMTP session (SIZE and BODY=8BITMIME, which it adds
    itself after EHLO) and in a plain SMTP one (HELO: no extensions,
    none used): the message reaches the sink byte for byte (dots, 8-bit
    octets, long lines), its Received: field names the HELO name, the
    client, SMTP or ESMTP and the queue ID the 250 reply gave."""
    inst = smtpd_instance(instances, sink)
    tok = new_token()
    data, body = message(tok, "bob@example.net", full_headers=True)
    with smtplib.SMTP("127.0.0.1", inst.port, local_hostname="app.example",
                      timeout=10) as c:
        if greeting == "EHLO":
            assert c.ehlo()[0] == 250
            for ext in ("pipelining", "size", "8bitmime", "smtputf8",
                        "enhancedstatuscodes", "dsn", "chunking"):
                assert c.has_extn(ext), ext
            assert "starttls" not in c.esmtp_features  # no certificate
            opts = ["SIZE=%d" % len(data), "BODY=8BITMIME"]
        else:
            assert c.helo()[0] == 250
            assert not c.does_esmtp
            opts = []
        assert c.mail("alice@example.org", opts)[0] == 250
        assert c.rcpt("bob@example.net")[0] == 250
        code, text = c.data(crlf(data))
        assert code == 250, text
    qid = qid_of("250 " + text.decode())
    m = arrived(sink, tok)
    assert m.mail_from == "alice@example.org"
    assert m.rcpt_tos == ["bob@example.net"]
    assert body_of(m) == crlf(body)
    assert received(m, "ESMTP" if greeting == "EHLO" else "SMTP",
                    helo="app.example", qid=qid, rcpt="bob@example.net")
    # the client's own header fields follow, unchanged and in order
    head = m.headers_body()[0]
    assert crlf(data.split(b"\n\n")[0]) in head
    assert inst.log_lines("%s: client=localhost[127.0.0.1]" % qid)
    # then its Message-ID, once, as Postfix's cleanup logs it
    mids = inst.log_lines("%s: message-id=" % qid)
    assert len(mids) == 1 and "ncmta/smtpd[" in mids[0] and \
        mids[0].endswith(": %s: message-id=<%s@test.example>" % (qid, tok)), \
        mids
    inst.wait_empty()
    dis = inst.log_lines("smtpd[", "disconnect from localhost[127.0.0.1]")
    assert dis and dis[-1].endswith(
        " %s=1 mail=1 rcpt=1 data=1 quit=1 commands=5" % greeting.lower()), \
        dis


def test_smtplib_starttls(instances, sink):
    """With a certificate (smtpd_tls_cert_file, smtpd_tls_key_file) smtplib
    takes STARTTLS: the message arrives "with ESMTPS", QUIT gets its 221
    over TLS before the connection closes, and so does the 421 4.4.2 of a
    client idle past smtpd_timeout after the handshake; a client that
    says STARTTLS and then nothing is disconnected after smtpd_timeout."""
    inst = smtpd_instance(instances, sink, start=False, smtpd_timeout="2s")
    cert, key = self_signed(inst.base)
    inst.configure(smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
    start_smtpd(inst)
    ctx = ssl.create_default_context(cafile=cert)
    tok = new_token()
    data = crlf(message(tok, "bob@example.net")[0])
    c = smtplib.SMTP("127.0.0.1", inst.port, local_hostname="tls.example",
                     timeout=10)
    c.starttls(context=ctx)
    assert not c.has_extn("starttls")  # the EHLO after it
    c.sendmail("alice@example.org", ["bob@example.net"], data)
    assert c.quit()[0] == 221
    received(arrived(sink, tok), "ESMTPS", helo="tls.example")
    assert inst.log_lines("Anonymous TLS connection established from "
                          "localhost[127.0.0.1]: TLSv1.")
    c = smtplib.SMTP("127.0.0.1", inst.port, local_hostname="idle.example",
                     timeout=10)
    c.starttls(context=ctx)
    c.ehlo()
    code, text = c.getreply()
    assert (code, text) == (421, b"4.4.2 %s Error: timeout exceeded"
                            % MYHOSTNAME.encode())
    c.close()
    wait_for(lambda: inst.log_lines("timeout after EHLO from "
                                    "localhost[127.0.0.1]"), 10, "log line")
    # one that never starts the handshake is cut off too (no reply can
    # reach it in clear text)
    with Conn(inst.port) as raw:
        raw.cmd("EHLO stall.example")
        assert raw.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        assert raw.closed()
    assert inst.log_lines("timeout after STARTTLS from localhost[127.0.0.1]")
    wait_for(lambda: len(inst.log_lines("disconnect from")) == 3, 10,
             "the third disconnect line")


# -- a raw client: pipelining, BDAT -------------------------------------------

def test_pipelined_groups_across_the_end_of_data(instances, sink):
    """RFC 2920: MAIL, RCPT, RCPT, DATA in one write; then the content, its
    final dot and the whole next transaction in another, sent while
    smtpd still waits for pickup's commit of the first message. Every
    reply comes, in order, and both messages arrive."""
    inst = smtpd_instance(instances, sink)
    toks = [new_token(), new_token()]
    msgs = [crlf(message(t, "x@example.net", i)[0])
            for i, t in enumerate(toks)]
    with Conn(inst.port) as c:
        assert "250-PIPELINING" in c.cmd("EHLO pipe.example")
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<x@example.net>\r\n"
               "RCPT TO:<y@example.net>\r\nDATA\r\n")
        r = c.replies(4)
        assert [x[:3] for x in r] == ["250", "250", "250", "354"], r
        c.send(dot_stuff(msgs[0]) + b".\r\n"
               b"MAIL FROM:<b@example.org>\r\nRCPT TO:<z@example.net>\r\n"
               b"DATA\r\n")
        r = c.replies(4)
        assert [x[:3] for x in r] == ["250", "250", "250", "354"], r
        first = qid_of(r[0])
        c.send(dot_stuff(msgs[1]) + b".\r\nQUIT\r\n")
        r = c.replies(2)
        second = qid_of(r[0])
        assert r[1].startswith("221"), r
        assert c.closed()
    assert first != second
    a, b = arrived(sink, toks[0]), arrived(sink, toks[1])
    assert sorted(a.rcpt_tos) == ["x@example.net", "y@example.net"]
    assert b.rcpt_tos == ["z@example.net"]
    received(a, helo="pipe.example", qid=first)
    received(b, helo="pipe.example", qid=second, rcpt="z@example.net")
    assert body_of(b) == crlf(message(toks[1], "x", 1)[1])


def test_bdat_chunks(instances, sink):
    """CHUNKING (RFC 3030): a message in three BDAT chunks, pipelined,
    the last "BDAT n LAST"; one whose chunks hold what would be commands
    or the end of DATA (a lone dot, QUIT, 8-bit octets) and closes with
    an empty "BDAT 0 LAST". Both arrive exactly as chunked."""
    inst = smtpd_instance(instances, sink)
    toks = [new_token(), new_token()]
    with Conn(inst.port) as c:
        assert "250-CHUNKING" in c.cmd("EHLO chunks.example")
        head = b"Subject: chunked ncmta-token-%s\r\n" % toks[0].encode()
        chunks = [head + b"From: a@example.org\r\n\r\n",
                  b"first body line\r\n", b"second body line\r\n"]
        out = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<x@example.net>\r\n"
        for i, ch in enumerate(chunks):
            out += b"BDAT %d%s\r\n" % (len(ch), b" LAST" if i == 2 else b"")
            out += ch
        c.send(out)
        r = c.replies(5)
        assert r[:4] == ["250 2.1.0 Ok", "250 2.1.5 Ok",
                         "250 2.0.0 %d octets received" % len(chunks[0]),
                         "250 2.0.0 %d octets received" % len(chunks[1])], r
        first = qid_of(r[4])

        binary = (b".\r\nQUIT\r\nRSET\r\n8-bit: " + bytes(range(0x80, 0x100))
                  + b"\r\n..\r\n\r\n.\r\nend\r\n")
        head = b"Subject: binary ncmta-token-%s\r\n\r\n" % toks[1].encode()
        assert c.cmd("MAIL FROM:<b@example.org> BODY=8BITMIME") \
            .startswith("250")
        assert c.cmd("RCPT TO:<y@example.net>").startswith("250")
        c.send(b"BDAT %d\r\n" % len(head) + head)
        assert c.reply() == "250 2.0.0 %d octets received" % len(head)
        c.send(b"BDAT %d\r\n" % len(binary) + binary)
        assert c.reply() == "250 2.0.0 %d octets received" % len(binary)
        second = qid_of(c.cmd("BDAT 0 LAST"))
        assert c.cmd("QUIT").startswith("221")
    a = arrived(sink, toks[0])
    received(a, helo="chunks.example", qid=first, rcpt="x@example.net")
    assert body_of(a) == b"first body line\r\nsecond body line\r\n"
    b = arrived(sink, toks[1])
    received(b, qid=second, rcpt="y@example.net")
    assert body_of(b) == binary
    dis = inst.log_lines("disconnect from localhost[127.0.0.1]")
    assert dis[-1].endswith(
        " ehlo=1 mail=2 rcpt=2 bdat=6 quit=1 commands=12"), dis


def test_bdat_and_data_do_not_mix(instances):
    """After a BDAT chunk neither DATA nor RCPT is taken (503 saying why);
    a BDAT before MAIL is refused and its octets are read as the chunk,
    never as commands; after RSET the session goes on with DATA."""
    inst = smtpd_instance(instances, hold=True)
    with Conn(inst.port) as c:
        c.cmd("EHLO mix.example")
        # the chunk "QUIT\r\n" is skipped whole: the session stays open
        c.send("BDAT 6\r\nQUIT\r\n")
        assert c.reply() == "503 5.5.1 Error: need MAIL command"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<x@example.net>")
        c.send("BDAT 9\r\nSubject: ")
        assert c.reply() == "250 2.0.0 9 octets received"
        assert c.cmd("DATA") == "503 5.5.1 Error: DATA after BDAT"
        assert c.cmd("RCPT TO:<y@example.net>") == \
            "503 5.5.1 Error: RCPT after BDAT"
        assert c.cmd("RSET") == "250 2.0.0 Ok"
        reply = send_message(c, "a@example.org", ["x@example.net"],
                             b"Subject: by DATA\r\n\r\nbody\r\n", ehlo=None)
        qid = qid_of(reply)
        c.cmd("QUIT")
    assert held(inst) == [qid]  # only the DATA message was queued
    assert inst.log_lines("NOQUEUE: reject: DATA from localhost[127.0.0.1]: "
                          "503 5.5.1 Error: DATA after BDAT")


# -- who may connect ----------------------------------------------------------

def low_free_port():
    """A free port below 1024: only root can bind it."""
    for port in random.sample(range(600, 1024), 424):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


def test_smtpd_unprivileged_chrooted_on_the_masters_socket(instances):
    """smtpd serves a port below 1024 that only root can bind: the master
    opened it and handed it over. smtpd itself runs as mail_owner (real,
    effective, saved and file-system ids), without capabilities, in the
    chroot of queue/incoming."""
    port = low_free_port()
    inst = smtpd_instance(instances, hold=True, start=False)
    inst.configure(smtpd_listen="127.0.0.1:%d" % port)
    inst.port = port
    start_smtpd(inst)
    with Conn(port) as c:
        assert c.greeting.startswith("220 %s" % MYHOSTNAME), c.greeting
    owner = pwd.getpwnam(inst.settings["mail_owner"])

    def dropped():
        ps = [p for p in inst.processes() if p.name == "smtpd"]
        return ps if ps and ps[0].ids("Uid") == [owner.pw_uid] * 4 else None
    proc = wait_for(dropped, 10, "smtpd as mail_owner")[0]
    assert proc.ids("Gid") == [owner.pw_gid] * 4
    assert "0" not in proc.status.get("Groups", "").split()
    assert int(proc.status["CapEff"], 16) == 0
    assert int(proc.status["CapPrm"], 16) == 0
    assert os.path.realpath(proc.root()) == \
        os.path.realpath(os.path.join(inst.queue, "incoming"))


def test_client_outside_mynetworks_refused(instances):
    """mynetworks = 127.0.0.1/32: a client on 127.0.0.3 gets 554 5.7.1 as
    the greeting and the connection closes, nothing is queued, and the
    log says so; a client on 127.0.0.1 is served."""
    inst = smtpd_instance(instances, hold=True, mynetworks="127.0.0.1/32")
    with Conn(inst.port, source="127.0.0.3") as c:
        assert c.greeting.startswith("554 5.7.1 "), c.greeting
        assert "Access denied" in c.greeting
        assert c.closed()
    assert inst.log_lines("smtpd[", "connect from localhost[127.0.0.3]")
    assert inst.log_lines(
        "NOQUEUE: reject: CONNECT from localhost[127.0.0.3]: 554 5.7.1 ")
    with Conn(inst.port) as c:
        assert c.greeting == "220 %s ESMTP ncmta" % MYHOSTNAME
        qid = qid_of(send_message(c, "a@example.org", ["x@example.net"],
                                  b"Subject: inside\r\n\r\nhi\r\n"))
    assert held(inst) == [qid]


def test_connection_limit_per_client(instances):
    """smtpd_client_connection_limit = 2: the third connection at once
    from 127.0.0.1 gets 421 4.7.0 and is closed (logged); another
    client address is not affected, and once one of the two is gone
    127.0.0.1 is served again."""
    inst = smtpd_instance(instances, hold=True,
                          smtpd_client_connection_limit=2)
    a, b = Conn(inst.port), Conn(inst.port)
    try:
        assert a.greeting.startswith("220") and b.greeting.startswith("220")
        with Conn(inst.port) as c:
            assert c.greeting == ("421 4.7.0 %s Error: too many connections "
                                  "from 127.0.0.1" % MYHOSTNAME)
            assert c.closed()
        assert inst.log_lines("too many connections from "
                              "localhost[127.0.0.1]: 2")
        with Conn(inst.port, source="127.0.0.2") as other:
            assert other.greeting.startswith("220")
        assert a.cmd("QUIT").startswith("221")
        assert a.closed()
        # smtpd counts the session gone once it has freed it
        wait_for(lambda: len(inst.log_lines(
            "disconnect from localhost[127.0.0.1] quit=1")) == 1,
            10, "the first session's end")
        with Conn(inst.port) as d:
            assert d.greeting.startswith("220"), d.greeting
    finally:
        a.close()
        b.close()


def test_session_limit_total(instances):
    """smtpd_session_limit = 3: with three sessions open from three
    client addresses, a fourth client gets 421 4.3.2 and is closed
    (logged with the count); nothing of it reaches the queue, and once a
    session ends the next client is served."""
    inst = smtpd_instance(instances, hold=True, smtpd_session_limit=3,
                          smtpd_client_connection_limit=10)
    conns = [Conn(inst.port, source="127.0.0.%d" % i) for i in (1, 2, 3)]
    try:
        for c in conns:
            assert c.greeting.startswith("220"), c.greeting
        with Conn(inst.port, source="127.0.0.4") as extra:
            assert extra.greeting == ("421 4.3.2 %s Error: too many "
                                      "sessions; try again later"
                                      % MYHOSTNAME)
            assert extra.closed()
        wait_for(lambda: inst.log_lines("[127.0.0.4]: 3 sessions "
                                        "(smtpd_session_limit)"),
                 10, "the refusal's log line")
        assert conns[0].cmd("QUIT").startswith("221")
        assert conns[0].closed()
        wait_for(lambda: inst.log_lines("disconnect from", "[127.0.0.1]"),
                 10, "the first session's end")
        with Conn(inst.port, source="127.0.0.4") as late:
            assert late.greeting.startswith("220"), late.greeting
            assert late.cmd("EHLO late.example").startswith("250")
    finally:
        for c in conns:
            c.close()
    assert inst.queue_ids() == []


# -- limits -------------------------------------------------------------------

def test_size_limit(instances):
    """message_size_limit = 10000: EHLO says SIZE 10000; MAIL with SIZE=
    beyond it gets 552 5.3.4 at once; content beyond it, announced
    smaller, gets 552 5.3.4 at the end of the data, and so does a BDAT
    chunk beyond it; nothing is queued, the session goes on, and a
    message within the limit is taken."""
    inst = smtpd_instance(instances, hold=True, message_size_limit=10000)
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 130
    assert len(big) > 10000
    with Conn(inst.port) as c:
        ehlo = c.cmd("EHLO size.example")
        assert "250-SIZE 10000" in ehlo.splitlines(), ehlo
        assert c.cmd("MAIL FROM:<a@example.org> SIZE=10001") == \
            "552 5.3.4 Message size exceeds fixed limit"
        assert c.cmd("MAIL FROM:<a@example.org> SIZE=9000").startswith("250")
        assert c.cmd("RCPT TO:<x@example.net>").startswith("250")
        assert c.cmd("DATA").startswith("354")
        c.send(big + b".\r\n")
        assert c.reply() == "552 5.3.4 Message size exceeds fixed limit"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<x@example.net>")
        c.send(b"BDAT %d LAST\r\n" % len(big) + big)
        assert c.reply() == "552 5.3.4 Message size exceeds fixed limit"
        assert held(inst) == []
        qid = qid_of(send_message(c, "a@example.org", ["x@example.net"],
                                  big[:9000], ehlo=None))
    assert held(inst) == [qid]
    assert inst.log_lines("NOQUEUE: reject: MAIL from localhost[127.0.0.1]: "
                          "552 5.3.4 Message size exceeds fixed limit")
    assert len(inst.log_lines("552 5.3.4")) == 3


def test_recipient_limit(instances, sink):
    """smtpd_recipient_limit = 3: the fourth RCPT gets 452 4.5.3; the
    message is still taken for the first three, who all receive it."""
    inst = smtpd_instance(instances, sink, smtpd_recipient_limit=3)
    tok = new_token()
    rcpts = ["r%d@example.net" % i for i in range(4)]
    with Conn(inst.port) as c:
        c.cmd("EHLO many.example")
        c.cmd("MAIL FROM:<a@example.org>")
        replies = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        assert replies == ["250 2.1.5 Ok"] * 3 + [
            "452 4.5.3 Error: too many recipients"], replies
        qid = qid_of(send_data(c, crlf(message(tok, rcpts[0])[0])))
    m = arrived(sink, tok)
    assert sorted(m.rcpt_tos) == rcpts[:3]
    received(m, qid=qid)
    assert inst.log_lines("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: "
                          "452 4.5.3 Error: too many recipients")


@pytest.mark.parametrize("where", ["EHLO", "DATA"])
def test_smtpd_timeout(instances, where):
    """smtpd_timeout = 2s: a client that says EHLO and then nothing, or
    one that stops in the middle of its content, gets 421 4.4.2 after
    about that long and the connection is closed; logged as "timeout
    after EHLO" or "timeout after DATA", and nothing is queued."""
    inst = smtpd_instance(instances, hold=True, smtpd_timeout="2s")
    with Conn(inst.port, timeout=15) as c:
        c.cmd("EHLO idle.example")
        if where == "DATA":
            c.cmd("MAIL FROM:<a@example.org>")
            c.cmd("RCPT TO:<x@example.net>")
            assert c.cmd("DATA").startswith("354")
            c.send("Subject: stalled\r\n\r\nthe first line, and no more\r\n")
        start = time.monotonic()
        reply = c.reply()
        took = time.monotonic() - start
        assert reply == "421 4.4.2 %s Error: timeout exceeded" % MYHOSTNAME
        assert c.closed()
    assert 1.5 <= took < 6, took
    assert inst.log_lines("timeout after %s from localhost[127.0.0.1]"
                          % where)
    wait_for(lambda: inst.log_lines("disconnect from localhost[127.0.0.1] "
                                    "ehlo=1 "), 10, "the disconnect line")
    assert held(inst) == []


def test_hard_error_limit(instances):
    """smtpd_hard_error_limit = 3: the third bad command is answered and
    followed by 421, and the connection is closed; the log says "too
    many errors after" the last command."""
    inst = smtpd_instance(instances, hold=True, smtpd_hard_error_limit=3)
    with Conn(inst.port) as c:
        c.cmd("EHLO bad.example")
        assert c.cmd("XYZZY").startswith("500 5.5.2")
        assert c.cmd("MAIL FROM:<a@example.org> BOGUS=1") == \
            "555 5.5.4 Unsupported option"
        c.send("RCPT TO:<x@example.net>\r\n")
        assert c.replies(2) == ["503 5.5.1 Error: need MAIL command",
                                "421 4.7.0 %s Error: too many errors"
                                % MYHOSTNAME]
        assert c.closed()
    assert inst.log_lines("too many errors after RCPT from "
                          "localhost[127.0.0.1]")
    wait_for(lambda: inst.log_lines(
        "disconnect from localhost[127.0.0.1] ehlo=1 mail=0/1 rcpt=0/1 "
        "unknown=0/1 commands=1/4"), 10, "the disconnect line")


def test_too_little_free_space(instances):
    """queue_minfree larger than the file system holds: MAIL gets 452
    4.3.1 (logged as a reject) and nothing is queued; with the setting
    back (reload), mail is taken again."""
    inst = smtpd_instance(instances, hold=True, queue_minfree="1000000G")
    with Conn(inst.port) as c:
        assert c.cmd("EHLO app.example").startswith("250")
        assert c.cmd("MAIL FROM:<a@example.org>") == \
            "452 4.3.1 Insufficient system storage"
    assert inst.log_lines("NOQUEUE: reject: MAIL from localhost[127.0.0.1]: "
                          "452 4.3.1 Insufficient system storage")
    assert inst.queue_ids() == []
    inst.configure(queue_minfree=None)
    inst.ctl("reload", check=True)

    def takes_mail():
        with Conn(inst.port) as c:
            c.cmd("EHLO app.example")
            return c.cmd("MAIL FROM:<a@example.org>").startswith("250")
    wait_for(takes_mail, 20, "smtpd taking mail again")


def test_full_queue(instances, sinks):
    """A queue that is full (a 1 MB map, the smart host down): the message
    that does not fit gets 451 at the end of its data, the next MAIL
    452 4.3.1, and nothing acknowledged is lost. Once the queued mail is
    delivered and the space is free again, smtpd takes mail again, and so
    does ncsendmail."""
    sink = sinks(up=False)
    inst = smtpd_instance(instances, sink, queue_map_size="1M")
    filler = b"".join(b"%06d fill line for a large message\r\n" % n
                      for n in range(1800))  # about 64 KB
    accepted = []
    with Conn(inst.port) as c:
        c.cmd("EHLO fill.example")
        for i in range(60):
            tok = new_token()
            content = (b"Subject: fill ncmta-token-%s\r\n\r\n" % tok.encode()
                       + filler)
            reply = send_message(c, "a@example.org", ["x@example.net"],
                                 content, ehlo=None)
            if not reply.startswith("250"):
                break
            accepted.append(tok)
        assert reply.startswith("451 4.3.0"), reply
        wait_for(lambda: c.cmd("RSET") and c.cmd(
            "MAIL FROM:<a@example.org>").startswith(
            "452 4.3.1 Insufficient system storage"), 10, "452 at MAIL")
    print("accepted %d before the queue was full" % len(accepted))
    assert len(accepted) > 5
    assert inst.log_lines("smtpd[", "the queue is full")
    assert inst.log_lines("NOQUEUE: reject: MAIL from localhost[127.0.0.1]: "
                          "452 4.3.1 Insufficient system storage")
    assert len(inst.qshow_json()) == len(accepted)

    sink.start()
    inst.ctl("flush", check=True)
    assert sink.wait_count(len(accepted), 60), sink.count()
    inst.wait_empty(30)
    assert sorted(token_of(m) for m in sink.snapshot()) == sorted(accepted)

    def takes_mail():
        with Conn(inst.port) as c:
            c.cmd("EHLO again.example")
            return c.cmd("MAIL FROM:<a@example.org>").startswith("250")
    wait_for(takes_mail, 20, "smtpd taking mail again")
    tok = new_token()
    with Conn(inst.port) as c:
        qid_of(send_message(c, "a@example.org", ["x@example.net"],
                            crlf(message(tok, "x@example.net")[0])))
    arrived(sink, tok)
    # ncsendmail, which the full mark stopped too, submits again
    tok = new_token()
    inst.submit(["x@example.net"], message(tok, "x@example.net")[0],
                sender="a@example.org")
    arrived(sink, tok)


# -- rewriting, as for ncsendmail ---------------------------------------------

def test_unqualified_root_reaches_the_alias_target(instances, sink):
    """RCPT TO:<root> from a cron-like client: root@myorigin, local, is
    aliased to someone@example.org, who receives it; the unqualified
    sender gets @myorigin too, and the missing From/Date/Message-ID are
    added."""
    inst = smtpd_instance(instances, sink, start=False,
                          myorigin=MYHOSTNAME)
    path = os.path.join(inst.confdir, "aliases")
    with open(path, "w") as f:
        f.write("root: someone@example.org\n")
    inst.configure(alias_maps=path)
    inst.start()
    tok = new_token()
    with Conn(inst.port) as c:
        qid = qid_of(send_message(
            c, "cron", ["root"],
            b"Subject: cron ncmta-token-%s\r\n\r\nout\r\n" % tok.encode(),
            ehlo="cronhost"))
    m = arrived(sink, tok)
    assert m.rcpt_tos == ["someone@example.org"]
    assert m.mail_from == "cron@%s" % MYHOSTNAME
    received(m, helo="cronhost", qid=qid)
    assert m.header("From") == ["cron@%s" % MYHOSTNAME]
    assert len(m.header("Date")) == 1 and len(m.header("Message-ID")) == 1
    assert inst.log_lines("to=<someone@example.org>", "status=sent")


def test_generic_maps_and_bcc_as_for_ncsendmail(instances, sink):
    """generic_maps rewrites the envelope sender and the From: and To:
    addresses of a message smtpd takes, as for ncsendmail; Bcc: is
    removed and its recipient still gets the message; the body keeps
    its text."""
    inst = smtpd_instance(instances, sink, start=False,
                          myorigin="test.example", mydestination="localhost")
    path = os.path.join(inst.confdir, "generic")
    with open(path, "w") as f:
        f.write("root@test.example   server1@example.com\n"
                "@test.example       @example.com\n")
    inst.configure(generic_maps=path)
    inst.start()
    tok = new_token()
    content = ("From: Cron Daemon <root@test.example>\r\n"
               "To: ops@test.example\r\n"
               "Bcc: audit@example.net\r\n"
               "Subject: generic ncmta-token-%s\r\n\r\n"
               "From: root@test.example stays in the body\r\n"
               % tok).encode()
    with Conn(inst.port) as c:
        qid_of(send_message(c, "root@test.example",
                            ["ops@test.example", "audit@example.net"],
                            content))
    m = arrived(sink, tok)
    assert m.mail_from == "server1@example.com"
    assert sorted(m.rcpt_tos) == ["audit@example.net", "ops@example.com"]
    assert m.header("From") == ["Cron Daemon <server1@example.com>"]
    assert m.header("To") == ["ops@example.com"]
    assert m.header("Bcc") == []
    assert b"From: root@test.example stays in the body" in m.content


# -- the rest of the dialogue -------------------------------------------------

def test_commands_and_parameters(instances, sinks):
    """VRFY gets 252, NOOP and RSET 250 (RSET drops the transaction),
    HELP 214, EXPN 502, HELO's reply carries no extensions; MAIL with
    SMTPUTF8 and a UTF-8 Subject (RFC 6532) is taken and the field
    arrives unchanged; the DSN parameters (RET, ENVID on MAIL; NOTIFY,
    ORCPT on RCPT) are taken, and RET, ENVID and NOTIFY go on to a next
    hop that offers DSN."""
    sink = sinks(behaviour=Behaviour(dsn=True))
    inst = smtpd_instance(instances, sink)
    tok = new_token()
    subject = "caf\u00e9 \u2615 ncmta-token-%s" % tok
    with Conn(inst.port) as c:
        assert c.cmd("HELO plain.example") == "250 %s" % MYHOSTNAME
        assert c.cmd("VRFY root").startswith("252 2.0.0 ")
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        assert c.cmd("HELP").startswith("214")
        assert c.cmd("EXPN root").startswith("502 5.5.1")
        assert c.cmd("MAIL FROM:<a@example.org>").startswith("250")
        assert c.cmd("RSET") == "250 2.0.0 Ok"
        assert c.cmd("RCPT TO:<x@example.net>") == \
            "503 5.5.1 Error: need MAIL command"
        ehlo = c.cmd("EHLO utf8.example").splitlines()
        assert ehlo[0] == "250-%s" % MYHOSTNAME and ehlo[-1] == "250 8BITMIME"
        assert c.cmd("MAIL FROM:<a@example.org> SMTPUTF8 BODY=8BITMIME "
                     "RET=HDRS ENVID=env+2B1") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<x@example.net> NOTIFY=SUCCESS,FAILURE "
                     "ORCPT=rfc822;x+40example.net") == "250 2.1.5 Ok"
        qid = qid_of(send_data(
            c, ("Subject: %s\r\n\r\nbody\r\n" % subject).encode()))
        assert c.cmd("QUIT").startswith("221")
    m = arrived(sink, tok)
    received(m, qid=qid, helo="utf8.example")
    assert m.header("Subject") == [subject]
    log = dict(sink.dsn_log)
    assert log.get("RET") == "HDRS", sink.dsn_log
    # aiosmtpd gives values upper-cased; ENVID is "env+1", as xtext
    assert log.get("ENVID") == "ENV+2B1", sink.dsn_log
    assert log.get("NOTIFY") == "SUCCESS,FAILURE", sink.dsn_log


UTF8_SENDER = "j\u00f6rg@b\u00fccher.example"
UTF8_RCPT = "\u7528\u6237@\u4f8b\u5b50.example"


def _bs_dialogue(inst, lines):
    """`ncsendmail -bs` with the command lines (str, UTF-8 on the wire,
    or bytes) on stdin: the reply lines it wrote."""
    script = b"".join((x if isinstance(x, bytes) else x.encode()) + b"\r\n"
                      for x in lines)
    p = inst.run([inst.ncsendmail, "-C", inst.confdir, "-bs"], input=script,
                 timeout=30)
    return [line for line in p.stdout.decode("utf-8", "replace")
            .split("\r\n") if line[3:4] == " "]


def _utf8_message(tok):
    return crlf(message(tok, UTF8_RCPT, extra_headers=(
        ("From: <%s>" % UTF8_SENDER).encode(),))[0])


@pytest.mark.parametrize("via", ["smtpd", "bs"])
def test_smtputf8_address(instances, sinks, via):
    """RFC 6531: after EHLO offers SMTPUTF8, MAIL ... SMTPUTF8 may carry
    addresses with UTF-8 in them (smtpd and `ncsendmail -bs` alike). The
    message is taken, and a next hop that offers SMTPUTF8 gets it with
    SMTPUTF8 on MAIL and the addresses byte for byte."""
    sink = sinks()
    inst = smtpd_instance(instances, sink)
    tok = new_token()
    content = _utf8_message(tok)
    if via == "smtpd":
        with Conn(inst.port) as c:
            assert "250-SMTPUTF8" in c.cmd("EHLO utf8.example")
            assert c.cmd("MAIL FROM:<%s> SMTPUTF8" % UTF8_SENDER) \
                == "250 2.1.0 Ok"
            assert c.cmd("RCPT TO:<%s>" % UTF8_RCPT) == "250 2.1.5 Ok"
            qid_of(send_data(c, content))
            assert c.cmd("QUIT").startswith("221")
    else:
        replies = _bs_dialogue(inst, [
            "EHLO utf8.example", "MAIL FROM:<%s> SMTPUTF8" % UTF8_SENDER,
            "RCPT TO:<%s>" % UTF8_RCPT, "DATA",
            dot_stuff(content) + b".", "QUIT"])
        assert [r[:3] for r in replies] == \
            ["220", "250", "250", "250", "354", "250", "221"], replies
    m = arrived(sink, tok)
    assert "SMTPUTF8" in m.mail_options, m.mail_options
    assert m.mail_from.encode() == UTF8_SENDER.encode("utf-8")
    assert [r.encode() for r in m.rcpt_tos] == [UTF8_RCPT.encode("utf-8")]
    inst.wait_empty()
    assert inst.log_lines("to=<%s>" % UTF8_RCPT, "status=sent")
    assert inst.log_lines("from=<%s>" % UTF8_SENDER)


def test_smtputf8_address_to_a_server_without_smtputf8_bounces(instances,
                                                                sinks):
    """A message whose envelope holds UTF-8 is not sent to a next hop that
    does not offer SMTPUTF8: the recipients of that delivery fail for
    good with 5.6.7 (Postfix's words, naming the host), and the sender
    gets a failure notice. The same message with an ASCII envelope goes
    to that server as before, without SMTPUTF8 on MAIL (RFC 6532: only
    its header holds UTF-8)."""
    sink = sinks(behaviour=Behaviour(hide_ehlo=["SMTPUTF8"]))
    inst = smtpd_instance(instances, sink)
    tok, tok2 = new_token(), new_token()
    sender, plain = "alice@example.org", "bob@example.net"
    with Conn(inst.port) as c:
        assert c.cmd("EHLO utf8.example").startswith("250")
        assert c.cmd("MAIL FROM:<%s> SMTPUTF8" % sender) == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<%s>" % UTF8_RCPT) == "250 2.1.5 Ok"
        qid = qid_of(send_data(c, _utf8_message(tok)))
        assert c.cmd("MAIL FROM:<%s> SMTPUTF8" % sender) == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<%s>" % plain) == "250 2.1.5 Ok"
        qid2 = qid_of(send_data(c, _utf8_message(tok2)))
        assert c.cmd("QUIT").startswith("221")
    notice = wait_for(lambda: [n for n in notices(sink) if n.token == tok],
                      30, "the failure notice")[0]
    m2 = arrived(sink, tok2)
    inst.wait_empty()
    line = inst.log_lines("%s: to=<%s>" % (qid, UTF8_RCPT),
                          "status=bounced")
    assert len(line) == 1, inst.log()
    assert "dsn=5.6.7" in line[0], line
    assert "(SMTPUTF8 is required, but was not offered by host " \
           "127.0.0.1[127.0.0.1])" in line[0], line
    assert inst.log_lines("%s: sender non-delivery notification: " % qid)
    assert notice.received.mail_from == ""
    assert notice.received.rcpt_tos == [sender]
    # (message/delivery-status is ASCII: the UTF-8 address is not
    # spelt out there -- RFC 6533's global form is not written)
    assert len(notice.recipients) == 1, notice.recipients
    r = notice.recipients[0]
    assert r["action"] == "failed" and r["status"] == "5.6.7", r
    assert "SMTPUTF8 is required" in r.get("diagnostic-code", ""), r
    assert not [m for m in sink.snapshot()
                if token_of(m) == tok and m.mail_from != ""]
    # ASCII envelope, UTF-8 header: delivered, SMTPUTF8 not sent
    assert m2.rcpt_tos == [plain] and "SMTPUTF8" not in m2.mail_options
    assert inst.log_lines("%s: to=<%s>" % (qid2, plain), "status=sent")


@pytest.mark.parametrize("via", ["smtpd", "bs"])
def test_utf8_address_without_smtputf8_refused(instances, via):
    """Without SMTPUTF8 on MAIL an address with UTF-8 gets 553 5.6.7, in
    MAIL FROM and in RCPT TO, and nothing is queued."""
    inst = smtpd_instance(instances, hold=True)
    want = "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
    cmds = ["EHLO utf8.example", "MAIL FROM:<%s>" % UTF8_SENDER,
            "MAIL FROM:<alice@example.org>", "RCPT TO:<%s>" % UTF8_RCPT,
            "QUIT"]
    if via == "smtpd":
        with Conn(inst.port) as c:
            replies = [c.cmd(x).splitlines()[-1] for x in cmds]
    else:
        replies = _bs_dialogue(inst, cmds)[1:]
    assert replies[1] == want, replies
    assert replies[2] == "250 2.1.0 Ok", replies
    assert replies[3] == want, replies
    assert replies[4].startswith("221"), replies
    time.sleep(0.5)
    assert held(inst) == []
    if via == "smtpd":
        assert inst.log_lines("NOQUEUE: reject: MAIL from localhost", want)
        assert inst.log_lines("NOQUEUE: reject: RCPT from localhost", want)
