"""Requests to HTTP APIs (v2): the stage (``$default`` serves paths as they are; a named stage is the first
path segment), the route (``METHOD /path`` with ``{param}`` and ``{proxy+}``, then ``ANY``, then
``$default``), CORS preflights answered from the API's ``CorsConfiguration``, and the integration:
Lambda proxy in the payload format the integration says (2.0 or 1.0), HTTP proxy, or an AWS service
integration by subtype (``SQS-SendMessage``, ``SQS-SendMessageBatch``). Errors as HTTP APIs answer them:
404 ``Not Found``, 500 ``Internal Server Error``, 503 ``Service Unavailable`` after the timeout."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from tsunagi.context import RequestContext
from tsunagi.ports.apigateway import ApiRequest, ApiResponse
from tsunagi.ports.sqs import SQS
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.apigateway.integrations import IntegrationFailure, IntegrationTimeout, lambda_target
from tsunagi.services.apigateway.v2 import (
    AUTHORIZER,
    DEFAULT_STAGE,
    DEPLOYMENT,
    INTEGRATION,
    ROUTE,
    STAGE,
    V2_API,
)
from tsunagi.trace import trace_id_for

if TYPE_CHECKING:
    from tsunagi.services.apigateway.execute import Executor
    from tsunagi.store.apigateway import ObjectRow

JSON_TYPE = "application/json"


def _error(status: int, message: str, request_id: str) -> ApiResponse:
    return ApiResponse(status, [("Content-Type", JSON_TYPE), ("apigw-requestid", request_id)],
                       json.dumps({"message": message}).encode())


class _Node:
    __slots__ = ("greedy", "literal", "param", "routes")

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Any]] = {}
        self.literal: dict[str, _Node] = {}
        self.param: tuple[str, _Node] | None = None
        self.greedy: tuple[str, _Node] | None = None


class V2Plan:
    def __init__(self, routes: list[dict[str, Any]], integrations: list[dict[str, Any]],
                 authorizers: list[dict[str, Any]]) -> None:
        self.root = _Node()
        self.default: dict[str, Any] | None = None
        self.integrations = {i["IntegrationId"]: i for i in integrations}
        self.authorizers = {a["AuthorizerId"]: a for a in authorizers}
        for route in routes:
            key = route["RouteKey"]
            if key == "$default":
                self.default = route
                continue
            method, _, path = key.partition(" ")
            node = self.root
            for part in [p for p in path.split("/") if p]:
                if part.startswith("{") and part.endswith("+}"):
                    node.greedy = node.greedy or (part[1:-2], _Node())
                    node = node.greedy[1]
                elif part.startswith("{") and part.endswith("}"):
                    node.param = node.param or (part[1:-1], _Node())
                    node = node.param[1]
                else:
                    node = node.literal.setdefault(part, _Node())
            node.routes[method] = route

    def match(self, method: str, segments: list[str]) -> tuple[dict[str, Any], dict[str, str]] | None:
        found = _match(self.root, method, segments, 0, {})
        if found is not None:
            return found
        return (self.default, {}) if self.default is not None else None

    def methods_for(self, segments: list[str]) -> bool:
        return _match(self.root, "ANY", segments, 0, {}) is not None


def _match(node: _Node, method: str, segs: list[str], i: int, params: dict[str, str]
           ) -> tuple[dict[str, Any], dict[str, str]] | None:
    if i == len(segs):
        route = node.routes.get(method) or node.routes.get("ANY")
        return (route, params) if route is not None else None
    child = node.literal.get(segs[i])
    if child is not None:
        found = _match(child, method, segs, i + 1, params)
        if found is not None:
            return found
    if node.param is not None:
        found = _match(node.param[1], method, segs, i + 1, {**params, node.param[0]: segs[i]})
        if found is not None:
            return found
    if node.greedy is not None:
        route = node.greedy[1].routes.get(method) or node.greedy[1].routes.get("ANY")
        if route is not None:
            return route, {**params, node.greedy[0]: "/".join(segs[i:])}
    return None


class V2Api:
    __slots__ = ("api", "at", "live", "plans", "stages")

    def __init__(self, api: ObjectRow, stages: dict[str, dict[str, Any]], live: V2Plan) -> None:
        self.api = api
        self.stages = stages
        self.live = live
        self.plans: dict[str, V2Plan] = {}
        self.at = time.monotonic()


async def load(executor: Executor, api_id: str) -> V2Api | None:
    service = executor.service
    cache = service.v2_cache
    found = cache.get(api_id)
    if found is not None and (not service.store.shared or time.monotonic() - found.at < 5.0):
        return found
    repo = service.repo
    api = await repo.object("", V2_API, api_id)
    if api is None:
        return None
    stages = {s.object_id: s.doc for s in await repo.objects(api_id, STAGE)}
    live = V2Plan([r.doc for r in await repo.objects(api_id, ROUTE)],
                  [i.doc for i in await repo.objects(api_id, INTEGRATION)],
                  [a.doc for a in await repo.objects(api_id, AUTHORIZER)])
    loaded = V2Api(api, stages, live)
    if len(cache) > 1000:
        cache.clear()
    cache[api_id] = loaded
    return loaded


async def execute_v2(executor: Executor, req: ApiRequest, started: float) -> ApiResponse | None:
    """The answer of the HTTP API ``req.api_id``, or None when there is no such HTTP API."""
    v2 = await load(executor, req.api_id)
    if v2 is None:
        return None
    # the host form split the first segment off as the stage: under $default it is part of the path
    stage_name, path = req.stage, req.path
    if stage_name not in v2.stages or stage_name == DEFAULT_STAGE:
        if DEFAULT_STAGE not in v2.stages:
            return _error(404, "Not Found", req.request_id)
        path = "/" + stage_name + (path if path != "/" else "") if stage_name and stage_name != DEFAULT_STAGE \
            else path
        stage_name = DEFAULT_STAGE
    stage = v2.stages[stage_name]
    plan = v2.live
    if not stage.get("AutoDeploy"):
        dep_id = stage.get("DeploymentId")
        if not dep_id:
            return _error(404, "Not Found", req.request_id)
        plan = v2.plans.get(dep_id) or plan
        if dep_id not in v2.plans:
            dep = await executor.service.repo.object(req.api_id, DEPLOYMENT, dep_id)
            if dep is None:
                return _error(404, "Not Found", req.request_id)
            snap = dep.doc.get("_snapshot") or {}
            plan = v2.plans[dep_id] = V2Plan(snap.get("routes", []), snap.get("integrations", []),
                                             snap.get("authorizers", []))
    headers = {k.lower(): v for k, v in req.headers}
    cors = v2.api.doc.get("CorsConfiguration")
    origin = headers.get("origin")
    segments = [unquote(s) for s in path.split("/") if s]
    if cors and req.method.upper() == "OPTIONS" and origin and "access-control-request-method" in headers:
        return _preflight(cors, origin, headers, req.request_id)
    found = plan.match(req.method.upper(), segments)
    if found is None:
        return _with_cors(_error(404, "Not Found", req.request_id), cors, origin)
    route, path_params = found
    target = str(route.get("Target") or "")
    integration = plan.integrations.get(target.rpartition("/")[2]) if target.startswith("integrations/") else None
    if integration is None:
        return _with_cors(_error(404, "Not Found", req.request_id), cors, origin)
    call = _Call(req, v2, stage_name, stage, route, path_params, headers, "/" + "/".join(segments), started)
    settings = (stage.get("RouteSettings") or {}).get(route["RouteKey"]) or stage.get("DefaultRouteSettings") or {}
    if "ThrottlingBurstLimit" in settings or "ThrottlingRateLimit" in settings:
        bucket = (req.api_id, stage_name, route["RouteKey"])
        if not executor.service.limits.take(bucket, settings.get("ThrottlingRateLimit"),
                                            settings.get("ThrottlingBurstLimit")):
            return _with_cors(_error(429, "Too Many Requests", req.request_id), cors, origin)
    try:
        denied = await _authorize(executor, call, plan)
        if denied is not None:
            return _with_cors(denied, cors, origin)
        response = await _integrate(executor, call, integration)
    except IntegrationTimeout:
        response = _error(503, "Service Unavailable", req.request_id)
    except (IntegrationFailure, _Failed):
        response = _error(500, "Internal Server Error", req.request_id)
    return _with_cors(response, cors, origin)


class _Failed(Exception):
    pass


async def _authorize(executor: Executor, call: _Call, plan: V2Plan) -> ApiResponse | None:
    """The route's authorization: None to go on, or the answer that refuses the request."""
    route, req = call.route, call.req
    kind = route.get("AuthorizationType", "NONE")
    if kind == "NONE":
        return None
    if kind == "AWS_IAM":
        if req.caller is None or req.signature_error is not None:
            return _error(403, "Forbidden", req.request_id)
        call.authorizer = {"iam": {"accountId": req.caller.account, "userArn": req.caller.arn,
                                   "accessKey": req.caller.access_key_id}}
        return None
    authorizer = plan.authorizers.get(str(route.get("AuthorizerId") or ""))
    if authorizer is None:
        raise _Failed()
    identity = [_value(call, source) for source in authorizer.get("IdentitySource") or []]
    if kind == "JWT":
        from tsunagi.services.apigateway.jwt import JwtRefused, check

        token = identity[0] if identity else None
        if not token:
            return _error(401, "Unauthorized", req.request_id)
        jwt = authorizer["JwtConfiguration"]
        try:
            claims = await check(executor.service.jwt_keys, token, jwt["Issuer"], jwt["Audience"],
                                 list(route.get("AuthorizationScopes") or []))
        except JwtRefused:
            return _error(401, "Unauthorized", req.request_id)
        granted = claims.get("scope", claims.get("scp", ""))
        call.authorizer = {"jwt": {"claims": claims,
                                   "scopes": granted.split() if isinstance(granted, str) else granted or None}}
        return None
    # CUSTOM: a Lambda REQUEST authorizer
    if any(v in (None, "") for v in identity) and authorizer.get("IdentitySource"):
        return _error(401, "Unauthorized", req.request_id)
    ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0)
    key = (req.api_id, authorizer["AuthorizerId"], tuple(str(v) for v in identity))
    cache = executor.service.authorizer_cache
    cached = cache.get(key) if ttl else None
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        allowed, context = cached[1]
    else:
        allowed, context = await _lambda_authorizer(executor, call, authorizer, [str(v) for v in identity])
        if ttl:
            cache[key] = (now + ttl, (allowed, context))
    if allowed is None:
        return _error(401, "Unauthorized", req.request_id)
    if not allowed:
        return _error(403, "Forbidden", req.request_id)
    call.authorizer = {"lambda": context}
    return None


