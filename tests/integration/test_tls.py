"""TLS and SMTP AUTH in the smtp worker (doc/design.md, "TLS and AUTH per
host"; issue 5), against aiosmtpd sinks offering STARTTLS, implicit TLS and
AUTH with certificates from a throwaway CA made with openssl.

  smtp_tls_security_level   test_may_*, test_verify_*, test_encrypt_*,
                            test_route_tls_none_overrides_verify
  implicit TLS              test_wrappermode_delivers,
                            test_port_465_implicit_tls
  AUTH                      test_auth_*, test_no_auth_to_exchanger
  secrets_file              test_secrets_file_refused, test_secrets_file_ok
  logs                      every TLS test (the session line),
                            test_credentials_not_logged
"""

import base64
import os
import random
import re
import shutil
import ssl
import tempfile
import warnings

import pytest

from instance import wait_for
from msgs import message, new_token, token_of
from peers import Behaviour, Credentials, ThrowawayCA

SENDER = "sender@test.example"
RCPT = "rcpt@dest.example"
RELAY = "relay.example"
TLS_LINE = re.compile(
    r"\b(Verified|Trusted|Untrusted) TLS connection established to "
    r"(\S+?)\[([^\]]+)\]:(\d+): (TLSv1\.[23]) with cipher (\S+) "
    r"\((\d+)/(\d+) bits\)")
NOT_OFFERED = "TLS is required, but was not offered by host"
CERT_FAILED = ("TLS is required, but host", "certificate verification failed")

# aiosmtpd warns about a server that requires AUTH without TLS: that is
# the point of the plaintext tests.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# -- fixtures and helpers ---------------------------------------------------


@pytest.fixture(scope="module")
def cas():
    """(trusted CA, another CA ncmta does not trust), both under a
    directory the privilege-dropped daemons can traverse."""
    base = tempfile.mkdtemp(prefix="ncmta-tls-", dir="/var/tmp")
    os.chmod(base, 0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = ThrowawayCA(os.path.join(base, "good"), "ncmta trusted CA")
        bad = ThrowawayCA(os.path.join(base, "bad"), "ncmta untrusted CA")
    for d in (base, os.path.join(base, "good"), os.path.join(base, "bad")):
        os.chmod(d, 0o755)
    yield good, bad
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ca(cas):
    return cas[0]


def tls_ctx(ca, names, sni=None):
    """A server context for names; sni (a list) collects the server name
    each client asked for (None: no SNI)."""
    ctx = ca.server_context(names)
    if sni is not None:
        ctx.sni_callback = lambda obj, name, c: sni.append(name)
    return ctx


def relay_dns(net, *names):
    """Names (default relay.example) -> 127.0.0.1 in the test's DNS."""
    return net.dns([("A", n, "127.0.0.1") for n in (names or (RELAY,))])


def smarthost(instances, net, ca, sink, name=RELAY, start=True,
              secrets=None, **settings):
    """An instance whose smart host is [name]:sink.port (name resolved by
    the test's DNS unless it is an address), trusting ca, with
    smtp_tls_security_level unset unless given; secrets: the text of
    CONFIG_DIR/secrets, written root-owned 0600 before the start."""
    if not re.fullmatch(r"[\d.]+", name):
        relay_dns(net, name)
        settings.setdefault("dns_servers", net.ns.spec)
    settings.setdefault("smtp_tls_security_level", None)
    settings.setdefault("smtp_tls_CAfile", ca.ca_file)
    inst = instances(smart_host="[%s]:%d" % (name, sink.port), **settings)
    if secrets is not None:
        write_secrets(inst, secrets)
    return inst.start() if start else inst


def direct(instances, net, ca, addr="127.0.0.2", **settings):
    """A direct-mode instance for dest.example, whose one exchanger
    mx1.dest.example is addr (on net.port)."""
    net.dns([("MX", "dest.example", 10, "mx1.dest.example"),
             ("A", "mx1.dest.example", addr)])
    settings.setdefault("smtp_tls_security_level", None)
    settings.setdefault("smtp_tls_CAfile", ca.ca_file)
    return instances(**net.settings(**settings))


def write_secrets(inst, text, mode=0o600, uid=0):
    path = os.path.join(inst.confdir, "secrets")
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, uid, 0)
    os.chmod(path, mode)
    return path


