"""A raw HTTP/1.1 client: pre-signed request bytes replayed over persistent sockets.

boto3 costs ~0.5 ms of client CPU per call and tops out near 1,000 calls/s on this machine, which
would hide the server. Here each distinct request is signed once with botocore (SigV4, test/test,
us-east-1), kept as raw bytes, and written to a keep-alive socket; the reply is read by hand
(status line, headers, Content-Length or chunked body). The servers under test do not verify
signatures, so replaying a signed request is fine. Requests whose body depends on a previous reply
(receipt handles) are signed on the fly; that cost is on the client side and is not counted.
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDS = Credentials("test", "test")
REGION = "us-east-1"


class Signer:
    """Builds signed raw HTTP/1.1 requests for one endpoint."""

    def __init__(self, host: str, port: int, region: str = REGION, creds: Credentials = CREDS) -> None:
        self.host, self.port, self.region = host, port, region
        self.netloc = f"{host}:{port}"
        self.creds = creds

    def raw(self, service: str, body: bytes, headers: dict[str, str], path: str = "/",
            method: str = "POST") -> bytes:
        hdrs = {"Host": self.netloc, **headers}
        req = AWSRequest(method=method, url=f"http://{self.netloc}{path}", data=body, headers=hdrs)
        SigV4Auth(self.creds, service, self.region).add_auth(req)
        lines = [f"{method} {path} HTTP/1.1"]
        for k, v in req.headers.items():
            lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def json(self, service: str, target: str, payload: dict,
             content_type: str = "application/x-amz-json-1.0") -> bytes:
        return self.raw(service, json.dumps(payload, separators=(",", ":")).encode(),
                        {"Content-Type": content_type, "X-Amz-Target": target})

    def sqs(self, op: str, payload: dict) -> bytes:
        """An SQS request in the JSON protocol (what botocore sends since 2023)."""
        return self.json("sqs", f"AmazonSQS.{op}", payload)

    def query(self, service: str, body: str) -> bytes:
        return self.raw(service, body.encode(),
                        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


class HTTPError(Exception):
    pass


class Conn:
    """One keep-alive connection. ``request`` = ``send`` + ``read``."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.addr = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.reconnects = 0
        self.head = b""          # the last reply's status line and headers

    def _connect(self) -> socket.socket:
        s = socket.create_connection(self.addr, timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = s, b""
        return s

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock, self.buf = None, b""

    def send(self, raw: bytes) -> None:
        sock = self.sock or self._connect()
        try:
            sock.sendall(raw)
        except OSError:
            self.close()
            self.reconnects += 1
            self._connect().sendall(raw)

    def _recv(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(262144)
        if not data:
            raise EOFError("connection closed by server")
        return data

    def read(self) -> tuple[int, bytes]:
        buf = self.buf
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            buf += self._recv()
        head, buf = buf[:i], buf[i + 4:]
        self.head = head
        status = int(head[9:12])
        lower = head.lower()
        close = b"\r\nconnection: close" in lower
        j = lower.find(b"\r\ncontent-length:")
        if j >= 0:
            e = lower.find(b"\r\n", j + 2)
            n = int(lower[j + 17:e if e > 0 else len(lower)])
            while len(buf) < n:
                buf += self._recv()
            body, self.buf = buf[:n], buf[n:]
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body, self.buf = self._read_chunked(buf)
        elif status in (204, 304) or 100 <= status < 200:
            body, self.buf = b"", buf
        else:  # body until close
            try:
                while True:
                    buf += self._recv()
            except EOFError:
                pass
            body, close = buf, True
        if close:
            self.close()
        return status, body

    def _read_chunked(self, buf: bytes) -> tuple[bytes, bytes]:
        out = []
        while True:
            while b"\r\n" not in buf:
                buf += self._recv()
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                while b"\r\n" not in buf:
                    buf += self._recv()
                # skip trailers up to the empty line
                while not buf.startswith(b"\r\n"):
                    k = buf.find(b"\r\n")
                    buf = buf[k + 2:]
                    while b"\r\n" not in buf:
                        buf += self._recv()
                return b"".join(out), buf[2:]
            while len(buf) < size + 2:
                buf += self._recv()
            out.append(buf[:size])
            buf = buf[size + 2:]

    def request(self, raw: bytes) -> tuple[int, bytes]:
        fresh = self.sock is None
        self.send(raw)
        try:
            return self.read()
        except (EOFError, ConnectionResetError):
            # A keep-alive socket the server had already closed: retry once on a new one.
            if fresh:
                raise
            self.close()
            self.reconnects += 1
            self.send(raw)
            return self.read()


Check = Callable[[int, bytes], "str | None"]


def ok_200(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"HTTP {status}: {body[:160]!r}"


@dataclass
class LoadResult:
    calls: int = 0
    errors: int = 0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)   # seconds
    samples: list[str] = field(default_factory=list)        # first few error texts
    extra: dict = field(default_factory=dict)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(text)

    def merge(self, other: LoadResult, wall: bool = False) -> None:
        """Add ``other`` (run concurrently; ``wall=True``: run after this one, so walls add up)."""
        if wall:
            self.wall += other.wall
        for k, v in other.extra.items():
            self.extra[k] = self.extra.get(k, 0) + v
        self.calls += other.calls
        self.errors += other.errors
        self.latencies.extend(other.latencies)
        for s in other.samples:
            if len(self.samples) < 3:
                self.samples.append(s)


def pct(values: Iterable[float], p: float) -> float | None:
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def run_fixed(host: str, port: int, raws: list[bytes], calls: int, conns: int,
              check: Check = ok_200, deadline: float | None = None, pool: list[Conn] | None = None) -> LoadResult:
    """Send ``calls`` requests (cycling through ``raws``) over ``conns`` keep-alive connections.

    ``pool``: connections to use (and leave open) instead of new ones, so that a measurement taken in
    rounds does not pay a connection setup per round.
    """
    counter = itertools.count()
    results = [LoadResult() for _ in range(conns)]
    nraw = len(raws)

    def worker(k: int, res: LoadResult) -> None:
        conn = pool[k] if pool else Conn(host, port)
        lat = res.latencies
        pc = time.perf_counter
        try:
            while True:
                i = next(counter)
                if i >= calls or (deadline is not None and (i & 63) == 0 and time.monotonic() > deadline):
                    break
                raw = raws[i % nraw]
                t0 = pc()
                try:
                    status, body = conn.request(raw)
                except Exception as e:  # noqa: BLE001 - reported, not raised
                    res.calls += 1
                    res.error(f"{type(e).__name__}: {e}")
                    conn.close()
                    continue
                lat.append(pc() - t0)
                res.calls += 1
                err = check(status, body)
                if err:
                    res.error(err)
        finally:
            if not pool:
                conn.close()

    threads = [threading.Thread(target=worker, args=(i, r), daemon=True) for i, r in enumerate(results)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = LoadResult(wall=time.perf_counter() - t0)
    for r in results:
        total.merge(r)
    return total


def run_workers(fn: Callable[[int, LoadResult], None], conns: int) -> LoadResult:
    """Run ``fn(index, result)`` in ``conns`` threads; merge their results."""
    results = [LoadResult() for _ in range(conns)]
    threads = [threading.Thread(target=fn, args=(i, r), daemon=True) for i, r in enumerate(results)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = LoadResult(wall=time.perf_counter() - t0)
    for r in results:
        total.merge(r)
    return total
