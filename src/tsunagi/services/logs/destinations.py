"""Destinations for cross-account subscriptions: Put/Describe/DeleteDestination, PutDestinationPolicy.

Stored and returned as AWS shapes them (ARN ``arn:aws:logs:<region>:<account>:destination:<name>``,
tags through the tagging API). Their targets are Kinesis Data Streams or Data Firehose, which tsunagi
does not run: a subscription filter naming a destination is refused (:mod:`.subscriptions`), so
nothing is ever delivered through one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import (
    BAD_TOKEN,
    InvalidParameter,
    ResourceNotFound,
    TooManyTags,
    constraint,
)
from tsunagi.services.logs.policies import json_document
from tsunagi.services.logs.tokens import decode, encode

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

DESTINATION = "destination"
NO_DESTINATION = "The specified destination does not exist."
_NAME = re.compile(r"[^:*]*")


def destination_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account}:destination:{name}"


class Destinations:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    @staticmethod
    def _check(name: str, member: str = "destinationName") -> None:
        if not _NAME.fullmatch(name):
            raise constraint(name, member, "Member must satisfy regular expression pattern: [^:*]*")

    @property
    def repo(self) -> Any:
        return self._svc.policies.repo

    async def exists(self, account: str, region: str, name: str) -> bool:
        return await self.repo.get(account, region, DESTINATION, name) is not None

    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        name = params["destinationName"]
        self._check(name)
        for member in ("targetArn", "roleArn"):
            if not str(params[member]).startswith("arn:"):
                raise InvalidParameter(f"Invalid {member}: {params[member]}")
        tags = params.get("tags") or {}
        if len(tags) > 50:
            raise TooManyTags("A resource can have no more than 50 tags.")
        now = svc.clock.now_ms()
        current = await self.repo.get(ctx.account, ctx.region, DESTINATION, name)
        arn = destination_arn(ctx.region, ctx.account, name)
        doc: dict[str, Any] = {"destinationName": name, "targetArn": params["targetArn"],
                               "roleArn": params["roleArn"]}
        if current is not None and current.fields.get("accessPolicy"):
            doc["accessPolicy"] = current.fields["accessPolicy"]
        doc["arn"] = arn
        doc["creationTime"] = int(current.created_at) if current is not None else now
        await self.repo.put(ctx.account, ctx.region, DESTINATION, name, doc, now)
        if tags:
            await svc._add_tags(arn, tags)
        return {"destination": doc}

    async def put_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["destinationName"]
        self._check(name)
        current = await self.repo.get(ctx.account, ctx.region, DESTINATION, name)
        if current is None:
            raise InvalidParameter(NO_DESTINATION)
        json_document(params["accessPolicy"], "access policy")
        doc = current.fields
        doc["accessPolicy"] = params["accessPolicy"]
        ordered = {k: doc[k] for k in ("destinationName", "targetArn", "roleArn", "accessPolicy", "arn",
                                       "creationTime") if k in doc}
        await self.repo.put(ctx.account, ctx.region, DESTINATION, name, ordered, self._svc.clock.now_ms())
        return {}

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("DestinationNamePrefix")
        if prefix:
            self._check(prefix, "destinationNamePrefix")
        limit = int(params.get("limit") or 50)
        after = None
        if params.get("nextToken"):
            doc = decode(params["nextToken"])
            if not isinstance(doc, dict) or not isinstance(doc.get("n"), str):
                raise InvalidParameter(BAD_TOKEN)
            after = doc["n"]
        rows = await self.repo.list(ctx.account, ctx.region, DESTINATION, prefix=prefix, after=after,
                                    limit=limit + 1)
        out: dict[str, Any] = {"destinations": [r.fields for r in rows[:limit]]}
        if len(rows) > limit:
            out["nextToken"] = encode({"n": rows[limit - 1].name})
        return out

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["destinationName"]
        self._check(name)
        if not await self.repo.delete(ctx.account, ctx.region, DESTINATION, name):
            raise ResourceNotFound(NO_DESTINATION)
        await self._svc.repo.remove_tags(destination_arn(ctx.region, ctx.account, name),
                                         list((await self._svc.repo.tags(destination_arn(
                                             ctx.region, ctx.account, name))).keys()))
        return {}