async def _lambda_authorizer(executor: Executor, call: _Call, authorizer: dict[str, Any], identity: list[str]
                             ) -> tuple[bool | None, dict[str, Any]]:
    """(allowed, context); allowed None when the function said Unauthorized."""
    from tsunagi.services.apigateway.authorizers import _decide

    target = lambda_target(str(authorizer.get("AuthorizerUri", ""))) or str(authorizer.get("AuthorizerUri", ""))
    route_arn = (f"arn:aws:execute-api:{call.v2.api.region}:{call.v2.api.account}:{call.req.api_id}/"
                 f"{call.stage_name}/{call.req.method.upper()}{call.path}")
    if authorizer.get("AuthorizerPayloadFormatVersion") == "2.0":
        event = {**_event_v2(call), "type": "REQUEST", "routeArn": route_arn, "identitySource": identity}
    else:
        event = {**_event_v1(call), "type": "REQUEST", "methodArn": route_arn}
    outcome = await executor.backends.invoke_lambda(_ctx(call, "Invoke"), target, json.dumps(event).encode())
    if outcome.error_message == "Unauthorized":
        return None, {}
    if outcome.status >= 300 or outcome.error_message is not None:
        raise _Failed()
    try:
        answer = json.loads(outcome.body)
    except ValueError:
        raise _Failed() from None
    if not isinstance(answer, dict):
        raise _Failed()
    raw_context = answer.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    if authorizer.get("EnableSimpleResponses"):
        if not isinstance(answer.get("isAuthorized"), bool):
            raise _Failed()
        return bool(answer["isAuthorized"]), context
    try:
        verdict = _decide(answer.get("policyDocument"), route_arn)
    except (ValueError, AttributeError, TypeError):
        raise _Failed() from None
    return verdict == "allow", {**context, "principalId": answer.get("principalId")}


