"""greedy-client: a probe client's latency while one client never stops asking
(docs/results.md says how to read its plot).

Per model (the "model" rows: one configuration each), two loads, each from a child process pinned to
the client CPUs:
  pipeline  one connection pipelines GET of the bench file without pause, 200
            requests a write, a second thread reading the answers; it
            reconnects when the server ends the connection (--keepalive-requests).
  cpu       one connection pipelines GET /lab/cpu/100000 (100 ms of spinning
            each) without pause, and reconnects when the server ends it (the
            2 s /lab/cpu budget per connection answers 503 and closes).
Meanwhile a probe client makes up to greedy_probes GETs of the bench file (the
bench's SETTINGS: 20 by default, 50 with FULL=1), each on a new connection, 20 ms
apart, none started after greedy_window_s (1.5 s; 6 s): a model that makes each
wait seconds (iterative under the cpu load) gets a few. The row has their median,
p99 and slowest, and how many were answered within PROBE_TIMEOUT_S. The plot, greedy_client.png, is the
p99 per server for both loads, log scale.

bench.py registers the experiment; this file holds all of it, and runs itself
as the greedy child (`greedy.py --greedy PORT LOAD PATH SECONDS`), which the
fairness suite (tests/fairness/run.py) starts too.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

FIELDS = ["experiment", "config", "binary", "options", "load", "rep", "probes", "answered",
          "median_ms", "p99_ms", "max_ms", "greedy_mb", "greedy_connections", "flag"]
LOADS = ("pipeline", "cpu")
PROBE_GAP_S = 0.02
PROBE_TIMEOUT_S = 5.0
GREEDY_MAX_S = 60           # the greedy child gives up by itself after this


def greedy_main(port, load, path, seconds):
    """The greedy client: ask without pause, read everything, reconnect when
    the server ends the connection. Prints "mb=... connections=..."."""
    batch = (f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 200 if load == "pipeline"
             else b"GET /lab/cpu/100000 HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
    stop_at = time.monotonic() + min(seconds, GREEDY_MAX_S)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    received, connections = 0, 0
    while time.monotonic() < stop_at and not stopping.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            time.sleep(0.01)
            continue
        connections += 1
        closed = threading.Event()

        def reader(sock=sock, closed=closed):
            nonlocal received
            try:
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
            except OSError:
                pass
            closed.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            while not (closed.is_set() or stopping.is_set()) and time.monotonic() < stop_at:
                sock.sendall(batch)
        except OSError:
            pass
        sock.close()
        thread.join(2)
    print(f"mb={received / 1e6:.3f} connections={connections}", flush=True)


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def run(b, bench, cfg, load, rep):
    """One server, one load: a row. b is the bench module (its helpers)."""
    s = bench.s
    row = dict(experiment="greedy-client", config=cfg.label, binary=cfg.binary,
               options=" ".join(cfg.argv(s["pool"])), load=load, rep=rep,
               probes=s["greedy_probes"])
    try:
        server = bench.start(cfg, s["pool"])
    except b.StartError as error:
        row["flag"] = f"did not start: {error}"
        return row
    argv = bench.pin(bench.client_cpus) + [sys.executable, os.path.abspath(__file__), "--greedy",
                                           str(server.port), load, b.FILE, str(GREEDY_MAX_S)]
    bench.record_command(argv)
    greedy = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    latencies, problems = [], []
    try:
        time.sleep(0.3)                 # under way before the first probe
        window_end = time.monotonic() + s["greedy_window_s"]
        for _ in range(s["greedy_probes"]):
            if time.monotonic() > window_end:
                break
            ms, problem = b.timed_get(server.port, PROBE_TIMEOUT_S)
            if problem:
                problems.append(problem)
            else:
                latencies.append(ms)
            time.sleep(PROBE_GAP_S)
    finally:
        greedy.send_signal(signal.SIGTERM)
        try:
            out, _ = greedy.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            greedy.kill()
            out, _ = greedy.communicate()
    got = dict(kv.split("=") for kv in out.split() if "=" in kv)
    stats, problem = bench.stop(server)
    latencies.sort()
    flags = [f for f in (problem,) if f]
    if problems:
        flags.append(f"{len(problems)} probes failed: {problems[0]}")
    row.update(probes=len(latencies) + len(problems), answered=len(latencies), median_ms=percentile(latencies, 0.5),
               p99_ms=percentile(latencies, 0.99), max_ms=latencies[-1] if latencies else None,
               greedy_mb=float(got["mb"]) if "mb" in got else None,
               greedy_connections=int(got["connections"]) if "connections" in got else None,
               flag="; ".join(flags))
    return row


def draw(out, rows):
    """greedy_client.png: p99 per server, one bar per load, log scale. Returns ''
    or, when gnuplot failed, one line saying how, in bench/plots.py's words: the
    plot's run is flagged with it, so the bench's log line for it says so."""
    configs = []
    for row in rows:
        if row["config"] not in configs:
            configs.append(row["config"])
    p99 = {(r["config"], r["load"]): r.get("p99_ms") for r in rows}
    probes = {(r["config"], r["load"]): int(r.get("probes") or 0) for r in rows}
    most = max(probes.values(), default=0)
    src = os.path.join(out, "plots-src")
    os.makedirs(src, exist_ok=True)
    data = os.path.join(src, "greedy_client.tsv")
    with open(data, "w") as f:
        f.write("# config\t" + "\t".join(LOADS) + "\n")
        for config in configs:
            values = [p99.get((config, load)) for load in LOADS]
            # A model that makes each probe wait sends fewer in the window: say how many.
            fewer = [f"{load}: {probes[(config, load)]}" for load in LOADS
                     if (config, load) in probes and probes[(config, load)] < most]
            label = config + (f" ({', '.join(fewer)} probes)" if fewer else "")
            # An unanswered probe has no latency: drawn at the probe timeout.
            f.write(label + "\t" + "\t".join(
                f"{v:.3f}" if v is not None else f"{PROBE_TIMEOUT_S * 1000:.0f}"
                for v in values) + "\n")
    script = os.path.join(src, "greedy_client.gp")
    with open(script, "w") as f:
        f.write(f"""set terminal png size 1100,650 noenhanced
