"""Requests to deployed REST APIs, on both stores, with boto3 building the APIs and plain HTTP calling them:
routing (literal, {param}, {proxy+}, ANY), query strings, MOCK, mapping templates and requestOverride,
AWS integrations to SQS (action form, JSON) and SNS, Lambda (non-proxy with error selection, proxy 1.0),
HTTP and HTTP_PROXY, API keys and usage plans, Lambda authorizers (TOKEN and REQUEST), request validators,
gateway responses, and API Gateway's own errors."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading

import pytest

from tests.integration.apigateway_support import invoke, stage_url
from tests.integration.lambda_support import create

REGION = "us-east-1"
ACCOUNT = "000000000000"

PROXY_HANDLERS = """
import base64, json

def echo(event, context):
    return {"statusCode": 201, "headers": {"X-Echo": "yes"}, "multiValueHeaders": {"X-Multi": ["a", "b"]},
            "body": json.dumps(event)}

def binary(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
            "body": base64.b64encode(b"\\x89PNG\\x00\\xff").decode()}

def malformed(event, context):
    return {"statusCode": 200, "bogus": 1}

def not_json(event, context):
    return "just a string"

def fail(event, context):
    raise ValueError("bad input: nope")

def plain(event, context):
    return {"got": event}

def token(event, context):
    tok = event.get("authorizationToken") or (event.get("headers") or {}).get("x-auth")
    if tok == "deny":
        effect = "Deny"
    elif tok in ("allow", "allow-req"):
        effect = "Allow"
    else:
        raise Exception("Unauthorized")
    return {"principalId": "user-1", "context": {"tenant": "t-42", "n": 7},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
"""


def lambda_uri(fn_arn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{fn_arn}/invocations"


class Api:
    """A REST API built step by step through boto3."""

    def __init__(self, server, name: str = "test-api") -> None:
        self.server = server
        self.c = server.client("apigateway")
        api = self.c.create_rest_api(name=name)
        self.id = api["id"]
        self.root = api["rootResourceId"]
        self.paths = {"/": self.root}

    def resource(self, path: str) -> str:
        if path in self.paths:
            return self.paths[path]
        parent, _, part = path.rpartition("/")
        pid = self.resource(parent or "/")
        rid = self.c.create_resource(restApiId=self.id, parentId=pid, pathPart=part)["id"]
        self.paths[path] = rid
        return rid

    def method(self, path: str, method: str, integration: dict, *, responses: dict | None = None, **kw) -> str:
        rid = self.resource(path)
        self.c.put_method(restApiId=self.id, resourceId=rid, httpMethod=method,
                          authorizationType=kw.pop("authorizationType", "NONE"), **kw)
        self.c.put_integration(restApiId=self.id, resourceId=rid, httpMethod=method, **integration)
        for code, spec in (responses or {}).items():
            self.c.put_method_response(restApiId=self.id, resourceId=rid, httpMethod=method, statusCode=code)
            self.c.put_integration_response(restApiId=self.id, resourceId=rid, httpMethod=method, statusCode=code,
                                            **spec)
        return rid

    def deploy(self, stage: str = "test", **kw) -> None:
        self.c.create_deployment(restApiId=self.id, stageName=stage, **kw)

    def call(self, path: str, body: bytes | None = None, *, method: str = "GET", stage: str = "test",
             headers: dict | None = None):
        return invoke(stage_url(self.server, self.id, stage, path), body, method=method, headers=headers)


MOCK_OK = {"type": "MOCK", "requestTemplates": {"application/json": '{"statusCode": 200}'}}


def test_unknown_routes_answer_missing_authentication_token(server) -> None:
    api = Api(server)
    api.method("/items", "GET", MOCK_OK, responses={"200": {"selectionPattern": ""}})
    api.deploy()
    for path, method in (("/nothing", "GET"), ("/items", "POST"), ("/", "GET")):
        status, headers, body = api.call(path, method=method)
        assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
        assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    status, _, body = invoke(stage_url(server, api.id, "nostage", "/items"))
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    status, _, body = invoke(stage_url(server, "nosuchapi1", "test", "/items"))
    assert status == 403
    for host in ("nosuchapi1.execute-api.localhost", "-.execute-api.localhost", f"{api.id}.execute-api.localhost"):
        status, _, body = invoke(f"{server.url}/", method="GET", headers={"Host": host})
        assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}, host


def test_mock_with_templates_params_and_overrides(server) -> None:
    api = Api(server)
    template = ('#set($context.responseOverride.header.X-Item = "$input.params(\'id\')")'
                '#set($context.responseOverride.status = 202)'
                '{"id": "$input.params(\'id\')", "q": "$input.params(\'q\')", "stage": "$context.stage", '
                '"path": "$context.resourcePath", "var": "$stageVariables.color", '
                '"method": "$context.httpMethod", "ua": "$context.identity.userAgent"}')
    api.method("/items/{id}", "GET", MOCK_OK,
               responses={"200": {"selectionPattern": "", "responseTemplates": {"application/json": template}}})
    api.deploy(variables={"color": "blue"})
    status, headers, body = api.call("/items/42?q=hello%20world", headers={"User-Agent": "tester/1"})
    assert status == 202, body
    assert headers["X-Item"] == "42"
    assert json.loads(body) == {"id": "42", "q": "hello world", "stage": "test", "path": "/items/{id}",
                                "var": "blue", "method": "GET", "ua": "tester/1"}


def test_mock_status_chosen_by_selection_pattern(server) -> None:
    api = Api(server)
    api.method("/r", "POST", {"type": "MOCK", "requestTemplates": {
        "application/json": '{"statusCode": #if($input.path(\'$.fail\'))500#{else}200#end}'}},
        responses={"200": {"selectionPattern": "", "responseTemplates": {"application/json": '{"ok":true}'}},
                   "500": {"selectionPattern": "5\\d{2}", "responseTemplates": {"application/json": '{"ok":false}'}}})
    api.deploy()
    json_type = {"Content-Type": "application/json"}
    assert api.call("/r", b'{"fail": false}', method="POST", headers=json_type)[0:3:2] == (200, b'{"ok":true}')
    assert api.call("/r", b'{"fail": true}', method="POST", headers=json_type)[0:3:2] == (500, b'{"ok":false}')


def test_greedy_proxy_any_and_literal_precedence(server) -> None:
    api = Api(server)
    echo = '{"proxy": "$input.params(\'proxy\')", "m": "$context.httpMethod", "r": "$context.resourcePath"}'
    resp = {"200": {"selectionPattern": "", "responseTemplates": {"application/json": echo}}}
    api.method("/{proxy+}", "ANY", MOCK_OK, responses=resp)
    api.method("/fixed", "GET", MOCK_OK, responses={"200": {"selectionPattern": "", "responseTemplates": {
        "application/json": '{"fixed": true}'}}})
    api.deploy()
    status, _, body = api.call("/a/b/c.txt", method="DELETE")
    assert status == 200 and json.loads(body) == {"proxy": "a/b/c.txt", "m": "DELETE", "r": "/{proxy+}"}
    assert json.loads(api.call("/fixed")[2]) == {"fixed": True}
    assert json.loads(api.call("/fixed/deeper")[2])["proxy"] == "fixed/deeper"


def test_changes_show_only_after_a_new_deployment(server) -> None:
    api = Api(server)
    rid = api.method("/v", "GET", MOCK_OK, responses={"200": {"selectionPattern": "", "responseTemplates": {
        "application/json": "one"}}})
    api.deploy()
    assert api.call("/v")[2] == b"one"
    api.c.put_integration_response(restApiId=api.id, resourceId=rid, httpMethod="GET", statusCode="200",
                                   selectionPattern="", responseTemplates={"application/json": "two"})
    assert api.call("/v")[2] == b"one"
    api.deploy()
    assert api.call("/v")[2] == b"two"


def test_sqs_action_form_with_query_parameters_and_trace_header(server) -> None:
    sqs = server.sqs_client()
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    api = Api(server)
    api.method("/orders", "POST", {
        "type": "AWS", "integrationHttpMethod": "POST", "uri": f"arn:aws:apigateway:{REGION}:sqs:action/SendMessage",
        "credentials": f"arn:aws:iam::{ACCOUNT}:role/apigw",
        "requestParameters": {"integration.request.querystring.QueueUrl": f"'{url}'",
                              "integration.request.querystring.MessageBody": "method.request.body"}},
        responses={"200": {"selectionPattern": "", "responseTemplates": {
            "application/json": '{"id": "$input.path(\'$.SendMessageResponse.SendMessageResult.MessageId\')"}'}}})
    api.deploy()
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    status, headers, body = api.call("/orders", b'{"order": 1}', method="POST",
                                     headers={"Content-Type": "application/json", "X-Amzn-Trace-Id": trace})
    assert status == 200, body
    message_id = json.loads(body)["id"]
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert got[0]["MessageId"] == message_id and got[0]["Body"] == '{"order": 1}'
    assert got[0]["Attributes"]["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
    assert headers["X-Amzn-Trace-Id"] == "Root=1-5759e988-bd862e3fe1be46a994272793"


def test_sqs_errors_reach_the_integration_responses(server) -> None:
    api = Api(server)
    api.method("/q", "POST", {
        "type": "AWS", "integrationHttpMethod": "POST", "uri": f"arn:aws:apigateway:{REGION}:sqs:path/{ACCOUNT}/nope",
        "requestParameters": {"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
        "requestTemplates": {"application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"}},
        responses={"200": {"selectionPattern": ""},
                   "400": {"selectionPattern": "4\\d{2}", "responseTemplates": {
                       "application/json": '{"error": "$input.path(\'$.Error.Code\')"}'}}})
    api.deploy()
    status, _, body = api.call("/q", b"{}", method="POST", headers={"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body) == {"error": "AWS.SimpleQueueService.NonExistentQueue"}


def test_sns_publish_integration(server) -> None:
    sns = server.client("sns")
    sqs = server.sqs_client()
    topic = sns.create_topic(Name="events")["TopicArn"]
    url = sqs.create_queue(QueueName="events-q")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    api = Api(server)
    api.method("/publish", "POST", {
        "type": "AWS", "integrationHttpMethod": "POST", "uri": f"arn:aws:apigateway:{REGION}:sns:action/Publish",
        "requestParameters": {"integration.request.querystring.TopicArn": f"'{topic}'",
                              "integration.request.querystring.Message": "method.request.body"}},
        responses={"200": {"selectionPattern": ""}})
    api.deploy()
    status, _, body = api.call("/publish", b"hello topic", method="POST", headers={"Content-Type": "text/plain"})
    assert status == 200, body
    assert json.loads(body)["PublishResponse"]["PublishResult"]["MessageId"]
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert got[0]["Body"] == "hello topic"


@pytest.fixture
def functions(server):
    lam = server.client("lambda")
    names = {}
    for handler in ("echo", "binary", "malformed", "not_json", "fail", "plain", "token"):
        fn = create(lam, f"apigw-{handler.replace('_', '-')}", f"app.{handler}", files={"app.py": PROXY_HANDLERS})
        names[handler] = fn["FunctionArn"]
    return names


def test_lambda_proxy_event_and_response(server, functions) -> None:
    api = Api(server)
    api.method("/users/{id}", "POST", {"type": "AWS_PROXY", "integrationHttpMethod": "POST",
                                       "uri": lambda_uri(functions["echo"])})
    api.deploy(variables={"env": "dev"})
    status, headers, body = api.call("/users/7?a=1&a=2&b=x", b'{"n": 1}', method="POST",
                                     headers={"Content-Type": "application/json", "X-Custom": "c"})
    assert status == 201, body
    assert headers["X-Echo"] == "yes"
    event = json.loads(body)
    assert event["resource"] == "/users/{id}" and event["path"] == "/users/7" and event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] == {"env": "dev"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["headers"]["x-custom"] == "c" and event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    rc = event["requestContext"]
    assert rc["stage"] == "test" and rc["apiId"] == api.id and rc["resourcePath"] == "/users/{id}"
    assert rc["httpMethod"] == "POST" and rc["identity"]["sourceIp"] == "127.0.0.1" and rc["accountId"] == ACCOUNT


def test_lambda_proxy_binary_and_bad_answers(server, functions) -> None:
    api = Api(server)
    for name in ("binary", "malformed", "not_json", "fail"):
        api.method(f"/{name}", "GET", {"type": "AWS_PROXY", "integrationHttpMethod": "POST",
                                       "uri": lambda_uri(functions[name])})
    api.deploy()
    status, headers, body = api.call("/binary")
    assert status == 200 and body == b"\x89PNG\x00\xff" and headers["Content-Type"] == "image/png"
    for name in ("malformed", "not_json", "fail"):
        status, headers, body = api.call(f"/{name}")
        assert status == 502 and json.loads(body) == {"message": "Internal server error"}, name


def test_lambda_non_proxy_with_error_selection(server, functions) -> None:
    api = Api(server)
    integration = {"type": "AWS", "integrationHttpMethod": "POST", "uri": lambda_uri(functions["plain"]),
                   "requestTemplates": {"application/json": '{"name": "$input.params(\'name\')"}'}}
    api.method("/ok", "GET", integration, responses={"200": {"selectionPattern": ""}})
    api.method("/bad", "GET", {**integration, "uri": lambda_uri(functions["fail"])},
               responses={"200": {"selectionPattern": ""},
                          "400": {"selectionPattern": "bad input:.*", "responseTemplates": {
                              "application/json": '{"error": "$input.path(\'$.errorMessage\')"}'}}})
    api.deploy()
    status, _, body = api.call("/ok?name=tsunagi")
    assert status == 200 and json.loads(body) == {"got": {"name": "tsunagi"}}
    status, _, body = api.call("/bad")
    assert status == 400 and json.loads(body) == {"error": "bad input: nope"}


class _Echo(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if "base64" in self.path:
            out = base64.b64encode(b"\x00\x01binary")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        if "slow" in self.path:
            import time

            time.sleep(1.5)
        length = int(self.headers.get("content-length") or 0)
        data = self.rfile.read(length) if length else b""
        out = json.dumps({"method": self.command, "path": self.path, "body": data.decode(),
                          "header": self.headers.get("x-test")}).encode()
        self.send_response(207 if "status207" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "echo")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def backend():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_http_proxy_and_http_integrations(server, backend) -> None:
    api = Api(server)
    api.method("/p/{proxy+}", "ANY", {"type": "HTTP_PROXY", "integrationHttpMethod": "ANY",
                                      "uri": f"{backend}/up/{{proxy}}",
                                      "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"}},
               requestParameters={"method.request.path.proxy": True})
    api.method("/h", "POST", {"type": "HTTP", "integrationHttpMethod": "PUT", "uri": f"{backend}/mapped",
                              "requestParameters": {"integration.request.header.x-test": "'from-mapping'"},
                              "requestTemplates": {"application/json": '{"wrapped": $input.json(\'$\')}'}},
               responses={"200": {"selectionPattern": "2\\d{2}",
                                  "responseParameters": {"method.response.header.X-From": "integration.response.header.X-Backend"}}})
    api.deploy()
    status, headers, body = api.call("/p/a/b/status207?x=1", b"raw", method="POST",
                                     headers={"X-Test": "passed", "Content-Type": "text/plain"})
    assert status == 207 and headers["X-Backend"] == "echo"
    assert json.loads(body) == {"method": "POST", "path": "/up/a/b/status207?x=1", "body": "raw", "header": "passed"}
    status, headers, body = api.call("/h", b'{"a": 1}', method="POST", headers={"Content-Type": "application/json"})
    assert status == 200 and headers["X-From"] == "echo"
    assert json.loads(body) == {"method": "PUT", "path": "/mapped", "body": '{"wrapped": {"a":1}}',
                                "header": "from-mapping"}


def test_api_keys_and_usage_plans(server) -> None:
    api = Api(server)
    api.method("/secure", "GET", MOCK_OK, responses={"200": {"selectionPattern": "", "responseTemplates": {
        "application/json": '{"key": "$context.identity.apiKeyId"}'}}}, apiKeyRequired=True)
    api.deploy()
    c = api.c
    key = c.create_api_key(name="client", enabled=True)
    assert len(key["value"]) >= 20
    status, headers, body = api.call("/secure")
    assert status == 403 and json.loads(body) == {"message": "Forbidden"}
    assert api.call("/secure", headers={"x-api-key": key["value"]})[0] == 403      # in no usage plan yet
    plan = c.create_usage_plan(name="basic", apiStages=[{"apiId": api.id, "stage": "test"}],
                               throttle={"burstLimit": 10, "rateLimit": 5.0})
    c.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    status, _, body = api.call("/secure", headers={"x-api-key": key["value"]})
    assert status == 200 and json.loads(body) == {"key": key["id"]}
    assert [k["id"] for k in c.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    c.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    assert api.call("/secure", headers={"x-api-key": key["value"]})[0] == 403
    assert "value" not in c.get_api_key(apiKey=key["id"])
    assert c.get_api_key(apiKey=key["id"], includeValue=True)["value"] == key["value"]


def test_token_and_request_authorizers(server, functions) -> None:
    api = Api(server)
    c = api.c
    token_auth = c.create_authorizer(restApiId=api.id, name="tok", type="TOKEN",
                                     authorizerUri=lambda_uri(functions["token"]),
                                     identitySource="method.request.header.Authorization",
                                     authorizerResultTtlInSeconds=0)
    request_auth = c.create_authorizer(restApiId=api.id, name="req", type="REQUEST",
                                       authorizerUri=lambda_uri(functions["token"]),
                                       identitySource="method.request.header.x-auth",
                                       authorizerResultTtlInSeconds=300)
    template = '{"principal": "$context.authorizer.principalId", "tenant": "$context.authorizer.tenant"}'
    resp = {"200": {"selectionPattern": "", "responseTemplates": {"application/json": template}}}
    api.method("/t", "GET", MOCK_OK, responses=resp, authorizationType="CUSTOM", authorizerId=token_auth["id"])
    api.method("/r", "GET", MOCK_OK, responses=resp, authorizationType="CUSTOM", authorizerId=request_auth["id"])
    api.deploy()
    assert api.call("/t")[0] == 401
    status, _, body = api.call("/t", headers={"Authorization": "allow"})
    assert status == 200 and json.loads(body) == {"principal": "user-1", "tenant": "t-42"}
    status, _, body = api.call("/t", headers={"Authorization": "deny"})
    assert status == 403
    assert json.loads(body) == {"message": "User is not authorized to access this resource with an explicit deny"}
    status, _, body = api.call("/t", headers={"Authorization": "who"})
    assert status == 401 and json.loads(body) == {"message": "Unauthorized"}
    assert api.call("/r")[0] == 401
    status, _, body = api.call("/r", headers={"x-auth": "allow-req"})
    assert status == 200 and json.loads(body)["tenant"] == "t-42"


def test_request_validator_and_gateway_responses(server) -> None:
    api = Api(server)
    c = api.c
    validator = c.create_request_validator(restApiId=api.id, name="params", validateRequestParameters=True)
    api.method("/v", "GET", MOCK_OK, responses={"200": {"selectionPattern": ""}},
               requestParameters={"method.request.querystring.needed": True},
               requestValidatorId=validator["id"])
    c.put_gateway_response(restApiId=api.id, responseType="MISSING_AUTHENTICATION_TOKEN", statusCode="404",
                           responseParameters={"gatewayresponse.header.X-Why": "'not here'"},
                           responseTemplates={"application/json": '{"error": $context.error.messageString}'})
    api.deploy()
    status, _, body = api.call("/v")
    assert status == 400 and json.loads(body) == {"message": "Missing required request parameters: [needed]"}
    assert api.call("/v?needed=1")[0] == 200
    status, headers, body = api.call("/elsewhere")
    assert status == 404 and headers["X-Why"] == "not here"
    assert json.loads(body) == {"error": "Missing Authentication Token"}


def test_request_too_large(server) -> None:
    api = Api(server)
    api.method("/big", "POST", {"type": "MOCK"}, responses={"200": {"selectionPattern": ""}})
    api.deploy()
    # the answer comes before the body is read: send the headers alone, as a client waiting on 100-continue
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"POST /restapis/{api.id}/test/_user_request_/big HTTP/1.1\r\nHost: localhost\r\n"
                  f"Content-Length: {10 * 1024 * 1024 + 1}\r\nExpect: 100-continue\r\n\r\n".encode())
        reply = b""
        while b"}" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 ") and reply.endswith(b'{"message": "Request Too Long"}')


def test_a_template_that_fails_answers_500_not_a_traceback(server) -> None:
    api = Api(server)
    api.method("/t", "POST", {"type": "MOCK", "requestTemplates": {"application/json": "$input.path('$.a')"}},
               responses={"200": {"selectionPattern": ""}})
    api.deploy()
    status, _, body = api.call("/t", b"{not json", method="POST", headers={"Content-Type": "application/json"})
    assert status == 500 and json.loads(body) == {"message": "Internal server error"}


MALFORMED = ["#if($input.body == 'x')never closed", "#foreach($x in $input.path('$.l'))no end",
             "#set($a = )", "$input.path('$.a'", "#end", "${unterminated", "#macro(m)x", "$util.parseJson('{')"]


@pytest.mark.parametrize("where", ["request", "response"])
def test_malformed_templates_answer_500_without_a_traceback(server, where: str) -> None:
    """A template that cannot be parsed or run: API Gateway's 500 ``Internal server error``, at invoke time
    (AWS takes any text as a template when it is put), and nothing of tsunagi's own in the answer or its log."""
    api = Api(server)
    for i, template in enumerate(MALFORMED):
        if where == "request":
            integration = {"type": "MOCK", "requestTemplates": {"application/json": template}}
            responses = {"200": {"selectionPattern": ""}}
        else:
            integration = MOCK_OK
            responses = {"200": {"selectionPattern": "", "responseTemplates": {"application/json": template}}}
        api.method(f"/t{i}", "POST", integration, responses=responses)
    api.deploy()
    before = server.log().count("Traceback")
    for i, template in enumerate(MALFORMED):
        status, headers, body = api.call(f"/t{i}", b'{"a": 1}', method="POST",
                                         headers={"Content-Type": "application/json"})
        assert status == 500 and json.loads(body) == {"message": "Internal server error"}, (template, body)
        assert headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    assert server.log().count("Traceback") == before


def test_integration_timeout_answers_504(server, backend) -> None:
    api = Api(server)
    api.method("/slow", "GET", {"type": "HTTP_PROXY", "integrationHttpMethod": "GET", "uri": f"{backend}/slow",
                                "timeoutInMillis": 200})
    api.deploy()
    status, headers, body = api.call("/slow")
    assert status == 504 and json.loads(body) == {"message": "Endpoint request timed out"}


def test_usage_plan_throttle_and_quota_and_stage_throttling(server) -> None:
    api = Api(server)
    resp = {"200": {"selectionPattern": ""}}
    api.method("/k", "GET", MOCK_OK, responses=resp, apiKeyRequired=True)
    api.method("/open", "GET", MOCK_OK, responses=resp)
    api.deploy()
    c = api.c
    burst = c.create_api_key(name="burst", enabled=True)
    quota = c.create_api_key(name="quota", enabled=True)
    stage = [{"apiId": api.id, "stage": "test"}]
    p1 = c.create_usage_plan(name="tight", apiStages=stage, throttle={"burstLimit": 1, "rateLimit": 0.001})
    p2 = c.create_usage_plan(name="counted", apiStages=stage, quota={"limit": 2, "period": "DAY"})
    c.create_usage_plan_key(usagePlanId=p1["id"], keyId=burst["id"], keyType="API_KEY")
    c.create_usage_plan_key(usagePlanId=p2["id"], keyId=quota["id"], keyType="API_KEY")
    assert api.call("/k", headers={"x-api-key": burst["value"]})[0] == 200
    status, _, body = api.call("/k", headers={"x-api-key": burst["value"]})
    assert status == 429 and json.loads(body) == {"message": "Too Many Requests"}
    assert [api.call("/k", headers={"x-api-key": quota["value"]})[0] for _ in range(2)] == [200, 200]
    status, _, body = api.call("/k", headers={"x-api-key": quota["value"]})
    assert status == 429 and json.loads(body) == {"message": "Limit Exceeded"}
    assert api.call("/open")[0] == 200
    c.update_stage(restApiId=api.id, stageName="test", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "0"}])
    status, _, body = api.call("/open")
    assert status == 429 and json.loads(body) == {"message": "Too Many Requests"}