class _Call:
    def __init__(self, req: ApiRequest, v2: V2Api, stage_name: str, stage: dict[str, Any], route: dict[str, Any],
                 path_params: dict[str, str], headers: dict[str, str], path: str, started: float) -> None:
        self.req = req
        self.v2 = v2
        self.stage_name = stage_name
        self.stage = stage
        self.route = route
        self.path_params = path_params
        self.headers = headers
        self.path = path
        self.started = started
        self.trace_id = trace_id_for(req.trace_header)
        self.query = parse_qsl(req.query, keep_blank_values=True)
        self.authorizer: dict[str, Any] | None = None

    def request_context(self) -> dict[str, Any]:
        req = self.req
        return {"accountId": self.v2.api.account, "apiId": req.api_id, "domainName": req.host,
                "domainPrefix": req.host.split(".", 1)[0],
                "http": {"method": req.method.upper(), "path": self.path, "protocol": "HTTP/1.1",
                         "sourceIp": req.source_ip, "userAgent": self.headers.get("user-agent", "")},
                "requestId": req.request_id, "routeKey": self.route["RouteKey"], "stage": self.stage_name,
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.started)),
                "timeEpoch": int(self.started * 1000),
                **({"authorizer": self.authorizer} if self.authorizer is not None else {})}


def _event_v2(call: _Call) -> dict[str, Any]:
    req = call.req
    headers = {k: v for k, v in call.headers.items() if k != "cookie"}
    query: dict[str, str] = {}
    for k, v in call.query:
        query[k] = f"{query[k]},{v}" if k in query else v
    event: dict[str, Any] = {"version": "2.0", "routeKey": call.route["RouteKey"], "rawPath": call.path,
                             "rawQueryString": req.query, "headers": headers,
                             "requestContext": call.request_context(), "isBase64Encoded": False}
    cookie = call.headers.get("cookie")
    if cookie:
        event["cookies"] = [c.strip() for c in cookie.split(";") if c.strip()]
    if query:
        event["queryStringParameters"] = query
    if call.path_params:
        event["pathParameters"] = dict(call.path_params)
    if call.stage.get("StageVariables"):
        event["stageVariables"] = dict(call.stage["StageVariables"])
    if req.body:
        try:
            event["body"] = req.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(req.body).decode()
            event["isBase64Encoded"] = True
    return event


