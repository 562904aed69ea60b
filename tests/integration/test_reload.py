"""ncctl reload and SIGHUP to the master (ncmta.conf(5), Reloading):
a setting marked "applied by ncctl reload" takes effect without a
restart, one marked "needs a restart" keeps its value and is named in a
warning in the log and on ncctl's standard error, SIGHUP does what
ncctl reload does, and a log file renamed away (logrotate) is replaced
by a new one that the master and every daemon write to."""

import os
import signal

from instance import wait_for
from msgs import message, new_token


def log_holders(inst, path):
    """pids of the instance's processes that have path open."""
    found = []
    for p in inst.processes():
        try:
            fds = os.listdir("/proc/%d/fd" % p.pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (p.pid, fd)) == path:
                    found.append(p.pid)
                    break
            except OSError:
                pass
    return sorted(found)


def delivered_to(inst, sink, rcpt, n):
    """Submit a message to rcpt; the sink's n-th message is it."""
    tok = new_token()
    inst.submit([rcpt], message(tok, rcpt)[0])
    assert sink.wait_count(n, 20), "%d of %d messages" % (sink.count(), n)
    return sink.snapshot()[n - 1]


def test_reload_warns_about_a_setting_that_needs_a_restart(instances, sink):
    """smtp_worker_count needs a restart: a reload that changes it keeps
    two workers, logs a warning naming the setting, and ncctl reload
    prints it on stderr (and exits 0: the rest was applied)."""
    inst = instances(smart_host=[sink])
    inst.start()
    workers = sorted(inst.pids("smtp"))
    assert len(workers) == 2, workers
    inst.configure(smtp_worker_count="3")
    r = inst.ctl("reload")
    assert r.returncode == 0, r.stderr
    want = ('reload: smtp_worker_count = "3" needs a restart; "2" stays '
            'in force until ncmta is stopped and started')
    assert "ncctl: warning: " + want in r.stderr.decode(), r.stderr
    assert "configuration reloaded" in r.stdout.decode(), r.stdout
    assert inst.log_lines("ncmta/master[", "warning: " + want)
    assert sorted(inst.pids("smtp")) == workers
    # a reload without a change says nothing of it again
    inst.configure(smtp_worker_count="2")
    r = inst.ctl("reload")
    assert r.returncode == 0 and b"warning" not in r.stderr, r.stderr
    inst.stop()
    inst.configure(smtp_worker_count="3")
    inst.start()
    wait_for(lambda: len(inst.pids("smtp")) == 3, 10, "three workers")


def test_reload_applies_a_reload_setting(instances, sink):
    """myorigin is applied by a reload: pickup qualifies an unqualified
    recipient with the new value from then on, no warning is printed,
    and no daemon was restarted."""
    inst = instances(smart_host=[sink], myorigin="old.example")
    inst.start()
    pids = {p.pid for p in inst.processes()}
    got = delivered_to(inst, sink, "ann", 1)
    assert got.rcpt_tos == ["ann@old.example"], got.rcpt_tos
    inst.configure(myorigin="new.example")
    r = inst.ctl("reload")
    assert r.returncode == 0 and b"warning" not in r.stderr, r.stderr
    got = delivered_to(inst, sink, "bob", 2)
    assert got.rcpt_tos == ["bob@new.example"], got.rcpt_tos
    assert {p.pid for p in inst.processes()} == pids


def test_sighup_reloads_like_ncctl_reload(instances, sink):
    """kill -HUP of the master: the new configuration is applied, a
    restart-only change is named in the log, and nothing restarts."""
    inst = instances(smart_host=[sink], myorigin="old.example")
    inst.start()
    pids = {p.pid for p in inst.processes()}
    inst.configure(myorigin="hup.example", smtp_worker_count="3")
    os.kill(inst.master_pid(), signal.SIGHUP)
    wait_for(lambda: inst.log_lines("ncmta/master[", "reloaded "
                                    "configuration"), 10, "the reload")
    assert inst.log_lines("reload requested by SIGHUP")
    assert inst.log_lines("warning: reload: smtp_worker_count = \"3\" "
                          "needs a restart")
    got = delivered_to(inst, sink, "carl", 1)
    assert got.rcpt_tos == ["carl@hup.example"], got.rcpt_tos
    assert {p.pid for p in inst.processes()} == pids


def test_sighup_with_a_bad_file_keeps_the_configuration(instances, sink):
    """A file with an error is refused on SIGHUP as on ncctl reload:
    logged with its line, and nothing of it applied (the smtp workers
    still greet with the old myhostname)."""
    inst = instances(smart_host=[sink], smtp_connection_idle_time="0s")
    inst.start()
    inst.configure(extra_lines=["no_such_setting = 1"],
                   myhostname="bad.example")
    os.kill(inst.master_pid(), signal.SIGHUP)
    wait_for(lambda: inst.log_lines("reload refused"), 10, "the refusal")
    assert inst.log_lines("unknown setting \"no_such_setting\"")
    # ncsendmail reads the file too: mend it, without a reload
    inst.configure()
    got = delivered_to(inst, sink, "dora@example.net", 1)
    assert got.helo == "EHLO test.example", got.helo


def rotate_and_check(inst, sink, reopen):
    """Rename the log away as logrotate does, call reopen(), and check
    that the master and every daemon write to a new file of the old
    name and none of them holds the old one."""
    log = inst.logfile
    old = log + ".1"
    everyone = sorted(p.pid for p in inst.processes())
    assert log_holders(inst, log) == everyone
    os.rename(log, old)
    reopen()
    wait_for(lambda: log_holders(inst, log) == everyone, 10,
             "every process writing to the new file")
    assert log_holders(inst, old) == []
    wait_for(lambda: os.path.exists(log) and "reloaded configuration"
             in open(log).read(), 10, "the master's line in the new file")
    before = open(old).read()
    got = delivered_to(inst, sink, "erin@example.net", 1)
    assert got.rcpt_tos == ["erin@example.net"]
    for name in ("pickup", "qmgr", "smtp"):
        wait_for(lambda: [line for line in open(log).read().splitlines()
                          if "ncmta/%s[" % name in line], 10,
                 "%s's lines in the new file" % name)
    wait_for(lambda: inst.log_lines("status=sent"), 10, "the delivery")
    assert open(old).read() == before, "the old file still grows"


def test_log_file_reopened_on_reload(instances, sink):
    inst = instances(smart_host=[sink])
    inst.start()
    rotate_and_check(inst, sink,
                     lambda: inst.ctl("reload", check=True))


def test_log_file_reopened_on_sighup(instances, sink):
    inst = instances(smart_host=[sink])
    inst.start()
    rotate_and_check(inst, sink,
                     lambda: os.kill(inst.master_pid(), signal.SIGHUP))
