"""Service-level tests without HTTP: a real store (SQLite or PostgreSQL), a ManualClock, one event loop.

pytest-asyncio is not used: a test hands an ``async def body(h)`` to a runner built by
:func:`service_runner`, which opens the store, builds and starts the service, runs the body and
closes everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.pipes import install as install_pipes
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform, Service
from tsunagi.store.base import open_store

H = TypeVar("H")


def service_runner(url: str, data_dir: str, name: str, factory: Callable[[Platform], Service],
                   harness: Callable[[Any, ManualClock], H], *, start: bool = True
                   ) -> Callable[[Callable[[H], Awaitable[None]]], None]:
    """A runner for ``body(harness)`` against service ``name`` built by ``factory`` on store ``url``."""

    def run(body: Callable[[H], Awaitable[None]]) -> None:
        async def go() -> None:
            store = open_store(url, data_dir)
            clock = ManualClock()
            platform = Platform(Config(data_dir=data_dir), store, clock)
            install_pipes(platform)
            svc = factory(platform)
            platform.services[name] = svc
            await store.open()
            await store.reset()
            if start:
                await svc.start()
                for component in platform.components:
                    await component.start()
            try:
                await body(harness(svc, clock))
            finally:
                if start:
                    for component in reversed(platform.components):
                        await component.stop()
                    await svc.stop()
                await store.close()

        asyncio.run(go())

    return run


async def expect_error(aw: Awaitable[Any], code: str, message: str | None = None) -> ServiceError:
    """Await ``aw`` and require AWS's error ``code`` (and ``message`` within its text)."""
    try:
        await aw
    except ServiceError as e:
        assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
        if message is not None:
            assert message in e.message, e.message
        return e
    raise AssertionError(f"expected {code}, but the call succeeded")
