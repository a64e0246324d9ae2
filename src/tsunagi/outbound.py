"""Outbound HTTP: the requests tsunagi itself makes to URLs its users give it (SNS http/https
subscriptions, API Gateway's HTTP and HTTP_PROXY integrations).

Three rules hold for every such request, whatever the URL says:

- **It never turns inward.** A URL whose path is one of tsunagi's internal routes (``/_tsunagi/...``,
  however it is spelled: percent-encoded, doubled slashes, any case) is refused when its host is this
  server: a loopback or unspecified address, any address of this machine (any port: a sibling tsunagi
  on the same machine is refused too), or one of the names the server answers to (``--hostname``,
  ``TSUNAGI_PUBLIC_URL``'s host, ``localhost``, ``*.localhost``). The name is resolved once and the
  connection goes to the address that was checked, so a name that re-resolves between the check and
  the connection (DNS rebinding) cannot slip through. A refusal is :class:`OutboundRefused`, which a
  caller must not retry.
- **Its answer is read up to a small cap** (:data:`MAX_ANSWER_BYTES`; AWS reads little of a
  subscriber's answer): the status line and headers within :data:`MAX_HEAD_BYTES`, then at most the
  cap of the body, whatever ``Content-Length`` claims. The rest is never read: the connection is closed.
- **It is bounded in time**: a connect timeout, then one deadline for the whole exchange (an endpoint
  that sends one byte a second does not hold a delivery longer than the read timeout).

Stdlib only, one request per connection (``Connection: close``), TLS through the system's trust store
(``insecure`` skips verification for local self-signed endpoints).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, unquote, urlsplit

MAX_ANSWER_BYTES = 64 * 1024       # of a response body
MAX_HEAD_BYTES = 16 * 1024         # status line and headers together
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
INTERNAL_PREFIX = "_tsunagi"


class OutboundFailure(Exception):
    """The request did not get an HTTP response (refused, reset, timed out, not HTTP, bad URL ...)."""


class OutboundRefused(OutboundFailure):
    """tsunagi will not send this request at all (it points at tsunagi's own internal routes)."""


class OutboundTimeout(OutboundFailure):
    """No address answered, or no complete answer came, in time."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What an outbound HTTP endpoint answered (its body read up to a cap)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes                  # at most the cap
    truncated: bool              # the endpoint had more to say than was read


def is_internal_path(path: str) -> bool:
    """Whether a URL path names one of tsunagi's internal routes, however it is spelled."""
    text = path
    for _ in range(3):                       # %255F → %5F → _
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    segments = [s for s in text.replace("\\", "/").split("/") if s and s != "."]
    return bool(segments) and segments[0].strip().lower() == INTERNAL_PREFIX


@lru_cache(maxsize=256)
def is_this_machine(address: str) -> bool:
    """Whether an IP address reaches this machine: loopback, unspecified (0.0.0.0 connects locally),
    or an address one of its interfaces holds (one a socket can bind to)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((str(ip), 0))
        return True
    except OSError:
        return False


class SelfNames:
    """The names and addresses that reach this server (see the module's first rule)."""

    def __init__(self, hostnames: Iterable[str] = ()) -> None:
        exact = {"localhost"}
        suffixes = [".localhost"]
        for name in hostnames:
            name = name.strip().lower().rstrip(".")
            if not name:
                continue
            if name.startswith("*."):
                suffixes.append(name[1:])
            else:
                exact.add(name)
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def names_us(self, host: str) -> bool:
        host = host.strip().lower().rstrip(".")
        return host in self.exact or host.endswith(self.suffixes)

    def refusal(self, url: str, host: str, addresses: Iterable[str], path: str) -> str | None:
        """Why a request to ``url`` must not be sent, or None."""
        if not is_internal_path(path):
            return None
        if self.names_us(host) or any(is_this_machine(a) for a in addresses):
            return (f"{url} points at tsunagi's own internal routes (/_tsunagi/...), which deliveries "
                    "and integrations may never reach")
        return None


def _ssl_context(insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _resolve(host: str, port: int) -> list[str]:
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


async def request(method: str, url: str, body: bytes, headers: Mapping[str, str], *, guard: SelfNames,
                  user_agent: str = "tsunagi", insecure: bool = False, connect_timeout: float = CONNECT_TIMEOUT_S,
                  read_timeout: float = READ_TIMEOUT_S, max_answer: int = MAX_ANSWER_BYTES) -> Answer:
    """Send one request; raises :class:`OutboundRefused` (never retry) or :class:`OutboundFailure`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundFailure(f"not an http(s) URL: {url}")
    tls = parts.scheme == "https"
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError as e:
        raise OutboundFailure(f"bad port in {url}: {e}") from None
    host = parts.hostname
    why = guard.refusal(url, host, (), parts.path)        # our own names, before any lookup
    if why is not None:
        raise OutboundRefused(why)
    try:
        addresses = await asyncio.wait_for(_resolve(host, port), connect_timeout)
    except TimeoutError:
        raise OutboundTimeout(f"{host}: no address within {connect_timeout:g} s") from None
    except OSError as e:
        raise OutboundFailure(f"{host}: {e}") from None
    why = guard.refusal(url, host, addresses, parts.path)
    if why is not None:
        raise OutboundRefused(why)
    reader, writer = await _connect(host, addresses, port, tls, insecure, connect_timeout)
    try:
        return await asyncio.wait_for(_exchange(reader, writer, method, parts, port, body, headers, user_agent,
                                                max_answer), read_timeout)
    except TimeoutError:
        raise OutboundTimeout(f"no complete answer within {read_timeout:g} s") from None
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        raise OutboundFailure(f"{type(e).__name__}: {e}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _connect(host: str, addresses: list[str], port: int, tls: bool, insecure: bool,
                   timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first of the checked ``addresses`` that accepts one (``localhost`` may be
    ``::1`` first and listen only on 127.0.0.1), all within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    why = "no address"
    timed_out = False
    for i, address in enumerate(addresses):
        left = deadline - loop.time()
        if left <= 0:
            break
        try:       # each address its share of what is left: one that never answers cannot take it all
            return await asyncio.wait_for(
                asyncio.open_connection(address, port, ssl=_ssl_context(insecure) if tls else None,
                                        server_hostname=host if tls else None, limit=MAX_HEAD_BYTES),
                left / (len(addresses) - i))
        except TimeoutError:
            why = f"could not connect to {host}:{port} within {timeout:g} s"
            timed_out = True
        except (OSError, ssl.SSLError, ValueError) as e:
            why = f"{type(e).__name__}: {e}"
    raise OutboundTimeout(why) if timed_out else OutboundFailure(why)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str,
                    parts: SplitResult, port: int, body: bytes, headers: Mapping[str, str], user_agent: str,
                    max_answer: int) -> Answer:
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    hostname = parts.hostname or ""
    host = hostname if parts.port is None else f"{hostname}:{port}"
    if ":" in hostname:
        host = f"[{hostname}]" if parts.port is None else f"[{hostname}]:{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close",
             f"User-Agent: {user_agent}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if "\r" not in k + v and "\n" not in k + v]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    status_line = await reader.readline()
    fields = status_line.decode("latin-1").split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise OutboundFailure(f"not an HTTP response: {status_line[:80]!r}")
    status = int(fields[1])
    got: list[tuple[str, str]] = []
    length: int | None = None
    head = len(status_line)
    while True:
        line = await reader.readline()
        head += len(line)
        if head > MAX_HEAD_BYTES:
            raise OutboundFailure(f"the answer's headers are longer than {MAX_HEAD_BYTES} bytes")
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        got.append((name.strip(), value.strip()))
        if name.strip().lower() == "content-length":
            with contextlib.suppress(ValueError):
                length = max(0, int(value.strip()))
    if length is None and any(n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in got):
        data, truncated = await _read_chunked(reader, max_answer)
        return Answer(status, tuple((n, v) for n, v in got if n.lower() != "transfer-encoding"), data, truncated)
    want = max_answer if length is None else min(length, max_answer)
    data = bytearray()
    while len(data) < want:
        chunk = await reader.read(want - len(data))
        if not chunk:
            break
        data += chunk
    truncated = (length is not None and length > len(data)) or (length is None and not reader.at_eof())
    return Answer(status, tuple(got), bytes(data), truncated)


async def _read_chunked(reader: asyncio.StreamReader, max_answer: int) -> tuple[bytes, bool]:
    """A chunked body, decoded, up to ``max_answer`` bytes (True: there was more)."""
    data = bytearray()
    while True:
        size_line = await reader.readline()
        if len(size_line) > 1024 or not size_line.endswith(b"\n"):
            raise OutboundFailure(f"a bad chunk size line: {size_line[:80]!r}")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"-", 16)
        except ValueError:
            raise OutboundFailure(f"a bad chunk size line: {size_line[:80]!r}") from None
        if size < 0:
            raise OutboundFailure(f"a bad chunk size line: {size_line[:80]!r}")
        if size == 0:
            return bytes(data), False        # trailers are not read: the connection closes
        if len(data) + size > max_answer:
            data += await reader.readexactly(max_answer - len(data))
            return bytes(data), True
        data += await reader.readexactly(size)
        await reader.readexactly(2)          # CRLF after the chunk
