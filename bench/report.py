"""report.md: the results directory read top to bottom.

Every number in it comes from the CSVs and metadata.json next to it; the text
around the numbers says what was measured and how to read it (docs/results.md
says more about each plot).
"""
import json
import os
import statistics

import compare
from configs import BOOK_FIG30_1, CONFIGS, NGINX_CACHE, NGINX_DIVISOR, STACK_CACHE_BIG
from plots import (KNEE_P99_MS, is_reference, latency_models, measured, medians, order_of,  # noqa: E501
                   read_csv, spread, starved, upstream_models)
from queueing import CLIENT_SHORT, LITTLE_FLOOR, LITTLE_TOLERANCE, SATURATED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The recorded reference run every `make bench` is compared with (its README
# says how it was made); bench/compare.py compares any two folders.
REFERENCE = os.path.join(ROOT, "docs", "labs", "reference")
GLIBC_STACK_CACHE_MB = 40   # glibc's stack cache (nptl: stack_cache_maxsize), MiB


def f(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def image(out, name, alt, missing="no data for it in this run"):
    if os.path.exists(os.path.join(out, f"{name}.png")):
        return f"![{alt}]({name}.png)\n\n([SVG]({name}.svg))\n"
    return f"*(no plot {name}: {missing})*\n"


def knee_text(knee, beyond):
    """A measured knee (rho, rate) as both tables print it: "beyond" when the
    top load stayed under the bound too, "none" when no load did."""
    if not knee:
        return "none"
    return f"{'beyond ' if beyond else ''}ρ {knee[0]:.2f} ({f(knee[1], 0)}/s)"


def mark(m):
    return " ⚑" if m and m.get("flagged") else ""


def not_run(rows, key):
    """The points not run (the descriptor limit, or left out of the default set):
    (what, reason) per point of key (a CSV field, or None), one line for every
    configuration when they share the reason."""
    points = {}
    for r in rows:
        if r.get("not_run"):
            points.setdefault(r.get(key, "") if key else "", {})[r["config"]] = r["not_run"]
    labels = order_of(rows)
    out = []
    for point, why in points.items():
        reasons = set(why.values())
        if len(why) == len(labels) and len(reasons) == 1:
            out.append((point, "every configuration", reasons.pop()))
        else:
            out += [(point, f"`{label}`", reason) for label, reason in why.items()]
    return out


def multiplex_note(rows):
    """What the multiplex rows of a many-connection experiment are."""
    labels = order_of(rows)
    if "multiplex --workers 1" not in labels:
        return ""
    return ("`multiplex --workers 1` runs multiplex's default `select` backend, which cannot "
            "watch a descriptor at or above FD_SETSIZE (1024): it answers those connections "
            "503 and closes them, so it holds at most about a thousand (its rows show how "
            "many)" + ("; `multiplex --backend epoll` is the model at every N. "
                       if "multiplex --backend epoll" in labels else ". "))


def room(rows):
    """What the capped models were given, from the rows' options."""
    caps = {}
    for r in rows:
        cap = " ".join(r.get("options", "").split()[-2:])
        if cap.startswith(("--max-conns", "--max-procs")):
            servers = caps.setdefault(cap, [])
            if r["config"].split()[0] not in servers:
                servers.append(r["config"].split()[0])
    if not caps:
        return ""
    given = " and ".join(f"{', '.join(servers)} with `{cap}`" for cap, servers in caps.items())
    return (f"The models that cap themselves by default run here {given}: the largest N of "
            "the sweep, so that their default caps do not hide the model; pools keep their "
            "workers. ")


class Report:
    def __init__(self, out, reference=REFERENCE):
        self.out, self.reference = out, reference
        self.moved = None           # the figures that moved (regressions), once compared
        self.lines = []
        try:
            with open(os.path.join(out, "metadata.json")) as fh:
                self.meta = json.load(fh)
        except (OSError, ValueError):
            self.meta = {}

    def __call__(self, text=""):
        self.lines.append(text)

    def title(self):
        m = self.meta
        self(f"# Seven Servers bench: {m.get('date_utc', '?')} on {m.get('host', '?')}\n")

    def regressions(self):
        """What moved since the reference run: the first thing the report says."""
        self("## Moved since the reference run\n")
        if not self.reference or not os.path.isdir(self.reference):
            self(f"Not compared: no reference run at {self.reference}.\n")
            return
        if os.path.realpath(self.reference) == os.path.realpath(self.out):
            self("Not compared: this is the reference run.\n")
            return
        result = compare.compare(self.reference, self.out)
        self.moved = result["moved"]
        compare.write_csv(result, os.path.join(self.out, "compare.csv"))
        before, after = (os.path.relpath(d, ROOT) for d in (self.reference, self.out))
        self("\n".join(compare.markdown(result, before, after, limit=25)))
        self(f"Every figure compared, with its band: [compare.csv](compare.csv); the same list "
             f"for any two runs: `make bench-compare A={before} B={after}`.\n")

    def head(self):
        m = self.meta
        self(f"Set: **{m.get('set', '?')}**, experiments: {', '.join(m.get('experiments', []))}; "
             f"{m.get('runs', '?')} runs in {m.get('elapsed_s', '?')} s (plus build). "
             "Every figure is the median of the runs listed in the CSV next to this file; "
             "⚑ marks a number that includes a flagged run (see *Flagged runs*). "
             "How to read each plot: [docs/results.md](../../../docs/results.md).\n")
        rows = [(k, m.get(k, "?")) for k in ("kernel", "cpu_model", "cores_online", "server_cpus",
                                             "client_cpus", "compiler", "wrk", "gnuplot", "nginx",
                                             "git_commit", "command")]
        self(table(["machine and tools", ""], rows))
        self("Server and client are pinned to different cores (taskset) when there are two or "
             "more; every command run is in [commands.txt](commands.txt), the settings in "
             "[metadata.json](metadata.json).\n")
        self("**Configurations run:** " + ", ".join(f"`{s}`" for s in m.get("servers_run", [])) + "\n")
        skipped = m.get("servers_skipped", [])
        if skipped:
            self("**Skipped** (they appear as soon as they exist and start):\n")
            for s in skipped:
                self(f"- {s}")
            self()
        for note in m.get("notes", []):
            self(f"**Note:** {note}\n")

    def flagged(self):
        groups, totals = {}, {}
        for name in ("fig30.1", "throughput", "latency", "sessions", "connections",
                     "slow-handler", "slow-upstream", "slow-clients", "herd", "distribution",
                     "memory",
                     "coro-switch"):
            for r in read_csv(self.out, name):
                what = (f"{r['rate']}/s over {r['conns']}" if name in ("latency", "connections")
                        else f"{r['rate']} sessions/s" if name == "sessions"
                        else r.get("clients", r.get("workers", "")))
                key = (name, r.get("config", r.get("name", "")), r.get("mode", r.get("load", "")),
                       what)
                totals[key] = totals.get(key, 0) + 1
                if r.get("flag"):
                    groups.setdefault(key, []).append(r["flag"])
        self("## Flagged runs\n")
        if not groups:
            self("None: no run had socket errors, non-2xx answers, starved clients or a server "
                 "that failed to stop cleanly.\n")
            return
        self("A flagged run had socket errors or non-2xx answers (wrk's or the client's "
             "counters), clients the server never took (*starved*: keep-alive clients beyond "
             "the model's concurrency never got an answer during the run; open-loop requests "
             "or sessions left unanswered), an open-loop client that checked itself and failed "
             "(it sent short of the rate asked, or Little's law missed), or a server that "
             "did not start or stop cleanly. Its numbers stay in the CSV and in the medians; "
             "plots ring such points in black or add (!) to the label.\n")
        rows = []
        for key, flags in groups.items():
            distinct = list(dict.fromkeys(flags))
            what = " / ".join(distinct[:3]) + (f" / … ({len(distinct) - 3} more)" if len(distinct) > 3 else "")
            rows.append(key + (f"{len(flags)} of {totals[key]}", what))
        self(table(["experiment", "configuration", "mode/load", "clients (or workers)", "runs flagged",
                    "what"], rows))

    def fig30_1(self):
        rows = read_csv(self.out, "fig30.1")
        if not rows:
            return
        med = medians(rows, ["config"], ["cpu_per_conn_us", "client_cpu_per_conn_us", "req_per_s",
                                         "server_connections"])
        labels = order_of(rows)
        row_of = {c.label: c.book_row for c in CONFIGS if c.book_row is not None}
        base = next((med[(l,)]["cpu_per_conn_us"] for l in labels if row_of.get(l) == 0), None)
        fork = next((med[(l,)]["cpu_per_conn_us"] for l in labels if row_of.get(l) == 1), None)
        clients = rows[0]["clients"]
        self("## Figure 30.1 today: CPU per connection\n")
        self(f"{clients} wrk clients, `Connection: close` (one connection per request, as in "
             f"UNP's client), each asking for a 4000-byte file for {rows[0]['seconds']} s; pools "
             f"have {self.meta.get('pool_workers', '–')} workers. Server CPU is user+sys of the server and "
             "all its children (its stats file) divided by the connections it served; the "
             "client's CPU (wrk's rusage) over the same connections is beside it. Over loopback "
             "both run on this machine, so part of a model's cost can land on the client.\n")
        self(image(self.out, "fig30_1", "CPU per connection per server"))
        trows = []
        for l in labels:
            m = med[(l,)]
            cpu = m["cpu_per_conn_us"]
            r = row_of.get(l)
            ratio = f(cpu / base, 2) if cpu is not None and base else "–"
            extra = f(cpu - base) if cpu is not None and base is not None else "–"
            ours_rel = (f((cpu - base) / (fork - base), 2)
                        if None not in (cpu, base, fork) and fork > base and r not in (None, 0) else "–")
            book = BOOK_FIG30_1.get(r)
            trows.append((f"`{l}`{mark(m)}", r if r is not None else "", f(cpu), f(m["client_cpu_per_conn_us"]),
                          ratio, extra, f(m["req_per_s"], 0),
                          f(book[1], 2) if book else "", ours_rel,
                          f(book[1] / BOOK_FIG30_1[1][1], 2) if book and r else ""))
        self(table(["configuration", "UNP row", "server µs/conn", "client µs/conn",
                    "× iterative", "extra over iterative µs", "conn/s", "book: extra CPU s",
                    "ours: extra / fork's extra", "book: extra / fork's extra"], trows))
        self("The book's column is *process-control CPU time*: seconds of server CPU beyond the "
             "iterative server's, for its whole client run on 1990s hardware, so only its "
             "shape compares. Both are put on one scale in the last two columns and the plot "
             "below: each model's extra CPU as a fraction of fork-per-connection's extra.\n")
        self(image(self.out, "fig30_1_book", "extra CPU relative to fork per connection, book vs today",
                   "it needs iterative and fork_per_conn, with fork_per_conn dearer than iterative"))
        ours = [(med[(l,)]["cpu_per_conn_us"], l) for l in labels
                if not is_reference(l) and med[(l,)]["cpu_per_conn_us"] is not None]
        if ours:
            lo, hi = min(ours), max(ours)
            self(f"Cheapest here: `{lo[1]}` at {f(lo[0])} µs per connection; dearest: `{hi[1]}` "
                 f"at {f(hi[0])} µs ({f(hi[0] / lo[0], 1)}×).\n")

    def scoreboard(self):
        rows = read_csv(self.out, "fig30.1")
        tput = read_csv(self.out, "throughput")
        lat = read_csv(self.out, "latency")
        if not rows and not tput and not lat:
            return
        knees = self.knees()
        calls = {r["config"]: r.get("per_request") for r in read_csv(self.out, "syscalls")
                 if r.get("clients") == "256" and r.get("per_request")}
        self("## Scoreboard: CPU per request next to the floor and nginx, and the knee\n")
        self("The floor server (`bench/floor.c`: one epoll loop, a fixed prepared answer, no "
             "parsing, no files) is what the kernel's TCP work costs; nginx (one process) is a "
             "production server doing the same job as ours. A ratio of 1.0 means as cheap as "
             f"the reference. The *× nginx* columns divide by `{NGINX_DIVISOR}`: "
             f"`{' '.join(NGINX_CACHE)}`, as production static servers run it, because our "
             "servers keep files of up to 8 KiB in memory for one second "
             "(`common/file_cache.h`; `--no-file-cache` turns it off) and a divisor that opens "
             "the file on every request would flatter them. nginx with its defaults "
             "(`open_file_cache` off) is the second nginx row, for comparison; the configs are "
             "in `nginx-open_file_cache/nginx.conf` and `nginx/nginx.conf` here. The *knee* "
             "column is from the open-loop latency experiment below: the highest offered load "
             "(ρ, a share of the configuration's own capacity, and the rate it was) "
             f"whose p99 stayed under {KNEE_P99_MS:g} ms with every request answered and the "
             "client sending what was asked (*none*: no rate did). *syscalls/req* is from the syscalls experiment "
             "(`bench/syscalls.py`: `strace -f -c`, 256 keep-alive clients; – where not "
             "measured).\n")
        med = medians(rows, ["config"], ["cpu_per_conn_us", "req_per_s"])
        ka = medians([r for r in tput if r["mode"] == "keepalive"], ["config", "clients"],
                     ["cpu_per_req_us", "req_per_s"])
        ka_clients = sorted({int(k[1]) for k in ka})
        pick = str(next((c for c in ka_clients if c >= 10), ka_clients[-1])) if ka_clients else None
        labels = order_of(rows) or order_of(tput) or order_of(lat)
        labels += [l for l in order_of(lat) if l not in labels]
        floor = next((med[(l,)]["cpu_per_conn_us"] for l in labels if "floor" in l and (l,) in med), None)
        nginx = med.get((NGINX_DIVISOR,), {}).get("cpu_per_conn_us")
        floor_ka = next((ka[(l, pick)]["cpu_per_req_us"] for l in labels if "floor" in l and (l, pick) in ka), None)
        nginx_ka = ka.get((NGINX_DIVISOR, pick), {}).get("cpu_per_req_us")
        out = []
        if pick is None:
            self("(No keep-alive throughput in this run: the keep-alive columns are empty.)\n")
        for l in labels:
            m = med.get((l,), {})
            k = ka.get((l, pick), {}) if pick else {}
            c, kc = m.get("cpu_per_conn_us"), k.get("cpu_per_req_us")
            kn = knees.get(l)
            knee_cell = "–" if kn is None else knee_text(kn[:2] if kn[0] else None, kn[2])
            out.append((f"`{l}`{mark(m)}{mark(k)}", f(c), f(c / floor, 2) if c and floor else "–",
                        f(c / nginx, 2) if c and nginx else "–", f(kc),
                        f(kc / floor_ka, 2) if kc and floor_ka else "–",
                        f(kc / nginx_ka, 2) if kc and nginx_ka else "–", f(k.get("req_per_s"), 0),
                        knee_cell, f(float(calls[l]), 2) if l in calls else "–"))
        self(table(["configuration", "µs/conn (close)", "× floor", "× nginx",
                    f"µs/req keep-alive c={pick or '–'}", "× floor", "× nginx",
                    f"req/s keep-alive c={pick or '–'}", "knee (open loop)", "syscalls/req"], out))

    def goals(self):
        """The readiness/completion goals (docs/coroutine.md), read off the keep-alive
        throughput runs: CPU per request side by side, and whether each goal held."""
        tput = read_csv(self.out, "throughput")
        ka = medians([r for r in tput if r["mode"] == "keepalive"], ["config", "clients"],
                     ["cpu_per_req_us"])
        close = medians(read_csv(self.out, "fig30.1"), ["config"], ["cpu_per_conn_us"])
        uring, epoll = "coroutine --io uring", "coroutine --workers 1"
        floor, mux = "floor (reference)", "multiplex --workers 1"
        clients = sorted({int(k[1]) for k in ka})
        if not clients or not any(k[0] == uring for k in ka):
            return
        self("## Readiness and completion: the goals\n")
        self("Server CPU per request (µs) with keep-alive, from the throughput runs above "
             f"(one run of {tput[0]['seconds']} s per point, server pinned): the two floors, "
             "the coroutine server on epoll and on io_uring, and multiplex. Differences of "
             "less than about 10 % are within this machine's run-to-run spread; "
             "docs/coroutine.md has longer, interleaved runs.\n")
        labels = [floor, "floor --io uring (reference)", epoll, uring, mux]
        cpu = lambda l, c: ka.get((l, str(c)), {}).get("cpu_per_req_us")
        self(table(["configuration"] + [f"c={c}" for c in clients],
                   [[f"`{l}`"] + [f(cpu(l, c), 2) for c in clients] for l in labels]))

        def verdict(text, a, b, bound):
            """bound: 'below' (a < b), 'at most' (a <= b) or 'within 5 %' (a <= 1.05 b)."""
            if a is None or b is None:
                return f"- {text}: not measured in this run"
            held = a < b if bound == "below" else a <= b if bound == "at most" else a <= 1.05 * b
            return f"- {text}: {f(a, 2)} against {f(b, 2)}: " + ("met" if held else "**not met**")
        last, first = clients[-1], clients[0]
        lines = [verdict(f"`{uring}` below `{floor}` at c={last}", cpu(uring, last),
                         cpu(floor, last), "below"),
                 verdict(f"`{uring}` no more than `{epoll}` at c={first}", cpu(uring, first),
                         cpu(epoll, first), "at most")]
        for c in clients:
            lines.append(verdict(f"`{epoll}` within 5 % of `{mux}`, keep-alive c={c}",
                                 cpu(epoll, c), cpu(mux, c), "within 5 %"))
        lines.append(verdict(f"`{epoll}` within 5 % of `{mux}`, a connection per request "
                             "(µs per connection)", close.get((epoll,), {}).get("cpu_per_conn_us"),
                             close.get((mux,), {}).get("cpu_per_conn_us"), "within 5 %"))
        self("\n".join(lines) + "\n")

    def herd(self):
        rows = read_csv(self.out, "herd")
        if not rows:
            return
        med = medians(rows, ["config", "workers"], ["sleeps_per_conn", "spurious_per_conn",
                                                    "cpu_per_conn_us"])
        self("## Thundering herd: how many children a connection wakes\n")
        gap = self.meta.get("settings", {}).get("herd_gap_us")
        pause = (f", pausing {gap} µs between them so that every child woken by one connection "
                 "is asleep again before the next" if gap else "")
        self(f"One sequential client makes {rows[0]['connections']} connections (one in flight, "
             f"so every other child is idle: the worst case{pause}). Sleeps per connection = Σ over "
             "children of voluntary context switches inside the wait, / connections: 1.0 means "
             "one child woken per connection. Spurious accepts (woke, found nothing) are a lower "
             "bound: most losers go back to sleep inside the kernel without returning.\n")
        for name, alt in (("herd_sleeps", "sleeps per connection"),
                          ("herd_spurious", "spurious accepts per connection"),
                          ("herd_cpu", "CPU per connection vs children")):
            self(image(self.out, name, alt))
        counts = sorted({int(k[1]) for k in med})
        out = []
        for l in order_of(rows):
            out.append([f"`{l}`"] + [f(med[(l, str(c))]["sleeps_per_conn"], 2) + mark(med[(l, str(c))])
                                     if (l, str(c)) in med else "–" for c in counts]
                       + [f(med[(l, str(counts[-1]))]["spurious_per_conn"], 3)
                          if (l, str(counts[-1])) in med else "–"])
        self(table(["sleeps per connection at N children"] + [f"N={c}" for c in counts]
                   + [f"spurious/conn N={counts[-1]}"], out))

    def distribution(self):
        rows = read_csv(self.out, "distribution")
        if not rows:
            return
        med = medians(rows, ["config", "load"], ["jain", "max_share", "active_workers",
                                                 "server_connections"])
        low = next((r for r in rows if r["load"] == "low"), None)
        high = next((r for r in rows if r["load"] == "high"), None)
        self("## Distribution: which child gets the connection (UNP Figure 30.2)\n")
        nw = rows[0]["workers"]
        if low:
            self(f"**Low load:** 1 client in flight vs {nw} idle children "
                 f"({low['connections']} sequential connections).\n")
        if high:
            self(f"**High load:** {high['clients']} clients in flight vs {nw} children "
                 "(wrk, connection per request): more pending connections than idle children.\n")
        self("Jain's fairness index is (Σx)²/(n·Σx²) over the children's connection counts: "
             "1.0 = perfectly even, 1/n = one child took everything.\n")
        self(image(self.out, "distribution_low", "connections per child at low load"))
        self(image(self.out, "distribution_high", "connections per child at high load"))
        out = []
        for l in order_of(rows):
            lo, hi = med.get((l, "low"), {}), med.get((l, "high"), {})
            out.append((f"`{l}`", f(lo.get("jain"), 2) + mark(lo),
                        f((lo.get("max_share") or 0) * 100, 0) + "%" if lo else "–",
                        f(lo.get("active_workers"), 0), f(hi.get("jain"), 2) + mark(hi),
                        f((hi.get("max_share") or 0) * 100, 0) + "%" if hi else "–",
                        f(hi.get("active_workers"), 0)))
        self(table(["configuration", "Jain low", "busiest low", "active low", "Jain high",
                    "busiest high", "active high"], out))

    def throughput(self):
        rows = read_csv(self.out, "throughput")
        if not rows:
            return
        med = medians(rows, ["config", "mode", "clients"], ["req_per_s", "p50_us", "p99_us"])
        self("## Throughput and latency vs concurrency\n")
        self(f"wrk for {rows[0]['seconds']} s per point against a 4000-byte static file, "
             "keep-alive and one connection per request (`Connection: close`). Pools have "
             f"{self.meta.get('pool_workers', '–')} workers. A keep-alive point where the model serves "
             "fewer connections at once than wrk opened is flagged *starved*: the remaining "
             "clients waited the whole run, so its req/s comes from the few it served.\n")
        for mode in ("keepalive", "close"):
            self(image(self.out, f"throughput_{mode}", f"requests per second, {mode}"))
            self(image(self.out, f"latency_{mode}", f"latency, {mode}"))
            clients = sorted({int(k[2]) for k in med if k[1] == mode})
            out = []
            for l in order_of(rows):
                cells = []
                for c in clients:
                    m = med.get((l, mode, str(c)))
                    cells.append(f"{f(m['req_per_s'], 0)} / {f((m['p99_us'] or 0) / 1000, 2)}{mark(m)}"
                                 if m else "–")
                out.append([f"`{l}`"] + cells)
            self(table([f"{mode}: req/s / p99 ms"] + [f"c={c}" for c in clients], out))

    def knees(self):
        """{config: (knee rho or None, its rate, beyond: under the bound at the
        top load too)} from latency.csv."""
        models = latency_models(read_csv(self.out, "latency"))
        return {l: (*(m["knee"] or (None, None)), m["knee_beyond"])
                for l, m in models.items() if m["points"]}

    def latency(self):
        rows = read_csv(self.out, "latency")
        models = latency_models(rows)
        if not any(m["points"] for m in models.values()):
            return
        first = next(r for r in rows if r.get("load") != "capacity")
        cap = next((r for r in rows if r.get("load") == "capacity"), {})
        self("## Latency against utilisation (open loop), and what queueing theory predicts\n")
        self(f"`bench/client rate` offers a fixed rate for {first['seconds']} s over "
             f"{first['conns']} keep-alive connections, round-robin, whatever the server does: "
             "request k is due at k / rate, and its latency is measured from that *intended* "
             "time, so a stall counts for every request scheduled behind it (wrk2's correction "
             "of coordinated omission). A request still unanswered at the end of the run and its "
             "drain counts with latency = end − intended time: the "
             "p99 of a model that never answers some connections is bounded by the run plus "
             "the drain, not a latency anyone saw. Each connection carries up to "
             f"{cap.get('depth') or 1} requests at once (pipelined), so that the client's own "
             "cost per request stays below the server's. Each configuration's **capacity** is "
             f"measured first: {f(float(cap.get('rate') or 0), 0)} requests per second asked "
             f"for {cap.get('seconds', '?')} s (far more than any server here answers), the "
             f"best of {self.meta.get('settings', {}).get('lat_capacity_runs', 'its')} runs; "
             "its server CPU per request in that run is its **demand D**. That rate is the "
             "server's own saturation only if the server had work all along: *busy* is the "
             "share of the cores it may use (c of them) that it used, *waiting* the share it "
             "was runnable while other work held its core; their sum (no more than the share "
             f"its cores were not idle) at least {SATURATED:g} is **server-bound**, and the "
             "capacity is the rate it answered. Below, it sat idle waiting for requests: "
             "**client-bound**, and the capacity is the rate answered divided by that sum, "
             "what it would serve wanting its cores all the time (c / D on cores of its own); "
             "the loads the client could not send are flagged *client short*, their sent rate "
             "beside the rate asked (`capacity_verdict` in bench/queueing.py). Then it is "
             "offered "
             "shares ρ of that capacity. Pools have "
             f"{self.meta.get('pool_workers', '–')} workers, so with {first['conns']} keep-alive "
             "connections most of them are never taken (flagged at every load). The **knee** "
             f"is the highest ρ whose p99 stayed under {KNEE_P99_MS:g} ms with every request "
             "answered and the client not short (*beyond* the top load when p99 stayed under "
             "it there too: the capacity run caught a slow moment, and the knee lies past the "
             "sweep); the **predicted** knee is where M/M/c's p99 reaches the same bound, "
             "from D and c = the model's servers (1 loop; its workers; a thread or process per "
             "connection) capped at the cores the server is pinned to (docs/results.md, "
             "*latency*), in units of the capacity.\n")
        self(image(self.out, "latency_open_loop", "open-loop p50 and p99 against utilisation"))
        self(image(self.out, "latency_theory", "measured p50 and p99 beside M/M/c and M/D/1"))
        out = []
        for l, m in models.items():
            if not m["points"]:
                continue
            checked = [v for v in m["points"] if v["little"] is not None and v["inflight"] is not None]
            worst = max(checked, key=lambda v: abs(v["inflight"] - v["little"]) /
                        max(v["little"], LITTLE_FLOOR), default=None)
            missed = sum(1 for v in checked if any(x.startswith("Little") for fl in v["flags"]
                                                   for x in fl.split("; ")))
            little = ("–" if worst is None else
                      f"worst {worst['inflight']:.3g} vs {worst['little']:.3g} at ρ {worst['rho']:g}"
                      + (f"; {missed} missed" if missed else ""))
            kn, pr = m["knee"], m["predicted"]
            busy = (f"{f(m['busy'], 2)} + {f(m['waited'], 2)}"
                    if m.get("busy") is not None and m.get("waited") is not None else "–")
            if m.get("idle") is not None:
                busy += f"; idle {f(m['idle'], 2)}"
            held = [v["waited"] for v in m["points"] if v.get("waited") is not None]
            held = f(statistics.median(held), 2) if held else "–"
            out.append((f"`{l}`", f(m.get("capacity"), 0), m.get("verdict") or "–", busy,
                        f(m.get("sent_rate"), 0), f(m.get("demand_us")), m.get("c", "–"),
                        f"ρ {pr[0]:.2f} ({f(pr[1], 0)}/s)" if pr else "–",
                        knee_text(kn, m["knee_beyond"]), held, little))
        self(table(["configuration", "capacity req/s", "verdict", "busy + waiting; idle",
                    "client sent/s", "D µs", "c", "predicted knee (M/M/c)",
                    "measured knee", "waiting at the loads", "Little's law: in flight vs X·W"],
                   out))
        self("*busy + waiting; idle*: at the capacity run, the shares of its cores' time the "
             "server ran, was runnable while other work (or another of its threads) held "
             "them, and the cores were idle. *Waiting at the loads*: the median "
             "over the offered loads of the second share: a server that waits for its core "
             "that often is descheduled for a time slice now and then, and a few ms of that "
             "is the p99 of a light load, whatever the queue.\n")
        never = starved(models)
        if never:
            self("Never all served, at any load (their knee is *none*, whatever the p99 of the "
                 "requests they did answer): " + ", ".join(f"`{l}`" for l in never) + ".\n")
        loads = sorted({v["load"] for m in models.values() for v in m["points"]})
        out = []
        for l, m in models.items():
            by = {v["load"]: v for v in m["points"]}
            cells = []
            for load in loads:
                v = by.get(load)
                cells.append(f"{f(v['p99_ms'], 1)} / {f((v['answered_share'] or 0) * 100, 0)}% "
                             f"@{f(v['rate'], 0)}{' ⚑' if v['flagged'] else ''}" if v else "–")
            out.append([f"`{l}`"] + cells)
        self(table(["p99 ms / answered @ req/s"] + [f"ρ {load / 100:g}" for load in loads], out))
        self(f"⚑: a flagged run: requests still unanswered at the end (they are in the p99 "
             "with latency = end − intended time), the client sent slower than "
             f"{CLIENT_SHORT * 100:g} % of the rate asked (it measured itself, not the server), "
             "or Little's law missed: the mean number of requests in flight, sampled by the "
             "client from its connections at random times (100 µs apart on average), and "
             "throughput × mean latency from its "
             f"latency record differ by more than {LITTLE_TOLERANCE * 100:g} % (or "
             f"{LITTLE_FLOOR:g} request): the record is not whole, or the sampling missed "
             "(the report's *Flagged runs* say which). Compare with *Throughput and latency vs "
             "concurrency*: there wrk, a closed-loop tool, times only the requests it sent, so "
             "a connection stuck in the listen queue contributes nothing and a starved server "
             "looks fast.\n")

    def sessions(self):
        rows = read_csv(self.out, "sessions")
        if not rows:
            return
        med = medians(rows, ["config", "rate"], ["arrived", "completed", "unanswered", "failed",
                                                 "p50_us", "p99_us"])
        first = rows[0]
        self("## Sessions: partly-open load\n")
        self("`bench/client sessions`: sessions arrive at random (Poisson, the same arrivals "
             f"every run) for {first['seconds']} s; each opens a connection, sends "
             f"{first['k']} requests one after another with an exponential think time of mean "
             f"{first['think_ms']} ms between an answer and the next, and closes (Schroeder, "
             "Wierman and Harchol-Balter, *Open Versus Closed*, NSDI 2006). Open between "
             "sessions, closed within one: a model that gives each connection a worker holds "
             "the worker through every think time, so it serves at most workers ÷ session "
             "length sessions per second however little CPU a request costs. A session's time "
             "runs from its arrival to its last answer; one still open at the end counts with "
             "end − arrival.\n")
        self(image(self.out, "sessions", "partly-open load: sessions completed and session "
                   "time against the arrival rate"))
        rates = sorted({float(k[1]) for k in med})
        out = []
        for l in order_of(rows):
            cells = []
            for r in rates:
                m = next((v for k, v in med.items() if k[0] == l and float(k[1]) == r), None)
                cells.append(f"{f(m['completed'], 0)} of {f(m['arrived'], 0)}; "
                             f"{f((m['p50_us'] or 0) / 1000, 0)} / {f((m['p99_us'] or 0) / 1000, 0)}"
                             f"{mark(m)}" if m and m.get("arrived") is not None else "–")
            out.append([f"`{l}`"] + cells)
        self(table(["sessions completed; time p50 / p99 ms"] + [f"{f(r, 0)}/s" for r in rates],
                   out))
        self("⚑: sessions left unanswered at the end or failed (their times are in the "
             "percentiles).\n")

    def connections(self):
        every = read_csv(self.out, "connections")
        rows = measured(every)
        if not every:
            return
        med = medians(rows, ["config", "conns"], ["answered_share", "p99_us", "pss_per_conn_b",
                                                  "tcp_mem_per_conn_b", "processes", "threads",
                                                  "connected", "seconds", "held"])
        first = every[0]
        self("## Many connections (C10K): N keep-alive connections at one total rate\n")
        self(f"`bench/client rate` opens N keep-alive connections, then sends {first['rate']} "
             "requests per second in all, round-robin over them, for N / rate seconds (at least "
             f"{self.meta.get('settings', {}).get('c10k_min_seconds', '–')} s), so every "
             "connection asks at least once. Halfway through, the server's PSS (summed over its "
             "processes, minus its PSS before the load) and the kernel's TCP buffer memory "
             "(`/proc/net/sockstat`, `TCP: mem` pages: the whole machine's, so both ends of "
             "each loopback connection) are divided by N; *held* is how many connections the "
             "server then held (accepted and not closed: a connection still in the listen "
             "queue is not held). " + room(every) + multiplex_note(every) + "What else limits: the "
             "descriptor limit (the client and the server need one per connection: a point "
             "beyond it is not run, and named below the table), the listen "
             "queue (somaxconn) for a model that does not accept, and memory for a process or "
             "thread per connection.\n")
        self(image(self.out, "connections",
                   "connections held, answered share, p99 and memory per connection vs N"))
        sizes = sorted({int(k[1]) for k in med})
        out = []
        for l in order_of(rows):
            for n in sizes:
                m = med.get((l, str(n)))
                if not m:
                    continue
                out.append((f"`{l}`{mark(m)}", n, f(m["connected"], 0), f(m["held"], 0),
                            f((m["answered_share"] or 0) * 100, 1) + "%",
                            f((m["p99_us"] or 0) / 1000, 1), f(m["pss_per_conn_b"], 0),
                            f(m["tcp_mem_per_conn_b"], 0), f(m["processes"], 0),
                            f(m["threads"], 0)))
        if out:
            self(table(["configuration", "N", "connected before the clock",
                        "held by the server (halfway)", "answered", "p99 ms",
                        "server PSS B/conn", "kernel TCP B/conn", "processes", "threads"], out))
        for n, who, why in not_run(every, "conns"):
            self(f"- N = {n}, {who}: {why}.")
        self()

    def slow(self):
        rows = read_csv(self.out, "slow-handler")
        if not rows:
            return
        med = medians(rows, ["config"], ["req_per_s", "p50_us", "server_connections"])
        clients = int(rows[0]["clients"])
        self("## Slow handler: who waits concurrently\n")
        self(f"{clients} keep-alive clients ask for `/lab/sleep/50` (a handler that waits 50 ms "
             f"on slow I/O) for {rows[0]['seconds']} s. A model that waits for one request at a "
             f"time reaches 20 req/s; one that waits for all {clients} at once reaches "
             f"{clients * 20} req/s.\n")
        self(image(self.out, "slow_handler", "requests per second with a 50 ms handler"))
        out = [(f"`{l}`{mark(med[(l,)])}", f(med[(l,)]["req_per_s"], 0),
                f(med[(l,)]["req_per_s"] / 20, 1) if med[(l,)]["req_per_s"] else "–",
                f(med[(l,)]["server_connections"], 0)) for l in order_of(rows)]
        self(table(["configuration", "req/s", "requests waiting at once (req/s ÷ 20)",
                    "connections taken"], out))

    def slow_upstream(self):
        every = read_csv(self.out, "slow-upstream")
        rows = [r for r in every if r.get("req_per_s")]
        self("## Slow upstream: Little's law through a proxy\n")
        if not rows:
            why = sorted({r["flag"] for r in every if r.get("flag")})
            self("No configuration answered through the proxy in this run" +
                 (": " + "; ".join(why[:3]) if why else "") + ".\n")
            return
        models, latency_ms = upstream_models(rows)
        clients = sorted({int(r["clients"]) for r in rows})
        first, most = rows[0], clients[-1]
        self(f"Each model runs as a reverse proxy (`--upstream`) in front of one upstream, "
             f"`coroutine --workers 1` on the client's cores, whose every answer to "
             f"`GET /lab/sleep/{first['sleep_ms']}` takes {first['sleep_ms']} ms; its own "
             f"latency L, measured when it starts (the median of "
             f"{self.meta.get('settings', {}).get('up_probe_gets', 'a few')} GETs, each on a "
             f"new connection as the proxies make them), was {f(latency_ms, 1)} ms. wrk's "
             f"keep-alive clients, {', '.join(map(str, clients))} of them, ask through the proxy "
             f"for {first['seconds']} s per point ({max(float(r['seconds']) for r in rows):g} s "
             f"at {most} clients: a thread or a process per connection takes a while to "
             "start them all). A model whose workers bound it keeps at most "
             "N requests waiting on the upstream at once, so it answers at most N / L per "
             "second (Little's law: requests in flight = throughput × time in flight); a "
             "thread per connection and the event loops keep every client's request waiting, "
             "up to what a CPU serves. Two cores can end their line: the server's, which "
             "runs the proxy alone (its cores ÷ its CPU per request), and the client's, "
             "where wrk and the upstream share the rest of each request's work (÷ their CPU "
             "per request); the *ceiling* column names the lower, at the most clients. *At "
             "once* is the measured throughput × L: how many requests the model kept "
             "waiting on the upstream; below N by the proxy's own part of each request (the "
             "*ms at 1* column: wrk's p50 with one client, against L). *Never taken*: "
             "keep-alive clients the model did not accept in the run (wrk times only the "
             "clients it answered, so their wait is in no p99).\n")
        self(image(self.out, "slow_upstream", "throughput through a proxy against the number "
                   "of clients, with the Little's-law ceilings"))
        out = []
        for label, m in models.items():
            at = {v["clients"]: v for v in m["points"]}
            top = at.get(most, {})
            never = "; ".join(sorted({r["waiting"] for r in rows if r["config"] == label
                                      and r.get("waiting") and int(r["clients"]) == most}))
            bound = (f"{f(m['ceiling'], 0)} (N = {m['at_once']:.0f})" if m["at_once"] else
                     f"{m['cpu_bound'] or 'a'} CPU: {f(m['cpu_ceiling'], 0)}"
                     if m["cpu_ceiling"] else "CPU")
            one = at.get(clients[0], {})
            out.append([f"`{label}`{mark(top)}", bound,
                        f((one.get("p50_us") or 0) / 1000 or None, 1)] +
                       [f(at[c]["req_per_s"], 0) + mark(at[c]) if c in at else "–"
                        for c in clients] +
                       [f(top.get("served_at_once"), 1), f((top.get("p99_us") or 0) / 1000 or None, 1),
                        f(top.get("cpu_per_req_us"), 1), never or "–"])
        self(table(["configuration", "ceiling req/s", f"ms at {clients[0]}"] +
                   [f"req/s, {c}" for c in clients] +
                   [f"at once, {most}", f"p99 ms, {most}", f"CPU µs/req, {most}",
                    f"never taken, {most}"], out))

    def slow_clients(self):
        rows = read_csv(self.out, "slow-clients")
        if not rows:
            return
        med = medians(rows, ["config"], ["median_ms", "max_ms", "first_ms", "baseline_ms",
                                         "slow_target", "slow_connected", "slow_open_end",
                                         "timeout_ms", "within_1s"])
        labels = order_of(rows)
        settings = self.meta.get("settings", {})
        first = rows[0]
        iterative = [l for l in labels if l.startswith("iterative")]
        others = [l for l in labels if l not in iterative]
        n = int(med[(others[0],)]["slow_target"]) if others else int(first["slow_target"])
        runs = max(m["runs"] for m in med.values())
        self("## Slow clients: does a normal client still get through?\n")
        self(f"{n} slow clients (`bench/client slow`) connect first and then keep sending a "
             f"request head, one byte per connection every {int(first['interval_ms']) / 1000:g} s, "
             "never finishing it. Meanwhile a normal client makes "
             f"{first['gets']} GETs of the 4000-byte file, each on a new connection and read to "
             f"the end, spread over {settings.get('trickle_window_s', '–')} s so that they meet "
             "every slow client's next byte; the grey bar is the median of "
             f"{settings.get('trickle_baseline_gets', 'a few')} such GETs before the slow "
             f"clients came. {runs} run{'s' if runs > 1 else ''} per server in this set "
             "(`FULL=1`: the median of 3).\n")
        timeout = next((med[(l,)]["timeout_ms"] for l in others), None)
        self("**Why the blocking models are sized for it.** A slow client holds a worker, a "
             "process or a thread, for as long as it trickles (up to `--timeout-ms`, "
             f"{f((timeout or 0) / 1000, 0)} s here), so a blocking model needs more workers than "
             "there are slow clients. The configurations (first column of the table) are those "
             "of `SLOW_CONFIG` in `tests/hardening/run.py`, which checks the same thing; with "
             f"the {self.meta.get('pool_workers', 8)} workers of the other experiments the normal "
             "client would queue behind the slow ones until they time out. That is the lesson, "
             "not a trick: the price of surviving is a process or a thread per slow client. The "
             "event loops hold one as a little state (multiplex) or a coroutine stack "
             "(coroutine) and need no special option.\n")
        for l in iterative:
            m = med[(l,)]
            k, t = int(m["slow_target"]), m["timeout_ms"]
            self(f"**iterative** cannot be sized: it serves one connection at a time, so every "
                 "slow client ahead of the normal one in the listen queue holds it for a full "
                 f"`--timeout-ms`. It runs with `--timeout-ms {t:.0f}` and only {k} slow clients "
                 f"(with {n} it would take {n} × {t / 1000:g} s = {n * t / 60000:.0f} min); its "
                 f"first GET, answered after {f(m['first_ms'], 0)} ms (against {k} × {t:.0f} ms), "
                 "is the time until it answers at all; "
                 f"{f(m['slow_target'] - (m['slow_open_end'] or 0), 0)} of its {k} slow clients "
                 "had been closed by the server at the end of the run, and the median GET took "
                 f"{f(m['median_ms'], 2)} ms.\n")
        self(image(self.out, "slow_clients",
                   "a normal client's latency while slow clients hold connections"))
        out = []
        for l in labels:
            m = med[(l,)]
            held = f"{f(m['slow_connected'], 0)} / {f(m['slow_open_end'], 0)}"
            out.append((f"`{l}`{mark(m)}", held,
                        f(m["median_ms"], 2), f(m["max_ms"], 1), f(m["first_ms"], 1),
                        f(m["baseline_ms"], 2), "yes" if m["within_1s"] == 1 else "no"))
        self(table(["configuration", "slow clients connected / still open at the end",
                    "GET median ms", "slowest ms", "first ms", "before the slow clients ms",
                    "every GET < 1 s"], out))
        good = [f"`{l}`" for l in others if med[(l,)]["within_1s"] == 1]
        bad = [f"`{l}`" for l in others if med[(l,)]["within_1s"] != 1]
        first_slowest = sum(1 for r in rows if r.get("first_ms") and r["first_ms"] == r["max_ms"]
                            and not r["config"].startswith("iterative"))
        self(f"Every GET within 1 s: {', '.join(good) or 'none'}" +
             (f"; **not** within 1 s: {', '.join(bad)}" if bad else "") + ". " +
             f"In {first_slowest} of {sum(1 for r in rows if r['config'] in others)} runs of the "
             "other servers the slowest GET was the first, made just after the slow clients "
             "connected, while the server was still taking their connections (fork_per_conn "
             "forks a child for each).\n")

    def memory(self):
        every = read_csv(self.out, "memory")
        rows = measured(every)
        if not every:
            return
        self(f"## Memory: {every[0]['held_target']} idle connections\n")
        if rows:
            self.memory_table(every, rows)
        for _, who, why in not_run(every, None):
            self(f"- {who}: {why}.")
        self()

    def memory_table(self, every, rows):
        med = medians(rows, ["config"], ["pss_kb", "rss_kb", "idle_pss_kb", "answered",
                                         "processes", "threads", "per_conn_kb", "per_conn_b",
                                         "tcp_mem_per_conn_b"])
        self(f"A client opens {rows[0]['held_target']} connections, sends one keep-alive request "
             "on each and then keeps them idle; the server's memory is summed over all its "
             "processes (PSS: shared pages divided among the processes sharing them; RSS "
             "would count them once per process). *Answered* is how many connections the "
             "model actually took and answered with a 2xx, the connections it *held*: the "
             "others wait in the listen queue and cost it nothing, or were refused. "
             + multiplex_note(every) +
             "*Bytes per idle connection* is the PSS growth divided by the held connections: "
             "user space only. The kernel's side is beside it: the growth of `TCP: mem` in "
             "`/proc/net/sockstat` (pages of socket buffers, the whole machine's, so both ends "
             "of each loopback connection; the socket structures themselves, about 2 KiB each "
             "in the kernel's slab, are not in it) per connection established, answered or "
             "waiting in the listen queue. The client reads every answer to the end, so an "
             "idle connection's buffers are empty and cost about nothing there; a connection "
             "still in the listen queue holds its unread request. " + room(every) + "\n")
        self(image(self.out, "memory", "memory holding idle connections"))
        goals = {"multiplex": 1024, "coroutine": 6 * 1024}
        out = []
        for l in order_of(rows):
            m = med[(l,)]
            goal = goals.get(l.split()[0])
            met = ("–" if goal is None or m["per_conn_b"] is None else
                   f"≤ {goal // 1024} KiB: " + ("met" if m["per_conn_b"] <= goal else "**not met**"))
            held = f"{f(m['answered'], 0)} of {f(float(rows[0]['held_target']), 0)}"
            out.append((f"`{l}`{mark(m)}", held, f(m["processes"], 0),
                        f(m["threads"], 0), f((m["idle_pss_kb"] or 0) / 1024, 2),
                        f((m["pss_kb"] or 0) / 1024, 2), f(m["per_conn_b"], 0),
                        f(m["tcp_mem_per_conn_b"], 0), met))
        self(table(["configuration", "held (answered 2xx)", "processes", "threads", "PSS idle MiB",
                    "PSS held MiB", "bytes per idle connection (user space)",
                    "kernel TCP bytes per connection", "goal"], out))
        self("The goal the project sets for the event loops: an idle keep-alive connection "
             "costs multiplex at most 1 KiB and coroutine at most 6 KiB of user-space memory "
             "(a buffer is lent from a pool only while a request is being read or answered; "
             "an idle connection keeps only its state, and a coroutine its stack).\n")

    def coro(self):
        rows = read_csv(self.out, "coro-switch")
        self("## Coroutine switch\n")
        if not rows:
            self("Not measured: " + ("; ".join(self.meta.get("notes", [])) or
                                      "the experiment was not part of this run.") + "\n")
            return
        med = medians(rows, ["name"], ["ns_per_switch"])
        self("`bench/coro_switch` switches back and forth "
             "and prints nanoseconds per switch for our switch and for `swapcontext`.\n")
        self(image(self.out, "coro_switch", "ns per coroutine switch"))
        self(table(["switch", "ns per switch"], [(k[0], f(v["ns_per_switch"], 1)) for k, v in med.items()]))

    def glance(self):
        """The three questions of the report, answered from the data in one list each."""
        self("## At a glance\n")
        said = False
        rows = read_csv(self.out, "fig30.1")
        if rows:
            med = medians(rows, ["config"], ["cpu_per_conn_us"])
            ranked = sorted((m["cpu_per_conn_us"], k[0]) for k, m in med.items()
                            if m["cpu_per_conn_us"] is not None)
            self("**CPU per connection** (connection per request, cheapest first): " +
                 ", ".join(f"`{l}` {f(v)} µs{mark(med[(l,)])}" for v, l in ranked) + ".\n")
            said = True
        rows = read_csv(self.out, "herd")
        if rows:
            med = medians(rows, ["config", "workers"], ["sleeps_per_conn"])
            most = max(int(k[1]) for k in med)
            parts = [f"`{k[0]}` {f(m['sleeps_per_conn'], 1)}{mark(m)}" for k, m in med.items()
                     if int(k[1]) == most and m["sleeps_per_conn"] is not None]
            self(f"**Children woken per connection** with {most} children and one sequential "
                 "client (1 = only the one that gets it): " + ", ".join(parts) + ".\n")
            said = True
        rows = read_csv(self.out, "distribution")
        if rows:
            med = medians(rows, ["config", "load"], ["jain", "max_share"])
            parts = [f"`{k[0]}` {f(m['jain'], 2)} (busiest {f((m['max_share'] or 0) * 100, 0)}%){mark(m)}"
                     for k, m in med.items() if k[1] == "low" and m["jain"] is not None]
            self(f"**How evenly connections spread** at low load over {rows[0]['workers']} "
                 "children, Jain's index (1 = even): " + ", ".join(parts) + ".\n")
            said = True
        if not said:
            self("(None of fig30.1, herd or distribution ran in this set.)\n")

    def stacks(self):
        rows = read_csv(self.out, "stacks")
        if not rows:
            return
        self("## Thread stacks: what --stack-kb costs\n")
        self(f"`threaded`, a thread per connection, with each stack size: its server CPU per "
             f"connection under Figure 30.1's load ({rows[0]['clients']} clients, "
             f"`Connection: close`, {rows[0]['seconds']} s per run), and the memory each idle "
             "connection's thread holds (the first run of each size: that many keep-alive "
             "connections answered once and held; RSS counts the pages touched, VmSize the "
             f"address space reserved). glibc keeps the stacks of ended threads for the next "
             f"ones, up to {GLIBC_STACK_CACHE_MB} MiB in all: above that, each new thread "
             "maps a fresh stack (and faults its pages in) and each ended one unmaps it. The "
             f"last row raises that cache to {STACK_CACHE_BIG >> 20} MiB "
             "(`GLIBC_TUNABLES=glibc.pthread.stack_cache_size`).\n")
        self(image(self.out, "stacks", "CPU per connection and memory per idle connection "
                   "against the stack size"))
        out = []
        for label in order_of(rows):
            rs = [r for r in rows if r["config"] == label]
            kb = int(rs[0]["stack_kb"])
            cpu = spread(rs, "cpu_per_conn_us")
            flagged = " ⚑" if any(r.get("flag") for r in rs) else ""
            fits = (STACK_CACHE_BIG if "cache" in label else GLIBC_STACK_CACHE_MB << 20) // (kb << 10)
            out.append((f"`{label}`{flagged}", f(cpu[0]), f"{f(cpu[1])}–{f(cpu[2])}",
                        sum(1 for r in rs if r.get("cpu_per_conn_us")),
                        f(spread(rs, "req_per_s")[0], 0), f(spread(rs, "rss_per_conn_kb")[0]),
                        f(spread(rs, "vm_per_conn_kb")[0], 0), f"{fits:,}"))
        self(table(["configuration", "server µs/conn", "min–max", "runs", "conn/s",
                    "RSS KiB per idle conn", "VmSize KiB per idle conn",
                    "stacks the cache keeps"], out))

    def write(self):
        self.title()
        self.regressions()
        self.head()
        self.glance()
        self.scoreboard()
        self.goals()
        self.flagged()
        self.fig30_1()
        self.herd()
        self.distribution()
        self.throughput()
        self.latency()
        self.sessions()
        self.connections()
        self.slow()
        self.slow_upstream()
        self.slow_clients()
        self.memory()
        self.stacks()
        self.coro()
        self("---\nFiles: one CSV per experiment (one row per run), `plots-src/` (gnuplot "
             "scripts and data: `gnuplot plots-src/NAME.gp` in this directory redraws one), "
             "`metadata.json`, `commands.txt`" +
             "".join(f", `{d}/nginx.conf`" for d in ("nginx-open_file_cache", "nginx")
                     if os.path.isdir(os.path.join(self.out, d))) + ".\n")
        with open(os.path.join(self.out, "report.md"), "w") as fh:
            fh.write("\n".join(self.lines))


def write(out, reference=REFERENCE):
    """Write out/report.md; one line for the terminal: what moved since the reference."""
    report = Report(out, reference)
    report.write()
    if report.moved is None:
        return "not compared with a reference run (report.md says why)"
    moved = sorted(report.moved, key=lambda m: -abs(compare.relative(m) - 1))
    names = [f"{m[0]} `{m[1]}`{' ⚑' if m[8] else ''} {m[2]} {m[7]}" for m in moved]
    return (f"moved since the reference run: {len(names)} figure(s)" +
            (": " + "; ".join(names[:5]) + ("; …" if len(names) > 5 else "") if names else ""))
