#!/usr/bin/env python3
"""make bench: run the experiments, write CSVs, plots and a report.

    python3 bench/bench.py [--full] [--only EXP[,EXP]] [--bin-dir build/bin]
    python3 bench/bench.py --report-only bench/results/latest   (redraw, rerun nothing)

Every server is started with the suite's contract (docs/design.md#command-line):
--port 0, the port read from its one stdout line, stopped with SIGTERM, its
counters read from the stats file it writes (docs/design.md#stats-file). Load
comes from wrk (pinned to other cores than the server) and from bench/client
(sequential connections, idle connections, slow clients that trickle a request
head, and open-loop load at a fixed rate, whose latencies count from each
request's intended send time). The definitions of every number are in (docs/design.md#bench-numbers)
and docs/results.md.
"""
import argparse
import csv
import dataclasses
import datetime
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from configs import (BOUNDED_MAX_N, CONFIGS, SERVES_AT_ONCE, UPSTREAM, W, Config,  # noqa: E402
                     many_conns, servers, slow_client_configs, stack_configs, upstream_configs,
                     waits_at_once)
import greedy  # noqa: E402  (the greedy-client experiment)
from queueing import capacity_verdict, client_short, little_missed  # noqa: E402
import syscalls  # noqa: E402  (bench/syscalls.py: system calls per request)

EXPERIMENTS = ["fig30.1", "herd", "distribution", "throughput", "latency", "sessions",
               "connections",
               "slow-handler", "slow-upstream", "slow-clients", "memory", "coro-switch",
               "greedy-client", "syscalls", "stacks"]
BODY = 4000                 # bytes per answer: UNP's client asked for 4000 bytes
FILE = "/bench-4000.bin"    # a static file of BODY bytes under the servers' root
# Idle connections are idle this long before the server's memory is read: the
# coroutine server gives an idle stack's pages back after 1 s (SCHED_IDLE_RELEASE_MS
# in coroutine/sched.h). The memory experiment's default; docs/labs/hold.py waits
# the same.
IDLE_MEMORY_S = 1.5
# Descriptors a run needs beyond one per connection (listening socket, stats
# file, pipes, ...): a point of N connections needs N + FD_SPARE in the client and
# in the server, each under the descriptor limit, or it is not run.
FD_SPARE = 16

# Durations and sweeps. The default set takes about 8 minutes on 2 cores (8 min 5 s on a quiet one; 50 s of it
# slow-upstream); FULL=1 is for a quiet machine and a coffee. slow_* belong to slow-handler; trickle_* to
# slow-clients (clients that trickle their request head); lat_* to latency and
# c10k_* to connections (open-loop load from bench/client rate); mem_* to memory.
# lat_loads are percentages of each configuration's own capacity, measured first
# by a run of lat_capacity_seconds asking far more than any server here serves;
# lat_depth is how many requests the open-loop client pipelines on a connection
# (bench/README.md, "The open-loop client's own ceiling"). The capacity is the
# best of lat_capacity_runs, and the loads go past 100 %: on this 2-core VM a
# saturated server's CPU per request moved by a fifth and more from one 0.3 s
# run to the next even on a quiet machine (multiplex: 13 to 21 µs), so one
# capacity run can be a slow moment's, and 110 % of it no overload at all.
# sess_* belong to sessions (partly-open load from bench/client sessions); up_* to
# slow-upstream (every model as a proxy in front of an upstream that sleeps
# up_sleep_ms per answer, wrk's keep-alive clients through it, for up_seconds or
# up_client_ms per client if longer: a thread or a process per connection takes
# a while to start them all, which a short run would measure instead).
SETTINGS = {
    "default": dict(seconds=0.4, reps=2, tput_reps=1, fig_clients=10, pool=8,
                    lat_loads=[10, 30, 50, 70, 80, 90, 95, 100, 110, 120], lat_conns=64,
                    lat_seconds=0.4, lat_drain_ms=200, lat_reps=1, lat_capacity_rate=1e6,
                    lat_capacity_seconds=0.3, lat_capacity_drain_ms=100, lat_capacity_runs=3,
                    lat_depth=8,
                    c10k_conns=[100, 1000, 10000], c10k_rate=5000, c10k_min_seconds=0.5,
                    c10k_drain_ms=300, c10k_reps=1, mem_reps=1,
                    tput_conc=[1, 16, 256], herd_children=[1, 4, 16, 64],
                    herd_conns=150, herd_gap_us=1000, dist_workers=8, dist_high_clients=32, dist_conns=200,
                    slow_seconds=0.4, slow_clients=64, mem_conns=10000, mem_wait_ms=1000,
                    trickle_conns=300, trickle_interval_ms=2000, trickle_gets=20,
                    trickle_window_s=2.5, trickle_baseline_gets=5, trickle_reps=1,
                    trickle_iterative_conns=2, trickle_iterative_timeout_ms=2000,
                    sess_rates=[100, 400], sess_k=5, sess_think_ms=20, sess_seconds=0.6,
                    sess_drain_ms=300,
                    greedy_probes=20, greedy_window_s=1.5, syscall_seconds=1, syscall_conns=[256],
                    mem_idle_s=IDLE_MEMORY_S, stack_seconds=1.0, stack_conns=200,
                    up_clients=[1, 4, 16, 64, 256], up_seconds=0.8, up_client_ms=6.25,
                    up_sleep_ms=50, up_reps=1, up_probe_gets=10),
    "full": dict(seconds=1.0, reps=5, tput_reps=1, fig_clients=10, pool=8,
                 lat_loads=[10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 100, 105, 110,
                            120, 130],
                 lat_conns=64, lat_seconds=1.0, lat_drain_ms=500, lat_reps=1,
                 lat_capacity_rate=1e6, lat_capacity_seconds=1.0, lat_capacity_drain_ms=100,
                 lat_capacity_runs=3, lat_depth=8,
                 c10k_conns=[100, 1000, 10000, 50000, 100000], c10k_rate=5000,
                 c10k_min_seconds=1.0, c10k_drain_ms=500, c10k_reps=2, mem_reps=2,
                 tput_conc=[1, 4, 16, 64, 256, 1024], herd_children=[1, 2, 4, 8, 16, 32, 64],
                 herd_conns=1000, herd_gap_us=1000, dist_workers=8, dist_high_clients=32, dist_conns=1000,
                 slow_seconds=2.0, slow_clients=64, mem_conns=10000, mem_wait_ms=2000,
                 trickle_conns=300, trickle_interval_ms=2000, trickle_gets=20,
                 trickle_window_s=2.5, trickle_baseline_gets=5, trickle_reps=3,
                 trickle_iterative_conns=3, trickle_iterative_timeout_ms=2000,
                 sess_rates=[25, 50, 100, 200, 400, 800], sess_k=5, sess_think_ms=20,
                 sess_seconds=2.0, sess_drain_ms=1000,
                 greedy_probes=50, greedy_window_s=6.0, syscall_seconds=3, syscall_conns=[1, 256],
                 mem_idle_s=2.0, stack_seconds=2.0, stack_conns=1000,
                 up_clients=[1, 2, 4, 8, 16, 32, 64, 128, 256], up_seconds=2.0,
                 up_client_ms=12.5, up_sleep_ms=50, up_reps=2, up_probe_gets=20),
}


