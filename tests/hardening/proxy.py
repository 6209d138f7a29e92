"""The proxy mode's failures and boundaries (docs/design.md#proxy-mode), for
tests/hardening/run.py: checks `proxy-faults` and `proxy-fields`.

Each server runs as a proxy (`--upstream 127.0.0.1:PORT`) in front of the
misbehaving upstream of tests/lib/upstream.py, whose answer the request path
chooses (`/silent`, `/cut/N/M`...). One proxy per server serves a whole table,
so every row also checks what the next row finds: the proxy still serves, its
descriptors, threads and processes are back at their baseline, no zombie, and
every upstream connection it opened has been closed by it.

proxy-faults: FAULTS, one row per failure the contract names, then the bounded
buffer (a client that reads nothing while the upstream offers FLOOD_BYTES) and
the stats file's errors. proxy-fields: FIELDS, the proxy's parser and header
rules (head at the limit and one byte over, chunked with extensions and
trailers, Content-Length with Transfer-Encoding, close-delimited bodies,
absolute-form, an interim 100 and a 101 from the upstream, HEAD, hop-by-hop
fields both ways, Via, bodies relayed, requests the proxy refuses itself).
"""
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testserver as ts  # noqa: E402
import upstream  # noqa: E402

UPSTREAM_TIMEOUT_MS = 300  # --upstream-timeout-ms of every proxy here: a silent upstream's cost
GRACE_S = 1.0              # how much later than its bound a close or an answer may come
UPSTREAM_HEAD_MAX = 16128  # the longest upstream head the proxy takes (HTTP_PROXY_HEAD_MAX)
FLOOD_BYTES = 64 << 20     # what the upstream offers a client that reads nothing
FLOOD_KERNEL_MAX = 16 << 20  # the most of it that may leave the upstream: every socket buffer
#                             between it and the client (3-6 MiB seen), never the whole
FLOOD_RSS_MAX = 8 << 10    # KiB: the most the proxy's RSS may grow meanwhile
CLIENT_RCVBUF = 4096       # the reading-nothing client's receive buffer
SETTLE_S = 2.0             # how long resources may take to come back to their baseline
ROWS = []                  # --row: the rows whose name has one of these words (all if empty)


def selected(label):
    return not ROWS or any(word in label for word in ROWS)


