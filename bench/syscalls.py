#!/usr/bin/env python3
"""System calls per request, for the event-driven configurations and both floors.

A separate short run from the timed ones, because counting slows the server:
each configuration is started under `strace -f -c` (every system call of the
server and its workers counted by the kernel's ptrace stops), driven by wrk with
keep-alive for a fixed time, stopped with SIGTERM, and the count divided by the
requests its --stats-file says it served. Start-up and stop are in the count;
against tens of thousands of requests they are noise.

Under strace the server is several times slower, so at 256 connections more of
them are ready at each wait than in a timed run: the per-request count of the
waits (epoll_wait, io_uring_enter) is, if anything, lower here. The calls made
per request by the handler itself (recv, send, read, write) do not depend on it.

usage: syscalls.py [--bin-dir DIR] [--tools DIR] [--conns N[,N]] [--seconds S]
                   [--only LABEL[,LABEL]] [--json PATH]
Prints a table (markdown) and, with --json, writes the rows. `make bench
ONLY=syscalls` runs it as an experiment into syscalls.csv (bench_experiment).
A configuration that does not start (io_uring refused: exit 2) is a row
marked "not run" with its one-line reason.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (label, binary, options): the event-driven configurations and the two floors.
CONFIGS = [                         # labelled as in bench/configs.py, for the scoreboard
    ("floor (reference)", "floor", ["--body", "4000"]),
    ("floor --io uring (reference)", "floor", ["--body", "4000", "--io", "uring"]),
    ("multiplex --workers 1", "multiplex", ["--workers", "1"]),
    ("multiplex --backend epoll", "multiplex", ["--workers", "1", "--backend", "epoll"]),
    ("coroutine --workers 1", "coroutine", ["--workers", "1"]),
    ("coroutine --backend poll", "coroutine", ["--workers", "1", "--backend", "poll"]),
    ("coroutine --io uring", "coroutine", ["--workers", "1", "--io", "uring"]),
]

STARTUP = re.compile(r"listening on http://([0-9.]+):(\d+)/")
# strace -c's table: "% time  seconds  usecs/call  calls  errors syscall"
STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d*)\s*(\w+)\s*$")


def parse_strace(text):
    """{syscall: calls} from strace -c's summary (the total row left out)."""
    counts = {}
    for line in text.splitlines():
        match = STRACE_ROW.match(line)
        if match and match.group(3) != "total":
            counts[match.group(3)] = counts.get(match.group(3), 0) + int(match.group(1))
    return counts


def measure(binary_path, options, conns, seconds, site):
    """One run: (requests, {syscall: calls}), or (0, {}) and a reason."""
    work = tempfile.mkdtemp(prefix="syscalls-")
    stats, summary = os.path.join(work, "stats.json"), os.path.join(work, "strace.txt")
    argv = ["strace", "-f", "-c", "-o", summary, binary_path, "--port", "0", "--quiet",
            "--root", site, "--stats-file", stats] + options
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        line = process.stdout.readline().decode(errors="replace")
        match = STARTUP.search(line)
        if not match:
            process.kill()
            return 0, {}, f"no start-up line: {process.stderr.read().decode()[-200:].strip()}"
        server_pid = int(re.search(r"pid=(\d+)", line).group(1))
        subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
                        f"http://127.0.0.1:{match.group(2)}/f4000"],
                       capture_output=True, timeout=seconds + 30)
        os.kill(server_pid, signal.SIGTERM)
        process.wait(timeout=30)
        with open(stats) as f:
            requests = json.load(f)["totals"]["requests"]
        with open(summary) as f:
            counts = parse_strace(f.read())
        return requests, counts, ""
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        return 0, {}, f"{type(error).__name__}: {error}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def run_all(bin_dir, tools, conns, seconds, only=""):
    """Every configuration at every client count: a list of rows (dicts)."""
    site = tempfile.mkdtemp(prefix="syscalls-site-")
    with open(os.path.join(site, "f4000"), "wb") as f:
        f.write(b"x" * 4000)
    rows = []
    for label, binary, options in CONFIGS:
        if only and label not in only.split(","):
            continue
        path = os.path.join(tools if binary == "floor" else bin_dir, binary)
        for clients in conns:
            if not os.access(path, os.X_OK):
                requests, counts, reason = 0, {}, f"no {path}"
            else:
                requests, counts, reason = measure(path, options, clients, seconds, site)
            if requests == 0:
                rows.append({"config": label, "clients": clients,
                             "not_run": "not run: " + (reason or "no requests served")})
                continue
            total = sum(counts.values())
            top = sorted(counts.items(), key=lambda item: -item[1])[:4]
            rows.append({"config": label, "clients": clients, "requests": requests,
                         "per_request": round(total / requests, 3),
                         "top": ", ".join(f"{name} {calls / requests:.2f}" for name, calls in top)})
            time.sleep(0.2)
    shutil.rmtree(site, ignore_errors=True)
    return rows


FIELDS = ["experiment", "config", "clients", "requests", "per_request", "top", "not_run"]


def bench_experiment(bench, csvs, experiment_class):
    """bench.py's "syscalls" experiment: the table above into syscalls.csv."""
    e = experiment_class(bench, "syscalls", FIELDS)
    if shutil.which("strace") is None:
        bench.notes.append("syscalls: strace is not installed, so the experiment was skipped.")
        return e
    out = csvs("syscalls", FIELDS)

    def fn():
        rows = run_all(bench.bin_dir, bench.tools, bench.s["syscall_conns"],
                       bench.s["syscall_seconds"])
        for row in rows:
            out.row(dict(row, experiment="syscalls"))
        ran = [row for row in rows if "per_request" in row]
        return {"flag": "" if ran else "no configuration ran", "req_per_s": None}
    e.add("system calls per request", fn)
    return e


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--tools", default=os.path.join(HERE, "build"))
    parser.add_argument("--conns", default="1,256")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if shutil.which("strace") is None or shutil.which("wrk") is None:
        print("syscalls: needs strace and wrk (scripts/deps.sh bench)", file=sys.stderr)
        return 2
    rows = run_all(args.bin_dir, args.tools, [int(c) for c in args.conns.split(",")],
                   args.seconds, args.only)
    print("| configuration | clients | requests | system calls per request | the most frequent, per request |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        if "not_run" in row:
            print(f"| {row['config']} | {row['clients']} | — | — | {row['not_run']} |")
        else:
            print(f"| {row['config']} | {row['clients']} | {row['requests']} | "
                  f"{row['per_request']:.2f} | {row['top']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
