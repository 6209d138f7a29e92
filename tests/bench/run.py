#!/usr/bin/env python3
"""The bench's open-loop client (bench/client.c `rate`) checked end to end, bounded
in time and count, traffic only to 127.0.0.1, every server stopped by PID.

usage: run.py [--bin-dir DIR] [--only CASE[,CASE]]
Cases:
  sleep        coroutine, GET /lab/sleep/50 at 100/s on 8 connections: p50 is
               50 ms give or take (the histogram's 1 %), every request answered
  stall        iterative busy 1 s with /lab/sleep/1000: the open-loop client at
               200/s shows p99 >= 500 ms, while a closed-loop client (the next
               request only after the last answer, as wrk does) shows p99 < 500 ms
  unanswered   prefork --workers 1 and 4 keep-alive connections: the three it never
               takes count as unanswered with latency >= the run, never dropped
  refused      a port nobody listens on: every request failed, none answered
  status       GET /missing: a 404 is counted failed, not answered
  conns1000    coroutine, 1000 keep-alive connections: all connected, all answered
  addresses    400 connections with 100 per source address: 127.0.0.1 to .4 are
               used (the server sees them), all connected, all answered
  limits       more connections than RLIMIT_NOFILE allows, and bad arguments:
               exit status 2 and one line naming the problem
  sessions     client sessions (partly open): coroutine completes every session of
               3 requests with a think time, the same arrivals in two runs, a session
               time of the think times; iterative, one session at a time, leaves most
               unanswered, each counted, none dropped
  little       coroutine, GET /lab/sleep/20 at 200/s on 8 connections: Little's law
               holds, the requests in flight the client sampled = throughput x mean
               latency within bench/queueing.py's tolerance, and about 200/s x 20 ms
  pipeline     coroutine --keepalive-requests 3, GET /lab/sleep/10 at 400/s on 2
               connections, up to 8 pipelined on each: the requests in flight when
               the server closes go again on the next connection, every one
               answered, none failed; and iterative busy 300 ms with another
               connection: the answers that then arrive together are each counted
  warm         the warm-up (`warm`: one request per connection answered before the
               clock starts) is never in the record: coroutine, 4 connections, all
               4 warmed and exactly the scheduled requests answered; prefork
               --workers 1: 1 of 4 warmed, the other 3 connections' requests
               unanswered, as without it
  capacity     the latency experiment's rules on made-up runs (CAPACITY_CASES,
               FLAG_CASES): a capacity run's busy and waiting shares -> its capacity
               and verdict (server-bound, client-bound); Little's law's and the
               client's own flags on a RATE line, as bench.py sets them
  queueing     bench/queueing.py against known values (QUEUEING_CASES): Erlang C,
               M/M/1 and M/M/c percentiles and means, M/D/1 (Pollaczek-Khinchine, and
               its tail against a simulation), the predicted knee
  compare      bench/compare.py on made-up results folders (COMPARE_CASES): a figure
               inside its band is quiet, one outside is listed up or down, a shift
               every configuration shares scales the bands, a figure or an
               experiment in one folder only is listed as such
  at-once      bench/configs.py waits_at_once (the slow-upstream experiment's N, its
               Little's-law ceiling N / L) read from each server's own stats file
               (AT_ONCE_CASES): iterative 1, fork_per_conn --max-procs, a pool its
               workers, none for a thread per connection or an event loop
  spares       multiplex (epoll, select) and coroutine: 64 connections pipelining 2
               requests each, asked far more than answered, cost at most 0.05 page
               faults per answer: the buffer pool reuses its buffers instead of
               mapping fresh ones as the number in hand swings (DOC: bufpool-spares)
The client is compiled from bench/client.c and bench/histogram.c into a temporary
directory. Ends with "bench: N passed, N failed".
"""
import argparse
import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testserver as ts  # noqa: E402

