"""API keys and usage plans: Create/Get/Update/DeleteApiKey, GetApiKeys, Create/Get/Update/DeleteUsagePlan,
GetUsagePlans, Create/Get/DeleteUsagePlanKey, GetUsagePlanKeys; and :func:`find_key`, which the invoke
path asks whether a key may call a stage (enabled, and in a usage plan that has the stage)."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any, NamedTuple

from tsunagi.services.apigateway.core import (
    CACHE_TTL_SHARED_S,
    ApiGatewayCore,
    Page,
    apply_patch,
    as_float,
    as_int,
    new_id,
    now_s,
)
from tsunagi.services.apigateway.errors import BadRequest, Conflict, NotFound
from tsunagi.services.base import RequestContext
from tsunagi.store.apigateway import ObjectRow

API_KEY, USAGE_PLAN, PLAN_KEY = "apikey", "usageplan", "usageplankey"
_KEY_CHARS = string.ascii_letters + string.digits
KEY_FIELDS = {"name": "str", "description": "str", "enabled": "bool", "customerId": "str"}
PLAN_FIELDS = {"name": "str", "description": "str", "productCode": "str"}


def _key_view(doc: dict[str, Any], include_value: bool) -> dict[str, Any]:
    out = dict(doc)
    if not include_value:
        out.pop("value", None)
    return out


class FoundKey(NamedTuple):
    key_id: str
    plan_id: str
    throttle: dict[str, Any] | None       # the usage plan's (or its stage's) rateLimit and burstLimit
    quota: dict[str, Any] | None          # limit, period (DAY | WEEK | MONTH), offset


async def find_key(service: ApiGatewayCore, value: str, api_id: str, stage: str) -> FoundKey | None:
    """The enabled API key ``value`` and the usage plan that gives it ``api_id``'s ``stage``, else None."""
    cache_key = ("key", value, api_id, stage)
    cached = service.account_cache.get(cache_key)
    if cached is not None and (not service.store.shared or time.monotonic() - cached[1] < CACHE_TTL_SHARED_S):
        return cached[0]  # type: ignore[no-any-return]
    found = None
    for key in await service.repo.objects_by_lookup(API_KEY, value):
        if not key.doc.get("enabled"):
            continue
        for link in await service.repo.account_objects(key.account, key.region, PLAN_KEY):
            if link.doc.get("id") != key.object_id:
                continue
            plan = await service.repo.object("", USAGE_PLAN, link.lookup)
            if plan is None:
                continue
            stages = [s for s in plan.doc.get("apiStages") or []
                      if s.get("apiId") == api_id and s.get("stage") == stage]
            if stages:
                found = FoundKey(key.object_id, plan.object_id, plan.doc.get("throttle"), plan.doc.get("quota"))
                break
        if found:
            break
    if len(service.account_cache) > 10_000:
        service.account_cache.clear()
    service.account_cache[cache_key] = (found, time.monotonic())
    return found


