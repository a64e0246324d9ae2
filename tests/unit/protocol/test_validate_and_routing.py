"""Validation styles, malformed input, rest routing and S3 virtual hosts."""

from __future__ import annotations

import pytest

from tsunagi.protocol import specs
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.parse import create_parser, s3_bucket_from_host
from tsunagi.protocol.serialize import create_serializer
from tsunagi.protocol.validate import validate


def json_request(target, body, content_type="application/x-amz-json-1.1"):
    return HttpRequest("POST", "/", "", {"x-amz-target": target, "content-type": content_type}, body)


def test_json_validation_messages():
    logs = specs.service_model("logs")
    with pytest.raises(ServiceError) as exc:
        create_parser(logs).parse(json_request("Logs_20140328.CreateLogGroup", b"{}"))
    # CloudWatch Logs answers its model's constraint violations as InvalidParameterException
    assert exc.value.code == "InvalidParameterException"
    assert exc.value.message == ("1 validation error detected: Value null at 'logGroupName' failed to "
                                 "satisfy constraint: Member must not be null")
    with pytest.raises(ServiceError) as exc:
        create_parser(logs).parse(json_request("Logs_20140328.CreateLogGroup",
                                               b'{"logGroupName": "", "logGroupClass": "NOPE"}'))
    assert exc.value.message.startswith("2 validation errors detected: ")
    assert "Member must have length greater than or equal to 1" in exc.value.message
    assert "Member must satisfy enum value set" in exc.value.message
    # constraints can be switched off
    create_parser(logs, constraints=False).parse(
        json_request("Logs_20140328.CreateLogGroup", b'{"logGroupName": "", "logGroupClass": "NOPE"}'))


def test_rest_json_validation_lambda():
    lam = specs.service_model("lambda")
    op = lam.operation_model("CreateFunction")
    with pytest.raises(ServiceError) as exc:
        validate(op, {"Role": "arn:aws:iam::000000000000:role/r", "Code": {}})
    assert exc.value.code == "ValidationException"
    assert "Value null at 'functionName' failed to satisfy constraint: Member must not be null" in exc.value.message


def test_sqs_json_does_not_enforce_model_constraints():
    sqs = specs.service_model("sqs")
    parser = create_parser(sqs)
    op, params = parser.parse(json_request("AmazonSQS.ReceiveMessage",
                                           b'{"QueueUrl": "u", "MaxNumberOfMessages": 50}',
                                           "application/x-amz-json-1.0"))
    assert params["MaxNumberOfMessages"] == 50
    with pytest.raises(ServiceError) as exc:
        parser.parse(json_request("AmazonSQS.SendMessage", b'{"QueueUrl": "u"}'))
    assert (exc.value.code, exc.value.message) == ("MissingParameter",
                                                   "The request must contain the parameter MessageBody.")
    with pytest.raises(ServiceError) as exc:
        parser.parse(json_request("AmazonSQS.SendMessage", b'{"QueueUrl": "u", "MessageBody": 5}'))
    assert exc.value.code == "SerializationException"


def test_query_service_validation():
    sns = specs.service_model("sns")
    req = HttpRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded"},
                      b"Action=Publish&Message=hi")
    op, params = create_parser(sns).parse(req)
    assert params == {"Message": "hi"}  # TopicArn is optional in the model
    req = HttpRequest("POST", "/", "", {}, b"Action=CreateTopic")
    with pytest.raises(ServiceError) as exc:
        create_parser(sns).parse(req)
    assert exc.value.code == "ValidationError"
    assert "Value null at 'name'" in exc.value.message


def test_malformed_bodies():
    with pytest.raises(ServiceError) as exc:
        create_parser(specs.service_model("kms")).parse(json_request("TrentService.ListKeys", b"{not json"))
    assert exc.value.code == "SerializationException"
    with pytest.raises(ServiceError) as exc:
        create_parser(specs.service_model("kms")).parse(json_request("TrentService.Nope", b"{}"))
    assert exc.value.code == "UnknownOperationException"
    with pytest.raises(ServiceError) as exc:
        create_parser(specs.service_model("kms")).parse(json_request("Other.ListKeys", b"{}"))
    assert exc.value.code == "UnknownOperationException"
    s3 = create_parser(specs.service_model("s3"))
    with pytest.raises(ServiceError) as exc:
        s3.parse(HttpRequest("PUT", "/b", "tagging", {}, b"<Tagging><TagSet>"))
    assert exc.value.code == "MalformedXML"
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<Tagging><TagSet><Tag><Key>&b;</Key><Value>v</Value></Tag></TagSet></Tagging>")
    with pytest.raises(ServiceError) as exc:
        s3.parse(HttpRequest("PUT", "/b", "tagging", {}, bomb))
    assert exc.value.code == "MalformedXML"


