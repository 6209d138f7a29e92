#!/usr/bin/env python3
"""ranges.py [LAB | --check] — the reference numbers that the *Expected
observations* of each lab's instructor notes quote, computed from the files in this directory: the CSVs of one `make bench`
run (metadata.json says which machine) and labs/*.txt, what the labs' own
command blocks printed in the recorded runs (record.py). LAB is a number, 1-9;
without it, all nine. Each figure: the median, then min-max of the runs.

Under "repeats", for each comparison a lab asks for: how many runs of each side
make the difference larger than run-to-run noise, from the spread of the
reference runs (see repeats() below). --check runs the table of cases that
runs_needed() must decide right, and exits 1 if one fails.
"""
import csv
import glob
import math
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def rows(name):
    with open(os.path.join(HERE, name)) as f:
        return list(csv.DictReader(f))


def values(csv_name, field, **where):
    found = []
    for r in rows(csv_name):
        if all(r.get(k) == str(v) for k, v in where.items()) and r.get(field):
            found.append(float(r[field]))
    return found


def span(xs, digits=1):
    if not xs:
        return "(no data)"
    m = statistics.median(xs)
    if len(xs) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f}, {len(xs)} runs)"


def span_short(xs, digits=2):
    """median (min–max), for table cells."""
    if not xs:
        return "–"
    m, lo, hi = statistics.median(xs), min(xs), max(xs)
    if f"{lo:.{digits}f}" == f"{hi:.{digits}f}":
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def lab_output(lab):
    """Everything the lab's blocks printed in the recorded runs."""
    paths = glob.glob(os.path.join(HERE, "labs", f"0{lab}-*.txt"))
    return open(paths[0]).read() if paths else ""


def grab(lab, pattern, digits=2):
    """The numbers the recorded runs printed where pattern (one group) matches."""
    return span([float(x) for x in re.findall(pattern, lab_output(lab), re.M)], digits)


def fig(config):
    return span(values("fig30.1.csv", "cpu_per_conn_us", config=config))


def herd(config, workers, field="sleeps_per_conn", digits=2):
    return span(values("herd.csv", field, config=config, workers=workers), digits)


def dist(config, load, field="jain", digits=2):
    return span(values("distribution.csv", field, config=config, load=load), digits)


def slow(config):
    return span(values("slow-handler.csv", "req_per_s", config=config))


def trickle(config, field, digits=2):
    return span(values("slow-clients.csv", field, config=config), digits)


def memory(config):
    kb = span(values("memory.csv", "per_conn_kb", config=config))
    answered = values("memory.csv", "answered", config=config)
    if not answered:
        return "(not in this run)"
    return f"{kb} KiB per answered connection ({int(statistics.median(answered))} answered)"


def tput(config, mode, clients, field="req_per_s", digits=1):
    return span(values("throughput.csv", field, config=config, mode=mode, clients=clients), digits)


def nums(lab, pattern):
    """Every number the recorded runs of a lab printed where pattern (one group) matches."""
    return [float(x) for x in re.findall(pattern, lab_output(lab), re.M)]


def runs_needed(a, b):
    """Runs of each side after which the difference of the two means is at least
    twice its standard error: n >= 8 s^2 / d^2, d the difference of the medians,
    s the pooled standard deviation of one run. None when the reference has too
    few runs to judge; 0 when the difference is inside the noise (n above 30)."""
    if len(a) < 2 or len(b) < 2:
        return None
    d = abs(statistics.median(a) - statistics.median(b))
    s2 = (statistics.variance(a) + statistics.variance(b)) / 2
    if s2 == 0:
        return 1 if d > 0 else 0
    if d == 0:
        return 0
    n = max(1, math.ceil(8 * s2 / (d * d)))
    return n if n <= 30 else 0


RUNS_NEEDED_CASES = [   # side a, side b, runs of each, why
    ([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], 1, "no spread, a difference"),
    ([1.0, 1.0], [1.0, 1.0], 0, "no spread, no difference"),
    ([25, 26, 30], [330, 390, 446], 1, "far apart"),
    ([10, 12, 14], [15, 17, 19], 2, "d = 5, s = 2: 8 * 4 / 25 rounds up to 2"),
    ([38.2, 41.0, 43.7], [35.1, 39.8, 48.0], 0, "overlapping: more than 30, inside the noise"),
    ([1.0], [2.0, 3.0], None, "one run: no spread to judge"),
]


