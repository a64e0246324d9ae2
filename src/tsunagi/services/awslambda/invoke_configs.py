"""Event invoke configs: Put/Get/Update/Delete/ListFunctionEventInvokeConfigs.

Per function and qualifier: how many times an Event invocation is retried after a function error
(MaximumRetryAttempts, default 2), how old an event may get (MaximumEventAgeInSeconds, default 6
hours), and where its record goes on success or failure (an SQS queue, an SNS topic or another
function). :mod:`.async_invoke` reads them for each attempt (:meth:`EventInvokeConfigs.of`).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog
from tsunagi.services.awslambda.errors import InvalidParameterValue, ResourceNotFound
from tsunagi.store.esm import EsmRepo

log = logging.getLogger("tsunagi.lambda.async")

Params = dict[str, Any]
Result = dict[str, Any]

_DEST_KINDS = {"sqs": "sqs", "sns": "sns", "lambda": "lambda"}


class EventInvokeConfigs:
    def __init__(self, repo: EsmRepo, catalog: Catalog, clock: Clock) -> None:
        self.repo = repo
        self.catalog = catalog
        self.clock = clock

    async def of(self, account: str, region: str, name: str, qualifier: str | None) -> dict[str, Any]:
        """The config an asynchronous attempt follows ({} when there is none, or it cannot be read)."""
        try:
            row = await self.repo.invoke_config(account, region, name, qualifier or "$LATEST")
        except Exception:
            log.exception("reading the async invoke config of %s failed", name)
            return {}
        return orjson.loads(row.config) if row else {}

    # == helpers ==================================================================================
    async def _target(self, ctx: RequestContext, params: Params) -> tuple[str, str, str, str]:
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        await self.catalog.function(account, region, name, qualifier, resolve_alias=False)
        return account, region, name, qualifier or "$LATEST"

    @staticmethod
    def _check_destinations(dest: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("OnSuccess", "OnFailure"):
            arn = ((dest or {}).get(key) or {}).get("Destination")
            if not arn:
                continue
            parts = arn.split(":")
            service = parts[2] if len(parts) >= 6 and parts[0] == "arn" else ""
            if service not in _DEST_KINDS:
                what = {"events": "EventBridge event buses", "s3": "S3 buckets"}.get(service)
                if what:
                    raise InvalidParameterValue(f"The destination ARN {arn} is not supported: tsunagi does not run "
                                                f"{what}. Use an SQS queue, an SNS topic or a Lambda function.",
                                                Type="User")
                raise InvalidParameterValue(f"The destination ARN {arn} is invalid.", Type="User")
            out[key] = {"Destination": arn}
        return out

    @staticmethod
    def _out(account: str, region: str, name: str, qualifier: str, cfg: dict[str, Any], modified: int) -> Result:
        dest = cfg.get("DestinationConfig") or {}
        out: Result = {"LastModified": modified / 1000.0,
                       "FunctionArn": names.function_arn(region, account, name, qualifier)}
        if "MaximumRetryAttempts" in cfg:
            out["MaximumRetryAttempts"] = cfg["MaximumRetryAttempts"]
        if "MaximumEventAgeInSeconds" in cfg:
            out["MaximumEventAgeInSeconds"] = cfg["MaximumEventAgeInSeconds"]
        out["DestinationConfig"] = {"OnSuccess": dest.get("OnSuccess") or {}, "OnFailure": dest.get("OnFailure") or {}}
        return out

    @staticmethod
    def _missing(account: str, region: str, name: str, qualifier: str) -> Exception:
        arn = names.function_arn(region, account, name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig", Type="User")

    async def _save(self, ctx: RequestContext, params: Params, merge: bool) -> Result:
        account, region, name, qualifier = await self._target(ctx, params)
        cfg: dict[str, Any] = {}
        if merge:
            row = await self.repo.invoke_config(account, region, name, qualifier)
            if row is None:
                raise self._missing(account, region, name, qualifier)
            cfg = orjson.loads(row.config)
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if params.get(key) is not None:
                cfg[key] = int(params[key])
        if params.get("DestinationConfig") is not None or not merge:
            cfg["DestinationConfig"] = self._check_destinations(params.get("DestinationConfig"))
        now = self.clock.now_ms()
        await self.repo.put_invoke_config(account, region, name, qualifier, orjson.dumps(cfg).decode(), now)
        return self._out(account, region, name, qualifier, cfg, now)

    # == operations ===============================================================================
    async def put_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        return await self._save(ctx, params, merge=False)

    async def update_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        return await self._save(ctx, params, merge=True)

    async def get_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name, qualifier = await self._target(ctx, params)
        row = await self.repo.invoke_config(account, region, name, qualifier)
        if row is None:
            raise self._missing(account, region, name, qualifier)
        return self._out(account, region, name, qualifier, orjson.loads(row.config), int(row.modified_at))

    async def delete_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name, qualifier = await self._target(ctx, params)
        if not await self.repo.delete_invoke_config(account, region, name, qualifier):
            raise self._missing(account, region, name, qualifier)
        return {}

    async def list_function_event_invoke_configs(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name, _q = names.parse_function(params["FunctionName"], ctx.account, ctx.region)
        await self.catalog.function(account, region, name)
        rows = await self.repo.invoke_configs(account, region, name)
        limit = int(params.get("MaxItems") or 50)
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        items = [self._out(account, region, name, r.qualifier, orjson.loads(r.config), int(r.modified_at))
                 for r in rows[start:start + limit]]
        out: Result = {"FunctionEventInvokeConfigs": items}
        if start + limit < len(rows):
            out["NextMarker"] = str(start + limit)
        return out
