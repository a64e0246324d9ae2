"""What else an API owns: authorizers, models, request validators and gateway responses (each a
document of the API; a deployment copies them, so they take effect when the API is deployed again)."""

from __future__ import annotations

import json
import re
from typing import Any

from tsunagi.services.apigateway.core import ApiGatewayCore, Page, apply_patch, new_id, now_s
from tsunagi.services.apigateway.errors import BadRequest, Conflict, NotFound
from tsunagi.services.apigateway.execute import GATEWAY_RESPONSES
from tsunagi.services.base import RequestContext
from tsunagi.store.apigateway import ObjectRow

AUTHORIZER, MODEL, VALIDATOR, GATEWAY_RESPONSE = "authorizer", "model", "validator", "gatewayresponse"
AUTHORIZER_TYPES = ("TOKEN", "REQUEST", "COGNITO_USER_POOLS")
AUTHORIZER_FIELDS = {"name": "str", "authorizerUri": "str", "authorizerCredentials": "str", "identitySource": "str",
                     "identityValidationExpression": "str", "authorizerResultTtlInSeconds": "int", "type": "str",
                     "authType": "str", "providerARNs": "list"}
MODEL_FIELDS = {"description": "str", "schema": "str"}
VALIDATOR_FIELDS = {"name": "str", "validateRequestBody": "bool", "validateRequestParameters": "bool"}
GATEWAY_RESPONSE_FIELDS = {"statusCode": "str", "responseParameters": "map", "responseTemplates": "map"}
RESPONSE_TYPES = (*GATEWAY_RESPONSES, "DEFAULT_4XX", "EXPIRED_TOKEN", "INVALID_SIGNATURE", "MISSING_AUTHENTICATION_TOKEN",
                  "RESOURCE_NOT_FOUND", "REQUEST_TOO_LARGE", "WAF_FILTERED")
MODEL_NAME = re.compile(r"^[a-zA-Z0-9]+$")


