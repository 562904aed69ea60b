"""The master's service table (daemons/master/services.c): each row's
processes run, or not, as its count says; each daemon holds exactly the
listening sockets of its row, on fds 4, 5, ..., and nothing else of the
master's; smtpd_listen's addresses are bound by the master at start, and
one that cannot be bound stops `ncctl start` with one line; a missing
ncmta-smtpd is retried with back-off while the rest delivers; `ncctl
status` lists the table's services. Until the real smtpd is built, a
stand-in program plays it: it holds what the master hands it and exits
when told to stop.
"""

import os
import socket
import subprocess
import time

import pytest

from instance import wait_for
from msgs import message, new_token

# Rows in start order, as ncctl status lists them (smtp: one per worker).
ROWS = ("resolver", "qmgr", "bounce", "pickup", "smtpd", "showq", "smtp")

# A stand-in for ncmta-smtpd: notes that it ran and with what, reads the
# master's frames on fd 3 (u32 length, u32 type, payload), noting their
# types, until CTL_STOP (type 3) or the master goes away, lingers as long as the file
# "smtpd-linger" says, and exits 0.
FAKE_SMTPD = """#!/usr/bin/python3
import os, struct, sys, time
base = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))
with open(os.path.join(base, "smtpd-ran"), "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")

def read(n):
    data = b""
    while len(data) < n:
        more = os.read(3, n - len(data))
        if not more:
            return None
        data += more
    return data

while True:
    hdr = read(8)
    if hdr is None:
        break
    length, kind = struct.unpack("!II", hdr)
    with open(os.path.join(base, "smtpd-frames"), "a") as f:
        f.write("%d\\n" % kind)
    if length and read(length) is None or kind == 3:
        break
with open(os.path.join(base, "smtpd-stopping"), "w") as f:
    f.write("%f\\n" % time.time())
try:
    with open(os.path.join(base, "smtpd-linger")) as f:
        time.sleep(float(f.read()))
except OSError:
    pass
"""


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port free on host now (and, for the tests, on ::1 too)."""
    for _ in range(50):
        s = socket.socket(family)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        try:
            t = socket.socket(socket.AF_INET6)
            t.bind(("::1", port))
            t.close()
        except OSError:
            continue
        return port
    raise AssertionError("no free port")


def use_fake_smtpd(inst):
    path = os.path.join(inst.libexec, "ncmta-smtpd")
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "w") as f:
        f.write(FAKE_SMTPD)
    os.chmod(path, 0o755)
    return path


def no_smtpd_program(inst):
    path = os.path.join(inst.libexec, "ncmta-smtpd")
    if os.path.lexists(path):
        os.unlink(path)
    return path


def status_lines(inst):
    r = inst.ctl("status")
    assert r.returncode == 0, r.stderr
    return [line for line in r.stdout.decode().splitlines()
            if line and not line.startswith(("ncmta is", "queue:"))]


def fds_of(pid):
    """{fd: readlink target} of a process."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return out


def listening_sockets():
    """{socket inode: description} of every listening socket: a Unix
    socket by the name it was bound with, TCP as "ADDR:PORT"."""
    found = {}
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            # Flags __SO_ACCEPTCON: a listening socket
            if len(fields) >= 8 and int(fields[3], 16) & 0x10000:
                found["socket:[%s]" % fields[6]] = \
                    "unix " + os.path.basename(fields[7])
    for name, fam in (("/proc/net/tcp", "4"), ("/proc/net/tcp6", "6")):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            addr, port = fields[1].split(":")
            if fam == "4":
                host = socket.inet_ntop(socket.AF_INET,
                                        bytes.fromhex(addr)[::-1])
            else:
                raw = bytes.fromhex(addr)
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                host = "[%s]" % socket.inet_ntop(socket.AF_INET6, raw)
            found["socket:[%s]" % fields[9]] = "tcp %s:%d" % (
                host, int(port, 16))
    return found


def started_with_fake_smtpd(instances, sink, **settings):
    port = free_port()
    inst = instances(smart_host=[sink],
                     smtpd_listen="127.0.0.1:%d, [::1]:%d" % (port, port),
                     **settings)
    use_fake_smtpd(inst)
    inst.start()
    wait_for(lambda: inst.pids("smtpd"), 10, "smtpd running")
    inst.port = port
    return inst


