"""REST APIs and their resource trees: Create/Get/Update/DeleteRestApi, GetRestApis, and
Create/Get/Update/DeleteResource, GetResources."""

from __future__ import annotations

import copy
from typing import Any

from tsunagi.services.apigateway.core import PATH_PART, ApiGatewayCore, Page, apply_patch, new_id, now_s
from tsunagi.services.apigateway.errors import BadRequest, Conflict, NotFound
from tsunagi.services.base import RequestContext
from tsunagi.store.apigateway import ApiRow, ResourceRow
from tsunagi.store.base import ConstraintViolation

ENDPOINT_TYPES = ("REGIONAL", "EDGE", "PRIVATE")
API_FIELDS = {"name": "str", "description": "str", "version": "str", "binaryMediaTypes": "list",
              "minimumCompressionSize": "int", "apiKeySource": "str", "policy": "str",
              "disableExecuteApiEndpoint": "bool", "endpointConfiguration": "endpoint"}
PATH_PART_RULE = ("Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end "
                  "and an optional plus sign before the closing brace.")


def api_doc(params: dict[str, Any], api_id: str, root_id: str, created: int) -> dict[str, Any]:
    """A RestApi document from CreateRestApi's (or an import's) parameters."""
    endpoint = params.get("endpointConfiguration") or {"types": ["EDGE"]}
    types = endpoint.get("types") or ["EDGE"]
    for t in types:
        if t not in ENDPOINT_TYPES:
            raise BadRequest(f"Invalid endpoint configuration type '{t}'. Must be one of: {list(ENDPOINT_TYPES)}")
    source = params.get("apiKeySource") or "HEADER"
    if source not in ("HEADER", "AUTHORIZER"):
        raise BadRequest(f"Invalid API key source '{source}'. Must be one of: [HEADER, AUTHORIZER]")
    doc: dict[str, Any] = {"id": api_id, "name": params["name"], "createdDate": created,
                           "apiKeySource": source, "endpointConfiguration": {"types": list(types)},
                           "disableExecuteApiEndpoint": bool(params.get("disableExecuteApiEndpoint", False)),
                           "rootResourceId": root_id}
    if endpoint.get("ipAddressType"):
        doc["endpointConfiguration"]["ipAddressType"] = endpoint["ipAddressType"]
    else:
        doc["endpointConfiguration"]["ipAddressType"] = "ipv4"
    for key in ("description", "version", "policy"):
        if params.get(key):
            doc[key] = params[key]
    if params.get("binaryMediaTypes"):
        doc["binaryMediaTypes"] = list(params["binaryMediaTypes"])
    if params.get("minimumCompressionSize") is not None:
        doc["minimumCompressionSize"] = int(params["minimumCompressionSize"])
    if params.get("tags"):
        doc["tags"] = dict(params["tags"])
    return doc


def root_resource(api_id: str, root_id: str) -> ResourceRow:
    return ResourceRow(api_id, root_id, None, "/", {"id": root_id, "path": "/"})


def resource_view(r: ResourceRow, embed_methods: bool) -> dict[str, Any]:
    doc = copy.deepcopy(r.doc)
    methods = doc.pop("resourceMethods", None)
    if methods:
        doc["resourceMethods"] = methods if embed_methods else {m: {} for m in methods}
    return doc


def child_path(parent: str, part: str) -> str:
    return f"/{part}" if parent == "/" else f"{parent}/{part}"


