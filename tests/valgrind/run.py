#!/usr/bin/env python3
"""valgrind memcheck under the black-box suite: the quick list's configurations
(tests/quick.list; valgrind cannot run --io uring, so such a line is left out),
every server process under valgrind, failing on any error in any process.

usage: run.py [--bin-dir DIR] [--list FILE] [--server 'LINE'] [--case NAME] [-j N]

It runs tests/blackbox/run.py --shared (the plain-server cases on one server
per configuration, the others on their own: a server under valgrind takes
about 2 s to start and stop), but for the cases in SKIP, with every server
started as

    valgrind --error-exitcode=99 --track-origins=no --trace-children=yes
             --child-silent-after-fork=no --suppressions=tests/valgrind/suppressions
             --log-file=LOGS/%p BIN ...

so that prefork's and multiplex's forked workers, fork_per_conn's children
and whatever they exec are checked too, each writing its own log. Then every
log is read: one with "ERROR SUMMARY: N errors" for N > 0 is a failure, and its
first errors are printed. An error in a child whose exit status nobody looks at
still fails the run. Track-origins is off for speed: to see where an
uninitialised value came from, rerun one case by hand with --track-origins=yes.

Last line: "valgrind: N passed, N failed" (the black-box cases, plus one per
process log). Exit status 1 if anything failed.
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# Black-box cases left out under valgrind, and why.
SKIP = {
    # 20 start-ups and stops: a race check, not a memory one, and 15 s here.
    "sigterm_right_after_request": "20 start-ups: 15 s under valgrind",
    # It counts stderr lines; under valgrind the server also says that it
    # walks paths itself (valgrind 3.19 does not know openat2).
    "exposed_bind_warning_and_lab": "counts stderr lines",
}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "blackbox"))
import run as blackbox  # noqa: E402  (its read_list: the list's format, in one place)
SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors")


def configurations(path):
    """The list's lines but those valgrind cannot run (io_uring is beyond it)."""
    return [line for line in blackbox.read_list(path) if "--io uring" not in line]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    parser.add_argument("--list", default=os.path.join(REPO, "tests", "quick.list"))
    parser.add_argument("--server", action="append", help="a configuration (repeatable)")
    parser.add_argument("--case", action="append", help="only this black-box case")
    parser.add_argument("-j", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind: not installed (scripts/deps.sh check installs it)")
        print("valgrind: 0 passed, 1 failed")
        return 1

    logs = tempfile.mkdtemp(prefix="valgrind-")
    wrap = ["valgrind", "--error-exitcode=99", "--track-origins=no", "--trace-children=yes",
            "--child-silent-after-fork=no",
            "--suppressions=" + os.path.join(REPO, "tests", "valgrind", "suppressions"),
            "--log-file=" + os.path.join(logs, "%p")]
    command = [sys.executable, os.path.join(REPO, "tests", "blackbox", "run.py"),
               "--bin-dir", args.bin_dir, "--shared", "-j", str(args.j),
               "--wrap", shlex.join(wrap)]
    for config in args.server or configurations(args.list):
        command += ["--server", config]
    for case in args.case or []:
        command += ["--case", case]
    command += ["--skip", ",".join(SKIP)]
    try:
        blackbox = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        output = blackbox.stdout
        sys.stdout.write("".join(line + "\n" for line in output.splitlines()
                                 if not re.match(r"blackbox: \d+ passed", line)))
        counts = re.findall(r"blackbox: (\d+) passed, (\d+) failed", output)
        passed, failed = (int(counts[-1][0]), int(counts[-1][1])) if counts else (0, 1)
        for log in sorted(glob.glob(os.path.join(logs, "*")), key=os.path.getmtime):
            with open(log, errors="replace") as f:
                text = f.read()
            errors = [int(n) for n in SUMMARY.findall(text)]
            if not errors:                       # killed before its summary: not an error
                continue
            if max(errors) == 0:
                passed += 1
                continue
            failed += 1
            command_line = re.search(r"^==\d+== Command: (.*)$", text, re.M)
            print(f"FAIL valgrind: process {os.path.basename(log)} "
                  f"({command_line.group(1) if command_line else '?'}): "
                  f"{max(errors)} errors; the first:")
            # The errors come after the preamble (ending "Parent PID: N"), each
            # a block ending in an empty "==PID== " line; show the first two.
            body = [line for line in text.splitlines() if re.match(r"^==\d+== ", line)]
            start = next((i for i, line in enumerate(body) if "Parent PID" in line), 0) + 2
            shown, blocks = [], 0
            for line in body[start:]:
                if re.match(r"^==\d+== $", line):
                    blocks += 1
                    if blocks == 2 or "SUMMARY" in line:
                        break
                shown.append(line)
            for line in shown[:30]:
                print("    " + line)
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    print(f"valgrind: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
