#!/usr/bin/env python3
"""Event-loop and thread checks from outside (docs/design.md#bounds-the-tests-hold),
bounded in time and count, traffic only to 127.0.0.1, every server stopped by PID.

usage: run.py [--bin-dir DIR] [--only CASE[,CASE]]
Cases:
  half-request   multiplex: a client that sent half a request delays nobody
  sleep20        multiplex: 20 concurrent /lab/sleep/300 finish well under 6 s
  idle1000       multiplex poll and epoll: 1000 idle connections held, then each served
  select1100     multiplex select (and its ASan build, if built): 1100 connections;
                 those beyond FD_SETSIZE get 503, the rest are served, the 503s
                 are logged at most once a second, and the server serves on
  max-conns      threaded --max-conns 2: a third client waits for a free thread
  coroutine-half-request, coroutine-sleep20 (epoll and select),
  coroutine-idle2000 (epoll and poll: 2000 idle connections held, then each
  served), coroutine-select1100: the same checks against the coroutine server
  idle-memory    multiplex (epoll) and coroutine (both io modes): 2000 idle keep-alive
                 connections (one GET answered on each) cost at most 4 KiB / 6 KiB of user-space
                 memory each (scripts/idle_memory.py measures; a regression guard,
                 docs/multiplex.md and docs/coroutine.md give the real figures)
  linger-memory  coroutine (both io modes) and multiplex (epoll): 1000 connections
                 whose one answer ended them (--keepalive-requests 1), lingering
                 for the clients' FIN, cost at most 12 KiB each (no lent buffer
                 held through the linger)
  uring-half-request, uring-sleep20, uring-idle2000: the same against
                 coroutine --io uring; uring-timeouts: its deadlines (idle close,
                 408 for a half head, a steady client not cut); uring-max-conns:
                 503 above --max-conns; uring-unavailable:
                 without io_uring, one line and exit status 2; uring-wait-fails:
                 a ring wait that fails ends it with exit status 1
  spread         every `--workers N` line of tests/servers.list: under about 1 s
                 of Connection: close load from 8 client threads, each worker
                 serves at least a tenth of an even share by the stats file's
                 per-worker counts (no idle worker: a uring ring's accept must
                 not drain a shared queue)
  max-conns-siblings  multiplex and coroutine (both io modes) --workers 2
                 --max-conns 5 on a shared socket: 10 connections held are all
                 served (5 per loop), the 11th gets 503 (docs/design.md, the
                 --max-conns rule); with --reuseport each loop keeps its own 5
  stop           multiplex and coroutine on select, poll and epoll, and
                 coroutine --io uring: 200
                 start/SIGTERM cycles each (SIGTERM at a random moment after the
                 start-up line, some with a connection open), every one exiting
                 within 100 ms of the signal
Ends with "eventloop: N passed, N failed".
"""
import argparse
import json
import os
import random
import resource
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import idle_memory  # noqa: E402
import testserver as ts  # noqa: E402

