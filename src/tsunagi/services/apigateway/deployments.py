"""Deployments and stages. A deployment is a frozen copy of the API as it was (its settings, resources,
methods and integrations, authorizers, models, validators and gateway responses): the invoke path reads
that copy, so changes to the API show only once it is deployed again, as on AWS."""

from __future__ import annotations

import re
from typing import Any

from tsunagi.services.apigateway.core import (
    ApiGatewayCore,
    Page,
    apply_patch,
    as_bool,
    as_float,
    as_int,
    new_id,
    now_s,
)
from tsunagi.services.apigateway.errors import BadRequest, Conflict, invalid_deployment, invalid_stage
from tsunagi.services.base import RequestContext
from tsunagi.store.apigateway import ApiRow, DeploymentRow, StageRow
from tsunagi.store.base import ConstraintViolation

STAGE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
STAGE_VARIABLE_NAME = re.compile(r"^[a-zA-Z0-9_]{1,64}$")
STAGE_VARIABLE_VALUE = re.compile(r"^[a-zA-Z0-9\-._~:/?#&=,]*$")
SNAPSHOT_KINDS = ("authorizer", "model", "validator", "gatewayresponse")
STAGE_FIELDS = {"description": "str", "deploymentId": "str", "variables": "map", "tracingEnabled": "bool",
                "cacheClusterEnabled": "bool", "cacheClusterSize": "str", "clientCertificateId": "str",
                "documentationVersion": "str", "webAclArn": "str"}
METHOD_SETTINGS = {"metrics/enabled": ("metricsEnabled", "bool"), "logging/loglevel": ("loggingLevel", "str"),
                   "logging/dataTrace": ("dataTraceEnabled", "bool"),
                   "throttling/burstLimit": ("throttlingBurstLimit", "int"),
                   "throttling/rateLimit": ("throttlingRateLimit", "float"),
                   "caching/enabled": ("cachingEnabled", "bool"), "caching/ttlInSeconds": ("cacheTtlInSeconds", "int"),
                   "caching/dataEncrypted": ("cacheDataEncrypted", "bool"),
                   "caching/requireAuthorizationForCacheControl": ("requireAuthorizationForCacheControl", "bool"),
                   "caching/unauthorizedCacheControlHeaderStrategy": ("unauthorizedCacheControlHeaderStrategy", "str")}
DEFAULT_METHOD_SETTING = {"metricsEnabled": False, "dataTraceEnabled": False, "throttlingBurstLimit": 5000,
                          "throttlingRateLimit": 10000.0, "cachingEnabled": False, "cacheTtlInSeconds": 300,
                          "cacheDataEncrypted": False, "requireAuthorizationForCacheControl": True,
                          "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER"}


def check_variables(variables: dict[str, Any] | None) -> dict[str, str]:
    out = {}
    for name, value in (variables or {}).items():
        if not STAGE_VARIABLE_NAME.match(name):
            raise BadRequest(f"Stage variable name '{name}' must be alphanumeric or underscore and be at most 64 "
                             "characters long")
        if not STAGE_VARIABLE_VALUE.match(str(value)) or len(str(value)) > 512:
            raise BadRequest(f"Stage variable value '{value}' for variable '{name}' may only contain the characters "
                             "a-zA-Z0-9-._~:/?#&=, and be at most 512 characters long")
        out[name] = str(value)
    return out


def stage_doc(name: str, deployment_id: str, params: dict[str, Any], now: int) -> dict[str, Any]:
    if not STAGE_NAME.match(name or ""):
        raise BadRequest("Stage name only allows a-zA-Z0-9_ and -")
    doc: dict[str, Any] = {"deploymentId": deployment_id, "stageName": name,
                           "cacheClusterEnabled": bool(params.get("cacheClusterEnabled", False)),
                           "cacheClusterStatus": "NOT_AVAILABLE", "methodSettings": {},
                           "tracingEnabled": bool(params.get("tracingEnabled", False)),
                           "createdDate": now, "lastUpdatedDate": now}
    if params.get("description"):
        doc["description"] = params["description"]
    variables = check_variables(params.get("variables"))
    if variables:
        doc["variables"] = variables
    if params.get("tags"):
        doc["tags"] = dict(params["tags"])
    if params.get("cacheClusterSize"):
        doc["cacheClusterSize"] = params["cacheClusterSize"]
    return doc


