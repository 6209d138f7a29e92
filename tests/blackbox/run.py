#!/usr/bin/env python3
"""Black-box suite: every case against every server configuration.

usage: run.py [--bin-dir DIR] [--list FILE] [--server 'LINE'] [--case NAME]
              [--seed N] [--shared | --dirty] [--wrap 'COMMAND'] [--proxy [LINE]]
              [-j N] [-v]

A configuration is a line of tests/servers.list: a binary name and its extra
options (`prefork --workers 2 --accept-lock fcntl`). Each case starts its own
server as

    BIN --port 0 --root DOCROOT --timeout-ms 1500 --quiet CONFIG-OPTIONS CASE-OPTIONS

reads the port from the start-up line, talks raw HTTP to 127.0.0.1, then asks
the server for /a.txt once more (it must still be up), stops it with SIGTERM
and expects exit status 0 within 5 s with no process left in its group.

Each configuration runs the cases in its own random order: the first line
says the seed ("blackbox: seed N"), and --seed N replays that order. A case
that passes alone but fails after another has found state one connection
left for the next.

--shared runs every case that needs only a plain server (SHARED_CASES) on one
server per configuration, one after the other; the others as usual. --dirty
(make check) runs each of those cases right after each state-dirtying
exchange (DIRTIERS: a head whose last byte comes late, a pipelined burst left
half read, a 400, a 413, a timeout) on one server per configuration, started
with --timeout-ms 150 so that the timeout costs little. --wrap 'COMMAND'
starts every server under COMMAND (tests/valgrind/run.py: valgrind).

--proxy runs the suite through a proxy: it starts ONE upstream (the
configuration LINE, multiplex by default, with the suite's root and
--timeout-ms) and every configuration of the list as a proxy in front of it
(`--upstream 127.0.0.1:PORT`, docs/design.md#proxy-mode). The cases that
cannot hold through a proxy, because they test what the upstream now owns,
are skipped with their reason (NOT_PROXIED).

One line per failure ("FAIL [config] case: reason"), and last the line
"blackbox: N passed, N failed". Exit status 1 if anything failed.
Standard library only; the contract is (docs/design.md#command-line),
(docs/design.md#http-behaviour) and (docs/design.md#stats-file).
"""
import argparse
import atexit
import concurrent.futures
import email.utils
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_MS = 1500                  # --timeout-ms every server gets
DIRTY_TIMEOUT_MS = 150             # ... but the --dirty mode's shared one
GRACE_S = 2.0                      # how much later than the timeout a close may come
IO_TIMEOUT_S = 5.0                 # every socket operation
STOP_TIMEOUT_S = 5.0               # SIGTERM to exit
MTIME = 1704164645                 # every file's mtime: Tue, 02 Jan 2024 03:04:05 GMT
SECRET = b"SECRET-7f3a9c-outside-the-root"
HIDDEN = b"HIDDEN-5e1b2d-a-dot-file"
STARTUP_LINE = re.compile(r"^(\S+) listening on http://([^ /]+):(\d+)/ root=(.+) pid=(\d+)$")
HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                       r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                       r"\d\d:\d\d:\d\d GMT$")


class Failure(Exception):
    """A case failed; the message says why."""


class Skip(Exception):
    """A case does not apply here (e.g. permission checks when running as root)."""


def show(data, limit=120):
    """Bytes as a short printable repr for failure messages."""
    data = bytes(data)
    return repr(data[:limit]) + ("..." if len(data) > limit else "")


# ---------------------------------------------------------------- document root

class DocRoot:
    """BASE/root is served; BASE/secret is what `/../secret` would reach; a
    second temp dir holds the target of the symlink that points outside."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="blackbox-")
        self.outside = tempfile.mkdtemp(prefix="blackbox-outside-")
        self.root = os.path.join(self.base, "root")
        self.files = {}                                    # URL path -> bytes
        self.mode000 = False
        rng = random.Random(7)
        self.add("/index.html", b"<!doctype html><title>seven</title><h1>index</h1>\n")
        self.add("/a.txt", b"hello from a.txt\n")
        self.add("/style.css", b"body { color: #333; }\n")
        self.add("/img.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(200))
        self.add("/big.bin", rng.randbytes(1 << 20))
        self.add("/sub/index.html", b"<h1>sub index</h1>\n")
        self.add("/sub/b.txt", b"bee\n")
        self.add("/noindex/listing-marker.txt", b"should never be listed\n")
        self.add("/.env", HIDDEN + b"\n")
        self.add("/.git/config", HIDDEN + b"\n")
        self.add("/sub/.hidden", HIDDEN + b"\n")
        self.add("/.well-known/security.txt", b"Contact: nobody\n")
        self.add("/private.txt", b"mode 000\n")
        os.chmod(self.path("/private.txt"), 0)
        self.write(os.path.join(self.base, "secret"), SECRET + b"\n")
        self.write(os.path.join(self.outside, "secret.txt"), SECRET + b"\n")
        os.symlink("a.txt", self.path("/link.txt"))                         # inside
        os.symlink(os.path.join(self.outside, "secret.txt"), self.path("/outside.txt"))
        os.symlink(self.outside, self.path("/outdir"))
        for directory, _, names in os.walk(self.base):
            for name in names + [""]:
                os.utime(os.path.join(directory, name), (MTIME, MTIME), follow_symlinks=False)

    def path(self, url_path):
        return os.path.join(self.root, url_path.lstrip("/"))

    def write(self, file_name, data):
        os.makedirs(os.path.dirname(file_name), exist_ok=True)
        with open(file_name, "wb") as f:
            f.write(data)

    def add(self, url_path, data):
        self.write(self.path(url_path), data)
        self.files[url_path] = data

    def remove(self):
        os.chmod(self.path("/private.txt"), 0o600)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.outside, ignore_errors=True)


# ---------------------------------------------------------------- raw HTTP client

def request(target, method="GET", version="HTTP/1.1", headers=(), host=True, body=b""):
    """The bytes of one request. headers: "Name: value" strings."""
    lines = [f"{method} {target} {version}"]
    if host:
        lines.append("Host: 127.0.0.1")
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body            # headers: [(name, value)]

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def get(self, name):
        values = self.all(name)
        return values[0] if values else None

    def tokens(self, name):
        """Lower-case comma-separated tokens of every header `name`."""
        return {t.strip().lower() for v in self.all(name) for t in v.split(",") if t.strip()}

    def __repr__(self):
        return f"{self.status} {self.reason} body={show(self.body, 60)}"


class Client:
    """One connection to the server. Responses are framed by Content-Length
    (HEAD and 304 carry none), so several pipelined ones can be read in turn."""

    def __init__(self, port, timeout=IO_TIMEOUT_S, address="127.0.0.1"):
        self.sock = socket.create_connection((address, port), timeout=timeout)
        self.buffer = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_quietly(self, data):
        """Send what the server still takes; False once it has closed."""
        try:
            self.send(data)
            return True
        except OSError:
            return False

    def _receive(self, deadline, what):
        """The next bytes from the server, b"" at its close."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Failure(f"no {what} within {self.timeout:g} s (got {show(self.buffer)})")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(1 << 20)
        except (socket.timeout, TimeoutError):
            raise Failure(f"no {what} within {self.timeout:g} s (got {show(self.buffer)})")
        except ConnectionResetError:
            raise Failure(f"connection reset before a complete {what} (got {show(self.buffer)})")

    def _fill(self, deadline, what):
        chunk = self._receive(deadline, what)
        if not chunk:
            raise Failure(f"connection closed before a complete {what} (got {show(self.buffer)})")
        self.buffer += chunk

    def read_response(self, method="GET"):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > 65536:
                raise Failure(f"response head over 64 KiB: {show(self.buffer)}")
            self._fill(deadline, "response")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        match = re.match(r"^(HTTP/1\.[01]) (\d{3}) (.*)$", lines[0])
        if not match:
            raise Failure(f"malformed status line {show(lines[0].encode('latin-1'))} "
                          f"(a previous response may have carried extra bytes)")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", name):
                raise Failure(f"malformed response header line {line!r}")
            headers.append((name, value.strip(" \t")))
        response = Response(match.group(1), int(match.group(2)), match.group(3), headers, b"")
        lengths = set(response.all("Content-Length"))
        if method == "HEAD" or response.status == 304 or 100 <= response.status < 200 \
                or response.status == 204:
            return response
        if len(lengths) > 1 or not all(value.isdigit() for value in lengths):
            raise Failure(f"bad Content-Length in response: {sorted(lengths)}")
        if lengths:
            length = int(lengths.pop())
            while len(self.buffer) < length:
                self._fill(deadline, f"response body ({length} bytes)")
            response.body, self.buffer = self.buffer[:length], self.buffer[length:]
        else:                                  # no framing: the body ends at close
            while chunk := self._receive(deadline, "close ending a body without Content-Length"):
                self.buffer += chunk
            response.body, self.buffer = self.buffer, b""
        return response

    def read_responses(self, methods):
        return [self.read_response(method) for method in methods]

    def wait_closed(self, seconds):
        """Wait for the server to close: returns (closed, bytes that came first)."""
        deadline = time.monotonic() + seconds
        extra, self.buffer = self.buffer, b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, extra
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return False, extra
            except OSError:                    # a reset is a close too
                return True, extra
            if not chunk:
                return True, extra
            extra += chunk

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- server processes

WRAP = []                           # --wrap: the command every binary runs under
UPSTREAM = []                       # --proxy: the options that make every server a proxy
_live_groups = set()
_live_lock = threading.Lock()
_interrupted = False


@atexit.register
def _kill_leftovers():
    global _interrupted
    with _live_lock:
        _interrupted = True                 # and start no more
        for group in list(_live_groups):
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass


