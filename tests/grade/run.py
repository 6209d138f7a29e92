#!/usr/bin/env python3
"""The grader can fail: the reference scores full marks on every exercise, and a
freshly written student tree (scripts/exercises.py) is a git repository of
its own (first commit: the stubs), still builds, keeps the servers it does not
touch working, and scores zero on every exercise, leaving no server running
(checks stopped early take theirs along); its docs print no exercise's answer,
lab 2's broken copies still apply in it; a correct fork-reap that waits with
ppoll (fork-reap-ppoll.patch, applied to the stubs) scores full marks; and
exercises.py empties only a --dest it wrote itself.

usage: run.py [--bin-dir DIR] [--dest-only]
The reference is graded with DIR (default build/bin) and build-san-thread/bin
(made here if missing); at the same time the student tree is written to a
temporary directory, built there (reusing build/'s objects where the sources
did not change: only the stubbed files recompile) and graded by its own
`scripts/grade.py`. Each grading is bounded by GRADE_TIMEOUT_S, each build by
BUILD_TIMEOUT_S. --dest-only runs only the --dest checks (a second). Ends with
"grade: N passed, N failed". docs/labs/exercises.md.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import testserver as ts  # noqa: E402
from exercises import BLACKBOX_CASES, EXERCISES, MARKER  # noqa: E402
from grade import stop_tree  # noqa: E402

GRADE_TIMEOUT_S = 170
BUILD_TIMEOUT_S = 240
ROW = re.compile(r"^(\S+)\s+(\d+)/(\d+)\s*$")


def run(argv, cwd, timeout):
    """(exit status or None on timeout, output); the command runs in its own
    process group, killed at the end with everything it started."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
        status = process.returncode
    except subprocess.TimeoutExpired:
        out, status = b"", None
    finally:
        if process.poll() is None:
            stop_tree(process.pid)
        process.wait()
    return status, out.decode(errors="replace")


