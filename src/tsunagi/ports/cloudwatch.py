"""What the rest of tsunagi may ask of CloudWatch metrics (implemented by ``services/cloudwatch/port.py``).

Callers: the services that publish AWS's own metrics (AWS/SQS, AWS/SNS, AWS/Lambda, AWS/S3), the
Logs service's metric filters, and the embedded metric format in function logs. Each datum lands in
the same store PutMetricData writes to, so GetMetricData, ListMetrics and alarms see it alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tsunagi.ports import PortKey


@dataclass(frozen=True, slots=True)
class Datum:
    """One observation of one metric: a value, or a statistic set (``count`` values summing to
    ``total`` with the given extremes) when ``count`` is above 1."""

    namespace: str
    name: str
    value: float
    timestamp_ms: int
    unit: str = "None"
    dimensions: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    count: float = 1.0
    total: float | None = None          # the sum of a statistic set; ``value`` when None
    minimum: float | None = None
    maximum: float | None = None
    storage_resolution: int = 60        # 1 for high-resolution metrics


class MetricsPort(Protocol):
    async def put(self, account: str, region: str, data: Sequence[Datum]) -> None:
        """Record data points as PutMetricData would, without its request-size checks."""
        ...


CLOUDWATCH: PortKey[MetricsPort] = PortKey("cloudwatch")
"""CloudWatch metrics' port: what the rest of tsunagi may ask of it (:class:`MetricsPort`)."""
