"""Methods and what hangs off them: Put/Get/Update/DeleteMethod, the integration, method responses and
integration responses. All are kept inside the resource's document (``resourceMethods``)."""

from __future__ import annotations

import copy
import re
from typing import Any

from tsunagi.services.apigateway.core import HTTP_METHODS, ApiGatewayCore, apply_patch
from tsunagi.services.apigateway.errors import (
    BadRequest,
    Conflict,
    invalid_integration,
    invalid_method,
    invalid_response,
)
from tsunagi.services.base import RequestContext
from tsunagi.store.apigateway import ResourceRow

INTEGRATION_TYPES = ("HTTP", "AWS", "MOCK", "HTTP_PROXY", "AWS_PROXY")
PASSTHROUGH = ("WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER")
AUTH_TYPES = ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")
STATUS_CODE = re.compile(r"^[1-5]\d\d$")
AWS_URI = re.compile(r"^arn:aws[\w-]*:apigateway:([a-z0-9-]+):([a-zA-Z0-9.-]+):(path|action)/(.+)$")
LAMBDA_URI = re.compile(r"^arn:aws[\w-]*:apigateway:[a-z0-9-]+:lambda:path/\d{4}-\d{2}-\d{2}/functions/(.+)/invocations$")
DEFAULT_TIMEOUT_MS = 29_000

METHOD_FIELDS = {"authorizationType": "str", "authorizerId": "str", "apiKeyRequired": "bool",
                 "operationName": "str", "requestValidatorId": "str", "requestParameters": "map",
                 "requestModels": "map", "authorizationScopes": "list"}
INTEGRATION_FIELDS = {"uri": "str", "httpMethod": "str", "credentials": "str", "passthroughBehavior": "str",
                      "contentHandling": "str", "timeoutInMillis": "int", "cacheNamespace": "str",
                      "cacheKeyParameters": "list", "requestParameters": "map", "requestTemplates": "map",
                      "connectionType": "str", "connectionId": "str", "type": "str"}
RESPONSE_FIELDS = {"responseParameters": "map", "responseModels": "map"}
INTEGRATION_RESPONSE_FIELDS = {"selectionPattern": "str", "responseParameters": "map", "responseTemplates": "map",
                               "contentHandling": "str"}


def check_method_name(name: str) -> str:
    upper = name.upper()
    if upper not in HTTP_METHODS:
        raise BadRequest(f"Invalid HttpMethod specified. Valid options are {','.join(HTTP_METHODS)}")
    return upper


def check_status(code: str) -> str:
    if not STATUS_CODE.match(code or ""):
        raise BadRequest(f"Invalid status code '{code}'. Must be a 3-digit number between 100 and 599")
    return code


def integration_doc(params: dict[str, Any], resource_id: str) -> dict[str, Any]:
    """An Integration document from PutIntegration's (or an import's) parameters, checked as AWS checks it."""
    kind = params.get("type")
    if kind not in INTEGRATION_TYPES:
        raise BadRequest(f"Invalid integration type specified. Must be one of: {list(INTEGRATION_TYPES)}")
    doc: dict[str, Any] = {"type": kind}
    http_method = params.get("integrationHttpMethod")
    uri = params.get("uri")
    if kind != "MOCK":
        if not http_method:
            raise BadRequest("Enumeration value for HttpMethod must be non-empty")
        doc["httpMethod"] = check_method_name(http_method)
        if not uri:
            raise BadRequest("Invalid integration URI specified")
        if kind in ("AWS", "AWS_PROXY"):
            m = AWS_URI.match(uri)
            if m is None:
                raise BadRequest("AWS ARN for integration must contain path or action")
            if kind == "AWS_PROXY" and m.group(2) != "lambda":
                raise BadRequest("Integrations of type 'AWS_PROXY' currently only supports Lambda function and "
                                 "Firehose stream invocations.")
            if m.group(2) == "lambda" and LAMBDA_URI.match(uri) is None:
                raise BadRequest("AWS ARN for integration contains invalid path")
        else:
            if not re.match(r"^https?://[^/\s]+", uri):
                raise BadRequest("Invalid HTTP endpoint specified for URI")
            doc["connectionType"] = params.get("connectionType") or "INTERNET"
        doc["uri"] = uri
    elif uri:
        doc["uri"] = uri
    if params.get("credentials"):
        doc["credentials"] = params["credentials"]
    passthrough = params.get("passthroughBehavior") or "WHEN_NO_MATCH"
    passthrough = passthrough.upper()
    if passthrough not in PASSTHROUGH:
        raise BadRequest(f"Invalid passthrough behavior specified. Must be one of: {list(PASSTHROUGH)}")
    doc["passthroughBehavior"] = passthrough
    for key in ("requestParameters", "requestTemplates"):
        if params.get(key):
            doc[key] = dict(params[key])
    if params.get("contentHandling"):
        if params["contentHandling"] not in ("CONVERT_TO_BINARY", "CONVERT_TO_TEXT"):
            raise BadRequest("Invalid content handling specified. Must be one of: [CONVERT_TO_BINARY, "
                             "CONVERT_TO_TEXT]")
        doc["contentHandling"] = params["contentHandling"]
    timeout = params.get("timeoutInMillis")
    timeout = DEFAULT_TIMEOUT_MS if timeout is None else int(timeout)
    if timeout < 50 or timeout > DEFAULT_TIMEOUT_MS:
        raise BadRequest("Timeout should be between 50 ms and 29000 ms")
    doc["timeoutInMillis"] = timeout
    doc["cacheNamespace"] = params.get("cacheNamespace") or resource_id
    doc["cacheKeyParameters"] = list(params.get("cacheKeyParameters") or [])
    for name in (doc.get("requestParameters") or {}):
        if not re.match(r"^integration\.request\.(header|querystring|path|multivalueheader|multivaluequerystring)"
                        r"\.[^.\s]+$", name):
            raise BadRequest(f"Invalid mapping expression specified: Validation Result: warnings : [], errors : "
                             f"[Invalid mapping expression parameter specified: {name}]")
    return doc


