"""Telling S3 of each answered request, for its AWS/S3 request metrics (``services/s3/request_metrics.py``
decides what counts; the gateway knows the status, the bytes each way and the times).

A request to a bucket without a metrics configuration costs a cached lookup (``watching``). For one
with, a streamed answer (GetObject's body) is counted when its last byte has been handed to the
connection, so that BytesDownloaded and TotalRequestLatency cover what was sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from tsunagi.gateway.exchange import Exchange
from tsunagi.ports.s3 import Observed, RequestObserver
from tsunagi.protocol.http import HttpRequest, HttpResponse

_EMPTY: dict[str, Any] = {}


def observe_s3(ex: Exchange, response: HttpResponse, observer: RequestObserver) -> None:
    """Count ``response``, the answer to an S3 request, if its bucket has a metrics configuration."""
    params = ex.params
    bucket = params.get("Bucket") if params is not None else ex.bucket
    if not bucket or not isinstance(bucket, str) or not observer.watching(bucket):
        return
    request = ex.request
    now = time.monotonic()
    started = ex.started or now
    first_byte_ms = (now - started) * 1000.0
    operation = ex.operation.name if ex.operation is not None else (ex.ctx.operation if ex.ctx is not None else "")
    uploaded = _uploaded(request)
    stream = response.stream
    if stream is None:
        observer.observe(bucket, Observed(operation, request.method, params or _EMPTY, response.status, uploaded,
                                          len(response.body), first_byte_ms, first_byte_ms))
        return
    response.stream = _Counted(stream, observer, bucket, operation, request.method, params or _EMPTY,
                               response.status, uploaded, first_byte_ms, started)


def _uploaded(request: HttpRequest) -> int:
    """The bytes of the request's body (an aws-chunked upload's decoded length), 0 when it has none."""
    headers = request.headers
    declared = headers.get("x-amz-decoded-content-length") or headers.get("content-length")
    if declared:
        try:
            return max(int(declared), 0)
        except ValueError:
            return 0
    return len(request.body)


class _Counted:
    """A streamed answer passed through, counted once it ends (sent whole, failed or cut off)."""

    __slots__ = ("_inner", "_observer", "_bucket", "_operation", "_method", "_params", "_status", "_uploaded",
                 "_first_byte_ms", "_started", "_sent", "_done")

    def __init__(self, inner: AsyncIterator[bytes], observer: RequestObserver, bucket: str, operation: str,
                 method: str, params: Any, status: int, uploaded: int, first_byte_ms: float, started: float) -> None:
        self._inner = inner
        self._observer = observer
        self._bucket = bucket
        self._operation = operation
        self._method = method
        self._params = params
        self._status = status
        self._uploaded = uploaded
        self._first_byte_ms = first_byte_ms
        self._started = started
        self._sent = 0
        self._done = False

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._inner.__anext__()
        except BaseException:
            self._finish()
            raise
        self._sent += len(chunk)
        return chunk

    async def aclose(self) -> None:
        try:
            closing = getattr(self._inner, "aclose", None)
            if closing is not None:
                await closing()
        finally:
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        total_ms = (time.monotonic() - self._started) * 1000.0
        self._observer.observe(self._bucket, Observed(
            self._operation, self._method, self._params, self._status, self._uploaded, self._sent,
            self._first_byte_ms, max(total_ms, self._first_byte_ms)))
