"""Request bodies as services see them: bytes as they arrive, with no wire framing and no HTTP.

A large upload (S3 PutObject, UploadPart) reaches its service as a :class:`StreamingBody` instead of
``bytes``: ``async for piece in body`` gives the payload in pieces, however the client framed it (the
protocol layer removes ``aws-chunked`` framing before the service sees a byte). What the sender said
about the payload travels with it as plain values: the length it declared, the checksums it announced
would follow the payload, and their values once the payload has been read to its end.

A body that cannot be read as sent raises :class:`MalformedBody` while it is read; the service says
so in its own terms (S3: ``IncompleteBody``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator


class MalformedBody(Exception):
    """The body's framing is broken: the message says how, in words a user can act on."""


class StreamingBody:
    """An upload's payload, read piece by piece.

    ``length``: the payload bytes the sender declared (None: not declared).
    ``checksums_to_follow``: checksum algorithms (``crc32``, ``sha256``, …) whose values the sender
    sends after the payload rather than before it.
    ``trailing_checksums``: those values by upper-case algorithm name, filled once the payload has
    been read to its end.
    """

    def __init__(self, pieces: AsyncIterable[bytes] | None = None, length: int | None = None, *,
                 checksums_to_follow: tuple[str, ...] = ()) -> None:
        self._pieces = pieces
        self.length = length
        self.checksums_to_follow = checksums_to_follow
        self.trailing_checksums: dict[str, str] = {}

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._pieces is None:
            return _nothing()
        return self._pieces.__aiter__()

    @classmethod
    def of(cls, data: bytes) -> StreamingBody:
        """A payload already in memory."""
        return cls(_once(data), len(data))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""   # (makes this an async generator)
