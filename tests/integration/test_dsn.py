"""DSN parameters given at submission (ncsendmail -N, -R, -V; ncsendmail(8),
doc/design.md "DSN parameters"): kept in the queue record and passed on as
NOTIFY=, RET= and ENVID= (xtext) to a next hop that offers DSN, left out for
one that does not; -N never and -N success suppress ncmta's own failure
notice, and a notice carries the envelope ID back. Over SMTP (ncsendmail
-bs, smtpd) each recipient's ORCPT is kept the same way, through alias
expansion, and comes back as Original-Recipient in a notice; one NOTIFY per
message, 452 4.5.3 for a recipient that asks for another."""

import os
import re
import smtplib
import socket

import pytest

from instance import wait_for
from msgs import crlf, message, new_token, notices, token_of
from peers import Behaviour, free_port

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
    # The sink does not offer DSN but would take and record the
    # parameters, so one sent anyway shows in dsn_log.
    sink = sinks(behaviour=Behaviour(dsn_unannounced=True))
    inst = instances(smart_host=[sink]).start()
    data, _ = message(new_token(), "r@plain.example")
    inst.submit(["r@plain.example"], data, sender=SENDER,
                flags=("-i", "-N", "delay", "-R", "full", "-V", "abc"))
    assert sink.wait_count(1, 20), "not delivered: %s" % inst.log()[-2000:]
    assert sink.dsn_log == [], sink.dsn_log


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


# -- ORCPT (RFC 3461 section 4.2) and NOTIFY over SMTP: ncsendmail -bs and
# smtpd ------------------------------------------------------------------------

ORCPT_OK = "rfc822;orig+2Bx@example.com"  # xtext: "orig+x@example.com"
ORCPT_GONE = "rfc822;gone+2Borig@example.com"