@pytest.mark.parametrize("method,path,query,headers,expected", [
    ("PUT", "/b/k", "", {}, "PutObject"),
    ("PUT", "/b/k", "", {"x-amz-copy-source": "/a/b"}, "CopyObject"),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", {"x-amz-copy-source": "/a/b"}, "UploadPartCopy"),
    ("GET", "/b/k", "", {}, "GetObject"),
    ("GET", "/b/k", "uploadId=u", {}, "ListParts"),
    ("DELETE", "/b/k", "uploadId=u", {}, "AbortMultipartUpload"),
    ("DELETE", "/b/k", "", {}, "DeleteObject"),
    ("GET", "/b", "", {}, "ListObjects"),
    ("GET", "/b/", "", {}, "ListObjects"),
    ("GET", "/b", "list-type=2&prefix=x", {}, "ListObjectsV2"),
    ("GET", "/b", "uploads", {}, "ListMultipartUploads"),
    ("POST", "/b/k", "uploads", {}, "CreateMultipartUpload"),
    ("POST", "/b/k", "uploadId=u", {}, "CompleteMultipartUpload"),
    ("GET", "/b", "tagging", {}, "GetBucketTagging"),
    ("GET", "/b/k/x", "tagging", {}, "GetObjectTagging"),
    ("GET", "/", "", {}, "ListBuckets"),
    ("PUT", "/b", "", {}, "CreateBucket"),
    ("HEAD", "/b", "", {}, "HeadBucket"),
    ("POST", "/b", "delete", {}, "DeleteObjects"),
])
def test_s3_routing(method, path, query, headers, expected):
    op, _ = create_parser(specs.service_model("s3"), validate=False).parse(
        HttpRequest(method, path, query, headers, b""))
    assert op.name == expected


def test_s3_virtual_host():
    assert s3_bucket_from_host("my-bucket.localhost:4566") == "my-bucket"
    assert s3_bucket_from_host("my-bucket.s3.localhost:4566") == "my-bucket"
    assert s3_bucket_from_host("my.dotted.bucket.s3.amazonaws.com") == "my.dotted.bucket"
    assert s3_bucket_from_host("b1.s3.eu-west-1.amazonaws.com") == "b1"
    assert s3_bucket_from_host("b1.s3-eu-west-1.amazonaws.com") == "b1"
    assert s3_bucket_from_host("b1.s3.localhost.localstack.cloud:4566") == "b1"
    for host in ("localhost:4566", "s3.localhost:4566", "s3.amazonaws.com", "127.0.0.1:4566",
                 "s3.us-east-1.amazonaws.com"):
        assert s3_bucket_from_host(host) is None, host
    parser = create_parser(specs.service_model("s3"), validate=False)
    op, params = parser.parse(HttpRequest("GET", "/", "list-type=2", {"host": "b1.localhost"}), bucket_from_host="b1")
    assert (op.name, params) == ("ListObjectsV2", {"Bucket": "b1"})
    op, params = parser.parse(HttpRequest("GET", "/a%20b/c", "", {}), bucket_from_host="b1")
    assert (op.name, params) == ("GetObject", {"Bucket": "b1", "Key": "a b/c"})


def test_rest_json_unknown_path():
    with pytest.raises(ServiceError) as exc:
        create_parser(specs.service_model("lambda")).parse(HttpRequest("GET", "/nope", "", {}, b""))
    assert exc.value.status == 404


def test_s3_get_bucket_location_root_text():
    s3 = specs.service_model("s3")
    resp = create_serializer(s3).serialize_result(s3.operation_model("GetBucketLocation"),
                                                  {"LocationConstraint": "eu-west-1"}, "r")
    assert b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>' \
        in resp.body


def test_s3_list_buckets_root_and_grantee_attribute():
    s3 = specs.service_model("s3")
    ser = create_serializer(s3)
    resp = ser.serialize_result(s3.operation_model("ListBuckets"), {"Buckets": [{"Name": "b"}]}, "r")
    assert b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' in resp.body
    resp = ser.serialize_result(s3.operation_model("GetBucketAcl"), {"Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"}]}, "r")
    assert (b'<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
            in resp.body)
