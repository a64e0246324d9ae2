"""The CloudWatch repository: metrics, their data as per-period aggregates, alarms, alarm history, tags
and the leases that keep background work on one server (``queries/*/cloudwatch.sql``).

A metric is keyed by (account, region, namespace, name, dims), ``dims`` being the canonical JSON form of
its dimension set. Its data are buckets of ``period`` seconds per unit: sample count, sum, minimum,
maximum and a bounded value -> count map for percentiles. Merging a datum into a bucket adds the count
and sum and widens the extremes in SQL (atomic on either store); the value map is merged by the caller
under the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx


class Bucket(NamedTuple):
    account: str
    region: str
    namespace: str
    name: str
    dims: str
    period: int
    ts: int
    unit: str
    n: float
    total: float
    lo: float
    hi: float
    vals: str


class DataRow(NamedTuple):
    period: int
    ts: int
    unit: str
    n: float
    total: float
    lo: float
    hi: float
    vals: str


class MetricRow(NamedTuple):
    namespace: str
    name: str
    dims: str
    updated_at: int


class AlarmRow(NamedTuple):
    account: str
    region: str
    name: str
    kind: str
    doc: str
    actions_enabled: int
    state: str
    reason: str
    reason_data: str | None
    state_at: int
    transitioned_at: int
    configured_at: int


class HistoryRow(NamedTuple):
    id: int
    alarm_name: str
    alarm_type: str
    ts: int
    item_type: str
    summary: str
    data: str


class CloudWatchRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("cloudwatch", store.dialect)

    # == data ==================================================================================
    async def bucket_values(self, tx: Tx, b: Bucket) -> str | None:
        row = await tx.fetchone(self.q.bucket_values, (b.account, b.region, b.namespace, b.name, b.dims, b.period,
                                                       b.ts, b.unit))
        return str(row[0]) if row is not None else None

    async def merge_bucket(self, tx: Tx, b: Bucket) -> None:
        await tx.execute(self.q.merge_bucket, b)

    async def touch_metrics(self, tx: Tx, rows: Iterable[tuple[str, str, str, str, str, int]]) -> None:
        for row in rows:
            await tx.execute(self.q.touch_metric, row)

    async def data(self, account: str, region: str, namespace: str, name: str, dims: str, start: int,
                   end: int) -> list[DataRow]:
        rows = await self.store.fetchall(self.q.data_range, (account, region, namespace, name, dims, start, end))
        return [DataRow(int(r[0]), int(r[1]), str(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[6]),
                        str(r[7])) for r in rows]

    async def metrics(self, account: str, region: str, namespace: str | None, name: str | None,
                      after: tuple[str, str, str], limit: int) -> list[MetricRow]:
        ns, nm, dims = after
        rows = await self.store.fetchall(self.q.list_metrics, (account, region, namespace, namespace, name, name,
                                                              ns, ns, nm, ns, nm, dims, limit))
        return [MetricRow(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    async def metric_dims(self, account: str, region: str, namespace: str, name: str) -> list[str]:
        rows = await self.store.fetchall(self.q.metric_dims, (account, region, namespace, name))
        return [str(r[0]) for r in rows]

    async def aged(self, period: int, before: int, limit: int) -> list[Bucket]:
        rows = await self.store.fetchall(self.q.aged, (period, before, limit))
        return [Bucket(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), int(r[6]), str(r[7]),
                       float(r[8]), float(r[9]), float(r[10]), float(r[11]), str(r[12])) for r in rows]

    async def delete_bucket(self, tx: Tx, b: Bucket) -> None:
        await tx.execute(self.q.delete_bucket, (b.account, b.region, b.namespace, b.name, b.dims, b.period, b.ts,
                                                b.unit))

    async def delete_aged(self, period: int, before: int) -> int:
        return await self.store.execute(self.q.delete_aged, (period, before))

    async def delete_stale_metrics(self, before: int) -> int:
        return await self.store.execute(self.q.delete_stale_metrics, (before,))

    # == alarms ================================================================================
    async def put_alarm(self, row: AlarmRow, history: Sequence[object] | None = None) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.put_alarm, row)
            if history is not None:
                await tx.execute(self.q.add_history, history)

    async def alarm(self, account: str, region: str, name: str) -> AlarmRow | None:
        row = await self.store.fetchone(self.q.alarm, (account, region, name))
        return AlarmRow._make(row) if row is not None else None

    async def alarms(self, account: str, region: str) -> list[AlarmRow]:
        return [AlarmRow._make(r) for r in await self.store.fetchall(self.q.alarms, (account, region))]

    async def all_alarms(self) -> list[AlarmRow]:
        return [AlarmRow._make(r) for r in await self.store.fetchall(self.q.all_alarms)]

    async def delete_alarm(self, account: str, region: str, name: str, arn: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_alarm, (account, region, name))
            await tx.execute(self.q.delete_history, (account, region, name))
            await tx.execute(self.q.delete_tags, (arn,))
        return n

    async def set_state(self, account: str, region: str, name: str, expected: str, state: str, reason: str,
                        reason_data: str | None, at: int, transitioned_at: int,
                        history: Sequence[object]) -> bool:
        """Move an alarm to ``state`` if it is still in ``expected``, with its history item; False if another
        writer changed it first."""
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.set_state, (state, reason, reason_data, at, transitioned_at, account, region,
                                                    name, expected))
            if n:
                await tx.execute(self.q.add_history, history)
        return bool(n)

    async def set_actions_enabled(self, account: str, region: str, name: str, enabled: bool) -> int:
        return await self.store.execute(self.q.set_actions_enabled, (int(enabled), account, region, name))

    async def add_history(self, item: Sequence[object]) -> None:
        await self.store.execute(self.q.add_history, item)

    async def history(self, account: str, region: str, name: str | None, start: int, end: int) -> list[HistoryRow]:
        rows = await self.store.fetchall(self.q.history, (account, region, name, name, start, end))
        return [HistoryRow._make(r) for r in rows]

    async def prune_history(self, before: int) -> int:
        return await self.store.execute(self.q.prune_history, (before,))

    # == tags ==================================================================================
    async def tags(self, arn: str) -> list[tuple[str, str]]:
        return [(str(r[0]), str(r[1])) for r in await self.store.fetchall(self.q.tags, (arn,))]

    async def tag(self, arn: str, tags: Iterable[tuple[str, str]]) -> None:
        async with self.store.transaction() as tx:
            for k, v in tags:
                await tx.execute(self.q.put_tag, (arn, k, v))

    async def untag(self, arn: str, keys: Iterable[str]) -> None:
        async with self.store.transaction() as tx:
            for k in keys:
                await tx.execute(self.q.delete_tag, (arn, k))

    # == leases ================================================================================
    async def lease(self, name: str, holder: str, now: int, ttl_ms: int) -> bool:
        """Take or keep the lease ``name`` for ``ttl_ms``; False while another holder's is unexpired."""
        await self.store.execute(self.q.add_lease, (name, "", 0))
        n = await self.store.execute(self.q.take_lease, (holder, now + ttl_ms, name, holder, now))
        return bool(n)
