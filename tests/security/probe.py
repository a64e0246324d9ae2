"""Measures for the attack tests: a server's resident memory, raw HTTP endpoints that misbehave."""

from __future__ import annotations

import socket
import threading


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class RawEndpoint:
    """A TCP endpoint on 127.0.0.1 that reads each request's head and then runs ``behaviour``:
    ``"huge"`` claims a 3 GB body and streams bytes until the client hangs up (at most ``limit`` bytes),
    ``"hang"`` answers nothing and holds the connection until closed. ``sent`` counts body bytes that
    left, ``requests`` the request heads seen."""

    def __init__(self, behaviour: str, limit: int = 512 * 1024 * 1024) -> None:
        self.behaviour = behaviour
        self.limit = limit
        self.sent = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sns"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with conn:
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                with self.lock:
                    self.requests.append(head)
                if self.behaviour == "hang":
                    while not self.stop.is_set():
                        if self.stop.wait(0.2):
                            return
                        conn.settimeout(0.01)
                        try:
                            if conn.recv(1) == b"":
                                return
                        except TimeoutError:
                            pass
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000000\r\n\r\n")
                block = b"x" * (1 << 20)
                sent = 0
                while sent < self.limit and not self.stop.is_set():
                    conn.sendall(block)
                    sent += len(block)
                    with self.lock:
                        self.sent += len(block)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


class StallProbe:
    """While open, asks the server's health route every 20 ms from a thread and keeps the longest answer
    time: how long the event loop was held (``longest`` seconds)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.longest = 0.0
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import time
        import urllib.request

        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_tsunagi/health", timeout=60) as r:
                    r.read()
                self.answered += 1
            except OSError:
                pass
            self.longest = max(self.longest, time.monotonic() - started)
            self._stop.wait(0.02)

    def __enter__(self) -> StallProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=90)
