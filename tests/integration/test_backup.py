"""Backup and restore of the queue as ncctl(8), BACKUP AND RESTORE, says:
mdb_copy (lmdb-utils), run as mail_owner, copies the live queue while
ncmta runs; the copy, put into a fresh instance's empty queue directory,
delivers every message."""

import os
import pwd
import shutil
import subprocess

from instance import mail_owner
from listener import need
from msgs import message, new_token, submit_many, token_of

N = 20


def _as_owner(argv):
    """argv run as mail_owner (as the page says: never as root)."""
    if os.getuid() == 0:
        argv = ["runuser", "-u", mail_owner(), "--"] + argv
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def _owned_dir(path, mode=0o700):
    os.makedirs(path, mode=mode)
    os.chmod(path, mode)
    pw = pwd.getpwnam(mail_owner())
    os.chown(path, pw.pw_uid, pw.pw_gid)


def test_live_copy_restored_into_fresh_instance(instances, sinks):
    """N messages wait in a running instance whose smart host is down;
    mdb_copy copies its queue while it runs (and it keeps running, its
    queue untouched); a fresh instance in another directory, started on
    that copy with its smart host up and flushed, delivers every one of
    the N, once, and ends with an empty queue."""
    mdb_copy = need("mdb_copy")
    down = sinks(up=False)
    live = instances(smart_host=[down], min_backoff="1h", max_backoff="1h")
    live.start()
    toks = [new_token() for _ in range(N)]
    jobs = [(["r%d@backup.example" % i],
             message(t, "r%d@backup.example" % i)[0], "s@test.example")
            for i, t in enumerate(toks)]
    assert all(p.returncode == 0 for p in submit_many(live, jobs))
    before = live.wait_deferred(N, timeout=60)
    master = live.master_pid()

    up = sinks()
    fresh = instances(smart_host=[up])
    backup = os.path.join(fresh.base, "backup")
    _owned_dir(backup)
    p = _as_owner([mdb_copy, os.path.join(live.queue, "db"), backup])
    assert p.returncode == 0, p.stderr
    assert live.master_pid() == master  # it ran all along
    assert live.qshow_json() == before  # and its queue is as it was

    # the restore: an empty queue directory, the copy as db/data.mdb
    os.makedirs(fresh.queue, mode=0o755)
    db = os.path.join(fresh.queue, "db")
    _owned_dir(db)
    shutil.copyfile(os.path.join(backup, "data.mdb"),
                    os.path.join(db, "data.mdb"))
    pw = pwd.getpwnam(mail_owner())
    os.chown(os.path.join(db, "data.mdb"), pw.pw_uid, pw.pw_gid)
    os.chmod(os.path.join(db, "data.mdb"), 0o600)
    fresh.start()
    # deferred mail keeps its next retry time; the page says to flush it
    assert fresh.ctl("flush").returncode == 0
    assert up.wait_count(N, 60), "%d of %d delivered" % (
        len(up.snapshot()), N)
    fresh.wait_empty(timeout=30)
    got = sorted(token_of(m) for m in up.snapshot())
    assert got == sorted(toks)
    # the copy's queue IDs are the ones delivered from
    for m in before:
        assert fresh.log_lines("%s: removed" % m["queue_id"]), m
    assert len(live.qshow_json()) == N  # the original still waits
