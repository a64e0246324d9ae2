"""CloudWatch, the facade: each method is an operation (botocore's names), delegating to its part."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tsunagi.context import RequestContext
from tsunagi.ports.cloudwatch import CLOUDWATCH
from tsunagi.services.base import Platform, Service
from tsunagi.services.cloudwatch import query
from tsunagi.services.cloudwatch.errors import InvalidParameterValue
from tsunagi.services.cloudwatch.metrics import Metrics, parse_datum
from tsunagi.services.cloudwatch.port import MetricsPortImpl
from tsunagi.store.cloudwatch import CloudWatchRepo


class CloudWatchService(Service):
    name = "cloudwatch"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = CloudWatchRepo(platform.store)
        self.metrics = Metrics(self.repo)
        platform.ports.provide(CLOUDWATCH, MetricsPortImpl(self.metrics))

    # == metrics ================================================================================
    async def put_metric_data(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        namespace = p["Namespace"]
        if namespace.startswith("AWS/"):
            raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
        if "MetricData" not in p and "EntityMetricData" not in p:
            raise InvalidParameterValue("The parameter MetricData is required.")
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
