#!/usr/bin/env python3
"""trickle.py — what a request head that arrives one byte at a time costs a server.

One connection sends a 15.7 KB request head (a request line, Host and 98 padding
fields: under the 16 KiB and 100-field limits) one byte per TCP segment
(TCP_NODELAY, a short sleep after each byte, so the server reads each byte on its
own), reads the response, and closes. The server is then stopped and its CPU
(user + sys, self + children) read from its --stats-file; nginx, which has no
stats file, from /proc/PID/schedstat. The same server with the same head sent in
one write is the baseline: start-up, one request and exit. Each configuration
runs --repeats times; min and median are printed, in ms.

    python3 scripts/trickle.py --bin-dir build/bin
    python3 scripts/trickle.py --bin-dir build/bin --only multiplex --repeats 5

Traffic goes to 127.0.0.1 only; every server is started on --port 0 and stopped
by its PID. Exit status: 0, 1 if a run failed, 2 on a bad option.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))
from bench import free_port, nginx_path  # noqa: E402

CONFIGS = [
    ("iterative", ["iterative"]),
    ("coroutine", ["coroutine"]),
    ("multiplex select", ["multiplex", "--backend", "select"]),
    ("multiplex epoll", ["multiplex", "--backend", "epoll"]),
    ("nginx", None),
]


def make_head(size):
    """GET / with Host and padding fields, exactly size bytes, blank line included."""
    head = b"GET / HTTP/1.1\r\nHost: trickle\r\n"
    fields = 98
    room = size - len(head) - 2
    for i in range(fields):
        name = b"X-Pad-%02d: " % i
        left = fields - i
        value = (room // left) - len(name) - 2
        line = name + b"a" * value + b"\r\n"
        head += line
        room -= len(line)
    head += b"\r\n"
    assert len(head) == size, len(head)
    return head


class RunError(Exception):
    pass


def start_ours(argv, root, stats_path):
    proc = subprocess.Popen(argv + ["--port", "0", "--root", root, "--quiet",
                                    "--stats-file", stats_path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    try:
        port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    except (IndexError, ValueError):
        proc.kill()
        proc.wait()
        raise RunError(f"{argv[0]}: no 'listening on' line: {line!r} {proc.stderr.read()!r}")
    return proc, port


def terminate(proc):
    """SIGTERM, then SIGKILL after 10 s; False if it took the SIGKILL."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def stop_ours(proc, stats_path):
    if not terminate(proc):
        raise RunError("server did not stop within 10 s")
    with open(stats_path) as f:
        cpu = json.load(f)["cpu"]
    return (cpu["self_user_s"] + cpu["self_sys_s"] + cpu["children_user_s"] +
            cpu["children_sys_s"])


def start_nginx(nginx, root, work):
    """One nginx process on a free loopback port; the globals on its command line."""
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
    with open(conf, "w") as f:
        f.write(f"events {{ worker_connections 64; }}\n"
                f"http {{ access_log off; client_body_temp_path {work}/tmp;\n"
                f"       server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n")
    globals_ = (f"daemon off; master_process off; worker_processes 1; pid {work}/nginx.pid; "
                f"error_log {work}/error.log warn;")
    proc = subprocess.Popen([nginx, "-p", work, "-c", conf, "-e", f"{work}/error.log",
                             "-g", globals_],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    deadline = time.time() + 5
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RunError(f"nginx exited {proc.returncode}; see {work}/error.log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    terminate(proc)
    raise RunError("nginx did not listen within 5 s")


def stop_nginx(proc):
    with open(f"/proc/{proc.pid}/schedstat") as f:
        cpu = int(f.read().split()[0]) / 1e9
    terminate(proc)
    return cpu


def send(port, head, trickle, gap_s):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if trickle:
            for i in range(len(head)):
                s.sendall(head[i:i + 1])
                time.sleep(gap_s)
        else:
            s.sendall(head)
        response = s.recv(4096)
    if not response.startswith(b"HTTP/1.1 200"):
        raise RunError(f"unexpected answer: {response[:60]!r}")


def one_run(name, argv, args, head, trickle, root, nginx):
    with tempfile.TemporaryDirectory(prefix="trickle-") as work:
        if argv is None:
            proc, port = start_nginx(nginx, root, work)
        else:
            stats_path = os.path.join(work, "stats.json")
            proc, port = start_ours([os.path.join(args.bin_dir, argv[0])] + argv[1:], root,
                                    stats_path)
        try:
            send(port, head, trickle, args.gap_us / 1e6)
        except (OSError, RunError):
            proc.kill()
            proc.wait()
            raise
        return stop_nginx(proc) if argv is None else stop_ours(proc, stats_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default="build/bin")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--head-bytes", type=int, default=15700)
    parser.add_argument("--gap-us", type=float, default=20.0,
                        help="sleep after each byte (default 20 µs; Python sleeps longer)")
    parser.add_argument("--only", action="append",
                        help="a configuration name, or a prefix of one (repeatable)")
    args = parser.parse_args()
    if args.repeats < 1 or not 300 <= args.head_bytes <= 16000:
        parser.error("--repeats must be >= 1 and --head-bytes within 300..16000")
    head = make_head(args.head_bytes)
    nginx = nginx_path()
    configs = [(n, a) for n, a in CONFIGS
               if not args.only or any(n.startswith(o) for o in args.only)]
    if not configs:
        parser.error("--only matches no configuration: " +
                     ", ".join(n for n, _ in CONFIGS))
    failed = 0
    print(f"{args.head_bytes}-byte head, one byte per segment; server CPU in ms, "
          f"min / median of {args.repeats}")
    print(f"{'server':<20} {'trickled':>16} {'whole (baseline)':>18}")
    with tempfile.TemporaryDirectory(prefix="trickle-root-") as root:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<p>trickle</p>\n")
        for name, argv in configs:
            if argv is None and nginx is None:
                print(f"{name:<20} (not installed)")
                continue
            try:
                cells = []
                for trickle in (True, False):
                    ms = sorted(1000 * one_run(name, argv, args, head, trickle, root, nginx)
                                for _ in range(args.repeats))
                    cells.append(f"{ms[0]:.0f} / {statistics.median(ms):.0f}")
                print(f"{name:<20} {cells[0]:>16} {cells[1]:>18}", flush=True)
            except (OSError, RunError, ValueError, KeyError) as e:
                failed += 1
                print(f"{name:<20} FAILED: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
