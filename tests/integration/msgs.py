"""Test messages: each carries a unique token in its Subject so a sink can
tell which submission it got (and whether twice), and a body that exercises
the transparency rules: lines that start with dots, a lone dot, 8-bit
octets, long lines, trailing white space.
"""

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
