"""DANE for direct delivery (SPEC 12, RFC 7672; issue 14) against real
peers: a test zone signed with ldns-signzone, served and validated by a
local unbound (SignedZoneServer) that sets the AD bit, ncmta's resolver
pointed at it, and aiosmtpd sinks with STARTTLS and certificates from a
throwaway CA (not in smtp_tls_CAfile: only the TLSA records can make them
trusted). Each DANE case runs twice: with dns_trust_ad = yes (the resolver
believes unbound's AD bit) and with dns_trust_ad = no (the resolver
validates itself with libunbound from dnssec_trust_anchor = the zone's
DS, asking the same unbound for the signatures).

  DANE-EE(3 1 1) matching          test_dane_ee_match_delivered
  DANE-EE not matching             test_dane_ee_mismatch_deferred
  DANE-TA(2 0 1) naming the CA     test_dane_ta_match_delivered
  bogus TLSA (broken RRSIG)        test_dane_bogus_tlsa_deferred
  no STARTTLS under DANE           test_dane_without_starttls_deferred
  validated absence of TLSA        test_dane_no_tlsa_may_delivered
  only PKIX usages (unusable)      test_dane_unusable_records_encrypt
  nothing validated                test_dane_unvalidated_may
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import warnings

import pytest

from msgs import message, new_token
from peers import ThrowawayCA
from test_tls import deferred_reason, delivered

SENDER = "sender@test.example"
ZONE = "dane.example"
MX_ADDR = "127.0.0.2"
TLS_LINE = re.compile(
    r"\b(Verified|Trusted|Untrusted) TLS connection established to "
    r"(\S+?)\[([^\]]+)\]:(\d+): TLSv1\.[23] with cipher \S+ "
    r"\(\d+/\d+ bits\) policy=(\S+)")

pytestmark = [
    pytest.mark.skipif(not (shutil.which("unbound") or
                            os.path.exists("/usr/sbin/unbound")) or
                       not shutil.which("ldns-signzone"),
                       reason="needs unbound and ldnsutils (tools/packages)"),
]


@pytest.fixture(scope="module")
def ca():
    base = tempfile.mkdtemp(prefix="ncmta-dane-", dir="/var/tmp")
    os.chmod(base, 0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = ThrowawayCA(os.path.join(base, "ca"), "ncmta DANE test CA")
    os.chmod(os.path.join(base, "ca"), 0o755)
    yield c
    shutil.rmtree(base, ignore_errors=True)


def der(args):
    return subprocess.run(["openssl"] + args, check=True,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout


def spki_sha256(cert):
    """3 1 1 / 2 1 1 data: SHA2-256 of the certificate's public key."""
    pub = der(["x509", "-in", cert, "-noout", "-pubkey"])
    key = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE).stdout
    return hashlib.sha256(key).hexdigest()


def cert_sha256(cert):
    """x 0 1 data: SHA2-256 of the whole certificate."""
    return hashlib.sha256(der(["x509", "-in", cert, "-outform",
                               "DER"])).hexdigest()


def server(ca, name, chain=False, sni=None):
    """(TLS context for a sink serving name, its certificate file); with
    chain the CA certificate is sent too, as DANE-TA(2) digests need; sni
    (a list) collects the server names clients ask for."""
    import ssl
    crt, key = ca.server_cert([name])
    if chain:
        full = crt + ".chain"
        with open(full, "w") as f, open(crt) as a, open(ca.ca_file) as b:
            f.write(a.read() + b.read())
        crt_used = full
    else:
        crt_used = crt
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt_used, key)
    if sni is not None:
        ctx.sni_callback = lambda obj, n, c: sni.append(n)
    return ctx, crt


def zone_for(net, label, tlsa=(), extra=()):
    """Records of LABEL.dane.example: MX 10 mx1.LABEL, mx1.LABEL A
    127.0.0.2, and TLSA records at _PORT._tcp.mx1.LABEL."""
    recs = ["%s IN MX 10 mx1.%s" % (label, label),
            "mx1.%s IN A %s" % (label, MX_ADDR)]
    recs += ["_%d._tcp.mx1.%s IN TLSA %s" % (net.port, label, t)
             for t in tlsa]
    return recs + list(extra)


@pytest.fixture(params=["trust_ad", "libunbound"])
def validation(request):
    """How ncmta knows what is validated: the settings for a zone server."""
    if request.param == "trust_ad":
        return lambda ns: {"dns_trust_ad": "yes"}
    return lambda ns: {"dns_trust_ad": "no",
                       "dnssec_trust_anchor": ns.ds_file}


