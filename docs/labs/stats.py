#!/usr/bin/env python3
"""stats.py FILE [--expect 'EXPR' ...] — read one server's stats file
(docs/design.md#stats-file) and print what the labs record, on one line, then
the connections per worker.

    connections, requests     totals
    cpu_us                    server CPU, user + sys, self + children, in µs
    cpu_per_conn_us           cpu_us / connections
    sleeps_per_conn           Σ sleeps / connections: workers woken per connection
    spurious_per_conn         accepts that found nothing, per connection (a lower
                              bound on the herd: most losers never leave the kernel)
    workers, active           worker slots; those that served at least one connection
    max_share                 the busiest worker's share of the connections
    jain                      Jain's fairness index (Σx)²/(n·Σx²): 1 even, 1/n one takes all

--expect evaluates a Python expression over those names, a bound the lab
checks so that it cannot rot: "checked: EXPR" when it holds; stats.py exits 1,
saying so, when one does not. Used by the labs' checks, e.g.
    python3 docs/labs/stats.py "$stats" --expect 'sleeps_per_conn >= 8'
"""
import json
import sys


def numbers(stats):
    totals = stats.get("totals", {})
    cpu = stats.get("cpu", {})
    counts = [w.get("connections", 0) for w in stats.get("per_worker", [])]
    conns = totals.get("connections", 0)
    cpu_us = 1e6 * sum(cpu.get(k, 0.0) for k in ("self_user_s", "self_sys_s",
                                                 "children_user_s", "children_sys_s"))
    squares = sum(c * c for c in counts)
    return {
        "server": stats.get("server", "?"),
        "connections": conns,
        "requests": totals.get("requests", 0),
        "errors": totals.get("errors", 0),
        "cpu_us": cpu_us,
        "cpu_per_conn_us": cpu_us / conns if conns else 0.0,
        "sleeps_per_conn": totals.get("sleeps", 0) / conns if conns else 0.0,
        "spurious_per_conn": totals.get("spurious", 0) / conns if conns else 0.0,
        "workers": len(counts),
        "active": sum(1 for c in counts if c),
        "max_share": max(counts) / sum(counts) if sum(counts) else 0.0,
        "jain": sum(counts) ** 2 / (len(counts) * squares) if squares else 0.0,
        "per_worker": counts,
    }


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    with open(args[0]) as f:
        found = numbers(json.load(f))
    print("%(server)s: connections=%(connections)d requests=%(requests)d "
          "cpu_per_conn_us=%(cpu_per_conn_us).1f sleeps_per_conn=%(sleeps_per_conn).2f "
          "spurious_per_conn=%(spurious_per_conn).2f workers=%(workers)d active=%(active)d "
          "max_share=%(max_share).2f jain=%(jain).2f" % found)
    print("  connections per worker:", found["per_worker"])
    failed = 0
    expects = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--expect"]
    for expression in expects:
        if eval(expression, {}, dict(found)):
            print(f"  checked: {expression}")
        else:
            print(f"  UNEXPECTED: {expression} is false")
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
