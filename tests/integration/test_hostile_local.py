"""Hostile local users and a compromised mail_owner (doc/design.md, "Root
and the files mail_owner can write"): root never follows a link that
mail_owner (or anyone) put in the queue tree, the log or the drop directory;
root never opens the queue -- listings for other users come from showq,
which runs as mail_owner in its chroot; the control socket bounds what one
user can hold (connections per uid, idle time, unread replies); and a
queue_directory deeper than a socket address holds works end to end."""

import os
import pwd
import re
import stat
import subprocess

import pytest

from instance import Proc, mail_owner, wait_for
from msgs import message, new_token, token_of

USER = "nobody"  # an ordinary user
OTHER = "daemon"  # a second one
SECRET = b"root's own file: must not change\n"

pytestmark = pytest.mark.skipif(os.getuid() != 0,
                                reason="needs root and other users")

from proto import M_LIST_ITEM, M_REPLY, script  # noqa: E402


def _pw(name):
    return pwd.getpwnam(name)


def _as(user, *argv, **kw):
    """Run argv as user; CompletedProcess."""
    return subprocess.run(["runuser", "-u", user, "--"] + list(argv),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=kw.get("timeout", 60))


def _victim(inst, name="victim", mode=0o640):
    """A root-owned file with known content, where mail_owner could name
    it but not write it."""
    path = os.path.join(inst.base, name)
    with open(path, "wb") as f:
        f.write(SECRET)
    os.chown(path, 0, 0)
    os.chmod(path, mode)
    return path


def _unchanged(path, mode=0o640):
    st = os.lstat(path)
    with open(path, "rb") as f:
        assert f.read() == SECRET, path
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, mode)


def _refused(inst, *needles):
    """ncctl start fails, says every needle on stderr, starts nothing."""
    r = inst.ctl("start")
    err = r.stderr.decode()
    assert r.returncode != 0, err
    for n in needles:
        assert n in err, (n, err)
    assert inst.processes() == [], inst.processes()
    return err


def _owner_link(inst, link, target):
    """As mail_owner, put a symbolic link to target in place of link."""
    r = _as(inst.settings["mail_owner"], "sh", "-c",
            'rm -rf "$1" && ln -s "$2" "$1"', "sh", link, target)
    assert r.returncode == 0, r.stderr
    assert os.path.islink(link)


# ---- root and the files mail_owner can replace --------------------------

@pytest.mark.parametrize("name", ["lock.mdb", "data.mdb"])
def test_queue_file_link_is_not_followed(instances, sink, name):
    """With ncmta stopped, mail_owner replaces db/lock.mdb (or data.mdb)
    by a link to a root-owned file: ncctl start leaves that file's
    content, owner and mode alone and refuses to start, naming the queue
    file; ncctl check says the same. Without the link, ncmta starts and
    the daemons create the file as mail_owner."""
    inst = instances(smart_host=[sink])
    inst.start()
    inst.stop()
    victim = _victim(inst)
    qfile = os.path.join(inst.queue, "db", name)
    _owner_link(inst, qfile, victim)

    line = ("queue_directory/db/%s (%s): a symbolic link, should be a "
            "regular file owned by %s" % (name, qfile,
                                          inst.settings["mail_owner"]))
    _refused(inst, line, "not started")
    _unchanged(victim)
    r = inst.ctl("check")
    assert r.returncode == 1 and line in r.stderr.decode(), r.stderr

    # root's own file in its place is refused too (owner checked)
    os.unlink(qfile)
    with open(qfile, "wb") as f:
        f.write(b"")
    _refused(inst, "queue_directory/db/%s (%s): owner root, should be %s"
             % (name, qfile, inst.settings["mail_owner"]))

    os.unlink(qfile)
    inst.start()
    tok = new_token()
    inst.submit(["after@links.example"], message(tok, "after")[0])
    assert sink.wait_count(1, 20)
    assert token_of(sink.snapshot()[0]) == tok
    for f in ("data.mdb", "lock.mdb"):
        st = os.lstat(os.path.join(inst.queue, "db", f))
        assert stat.S_ISREG(st.st_mode) and \
            st.st_uid == _pw(inst.settings["mail_owner"]).pw_uid, f
    _unchanged(victim)


