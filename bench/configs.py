"""The table of server configurations the bench runs.

One row per configuration: every server, and every option of the process and pool
models. "{W}" in an option list is replaced by the worker count the experiment
asks for. Rows whose binary is missing from build/bin are skipped (and listed in
the report); a binary in build/bin without a row here is benched with its
defaults, so a new server shows up in every plot without editing anything.

Groups say which experiments use a row:
  main   the throughput, slow-handler and memory plots (one row per model)
  herd   the thundering-herd and distribution sweeps
  full   only with FULL=1 (more backends of the event loops)
  model  one row per model plus the references: the latency, greedy-client,
         connections and idle-memory experiments
  many   also in the connections and idle-memory experiments (many connections):
         multiplex on epoll, so that multiplex is measured at every N; its
         model row runs the default select backend, which holds fewer than
         FD_SETSIZE (1024) connections and answers the rest 503 (its rows show
         how many it held)
  latency  the latency experiment only (the default-config nginx row)
  upstream also in the slow-upstream experiment, whose rows are the model rows
         that are not references (a reference cannot proxy) plus these: the
         thread pool, beside the process pools
  Every other row is in fig30.1. FULL=1 runs every row in throughput too.
The slow-clients experiment has rows of its own, sized for its slow clients:
see slow_client_configs below.
"""
import importlib.util
import os
import shlex
from dataclasses import dataclass, field

W = "{W}"


@dataclass
class Config:
    label: str                  # what the plots and tables call it
    binary: str                 # build/bin/NAME; "floor" and "nginx" are the references
    options: list = field(default_factory=list)
    groups: tuple = ()
    book_row: int = None        # UNP 3rd ed. Figure 30.1 row (0..8)
    reference: bool = False     # drawn as a labelled reference line, not a bar
    env: dict = None            # added to the server's environment

    def argv(self, workers):
        return [o.replace(W, str(workers)) for o in self.options]

    def uses_workers(self):
        return any(W in o for o in self.options)


# UNP 3rd edition, Figure 30.1, "process control CPU time" in seconds: the
# difference from the iterative server, rows 0-8 (row 0 is the baseline itself).
BOOK_FIG30_1 = {
    0: ("Iterative server (baseline)", 0.0),
    1: ("Concurrent server, one fork per client request", 20.90),
    2: ("Prefork, each child calling accept", 1.80),
    3: ("Prefork, file locking around accept", 2.07),
    4: ("Prefork, thread mutex locking around accept", 1.75),
    5: ("Prefork, parent passing descriptor to child", 2.58),
    6: ("Concurrent server, one thread per client request", 0.99),
    7: ("Prethreaded, mutex locking around accept", 1.93),
    8: ("Prethreaded, main thread calling accept", 2.05),
}

# open_file_cache: up to 1000 descriptors, closed after 10 s unused, and each checked
# against the file system (stat) once a second: the same one second a file stays in
# our servers' cache (common/file_cache.h), so neither side serves a file staler than that.
NGINX_CACHE = ["open_file_cache max=1000 inactive=10s;", "open_file_cache_valid 1s;"]
NGINX_DIVISOR = "nginx 1 worker, open_file_cache (reference)"

