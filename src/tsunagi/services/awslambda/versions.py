"""Versions and aliases: PublishVersion, ListVersionsByFunction, Create/Get/Update/Delete/ListAliases.

A published version is a frozen copy of ``$LATEST``'s configuration and code; publishing again
without a change returns the latest version instead of a new one (AWS's rule). An alias names a
version and may route a share of invocations to one other version (``AdditionalVersionWeights``),
which the catalog applies when it resolves the alias for an invocation.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog, Fn, dumps
from tsunagi.services.awslambda.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    not_found_function,
    pattern_error,
)
from tsunagi.store.awslambda import AliasRow, LambdaRepo

Params = dict[str, Any]
Result = dict[str, Any]

# Configuration members that distinguish one published version from another.
_VOLATILE = ("Version", "FunctionArn", "RevisionId", "LastModified", "State", "StateReason", "StateReasonCode",
             "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "Description")

REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                     "API to retrieve the latest Revision Id")


class Versions:
    def __init__(self, repo: LambdaRepo, catalog: Catalog, clock: Clock) -> None:
        self.repo = repo
        self.catalog = catalog
        self.clock = clock

    # == versions =================================================================================
    async def publish(self, fn: Fn, description: str | None) -> Fn:
        """Publish ``fn``'s ``$LATEST`` as a new version, unless the latest version already is it."""
        versions = await self.repo.versions(fn.id)
        fingerprint = self._fingerprint(fn.config, fn.code_sha)
        published = [v for v in versions if v.version != "$LATEST"]
        for ver in published[-1:]:
            if self._fingerprint(orjson.loads(ver.config), ver.code_sha) == fingerprint:
                return fn.at(ver)
        config = dict(fn.config)
        if description is not None:
            config["Description"] = description
        now = self.clock.now_ms()
        revision = str(uuid.uuid4())
        version = await self.repo.publish_version(fn.id, lambda v: dumps(config), fn.code_sha, revision, now)
        await self.catalog.changed()
        return Fn(fn.id, fn.account, fn.region, fn.name, fn.arn, fn.tags, fn.policy, fn.policy_rev, fn.reserved,
                  version, config, fn.code_sha, revision, now)

    @staticmethod
    def _fingerprint(config: dict[str, Any], sha: str) -> str:
        return dumps({k: v for k, v in sorted(config.items()) if k not in _VOLATILE}) + sha

    async def publish_version(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        want = params.get("CodeSha256")
        if want and want != fn.code_sha:
            raise InvalidParameterValue(f"CodeSHA256 ({want}) is different from current CodeSHA256 in $LATEST "
                                        f"({fn.code_sha}). Please try again with the CodeSHA256 in $LATEST.",
                                        Type="User")
        revision = params.get("RevisionId")
        if revision is not None and revision != fn.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH, Type="User")
        published = await self.publish(fn, params.get("Description"))
        return self.catalog.config(published)

    async def list_versions_by_function(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        limit = int(params.get("MaxItems") or 50)
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        rows = await self.repo.versions(fn.id)
        out = []
        for ver in rows[start:start + limit]:
            out.append(self.catalog.config(Fn.listed(fn.account, fn.region, fn.name, fn.arn, ver)))
        result: Result = {"Versions": out}
        if start + limit < len(rows):
            result["NextMarker"] = str(start + limit)
        return result

    # == aliases ==================================================================================
    @staticmethod
    def _alias_out(fn: Fn, row: AliasRow) -> Result:
        out: Result = {"AliasArn": f"{fn.arn}:{row.name}", "Name": row.name, "FunctionVersion": row.version,
                       "Description": row.description or "", "RevisionId": row.revision_id}
        if row.routing:
            out["RoutingConfig"] = orjson.loads(row.routing)
        return out

    async def _check_alias_target(self, fn: Fn, version: str, routing: dict[str, Any] | None) -> None:
        for ver in [version, *((routing or {}).get("AdditionalVersionWeights") or {}).keys()]:
            if ver != "$LATEST" and await self.repo.version(fn.id, ver) is None:
                raise not_found_function(f"{fn.arn}:{ver}")
        weights = (routing or {}).get("AdditionalVersionWeights") or {}
        if len(weights) > 1:
            raise InvalidParameterValue("Number of items in AdditionalVersionWeights cannot be greater than 1",
                                        Type="User")
        if version in weights:
            raise InvalidParameterValue(f"Invalid function version {version}. Function version {version} is already "
                                        "included in routing configuration.", Type="User")

    async def create_alias(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        name = params["Name"]
        if not names.ALIAS_RE.match(name):
            raise pattern_error(name, "name", r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
        routing = params.get("RoutingConfig")
        await self._check_alias_target(fn, params["FunctionVersion"], routing)
        revision = str(uuid.uuid4())
        ok = await self.repo.create_alias(fn.id, name, params["FunctionVersion"], params.get("Description", ""),
                                          dumps(routing) if routing else None, revision)
        if not ok:
            raise ResourceConflict(f"Alias already exists: {fn.arn}:{name}", Type="User")
        await self.catalog.changed()
        return self._alias_out(fn, AliasRow(name, params["FunctionVersion"], params.get("Description", ""),
                                            dumps(routing) if routing else None, revision))

    async def _alias(self, ctx: RequestContext, params: Params) -> tuple[Fn, AliasRow]:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        row = await self.repo.alias(fn.id, params["Name"])
        if row is None:
            raise ResourceNotFound(f"Cannot find alias arn: {fn.arn}:{params['Name']}", Type="User")
        return fn, row

    async def get_alias(self, ctx: RequestContext, params: Params) -> Result:
        fn, row = await self._alias(ctx, params)
        return self._alias_out(fn, row)

    async def update_alias(self, ctx: RequestContext, params: Params) -> Result:
        fn, row = await self._alias(ctx, params)
        if params.get("RevisionId") and params["RevisionId"] != row.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH, Type="User")
        version = params.get("FunctionVersion", row.version)
        description = params.get("Description", row.description)
        routing = (params["RoutingConfig"] if "RoutingConfig" in params
                   else orjson.loads(row.routing) if row.routing else None)
        await self._check_alias_target(fn, version, routing)
        revision = str(uuid.uuid4())
        routing_s = dumps(routing) if routing and routing.get("AdditionalVersionWeights") else None
        await self.repo.update_alias(fn.id, row.name, version, description, routing_s, revision)
        await self.catalog.changed()
        return self._alias_out(fn, AliasRow(row.name, version, description, routing_s, revision))

    async def delete_alias(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        await self.repo.delete_alias(fn.id, params["Name"])
        await self.catalog.changed()
        return {}

    async def list_aliases(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        rows = await self.repo.aliases(fn.id)
        want = params.get("FunctionVersion")
        aliases = [self._alias_out(fn, r) for r in rows if want is None or r.version == want]
        limit = int(params.get("MaxItems") or 50)
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        out: Result = {"Aliases": aliases[start:start + limit]}
        if start + limit < len(aliases):
            out["NextMarker"] = str(start + limit)
        return out