def _event_v1(call: _Call) -> dict[str, Any]:
    req = call.req
    multi_query: dict[str, list[str]] = {}
    for k, v in call.query:
        multi_query.setdefault(k, []).append(v)
    context = call.request_context()
    body = None
    binary = False
    if req.body:
        try:
            body = req.body.decode("utf-8")
        except UnicodeDecodeError:
            body, binary = base64.b64encode(req.body).decode(), True
    return {"version": "1.0", "resource": call.route["RouteKey"].partition(" ")[2] or "$default",
            "path": call.path, "httpMethod": req.method.upper(), "headers": dict(call.headers),
            "multiValueHeaders": {k: [v] for k, v in call.headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": {"accountId": context["accountId"], "apiId": context["apiId"],
                               "domainName": context["domainName"], "domainPrefix": context["domainPrefix"],
                               "httpMethod": req.method.upper(), "path": call.path, "protocol": "HTTP/1.1",
                               "requestId": req.request_id, "requestTime": context["time"],
                               "requestTimeEpoch": context["timeEpoch"], "resourcePath": call.route["RouteKey"],
                               "stage": call.stage_name, "identity": {"sourceIp": req.source_ip,
                                                                      "userAgent": context["http"]["userAgent"]}},
            "pathParameters": dict(call.path_params) or None,
            "stageVariables": dict(call.stage.get("StageVariables") or {}) or None,
            "body": body, "isBase64Encoded": binary}