REQUEST = b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def raise_nofile(wanted):
    """Raise this process's descriptor limit (bounded by the hard limit). Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_many(server, count):
    """count connected sockets (non-blocking), opened one after another."""
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.setblocking(False)
            socks.append(s)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def read_all(socks, deadline_s):
    """Read every socket until the server closes it or the deadline passes.
    Returns {sock: bytes}."""
    data = {s: b"" for s in socks}
    selector = selectors.DefaultSelector()
    for s in socks:
        selector.register(s, selectors.EVENT_READ)
    open_count = len(socks)
    end = time.monotonic() + deadline_s
    while open_count and time.monotonic() < end:
        for key, _ in selector.select(timeout=0.5):
            try:
                chunk = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                data[key.fileobj] += chunk
            else:
                selector.unregister(key.fileobj)
                open_count -= 1
    selector.close()
    return data


def send_all(socks, payload):
    for s in socks:
        s.setblocking(True)
        s.settimeout(5)
        s.sendall(payload)
        s.setblocking(False)


def case_half_request(args, results, root, binary="multiplex"):
    with ts.Server(args.bin_dir, binary, root=root, timeout_ms=5000) as server:
        binary = binary.replace("--", "")   # in the check names
        with ts.Connection(server) as slow:
            slow.send(b"GET /a.txt HTTP/1.1\r\nHo")
            time.sleep(0.2)
            start = time.monotonic()
            status, _, body = ts.get(server, "/index.html", timeout=5)
            elapsed = time.monotonic() - start
            results.check(f"half-request {binary}: another client is answered at once",
                          status == 200 and elapsed < 1.0, f"status {status} after {elapsed:.2f} s")
            slow.send(b"st: x\r\n\r\n")
            status, _, body = slow.read_response()
            results.check(f"half-request {binary}: the slow client is answered when it finishes",
                          status == 200 and body == b"hello\n", f"status {status} body {body!r}")


def case_sleep20(args, results, root, binary="multiplex", variants=None):
    for backend in variants or ("select", "epoll"):
        option = "--io" if backend == "uring" else "--backend"
        with ts.Server(args.bin_dir, f"{binary} {option} {backend}", root=root) as server:
            socks = open_many(server, 20)
            start = time.monotonic()
            send_all(socks, b"GET /lab/sleep/300 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_all(socks, 10)
            elapsed = time.monotonic() - start
            ok = sum(1 for d in data.values() if d.startswith(b"HTTP/1.1 200"))
            for s in socks:
                s.close()
            results.check(f"sleep20 {binary} {backend}: 20 x /lab/sleep/300 concurrently in {elapsed:.2f} s "
                          "(serially 6 s)", ok == 20 and elapsed < 3.0,
                          f"{ok}/20 answered 200 in {elapsed:.2f} s")


def case_idle1000(args, results, root, binary="multiplex", count=1000, variants=None):
    name = f"idle{count}"
    if raise_nofile(count + 1000) < count + 100:
        results.check(f"{name}: descriptor limit", False,
                      f"cannot raise RLIMIT_NOFILE to {count + 100}")
        return
    for backend in variants or ("poll", "epoll"):
        option = "--io" if backend == "uring" else "--backend"
        # --max-conns (default 1024) bounds each loop: room for count and the probe.
        with ts.Server(args.bin_dir, f"{binary} {option} {backend} --max-conns {count + 100}",
                       root=root, timeout_ms=30000) as server:
            socks = open_many(server, count)
            time.sleep(0.5)         # held idle
            status, _, _ = ts.get(server, "/a.txt")
            results.check(f"{name} {binary} {backend}: a new client is served while {count} "
                          "are idle", status == 200, f"status {status}")
            send_all(socks, REQUEST)
            data = read_all(socks, 30)
            ok = sum(1 for d in data.values() if d.startswith(b"HTTP/1.1 200") and
                     d.endswith(b"hello\n"))
            for s in socks:
                s.close()
            results.check(f"{name} {binary} {backend}: each of {count} held connections served",
                          ok == count, f"{ok}/{count} answered")
            results.check(f"{name} {binary} {backend}: server still running", server.alive())


def case_select1100(args, results, root, binary="multiplex"):
    """On the build under test and, if it is built, on the ASan+UBSan build too:
    the point is that nothing writes past an fd_set."""
    if raise_nofile(4096) < 1200:
        results.check("select1100: descriptor limit", False, "cannot raise RLIMIT_NOFILE to 1200")
        return
    dirs = [args.bin_dir]
    asan = os.path.join(ts.ROOT, "build-san-address-undefined", "bin")
    if os.access(os.path.join(asan, binary), os.X_OK) and \
            os.path.realpath(asan) != os.path.realpath(args.bin_dir):
        dirs.append(asan)
    for bin_dir in dirs:
        label = f" {binary}" + (" (ASan)" if bin_dir == asan else "")
        select1100(bin_dir, results, root, label, binary)


def select1100(bin_dir, results, root, label, binary):
    with ts.Server(bin_dir, f"{binary} --backend select", root=root,
                   timeout_ms=30000) as server:
        start = time.monotonic()
        socks = open_many(server, 1100)
        time.sleep(1.0)             # let the loop accept them all
        # A refused connection already holds its 503 and the server's FIN.
        selector = selectors.DefaultSelector()
        for s in socks:
            selector.register(s, selectors.EVENT_READ)
        ready = {key.fileobj for key, _ in selector.select(timeout=0.5)}
        selector.close()
        refused = [s for s in socks if s in ready]
        held = [s for s in socks if s not in ready]
        answers = read_all(refused, 10)
        got_503 = sum(1 for d in answers.values() if d.startswith(b"HTTP/1.1 503"))
        results.check(f"select1100{label}: connections beyond FD_SETSIZE get 503 ({got_503} did)",
                      got_503 > 0 and got_503 == len(refused) and len(held) >= 1000,
                      f"{got_503} x 503 of {len(refused)} closed, {len(held)} held")
        send_all(held, REQUEST)
        data = read_all(held, 30)
        ok = sum(1 for d in data.values() if d.startswith(b"HTTP/1.1 200") and d.endswith(b"hello\n"))
        results.check(f"select1100{label}: the {len(held)} held connections are served", ok == len(held),
                      f"{ok}/{len(held)} answered 200")
        for s in socks:
            s.close()
        time.sleep(0.3)
        status, _, _ = ts.get(server, "/a.txt")
        results.check(f"select1100{label}: the server serves on afterwards", status == 200 and server.alive(),
                      f"status {status}")
        elapsed = time.monotonic() - start
        code = server.stop()
        logged = [l for l in server.stderr.decode(errors="replace").splitlines() if "503" in l]
        results.check(f"select1100{label}: 503s logged at most once a second, clean exit",
                      code == 0 and 1 <= len(logged) <= elapsed + 2 and
                      "Sanitizer" not in server.stderr.decode(errors="replace"),
                      f"exit {code}, {len(logged)} log lines in {elapsed:.1f} s: "
                      f"{server.stderr[-600:]!r}")


def case_max_conns(args, results, root):
    with ts.Server(args.bin_dir, "threaded --max-conns 2", root=root, timeout_ms=10000) as server:
        idle = [ts.Connection(server), ts.Connection(server)]
        idle[0].send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        idle[0].read_response()             # both threads certainly started
        third = ts.Connection(server)
        third.send(REQUEST)
        third.sock.settimeout(0.7)
        try:
            early = third.sock.recv(100)
        except (socket.timeout, TimeoutError):
            early = b""
        results.check("max-conns: a third client waits while 2 threads are busy", early == b"",
                      f"answered early: {early!r}")
        idle[1].sock.close()
        third.sock.settimeout(5)
        status, _, _ = third.read_response()
        results.check("max-conns: it is served once a thread ends", status == 200, f"status {status}")
        idle[0].sock.close()
        third.sock.close()


# Bytes of user-space memory an idle connection may cost: generous bounds (the
# buffers alone were 48 KiB), so that only a connection holding its buffers or
# its whole stack while idle fails, not a few bytes more here or there.
IDLE_BOUNDS = {"multiplex --backend epoll": 4096, "coroutine": 6 * 1024,
               "coroutine --io uring": 6 * 1024}


def sanitized(binary):
    """A sanitizer build: its shadow memory would count as the server's."""
    with open(binary, "rb") as f:
        image = f.read()
    return b"__asan_init" in image or b"__tsan_init" in image


