"""TLS reporting (RFC 8460; ncctl(8), tls-report): direct deliveries to
real TLS peers (aiosmtpd sinks with certificates from throwaway CAs), each
exchanger giving one result type, then `ncctl tls-report --json` parsed
and its counts checked exactly, and the text form.

  success, certificate-expired, certificate-host-mismatch,
  certificate-not-trusted, starttls-not-supported (verify)
                                     test_report_counts_result_types
  may without STARTTLS               test_may_without_starttls_counted
  DANE (policy-type tlsa)            test_dane_counted_as_tlsa
  who may read it                    test_report_needs_privilege
"""

import datetime
import json
import os
import shutil
import ssl

import pytest

from msgs import message, new_token
from test_tls import cas, delivered  # noqa: F401 (cas: a fixture)
import test_dane

SENDER = "sender@test.example"
# retries would add sessions while the test reads the counts
NO_RETRY = {"min_backoff": "1h", "max_backoff": "2h"}

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def context(ca, name):
    return ca.server_context([name])


def expired_context(ca, name):
    """A server context whose certificate, signed by ca for name, expired
    yesterday (the openssl command cannot date one in the past)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    with open(ca.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(ca.ca_file, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=10))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    crt = os.path.join(ca.dir, "expired-%s.pem" % name)
    kf = os.path.join(ca.dir, "expired-%s.key" % name)
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kf, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, kf)
    return ctx


def send(inst, rcpt):
    tok = new_token()
    inst.submit([rcpt], message(tok, rcpt)[0], sender=SENDER)
    return tok


def report(inst, *args):
    r = inst.ctl("tls-report", *args)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout.decode()


def policies(doc):
    """{(policy-type, policy-domain): (successful, failed, {(result-type,
    mx): count})} of a parsed report."""
    out = {}
    for p in doc["policies"]:
        key = (p["policy"]["policy-type"], p["policy"]["policy-domain"])
        s = p["summary"]
        out[key] = (s["total-successful-session-count"],
                    s["total-failure-session-count"],
                    {(d["result-type"], d.get("receiving-mx-hostname")):
                     d["failed-session-count"]
                     for d in p["failure-details"]})
    return out


def test_report_counts_result_types(instances, net, cas):
    good, bad = cas
    # domain -> (exchanger address, server TLS context or None)
    peers = {
        "good": ("127.0.0.2", context(good, "mx1.good.example")),
        "plain": ("127.0.0.3", None),
        "expired": ("127.0.0.4", expired_context(good,
                                                 "mx1.expired.example")),
        "wrongname": ("127.0.0.5", context(good, "other.example")),
        "untrusted": ("127.0.0.6", context(bad, "mx1.untrusted.example")),
    }
    records = []
    for d, (addr, _) in peers.items():
        records += [("MX", "%s.example" % d, 10, "mx1.%s.example" % d),
                    ("A", "mx1.%s.example" % d, addr)]
    net.dns(records)
    sinks = {d: net.sink(addr, tls_context=ctx)
             for d, (addr, ctx) in peers.items()}
    inst = instances(**net.settings(smtp_tls_security_level="verify",
                                    smtp_tls_CAfile=good.ca_file,
                                    **NO_RETRY)).start()
    assert "no TLS sessions to report since " in report(inst)
    for d in peers:
        send(inst, "rcpt@%s.example" % d)
    assert sinks["good"].wait_count(1, 30), "nothing delivered"
    inst.wait_deferred(4, 30)
    for d in peers:
        if d != "good":
            assert sinks[d].count() == 0, "%s got mail" % d

    doc = json.loads(report(inst, "--json"))
    rng = doc["date-range"]
    for k in ("start-datetime", "end-datetime"):
        datetime.datetime.strptime(rng[k], "%Y-%m-%dT%H:%M:%SZ")
    assert rng["start-datetime"] <= rng["end-datetime"]
    got = policies(doc)
    want = {
        ("no-policy-found", "good.example"): (1, 0, {}),
        ("no-policy-found", "plain.example"): (0, 1, {
            ("starttls-not-supported", "mx1.plain.example"): 1}),
        ("no-policy-found", "expired.example"): (0, 1, {
            ("certificate-expired", "mx1.expired.example"): 1}),
        ("no-policy-found", "wrongname.example"): (0, 1, {
            ("certificate-host-mismatch", "mx1.wrongname.example"): 1}),
        ("no-policy-found", "untrusted.example"): (0, 1, {
            ("certificate-not-trusted", "mx1.untrusted.example"): 1}),
    }
    assert got == want, json.dumps(doc, indent=1)

    text = report(inst)
    lines = text.splitlines()
    assert lines[0].startswith("TLS sessions from "), text
    assert lines[1:] == [
        "expired.example policy=no-policy-found sessions: 0 successful, "
        "1 failed",
        "  certificate-expired 1 (mx1.expired.example 1)",
        "good.example policy=no-policy-found sessions: 1 successful, "
        "0 failed",
        "plain.example policy=no-policy-found sessions: 0 successful, "
        "1 failed",
        "  starttls-not-supported 1 (mx1.plain.example 1)",
        "untrusted.example policy=no-policy-found sessions: 0 successful, "
        "1 failed",
        "  certificate-not-trusted 1 (mx1.untrusted.example 1)",
        "wrongname.example policy=no-policy-found sessions: 0 successful, "
        "1 failed",
        "  certificate-host-mismatch 1 (mx1.wrongname.example 1)",
    ], text


def test_may_without_starttls_counted(instances, net, cas):
    # Under "may" a session that went on in plain text because the
    # exchanger offers no STARTTLS is a failure (starttls-not-supported),
    # though the mail is delivered; a session with TLS is a success.
    good, _ = cas
    net.dns([("MX", "plain.example", 10, "mx1.plain.example"),
             ("A", "mx1.plain.example", "127.0.0.2"),
             ("MX", "tls.example", 10, "mx1.tls.example"),
             ("A", "mx1.tls.example", "127.0.0.3")])
    plain = net.sink("127.0.0.2")
    tls = net.sink("127.0.0.3",
                   tls_context=context(good, "mx1.tls.example"))
    inst = instances(**net.settings(smtp_tls_security_level="may",
                                    smtp_tls_CAfile=good.ca_file)).start()
    delivered(inst, plain, send(inst, "a@plain.example"))
    delivered(inst, tls, send(inst, "b@tls.example"))
    got = policies(json.loads(report(inst, "--json")))
    assert got == {
        ("no-policy-found", "plain.example"): (0, 1, {
            ("starttls-not-supported", "mx1.plain.example"): 1}),
        ("no-policy-found", "tls.example"): (1, 0, {}),
    }, got


def test_report_needs_privilege(instances, sink):
    # Recipient domains say whom the users write to: root and mail_owner
    # only, as for queue administration. A smart host is never counted.
    inst = instances(smart_host=[sink]).start()
    send(inst, "r@relayed.example")
    assert sink.wait_count(1, 30)
    inst.wait_empty()
    r = inst.ctl("tls-report", as_user="nobody")
    assert r.returncode != 0
    assert b"permission denied" in r.stderr, r.stderr
    assert report(inst).startswith("no TLS sessions to report since ")
    r = inst.ctl("tls-report", "--bogus")
    assert r.returncode != 0 and b"usage" in r.stderr


@pytest.mark.skipif(not (shutil.which("unbound") or
                         os.path.exists("/usr/sbin/unbound")) or
                    not shutil.which("ldns-signzone"),
                    reason="needs unbound and ldnsutils (tools/packages)")
def test_dane_counted_as_tlsa(instances, net, cas):
    # Under DANE with usable TLSA records the policy is "tlsa": a matching
    # record is a success, a certificate no record matches a
    # validation-failure (RFC 8460 4.3.1; tlsa-invalid is for records
    # that are themselves invalid).
    ca, _ = cas
    zone = test_dane.ZONE
    ok_ctx, ok_crt = test_dane.server(ca, "mx1.ee.%s" % zone)
    bad_ctx, _ = test_dane.server(ca, "mx1.bad.%s" % zone)
    other, _ = ca.server_cert(["other.%s" % zone])
    recs = test_dane.zone_for(net, "ee", ["3 1 1 " +
                                          test_dane.spki_sha256(ok_crt)])
    recs += ["bad IN MX 10 mx1.bad", "mx1.bad IN A 127.0.0.3",
             "_%d._tcp.mx1.bad IN TLSA 3 1 1 %s" % (
                 net.port, test_dane.spki_sha256(other))]
    net.signed_dns(zone, recs)
    ok_sink = net.sink(test_dane.MX_ADDR, tls_context=ok_ctx)
    bad_sink = net.sink("127.0.0.3", tls_context=bad_ctx)
    inst = test_dane.start(instances, net, dns_trust_ad="yes", **NO_RETRY)
    delivered(inst, ok_sink, send(inst, "r@ee.%s" % zone))
    send(inst, "r@bad.%s" % zone)
    inst.wait_deferred(1, 30)
    assert bad_sink.count() == 0
    got = policies(json.loads(report(inst, "--json")))
    assert got == {
        ("tlsa", "bad.%s" % zone): (0, 1, {
            ("validation-failure", "mx1.bad.%s" % zone): 1}),
        ("tlsa", "ee.%s" % zone): (1, 0, {}),
    }, got
