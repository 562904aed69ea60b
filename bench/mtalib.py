"""The set-up shared by the bench/ scripts that put ncmta next to Postfix
(bench/smtpd-vs-postfix, bench/compare, bench/million): an extracted, not
installed, copy of Debian's postfix package; a private Postfix instance of
it (its own main.cf and master.cf under /var/tmp, never a system service);
Postfix's smtp-sink and smtp-source as sink and load; an ncmta instance of
the build tree (tests/integration/instance.py) set up the same way.
"""

import contextlib
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from instance import (SRCDIR, Instance, Proc,  # noqa: E402
                      ensure_mail_owner, wait_for)
from peers import free_port  # noqa: E402

PKG_CACHE = "/var/tmp/ncmta-bench-postfix"
SENDER, RCPT = "a@example.com", "b@example.org"
# Postfix's message queues; empty when everything has been delivered.
PF_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")
PROG = "bench"  # the prefix of say()'s lines; each script sets its name


class SetupError(Exception):
    """Something the run needs could not be set up; the text says what."""


def say(fmt, *args):
    print("%s: %s" % (PROG, fmt % args if args else fmt), flush=True)


def run(argv, timeout, **kw):
    """subprocess.run with captured text output and a time limit; a
    command that cannot be run or overruns comes back as exit status
    127 or 124 with the reason in stderr."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              timeout=timeout, **kw)
    except OSError as e:
        return subprocess.CompletedProcess(argv, 127, "", str(e))
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            argv, 124, "", "%s: no exit after %d s" % (argv[0], timeout))


def wait_listening(port, timeout, what, host="127.0.0.1"):
    """Until something accepts TCP connections on host:port."""
    def up():
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex((host, port)) == 0
    wait_for(up, timeout, what)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


# -- the postfix package --------------------------------------------------------


class PostfixPackage:
    """An extracted (not installed) copy of Debian's postfix package. Its
    programs find their shared libraries through LD_LIBRARY_PATH (env)."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.sbin = os.path.join(self.root, "usr", "sbin")
        self.shlib = os.path.join(self.root, "usr", "lib", "postfix")
        self.daemons = os.path.join(self.shlib, "sbin")
        self.meta = os.path.join(self.root, "etc", "postfix")
        self.env = dict(os.environ, LD_LIBRARY_PATH=self.shlib)
        self.check()
        p = run([self.tool("postconf"), "-d", "-h", "mail_version"], 30,
                env=self.env)
        self.version = p.stdout.strip() or "?"

    def tool(self, name):
        return os.path.join(self.sbin, name)

    def check(self):
        """SetupError unless the programs are there and every library they
        need is found."""
        progs = [self.tool(t) for t in ("postfix", "postconf", "smtp-source",
                                        "smtp-sink")]
        progs += [os.path.join(self.daemons, d)
                  for d in ("master", "smtpd", "cleanup", "qmgr", "smtp")]
        missing = [p for p in progs if not os.access(p, os.X_OK)]
        if missing:
            raise SetupError("%s is not an extracted postfix package: no %s%s"
                             % (self.root, ", ".join(missing[:2]),
                                ", ..." if len(missing) > 2 else ""))
        libs = set()
        for p in progs:
            out = run(["ldd", p], 30, env=self.env).stdout
            libs.update(m.group(1) for m in
                        re.finditer(r"(\S+) => not found", out))
        if libs:
            raise SetupError("postfix's programs miss libraries: %s (apt-get "
                             "install the packages that hold them)"
                             % " ".join(sorted(libs)))

    @classmethod
    def obtain(cls, root=None):
        """The package at root when given, else the cached copy, fetched
        and extracted when missing."""
        if root:
            return cls(root)
        tree = os.path.join(PKG_CACHE, "root")
        if not os.path.exists(os.path.join(tree, "usr", "sbin", "postfix")):
            fetch_postfix(tree)
        return cls(tree)


