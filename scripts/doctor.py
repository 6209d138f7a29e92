#!/usr/bin/env python3
"""make doctor — what this machine has, and what will run here as written.

usage: doctor.py [--build DIR] [--bin-dir DIR]

Asks the kernel (never the version number: a seccomp filter, a sysctl or
valgrind can take away what the version has) for each feature the servers,
the labs and the bench use (docs/design.md#kernel-features): it builds and runs
scripts/doctor_probe.c, which tries each one the way the code uses it. Then
the machine: cores and pinning, the descriptor limit, cgroup v2, seccomp, the
Debian packages scripts/deps.sh installs. Prints a table, then which labs,
exercises and bench experiments run as written and which skip a step, and why.

Exit status 1 only when `make test` cannot pass here (the probe or the
packages it needs cannot be had); a missing feature with a fallback, or one
only make check, the bench or a lab step needs, is reported and exits 0.
"""
import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FD_SPARE = 50            # descriptors beyond the connections: listening socket, files, stdio
LAB_HOLD = {"lab 06 step 3": 300, "lab 07 step 4": 1100, "lab 08 steps 3-4": 1000,
            "lab 09 steps 4-5": 10000}
BENCH_CONNECTIONS = {"make bench": 10000, "make bench FULL=1": 100000}

# The kernel features, in the order of docs/design.md#kernel-features: probe
# name, what it is, the kernel that brought it, and what happens without it.
FEATURES = [
    ("openat2", "openat2 + RESOLVE_BENEATH", "5.6",
     "files served by the walk (one line on stderr at start-up)"),
    ("io_uring", "io_uring", "5.1 (5.11: EXT_ARG)",
     "coroutine --io uring: one line, exit 2; make bench leaves its --io uring rows out"),
    ("io_uring_ext_arg", "io_uring IORING_FEAT_EXT_ARG", "5.11",
     "coroutine --io uring: one line, exit 2"),
    ("io_uring_single_issuer_defer_taskrun", "io_uring SINGLE_ISSUER + DEFER_TASKRUN", "6.1",
     "coroutine --io uring sets its ring up without them"),
    ("io_uring_provided_buffers", "io_uring provided buffer ring", "5.19",
     "coroutine --io uring: idle waits are polls"),
    ("io_uring_multishot_accept", "io_uring multishot accept", "5.19",
     "floor --io uring (bench): no fallback; coroutine takes one accept at a time anyway"),
    ("io_uring_recvsend_poll_first", "io_uring RECVSEND_POLL_FIRST", "5.19",
     "coroutine --io uring: the first read is tried at once"),
    ("epollexclusive", "EPOLLEXCLUSIVE", "4.5",
     "prefork_select --wait epoll-exclusive: `epoll: Invalid argument`, exit 1 (labs 04, 05)"),
    ("so_reuseport", "SO_REUSEPORT balancing", "3.9 (4.6: balanced)",
     "--reuseport: `cannot listen`, exit 1 (labs 04, 05)"),
    ("madv_dontneed", "MADV_DONTNEED on idle stacks", "2.6",
     "coroutine keeps idle stacks' pages (memory figures only)"),
    ("perf_counters", "hardware performance counters", "2.6.31 + hardware",
     "nothing here needs them: only your own `perf stat`"),
]


def build_probe(build):
    """Build scripts/doctor_probe.c into BUILD: (path, '') or (None, why not)."""
    os.makedirs(build, exist_ok=True)
    binary = os.path.join(build, "doctor_probe")
    source = os.path.join(ROOT, "scripts", "doctor_probe.c")
    if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(source):
        return binary, ""
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        return None, f"no C compiler ({compiler})"
    done = subprocess.run([compiler, "-std=c17", "-O1", "-D_GNU_SOURCE", "-o", binary, source,
                           "-luring"], capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return None, f"{compiler} {os.path.relpath(source, ROOT)}: " + (lines[-1] if lines else "")
    return binary, ""


def probe_kernel(binary):
    """{feature: (yes, detail)} from doctor_probe."""
    done = subprocess.run([binary], capture_output=True, text=True, timeout=20)
    found = {}
    for line in done.stdout.splitlines():
        name, answer, detail = (line.split("\t") + ["", ""])[:3]
        found[name] = (answer == "yes", detail)
    return found


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def deps_packages():
    """{set: [package]} as scripts/deps.sh's packages_for lists them."""
    text = read(os.path.join(ROOT, "scripts", "deps.sh")) or ""
    return {name: words.split() for name, words in
            re.findall(r'^\s*(\w+)\)\s+echo "([^"]*)"', text, re.M)}


def missing_packages(packages):
    """The packages dpkg does not list as installed; None off Debian."""
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n"] + packages,
                          capture_output=True, text=True)
    installed = {line.split()[0] for line in done.stdout.splitlines()
                 if line.endswith(" installed")}
    return [package for package in packages if package not in installed]


