#!/usr/bin/env python3
"""Benchmarks rt against runc and crun, side by side.

Every scenario runs the runtimes interleaved, in a fresh random order each
round (a run of one runtime slows the one right after it on this machine, so
no runtime may always follow another), each run with its own container id.
Reports min / median / p95 and the ratios rt/runc and rt/crun; writes
bench/results.md, bench/results.json, bench/medians.svg and bench/mounts.svg.

The whole bench runs in a mount namespace of its own, whose mounts are
slaves of the host's (nothing mounted here reaches the host) and shared
among themselves, as systemd makes a host's. There the runtimes keep their
state on a tmpfs, as /run is on a real host (this VM's /run is ext4 mounted
with discard, where replacing a state file waits for the disk), and the
host-mounts scenario adds its tmpfs mounts. The namespace, and every mount
in it, ends with this process, however it ends; containers started here
are deleted on SIGINT, SIGTERM and SIGHUP too.

Usage: bench.py --rt PATH [--rounds N] [--scale N] [--mounts 0,250,1000,2000]
                [--concurrency 50,200] [--burst-rounds N] [--only a,b] [--out DIR]
"""

import argparse
import ctypes
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2

LIBC = ctypes.CDLL(None, use_errno=True)

SCENARIOS = ("run", "masked", "rss", "lifecycle", "exec", "seccomp", "sequential", "parallel",
             "mounts", "burst", "storm", "memory")


def set_subreaper():
    """Become the containers' reaper, as containerd's shim is."""
    if LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None
    if LIBC.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {target}: {os.strerror(e)}")


def hierarchy_emptied(controller, timeout=5.0):
    """Wait until the v1 hierarchy of `controller` holds only its root
    cgroup (/proc/cgroups). A cgroup leaves its parent's list only after
    an RCU grace period: unmounted before that, the kernel keeps the
    hierarchy alive, mounted nowhere, for good, and every process on the
    host lists it in /proc/self/cgroup (rt then cannot join it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/cgroups") as f:
            rows = [line.split() for line in f if not line.startswith("#")]
        if all(int(r[2]) <= 1 for r in rows if r[0] == controller):
            return
        time.sleep(0.02)


def umount_tree(target):
    if LIBC.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def private_namespace(work):
    """A mount namespace of this process's own (see the module doc), with
    a tmpfs at `work`. The caller is single-threaded here (unshare of the
    mount namespace needs it)."""
    if LIBC.unshare(CLONE_NEWNS) != 0:
        sys.exit(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    # Slaves first: from here on nothing mounted reaches the host ...
    mount(None, "/", None, MS_REC | MS_SLAVE)
    # ... and shared among themselves, as a systemd host's are.
    mount(None, "/", None, MS_REC | MS_SHARED)
    mount("bench", work, "tmpfs", 0, "mode=0755")
    os.mkdir(os.path.join(work, "extra-mounts"))
    # crun refuses a hybrid layout without a v1 hugetlb hierarchy: mount
    # one here (in this namespace only) where the host has none.
    hugetlb = "/sys/fs/cgroup/hugetlb"
    if os.path.isdir("/sys/fs/cgroup/memory") and not os.path.ismount(hugetlb):
        made = not os.path.exists(hugetlb)
        os.makedirs(hugetlb, exist_ok=True)
        mount("cgroup", hugetlb, "cgroup", 0, "hugetlb")
        return hugetlb, made
    return None, False


class Runtime:
    def __init__(self, name, path, workdir):
        self.name = name
        self.path = path
        self.root = tempfile.mkdtemp(prefix=f"{name}-", dir=workdir)
        self.n = 0

    def new_id(self):
        self.n += 1
        return f"bench-{self.name}-{os.getpid()}-{self.n}"

    def cmd(self, *args):
        return [self.path, "--root", self.root, *args]


def timed(argv, quiet=False):
    """Wall and CPU seconds (user+sys of the process and its reaped children).
    """
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL if quiet else None)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} exited with {os.waitstatus_to_exitcode(status)}")
    return wall, ru.ru_utime + ru.ru_stime


def peak_rss_mib(argv):
    """Peak RSS of the runtime process. Measured by GNU time, not by wait4
    here: a child forked from this Python process would carry Python's
    high-water mark across exec."""
    # A file, not a pipe: a created container's init keeps stderr open.
    with tempfile.TemporaryFile(mode="w+") as err:
        subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=err, check=True)
        err.seek(0)
        return int(err.read().strip().splitlines()[-1]) / 1024


def check(argv):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def reap_orphans():
    """Collect what was reparented to us and has exited (a subreaper
    inherits the zombies of every process below it). Only where no
    subprocess of ours is running: its status would go too."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reap(pid):
    """Wait for a container init that was reparented to us."""
    while True:
        try:
            done, _ = os.waitpid(pid, 0)
            if done == pid:
                return
        except ChildProcessError:
            return