def test_queue_directory_links_are_not_followed(instances, sink):
    """A queue tree whose top directory belonged to mail_owner (a broken
    install): links it left in place of private/ and db/ make ncctl start
    refuse, naming them, and the directories they point to keep their
    owner and mode."""
    inst = instances(smart_host=[sink])
    inst.start()
    inst.stop()
    owner = _pw(inst.settings["mail_owner"])
    for sub in ("private", "db"):
        target = os.path.join(inst.base, "root-dir-" + sub)
        os.mkdir(target, 0o750)
        os.chown(target, 0, 0)
        os.chown(inst.queue, owner.pw_uid, owner.pw_gid)
        path = os.path.join(inst.queue, sub)
        saved = path + ".saved"
        os.rename(path, saved)
        _owner_link(inst, path, target)
        _refused(inst, "%s is a symbolic link, not a directory" % path)
        st = os.stat(target)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o750), sub
        os.unlink(path)
        os.rename(saved, path)
        os.chown(inst.queue, 0, 0)
    inst.start()  # and the tree is root's again
    st = os.stat(inst.queue)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)


def test_private_directory_is_roots_and_its_sockets_are_not_followed(
        instances, sink):
    """An install whose private/ is still mail_owner's, where mail_owner
    left links named like the sockets: ncctl start makes private/ root's
    (0711), replaces the links by the sockets (mail_owner's, 0600) and
    leaves the files they pointed to alone; mail flows."""
    inst = instances(smart_host=[sink])
    inst.start()
    inst.stop()
    owner = _pw(inst.settings["mail_owner"])
    private = os.path.join(inst.queue, "private")
    os.chown(private, owner.pw_uid, owner.pw_gid)
    os.chmod(private, 0o700)
    victims = {}
    for name in ("qmgr", "resolver"):
        victims[name] = _victim(inst, "victim-" + name)
        _owner_link(inst, os.path.join(private, name), victims[name])

    inst.start()
    st = os.lstat(private)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o711)
    for name, victim in victims.items():
        st = os.lstat(os.path.join(private, name))
        assert stat.S_ISSOCK(st.st_mode), name
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == \
            (owner.pw_uid, 0o600), name
        _unchanged(victim)
    for name in ("control", "showq"):
        st = os.lstat(os.path.join(inst.queue, "public", name))
        assert stat.S_ISSOCK(st.st_mode), name
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o666), name
    assert inst.ctl("check").returncode == 0
    tok = new_token()
    inst.submit(["sock@links.example"], message(tok, "sock")[0])
    assert sink.wait_count(1, 20)


def test_log_and_drop_directory_links_are_not_followed(instances, sink):
    """log_target in a directory mail_owner may write: a link put there
    in place of the log makes ncctl start refuse, naming it, and the file
    it points to gets no line; so does a link in place of the
    drop_directory."""
    inst = instances(smart_host=[sink])
    owner = _pw(inst.settings["mail_owner"])
    logdir = os.path.join(inst.base, "logs")
    os.mkdir(logdir, 0o755)
    os.chown(logdir, owner.pw_uid, owner.pw_gid)
    inst.logfile = os.path.join(logdir, "maillog")
    inst.configure(log_target=inst.logfile)
    victim = _victim(inst, mode=0o644)
    _owner_link(inst, inst.logfile, victim)
    _refused(inst, "log_target %s is a symbolic link" % inst.logfile,
             "not started")
    _unchanged(victim, 0o644)

    os.unlink(inst.logfile)
    os.mkfifo(inst.logfile, 0o644)  # not a regular file, and no reader
    _refused(inst, "log_target %s is not a regular file" % inst.logfile)
    os.unlink(inst.logfile)

    target = os.path.join(inst.base, "root-drop")
    os.mkdir(target, 0o755)
    drop = os.path.join(inst.base, "drop")
    os.symlink(target, drop)
    inst.configure(drop_directory=drop)
    _refused(inst, "%s is a symbolic link, not a directory" % drop)
    st = os.stat(target)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)
    os.unlink(drop)
    inst.start()
    st = os.lstat(drop)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == owner.pw_uid
    assert stat.S_IMODE(st.st_mode) == 0o1733
    assert inst.log_lines("daemon started")