def test_stage_access_logs_go_to_cloudwatch_logs(server) -> None:
    api = Api(server)
    api.method("/logged", "GET", MOCK_OK, responses={"200": {"selectionPattern": ""}})
    api.deploy()
    group = "/apigw/access"
    api.c.update_stage(restApiId=api.id, stageName="test", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn",
         "value": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"},
        {"op": "replace", "path": "/accessLogSettings/format",
         "value": '{"id":"$context.requestId","status":"$context.status","method":"$context.httpMethod",'
                  '"path":"$context.resourcePath","ip":"$context.identity.sourceIp"}'}])
    status, headers, _ = api.call("/logged")
    assert status == 200
    assert api.call("/missing")[0] == 403
    events = server.client("logs").filter_log_events(logGroupName=group)["events"]
    lines = [json.loads(e["message"]) for e in events]
    assert lines[0] == {"id": headers["x-amzn-RequestId"], "status": "200", "method": "GET", "path": "/logged",
                        "ip": "127.0.0.1"}
    assert lines[1]["status"] == "403"


def test_aws_iam_methods_need_a_signed_request(server) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    api = Api(server)
    api.method("/iam", "GET", MOCK_OK, authorizationType="AWS_IAM", responses={"200": {
        "selectionPattern": "", "responseTemplates": {
            "application/json": '{"caller": "$context.identity.caller", "account": "$context.identity.accountId"}'}}})
    api.deploy()
    status, _, body = api.call("/iam")
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    target = stage_url(server, api.id, "test", "/iam")
    signed = AWSRequest(method="GET", url=target, headers={"Host": f"127.0.0.1:{server.port}"})
    SigV4Auth(Credentials("111111111111", "test"), "execute-api", REGION).add_auth(signed)
    status, _, body = invoke(target, method="GET", headers=dict(signed.headers.items()))
    assert status == 200, body
    assert json.loads(body) == {"caller": "arn:aws:iam::111111111111:root", "account": "111111111111"}