def quick_configs():
    """{server name: its line of tests/quick.list}: one configuration per model."""
    configs = {}
    with open(os.path.join(ts.ROOT, "tests", "quick.list")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                configs[line.split()[0]] = line
    return configs


# ---------------------------------------------------------------- a client that reads any framing

class Answer:
    """One response as the client got it. closed: the proxy closed the
    connection after it (or in its middle); complete: the body's framing ended."""

    def __init__(self):
        self.status, self.version, self.fields = None, None, []
        self.body, self.framing, self.complete, self.closed = b"", None, False, False
        self.elapsed = 0.0

    def field(self, name):
        return [v for n, v in self.fields if n.lower() == name.lower()]

    def tokens(self, name):
        return {t.strip().lower() for v in self.field(name) for t in v.split(",") if t.strip()}

    def __repr__(self):
        return (f"{self.status} ({self.framing}, {len(self.body)} body bytes, "
                f"{'complete' if self.complete else 'cut'}{', closed' if self.closed else ''}, "
                f"{self.elapsed:.2f} s)")


class Client:
    """A connection to the proxy; every wait ends at its deadline."""

    def __init__(self, port, timeout=5.0, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.timeout, self.buffer, self.eof = timeout, b"", False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))

    def _fill(self, deadline):
        """More bytes; False at the close or the deadline (self.eof says which)."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _line(self, deadline):
        while b"\r\n" not in self.buffer:
            if not self._fill(deadline):
                return None
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read(self, method="GET", seconds=None):
        """One response, framed by Content-Length, chunked, or the close."""
        answer, start = Answer(), time.monotonic()
        deadline = start + (seconds or self.timeout)
        try:
            self._read(answer, method, deadline)
        finally:
            answer.elapsed = time.monotonic() - start
            answer.closed = self.eof
        return answer

    def _read(self, answer, method, deadline):
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                return
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        match = re.match(r"^(HTTP/1\.[01]) (\d{3})", lines[0])
        if not match:
            raise ValueError(f"status line {lines[0]!r}")
        answer.version, answer.status = match.group(1), int(match.group(2))
        for line in lines[1:]:
            name, _, value = line.partition(":")
            answer.fields.append((name, value.strip(" \t")))
        if method == "HEAD" or answer.status in (204, 304):
            answer.framing, answer.complete = "none", True
        elif "chunked" in answer.tokens("Transfer-Encoding"):
            answer.framing = "chunked"
            while True:
                line = self._line(deadline)
                if line is None:
                    return
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while (line := self._line(deadline)):     # trailers, then the blank line
                        pass
                    answer.complete = line is not None
                    return
                while len(self.buffer) < size + 2:
                    if not self._fill(deadline):
                        answer.body += self.buffer[:size]
                        self.buffer = b""
                        return
                answer.body += self.buffer[:size]
                self.buffer = self.buffer[size + 2:]
        elif answer.field("Content-Length"):
            answer.framing = "length"
            length = int(answer.field("Content-Length")[0])
            while len(self.buffer) < length and self._fill(deadline):
                pass
            answer.body, self.buffer = self.buffer[:length], self.buffer[length:]
            answer.complete = len(answer.body) == length
        else:
            answer.framing = "close"
            while self._fill(deadline):
                pass
            answer.body, self.buffer = self.buffer, b""
            answer.complete = self.eof

    def closed_within(self, seconds):
        """True if the proxy closes the connection within seconds (bytes are dropped)."""
        deadline = time.monotonic() + seconds
        while self._fill(deadline):
            pass
        return self.eof


def get(target, version="HTTP/1.1", fields=(), body=b""):
    """The bytes of a request to the proxy (Host: 127.0.0.1 unless fields say otherwise)."""
    lines = [f"GET {target} {version}"]
    if not any(f.lower().startswith("host:") for f in fields) and version == "HTTP/1.1":
        lines.append("Host: 127.0.0.1")
    return ("\r\n".join(lines + list(fields)) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------- a proxy and its upstream

class Proxy:
    """A server started as a proxy in front of an Upstream, with the baseline of
    its resources taken after a few requests through it."""

    def __init__(self, bin_dir, config, root, upstream_port, snapshot, extra=()):
        self.snapshot = lambda: snapshot(self.server)
        # --timeout-ms 10000: no client-side timeout ends a row before it is measured.
        self.server = ts.Server(bin_dir, config, root=root, timeout_ms=10000, extra=[
            "--upstream", f"127.0.0.1:{upstream_port}",
            "--upstream-timeout-ms", str(UPSTREAM_TIMEOUT_MS)] + list(extra))
        self.port = self.server.port
        self.baseline = None

    def take_baseline(self):
        for _ in range(3):
            self.exchange(get("/ok/5", fields=["Connection: close"]))
        time.sleep(0.3)
        self.baseline = self.snapshot()

    def exchange(self, raw, method="GET", seconds=5.0):
        with Client(self.port) as client:
            client.send(raw)
            return client.read(method, seconds)

    def settled(self):
        """'' if the proxy serves and its resources are back at the baseline
        (within SETTLE_S), else what is wrong."""
        if not self.server.alive():
            return f"the proxy died (status {self.server.process.poll()})"
        answer = self.exchange(get("/ok/5", fields=["Connection: close"]))
        if answer.status != 200 or answer.body != upstream.body(5):
            return f"the next request got {answer!r}"
        deadline = time.monotonic() + SETTLE_S
        while True:
            now = self.snapshot()
            wrong = [f"{key} {self.baseline[key]} -> {now[key]}"
                     for key in ("fds", "threads", "processes", "zombies")
                     if now[key] > self.baseline[key] or
                     (key == "processes" and now[key] != self.baseline[key])]
            if not wrong or time.monotonic() > deadline:
                return "; ".join(wrong)
            time.sleep(0.05)

    def stop(self):
        return self.server.stop()


def all_closed(up, since, seconds):
    """'' if every upstream connection from the index since on has been closed
    by the proxy within seconds, else which are still open."""
    up.wait(lambda: all(r.eof is not None for r in up.connections[since:]), seconds)
    open_ones = [r for r in up.connections[since:] if r.eof is None]
    return "; ".join(f"still open after {seconds:g} s: {r!r}" for r in open_ones)


def run_row(results, name, proxy, up, row, tag, cause, close_bound):
    """One row of a table: row(proxy, up, tag) says whether the proxy did what it
    must; then every upstream connection the row made must be closed within
    close_bound, and the proxy must serve on, back at its baseline. tag goes in
    the row's request path (the dash: row 1 is no prefix of row 11)."""
    since = len(up.connections)
    try:
        ok, detail = row(proxy, up, tag)
    except (OSError, ValueError) as error:
        ok, detail = False, f"{type(error).__name__}: {error}"
    left_open = all_closed(up, since, close_bound)
    wrong = proxy.settled()
    results.check(name, ok and not left_open and not wrong,
                  "; ".join(filter(None, [detail if not ok else "", left_open,
                                          wrong and f"after it: {wrong}"])),
                  cause if not ok else CAUSE_BEHIND)


