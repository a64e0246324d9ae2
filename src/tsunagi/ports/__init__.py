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
    """The platform's ports, by key."""

    def __init__(self) -> None:
        self._impls: dict[PortKey[Any], object] = {}

    def provide(self, key: PortKey[T], impl: T) -> None:
        self._impls[key] = impl

    def get(self, key: PortKey[T]) -> T:
        impl = self._impls.get(key)
        if impl is None:
            raise PortUnavailable(f"this server does not run the {key.service} service")
        return cast(T, impl)

    def find(self, key: PortKey[T]) -> T | None:
        """The port, or None when its service is not served here."""
        return cast("T | None", self._impls.get(key))

    def __contains__(self, key: PortKey[Any]) -> bool:
        return key in self._impls
