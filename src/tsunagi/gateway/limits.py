"""Limits the HTTP server enforces before a request reaches the application.

uvicorn's httptools protocol buffers a request's head (request line and headers) without any
bound, so one client could make the server hold gigabytes of header bytes. This subclass
counts the bytes of the head as they arrive and answers ``431 Request Header Fields Too Large``
(then closes the connection) once they pass :data:`MAX_HEAD_BYTES`, before the parser has
buffered more than one read beyond the limit.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