def start(instances, net, validation=None, **settings):
    s = {"smtp_tls_security_level": "dane"}
    if validation is not None:
        s.update(validation(net.ns))
    s.update(settings)
    return instances(**net.settings(**s)).start()


def send(inst, rcpt):
    tok = new_token()
    data, _ = message(tok, rcpt)
    inst.submit([rcpt], data, sender=SENDER)
    return tok


def tls_lines(inst):
    return [m.groups() for m in
            (TLS_LINE.search(line) for line in inst.log().splitlines())
            if m]


def assert_nothing_sent(inst, sink):
    assert sink.count() == 0 and sink.mail_log == [], \
        "MAIL FROM sent under DANE: %r" % sink.mail_log
    assert not inst.log_lines("status=sent")
    assert not inst.log_lines("status=bounced")


def test_dane_ee_match_delivered(instances, net, ca, validation):
    sni = []
    ctx, crt = server(ca, "mx1.ee.%s" % ZONE, sni=sni)
    ns = net.signed_dns(ZONE, zone_for(net, "ee", ["3 1 1 " +
                                                   spki_sha256(crt)]))
    sink = net.sink(MX_ADDR, tls_context=ctx)
    inst = start(instances, net, validation)
    tok = send(inst, "rcpt@ee.%s" % ZONE)
    m = delivered(inst, sink, tok)
    assert m.tls
    assert tls_lines(inst) == [("Verified", "mx1.ee.%s" % ZONE, MX_ADDR,
                                str(net.port), "dane")]
    assert ("TLSA", "_%d._tcp.mx1.ee.%s" % (net.port, ZONE)) in ns.queries()
    assert sni == ["mx1.ee.%s" % ZONE], "SNI is the exchanger's name"


def test_dane_ee_mismatch_deferred(instances, net, ca, validation):
    ctx, crt = server(ca, "mx1.bad.%s" % ZONE)
    other, _ = ca.server_cert(["other.%s" % ZONE])
    net.signed_dns(ZONE, zone_for(net, "bad", ["3 1 1 " +
                                               spki_sha256(other)]))
    sink = net.sink(MX_ADDR, tls_context=ctx)
    inst = start(instances, net, validation)
    send(inst, "rcpt@bad.%s" % ZONE)
    reason = deferred_reason(inst)
    assert "certificate verification failed: no matching DANE TLSA " \
        "records" in reason, reason
    assert "mx1.bad.%s" % ZONE in reason, reason
    assert_nothing_sent(inst, sink)
    assert tls_lines(inst) and all(t[0] == "Untrusted" and t[4] == "dane"
                                   for t in tls_lines(inst))


def test_dane_ta_match_delivered(instances, net, ca, validation):
    ctx, _ = server(ca, "mx1.ta.%s" % ZONE, chain=True)
    net.signed_dns(ZONE, zone_for(net, "ta", ["2 0 1 " +
                                              cert_sha256(ca.ca_file)]))
    sink = net.sink(MX_ADDR, tls_context=ctx)
    inst = start(instances, net, validation)
    tok = send(inst, "rcpt@ta.%s" % ZONE)
    assert delivered(inst, sink, tok).tls
    assert tls_lines(inst) == [("Verified", "mx1.ta.%s" % ZONE, MX_ADDR,
                                str(net.port), "dane")]


def test_dane_bogus_tlsa_deferred(instances, net, ca, validation):
    ctx, crt = server(ca, "mx1.bogus.%s" % ZONE)
    owner = "_%d._tcp.mx1.bogus.%s" % (net.port, ZONE)
    net.signed_dns(ZONE, zone_for(net, "bogus", ["3 1 1 " +
                                                 spki_sha256(crt)]),
                   bogus=(owner, "TLSA"))
    sink = net.sink(MX_ADDR, tls_context=ctx)
    inst = start(instances, net, validation)
    send(inst, "rcpt@bogus.%s" % ZONE)
    reason = deferred_reason(inst)
    assert "TLSA lookup error for %s" % owner in reason, reason
    assert sink.connections == 0, "connected despite a bogus TLSA answer"
    assert_nothing_sent(inst, sink)


def test_dane_without_starttls_deferred(instances, net, ca, validation):
    _, crt = server(ca, "mx1.plain.%s" % ZONE)
    net.signed_dns(ZONE, zone_for(net, "plain", ["3 1 1 " +
                                                 spki_sha256(crt)]))
    sink = net.sink(MX_ADDR)  # no STARTTLS
    inst = start(instances, net, validation)
    send(inst, "rcpt@plain.%s" % ZONE)
    reason = deferred_reason(inst)
    assert "TLS is required, but was not offered by host mx1.plain." \
        in reason, reason
    assert sink.connections >= 1
    assert_nothing_sent(inst, sink)


