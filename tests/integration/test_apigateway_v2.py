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


AUTH_HANDLERS = """
import json

def simple(event, context):
    ok = event["identitySource"] == ["open-sesame"]
    return {"isAuthorized": ok, "context": {"who": "tester", "route": event["routeKey"]}}

def claims(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}
"""


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def issuer():
    """A local OpenID issuer: its configuration, its JWKS, and a function that signs tokens (RS256)."""
    import http.server
    import threading

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    state: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                doc = {"issuer": state["url"], "jwks_uri": state["url"] + "/keys"}
            elif self.path == "/keys":
                doc = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                                 "n": _b64(numbers.n.to_bytes(256, "big")), "e": _b64(numbers.e.to_bytes(3, "big"))}]}
            else:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def sign(claims: dict, kid: str = "k1") -> str:
        head = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{_b64(sig)}"

    state["sign"] = sign
    yield state
    httpd.shutdown()


def test_jwt_authorizer(server, issuer) -> None:
    import time as _time

    lam = server.client("lambda")
    fn = create(lam, "v2-claims", "app.claims", files={"app.py": AUTH_HANDLERS})["FunctionArn"]
    c = server.client("apigatewayv2")
    api = c.create_api(Name="jwt", ProtocolType="HTTP")["ApiId"]
    auth = c.create_authorizer(ApiId=api, Name="oidc", AuthorizerType="JWT",
                               IdentitySource=["$request.header.Authorization"],
                               JwtConfiguration={"Issuer": issuer["url"], "Audience": ["my-app"]})
    integ = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=fn,
                                 PayloadFormatVersion="2.0")["IntegrationId"]
    c.create_route(ApiId=api, RouteKey="GET /me", Target=f"integrations/{integ}", AuthorizationType="JWT",
                   AuthorizerId=auth["AuthorizerId"], AuthorizationScopes=["read"])
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    now = int(_time.time())
    good = issuer["sign"]({"iss": issuer["url"], "aud": "my-app", "sub": "u-1", "exp": now + 600,
                           "scope": "read write"})
    status, _, body = call(server, api, "/me", headers={"Authorization": f"Bearer {good}"})
    assert status == 200, body
    jwt = json.loads(body)["jwt"]
    assert jwt["claims"]["sub"] == "u-1" and jwt["scopes"] == ["read", "write"]
    for token in (None, "garbage",
                  issuer["sign"]({"iss": issuer["url"], "aud": "other", "exp": now + 600, "scope": "read"}),
                  issuer["sign"]({"iss": issuer["url"], "aud": "my-app", "exp": now - 10, "scope": "read"}),
                  issuer["sign"]({"iss": "https://elsewhere", "aud": "my-app", "exp": now + 600, "scope": "read"}),
                  issuer["sign"]({"iss": issuer["url"], "aud": "my-app", "exp": now + 600, "scope": "write"}),
                  good[:-4] + "AAAA"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, body = call(server, api, "/me", headers=headers)
        assert status == 401 and json.loads(body) == {"message": "Unauthorized"}, token


def test_lambda_request_authorizer_with_simple_responses(server, fns) -> None:
    lam = server.client("lambda")
    auth_fn = create(lam, "v2-simple", "app.simple", files={"app.py": AUTH_HANDLERS})["FunctionArn"]
    echo = fns["echo"]
    c = server.client("apigatewayv2")
    api = c.create_api(Name="lambda-auth", ProtocolType="HTTP")["ApiId"]
    auth = c.create_authorizer(ApiId=api, Name="simple", AuthorizerType="REQUEST",
                               AuthorizerUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{auth_fn}/invocations",
                               AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
                               IdentitySource=["$request.header.x-key"], AuthorizerResultTtlInSeconds=60)
    integ = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                 PayloadFormatVersion="2.0")["IntegrationId"]
    c.create_route(ApiId=api, RouteKey="GET /guarded", Target=f"integrations/{integ}", AuthorizationType="CUSTOM",
                   AuthorizerId=auth["AuthorizerId"])
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    assert call(server, api, "/guarded")[0] == 401
    status, _, body = call(server, api, "/guarded", headers={"x-key": "wrong"})
    assert status == 403 and json.loads(body) == {"message": "Forbidden"}
    status, _, body = call(server, api, "/guarded", headers={"x-key": "open-sesame"})
    assert status == 200, body
    assert json.loads(body)["requestContext"]["authorizer"] == {"lambda": {"who": "tester",
                                                                           "route": "GET /guarded"}}


def test_stage_throttling(server, fns) -> None:
    c = server.client("apigatewayv2")
    api = c.create_api(Name="throttled", ProtocolType="HTTP", Target=fns["bare"])["ApiId"]
    assert call(server, api, "/a")[0] == 200
    c.update_stage(ApiId=api, StageName="$default",
                   DefaultRouteSettings={"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 0.001})
    assert call(server, api, "/a")[0] == 200
    status, _, body = call(server, api, "/a")
    assert status == 429 and json.loads(body) == {"message": "Too Many Requests"}


def test_http_proxy_parameter_mapping(server) -> None:
    import http.server
    import threading

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            out = json.dumps({"path": self.path, "user": self.headers.get("x-user"),
                              "gone": self.headers.get("x-secret")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Internal", "hide-me")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        c = server.client("apigatewayv2")
        api = c.create_api(Name="mapped", ProtocolType="HTTP")["ApiId"]
        integ = c.create_integration(
            ApiId=api, IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
            IntegrationUri=f"http://127.0.0.1:{httpd.server_address[1]}/base",
            RequestParameters={"overwrite:header.x-user": "$request.querystring.who", "remove:header.x-secret": "''",
                               "append:querystring.src": "api", "overwrite:path": "items/$request.path.id"},
            ResponseParameters={"200": {"overwrite:statuscode": "202", "remove:header.X-Internal": "''",
                                        "append:header.X-Request": "$context.requestId"}})["IntegrationId"]
        c.create_route(ApiId=api, RouteKey="GET /things/{id}", Target=f"integrations/{integ}")
        c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
        status, headers, body = call(server, api, "/things/7?who=ann", headers={"X-Secret": "s"})
        assert status == 202, body
        assert json.loads(body) == {"path": "/items/7?who=ann&src=api", "user": "ann", "gone": None}
        assert "X-Internal" not in headers and headers["X-Request"]
    finally:
        httpd.shutdown()
