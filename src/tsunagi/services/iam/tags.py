"""Tags on users, roles, customer managed policies, instance profiles and OpenID Connect providers: Tag*, Untag*, List*Tags.
Keys are unique whatever their case (the case given last is kept); at most 50 per resource."""

from __future__ import annotations

from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.iam import errors, names
from tsunagi.services.iam.core import IamCore
from tsunagi.store.iam import OIDC, POLICY, PROFILE, ROLE, USER


class TagOps(IamCore):
    async def _owner_key(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> str:
        if kind == USER:
            return (await self.user_or_fail(ctx.account, params["UserName"])).name_key
        if kind == ROLE:
            return (await self.role_or_fail(ctx.account, params["RoleName"])).name_key
        if kind == PROFILE:
            return (await self.profile_or_fail(ctx.account, params["InstanceProfileName"])).name_key
        if kind == OIDC:
            arn = params["OpenIDConnectProviderArn"]
            provider = await self.repo.oidc(arn)
            if provider is None or provider.account != ctx.account:
                raise errors.NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
            return str(arn)
        arn = params["PolicyArn"]
        row = await self.repo.policy(arn)
        if row is None or row.account != ctx.account:
            raise errors.no_such_policy(arn)
        return arn

    async def _tag(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner = await self._owner_key(ctx, kind, params)
        await self.add_tags(ctx.account, kind, owner, self.tag_pairs(params))
        return {}

    async def _untag(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner = await self._owner_key(ctx, kind, params)
        await self.repo.delete_tags(ctx.account, kind, owner, params["TagKeys"])
        return {}

    async def _list(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner = await self._owner_key(ctx, kind, params)
        limit = self.max_items(params)
        rows = await self.repo.tags_page(ctx.account, kind, owner, names.from_marker(params.get("Marker")), limit + 1)
        items: list[dict[str, object]] = [{"Key": k, "Value": v} for k, v, _ in rows]
        return names.page(items, limit, rows[limit - 1][2] if len(rows) > limit else None, "Tags")

    async def tag_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._tag(ctx, USER, params)

    async def untag_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._untag(ctx, USER, params)

    async def list_user_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, USER, params)

    async def tag_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._tag(ctx, ROLE, params)

    async def untag_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._untag(ctx, ROLE, params)

    async def list_role_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, ROLE, params)

    async def tag_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._tag(ctx, POLICY, params)

    async def untag_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._untag(ctx, POLICY, params)

    async def list_policy_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, POLICY, params)

    async def tag_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._tag(ctx, PROFILE, params)

    async def untag_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._untag(ctx, PROFILE, params)

    async def list_instance_profile_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, PROFILE, params)

    async def tag_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._tag(ctx, OIDC, params)

    async def untag_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._untag(ctx, OIDC, params)

    async def list_open_id_connect_provider_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list(ctx, OIDC, params)