# ---- listings come from showq, never from root ---------------------------

LISTER = r'''
import socket, struct, sys, time
path, n, read = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "read"
def frame(t, p=b""):
    return struct.pack(">II", len(p), t) + p
def s(x):
    x = x.encode()
    return struct.pack(">I", len(x)) + x + b"\0"
req = frame(M_REQ_LIST, struct.pack(">I", 0) + s("") + s("") + s("") +
            struct.pack(">I", 0))
socks = []
for i in range(n):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.sendall(req)
    socks.append(c)
print("sent", flush=True)
sys.stdin.readline()  # hold the listings open, unread, until told
for c in socks:
    c.settimeout(30)
    got = b""
    try:
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            got += b
    except OSError as e:
        print("error", e, flush=True)
    types = []
    while len(got) >= 8:
        ln, t = struct.unpack(">II", got[:8])
        types.append(t)
        got = got[8 + ln:]
    print(" ".join(map(str, types)), flush=True)
'''


def _script(inst, name, text):
    path = os.path.join(inst.base, name)
    with open(path, "w") as f:
        f.write(script(text))
    os.chmod(path, 0o644)
    return path


def _root_mapping_queue(inst):
    """Processes of the instance running as root with data.mdb mapped."""
    out = []
    for p in inst.processes():
        if 0 in p.ids("Uid") and _maps_data(p.pid):
            out.append(p)
    return out


