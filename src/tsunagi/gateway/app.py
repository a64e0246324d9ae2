"""The ASGI application: one endpoint for every service.

The request pipeline is a readable list of steps, each a small method:

    read body (size limit) → internal routes → credential → service → authenticate
    → protocol parser → service method → protocol serializer → response
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from botocore import xform_name
from botocore.model import OperationModel

from tsunagi.gateway.body import BodySource, body_cut_off, next_piece
from tsunagi.gateway.identity import Authenticator, Principal, StrictAuthenticator, read_credential
from tsunagi.gateway.routing import resolve_service, sqs_protocol
from tsunagi.ids import uuid4
from tsunagi.protocol.errors import (
    InternalFailure,
    NotImplementedOperation,
    RequestEntityTooLarge,
    ServiceError,
    ServiceUnavailable,
)
from tsunagi.protocol.http import BodyStream, BodyTooLarge, HttpRequest, HttpResponse
from tsunagi.protocol.parse import create_parser, s3_bucket_from_host
from tsunagi.protocol.s3_post import is_post_upload, post_response
from tsunagi.protocol.serialize import create_serializer
from tsunagi.protocol.specs import service_model
from tsunagi.services.base import Platform, RequestContext, Service

log = logging.getLogger("tsunagi.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# The largest single S3 upload AWS accepts (PutObject, UploadPart): 5 GiB.
S3_MAX_UPLOAD = 5 * 1024 ** 3


class _Body:
    """The request body as the ASGI server delivers it, read once: whole or as a stream."""

    __slots__ = ("_receive", "consumed", "timeout")

    def __init__(self, receive: Receive | None, timeout: float | None = None) -> None:
        self._receive = receive
        self.consumed = receive is None
        self.timeout = timeout   # seconds the body may stall before the request fails

    @classmethod
    def done(cls) -> _Body:
        return cls(None)

    async def next_chunk(self) -> bytes:
        while not self.consumed:
            assert self._receive is not None
            try:
                message = await next_piece(self._receive(), self.timeout)
            except ServiceError:
                self.consumed = True
                raise
            if message["type"] == "http.disconnect":
                self.consumed = True
                raise body_cut_off()
            if not message.get("more_body", False):
                self.consumed = True
            chunk = message.get("body", b"")
            if chunk:
                return chunk
        return b""


class _Codec:
    """A service's parser and serializer for one protocol, built once."""

    __slots__ = ("parser", "serializer")

    def __init__(self, service: str, protocol: str | None) -> None:
        model = service_model(service)
        self.parser = create_parser(model, protocol=protocol)
        self.serializer = create_serializer(model, protocol=protocol)


