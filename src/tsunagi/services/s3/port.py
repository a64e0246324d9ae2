"""S3's port: what the rest of tsunagi may ask of S3 (:class:`tsunagi.ports.s3.S3Port`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tsunagi.context import RequestContext

if TYPE_CHECKING:
    from tsunagi.services.s3.service import S3Service


class S3PortImpl:
    def __init__(self, service: S3Service) -> None:
        self._svc = service

    async def read_object(self, ctx: RequestContext, bucket: str, key: str, version_id: str | None = None) -> bytes:
        call = ctx.on_behalf(account=ctx.account, region=ctx.region, service="s3", operation="GetObject")
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        out = await self._svc.get_object(call, params)
        body = out.get("Body", b"")
        if isinstance(body, bytes | bytearray):
            return bytes(body)
        return b"".join([bytes(piece) async for piece in body])

    async def bucket_exists(self, name: str) -> bool:
        return await self._svc.repo.bucket(name) is not None
