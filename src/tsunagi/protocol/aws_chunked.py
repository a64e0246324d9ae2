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

:func:`upload_body` is what the S3 parser hands the service for an upload: the payload with the
framing removed, as a protocol-neutral :class:`~tsunagi.streams.StreamingBody` whose ``length`` is
``x-amz-decoded-content-length`` (checked against the payload by the service), whose
``checksums_to_follow`` are the checksums ``x-amz-trailer`` announces, and whose
``trailing_checksums`` are their values from the trailers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from tsunagi.protocol.errors import ServiceError
from tsunagi.streams import MalformedBody, StreamingBody

_CHECKSUM = "x-amz-checksum-"

STREAMING_SHA256 = ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")
MAX_LINE = 4096


class ChunkedError(ValueError):
    """The body is not valid aws-chunked framing."""


def is_aws_chunked(headers: Mapping[str, str]) -> bool:
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


def announced_checksums(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The checksum algorithms ``x-amz-trailer`` says will follow the payload (``crc32``, …)."""
    names = (n.strip().lower() for n in headers.get("x-amz-trailer", "").split(","))
    return tuple(n[len(_CHECKSUM):] for n in names if n.startswith(_CHECKSUM))


def upload_body(raw: StreamingBody, headers: Mapping[str, str]) -> StreamingBody:
    """The payload of an upload's body as S3 is to see it: ``raw`` itself when it is not aws-chunked,
    else the decoded payload, with the checksums sent as trailers filled in at its end."""
    announced = announced_checksums(headers)
    if not is_aws_chunked(headers):
        raw.checksums_to_follow = announced
        return raw
    decoded = headers.get("x-amz-decoded-content-length")
    try:
        length = int(decoded) if decoded is not None else None
    except ValueError:
        raise ServiceError("x-amz-decoded-content-length is not a number", code="InvalidArgument", status=400,
                           ArgumentName="x-amz-decoded-content-length", ArgumentValue=str(decoded)) from None
    return _Decoded(raw, length, announced)


class _Decoded(StreamingBody):
    """An aws-chunked body's payload; its checksum trailers land in ``trailing_checksums`` at the end."""

    def __init__(self, raw: StreamingBody, length: int | None, announced: tuple[str, ...]) -> None:
        super().__init__(None, length, checksums_to_follow=announced)
        self._raw = raw

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = ChunkedDecoder()
        try:
            async for piece in decode_stream(self._raw.__aiter__(), decoder):
                yield piece
        except ChunkedError as e:
            raise MalformedBody(f"The request body is not valid aws-chunked encoding: {e}") from None
        for name, value in decoder.trailers.items():
            if name.startswith(_CHECKSUM):
                self.trailing_checksums[name[len(_CHECKSUM):].upper()] = value
