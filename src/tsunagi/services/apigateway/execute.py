"""The invoke path: a request to a deployed API's stage, answered as API Gateway answers it.

1. the stage and its deployment (a frozen copy of the API, cached per deployment as a :class:`Plan`);
2. the resource: literal path parts before ``{param}`` before greedy ``{proxy+}``; then the method, or
   ``ANY``; none: 403 ``Missing Authentication Token``;
3. the API key (``apiKeyRequired``: a key in a usage plan of this stage, else 403 ``Forbidden``) and the
   authorizer (:mod:`.authorizers`);
4. the integration request: ``requestParameters`` mapped, the request template chosen by Content-Type
   and the passthrough behaviour (415 when none may be used), run with ``$input``, ``$util``,
   ``$context`` (its ``requestOverride`` applied afterwards) and ``$stageVariables``;
5. the backend (:mod:`.integrations`); then the integration response chosen by ``selectionPattern``
   (against the status code, or a Lambda function's error message), its template and
   ``responseParameters``, and ``$context.responseOverride``. Proxy integrations skip 4 and 5's mapping.

API Gateway's own errors answer ``{"message": …}`` with ``x-amzn-ErrorType``, as gateway responses
(customised by the API's gateway responses when it has them).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

from tsunagi.context import Principal, RequestContext, Source
from tsunagi.ports.apigateway import ApiRequest, ApiResponse
from tsunagi.ports.logs import LOGS
from tsunagi.services.apigateway import velocity
from tsunagi.services.apigateway.core import Deployed
from tsunagi.services.apigateway.integrations import (
    Backends,
    IntegrationFailure,
    IntegrationTimeout,
    Outcome,
    lambda_target,
)
from tsunagi.services.apigateway.schema import problems as schema_problems
from tsunagi.trace import trace_id_for

if TYPE_CHECKING:
    from tsunagi.services.apigateway.core import ApiGatewayCore

log = logging.getLogger("tsunagi.apigateway")

MAX_BODY = 10 * 1024 * 1024
JSON_TYPE = "application/json"

# gateway response type -> (status, message, error type header)
GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "INVALID_SIGNATURE": (403, "The request signature we calculated does not match the signature you provided.",
                          "InvalidSignatureException"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource", "AccessDeniedException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "null", "AuthorizerConfigurationException"),
    "AUTHORIZER_FAILURE": (500, "null", "AuthorizerFailureException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type", "UnsupportedMediaTypeException"),
    "BAD_REQUEST_BODY": (400, "Invalid request body", "BadRequestException"),
    "BAD_REQUEST_PARAMETERS": (400, "Missing required request parameters", "BadRequestException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLargeException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded", "LimitExceededException"),
    "INTEGRATION_FAILURE": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error", "InternalServerErrorException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}


class GatewayError(Exception):
    """API Gateway's own answer (a gateway response), with the reason kept for the logs."""

    def __init__(self, kind: str, message: str | None = None, reason: str = "",
                 status: int | None = None, validation: str = "") -> None:
        default_status, default_message, self.error_type = GATEWAY_RESPONSES[kind]
        super().__init__(reason or message or default_message)
        self.kind = kind
        self.status = status or default_status
        self.message = default_message if message is None else message
        self.reason = reason
        self.validation = validation          # $context.error.validationErrorString


# -- routing ------------------------------------------------------------------------------------------

class Node:
    __slots__ = ("greedy", "literal", "param", "resource")

    def __init__(self) -> None:
        self.resource: dict[str, Any] | None = None
        self.literal: dict[str, Node] = {}
        self.param: tuple[str, Node] | None = None
        self.greedy: tuple[str, Node] | None = None


