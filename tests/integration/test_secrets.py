"""The smart-host credentials file (secrets_file) as the master keeps it:
ncctl check, ncctl start and the master itself refuse a file that group or
others can read, one of another owner, a missing one and a bad line (with
FILE:LINE, never quoting a password); a reload with a bad file is refused
while mail keeps flowing; and the master answers an smtp worker's
credentials request over its control channel, but closes any other daemon
that asks. No password reaches the log."""

import json
import os
import subprocess
import sys

from instance import wait_for
from msgs import message, new_token, token_of
from peers import Credentials

PASSWORD = "Sup3r:S3cret pass"  # ':' and a blank, as the file allows

from proto import M_CHILD_SECRET_REQ, M_CTL_SECRET, M_CTL_STOP


def write_secrets(inst, text, mode=0o600):
    path = os.path.join(inst.confdir, "secrets")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def sasl_instance(instances, sink, mode=0o600, text=None):
    """An instance that logs in to sink (no TLS: these tests are about the
    file), with a secrets file for it."""
    inst = instances(smart_host=[sink], smtp_sasl_auth="yes",
                     smtp_tls_security_level="none")
    path = write_secrets(inst, text if text is not None else
                         "# credentials\n%s  alice:%s\n"
                         % (sink.hostspec, PASSWORD), mode)
    return inst, path


def output(p):
    return (p.stdout + p.stderr).decode(errors="replace")


def send(inst, sink, n_before):
    tok = new_token()
    inst.submit(["rcpt@dest.example"], message(tok, "rcpt@dest.example")[0],
                sender="sender@test.example")
    assert sink.wait_count(n_before + 1, 30), "mail did not flow"
    assert token_of(sink.messages[-1]) == tok


