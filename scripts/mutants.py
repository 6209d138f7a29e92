#!/usr/bin/env python3
"""mutants.py [--only ID[,ID]] [--quick] [--list] [-v] [--keep] — run the
catalogue of wrong versions in tests/mutants/ (tests/mutants/README.md): every
entry must be killed, that is, make at least one of its checks fail.

A wrong version no test notices is a hole in the tests (SQLite's mutation
testing of its TH3 suite). Each tests/mutants/ID.patch is a small patch on the
real source, headed by the mistake it stands for, the lesson, and the checks
that must notice it.

How a run goes:
  1. The tracked (and new, unignored) files are copied into
     build/mutants/reference/ and built there (`make all`; with
     `make SAN=thread build-san-thread/bin/threaded` too when an entry needs
     TSan). Every distinct check is run once against that build: a check that
     fails on the reference cannot kill anything, so that is an error (exit 2).
  2. Per mutant: build/mutants/tree/ is made equal to the reference, sources
     and build tree with their times, so the mutated file alone recompiles;
     the patch is applied (`git apply`), the tree rebuilt, and the checks run
     in order until one fails. An entry with `Exercise: ID` is checked first by
     `scripts/grade.py --only ID` (killed below full marks). A patch that does
     not apply, or a mutant that does not build, is an ERROR, never "killed".
  3. A table: mutant | killed? | by which check | what a student would see
     (the first FAIL line of the killing check, and its "  cause:" line if the
     suite prints one). Last line: "mutants: N passed, N failed" (passed =
     killed).

Every check runs in a session of its own with a time limit (--limit, default
300 s); a check still running then counts as failed ("no verdict within N s")
and is stopped with everything it started. The checks are run from the scratch
tree's own copy of tests/ with --bin-dir pointing at its build.

Options: --only ID,ID runs those entries; --quick those marked `Quick: yes`
(the subset `make check` runs); --list prints the entries and exits; -v also
prints each check as it runs and the killing check's output; --keep leaves
build/mutants/tree as the last mutant left it (patched and built), to look
into. Exit status 0 when every mutant is killed, 1 otherwise, 2 on a bad entry,
a bad argument, or a check that fails on the reference.
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from grade import stop_tree  # noqa: E402  (a check's session and all it started)

CATALOGUE = os.path.join(ROOT, "tests", "mutants")
SCRATCH = os.path.join(ROOT, "build", "mutants")
REFERENCE = os.path.join(SCRATCH, "reference")
TREE = os.path.join(SCRATCH, "tree")
LOGS = os.path.join(SCRATCH, "logs")
ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
KEYS = {"Mistake", "Lesson", "Exercise", "Check", "Quick"}
TSAN = "SAN=thread"                 # a Check's first word: run against the TSan tree
TSAN_EXERCISES = {"queue"}          # the grader checks these under TSan too
BUILD_LIMIT_S = 600
# Directories of a scratch tree that are not copies of tracked files.
BUILD_DIRS = re.compile(r"^(build|build-san-[^/]*|bench/build)(/|$)")


class Bad(Exception):
    """A catalogue entry or an argument that cannot be run: exit status 2."""


# ---------------------------------------------------------------- the catalogue

def read_entry(path):
    """{"id", "path", "mistake", "lesson", "exercise", "checks", "quick"} from
    one ID.patch: `Key: value` lines, a blank line, then the diff."""
    name = os.path.basename(path)[:-len(".patch")]
    if not ID.match(name):
        raise Bad(f"{path}: the name must be lower-case-with-dashes")
    entry = {"id": name, "path": path, "mistake": None, "lesson": None, "exercise": None,
             "checks": [], "quick": False}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if "" not in lines:
        raise Bad(f"{path}: no blank line between the header and the diff")
    header, diff = lines[:lines.index("")], lines[lines.index("") + 1:]
    for number, line in enumerate(header, 1):
        key, colon, value = line.partition(":")
        value = value.strip()
        if not colon or key not in KEYS or not value:
            raise Bad(f"{path}:{number}: not a `Key: value` line with a key of "
                      f"{', '.join(sorted(KEYS))}: {line!r}")
        if key == "Check":
            words = shlex.split(value)
            script = words[1] if words[0] == TSAN and len(words) > 1 else words[0]
            if not re.match(r"^(tests/[a-z_]+/run\.py|scripts/[a-z_]+\.py)$", script) or \
                    not os.path.isfile(os.path.join(ROOT, script)) or "--bin-dir" in words:
                raise Bad(f"{path}:{number}: a Check is a suite of tests/ or scripts/ and its "
                          f"arguments, without --bin-dir: {value!r}")
            entry["checks"].append(words)
        elif key == "Quick":
            if value != "yes":
                raise Bad(f"{path}:{number}: Quick takes `yes` only")
            entry["quick"] = True
        elif entry[key.lower()] is not None:
            raise Bad(f"{path}:{number}: {key} twice")
        else:
            entry[key.lower()] = value
    if entry["mistake"] is None or entry["lesson"] is None:
        raise Bad(f"{path}: Mistake and Lesson are required")
    if entry["exercise"] is None and not entry["checks"]:
        raise Bad(f"{path}: no Check and no Exercise: nothing could kill it")
    if not any(line.startswith("diff --git ") for line in diff):
        raise Bad(f"{path}: no git diff after the header")
    return entry


def read_catalogue():
    names = sorted(n for n in os.listdir(CATALOGUE) if n.endswith(".patch"))
    return [read_entry(os.path.join(CATALOGUE, n)) for n in names]


def check_label(words):
    return " ".join(shlex.quote(w) for w in words)


def checks_of(entry):
    """The entry's checks in order, each an argv as written (the grader first)."""
    checks = []
    if entry["exercise"] is not None:
        checks.append(["scripts/grade.py", "--only", entry["exercise"]])
    return checks + entry["checks"]


