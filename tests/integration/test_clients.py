"""ncsendmail driven by real programs that call sendmail, none written
here: swaks over `ncsendmail -bs`, bsd-mailx, a cron-style call reaching
an alias target, unattended-upgrades' `-oi -t`, git send-email, PHP's
mail(). Each message is checked where it lands: an aiosmtpd sink acting
as the smart host. Also the -bs dialogue's replies and exit codes, the
mailq/newaliases names, -q, -bp, the DSN flags kept in the maildrop and
the flags accepted and ignored."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import pytest

from instance import NCQSHOW, NCSENDMAIL, wait_for
from msgs import new_token, token_of

MARK = "# ncmta test wrapper"


def _wrapper(inst, path=None, extra=""):
    """A script that runs this instance's ncsendmail (for clients that
    take the name of a sendmail program); returns its path."""
    path = path or os.path.join(inst.base, "sendmail-wrapper")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n%s\nexec %s -C %s %s\"$@\"\n"
                % (MARK, inst.ncsendmail, inst.confdir, extra))
    os.chmod(path, 0o755)
    return path


def _one(sink, timeout=20):
    assert sink.wait_count(1, timeout), "nothing reached the sink"
    msgs = sink.snapshot()
    assert len(msgs) == 1, [m.rcpt_tos for m in msgs]
    return msgs[0]


@pytest.fixture
def mta(instances, sink):
    """A started instance whose smart host is one sink, with myorigin
    fixed (the default would come from this host's /etc/mailname)."""
    inst = instances(smart_host=[sink], myorigin="test.example")
    inst.start()
    inst.sink = sink
    return inst


def _bs(inst, script, timeout=30, as_user=None):
    """Run `ncsendmail -bs` with script (bytes) on stdin, all at once:
    returns (exit code, reply codes in order, raw output)."""
    p = inst.run([inst.ncsendmail, "-C", inst.confdir, "-bs"],
                 input=script, timeout=timeout, as_user=as_user)
    out = p.stdout.decode("utf-8", "replace")
    codes = [line[:3] for line in out.split("\r\n")
             if line and line[3:4] == " "]
    return p.returncode, codes, out, p.stderr.decode("utf-8", "replace")


# -- swaks and the -bs dialogue ----------------------------------------------

@pytest.mark.parametrize("pipelining", [False, True],
                         ids=["lockstep", "pipelined"])
def test_swaks_over_bs(mta, pipelining):
    tok = new_token()
    body = ("token ncmta-token-%s\n.a line that starts with a dot\n..two\n"
            "8-bit: Gr\u00fc\u00dfe\n" % tok)
    argv = ["swaks", "--pipe", "%s -C %s -bs" % (NCSENDMAIL, mta.confdir),
            "--to", "bob@example.net", "--from", "alice@example.org",
            "--header", "Subject: swaks ncmta-token-%s" % tok,
            "--body", body]
    if pipelining:
        argv.append("--pipeline")
    p = subprocess.run(argv, capture_output=True, timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, out + p.stderr.decode()
    assert "250-PIPELINING" in out and "250 8BITMIME" in out, out
    assert "250 2.0.0 Ok: queued" in out, out
    m = _one(mta.sink)
    assert m.mail_from == "alice@example.org"
    assert m.rcpt_tos == ["bob@example.net"]
    assert token_of(m) == tok
    head, got = m.headers_body()
    assert (b".a line that starts with a dot\r\n..two\r\n"
            b"8-bit: Gr\xc3\xbc\xc3\x9fe\r\n") in got, got


def test_bs_replies_and_sequence(instances, sink):
    inst = instances(smart_host=[sink], message_size_limit="4k")
    inst.start()
    tok = new_token()
    big = b"x" * 100 + b"\r\n"
    script = (
        b"RCPT TO:<early@example.net>\r\n"            # 503 no MAIL
        b"DATA\r\n"                                   # 503
        b"EHLO client.example\r\n"                    # 250
        b"MAIL FROM alice\r\n"                        # 501
        b"MAIL FROM:<alice@example.org> SIZE=99999\r\n"   # 552
        b"MAIL FROM:<alice@example.org> FOO=1\r\n"    # 555
        b"MAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME\r\n"  # 250
        b"MAIL FROM:<again@example.org>\r\n"          # 503 nested
        b"RCPT TO:<bad address@x>\r\n"                # 501
        b"RCPT TO:<bob@example.net>\r\n"              # 250
        b"RCPT TO:<bob@example.net>\r\n"              # 250 (one delivery)
        b"VRFY root\r\n"                              # 252
        b"NOOP\r\n"                                   # 250
        b"HELP\r\n"                                   # 214
        b"WHAT\r\n"                                   # 500
        b"DATA\r\n"                                   # 354
        b"Subject: bs ncmta-token-" + tok.encode() + b"\r\n\r\n"
        b"..leading dot\r\n.\r\n"                     # 250
        b"MAIL FROM:<alice@example.org>\r\n"          # 250
        b"RCPT TO:<carol@example.net>\r\n"            # 250
        b"DATA\r\n" + big * 60 + b".\r\n"             # 354, 552
        b"RSET\r\n"                                   # 250
        b"QUIT\r\n")                                  # 221
    rc, codes, out, err = _bs(inst, script)
    assert rc == 0, (out, err)
    assert codes == ["220", "503", "503", "250", "501", "552", "555", "250",
                     "503", "501", "250", "250", "252", "250", "214", "500",
                     "354", "250", "250", "250", "354", "552", "250",
                     "221"], out
    m = _one(sink)
    assert token_of(m) == tok
    assert m.mail_from == "alice@example.org"
    assert m.rcpt_tos == ["bob@example.net"]
    assert m.headers_body()[1] == b".leading dot\r\n"
    inst.wait_empty()
    assert sink.count() == 1, "the message over the limit was not refused"


def test_bs_end_of_input(instances):
    inst = instances(smart_host="[127.0.0.1]:9", myorigin="test.example")
    inst.start()
    inst.stop()
    before = set(inst.maildrop_files())

    rc, codes, out, err = _bs(inst, b"EHLO x\r\nNOOP\r\n")
    assert rc == 0 and codes[-1] == "250", (rc, out, err)
    assert err == ""

    rc, codes, out, err = _bs(
        inst, b"HELO x\r\nMAIL FROM:<a@example.org>\r\n"
        b"RCPT TO:<b@example.net>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a")
    assert rc == 74, (rc, out, err)
    assert codes[-1] == "354" and "not accepted" in err, (out, err)
    assert set(inst.maildrop_files()) == before, "partial message kept"

    # Unqualified addresses get @myorigin, as on the command line.
    rc, codes, out, err = _bs(
        inst, b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<root>\r\nDATA\r\n"
        b"Subject: s\r\n\r\nb\r\n.\r\nQUIT\r\n")
    assert rc == 0 and codes[-2:] == ["250", "221"], (out, err)
    new = set(inst.maildrop_files()) - before
    assert len(new) == 1
    with open(os.path.join(inst.queue, "maildrop", new.pop()), "rb") as f:
        env = f.read().split(b"\n\n", 1)[0].decode()
    assert "sender <>" in env and "rcpt <root@test.example>" in env, env


def test_bs_queue_full_and_maildrop_unwritable(instances):
    inst = instances(smart_host="[127.0.0.1]:9", myorigin="test.example")
    inst.start()
    inst.stop()
    flag = os.path.join(inst.queue, "flags", "full")
    os.makedirs(os.path.dirname(flag), exist_ok=True)
    open(flag, "w").close()
    tx = (b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>"
          b"\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n")
    rc, codes, out, err = _bs(inst, tx)
    assert rc == 0, (out, err)
    assert codes[:3] == ["220", "250", "452"], out
    assert "452 4.3.1" in out and "full" in out, out
    assert inst.maildrop_files() == []
    os.unlink(flag)

    maildrop = os.path.join(inst.queue, "maildrop")
    mode = stat.S_IMODE(os.stat(maildrop).st_mode)
    os.chmod(maildrop, 0o500)
    try:
        # root would get past the mode; an ordinary user does not.
        if os.getuid() == 0:
            inst.use_private_copies()
            user = "nobody"
        else:
            user = None
        rc, codes, out, err = _bs(inst, tx, as_user=user)
    finally:
        os.chmod(maildrop, mode)
    assert codes == ["220", "250", "250", "250", "354", "451", "221"], out
    assert inst.maildrop_files() == []


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become a user")
def test_bs_as_ordinary_user(mta):
    """Any local user may submit over -bs; the queue records their uid."""
    mta.use_private_copies()
    tok = new_token()
    tx = (b"EHLO x\r\nMAIL FROM:<nobody>\r\nRCPT TO:<b@example.net>\r\n"
          b"DATA\r\nSubject: user ncmta-token-" + tok.encode() +
          b"\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    rc, codes, out, err = _bs(mta, tx, as_user="nobody")
    assert rc == 0 and codes == ["220", "250", "250", "250", "354", "250",
                                 "221"], (out, err)
    m = _one(mta.sink)
    assert token_of(m) == tok and m.mail_from == "nobody@test.example"
    uid = pwd.getpwnam("nobody").pw_uid
    assert mta.log_lines("uid=%d " % uid), mta.log()


# -- bsd-mailx ---------------------------------------------------------------

def _ours(path):
    """Whether path is absent, our test wrapper or an ncsendmail."""
    if not os.path.lexists(path):
        return True
    real = os.path.realpath(path)
    if os.path.basename(real) == "ncsendmail":
        return True
    try:
        with open(real, "rb") as f:
            return MARK.encode() in f.read(4096)
    except OSError:
        return False


@pytest.fixture
def system_sendmail():
    """install(inst): put a wrapper for inst at /usr/sbin/sendmail when
    nothing or ncmta is there; what was there comes back afterwards."""
    path = "/usr/sbin/sendmail"
    saved = None
    if os.getuid() != 0:
        pytest.skip("needs root to install /usr/sbin/sendmail")
    if not _ours(path):
        pytest.skip("%s belongs to another MTA (%s); not replaced"
                    % (path, os.path.realpath(path)))
    backup = tempfile.mkdtemp(prefix="ncmta-sendmail-", dir="/var/tmp")
    if os.path.lexists(path):
        saved = os.path.join(backup, "sendmail")
        shutil.move(path, saved)

    def install(inst):
        return _wrapper(inst, path)
    yield install
    if os.path.lexists(path):
        os.unlink(path)
    if saved:
        shutil.move(saved, path)
    shutil.rmtree(backup, ignore_errors=True)


@pytest.mark.parametrize("via", ["mailrc", "usr_sbin_sendmail"])
def test_bsd_mailx(mta, via, request):
    """mail -s: bsd-mailx runs sendmail -i -t with its own To: header."""
    home = os.path.join(mta.base, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home)
    env.pop("MAILRC", None)
    if via == "mailrc":
        rc = os.path.join(home, "mailrc")
        with open(rc, "w") as f:
            f.write("set sendmail=%s\n" % _wrapper(mta))
        env["MAILRC"] = rc
    else:
        request.getfixturevalue("system_sendmail")(mta)
    tok = new_token()
    mailx = shutil.which("bsd-mailx") or "mail"
    p = subprocess.run(
        [mailx, "-s", "mailx ncmta-token-%s" % tok, "ops@example.net"],
        input=("Disk usage report\n.\nGr\u00fc\u00dfe\n").encode(),
        env=env, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = _one(mta.sink)
    assert token_of(m) == tok
    assert m.rcpt_tos == ["ops@example.net"]
    assert m.mail_from == "root@test.example"
    assert m.header("To") == ["ops@example.net"]
    assert m.headers_body()[1] == \
        b"Disk usage report\r\n.\r\nGr\xc3\xbc\xc3\x9fe\r\n"


# -- cron, unattended-upgrades, PHP -------------------------------------------

def test_cron_style_reaches_alias_target(instances, sink):
    inst = instances(smart_host=[sink], myorigin="test.example")
    aliases = os.path.join(inst.confdir, "aliases")
    with open(aliases, "w") as f:
        f.write("# /etc/aliases format\npostmaster: root\n"
                "root: admin@example.net\n")
    inst.configure(alias_maps=aliases)
    inst.start()
    tok = new_token()
    data = ("From: root (Cron Daemon)\nTo: root\n"
            "Subject: Cron <root@host> run-parts /etc/cron.daily "
            "ncmta-token-%s\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "X-Cron-Env: <SHELL=/bin/sh>\n\n"
            "/etc/cron.daily/logrotate: \u00e9chec\n" % tok).encode()
    inst.run([inst.ncsendmail, "-C", inst.confdir, "-i", "-FCronDaemon",
              "-B8BITMIME", "-oem", "root"], input=data, check=True)
    m = _one(sink)
    assert token_of(m) == tok
    assert m.rcpt_tos == ["admin@example.net"]
    assert m.mail_from == "root@test.example"
    assert m.headers_body()[1] == \
        "/etc/cron.daily/logrotate: \u00e9chec\r\n".encode()


def test_unattended_upgrades_style(instances, sink):
    """-oi -t with From: root / To: root; root is not local here, so the
    qualified address goes to the smart host as it is."""
    inst = instances(smart_host=[sink], mydestination="localhost",
                     myorigin="test.example")
    inst.start()
    tok = new_token()
    data = ("From: root\nTo: root\nSubject: unattended-upgrades result "
            "for host: True ncmta-token-%s\nContent-Type: text/plain; "
            "charset=\"utf-8\"\n\nUnattended upgrade result: All upgrades "
            "installed\n.\nPackages that were upgraded:\n libc6\n" % tok
            ).encode()
    inst.run([inst.ncsendmail, "-C", inst.confdir, "-oi", "-t"],
             input=data, check=True)
    m = _one(sink)
    assert token_of(m) == tok
    assert m.rcpt_tos == ["root@test.example"]
    assert m.mail_from == "root@test.example"
    assert "root" in m.header("From")[0]
    assert m.headers_body()[1].endswith(
        b"installed\r\n.\r\nPackages that were upgraded:\r\n libc6\r\n")


@pytest.mark.parametrize("how", ["flags", "php"])
def test_php_style(mta, how):
    """-t -i -f: recipients from the headers, Bcc not shown, sender from
    -f. With php-cli installed, PHP's own mail() makes the call."""
    tok = new_token()
    subject = "php ncmta-token-%s" % tok
    if how == "php":
        if shutil.which("php") is None:
            pytest.skip("php-cli is not installed")
        code = ("exit(mail('to@example.net', '%s', \"line1\\n.\\nline3\", "
                "\"From: sender@example.com\\r\\nCc: cc@example.net\\r\\n"
                "Bcc: hidden@example.net\") ? 0 : 3);" % subject)
        p = subprocess.run(
            ["php", "-n", "-d", "sendmail_path=%s -t -i -f "
             "sender@example.com" % _wrapper(mta), "-r", code],
            capture_output=True, timeout=30)
        assert p.returncode == 0, (p.stdout, p.stderr)
    else:
        data = ("To: to@example.net\nSubject: %s\nFrom: sender@example.com\n"
                "Cc: cc@example.net\nBcc: hidden@example.net\n\n"
                "line1\n.\nline3\n" % subject).encode()
        mta.run([mta.ncsendmail, "-C", mta.confdir, "-t", "-i",
                     "-f", "sender@example.com"], input=data, check=True)
    m = _one(mta.sink)
    assert token_of(m) == tok
    assert m.mail_from == "sender@example.com"
    assert sorted(m.rcpt_tos) == ["cc@example.net", "hidden@example.net",
                                  "to@example.net"]
    head, body = m.headers_body()
    assert b"hidden@example.net" not in head and m.header("Bcc") == []
    assert body == b"line1\r\n.\r\nline3\r\n"


# -- git send-email -------------------------------------------------------------

def test_git_send_email(mta):
    repo = os.path.join(mta.base, "repo")
    os.makedirs(repo)
    env = dict(os.environ, HOME=mta.base, GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="Dev Eloper", GIT_AUTHOR_EMAIL="dev@example.org",
               GIT_COMMITTER_NAME="Dev Eloper",
               GIT_COMMITTER_EMAIL="dev@example.org")
    tok = new_token()

    def git(*args):
        return subprocess.run(["git", "-C", repo] + list(args), env=env,
                              capture_output=True, check=True, timeout=60)
    git("init", "-q")
    with open(os.path.join(repo, "hello.c"), "w") as f:
        f.write("int\nmain(void)\n{\n\treturn 0;\n}\n.\n")
    git("add", "hello.c")
    git("commit", "-q", "-m", "hello: ncmta-token-%s" % tok)
    patch = git("format-patch", "-1", "-o",
                os.path.join(mta.base, "out")).stdout.decode().strip()
    p = subprocess.run(
        ["git", "-C", repo, "send-email", "--smtp-server=%s"
         % _wrapper(mta), "--confirm=never", "--suppress-cc=all",
         "--envelope-sender=auto", "--from=Dev Eloper <dev@example.org>",
         "--to=list@example.net", patch],
        env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    m = _one(mta.sink)
    assert token_of(m) == tok
    assert m.mail_from == "dev@example.org"
    assert m.rcpt_tos == ["list@example.net"]
    assert m.header("Subject")[0].startswith("[PATCH] hello:")
    body = m.headers_body()[1]
    assert b"+++ b/hello.c\r\n" in body and b"+\treturn 0;\r\n+}\r\n+.\r\n" in body


# -- other names, other modes --------------------------------------------------

def _names(inst):
    d = os.path.join(inst.base, "names")
    os.makedirs(d, exist_ok=True)
    for n in ("sendmail", "mailq", "newaliases"):
        os.symlink(NCSENDMAIL, os.path.join(d, n))
    return d


def test_mailq_bp_and_q(instances, sinks):
    sink = sinks(up=False)
    inst = instances(smart_host=[sink]).start()
    d = _names(inst)
    tok = new_token()
    inst.run([os.path.join(d, "sendmail"), "-C", inst.confdir, "-i",
              "late@example.net"], input=b"Subject: ncmta-token-%s\n\nx\n"
             % tok.encode(), check=True)
    inst.wait_deferred(1)
    inst.ctl("hold", "ALL", check=True)  # a listing that stays put
    wait_for(lambda: inst.states() and set(inst.states().values()) ==
             {"hold"}, 10, "the message held")
    want = inst.run([NCQSHOW, "-c", inst.confdir]).stdout
    assert b"late@example.net" in want
    got = inst.run([os.path.join(d, "mailq"), "-C", inst.confdir])
    assert got.returncode == 0 and got.stdout == want, got
    got = inst.run([NCSENDMAIL, "-C", inst.confdir, "-bp"])
    assert got.returncode == 0 and got.stdout == want, got
    inst.ctl("release", "ALL", check=True)
    sink.start()
    r = inst.run([NCSENDMAIL, "-C", inst.confdir, "-q"])
    assert r.returncode == 0, r.stderr
    assert token_of(_one(sink, 10)) == tok
    inst.wait_empty()


def test_newaliases(instances, sink):
    inst = instances(smart_host=[sink], myorigin="test.example")
    d = _names(inst)
    aliases = os.path.join(inst.confdir, "aliases")
    with open(aliases, "w") as f:
        f.write("root: admin@example.net\nbroken line without colon\n"
                "ops: admin@example.net\nweb: |/usr/bin/procmail\n")
    inst.configure(alias_maps=aliases)
    for argv in ([os.path.join(d, "newaliases"), "-C", inst.confdir],
                 [NCSENDMAIL, "-C", inst.confdir, "-bi"],
                 [NCSENDMAIL, "-C", inst.confdir, "-I"]):
        r = inst.run(argv)
        err = r.stderr.decode()
        assert r.returncode == 1, (argv, err)
        assert "%s:2:" % aliases in err and "%s:4:" % aliases in err, err
        assert "%s:1:" % aliases not in err, err
    with open(aliases, "w") as f:
        f.write("root: admin@example.net\nops: root, other@example.net\n")
    r = inst.run([os.path.join(d, "newaliases"), "-C", inst.confdir])
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    inst.start()
    # an alias added while ncmta runs is used once newaliases ran
    with open(aliases, "a") as f:
        f.write("team: team-a@example.net\n")
    r = inst.run([os.path.join(d, "newaliases"), "-C", inst.confdir])
    assert r.returncode == 0, r.stderr
    wait_for(lambda: inst.log_lines("reloaded configuration"), 10,
             "the master to reload")
    tok = new_token()
    inst.submit(["team"], b"Subject: ncmta-token-%s\n\nx\n" % tok.encode(),
                sender="s@test.example")
    got = _one(sink, 20)
    assert token_of(got) == tok
    assert got.rcpt_tos == ["team-a@example.net"], got.rcpt_tos


# -- flags ---------------------------------------------------------------------

def test_dsn_flags_kept_in_maildrop(instances):
    inst = instances(smart_host="[127.0.0.1]:9", myorigin="test.example")
    inst.start()
    inst.stop()
    r = inst.submit(["r@example.net"], b"Subject: dsn\n\nx\n",
                    flags=("-i", "-N", "success,delay", "-R", "hdrs",
                           "-V", "env-42", "-B", "8BITMIME", "-F", "A B"))
    assert r.returncode == 0
    files = inst.maildrop_files()
    assert len(files) == 1
    with open(os.path.join(inst.queue, "maildrop", files[0]), "rb") as f:
        env = f.read().split(b"\n\n", 1)[0].decode().splitlines()
    for line in ("notify SUCCESS,DELAY", "ret HDRS", "envid env-42",
                 "body 8BITMIME", "fullname A B", "rcpt <r@example.net>"):
        assert line in env, env
    for bad in (["-N", "sometimes"], ["-R", "all"], ["-B", "binary"],
                ["-N", "never,success"]):
        r = inst.submit(["r@example.net"], b"x\n", flags=["-i"] + bad,
                        check=False)
        assert r.returncode == 64, (bad, r.stderr)
    assert len(inst.maildrop_files()) == 1


def test_ignored_and_unknown_flags(mta):
    tok = new_token()
    flags = ["-oem", "-oee", "-oep", "-odi", "-odb", "-odq", "-om",
             "-o", "x", "value", "-O", "DeliveryMode=b", "-Am", "-Ac", "-U",
             "-G", "-L", "tag", "-h", "17", "-n", "-m", "-X", "/dev/null",
             "-bm", "-Zbogus", "--weird", "-v", "-r", "ret@example.org"]
    r = mta.run([mta.ncsendmail, "-C", mta.confdir] + flags +
                    ["--", "only@example.net"],
                    input=b"Subject: ncmta-token-%s\n\n.\nafter\n"
                    % tok.encode())
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "queued as" in err and "bogus" not in err, err
    m = _one(mta.sink)
    assert m.rcpt_tos == ["only@example.net"]
    assert m.mail_from == "ret@example.org"
    # Without -i a lone dot ends the message.
    assert m.headers_body()[1] == b""
    log = mta.log()
    assert "-Zbogus" in log and "--weird" in log, log

    r = mta.run([mta.ncsendmail, "-C", mta.confdir,
                     "-f", "<>", "-i", "null@example.net"],
                    input=b"Subject: null\n\nx\n")
    assert r.returncode == 0, r.stderr
    assert mta.sink.wait_count(2, 20)
    assert mta.sink.snapshot()[1].mail_from == ""
