"""Vended-log deliveries: delivery sources, delivery destinations (and their policies) and the
deliveries that pair them (Put/Get/Describe/Delete of each, CreateDelivery, UpdateDeliveryConfiguration).

Stored and returned as AWS shapes them, so that tools configuring them work against tsunagi. The
sources are AWS resources that vend logs (CloudFront distributions, Bedrock agents, …), services
tsunagi does not run, so no log record ever flows through a delivery here.
"""

from __future__ import annotations

import secrets
import string
from typing import TYPE_CHECKING, Any

from tsunagi.protocol.errors import error_class
from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import BAD_TOKEN, InvalidParameter, ResourceNotFound
from tsunagi.services.logs.policies import json_document
from tsunagi.services.logs.tokens import decode, encode

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

Conflict = error_class("ConflictException")
Validation = error_class("ValidationException")

SOURCE = "delivery-source"
DESTINATION = "delivery-destination"
DELIVERY = "delivery"
DESTINATION_POLICY = "delivery-destination-policy"
_TYPES = {"s3": "S3", "logs": "CWL", "firehose": "FH", "xray": "XRAY"}
_ALPHABET = string.ascii_letters + string.digits


def _arn(ctx: RequestContext, kind: str, name: str) -> str:
    return f"arn:aws:logs:{ctx.region}:{ctx.account}:{kind}:{name}"


