"""The gateway: one endpoint for every service.

A request goes through a chain of small named steps (:mod:`tsunagi.gateway.guard`,
:mod:`tsunagi.gateway.steps`)::

    guard → route → authenticate → parse → trace context → authorize → dispatch → serialize   (then log)

Raw-HTTP routes (tsunagi's ``/_tsunagi/`` endpoints, S3 form uploads; API Gateway's execute-api and
the console next) live in one registry (:mod:`tsunagi.gateway.routes`) that the route step asks
first. This module adapts the chain to the servers that deliver requests (tsunagi's own HTTP
server, or any ASGI server) and runs the platform's life cycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any

from tsunagi.config import Config
from tsunagi.gateway import steps
from tsunagi.gateway.authorize import PolicyAuthorizer
from tsunagi.gateway.body import BodySource, body_cut_off, next_piece
from tsunagi.gateway.codecs import Codecs
from tsunagi.gateway.errors import error_response
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.guard import Guard, HostPolicy
from tsunagi.gateway.identity import Authenticator, CredentialStore, StrictAuthenticator
from tsunagi.gateway.observe import observe_s3
from tsunagi.gateway.routes import RouteRegistry
from tsunagi.gateway.routes import apigateway as apigateway_routes
from tsunagi.gateway.routes import ecs as ecs_routes
from tsunagi.gateway.routes import internal as internal_routes
from tsunagi.gateway.routes import s3 as s3_routes
from tsunagi.ids import uuid4
from tsunagi.ports.s3 import S3, RequestObserver
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi.gateway")
access_log = logging.getLogger("tsunagi.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]



def served_names(config: Config) -> list[str]:
    """The host names the Host guard lets in besides loopback: --hostname, and TSUNAGI_PUBLIC_URL's host."""
    return [*config.hostnames, *([config.public_host()] if config.public_url else [])]

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

    def whole(self, limit: int) -> bytes | None:
        return None      # the body arrives through ``receive``: always awaited

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
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        return b""


def _bound(step: steps.StepFn) -> steps.StepFn:
    """A step object's ``__call__`` as a bound method (a plain function as it is)."""
    if isinstance(step, types.FunctionType | types.MethodType):
        return step
    call: steps.StepFn = step.__call__  # type: ignore[operator]
    return call


class Gateway:
    """Every request, whatever server delivers it: ``handle()`` runs the chain of steps
    (:mod:`tsunagi.gateway.steps`). tsunagi's own HTTP server (:mod:`tsunagi.gateway.httpserver`)
    calls it directly; the gateway is also an ASGI application (``__call__``), so any ASGI server
    can host it."""

    def __init__(self, platform: Platform, *, on_startup: Callable[[], Awaitable[None]] | None = None,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None,
                 authorizer: steps.Authorizer | None = None) -> None:
        self.platform = platform
        config = platform.config
        self.body_timeout = config.body_timeout
        self.authenticator: Authenticator
        credentials: CredentialStore | None = None
        if config.strict_auth:
            akid, secret = config.root_key_pair()
            credentials = CredentialStore.with_root(config.default_account, akid, secret, platform.ports,
                                                    platform.clock)
            self.authenticator = StrictAuthenticator(config.default_account, credentials, platform.clock)
        else:
            self.authenticator = Authenticator(config.default_account)
        if authorizer is None:
            # accounts are isolated on every server; identity policies are evaluated when requests are
            # verified (--auth strict) and policies are not off
            policies = config.strict_auth and config.policies != "off"
            authorizer = PolicyAuthorizer(platform, identity=policies, enforce=config.policies == "enforce",
                                          credentials=credentials)
        self.codecs = Codecs()
        self.routes = RouteRegistry()
        self.state = internal_routes.ServerState()
        internal_routes.install(self.routes, platform, self.state, self.authenticator)
        s3_routes.install(self.routes, platform, self.authenticator, self.codecs)
        ecs_routes.install(self.routes, platform)
        apigateway_routes.install(self.routes, platform, self.authenticator)
        self.steps: list[steps.StepFn] = [
            Guard(HostPolicy(config.host, served_names(config))),
            steps.Route(platform, self.routes, self.codecs),
            steps.Authenticate(self.authenticator, platform.clock),
            steps.Parse(),
            steps.TraceContext(config.default_region),
            steps.Authorize(authorizer),
            steps.Dispatch(platform, self.codecs),
            steps.Serialize(),
        ]
        # A step with nothing to do under this configuration is left out of the chain it runs
        # (authorize while every request is allowed); the list above is the chain as designed.
        # The authorize step runs as its authorizer's method itself (the step only forwards to it), and
        # the others as their bound ``__call__``: calling an instance goes through its type's call slot,
        # which looks ``__call__`` up and binds it again on every request.
        self.chain: list[steps.StepFn] = [s.authorizer.authorize if isinstance(s, steps.Authorize) else _bound(s)
                                          for s in self.steps
                                          if not (isinstance(s, steps.Authorize) and s.allows_everything)]
        self.log = steps.Log()
        self.log_requests = access_log.isEnabledFor(logging.DEBUG)   # decided at start (--log-level)
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._s3_metrics: RequestObserver | None = None
        self._s3_counted = platform.serves("cloudwatch")   # S3's request metrics: only where CloudWatch is served

    @property
    def ready(self) -> bool:
        return self.state.ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self.state.ready = value

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

    def _observe_s3(self, ex: Exchange, response: HttpResponse) -> None:
        """S3's request metrics (AWS/S3) for the bucket of an S3 request, when it has a metrics configuration."""
        observer = self._s3_metrics
        if observer is None:
            port = self.platform.ports.find(S3)
            if port is None:
                return
            observer = self._s3_metrics = port.request_metrics()
        try:
            observe_s3(ex, response, observer)
        except Exception as e:           # counting must never cost the request its answer
            log.warning("counting the S3 request metrics of request %s failed: %s", ex.request_id, e)

    # -- the chain ------------------------------------------------------------------------------------
    async def handle(self, request: HttpRequest, request_id: str, source_ip: str = "127.0.0.1",
                     body: BodySource | None = None) -> HttpResponse:
        """Serve one request. ``body`` reads the request body when it has not been read into ``request.body``."""
        body = body or _Body.done()
        ex = Exchange(request, request_id, source_ip, body, time.monotonic() if self.log_requests else 0.0)
        try:
            for step in self.chain:
                pending = step(ex)
                if pending is not None:
                    value = await pending
                    if value is not None:
                        ex.result = value
                if ex.response is not None:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as e:
            ex.response = error_response(ex, e)
        response = ex.response
        assert response is not None
        if self.log_requests:
            self.log(ex)
        if ex.service == "s3" and self._s3_counted:
            self._observe_s3(ex, response)
        if not body.consumed and (request.headers.get("content-length", "0") != "0"
                                  or "transfer-encoding" in request.headers):
            # Answered before the body was read (a refused upload): a client that sent
            # ``Expect: 100-continue`` will not send it, so the connection cannot carry another request.
            response.headers.append(("connection", "close"))
        return response


