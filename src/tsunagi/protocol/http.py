"""The two plain types the protocol layer speaks: no web framework appears past the gateway."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

from tsunagi.streams import StreamingBody


class BodyObserver(Protocol):
    def feed(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class BodyStream(StreamingBody):
    """A request body read as it arrives (S3 uploads): ``await read(n)`` or ``async for chunk in stream``.
    It is the :class:`~tsunagi.streams.StreamingBody` a service gets when no framing is to be removed.

    ``next_chunk`` returns the next piece of the body, or ``b""`` at its end. ``limit`` bounds
    the total; past it, :class:`BodyTooLarge` is raised (the caller turns it into AWS's error).
    """

    def __init__(self, next_chunk: Callable[[], Awaitable[bytes]], length: int | None = None,
                 limit: int | None = None) -> None:
        super().__init__(None, length)   # ``length``: the declared Content-Length, if any
        self._next = next_chunk
        self.limit = limit
        self.received = 0
        self._buf = b""
        self._eof = False
        self._observers: list[BodyObserver] = []

    def observe(self, observer: BodyObserver) -> None:
        """Show every piece of the body to ``observer`` as it arrives, and tell it when the body
        ends (the gateway checks signed aws-chunked bodies this way); what it raises fails the read."""
        self._observers.append(observer)

    async def _pull(self) -> bytes:
        if self._eof:
            return b""
        chunk = await self._next()
        if not chunk:
            self._eof = True
            for observer in self._observers:
                observer.close()
            return b""
        self.received += len(chunk)
        if self.limit is not None and self.received > self.limit:
            raise BodyTooLarge(self.limit)
        for observer in self._observers:
            observer.feed(chunk)
        return chunk

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left when ``n < 0``); ``b""`` at the end."""
        if n < 0:
            parts = [self._buf]
            self._buf = b""
            while chunk := await self._pull():
                parts.append(chunk)
            return b"".join(parts)
        while len(self._buf) < n and not self._eof:
            chunk = await self._pull()
            if not chunk:
                break
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._buf:
            buf, self._buf = self._buf, b""
            yield buf
        while chunk := await self._pull():
            yield chunk


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


@dataclass(slots=True)
class HttpRequest:
    """An HTTP request as received.

    ``path`` is the raw (still percent-encoded) path, ``query`` the raw query string,
    ``headers`` maps lower-cased names to values (repeated headers joined with ``,``).
    """

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: BodyStream | None = None   # set instead of ``body`` for streaming uploads
    _query_params: list[tuple[str, str]] | None = None

    @property
    def host(self) -> str:
        return self.headers.get("host", "localhost:4566")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def query_params(self) -> list[tuple[str, str]]:
        if self._query_params is None:
            self._query_params = form_pairs(self.query)
        return self._query_params


def form_pairs(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)``, with percent-decoding done in C
    (a query-protocol Publish carries its whole message percent-encoded; urllib decodes it in a
    Python loop, one escape at a time)."""
    out = []
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = _unquote_plus(name)
        if "%" in value or "+" in value:
            value = _unquote_plus(value)
        out.append((name, value))
    return out


def _unquote_plus(text: str) -> str:
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if "\\" not in text:
        try:
            # %XX → \xXX, then the C decoder of Python's own escapes; valid UTF-8 only
            return codecs.escape_decode(text.replace("%", "\\x").encode())[0].decode()  # type: ignore[attr-defined]
        except (ValueError, UnicodeDecodeError):
            pass   # a malformed escape or bytes that are not UTF-8: urllib's rules (U+FFFD, % kept)
    return unquote(text)


@dataclass(slots=True)
class HttpResponse:
    """An answer: status, headers and a body given whole or streamed."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None   # a streamed body (S3 GetObject); ``body`` is then empty
