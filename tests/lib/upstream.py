"""A misbehaving HTTP upstream for the proxy tests (docs/design.md#proxy-mode).

Upstream() listens on 127.0.0.1 (port 0) and serves every connection from a
thread of its own, after the behaviour its request target names: the first
path segment picks a row of BEHAVIOURS, the next ones are its numbers, e.g.
`/cut/100000/30000` (say Content-Length 100000, send 30000 body bytes, close).
A proxy in front forwards the client's target unchanged, so a test chooses the
fault with the path it asks the proxy for; any other path is answered 200.

Every connection is recorded (Upstream.connections, in accept order): the
request head and body as they arrived, when it was accepted, how many response
bytes the kernel took (`sent`: for `flood`, what the proxy's socket let in),
and when the peer closed it (`eof`: the proxy let go of the upstream
connection). A test waits for those with wait_connection() and wait_eof().

Bounds: loopback only; every connection is closed by the upstream after
LIFETIME_S at the latest, and at stop(); every socket call waits at most
POLL_S before looking at the clock again. Standard library only.

    with upstream.Upstream() as up:
        ... start a server with --upstream 127.0.0.1:{up.port} ...
        record = up.wait_connection(tag)       # the connection whose target has tag
        up.wait_eof(record, 1.0)               # the proxy closed it within 1 s?

refused_port() gives a port on which connections are refused (bound, never
listening), for the 502 of an upstream that is down.
"""
import select
import socket
import threading
import time

LIFETIME_S = 30.0          # the longest an upstream connection lives
POLL_S = 0.05              # each wait looks at the clock and the stop flag this often
HEAD_LIMIT = 65536         # a request head longer than this ends the connection
BODY_LIMIT = 4 << 20       # the most request body recorded
FLOOD_SNDBUF = 65536       # flood's own send buffer: what it counts is what the peer took
BODY_BYTE = b"u"           # every generated body is this byte, repeated (see body())


