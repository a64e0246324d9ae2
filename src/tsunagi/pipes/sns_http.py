"""A small asyncio HTTP/1.1 client for SNS's http/https deliveries (stdlib only).

One request per connection (``Connection: close``), a whole-exchange timeout, TLS for https
(the system's trust store; ``TSUNAGI_SNS_HTTPS_INSECURE=1`` skips verification for local
self-signed endpoints). Errors come back as :class:`HttpFailure` with a readable reason.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

USER_AGENT = "Amazon Simple Notification Service Agent"
TIMEOUT_S = 15.0


class HttpFailure(Exception):
    """The request did not get an HTTP response (refused, reset, timed out, bad URL …)."""


def _ssl_context(insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_S, *,
               insecure: bool = False) -> tuple[int, bytes]:
    """POST ``body`` to ``url``; returns (status, response body). ``insecure``: do not verify TLS
    certificates (``TSUNAGI_SNS_HTTPS_INSECURE=1``)."""
    try:
        return await asyncio.wait_for(_post(url, body, headers, insecure), timeout)
    except TimeoutError:
        raise HttpFailure(f"no response within {timeout:g} s") from None
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as e:
        raise HttpFailure(f"{type(e).__name__}: {e}") from None


async def _post(url: str, body: bytes, headers: dict[str, str], insecure: bool) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpFailure(f"not an http(s) URL: {url}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=_ssl_context(insecure) if tls else None,
                                                   server_hostname=parts.hostname if tls else None)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
                 "Connection: close", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/"):
            raise HttpFailure(f"not an HTTP response: {status_line[:80]!r}")
        status = int(fields[1])
        length = None
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        data = await reader.readexactly(length) if length is not None else await reader.read(65536)
        return status, data
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
