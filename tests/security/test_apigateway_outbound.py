"""API Gateway's HTTP and HTTP_PROXY integrations go out as every outbound request does
(:mod:`tsunagi.outbound`): never into tsunagi's own internal routes, however the URL spells them; an
endpoint's answer read only up to API Gateway's 10 MB payload quota; chunked answers decoded. Real server,
loopback only; every wait is bounded."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from tests.integration.apigateway_support import invoke, stage_url
from tests.security.probe import RawEndpoint, rss_mb
from tests.support.server import TsunagiServer


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def _api(srv, integration: dict, *, path_part: str = "go") -> str:
    """A REST API with ANY /{path_part} on ``integration`` (and a 200 response for HTTP), deployed to ``test``."""
    c = srv.client("apigateway")
    api = c.create_rest_api(name="outbound")
    rid = c.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart=path_part)["id"]
    c.put_method(restApiId=api["id"], resourceId=rid, httpMethod="ANY", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=rid, httpMethod="ANY", **integration)
    if integration["type"] == "HTTP":
        c.put_method_response(restApiId=api["id"], resourceId=rid, httpMethod="ANY", statusCode="200")
        c.put_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="ANY", statusCode="200",
                                   selectionPattern="")
    c.create_deployment(restApiId=api["id"], stageName="test")
    return str(api["id"])


@pytest.mark.parametrize("kind", ["HTTP_PROXY", "HTTP"])
@pytest.mark.parametrize("path", ["/_tsunagi/reset", "/%5Ftsunagi/reset", "//_tsunagi/reset", "/_TSUNAGI/reset"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "api.localhost"])
def test_an_http_integration_never_reaches_an_internal_route(srv, kind, path, host):
    sqs = srv.sqs_client()
    sqs.create_queue(QueueName="survivor")
    api_id = _api(srv, {"type": kind, "integrationHttpMethod": "POST", "uri": f"http://{host}:{srv.port}{path}"})
    status, _, body = invoke(stage_url(srv, api_id, "test", "/go"), b"{}", method="POST",
                             headers={"Content-Type": "application/json"})
    assert status == 500 and json.loads(body) == {"message": "Internal server error"}
    # the reset never ran: the queue and the API are still there
    assert sqs.get_queue_url(QueueName="survivor")["QueueUrl"].endswith("/survivor")
    assert srv.client("apigateway").get_rest_api(restApiId=api_id)["id"] == api_id


def test_an_http_integration_reaches_the_servers_public_routes(srv):
    """Only the internal routes are refused: an HTTP integration to the server's own AWS API (or any local
    service) still works."""
    api_id = _api(srv, {"type": "HTTP_PROXY", "integrationHttpMethod": "GET",
                        "uri": f"http://localhost:{srv.port}/restapis/nosuchapi9/test/_user_request_/x"})
    status, _, body = invoke(stage_url(srv, api_id, "test", "/go"), method="GET")
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}


def test_a_3_gb_integration_answer_is_read_only_up_to_the_payload_quota(srv):
    endpoint = RawEndpoint("huge")
    try:
        api_id = _api(srv, {"type": "HTTP_PROXY", "integrationHttpMethod": "GET", "uri": endpoint.url})
        before = rss_mb(srv.proc.pid)
        started = time.monotonic()
        status, _, body = invoke(stage_url(srv, api_id, "test", "/go"), method="GET", timeout=60)
        assert status == 500 and json.loads(body) == {"message": "Internal server error"}
        assert time.monotonic() - started < 30
        grown = rss_mb(srv.proc.pid) - before
        assert grown < 100, f"the server grew {grown:.0f} MB reading an integration's answer"
        time.sleep(0.5)
        assert endpoint.sent < 256 * 1024 * 1024, "the server kept reading after the quota"
    finally:
        endpoint.close()


class _Chunked(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Backend", "chunked")
        self.end_headers()
        for part in ("first part, ", "日本語, ", "last"):
            data = part.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args) -> None:
        pass


def test_a_chunked_integration_answer_arrives_decoded(srv):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Chunked)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        api_id = _api(srv, {"type": "HTTP_PROXY", "integrationHttpMethod": "GET",
                            "uri": f"http://127.0.0.1:{httpd.server_address[1]}/stream"})
        status, headers, body = invoke(stage_url(srv, api_id, "test", "/go"), method="GET")
        assert status == 200 and headers["X-Backend"] == "chunked"
        assert body.decode() == "first part, 日本語, last"
    finally:
        httpd.shutdown()


def test_a_jwt_issuer_answering_3_gb_is_read_only_up_to_a_cap(srv):
    """A JWT authorizer's issuer is a URL its API's owner chose: its discovery document is fetched the same
    way, capped, and a request with a token is refused (401) without the server swelling."""
    import base64

    endpoint = RawEndpoint("huge")
    try:
        c = srv.client("apigatewayv2")
        api = c.create_api(Name="jwt-huge", ProtocolType="HTTP")["ApiId"]
        auth = c.create_authorizer(ApiId=api, Name="oidc", AuthorizerType="JWT",
                                   IdentitySource=["$request.header.Authorization"],
                                   JwtConfiguration={"Issuer": endpoint.url, "Audience": ["my-app"]})
        integ = c.create_integration(ApiId=api, IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
                                     IntegrationUri=endpoint.url, PayloadFormatVersion="1.0")["IntegrationId"]
        c.create_route(ApiId=api, RouteKey="GET /me", Target=f"integrations/{integ}", AuthorizationType="JWT",
                       AuthorizerId=auth["AuthorizerId"])
        c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)

        def b64(doc: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

        token = f"{b64({'alg': 'RS256', 'kid': 'k1'})}.{b64({'iss': endpoint.url, 'aud': 'my-app'})}.c2ln"
        before = rss_mb(srv.proc.pid)
        status, _, body = invoke(f"{srv.url}/me", method="GET", timeout=60,
                                 headers={"Authorization": f"Bearer {token}", "Host": f"{api}.execute-api.localhost"})
        assert status == 401 and json.loads(body) == {"message": "Unauthorized"}
        grown = rss_mb(srv.proc.pid) - before
        assert grown < 100, f"the server grew {grown:.0f} MB reading an issuer's answer"
        assert len(endpoint.requests) == 1 and endpoint.requests[0].startswith(b"GET /sns/.well-known/")
    finally:
        endpoint.close()
