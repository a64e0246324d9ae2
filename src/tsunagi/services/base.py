"""What every service shares: the platform handle and the base class.

The :class:`Platform` is what a service can reach: configuration, the store, the clock, the other
services' ports (:mod:`tsunagi.ports`), the outbox and the delivery records. It is assembled by
:func:`tsunagi.server.assemble`; a service never imports another service, ``pipes/`` or the gateway.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from tsunagi.context import Principal, RequestContext, Source
from tsunagi.ports import Ports
from tsunagi.store.deliveries import DeliveryRepo
from tsunagi.store.leases import Leases

if TYPE_CHECKING:
    from tsunagi.clock import Clock
    from tsunagi.config import Config
    from tsunagi.ports.outbox import OutboxPort
    from tsunagi.store.base import Store

__all__ = ["Component", "Platform", "Principal", "RequestContext", "Service", "Source"]

log = logging.getLogger("tsunagi.services")


class Component(Protocol):
    """Something with a life cycle that runs beside the services (the outbox dispatcher, pollers)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def on_reset(self) -> None: ...


class Platform:
    """Everything a service can reach: configuration, the store, the clock and the other services' ports."""

    def __init__(self, config: Config, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.services: dict[str, Service] = {}     # by botocore name: for the gateway's dispatch only
        self.ports = Ports()
        self.deliveries = DeliveryRepo(store)
        self.leases = Leases(store)                # limits that hold across the servers on one database
        self.components: list[Component] = []      # started after the services, stopped before them
        self._outbox: OutboxPort | None = None

    @property
    def outbox(self) -> OutboxPort:
        if self._outbox is None:
            raise RuntimeError("the platform has no outbox: assemble it with tsunagi.server.assemble")
        return self._outbox

    @outbox.setter
    def outbox(self, outbox: OutboxPort) -> None:
        self._outbox = outbox

    async def start(self) -> None:
        await self.store.open()
        for svc in self.services.values():
            await svc.start()
        for component in self.components:
            await component.start()

    async def stop(self) -> None:
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %s failed", type(component).__name__)
        for svc in reversed(list(self.services.values())):
            try:
                await svc.stop()
            except Exception:
                log.exception("stopping %s failed", svc.name)
        await self.leases.close()
        await self.store.close()

    async def reset(self) -> None:
        """Wipe all state: every table, then every service's and component's in-process state."""
        await self.store.reset()
        for svc in self.services.values():
            await svc.on_reset()
        for component in self.components:
            await component.on_reset()


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