def check():
    failed = 0
    for a, b, want, why in RUNS_NEEDED_CASES:
        got = runs_needed(a, b)
        failed += got != want
        print(f"{'ok' if got == want else 'FAILED'}: runs_needed, {why}: {got} (want {want})")
    return 1 if failed else 0


def repeats(label, a, b):
    n = runs_needed(a, b)
    if n is None:
        text = "too few reference runs to judge"
    elif n == 0:
        text = "more than 30: the difference is inside the run-to-run noise"
    else:
        text = f"{n} run{'s' if n > 1 else ''} of each"
    print(f"  repeats, {label}: {text}")


def repeats_grab(label, lab, pattern_a, pattern_b):
    """repeats() of two numbers the recorded runs of one lab printed."""
    repeats(label, nums(lab, pattern_a), nums(lab, pattern_b))


def repeats_csv(label, csv_name, field, config_a, config_b, **where):
    """repeats() of one field of one CSV, for two configs under the same conditions."""
    repeats(label, values(csv_name, field, config=config_a, **where),
            values(csv_name, field, config=config_b, **where))


def show(label, text):
    print(f"  {label}: {text}")


HERD = ["prefork", "prefork --accept-lock fcntl", "prefork_select --wait select",
        "prefork_select --wait poll", "prefork_select --wait epoll",
        "prefork_select --wait epoll-exclusive", "prefork_select --reuseport"]


def lab1():
    show("step 1, iterative waited (s)", grab(1, r"iterative: the second client waited ([0-9.]+) s"))
    show("step 1, threaded waited (s)", grab(1, r"threaded: the second client waited ([0-9.]+) s"))
    show("step 2, the 408 after (s)", grab(1, r"after ([0-9.]+) s: HTTP/1.1 408"))
    show("step 3, iterative (s)", grab(1, r"iterative: 8 requests of 300 ms took ([0-9.]+) s"))
    show("step 3, threaded (s)", grab(1, r"threaded: 8 requests of 300 ms took ([0-9.]+) s"))
    show("fig30.1 iterative µs/conn", fig("iterative"))
    show("slow-handler iterative req/s", slow("iterative"))
    show("slow-handler threaded req/s", slow("threaded"))
    for c in ("iterative --timeout-ms 2000", "threaded --max-conns 1024"):
        show(f"slow-clients {c} slow clients", trickle(c, "slow_target", 0))
        for field in ("first_ms", "median_ms", "max_ms"):
            show(f"slow-clients {c} {field}", trickle(c, field))
    repeats_grab("step 1, iterative vs threaded wait", 1,
                 r"iterative: the second client waited ([0-9.]+) s",
                 r"threaded: the second client waited ([0-9.]+) s")
    repeats_grab("step 3, iterative vs threaded", 1,
                 r"iterative: 8 requests of 300 ms took ([0-9.]+) s",
                 r"threaded: 8 requests of 300 ms took ([0-9.]+) s")
    repeats_csv("slow-handler, iterative vs threaded",
                "slow-handler.csv", "req_per_s", "iterative",
                "threaded")


def lab2():
    show("step 1 iterative µs/conn", grab(2, r"iterative: .*?cpu_per_conn_us=([0-9.]+)", 1))
    show("step 1 fork_per_conn µs/conn", grab(2, r"fork_per_conn: connections=1000 .*?cpu_per_conn_us=([0-9.]+)", 1))
    ratios = re.findall(r"\(([0-9.]+) >= 3 \* ([0-9.]+)\)", lab_output(2))
    show("step 1 ratio", span([float(a) / float(b) for a, b in ratios]))
    show("step 3 most children", grab(2, r"most children at once: ([0-9]+)", 0))
    show("step 3 the twelve took (s)", grab(2, r"the twelve took ([0-9.]+) s"))
    show("step 5 first unanswered request", grab(2, r"\(([0-9]+) >= 1 and 0 == 0\)", 0))
    show("fig30.1 fork_per_conn µs/conn", fig("fork_per_conn"))
    ratio = [f / i for f, i in zip(values("fig30.1.csv", "cpu_per_conn_us", config="fork_per_conn"),
                                   values("fig30.1.csv", "cpu_per_conn_us", config="iterative"))]
    show("fig30.1 fork_per_conn / iterative, run by run", span(ratio))
    repeats_grab("step 1, fork_per_conn vs iterative CPU/conn", 2,
                 r"fork_per_conn: connections=1000 .*?cpu_per_conn_us=([0-9.]+)",
                 r"iterative: .*?cpu_per_conn_us=([0-9.]+)")
    repeats_csv("fig30.1, fork_per_conn vs iterative",
                "fig30.1.csv", "cpu_per_conn_us", "fork_per_conn",
                "iterative")