class MethodOps(ApiGatewayCore):
    async def _method(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[ResourceRow, dict[str, Any]]:
        r = await self.resource_of(ctx, params["restApiId"], params["resourceId"])
        method = (r.doc.get("resourceMethods") or {}).get(params["httpMethod"].upper())
        if method is None:
            raise invalid_method()
        return r, method

    async def _save(self, r: ResourceRow, http_method: str, method: dict[str, Any] | None) -> None:
        doc = copy.deepcopy(r.doc)
        methods = doc.setdefault("resourceMethods", {})
        if method is None:
            methods.pop(http_method, None)
            if not methods:
                doc.pop("resourceMethods")
        else:
            methods[http_method] = method
        await self.repo.save_resources([r._replace(doc=doc)])

    # == methods ===============================================================================
    async def put_method(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r = await self.resource_of(ctx, params["restApiId"], params["resourceId"])
        http_method = check_method_name(params["httpMethod"])
        if http_method in (r.doc.get("resourceMethods") or {}):
            raise Conflict("Method already exists for this resource")
        method = self.method_doc(params, http_method)
        await self._save(r, http_method, method)
        return method

    @staticmethod
    def method_doc(params: dict[str, Any], http_method: str) -> dict[str, Any]:
        auth = params.get("authorizationType")
        if auth not in AUTH_TYPES:
            raise BadRequest(f"Invalid authorization type specified. Must be one of: {list(AUTH_TYPES)}")
        if auth in ("CUSTOM", "COGNITO_USER_POOLS") and not params.get("authorizerId"):
            raise BadRequest(f"Invalid authorizer ID specified. Setting the authorization type to {auth} requires "
                             "a valid authorizer.")
        method: dict[str, Any] = {"httpMethod": http_method, "authorizationType": auth,
                                  "apiKeyRequired": bool(params.get("apiKeyRequired", False))}
        for key in ("authorizerId", "operationName", "requestValidatorId"):
            if params.get(key):
                method[key] = params[key]
        for key in ("requestParameters", "requestModels"):
            if params.get(key):
                method[key] = dict(params[key])
        if params.get("authorizationScopes"):
            method["authorizationScopes"] = list(params["authorizationScopes"])
        for name in method.get("requestParameters") or {}:
            if not re.match(r"^method\.request\.(header|querystring|path|multivalueheader|multivaluequerystring)"
                            r"\.[^\s]+$", name):
                raise BadRequest(f"Invalid mapping expression specified: Validation Result: warnings : [], errors : "
                                 f"[Invalid method request parameter specified: {name}]")
        return method

    async def get_method(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._method(ctx, params))[1]

    async def update_method(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method = await self._method(ctx, params)
        changed = apply_patch(method, params.get("patchOperations"), METHOD_FIELDS)
        if changed.get("authorizationType") not in AUTH_TYPES:
            raise BadRequest(f"Invalid authorization type specified. Must be one of: {list(AUTH_TYPES)}")
        await self._save(r, method["httpMethod"], changed)
        return changed

    async def delete_method(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method = await self._method(ctx, params)
        await self._save(r, method["httpMethod"], None)
        return {}

    # == method responses ======================================================================
    async def put_method_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method = await self._method(ctx, params)
        code = check_status(params["statusCode"])
        response: dict[str, Any] = {"statusCode": code}
        for key in ("responseParameters", "responseModels"):
            if params.get(key):
                response[key] = dict(params[key])
        method = {**method, "methodResponses": {**(method.get("methodResponses") or {}), code: response}}
        await self._save(r, method["httpMethod"], method)
        return response

    async def get_method_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _r, method = await self._method(ctx, params)
        response = (method.get("methodResponses") or {}).get(params["statusCode"])
        if response is None:
            raise invalid_response()
        return dict(response)

    async def update_method_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method = await self._method(ctx, params)
        response = (method.get("methodResponses") or {}).get(params["statusCode"])
        if response is None:
            raise invalid_response()
        changed = apply_patch(response, params.get("patchOperations"), RESPONSE_FIELDS)
        method = {**method, "methodResponses": {**method["methodResponses"], params["statusCode"]: changed}}
        await self._save(r, method["httpMethod"], method)
        return changed

    async def delete_method_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method = await self._method(ctx, params)
        responses = dict(method.get("methodResponses") or {})
        if responses.pop(params["statusCode"], None) is None:
            raise invalid_response()
        method = {**method, "methodResponses": responses}
        if not responses:
            method.pop("methodResponses")
        await self._save(r, method["httpMethod"], method)
        return {}

    # == integrations ==========================================================================
    async def put_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method = await self._method(ctx, params)
        integration = integration_doc(params, r.resource_id)
        old = method.get("methodIntegration")
        if old and old.get("integrationResponses"):
            integration["integrationResponses"] = old["integrationResponses"]
        await self._save(r, method["httpMethod"], {**method, "methodIntegration": integration})
        return integration

    async def _integration(self, ctx: RequestContext, params: dict[str, Any]
                           ) -> tuple[ResourceRow, dict[str, Any], dict[str, Any]]:
        r, method = await self._method(ctx, params)
        integration = method.get("methodIntegration")
        if integration is None:
            raise invalid_integration()
        return r, method, integration

    async def get_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._integration(ctx, params))[2]

    async def update_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method, integration = await self._integration(ctx, params)
        changed = apply_patch(integration, params.get("patchOperations"), INTEGRATION_FIELDS)
        responses = changed.pop("integrationResponses", None)
        checked = integration_doc({**changed, "integrationHttpMethod": changed.get("httpMethod")}, r.resource_id)
        if responses:
            checked["integrationResponses"] = responses
        await self._save(r, method["httpMethod"], {**method, "methodIntegration": checked})
        return checked

    async def delete_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method, _integration = await self._integration(ctx, params)
        method = dict(method)
        method.pop("methodIntegration")
        await self._save(r, method["httpMethod"], method)
        return {}

    # == integration responses =================================================================
    async def put_integration_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method, integration = await self._integration(ctx, params)
        code = check_status(params["statusCode"])
        response: dict[str, Any] = {"statusCode": code}
        if params.get("selectionPattern") is not None:
            pattern = params["selectionPattern"]
            try:
                re.compile(pattern)
            except re.error:
                raise BadRequest(f"Invalid selection pattern specified for integration response: {pattern}") from None
            response["selectionPattern"] = pattern
        for key in ("responseParameters", "responseTemplates"):
            if params.get(key):
                response[key] = dict(params[key])
        if params.get("contentHandling"):
            response["contentHandling"] = params["contentHandling"]
        integration = {**integration, "integrationResponses": {**(integration.get("integrationResponses") or {}),
                                                                code: response}}
        await self._save(r, method["httpMethod"], {**method, "methodIntegration": integration})
        return response

    async def get_integration_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _r, _m, integration = await self._integration(ctx, params)
        response = (integration.get("integrationResponses") or {}).get(params["statusCode"])
        if response is None:
            raise invalid_response()
        return dict(response)

    async def update_integration_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method, integration = await self._integration(ctx, params)
        response = (integration.get("integrationResponses") or {}).get(params["statusCode"])
        if response is None:
            raise invalid_response()
        changed = apply_patch(response, params.get("patchOperations"), INTEGRATION_RESPONSE_FIELDS)
        integration = {**integration, "integrationResponses": {**integration["integrationResponses"],
                                                                params["statusCode"]: changed}}
        await self._save(r, method["httpMethod"], {**method, "methodIntegration": integration})
        return changed

    async def delete_integration_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r, method, integration = await self._integration(ctx, params)
        responses = dict(integration.get("integrationResponses") or {})
        if responses.pop(params["statusCode"], None) is None:
            raise invalid_response()
        integration = {**integration, "integrationResponses": responses}
        if not responses:
            integration.pop("integrationResponses")
        await self._save(r, method["httpMethod"], {**method, "methodIntegration": integration})
        return {}
