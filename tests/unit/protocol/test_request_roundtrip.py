"""Every operation of every served model: botocore's client serializer -> tsunagi's parser.

The params botocore was given must come back unchanged (the same test LocalStack runs for
its parser, written here from scratch).
"""

from __future__ import annotations

import re

import pytest
from botocore.serialize import create_serializer as botocore_serializer

from tests.unit.protocol.gen import LABELS_UNICODE, input_params, to_http_request
from tsunagi.protocol import specs
from tsunagi.protocol.parse import create_parser, s3_bucket_from_host

# Operations that share their exact wire form with another operation: the parser picks the
# current (non-deprecated) one, which is what AWS itself runs.
ALIASES = {
    ("s3", "GetBucketLifecycle"): "GetBucketLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "PutBucketLifecycleConfiguration",
    ("s3", "GetBucketNotification"): "GetBucketNotificationConfiguration",
    ("s3", "PutBucketNotification"): "PutBucketNotificationConfiguration",
    ("s3", "ListDirectoryBuckets"): "ListBuckets",
}


def _cases():
    for service in specs.SERVED:
        model = specs.service_model(service)
        for name in model.operation_names:
            yield pytest.param(service, name, id=f"{service}.{name}")


def _greedy_fix(op, params):
    """Greedy labels (S3 keys) get a value with slashes."""
    for label in re.findall(r"\{([^}]+)\+\}", op.http.get("requestUri", "")):
        for name, ms in op.input_shape.members.items():
            if ms.serialization.get("location") == "uri" and (ms.serialization.get("name") or name) == label:
                params[name] = "dir/sub dir/" + params[name].replace("/", "") + ".txt"


def _normalize(parsed, params):
    # the HTTP layer adds Content-Length to every request that has a body (or is a PUT/POST)
    if "ContentLength" in parsed and "ContentLength" not in params:
        del parsed["ContentLength"]
    return parsed


def roundtrip(service, name, labels=None, vhost=False, seed=""):
    model = specs.service_model(service)
    op = model.operation_model(name)
    params = input_params(op, labels, seed)
    _greedy_fix(op, params)
    request_dict = botocore_serializer(model.protocol, include_validation=False).serialize_to_request(params, op)
    request = to_http_request(request_dict)
    bucket = None
    if vhost and params.get("Bucket") and request.path.startswith("/"):
        from urllib.parse import quote
        prefix = "/" + quote(params["Bucket"], safe="")
        assert request.path.startswith(prefix)
        request.path = request.path[len(prefix):] or "/"
        request.headers["host"] = f"{params['Bucket']}.s3.localhost:4566"
        bucket = s3_bucket_from_host(request.headers["host"])
        assert bucket == params["Bucket"]
    parser = create_parser(model, validate=False)
    parsed_op, parsed = parser.parse(request, bucket_from_host=bucket)
    alias = ALIASES.get((service, name))
    if alias:
        assert parsed_op.name == alias
        return
    assert parsed_op.name == name
    assert _normalize(parsed, params) == params


@pytest.mark.parametrize("service,name", list(_cases()))
def test_request_roundtrip(service, name):
    roundtrip(service, name)


@pytest.mark.parametrize("service", ["lambda", "s3", "apigateway"])
def test_request_roundtrip_unicode_labels(service):
    model = specs.service_model(service)
    for name in model.operation_names:
        if (service, name) in ALIASES:
            continue
        roundtrip(service, name, labels=LABELS_UNICODE, seed="u" + name)


def test_s3_virtual_host_requests():
    model = specs.service_model("s3")
    count = 0
    for name in model.operation_names:
        op = model.operation_model(name)
        if "{Bucket}" in op.http["requestUri"] and (("s3", name) not in ALIASES):
            roundtrip("s3", name, vhost=True, seed="v" + name)
            count += 1
    assert count > 80


def test_sqs_query_requests_from_botocore_query_serializer():
    """botocore's query serializer on SQS's patched query model -> our SQS query parser."""
    from tsunagi.protocol.sqs_query import query_model

    qmodel = query_model()
    parser = create_parser(specs.service_model("sqs"), "query", validate=False)
    for name in qmodel.operation_names:
        op = qmodel.operation_model(name)
        params = input_params(op, seed="q" + name)
        request_dict = botocore_serializer("query", include_validation=False).serialize_to_request(params, op)
        parsed_op, parsed = parser.parse(to_http_request(request_dict))
        assert parsed_op.name == name
        assert parsed == params, name
