#!/usr/bin/python3
# fuzz/seeds.py - how the seed corpora in fuzz/corpus/ were made: small,
# realistic inputs taken from the unit tests (tests/unit/), the formats of
# doc/design.md and the man pages. Run from the top of the tree to write
# them again; files already there (regression inputs) are left alone.
import os
import struct
import sys

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# -- SMTP replies, as a server sends them --------------------------------
def smtpreply():
    replies = {
        "greeting": "220 mx.example.org ESMTP Postfix\r\n",
        "ehlo": "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
                "250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n",
        "gmail-550": "550-5.1.1 The account does not exist.\r\n"
                     "550-5.1.1 Please try\r\n550 5.1.1 again - gsmtp\r\n",
        "queued": "250 2.0.0 Ok: queued as 9F2C\r\n",
        "data": "354 End data with <CR><LF>.<CR><LF>\r\n",
        "bare-354": "354\r\n",
        "temp": "451 4.3.0 Error: queue file write error\r\n",
        "mismatch": "450 5.7.1 class differs\r\n",
        "no-dsn": "554 no\n",
        "big-dsn": "452 4.123.456 too many\r\n",
        "closing": "421 4.7.0 mx.example.org Error: too many errors\r\n",
        "pipelined": "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@y>: Recipient "
                     "address rejected\r\n354 go\r\n",
        "auth": "334 VXNlcm5hbWU6\r\n235 2.7.0 Authentication successful\r\n",
        "code-change": "250-first\r\n251 second\r\n",
    }
    for k, v in replies.items():
        write("smtpreply", k, v)


# -- DNS replies ------------------------------------------------------------
def dns_name(name, ptr=None):
    out = b""
    for label in name.split(".") if name else []:
        out += bytes([len(label)]) + label.encode()
    if ptr is not None:
        return out + struct.pack(">H", 0xC000 | ptr)
    return out + b"\0"


def dns_header(rcode=0, qd=1, an=0, ns=0, ar=0, flags=0x8180):
    return struct.pack(">HHHHHH", 0x1234, flags | rcode, qd, an, ns, ar)


def question(name, qtype):
    return dns_name(name) + struct.pack(">HH", qtype, 1)


def rr(owner, rtype, ttl, rdata):
    if isinstance(owner, int):
        o = struct.pack(">H", 0xC000 | owner)
    else:
        o = dns_name(owner)
    return o + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def soa(ttl, minimum):
    return (dns_name("ns1.example.com") + dns_name("hostmaster.example.com") +
            struct.pack(">IIIII", 2024010101, 3600, 600, 86400, minimum))


