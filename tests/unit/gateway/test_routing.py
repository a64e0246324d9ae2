"""Which service a request reaches, on one port."""

from __future__ import annotations

import pytest

from tsunagi.gateway.identity import Authenticator, read_credential
from tsunagi.gateway.routing import resolve_service, sqs_protocol
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.parse import s3_bucket_from_host


def sigv4(service: str, region: str = "us-east-1", akid: str = "test") -> dict[str, str]:
    return {"authorization": f"AWS4-HMAC-SHA256 Credential={akid}/20260101/{region}/{service}/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=abc", "host": "localhost:4566"}


def route(method="POST", path="/", query="", headers=None, body=b""):
    req = HttpRequest(method, path, query, {"host": "localhost:4566", **(headers or {})}, body)
    return resolve_service(req, read_credential(req))


@pytest.mark.parametrize("service", ["sqs", "sns", "lambda", "s3", "logs", "kms", "sts", "iam",
                                     "cloudformation", "apigateway", "ecs"])
def test_signing_name_decides_first(service):
    assert route(headers=sigv4(service)) == service


def test_execute_api_signing_is_api_gateway_invoke():
    assert route(headers=sigv4("execute-api")) == "apigateway-invoke"


@pytest.mark.parametrize("target,service", [("AmazonSQS.SendMessage", "sqs"), ("Logs_20140328.PutLogEvents", "logs"),
                                            ("TrentService.Encrypt", "kms"),
                                            ("AmazonEC2ContainerServiceV20141113.RunTask", "ecs")])
def test_unsigned_json_requests_route_by_target(target, service):
    assert route(headers={"x-amz-target": target}) == service


def test_api_gateway_style_form_post_to_a_queue_url_is_sqs():
    # Seed 002: API Gateway's AWS integration posts a form to the queue's path, unsigned here.
    body = b"Action=SendMessage&MessageBody=%7B%22a%22%3A1%7D"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert route(path="/000000000000/my-queue", headers=headers, body=body) == "sqs"


@pytest.mark.parametrize("query,service", [
    ("Action=GetCallerIdentity&Version=2011-06-15", "sts"),
    ("Action=Publish&Version=2010-03-31", "sns"),
    ("Action=ListQueues&Version=2012-11-05", "sqs"),
    ("Action=DescribeStacks&Version=2010-05-15", "cloudformation"),
    ("Action=GetCallerIdentity", "sts"),
])
def test_query_actions_route_by_version_then_by_name(query, service):
    assert route(method="GET", query=query) == service


def test_unknown_action_matches_nothing():
    assert route(method="GET", query="Action=Frobnicate") is None


def test_rest_paths():
    assert route(method="GET", path="/2015-03-31/functions/") == "lambda"
    assert route(method="GET", path="/restapis") == "apigateway"
    assert route(method="GET", path="/my-bucket/some/key.txt") == "s3"


@pytest.mark.parametrize("host,bucket", [("photos.s3.localhost:4566", "photos"), ("photos.localhost:4566", "photos"),
                                         ("photos.s3.amazonaws.com", "photos"),
                                         ("photos.s3.us-west-2.amazonaws.com", "photos"),
                                         ("localhost:4566", None), ("127.0.0.1:4566", None)])
def test_virtual_host_buckets(host, bucket):
    assert s3_bucket_from_host(host) == bucket
    assert route(method="GET", path="/key", headers={"host": host}) == "s3"


def test_sqs_protocol_follows_the_target_header():
    assert sqs_protocol(HttpRequest("POST", "/", "", {"x-amz-target": "AmazonSQS.ListQueues"})) == "json"
    assert sqs_protocol(HttpRequest("POST", "/", "", {})) == "query"


def test_account_comes_from_a_12_digit_key_and_region_from_the_scope():
    req = HttpRequest("POST", "/", "", sigv4("sqs", "eu-west-1", "111111111111"))
    cred = read_credential(req)
    assert cred.region == "eu-west-1"
    assert Authenticator("000000000000").authenticate(req, cred).account == "111111111111"
    req = HttpRequest("POST", "/", "", sigv4("sqs", akid="AKIAEXAMPLE"))
    assert Authenticator("000000000000").authenticate(req, read_credential(req)).account == "000000000000"


def test_presigned_query_credentials_are_read():
    req = HttpRequest("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20260101%2Fap-northeast-1"
                      "%2Fs3%2Faws4_request&X-Amz-Signature=abc", {"host": "localhost:4566"})
    cred = read_credential(req)
    assert (cred.access_key_id, cred.region, cred.service) == ("test", "ap-northeast-1", "s3")


def test_execute_api_hosts_and_paths_are_api_gateways_invoke_routes() -> None:
    from tsunagi.gateway.routes.apigateway import host_api, path_target

    assert host_api("a1b2c3d4e5.execute-api.localhost:4566") == "a1b2c3d4e5"
    assert host_api("A1B2.execute-api.us-east-1.amazonaws.com") == "a1b2"
    assert host_api("-.execute-api.localhost") is None and host_api("execute-api.localhost") is None
    assert host_api("a.b.execute-api.localhost") is None
    assert path_target("/restapis/abc/dev/_user_request_/x/y") == ("abc", "dev", "/x/y")
    assert path_target("/restapis/abc/dev/_user_request_") == ("abc", "dev", "/")
    assert path_target("/restapis/abc/stages/dev") is None and path_target("/restapis//dev/_user_request_/") is None