def case_idle_memory(args, results, root):
    count = 2000
    if not idle_memory.raise_nofile(count):
        results.check("idle-memory: descriptor limit", False, f"hard limit below {count + 50}")
        return
    for config, bound in IDLE_BOUNDS.items():
        binary = os.path.join(args.bin_dir, config.split()[0])
        if not os.access(binary, os.X_OK):
            continue
        per, again = idle_memory.idle_bytes(args.bin_dir, config, count, 2.5, root)
        results.check(f"idle-memory {config}: each of {count} connections answered again after "
                      "2.5 s idle", again == count, f"{again}/{count} answered")
        if sanitized(binary):
            print(f"skip idle-memory {config} bound: a sanitizer build (its shadow memory counts)")
            continue
        results.check(f"idle-memory {config}: {count} idle connections cost {per:.0f} B each "
                      f"(bound {bound})", per <= bound, f"{per:.0f} B per connection")


LINGER_COUNT = 1000
LINGER_BOUND = 12 * 1024       # the stack pages a request touched and the task, not a buffer


def case_linger_memory(args, results, root):
    """Connections the server is lingering on (--keepalive-requests 1: the answer to
    a request that asked to keep the connection ends it, and the client may still
    be sending, so the server lingers; the client's FIN not sent yet) hold no lent
    buffer (docs/design.md#lingering-close):
    the server's PSS growth per connection, read while it lingers, stays below one
    buffer's touched pages. Measured: coroutine 8.4 KiB each; 16.6 KiB while the
    handler still held its buffer through the linger (the 48 KiB buffer's pages
    that the request and the answer touched)."""
    if not idle_memory.raise_nofile(LINGER_COUNT):
        results.check("linger-memory: descriptor limit", False, f"below {LINGER_COUNT + 50}")
        return
    for config in ["coroutine", "coroutine --io uring", "multiplex --backend epoll"]:
        binary = os.path.join(args.bin_dir, config.split()[0])
        with ts.Server(args.bin_dir, config, ["--max-conns", str(LINGER_COUNT + 100),
                                              "--keepalive-requests", "1"],
                       root=root) as server:
            time.sleep(0.2)
            before = idle_memory.pss_bytes(server)
            socks = open_many(server, LINGER_COUNT)
            try:
                send_all(socks, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                data = read_all(socks, 10)  # until the server's shutdown: it lingers now
                per = (idle_memory.pss_bytes(server) - before) / LINGER_COUNT
                answered = sum(d.startswith(b"HTTP/1.1 200") for d in data.values())
            finally:
                for sock in socks:
                    sock.close()
        results.check(f"linger-memory {config}: {LINGER_COUNT} answered before the linger",
                      answered == LINGER_COUNT, f"{answered}/{LINGER_COUNT}")
        if sanitized(binary):
            print(f"skip linger-memory {config} bound: a sanitizer build")
            continue
        results.check(f"linger-memory {config}: {per:.0f} B per lingering connection "
                      f"(bound {LINGER_BOUND})", per <= LINGER_BOUND, f"{per:.0f} B")


STOP_CYCLES = 200              # per server and backend
STOP_BOUND_S = 0.100


def stop_cycle(argv, rng):
    """Start a server, wait a random moment after its start-up line (with an idle
    connection open, or one that was answered and kept alive, or none), send
    SIGTERM and time it until the process has exited: (seconds, exit status),
    or (None, why) if it did not start."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(10)
        selector.close()
        match = ts.STARTUP_LINE.match(process.stdout.readline().decode(errors="replace").strip()) \
            if ready else None
        if not match:
            return None, "no start-up line"
        kind = rng.randrange(3)
        sock = None
        if kind > 0:
            sock = socket.create_connection(("127.0.0.1", int(match.group(3))), timeout=5)
            if kind == 2:
                sock.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.recv(4096)
        time.sleep(rng.uniform(0, 0.02))
        pidfd = os.pidfd_open(process.pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        exited = poller.poll(5000)
        elapsed = time.monotonic() - sent
        os.close(pidfd)
        if sock is not None:
            sock.close()
        if not exited:
            return elapsed, "still running after 5 s"
        return elapsed, process.wait(1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def case_stop(args, results, root):
    """STOP_CYCLES start/SIGTERM cycles of multiplex and coroutine on each backend:
    every one exits (status 0) within STOP_BOUND_S of the signal. The stop signals
    are let in only inside the loop's wait (pselect, ppoll, epoll_pwait), so a
    SIGTERM that lands between the loop's check of the flag and its wait is not
    lost; a lost one would hold the server in its wait until the next event."""
    rng = random.Random(os.environ.get("STOP_SEED", "stop"))
    variants = [(binary, "--backend", backend) for binary in ("multiplex", "coroutine")
                for backend in ("select", "poll", "epoll")] + [("coroutine", "--io", "uring")]
    for binary, option, backend in variants:
        argv = [os.path.join(args.bin_dir, binary), "--port", "0", "--quiet",
                "--root", root, option, backend]
        times, problems = [], []
        for _ in range(STOP_CYCLES):
            elapsed, status = stop_cycle(argv, rng)
            if elapsed is None or status != 0:
                problems.append(status)
            else:
                times.append(elapsed)
        times.sort()
        slow = [t for t in times if t > STOP_BOUND_S]
        results.check(f"stop {binary} {backend}: {STOP_CYCLES} SIGTERMs, each exit within "
                      f"{STOP_BOUND_S * 1000:.0f} ms (median "
                      f"{times[len(times) // 2] * 1000 if times else 0:.1f} ms, slowest "
                      f"{times[-1] * 1000 if times else 0:.1f} ms)",
                      not slow and not problems,
                      f"{len(slow)} slower: {[round(t * 1000) for t in slow[:10]]} ms; "
                      f"problems: {problems[:5]}")


def case_uring_timeouts(args, results, root):
    """coroutine --io uring: the deadlines are io_uring linked timeouts. An idle
    connection is closed after --timeout-ms, a half-sent head gets 408, and a
    connection that keeps sending in time is not cut."""
    with ts.Server(args.bin_dir, "coroutine --io uring", root=root, timeout_ms=500) as server:
        with ts.Connection(server) as idle, ts.Connection(server) as half:
            half.send(b"GET /a.txt HTTP/1.1\r\nHo")
            start = time.monotonic()
            idle.sock.settimeout(5)
            closed = idle.sock.recv(100) == b""
            elapsed = time.monotonic() - start
            results.check(f"uring-timeouts: an idle connection is closed after --timeout-ms "
                          f"500 ({elapsed:.2f} s)", closed and 0.3 < elapsed < 2.0,
                          f"closed {closed} after {elapsed:.2f} s")
            status, _, _ = half.read_response()
            results.check("uring-timeouts: a half-sent head gets 408", status == 408,
                          f"status {status}")
        with ts.Connection(server) as steady:
            for _ in range(4):      # 4 requests 0.3 s apart: 1.2 s in all, each within 500 ms
                steady.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                status, _, _ = steady.read_response()
                if status != 200:
                    break
                time.sleep(0.3)
            results.check("uring-timeouts: a keep-alive client in time is not cut",
                          status == 200, f"status {status}")
        results.check("uring-timeouts: server still running", server.alive())


def case_uring_max_conns(args, results, root):
    """coroutine --io uring --max-conns 2: a third client gets 503 at once; once one
    of the two leaves, a new client is served."""
    with ts.Server(args.bin_dir, "coroutine --io uring --max-conns 2", root=root) as server:
        with ts.Connection(server), ts.Connection(server) as second:
            second.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            second.read_response()  # both are held by now
            with ts.Connection(server) as third:
                status, _, _ = third.read_response()
                results.check("uring-max-conns: a third client gets 503", status == 503,
                              f"status {status}")
        time.sleep(0.2)
        status, _, _ = ts.get(server, "/a.txt")
        results.check("uring-max-conns: served again once the two left", status == 200,
                      f"status {status}")


def case_uring_unavailable(args, results, root):
    """Where io_uring cannot be had (an old kernel: ENOSYS; kernel.io_uring_disabled:
    EPERM; a seccomp filter: either), coroutine --io uring says so in one line and
    exits 2 before it listens. URING_TEST_SETUP_ERRNO makes the ring's creation
    fail with that errno (coroutine/uring.c)."""
    for errno_value, cause in ((38, "Function not implemented"), (1, "Operation not permitted")):
        env = dict(os.environ, URING_TEST_SETUP_ERRNO=str(errno_value))
        done = subprocess.run([os.path.join(args.bin_dir, "coroutine"), "--io", "uring",
                               "--port", "0", "--root", root], env=env, capture_output=True,
                              timeout=10)
        lines = done.stderr.decode().splitlines()
        results.check(f"uring-unavailable: io_uring_setup failing with {cause}: exit 2, one "
                      "line naming it, nothing listening",
                      done.returncode == 2 and len(lines) == 1 and "io_uring" in lines[0]
                      and cause in lines[0] and done.stdout == b"",
                      f"status {done.returncode}, stderr {lines}, stdout {done.stdout[:80]!r}")


def case_uring_wait_fails(args, results, root):
    """coroutine --io uring whose ring wait fails (fail_uring_wait.c, preloaded:
    every io_uring_submit_and_wait_timeout returns EIO) ends as the readiness
    loop's failure does: exit status 1 and a line naming the call."""
    with tempfile.TemporaryDirectory(prefix="eventloop-shim-") as scratch:
        env, problem = ts.preload_env(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "fail_uring_wait.c"), scratch)
        if env is None:
            results.check("uring-wait-fails: fail_uring_wait.c builds", False, problem)
            return
        server = ts.Server(args.bin_dir, "coroutine --io uring", root=root, env=env)
        try:
            _, err = server.process.communicate(timeout=5)
            status = server.process.returncode
        except subprocess.TimeoutExpired:
            err, status = b"", "still running after 5 s"
        server.kill()
        lines = err.decode(errors="replace").splitlines()
        results.check("uring-wait-fails: a failing ring wait ends coroutine --io uring with "
                      "status 1 and a line naming it",
                      status == 1 and any("io_uring_submit_and_wait" in line for line in lines),
                      f"status {status}, stderr {lines}")


