#!/usr/bin/env python3
"""Fairness under a greedy client (docs/multiplex.md#fairness,
docs/coroutine.md#fairness): does one connection that never stops asking
leave room for everybody else?

For each configuration (tests/servers.list by default):
  pipeline  one client pipelines GET /hello.txt without pause (200 requests a
            write, a second thread reading the answers, reconnecting when the
            server ends the connection); meanwhile a probe client makes 100
            requests, each on a new connection, one after the other. The
            probe's p99 latency must stay under 50 ms wherever a worker is free
            for it: every event loop (multiplex, coroutine, any backend) and
            every model with more than one worker. iterative has one worker,
            which the greedy client holds, and prefork_select --reuseport may
            hash the probe to that worker: they only have to answer at all
            (within 2 s: --keepalive-requests ends the greedy connection).
  turns     the same with --keepalive-requests 1000000000, so only taking
            turns (the event loops) or a worker of its own can keep the probe
            under 50 ms; those without a free worker are skipped.
  cpu       one write of 15 GET /lab/cpu/1000000 on one connection: the
            connection's 2 s /lab/cpu budget ends it with 503 after two, so a
            probe sent just after is answered within 4 s (it was 15 s).

Bounded: each part runs at most ~20 s per configuration; only 127.0.0.1;
the greedy client (bench/greedy.py's) is a child process stopped by its PID; the servers are
stopped by PID. Ends with "fairness: N passed, N failed".

usage: run.py [--bin-dir DIR] [--list FILE] [--server CONFIG]... [--only pipeline,turns,cpu]
"""
import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testserver as ts  # noqa: E402

PROBES = 100
P99_LIMIT_S = 0.050
# The greedy client is the bench's (bench/greedy.py), run as a child process.
GREEDY = os.path.join(ts.ROOT, "bench", "greedy.py")
GREEDY_MAX_S = 30            # the greedy child ends itself after this, whatever happens


class Greedy:
    def __init__(self, port, seconds):
        self.process = subprocess.Popen(
            [sys.executable, GREEDY, "--greedy", str(port), "pipeline", "/hello.txt",
             str(min(seconds, GREEDY_MAX_S))],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)

    def stop(self):
        """Stop it by PID; (bytes received, connections)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            out, _ = self.process.communicate()
        got = dict(word.split("=") for word in out.split() if "=" in word)
        return int(float(got.get("mb", 0)) * 1e6), int(got.get("connections", 0))


def probe(server, timeout):
    """One GET /hello.txt on a new connection: seconds, or None if unanswered."""
    start = time.monotonic()
    try:
        status, _, body = ts.get(server, "/hello.txt", timeout=timeout)
    except OSError:
        return None
    return time.monotonic() - start if status == 200 and body == b"hi\n" else None


def has_free_worker(config):
    """Whether a probe can reach a worker the greedy client does not hold.
    iterative has one worker. prefork_select --reuseport has a socket per
    worker and the kernel picks the socket by a hash of the addresses, not by
    who is free: a probe that hashes to the greedy client's worker waits for
    it, while the others idle (the event loops still take turns)."""
    words = shlex.split(config)
    if words[0] == "iterative":
        return False
    return "--reuseport" not in words or words[0] in ("multiplex", "coroutine")


def check_pipeline(results, bin_dir, root, config, extra=(), label="pipeline"):
    with ts.Server(bin_dir, config, extra, root=root) as server:
        greedy_client = Greedy(server.port, 20)
        time.sleep(0.5)                         # let it get going
        latencies, lost = [], 0
        limit = P99_LIMIT_S if has_free_worker(config) else 2.0
        deadline = time.monotonic() + 15
        for _ in range(PROBES):
            if time.monotonic() > deadline:
                break
            seconds = probe(server, timeout=2.5)
            if seconds is None:
                lost += 1
            else:
                latencies.append(seconds)
        greedy_bytes, greedy_conns = greedy_client.stop()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("inf")
    detail = (f"p99 {p99 * 1000:.1f} ms, median "
              f"{statistics.median(latencies) * 1000 if latencies else float('inf'):.1f} ms, "
              f"{len(latencies)} answered, {lost} unanswered; greedy got "
              f"{greedy_bytes / 1e6:.1f} MB on {greedy_conns} connection(s)")
    ok = lost == 0 and len(latencies) == PROBES and p99 < limit and greedy_bytes > 0
    results.check(f"{label} [{config}]: {detail}", ok,
                  f"want {PROBES} answered, p99 < {limit * 1000:g} ms, the greedy client served")


def check_turns(results, bin_dir, root, config):
    """The pipeline check with --keepalive-requests out of reach: only taking
    turns keeps the probe's latency down now."""
    if not has_free_worker(config):
        results.check(f"turns [{config}]: skipped, no worker the greedy client cannot hold",
                      True)
        return
    check_pipeline(results, bin_dir, root, config, ["--keepalive-requests", "1000000000"],
                   "turns")


def check_cpu(results, bin_dir, root, config):
    with ts.Server(bin_dir, config, root=root) as server:
        sock = server.connect(timeout=20)
        start = time.monotonic()
        sock.sendall(b"GET /lab/cpu/1000000 HTTP/1.1\r\nHost: x\r\n\r\n" * 15)
        time.sleep(0.1)
        answered = probe(server, timeout=16)
        received = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        ended = time.monotonic() - start
        sock.close()
    spun = received.count(b"HTTP/1.1 200")
    refused = received.count(b"HTTP/1.1 503")
    detail = (f"probe answered after {answered if answered is None else round(answered, 2)} s; "
              f"the spinning connection: {spun} x 200, {refused} x 503, ended after {ended:.1f} s")
    ok = answered is not None and answered < 4.0 and spun == 2 and refused == 1 and ended < 5
    results.check(f"cpu [{config}]: {detail}", ok,
                  "want the probe within 4 s, 2 x 200 then 503 and the end within 5 s")


def read_list(path):
    with open(path) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    parser.add_argument("--list", default=os.path.join(ts.ROOT, "tests", "servers.list"))
    parser.add_argument("--server", action="append", help="a configuration (repeatable)")
    parser.add_argument("--only", default="pipeline,turns,cpu")
    args = parser.parse_args()
    configs = args.server or read_list(args.list)
    results = ts.Results("fairness")
    root = ts.make_root(os.path.join(tempfile.mkdtemp(prefix="fairness-"), "www"))
    with open(os.path.join(root, "hello.txt"), "w") as f:
        f.write("hi\n")
    for config in configs:
        for check in args.only.split(","):
            ts.run_check(results, f"{check} [{config}]", globals()[f"check_{check}"], results,
                         args.bin_dir, root, config)
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
