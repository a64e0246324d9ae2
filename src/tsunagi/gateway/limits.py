"""The HTTP server's protocol: uvicorn's httptools protocol with a bounded head and one write per reply.

**Limits.**
uvicorn's httptools protocol buffers a request's head (request line and headers) without any
bound, so one client could make the server hold gigabytes of header bytes. This subclass
counts the bytes of the head as they arrive and answers ``431 Request Header Fields Too Large``
(then closes the connection) once they pass :data:`MAX_HEAD_BYTES`, before the parser has
buffered more than one read beyond the limit.

**One write per reply.** uvicorn writes a response's status line and headers as soon as the
application starts the response, then the body in a second write: two system calls (and, on
loopback, two wake-ups of the client) for every small reply. :class:`CoalescingCycle` holds the
head back and sends it together with the first piece of the body.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

# Request line plus headers. SDK requests use a few KiB (long presigned URLs and session tokens
# included); AWS front ends refuse far less than this (S3: 8 KiB of headers).
MAX_HEAD_BYTES = 64 * 1024


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a refused head."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Two counts bound the head: the raw bytes of reads that lie wholly inside an unfinished head
    (so a head that never ends is cut off while it arrives), and the URL and header bytes the parser
    hands over (exact, including the read in which the head ends)."""

    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0      # raw bytes of reads inside one unfinished head
        self._head_fields = 0     # URL + header bytes parsed for the current head
        self._completed = 0

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_field(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_field(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_field(self, n: int) -> None:
        self._head_fields += n
        if self._head_fields > self.max_head_bytes:
            self._refuse_head()
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if type(cycle) is RequestResponseCycle:
            cycle.__class__ = CoalescingCycle

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0
        self._completed += 1

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        completed = self._completed
        super().data_received(data)
        # A read in which the head ended or a message completed is not all head bytes; those heads
        # are bounded exactly by the parsed-field count above.
        if was_in_head and self._in_head and self._completed == completed and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        msg = f"The request line and headers exceed {self.max_head_bytes} bytes."
        self.logger.warning("Refused a request whose head exceeds %d bytes.", self.max_head_bytes)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(msg)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + msg.encode())
        self.transport.close()


class _Capture:
    """Stands in for the transport while uvicorn formats a message: keeps what it writes."""

    __slots__ = ("real", "data", "closed")

    def __init__(self, real: Any) -> None:
        self.real = real
        self.data: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def close(self) -> None:
        self.closed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class CoalescingCycle(RequestResponseCycle):
    """A request/response cycle that sends the response head with the first body write."""

    _held: bytes | None = None

    async def _formatted(self, message: Any) -> _Capture:
        real = self.transport
        capture = _Capture(real)
        self.transport = capture  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = real
        return capture

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start" and not self.response_started:
            self._held = b"".join((await self._formatted(message)).data)
            return
        held = self._held
        if held is None:
            await super().send(message)
            return
        self._held = None
        capture = await self._formatted(message)
        if self.transport.is_closing():
            return  # the client went away (or the server closed): nothing can be sent
        self.transport.write(held + b"".join(capture.data))
        if capture.closed:
            self.transport.close()