def servers_list_lines():
    path = os.path.join(HERE, "..", "servers.list")
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return [line for line in lines if line]


def stats_of(server, stats_path):
    """Stop the server (SIGTERM writes the stats file) and read the file."""
    status = server.stop()
    with open(stats_path) as f:
        return status, json.load(f)


SPREAD_SECONDS = 1.0
SPREAD_CLIENTS = 8
SPREAD_LEAST = 10   # each worker serves at least 1/SPREAD_LEAST of an even share


def close_load(server, seconds, clients):
    """Connection: close GETs from `clients` threads for `seconds`: how many."""
    counts = [0] * clients
    end = time.monotonic() + seconds

    def client(index):
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(REQUEST)
                    while sock.recv(65536):
                        pass
                counts[index] += 1
            except OSError:
                pass
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def case_spread(args, results, root):
    """Every `--workers N` line: a short Connection: close load reaches every worker."""
    for config in servers_list_lines():
        words = config.split()
        if "--workers" not in words or not os.access(os.path.join(args.bin_dir, words[0]),
                                                     os.X_OK):
            continue
        with tempfile.TemporaryDirectory(prefix="eventloop-spread-") as scratch:
            stats_path = os.path.join(scratch, "stats.json")
            server = ts.Server(args.bin_dir, config, ["--stats-file", stats_path], root=root)
            done = close_load(server, SPREAD_SECONDS, SPREAD_CLIENTS)
            status, stats = stats_of(server, stats_path)
            split = [worker.get("connections", 0) for worker in stats["per_worker"]]
            workers = int(words[words.index("--workers") + 1])
            # A tenth of an even share: correct code gives each worker 0.6 of
            # one or more; a ring whose multishot accept drains the shared
            # queue leaves the other ring none, or a few dozen.
            least = sum(split) / workers / SPREAD_LEAST
            results.check(f"spread: {config}: every worker served at least 1/{SPREAD_LEAST} of "
                          f"an even share of {done} Connection: close requests in "
                          f"{SPREAD_SECONDS:g} s",
                          status == 0 and len(split) == workers and min(split) >= least,
                          f"per-worker connections {split}, exit status {status}")


