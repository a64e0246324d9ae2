"""Raw-socket HTTP for malformed-input tests: send exact bytes, read whatever comes back.

No HTTP library is involved on the client side, so requests can be as broken as needed
(wrong lengths, invalid UTF-8, junk framing). Every read is bounded by a timeout: a server
that stops answering shows up as ``outcome == "timeout"``, never as a hung test.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")


@dataclass
class Exchange:
    status: int | None       # the first response's status, None if no response came
    outcome: str             # "closed" (server closed), "reset", "timeout", "open" (kept alive)
    raw: bytes
    seconds: float

    @property
    def body(self) -> bytes:
        head, _, rest = self.raw.partition(b"\r\n\r\n")
        return rest

    def header(self, name: str) -> str | None:
        head = self.raw.partition(b"\r\n\r\n")[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def __str__(self) -> str:
        return f"{self.status} {self.outcome} in {self.seconds:.2f}s: {self.raw[:300]!r}"


def send_raw(port: int, data: bytes, *, timeout: float = 10.0, close_write: bool = True,
             wait_for_close: bool = False) -> Exchange:
    """Send ``data`` and read the reply.

    ``close_write`` half-closes the socket after sending (the server sees the client finish).
    Reading stops at the server's close, at ``timeout``, or, unless ``wait_for_close``, once
    one complete response (by its Content-Length) has arrived on a kept-alive connection.
    """
    start = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    outcome = "closed"
    try:
        try:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # EPIPE, ECONNRESET, ENOTCONN: the server refused mid-send (e.g. a head too large)
            outcome = "reset"
        deadline = start + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome = "timeout"
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                outcome = "timeout"
                break
            except ConnectionResetError:
                outcome = "reset"
                break
            if not chunk:
                break
            out += chunk
            if not wait_for_close and _complete(out):
                outcome = "open"
                break
    finally:
        sock.close()
    m = _STATUS.match(out)
    return Exchange(int(m.group(1)) if m else None, outcome, out, time.monotonic() - start)


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return m is not None and len(body) >= int(m.group(1))


def request(method: str, path: str | bytes, headers: dict[str, str | bytes] | None = None,
            body: bytes = b"", *, content_length: int | None = None, host: str = "localhost") -> bytes:
    """The bytes of one HTTP/1.1 request; ``content_length`` overrides the true length."""
    lines = [method.encode() + b" " + (path if isinstance(path, bytes) else path.encode()) + b" HTTP/1.1",
             b"Host: " + host.encode()]
    for k, v in (headers or {}).items():
        lines.append(k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")))
    if content_length is None:
        content_length = len(body)
    if content_length >= 0:
        lines.append(b"Content-Length: " + str(content_length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def any_signature(service: str) -> dict[str, str | bytes]:
    """Headers of a SigV4-signed request as ``--auth open`` takes it (any key, the signature unchecked):
    what the aws CLI and SDKs send with dummy credentials. Without them a request is anonymous."""
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=00",
            "X-Amz-Date": "20260101T000000Z"}


def server_errors(log: str) -> list[str]:
    """Lines of a server log that show an unhandled error (a 5xx or a traceback)."""
    bad = ("unexpected error", "Traceback", "Exception in ASGI application", "InternalFailure")
    return [line for line in log.splitlines() if any(b in line for b in bad)]