CASES = ["sleep", "stall", "unanswered", "refused", "status", "conns1000", "addresses",
         "limits", "sessions", "little", "pipeline", "warm", "capacity", "queueing",
         "compare", "at-once", "spares"]

sys.path.insert(0, os.path.join(ts.ROOT, "bench"))
import configs  # noqa: E402
import queueing as qt  # noqa: E402

# capacity: (name, answered req/s, busy, waiting, the cores' idle share (None:
# not read), the capacity and verdict queueing.capacity_verdict must give).
CAPACITY_CASES = [
    ("busy all along on its own core: server-bound, the rate answered",
     50000, 0.97, 0.01, 0.02, (50000, "server-bound")),
    ("half its core, the other half held by other work: still server-bound",
     25000, 0.5, 0.45, 0.0, (25000, "server-bound")),
    ("busy + waiting exactly SATURATED (0.6 + 0.3): server-bound",
     30000, 0.6, 0.3, None, (30000, "server-bound")),
    ("idle 0.6 of the time on a core of its own: client-bound, answered / 0.4 (= c / D)",
     20000, 0.4, 0.0, 0.6, (50000, "client-bound")),
    ("0.5 + 0.3: client-bound, answered / 0.8",
     20000, 0.5, 0.3, 0.2, (25000, "client-bound")),
    ("64 threads' waits sum to 3.0 but the core was idle 0.3: wanted 0.7, client-bound",
     21000, 0.4, 3.0, 0.3, (30000, "client-bound")),
    ("many threads' waits, the core never idle: server-bound",
     40000, 0.6, 2.5, 0.0, (40000, "server-bound")),
    ("no schedstat: not measured, the rate answered",
     20000, None, None, 0.5, (20000, "not measured")),
]

# capacity: (name, the RATE line's numbers, the flags bench.py's client_checks
# must set, by their first words). X·W = completed / elapsed_s x mean_us.
FLAG_CASES = [
    ("Little's law holds exactly", dict(inflight=4.0, rate=200, send_rate=200), []),
    ("in flight 9.75 % above X·W: within 10 %", dict(inflight=4.39, rate=200, send_rate=200), []),
    ("in flight 12.5 % above X·W: missed", dict(inflight=4.5, rate=200, send_rate=200),
     ["Little's law missed"]),
    ("in flight 12.5 % below X·W: missed", dict(inflight=3.5, rate=200, send_rate=200),
     ["Little's law missed"]),
    ("under one in flight: 0.05 request of slack",
     dict(inflight=0.04, completed=0, rate=200, send_rate=200), []),
    ("under one in flight: 0.06 missed", dict(inflight=0.06, completed=0, rate=200,
                                              send_rate=200), ["Little's law missed"]),
    ("sent at 97 % of the rate: not short", dict(inflight=4.0, rate=1000, send_rate=970), []),
    ("sent at 96 % of the rate: client short", dict(inflight=4.0, rate=1000, send_rate=960),
     ["client short"]),
    ("both", dict(inflight=5.0, rate=1000, send_rate=500), ["Little's law missed", "client short"]),
]