def _ctx(call: _Call, operation: str) -> RequestContext:
    from tsunagi.context import Principal, Source

    account, region = call.v2.api.account, call.v2.api.region
    arn = f"arn:aws:execute-api:{region}:{account}:{call.req.api_id}/{call.stage_name}/{call.route['RouteKey']}"
    return RequestContext(account=account, region=region, request_id=call.req.request_id, service="apigateway",
                          operation=operation, host=call.req.host,
                          principal=Principal.of_service("apigateway.amazonaws.com", account),
                          trace_id=call.trace_id, trace_header=f"Root={call.trace_id}", source_ip=call.req.source_ip,
                          source=Source(arn, "apigateway.amazonaws.com", account))


async def _integrate(executor: Executor, call: _Call, integration: dict[str, Any]) -> ApiResponse:
    import asyncio

    timeout_s = int(integration.get("TimeoutInMillis") or 30000) / 1000
    kind = integration.get("IntegrationType")
    req = call.req
    if kind == "AWS_PROXY" and integration.get("IntegrationSubtype"):
        return await asyncio.wait_for(_service(executor, call, integration), timeout_s)
    if kind == "AWS_PROXY":
        uri = str(integration.get("IntegrationUri", ""))
        target = lambda_target(uri) or uri
        version = integration.get("PayloadFormatVersion", "2.0")
        event = _event_v2(call) if version == "2.0" else _event_v1(call)
        try:
            outcome = await asyncio.wait_for(
                executor.backends.invoke_lambda(_ctx(call, "Invoke"), target, json.dumps(event).encode()), timeout_s)
        except TimeoutError:
            raise IntegrationTimeout() from None
        if outcome.status >= 300 or outcome.error_message is not None:
            raise _Failed()
        return _lambda_response(outcome.body, version, req.request_id)
    if kind == "HTTP_PROXY":
        from tsunagi.services.apigateway.execute import _http_url

        method = integration.get("IntegrationMethod", "ANY")
        method = req.method.upper() if method == "ANY" else method
        uri = str(integration.get("IntegrationUri", ""))
        if "{" not in uri and call.route["RouteKey"] == "$default" or uri.endswith("/"):
            uri = uri.rstrip("/") + call.path
        headers = {k: v for k, v in call.headers.items() if k not in ("host", "content-length", "connection")}
        query = list(call.query)
        path_override = None
        # parameter mapping: overwrite:/append:/remove: header.X, querystring.X, and overwrite:path
        for target, expression in (integration.get("RequestParameters") or {}).items():
            action, _, what = str(target).partition(":")
            where, _, name = what.partition(".")
            value = _value(call, str(expression)) if action != "remove" else None
            if where == "header":
                lower = name.lower()
                old = headers.get(lower)
                if action == "remove":
                    headers.pop(lower, None)
                elif value is not None:
                    headers[lower] = f"{old},{value}" if action == "append" and old else value
            elif where == "querystring":
                if action in ("remove", "overwrite"):
                    query = [(k, v) for k, v in query if k != name]
                if action in ("overwrite", "append") and value is not None:
                    query.append((name, value))
            elif what == "path" and action == "overwrite" and value is not None:
                path_override = value
        if path_override is not None:
            base = re.match(r"^(https?://[^/]+)", uri)
            uri = (base.group(1) if base else uri.rstrip("/")) + "/" + path_override.lstrip("/")
        url = _http_url(uri, call.path_params, query)
        outcome = await executor.backends.http(method, url, headers, req.body, timeout_s)
        out = [(k, v) for k, v in outcome.headers.items()
               if k.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server")]
        status = outcome.status
        mapping = (integration.get("ResponseParameters") or {}).get(str(status)) or {}
        for target, expression in mapping.items():
            action, _, what = str(target).partition(":")
            where, _, name = what.partition(".")
            value = _value(call, str(expression)) if action != "remove" else None
            if what == "statuscode" and action == "overwrite" and value and value.isdigit():
                status = int(value)
            elif where == "header":
                if action in ("remove", "overwrite"):
                    out = [(k, v) for k, v in out if k.lower() != name.lower()]
                if action in ("overwrite", "append") and value is not None:
                    out.append((name, value))
        return ApiResponse(status, out + [("apigw-requestid", req.request_id)], outcome.body)
    raise IntegrationFailure(f"integration type {kind}")


def _lambda_response(payload: bytes, version: str, request_id: str) -> ApiResponse:
    try:
        doc = json.loads(payload or b"null")
    except ValueError:
        raise _Failed() from None
    if version == "2.0" and not (isinstance(doc, dict) and "statusCode" in doc):
        # 2.0: an answer without statusCode is the body of a 200
        text = doc if isinstance(doc, str) else json.dumps(doc)
        return ApiResponse(200, [("Content-Type", JSON_TYPE), ("apigw-requestid", request_id)], text.encode())
    if not isinstance(doc, dict):
        raise _Failed()
    try:
        status = int(doc.get("statusCode", 200))
    except (TypeError, ValueError):
        raise _Failed() from None
    headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (doc.get("headers") or {}).items()]
    for name, values in (doc.get("multiValueHeaders") or {}).items():
        headers = [(k, v) for k, v in headers if k.lower() != str(name).lower()]
        headers += [(str(name), str(v)) for v in (values or [])]
    headers += [("Set-Cookie", str(c)) for c in doc.get("cookies") or []]
    body = doc.get("body")
    data = b"" if body is None else (base64.b64decode(str(body)) if doc.get("isBase64Encoded")
                                     else (body if isinstance(body, str) else json.dumps(body)).encode())
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", JSON_TYPE))
    return ApiResponse(status, headers + [("apigw-requestid", request_id)], data)