def case_max_conns_siblings(args, results, root):
    """--max-conns 5 with two loops: a loop at 5 leaves the next connection to the
    loop with room; 503 only when both hold 5. With --reuseport the kernel picks
    the loop, so only the bound per loop is checked there."""
    per_loop = 5
    for config in ("multiplex --workers 2 --backend epoll", "multiplex --workers 2",
                   "coroutine --workers 2", "coroutine --io uring --workers 2",
                   "multiplex --workers 2 --reuseport"):
        reuseport = "--reuseport" in config
        with tempfile.TemporaryDirectory(prefix="eventloop-maxconns-") as scratch:
            stats_path = os.path.join(scratch, "stats.json")
            server = ts.Server(args.bin_dir, config, ["--max-conns", str(per_loop),
                                                      "--stats-file", stats_path], root=root)
            held, statuses = [], []
            try:
                for _ in range(2 * per_loop + 1):
                    conn = ts.Connection(server)
                    held.append(conn)
                    conn.send(b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    statuses.append(conn.read_response()[0])
            finally:
                for conn in held:
                    conn.sock.close()
            status, stats = stats_of(server, stats_path)
            split = [worker.get("connections", 0) for worker in stats["per_worker"]]
            if reuseport:
                ok = statuses.count(200) >= per_loop and max(split) <= per_loop
            else:
                ok = statuses == [200] * (2 * per_loop) + [503] and split == [per_loop] * 2
            results.check(f"max-conns-siblings: {config} --max-conns {per_loop}: "
                          + ("no loop beyond 5" if reuseport else
                             "10 held connections served, the 11th 503"),
                          ok and status == 0,
                          f"statuses {statuses}, per-worker connections {split}, exit {status}")


def on_coroutine(case, **extra):
    """case run against the coroutine server instead of multiplex."""
    return lambda args, results, root: case(args, results, root, binary="coroutine", **extra)


CASES = {"half-request": case_half_request, "sleep20": case_sleep20, "idle1000": case_idle1000,
         "select1100": case_select1100, "max-conns": case_max_conns,
         "coroutine-half-request": on_coroutine(case_half_request),
         "coroutine-sleep20": on_coroutine(case_sleep20),
         "coroutine-idle2000": on_coroutine(case_idle1000, count=2000),
         "coroutine-select1100": on_coroutine(case_select1100),
         "uring-half-request": lambda args, results, root: case_half_request(
             args, results, root, binary="coroutine --io uring"),
         "uring-sleep20": on_coroutine(case_sleep20, variants=("uring",)),
         "uring-idle2000": on_coroutine(case_idle1000, count=2000, variants=("uring",)),
         "uring-timeouts": case_uring_timeouts, "uring-unavailable": case_uring_unavailable,
         "uring-max-conns": case_uring_max_conns, "uring-wait-fails": case_uring_wait_fails,
         "idle-memory": case_idle_memory, "linger-memory": case_linger_memory,
         "stop": case_stop, "spread": case_spread, "max-conns-siblings": case_max_conns_siblings}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    results = ts.Results("eventloop")
    root = ts.make_root(tempfile.mkdtemp(prefix="eventloop-"))
    for name, case in CASES.items():
        if args.only and name not in args.only.split(","):
            continue
        binary = ("threaded" if name == "max-conns" else
                  "multiplex" if name in ("spread", "max-conns-siblings") else "coroutine" if name == "stop" else
                  "coroutine" if name.startswith(("coroutine-", "uring-")) else "multiplex")
        if not os.access(os.path.join(args.bin_dir, binary), os.X_OK):
            print(f"skip {name}: no {binary} in {args.bin_dir}")
            continue
        try:
            case(args, results, root)
        except Exception as error:  # one broken case must not hide the others
            results.check(name, False, f"{type(error).__name__}: {error}")
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
