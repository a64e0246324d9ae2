"""The Logs Insights repository: queries and query definitions (``queries/*/logs_insights.sql``).

A query's row is written when it starts and finished once (results, statistics, status) by the node
running it; a StopQuery on any node marks it Cancelled, and a finish never overwrites that.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store


class QueryRow(NamedTuple):
    id: str
    query_string: str
    group_names: str
    status: str
    created_at: int
    finished_at: int | None
    results: str | None
    statistics: str | None


class DefinitionRow(NamedTuple):
    id: str
    name: str
    query_string: str
    group_names: str
    parameters: str
    language: str
    last_modified: int


class RecordRow(NamedTuple):
    id: int
    stream: str
    ts: int
    ingested_at: int
    message: str
    account: str
    region: str
    group: str
    retention_days: int | None


class InsightsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("logs_insights", store.dialect)

    # == queries ===============================================================================
    async def insert_query(self, query_id: str, account: str, region: str, text: str, groups: str,
                           now_ms: int) -> None:
        await self.store.execute(self.q.insert_query, (query_id, account, region, text, groups, "Scheduled", now_ms))

    async def query(self, query_id: str, account: str, region: str) -> QueryRow | None:
        row = await self.store.fetchone(self.q.query, (query_id, account, region))
        return QueryRow._make(row) if row else None

    async def set_running(self, query_id: str) -> None:
        await self.store.execute(self.q.set_running, (query_id,))

    async def finish(self, query_id: str, status: str, now_ms: int, results: str | None,
                     statistics: str | None) -> bool:
        """False when the query was no longer running (stopped meanwhile)."""
        return await self.store.execute(self.q.finish_query, (status, now_ms, results, statistics, query_id)) > 0

    async def status(self, query_id: str) -> str | None:
        row = await self.store.fetchone(self.q.status, (query_id,))
        return str(row[0]) if row else None

    async def list_queries(self, account: str, region: str, status: str | None, before: tuple[int, str],
                           limit: int) -> list[QueryRow]:
        params: list[Any] = [account, region, status, status, before[0], before[0], before[1], limit]
        return [QueryRow._make(r) for r in await self.store.fetchall(self.q.list_queries, params)]

    async def delete_old(self, before_ms: int) -> int:
        return await self.store.execute(self.q.delete_old_queries, (before_ms,))

    async def scan(self, group_id: int, start: int, end: int, before: tuple[int, int], limit: int, *,
                   messages: bool = True) -> list[tuple[int, int, int, int, str, int]]:
        """(id, stream_id, ts, ingested_at, message, size) of a group's events with start <= ts <= end,
        newest first, strictly before ``before`` = (ts, id); without ``messages``, every message is ''."""
        # ts <= before's time bounds the index range, so each batch starts where the last one stopped
        # (the row value alone only filters: every batch stepped over all the rows before it).
        params = (group_id, start, min(end, before[0]), before[0], before[1], limit)
        return await self.store.fetchall(self.q.scan if messages else self.q.scan_times,
                                         params)

    async def stream_names(self, group_id: int) -> dict[int, str]:
        return {int(r[0]): str(r[1]) for r in await self.store.fetchall(self.q.stream_names, (group_id,))}

    async def event(self, group_id: int, event_id: int) -> RecordRow | None:
        row = await self.store.fetchone(self.q.event, (event_id, group_id))
        return RecordRow._make(row) if row else None

    # == query definitions =====================================================================
    async def definition(self, def_id: str, account: str, region: str) -> DefinitionRow | None:
        row = await self.store.fetchone(self.q.definition, (def_id, account, region))
        return DefinitionRow._make(row) if row else None

    async def count_definitions(self, account: str, region: str) -> int:
        row = await self.store.fetchone(self.q.count_definitions, (account, region))
        return int(row[0]) if row else 0

    async def put_definition(self, def_id: str, account: str, region: str, name: str, text: str, groups: str,
                             parameters: str, language: str, now_ms: int, *, update: bool) -> bool:
        """Insert (``update=False``) or update a definition; False when the one to update is gone."""
        if update:
            n = await self.store.execute(self.q.update_definition, (name, text, groups, parameters, language, now_ms,
                                                                   def_id, account, region))
            return n > 0
        await self.store.execute(self.q.insert_definition, (def_id, account, region, name, text, groups, parameters,
                                                            language, now_ms))
        return True

    async def delete_definition(self, def_id: str, account: str, region: str) -> bool:
        return await self.store.execute(self.q.delete_definition, (def_id, account, region)) > 0

    async def list_definitions(self, account: str, region: str, prefix: str | None, after: tuple[str, str],
                               limit: int) -> list[DefinitionRow]:
        p = prefix or None
        params: list[Any] = [account, region, p, p, p, after[0], after[0], after[1], limit]
        return [DefinitionRow._make(r) for r in await self.store.fetchall(self.q.list_definitions, params)]
