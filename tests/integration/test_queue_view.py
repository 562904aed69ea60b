"""queue_view_group (ncmta.conf(5), ncqshow(1)): members of the group see
the whole queue, read-only, as root does -- through mailq as a monitoring
plugin runs it (Debian's check_mailq), ncqshow and ncctl status -- while
the same user without the group sees only their own messages, and no
member gains any power to change the queue."""

import os
import re
import shutil
import subprocess
import uuid

import pytest

from listener import need
from msgs import message, new_token

USER = "nobody"
PLUGIN = "/usr/lib/nagios/plugins/check_mailq"

pytestmark = pytest.mark.skipif(os.getuid() != 0,
                                reason="needs root to make a group and "
                                       "become another user")


@pytest.fixture
def view_group():
    """A Unix group of its own for this test, with nobody in it; removed
    afterwards."""
    name = "ncqv%s" % uuid.uuid4().hex[:8]
    subprocess.run(["groupadd", name], check=True, timeout=30)
    try:
        subprocess.run(["gpasswd", "-a", USER, name], check=True,
                       stdout=subprocess.DEVNULL, timeout=30)
        yield name
    finally:
        subprocess.run(["groupdel", name], timeout=30)


def _submit(inst, rcpt, as_user=None):
    inst.submit([rcpt], message(new_token(), rcpt)[0], as_user=as_user,
                sender=None if as_user else "admin@test.example")


def _plugin(inst):
    """check_mailq as Debian ships it, beside a copy of its utils.pm that
    points PATH_TO_MAILQ at this instance's mailq (a link to ncqshow, as
    make install-mta makes it): the plugin reads that file from its own
    directory, and the machine's /usr/bin/mailq is not ours to change."""
    plugin = need("check_mailq", default=PLUGIN)
    pdir = os.path.join(inst.base, "plugins")
    os.makedirs(pdir, mode=0o755, exist_ok=True)
    mailq = os.path.join(os.path.dirname(inst.ncqshow), "mailq")
    if not os.path.lexists(mailq):
        os.symlink(os.path.basename(inst.ncqshow), mailq)
    shutil.copy2(plugin, pdir)
    with open(os.path.join(os.path.dirname(plugin), "utils.pm")) as f:
        utils = f.read()
    utils, n = re.subn(r'(?m)^\$PATH_TO_MAILQ\s*=.*$',
                       '$PATH_TO_MAILQ   = "%s";' % mailq, utils)
    assert n == 1, "no PATH_TO_MAILQ in utils.pm"
    with open(os.path.join(pdir, "utils.pm"), "w") as f:
        f.write(utils)
    os.chmod(os.path.join(pdir, "utils.pm"), 0o644)
    return os.path.join(pdir, os.path.basename(plugin))


def _check(inst, plugin, warn, crit, as_group=True):
    """check_mailq -M postfix, run by nobody with its groups (a member),
    or with none (as_group=False); -d passes mailq -C CONFDIR."""
    argv = [plugin, "-M", "postfix", "-w", str(warn), "-c", str(crit),
            "-t", "30", "-d", inst.confdir]
    if as_group:
        argv = ["runuser", "-u", USER, "--"] + argv
    else:
        argv = ["setpriv", "--reuid", USER, "--regid", "nogroup",
                "--clear-groups", "--"] + argv
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def test_check_mailq_member_sees_whole_queue(instances, sinks, view_group):
    """With the smart host down, root queues two messages and nobody one.
    check_mailq run by nobody, a member of queue_view_group, counts all
    three (WARNING at -w 1, CRITICAL at -c 3); the same user without the
    group counts only its own; ncctl status gives the member the queue's
    counts; the member still may not delete, hold or flush."""
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], min_backoff="1h", max_backoff="1h",
                     queue_view_group=view_group)
    inst.use_private_copies()  # the build tree may be out of nobody's reach
    inst.start()
    _submit(inst, "r1@root.example")
    _submit(inst, "r2@root.example")
    _submit(inst, "n1@nobody.example", as_user=USER)
    ids = sorted(m["queue_id"] for m in inst.wait_deferred(3, timeout=30))
    plugin = _plugin(inst)

    p = _check(inst, plugin, 1, 100)
    out = p.stdout.decode()
    assert p.returncode == 1, (p.returncode, out, p.stderr)
    assert "WARNING: postfix mailq is 3 (threshold w = 1)" in out, out
    p = _check(inst, plugin, 1, 3)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "CRITICAL: postfix mailq is 3" in p.stdout.decode()

    # the same user without the group: its own message only
    p = _check(inst, plugin, 2, 100, as_group=False)
    out = p.stdout.decode()
    assert p.returncode == 0, (p.returncode, out, p.stderr)
    assert "OK: postfix mailq (1) is below threshold (2/100)" in out, out

    # ncqshow for the member lists every message, as root's does
    seen = inst.qshow_json(as_user=USER)
    assert sorted(m["queue_id"] for m in seen) == ids
    assert seen == inst.qshow_json()
    r = inst.ctl("status", as_user=USER)
    assert r.returncode == 0, r.stderr
    assert "queue: incoming=0 active=0 deferred=3 hold=0" in \
        r.stdout.decode(), r.stdout

    # read-only: every change is refused and nothing moves
    for args in (("delete", "ALL"), ("delete", ids[0]), ("hold", ids[1]),
                 ("requeue", "--deferred"), ("flush",)):
        r = inst.ctl(*args, as_user=USER)
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        assert "permission denied" in r.stderr.decode(), (args, r.stderr)
    assert [(m["queue_id"], m["queue_name"]) for m in inst.qshow_json()] \
        == [(i, "deferred") for i in ids]


def test_queue_view_group_must_exist(instances, sinks):
    """ncctl check (and so ncctl start) names a queue_view_group that is
    not a group; the default, empty, is no group."""
    inst = instances(smart_host=[sinks(up=False)])
    assert inst.ctl("check").returncode == 0
    inst.configure(queue_view_group="ncqv-no-such-group")
    r = inst.ctl("check")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert 'ncctl: queue_view_group "ncqv-no-such-group" is not a group' \
        in r.stderr.decode(), r.stderr
    r = inst.ctl("start")
    assert r.returncode != 0 and b"is not a group" in r.stderr, r.stderr