# ---------------------------------------------------------------- proxy-faults: the table

TIMEOUT_S = UPSTREAM_TIMEOUT_MS / 1000


def expect_status(status):
    """The proxy answers status (at once, or after the upstream's timeout)."""
    def row(proxy, up, tag):
        answer = proxy.exchange(get(f"{tag}", fields=["Connection: close"]),
                                seconds=TIMEOUT_S + GRACE_S)
        bound = (TIMEOUT_S if status == 504 else 0) + GRACE_S
        return answer.status == status and answer.elapsed < bound, \
            f"expected {status} within {bound:g} s, got {answer!r}"
    return row


def expect_cut(length, sent, seconds):
    """A kept-alive request whose upstream body stops short: the head, at most
    `sent` body bytes, then the client's connection closed within seconds, and
    never a second response on it (a pipelined request stays unanswered)."""
    def row(proxy, up, tag):
        with Client(proxy.port) as client:
            client.send(get(tag) + get("/ok/5"))
            answer = client.read(seconds=seconds + GRACE_S)
            after = client.buffer
            closed = client.closed_within(seconds + GRACE_S) if not answer.closed else True
        ok = (answer.status == 200 and not answer.complete and len(answer.body) <= sent and
              closed and b"HTTP/1." not in after + client.buffer)
        return ok, (f"upstream said {length} bytes and sent {sent}: the client got {answer!r}, "
                    f"connection {'closed' if closed else 'kept open'}, then "
                    f"{ts_show(after + client.buffer)}")
    return row


def ts_show(data):
    return repr(bytes(data[:60])) + ("..." if len(data) > 60 else "")


def client_leaves(after_head):
    """The client closes while the upstream still sends (after_head: once the
    head came; else 0.1 s after its request, the upstream silent): the proxy
    must close the upstream connection within GRACE_S (plus the upstream's
    timeout when it is waiting for a silent one)."""
    def row(proxy, up, tag):
        client = Client(proxy.port)
        client.send(get(tag))
        if after_head:
            answer = client.read(seconds=0.3)
            got = repr(answer)
        else:
            time.sleep(0.1)
            got = "nothing read"
        record = up.wait_connection(tag, 2.0)
        client.close()
        left = time.monotonic()
        bound = GRACE_S + (0 if after_head else TIMEOUT_S)
        if record is None:
            return False, f"no upstream connection for {tag} ({got})"
        closed = up.wait_eof(record, bound)
        return closed, (f"client left ({got}); upstream connection "
                        f"{'closed after %.2f s' % (record.eof - left) if closed else 'still open'}"
                        f" (bound {bound:g} s)")
    return row


# What a failure of a row usually means (its "  cause:" line).
CAUSE_TIMEOUT = ("every wait for the upstream (connecting, sending, its head) needs the "
                 "--upstream-timeout-ms deadline, and its expiry is a 504")
CAUSE_BAD_HEAD = ("the upstream's head is parsed and checked before anything reaches the "
                  "client; a malformed, cut or oversized one is a 502, answered by the proxy")