def test_a_row_counted_zero_starts_nothing(instances, sink):
    """smtpd_listen = none (the tests' default): the smtpd row runs no
    process even with its program in place, and binds nothing."""
    inst = instances(smart_host=[sink])
    assert inst.settings["smtpd_listen"] == "none"
    use_fake_smtpd(inst)
    inst.start()
    time.sleep(1)
    assert inst.pids("smtpd") == []
    assert not os.path.exists(os.path.join(inst.base, "smtpd-ran"))
    assert not [line for line in status_lines(inst)
                if line.startswith("smtpd")]
    assert not inst.log_lines("smtpd")
    master_fds = fds_of(inst.master_pid())
    tcp = [d for s, d in listening_sockets().items()
           if s in master_fds.values() and d.startswith("tcp")]
    assert tcp == [], tcp
    tok = new_token()
    inst.submit(["zero@example.net"], message(tok, "zero@example.net")[0])
    assert sink.wait_count(1, 20)


def test_status_lists_the_tables_services(instances, sink):
    inst = started_with_fake_smtpd(instances, sink, smtp_worker_count=3)
    lines = status_lines(inst)
    names = [line.split()[0] for line in lines]
    want = ["master"] + [r for r in ROWS if r != "smtp"] + ["smtp"] * 3
    assert names == want, lines
    procs = {p.pid: p.name for p in inst.processes()}
    for line in lines:
        name, pid = line.split()[0], int(line.split()[1].split("=")[1])
        assert procs.get(pid) == name, (line, procs)
        if name != "master":
            assert "restarts=0" in line, line
    smtpd = [line for line in lines if line.startswith("smtpd")][0]
    assert "listen=127.0.0.1:%d,[::1]:%d" % (inst.port, inst.port) \
        in smtpd.split(), smtpd
    assert not [line for line in lines if "listen=" in line and
                not line.startswith("smtpd")], lines


@pytest.mark.skipif(os.getuid() != 0, reason="chroots need root")
def test_each_daemon_holds_its_rows_sockets_and_nothing_else(
        instances, sink):
    inst = started_with_fake_smtpd(instances, sink)
    owner = inst.settings["mail_owner"]
    q = inst.queue

    def settled():
        procs = [p for p in inst.processes() if p.name != "master"]
        # each real daemon is in its chroot by now
        return procs if all(p.root() not in (None, "/") for p in procs
                            if p.name != "smtpd") else None
    procs = wait_for(settled, 10, "every daemon chrooted")
    sockets = listening_sockets()
    master_fds = fds_of(inst.master_pid())
    master_socks = {t for t in master_fds.values()
                    if t.startswith("socket:")}
    mine = {t: sockets[t] for t in master_socks if t in sockets}
    want_all = {"unix control", "unix qmgr", "unix resolver", "unix pickup",
                "unix showq", "tcp 127.0.0.1:%d" % inst.port,
                "tcp [::1]:%d" % inst.port}
    assert sorted(mine.values()) == sorted(want_all), mine

    want = {
        "resolver": ["unix resolver"], "qmgr": ["unix qmgr"],
        "pickup": ["unix pickup"], "showq": ["unix showq"],
        "smtpd": ["tcp 127.0.0.1:%d" % inst.port, "tcp [::1]:%d" % inst.port],
        "bounce": [], "smtp": [],
    }
    roots = {"resolver": q + "/empty", "smtp": q + "/empty",
             "qmgr": q, "pickup": q, "bounce": q, "showq": q}
    seen = set()
    for p in procs:
        fds = fds_of(p.pid)
        held = {fd: mine[t] for fd, t in fds.items() if t in mine}
        assert held == {4 + i: s for i, s in enumerate(want[p.name])}, \
            (p, held)
        # fd 3 is its own end of the control socketpair; no other
        # descriptor of the master's (control socket, other daemons'
        # channels, pid file) reached it
        assert fds.get(3, "").startswith("socket:"), (p, fds)
        assert fds[3] not in master_socks, p
        leaked = {fd: t for fd, t in fds.items()
                  if t in master_socks and t not in mine}
        assert leaked == {}, (p, leaked)
        assert not [t for t in fds.values() if t.endswith("master.pid")], p
        # (the stand-in's command line starts with its interpreter)
        args = p.cmdline[p.cmdline.index("-c"):]
        assert args[:2] == ["-c", inst.confdir], args
        assert ("-u" in args and args[args.index("-u") + 1] == owner), args
        root = {"smtpd": q + "/incoming"}.get(p.name, roots.get(p.name))
        assert args[args.index("-r") + 1] == root, args
        if want[p.name]:
            assert args[args.index("-l") + 1] == str(len(want[p.name])), args
        else:
            assert "-l" not in args, args
        if p.name != "smtpd":  # the stand-in does not chroot
            assert p.root() == root, (p, p.root())
        seen.add(p.name)
    assert seen == set(ROWS), seen

    # the master's own copies are close-on-exec; the TCP sockets are
    # non-blocking (the flag is the socket's, the daemon's copy shows it)
    for fd, t in master_fds.items():
        if t in mine:
            with open("/proc/%d/fdinfo/%d" % (inst.master_pid(), fd)) as f:
                flags = int(f.read().split("flags:")[1].split()[0], 8)
            assert flags & 0o2000000, (fd, mine[t])  # O_CLOEXEC
            if mine[t].startswith("tcp"):
                assert flags & 0o4000, (fd, mine[t])  # O_NONBLOCK
    smtpd = inst.pids("smtpd")[0]
    for fd in (4, 5):
        with open("/proc/%d/fdinfo/%d" % (smtpd, fd)) as f:
            flags = int(f.read().split("flags:")[1].split()[0], 8)
        assert not flags & 0o2000000, "fd %d survived exec" % fd
    # they accept: a client connects to both addresses
    for host in ("127.0.0.1", "::1"):
        c = socket.create_connection((host, inst.port), timeout=5)
        c.close()