def bundle_for(base, args, cgroup_parent, seccomp=None, masked=()):
    """A bundle dir sharing base's rootfs, running args, with `masked` added
    to its maskedPaths."""
    d = tempfile.mkdtemp(prefix="bundle-", dir=os.path.dirname(base))
    with open(os.path.join(base, "config.json")) as f:
        cfg = json.load(f)
    # The version every runtime here accepts (crun 1.8 refuses rt's 1.3.0).
    cfg["ociVersion"] = "1.0.2"
    cfg["root"]["path"] = os.path.join(base, "rootfs")
    cfg["root"]["readonly"] = True
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    if seccomp is not None:
        cfg["linux"]["seccomp"] = seccomp
    cfg["linux"]["maskedPaths"] += list(masked)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    return d


def set_cgroup(bundle, path):
    cfg_path = os.path.join(bundle, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["linux"]["cgroupsPath"] = path
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)


def interleaved(runtimes, rounds, one):
    """results[name] = list of one(runtime) values, in shuffled rounds."""
    results = {r.name: [] for r in runtimes}
    for _ in range(rounds):
        order = runtimes[:]
        random.shuffle(order)
        for r in order:
            results[r.name].append(one(r))
    return results


def quantile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def summary(values):
    s = sorted(values)
    return {"min": s[0], "median": statistics.median(s), "p95": quantile(s, 0.95),
            "p99": quantile(s, 0.99), "n": len(s)}


def cgroups_left(parent, ids):
    """The cgroup directories of `ids` below `parent` still there, in any
    hierarchy."""
    left = []
    for h in os.listdir("/sys/fs/cgroup"):
        for cid in ids:
            if os.path.isdir(f"/sys/fs/cgroup/{h}{parent}/{cid}"):
                left.append(f"{h}{parent}/{cid}")
    return left


def pss_kib(pid):
    """Proportional set size of a process: its share of the pages it maps."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes():
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def procs_in(cgroup_dirs):
    pids = set()
    for d in cgroup_dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return pids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rt", required=True)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--scale", type=int, default=1000, help="largest sequential count")
    ap.add_argument("--mounts", default="0,250,1000,2000",
                    help="extra host mounts the run latency is measured at")
    ap.add_argument("--concurrency", default="50,200",
                    help="containers run at once, and execs at once into one container")
    ap.add_argument("--burst-rounds", type=int, default=5,
                    help="rounds of each concurrent scenario per runtime")
    ap.add_argument("--only", default="", help="comma-separated: " + ",".join(SCENARIOS))
    ap.add_argument("--out", default="bench")
    ap.add_argument("--seccomp-profile", default="spec-fixtures/seccomp/docker-default.json")
    a = ap.parse_args()
    # Entering a mount namespace (the host-mounts scenario) moves the
    # working directory to its root: relative paths would resolve there.
    a.out = os.path.abspath(a.out)
    a.seccomp_profile = os.path.abspath(a.seccomp_profile)
    only = set(filter(None, a.only.split(","))) or set(SCENARIOS)
    unknown = only - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    mount_counts = [int(x) for x in a.mounts.split(",") if x != ""]
    concurrency = [int(x) for x in a.concurrency.split(",") if x != ""]

    set_subreaper()
    work = tempfile.mkdtemp(prefix="rt-bench.", dir="/run")
    running = {}
    parent = f"/rt-bench-{os.getpid()}"
    runtimes = []
    hugetlb, made = None, False

    def stop(signum, _frame):
        raise SystemExit(f"interrupted by signal {signum}")
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, stop)
    try:
        hugetlb, made = private_namespace(work)
        runtimes.append(Runtime("rt", os.path.realpath(a.rt), work))
        for name in ("runc", "crun"):
            p = shutil.which(name)
            if p:
                runtimes.append(Runtime(name, p, work))
        before = machine_sample()
        res = run_all(a, only, mount_counts, concurrency, runtimes, work, parent, running)
        res["machine"] = machine_quiet(before, machine_sample())
        write_reports(res, a.out)
    finally:
        for r in runtimes:
            # The detached ones, and any container of a runtime the signal
            # stopped in the middle of a run (its state is there).
            listed = subprocess.run(r.cmd("list", "-q"), stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True).stdout.split()
            for cid in dict.fromkeys(running.get(r.name, []) + listed):
                subprocess.run(r.cmd("delete", "--force", cid), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        remove_cgroups(parent)
        if hugetlb:
            hierarchy_emptied("hugetlb")
        # The tmpfs at `work` (this namespace's) goes with the namespace;
        # the directory it covers is the host's.
        for m in (work, hugetlb):
            try:
                if m:
                    umount_tree(m)
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
        if made:
            try:
                os.rmdir(hugetlb)
            except OSError:
                pass


def remove_cgroups(parent, timeout=5.0):
    """Remove the bench's cgroup `parent` in every hierarchy, deepest first:
    a runtime stopped in the middle of a run can leave its container's
    cgroup below it, and the container's processes (the bench's own: the
    cgroup is the bench's) in it."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for d in os.listdir("/sys/fs/cgroup"):
            top = f"/sys/fs/cgroup/{d}{parent}"
            for below, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                for pid in procs_in([below]):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    os.rmdir(below)
                except OSError:
                    left.append(below)
        if not left:
            return
        if time.monotonic() > deadline:
            print(f"bench: cgroups still in use, left: {left[:5]}", file=sys.stderr)
            return
        reap_orphans()
        time.sleep(0.05)