def _maps_data(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return any(line.rstrip().endswith("/data.mdb") for line in f)
    except OSError:
        return False


def test_showq_lists_each_users_own_mail_as_mail_owner(instances, sinks):
    """nobody's ncqshow lists exactly nobody's messages, through showq;
    showq and each listing child run as mail_owner chrooted to the queue
    directory, and no process running as root maps the queue, during a
    listing or after. A user with four listings open has a fifth refused
    (M_REPLY code 1, logged), while another user still gets theirs."""
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], min_backoff="1h", max_backoff="1h")
    inst.use_private_copies()
    inst.start()
    owner = _pw(inst.settings["mail_owner"])
    inst.submit(["root-rcpt@showq.example"],
                message(new_token(), "root-rcpt")[0])
    # one message too big for the socket buffers: a listing of it that
    # is not read stays in progress
    rcpts = ["r%05d-of-a-long-list@big.example" % i for i in range(12000)]
    inst.submit(rcpts, b"Subject: big\n\nbody\n", as_user=USER)
    inst.submit(["small@nobody.example"], b"Subject: small\n\nbody\n",
                as_user=USER)
    q = inst.wait_deferred(3, timeout=60)
    mine = sorted(m["queue_id"] for m in q
                  if m["recipients"][0]["address"] != "root-rcpt@showq"
                  ".example")
    assert len(mine) == 2

    got = inst.qshow_json(as_user=USER)
    assert sorted(m["queue_id"] for m in got) == mine, got
    showq = [p for p in inst.processes() if p.name == "showq"]
    assert len(showq) == 1, inst.processes()
    assert set(showq[0].ids("Uid")) == {owner.pw_uid}
    assert set(showq[0].ids("Gid")) == {owner.pw_gid}
    assert showq[0].root() == inst.queue

    lister = _script(inst, "lister.py", LISTER)
    sock = os.path.join(inst.queue, "public", "showq")
    held = subprocess.Popen(
        ["runuser", "-u", USER, "--", "/usr/bin/python3", lister, sock, "4",
         "read"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        assert held.stdout.readline() == b"sent\n"

        def listing():
            kids = [p for p in inst.processes()
                    if p.name == "showq" and p.pid != showq[0].pid]
            if len(kids) == 4 and all(_maps_data(k.pid) for k in kids):
                return kids
            return None
        kids = wait_for(listing, 20, "four listings in progress")
        for k in kids:
            assert set(k.ids("Uid")) == {owner.pw_uid}, k
            assert k.root() == inst.queue, k
        assert _root_mapping_queue(inst) == []
        assert not _maps_data(inst.master_pid())

        # a fifth listing of the same user is refused
        r = _as(USER, "/usr/bin/python3", "-c", r'''
import socket, struct, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(10)
c.connect(sys.argv[1])
got = b""
while True:
    b = c.recv(65536)
    if not b:
        break
    got += b
n, t = struct.unpack(">II", got[:8])
code, ln = struct.unpack(">II", got[8:16])
print(t, code, got[16:16 + ln].decode())
''', sock)
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().startswith(
            "%d 1 too many listings of yours in progress (at most 4 at "
            "once)" % M_REPLY), r.stdout
        assert inst.log_lines("showq: refused uid %d" % _pw(USER).pw_uid)
        # another user is not locked out
        r = inst.qshow("--json", as_user=OTHER, check=False)
        assert r.returncode == 0 and r.stdout == b"", r.stderr
        assert _root_mapping_queue(inst) == []
    finally:
        out, err = held.communicate(b"go\n", timeout=60)
    lines = out.decode().splitlines()
    assert len(lines) == 4, (out, err)
    for line in lines:  # each listing complete: two items, then the reply
        assert line == "%d %d %d" % (M_LIST_ITEM, M_LIST_ITEM, M_REPLY), \
            lines
    wait_for(lambda: len([p for p in inst.processes()
                          if p.name == "showq"]) == 1, 20,
             "the listing children gone")
    assert _root_mapping_queue(inst) == []
    assert not _maps_data(inst.master_pid())


def test_root_reads_the_queue_as_mail_owner(instances, sinks):
    """ncqshow, ncctl status and ncctl show run by root read the queue as
    mail_owner: the LMDB lock file they make when there is none is
    mail_owner's. With QDIR/db replaced by a link they refuse, naming it,
    and read nothing."""
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], min_backoff="1h", max_backoff="1h")
    inst.start()
    tok = new_token()
    inst.submit(["x@asowner.example"], message(tok, "x")[0])
    qid = inst.wait_deferred(1)[0]["queue_id"]
    inst.stop()
    owner = _pw(inst.settings["mail_owner"]).pw_uid
    db = os.path.join(inst.queue, "db")
    lock = os.path.join(db, "lock.mdb")
    for argv in (("qshow",), ("ctl", "status"), ("ctl", "show", qid)):
        os.unlink(lock)
        if argv[0] == "qshow":
            r = inst.qshow("--json", check=False)
            assert r.returncode == 0 and qid.encode() in r.stdout, r
        else:
            r = inst.ctl(*argv[1:])
            assert tok.encode() in r.stdout or \
                b"deferred=1" in r.stdout, r
        st = os.lstat(lock)
        assert stat.S_ISREG(st.st_mode) and st.st_uid == owner, argv

    os.rename(db, db + ".real")
    os.symlink(db + ".real", db)
    r = inst.qshow(check=False)
    assert r.returncode == 75, r
    assert "%s is a symbolic link, not a directory owned by %s" % (
        db, inst.settings["mail_owner"]) in r.stderr.decode(), r.stderr
    r = inst.ctl("status")
    assert "queue: not read: %s is a symbolic link" % db in \
        r.stdout.decode(), r.stdout
    r = inst.ctl("show", qid)
    assert r.returncode == 1 and "symbolic link" in r.stderr.decode()
    os.unlink(db)
    os.rename(db + ".real", db)


# ---- the control socket: per-uid limit, idle time-out, unread output ----

STREAM = r'''
import socket, struct, sys, time
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
c.settimeout(60)
data = struct.pack(">II", 0, M_REQ_STATUS) * 100000  # REQ_STATUS, never read
t0 = time.monotonic()
try:
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    while c.recv(1 << 20):
        time.sleep(0.01)
    print("eof", round(time.monotonic() - t0, 1), flush=True)
except socket.timeout:
    print("timeout", flush=True)
except OSError as e:
    print("cut", round(time.monotonic() - t0, 1), e.errno, flush=True)
'''