class Plan:
    """What the invoke path needs of one deployment, prepared once."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.api: dict[str, Any] = snapshot["api"]
        self.account: str = snapshot["account"]
        self.region: str = snapshot["region"]
        self.root = Node()
        by_id = {r["id"]: r for r in snapshot.get("resources", [])}
        for r in by_id.values():
            node = self.root
            path = r.get("path", "/")
            for part in [p for p in path.split("/") if p]:
                if part.startswith("{") and part.endswith("+}"):
                    if node.greedy is None:
                        node.greedy = (part[1:-2], Node())
                    node = node.greedy[1]
                elif part.startswith("{") and part.endswith("}"):
                    if node.param is None:
                        node.param = (part[1:-1], Node())
                    node = node.param[1]
                else:
                    node = node.literal.setdefault(part, Node())
            node.resource = r
        self.authorizers = {a["id"]: a for a in snapshot.get("authorizer", [])}
        self.validators = {v["id"]: v for v in snapshot.get("validator", [])}
        self.models = {m["name"]: m for m in snapshot.get("model", [])}
        self.gateway_responses = {g["responseType"]: g for g in snapshot.get("gatewayresponse", [])}
        self.binary_types: list[str] = list(self.api.get("binaryMediaTypes") or [])

    def match(self, segments: list[str]) -> tuple[dict[str, Any], dict[str, str]] | None:
        return _match(self.root, segments, 0, {})


def _match(node: Node, segs: list[str], i: int, params: dict[str, str]
           ) -> tuple[dict[str, Any], dict[str, str]] | None:
    if i == len(segs):
        return (node.resource, params) if node.resource is not None else None
    seg = segs[i]
    child = node.literal.get(seg)
    if child is not None:
        found = _match(child, segs, i + 1, params)
        if found is not None:
            return found
    if node.param is not None:
        name, child = node.param
        found = _match(child, segs, i + 1, {**params, name: seg})
        if found is not None:
            return found
    if node.greedy is not None:
        name, child = node.greedy
        if child.resource is not None:
            return child.resource, {**params, name: "/".join(segs[i:])}
    return None


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_binary(mime: str, types: list[str]) -> bool:
    if not mime:
        return False
    for t in types:
        t = t.lower()
        if t == mime or t == "*/*" or (t.endswith("/*") and mime.startswith(t[:-1])):
            return True
    return False


@dataclass(slots=True)
class Call:
    """One request on its way through an API."""

    req: ApiRequest
    deployed: Deployed
    plan: Plan
    resource: dict[str, Any]
    method: dict[str, Any]
    path_params: dict[str, str]
    headers: dict[str, str]                       # last value per name, names as sent
    multi_headers: dict[str, list[str]]
    query: dict[str, str]
    multi_query: dict[str, list[str]]
    path: str                                     # decoded resource path as requested
    trace_id: str
    context: dict[str, Any] = field(default_factory=dict)
    stage_variables: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        lower = name.lower()
        found = self.headers.get(lower)          # the gateway hands header names lower-cased
        if found is not None:
            return found
        for k, v in self.headers.items():
            if k.lower() == lower:
                return v
        return None


class Executor:
    def __init__(self, service: ApiGatewayCore) -> None:
        self.service = service
        self.backends = Backends(service.platform)
        # who an integration calls as, and the source it names, by (account, region, API, stage, method,
        # resource path, credentials): immutable values, made once
        self._callers: dict[tuple[Any, ...], tuple[Principal, Source | None]] = {}

    async def execute(self, req: ApiRequest) -> ApiResponse:
        started = time.time()
        seen: dict[str, Any] = {}
        error: GatewayError | None = None
        try:
            response = await self._execute(req, started, seen)
        except GatewayError as e:
            error = e
            response = self.gateway_response(e, req, getattr(e, "plan", None))
        except Exception:
            log.exception("API Gateway request %s to %s/%s failed", req.request_id, req.api_id, req.stage)
            error = GatewayError("API_CONFIGURATION_ERROR")
            response = self.gateway_response(error, req, None)
        deployed: Deployed | None = seen.get("deployed")
        if deployed is not None:
            if deployed.stage.doc.get("accessLogSettings"):
                await self._access_log(req, deployed, seen.get("call"), response, error, started)
            if deployed.stage.doc.get("methodSettings"):
                await self._execution_log(req, deployed, seen.get("call"), response, error, started)
        return response

    async def _execution_log(self, req: ApiRequest, deployed: Deployed, call: Call | None, response: ApiResponse,
                             error: GatewayError | None, started: float) -> None:
        """The stage's execution log (``loggingLevel`` INFO, or ERROR for failed requests only) in
        ``API-Gateway-Execution-Logs_{api id}/{stage}``; ``dataTraceEnabled`` adds the bodies."""
        settings = deployed.stage.doc["methodSettings"]
        method = req.method.upper()
        path = call.resource.get("path", "/") if call is not None else req.path
        setting = (settings.get(f"{path}/{method}") or settings.get(f"{path.lstrip('/')}/{method}")
                   or settings.get("*/*") or {})
        level = setting.get("loggingLevel", "OFF")
        if level not in ("INFO", "ERROR") or (level == "ERROR" and response.status < 400):
            return
        logs = self.service.platform.ports.find(LOGS)
        if logs is None:
            return
        rid = req.request_id
        lines = [f"Extended Request Id: {_apigw_id(rid)}", f"Starting execution for request: {rid}",
                 f"HTTP Method: {method}, Resource Path: {path}"]
        if call is not None:
            lines += [f"Method request path: {call.path_params}", f"Method request query string: {call.query}",
                      f"Method request headers: {call.headers}"]
        if setting.get("dataTraceEnabled"):
            lines.append("Method request body before transformations: " + req.body[:32768].decode("utf-8", "replace"))
            lines.append("Method response body after transformations: " +
                         response.body[:32768].decode("utf-8", "replace"))
        if error is not None:
            lines.append(f"Execution failed: {error.reason or error.message}")
        lines.append(f"Method completed with status: {response.status}")
        at = int(started * 1000)
        try:
            await logs.append(deployed.api.account, deployed.api.region,
                              f"API-Gateway-Execution-Logs_{req.api_id}/{req.stage}", f"{req.api_id}_{req.stage}",
                              [(at, f"({rid}) {line}") for line in lines])
        except Exception:
            log.warning("execution log of %s/%s could not be written", req.api_id, req.stage)

    async def test_invoke(self, req: ApiRequest, deployed: Deployed) -> ApiResponse:
        """TestInvokeMethod: ``req`` through the API as it is now (``deployed`` made from its current state),
        without throttling, API keys or authorizers, as the console's test does."""
        plan = Plan(deployed.deployment.snapshot)
        try:
            return await self._serve(req, deployed, plan, time.time(), {"test_invoke": True})
        except GatewayError as e:
            return self.gateway_response(e, req, plan)

    async def _access_log(self, req: ApiRequest, deployed: Deployed, call: Call | None, response: ApiResponse,
                          error: GatewayError | None, started: float) -> None:
        """One line in the stage's access log group, in the stage's format (``$context`` variables)."""
        settings = deployed.stage.doc["accessLogSettings"]
        arn = str(settings.get("destinationArn") or "")
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
            return
        group = ":".join(parts[6:]).removesuffix(":*")
        logs = self.service.platform.ports.find(LOGS)
        if logs is None:
            return
        context: dict[str, Any] = dict(call.context) if call is not None else {
            "requestId": req.request_id, "apiId": req.api_id, "stage": req.stage, "httpMethod": req.method.upper(),
            "path": f"/{req.stage}{req.path}", "identity": {"sourceIp": req.source_ip}, "resourcePath": None}
        latency = int((time.time() - started) * 1000)
        context.update({"status": response.status, "responseLength": len(response.body),
                        "responseLatency": latency, "integrationLatency": latency,
                        "error": {"message": error.message if error else None,
                                  "messageString": json.dumps(error.message) if error else None,
                                  "responseType": error.kind if error else None}})
        text = str(settings.get("format") or "$context.requestId")
        try:
            line = velocity.render(text, {"context": context, "util": velocity.UTIL,
                                          "input": velocity.Input("", {}, {}, {}), "stageVariables": {}})
        except velocity.TemplateFailure:
            line = f"{req.request_id} {response.status}"
        try:
            await logs.append(parts[4] or deployed.api.account, parts[3] or deployed.api.region, group,
                              f"{req.api_id}_{req.stage}", [(int(started * 1000), line)])
        except Exception:
            log.warning("access log of %s/%s could not be written to %s", req.api_id, req.stage, group)

    def gateway_response(self, e: GatewayError, req: ApiRequest, plan: Plan | None) -> ApiResponse:
        if e.reason:
            log.info("API Gateway %s %s/%s%s: %s (%s)", req.method, req.api_id, req.stage, req.path, e.message,
                     e.reason)
        status = e.status
        body = json.dumps({"message": e.message}).encode() if e.message != "null" else b'{"message":null}'
        headers = [("Content-Type", JSON_TYPE), ("x-amzn-RequestId", req.request_id),
                   ("x-amzn-ErrorType", e.error_type), ("x-amz-apigw-id", _apigw_id(req.request_id))]
        custom = None
        if plan is not None:
            custom = plan.gateway_responses.get(e.kind) or (
                plan.gateway_responses.get("DEFAULT_4XX") if status < 500 else plan.gateway_responses.get("DEFAULT_5XX"))
        if custom is not None:
            if custom.get("statusCode"):
                status = int(custom["statusCode"])
            context = {"error": {"message": e.message, "messageString": json.dumps(e.message),
                                 "responseType": e.kind, "validationErrorString": e.validation},
                       "requestId": req.request_id, "stage": req.stage, "apiId": req.api_id}
            for name, value in (custom.get("responseParameters") or {}).items():
                if name.startswith("gatewayresponse.header."):
                    headers.append((name[len("gatewayresponse.header."):], _literal_or_context(value, context)))
            template = (custom.get("responseTemplates") or {}).get(JSON_TYPE)
            if template:
                try:
                    body = velocity.render(template, {"context": context, "util": velocity.UTIL,
                                                      "input": velocity.Input("", {}, {}, {}),
                                                      "stageVariables": {}}).encode()
                except velocity.TemplateFailure:
                    pass
        return ApiResponse(status, headers, body)

    # == the request ===========================================================================
    async def _execute(self, req: ApiRequest, started: float, seen: dict[str, Any]) -> ApiResponse:
        deployed = await self.service.deployed(req.api_id, req.stage) if req.stage else None
        if deployed is None:
            from tsunagi.services.apigateway.execute_v2 import execute_v2

            answer = await execute_v2(self, req, started)       # an HTTP API (v2) of that id?
            if answer is not None:
                return answer
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", reason="no such API or stage")
        plan_key = (req.api_id, deployed.deployment.deployment_id)      # deployment ids are unique per API only
        plan = self.service.plans.get(plan_key)
        if plan is None:
            if len(self.service.plans) > 1000:
                self.service.plans.clear()
            plan = self.service.plans[plan_key] = Plan(deployed.deployment.snapshot)
        try:
            seen["deployed"] = deployed
            return await self._serve(req, deployed, plan, started, seen)
        except GatewayError as e:
            e.plan = plan  # type: ignore[attr-defined]
            raise

    async def _serve(self, req: ApiRequest, deployed: Deployed, plan: Plan, started: float,
                     seen: dict[str, Any]) -> ApiResponse:
        if len(req.body) > MAX_BODY:
            raise GatewayError("REQUEST_TOO_LARGE")
        segments = [unquote(s) for s in req.path.split("/") if s]
        found = plan.match(segments)
        if found is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", reason=f"no resource for {req.path}")
        resource, path_params = found
        methods = resource.get("resourceMethods") or {}
        method = methods.get(req.method.upper()) or methods.get("ANY")
        if method is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN",
                               reason=f"no {req.method} method on {resource.get('path')}")
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in req.headers:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(req.query, keep_blank_values=True) if req.query else ():
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        trace_id = trace_id_for(req.trace_header)
        call = Call(req, deployed, plan, resource, method, path_params, headers, multi_headers, query, multi_query,
                    "/" + "/".join(segments), trace_id)
        call.stage_variables = dict(deployed.stage.doc.get("variables") or {})
        call.context = self._context(call, started)
        seen["call"] = call
        testing = bool(seen.get("test_invoke"))       # TestInvokeMethod: no throttling, keys or authorizers
        if not testing:
            self._throttle(call)
        if method.get("apiKeyRequired") and not testing:
            await self._check_api_key(call)
        authorization = "NONE" if testing else method.get("authorizationType", "NONE")
        if authorization == "CUSTOM":
            from tsunagi.services.apigateway.authorizers import authorize

            await authorize(self, call)
        elif authorization == "AWS_IAM":
            self._check_iam(call)
        elif authorization == "COGNITO_USER_POOLS":
            raise GatewayError("UNAUTHORIZED", reason="Cognito user pool authorizers are not available in tsunagi")
        self._validate(call)
        integration = method.get("methodIntegration") or {}
        kind = integration.get("type")
        if kind == "AWS_PROXY":
            return await self._lambda_proxy(call, integration)
        if kind == "HTTP_PROXY":
            return await self._http_proxy(call, integration)
        return await self._mapped(call, integration)

    def _context(self, call: Call, started: float) -> dict[str, Any]:
        req = call.req
        host = req.host.split(":", 1)[0]
        ms = int(started * 1000)
        return {
            "accountId": call.plan.account, "apiId": req.api_id, "domainName": req.host,
            "domainPrefix": host.split(".", 1)[0], "extendedRequestId": _apigw_id(req.request_id),
            "httpMethod": req.method.upper(), "path": f"/{req.stage}{call.path}", "protocol": "HTTP/1.1",
            "requestId": req.request_id, "requestTime": _request_time(int(started)),
            "requestTimeEpoch": ms, "resourceId": call.resource["id"], "resourcePath": call.resource.get("path", "/"),
            "stage": req.stage, "xrayTraceId": call.trace_id,
            "identity": {"sourceIp": req.source_ip, "userAgent": call.header("user-agent") or "",
                         "accountId": None, "apiKey": None, "apiKeyId": None, "caller": None, "user": None,
                         "userArn": None, "accessKey": None, "cognitoAuthenticationProvider": None,
                         "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                         "cognitoIdentityPoolId": None, "principalOrgId": None},
            "authorizer": {},
            "requestOverride": {"header": {}, "querystring": {}, "path": {}},
            "responseOverride": {"header": {}, "status": None},
            "error": {},
        }

    async def _check_api_key(self, call: Call) -> None:
        from tsunagi.services.apigateway.keys import find_key

        value = call.header("x-api-key")
        if call.plan.api.get("apiKeySource") == "AUTHORIZER":
            value = call.context.get("authorizer", {}).get("usageIdentifierKey") or value
        if not value:
            raise GatewayError("INVALID_API_KEY", reason="no x-api-key header")
        found = await find_key(self.service, value, call.req.api_id, call.req.stage)
        if found is None:
            raise GatewayError("INVALID_API_KEY", reason="the API key is unknown, disabled or in no usage plan of "
                                                         "this stage")
        call.context["identity"]["apiKey"] = value
        call.context["identity"]["apiKeyId"] = found.key_id
        limits = self.service.limits
        if found.quota and not limits.within_quota((found.plan_id, found.key_id), found.quota):
            raise GatewayError("QUOTA_EXCEEDED", reason="the usage plan's quota is used up")
        if found.throttle and not limits.take((found.plan_id, found.key_id), found.throttle.get("rateLimit"),
                                              found.throttle.get("burstLimit")):
            raise GatewayError("THROTTLED", reason="the usage plan's throttle")

    @staticmethod
    def _check_iam(call: Call) -> None:
        """AWS_IAM: the request must be signed (SigV4, signing name execute-api) by a known caller."""
        req = call.req
        if req.signature_error is not None:
            raise GatewayError("INVALID_SIGNATURE", message=req.signature_error)
        if req.caller is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", reason="AWS_IAM method called without a signature")
        identity = call.context["identity"]
        identity.update({"accountId": req.caller.account, "caller": req.caller.arn, "user": req.caller.arn,
                         "userArn": req.caller.arn, "accessKey": req.caller.access_key_id})

    def _throttle(self, call: Call) -> None:
        """The stage's method settings: a rate and a burst per method (``*/*`` for all of them)."""
        settings = call.deployed.stage.doc.get("methodSettings") or {}
        if not settings:
            return
        method = call.req.method.upper()
        path = call.resource.get("path", "/")
        for key in (f"{path}/{method}", f"{path.lstrip('/')}/{method}", f"{path}/*", "*/*"):
            setting = settings.get(key)
            if setting is not None and ("throttlingRateLimit" in setting or "throttlingBurstLimit" in setting):
                bucket = (call.req.api_id, call.req.stage, key)
                if not self.service.limits.take(bucket, setting.get("throttlingRateLimit"),
                                                setting.get("throttlingBurstLimit")):
                    raise GatewayError("THROTTLED", reason=f"the stage's throttling for {key}")
                return

    def _validate(self, call: Call) -> None:
        vid = call.method.get("requestValidatorId")
        validator = call.plan.validators.get(vid) if vid else None
        if validator is None:
            return
        if validator.get("validateRequestParameters"):
            missing = []
            for name, required in (call.method.get("requestParameters") or {}).items():
                if not required:
                    continue
                where, _, pname = name[len("method.request."):].partition(".")
                present = (pname in call.path_params if where == "path" else
                           pname in call.query if where in ("querystring", "multivaluequerystring") else
                           call.header(pname) is not None)
                if not present:
                    missing.append(pname)
            if missing:
                raise GatewayError("BAD_REQUEST_PARAMETERS",
                                   message=f"Missing required request parameters: [{', '.join(missing)}]")
        models = call.method.get("requestModels") or {}
        if validator.get("validateRequestBody") and models:
            mime = _mime(call.header("content-type")) or JSON_TYPE
            name = models.get(mime) or models.get("$default")
            model = call.plan.models.get(name or "")
            if model is None or name == "Empty":
                return
            try:
                body = json.loads(call.req.body or b"null")
                schema = json.loads(model.get("schema") or "{}")
            except ValueError:
                raise GatewayError("BAD_REQUEST_BODY", message="Invalid request body") from None

            def resolve(ref: str) -> Any:
                target = call.plan.models.get(ref.rstrip("/").rsplit("/", 1)[-1])
                try:
                    return json.loads(target.get("schema") or "{}") if target is not None else None
                except ValueError:
                    return None

            found = schema_problems(body, schema, resolve)
            if found:
                raise GatewayError("BAD_REQUEST_BODY", message="Invalid request body",
                                   reason="; ".join(found)[:1000], validation="[" + ", ".join(found) + "]")

    # == the integration's context ==============================================================
    def integration_ctx(self, call: Call, integration: dict[str, Any], operation: str) -> RequestContext:
        credentials = integration.get("credentials")
        account, region = call.plan.account, call.plan.region
        key = (account, region, call.req.api_id, call.req.stage, call.req.method, call.resource.get("path", "/"),
               credentials)
        known = self._callers.get(key)
        if known is None:
            source_arn = f"arn:aws:execute-api:{region}:{account}:{call.req.api_id}/{call.req.stage}/" \
                         f"{call.req.method.upper()}{call.resource.get('path', '/')}"
            if credentials and credentials.startswith("arn:"):
                role = credentials.rsplit("/", 1)[-1]
                known = (Principal(account, f"arn:aws:sts::{account}:assumed-role/{role}/BackplaneAssumeRoleSession"),
                         None)
            else:
                known = (Principal.of_service("apigateway.amazonaws.com", account),
                         Source(source_arn, "apigateway.amazonaws.com", account))
            if len(self._callers) > 10_000:
                self._callers.clear()
            self._callers[key] = known
        principal, source = known
        return RequestContext(account=account, region=region, request_id=call.req.request_id, service="apigateway",
                              operation=operation, host=call.req.host, scheme=call.req.scheme, principal=principal,
                              trace_id=call.trace_id, trace_header=f"Root={call.trace_id}",
                              source_ip=call.req.source_ip, source=source)

    def _variables(self, call: Call, body: str) -> dict[str, Any]:
        return {"input": velocity.Input(body, call.path_params, call.query, call.headers),
                "util": velocity.UTIL, "context": call.context, "stageVariables": call.stage_variables}

    def _parameter(self, call: Call, expression: str, body: str) -> str | None:
        """The value of a mapping expression (``'literal'``, ``method.request.…``, ``context.…``,
        ``stageVariables.…``)."""
        if len(expression) >= 2 and expression[0] == "'" and expression[-1] == "'":
            return expression[1:-1]
        if expression.startswith("method.request."):
            rest = expression[len("method.request."):]
            if rest == "body":
                return body
            if rest.startswith("body."):
                try:
                    return velocity.java_str(velocity.json_path(json.loads(body), "$." + rest[5:]))
                except (ValueError, velocity.TemplateFailure):
                    return None
            where, _, name = rest.partition(".")
            if where == "path":
                return call.path_params.get(name)
            if where == "querystring":
                return call.query.get(name)
            if where == "multivaluequerystring":
                values = call.multi_query.get(name)
                return ",".join(values) if values else None
            if where == "header":
                return call.header(name)
            if where == "multivalueheader":
                lower = name.lower()
                values = [v for k, vs in call.multi_headers.items() if k.lower() == lower for v in vs]
                return ",".join(values) if values else None
            return None
        if expression.startswith("context."):
            value: Any = call.context
            for part in expression[len("context."):].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else velocity.java_str(value)
        if expression.startswith("stageVariables."):
            return call.stage_variables.get(expression[len("stageVariables."):])
        return None

    # == non-proxy integrations (AWS, HTTP, MOCK) ===================================================
    async def _mapped(self, call: Call, integration: dict[str, Any]) -> ApiResponse:
        req = call.req
        kind = integration.get("type")
        raw_body = req.body
        mime = _mime(call.header("content-type")) or JSON_TYPE
        templates = integration.get("requestTemplates") or {}
        passthrough = integration.get("passthroughBehavior", "WHEN_NO_MATCH")
        template = templates.get(mime)
        # binary payloads (the API's binaryMediaTypes) and the integration's contentHandling, as AWS converts them
        handling = integration.get("contentHandling")
        if _is_binary(mime, call.plan.binary_types):
            if handling == "CONVERT_TO_TEXT" or (handling is None and template is not None):
                raw_body = base64.b64encode(raw_body)
        elif handling == "CONVERT_TO_BINARY":
            try:
                raw_body = base64.b64decode(raw_body, validate=True)
            except ValueError:
                raise GatewayError("API_CONFIGURATION_ERROR", status=500,
                                   reason="CONVERT_TO_BINARY: the body is not base64") from None
        text_body = raw_body.decode("utf-8", "replace")
        if template is None:
            if templates and passthrough in ("WHEN_NO_TEMPLATES", "NEVER"):
                raise GatewayError("UNSUPPORTED_MEDIA_TYPE", reason=f"no template for {mime}")
            if not templates and passthrough == "NEVER":
                raise GatewayError("UNSUPPORTED_MEDIA_TYPE", reason="passthrough NEVER and no templates")
        out_headers: dict[str, str] = {}
        out_query: list[tuple[str, str]] = []
        out_path: dict[str, str] = dict(call.path_params)
        for target, expression in (integration.get("requestParameters") or {}).items():
            value = self._parameter(call, expression, text_body)
            if value is None:
                continue
            where, _, name = target[len("integration.request."):].partition(".")
            if where in ("header", "multivalueheader"):
                out_headers[name.lower()] = value
            elif where in ("querystring", "multivaluequerystring"):
                out_query.append((name, value))
            elif where == "path":
                out_path[name] = value
        if template is not None:
            try:
                rendered = velocity.render(template, self._variables(call, text_body))
            except velocity.TemplateFailure as e:
                raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=str(e)) from None
            body = rendered.encode()
        else:
            body = raw_body
        override = call.context["requestOverride"]
        for name, value in (override.get("header") or {}).items():
            out_headers[str(name).lower()] = velocity.java_str(value)
        for name, value in (override.get("querystring") or {}).items():
            out_query = [(k, v) for k, v in out_query if k != name] + [(str(name), velocity.java_str(value))]
        for name, value in (override.get("path") or {}).items():
            out_path[str(name)] = velocity.java_str(value)
        if "content-type" not in out_headers and call.header("content-type") and template is None:
            out_headers["content-type"] = call.header("content-type") or ""
        if template is not None and "content-type" not in out_headers:
            out_headers["content-type"] = JSON_TYPE
        timeout_s = int(integration.get("timeoutInMillis") or 29_000) / 1000
        selector = None
        try:
            if kind == "MOCK":
                outcome = self._mock(body, template is not None)
            elif kind == "AWS":
                ctx = self.integration_ctx(call, integration, "Invoke")
                outcome = await _within(self.backends.aws(ctx, integration.get("uri", ""),
                                                          integration.get("httpMethod", "POST"), out_headers,
                                                          out_query, body, integration.get("credentials")),
                                        timeout_s)
                if lambda_target(integration.get("uri", "")) is not None:
                    selector = outcome.error_message
            elif kind == "HTTP":
                url = _http_url(integration.get("uri", ""), out_path, out_query)
                method = integration.get("httpMethod", "GET")
                method = req.method.upper() if method == "ANY" else method
                outcome = await self.backends.http(method, url, out_headers, body, timeout_s)
            else:
                raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=f"integration type {kind}")
        except IntegrationTimeout:
            raise GatewayError("INTEGRATION_TIMEOUT") from None
        except IntegrationFailure as e:
            raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=str(e)) from None
        return self._integration_response(call, integration, outcome, selector)

    @staticmethod
    def _mock(body: bytes, templated: bool) -> Outcome:
        status = 200
        text = body.decode("utf-8", "replace").strip()
        if text:
            try:
                doc = json.loads(text)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and "statusCode" in doc:
                try:
                    status = int(doc["statusCode"])
                except (TypeError, ValueError):
                    raise GatewayError("API_CONFIGURATION_ERROR", status=500,
                                       reason="the MOCK template's statusCode is not a number") from None
            elif templated and doc is None:
                raise GatewayError("API_CONFIGURATION_ERROR", status=500,
                                   reason="the MOCK integration's request template did not produce JSON")
        return Outcome(status, b"", {})

    def _integration_response(self, call: Call, integration: dict[str, Any], outcome: Outcome,
                              selector: str | None) -> ApiResponse:
        responses = integration.get("integrationResponses") or {}
        chosen = None
        default = None
        is_lambda = lambda_target(integration.get("uri", "")) is not None and integration.get("type") == "AWS"
        subject = selector if selector is not None else str(outcome.status)
        for response in responses.values():
            pattern = response.get("selectionPattern")
            if not pattern:
                default = default or response
                continue
            if is_lambda and selector is None:
                continue                      # a function that did not fail gets the default response
            try:
                if re.fullmatch(pattern, subject, re.S) is not None:
                    chosen = response
                    break
            except re.error:
                continue
        chosen = chosen or default
        if chosen is None:
            raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=(
                "Execution failed due to configuration error: No match for output mapping and no default output "
                f"mapping configured. Endpoint Response Status Code: {outcome.status}"))
        status = int(chosen["statusCode"])
        body_text = outcome.body.decode("utf-8", "replace")
        accept = _mime(call.header("accept"))
        templates = chosen.get("responseTemplates") or {}
        template = templates.get(accept) if accept in templates else (
            templates.get(JSON_TYPE) if JSON_TYPE in templates else next(iter(templates.values()), None))
        content_type = JSON_TYPE
        if template is not None and template.strip():
            variables = self._variables(call, body_text)
            variables["input"] = velocity.Input(body_text, call.path_params, call.query, call.headers)
            try:
                body = velocity.render(template, variables).encode()
            except velocity.TemplateFailure as e:
                raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=str(e)) from None
            if accept in templates:
                content_type = accept
        elif template is not None:
            body = b""
        else:
            body = outcome.body
            handling = chosen.get("contentHandling")
            if handling == "CONVERT_TO_BINARY":
                try:
                    body = base64.b64decode(body, validate=True)
                except ValueError:
                    raise GatewayError("API_CONFIGURATION_ERROR", status=500,
                                       reason="CONVERT_TO_BINARY: the integration's answer is not base64") from None
                if accept and _is_binary(accept, call.plan.binary_types):
                    content_type = accept
            elif handling == "CONVERT_TO_TEXT" and _is_binary(_mime(outcome.headers.get("Content-Type")),
                                                              call.plan.binary_types):
                body = base64.b64encode(body)
        headers: list[tuple[str, str]] = [("Content-Type", content_type)]
        lower_outcome = {k.lower(): v for k, v in outcome.headers.items()}
        for target, expression in (chosen.get("responseParameters") or {}).items():
            if not target.startswith("method.response.header."):
                continue
            name = target[len("method.response.header."):]
            value: str | None
            if expression.startswith("integration.response.header."):
                value = lower_outcome.get(expression[len("integration.response.header."):].lower())
            elif expression == "integration.response.body":
                value = body_text
            elif expression.startswith("integration.response.body."):
                try:
                    value = velocity.java_str(velocity.json_path(json.loads(body_text), "$." + expression[26:]))
                except (ValueError, velocity.TemplateFailure):
                    value = None
            else:
                value = self._parameter(call, expression, body_text)
            if value is not None:
                headers = [(k, v) for k, v in headers if k.lower() != name.lower()] + [(name, value)]
        override = call.context["responseOverride"]
        if override.get("status") is not None:
            try:
                status = int(str(override["status"]))
            except ValueError:
                pass
        for name, value in (override.get("header") or {}).items():
            headers = [(k, v) for k, v in headers if k.lower() != str(name).lower()] + \
                      [(str(name), velocity.java_str(value))]
        headers += [("x-amzn-RequestId", call.req.request_id), ("x-amz-apigw-id", call.context["extendedRequestId"]),
                    ("X-Amzn-Trace-Id", f"Root={call.trace_id}")]
        return ApiResponse(status, headers, body)

    # == proxy integrations ======================================================================
    def proxy_event(self, call: Call) -> dict[str, Any]:
        req = call.req
        binary = _is_binary(_mime(call.header("content-type")), call.plan.binary_types)
        body: str | None
        if not req.body:
            body = None
        elif binary:
            body = base64.b64encode(req.body).decode()
        else:
            body = req.body.decode("utf-8", "replace")
        context = call.context
        request_context = {
            "resourceId": context["resourceId"], "resourcePath": context["resourcePath"],
            "httpMethod": context["httpMethod"], "extendedRequestId": context["extendedRequestId"],
            "requestTime": context["requestTime"], "path": context["path"], "accountId": context["accountId"],
            "protocol": context["protocol"], "stage": context["stage"], "domainPrefix": context["domainPrefix"],
            "requestTimeEpoch": context["requestTimeEpoch"], "requestId": context["requestId"],
            "identity": context["identity"], "domainName": context["domainName"], "apiId": context["apiId"],
        }
        if context.get("authorizer"):
            request_context["authorizer"] = context["authorizer"]
        return {
            "resource": call.resource.get("path", "/"), "path": call.path, "httpMethod": req.method.upper(),
            "headers": dict(call.headers) or None, "multiValueHeaders": dict(call.multi_headers) or None,
            "queryStringParameters": dict(call.query) or None,
            "multiValueQueryStringParameters": dict(call.multi_query) or None,
            "pathParameters": dict(call.path_params) or None, "stageVariables": dict(call.stage_variables) or None,
            "requestContext": request_context, "body": body, "isBase64Encoded": binary,
        }

    async def _lambda_proxy(self, call: Call, integration: dict[str, Any]) -> ApiResponse:
        target = lambda_target(integration.get("uri", ""))
        if target is None:
            raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason="not a Lambda function URI")
        target = _with_stage_variables(target, call.stage_variables)
        payload = json.dumps(self.proxy_event(call)).encode()
        ctx = self.integration_ctx(call, integration, "Invoke")
        timeout_s = int(integration.get("timeoutInMillis") or 29_000) / 1000
        try:
            outcome = await _within(self.backends.invoke_lambda(ctx, target, payload,
                                                                role=integration.get("credentials")), timeout_s)
        except IntegrationTimeout:
            raise GatewayError("INTEGRATION_TIMEOUT") from None
        except IntegrationFailure as e:
            raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=str(e)) from None
        if outcome.status >= 300 or outcome.error_message is not None or "X-Amz-Function-Error" in outcome.headers:
            raise GatewayError("DEFAULT_5XX", reason=f"the function failed: {outcome.body[:500]!r}")
        return self.proxy_response(call, outcome.body)

    def proxy_response(self, call: Call, payload: bytes) -> ApiResponse:
        try:
            doc = json.loads(payload or b"null")
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise GatewayError("DEFAULT_5XX", reason="Malformed Lambda proxy response: not a JSON object")
        allowed = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}
        if set(doc) - allowed:
            raise GatewayError("DEFAULT_5XX", reason="Malformed Lambda proxy response: unexpected fields "
                                                     f"{sorted(set(doc) - allowed)}")
        try:
            status = int(doc.get("statusCode", 200))
        except (TypeError, ValueError):
            raise GatewayError("DEFAULT_5XX", reason="Malformed Lambda proxy response: statusCode") from None
        headers: list[tuple[str, str]] = []
        for name, value in (doc.get("headers") or {}).items():
            headers.append((str(name), velocity.java_str(value)))
        for name, values in (doc.get("multiValueHeaders") or {}).items():
            if not isinstance(values, list):
                raise GatewayError("DEFAULT_5XX", reason="Malformed Lambda proxy response: multiValueHeaders")
            headers = [(k, v) for k, v in headers if k.lower() != str(name).lower()]
            headers.extend((str(name), velocity.java_str(v)) for v in values)
        for cookie in doc.get("cookies") or []:
            headers.append(("Set-Cookie", str(cookie)))
        body = doc.get("body")
        if body is None:
            data = b""
        elif doc.get("isBase64Encoded"):
            try:
                data = base64.b64decode(str(body))
            except ValueError:
                raise GatewayError("DEFAULT_5XX", reason="Malformed Lambda proxy response: body is not base64") \
                    from None
        else:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", JSON_TYPE))
        headers += [("x-amzn-RequestId", call.req.request_id), ("x-amz-apigw-id", _apigw_id(call.req.request_id)),
                    ("X-Amzn-Trace-Id", f"Root={call.trace_id}")]
        return ApiResponse(status, headers, data)

    async def _http_proxy(self, call: Call, integration: dict[str, Any]) -> ApiResponse:
        req = call.req
        path_params = dict(call.path_params)
        for target, expression in (integration.get("requestParameters") or {}).items():
            if target.startswith("integration.request.path."):
                value = self._parameter(call, expression, "")
                if value is not None:
                    path_params[target[len("integration.request.path."):]] = value
        url = _http_url(_with_stage_variables(integration.get("uri", ""), call.stage_variables), path_params,
                        list(parse_qsl(req.query, keep_blank_values=True)))
        headers = {k: v for k, v in call.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        for target, expression in (integration.get("requestParameters") or {}).items():
            if target.startswith("integration.request.header."):
                value = self._parameter(call, expression, "")
                if value is not None:
                    headers[target[len("integration.request.header."):]] = value
        method = integration.get("httpMethod", "ANY")
        method = req.method.upper() if method == "ANY" else method
        timeout_s = int(integration.get("timeoutInMillis") or 29_000) / 1000
        try:
            outcome = await self.backends.http(method, url, headers, req.body, timeout_s)
        except IntegrationTimeout:
            raise GatewayError("INTEGRATION_TIMEOUT") from None
        except IntegrationFailure as e:
            raise GatewayError("API_CONFIGURATION_ERROR", status=500, reason=str(e)) from None
        out = [(k, v) for k, v in outcome.headers.items()
               if k.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server")]
        out += [("x-amzn-RequestId", req.request_id), ("x-amz-apigw-id", _apigw_id(req.request_id))]
        return ApiResponse(outcome.status, out, outcome.body)


class _Deadline:
    """Cancels ``task`` at the deadline and remembers that it did (a lighter ``asyncio.timeout``: one timer
    handle, no context manager state; the integration call runs in the request's own task)."""

    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.expired = False

    def __call__(self) -> None:
        self.expired = True
        self.task.cancel()


async def _within(coro: Any, timeout_s: float) -> Outcome:
    """``coro``'s outcome, or IntegrationTimeout after ``timeout_s`` (in this task: no task per call)."""
    task = asyncio.current_task()
    if task is None:                 # not in a task (cannot be cancelled): no deadline
        result: Outcome = await coro
        return result
    deadline = _Deadline(task)
    timer = asyncio.get_running_loop().call_later(timeout_s, deadline)
    try:
        result = await coro
    except asyncio.CancelledError:
        if deadline.expired and task.uncancel() == 0:
            raise IntegrationTimeout() from None
        raise
    finally:
        timer.cancel()
    return result


@lru_cache(maxsize=4)
def _request_time(second: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


_APIGW_ID = str.maketrans("/+", "AB")


def _apigw_id(request_id: str) -> str:
    return binascii.b2a_base64(request_id[:12].encode(), newline=False).decode().translate(_APIGW_ID)


def _with_stage_variables(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}", lambda m: variables.get(m.group(1), ""), text)


def _http_url(uri: str, path_params: dict[str, str], query: list[tuple[str, str]]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        value = path_params.get(name.rstrip("+"), "")
        return quote(value, safe="/")

    url = re.sub(r"\{([A-Za-z0-9._-]+\+?)\}", sub, uri)
    if query:
        url += ("&" if "?" in url else "?") + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    return url


def _literal_or_context(expression: str, context: dict[str, Any]) -> str:
    if len(expression) >= 2 and expression[0] == "'" and expression[-1] == "'":
        return expression[1:-1]
    return expression

