#!/usr/bin/env python3
"""check_claims.py [FILE ...] — two checks that keep what the comments and docs
claim true to the code and to the measurements; scripts/check_docs.py runs
both (and so `make check`), each ending in one "ok" or "FAIL file:line" line.

names: a function a comment or doc places in a file is defined there. The
  forms read, in every tracked source, script and doc file:
      `name` (file)    name() (file: ...)    (name, file)
      `name` in file   name() in `file`      file:name
  where file is a .c, .h, .S, .py or .sh path: from the repository root, from
  the citing file's folder, or a name only one tracked file has. The name
  must be among that file's definitions as universal-ctags lists them
  (functions, variables, macros, enumerators, types; in a .h also
  prototypes). A plain word with neither an underscore, () nor backticks is
  not taken for a name ("the loop in event.c").

figures: a figure a chapter, lab or instructor note quotes from a measurement
  names its source in a marker right after it, and agrees with that source:
      2.4 KiB <!-- ref: memory.csv config="multiplex \-\-workers 1" per_conn_kb -->
      1.02 s (1.01–1.02) <!-- ref: labs/01-iterative.txt /after ([0-9.]+) s: HTTP/ span -->
      30–36 µs <!-- ref: fig30.1.csv config="prefork" cpu_per_conn_us range ±10% -->
  The source is a file of docs/labs/reference/ (record.py writes them all): a
  CSV with key="value" conditions and a column, or a lab's recorded output with
  a /regex/ whose group is the number. Then, optionally, what of the values
  found: median (the default), min, max, spread (max − min), range (the text
  gives "low–high": both checked) or span (the text gives "median (min–max)":
  all three); bound (the figure is an upper bound: "repeats to 0.1 KiB"); ×N
  or /N (scale the data: a share as a %); and a tolerance, ±N% or ±N. Without
  one the figure is the value rounded as the text rounds it (12.5 agrees with
  12.46, not with 12.4). The figure is the last number (or range, or span)
  before the marker, in the same paragraph. An option's dashes are written
  \-\- inside a marker: "--" would end an HTML comment.
  Which numbers must carry one: a number with a measured unit (µs, ns, KiB,
  MiB, GiB, B, req/s, sleeps, %; s and ms only with decimals, as a range or
  after "about" and its kin: a whole number of seconds is a setting) outside
  code, fenced or inline. A figure that is not a measurement is followed by
  <!-- not measured: why --> (a setting, a bound, a size by definition), one
  from elsewhere by <!-- cited: where -->. Unitless numbers (a table of
  sleeps per connection, a ratio) are not found by this rule: mark them when
  they are quoted from the reference data, as the instructor notes do.
  Checked: docs/*.md and docs/labs/**/*.md, but not design.md (the contract:
  its numbers are defaults and bounds), docs/labs/exercises.md (the grader's
  bounds, which scripts/exercises.py holds) and the recorded output.

Run alone, it prints each problem and the two result lines, and exits 1 on any
problem.
"""
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "docs", "labs", "reference")

# ---------------------------------------------------------------- names

SOURCE_EXT = (".c", ".h", ".S", ".py", ".sh")
FILE = r"`?((?:[\w.-]+/)*[\w-]+\.(?:c|h|S|py|sh))`?"
NAME = r"(`[A-Za-z_]\w*(?:\(\))?`|[A-Za-z_]\w*\(\)|[A-Za-z_]*_\w*)"
CITATIONS = [
    re.compile(NAME + r" \(" + FILE + r"[):,;]"),            # `name` (file)
    re.compile(r"\(" + NAME + r", " + FILE + r"\)"),         # (name, file)
    re.compile(NAME + r" in " + FILE + r"(?![\w/])"),        # `name` in file
    re.compile(r"(?<![\w/.-])" + FILE + r":([A-Za-z_]\w*)(?![\w(])"),  # file:name
]
NOT_NAMES = {"DOC"}
ANCHOR = r"`?DOC: ([a-z0-9-]+)`?"
ANCHOR_CITATIONS = [
    re.compile(ANCHOR + r" \(" + FILE + r"[):,;]"),
    re.compile(ANCHOR + r" in " + FILE + r"(?![\w/])"),
]


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True,
                         check=True).stdout.decode()
    return [p for p in out.split("\0") if p]


DEFINITIONS = {}