def herd_table(configs, children=None):
    """Sleeps per connection, a row per config, a column per child count the run has."""
    children = children or sorted({int(r["workers"]) for r in rows("herd.csv")})
    print("  | sleeps per connection | " + " | ".join(f"N={n}" for n in children) + " |")
    print("  |---|" + "---|" * len(children))
    for c in configs:
        cells = [span_short(values("herd.csv", "sleeps_per_conn", config=c, workers=n))
                 for n in children]
        print(f"  | `{c}` | " + " | ".join(cells) + " |")


def lab3():
    herd_table(["prefork", "prefork_select --wait select", "prefork --accept-lock fcntl"])
    show("spurious/conn, select at 64", herd("prefork_select --wait select", 64, "spurious_per_conn", 3))
    for c in ("prefork", "prefork_select --wait select"):
        for n in (1, 64):
            show(f"run_cpu_per_conn_us {c} N={n}", herd(c, n, "run_cpu_per_conn_us", 1))
    for n in (4, 16, 64):
        repeats_csv(f"sleeps/conn, prefork vs select at N={n}",
                    "herd.csv", "sleeps_per_conn", "prefork",
                    "prefork_select --wait select", workers=n)
    repeats_grab("lab steps 1-2, sleeps/conn at 16, prefork vs select", 3,
                 r"^prefork: .*? sleeps_per_conn=([0-9.]+)",
                 r"^prefork_select: .*? sleeps_per_conn=([0-9.]+)")
    repeats_csv("run_cpu_per_conn_us at 64, prefork vs select",
                "herd.csv", "run_cpu_per_conn_us", "prefork",
                "prefork_select --wait select", workers=64)
    repeats("run_cpu_per_conn_us, select at 1 vs 64",
            values("herd.csv", "run_cpu_per_conn_us", config="prefork_select --wait select",
                   workers=1),
            values("herd.csv", "run_cpu_per_conn_us", config="prefork_select --wait select",
                   workers=64))


def lab4():
    print("  | 16 children | sleeps / conn | spurious / conn |")
    print("  |---|---|---|")
    for c in HERD[2:]:
        print(f"  | `{c}` | {herd(c, 16)} | {herd(c, 16, 'spurious_per_conn', 3)} |")
    herd_table(HERD[2:])
    for c in HERD[2:]:
        show(f"distribution low, Jain {c}", dist(c, "low"))
    for w in ("select", "poll", "epoll"):
        for field in ("sleeps_per_conn", "spurious_per_conn"):
            show(f"lab step 1, --wait {w}: {field}",
                 grab(4, r"^--wait " + w + r"\n.*? " + field + r"=([0-9.]+)"))
    step1 = {w: {f: nums(4, r"^--wait " + w + r"\n.*? " + f + r"=([0-9.]+)")
                 for f in ("sleeps_per_conn", "spurious_per_conn")}
             for w in ("select", "poll", "epoll", "epoll-exclusive")}
    repeats("lab step 1, sleeps/conn, select vs epoll-exclusive",
            step1["select"]["sleeps_per_conn"], step1["epoll-exclusive"]["sleeps_per_conn"])
    for a, b in (("select", "poll"), ("poll", "epoll"), ("select", "epoll")):
        repeats(f"lab step 1, sleeps/conn, {a} vs {b}",
                step1[a]["sleeps_per_conn"], step1[b]["sleeps_per_conn"])
        repeats(f"lab step 1, spurious/conn, {a} vs {b}",
                step1[a]["spurious_per_conn"], step1[b]["spurious_per_conn"])
    repeats_csv("distribution low, Jain, epoll vs epoll-exclusive",
                "distribution.csv", "jain", "prefork_select --wait epoll",
                "prefork_select --wait epoll-exclusive", load="low")


