"""Hostile network peers for ncmta's tests: servers that misbehave on
purpose, one SMTP phase or one DNS answer at a time, so a test can show
that a time-out holds, that a session ends, that memory stays bounded.

* HostileSMTP - an SMTP server (plain sockets, one thread per connection,
  on a free loopback port) whose every phase (connect, greeting, ehlo,
  mail, rcpt, data, body, final, quit) can stall, trickle bytes, send an
  endless multi-line reply or an endless line, drop the connection, or
  (the body) read at a limited rate through a small receive buffer. With
  no misbehaviour it is a plain recording sink.
* Knocks - a port that refuses, resets or accepts-and-closes every
  connection, and counts the attempts.
* HostileDNS - a UDP and TCP name server answering garbage (random bytes,
  wrong IDs, truncated messages, compression loops, huge answers,
  SERVFAIL, silence) or, in mode "valid", real MX/A/AAAA answers from a
  table, so a test can point ncmta at it with dns_servers = 127.0.0.1:PORT.

Only the standard library is used (Knocks("refuse") borrows
peers.SynCounter, which needs root). Every server is stopped by close() (or
a with block); each records what happened with wall-clock times
(time.time()). Run this file to self-test: python3 hostile.py
"""

import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from peers import udp_tcp_pair

# -- what a phase may do --------------------------------------------------------


@dataclass
class Stall:
    """Never answer (the connection stays open; what the client sends is
    read and thrown away). As `connect`: the listening socket's backlog is
    filled by the server itself and never accepted, so a new connection
    attempt gets no SYN-ACK."""


@dataclass
class Trickle:
    """Send the phase's reply at `bps` bytes per second. With `lines`
    (None: for ever) continuation lines "CODE-trickle k" come first, so a
    client reading byte by byte never gets a complete reply in time."""
    bps: float = 1.0
    lines: Optional[int] = None


@dataclass
class Endless:
    """A reply that never ends, as fast as the client reads (or `lps`
    lines per second): "CODE-endless k" lines for ever, or with
    `one_line` a single line that never gets its CRLF."""
    lps: Optional[float] = None
    one_line: bool = False


@dataclass
class Drop:
    """Close the connection at this phase instead of answering; for the
    body, after `after` octets of it were read. `rst` makes it a reset
    (SO_LINGER 0) rather than a FIN."""
    after: int = 0
    rst: bool = False


@dataclass
class SlowRead:
    """Body only: read the message content at `bps` bytes per second
    through a receive buffer of `rcvbuf` bytes (set on the listening
    socket, so it applies to connections accepted from then on), then
    answer normally."""
    bps: float = 1024.0
    rcvbuf: int = 4096


@dataclass
class Reply:
    """Answer this phase with the given line instead of the normal one
    (e.g. "451 4.3.0 try later")."""
    line: str


PHASES = ("connect", "greeting", "ehlo", "mail", "rcpt", "data", "body",
          "final", "quit")

NORMAL = {
    "greeting": (220, "220 hostile.test ESMTP"),
    "ehlo": (250, "250-hostile.test\r\n250-8BITMIME\r\n250 SIZE 0"),
    "helo": (250, "250 hostile.test"),
    "mail": (250, "250 2.1.0 Ok"),
    "rcpt": (250, "250 2.1.5 Ok"),
    "data": (354, "354 End data with <CR><LF>.<CR><LF>"),
    "final": (250, "250 2.0.0 Ok: accepted"),
    "quit": (221, "221 2.0.0 Bye"),
    "rset": (250, "250 2.0.0 Ok"),
    "noop": (250, "250 2.0.0 Ok"),
}


@dataclass
class Session:
    """One TCP connection to a HostileSMTP."""
    n: int
    peer: tuple
    opened: float
    closed: Optional[float] = None
    phase: str = "greeting"  # the last phase reached
    ended_by: str = ""  # "client", "server" (a Drop), "stop", "error"
    bytes_in: int = 0
    bytes_out: int = 0
    body_bytes: int = 0
    commands: List[str] = field(default_factory=list)  # first 50
    messages: int = 0  # complete messages accepted (250 sent)

    @property
    def duration(self):
        return (self.closed or time.time()) - self.opened


class _Closed(Exception):
    """The client closed, the server was stopped, or a Drop was done."""


