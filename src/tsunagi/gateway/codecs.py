"""Per-service wire codecs and operation tables, built once.

A :class:`Codec` is a service's parser and serializer for one protocol (botocore's model drives
both). An :class:`Operations` table maps each operation of the model to the service's method for it,
looked up once when the service is first called: the dispatch step calls the table, never
``getattr`` on a name from the wire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore import xform_name

from tsunagi.context import RequestContext
from tsunagi.protocol.parse import create_parser
from tsunagi.protocol.serialize import create_serializer
from tsunagi.protocol.specs import service_model

Operation = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]

# Operations a service serves that its botocore model does not describe (raw routes call them).
WIRE_ONLY: dict[str, tuple[str, ...]] = {"s3": ("PostObject",)}


class Codec:
    """A service's parser and serializer for one protocol."""

    __slots__ = ("parser", "serializer", "service")

    def __init__(self, service: str, protocol: str | None) -> None:
        model = service_model(service)
        self.service = service
        # "query-json": the query protocol asked to answer in JSON (Accept: application/json)
        self.parser = create_parser(model, protocol="query" if protocol == "query-json" else protocol)
        self.serializer = create_serializer(model, protocol=protocol)


class Operations:
    """Operation name → the service's coroutine for it (None: not built in tsunagi yet)."""

    def __init__(self, service_name: str, impl: object) -> None:
        self.service = service_name
        self._methods: dict[str, Operation | None] = {}
        # a service whose methods forward to its parts names the part's method instead (operation_impl)
        # (a class, as the reference generator passes, lists its own methods)
        find = None if isinstance(impl, type) else getattr(impl, "operation_impl", None)
        for name in (*service_model(service_name).operation_names, *WIRE_ONLY.get(service_name, ())):
            method = find(xform_name(name)) if find is not None else getattr(impl, xform_name(name), None)
            self._methods[name] = method if callable(method) else None

    def get(self, operation: str) -> Operation | None:
        return self._methods.get(operation)

    def served(self) -> list[str]:
        return sorted(name for name, m in self._methods.items() if m is not None)


class Codecs:
    """Every (service, protocol) codec and every service's operation table, made on first use."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str | None], Codec] = {}     # read directly on the hot path
        self._tables: dict[str, Operations] = {}

    def codec(self, service: str, protocol: str | None) -> Codec:
        key = (service, protocol)
        codec = self.by_key.get(key)
        if codec is None:
            codec = self.by_key[key] = Codec(service, protocol)
        return codec

    def operations(self, service: str, impl: object) -> Operations:
        table = self._tables.get(service)
        if table is None:
            table = self._tables[service] = Operations(service, impl)
        return table