def dnsmsg():
    A, MX, AAAA, CNAME, SOA, TXT = 1, 15, 28, 5, 6, 16
    q = "example.com"
    write("dnsmsg", "mx", dns_header(an=2) + question(q, MX) +
          rr(12, MX, 300, struct.pack(">H", 10) + dns_name("mx1.example.com")) +
          rr(12, MX, 600, struct.pack(">H", 20) + dns_name("mx2", 12)))
    write("dnsmsg", "null-mx", dns_header(an=1) + question(q, MX) +
          rr(12, MX, 3600, struct.pack(">H", 0) + b"\0"))
    write("dnsmsg", "a", dns_header(an=2) + question("mx1.example.com", A) +
          rr(12, A, 300, bytes([192, 0, 2, 1])) +
          rr(12, A, 200, bytes([192, 0, 2, 2])))
    write("dnsmsg", "aaaa", dns_header(an=1) + question("mx1.example.com", AAAA) +
          rr(12, AAAA, 300, bytes.fromhex("20010db8000000000000000000000001")))
    write("dnsmsg", "cname", dns_header(an=3) + question("www.example.com", A) +
          rr(12, CNAME, 60, dns_name("web.example.com")) +
          rr("web.example.com", CNAME, 60, dns_name("host.example.net")) +
          rr("host.example.net", A, 30, bytes([198, 51, 100, 7])))
    write("dnsmsg", "nxdomain-soa", dns_header(rcode=3, ns=1) +
          question("nope.example.com", MX) + rr("example.com", SOA, 900, soa(900, 300)))
    write("dnsmsg", "nodata-nosoa", dns_header() + question(q, AAAA))
    write("dnsmsg", "nodata-other", dns_header(an=1) + question(q, MX) +
          rr(12, TXT, 300, b"\x0bv=spf1 -all"))
    write("dnsmsg", "servfail", dns_header(rcode=2) + question(q, MX))
    write("dnsmsg", "not-response", dns_header(flags=0x0100) + question(q, MX))
    write("dnsmsg", "loop-pointer", dns_header(an=1) + question(q, MX) +
          rr(12, MX, 300, struct.pack(">H", 10) + struct.pack(">H", 0xC000 | 41)))
    write("dnsmsg", "truncated", (dns_header(an=1) + question(q, MX) +
          rr(12, MX, 300, struct.pack(">H", 10) + dns_name("mx1.example.com")))[:-5])
    write("dnsmsg", "top-ttl", dns_header(an=1) + question(q, A) +
          rr(12, A, 0x80000001, bytes([10, 0, 0, 1])))
    TLSA = 52
    t = "_25._tcp.mx1.example.com"
    write("dnsmsg", "tlsa-ad", dns_header(an=2, flags=0x81a0) +
          question(t, TLSA) +
          rr(12, TLSA, 300, bytes([3, 1, 1]) + bytes(range(32))) +
          rr(12, TLSA, 300, bytes([2, 0, 0]) + b"\x30\x82\x01\x00"))
    s = "_mta-sts.example.com"
    write("dnsmsg", "txt-sts", dns_header(an=2) + question(s, TXT) +
          rr(12, TXT, 300, b"\x1fv=STSv1; id=20240101T000000Z;") +
          rr(12, TXT, 300, b"\x0bv=spf1 -all"))
    write("dnsmsg", "txt-split", dns_header(an=1) + question(s, TXT) +
          rr(12, TXT, 60, b"\x09v=STSv1; \x06id=abc\x01;\x00"))
    write("dnsmsg", "txt-nul", dns_header(an=1) + question(s, TXT) +
          rr(12, TXT, 60, b"\x0ev=STSv1;\x00id=x;"))
    write("dnsmsg", "txt-overrun", dns_header(an=1) + question(s, TXT) +
          rr(12, TXT, 60, b"\x28short"))
    write("dnsmsg", "tlsa-nxdomain-ad", dns_header(rcode=3, ns=1,
                                                  flags=0x81a0) +
          question(t, TLSA) + rr("example.com", SOA, 900, soa(900, 300)))


# -- maildrop and drop-directory files ---------------------------------------
def maildrop_file(fields, msg):
    env = "NCMTA-DROP 1\n" + "".join("%s %s\n" % f for f in fields) + \
        "size %d\n\n" % len(msg.encode("latin-1"))
    return env + msg


def maildrop():
    msg = "Subject: hi\n\nbody\n"
    write("maildrop", "full", maildrop_file(
        [("sender", "<alice@example.com>"), ("fullname", 'Alice "Al" Example'),
         ("rcpt", "<bob@example.org>"), ("rcpt", "<carol@example.net>"),
         ("orcpt", "rfc822;Carol+lists@example.net"), ("extract", "1"), ("notify", "SUCCESS,FAILURE"), ("ret", "HDRS"),
         ("envid", "abc123"), ("body", "8BITMIME")], msg))
    write("maildrop", "null-sender", maildrop_file([("sender", "<>"),
                                                   ("rcpt", "<root>")], ""))
    write("maildrop", "crlf-message", maildrop_file(
        [("sender", "<cron@host.local>"), ("rcpt", "<root@host.local>")],
        "From: root (Cron Daemon)\r\nTo: root\r\nSubject: Cron <root@host> "
        "run-parts\r\n\r\n/etc/cron.daily/logrotate: done\r\n"))
    write("maildrop", "minimal", "NCMTA-DROP 1\nsender <>\nsize 0\n\n")
    write("maildrop", "future-version", "NCMTA-DROP 2\nsender <>\nsize 0\n\n")
    write("maildrop", "truncated", maildrop_file(
        [("sender", "<a@b>"), ("rcpt", "<c@d>")], msg)[:-3])
    write("maildrop", "orcpt-utf8", maildrop_file(
        [("sender", "<a@b>"), ("rcpt", "<c@d>"),
         ("orcpt", "utf-8;J\xc3\xb6rg @example.de"), ("rcpt", "<e@f>"),
         ("orcpt", "rfc822;e@f")], "x\n"))
    write("maildrop", "folded-header", maildrop_file(
        [("sender", "<a@example.com>"), ("rcpt", "<b@example.com>")],
        "To: a@example.com,\n\tb@example.com\nSubject: folded\n  subject\n\nx\n"))


