"""The gateway's steps, in the order a request meets them::

    guard → route → authenticate → parse → trace context → authorize → dispatch → serialize   (then log)

(the guard, which refuses hosts tsunagi does not serve and other sites' pages, is in
:mod:`tsunagi.gateway.guard`.)

Each is a small class with a ``name`` and ``async __call__(exchange)``, testable alone with a
hand-made :class:`~tsunagi.gateway.exchange.Exchange`. A step that has the answer (a raw route,
an unrouted request) sets ``exchange.response`` and the chain stops; an exception becomes the
error answer (:mod:`tsunagi.gateway.errors`); the log step runs in every case.

Authorization comes after parsing, not before: a policy names an action *and a resource*, and the
resource (the queue of a QueueUrl, the bucket and key of a path) is known only once the request is
parsed; it comes after the trace context, whose region and journey the resource lookups carry. The
policy checks themselves are :mod:`tsunagi.gateway.authorize`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from tsunagi.context import Principal, RequestContext
from tsunagi.gateway.bodies import prepare_s3_body, read_body, read_body_now
from tsunagi.gateway.codecs import Codecs, Operation
from tsunagi.gateway.exchange import Exchange, RouteHandler
from tsunagi.gateway.identity import Authenticator, read_credential, secret_for
from tsunagi.gateway.routes import RouteRegistry
from tsunagi.gateway.routing import PROTOCOL_OF, has_action, resolve_service
from tsunagi.protocol.errors import NotImplementedOperation, ServiceError
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.protocol.parse import s3_bucket_from_host
from tsunagi.protocol.presign import is_presigned, verify_presigned_url
from tsunagi.trace import root_of

if TYPE_CHECKING:
    from tsunagi.clock import Clock
    from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi.gateway")
access_log = logging.getLogger("tsunagi.access")


# A step answers None when it is done, or an awaitable to await (steps that wait on I/O are coroutines;
# the others are plain functions, which saves every request a coroutine per step). What the awaitable
# produces, when it is not None, is the operation's result: dispatch hands over the service's coroutine
# itself instead of wrapping it in one of its own.
StepFn = Callable[[Exchange], Awaitable[Any] | None]


class Route:
    """Which service and operation family a request is for, or which raw route answers it; reads the
    body the way that service needs it (whole, or as a stream for S3 uploads)."""

    name = "route"

    def __init__(self, platform: Platform, routes: RouteRegistry, codecs: Codecs) -> None:
        self.platform = platform
        self.routes = routes
        self.codecs = codecs
        self.max_body = platform.config.max_body_bytes

    def __call__(self, ex: Exchange) -> Awaitable[None] | None:
        """A raw route's answer, or the service and its codec and then the body, read as the service
        needs it (the coroutine that reads it is handed to the chain to await)."""
        request = ex.request
        headers = request.headers
        ctype = headers.get("content-type", "")
        routes = self.routes
        root = routes.root_filter
        # (RouteRegistry.claims_root, inline: an API call to "/" is claimed by no route)
        if request.path != "/" or root is None or ctype.lower().startswith(root.get(request.method, ())):
            route = routes.find(request)
        elif not routes.root_hosts or routes.host_claims.get(headers.get("host", "")) is False:
            route = None
        else:
            route = routes.find(request) if routes.claims_by_host(request) else None
        if route is not None:
            ex.route = route.name
            return self._answer(route.handler, ex)
        if request.method == "POST" and not ex.body.consumed and ctype.startswith("application/x-www-form-urlencoded"):
            # the Action may be in the form: read it, then find the service
            if read_body_now(ex, self.max_body):
                return self._service(ex)
            return self._form_first(ex)
        return self._service(ex)

    def _service(self, ex: Exchange) -> Awaitable[None] | None:
        """The service and its codec (no raw route claims the request), then its body."""
        request = ex.request
        cred = ex.credential = read_credential(request)
        service = resolve_service(request, cred)
        if service is None or (service not in self.platform.services and self.platform.load(service) is None):
            ex.response = unrouted(request, service, ex.request_id, self.platform.served())
            return None
        ex.service = service
        pick = PROTOCOL_OF.get(service)
        key = (service, pick(request) if pick is not None else None)
        ex.codec = self.codecs.by_key.get(key) or self.codecs.codec(*key)
        if service == "s3":
            ex.bucket = s3_bucket_from_host(request.host)
            if not ex.started:
                ex.started = time.monotonic()       # S3's request metrics time every S3 request
            return prepare_s3_body(ex, self.max_body)
        if ex.body.consumed:
            return None
        limit = self.max_body
        if service == "lambda" and request.method in ("POST", "PUT") and carries_code(request.path):
            limit = max(limit, LAMBDA_CODE_BODY)
        if read_body_now(ex, limit):
            return None
        return read_body(ex, limit)

    @staticmethod
    async def _answer(handler: RouteHandler, ex: Exchange) -> None:
        ex.response = await handler(ex)

    async def _form_first(self, ex: Exchange) -> None:
        # (no raw route claims a form of this type whatever it holds: the service is what is left to find)
        await read_body(ex, self.max_body)
        pending = self._service(ex)
        if pending is not None:
            await pending


# Lambda's operations that carry a package in base64 (CreateFunction, UpdateFunctionCode,
# PublishLayerVersion) take what AWS takes: a 50 MB zip, "Request must be smaller than 69905067 bytes".
LAMBDA_CODE_BODY = 69_905_067


def carries_code(path: str) -> bool:
    path = path.rstrip("/")
    return (path == "/2015-03-31/functions" or (path.startswith("/2015-03-31/functions/") and path.endswith("/code"))
            or (path.startswith("/2018-10-31/layers/") and path.endswith("/versions")))


def unrouted(request: HttpRequest, service: str | None, request_id: str, served: Iterable[str] = ()) -> HttpResponse:
    """The answer to a request for no service tsunagi serves, in the format its client parses: the
    service's own protocol when the request names one botocore knows (XML for query and rest-xml
    services, JSON otherwise), query XML for an unknown ``Action``, JSON for the rest."""
    from tsunagi.protocol.serialize import error_in_protocol
    from tsunagi.protocol.specs import any_service_model

    if service is None:
        error = ServiceError(
            f"tsunagi could not tell which AWS service {request.method} {request.path} is for: "
            "sign the request (SigV4) or send X-Amz-Target or Action.", code="UnrecognizedRequest")
        fallback = "query" if "x-amz-target" not in request.headers and has_action(request) else "json"
        return error_in_protocol(None, error, request_id, fallback)
    model = any_service_model(service)
    title = (model.metadata.get("serviceFullName") if model is not None else None) or service
    error = ServiceError(f"{title} ({service}) is not served by tsunagi. tsunagi serves: "
                         f"{', '.join(sorted(served))}.",
                         code="NotImplemented", status=501)
    return error_in_protocol(model, error, request_id)


class Authenticate:
    """Who is asking: the principal behind the credential. ``--auth open`` trusts the key id (a
    presigned S3 URL still has its expiry checked, and its signature when the key is one of the local
    convention's); ``--auth strict`` verifies the signature of every request, awaiting only when the
    key's secret must be looked up in IAM."""

    name = "authenticate"

    def __init__(self, authenticator: Authenticator, clock: Clock) -> None:
        self.authenticator = authenticator
        self.clock = clock

    def __call__(self, ex: Exchange) -> Awaitable[None] | None:
        request = ex.request
        cred = ex.credential if ex.credential is not None else read_credential(request)
        auth = self.authenticator
        if not auth.strict and ex.service == "s3" and is_presigned(request):
            verify_presigned_url(request, self.clock.now(), secret_for, ex.bucket)
        protocol = ex.codec.serializer.protocol if ex.codec is not None else None
        result = auth.authenticate(request, cred, ex.service, protocol)
        if isinstance(result, Principal):
            ex.principal = result
            return None
        return self._later(ex, result)

    @staticmethod
    async def _later(ex: Exchange, pending: Awaitable[Principal]) -> None:
        ex.principal = await pending


class Parse:
    """The wire form to an operation and its parameters (botocore's model; validated)."""

    name = "parse"

    def __call__(self, ex: Exchange) -> None:
        assert ex.codec is not None
        if ex.bucket is not None:
            ex.operation, ex.params = ex.codec.parser.parse(ex.request, ex.bucket)
        else:
            ex.operation, ex.params = ex.codec.parser.parse(ex.request)


class Authorizer(Protocol):
    """Decides whether a principal may call an operation on its resources; raises AccessDenied.
    Returns None when it decided at once, or an awaitable when it must look something up."""

    def authorize(self, ex: Exchange) -> Awaitable[None] | None: ...


class AllowAll:
    """Every authenticated request is allowed: what local endpoints conventionally do (``--policies off``)."""

    def authorize(self, ex: Exchange) -> None:
        return None


class Authorize:
    """May this principal do this operation to these resources? (:class:`tsunagi.gateway.authorize.PolicyAuthorizer`:
    account isolation always, identity and resource policies under ``--auth strict``.)"""

    name = "authorize"

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer
        self.allows_everything = isinstance(authorizer, AllowAll)

    def __call__(self, ex: Exchange) -> Awaitable[None] | None:
        return self.authorizer.authorize(ex)


class TraceContext:
    """The operation's context: account and region, the caller, and the journey it belongs to (the
    ``Root`` of ``X-Amzn-Trace-Id`` when the request carries one, a new trace id otherwise)."""

    name = "trace"

    def __init__(self, default_region: str) -> None:
        self.default_region = default_region

    def __call__(self, ex: Exchange) -> None:
        request = ex.request
        principal = ex.principal
        assert principal is not None and ex.operation is not None
        headers = request.headers
        header = headers.get("x-amzn-trace-id")
        region = ex.credential.region if ex.credential is not None else None
        # (positional: the context is made on every request)
        ex.ctx = RequestContext(
            principal.account, region or self.default_region, ex.request_id, ex.service or "", ex.operation.name,
            headers.get("host", "localhost:4566"), headers.get("x-forwarded-proto", "http"), principal,
            root_of(header) if header else None, header, ex.source_ip)


class Dispatch:
    """Call the service's method for the operation."""

    name = "dispatch"

    def __init__(self, platform: Platform, codecs: Codecs) -> None:
        self.platform = platform
        self.codecs = codecs
        self._methods: dict[tuple[str, str], Operation | None] = {}

    def __call__(self, ex: Exchange) -> Awaitable[dict[str, Any]]:
        service, operation = ex.service, ex.operation
        assert service is not None and operation is not None and ex.ctx is not None and ex.params is not None
        key = (service, operation.name)
        try:
            method = self._methods[key]
        except KeyError:
            method = self._methods[key] = self.codecs.operations(
                service, self.platform.services[service]).get(operation.name)
        if method is None:
            raise NotImplementedOperation(f"{operation.name} is not available in tsunagi's {service} service yet.",
                                          code="NotImplemented")
        starting = self.platform.starting
        if starting and service in starting:      # loaded by this request: its start is not done yet
            return self._after_start(starting[service], method, ex.ctx, ex.params)
        return method(ex.ctx, ex.params)

    @staticmethod
    async def _after_start(started: Awaitable[None], method: Operation, ctx: RequestContext,
                           params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.shield(started)
        return await method(ctx, params)


class Serialize:
    """The operation's result to the service's wire format."""

    name = "serialize"

    def __call__(self, ex: Exchange) -> None:
        assert ex.codec is not None and ex.operation is not None and ex.result is not None
        ex.response = ex.codec.serializer.serialize_result(ex.operation, ex.result, ex.request_id)


class Log:
    """One line per request at DEBUG (``--log-level debug``): what was asked, the answer, how long."""

    name = "log"

    def __call__(self, ex: Exchange) -> None:
        if not access_log.isEnabledFor(logging.DEBUG):
            return
        status = ex.response.status if ex.response is not None else 0
        what = ex.route or f"{ex.service or '?'}.{ex.operation_name}"
        trace = ex.ctx.trace_id if ex.ctx is not None else "-"
        access_log.debug("%s %s %s -> %d in %.1f ms (request %s, trace %s)", ex.request.method, ex.request.path,
                         what, status, (time.monotonic() - ex.started) * 1000, ex.request_id, trace)
