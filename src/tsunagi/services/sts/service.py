"""STS: who am I. GetCallerIdentity is the first call many tools make."""

from __future__ import annotations

from typing import Any

from tsunagi.ports.sts import STS, CallerIdentity
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.sts.port import StsPortImpl


class StsService(Service):
    name = "sts"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        platform.ports.provide(STS, StsPortImpl(self))

    @staticmethod
    def identity(ctx: RequestContext) -> CallerIdentity:
        arn = ctx.principal_arn
        user_id = ctx.account if arn.endswith(":root") else (ctx.access_key_id or ctx.account)
        return CallerIdentity(ctx.account, arn, user_id)

    async def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = ctx.principal_arn
        return {"UserId": ctx.account if arn.endswith(":root") else (ctx.access_key_id or ctx.account),
                "Account": ctx.account, "Arn": arn}
