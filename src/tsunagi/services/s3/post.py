"""Browser-form uploads: ``POST /<bucket>`` with ``multipart/form-data`` and a signed policy.

botocore has no operation for this (it is not part of the API model): the gateway hands the
request to :meth:`PostOps.post_object` with ``params = {"Bucket": name}`` and the raw request on
``ctx.request``. The result says how to answer: ``StatusCode`` 204 (default), 200, 201 (with the
``PostResponse`` XML members ``Location``, ``Bucket``, ``Key``, ``ETag``) or 303 to ``Redirect``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tsunagi.protocol.presign import parse_form, verify_post_policy
from tsunagi.services.s3.common import check_key, parse_tagging_header, url_encode
from tsunagi.services.s3.errors import invalid_argument
from tsunagi.services.s3.objects import content_info

if TYPE_CHECKING:
    from tsunagi.services.base import RequestContext

_FIELD_MEMBERS = {"content-type": "ContentType", "cache-control": "CacheControl",
                  "content-disposition": "ContentDisposition", "content-encoding": "ContentEncoding",
                  "content-language": "ContentLanguage", "x-amz-storage-class": "StorageClass",
                  "x-amz-website-redirect-location": "WebsiteRedirectLocation",
                  "x-amz-server-side-encryption": "ServerSideEncryption",
                  "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId"}


def _no_secret(access_key: str) -> None:
    return None


class PostOps:
    repo: Any

    async def post_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from tsunagi.services.s3.service import secret_for

        request = ctx.request
        if request is None:
            raise invalid_argument("POST requires multipart/form-data encoding")
        b = await self.bucket(ctx, params.get("Bucket"))  # type: ignore[attr-defined]
        fields, file = parse_form(request.body, request.content_type)
        if file is None:
            raise invalid_argument("POST requires exactly one file upload per request.", "file", "0")
        if "key" not in fields:
            raise invalid_argument("Bucket POST must contain a field named 'key'.  If it is specified, please check "
                                   "the order of the fields.", "key", "")
        key = fields["key"].replace("${filename}", file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
        check_key(key)
        # under --auth strict the gateway has checked the policy's signature against the key's real secret
        lookup = _no_secret if self.platform.config.strict_auth else secret_for  # type: ignore[attr-defined]
        verify_post_policy(fields, b.name, len(file.data), self.clock.now(), lookup)  # type: ignore[attr-defined]
        wparams: dict[str, Any] = {member: fields[f] for f, member in _FIELD_MEMBERS.items() if fields.get(f)}
        if "ContentType" not in wparams and file.content_type:
            wparams["ContentType"] = file.content_type
        meta = {k[len("x-amz-meta-"):]: v for k, v in fields.items() if k.startswith("x-amz-meta-")}
        if meta:
            wparams["Metadata"] = meta
        for name, value in fields.items():
            if name.startswith("x-amz-checksum-"):
                wparams["Checksum" + name[len("x-amz-checksum-"):].upper()] = value
        sse = self.sse_for(b, wparams)  # type: ignore[attr-defined]
        info = content_info(wparams)
        tags = parse_tagging_header(None)
        algos = self.wanted_checksums(ctx, wparams)  # type: ignore[attr-defined]

        async def one() -> Any:
            yield file.data

        ing = await self.ingest(one(), encrypt=True, algorithms=algos)  # type: ignore[attr-defined]
        sums = await self.validate_upload(ing, wparams, len(file.data))  # type: ignore[attr-defined]
        info["sse"] = sse
        if tags:
            info["tags"] = tags
        if algos:
            info["ck"] = {"alg": algos[0], "val": sums[algos[0]], "type": "FULL_OBJECT"}
        try:
            vid, _ = await self.commit(ctx, b, key, size=ing.size, etag=ing.etag, info=info,  # type: ignore[attr-defined]
                                       segments=[ing.segment], event="ObjectCreated:Post")
        except BaseException:
            await self.blobs.delete([ing.segment["b"]])  # type: ignore[attr-defined]
            raise
        location = f"{ctx.scheme}://{request.host}/{b.name}/{url_encode(key)}"
        out: dict[str, Any] = {"Bucket": b.name, "Key": key, "ETag": ing.etag, "Location": location,
                               "ServerSideEncryption": sse}
        if b.versioning:
            out["VersionId"] = vid
        redirect = fields.get("success_action_redirect") or fields.get("redirect")
        if redirect:
            sep = "&" if "?" in redirect else "?"
            out["StatusCode"] = 303
            out["Redirect"] = redirect + sep + urlencode({"bucket": b.name, "key": key, "etag": ing.etag})
            return out
        status = fields.get("success_action_status", "204")
        out["StatusCode"] = int(status) if status in ("200", "201", "204") else 204
        return out
