#!/usr/bin/env python3
"""record.py [--runs N] [LAB.md ...] — run the labs' command blocks N times (default
5) and keep what they print, so the *Expected observations* of the instructor
notes can cite it.

Writes docs/labs/reference/labs/NAME.txt for each lab: a header naming the
machine (as metadata.json does), then every block's output, run after run. Uses
scripts/check_docs.py to find and run the blocks, with the same rules (bash -e,
repository root, time limit, process group killed afterwards). Run it on a quiet
machine: not while `make bench` runs.
"""
import datetime
import glob
import os
import platform
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


def main():
    args = sys.argv[1:]
    runs = 5
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    labs = args or sorted(glob.glob(os.path.join(ROOT, "docs", "labs", "0*.md")))
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


if __name__ == "__main__":
    main()
