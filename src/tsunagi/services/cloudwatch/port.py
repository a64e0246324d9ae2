"""CloudWatch metrics' port (:class:`tsunagi.ports.cloudwatch.MetricsPort`): other parts of tsunagi
record data points as PutMetricData would, in AWS's namespaces too, without its request checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tsunagi.ports.cloudwatch import Datum

if TYPE_CHECKING:
    from tsunagi.services.cloudwatch.metrics import Metrics


class MetricsPortImpl:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def put(self, account: str, region: str, data: Sequence[Datum]) -> None:
        if data:
            await self._metrics.put(account, region, data)
