"""What the gateway answers when a step fails: AWS's error, in the service's wire format when the
service is known, never a traceback.

- a :class:`~tsunagi.protocol.errors.ServiceError` is the answer itself;
- an upload past its limit is S3's ``EntityTooLarge``;
- the store's typed errors (:mod:`tsunagi.store.base`) are the machine failing, not the request:
  503 ``ServiceUnavailable``, which SDKs retry (a full disk, a lost database, a lock held too long);
- anything else is a 500 ``InternalFailure`` naming the request id; the traceback goes to the log.
"""

from __future__ import annotations

import errno
import logging
import traceback

import orjson

from tsunagi.gateway.exchange import Exchange
from tsunagi.protocol.errors import InternalFailure, ServiceError, ServiceUnavailable
from tsunagi.protocol.http import BodyTooLarge, HttpResponse
from tsunagi.store.base import StoreBusy, StoreError, StoreFull, StoreUnavailable

log = logging.getLogger("tsunagi.gateway")

UNAVAILABLE = {
    StoreFull: "tsunagi's data directory is out of disk space, so the change was not saved. "
               "Free some space and retry.",
    StoreUnavailable: "tsunagi lost its connection to the database while serving this request. "
                      "Retry; the server reconnects by itself.",
    StoreBusy: "tsunagi's database was busy with another writer for too long. Retry.",
}


def store_trouble(exc: BaseException) -> type[StoreError] | None:
    """The typed store error that caused ``exc`` (it or its cause), when it is the machine failing."""
    cur: BaseException | None = exc
    for _ in range(6):
        if cur is None:
            return None
        for kind in UNAVAILABLE:
            if isinstance(cur, kind):
                return kind
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreFull      # a full disk outside the store (function code, temporary files)
        cur = cur.__cause__ or cur.__context__
    return None


def plain_error(e: ServiceError, request_id: str) -> HttpResponse:
    """A JSON error for requests no service's format applies to (unrouted, internal endpoints)."""
    body = orjson.dumps({"__type": e.code, "message": e.message, "RequestId": request_id})
    headers = [("content-type", "application/json"), ("x-amzn-requestid", request_id), *e.headers.items()]
    return HttpResponse(e.status, headers, body)


def error_response(ex: Exchange, exc: Exception) -> HttpResponse:
    if isinstance(exc, BodyTooLarge):
        error = ServiceError("Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge",
                             MaxSizeAllowed=str(exc.limit))
    elif isinstance(exc, ServiceError):
        error = exc
    else:
        trouble = store_trouble(exc)
        if trouble is not None:
            log.warning("%s.%s (request %s) failed: %s: %s", ex.service or "?", ex.operation_name, ex.request_id,
                        trouble.__name__, exc)
            error = ServiceUnavailable(UNAVAILABLE[trouble])
        else:
            log.error("unexpected error in %s.%s (request %s)\n%s", ex.service or "?", ex.operation_name,
                      ex.request_id, traceback.format_exc())
            error = InternalFailure(f"The server encountered an internal error ({type(exc).__name__}); "
                                    f"request {ex.request_id} is in the server log.")
    if ex.codec is not None and ex.route is None:
        return ex.codec.serializer.serialize_error(error, ex.operation, ex.request_id)
    return plain_error(error, ex.request_id)
