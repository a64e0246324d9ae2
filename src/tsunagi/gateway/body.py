"""Reading a request body, whichever server delivers it: the rules both readers share.

A body is read once, a piece at a time (:class:`BodySource`). A piece that does not arrive within
the body timeout fails the request with S3's ``RequestTimeout`` (and closes the connection: the
rest of the body may still be on its way); a client that disconnects mid-body gets
``IncompleteBody``. tsunagi's own server (:class:`tsunagi.gateway.httpserver.RequestBody`) and the
ASGI path (:class:`tsunagi.gateway.app._Body`) both go through :func:`next_piece`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from tsunagi.protocol.errors import ServiceError

T = TypeVar("T")


class BodySource(Protocol):
    """A request body read once, piece by piece: what any HTTP server hands :meth:`Gateway.handle`."""

    consumed: bool

    def whole(self, limit: int) -> bytes | None:
        """The rest of the body without awaiting, when all of it is there already and at most ``limit``
        bytes; else None (nothing read)."""

    async def next_chunk(self) -> bytes: ...


def body_timed_out() -> ServiceError:
    return ServiceError("Your socket connection to the server was not read from or written to within the "
                        "timeout period. Idle connections will be closed.", code="RequestTimeout",
                        headers={"connection": "close"})


def body_cut_off() -> ServiceError:
    return ServiceError("The client closed the connection before sending the whole body.", code="IncompleteBody")


async def next_piece(arrival: Awaitable[T], timeout: float | None) -> T:
    """Wait for the next piece of a body; :func:`body_timed_out` if it stalls longer than ``timeout``
    (a client that declared more body than it sends must not hold the request forever)."""
    try:
        async with asyncio.timeout(timeout):   # a timer handle, no extra task
            return await arrival
    except TimeoutError:
        raise body_timed_out() from None
