"""Tags on clusters, task definitions, tasks and services: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

import re
from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.ecs import names
from tsunagi.services.ecs.core import MAX_TAGS, EcsCore, tags_in, tags_out
from tsunagi.services.ecs.errors import CLUSTER_NOT_FOUND, ClusterNotFound, InvalidParameter, ResourceNotFound

_ARN = re.compile(r"arn:aws[\w-]*:ecs:([^:]+):(\d{12}):(cluster|task-definition|task|service|container-instance|"
                  r"capacity-provider|task-set)/(.+)")


class Tags:
    def __init__(self, core: EcsCore) -> None:
        self.core = core
        self.repo = core.repo

    async def _resource(self, ctx: RequestContext, arn: str) -> str:
        m = _ARN.fullmatch(arn or "")
        if not m:
            raise InvalidParameter("The ARN provided is invalid.")
        region, account, kind, rest = m.groups()
        if kind == "cluster":
            row = await self.repo.cluster(arn) if (region, account) == (ctx.region, ctx.account) else None
            if row is None or row.status != "ACTIVE":
                raise ClusterNotFound(CLUSTER_NOT_FOUND)
            return arn
        found = False
        if (region, account) == (ctx.region, ctx.account):
            if kind == "task-definition":
                family, revision = names.taskdef_ref(arn)
                td = await self.repo.task_definition(account, region, family, revision)
                found = td is not None and revision is not None
            elif kind == "task":
                found = await self.repo.task(arn) is not None
            elif kind == "service":
                svc = await self.repo.service(arn)
                found = svc is not None and svc.status != "INACTIVE"
        if not found:
            raise ResourceNotFound("The specified resource wasn't found.")
        return arn

    async def tag(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = await self._resource(ctx, params["resourceArn"])
        new = tags_in(params.get("tags"))
        current = await self.repo.tags(arn)
        if len({**current, **new}) > MAX_TAGS:
            raise InvalidParameter(f"Tags can not exceed {MAX_TAGS}.")
        await self.repo.put_tags(arn, new)
        return {}

    async def untag(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = await self._resource(ctx, params["resourceArn"])
        await self.repo.remove_tags(arn, list(params.get("tagKeys") or []))
        return {}

    async def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = await self._resource(ctx, params["resourceArn"])
        return {"tags": tags_out(await self.repo.tags(arn))}