CONFIGS = [
    Config("iterative", "iterative", [], ("main", "model"), book_row=0),
    Config("fork_per_conn", "fork_per_conn", [], ("main", "model"), book_row=1),
    Config("prefork", "prefork", ["--workers", W], ("main", "herd", "model"), book_row=2),
    Config("prefork --accept-lock fcntl", "prefork", ["--workers", W, "--accept-lock", "fcntl"],
           ("herd",), book_row=3),
    Config("prefork --accept-lock mutex", "prefork", ["--workers", W, "--accept-lock", "mutex"],
           ("herd-full",), book_row=4),
    Config("prefork --dispatch pass-fd", "prefork", ["--workers", W, "--dispatch", "pass-fd"],
           (), book_row=5),
    Config("prefork_select --wait select", "prefork_select", ["--workers", W, "--wait", "select"],
           ("main", "herd", "model")),
    Config("prefork_select --wait poll", "prefork_select", ["--workers", W, "--wait", "poll"],
           ("herd",)),
    Config("prefork_select --wait epoll", "prefork_select", ["--workers", W, "--wait", "epoll"],
           ("herd",)),
    Config("prefork_select --wait epoll-exclusive", "prefork_select",
           ["--workers", W, "--wait", "epoll-exclusive"], ("herd",)),
    Config("prefork_select --reuseport", "prefork_select", ["--workers", W, "--reuseport"],
           ("herd",)),
    Config("threaded", "threaded", [], ("main", "model"), book_row=6),
    Config("threaded --pool-mode accept-lock", "threaded",
           ["--pool", W, "--pool-mode", "accept-lock"], (), book_row=7),
    Config("threaded --pool-mode queue", "threaded", ["--pool", W, "--pool-mode", "queue"],
           ("main", "upstream"), book_row=8),
    Config("multiplex --workers 1", "multiplex", ["--workers", "1"], ("main", "model")),
    Config("multiplex --workers 2", "multiplex", ["--workers", "2"], ("main",)),
    Config("multiplex --backend poll", "multiplex", ["--workers", "1", "--backend", "poll"], ("full",)),
    Config("multiplex --backend epoll", "multiplex", ["--workers", "1", "--backend", "epoll"],
           ("many",)),
    Config("coroutine --workers 1", "coroutine", ["--workers", "1"], ("main", "model")),
    Config("coroutine --workers 2", "coroutine", ["--workers", "2"], ("main",)),
    # The one production trick, measured: the same server opening every file
    # on every request, as nginx does with its defaults (common/file_cache.h).
    Config("coroutine --no-file-cache", "coroutine", ["--workers", "1", "--no-file-cache"],
           ("main",)),
    Config("coroutine --backend select", "coroutine", ["--workers", "1", "--backend", "select"],
           ("full",)),
    # Completion instead of readiness (docs/coroutine.md, "Readiness and
    # completion"); where io_uring is refused, the row says "did not start".
    Config("coroutine --io uring", "coroutine", ["--workers", "1", "--io", "uring"], ("main",)),
    # The event loops on one shared listening socket, in the distribution experiment
    # only: does every loop take a share (docs/design.md, "--workers")?
    Config("multiplex --workers N", "multiplex", ["--workers", W, "--backend", "epoll"],
           ("distribution",)),
    Config("coroutine --workers N", "coroutine", ["--workers", W], ("distribution",)),
    Config("coroutine --io uring --workers N", "coroutine", ["--workers", W, "--io", "uring"],
           ("distribution",)),
    Config("floor (reference)", "floor", ["--body", "4000"], ("main", "model"), reference=True),
    Config("floor --io uring (reference)", "floor", ["--body", "4000", "--io", "uring"],
           ("main", "model"), reference=True),
    # nginx's options are lines of its http block (bench.py writes one nginx.conf per row).
    # The divisor of the scoreboard's "x nginx" keeps open descriptors of the files it
    # serves, as production static servers run it, so that both sides of the ratio cache
    # files (ours: common/file_cache.h). The default-config row stays beside it, limited
    # to throughput and latency to keep the default bench in its budget.
    Config(NGINX_DIVISOR, "nginx", NGINX_CACHE, ("main", "model"), reference=True),
    Config("nginx 1 worker, defaults (reference)", "nginx", [], ("main", "latency"),
           reference=True),
]


# Many connections: the models that cap their own concurrency by default
# (threaded's, multiplex's and coroutine's --max-conns 1024, fork_per_conn's
# --max-procs 64) are given room for the largest N of the experiment's sweep, so
# that it measures the model, not its default cap. Pools keep their workers:
# their limit is the model.
MANY_CONNS_OPTIONS = {"threaded": "--max-conns", "multiplex": "--max-conns",
                      "coroutine": "--max-conns", "fork_per_conn": "--max-procs"}


# The models that serve a fixed number of connections at once: iterative one, the
# process pools their workers ({W}). Above BOUNDED_MAX_N connections every further
# one only waits, which the connections experiment already shows at N <=
# BOUNDED_MAX_N: the default set does not run them there (bench.py bounded_skip).
SERVES_AT_ONCE = {"iterative": "1", "prefork": W, "prefork_select": W}
BOUNDED_MAX_N = 1000


# The c of M/M/c in the latency experiment's theory lines: how many requests a
# model serves at once. An event loop or the iterative server one; a pool its
# workers (--workers, --pool); a thread or a process per connection as many as
# there are connections. On the machine the CPU is shared too: bench.py caps c
# at the cores the server is pinned to (docs/results.md, "Latency against
# utilisation").
PER_CONNECTION = ("fork_per_conn", "threaded")