def run_all(a, only, mount_counts, concurrency, runtimes, work, parent, running):
    base = os.path.join(work, "base")
    os.makedirs(os.path.join(base, "rootfs", "bin"))
    shutil.copy("/bin/busybox", os.path.join(base, "rootfs", "bin", "busybox"))
    for applet in ("true", "sh", "sleep", "dd"):
        os.symlink("busybox", os.path.join(base, "rootfs", "bin", applet))
    check([runtimes[0].path, "spec", "--bundle", base])
    true_bundle = bundle_for(base, ["/bin/true"], parent)
    sleep_bundle = bundle_for(base, ["sleep", "1000"], parent)
    res = {"runtimes": {r.name: r.path for r in runtimes}, "scenarios": {}, "mounts": {}, "mounts_cpu": {},
           "base_mounts": mount_count()}

    def record(name, unit, per_runtime, stat="median"):
        res["scenarios"][name] = {"unit": unit, "stat": stat,
                                  "results": {k: summary(v) for k, v in per_runtime.items()}}
        print(f"{name}: " + ", ".join(f"{k} {summary(v)[stat]:.4g}{unit}" for k, v in per_runtime.items()),
              flush=True)

    def run_true(r):
        cid = r.new_id()
        set_cgroup(true_bundle, f"{parent}/{cid}")
        return timed(r.cmd("run", "--bundle", true_bundle, cid))

    # 1. run /bin/true.
    if "run" in only:
        raw = interleaved(runtimes, a.rounds, run_true)
        record("run /bin/true wall", " ms", {k: [x[0] * 1e3 for x in v] for k, v in raw.items()})
        record("run /bin/true cpu", " ms", {k: [x[1] * 1e3 for x in v] for k, v in raw.items()})

    # 1b. 50 masked directories: runc >= 1.5 and rt mask them with one
    # shared tmpfs (issue 18), runc 1.1 and crun with one tmpfs each.
    if "masked" in only:
        masked = [f"/masked/d{i}" for i in range(50)]
        for m in masked:
            os.makedirs(os.path.join(base, "rootfs") + m)
        masked_bundle = bundle_for(base, ["/bin/true"], parent, masked=masked)

        def run_masked(r):
            cid = r.new_id()
            set_cgroup(masked_bundle, f"{parent}/{cid}")
            return timed(r.cmd("run", "--bundle", masked_bundle, cid))[0] * 1e3
        record("run with 50 masked dirs wall", " ms", interleaved(runtimes, a.rounds, run_masked))

    if "rss" in only:
        def run_rss(r):
            cid = r.new_id()
            set_cgroup(true_bundle, f"{parent}/{cid}")
            return peak_rss_mib(r.cmd("run", "--bundle", true_bundle, cid))
        record("run peak RSS", " MiB", interleaved(runtimes, max(5, a.rounds // 4), run_rss))

    # 2. the shim sequence.
    def lifecycle(r, bundle=true_bundle):
        cid = r.new_id()
        set_cgroup(bundle, f"{parent}/{cid}")
        pidfile = os.path.join(work, cid + ".pid")
        t0 = time.perf_counter()
        check(r.cmd("create", "--bundle", bundle, "--pid-file", pidfile, cid))
        check(r.cmd("start", cid))
        with open(pidfile) as f:
            reap(int(f.read()))
        check(r.cmd("delete", cid))
        return time.perf_counter() - t0
    if "lifecycle" in only:
        raw = interleaved(runtimes, a.rounds, lifecycle)
        record("create+start+wait+delete", " ms", {k: [x * 1e3 for x in v] for k, v in raw.items()})

    if "rss" in only:
        def create_rss(r):
            cid = r.new_id()
            set_cgroup(true_bundle, f"{parent}/{cid}")
            rss = peak_rss_mib(r.cmd("create", "--bundle", true_bundle, cid))
            check(r.cmd("delete", "--force", cid))
            return rss
        record("create peak RSS", " MiB", interleaved(runtimes, max(5, a.rounds // 4), create_rss))

    def start_sleepers(count):
        """`count` detached `sleep` containers per runtime: their ids."""
        ids = {}
        for r in runtimes:
            for _ in range(count):
                cid = r.new_id()
                set_cgroup(sleep_bundle, f"{parent}/{cid}")
                check(r.cmd("run", "--detach", "--bundle", sleep_bundle, cid))
                running.setdefault(r.name, []).append(cid)
                ids.setdefault(r.name, []).append(cid)
        return ids

    def delete_all(ids):
        for r in runtimes:
            for cid in ids.get(r.name, []):
                check(r.cmd("delete", "--force", cid))
                running[r.name].remove(cid)
        reap_orphans()

    # 3. exec into a running container.
    if "exec" in only:
        one = start_sleepers(1)
        raw = interleaved(runtimes, a.rounds,
                          lambda r: timed(r.cmd("exec", one[r.name][0], "/bin/true"))[0] * 1e3)
        record("exec /bin/true", " ms", raw)
        delete_all(one)

    # 4. binary size.
    res["binary_size_mib"] = {r.name: os.path.getsize(r.path) / 2**20 for r in runtimes}

    # 5. seccomp cost per syscall.
    if "seccomp" in only and os.path.exists(a.seccomp_profile):
        with open(a.seccomp_profile) as f:
            profile = json.load(f)
        n_syscalls = 2 * 200000
        loop = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=200000"]
        plain = bundle_for(base, loop, parent)
        filtered = bundle_for(base, loop, parent, seccomp=profile)

        def loop_time(r, bundle):
            cid = r.new_id()
            set_cgroup(bundle, f"{parent}/{cid}")
            return timed(r.cmd("run", "--bundle", bundle, cid), quiet=True)[0]
        rounds = max(5, a.rounds // 4)
        without = interleaved(runtimes, rounds, lambda r: loop_time(r, plain))
        with_ = interleaved(runtimes, rounds, lambda r: loop_time(r, filtered))
        record("seccomp overhead per syscall", " ns", {
            k: [max(0.0, (w - o) * 1e9 / n_syscalls) for w, o in zip(sorted(with_[k]), sorted(without[k]))] for k in with_
        })

    # 6. scale: per-container cost as the count grows, and 100 in parallel.
    if "sequential" in only:
        for count in sorted({min(100, a.scale), a.scale}):
            per = {}
            for r in random.sample(runtimes, len(runtimes)):
                t0 = time.perf_counter()
                for _ in range(count):
                    lifecycle(r)
                per[r.name] = [(time.perf_counter() - t0) * 1e3 / count]
            record(f"sequential x{count} per container", " ms", per)
    if "parallel" in only:
        per = {}
        for r in random.sample(runtimes, len(runtimes)):
            per[r.name] = [burst_of_runs(r, 100, base, parent) * 1e3 / 100]
        record("parallel x100 per container", " ms", per)

    # 7. run latency against the number of mounts in the caller's namespace:
    # a namespace per count, all made first, the counts interleaved with
    # the runtimes in every round (the machine's load drifts).
    if "mounts" in only:
        spaces = {n: mount_namespace_with(n, work) for n in mount_counts}
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        raw = {n: {r.name: [] for r in runtimes} for n in mount_counts}
        try:
            for _ in range(a.rounds):
                for n in random.sample(mount_counts, len(mount_counts)):
                    setns(spaces[n])
                    try:
                        for r in random.sample(runtimes, len(runtimes)):
                            raw[n][r.name].append(run_true(r))
                    finally:
                        setns(own)
        finally:
            for fd in [own, *spaces.values()]:
                os.close(fd)
        for n in mount_counts:
            wall = {k: [x[0] * 1e3 for x in v] for k, v in raw[n].items()}
            cpu = {k: [x[1] * 1e3 for x in v] for k, v in raw[n].items()}
            res["mounts"][str(n)] = {k: summary(v) for k, v in wall.items()}
            res["mounts_cpu"][str(n)] = {k: summary(v) for k, v in cpu.items()}
            record(f"run /bin/true, +{n} host mounts", " ms", wall)
        for n in mount_counts:
            record(f"run /bin/true cpu, +{n} host mounts", " ms",
                   {k: [x[1] * 1e3 for x in v] for k, v in raw[n].items()})

    # 8. bursts: `c` runs at once, and `c` execs at once into one container.
    if "burst" in only:
        for c in concurrency:
            raw = interleaved(runtimes, a.burst_rounds, lambda r: burst_of_runs(r, c, base, parent) * 1e3)
            record(f"{c} concurrent run, wall for all", " ms", raw)
    if "storm" in only:
        one = start_sleepers(1)
        for c in concurrency:
            singles = {r.name: [] for r in runtimes}

            def storm(r):
                wall, lat = exec_storm(r, one[r.name][0], c)
                singles[r.name].extend(lat)
                return wall * 1e3
            record(f"{c} concurrent exec, wall for all", " ms", interleaved(runtimes, a.burst_rounds, storm))
            record(f"{c} concurrent exec, one exec's latency", " ms",
                   {k: [x * 1e3 for x in v] for k, v in singles.items()}, stat="p99")
        delete_all(one)

    # 9. memory on the host per running container.
    if "memory" in only:
        res["memory"] = memory_per_container(runtimes, start_sleepers, delete_all, parent, work, sleep_bundle)
    return res


def mount_namespace_with(n, work):
    """An fd of a new mount namespace, made like the bench's own (slaves of
    it, shared among themselves), holding `n` more tmpfs mounts: it lives
    as long as the fd (closing it removes them all)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            if LIBC.unshare(CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            mount(None, "/", None, MS_REC | MS_SLAVE)
            mount(None, "/", None, MS_REC | MS_SHARED)
            d = os.path.join(work, "extra-mounts")
            mount("bench-mounts", d, "tmpfs", 0, "size=1m")
            for i in range(n):
                sub = os.path.join(d, str(i))
                os.mkdir(sub)
                mount("bench-mount", sub, "tmpfs", 0, "size=4k")
            os.write(ready_w, b"1")
            # Alive until the parent holds the namespace.
            os.read(done_r, 1)
            os._exit(0)
        except BaseException as e:  # the child reports, the parent fails
            os.write(ready_w, str(e).encode()[:200] or b"?")
            os._exit(1)
    os.close(ready_w)
    os.close(done_r)
    made = os.read(ready_r, 256)
    try:
        if made != b"1":
            raise RuntimeError(f"a namespace with {n} mounts: {made.decode(errors='replace')}")
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def setns(fd):
    """Enter the mount namespace `fd` (this process is single-threaded)."""
    if LIBC.setns(fd, CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def mount_count():
    with open("/proc/self/mountinfo") as f:
        return sum(1 for _ in f)


def burst_of_runs(r, count, base, parent):
    """`count` runs of /bin/true at once: seconds until the last exits.
    Fails if one failed, or left its state or a cgroup behind."""
    ids = [r.new_id() for _ in range(count)]
    bundles = [bundle_for(base, ["/bin/true"], f"{parent}/{cid}") for cid in ids]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(r.cmd("run", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL) for cid, b in zip(ids, bundles)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    for b in bundles:
        shutil.rmtree(b, ignore_errors=True)
    failed = sum(1 for c in codes if c != 0)
    states = [cid for cid in ids if os.path.exists(os.path.join(r.root, cid))]
    cgroups = cgroups_left(parent, ids)
    if failed or states or cgroups:
        raise RuntimeError(f"{r.name}: {count} runs at once: {failed} failed, states left {states[:3]}, "
                           f"cgroups left {cgroups[:3]}")
    return wall


def exec_storm(r, cid, count):
    """`count` execs of /bin/true at once into `cid`: seconds until the
    last returned, and each one's latency."""
    argv = r.cmd("exec", cid, "/bin/true")
    lat = [0.0] * count
    codes = [0] * count
    go = threading.Event()

    def one(i):
        go.wait()
        t = time.perf_counter()
        codes[i] = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode
        lat[i] = time.perf_counter() - t
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if any(codes):
        raise RuntimeError(f"{r.name}: {sum(1 for c in codes if c)} of {count} execs at once failed")
    return wall, lat


def memory_per_container(runtimes, start_sleepers, delete_all, parent, work, sleep_bundle, count=10):
    """Host memory a running container costs beyond its own processes: the
    runtime's (`run --detach`: what stays once it returned) and, where the
    engines are installed, conmon's (Podman) and containerd's shim's, each
    keeping one process per container. PSS (each process's share of the
    pages it maps) summed over those processes, per container."""
    out = {"count": count, "runtime": {}, "engines": {}}
    ids = start_sleepers(count)
    time.sleep(0.5)
    reap_orphans()
    for r in runtimes:
        dirs = [f"/sys/fs/cgroup/memory{parent}/{cid}" for cid in ids[r.name]]
        inside = procs_in(dirs)
        # What a runtime leaves running is reparented to this process (a
        # subreaper), as the containers' inits are.
        extra = [p for p in children_of(os.getpid()) if p not in inside and not in_any(p, parent)]
        out["runtime"][r.name] = {
            "processes": len(extra) / count,
            "pss_mib": sum(pss_kib(p) for p in extra) / 1024 / count,
            "rss_mib": sum(rss_kib(p) for p in extra) / 1024 / count,
        }
    delete_all(ids)
    rt = runtimes[0]
    if shutil.which("conmon"):
        out["engines"]["conmon (Podman)"] = conmon_cost(rt, parent, work, sleep_bundle, count)
    if shutil.which("containerd") and shutil.which("ctr") and shutil.which("containerd-shim-runc-v2"):
        out["engines"]["containerd-shim-runc-v2"] = shim_cost(rt, parent, work, count)
    print("memory per container: " + json.dumps(out), flush=True)
    return out


def children_of(pid):
    kids = []
    for p in processes():
        try:
            with open(f"/proc/{p}/stat") as f:
                # pid (comm) state ppid ...: comm may hold spaces.
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(p)
        except (OSError, IndexError, ValueError):
            pass
    return kids


def in_any(pid, parent):
    """Whether `pid` is in a container's cgroup (below `parent`)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return any(f"{parent}/" in line for line in f)
    except OSError:
        return False


def conmon_cost(r, parent, work, sleep_bundle, count):
    """`count` containers started through conmon (as Podman starts them),
    with rt as the runtime: conmon's PSS per container."""
    d = tempfile.mkdtemp(prefix="conmon-", dir=work)
    pids, ids = [], []
    try:
        for _ in range(count):
            cid = r.new_id()
            b = bundle_for(os.path.dirname(sleep_bundle) + "/base", ["sleep", "1000"], f"{parent}/{cid}")
            pidfile = os.path.join(d, cid + ".conmon")
            check(["conmon", "--api-version", "1", "-c", cid, "-u", cid, "-n", cid, "-r", r.path,
                   "--runtime-arg", "--root", "--runtime-arg", r.root, "-b", b,
                   "-p", os.path.join(d, cid + ".pid"), "-P", pidfile, "-l", f"k8s-file:{d}/{cid}.log",
                   "--exit-dir", d, "--persist-dir", os.path.join(d, cid), "--socket-dir-path", d,
                   "--log-level", "error"])
            ids.append(cid)
            # conmon returns at once; the container exists once the
            # runtime wrote its pid file.
            for _ in range(200):
                if os.path.exists(os.path.join(d, cid + ".pid")):
                    break
                time.sleep(0.05)
            check(r.cmd("start", cid))
            with open(pidfile) as f:
                pids.append(int(f.read()))
        time.sleep(0.5)
        reap_orphans()
        return {"processes": 1.0, "pss_mib": sum(pss_kib(p) for p in pids) / 1024 / count,
                "rss_mib": sum(rss_kib(p) for p in pids) / 1024 / count}
    finally:
        for cid in ids:
            subprocess.run(r.cmd("delete", "--force", cid), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in pids:
            wait_gone(p)
        reap_orphans()


def shim_cost(r, parent, work, count):
    """`count` containers started through containerd (ctr, a rootfs of our
    own, no image) with rt as the runc binary: the shims' PSS per container."""
    d = tempfile.mkdtemp(prefix="containerd-", dir=work)
    cfg = os.path.join(d, "config.toml")
    with open(cfg, "w") as f:
        f.write(f'''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
[metrics]
  address = ""
''')
    log = open(os.path.join(d, "containerd.log"), "w")
    daemon = subprocess.Popen(["containerd", "--config", cfg], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    ctr = ["ctr", "--address", f"{d}/containerd.sock", "--namespace", "bench"]
    ids = []
    rootfs = os.path.join(work, "base", "rootfs")
    try:
        for _ in range(100):
            if subprocess.run([*ctr, "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        before = processes()
        for _ in range(count):
            cid = r.new_id()
            check([*ctr, "run", "-d", "--null-io", "--rootfs", "--runc-binary", r.path,
                   "--runc-root", os.path.join(d, "rt-root"), "--cgroup", f"{parent}/{cid}",
                   rootfs, cid, "sleep", "1000"])
            ids.append(cid)
        time.sleep(0.5)
        shims = [p for p in processes() - before if comm(p) == "containerd-shim"]
        return {"processes": len(shims) / count, "pss_mib": sum(pss_kib(p) for p in shims) / 1024 / count,
                "rss_mib": sum(rss_kib(p) for p in shims) / 1024 / count}
    finally:
        for cid in ids:
            subprocess.run([*ctr, "task", "kill", "-s", "SIGKILL", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if subprocess.run([*ctr, "task", "delete", cid], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode == 0:
                    break
                time.sleep(0.1)
            subprocess.run([*ctr, "container", "delete", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemon.terminate()
        daemon.wait()
        log.close()


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_gone(pid):
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.05)


def cell(r, unit, stat):
    if stat == "p99":
        return f"{r['median']:.3g} / **{r['p99']:.3g}**{unit} (median / p99)"
    return f"{r['min']:.3g} / **{r['median']:.3g}** / {r['p95']:.3g}{unit}"


def machine_sample():
    """Busy CPU seconds of the whole machine (/proc/stat), the CPU seconds
    of this bench and what it started, wall time, and the load average."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return {"busy": (sum(fields[:8]) - idle) / hz, "own": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
            "wall": time.monotonic(), "load": load}


def machine_quiet(a, b):
    """How much of the machine others used while the bench ran: the share
    of all CPUs busy with processes other than the bench's."""
    wall = b["wall"] - a["wall"]
    cpus = os.cpu_count() or 1
    others = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"]))
    return {"wall_s": round(wall), "cpus": cpus, "others_share": round(others / (wall * cpus), 3),
            "load_start": a["load"], "load_end": b["load"]}


def write_reports(res, out):
    os.makedirs(out, exist_ok=True)
    names = list(res["runtimes"])
    lines = ["# rt benchmarks", "",
             "Medians over interleaved rounds (min / median / p95; p99 where marked).",
             "State roots on a tmpfs, in a mount namespace of the bench's own "
             f"({res['base_mounts']} mounts before the extra ones); see scripts/bench/bench.py.", ""]
    m = res.get("machine")
    if m:
        lines += [f"Machine: {m['cpus']} CPUs shared with other work; over the bench's {m['wall_s']} s, "
                  f"processes other than the bench's kept {100 * m['others_share']:.0f} % of the CPUs busy "
                  f"(load average {m['load_start']} at the start, {m['load_end']} at the end).", ""]
    lines.append("| scenario | " + " | ".join(names) + " | rt/runc | rt/crun |")
    lines.append("|---" * (len(names) + 3) + "|")
    for scen, body in res["scenarios"].items():
        r = body["results"]
        stat = body.get("stat", "median")
        cells = [cell(r[n], body["unit"], stat) if n in r else "-" for n in names]
        ratios = []
        for peer in ("runc", "crun"):
            if peer in r and r[peer][stat] > 0:
                ratios.append(f"{r['rt'][stat] / r[peer][stat]:.2f}")
            else:
                ratios.append("-")
        lines.append(f"| {scen} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    lines.append("")
    lines.append("Binary size: " + ", ".join(f"{n} {v:.1f} MiB" for n, v in res.get("binary_size_mib", {}).items()))
    if res.get("mounts"):
        counts = sorted(res["mounts"], key=int)
        lines += ["", "## Run latency against the mounts of the caller's namespace", "",
                  "![run latency against host mounts](mounts.svg)", "",
                  "Medians, wall (CPU of the runtime and all it started), and the change "
                  "from the first count; the counts are interleaved with the runtimes in "
                  "every round.", "",
                  "| extra mounts | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        zero, zero_cpu = res["mounts"][counts[0]], res["mounts_cpu"][counts[0]]
        for c in counts:
            row, cpu = res["mounts"][c], res["mounts_cpu"][c]
            cells = [f"{row[n]['median']:.3g} ms ({100 * (row[n]['median'] / zero[n]['median'] - 1):+.0f} %); "
                     f"CPU {cpu[n]['median']:.3g} ms ({100 * (cpu[n]['median'] / zero_cpu[n]['median'] - 1):+.0f} %)"
                     for n in names if n in row]
            lines.append(f"| +{c} | " + " | ".join(cells) + " |")
    mem = res.get("memory")
    if mem:
        lines += ["", "## Host memory per running container, beyond its own processes", "",
                  f"{mem['count']} containers running `sleep` each; the processes that stay for them "
                  "on the host besides the container's own, per container: PSS (each process's share "
                  "of the pages it maps) and RSS. rt, runc and crun (`run --detach`) leave none; "
                  "the engines keep a monitor per container (conmon started as Podman starts it, "
                  "containerd's shim through `ctr run`), here with rt as their runtime.", "",
                  "| what stays | processes | PSS | RSS |", "|---|---|---|---|"]
        for n, m in mem["runtime"].items():
            lines.append(f"| {n} (`run --detach`) | {m['processes']:.3g} | {m['pss_mib']:.3g} MiB | {m['rss_mib']:.3g} MiB |")
        for n, m in mem["engines"].items():
            lines.append(f"| {n} | {m['processes']:.3g} | {m['pss_mib']:.3g} MiB | {m['rss_mib']:.3g} MiB |")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(out, "medians.svg"), "w") as f:
        f.write(svg(res, names))
    if res.get("mounts"):
        with open(os.path.join(out, "mounts.svg"), "w") as f:
            f.write(mounts_svg(res, names))
    print("\n".join(lines))


COLORS = {"rt": "#2b8a3e", "runc": "#1c7ed6", "crun": "#e8590c"}


def svg(res, names):
    """Horizontal bars: each scenario's medians, normalised to the slowest."""
    scen = list(res["scenarios"].items())
    row, bar, left, width = 18 * len(names) + 14, 16, 300, 420
    h = row * len(scen) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{h}" font-family="sans-serif" font-size="12">']
    for i, (name, body) in enumerate(scen):
        y = 30 + i * row
        stat = body.get("stat", "median")
        label = f"{name} ({body['unit'].strip()}{', p99' if stat == 'p99' else ''})"
        out.append(f'<text x="4" y="{y + 12}">{label}</text>')
        top = max(body["results"][n][stat] for n in names if n in body["results"]) or 1
        for j, n in enumerate(names):
            if n not in body["results"]:
                continue
            v = body["results"][n][stat]
            w = max(1, width * v / top)
            out.append(f'<rect x="{left}" y="{y + j * 18}" width="{w:.1f}" height="{bar}" fill="{COLORS.get(n, "#888")}"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + j * 18 + 12}">{n} {v:.3g}</text>')
    out.append('<text x="4" y="16" font-weight="bold">median per scenario (shorter is better)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def mounts_svg(res, names):
    """Median `run` latency (y) against the extra mounts (x), a line per runtime."""
    counts = sorted(res["mounts"], key=int)
    xs = [int(c) for c in counts]
    top = max(res["mounts"][c][n]["median"] for c in counts for n in names if n in res["mounts"][c])
    left, right, up, down, width, height = 60, 110, 30, 40, 460, 260
    xmax = max(xs) or 1

    def px(x):
        return left + width * x / xmax

    def py(v):
        return up + height * (1 - v / (top * 1.1))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + right}" height="{up + height + down}" font-family="sans-serif" font-size="12">',
           '<text x="4" y="16" font-weight="bold">run /bin/true: median latency against the mounts of the caller\'s namespace</text>',
           f'<line x1="{left}" y1="{up + height}" x2="{left + width}" y2="{up + height}" stroke="#000"/>',
           f'<line x1="{left}" y1="{up}" x2="{left}" y2="{up + height}" stroke="#000"/>']
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{up + height + 16}" text-anchor="middle">+{x}</text>')
    step = max(1, round(top / 5))
    v = 0
    while v <= top * 1.1:
        out.append(f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v}</text>')
        out.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{left + width}" y2="{py(v):.1f}" stroke="#ddd"/>')
        v += step
    out.append(f'<text x="{left + width / 2}" y="{up + height + 34}" text-anchor="middle">extra tmpfs mounts</text>')
    out.append(f'<text x="14" y="{up + height / 2}" transform="rotate(-90 14 {up + height / 2})" text-anchor="middle">ms</text>')
    for n in names:
        pts = [(px(int(c)), py(res["mounts"][c][n]["median"])) for c in counts if n in res["mounts"][c]]
        color = COLORS.get(n, "#888")
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="' +
                   " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        x, y = pts[-1]
        out.append(f'<text x="{x + 8:.1f}" y="{y + 4:.1f}" fill="{color}">{n}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