class _Conn:
    """The I/O of one session, every wait bounded by the server's stop
    flag (checked at least every 0.2 s)."""

    def __init__(self, server, sock, sess):
        self.srv, self.sock, self.sess = server, sock, sess
        self.buf = b""
        sock.settimeout(0.2)

    def alive(self):
        return not self.srv._stopping.is_set()

    def send(self, data):
        view = memoryview(data)
        while view:
            if not self.alive():
                raise _Closed("stop")
            try:
                n = self.sock.send(view)
            except socket.timeout:
                continue
            except OSError:
                raise _Closed("client")
            view = view[n:]
            self.sess.bytes_out += n

    def recv_some(self, limit=65536):
        """Up to limit octets (at least one), or _Closed."""
        while True:
            if not self.alive():
                raise _Closed("stop")
            try:
                data = self.sock.recv(limit)
            except socket.timeout:
                continue
            except OSError:
                raise _Closed("client")
            if not data:
                raise _Closed("client")
            self.sess.bytes_in += len(data)
            return data

    def pause(self, seconds):
        """Sleep, but notice a stop or (reading what arrives) a client
        that closed the connection."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if not self.alive():
                raise _Closed("stop")
            try:
                self.sock.settimeout(min(left, 0.2))
                data = self.sock.recv(65536, socket.MSG_PEEK)
                if not data:
                    raise _Closed("client")
                # keep what the client sent for the next command
                data = self.sock.recv(65536)
                self.sess.bytes_in += len(data)
                self.buf += data
            except socket.timeout:
                pass
            except OSError:
                raise _Closed("client")
            finally:
                try:
                    self.sock.settimeout(0.2)
                except OSError:
                    pass

    def sleep(self, seconds):
        """Sleep without reading (a slow reader), noticing a stop."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self.alive():
                raise _Closed("stop")
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def line(self):
        """One command line (CRLF or LF ended), without the line end."""
        while b"\n" not in self.buf:
            if len(self.buf) > 65536:
                raise _Closed("error")
            self.buf += self.recv_some()
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("latin-1")


