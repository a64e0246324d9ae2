"""CloudWatch, the facade: each method is an operation (botocore's names), delegating to its part."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tsunagi.context import RequestContext
from tsunagi.ports.cloudwatch import CLOUDWATCH, COUNTERS, Counters
from tsunagi.services.base import Platform, Service
from tsunagi.services.cloudwatch import query
from tsunagi.services.cloudwatch.alarms import Alarms, alarm_arn
from tsunagi.services.cloudwatch.background import Background
from tsunagi.services.cloudwatch.errors import (
    InvalidParameterValue,
    MissingParameter,
    ResourceNotFoundException,
    ValidationError,
)
from tsunagi.services.cloudwatch.metrics import Metrics, parse_datum
from tsunagi.services.cloudwatch.port import MetricsPortImpl
from tsunagi.store.cloudwatch import CloudWatchRepo


class CloudWatchService(Service):
    name = "cloudwatch"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = CloudWatchRepo(platform.store)
        self.metrics = Metrics(self.repo)
        self.alarms = Alarms(platform, self.repo, self.metrics)
        self.background = Background(self)
        self.counters = Counters()
        platform.ports.provide(CLOUDWATCH, MetricsPortImpl(self.metrics))
        platform.ports.provide(COUNTERS, self.counters)

    async def start(self) -> None:
        await self.background.start()

    async def stop(self) -> None:
        await self.background.stop()

    async def on_reset(self) -> None:
        self.counters.drain()                # counts of what the reset wiped

    # == metrics ================================================================================
    async def put_metric_data(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        namespace = p["Namespace"]
        if namespace.startswith("AWS/"):
            raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
        if p.get("EntityMetricData"):
            raise InvalidParameterValue("EntityMetricData (metrics associated with entities) is not supported by "
                                        "tsunagi; send MetricData.")
        if "MetricData" not in p:
            raise MissingParameter("The parameter MetricData is required.")
        items = p.get("MetricData") or []
        if len(items) > 1000:
            raise InvalidParameterValue("The collection MetricData must not have a size greater than 1000.")
        now = self.clock.now_ms()
        data, values = [], []
        for i, d in enumerate(items, 1):
            datum, vals = parse_datum(i, d, now)
            data.append(replace(datum, namespace=namespace))
            values.append(vals)
        await self.metrics.put(ctx.account, ctx.region, data, values)
        return {}

    async def list_metrics(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self.metrics.list_metrics(ctx.account, ctx.region, p, self.clock.now_ms())

    async def get_metric_statistics(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self.metrics.get_metric_statistics(ctx.account, ctx.region, p)

    async def get_metric_data(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await query.get_metric_data(self.metrics, ctx.account, ctx.region, p)

    # == alarms =================================================================================
    async def put_metric_alarm(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.alarms.put_metric_alarm(ctx.account, ctx.region, p)
        return {}

    async def put_composite_alarm(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.alarms.put_composite_alarm(ctx.account, ctx.region, p)
        return {}

    async def describe_alarms(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self.alarms.describe_alarms(ctx.account, ctx.region, p)

    async def describe_alarms_for_metric(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self.alarms.describe_alarms_for_metric(ctx.account, ctx.region, p)

    async def delete_alarms(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.alarms.delete_alarms(ctx.account, ctx.region, p["AlarmNames"])
        return {}

    async def describe_alarm_history(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self.alarms.history(ctx.account, ctx.region, p)

    async def set_alarm_state(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.alarms.set_alarm_state(ctx.account, ctx.region, p)
        return {}

    async def enable_alarm_actions(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.alarms.set_actions_enabled(ctx.account, ctx.region, p["AlarmNames"], True)
        return {}

    async def disable_alarm_actions(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.alarms.set_actions_enabled(ctx.account, ctx.region, p["AlarmNames"], False)
        return {}

    # == tags ===================================================================================
    async def _alarm_of(self, ctx: RequestContext, arn: str) -> str:
        prefix = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:"
        if not arn.startswith("arn:aws:cloudwatch:"):
            raise ValidationError(f"Invalid ARN: {arn}")
        name = arn[len(prefix):] if arn.startswith(prefix) else None
        if name is None or await self.repo.alarm(ctx.account, ctx.region, name) is None:
            raise ResourceNotFoundException("The specified resource does not exist.")
        return arn

    async def list_tags_for_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        arn = await self._alarm_of(ctx, p["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in await self.repo.tags(arn)]}

    async def tag_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        arn = await self._alarm_of(ctx, p["ResourceARN"])
        await self.repo.tag(arn, [(t["Key"], t["Value"]) for t in p["Tags"]])
        return {}

    async def untag_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        arn = await self._alarm_of(ctx, p["ResourceARN"])
        await self.repo.untag(arn, p["TagKeys"])
        return {}


__all__ = ["CloudWatchService", "alarm_arn"]