def dropfile():
    write("dropfile", "x-lines",
          "X-Sender: <app@example.com>\r\nX-Receiver: bob@example.org\r\n"
          "x-receiver: Secret@Example.NET\r\nX-RECEIVER: bob@example.org\r\n"
          "From: Someone Else <other@example.com>\r\nTo: public@example.org\r\n"
          "Bcc: hidden@example.net\r\nSubject: hi\r\n\r\nbody\r\n")
    write("dropfile", "receiver-only",
          "X-Receiver: r@example.org\nFrom: Al <al@example.com>\n"
          "To: t@example.org\n\nbody\n")
    write("dropfile", "headers",
          'From: "Doe, John" <john@example.com>\nTo: a@x.example, B <b@y.example>\n'
          "Cc: friends: c@z.example, d@z.example;\nBcc: e@w.example\n"
          "Subject: report\n\nbody\n")
    write("dropfile", "unqualified", "From: www-data\nTo: root\n\nhello\n")
    write("dropfile", "null-sender", "X-Sender: <>\nX-Receiver: <postmaster@example.com>\n"
          "Subject: bounce\n\n")
    write("dropfile", "no-from", "To: a@example.com\n\nno sender\n")
    write("dropfile", "binary", "\x7fELF\x02\x01\x01\0\0\0")


def normalize():
    write("normalize", "complete", b"\0" + (
        "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
        "Bcc: secret@example.net,\r\n\tother@example.net\r\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@y>\r\n"
        "Received: from elsewhere\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n").encode())
    write("normalize", "bare", b"\0Alice Example\0Subject: test\n\nhello\n")
    write("normalize", "quoted-name", b"\0Doe, John \"JD\"\0To: x@y\n\nbody")
    write("normalize", "utf8-name", b"\0J\xc3\xbcrgen M\xc3\xbcller\0Subject: x\n\n")
    write("normalize", "null-sender", b"\x01\0Subject: bounce\n\nbody\n")
    write("normalize", "no-empty-line", b"\0\0Subject: x\nnot a header line\nmore\n")
    write("normalize", "no-body", b"\0\0Subject: only a header")
    write("normalize", "lone-cr", b"\0\0Subject: a\rb\r\n\r\nx\ry\r\r\n")
    write("normalize", "smtp", b"\x06\0client.example\0Subject: over SMTP\r\n\r\nbody\r\n")
    write("normalize", "smtp-odd-helo", b"\x02\0[192.0.2.7] (spoofed) by x\0From: a@b\n\nbody")


# -- ncsendmail -bs sessions --------------------------------------------------
def smtpin():
    # flags, size limit selector, four chunk sizes, then the client
    head_all = bytes([0, 3, 0, 0, 0, 0])       # 1000 octets, whole reads
    head_small = bytes([0, 4, 1, 2, 3, 40])    # 100000 octets, small reads
    sess = ("EHLO client.example\r\nMAIL FROM:<alice@example.org> SIZE=120 "
            "BODY=8BITMIME\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\n"
            "DATA\r\nSubject: hi\r\n\r\n..dot\r\n.a\r\nlast\r\n.\r\nQUIT\r\n")
    write("smtpin", "pipelined", head_all + sess.encode())
    write("smtpin", "pipelined-split", head_small + sess.encode())
    write("smtpin", "sequence", head_all +
          b"RCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<>\r\nMAIL FROM:<x@y>\r\n"
          b"DATA\r\nRCPT TO:<a@b>\r\nRSET\r\nDATA\r\nNOOP\r\n")
    write("smtpin", "syntax", head_all +
          b"EHLO\r\nHELO\r\nFOO bar\r\n\r\nMAIL FROM:alice\r\n"
          b"RCPT TO:<unterminated\r\nRCPT TO:<b@x> NOTIFY=NEVER\r\n"
          b"MAIL FROM:<a@b> SIZE=99999999999 BODY=BINARYMIME\r\nVRFY\r\nHELP\r\n"
          b"STARTTLS\r\nAUTH PLAIN\r\nQUIT\r\n")
    write("smtpin", "refusing", bytes([7, 2, 5, 5, 5, 5]) +
          b"HELO x\r\nMAIL FROM:<@relay:a@b.example>\r\nRCPT TO:<\"q u\"@c.example>\r\n"
          b"RCPT TO:<abc@d.example>\r\nDATA\r\n.\r\nQUIT\r\n")
    write("smtpin", "too-big", bytes([0, 1, 0, 0, 0, 0]) +
          b"HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
          b"0123456789\r\n0123456789\r\n.\r\nQUIT\r\n")
    write("smtpin", "eof-in-data", head_small +
          b"HELO x\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nDATA\nline\n")
    write("smtpin", "long-line", head_small + b"NOOP " + b"x" * 3000 + b"\r\nQUIT\r\n")
    smtpin_ext()