# queueing: (name, what bench/queueing.py computes, the known value, relative tolerance).
# Erlang C by hand: C(c, a) = (a^c / c!) (c / (c - a)) / (sum_{k<c} a^k / k! + that);
# C(3, 2) = (4/3 * 3) / (1 + 2 + 2 + 4) = 4/9.
QUEUEING_CASES = [
    ("Erlang C, 1 server, a = 0.5: M/M/1 waits with probability rho",
     lambda: qt.erlang_c(1, 0.5), 0.5, 1e-9),
    ("Erlang C, 2 servers, a = 1", lambda: qt.erlang_c(2, 1), 1 / 3, 1e-9),
    ("Erlang C, 3 servers, a = 2", lambda: qt.erlang_c(3, 2), 4 / 9, 1e-9),
    ("Erlang C, 11 servers, a = 10", lambda: qt.erlang_c(11, 10), 0.6821, 1e-3),
    ("Erlang C, a >= c: unstable, no answer", lambda: qt.erlang_c(2, 2) is None, True, 0),
    ("M/M/1 p99 = ln(100) D / (1 - rho), D 20 µs, rho 0.9",
     lambda: qt.mmc_sojourn(1, 0.9 / 20e-6, 20e-6, 99), math.log(100) * 20e-6 / 0.1, 1e-6),
    ("M/M/1 p50 = ln(2) D / (1 - rho), D 1 s, rho 0.5",
     lambda: qt.mmc_sojourn(1, 0.5, 1.0, 50), math.log(2) / 0.5, 1e-6),
    ("M/M/c mean = D + C / (c/D - lam): c 2, lam 1, D 1 -> 1 + (1/3) / 1",
     lambda: qt.mmc_mean(2, 1, 1), 4 / 3, 1e-9),
    ("M/M/2 p99 between M/M/1's at the same rho and the service alone",
     lambda: math.log(100) < qt.mmc_sojourn(2, 1.6, 1, 99) < math.log(100) / 0.2, True, 0),
    ("M/D/1 mean (Pollaczek-Khinchine): D 1, rho 0.8 -> 1 + 0.8 / 0.4",
     lambda: qt.md1_mean(0.8, 1), 3.0, 1e-9),
    ("M/D/1 p99 from the exponential tail within 5 % of Lindley's recursion, rho 0.8",
     lambda: qt.md1_sojourn(0.8, 1, 99),
     sorted(qt.lindley_md1(0.8, 1, 200000))[int(0.99 * 200000)], 0.05),
    ("the predicted knee of M/M/1, D 20 µs, p99 10 ms: rho = 1 - ln(100) D / 10 ms",
     lambda: qt.knee_rho(1, 20e-6, 0.01), 1 - math.log(100) * 20e-6 / 0.01, 1e-6),
]

# compare: (name, before runs, after runs per configuration, what compare.py must
# say of configuration "x"). Four more configurations "o1".."o4", each with
# before runs [100, 110, 120], and after runs "others" give the run's shift.
# The band of x with before [100, 110, 120]: 100 - 16.5 .. 120 + 16.5 (MARGIN 15 %
# of the median 110), times the shift.
COMPARE_CASES = [
    ("inside its band", [100, 110, 120], [130, 135], [110], ""),
    ("above its band", [100, 110, 120], [140, 150], [110], "up: worse"),
    ("below its band", [100, 110, 120], [80, 82], [110], "down: better"),
    ("one run each side, inside the margin", [100], [114], [110], ""),
    ("every configuration twice as dear: x too, quiet", [100, 110, 120], [220, 230], [220], ""),
    ("every configuration twice as dear, x four times", [100, 110, 120], [440, 450], [220],
     "up: worse"),
    ("x only after", [], [100], [110], "only after"),
    ("x only before", [100, 110, 120], [], [110], "only before"),
]


# at-once: (configuration, the N of waits_at_once from its stats file; None: no
# N, the model is bound by its CPU). The counts are odd ones, so that a default
# read in place of the option shows.
AT_ONCE_CASES = [
    ("iterative", 1),
    ("fork_per_conn --max-procs 12", 12),
    ("prefork --workers 3", 3),
    ("prefork_select --workers 5 --wait epoll", 5),
    ("threaded --pool 6 --pool-mode queue", 6),
    ("threaded --pool 7 --pool-mode accept-lock", 7),
    ("threaded", None),
    ("multiplex --workers 2", None),
    ("coroutine", None),
]


def stats_of(bins, config, root, directory):
    """The stats file config writes when it is started and stopped at once."""
    path = os.path.join(directory, "stats.json")
    with ts.Server(bins, config, root=root, extra=["--stats-file", path]):
        pass
    with open(path) as f:
        return json.load(f)