def definitions(files):
    """{path: set of names} for the tracked sources, from one ctags run."""
    if DEFINITIONS:
        return DEFINITIONS
    sources = [p for p in files if p.endswith(SOURCE_EXT)]
    out = subprocess.run(["ctags", "-x", "--_xformat=%N\t%K\t%F", "--kinds-C=+p", "-f", "-"] + sources, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, kind, path = line.split("\t")
        if kind == "prototype" and not path.endswith(".h"):
            continue
        DEFINITIONS.setdefault(path, set()).add(name)
    for path in sources:
        DEFINITIONS.setdefault(path, set())
    return DEFINITIONS


def resolve_file(cited, citing, files):
    """The tracked path a cited file name means, or None."""
    candidates = [cited, os.path.normpath(os.path.join(os.path.dirname(citing), cited))]
    for path in candidates:
        if path in files:
            return path
    same = [p for p in files if p == cited or p.endswith("/" + cited)]
    return same[0] if len(same) == 1 else None


def citations(line):
    """(name, file) for each citation on a line."""
    found = []
    for number, pattern in enumerate(CITATIONS):
        for match in pattern.finditer(line):
            if number == 3:
                cited, name = match.group(1), match.group(2)
            else:
                name, cited = match.group(1), match.group(2)
            name = name.strip("`").removesuffix("()")
            if name not in NOT_NAMES:
                found.append((name, cited))
    return found


def anchor_citations(line):
    """(anchor, file) for each `DOC: name` placed in a file on a line."""
    return [(m.group(1), m.group(2)) for pattern in ANCHOR_CITATIONS for m in pattern.finditer(line)]


def mentions(path, name):
    with open(os.path.join(ROOT, path), errors="replace") as f:
        return re.search(r"(?<![\w])" + re.escape(name) + r"(?!\w)", f.read()) is not None


def check_names(paths=None, out=print):
    """Check every citation; returns (citations checked, problems). A name defined
    somewhere in the repository must be defined in the file cited (a .h: or
    declared); one defined nowhere here (a system call, a usage line's word)
    must at least stand in that file. A DOC: anchor must be in the file."""
    files = tracked_files()
    fileset = set(files)
    if shutil.which("ctags") is None:
        out("FAIL names: no ctags (scripts/deps.sh check installs universal-ctags)")
        return 0, 1
    defined = definitions(files)
    everywhere = set().union(*defined.values())
    checked = problems = 0
    for path in paths or files:
        if not path.endswith(SOURCE_EXT + (".md",)) or path.startswith("docs/labs/reference/labs/"):
            continue
        try:
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                lines = f.readlines()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for number, line in enumerate(lines, 1):
            for name, cited in citations(line):
                target = resolve_file(cited, path, fileset)
                if target is None or not target.endswith(SOURCE_EXT):
                    continue            # not a file of ours (a book's, a system file)
                checked += 1
                if name in everywhere and name not in defined.get(target, ()):
                    problems += 1
                    elsewhere = sorted(p for p, names in defined.items() if name in names)
                    out(f"FAIL {path}:{number}: places {name} in {target}, which does not "
                        f"define it ({', '.join(elsewhere[:3])} does)")
                elif name not in everywhere and not mentions(target, name):
                    problems += 1
                    out(f"FAIL {path}:{number}: places {name} in {target}, which has no {name}")
            for anchor, cited in anchor_citations(line):
                target = resolve_file(cited, path, fileset)
                if target is None:
                    continue
                checked += 1
                if not mentions(target, "DOC: " + anchor):
                    problems += 1
                    out(f"FAIL {path}:{number}: places DOC: {anchor} in {target}, which has "
                        "no such anchor")
    return checked, problems


# ---------------------------------------------------------------- figures

UNITS = r"(?:µs|us|ns|ms|s|KiB|MiB|GiB|kB|B|req/s|sleeps?|%)"
NUMBER = r"[0-9](?:[0-9]| (?=[0-9]{3}))*(?:[.,][0-9]+)?"
FIGURE = re.compile(r"(?<![\w./=-])(" + NUMBER + r")(?:\s?[–-]\s?(" + NUMBER + r"))?\s?("
                    + UNITS + r")(?![\w/])")
# A whole number of seconds or milliseconds is, unless the words around it say
# otherwise, a setting (a timeout, a sleep, a pause): a candidate only with
# decimals, as a range, or after "about" and its kin.
APPROXIMATE = re.compile(r"(?:about|around|near|nearly|roughly|almost|over|under|~|≈)\s*$", re.I)


def measured(match, text):
    """Is this number-with-unit a candidate measured figure?"""
    if match.group(3) not in ("s", "ms"):
        return True
    low, high = match.group(1), match.group(2)
    return ("." in low or high is not None or
            APPROXIMATE.search(text[:match.start()]) is not None)
MARKER = re.compile(r"<!--\s*ref:\s*(.*?)\s*-->", re.S)
ESCAPE = re.compile(r"<!--\s*(not measured|cited):\s*\S.*?-->", re.S)
SIGNED = r"(?<![\w.])−?" + NUMBER          # − (U+2212): a negative figure
LAST_FIGURE = re.compile(r"(" + SIGNED + r")(?:\s?[–-]\s?(" + SIGNED + r"))?[^0-9]*$")
LAST_SPAN = re.compile(r"(" + SIGNED + r")[^0-9(]*\((" + SIGNED + r")\s?[–-]\s?(" + SIGNED
                       + r")[^()]*\)[^0-9]*$")


def figure_files(paths=None):
    docs = [p for p in (paths or tracked_files()) if p.endswith(".md") and
            (re.match(r"docs/[^/]+\.md$", p) or p.startswith("docs/labs/"))]
    return [p for p in docs if p not in ("docs/design.md", "docs/labs/exercises.md")]


def number(text):
    return float(text.replace(" ", "").replace(",", ".").replace("−", "-"))


def parse_marker(text):
    """(source, where, pattern or column, statistic, tolerance) of a marker's text."""
    source, _, rest = text.partition(" ")
    where, pattern, column = {}, None, None
    rest = rest.strip()
    if source.endswith(".txt"):
        match = re.match(r"/(.*)/\s*(.*)$", rest)
        if not match:
            raise ValueError("a lab output needs a /regex/ with one group")
        pattern, rest = match.group(1), match.group(2)
    else:
        while True:
            match = re.match(r'(\w+)="([^"]*)"\s*(.*)$', rest)
            if not match:
                break
            where[match.group(1)] = match.group(2).replace("\\-", "-")
            rest = match.group(3)
        column, _, rest = rest.partition(" ")
        if not column:
            raise ValueError("a CSV needs a column")
    statistic, tolerance, scale, bound = "median", None, 1.0, False
    for word in rest.split():
        if word == "bound":
            bound = True
            continue
        if word in ("median", "min", "max", "spread", "range", "span"):
            statistic = word
        elif re.fullmatch(r"±[0-9.]+%?", word):
            tolerance = word[1:]
        elif re.fullmatch(r"[×/][0-9.]+", word):
            scale = float(word[1:]) if word[0] == "×" else 1 / float(word[1:])
        else:
            raise ValueError(f"'{word}': neither median, min, max, spread, range, span, bound, "
                             "±N, ±N%, ×N nor /N")
    return source, where, pattern, column, statistic, tolerance, scale, bound


def reference_values(source, where, pattern, column):
    path = os.path.join(REFERENCE, source)
    if not os.path.exists(path):
        raise ValueError(f"no reference file {source}")
    if pattern is not None:
        with open(path) as f:
            text = f.read()
        return [number(x) for x in re.findall(pattern, text, re.M)]
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if rows and column not in rows[0]:
        raise ValueError(f"{source} has no column {column}")
    return [float(r[column]) for r in rows
            if all(r.get(k) == v for k, v in where.items()) and r.get(column) not in (None, "")]


def agrees(text, value, tolerance):
    """Does the figure as written agree with the value?"""
    figure = number(text)
    if tolerance is None:
        decimals = len(text.replace(",", ".").partition(".")[2])
        return abs(figure - value) <= 0.5 * 10 ** -decimals + 1e-9
    if tolerance.endswith("%"):
        return abs(figure - value) <= abs(value) * float(tolerance[:-1]) / 100 + 1e-9
    return abs(figure - value) <= float(tolerance) + 1e-9


def check_marker(before, marker_text):
    """What is wrong with one marker and the figure before it, or None."""
    if "--" in marker_text:
        return (f"marker '{marker_text}': '--' may end an HTML comment (CommonMark): "
                "write an option's dashes as \\-\\-")
    try:
        source, where, pattern, column, statistic, tolerance, scale, bound = \
            parse_marker(marker_text)
        values = [v * scale for v in reference_values(source, where, pattern, column)]
    except (ValueError, re.error) as error:
        return f"marker '{marker_text}': {error}"
    if not values:
        return f"marker '{marker_text}': no value in the reference data"
    if statistic == "span":
        match = LAST_SPAN.search(before)
        if not match:
            return f"marker '{marker_text}': span, but no 'median (min–max)' before it"
        wanted = [(match.group(1), statistics.median(values)), (match.group(2), min(values)),
                  (match.group(3), max(values))]
        return disagreement(wanted, statistic, source, values, tolerance)
    match = LAST_FIGURE.search(before)
    if bound and match:
        value = {"median": statistics.median, "min": min, "max": max,
                 "spread": lambda xs: max(xs) - min(xs)}.get(statistic, max)(values)
        if value > number(match.group(2) or match.group(1)) + 1e-9:
            return (f"says at most {(match.group(2) or match.group(1)).strip()}, the reference "
                    f"data ({statistic}) say {value:g} ({source})")
        return None
    if not match:
        return f"marker '{marker_text}': no figure before it"
    low, high = match.group(1), match.group(2)
    if statistic == "range":
        if high is None:
            return f"marker '{marker_text}': range, but the text gives one number"
        wanted = [(low, min(values)), (high, max(values))]
    else:
        value = {"median": statistics.median, "min": min, "max": max,
                 "spread": lambda xs: max(xs) - min(xs)}[statistic](values)
        wanted = [(high or low, value)] if high is None else [(low, value)]
    return disagreement(wanted, statistic, source, values, tolerance)


def disagreement(wanted, statistic, source, values, tolerance):
    """The first (text, value) pair that does not agree, said in words; or None."""
    for text, value in wanted:
        if not agrees(text.strip(), value, tolerance):
            return (f"says {text.strip()}, the reference data ({statistic}) say {value:g} "
                    f"({source}, {len(values)} value{'s' if len(values) != 1 else ''}"
                    f"{', ±' + tolerance if tolerance else ', as rounded'})")
    return None


def prose(line):
    """The line without inline code and HTML comments: where figures are read."""
    line = re.sub(r"`[^`]*`", "", line)
    line = re.sub(r"<!--.*?-->", "", line)
    return re.sub(r"\]\([^)]*\)", "]", line)     # link targets


def paragraphs(lines):
    """(first line number, text) of each paragraph, list item, table row or heading
    outside code fences: a marker may stand on the line after its figure."""
    found, current, start, fenced = [], [], 0, False
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            fenced = not fenced
        starts = (line.startswith("```") or fenced or not line.strip() or
                  re.match(r"\s*(?:[-*]|[0-9]+\.)\s|[#|]", line))
        if starts and current:
            found.append((start, "".join(current)))
            current = []
        if fenced or line.startswith("```") or not line.strip():
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        found.append((start, "".join(current)))
    return found


def check_figures(paths=None, out=print):
    """Check every marker, and find unmarked figures; returns (markers, problems)."""
    markers = problems = 0
    for path in figure_files(paths):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            lines = f.readlines()
        for start, text in paragraphs(lines):
            # Each figure must be followed by its marker before the next figure.
            # A marker shown as an example, in inline code, is not one.
            text = re.sub(r"`[^`\n]*`", lambda m: "`" + "x" * (len(m.group(0)) - 2) + "`", text)
            pieces = re.split(r"(<!--\s*(?:ref|not measured|cited):.*?-->)", text, flags=re.S)
            offset = 0
            for i, piece in enumerate(pieces):
                where = f"{path}:{start + text.count(chr(10), 0, offset)}"
                offset += len(piece)
                if piece.startswith("<!--"):
                    continue
                plain = prose(piece)
                found = [m for m in FIGURE.finditer(plain) if measured(m, plain)]
                marker = pieces[i + 1] if i + 1 < len(pieces) else None
                for figure in found[:-1] if marker else found:
                    problems += 1
                    line = start + text.count(chr(10), 0, offset - len(piece)) + \
                        plain.count(chr(10), 0, figure.start())
                    out(f"FAIL {path}:{line}: '{figure.group(0).strip()}' carries no marker "
                        "(<!-- ref: ... -->, or <!-- not measured: why --> / <!-- cited: where -->)")
                if marker is None:
                    continue
                where = f"{path}:{start + text.count(chr(10), 0, offset)}"
                ref = MARKER.match(marker)
                if ref:
                    markers += 1
                    problem = check_marker(plain, ref.group(1))
                    if problem:
                        problems += 1
                        out(f"FAIL {where}: {problem}")
                elif not ESCAPE.match(marker) or "--" in marker[4:-3]:
                    problems += 1
                    out(f"FAIL {where}: '{marker}': say why, without '--'")
    return markers, problems


def main():
    paths = [os.path.relpath(os.path.abspath(a), ROOT) for a in sys.argv[1:]] or None
    cited, bad_names = check_names(paths)
    print(f"{'ok  ' if not bad_names else 'FAIL'} names: {cited} citations of a name in a file, "
          f"{bad_names} not defined there")
    marked, bad_figures = check_figures(paths)
    print(f"{'ok  ' if not bad_figures else 'FAIL'} figures: {marked} marked figures against "
          f"docs/labs/reference/, {bad_figures} problems")
    return 1 if bad_names or bad_figures else 0


if __name__ == "__main__":
    sys.exit(main())