def log(msg):
    print(msg, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- processes

def proc_children(pid):
    """Direct children of pid (all its threads' children)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def proc_tree(pid):
    """pid and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += proc_children(p)
    return tree


def proc_cpu_s(pid):
    """utime+stime (+ reaped children's) of one process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(int(x) for x in fields[11:15]) / ticks
    except (OSError, IndexError):
        return 0.0


def proc_tree_cpu_s(pid):
    """On-CPU time of every thread of pid and its descendants, in seconds, from
    /proc/*/task/*/schedstat (nanoseconds, unlike the 10 ms ticks of /proc/*/stat).
    None when the kernel has no schedstat."""
    total = 0
    for p in proc_tree(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/schedstat"):
                return None
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def tree_ticks_s(pid):
    """utime+stime of pid and its descendants, with the reaped children and the
    ended threads (10 ms ticks, /proc/PID/stat)."""
    return sum(proc_cpu_s(p) for p in proc_tree(pid))


def proc_memory_kb(pids):
    """(RSS, PSS) in KiB summed over processes (threads share one process)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
            except OSError:
                pass
    return rss, pss


def tcp_sockets(port, states):
    """(inode, receive queue) of every TCP/IPv4 socket whose local port is port
    and whose state is in states (a set of TCP state numbers), asked over
    NETLINK_SOCK_DIAG; None when the kernel does not answer. /proc/net/tcp would
    list every TIME_WAIT socket of the earlier runs too, and grow slow."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)   # NETLINK_SOCK_DIAG
    except OSError:
        return None
    mask = sum(1 << state for state in states)
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0,
                          mask) + bytes(48)                             # inet_diag_req_v2
    header = struct.pack("=IHHII", 16 + len(request), 20, 0x301, 1, 0)   # SOCK_DIAG_BY_FAMILY, dump
    found = []
    with sock:
        sock.settimeout(2)
        try:
            sock.send(header + request)
            while True:
                data = sock.recv(1 << 16)
                offset = 0
                while offset + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if kind == 3:                                       # NLMSG_DONE
                        return found
                    if kind == 2 or length < 16:                        # NLMSG_ERROR
                        return None
                    msg = offset + 16                                   # inet_diag_msg
                    sport = struct.unpack_from(">H", data, msg + 4)[0]
                    if sport == port:
                        rqueue, inode = struct.unpack_from("=I8xI", data, msg + 56)
                        found.append((inode, rqueue))
                    offset += (length + 3) & ~3
        except (OSError, struct.error):
            return None


TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_LISTEN = 1, 8, 10


def listen_backlog(port):
    """Connections waiting in the accept queue of the listening socket(s) on port.
    For a listening socket the kernel reports the accept backlog as its receive
    queue."""
    found = tcp_sockets(port, {TCP_LISTEN})
    return None if found is None else sum(rqueue for _, rqueue in found)


def held_connections(port):
    """Connections the server on port holds: its side of every established
    connection that it has accepted. A connection still in the accept queue has
    no socket file yet (the kernel reports inode 0), so it does not count; nor
    does one the server has closed."""
    found = tcp_sockets(port, {TCP_ESTABLISHED, TCP_CLOSE_WAIT})
    return None if found is None else sum(1 for inode, _ in found if inode)


def nofile_limit():
    """The descriptor limit every process the bench starts inherits (main raises
    the soft limit to the hard one)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def descriptors_short(n):
    """Why a point of n connections cannot run here ('' when it can): the client
    and the server each need a descriptor per connection, under one limit."""
    need, limit = n + FD_SPARE, nofile_limit()
    return f"not run: needs {need} descriptors, the limit is {limit}" if need > limit else ""


def proc_status_total(pids, field):
    """A number of /proc/PID/status summed over processes: "Threads" (threads
    share one process), or "VmSize" (KiB of address space reserved: a thread's
    whole stack counts from its creation, touched or not; RSS counts only the
    pages touched)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
        except (OSError, StopIteration, ValueError):
            pass
    return total


def tcp_mem_pages():
    """The kernel's TCP buffer memory, in pages, from /proc/net/sockstat ("TCP: ...
    mem N"): the whole machine's, both ends of every loopback connection."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    words = line.split()
                    return int(words[words.index("mem") + 1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def stderr_tail(path):
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return f" (stderr: {lines[-1][:160]})" if lines else ""
    except OSError:
        return ""


def nginx_path():
    """nginx lives in /usr/sbin, which a user's PATH may not hold."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def nginx_dir(cfg):
    """The directory of a nginx row's config and logs: nginx/ for the defaults, else
    nginx- and the first directive's name (nginx-open_file_cache/)."""
    return "nginx" + ("-" + cfg.options[0].split()[0] if cfg.options else "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, cfg, proc, port, pid, stats_path, workers):
        self.cfg, self.proc, self.port, self.pid = cfg, proc, port, pid
        self.stats_path, self.workers = stats_path, workers

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


class StartError(Exception):
    pass


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, out, bin_dir, settings, plan_only=False):
        self.out, self.bin_dir, self.s = out, bin_dir, settings
        self.tools = os.path.join(HERE, "build")
        self.www = os.path.join(out, "www")
        self.tmp = os.path.join(out, "tmp")
        self.running = []
        self.serial = 0
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            half = len(cpus) // 2
            self.server_cpus, self.client_cpus = cpus[:half], cpus[half:]
        else:
            self.server_cpus = self.client_cpus = []
        if not plan_only:
            os.makedirs(self.www, exist_ok=True)
            os.makedirs(self.tmp, exist_ok=True)
            with open(os.path.join(self.www, FILE.lstrip("/")), "wb") as f:
                f.write(b"x" * BODY)
            with open(os.path.join(self.www, "index.html"), "w") as f:
                f.write("<p>bench root</p>\n")
            self.commands = open(os.path.join(out, "commands.txt"), "w")
            self.lua = os.path.join(HERE, "report.lua")

    def pin(self, cpus):
        return ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []

    def record_command(self, argv):
        self.commands.write(" ".join(argv) + "\n")
        self.commands.flush()

    # -- servers

    def start(self, cfg, workers, cpus=None):
        """Start cfg on the server's CPUs (or on cpus), wait for its first line."""
        if cfg.binary == "nginx":
            return self.start_nginx(cfg)
        self.serial += 1
        stats = os.path.join(self.tmp, f"stats-{self.serial}.json")
        binary = (os.path.join(self.tools, "floor") if cfg.binary == "floor"
                  else os.path.join(self.bin_dir, cfg.binary))
        argv = self.pin(self.server_cpus if cpus is None else cpus) + [
            binary, "--port", "0", "--root", self.www, "--stats-file", stats,
            "--quiet"] + cfg.argv(workers)
        self.record_command(argv)
        errlog = open(os.path.join(self.tmp, f"stderr-{self.serial}.txt"), "w+")
        env = dict(os.environ, **cfg.env) if cfg.env else None
        if cfg.env:
            self.record_command(["# with"] + [f"{k}={v}" for k, v in cfg.env.items()])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errlog,
                                stdin=subprocess.DEVNULL, env=env)
        ready, _, _ = select.select([proc.stdout], [], [], 5.0)
        line = proc.stdout.readline().decode(errors="replace") if ready else ""
        m = re.search(r"listening on http://[^:]+:(\d+)/.*pid=(\d+)", line)
        if not m:
            try:
                proc.kill()
            except OSError:
                pass
            proc.wait()
            errlog.seek(0)
            why = errlog.read().strip().splitlines()
            errlog.close()
            raise StartError(f"exit {proc.returncode}: {why[-1] if why else line.strip() or 'no output'}")
        errlog.close()
        run = Running(cfg, proc, int(m.group(1)), proc.pid, stats, workers)
        run.stderr_path = errlog.name
        self.running.append(run)
        self.settle(run)
        return run

    def settle(self, run):
        """Wait until the process tree stops growing (workers forked and waiting)."""
        last, stable, deadline = -1, 0, time.time() + 1.0
        while stable < 3 and time.time() < deadline:
            n = len(proc_tree(run.pid))
            stable = stable + 1 if n == last else 0
            last = n
            time.sleep(0.01)

    def stop(self, run):
        """SIGTERM, wait, read the stats file. Returns (stats or None, problem text)."""
        problem = ""
        if run.cfg.binary == "nginx":
            return self.stop_nginx(run)
        tree = proc_tree(run.pid)
        try:
            os.kill(run.pid, signal.SIGTERM)
            rc = run.proc.wait(timeout=10)
            if rc != 0:
                problem = f"exit status {rc} after SIGTERM" + stderr_tail(run.stderr_path)
        except subprocess.TimeoutExpired:
            for pid in tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            run.proc.wait()
            problem = "did not exit within 10 s of SIGTERM (killed)"
        run.proc.stdout.close()
        self.running.remove(run)
        try:
            with open(run.stats_path) as f:
                stats = json.load(f)
        except (OSError, ValueError) as e:
            return None, (problem + "; " if problem else "") + f"no stats file ({e.__class__.__name__})"
        return stats, problem

    def start_nginx(self, cfg):
        nginx = nginx_path()
        if nginx is None:
            raise StartError("nginx is not installed")
        # One prefix per row (nginx/, nginx-open_file_cache/): each keeps its own config.
        prefix = os.path.join(self.out, nginx_dir(cfg))
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        port = free_port()
        conf = os.path.join(prefix, "nginx.conf")
        version = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
        temps = ""
        for module in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            name = "client-body" if module == "client_body" else module
            if f"--http-{name}-temp-path" in version and f"--without-http_{module}_module" not in version:
                temps += f"    {module}_temp_path {prefix}/tmp/{module};\n"
        status = "stub_status" if "stub_status" in version else ""
        directives = "".join(f"    {line}\n" for line in cfg.options)
        with open(conf, "w") as f:
            f.write(f"""# generated by bench/bench.py: one process, loopback only
worker_processes 1;
master_process off;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile {nofile_limit()};
events {{ worker_connections {nofile_limit()}; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
{directives}{temps}    types {{ text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {self.www};
        {"location = /nginx_status { " + status + "; }" if status else ""}
    }}
}}
""")
        argv = self.pin(self.server_cpus) + [nginx, "-p", prefix, "-c", conf, "-e",
                                             os.path.join(prefix, "error.log")]
        self.record_command(argv)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        deadline = time.time() + 5
        while time.time() < deadline:
            if proc.poll() is not None:
                raise StartError(f"nginx exited {proc.returncode}; see {prefix}/error.log")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            proc.kill()
            proc.wait()
            raise StartError("nginx did not listen within 5 s")
        run = Running(cfg, proc, port, proc.pid, None, 1)
        run.has_status = bool(status)
        self.running.append(run)
        return run

    def nginx_connections(self, run):
        """accepts and requests from stub_status, minus the status request itself."""
        if not run.has_status:
            return None, None
        try:
            with socket.create_connection(("127.0.0.1", run.port), timeout=2) as s:
                s.sendall(b"GET /nginx_status HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            nums = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", data)
            return int(nums.group(1)) - 1, int(nums.group(3)) - 1
        except (OSError, AttributeError):
            return None, None

    def stop_nginx(self, run):
        conns, reqs = self.nginx_connections(run)
        cpu = proc_tree_cpu_s(run.pid)          # ns resolution; /proc/PID/stat has 10 ms ticks
        if cpu is None:
            cpu = proc_cpu_s(run.pid)
        run.proc.send_signal(signal.SIGTERM)
        try:
            run.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
        self.running.remove(run)
        stats = {"server": "nginx", "workers": 1,
                 "cpu": {"self_user_s": cpu, "self_sys_s": 0.0, "children_user_s": 0.0,
                         "children_sys_s": 0.0},
                 "totals": {"connections": conns, "requests": reqs, "waits": None,
                            "sleeps": None, "spurious": None, "errors": None},
                 "per_worker": []}
        return stats, ""

    def stop_all(self):
        for run in list(self.running):
            for pid in proc_tree(run.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            run.proc.wait()
        self.running = []

    # -- load

    def wrk(self, url, conns, seconds, close, before_stop=None):
        threads = max(1, min(len(self.client_cpus) or 1, conns))
        argv = self.pin(self.client_cpus) + [
            "wrk", "-t", str(threads), "-c", str(conns), "-d", f"{int(seconds) + 30}s",
            "--timeout", "10s", "-s", self.lua]
        if close:
            argv += ["-H", "Connection: close"]
        argv.append(url)
        self.record_command(argv + [f"# stopped with SIGINT after {seconds} s"])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            time.sleep(seconds)
            observed = before_stop() if before_stop else None
        except BaseException:
            proc.kill()             # interrupted: leave no wrk behind
            proc.wait()
            raise
        proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        text = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
        m = re.search(r"^BENCH (.*)$", text, re.M)
        if not m:
            return {"wrk_problem": "wrk printed no summary: " + text.strip()[-200:]}
        r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        r["client_cpu_s"] = usage.ru_utime + usage.ru_stime
        r["observed"] = observed
        return r

    def client(self, mode, port, path, n, extra=()):
        argv = self.pin(self.client_cpus) + [os.path.join(self.tools, "client"), mode,
                                             "127.0.0.1", str(port), path, str(n)] + list(extra)
        self.record_command(argv)
        return argv


# ---------------------------------------------------------------- records

def wrk_flags(w):
    """The problems of one wrk run, as text ('' when clean)."""
    if "wrk_problem" in w:
        return w["wrk_problem"]
    problems = []
    sock = {k: int(w.get(k, 0)) for k in ("connect", "read", "write", "timeout")}
    if any(sock.values()):
        problems.append("socket errors " + " ".join(f"{k}={v}" for k, v in sock.items() if v))
    if w.get("status", 0):
        problems.append(f"non-2xx={int(w['status'])}")
    if w.get("requests", 0) == 0:
        problems.append("no answers")
    return "; ".join(problems)


def server_numbers(stats):
    cpu = stats.get("cpu") or {}
    total = sum(cpu.get(k) or 0.0 for k in ("self_user_s", "self_sys_s", "children_user_s",
                                               "children_sys_s"))
    t = stats.get("totals") or {}
    return (total if cpu else None), t


def per(value, count, scale=1e6):
    return value / count * scale if value is not None and count else None


class Experiment:
    """A named list of runs; each run is one closure returning a CSV row."""

    def __init__(self, bench, name, fields):
        self.bench, self.name, self.fields = bench, name, fields
        self.runs = []

    def add(self, description, fn):
        self.runs.append((description, fn))


class CsvOut:
    def __init__(self, path, fields):
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields, extrasaction="ignore")
        self.w.writeheader()

    def row(self, d):
        self.w.writerow({k: ("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v))
                         for k, v in d.items()})
        self.f.flush()


LOAD_FIELDS = ["experiment", "config", "binary", "options", "workers", "mode", "clients", "rep",
               "seconds", "requests", "req_per_s", "p50_us", "p99_us", "server_connections",
               "server_requests", "server_cpu_s", "client_cpu_s", "cpu_per_conn_us",
               "cpu_per_req_us", "client_cpu_per_conn_us", "client_cpu_per_req_us", "flag"]


def load_run(bench, cfg, workers, mode, clients, seconds, path=FILE, experiment="",
             on_stats=None):
    """Start cfg, run wrk against it, stop it: one row. on_stats(row, stats), when
    given, reads more of the stats file into the row."""
    row = dict(experiment=experiment, config=cfg.label, binary=cfg.binary,
               options=" ".join(cfg.argv(workers)), workers=workers if cfg.uses_workers() else "",
               mode=mode, clients=clients, seconds=seconds)
    try:
        run = bench.start(cfg, workers)
    except StartError as e:
        row["flag"] = f"did not start: {e}"
        return row
    w = bench.wrk(run.url + path, clients, seconds, close=(mode == "close"),
                  before_stop=lambda: listen_backlog(run.port))
    stats, problem = bench.stop(run)
    flags = [f for f in (wrk_flags(w), problem) if f]
    if "requests" in w:
        row.update(requests=int(w["requests"]), req_per_s=w["requests"] / (w["duration_us"] / 1e6),
                   p50_us=w["p50"], p99_us=w["p99"], client_cpu_s=w["client_cpu_s"])
    if stats:
        cpu, totals = server_numbers(stats)
        conns, reqs = totals.get("connections"), totals.get("requests")
        if conns is None and mode == "close":
            conns = reqs = row.get("requests")     # nginx without stub_status
        row.update(server_connections=conns, server_requests=reqs, server_cpu_s=cpu,
                   cpu_per_conn_us=per(cpu, conns), cpu_per_req_us=per(cpu, reqs),
                   client_cpu_per_conn_us=per(row.get("client_cpu_s"), conns),
                   client_cpu_per_req_us=per(row.get("client_cpu_s"), reqs))
        if mode == "keepalive" and conns is not None and conns < clients:
            flags.append(f"starved: the server took {conns} of {clients} connections")
        elif mode == "keepalive" and w.get("observed"):
            flags.append(f"starved: {w['observed']} of {clients} connections still waited "
                         "in the listen queue at the end")
        if on_stats:
            on_stats(row, stats)
    row["flag"] = "; ".join(flags)
    return row


# ---------------------------------------------------------------- experiments

def present(bench, cfgs):
    """The rows that started in the probe; "full" rows only with FULL=1."""
    return [c for c in cfgs if c.label in bench.available and (bench.full or "full" not in c.groups)]


def exp_fig30_1(bench, csvs):
    s = bench.s
    cfgs = present(bench, bench.configs)
    out = csvs("fig30.1", LOAD_FIELDS)
    e = Experiment(bench, "fig30.1", LOAD_FIELDS)
    for rep in range(1, s["reps"] + 1):
        for cfg in cfgs:
            def fn(cfg=cfg, rep=rep):
                row = load_run(bench, cfg, s["pool"], "close", s["fig_clients"], s["seconds"],
                               experiment="fig30.1")
                row["rep"] = rep
                out.row(row)
                return row
            e.add(f"fig30.1 {describe(cfg, s['pool'])} close c={s['fig_clients']} rep {rep}", fn)
    return e


def exp_throughput(bench, csvs):
    s = bench.s
    group = None if bench.full else "main"
    cfgs = present(bench, [c for c in bench.configs if group is None or group in c.groups])
    out = csvs("throughput", LOAD_FIELDS)
    e = Experiment(bench, "throughput", LOAD_FIELDS)
    for rep in range(1, s.get("tput_reps", s["reps"]) + 1):
        for mode in ("keepalive", "close"):
            for clients in s["tput_conc"]:
                for cfg in cfgs:
                    def fn(cfg=cfg, rep=rep, mode=mode, clients=clients):
                        row = load_run(bench, cfg, s["pool"], mode, clients, s["seconds"],
                                       experiment="throughput")
                        row["rep"] = rep
                        out.row(row)
                        return row
                    e.add(f"throughput {describe(cfg, s['pool'])} {mode} c={clients} rep {rep}", fn)
    return e


def exp_slow(bench, csvs):
    s = bench.s
    cfgs = present(bench, [c for c in bench.configs if "main" in c.groups and not c.reference])
    out = csvs("slow-handler", LOAD_FIELDS)
    e = Experiment(bench, "slow-handler", LOAD_FIELDS)
    for rep in range(1, s["reps"] + 1):
        for cfg in cfgs:
            def fn(cfg=cfg, rep=rep):
                row = load_run(bench, cfg, s["pool"], "keepalive", s["slow_clients"],
                               s["slow_seconds"], path="/lab/sleep/50", experiment="slow-handler")
                row["rep"] = rep
                # Starving keep-alive clients is what a serial model does here: not an error.
                row["flag"] = "; ".join(f for f in row.get("flag", "").split("; ")
                                        if f and not f.startswith("starved"))
                out.row(row)
                return row
            e.add(f"slow-handler {describe(cfg, s['pool'])} /lab/sleep/50 c={s['slow_clients']} rep {rep}", fn)
    return e


UPSTREAM_FIELDS = LOAD_FIELDS[:-1] + ["sleep_ms", "upstream_ms", "at_once", "ceiling",
                                     "upstream_cpu_per_req_us", "cores", "server_cpu_ceiling",
                                     "client_cpu_ceiling", "cpu_ceiling", "cpu_bound",
                                     "served_at_once", "waiting", "flag"]


def timed_path_get(port, path, timeout=5):
    """One GET of path on a new connection, read to EOF: milliseconds, or None
    when it was not a 200."""
    start = time.monotonic()
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return None
    return (time.monotonic() - start) * 1000 if data.startswith(b"HTTP/1.1 200") else None


def start_upstream(bench, state, path):
    """The slow-upstream experiment's upstream (configs.py UPSTREAM), started by
    the first run that needs it and kept for the others, on the client's CPUs so
    that the server's CPUs run only the model measured: its Running, with
    state["ms"], its own latency (the median of up_probe_gets GETs of path, one
    at a time, each on a new connection as the proxies make them). Raises
    StartError."""
    run = state.get("run")
    if run is not None and run.proc.poll() is None:
        return run
    run = state["run"] = bench.start(UPSTREAM, 1, cpus=bench.client_cpus)
    times = [timed_path_get(run.port, path) for _ in range(bench.s["up_probe_gets"])]
    state["ms"] = median(times)
    if state["ms"] is None:
        raise StartError(f"the upstream did not answer GET {path}")
    return run


def stop_upstream(bench, state):
    run = state.pop("run", None)
    if run is not None and run.proc.poll() is None:
        bench.stop(run)


def exp_slow_upstream(bench, csvs):
    """slow-upstream: every model as a reverse proxy (--upstream) in front of one
    upstream whose every answer takes up_sleep_ms (/lab/sleep), with each number
    of wrk's keep-alive clients in up_clients. A model bound by its workers keeps
    N requests waiting on the upstream at once, so it answers at most N / L per
    second (Little's law, L the upstream's latency, measured when it starts);
    a thread per connection and the event loops keep every client's request
    waiting, up to what their CPU serves. Per run: the proxy's throughput, wrk's
    latency, the proxy's CPU per request; its N and ceiling (configs.py
    waits_at_once); the clients it kept waiting at once, throughput x L; and the
    clients it never took (`waiting`: wrk's keep-alive connections the server
    did not accept, a failure of the model here, not of the run)."""
    s = bench.s
    cfgs = present(bench, upstream_configs(bench.configs))
    out = csvs("slow-upstream", UPSTREAM_FIELDS)
    e = Experiment(bench, "slow-upstream", UPSTREAM_FIELDS)
    path = f"/lab/sleep/{s['up_sleep_ms']}"
    state = {}
    plan = [(rep, clients, cfg) for rep in range(1, s["up_reps"] + 1)
            for clients in s["up_clients"] for cfg in cfgs]
    for i, (rep, clients, cfg) in enumerate(plan):
        seconds = max(s["up_seconds"], clients * s["up_client_ms"] / 1000)

        def fn(cfg=cfg, rep=rep, clients=clients, seconds=seconds, last=i == len(plan) - 1):
            row = dict(experiment="slow-upstream", config=cfg.label, binary=cfg.binary,
                       options=" ".join(cfg.argv(s["pool"]) + ["--upstream", "UPSTREAM"]),
                       mode="keepalive", clients=clients, rep=rep, seconds=seconds,
                       sleep_ms=s["up_sleep_ms"])
            try:
                up = start_upstream(bench, state, path)
            except StartError as err:
                row["flag"] = f"upstream did not start: {err}"
                out.row(row)
                return row
            latency_ms = row["upstream_ms"] = state["ms"]
            proxy = Config(cfg.label, cfg.binary, cfg.options + ["--upstream", f"127.0.0.1:{up.port}"],
                           cfg.groups, cfg.book_row, cfg.reference, cfg.env)

            def little(row, stats):
                row["at_once"] = waits_at_once(stats)
                if row["at_once"]:
                    row["ceiling"] = row["at_once"] / (latency_ms / 1000)

            # A model bound by its CPU instead: what its cores serve at its CPU per
            # request (as latency's c: its threads or loops, at most the cores).
            cores = min(servers(cfg, s["pool"], clients), len(bench.server_cpus) or os.cpu_count())
            upstream_cpu = proc_tree_cpu_s(up.pid)
            try:
                row.update(load_run(bench, proxy, s["pool"], "keepalive", clients,
                                    seconds, path=path, experiment="slow-upstream",
                                    on_stats=little), options=row["options"])
            finally:
                if upstream_cpu is not None and up.proc.poll() is None:
                    upstream_cpu = proc_tree_cpu_s(up.pid) - upstream_cpu
                if last:
                    stop_upstream(bench, state)
            row["upstream_cpu_per_req_us"] = per(upstream_cpu, row.get("server_requests"))
            if row.get("req_per_s"):
                row["served_at_once"] = row["req_per_s"] * latency_ms / 1000
            if not row.get("at_once") and row.get("cpu_per_req_us"):
                # Two cores can end the line: the server's (the proxy alone) and the
                # client's, where wrk and the upstream share the work of each request.
                row["cores"] = cores
                row["server_cpu_ceiling"] = cores / row["cpu_per_req_us"] * 1e6
                client = (row.get("client_cpu_per_req_us") or 0) + (row["upstream_cpu_per_req_us"] or 0)
                if client:
                    row["client_cpu_ceiling"] = (len(bench.client_cpus) or os.cpu_count()) / client * 1e6
                row["cpu_ceiling"], row["cpu_bound"] = min(
                    (row["server_cpu_ceiling"], "server"),
                    (row.get("client_cpu_ceiling") or float("inf"), "client"))
            # Clients the model never took are what this experiment shows, not a
            # failed run: they go to their own column, and the plot marks them.
            flags = [f for f in (row.get("flag") or "").split("; ") if f]
            row["waiting"] = "; ".join(f.removeprefix("starved: ") for f in flags
                                       if f.startswith("starved"))
            row["flag"] = "; ".join(f for f in flags if not f.startswith("starved"))
            out.row(row)
            return row
        e.add(f"slow-upstream {describe(cfg, s['pool'])} --upstream (GET {path}) keepalive "
              f"c={clients} for {seconds:g} s rep {rep}", fn)
    return e


TRICKLE_FIELDS = ["experiment", "config", "binary", "options", "rep", "slow_target",
                  "slow_connected", "slow_open_end", "slow_closed_answered", "interval_ms",
                  "timeout_ms", "gets", "ok", "baseline_ms", "median_ms", "max_ms", "first_ms",
                  "within_1s", "latencies_ms", "flag"]


def timed_get(port, timeout):
    """One GET of FILE on a new connection, read to EOF: (milliseconds, problem or '')."""
    start = time.monotonic()
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(max(0.1, start + timeout - time.monotonic()))
            sock.sendall(f"GET {FILE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while chunk := sock.recv(65536):
                data += chunk
    except OSError as error:
        ms = (time.monotonic() - start) * 1000
        return ms, f"{error.__class__.__name__} after {len(data)} bytes"
    ms = (time.monotonic() - start) * 1000
    body = data.partition(b"\r\n\r\n")[2]
    if not data.startswith(b"HTTP/1.1 200") or len(body) != BODY:
        return ms, f"answered {data[:20]!r} with a {len(body)}-byte body"
    return ms, ""


def trickle_run(bench, cfg, rep):
    """Start cfg, hold slow clients on it, time a normal client's GETs, stop it."""
    s = bench.s
    iterative = cfg.binary == "iterative"
    n = s["trickle_iterative_conns"] if iterative else s["trickle_conns"]
    # --timeout-ms default (docs/design.md#command-line)
    timeout_ms = s["trickle_iterative_timeout_ms"] if iterative else 10000
    row = dict(experiment="slow-clients", config=cfg.label, binary=cfg.binary,
               options=" ".join(cfg.options), rep=rep, slow_target=n,
               interval_ms=s["trickle_interval_ms"], timeout_ms=timeout_ms, gets=s["trickle_gets"])
    try:
        run = bench.start(cfg, 0)
    except StartError as err:
        row["flag"] = f"did not start: {err}"
        return row
    flags = []
    baseline = [timed_get(run.port, 5) for _ in range(s["trickle_baseline_gets"])]
    row["baseline_ms"] = median([ms for ms, problem in baseline if not problem])
    # The slow client gives up by itself after MAX_S: nothing outlives a run.
    get_timeout = n * timeout_ms / 1000 + 5 if iterative else 10
    give_up = min(600, int(get_timeout + s["trickle_window_s"] + 30))
    argv = bench.client("slow", run.port, "/", n, [str(s["trickle_interval_ms"]), str(give_up)])
    slow = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    latencies, problems = [], []
    try:
        first = slow.stdout.readline()
        row["slow_connected"] = int(first.split("=")[1]) if first.startswith("connected=") else 0
        # A normal client's GETs spread over the window, so that they meet every
        # slow client's next byte at least once. Iterative answers the first
        # only when the slow clients ahead of it have timed out.
        for i in range(s["trickle_gets"]):
            ms, problem = timed_get(run.port, get_timeout)
            latencies.append(ms)
            if problem:
                problems.append(problem)
                break               # a GET that timed out would only time out again
            time.sleep(max(0.0, s["trickle_window_s"] / s["trickle_gets"] - ms / 1000))
    finally:
        slow.stdin.close()          # the slow client closes its connections and reports
        last = slow.stdout.read()
        slow.wait()
    got = dict(kv.split("=") for kv in last.split() if "=" in kv)
    row["slow_open_end"] = got.get("open")
    row["slow_closed_answered"] = got.get("answered")
    stats, problem = bench.stop(run)
    if problem:
        flags.append(problem)
    if row["slow_connected"] < n:
        flags.append(f"only {row['slow_connected']} of {n} slow clients connected")
    if problems:
        flags.append(f"GET {len(latencies)}: {problems[0]}")
    good = latencies[:len(latencies) - len(problems)]
    row.update(ok=len(good), median_ms=median(good), max_ms=max(latencies) if latencies else None,
               first_ms=latencies[0] if latencies else None,
               within_1s=int(bool(latencies) and not problems and max(latencies) < 1000),
               latencies_ms=" ".join(f"{ms:.2f}" for ms in latencies),
               flag="; ".join(flags))
    return row


def exp_slow_clients(bench, csvs):
    """slow-clients: a normal client's latency while slow clients hold connections
    (docs/design.md#bench-numbers). One run per server (FULL: three)."""
    s = bench.s
    binaries = []
    for cfg in present(bench, bench.configs):
        if not cfg.reference and cfg.binary not in binaries:
            binaries.append(cfg.binary)
    cfgs, problem = slow_client_configs(binaries, s["trickle_iterative_timeout_ms"])
    if problem and problem not in bench.notes:
        bench.notes.append(f"slow-clients: {problem}; every server ran with its defaults.")
    out = csvs("slow-clients", TRICKLE_FIELDS)
    e = Experiment(bench, "slow-clients", TRICKLE_FIELDS)
    for rep in range(1, s["trickle_reps"] + 1):
        for cfg in cfgs:
            n = s["trickle_iterative_conns"] if cfg.binary == "iterative" else s["trickle_conns"]

            def fn(cfg=cfg, rep=rep):
                row = trickle_run(bench, cfg, rep)
                out.row(row)
                return row
            e.add(f"slow-clients {cfg.label}: {n} slow clients, {s['trickle_gets']} GETs "
                  f"rep {rep}", fn)
    return e


HERD_FIELDS = ["experiment", "config", "workers", "load", "clients", "rep", "connections",
               "ok", "bad", "client_errors", "seconds", "server_connections", "waits", "sleeps",
               "spurious", "sleeps_per_conn", "spurious_per_conn", "cpu_per_conn_us", "run_cpu_per_conn_us",
               "client_cpu_per_conn_us", "jain", "max_share", "active_workers", "flag"]
WORKER_FIELDS = ["experiment", "config", "workers", "load", "clients", "rep", "worker",
                 "connections"]


def jain(xs):
    s, sq = sum(xs), sum(x * x for x in xs)
    return (s * s) / (len(xs) * sq) if sq else None


def seq_run(bench, cfg, workers, n):
    """Start cfg with `workers`, make n sequential connections, stop it."""
    row = dict(config=cfg.label, workers=workers, load="low", clients=1, connections=n)
    try:
        run = bench.start(cfg, workers)
    except StartError as e:
        row["flag"] = f"did not start: {e}"
        return row, []
    # The pause lets every child the last connection woke go back to sleep, so
    # each connection meets all the idle children asleep (see bench/client.c).
    argv = bench.client("seq", run.port, FILE, n, [str(bench.s["herd_gap_us"])])
    cpu_before = proc_tree_cpu_s(run.pid)
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        got = dict(kv.split("=") for kv in res.stdout.split())
    except (subprocess.TimeoutExpired, ValueError):
        got = {}
    cpu_after = proc_tree_cpu_s(run.pid)
    stats, problem = bench.stop(run)
    if cpu_before is not None and cpu_after is not None:
        # The server's CPU while the client ran: start-up (forking 64 children)
        # would otherwise weigh on a few hundred connections.
        row["run_cpu_per_conn_us"] = per(cpu_after - cpu_before, n)
    flags = [problem] if problem else []
    if not got:
        flags.append("client failed")
    else:
        row.update(ok=int(got["ok"]), bad=int(got["bad"]), client_errors=int(got["errors"]),
                   seconds=float(got["elapsed_s"]))
        if row["bad"] or row["client_errors"]:
            flags.append(f"client saw non-2xx={row['bad']} socket errors={row['client_errors']}")
        client_cpu = float(got["user_s"]) + float(got["sys_s"])
        row["client_cpu_per_conn_us"] = per(client_cpu, n)
    counts = []
    if stats:
        add_counters(row, stats)
        counts = [w.get("connections", 0) for w in (stats.get("per_worker") or [])]
        add_spread(row, counts)
    row["flag"] = "; ".join(flags)
    return row, counts


def add_counters(row, stats):
    cpu, t = server_numbers(stats)
    conns = t.get("connections")
    row.update(server_connections=conns, waits=t.get("waits"), sleeps=t.get("sleeps"),
               spurious=t.get("spurious"), sleeps_per_conn=per(t.get("sleeps"), conns, 1),
               spurious_per_conn=per(t.get("spurious"), conns, 1),
               cpu_per_conn_us=per(cpu, conns))


def add_spread(row, counts):
    if counts and sum(counts):
        row.update(jain=jain(counts), max_share=max(counts) / sum(counts),
                   active_workers=sum(1 for c in counts if c))


def exp_herd(bench, csvs):
    s = bench.s
    groups = ("herd", "herd-full") if bench.full else ("herd",)
    cfgs = present(bench, [c for c in bench.configs if set(groups) & set(c.groups)])
    out = csvs("herd", HERD_FIELDS)
    e = Experiment(bench, "herd", HERD_FIELDS)
    for rep in range(1, s["reps"] + 1):
        for cfg in cfgs:
            for workers in s["herd_children"]:
                def fn(cfg=cfg, workers=workers, rep=rep):
                    row, _ = seq_run(bench, cfg, workers, s["herd_conns"])
                    row.update(experiment="herd", rep=rep)
                    out.row(row)
                    return row
                e.add(f"herd {describe(cfg, workers)} 1 sequential client x{s['herd_conns']} rep {rep}", fn)
    return e


def exp_distribution(bench, csvs):
    s = bench.s
    groups = ("herd", "herd-full", "distribution") if bench.full else ("herd", "distribution")
    cfgs = present(bench, [c for c in bench.configs if set(groups) & set(c.groups)])
    out = csvs("distribution", HERD_FIELDS)
    per_worker = csvs("distribution-workers", WORKER_FIELDS)
    e = Experiment(bench, "distribution", HERD_FIELDS)
    nw, hc = s["dist_workers"], s["dist_high_clients"]

    def emit(row, counts, rep):
        row.update(experiment="distribution", rep=rep)
        out.row(row)
        for i, c in enumerate(counts):
            per_worker.row(dict(experiment="distribution", config=row["config"], workers=nw,
                                load=row["load"], clients=row["clients"], rep=rep, worker=i,
                                connections=c))
        return row

    for rep in range(1, s["reps"] + 1):
        for cfg in cfgs:
            def low(cfg=cfg, rep=rep):
                row, counts = seq_run(bench, cfg, nw, s["dist_conns"])
                return emit(row, counts, rep)

            def high(cfg=cfg, rep=rep):
                row = dict(config=cfg.label, workers=nw, load="high", clients=hc)
                try:
                    run = bench.start(cfg, nw)
                except StartError as err:
                    row["flag"] = f"did not start: {err}"
                    return emit(row, [], rep)
                w = bench.wrk(run.url + FILE, hc, s["seconds"], close=True)
                stats, problem = bench.stop(run)
                row["flag"] = "; ".join(f for f in (wrk_flags(w), problem) if f)
                row["connections"] = int(w.get("requests", 0))
                counts = []
                if stats:
                    add_counters(row, stats)
                    counts = [x.get("connections", 0) for x in (stats.get("per_worker") or [])]
                    add_spread(row, counts)
                    row["client_cpu_per_conn_us"] = per(w.get("client_cpu_s"),
                                                        row.get("server_connections"))
                return emit(row, counts, rep)
            e.add(f"distribution {describe(cfg, nw)} low: 1 sequential client rep {rep}", low)
            e.add(f"distribution {describe(cfg, nw)} high: {hc} clients rep {rep}", high)
    return e


MEM_FIELDS = ["experiment", "config", "options", "workers", "rep", "held_target", "connected",
              "answered", "processes", "threads", "idle_rss_kb", "idle_pss_kb", "rss_kb",
              "pss_kb", "per_conn_kb", "per_conn_b", "tcp_mem_per_conn_b", "not_run", "flag"]


def hold_idle(bench, run, n, wait_ms, idle_s, row):
    """Open n keep-alive connections to run, each answered once and then idle;
    idle_s later, read the server's memory into row: before (idle_rss_kb,
    idle_pss_kb, idle_vm_kb) and while holding them (rss_kb, pss_kb, vm_kb,
    processes, threads, tcp_mem_per_conn_b). Returns the holder's counts
    ({"connected": C, "answered": A}, {} if it failed)."""
    row["idle_rss_kb"], row["idle_pss_kb"] = proc_memory_kb(proc_tree(run.pid))
    row["idle_vm_kb"] = proc_status_total(proc_tree(run.pid), "VmSize")
    tcp_before, tcp_after = tcp_mem_pages(), None
    argv = bench.client("hold", run.port, FILE, n, [str(wait_ms)])
    holder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        got = dict(kv.split("=") for kv in line.split()) if "=" in line else {}
        # Idle means idle a while: the coroutine server gives an idle stack's
        # pages back after a second (coroutine/sched.c).
        time.sleep(idle_s)
        tree = proc_tree(run.pid)
        row["rss_kb"], row["pss_kb"] = proc_memory_kb(tree)
        row["vm_kb"] = proc_status_total(tree, "VmSize")
        row["processes"], row["threads"] = len(tree), proc_status_total(tree, "Threads")
        tcp_after = tcp_mem_pages()
    finally:
        holder.stdin.close()    # the holder closes everything and exits
        holder.wait()
    if got and int(got["connected"]) and None not in (tcp_before, tcp_after):
        row["tcp_mem_per_conn_b"] = (tcp_after - tcp_before) * 4096 / int(got["connected"])
    return got


def hold_flags(got, n):
    """What went wrong holding n connections (hold_idle's counts), as flags."""
    if not got:
        return ["holder failed"]
    if int(got["connected"]) < n:
        return [f"only {got['connected']} of {n} connections were established"]
    if int(got["answered"]) < n:
        return [f"{n - int(got['answered'])} of {n} connections got no 2xx answer (a 503, "
                "or none): the model did not hold them"]
    return []


def exp_memory(bench, csvs):
    """memory: the server's memory while it holds mem_conns idle connections, per
    model. If the descriptor limit cannot hold them, no row is run: each says so."""
    s = bench.s
    n = s["mem_conns"]
    why = descriptors_short(n)
    cfgs = [many_conns(c, n) for c in many_conns_configs(bench)]
    out = csvs("memory", MEM_FIELDS)
    e = Experiment(bench, "memory", MEM_FIELDS)
    for rep in range(1, s["mem_reps"] + 1):
        for cfg in cfgs:
            reason = why or bounded_skip(bench, cfg, n)
            if reason:
                def skip(cfg=cfg, rep=rep, reason=reason):
                    row = not_run_row("memory", cfg, reason, workers=s["pool"], rep=rep,
                                      held_target=n)
                    out.row(row)
                    return row
                e.add(f"memory {describe(cfg, s['pool'])} holding {n} idle connections rep "
                      f"{rep}: {reason}", skip)
                continue

            def fn(cfg=cfg, rep=rep):
                row = dict(experiment="memory", config=cfg.label,
                           options=" ".join(cfg.argv(s["pool"])), workers=s["pool"], rep=rep,
                           held_target=n)
                try:
                    run = bench.start(cfg, s["pool"])
                except StartError as err:
                    row["flag"] = f"did not start: {err}"
                    out.row(row)
                    return row
                got = hold_idle(bench, run, n, s["mem_wait_ms"], s["mem_idle_s"], row)
                stats, problem = bench.stop(run)
                row.update(connected=got.get("connected"), answered=got.get("answered"))
                flags = ([problem] if problem else []) + hold_flags(got, n)
                mem = row["pss_kb"] or row["rss_kb"]
                idle = row["idle_pss_kb"] or row["idle_rss_kb"]
                if got and int(got["answered"]):
                    row["per_conn_kb"] = (mem - idle) / int(got["answered"])
                    row["per_conn_b"] = row["per_conn_kb"] * 1024
                row["flag"] = "; ".join(flags)
                out.row(row)
                return row
            e.add(f"memory {describe(cfg, s['pool'])} holding {n} idle connections rep {rep}", fn)
    return e


STACK_FIELDS = ["experiment", "config", "stack_kb", "rep", "clients", "seconds", "requests",
                "req_per_s", "p99_us", "server_connections", "cpu_per_conn_us", "held_target",
                "answered", "threads", "rss_per_conn_kb", "vm_per_conn_kb", "flag"]


def exp_stacks(bench, csvs):
    """stacks: threaded (a thread per connection) with each --stack-kb of configs.py
    STACK_KB: its CPU per connection under fig30.1's load (Connection: close,
    fig_clients clients, for stack_seconds), then, in the first repeat, in a
    second run of the same configuration, the memory each idle connection's
    thread holds (stack_conns keep-alive connections, answered once and idle: RSS
    and address space grown, per connection; it does not vary from run to run,
    the CPU does)."""
    s = bench.s
    e = Experiment(bench, "stacks", STACK_FIELDS)
    if "threaded" not in bench.available:
        return e
    out = csvs("stacks", STACK_FIELDS)
    n = s["stack_conns"]
    for rep in range(1, s["reps"] + 1):
        for cfg in stack_configs():
            def fn(cfg=cfg, rep=rep):
                row = load_run(bench, cfg, s["pool"], "close", s["fig_clients"],
                               s["stack_seconds"], experiment="stacks")
                row.update(rep=rep, stack_kb=int(cfg.options[1]))
                flags = [row["flag"]] if row.get("flag") else []
                if rep > 1:
                    out.row(row)
                    return row
                row["held_target"], memory = n, {}
                try:
                    run = bench.start(cfg, s["pool"])
                except StartError as err:
                    flags.append(f"did not start: {err}")
                else:
                    got = hold_idle(bench, run, n, s["mem_wait_ms"], 0.2, memory)
                    _, problem = bench.stop(run)
                    flags += ([problem] if problem else []) + hold_flags(got, n)
                    if got and int(got["answered"]):
                        held = int(got["answered"])
                        row.update(answered=held, threads=memory["threads"],
                                   rss_per_conn_kb=(memory["rss_kb"] - memory["idle_rss_kb"]) / held,
                                   vm_per_conn_kb=(memory["vm_kb"] - memory["idle_vm_kb"]) / held)
                row["flag"] = "; ".join(flags)
                out.row(row)
                return row
            e.add(f"stacks {cfg.label}: close c={s['fig_clients']} for {s['stack_seconds']:g} s"
                  + (f", then {n} idle connections" if rep == 1 else "") + f" rep {rep}", fn)
    return e


RATE_FIELDS = ["experiment", "config", "binary", "options", "workers", "rep", "mode", "conns",
               "load", "rate", "seconds", "connected", "scheduled", "answered", "failed",
               "unanswered", "answered_share", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
               "mean_us", "elapsed_s", "send_rate", "lag_p99_us", "inflight", "little",
               "capacity", "demand_us", "servers", "cores", "depth", "sent_rate", "busy",
               "waited", "idle", "verdict", "warmed",
               "client_cpu_s", "server_cpu_s", "held", "processes", "threads", "idle_pss_kb",
               "pss_kb", "pss_per_conn_b", "tcp_mem_per_conn_b", "not_run", "flag"]



def parse_rate(text):
    """The RATE line of `client rate` as a dict of numbers ({} if there is none)."""
    m = re.search(r"^RATE (.*)$", text, re.M)
    if not m:
        return {}
    got = {}
    for kv in m.group(1).split():
        k, _, v = kv.partition("=")
        try:
            got[k] = float(v)
        except ValueError:
            got[k] = v
    return got


def client_checks(row, got):
    """Little's law and the client's own rate (bench/queueing.py: little_missed,
    client_short): sets row["little"], returns the flags."""
    flags = []
    if got.get("elapsed_s") and got.get("completed") is not None and "inflight" in got:
        row["little"] = got["completed"] / got["elapsed_s"] * got["mean_us"] / 1e6
        if little_missed(got["inflight"], row["little"]):
            flags.append(f"Little's law missed: {got['inflight']:.3g} in flight sampled, "
                         f"{row['little']:.3g} = throughput x mean latency")
    if got.get("send_rate") is not None and client_short(got["send_rate"], got["rate"]):
        flags.append(f"client short: sent at {got['send_rate']:.0f}/s of {got['rate']:.0f}/s "
                     "asked")
    return flags


def tree_sched(pid):
    """{thread id: (on-CPU ns, runnable but waiting for a CPU ns)} of every
    thread of pid and its descendants, from /proc/*/task/*/schedstat (its first
    two fields); None where the kernel has no schedstat. The wait is time
    other work (or another of its threads) held the server's core while the
    thread had work to do."""
    threads = {}
    for p in proc_tree(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    fields = f.read().split()
                threads[int(tid)] = (int(fields[0]), int(fields[1]))
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/schedstat"):
                return None
        except (OSError, ValueError, IndexError):
            pass
    return threads


def sched_delta_s(before, after):
    """(run, wait) seconds between two tree_sched snapshots, thread by thread: a
    thread born in between counts whole, one that ended in between is lost (its
    counters went with it), so neither share is ever negative, at worst low."""
    run = wait = 0
    for tid, (r, w) in after.items():
        r0, w0 = before.get(tid, (0, 0))
        run, wait = run + r - r0, wait + w - w0
    return run / 1e9, wait / 1e9


def cores_idle(cpus):
    """{cpu: (idle + iowait ticks, all ticks)} of the given CPUs, from /proc/stat."""
    got = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *ticks = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                    ticks = [int(t) for t in ticks[:8]]
                    got[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))
    except OSError:
        pass
    return got


def idle_share(before, after):
    """The share of the time the CPUs of two cores_idle snapshots were idle (None
    if unreadable, or less than a tick passed)."""
    idle = sum(after[c][0] - before[c][0] for c in after if c in before)
    total = sum(after[c][1] - before[c][1] for c in after if c in before)
    return idle / total if total > 0 else None


def rate_run(bench, cfg, workers, conns, rate, seconds, drain_ms, experiment, measure=False,
             depth=1, warm=False):
    """Start cfg, run `client rate` against it (keep-alive, up to depth requests
    pipelined on a connection; with warm, each connection answers one request
    before the clock starts, and the server's CPU is counted from then), stop
    it: one row. With
    measure, the connections the server holds, its memory, processes and threads
    and the kernel's TCP memory are read halfway through the run, every
    connection opened. The server's on-CPU and core-waiting seconds over the
    client's run are kept (run_s, wait_s), and the share of it its cores were
    idle (idle), for the latency experiment's busy share."""
    row = dict(experiment=experiment, config=cfg.label, binary=cfg.binary,
               options=" ".join(cfg.argv(workers)), workers=workers if cfg.uses_workers() else "",
               mode="keepalive", conns=conns, rate=rate, seconds=seconds, depth=depth)
    try:
        run = bench.start(cfg, workers)
    except StartError as err:
        row["flag"] = f"did not start: {err}"
        return row
    flags = []
    if measure:
        row["idle_rss_kb"], row["idle_pss_kb"] = proc_memory_kb(proc_tree(run.pid))
        tcp_before = tcp_mem_pages()
    argv = bench.client("rate", run.port, FILE, conns,
                        [f"{rate:g}", f"{seconds:g}", "keepalive", str(drain_ms)]
                        + ([str(depth)] if depth > 1 or warm else [])
                        + (["warm"] if warm else []))
    cpu_before, ticks_before = proc_tree_cpu_s(run.pid), tree_ticks_s(run.pid)
    sched_before, idle_before = tree_sched(run.pid), cores_idle(bench.server_cpus)
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = client.stdout.readline()    # "rate: C of N connections up ...; the clock starts"
        if warm:    # the connections are up and served once: the run starts now
            cpu_before, ticks_before = proc_tree_cpu_s(run.pid), tree_ticks_s(run.pid)
            sched_before, idle_before = tree_sched(run.pid), cores_idle(bench.server_cpus)
        if measure and first.startswith("rate:"):
            time.sleep(seconds / 2)
            row["held"] = held_connections(run.port)
            tree = proc_tree(run.pid)
            _, row["pss_kb"] = proc_memory_kb(tree)
            row["processes"], row["threads"] = len(tree), proc_status_total(tree, "Threads")
            tcp = tcp_mem_pages()
            if tcp is not None and tcp_before is not None:
                row["tcp_mem_per_conn_b"] = (tcp - tcp_before) * 4096 / conns
            if row["pss_kb"] and row["idle_pss_kb"] is not None:
                row["pss_per_conn_b"] = (row["pss_kb"] - row["idle_pss_kb"]) * 1024 / conns
        out, err = client.communicate(timeout=seconds + drain_ms / 1000 + 60 + conns / 1000)
    except BaseException:
        client.kill()
        client.wait()
        raise
    cpu_after, ticks_after = proc_tree_cpu_s(run.pid), tree_ticks_s(run.pid)
    sched_after, idle_after = tree_sched(run.pid), cores_idle(bench.server_cpus)
    if sched_before is not None and sched_after is not None:
        row["run_s"], row["wait_s"] = sched_delta_s(sched_before, sched_after)
    row["idle"] = idle_share(idle_before, idle_after)
    stats, problem = bench.stop(run)
    if problem:
        flags.append(problem)
    got = parse_rate(first + out)
    if not got:
        flags.append(f"client exit {client.returncode}: {err.strip()[-200:] or 'no RATE line'}")
    else:
        row.update({k: got.get(k) for k in ("connected", "scheduled", "answered", "failed",
                                           "unanswered", "p50_us", "p90_us", "p99_us",
                                           "p999_us", "max_us", "mean_us", "elapsed_s",
                                           "send_rate", "lag_p99_us", "inflight", "sent",
                                           "warmed")})
        flags += client_checks(row, got)
        row["client_cpu_s"] = got.get("cpu_s")
        if got.get("scheduled"):
            row["answered_share"] = got["answered"] / got["scheduled"]
        if got.get("connected", conns) < conns:
            flags.append(f"only {got['connected']:.0f} of {conns} connections were up "
                         "when the clock started")
        if got.get("unanswered"):
            flags.append(f"{got['unanswered']:.0f} of {got['scheduled']:.0f} requests unanswered")
        if got.get("failed"):
            flags.append(f"{got['failed']:.0f} failed")
    if cpu_before is not None and cpu_after is not None:
        # A thread or child that served a connection has ended by now: its CPU
        # is gone from schedstat but counted, in ticks, in its process's (or
        # parent's) /proc/PID/stat. The larger of the two is the server's CPU.
        row["server_cpu_s"] = max(cpu_after - cpu_before, ticks_after - ticks_before)
    row["flag"] = "; ".join(flags)
    return row


def busy_shares(row, usable):
    """row["busy"], row["waited"]: the shares of the `usable` cores the server
    spent running and runnable but waiting for a core other work held, over the
    client's run (elapsed_s)."""
    if row.get("elapsed_s") and row.get("server_cpu_s") is not None \
            and row.get("wait_s") is not None:
        row["busy"] = row["server_cpu_s"] / row["elapsed_s"] / usable
        row["waited"] = row["wait_s"] / row["elapsed_s"] / usable


# The latency experiment's servers keep their connections for the whole run, as
# its nginx rows do (keepalive_requests 1000000): a connection the server ends
# after its default 1000 requests would end its thread or process too, and take
# that one's schedstat (the waiting share) with it.
LAT_KEEPALIVE = ["--keepalive-requests", "1000000"]


def latency_config(cfg):
    """cfg as the latency experiment runs it: ours with LAT_KEEPALIVE, the floor
    (which never closes) and nginx as they are."""
    if cfg.binary in ("floor", "nginx"):
        return cfg
    return dataclasses.replace(cfg, options=cfg.options + LAT_KEEPALIVE)


def exp_latency(bench, csvs):
    """latency: open loop against utilisation. Per configuration a capacity run
    first (far more asked than it serves, lat_depth requests pipelined on each
    connection: what it answered per second, its CPU per request, the demand D
    of the theory lines, and its busy share, which says whether that rate was
    the server's saturation: queueing.capacity_verdict), then lat_loads percent
    of that capacity, one row per point."""
    s = bench.s
    cfgs = [latency_config(c) for c in
            present(bench, [c for c in bench.configs if {"model", "latency"} & set(c.groups)])]
    out = csvs("latency", RATE_FIELDS)
    e = Experiment(bench, "latency", RATE_FIELDS)
    cores = len(bench.server_cpus) or os.cpu_count()
    capacity = {}
    for rep in range(1, s["lat_reps"] + 1):
        for cfg in cfgs:
            c = servers(cfg, s["pool"], s["lat_conns"])

            def measure(cfg=cfg, rep=rep, c=c):
                # The best of lat_capacity_runs: a busy or slow moment only
                # lowers it, and a capacity too low makes 110 % no overload.
                runs = [rate_run(bench, cfg, s["pool"], s["lat_conns"], s["lat_capacity_rate"],
                                 s["lat_capacity_seconds"], s["lat_capacity_drain_ms"], "latency",
                                 depth=s["lat_depth"], warm=True)
                        for _ in range(s["lat_capacity_runs"])]
                row = max(runs, key=lambda r: (r.get("answered") or 0) / (r.get("elapsed_s") or 1))
                row.update(rep=rep, load="capacity", servers=c, cores=cores)
                # The capacity run is overload by design: its client-side flags
                # (requests unanswered, sent short) are what it measures.
                row["flag"] = "; ".join(f for f in row.get("flag", "").split("; ")
                                        if f.startswith(("did not start", "exit status",
                                                         "client exit", "did not exit")))
                # Its latencies say only how long it asked for too much: not kept.
                for k in ("answered_share", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
                          "mean_us"):
                    row[k] = None
                if row.get("answered") and row.get("elapsed_s"):
                    answered, elapsed = row["answered"] / row["elapsed_s"], row["elapsed_s"]
                    row["sent_rate"] = (row.get("sent") or 0) / elapsed
                    if row.get("server_cpu_s"):
                        row["demand_us"] = row["server_cpu_s"] / row["answered"] * 1e6
                    # Busy: the share of the cores it may use (c of them, at
                    # most the cores it is pinned to) that the server used, and
                    # waited: the share it was runnable on a core held by
                    # other work.
                    busy_shares(row, min(c, cores))
                    row["capacity"], row["verdict"] = capacity_verdict(
                        answered, row.get("busy"), row.get("waited"), row.get("idle"))
                capacity[(cfg.label, rep)] = row
                out.row(row)
                return row
            e.add(f"latency {describe(cfg, s['pool'])}: capacity, the best of "
                  f"{s['lat_capacity_runs']} runs asking "
                  f"{s['lat_capacity_rate']:g}/s for {s['lat_capacity_seconds']:g} s over "
                  f"{s['lat_conns']} keep-alive connections, {s['lat_depth']} pipelined on each, "
                  f"rep {rep}", measure)
            for load in s["lat_loads"]:
                def fn(cfg=cfg, load=load, rep=rep):
                    cap = capacity.get((cfg.label, rep), {})
                    if not cap.get("capacity"):
                        row = not_run_row("latency", cfg, "its capacity run answered nothing",
                                          conns=s["lat_conns"], load=load)
                    else:
                        row = rate_run(bench, cfg, s["pool"], s["lat_conns"],
                                       round(cap["capacity"] * load / 100), s["lat_seconds"],
                                       s["lat_drain_ms"], "latency", depth=s["lat_depth"],
                                       warm=True)
                        row["load"] = load
                        busy_shares(row, min(cap["servers"], cap["cores"]))
                    row["rep"] = rep
                    out.row(row)
                    return row
                e.add(f"latency {describe(cfg, s['pool'])} {load:g} % of its capacity over "
                      f"{s['lat_conns']} keep-alive connections (up to {s['lat_depth']} "
                      f"pipelined on each) rep {rep}", fn)
    return e


SESSION_FIELDS = ["experiment", "config", "binary", "options", "workers", "rep", "rate", "k",
                  "think_ms", "seconds", "arrived", "completed", "failed", "unanswered",
                  "completed_share", "p50_us", "p90_us", "p99_us", "max_us", "request_p50_us",
                  "request_p99_us", "client_cpu_s", "server_cpu_s", "flag"]


def parse_sessions(text):
    """The SESSIONS line of `client sessions` as a dict of numbers ({} if none)."""
    m = re.search(r"^SESSIONS (.*)$", text, re.M)
    return {k: float(v) for k, _, v in (kv.partition("=") for kv in m.group(1).split())} if m else {}


def session_run(bench, cfg, rate):
    """Start cfg, run `client sessions` against it at rate sessions per second,
    stop it: one row."""
    s = bench.s
    row = dict(experiment="sessions", config=cfg.label, binary=cfg.binary,
               options=" ".join(cfg.argv(s["pool"])), rep=1, rate=rate,
               workers=s["pool"] if cfg.uses_workers() else "", k=s["sess_k"],
               think_ms=s["sess_think_ms"], seconds=s["sess_seconds"])
    try:
        run = bench.start(cfg, s["pool"])
    except StartError as err:
        return dict(row, flag=f"did not start: {err}")
    argv = bench.client("sessions", run.port, FILE, s["sess_k"],
                        [f"{rate:g}", f"{s['sess_seconds']:g}", str(s["sess_think_ms"]),
                         str(s["sess_drain_ms"])])
    cpu_before = tree_ticks_s(run.pid)
    res = subprocess.run(argv, capture_output=True, text=True,
                         timeout=s["sess_seconds"] + s["sess_drain_ms"] / 1000 + 30)
    cpu_after = tree_ticks_s(run.pid)
    _, problem = bench.stop(run)
    got = parse_sessions(res.stdout)
    flags = [problem] if problem else []
    if not got:
        flags.append(f"client exit {res.returncode}: "
                     f"{res.stderr.strip()[-200:] or 'no SESSIONS line'}")
    else:
        row.update({k: got.get(k) for k in ("arrived", "completed", "failed", "unanswered",
                                           "p50_us", "p90_us", "p99_us", "max_us",
                                           "request_p50_us", "request_p99_us")})
        row["client_cpu_s"] = got.get("cpu_s")
        row["server_cpu_s"] = cpu_after - cpu_before
        if got.get("arrived"):
            row["completed_share"] = got["completed"] / got["arrived"]
        if got.get("unanswered") or got.get("failed"):
            flags.append(f"{got['unanswered']:.0f} unanswered, {got['failed']:.0f} failed of "
                         f"{got['arrived']:.0f} sessions")
    row["flag"] = "; ".join(flags)
    return row


def exp_sessions(bench, csvs):
    """sessions: partly-open load (bench/client sessions): sessions arrive at a
    Poisson rate, each sends sess_k requests with a think time between them on
    one keep-alive connection, then closes. A model that gives a connection a
    worker holds it through every think time."""
    s = bench.s
    cfgs = present(bench, [c for c in bench.configs if "model" in c.groups])
    out = csvs("sessions", SESSION_FIELDS)
    e = Experiment(bench, "sessions", SESSION_FIELDS)
    for cfg in cfgs:
        for rate in s["sess_rates"]:
            def fn(cfg=cfg, rate=rate):
                row = session_run(bench, cfg, rate)
                out.row(row)
                return row
            e.add(f"sessions {describe(cfg, s['pool'])}: {rate}/s for {s['sess_seconds']:g} s, "
                  f"{s['sess_k']} requests each, think {s['sess_think_ms']} ms", fn)
    return e


def many_conns_configs(bench):
    """The connections and idle-memory experiments' rows: the "model" and "many" groups."""
    return present(bench, [c for c in bench.configs if {"model", "many"} & set(c.groups)])


def bounded_skip(bench, cfg, n):
    """Why the default set does not run cfg at n connections (configs.py
    SERVES_AT_ONCE: each such point is a row saying so; FULL=1 runs it), or ''."""
    at_once = SERVES_AT_ONCE.get(cfg.binary)
    if bench.full or at_once is None or n <= BOUNDED_MAX_N:
        return ""
    at_once = at_once.replace(W, str(bench.s["pool"]))
    return (f"not run in the default set: serves at most {at_once} at once, as the "
            f"connections experiment shows at N <= {BOUNDED_MAX_N}; FULL=1 runs it")


def not_run_row(experiment, cfg, why, **fields):
    """The row of a point not run (why: the descriptor limit, or bounded_skip):
    named, not measured."""
    return dict(experiment=experiment, config=cfg.label, binary=cfg.binary, not_run=why, **fields)


def exp_connections(bench, csvs):
    """connections (C10K): N connections sending at one total rate, per model. A
    size the descriptor limit cannot hold is not run: its rows say so."""
    s = bench.s
    sizes = [n for n in s["c10k_conns"] if not descriptors_short(n)]
    cfgs = [many_conns(c, max(sizes, default=0)) for c in many_conns_configs(bench)]
    out = csvs("connections", RATE_FIELDS)
    e = Experiment(bench, "connections", RATE_FIELDS)
    for rep in range(1, s["c10k_reps"] + 1):
        for n in s["c10k_conns"]:
            seconds = max(s["c10k_min_seconds"], n / s["c10k_rate"])   # every connection sends
            for cfg in cfgs:
                why = descriptors_short(n) or bounded_skip(bench, cfg, n)

                def fn(cfg=cfg, n=n, seconds=seconds, rep=rep, why=why):
                    if why:
                        row = not_run_row("connections", cfg, why, conns=n, rate=s["c10k_rate"],
                                          seconds=seconds, mode="keepalive")
                    else:
                        row = rate_run(bench, cfg, s["pool"], n, s["c10k_rate"], seconds,
                                       s["c10k_drain_ms"], "connections", measure=True)
                    row["rep"] = rep
                    out.row(row)
                    return row
                e.add(f"connections {describe(cfg, s['pool'])} N={n} at {s['c10k_rate']}/s "
                      f"for {seconds:g} s rep {rep}" + (f": {why}" if why else ""), fn)
    return e


CORO_FIELDS = ["experiment", "rep", "name", "ns_per_switch", "line"]


def exp_coro(bench, csvs):
    e = Experiment(bench, "coro-switch", CORO_FIELDS)
    binary = os.path.join(bench.tools, "coro_switch")
    if not os.path.exists(binary):
        bench.notes.append("coroutine switch: bench/coro_switch.c is not there yet (or did not "
                           "build), so the experiment was skipped.")
        return e
    out = csvs("coro-switch", CORO_FIELDS)
    for rep in range(1, bench.s["reps"] + 1):
        def fn(rep=rep):
            argv = bench.pin(bench.server_cpus) + [binary]
            bench.record_command(argv)
            res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            rows = []
            for line in res.stdout.splitlines():
                m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*ns", line)
                if m:
                    name = line[:m.start()].strip(" :=\t") or line.strip()
                    name = re.sub(r"\s+", " ", name)
                    rows.append(dict(experiment="coro-switch", rep=rep, name=name,
                                     ns_per_switch=float(m.group(1)), line=line.strip()))
            for r in rows:
                out.row(r)
            flag = "" if rows and res.returncode == 0 else f"exit {res.returncode}, no 'ns' line"
            return {"flag": flag, "req_per_s": None}
        e.add(f"coro-switch rep {rep}", fn)
    return e


BUILDERS = {"fig30.1": exp_fig30_1, "herd": exp_herd, "distribution": exp_distribution,
            "throughput": exp_throughput, "latency": exp_latency, "sessions": exp_sessions,
            "connections": exp_connections, "slow-handler": exp_slow,
            "slow-upstream": exp_slow_upstream,
            "slow-clients": exp_slow_clients, "memory": exp_memory,
            "coro-switch": exp_coro,
            "greedy-client": lambda bench, csvs: greedy.experiment(sys.modules[__name__], bench,
                                                                   csvs),
            "syscalls": lambda bench, csvs: syscalls.bench_experiment(bench, csvs, Experiment),
            "stacks": exp_stacks}


def describe(cfg, workers):
    return cfg.label + (f" workers={workers}" if cfg.uses_workers() else "")


# ---------------------------------------------------------------- setup

def discover(bin_dir):
    """The table's rows, plus a default row for every unknown binary in bin_dir."""
    known = {c.binary for c in CONFIGS}
    found = sorted(os.listdir(bin_dir)) if os.path.isdir(bin_dir) else []
    extra = [Config(name, name, [], ("main",)) for name in found
             if name not in known and os.access(os.path.join(bin_dir, name), os.X_OK)]
    return CONFIGS + extra


def probe(bench):
    """Start each configuration once; keep those that start, answer and stop."""
    bench.available, bench.skipped = [], []
    for cfg in bench.configs:
        if "full" in cfg.groups and not bench.full:
            continue
        if cfg.binary == "nginx" and nginx_path() is None:
            bench.skipped.append((cfg.label, "nginx is not installed: no nginx reference line"))
            continue
        path = (os.path.join(bench.tools, "floor") if cfg.binary == "floor"
                else os.path.join(bench.bin_dir, cfg.binary) if cfg.binary != "nginx" else None)
        if path and not os.path.exists(path):
            bench.skipped.append((cfg.label, f"{os.path.relpath(path, ROOT)} does not exist yet"))
            continue
        try:
            run = bench.start(cfg, 2)
        except StartError as e:
            bench.skipped.append((cfg.label, f"did not start with {' '.join(cfg.argv(2))}: {e}"))
            continue
        try:
            with socket.create_connection(("127.0.0.1", run.port), timeout=3) as sock:
                sock.sendall(f"GET {FILE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                head = sock.recv(64)
        except OSError as e:
            head = str(e).encode()
        stats, problem = bench.stop(run)
        if not head.startswith(b"HTTP/1.1 200"):
            bench.skipped.append((cfg.label, f"answered {head[:40]!r} to GET {FILE}"))
        elif problem:
            bench.skipped.append((cfg.label, problem))
        else:
            bench.available.append(cfg.label)


def metadata(bench, args, argv):
    def cmd(*a):
        try:
            r = subprocess.run(a, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unavailable"
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"], capture_output=True,
                           text=True).stdout.strip()
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "kernel": " ".join(os.uname()[2:4]),
        "cpu_model": model,
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "server_cpus": ",".join(map(str, bench.server_cpus)) or "not pinned (one core)",
        "client_cpus": ",".join(map(str, bench.client_cpus)) or "not pinned (one core)",
        "compiler": cmd(os.environ.get("CC", "cc"), "--version"),
        "wrk": cmd("wrk", "-v"),
        "gnuplot": cmd("gnuplot", "--version"),
        "nginx": cmd(nginx_path(), "-v") if nginx_path() else "not installed",
        "python": sys.version.split()[0],
        "git_commit": cmd("git", "-C", ROOT, "rev-parse", "HEAD") + (" (with uncommitted changes)" if dirty else ""),
        "set": "FULL" if args.full else "default",
        "only": args.only or "all",
        "settings": bench.s,
        "pool_workers": bench.s["pool"],
        "command": " ".join(argv),
        "commands_file": "commands.txt (every server, wrk and client command, in order)",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="longer sweeps and more repeats")
    ap.add_argument("--only", default="", help="comma-separated experiments: " + ", ".join(EXPERIMENTS))
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--list", action="store_true", help="print the plan and exit")
    ap.add_argument("--report-only", metavar="DIR", help="redraw plots and report from DIR's CSVs")
    args = ap.parse_args()

    import plots
    import report
    if args.report_only:
        out = os.path.realpath(args.report_only)
        plots.draw_all(out)
        log(report.write(out))
        log(f"report: {os.path.relpath(os.path.join(out, 'report.md'), os.getcwd())}")
        return 0

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    references_only = only == ["reference"]
    if "reference" in only:        # the reference lines live in these two
        only = [x for x in only if x != "reference"] + ["fig30.1", "throughput"]
    for x in only:
        if x not in EXPERIMENTS:
            ap.error(f"unknown experiment {x!r}; choose from {', '.join(EXPERIMENTS)}, reference")
    chosen = [x for x in EXPERIMENTS if not only or x in only]

    # Every server, nginx and client inherit this: as many descriptors as the
    # hard limit allows (ten thousand connections need ten thousand of them).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    out = os.path.join(args.results, f"{stamp}-{socket.gethostname()}")
    bench = Bench(out, os.path.realpath(args.bin_dir), SETTINGS["full" if args.full else "default"],
                  plan_only=args.list)
    bench.full = args.full
    bench.notes = []
    bench.configs = discover(bench.bin_dir)
    if references_only:            # floor and nginx, with iterative as the baseline
        bench.configs = [c for c in bench.configs if c.reference or c.book_row == 0]
    if args.list:
        bench.available = [c.label for c in bench.configs]
        csvs = lambda name, fields: None  # noqa: E731
        for name in chosen:
            for desc, _ in BUILDERS[name](bench, csvs).runs:
                print(desc)
        return 0

    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    log(f"make bench: results in {os.path.relpath(out, ROOT)}")
    probe(bench)
    log(f"servers: {len(bench.available)} configurations run; {len(bench.skipped)} skipped")
    for label, why in bench.skipped:
        log(f"  skipped {label}: {why}")

    files = {}

    def csvs(name, fields):
        if name not in files:
            files[name] = CsvOut(os.path.join(out, f"{name}.csv"), fields)
        return files[name]

    experiments = [BUILDERS[name](bench, csvs) for name in chosen]
    total = sum(len(e.runs) for e in experiments)
    log(f"plan: {total} runs ({', '.join(f'{e.name} {len(e.runs)}' for e in experiments)}); "
        f"wrk {bench.s['seconds']} s per point, {bench.s['reps']} repeats")
    meta = metadata(bench, args, sys.argv)
    i = 0
    try:
        for e in experiments:
            for desc, fn in e.runs:
                i += 1
                t = time.time()
                row = fn()
                extra = ""
                if row.get("not_run"):
                    extra = "  (skipped)"       # the description says why
                elif e.name == "sessions" and row.get("arrived") is not None:
                    extra = (f"  {row['completed']:.0f} of {row['arrived']:.0f} sessions "
                             f"completed, p50 {(row['p50_us'] or 0) / 1000:.1f} ms, p99 "
                             f"{(row['p99_us'] or 0) / 1000:.1f} ms")
                elif row.get("load") == "capacity" and row.get("capacity"):
                    extra = (f"  {row['capacity']:.0f} req/s, {row['verdict']}: answered "
                             f"{row['answered'] / row['elapsed_s']:.0f}/s (client sent "
                             f"{row['sent_rate']:.0f}/s), server busy {row.get('busy') or 0:.2f}"
                             f" + waiting for its core {row.get('waited') or 0:.2f}, D = "
                             f"{row.get('demand_us') or 0:.1f} µs of server CPU per request")
                elif e.name in ("latency", "connections") and row.get("p99_us") is not None:
                    extra = (f"  p50 {row['p50_us'] / 1000:.2f} ms, p99 {row['p99_us'] / 1000:.2f} ms, "
                             f"answered {(row.get('answered_share') or 0) * 100:.0f}%")
                    if row.get("little") is not None:
                        extra += f", L {row['inflight']:.2f} vs XW {row['little']:.2f}"
                    if row.get("held") is not None:
                        extra += f", held {row['held']} of {row['conns']}"
                    if row.get("pss_per_conn_b") is not None:
                        extra += f", {row['pss_per_conn_b']:.0f} B/conn"
                elif row.get("req_per_s"):
                    extra = f"  {row['req_per_s']:.0f} req/s"
                elif row.get("sleeps_per_conn") is not None:
                    extra = f"  {row['sleeps_per_conn']:.2f} sleeps/conn"
                elif row.get("pss_kb"):
                    extra = f"  {row['pss_kb'] / 1024:.1f} MiB"
                    if row.get("held_target"):
                        extra += f", held {row.get('answered') or 0} of {row['held_target']}"
                elif row.get("max_ms") is not None:
                    extra = (f"  GET median {row['median_ms'] or 0:.1f} ms, "
                             f"max {row['max_ms']:.0f} ms")
                if row.get("flag"):
                    extra += f"  FLAGGED: {row['flag']}"
                log(f"[{i}/{total}] {desc} … {time.time() - t:.1f} s{extra}")
    except KeyboardInterrupt:
        log("interrupted: stopping servers, writing what was measured")
        bench.notes.append(f"interrupted after {i} of {total} runs: this report is partial.")
    finally:
        bench.stop_all()
        bench.commands.close()
        for f in files.values():
            f.f.close()
    meta["runs"] = i
    meta["elapsed_s"] = round(time.time() - t0, 1)
    meta["servers_run"] = bench.available
    meta["servers_skipped"] = [f"{label}: {why}" for label, why in bench.skipped]
    meta["notes"] = bench.notes
    meta["experiments"] = chosen
    with open(os.path.join(out, "metadata.json"), "w") as f:
        json.dump(meta, f, indent=1)
    shutil.rmtree(bench.tmp, ignore_errors=True)
    shutil.rmtree(bench.www, ignore_errors=True)
    plots.draw_all(out)
    moved = report.write(out)
    latest = os.path.join(args.results, "latest")
    if os.path.islink(latest) or os.path.exists(latest):
        os.remove(latest)
    os.symlink(os.path.basename(out), latest)
    log(f"make bench: {i} runs in {time.time() - t0:.0f} s; {moved}; report: "
        f"{os.path.relpath(os.path.join(latest, 'report.md'), ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
