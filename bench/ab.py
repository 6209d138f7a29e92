#!/usr/bin/env python3
"""A/B: server CPU per request of two builds, interleaved, on a noisy machine.

    python3 bench/ab.py --old OLD/bin --new build/bin [--pairs 5] [--seconds 3]
                        [--loads keepalive:50,keepalive:500,close:50]
                        [--configs multiplex,coroutine,coroutine-uring] [--refs all]

Each pair runs every load against every configuration, the old build and the
new one back to back (in ABBA order from pair to pair, so a drift of the
machine's load falls on both sides alike); with --refs the references (the
epoll and io_uring floors, nginx with open_file_cache) run once per pair
beside them. Servers and wrk are pinned and driven exactly as `make bench`
drives them (bench.py's load_run: the server's own CPU from its stats file,
nginx's from /proc), so µs per request here and in the bench's tables mean the
same. Prints one table: the median over the pairs and the spread (min-max) per
configuration and load, and writes every run to OUT/ab.csv.
"""
import argparse
import csv
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402
from configs import NGINX_CACHE, Config  # noqa: E402

CONFIGS = {
    "multiplex": Config("multiplex --backend epoll", "multiplex", ["--backend", "epoll"]),
    "multiplex-select": Config("multiplex", "multiplex", []),
    "coroutine": Config("coroutine", "coroutine", []),
    "coroutine-uring": Config("coroutine --io uring", "coroutine", ["--io", "uring"]),
}
REFS = {
    "floor": Config("floor (epoll)", "floor", ["--body", "4000"]),
    "floor-uring": Config("floor --io uring", "floor", ["--body", "4000", "--io", "uring"]),
    "nginx": Config("nginx (open_file_cache)", "nginx", NGINX_CACHE),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the old build's bin directory")
    ap.add_argument("--new", required=True, help="the new build's bin directory")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--loads", default="keepalive:50,keepalive:500,close:50")
    ap.add_argument("--configs", default="multiplex,coroutine,coroutine-uring")
    ap.add_argument("--refs", default="", help="references run once per pair beside them: "
                    "a comma-separated list of " + ", ".join(REFS) + ", or all")
    ap.add_argument("--out", default=None, help="where ab.csv goes (default: a temporary dir)")
    args = ap.parse_args()

    loads = [(mode, int(n)) for mode, n in (x.split(":") for x in args.loads.split(","))]
    configs = [CONFIGS[name] for name in args.configs.split(",") if name]
    refs = (list(REFS.values()) if args.refs == "all"
            else [REFS[name] for name in args.refs.split(",") if name])
    out = args.out or tempfile.mkdtemp(prefix="ab-")
    os.makedirs(out, exist_ok=True)
    bench = B.Bench(out, os.path.realpath(args.new), B.SETTINGS["default"])
    sides = {"old": os.path.realpath(args.old), "new": os.path.realpath(args.new)}
    results = {}  # (label, side, mode, clients) -> [us per request]
    with open(os.path.join(out, "ab.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pair", "mode", "clients", "config", "side", "requests", "server_cpu_s",
                    "cpu_per_req_us", "flag"])
        try:
            for pair in range(1, args.pairs + 1):
                order = ["old", "new"] if pair % 2 else ["new", "old"]
                for mode, clients in loads:
                    runs = [(cfg, side) for cfg in configs for side in order]
                    runs += [(cfg, "ref") for cfg in refs]
                    for cfg, side in runs:
                        bench.bin_dir = sides.get(side, sides["new"])
                        row = B.load_run(bench, cfg, 1, mode, clients, args.seconds)
                        us = row.get("cpu_per_req_us")
                        results.setdefault((cfg.label, side, mode, clients), []).append(us)
                        w.writerow([pair, mode, clients, cfg.label, side, row.get("requests"),
                                    row.get("server_cpu_s"), us, row.get("flag", "")])
                        f.flush()
                        print(f"pair {pair} {mode} {clients:>3} {cfg.label:<26} {side:<3} "
                              f"{us if us is None else round(us, 2)} µs/req "
                              f"{row.get('flag', '')}", flush=True)
        finally:
            bench.stop_all()
            bench.commands.close()
    print(f"\nµs of server CPU per request: median of {args.pairs} pairs [min-max]; "
          f"runs in {out}/ab.csv")
    header = "| configuration | side | " + " | ".join(f"{m} {c}" for m, c in loads) + " |"
    print(header)
    print("|" + "---|" * (2 + len(loads)))
    for cfg in configs + refs:
        for side in (["old", "new"] if cfg in configs else ["ref"]):
            cells = []
            for mode, clients in loads:
                values = [v for v in results.get((cfg.label, side, mode, clients), [])
                          if v is not None]
                cells.append(f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"
                             if values else "-")
            print(f"| {cfg.label} | {side} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