class HostileSMTP:
    """An SMTP server on host:port (0: a free port) that misbehaves at the
    phases given as keyword arguments, e.g.

        HostileSMTP(greeting=Stall())
        HostileSMTP(ehlo=Trickle(bps=2))
        HostileSMTP(final=Endless())
        HostileSMTP(body=SlowRead(bps=512))
        HostileSMTP(body=Drop(after=1000))

    Phases: connect (only Stall), greeting, ehlo (also HELO), mail, rcpt,
    data (the 354 reply), body (Drop, SlowRead), final (the reply after
    the dot), quit. set(phase=action) changes a phase for new commands,
    set(phase=None) makes it normal again. Without misbehaviour every
    message is accepted and kept (messages(): each content as sent, CRLF
    line ends and dot-stuffing kept). The connect Stall can only be given
    to the constructor.

    sessions() lists every connection (Session: opened, closed, phase
    reached, how it ended); open_sessions() counts the open ones;
    wait_closed(timeout) waits until none is open. close() stops the
    server and cuts every session.
    """

    def __init__(self, host="127.0.0.1", port=0, **phases):
        self.host = host
        self._phases: Dict[str, object] = {}
        self._lock = threading.Lock()
        self._sessions: List[Session] = []
        self._messages: List[bytes] = []
        self._socks = set()
        self._stopping = threading.Event()
        self._threads: List[threading.Thread] = []
        self._fillers: List[socket.socket] = []
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.set(**phases)
        if isinstance(self._phases.get("connect"), Stall):
            self._stall_connect()
        else:
            self.sock.listen(128)
            self.sock.settimeout(0.2)
            t = threading.Thread(target=self._accept_loop, daemon=True,
                                 name="hostile-smtp-%d" % self.port)
            t.start()
            self._threads.append(t)

    # -- configuration --------------------------------------------------------
    def set(self, **phases):
        """Change phases: set(rcpt=Stall(), final=None)."""
        for name, action in phases.items():
            if name not in PHASES:
                raise ValueError("unknown phase %r (one of %s)"
                                 % (name, ", ".join(PHASES)))
            if name == "connect" and action is not None and \
                    not isinstance(action, Stall):
                raise ValueError("connect takes only Stall()")
            if name != "body" and isinstance(action, SlowRead):
                raise ValueError("SlowRead is for the body only")
            if isinstance(action, SlowRead):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                     action.rcvbuf)
            with self._lock:
                if action is None:
                    self._phases.pop(name, None)
                else:
                    self._phases[name] = action
        return self

    def _action(self, phase):
        with self._lock:
            return self._phases.get(phase)

    @property
    def hostspec(self):
        """This server as an ncmta host spec: [127.0.0.1]:PORT."""
        return "[%s]:%d" % (self.host, self.port)

    # -- the connect stall ----------------------------------------------------
    def _stall_connect(self):
        """listen(0) and fill the accept queue ourselves: further SYNs are
        dropped, so a client's connect() never completes."""
        self.sock.listen(0)
        for _ in range(4):
            c = socket.socket(self.sock.family, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect((self.host, self.port))
            except BlockingIOError:
                pass
            self._fillers.append(c)
            time.sleep(0.05)

    # -- serving ---------------------------------------------------------------
    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                s, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                sess = Session(n=len(self._sessions) + 1, peer=peer,
                               opened=time.time())
                self._sessions.append(sess)
                self._socks.add(s)
            t = threading.Thread(target=self._serve, args=(s, sess),
                                 daemon=True,
                                 name="hostile-smtp-%d-%d" % (self.port,
                                                              sess.n))
            t.start()
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)

    def _serve(self, s, sess):
        conn = _Conn(self, s, sess)
        try:
            self._session(conn)
            sess.ended_by = "client"
        except _Closed as e:
            sess.ended_by = str(e)
        except Exception:
            sess.ended_by = "error"
        finally:
            with self._lock:
                self._socks.discard(s)
            drop = self._action(sess.phase)
            if sess.ended_by == "server" and isinstance(drop, Drop) and \
                    drop.rst:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                except OSError:
                    pass
            try:
                s.close()
            except OSError:
                pass
            sess.closed = time.time()

    def _reply(self, conn, phase, normal=None):
        """Answer a phase as configured; normal is the usual reply."""
        code, text = normal or NORMAL[phase]
        act = self._action(phase)
        conn.sess.phase = phase
        if act is None:
            conn.send(text.encode() + b"\r\n")
            return True
        if isinstance(act, Reply):
            conn.send(act.line.encode() + b"\r\n")
            return act.line[:1] in "23"
        if isinstance(act, Stall):
            while True:  # read and discard until the client goes
                conn.recv_some()
        if isinstance(act, Drop):
            raise _Closed("server")
        if isinstance(act, Trickle):
            self._trickle(conn, code, text, act)
            return True
        if isinstance(act, Endless):
            self._endless(conn, code, act)
        raise ValueError("action %r not for phase %s" % (act, phase))

    def _trickle(self, conn, code, text, act):
        def gen():
            k = 0
            while act.lines is None or k < act.lines:
                k += 1
                yield b"%d-trickle %d\r\n" % (code, k)
            yield text.encode() + b"\r\n"
        pace = 1.0 / max(act.bps, 1e-3)
        for chunk in gen():
            for i in range(len(chunk)):
                conn.send(chunk[i:i + 1])
                conn.pause(pace)

    def _endless(self, conn, code, act):
        k = 0
        if act.one_line:
            conn.send(b"%d " % code)
        while True:
            k += 1
            if act.one_line:
                conn.send(b"x" * 1024)
            else:
                conn.send(b"%d-endless %d\r\n" % (code, k))
            if act.lps:
                conn.pause(1.0 / act.lps)

    def _session(self, conn):
        self._reply(conn, "greeting")
        in_mail = False
        while True:
            line = conn.line()
            if len(conn.sess.commands) < 50:
                conn.sess.commands.append(line[:200])
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply(conn, "ehlo",
                            None if verb == "EHLO" else NORMAL["helo"])
            elif verb == "MAIL":
                in_mail = self._reply(conn, "mail")
            elif verb == "RCPT":
                self._reply(conn, "rcpt")
            elif verb == "DATA":
                if not in_mail:
                    conn.send(b"503 5.5.1 Error: need MAIL command\r\n")
                    continue
                if not self._reply(conn, "data"):
                    continue
                content = self._body(conn)
                if self._reply(conn, "final"):
                    with self._lock:
                        self._messages.append(content)
                    conn.sess.messages += 1
                in_mail = False
            elif verb == "QUIT":
                self._reply(conn, "quit")
                return
            elif verb == "RSET":
                in_mail = False
                conn.send(b"250 2.0.0 Ok\r\n")
            elif verb == "NOOP":
                conn.send(b"250 2.0.0 Ok\r\n")
            else:
                conn.send(b"502 5.5.2 Error: command not recognized\r\n")

    def _body(self, conn):
        """Read the content up to CRLF.CRLF as the body phase says; the
        content returned keeps its dot-stuffing and CRLF line ends."""
        act = self._action("body")
        conn.sess.phase = "body"
        data = bytearray(b"\r\n") + conn.buf  # a CRLF before the first line
        conn.buf = b""
        rate = act.bps if isinstance(act, SlowRead) else None
        drop_after = act.after if isinstance(act, Drop) else None
        start = 0
        while True:
            end = data.find(b"\r\n.\r\n", start)
            if end != -1:
                conn.buf = bytes(data[end + 5:])
                conn.sess.body_bytes = end + 3
                return bytes(data[2:end + 2])
            start = max(0, len(data) - 4)
            conn.sess.body_bytes = len(data) - 2
            if drop_after is not None and len(data) - 2 >= drop_after:
                raise _Closed("server")
            if rate is not None:
                tick = 0.1
                data += conn.recv_some(max(1, int(rate * tick)))
                conn.sleep(tick)
            else:
                data += conn.recv_some()

    # -- what happened ---------------------------------------------------------
    def sessions(self) -> List[Session]:
        with self._lock:
            return list(self._sessions)

    def open_sessions(self):
        with self._lock:
            return sum(1 for s in self._sessions if s.closed is None)

    def messages(self) -> List[bytes]:
        with self._lock:
            return list(self._messages)

    def wait_closed(self, timeout):
        """Wait until no session is open; True if so in time."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.open_sessions() == 0:
                return True
            time.sleep(0.05)
        return self.open_sessions() == 0

    def wait_sessions(self, n, timeout):
        """Wait until at least n sessions were opened; True if so."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.sessions()) >= n:
                return True
            time.sleep(0.05)
        return len(self.sessions()) >= n

    # -- life cycle ------------------------------------------------------------
    def close(self):
        self._stopping.set()
        for c in self._fillers:
            c.close()
        try:
            self.sock.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<HostileSMTP %s:%d %s>" % (self.host, self.port,
                                          self._phases or "normal")


