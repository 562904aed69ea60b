"""Installation: `make install DESTDIR=...` lays out the commands, the
daemons, a man page for every command and file format, the systemd unit
and a default configuration that it never overwrites; `make install-mta`
adds the sendmail/mailq/newaliases links; `make uninstall` takes back what
install put there. `ncctl check` names a queue directory whose mode or
owner is wrong, and `ncctl start` puts it right.
"""

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from instance import BUILDDIR, NCQSHOW, SRCDIR, wait_for

DAEMONS = ("master", "pickup", "qmgr", "smtp", "resolver", "bounce",
           "showq")
# every command and every file format has its page
MAN_PAGES = ("man1/ncqshow.1", "man8/ncctl.8", "man8/ncsendmail.8",
             "man5/ncmta.conf.5", "man5/ncmta-routes.5")


def make(*args, timeout=300):
    p = subprocess.run(["make", "-s", "-C", BUILDDIR] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    return p.stdout.decode(errors="replace")


def make_var(name):
    """A variable of the configured Makefile (prefix, sbindir, ...)."""
    p = subprocess.run(["make", "-s", "-C", BUILDDIR, "-f", "Makefile",
                        "-f", "-", "print-var", "VAR=" + name],
                       input=b"print-var:\n\t@echo '$($(VAR))'\n",
                       stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


@pytest.fixture(scope="module")
def dirs():
    d = {n: make_var(n) for n in ("prefix", "sbindir", "bindir",
                                  "pkglibexecdir", "mandir", "sysconfdir")}
    unitdir = subprocess.run(
        ["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    d["unitdir"] = unitdir.strip() or d["prefix"] + "/lib/systemd/system"
    return d


@pytest.fixture
def destdir():
    d = tempfile.mkdtemp(prefix="ncmta-install-", dir="/var/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def under(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def test_make_install_layout(destdir, dirs):
    make("install", "DESTDIR=" + destdir)
    for cmd in ("ncctl", "ncsendmail"):
        assert os.access(under(destdir, "%s/%s" % (dirs["sbindir"], cmd)),
                         os.X_OK), cmd
    assert os.access(under(destdir, dirs["bindir"] + "/ncqshow"), os.X_OK)
    for d in DAEMONS:
        path = under(destdir, "%s/ncmta-%s" % (dirs["pkglibexecdir"], d))
        assert os.access(path, os.X_OK), path
    pages = set(MAN_PAGES) | set(
        "man%s/%s" % (name[-1], name)
        for name in os.listdir(os.path.join(SRCDIR, "man"))
        if re.fullmatch(r"[\w.-]+\.[1-8]", name))
    for page in sorted(pages):
        path = under(destdir, "%s/%s" % (dirs["mandir"], page))
        with open(path) as f:
            assert re.search(r"^\.TH ", f.read(), re.M), path

    unit = under(destdir, dirs["unitdir"] + "/ncmta.service")
    with open(unit) as f:
        text = f.read()
    ncctl = dirs["sbindir"] + "/ncctl"
    assert "ExecStart=%s start --foreground" % ncctl in text
    assert "ExecReload=%s reload" % ncctl in text
    assert "ExecStop=%s stop" % ncctl in text
    assert "WantedBy=multi-user.target" in text

    confdir = under(destdir, dirs["sysconfdir"] + "/ncmta")
    with open(os.path.join(confdir, "ncmta.conf")) as f:
        conf = f.read()
    assert "route_table = %s/ncmta/routes" % dirs["sysconfdir"] in conf
    assert os.path.isfile(os.path.join(confdir, "routes"))
    # ncctl check accepts the default configuration and routing table,
    # read from DESTDIR: the paths in it point there instead
    check_dir = os.path.join(destdir, "check")
    os.mkdir(check_dir)
    conf = conf.replace("route_table = %s/ncmta/routes" % dirs["sysconfdir"],
                        "route_table = %s/routes" % confdir)
    conf += "daemon_directory = %s\nqueue_directory = %s\n" % (
        under(destdir, dirs["pkglibexecdir"]), os.path.join(destdir, "q"))
    with open(os.path.join(check_dir, "ncmta.conf"), "w") as f:
        f.write(conf)
    p = subprocess.run([os.path.join(BUILDDIR, "commands/ncctl"), "-c",
                        check_dir, "check"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr.decode()


def test_install_keeps_the_admins_configuration(destdir, dirs):
    make("install", "DESTDIR=" + destdir)
    conf = under(destdir, dirs["sysconfdir"] + "/ncmta/ncmta.conf")
    routes = under(destdir, dirs["sysconfdir"] + "/ncmta/routes")
    with open(conf, "a") as f:
        f.write("smart_host = [relay.example.net]:587\n")
    out = make("install", "DESTDIR=" + destdir)
    assert "keeping" in out
    with open(conf) as f:
        assert "smart_host = [relay.example.net]:587" in f.read()

    make("uninstall", "DESTDIR=" + destdir)
    assert os.path.exists(conf), "a changed ncmta.conf is the admin's"
    assert not os.path.exists(routes), "an unchanged default goes"
    left = [os.path.join(r, f) for r, _, fs in os.walk(destdir) for f in fs]
    assert left == [conf]


def test_make_install_mta_links(destdir, dirs):
    make("install-mta", "DESTDIR=" + destdir)
    sbin, bin_ = dirs["sbindir"], dirs["bindir"]
    want = {
        sbin + "/sendmail": sbin + "/ncsendmail",
        dirs["prefix"] + "/lib/sendmail": sbin + "/ncsendmail",
        bin_ + "/mailq": bin_ + "/ncqshow",
        bin_ + "/newaliases": sbin + "/ncsendmail",
    }
    for link, target in want.items():
        path = under(destdir, link)
        assert os.path.islink(path), link
        # relative to the link's directory, or absolute without DESTDIR
        got = os.path.normpath(os.path.join(os.path.dirname(link),
                                            os.readlink(path)))
        assert got == target, (link, got)
        assert os.access(under(destdir, got), os.X_OK)

    make("uninstall", "DESTDIR=" + destdir)
    for link in want:
        assert not os.path.lexists(under(destdir, link)), link


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_check_names_a_wrong_maildrop_mode(instances, sink):
    inst = instances(smart_host=[sink])
    inst.start()
    maildrop = os.path.join(inst.queue, "maildrop")
    assert _mode(maildrop) == 0o1733
    p = inst.ctl("check")
    assert p.returncode == 0, p.stderr

    os.chmod(maildrop, 0o777)
    p = inst.ctl("check")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "queue_directory/maildrop (%s): mode 0777, should be 1733" \
        % maildrop in err, err

    # the master makes the tree as it should be when it starts
    inst.stop()
    inst.start()
    assert _mode(maildrop) == 0o1733
    assert inst.ctl("check").returncode == 0


@pytest.mark.skipif(os.getuid() != 0, reason="owners need root")
def test_check_names_a_wrong_owner(instances, sink):
    inst = instances(smart_host=[sink])
    inst.start()
    flags = os.path.join(inst.queue, "flags")
    os.chown(flags, 0, 0)
    p = inst.ctl("check")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "queue_directory/flags (%s): owner root, should be %s" % (
        flags, inst.settings["mail_owner"]) in err, err
    # private/ is root's: the master binds its sockets there
    private = os.path.join(inst.queue, "private")
    owner = pwd.getpwnam(inst.settings["mail_owner"])
    os.chown(private, owner.pw_uid, owner.pw_gid)
    err = inst.ctl("check").stderr.decode()
    assert "queue_directory/private (%s): owner %s, should be root" % (
        private, inst.settings["mail_owner"]) in err, err



def test_prefix_install_off_path_lists_the_queue(instances, sinks):
    """Installed under a prefix that is not on PATH, `ncsendmail -bp`
    finds ncqshow in that prefix's bindir (it is not next to ncsendmail,
    which lives in sbindir)."""
    work = tempfile.mkdtemp(prefix="ncmta-prefix-", dir="/var/tmp")
    os.chmod(work, 0o755)
    try:
        src = os.path.join(work, "src")
        prefix = os.path.join(work, "prefix")
        # a copy of the sources, configured afresh for the new prefix
        shutil.copytree(SRCDIR, src, symlinks=True, ignore=lambda d, names: [
            n for n in names if n in (".git", "local", "__pycache__",
                                      ".pytest_cache")
            or (n == "build" and os.path.basename(d) == "fuzz")])
        if os.path.exists(os.path.join(src, "Makefile")):
            subprocess.run(["make", "-s", "distclean"], cwd=src,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
        for argv in (["./configure", "--prefix=" + prefix],
                     ["make", "-s", "-j1", "install"]):
            p = subprocess.run(["nice", "-n", "10"] + argv, cwd=src,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=600)
            assert p.returncode == 0, p.stdout.decode(errors="replace")[-3000:]
        sendmail = os.path.join(prefix, "sbin", "ncsendmail")
        assert os.access(os.path.join(prefix, "bin", "ncqshow"), os.X_OK)
        assert not os.path.exists(os.path.join(prefix, "sbin", "ncqshow"))

        sink = sinks(up=False)
        inst = instances(smart_host=[sink]).start()
        inst.submit(["late@example.net"], b"Subject: waits\n\nx\n")
        inst.wait_deferred(1)
        inst.ctl("hold", "ALL", check=True)  # a listing that stays put
        wait_for(lambda: inst.states() and set(inst.states().values()) ==
                 {"hold"}, 10, "the message held")
        want = inst.run([NCQSHOW, "-c", inst.confdir]).stdout
        assert b"late@example.net" in want
        p = inst.run(["env", "PATH=/usr/bin:/bin", sendmail, "-C",
                      inst.confdir, "-bp"])
        assert p.returncode == 0, p.stderr.decode()
        assert p.stdout == want
    finally:
        shutil.rmtree(work, ignore_errors=True)
