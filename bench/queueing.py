"""Queueing theory beside the latency experiment: what M/M/c and M/D/1 predict.

A server model is a queue: requests arrive at rate lam (Poisson: the open-loop
client's round-robin schedule is regular, so this is the pessimistic reading),
each needs D seconds of the server's CPU (measured: server CPU per request in
the capacity run), and c of them are served at once. The latency a client sees
is the sojourn time T = waiting + service. Formulas (Kleinrock, Queueing Systems
vol. 1; Harchol-Balter, Performance Modeling and Design of Computer Systems):

  M/M/c   Erlang C: the chance a request waits, C(c, a) with a = lam * D the
          offered load in Erlangs, rho = a / c < 1. Waiting: 0 with probability
          1 - C, else exponential with rate c/D - lam. Service: exponential, mean D.
          c = 1 is M/M/1: T is exponential with rate 1/D - lam, so
          p = -ln(1 - p/100) * D / (1 - rho).
  M/D/1   constant service D (every request here is the same 4000-byte file):
          mean wait rho * D / (2 (1 - rho)) (Pollaczek-Khinchine); the tail
          P(W > t) ~ K exp(-theta t), theta the positive root of
          lam (exp(theta D) - 1) = theta, K = (1 - rho) / (lam D exp(theta D) - 1)
          (Cramer-Lundberg), used for the p99 (the asymptote is close there).

Everything in seconds; None where the queue is unstable (rho >= 1).
"""
import math

# The open-loop client's checks on itself, on every `client rate` run (bench.py
# client_checks flags a run that fails one; report.py says so):
# - it must send at the rate asked: a run whose loop took requests slower than
#   CLIENT_SHORT of the offered rate measured the client, not the server;
# - Little's law, L = X W: the requests in flight the client sampled from its
#   connections against throughput x mean latency from its latency record. They
#   are counted independently, so a record that lost or double-counted requests
#   shows; apart from that they differ only by the sampling (at random times,
#   100 µs apart on average), so a
#   run that misses by more than LITTLE_TOLERANCE (relative, or LITTLE_FLOOR
#   requests when fewer than one is in flight) is flagged.
CLIENT_SHORT = 0.97
LITTLE_TOLERANCE = 0.10
LITTLE_FLOOR = 0.05

# The capacity run's verdict. A capacity is the server's own only if the server
# had work all along. Its threads' schedstat says how long they ran (busy, a
# share of the c cores it may use) and how long they were runnable while the
# core was held by other work, or by another of its threads (waited); /proc/stat
# how long its cores were idle, when nothing at all wanted them. The share of
# the time the server wanted its cores is busy + waited, but no more than
# 1 - idle: with many threads the waits overlap, and a thread that waits behind
# another of the server's is no sign of saturation. At least SATURATED of the
# time is server-bound. Below that the server sat idle waiting for requests:
# the client, not the server, set the rate.
SATURATED = 0.9


def little_missed(inflight, little):
    """Little's law's flag: the sampled requests in flight and throughput x mean
    latency differ by more than LITTLE_TOLERANCE of the latter (LITTLE_FLOOR
    requests when that is smaller)."""
    return abs(inflight - little) > max(LITTLE_TOLERANCE * little, LITTLE_FLOOR)


def client_short(send_rate, asked):
    """The client's own flag: its loop took requests slower than CLIENT_SHORT of
    the rate asked (it measured itself, not the server)."""
    return send_rate < CLIENT_SHORT * asked


