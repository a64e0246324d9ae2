"""Every operation of every served model: tsunagi's serializer -> botocore's response parser.

The result dict must come back unchanged (plus ``ResponseMetadata`` with our request id).
"""

from __future__ import annotations

import io

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser as botocore_parser
from botocore.response import StreamingBody

from tests.unit.protocol.gen import output_result
from tsunagi.protocol import specs
from tsunagi.protocol.serialize import create_serializer

# Outputs botocore cannot parse generically (its client fixes them up in event handlers).
SKIP = {
    ("s3", "GetBucketLocation"): "botocore parses the text root in an s3 handler; tested separately",
    ("s3", "GetBucketNotification"): "deprecated; its model gives two members the XML name Event",
}


def _has_event_stream(shape):
    return shape is not None and any(
        ms.serialization.get("eventstream") or ms.type_name == "structure" and ms.serialization.get("eventstream")
        or getattr(ms, "metadata", {}).get("eventstream") for ms in shape.members.values())


def _cases():
    for service in specs.SERVED:
        model = specs.service_model(service)
        for name in model.operation_names:
            marks = []
            if (service, name) in SKIP:
                marks.append(pytest.mark.skip(reason=SKIP[(service, name)]))
            yield pytest.param(service, name, id=f"{service}.{name}", marks=marks)


def parse_with_botocore(protocol, op, response):
    headers = HeadersDict()
    for k, v in response.headers:
        headers[k] = v
    body = response.body
    if op.has_streaming_output:  # botocore's client hands blob payloads over as a stream
        body = StreamingBody(io.BytesIO(body), len(body))
    return botocore_parser(protocol).parse(
        {"status_code": response.status, "headers": headers, "body": body}, op.output_shape)


def _payload_streams(op, parsed):
    shape = op.output_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload and hasattr(parsed.get(payload), "read"):
        parsed[payload] = parsed[payload].read()
    if payload and parsed.get(payload) in (b"", "", {}):
        del parsed[payload]  # an absent payload reads back as an empty one
    return parsed


@pytest.mark.parametrize("service,name", list(_cases()))
def test_response_roundtrip(service, name):
    model = specs.service_model(service)
    op = model.operation_model(name)
    if _has_event_stream(op.output_shape):
        pytest.skip("event stream output")
    result = output_result(op)
    response = create_serializer(model).serialize_result(op, result, "req-123")
    parsed = _payload_streams(op, parse_with_botocore(model.protocol, op, response))
    meta = parsed.pop("ResponseMetadata", None)
    if op.output_shape is None and model.protocol == "smithy-rpc-v2-cbor":
        # botocore's RPC v2 CBOR parser gives an operation without output no metadata: read the header
        assert ("x-amzn-RequestId", "req-123") in response.headers
    else:
        assert meta is not None and meta["RequestId"] == "req-123"
    assert parsed == result