def test_start_fails_on_an_address_in_use_and_leaves_nothing(
        instances, sink):
    """The second address is taken by another process: ncctl start
    (daemonised or in the foreground) says so in one line and exits 1,
    nothing of ncmta runs, and the first address is free again."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    first = free_port()
    inst = instances(smart_host=[sink],
                     smtpd_listen="[::1]:%d, 127.0.0.1:%d" % (first, busy))
    use_fake_smtpd(inst)
    line = ("ncmta: cannot listen on 127.0.0.1:%d (smtpd_listen): "
            "Address already in use\n" % busy)
    try:
        r = inst.ctl("check")
        assert r.returncode == 1
        assert ("ncctl: cannot listen on 127.0.0.1:%d (smtpd_listen): "
                "Address already in use" % busy) in r.stderr.decode()
        for args in (("start",), ("start", "--foreground")):
            r = inst.ctl(*args)
            assert r.returncode == 1, (args, r)
            assert r.stderr.decode() == line, (args, r.stderr)
            assert r.stdout == b"", r.stdout
            time.sleep(0.5)
            assert inst.processes() == [], inst.processes()
            assert inst.ctl("status").returncode == 1
        assert len(inst.log_lines("cannot listen on 127.0.0.1:%d" % busy,
                                  "ncmta not started")) == 2
        assert not os.path.exists(os.path.join(inst.base, "smtpd-ran"))
        # [::1]:first was bound before the failure: it is free again
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", first))
        s.close()
    finally:
        taken.close()
    inst.start()
    wait_for(lambda: inst.pids("smtpd"), 10, "smtpd running")


def test_missing_smtpd_program_backs_off_and_the_rest_delivers(
        instances, sink):
    port = free_port()
    inst = instances(smart_host=[sink], smtpd_listen="127.0.0.1:%d" % port)
    path = no_smtpd_program(inst)
    r = inst.ctl("check")
    assert r.returncode == 0, r.stderr
    assert ("ncctl: warning: daemon_directory: %s: No such file or "
            "directory; ncmta runs without smtpd" % path) \
        in r.stderr.decode()
    inst.start()
    tok = new_token()
    inst.submit(["rest@example.net"], message(tok, "rest@example.net")[0])
    assert sink.wait_count(1, 20), "the rest delivers"

    def tries():
        return inst.log_lines("cannot execute %s: No such file or "
                              "directory; trying again in" % path)
    lines = wait_for(lambda: len(tries()) >= 3 and tries(), 15,
                     "three tries of ncmta-smtpd")
    delays = [int(line.rsplit(" ", 1)[1].rstrip("s")) for line in lines]
    assert delays[:3] == [0, 1, 2], delays
    smtpd = [line for line in status_lines(inst) if line.startswith("smtpd")]
    assert len(smtpd) == 1 and "pid=0 " in smtpd[0] and \
        "listen=127.0.0.1:%d" % port in smtpd[0], smtpd
    # the address is the master's all along: a client's connection waits
    # in the backlog until smtpd runs
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert inst.pids("pickup") and inst.pids("qmgr")

    # once the program is there, the next try starts it
    use_fake_smtpd(inst)
    wait_for(lambda: inst.pids("smtpd"), 20, "smtpd started on a later try")


def test_smtpd_stops_first(instances, sink):
    """ncctl stop: smtpd (stop stage 0) is told first; pickup, qmgr and
    the smtp workers run until it is gone."""
    inst = started_with_fake_smtpd(instances, sink)
    with open(os.path.join(inst.base, "smtpd-linger"), "w") as f:
        f.write("2")
    others = {n: inst.pids(n) for n in ("pickup", "qmgr", "smtp", "bounce")}
    stop = subprocess.Popen([inst.ncctl, "-c", inst.confdir, "stop"],
                            stdout=subprocess.DEVNULL)
    try:
        marker = os.path.join(inst.base, "smtpd-stopping")
        wait_for(lambda: os.path.exists(marker), 10, "smtpd told to stop")
        time.sleep(1)
        assert inst.pids("smtpd"), "smtpd still finishing"
        for name, pids in others.items():
            for pid in pids:
                assert os.path.exists("/proc/%d" % pid), \
                    "%s stopped before smtpd" % name
        assert stop.wait(30) == 0
    finally:
        if stop.poll() is None:
            stop.kill()
    inst.started = False
    assert inst.processes() == []


def test_reload_keeps_smtpd_listen_until_a_restart(instances, sink):
    inst = started_with_fake_smtpd(instances, sink)
    old = "127.0.0.1:%d,[::1]:%d" % (inst.port, inst.port)
    new_port = free_port()
    inst.configure(smtpd_listen="127.0.0.1:%d" % new_port)
    r = inst.ctl("reload")
    assert r.returncode == 0, r.stderr
    assert inst.log_lines('reload: smtpd_listen = "127.0.0.1:%d" needs a '
                          'restart; "127.0.0.1:%d, [::1]:%d" stays in force'
                          % (new_port, inst.port, inst.port))
    assert ('smtpd_listen = "127.0.0.1:%d" needs a restart' % new_port
            in r.stderr.decode()), r.stderr
    # its row takes the reload (CTL_RELOAD, type 2) and it keeps running
    frames = os.path.join(inst.base, "smtpd-frames")
    wait_for(lambda: os.path.exists(frames) and
             "2" in open(frames).read().split(), 10, "smtpd reloaded")
    smtpd = [line for line in status_lines(inst) if line.startswith("smtpd")]
    assert "listen=" + old in smtpd[0].split(), smtpd
    assert "restarts=0" in smtpd[0].split(), smtpd
    socket.create_connection(("127.0.0.1", inst.port), timeout=5).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", new_port), timeout=5)
    inst.stop()
    inst.start()
    smtpd = [line for line in status_lines(inst) if line.startswith("smtpd")]
    assert "listen=127.0.0.1:%d" % new_port in smtpd[0].split(), smtpd


def test_default_listen_without_ipv6_skips_its_ipv6_half(instances, sink):
    """On a host without IPv6 (a network namespace of its own, IPv6 off),
    smtpd_listen left at its default "127.0.0.1:25, [::1]:25" is not a
    reason to refuse to start: ncctl check warns, the master logs that it
    leaves [::1]:25 out, and smtpd takes mail on 127.0.0.1:25. An address
    written in the configuration still has to be bound."""
    inst = instances(smart_host=[sink], smtpd_listen=None)
    inst.routes("* hold\n")
    netns = ["unshare", "--net", "sh", "-c",
             "ip link set lo up && "
             "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && "
             "sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 && exec \"$@\"",
             "sh", inst.ncctl, "-c", inst.confdir]
    r = inst.run(netns + ["check"])
    assert r.returncode == 0, r.stderr
    assert (b"ncctl: warning: not listening on [::1]:25 (smtpd_listen's "
            b"default): no IPv6 on this host\n") in r.stderr
    r = inst.run(netns + ["start"])
    assert r.returncode == 0, r.stderr
    inst.started = True
    inst.wait_ready()
    assert inst.log_lines("not listening on [::1]:25 (smtpd_listen's "
                          "default): no IPv6 on this host")
    smtpd = wait_for(lambda: inst.pids("smtpd"), 10, "smtpd running")
    tok = new_token()
    client = ("import smtplib, sys\n"
              "s = smtplib.SMTP('127.0.0.1', 25, timeout=10)\n"
              "s.sendmail('a@test.example', ['b@example.org'], "
              "sys.stdin.buffer.read())\n"
              "s.quit()\n")
    r = inst.run(["nsenter", "-t", str(smtpd[0]), "-n", "/usr/bin/python3",
                  "-c", client], input=message(tok, "b@example.org")[0])
    assert r.returncode == 0, r.stderr
    # queued (its delivery would leave the namespace: it waits on hold)
    assert inst.log_lines("client=localhost[127.0.0.1]")
    wait_for(lambda: [m["queue_name"] for m in inst.qshow_json()] ==
             ["hold"], 10, "the message on hold")
    inst.stop()
    # any other value is the administrator's wish: no start without it
    inst.configure(smtpd_listen="[::1]:25, 127.0.0.1:25")
    r = inst.run(netns + ["start"])
    assert r.returncode == 1
    assert b"cannot listen on [::1]:25 (smtpd_listen)" in r.stderr, r.stderr
    inst.started = False