SPARES_CONFIGS = ["multiplex --backend epoll", "multiplex --backend select", "coroutine"]
SPARES_FAULTS_BOUND = 0.05   # page faults per answer; 0.3-0.6 when buffers churned


@contextlib.contextmanager
def pinned_apart(pid):
    """The server (pid, one thread) on the first CPU and this process and the
    clients it starts on the others, as the bench pins them: the server then
    answers as the client's bursts arrive, and its buffers in hand swing."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield
        return
    os.sched_setaffinity(pid, {cpus[0]})
    os.sched_setaffinity(0, set(cpus[1:]))
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(cpus))


def minor_faults(pid):
    """The minor page faults process pid has taken (/proc/PID/stat, field 10)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def build_client(directory):
    binary = os.path.join(directory, "client")
    subprocess.run([os.environ.get("CC", "cc"), "-std=c17", "-O2", "-D_GNU_SOURCE", "-o", binary,
                    os.path.join(ts.ROOT, "bench", "client.c"),
                    os.path.join(ts.ROOT, "bench", "histogram.c"), "-lm"],
                   check=True, capture_output=True, text=True)
    return binary


def rate(client, port, path, conns, per_s, seconds, mode="keepalive", drain_ms=1000, env=None,
         depth=1, warm=False):
    """Run `client rate`; its RATE line as a dict of numbers, plus the exit status."""
    argv = [client, "rate", "127.0.0.1", str(port), path, str(conns), str(per_s), str(seconds),
            mode, str(drain_ms), str(depth)] + (["warm"] if warm else [])
    res = subprocess.run(argv, capture_output=True, text=True,
                         timeout=seconds + drain_ms / 1000 + 30,
                         env=dict(os.environ, **env) if env else None)
    line = next((l for l in res.stdout.splitlines() if l.startswith("RATE ")), "")
    got = {}
    for kv in line.split()[1:]:
        k, v = kv.split("=", 1)
        try:
            got[k] = float(v)
        except ValueError:
            got[k] = v
    got["status"], got["stderr"] = res.returncode, res.stderr.strip()
    return got


def sessions(client, port, k, per_s, seconds, think_ms, drain_ms=500):
    """Run `client sessions`; its SESSIONS line as a dict of numbers, plus the exit status."""
    argv = [client, "sessions", "127.0.0.1", str(port), "/a.txt", str(k), str(per_s),
            str(seconds), str(think_ms), str(drain_ms)]
    res = subprocess.run(argv, capture_output=True, text=True,
                         timeout=seconds + drain_ms / 1000 + 30)
    line = next((l for l in res.stdout.splitlines() if l.startswith("SESSIONS ")), "")
    got = {k: float(v) for k, _, v in (kv.partition("=") for kv in line.split()[1:])}
    got["status"], got["stderr"] = res.returncode, res.stderr.strip()
    return got


def consistent(got):
    """scheduled = answered + failed + unanswered: no request is ever dropped."""
    return got.get("scheduled", -1) == got.get("answered", 0) + got.get("failed", 0) + \
        got.get("unanswered", 0)


def brief(got):
    keys = ("scheduled", "answered", "failed", "unanswered", "p50_us", "p99_us", "max_us")
    return " ".join(f"{k}={got.get(k)}" for k in keys) + (f" stderr={got['stderr']!r}"
                                                          if got.get("stderr") else "")