def lab5():
    print("  | 8 children | low: Jain | low: busiest share | high: Jain | high: busiest share |")
    print("  |---|---|---|---|---|")
    for c in HERD:
        print(f"  | `{c}` | {dist(c, 'low')} | {dist(c, 'low', 'max_share')} | "
              f"{dist(c, 'high')} | {dist(c, 'high', 'max_share')} |")
    out = lab_output(5)
    low = re.findall(r"^prefork --dispatch pass-fd\n.*?connections=200 .*? max_share=([0-9.]+) "
                     r"jain=([0-9.]+)", out, re.M)
    show("lab step 1, pass-fd low: Jain", span([float(j) for _, j in low], 2))
    show("lab step 1, pass-fd low: busiest share", span([float(m) for m, _ in low], 2))
    high = re.findall(r"^prefork --dispatch pass-fd\n.*?connections=320 .*? jain=([0-9.]+)", out, re.M)
    show("lab step 2, pass-fd high: Jain", span([float(j) for j in high], 2))
    show("lab step 3, accept µs/conn", grab(5, r"--dispatch accept: .*?cpu_per_conn_us=([0-9.]+)", 1))
    show("lab step 3, pass-fd µs/conn", grab(5, r"--dispatch pass-fd: .*?cpu_per_conn_us=([0-9.]+)", 1))
    show("fig30.1 prefork --dispatch pass-fd µs/conn", fig("prefork --dispatch pass-fd"))
    show("fig30.1 prefork µs/conn", fig("prefork"))
    ratio = [p / a for p, a in zip(values("fig30.1.csv", "cpu_per_conn_us", config="prefork --dispatch pass-fd"),
                                   values("fig30.1.csv", "cpu_per_conn_us", config="prefork"))]
    show("fig30.1 pass-fd / prefork, run by run", span(ratio, 2))
    repeats_grab("lab step 3, accept vs pass-fd CPU/conn", 5,
                 r"--dispatch accept: .*?cpu_per_conn_us=([0-9.]+)",
                 r"--dispatch pass-fd: .*?cpu_per_conn_us=([0-9.]+)")
    repeats_csv("fig30.1, prefork vs pass-fd",
                "fig30.1.csv", "cpu_per_conn_us", "prefork",
                "prefork --dispatch pass-fd")
    repeats_csv("distribution low, Jain, prefork vs --reuseport",
                "distribution.csv", "jain", "prefork",
                "prefork_select --reuseport", load="low")


def lab6():
    for c in ("fork_per_conn", "threaded", "threaded --pool 4", "threaded --pool 4 --pool-mode queue",
              "prefork --workers 4"):
        show(f"step 1 {c} µs/conn",
             grab(6, re.escape(c) + r"\s+([0-9.]+) µs per connection", 1))
    for c in ("fork_per_conn", "threaded", "threaded --pool-mode accept-lock",
              "threaded --pool-mode queue", "prefork"):
        show(f"fig30.1 {c} µs/conn", fig(c))
    for c in ("fork_per_conn --max-procs 400", "threaded", "multiplex"):
        show(f"step 3 {c} KiB/conn",
             grab(6, re.escape(c) + r":\n.*?\nmemory: .*?: ([0-9.]+) KiB per answered", 1))
    for c in ("fork_per_conn", "threaded", "multiplex --workers 1", "coroutine --workers 1"):
        show(f"memory {c}", memory(c))
    step1 = {c: nums(6, re.escape(c) + r"\s+([0-9.]+) µs per connection")
             for c in ("fork_per_conn", "threaded", "threaded --pool 4",
                       "threaded --pool 4 --pool-mode queue", "prefork --workers 4")}
    for a, b in (("fork_per_conn", "threaded"), ("threaded", "threaded --pool 4"),
                 ("threaded --pool 4", "threaded --pool 4 --pool-mode queue"),
                 ("threaded --pool 4", "prefork --workers 4")):
        repeats(f"step 1, {a} vs {b}", step1[a], step1[b])
    repeats_csv("fig30.1, threaded accept-lock vs queue",
                "fig30.1.csv", "cpu_per_conn_us", "threaded --pool-mode accept-lock",
                "threaded --pool-mode queue")
    step3 = {c: nums(6, re.escape(c) + r":\n.*?\nmemory: .*?: ([0-9.]+) KiB per answered")
             for c in ("fork_per_conn --max-procs 400", "threaded", "multiplex")}
    repeats("step 3, fork_per_conn vs threaded KiB/conn",
            step3["fork_per_conn --max-procs 400"], step3["threaded"])
    repeats("step 3, threaded vs multiplex KiB/conn", step3["threaded"], step3["multiplex"])


