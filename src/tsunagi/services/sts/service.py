"""STS: who am I. GetCallerIdentity is the first call many tools make."""

from __future__ import annotations

from typing import Any

from tsunagi.services.base import RequestContext, Service


class StsService(Service):
    name = "sts"

    async def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = ctx.principal_arn or f"arn:aws:iam::{ctx.account}:root"
        user_id = ctx.account if arn.endswith(":root") else (ctx.access_key_id or ctx.account)
        return {"UserId": user_id, "Account": ctx.account, "Arn": arn}
