"""HTTP APIs (API Gateway v2, botocore's ``apigatewayv2``): APIs (with quick create), routes, integrations,
stages (auto-deploy, stage variables) and deployments.

Documents live in API Gateway's store beside the REST APIs (``apigw_objects``: the API under the account,
its routes, integrations, stages and deployments under the API's id). A stage with ``AutoDeploy`` serves
the API's routes as they are; any other stage serves the deployment it points at (a copy of the routes
and integrations made when it was created). Requests are answered by :mod:`.execute_v2`.
"""

from __future__ import annotations

import re
from typing import Any

from tsunagi.services.apigateway.core import invoke_host, new_id, now_s
from tsunagi.services.apigateway.errors import BadRequest, Conflict, NotFound
from tsunagi.services.apigateway.integrations import AWS_URI
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.store.apigateway import ApiGatewayRepo, ObjectRow

V2_API, ROUTE, INTEGRATION, STAGE, DEPLOYMENT = "v2api", "v2route", "v2integration", "v2stage", "v2deployment"
AUTHORIZER = "v2authorizer"
DEFAULT_STAGE = "$default"
ROUTE_KEY = re.compile(r"^(\$default|(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (/[^\s]*))$")
SUBTYPES = ("SQS-SendMessage", "SQS-ReceiveMessage", "SQS-DeleteMessage", "SQS-PurgeQueue", "SQS-SendMessageBatch",
            "EventBridge-PutEvents", "AppConfig-GetConfiguration", "Kinesis-PutRecord",
            "StepFunctions-StartExecution", "StepFunctions-StartSyncExecution", "StepFunctions-StopExecution")
LAMBDA_ARN = re.compile(r"^arn:aws[\w-]*:lambda:[a-z0-9-]+:\d{12}:function:[^/]+$")


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def endpoint(api_id: str, host: str | None) -> str:
    return f"http://{invoke_host(api_id, host)}"


