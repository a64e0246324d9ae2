"""``Content-Encoding: aws-chunked`` bodies: S3 uploads framed in chunks, with trailing headers.

SDKs send them when ``x-amz-content-sha256`` is ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``,
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` or ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``::

    <size in hex>[;chunk-signature=<hex>]\\r\\n
    <size bytes>\\r\\n
    ...
    0[;chunk-signature=<hex>]\\r\\n
    [<trailer name>:<value>\\r\\n ...]      e.g. x-amz-checksum-crc32:AAAAAA==
    \\r\\n

:class:`ChunkedDecoder` is a push parser (``feed(bytes) -> payload pieces``, then ``close()``), so
it can be tested without I/O; :func:`decode_stream` runs it over an async iterator of raw pieces.
The decoded length is checked against ``x-amz-decoded-content-length`` by the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

STREAMING_SHA256 = ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")
MAX_LINE = 4096


class ChunkedError(ValueError):
    """The body is not valid aws-chunked framing."""


def is_aws_chunked(headers: dict[str, str]) -> bool:
    """Whether a request's body is aws-chunked (by ``x-amz-content-sha256`` or ``Content-Encoding``)."""
    sha = headers.get("x-amz-content-sha256", "")
    if sha.startswith("STREAMING-"):
        return True
    encodings = [e.strip().lower() for e in headers.get("content-encoding", "").split(",")]
    return "aws-chunked" in encodings


def strip_aws_chunked(content_encoding: str | None) -> str | None:
    """``Content-Encoding`` without the ``aws-chunked`` token (None when nothing is left)."""
    if not content_encoding:
        return content_encoding
    rest = [e.strip() for e in content_encoding.split(",") if e.strip() and e.strip().lower() != "aws-chunked"]
    return ", ".join(rest) or None


class ChunkedDecoder:
    _HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = self._HEADER
        self._remaining = 0
        self.trailers: dict[str, str] = {}
        self.signatures: list[str] = []      # chunk-signature values, in order (not verified here)
        self.decoded = 0

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> list[bytes]:
        if self._state == self._DONE:
            if data.strip(b"\r\n"):
                raise ChunkedError("data after the final aws-chunked chunk")
            return []
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        while True:
            if self._state == self._HEADER:
                line = self._line()
                if line is None:
                    break
                size_part, _, ext = line.partition(b";")
                try:
                    size = int(size_part.strip(), 16)
                except ValueError:
                    raise ChunkedError(f"bad aws-chunked chunk size {size_part[:32]!r}") from None
                if size < 0:
                    raise ChunkedError("negative aws-chunked chunk size")
                if ext:
                    name, _, value = ext.partition(b"=")
                    if name.strip() == b"chunk-signature":
                        self.signatures.append(value.strip().decode("latin-1"))
                if size == 0:
                    self._state = self._TRAILER
                else:
                    self._remaining = size
                    self._state = self._DATA
            elif self._state == self._DATA:
                if not buf:
                    break
                n = min(self._remaining, len(buf))
                out.append(bytes(buf[:n]))
                del buf[:n]
                self._remaining -= n
                self.decoded += n
                if self._remaining == 0:
                    self._state = self._DATA_END
            elif self._state == self._DATA_END:
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise ChunkedError("aws-chunked chunk is longer than its declared size")
                del buf[:2]
                self._state = self._HEADER
            elif self._state == self._TRAILER:
                line = self._line()
                if line is None:
                    break
                if not line.strip():
                    self._state = self._DONE
                    if buf.strip(b"\r\n"):
                        raise ChunkedError("data after the final aws-chunked chunk")
                    buf.clear()
                    break
                name, sep, value = line.partition(b":")
                if not sep:
                    raise ChunkedError(f"bad aws-chunked trailer {line[:64]!r}")
                self.trailers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
            else:
                break
        return out

    def _line(self) -> bytes | None:
        buf = self._buf
        i = buf.find(b"\r\n")
        if i < 0:
            if len(buf) > MAX_LINE:
                raise ChunkedError("aws-chunked header line too long")
            return None
        line = bytes(buf[:i])
        del buf[:i + 2]
        return line

    def close(self) -> None:
        """The body ended: it must have ended at a chunk boundary after the last chunk."""
        if self._state == self._TRAILER and not self._buf:
            self._state = self._DONE      # trailers without the closing blank line
        if self._state != self._DONE:
            raise ChunkedError("the aws-chunked body ended before its final chunk")


async def decode_stream(raw: AsyncIterator[bytes], decoder: ChunkedDecoder | None = None) -> AsyncIterator[bytes]:
    """The payload of an aws-chunked body, piece by piece; ``decoder.trailers`` is filled at the end."""
    dec = decoder or ChunkedDecoder()
    async for piece in raw:
        for out in dec.feed(piece):
            yield out
    dec.close()
