#!/usr/bin/env python3
"""compare.py BEFORE AFTER — which figures moved between two bench runs.

    python3 bench/compare.py docs/labs/reference bench/results/latest
    make bench-compare A=docs/labs/reference B=bench/results/latest

BEFORE and AFTER are results folders (a `make bench` run, or the recorded
reference run docs/labs/reference/): the CSVs and metadata.json. Every figure of
FIGURES below (one number of one configuration at one point, e.g. fig30.1's CPU
per connection of `threaded`) is the median of its runs on each side. The band
of a figure comes from BEFORE's own runs alone:

    band = [min - w, max + w],   w = max(MARGIN x median, the figure's floor)

min, max and median over BEFORE's repeats of that figure (3 in the recorded
reference run). The runs' spread says how far that figure wanders from run to
run; w widens it for AFTER's own noise, which the min..max of three runs
underrates (MARGIN: 15 %, from fig30.1 on this two-core machine, where the
median figure's runs span 17 %). A figure of AFTER whose median lies outside
the band moved: it is listed, up or down, with both sides' runs. A figure in one
folder only is listed as such, by experiment when a whole experiment is missing.
`make bench` writes the list at the top of report.md (reference:
docs/labs/reference) and every figure with its band to compare.csv.
"""
import csv
import json
import os
import statistics
import sys

MARGIN = 0.15

# experiment -> (the fields that name a point, [(figure, unit, better, floor)]).
# better: "lower" or "higher" (what an improvement is), None when neither is.
# floor: the least w, in the figure's unit, for figures that are small counts
# or shares, whose runs often agree exactly (a spread of 0).
FIGURES = {
    "fig30.1": (("config",), [("cpu_per_conn_us", "µs", "lower", 1.0, True)]),
    "throughput": (("config", "mode", "clients"), [("cpu_per_req_us", "µs", "lower", 0.5, True),
                                                   ("req_per_s", "req/s", "higher", 100, True)]),
    "herd": (("config", "workers"), [("sleeps_per_conn", "", "lower", 0.1, False)]),
    "distribution": (("config", "load"), [("jain", "", "higher", 0.02, False),
                                          ("cpu_per_conn_us", "µs", "lower", 1.0, True)]),
    "slow-handler": (("config",), [("req_per_s", "req/s", "higher", 5, False)]),
    "slow-upstream": (("config", "clients"), [("req_per_s", "req/s", "higher", 5, False)]),
    "slow-clients": (("config",), [("median_ms", "ms", "lower", 1.0, False),
                                   ("within_1s", "", "higher", 0.5, False)]),
    "memory": (("config",), [("per_conn_kb", "KiB", "lower", 2.0, False)]),
    "latency": (("config", "load"), [("answered_share", "", "higher", 0.02, False),
                                     ("p50_us", "µs", "lower", 200, True),
                                     ("capacity", "req/s", "higher", 100, True),
                                     ("demand_us", "µs", "lower", 0.5, True)]),
    "connections": (("config", "conns"), [("answered_share", "", "higher", 0.02, False),
                                          ("held", "", "higher", 5, False)]),
    "greedy-client": (("config", "load"), [("median_ms", "ms", "lower", 5.0, False)]),
    "syscalls": (("config", "clients"), [("per_request", "", "lower", 0.1, False)]),
    "coro-switch": (("name",), [("ns_per_switch", "ns", "lower", 5.0, True)]),
    "stacks": (("config",), [("cpu_per_conn_us", "µs", "lower", 1.0, True),
                             ("rss_per_conn_kb", "KiB", "lower", 2.0, False)]),
}
# A run's shift: a figure of time or rate (scaled: True above) moves with the
# machine too (another day's virtual machine, other work on its cores), every
# configuration alike. Its band is scaled by the experiment's shift: the median,
# over every point measured on both sides, of after's median / before's median
# (with at least SHIFT_POINTS points; fewer: no scaling). The shift itself is
# listed, so a change that moves every configuration (common/, the kernel) is
# seen too; what stands out from it is a change of one configuration.
SHIFT_POINTS = 4
NOTES = "notes"     # figures()' key for what the rows say of a point
# What a run's metadata.json says of the machine: when one differs, the list says so.
MACHINE = ("cpu_model", "cores_usable", "kernel", "compiler")


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def figures(folder):
    """{experiment: {(point, figure): [values of its runs]}} for each CSV of
    FIGURES in folder; rows not run (not_run) carry no values. Under the key
    NOTES, {(experiment, point): text} says why a point was not run, or that
    one of its runs was flagged (bench.py: socket errors, connections not held...)."""
    found = {NOTES: {}}
    for experiment, (keys, metrics) in FIGURES.items():
        path = os.path.join(folder, f"{experiment}.csv")
        if not os.path.exists(path):
            continue
        runs = found.setdefault(experiment, {})
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                point = tuple(row.get(k, "") for k in keys)
                if row.get("not_run"):
                    found[NOTES][(experiment, point)] = row["not_run"]   # "not run: why"
                elif row.get("flag"):
                    found[NOTES][(experiment, point)] = f"⚑ a flagged run: {row['flag']}"
                for metric, *_ in metrics:
                    value = number(row.get(metric))
                    values = runs.setdefault((point, metric), [])
                    if value is not None and not row.get("not_run"):
                        values.append(value)
    return found


