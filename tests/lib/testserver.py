"""Start a Seven Servers binary for a test, talk HTTP to it, stop it.

Every suite under tests/ uses this module, so the rules live in one place:
servers start on --port 0 and the port is read from the first stdout line;
they are stopped by PID (SIGTERM, then SIGKILL of the whole process group if
they do not exit in time); traffic goes only to 127.0.0.1; every socket
operation has a timeout.
"""
import atexit
import os
import re
import shlex
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STARTUP_LINE = re.compile(r"^(\S+) listening on http://([^ ]+):(\d+)/ root=(\S+) pid=(\d+)$")
_running = set()


def _kill_all():
    for server in list(_running):
        server.kill()


atexit.register(_kill_all)


class Server:
    """A running server. Use as a context manager, or call stop()."""

    def __init__(self, bin_dir, config, extra=(), root=None, timeout_ms=3000, startup_s=10,
                 nofile=None, env=None):
        words = shlex.split(config) if isinstance(config, str) else list(config)
        self.name = words[0]
        binary = os.path.join(bin_dir, self.name)
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"no binary {binary}")
        self.argv = [binary, "--port", "0", "--timeout-ms", str(timeout_ms), "--quiet"]
        if root is not None:
            self.argv += ["--root", root]
        self.argv += words[1:] + list(extra)
        def limit_descriptors():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True,
                                        preexec_fn=limit_descriptors if nofile else None,
                                        env=env)
        _running.add(self)
        line = self._first_line(startup_s)
        match = STARTUP_LINE.match(line)
        if not match:
            self.kill()
            raise RuntimeError(f"{config}: unexpected start-up line {line!r}")
        self.port = int(match.group(3))
        self.pid = int(match.group(5))
        self.returncode = None
        self.stderr = b""

    def _first_line(self, seconds):
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(seconds):
            self.kill()
            raise RuntimeError(f"{self.argv}: no start-up line in {seconds} s")
        return self.process.stdout.readline().decode(errors="replace").rstrip("\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def alive(self):
        return self.process.poll() is None

    def stop(self, wait_s=8):
        """SIGTERM, wait; SIGKILL the group if needed. Returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=wait_s)
            self.stderr = err or b""
        except subprocess.TimeoutExpired:
            self.kill()
            self.returncode = "killed after SIGTERM timeout"
            return self.returncode
        _running.discard(self)
        self.returncode = self.process.returncode
        return self.returncode

    def kill(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.communicate(timeout=5)
        except Exception:
            pass
        _running.discard(self)

    def connect(self, timeout=5):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def processes(self):
        """The server and its worker processes."""
        return [self.pid] + self.children()

    def cpu_seconds(self):
        """User + system CPU of the server and its live children, from /proc."""
        total = 0
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return total / os.sysconf("SC_CLK_TCK")

    def children(self):
        """PIDs whose parent is the server (worker processes)."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.pid:
                        pids.append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        return pids


class Connection:
    """A client connection with a receive buffer, so pipelined responses that
    arrive together are split correctly."""

    def __init__(self, server, timeout=5):
        self.sock = server.connect(timeout)
        self.buffer = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def read_response(self, head_only=False):
        """(status, headers with lower-case names, body), framed by Content-Length."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only or status in (204, 304) else int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_server(self, timeout=5):
        """True if the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True


def get(server, path, headers="", timeout=5):
    """One GET on a new connection with Connection: close: (status, headers, body)."""
    with Connection(server, timeout) as conn:
        conn.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                  f"{headers}\r\n")
        return conn.read_response()


def preload_env(source, scratch):
    """Build source (a C file of the tests) into a shared library in scratch:
    (an environment with it in LD_PRELOAD, '') or (None, the compiler's words).
    An ASan build wants its runtime first in the library list: it is told not
    to insist."""
    library = os.path.join(scratch, os.path.splitext(os.path.basename(source))[0] + ".so")
    built = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O2", "-o", library,
                            source, "-ldl"], capture_output=True, text=True)
    if built.returncode != 0:
        return None, built.stderr.strip()
    env = dict(os.environ, LD_PRELOAD=library)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                 "verify_asan_link_order=0"]))
    return env, ""


def make_root(directory):
    """A small document root: index.html, a.txt, a 4 KiB file."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "index.html"), "w") as f:
        f.write("<h1>seven servers</h1>\n")
    with open(os.path.join(directory, "a.txt"), "w") as f:
        f.write("hello\n")
    with open(os.path.join(directory, "4k.bin"), "wb") as f:
        f.write(bytes(range(256)) * 16)
    return directory


def run_check(results, name, function, *args):
    """function(*args); one that blows up is a failed check named name, not the
    end of the suite."""
    try:
        function(*args)
    except Exception as error:
        results.check(name, False, f"{type(error).__name__}: {error}")


class Results:
    """Counts cases and prints the closing line every suite ends with."""

    def __init__(self, suite):
        self.suite, self.passed, self.failed = suite, 0, 0

    def check(self, name, ok, detail="", cause=""):
        """One result line. A failure with a cause (what the symptom usually
        means: the mistake to look for) prints it on the next line, as
        "  cause: ...", which scripts/grade.py shows a student."""
        if ok:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}", flush=True)
            if cause:
                print(f"  cause: {cause}", flush=True)
        return ok

    def finish(self):
        print(f"{self.suite}: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0