def needs_tsan(entries):
    return any(e["exercise"] in TSAN_EXERCISES or any(c[0] == TSAN for c in e["checks"])
               for e in entries)


# ---------------------------------------------------------------- scratch trees

def source_files():
    """The files a scratch tree is built from: tracked, and new unignored ones."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        raise Bad(f"git ls-files: {listed.stderr.decode().strip()} (a git checkout is needed)")
    listed = listed.stdout.decode().split("\0")
    return [p for p in listed if p and os.path.lexists(os.path.join(ROOT, p))
            and not BUILD_DIRS.match(p)]


def all_files(top):
    found = []
    for directory, subdirectories, names in os.walk(top):
        for name in names + [d for d in subdirectories
                             if os.path.islink(os.path.join(directory, d))]:
            found.append(os.path.relpath(os.path.join(directory, name), top))
    return found


def same(source, target):
    try:
        a, b = os.lstat(source), os.lstat(target)
    except FileNotFoundError:
        return False
    return (a.st_size, a.st_mtime_ns, a.st_mode) == (b.st_size, b.st_mtime_ns, b.st_mode)


def sync(source_top, target_top, files, keep_build=False):
    """Make target_top hold exactly files (paths under source_top), copied with
    their times, so make sees the copy as old as the original; files already
    equal are left alone. keep_build: leave the target's build trees be."""
    wanted = set(files)
    for path in files:
        source, target = os.path.join(source_top, path), os.path.join(target_top, path)
        if same(source, target):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.remove(target)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    for path in all_files(target_top):
        if path not in wanted and not (keep_build and BUILD_DIRS.match(path)):
            os.remove(os.path.join(target_top, path))


