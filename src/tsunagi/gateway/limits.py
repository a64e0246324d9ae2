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


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # still inside a head: every byte of this read belongs to it (or to the end of the
            # previous pipelined message, which only makes the count conservative)
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()

    def _refuse_head(self) -> None:
        msg = f"The request line and headers exceed {self.max_head_bytes} bytes."
        self.logger.warning("Refused a request whose head exceeds %d bytes.", self.max_head_bytes)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(msg)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + msg.encode())
        self.transport.close()