def group_members(group):
    """ "pid state wchan" of each process in a process group, from /proc: what
    a server that would not stop was doing."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:
                continue
            with open(f"/proc/{entry}/wchan") as f:
                wchan = f.read().strip() or "-"
        except (OSError, IndexError, ValueError):
            continue
        members.append(f"{entry} {fields[0]} {wchan}")
    return ", ".join(sorted(members))


def group_alive(group):
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Process:
    """A child in its own session (so its whole group can be killed), with
    stdout and stderr going to files; never outlives the suite."""

    def __init__(self, argv, workdir):
        argv = WRAP + list(argv)
        self.argv = argv
        self.out_path = os.path.join(workdir, "stdout")
        self.err_path = os.path.join(workdir, "stderr")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            with _live_lock:
                if _interrupted:
                    raise Failure("suite interrupted")
                self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=err, start_new_session=True)
                _live_groups.add(self.popen.pid)

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read()

    def stderr_tail(self, lines=3):
        text = self.stderr().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def wait(self, seconds):
        """Exit status, or None if still running after `seconds`."""
        try:
            return self.popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def reap_group(self):
        """After the leader exited: kill whatever is left of its group. True if
        something was left (a worker that outlived the server)."""
        group = self.popen.pid
        deadline = time.monotonic() + 1.0
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        left = group_alive(group)
        self.kill()
        return left

    def kill(self):
        group = self.popen.pid
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with _live_lock:
            _live_groups.discard(group)


class Server:
    """A server started with --port 0; port and pid come from the start-up line."""

    def __init__(self, argv, name, root, workdir):
        self.process = Process(argv, workdir)
        self.name, self.pid, self.port = name, None, None
        try:
            self._check_startup_line(name, root)
        except Failure:
            self.process.kill()
            raise

    def _check_startup_line(self, name, root):
        line = self._first_line()
        match = STARTUP_LINE.match(line)
        if not match:
            raise Failure(f"start-up line {line!r} is not 'NAME listening on "
                          f"http://ADDR:PORT/ root=DIR pid=PID'")
        if match.group(1) != name:
            raise Failure(f"start-up line names {match.group(1)!r}, not {name!r}")
        if match.group(2) != "127.0.0.1":
            raise Failure(f"start-up line address {match.group(2)}, not 127.0.0.1")
        if os.path.realpath(match.group(4)) != os.path.realpath(root):
            raise Failure(f"start-up line root={match.group(4)}, not {root}")
        self.port, self.pid = int(match.group(3)), int(match.group(5))
        if self.pid != self.process.popen.pid:
            raise Failure(f"start-up line pid={self.pid}, but the process is "
                          f"{self.process.popen.pid}")

    def _first_line(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = self.process.stdout()
            if b"\n" in out:
                return out.split(b"\n", 1)[0].decode(errors="replace")
            status = self.process.popen.poll()
            if status is not None:
                raise Failure(f"exited with status {status} before the start-up line; "
                              f"stderr: {self.process.stderr_tail()!r}")
            time.sleep(0.005)
        raise Failure("no start-up line on stdout within 10 s")

    def alive(self):
        return self.process.popen.poll() is None

    def stop(self):
        """SIGTERM by pid and wait; returns a list of problems (empty if clean)."""
        problems = []
        status = self.process.popen.poll()
        if status is not None:
            problems.append(f"server had already exited with status {status}")
        else:
            try:
                os.kill(self.pid or self.process.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            status = self.process.wait(STOP_TIMEOUT_S)
            if status is None:
                problems.append(f"did not exit within {STOP_TIMEOUT_S:g} s of SIGTERM "
                                f"(killed; pid state wchan: "
                                f"{group_members(self.process.popen.pid)})")
            elif status != 0:
                problems.append(f"exit status {status} after SIGTERM, not 0")
        if self.process.reap_group() and status is not None:
            problems.append("processes of its group outlived it (killed)")
        if problems and self.process.stderr_tail():
            problems.append(f"stderr: {self.process.stderr_tail()!r}")
        return problems


# ---------------------------------------------------------------- one case's context

class Context:
    """What a case works with: its configuration, the document root, its server,
    the connections it opened. Everything is cleaned up by finish()."""

    def __init__(self, bin_dir, config, docroot, shared=None):
        self.words = shlex.split(config)
        self.name = self.words[0]
        self.binary = os.path.join(bin_dir, self.name)
        self.docroot = docroot
        self.server = shared                # a server other cases use too: never stopped here
        self.shared = shared is not None
        self.timeout_ms = shared.timeout_ms if shared else TIMEOUT_MS   # the server's
        self.stopped = False
        self.clients = []
        self.extra_processes = []           # started by a case itself (start_process)
        self.workdir = tempfile.mkdtemp(prefix="case-", dir=docroot.base)

    def argv(self, extra=(), port="0"):
        return ([self.binary, "--port", port, "--root", self.docroot.root,
                 "--timeout-ms", str(TIMEOUT_MS), "--quiet"] + UPSTREAM + self.words[1:] +
                list(extra))

    def start(self, extra=()):
        self.server = Server(self.argv(extra), self.name, self.docroot.root, self.workdir)
        if "--timeout-ms" in extra:
            self.timeout_ms = int(extra[list(extra).index("--timeout-ms") + 1])
        self.server.timeout_ms = self.timeout_ms
        return self.server

    def connect(self, timeout=IO_TIMEOUT_S):
        client = Client(self.server.port, timeout)
        self.clients.append(client)
        return client

    def exchange(self, raw, method="GET", timeout=IO_TIMEOUT_S):
        """Send raw bytes on a new connection, read one response: (response, client)."""
        client = self.connect(timeout)
        client.send(raw)
        return client.read_response(method), client

    def get(self, target, method="GET", **request_args):
        """One request with Connection: close on a new connection, closed by
        us as soon as the response is in (as curl and wrk do)."""
        headers = list(request_args.pop("headers", ())) + ["Connection: close"]
        raw = request(target, method, headers=headers, **request_args)
        response, client = self.exchange(raw, method)
        client.close()
        return response

    def stop_server(self):
        self.stopped = True
        return self.server.stop()

    def run(self, args, seconds=5.0):
        """Run the binary to completion (bounded): (status, stdout, stderr)."""
        process = Process([self.binary] + list(args), self.workdir)
        status = process.wait(seconds)
        process.kill()
        if status is None:
            raise Failure(f"{' '.join(args)}: still running after {seconds:g} s (killed); "
                          f"stdout {show(process.stdout())}")
        return status, process.stdout(), process.stderr()

    def finish(self, passed):
        """Close connections, check the server still serves, stop it. Returns
        the problems found (a failure even if the case itself passed)."""
        problems = []
        for client in self.clients:
            client.close()
        for process in self.extra_processes:
            process.kill()
        if self.server and not self.stopped:
            if passed:
                try:
                    follow_up(self)
                except (Failure, OSError) as error:
                    problems.append(f"follow-up GET /a.txt: {error}")
            if not self.shared:
                problems += self.stop_server()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return problems


def follow_up(t):
    """The server must still answer after whatever the case did."""
    if not t.server.alive():
        raise Failure(f"server died (status {t.server.process.popen.poll()})")
    response = t.get("/a.txt")
    expect_status(response, 200, "follow-up GET /a.txt")
    if response.body != t.docroot.files["/a.txt"]:
        raise Failure(f"follow-up body {show(response.body)}")


# ---------------------------------------------------------------- checks

def expect_status(response, allowed, what):
    allowed = (allowed,) if isinstance(allowed, int) else tuple(allowed)
    if response.status not in allowed:
        expected = " or ".join(str(s) for s in allowed)
        raise Failure(f"{what}: expected {expected}, got {response!r}")


def expect(condition, message):
    if not condition:
        raise Failure(message)


def expect_closed(client, what, seconds=GRACE_S):
    closed, extra = client.wait_closed(seconds)
    expect(closed, f"{what}: connection still open {seconds:g} s after the response")
    expect(not extra, f"{what}: bytes after the response: {show(extra)}")


def expect_open(client, what, seconds=0.2):
    closed, extra = client.wait_closed(seconds)
    expect(not closed, f"{what}: server closed the connection")
    expect(not extra, f"{what}: bytes after the response: {show(extra)}")


def media_type(response):
    return (response.get("Content-Type") or "").split(";")[0].strip().lower()


def expect_file(t, response, url_path, content_type, what):
    """A 200 for a static file with its full set of headers."""
    data = t.docroot.files[url_path]
    expect_status(response, 200, what)
    expect(response.body == data, f"{what}: body {show(response.body)} is not the file")
    expect(response.all("Content-Length") == [str(len(data))],
           f"{what}: Content-Length {response.all('Content-Length')}, file is {len(data)} bytes")
    expect(media_type(response) == content_type,
           f"{what}: Content-Type {response.get('Content-Type')!r}, expected {content_type}")
    expect_date_headers(response, what)


def expect_date_headers(response, what):
    date = response.get("Date") or ""
    expect(HTTP_DATE.match(date), f"{what}: Date {date!r} is not an IMF-fixdate")
    skew = abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time())
    expect(skew < 300, f"{what}: Date {date!r} is {skew:.0f} s off")
    expected = email.utils.formatdate(MTIME, usegmt=True)
    expect(response.get("Last-Modified") == expected,
           f"{what}: Last-Modified {response.get('Last-Modified')!r}, expected {expected!r}")
    expect(response.get("Server"), f"{what}: no Server header")


# ---------------------------------------------------------------- cases: files

def get_file(url_path, content_type):
    def case(t):
        expect_file(t, t.get(url_path), url_path, content_type, f"GET {url_path}")
    return case


def case_head(t):
    # HEAD then GET on one connection: a HEAD that sent a body would desync the GET.
    client = t.connect()
    client.send(request("/a.txt", "HEAD") + request("/a.txt"))
    head, body = client.read_responses(["HEAD", "GET"])
    expect_file(t, body, "/a.txt", "text/plain", "GET after HEAD")
    expect_status(head, 200, "HEAD /a.txt")
    for name in ("Content-Length", "Content-Type", "Last-Modified"):
        expect(head.get(name) == body.get(name),
               f"HEAD {name} {head.get(name)!r} differs from GET's {body.get(name)!r}")
    expect_date_headers(head, "HEAD /a.txt")


def case_not_modified(t):
    last_modified = email.utils.formatdate(MTIME, usegmt=True)
    client = t.connect()
    client.send(request("/a.txt", headers=[f"If-Modified-Since: {last_modified}"])
                + request("/style.css"))
    first, second = client.read_responses(["GET", "GET"])
    expect_status(first, 304, f"If-Modified-Since: {last_modified}")
    expect_file(t, second, "/style.css", "text/css", "GET after the 304 (304 had a body?)")


def case_not_found(t):
    expect_status(t.get("/no-such-file.txt"), 404, "GET /no-such-file.txt")


def case_directory_index(t):
    expect_file(t, t.get("/sub/"), "/sub/index.html", "text/html", "GET /sub/")


def case_directory_without_index(t):
    response = t.get("/noindex/")
    expect_status(response, (403, 404), "GET /noindex/")
    expect(b"listing-marker" not in response.body, f"GET /noindex/ lists: {response!r}")


def case_directory_without_slash(t):
    response = t.get("/sub")
    expect_status(response, (301, 200), "GET /sub")
    if response.status == 301:
        location = response.get("Location") or ""
        expect(location.endswith("/sub/"), f"GET /sub: 301 Location {location!r}")
    else:
        expect(response.body == t.docroot.files["/sub/index.html"],
               f"GET /sub: 200 but not sub/index.html: {response!r}")


def case_unreadable_file(t):
    if os.geteuid() == 0:
        raise Skip("running as root: mode 000 is readable")
    expect_status(t.get("/private.txt"), (403, 404), "GET /private.txt (mode 000)")


def case_big_file(t):
    response = t.get("/big.bin")
    expect_status(response, 200, "GET /big.bin")
    want = hashlib.sha256(t.docroot.files["/big.bin"]).hexdigest()
    got = hashlib.sha256(response.body).hexdigest()
    expect(got == want, f"GET /big.bin: {len(response.body)} bytes, sha256 {got[:16]}..., "
                        f"expected {1 << 20} bytes, {want[:16]}...")


def case_symlink_inside(t):
    response = t.get("/link.txt")
    expect_status(response, 200, "GET /link.txt (symlink to a.txt)")
    expect(response.body == t.docroot.files["/a.txt"], f"GET /link.txt: {response!r}")


# ---------------------------------------------------------------- cases: methods, errors

def method_not_allowed(method, body=b""):
    def case(t):
        headers = [f"Content-Length: {len(body)}"] if body else []
        client = t.connect()
        client.send(request("/a.txt", method, headers=headers, body=body) + request("/a.txt"))
        response = client.read_response()
        expect_status(response, 405, f"{method} /a.txt")
        allow = response.tokens("Allow")
        expect({"get", "head"} <= allow, f"{method}: Allow {response.all('Allow')}")
        # The server may close after the 405; if it keeps the connection, the
        # body must have been skipped and the next request answered.
        closed, extra = client.wait_closed(0.3)
        if extra or not closed:
            client.buffer = extra
            expect_file(t, client.read_response(), "/a.txt", "text/plain",
                        f"GET pipelined after {method}")
    return case


def error_case(raw, statuses, must_close=False):
    """Send raw (a malformed or refused request); expect one of statuses, and
    with must_close the connection closed after it."""
    def case(t):
        response, client = t.exchange(raw)
        expect_status(response, statuses, f"request {show(raw)}")
        if must_close:
            expect_closed(client, f"after {response.status}")
    return case


def case_content_length_body_on_get(t):
    client = t.connect()
    client.send(request("/a.txt", headers=["Content-Length: 11"], body=b"hello world")
                + request("/style.css"))
    first, second = client.read_responses(["GET", "GET"])
    expect_file(t, first, "/a.txt", "text/plain", "GET with an 11-byte body")
    expect_file(t, second, "/style.css", "text/css", "GET pipelined after the body")


def case_chunked_body_on_get(t):
    client = t.connect()
    client.send(request("/a.txt", headers=["Transfer-Encoding: chunked"],
                        body=b"5\r\nhello\r\n0\r\n\r\n") + request("/style.css"))
    first, second = client.read_responses(["GET", "GET"])
    expect_file(t, first, "/a.txt", "text/plain", "GET with a chunked body")
    expect_file(t, second, "/style.css", "text/css", "GET pipelined after the chunked body")


def case_payload_too_large(t):
    # The client keeps sending a little body after the head, as a real one
    # would; the server must still get its 413 to us (a lingering close).
    client = t.connect()
    client.send(request("/a.txt", headers=["Content-Length: 100000000"]) + b"x" * 16384)
    for _ in range(4):
        time.sleep(0.05)
        if not client.send_quietly(b"y" * 4096):
            break
    response = client.read_response()
    expect_status(response, 413, "GET with Content-Length: 100000000")
    expect_closed(client, "after 413")


def case_uri_too_long(t):
    raw = request("/" + "a" * 9000)
    response, client = t.exchange(raw)
    expect_status(response, 414, "request line of 9000+ bytes")
    expect_closed(client, "after 414")


def case_header_too_large(t):
    fill = [f"X-Fill-{i:02}: " + "f" * 1000 for i in range(20)]
    response, client = t.exchange(request("/a.txt", headers=fill))
    expect_status(response, 431, "20 KiB of header fields")
    expect_closed(client, "after 431")


def case_http10_without_host(t):
    response, client = t.exchange(request("/a.txt", version="HTTP/1.0", host=False))
    expect_file(t, response, "/a.txt", "text/plain", "HTTP/1.0 GET without Host")


# ---------------------------------------------------------------- cases: connections

def case_keep_alive(t):
    client = t.connect()
    for path, content_type in (("/a.txt", "text/plain"), ("/style.css", "text/css")):
        client.send(request(path))
        expect_file(t, client.read_response(), path, content_type, f"keep-alive GET {path}")
    expect_open(client, "HTTP/1.1 keep-alive", min(0.2, t.timeout_ms / 1000 / 2))


def late_last_byte(t, client, raw, seconds):
    """Send raw with its last byte `seconds` later, so the server reads the head
    in two parts and the parser resumes (DOC: resume in common/http_parse.c)."""
    client.send(raw[:-1])
    time.sleep(seconds)
    client.send(raw[-1:])


def case_split_head_then_bad_head(t):
    # A head read in two parts leaves the parser's resume offset (how much of
    # it was answered "need more") at len(head) - 1. Nothing of it may reach
    # the next head, on the same connection or a new one: a bad head of that
    # very length must get its 400 at once, not wait (408) as if it were the
    # earlier one's bytes again.
    head = request("/a.txt")
    pad = len(head) - 1 - len(b"GET /a.txt HTTP/1.1\r\nX\x00Y: \r\n\r\n")
    bad = b"GET /a.txt HTTP/1.1\r\nX\x00Y: " + b"v" * pad + b"\r\n\r\n"
    client = t.connect(timeout=t.timeout_ms / 1000 / 2)
    late_last_byte(t, client, head, seconds=t.timeout_ms / 1000 / 5)
    expect_file(t, client.read_response(), "/a.txt", "text/plain", "a head split before its last byte")
    client.send(bad)
    expect_status(client.read_response(), 400, "then a NUL in a field name (same connection)")
    client.close()                   # iterative serves the next connection only then
    other = t.connect(timeout=t.timeout_ms / 1000 / 2)
    other.send(bad)
    expect_status(other.read_response(), 400, "then a NUL in a field name (a new connection)")


def case_http10_closes(t):
    response, client = t.exchange(request("/a.txt", version="HTTP/1.0"))
    expect_file(t, response, "/a.txt", "text/plain", "HTTP/1.0 GET")
    expect_closed(client, "HTTP/1.0 without keep-alive")


def case_http10_keep_alive(t):
    client = t.connect()
    raw = request("/a.txt", version="HTTP/1.0", headers=["Connection: keep-alive"])
    client.send(raw)
    response = client.read_response()
    expect_file(t, response, "/a.txt", "text/plain", "HTTP/1.0 keep-alive GET")
    if response.version == "HTTP/1.0":            # a 1.0 client needs to be told
        expect("keep-alive" in response.tokens("Connection"),
               f"HTTP/1.0 keep-alive: response has Connection {response.all('Connection')}")
    expect("close" not in response.tokens("Connection"), "HTTP/1.0 keep-alive: Connection: close")
    client.send(raw)
    expect_file(t, client.read_response(), "/a.txt", "text/plain", "second HTTP/1.0 request")


def case_connection_close(t):
    response, client = t.exchange(request("/a.txt", headers=["Connection: close"]))
    expect_file(t, response, "/a.txt", "text/plain", "GET with Connection: close")
    expect("close" in response.tokens("Connection"),
           f"Connection: close not echoed: {response.all('Connection')}")
    expect_closed(client, "Connection: close")


def case_pipeline_three(t):
    paths = [("/a.txt", "text/plain"), ("/style.css", "text/css"),
             ("/index.html", "text/html")]
    client = t.connect()
    client.send(b"".join(request(path) for path, _ in paths))
    for (path, content_type), response in zip(paths, client.read_responses(["GET"] * 3)):
        expect_file(t, response, path, content_type, f"pipelined GET {path}")


def case_absolute_form(t):
    response = t.get("http://127.0.0.1/a.txt")
    expect_file(t, response, "/a.txt", "text/plain", "GET http://127.0.0.1/a.txt")


def case_idle_timeout(t):
    client = t.connect()
    start = time.monotonic()
    closed, extra = client.wait_closed(TIMEOUT_MS / 1000 + GRACE_S)
    expect(closed, f"idle connection still open after {time.monotonic() - start:.1f} s")
    expect(not extra or extra.startswith(b"HTTP/1.1 408"),
           f"idle connection got {show(extra)}")


def case_stalled_header(t):
    stalled = t.connect()
    stalled.send(b"GET /a.txt HTTP/1.1\r\nHost: 127")
    time.sleep(0.05)          # the stalled client is first in line
    other = t.connect(timeout=TIMEOUT_MS / 1000 + GRACE_S + 1)
    other.send(request("/a.txt", headers=["Connection: close"]))
    start = time.monotonic()
    closed, extra = stalled.wait_closed(TIMEOUT_MS / 1000 + GRACE_S)
    expect(closed, f"stalled header: connection still open after "
                   f"{time.monotonic() - start:.1f} s")
    expect(not extra or re.match(rb"^HTTP/1\.[01] 408 ", extra),
           f"stalled header: got {show(extra)} instead of a 408 or a close")
    expect_file(t, other.read_response(), "/a.txt", "text/plain",
                "another client while one stalled")


# ---------------------------------------------------------------- cases: the root's edge

def traversal(target):
    def case(t):
        response = t.get(target)
        expect(SECRET not in response.body, f"GET {target} served the secret: {response!r}")
        expect_status(response, (400, 403, 404), f"GET {target}")
    return case


def inside(target):
    def case(t):
        expect_file(t, t.get(target), "/a.txt", "text/plain", f"GET {target}")
    return case


# ---------------------------------------------------------------- cases: lab endpoints

def lab(target, status, length=None, min_seconds=0.0):
    def case(t):
        start = time.monotonic()
        response = t.get(target)
        elapsed = time.monotonic() - start
        expect_status(response, status, f"GET {target}")
        if length is not None:
            expect(len(response.body) == length and
                   response.all("Content-Length") == [str(length)],
                   f"GET {target}: {len(response.body)} bytes, Content-Length "
                   f"{response.all('Content-Length')}, expected {length}")
        expect(elapsed >= min_seconds, f"GET {target}: answered after {elapsed:.3f} s")
    return case


# ---------------------------------------------------------------- cases: command line

def bad_option(args, statuses):
    def case(t):
        status, out, err = t.run(t.argv()[1:] + args)
        lines = err.decode(errors="replace").rstrip("\n").split("\n")
        expect(status in statuses,
               f"{' '.join(args)}: exit status {status}, expected {statuses}")
        expect(len(lines) == 1 and lines[0].strip(),
               f"{' '.join(args)}: stderr should be one line, got {show(err, 200)}")
        expect(b"listening" not in out, f"{' '.join(args)}: printed {show(out)}")
    return case


def case_help(t):
    status, out, err = t.run(["--help"])
    expect(status == 0, f"--help: exit status {status}")
    expect(b"--port" in out + err, f"--help does not mention --port: {show(out)}")


def case_version(t):
    status, out, err = t.run(["--version"])
    expect(status == 0, f"--version: exit status {status}")
    expect((out + err).strip(), "--version printed nothing")


def case_port_in_use(t):
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = str(holder.getsockname()[1])
        status, out, err = t.run(t.argv(port=port)[1:])
    finally:
        holder.close()
    expect(status == 1, f"port {port} in use: exit status {status}, expected 1")
    expect(err.strip(), "port in use: nothing on stderr")
    expect(b"listening" not in out, f"port in use: printed {show(out)}")


def case_sigterm_after_request(t):
    # A stop request can arrive at any moment: here, while the server goes back
    # from a finished connection to accept(). A stop flag checked just before a
    # blocking accept() loses it (the server sleeps on); 20 tries catch that race.
    for attempt in range(1, 21):
        t.start()
        t.get("/a.txt")
        problems = t.stop_server()
        expect(not problems, f"SIGTERM right after a request (try {attempt}): "
                             + "; ".join(problems))


def case_stats_file(t):
    stats_path = os.path.join(t.workdir, "stats.json")
    t.start(["--stats-file", stats_path])
    for _ in range(5):
        response, client = t.exchange(request("/a.txt", headers=["Connection: close"]))
        expect_status(response, 200, "GET /a.txt")
        expect_closed(client, "Connection: close")
        client.close()
    problems = t.stop_server()
    expect(not problems, "; ".join(problems))
    try:
        with open(stats_path) as f:
            stats = json.load(f)
    except (OSError, ValueError) as error:
        raise Failure(f"--stats-file: {error}")
    missing = {"server", "version", "workers", "options", "cpu", "totals",
               "per_worker"} - set(stats)
    expect(not missing, f"stats file lacks {sorted(missing)}")
    expect(stats["server"] == t.name, f"stats server {stats['server']!r}")
    totals = stats["totals"]
    expect(totals.get("connections") == 5, f"totals.connections {totals.get('connections')}, "
                                           f"the test made 5")
    expect(totals.get("requests") == 5, f"totals.requests {totals.get('requests')}, expected 5")
    per_worker = sum(w.get("connections", 0) for w in stats["per_worker"])
    expect(per_worker == totals["connections"],
           f"per_worker connections sum to {per_worker}, totals say {totals['connections']}")


# ---------------------------------------------------------------- cases: hostile clients

def hidden(target):
    """A dot-file answers 404 however the path spells it (docs/design.md#dot-files)."""
    def case(t):
        response = t.get(target)
        expect(HIDDEN not in response.body, f"GET {target} served a dot-file: {response!r}")
        expect_status(response, 404, f"GET {target}")
    return case


def case_dotfiles_option(t):
    expect_file(t, t.get("/.env"), "/.env", "application/octet-stream", "--dotfiles GET /.env")


def case_keepalive_requests(t):
    """--keepalive-requests 3: the third answer says Connection: close, and
    the fourth pipelined request is never answered."""
    client = t.connect()
    client.send(request("/a.txt") * 4)
    for n in (1, 2, 3):
        response = client.read_response()
        expect_status(response, 200, f"request {n} of 4 pipelined")
        closes = (response.get("Connection") or "").lower() == "close"
        expect(closes == (n == 3), f"answer {n}: Connection {response.get('Connection')!r}")
    expect_closed(client, "after --keepalive-requests 3")


def case_lab_cpu_budget(t):
    """Three pipelined /lab/cpu/700000 on one connection: 1.4 s fit the
    connection's 2 s of /lab/cpu, the third does not: 503, the reason, closed."""
    client = t.connect(timeout=10)
    client.send(request("/lab/cpu/700000") * 3)
    for n in (1, 2):
        expect_status(client.read_response(), 200, f"/lab/cpu/700000 number {n}")
    response = client.read_response()
    expect_status(response, 503, "the third /lab/cpu/700000 (past 2 s)")
    expect(b"/lab/cpu" in response.body, f"503 without the reason: {show(response.body)}")
    expect_closed(client, "503 after the /lab/cpu budget")


def start_process(t, extra):
    """Start the binary with extra options; the first stdout line and the process."""
    process = Process(t.argv(extra), t.workdir)
    t.extra_processes.append(process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = process.stdout()
        if b"\n" in out:
            return out.split(b"\n", 1)[0].decode(errors="replace"), process
        if process.popen.poll() is not None:
            raise Failure(f"{' '.join(extra)}: exited {process.popen.poll()}: "
                          f"{process.stderr_tail()!r}")
        time.sleep(0.005)
    raise Failure(f"{' '.join(extra)}: no start-up line in 10 s")


def case_ipv6_brackets(t):
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", 0))
    except OSError:
        raise Skip("no ::1 on this host")
    finally:
        probe.close()
    line, _ = start_process(t, ["--bind", "::1"])
    expect(re.search(r" listening on http://\[::1\]:\d+/ ", line),
           f"--bind ::1: start-up line {line!r}, expected http://[::1]:PORT/")


def case_exposed_bind(t):
    """--bind 0.0.0.0: one warning line naming what is reachable; a loopback peer
    still gets the files and /lab/. Tests send traffic to 127.0.0.1 only, so a
    peer that is not loopback (403 from /lab/ unless --lab-public) is the unit
    test's job (tests/unit/test_http_response.c, test_lab_peers)."""
    for extra in (["--bind", "0.0.0.0"], ["--bind", "0.0.0.0", "--lab-public"]):
        line, process = start_process(t, extra)
        match = re.search(r":(\d+)/ ", line)
        expect(match, f"start-up line {line!r}")
        time.sleep(0.1)
        err = process.stderr().decode(errors="replace").strip().splitlines()
        expect(len(err) == 1 and "warning" in err[0] and "0.0.0.0" in err[0],
               f"{' '.join(extra)}: stderr should be one warning line, got {err!r}")
        for target in ("/a.txt", "/lab/bytes/10"):
            client = Client(int(match.group(1)))
            t.clients.append(client)
            client.send(request(target, headers=["Connection: close"]))
            expect_status(client.read_response(), 200, f"{' '.join(extra)}: GET {target} "
                                                       "from 127.0.0.1")
        os.kill(process.popen.pid, signal.SIGTERM)
        expect(process.wait(STOP_TIMEOUT_S) == 0, "exit status after SIGTERM")


def case_stats_file_unwritable(t):
    for path, reason in (("/nonexistent-dir/stats.json", b"No such file or directory"),
                         (t.workdir, b"Is a directory")):
        status, out, err = t.run(t.argv()[1:] + ["--stats-file", path])
        expect(status == 1, f"--stats-file {path}: exit status {status}, expected 1 at start")
        expect(reason in err and len(err.strip().splitlines()) == 1,
               f"--stats-file {path}: stderr {show(err, 200)}, expected one line with "
               f"{reason.decode()!r}")
        expect(b"listening" not in out, f"--stats-file {path}: printed {show(out)}")


def read_stats(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise Failure(f"stats file {path}: {error}")


def case_signals(t):
    """SIGUSR1 writes the stats file and the server goes on; SIGUSR2 is
    ignored; SIGHUP stops it like SIGTERM (stats written, status 0), and so
    does SIGINT, on a second start."""
    stats_path = os.path.join(t.workdir, "stats.json")
    t.start(["--stats-file", stats_path])
    expect_status(t.get("/a.txt"), 200, "GET /a.txt")
    os.kill(t.server.pid, signal.SIGUSR1)
    requests = 2
    if not wait_for_file(stats_path, 3) and sleeps_in_accept(t):
        # The window server.h describes at server_service: a SIGUSR1 that
        # lands between it and a blocking accept() waits for the next
        # connection. Give it that connection.
        expect_status(t.get("/a.txt"), 200, "GET /a.txt to end the SIGUSR1 window")
        requests += 1
        wait_for_file(stats_path, 3)
    expect(os.path.exists(stats_path), "no stats file 3 s after SIGUSR1")
    expect(read_stats(stats_path)["totals"]["requests"] >= 1, "SIGUSR1 stats: no request")
    os.kill(t.server.pid, signal.SIGUSR2)
    time.sleep(0.2)
    expect_status(t.get("/a.txt"), 200, "GET /a.txt after SIGUSR1 and SIGUSR2")
    stop_by(t, signal.SIGHUP, stats_path, requests=requests)

    t.start(["--stats-file", stats_path])
    t.stopped = False
    expect_status(t.get("/a.txt"), 200, "GET /a.txt before SIGINT")
    stop_by(t, signal.SIGINT, stats_path, requests=1)


def wait_for_file(path, seconds):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.path.exists(path)


def sleeps_in_accept(t):
    """The configurations whose main loop sleeps in a blocking accept(): a
    SIGUSR1 can land between server_service() and it (server.h). The pool
    parent, sigsuspend and the event loops let the signal in only inside
    their wait, and have no such window."""
    return (t.name in ("iterative", "fork_per_conn") or
            (t.name == "threaded" and ("--pool" not in t.words or "queue" in t.words)))


def stop_by(t, sig, stats_path, requests):
    """Stop t's server with sig: exit status 0, and the stats file written anew
    at the exit with the requests served."""
    name = signal.Signals(sig).name
    os.remove(stats_path)
    t.stopped = True
    os.kill(t.server.pid, sig)
    status = t.server.process.wait(STOP_TIMEOUT_S)
    t.server.process.reap_group()
    expect(status == 0, f"exit status {status} after {name}, expected 0")
    expect(read_stats(stats_path)["totals"]["requests"] == requests, f"stats after {name}")


def case_max_conns(t):
    """--max-conns 2: event loops answer a third connection 503; threaded's
    thread per connection leaves it waiting until one ends; the others are
    bound by their workers, say so in --help, and their stats file says "no"
    (prefork_select too, though it listens as the event loops do)."""
    threaded = t.name == "threaded" and "--pool" not in t.words
    stats_path = os.path.join(t.workdir, "stats.json")
    t.start(["--max-conns", "2", "--stats-file", stats_path])
    if t.name not in ("multiplex", "coroutine") and not threaded:
        expect_status(t.get("/a.txt"), 200, "GET /a.txt")
        t.stop_server()
        options = read_stats(stats_path)["options"]
        expect(options.get("max_conns") == 2 and options.get("max_conns_enforced") == "no",
               f"stats options {options}")
        return
    workers = int(t.words[t.words.index("--workers") + 1]) if "--workers" in t.words else 1
    held = []
    if threaded:
        for n in range(2):
            client = t.connect()
            client.send(request("/a.txt"))
            expect_status(client.read_response(), 200, f"connection {n + 1} within --max-conns")
            held.append(client)
        extra = t.connect()
        extra.send(request("/a.txt", headers=["Connection: close"]))
        closed, data = extra.wait_closed(0.5)
        expect(not closed and not data, "threaded answered beyond --max-conns")
        held[0].close()
        expect_status(extra.read_response(), 200, "the waiting connection once one ended")
    else:
        # Per loop, and a full loop leaves the next connection to a loop with
        # room (docs/design.md, --max-conns): on a shared socket the first 503
        # comes at the (2N + 1)-th. With --reuseport the kernel picks the loop,
        # so at the 3rd at the soonest.
        statuses = []
        while 503 not in statuses and len(statuses) <= 2 * workers:
            client = t.connect()
            client.send(request("/a.txt"))
            statuses.append(client.read_response().status)
            held.append(client)
        expect(statuses[:2] == [200, 200] and statuses[-1] == 503 and
               set(statuses[:-1]) == {200} and
               (len(statuses) == 2 * workers + 1 or "--reuseport" in t.words),
               f"--max-conns 2 with {workers} loop(s): statuses {statuses}")
    for client in held:
        client.close()
    t.stop_server()
    options = read_stats(stats_path)["options"]
    expect(options.get("max_conns") == 2 and options.get("max_conns_enforced") not in
           (None, "no"), f"stats options {options}")


# ---------------------------------------------------------------- cases: HTTP edges

def case_redirect_stays_on_host(t):
    """A directory without its slash: 301 to its normalised path plus '/', which
    a browser resolves on this host; `//sub/` would be the host `sub`."""
    base = f"http://127.0.0.1:{t.server.port}/x"
    for target in ("/sub", "//sub", "///sub?x=1", "/.//sub", "/sub/."):
        response = t.get(target)
        expect_status(response, 301, f"GET {target}")
        location = response.get("Location") or ""
        resolved = urllib.parse.urlsplit(urllib.parse.urljoin(base, location))
        expect(location == "/sub/" and resolved.netloc == f"127.0.0.1:{t.server.port}",
               f"GET {target}: Location {location!r} resolves to {resolved.geturl()!r}")


def case_conditional_requests(t):
    """RFC 9110 §13: If-None-Match decides alone (no entity-tag of ours matches,
    "*" matches any file); two If-Modified-Since fields are ignored; an RFC 850
    date's year 70 is 2070, after every file here."""
    last_modified = email.utils.formatdate(MTIME, usegmt=True)
    rows = [
        ([f"If-Modified-Since: {last_modified}", 'If-None-Match: "x"'], 200),
        (['If-None-Match: *'], 304),
        ([f"If-Modified-Since: {last_modified}", f"If-Modified-Since: {last_modified}"], 200),
        (["If-Modified-Since: Wednesday, 01-Jan-70 00:00:00 GMT"], 304),
        (["If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT"], 200),
    ]
    client = t.connect()
    for headers, status in rows:
        client.send(request("/a.txt", headers=headers))
        response = client.read_response()
        expect_status(response, status, f"GET /a.txt with {headers}")
        if status == 200:
            expect_file(t, response, "/a.txt", "text/plain", f"GET /a.txt with {headers}")


def case_chunked_missing_final_crlf(t):
    """A chunked body whose final CRLF never comes, and a request right after:
    400 and the end of the connection, never the next request read as trailers."""
    client = t.connect()
    client.send(request("/a.txt", headers=["Transfer-Encoding: chunked"],
                        body=b"5\r\nhello\r\n0\r\n") + request("/style.css"))
    response = client.read_response()
    expect_status(response, 400, "a chunked body without its final CRLF, then a GET")
    expect_closed(client, "after the 400")


def case_limits_exact(t):
    """The documented limits, at the limit and one byte over: a header section
    (its field lines with their CRLFs) of 16 384 bytes, a path of 4096."""
    def fields_of(size):
        base = len(H) + len("X-Fill: \r\n")
        return ["X-Fill: " + "f" * (size - base)]
    for size, status in ((16384, 200), (16385, 431)):
        response, client = t.exchange(request("/a.txt", headers=fields_of(size)))
        expect_status(response, status, f"a header section of {size} bytes")
        client.close()
    for size, status in ((4096, 404), (4097, 414)):
        response = t.get("/" + "p" * (size - 1))
        expect_status(response, status, f"a path of {size} bytes")


EXPECT_BOUND_S = 0.5    # an Expect: 100-continue answer, against TIMEOUT_MS of waiting


def case_expect_continue(t):
    """Expect: 100-continue with the body withheld, as curl sends it: the server
    answers at once, 100 Continue (then reads the body) or the final status,
    never after waiting out --timeout-ms for a body the client will not send
    unasked (RFC 9110 §10.1.1). Any other expectation: 417."""
    bodies = {"Content-Length: 5": b"hello", "Transfer-Encoding: chunked": b"5\r\nhello\r\n0\r\n\r\n"}
    for method, final in (("GET", 200), ("POST", 405)):
        for framing, body in bodies.items():
            what = f"{method} /a.txt, Expect: 100-continue, {framing}, body withheld"
            client = t.connect()
            client.send(request("/a.txt", method, headers=["Expect: 100-continue", framing]))
            start = time.monotonic()
            response = client.read_response(method)
            elapsed = time.monotonic() - start
            expect(elapsed < EXPECT_BOUND_S, f"{what}: answered after {elapsed:.2f} s")
            asked = response.status == 100     # a proxy asks, then reads the body itself
            if asked:
                client.send(body)
                response = client.read_response(method)
            expect_status(response, final, what)
            if "close" in response.tokens("Connection"):
                expect_closed(client, f"{what}: after Connection: close")
            else:                       # kept: the body is still to come unless asked for
                client.send((b"" if asked else body) + request("/style.css"))
                expect_file(t, client.read_response(), "/style.css", "text/css",
                            f"{what}: the next request")
            client.close()              # as curl does: iterative serves the next one then
    client = t.connect()
    client.send(request("/a.txt", headers=["Expect: 100-continue"]) + request("/style.css"))
    first, second = client.read_responses(["GET", "GET"])
    expect_file(t, first, "/a.txt", "text/plain", "GET, Expect: 100-continue, no body")
    expect_file(t, second, "/style.css", "text/css", "the next request on the connection")
    response, client = t.exchange(request("/a.txt", headers=["Expect: 200-ok"]))
    expect_status(response, 417, "Expect: 200-ok")
    expect_closed(client, "after 417")


def case_stats_file_tmp_symlink(t):
    """The stats file's temporary is made new, never opened through what is
    there: a PATH.tmp symlink planted beforehand (a root server would write
    through it) leaves its target untouched, and the stats file is written."""
    stats_path = os.path.join(t.workdir, "stats.json")
    victim = os.path.join(t.workdir, "victim")
    with open(victim, "wb") as f:
        f.write(b"VICTIM\n")
    os.symlink(victim, stats_path + ".tmp")
    t.start(["--stats-file", stats_path])
    expect_status(t.get("/a.txt"), 200, "GET /a.txt")
    problems = t.stop_server()
    expect(not problems, "; ".join(problems))
    with open(victim, "rb") as f:
        data = f.read()
    expect(data == b"VICTIM\n", f"the target of PATH.tmp was written: {show(data)}")
    expect(not os.path.islink(stats_path), "the stats file is a symlink")
    expect(read_stats(stats_path)["totals"]["requests"] == 1, "stats file: requests")
    left = sorted(n for n in os.listdir(t.workdir) if n.startswith("stats.json.")
                  and n != "stats.json.tmp")
    expect(not left, f"temporary files left behind: {left}")


def case_lab_forwarded_warning(t):
    """/lab/ trusts the TCP peer's address, so behind a proxy on this host every
    visitor is loopback: the first /lab/ request let in as loopback that carries
    a forwarding field puts one warning line on stderr; a file does not, nor do
    later ones (docs/design.md#lab-endpoints)."""
    client = t.connect()
    client.send(request("/a.txt", headers=["X-Forwarded-For: 192.0.2.1"]))
    expect_status(client.read_response(), 200, "GET /a.txt with X-Forwarded-For")
    for header in ("X-Forwarded-For: 192.0.2.1", "Forwarded: for=192.0.2.1",
                   "X-Real-IP: 192.0.2.1"):
        client.send(request("/lab/bytes/1", headers=[header]))
        expect_status(client.read_response(), 200, f"GET /lab/bytes/1 with {header}")
    client.close()
    problems = t.stop_server()
    expect(not problems, "; ".join(problems))
    err = t.server.process.stderr().decode(errors="replace").splitlines()
    warnings = [line for line in err if "forwarding" in line]
    expect(len(warnings) == 1 and "warning" in warnings[0] and "loopback" in warnings[0],
           f"stderr should have one forwarding warning, has {err!r}")


# ---------------------------------------------------------------- the table

H = "Host: 127.0.0.1\r\n"
SERVER = {}                         # default: the case gets a running server
NO_SERVER = {"server": False}       # command-line cases start the binary themselves

CASES = [
    # name, function, how to run it
    ("get_html", get_file("/index.html", "text/html"), SERVER),
    ("get_txt", get_file("/a.txt", "text/plain"), SERVER),
    ("get_css", get_file("/style.css", "text/css"), SERVER),
    ("get_png", get_file("/img.png", "image/png"), SERVER),
    ("head", case_head, SERVER),
    ("if_modified_since_304", case_not_modified, SERVER),
    ("not_found", case_not_found, SERVER),
    ("directory_index", case_directory_index, SERVER),
    ("directory_without_index", case_directory_without_index, SERVER),
    ("directory_without_slash", case_directory_without_slash, SERVER),
    ("unreadable_file", case_unreadable_file, SERVER),
    ("big_file_sha256", case_big_file, SERVER),
    ("symlink_inside_root", case_symlink_inside, SERVER),
    ("post_405", method_not_allowed("POST", b"hello"), SERVER),
    ("put_405", method_not_allowed("PUT", b"hi"), SERVER),
    ("delete_405", method_not_allowed("DELETE"), SERVER),
    ("unknown_method_501", error_case(request("/a.txt", "FOO"), 501), SERVER),
    ("missing_host_400", error_case(request("/a.txt", host=False), 400), SERVER),
    ("two_hosts_400", error_case(request("/a.txt", headers=["Host: example.com"]), 400), SERVER),
    ("space_before_colon_400",
     error_case(request("/a.txt", headers=["X-Test : 1"]), 400), SERVER),
    ("obs_fold_400",
     error_case(request("/a.txt", headers=["X-Test: a", " folded"]), 400), SERVER),
    ("content_length_abc_400",
     error_case(request("/a.txt", headers=["Content-Length: abc"]), 400, True), SERVER),
    ("content_length_negative_400",
     error_case(request("/a.txt", headers=["Content-Length: -1"]), 400, True), SERVER),
    ("content_length_conflict_400",
     error_case(request("/a.txt", headers=["Content-Length: 1", "Content-Length: 2"],
                        body=b"ab"), 400, True), SERVER),
    ("content_length_and_chunked_400",
     error_case(request("/a.txt", headers=["Content-Length: 5", "Transfer-Encoding: chunked"],
                        body=b"0\r\n\r\n"), 400, True), SERVER),
    ("bare_cr_400", error_case(b"GET /a.txt HTTP/1.1\r\n" + H.encode() +
                               b"X-Test: a\rb\r\n\r\n", 400), SERVER),
    ("request_line_two_spaces_400",
     error_case(b"GET  /a.txt HTTP/1.1\r\n" + H.encode() + b"\r\n", 400), SERVER),
    ("request_line_no_version_400",
     error_case(b"GET /a.txt\r\n" + H.encode() + b"\r\n", 400), SERVER),
    ("lowercase_version_400", error_case(request("/a.txt", version="http/1.1"), 400), SERVER),
    ("http2_version_505", error_case(request("/a.txt", version="HTTP/2.0"), 505), SERVER),
    ("transfer_encoding_gzip_400",
     error_case(request("/a.txt", headers=["Transfer-Encoding: gzip"], body=b"abc"), 400, True),
     SERVER),
    ("transfer_encoding_unknown_501",
     error_case(request("/a.txt", headers=["Transfer-Encoding: foo, chunked"],
                        body=b"0\r\n\r\n"), 501), SERVER),
    ("http10_without_host_200", case_http10_without_host, SERVER),
    ("chunked_body_then_pipelined_get", case_chunked_body_on_get, SERVER),
    ("content_length_body_then_pipelined_get", case_content_length_body_on_get, SERVER),
    ("payload_too_large_413_lingering", case_payload_too_large, SERVER),
    ("uri_too_long_414", case_uri_too_long, SERVER),
    ("header_too_large_431", case_header_too_large, SERVER),
    ("keep_alive_two_requests", case_keep_alive, SERVER),
    ("split_head_then_bad_head_400", case_split_head_then_bad_head, SERVER),
    ("http10_closes_by_default", case_http10_closes, SERVER),
    ("http10_keep_alive", case_http10_keep_alive, SERVER),
    ("connection_close", case_connection_close, SERVER),
    ("pipeline_three_in_order", case_pipeline_three, SERVER),
    ("absolute_form_target", case_absolute_form, SERVER),
    ("traversal_dotdot", traversal("/../secret"), SERVER),
    ("traversal_encoded_dots", traversal("/%2e%2e/secret"), SERVER),
    ("traversal_encoded_slash", traversal("/%2E%2E%2Fsecret"), SERVER),
    ("traversal_dotdot_encoded_slash", traversal("/..%2fsecret"), SERVER),
    ("traversal_backslash", traversal("/..%5csecret"), SERVER),
    ("traversal_double_encoded", traversal("/%252e%252e/secret"), SERVER),
    ("traversal_nul", traversal("/a.txt%00.html"), SERVER),
    ("traversal_through_subdir", traversal("/sub/../../secret"), SERVER),
    ("traversal_symlink_file", traversal("/outside.txt"), SERVER),
    ("traversal_symlink_dir", traversal("/outdir/secret.txt"), SERVER),
    ("dot_segment_inside", inside("/./a.txt"), SERVER),
    ("dotdot_inside", inside("/sub/../a.txt"), SERVER),
    ("lab_bytes_1000", lab("/lab/bytes/1000", 200, 1000), SERVER),
    ("lab_bytes_0", lab("/lab/bytes/0", 200, 0), SERVER),
    ("lab_bytes_too_many_400", lab("/lab/bytes/99999999999", 400), SERVER),
    ("lab_bytes_over_64mib_400", lab(f"/lab/bytes/{64 * 1024 * 1024 + 1}", 400), SERVER),
    ("lab_sleep_100", lab("/lab/sleep/100", 200, min_seconds=0.09), SERVER),
    ("lab_sleep_too_long_400", lab("/lab/sleep/20000", 400), SERVER),
    ("lab_sleep_over_limit_400", lab("/lab/sleep/10001", 400), SERVER),
    ("lab_cpu_1000", lab("/lab/cpu/1000", 200), SERVER),
    ("lab_cpu_over_limit_400", lab("/lab/cpu/1000001", 400), SERVER),
    ("lab_crash_off_404", lab("/lab/crash", 404), SERVER),
    ("no_lab_404", lab("/lab/bytes/10", 404), {"options": ["--no-lab"]}),
    ("idle_timeout", case_idle_timeout, SERVER),
    ("stalled_header", case_stalled_header, SERVER),
    ("option_port_abc", bad_option(["--port", "abc"], (2,)), NO_SERVER),
    ("option_port_70000", bad_option(["--port", "70000"], (2,)), NO_SERVER),
    ("option_bogus", bad_option(["--bogus"], (2,)), NO_SERVER),
    ("option_missing_root", bad_option(["--root", "/nonexistent"], (1, 2)), NO_SERVER),
    ("option_negative_timeout", bad_option(["--timeout-ms", "-5"], (2,)), NO_SERVER),
    ("option_linger_unknown", bad_option(["--linger", "sometimes"], (2,)), NO_SERVER),
    ("option_help", case_help, NO_SERVER),
    ("option_version", case_version, NO_SERVER),
    ("port_in_use", case_port_in_use, NO_SERVER),
    ("sigterm_right_after_request", case_sigterm_after_request, NO_SERVER),
    ("sigterm_stats_file", case_stats_file, NO_SERVER),
    ("hidden_dotfile_404", hidden("/.env"), SERVER),
    ("hidden_encoded_dot_404", hidden("/%2eenv"), SERVER),
    ("hidden_git_config_404", hidden("/.git/config"), SERVER),
    ("hidden_in_subdir_404", hidden("/sub/.hidden"), SERVER),
    ("hidden_after_dotdot_404", hidden("/sub/../.env"), SERVER),
    ("well_known_200", get_file("/.well-known/security.txt", "text/plain"), SERVER),
    ("dotfiles_option_200", case_dotfiles_option, {"options": ["--dotfiles"]}),
    ("keepalive_requests_3", case_keepalive_requests, {"options": ["--keepalive-requests", "3"]}),
    ("lab_cpu_budget_503", case_lab_cpu_budget, SERVER),
    ("ipv6_start_line_brackets", case_ipv6_brackets, NO_SERVER),
    ("exposed_bind_warning_and_lab", case_exposed_bind, NO_SERVER),
    ("stats_file_unwritable_at_start", case_stats_file_unwritable, NO_SERVER),
    ("sigusr1_sigusr2_sighup_sigint", case_signals, NO_SERVER),
    ("max_conns_kept", case_max_conns, NO_SERVER),
    # HTTP edges (docs/design.md#http-behaviour): redirects, Expect, conditionals,
    # chunked framing, exact limits, the stats file's temporary, /lab/ behind a proxy
    ("redirect_stays_on_host", case_redirect_stays_on_host, SERVER),
    ("conditional_requests", case_conditional_requests, SERVER),
    ("chunked_missing_final_crlf_400", case_chunked_missing_final_crlf, SERVER),
    ("limits_exact", case_limits_exact, SERVER),
    ("expect_100_continue", case_expect_continue, SERVER),
    ("stats_file_tmp_symlink", case_stats_file_tmp_symlink, NO_SERVER),
    ("lab_forwarded_warning", case_lab_forwarded_warning, SERVER),
]


# ---------------------------------------------------------------- signals that land mid-connection

# Cases that hold a wrong version of the io layer or of a stop to its symptom
# (tests/mutants/): each failure prints, under it, what it usually means.


def _send_buffer_max():
    """The most a socket's send buffer grows to (net.ipv4.tcp_wmem), 4 MiB if unknown."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


# /lab/bytes: more than the server's send buffer can take in, so its write blocks.
SIGNAL_BYTES = min(max(8 << 20, 2 * _send_buffer_max()), 64 << 20)
PATTERN_LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
STOP_IDLE_S = 2.0                   # SIGTERM to exit, with idle keep-alive connections: 1.04 s
#   seen under TSan on a loaded machine; a connection left asleep takes 4-6 s
LINGER_BYTES = 1 << 20              # an answer still being sent when the next is refused
LINGER_BODY = 256 << 10             # the refused request's body: more than a server reads ahead
TIMER_MS = 600                      # --timeout-ms of the neighbour's-timer case


def lab_pattern(length):
    """The body of GET /lab/bytes/LENGTH: 64-byte lines, repeated."""
    return (PATTERN_LINE * (length // len(PATTERN_LINE) + 1))[:length]


def case_sigusr1_during_download(t):
    """A client that reads nothing for a while, so the server sleeps in a
    write() to a full socket; five SIGUSR1 (write the stats file, go on) land
    there. A write interrupted before it wrote anything fails with EINTR: the
    io layer must retry it, or the response is cut short."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(IO_TIMEOUT_S)
        sock.connect(("127.0.0.1", t.server.port))
        sock.sendall(request(f"/lab/bytes/{SIGNAL_BYTES}", headers=["Connection: close"]))
        time.sleep(0.2)                 # the server fills the buffers and blocks
        for _ in range(5):
            os.kill(t.server.pid, signal.SIGUSR1)
            time.sleep(0.05)
        chunks = []
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except (socket.timeout, TimeoutError, ConnectionResetError) as error:
                raise Failure(f"GET /lab/bytes/{SIGNAL_BYTES} with SIGUSR1s: {error!r} after "
                              f"{sum(map(len, chunks))} bytes")
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    expect(head.startswith(b"HTTP/1.1 200 ") and body == lab_pattern(SIGNAL_BYTES),
           f"GET /lab/bytes/{SIGNAL_BYTES} while SIGUSR1 arrived: head {show(head, 40)}, "
           f"{len(body)} body bytes{'' if len(body) != SIGNAL_BYTES else ' (not the pattern)'}"
           "\n  cause: a blocking write() interrupted by a signal before it wrote anything "
           "fails with EINTR; that is no error: write again")


def case_sigterm_idle_keepalive(t):
    """Two keep-alive connections answered and idle, then SIGTERM: each idle
    connection must end at once (docs/design.md#signals-and-stopping), so the
    server exits well before --timeout-ms (10 s here). One connection where a
    second may wait for the first: iterative serves one at a time, and
    prefork_select --reuseport may hash both to one worker."""
    one_at_a_time = t.name == "iterative" or (t.name == "prefork_select" and
                                             "--reuseport" in t.words)
    idle = 1 if one_at_a_time else 2
    for n in range(idle):
        client = t.connect()
        client.send(request("/a.txt"))
        expect_status(client.read_response(), 200, f"keep-alive connection {n + 1}")
    # Idle, that is asleep in the wait for the next request: a stop that lands
    # just before iterative's read() is the race iterative/main.c accepts.
    time.sleep(0.2)
    started = time.monotonic()
    problems = t.stop_server()
    took = time.monotonic() - started
    expect(not problems and took < STOP_IDLE_S,
           f"SIGTERM with {idle} idle keep-alive connection(s): exit after {took:.2f} s "
           f"(at most {STOP_IDLE_S:g} s){'; ' if problems else ''}{'; '.join(problems)}"
           "\n  cause: at a stop every connection waiting for its next request must be "
           "woken and closed at once, every one of them: one left asleep holds the exit "
           "until its timeout or the drain")


def case_sigterm_during_answer(t):
    """SIGTERM 0.2 s into a 0.6 s keep-alive answer (/lab/sleep): the answer
    arrives whole, then the server ends the connection and exits. It must not
    wait --timeout-ms (10 s here) for a next request a stopping server will
    not serve: the stop's one signal was spent while the answer was under way
    (a blocking write retries after EINTR), so no signal will end that wait."""
    client = t.connect()
    client.send(request("/lab/sleep/600"))
    time.sleep(0.2)
    started = time.monotonic()
    os.kill(t.server.pid, signal.SIGTERM)
    t.stopped = True
    expect_status(client.read_response(), 200, "GET /lab/sleep/600 with a SIGTERM 0.2 s into it")
    status = t.server.process.wait(0.4 + STOP_IDLE_S)
    took = time.monotonic() - started
    if status is None:
        t.server.process.kill()
    t.server.process.reap_group()
    expect(status == 0,
           f"SIGTERM during a keep-alive answer: {'exit status ' + str(status) if status is not None else 'still running'} "
           f"after {took:.2f} s (at most {0.4 + STOP_IDLE_S:g} s, exit 0)"
           "\n  cause: a stop that arrives while an answer is under way must end the "
           "connection once the answer is out: nothing will interrupt the wait for a next "
           "request, which lasts --timeout-ms")


def case_linger_behind_answer(t):
    """Pipelined: a long answer, then a request whose body is too large (413).
    The client reads nothing for a while, so when the server refuses the
    second request, part of the first answer is still in its send queue and
    most of the second request's body is unread. Closed lingering, both answers
    arrive; closed at once, the close with unread input sends a RST, which
    drops whatever the server had not sent yet."""
    client = t.connect()
    try:
        client.send(request(f"/lab/bytes/{LINGER_BYTES}") +
                    request("/a.txt", headers=["Content-Length: 100000000"]) +
                    b"x" * LINGER_BODY)
        time.sleep(0.3)
        first = client.read_response()
        refused = client.read_response()
    except (Failure, OSError) as failure:
        raise Failure(f"{failure}\n  cause: a connection closed with unread input (a refused "
                      "request's body) ends in a RST that discards the answers not yet sent: "
                      "shut down the write side and read until the client closes, for a "
                      "while (docs/design.md#lingering-close)")
    expect_status(first, 200, f"GET /lab/bytes/{LINGER_BYTES}")
    expect(first.body == lab_pattern(LINGER_BYTES), f"GET /lab/bytes/{LINGER_BYTES}: "
           f"{len(first.body)} bytes, not the pattern")
    expect_status(refused, 413, "the pipelined GET with Content-Length: 100000000")
    expect_closed(client, "after 413")


def read_whole_answer(client, what, cause):
    """The long /lab/bytes answer of a linger case, read to its end, then the
    server's close, which must be an orderly one (end of stream): a reset in
    the answer or at its end is the failure the case is about. (A reset loses
    what the server had not sent yet; when the client happened to read fast
    enough for nothing to be left, the reset at the end still shows it.)"""
    try:
        answer = client.read_response()
        expect_status(answer, 200, what)
        expect(answer.body == lab_pattern(LINGER_BYTES), f"{what}: {len(answer.body)} bytes, "
               "not the pattern")
        client.sock.settimeout(GRACE_S)
        extra = client.buffer + client.sock.recv(65536)
    except ConnectionResetError:
        raise Failure(f"{what}: the answer ended in a reset, not a close{cause}")
    except (Failure, OSError) as failure:
        raise Failure(f"{what}: {failure}{cause}")
    expect(not extra, f"{what}: bytes after the answer, or no close within {GRACE_S:g} s: "
           f"{show(extra)}")


LINGER_CAUSE = ("\n  cause: a close with input of the client's still unread "
                "becomes a reset, which destroys the answer the server had not sent yet: while "
                "the client may still be sending, shut the write side and drain before closing "
                "(docs/design.md#lingering-close)")


def case_linger_keepalive_limit(t):
    """--keepalive-requests 1: a long answer ends a connection the client asked
    to keep. The client sends its next request while that answer is still
    being written, then reads: the request lies unread in the server's socket
    when it closes. The server ended the connection, so the client may still
    be sending: closed lingering, the answer arrives whole; closed at once,
    the unread request turns the close into a reset."""
    client = t.connect()
    client.send(request(f"/lab/bytes/{LINGER_BYTES}"))
    time.sleep(0.1)                 # the server is writing, blocked on a full socket
    client.send(request("/a.txt"))  # it cannot finish before we read: this one stays unread
    read_whole_answer(client, f"GET /lab/bytes/{LINGER_BYTES} (--keepalive-requests 1), then "
                      "a GET sent while it was written", LINGER_CAUSE)


def case_linger_pipelined_close(t):
    """A request that asks to close, with more pipelined behind it (a request
    and a 256 KiB body): more than the server reads with the first, so part
    lies unread in its socket when it closes. Bytes buffered beyond the
    request say the client may still be sending: closed lingering, the answer
    arrives whole; closed at once, the unread bytes turn the close into a
    reset."""
    client = t.connect()
    client.send(request(f"/lab/bytes/{LINGER_BYTES}", headers=["Connection: close"]) +
                request("/a.txt", headers=[f"Content-Length: {LINGER_BODY}"]) +
                b"x" * LINGER_BODY)
    read_whole_answer(client, f"GET /lab/bytes/{LINGER_BYTES} with Connection: close and "
                      f"{LINGER_BODY} bytes pipelined behind it", LINGER_CAUSE)


def case_timer_of_closed_neighbour(t):
    """The event loops keep a timer per connection. A keep-alive connection
    closes before its deadline; a second one stays busy (a request every
    150 ms) until well past that deadline, then idles out; a third is served.
    A timer left behind by a connection that ended fires on freed memory, or
    on whatever connection got that memory or that descriptor next."""
    if t.name not in ("multiplex", "coroutine"):
        raise Skip("no per-connection timers: a blocking read's timeout is the socket's")
    cause = ("\n  cause: a connection that ends must cancel its timer; left in the heap, it "
             "fires later on freed memory or on the next connection given the same memory or "
             "descriptor")
    first = t.connect()
    first.send(request("/a.txt"))
    expect_status(first.read_response(), 200, "the first connection's GET")
    first.close()
    second = t.connect()
    try:
        for n in range(7):
            second.send(request("/a.txt"))
            expect_status(second.read_response(), 200, f"request {n + 1} on the second "
                          f"connection, {0.15 * n:.2f} s after the first one closed")
            time.sleep(0.15)
        expect_closed(second, f"the second connection, idle past --timeout-ms {TIMER_MS}",
                      TIMER_MS / 1000 + GRACE_S)
        expect_status(t.get("/a.txt"), 200, "a third connection after both ended")
    except (Failure, OSError) as failure:
        raise Failure(f"{failure} (--timeout-ms {TIMER_MS}){cause}")


CASES += [
    ("sigusr1_during_download", case_sigusr1_during_download, SERVER),
    ("sigterm_idle_keepalive", case_sigterm_idle_keepalive, {"options": ["--timeout-ms", "10000"]}),
    ("sigterm_during_answer", case_sigterm_during_answer, {"options": ["--timeout-ms", "10000"]}),
    ("linger_behind_answer", case_linger_behind_answer, SERVER),
    ("linger_keepalive_limit", case_linger_keepalive_limit,
     {"options": ["--keepalive-requests", "1"]}),
    ("linger_pipelined_close", case_linger_pipelined_close, SERVER),
    ("timer_of_closed_neighbour", case_timer_of_closed_neighbour,
     {"options": ["--timeout-ms", str(TIMER_MS)]}),
]


# ---------------------------------------------------------------- one server, many cases

# The cases --shared and --dirty run on one server: those that need only a plain
# one (SERVER) and neither wait out its --timeout-ms (the dirty mode's is
# shorter) nor spend seconds of its CPU. Left out, and run as usual (--shared)
# or not at all (--dirty): the command-line cases (NO_SERVER), those with
# options of their own, and these.
NOT_SHARED = {
    "idle_timeout",           # waits out --timeout-ms, whose value it knows
    "stalled_header",         # the same
    "lab_cpu_budget_503",     # 1.4 s of CPU per run
    "sigusr1_during_download",  # leaves a write blocked 0.45 s: past the dirty timeout
    "slow_reader_file_and_lab_bytes",  # 5 s of reading, writes blocked past that timeout
    "lab_forwarded_warning",  # stops its server to count the warnings on its stderr
}


# The cases --proxy skips: each tests something the upstream owns once the
# server is a proxy in front of it (its options, its per-connection state, its
# stderr), so the proxy's own behaviour cannot show in it.
NOT_PROXIED = {
    "dotfiles_option_200": "--dotfiles is the proxy's; the upstream decides about dot-files",
    "lab_cpu_budget_503": "the /lab/cpu budget is per upstream connection, one per request",
    "lab_forwarded_warning": "the warning is the upstream's, on its stderr",
    "limits_exact": "the proxy adds Via and Connection: a header section at the limit is over "
                    "it at the upstream",
}


def dirty_split_head(t):
    # Split so that the parser is told "need more" for exactly as many bytes as
    # t.get("/a.txt") sends (the follow-up's request): a resume offset that
    # outlives this head makes that request wait instead of being answered.
    follow_up_length = len(request("/a.txt", headers=["Connection: close"]))
    pad = follow_up_length + 1 - len(request("/a.txt", headers=["X-Pad: "]))
    client = t.connect()
    late_last_byte(t, client, request("/a.txt", headers=["X-Pad: " + "p" * pad]), seconds=0.03)
    expect_file(t, client.read_response(), "/a.txt", "text/plain", "a head whose last byte came late")


def dirty_pipelined_burst(t):
    client = t.connect()
    client.send(request("/a.txt") * 16 + request("/big.bin") + request("/style.css") * 16)
    client.read_responses(["GET"] * 3)              # and close with the rest unread


def dirty_400(t):
    response, client = t.exchange(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX\x00Y: a\r\n\r\n")
    expect_status(response, 400, "a NUL in a field name")


def dirty_413(t):
    response, client = t.exchange(request("/a.txt", headers=["Content-Length: 100000000"])
                                  + b"x" * 4096)
    expect_status(response, 413, "Content-Length: 100000000")


def dirty_timeout(t):
    client = t.connect()
    client.send(b"GET /a.txt HTTP/1.1\r\nHost: 127")
    closed, _ = client.wait_closed(DIRTY_TIMEOUT_MS / 1000 + GRACE_S)
    expect(closed, "a stalled head: still open after its timeout")


# The state-dirtying exchanges of --dirty: each leaves a connection (or the
# parser, or a pool's buffer) in a state the next one must not inherit.
DIRTIERS = [
    ("split_head", dirty_split_head),
    ("pipelined_burst", dirty_pipelined_burst),
    ("bad_head_400", dirty_400),
    ("body_413", dirty_413),
    ("timeout_408", dirty_timeout),
]


# ---------------------------------------------------------------- a reader slower than the server

# The slow reader: a client that reads at SLOW_RATE through a small receive
# buffer, so the server's writes meet a full socket: short writes and EAGAIN,
# which no fast client causes. A file and a long /lab/bytes, read at once on
# two connections; every byte compared. The file takes about 3 s: the server's
# last write comes some 2 s in (its send buffer holds up to 4 MiB), past the
# suite's --timeout-ms, so a deadline not renewed by progress ends it. A 64 KiB
# receive buffer makes the kernel split the stream at odd offsets; with 16 KiB
# or less loopback moves whole pages, and /lab/bytes' 64-byte lines would hide
# a pattern restarted at 0 after a short write.
SLOW_FILE, SLOW_FILE_SIZE = "/slow.bin", 12 << 20
SLOW_BYTES_SIZE = 8 << 20
SLOW_RATE = 4_000_000               # bytes per second, each reader
SLOW_RCVBUF = 65536
SLOW_BLOCK = 65536                  # a wrong block is named by its 64 KiB index
SLOW_LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
_slow_file_lock = threading.Lock()


class SlowReaderFailure(Failure):
    """A failure of the slow reader, with what it usually means on a line of
    its own ("  cause: ..."), which scripts/grade.py shows a student."""

    def __init__(self, message, cause):
        super().__init__(f"{message}\n  cause: {cause}")


CAUSE_CLOSED = ("a write that answered EAGAIN must wait for writability, not end the "
                "connection (a full socket buffer is not an error); and a write that made "
                "progress renews the deadline (--timeout-ms bounds a step, not the response)")
CAUSE_WRONG = ("a short write must be resumed where it stopped: count what each write "
               "took (the head's bytes, the file offset, the position in /lab/bytes' "
               "pattern), never assume it took everything")
CAUSE_NO_HEAD = ("no response came: the head must be written first (all of it, resumed after a "
                 "short write), then the body")
CAUSE_STALLED = ("after EAGAIN the connection must wait for writability (EVENT_WRITE, not "
                 "EVENT_READ) and go on when the socket has room again")


def slow_read(port, target, size, expected_block, result):
    """GET target at SLOW_RATE; result["error"] is (message, cause) or None.
    expected_block(i) is the i-th SLOW_BLOCK of the body."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)   # before connect
        sock.settimeout(IO_TIMEOUT_S)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request(target, headers=["Connection: close"]))
        data, body_at, length, received = b"", None, None, 0
        started = last_data = time.monotonic()
        while True:
            ahead = started + received / SLOW_RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)                   # keep to the rate
            try:
                chunk = sock.recv(16384)
            except (socket.timeout, TimeoutError):
                result["error"] = (f"GET {target}: nothing for {IO_TIMEOUT_S:g} s after "
                                   f"{received} bytes", CAUSE_STALLED)
                return
            except ConnectionResetError:
                chunk = b""
            received += len(chunk)
            data += chunk
            silent, last_data = time.monotonic() - last_data, time.monotonic() if chunk else last_data
            if body_at is None and b"\r\n\r\n" in data:
                head, data = data.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                status = lines[0].split(" ")[1] if " " in lines[0] else lines[0]
                lengths = [line.split(":", 1)[1].strip() for line in lines[1:]
                           if line.lower().startswith("content-length:")]
                if status != "200" or lengths != [str(size)]:
                    result["error"] = (f"GET {target}: status {status}, Content-Length "
                                       f"{lengths}, expected 200 and {size}", CAUSE_WRONG)
                    return
                body_at, length = 0, size
            while body_at is not None and len(data) >= min(SLOW_BLOCK, length - body_at) > 0:
                block = min(SLOW_BLOCK, length - body_at)
                if data[:block] != expected_block(body_at // SLOW_BLOCK)[:block]:
                    result["error"] = (f"GET {target}: the bytes at {body_at}-"
                                       f"{body_at + block - 1} (64 KiB block "
                                       f"{body_at // SLOW_BLOCK} of {-(-length // SLOW_BLOCK)}) "
                                       f"are not the expected ones", CAUSE_WRONG)
                    return
                data, body_at = data[block:], body_at + block
            if not chunk:
                break
            if body_at is not None and body_at == length and not data:
                break
        if body_at is None:
            result["error"] = (f"GET {target}: closed before a complete head after "
                               f"{received} bytes", CAUSE_NO_HEAD)
        elif body_at < length or data:
            got = body_at + len(data)
            # Closed at once: the write that met a full buffer gave up (or its
            # deadline ended the response while bytes were still on their
            # way); closed after a silence: the connection waited for the
            # wrong thing, and its deadline ended it.
            result["error"] = ((f"GET {target}: connection closed after {got} of {length} "
                                f"body bytes (status 200 sent), {silent:.1f} s after the last "
                                f"byte", CAUSE_CLOSED if silent < 0.3 else CAUSE_STALLED)
                               if got < length
                               else (f"GET {target}: {got - length} bytes beyond "
                                     f"Content-Length", CAUSE_WRONG))
        else:
            result["error"] = None
    except OSError as error:
        result["error"] = (f"GET {target}: {type(error).__name__}: {error}", CAUSE_CLOSED)
    finally:
        sock.close()


def case_slow_reader(t):
    """A 12 MiB file and 8 MiB of /lab/bytes, read at once at SLOW_RATE each with
    a SLOW_RCVBUF receive buffer: status, Content-Length and every byte."""
    with _slow_file_lock:               # one file for every configuration, made once
        if SLOW_FILE not in t.docroot.files:
            t.docroot.add(SLOW_FILE, random.Random(11).randbytes(SLOW_FILE_SIZE))
    data = t.docroot.files[SLOW_FILE]
    pattern = SLOW_LINE * (SLOW_BLOCK // len(SLOW_LINE))    # /lab/bytes repeats it
    readers = [(SLOW_FILE, SLOW_FILE_SIZE,
                lambda i: data[i * SLOW_BLOCK:(i + 1) * SLOW_BLOCK], {}),
               (f"/lab/bytes/{SLOW_BYTES_SIZE}", SLOW_BYTES_SIZE, lambda i: pattern, {})]
    threads = [threading.Thread(target=slow_read, args=(t.server.port, *reader))
               for reader in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SLOW_FILE_SIZE / SLOW_RATE + 4 * IO_TIMEOUT_S)
    for target, _, _, result in readers:
        if "error" not in result:
            raise Failure(f"GET {target}: the reader did not finish")
        if result["error"]:
            raise SlowReaderFailure(*result["error"])


CASES += [
    ("slow_reader_file_and_lab_bytes", case_slow_reader, SERVER),
]


# ---------------------------------------------------------------- running

def run_case(bin_dir, config, docroot, function, how, shared=None):
    """Returns (outcome, reason, seconds): outcome is "pass", "fail" or "skip".
    shared: a running server to use (and leave running) instead of a new one."""
    start = time.monotonic()
    t = Context(bin_dir, config, docroot, shared)
    outcome, reason = "pass", ""
    try:
        if how.get("server", True) and shared is None:
            t.start(how.get("options", []))
        function(t)
    except Skip as skip:
        outcome, reason = "skip", str(skip)
    except Failure as failure:
        outcome, reason = "fail", str(failure)
    except Exception as error:        # a socket error, or a response the case did not expect
        outcome, reason = "fail", f"{type(error).__name__}: {error}"
    finally:
        problems = t.finish(outcome != "fail")
    if problems:
        reason = "; ".join(([reason] if outcome == "fail" else []) + problems)
        outcome = "fail"
    return outcome, reason, time.monotonic() - start


def shareable(case):
    name, _, how = case
    return how is SERVER and name not in NOT_SHARED


def run_config(bin_dir, config, cases, docroot, report, seed, mode):
    name = shlex.split(config)[0]
    binary = os.path.join(bin_dir, name)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        report(config, "(all cases)", "fail", f"no executable {binary}", 0.0)
        return
    start = time.monotonic()
    rng = random.Random(f"{seed}/{config}")    # the same order for the same seed and line
    cases = list(cases)
    rng.shuffle(cases)
    if UPSTREAM:
        for case_name, _, _ in cases:
            if case_name in NOT_PROXIED:
                report(config, case_name, "skip", NOT_PROXIED[case_name], 0.0)
        cases = [case for case in cases if case[0] not in NOT_PROXIED]
    on_own = cases if mode == "alone" else [case for case in cases if not shareable(case)]
    together = [] if mode == "alone" else [case for case in cases if shareable(case)]
    if mode == "dirty":
        on_own = []
    for case_name, function, how in on_own:
        report(config, case_name, *run_case(bin_dir, config, docroot, function, how))
    if together:
        run_shared(bin_dir, config, together, docroot, report, rng, mode)
    report(config, "(total)", "time", "", time.monotonic() - start)


def run_shared(bin_dir, config, cases, docroot, report, rng, mode):
    """--shared: every case in turn on one server. --dirty: each case right
    after each dirtier, on one server (started anew if one of them killed it)."""
    extra = ["--timeout-ms", str(DIRTY_TIMEOUT_MS)] if mode == "dirty" else []
    label = f"{config}, {mode}"
    if mode == "dirty":
        dirtiers = list(DIRTIERS)
        rng.shuffle(dirtiers)
        pairs = [(dirtier, case) for dirtier in dirtiers for case in cases]
    else:
        pairs = [(None, case) for case in cases]
    owner = None
    try:
        for dirtier, (case_name, function, how) in pairs:
            name = case_name if dirtier is None else f"{case_name} after {dirtier[0]}"
            if owner is None or not owner.server.alive():   # at first, or a case killed it
                if owner is not None:
                    owner.finish(False)
                owner, failure = start_shared(bin_dir, config, docroot, extra)
                if failure is not None:            # the rest cannot run
                    report(label, f"{name} and the rest", "fail", f"shared server: {failure}",
                           0.0)
                    owner = None
                    return
            if dirtier is not None:
                outcome, reason, _ = run_case(bin_dir, config, docroot, dirtier[1], SERVER,
                                              owner.server)
                if outcome == "fail":
                    report(label, name, "fail", f"the dirtier {dirtier[0]}: {reason}", 0.0)
                    continue
            report(label, name, *run_case(bin_dir, config, docroot, function, how, owner.server))
    finally:
        problems = owner.finish(True) if owner is not None else []
        if problems:
            report(label, "(shared server)", "fail", "; ".join(problems), 0.0)


def start_shared(bin_dir, config, docroot, extra=()):
    """A server for many cases, in a Context that owns it: (context, failure)."""
    owner = Context(bin_dir, config, docroot)
    try:
        owner.start(list(extra))
        return owner, None
    except Failure as failure:
        owner.finish(False)
        return owner, str(failure)


def start_upstream(bin_dir, config, docroot):
    """--proxy: the one upstream every server of the run forwards to, with the
    root and --timeout-ms the cases expect; a Context that owns it. Exits the
    suite if it cannot start."""
    owner = Context(bin_dir, config, docroot)
    try:
        owner.start()
    except Failure as failure:
        owner.finish(False)
        sys.exit(f"blackbox: the upstream {config!r} did not start: {failure}")
    UPSTREAM[:] = ["--upstream", f"127.0.0.1:{owner.server.port}"]
    print(f"blackbox: through a proxy, upstream {config} on port {owner.server.port}",
          flush=True)
    return owner


def read_list(path):
    configs = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                configs.append(line)
    return configs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    parser.add_argument("--list", default=os.path.join(REPO, "tests", "servers.list"))
    parser.add_argument("--server", action="append", help="a configuration line (repeatable); "
                        "replaces --list")
    parser.add_argument("--case", action="append", help="run only this case (repeatable, "
                        "or comma-separated)")
    parser.add_argument("--skip", action="append", help="leave this case out (repeatable, "
                        "or comma-separated)")
    parser.add_argument("--seed", type=int, help="the cases' order (default: a new one, printed)")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--shared", action="store_true", help="the plain-server cases on one "
                       "server per configuration")
    modes.add_argument("--dirty", action="store_true", help="only the plain-server cases, each "
                       "right after each state-dirtying exchange, on one server per configuration")
    parser.add_argument("--wrap", help="start every server under this command (e.g. valgrind)")
    parser.add_argument("--proxy", nargs="?", const="multiplex", metavar="LINE",
                        help="run every configuration as a proxy in front of one upstream "
                        "(this configuration, default multiplex)")
    parser.add_argument("-j", type=int, default=2, help="configurations run in parallel")
    parser.add_argument("-v", action="store_true", help="also print passes and timings")
    args = parser.parse_args()
    if args.wrap:
        WRAP[:] = shlex.split(args.wrap)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    mode = "dirty" if args.dirty else "shared" if args.shared else "alone"
    print(f"blackbox: seed {seed} (replay: --seed {seed})", flush=True)

    configs = args.server or read_list(args.list)
    cases = CASES
    if args.case:
        wanted = {n for item in args.case for n in item.split(",") if n}
        unknown = wanted - {name for name, _, _ in CASES}
        if unknown:
            parser.error(f"no such case: {', '.join(sorted(unknown))}")
        cases = [case for case in CASES if case[0] in wanted]
    if args.skip:
        unwanted = {n for item in args.skip for n in item.split(",") if n}
        unknown = unwanted - {name for name, _, _ in CASES}
        if unknown:
            parser.error(f"no such case: {', '.join(sorted(unknown))}")
        cases = [case for case in cases if case[0] not in unwanted]

    counts = {"pass": 0, "fail": 0, "skip": 0}
    lock = threading.Lock()

    def report(config, case_name, outcome, reason, seconds):
        with lock:
            if _interrupted:                  # cases cut short by Ctrl-C say nothing
                return
            if outcome == "fail":
                print(f"FAIL [{config}] {case_name}: {reason}", flush=True)
            elif args.v and outcome == "time":
                print(f"time [{config}] {seconds:.1f} s", flush=True)
            elif args.v:
                print(f"{outcome:4} [{config}] {case_name} ({seconds:.2f} s) {reason}".rstrip(),
                      flush=True)
            if outcome in counts:
                counts[outcome] += 1

    docroot = DocRoot()
    upstream = start_upstream(args.bin_dir, args.proxy, docroot) if args.proxy else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # stop like Ctrl-C
    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.j))
    try:
        futures = [pool.submit(run_config, args.bin_dir, config, cases, docroot, report, seed,
                               mode)
                   for config in configs]
        for future in futures:
            try:
                future.result()
            except Exception as error:        # a bug in the suite: still count it
                report("suite", "internal error", "fail", repr(error), 0.0)
    except BaseException:                     # Ctrl-C, SIGTERM: no waiting for cases
        _kill_leftovers()
        docroot.remove()
        print("blackbox: interrupted", flush=True)
        os._exit(130)
    pool.shutdown()
    if upstream is not None:
        problems = upstream.finish(True)
        if problems:
            report(f"upstream {args.proxy}", "(the upstream)", "fail", "; ".join(problems), 0.0)
    docroot.remove()
    print(f"blackbox: {counts['pass']} passed, {counts['fail']} failed", flush=True)
    return 1 if counts["fail"] or not configs else 0


if __name__ == "__main__":
    sys.exit(main())
