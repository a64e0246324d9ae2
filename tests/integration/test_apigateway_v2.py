"""HTTP APIs (apigatewayv2) on both stores: quick create, routes and integrations, stages with auto-deploy
and with deployments, Lambda proxy payloads 2.0 and 1.0 (the version configured is the one sent), HTTP
proxy, SQS-SendMessage, CORS preflights, and the errors HTTP APIs answer."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.apigateway_support import invoke
from tests.integration.lambda_support import create

HANDLERS = """
import json

def echo(event, context):
    return {"statusCode": 200, "headers": {"X-Version": event.get("version", "?")},
            "cookies": ["a=1", "b=2"], "body": json.dumps(event)}

def bare(event, context):
    return {"hello": "world"}

def fail(event, context):
    raise RuntimeError("no")
"""


def url(server, api_id: str, path: str = "/") -> tuple[str, dict[str, str]]:
    """The host form of an HTTP API's URL (Python may not resolve *.localhost: the Host header names it)."""
    return f"{server.url}{path}", {"Host": f"{api_id}.execute-api.localhost:{server.port}"}


def call(server, api_id: str, path: str = "/", body: bytes | None = None, *, method: str = "GET",
         headers: dict[str, str] | None = None):
    target, host = url(server, api_id, path)
    return invoke(target, body, method=method, headers={**host, **(headers or {})})


@pytest.fixture
def fns(server):
    lam = server.client("lambda")
    return {h: create(lam, f"v2-{h}", f"app.{h}", files={"app.py": HANDLERS})["FunctionArn"]
            for h in ("echo", "bare", "fail")}


def test_quick_create_with_a_function_sends_payload_2_0(server, fns) -> None:
    c = server.client("apigatewayv2")
    api = c.create_api(Name="quick", ProtocolType="HTTP", Target=fns["echo"])
    assert api["ApiEndpoint"].startswith(f"http://{api['ApiId']}.execute-api.localhost")
    assert [r["RouteKey"] for r in c.get_routes(ApiId=api["ApiId"])["Items"]] == ["$default"]
    assert c.get_stage(ApiId=api["ApiId"], StageName="$default")["AutoDeploy"] is True
    status, headers, body = call(server, api["ApiId"], "/any/path?x=1&x=2", b"hi", method="PUT",
                                 headers={"Cookie": "c1=v1; c2=v2"})
    assert status == 200, body
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default" and event["rawPath"] == "/any/path"
    assert event["rawQueryString"] == "x=1&x=2" and event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and event["body"] == "hi"
    assert event["requestContext"]["http"]["method"] == "PUT" and event["requestContext"]["stage"] == "$default"


def test_routes_payload_1_0_and_bare_answers(server, fns) -> None:
    c = server.client("apigatewayv2")
    api = c.create_api(Name="routes", ProtocolType="HTTP")["ApiId"]
    v1 = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=fns["echo"],
                              PayloadFormatVersion="1.0")["IntegrationId"]
    bare = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=fns["bare"],
                                PayloadFormatVersion="2.0")["IntegrationId"]
    fail = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=fns["fail"],
                                PayloadFormatVersion="2.0")["IntegrationId"]
    c.create_route(ApiId=api, RouteKey="GET /items/{id}", Target=f"integrations/{v1}")
    c.create_route(ApiId=api, RouteKey="ANY /bare", Target=f"integrations/{bare}")
    c.create_route(ApiId=api, RouteKey="POST /fail", Target=f"integrations/{fail}")
    with pytest.raises(ClientError) as e:
        c.create_route(ApiId=api, RouteKey="GET /items/{id}", Target=f"integrations/{v1}")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as e:
        c.create_route(ApiId=api, RouteKey="FETCH /x")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    c.create_stage(ApiId=api, StageName="prod", AutoDeploy=True, StageVariables={"tier": "gold"})
    status, headers, body = call(server, api, "/prod/items/9?q=1")
    assert status == 200 and headers["X-Version"] == "1.0"
    assert headers.get("Set-Cookie") is not None
    event = json.loads(body)
    assert event["version"] == "1.0" and event["resource"] == "/items/{id}" and event["pathParameters"] == {"id": "9"}
    assert event["stageVariables"] == {"tier": "gold"} and event["queryStringParameters"] == {"q": "1"}
    status, headers, body = call(server, api, "/prod/bare", method="DELETE")
    assert status == 200 and json.loads(body) == {"hello": "world"}
    status, _, body = call(server, api, "/prod/fail", b"{}", method="POST")
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    status, _, body = call(server, api, "/prod/nothing")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}
    status, _, body = call(server, api, "/other-stage/items/9")
    assert status == 404


