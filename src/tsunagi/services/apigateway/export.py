"""GetExport: a deployed stage as an OpenAPI 3 (``oas30``) or Swagger 2 (``swagger``) definition, JSON or
YAML, with API Gateway's extensions (``x-amazon-apigateway-integration`` and friends) when the
``extensions`` parameter asks for ``integrations`` or ``apigateway``. Importing the export gives back
the same API."""

from __future__ import annotations

import json
from typing import Any

from tsunagi.services.apigateway.core import ApiGatewayCore, invoke_host
from tsunagi.services.apigateway.errors import BadRequest, invalid_stage

_EXT = "x-amazon-apigateway-"


def _integration(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": str(doc.get("type", "")).lower()}
    for key in ("uri", "credentials", "requestParameters", "requestTemplates", "contentHandling",
                "timeoutInMillis", "cacheNamespace", "cacheKeyParameters"):
        if doc.get(key) not in (None, "", [], {}):
            out[key] = doc[key]
    if doc.get("httpMethod"):
        out["httpMethod"] = doc["httpMethod"]
    out["passthroughBehavior"] = str(doc.get("passthroughBehavior", "WHEN_NO_MATCH")).lower()
    responses = {}
    for code, r in (doc.get("integrationResponses") or {}).items():
        entry: dict[str, Any] = {"statusCode": code}
        for key in ("responseParameters", "responseTemplates", "contentHandling"):
            if r.get(key):
                entry[key] = r[key]
        responses[r.get("selectionPattern") or "default"] = entry
    if responses:
        out["responses"] = responses
    return out


def definition(snapshot: dict[str, Any], stage: dict[str, Any], kind: str, extensions: set[str],
               host: str) -> dict[str, Any]:
    api = snapshot["api"]
    openapi = kind == "oas30"
    out: dict[str, Any] = {"openapi": "3.0.1"} if openapi else {"swagger": "2.0"}
    info: dict[str, Any] = {"title": api.get("name", ""), "version": api.get("version") or
                            str(stage.get("lastUpdatedDate", ""))}
    if api.get("description"):
        info["description"] = api["description"]
    out["info"] = info
    if openapi:
        out["servers"] = [{"url": f"http://{host}/{{basePath}}",
                           "variables": {"basePath": {"default": stage["stageName"]}}}]
    else:
        out["host"] = host
        out["basePath"] = f"/{stage['stageName']}"
        out["schemes"] = ["http"]
    paths: dict[str, Any] = {}
    with_integrations = bool(extensions & {"integrations", "apigateway"})
    security: dict[str, Any] = {}
    for resource in sorted(snapshot.get("resources", []), key=lambda r: r.get("path", "/")):
        methods = resource.get("resourceMethods") or {}
        if not methods:
            continue
        item: dict[str, Any] = {}
        for verb, method in sorted(methods.items()):
            op: dict[str, Any] = {}
            params = []
            for name, required in (method.get("requestParameters") or {}).items():
                where, _, pname = name[len("method.request."):].partition(".")
                where = {"querystring": "query"}.get(where, where)
                if where in ("path", "query", "header"):
                    param: dict[str, Any] = {"name": pname, "in": where, "required": bool(required)}
                    if openapi:
                        param["schema"] = {"type": "string"}
                    else:
                        param["type"] = "string"
                    params.append(param)
            if params:
                op["parameters"] = params
            responses = {}
            for code, r in (method.get("methodResponses") or {}).items():
                entry: dict[str, Any] = {"description": f"{code} response"}
                headers = {n[len("method.response.header."):]: {"schema": {"type": "string"}} if openapi
                           else {"type": "string"}
                           for n in (r.get("responseParameters") or {}) if n.startswith("method.response.header.")}
                if headers:
                    entry["headers"] = headers
                responses[code] = entry
            op["responses"] = responses
            if method.get("apiKeyRequired"):
                op["security"] = [{"api_key": []}]
                security["api_key"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
            if with_integrations and method.get("methodIntegration"):
                op[_EXT + "integration"] = _integration(method["methodIntegration"])
            item[_EXT + "any-method" if verb == "ANY" else verb.lower()] = op
        paths[resource.get("path", "/")] = item
    out["paths"] = paths
    if security:
        if openapi:
            out["components"] = {"securitySchemes": security}
        else:
            out["securityDefinitions"] = security
    if with_integrations and api.get("binaryMediaTypes"):
        out[_EXT + "binary-media-types"] = api["binaryMediaTypes"]
    return out


class ExportOps(ApiGatewayCore):
    async def get_export(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        api = await self.api_of(ctx, params["restApiId"])
        kind = params["exportType"]
        if kind not in ("oas30", "swagger"):
            raise BadRequest(f"Invalid export type specified: {kind}. Must be one of: [oas30, swagger]")
        stage = await self.repo.stage(api.api_id, params["stageName"])
        if stage is None:
            raise invalid_stage()
        deployment = await self.repo.deployment(api.api_id, stage.deployment_id)
        if deployment is None:
            raise invalid_stage()
        options = params.get("parameters") or {}
        extensions = {e.strip() for e in str(options.get("extensions", "")).split(",") if e.strip()}
        host = invoke_host(api.api_id, ctx.host)
        doc = definition(deployment.snapshot, stage.doc, kind, extensions, host)
        accepts = (params.get("accepts") or "application/json").lower()
        if "yaml" in accepts:
            import yaml  # type: ignore[import-untyped]  # (imported here, when asked for: a faster start-up)

            body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()
            content_type = "application/yaml"
        else:
            body = json.dumps(doc, indent=2, ensure_ascii=False).encode()
            content_type = "application/json"
        name = f"{api.doc.get('name', api.api_id)}-{stage.stage_name}-{kind}"
        suffix = "yaml" if content_type == "application/yaml" else "json"
        return {"body": body, "contentType": content_type,
                "contentDisposition": f'attachment; filename="{name}.{suffix}"'}