def _bs(inst, script):
    """`ncsendmail -bs` with script on stdin: (exit code, reply codes)."""
    p = inst.run([inst.ncsendmail, "-C", inst.confdir, "-bs"], input=script,
                 timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    return p.returncode, [line[:3] for line in out.split("\r\n")
                          if line[3:4] == " "]


def _smtpd(inst, script):
    """The same dialogue with smtpd over TCP, one command at a time."""
    codes = []
    with socket.create_connection(("127.0.0.1", inst.port), 10) as s:
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                assert line, "smtpd closed the connection: %s" % codes
                if line[3:4] != b"-":
                    codes.append(line[:3].decode())
                    return
        reply()
        for cmd in script.split(b"\r\n")[:-1]:
            s.sendall(cmd + b"\r\n")
            if codes[-1] != "354" or cmd == b".":
                reply()
    return 0, codes


def _dsn_instance(instances, sink, via):
    settings = {}
    if via == "smtpd":
        settings["smtpd_listen"] = "127.0.0.1:%d" % free_port()
    inst = instances(smart_host=[sink], **settings).start()
    inst.port = int(settings.get("smtpd_listen", ":0").rsplit(":", 1)[1])
    return inst, _bs if via == "bs" else _smtpd


@pytest.mark.parametrize("via", ["bs", "smtpd"])
def test_orcpt_passed_on_and_in_the_notice(instances, sinks, via):
    """A recipient's ORCPT, given over `ncsendmail -bs` or to smtpd, goes
    with it through the queue: xtext-encoded on RCPT TO to a next hop that
    offers DSN, and xtext-decoded as Original-Recipient (RFC 3464 2.3.1)
    in ncmta's notice when it bounces; a recipient without one has
    neither."""
    sink = sinks(behaviour=Behaviour(dsn=True, rcpt_replies={
        "gone@dsn.example": "550 5.1.1 no such user"}))
    inst, talk = _dsn_instance(instances, sink, via)
    tok = new_token()
    data, _ = message(tok, "ok@dsn.example", body=b"plain body\n")
    script = (b"EHLO client.example\r\n"
              b"MAIL FROM:<" + SENDER.encode() + b">\r\n"
              b"RCPT TO:<ok@dsn.example> ORCPT=" + ORCPT_OK.encode() + b"\r\n"
              b"RCPT TO:<gone@dsn.example> NOTIFY=FAILURE ORCPT=" +
              ORCPT_GONE.encode() + b"\r\n"
              b"RCPT TO:<plain@dsn.example>\r\n"
              b"DATA\r\n" + crlf(data) + b".\r\n"
              b"QUIT\r\n")
    # NOTIFY=FAILURE after none: 452, as the third's none after a
    # FAILURE would be; the first and the third go together
    rc, codes = talk(inst, script)
    assert rc == 0 and codes == ["220", "250", "250", "250", "452", "250",
                                 "354", "250", "221"], codes
    rc, codes = talk(inst, b"EHLO client.example\r\n"
                     b"MAIL FROM:<" + SENDER.encode() + b">\r\n"
                     b"RCPT TO:<gone@dsn.example> ORCPT=" +
                     ORCPT_GONE.encode() + b"\r\n"
                     b"DATA\r\n" + crlf(data) + b".\r\nQUIT\r\n")
    assert rc == 0 and codes == ["220", "250", "250", "250", "354", "250",
                                 "221"], codes
    wait_for(lambda: len(notices(sink)) == 1, 30, "the notice")
    inst.wait_empty(20)

    # aiosmtpd upper-cases parameters: the xtext is compared as such
    assert sink.rcpt_param("ok@dsn.example", "ORCPT") == ORCPT_OK.upper()
    assert sink.rcpt_param("gone@dsn.example", "ORCPT") == \
        ORCPT_GONE.upper()
    assert sink.rcpt_param("plain@dsn.example", "ORCPT") is None
    got = [m for m in sink.snapshot() if token_of(m) == tok]
    assert sorted(r for m in got for r in m.rcpt_tos) == [
        "ok@dsn.example", "plain@dsn.example"]

    n = notices(sink)[0]
    assert n.final_recipients() == ["gone@dsn.example"]
    block = n.recipient("gone@dsn.example")
    assert block.get("original-recipient") == "rfc822;gone+orig@example.com"
    assert block.get("status") == "5.1.1"


def test_bs_orcpt_in_the_maildrop_and_an_expanded_alias(instances, sinks):
    """The -bs envelope keeps the ORCPT in the maildrop file (an orcpt line
    after its rcpt); at pickup an alias's expansion keeps the ORCPT given
    for the alias, and one given none gets the alias as its original
    recipient (rfc822;ALIAS), as Postfix records it."""
    sink = sinks(behaviour=Behaviour(dsn=True))
    inst = instances(smart_host=[sink], myorigin="test.example")
    path = os.path.join(inst.confdir, "aliases")
    with open(path, "w") as f:
        f.write("team: t1@dsn.example, t2@dsn.example\n"
                "ops: o1@dsn.example\n")
    os.chmod(path, 0o644)
    inst.configure(alias_maps=path)
    inst.start()
    inst.stop()  # the maildrop file stays for us to read
    tok = new_token()
    data, _ = message(tok, "team@localhost", body=b"plain body\n")
    rc, codes = _bs(inst, b"EHLO x\r\nMAIL FROM:<" + SENDER.encode() + b">\r\n"
                    b"RCPT TO:<team@localhost> ORCPT=rfc822;Team+2Ball@x.example"
                    b"\r\nRCPT TO:<ops@localhost>\r\n"
                    b"DATA\r\n" + crlf(data) + b".\r\nQUIT\r\n")
    assert rc == 0 and codes[-2:] == ["250", "221"], codes
    files = inst.maildrop_files()
    assert len(files) == 1
    with open(os.path.join(inst.queue, "maildrop", files[0]), "rb") as f:
        env = f.read().split(b"\n\n", 1)[0].decode().splitlines()
    i = env.index("rcpt <team@localhost>")
    assert env[i + 1] == "orcpt rfc822;Team+all@x.example", env
    assert "rcpt <ops@localhost>" in env and \
        not env[env.index("rcpt <ops@localhost>") + 1].startswith("orcpt")
    inst.start()
    wait_for(lambda: len([m for m in sink.snapshot()
                          if token_of(m) == tok]) >= 1, 30, "delivery")
    inst.wait_empty(20)
    want = {"t1@dsn.example": "RFC822;TEAM+2BALL@X.EXAMPLE",
            "t2@dsn.example": "RFC822;TEAM+2BALL@X.EXAMPLE",
            "o1@dsn.example": "RFC822;OPS@LOCALHOST"}
    for rcpt, orcpt in want.items():
        assert sink.rcpt_param(rcpt, "ORCPT") == orcpt, (rcpt, orcpt)


def test_smtpd_notify_differs_452_and_retry(instances, sinks):
    """smtpd keeps one NOTIFY per message, as ncsendmail -bs: a second
    recipient asking for another gets 452 4.5.3 and is not taken (logged
    as a reject); sent again in a transaction of its own it is, with its
    own NOTIFY."""
    sink = sinks(behaviour=Behaviour(dsn=True))
    inst, _ = _dsn_instance(instances, sink, "smtpd")
    tok = new_token()
    data, _ = message(tok, "a@dsn.example", body=b"plain body\n")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as c:
        c.ehlo("client.example")
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt("a@dsn.example", ["NOTIFY=SUCCESS,FAILURE"])[0] == 250
        code, text = c.rcpt("b@dsn.example", ["NOTIFY=NEVER"])
        assert (code, text.decode()) == (
            452, "4.5.3 Error: NOTIFY differs from the other recipients'; "
            "send this one in another transaction")
        assert c.rcpt("c@dsn.example", ["NOTIFY=FAILURE,SUCCESS"])[0] == 250
        assert c.data(crlf(data))[0] == 250
        # the client's retry, in a new transaction
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt("b@dsn.example", ["NOTIFY=NEVER"])[0] == 250
        assert c.data(crlf(data))[0] == 250
    wait_for(lambda: len([m for m in sink.snapshot()
                          if token_of(m) == tok]) == 2, 30, "two deliveries")
    got = sorted(sorted(m.rcpt_tos) for m in sink.snapshot()
                 if token_of(m) == tok)
    assert got == [["a@dsn.example", "c@dsn.example"], ["b@dsn.example"]]
    assert sink.rcpt_param("a@dsn.example", "NOTIFY") == "SUCCESS,FAILURE"
    assert sink.rcpt_param("c@dsn.example", "NOTIFY") == "SUCCESS,FAILURE"
    assert sink.rcpt_param("b@dsn.example", "NOTIFY") == "NEVER"
    assert inst.log_lines("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: "
                          "452 4.5.3 Error: NOTIFY differs",
                          "to=<b@dsn.example>")
