"""Layers: PublishLayerVersion, Get/List/DeleteLayerVersion(s), ListLayers.

A layer version is a code package (:mod:`.code`) with a configuration; versions never change once
published, so the workers' merged ``/opt`` folders are keyed by the list of version ARNs.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import dumps, iso
from tsunagi.services.awslambda.code import CodePackages
from tsunagi.services.awslambda.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from tsunagi.store.awslambda import LambdaRepo, LayerRow

Params = dict[str, Any]
Result = dict[str, Any]

_OPTIONAL = ("CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures")
_REVISION = ("The Revision Id provided does not match the latest Revision Id. Call the GetLayerVersionPolicy API "
             "to retrieve the latest Revision Id")
_PRINCIPAL = re.compile(r"^(\d{12}|\*|arn:aws[a-zA-Z-]*:iam::\d{12}:root)$")


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
                       "CreatedDate": cfg["CreatedDate"], "Version": int(row.version)}
        if cfg.get("Description"):          # AWS leaves it out when none was given
            out["Description"] = cfg["Description"]
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

    # -- who may use a version: AddLayerVersionPermission, RemoveLayerVersionPermission, GetLayerVersionPolicy --
    async def _version(self, ctx: RequestContext, params: Params) -> tuple[LayerRow, dict[str, Any]]:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        row = await self.repo.layer(account, region, name, int(params["VersionNumber"]))
        if row is None:
            raise _not_found()
        return row, orjson.loads(row.config)

    async def _save_policy(self, row: LayerRow, cfg: dict[str, Any], statements: list[dict[str, Any]]) -> str:
        new = dict(cfg)
        revision = str(uuid.uuid4())
        if statements:
            new["_Policy"], new["_PolicyRevision"] = statements, revision
        else:
            new.pop("_Policy", None)
            new.pop("_PolicyRevision", None)
        if not await self.repo.set_layer_config(row.arn, dumps(new), row.config):
            # changed by another call since it was read: as AWS answers a stale revision
            raise PreconditionFailed(_REVISION, Type="User")
        return revision

    async def add_layer_version_permission(self, ctx: RequestContext, params: Params) -> Result:
        row, cfg = await self._version(ctx, params)
        if params.get("RevisionId") and params["RevisionId"] != cfg.get("_PolicyRevision"):
            raise PreconditionFailed(_REVISION, Type="User")
        sid, action, principal = params["StatementId"], params["Action"], params["Principal"]
        if action != "lambda:GetLayerVersion":
            raise InvalidParameterValue(f"Action {action} is not supported for layer permissions; the only action "
                                        "is lambda:GetLayerVersion.", Type="User")
        if not _PRINCIPAL.match(principal):
            raise InvalidParameterValue(f"The principal {principal} is invalid: give an account id, an account's "
                                        "root ARN or *.", Type="User")
        statements: list[dict[str, Any]] = list(cfg.get("_Policy") or [])
        if any(s.get("Sid") == sid for s in statements):
            raise ResourceConflict(f"The statement id ({sid}) provided already exists. Please provide a new "
                                   "statement id, or remove the existing statement.", Type="User")
        statement: dict[str, Any] = {
            "Sid": sid, "Effect": "Allow",
            "Principal": "*" if principal == "*" else
            {"AWS": principal if principal.startswith("arn:") else f"arn:aws:iam::{principal}:root"},
            "Action": action, "Resource": row.arn}
        if params.get("OrganizationId"):
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
        revision = await self._save_policy(row, cfg, [*statements, statement])
        return {"Statement": dumps(statement), "RevisionId": revision}

    async def remove_layer_version_permission(self, ctx: RequestContext, params: Params) -> Result:
        row, cfg = await self._version(ctx, params)
        if params.get("RevisionId") and params["RevisionId"] != cfg.get("_PolicyRevision"):
            raise PreconditionFailed(_REVISION, Type="User")
        sid = params["StatementId"]
        statements = [s for s in cfg.get("_Policy") or [] if s.get("Sid") != sid]
        if len(statements) == len(cfg.get("_Policy") or []):
            raise ResourceNotFound(f"Statement {sid} is not found in resource policy.", Type="User")
        await self._save_policy(row, cfg, statements)
        return {}

    async def get_layer_version_policy(self, ctx: RequestContext, params: Params) -> Result:
        row, cfg = await self._version(ctx, params)
        if not cfg.get("_Policy"):
            raise ResourceNotFound("No policy is associated with the given resource.", Type="User")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": cfg["_Policy"]}
        return {"Policy": dumps(doc), "RevisionId": cfg["_PolicyRevision"]}