class ApiGatewayV2Service(Service):
    name = "apigatewayv2"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = ApiGatewayRepo(platform.store)

    # -- lookups ----------------------------------------------------------------------------------
    async def _api(self, ctx: RequestContext, api_id: str) -> ObjectRow:
        row = await self.repo.object("", V2_API, api_id)
        if row is None or row.account != ctx.account or row.region != ctx.region:
            raise NotFound(f"Invalid API identifier specified {ctx.account}:{api_id}", ResourceType="Api")
        return row

    async def _child(self, ctx: RequestContext, api_id: str, kind: str, object_id: str, what: str) -> ObjectRow:
        await self._api(ctx, api_id)
        row = await self.repo.object(api_id, kind, object_id)
        if row is None:
            raise NotFound(f"Invalid {what} identifier specified {ctx.account}:{object_id}", ResourceType=what)
        return row

    @staticmethod
    def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
        items = sorted(items, key=lambda d: str(d[key]))
        after = params.get("NextToken") or ""
        if after:
            items = [i for i in items if str(i[key]) > after]
        limit = int(params.get("MaxResults") or 100)
        out: dict[str, Any] = {"Items": [_public(i) for i in items[:limit]]}
        if len(items) > limit:
            out["NextToken"] = str(items[limit - 1][key])
        return out

    # == APIs ==================================================================================
    async def create_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        protocol = params["ProtocolType"]
        if protocol not in ("HTTP", "WEBSOCKET"):
            raise BadRequest("Invalid protocol type specified. Must be one of: [HTTP, WEBSOCKET]")
        if protocol == "WEBSOCKET":
            raise BadRequest("WebSocket APIs are not available in tsunagi")
        api_id = new_id()
        doc: dict[str, Any] = {"ApiId": api_id, "Name": params["Name"], "ProtocolType": protocol,
                               "ApiEndpoint": endpoint(api_id, ctx.host), "CreatedDate": now_s(),
                               "RouteSelectionExpression": params.get("RouteSelectionExpression")
                               or "$request.method $request.path",
                               "ApiKeySelectionExpression": params.get("ApiKeySelectionExpression")
                               or "$request.header.x-api-key",
                               "DisableExecuteApiEndpoint": bool(params.get("DisableExecuteApiEndpoint", False)),
                               "IpAddressType": params.get("IpAddressType") or "ipv4"}
        for key in ("Description", "Version", "CorsConfiguration", "Tags"):
            if params.get(key):
                doc[key] = params[key]
        await self.repo.add_object(ObjectRow("", V2_API, api_id, ctx.account, ctx.region, "", now_s(), doc))
        target = params.get("Target")
        if target:        # quick create: an integration, a route and the $default stage
            kind = "HTTP_PROXY" if target.startswith(("http://", "https://")) else "AWS_PROXY"
            integration = await self.create_integration(ctx, {
                "ApiId": api_id, "IntegrationType": kind, "IntegrationUri": target,
                "IntegrationMethod": "ANY" if kind == "HTTP_PROXY" else "POST",
                "PayloadFormatVersion": "2.0" if kind == "AWS_PROXY" else "1.0",
                "CredentialsArn": params.get("CredentialsArn")})
            await self.create_route(ctx, {"ApiId": api_id, "RouteKey": params.get("RouteKey") or "$default",
                                          "Target": f"integrations/{integration['IntegrationId']}"})
            await self.create_stage(ctx, {"ApiId": api_id, "StageName": DEFAULT_STAGE, "AutoDeploy": True})
        elif params.get("RouteKey") or params.get("CredentialsArn"):
            raise BadRequest("RouteKey and CredentialsArn are only allowed with Target (quick create)")
        return doc

    async def get_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return _public((await self._api(ctx, params["ApiId"])).doc)

    async def get_apis(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rows = await self.repo.account_objects(ctx.account, ctx.region, V2_API)
        return self._page([r.doc for r in rows], params, "ApiId")

    async def update_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._api(ctx, params["ApiId"])
        doc = dict(row.doc)
        for key in ("Name", "Description", "Version", "CorsConfiguration", "RouteSelectionExpression",
                    "ApiKeySelectionExpression", "DisableExecuteApiEndpoint", "IpAddressType"):
            if params.get(key) is not None:
                doc[key] = params[key]
        await self.repo.save_object(row._replace(doc=doc))
        return _public(doc)

    async def delete_cors_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._api(ctx, params["ApiId"])
        doc = dict(row.doc)
        doc.pop("CorsConfiguration", None)
        await self.repo.save_object(row._replace(doc=doc))
        return {}

    async def delete_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._api(ctx, params["ApiId"])
        for kind in (ROUTE, INTEGRATION, STAGE, DEPLOYMENT, AUTHORIZER):
            for child in await self.repo.objects(row.object_id, kind):
                await self.repo.delete_object(row.object_id, kind, child.object_id)
        await self.repo.delete_object("", V2_API, row.object_id)
        return {}

    # == integrations ==========================================================================
    @staticmethod
    def _integration(params: dict[str, Any], integration_id: str) -> dict[str, Any]:
        kind = params.get("IntegrationType")
        if kind not in ("AWS_PROXY", "HTTP_PROXY", "MOCK", "AWS", "HTTP"):
            raise BadRequest("Invalid integration type specified")
        if kind in ("AWS", "HTTP"):
            raise BadRequest(f"Integration type {kind} is not supported for HTTP APIs. Use {kind}_PROXY.")
        doc: dict[str, Any] = {"IntegrationId": integration_id, "IntegrationType": kind, "ConnectionType":
                               params.get("ConnectionType") or "INTERNET",
                               "TimeoutInMillis": int(params.get("TimeoutInMillis") or 30000)}
        if not 50 <= doc["TimeoutInMillis"] <= 30000:
            raise BadRequest("Timeout should be between 50 ms and 30000 ms")
        uri = params.get("IntegrationUri")
        subtype = params.get("IntegrationSubtype")
        if kind == "AWS_PROXY":
            if subtype:
                if subtype not in SUBTYPES:
                    raise BadRequest(f"Invalid integration subtype specified: {subtype}")
                doc["IntegrationSubtype"] = subtype
                if not params.get("RequestParameters"):
                    raise BadRequest(f"Request parameters are required for the integration subtype {subtype}")
                doc["PayloadFormatVersion"] = params.get("PayloadFormatVersion") or "1.0"
            else:
                if not uri or not (LAMBDA_ARN.match(uri) or AWS_URI.match(uri)):
                    raise BadRequest("Invalid integration URI specified: a Lambda function ARN is required")
                version = params.get("PayloadFormatVersion")
                if version not in ("1.0", "2.0"):
                    raise BadRequest("Invalid payload format version specified. Must be one of: [1.0, 2.0]")
                doc["PayloadFormatVersion"] = version
                doc["IntegrationMethod"] = params.get("IntegrationMethod") or "POST"
        elif kind == "HTTP_PROXY":
            if not uri or not re.match(r"^https?://[^/\s]+", uri):
                raise BadRequest("Invalid HTTP endpoint specified for URI")
            if not params.get("IntegrationMethod"):
                raise BadRequest("An integration method is required for HTTP_PROXY integrations")
            doc["IntegrationMethod"] = params["IntegrationMethod"]
            doc["PayloadFormatVersion"] = params.get("PayloadFormatVersion") or "1.0"
        if uri:
            doc["IntegrationUri"] = uri
        for key in ("CredentialsArn", "Description", "RequestParameters", "ResponseParameters",
                    "RequestTemplates", "TemplateSelectionExpression", "PassthroughBehavior",
                    "ContentHandlingStrategy", "TlsConfig"):
            if params.get(key):
                doc[key] = params[key]
        return doc

    async def create_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["ApiId"]
        await self._api(ctx, api_id)
        iid = new_id(7)
        doc = self._integration(params, iid)
        await self.repo.add_object(ObjectRow(api_id, INTEGRATION, iid, ctx.account, ctx.region, "", now_s(), doc))
        return doc

    async def get_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._child(ctx, params["ApiId"], INTEGRATION, params["IntegrationId"], "Integration")).doc

    async def get_integrations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self._api(ctx, params["ApiId"])
        return self._page([o.doc for o in await self.repo.objects(params["ApiId"], INTEGRATION)], params,
                          "IntegrationId")

    async def update_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], INTEGRATION, params["IntegrationId"], "Integration")
        merged = {**row.doc, **{k: v for k, v in params.items() if v is not None and k not in ("ApiId",)}}
        doc = self._integration(merged, row.object_id)
        await self.repo.save_object(row._replace(doc=doc))
        return doc

    async def delete_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], INTEGRATION, params["IntegrationId"], "Integration")
        for route in await self.repo.objects(row.scope, ROUTE):
            if route.doc.get("Target") == f"integrations/{row.object_id}":
                raise Conflict(f"Integration {row.object_id} is still referenced by route {route.doc['RouteKey']}")
        await self.repo.delete_object(row.scope, INTEGRATION, row.object_id)
        return {}

    # == routes ================================================================================
    async def _route_doc(self, api_id: str, params: dict[str, Any], route_id: str) -> dict[str, Any]:
        key = params.get("RouteKey", "")
        if not ROUTE_KEY.match(key):
            raise BadRequest(f"Invalid route key specified: {key}. Route keys are '$default' or "
                             "'<METHOD> <path>'.")
        target = params.get("Target")
        if target:
            m = re.match(r"^integrations/(\w+)$", target)
            if m is None or await self.repo.object(api_id, INTEGRATION, m.group(1)) is None:
                raise BadRequest(f"Invalid target specified: {target}")
        doc: dict[str, Any] = {"RouteId": route_id, "RouteKey": key, "ApiKeyRequired":
                               bool(params.get("ApiKeyRequired", False)),
                               "AuthorizationType": params.get("AuthorizationType") or "NONE"}
        kind = doc["AuthorizationType"]
        if kind not in ("NONE", "JWT", "CUSTOM", "AWS_IAM"):
            raise BadRequest(f"Invalid authorization type specified: {kind}. Must be one of: [NONE, JWT, CUSTOM, "
                             "AWS_IAM]")
        if kind in ("JWT", "CUSTOM"):
            auth = await self.repo.object(api_id, AUTHORIZER, str(params.get("AuthorizerId") or ""))
            if auth is None:
                raise BadRequest(f"Invalid authorizer identifier specified for authorization type {kind}")
            if (auth.doc["AuthorizerType"] == "JWT") != (kind == "JWT"):
                raise BadRequest(f"The authorizer {auth.object_id} is of type {auth.doc['AuthorizerType']}, not "
                                 f"{'JWT' if kind == 'JWT' else 'REQUEST'}")
        for k in ("Target", "OperationName", "RequestParameters", "AuthorizerId", "AuthorizationScopes"):
            if params.get(k):
                doc[k] = params[k]
        return doc

    async def create_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["ApiId"]
        await self._api(ctx, api_id)
        if any(r.doc.get("RouteKey") == params.get("RouteKey") for r in await self.repo.objects(api_id, ROUTE)):
            raise Conflict(f"Unable to create route {params.get('RouteKey')}. The route already exists.")
        rid = new_id(7)
        doc = await self._route_doc(api_id, params, rid)
        await self.repo.add_object(ObjectRow(api_id, ROUTE, rid, ctx.account, ctx.region, doc["RouteKey"], now_s(),
                                             doc))
        return doc

    async def get_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._child(ctx, params["ApiId"], ROUTE, params["RouteId"], "Route")).doc

    async def get_routes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self._api(ctx, params["ApiId"])
        return self._page([o.doc for o in await self.repo.objects(params["ApiId"], ROUTE)], params, "RouteId")

    async def update_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], ROUTE, params["RouteId"], "Route")
        merged = {**row.doc, **{k: v for k, v in params.items() if v is not None and k not in ("ApiId",)}}
        doc = await self._route_doc(row.scope, merged, row.object_id)
        await self.repo.save_object(row._replace(doc=doc, lookup=doc["RouteKey"]))
        return doc

    async def delete_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], ROUTE, params["RouteId"], "Route")
        await self.repo.delete_object(row.scope, ROUTE, row.object_id)
        return {}

    # == authorizers ===========================================================================
    @staticmethod
    def _authorizer(params: dict[str, Any], authorizer_id: str) -> dict[str, Any]:
        kind = params.get("AuthorizerType")
        if kind not in ("JWT", "REQUEST"):
            raise BadRequest("Invalid authorizer type specified. Must be one of: [JWT, REQUEST]")
        sources = list(params.get("IdentitySource") or [])
        for source in sources:
            if not re.match(r"^\$(request\.(header|querystring)\.[^\s,]+|context\.[\w.]+|stageVariables\.\w+)$",
                            source):
                raise BadRequest(f"Invalid identity source specified: {source}")
        doc: dict[str, Any] = {"AuthorizerId": authorizer_id, "AuthorizerType": kind, "Name": params["Name"],
                               "IdentitySource": sources}
        if kind == "JWT":
            jwt = params.get("JwtConfiguration") or {}
            if not jwt.get("Issuer") or not jwt.get("Audience"):
                raise BadRequest("A JWT authorizer needs JwtConfiguration with an Issuer and an Audience")
            if len(sources) != 1 or not sources[0].startswith("$request.header."):
                raise BadRequest("A JWT authorizer takes one identity source, a header")
            doc["JwtConfiguration"] = {"Issuer": jwt["Issuer"], "Audience": list(jwt["Audience"])}
        else:
            uri = params.get("AuthorizerUri") or ""
            if not uri:
                raise BadRequest("AuthorizerUri is required for a REQUEST authorizer")
            version = params.get("AuthorizerPayloadFormatVersion")
            if version not in ("1.0", "2.0"):
                raise BadRequest("AuthorizerPayloadFormatVersion must be 1.0 or 2.0")
            if params.get("EnableSimpleResponses") and version != "2.0":
                raise BadRequest("Simple responses are only available with payload format version 2.0")
            ttl = int(params.get("AuthorizerResultTtlInSeconds") or 0)
            if not 0 <= ttl <= 3600:
                raise BadRequest("AuthorizerResultTtlInSeconds must be between 0 and 3600")
            if ttl and not sources:
                raise BadRequest("Identity sources are required when authorizer caching is enabled")
            doc.update({"AuthorizerUri": uri, "AuthorizerPayloadFormatVersion": version,
                        "EnableSimpleResponses": bool(params.get("EnableSimpleResponses", False)),
                        "AuthorizerResultTtlInSeconds": ttl})
            if params.get("AuthorizerCredentialsArn"):
                doc["AuthorizerCredentialsArn"] = params["AuthorizerCredentialsArn"]
        return doc

    async def create_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["ApiId"]
        await self._api(ctx, api_id)
        aid = new_id(6)
        doc = self._authorizer(params, aid)
        await self.repo.add_object(ObjectRow(api_id, AUTHORIZER, aid, ctx.account, ctx.region, doc["Name"], now_s(),
                                             doc))
        return doc

    async def get_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._child(ctx, params["ApiId"], AUTHORIZER, params["AuthorizerId"], "Authorizer")).doc

    async def get_authorizers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self._api(ctx, params["ApiId"])
        return self._page([o.doc for o in await self.repo.objects(params["ApiId"], AUTHORIZER)], params,
                          "AuthorizerId")

    async def update_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], AUTHORIZER, params["AuthorizerId"], "Authorizer")
        merged = {**row.doc, **{k: v for k, v in params.items() if v is not None and k != "ApiId"}}
        doc = self._authorizer(merged, row.object_id)
        await self.repo.save_object(row._replace(doc=doc, lookup=doc["Name"]))
        return doc

    async def delete_authorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], AUTHORIZER, params["AuthorizerId"], "Authorizer")
        for route in await self.repo.objects(row.scope, ROUTE):
            if route.doc.get("AuthorizerId") == row.object_id:
                raise Conflict(f"Authorizer {row.object_id} is still used by route {route.doc['RouteKey']}")
        await self.repo.delete_object(row.scope, AUTHORIZER, row.object_id)
        return {}

    # == deployments and stages ================================================================
    async def _snapshot(self, api_id: str) -> dict[str, Any]:
        return {"routes": [r.doc for r in await self.repo.objects(api_id, ROUTE)],
                "integrations": [i.doc for i in await self.repo.objects(api_id, INTEGRATION)],
                "authorizers": [a.doc for a in await self.repo.objects(api_id, AUTHORIZER)]}

    async def create_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["ApiId"]
        await self._api(ctx, api_id)
        did = new_id(6)
        doc: dict[str, Any] = {"DeploymentId": did, "DeploymentStatus": "DEPLOYED", "CreatedDate": now_s(),
                               "AutoDeployed": False, "_snapshot": await self._snapshot(api_id)}
        if params.get("Description"):
            doc["Description"] = params["Description"]
        await self.repo.add_object(ObjectRow(api_id, DEPLOYMENT, did, ctx.account, ctx.region, "", now_s(), doc))
        if params.get("StageName"):
            stage = await self._child(ctx, api_id, STAGE, params["StageName"], "Stage")
            await self.repo.save_object(stage._replace(doc={**stage.doc, "DeploymentId": did,
                                                            "LastUpdatedDate": now_s()}))
        return _public(doc)

    async def get_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return _public((await self._child(ctx, params["ApiId"], DEPLOYMENT, params["DeploymentId"],
                                          "Deployment")).doc)

    async def get_deployments(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self._api(ctx, params["ApiId"])
        return self._page([o.doc for o in await self.repo.objects(params["ApiId"], DEPLOYMENT)], params,
                          "DeploymentId")

    async def delete_deployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], DEPLOYMENT, params["DeploymentId"], "Deployment")
        await self.repo.delete_object(row.scope, DEPLOYMENT, row.object_id)
        return {}

    async def create_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["ApiId"]
        await self._api(ctx, api_id)
        name = params["StageName"]
        if name != DEFAULT_STAGE and not re.match(r"^[a-zA-Z0-9_\-]{1,128}$", name):
            raise BadRequest("Stage name only allows a-zA-Z0-9_- (or $default)")
        if await self.repo.object(api_id, STAGE, name) is not None:
            raise Conflict(f"Unable to create stage {name}. The stage already exists.")
        if params.get("DeploymentId") and await self.repo.object(api_id, DEPLOYMENT, params["DeploymentId"]) is None:
            raise NotFound(f"Invalid Deployment identifier specified {ctx.account}:{params['DeploymentId']}")
        now = now_s()
        doc: dict[str, Any] = {"StageName": name, "AutoDeploy": bool(params.get("AutoDeploy", False)),
                               "CreatedDate": now, "LastUpdatedDate": now, "RouteSettings": {},
                               "DefaultRouteSettings": params.get("DefaultRouteSettings") or
                               {"DetailedMetricsEnabled": False}, "StageVariables": params.get("StageVariables") or {}}
        for key in ("DeploymentId", "Description", "AccessLogSettings", "Tags"):
            if params.get(key):
                doc[key] = params[key]
        await self.repo.add_object(ObjectRow(api_id, STAGE, name, ctx.account, ctx.region, "", now, doc))
        return doc

    async def get_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._child(ctx, params["ApiId"], STAGE, params["StageName"], "Stage")).doc

    async def get_stages(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self._api(ctx, params["ApiId"])
        return self._page([o.doc for o in await self.repo.objects(params["ApiId"], STAGE)], params, "StageName")

    async def update_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], STAGE, params["StageName"], "Stage")
        doc = dict(row.doc)
        for key in ("AutoDeploy", "DeploymentId", "Description", "StageVariables", "AccessLogSettings",
                    "DefaultRouteSettings", "RouteSettings"):
            if params.get(key) is not None:
                doc[key] = params[key]
        if params.get("DeploymentId") and await self.repo.object(row.scope, DEPLOYMENT, params["DeploymentId"]) is None:
            raise NotFound(f"Invalid Deployment identifier specified {ctx.account}:{params['DeploymentId']}")
        doc["LastUpdatedDate"] = now_s()
        await self.repo.save_object(row._replace(doc=doc))
        return doc

    async def delete_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._child(ctx, params["ApiId"], STAGE, params["StageName"], "Stage")
        await self.repo.delete_object(row.scope, STAGE, row.object_id)
        return {}

    # == tags ==================================================================================
    async def _tagged(self, ctx: RequestContext, arn: str) -> ObjectRow:
        m = re.match(r"^arn:aws[\w-]*:apigateway:([a-z0-9-]+)::/apis/([^/]+)(?:/stages/([^/]+))?$", arn)
        if m is None or m.group(1) != ctx.region:
            raise BadRequest(f"Invalid ARN specified in the request: {arn}")
        api = await self._api(ctx, m.group(2))
        if m.group(3) is None:
            return api
        return await self._child(ctx, api.object_id, STAGE, m.group(3), "Stage")

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._tagged(ctx, params["ResourceArn"])
        tags = {**(row.doc.get("Tags") or {}), **(params.get("Tags") or {})}
        if len(tags) > 50:
            raise BadRequest("A resource can have at most 50 tags")
        await self.repo.save_object(row._replace(doc={**row.doc, "Tags": tags}))
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._tagged(ctx, params["ResourceArn"])
        doomed = set(params.get("TagKeys") or [])
        tags = {k: v for k, v in (row.doc.get("Tags") or {}).items() if k not in doomed}
        await self.repo.save_object(row._replace(doc={**row.doc, "Tags": tags}))
        return {}

    async def get_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._tagged(ctx, params["ResourceArn"])
        return {"Tags": dict(row.doc.get("Tags") or {})}
