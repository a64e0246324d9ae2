"""Errors: tsunagi's serializer -> botocore's parser (and a real botocore client) recovers them."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.parsers import create_parser as botocore_parser

from tsunagi.protocol import specs
from tsunagi.protocol.errors import ServiceError, error_class
from tsunagi.protocol.parse import create_parser
from tsunagi.protocol.serialize import create_serializer


def parse_error(protocol, response):
    headers = HeadersDict()
    for k, v in response.headers:
        headers[k] = v
    return botocore_parser(protocol).parse(
        {"status_code": response.status, "headers": headers, "body": response.body}, None)


def _error_cases():
    for service in specs.SERVED:
        model = specs.service_model(service)
        seen = 0
        for name in model.operation_names:
            op = model.operation_model(name)
            if op.error_shapes and seen < 6:
                seen += 1
                yield pytest.param(service, name, id=f"{service}.{name}")


@pytest.mark.parametrize("service,name", list(_error_cases()))
def test_modeled_errors_parse(service, name):
    model = specs.service_model(service)
    op = model.operation_model(name)
    ser = create_serializer(model)
    for shape in op.error_shapes:
        code = shape.error_code
        status = shape.metadata.get("error", {}).get("httpStatusCode", 400)
        err = ServiceError(f"boom: {code} <&>", code=code, query_code=code)
        response = ser.serialize_error(err, op, "req-9")
        assert response.status == status
        parsed = parse_error(model.protocol, response)
        assert parsed["Error"]["Code"] == code
        assert parsed["Error"]["Message"] == f"boom: {code} <&>"
        if response.body:
            assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


def test_error_status_precedence():
    model = specs.service_model("lambda")
    ser = create_serializer(model)
    # from the model (ResourceNotFoundException is 404 in Lambda's model)
    assert ser.serialize_error(ServiceError("x", code="ResourceNotFoundException"), None, "r").status == 404
    # an explicit status wins
    assert ser.serialize_error(ServiceError("x", code="ResourceNotFoundException", status=410), None, "r").status == 410
    # a class status wins over the model
    Gone = error_class("ResourceNotFoundException", status=409)
    assert ser.serialize_error(Gone("x"), None, "r").status == 409


def test_sqs_json_error_is_query_compatible():
    model = specs.service_model("sqs")
    err = ServiceError("The specified queue does not exist.", code="QueueDoesNotExist",
                       query_code="AWS.SimpleQueueService.NonExistentQueue")
    response = create_serializer(model).serialize_error(err, model.operation_model("GetQueueUrl"), "r1")
    headers = dict(response.headers)
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    parsed = parse_error("json", response)
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert parsed["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    assert parsed["Error"]["Type"] == "Sender"


def test_sqs_query_error_uses_query_code():
    model = specs.service_model("sqs")
    err = ServiceError("nope", code="QueueDoesNotExist", query_code="AWS.SimpleQueueService.NonExistentQueue")
    response = create_serializer(model, "query").serialize_error(err, None, "r2")
    assert b"<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in response.body
    assert b"<Type>Sender</Type>" in response.body
    parsed = parse_error("query", response)
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert parsed["ResponseMetadata"]["RequestId"] == "r2"


def test_s3_error_fields_and_head():
    model = specs.service_model("s3")
    ser = create_serializer(model)
    err = ServiceError("The specified bucket does not exist", code="NoSuchBucket", status=404,
                       BucketName="b1")
    response = ser.serialize_error(err, model.operation_model("ListObjects"), "r3")
    parsed = parse_error("rest-xml", response)
    assert response.status == 404
    assert parsed["Error"] == {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist",
                               "BucketName": "b1"}
    assert parsed["ResponseMetadata"]["RequestId"] == "r3"
    head = ser.serialize_error(err, model.operation_model("HeadObject"), "r4")
    assert head.body == b"" and head.status == 404


class _Backend:
    """Plays a service: our parser in, a canned result or error out."""

    def __init__(self, service, protocol=None, handler=None):
        self.model = specs.service_model(service)
        self.parser = create_parser(self.model, protocol)
        self.serializer = create_serializer(self.model, protocol)
        self.handler = handler
        self.calls = []

    def __call__(self, request, **kwargs):
        from urllib.parse import urlsplit

        from tsunagi.protocol.http import HttpRequest
        url = urlsplit(request.url)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        headers.setdefault("host", url.netloc)
        http = HttpRequest(request.method, url.path or "/", url.query, headers, body)
        op, params = self.parser.parse(http)
        self.calls.append((op.name, params))
        try:
            result = self.handler(op.name, params)
            resp = self.serializer.serialize_result(op, result, "rid-1")
        except ServiceError as e:
            resp = self.serializer.serialize_error(e, op, "rid-1")
        return AWSResponse(request.url, resp.status, HeadersDict(resp.headers), _Raw(resp.body))


class _Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **kwargs):
        yield self.body

    def read(self, amt=None):
        body, self.body = self.body, b""
        return body


def _client(service, backend, **kw):
    session = botocore.session.get_session()
    client = session.create_client(service, region_name="us-east-1", endpoint_url="http://localhost:4566",
                                   aws_access_key_id="test", aws_secret_access_key="test", **kw)
    client.meta.events.register("before-send", backend)
    return client


def test_botocore_sqs_client_raises_modeled_exception():
    def handler(name, params):
        raise ServiceError("The specified queue does not exist.", code="QueueDoesNotExist",
                           query_code="AWS.SimpleQueueService.NonExistentQueue")

    client = _client("sqs", _Backend("sqs", handler=handler))
    with pytest.raises(client.exceptions.QueueDoesNotExist) as exc:
        client.get_queue_url(QueueName="missing")
    assert exc.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_botocore_clients_end_to_end():
    def sqs(name, params):
        assert name == "SendMessage"
        return {"MessageId": "m-1", "MD5OfMessageBody": "x"}

    client = _client("sqs", _Backend("sqs", handler=sqs))
    out = client.send_message(QueueUrl="http://localhost:4566/000000000000/q", MessageBody="hi",
                              MessageAttributes={"a": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    assert out["MessageId"] == "m-1"

    def lam(name, params):
        assert name == "Invoke"
        assert params["Payload"] == b'{"k": 1}'
        return {"StatusCode": 200, "FunctionError": "Unhandled", "LogResult": "bG9n",
                "Payload": b'{"errorMessage": "x"}', "ExecutedVersion": "$LATEST"}

    client = _client("lambda", _Backend("lambda", handler=lam))
    out = client.invoke(FunctionName="fn", Payload=b'{"k": 1}')
    assert out["FunctionError"] == "Unhandled"
    assert out["LogResult"] == "bG9n"
    assert out["Payload"].read() == b'{"errorMessage": "x"}'

    def s3(name, params):
        if name == "PutObject":
            assert params["Bucket"] == "bkt" and params["Key"] == "a/b c/ü.txt"
            assert params["Body"] == b"data" and params["Metadata"] == {"color": "blue"}
            return {"ETag": '"abc"'}
        raise ServiceError("The specified key does not exist.", code="NoSuchKey", status=404, Key="k")

    for style in ("path", "virtual"):
        backend = _Backend("s3", handler=s3)
        if style == "virtual":
            base = backend.parser.parse

            def vparse(request, base=base):
                from tsunagi.protocol.parse import s3_bucket_from_host
                return base(request, bucket_from_host=s3_bucket_from_host(request.headers["host"]))
            backend.parser = type("P", (), {"parse": staticmethod(vparse)})()
        from botocore.config import Config
        client = _client("s3", backend, config=Config(s3={"addressing_style": style}))
        out = client.put_object(Bucket="bkt", Key="a/b c/ü.txt", Body=b"data", Metadata={"color": "blue"})
        assert out["ETag"] == '"abc"'
        with pytest.raises(client.exceptions.NoSuchKey):
            client.get_object(Bucket="bkt", Key="k")
