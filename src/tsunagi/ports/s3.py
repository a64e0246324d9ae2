"""What the rest of tsunagi may ask of S3 (implemented by ``services/s3/port.py``).

Callers: Lambda reading function and layer code from a bucket (``read_object``), checks that a
bucket exists (``bucket_exists``), CloudWatch Logs' export tasks (``write_object``); CloudFormation's
template and artifact reads next.
"""

from __future__ import annotations

from typing import Protocol

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.resources import ResourcePolicy


class ObjectTooLarge(Exception):
    """The object is larger than the reader would take: ``size`` bytes; nothing of it was read."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object is {size} bytes")
        self.size = size


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


S3: PortKey[S3Port] = PortKey("s3")
