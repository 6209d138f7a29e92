#!/usr/bin/env python3
"""Hardening checks run from outside (docs/design.md#bounds-the-tests-hold): slow
clients, faults, shutdown without loss, resources. Every check is bounded in time
and count, talks only to 127.0.0.1 and stops its servers.

usage: run.py [--bin-dir DIR] [--only CHECK[,CHECK]] [--server NAME[,NAME]]
              [--connections N] [--row WORDS[,WORDS]]
Checks: slow, kill, crash, shutdown, resources, emfile, proxy-faults,
proxy-fields. Ends with the line "hardening: N passed, N failed".

proxy-faults and proxy-fields (tests/hardening/proxy.py) run each server, in
its tests/quick.list configuration, as a proxy in front of the misbehaving
upstream of tests/lib/upstream.py: every failure of docs/design.md#proxy-mode
(502, 504, a body cut short, a client that leaves, a client that reads nothing
while the upstream offers 64 MiB), and the proxy's parser and header rules;
after each row the proxy must serve on with its descriptors, threads and
processes back at their baseline. About 6 s per server. --row runs only
the rows of their tables whose name contains one of the words given
("hop-by-hop", "mid-body").

--server takes the entries of SERVERS below: a server's name, or a name and the
options every check adds to its configuration ("coroutine --io uring": quote it).

--connections N (default 100 000, the contract's count; at most 100 000) is how many
connections the resources check makes per server after a warm-up of N/10, with
bench/client.c's burst mode (compiled into the run's temporary directory).
On 2 cores 100 000 take 3-8 s per server; fork_per_conn (a fork per
connection, 1.5 ms each on some virtual machines) makes a fifth of them, 20 000,
in 15-100 s: 60-150 s for the eight configurations, and the whole suite
about 2 minutes; --connections 20000 is a quick look in a fifth of the resources
time. 100 000 is more than Linux's 28 000 ephemeral ports: it works because the
server closes first, so TIME_WAIT is kept on the server's side and the client's
port is free again at once.
"""
import argparse
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testserver as ts  # noqa: E402

import proxy  # noqa: E402  (the proxy-faults and proxy-fields checks)

# What the suite runs: a server's name, or a name and options every check adds to
# its own configuration of that server (the tables below are keyed by the name).
SERVERS = ["iterative", "fork_per_conn", "prefork", "prefork_select", "threaded",
           "multiplex", "coroutine", "coroutine --io uring"]


def split(server):
    """'coroutine --io uring' -> ('coroutine', ' --io uring'); 'prefork' -> ('prefork', '')."""
    name, _, options = server.partition(" ")
    return name, " " + options if options else ""

# Blocking models hold a worker per client, so to survive 300 slow clients they
# must be sized for them: that is the lesson, not a trick. Event-driven models
# need nothing special.
SLOW_CONFIG = {
    "fork_per_conn": "fork_per_conn --max-procs 400",
    "prefork": "prefork --workers 310",
    "prefork_select": "prefork_select --workers 310 --wait epoll-exclusive",
    "threaded": "threaded --max-conns 1024",
    "multiplex": "multiplex --backend epoll",
    "coroutine": "coroutine",
}
WORKER_CONFIG = {   # models with a supervised pool of worker processes
    "prefork": "prefork --workers 4",
    "prefork_select": "prefork_select --workers 4",
    "multiplex": "multiplex --workers 2 --backend epoll",
    "coroutine": "coroutine --workers 2",
}
CRASH_KEEPS_SERVER = {"fork_per_conn": "fork_per_conn", "prefork": "prefork --workers 2",
                      "prefork_select": "prefork_select --workers 2"}
CRASH_LOSES_PROCESS = {"threaded": "threaded", "multiplex": "multiplex",
                       "coroutine": "coroutine"}


def timed_get(server, path, timeout):
    start = time.monotonic()
    try:
        status, _, _ = ts.get(server, path, timeout=timeout)
    except OSError as error:
        return None, time.monotonic() - start, str(error)
    return status, time.monotonic() - start, ""


