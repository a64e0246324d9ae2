"""API Gateway: REST APIs (v1) and the requests they answer.

The service is put together from one class per concern, each on :class:`.core.ApiGatewayCore`:
:mod:`.apis` (APIs and resources), :mod:`.methods` (methods, integrations, responses),
:mod:`.deployments` (deployments and stages), :mod:`.importer` (OpenAPI and Swagger) and
:mod:`.keys` (API keys and usage plans), :mod:`.extras` (authorizers, models, validators, gateway
responses). The
gateway's execute-api route reaches the invoke path (:mod:`.execute`) through the port (:mod:`.port`).
"""

from __future__ import annotations

import time
from typing import Any

from tsunagi.ports.apigateway import APIGATEWAY, ApiRequest
from tsunagi.services.apigateway.apis import ApiOps
from tsunagi.services.apigateway.core import Deployed
from tsunagi.services.apigateway.deployments import SNAPSHOT_KINDS, DeploymentOps
from tsunagi.services.apigateway.errors import invalid_integration, invalid_method
from tsunagi.services.apigateway.export import ExportOps
from tsunagi.services.apigateway.extras import ExtraOps
from tsunagi.services.apigateway.importer import ImportOps
from tsunagi.services.apigateway.keys import KeyOps
from tsunagi.services.apigateway.methods import MethodOps
from tsunagi.services.apigateway.port import ApiGatewayPortImpl
from tsunagi.services.base import Platform, RequestContext
from tsunagi.store.apigateway import DeploymentRow, StageRow

__all__ = ["ApiGatewayService"]


class ApiGatewayService(ApiOps, MethodOps, DeploymentOps, ImportOps, KeyOps, ExtraOps, ExportOps):
    name = "apigateway"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.port = ApiGatewayPortImpl(self)
        platform.ports.provide(APIGATEWAY, self.port)

    async def test_invoke_method(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The method called with the API as it is now (not as deployed), skipping keys and authorizers."""
        api = await self.api_of(ctx, params["restApiId"])
        resource = await self.resource_of(ctx, api.api_id, params["resourceId"])
        method = (resource.doc.get("resourceMethods") or {}).get(params["httpMethod"].upper())
        if method is None:
            raise invalid_method()
        if not method.get("methodIntegration"):
            raise invalid_integration()
        snapshot: dict[str, Any] = {"api": api.doc, "account": api.account, "region": api.region,
                                    "resources": [r.doc for r in await self.repo.resources(api.api_id)]}
        for kind in SNAPSHOT_KINDS:
            snapshot[kind] = [o.doc for o in await self.repo.objects(api.api_id, kind)]
        stage = StageRow(api.api_id, "test-invoke-stage", "test-invoke",
                         {"stageName": "test-invoke-stage", "variables": dict(params.get("stageVariables") or {})})
        deployed = Deployed(api, stage, DeploymentRow(api.api_id, "test-invoke", 0, {}, snapshot), 0.0)
        target = params.get("pathWithQueryString") or resource.path
        path, _, query = target.partition("?")
        headers = list((params.get("headers") or {}).items())
        for name, values in (params.get("multiValueHeaders") or {}).items():
            headers += [(name, v) for v in values]
        started = time.monotonic()
        answer = await self.port.test_invoke(ApiRequest(
            api_id=api.api_id, stage="test-invoke-stage", method=params["httpMethod"].upper(), path=path or "/",
            query=query, headers=headers, body=(params.get("body") or "").encode(), request_id=ctx.request_id,
            source_ip=ctx.source_ip, host=ctx.host), deployed)
        latency = int((time.monotonic() - started) * 1000)
        out_headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in answer.headers:
            out_headers[name] = value
            multi.setdefault(name, []).append(value)
        log_text = (f"Execution log for request {ctx.request_id}\n"
                    f"Method request path: {path or '/'}\nMethod request query string: {query}\n"
                    f"Method completed with status: {answer.status}\n")
        return {"status": answer.status, "body": answer.body.decode("utf-8", "replace"), "headers": out_headers,
                "multiValueHeaders": multi, "log": log_text, "latency": latency}
