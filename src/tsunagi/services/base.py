"""What every service shares: the platform handle and the base class.

The :class:`Platform` is what a service can reach: configuration, the store, the clock, the other
services' ports (:mod:`tsunagi.ports`), the outbox and the delivery records. It is assembled by
:func:`tsunagi.server.assemble`; a service never imports another service, ``pipes/`` or the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
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

# After a start on a new store, the services no request has needed yet are loaded this many seconds
# after the port opened, one at a time, so the first requests do not wait for them.
BACKGROUND_LOAD_DELAY_S = 0.5


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
        # Services served here but not loaded yet, by name ("module:Class"): each is loaded on its first
        # request or port lookup, or all at start when the store holds state already, or in the
        # background a little after the start.
        self.available: dict[str, str] = {}
        self.starting = self.ports.starting        # a lazily loaded service's start, until it is done
        self.ports.loader = self.load
        self._running = False
        self._background: asyncio.Task[None] | None = None

    def serves(self, name: str) -> bool:
        """Whether this server serves ``name`` (loaded or not yet)."""
        return name in self.services or name in self.available

    def served(self) -> list[str]:
        return sorted({*self.services, *self.available})

    def load(self, name: str) -> Service | None:
        """The service, loaded now if it was not (its module imported, the service made; once the
        platform runs, its start begun, see ``starting``); None when it is not served here."""
        svc = self.services.get(name)
        if svc is not None:
            return svc
        target = self.available.pop(name, None)
        if target is None:
            return None
        from tsunagi.services.registry import instantiate

        made = instantiate(self, target)
        if made is None:
            return None
        self.services[name] = made
        if self._running:
            started = asyncio.get_running_loop().create_task(made.start(), name=f"tsunagi-start-{name}")
            self.starting[name] = started

            def done(task: asyncio.Task[None]) -> None:
                if self.starting.get(name) is task:
                    del self.starting[name]
                if not task.cancelled() and task.exception() is not None:
                    log.error("starting %s failed", name, exc_info=task.exception())

            started.add_done_callback(done)
        return made

    async def ensure(self, name: str) -> Service | None:
        """The service, loaded and started."""
        svc = self.load(name)
        started = self.starting.get(name)
        if started is not None:
            await asyncio.shield(started)
        return svc

    async def _load_rest(self) -> None:
        await asyncio.sleep(BACKGROUND_LOAD_DELAY_S)
        while self.available:
            name = next(iter(self.available))
            try:
                await self.ensure(name)
            except Exception:
                log.exception("loading %s failed", name)
            await asyncio.sleep(0)

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
        if not self.store.fresh:
            # state from an earlier run: every service's background work (sweeps, resumed tasks, checks
            # of the keys) runs from the start, as the services load
            for name in list(self.available):
                self.load(name)
        for svc in list(self.services.values()):
            await svc.start()
        self._running = True
        for component in self.components:
            await component.start()
        if self.available:
            self._background = asyncio.get_running_loop().create_task(self._load_rest(),
                                                                      name="tsunagi-load-services")

    async def stop(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._background
            self._background = None
        for started in list(self.starting.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await started
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
        # (copies: a service loaded when first needed may join while a reset waits on another)
        for svc in list(self.services.values()):
            await svc.on_reset()
        for component in list(self.components):
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