def can_install():
    return shutil.which("apt-get") is not None and (os.geteuid() == 0 or shutil.which("sudo"))


def machine():
    """Facts about the machine, each (name, value, note)."""
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    pinned = len(cpus) >= 2 and taskset is not None and subprocess.run(
        [taskset, "-c", str(cpus[-1]), "true"], capture_output=True).returncode == 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 30
    found = re.search(r"^Seccomp:\s*(\d)", read("/proc/self/status") or "", re.M)
    seccomp = {"0": "none", "1": "strict", "2": "a filter"}.get(found.group(1) if found else "",
                                                                 "unknown")
    disabled = read("/proc/sys/kernel/io_uring_disabled")
    cgroup2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    schedstat = os.path.exists(f"/proc/{os.getpid()}/schedstat")
    return {
        "cpus": cpus, "pinned": pinned, "taskset": taskset, "soft": soft, "limit": limit,
        "seccomp": seccomp, "io_uring_disabled": disabled, "cgroup2": cgroup2,
        "schedstat": schedstat,
        "paranoid": read("/proc/sys/kernel/perf_event_paranoid"),
    }


def server_says(binary, options):
    """The line a built server prints when it refuses options here (exit 2),
    so the doctor gives the reason the server, the bench and the labs give;
    None when it is not built or it starts (then it is stopped at once)."""
    if not os.access(binary, os.X_OK):
        return None
    process = subprocess.Popen([binary, "--port", "0", "--root", ROOT, "--quiet"] + options,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=3)
    except subprocess.TimeoutExpired:         # it started: not refused
        process.terminate()
        process.communicate()
        return None
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[-1] if process.returncode == 2 and lines else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"),
                        help="where the probe is built")
    parser.add_argument("--bin-dir", help="the servers, asked for their own reason line "
                        "where a feature is missing (default: BUILD/bin)")
    args = parser.parse_args()
    args.bin_dir = args.bin_dir or os.path.join(args.build, "bin")

    binary, why_not = build_probe(args.build)
    features = probe_kernel(binary) if binary else {}
    has = {name: features.get(name, (False, ""))[0] for name, *_ in FEATURES}
    m = machine()
    packages = deps_packages()
    missing = {name: missing_packages(words) for name, words in packages.items()}

    print("make doctor: what this machine has (docs/design.md#kernel-features)")
    print(f"  kernel       {platform.release()} ({platform.machine()})")
    print(f"  cores        {len(m['cpus'])} usable ({','.join(map(str, m['cpus']))}); "
          + ("server and client can be pinned apart (taskset)" if m["pinned"] else
             "server and client cannot be pinned apart: "
             + ("one core" if len(m["cpus"]) < 2 else "no taskset (util-linux)")))
    print(f"  descriptors  soft {m['soft']}, hard {m['limit']} (the servers and the bench raise "
          "the soft limit to the hard one)")
    print(f"  cgroup v2    {'yes' if m['cgroup2'] else 'no'} (nothing here needs it: CPU time "
          "is read with getrusage and /proc)")
    print(f"  schedstat    {'yes' if m['schedstat'] else 'no: the bench falls back to 10 ms ticks'}"
          " (the bench's CPU per request, /proc/PID/task/TID/schedstat)")
    print(f"  seccomp      {m['seccomp']}")
    print(f"  sysctl       kernel.io_uring_disabled = "
          f"{m['io_uring_disabled'] if m['io_uring_disabled'] is not None else 'absent (before 6.6)'}")
    for name, words in packages.items():
        gone = missing[name]
        state = ("unknown: no dpkg-query (not Debian)" if gone is None else
                 "all installed" if not gone else f"missing {' '.join(gone)} "
                 f"({'make ' + name + ' installs them' if can_install() else 'cannot install: not root, no sudo'})")
        print(f"  packages {name:5} {state}")
    print()
    if binary is None:
        print(f"kernel features: not probed: {why_not}")
    else:
        print(f"  {'feature':40} {'here':4}  {'since':20} without it")
        for name, title, since, without in FEATURES:
            if name not in features:      # io_uring's own features, without io_uring
                print(f"  {title:40} {'n/a':4}  {since:20} (not probed: no io_uring)")
                continue
            yes, detail = features[name]
            print(f"  {title:40} {'yes' if yes else 'no':4}  {since:20} "
                  + ("" if yes else without + (f" [{detail}]" if detail else "")))
    print()

    # What runs as written, what skips a step, and why.
    runs, skips = [], []

    def verdict(what, reasons):
        (skips if reasons else runs).append((what, reasons))

    uring = has["io_uring"] and has["io_uring_ext_arg"]
    uring_why = "" if uring else server_says(os.path.join(args.bin_dir, "coroutine"),
                                             ["--io", "uring"]) or (
        "no io_uring: " + (features.get("io_uring", (0, ""))[1] or "no IORING_FEAT_EXT_ARG"))
    if m["io_uring_disabled"] not in (None, "0"):
        uring_why += f" (kernel.io_uring_disabled = {m['io_uring_disabled']})"
    elif m["seccomp"] == "a filter":
        uring_why += " (a seccomp filter is on: a container's default profile refuses io_uring)"
    test_missing = missing.get("test") or []
    test_ok = binary is not None and (not test_missing or can_install())
    verdict("make test", [] if test_ok else
            [why_not or f"missing {' '.join(test_missing)}, and they cannot be installed here"])
    check_reasons = []
    if not uring:
        check_reasons.append(f"the `coroutine --io uring` lines of tests/servers.list and "
                             f"tests/eventloop's uring cases fail: {uring_why}")
    verdict("make check", check_reasons)
    verdict("make exercises, make grade", [])

    def descriptors(need, what):
        return [] if m["limit"] >= need + FD_SPARE else [
            f"{what} needs {need + FD_SPARE} descriptors, the hard limit is {m['limit']}"]
    pin = [] if m["pinned"] else ["server and client share the cores (not pinned apart): "
                                  "figures are noisier"]
    verdict("labs 01-03 (lab.sh pins servers and clients apart)", pin)
    kernel_lab = []
    if not has["epollexclusive"]:
        kernel_lab.append("no EPOLLEXCLUSIVE: the --wait epoll-exclusive steps")
    if not has["so_reuseport"]:
        kernel_lab.append("no SO_REUSEPORT balancing: the --reuseport steps")
    verdict("labs 04-05", kernel_lab + pin)
    for lab, need in LAB_HOLD.items():
        verdict(f"{lab} (holds {need} connections)", descriptors(need, lab))
    lab8 = [] if uring else [f"step 6 (--io uring): {uring_why}"]
    if missing.get("bench") and "strace" in missing["bench"]:
        lab8.append("step 6's system call counts: no strace (make bench installs it)")
    verdict("lab 08 step 6 (readiness and completion)", lab8)
    wrk = shutil.which("wrk") is not None
    verdict("lab 09 step 3 (wrk beside the open-loop client)",
            [] if wrk else ["no wrk (make bench installs it): the lab skips the closed-loop half"])

    bench_missing = missing.get("bench") or []
    bench = [f"missing {' '.join(bench_missing)}: make bench installs them"] if bench_missing else []
    verdict("make bench (experiments)", bench + pin)
    for what, need in BENCH_CONNECTIONS.items():
        verdict(f"{what}: connections up to {need}",
                [f"the largest points say 'not run': {why}" for why in
                 descriptors(need, f"{need} connections")])
    verdict("make bench: the --io uring rows (coroutine, floor)",
            [] if uring else [f"left out, with the server's reason: {uring_why}"])
    verdict("make bench: memory (idle coroutine stacks given back)",
            [] if has["madv_dontneed"] else ["no MADV_DONTNEED: idle stacks keep their pages"])

    print("runs as written here:")
    for what, _ in runs:
        print(f"  {what}")
    print("skips a step, or fails, here:")
    for what, reasons in skips:
        print(f"  {what}: {'; '.join(reasons)}")
    if not skips:
        print("  nothing")
    print()
    if test_ok:
        print("make doctor: make test can pass here")
        return 0
    print("make doctor: make test cannot pass here: " + "; ".join(dict(skips)["make test"]))
    return 1


if __name__ == "__main__":
    sys.exit(main())