CAUSE_SHORT = ("a body cut short (the upstream closed, went silent, or lied about its length) "
               "can only be told to the client by closing its connection: never keep it alive, "
               "never answer another request on it")
CAUSE_LEFT = ("when a write to the client fails, the upstream connection must be closed at "
              "once (and on every other path out of the relay)")
CAUSE_BUFFER = ("read the upstream only when the client has taken the last piece: a bounded "
                "relay buffer, never the whole answer in memory")
CAUSE_BEHIND = ("every path out of a forwarded request closes the upstream socket and gives "
                "the relay buffer back, and the proxy serves on")

# name, request path (chooses the upstream's behaviour), what must happen, cause
FAULTS = [
    ("silent upstream: 504", "/silent", expect_status(504), CAUSE_TIMEOUT),
    ("malformed status line: 502", "/malformed/0", expect_status(502), CAUSE_BAD_HEAD),
    ("field line without colon: 502", "/malformed/1", expect_status(502), CAUSE_BAD_HEAD),
    ("head cut short by a close: 502", "/malformed/2", expect_status(502), CAUSE_BAD_HEAD),
    ("head over the limit: 502", f"/head/{UPSTREAM_HEAD_MAX + 1}", expect_status(502),
     CAUSE_BAD_HEAD),
    ("huge head (1 MiB): 502", f"/head/{1 << 20}", expect_status(502), CAUSE_BAD_HEAD),
    ("close mid-body: client closed", "/cut/1000000/300000", expect_cut(1000000, 300000, 0),
     CAUSE_SHORT),
    ("lying Content-Length, then close: client closed", "/cut/100000/100",
     expect_cut(100000, 100, 0), CAUSE_SHORT),
    ("lying Content-Length, then silence: closed after the timeout", "/lie/100000/1000",
     expect_cut(100000, 1000, TIMEOUT_S), CAUSE_SHORT),
    ("client leaves mid-body: upstream closed", "/trickle/20", client_leaves(True), CAUSE_LEFT),
    ("client leaves before the head: upstream closed", "/silent", client_leaves(False),
     CAUSE_LEFT),
]


def flood_row(proxy, up, tag):
    """A client with a small receive buffer asks for FLOOD_BYTES and reads
    nothing: the upstream must be held back (what its socket let out stays
    below FLOOD_KERNEL_MAX and stops growing) and the proxy's RSS bounded;
    then the client leaves, and the upstream connection is closed."""
    client = Client(proxy.port, rcvbuf=CLIENT_RCVBUF)
    rss0 = proxy.snapshot()["rss"]
    client.send(get(f"/flood/{FLOOD_BYTES}{tag}"))
    record = up.wait_connection(tag, 2.0)
    time.sleep(1.5)
    first = record.sent if record else 0
    time.sleep(1.0)
    second = record.sent if record else 0
    grown = proxy.snapshot()["rss"] - rss0
    client.close()
    left = time.monotonic()
    closed = record is not None and up.wait_eof(record, GRACE_S)
    ok = (record is not None and second < FLOOD_KERNEL_MAX and second - first < (256 << 10) and
          grown < FLOOD_RSS_MAX and closed)
    print(f"     {first} bytes left the upstream in 1.5 s, {second} in 2.5 s; proxy RSS "
          f"+{grown} KiB", flush=True)
    return ok, (f"upstream offered {FLOOD_BYTES >> 20} MiB to a client reading nothing: it got "
                f"{first} bytes out in 1.5 s, {second} in 2.5 s (at most {FLOOD_KERNEL_MAX}, "
                f"and no growth); proxy RSS +{grown} KiB (at most {FLOOD_RSS_MAX}); upstream "
                f"connection {'closed %.2f s' % (record.eof - left) if closed else 'still open'}"
                f" after the client left")


