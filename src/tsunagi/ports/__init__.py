"""Ports: the calls one part of tsunagi may make on another, as small typed interfaces.

A service publishes what others may ask of it as a :class:`typing.Protocol` in this package
(``SqsPort``, ``SnsPort``, ``LambdaPort``, ``LogsPort``, ``S3Port``, ``StsPort``) with a typed key
(``SQS``, ``SNS``, ``LAMBDA``, ``LOGS``, ``S3``, ``STS``), implements it in its own ``port.py``, and
provides it to the platform when it is loaded::

    platform.ports.provide(SQS, SqsPortImpl(self))

Callers (other services, ``pipes/``, and later CloudFormation's resource handlers and API Gateway's
integrations) ask the platform for the interface by its key, never for the service object::

    sqs = platform.ports.get(SQS)            # an SqsPort; PortUnavailable when SQS is not served here
    await sqs.send(ctx, queue_arn, body)

Every call that acts for someone takes a :class:`~tsunagi.context.RequestContext`, so the account,
region, journey (trace id) and principal travel with it; policy checks see who is calling.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class PortUnavailable(Exception):
    """The service behind a port is not run by this server."""


class PortKey(Generic[T]):
    """The typed name of a port: ``SQS: PortKey[SqsPort] = PortKey("sqs")``."""

    __slots__ = ("service",)

    def __init__(self, service: str) -> None:
        self.service = service

    def __repr__(self) -> str:
        return f"PortKey({self.service!r})"


class Ports:
    """The platform's ports, by key.

    A service is loaded when first needed (:class:`tsunagi.services.base.Platform`): asked for the port of
    a service served here but not loaded yet, the ports call ``loader`` with its name, which loads it (its
    constructor provides the port) and begins its start. Until that start is done the port is handed out
    behind a wrapper whose coroutine methods wait for it (``starting``: service name → its start).
    """

    def __init__(self) -> None:
        self._impls: dict[PortKey[Any], object] = {}
        self.loader: Callable[[str], object] | None = None
        self.starting: dict[str, asyncio.Future[None]] = {}

    def provide(self, key: PortKey[T], impl: T) -> None:
        self._impls[key] = impl

    def get(self, key: PortKey[T]) -> T:
        impl = self._impls.get(key)
        if impl is None or self.starting:
            impl = self._resolve(key, impl)
        if impl is None:
            raise PortUnavailable(f"this server does not run the {key.service} service")
        return cast(T, impl)

    def find(self, key: PortKey[T]) -> T | None:
        """The port, or None when its service is not served here."""
        impl = self._impls.get(key)
        if impl is None or self.starting:
            impl = self._resolve(key, impl)
        return cast("T | None", impl)

    def _resolve(self, key: PortKey[Any], impl: object | None) -> object | None:
        if impl is None:
            if self.loader is None:
                return None
            self.loader(key.service)
            impl = self._impls.get(key)
            if impl is None:
                return None
        started = self.starting.get(key.service)
        if started is not None and not started.done():
            return _AfterStart(impl, started)
        return impl

    def __contains__(self, key: PortKey[Any]) -> bool:
        return self.find(key) is not None


class StartPending(RuntimeError):
    """A method that runs in its caller's transaction (``*_in``) was called on a port whose service had not
    started: waiting there would hold the store against the start (which reads the store), so it is refused.
    A caller asks something of the port outside its transaction first (a lookup waits for the start)."""


class _AfterStart:
    """A port whose service is still starting: each coroutine method waits for the start, then runs.
    A method that takes its caller's transaction (named ``*_in``) does not wait: the caller holds the
    store's write lock, and the start may need it, so the two would wait on each other for ever. It
    runs when the start is done and raises :class:`StartPending` when it is not."""

    __slots__ = ("_impl", "_started")

    def __init__(self, impl: object, started: asyncio.Future[None]) -> None:
        self._impl = impl
        self._started = started

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._impl, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        started = self._started
        if name.endswith("_in"):
            async def in_callers_transaction(*args: Any, **kwargs: Any) -> Any:
                if not started.done():
                    raise StartPending(f"{name} was called in a transaction before its service had started")
                return await attr(*args, **kwargs)

            return in_callers_transaction

        async def after_start(*args: Any, **kwargs: Any) -> Any:
            if not started.done():
                await asyncio.shield(started)
            return await attr(*args, **kwargs)

        return after_start