def body(length):
    """The body the generated answers carry: `length` bytes of BODY_BYTE, lines of 64."""
    line = BODY_BYTE * 63 + b"\n"
    return (line * (length // 64 + 1))[:length]


class Record:
    """One upstream connection: what came in, what went out, when it ended."""

    def __init__(self, number):
        self.number = number
        self.accepted = time.monotonic()
        self.head = b""            # the request head, through its blank line
        self.target = ""           # the request target, as the request line has it
        self.request_line = ""
        self.fields = []           # [(name, value)] as received
        self.body = b""            # the request body, de-chunked
        self.body_framing = None   # "length", "chunked" or None
        self.sent = 0              # response bytes the kernel took
        self.eof = None            # monotonic time the peer closed, or None
        self.finished = threading.Event()   # the upstream is done with it

    def field(self, name):
        """Every value of the field name (case-insensitive), in order."""
        return [value for key, value in self.fields if key.lower() == name.lower()]

    def __repr__(self):
        return (f"upstream connection {self.number}: {self.request_line!r}, sent {self.sent}, "
                f"eof {'no' if self.eof is None else f'{self.eof - self.accepted:.3f} s'}")


class Closed(Exception):
    """The peer closed (or reset) the connection."""


class Conn:
    """The socket of one upstream connection, with its Record, the stop flag and
    a lifetime: every wait is bounded."""

    def __init__(self, sock, record, stop):
        self.sock, self.record, self.stop = sock, record, stop
        self.deadline = record.accepted + LIFETIME_S
        self.buffer = b""
        sock.setblocking(False)

    def _wait(self, want_write):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            readable, writable, _ = select.select([self.sock], [self.sock] if want_write else [],
                                                  [], POLL_S)
            if writable:
                return "write"
            if readable:
                return "read"
        raise Closed("stopped or past the lifetime")

    def recv(self):
        """The next bytes; raises Closed at the peer's close (recording its time)."""
        while True:
            self._wait(False)
            data = self._drain()
            if data is not None:
                return data

    def closed(self):
        if self.record.eof is None:
            self.record.eof = time.monotonic()
        raise Closed("peer closed")

    def send(self, data):
        """Send all of data, counting what the kernel takes. While blocked on a
        full socket it also reads, so a peer's close is seen at once."""
        data = memoryview(data)
        while data:
            if self._wait(True) == "read":
                self._drain()
                continue
            try:
                n = self.sock.send(data)
            except BlockingIOError:
                continue
            except OSError:                      # EPIPE, ECONNRESET: the peer is gone
                self.closed()
            self.record.sent += n
            data = data[n:]

    def _drain(self):
        """What the peer sent (None if nothing yet); raises Closed at its close."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self.closed()
        return data

    def wait_eof(self):
        """Read and drop until the peer closes (or the lifetime ends)."""
        while True:
            self.recv()

    def read_head(self):
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > HEAD_LIMIT:
                raise Closed("request head over the limit")
            self.buffer += self.recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def read_exactly(self, length):
        while len(self.buffer) < length:
            self.buffer += self.recv()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return data

    def read_line(self):
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > HEAD_LIMIT:
                raise Closed("chunk line over the limit")
            self.buffer += self.recv()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_request(self):
        """Fill the record: request line, fields, body (Content-Length or chunked)."""
        record = self.record
        record.head = self.read_head()
        lines = record.head[:-4].decode("latin-1").split("\r\n")
        record.request_line = lines[0]
        parts = lines[0].split(" ")
        record.target = parts[1] if len(parts) == 3 else ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            record.fields.append((name, value.strip(" \t")))
        codings = ",".join(record.field("Transfer-Encoding")).lower()
        if "chunked" in codings:
            record.body_framing = "chunked"
            while len(record.body) <= BODY_LIMIT:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line():      # trailer fields, then the blank line
                        pass
                    break
                record.body += self.read_exactly(size)
                self.read_line()
        elif record.field("Content-Length"):
            record.body_framing = "length"
            record.body = self.read_exactly(min(int(record.field("Content-Length")[0]),
                                                BODY_LIMIT))


# ---------------------------------------------------------------- the behaviours

def answer(conn, head_fields, payload, status="200 OK"):
    conn.send(f"HTTP/1.1 {status}\r\n{head_fields}\r\n".encode("latin-1") + payload)


def ok(conn, args):
    """200, a body of args[0] bytes (default 20), Content-Length, Connection: close."""
    length = args[0] if args else 20
    answer(conn, f"Content-Length: {length}\r\nConnection: close\r\n", body(length))


def hop(conn, args):
    """200 with every hop-by-hop field RFC 9110 §7.6.1 names, one named only by
    Connection (X-Up-Hop), an end-to-end one (X-Up-End) and a Via of its own."""
    answer(conn, "Content-Length: 20\r\nConnection: keep-alive, X-Up-Hop\r\nX-Up-Hop: 1\r\n"
                 "Keep-Alive: timeout=5, max=100\r\nProxy-Connection: keep-alive\r\n"
                 "Upgrade: h2c\r\nTrailer: X-Up-Trailer\r\nX-Up-End: 1\r\n"
                 "Via: 1.1 upstream-cache\r\n", body(20))


def silent(conn, args):
    """Never a byte of answer."""


def malformed(conn, args):
    """A head that is not HTTP: args[0] 0, a bad status code; 1, a field line
    without its colon; 2, a head that the close cuts short (no blank line)."""
    heads = [b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nno colon here\r\n\r\nok",
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"]
    variant = args[0] if args else 0
    conn.send(heads[variant])
    if variant == 2:
        conn.sock.shutdown(socket.SHUT_WR)


def head_of(size):
    """A 200 whose head, status line to the blank line that ends it, is exactly
    size bytes, with a Content-Length: 2 body "ok"."""
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nX-Fill: "
    fill = size - len(start) - len(b"\r\n\r\n")
    if fill < 0:
        raise ValueError(f"a head of {size} bytes is too short")
    return start + b"f" * fill + b"\r\n\r\n"


def head(conn, args):
    """A head of exactly args[0] bytes (see head_of), then the body "ok"."""
    conn.send(head_of(args[0]) + b"ok")


def cut(conn, args):
    """Content-Length args[0], then args[1] body bytes, then close: an upstream
    that dies mid-body."""
    answer(conn, f"Content-Length: {args[0]}\r\n", body(args[0])[:args[1]])
    conn.sock.shutdown(socket.SHUT_WR)


def lie(conn, args):
    """Content-Length args[0], then args[1] body bytes, then silence (the
    connection stays open): a lying length, which only a timeout ends."""
    answer(conn, f"Content-Length: {args[0]}\r\n", body(args[0])[:args[1]])


def chunked(conn, args):
    """A chunked body of CHUNKED_BODY, with chunk extensions (one quoted) and a
    trailer section of two fields."""
    conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              b"5;name=value\r\nhello\r\n"
              b"1;quoted=\"a;b\"\r\n \r\n"
              b"6;x\r\nworld\n\r\n"
              b"0;last\r\nX-Trailer: t\r\nX-Other-Trailer: u\r\n\r\n")


CHUNKED_BODY = b"hello world\n"


def both(conn, args):
    """Content-Length 3 and Transfer-Encoding: chunked at once (RFC 9112 §6.3:
    chunked wins; a proxy that forwards it must drop the Content-Length)."""
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n")


def unframed(conn, args):
    """No Content-Length, no Transfer-Encoding: the body (args[0] bytes) ends at
    the close."""
    answer(conn, "Connection: close\r\n", body(args[0] if args else 20))
    conn.sock.shutdown(socket.SHUT_WR)


def flood(conn, args):
    """Content-Length args[0], sent as fast as the socket takes it; record.sent
    counts what the kernel took. A send buffer of FLOOD_SNDBUF (fixed, not
    autotuned), so the count is close to what the proxy has read."""
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, FLOOD_SNDBUF)
    answer(conn, f"Content-Length: {args[0]}\r\n", b"")
    block = body(1 << 16)
    left = args[0]
    while left:
        conn.send(block[:min(left, len(block))])
        left -= min(left, len(block))


def trickle(conn, args):
    """Content-Length 10 MB, then 1 KiB every args[0] ms (default 20): an
    upstream that keeps going while its client may have left."""
    interval = (args[0] if args else 20) / 1000
    answer(conn, f"Content-Length: {10 << 20}\r\n", b"")
    chunk = body(1024)
    while True:
        conn.send(chunk)
        end = time.monotonic() + interval
        while time.monotonic() < end:       # read meanwhile: a close is seen at once
            if select.select([conn.sock], [], [], max(0.0, end - time.monotonic()))[0]:
                conn._drain()


def interim(conn, args):
    """args[0] 0: a 100 Continue nobody asked for, then a 200 of 20 bytes;
    1: 101 Switching Protocols (an upgrade the proxy never asked for)."""
    if args and args[0] == 1:
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                  b"Upgrade: websocket\r\n\r\n")
    else:
        answer(conn, "", b"", status="100 Continue")
        ok(conn, [20])


def echo(conn, args):
    """200 whose body is the request head and body as received."""
    payload = conn.record.head + conn.record.body
    answer(conn, f"Content-Length: {len(payload)}\r\nConnection: close\r\n", payload)


# The first path segment of the target picks the behaviour; the others are its
# integer arguments. After it, the upstream waits for the peer to close.
BEHAVIOURS = {
    "ok": ok, "hop": hop, "silent": silent, "malformed": malformed, "head": head,
    "cut": cut, "lie": lie, "chunked": chunked, "both": both, "unframed": unframed,
    "flood": flood, "trickle": trickle, "echo": echo, "interim": interim,
}


def parse_target(target):
    """'/cut/100/30?x' -> (cut, [100, 30]); an unknown name -> (ok, [])."""
    path = target.split("?", 1)[0]
    if "://" in path:                            # absolute-form: the path after the authority
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    words = [w for w in path.split("/") if w]
    behaviour = BEHAVIOURS.get(words[0]) if words else None
    if behaviour is None:
        return ok, []
    args = []
    for word in words[1:]:
        if not word.isdigit():
            break
        args.append(int(word))
    return behaviour, args


class Upstream:
    """The listening upstream; a context manager (stop() at the end)."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(POLL_S)
        self.port = self.listener.getsockname()[1]
        self.stop_flag = threading.Event()
        self.changed = threading.Condition()
        self.connections = []
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept(self):
        while not self.stop_flag.is_set():
            try:
                sock, _ = self.listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            with self.changed:
                record = Record(len(self.connections))
                self.connections.append(record)
                self.changed.notify_all()
            thread = threading.Thread(target=self._serve, args=(sock, record), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, sock, record):
        conn = Conn(sock, record, self.stop_flag)
        try:
            conn.read_request()
            self._notify()
            behaviour, args = parse_target(record.target)
            behaviour(conn, args)
            self._notify()
            conn.wait_eof()
        except Closed:
            pass
        except (OSError, ValueError):            # a request this upstream cannot read
            pass
        finally:
            sock.close()
            record.finished.set()
            self._notify()

    def _notify(self):
        with self.changed:
            self.changed.notify_all()

    def wait(self, predicate, seconds):
        """Wait until predicate() is true (checked at every change): its value."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while True:
                value = predicate()
                left = deadline - time.monotonic()
                if value or left <= 0:
                    return value
                self.changed.wait(min(left, POLL_S))

    def wait_connection(self, tag, seconds=5.0):
        """The first connection whose request target contains tag and whose
        request has been read, or None within seconds."""
        def found():
            return next((r for r in self.connections if r.request_line and tag in r.target),
                        None)
        return self.wait(found, seconds)

    def wait_eof(self, record, seconds):
        """True if the peer has closed record's connection within seconds."""
        return self.wait(lambda: record.eof is not None, seconds)

    def stop(self):
        self.stop_flag.set()
        self.listener.close()
        self.acceptor.join(2)
        for thread in self.threads:
            thread.join(2)


def refused_port():
    """(socket, port): a port bound on 127.0.0.1 and never listened on, so a
    connection to it is refused; keep the socket until done (it holds the port)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]