def check_faults(results, bin_dir, root, server, snapshot):
    """proxy-faults for one server (a name of SERVERS: its tests/quick.list line)."""
    name, _, options = server.partition(" ")
    config = quick_configs().get(name, name) + (" " + options if options else "")
    if selected("upstream refuses: 502"):     # an upstream that is down: a proxy of its own
        holder, port = upstream.refused_port()
        try:
            proxy = Proxy(bin_dir, config, root, port, snapshot)
            try:
                answer = proxy.exchange(get("/ok", fields=["Connection: close"]))
                again = proxy.exchange(get("/ok", fields=["Connection: close"]))
                ok = answer.status == 502 and again.status == 502 and proxy.server.alive()
                results.check(f"proxy-faults {config}: upstream refuses: 502", ok,
                              f"got {answer!r}, then {again!r}")
            finally:
                status = proxy.stop()
        finally:
            holder.close()
        results.check(f"proxy-faults {config}: exit 0 after SIGTERM (upstream down)",
                      status == 0, f"exit {status}")
    rows = [row for row in FAULTS + [("bounded buffer: upstream held back, RSS bounded", "",
                                      flood_row, CAUSE_BUFFER)] if selected(row[0])]
    if not rows:
        return
    stats_path = os.path.join(os.path.dirname(root), f"proxy-{name}-{os.getpid()}.json")
    with upstream.Upstream() as up:
        proxy = Proxy(bin_dir, config, root, up.port, snapshot, ["--stats-file", stats_path])
        try:
            proxy.take_baseline()
            for number, (label, path, row, cause) in enumerate(rows):
                run_row(results, f"proxy-faults {config}: {label}", proxy, up, row,
                        f"{path}?row={number}-", cause, GRACE_S + TIMEOUT_S)
        finally:
            status = proxy.stop()
    try:
        with open(stats_path) as f:
            errors = json.load(f)["totals"]["errors"]
        os.remove(stats_path)
    except (OSError, ValueError, KeyError) as error:
        errors = f"no stats file: {error}"
    faults = len(rows)
    results.check(f"proxy-faults {config}: exit 0, stats errors count the faults",
                  status == 0 and isinstance(errors, int) and errors >= faults,
                  f"exit {status}; totals.errors {errors}, at least {faults} expected")


# ---------------------------------------------------------------- proxy-fields: the table

def head_at(size, status):
    """An upstream head of exactly size bytes: status 200 with its body, or 502."""
    def row(proxy, up, tag):
        answer = proxy.exchange(get(f"/head/{size}{tag}", fields=["Connection: close"]))
        ok = answer.status == status and (status != 200 or answer.body == b"ok")
        return ok, f"an upstream head of {size} bytes: expected {status}, got {answer!r}"
    return row


def then_next(client, what):
    """'' if a next request on the same connection is answered whole, else why not."""
    client.send(get("/ok/7"))
    answer = client.read()
    if answer.status == 200 and answer.body == upstream.body(7):
        return ""
    return f"{what}; the next request on the connection got {answer!r}"


def chunked_to(version):
    """The upstream's chunked body (extensions, trailers) reaches the client
    whole, framed for it: HTTP/1.1 chunked or by length, and the connection
    goes on; HTTP/1.0 never chunked, and closed after it."""
    def row(proxy, up, tag):
        fields = ["Connection: keep-alive", "Host: 127.0.0.1"] if version == "HTTP/1.0" else []
        with Client(proxy.port) as client:
            client.send(get(f"/chunked{tag}", version, fields))
            answer = client.read()
            what = f"{version} client: {answer!r}, body {ts_show(answer.body)}"
            if answer.status != 200 or answer.body != upstream.CHUNKED_BODY or not answer.complete:
                return False, what
            if answer.field("X-Trailer") or answer.field("Trailer"):
                return False, f"{what}: a trailer became a field: {answer.fields}"
            if version == "HTTP/1.0":
                return answer.framing in ("close", "length") and \
                    (answer.framing == "length" or answer.closed), what
            return not (wrong := then_next(client, what)), wrong
    return row


def length_and_chunked(proxy, up, tag):
    """Content-Length 3 with Transfer-Encoding: chunked: a 502, or the chunked
    body ("hello") with no Content-Length: 3; never the length's 3 bytes, and
    the connection stays in step."""
    with Client(proxy.port) as client:
        client.send(get(f"/both{tag}"))
        answer = client.read()
        what = (f"{answer!r}, body {ts_show(answer.body)}, "
                f"Content-Length {answer.field('Content-Length')}")
        if answer.status == 502:
            return True, ""
        if answer.status != 200 or answer.body != b"hello" or "3" in answer.field("Content-Length"):
            return False, what
        if answer.closed:
            return True, ""
        return not (wrong := then_next(client, what)), wrong