class SlowClients:
    """count connections that each send one byte of a request head every
    interval seconds, from one thread."""

    def __init__(self, port, count, interval):
        self.request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 4000
        self.socks, self.stop, self.interval = [], threading.Event(), interval
        for _ in range(count):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            self.socks.append(s)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        sent = 0
        while not self.stop.is_set() and sent < len(self.request):
            for s in self.socks:
                try:
                    s.send(self.request[sent:sent + 1])
                except OSError:
                    pass
            sent += 1
            self.stop.wait(self.interval)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


def check_slow(results, bin_dir, root, server):
    name, options = split(server)
    if name == "iterative":
        # One slow client holds everyone until its head times out (408); a
        # normal client is served once the three slow ones have timed out.
        with ts.Server(bin_dir, "iterative", root=root, timeout_ms=1000) as server:
            slow = SlowClients(server.port, 3, 0.5)
            status, elapsed, error = timed_get(server, "/a.txt", 10)
            slow.close()
            results.check("slow iterative: served after the slow clients time out",
                          status == 200 and 2.0 <= elapsed < 8, f"status {status} after "
                          f"{elapsed:.1f} s {error}")
        return
    config = SLOW_CONFIG[name] + options
    with ts.Server(bin_dir, config, root=root, timeout_ms=10000) as server:
        slow = SlowClients(server.port, 300, 2.0)
        time.sleep(0.5)
        worst, failures = 0.0, []
        for _ in range(5):
            status, elapsed, error = timed_get(server, "/a.txt", 3)
            worst = max(worst, elapsed)
            if status != 200 or elapsed >= 1.0:
                failures.append(f"status {status} in {elapsed:.2f} s {error}")
            time.sleep(0.5)
        slow.close()
        results.check(f"slow {config}: 300 slow clients, normal client < 1 s",
                      not failures, "; ".join(failures))


class Load:
    """threads clients doing GET path on fresh connections until stopped;
    records (time, ok, detail) per request."""

    def __init__(self, server, path, threads=4, keep_alive=False, expect_length=None):
        self.server, self.path, self.keep_alive = server, path, keep_alive
        self.expect_length = expect_length
        self.stop, self.lock, self.records = threading.Event(), threading.Lock(), []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _record(self, ok, detail=""):
        with self.lock:
            self.records.append((time.monotonic(), ok, detail))

    def _run(self):
        while not self.stop.is_set():
            try:
                conn = ts.Connection(self.server, timeout=5)
            except OSError as error:
                self._record(None, f"connect: {error}")     # refused: not in flight
                time.sleep(0.01)
                continue
            with conn:
                for _ in range(100 if self.keep_alive else 1):
                    if self.stop.is_set():
                        break
                    header = "" if self.keep_alive else "Connection: close\r\n"
                    try:
                        conn.send(f"GET {self.path} HTTP/1.1\r\nHost: x\r\n{header}\r\n")
                    except OSError as error:
                        self._record(None, f"send: {error}")
                        break
                    try:
                        status, headers, body = conn.read_response()
                    except ConnectionError as error:
                        # Closed with a partial response is a loss; closed before
                        # any byte of it (between keep-alive requests) is not.
                        partial = bool(conn.buffer)
                        self._record(False if partial else None, f"read: {error}")
                        break
                    except OSError as error:
                        self._record(False, f"read: {error}")
                        break
                    ok = status == 200 and (self.expect_length is None or
                                            len(body) == self.expect_length)
                    self._record(ok, f"status {status}, {len(body)} bytes")
                    if headers.get("connection") == "close":
                        break

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)
        return self.records


