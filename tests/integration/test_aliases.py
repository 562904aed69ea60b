"""Address rewriting at submission (ncmta-aliases(5), ncmta-generic(5)):
aliases for local recipients (recursive, loops bounce 5.4.6),
local_recipient_forward or a 5.1.1 bounce for local recipients without an
alias, generic_maps on the envelope and on From/To/Cc/Reply-To,
de-duplication after rewriting, @myorigin for unqualified addresses, reload
of a changed aliases file, and line-numbered errors from ncctl check.

Every instance relays through one smart-host sink; test.example is
myhostname and so (with localhost) in mydestination."""

import os
import re

import pytest

from instance import wait_for
from msgs import message, new_token, notices, is_notice, token_of

SENDER = "sender@origin.example"  # not local: notices leave by the sink
UNKNOWN_LOCAL = ("unknown local recipient, no local delivery: set an alias "
                 "or local_recipient_forward")


def write(inst, name, text):
    path = os.path.join(inst.confdir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def aliased(instances, sink, aliases, **settings):
    """A started instance with an aliases file (and settings)."""
    inst = instances(smart_host=[sink], myorigin="test.example", **settings)
    inst.configure(alias_maps=write(inst, "aliases", aliases))
    return inst.start()


def send(inst, rcpts, sender=SENDER, extra_headers=(), flags=("-i",)):
    tok = new_token()
    data, _ = message(tok, rcpts[0], extra_headers=extra_headers)
    inst.submit(rcpts, data, sender=sender, flags=flags)
    return tok


def delivered(sink, tok):
    """Envelope recipients of every copy of message tok (not notices)."""
    return sorted(r for m in sink.snapshot()
                  if token_of(m) == tok and not is_notice(m)
                  for r in m.rcpt_tos)


def copies(sink, tok):
    return [m for m in sink.snapshot()
            if token_of(m) == tok and not is_notice(m)]


def notice_for(sink, tok):
    found = [n for n in notices(sink) if n.token == tok]
    return found[0] if found else None


def test_root_alias_reaches_the_target(instances, sink):
    """Mail to root (unqualified, as cron sends it) ends at the address
    the aliases file names, and the log says where it went."""
    inst = aliased(instances, sink, "# aliases\nroot: admin@example.net\n")
    tok = send(inst, ["root"])
    wait_for(lambda: delivered(sink, tok), 30, "the aliased message")
    inst.wait_empty()
    assert delivered(sink, tok) == ["admin@example.net"]
    assert inst.log_lines("to=<admin@example.net>", "status=sent")


def test_recursive_alias(instances, sink):
    """postmaster -> root -> ops list: every level expanded, on every
    local domain, names matched without regard to case."""
    inst = aliased(instances, sink,
                   "mailer-daemon: postmaster\n"
                   "postmaster: root\n"
                   "root: ops\n"
                   "ops: alice@example.net,\n"
                   "     bob@example.org\n")
    tok = send(inst, ["MAILER-DAEMON@localhost"])
    wait_for(lambda: len(delivered(sink, tok)) == 2, 30, "two recipients")
    inst.wait_empty()
    assert delivered(sink, tok) == ["alice@example.net", "bob@example.org"]
    assert len(copies(sink, tok)) == 1, "one transaction for one relay"


def test_alias_loop_bounces_5_4_6(instances, sink):
    """An alias loop makes that recipient bounce with 5.4.6 through the
    usual notice; the message's other recipient is delivered."""
    inst = aliased(instances, sink, "loop1: loop2\nloop2: loop1\n")
    tok = send(inst, ["loop1@test.example", "ok@dest.example"])
    n = wait_for(lambda: notice_for(sink, tok), 30, "a bounce notice")
    inst.wait_empty()
    assert n.received.rcpt_tos == [SENDER]
    assert n.final_recipients() == ["loop1@test.example"], n.recipients
    r = n.recipient("loop1@test.example")
    assert r["action"] == "failed" and r["status"] == "5.4.6", r
    assert "mail forwarding loop" in r.get("diagnostic-code", ""), r
    assert delivered(sink, tok) == ["ok@dest.example"]
    line = inst.log_lines("to=<loop1@test.example>", "status=bounced")
    assert line and "dsn=5.4.6" in line[0] and "relay=none" in line[0], line


def test_unknown_local_recipient_bounces_5_1_1(instances, sink):
    """No alias and no local_recipient_forward: 5.1.1 with a reason that
    says what to do; nothing reaches the relay for it."""
    inst = aliased(instances, sink, "root: admin@example.net\n")
    tok = send(inst, ["nobody@test.example"])
    n = wait_for(lambda: notice_for(sink, tok), 30, "a bounce notice")
    inst.wait_empty()
    r = n.recipient("nobody@test.example")
    assert r and r["action"] == "failed" and r["status"] == "5.1.1", \
        n.recipients
    assert UNKNOWN_LOCAL in r.get("diagnostic-code", ""), r
    assert delivered(sink, tok) == []
    assert inst.log_lines("to=<nobody@test.example>", "status=bounced",
                          UNKNOWN_LOCAL)


@pytest.mark.parametrize("forward,want", [
    ("catchall@example.net", ["catchall@example.net"]),
    ("@example.net", ["nobody@example.net", "www-data@example.net"]),
])
def test_local_recipient_forward(instances, sink, forward, want):
    """Local recipients without an alias go to local_recipient_forward:
    one address for all, or the same local part at another domain;
    aliases still come first."""
    inst = aliased(instances, sink, "root: admin@example.net\n",
                   local_recipient_forward=forward)
    tok = send(inst, ["nobody@test.example", "www-data", "root@localhost"])
    wait_for(lambda: len(delivered(sink, tok)) == len(want) + 1, 30,
             "the forwarded message")
    inst.wait_empty()
    assert delivered(sink, tok) == sorted(want + ["admin@example.net"])
    assert not notices(sink)


def test_generic_maps_rewrite_envelope_and_headers(instances, sink):
    """generic_maps rewrites the envelope sender and recipients and the
    addresses (only) in From/To/Cc/Reply-To; other fields and the body
    keep theirs."""
    inst = instances(smart_host=[sink], myorigin="test.example",
                     mydestination="localhost")
    inst.configure(generic_maps=write(
        inst, "generic",
        "# local names the relay would refuse\n"
        "root@test.example   server1@example.com\n"
        "@test.example       @example.com\n"))
    inst.start()
    tok = new_token()
    data = ("From: Cron Daemon <root>\n"
            "To: \"Ops, Team\" <ops@test.example>, other@dest.example\n"
            "Cc: web (the web server) <www-data@test.example>\n"
            "Reply-To: help@test.example\n"
            "X-Original: root@test.example\n"
            "Subject: generic ncmta-token-%s\n"
            "\n"
            "From: root@test.example stays in the body\n" % tok).encode()
    inst.submit(["ops@test.example", "other@dest.example"], data,
                sender="root")
    wait_for(lambda: copies(sink, tok), 30, "the message")
    inst.wait_empty()
    m = copies(sink, tok)[0]
    assert m.mail_from == "server1@example.com"
    assert sorted(m.rcpt_tos) == ["ops@example.com", "other@dest.example"]
    assert m.header("From") == ["Cron Daemon <server1@example.com>"]
    assert m.header("To") == [
        "\"Ops, Team\" <ops@example.com>, other@dest.example"]
    assert m.header("Cc") == ["web (the web server) <www-data@example.com>"]
    assert m.header("Reply-To") == ["help@example.com"]
    assert m.header("X-Original") == ["root@test.example"]
    assert b"From: root@test.example stays in the body" in m.content


def test_recipients_deduplicated_after_rewriting(instances, sink):
    """Two aliases to one target, and that target named too: one
    delivery to it."""
    inst = aliased(instances, sink, "a1: admin@example.net\n"
                   "a2: admin@example.net, a1\n")
    tok = send(inst, ["a1@test.example", "a2", "admin@example.net"])
    wait_for(lambda: copies(sink, tok), 30, "the message")
    inst.wait_empty()
    assert len(copies(sink, tok)) == 1
    assert delivered(sink, tok) == ["admin@example.net"]
    assert len(inst.log_lines("to=<admin@example.net>", "status=sent")) == 1


def test_reload_picks_up_changed_aliases(instances, sink):
    """ncctl reload applies a changed aliases file without a restart; a
    bad one is refused with its line number and the old one stays."""
    inst = aliased(instances, sink, "root: first@example.net\n")
    pids = sorted(p.pid for p in inst.processes())
    tok = send(inst, ["root"])
    wait_for(lambda: delivered(sink, tok), 30, "the first message")
    assert delivered(sink, tok) == ["first@example.net"]

    write(inst, "aliases", "root: second@example.net\n")
    r = inst.ctl("reload")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: inst.log_lines("pickup", "reloaded:"), 10,
             "pickup's reload")
    tok = send(inst, ["root"])
    wait_for(lambda: delivered(sink, tok), 30, "the second message")
    assert delivered(sink, tok) == ["second@example.net"]

    path = write(inst, "aliases", "# broken\nroot second@example.net\n")
    r = inst.ctl("reload")
    assert r.returncode != 0
    err = (r.stdout + r.stderr).decode()
    assert "%s:2:" % path in err, err
    tok = send(inst, ["root"])
    wait_for(lambda: delivered(sink, tok), 30, "the third message")
    assert delivered(sink, tok) == ["second@example.net"]
    inst.wait_empty()
    assert sorted(p.pid for p in inst.processes()) == pids