set output '{os.path.join(out, "greedy_client.png")}'
set title "A probe's GET while one client never stops asking (p99 of {most} probes, or as many as the window allowed)\\nthe line: the fairness suite's bound for the GET load where a worker is free, 50 ms"
set ylabel 'probe latency p99, ms (log)'
set logscale y
set yrange [0.05:{PROBE_TIMEOUT_S * 2000:.0f}]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30
set key outside bottom center horizontal
set arrow from graph 0, first 50 to graph 1, first 50 nohead dashtype 2
set datafile separator '\\t'
plot '{data}' using 2:xtic(1) title 'one client pipelines GET', \\
     '' using 3 title 'one client pipelines /lab/cpu/100000'
""")
    try:
        res = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60)
        noise = [line.strip() for line in res.stderr.splitlines() if line.strip()]
        problem = (f"exit status {res.returncode}: " + " | ".join(noise[-3:])
                   if res.returncode != 0 else "")
    except (OSError, subprocess.TimeoutExpired) as error:
        problem = str(error)
    return f"plots: gnuplot greedy_client: {problem}" if problem else ""


def experiment(b, bench, csvs):
    """The greedy-client runs, then the plot; b is the bench module."""
    cfgs = b.present(bench, [c for c in bench.configs if "model" in c.groups and not c.reference])
    out = csvs("greedy-client", FIELDS)
    e = b.Experiment(bench, "greedy-client", FIELDS)
    rows = []
    for cfg in cfgs:
        for load in LOADS:
            def fn(cfg=cfg, load=load):
                row = run(b, bench, cfg, load, 1)
                out.row(row)
                rows.append(row)
                return row
            e.add(f"greedy-client {b.describe(cfg, bench.s['pool'])} {load}", fn)
    e.add("greedy-client plot", lambda: {"flag": draw(bench.out, rows)})
    return e


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--greedy":
    greedy_main(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]))