def absolute_form(proxy, up, tag):
    """An absolute-form target naming another host reaches the fixed upstream
    in origin-form: the target never chooses where the request goes."""
    raw = get(f"http://evil.invalid:81/echo{tag}&q=1", fields=["Host: evil.invalid:81",
                                                              "Connection: close"])
    answer = proxy.exchange(raw)
    record = up.wait_connection(tag, 2.0)
    line = record.request_line if record else None
    expected = f"GET /echo{tag}&q=1 HTTP/1.1"
    return answer.status == 200 and line == expected, \
        f"the upstream got {line!r}, expected {expected!r}; the client {answer!r}"


def hop_by_hop_request(proxy, up, tag):
    """The client's hop-by-hop fields, and one its Connection names, stay at
    the proxy; end-to-end ones go on; Via gets the proxy's entry after the
    client's; the upstream is told Connection: close; Host kept."""
    raw = get(f"/echo{tag}", fields=[
        "Connection: keep-alive, X-Client-Hop", "X-Client-Hop: secret", "Keep-Alive: 300",
        "Proxy-Connection: keep-alive", "TE: trailers", "Upgrade: websocket",
        "Trailer: X-T", "X-End-To-End: yes", "Via: 1.0 fred"])
    with Client(proxy.port) as client:
        client.send(raw)
        answer = client.read()
    record = up.wait_connection(tag, 2.0)
    if answer.status != 200 or record is None:
        return False, f"the client got {answer!r}"
    names = {n.lower() for n, _ in record.fields}
    leaked = sorted(names & {"x-client-hop", "keep-alive", "proxy-connection", "te", "upgrade",
                             "trailer"})
    via = ", ".join(record.field("Via"))
    ok = (not leaked and record.field("X-End-To-End") == ["yes"] and
          record.field("Host") == ["127.0.0.1"] and
          [t.strip().lower() for v in record.field("Connection") for t in v.split(",")] ==
          ["close"] and re.search(r"1\.0 fred.*1\.1 seven-servers", via) is not None)
    return ok, (f"the upstream got fields {record.fields}: hop-by-hop leaked {leaked}, "
                f"Via {via!r}, Connection {record.field('Connection')}")


def hop_by_hop_response(proxy, up, tag):
    """The upstream's hop-by-hop fields, and one its Connection names, stay at
    the proxy; Via gets the proxy's entry; the upstream's keep-alive wish
    decides nothing: the client's HTTP/1.1 connection goes on."""
    with Client(proxy.port) as client:
        client.send(get(f"/hop{tag}"))
        answer = client.read()
        if answer.status != 200 or answer.body != upstream.body(20):
            return False, f"the client got {answer!r}"
        names = {n.lower() for n, _ in answer.fields}
        leaked = sorted(names & {"x-up-hop", "keep-alive", "proxy-connection", "upgrade",
                                 "trailer"})
        via = ", ".join(answer.field("Via"))
        connection = answer.tokens("Connection")
        what = (f"the client got fields {answer.fields}: hop-by-hop leaked {leaked}, Via {via!r}, "
                f"Connection {sorted(connection)}")
        if leaked or answer.field("X-Up-End") != ["1"] or connection - {"keep-alive"} or \
                not re.search(r"1\.1 upstream-cache.*1\.1 seven-servers", via):
            return False, what
        return not (wrong := then_next(client, what)), wrong


def upstream_close_keeps_client(proxy, up, tag):
    """Three requests on one HTTP/1.1 connection, each answered by the
    upstream with Connection: close: the client's connection is kept."""
    with Client(proxy.port) as client:
        for n in range(3):
            client.send(get(f"/ok/{10 + n}{tag}"))
            answer = client.read()
            if answer.status != 200 or answer.body != upstream.body(10 + n) or \
                    "close" in answer.tokens("Connection"):
                return False, f"request {n + 1} of 3 got {answer!r}"
    return True, ""


