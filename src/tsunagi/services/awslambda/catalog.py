"""The function catalog: finding a function version by name, ARN, version or alias, and showing it.

Every part of the Lambda service resolves functions through :class:`Catalog`: an operation with a
``FunctionName`` (a name, partial ARN or ARN, with an optional qualifier) gets a :class:`Fn`, or
AWS's ``ResourceNotFoundException``. The invoke path reads through a per-node cache
(:class:`MetaCache`) that every change clears here at once and on other nodes by a store notification
(:meth:`Catalog.changed`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tsunagi.context import RequestContext
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.errors import not_found_function
from tsunagi.store.awslambda import META_CHANNEL, AliasRow, FunctionRow, LambdaRepo, VersionRow
from tsunagi.store.base import Store


def iso(ms: int) -> str:
    """Lambda's timestamp form: ``2024-01-02T03:04:05.678+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}+0000"


def dumps(v: Any) -> str:
    return orjson.dumps(v).decode()


@dataclass(slots=True)
class Fn:
    """A resolved function version."""

    id: int
    account: str
    region: str
    name: str
    arn: str
    tags: dict[str, str]
    policy: list[dict[str, Any]]
    policy_rev: str | None
    reserved: int | None
    version: str
    config: dict[str, Any]
    code_sha: str
    revision_id: str
    modified_at: int

    def at(self, ver: VersionRow) -> Fn:
        """The same function at another version."""
        return Fn(self.id, self.account, self.region, self.name, self.arn, self.tags, self.policy, self.policy_rev,
                  self.reserved, ver.version, orjson.loads(ver.config), ver.code_sha, ver.revision_id,
                  int(ver.modified_at))

    @classmethod
    def of(cls, row: FunctionRow, ver: VersionRow) -> Fn:
        return Fn(int(row.id), row.account, row.region, row.name, row.arn, orjson.loads(row.tags),
                  orjson.loads(row.policy or "[]"), row.policy_rev, row.reserved, ver.version, orjson.loads(ver.config),
                  ver.code_sha, ver.revision_id, int(ver.modified_at))

    @classmethod
    def listed(cls, account: str, region: str, name: str, arn: str, ver: VersionRow) -> Fn:
        """A version as listings show it (no function-wide settings)."""
        return Fn(0, account, region, name, arn, {}, [], None, None, ver.version, orjson.loads(ver.config),
                  ver.code_sha, ver.revision_id, int(ver.modified_at))


class MetaCache:
    """Function rows the invoke path reads, per node. Cleared on every change (this node at once, other
    nodes by a store notification); entries also expire after ``ttl`` seconds as a backstop."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self.generation = 0
        self.data: dict[Any, tuple[Any, float]] = {}

    def clear(self) -> None:
        self.generation += 1
        self.data.clear()

    async def get(self, key: Any, loader: Any) -> Any:
        hit = self.data.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        generation = self.generation
        value = await loader()
        if generation == self.generation:
            if len(self.data) > 10_000:
                self.data.clear()
            self.data[key] = (value, now + self.ttl)
        return value


class Catalog:
    def __init__(self, store: Store, repo: LambdaRepo) -> None:
        self.store = store
        self.repo = repo
        self.meta = MetaCache()

    # == life cycle ===============================================================================
    def listen(self) -> None:
        self.store.listen(META_CHANNEL, self._on_meta_notify)

    def unlisten(self) -> None:
        self.store.unlisten(META_CHANNEL, self._on_meta_notify)

    def _on_meta_notify(self, payload: str) -> None:
        self.meta.clear()

    def clear(self) -> None:
        self.meta.clear()

    async def changed(self) -> None:
        """A function, version, alias or limit changed: forget cached rows here and on every node."""
        self.meta.clear()
        await self.repo.notify_changed()

    # == lookups ==================================================================================
    async def function(self, account: str, region: str, name: str, qualifier: str | None = None,
                       *, resolve_alias: bool = True, cached: bool = False) -> Fn:
        repo = self.repo
        if cached:
            meta = self.meta

            async def fn_row() -> FunctionRow | None:
                return await meta.get(("f", account, region, name), lambda: repo.function(account, region, name))

            async def alias_row(fid: int, alias: str) -> AliasRow | None:
                return await meta.get(("a", fid, alias), lambda: repo.alias(fid, alias))

            async def version_row(fid: int, version: str) -> VersionRow | None:
                return await meta.get(("v", fid, version), lambda: repo.version(fid, version))
        else:
            async def fn_row() -> FunctionRow | None:
                return await repo.function(account, region, name)

            async def alias_row(fid: int, alias: str) -> AliasRow | None:
                return await repo.alias(fid, alias)

            async def version_row(fid: int, version: str) -> VersionRow | None:
                return await repo.version(fid, version)

        row = await fn_row()
        if row is None:
            raise not_found_function(names.function_arn(region, account, name, qualifier))
        version = qualifier or "$LATEST"
        if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
            alias = await alias_row(int(row.id), qualifier)
            if alias is None:
                raise not_found_function(names.function_arn(region, account, name, qualifier))
            version = alias.version
            if resolve_alias and alias.routing:
                weights = orjson.loads(alias.routing).get("AdditionalVersionWeights") or {}
                r = random.random()
                for ver, weight in weights.items():
                    if r < weight:
                        version = ver
                        break
                    r -= weight
        ver = await version_row(int(row.id), version)
        if ver is None:
            raise not_found_function(names.function_arn(region, account, name, qualifier))
        return Fn.of(row, ver)

    async def resolve(self, ctx: RequestContext, value: str, qualifier: str | None = None, *,
                      resolve_alias: bool = True, cached: bool = False) -> Fn:
        """The function a request's FunctionName (and Qualifier) names, in the caller's account and region."""
        account, region, name, q = names.parse_function(value, ctx.account, ctx.region, qualifier)
        return await self.function(account, region, name, q, resolve_alias=resolve_alias, cached=cached)

    async def reserved_total(self, account: str, region: str) -> int:
        """Concurrency reserved by all the functions of an account and region (cached, for the invoke path)."""
        return int(await self.meta.get(("r", account, region), lambda: self.repo.reserved_total(account, region)))

    # == output ===================================================================================
    @staticmethod
    def config(fn: Fn, *, state: str = "Active", update: str = "Successful") -> dict[str, Any]:
        """GetFunctionConfiguration's output for ``fn``; create / update answers say Pending / InProgress."""
        cfg = dict(fn.config)
        cfg["FunctionName"] = fn.name
        cfg["FunctionArn"] = fn.arn if fn.version == "$LATEST" else f"{fn.arn}:{fn.version}"
        cfg["Version"] = fn.version
        cfg["CodeSha256"] = fn.code_sha
        cfg["RevisionId"] = fn.revision_id
        cfg["LastModified"] = iso(fn.modified_at)
        cfg["State"] = state
        if state == "Pending":
            cfg["StateReason"] = "The function is being created."
            cfg["StateReasonCode"] = "Creating"
        if update:
            cfg["LastUpdateStatus"] = update
            if update == "InProgress":
                cfg["LastUpdateStatusReason"] = "The function is being created."
                cfg["LastUpdateStatusReasonCode"] = "Creating"
        return cfg
