#!/usr/bin/env python3
"""record.py [--runs N] [--no-bench | --bench-only EXP[,EXP]] [LAB.md ...] — record the reference data the
docs quote: one default `make bench` run, then the labs' command blocks N times
(default 5), so the figures of the chapters, labs and instructor notes can cite
them (scripts/check_claims.py checks each against these files).

The bench: runs `make bench` (the default set, about five minutes) and copies
its CSVs and metadata.json from bench/results/latest/ into this directory,
replacing the CSVs of the last recording. --no-bench: the labs only.
--bench-only EXP[,EXP]: `make bench ONLY=EXP` and only those experiments'
CSVs replaced (metadata.json stays the whole run's), then no lab unless some
are named.

A partial recording (--bench-only, or the labs named) adds its lines to
PROVENANCE under the whole recording's; a whole one starts it anew.

The labs: writes docs/labs/reference/labs/NAME.txt for each lab (every lab,
or the LAB.md files named): a header naming the machine (as metadata.json
does), then every block's output, run after run. Uses scripts/check_docs.py to
find and run the blocks, with the same rules (bash -e, repository root, time
limit, process group killed afterwards).

Last, PROVENANCE: one line naming the date, the machine and the commit it all
ran on (with "uncommitted changes" if the tree had any), and one with the load
averages (/proc/loadavg) at the start, after the bench and at the end: a
figure recorded on a busy machine says so. Run it on a quiet machine, from a
clean tree.
"""
import datetime
import glob
import os
import platform
import shutil
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import check_docs  # noqa: E402


def machine():
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f
                      if line.startswith("model name")), "unknown")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return (f"# date {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}"
            f"; host {socket.gethostname()}; kernel {platform.release()}; cpu {model}; "
            f"cores {os.cpu_count()}; git {commit}\n")


def load():
    """The load averages over 1, 5 and 15 minutes, as /proc/loadavg gives them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def commit():
    """The commit HEAD names, and whether the tree differs from it."""
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head, bool(dirty)


def record_bench(only=None):
    """One default make bench (or ONLY=only); its CSVs and metadata.json copied
    here (with only: just the CSVs that run wrote)."""
    subprocess.run(["make", "--no-print-directory", "bench"] + ([f"ONLY={only}"] if only else []),
                   cwd=ROOT, check=True)
    latest = os.path.join(ROOT, "bench", "results", "latest")
    copied = sorted(glob.glob(os.path.join(latest, "*.csv")))
    if only:
        copied = [p for p in copied if os.path.basename(p) != "compare.csv"]
    else:
        for old in glob.glob(os.path.join(HERE, "*.csv")):
            os.remove(old)
        copied.append(os.path.join(latest, "metadata.json"))
    for path in copied:
        shutil.copy(path, HERE)
        print(f"record: {os.path.relpath(os.path.join(HERE, os.path.basename(path)), ROOT)}")


def main():
    args = sys.argv[1:]
    runs = 5
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    only = None
    if "--bench-only" in args:
        i = args.index("--bench-only")
        only = args[i + 1]
        del args[i:i + 2]
    bench = "--no-bench" not in args
    args = [a for a in args if a != "--no-bench"]
    partial = bool(only or args)
    head, dirty = commit()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes")
    loads = [("start", load())]
    if bench:
        record_bench(only)
        loads.append(("after the bench", load()))
    every_lab = sorted(glob.glob(os.path.join(ROOT, "docs", "labs", "[0-9]*.md")))
    labs = args or ([] if only else every_lab)
    out_dir = os.path.join(HERE, "labs")
    os.makedirs(out_dir, exist_ok=True)
    for lab in labs:
        name = os.path.splitext(os.path.basename(lab))[0]
        path = os.path.join(out_dir, name + ".txt")
        with open(path, "w") as out:
            out.write(machine())
            for run in range(1, runs + 1):
                for line, slow, text in check_docs.blocks(lab):
                    status, output = check_docs.run(text, 600 if slow else 60)
                    out.write(f"\n## run {run}, block at line {line}: exit {status}\n")
                    out.write(output)
                    out.flush()
        print(f"record: {os.path.relpath(path, ROOT)}")
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f
                      if line.startswith("model name")), "unknown")
    parts = []
    if bench:
        parts.append(f"make bench ONLY={only}" if only else "make bench (default set)")
    if labs:
        parts.append(("the labs' blocks" if not args else
                      ", ".join(os.path.basename(a) for a in labs)) +
                     f", {runs} run{'s' if runs != 1 else ''} each")
    what = " and ".join(parts)
    with open(os.path.join(HERE, "PROVENANCE"), "a" if partial else "w") as out:
        out.write(f"recorded {started} on {socket.gethostname()} (Linux {platform.release()}, "
                  f"{model}, {os.cpu_count()} cores) by record.py: {what}; code at commit "
                  f"{head}{' with uncommitted changes' if dirty else ''}\n")
        loads.append(("end", load()))
        out.write("load averages over 1, 5 and 15 minutes: " +
                  "; ".join(f"{when} {value}" for when, value in loads) + "\n")
    print(f"record: {os.path.relpath(os.path.join(HERE, 'PROVENANCE'), ROOT)}")


if __name__ == "__main__":
    main()
