"""Browser-form uploads: ``POST /<bucket>`` with ``multipart/form-data`` and a signed policy.

botocore has no operation for this (it is not part of the API model). The gateway's S3 route reads
the form, checks its policy (:mod:`tsunagi.protocol.s3_post`) and hands :meth:`PostUploads.post_object`
PostObject's input as plain members, as PutObject's are: ``Bucket``, ``Key`` (``${filename}``
already replaced), ``Body`` (the file's bytes), ``ContentType`` and the other content members,
``Metadata``, ``Checksum<ALGORITHM>``, and ``SuccessActionStatus`` / ``SuccessActionRedirect``.

The result says how to answer: ``StatusCode`` 204 (default), 200, 201 (with the ``PostResponse``
members ``Location``, ``Bucket``, ``Key``, ``ETag``) or 303 to ``Redirect``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from tsunagi.context import RequestContext
from tsunagi.services.s3.bodies import Bodies
from tsunagi.services.s3.buckets import Buckets
from tsunagi.services.s3.common import check_key, url_encode
from tsunagi.services.s3.crypto import sse_for
from tsunagi.services.s3.objects import Objects, content_info


class PostUploads:
    def __init__(self, buckets: Buckets, bodies: Bodies, objects: Objects) -> None:
        self.buckets = buckets
        self.bodies = bodies
        self.objects = objects

    async def post_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        key = params.get("Key") or ""
        check_key(key)
        sse = sse_for(b, params)
        info = content_info(params)
        ing, sums, algos = await self.bodies.upload(params)
        info["sse"] = sse
        if algos:
            info["ck"] = {"alg": algos[0], "val": sums[algos[0]], "type": "FULL_OBJECT"}
        try:
            vid, _ = await self.objects.commit(ctx, b, key, size=ing.size, etag=ing.etag, info=info,
                                               segments=[ing.segment], event="ObjectCreated:Post")
        except BaseException:
            await self.bodies.discard(ing)
            raise
        location = f"{ctx.endpoint}/{b.name}/{url_encode(key)}"
        out: dict[str, Any] = {"Bucket": b.name, "Key": key, "ETag": ing.etag, "Location": location,
                               "ServerSideEncryption": sse}
        if b.versioning:
            out["VersionId"] = vid
        redirect = params.get("SuccessActionRedirect")
        if redirect:
            sep = "&" if "?" in redirect else "?"
            out["StatusCode"] = 303
            out["Redirect"] = redirect + sep + urlencode({"bucket": b.name, "key": key, "etag": ing.etag})
            return out
        status = params.get("SuccessActionStatus") or "204"
        out["StatusCode"] = int(status) if status in ("200", "201", "204") else 204
        return out