class ApiOps(ApiGatewayCore):
    # == REST APIs =============================================================================
    async def create_rest_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        if not name:
            raise BadRequest("Invalid REST API name specified: the name must not be empty")
        if params.get("cloneFrom"):
            source = await self.api_of(ctx, params["cloneFrom"])
            return await self._clone(ctx, source, params)
        api_id, root_id = new_id(), new_id()
        created = now_s()
        doc = api_doc(params, api_id, root_id, created)
        await self.repo.create_api(ApiRow(api_id, ctx.account, ctx.region, name, created, doc),
                                   [root_resource(api_id, root_id)])
        return doc

    async def _clone(self, ctx: RequestContext, source: ApiRow, params: dict[str, Any]) -> dict[str, Any]:
        api_id = new_id()
        created = now_s()
        ids = {r.resource_id: new_id() for r in await self.repo.resources(source.api_id)}
        rows = []
        for r in await self.repo.resources(source.api_id):
            doc = copy.deepcopy(r.doc)
            doc["id"] = ids[r.resource_id]
            if r.parent_id is not None:
                doc["parentId"] = ids[r.parent_id]
            rows.append(ResourceRow(api_id, ids[r.resource_id], ids.get(r.parent_id or ""), r.path, doc))
        base = {**source.doc, **{k: v for k, v in params.items() if v is not None and k != "cloneFrom"}}
        doc = api_doc(base, api_id, ids[source.doc["rootResourceId"]], created)
        await self.repo.create_api(ApiRow(api_id, ctx.account, ctx.region, doc["name"], created, doc), rows)
        return doc

    async def get_rest_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self.api_of(ctx, params["restApiId"])).doc

    async def get_rest_apis(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        page = Page(params)
        rows = await self.repo.apis(ctx.account, ctx.region, page.after, page.limit + 1)
        out: dict[str, Any] = {"items": [r.doc for r in rows[:page.limit]]}
        if len(rows) > page.limit:
            out["position"] = rows[page.limit - 1].api_id
        return out

    async def update_rest_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = await self.api_of(ctx, params["restApiId"])

        def endpoint(doc: dict[str, Any], op: str, segments: list[str], value: Any) -> bool:
            if segments[0] != "endpointConfiguration":
                return False
            if len(segments) >= 2 and segments[1] == "types" and op == "replace":
                if str(value) not in ENDPOINT_TYPES:
                    raise BadRequest(f"Invalid endpoint configuration type '{value}'.")
                doc["endpointConfiguration"] = {**doc.get("endpointConfiguration", {}), "types": [str(value)]}
                return True
            if len(segments) == 2 and segments[1] == "ipAddressType" and op == "replace":
                doc["endpointConfiguration"] = {**doc.get("endpointConfiguration", {}), "ipAddressType": str(value)}
                return True
            return False

        doc = apply_patch(api.doc, params.get("patchOperations"), API_FIELDS, endpoint)
        if not doc.get("name"):
            raise BadRequest("Invalid REST API name specified: the name must not be empty")
        if doc.get("apiKeySource") not in ("HEADER", "AUTHORIZER"):
            raise BadRequest("Invalid API key source. Must be one of: [HEADER, AUTHORIZER]")
        await self.repo.update_api(api.api_id, doc["name"], doc)
        return doc

    async def delete_rest_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = await self.api_of(ctx, params["restApiId"])
        await self.repo.delete_api(api.api_id)
        return {}

    # == resources =============================================================================
    async def get_resources(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.api_of(ctx, params["restApiId"])
        embed = "methods" in (params.get("embed") or [])
        rows = await self.repo.resources(params["restApiId"])
        items = sorted((resource_view(r, embed) for r in rows), key=lambda d: d["id"])
        return Page(params).cut(items)

    async def get_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r = await self.resource_of(ctx, params["restApiId"], params["resourceId"])
        return resource_view(r, "methods" in (params.get("embed") or []))

    async def create_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        parent = await self.resource_of(ctx, api_id, params["parentId"])
        part = params.get("pathPart") or ""
        if not PATH_PART.match(part):
            raise BadRequest(PATH_PART_RULE)
        siblings = [r for r in await self.repo.resources(api_id) if r.parent_id == parent.resource_id]
        for s in siblings:
            other = s.doc.get("pathPart", "")
            if other == part:
                raise Conflict(f"Another resource with the same parent already has this name: {part}")
            if other.startswith("{") and part.startswith("{"):
                raise BadRequest(f"A sibling ({other}) of this resource already has a variable path part -- only "
                                 "one is allowed")
        if parent.doc.get("pathPart", "").endswith("+}"):
            raise BadRequest("Cannot create a child of a resource with a greedy path variable: "
                             f"{parent.doc['pathPart']}")
        rid = new_id()
        path = child_path(parent.path, part)
        doc = {"id": rid, "parentId": parent.resource_id, "pathPart": part, "path": path}
        try:
            await self.repo.add_resource(ResourceRow(api_id, rid, parent.resource_id, path, doc))
        except ConstraintViolation:
            raise Conflict(f"Another resource with the same parent already has this name: {part}") from None
        return doc

    async def update_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        r = await self.resource_of(ctx, api_id, params["resourceId"])
        if r.parent_id is None:
            raise BadRequest("Root resource cannot be updated")
        doc = apply_patch(r.doc, params.get("patchOperations"), {"pathPart": "str", "parentId": "str"})
        part = doc.get("pathPart", "")
        if not PATH_PART.match(part):
            raise BadRequest(PATH_PART_RULE)
        rows = {x.resource_id: x for x in await self.repo.resources(api_id)}
        parent = rows.get(doc["parentId"])
        if parent is None:
            raise NotFound("Invalid Resource identifier specified")
        # the subtree moves with the resource
        changed = []
        old_prefix = r.path
        new_path = child_path(parent.path, part)
        for x in rows.values():
            if x.resource_id == r.resource_id:
                changed.append(ResourceRow(api_id, x.resource_id, parent.resource_id, new_path,
                                           {**doc, "path": new_path}))
            elif x.path.startswith(old_prefix + "/"):
                p = new_path + x.path[len(old_prefix):]
                changed.append(ResourceRow(api_id, x.resource_id, x.parent_id, p, {**x.doc, "path": p}))
        taken = {x.path for x in rows.values() if x.resource_id not in {c.resource_id for c in changed}}
        if any(c.path in taken for c in changed):
            raise Conflict(f"Another resource with the same parent already has this name: {part}")
        await self.repo.save_resources(changed)
        return resource_view(changed[0], True)

    async def delete_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["restApiId"]
        r = await self.resource_of(ctx, api_id, params["resourceId"])
        if r.parent_id is None:
            raise BadRequest("Cannot delete root resource")
        doomed = [x.resource_id for x in await self.repo.resources(api_id)
                  if x.resource_id == r.resource_id or x.path.startswith(r.path + "/")]
        await self.repo.delete_resources(api_id, doomed)
        return {}
