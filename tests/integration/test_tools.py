"""The set-up scripts of a fresh machine: tools/deps (the one package list,
tools/packages, that tools/local-start, tests/run-all and .ci/run all go
through) installs what dpkg-query does not report installed when run as
root, and otherwise prints the exact `sudo apt-get install` line and
stops; tools/local-start without an argument starts a capture sink that
writes each delivered message as an .eml file, and the stop command it
prints stops the instance and the sink."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from instance import BUILDDIR, SRCDIR, wait_for

DEPS = os.path.join(SRCDIR, "tools", "deps")
MISSING = ("libevent-dev", "pflogsumm")

FAKE_DPKG_QUERY = """#!/bin/sh
# dpkg-query -W -f=FORMAT PKG: "ii " unless PKG is in $FAKE_MISSING
for a; do pkg=$a; done
case " $FAKE_MISSING " in
*" $pkg "*) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1;;
esac
printf 'ii '
"""
# records each call; "install" fails until "update" ran when FAKE_STALE
FAKE_APT_GET = """#!/bin/sh
echo "$DEBIAN_FRONTEND $*" >>"$FAKE_LOG"
if [ "$1" = update ]; then touch "$FAKE_LOG.updated"; exit 0; fi
if [ -n "${FAKE_STALE:-}" ] && [ ! -e "$FAKE_LOG.updated" ]; then
    echo "E: Unable to locate package $4" >&2; exit 100
fi
exit 0
"""


@pytest.fixture
def fakes():
    d = tempfile.mkdtemp(prefix="ncmta-deps-", dir="/var/tmp")
    os.chmod(d, 0o777)  # nobody runs the fakes and may write the log
    for name, text in (("dpkg-query", FAKE_DPKG_QUERY),
                       ("apt-get", FAKE_APT_GET)):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def deps(fakes, *groups, missing=MISSING, as_root=False, stale=False):
    env = {"PATH": fakes + ":/usr/sbin:/usr/bin:/sbin:/bin",
           "FAKE_MISSING": " ".join(missing),
           "FAKE_LOG": os.path.join(fakes, "apt-get.log")}
    if stale:
        env["FAKE_STALE"] = "1"
    argv = ["env", "-i"] + ["%s=%s" % kv for kv in env.items()] + \
        [DEPS] + list(groups)
    if os.getuid() == 0 and not as_root:
        argv = ["runuser", "-u", "nobody", "--"] + argv
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p, apt_calls(fakes)


def apt_calls(fakes):
    try:
        with open(os.path.join(fakes, "apt-get.log")) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def listed(*groups):
    p = subprocess.run([DEPS, "--list"] + list(groups),
                       stdout=subprocess.PIPE, check=True, timeout=30)
    return p.stdout.decode().split()


def test_package_groups():
    build, test = listed("build"), listed("test")
    assert listed() == build
    for pkg in ("build-essential", "libevent-dev", "libidn2-dev",
                "liblmdb-dev", "python3"):
        assert pkg in build
    for pkg in ("python3-pytest", "python3-aiosmtpd", "pflogsumm", "swaks"):
        assert pkg in test and pkg not in build
    assert "clang-format" in listed("ci")
    both = listed("build", "test")
    assert len(both) == len(set(both)) == len(set(build) | set(test))
    p = subprocess.run([DEPS, "--list", "nosuch"], stderr=subprocess.PIPE,
                       stdout=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 2 and b'no group "nosuch"' in p.stderr


def test_every_script_takes_its_packages_from_the_one_list():
    def read(rel):
        with open(os.path.join(SRCDIR, rel)) as f:
            return f.read()
    ci = read(".ci/run")
    assert "tools/deps build test ci" in ci
    assert "apt-get install" not in ci  # no second list to drift
    assert "tools/deps build test" in read("tests/run-all")
    assert "tools/deps build\n" in read("tools/local-start")


def test_deps_names_the_missing_packages_to_a_user(fakes):
    p, calls = deps(fakes, "build", "test")
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert ("\n  sudo apt-get install -y --no-install-recommends "
            "libevent-dev pflogsumm\n") in err, err
    assert "missing Debian packages (build test): libevent-dev pflogsumm" \
        in err, err
    assert calls == []
    # the build list alone lacks only libevent-dev
    p, calls = deps(fakes, "build")
    assert p.returncode == 1
    assert "sudo apt-get install -y --no-install-recommends libevent-dev\n" \
        in p.stderr.decode()
    # nothing missing: silent, exit 0
    p, calls = deps(fakes, "build", "test", "ci", missing=())
    assert (p.returncode, p.stdout, p.stderr, calls) == (0, b"", b"", [])


@pytest.mark.skipif(os.getuid() != 0, reason="installing needs root")
def test_deps_installs_the_missing_packages_as_root(fakes):
    p, calls = deps(fakes, "build", "test", as_root=True)
    assert p.returncode == 0, p.stderr.decode()
    assert calls == ["noninteractive install -y --no-install-recommends "
                     "libevent-dev pflogsumm"]
    os.unlink(os.path.join(fakes, "apt-get.log"))
    # apt does not know the packages yet: update, then install again
    p, calls = deps(fakes, "build", as_root=True, stale=True)
    assert p.returncode == 0, p.stderr.decode()
    assert calls == [
        "noninteractive install -y --no-install-recommends libevent-dev",
        "noninteractive update",
        "noninteractive install -y --no-install-recommends libevent-dev"]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.mark.skipif(BUILDDIR != SRCDIR, reason="local-start builds in place")
def test_local_start_delivers_to_the_capture_sink():
    local = tempfile.mkdtemp(prefix="ncmta-local-", dir="/var/tmp")
    os.chmod(local, 0o755)
    env = dict(os.environ, NCMTA_LOCAL_DIR=local)
    sink_pid = master_pid = None
    try:
        p = subprocess.run([os.path.join(SRCDIR, "tools", "local-start")],
                           cwd=SRCDIR, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        out = p.stdout.decode(errors="replace")
        sink_pid = _pid(os.path.join(local, "sink.pid"))
        master_pid = _pid(os.path.join(local, "queue", "pid", "master.pid"))
        assert p.returncode == 0, out
        assert sink_pid and _alive(sink_pid), out
        assert "arrives as an .eml file in %s/sink/" % local in out, out
        submit = re.search(r"^  submit:  (.*)$", out, re.M).group(1)
        stop = re.search(r"^  stop:    (.*)$", out, re.M).group(1)

        r = subprocess.run(["sh", "-c", submit], cwd=SRCDIR, timeout=30,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr
        sink = os.path.join(local, "sink")
        # .NAME.eml is the sink's file being written, renamed once done
        eml = wait_for(lambda: [n for n in os.listdir(sink)
                                if n.endswith(".eml") and
                                not n.startswith(".")], 30,
                       "a message in local/sink")
        assert len(eml) == 1
        with open(os.path.join(sink, eml[0]), "rb") as f:
            text = f.read()
        assert b"X-Original-To: user@example.com\r\n" in text
        assert b"\r\nSubject: hi\r\n" in text

        r = subprocess.run(["sh", "-c", stop], cwd=SRCDIR, timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert r.returncode == 0, r.stdout
        wait_for(lambda: not _alive(sink_pid), 10, "the sink gone")
        wait_for(lambda: not _alive(master_pid), 20, "the master gone")
    finally:
        subprocess.run([os.path.join(SRCDIR, "tools", "local-stop")],
                       env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        for pid in (sink_pid, master_pid):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(local, ignore_errors=True)