def fetch_postfix(dest):
    """apt-get download postfix into a temporary directory and dpkg -x the
    .deb into dest; when the download fails, once more after apt-get
    update (root only). SetupError when there is no package in the end."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ncmta-bench-pfx-", dir="/var/tmp")
    try:
        os.chmod(tmp, 0o755)
        with contextlib.suppress(KeyError, OSError):
            shutil.chown(tmp, "_apt")  # apt downloads as _apt when it can
        say("fetching the postfix package (apt-get download postfix)")
        p = run(["apt-get", "download", "postfix"], 600, cwd=tmp)
        if p.returncode != 0 and os.getuid() == 0:
            say("apt-get download failed; apt-get update and once more")
            run(["apt-get", "update"], 600)
            p = run(["apt-get", "download", "postfix"], 600, cwd=tmp)
        debs = glob.glob(os.path.join(tmp, "postfix_*.deb"))
        if p.returncode != 0 or not debs:
            raise SetupError("apt-get download postfix failed (exit %d): %s"
                             % (p.returncode, (p.stderr or p.stdout).strip()
                                [-600:]))
        new = dest + ".new"
        shutil.rmtree(new, ignore_errors=True)
        x = run(["dpkg", "-x", debs[0], new], 300)
        if x.returncode != 0:
            raise SetupError("dpkg -x %s: %s" % (debs[0], x.stderr.strip()))
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(new, dest)
        say("extracted %s into %s", os.path.basename(debs[0]), dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_postfix_ids():
    """The postfix user (mail_owner) and the postdrop group (setgid_group)
    that Postfix insists on; made as system accounts when missing."""
    if os.getuid() != 0:
        raise SetupError("a private Postfix instance needs root")
    try:
        grp.getgrnam("postdrop")
    except KeyError:
        subprocess.run(["groupadd", "--system", "postdrop"], check=True)
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        try:
            grp.getgrnam("postfix")
            group = ["-g", "postfix"]
        except KeyError:
            group = ["--user-group"]
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin"] + group + ["postfix"],
                       check=True)


# -- sink and load ----------------------------------------------------------------


class SmtpSink:
    """Postfix's smtp-sink on host:port (default: a free port of
    127.0.0.1): takes every message and throws it away. A thread follows
    its running counter (-c): count (messages), last (the time the count
    last grew), as bench/run's SinkProc has them."""

    def __init__(self, pkg, errfile, host="127.0.0.1", port=None):
        self.host, self.port = host, port or free_port(host)
        user = ["-u", "nobody"] if os.getuid() == 0 else []
        self.err = open(errfile, "w")
        self.p = subprocess.Popen(
            [pkg.tool("smtp-sink"), "-c"] + user +
            ["%s:%d" % (host, self.port), "256"], env=pkg.env,
            stdout=subprocess.PIPE, stderr=self.err)
        self.pid = self.p.pid
        self.count, self.last = 0, 0.0
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        try:
            wait_listening(self.port, 10, "smtp-sink on %s:%d"
                           % (host, self.port), host=host)
        except AssertionError:
            self.close()
            raise SetupError("smtp-sink did not start: %s"
                             % " ".join(tail(errfile, 3)))

    def _read(self):
        fd = self.p.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            # "\rsess=N quit=N mesg=N" after each session, QUIT and "."
            m = re.findall(rb"mesg=(\d+)", chunk)
            if m and int(m[-1]) > self.count:
                self.count, self.last = int(m[-1]), time.time()

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.t.join(5)
        self.err.close()


def smtp_source_argv(pkg, port, n, sessions, size, share, host="127.0.0.1",
                     rcpt=RCPT):
    """smtp-source's command line: n messages of size bytes from SENDER
    to rcpt in `sessions` parallel sessions, a new connection per message
    unless share (-d)."""
    argv = [pkg.tool("smtp-source"), "-s", str(sessions), "-m", str(n),
            "-l", str(size), "-f", SENDER, "-t", rcpt]
    argv += ["-d"] if share else []
    return argv + ["%s:%d" % (host, port)]