class Gateway:
    """Every request, whatever server delivers it: ``handle()`` is the whole pipeline. tsunagi's own
    HTTP server (:mod:`tsunagi.gateway.httpserver`) calls it directly; the gateway is also an ASGI
    application (``__call__``), so any ASGI server can host it."""

    def __init__(self, platform: Platform, *, on_startup: Callable[[], Awaitable[None]] | None = None,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        self.platform = platform
        config = platform.config
        self.max_body = config.max_body_bytes
        self.body_timeout = getattr(config, "body_timeout", None)
        self.default_region = config.default_region
        self.authenticator: Authenticator = (
            StrictAuthenticator(config.default_account) if config.auth == "strict"
            else Authenticator(config.default_account))
        self._codecs: dict[tuple[str, str | None], _Codec] = {}
        self._methods: dict[tuple[str, str], Callable[..., Awaitable[dict[str, Any]]] | None] = {}
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self.ready = False
        self.started_at = time.time()

    # -- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            response = await self.handle_asgi(scope, receive)
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
            stream = response.stream
            if stream is None and not any(k.lower() == "content-length" for k, _ in response.headers):
                headers.append((b"content-length", str(len(response.body)).encode()))
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            if stream is None:
                await send({"type": "http.response.body", "body": response.body})
            else:
                try:
                    async for chunk in stream:
                        if chunk:
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finally:
                    aclose = getattr(stream, "aclose", None)
                    if aclose is not None:
                        await aclose()
                await send({"type": "http.response.body", "body": b""})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        """Open the store and start the services; then the health check says ready."""
        if self._on_startup:
            await self._on_startup()
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        if self._on_shutdown:
            await self._on_shutdown()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:
                    log.error("startup failed: %s", e)
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle_asgi(self, scope: Scope, receive: Receive) -> HttpResponse:
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            key = k.decode("latin-1").lower()
            val = v.decode("latin-1")
            headers[key] = f"{headers[key]},{val}" if key in headers else val
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        path = path.split("?", 1)[0]
        request = HttpRequest(scope["method"], path, scope.get("query_string", b"").decode("latin-1"), headers)
        client = scope.get("client")
        request_id = uuid4()
        return await self.handle(request, request_id, client[0] if client else "127.0.0.1",
                                 _Body(receive, self.body_timeout))

    def _declared_length(self, request: HttpRequest, limit: int) -> int | None:
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

    async def _read_body(self, request: HttpRequest, body: BodySource) -> None:
        """Read the whole body into ``request.body`` (bounded by the configured limit)."""
        if body.consumed:
            return
        self._declared_length(request, self.max_body)
        chunks = []
        size = 0
        while chunk := await body.next_chunk():
            size += len(chunk)
            if size > self.max_body:
                raise RequestEntityTooLarge(f"Request body exceeds the limit of {self.max_body} bytes")
            chunks.append(chunk)
        request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _prepare_s3_body(self, request: HttpRequest, body: BodySource, codec: _Codec, bucket: str | None) -> None:
        """Uploads (PutObject, UploadPart) stream; every other S3 request is read whole."""
        if request.method in ("PUT", "POST"):
            try:
                operation = codec.parser.match(request, bucket)  # type: ignore[attr-defined]
            except ServiceError:
                operation = None
            if operation is not None and operation.has_streaming_input:
                length = self._declared_length(request, S3_MAX_UPLOAD)
                request.stream = BodyStream(body.next_chunk, length, S3_MAX_UPLOAD)
                return
        await self._read_body(request, body)

    # -- the pipeline ----------------------------------------------------------------------------
    async def handle(self, request: HttpRequest, request_id: str, source_ip: str = "127.0.0.1",
                     body: BodySource | None = None) -> HttpResponse:
        """Serve one request. ``body`` reads the request body when it has not been read into ``request.body``."""
        body = body or _Body.done()
        response = await self._serve(request, request_id, source_ip, body)
        if not body.consumed and (request.headers.get("content-length", "0") != "0"
                                  or "transfer-encoding" in request.headers):
            # Answered before the body was read (a refused upload): a client that sent
            # ``Expect: 100-continue`` will not send it, so the connection cannot carry another request.
            response.headers.append(("connection", "close"))
        return response

    async def _serve(self, request: HttpRequest, request_id: str, source_ip: str, body: BodySource) -> HttpResponse:
        try:
            if request.path.startswith("/_tsunagi/"):
                await self._read_body(request, body)
                return await self._internal(request)
            if request.method == "POST" and request.content_type.startswith("application/x-www-form-urlencoded"):
                await self._read_body(request, body)  # the Action may be in the form
        except ServiceError as e:
            return self._plain_error(e, request_id)
        cred = read_credential(request)
        service = resolve_service(request, cred)
        if service is None or service not in self.platform.services:
            return self._unrouted(request, service, request_id)
        protocol = sqs_protocol(request) if service == "sqs" else None
        codec = self._codec(service, protocol)
        operation: OperationModel | None = None
        try:
            if service == "s3":
                bucket = s3_bucket_from_host(request.host)
                form_bucket = is_post_upload(request, bucket)
                if form_bucket:  # a browser-form upload: not an operation of the model
                    await self._read_body(request, body)
                    principal = self.authenticator.authenticate(request, cred)
                    ctx = self._context(request, request_id, service, "PostObject", principal, cred.region,
                                        source_ip)
                    result = await self._method(service, "PostObject")(ctx, {"Bucket": form_bucket})
                    return post_response(result, request_id)
                await self._prepare_s3_body(request, body, codec, bucket)
            else:
                bucket = None
                await self._read_body(request, body)
            principal = self.authenticator.authenticate(request, cred)
            operation, params = codec.parser.parse(request, bucket) if bucket else codec.parser.parse(request)
            ctx = self._context(request, request_id, service, operation.name, principal, cred.region, source_ip)
            method = self._method(service, operation.name)
            result = await method(ctx, params)
            return codec.serializer.serialize_result(operation, result, request_id)
        except ServiceError as e:
            return codec.serializer.serialize_error(e, operation, request_id)
        except BodyTooLarge as e:
            return codec.serializer.serialize_error(ServiceError(
                "Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge",
                MaxSizeAllowed=str(e.limit)), operation, request_id)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            unavailable = _store_unavailable(e)
            if unavailable is not None:
                log.warning("%s.%s (request %s) failed: %s: %s", service, operation.name if operation else "?",
                            request_id, unavailable, e)
                return codec.serializer.serialize_error(ServiceUnavailable(
                    _UNAVAILABLE_MESSAGES[unavailable]), operation, request_id)
            log.error("unexpected error in %s.%s (request %s)\n%s", service,
                      operation.name if operation else "?", request_id, traceback.format_exc())
            return codec.serializer.serialize_error(
                InternalFailure(f"The server encountered an internal error ({type(e).__name__}); "
                                f"request {request_id} is in the server log."), operation, request_id)

    def _context(self, request: HttpRequest, request_id: str, service: str, operation: str,
                 principal: Principal, region: str | None, source_ip: str) -> RequestContext:
        return RequestContext(
            account=principal.account, region=region or self.default_region, request_id=request_id,
            service=service, operation=operation, host=request.headers.get("host", "localhost:4566"),
            scheme=request.headers.get("x-forwarded-proto", "http"), access_key_id=principal.access_key_id,
            principal_arn=principal.arn, trace_header=request.headers.get("x-amzn-trace-id"),
            source_ip=source_ip, request=request)

    def _codec(self, service: str, protocol: str | None) -> _Codec:
        key = (service, protocol)
        codec = self._codecs.get(key)
        if codec is None:
            codec = self._codecs[key] = _Codec(service, protocol)
        return codec

    def _method(self, service: str, operation: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        key = (service, operation)
        try:
            method = self._methods[key]
        except KeyError:
            impl: Service = self.platform.services[service]
            method = self._methods[key] = getattr(impl, xform_name(operation), None)
        if method is None:
            raise NotImplementedOperation(f"{operation} is not available in tsunagi's {service} service yet.",
                                          code="NotImplemented")
        return method

    def _unrouted(self, request: HttpRequest, service: str | None, request_id: str) -> HttpResponse:
        if service is None:
            message = (f"tsunagi could not tell which AWS service {request.method} {request.path} is for: "
                       "sign the request (SigV4) or send X-Amz-Target or Action.")
            code, status = "UnrecognizedRequest", 400
        else:
            message = f"The {service} service is not available in this tsunagi server."
            code, status = "NotImplemented", 501
        body = orjson.dumps({"__type": code, "message": message, "RequestId": request_id})
        return HttpResponse(status, [("content-type", "application/json"), ("x-amzn-requestid", request_id)], body)

    def _plain_error(self, e: ServiceError, request_id: str) -> HttpResponse:
        body = orjson.dumps({"__type": e.code, "message": e.message, "RequestId": request_id})
        headers = [("content-type", "application/json"), ("x-amzn-requestid", request_id), *e.headers.items()]
        return HttpResponse(e.status, headers, body)

    # -- /_tsunagi/ ----------------------------------------------------------------------------
    async def _internal(self, request: HttpRequest) -> HttpResponse:
        path = request.path.rstrip("/")
        if path == "/_tsunagi/health" and request.method in ("GET", "HEAD"):
            status = 200 if self.ready else 503
            body = {
                "status": "ready" if self.ready else "starting",
                "version": _version(),
                "services": {name: "running" for name in sorted(self.platform.services)},
                "store": self.platform.store.describe(),
                "uptime_seconds": round(time.time() - self.started_at, 3),
            }
            return HttpResponse(status, list(_JSON_STR), orjson.dumps(body))
        if path == "/_tsunagi/reset" and request.method == "POST":
            if self.platform.config.auth == "strict":
                try:
                    principal = self.authenticator.authenticate(request, read_credential(request))
                except ServiceError as e:
                    return self._plain_error(e, uuid4())
                if not principal.arn.endswith(":root"):
                    return self._plain_error(ServiceError("Only the account root may reset tsunagi.",
                                                          code="AccessDenied", status=403), uuid4())
            await self.platform.reset()
            return HttpResponse(200, list(_JSON_STR), orjson.dumps({"reset": True}))
        for prefix in sorted(self.platform.internal_routes, key=len, reverse=True):
            if request.path.startswith(prefix):
                try:
                    return await self.platform.internal_routes[prefix](request)
                except ServiceError as e:
                    return self._plain_error(e, uuid4())
        return HttpResponse(404, list(_JSON_STR), orjson.dumps(
            {"__type": "NotFound", "message": f"No internal endpoint {request.method} {request.path}"}))


_JSON_STR = [("content-type", "application/json")]

_UNAVAILABLE_MESSAGES = {
    "disk full": "tsunagi's data directory is out of disk space, so the change was not saved. "
                 "Free some space and retry.",
    "store unreachable": "tsunagi lost its connection to the database while serving this request. "
                         "Retry; the server reconnects by itself.",
}


def _store_unavailable(e: BaseException) -> str | None:
    """``"disk full"`` or ``"store unreachable"`` when ``e`` (or what caused it) is the machine failing
    rather than the request: those become 503 ServiceUnavailable, which SDKs retry, not a 500."""
    cur: BaseException | None = e
    for _ in range(6):
        if cur is None:
            return None
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return "disk full"
        text = str(cur)
        if "database or disk is full" in text or "No space left on device" in text:
            return "disk full"
        names = {(c.__module__.split(".")[0], c.__name__) for c in type(cur).__mro__}
        if ("psycopg", "DiskFull") in names:
            return "disk full"
        if ("psycopg", "OperationalError") in names or ("psycopg_pool", "PoolTimeout") in names:
            return "store unreachable"
        cur = cur.__cause__ or cur.__context__
    return None


def _version() -> str:
    from tsunagi import __version__

    return __version__
