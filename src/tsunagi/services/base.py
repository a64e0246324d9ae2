"""What every service shares: the request context, the platform handle and the base class."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tsunagi.clock import Clock
    from tsunagi.config import Config
    from tsunagi.protocol.http import HttpRequest, HttpResponse
    from tsunagi.store.base import Store

    InternalHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]

log = logging.getLogger("tsunagi.services")


@dataclass(slots=True)
class RequestContext:
    """Who is asking, where, and for what."""

    account: str
    region: str
    request_id: str
    service: str = ""
    operation: str = ""
    host: str = "localhost:4566"          # the Host header the client used (queue URLs are built from it)
    scheme: str = "http"
    access_key_id: str | None = None
    principal_arn: str | None = None      # the caller, as an ARN
    trace_header: str | None = None       # X-Amzn-Trace-Id
    source_ip: str = "127.0.0.1"
    request: HttpRequest | None = None    # the raw request, for services that need it (S3 streaming)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}"


class Platform:
    """Everything a service can reach: configuration, the store, the clock and the other services."""

    def __init__(self, config: Config, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.services: dict[str, Service] = {}
        # Extra endpoints under /_tsunagi/ (certificates, code downloads, mailboxes, …):
        # path prefix → async handler(HttpRequest) -> HttpResponse. Services add theirs in __init__.
        self.internal_routes: dict[str, InternalHandler] = {}

    def add_internal_route(self, prefix: str, handler: InternalHandler) -> None:
        """Serve ``/_tsunagi/<prefix>…`` with ``handler`` (longest prefix wins)."""
        if not prefix.startswith("/_tsunagi/"):
            raise ValueError("internal routes live under /_tsunagi/")
        self.internal_routes[prefix] = handler

    def service(self, name: str) -> Service:
        return self.services[name]

    async def start(self) -> None:
        await self.store.open()
        for svc in self.services.values():
            await svc.start()

    async def stop(self) -> None:
        for svc in reversed(list(self.services.values())):
            try:
                await svc.stop()
            except Exception:
                log.exception("stopping %s failed", svc.name)
        await self.store.close()

    async def reset(self) -> None:
        """Wipe all state: every table, then every service's in-process state."""
        await self.store.reset()
        for svc in self.services.values():
            await svc.on_reset()


class Service:
    """Base class: a service is started after the store opens and stopped before it closes."""

    name: str = ""          # botocore's service name ("sqs")

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.store = platform.store
        self.clock = platform.clock

    async def start(self) -> None:
        """Begin background work (pollers, timers). Called once the store is open."""

    async def stop(self) -> None:
        """Stop background work; wake long-polling requests so they can return."""

    async def on_reset(self) -> None:
        """Forget in-process state after the store was wiped (``POST /_tsunagi/reset``)."""
