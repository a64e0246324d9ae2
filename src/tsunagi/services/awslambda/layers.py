"""Layers: PublishLayerVersion, Get/List/DeleteLayerVersion(s), ListLayers.

A layer version is a code package (:mod:`.code`) with a configuration; versions never change once
published, so the workers' merged ``/opt`` folders are keyed by the list of version ARNs.
"""

from __future__ import annotations

from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import dumps, iso
from tsunagi.services.awslambda.code import CodePackages
from tsunagi.services.awslambda.errors import ResourceNotFound
from tsunagi.store.awslambda import LambdaRepo, LayerRow

Params = dict[str, Any]
Result = dict[str, Any]

_OPTIONAL = ("CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures")


def _not_found() -> Exception:
    return ResourceNotFound("The resource you requested does not exist.", Type="User")


class Layers:
    def __init__(self, repo: LambdaRepo, code: CodePackages, clock: Clock) -> None:
        self.repo = repo
        self.code = code
        self.clock = clock

    def _out(self, ctx: RequestContext | None, row: LayerRow, account: str, region: str) -> Result:
        cfg = orjson.loads(row.config)
        out: Result = {"LayerArn": names.layer_arn(region, account, row.name), "LayerVersionArn": row.arn,
                       "Description": cfg.get("Description", ""), "CreatedDate": cfg["CreatedDate"],
                       "Version": int(row.version)}
        for key in _OPTIONAL:
            if cfg.get(key):
                out[key] = cfg[key]
        if ctx is not None:
            out["Content"] = {"Location": self.code.location(ctx, row.code_sha), "CodeSha256": row.code_sha,
                              "CodeSize": int(row.size)}
        return out

    async def publish_layer_version(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        data = await self.code.read(ctx, params.get("Content") or {}, layer=True)
        unzipped = await self.code.check_zip(data)
        sha = await self.code.digest(data)
        now = self.clock.now_ms()
        cfg = {"Description": params.get("Description", ""), "CreatedDate": iso(now)}
        for key in _OPTIONAL:
            if params.get(key):
                cfg[key] = params[key]
        version, arn = await self.repo.publish_layer(account, region, name,
                                                     lambda v: names.layer_arn(region, account, name, v),
                                                     dumps(cfg), sha, data, unzipped, now)
        return self._out(ctx, LayerRow(name, version, arn, dumps(cfg), sha, len(data)), account, region)

    async def get_layer_version(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        row = await self.repo.layer(account, region, name, int(params["VersionNumber"]))
        if row is None:
            raise _not_found()
        return self._out(ctx, row, account, region)

    async def get_layer_version_by_arn(self, ctx: RequestContext, params: Params) -> Result:
        parsed = names.parse_layer_version_arn(params["Arn"])
        row = await self.repo.layer_by_arn(params["Arn"]) if parsed else None
        if row is None or parsed is None:
            raise _not_found()
        return self._out(ctx, row, parsed[0], parsed[1])

    async def list_layer_versions(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        rows = await self.repo.layer_versions(account, region, name)
        runtime = params.get("CompatibleRuntime")
        arch = params.get("CompatibleArchitecture")
        out = []
        for row in rows:
            item = self._out(None, row, account, region)
            if runtime and runtime not in item.get("CompatibleRuntimes", [runtime]):
                continue
            if arch and arch not in item.get("CompatibleArchitectures", [arch]):
                continue
            item.pop("LayerArn", None)
            out.append(item)
        return {"LayerVersions": out}

    async def list_layers(self, ctx: RequestContext, params: Params) -> Result:
        rows = await self.repo.layers(ctx.account, ctx.region)
        runtime = params.get("CompatibleRuntime")
        out = []
        for row in rows:
            item = self._out(None, row, ctx.account, ctx.region)
            if runtime and runtime not in item.get("CompatibleRuntimes", [runtime]):
                continue
            arn = item.pop("LayerArn")
            out.append({"LayerName": row.name, "LayerArn": arn, "LatestMatchingVersion": item})
        return {"Layers": out}

    async def delete_layer_version(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        await self.repo.delete_layer(account, region, name, int(params["VersionNumber"]))
        return {}
