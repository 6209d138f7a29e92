#!/usr/bin/env python3
"""The unit tests named, built from the tree this file is in and run: what
`make test` runs, one at a time, for a check that names one (the mutant
catalogue's `Check:` lines: a mutant in a pure function is killed by the table
that tests it).

usage: run.py [--bin-dir DIR] [--only NAME[,NAME]]
NAME is a test's name without `test_` (bufpool for tests/unit/test_bufpool.c);
none: every one. The tests are built with the tree's Makefile into the build
directory above --bin-dir (default build/bin: build/tests/test_NAME).
Ends with "unit: N passed, N failed".
"""
import argparse
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    known = sorted(os.path.basename(p)[len("test_"):-len(".c")]
                   for p in glob.glob(os.path.join(ROOT, "tests", "unit", "test_*.c")))
    names = [n for n in args.only.split(",") if n] or known
    for name in names:
        if name not in known:
            ap.error(f"unknown unit test {name!r}; choose from {', '.join(known)}")
    build = os.path.dirname(os.path.abspath(args.bin_dir))
    passed = failed = 0
    for name in names:
        target = os.path.join(build, "tests", f"test_{name}")
        made = subprocess.run(["make", "--no-print-directory", "-C", ROOT,
                               f"BUILD={os.path.relpath(build, ROOT)}",
                               os.path.relpath(target, ROOT)],
                              capture_output=True, text=True,
                              env={k: v for k, v in os.environ.items()
                                   if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD", "SAN")})
        if made.returncode != 0:
            print(f"FAIL {name}: does not build: {made.stderr.strip().splitlines()[-1:]}")
            failed += 1
            continue
        done = subprocess.run([target], capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            print(f"ok   {name}")
            passed += 1
        else:
            lines = [line for line in (done.stdout + done.stderr).splitlines()
                     if "FAILED" in line or "error" in line.lower()]
            print(f"FAIL {name}: " + " / ".join(lines[:3]))
            failed += 1
    print(f"unit: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
