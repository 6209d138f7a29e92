"""Medians from the bench CSVs, and the gnuplot plots drawn from them.

Each plot is a gnuplot script plus a tab-separated data file in plots-src/ of the
results directory (run `gnuplot NAME.gp` there to redraw one by hand); the PNG and
the SVG land next to report.md. Points whose runs were flagged (socket errors,
non-2xx answers, starved clients) are drawn with a black ring and named in the
report: nothing flagged is plotted silently.
"""
import csv
import os
import statistics
import subprocess

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39", "#7b4173",
           "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#9c9ede"]


# ---------------------------------------------------------------- data

def read_csv(out, name):
    path = os.path.join(out, f"{name}.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def medians(rows, keys, fields):
    """Group rows by keys; per group the median of each field, the run count and
    the flags of its runs. Returns an ordered dict key-tuple -> dict."""
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k, "") for k in keys), []).append(r)
    result = {}
    for key, rs in groups.items():
        d = dict(zip(keys, key))
        for f in fields:
            vals = [num(r.get(f)) for r in rs]
            vals = [v for v in vals if v is not None]
            d[f] = statistics.median(vals) if vals else None
        d["runs"] = len(rs)
        d["flags"] = sorted({r["flag"] for r in rs if r.get("flag")})
        d["flagged"] = bool(d["flags"])
        result[key] = d
    return result


def order_of(rows):
    """Config labels in the order they first appear (the table's order)."""
    seen = []
    for r in rows:
        if r["config"] not in seen:
            seen.append(r["config"])
    return seen


def is_reference(label):
    return "(reference)" in label


# ---------------------------------------------------------------- gnuplot

_PNG = None


def png_terminal():
    """pngcairo when this gnuplot has it (smoother), else the libgd png terminal."""
    global _PNG
    if _PNG is None:
        ok = subprocess.run(["gnuplot", "-e", "set terminal pngcairo"], capture_output=True)
        _PNG = "pngcairo" if ok.returncode == 0 and not ok.stderr.strip() else "png"
    return _PNG


class Plot:
    def __init__(self, out, name, width=1000, height=560):
        self.out, self.name, self.width, self.height = out, name, width, height
        self.src = os.path.join(out, "plots-src")
        os.makedirs(self.src, exist_ok=True)
        self.body = []
        self.datafiles = {}

    def data(self, suffix, blocks):
        """blocks: list of lists of rows (tuples). Written tab-separated, blocks
        separated by two blank lines (gnuplot's `index`). Returns the path."""
        path = os.path.join(self.src, f"{self.name}-{suffix}.dat")
        with open(path, "w") as f:
            for i, block in enumerate(blocks):
                if i:
                    f.write("\n\n")
                for row in block:
                    f.write("\t".join(fmt(v) for v in row) + "\n")
        return f"plots-src/{os.path.basename(path)}"

    def __call__(self, line):
        self.body.append(line)

    def draw(self):
        body = "\n".join(self.body)
        head = ('set datafile separator "\\t"\nset encoding utf8\n'
                'set key noenhanced\nset termoption noenhanced\n')
        script = (f"# {self.name}: drawn by bench/plots.py; run from the results directory\n"
                  f"set terminal {png_terminal()} size {self.width},{self.height} font 'sans,10' noenhanced\n"
                  f"set output '{self.name}.png'\n{head}{body}\nunset multiplot\nset output\n"
                  f"reset\nset terminal svg size {self.width},{self.height} font 'sans,10' noenhanced\n"
                  f"set output '{self.name}.svg'\n{head}{body}\nunset multiplot\nset output\n")
        gp = os.path.join(self.src, f"{self.name}.gp")
        with open(gp, "w") as f:
            f.write(script)
        res = subprocess.run(["gnuplot", gp], cwd=self.out, capture_output=True, text=True)
        noise = [line for line in res.stderr.splitlines()
                 if line.strip() and "warning: Skipping data file with no valid points" not in line]
        if res.returncode != 0 or noise:
            print(f"plots: gnuplot {self.name}: " + " | ".join(noise[-3:]), flush=True)
        return res.returncode == 0


def fmt(v):
    if v is None:
        return "NaN"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v).replace("\t", " ")