def reads_of(n):
    """The chunk octet that makes fuzz_smtpin read n octets, or None."""
    for c in range(1, 256):
        if c * c // 32 + 1 == n:
            return c
    return None


def fitted(first, rest=b""):
    """(chunk octet, first + rest) with the EHLO line of first padded
    with spaces (smtpin drops them) until one read takes exactly that."""
    while reads_of(len(first + rest)) is None:
        first = first.replace(b"\r\n", b" \r\n", 1)
    return reads_of(len(first + rest)), first + rest


def smtpin_ext():
    # the second octet: the extensions (SMTPIN_EXT_*) << 4 | size limit
    utf8, dsn, chunking, starttls = 1, 2, 4, 8
    hello = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
    write("smtpin", "bdat", bytes([0, chunking << 4 | 3, 0, 0, 0, 0]) + hello +
          b"BDAT 9\r\n.hi\r\n.\r\nxBDAT 7 LAST\r\n world\nMAIL FROM:<e@f.example>\r\n"
          b"RCPT TO:<g@h.example>\r\nBDAT 0 LAST\r\nQUIT\r\n")
    write("smtpin", "bdat-split", bytes([0, chunking << 4 | 4, 1, 2, 3, 40]) + hello +
          b"BDAT 20\r\n0123456789abcdefghijDATA\r\nRCPT TO:<x@y.example>\r\n"
          b"BDAT 3 LAST\r\nendNOOP\r\nQUIT\r\n")
    write("smtpin", "bdat-too-big", bytes([0, chunking << 4 | 1, 0, 0, 0, 0]) + hello +
          b"BDAT 8\r\n12345678BDAT 8\r\n12345678BDAT 2 LAST\r\nxyNOOP\r\n"
          b"BDAT 1 LAST\r\nzBDAT 12x\r\nQUIT\r\n")
    write("smtpin", "bdat-refused", bytes([9, chunking << 4 | 3, 0, 0, 0, 0]) + hello +
          b"BDAT 6 LAST\r\nQUIT\r\nBDAT 3 FIRST\r\nabcQUIT\r\n")
    write("smtpin", "dsn", bytes([0, (dsn | utf8) << 4 | 3, 0, 0, 0, 0]) +
          b"EHLO c.example\r\nMAIL FROM:<a@b.example> RET=HDRS ENVID=id+2B1 "
          b"SMTPUTF8 BODY=8BITMIME SIZE=100\r\nRCPT TO:<c@d.example> "
          b"NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c+40d.example\r\n"
          b"RCPT TO:<e@f.example> NOTIFY=NEVER\r\nRCPT TO:<g@h.example> "
          b"NOTIFY=never,success ORCPT=x\r\nMAIL FROM:<x@y.example> ENVID=a+ZZ\r\n"
          b"DATA\r\nhi\r\n.\r\nQUIT\r\n")
    # STARTTLS ends the first read; the next octet has TLS come up; the
    # injected MAIL is thrown away with the rest of that read
    c, first = fitted(b"EHLO c.example\r\nSTARTTLS\r\n",
                      b"MAIL FROM:<injected@x.example>\r\n")
    write("smtpin", "starttls", bytes([0, starttls << 4 | 3, c, 0, 0, 0]) +
          first + b"\0EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<a@b.example>\r\n"
          b"RCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n")
    # data_end answers later; the octet after the first read has the
    # late reply be 250, and pipelined commands go on
    c, first = fitted(hello + b"DATA\r\nhi\r\n.\r\nMAIL FROM:<e@f.example>\r\n", b"")
    write("smtpin", "later", bytes([0x10, chunking << 4 | 3, c, 0, 0, 0]) +
          first + b"\2RCPT TO:<g@h.example>\r\nBDAT 2 LAST\r\nyoQUIT\r\n\2")
    write("smtpin", "tight-limits", bytes([0x40 | 0x20, 3, 0, 0, 0, 0]) +
          b"EHLO x.example\r\nHELO c.example\r\nMAIL FROM:<a@b.example>\r\n" +
          b"".join(b"RCPT TO:<r%d@d.example>\r\n" % i for i in range(5)) +
          b"BOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nNOOP\r\n")