class Knocks:
    """A TCP port that never serves and counts connection attempts.

    mode "reset": accept and reset at once (SO_LINGER 0);
    mode "close": accept and close (FIN) without a word;
    mode "refuse": bound but not listening, so the kernel refuses (RST to
    the SYN); attempts are then counted with a packet socket on lo, which
    needs root (count() is None otherwise).
    """

    def __init__(self, mode="reset", host="127.0.0.1", port=0):
        if mode not in ("reset", "close", "refuse"):
            raise ValueError("mode is reset, close or refuse")
        self.mode, self.host = mode, host
        self._count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._syn = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self._thread = None
        if mode == "refuse":
            if os.getuid() == 0:
                from peers import SynCounter
                self._syn = SynCounter(self.port, host)
            return
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="knocks-%d" % self.port)
        self._thread.start()

    def _loop(self):
        while not self._stopping.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._count += 1
            if self.mode == "reset":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()

    def count(self):
        """Connection attempts so far (None: cannot count, see above)."""
        if self.mode == "refuse":
            return self._syn.value() if self._syn else None
        with self._lock:
            return self._count

    @property
    def hostspec(self):
        return "[%s]:%d" % (self.host, self.port)

    def close(self):
        self._stopping.set()
        if self._syn is not None:
            self._syn.close()
        self.sock.close()
        if self._thread is not None:
            self._thread.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- DNS ----------------------------------------------------------------------

QTYPES = {1: "A", 15: "MX", 28: "AAAA", 5: "CNAME", 6: "SOA", 2: "NS"}
QTYPE_NUM = {v: k for k, v in QTYPES.items()}
DNS_MODES = ("valid", "random", "wrong_id", "truncated", "short", "loop",
             "huge", "servfail", "silent", "mix")
GARBAGE = ("random", "wrong_id", "truncated", "short", "loop", "huge")


