#!/usr/bin/env python3
"""grade.py [--bin-dir DIR] [--tsan-bin-dir DIR] [--only ID[,ID]] — grade the
exercises of scripts/exercises.py: run each one's checks against the servers
in DIR (default: build/bin of the tree this script is in, the repository or a
student tree written by `make exercises`; the TSan check uses
build-san-thread/bin). The checks always come from this tree's tests/, so a
submission graded with --bin-dir SUBMISSION/build/bin is graded by the
instructor's suites, not its own.

Each exercise has a few checks, each worth its points, all or nothing: the
black-box cases against the exercise's configuration (tests/blackbox/run.py),
and the model's own checks from tests/process and tests/eventloop (--only).
A check whose suite reports on several configurations counts only the lines
naming the exercise's (at least one must be there, and pass). The first
failure decides a check; every check runs in its own process group with a
time limit, and is stopped with whatever it started as soon as its verdict is
known: a stub that hangs costs the limit, not the suite's own timeouts.

Prints one line per check (the first failure, if any, and under it a line
"  cause: " saying what that failure usually means: the suite's own when it
prints one, else the check's from the table in exercises.py) and a points table
with the total; the last line is "grade: N/M points". Exit status 0 at full
marks, 1 otherwise, 2 on bad arguments. See docs/labs/exercises.md.
"""
import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from exercises import EXERCISES  # noqa: E402

SLEEPS = re.compile(r"([0-9.]+) sleeps/connection")
CAUSE = "  cause: "                 # a suite's line under a failure: what it usually means


def verdict(check, lines, returncode):
    """(passed, why not) from a check's output so far; None while undecided
    (returncode None: the suite still runs). All or nothing: the first failure
    that concerns the check decides."""
    mine = [line for line in lines if check["lines"] is None or check["lines"] in line]
    failed = [line for line in mine if line.startswith("FAIL")]
    if failed:
        return False, failed[0]
    if check["sleeps"] is not None:
        measured = [float(m.group(1)) for line in mine for m in [SLEEPS.search(line)] if m]
        if measured:
            low, high = check["sleeps"]
            return (low <= measured[0] <= high,
                    f"{measured[0]:.2f} sleeps/connection, not within [{low}, {high}]")
    results = [line for line in lines if line.startswith(("ok ", "FAIL "))]
    if (returncode is None and check["lines"] is not None and check["sleeps"] is None and mine
            and check["lines"] not in results[-1]):
        return True, ""             # its lines all passed, and the suite has moved on
    if returncode is None:
        return None
    if check["lines"] is None and check["sleeps"] is None:
        return returncode == 0, (lines[-1:] or [f"exit status {returncode}"])[0]
    if check["sleeps"] is not None:
        return False, f"no measurement for {check['lines']}: " + (lines[-1:] or [""])[0]
    ok = [line for line in mine if line.startswith("ok ")]
    return bool(ok), f"no result line for {check['lines']}: " + (lines[-1:] or [""])[0]


def descendants(pid):
    """Every process below pid, from /proc: the suites start their servers in
    sessions of their own, so the suite's process group does not hold them."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(
                        int(entry))
            except (OSError, IndexError, ValueError):
                pass                # gone meanwhile
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def stop_tree(pid):
    """SIGKILL the process group led by pid and the groups of everything below it
    (a server and its workers), never our own: the suite is stopped first, so
    that it starts nothing new while its tree is read."""
    try:
        os.killpg(pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    groups = {pid}
    for child in descendants(pid):
        try:
            groups.add(os.getpgid(child))
        except ProcessLookupError:
            pass
    groups.discard(os.getpgrp())
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


def suite_cause(lines, failing):
    """The "  cause: " line a suite printed under the failing line, if any."""
    for at, line in enumerate(lines):
        if line == failing and at + 1 < len(lines) and lines[at + 1].startswith(CAUSE):
            return lines[at + 1][len(CAUSE):]
    return None


def run_check(check, bin_dir):
    """(passed, why not, cause) for one check: its suite runs in a process group
    of its own, stopped with everything in it once the verdict is known or the
    check's time limit is over. The cause is the suite's own (the line under its
    failure) when it printed one, else the check's from the table."""
    argv = [sys.executable, os.path.join(ROOT, check["argv"][0]), "--bin-dir", bin_dir]
    process = subprocess.Popen(argv + check["argv"][1:], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    lines = queue.Queue()

    def reader():
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)
    threading.Thread(target=reader, daemon=True).start()
    seen, deadline, result = [], time.monotonic() + check["limit"], None
    try:
        while result is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                cause = check["cause"]
                return (False, f"no verdict within {check['limit']} s",
                        cause if isinstance(cause, str) else cause["high"])
            if line is None:
                result = verdict(check, seen, process.wait())
            else:
                seen.append(line)
                result = verdict(check, seen, None)
        passed, why = result
        if not passed and seen and seen[-1] == why:
            try:                    # the suite's cause comes on the next line
                line = lines.get(timeout=1.0)
                if line is not None:
                    seen.append(line)
            except queue.Empty:
                pass
        cause = check["cause"]
        if isinstance(cause, dict):     # a measurement: too few sleeps, or too many
            measured = SLEEPS.match(why)
            cause = cause["low" if measured and float(measured.group(1)) < check["sleeps"][0]
                          else "high"]
        return passed, why, (suite_cause(seen, why) or cause) if not passed else ""
    finally:
        if process.poll() is None:
            stop_tree(process.pid)  # the suite and whatever it started
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--tsan-bin-dir", default=os.path.join(ROOT, "build-san-thread", "bin"))
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(EXERCISES))
    args = parser.parse_args()
    wanted = [e for e in args.only.split(",") if e] or list(EXERCISES)
    unknown = [e for e in wanted if e not in EXERCISES]
    if unknown:
        parser.error(f"no such exercise: {', '.join(unknown)} (there are {', '.join(EXERCISES)})")
    bin_dirs = {"build/bin": os.path.abspath(args.bin_dir),
                "build-san-thread/bin": os.path.abspath(args.tsan_bin_dir)}

    rows = []                       # (exercise, check, points, out of)
    for exercise_id in wanted:
        for check in EXERCISES[exercise_id]["checks"]:
            started = time.monotonic()
            passed, why, cause = run_check(check, bin_dirs[check["bin_dir"]])
            took = time.monotonic() - started
            verdict = "ok  " if passed else "FAIL"
            print(f"{verdict} {exercise_id}: {check['name']} ({took:.1f} s)"
                  + ("" if passed else f": {why[:200]}"), flush=True)
            if not passed:
                print(f"{CAUSE}{cause}", flush=True)
            rows.append((exercise_id, check["name"], check["points"] if passed else 0,
                         check["points"]))

    print()
    print(f"{'Exercise':14}{'Check':64}{'Points':>8}")
    for exercise_id, name, points, out_of in rows:
        print(f"{exercise_id:14}{name:64}{points:>4}/{out_of:<3}")
    print()
    print(f"{'Exercise':14}{'Points':>8}")
    for exercise_id in wanted:
        mine = [r for r in rows if r[0] == exercise_id]
        print(f"{exercise_id:14}{sum(r[2] for r in mine):>4}/{sum(r[3] for r in mine):<3}")
    total, out_of = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'Total':14}{total:>4}/{out_of:<3}")
    print(f"grade: {total}/{out_of} points", flush=True)
    return 0 if total == out_of else 1


if __name__ == "__main__":
    sys.exit(main())