def stall(port, ms):
    """A connection that asks for /lab/sleep/MS: an iterative server is busy with it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET /lab/sleep/{ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    time.sleep(0.1)         # accepted and sleeping before the load starts
    return s


def closed_loop(port, seconds):
    """What a closed-loop tool does: one client, the next request only after the
    last answer, each timed from its own send. Returns the latencies in ms."""
    latencies, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
        latencies.append((time.monotonic() - start) * 1000)
    return latencies


def p99(values):
    ranked = sorted(values)
    return ranked[max(0, -(-len(ranked) * 99 // 100) - 1)] if ranked else None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = [c for c in args.only.split(",") if c] or CASES
    for c in only:
        if c not in CASES:
            ap.error(f"unknown case {c!r}; choose from {', '.join(CASES)}")
    results = ts.Results("bench")
    tmp = tempfile.mkdtemp(prefix="bench-suite-")
    root = ts.make_root(os.path.join(tmp, "www"))
    client = build_client(tmp)
    bins = os.path.realpath(args.bin_dir)

    if "sleep" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            got = rate(client, server.port, "/lab/sleep/50", 8, 100, 1.5)
        # 49.5: the histogram reports a bucket's middle, within 1 % of the values in
        # it (bench/histogram.h); 50.0-50.17 ms fall in a bucket reported as 49.92.
        results.check("sleep: p50 of /lab/sleep/50 is 50-80 ms (less 1 %), all answered",
                      got["status"] == 0 and 49500 <= got.get("p50_us", 0) <= 80000
                      and got.get("answered") == got.get("scheduled") == 150
                      and consistent(got), brief(got))

    if "stall" in only:
        with ts.Server(bins, "iterative", root=root) as server:
            busy = stall(server.port, 1000)
            got = rate(client, server.port, "/a.txt", 1, 200, 2.5, "close")
            busy.close()
            busy = stall(server.port, 1000)
            closed = closed_loop(server.port, 2.5)
            busy.close()
        results.check("stall: open loop at 200/s sees the 1 s stall, p99 >= 500 ms",
                      got["status"] == 0 and got.get("p99_us", 0) >= 500000
                      and got.get("answered") == got.get("scheduled") and consistent(got),
                      brief(got))
        results.check("stall: a closed-loop client on the same stall reports p99 < 500 ms",
                      len(closed) > 100 and p99(closed) < 500,
                      f"{len(closed)} requests, p99 {p99(closed)} ms")

    if "unanswered" in only:
        with ts.Server(bins, "prefork --workers 1", root=root) as server:
            got = rate(client, server.port, "/a.txt", 4, 100, 1, drain_ms=500)
        # Connection 0 is served; 1-3 wait in the listen queue until the end.
        results.check("unanswered: 3 of 4 connections never taken, counted, not dropped",
                      got["status"] == 0 and got.get("scheduled") == 100
                      and got.get("unanswered") == 75 and got.get("answered") == 25
                      and got.get("connected") == 4 and consistent(got)
                      and got.get("max_us", 0) >= 1400000 and got.get("p90_us", 0) >= 500000,
                      brief(got))

    if "refused" in only:
        with socket.socket() as s:      # a port that was free a moment ago
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        got = rate(client, port, "/a.txt", 2, 50, 0.4, "close", drain_ms=200)
        results.check("refused: every request failed, none answered",
                      got["status"] == 0 and got.get("scheduled") == 20
                      and got.get("failed") == 20 and got.get("answered") == 0
                      and consistent(got), brief(got))

    if "status" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            got = rate(client, server.port, "/missing", 2, 100, 0.5)
        results.check("status: 404 answers are failed, not answered",
                      got["status"] == 0 and got.get("failed") == 50
                      and got.get("answered") == 0 and consistent(got), brief(got))

    if "conns1000" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            got = rate(client, server.port, "/a.txt", 1000, 2000, 1)
        results.check("conns1000: 1000 keep-alive connections up, every request answered",
                      got["status"] == 0 and got.get("connected") == 1000
                      and got.get("answered") == got.get("scheduled") == 2000
                      and consistent(got), brief(got))

    if "addresses" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            peers = {}

            def watch():
                """The source addresses of the server's established connections."""
                out = subprocess.run(["ss", "-Htn", "state", "established",
                                      f"( dport = :{server.port} )"],
                                     capture_output=True, text=True).stdout
                for line in out.splitlines():
                    local = line.split()[-2]
                    peers[local.rsplit(":", 1)[0]] = peers.get(local.rsplit(":", 1)[0], 0) + 1

            argv = [client, "rate", "127.0.0.1", str(server.port), "/a.txt", "400", "400", "1.5"]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                    env=dict(os.environ, CLIENT_CONNS_PER_ADDR="100"))
            proc.stdout.readline()          # the connections are up
            watch()
            out, _ = proc.communicate(timeout=30)
            got = {k: v for k, _, v in (kv.partition("=") for kv in
                                        next(l for l in out.splitlines()
                                             if l.startswith("RATE ")).split()[1:])}
        results.check("addresses: 400 connections from 127.0.0.1-4, 100 each, all answered",
                      peers == {f"127.0.0.{i}": 100 for i in range(1, 5)}
                      and got.get("addrs") == "4" and got.get("connected") == "400"
                      and got.get("answered") == got.get("scheduled") == "600",
                      f"peers {peers}, {got}")

    if "limits" in only:
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < 100000:
            got = rate(client, 9, "/", 100000, 10, 0.1)
            results.check("limits: 100000 connections over the descriptor limit: exit 2, says so",
                          got["status"] == 2 and "RLIMIT_NOFILE" in got["stderr"], brief(got))
        for bad in (["0", "10", "1"], ["4", "0", "1"], ["4", "10", "x"]):
            res = subprocess.run([client, "rate", "127.0.0.1", "9", "/"] + bad,
                                 capture_output=True, text=True, timeout=10)
            results.check(f"limits: rate {' '.join(bad)} is refused with exit 2",
                          res.returncode == 2 and res.stderr.count("\n") == 1,
                          f"exit {res.returncode}, stderr {res.stderr!r}")
        res = subprocess.run([client, "rate", "127.0.0.1", "9", "/", "4", "10", "1", "pipelined"],
                             capture_output=True, text=True, timeout=10)
        results.check("limits: an unknown MODE is refused with exit 2",
                      res.returncode == 2 and "MODE" in res.stderr, res.stderr)

    if "sessions" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            runs = [sessions(client, server.port, 3, 50, 1, 10) for _ in range(2)]
        got = runs[0]
        results.check("sessions: coroutine completes every session, the same arrivals twice",
                      got["status"] == 0 and got.get("arrived", 0) >= 30
                      and got.get("completed") == got.get("arrived") == runs[1].get("arrived")
                      and got.get("failed") == got.get("unanswered") == 0,
                      f"{got} / arrived {runs[1].get('arrived')}")
        # Two think times of mean 10 ms: a median near 17 ms; without them, well under 5.
        results.check("sessions: a session's time holds its think times (p50 >= 5 ms)",
                      got.get("p50_us", 0) >= 5000 and got.get("request_p50_us", 1e9) < 5000,
                      f"p50_us={got.get('p50_us')} request_p50_us={got.get('request_p50_us')}")
        with ts.Server(bins, "iterative", root=root) as server:
            got = sessions(client, server.port, 3, 50, 1, 50, drain_ms=300)
        results.check("sessions: iterative, one session at a time: most unanswered, none dropped",
                      got["status"] == 0 and got.get("completed", 99) < got.get("arrived", 0) / 2
                      and got.get("completed", 0) + got.get("failed", 0)
                      + got.get("unanswered", 0) == got.get("arrived", -1), str(got))

    if "little" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            got = rate(client, server.port, "/lab/sleep/20", 8, 200, 1.5, drain_ms=500)
        little = (got.get("completed", 0) / got["elapsed_s"] * got.get("mean_us", 0) / 1e6
                  if got.get("elapsed_s") else 0)
        results.check("little: in flight sampled = throughput x mean latency, within tolerance",
                      got["status"] == 0 and got.get("completed") == got.get("scheduled") == 300
                      and abs(got.get("inflight", -1) - little)
                      <= max(qt.LITTLE_TOLERANCE * little, qt.LITTLE_FLOOR),
                      f"inflight={got.get('inflight')} X*W={little:.3f} {brief(got)}")
        results.check("little: about 200/s x 20 ms = 4 in flight (3.8 to 6)",
                      3.8 <= got.get("inflight", 0) <= 6, f"inflight={got.get('inflight')}")

    if "pipeline" in only:
        with ts.Server(bins, "coroutine", ["--keepalive-requests", "3"], root=root) as server:
            got = rate(client, server.port, "/lab/sleep/10", 2, 400, 0.5, drain_ms=3000, depth=8)
        # 200 requests, 100 per connection at twice what 10 ms each serves: the
        # pipeline fills, and the server closes under it after every third answer.
        results.check("pipeline: every request answered, none failed, the closed-under "
                      "ones sent again",
                      got["status"] == 0 and got.get("depth") == 8
                      and got.get("answered") == got.get("scheduled") == 200
                      and got.get("failed") == 0 and consistent(got)
                      and got.get("connects", 0) >= 60 and got.get("sent", 0) > 200,
                      brief(got) + f" connects={got.get('connects')} sent={got.get('sent')}")
        # iterative busy 500 ms with another connection: the requests due meanwhile
        # wait, 8 of them in the socket, and come back answered back to back,
        # several in one read. The first waits 500 ms less stall()'s 100 ms and
        # the client's own start (with 300 ms, 196 ms was seen in a make check).
        with ts.Server(bins, "iterative", root=root) as server:
            busy = stall(server.port, 500)
            got = rate(client, server.port, "/a.txt", 1, 100, 0.6, drain_ms=1000, depth=8)
            busy.close()
        results.check("pipeline: answers that arrive together are each counted",
                      got["status"] == 0 and got.get("answered") == got.get("scheduled") == 60
                      and got.get("failed") == 0 and consistent(got)
                      and got.get("p99_us", 0) >= 200000, brief(got))

    if "warm" in only:
        with ts.Server(bins, "coroutine", root=root) as server:
            got = rate(client, server.port, "/a.txt", 4, 100, 0.5, drain_ms=500, depth=8,
                       warm=True)
        results.check("warm: 4 connections warmed, the 50 scheduled answered, nothing more",
                      got["status"] == 0 and got.get("warmed") == 4
                      and got.get("answered") == got.get("scheduled") == got.get("sent") == 50
                      and got.get("failed") == 0 and consistent(got), brief(got))
        with ts.Server(bins, "prefork --workers 1", root=root) as server:
            got = rate(client, server.port, "/a.txt", 4, 100, 1, drain_ms=500, warm=True)
        results.check("warm: prefork --workers 1 warms 1 of 4; 3 connections' requests unanswered",
                      got["status"] == 0 and got.get("warmed") == 1
                      and got.get("scheduled") == 100 and got.get("answered") == 25
                      and got.get("unanswered") == 75 and consistent(got), brief(got))

    if "spares" in only:
        # DOC: bufpool-spares. 64 connections pipelining 2 requests each, asked
        # far more than the server answers: the number of buffers in hand
        # swings every loop round. With spares kept below that swing, each
        # swing mapped fresh buffers (0.3-0.6 page faults per request); with
        # the rule, the buffers are reused and the run faults almost never.
        for config in SPARES_CONFIGS:
            with ts.Server(bins, config, root=root,
                           extra=["--keepalive-requests", "1000000"]) as server, \
                    pinned_apart(server.pid):
                before = minor_faults(server.pid)
                got = rate(client, server.port, "/4k.bin", 64, 1000000, 0.5, drain_ms=100,
                           depth=2, warm=True)
                faults = minor_faults(server.pid) - before
            per = faults / max(1, got.get("answered") or 0)
            results.check(f"spares: {config}: {faults} page faults over {got.get('answered'):.0f} "
                          f"pipelined answers, {per:.3f} each (bound {SPARES_FAULTS_BOUND})",
                          got["status"] == 0 and (got.get("answered") or 0) > 1000
                          and per <= SPARES_FAULTS_BOUND, brief(got))

    if "capacity" in only:
        import bench as bn
        for name, answered, busy, waited, idle, want in CAPACITY_CASES:
            value = qt.capacity_verdict(answered, busy, waited, idle)
            results.check(f"capacity: {name}",
                          value[1] == want[1] and abs(value[0] - want[0]) <= 1e-6 * want[0],
                          f"computed {value}, want {want}")
        for name, numbers, want in FLAG_CASES:
            got = dict(dict(completed=800, elapsed_s=2.0, mean_us=10000), **numbers)
            row = {}
            flags = [f.split(":")[0] for f in bn.client_checks(row, got)]
            results.check(f"capacity: flags: {name}", flags == want,
                          f"flags {flags}, want {want} (X·W = {row.get('little')})")

    if "queueing" in only:
        for name, compute, want, tolerance in QUEUEING_CASES:
            value = compute()
            ok = (value == want if isinstance(want, bool) else
                  value is not None and abs(value - want) <= tolerance * abs(want))
            results.check(f"queueing: {name}", ok, f"computed {value}, known {want}")

    if "compare" in only:
        check_compare(results, tmp)

    if "at-once" in only:
        for config, want in AT_ONCE_CASES:
            got = configs.waits_at_once(stats_of(bins, config, root, tmp))
            results.check(f"at-once: {config} keeps {want or 'no bound of its workers'} "
                          "waiting at once", got == want, f"waits_at_once says {got}")

    subprocess.run(["rm", "-rf", tmp])
    return results.finish()