def test_unqualified_addresses_get_myorigin(instances, sink):
    """A bare user name becomes user@myorigin in the envelope and in the
    address header fields (myorigin not local here: nothing aliased)."""
    inst = instances(smart_host=[sink], myorigin="origin.example").start()
    tok = new_token()
    data = ("From: me\nTo: Bob <bob>\nSubject: bare ncmta-token-%s\n\nhi\n"
            % tok).encode()
    inst.submit(["bob"], data, sender="me")
    wait_for(lambda: copies(sink, tok), 30, "the message")
    m = copies(sink, tok)[0]
    assert m.mail_from == "me@origin.example"
    assert m.rcpt_tos == ["bob@origin.example"]
    assert m.header("From") == ["me@origin.example"]
    assert m.header("To") == ["Bob <bob@origin.example>"]


def test_check_names_bad_aliases_and_generic_lines(instances, sink):
    """ncctl check (and so ncctl start) reports every bad line of the
    aliases file and of generic_maps with FILE:LINE, and exits 1."""
    inst = instances(smart_host=[sink])
    al = write(inst, "aliases", "root: admin@example.net\n"
               "broken line\n"
               "pipe: |/usr/bin/procmail\n")
    gm = write(inst, "generic", "a@b.example  c@d.example\n"
               "onlyone@b.example\n")
    inst.configure(alias_maps=al, generic_maps=gm)
    r = inst.ctl("check")
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert re.search(r"^%s:2: expected \"name: target" % re.escape(al), err,
                     re.M), err
    assert re.search(r"^ncctl: warning: %s:3: pipe: \|command target .* "
                     r"not supported" % re.escape(al), err, re.M), err
    assert re.search(r"^%s:2: expected \"address  new-address\""
                     % re.escape(gm), err, re.M), err
    r = inst.ctl("start")
    assert r.returncode != 0 and al in r.stderr.decode()
    # a |command target alone is a warning: a stock /etc/aliases may have
    # one, and ncmta must still start
    write(inst, "aliases", "root: admin@example.net\n"
          "pipe: |/usr/bin/procmail\n")
    write(inst, "generic", "a@b.example  c@d.example\n")
    r = inst.ctl("check")
    assert r.returncode == 0, r.stderr.decode()
    assert "warning: %s:2: pipe:" % al in r.stderr.decode()