_REFERENCE = re.compile(r"\$\{([^}]+)\}|\$((?:request\.(?:header|querystring|path)\.[A-Za-z0-9_\-]+)|"
                        r"request\.body(?:\.[A-Za-z0-9_\[\]]+(?:\.[A-Za-z0-9_\[\]]+)*)?|"
                        r"context\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*|stageVariables\.[A-Za-z0-9_]+)")


def _value(call: _Call, expression: str) -> str | None:
    """A parameter mapping value: ``$request.body[.path]``, ``$request.header.x``, ``$request.querystring.x``,
    ``$request.path.x``, ``$context.x``, ``$stageVariables.x``; anything else is literal (with ``${…}`` parts
    filled in)."""
    def one(expr: str) -> str | None:
        body = call.req.body.decode("utf-8", "replace")
        if expr == "request.body":
            return body
        if expr.startswith("request.body."):
            from tsunagi.services.apigateway.velocity import java_str, json_path

            try:
                value = json_path(json.loads(body), "$." + expr[len("request.body."):])
            except ValueError:
                return None
            return None if value is None else (value if isinstance(value, str) else json.dumps(value)
                                               if isinstance(value, dict | list) else java_str(value))
        if expr.startswith("request.header."):
            return call.headers.get(expr[len("request.header."):].lower())
        if expr.startswith("request.querystring."):
            name = expr[len("request.querystring."):]
            values = [v for k, v in call.query if k == name]
            return ",".join(values) if values else None
        if expr.startswith("request.path."):
            return call.path_params.get(expr[len("request.path."):])
        if expr.startswith("context."):
            ctx: Any = {**call.request_context(), "requestId": call.req.request_id}
            for part in expr[len("context."):].split("."):
                ctx = ctx.get(part) if isinstance(ctx, dict) else None
            return None if ctx is None else str(ctx)
        if expr.startswith("stageVariables."):
            return (call.stage.get("StageVariables") or {}).get(expr[len("stageVariables."):])
        return None

    whole = _REFERENCE.fullmatch(expression)
    if whole is not None:
        return one(whole.group(1) or whole.group(2))
    return _REFERENCE.sub(lambda m: one(m.group(1) or m.group(2)) or "", expression)