def lab7():
    show("step 1 blocking lines", grab(7, r"common/http_conn.c: +([0-9]+) lines", 0))
    show("step 1 state machine lines", grab(7, r"conn.h: +([0-9]+) lines", 0))
    show("step 2 (s)", grab(7, r"20 x /lab/sleep/300 on one loop: ([0-9.]+) s"))
    show("step 3 multiplex (s)", grab(7, r"multiplex: /hello.txt during the spin took ([0-9.]+) s"))
    show("step 3 threaded (s)", grab(7, r"threaded: /hello.txt during the spin took ([0-9.]+) s"))
    show("step 4 select: 503s", grab(7, r"--backend select:\nanswers: 200=[0-9]+ 503=([0-9]+)", 0))
    show("step 4 poll: 200s", grab(7, r"--backend poll:\nanswers: 200=([0-9]+)", 0))
    for c in ("multiplex --workers 1", "threaded", "prefork"):
        show(f"slow-handler {c} req/s", slow(c))
    show("memory multiplex", memory("multiplex --workers 1"))
    repeats_grab("step 3, multiplex vs threaded", 7,
                 r"multiplex: /hello.txt during the spin took ([0-9.]+) s",
                 r"threaded: /hello.txt during the spin took ([0-9.]+) s")
    repeats_csv("slow-handler, multiplex vs prefork",
                "slow-handler.csv", "req_per_s", "multiplex --workers 1",
                "prefork")
    repeats_csv("slow-handler, multiplex vs threaded",
                "slow-handler.csv", "req_per_s", "multiplex --workers 1",
                "threaded")


def lab8():
    show("step 2 (s)", grab(8, r"64 x /lab/sleep/500 on one loop: ([0-9.]+) s"))
    for c in ("coroutine", "multiplex", "threaded"):
        show(f"step 3 {c} KiB/conn",
             grab(8, "^" + c + r":\n.*?\nmemory: .*?: ([0-9.]+) KiB per answered", 1))
        show(f"step 3 {c} new client (s)",
             grab(8, "^" + c + r":\n(?:.*\n){2}a new client while they are held: 200 in ([0-9.]+) s", 3))
    show("step 4 descriptors held", grab(8, r"server descriptors: ([0-9]+) while held", 0))
    show("step 4 descriptors after", grab(8, r"while held, ([0-9]+) 3.5 s later", 0))
    show("step 5 (s)", grab(8, r"^/hello.txt during the spin took ([0-9.]+) s"))
    for name in ("ours (coro_switch.S, x86-64)", "swapcontext"):
        show(f"coro-switch {name} ns", span(values("coro-switch.csv", "ns_per_switch", name=name)))
    for c in ("coroutine --workers 1", "multiplex --workers 1", "threaded"):
        show(f"slow-handler {c} req/s", slow(c))
    show("memory coroutine", memory("coroutine --workers 1"))
    show("memory coroutine --no-file-cache", memory("coroutine --no-file-cache"))
    for c in ("coroutine --workers 1", "multiplex --workers 1", "coroutine --no-file-cache"):
        for clients in (16, 256):
            show(f"throughput keep-alive c={clients} {c} µs CPU/request",
                 tput(c, "keepalive", clients, "cpu_per_req_us"))
    step3 = {c: nums(8, "^" + c + r":\n.*?\nmemory: .*?: ([0-9.]+) KiB per answered")
             for c in ("coroutine", "multiplex", "threaded")}
    repeats("step 3, coroutine vs multiplex KiB/conn", step3["coroutine"], step3["multiplex"])
    repeats("step 3, coroutine vs threaded KiB/conn", step3["coroutine"], step3["threaded"])
    repeats("coro-switch, ours vs swapcontext",
            values("coro-switch.csv", "ns_per_switch", name="ours (coro_switch.S, x86-64)"),
            values("coro-switch.csv", "ns_per_switch", name="swapcontext"))
    for clients in (16, 256):
        repeats_csv(f"throughput keep-alive c={clients}, coroutine vs multiplex µs CPU/request",
                    "throughput.csv", "cpu_per_req_us", "coroutine --workers 1",
                    "multiplex --workers 1", mode="keepalive", clients=clients)