def http10_host(proxy, up, tag):
    """HTTP/1.0 without Host: the upstream gets Host: its own address."""
    answer = proxy.exchange(get(f"/echo{tag}", "HTTP/1.0"))
    record = up.wait_connection(tag, 2.0)
    hosts = record.field("Host") if record else None
    return answer.status == 200 and hosts == [f"127.0.0.1:{up.port}"], \
        f"the upstream got Host {hosts}, expected 127.0.0.1:{up.port}; the client {answer!r}"


def unframed_to(version):
    """A body the upstream's close ends: to HTTP/1.1 chunked (kept) or closed,
    to HTTP/1.0 ended by the close; every byte."""
    def row(proxy, up, tag):
        with Client(proxy.port) as client:
            client.send(get(f"/unframed/5000{tag}", version))
            answer = client.read()
            what = f"{version} client: {answer!r}"
            if answer.status != 200 or answer.body != upstream.body(5000) or not answer.complete:
                return False, what
            if version == "HTTP/1.0" or answer.framing == "close":
                return answer.closed or answer.framing == "length", what
            return not (wrong := then_next(client, what)), wrong
    return row


def body_relayed(framing):
    """A request body (by length, or chunked with an extension and a trailer)
    reaches the upstream whole."""
    def row(proxy, up, tag):
        if framing == "length":
            raw = get(f"/echo{tag}", fields=["Content-Length: 11", "Connection: close"],
                      body=b"hello world")
        else:
            raw = get(f"/echo{tag}", fields=["Transfer-Encoding: chunked", "Connection: close"],
                      body=b"6;ext=1\r\nhello \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n")
        answer = proxy.exchange(raw)
        record = up.wait_connection(tag, 2.0)
        got = record.body if record else None
        return answer.status == 200 and got == b"hello world", \
            f"the upstream got the body {got!r}; the client {answer!r}"
    return row


def interim_dropped(proxy, up, tag):
    """An upstream's 100 Continue before its answer: the client gets the 200 alone."""
    answer = proxy.exchange(get(f"/interim/0{tag}", fields=["Connection: close"]))
    return answer.status == 200 and answer.body == upstream.body(20), \
        f"after the upstream's 100 Continue and 200, the client got {answer!r}"


def head_then_get(proxy, up, tag):
    """HEAD, answered by an upstream that wrongly sends a body too, then a GET on
    the same connection: the HEAD's answer has no body, and the GET's is whole
    (a proxy that relayed the body, or waited for it, is out of step)."""
    with Client(proxy.port) as client:
        client.send(get(f"/ok/20{tag}").replace(b"GET", b"HEAD", 1) + get("/ok/7"))
        head = client.read("HEAD")
        if head.status != 200 or head.field("Content-Length") != ["20"]:
            return False, f"HEAD got {head!r}, Content-Length {head.field('Content-Length')}"
        then = client.read()
    return then.status == 200 and then.body == upstream.body(7), \
        f"HEAD {head!r}; the GET after it got {then!r}"


def refused_here(raw, status):
    """A request the proxy answers itself (status), without an upstream connection."""
    def row(proxy, up, tag):
        before = len(up.connections)
        answer = proxy.exchange(raw)
        time.sleep(0.1)
        made = len(up.connections) - before
        return answer.status == status and made == 0, \
            f"expected {status} from the proxy alone, got {answer!r}, {made} upstream connection(s)"
    return row


CAUSE_LIMIT = ("an upstream head of up to HTTP_IN_SIZE bytes is taken (docs/design.md#proxy-mode); "
               "the head sent on to the client must have room too")
CAUSE_CHUNKED = ("a chunked body goes on to an HTTP/1.1 client with its framing (extensions, "
                 "trailers) intact, and decoded to an HTTP/1.0 one, ended by the close")
CAUSE_SMUGGLE = ("Content-Length with Transfer-Encoding: 502, or chunked wins and the length is "
                 "dropped (RFC 9112 §6.3); never the length's framing")
CAUSE_UNTIL_CLOSE = "a body the upstream's close ends can only end the same way for the client"
CAUSE_ORIGIN = ("the request line goes upstream in origin-form (path and query), never the "
                "target as it came: the client must not choose the host")
