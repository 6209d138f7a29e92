#!/usr/bin/env python3
"""hold.py PORT N [--path PATH] [--pid PID] [--idle S] [--seconds S] — hold N connections open.

Opens N connections to 127.0.0.1:PORT, sends one keep-alive GET PATH on each
(default /hello.txt) and reads the first 4096 bytes of each answer, for its
status line (at most 20 s, and at most 3 s without news): a small file's answer
is read whole, a larger one's tail stays unread in the socket. Prints how many got each status, and how many none:
    answers: 200=1000 none=0
Then, with all N still open and idle, it makes one more GET on a new connection
and prints its status and how long it took (the server is holding N idle
clients: is it still serving?). With --pid, it also prints the server's memory,
PSS summed over PID and its child processes, before the N connections and once
they have been held idle --idle S seconds (default 1.5: the bench's memory
experiment waits as long, IDLE_MEMORY_S in bench/bench.py, because the coroutine
server gives an idle stack's pages back after 1 s), and the difference per
answered connection. With --seconds, it
keeps them open that long before closing them all. Raises its own descriptor
limit to what N needs.
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from bench import IDLE_MEMORY_S, proc_memory_kb, proc_tree  # noqa: E402  (as the bench measures)


def pss_kb(pid):
    """PSS (RSS where the kernel has no smaps_rollup) of pid and its descendants."""
    rss, pss = proc_memory_kb(proc_tree(pid))
    return pss or rss


def one_get(port, path):
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            status = s.recv(64).split(b" ")[1].decode()
    except (OSError, IndexError):
        status = "none"
    return status, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--path", default="/hello.txt")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--idle", type=float, default=IDLE_MEMORY_S,
                    help="with --pid: seconds the connections stay idle before the memory is "
                         "read (default %(default)s, as the bench waits)")
    ap.add_argument("--seconds", type=float, default=0)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    before = pss_kb(args.pid) if args.pid else 0
    request = f"GET {args.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    sockets, status = [], {}
    for _ in range(args.n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", args.port))
        sockets.append(s)
        selector.register(s, selectors.EVENT_WRITE)
    deadline, quiet = time.monotonic() + 20, time.monotonic() + 3
    while len(status) < args.n and time.monotonic() < min(deadline, quiet):
        for key, events in selector.select(timeout=0.2):
            s = key.fileobj
            try:
                if events & selectors.EVENT_WRITE:
                    s.send(request)
                    selector.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(4096)
                status[s] = data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "none"
            except (OSError, IndexError):
                status[s] = "none"
            selector.unregister(s)
            quiet = time.monotonic() + 3
    counts = {}
    for s in sockets:
        counts[status.get(s, "none")] = counts.get(status.get(s, "none"), 0) + 1
    print("answers: " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)
    answered = sum(v for k, v in counts.items() if k != "none")
    if args.pid:
        time.sleep(args.idle)
        held = pss_kb(args.pid)
        per = (held - before) / answered if answered else 0
        print(f"memory: PSS {before} KiB before, {held} KiB holding them "
              f"{args.idle:g} s idle: {per:.1f} KiB per answered connection", flush=True)
    probe, took = one_get(args.port, "/hello.txt")
    print(f"a new client while they are held: {probe} in {took:.3f} s", flush=True)
    time.sleep(args.seconds)
    for s in sockets:
        s.close()


if __name__ == "__main__":
    main()
