"""The wire form of S3's browser-form uploads (``POST /<bucket>``, multipart/form-data).

botocore's model has no operation for them, so the gateway recognizes the request with
:func:`is_post_upload` and writes the answer with :func:`post_response` from the result of
``S3Service.post_object``: 204 or 200 with no body, 201 with a ``PostResponse`` document, or a
303 redirect to ``success_action_redirect``.
"""

from __future__ import annotations

from typing import Any

from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.protocol.serialize import xml_escape


def is_post_upload(request: HttpRequest, bucket_from_host: str | None) -> str | None:
    """The bucket a form upload is posted to, or None if the request is not one."""
    if request.method != "POST" or not request.content_type.lower().startswith("multipart/form-data"):
        return None
    parts = [p for p in request.path.split("?", 1)[0].split("/") if p]
    if bucket_from_host:
        return bucket_from_host if not parts else None
    return parts[0] if len(parts) == 1 else None


def post_response(result: dict[str, Any], request_id: str) -> HttpResponse:
    status = int(result.get("StatusCode") or 204)
    headers = [("x-amz-request-id", request_id), ("x-amz-id-2", request_id)]
    for member, header in (("ETag", "ETag"), ("VersionId", "x-amz-version-id"),
                           ("ServerSideEncryption", "x-amz-server-side-encryption")):
        if result.get(member):
            headers.append((header, str(result[member])))
    if status == 303:
        headers.append(("Location", str(result["Redirect"])))
        return HttpResponse(303, headers, b"")
    if result.get("Location"):
        headers.append(("Location", str(result["Location"])))
    if status != 201:
        return HttpResponse(status, headers, b"")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
            + "".join(f"<{k}>{xml_escape(str(result[k]))}</{k}>" for k in ("Location", "Bucket", "Key", "ETag")
                      if result.get(k) is not None)
            + "</PostResponse>").encode()
    headers.append(("Content-Type", "application/xml"))
    return HttpResponse(201, headers, body)
