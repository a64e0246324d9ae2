"""API Gateway's execute-api: requests to a deployed REST API, in either of the two local forms of its
invoke URL:

- ``http://localhost:4566/restapis/{api id}/{stage}/_user_request_/{path}`` (the path form);
- ``http://{api id}.execute-api.localhost:4566/{stage}/{path}`` (the host form: ``*.localhost`` resolves to
  the loopback address; any served host whose first label is followed by ``.execute-api.`` counts).

The route hands the request to API Gateway's port as plain values (:class:`~tsunagi.ports.apigateway.ApiRequest`)
and writes back what the API answers. The control plane's own ``/restapis/...`` calls are not claimed: the
path form needs ``_user_request_`` as its fourth segment.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tsunagi.gateway.bodies import read_body
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.identity import Authenticator, read_credential, resolved
from tsunagi.gateway.routes import Route, RouteRegistry
from tsunagi.protocol.errors import RequestEntityTooLarge, ServiceError
from tsunagi.protocol.http import HttpResponse

if TYPE_CHECKING:
    from tsunagi.services.base import Platform

MAX_PAYLOAD = 10 * 1024 * 1024          # API Gateway's payload quota: 10 MB
USER_REQUEST = "_user_request_"


def path_target(path: str) -> tuple[str, str, str] | None:
    """``/restapis/{id}/{stage}/_user_request_/{rest}`` → (id, stage, "/" + rest)."""
    parts = path.split("/", 5)
    if len(parts) < 5 or parts[1] != "restapis" or parts[4] != USER_REQUEST or not parts[2] or not parts[3]:
        return None
    return parts[2], parts[3], "/" + (parts[5] if len(parts) > 5 else "")


def host_api(host: str) -> str | None:
    """``{id}.execute-api.…`` → id."""
    name = host.split(":", 1)[0].lower()
    label, dot, rest = name.partition(".")
    if not dot or not rest.startswith("execute-api.") or not label or not label.isalnum():
        return None
    return label


def _error(status: int, message: str, error_type: str, request_id: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
                                 ("x-amzn-ErrorType", error_type)], json.dumps({"message": message}).encode())


def install(routes: RouteRegistry, platform: Platform, authenticator: Authenticator) -> None:
    async def invoke(ex: Exchange, api_id: str, stage: str, path: str) -> HttpResponse:
        # (API Gateway's port and its types are imported with the first call through an API)
        from tsunagi.ports.apigateway import APIGATEWAY, ApiRequest, Caller

        port = platform.ports.find(APIGATEWAY)
        request = ex.request
        if port is None:
            return _error(404, "API Gateway is not served by this tsunagi server", "NotFoundException",
                          ex.request_id)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_PAYLOAD:
            return _error(413, "Request Too Long", "RequestTooLargeException", ex.request_id)
        try:
            await read_body(ex, MAX_PAYLOAD)
        except RequestEntityTooLarge:
            return _error(413, "Request Too Long", "RequestTooLargeException", ex.request_id)
        caller = None
        signature_error = None
        cred = read_credential(request)
        if cred.access_key_id:
            try:
                principal = await resolved(authenticator.authenticate(request, cred, "apigateway", "rest-json"))
                caller = Caller(principal.account, principal.arn, principal.access_key_id)
            except ServiceError as e:
                signature_error = e.message
        answer = await port.execute(ApiRequest(
            api_id=api_id, stage=stage, method=request.method, path=path, query=request.query,
            headers=list(request.headers.items()), body=request.body, request_id=ex.request_id,
            source_ip=ex.source_ip, host=request.host, scheme=request.headers.get("x-forwarded-proto", "http"),
            trace_header=request.headers.get("x-amzn-trace-id"), caller=caller, signature_error=signature_error))
        return HttpResponse(answer.status, answer.headers, answer.body)

    async def by_path(ex: Exchange) -> HttpResponse:
        target = path_target(ex.request.path)
        assert target is not None
        return await invoke(ex, *target)

    async def by_host(ex: Exchange) -> HttpResponse:
        request = ex.request
        api_id = host_api(request.host)
        if api_id is None:              # not an API's host name: as AWS answers a name it has no API for
            return _error(403, "Missing Authentication Token", "MissingAuthenticationTokenException", ex.request_id)
        _, _, rest = request.path.partition("/")
        stage, _, tail = rest.partition("/")       # an HTTP API's $default stage has no segment: it decides
        return await invoke(ex, api_id, stage, "/" + tail)

    routes.add(Route("apigateway-invoke-path", by_path, prefix="/restapis/",
                     match=lambda request: path_target(request.path) is not None))
    routes.add(Route("apigateway-invoke-host", by_host, host=".execute-api."))
