"""What the rest of tsunagi may ask of CloudWatch metrics (implemented by ``services/cloudwatch/port.py``).

Callers: the services that publish AWS's own metrics (AWS/SQS, AWS/SNS, AWS/Lambda, and AWS/S3's
request metrics for buckets with a metrics configuration), the Logs service's metric filters, and the
embedded metric format in log events. Each datum lands in
the same store PutMetricData writes to, so GetMetricData, ListMetrics and alarms see it alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
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


Series = tuple[str, str, str, str, tuple[tuple[str, str], ...], str]
"""A metric of one account and region: (account, region, namespace, name, dimensions, unit)."""


class Counting(Protocol):
    """What a service that counts AWS's own metrics calls (:class:`Counters`, or something that finds
    them when first needed)."""

    def add(self, account: str, region: str, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...],
            value: float = 1.0, unit: str = "Count") -> None: ...

    def count(self, series: Series, value: float = 1.0) -> None: ...


_Cells = dict[tuple[str, str, str, str, tuple[tuple[str, str], ...], str, int], list[float]]


def _fold(cells: _Cells, key: tuple[str, str, str, str, tuple[tuple[str, str], ...], str, int],
          value: float) -> None:
    """One observation of ``value`` into the statistic set (count, sum, minimum, maximum) of ``key``: a
    series and its minute."""
    cell = cells.get(key)
    if cell is None:
        cells[key] = [1.0, value, value, value]
    else:
        cell[0] += 1.0
        cell[1] += value
        if value < cell[2]:
            cell[2] = value
        if value > cell[3]:
            cell[3] = value


class Counters:
    """AWS's own metrics as services count them on their hot paths: kept in memory per minute (a dict
    update per observation, no I/O) and drained into :class:`Datum` statistic sets by the CloudWatch
    service once a minute and when it stops. Found under :data:`COUNTERS`; None when CloudWatch is not
    served, so a service that counts checks for None and otherwise pays nothing."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cells: _Cells = {}

    def add(self, account: str, region: str, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...],
            value: float = 1.0, unit: str = "Count") -> None:
        """One observation of ``value`` (a count of 1 by default)."""
        self.count((account, region, namespace, name, dimensions, unit), value)

    def count(self, series: Series, value: float = 1.0) -> None:
        """:meth:`add` of ``series``, the metric's (account, region, namespace, name, dimensions, unit)
        made once by a hot path that counts the same metric on every call (SQS keeps its queues')."""
        _fold(self._cells, series + (int(self._clock()) // 60 * 60_000,), value)

    def count_many(self, observations: Iterable[tuple[Series, float]]) -> None:
        """:meth:`count` of each (series, value), in the same minute (a hot path that counts several
        metrics of one event at once: S3's request metrics)."""
        minute = int(self._clock()) // 60 * 60_000
        cells = self._cells
        for series, value in observations:
            _fold(cells, series + (minute,), value)

    def add_count(self, account: str, region: str, namespace: str, name: str,
                  dimensions: tuple[tuple[str, str], ...], count: int) -> None:
        """``count`` observations of a count of 1 at once (as ``count`` calls of :meth:`add` would)."""
        key = (account, region, namespace, name, dimensions, "Count", int(self._clock()) // 60 * 60_000)
        cell = self._cells.get(key)
        if cell is None:
            self._cells[key] = [float(count), float(count), 1.0, 1.0]
        else:
            cell[0] += count
            cell[1] += count
            if cell[2] > 1.0:
                cell[2] = 1.0
            if cell[3] < 1.0:
                cell[3] = 1.0

    def drain(self) -> dict[tuple[str, str], list[Datum]]:
        """Everything counted so far, by (account, region), as statistic sets; the counters start over."""
        cells, self._cells = self._cells, {}
        out: dict[tuple[str, str], list[Datum]] = {}
        for (account, region, namespace, name, dims, unit, minute), (n, total, lo, hi) in cells.items():
            out.setdefault((account, region), []).append(Datum(
                namespace, name, total / n, minute, unit, dims, n, total, lo, hi))
        return out


COUNTERS: PortKey[Counters] = PortKey("cloudwatch")
"""Where services count AWS's own metrics (AWS/SQS, AWS/SNS, AWS/Lambda, AWS/S3) for CloudWatch to publish
(a second key of the cloudwatch service, so that asking for it loads that service when it is not yet)."""