def band(values, floor):
    """(low, high) of a figure whose BEFORE runs are values (see the docstring)."""
    median = statistics.median(values)
    w = max(MARGIN * abs(median), floor)
    return min(values) - w, max(values) + w


def metadata(folder):
    try:
        with open(os.path.join(folder, "metadata.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def compare(before, after):
    """The comparison of two folders: a dict with
       moved:    [(experiment, point, figure, before runs, band, after runs, shift, verdict,
                   flagged: '' or what the flagged runs of that point say)]
       shifts:   [(experiment, figure, shift, points)] for the scaled figures
       one_side: [(experiment, what, which folder has it, why the other has none or '')]
       rows:     every figure compared, for compare.csv
       settings: [(setting, before, after)] where the two runs' settings differ."""
    a, b = figures(before), figures(after)
    result = dict(moved=[], shifts=[], one_side=[], rows=[], settings=[])
    for experiment, (keys, metrics) in FIGURES.items():
        if experiment not in a and experiment not in b:
            continue
        if experiment not in b or experiment not in a:
            side = "before" if experiment in a else "after"
            result["one_side"].append((experiment, "every figure (the experiment ran in one only)",
                                       side, ""))
            continue
        points = list(dict.fromkeys(list(a[experiment]) + list(b[experiment])))
        for metric, unit, better, floor, scaled in metrics:
            both = [(a[experiment].get((p, metric)), b[experiment].get((p, metric)))
                    for p, m in points if m == metric]
            ratios = [statistics.median(now) / statistics.median(was) for was, now in both
                      if was and now and statistics.median(was)]
            shift = 1.0
            if scaled and len(ratios) >= SHIFT_POINTS:
                shift = statistics.median(ratios)
                result["shifts"].append((experiment, metric, shift, len(ratios)))
            for point, m in points:
                if m != metric:
                    continue
                was, now = a[experiment].get((point, metric)), b[experiment].get((point, metric))
                name = " ".join(p for p in point if p)
                if not was or not now:
                    side = "before" if was else "after" if now else None
                    why = (b if was else a)[NOTES].get((experiment, point))
                    if side:
                        result["one_side"].append((experiment, f"{name}: {metric}", side,
                                                   why if why and not why.startswith("⚑")
                                                   else ""))
                    continue
                flagged = " ".join(x for x in (a[NOTES].get((experiment, point), ""),
                                               b[NOTES].get((experiment, point), ""))
                                   if x.startswith("⚑"))
                low, high = (shift * x for x in band(was, floor))
                median = statistics.median(now)
                verdict = ""
                if median > high or median < low:
                    up = median > high
                    verdict = "up" if up else "down"
                    if better:
                        verdict += ": worse" if up == (better == "lower") else ": better"
                    result["moved"].append((experiment, name, metric, was, (low, high), now,
                                            shift, verdict, flagged))
                result["rows"].append(dict(experiment=experiment, point=name, figure=metric,
                                           before_median=statistics.median(was),
                                           before_min=min(was), before_max=max(was),
                                           before_runs=len(was), shift=shift, band_low=low,
                                           band_high=high, after_median=median,
                                           after_min=min(now), after_max=max(now),
                                           after_runs=len(now), moved=verdict))
    ma, mb = metadata(before), metadata(after)
    sa, sb = ma.get("settings", {}), mb.get("settings", {})
    result["settings"] = [(k, sa[k], sb[k]) for k in sa if k in sb and sa[k] != sb[k]]
    result["machine"] = [(k, ma[k], mb[k]) for k in MACHINE if ma.get(k) != mb.get(k)
                         and k in ma and k in mb]
    return result


def g(value):
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def runs_text(values):
    if len(values) == 1:
        return f"{g(values[0])} (1 run)"
    return f"{g(statistics.median(values))} ({g(min(values))}–{g(max(values))}, {len(values)} runs)"


def describe(folder):
    m = metadata(folder)
    commit = (m.get("git_commit") or "?")[:12]
    return f"{folder} ({m.get('date_utc', 'no metadata.json')}, commit {commit})"


def relative(moved):
    """How far a moved figure went beyond its run's shift (1: not at all)."""
    was, now, shift = statistics.median(moved[3]), statistics.median(moved[5]), moved[6]
    return now / was / shift if was and shift else 1.0


def markdown(result, before, after, limit=None):
    """The list as Markdown lines: the runs' shifts, what moved (furthest from its
    shift first), then what is in one folder only. limit: at most that many moved
    rows, the rest counted."""
    out = [f"Before: {describe(before)}; after: {describe(after)}. A figure moved when "
           f"after's median lies outside before's band: before's min..max over its runs, "
           f"widened by {MARGIN:.0%} of its median, times the run's shift for a time or a "
           "rate (bench/README.md, *Regressions*, says the rule).", ""]
    if result["machine"]:
        out += ["**Not the same machine:** " +
                "; ".join(f"{k} {x!r} → {y!r}" for k, x, y in result["machine"]) +
                ". The shift below absorbs a uniform change of speed; what stands out from it "
                "may still be the machine (a system call or fork dearer on one kernel or "
                "CPU than on another).", ""]
    if result["shifts"]:
        out += ["The run's shift (after / before, the median over every configuration; each "
                "band of that figure is scaled by it):  " +
                "; ".join(f"{e} {m} ×{x:.2f}" + (" **(everything moved)**"
                                                 if abs(x - 1) > MARGIN else "")
                          for e, m, x, n in result["shifts"]) + ".", ""]
    moved = sorted(result["moved"], key=lambda m: -abs(relative(m) - 1))
    if not moved:
        out += ["**No figure moved** beyond its band.", ""]
    else:
        many = len(moved) > 1
        out += [f"**{len(moved)} figure{'s' if many else ''} moved** beyond "
                f"{'their bands' if many else 'its band'}:", "",
                "| experiment | configuration (point) | figure | before | band | after | change |",
                "|---|---|---|---|---|---|---|"]
        for experiment, name, metric, was, (low, high), now, shift, verdict, flagged in moved[:limit]:
            ratio = statistics.median(now) / statistics.median(was) if statistics.median(was) else 0
            beyond = f", ×{ratio / shift:.2f} of the shift" if shift != 1.0 else ""
            out.append(f"| {experiment} | `{name}`{' ⚑' if flagged else ''} | {metric} | "
                       f"{runs_text(was)} | {g(low)}–{g(high)} | {runs_text(now)} | "
                       f"{verdict} (×{ratio:.2f}{beyond}) |")
        if limit is not None and len(moved) > limit:
            out.append(f"| … | {len(moved) - limit} more in compare.csv | | | | | |")
        out.append("")
        if any(m[8] for m in moved):
            out += ["⚑: a run of that point was flagged (in *Flagged runs* of its report, "
                    "the CSV's flag column): its figure may measure the failure, not the "
                    "model.", ""]
    if result["one_side"]:
        out += ["In one folder only (not compared):", ""]
        whole = [(e, side) for e, what, side, _ in result["one_side"]
                 if what.startswith("every")]
        for side in ("before", "after"):
            names = [e for e, s in whole if s == side]
            if names:
                out.append(f"- only {side}: the experiments {', '.join(names)}")
        parts = {}
        for experiment, what, side, why in result["one_side"]:
            if not what.startswith("every"):
                name, metric = what.rsplit(": ", 1)
                parts.setdefault((side, experiment, name, why), []).append(metric)
        for (side, experiment, name, why), metrics in parts.items():
            out.append(f"- only {side}: {experiment} `{name}` ({', '.join(metrics)})"
                       + (f"; {why}" if why else ""))
        out.append("")
    if result["settings"]:
        out += ["The two runs' settings differ (bench.py SETTINGS), which can move a figure "
                "or leave it in one folder: " +
                "; ".join(f"{k} {json.dumps(x)} → {json.dumps(y)}"
                          for k, x, y in result["settings"]) + ".", ""]
    return out


def write_csv(result, path):
    fields = ["experiment", "point", "figure", "before_median", "before_min", "before_max",
              "before_runs", "shift", "band_low", "band_high", "after_median", "after_min",
              "after_max", "after_runs", "moved"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for row in result["rows"]:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def main(argv):
    if len(argv) != 3 or argv[1].startswith("-"):
        print("usage: compare.py BEFORE AFTER   (two results folders, e.g. "
              "docs/labs/reference bench/results/latest)", file=sys.stderr)
        return 2
    for folder in argv[1:]:
        if not os.path.isdir(folder):
            print(f"compare.py: {folder}: not a folder", file=sys.stderr)
            return 2
    result = compare(argv[1], argv[2])
    if not result["rows"] and not result["one_side"]:
        print(f"compare.py: no bench CSVs in {argv[1]} or {argv[2]}", file=sys.stderr)
        return 2
    print("\n".join(markdown(result, argv[1], argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
