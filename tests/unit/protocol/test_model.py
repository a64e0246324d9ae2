"""tsunagi's model classes (protocol/model.py, loaded by protocol/specs.py) say what botocore's say: the same
description loaded, and for every served service, operation and reachable shape the same names, wire
traits, constraints and structure."""

from __future__ import annotations

import pytest
from botocore import model as bm
from botocore.loaders import Loader

from tsunagi.protocol import model as tm
from tsunagi.protocol import specs

SHAPE_ATTRS = ("name", "type_name", "documentation", "serialization", "metadata", "required_members",
               "event_stream_name")
STRUCT_ATTRS = ("error_code", "is_document_type", "is_tagged_union")
OP_ATTRS = ("name", "wire_name", "documentation", "deprecated", "http", "metadata", "endpoint_discovery",
            "is_endpoint_discovery_operation", "idempotent_members", "static_context_parameters",
            "context_parameters", "operation_context_parameters", "request_compression", "auth", "auth_type",
            "resolved_auth_type", "unsigned_payload", "endpoint", "http_checksum_required", "http_checksum",
            "has_event_stream_input", "has_event_stream_output", "has_streaming_input", "has_streaming_output")
SERVICE_ATTRS = ("metadata", "operation_names", "shape_names", "documentation", "service_name", "signing_name",
                 "api_version", "protocol", "resolved_protocol", "endpoint_prefix", "signature_version",
                 "is_query_compatible")


def _name(shape):
    return None if shape is None else shape.name


def _same_shape(ours, theirs, seen: set, path: str) -> None:
    assert type(ours).__name__ == type(theirs).__name__, path
    for attr in SHAPE_ATTRS:
        assert getattr(ours, attr) == getattr(theirs, attr), f"{path}.{attr}"
    key = (theirs.name, repr(sorted(theirs.serialization.items())))
    if key in seen:         # the same shape with the same traits: its insides were compared already
        return
    seen.add(key)
    kind = theirs.type_name
    if kind == "structure":
        for attr in STRUCT_ATTRS:
            assert getattr(ours, attr) == getattr(theirs, attr), f"{path}.{attr}"
        assert list(ours.members) == list(theirs.members), path
        for name, member in theirs.members.items():
            _same_shape(ours.members[name], member, seen, f"{path}.{name}")
    elif kind == "list":
        _same_shape(ours.member, theirs.member, seen, f"{path}[]")
    elif kind == "map":
        _same_shape(ours.key, theirs.key, seen, f"{path}{{key}}")
        _same_shape(ours.value, theirs.value, seen, f"{path}{{value}}")
    elif kind == "string":
        assert ours.enum == theirs.enum, path


@pytest.mark.parametrize("service", specs.SERVED)
def test_loaded_description_is_botocores(service):
    assert specs.description(service) == Loader().load_service_model(service, "service-2")


@pytest.mark.parametrize("service", specs.SERVED)
def test_service_operations_and_shapes_match_botocore(service):
    description = Loader().load_service_model(service, "service-2")
    ours, theirs = tm.ServiceModel(description, service_name=service), bm.ServiceModel(description, service)
    for attr in SERVICE_ATTRS:
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours.service_id == theirs.service_id
    assert [s.name for s in ours.error_shapes] == [s.name for s in theirs.error_shapes]
    for shape in theirs.error_shapes:
        assert _name(ours.shape_for_error_code(shape.error_code)) == _name(theirs.shape_for_error_code(shape.error_code))
    seen: set = set()
    for name in theirs.operation_names:
        op, ref = ours.operation_model(name), theirs.operation_model(name)
        assert ours.operation_model(name) is op
        for attr in OP_ATTRS:
            assert getattr(op, attr) == getattr(ref, attr), f"{name}.{attr}"
        for which in ("input_shape", "output_shape"):
            if getattr(ref, which) is None:
                assert getattr(op, which) is None
            else:
                _same_shape(getattr(op, which), getattr(ref, which), seen, f"{name}.{which}")
        assert [s.name for s in op.error_shapes] == [s.name for s in ref.error_shapes]
        for got, want in ((op.get_streaming_output(), ref.get_streaming_output()),
                          (op.get_streaming_input(), ref.get_streaming_input()),
                          (op.get_event_stream_output(), ref.get_event_stream_output())):
            assert _name(got) == _name(want)
    for shape_name in theirs.shape_names:
        _same_shape(ours.shape_for(shape_name), theirs.shape_for(shape_name), seen, shape_name)


def test_unknown_operation_and_service():
    with pytest.raises(tm.OperationNotFoundError):
        specs.service_model("sqs").operation_model("NoSuchOperation")
    for name in ("nosuchservice", "..", ".", "sqs/../s3", ""):
        assert specs.any_service_model(name) is None
    assert specs.any_service_model("ec2").protocol == "ec2"      # served or not, botocore's model


def test_server_imports_no_botocore_sdk_code():
    """A server's gateway, protocol layer and models load without botocore's HTTP, signing or config code."""
    import subprocess
    import sys

    code = ("import sys\nimport tsunagi.gateway.app, tsunagi.server\n"
            "from tsunagi.protocol.specs import service_model\nservice_model('sqs').operation_model('CreateQueue')\n"
            "print(sorted(m for m in sys.modules if m.startswith(('botocore.', 'urllib3', 'boto3', 'awscrt'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
