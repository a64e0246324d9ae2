"""What the rest of tsunagi may ask of S3 (implemented by ``services/s3/port.py``).

Callers: Lambda reading function and layer code from a bucket (``read_object``), checks that a
bucket exists (``bucket_exists``), CloudWatch Logs' export tasks (``write_object``), the gateway telling
S3 of each answered request for its request metrics (``request_metrics``); CloudFormation's template and
artifact reads next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.resources import ResourcePolicy


class ObjectTooLarge(Exception):
    """The object is larger than the reader would take: ``size`` bytes; nothing of it was read."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object is {size} bytes")
        self.size = size


@dataclass(slots=True)
class Observed:
    """One answered S3 request, as the gateway saw it (for the bucket's AWS/S3 request metrics)."""

    operation: str                # botocore's name (PostObject for a browser-form upload)
    method: str                   # the HTTP method
    params: Mapping[str, Any]     # the operation's parameters (Key, Delete …); empty when it was not parsed
    status: int
    uploaded: int                 # the request body's bytes (0: none)
    downloaded: int               # the response body's bytes (0: none)
    first_byte_ms: float          # from the request's arrival until its answer was ready
    total_ms: float               # until the answer's last byte was handed to the connection


class RequestObserver(Protocol):
    """S3's request metrics, told of every answered S3 request by the gateway; synchronous and cheap."""

    def watching(self, bucket: str) -> bool:
        """Whether ``bucket``'s requests are counted (it has a metrics configuration): a cached lookup."""
        ...

    def observe(self, bucket: str, seen: Observed) -> None:
        """Count one answered request to a bucket :meth:`watching` said yes to."""
        ...


class S3Port(Protocol):
    async def read_object(self, ctx: RequestContext, bucket: str, key: str, version_id: str | None = None, *,
                          max_bytes: int | None = None) -> bytes:
        """A whole object's bytes, read as ``ctx``'s principal (GetObject's errors: NoSuchBucket,
        NoSuchKey, AccessDenied, …). ``max_bytes``: an object larger than that raises
        :class:`ObjectTooLarge` before any of it is read."""
        ...

    async def write_object(self, ctx: RequestContext, bucket: str, key: str, data: bytes, *,
                           content_type: str | None = None, content_encoding: str | None = None) -> None:
        """Write a whole object as ``ctx``'s principal, as PutObject does (its errors: NoSuchBucket, …;
        the bucket's default encryption and notifications apply)."""
        ...

    async def bucket_exists(self, name: str) -> bool:
        ...

    async def bucket_region(self, name: str) -> str | None:
        """The region a bucket is in, None when there is no such bucket."""
        ...

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        """The bucket (or object) ``arn`` names, its owner and its policy (the gateway's authorize step), or None."""
        ...

    def request_metrics(self) -> RequestObserver:
        """What the gateway tells of each answered S3 request (AWS/S3 request metrics)."""
        ...


S3: PortKey[S3Port] = PortKey("s3")