def q(s):
    """A gnuplot double-quoted string."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def series_style(i, label):
    if is_reference(label):
        color = "black" if "floor" in label else "#555555"
        return f"lc rgb '{color}' dt 2 lw 2.5 pt 0"
    return f"lc rgb '{PALETTE[i % len(PALETTE)]}' lw 1.8 pt {4 + i % 10} ps 1.1 dt {1 + (i // len(PALETTE)) % 4}"


FLAG_STYLE = "with points pt 6 ps 2.4 lw 1.5 lc rgb 'black' title 'flagged run (see report)'"


# ---------------------------------------------------------------- plots

def draw_fig30_1(out, meta):
    rows = read_csv(out, "fig30.1")
    if not rows:
        return
    med = medians(rows, ["config"], ["cpu_per_conn_us", "client_cpu_per_conn_us", "req_per_s"])
    labels = order_of(rows)
    bars = [(l + (" (!)" if med[(l,)]["flagged"] else ""), med[(l,)]["cpu_per_conn_us"],
             med[(l,)]["client_cpu_per_conn_us"]) for l in labels if not is_reference(l)]
    refs = [(med[(l,)]["cpu_per_conn_us"], f"{l}: {med[(l,)]['cpu_per_conn_us']:.1f} µs")
            for l in labels if is_reference(l) and med[(l,)]["cpu_per_conn_us"] is not None]
    p = Plot(out, "fig30_1", 1200, 260 + 46 * len(bars))
    clients = rows[0]["clients"]
    p(f'set title "UNP Figure 30.1 today: CPU time per connection, one connection per request, '
      f'{clients} clients, 4000-byte answer (median of runs)"')
    p('set xlabel "CPU time per connection (µs); dashed: reference servers\' CPU"')
    if hbars(p, bars or [("(no server)", None, None)],
             [("server CPU (self + children)", "#1f77b4"), ("client CPU (wrk), same connections", "#9ecae1")],
             lines=refs):
        p.draw()

    # Book comparison: extra CPU over iterative, as a fraction of fork-per-connection's extra.
    from configs import CONFIGS, BOOK_FIG30_1
    row_of = {c.label: c.book_row for c in CONFIGS if c.book_row is not None}
    base = next((med[(l,)]["cpu_per_conn_us"] for l in labels if row_of.get(l) == 0), None)
    fork = next((med[(l,)]["cpu_per_conn_us"] for l in labels if row_of.get(l) == 1), None)
    if base is None or fork is None or fork <= base:
        return
    cmp_rows = []
    for l in labels:
        r = row_of.get(l)
        if r is None or r == 0 or med[(l,)]["cpu_per_conn_us"] is None:
            continue
        ours = (med[(l,)]["cpu_per_conn_us"] - base) / (fork - base)
        cmp_rows.append((f"row {r}: {l}", ours, BOOK_FIG30_1[r][1] / BOOK_FIG30_1[1][1]))
    p = Plot(out, "fig30_1_book", 1100, 260 + 46 * len(cmp_rows))
    p('set title "Extra CPU per connection over the iterative server, as a fraction of '
      'fork-per-connection\'s extra:\\nUNP 3rd ed. Figure 30.1 vs this machine"')
    p('set xlabel "(CPU per connection - iterative\'s) / (fork_per_conn\'s - iterative\'s)"\n'
      '')
    if hbars(p, cmp_rows, [("this machine", "#1f77b4"), ("UNP 3rd ed. Figure 30.1", "#fdae6b")],
             value_fmt="%.2f"):
        p.draw()


def line_plot(p, series, xcol, ycol, flagged_path=None):
    """series: list of (label, data path index). Builds the plot command."""
    parts = []
    for i, (label, path, idx) in enumerate(series):
        parts.append(f"'{path}' index {idx} using {xcol}:{ycol} with linespoints "
                     f"{series_style(i, label)} title {q(label)}")
    if flagged_path:
        parts.append(f"'{flagged_path}' using {xcol}:{ycol} {FLAG_STYLE}")
    return ", \\\n     ".join(parts)


def series_files(p, labels, blocks, flagged, width):
    """The data files of a line plot with one series per label (its block of
    points, in order) and the flagged points ringed over them: (series for
    line_plot, the flagged file or None when no point is flagged)."""
    path = p.data("lines", blocks)
    fpath = p.data("flagged", [flagged or [(None,) * width]])
    return [(l, path, i) for i, l in enumerate(labels)], (fpath if flagged else None)


def draw_herd(out, meta):
    rows = read_csv(out, "herd")
    if not rows:
        return
    med = medians(rows, ["config", "workers"],
                  ["sleeps_per_conn", "spurious_per_conn", "cpu_per_conn_us", "run_cpu_per_conn_us"])
    cpu_field = ("run_cpu_per_conn_us" if any(r.get("run_cpu_per_conn_us") for r in rows)
                 else "cpu_per_conn_us")
    labels = order_of(rows)
    n = rows[0]["connections"]
    for name, field, ylabel, title in [
        ("herd_sleeps", "sleeps_per_conn", "sleeps per connection (Σ workers' ru_nvcsw in the wait)",
         "Thundering herd: workers woken per connection vs number of children"),
        ("herd_spurious", "spurious_per_conn", "spurious accepts per connection (lower bound)",
         "Spurious accepts per connection: woken, found nothing (most losers re-sleep in the kernel)"),
        ("herd_cpu", cpu_field, "server CPU per connection (µs)" +
         (", on-CPU time while the client ran" if cpu_field.startswith("run") else ""),
         "Server CPU per connection vs number of children"),
    ]:
        blocks, flagged = [], []
        for l in labels:
            pts = sorted((int(k[1]), v[field], v["flagged"]) for k, v in med.items() if k[0] == l)
            blocks.append([(x, y) for x, y, _ in pts])
            flagged += [(x, y) for x, y, f in pts if f]
        p = Plot(out, name, 1000, 600)
        path = p.data("lines", blocks)
        fpath = p.data("flagged", [flagged or [(None, None)]])
        p(f'set title {q(title + f" (1 sequential client, {n} connections, median of runs)")}')
        p('set xlabel "children (workers), log scale"\nset logscale x 2\nset xrange [0.8:80]')
        p(f'set ylabel {q(ylabel)}\nset grid\nset key top left')
        series = [(l, path, i) for i, l in enumerate(labels)]
        cmd = line_plot(p, series, 1, 2, fpath if flagged else None)
        if field == "sleeps_per_conn":
            p("set logscale y 2\nset yrange [0.25:128]\nset ytics (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)")
            p("set ylabel " + q(ylabel + ", log scale"))
            cmd = line_plot(p, series, 1, 2, fpath if flagged else None)
            cmd += ", \\\n     x with lines dt 3 lc rgb '#999999' title 'every child wakes (y = children)'"
        p("plot " + cmd)
        p.draw()


def draw_distribution(out, meta):
    rows = read_csv(out, "distribution")
    workers = read_csv(out, "distribution-workers")
    if not rows or not workers:
        return
    med = medians(rows, ["config", "load"], ["jain", "max_share", "active_workers",
                                             "server_connections"])
    labels = order_of(rows)
    for load in ("low", "high"):
        lrows = [r for r in rows if r["load"] == load]
        if not lrows:
            continue
        nw, clients = int(lrows[0]["workers"]), lrows[0]["clients"]
        blocks, titles = [], []
        for l in labels:
            reps = {}
            for w in workers:
                if w["config"] == l and w["load"] == load:
                    reps.setdefault(w["rep"], []).append(int(w["connections"]))
            ranked = [sorted(c, reverse=True) for c in reps.values()]
            size = max((len(c) for c in ranked), default=0)
            bars = [(i + 1, statistics.median([c[i] if i < len(c) else 0 for c in ranked]))
                    for i in range(size)]
            blocks.append(bars or [(None, None)])
            m = med.get((l, load), {})
            j = m.get("jain")
            share = m.get("max_share")
            flag = "(!) " if m.get("flagged") else ""
            titles.append(f"{flag}{l}\nJain {j:.2f}, busiest {share * 100:.0f}%"
                          if j is not None else f"{flag}{l}\nno data")
        cols = 4 if len(labels) > 6 else 3
        nrows = (len(labels) + cols - 1) // cols
        p = Plot(out, f"distribution_{load}", 1400, 330 * nrows + 60)
        path = p.data("bars", blocks)
        what = ("1 sequential client: every other child idle"
                if load == "low" else f"{clients} clients in flight, connection per request")
        p(f'set multiplot layout {nrows},{cols} title '
          f'{q(f"Connections per child, {nw} children, busiest first: {load} load ({what}); median over runs")}')
        p('set style fill solid 0.8 border -1\nset boxwidth 0.8\nset grid ytics\n'
          f'set xrange [0.3:{nw + 0.7}]\nset yrange [0:*]\nset xtics 1\nset key off\n'
          'set xlabel "child (rank)"\nset ylabel "connections"')
        for i, l in enumerate(labels):
            p(f"set title {q(titles[i])}")
            p(f"plot '{path}' index {i} using 1:2 with boxes lc rgb '{PALETTE[i % len(PALETTE)]}'")
        p.draw()


def draw_throughput(out, meta):
    rows = read_csv(out, "throughput")
    if not rows:
        return
    med = medians(rows, ["config", "mode", "clients"], ["req_per_s", "p50_us", "p99_us"])
    labels = order_of(rows)
    for mode, what in (("keepalive", "keep-alive"), ("close", "one connection per request")):
        if not any(k[1] == mode for k in med):
            continue
        blocks, flagged = [], []
        for l in labels:
            pts = sorted((int(k[2]), v["req_per_s"], (v["p50_us"] or 0) / 1000 or None,
                          (v["p99_us"] or 0) / 1000 or None, v["flagged"])
                         for k, v in med.items() if k[0] == l and k[1] == mode)
            blocks.append([p[:4] for p in pts] or [(None,) * 4])
            flagged += [p[:4] for p in pts if p[4]]
        p = Plot(out, f"throughput_{mode}", 1100, 620)
        path = p.data("lines", blocks)
        fpath = p.data("flagged", [flagged or [(None,) * 4]])
        series = [(l, path, i) for i, l in enumerate(labels)]
        p(f'set title "Throughput vs concurrency, {what}, 4000-byte file (median of runs)"')
        top = max(int(k[2]) for k in med if k[1] == mode)
        p(f"set xrange [0.8:{top * 1.25}]")
        p('set xlabel "concurrent clients (wrk connections), log scale"\nset logscale x\n'
          'set ylabel "requests per second"\nset grid\nset key outside right top\nset yrange [0:*]')
        p("plot " + line_plot(p, series, 1, 2, fpath if flagged else None))
        p.draw()

        p = Plot(out, f"latency_{mode}", 1400, 560)
        path = p.data("lines", blocks)
        fpath = p.data("flagged", [flagged or [(None,) * 4]])
        p(f'set multiplot layout 1,2 title "What a closed-loop tool shows: latency vs concurrency, '
          f'{what} (wrk, median of runs).\\nwrk times only requests it sent; a client stuck in '
          f'the listen queue sends nothing, so ringed (starved) points hide it. The open-loop '
          f'truth: latency_open_loop.png"')
        p(f"set xrange [0.8:{top * 1.25}]")
        p('set xlabel "concurrent clients, log scale"\nset logscale x\nset logscale y\n'
          'set grid\nset key top left font ",8"')
        p('set title "p50"\nset ylabel "p50 latency (ms, log scale)"')
        p("plot " + line_plot(p, series, 1, 3, fpath if flagged else None))
        p('set title "p99"\nset ylabel "p99 latency (ms, log scale)"\nset key off')
        p("plot " + line_plot(p, series, 1, 4, fpath if flagged else None))
        p.draw()


def hbars(p, rows, series, log=False, lines=(), value_fmt="%.3g"):
    """Horizontal bars, one group per row, the first row at the top, so long
    configuration names stay readable. rows: (label, v1, v2, ...); series:
    (title, colour) per value column; lines: (x, text) reference lines."""
    values = [v for r in rows for v in r[1:] if v is not None and (v > 0 or not log)]
    if not values:
        return False
    n, k = len(rows), len(series)
    height = 0.8 / k
    lo, hi = min(values), max(values)
    base = lo / 3 if log else 0
    path = p.data("bars", [[(i, r[0]) + tuple(r[1:]) for i, r in enumerate(rows)]])
    p(f"set yrange [{n - 0.5}:-0.5]\nset ytics scale 0\nset grid xtics\nset style fill solid 0.85 border -1")
    ref_max = max([x for x, _ in lines] + [hi])
    if log:
        p(f"set logscale x\nset xrange [{base}:{ref_max * 4}]")
    else:
        p(f"set xrange [{min(0, lo) * 1.18}:{ref_max * 1.18}]")
    for i, (x, text) in enumerate(lines):
        p(f"set arrow {i + 1} from first {x}, graph 0 to first {x}, graph 1 nohead dt 2 lw 2 "
          f"lc rgb '{'black' if i == 0 else '#777777'}' front")
    parts = [f"NaN with lines dt 2 lw 2 lc rgb '{'black' if i == 0 else '#777777'}' title {q(text)}"
             for i, (x, text) in enumerate(lines)]
    for j, (title, colour) in enumerate(series):
        off = -0.4 + j * height
        col = 3 + j
        parts.append(f"'{path}' using ({base}):1:({base}):{col}:($1{off:+.3f}):($1{off + height:+.3f})"
                     f"{':ytic(2)' if j == 0 else ''} with boxxyerror lc rgb '{colour}' "
                     f"title {q(title) if title else 'notitle'}".replace("title notitle", "notitle"))
        parts.append(f"'{path}' using {col}:($1{off + height / 2:+.3f}):(sprintf('{value_fmt}', ${col})) "
                     f"with labels left offset 0.5,0 font ',8' notitle")
    p("set key below\nplot " + ", \\\n     ".join(parts))
    return True


def bar_plot(out, name, bars, title, xlabel, log=False, lines=(), width=1100):
    """bars: (label, value, flagged). lines: (x, text) reference lines."""
    p = Plot(out, name, width, 220 + 34 * len(bars))
    p(f"set title {q(title)}\nset xlabel {q(xlabel)}")
    rows = [(l + (" (!)" if f else ""), v) for l, v, f in bars]
    if hbars(p, rows, [("", "#1f77b4")], log=log, lines=lines):
        p.draw()


def draw_slow(out, meta):
    rows = read_csv(out, "slow-handler")
    if not rows:
        return
    med = medians(rows, ["config"], ["req_per_s"])
    clients = int(rows[0]["clients"])
    bars = [(l, med[(l,)]["req_per_s"], med[(l,)]["flagged"]) for l in order_of(rows)]
    bar_plot(out, "slow_handler", bars,
             f"Slow handler: GET /lab/sleep/50 with {clients} keep-alive clients (median of runs)",
             "requests per second (log scale)", log=True,
             lines=[(20, "one request at a time: 1000/50 = 20 req/s"),
                    (clients * 20, f"all {clients} wait together: {clients * 20} req/s")])


def upstream_models(rows):
    """The slow-upstream experiment per configuration, in order: {label: dict}
    with its points (medians per number of clients: req/s, p50/p99 ms, CPU per
    request, the clients kept waiting at once; waiting: clients it never took,
    in some run; flagged) and its Little's-law N and ceiling (req/s), None for a
    model bound by its CPU; L, the upstream's latency (ms, the median over the
    runs)."""
    med = medians(rows, ["config", "clients"], ["req_per_s", "p50_us", "p99_us",
                                                 "cpu_per_req_us", "served_at_once",
                                                 "at_once", "ceiling", "cpu_ceiling",
                                                 "upstream_ms"])
    result = {}
    for label in order_of(rows):
        points = sorted(((int(k[1]), v) for k, v in med.items() if k[0] == label),
                        key=lambda p: p[0])
        waiting = {r["clients"] for r in rows if r["config"] == label and r.get("waiting")}
        result[label] = dict(
            points=[dict(v, clients=c, waiting=str(c) in waiting) for c, v in points],
            at_once=next((v["at_once"] for _, v in points if v["at_once"]), None),
            ceiling=next((v["ceiling"] for _, v in points if v["ceiling"]), None),
            # the CPU's ceiling, from the CPU per request at the most clients
            cpu_ceiling=next((v["cpu_ceiling"] for _, v in reversed(points)
                              if v["cpu_ceiling"]), None),
            cpu_bound=next((r["cpu_bound"] for r in reversed(rows)
                            if r["config"] == label and r.get("cpu_bound")), ""))
    latencies = [num(r.get("upstream_ms")) for r in rows if num(r.get("upstream_ms"))]
    return result, (statistics.median(latencies) if latencies else None)


def draw_slow_upstream(out, meta):
    """Throughput and wrk's p99 against the number of clients, every model as a
    proxy in front of a slow upstream. Dashed, in a pool's colour: its
    Little's-law ceiling min(clients, N) / L; grey: every client waiting at
    once (clients / L). A cross: clients the model never took."""
    rows = [r for r in read_csv(out, "slow-upstream") if r.get("req_per_s")]
    if not rows:
        return
    models, latency_ms = upstream_models(rows)
    labels = list(models)
    blocks, flagged, waiting = [], [], []
    for l in labels:
        pts = [(v["clients"], v["req_per_s"], (v["p99_us"] or 0) / 1000 or None)
               for v in models[l]["points"]]
        blocks.append(pts or [(None,) * 3])
        flagged += [p for p, v in zip(pts, models[l]["points"]) if v["flagged"]]
        waiting += [p for p, v in zip(pts, models[l]["points"]) if v["waiting"]]
    clients = sorted({int(r["clients"]) for r in rows})
    sleep = rows[0]["sleep_ms"]
    p = Plot(out, "slow_upstream", 1400, 1100)
    series, fpath = series_files(p, labels, blocks, flagged, 3)
    wpath = p.data("waiting", [waiting or [(None,) * 3]])
    p(f'set multiplot layout 2,1 title "Slow upstream: each model as a reverse proxy '
      f'(--upstream) in front of one upstream that answers GET /lab/sleep/{sleep} after '
      f'{sleep} ms (L = {latency_ms or 0:.1f} ms measured),\\nwrk keep-alive clients through '
      f'the proxy (median of runs). Ringed: a flagged run; crossed: clients the model never '
      f'took"')
    p(f"set logscale x 2\nset xrange [{clients[0] / 1.4}:{clients[-1] * 1.4}]\nset grid\n"
      "set xlabel 'concurrent clients (log scale)'\nset rmargin at screen 0.6\n"
      f"set xtics ({', '.join(str(c) for c in clients)})")
    extra = []
    if latency_ms:
        extra.append(f"x / {latency_ms / 1000:g} with lines dt 3 lw 1.5 lc rgb '#777777' "
                     "title 'every client waiting at once: clients / L'")
        for i, l in enumerate(labels):
            n = models[l]["at_once"]
            if n:
                title = f"{l}: Little's law, min(clients, {n:g}) / L"
                extra.append(f"(x < {n:g} ? x : {n:g}) / {latency_ms / 1000:g} with lines dt 2 "
                             f"lw 1.5 lc rgb '{PALETTE[i % len(PALETTE)]}' title {q(title)}")
            cpu = models[l]["cpu_ceiling"]
            if not n and cpu:
                core = {"server": "server core", "client": "client core: wrk, upstream"}
                title = f"{l}: CPU, {cpu:,.0f}/s ({core.get(models[l]['cpu_bound'], 'cores')})"
                extra.append(f"{cpu:g} with lines dt 4 lw 1.2 lc rgb '{PALETTE[i % len(PALETTE)]}' "
                             f"title {q(title)}")
    marks = f"'{wpath}' using 1:COLUMN with points pt 2 ps 2.2 lw 2 lc rgb 'black' " \
            "title 'clients never taken (see the report)'"
    p('set title "throughput"\nset ylabel "requests per second (log scale)"\nset logscale y\n'
      'set key outside right top font ",8"')
    p("plot " + ", \\\n     ".join([line_plot(p, series, 1, 2, fpath)] + extra +
                                    ([marks.replace("COLUMN", "2")] if waiting else [])))
    p('set title "p99 of what wrk timed (it times only the clients that were answered)"\n'
      'set ylabel "p99 latency (ms, log scale)"\nset key off')
    p("plot " + ", \\\n     ".join([line_plot(p, series, 1, 3, fpath)] +
                                    ([marks.replace("COLUMN", "3")] if waiting else [])))
    p.draw()


def draw_slow_clients(out, meta):
    rows = read_csv(out, "slow-clients")
    if not rows:
        return
    med = medians(rows, ["config"], ["median_ms", "max_ms", "baseline_ms", "slow_target",
                                     "timeout_ms"])
    counts = [m["slow_target"] for m in med.values() if m["slow_target"]]
    most = max(set(counts), key=counts.count) if counts else 0     # the usual count, in the title
    bars, timeouts = [], set()
    for l in order_of(rows):
        m = med[(l,)]
        label = l + (f" [{m['slow_target']:.0f} slow clients]" if m["slow_target"] != most else "")
        bars.append((label + (" (!)" if m["flagged"] else ""), m["median_ms"], m["max_ms"],
                     m["baseline_ms"]))
        if l.startswith("iterative") and m["timeout_ms"]:
            timeouts.add(m["timeout_ms"])
    lines = [(1000, "1 s: the bound for every server but iterative")]
    lines += [(t, f"iterative's --timeout-ms {t:.0f}: each slow client ahead of you costs one")
              for t in sorted(timeouts)]
    gets = rows[0]["gets"]
    baseline = meta.get("settings", {}).get("trickle_baseline_gets", "a few")
    p = Plot(out, "slow_clients", 1100, 300 + 60 * len(bars))
    every = int(rows[0]["interval_ms"]) / 1000
    p("set title " + q(f"Slow clients: a normal client's GET of the 4000-byte file while "
                       f"{most:.0f} slow clients hold connections,\neach sending one header "
                       f"byte every {every:g} s ({gets} GETs per run, median of runs)"))
    p('set xlabel "milliseconds per GET (new connection, read to the end), log scale"')
    series = [(f"median of the {gets} GETs", "#1f77b4"),
              (f"slowest of the {gets} GETs", "#d62728"),
              (f"before the slow clients (median of {baseline})", "#aaaaaa")]
    if hbars(p, bars, series, log=True, lines=lines, value_fmt="%.4g ms"):
        p.draw()


def measured(rows):
    """The rows of points that ran (a point the descriptor limit cannot hold has
    a not_run reason and no numbers: the report names it)."""
    return [r for r in rows if not r.get("not_run")]


def draw_memory(out, meta):
    every = read_csv(out, "memory")
    rows = measured(every)
    if not rows:
        return
    med = medians(rows, ["config"], ["pss_kb", "rss_kb", "answered"])
    n = rows[0]["held_target"]
    bars = []
    for l in order_of(rows):
        m = med[(l,)]
        mem = m["pss_kb"] or m["rss_kb"]
        held = int(m["answered"]) if m["answered"] is not None else 0
        bars.append((f"{l} [held {held} of {n}]", mem / 1024 if mem else None, m["flagged"]))
    # A row not run (bench.py: the descriptor limit, or left out of the default set)
    # keeps its place, with no bar: the report says why.
    bars += [(f"{l} [not run]", None, False) for l in order_of(every) if l not in order_of(rows)]
    bar_plot(out, "memory", bars,
             f"Memory holding {n} idle keep-alive connections (PSS over the server's processes, "
             f"median)\n[held: answered with a 2xx and kept; not run: see the report]",
             "MiB (PSS, log scale)", log=True, width=1200)


def draw_coro(out, meta):
    rows = read_csv(out, "coro-switch")
    if not rows:
        return
    med = medians(rows, ["name"], ["ns_per_switch"])
    bars = [(k[0], v["ns_per_switch"], v["flagged"]) for k, v in med.items()]
    bar_plot(out, "coro_switch", bars, "Coroutine switch: nanoseconds per switch (median of runs)",
             "ns per switch", width=800)


KNEE_P99_MS = 10.0      # the knee: the highest offered load whose p99 stays under this


def knee(points):
    """points: (load, p99_ms, unanswered, short). The highest offered load whose p99
    stayed under KNEE_P99_MS with nothing unanswered, the client having sent what
    was asked (short: it did not, and the point measured a lower load), or None.
    A lower load that missed
    (one scheduling hiccup on a shared machine reaches the p99 of a few hundred
    requests) does not hide it: the table beside the knee shows every point."""
    good = [load for load, p99, unanswered, short in points
            if p99 is not None and p99 < KNEE_P99_MS and not unanswered and not short]
    return max(good) if good else None


def latency_models(rows):
    """The latency experiment per configuration, in order: {label: dict} with its
    capacity run (medians over repeats: capacity req/s, demand_us D, servers, cores,
    c = the queue's servers = min(servers, cores), the server's busy and waited
    shares and the client's sent rate there, and the verdicts of its capacity
    runs: server-bound or client-bound) and points, one per offered
    load (rho = load / 100; medians of rate, p50/p99 ms, unanswered, in flight
    sampled and throughput x mean latency, with the flags of its runs); the
    measured knee (rho, rate) and the predicted one (M/M/c: the rho where its p99
    reaches KNEE_P99_MS, in units of the measured capacity)."""
    import queueing
    cap = medians([r for r in rows if r.get("load") == "capacity"], ["config"],
                  ["capacity", "demand_us", "servers", "cores", "busy", "waited", "idle",
                   "sent_rate"])
    verdicts = {}
    for r in rows:
        if r.get("load") == "capacity" and r.get("verdict"):
            verdicts.setdefault(r["config"], []).append(r["verdict"])
    pts = medians([r for r in rows if r.get("load") not in ("capacity", None, "")],
                  ["config", "load"], ["rate", "p50_us", "p99_us", "unanswered", "answered_share",
                                       "inflight", "little", "send_rate", "waited"])
    result = {}
    for label in order_of(rows):
        m = dict(cap.get((label,), {}))
        m["verdict"] = "/".join(sorted(set(verdicts.get(label, [])))) or None
        points = []
        for (l, load), v in pts.items():
            if l != label:
                continue
            v = dict(v, load=float(load), rho=float(load) / 100,
                     p50_ms=v["p50_us"] / 1000 if v["p50_us"] is not None else None,
                     p99_ms=v["p99_us"] / 1000 if v["p99_us"] is not None else None)
            points.append(v)
        m["points"] = sorted(points, key=lambda v: v["load"])
        for v in m["points"]:
            v["short"] = bool(v["send_rate"] is not None and v["rate"]
                              and queueing.client_short(v["send_rate"], v["rate"]))
        kn = knee([(v["rho"], v["p99_ms"], v["unanswered"], v["short"]) for v in m["points"]])
        m["knee"] = (kn, next(v["rate"] for v in m["points"] if v["rho"] == kn)) if kn else None
        # Under the bound at the top load too: the knee lies beyond the sweep,
        # not at its last point (the capacity run was a slow moment's).
        m["knee_beyond"] = bool(kn) and kn == max(v["rho"] for v in m["points"])
        m["predicted"] = None
        if m.get("capacity") and m.get("demand_us") and m.get("servers"):
            d = m["demand_us"] / 1e6
            m["c"] = int(min(m["servers"], m.get("cores") or m["servers"]))
            rho = queueing.knee_rho(m["c"], d, KNEE_P99_MS / 1000)
            if rho is not None:
                rate = rho * m["c"] / d
                m["predicted"] = (rate / m["capacity"], rate)
        result[label] = m
    return result


def theory_curve(m, top=1.15, step=0.01):
    """(rho of the measured capacity, M/M/c p50 ms, M/M/c p99 ms, M/D/1 p99 ms or
    None) over the loads where the queue is stable."""
    import queueing
    if not m.get("predicted") and not (m.get("capacity") and m.get("demand_us")):
        return []
    d, c = m["demand_us"] / 1e6, m["c"]
    out = []
    for i in range(1, int(top / step) + 1):
        x = i * step
        lam = x * m["capacity"]
        if lam * d / c >= 0.995:
            break
        out.append((x, queueing.mmc_sojourn(c, lam, d, 50) * 1000,
                    queueing.mmc_sojourn(c, lam, d, 99) * 1000,
                    queueing.md1_sojourn(lam, d, 99) * 1000 if c == 1 else None))
    return out


def starved(models):
    """The configurations that left requests unanswered at every load."""
    return [l for l, m in models.items()
            if m["points"] and all((v["unanswered"] or 0) > 0 for v in m["points"])]


def draw_latency(out, meta):
    rows = read_csv(out, "latency")
    models = latency_models(rows)
    if not any(m["points"] for m in models.values()):
        return
    labels = [l for l, m in models.items() if m["points"]]
    blocks, flagged = [], []
    for l in labels:
        pts = [(v["rho"], v["p50_ms"] or None, v["p99_ms"] or None, v["flagged"])
               for v in models[l]["points"]]
        blocks.append([p[:3] for p in pts])
        flagged += [p[:3] for p in pts if p[3]]
    conns = rows[0]["conns"]
    p = Plot(out, "latency_open_loop", 1600, 620)
    series, fpath = series_files(p, labels, blocks, flagged, 3)
    p(f'set multiplot layout 1,2 title "Open-loop latency against utilisation: each model offered '
      f'a share of its own capacity (measured first), {conns} keep-alive connections, each '
      f'latency from its intended send time (bench/client rate). Ringed: a flagged run"')
    top = max(v["rho"] for m in models.values() for v in m["points"])
    p(f"set xrange [0:{top + 0.05:g}]\nset logscale y\nset grid\nset key off")
    p('set xlabel "utilisation ρ = offered load / the model\'s measured capacity"')
    p(f"set arrow 1 from graph 0, first {KNEE_P99_MS} to graph 1, first {KNEE_P99_MS} nohead "
      "dt 3 lc rgb '#777777'")
    p("set arrow 2 from first 1, graph 0 to first 1, graph 1 nohead dt 2 lc rgb '#777777'")
    never = starved(models)
    if never:
        p(f"set label 1 {q('never all served, at any load: ' + ', '.join(never))} "
          "at graph 0.02, graph 0.96 left font ',8' front")
    p('set title "p50"\nset ylabel "p50 latency (ms, log scale)"')
    p("plot " + line_plot(p, series, 1, 2, fpath))
    p(f'set title "p99 (dotted: {KNEE_P99_MS:g} ms, the knee\'s bound)"\n'
      'set ylabel "p99 latency (ms, log scale)"\nset key outside right top font ",9"\n'
      'unset label 1')
    p("plot " + line_plot(p, series, 1, 3, fpath))
    p.draw()


def draw_latency_theory(out, meta):
    """One panel per configuration: its measured p50 and p99 against utilisation,
    and beside them what queueing theory predicts from its measured demand D and
    its servers c (dashed: M/M/c; dotted: M/D/1's p99, for a single server)."""
    models = {l: m for l, m in latency_models(read_csv(out, "latency")).items() if m["points"]}
    if not models:
        return
    cols = 4
    nrows = (len(models) + cols - 1) // cols
    p = Plot(out, "latency_theory", 1900, 330 * nrows + 60)
    measured_path = p.data("measured", [[(v["rho"], v["p50_ms"] or None, v["p99_ms"] or None,
                                          1 if v["flagged"] else None)
                                         for v in m["points"]] for m in models.values()])
    theory = [theory_curve(m) or [(None,) * 4] for m in models.values()]
    theory_path = p.data("theory", theory)
    p(f'set multiplot layout {nrows},{cols} title "Measured (solid) against queueing theory '
      f'(dashed: M/M/c from the measured CPU per request D and c servers; dotted: M/D/1 p99). '
      f'Blue p50, red p99; ringed: a flagged run; grey: {KNEE_P99_MS:g} ms and ρ = 1"')
    top = max(v["rho"] for m in models.values() for v in m["points"])
    p(f"set xrange [0:{top + 0.05:g}]\nset logscale y\nset yrange [0.005:2000]\nset grid\n"
      "set key off")
    p("set format y '%g'\nset xtics 0.2 font ',8'\nset ytics font ',8'")
    p(f"set arrow 1 from graph 0, first {KNEE_P99_MS} to graph 1, first {KNEE_P99_MS} nohead "
      "dt 3 lc rgb '#777777'")
    p("set arrow 2 from first 1, graph 0 to first 1, graph 1 nohead dt 2 lc rgb '#777777'")
    for i, (label, m) in enumerate(models.items()):
        c = m.get("c")
        about = (f"{m['capacity']:,.0f}/s, D {m['demand_us']:.1f} µs, c = {c}"
                 if m.get("capacity") and m.get("demand_us") else "no capacity run")
        if m.get("verdict"):
            about += f", {m['verdict']}"
        p(f"set title {q(label + chr(10) + about)} font ',9'")
        p("set xlabel 'ρ' offset 0,0.5 font ',8'\nset ylabel 'ms' offset 1.5,0 font ',8'")
        plot = [f"'{measured_path}' index {i} using 1:2 with linespoints lc rgb '#1f77b4' "
                "lw 1.8 pt 7 ps 0.6 notitle",
                f"'{measured_path}' index {i} using 1:3 with linespoints lc rgb '#d62728' "
                "lw 1.8 pt 7 ps 0.6 notitle",
                f"'{measured_path}' index {i} using 1:($4 > 0 ? $3 : NaN) with points pt 6 ps 1.6 "
                "lc rgb 'black' notitle",
                f"'{theory_path}' index {i} using 1:2 with lines dt 2 lw 1.5 lc rgb '#1f77b4' "
                "notitle",
                f"'{theory_path}' index {i} using 1:3 with lines dt 2 lw 1.5 lc rgb '#d62728' "
                "notitle"]
        if c == 1:
            plot.append(f"'{theory_path}' index {i} using 1:4 with lines dt 3 lw 1.5 "
                        "lc rgb '#8c564b' notitle")
        p("plot " + ", \\\n     ".join(plot))
    p.draw()


def draw_sessions(out, meta):
    """Partly-open load: completed share and session time p50/p99 against the
    session arrival rate, one line per model."""
    rows = read_csv(out, "sessions")
    if not rows:
        return
    med = medians(rows, ["config", "rate"], ["completed_share", "p50_us", "p99_us"])
    labels = order_of(rows)
    blocks, flagged = [], []
    for l in labels:
        pts = sorted((float(k[1]), (v["completed_share"] or 0) * 100,
                      (v["p50_us"] or 0) / 1000 or None, (v["p99_us"] or 0) / 1000 or None,
                      v["flagged"]) for k, v in med.items() if k[0] == l)
        blocks.append([p_[:4] for p_ in pts] or [(None,) * 4])
        flagged += [p_[:4] for p_ in pts if p_[4]]
    first = rows[0]
    rates = sorted({float(r["rate"]) for r in rows})
    p = Plot(out, "sessions", 1700, 560)
    series, fpath = series_files(p, labels, blocks, flagged, 4)
    p(f'set multiplot layout 1,3 title "Partly-open load (bench/client sessions): sessions '
      f'arrive at random (Poisson) at the rate on the x axis, each sends {first["k"]} requests '
      f'on one keep-alive connection with a think time of {first["think_ms"]} ms (mean) '
      f'between them. Ringed: sessions left unanswered or failed"')
    p(f"set logscale x\nset xrange [{rates[0] / 1.5}:{rates[-1] * 1.5}]\nset grid\n"
      "set xlabel 'sessions arriving per second (log scale)'\n"
      f"set xtics ({', '.join(f'{r:g}' for r in rates)})\nset key bottom left font ',8'")
    p('set title "sessions completed"\nset ylabel "completed (% of arrived)"\nset yrange [0:105]')
    p("plot " + line_plot(p, series, 1, 2, fpath))
    p('set title "session time p50 (arrival to last answer)"\nset ylabel "ms (log scale)"\n'
      'set logscale y\nset yrange [*:*]\nset key off')
    p("plot " + line_plot(p, series, 1, 3, fpath))
    p('set title "session time p99"')
    p("plot " + line_plot(p, series, 1, 4, fpath))
    p.draw()


def draw_connections(out, meta):
    rows = measured(read_csv(out, "connections"))
    if not rows:
        return
    med = medians(rows, ["config", "conns"], ["answered_share", "p99_us", "pss_per_conn_b",
                                              "tcp_mem_per_conn_b", "held"])
    labels = order_of(rows)
    sizes = sorted({int(k[1]) for k in med})
    blocks, flagged = [], []
    for l in labels:
        pts = []
        for n in sizes:
            v = med.get((l, str(n)))
            if v is None:
                continue
            pss = v["pss_per_conn_b"]
            pts.append((n, (v["answered_share"] or 0) * 100, (v["p99_us"] or 0) / 1000 or None,
                        pss / 1024 if pss and pss > 0 else None, v["held"] or None, v["flagged"]))
        blocks.append([q_[:5] for q_ in pts] or [(None,) * 5])
        flagged += [q_[:5] for q_ in pts if q_[5]]
    rate = rows[0]["rate"]
    p = Plot(out, "connections", 2000, 560)
    series, fpath = series_files(p, labels, blocks, flagged, 5)
    p(f'set multiplot layout 1,4 title "N keep-alive connections sending {float(rate):g} requests '
      f'per second in all (open loop). Ringed: a flagged run (requests unanswered, or not every '
      f'connection up before the clock: see the report)"')
    p(f"set logscale x\nset xrange [{sizes[0] / 1.6}:{sizes[-1] * 1.6}]\nset grid\n"
      "set xlabel 'connections N (log scale)'\nset key left center font ',8'")
    p('set title "answered share"\nset ylabel "requests answered (%)"\nset yrange [0:105]')
    p("plot " + line_plot(p, series, 1, 2, fpath))
    # Held: the server's side of the connections it has accepted and still keeps,
    # halfway through (bench.py held_connections); the dashed line is all N.
    p('set title "connections held by the server, halfway"\nset ylabel "held (log scale)"\n'
      'set logscale y\nset yrange [0.8:*]\nset key off\n'
      "set label 1 'dashed: all N held' at graph 0.03, graph 0.95 left font ',8'")
    p("plot " + line_plot(p, series, 1, 5, fpath)
      + ", \\\n     x with lines dt 2 lc rgb '#777777' notitle")
    p("unset label 1")
    p('set title "p99 from the intended send time"\nset ylabel "p99 (ms, log scale)"\n'
      'set logscale y\nset yrange [*:*]\nset key off')
    p("plot " + line_plot(p, series, 1, 3, fpath))
    p('set title "server memory per connection under load\\n'
      '(a model that holds few of them costs little: see how many it held)"\n'
      'set ylabel "PSS growth / N (KiB, log scale)"')
    p("plot " + line_plot(p, series, 1, 4, fpath))
    p.draw()


def spread(rows, field):
    """(median, min, max) of field over rows; Nones when no row has it."""
    vals = [v for v in (num(r.get(field)) for r in rows) if v is not None]
    return (statistics.median(vals), min(vals), max(vals)) if vals else (None, None, None)


def draw_stacks(out, meta):
    """Two panels against threaded's --stack-kb: CPU per connection (median, the
    bar from min to max of the runs; the 8 MiB point with glibc's stack cache
    raised beside it), and the memory an idle connection's thread holds: RSS
    (pages touched) and address space (reserved)."""
    rows = read_csv(out, "stacks")
    if not rows:
        return
    sweep, cached = {}, []
    for r in rows:
        if "cache" in r["config"]:
            cached.append(r)
        else:
            sweep.setdefault(int(r["stack_kb"]), []).append(r)
    cpu = [(kb,) + spread(rs, "cpu_per_conn_us") for kb, rs in sorted(sweep.items())]
    mem = [(kb, spread(rs, "rss_per_conn_kb")[0], spread(rs, "vm_per_conn_kb")[0])
           for kb, rs in sorted(sweep.items())]
    big = [(int(cached[0]["stack_kb"]),) + spread(cached, "cpu_per_conn_us")] if cached else []
    flagged = [(int(r["stack_kb"]), num(r["cpu_per_conn_us"])) for r in rows if r.get("flag")]
    p = Plot(out, "stacks", 1300, 560)
    cpu_path, big_path = p.data("cpu", [cpu]), p.data("cache", [big or [(None,) * 4]])
    mem_path, flag_path = p.data("memory", [mem]), p.data("flagged", [flagged or [(None, None)]])
    clients, n = rows[0]["clients"], next((r["held_target"] for r in rows if r["held_target"]), "?")
    p('set multiplot layout 1,2 title "threaded, a thread per connection: the cost of its '
      'stack size (--stack-kb)"')
    p("set logscale x 2\nset xrange [40:13000]\nset grid\nset key top left")
    p("set xtics (\"64\" 64, \"256\" 256, \"1 Ki\" 1024, \"8 Ki (glibc's default)\" 8192)")
    p('set xlabel "stack per thread, KiB (log scale)"')
    p(f'set title "CPU per connection, Connection: close, {clients} clients '
      '(median, bar: min-max of runs)"')
    p('set ylabel "server CPU per connection (µs)"\nset yrange [0:*]')
    plot = [f"'{cpu_path}' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' lw 2 pt 7 "
            "title \"glibc's stack cache: 40 MiB\"",
            f"'{big_path}' using 1:2:3:4 with yerrorbars lc rgb '#d62728' lw 2 pt 9 ps 1.5 "
            "title 'stack cache raised to 1 GiB (GLIBC_TUNABLES)'"]
    if flagged:
        plot.append(f"'{flag_path}' using 1:2 {FLAG_STYLE}")
    p("plot " + ", \\\n     ".join(plot))
    p(f'set title "Memory per idle connection ({n} held, keep-alive, answered once)"')
    p('set ylabel "KiB per connection (log scale)"\nset logscale y 10\nset yrange [*:*]')
    p("plot " + ", \\\n     ".join([
        f"'{mem_path}' using 1:3 with linespoints lc rgb '#ff7f0e' lw 2 pt 5 "
        "title 'address space reserved (VmSize)'",
        f"'{mem_path}' using 1:2 with linespoints lc rgb '#2ca02c' lw 2 pt 7 "
        "title 'resident (RSS): pages touched'"]))
    p.draw()


def draw_all(out):
    import json
    meta = {}
    try:
        with open(os.path.join(out, "metadata.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        pass
    for draw in (draw_fig30_1, draw_herd, draw_distribution, draw_throughput, draw_latency,
                 draw_latency_theory, draw_sessions, draw_connections, draw_slow, draw_slow_upstream,
                 draw_slow_clients, draw_memory, draw_coro,
                 draw_stacks):
        draw(out, meta)