# -- addresses and header rewriting ---------------------------------------------
def addr():
    for i, a in enumerate([
            "alice@Example.COM", "root", "  <bob@example.net>  ", "<>",
            '"john doe"@example.com', '"a@b"@example.com', "user@[192.0.2.7]",
            "user@example.com.", "first.last+tag@sub.example.com",
            '"a\\"b"@example.com', "Bob <bob@example.com>, carol@example.org",
            '"Doe, John" <john@example.com>, x@y.z',
            "alice@example.com (Alice Example)",
            "(c (nested) c) alice@example.com",
            "friends: a@x.example, B <b@y.example>;, c@z.example",
            "undisclosed-recipients:;", "a@x.example,\r\n\tb@y.example",
            "a@x.example,,b@y.example,a@x.example", "<@relay.example:bob@example.com>",
            "J. R. Doe <jrd@example.com>"]):
        write("addr", "a%02d" % i, bytes([i % 4]) + a.encode())
    # the mode's bit 2: ADDR_UTF8 (SMTPUTF8), with good and bad UTF-8
    for i, a in enumerate([
            "j\u00f6rg@B\u00fcCHER.example",
            "\u7528\u6237 <\u7528\u6237@\u4f8b\u5b50.example>",
            '"\U0001f600 x"@example.com']):
        write("addr", "u%02d" % i, bytes([4 | (i % 4)]) + a.encode())
    write("addr", "u-bad", b"\x04a\xc0\xaf\xed\xa0\x80\xc2\x85@x\xf4\x90.example")


def rewrite():
    write("rewrite", "cron",
          "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> ls\n"
          "Content-Type: text/plain\n\nbody\n")
    write("rewrite", "lists",
          'From: "Doe, John" <john@host.local>\r\nTo: ops, both, "quoted name", '
          "www-data\r\nCc: friends: Partner@Old.Example, <@r.example:x@host.local>;, "
          "\r\n\tloop1@host.local\r\nReply-To: <>\r\nResent-To: me\r\nSender: cmd\r\n"
          "Subject: To: root\r\n\r\nTo: body@host.local\r\n")
    write("rewrite", "comments", "To: (comment) root (more) , postmaster@localhost "
          "(x)\nFrom: \"a\\\"b\"@host.local\n\n")
    write("rewrite", "literal", "To: user@[192.0.2.1], [x]\nCc: \"unterminated\n\n")


# -- IPC frames and queue records ------------------------------------------------
def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def dbl(v):
    return struct.pack(">d", v)


def istr(s):
    b = s.encode("latin-1") if isinstance(s, str) else s
    return u32(len(b)) + b + b"\0"


def frame(t, payload):
    return u32(len(payload)) + u32(t) + payload


def qstr(s):
    b = s.encode("latin-1")
    return struct.pack(">H", len(b)) + b


def record(version=3, state=2, rcpts=(), sender="alice@example.com", envid="abc"):
    """A message record (doc/design.md); rcpts: (status, dsn, address,
    reason[, orcpt]). Version 1 has no DSN fields, 2 no ORCPTs."""
    out = bytes([version, state, 4 if version >= 2 else 0, 2 if version >= 2 else 0])
    out += u32(1) + u32(1000) + u64(1764373839000000) + u64(2048) + u64(1764377439)
    out += u32(3) + u32(len(rcpts)) + qstr(sender)
    for r in rcpts:
        status, dsn, a, reason = r[:4]
        out += bytes([status]) + qstr(dsn) + qstr(a) + qstr(reason)
        if version >= 3:
            out += qstr(r[4] if len(r) > 4 else "")
    if version >= 2:
        out += qstr(envid)
    return out