def send(inst, rcpt=RCPT):
    tok = new_token()
    data, _ = message(tok, rcpt)
    inst.submit([rcpt], data, sender=SENDER)
    return tok


def delivered(inst, sink, tok, timeout=30):
    """Wait for tok at sink and an empty queue; the Received."""
    assert sink.wait_count(1, timeout), "nothing delivered to %r" % sink
    inst.wait_empty()
    msgs = sink.snapshot()
    assert [token_of(m) for m in msgs] == [tok]
    return msgs[0]


def deferred_reason(inst, timeout=30):
    """Wait until the one queued message is deferred; its reason."""
    q = inst.wait_deferred(1, timeout)
    reason = q[0]["recipients"][0].get("delay_reason", "")
    assert reason, "deferred without a reason: %r" % q
    return reason


def assert_nothing_sent(sink):
    assert sink.count() == 0, "the sink got a message"
    assert sink.mail_log == [], "MAIL FROM sent: %r" % sink.mail_log


def tls_lines(inst):
    """(kind, name, addr, port, version, cipher) of every TLS session
    line the log has."""
    out = []
    for line in inst.log().splitlines():
        m = TLS_LINE.search(line)
        if m:
            assert "ncmta/smtp[" in line or "/smtp[" in line, line
            out.append(m.groups()[:6])
    return out


def sent_line(inst, rcpt, relay):
    """The one status=sent line for rcpt, checked for the shape that
    ncctl(8), LOGGING, gives."""
    lines = inst.log_lines("to=<%s>" % rcpt, "status=sent")
    assert len(lines) == 1, lines
    assert re.search(
        r": to=<%s>, relay=%s, delay=[\d.]+, delays=[\d./]+, dsn=2\.\d+\.\d+,"
        r" status=sent \(250 " % (re.escape(rcpt), re.escape(relay)),
        lines[0]), lines[0]
    assert "TLS" not in lines[0], lines[0]
    return lines[0]


def assert_not_bounced(inst):
    assert not inst.log_lines("status=bounced"), inst.log_lines(
        "status=bounced")
    q = inst.qshow_json()
    assert len(q) == 1 and q[0]["sender"] == SENDER, \
        "a bounce notice was queued: %r" % q


def ehlos(sink):
    return [h for h in sink.helo_log if h.startswith("EHLO")]


# -- smtp_tls_security_level = may ------------------------------------------


def test_may_starttls_used(instances, net, ca):
    # Direct mode with the level unset: may. The exchanger offers STARTTLS.
    sni = []
    s = net.sink("127.0.0.2", tls_context=tls_ctx(ca, ["mx1.dest.example"],
                                                    sni))
    inst = direct(instances, net, ca).start()
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert m.tls and m.tls_version in ("TLSv1.2", "TLSv1.3"), m
    assert s.connections == 1
    assert ehlos(s) == ["EHLO test.example"] * 2, \
        "EHLO not repeated after STARTTLS: %r" % s.helo_log
    assert sni == ["mx1.dest.example"], sni
    lines = tls_lines(inst)
    assert len(lines) == 1, inst.log()
    kind, name, addr, port, version, _ = lines[0]
    assert kind in ("Verified", "Trusted"), lines[0]
    assert (name, addr, int(port)) == ("mx1.dest.example", "127.0.0.2",
                                       net.port)
    assert version == m.tls_version
    sent_line(inst, RCPT, "mx1.dest.example[127.0.0.2]:%d" % net.port)


def test_may_without_starttls_plain(instances, net, ca):
    s = net.sink("127.0.0.2")
    inst = direct(instances, net, ca).start()
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert not m.tls
    assert s.connections == 1
    assert tls_lines(inst) == []
    sent_line(inst, RCPT, "mx1.dest.example[127.0.0.2]:%d" % net.port)