def make_env():
    """The environment for a scratch tree's make: nothing of a calling make's
    (its jobserver, its BUILD or SAN) leaks in."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD", "SAN")}


def build(tree, tsan, log):
    """make all (and threaded under TSan) in tree; (ok, last lines of the log)."""
    commands = [["make", "--no-print-directory", "-j2", "all"]]
    if tsan:
        commands.append(["make", "--no-print-directory", "-j2", "SAN=thread",
                         "build-san-thread/bin/threaded"])
    with open(log, "w") as out:
        for command in commands:
            try:
                status = subprocess.run(command, cwd=tree, env=make_env(), stdout=out,
                                        stderr=subprocess.STDOUT, timeout=BUILD_LIMIT_S).returncode
            except subprocess.TimeoutExpired:
                status = -1
            if status != 0:
                break
    with open(log, errors="replace") as f:
        lines = [line.rstrip() for line in f if line.strip()]
    errors = [line for line in lines if "error" in line] or lines[-3:]
    return status == 0, errors[:3]


def apply_patch(entry, tree):
    """git apply the entry's patch in tree, outside any repository (the ceiling
    keeps git from finding this checkout above build/); (ok, git's words)."""
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=os.path.dirname(tree))
    done = subprocess.run(["git", "apply", entry["path"]], cwd=tree, env=env,
                          capture_output=True, text=True)
    return done.returncode == 0, done.stderr.strip().split("\n")[0]


# ---------------------------------------------------------------- running a check

def student_line(lines):
    """What a student sees of a failed check: its first FAIL line and the
    "  cause:" line under it, if the suite printed one."""
    for i, line in enumerate(lines):
        if line.startswith("FAIL"):
            cause = lines[i + 1].strip() if i + 1 < len(lines) and \
                lines[i + 1].startswith("  cause:") else ""
            return line.strip() + (" / " + cause if cause else "")
    tail = [line for line in lines if line.strip()]
    return tail[-1].strip() if tail else "(no output)"


