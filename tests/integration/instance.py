"""One ncmta instance for tests and benchmarks: its own configuration
directory, queue, log file and a directory of links to the daemons of the
build tree, started and stopped with ncctl. Several instances run side by
side; everything an instance owns lives under one base directory that the
privilege-dropped daemons can traverse.
"""

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

SRCDIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.path.abspath(os.environ.get("NCMTA_BUILDDIR", SRCDIR))
DAEMON_NAMES = ("master", "pickup", "qmgr", "smtp")


def bin_path(rel):
    return os.path.join(BUILDDIR, rel)


NCCTL = bin_path("commands/ncctl")
NCSENDMAIL = bin_path("commands/ncsendmail")
NCQSHOW = bin_path("commands/ncqshow")


def mail_owner():
    """ncmta when root (CI creates that user), else whoever runs us."""
    if os.getuid() == 0:
        return "ncmta"
    return pwd.getpwuid(os.getuid()).pw_name


def ensure_mail_owner():
    """Create the ncmta system user when running as root without it."""
    if os.getuid() != 0:
        return
    try:
        pwd.getpwnam("ncmta")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", "ncmta"], check=True)


def wait_for(pred, timeout, what="condition", interval=0.05,
             max_interval=0.5):
    """Poll pred() until it returns a true value (returned) or timeout
    seconds pass (AssertionError naming what we waited for)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)
        interval = min(interval * 1.5, max_interval)


def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


class Proc:
    """A process of an instance, as /proc shows it."""

    def __init__(self, pid):
        self.pid = pid
        self.comm = (_read("/proc/%d/comm" % pid) or "").strip()
        raw = _read("/proc/%d/cmdline" % pid, "rb") or b""
        self.cmdline = [a.decode("utf-8", "replace")
                        for a in raw.split(b"\0") if a]
        try:
            self.exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            self.exe = ""
        st = _read("/proc/%d/status" % pid) or ""
        self.status = dict(line.split(":", 1) for line in st.splitlines()
                           if ":" in line)
        self.ppid = int(self.status.get("PPid", "0").strip() or 0)

    @property
    def name(self):
        """The daemon: "master", "pickup", "qmgr", "smtp", ... or ""."""
        for cand in (self.comm, os.path.basename(self.exe),
                     os.path.basename(self.cmdline[0]) if self.cmdline
                     else ""):
            cand = cand.replace(" (deleted)", "")
            if cand.startswith("ncmta-"):
                return cand[len("ncmta-"):].split(":")[0].strip()
        return ""

    def ids(self, key):
        """Uid/Gid line of /proc/PID/status: [real, effective, saved, fs]."""
        return [int(x) for x in self.status.get(key, "").split()]

    def root(self):
        try:
            return os.readlink("/proc/%d/root" % self.pid)
        except OSError:
            return None

    def cpu_ticks(self):
        """utime + stime in clock ticks, or None when it is gone."""
        st = _read("/proc/%d/stat" % self.pid)
        if not st:
            return None
        fields = st.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def rss(self):
        """Resident set size in bytes, or 0 when it is gone."""
        sm = _read("/proc/%d/statm" % self.pid)
        return int(sm.split()[1]) * os.sysconf("SC_PAGE_SIZE") if sm else 0

    def pss(self):
        """Proportional set size in bytes (shared pages such as the LMDB
        map divided among the processes mapping them), or 0."""
        sm = _read("/proc/%d/smaps_rollup" % self.pid) or ""
        for line in sm.splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
        return 0

    def __repr__(self):
        return "<Proc %d %s>" % (self.pid, self.name or self.comm)


def _all_pids():
    for d in os.listdir("/proc"):
        if d.isdigit():
            yield int(d)


class Instance:
    """An ncmta instance under base_dir (made if None).

    settings override the test defaults; smart_host may be given as a list
    of sinks (their hostspec is used) or a string.
    """

    def __init__(self, base_dir=None, name="ncmta", **settings):
        if base_dir is None:
            base_dir = tempfile.mkdtemp(prefix="ncmta-%s-" % name,
                                        dir="/var/tmp")
        os.chmod(base_dir, 0o755)
        self.base = base_dir
        self.name = name
        self.confdir = os.path.join(base_dir, "etc")
        self.queue = os.path.join(base_dir, "queue")
        self.libexec = os.path.join(base_dir, "libexec")
        self.logfile = os.path.join(base_dir, "maillog")
        self.started = False
        self.expect_restarts = False  # tests that kill daemons set it
        self.run_as = None  # user name: run the commands as them (runuser)
        self.ncctl, self.ncsendmail, self.ncqshow = NCCTL, NCSENDMAIL, NCQSHOW
        os.makedirs(self.confdir, mode=0o755, exist_ok=True)
        os.makedirs(self.libexec, mode=0o755, exist_ok=True)
        self._link_daemons()
        self.settings = {
            "queue_directory": self.queue,
            "daemon_directory": self.libexec,
            "delivery_mode": "smarthost",
            "myhostname": "test.example",
            "log_target": self.logfile,
            "min_backoff": "1s",
            "max_backoff": "2s",
            "queue_run_delay": "1s",
            "smtp_connect_timeout": "2s",
            "smtp_helo_timeout": "5s",
            "smtp_data_timeout": "5s",
            "smtp_worker_count": "2",
            "mail_owner": mail_owner(),
            # The sinks speak plain SMTP; smart hosts would default to
            # "verify". TLS tests set their level, or None for the default.
            "smtp_tls_security_level": "may",
            # Port 25 is for the machine's own ncmta; a test that needs
            # smtpd gives its instance a free port.
            "smtpd_listen": "none",
        }
        self.configure(**settings)

    # -- configuration --------------------------------------------------------
    def _link_daemons(self):
        """Link every daemon of the build tree into libexec/."""
        for path in glob.glob(os.path.join(BUILDDIR, "daemons", "*",
                                           "ncmta-*")):
            if not os.access(path, os.X_OK) or path.endswith((".o", ".c")):
                continue
            link = os.path.join(self.libexec, os.path.basename(path))
            if not os.path.lexists(link):
                os.symlink(path, link)

    def use_private_copies(self):
        """Run copies of the commands and daemons kept under the base
        directory, for a user who cannot reach the build tree."""
        bindir = os.path.join(self.base, "bin")
        os.makedirs(bindir, mode=0o755, exist_ok=True)
        for attr in ("ncctl", "ncsendmail", "ncqshow"):
            dst = os.path.join(bindir, os.path.basename(getattr(self, attr)))
            shutil.copy2(getattr(self, attr), dst)
            setattr(self, attr, dst)
        for link in os.listdir(self.libexec):
            path = os.path.join(self.libexec, link)
            target = os.path.realpath(path)
            os.unlink(path)
            shutil.copy2(target, path)

    def configure(self, extra_lines=(), **settings):
        """Merge settings and (re)write ncmta.conf."""
        for k, v in settings.items():
            if k == "smart_host" and not isinstance(v, str):
                v = ", ".join(s.hostspec for s in v)
            if v is None:
                self.settings.pop(k, None)
            else:
                self.settings[k] = str(v)
        lines = ["# ncmta test instance %s" % self.name]
        lines += ["%s = %s" % kv for kv in self.settings.items()]
        lines += list(extra_lines)
        self.conffile = os.path.join(self.confdir, "ncmta.conf")
        with open(self.conffile, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conffile, 0o644)

    def routes(self, text):
        """Write the routing table (ncmta-routes(5)) to etc/routes and point
        route_table at it; returns its path."""
        path = os.path.join(self.confdir, "routes")
        with open(path, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        os.chmod(path, 0o644)
        if self.settings.get("route_table") != path:
            self.configure(route_table=path)
        return path

    # -- commands ---------------------------------------------------------------
    def run(self, argv, input=None, timeout=30, check=False, as_user=None):
        """Run a command (as_user, else run_as, else us)."""
        user = as_user or self.run_as
        if user:
            argv = ["runuser", "-u", user, "--"] + list(argv)
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv), p.returncode,
                p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace")))
        return p

    def ctl(self, *args, check=False, timeout=30, as_user=None):
        return self.run([self.ncctl, "-c", self.confdir] + list(args),
                        check=check, timeout=timeout, as_user=as_user)

    def submit(self, rcpts, data, sender=None, flags=("-i",), check=True,
               timeout=30, as_user=None):
        """ncsendmail the bytes data to rcpts; returns the CompletedProcess
        (AssertionError on a non-zero exit when check)."""
        if isinstance(data, str):
            data = data.encode()
        argv = [self.ncsendmail, "-C", self.confdir] + list(flags)
        if sender is not None:
            argv += ["-f", sender]
        argv += ["--"] + list(rcpts)
        return self.run(argv, input=data, check=check, timeout=timeout,
                        as_user=as_user)

    def qshow(self, *args, check=True, as_user=None):
        return self.run([self.ncqshow, "-c", self.confdir] + list(args),
                        check=check, as_user=as_user)

    def qshow_json(self, *args, as_user=None):
        """The queue as ncqshow --json lists it: a list of dicts."""
        p = self.qshow("--json", *args, as_user=as_user)
        out = []
        for line in p.stdout.decode().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def log(self):
        return _read(self.logfile, "rb").decode("utf-8", "replace") \
            if os.path.exists(self.logfile) else ""

    def log_lines(self, *needles):
        """Log lines that contain every one of needles."""
        return [line for line in self.log().splitlines()
                if all(n in line for n in needles)]

    def wait_empty(self, timeout=20):
        """Wait until ncqshow lists nothing."""
        wait_for(lambda: self.qshow_json() == [], timeout,
                 "%s: an empty queue" % self.name)

    def queue_ids(self, *args):
        """Queue IDs ncqshow --json lists (with its filters args)."""
        return [m["queue_id"] for m in self.qshow_json(*args)]

    def states(self):
        """{queue ID: queue_name} of every queued message."""
        return {m["queue_id"]: m["queue_name"] for m in self.qshow_json()}

    def wait_deferred(self, n=1, timeout=20):
        """Wait until n messages are queued and every one is deferred;
        returns ncqshow --json's list."""
        def deferred():
            q = self.qshow_json()
            if len(q) == n and all(m["queue_name"] == "deferred"
                                   for m in q):
                return q
            return None
        return wait_for(deferred, timeout,
                        "%s: %d message(s) deferred" % (self.name, n))

    def maildrop_files(self):
        d = os.path.join(self.queue, "maildrop")
        try:
            return [f for f in os.listdir(d) if not f.startswith(".")]
        except OSError:
            return []

    # -- life cycle -----------------------------------------------------------
    def start(self, wait=True, timeout=15):
        self.ctl("start", check=True)
        self.started = True
        if wait:
            self.wait_ready(timeout)
        return self

    def uses_resolver(self):
        """Whether this instance needs the resolver daemon: direct mode or
        a routing table, and a build that has it."""
        built = os.path.exists(os.path.join(self.libexec, "ncmta-resolver"))
        return built and (self.settings.get("delivery_mode") == "direct" or
                          bool(self.settings.get("route_table")))

    def wait_ready(self, timeout=15):
        """Wait until the master, pickup, qmgr, every smtp worker and, when
        it is needed, the resolver run."""
        want = int(self.settings.get("smtp_worker_count", "1"))
        resolver = self.uses_resolver()

        def ready():
            names = [p.name for p in self.processes()]
            return (names.count("master") == 1 and "pickup" in names and
                    "qmgr" in names and names.count("smtp") >= want and
                    (not resolver or "resolver" in names) and
                    self.ctl("status").returncode == 0)
        wait_for(ready, timeout, "%s: every daemon running" % self.name)

    def master_pid(self):
        txt = _read(os.path.join(self.queue, "pid", "master.pid"))
        try:
            pid = int(txt.split()[0])
        except (AttributeError, ValueError, IndexError):
            return None
        return pid if os.path.exists("/proc/%d" % pid) else None

    def processes(self):
        """Every live process of this instance: the master (pid file or
        command line), its children, and strays whose command line names
        our configuration directory or whose root is our queue."""
        master = self.master_pid()
        found = {}
        for pid in _all_pids():
            p = Proc(pid)
            if not p.comm and not p.cmdline:
                continue
            if p.status.get("State", "").strip().startswith("Z"):
                continue
            root = p.root() if p.name else None  # None once it is gone
            mine = (pid == master or (master and p.ppid == master) or
                    self.confdir in p.cmdline or
                    (root is not None and root.startswith(self.queue)))
            if mine and p.name:
                found[pid] = p
        return sorted(found.values(), key=lambda p: p.pid)

    def pids(self, name):
        return [p.pid for p in self.processes() if p.name == name]

    def stop(self, timeout=20):
        """ncctl stop, wait for every process to go, kill what stays."""
        if self.started:
            self.ctl("stop", timeout=timeout)
        try:
            wait_for(lambda: not self.processes(), timeout,
                     "%s: every process gone" % self.name)
        finally:
            self.kill_all()
            self.started = False

    def kill_all(self):
        for p in self.processes():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass

    def cleanup(self, keep=False):
        self.stop() if self.started else self.kill_all()
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)
