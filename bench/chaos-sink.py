#!/usr/bin/python3
"""The recording sink of bench/chaos: a fast SMTP server (PIPELINING, one
write per batch of replies, like bench/sink.py) that keeps, for every
message it accepts, the token of its Subject ("chaos-token-XXX") and the
ncmta queue ID of its Received: field ("id QID;").

stdout: "PORT n" once listening, then "M token qid time" per message
accepted (token or qid "-" when missing), "CONNECTIONS n" at the end.
With --log FILE each acceptance is also appended to FILE (one O_APPEND
write per line, as ncmta writes its log) as "QID: received token=TOKEN",
so that the sink's 250s, the daemons' lines and the kills bench/chaos
notes are in one order. stdin takes "DELAY seconds" lines (the wait
before each final 250, 0 at start); its end stops the sink.
"""

import argparse
import asyncio
import os
import re
import sys
import time

EHLO = (b"250-sink.chaos\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
        b"250-SIZE 104857600\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n")
HEAD_KEEP = 8192
TOKEN_RE = re.compile(rb"chaos-token-([A-Za-z0-9_.-]+)")
QID_RE = re.compile(rb"\bid ([0-9A-F]{16})\b")


class State:
    delay = 0.0
    connections = 0
    count = 0
    logfd = -1


def accepted(head):
    tok = TOKEN_RE.search(head)
    qid = QID_RE.search(head)
    tok = tok.group(1).decode() if tok else "-"
    qid = qid.group(1).decode() if qid else "-"
    State.count += 1
    now = time.time()
    sys.stdout.write("M %s %s %.6f\n" % (tok, qid, now))
    if State.logfd >= 0:
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime(now))
        os.write(State.logfd, ("%s chaos chaos/sink[%d]: %s: received "
                               "token=%s\n" % (stamp, os.getpid(), qid,
                                               tok)).encode())


class SinkProtocol(asyncio.Protocol):
    """One SMTP session: commands until DATA, then the content until
    CRLF.CRLF (its first HEAD_KEEP octets kept). While a delayed final
    reply is pending, input waits in the buffer."""

    def connection_made(self, transport):
        State.connections += 1
        self.t = transport
        self.buf = b""
        self.head = b""
        self.in_data = False
        self.waiting = False
        transport.write(b"220 sink.chaos ESMTP\r\n")

    def data_received(self, data):
        self.buf += data
        if not self.waiting:
            self.process()

    def resume(self, out):
        self.waiting = False
        if not self.t.is_closing():
            self.t.write(b"".join(out))
            self.process()

    def process(self):
        out = []
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    if len(self.head) < HEAD_KEEP:
                        self.head += self.buf[:HEAD_KEEP - len(self.head)]
                    if len(self.buf) > 4:
                        self.buf = self.buf[-4:]
                    break
                if len(self.head) < HEAD_KEEP:
                    self.head += self.buf[:min(end, HEAD_KEEP -
                                               len(self.head))]
                self.buf = self.buf[end + 5:]
                self.in_data = False
                accepted(self.head)
                out.append(b"250 2.0.0 Ok: counted %d\r\n" % State.count)
                if State.delay > 0:
                    self.waiting = True
                    asyncio.get_running_loop().call_later(
                        State.delay, self.resume, out)
                    return
                continue
            nl = self.buf.find(b"\n")
            if nl < 0:
                break
            line, self.buf = self.buf[:nl + 1], self.buf[nl + 1:]
            if self.command(line, out):
                return
        if out:
            self.t.write(b"".join(out))

    def command(self, line, out):
        verb = line[:4].upper()
        if verb == b"EHLO":
            out.append(EHLO)
        elif verb == b"DATA":
            self.in_data = True
            self.head = b""
            self.buf = b"\r\n" + self.buf
            out.append(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            out.append(b"221 2.0.0 Bye\r\n")
            self.t.write(b"".join(out))
            out.clear()
            self.t.close()
            return True
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            out.append(b"250 2.0.0 Ok\r\n")
        else:
            out.append(b"502 5.5.2 not here\r\n")
        return False


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", help="also note each message in this file")
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args()
    State.delay = a.delay
    if a.log:
        State.logfd = os.open(a.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                              0o644)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, a.host, a.port,
                                      backlog=512)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    pending = [b""]

    def on_stdin():
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            stop.set()
            return
        pending[0] += data
        *lines, pending[0] = pending[0].split(b"\n")
        for line in lines:
            f = line.split()
            if f[:1] == [b"DELAY"] and len(f) == 2:
                State.delay = float(f[1])
    loop.add_reader(sys.stdin.fileno(), on_stdin)
    while not stop.is_set():
        sys.stdout.flush()
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except asyncio.TimeoutError:
            pass
    server.close()
    print("CONNECTIONS %d" % State.connections, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