CAUSE_HOP = ("Connection, the fields it names, Keep-Alive, Proxy-Connection, TE, Trailer, "
             "Transfer-Encoding and Upgrade are one hop's: drop them both ways, append Via")
CAUSE_KEEP = ("keep-alive is the client connection's own: the upstream's Connection: close "
              "ends only the upstream connection")
CAUSE_BODY = "the request body goes upstream as it came, framing and all"
CAUSE_OWN = "a request the proxy refuses is answered by it, before any upstream connection"

# name, what must happen (each row gets a tag to put in its path), cause
FIELDS = [
    (f"upstream head of {UPSTREAM_HEAD_MAX} bytes: relayed", head_at(UPSTREAM_HEAD_MAX, 200),
     CAUSE_LIMIT),
    (f"upstream head of {UPSTREAM_HEAD_MAX + 1} bytes: 502", head_at(UPSTREAM_HEAD_MAX + 1, 502),
     CAUSE_BAD_HEAD),
    ("chunked with extensions and trailers to HTTP/1.1", chunked_to("HTTP/1.1"), CAUSE_CHUNKED),
    ("chunked with extensions and trailers to HTTP/1.0", chunked_to("HTTP/1.0"), CAUSE_CHUNKED),
    ("Content-Length and Transfer-Encoding from the upstream", length_and_chunked,
     CAUSE_SMUGGLE),
    ("close-delimited body to HTTP/1.1", unframed_to("HTTP/1.1"), CAUSE_UNTIL_CLOSE),
    ("close-delimited body to HTTP/1.0", unframed_to("HTTP/1.0"), CAUSE_UNTIL_CLOSE),
    ("absolute-form target: origin-form to the fixed upstream", absolute_form, CAUSE_ORIGIN),
    ("interim 100 from the upstream: dropped", interim_dropped,
     "a 1xx the proxy did not ask for is dropped: the answer follows it"),
    ("101 from the upstream: 502", lambda proxy, up, tag: expect_status(502)(
        proxy, up, f"/interim/1{tag}"), "an upgrade nobody asked for (Upgrade never goes "
     "upstream) is a failure of the upstream: 502"),
    ("HEAD: no body relayed, the next request in step", head_then_get,
     "no body follows the answer to a HEAD, whatever the upstream sends after it"),
    ("hop-by-hop request fields removed, Via appended", hop_by_hop_request, CAUSE_HOP),
    ("hop-by-hop response fields removed, Via appended", hop_by_hop_response, CAUSE_HOP),
    ("upstream's Connection: close keeps the client's connection", upstream_close_keeps_client,
     CAUSE_KEEP),
    ("HTTP/1.0 without Host: Host of the upstream", http10_host,
     "an HTTP/1.0 request without Host gets the upstream's HOST:PORT as --upstream gave it"),
    ("request body by Content-Length relayed", body_relayed("length"), CAUSE_BODY),
    ("chunked request body relayed", body_relayed("chunked"), CAUSE_BODY),
    ("two Host fields: 400 from the proxy", refused_here(
        get("/echo", fields=["Host: a", "Host: b", "Connection: close"]), 400), CAUSE_OWN),
    ("body over the limit: 413 from the proxy", refused_here(
        get("/echo", fields=["Content-Length: 100000000", "Connection: close"]), 413), CAUSE_OWN),
]


def check_fields(results, bin_dir, root, server, snapshot):
    """proxy-fields for one server (a name of SERVERS: its tests/quick.list line)."""
    name, _, options = server.partition(" ")
    config = quick_configs().get(name, name) + (" " + options if options else "")
    with upstream.Upstream() as up:
        proxy = Proxy(bin_dir, config, root, up.port, snapshot)
        try:
            proxy.take_baseline()
            for number, (label, row, cause) in enumerate(FIELDS):
                if not selected(label):
                    continue
                run_row(results, f"proxy-fields {config}: {label}", proxy, up, row,
                        f"?row={number}-", cause, GRACE_S)
        finally:
            status = proxy.stop()
    results.check(f"proxy-fields {config}: exit 0 after SIGTERM", status == 0, f"exit {status}")