def lab9_knees():
    """Per recorded run of step 1: (the knee M/M/1 predicts from its D, the knee
    measured: the highest load whose p99 < 10 ms with every request answered)."""
    found = []
    for block in re.split(r"^## run \d+, block at line \d+: exit \d+\n", lab_output(9), flags=re.M):
        demand = re.search(r"^capacity: [0-9]+ requests/s; D: ([0-9.]+) µs", block, re.M)
        loads = re.findall(r"^load ([0-9]+) % \(([0-9]+)/s\): answered ([0-9]+), p50 [0-9]+ µs, "
                           r"p99 ([0-9]+) µs", block, re.M)
        if demand and loads:
            good = [int(load) for load, rate, answered, p99 in loads
                    if int(p99) < 10000 and answered == rate]
            found.append((1 - math.log(100) * float(demand.group(1)) / 10000,
                          max(good) / 100 if good else None))
    return found


def lab9():
    show("step 1 capacity (req/s)", grab(9, r"^capacity: ([0-9]+) requests/s", 0))
    show("step 1 D (µs per request)", grab(9, r"^capacity: .*; D: ([0-9.]+) µs", 1))
    for load in (30, 60, 80, 90, 95, 100, 110):
        show(f"step 1 p99 at {load} % (ms)",
             span([x / 1000 for x in nums(9, rf"^load {load} % .* p99 ([0-9]+) µs")], 1))
    show("step 1 knee per run, predicted (M/M/1) / measured",
         ", ".join(f"{p:.3f} / {'none' if m is None else f'{m:g}'}" for p, m in lab9_knees()))
    for server in ("iterative", "prefork --workers 8", "threaded", "coroutine"):
        show(f"step 2 {server} answered of 2000",
             grab(9, "^" + re.escape(server) + r": answered ([0-9]+) / 2000", 0))
        show(f"step 2 {server} p99 (ms)",
             grab(9, "^" + re.escape(server) + r": answered [0-9]+ / 2000, p99 ([0-9]+) ms", 0))
    for limit in (1000, 1000000):
        show(f"step 3 wrk p99, --keepalive-requests {limit} (ms)",
             grab(9, rf"^wrk, prefork --keepalive-requests {limit}:\n +99% +([0-9.]+)ms", 1))
        show(f"step 3 wrk answers in its second, --keepalive-requests {limit}",
             grab(9, rf"^wrk, prefork --keepalive-requests {limit}:\n.*\n +([0-9]+) requests in", 0))
    show("step 3 the stall's p99 (ms)",
         span([x / 1000 for x in nums(9, r"200/s during a 1 s request: p99, in µs  \(([0-9]+) >=")], 0))
    for server in ("threaded", "coroutine", "multiplex --backend epoll"):
        show(f"step 5 {server} KiB per idle connection",
             grab(9, "^" + re.escape(server) + r" --max-conns 20000: answers: 200=10000 .*: "
                  r"([0-9.]+) KiB per answered", 1))


def main():
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    with open(os.path.join(HERE, "metadata.json")) as f:
        m = json.load(f)
    print(f"make bench of {m['date_utc']} on {m['host']}: {m['kernel']}, {m['cpu_model']}, "
          f"{m['cores_online']} cores, {m['set']} set")
    labs = [int(a) for a in sys.argv[1:]] or range(1, 10)
    for lab in labs:
        print(f"lab {lab}:")
        globals()[f"lab{lab}"]()


if __name__ == "__main__":
    main()