class Deliveries:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    @property
    def repo(self) -> Any:
        return self._svc.policies.repo

    async def _get(self, ctx: RequestContext, kind: str, name: str, missing: str) -> dict[str, Any]:
        row = await self.repo.get(ctx.account, ctx.region, kind, name)
        if row is None:
            raise ResourceNotFound(missing)
        fields: dict[str, Any] = row.fields
        return fields

    async def _page(self, ctx: RequestContext, kind: str, member: str, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("limit") or 50)
        after = None
        if params.get("nextToken"):
            doc = decode(params["nextToken"])
            if not isinstance(doc, dict) or not isinstance(doc.get("n"), str):
                raise InvalidParameter(BAD_TOKEN)
            after = doc["n"]
        rows = await self.repo.list(ctx.account, ctx.region, kind, after=after, limit=limit + 1)
        out: dict[str, Any] = {member: [r.fields for r in rows[:limit]]}
        if len(rows) > limit:
            out["nextToken"] = encode({"n": rows[limit - 1].name})
        return out

    async def _in_use(self, ctx: RequestContext, key: str, value: str) -> bool:
        rows = await self.repo.list(ctx.account, ctx.region, DELIVERY, limit=10_000)
        return any(r.fields.get(key) == value for r in rows)

    # == sources ===============================================================================
    async def put_source(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["resourceArn"]
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise Validation(f"Invalid resource ARN: {arn}")
        name = params["name"]
        current = await self.repo.get(ctx.account, ctx.region, SOURCE, name)
        if current is not None and current.fields.get("logType") != params["logType"]:
            raise Conflict("The logType of an existing delivery source cannot be changed.")
        doc: dict[str, Any] = {"name": name, "arn": _arn(ctx, "delivery-source", name), "resourceArns": [arn],
                               "service": parts[2], "logType": params["logType"]}
        tags = params.get("tags") or (current.fields.get("tags") if current is not None else None)
        if tags:
            doc["tags"] = tags
        if params.get("deliverySourceConfiguration"):
            doc["deliverySourceConfiguration"] = params["deliverySourceConfiguration"]
        await self.repo.put(ctx.account, ctx.region, SOURCE, name, doc, self._svc.clock.now_ms())
        return {"deliverySource": doc}

    async def get_source(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"deliverySource": await self._get(ctx, SOURCE, params["name"], "Delivery source not found.")}

    async def describe_sources(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._page(ctx, SOURCE, "deliverySources", params)

    async def delete_source(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["name"]
        await self._get(ctx, SOURCE, name, "Delivery source not found.")
        if await self._in_use(ctx, "deliverySourceName", name):
            raise Conflict("The delivery source is used by a delivery; delete the delivery first.")
        await self.repo.delete(ctx.account, ctx.region, SOURCE, name)
        return {}

    # == destinations ==========================================================================
    async def put_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["name"]
        config = params.get("deliveryDestinationConfiguration")
        kind = params.get("deliveryDestinationType")
        if config:
            target = config["destinationResourceArn"]
            parts = target.split(":")
            if len(parts) < 6 or parts[0] != "arn" or parts[2] not in _TYPES:
                raise Validation(f"Invalid destination resource ARN: {target}")
            derived = _TYPES[parts[2]]
            if kind and kind != derived:
                raise Validation(f"The deliveryDestinationType {kind} does not match the destination resource "
                                 f"{target}.")
            kind = derived
        elif kind != "XRAY":
            raise Validation("deliveryDestinationConfiguration is required unless deliveryDestinationType is XRAY.")
        doc: dict[str, Any] = {"name": name, "arn": _arn(ctx, "delivery-destination", name),
                               "deliveryDestinationType": kind}
        if params.get("outputFormat"):
            doc["outputFormat"] = params["outputFormat"]
        if config:
            doc["deliveryDestinationConfiguration"] = {"destinationResourceArn": config["destinationResourceArn"]}
        if params.get("tags"):
            doc["tags"] = params["tags"]
        await self.repo.put(ctx.account, ctx.region, DESTINATION, name, doc, self._svc.clock.now_ms())
        return {"deliveryDestination": doc}

    async def get_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"deliveryDestination": await self._get(ctx, DESTINATION, params["name"],
                                                       "Delivery destination not found.")}

    async def describe_destinations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._page(ctx, DESTINATION, "deliveryDestinations", params)

    async def delete_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["name"]
        doc = await self._get(ctx, DESTINATION, name, "Delivery destination not found.")
        if await self._in_use(ctx, "deliveryDestinationArn", doc["arn"]):
            raise Conflict("The delivery destination is used by a delivery; delete the delivery first.")
        await self.repo.delete(ctx.account, ctx.region, DESTINATION, name)
        await self.repo.delete(ctx.account, ctx.region, DESTINATION_POLICY, name)
        return {}

    async def put_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["deliveryDestinationName"]
        await self._get(ctx, DESTINATION, name, "Delivery destination not found.")
        json_document(params["deliveryDestinationPolicy"], "delivery destination policy")
        doc = {"deliveryDestinationPolicy": params["deliveryDestinationPolicy"]}
        await self.repo.put(ctx.account, ctx.region, DESTINATION_POLICY, name, doc, self._svc.clock.now_ms())
        return {"policy": doc}

    async def get_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["deliveryDestinationName"]
        await self._get(ctx, DESTINATION, name, "Delivery destination not found.")
        row = await self.repo.get(ctx.account, ctx.region, DESTINATION_POLICY, name)
        return {"policy": row.fields if row is not None else {}}

    async def delete_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["deliveryDestinationName"]
        if not await self.repo.delete(ctx.account, ctx.region, DESTINATION_POLICY, name):
            raise ResourceNotFound("Delivery destination policy not found.")
        return {}

    # == deliveries ============================================================================
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source = params["deliverySourceName"]
        await self._get(ctx, SOURCE, source, "Delivery source not found.")
        target = params["deliveryDestinationArn"]
        prefix = f"arn:aws:logs:{ctx.region}:{ctx.account}:delivery-destination:"
        if not target.startswith(prefix):
            raise ResourceNotFound("Delivery destination not found.")
        dest = await self._get(ctx, DESTINATION, target.removeprefix(prefix), "Delivery destination not found.")
        rows = await self.repo.list(ctx.account, ctx.region, DELIVERY, limit=10_000)
        if any(r.fields.get("deliverySourceName") == source and r.fields.get("deliveryDestinationArn") == target
               for r in rows):
            raise Conflict("A delivery between this source and destination already exists.")
        delivery_id = "".join(secrets.choice(_ALPHABET) for _ in range(16))
        doc: dict[str, Any] = {"id": delivery_id, "arn": _arn(ctx, "delivery", delivery_id),
                               "deliverySourceName": source, "deliveryDestinationArn": target,
                               "deliveryDestinationType": dest["deliveryDestinationType"]}
        for member in ("recordFields", "fieldDelimiter", "s3DeliveryConfiguration", "tags"):
            if params.get(member) is not None:
                doc[member] = params[member]
        await self.repo.put(ctx.account, ctx.region, DELIVERY, delivery_id, doc, self._svc.clock.now_ms())
        return {"delivery": doc}

    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"delivery": await self._get(ctx, DELIVERY, params["id"], "Delivery not found.")}

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._page(ctx, DELIVERY, "deliveries", params)

    async def update(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = await self._get(ctx, DELIVERY, params["id"], "Delivery not found.")
        for member in ("recordFields", "fieldDelimiter", "s3DeliveryConfiguration"):
            if params.get(member) is not None:
                doc[member] = params[member]
        await self.repo.put(ctx.account, ctx.region, DELIVERY, params["id"], doc, self._svc.clock.now_ms())
        return {}

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not await self.repo.delete(ctx.account, ctx.region, DELIVERY, params["id"]):
            raise ResourceNotFound("Delivery not found.")
        return {}