def capacity_verdict(answered_rate, busy, waited, idle):
    """(capacity req/s, verdict) of a saturating run. wanted = min(busy + waited,
    1 - idle) (idle None: not read). "server-bound" when wanted >= SATURATED:
    the capacity is the rate answered. "client-bound" below: the capacity is
    answered / wanted, the rate it would have answered wanting its cores all
    the time, at the share of them it got (on a core of its own, c / D); the
    loads above what the client reaches are flagged client short. "not
    measured" without a busy share (no schedstat): the rate answered."""
    if busy is None or waited is None:
        return answered_rate, "not measured"
    wanted = busy + waited if idle is None else min(busy + waited, 1 - idle)
    if round(wanted, 9) >= SATURATED:  # 0.6 + 0.3 is 0.8999999999999999
        return answered_rate, "server-bound"
    if wanted <= 0:
        return answered_rate, "not measured"
    return answered_rate / wanted, "client-bound"


def erlang_b(c, a):
    """Blocking probability of c servers offered a Erlangs (the stable recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c, a):
    """The chance that a request waits in M/M/c, offered a Erlangs (a < c)."""
    if a >= c:
        return None
    b = erlang_b(c, a)
    rho = a / c
    return b / (1 - rho * (1 - b))


def _exp_sum_tail(theta, mu, t):
    """P(X + Y > t) for independent exponentials of rates theta and mu."""
    if abs(theta - mu) < 1e-9 * mu:
        return (1 + mu * t) * math.exp(-mu * t)
    return (mu * math.exp(-theta * t) - theta * math.exp(-mu * t)) / (mu - theta)


def _invert(tail, p, hi):
    """The t with tail(t) = 1 - p/100, by bisection (tail decreasing from 1)."""
    want = 1 - p / 100
    lo = 0.0
    while tail(hi) > want:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if tail(mid) > want:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mmc_sojourn(c, lam, demand, p):
    """The p-th percentile (0 < p < 100) of the sojourn time in M/M/c, seconds."""
    mu = 1 / demand
    a = lam * demand
    wait = erlang_c(c, a)
    if wait is None:
        return None
    theta = c * mu - lam

    def tail(t):
        return (1 - wait) * math.exp(-mu * t) + wait * _exp_sum_tail(theta, mu, t)
    return _invert(tail, p, demand)


def mmc_mean(c, lam, demand):
    """Mean sojourn time in M/M/c: D + C(c, a) / (c/D - lam)."""
    wait = erlang_c(c, lam * demand)
    return None if wait is None else demand + wait / (c / demand - lam)


def md1_mean(lam, demand):
    rho = lam * demand
    return None if rho >= 1 else demand + rho * demand / (2 * (1 - rho))


def md1_sojourn(lam, demand, p):
    """The p-th percentile of the sojourn time in M/D/1 from the exponential tail
    of the wait (close for p near 100; the median it gives is rough)."""
    rho = lam * demand
    if rho >= 1:
        return None
    if rho <= 0:
        return demand

    def f(theta):
        return lam * (math.exp(theta * demand) - 1) - theta
    lo, hi = 1e-12, 1 / demand
    while f(hi) < 0:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    theta = (lo + hi) / 2
    k = (1 - rho) / (lam * demand * math.exp(theta * demand) - 1)
    want = 1 - p / 100
    wait = 0.0 if k <= want else math.log(k / want) / theta
    return demand + wait


def knee_rho(c, demand, bound_s, p=99):
    """The utilisation rho = lam D / c at which M/M/c's p-th percentile reaches
    bound_s (None if even an idle server is slower than the bound)."""
    def at(rho):
        return mmc_sojourn(c, rho * c / demand, demand, p)
    if at(1e-9) >= bound_s:
        return None
    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(100):
        mid = (lo + hi) / 2
        if at(mid) < bound_s:
            lo = mid
        else:
            hi = mid
    return lo


def lindley_md1(lam, demand, n, seed=1):
    """Simulated M/D/1 sojourn times (Lindley's recursion), for checking the
    formulas: W' = max(0, W + D - A), A exponential with rate lam."""
    import random
    rnd = random.Random(seed)
    wait, out = 0.0, []
    for _ in range(n):
        out.append(wait + demand)
        wait = max(0.0, wait + demand - rnd.expovariate(lam))
    return out
