"""KMS aliases: alias/<name> for a customer managed key, one per account and Region; alias/aws/<service>
is reserved for AWS managed keys, which are made on first use and listed before that.
"""

from __future__ import annotations

from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.kms import errors, policies
from tsunagi.services.kms.core import (
    ALIAS_ARN,
    ALIAS_NAME,
    KmsCore,
    from_marker,
    limit_of,
    page_of,
    seconds,
)
from tsunagi.services.kms.errors import (
    AlreadyExists,
    NotAuthorized,
    Validation,
)
from tsunagi.services.kms.names import alias_arn
from tsunagi.services.kms.specs import (
    SPECS,
)
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.kms import AliasRow, KeyRow


class AliasOps(KmsCore):
    """CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

    @staticmethod
    def _check_alias_name(name: str) -> None:
        if not name.startswith("alias/"):
            raise Validation(errors.ALIAS_PREFIX)
        if not ALIAS_NAME.fullmatch(name):
            raise errors.constraint(name, "aliasName", "Member must satisfy regular expression pattern: "
                                    "^[a-zA-Z0-9:/_-]+$")
        if ":" in name:
            raise Validation(f"{name} contains invalid characters for an alias")

    async def _alias_target(self, ctx: RequestContext, target: str | None, action: str) -> KeyRow:
        if target and (target.startswith("alias/") or ALIAS_ARN.fullmatch(target)):
            raise Validation("Aliases must refer to keys. Not aliases")
        key = await self.find_key(ctx, target, aliases=False, member="targetKeyId")
        self._not_pending(key)
        await self.authorize(ctx, key, action)
        return key

    async def create_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["AliasName"]
        self._check_alias_name(name)
        if name.startswith("alias/aws/"):
            raise NotAuthorized("")
        key = await self._alias_target(ctx, params.get("TargetKeyId"), "kms:CreateAlias")
        now = self.clock.now_ms()
        try:
            await self.repo.create_alias(AliasRow(ctx.account, ctx.region, name, key.key_id, now, now))
        except ConstraintViolation:
            raise AlreadyExists(f"An alias with the name {alias_arn(ctx.account, ctx.region, name)} already exists") \
                from None
        self._aliases.clear()
        return {}

    async def update_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["AliasName"]
        self._check_alias_name(name)
        if name.startswith("alias/aws/"):
            raise NotAuthorized("")
        current = await self.repo.alias(ctx.account, ctx.region, name)
        if current is None:
            raise errors.alias_not_found(alias_arn(ctx.account, ctx.region, name))
        key = await self._alias_target(ctx, params.get("TargetKeyId"), "kms:UpdateAlias")
        old = await self.repo.key(current.key_id)
        if old is not None and (SPECS[old.key_spec].family != SPECS[key.key_spec].family
                                or old.key_usage != key.key_usage):
            raise Validation("The current KMS key and the new KMS key must be the same type (both symmetric or "
                             "both asymmetric or both HMAC) and they must have the same key usage.")
        await self.repo.retarget_alias(ctx.account, ctx.region, name, key.key_id, self.clock.now_ms())
        self._aliases.clear()
        return {}

    async def delete_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["AliasName"]
        self._check_alias_name(name)
        if name.startswith("alias/aws/"):
            raise NotAuthorized("")
        current = await self.repo.alias(ctx.account, ctx.region, name)
        if current is None:
            raise errors.alias_not_found(alias_arn(ctx.account, ctx.region, name))
        key = await self.repo.key(current.key_id)
        if key is not None:
            await self.authorize(ctx, key, "kms:DeleteAlias")
        await self.repo.delete_alias(ctx.account, ctx.region, name)
        self._aliases.clear()
        return {}

    def _alias_entry(self, row: AliasRow) -> dict[str, Any]:
        return {"AliasName": row.name, "AliasArn": alias_arn(row.account, row.region, row.name),
                "TargetKeyId": row.key_id, "CreationDate": seconds(row.created_at),
                "LastUpdatedDate": seconds(row.updated_at)}

    async def list_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = limit_of(params, 50, 100)
        after = from_marker(params.get("Marker"))
        if params.get("KeyId"):
            key = await self.find_key(ctx, params["KeyId"], aliases=False)
            rows = [r for r in await self.repo.aliases_of_key(key.key_id) if r.name > after]
            items = [self._alias_entry(r) for r in rows[:limit + 1]]
        else:
            rows = await self.repo.aliases(ctx.account, ctx.region, after, limit + 1)
            entries = {r.name: self._alias_entry(r) for r in rows}
            for name in policies.MANAGED:          # AWS lists its predefined aliases before they have a key
                if name > after and name not in entries and \
                        await self.repo.alias(ctx.account, ctx.region, name) is None:
                    entries[name] = {"AliasName": name, "AliasArn": alias_arn(ctx.account, ctx.region, name)}
            items = [entries[n] for n in sorted(entries)][:limit + 1]
        return page_of(items, limit, items[limit - 1]["AliasName"] if len(items) > limit else None, "Aliases")
