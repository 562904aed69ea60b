"""Helpers shared by the bench/ scripts: bench/run loaded as a module (for
its sink wrapper and its memory sampler), a description of the machine a
run is on, and the CPU time of a group of processes that counts the
children they reaped as well.
"""

import importlib.machinery
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load_bench_run():
    """bench/run (no .py suffix) as a module, for its sink wrapper."""
    path = os.path.join(HERE, "run")
    loader = importlib.machinery.SourceFileLoader("bench_run", path)
    spec = importlib.util.spec_from_loader("bench_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# -- the machine --------------------------------------------------------------


def cpu_model():
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith(("model name", "Model", "cpu model")):
            return line.split(":", 1)[1].strip()
    return "unknown"


def disk_of(path):
    """The block device, file system type and kind of disk that hold path,
    as far as /proc/mounts and /sys tell: e.g. "ext4 on /dev/vda (virtio,
    rotational=1)". The rotational flag is what the kernel was told; virtual
    disks often claim 1 whatever is behind them."""
    st = os.stat(path)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    fstype, source, best = "?", "?", ""
    for line in (_read("/proc/self/mounts") or "").splitlines():
        f = line.split()
        mnt = f[1].replace("\\040", " ")
        if path.startswith(mnt) and len(mnt) >= len(best):
            best, source, fstype = mnt, f[0], f[2]
    if major == 0:
        return "%s (%s, no block device)" % (fstype, source)
    sysdev = os.path.realpath("/sys/dev/block/%d:%d" % (major, minor))
    if os.path.exists(os.path.join(sysdev, "partition")):
        sysdev = os.path.dirname(sysdev)  # the whole disk's queue/
    name = os.path.basename(sysdev)
    rot = (_read(os.path.join(sysdev, "queue", "rotational")) or "?").strip()
    bus = "virtio" if "/virtio" in sysdev else (
        "nvme" if name.startswith("nvme") else
        "virtual" if "/virtual/" in sysdev else "")
    kind = ", ".join(x for x in (bus, "rotational=%s" % rot) if x)
    return "%s on /dev/%s (%s)" % (fstype, name, kind)


def machine_rows(path):
    """(label, value) rows that say what machine this is and how busy it
    is: CPU, cores, kernel, memory, the disk under path, load average."""
    mem = 0
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    load = (_read("/proc/loadavg") or "? ? ?").split()[:3]
    return [
        ("CPU", cpu_model()),
        ("cores", "%d online, %d usable by this run"
         % (os.cpu_count() or 0, len(os.sched_getaffinity(0)))),
        ("kernel", "%s %s" % (os.uname().sysname, os.uname().release)),
        ("memory", "%.1f GiB" % (mem / 2.0 ** 30)),
        ("disk", "%s: %s" % (path, disk_of(path))),
        ("load average", "%s %s %s (1, 5, 15 min) at the start" % tuple(load)),
    ]


# -- CPU time of a group of processes -----------------------------------------


def cpu_snapshot(procs, label=lambda p: p.name or p.comm):
    """{(pid, start time): (label, own ticks, reaped children's ticks)}
    of the processes procs (instance.Proc objects) that are still there.
    The start time tells a reused pid apart."""
    snap = {}
    for p in procs:
        st = _read("/proc/%d/stat" % p.pid)
        if not st:
            continue
        f = st.rsplit(")", 1)[1].split()
        # after the command name: state is f[0], utime f[11], stime f[12],
        # cutime f[13], cstime f[14], starttime f[19]
        snap[(p.pid, int(f[19]))] = (label(p), int(f[11]) + int(f[12]),
                                     int(f[13]) + int(f[14]))
    return snap


def cpu_delta(before, after, seen=None):
    """CPU seconds the group used between two snapshots, in all and by
    label. A process that exited in between was reaped by one of the
    group (its parent), whose children's time then holds all of it. Such
    time goes to the process's label as far as seen ({pid: (label, own
    ticks)}, the last sample of each process taken meanwhile) shows it,
    the rest to "(exited)": what exited processes used after their last
    sample, less what they had used already at the first snapshot.
    Processes reparented outside the group are not seen."""
    hz = float(os.sysconf("SC_CLK_TCK"))
    by = {"(exited)": 0}
    for key, (name, own, kids) in after.items():
        _, own0, kids0 = before.get(key, (name, 0, 0))
        by[name] = by.get(name, 0) + own - own0
        by["(exited)"] += kids - kids0
    for key, (name, own, _) in before.items():
        if key not in after:
            by["(exited)"] -= own
    alive = set(pid for pid, _ in after)
    first = dict((pid, own) for (pid, _), (_, own, _) in before.items())
    for pid, (name, last) in (seen or {}).items():
        if pid not in alive:
            used = last - first.get(pid, 0)
            by[name] = by.get(name, 0) + used
            by["(exited)"] -= used
    by = {k: v / hz for k, v in by.items() if v}
    return sum(by.values()), by
