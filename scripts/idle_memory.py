#!/usr/bin/env python3
"""idle_memory.py — user-space memory per idle keep-alive connection, the quick
developer check (the bench measures the same thing more carefully).

usage: idle_memory.py [--bin-dir DIR] [--connections N] [--hold S] [--kernel] CONFIG ...
  e.g. scripts/idle_memory.py "multiplex --backend epoll" coroutine
       scripts/idle_memory.py --connections 1000 multiplex     (select: < FD_SETSIZE)

For each CONFIG (a binary in --bin-dir and its options): start the server on
--port 0, read its PSS (the sum of Pss in /proc/PID/smaps_rollup over it and
its worker processes), open N connections from this process, send one GET on
each and read the answer, keep them all open and idle for --hold seconds, read
the PSS again, and print the growth divided by N. PSS is user space only: the
kernel's socket buffers and struct sock are not in it (docs/multiplex.md says
what they cost). --kernel also prints the growth of the kernel's memory per
connection (root: /proc/slabinfo's caches, and the TCP buffer pages of
/proc/net/sockstat) — for both ends, since the client runs on the same kernel,
and for anything else the machine did meanwhile. Traffic goes to 127.0.0.1
only; the server is stopped by PID.
"""
import argparse
import os
import resource
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import testserver as ts  # noqa: E402

REQUEST = b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BATCH = 100                         # connections opened before their answers are read


def pss_bytes(server):
    """The server's proportional set size, summed over its processes."""
    total = 0
    for pid in server.processes():
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass                    # a process that just ended
    return total


def kernel_bytes():
    """{slab cache or "TCP buffers": bytes in use}; empty without /proc/slabinfo."""
    found = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f.readlines()[2:]:
                fields = line.split()
                found[fields[0]] = found.get(fields[0], 0) + int(fields[1]) * int(fields[3])
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    words = line.split()
                    found["TCP buffers"] = int(words[words.index("mem") + 1]) * os.sysconf(
                        "SC_PAGESIZE")
    except OSError:
        return {}
    return found


def read_answer(sock):
    """Read one response to REQUEST (its head and Content-Length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed a connection before answering")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer {head[:40]!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed a connection in the middle of an answer")
        body += chunk


def open_idle(server, count):
    """count connections, each with one request answered and kept open."""
    socks = []
    try:
        while len(socks) < count:
            batch = [server.connect() for _ in range(min(BATCH, count - len(socks)))]
            socks += batch
            for s in batch:
                s.sendall(REQUEST)
            for s in batch:
                read_answer(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def served_again(socks):
    """Send one more request on each held connection: how many were answered.
    (After the hold their buffers and stack pages must come back and work.)"""
    answered = 0
    for first in range(0, len(socks), BATCH):   # a batch at a time, as open_idle
        sent = []
        for s in socks[first:first + BATCH]:
            try:
                s.sendall(REQUEST)
                sent.append(s)
            except OSError:
                pass
        for s in sent:
            try:
                read_answer(s)
                answered += 1
            except (OSError, RuntimeError):
                pass
    return answered


def raise_nofile(count):
    """Raise this process's descriptor limit to its hard limit; False if it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= count + 50


def idle_bytes(bin_dir, config, count, hold_s, root, kernel=None):
    """(bytes per connection, connections answered again after the hold) for count
    idle connections. kernel, a dict, gets the kernel's growth per connection."""
    # --max-conns (default 1024; per loop in multiplex and coroutine) must leave room.
    with ts.Server(bin_dir, config, ["--max-conns", str(count + 100)], root=root,
                   timeout_ms=600000) as server:
        time.sleep(0.2)             # let the workers start
        before = pss_bytes(server)
        kernel_before = kernel_bytes() if kernel is not None else {}
        socks = open_idle(server, count)
        try:
            time.sleep(hold_s)
            after = pss_bytes(server)
            for name, size in (kernel_bytes() if kernel is not None else {}).items():
                kernel[name] = (size - kernel_before.get(name, 0)) / count
            again = served_again(socks)
        finally:
            for s in socks:
                s.close()
    return (after - before) / count, again


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--hold", type=float, default=2.5, help="seconds held idle")
    parser.add_argument("--kernel", action="store_true",
                        help="also the kernel's memory per connection (root)")
    parser.add_argument("configs", nargs="+", metavar="CONFIG")
    args = parser.parse_args()
    if args.connections < 1:
        print("idle_memory: --connections must be at least 1", file=sys.stderr)
        return 2
    if not raise_nofile(args.connections):
        print(f"idle_memory: RLIMIT_NOFILE's hard limit is below {args.connections + 50}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="idle-memory-") as directory:
        root = ts.make_root(directory)
        for config in args.configs:
            kernel = {} if args.kernel else None
            per, again = idle_bytes(args.bin_dir, config, args.connections, args.hold, root,
                                    kernel)
            print(f"{config}: {args.connections} idle connections: {per:.0f} B per connection "
                  f"(PSS growth / N); {again} answered again after {args.hold} s idle", flush=True)
            if kernel:
                grown = sorted((v, k) for k, v in kernel.items() if v >= 32)
                print("  kernel, both ends, per connection: " +
                      ", ".join(f"{k} {v:.0f} B" for v, k in reversed(grown)) +
                      f"; total {sum(v for v, _ in grown):.0f} B", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