class KeyOps(ApiGatewayCore):
    # == API keys ==============================================================================
    async def _key(self, ctx: RequestContext, key_id: str) -> ObjectRow:
        row = await self.repo.object("", API_KEY, key_id)
        if row is None or row.account != ctx.account or row.region != ctx.region:
            raise NotFound("Invalid API Key identifier specified")
        return row

    async def create_api_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        value = params.get("value") or "".join(secrets.choice(_KEY_CHARS) for _ in range(40))
        if len(value) < 20 or len(value) > 128:
            raise BadRequest("API Key value should be at least 20 characters")
        if await self.repo.objects_by_lookup(API_KEY, value):
            raise Conflict("API Key already exists")
        now = now_s()
        key_id = new_id()
        doc: dict[str, Any] = {"id": key_id, "value": value, "name": params.get("name") or key_id,
                               "enabled": bool(params.get("enabled", False)), "createdDate": now,
                               "lastUpdatedDate": now, "stageKeys": []}
        for k in ("description", "customerId"):
            if params.get(k):
                doc[k] = params[k]
        for sk in params.get("stageKeys") or []:
            doc["stageKeys"].append(f"{sk.get('restApiId')}/{sk.get('stageName')}")
        if params.get("tags"):
            doc["tags"] = dict(params["tags"])
        await self.repo.add_object(ObjectRow("", API_KEY, key_id, ctx.account, ctx.region, value, now, doc))
        return doc

    async def get_api_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return _key_view((await self._key(ctx, params["apiKey"])).doc, bool(params.get("includeValue")))

    async def get_api_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rows = await self.repo.account_objects(ctx.account, ctx.region, API_KEY)
        items = [_key_view(r.doc, bool(params.get("includeValues"))) for r in rows
                 if (not params.get("nameQuery") or str(r.doc.get("name", "")).startswith(params["nameQuery"]))
                 and (not params.get("customerId") or r.doc.get("customerId") == params["customerId"])]
        return Page(params).cut(sorted(items, key=lambda d: d["id"]))

    async def update_api_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._key(ctx, params["apiKey"])

        def stages(doc: dict[str, Any], op: str, segments: list[str], value: Any) -> bool:
            if segments[0] != "stages":
                return False
            keys = list(doc.get("stageKeys") or [])
            if op == "add" and value not in keys:
                keys.append(str(value))
            elif op == "remove":
                keys = [k for k in keys if k != value]
            doc["stageKeys"] = keys
            return True

        doc = apply_patch(row.doc, params.get("patchOperations"), KEY_FIELDS, stages)
        doc["lastUpdatedDate"] = now_s()
        await self.repo.save_object(row._replace(doc=doc))
        return _key_view(doc, False)

    async def delete_api_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._key(ctx, params["apiKey"])
        for link in await self.repo.account_objects(ctx.account, ctx.region, PLAN_KEY):
            if link.doc.get("id") == row.object_id:
                await self.repo.delete_object("", PLAN_KEY, link.object_id)
        await self.repo.delete_object("", API_KEY, row.object_id)
        return {}

    # == usage plans ===========================================================================
    async def _plan(self, ctx: RequestContext, plan_id: str) -> ObjectRow:
        row = await self.repo.object("", USAGE_PLAN, plan_id)
        if row is None or row.account != ctx.account or row.region != ctx.region:
            raise NotFound("Invalid Usage Plan ID specified")
        return row

    async def _check_stages(self, ctx: RequestContext, stages: list[dict[str, Any]]) -> None:
        for s in stages:
            api = await self.repo.api(str(s.get("apiId")))
            if api is None or api.account != ctx.account or api.region != ctx.region:
                raise NotFound(f"Invalid API identifier specified {ctx.account}:{s.get('apiId')}")
            if await self.repo.stage(api.api_id, str(s.get("stage"))) is None:
                raise NotFound(f"Invalid stage identifier specified: {s.get('stage')}")

    async def create_usage_plan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("name"):
            raise BadRequest("Invalid usage plan name specified")
        stages = [dict(s) for s in params.get("apiStages") or []]
        await self._check_stages(ctx, stages)
        plan_id = new_id(6)
        doc: dict[str, Any] = {"id": plan_id, "name": params["name"], "apiStages": stages}
        for k in ("description", "productCode"):
            if params.get(k):
                doc[k] = params[k]
        if params.get("throttle"):
            doc["throttle"] = dict(params["throttle"])
        if params.get("quota"):
            doc["quota"] = {"offset": 0, **dict(params["quota"])}
        if params.get("tags"):
            doc["tags"] = dict(params["tags"])
        await self.repo.add_object(ObjectRow("", USAGE_PLAN, plan_id, ctx.account, ctx.region, "", now_s(), doc))
        return doc

    async def get_usage_plan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._plan(ctx, params["usagePlanId"])).doc

    async def get_usage_plans(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rows = await self.repo.account_objects(ctx.account, ctx.region, USAGE_PLAN)
        if params.get("keyId"):
            linked = {link.lookup for link in await self.repo.account_objects(ctx.account, ctx.region, PLAN_KEY)
                      if link.doc.get("id") == params["keyId"]}
            rows = [r for r in rows if r.object_id in linked]
        return Page(params).cut(sorted((r.doc for r in rows), key=lambda d: d["id"]))

    async def update_usage_plan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._plan(ctx, params["usagePlanId"])

        def nested(doc: dict[str, Any], op: str, segments: list[str], value: Any) -> bool:
            head = segments[0]
            if head == "apiStages":
                stages = list(doc.get("apiStages") or [])
                api_id, _, stage = str(value or "").partition(":")
                if op == "add":
                    stages.append({"apiId": api_id, "stage": stage})
                elif op == "remove":
                    stages = [s for s in stages if not (s.get("apiId") == api_id and s.get("stage") == stage)]
                else:
                    return False
                doc["apiStages"] = stages
                return True
            if head in ("throttle", "quota") and len(segments) == 2:
                part = dict(doc.get(head) or {})
                name = segments[1]
                if op == "remove":
                    part.pop(name, None)
                elif name == "rateLimit":
                    part[name] = as_float(value, "/" + "/".join(segments))
                elif name == "period":
                    part[name] = str(value)
                else:
                    part[name] = as_int(value, "/" + "/".join(segments))
                doc[head] = part
                return True
            if head in ("throttle", "quota") and len(segments) == 1 and op == "remove":
                doc.pop(head, None)
                return True
            return False

        doc = apply_patch(row.doc, params.get("patchOperations"), PLAN_FIELDS, nested)
        await self._check_stages(ctx, [s for s in doc.get("apiStages") or [] if s not in (row.doc.get("apiStages") or [])])
        await self.repo.save_object(row._replace(doc=doc))
        return doc

    async def delete_usage_plan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._plan(ctx, params["usagePlanId"])
        for link in await self.repo.objects_by_lookup(PLAN_KEY, row.object_id):
            await self.repo.delete_object("", PLAN_KEY, link.object_id)
        await self.repo.delete_object("", USAGE_PLAN, row.object_id)
        return {}

    # == usage plan keys =======================================================================
    async def create_usage_plan_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = await self._plan(ctx, params["usagePlanId"])
        if params.get("keyType") != "API_KEY":
            raise BadRequest("Invalid key type specified. Must be one of: [API_KEY]")
        key = await self._key(ctx, params["keyId"])
        link_id = f"{plan.object_id}:{key.object_id}"
        if await self.repo.object("", PLAN_KEY, link_id) is not None:
            raise Conflict(f"Usage Plan {plan.object_id} cannot be added because API Key {key.object_id} cannot "
                           "reference multiple Usage Plans with the same API Stage")
        doc = {"id": key.object_id, "type": "API_KEY", "value": key.doc["value"], "name": key.doc.get("name")}
        await self.repo.add_object(ObjectRow("", PLAN_KEY, link_id, ctx.account, ctx.region, plan.object_id,
                                             now_s(), doc))
        return doc

    async def _plan_key(self, ctx: RequestContext, params: dict[str, Any]) -> ObjectRow:
        plan = await self._plan(ctx, params["usagePlanId"])
        link = await self.repo.object("", PLAN_KEY, f"{plan.object_id}:{params['keyId']}")
        if link is None:
            raise NotFound("Invalid API Key identifier specified")
        return link

    async def get_usage_plan_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        link = await self._plan_key(ctx, params)
        key = await self.repo.object("", API_KEY, link.doc["id"])
        return {**link.doc, **({"value": key.doc["value"], "name": key.doc.get("name")} if key else {})}

    async def get_usage_plan_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = await self._plan(ctx, params["usagePlanId"])
        items = []
        for link in await self.repo.objects_by_lookup(PLAN_KEY, plan.object_id):
            key = await self.repo.object("", API_KEY, link.doc["id"])
            if key is None:
                continue
            if params.get("nameQuery") and not str(key.doc.get("name", "")).startswith(params["nameQuery"]):
                continue
            items.append({**link.doc, "value": key.doc["value"], "name": key.doc.get("name")})
        return Page(params).cut(sorted(items, key=lambda d: d["id"]))

    async def delete_usage_plan_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        link = await self._plan_key(ctx, params)
        await self.repo.delete_object("", PLAN_KEY, link.object_id)
        return {}
