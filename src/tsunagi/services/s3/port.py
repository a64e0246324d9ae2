"""S3's port: what the rest of tsunagi may ask of S3 (:class:`tsunagi.ports.s3.S3Port`)."""

from __future__ import annotations

from typing import Any

from tsunagi.context import RequestContext
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.ports.s3 import ObjectTooLarge, RequestObserver
from tsunagi.services.s3.buckets import Buckets
from tsunagi.services.s3.objects import Objects
from tsunagi.services.s3.request_metrics import RequestMetrics
from tsunagi.store.s3 import S3Repo
from tsunagi.streams import StreamingBody


class S3PortImpl:
    def __init__(self, repo: S3Repo, objects: Objects, buckets: Buckets, metrics: RequestMetrics) -> None:
        self._repo = repo
        self._objects = objects
        self._buckets = buckets
        self._metrics = metrics

    def request_metrics(self) -> RequestObserver:
        return self._metrics

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        """The bucket of a bucket or object ARN (``arn:aws:s3:::bucket/key``), its owner and its bucket policy."""
        name = arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        found = await self._buckets.owner_and_policy(name)
        return ResourcePolicy(f"arn:aws:s3:::{name}", found[0], found[1]) if found is not None else None

    async def read_object(self, ctx: RequestContext, bucket: str, key: str, version_id: str | None = None, *,
                          max_bytes: int | None = None) -> bytes:
        call = ctx.on_behalf(account=ctx.account, region=ctx.region, service="s3", operation="GetObject")
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        out = await self._objects.get_object(call, params)
        body = out.get("Body", b"")
        size = int(out.get("ContentLength") or 0)
        if max_bytes is not None and size > max_bytes:
            closing = getattr(body, "aclose", None)
            if closing is not None:
                await closing()
            raise ObjectTooLarge(size)
        if isinstance(body, bytes | bytearray):
            return bytes(body)
        return b"".join([bytes(piece) async for piece in body])

    async def write_object(self, ctx: RequestContext, bucket: str, key: str, data: bytes, *,
                           content_type: str | None = None, content_encoding: str | None = None) -> None:
        call = ctx.on_behalf(account=ctx.account, region=ctx.region, service="s3", operation="PutObject")
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": StreamingBody.of(data)}
        if content_type:
            params["ContentType"] = content_type
        if content_encoding:
            params["ContentEncoding"] = content_encoding
        await self._objects.put_object(call, params)

    async def bucket_exists(self, name: str) -> bool:
        return await self._repo.bucket(name) is not None

    async def bucket_region(self, name: str) -> str | None:
        row = await self._repo.bucket(name)
        return row.region if row is not None else None