def test_may_handshake_failure_retried_plain(instances, net, ca):
    # The exchanger offers STARTTLS but speaks only TLS 1.1 (below ncmta's
    # minimum): the handshake fails and the host is tried again in plain.
    ctx = tls_ctx(ca, ["mx1.dest.example"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    s = net.sink("127.0.0.2", tls_context=ctx)
    inst = direct(instances, net, ca).start()
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert not m.tls
    assert s.connections >= 2, "no TLS attempt before the plain one"
    assert not inst.log_lines("status=bounced")


# -- verify -------------------------------------------------------------------


@pytest.mark.parametrize("by", ["name", "address"])
def test_verify_trusted_delivered(instances, net, sinks, ca, by):
    # Smart host, level unset: verify. By name the certificate carries the
    # DNS name relay.example; by address [127.0.0.1] an IP SAN.
    name = RELAY if by == "name" else "127.0.0.1"
    sni = []
    sink = sinks(tls_context=tls_ctx(ca, [name], sni))
    inst = smarthost(instances, net, ca, sink, name=name)
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert m.tls
    assert sink.connections == 1
    assert ehlos(sink) == ["EHLO test.example"] * 2
    assert sni == ([RELAY] if by == "name" else [None]), sni
    lines = tls_lines(inst)
    assert len(lines) == 1, inst.log()
    kind, lname, addr, port, version, _ = lines[0]
    assert (kind, addr, int(port)) == ("Verified", "127.0.0.1", sink.port), \
        lines[0]
    assert lname == name, lines[0]
    assert version == m.tls_version
    sent_line(inst, RCPT, "%s[127.0.0.1]:%d" % (name, sink.port))


def test_verify_direct_checks_mx_name(instances, net, ca):
    # Direct mode with verify set: the name checked is the exchanger's.
    s = net.sink("127.0.0.2", tls_context=tls_ctx(ca, ["mx1.dest.example"]))
    inst = direct(instances, net, ca, smtp_tls_security_level="verify")
    inst.start()
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert m.tls
    kinds = [(k, n) for k, n, *_ in tls_lines(inst)]
    assert kinds == [("Verified", "mx1.dest.example")], inst.log()


@pytest.mark.parametrize("level", ["default", "verify"])
def test_verify_untrusted_ca_deferred(instances, net, sinks, cas, level):
    good, bad = cas
    sink = sinks(tls_context=tls_ctx(bad, [RELAY]))
    inst = smarthost(instances, net, good, sink,
                     smtp_tls_security_level=(None if level == "default"
                                              else level))
    send(inst)
    reason = deferred_reason(inst)
    for want in CERT_FAILED:
        assert want in reason, reason
    assert inst.log_lines("status=deferred", CERT_FAILED[0])
    assert_nothing_sent(sink)
    assert not inst.log_lines("status=bounced")


def test_verify_wrong_name_deferred(instances, net, sinks, ca):
    # Signed by the trusted CA, but for another name.
    sink = sinks(tls_context=tls_ctx(ca, ["other.example"]))
    inst = smarthost(instances, net, ca, sink,
                     smtp_tls_security_level="verify")
    send(inst)
    reason = deferred_reason(inst)
    for want in CERT_FAILED:
        assert want in reason, reason
    assert_nothing_sent(sink)


# -- encrypt ------------------------------------------------------------------


@pytest.mark.parametrize("level", ["encrypt", "verify"])
def test_encrypt_without_starttls_deferred(instances, net, sinks, ca, level):
    sink = sinks()
    inst = smarthost(instances, net, ca, sink, name="127.0.0.1",
                     smtp_tls_security_level=level)
    send(inst)
    reason = deferred_reason(inst)
    assert NOT_OFFERED in reason, reason
    assert inst.log_lines("status=deferred", NOT_OFFERED)
    assert_nothing_sent(sink)
    assert sink.connections >= 1


@pytest.mark.parametrize("cert,kind", [("untrusted", "Untrusted"),
                                       ("wrong_name", "Trusted")])
def test_encrypt_any_certificate_delivered(instances, net, sinks, cas, cert,
                                           kind):
    good, bad = cas
    ctx = (tls_ctx(bad, ["127.0.0.1"]) if cert == "untrusted"
           else tls_ctx(good, ["other.example"]))
    sink = sinks(tls_context=ctx)
    inst = smarthost(instances, net, good, sink, name="127.0.0.1",
                     smtp_tls_security_level="encrypt")
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert m.tls
    lines = tls_lines(inst)
    assert [(k, a, int(p)) for k, _, a, p, *_ in lines] == \
        [(kind, "127.0.0.1", sink.port)], inst.log()


# -- implicit TLS -------------------------------------------------------------


def test_wrappermode_delivers(instances, net, sinks, ca):
    sink = sinks(tls_context=tls_ctx(ca, [RELAY]), implicit_tls=True)
    inst = smarthost(instances, net, ca, sink, smtp_tls_wrappermode="yes")
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert m.tls and m.tls_version in ("TLSv1.2", "TLSv1.3")
    assert sink.connections == 1
    assert sink.helo_log == ["EHLO test.example"], sink.helo_log
    assert [k for k, *_ in tls_lines(inst)] == ["Verified"], inst.log()
    sent_line(inst, RCPT, "%s[127.0.0.1]:%d" % (RELAY, sink.port))


def test_port_465_implicit_tls(instances, net, sinks, ca):
    # No smtp_tls_wrappermode: port 465 alone means implicit TLS. A
    # random loopback address keeps concurrent runs apart.
    for _ in range(20):
        addr = "127.%d.%d.%d" % (random.randint(1, 254),
                                 random.randint(0, 254),
                                 random.randint(1, 254))
        try:
            sink = sinks(host=addr, port=465,
                         tls_context=tls_ctx(ca, [addr]), implicit_tls=True)
            break
        except OSError:
            continue
    else:
        pytest.skip("port 465 is taken on every loopback address tried")
    inst = instances(smart_host="[%s]:465" % addr,
                     smtp_tls_security_level=None,
                     smtp_tls_CAfile=ca.ca_file).start()
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert m.tls
    assert [(k, a) for k, _, a, *_ in tls_lines(inst)] == \
        [("Verified", addr)], inst.log()


# -- routes ----------------------------------------------------------------


def test_route_tls_none_overrides_verify(instances, net, sinks, cas):
    good, bad = cas
    plain = sinks(tls_context=tls_ctx(bad, ["127.0.0.1"]))
    strict = sinks(tls_context=tls_ctx(bad, ["127.0.0.1"]))
    inst = instances(smart_host="[127.0.0.1]:%d" % strict.port,
                     smtp_tls_security_level="verify",
                     smtp_tls_CAfile=good.ca_file)
    inst.routes("plain.example  smarthost [127.0.0.1]:%d tls=none\n"
                % plain.port)
    inst.start()
    tok = send(inst, "rcpt@plain.example")
    send(inst, "rcpt@strict.example")
    assert plain.wait_count(1, 30)
    m = plain.snapshot()[0]
    assert token_of(m) == tok and not m.tls
    assert plain.helo_log == ["EHLO test.example"], \
        "STARTTLS used despite tls=none: %r" % plain.helo_log
    reason = deferred_reason(inst)
    for want in CERT_FAILED:
        assert want in reason, reason
    assert_nothing_sent(strict)


# -- AUTH ---------------------------------------------------------------------


def auth_sink(sinks, ca, creds, tls=True, **kw):
    """A smart host requiring AUTH: over STARTTLS with a certificate for
    relay.example (tls), or offering AUTH without any TLS."""
    if tls:
        return sinks(tls_context=tls_ctx(ca, [RELAY]), authenticator=creds,
                     auth_required=True, **kw)
    return sinks(authenticator=creds, auth_required=True,
                 auth_require_tls=False, **kw)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_delivered(instances, net, sinks, ca, mech):
    # PLAIN: the server offers both and PLAIN is preferred; LOGIN: the
    # server offers nothing else.
    creds = Credentials("alice", "right-Pa55")
    sink = auth_sink(sinks, ca, creds,
                     auth_exclude=() if mech == "PLAIN" else ("PLAIN",))
    inst = smarthost(instances, net, ca, sink, smtp_sasl_auth="yes",
                     secrets="[%s]:%d alice:right-Pa55\n" % (RELAY,
                                                             sink.port))
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert m.tls and m.auth == "alice", m
    assert sink.auth_log == [(1, mech, True)], sink.auth_log
    assert creds.attempts == [(mech, "alice", True)], creds.attempts


def test_auth_wrong_password_deferred_not_bounced(instances, net, sinks, ca):
    creds = Credentials("alice", "right-Pa55")
    sink = auth_sink(sinks, ca, creds)
    inst = smarthost(instances, net, ca, sink, smtp_sasl_auth="yes",
                     secrets="[%s]:%d alice:wrong-Pa55\n" % (RELAY,
                                                             sink.port))
    send(inst)
    reason = deferred_reason(inst)
    assert "SASL authentication failed" in reason, reason
    # Retried (max_backoff 2s) and still only deferred.
    wait_for(lambda: len(creds.attempts) >= 2, 30, "a second AUTH attempt")
    inst.wait_deferred(1, 20)
    assert all(not ok for _, _, ok in creds.attempts), creds.attempts
    assert inst.log_lines("status=deferred", "SASL authentication failed")
    assert_not_bounced(inst)
    assert sink.count() == 0


def test_auth_offered_only_without_tls_not_sent(instances, net, sinks, ca):
    creds = Credentials("alice", "right-Pa55")
    sink = auth_sink(sinks, ca, creds, tls=False)
    inst = smarthost(instances, net, ca, sink, name="127.0.0.1",
                     smtp_tls_security_level="may", smtp_sasl_auth="yes",
                     smtp_sasl_allow_plaintext="no",
                     secrets="[127.0.0.1]:%d alice:right-Pa55\n" % sink.port)
    send(inst)
    reason = deferred_reason(inst)
    assert re.search(r"(not|un)[ -]?encrypted|without (TLS|encryption)|"
                     r"plain ?text", reason, re.I), reason
    assert sink.connections >= 1
    assert sink.auth_log == [], "AUTH sent in the clear: %r" % sink.auth_log
    assert creds.attempts == []
    assert_nothing_sent(sink)
    assert_not_bounced(inst)


def test_auth_not_offered_with_credentials_deferred(instances, net, sinks,
                                                   ca):
    # Credentials for the relay, but it offers no AUTH: relaying without
    # the login could bounce mail ("relay access denied"), so it waits.
    sink = sinks(tls_context=tls_ctx(ca, ["127.0.0.1"]),
                 behaviour=Behaviour(hide_ehlo=["AUTH"]))
    inst = smarthost(instances, net, ca, sink, name="127.0.0.1",
                     smtp_sasl_auth="yes",
                     secrets="[127.0.0.1]:%d alice:right-Pa55\n" % sink.port)
    send(inst)
    reason = deferred_reason(inst)
    assert "offers no AUTH" in reason and "secrets_file" in reason, reason
    assert_nothing_sent(sink)
    assert_not_bounced(inst)


def test_relay_without_credentials_gets_no_auth(instances, net, sinks, ca):
    # smtp_sasl_auth = yes, but no entry for this relay: mail goes
    # without a login, as before.
    creds = Credentials("alice", "right-Pa55")
    sink = sinks(tls_context=tls_ctx(ca, ["127.0.0.1"]), authenticator=creds)
    inst = smarthost(instances, net, ca, sink, name="127.0.0.1",
                     smtp_sasl_auth="yes",
                     secrets="[192.0.2.1]:25 alice:right-Pa55\n")
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert m.auth is None and sink.auth_log == [], sink.auth_log


def test_auth_plaintext_allowed(instances, net, sinks, ca):
    creds = Credentials("alice", "right-Pa55")
    sink = auth_sink(sinks, ca, creds, tls=False)
    inst = smarthost(instances, net, ca, sink, name="127.0.0.1",
                     smtp_tls_security_level="may", smtp_sasl_auth="yes",
                     smtp_sasl_allow_plaintext="yes",
                     secrets="[127.0.0.1]:%d alice:right-Pa55\n" % sink.port)
    tok = send(inst)
    m = delivered(inst, sink, tok)
    assert not m.tls and m.auth == "alice", m
    assert sink.auth_log == [(1, "PLAIN", False)], sink.auth_log


def test_no_auth_to_exchanger(instances, net, ca):
    # AUTH is for smart hosts only, even with credentials for the MX.
    creds = Credentials("alice", "right-Pa55")
    s = net.sink("127.0.0.2", tls_context=tls_ctx(ca, ["mx1.dest.example"]),
                 authenticator=creds)
    inst = direct(instances, net, ca, smtp_sasl_auth="yes")
    write_secrets(inst, "[mx1.dest.example]:%d alice:right-Pa55\n"
                  "[127.0.0.2]:%d alice:right-Pa55\n" % (net.port, net.port))
    inst.start()
    tok = send(inst)
    m = delivered(inst, s, tok)
    assert m.auth is None and s.auth_log == [], s.auth_log


def test_credentials_not_logged(instances, net, sinks, ca, monkeypatch):
    # The most verbose log level there is (NCMTA_DEBUG reaches every
    # daemon through ncctl and the master), one login with each
    # mechanism, then no trace of the password in the whole log.
    monkeypatch.setenv("NCMTA_DEBUG", "1")
    pw = "Pw-" + new_token()[:16]
    creds = Credentials("alice", pw)
    plain = auth_sink(sinks, ca, creds)
    login = auth_sink(sinks, ca, creds, auth_exclude=("PLAIN",))
    inst = smarthost(instances, net, ca, plain, start=False,
                     smtp_sasl_auth="yes",
                     secrets="[%s]:%d alice:%s\n[%s]:%d alice:%s\n" % (
                         RELAY, plain.port, pw, RELAY, login.port, pw))
    inst.routes("login.example  smarthost [%s]:%d\n" % (RELAY, login.port))
    inst.start()
    toks = [send(inst, RCPT), send(inst, "rcpt@login.example")]
    assert plain.wait_count(1, 30) and login.wait_count(1, 30)
    inst.wait_empty()
    assert [token_of(m) for m in plain.snapshot() + login.snapshot()] == toks
    assert [a[1] for a in plain.auth_log + login.auth_log] == ["PLAIN",
                                                               "LOGIN"]
    log = inst.log()
    assert inst.log_lines("status=sent"), log
    forms = {pw, "alice:" + pw}
    for raw in (pw, "\0alice\0" + pw, "alice\0alice\0" + pw):
        b = base64.b64encode(raw.encode()).decode()
        forms |= {b, b.rstrip("=")}
    leaks = [f for f in forms if f in log]
    assert not leaks, "credentials in the log: %r" % leaks


# -- secrets_file -----------------------------------------------------------


@pytest.mark.parametrize("mode,owner", [("0644", "root"), ("0640", "root"),
                                        ("0600", "ncmta")])
def test_secrets_file_refused(instances, sinks, ca, mode, owner):
    import pwd
    mode = int(mode, 8)
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], smtp_sasl_auth="yes",
                     smtp_tls_CAfile=ca.ca_file)
    uid = 0 if owner == "root" else pwd.getpwnam(owner).pw_uid
    path = write_secrets(inst, "%s alice:pw\n" % sink.hostspec, mode, uid)
    for cmd in ("check", "start"):
        p = inst.ctl(cmd)
        if cmd == "start" and p.returncode == 0:
            inst.started = True
        out = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode != 0, "ncctl %s accepted %s (%o, %s)" % (
            cmd, path, mode, owner)
        if cmd == "check":
            assert p.returncode == 1, out
        assert path in out, out
        if owner == "root":
            assert re.search(r"\b0?%o\b" % mode, out), out
    assert inst.processes() == [], "something runs after a refused start"


def test_secrets_file_ok(instances, sinks, ca):
    # The control: root-owned and 0600 is accepted by check and start.
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], smtp_sasl_auth="yes",
                     smtp_tls_CAfile=ca.ca_file)
    write_secrets(inst, "%s alice:pw\n" % sink.hostspec)
    p = inst.ctl("check")
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
    inst.start()