def test_dane_no_tlsa_may_delivered(instances, net, ca, validation):
    # mx1.none has no TLSA: unbound proves its absence (NSEC, AD): may.
    ctx, _ = server(ca, "mx1.none.%s" % ZONE)
    ns = net.signed_dns(ZONE, zone_for(net, "none"))
    sink = net.sink(MX_ADDR, tls_context=ctx)
    inst = start(instances, net, validation)
    tok = send(inst, "rcpt@none.%s" % ZONE)
    assert delivered(inst, sink, tok).tls
    lines = tls_lines(inst)
    assert [(t[1], t[4]) for t in lines] == [("mx1.none.%s" % ZONE, "may")]
    assert lines[0][0] == "Untrusted"  # the CA is not trusted: may goes on
    assert ("TLSA", "_%d._tcp.mx1.none.%s" % (net.port, ZONE)) in \
        ns.queries()


def test_dane_unusable_records_encrypt(instances, net, ca, validation):
    # Only PKIX-EE(1) records: unusable for SMTP (RFC 7672 3.1.3), so TLS
    # is required but not authenticated (RFC 7672 2.2).
    ctx, crt = server(ca, "mx1.pkix.%s" % ZONE)
    net.signed_dns(ZONE, zone_for(net, "pkix", ["1 1 1 " +
                                                spki_sha256(crt)]))
    sink = net.sink(MX_ADDR, tls_context=ctx)
    inst = start(instances, net, validation)
    tok = send(inst, "rcpt@pkix.%s" % ZONE)
    assert delivered(inst, sink, tok).tls
    assert inst.log_lines("no usable TLSA record: TLS without "
                          "authentication")
    assert [t[4] for t in tls_lines(inst)] == ["dane"]


def test_dane_unvalidated_may(instances, net, ca, tmp_path):
    # dns_trust_ad = no and no trust anchor for the zone: nothing is
    # validated (unbound's AD bit means nothing), so dane is may, and no
    # TLSA question is asked. The TLSA record would not match.
    other, _ = ca.server_cert(["other2.%s" % ZONE])
    ns = net.signed_dns(ZONE, zone_for(net, "noad", ["3 1 1 " +
                                                     spki_sha256(other)]))
    ctx, _ = server(ca, "mx1.noad.%s" % ZONE)
    sink = net.sink(MX_ADDR, tls_context=ctx)
    empty = tmp_path / "anchors"
    empty.write_text("; no anchors\n")
    os.chmod(tmp_path, 0o755)
    inst = start(instances, net, dns_trust_ad="no",
                 dnssec_trust_anchor=str(empty))
    tok = send(inst, "rcpt@noad.%s" % ZONE)
    assert delivered(inst, sink, tok).tls
    assert [t[4] for t in tls_lines(inst)] == ["may"]
    assert not ns.queries("TLSA")


def test_check_names_a_missing_trust_anchor(instances, tmp_path):
    """dane validated by the resolver itself needs dnssec_trust_anchor:
    ncctl check (and so ncctl start) names a file that is not there,
    whether dane is the global level or a route's, instead of letting
    dane deliver as may would; dns_trust_ad = yes or a readable file
    needs none."""
    missing = str(tmp_path / "no-such-root.key")
    inst = instances(delivery_mode="direct", smtp_tls_security_level="dane",
                     dns_trust_ad="no", dnssec_trust_anchor=missing)
    r = inst.ctl("check")
    assert r.returncode != 0, r.stderr
    assert ("ncctl: dnssec_trust_anchor %s: No such file or directory "
            "(dane needs it" % missing) in r.stderr.decode(), r.stderr
    assert inst.ctl("start").returncode != 0
    inst.configure(dns_trust_ad="yes")
    assert inst.ctl("check").returncode == 0
    anchors = tmp_path / "root.key"
    anchors.write_text("; anchors\n")
    inst.configure(dns_trust_ad="no", dnssec_trust_anchor=str(anchors))
    assert inst.ctl("check").returncode == 0
    # a route's tls=dane asks for the anchors as much
    inst.configure(smtp_tls_security_level="may",
                   dnssec_trust_anchor=missing)
    assert inst.ctl("check").returncode == 0
    inst.routes("secure.example  direct tls=dane\n")
    r = inst.ctl("check")
    assert r.returncode != 0 and b"dnssec_trust_anchor" in r.stderr, r.stderr