def write_fig30_1(folder, runs):
    """A results folder with a fig30.1.csv: runs is {configuration: [CPU per connection]}."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "fig30.1.csv"), "w") as f:
        f.write("experiment,config,rep,cpu_per_conn_us\n")
        for config, values in runs.items():
            for rep, value in enumerate(values, 1):
                f.write(f"fig30.1,{config},{rep},{value}\n")


def check_compare(results, tmp):
    sys.path.insert(0, os.path.join(ts.ROOT, "bench"))
    import compare
    for i, (name, before, after, others, want) in enumerate(COMPARE_CASES):
        a, b = os.path.join(tmp, f"compare-{i}-a"), os.path.join(tmp, f"compare-{i}-b")
        write_fig30_1(a, {"x": before, **{f"o{k}": [100, 110, 120] for k in range(1, 5)}})
        write_fig30_1(b, {"x": after, **{f"o{k}": others for k in range(1, 5)}})
        result = compare.compare(a, b)
        moved = {m[1]: m[7] for m in result["moved"]}
        sides = {f"only {side}" for experiment, what, side, _ in result["one_side"]
                 if what.startswith("x:")}
        said = moved.get("x") or next(iter(sides), "")
        results.check(f"compare: {name}: {want or 'not listed'}",
                      said == want and len(moved) == ("x" in moved), f"said {said!r}, {moved}")
    write_fig30_1(os.path.join(tmp, "compare-herd"), {"x": [1]})
    with open(os.path.join(tmp, "compare-herd", "herd.csv"), "w") as f:
        f.write("experiment,config,workers,sleeps_per_conn\nherd,x,4,1.0\n")
    result = compare.compare(os.path.join(tmp, "compare-herd"), os.path.join(tmp, "compare-0-a"))
    results.check("compare: an experiment in one folder only is listed as such",
                  ("herd", "every figure (the experiment ran in one only)", "before", "")
                  in result["one_side"], str(result["one_side"]))
    lines = compare.markdown(result, "A", "B")
    results.check("compare: the list names it", any("only before: the experiments herd" in l
                                                    for l in lines), "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