def fork_delay(pid, since_boot):
    """Seconds from since_boot (CLOCK_BOOTTIME) to the kernel's start time of
    pid, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError, TypeError):
        return None
    return round(ticks / os.sysconf("SC_CLK_TCK") - since_boot, 2)


def check_kill(results, bin_dir, root, server):
    name, options = split(server)
    if name not in WORKER_CONFIG:
        return
    config = WORKER_CONFIG[name] + options
    with ts.Server(bin_dir, config, root=root) as server:
        time.sleep(0.3)
        before = set(server.children())
        load = Load(server, "/4k.bin")
        time.sleep(1.0)
        victim = sorted(before)[0]
        killed_at = time.monotonic()
        killed_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        os.kill(victim, 9)
        # The replacement waits on nothing but the pool's backoff, which is 0 for
        # a worker that lived long (common/pool.c): judge that decision from the
        # log, and time the fork by the kernel's start time of the new worker,
        # not by how soon this loop, on a loaded machine, lists it.
        replacement = None
        while time.monotonic() - killed_at < 5.0:
            now = set(server.children())
            if victim not in now and len(now) >= len(before):
                replacement = next(iter(now - before), None)
                break
            time.sleep(0.02)
        forked_after = fork_delay(replacement, killed_boot)
        time.sleep(1.0)
        records = load.finish()
        lost = [r for r in records if r[1] is False]
        late_failures = [r for r in records if r[0] > killed_at + 0.5 and not r[1]]
        served = sum(1 for r in records if r[1])
        status = server.stop()
        decided = re.search(rb"\(pid %d\) killed by signal 9 \([^)]*\); replacing it in (\d+) ms"
                            % victim, server.stderr)
        results.check(f"kill -9 {config}: replaced at once (no backoff), forked within 5 s",
                      decided is not None and decided.group(1) == b"0"
                      and forked_after is not None,
                      f"log: {decided.group(0) if decided else server.stderr[-200:]}; "
                      f"forked {forked_after} s after the kill")
        results.check(f"kill -9 {config}: only in-flight requests lost",
                      len(lost) <= 4 and not late_failures and served > 50,
                      f"{len(lost)} lost, {len(late_failures)} failures after the kill, "
                      f"{served} served: {(lost + late_failures)[:3]}")
        results.check(f"kill -9 {config}: exits 0 after SIGTERM", status == 0,
                      f"status {server.returncode}")


def check_crash(results, bin_dir, root, server):
    name, options = split(server)
    if name in CRASH_KEEPS_SERVER:
        config = CRASH_KEEPS_SERVER[name] + options
        with ts.Server(bin_dir, config, root=root, extra=["--lab-crash"]) as server:
            status, _, error = timed_get(server, "/lab/crash", 5)
            time.sleep(0.3)
            after, _, error2 = timed_get(server, "/a.txt", 5)
            results.check(f"crash {config}: one connection lost, the server serves on",
                          status is None and after == 200 and server.alive(),
                          f"crash answered {status} {error}; then {after} {error2}")
    elif name in CRASH_LOSES_PROCESS:
        config = CRASH_LOSES_PROCESS[name] + options
        with ts.Server(bin_dir, config, root=root, extra=["--lab-crash"]) as server:
            timed_get(server, "/lab/crash", 5)
            try:
                server.process.wait(5)
            except Exception:
                pass
            status = server.stop()      # SIGTERM only if it is still alive
            # A sanitizer build reports the fault (UBSan: a store to a null pointer,
            # ASan: SEGV) and exits 1: the whole process is dead all the same.
            reported = any(mark in server.stderr for mark in
                           (b"runtime error:", b"AddressSanitizer: SEGV"))
            results.check(f"crash {config}: the whole process dies (SIGSEGV), as documented",
                          status == -11 or (status == 1 and reported), f"return code {status}")


def check_shutdown(results, bin_dir, root, name):
    stats = os.path.join(root, f"..{name.replace(' ', '_')}-stats.json")
    size = os.path.getsize(os.path.join(root, "big.bin"))
    with ts.Server(bin_dir, name, root=root, extra=["--stats-file", stats]) as server:
        load = Load(server, "/big.bin", threads=4, keep_alive=True, expect_length=size)
        time.sleep(1.0)
        status = server.stop()
        records = load.finish()
    truncated = [r for r in records if r[1] is False]
    served = sum(1 for r in records if r[1])
    try:
        with open(stats) as f:
            requests = json.load(f)["totals"]["requests"]
    except (OSError, ValueError, KeyError) as error:
        requests = f"no stats file: {error}"
    results.check(f"shutdown {name}: SIGTERM under load loses no response",
                  status == 0 and not truncated and served > 0 and
                  isinstance(requests, int) and requests >= served,
                  f"exit {status}, {len(truncated)} truncated {truncated[:2]}, {served} served, "
                  f"stats requests {requests}")


def resource_snapshot(server):
    """Summed over the server's processes: descriptors, resident KiB, zombie
    children, processes and threads."""
    snap = dict(fds=0, rss=0, zombies=0, processes=0, threads=0)
    for pid in server.processes():
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue                    # exited between the listing and the read
        if status["State"].split()[0] == "Z":
            snap["zombies"] += 1
            continue
        snap["fds"] += fds
        snap["rss"] += int(status.get("VmRSS", "0 kB").split()[0])
        snap["processes"] += 1
        snap["threads"] += int(status["Threads"])
    return snap


def build_client(directory):
    """bench/client.c compiled for this run: its burst mode makes connections
    from one thread about 5 times faster than four Python threads can."""
    binary = os.path.join(directory, "client")
    if not os.path.exists(binary):
        subprocess.run([os.environ.get("CC", "cc"), "-std=c17", "-O2", "-D_GNU_SOURCE", "-o",
                        binary, os.path.join(ts.ROOT, "bench", "client.c"),
                        os.path.join(ts.ROOT, "bench", "histogram.c"), "-lm"],
                       check=True, capture_output=True, text=True)
    return binary


def burst(client, server, count, in_flight=16):
    """count GETs of /a.txt, one connection each, in_flight at a time:
    (answered 2xx, seconds)."""
    result = subprocess.run([client, "burst", "127.0.0.1", str(server.port), "/a.txt",
                             str(count), str(in_flight)], capture_output=True, text=True,
                            timeout=120 + count / 500)
    got = dict(kv.split("=") for kv in result.stdout.split())
    return int(got["ok"]), float(got["elapsed_s"])


def asan_build(binary):
    """True for an AddressSanitizer build (it links the ASan runtime)."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def check_resources(results, bin_dir, root, server, connections, client):
    """After a warm-up of connections/10 (every code path touched, pools and
    arenas at their working size) the server must look the same after
    `connections` more. Slack: 2 descriptors (one connection still being torn
    down when the snapshot is taken) and 10 % + 2 MiB of RSS (pages touched for
    the first time, the allocator keeping freed memory); a leak of more than a
    few dozen bytes per connection still fails (printed as the threshold).
    Under ASan, RSS is not judged: its quarantine holds freed memory back (up
    to 256 MiB) by design; its LeakSanitizer, run at exit, judges leaks instead,
    through the exit status after SIGTERM (0 required in every build)."""
    name, options = split(server)
    config = {"prefork": "prefork --workers 4", "prefork_select": "prefork_select --workers 4",
              "threaded": "threaded"}.get(name, name) + options
    if name == "fork_per_conn":
        # A fork, exit and wait per connection: 1.55 ms on some virtual machines
        # (measured on the 2-core CI machine, where 100 000 took 490 s under load
        # and ran out of the burst's time). A fifth of the count: descriptors,
        # zombies and processes are exact counts whatever it is, and the parent's
        # RSS bound is printed per connection.
        connections = max(1, connections // 5)
    with ts.Server(bin_dir, config, root=root) as server:
        burst(client, server, max(1, connections // 10))
        time.sleep(0.5)
        before = resource_snapshot(server)
        served, seconds = burst(client, server, connections)
        time.sleep(0.5)
        after = resource_snapshot(server)
        status = server.stop()
    rss_slack = before["rss"] * 0.10 + 2048
    asan = asan_build(os.path.join(bin_dir, name))
    ok = (served >= connections * 0.99 and after["zombies"] == 0 and status == 0 and
          after["fds"] <= before["fds"] + 2 and
          (asan or after["rss"] <= before["rss"] + rss_slack) and
          after["processes"] == before["processes"] and after["threads"] <= before["threads"])
    change = "; ".join(f"{label} {before[key]} -> {after[key]}{unit}" for key, label, unit in
                       (("fds", "fds", ""), ("rss", "RSS", " KiB"), ("processes", "processes", ""),
                        ("threads", "threads", ""), ("zombies", "zombies", "")))
    results.check(f"resources {config}: {connections} connections, fds/RSS flat, no zombies", ok,
                  f"served {served}; {change}; exit {status} after SIGTERM")
    grown = (after["rss"] - before["rss"]) * 1024 / connections
    bound = ("not judged under ASan" if asan else
             f"fails above {rss_slack * 1024 / connections:.0f} B/conn")
    print(f"     {served} of {connections} in {seconds:.1f} s ({connections / seconds:.0f}/s); "
          f"{change}; RSS {grown:+.1f} B/conn, {bound}; exit {status}", flush=True)


def check_emfile(results, bin_dir, root, name):
    if split(name)[0] not in ("threaded", "multiplex", "coroutine"):
        return
    with ts.Server(bin_dir, name, root=root, nofile=48) as server:
        socks = []
        for _ in range(80):
            try:
                socks.append(server.connect())
            except OSError:
                break
        time.sleep(0.5)
        cpu0 = server.cpu_seconds()
        time.sleep(2.0)
        busy = (server.cpu_seconds() - cpu0) / 2.0
        for s in socks:
            s.close()
        time.sleep(0.5)
        status, _, error = timed_get(server, "/a.txt", 5)
        results.check(f"emfile {name}: out of descriptors, backs off (< 30 % CPU), recovers",
                      busy < 0.30 and status == 200, f"CPU {busy:.0%}; then {status} {error}")


def check_proxy_faults(results, bin_dir, root, name):
    proxy.check_faults(results, bin_dir, root, name, resource_snapshot)


def check_proxy_fields(results, bin_dir, root, name):
    proxy.check_fields(results, bin_dir, root, name, resource_snapshot)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    parser.add_argument("--only", default="slow,kill,crash,shutdown,resources,emfile,"
                        "proxy-faults,proxy-fields")
    parser.add_argument("--server", default=",".join(SERVERS))
    parser.add_argument("--connections", type=int, default=100000,
                        help="connections per server in the resources check (default 100000)")
    parser.add_argument("--row", default="", help="proxy checks: only the rows whose name has "
                        "one of these comma-separated words")
    args = parser.parse_args()
    proxy.ROWS[:] = [word for word in args.row.split(",") if word]
    if not 1 <= args.connections <= 100000:
        parser.error("--connections must be 1..100000 (bench/client.c's bound)")
    results = ts.Results("hardening")
    root = ts.make_root(os.path.join(tempfile.mkdtemp(prefix="hardening-"), "www"))
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(300_000))
    checks = args.only.split(",")
    for name in args.server.split(","):
        if not os.access(os.path.join(args.bin_dir, split(name)[0]), os.X_OK):
            results.check(f"{name}: binary exists", False,
                          f"no {args.bin_dir}/{split(name)[0]}")
            continue
        for check in checks:
            if check == "resources":
                ts.run_check(results, f"{check} {name}", lambda: check_resources(
                    results, args.bin_dir, root, name, args.connections,
                    build_client(os.path.dirname(root))))
            else:
                function = globals()[f"check_{check.replace('-', '_')}"]
                ts.run_check(results, f"{check} {name}", function, results, args.bin_dir, root,
                             name)
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
