"""S3's port: what the rest of tsunagi may ask of S3 (:class:`tsunagi.ports.s3.S3Port`)."""

from __future__ import annotations

from typing import Any

from tsunagi.context import RequestContext
from tsunagi.services.s3.objects import Objects
from tsunagi.store.s3 import S3Repo


class S3PortImpl:
    def __init__(self, repo: S3Repo, objects: Objects) -> None:
        self._repo = repo
        self._objects = objects

    async def read_object(self, ctx: RequestContext, bucket: str, key: str, version_id: str | None = None) -> bytes:
        call = ctx.on_behalf(account=ctx.account, region=ctx.region, service="s3", operation="GetObject")
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        out = await self._objects.get_object(call, params)
        body = out.get("Body", b"")
        if isinstance(body, bytes | bytearray):
            return bytes(body)
        return b"".join([bytes(piece) async for piece in body])

    async def bucket_exists(self, name: str) -> bool:
        return await self._repo.bucket(name) is not None