def points(output):
    """{exercise: (points, out of)} from grade.py's per-exercise table."""
    table = output.split("\nExercise        Points\n", 1)[-1]
    rows = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if match and match.group(1) in EXERCISES:
            rows[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return rows


def grade_reference(bin_dir, outcome):
    status, out = run(["make", "--no-print-directory", "-s", "SAN=thread",
                       "build-san-thread/bin/threaded"], ts.ROOT, BUILD_TIMEOUT_S)
    if status != 0:
        outcome["reference"] = (None, f"TSan build failed: {out[-300:]}")
        return
    status, out = run([sys.executable, "scripts/grade.py", "--bin-dir", bin_dir], ts.ROOT,
                      GRADE_TIMEOUT_S)
    outcome["reference"] = (status, out)


def running_from(directory):
    """PIDs of the processes whose executable lies under directory."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/exe").startswith(directory + "/"):
                pids.append(int(entry))
        except OSError:
            pass
    return pids


def copy_build(source, dest):
    """A build tree's objects and library, their times kept, so that make in the
    student tree rebuilds only what is newer: the stubbed files."""
    if os.path.isdir(os.path.join(source, "obj")):
        shutil.copytree(os.path.join(source, "obj"), os.path.join(dest, "obj"), symlinks=True)
    if os.path.exists(os.path.join(source, "libcommon.a")):
        shutil.copy2(os.path.join(source, "libcommon.a"), os.path.join(dest, "libcommon.a"))


def write_to(dest):
    """exercises.py --dest dest: (exit status, stderr lines)."""
    done = subprocess.run([sys.executable, "scripts/exercises.py", "--dest", dest], cwd=ts.ROOT,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr.splitlines()


def check_dest(results):
    """exercises.py writes into a missing or empty --dest, and empties one it
    wrote before (it holds MARKER); a directory with anything else in it, or a
    file, is left as it is: exit status 2 and one line naming it."""
    with tempfile.TemporaryDirectory(prefix="grade-dest-") as scratch:
        home = os.path.join(scratch, "home")        # what DEST=~ would name
        os.makedirs(os.path.join(home, "work"))
        with open(os.path.join(home, "work", "thesis.tex"), "w") as f:
            f.write("years of it\n")
        status, err = write_to(home)
        results.check("exercises.py refuses a --dest with other files in it: status 2, one "
                      "line naming it, nothing deleted",
                      status == 2 and len(err) == 1 and home in err[0]
                      and os.path.exists(os.path.join(home, "work", "thesis.tex"))
                      and not os.path.exists(os.path.join(home, MARKER)),
                      f"status {status}, stderr {err}, left {sorted(os.listdir(home))}")

        plain = os.path.join(scratch, "notes.txt")
        with open(plain, "w") as f:
            f.write("keep\n")
        status, err = write_to(plain)
        results.check("exercises.py refuses a --dest that is a file",
                      status == 2 and len(err) == 1 and open(plain).read() == "keep\n",
                      f"status {status}, stderr {err}")

        empty = os.path.join(scratch, "empty")
        os.makedirs(empty)
        status, err = write_to(empty)
        written = status == 0 and os.path.isfile(os.path.join(empty, MARKER)) and \
            os.path.isfile(os.path.join(empty, "fork_per_conn", "main.c"))
        results.check(f"exercises.py writes into an empty --dest, {MARKER} in it", written,
                      f"status {status}, stderr {err}")
        if written:
            with open(os.path.join(empty, "stale.txt"), "w") as f:
                f.write("from before\n")
            status, err = write_to(empty)
            results.check(f"exercises.py empties a --dest it wrote ({MARKER}) and writes it again",
                          status == 0 and not os.path.exists(os.path.join(empty, "stale.txt"))
                          and os.path.isfile(os.path.join(empty, MARKER)),
                          f"status {status}, stderr {err}")


def git(tree, *args):
    """(exit status, output) of git in tree."""
    done = subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def check_repository(results, student):
    """The student tree is a git repository of its own, its one commit the tree
    as written (the stubs), nothing changed since: `git diff` shows only what the
    student writes."""
    status, top = git(student, "rev-parse", "--show-toplevel")
    _, count = git(student, "rev-list", "--count", "HEAD")
    _, changed = git(student, "status", "--porcelain")
    results.check("student tree: a git repository of its own, first commit the stubs, clean",
                  status == 0 and os.path.realpath(top.strip()) == os.path.realpath(student)
                  and count.strip() == "1" and not changed.strip(),
                  f"top {top.strip()!r}, commits {count.strip()!r}, changed {changed[:200]!r}")


# Reference lines that must not reach the student tree's docs (the answer).
ANSWER_LINES = {"fork-reap": ["waitpid(-1, NULL, WNOHANG)", "sigsuspend(unblocked);",
                              "live_children++;"]}


def check_answer_not_given(results, student):
    """No doc in the student tree prints an exercise's reference lines, and the
    chapter points at the task where the code was."""
    shown = []
    for top, dirs, names in os.walk(student):
        dirs[:] = [d for d in dirs if d not in (".git", "build", "build-san-thread")]
        for name in names:
            if name.endswith(".md") and "instructor" not in top:
                path = os.path.join(top, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                shown += [f"{os.path.relpath(path, student)}: {line}"
                          for lines in ANSWER_LINES.values() for line in lines if line in text]
    with open(os.path.join(student, "docs", "fork_per_conn.md"), encoding="utf-8") as f:
        pointed = "**Exercise `fork-reap`:**" in f.read()
    results.check("student tree: the docs print no reference line of an exercise, and "
                  "fork_per_conn.md points at the task instead", not shown and pointed,
                  f"shown {shown}, pointer {pointed}")


LAB2_PATCH = re.compile(r'python3 - "\$broken/fork_per_conn/main.c" <<\'EOF\'\n(.*?)\nEOF\n', re.S)


def check_lab2(results, student):
    """Lab 2 runs in the student tree: each of its patches (steps 4 and 5) applies
    to the student's fork_per_conn/main.c, and the broken copy compiles."""
    with open(os.path.join(student, "docs", "labs", "02-fork.md"), encoding="utf-8") as f:
        patches = LAB2_PATCH.findall(f.read())
    problems = [] if len(patches) == 2 else [f"{len(patches)} patches found, not 2"]
    with tempfile.TemporaryDirectory(prefix="grade-lab2-") as scratch:
        for step, patch in enumerate(patches, start=4):
            copy = os.path.join(scratch, f"step{step}.c")
            shutil.copy(os.path.join(student, "fork_per_conn", "main.c"), copy)
            done = subprocess.run([sys.executable, "-", copy], input=patch, text=True,
                                  capture_output=True, timeout=30)
            if done.returncode != 0:
                problems.append(f"step {step}: {done.stderr.strip()[-200:]}")
                continue
            built = subprocess.run(["cc", "-std=c17", "-Wall", "-Wextra", "-Werror",
                                    "-D_GNU_SOURCE", "-fsyntax-only",
                                    "-I", os.path.join(student, "common"), copy],
                                   capture_output=True, text=True, timeout=60)
            if built.returncode != 0:
                problems.append(f"step {step}: does not compile: {built.stderr[-300:]}")
    results.check("student tree: lab 2's two broken copies apply and compile", not problems,
                  "; ".join(problems))


PPOLL_ANSWER = os.path.join(HERE, "fork-reap-ppoll.patch")


def check_ppoll_answer(results, student):
    """A correct fork-reap that waits with ppoll instead of sigsuspend scores
    full marks: the grader accepts any primitive that waits without a lost
    wakeup. The answer is kept as a patch on the stubs (fork-reap-ppoll.patch)."""
    status, out = git(student, "apply", PPOLL_ANSWER)
    if not results.check("student tree: the ppoll answer (fork-reap-ppoll.patch) applies",
                         status == 0, out[-300:]):
        return
    _, diff = git(student, "diff", "--stat")
    results.check("student tree: git diff shows the answer, in fork_per_conn/main.c only",
                  "fork_per_conn/main.c" in diff and "1 file changed" in diff, diff[-300:])
    status, out = run(["make", "--no-print-directory", "-s", "-j2", "all"], student,
                      BUILD_TIMEOUT_S)
    if not results.check("student tree: the ppoll answer builds", status == 0, out[-500:]):
        return
    status, out = run([sys.executable, "scripts/grade.py", "--only", "fork-reap"], student,
                      GRADE_TIMEOUT_S)
    got, out_of = points(out).get("fork-reap", (None, None))
    results.check("student tree: a fork-reap written with ppoll scores full marks",
                  out_of and got == out_of,
                  f"scored {got}/{out_of}: " + "; ".join(
                      line for line in out.splitlines() if line.startswith(("FAIL", "  cause")))[:400])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    parser.add_argument("--dest-only", action="store_true",
                        help="only the checks of exercises.py --dest")
    args = parser.parse_args()
    results = ts.Results("grade")
    check_dest(results)
    if args.dest_only:
        return results.finish()
    outcome = {}
    reference = threading.Thread(target=grade_reference,
                                 args=(os.path.abspath(args.bin_dir), outcome))
    reference.start()

    with tempfile.TemporaryDirectory(prefix="grade-test-") as scratch:
        student = os.path.join(scratch, "student")
        status, out = run([sys.executable, "scripts/exercises.py", "--dest", student], ts.ROOT, 60)
        results.check("make exercises writes the student tree", status == 0, out[-300:])
        if status == 0:
            check_repository(results, student)
        built = False
        if status == 0:
            for tree in ("build", "build-san-thread"):
                copy_build(os.path.join(ts.ROOT, tree), os.path.join(student, tree))
            # The reference's TSan build runs meanwhile (grade_reference): an
            # object it finished after the stubs were written would look newer
            # than them. The stubbed files are newer than anything copied.
            for exercise in EXERCISES.values():
                os.utime(os.path.join(student, exercise["file"]))
            status, out = run(["make", "--no-print-directory", "-s", "-j2", "all"], student,
                              BUILD_TIMEOUT_S)
            if status == 0:
                status, out = run(["make", "--no-print-directory", "-s", "SAN=thread",
                                   "build-san-thread/bin/threaded"], student, BUILD_TIMEOUT_S)
            built = status == 0
            results.check("the student tree builds (-Werror), threaded under TSan too", built,
                          out[-500:])
        if built:
            status, out = run([sys.executable, "tests/blackbox/run.py",
                               "--bin-dir", os.path.join(student, "build", "bin"),
                               "--server", "iterative", "--server", "prefork_select --workers 3",
                               "--case", BLACKBOX_CASES], student, 120)
            results.check("student tree: the servers without exercises still pass their "
                          "black-box cases", status == 0, out[-500:])
            status, out = run([sys.executable, "scripts/grade.py"], student, GRADE_TIMEOUT_S)
            scores = points(out)
            results.check("student tree: the grader ran to its total",
                          status is not None and "\ngrade: " in out, out[-300:])
            for exercise_id in EXERCISES:
                got, out_of = scores.get(exercise_id, (None, None))
                results.check(f"student tree: {exercise_id} scores 0 (stubs fail every check)",
                              got == 0 and out_of, f"scored {got}/{out_of}")
            left = running_from(student)    # checks stopped early must take their servers along
            results.check("student tree: no server left running after the grading", not left,
                          f"pids {left}")
            for pid in left:
                os.kill(pid, 9)
            check_answer_not_given(results, student)
            check_lab2(results, student)
            check_ppoll_answer(results, student)

    reference.join()
    status, out = outcome["reference"]
    scores = points(out) if status is not None else {}
    for exercise_id in EXERCISES:
        got, out_of = scores.get(exercise_id, (None, None))
        results.check(f"reference: {exercise_id} scores full marks",
                      out_of and got == out_of,
                      f"scored {got}/{out_of}: " + "; ".join(
                          line for line in out.splitlines()
                          if line.startswith(f"FAIL {exercise_id}:"))[:400])
    results.check("reference: grade.py exits 0 at full marks", status == 0,
                  f"status {status}: {out[-200:]}")
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