def ipc():
    rcpts = [(1, "4.4.1", "bob@example.org", "connect to mx[192.0.2.1]:25: "
              "Connection timed out"), (0, "", "carol@example.net", "")]
    job = (u64(7) + u64(0x6A1F0C2B7D123) + istr("alice@example.com") + u64(2048) +
           dbl(1764373839.5) + dbl(1764373840.0) + dbl(1764373840.1) + u32(1) +
           u32(0) + u32(0) + istr("") + u32(1) + istr("mx1.example.com") +
           istr("192.0.2.1") + u32(25) + u32(0x10) + istr("") + u32(2) + u32(0) +
           istr("bob@example.org") + istr("rfc822;Bob+x@example.org") + u32(1) +
           istr("carol@example.net") + istr(""))
    seeds = {
        "hello": frame(40, u32(4242)) + frame(41, u32(2) + u64(1) + u64(2)),
        "reload": frame(2, istr("delivery_mode = direct\n") + istr("") +
                        istr("root: admin@example.net\n") + istr("") + istr("host.local")),
        "job": frame(80, job) + frame(81, u64(7) + u32(5) + b"hello") + frame(82, u64(7)),
        "smtp-results": frame(60, u32(99) + u32(100)) +
        frame(61, u64(7) + u32(0) + u32(5) + istr("5.1.1") + istr("550 5.1.1 no") +
              istr("mx1.example.com[192.0.2.1]:25")) + frame(62, u64(7) + u32(2) + istr("")),
        "dns": frame(90, u64(1) + u32(15) + istr("example.com")) +
        frame(91, u64(1) + u32(0) + u32(300) + istr("") + u32(2) + u32(10) +
              istr("mx1.example.com") + u32(20) + istr("mx2.example.com")),
        "admin": frame(105, u32(1) + u32(3) + istr("example.com") + u32(0)) +
        frame(106, u32(1) + istr("deferred") + istr("") + istr("") + u32(1) + u64(5)) +
        frame(130, u64(1) + u32(2) + u32(0) + istr("") + u32(1) + u64(9)) +
        frame(131, u64(1) + u32(0) + istr("1 message deleted")),
        "list": frame(121, u64(5) + u32(len(record(rcpts=rcpts))) + record(rcpts=rcpts)) +
        frame(120, u32(0) + istr("")),
        "secret": frame(22, u64(3) + istr("relay.example.com") + u32(587)) +
        frame(6, u64(3) + u32(1) + istr("alice") + istr("s3cret")),
        "bounce": frame(150, u32(77)) + frame(151, u64(1) + u64(5) + u32(1) +
                                              istr("alice@example.com") + dbl(1764373839.0) +
                                              istr("Subject: x\n") + istr("") + u32(1) +
                                              istr("bob@example.org") +
                                              istr("rfc822;bob@example.org") + istr("5.1.1") +
                                              istr("failed") + istr("") + istr("unknown")) +
        frame(152, u64(1) + u32(0) + u64(6) + istr("")),
        "empty-control": frame(3, b"") + frame(4, b"") + frame(5, b"") + frame(100, b"") +
        frame(102, b"") + frame(103, b"") + frame(104, b"") + frame(20, u32(1)) +
        frame(21, istr("queries=1 hits=0")),
        "unknown-type": frame(999, b""),
        "oversized": u32(0x7fffffff) + u32(1),
        "bad-count": frame(1, u32(1000)),
        "hidden-nul": frame(21, u32(3) + b"a\0b\0"),
    }
    for k, v in seeds.items():
        write("ipc", k, v)


def qmsg():
    rcpts = [(1, "4.4.1", "bob@example.org", "Connection timed out"),
             (4, "5.1.1", "x@example.net", "host mx said: 550 5.1.1 unknown"),
             (2, "2.0.0", "carol@example.net", "250 ok")]
    orcpts = [r + ("rfc822;Bob+lists=x@example.org",) if i == 0 else r
              for i, r in enumerate(rcpts)]
    write("qmsg", "v3", record(rcpts=orcpts))
    write("qmsg", "v2", record(version=2, rcpts=rcpts))
    write("qmsg", "v2-null-sender", record(version=2, rcpts=rcpts[:1], sender="", envid=""))
    write("qmsg", "v1", record(version=1, rcpts=rcpts[:2]))
    write("qmsg", "v4", bytes([4]) + record(rcpts=rcpts)[1:])
    write("qmsg", "bad-count", record(rcpts=rcpts)[:40] + u32(1000000) + qstr("a"))


def bounce_req(kind, rcpts, headers="From: alice@example.com\nSubject: report\n",
               envid="", arrival=1764373839.25):
    out = u64(1) + u64(0x6A1F0C2B7D123) + u32(kind) + istr("alice@example.com")
    out += dbl(arrival) + istr(headers) + istr(envid) + u32(len(rcpts))
    for r in rcpts:
        for f in r:
            out += istr(f)
    return out


