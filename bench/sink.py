#!/usr/bin/python3
"""A fast SMTP sink for benchmarks: accepts everything, supports PIPELINING
(replies to a batch of commands in one write), counts messages and throws
them away. It prints "PORT n" once listening, then "COUNT n t" (t: time of
the last message, Unix seconds) whenever the count changed, at most every
0.1 s. Stops on SIGTERM/SIGINT or when stdin closes.
"""

import argparse
import asyncio
import signal
import sys
import time

EHLO = (b"250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
        b"250-SIZE 104857600\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n")


class Stats:
    count = 0
    last = 0.0
    connections = 0


class SinkProtocol(asyncio.Protocol):
    """One SMTP session: line commands until DATA, then raw octets until
    the CRLF.CRLF terminator. Replies are collected per received chunk
    and written once, which is what PIPELINING clients expect."""

    def connection_made(self, transport):
        Stats.connections += 1
        self.t = transport
        self.buf = b""
        self.in_data = False
        transport.write(b"220 sink.bench ESMTP\r\n")

    def data_received(self, data):
        self.buf += data
        out = []
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    # Keep only what could still hold the terminator.
                    if len(self.buf) > 4:
                        self.buf = self.buf[-4:]
                    break
                self.buf = self.buf[end + 5:]
                self.in_data = False
                Stats.count += 1
                Stats.last = time.time()
                out.append(b"250 2.0.0 Ok: counted %d\r\n" % Stats.count)
                continue
            nl = self.buf.find(b"\n")
            if nl < 0:
                break
            line, self.buf = self.buf[:nl + 1], self.buf[nl + 1:]
            if self.command(line, out):
                break
        if out:
            self.t.write(b"".join(out))

    def command(self, line, out):
        """Answer one command into out; True when the session ends."""
        verb = line[:4].upper()
        if verb == b"EHLO":
            out.append(EHLO)
        elif verb == b"DATA":
            self.in_data = True
            # The DATA terminator may directly follow a message that
            # starts with ".\r\n" only after the CRLF we just consumed.
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


async def report(stop):
    shown = -1
    while not stop.is_set():
        if Stats.count != shown:
            shown = Stats.count
            print("COUNT %d %.6f" % (shown, Stats.last), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except asyncio.TimeoutError:
            pass
    print("COUNT %d %.6f" % (Stats.count, Stats.last), flush=True)
    print("CONNECTIONS %d" % Stats.connections, flush=True)


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, a.host, a.port,
                                      backlog=512)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: (
        sys.stdin.buffer.raw.read(4096) or stop.set()))
    await report(stop)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
