"""Reading request bodies: whole (bounded by the configured limit) or, for S3 uploads, as a stream."""

from __future__ import annotations

from tsunagi.gateway.exchange import Exchange
from tsunagi.protocol.errors import RequestEntityTooLarge, ServiceError
from tsunagi.protocol.http import BodyStream, HttpRequest
from tsunagi.protocol.parse import RestParser

# The largest single S3 upload AWS accepts (PutObject, UploadPart): 5 GiB.
S3_MAX_UPLOAD = 5 * 1024 ** 3


def declared_length(request: HttpRequest, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    try:
        n = int(declared)
    except ValueError:
        raise ServiceError("Invalid Content-Length header", code="BadRequest") from None
    if n > limit:
        raise RequestEntityTooLarge(f"Request body of {n} bytes exceeds the limit of {limit} bytes")
    return n


def read_body_now(ex: Exchange, limit: int) -> bool:
    """Read the whole body into ``ex.request.body`` without awaiting when it has all arrived (most
    API calls: it came with the head): True when the body is read, False when it must be awaited
    (:func:`read_body`)."""
    body = ex.body
    if body.consumed:
        return True
    declared_length(ex.request, limit)
    data = body.whole(limit)
    if data is None:
        return False
    ex.request.body = data
    return True


async def read_body(ex: Exchange, limit: int) -> None:
    """Read the whole body into ``ex.request.body`` (at most ``limit`` bytes)."""
    body = ex.body
    if body.consumed:
        return
    request = ex.request
    declared_length(request, limit)
    chunks = []
    size = 0
    while chunk := await body.next_chunk():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def prepare_s3_body(ex: Exchange, limit: int) -> None:
    """Uploads (PutObject, UploadPart) stream; every other S3 request is read whole."""
    request = ex.request
    parser = ex.codec.parser if ex.codec is not None else None
    if request.method in ("PUT", "POST") and isinstance(parser, RestParser):
        try:
            operation = parser.match(request, ex.bucket)
        except ServiceError:
            operation = None
        if operation is not None and operation.has_streaming_input:
            length = declared_length(request, S3_MAX_UPLOAD)
            request.stream = BodyStream(ex.body.next_chunk, length, S3_MAX_UPLOAD)
            return
    await read_body(ex, limit)
