#!/usr/bin/env python3
"""ranges.py [LAB] — the reference numbers each lab's *Expected observations*
quote, computed from the files in this directory: the CSVs of one `make bench`
run (metadata.json says which machine) and labs/*.txt, what the labs' own
command blocks printed in five runs (record.py). LAB is a number, 1-8; without
it, all eight. Each figure: the median, then min-max of the runs.
"""
import csv
import glob
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
    return f"{kb} KiB per answered connection ({int(statistics.median(answered))} answered)"


def tput(config, mode, clients, field="req_per_s", digits=1):
    return span(values("throughput.csv", field, config=config, mode=mode, clients=clients), digits)


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


def herd_table(configs, children=(1, 2, 4, 8, 16, 32, 64)):
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


def main():
    with open(os.path.join(HERE, "metadata.json")) as f:
        m = json.load(f)
    print(f"make bench of {m['date_utc']} on {m['host']}: {m['kernel']}, {m['cpu_model']}, "
          f"{m['cores_online']} cores, {m['set']} set")
    labs = [int(a) for a in sys.argv[1:]] or range(1, 9)
    for lab in labs:
        print(f"lab {lab}:")
        globals()[f"lab{lab}"]()


if __name__ == "__main__":
    main()
