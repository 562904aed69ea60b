"""Real network peers for ncmta's integration tests: SMTP sinks built on
aiosmtpd that record every message and can misbehave on demand (refuse
connections, 421/554 greetings, reject EHLO/HELO, 4xx/5xx per recipient,
drop the connection) or offer PIPELINING and a small SIZE. Each sink runs its own asyncio loop in a thread and
listens on loopback; bind address, TLS and AUTH are constructor options so
later suites (several sinks on 127.0.0.x, STARTTLS, AUTH) reuse the same
class. NameServer is a dnsmasq serving given MX/A/AAAA records,
ThrowawayCA makes certificates for TLS sinks, Credentials checks AUTH.
SignedZoneServer is a DNSSEC-signed zone (ldns-signzone) served by a
validating unbound that sets the AD bit, for DANE.
DirectNet puts sinks on 127.0.0.2, 127.0.0.3, ... on one shared port
behind a NameServer, for direct-mode delivery to mail exchangers.
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from aiosmtpd.smtp import SMTP, syntax


@dataclass
class Received:
    """One message as the sink accepted it."""
    mail_from: str  # "" for the null sender
    mail_options: List[str]  # e.g. ["BODY=8BITMIME", "SIZE=1234"]
    rcpt_tos: List[str]
    content: bytes  # dot-unstuffed, CRLF line ends, as sent
    helo: str  # "EHLO name" or "HELO name"
    peer: tuple
    tls: bool
    auth: Optional[str]
    when: float
    conn: int = 0  # which connection of the sink (1, 2, ...) carried it
    tls_version: Optional[str] = None  # e.g. "TLSv1.3" when tls

    def headers_body(self):
        """Split content into (header block, body) at the first empty line."""
        head, sep, body = self.content.partition(b"\r\n\r\n")
        return head + b"\r\n", body

    def header(self, name: str) -> List[str]:
        """Values of every header called name (unfolded, decoded loosely)."""
        head, _ = self.headers_body()
        out, cur = [], None
        for line in head.split(b"\r\n"):
            if line[:1] in (b" ", b"\t") and cur is not None:
                cur += b" " + line.strip()
                continue
            if cur is not None:
                out.append(cur)
            cur = line
        if cur:
            out.append(cur)
        vals = []
        for h in out:
            k, _, v = h.partition(b":")
            if k.strip().lower() == name.lower().encode():
                vals.append(v.strip().decode("utf-8", "replace"))
        return vals


@dataclass
class Behaviour:
    """How a sink (mis)behaves. Change fields at any time; new
    connections and commands pick them up."""
    # A full reply line sent instead of the normal 220 greeting, e.g.
    # "421 4.3.2 go away" (connection closed after it) or "554 no" (every
    # command but QUIT then gets 503, as RFC 5321 3.1 describes).
    greeting: Optional[str] = None
    ehlo_reply: Optional[str] = None  # e.g. "502 5.5.2 no EHLO"
    helo_reply: Optional[str] = None  # e.g. "502 5.5.2 no HELO either"
    mail_reply: Optional[str] = None  # e.g. "451 4.3.0 try later"
    # Per-recipient replies by exact address (lower-cased), or a callable
    # address -> reply or None (None: accept).
    rcpt_replies: Dict[str, str] = field(default_factory=dict)
    rcpt_hook: Optional[Callable[[str], Optional[str]]] = None
    data_reply: Optional[str] = None  # reply to the end of DATA
    # (mail_from, rcpt_tos) -> reply to the end of DATA, or None (accept);
    # mail_from is "" for the null sender
    data_hook: Optional[Callable[[str, List[str]], Optional[str]]] = None
    # Drop the TCP connection without a word: "connect", "ehlo", "mail",
    # "rcpt" or "data" (after the message was received, before the reply).
    drop_at: Optional[str] = None
    delay: float = 0.0  # seconds to wait before answering end of DATA
    # Offer DSN (RFC 3461) and take RET/ENVID/NOTIFY/ORCPT parameters,
    # recorded in Sink.dsn_log as (parameter, value) pairs.
    dsn: bool = False
    # Take and record those parameters without offering DSN in EHLO (where
    # aiosmtpd would answer 555), to see a client that sends them anyway.
    dsn_unannounced: bool = False
    # EHLO keywords left out of the reply, e.g. ["AUTH"]
    hide_ehlo: List[str] = field(default_factory=list)
    # Offer PIPELINING (RFC 2920). aiosmtpd reads one command line at a
    # time, so a client's pipelined group waits in its buffer; the sink
    # records in Sink.mail_pipelined whether more commands were already there
    # when MAIL was read.
    pipelining: bool = False
    # The SIZE offered in EHLO (RFC 1870), in octets; aiosmtpd refuses a
    # MAIL whose SIZE= is larger with 552.
    size_limit: int = 33554432


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host="127.0.0.1"):
    """A port nobody listens on right now (bind 0, read it, close)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def udp_tcp_pair(host="127.0.0.1", tries=50):
    """A UDP and a TCP socket bound to one port of host, as a name server
    listens: (udp, tcp, port). A port free for UDP may be taken for TCP by
    another test, so it tries again with another."""
    for _ in range(tries):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, port))
            return udp, tcp, port
        except OSError:
            udp.close()
            tcp.close()
    raise RuntimeError("no port free for both UDP and TCP on %s" % host)


