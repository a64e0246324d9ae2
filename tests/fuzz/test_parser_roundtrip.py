"""Property: whatever an SDK can send, tsunagi's parser reads back exactly.

For every served model (and SQS over query too): hypothesis draws an operation and params
from its shapes (:mod:`tests.fuzz.shapes`), botocore's own client serializer turns them into an
HTTP request, and tsunagi's parser must recover the operation and the same params. The
deterministic suite in ``tests/unit/protocol`` covers every operation once with tame values;
this one covers fewer per run but with shrinking and the nasty values (empty strings, int64
bounds, NaN and infinities, epoch-edge timestamps, keys with dots and brackets, deep nesting).

A second property runs the validating parser on the same requests: it may refuse them (the
drawn values ignore min/max/enum), but only with a 4xx ``ServiceError``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from botocore.serialize import create_serializer as botocore_serializer
from hypothesis import given, note
from hypothesis import strategies as st

from tests.fuzz.shapes import ShapeStrategies, equal
from tests.unit.protocol.gen import to_http_request
from tests.unit.protocol.test_request_roundtrip import ALIASES
from tsunagi.protocol import specs
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.parse import create_parser

# (service, protocol) pairs: each model in its own protocol, SQS in query too.
TARGETS = [(s, None) for s in specs.SERVED] + [("sqs", "query"), ("cloudwatch", "json"), ("cloudwatch", "query")]


def _model(service: str, protocol: str | None):
    if protocol == "query" and service == "sqs":
        from tsunagi.protocol.sqs_query import query_model

        return query_model()
    return specs.service_model(service)


_STRATEGIES: dict[str, ShapeStrategies] = {}


def _strategies(protocol: str) -> ShapeStrategies:
    if protocol not in _STRATEGIES:
        _STRATEGIES[protocol] = ShapeStrategies(protocol)
    return _STRATEGIES[protocol]


def _operations(service: str, protocol: str | None) -> list[str]:
    return [n for n in _model(service, protocol).operation_names if (service, n) not in ALIASES]


def _request(service: str, protocol: str | None, name: str, params: dict, vhost: bool = False):
    wire_model = _model(service, protocol)
    op = wire_model.operation_model(name)
    proto = protocol or wire_model.protocol
    request_dict = botocore_serializer(proto, include_validation=False).serialize_to_request(params, op)
    request = to_http_request(request_dict)
    bucket = None
    if vhost and params.get("Bucket"):
        prefix = "/" + quote(params["Bucket"], safe="")
        if request.path.startswith(prefix):
            request.path = request.path[len(prefix):] or "/"
            request.headers["host"] = "vhost-bucket.s3.localhost:4566"
            bucket = params["Bucket"]
    return request, bucket


def _normalize(parsed: dict, params: dict) -> dict:
    # the HTTP layer adds Content-Length to every request that has a body (or is a PUT/POST)
    if "ContentLength" in parsed and "ContentLength" not in params:
        del parsed["ContentLength"]
    return parsed


def _prune(value: Any) -> Any:
    """Drop empty lists, maps and structures: in the query protocol and in XML they have no wire
    form of their own (botocore sends ``A=`` or nothing), so they read back as absent."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(value, list):
        out = [_prune(v) for v in value]
        return [v for v in out if v != {}]
    return value


def _same(parsed: dict, params: dict, protocol: str) -> bool:
    if protocol in ("query", "rest-xml"):
        return equal(_prune(parsed), _prune(params))
    return equal(parsed, params)


def _draw(data: Any, service: str, protocol: str | None) -> tuple[str, dict]:
    name = data.draw(st.sampled_from(_operations(service, protocol)), label="operation")
    op = _model(service, protocol).operation_model(name)
    proto = protocol or op.service_model.protocol
    params = data.draw(_strategies(proto).params(op), label="params")
    return name, params


@pytest.mark.parametrize("service,protocol", TARGETS, ids=[f"{s}-{p or 'native'}" for s, p in TARGETS])
@given(data=st.data())
def test_botocore_request_parses_back_to_the_same_params(service: str, protocol: str | None, data) -> None:
    name, params = _draw(data, service, protocol)
    request, bucket = _request(service, protocol, name, params)
    note(f"{request.method} {request.path}?{request.query}\n{request.headers}\n{request.body[:2000]!r}")
    parser = create_parser(specs.service_model(service), protocol, validate=False)
    parsed_op, parsed = parser.parse(request, bucket_from_host=bucket) if bucket else parser.parse(request)
    assert parsed_op.name == name
    parsed = _normalize(parsed, params)
    proto = protocol or parsed_op.service_model.protocol
    assert _same(parsed, params, proto), f"\nsent   {params!r}\nparsed {parsed!r}"


@given(data=st.data())
def test_s3_virtual_host_requests_parse_back(data) -> None:
    name, params = _draw(data, "s3", None)
    if not params.get("Bucket"):
        return
    bucket = params["Bucket"]
    request, _ = _request("s3", None, name, params)
    prefix = "/" + quote(bucket, safe="")
    if not request.path.startswith(prefix):
        return
    request.path = request.path[len(prefix):] or "/"
    parser = create_parser(specs.service_model("s3"), validate=False)
    parsed_op, parsed = parser.parse(request, bucket_from_host=bucket)
    assert parsed_op.name == name
    assert _same(_normalize(parsed, params), params, "rest-xml")


@pytest.mark.parametrize("service,protocol", TARGETS, ids=[f"{s}-{p or 'native'}" for s, p in TARGETS])
@given(data=st.data())
def test_validating_parser_accepts_or_refuses_with_4xx(service: str, protocol: str | None, data) -> None:
    name, params = _draw(data, service, protocol)
    request, _ = _request(service, protocol, name, params)
    parser = create_parser(specs.service_model(service), protocol)
    try:
        parser.parse(request)
    except ServiceError as e:
        assert 400 <= e.status < 500, repr(e)