def test_control_client_that_does_not_read_is_cut_off(instances, sink):
    """An ordinary user streams 100,000 REQ_STATUS frames and reads no
    reply: the master stops reading from it, closes it (logged with its
    uid) and its memory stays where it was."""
    inst = instances(smart_host=[sink])
    inst.use_private_copies()
    inst.start()
    master = Proc(inst.master_pid())
    assert inst.ctl("status").returncode == 0
    before = master.rss()
    path = _script(inst, "stream.py", STREAM)
    r = _as(USER, "/usr/bin/python3", path,
            os.path.join(inst.queue, "public", "control"), timeout=90)
    out = r.stdout.decode().split()
    assert out and out[0] == "cut", (r.stdout, r.stderr)
    assert float(out[1]) < 40, out
    after = master.rss()
    assert after - before < 4 * 1024 * 1024, (before, after)
    uid = _pw(USER).pw_uid
    assert inst.log_lines("control client uid %d" % uid, "closing")
    assert inst.ctl("status").returncode == 0
    assert inst.master_pid() == master.pid


CROWD = r'''
import select, socket, struct, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks = []
for i in range(n):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    socks.append(c)
time.sleep(1)
r, _, _ = select.select(socks, [], [], 1)
gone = [c for c in r if c.recv(1) == b""]
open_ = [c for c in socks if c not in gone]
print(len(gone), flush=True)
sys.stdin.readline()
# the ones kept: answered while talking, closed once idle
c = open_[0]
c.sendall(struct.pack(">II", 0, M_REQ_STATUS))
c.settimeout(5)
print("answered" if c.recv(8) else "closed", flush=True)
t0 = time.monotonic()
left = list(open_)
while left:
    r, _, _ = select.select(left, [], [], 60)
    if not r:
        break
    for c in r:
        try:
            data = c.recv(65536)
        except OSError:
            data = b""
        if not data:
            left.remove(c)
print(len(left), round(time.monotonic() - t0, 1), flush=True)
'''

ASK_STATUS = r'''
import socket, struct, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(10)
c.connect(sys.argv[1])
c.sendall(struct.pack(">II", 0, M_REQ_STATUS))
got = b""
while len(got) < 16:
    b = c.recv(65536)
    if not b:
        sys.exit("closed")
    got += b
n, t = struct.unpack(">II", got[:8])
print(t, struct.unpack(">I", got[8:12])[0])
'''