def shared_port(hosts, tries=50):
    """A TCP port that is free on every address in hosts right now, so
    that sinks on 127.0.0.2, 127.0.0.3, ... can all listen on it (direct
    mode connects to one smtp_port on every exchanger)."""
    for _ in range(tries):
        port = free_port(hosts[0])
        socks = []
        try:
            for h in hosts:
                s = socket.socket(_family(h), socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no port free on all of %s" % (hosts,))


def _tls_version(session):
    """The protocol version of an encrypted aiosmtpd session, or None."""
    extra = session.ssl
    obj = extra.get("ssl_object") if isinstance(extra, dict) else None
    try:
        return obj.version() if obj is not None else None
    except (AttributeError, ValueError):
        return None


class _Handler:
    """aiosmtpd handler hooks: apply the behaviour, record the message."""

    def __init__(self, sink):
        self.sink = sink

    @property
    def b(self):
        return self.sink.behaviour

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.ncmta_helo = "EHLO " + hostname
        self.sink._note_helo(session.ncmta_helo)
        if self.b.drop_at == "ehlo":
            server.transport.close()
            return []
        if self.b.ehlo_reply:
            return [self.b.ehlo_reply]
        session.host_name = hostname
        if self.b.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        if self.b.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        hide = tuple(k.upper() for k in self.b.hide_ehlo)
        return [r for r in responses
                if not r[4:].upper().startswith(hide) or not hide]

    async def handle_HELO(self, server, session, envelope, hostname):
        session.ncmta_helo = "HELO " + hostname
        self.sink._note_helo(session.ncmta_helo)
        if self.b.drop_at == "ehlo":
            server.transport.close()
            return "421 closing"
        if self.b.helo_reply:
            return self.b.helo_reply
        session.host_name = hostname
        return "250 %s" % server.hostname

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        if self.b.drop_at == "mail":
            server.transport.close()
            return "421 closing"
        if self.b.mail_reply:
            return self.b.mail_reply
        envelope.mail_from = address  # the null sender is "<>" here
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if self.b.drop_at == "rcpt":
            server.transport.close()
            return "421 closing"
        self.sink._note_rcpt_params(address, rcpt_options)
        reply = self.b.rcpt_replies.get(address.lower())
        if reply is None and self.b.rcpt_hook is not None:
            reply = self.b.rcpt_hook(address)
        if reply:
            self.sink._note_rcpt(address, reply)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self.sink._note_rcpt(address, "250")
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.b.drop_at == "data":
            server.transport.close()
            return "421 closing"
        if self.b.delay:
            await asyncio.sleep(self.b.delay)
        if self.b.data_reply:
            return self.b.data_reply
        if self.b.data_hook is not None:
            reply = self.b.data_hook(
                "" if envelope.mail_from == "<>" else envelope.mail_from,
                list(envelope.rcpt_tos))
            if reply:
                return reply
        msg = Received(
            mail_from=("" if envelope.mail_from == "<>"
                       else envelope.mail_from),
            mail_options=list(envelope.mail_options),
            rcpt_tos=list(envelope.rcpt_tos),
            content=bytes(envelope.content),
            helo=getattr(session, "ncmta_helo", ""),
            peer=session.peer,
            tls=session.ssl is not None,
            auth=(session.auth_data if session.authenticated else None),
            when=time.time(),
            conn=getattr(server, "ncmta_conn", 0),
            tls_version=_tls_version(session))
        self.sink._record(msg)
        return "250 2.0.0 Ok: queued as %d" % len(self.sink.messages)


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP with a configurable greeting and connection count."""

    def __init__(self, sink, *args, **kw):
        self._sink = sink
        super().__init__(*args, **kw)

    def _getparams(self, params):
        result = super()._getparams(params)
        b = self._sink.behaviour
        if result is not None and (b.dsn or b.dsn_unannounced):
            for key in ("RET", "ENVID", "NOTIFY", "ORCPT"):
                if key in result:
                    self._sink.dsn_log.append((key, result.pop(key)))
        return result

    def connection_made(self, transport):
        # aiosmtpd calls this again after STARTTLS, on the same TCP
        # connection: count it once.
        upgrade = self._original_transport is not None
        if not upgrade:
            self._sink._note_connection(self)
        super().connection_made(transport)
        ssl_obj = transport.get_extra_info("ssl_object")
        if not upgrade and ssl_obj is not None:
            # Implicit TLS: aiosmtpd 1.4 only knows STARTTLS, so tell it
            # the session is encrypted (AUTH allowed, Received.tls true).
            self.session.ssl = {"ssl_object": ssl_obj}
            self._tls_protocol = True

    def connection_lost(self, exc):
        self._sink._note_close(self)
        super().connection_lost(exc)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg):
        # Every MAIL command, even one aiosmtpd refuses before the handler
        # (552 for a SIZE= over the limit), with whether the client had
        # already sent what follows it (a pipelined group).
        address = self._getaddr(
            self._strip_command_keyword("FROM:", arg or "") or "")[0]
        self._sink._note_mail(self, address or "",
                              len(self._reader._buffer) > 0)
        return await super().smtp_MAIL(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg):
        # Record every AUTH command, even one the server then refuses
        # (538 without TLS, 504 unknown mechanism), so a test can tell
        # that a client never tried.
        self._sink._note_auth(self, (arg or "").split()[:1])
        return await super().smtp_AUTH(arg)

    async def _handle_client(self):
        b = self._sink.behaviour
        if b.drop_at == "connect":
            self.transport.close()
            return
        if not b.greeting:
            return await super()._handle_client()
        await self.push(b.greeting)
        if b.greeting.startswith("421"):
            self.transport.close()
            return
        # A refusing server keeps the line open and answers 503 until
        # QUIT (RFC 5321 3.1).
        while self.transport is not None:
            try:
                line = await self._reader.readline()
            except (ConnectionError, asyncio.CancelledError):
                return
            if not line:
                self.transport.close()
                return
            if line.strip().upper().startswith(b"QUIT"):
                await self.push("221 2.0.0 Bye")
                self.transport.close()
                return
            await self.push("503 5.5.1 No service")


class Sink:
    """An SMTP server on host:port that records what it accepts.

    Created "down": the port is bound (reserved) but not listening, so a
    connection is refused. start() makes it listen, stop() makes it refuse
    again on the same port. Use as a context manager or call close().
    """

    def __init__(self, host="127.0.0.1", port=0, name="sink",
                 tls_context: Optional[ssl.SSLContext] = None,
                 implicit_tls=False, require_starttls=False,
                 authenticator=None, auth_required=False,
                 auth_require_tls=True, behaviour: Optional[Behaviour] = None,
                 auth_exclude=()):
        self.host = host
        self.name = name
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.require_starttls = require_starttls
        self.authenticator = authenticator
        self.auth_required = auth_required
        self.auth_require_tls = auth_require_tls
        # mechanisms not offered, e.g. ("PLAIN",) for a LOGIN-only server
        self.auth_exclude = list(auth_exclude)
        # (connection, mechanism, TLS on) per AUTH command received
        self.auth_log: List[tuple] = []
        self.behaviour = behaviour or Behaviour()
        self.messages: List[Received] = []
        self.rcpt_log: List[tuple] = []  # (address, reply) per RCPT
        # (address, {PARAMETER: value}) per RCPT that reached the handler;
        # aiosmtpd upper-cases parameters and values ("ORCPT": "RFC822;A@B")
        self.rcpt_params: List[tuple] = []
        self.connections = 0
        # [opened, closed or None] per connection, in time.time() seconds
        self.sessions: List[list] = []
        self.mail_log: List[tuple] = []  # (connection, sender) per MAIL
        # per MAIL: the client had sent more commands behind it
        self.mail_pipelined: List[bool] = []
        self.helo_log: List[str] = []  # every "EHLO name" / "HELO name"
        self.dsn_log: List[tuple] = []  # (parameter, value), Behaviour.dsn
        self._live = set()  # open sessions, cut by stop()
        self._syns = None  # SynCounter, see count_attempts()
        self._cond = threading.Condition()
        self._server = None
        self._sock = self._bind(port)
        self.port = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="sink-%s" % name, daemon=True)
        self._thread.start()

    def __repr__(self):
        return "<Sink %s %s:%d %d msgs>" % (self.name, self.host, self.port,
                                            len(self.messages))

    # -- life cycle ---------------------------------------------------------
    def _bind(self, port):
        s = socket.socket(_family(self.host), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, port))
        return s

    def _factory(self):
        return _SinkSMTP(self, _Handler(self), hostname="sink.%s" % self.name,
                         ident="ncmta-test-sink", decode_data=False,
                         enable_SMTPUTF8=True,
                         tls_context=(None if self.implicit_tls
                                      else self.tls_context),
                         require_starttls=self.require_starttls,
                         authenticator=self.authenticator,
                         auth_required=self.auth_required,
                         auth_require_tls=self.auth_require_tls,
                         auth_exclude_mechanism=self.auth_exclude,
                         data_size_limit=self.behaviour.size_limit,
                         timeout=30, loop=self._loop)

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(
            timeout)

    def start(self):
        """Listen (the sink comes "up")."""
        if self._server is not None:
            return self
        if self._sock is None:
            self._sock = self._bind(self.port)
        sock, self._sock = self._sock, None
        sock.listen(128)
        ssl_ctx = self.tls_context if self.implicit_tls else None

        async def serve():
            return await self._loop.create_server(self._factory, sock=sock,
                                                  ssl=ssl_ctx)
        self._server = self._call(serve())
        return self

    def stop(self):
        """Stop listening and close open sessions; the port stays reserved
        (bound, not listening) so connections are refused."""
        if self._server is not None:
            server, self._server = self._server, None

            async def down():
                server.close()
                for proto in list(self._live):
                    if proto.transport is not None:
                        proto.transport.abort()
                await server.wait_closed()
            try:
                self._call(down(), timeout=5)
            except Exception:
                pass
        if self._sock is None:
            self._sock = self._bind(self.port)
        return self

    def count_attempts(self):
        """From now on count connection attempts (TCP SYNs to host:port),
        including those refused while the sink is down, which
        `connections` cannot see; read them with attempts(). Needs root
        (SynCounter)."""
        if self._syns is None:
            self._syns = SynCounter(self.port, self.host)
        return self

    def attempts(self):
        """Connection attempts since count_attempts()."""
        return self._syns.value()

    def close(self):
        self.stop()
        if self._syns is not None:
            self._syns.close()
            self._syns = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

        async def cancel_all():
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self._call(cancel_all(), timeout=5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def up(self):
        return self._server is not None

    @property
    def hostspec(self):
        """This sink as an ncmta host spec: [127.0.0.1]:PORT."""
        return "[%s]:%d" % (self.host, self.port)

    # -- records ------------------------------------------------------------
    def _note_connection(self, proto):
        with self._cond:
            self.connections += 1
            proto.ncmta_conn = self.connections
            self.sessions.append([time.time(), None])
        self._live.add(proto)

    def _note_close(self, proto):
        with self._cond:
            n = getattr(proto, "ncmta_conn", 0)
            if n and self.sessions[n - 1][1] is None:
                self.sessions[n - 1][1] = time.time()
        self._live.discard(proto)

    def _note_auth(self, proto, words):
        with self._cond:
            self.auth_log.append((getattr(proto, "ncmta_conn", 0),
                                  words[0].upper() if words else "",
                                  proto._tls_protocol is not None))

    def _note_mail(self, proto, address, pipelined=False):
        with self._cond:
            self.mail_log.append((getattr(proto, "ncmta_conn", 0), address))
            self.mail_pipelined.append(pipelined)

    def open_sessions(self):
        """Connections open right now."""
        with self._cond:
            return sum(1 for s in self.sessions if s[1] is None)

    def session_times(self):
        """[(opened, closed or None)] of every connection so far."""
        with self._cond:
            return [tuple(s) for s in self.sessions]

    def peak_sessions(self):
        """The most connections that were open at one time."""
        return peak_overlap(self.session_times())

    def _note_helo(self, line):
        with self._cond:
            self.helo_log.append(line)

    def _note_rcpt(self, address, reply):
        with self._cond:
            self.rcpt_log.append((address, reply))

    def _note_rcpt_params(self, address, options):
        params = dict(o.partition("=")[::2] for o in options)
        with self._cond:
            self.rcpt_params.append((address, params))

    def rcpt_param(self, address, name):
        """The value of parameter name (upper case) on the last RCPT TO
        for address, "" for one without a value, None when not given."""
        with self._cond:
            for a, params in reversed(self.rcpt_params):
                if a.lower() == address.lower():
                    return params.get(name)
        return None

    def _record(self, msg):
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def snapshot(self) -> List[Received]:
        with self._cond:
            return list(self.messages)

    def count(self):
        with self._cond:
            return len(self.messages)

    def wait_count(self, n, timeout):
        """Wait until at least n messages arrived; True if they did."""
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True


def peak_overlap(intervals):
    """The most of [(start, end or None)] intervals open at one instant
    (an interval that ends when another starts does not overlap it)."""
    events = []
    for start, end in intervals:
        events.append((start, 1))
        if end is not None:
            events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


class RcptScript:
    """A Behaviour.rcpt_hook that answers each address from its own list
    of replies, one per RCPT, the last one repeated: {"a@x": ["450 4.2.1
    busy", None]} defers a@x once and accepts it from then on (None =
    accept). Addresses not listed are accepted; tries[address] counts the
    RCPTs seen, times[address] lists when (time.time())."""

    def __init__(self, script):
        self.script = {a.lower(): list(r) for a, r in script.items()}
        self.tries = {}
        self.times = {}
        self._lock = threading.Lock()

    def __call__(self, address):
        a = address.lower()
        with self._lock:
            n = self.tries.get(a, 0)
            self.tries[a] = n + 1
            self.times.setdefault(a, []).append(time.time())
        replies = self.script.get(a)
        if not replies:
            return None
        return replies[min(n, len(replies) - 1)]


class SynCounter:
    """Counts TCP connection attempts (SYN segments) to a loopback port
    with a packet socket on lo, so a port that refuses connections can
    still tell how often ncmta knocked. Needs root (CAP_NET_RAW)."""

    ETH_P_ALL = 3
    PACKET_OUTGOING = 4  # lo shows each packet twice; count one copy

    def __init__(self, port, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.count = 0
        self._lock = threading.Lock()
        self._stop = False
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(self.ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="syn-%d" % port)
        self._thread.start()

    def _run(self):
        import struct
        dst = socket.inet_aton(self.host)
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] != self.PACKET_OUTGOING or len(data) < 54 or \
                    data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            ihl = (ip[0] & 0x0f) * 4
            if ip[9] != 6 or ip[16:20] != dst or len(ip) < ihl + 14:
                continue
            tcp = ip[ihl:]
            flags = tcp[13]
            if struct.unpack("!H", tcp[2:4])[0] == self.port and \
                    flags & 0x02 and not flags & 0x10:
                with self._lock:
                    self.count += 1

    def value(self):
        with self._lock:
            return self.count

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def skip_unless_attempts_countable():
    """Skip the calling test where Sink.count_attempts() cannot work: a
    packet socket needs root."""
    if os.getuid() != 0:
        import pytest
        pytest.skip("counting refused connections needs root")


class NameServer:
    """dnsmasq answering only from the records given here, on 127.0.0.1 and
    a free port, logging every query (count them with queries()). Names
    under `local` domains that have no record get NXDOMAIN.

    records: ("MX", domain, pref, host), ("A", name, ip), ("AAAA", name,
    ip), ("NULLMX", domain) (RFC 7505 "0 ."), ("TXT", name, string...)
    (one record of those character-strings, none holding a comma).
    """

    def __init__(self, base_dir, records=(), local=("example",), ttl=30,
                 host="127.0.0.1", port=None, tag="dnsmasq"):
        self.host = host
        self.logfile = os.path.join(base_dir, "%s-queries.log" % tag)
        args = ["/usr/sbin/dnsmasq", "--keep-in-foreground",
                "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
                "--listen-address=" + host, "--bind-interfaces",
                "--pid-file=", "--log-queries",
                "--log-facility=" + self.logfile, "--local-ttl=%d" % ttl]
        if os.getuid() == 0:
            args.append("--user=root")
        args += ["--local=/%s/" % d for d in local]
        for r in records:
            kind = r[0].upper()
            if kind == "MX":
                args.append("--mx-host=%s,%s,%d" % (r[1], r[3], r[2]))
            elif kind in ("A", "AAAA"):
                args.append("--host-record=%s,%s" % (r[1], r[2]))
            elif kind == "NULLMX":
                args.append("--dns-rr=%s,15,000000" % r[1])
            elif kind == "TXT":
                args.append("--txt-record=%s,%s" % (r[1], ",".join(r[2:])))
            else:
                raise ValueError("unknown record kind %r" % (r,))
        for _ in range(5):
            self.port = port or free_port(host)
            self.proc = subprocess.Popen(args + ["--port=%d" % self.port],
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            if self._answers():
                return
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError("dnsmasq did not start: %s" % (
            self.proc.stderr.read().decode(errors="replace")))

    def _answers(self, timeout=5):
        import dns.message
        import dns.query
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                dns.query.udp(dns.message.make_query("probe.invalid", "A"),
                              self.host, timeout=0.3, port=self.port)
                return True
            except Exception:
                time.sleep(0.05)
        return False

    @property
    def spec(self):
        """This server as a dns_servers entry: IP:port."""
        return "%s:%d" % (self.host, self.port)

    def queries(self, qtype=None, name=None):
        """Queries received so far: [(type, name)], optionally filtered."""
        out = []
        try:
            with open(self.logfile, errors="replace") as f:
                for line in f:
                    m = re.search(r"query\[(\w+)\] (\S+) from", line)
                    if m and (qtype is None or m.group(1) == qtype) and \
                            (name is None or m.group(2) == name):
                        out.append((m.group(1), m.group(2)))
        except OSError:
            pass
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class SilentNameServer:
    """A UDP and TCP port on which a name server would listen but that
    never answers: for DNS time-out tests."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.udp, self.tcp, self.port = udp_tcp_pair(host)
        self.tcp.listen(1)

    @property
    def spec(self):
        return "%s:%d" % (self.host, self.port)

    def close(self):
        self.udp.close()
        self.tcp.close()


class ThrowawayCA:
    """A throwaway certificate authority made with the openssl command, and
    server certificates it signs, for TLS peers. ca_file is what ncmta's
    smtp_tls_CAfile should name to trust it."""

    def __init__(self, base_dir, name="ncmta test CA"):
        self.dir = os.path.join(base_dir, "ca")
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca_file = os.path.join(self.dir, "ca.pem")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca_file,
                      "-days", "2", "-subj", "/CN=%s" % name,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.ca_file, 0o644)

    def _openssl(self, *args):
        subprocess.run(("openssl",) + args, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def server_cert(self, names, tag=None):
        """(cert file, key file) for a server known by names (DNS names or
        IP addresses, the first also as the CN)."""
        tag = tag or names[0].replace("*", "star")
        key = os.path.join(self.dir, tag + ".key")
        csr = os.path.join(self.dir, tag + ".csr")
        crt = os.path.join(self.dir, tag + ".pem")
        ext = os.path.join(self.dir, tag + ".ext")
        san = ",".join(("IP:%s" if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", n)
                        else "DNS:%s") % n for n in names)
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                      "-out", csr, "-subj", "/CN=%s" % names[0])
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_file,
                      "-CAkey", self.ca_key, "-CAcreateserial", "-out", crt,
                      "-days", "2", "-extfile", ext)
        return crt, key

    def server_context(self, names):
        """An ssl.SSLContext for a Sink (tls_context=...) serving names."""
        crt, key = self.server_cert(names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        return ctx


class PolicyServer:
    """An HTTPS server for MTA-STS policy files (RFC 8461 3.3) on
    127.0.0.1 and a free port, in a thread: GET of
    /.well-known/mta-sts.txt answers `policy` (text/plain, 200; set
    `status`, `ctype` or `body` to misbehave); every request is recorded
    as (Host header, path) in `requests`."""

    def __init__(self, ctx, policy=""):
        import http.server
        import threading
        self.policy, self.status, self.ctype, self.body = (
            policy, 200, "text/plain", None)
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append((self.headers.get("Host"), self.path))
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                body = owner.body if owner.body is not None else \
                    owner.policy.encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", owner.ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Credentials:
    """An aiosmtpd authenticator (Sink(authenticator=...)) accepting one
    user and password for AUTH PLAIN and LOGIN; records every attempt as
    (mechanism, user, accepted)."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.attempts = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword
        ok = False
        user = None
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            ok = (auth_data.login == self.user.encode() and
                  auth_data.password == self.password.encode())
        self.attempts.append((mechanism, user, ok))
        return AuthResult(success=ok, handled=False,
                          auth_data=user if ok else None)


class DirectNet:
    """The peers of a direct-mode test: SMTP sinks on 127.0.0.2, 127.0.0.3,
    ... (and ::1) that all listen on one port, the smtp_port ncmta connects
    to on every exchanger, and the name server ncmta's resolver asks
    (dnsmasq with the test's records, or one that never answers)."""

    ADDRS = tuple("127.0.0.%d" % i for i in range(2, 12))

    def __init__(self, base_dir):
        self.base = base_dir
        hosts = list(self.ADDRS) + (["::1"] if has_ipv6() else [])
        self.port = shared_port(hosts)
        self.sinks: List[Sink] = []
        self.ns = None
        self._servers = []

    def sink(self, addr, up=True, **kw):
        """A Sink on addr:port (down, i.e. refusing connections, when
        up=False)."""
        kw.setdefault("name", addr)
        s = Sink(host=addr, port=self.port, **kw)
        self.sinks.append(s)
        return s.start() if up else s

    def dns(self, records=(), ttl=30, **kw):
        """Start dnsmasq with records (see NameServer); it becomes the
        name server of settings()."""
        kw.setdefault("tag", "dnsmasq%d" % len(self._servers))
        self.ns = NameServer(self.base, records, ttl=ttl, **kw)
        self._servers.append(self.ns)
        return self.ns

    def signed_dns(self, zone, records, **kw):
        """Start a SignedZoneServer for zone with records; it becomes
        the name server of settings()."""
        kw.setdefault("tag", "unbound%d" % len(self._servers))
        self.ns = SignedZoneServer(self.base, zone, records, **kw)
        self._servers.append(self.ns)
        return self.ns

    def scripted_dns(self, answer):
        """A ScriptedNameServer becomes the one of settings()."""
        self.ns = ScriptedNameServer(answer)
        self._servers.append(self.ns)
        return self.ns

    def silent_dns(self):
        """A name server that never answers becomes the one of settings()."""
        self.ns = SilentNameServer()
        self._servers.append(self.ns)
        return self.ns

    def hostspec(self, addr, port=None):
        """[addr]:port, a host spec for smart_host or a route."""
        return "[%s]:%d" % (addr, port or self.port)

    def settings(self, **extra):
        """Instance settings for direct mode against these peers."""
        s = {"delivery_mode": "direct", "smtp_port": str(self.port),
             "inet_protocols": "ipv4"}
        if self.ns is not None:
            s["dns_servers"] = self.ns.spec
        s.update(extra)
        return s

    def query_log(self):
        """Every name server's query log, for a failed test's report."""
        out = []
        for ns in self._servers:
            path = getattr(ns, "logfile", None)
            if path and os.path.exists(path):
                with open(path, errors="replace") as f:
                    out += [line.rstrip() for line in f if "query[" in line]
        return out

    def close(self):
        for s in self.sinks:
            s.close()
        for ns in self._servers:
            ns.close()


class ScriptedNameServer:
    """A UDP name server in a thread whose every answer comes from
    answer(query) -> dns.message.Message (or None: stay silent), for what
    dnsmasq will not do: SERVFAIL, negative answers carrying an SOA.
    Every question is recorded as (type, name) in queries()."""

    def __init__(self, answer, host="127.0.0.1"):
        self.host = host
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._queries = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="dns-%d" % self.port)
        self._thread.start()

    def _serve(self):
        import dns.message
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
                qn = q.question[0]
                with self._lock:
                    self._queries.append((dns.rdatatype.to_text(qn.rdtype),
                                          qn.name.to_text(True)))
                r = self.answer(q)
                if r is not None:
                    self.sock.sendto(r.to_wire(), peer)
            except Exception:
                continue

    @property
    def spec(self):
        return "%s:%d" % (self.host, self.port)

    def queries(self, qtype=None, name=None):
        with self._lock:
            return [q for q in self._queries
                    if (qtype is None or q[0] == qtype) and
                    (name is None or q[1] == name)]

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    @staticmethod
    def servfail(query):
        import dns.message
        import dns.rcode
        r = dns.message.make_response(query)
        r.set_rcode(dns.rcode.SERVFAIL)
        return r

    @staticmethod
    def nxdomain_with_soa(minimum, zone="example."):
        """An answer function: NXDOMAIN for every name, with the zone's
        SOA (negative TTL = minimum, RFC 2308) in the authority section."""
        def answer(query):
            import dns.message
            import dns.rcode
            import dns.rrset
            r = dns.message.make_response(query)
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.flags |= 0x0400  # AA
            r.authority.append(dns.rrset.from_text(
                zone, minimum, "IN", "SOA",
                "ns.%s hostmaster.%s 1 3600 600 86400 %d"
                % (zone, zone, minimum)))
            return r
        return answer


class SignedZoneServer:
    """A DNSSEC-signed zone and a validating resolver for it: the zone is
    written from records (zone-file lines relative to the zone, e.g.
    "a IN MX 10 mx1.a", "_25._tcp.mx1.a IN TLSA 3 1 1 ABCD..."), signed
    with a key pair made by ldns-keygen (ldns-signzone, NSEC), and served
    by one unbound process on 127.0.0.1 and a free port: an auth-zone for
    its own iterator, validated against the zone's DS as trust anchor, so
    its replies carry the AD bit as a validating recursive server's do.
    Names outside the zone go to a stub on a closed loopback port: it
    never asks anyone else. bogus=("owner", "TYPE") breaks the signature
    of that RRset (a DNSSEC-bogus answer: SERVFAIL). Stopped by its pid.
    """

    def __init__(self, base_dir, zone, records, bogus=None, tag="unbound",
                 host="127.0.0.1"):
        self.host = host
        self.zone = zone.rstrip(".")
        self.dir = os.path.join(base_dir, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.logfile = os.path.join(self.dir, "unbound.log")
        self.proc = None
        ds = self._sign(records, bogus)
        for _ in range(5):
            self.port = free_port(host)
            conf = self._config(ds)
            self.proc = subprocess.Popen(
                ["/usr/sbin/unbound", "-d", "-c", conf],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._answers():
                return
            self._stop()
        raise RuntimeError("unbound did not start: %s" % self._log_tail())

    def _run(self, *argv):
        return subprocess.run(argv, cwd=self.dir, check=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE).stdout.decode().strip()

    def _sign(self, records, bogus):
        z = self.zone
        lines = ["$ORIGIN %s." % z, "$TTL 300",
                 "@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60"
                 % (z, z), "@ IN NS ns.%s." % z, "ns IN A 127.0.0.1"]
        with open(os.path.join(self.dir, "zone"), "w") as f:
            f.write("\n".join(lines + list(records)) + "\n")
        ksk = self._run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", z)
        zsk = self._run("ldns-keygen", "-a", "ECDSAP256SHA256", z)
        self._run("ldns-signzone", "-f", "zone.signed", "-o", z, "zone",
                  ksk, zsk)
        if bogus is not None:
            self._break(bogus)
        self.ds_file = os.path.join(self.dir, ksk + ".ds")
        os.chmod(self.dir, 0o755)
        return self.ds_file

    def _break(self, bogus):
        """Flip one character of the signature over (owner, type)."""
        owner = bogus[0].rstrip(".") + "."
        path = os.path.join(self.dir, "zone.signed")
        out, hit = [], False
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) > 8 and w[0] == owner and w[3] == "RRSIG" and \
                        w[4] == bogus[1]:
                    sig = w[-1]
                    w[-1] = sig[:10] + ("A" if sig[10] != "A" else "B") + \
                        sig[11:]
                    line = "\t".join(w) + "\n"
                    hit = True
                out.append(line)
        if not hit:
            raise ValueError("no RRSIG for %r in the signed zone" % (bogus,))
        with open(path, "w") as f:
            f.writelines(out)

    def _config(self, ds):
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write("""server:
  interface: %(host)s
  port: %(port)d
  username: ""
  chroot: ""
  directory: "%(dir)s"
  pidfile: ""
  use-syslog: no
  logfile: "%(log)s"
  log-queries: yes
  verbosity: 1
  num-threads: 1
  so-reuseport: no
  do-ip6: no
  do-not-query-localhost: no
  module-config: "validator iterator"
  trust-anchor-file: "%(ds)s"
  local-zone: "test." nodefault
  local-zone: "example." nodefault
auth-zone:
  name: "%(zone)s."
  zonefile: "%(dir)s/zone.signed"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
stub-zone:
  name: "."
  stub-addr: 127.0.0.1@1
remote-control:
  control-enable: no
""" % {"host": self.host, "port": self.port, "dir": self.dir,
                    "log": self.logfile, "ds": ds, "zone": self.zone})
        return conf

    def _answers(self, timeout=10):
        import dns.message
        import dns.query
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                r = dns.query.udp(dns.message.make_query(self.zone, "SOA"),
                                  self.host, timeout=0.3, port=self.port)
                if r.answer:
                    return True
            except Exception:
                pass
            time.sleep(0.05)
        return False

    def _log_tail(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return self.proc.stderr.read().decode(errors="replace")

    @property
    def spec(self):
        return "%s:%d" % (self.host, self.port)

    def queries(self, qtype=None, name=None):
        """Questions asked so far: [(type, name)] (name without the
        trailing dot), optionally filtered."""
        out = []
        try:
            with open(self.logfile, errors="replace") as f:
                for line in f:
                    m = re.search(r"info: \S+ (\S+)\. (\w+) IN$", line.strip())
                    if m and (qtype is None or m.group(2) == qtype) and \
                            (name is None or m.group(1) == name):
                        out.append((m.group(2), m.group(1)))
        except OSError:
            pass
        return out

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def close(self):
        self._stop()