class DeploymentOps(ApiGatewayCore):
    async def snapshot(self, api: ApiRow) -> dict[str, Any]:
        """The API as it is now, as a deployment keeps it."""
        resources = await self.repo.resources(api.api_id)
        methods = [(r, m) for r in resources for m in (r.doc.get("resourceMethods") or {}).values()]
        if not methods:
            raise BadRequest("The REST API doesn't contain any methods")
        for _r, m in methods:
            if not m.get("methodIntegration"):
                raise BadRequest("No integration defined for method")
        snap: dict[str, Any] = {"api": api.doc, "account": api.account, "region": api.region,
                                "resources": [r.doc for r in resources]}
        for kind in SNAPSHOT_KINDS:
            snap[kind] = [o.doc for o in await self.repo.objects(api.api_id, kind)]
        return snap

    # == deployments ===========================================================================
    async def create_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = await self.api_of(ctx, params["restApiId"])
        snap = await self.snapshot(api)
        now = now_s()
        dep_id = new_id(6)
        doc: dict[str, Any] = {"id": dep_id, "createdDate": now}
        if params.get("description"):
            doc["description"] = params["description"]
        stage_name = params.get("stageName")
        stage: StageRow | None = None
        new_stage = False
        if stage_name:
            existing = await self.repo.stage(api.api_id, stage_name)
            if existing is None:
                sdoc = stage_doc(stage_name, dep_id, {
                    "description": params.get("stageDescription"), "variables": params.get("variables"),
                    "cacheClusterEnabled": params.get("cacheClusterEnabled"),
                    "cacheClusterSize": params.get("cacheClusterSize"),
                    "tracingEnabled": params.get("tracingEnabled")}, now)
                new_stage = True
            else:
                sdoc = {**existing.doc, "deploymentId": dep_id, "lastUpdatedDate": now}
                if params.get("variables"):
                    sdoc["variables"] = {**(sdoc.get("variables") or {}), **check_variables(params["variables"])}
                if params.get("stageDescription"):
                    sdoc["description"] = params["stageDescription"]
            stage = StageRow(api.api_id, stage_name, dep_id, sdoc)
        await self.repo.add_deployment(DeploymentRow(api.api_id, dep_id, now, doc, snap), stage, new_stage=new_stage)
        return doc

    async def get_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        d = await self.repo.deployment(params["restApiId"], params["deploymentId"])
        if d is None:
            raise invalid_deployment()
        out = dict(d.doc)
        if "apisummary" in (params.get("embed") or []):
            out["apiSummary"] = {r.get("path", "/"): {m: {"authorizationType": v.get("authorizationType", "NONE"),
                                                         "apiKeyRequired": bool(v.get("apiKeyRequired"))}
                                                     for m, v in (r.get("resourceMethods") or {}).items()}
                                 for r in d.snapshot.get("resources", []) if r.get("resourceMethods")}
        return out

    async def get_deployments(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        items = sorted((d.doc for d in await self.repo.deployments(params["restApiId"])), key=lambda d: d["id"])
        return Page(params).cut(items)

    async def update_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise BadRequest("Updating a deployment is not supported: create a new deployment instead")

    async def delete_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        if await self.repo.deployment(api_id, params["deploymentId"]) is None:
            raise invalid_deployment()
        if await self.repo.stages_of_deployment(api_id, params["deploymentId"]):
            raise BadRequest("Active stages pointing to this deployment must be moved or deleted")
        await self.repo.delete_deployment(api_id, params["deploymentId"])
        return {}

    # == stages ================================================================================
    async def create_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        if await self.repo.deployment(api_id, params["deploymentId"]) is None:
            raise invalid_deployment()
        doc = stage_doc(params.get("stageName", ""), params["deploymentId"], params, now_s())
        try:
            await self.repo.add_stage(StageRow(api_id, doc["stageName"], params["deploymentId"], doc))
        except ConstraintViolation:
            raise Conflict("Stage already exists") from None
        return doc

    async def get_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        s = await self.repo.stage(params["restApiId"], params["stageName"])
        if s is None:
            raise invalid_stage()
        return s.doc

    async def get_stages(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        stages = await self.repo.stages(params["restApiId"])
        if params.get("deploymentId"):
            stages = [s for s in stages if s.deployment_id == params["deploymentId"]]
        return {"item": [s.doc for s in stages]}

    async def update_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        await self.api_of(ctx, api_id)
        s = await self.repo.stage(api_id, params["stageName"])
        if s is None:
            raise invalid_stage()

        def method_settings(doc: dict[str, Any], op: str, segments: list[str], value: Any) -> bool:
            if segments[0] == "accessLogSettings":
                if op == "remove" and len(segments) == 1:
                    doc.pop("accessLogSettings", None)
                    return True
                if len(segments) == 2 and segments[1] in ("destinationArn", "format"):
                    settings = dict(doc.get("accessLogSettings") or {})
                    if op == "remove":
                        settings.pop(segments[1], None)
                    else:
                        if segments[1] == "destinationArn" and not re.match(
                                r"^arn:aws[\w-]*:(logs|firehose):[a-z0-9-]+:\d{12}:", str(value or "")):
                            raise BadRequest(f"Invalid ARN specified in the request: {value}")
                        settings[segments[1]] = str(value)
                    doc["accessLogSettings"] = settings
                    return True
                return False
            if len(segments) < 3 or segments[0] in STAGE_FIELDS:
                return False
            # /{resource path}/{method}/{setting}: "*/*" for every method; a resource path has its "/" as "~1"
            key = f"{segments[0]}/{segments[1]}"
            setting = "/".join(segments[2:])
            spec = METHOD_SETTINGS.get(setting)
            if spec is None:
                return False
            field, kind = spec
            settings = dict(doc.get("methodSettings") or {})
            current = dict(settings.get(key) or DEFAULT_METHOD_SETTING)
            if op == "remove":
                current.pop(field, None)
            elif kind == "bool":
                current[field] = as_bool(value, "/" + "/".join(segments))
            elif kind == "int":
                current[field] = as_int(value, "/" + "/".join(segments))
            elif kind == "float":
                current[field] = as_float(value, "/" + "/".join(segments))
            else:
                current[field] = str(value)
            settings[key] = current
            doc["methodSettings"] = settings
            return True

        doc = apply_patch(s.doc, params.get("patchOperations"), STAGE_FIELDS, method_settings)
        if doc.get("variables"):
            doc["variables"] = check_variables(doc["variables"])
        else:
            doc.pop("variables", None)
        if doc["deploymentId"] != s.deployment_id and await self.repo.deployment(api_id, doc["deploymentId"]) is None:
            raise invalid_deployment()
        doc["lastUpdatedDate"] = now_s()
        await self.repo.save_stage(StageRow(api_id, s.stage_name, doc["deploymentId"], doc))
        return doc

    async def delete_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        if not await self.repo.delete_stage(params["restApiId"], params["stageName"]):
            raise invalid_stage()
        return {}