def _crowd(inst, user, n):
    """Run CROWD as user: n connections to the control socket, held
    until told to go on; the first line it prints is how many the master
    closed at once."""
    control = os.path.join(inst.queue, "public", "control")
    return subprocess.Popen(
        ["runuser", "-u", user, "--", "/usr/bin/python3",
         _script(inst, "crowd.py", CROWD), control, str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)


def test_control_per_uid_limit_and_idle_timeout(instances, sink):
    """One ordinary user holding 64 connections keeps 8 (the 9th and
    later are refused and logged); a second user and root still get in;
    the 8 are answered while they talk and closed 15 s after their last
    request. showq closes a connection that sends no request in 10 s."""
    inst = instances(smart_host=[sink])
    inst.use_private_copies()
    inst.start()
    control = os.path.join(inst.queue, "public", "control")
    uid = _pw(USER).pw_uid
    crowd = _crowd(inst, USER, 64)
    try:
        assert int(crowd.stdout.readline()) == 64 - 8
        lines = inst.log_lines("control: refused uid %d: 8 connections "
                               "open (at most 8 per user)" % uid)
        assert len(lines) == 64 - 8, lines
        r = _as(OTHER, "/usr/bin/python3",
                _script(inst, "ask.py", ASK_STATUS), control)
        assert r.stdout.decode().split() == [str(M_REPLY), "0"], r
        assert inst.ctl("status").returncode == 0
        crowd.stdin.write(b"go\n")
        crowd.stdin.flush()
        assert crowd.stdout.readline() == b"answered\n"
        left, waited = crowd.stdout.readline().split()
        assert int(left) == 0
        assert 12 <= float(waited) <= 25, waited
    finally:
        crowd.kill()
        crowd.wait()
    assert inst.log_lines("control client uid %d: no request handled in "
                          "15s; closing" % uid)

    showq = os.path.join(inst.queue, "public", "showq")
    r = _as(USER, "/usr/bin/python3", "-c", r'''
import socket, sys, time
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
c.settimeout(30)
t0 = time.monotonic()
print(c.recv(10), round(time.monotonic() - t0, 1))
''', showq)
    data, waited = r.stdout.decode().split()
    assert data == "b''" and 8 <= float(waited) <= 15, r.stdout
    assert inst.log_lines("showq client uid %d: no request in 10s" % uid)


def test_control_mail_owner_bounded_too(instances, sink):
    """mail_owner is the daemons' user, and a compromised daemon must not
    take every descriptor of the root master either: it keeps 64
    connections, the rest are refused and logged; root still gets in."""
    inst = instances(smart_host=[sink])
    inst.use_private_copies()
    inst.start()
    owner = mail_owner()
    crowd = _crowd(inst, owner, 80)
    try:
        assert int(crowd.stdout.readline()) == 80 - 64
        lines = inst.log_lines("control: refused uid %d (mail_owner): 64 "
                               "connections open" % _pw(owner).pw_uid)
        assert len(lines) == 80 - 64, lines
        assert inst.ctl("status").returncode == 0
    finally:
        crowd.kill()
        crowd.wait()


# ---- a deep queue_directory ----------------------------------------------

def test_deep_queue_directory(instances, sink):
    """A queue_directory of more than 150 characters (a socket address
    holds 108): start, submission by root and by another user, delivery,
    ncqshow (directly and through showq), ncctl status and stop work."""
    inst = instances(smart_host=[sink])
    inst.use_private_copies()
    deep = inst.base
    for part in ("a-rather-long-directory-name-for-a-queue", "and-one-more-"
                 "level-of-it-to-be-sure", "x" * 40):
        deep = os.path.join(deep, part)
        os.mkdir(deep, 0o755)
    deep = os.path.join(deep, "queue")
    assert len(deep) > 150 and len(deep + "/private/resolver") > 108
    inst.queue = deep
    inst.configure(queue_directory=deep)
    inst.routes("held.example hold\n")
    inst.start()
    assert {"master", "pickup", "qmgr", "smtp", "bounce", "showq",
            "resolver"} <= {p.name for p in inst.processes()}
    inst.submit(["mail@held.example"], message(new_token(), "held")[0],
                as_user=USER)
    q = wait_for(lambda: [m for m in inst.qshow_json()
                          if m["queue_name"] == "hold"], 20,
                 "a message on hold")
    got = inst.qshow_json(as_user=USER)
    assert [m["queue_id"] for m in got] == [q[0]["queue_id"]], got
    out = inst.qshow(as_user=USER).stdout.decode()
    assert re.search(r"^%s!" % q[0]["queue_id"], out, re.M), out
    r = inst.ctl("status")
    assert r.returncode == 0 and "queue: incoming=0 active=0 " \
        "deferred=0 hold=1" in r.stdout.decode(), r.stdout
    assert inst.ctl("status", as_user=USER).returncode == 0
    tok = new_token()
    inst.submit(["now@deep.example"], message(tok, "now")[0],
                as_user=USER)
    assert sink.wait_count(1, 30)
    assert token_of(sink.snapshot()[0]) == tok
    assert inst.ctl("delete", "ALL").returncode == 0
    inst.wait_empty(20)
    inst.stop()
    assert inst.processes() == []


def test_daemons_cannot_inspect_each_other(running):
    """The daemons share mail_owner's uid, so one that is compromised
    (an smtp worker talking to a hostile server) must not read another's
    memory or trace it: every daemon is not dumpable, and as mail_owner
    /proc/PID/environ and /proc/PID/mem of each are refused."""
    owner = mail_owner()
    procs = [p for p in running.processes() if p.name != "master"]
    assert {"pickup", "qmgr", "smtp", "bounce", "showq"} <= \
        {p.name for p in procs}
    for p in procs:
        for what in ("environ", "mem"):
            r = _as(owner, "/usr/bin/python3", "-c",
                    "open('/proc/%d/%s', 'rb').read(1)" % (p.pid, what))
            assert r.returncode != 0 and b"Permission denied" in r.stderr, \
                (p, what, r.stderr)
