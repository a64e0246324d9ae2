"""Smithy RPC v2 CBOR (``smithy-rpc-v2-cbor``), the protocol newer SDKs speak to CloudWatch.

Requests are ``POST /service/<ServiceName>/operation/<Operation>`` with ``smithy-protocol: rpc-v2-cbor``
and a CBOR map body (absent when the operation has no input); answers carry the same header,
``Content-Type: application/cbor`` and a CBOR map. Timestamps are tag 1 (seconds since the epoch),
blobs are byte strings. Errors are a map with ``__type`` (``namespace#Code``) and ``message``; a
query-compatible service adds ``x-amzn-query-error: <query code>;Sender|Receiver``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cbor2

from tsunagi.protocol.errors import SerializationException, ServiceError, UnknownOperationException
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.protocol.model import OperationModel, ServiceModel, Shape
from tsunagi.protocol.parse import RequestParser
from tsunagi.protocol.serialize import ResponseSerializer

PROTOCOL = "smithy-rpc-v2-cbor"
CONTENT_TYPE = "application/cbor"
_PREFIX = "/service/"


class BadCBOR(Exception):
    pass


def _decoder(shape: Shape, cache: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    key = f"{shape.name}:{shape.type_name}"
    if key in cache:
        return cache[key]
    cell: list[Callable[[Any], Any]] = []
    cache[key] = lambda v: cell[0](v)
    t = shape.type_name
    fn: Callable[[Any], Any]
    if t == "structure":
        members = {name: _decoder(ms, cache) for name, ms in shape.members.items()}

        def structure(v: Any) -> dict[str, Any]:
            if not isinstance(v, dict):
                raise BadCBOR(f"Expected a map for {shape.name}")
            return {k: members[k](x) for k, x in v.items() if k in members and x is not None}
        fn = structure
    elif t == "list":
        member = _decoder(shape.member, cache)

        def list_(v: Any) -> list[Any]:
            if not isinstance(v, list):
                raise BadCBOR(f"Expected an array for {shape.name}")
            return [member(x) for x in v if x is not None]
        fn = list_
    elif t == "map":
        value = _decoder(shape.value, cache)

        def map_(v: Any) -> dict[str, Any]:
            if not isinstance(v, dict):
                raise BadCBOR(f"Expected a map for {shape.name}")
            return {str(k): value(x) for k, x in v.items() if x is not None}
        fn = map_
    elif t == "timestamp":
        fn = _timestamp
    elif t == "blob":
        fn = _blob
    elif t in ("float", "double"):
        fn = _float
    elif t in ("integer", "long", "short", "byte"):
        fn = _int
    elif t == "boolean":
        fn = _bool
    else:
        fn = _string
    cell.append(fn)
    cache[key] = fn
    return fn


def _timestamp(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        try:
            return datetime.fromtimestamp(v, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise BadCBOR("Expected a timestamp")


def _blob(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray):
        return bytes(v)
    raise BadCBOR("Expected a byte string")


def _float(v: Any) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    raise BadCBOR("Expected a number")


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise BadCBOR("Expected an integer")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise BadCBOR("Expected a boolean")


def _string(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise BadCBOR("Expected a text string")


class CBORParser(RequestParser):
    def __init__(self, service_model: ServiceModel, protocol: str = PROTOCOL, **kw: Any) -> None:
        super().__init__(service_model, protocol, **kw)
        self._cache: dict[str, Callable[[Any], Any]] = {}

    def _parse(self, request: HttpRequest, bucket_from_host: str | None) -> tuple[OperationModel, dict[str, Any]]:
        path = request.path
        parts = path[len(_PREFIX):].split("/") if path.startswith(_PREFIX) else []
        operation_model = None
        if len(parts) == 3 and parts[1] == "operation":
            operation_model = self._operation(parts[2])
        if operation_model is None:
            raise UnknownOperationException(f"Unknown operation {path}")
        shape = operation_model.input_shape
        body = request.body
        if not body or shape is None:
            return operation_model, {}
        try:
            data = cbor2.loads(body)
        except Exception:
            raise SerializationException("The request body is not valid CBOR.") from None
        try:
            return operation_model, _decoder(shape, self._cache)(data)
        except BadCBOR as e:
            raise SerializationException(str(e)) from None


def _encoder(shape: Shape, cache: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    key = f"{shape.name}:{shape.type_name}"
    if key in cache:
        return cache[key]
    cell: list[Callable[[Any], Any]] = []
    cache[key] = lambda v: cell[0](v)
    t = shape.type_name
    fn: Callable[[Any], Any]
    if t == "structure":
        members = {name: _encoder(ms, cache) for name, ms in shape.members.items()}

        def structure(v: Any) -> dict[str, Any]:
            return {k: members[k](x) for k, x in v.items() if k in members and x is not None}
        fn = structure
    elif t == "list":
        member = _encoder(shape.member, cache)
        fn = lambda v: [member(x) for x in v]   # noqa: E731
    elif t == "map":
        value = _encoder(shape.value, cache)
        fn = lambda v: {k: value(x) for k, x in v.items() if x is not None}   # noqa: E731
    elif t == "timestamp":
        fn = _epoch
    elif t in ("float", "double"):
        fn = float
    else:
        fn = _same
    cell.append(fn)
    cache[key] = fn
    return fn


def _same(v: Any) -> Any:
    return v


def _epoch(v: Any) -> cbor2.CBORTag:
    seconds = v.timestamp() if isinstance(v, datetime) else float(v)
    return cbor2.CBORTag(1, int(seconds) if seconds == int(seconds) else seconds)


class CBORSerializer(ResponseSerializer):
    def __init__(self, service_model: ServiceModel, protocol: str = PROTOCOL) -> None:
        super().__init__(service_model, protocol)
        self.query_compatible = "awsQueryCompatible" in service_model.metadata
        self.type_prefix = f"com.amazonaws.{service_model.endpoint_prefix}#"
        self._cache: dict[str, Callable[[Any], Any]] = {}

    def _headers(self, request_id: str) -> list[tuple[str, str]]:
        return [("Content-Type", CONTENT_TYPE), ("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-RequestId", request_id)]

    def serialize_result(self, operation_model: OperationModel, result: dict[str, Any] | None,
                         request_id: str) -> HttpResponse:
        shape = operation_model.output_shape
        data = _encoder(shape, self._cache)(result or {}) if shape is not None else {}
        return HttpResponse(200, self._headers(request_id), cbor2.dumps(data))

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        data: dict[str, Any] = {"__type": self.type_prefix + error.code, "message": error.message}
        for k, v in error.fields.items():
            if v is not None:
                data[k] = v if isinstance(v, str | int | float | bool | list | dict) else str(v)
        headers = self._headers(request_id)
        if self.query_compatible:
            headers.append(("x-amzn-query-error",
                            f"{error.query_code};{'Sender' if error.sender_fault else 'Receiver'}"))
        return HttpResponse(self._error_status(error), self._extra_headers(error, headers), cbor2.dumps(data))
