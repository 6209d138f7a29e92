#!/usr/bin/env python3
"""check_docs.py [--quick] [FILE ...] — run the command blocks the docs mark
runnable, so the labs never rot, and check that every reference to a page of
docs/ still points at something.

A block is runnable when its fence says so:   ```sh runnable   (or
```sh runnable slow  for one that takes more than a few seconds; --quick, which
`make check` uses, skips those). Each block runs with bash -e from the repository
root, in its own process group, with a time limit; whatever it started is killed
afterwards.

References are checked in every tracked source, test, script and doc file (or
only in the FILEs given), with or without --quick; each failure names
file:line and what was not found:
  - a Markdown link to a file, relative to the page ([text](design.md#stats-file)):
    the file must exist, and a #anchor in a .md file must be one of its headings'
    anchors (GitHub's rule: lower case, punctuation dropped, spaces to hyphens);
    links into ignored (generated) paths such as bench/results/ are not checked;
  - a path into docs/ named anywhere else, read from the repository root, with
    or without an anchor (code comments cite the contract so: docs/design.md#stats-file);
  - a citation of the old contract file (upper-case DESIGN with .md or a section
    sign), which is not in the repository: cite docs/design.md by section name;
  - a tracker item cited by number (the word issue and a number): give the
    reason, or cite the document that has it.
Recorded output and data (CSV, JSON, docs/labs/reference/labs/) are not checked.
Then the two claims checks of scripts/check_claims.py: each name a comment or
doc places in a file is defined there, and each measured figure in docs/
carries a marker naming its source in docs/labs/reference/ and agrees with it.
Ends with "check-docs: N passed, N failed".
"""
import glob
import os
import re
import signal
import subprocess
import sys

import check_claims

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```sh runnable( slow)?\s*$")

# -- references
MD_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DOC_PATH = re.compile(r"(?<![\w./-])((?:\.\./)*docs/[\w./-]*?\.md)(#[\w-]+)?")
OLD_CONTRACT = re.compile(r"\bDESIGN(?:\.md|\s*§)")
TRACKER = re.compile(r"\bissues?\s*#?\s*[0-9]+", re.I)
NOT_CHECKED = re.compile(r"(\.csv|\.json|\.png|\.svg)$|^docs/labs/reference/labs/|^fuzz/seeds/")


def tracked_files():
    """Every tracked file, relative to ROOT; without git, every file outside the build trees."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode()
        return [p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for top, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d != "results"]
            found += [os.path.relpath(os.path.join(top, n), ROOT) for n in names]
        return found


def ignored(path):
    """True for a path git ignores (build output, bench results): not ours to check."""
    rel = os.path.relpath(path, ROOT)
    try:
        return subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "--no-index", rel],
                              capture_output=True).returncode == 0
    except OSError:
        return rel.startswith(("build", "bench/results", "bench/build"))


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)     # a link: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)                          # \w keeps _ and digits
    return text.replace(" ", "-")


ANCHORS = {}


def anchors(path):
    """The anchors of a Markdown file's headings (duplicates get -1, -2, ...), and of
    explicit <a id="..."> / <a name="...">; headings inside code fences do not count."""
    if path not in ANCHORS:
        found, seen, fenced = set(), {}, False
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("```"):
                    fenced = not fenced
                    continue
                if fenced:
                    continue
                found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line))
                match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if match:
                    base = slug(match.group(1))
                    n = seen.get(base, 0)
                    seen[base] = n + 1
                    found.add(base if n == 0 else f"{base}-{n}")
        ANCHORS[path] = found
    return ANCHORS[path]


def resolve(target, anchor, problems):
    """Check one reference to the file target (absolute) and anchor ('' or 'name')."""
    shown = os.path.relpath(target, ROOT) + (f"#{anchor}" if anchor else "")
    if not os.path.exists(target):
        problems.append(f"{shown}: no such file")
    elif anchor and target.endswith(".md") and anchor not in anchors(target):
        problems.append(f"{shown}: {os.path.relpath(target, ROOT)} has no heading with "
                        f"the anchor #{anchor}")


def line_problems(path, line, fenced):
    """What is wrong with the references on one line of the file at path."""
    problems = []
    if OLD_CONTRACT.search(line):
        problems.append("cites the old contract file, which is not in the repository: cite "
                        "a section of docs/design.md by its anchor")
    for match in TRACKER.finditer(line):
        problems.append(f"cites a tracker item ('{match.group(0)}'): say the reason, or cite "
                        "a document")
    plain = line
    if path.endswith(".md") and not fenced:
        outside_code = re.sub(r"`[^`]*`", "", line)
        for match in MD_LINK.finditer(outside_code):
            link = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I):
                continue                    # http:, https:, mailto:
            file_part, _, anchor = link.partition("#")
            target = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                      if file_part else path)
            if file_part and (not target.startswith(ROOT + os.sep) or ignored(target)):
                continue                    # outside the repository, or generated
            resolve(target, anchor, problems)
        plain = MD_LINK.sub("", line)       # link targets are relative: checked above
    for match in DOC_PATH.finditer(plain):
        file_part = re.sub(r"^(\.\./)+", "", match.group(1))
        resolve(os.path.join(ROOT, file_part), (match.group(2) or "#")[1:], problems)
    return problems


def check_references(paths):
    """(references checked, failures printed) over the given files."""
    checked = failed = 0
    for path in paths:
        rel = os.path.relpath(path, ROOT)
        if NOT_CHECKED.search(rel) or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except UnicodeDecodeError:
            continue                        # binary
        fenced = False
        for number, line in enumerate(lines, 1):
            if path.endswith(".md") and line.startswith("```"):
                fenced = not fenced
                continue
            checked += 1
            for problem in line_problems(path, line, fenced):
                failed += 1
                print(f"FAIL {rel}:{number}: {problem}")
    return checked, failed


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
    named = [os.path.abspath(a) for a in args if a != "--quick"]
    files = [p for p in named if p.endswith(".md")] if named else sorted(
        glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    passed = failed = 0
    lines, bad = check_references(named or [os.path.join(ROOT, p) for p in tracked_files()])
    if bad:
        failed += bad
    else:
        passed += 1
        scope = "the named files" if named else "tracked files"
        print(f"ok   references: {lines} lines of {scope}")
    # The claims: every name placed in a file is there, every measured figure
    # agrees with docs/labs/reference/ (scripts/check_claims.py).
    relative = [os.path.relpath(p, ROOT) for p in named] or None
    for check, said in ((check_claims.check_names, "citations of a name in a file, each defined "
                         "there"),
                        (check_claims.check_figures, "measured figures, each agreeing with "
                         "docs/labs/reference/")):
        count, bad = check(relative)
        failed += bad
        if not bad:
            passed += 1
            print(f"ok   {check.__name__.removeprefix('check_')}: {count} {said}")
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