def run_check(words, tree, limit, log):
    """(passed, what a student sees, seconds) for one check against tree's build."""
    tsan = words[0] == TSAN
    words = words[1:] if tsan else words
    bin_dir = os.path.join(tree, "build-san-thread" if tsan else "build", "bin")
    argv = [sys.executable, os.path.join(tree, words[0])] + words[1:] + ["--bin-dir", bin_dir]
    if words[0] == "scripts/grade.py":
        argv += ["--tsan-bin-dir", os.path.join(tree, "build-san-thread", "bin")]
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(argv, cwd=tree, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            status = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            if process.poll() is None:
                stop_tree(process.pid)   # the suite and whatever it started
            process.wait()
    with open(log, errors="replace") as f:
        lines = f.read().split("\n")
    seconds = time.monotonic() - started
    if status is None:
        return False, f"no verdict within {limit:g} s: {student_line(lines)}", seconds
    return status == 0, ("" if status == 0 else student_line(lines)), seconds


# ---------------------------------------------------------------- main

def table(rows):
    """rows: (id, verdict, by, seen), as a Markdown table."""
    out = ["| mutant | killed? | by | what a student sees |", "|---|---|---|---|"]
    for row in rows:
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(out)


def interrupted(signal_number, frame):
    """SIGTERM (from make, or a suite runner's limit) ends the run as Ctrl-C does:
    the check under way is stopped with everything it started (run_check)."""
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 1)[1])
    parser.add_argument("--only", default="", help="comma-separated entry IDs")
    parser.add_argument("--quick", action="store_true", help="only the `Quick: yes` entries")
    parser.add_argument("--list", action="store_true", help="print the entries and exit")
    parser.add_argument("-v", action="store_true", help="print each check and its output")
    parser.add_argument("--keep", action="store_true",
                        help="leave build/mutants/tree as the last mutant left it")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds per check")
    args = parser.parse_args()
    try:
        entries = read_catalogue()
    except Bad as bad:
        print(f"mutants: {bad}", flush=True)
        return 2
    wanted = [e for e in args.only.split(",") if e]
    unknown = sorted(set(wanted) - {e["id"] for e in entries})
    if unknown:
        parser.error(f"no such mutant: {', '.join(unknown)}")
    if wanted:
        entries = [e for e in entries if e["id"] in wanted]
    if args.quick:
        entries = [e for e in entries if e["quick"]]
    if args.list:
        for e in entries:
            print(f"{e['id']:36} {'quick' if e['quick'] else '     '} {e['mistake']}")
        return 0
    if not entries:
        print("mutants: no entries selected\nmutants: 0 passed, 0 failed", flush=True)
        return 0

    started = time.monotonic()
    tsan = needs_tsan(entries)
    shutil.rmtree(LOGS, ignore_errors=True)        # this run's logs only
    os.makedirs(LOGS)
    print(f"mutants: {len(entries)} entries; building the reference in "
          f"{os.path.relpath(REFERENCE, ROOT)}", flush=True)
    try:
        sync(ROOT, REFERENCE, source_files(), keep_build=True)
    except Bad as bad:
        print(f"mutants: {bad}", flush=True)
        return 2
    built, words = build(REFERENCE, tsan, os.path.join(LOGS, "reference.build"))
    if not built:
        print("mutants: ERROR: the reference does not build: " + " / ".join(words), flush=True)
        return 2

    # Baseline: every distinct check must pass on the reference.
    distinct = []
    for entry in entries:
        for words in checks_of(entry):
            if words not in distinct:
                distinct.append(words)
    broken = 0
    for n, words in enumerate(distinct):
        passed, seen, seconds = run_check(words, REFERENCE, args.limit,
                                          os.path.join(LOGS, f"reference.{n}.log"))
        if args.v or not passed:
            print(f"{'ok   ' if passed else 'ERROR'} reference: {check_label(words)} "
                  f"({seconds:.1f} s){'' if passed else ': fails on the reference: ' + seen}",
                  flush=True)
        broken += not passed
    if broken:
        print(f"mutants: ERROR: {broken} check(s) fail on the reference, so they can kill "
              f"nothing; fix them first\nmutants: 0 passed, {len(entries)} failed", flush=True)
        return 2
    reference_files = all_files(REFERENCE)
    print(f"mutants: the reference passes its {len(distinct)} checks "
          f"({time.monotonic() - started:.0f} s)", flush=True)

    rows = []
    for entry in entries:
        begun = time.monotonic()
        sync(REFERENCE, TREE, reference_files)
        log = os.path.join(LOGS, entry["id"])
        applied, words = apply_patch(entry, TREE)
        verdict, by, seen = "ERROR", "", ""
        if not applied:
            seen = f"the patch does not apply: {words}"
        else:
            built, words = build(TREE, needs_tsan([entry]), log + ".build")
            if not built:
                seen = "the mutant does not build: " + " / ".join(words)
        if applied and built:
            verdict, by, seen = "SURVIVED", "", "every check passes"
            for n, words in enumerate(checks_of(entry)):
                passed, what, seconds = run_check(words, TREE, args.limit, f"{log}.{n}.log")
                if args.v:
                    print(f"  {entry['id']}: {check_label(words)}: "
                          f"{'passes' if passed else 'fails'} ({seconds:.1f} s)", flush=True)
                if not passed:
                    verdict, by, seen = "killed", check_label(words), what
                    if args.v:
                        with open(f"{log}.{n}.log", errors="replace") as f:
                            print("    " + f.read().rstrip().replace("\n", "\n    "),
                                  flush=True)
                    break
        took = time.monotonic() - begun
        if verdict == "killed":
            print(f"ok   {entry['id']}: killed by {by} ({took:.1f} s)", flush=True)
        else:
            print(f"FAIL {entry['id']}: {verdict}: {seen} ({took:.1f} s)", flush=True)
        rows.append((entry["id"], verdict, by, seen))
    if not args.keep:
        shutil.rmtree(TREE, ignore_errors=True)

    killed = sum(1 for row in rows if row[1] == "killed")
    print()
    print(table(rows))
    print()
    print(f"mutants: {time.monotonic() - started:.0f} s for {len(rows)} entries", flush=True)
    print(f"mutants: {killed} passed, {len(rows) - killed} failed", flush=True)
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("mutants: interrupted", flush=True)
        sys.exit(130)