def dsn():
    """Recipients: (address, ORCPT, status, action, remote MTA,
    diagnostic), as M_BOUNCE_REQ carries them."""
    write("dsn", "failure", bounce_req(1, [
        ("bob@example.org", "rfc822;Bob+list@example.org", "5.1.1", "failed",
         "mx1.example.org[192.0.2.1]:25",
         "host mx1.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: "
         "Recipient address rejected (in reply to RCPT TO command)"),
        ("carol@example.net", "", "5.4.6", "failed", "", "mail forwarding loop")]))
    write("dsn", "delay", bounce_req(2, [
        ("bob@example.org", "", "4.4.1", "delayed", "",
         "connect to mx1.example.org[192.0.2.1]:25: Connection timed out")],
        envid="QQ314159"))
    write("dsn", "long-diagnostic", bounce_req(1, [
        ("x@example.org", "utf-8;" + "\xc3\xa9" * 200, "5.0.0", "failed",
         "relay.example[192.0.2.9]:587",
         "host relay said: 554 " + "word " * 300 + "x" * 1200)],
        headers="Subject: " + "y" * 1500 + "\nX-8bit: \xe9t\xe9\n\nbody\n"))
    write("dsn", "crlf-diagnostic", bounce_req(1, [
        ("x@example.org", "", "5.7.1", "failed", "mx\r\nFinal-Recipient: rfc822; evil",
         "550 5.7.1 no\r\nAction: delivered\r\n")]))
    write("dsn", "crlf-orcpt", bounce_req(1, [
        ("x@example.org", "rfc822;x\r\nAction: delivered", "5.1.1", "failed", "",
         "550 no")]))
    write("dsn", "bad-status", bounce_req(1, [("x@y", "", "2.0.0", "failed", "", "")]))


# -- configuration files and tables -------------------------------------------------
def config():
    write("config", "smarthost", "delivery_mode = smarthost\n"
          "smart_host = [relay.example.net]:587, [relay2.example.net]:25\n")
    write("config", "full", "# ncmta.conf\nmyhostname = mx.example.com\n"
          "myorigin = $myhostname\nmydestination = $myhostname, localhost\n"
          "min_backoff = 5m\nmax_backoff = 2h\nmax_queue_lifetime = 5d\n"
          "message_size_limit = 10M\nqueue_map_size = 2G\nsmtp_port = 25\n"
          "smtp_tls_security_level = verify\nsmtp_sasl_auth = yes\n"
          "inet_protocols = ipv4\nlog_target = stderr\nsyslog_facility = local0\n"
          "dns_servers = 192.0.2.53:5353 [2001:db8::53]:53\n")
    write("config", "errors", "min_backoff = 2h\nmax_backoff = 5m\nbogus = 1\n"
          "smtp_connect_timeout = 5x\nqueue_directory = relative\nno equals sign\n"
          "smtp_tls_wrappermode = maybe\n")
    write("config", "crlf", "delivery_mode = direct\r\nhop_count_limit = 50\r\n")
    write("config", "listener", "smtpd_listen = 127.0.0.1:25, [::1]:25, 0.0.0.0:587\n"
          "mynetworks = 127.0.0.0/8, [::1]/128, 192.0.2.0/24, [2001:db8::]/32\n"
          "smtpd_client_connection_limit = 10\nsmtpd_timeout = 30s\n")


def routes():
    write("routes", "example",
          "# pattern            action\n"
          "example.com          direct                         # subdomains\n"
          ".example.com         direct\n"
          "partner.example      smarthost [mx.partner.example]:2525\n"
          "legacy.example       direct fallback [relay2.corp]:25\n"
          "blocked.example      reject 5.7.1 relaying to this domain is disabled\n"
          "slow.example         hold\n\n"
          "Secure.Example       smarthost relay.corp:587 tls=verify\n"
          "*                    smarthost [relay.corp]:587, [relay-b.corp]:587\n")
    write("routes", "errors", "example.com\nexample.com frob\nx.example smarthost\n"
          "y.example reject 2.0.0 no\nz.example hold now\nexample.com direct\n"
          "example.com direct\nw.example smarthost a:99999 tls=sometimes\n")


def aliases():
    write("aliases", "etc-aliases",
          "# /etc/aliases\nmailer-daemon: postmaster\npostmaster: root\n"
          "Root: admin@example.net\n\nteam: alice@example.org,\n  bob@example.org,\n"
          "   # a comment inside the entry\n\tcarol@example.org\n"
          "\"quoted name\"  :  \"john doe\"@example.com, <dave@example.com>\n"
          "self: self, other@example.org\na: b\nb: a\nc: d, e\n"
          "d: final@example.com\ne: final@example.com, x@example.com\n"
          "keep: \\keep, copy@example.com\ncrlf: crlf@example.com\r\n")
    write("aliases", "unsupported", "backup: |/usr/bin/backup, /var/mail/x, "
          ":include:/etc/list\nnews: \"|/usr/lib/news\"\n")
    write("aliases", "errors", "nocolon\n  continuation\nx@y: z\nempty:\n"
          "bad: a b c\ndup: x\ndup: y\n")
    write("aliases", "deep", "".join("a%d: a%d, b%d\nb%d: a%d\n" % (i, i + 1, i, i, i + 1)
                                     for i in range(25)))