def test_stage_without_auto_deploy_serves_its_deployment(server, fns) -> None:
    c = server.client("apigatewayv2")
    api = c.create_api(Name="deployed", ProtocolType="HTTP")["ApiId"]
    integ = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=fns["bare"],
                                 PayloadFormatVersion="2.0")["IntegrationId"]
    c.create_route(ApiId=api, RouteKey="GET /one", Target=f"integrations/{integ}")
    dep = c.create_deployment(ApiId=api)["DeploymentId"]
    c.create_stage(ApiId=api, StageName="v1", DeploymentId=dep)
    c.create_route(ApiId=api, RouteKey="GET /two", Target=f"integrations/{integ}")
    assert call(server, api, "/v1/one")[0] == 200
    assert call(server, api, "/v1/two")[0] == 404
    c.create_deployment(ApiId=api, StageName="v1")
    assert call(server, api, "/v1/two")[0] == 200


def test_sqs_send_message_subtype(server) -> None:
    sqs = server.sqs_client()
    queue = sqs.create_queue(QueueName="v2-orders")["QueueUrl"]
    c = server.client("apigatewayv2")
    api = c.create_api(Name="sqs", ProtocolType="HTTP")["ApiId"]
    integ = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-SendMessage",
                                 PayloadFormatVersion="1.0", CredentialsArn="arn:aws:iam::000000000000:role/r",
                                 RequestParameters={"QueueUrl": queue, "MessageBody": "$request.body.message"})
    c.create_route(ApiId=api, RouteKey="POST /send", Target=f"integrations/{integ['IntegrationId']}")
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    status, _, body = call(server, api, "/send", json.dumps({"message": "a&b=c 日本"}).encode(), method="POST",
                           headers={"Content-Type": "application/json"})
    assert status == 200, body
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert message["Body"] == "a&b=c 日本"
    assert json.loads(body)["SendMessageResponse"]["SendMessageResult"]["MessageId"] == message["MessageId"]


def test_cors_preflight_and_headers(server, fns) -> None:
    c = server.client("apigatewayv2")
    api = c.create_api(Name="cors", ProtocolType="HTTP", Target=fns["bare"], CorsConfiguration={
        "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["content-type"],
        "MaxAge": 600, "ExposeHeaders": ["x-total"]})["ApiId"]
    status, headers, _ = call(server, api, "/x", method="OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST" and headers["Access-Control-Max-Age"] == "600"
    status, headers, _ = call(server, api, "/x", headers={"Origin": "https://app.example"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Expose-Headers"] == "x-total"
    status, headers, _ = call(server, api, "/x", headers={"Origin": "https://evil.example"})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_control_plane_errors_and_listing(server, fns) -> None:
    c = server.client("apigatewayv2")
    with pytest.raises(ClientError) as e:
        c.get_api(ApiId="nope123456")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        c.create_integration(ApiId=c.create_api(Name="x", ProtocolType="HTTP")["ApiId"],
                             IntegrationType="AWS_PROXY", IntegrationUri=fns["bare"])
    assert e.value.response["Error"]["Code"] == "BadRequestException"       # no PayloadFormatVersion
    names = sorted(a["Name"] for a in c.get_apis()["Items"])
    assert names == ["x"]
    api = c.get_apis()["Items"][0]["ApiId"]
    c.update_api(ApiId=api, Name="y")
    assert c.get_api(ApiId=api)["Name"] == "y"
    c.delete_api(ApiId=api)
    assert c.get_apis()["Items"] == []