# The slow-upstream experiment: the upstream every model proxies to. A server
# whose /lab/sleep holds no thread or worker (a timer on its loop), so that it
# answers every proxied request after the same sleep however many wait at once;
# room for every connection the largest sweep opens to it.
UPSTREAM = Config("coroutine --workers 1 (upstream)", "coroutine",
                  ["--workers", "1", "--max-conns", "4096"])


def upstream_configs(configs):
    """The slow-upstream experiment's rows: every model row but the references,
    and the "upstream" group."""
    return [c for c in configs
            if not c.reference and ({"model", "upstream"} & set(c.groups))]


def waits_at_once(stats):
    """How many requests a model keeps waiting on its upstream at once when its
    workers bound it, read from its stats file's options (docs/design.md#stats-file):
    iterative one, fork_per_conn its --max-procs, a thread pool its --pool, a
    process pool its --workers. None for a model bound by its CPU instead (a
    thread per connection, an event loop: their --max-conns, 1024, is above
    every sweep here). Little's law makes the first a ceiling: N requests in
    service, each L seconds long, are at most N / L per second."""
    options = (stats or {}).get("options") or {}
    if stats is None or options.get("max_conns_enforced") != "no":
        return None
    for key in ("max-procs", "pool"):
        if int(options.get(key) or 0) > 0:
            return int(options[key])
    return 1 if stats.get("server") == "iterative" else int(options.get("workers") or 1)


def servers(cfg, workers, conns):
    opts = cfg.argv(workers)
    for flag in ("--pool", "--workers"):
        if flag in opts:
            return int(opts[opts.index(flag) + 1])
    return conns if cfg.binary in PER_CONNECTION else 1


# The stacks experiment: threaded, a thread per connection, with each stack size
# (--stack-kb, KiB) from the smallest it accepts to glibc's default (the stack
# limit, `ulimit -s`: 8 MiB here). glibc keeps the stacks of ended threads for
# the next ones up to a total of 40 MiB (its stack cache, the tunable
# glibc.pthread.stack_cache_size); the last row gives 8 MiB stacks a cache of
# 1 GiB, to show that the cache is what the size costs.
STACK_KB = [64, 256, 1024, 8192]
STACK_CACHE_BIG = 1 << 30


def stack_configs():
    rows = [Config(f"threaded --stack-kb {kb}", "threaded", ["--stack-kb", str(kb)], ("stacks",))
            for kb in STACK_KB]
    rows.append(Config(f"threaded --stack-kb {STACK_KB[-1]}, stack cache 1 GiB", "threaded",
                       ["--stack-kb", str(STACK_KB[-1])], ("stacks",),
                       env={"GLIBC_TUNABLES": f"glibc.pthread.stack_cache_size={STACK_CACHE_BIG}"}))
    return rows


def many_conns(cfg, largest):
    """cfg with room for `largest` connections (MANY_CONNS_OPTIONS); a pool
    configuration of threaded is left alone."""
    option = MANY_CONNS_OPTIONS.get(cfg.binary)
    if option is None or "--pool" in cfg.options:
        return cfg
    return Config(cfg.label, cfg.binary, cfg.options + [option, str(largest)], cfg.groups,
                  cfg.book_row, cfg.reference, cfg.env)


def slow_client_configs(binaries, iterative_timeout_ms):
    """slow-clients: one row per server in binaries, sized for 300 slow clients
    as tests/hardening/run.py's SLOW_CONFIG sizes it (read from there, so the
    bench measures what the test checks). A blocking model spends a worker on
    every slow client for as long as it trickles, so a pool needs more workers
    than there are slow clients; an event loop holds them as small state. The
    iterative server cannot be sized: it runs with a short --timeout-ms and
    recovers when the slow clients ahead of the normal one have timed out.
    Returns (rows, problem): a server the table does not know runs with its
    defaults; problem says why the table could not be read, or is ''."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "tests", "hardening", "run.py")
    try:
        spec = importlib.util.spec_from_file_location("hardening_run", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table, problem = module.SLOW_CONFIG, ""
    except Exception as error:      # the bench still runs, with every server's defaults
        table, problem = {}, f"could not read SLOW_CONFIG from {path}: {error}"
    rows = []
    for binary in binaries:
        if binary == "iterative":
            options = ["--timeout-ms", str(iterative_timeout_ms)]
        else:
            options = shlex.split(table.get(binary, binary))[1:]
        rows.append(Config(" ".join([binary] + options), binary, options, ("slow-clients",)))
    return rows, problem
