"""Test messages: each carries a unique token in its Subject so a sink can
tell which submission it got (and whether twice), and a body that exercises
the transparency rules: lines that start with dots, a lone dot, 8-bit
octets, long lines, trailing white space. Notice parses the delivery
status notifications (RFC 3464) that ncmta sends back to senders.
"""

import email
import email.policy
import re
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

TOKEN_RE = re.compile(r"ncmta-token-([0-9a-f]{32})")


def new_token():
    return uuid.uuid4().hex


def tricky_body(token, i=0):
    """A body (LF line ends) that only survives intact if the client
    dot-stuffs, keeps 8-bit octets and preserves every line."""
    lines = [
        b"Message %d, token %s." % (i, token.encode()),
        b".a line that starts with a dot",
        b"..two dots",
        b".",
        b"",
        b"8-bit octets: " + bytes(range(0x80, 0x100)),
        b"UTF-8: Gr\xc3\xbc\xc3\x9fe, \xe2\x82\xac, \xf0\x9f\x93\xac",
        b"trailing white space   \t",
        b"\ttab first",
        b"From the start of a line",
        b"y" * (200 + (i * 37) % 700),
        b". dot and space",
        b"...",
    ]
    return b"\n".join(lines) + b"\n"


def message(token, rcpt, i=0, full_headers=False, body=None,
            extra_headers=()):
    """(bytes, body): a message with a Subject carrying token. With
    full_headers it brings its own From, Date and Message-ID, otherwise
    pickup has to add them."""
    body = tricky_body(token, i) if body is None else body
    head = [b"Subject: test %d ncmta-token-%s" % (i, token.encode()),
            b"To: <%s>" % rcpt.encode(),
            b"X-Ncmta-Test: %d" % i]
    if full_headers:
        head += [b"From: Test Sender <sender@test.example>",
                 b"Date: Sat, 28 Nov 2026 12:00:00 +0000",
                 b"Message-ID: <%s@test.example>" % token.encode()]
    head += [h.encode() if isinstance(h, str) else h for h in extra_headers]
    return b"\n".join(head) + b"\n\n" + body, body


def token_of(received):
    """The token in a received message's Subject, or None."""
    for s in received.header("Subject"):
        m = TOKEN_RE.search(s)
        if m:
            return m.group(1)
    return None


def token_counts(messages):
    return Counter(t for t in (token_of(m) for m in messages) if t)


def crlf(b):
    return b.replace(b"\n", b"\r\n")


def submit_many(inst, jobs, workers=4):
    """Submit [(rcpts, data, sender)] with a few parallel ncsendmail
    processes; returns the list of CompletedProcess in order."""
    def one(job):
        rcpts, data, sender = job
        return inst.submit(rcpts, data, sender=sender, check=False)
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, jobs))


def is_notice(received):
    """Whether a received message is a delivery status notification: from
    the null sender, Content-Type multipart/report."""
    if received.mail_from != "":
        return False
    return any("multipart/report" in v.lower()
               for v in received.header("Content-Type"))


def _fields(block):
    """A header block of a message/delivery-status part as a dict with
    lower-cased names and white space collapsed."""
    return {k.lower(): " ".join(str(v).split()) for k, v in block.items()}


class Notice:
    """A bounce or delay notice as a sink received it, taken apart with
    Python's email package. ValueError when it is not an RFC 3464 report
    with a message/delivery-status part."""

    def __init__(self, received):
        self.received = received
        self.msg = email.message_from_bytes(received.content,
                                            policy=email.policy.compat32)
        if self.msg.get_content_type() != "multipart/report":
            raise ValueError("not multipart/report: %s"
                             % self.msg.get_content_type())
        self.report_type = self.msg.get_param("report-type")
        self.parts = self.msg.get_payload()
        self.types = [p.get_content_type() for p in self.parts]
        ds = [p for p in self.parts
              if p.get_content_type() == "message/delivery-status"]
        if len(ds) != 1:
            raise ValueError("%d message/delivery-status parts" % len(ds))
        blocks = [_fields(b) for b in ds[0].get_payload()]
        if not blocks:
            raise ValueError("empty message/delivery-status part")
        self.per_message = blocks[0]
        self.recipients = [b for b in blocks[1:] if b]
        text = [p for p in self.parts if p.get_content_type() == "text/plain"]
        self.text = (text[0].get_payload(decode=True) or b"").decode(
            "utf-8", "replace") if text else ""
        heads = [p for p in self.parts if p.get_content_type() in
                 ("text/rfc822-headers", "message/rfc822-headers")]
        self.original_headers = heads[0].get_payload() if heads else None
        if isinstance(self.original_headers, list):  # parsed as a message
            self.original_headers = "".join(
                m.as_string() for m in self.original_headers)
        self.subject = " ".join(str(self.msg.get("Subject", "")).split())

    @property
    def token(self):
        """The token of the original message (from its headers)."""
        m = TOKEN_RE.search(self.original_headers or "")
        return m.group(1) if m else None

    def final_recipients(self):
        """Addresses of Final-Recipient fields, lower-cased, in order."""
        out = []
        for r in self.recipients:
            v = r.get("final-recipient", "")
            out.append(v.split(";", 1)[-1].strip().lower())
        return out

    def recipient(self, address):
        """The per-recipient fields for address, or None."""
        for r, a in zip(self.recipients, self.final_recipients()):
            if a == address.lower():
                return r
        return None


def notices(sink):
    """Every notice a sink received so far, parsed."""
    return [Notice(m) for m in sink.snapshot() if is_notice(m)]