def test_group_readable_file_refused_by_check_and_start(instances, sink):
    inst, path = sasl_instance(instances, sink, mode=0o644)
    want = ("secrets_file %s: mode 0644 lets group or others read it; "
            "run: chmod 600 %s" % (path, path))
    p = inst.ctl("check")
    assert p.returncode == 1, output(p)
    assert want in p.stderr.decode(), output(p)
    p = inst.ctl("start")
    assert p.returncode == 1, output(p)
    assert want in p.stderr.decode(), output(p)
    assert inst.master_pid() is None
    assert PASSWORD not in output(p) + inst.log()

    # without ncctl's check first, the master refuses it too
    master = os.path.join(inst.libexec, "ncmta-master")
    p = subprocess.run([master, "-c", inst.confdir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 78, output(p)
    assert want in p.stderr.decode(), output(p)
    assert inst.master_pid() is None

    os.chmod(path, 0o600)
    p = inst.ctl("check")
    assert p.returncode == 0, output(p)


def test_missing_bad_and_foreign_files_refused(instances, sink):
    inst, path = sasl_instance(instances, sink)
    os.unlink(path)
    p = inst.ctl("check")
    assert p.returncode == 1
    assert "secrets_file %s: cannot open: No such file or directory" % path \
        in p.stderr.decode(), output(p)

    write_secrets(inst, "%s alice:%s\nrelay.example\n"
                  "relay.example aliceSup3rS3cret\n"
                  % (sink.hostspec, PASSWORD))
    p = inst.ctl("check")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "%s:2: expected HOST user:password" % path in err, err
    assert "%s:3: relay.example: expected user:password" % path in err, err
    assert PASSWORD not in err and "aliceSup3rS3cret" not in err

    if os.getuid() == 0:
        write_secrets(inst, "%s alice:%s\n" % (sink.hostspec, PASSWORD))
        os.chown(path, 65534, 65534)
        p = inst.ctl("check")
        assert p.returncode == 1
        assert ("secrets_file %s: owned by uid 65534, must be owned by root"
                % path) in p.stderr.decode(), output(p)

    # not used, not checked: smtp_sasl_auth = no
    os.chmod(path, 0o644)
    inst.configure(smtp_sasl_auth="no")
    p = inst.ctl("check")
    assert p.returncode == 0, output(p)


def test_reload_with_bad_file_refused_mail_flows(instances, sinks):
    # the relay wants the login (offered without TLS, which these tests
    # do not need): every message shows the table in force was used
    sink = sinks(authenticator=Credentials("alice", PASSWORD),
                 auth_require_tls=False)
    inst, path = sasl_instance(instances, sink)
    inst.configure(smtp_sasl_allow_plaintext="yes")
    inst.start()
    wait_for(lambda: inst.log_lines("secrets: 1 entries from %s" % path), 10,
             "the table's size logged at start")
    send(inst, sink, 0)

    os.chmod(path, 0o640)
    p = inst.ctl("reload")
    assert p.returncode != 0, "reload accepted a group-readable file"
    assert "mode 0640 lets group or others read it" in output(p)
    wait_for(lambda: inst.log_lines("reload refused"), 10,
             "the refused reload logged")
    send(inst, sink, 1)

    write_secrets(inst, "%s alice:%s\n[other.example]:587 bob:%s\n"
                  % (sink.hostspec, PASSWORD, PASSWORD))
    p = inst.ctl("reload")
    assert p.returncode == 0, output(p)
    wait_for(lambda: inst.log_lines("secrets: 2 entries from %s" % path), 10,
             "the new table's size logged")
    send(inst, sink, 2)
    assert [m.auth for m in sink.snapshot()] == ["alice"] * 3
    assert inst.master_pid() is not None
    assert PASSWORD not in inst.log()


FAKE_DAEMON = r'''#!%(python)s
# A stand-in daemon: asks the master for credentials over fd 3 and
# records the answers (or that the master closed the channel).
import json, os, socket, struct, sys
REQS = %(reqs)r
OUT = %(out)r
ctl = socket.socket(fileno=3)

def s(t):
    b = t.encode()
    return struct.pack(">I", len(b)) + b + b"\0"

def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = ctl.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

def frame():
    hdr = read_exact(8)
    if hdr is None:
        return None, None
    n, t = struct.unpack(">II", hdr)
    return t, read_exact(n)

def get_str(p, o):
    n = struct.unpack(">I", p[o:o + 4])[0]
    return p[o + 4:o + 4 + n].decode(), o + 5 + n

answers = []
if not os.path.exists(OUT):
    for req, host, port in REQS:
        body = struct.pack(">Q", req) + s(host) + struct.pack(">I", port)
        ctl.sendall(struct.pack(">II", len(body), %(req_type)d) + body)
    while len(answers) < len(REQS):
        t, p = frame()
        if t is None:
            answers.append("closed")
            break
        if t != %(ans_type)d:
            continue
        user, o = get_str(p, 12)
        password, o = get_str(p, o)
        answers.append([struct.unpack(">Q", p[:8])[0],
                        struct.unpack(">I", p[8:12])[0], user, password])
    with open(OUT + ".tmp", "w") as f:
        json.dump(answers, f)
    os.rename(OUT + ".tmp", OUT)
while True:
    t, p = frame()
    if t is None or t == %(stop)d:
        sys.exit(0)
'''


def fake_daemon(inst, name, reqs):
    out = os.path.join(inst.base, "answers-%s.json" % name)
    path = os.path.join(inst.libexec, "ncmta-%s" % name)
    os.unlink(path)
    with open(path, "w") as f:
        f.write(FAKE_DAEMON % {
            "python": sys.executable, "reqs": reqs, "out": out,
            "req_type": M_CHILD_SECRET_REQ, "ans_type": M_CTL_SECRET,
            "stop": M_CTL_STOP})
    os.chmod(path, 0o755)
    return out


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def test_master_answers_smtp_workers_only(instances, sink):
    inst, path = sasl_instance(
        instances, sink, text="[relay.example]:587 alice:%s\n"
        "relay.example  bob:other-%s\n" % (PASSWORD, PASSWORD))
    inst.configure(smtp_worker_count="1")
    smtp_out = fake_daemon(inst, "smtp", [
        (7, "Relay.Example", 587), (8, "relay.example", 25),
        (9, "nowhere.example", 25)])
    bounce_out = fake_daemon(inst, "bounce", [(1, "relay.example", 587)])
    inst.expect_restarts = True  # the fake bounce daemon is cut off
    inst.start(wait=False)

    answers = wait_for(lambda: read_json(smtp_out), 15, "the smtp answers")
    assert answers == [[7, 1, "alice", PASSWORD],
                       [8, 1, "bob", "other-" + PASSWORD],
                       [9, 0, "", ""]]
    assert wait_for(lambda: read_json(bounce_out), 15,
                    "the bounce daemon's answer") == ["closed"]
    wait_for(lambda: inst.log_lines(
        "protocol error from bounce", "not an smtp worker"), 10,
        "the refused request logged")
    assert inst.log_lines("secrets: 2 entries from %s" % path)
    assert inst.log_lines("secrets: no entry for [nowhere.example]:25")
    assert inst.ctl("status").returncode == 0, "the master is gone"
    log = inst.log()
    assert PASSWORD not in log and "alice:" not in log


def test_check_warns_of_a_readable_unused_file(instances, sink):
    """With smtp_sasl_auth = no the file is not read, but ncctl check (and
    start) warns of passwords that group or others can read; the exit
    status stays 0."""
    # myorigin not local: whatever this host's /etc/mailname and
    # /etc/aliases say, no warning about root's mail
    inst = instances(smart_host=[sink], myorigin="origin.example")
    p = inst.ctl("check")
    assert p.returncode == 0 and b"secrets_file" not in p.stderr, output(p)
    path = write_secrets(inst, "%s  alice:%s\n" % (sink.hostspec, PASSWORD),
                         0o640)
    want = ("ncctl: warning: secrets_file %s: mode 0640 lets group or "
            "others read it; run: chmod 600 %s (smtp_sasl_auth = no: the "
            "file is not used)\n" % (path, path))
    p = inst.ctl("check")
    assert p.returncode == 0, output(p)
    assert p.stderr.decode() == want, output(p)
    os.chmod(path, 0o604)
    p = inst.ctl("check")
    assert p.returncode == 0 and "mode 0604 lets group or others read it" \
        in p.stderr.decode(), output(p)
    p = inst.ctl("start")
    inst.started = True
    assert p.returncode == 0 and "warning: secrets_file" in \
        p.stderr.decode(), output(p)
    assert PASSWORD not in output(p)
    inst.wait_ready()
    inst.stop()
    # no read bit for group or others, or no file: nothing to say
    for mode in (0o600, 0o620):
        os.chmod(path, mode)
        p = inst.ctl("check")
        assert p.returncode == 0 and p.stderr == b"", output(p)
    os.unlink(path)
    p = inst.ctl("check")
    assert p.returncode == 0 and p.stderr == b"", output(p)