def check_authorizer(doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("type") not in AUTHORIZER_TYPES:
        raise BadRequest(f"Invalid authorizer type specified. Must be one of: {list(AUTHORIZER_TYPES)}")
    if doc["type"] in ("TOKEN", "REQUEST") and not doc.get("authorizerUri"):
        raise BadRequest("Authorizer URI is required for the authorizer of type " + doc["type"])
    if doc["type"] == "TOKEN" and not re.match(r"^method\.request\.header\.[^\s,]+$", doc.get("identitySource", "")):
        raise BadRequest("Invalid identity source specified: identity source must be a header mapping expression "
                         "of the form method.request.header.<name>")
    if doc["type"] == "COGNITO_USER_POOLS" and not doc.get("providerARNs"):
        raise BadRequest("Provider ARNs are required for the authorizer of type COGNITO_USER_POOLS")
    ttl = int(doc.get("authorizerResultTtlInSeconds", 300))
    if ttl < 0 or ttl > 3600:
        raise BadRequest("Authorizer result TTL must be between 0 and 3600 seconds")
    doc["authorizerResultTtlInSeconds"] = ttl
    if doc.get("identityValidationExpression"):
        try:
            re.compile(doc["identityValidationExpression"])
        except re.error:
            raise BadRequest("Invalid identity validation expression specified") from None
    return doc


class ExtraOps(ApiGatewayCore):
    async def _object(self, ctx: RequestContext, api_id: str, kind: str, object_id: str, what: str) -> ObjectRow:
        await self.api_of(ctx, api_id)
        row = await self.repo.object(api_id, kind, object_id)
        if row is None:
            raise NotFound(f"Invalid {what} identifier specified")
        return row

    async def _list(self, ctx: RequestContext, params: dict[str, Any], kind: str, key: str = "id") -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        items = sorted((o.doc for o in await self.repo.objects(params["restApiId"], kind)), key=lambda d: d[key])
        return Page(params).cut(items, key)

    # == authorizers ===========================================================================
    async def create_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        aid = new_id(6)
        doc: dict[str, Any] = {"id": aid, "name": params["name"], "type": params.get("type"),
                               "authType": params.get("authType") or "custom"}
        for key in ("authorizerUri", "authorizerCredentials", "identitySource", "identityValidationExpression",
                    "providerARNs"):
            if params.get(key):
                doc[key] = params[key]
        ttl = params.get("authorizerResultTtlInSeconds")
        doc["authorizerResultTtlInSeconds"] = 300 if ttl is None else ttl
        check_authorizer(doc)
        await self.repo.add_object(ObjectRow(api_id, AUTHORIZER, aid, ctx.account, ctx.region, doc["name"], now_s(),
                                             doc))
        return doc

    async def get_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._object(ctx, params["restApiId"], AUTHORIZER, params["authorizerId"], "Authorizer")).doc

    async def get_authorizers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, params, AUTHORIZER)

    async def update_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._object(ctx, params["restApiId"], AUTHORIZER, params["authorizerId"], "Authorizer")
        doc = check_authorizer(apply_patch(row.doc, params.get("patchOperations"), AUTHORIZER_FIELDS))
        await self.repo.save_object(row._replace(doc=doc, lookup=doc["name"]))
        return doc

    async def delete_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._object(ctx, params["restApiId"], AUTHORIZER, params["authorizerId"], "Authorizer")
        for r in await self.repo.resources(row.scope):
            for m in (r.doc.get("resourceMethods") or {}).values():
                if m.get("authorizerId") == row.object_id:
                    raise Conflict("Cannot delete authorizer, is referenced in method: "
                                   f"{m['httpMethod']}{r.path}")
        await self.repo.delete_object(row.scope, AUTHORIZER, row.object_id)
        return {}

    # == models ================================================================================
    async def create_model(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        name = params["name"]
        if not MODEL_NAME.match(name):
            raise BadRequest("Model name must be alphanumeric")
        if await self.repo.object(api_id, MODEL, name) is not None:
            raise Conflict("Model name already exists for this REST API")
        schema = params.get("schema")
        if schema:
            try:
                json.loads(schema)
            except ValueError:
                raise BadRequest("Invalid model specified: Validation Result: warnings : [], errors : [Invalid "
                                 "model schema specified]") from None
        doc: dict[str, Any] = {"id": new_id(6), "name": name, "contentType": params["contentType"]}
        for key in ("description", "schema"):
            if params.get(key):
                doc[key] = params[key]
        await self.repo.add_object(ObjectRow(api_id, MODEL, name, ctx.account, ctx.region, name, now_s(), doc))
        return doc

    async def get_model(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._object(ctx, params["restApiId"], MODEL, params["modelName"], "Model")).doc

    async def get_models(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, params, MODEL)

    async def update_model(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._object(ctx, params["restApiId"], MODEL, params["modelName"], "Model")
        doc = apply_patch(row.doc, params.get("patchOperations"), MODEL_FIELDS)
        await self.repo.save_object(row._replace(doc=doc))
        return doc

    async def delete_model(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._object(ctx, params["restApiId"], MODEL, params["modelName"], "Model")
        await self.repo.delete_object(row.scope, MODEL, row.object_id)
        return {}

    # == request validators ====================================================================
    async def create_request_validator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        vid = new_id(6)
        name = str(params.get("name") or vid)
        doc: dict[str, Any] = {"id": vid, "name": name,
               "validateRequestBody": bool(params.get("validateRequestBody", False)),
               "validateRequestParameters": bool(params.get("validateRequestParameters", False))}
        await self.repo.add_object(ObjectRow(api_id, VALIDATOR, vid, ctx.account, ctx.region, name, now_s(),
                                             doc))
        return doc

    async def get_request_validator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._object(ctx, params["restApiId"], VALIDATOR, params["requestValidatorId"],
                                   "Request Validator")).doc

    async def get_request_validators(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, params, VALIDATOR)

    async def update_request_validator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._object(ctx, params["restApiId"], VALIDATOR, params["requestValidatorId"], "Request Validator")
        doc = apply_patch(row.doc, params.get("patchOperations"), VALIDATOR_FIELDS)
        await self.repo.save_object(row._replace(doc=doc, lookup=doc["name"]))
        return doc

    async def delete_request_validator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._object(ctx, params["restApiId"], VALIDATOR, params["requestValidatorId"], "Request Validator")
        await self.repo.delete_object(row.scope, VALIDATOR, row.object_id)
        return {}

    # == gateway responses =====================================================================
    @staticmethod
    def _default_response(kind: str) -> dict[str, Any]:
        status = GATEWAY_RESPONSES.get(kind, (400 if kind.endswith("4XX") or kind != "DEFAULT_5XX" else 500, "", ""))[0]
        return {"responseType": kind, "statusCode": str(status), "responseParameters": {},
                "responseTemplates": {"application/json": '{"message":$context.error.messageString}'},
                "defaultResponse": True}

    def _check_type(self, kind: str) -> None:
        if kind not in RESPONSE_TYPES:
            raise BadRequest(f"Invalid response type specified: {kind}")

    async def put_gateway_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        kind = params["responseType"]
        self._check_type(kind)
        doc: dict[str, Any] = {"responseType": kind, "defaultResponse": False}
        if params.get("statusCode"):
            doc["statusCode"] = params["statusCode"]
        for key in ("responseParameters", "responseTemplates"):
            if params.get(key):
                doc[key] = dict(params[key])
        await self.repo.delete_object(api_id, GATEWAY_RESPONSE, kind)
        await self.repo.add_object(ObjectRow(api_id, GATEWAY_RESPONSE, kind, ctx.account, ctx.region, kind, now_s(),
                                             doc))
        return doc

    async def get_gateway_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        kind = params["responseType"]
        self._check_type(kind)
        row = await self.repo.object(api_id, GATEWAY_RESPONSE, kind)
        return row.doc if row is not None else self._default_response(kind)

    async def get_gateway_responses(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        custom = {o.object_id: o.doc for o in await self.repo.objects(api_id, GATEWAY_RESPONSE)}
        items = [custom.get(k) or self._default_response(k) for k in sorted(set(RESPONSE_TYPES))]
        return Page(params).cut(items, "responseType")

    async def update_gateway_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        kind = params["responseType"]
        self._check_type(kind)
        row = await self.repo.object(api_id, GATEWAY_RESPONSE, kind)
        base = row.doc if row is not None else {**self._default_response(kind), "defaultResponse": False}
        doc = apply_patch(base, params.get("patchOperations"), GATEWAY_RESPONSE_FIELDS)
        doc["defaultResponse"] = False
        if row is not None:
            await self.repo.save_object(row._replace(doc=doc))
        else:
            await self.repo.add_object(ObjectRow(api_id, GATEWAY_RESPONSE, kind, ctx.account, ctx.region, kind,
                                                 now_s(), doc))
        return doc

    async def delete_gateway_response(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        if not await self.repo.delete_object(api_id, GATEWAY_RESPONSE, params["responseType"]):
            raise NotFound("Invalid Gateway Response identifier specified")
        return {}

    async def flush_stage_authorizers_cache(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        if await self.repo.stage(params["restApiId"], params["stageName"]) is None:
            raise NotFound("Invalid Stage identifier specified")
        self.authorizer_cache.clear()
        return {}

    # == tags ==================================================================================
    async def _tagged(self, ctx: RequestContext, arn: str) -> tuple[Any, str]:
        """The stored row an ARN names (a REST API, a stage, an API key or a usage plan) and its kind."""
        m = re.match(r"^arn:aws[\w-]*:apigateway:([a-z0-9-]+)::/(restapis|apikeys|usageplans)/([^/]+)"
                     r"(?:/stages/([^/]+))?$", arn)
        if m is None or m.group(1) != ctx.region:
            raise BadRequest(f"Invalid ARN specified in the request: {arn}")
        collection, object_id, stage = m.group(2), m.group(3), m.group(4)
        if collection == "restapis":
            api = await self.api_of(ctx, object_id)
            if stage is None:
                return api, "api"
            row = await self.repo.stage(api.api_id, stage)
            if row is None:
                raise NotFound("Invalid Stage identifier specified")
            return row, "stage"
        if stage is not None:
            raise BadRequest(f"Invalid ARN specified in the request: {arn}")
        kind = "apikey" if collection == "apikeys" else "usageplan"
        obj = await self.repo.object("", kind, object_id)
        if obj is None or obj.account != ctx.account or obj.region != ctx.region:
            raise NotFound(f"Invalid {'API Key' if kind == 'apikey' else 'Usage Plan'} identifier specified")
        return obj, kind

    async def _retag(self, row: Any, kind: str, tags: dict[str, str]) -> None:
        doc = {**row.doc, "tags": tags} if tags else {k: v for k, v in row.doc.items() if k != "tags"}
        if kind == "api":
            await self.repo.update_api(row.api_id, row.name, doc)
        elif kind == "stage":
            await self.repo.save_stage(row._replace(doc=doc))
        else:
            await self.repo.save_object(row._replace(doc=doc))

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row, kind = await self._tagged(ctx, params["resourceArn"])
        tags = {**(row.doc.get("tags") or {}), **(params.get("tags") or {})}
        if len(tags) > 50:
            raise BadRequest("A resource can have at most 50 tags")
        await self._retag(row, kind, tags)
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row, kind = await self._tagged(ctx, params["resourceArn"])
        doomed = set(params.get("tagKeys") or [])
        await self._retag(row, kind, {k: v for k, v in (row.doc.get("tags") or {}).items() if k not in doomed})
        return {}

    async def get_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row, _kind = await self._tagged(ctx, params["resourceArn"])
        return {"tags": dict(row.doc.get("tags") or {})}