def generic():
    write("generic", "example", "# generic_maps\nroot@host.local   server1@example.com\n"
          "www-data          web@example.com\n@host.local       @example.com\n"
          "Partner@Old.Example  new@partner.example\n")
    write("generic", "errors", "onefield\na b c\n@ x@y\nkey bare\n  indented x@y\n"
          "dup@x a@b\ndup@x c@d\n")


def secrets():
    write("secrets", "example",
          "# smart-host credentials\n[relay.example.com]:587   alice:s3cret\n\n"
          "   # an indented comment\nMail.Example.ORG:2525\tbob:pa:ss:word  \r\n"
          "[bracket.example]         carol:with spaces inside\n"
          "plain.example             dave:x#not-a-comment\n"
          "relay.example.com:587     second:never-used\n[::1]:2526                v6:pw\n"
          "last.example              eve:no-newline")
    write("secrets", "errors", "alice:s3cret!\n[relay.example.com]:587\n"
          "a,b user:pw\nhost :nouser\nhost user:\nhost us er:pw\n"
          "user:P4ss%word [relay.example]:587\n")


def hostlist():
    for i, h in enumerate(["[relay.example]:587", "[a.example]:2525, b.example:26,[c.example]",
                           "relay.example.net", "[2001:db8::1]:25", "[::1]",
                           "host:0, host:65536", "[unterminated:25", "[x]junk",
                           ",,, ,\t", ", ".join("h%d.example" % j for j in range(20))]):
        write("hostlist", "h%02d" % i, bytes([16]) + h.encode())


# -- HTTP request heads, as a Prometheus scraper and others send them -------
def http():
    heads = {
        "prometheus": "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9425\r\n"
                      "User-Agent: Prometheus/2.42.0\r\nAccept: "
                      "application/openmetrics-text;version=1.0.0,text/plain;"
                      "version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: "
                      "gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10"
                      "\r\n\r\n",
        "curl": "GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: "
                "curl/7.88.1\r\nAccept: */*\r\n\r\n",
        "lf": "GET /metrics?x=1 HTTP/1.0\n\n",
        "post": "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        "notfound": "GET /favicon.ico HTTP/1.1\r\n\r\n",
        "folded": "GET /metrics HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        "http2": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    }
    for k, v in heads.items():
        write("http", k, v)


# -- MTA-STS: _mta-sts TXT records and policy files (RFC 8461) ------------
def mtasts():
    inputs = {
        "txt-rfc": "v=STSv1; id=20160831085700Z;",
        "txt-ext": "v=STSv1 ;\tfoo=bar; id=abc123 ; x_y.z-w=!:<>~;",
        "txt-id32": "v=STSv1; id=" + "a" * 32,
        "txt-id33": "v=STSv1; id=" + "a" * 33,
        "txt-noid": "v=STSv1;",
        "txt-v2": "v=STSv2; id=abc",
        "txt-v1x": "v=STSv1x; id=abc",
        "txt-spf": "v=spf1 include:_spf.example.com -all",
        "txt-nul": "v=STSv1; id=ab\0c",
        "txt-twoids": "v=STSv1; id=a; id=b",
        "policy-rfc": "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                      "mx: *.example.net\r\nmx: backupmx.example.com\r\n"
                      "max_age: 604800\r\n",
        "policy-lf": "mode: testing\nmax_age: 86400\nversion: STSv1\n"
                     "mx: MX1.Example.ORG\nx-ext: free text: here\nmx: *.a.b",
        "policy-none": "version:STSv1\nmode:none\nmax_age:0",
        "policy-wsp": "version: STSv1 \t\nmode:\tnone  \r\nmax_age: 0031557600\t\n",
        "policy-many": "version: STSv1\nmode: enforce\nmax_age: 1\n" +
                       "".join("mx: mx%d.example\n" % i for i in range(33)),
        "policy-bad": "version: STSv1\nversion: STSv1\nmode: Enforce\nmax_age: 99999999999\n"
                      "mx: a.*.b\nmx: *\nmx: *.\nmode none\n: x\n\nx: caf\xc3\xa9\n",
        "policy-nomx": "version: STSv1\nmode: enforce\nmax_age: 31557601\n",
    }
    for k, v in inputs.items():
        write("mtasts", k, v)


def main():
    for f in (http, smtpreply, dnsmsg, maildrop, dropfile, normalize, smtpin, addr,
              rewrite, ipc, qmsg, dsn, config, routes, aliases, generic,
              secrets, hostlist, mtasts):
        f()


if __name__ == "__main__":
    sys.exit(main())
