#!/usr/bin/env python3
"""Benchmarks rt against runc and crun, side by side.

Every scenario runs the runtimes interleaved, in a fresh random order each
round (a run of one runtime slows the one right after it on this machine, so
no runtime may always follow another), each run with its own container id.
Reports min / median / p95 and the ratios rt/runc and rt/crun; writes
bench/results.md, bench/results.json and bench/medians.svg.

Usage: bench.py --rt PATH [--rounds N] [--scale N] [--out DIR]
"""

import argparse
import ctypes
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper():
    """Become the containers' reaper, as containerd's shim is."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")


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


def summary(values):
    s = sorted(values)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return {"min": s[0], "median": statistics.median(s), "p95": p95, "n": len(s)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rt", required=True)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--scale", type=int, default=1000, help="largest sequential count")
    ap.add_argument("--out", default="bench")
    ap.add_argument("--seccomp-profile", default="spec-fixtures/seccomp/docker-default.json")
    a = ap.parse_args()
    set_subreaper()
    work = tempfile.mkdtemp(prefix="rt-bench.", dir="/run")
    runtimes = [Runtime("rt", os.path.realpath(a.rt), work)]
    for name in ("runc", "crun"):
        p = shutil.which(name)
        if p:
            runtimes.append(Runtime(name, p, work))
    base = os.path.join(work, "base")
    os.makedirs(os.path.join(base, "rootfs", "bin"))
    shutil.copy("/bin/busybox", os.path.join(base, "rootfs", "bin", "busybox"))
    for applet in ("true", "sh", "sleep", "dd"):
        os.symlink("busybox", os.path.join(base, "rootfs", "bin", applet))
    check([runtimes[0].path, "spec", "--bundle", base])
    parent = f"/rt-bench-{os.getpid()}"
    true_bundle = bundle_for(base, ["/bin/true"], parent)
    sleep_bundle = bundle_for(base, ["sleep", "1000"], parent)
    res = {"runtimes": {r.name: r.path for r in runtimes}, "scenarios": {}}

    def record(name, unit, per_runtime):
        res["scenarios"][name] = {"unit": unit, "results": {k: summary(v) for k, v in per_runtime.items()}}
        print(f"{name}: " + ", ".join(f"{k} {summary(v)['median']:.4g}{unit}" for k, v in per_runtime.items()), flush=True)

    # 1. run /bin/true.
    def run_true(r):
        cid = r.new_id()
        set_cgroup(true_bundle, f"{parent}/{cid}")
        return timed(r.cmd("run", "--bundle", true_bundle, cid))
    raw = interleaved(runtimes, a.rounds, run_true)
    record("run /bin/true wall", " ms", {k: [x[0] * 1e3 for x in v] for k, v in raw.items()})
    record("run /bin/true cpu", " ms", {k: [x[1] * 1e3 for x in v] for k, v in raw.items()})

    # 1b. 50 masked directories: runc >= 1.5 and rt mask them with one
    # shared tmpfs (issue 18), runc 1.1 and crun with one tmpfs each.
    masked = [f"/masked/d{i}" for i in range(50)]
    for m in masked:
        os.makedirs(os.path.join(base, "rootfs") + m)
    masked_bundle = bundle_for(base, ["/bin/true"], parent, masked=masked)
    def run_masked(r):
        cid = r.new_id()
        set_cgroup(masked_bundle, f"{parent}/{cid}")
        return timed(r.cmd("run", "--bundle", masked_bundle, cid))[0] * 1e3
    record("run with 50 masked dirs wall", " ms", interleaved(runtimes, a.rounds, run_masked))

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
    raw = interleaved(runtimes, a.rounds, lifecycle)
    record("create+start+wait+delete", " ms", {k: [x * 1e3 for x in v] for k, v in raw.items()})

    def create_rss(r):
        cid = r.new_id()
        set_cgroup(true_bundle, f"{parent}/{cid}")
        rss = peak_rss_mib(r.cmd("create", "--bundle", true_bundle, cid))
        check(r.cmd("delete", "--force", cid))
        return rss
    record("create peak RSS", " MiB", interleaved(runtimes, max(5, a.rounds // 4), create_rss))

    # 3. exec into a running container.
    running = {}
    for r in runtimes:
        cid = r.new_id()
        set_cgroup(sleep_bundle, f"{parent}/{cid}")
        check(r.cmd("run", "--detach", "--bundle", sleep_bundle, cid))
        running[r.name] = cid
    raw = interleaved(runtimes, a.rounds, lambda r: timed(r.cmd("exec", running[r.name], "/bin/true"))[0] * 1e3)
    record("exec /bin/true", " ms", raw)
    for r in runtimes:
        check(r.cmd("delete", "--force", running[r.name]))

    # 4. binary size.
    res["binary_size_mib"] = {r.name: os.path.getsize(r.path) / 2**20 for r in runtimes}

    # 5. seccomp cost per syscall.
    if os.path.exists(a.seccomp_profile):
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
    for count in sorted({min(100, a.scale), a.scale}):
        per = {}
        for r in random.sample(runtimes, len(runtimes)):
            t0 = time.perf_counter()
            for _ in range(count):
                lifecycle(r)
            per[r.name] = [(time.perf_counter() - t0) * 1e3 / count]
        record(f"sequential x{count} per container", " ms", per)
    per = {}
    for r in random.sample(runtimes, len(runtimes)):
        t0 = time.perf_counter()
        procs = []
        ids = [r.new_id() for _ in range(100)]
        for cid in ids:
            b = bundle_for(base, ["/bin/true"], f"{parent}/{cid}")
            procs.append((cid, b, subprocess.Popen(r.cmd("run", "--bundle", b, cid), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)))
        for cid, b, p in procs:
            p.wait()
            shutil.rmtree(b, ignore_errors=True)
        per[r.name] = [(time.perf_counter() - t0) * 1e3 / 100]
    record("parallel x100 per container", " ms", per)

    write_reports(res, a.out)
    for d in os.listdir(f"/sys/fs/cgroup"):
        p = f"/sys/fs/cgroup/{d}{parent}"
        if os.path.isdir(p):
            try:
                os.rmdir(p)
            except OSError:
                pass
    shutil.rmtree(work, ignore_errors=True)


def write_reports(res, out):
    os.makedirs(out, exist_ok=True)
    names = list(res["runtimes"])
    lines = ["# rt benchmarks", "", "Medians over interleaved rounds (min / median / p95).", ""]
    lines.append("| scenario | " + " | ".join(names) + " | rt/runc | rt/crun |")
    lines.append("|---" * (len(names) + 3) + "|")
    for scen, body in res["scenarios"].items():
        r = body["results"]
        cells = [f"{r[n]['min']:.3g} / **{r[n]['median']:.3g}** / {r[n]['p95']:.3g}{body['unit']}" for n in names]
        ratios = []
        for peer in ("runc", "crun"):
            if peer in r and r[peer]["median"] > 0:
                ratios.append(f"{r['rt']['median'] / r[peer]['median']:.2f}")
            else:
                ratios.append("-")
        lines.append(f"| {scen} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    lines.append("")
    lines.append("Binary size: " + ", ".join(f"{n} {v:.1f} MiB" for n, v in res["binary_size_mib"].items()))
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(out, "medians.svg"), "w") as f:
        f.write(svg(res, names))
    print("\n".join(lines))


def svg(res, names):
    """Horizontal bars: each scenario's medians, normalised to the slowest."""
    colors = {"rt": "#2b8a3e", "runc": "#1c7ed6", "crun": "#e8590c"}
    scen = list(res["scenarios"].items())
    row, bar, left, width = 18 * len(names) + 14, 16, 300, 420
    h = row * len(scen) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{h}" font-family="sans-serif" font-size="12">']
    for i, (name, body) in enumerate(scen):
        y = 30 + i * row
        out.append(f'<text x="4" y="{y + 12}">{name} ({body["unit"].strip()})</text>')
        top = max(body["results"][n]["median"] for n in names if n in body["results"]) or 1
        for j, n in enumerate(names):
            if n not in body["results"]:
                continue
            v = body["results"][n]["median"]
            w = max(1, width * v / top)
            out.append(f'<rect x="{left}" y="{y + j * 18}" width="{w:.1f}" height="{bar}" fill="{colors.get(n, "#888")}"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + j * 18 + 12}">{n} {v:.3g}</text>')
    out.append('<text x="4" y="16" font-weight="bold">median per scenario (shorter is better)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