def smtp_source(pkg, port, n, sessions, size, share, timeout):
    """Postfix's smtp-source: n messages of size bytes in `sessions`
    parallel sessions, each message on a new connection unless share
    (-d). Returns (start, end, error text or None)."""
    argv = smtp_source_argv(pkg, port, n, sessions, size, share)
    t0 = time.time()
    p = run(argv, timeout, env=pkg.env)
    t1 = time.time()
    if p.returncode != 0:
        return t0, t1, "smtp-source exit %d: %s" % (
            p.returncode, (p.stderr + p.stdout).strip()[-400:])
    return t0, t1, None


def python_source(port, n, sessions, size, share, timeout):
    """The stand-in for smtp-source when the package is not there:
    `sessions` threads of smtplib taking messages from one counter, a new
    connection per message unless share. Same return as smtp_source."""
    head = "From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\n\r\n" % (SENDER, RCPT)
    msg = head + (("X" * 78 + "\r\n") * (size // 80 + 1))[:size]
    state = {"left": n, "errors": []}
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def take():
        with lock:
            if state["left"] <= 0 or state["errors"]:
                return False
            state["left"] -= 1
            return True

    def session():
        conn = None
        try:
            while take():
                if time.monotonic() > deadline:
                    raise TimeoutError("no end after %d s" % timeout)
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", port, timeout=60)
                conn.sendmail(SENDER, [RCPT], msg)
                if not share:
                    conn.quit()
                    conn = None
            if conn is not None:
                conn.quit()
        except (OSError, smtplib.SMTPException) as e:
            with lock:
                state["errors"].append("%s: %s" % (type(e).__name__, e))

    t0 = time.time()
    threads = [threading.Thread(target=session, daemon=True)
               for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 70))
    t1 = time.time()
    if any(t.is_alive() for t in threads):
        state["errors"].append("a session did not end")
    return t0, t1, state["errors"][0] if state["errors"] else None


# -- the two MTAs ---------------------------------------------------------------


class Ncmta:
    """An ncmta instance of the build tree, smtpd on a free loopback port
    (smtpd=False: none), smart host the sink (sink_port None: none, the
    settings say where mail goes); otherwise the defaults of a test
    instance (which are ncmta's for everything that matters here: 2 smtp
    workers). settings are passed on to the instance."""

    label = "ncmta"

    def __init__(self, sink_port=None, name="smtpdbench", smtpd=True,
                 **settings):
        ensure_mail_owner()
        self.port = free_port() if smtpd else None
        if sink_port is not None:
            settings.setdefault("smart_host", "[127.0.0.1]:%d" % sink_port)
        if smtpd:
            settings["smtpd_listen"] = "127.0.0.1:%d" % self.port
        self.inst = Instance(name=name, **settings)
        self.base = self.inst.base
        head = run(["git", "-C", SRCDIR, "log", "-1", "--format=%h %cs"], 10)
        self.version = "build tree %s" % (head.stdout.strip() or SRCDIR)

    def start(self):
        self.inst.start()
        if self.port:
            wait_listening(self.port, 15,
                           "ncmta smtpd on port %d" % self.port)

    def processes(self):
        return self.inst.processes()

    def queue_empty(self):
        return self.inst.qshow_json() == []

    def queued(self):
        """How many messages the queue holds (ncqshow --json)."""
        return len(self.inst.qshow_json())

    def states(self):
        """{state: messages} from ncqshow -s's first table: TOTAL,
        incoming, active, deferred, hold. Run as root it reads the queue
        database itself; the daemons do no work for it."""
        out = {}
        p = self.inst.qshow("-s", check=False)
        for line in p.stdout.decode(errors="replace").splitlines():
            f = line.split()
            if len(f) > 2 and f[0] in ("TOTAL", "incoming", "active",
                                      "deferred", "hold") and f[1].isdigit():
                out.setdefault(f[0], int(f[1]))
        return out

    def hold(self, on):
        """Hold delivery (a routing table of "* hold", reloaded), or let
        it go (no table, reloaded, every message released)."""
        if on:
            self.inst.routes("*  hold")
        else:
            self.inst.configure(route_table=None)
        self.inst.ctl("reload", check=True)
        if not on:
            self.inst.ctl("release", "ALL", check=True)

    def log_tail(self):
        return tail(self.inst.logfile)

    def cleanup(self, keep=False):
        self.inst.cleanup(keep=keep)


MAIN_CF = """\
# Postfix instance of a bench/ script
compatibility_level = 3.6
queue_directory = {base}/spool
data_directory = {base}/data
daemon_directory = {pkg.daemons}
shlib_directory = {pkg.shlib}
command_directory = {pkg.sbin}
meta_directory = {pkg.meta}
sendmail_path = {pkg.sbin}/sendmail
newaliases_path = {pkg.sbin}/newaliases
mailq_path = {pkg.sbin}/mailq
manpage_directory = {pkg.root}/usr/share/man
html_directory = no
readme_directory = no
sample_directory = no
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
    POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH={pkg.shlib}
# sendmail runs postdrop with these alone: it needs the libraries too
export_environment = TZ MAIL_CONFIG LANG LD_LIBRARY_PATH
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
syslog_name = postfix-bench
myhostname = postfix-bench.example
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_process_limit = {procs}
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
"""

# The Debian master.cf without chroot, without local delivery and pipes;
# SMTPD_CF is its smtpd line, left out when the instance takes no SMTP.
SMTPD_CF = "127.0.0.1:{port} inet n - n - - smtpd\n"
MASTER_CF = """\
# service type  private unpriv chroot wakeup maxproc command
{smtpd}pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A private Postfix instance of the extracted package under
    /var/tmp/ncmta-bench-postfix-*: etc/ (main.cf, master.cf), spool/
    (queue_directory), data/, maillog. Started and stopped with
    `postfix -c etc/ start|stop`; its processes are the master's tree.

    sink_port: relayhost [127.0.0.1]:sink_port (None: no relayhost, MX
    lookups). smtpd: an smtpd on a free loopback port (self.port). main_cf:
    more main.cf lines. resolv_conf: the text of an /etc/resolv.conf that
    the instance alone sees: the master is started in a mount namespace of
    its own (unshare --mount) in which a file of that text is bind-mounted
    on /etc/resolv.conf, which elsewhere stays as it is."""

    label = "Postfix"

    def __init__(self, pkg, sink_port=None, sessions=20, smtpd=True,
                 main_cf="", resolv_conf=None):
        ensure_postfix_ids()
        self.pkg = pkg
        self.version = "Postfix %s (extracted package)" % pkg.version
        self.port = free_port() if smtpd else None
        self.base = tempfile.mkdtemp(prefix="ncmta-bench-postfix-",
                                     dir="/var/tmp")
        os.chmod(self.base, 0o755)
        self.conf = os.path.join(self.base, "etc")
        self.spool = os.path.join(self.base, "spool")
        self.logfile = os.path.join(self.base, "maillog")
        for d in (self.conf, self.spool):
            os.makedirs(d, mode=0o755)
        settings = dict(base=self.base, pkg=pkg, port=self.port,
                        procs=max(100, 4 * sessions))
        settings["smtpd"] = SMTPD_CF.format(**settings) if smtpd else ""
        main = MAIN_CF
        if sink_port is not None:
            main += "relayhost = [127.0.0.1]:%d\n" % sink_port
        main += main_cf
        for name, text in (("main.cf", main), ("master.cf", MASTER_CF)):
            with open(os.path.join(self.conf, name), "w") as f:
                f.write(text.format(**settings))
        self.resolv = None
        if resolv_conf is not None:
            self.resolv = os.path.join(self.base, "resolv.conf")
            with open(self.resolv, "w") as f:
                f.write(resolv_conf)
            os.chmod(self.resolv, 0o644)
        self.started = False

    def postfix(self, *args, timeout=60):
        return run([self.pkg.tool("postfix"), "-c", self.conf] + list(args),
                   timeout, env=self.pkg.env)

    def start(self):
        self.started = True
        if self.resolv:
            p = run(["unshare", "--mount", "--propagation", "private", "--",
                     "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && '
                     'exec "$@"', self.resolv, self.pkg.tool("postfix"),
                     "-c", self.conf, "start"], 120, env=self.pkg.env)
        else:
            p = self.postfix("start", timeout=120)
        if p.returncode != 0:
            raise SetupError("postfix start failed (exit %d):\n%s" % (
                p.returncode, "\n".join([(p.stderr + p.stdout).strip()] +
                                        self.log_tail())))
        try:
            if self.port:
                wait_listening(self.port, 15,
                               "Postfix smtpd on port %d" % self.port)
            else:
                wait_for(self.master_pid, 15, "Postfix's master")
        except AssertionError as e:
            raise SetupError("%s\n%s" % (e, "\n".join(self.log_tail())))

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if os.path.exists("/proc/%d" % pid) else None

    def processes(self):
        """The master and everything below it."""
        master = self.master_pid()
        if master is None:
            return []
        procs = [Proc(int(d)) for d in os.listdir("/proc") if d.isdigit()]
        kids = {}
        for p in procs:
            kids.setdefault(p.ppid, []).append(p)
        out, todo = [], [p for p in procs if p.pid == master]
        while todo:
            p = todo.pop()
            if p.status.get("State", "").strip().startswith("Z"):
                continue
            out.append(p)
            todo.extend(kids.get(p.pid, []))
        return sorted(out, key=lambda p: p.pid)

    def strays(self):
        """Processes whose environment names our configuration directory
        (MAIL_CONFIG), whoever their parent is now."""
        needle = b"MAIL_CONFIG=" + self.conf.encode() + b"\0"
        found = []
        for d in os.listdir("/proc"):
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    if needle in f.read() + b"\0":
                        found.append(int(d))
            except (OSError, ValueError):
                continue
        return found

    def hold(self, on):
        """Hold delivery: smtpd's end-of-data restriction HOLD for every
        client (check_client_access static:HOLD, reloaded) puts each
        message in the hold queue, which the queue manager leaves alone;
        or let it go (no restriction, reloaded, postsuper -H ALL and
        postqueue -f)."""
        p = run([self.pkg.tool("postconf"), "-c", self.conf, "-e",
                 "smtpd_end_of_data_restrictions = %s" % (
                     "check_client_access static:HOLD" if on else "")],
                30, env=self.pkg.env)
        if p.returncode != 0:
            raise SetupError("postconf: %s" % (p.stderr + p.stdout).strip())
        self.postfix("reload")
        if not on:
            # released messages go to deferred/: flush makes them due now
            run([self.pkg.tool("postsuper"), "-c", self.conf, "-H", "ALL"],
                60, env=self.pkg.env)
            run([self.pkg.tool("postqueue"), "-c", self.conf, "-f"], 60,
                env=self.pkg.env)

    def queued(self, queues=PF_QUEUES):
        """How many message files the queues hold."""
        return sum(len(files) for q in queues
                   for _, _, files in os.walk(os.path.join(self.spool, q)))

    def queue_empty(self):
        for q in PF_QUEUES:
            for _, _, files in os.walk(os.path.join(self.spool, q)):
                if files:
                    return False
        return True

    def log_tail(self):
        return tail(self.logfile)

    def cleanup(self, keep=False):
        """postfix stop, then SIGKILL to whatever is left, by pid."""
        if self.started:
            self.postfix("stop", timeout=30)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not self.processes(), 10,
                         "Postfix processes gone")
        for pid in set(p.pid for p in self.processes()) | set(self.strays()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.started = False
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)