async def _service(executor: Executor, call: _Call, integration: dict[str, Any]) -> ApiResponse:
    subtype = integration["IntegrationSubtype"]
    params = {k: _value(call, str(v)) for k, v in (integration.get("RequestParameters") or {}).items()}
    sqs = executor.service.platform.ports.find(SQS)
    if not subtype.startswith("SQS-") or sqs is None or subtype not in ("SQS-SendMessage",):
        raise IntegrationFailure(f"the integration subtype {subtype} is not available in tsunagi yet")
    url = params.get("QueueUrl") or ""
    parts = [p for p in url.split("?", 1)[0].split("/") if p][-2:]
    ctx = _ctx(call, "SendMessage")
    try:
        if len(parts) != 2 or params.get("MessageBody") is None:
            raise ServiceError("The request must contain the parameters QueueUrl and MessageBody.",
                               code="MissingParameter")
        arn = f"arn:aws:sqs:{call.v2.api.region}:{parts[0]}:{parts[1]}"
        delay = params.get("DelaySeconds")
        raw_attributes = params.get("MessageAttributes")
        attributes = json.loads(raw_attributes) if raw_attributes else None
        sent = await sqs.send(ctx, arn, params["MessageBody"] or "", attributes=attributes,
                              group_id=params.get("MessageGroupId"),
                              dedup_id=params.get("MessageDeduplicationId"),
                              delay_seconds=int(delay) if delay else None)
    except ServiceError as e:
        body = {"Error": {"Code": e.query_code or e.code, "Message": e.message,
                          "Type": "Sender" if e.sender_fault else "Receiver"}, "RequestId": call.req.request_id}
        return ApiResponse(e.status, [("Content-Type", JSON_TYPE), ("apigw-requestid", call.req.request_id)],
                           json.dumps(body).encode())
    except ValueError:
        raise _Failed() from None
    result = {"SendMessageResponse": {"ResponseMetadata": {"RequestId": call.req.request_id},
                                      "SendMessageResult": {"MD5OfMessageAttributes": None,
                                                            "MD5OfMessageBody": sent.md5_of_body,
                                                            "MD5OfMessageSystemAttributes": None,
                                                            "MessageId": sent.message_id,
                                                            "SequenceNumber": sent.sequence_number}}}
    return ApiResponse(200, [("Content-Type", JSON_TYPE), ("apigw-requestid", call.req.request_id)],
                       json.dumps(result).encode())


def _origin_allowed(cors: dict[str, Any], origin: str) -> bool:
    allowed = cors.get("AllowOrigins") or []
    return "*" in allowed or origin in allowed


def _preflight(cors: dict[str, Any], origin: str, headers: dict[str, str], request_id: str) -> ApiResponse:
    if not _origin_allowed(cors, origin):
        return ApiResponse(204, [("apigw-requestid", request_id)], b"")
    out = [("Access-Control-Allow-Origin", "*" if "*" in (cors.get("AllowOrigins") or []) and
            not cors.get("AllowCredentials") else origin)]
    methods = cors.get("AllowMethods") or []
    requested = headers.get("access-control-request-method", "")
    if methods:
        out.append(("Access-Control-Allow-Methods", ",".join(methods) if "*" not in methods else requested))
    allow_headers = cors.get("AllowHeaders") or []
    if allow_headers:
        asked = headers.get("access-control-request-headers", "")
        out.append(("Access-Control-Allow-Headers", asked if "*" in allow_headers and asked
                    else ",".join(allow_headers)))
    if cors.get("MaxAge") is not None:
        out.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    if cors.get("AllowCredentials"):
        out.append(("Access-Control-Allow-Credentials", "true"))
    return ApiResponse(204, out + [("apigw-requestid", request_id)], b"")


def _with_cors(response: ApiResponse, cors: dict[str, Any] | None, origin: str | None) -> ApiResponse:
    if not cors or not origin or not _origin_allowed(cors, origin):
        return response
    allowed = cors.get("AllowOrigins") or []
    response.headers.append(("Access-Control-Allow-Origin",
                             "*" if "*" in allowed and not cors.get("AllowCredentials") else origin))
    if cors.get("ExposeHeaders"):
        response.headers.append(("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"])))
    if cors.get("AllowCredentials"):
        response.headers.append(("Access-Control-Allow-Credentials", "true"))
    return response