def dns_name(name):
    """A domain name in wire form (no compression)."""
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _parse_question(msg):
    """(id, flags, question bytes, qname, qtype) of a query, or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd < 1:
        return None
    pos, labels = 12, []
    while pos < len(msg):
        n = msg[pos]
        if n == 0 or n >= 0xC0:
            break
        labels.append(msg[pos + 1:pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    if pos + 5 > len(msg) or msg[pos] != 0:
        return None
    qtype = struct.unpack("!H", msg[pos + 1:pos + 3])[0]
    return qid, flags, msg[12:pos + 5], ".".join(labels).lower(), qtype


def _rr(name_ptr, rtype, ttl, rdata):
    return name_ptr + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


class HostileDNS:
    """A name server on UDP and TCP host:port (one port for both) whose
    answers are garbage of the kind `mode` names:

      random     random octets, 1..512 of them
      wrong_id   a well-formed answer with another message ID
      truncated  UDP: an empty answer with TC set (go to TCP); TCP: a
                 length prefix promising more than is sent, then close
      short      a well-formed answer cut off inside its records
      loop       answer names that are compression pointers to themselves
                 and to each other
      huge       thousands of records (MX to distinct hosts, or A), as
                 large as the transport allows (UDP 65 000 octets, TCP
                 65 535)
      servfail   RCODE 2
      silent     no answer at all
      mix        each query gets one of the garbage kinds above at random
      valid      real answers from `records`

    records: {"name": [("MX", pref, host), ("A", "127.0.0.2"), ("AAAA",
    "::1")], ...}; a key "*.example" answers every name under example
    that has no entry of its own. A known name without the asked type
    gets an empty NOERROR answer; an unknown one NXDOMAIN. TTL `ttl`.

    zones: {"random.test": "random", ...} gives the names under a zone
    their own mode (the longest matching zone wins), so one server can
    answer several kinds of garbage and valid answers at once.

    queries() lists (proto, type, name, mode) per question; set_mode()
    switches at any time. spec is "127.0.0.1:PORT" for dns_servers.
    """

    def __init__(self, mode="valid", records=None, host="127.0.0.1",
                 ttl=60, seed=None, zones=None):
        for m in [mode] + list((zones or {}).values()):
            if m not in DNS_MODES:
                raise ValueError("mode: one of %s" % ", ".join(DNS_MODES))
        self.mode = mode
        self.zones = dict(zones or {})
        self.records = dict(records or {})
        self.host, self.ttl = host, ttl
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        self._queries = []
        self._stopping = threading.Event()
        self.udp, self.tcp, self.port = udp_tcp_pair(host)
        self.udp.settimeout(0.2)
        self.tcp.listen(64)
        self.tcp.settimeout(0.2)
        self._threads = [
            threading.Thread(target=self._udp_loop, daemon=True,
                             name="hostile-dns-udp-%d" % self.port),
            threading.Thread(target=self._tcp_loop, daemon=True,
                             name="hostile-dns-tcp-%d" % self.port)]
        for t in self._threads:
            t.start()

    @property
    def spec(self):
        return "%s:%d" % (self.host, self.port)

    def set_mode(self, mode, records=None, zones=None):
        """Switch the default mode (and, when given, the records and the
        per-zone modes; zones={} clears them)."""
        for m in [mode] + list((zones or {}).values()):
            if m not in DNS_MODES:
                raise ValueError("mode: one of %s" % ", ".join(DNS_MODES))
        with self._lock:
            self.mode = mode
            if records is not None:
                self.records = dict(records)
            if zones is not None:
                self.zones = dict(zones)

    def _mode_for(self, name):
        best = None
        for zone in self.zones:
            z = zone.lower().rstrip(".")
            if (name == z or name.endswith("." + z)) and \
                    (best is None or len(z) > len(best)):
                best = z
        return self.zones[best] if best is not None else self.mode

    def queries(self, mode=None):
        with self._lock:
            return [q for q in self._queries if mode is None or q[3] == mode]

    # -- answers ---------------------------------------------------------------
    def _lookup(self, name):
        if name in self.records:
            return self.records[name]
        parts = name.split(".")
        for i in range(1, len(parts)):
            wild = "*." + ".".join(parts[i:])
            if wild in self.records:
                return self.records[wild]
        return None

    def _valid(self, q):
        qid, flags, question, name, qtype = q
        recs = self._lookup(name)
        rcode = 3 if recs is None else 0
        answers = []
        for r in recs or ():
            kind = r[0].upper()
            if QTYPE_NUM.get(kind) != qtype:
                continue
            if kind == "MX":
                rdata = struct.pack("!H", r[1]) + dns_name(r[2])
            elif kind == "A":
                rdata = socket.inet_pton(socket.AF_INET, r[1])
            elif kind == "AAAA":
                rdata = socket.inet_pton(socket.AF_INET6, r[1])
            else:
                continue
            answers.append(_rr(b"\xc0\x0c", qtype, self.ttl, rdata))
        fl = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        return struct.pack("!HHHHHH", qid, fl, 1, len(answers), 0, 0) + \
            question + b"".join(answers)

    def _plausible(self, q, count=1):
        """A well-formed answer: MX or A records of made-up hosts."""
        qid, flags, question, name, qtype = q
        answers = []
        for i in range(count):
            if qtype == 15:
                rdata = struct.pack("!H", 10) + dns_name("mx%d.%s" % (i, name))
            elif qtype == 28:
                rdata = socket.inet_pton(socket.AF_INET6, "::1")
            else:
                rdata = socket.inet_aton("127.0.%d.%d" % (i // 250 % 250,
                                                           i % 250 + 1))
            answers.append(_rr(b"\xc0\x0c", qtype or 1, self.ttl, rdata))
        return struct.pack("!HHHHHH", qid, 0x8580, 1, len(answers), 0, 0) + \
            question + b"".join(answers)

    def _loop_answer(self, q):
        """Records whose owner names loop through compression pointers:
        the first points at itself, the next two at each other."""
        qid, flags, question, name, qtype = q
        head = struct.pack("!HHHHHH", qid, 0x8580, 1, 3, 0, 0) + question
        a1 = len(head)
        rdata = b"\x7f\x00\x00\x01" if qtype != 15 else \
            struct.pack("!H", 10) + b"\xc0\x0c"
        r1 = struct.pack("!H", 0xC000 | a1) + \
            struct.pack("!HHIH", qtype or 1, 1, 60, len(rdata)) + rdata
        a2 = a1 + len(r1)
        a3 = a2 + 2 + 10 + len(rdata)
        r2 = struct.pack("!H", 0xC000 | a3) + \
            struct.pack("!HHIH", qtype or 1, 1, 60, len(rdata)) + rdata
        r3 = struct.pack("!H", 0xC000 | a2) + \
            struct.pack("!HHIH", qtype or 1, 1, 60, len(rdata)) + rdata
        return head + r1 + r2 + r3

    def _answer(self, q, proto, mode):
        """The bytes to send for a question (None: say nothing)."""
        if mode == "silent":
            return None
        if mode == "valid":
            return self._valid(q)
        if mode == "servfail":
            return struct.pack("!HHHHHH", q[0], 0x8182, 1, 0, 0, 0) + q[2]
        if mode == "random":
            return bytes(self.rng.getrandbits(8)
                         for _ in range(self.rng.randint(1, 512)))
        if mode == "wrong_id":
            msg = self._plausible(q)
            return struct.pack("!H", (q[0] + 1 + self.rng.randint(0, 65000))
                               & 0xFFFF) + msg[2:]
        if mode == "truncated":
            if proto == "udp":
                return struct.pack("!HHHHHH", q[0], 0x8780, 1, 0, 0, 0) + q[2]
            return b"TRUNC"  # _tcp_serve sends a lying length prefix
        if mode == "short":
            msg = self._plausible(q, count=3)
            return msg[:len(msg) - self.rng.randint(3, 20)]
        if mode == "loop":
            return self._loop_answer(q)
        if mode == "huge":
            limit = 65000 if proto == "udp" else 65535
            per = 12 + (len(dns_name("mx0.%s" % q[3])) + 2 + 4
                        if q[4] == 15 else 4)
            n = max(1, min(65535, (limit - 12 - len(q[2])) // per))
            msg = self._plausible(q, count=n)
            while len(msg) > limit:
                n -= 1 + n // 50
                msg = self._plausible(q, count=n)
            return msg
        raise ValueError(mode)

    def _pick(self, q, proto):
        with self._lock:
            mode = self._mode_for(q[3])
            if mode == "mix":
                mode = self.rng.choice(GARBAGE)
            self._queries.append((proto, QTYPES.get(q[4], str(q[4])), q[3],
                                  mode))
        return mode

    def _udp_loop(self):
        while not self._stopping.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            q = _parse_question(data)
            if q is None:
                continue
            out = self._answer(q, "udp", self._pick(q, "udp"))
            if out is not None:
                try:
                    self.udp.sendto(out, peer)
                except OSError:
                    pass

    def _tcp_loop(self):
        while not self._stopping.is_set():
            try:
                s, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_serve, args=(s,),
                             daemon=True).start()

    def _tcp_serve(self, s):
        s.settimeout(0.2)
        buf = b""
        try:
            while not self._stopping.is_set():
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                while len(buf) >= 2:
                    n = struct.unpack("!H", buf[:2])[0]
                    if len(buf) < 2 + n:
                        break
                    q = _parse_question(buf[2:2 + n])
                    buf = buf[2 + n:]
                    if q is None:
                        return
                    mode = self._pick(q, "tcp")
                    out = self._answer(q, "tcp", mode)
                    if out is None:
                        continue
                    if mode == "truncated":
                        msg = self._plausible(q, count=5)
                        s.sendall(struct.pack("!H", len(msg) + 100) +
                                  msg[:len(msg) // 2])
                        return
                    s.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass
        finally:
            s.close()

    def close(self):
        self._stopping.set()
        self.udp.close()
        self.tcp.close()
        for t in self._threads:
            t.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- self-test -----------------------------------------------------------------


def _client(port, timeout=5.0):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return c


def _read_reply(c, limit=1 << 20):
    """One complete SMTP reply (all its lines) or what came before a
    timeout/close."""
    data = b""
    while len(data) < limit:
        try:
            chunk = c.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and any(len(x) >= 4 and x[3:4] == b" "
                                  for x in lines[:-1]):
            break
    return data


def _selftest():
    """A quick run of every peer against plain sockets (about 15 s)."""
    ok = []

    def check(what, cond, detail=""):
        print("%-58s %s %s" % (what, "ok" if cond else "FAILED", detail))
        ok.append(bool(cond))

    with HostileSMTP() as srv:
        c = _client(srv.port)
        greet = _read_reply(c)
        c.sendall(b"EHLO me\r\n")
        ehlo = _read_reply(c)
        c.sendall(b"MAIL FROM:<a@b>\r\n")
        _read_reply(c)
        c.sendall(b"RCPT TO:<c@d>\r\n")
        _read_reply(c)
        c.sendall(b"DATA\r\n")
        r354 = _read_reply(c)
        c.sendall(b"Subject: x\r\n\r\n..dot\r\n.\r\n")
        fin = _read_reply(c)
        c.sendall(b"QUIT\r\n")
        _read_reply(c)
        c.close()
        check("normal session", greet.startswith(b"220") and
              ehlo.startswith(b"250") and r354.startswith(b"354") and
              fin.startswith(b"250") and len(srv.messages()) == 1,
              repr(srv.messages()[:1]))
        srv.wait_closed(2)
        check("session recorded", srv.sessions()[0].messages == 1 and
              srv.sessions()[0].closed is not None)

    with HostileSMTP(greeting=Stall()) as srv:
        c = _client(srv.port, timeout=1.0)
        t0 = time.time()
        got = _read_reply(c)
        check("greeting stall: nothing in 1 s", got == b"" and
              time.time() - t0 >= 0.9)
        c.close()
        check("greeting stall: client close seen", srv.wait_closed(2))

    with HostileSMTP(ehlo=Trickle(bps=20)) as srv:
        c = _client(srv.port, timeout=1.0)
        _read_reply(c)
        c.sendall(b"EHLO me\r\n")
        t0 = time.time()
        got = b""
        while time.time() - t0 < 1.0:
            try:
                got += c.recv(100)
            except socket.timeout:
                break
        check("ehlo trickle: about 20 B in 1 s", 5 <= len(got) <= 30,
              "%d bytes" % len(got))
        c.close()

    with HostileSMTP(mail=Endless()) as srv:
        c = _client(srv.port, timeout=1.0)
        _read_reply(c)
        c.sendall(b"EHLO me\r\nMAIL FROM:<a@b>\r\n")
        _read_reply(c)
        got = b""
        while len(got) < 200000:
            got += c.recv(65536)
        check("mail endless: 200 kB of 250- lines",
              got.count(b"\r\n250-endless") > 1000)
        c.close()

    with HostileSMTP(rcpt=Drop()) as srv:
        c = _client(srv.port)
        _read_reply(c)
        c.sendall(b"EHLO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
        got = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
        check("rcpt drop: connection closed after MAIL",
              b"2.1.0" in got and b"2.1.5" not in got)
        c.close()

    with HostileSMTP(body=SlowRead(bps=2000, rcvbuf=2048)) as srv:
        c = _client(srv.port, timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        _read_reply(c)
        c.sendall(b"EHLO me\r\n")
        _read_reply(c)
        c.sendall(b"MAIL FROM:<a@b>\r\n")
        _read_reply(c)
        c.sendall(b"RCPT TO:<c@d>\r\n")
        _read_reply(c)
        c.sendall(b"DATA\r\n")
        _read_reply(c)
        t0 = time.time()
        body = (b"y" * 78 + b"\r\n") * 100  # 8 kB
        c.sendall(body + b".\r\n")
        fin = _read_reply(c)
        dt = time.time() - t0
        check("slow read: 8 kB at 2 kB/s takes 2..8 s",
              fin.startswith(b"250") and 2.0 <= dt <= 8.0, "%.1f s" % dt)
        c.close()

    with HostileSMTP(connect=Stall()) as srv:
        t0 = time.time()
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=1.5)
            stalled = False
        except (socket.timeout, OSError):
            stalled = True
        check("connect stall: no connection in 1.5 s", stalled,
              "%.1f s" % (time.time() - t0))

    for mode in ("reset", "close"):
        with Knocks(mode) as k:
            for _ in range(3):
                try:  # a reset may already show in connect()
                    c = _client(k.port)
                    c.recv(10)
                    c.close()
                except OSError:
                    pass
            time.sleep(0.3)
            check("knocks %s: 3 attempts counted" % mode, k.count() == 3,
                  str(k.count()))

    records = {"example.test": [("MX", 10, "mx.example.test")],
               "mx.example.test": [("A", "127.0.0.2")],
               "*.wild.test": [("MX", 5, "mx.example.test")]}
    with HostileDNS("valid", records) as ns:
        def ask(name, qtype, proto="udp", timeout=1.0):
            q = struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 0) + \
                dns_name(name) + struct.pack("!HH", QTYPE_NUM[qtype], 1)
            if proto == "udp":
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(timeout)
                s.sendto(q, ("127.0.0.1", ns.port))
                try:
                    return s.recv(70000)
                except socket.timeout:
                    return None
                finally:
                    s.close()
            s = socket.create_connection(("127.0.0.1", ns.port),
                                         timeout=timeout)
            s.sendall(struct.pack("!H", len(q)) + q)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if len(data) >= 2 and \
                            len(data) >= 2 + struct.unpack("!H",
                                                           data[:2])[0]:
                        break
            except socket.timeout:
                pass
            s.close()
            return data

        r = ask("example.test", "MX")
        check("dns valid: MX answer", r is not None and
              struct.unpack("!H", r[:2])[0] == 4242 and
              struct.unpack("!H", r[6:8])[0] == 1 and
              b"\x02mx\x07example\x04test\x00" in r)
        r = ask("a.wild.test", "MX")
        check("dns valid: wildcard MX", r is not None and
              struct.unpack("!H", r[6:8])[0] == 1)
        r = ask("nothing.test", "A")
        check("dns valid: NXDOMAIN", r is not None and r[3] & 0xF == 3)
        r = ask("example.test", "A", "tcp")
        check("dns valid over TCP: NODATA", len(r) > 14 and
              struct.unpack("!H", r[8:10])[0] == 0 and r[5] & 0xF == 0)
        for mode in GARBAGE + ("servfail", "silent"):
            ns.set_mode(mode)
            r = ask("example.test", "MX")
            if mode == "silent":
                good = r is None
            elif mode == "wrong_id":
                good = r is not None and \
                    struct.unpack("!H", r[:2])[0] != 4242
            elif mode == "truncated":
                t = ask("example.test", "MX", "tcp")
                good = r is not None and r[2] & 0x02 and \
                    len(t) < 2 + struct.unpack("!H", t[:2])[0]
            elif mode == "huge":
                t = ask("example.test", "MX", "tcp")
                good = r is not None and len(r) > 60000 and len(t) > 60000
            elif mode == "loop":
                good = r is not None and b"\xc0" in r[30:]
            else:
                good = r is not None
            check("dns %s" % mode, good,
                  "%s bytes" % (len(r) if r is not None else None))
        check("dns queries recorded", len(ns.queries()) >= 12,
              str(len(ns.queries())))
        ns.set_mode("valid", zones={"wild.test": "servfail"})
        r = ask("a.wild.test", "MX")
        r2 = ask("example.test", "MX")
        check("dns zones: servfail under wild.test only",
              r is not None and r[3] & 0xF == 2 and r2 is not None and
              r2[3] & 0xF == 0)
    return all(ok)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(0 if _selftest() else 1)
