#!/usr/bin/env python3
"""survivors.py PORT K — how many connections does one handler's crash take?

Opens K keep-alive connections to 127.0.0.1:PORT and gets one answer on each
(so each is being served, idle between requests). Then asks for /lab/crash on a
new connection (the server must run with --lab-crash), waits half a second, and
asks again on each of the K. Prints, e.g.
    crash request: no answer
    held connections still served after the crash: 3 of 3
"""
import socket
import sys
import time

REQUEST = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"


def answer(s):
    """One response on a keep-alive connection: its status, or None."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                return None
            body += chunk
        return int(head.split(b" ")[1])
    except (OSError, ValueError, IndexError):
        return None


def main():
    port, k = int(sys.argv[1]), int(sys.argv[2])
    held = []
    for _ in range(k):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(REQUEST)
        if answer(s) != 200:
            sys.exit("survivors.py: a held connection got no first answer")
        held.append(s)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /lab/crash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            got = s.recv(64)
        except OSError:
            got = b""
    print("crash request:", repr(got[:20]) if got else "no answer")
    time.sleep(0.5)
    alive = 0
    for s in held:
        try:
            s.sendall(REQUEST)
            alive += answer(s) == 200
        except OSError:
            pass
        s.close()
    print(f"held connections still served after the crash: {alive} of {k}")


if __name__ == "__main__":
    main()
