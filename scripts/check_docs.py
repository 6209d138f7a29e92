#!/usr/bin/env python3
"""check_docs.py [--quick] [FILE.md ...] — run the command blocks the docs mark
runnable, so the labs never rot.

A block is runnable when its fence says so:   ```sh runnable   (or
```sh runnable slow  for one that takes more than a few seconds; --quick, which
`make check` uses, skips those). Each block runs with bash -e from the repository
root, in its own process group, with a time limit; whatever it started is killed
afterwards. Ends with "check-docs: N passed, N failed".
"""
import glob
import os
import re
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```sh runnable( slow)?\s*$")


def blocks(path):
    """(line number, slow, text) for each runnable block of a Markdown file."""
    found, current, start, slow = [], None, 0, False
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if current is None:
                match = FENCE.match(line)
                if match:
                    current, start, slow = [], number, bool(match.group(1))
            elif line.startswith("```"):
                found.append((start, slow, "".join(current)))
                current = None
            else:
                current.append(line)
    return found


def run(text, limit):
    process = subprocess.Popen(["bash", "-e", "-c", text], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=limit)
        status = process.returncode
    except subprocess.TimeoutExpired:
        output, status = b"(timed out)", "timeout"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)   # servers a block left running
        except ProcessLookupError:
            pass
        process.wait()
    return status, output.decode(errors="replace")


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    files = [a for a in args if a != "--quick"] or sorted(
        glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    passed = failed = 0
    for path in files:
        for line, slow, text in blocks(path):
            where = f"{os.path.relpath(path, ROOT)}:{line}"
            if slow and quick:
                continue
            status, output = run(text, 600 if slow else 60)
            if status == 0:
                passed += 1
                print(f"ok   {where}")
            else:
                failed += 1
                print(f"FAIL {where}: exit {status}\n" +
                      "".join("    " + l + "\n" for l in output.splitlines()[-15:]))
    print(f"check-docs: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
