"""The wire form of S3's browser-form uploads (``POST /<bucket>``, multipart/form-data).

botocore's model has no operation for them, so the gateway recognizes the request with
:func:`is_post_upload`, reads the form and checks its policy with :func:`post_params` (which gives
S3's ``PostObject`` its input as plain members), and writes the answer with :func:`post_response`
from the result: 204 or 200 with no body, 201 with a ``PostResponse`` document, or a 303 redirect
to ``success_action_redirect``.
"""

from __future__ import annotations

from typing import Any

from tsunagi.protocol.aws_chunked import strip_aws_chunked
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.protocol.presign import SecretLookup, parse_form, verify_post_policy
from tsunagi.protocol.serialize import xml_escape

# form fields that are PostObject members (as PutObject's headers are PutObject's)
_FIELD_MEMBERS = {"content-type": "ContentType", "cache-control": "CacheControl",
                  "content-disposition": "ContentDisposition", "content-encoding": "ContentEncoding",
                  "content-language": "ContentLanguage", "x-amz-storage-class": "StorageClass",
                  "x-amz-website-redirect-location": "WebsiteRedirectLocation",
                  "x-amz-server-side-encryption": "ServerSideEncryption",
                  "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId"}


def is_post_upload(request: HttpRequest, bucket_from_host: str | None) -> str | None:
    """The bucket a form upload is posted to, or None if the request is not one."""
    if request.method != "POST" or not request.content_type.lower().startswith("multipart/form-data"):
        return None
    parts = [p for p in request.path.split("?", 1)[0].split("/") if p]
    if bucket_from_host:
        return bucket_from_host if not parts else None
    return parts[0] if len(parts) == 1 else None


def _invalid_argument(message: str, name: str, value: str) -> ServiceError:
    return ServiceError(message, code="InvalidArgument", status=400, ArgumentName=name, ArgumentValue=value)


def post_params(request: HttpRequest, bucket: str, now: float, secret_for: SecretLookup) -> dict[str, Any]:
    """A form upload read and its policy checked (expiry, signature, conditions): PostObject's input.

    The policy's conditions are checked against the fields as sent (``key`` with ``${filename}``);
    the ``Key`` member has ``${filename}`` replaced by the file's name."""
    fields, file = parse_form(request.body, request.content_type)
    if file is None:
        raise _invalid_argument("POST requires exactly one file upload per request.", "file", "0")
    if "key" not in fields:
        raise _invalid_argument("Bucket POST must contain a field named 'key'.  If it is specified, please check "
                                "the order of the fields.", "key", "")
    key = fields["key"].replace("${filename}", file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    verify_post_policy(fields, bucket, len(file.data), now, secret_for)
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": file.data}
    params.update({member: fields[f] for f, member in _FIELD_MEMBERS.items() if fields.get(f)})
    if "ContentEncoding" in params:
        encoding = strip_aws_chunked(params["ContentEncoding"])
        if encoding:
            params["ContentEncoding"] = encoding
        else:
            del params["ContentEncoding"]
    if "ContentType" not in params and file.content_type:
        params["ContentType"] = file.content_type
    meta = {k[len("x-amz-meta-"):]: v for k, v in fields.items() if k.startswith("x-amz-meta-")}
    if meta:
        params["Metadata"] = meta
    for name, value in fields.items():
        if name.startswith("x-amz-checksum-"):
            params["Checksum" + name[len("x-amz-checksum-"):].upper()] = value
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        params["SuccessActionRedirect"] = redirect
    if "success_action_status" in fields:
        params["SuccessActionStatus"] = fields["success_action_status"]
    return params


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
