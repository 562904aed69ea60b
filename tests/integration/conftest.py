"""pytest fixtures for ncmta's integration suite: SMTP sinks and ncmta
instances that are torn down after each test whatever happened (instances
are stopped with ncctl and any leftover process is killed)."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from instance import (NCCTL, NCQSHOW, NCSENDMAIL, Instance,  # noqa: E402
                      ensure_mail_owner)
from peers import DirectNet, Sink  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def built_tree():
    missing = [p for p in (NCCTL, NCSENDMAIL, NCQSHOW) if not os.access(
        p, os.X_OK)]
    if missing:
        pytest.exit("not built: %s (run tests/run-all)" % ", ".join(missing),
                    returncode=2)
    ensure_mail_owner()


@pytest.fixture
def sinks():
    """make(**kw) -> a started Sink (pass up=False for one that refuses
    connections); every sink is closed after the test."""
    made = []

    def make(up=True, **kw):
        s = Sink(name="s%d" % len(made), **kw)
        made.append(s)
        return s.start() if up else s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def sink(sinks):
    return sinks()


@pytest.fixture
def net(request):
    """A DirectNet: sinks on 127.0.0.x sharing one port and a name server
    (started by the test with net.dns(records)); everything is closed
    after the test, and a failed test prints the name server's queries."""
    base = tempfile.mkdtemp(prefix="ncmta-net-", dir="/var/tmp")
    os.chmod(base, 0o755)
    n = DirectNet(base)
    yield n
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print("---- DNS queries seen by the test's name server")
        print("\n".join(n.query_log()[-60:]))
    n.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def instances(request):
    """make(**settings) -> an Instance (not started); each is stopped and
    removed after the test, its log printed if the test failed. A daemon
    that died and was restarted by the master fails the test unless it set
    inst.expect_restarts."""
    made = []

    def make(**settings):
        inst = Instance(name=request.node.name[:40].replace("/", "_")
                        .replace("[", "-").replace("]", ""), **settings)
        made.append(inst)
        return inst
    yield make
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    errors = []
    for inst in made:
        crashed = [line for line in inst.log().splitlines()
                   if "; restarting in" in line]
        if crashed and not inst.expect_restarts:
            errors.append("%s: a daemon died: %s" % (inst.name, crashed[0]))
        if failed:
            tail = inst.log().splitlines()[-60:]
            print("---- %s: last lines of %s" % (inst.name, inst.logfile))
            print("\n".join(tail))
        try:
            inst.cleanup(keep=failed and bool(os.environ.get(
                "NCMTA_KEEP_FAILED")))
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("teardown: " + "; ".join(errors))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def running(instances, sink):
    """A started instance whose smart host is one healthy sink."""
    inst = instances(smart_host=[sink])
    inst.start()
    inst.sink = sink
    return inst
