"""CloudWatch Logs' subscription filters and metric filters (``queries/*/logs_filters.sql``).

A filter belongs to a log group (deleted with it); ``doc`` is the rest of it as JSON, which the
service shapes (destination, role and distribution; metric transformations).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx

SUBSCRIPTION = "subscription"
METRIC = "metric"


class FilterRow(NamedTuple):
    id: int
    group: str
    kind: str
    name: str
    pattern: str
    doc: str
    created_at: int

    @property
    def fields(self) -> dict[str, Any]:
        value = json.loads(self.doc)
        return value if isinstance(value, dict) else {}


class LogsFiltersRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("logs_filters", store.dialect)

    async def of_group(self, group_id: int, kind: str | None = None) -> list[FilterRow]:
        return [FilterRow._make(r) for r in await self.store.fetchall(self.q.of_group, (group_id, kind, kind))]

    async def of_group_named(self, account: str, region: str, group: str) -> list[FilterRow]:
        rows = await self.store.fetchall(self.q.of_group_named, (account, region, group))
        return [FilterRow._make(r) for r in rows]

    async def list(self, account: str, region: str, kind: str, *, group_id: int | None, prefix: str | None,
                   after: tuple[str, str] | None, limit: int) -> list[FilterRow]:
        """Filters of ``kind`` in one group (or all), ordered by (group name, filter name), after ``after``."""
        g, n = after if after is not None else ("", "")
        p = prefix or None
        rows = await self.store.fetchall(self.q.list, (account, region, kind, group_id, group_id, p, p, p,
                                                       g, g, n, limit))
        return [FilterRow._make(r) for r in rows]

    async def put(self, group_id: int, kind: str, name: str, pattern: str, doc: dict[str, Any], now_ms: int,
                  limit: int, then: Callable[[Tx], Awaitable[None]] | None = None) -> bool | None:
        """Create or replace a filter; False when creating it would pass ``limit`` filters of its kind in
        the group, None when the group is gone."""
        async with self.store.transaction() as tx:
            if await tx.fetchone(self.q.lock_group, (group_id,)) is None:
                return None
            exists = await tx.fetchone(self.q.exists, (group_id, kind, name)) is not None
            if not exists:
                row = await tx.fetchone(self.q.count, (group_id, kind))
                if row is not None and int(row[0]) >= limit:
                    return False
            await tx.execute(self.q.upsert, (group_id, kind, name, pattern, json.dumps(doc), now_ms))
            if then is not None:
                await then(tx)
            return True

    async def delete(self, group_id: int, kind: str, name: str) -> bool:
        return await self.store.execute(self.q.delete, (group_id, kind, name)) > 0

    async def metric_counts(self, group_ids: Sequence[int]) -> dict[int, int]:
        if not group_ids:
            return {}
        rows = await self.store.fetchall(self.q.expand("count_per_group", len(group_ids)), list(group_ids))
        return {int(r[0]): int(r[1]) for r in rows}
