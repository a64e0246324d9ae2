"""Event source mappings: Create/Get/Update/Delete/ListEventSourceMappings for SQS sources.

A component the Lambda service holds (it resolves functions through the catalog). Mappings live in
the store (:mod:`tsunagi.store.esm`); the pollers that run them are in :mod:`tsunagi.pipes.pollers`.
States are AWS's: a create answers ``Creating`` and an update ``Enabling`` / ``Disabling`` /
``Updating``; the pollers of the node that applies the change settle it to ``Enabled`` or
``Disabled`` (at once on the node that served the request). A delete answers ``Deleting`` and the
row disappears once the pollers stopped.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import orjson

from tsunagi.context import RequestContext
from tsunagi.filters.criteria import FilterCriteriaError, compile_filters
from tsunagi.policy import Dialect
from tsunagi.ports.awslambda import ESM_NO_RECORDS as NO_RECORDS
from tsunagi.ports.delivery_policy import ESM_SQS_ACTIONS, role_check
from tsunagi.ports.iam import IAM
from tsunagi.ports.sqs import SQS, QueueRef
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog
from tsunagi.services.awslambda.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from tsunagi.services.base import Platform
from tsunagi.store.esm import EsmRepo, MappingExists, MappingRow

# Members that only stream or Kafka sources take.
_STREAM_ONLY = ("StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "DestinationConfig",
                "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                "TumblingWindowInSeconds", "Topics", "Queues", "SelfManagedEventSource",
                "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
                "DocumentDBEventSourceConfig")
_NO_QUEUE = ("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS "
             "Error Message: The specified queue does not exist or you do not have access to it.")


def _not_found() -> Exception:
    return ResourceNotFound("The resource you requested does not exist.", Type="User")


class EventSourceMappings:
    """CreateEventSourceMapping and friends. The pollers that run the mappings are a platform component
    (``pipes/pollers.py``): they follow the store's changes, so this part has no life cycle of its own."""

    def __init__(self, platform: Platform, catalog: Catalog) -> None:
        self.platform = platform
        self.catalog = catalog
        self.esm_repo = EsmRepo(platform.store)

    # == helpers =================================================================================
    def _esm_out(self, row: MappingRow, state: str | None = None) -> dict[str, Any]:
        cfg = orjson.loads(row.config)
        out: dict[str, Any] = {"UUID": row.uuid, "BatchSize": cfg["BatchSize"],
                               "MaximumBatchingWindowInSeconds": cfg.get("MaximumBatchingWindowInSeconds", 0),
                               "EventSourceArn": row.source_arn}
        if cfg.get("FilterCriteria"):
            out["FilterCriteria"] = cfg["FilterCriteria"]
        out["FunctionArn"] = row.function_arn
        out["LastModified"] = int(row.modified_at) / 1000.0
        out["LastProcessingResult"] = row.last_result
        out["State"] = state or row.state
        out["StateTransitionReason"] = row.state_reason
        out["FunctionResponseTypes"] = cfg.get("FunctionResponseTypes") or []
        if cfg.get("ScalingConfig"):
            out["ScalingConfig"] = cfg["ScalingConfig"]
        out["EventSourceMappingArn"] = f"arn:aws:lambda:{row.region}:{row.account}:event-source-mapping:{row.uuid}"
        return out

    async def _esm_row(self, uuid: str | None) -> MappingRow:
        row = await self.esm_repo.get(uuid or "")
        if row is None:
            raise _not_found()
        return row

    async def _esm_check(self, ctx: RequestContext, source_arn: str, function_name: str,
                         cfg: dict[str, Any], params: dict[str, Any]) -> tuple[str, str, str]:
        """Validate a mapping as AWS does; returns (function name, function ARN as reported, region)."""
        parts = source_arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise InvalidParameterValue("Unrecognized event source, must be kinesis, dynamodb stream or sqs.",
                                        Type="User")
        if parts[2] != "sqs":
            raise InvalidParameterValue(f"Event sources of type {parts[2]} are not supported by tsunagi; event "
                                        "source mappings read SQS queues.", Type="User")
        for member in _STREAM_ONLY:
            if params.get(member) is not None:
                raise InvalidParameterValue(f"Unsupported {member} parameter for given event source mapping type.",
                                            Type="User")
        account, region, name, qualifier = names.parse_function(function_name, ctx.account, ctx.region)
        fn = await self.catalog.function(account, region, name, qualifier, resolve_alias=False)
        sqs = self.platform.ports.find(SQS)
        q = await sqs.queue(source_arn) if sqs is not None else None
        if q is None:
            raise InvalidParameterValue(_NO_QUEUE, Type="User")
        batch = cfg["BatchSize"]
        window = cfg.get("MaximumBatchingWindowInSeconds", 0)
        if q.fifo and window:
            raise InvalidParameterValue("Invalid request provided: Batching window is not supported for FIFO queues",
                                        Type="User")
        if batch > 10 and window < 1:
            raise InvalidParameterValue("Maximum batch window in seconds must be greater than 0 if maximum batch "
                                        "size is greater than 10", Type="User")
        if q.fifo and batch > 10:
            raise InvalidParameterValue("Invalid request provided: Maximum batch size for FIFO queues is 10",
                                        Type="User")
        timeout = int(fn.config.get("Timeout", 3))
        if q.visibility < timeout:
            raise InvalidParameterValue(f"Invalid request provided: Queue visibility timeout: {q.visibility} seconds "
                                        f"is less than Function timeout: {timeout} seconds", Type="User")
        try:
            compile_filters(cfg.get("FilterCriteria"))
        except FilterCriteriaError as e:
            raise InvalidParameterValue(str(e), Type="User") from None
        await self._esm_role_check(fn.config.get("Role"), q, names.function_arn(region, account, name, None))
        return name, names.function_arn(region, account, name, qualifier), region

    async def _esm_role_check(self, role: Any, q: QueueRef, function_arn: str) -> None:
        """As AWS, a mapping is refused when the function's execution role may not read the queue
        (``--policies enforce``; ``warn`` logs it). A role IAM does not know is not checked here."""
        mode = self.platform.config.policies
        if mode == "off" or not role:
            return
        for action in ESM_SQS_ACTIONS:
            verdict = await role_check(mode, self.platform.ports.find(IAM), str(role), actions=(action,),
                                       resource_arn=q.arn, resource_account=q.account,
                                       resource_policy=q.attributes.get("Policy"), dialect=Dialect.SQS,
                                       what=f"function {function_arn}", configuring=True)
            if not verdict.allowed:
                raise InvalidParameterValue(f"The function execution role does not have permissions to call "
                                            f"{action.split(':', 1)[1]} on SQS", Type="User")
            if verdict.reason:
                return              # (warn: logged once)

    @staticmethod
    def _esm_config(cfg: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        out = dict(cfg)
        for key in ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes"):
            if params.get(key) is not None:
                out[key] = params[key]
        if params.get("FilterCriteria") is not None:
            filters = params["FilterCriteria"].get("Filters") or []
            out["FilterCriteria"] = {"Filters": filters} if filters else None
        if params.get("ScalingConfig") is not None:
            out["ScalingConfig"] = params["ScalingConfig"] or None
        return {k: v for k, v in out.items() if v is not None}

    # == operations ==============================================================================
    async def create_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source_arn = params.get("EventSourceArn") or ""
        cfg = self._esm_config({"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0, "FunctionResponseTypes": []},
                               params)
        name, function_arn, _region = await self._esm_check(ctx, source_arn, params["FunctionName"], cfg, params)
        enabled = params.get("Enabled", True) is not False
        uuid = str(uuidlib.uuid4())
        now = self.platform.clock.now_ms()
        try:
            await self.esm_repo.create(uuid, ctx.account, ctx.region, name, function_arn, source_arn, enabled,
                                       "Creating", "USER_INITIATED", orjson.dumps(cfg).decode(), NO_RECORDS, now)
        except MappingExists as e:
            raise ResourceConflict(f'The event source arn (" {source_arn} ") and function (" {name} ") provided '
                                   "mapping already exists. Please update or delete the existing mapping with UUID "
                                   f"{e.args[0]}", Type="User") from None
        row = await self._esm_row(uuid)
        return self._esm_out(row, "Creating")

    async def get_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._esm_out(await self._esm_row(params.get("UUID")))

    async def update_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        uuid = params.get("UUID") or ""
        row = await self._esm_row(uuid)
        if row.account != ctx.account:
            raise _not_found()
        if row.state == "Deleting":
            raise ResourceConflict("Cannot update the event source mapping because it is in use.", Type="User")
        cfg = self._esm_config(orjson.loads(row.config), params)
        function = params.get("FunctionName") or str(row.function_arn)
        name, function_arn, _region = await self._esm_check(ctx, str(row.source_arn), function, cfg, params)
        was = bool(row.enabled)
        enabled = was if params.get("Enabled") is None else bool(params["Enabled"])
        state = "Updating"
        if enabled and not was:
            state = "Enabling"
        elif was and not enabled:
            state = "Disabling"
        updated = await self.esm_repo.update(uuid, name, function_arn, enabled, state, "USER_INITIATED",
                                             orjson.dumps(cfg).decode(), self.platform.clock.now_ms())
        if updated is None:
            raise _not_found()
        return self._esm_out(updated, state)

    async def delete_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        uuid = params.get("UUID") or ""
        row = await self._esm_row(uuid)
        if row.account != ctx.account:
            raise _not_found()
        marked = await self.esm_repo.mark_deleting(uuid, self.platform.clock.now_ms())
        return self._esm_out(marked or row, "Deleting")

    async def list_event_source_mappings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("MaxItems") or 100)
        if not 1 <= limit <= 10000:
            raise InvalidParameterValue("MaxItems must be between 1 and 10000.", Type="User")
        name = function_arn = None
        if params.get("FunctionName"):
            account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region)
            if qualifier is not None:
                function_arn = names.function_arn(region, account, name, qualifier)
        rows = await self.esm_repo.list(ctx.account, ctx.region, name, params.get("EventSourceArn") or None,
                                        params.get("Marker") or "", limit + 1)
        if function_arn is not None:
            rows = [r for r in rows if r.function_arn == function_arn]
        out: dict[str, Any] = {"EventSourceMappings": [self._esm_out(r) for r in rows[:limit]]}
        if len(rows) > limit:
            out["NextMarker"] = rows[limit - 1].uuid
        return out