def test_check_warns_when_mail_to_root_would_bounce(instances, sink):
    """ncctl check warns (exit 0) when root@myorigin, as cron sends it,
    is local and has neither an alias nor local_recipient_forward; a root
    alias, local_recipient_forward or a myorigin that is not local
    silence it, and ncctl start does not repeat it. A root alias that
    root's mail never meets (myorigin not local) is warned of too."""
    inst = instances(smart_host=[sink], myorigin="test.example")
    al = write(inst, "aliases", "postmaster: root\n")
    inst.configure(alias_maps=al)
    want = ("ncctl: warning: mail to root@test.example would bounce "
            "(5.1.1 %s): add \"root: you@example.com\" to %s, or set "
            "local_recipient_forward\n" % (UNKNOWN_LOCAL, al))
    r = inst.ctl("check")
    assert r.returncode == 0 and r.stderr.decode() == want, r.stderr
    # a loop bounces too, with its own reason
    write(inst, "aliases", "root: ops\nops: root\n")
    r = inst.ctl("check")
    assert r.returncode == 0, r.stderr
    assert re.search(r"mail to root@test.example would bounce \(5\.4\.6 ",
                     r.stderr.decode()), r.stderr
    # root kept as itself beside another target: that copy bounces
    write(inst, "aliases", "root: root, admin@example.net\n")
    assert "would bounce (5.1.1" in inst.ctl("check").stderr.decode()
    for aliases, settings in (
            ("root: admin@example.net\n", {}),
            ("root: ops\nops: admin@example.net\n", {}),
            ("postmaster: root\n",
             {"local_recipient_forward": "admin@example.net"}),
            ("postmaster: root\n",
             {"local_recipient_forward": "@example.net"}),
            ("postmaster: root\n", {"myorigin": "origin.example"})):
        write(inst, "aliases", aliases)
        inst.configure(**settings)
        r = inst.ctl("check")
        assert r.returncode == 0 and b"root" not in r.stderr, \
            (aliases, settings, r.stderr)
        inst.configure(local_recipient_forward=None, myorigin="test.example")
    # a root alias that root's mail never meets: myorigin (a mail name
    # such as the package writes) is not in mydestination
    write(inst, "aliases", "root: admin@example.net\n")
    inst.configure(myorigin="host.origin.example")
    r = inst.ctl("check")
    assert r.returncode == 0 and r.stderr.decode() == (
        "ncctl: warning: the root alias does not apply: mail to root goes "
        "to root@host.origin.example, and host.origin.example is not in "
        "mydestination (test.example, localhost); if it is this host's "
        "name, add it there\n"), r.stderr
    inst.configure(mydestination="$myhostname, localhost, "
                   "host.origin.example")
    r = inst.ctl("check")
    assert r.returncode == 0 and b"root" not in r.stderr, r.stderr
    inst.configure(myorigin="test.example", mydestination=None)
    write(inst, "aliases", "postmaster: root\n")
    r = inst.ctl("start")
    inst.started = True
    assert r.returncode == 0 and b"would bounce" not in r.stderr, r.stderr


def test_notice_to_a_local_sender_follows_its_alias(instances, sink):
    """A failure notice to root@myhostname (cron's sender) goes where
    root's alias points, not out through the relay as root@test.example."""
    sink.behaviour.rcpt_replies["gone@far.example"] = "550 5.1.1 no such user"
    inst = aliased(instances, sink, "root: admin@example.net\n")
    tok = send(inst, ["gone@far.example"], sender="root")
    n = wait_for(lambda: notice_for(sink, tok), 30, "the failure notice")
    got = [m for m in notices(sink) if m.token == tok]
    assert len(got) == 1, got
    mails = [m for m in sink.snapshot() if is_notice(m)]
    assert [m.rcpt_tos for m in mails] == [["admin@example.net"]], \
        [m.rcpt_tos for m in mails]
    assert n.final_recipients() == ["gone@far.example"], n.recipients