def test_request_bodies_are_validated_against_the_model(server) -> None:
    api = Api(server)
    c = api.c
    c.create_model(restApiId=api.id, name="Pet", contentType="application/json", schema=json.dumps({
        "$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0},
                       "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}}))
    validator = c.create_request_validator(restApiId=api.id, name="body", validateRequestBody=True)
    api.method("/pets", "POST", MOCK_OK, responses={"200": {"selectionPattern": ""}},
               requestModels={"application/json": "Pet"}, requestValidatorId=validator["id"])
    c.put_gateway_response(restApiId=api.id, responseType="BAD_REQUEST_BODY", responseTemplates={
        "application/json": '{"message": $context.error.messageString, "why": "$context.error.validationErrorString"}'})
    api.deploy()
    json_type = {"Content-Type": "application/json"}
    assert api.call("/pets", b'{"name": "rex", "age": 3, "tags": ["a"]}', method="POST", headers=json_type)[0] == 200
    for bad in (b'{"age": 3}', b'{"name": ""}', b'{"name": "rex", "age": -1}', b'{"name": "rex", "age": "old"}',
                b'{"name": "rex", "tags": ["a", "b", "c"]}', b"[1, 2]", b"{not json"):
        status, _, body = api.call("/pets", bad, method="POST", headers=json_type)
        assert status == 400, bad
        answer = json.loads(body)
        assert answer["message"] == "Invalid request body", bad
    status, _, body = api.call("/pets", b'{"age": 3}', method="POST", headers=json_type)
    assert "missing required properties" in json.loads(body)["why"]


def test_execution_logs_follow_the_stage_logging_level(server) -> None:
    api = Api(server)
    api.method("/x", "POST", MOCK_OK, responses={"200": {"selectionPattern": ""}})
    api.deploy()
    api.c.update_stage(restApiId=api.id, stageName="test", patchOperations=[
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
        {"op": "replace", "path": "/*/*/logging/dataTrace", "value": "true"}])
    status, headers, _ = api.call("/x", b'{"secret": 1}', method="POST", headers={"Content-Type": "application/json"})
    assert status == 200
    group = f"API-Gateway-Execution-Logs_{api.id}/test"
    messages = [e["message"] for e in server.client("logs").filter_log_events(logGroupName=group)["events"]]
    rid = headers["x-amzn-RequestId"]
    assert f"({rid}) HTTP Method: POST, Resource Path: /x" in messages
    assert f"({rid}) Method request body before transformations: " + '{"secret": 1}' in messages
    assert messages[-1] == f"({rid}) Method completed with status: 200"


def test_binary_bodies_and_content_handling(server, backend) -> None:
    api = Api(server)
    api.c.update_rest_api(restApiId=api.id, patchOperations=[{"op": "add", "path": "/binaryMediaTypes/image~1png"}])
    # a binary upload reaches a template as base64
    api.method("/up", "POST", {"type": "HTTP", "integrationHttpMethod": "POST", "uri": f"{backend}/up",
                               "requestTemplates": {"image/png": "$input.body"}},
               responses={"200": {"selectionPattern": ""}})
    # an integration answering base64, turned into bytes for the client
    rid = api.method("/down", "GET", {"type": "HTTP", "integrationHttpMethod": "GET", "uri": f"{backend}/base64"})
    api.c.put_method_response(restApiId=api.id, resourceId=rid, httpMethod="GET", statusCode="200")
    api.c.put_integration_response(restApiId=api.id, resourceId=rid, httpMethod="GET", statusCode="200",
                                   selectionPattern="", contentHandling="CONVERT_TO_BINARY")
    api.deploy()
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    status, _, body = api.call("/up", png, method="POST", headers={"Content-Type": "image/png"})
    assert status == 200 and json.loads(body)["body"] == base64.b64encode(png).decode()
    status, headers, body = api.call("/down", headers={"Accept": "image/png"})
    assert status == 200 and body == b"\x00\x01binary" and headers["Content-Type"] == "image/png"


def test_sqs_json_protocol_integration(server) -> None:
    sqs = server.sqs_client()
    url = sqs.create_queue(QueueName="json-q")["QueueUrl"]
    api = Api(server)
    api.method("/j", "POST", {
        "type": "AWS", "integrationHttpMethod": "POST", "uri": f"arn:aws:apigateway:{REGION}:sqs:path/{ACCOUNT}/json-q",
        "requestParameters": {"integration.request.header.X-Amz-Target": "'AmazonSQS.SendMessage'",
                              "integration.request.header.Content-Type": "'application/x-amz-json-1.0'"},
        "requestTemplates": {"application/json": '{"QueueUrl": "' + url + '", "MessageBody": $input.json(\'$.message\'),'
                                                 ' "MessageAttributes": {"src": {"DataType": "String", '
                                                 '"StringValue": "apigw"}}}'}},
        responses={"200": {"selectionPattern": ""}})
    api.deploy()
    status, _, body = api.call("/j", json.dumps({"message": "hello \"json\" 日本"}).encode(), method="POST",
                               headers={"Content-Type": "application/json"})
    assert status == 200, body
    assert json.loads(body)["MessageId"]
    (m,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert m["Body"] == 'hello "json" 日本' and m["MessageAttributes"]["src"]["StringValue"] == "apigw"
