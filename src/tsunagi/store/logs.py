"""The CloudWatch Logs repository: the statements the logs service runs (``queries/*/logs.sql``).

The service (``tsunagi.services.logs``) passes plain values and gets named rows back.
Events are ordered by ``(ts, id)``: ``id`` is the insertion order and breaks ties between equal
timestamps, so an event's position in a stream is the pair, and paging tokens carry it.

Locks are always taken group row first, then stream row (appends, stream deletion and group
deletion all follow that order), so that concurrent writers on PostgreSQL never deadlock.
Where a store's text cannot hold NUL characters (PostgreSQL), they are stored as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx

NEVER = -(2 ** 62)      # a cutoff that excludes nothing
FOREVER = 2 ** 62
_CONTAINS_SLOTS = 3     # substrings the group-events query can pre-filter on

# Event = (timestamp_ms, message, utf8_size)
Event = tuple[int, str, int]
# Called inside a write's transaction once its events are in (subscription deliveries join it).
Then = Callable[[Tx], Awaitable[None]]


class GroupRow(NamedTuple):
    id: int
    account: str
    region: str
    name: str
    created_at: int
    retention_days: int | None
    kms_key_id: str | None
    group_class: str
    deletion_protection: int
    stored_bytes: int


class StreamRow(NamedTuple):
    id: int
    name: str
    created_at: int
    first_event_at: int | None
    last_event_at: int | None
    last_ingestion_at: int | None
    upload_seq: int


class EventRow(NamedTuple):
    id: int
    stream: str
    ts: int
    ingested_at: int
    message: str
    size: int


class _Gone(Exception):
    """Raised inside a transaction to roll it back: the stream was deleted meanwhile."""


class LogsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("logs", store.dialect)
        self._nul_free = not store.text_keeps_nul

    def _text(self, message: str) -> str:
        if self._nul_free and "\x00" in message:
            return message.replace("\x00", "\ufffd")
        return message

    # == groups ================================================================================
    async def group(self, account: str, region: str, name: str) -> GroupRow | None:
        row = await self.store.fetchone(self.q.group, (account, region, name))
        return GroupRow._make(row) if row else None

    async def create_group(self, account: str, region: str, name: str, now_ms: int, kms_key_id: str | None,
                           group_class: str, deletion_protection: bool, arn: str,
                           tags: dict[str, str]) -> bool:
        """False when a group of that name exists already."""
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.create_group, (account, region, name, now_ms, kms_key_id, group_class,
                                                          int(deletion_protection)))
            if row is None:
                return False
            await tx.execute(self.q.delete_tags, (arn,))
            if tags:
                await tx.executemany(self.q.insert_tag, [(arn, k, v) for k, v in tags.items()])
            return True

    async def delete_group(self, group_id: int, arn: str) -> bool:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_group, (group_id,))
            await tx.execute(self.q.delete_tags, (arn,))
            return n > 0

    async def list_groups(self, account: str, region: str, *, prefix: str | None = None,
                          contains: str | None = None, names: Sequence[str] | None = None,
                          after: str | None = None, limit: int = 50) -> list[GroupRow]:
        """Groups in name order (ASCII), after ``after``; filtered by prefix, substring or exact names."""
        params: list[Any] = [account, region, prefix or None, prefix or None, prefix or None, contains,
                             contains, after or ""]
        if names is not None:
            if not names:
                return []
            sql = self.q.expand("list_groups_named", len(names))
            params += list(names)
        else:
            sql = self.q.list_groups
        params.append(limit)
        return [GroupRow._make(r) for r in await self.store.fetchall(sql, params)]

    async def set_retention(self, group_id: int, days: int | None) -> None:
        await self.store.execute(self.q.set_retention, (days, group_id))

    async def set_protection(self, group_id: int, enabled: bool) -> None:
        await self.store.execute(self.q.set_protection, (int(enabled), group_id))

    async def set_kms_key(self, group_id: int, key_arn: str | None) -> None:
        await self.store.execute(self.q.set_kms_key, (key_arn, group_id))

    # == tags ==================================================================================
    async def tags(self, arn: str) -> dict[str, str]:
        rows = await self.store.fetchall(self.q.tags, (arn,))
        return {str(k): str(v) for k, v in rows}

    async def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        async with self.store.transaction() as tx:
            await tx.executemany(self.q.put_tag, [(arn, k, v) for k, v in tags.items()])

    async def remove_tags(self, arn: str, keys: Sequence[str]) -> None:
        if keys:
            async with self.store.transaction() as tx:
                await tx.executemany(self.q.delete_tag, [(arn, k) for k in keys])

    # == streams ===============================================================================
    async def stream(self, group_id: int, name: str) -> StreamRow | None:
        row = await self.store.fetchone(self.q.stream, (group_id, name))
        return StreamRow._make(row) if row else None

    async def create_stream(self, group_id: int, name: str, now_ms: int) -> bool:
        """False when the stream exists already."""
        return await self.store.fetchone(self.q.create_stream, (group_id, name, now_ms)) is not None

    async def delete_stream(self, group_id: int, stream_id: int) -> bool:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.stream_bytes, (stream_id,))
            freed = int(row[0]) if row else 0
            await tx.execute(self.q.remove_bytes, (freed, group_id))
            n = await tx.execute(self.q.delete_stream, (stream_id,))
            return n > 0

    async def list_streams(self, group_id: int, *, prefix: str | None, by_last_event: bool, descending: bool,
                           after: tuple[int, str] | None, limit: int) -> list[StreamRow]:
        """Streams by name, or by (last event time, name); ``after`` is the key of the previous page's last."""
        p = prefix or None
        if by_last_event:
            if descending:
                key = after if after is not None else (FOREVER, "")
                sql = self.q.streams_by_last_event_desc
            else:
                key = after if after is not None else (NEVER - 1, "")
                sql = self.q.streams_by_last_event
            params: list[Any] = [group_id, p, p, p, key[0], key[1], limit]
        else:
            name = after[1] if after is not None else None
            sql = self.q.streams_by_name_desc if descending else self.q.streams_by_name
            params = [group_id, p, p, p, name, name, limit]
        return [StreamRow._make(r) for r in await self.store.fetchall(sql, params)]

    # == writing events ========================================================================
    async def _add_bytes(self, tx: Tx, group_id: int, events: Sequence[Event]) -> None:
        total = sum(e[2] for e in events)
        if total:
            await tx.execute(self.q.add_bytes, (total, group_id))

    async def _touch(self, tx: Tx, stream_id: int, events: Sequence[Event], now_ms: int,
                     check: tuple[int, str] | None = None) -> int | None:
        """Update a stream's summary for new events; its new sequence number, or None if it is gone.

        ``check`` = (group_id, name) the stream must still have (cached ids may be stale)."""
        if events:
            lo = min(e[0] for e in events)
            hi = max(e[0] for e in events)
            params: list[Any] = [lo, lo, hi, hi, now_ms, stream_id]
            sql = self.q.touch_stream if check is None else self.q.touch_stream_if_named
        else:
            params = [stream_id]
            sql = self.q.upload_seq if check is None else self.q.upload_seq_if_named
        if check is not None:
            params += list(check)
        row = await tx.fetchone(sql, params)
        return None if row is None else int(row[0])

    async def _insert(self, tx: Tx, group_id: int, stream_id: int, events: Sequence[Event], now_ms: int) -> None:
        if events:
            await tx.executemany(self.q.insert_event, [(group_id, stream_id, ts, now_ms, size, self._text(msg))
                                                       for ts, msg, size in events])

    async def put(self, group_id: int, stream_id: int, events: Sequence[Event], now_ms: int,
                  then: Then | None = None) -> int | None:
        """PutLogEvents: the stream's new sequence number, or None (and nothing written) when the
        stream was deleted meanwhile."""
        try:
            async with self.store.transaction() as tx:
                await self._add_bytes(tx, group_id, events)
                seq = await self._touch(tx, stream_id, events, now_ms)
                if seq is None:
                    raise _Gone
                await self._insert(tx, group_id, stream_id, events, now_ms)
                if then is not None:
                    await then(tx)
                return seq
        except _Gone:
            return None

    async def append(self, account: str, region: str, group: str, stream: str, events: Sequence[Event],
                     now_ms: int, known: tuple[int, int] | None, then: Then | None = None) -> tuple[int, int]:
        """Write events, creating the group and stream when missing, in one transaction.

        ``known`` is (group_id, stream_id) from an earlier call: when both still name this group
        and stream, writing is three statements; otherwise the names are resolved (and created)
        again. Returns the ids used.
        """
        total = sum(e[2] for e in events)
        async with self.store.transaction() as tx:
            group_id = stream_id = None
            if known is not None:
                row = await tx.fetchone(self.q.add_bytes_if_named, (total, known[0], account, region, group))
                if row is not None:
                    group_id = known[0]
            if group_id is None:
                await tx.execute(self.q.ensure_group, (account, region, group, now_ms))
                row = await tx.fetchone(self.q.group_id, (account, region, group))
                assert row is not None
                group_id = int(row[0])
                await self._add_bytes(tx, group_id, events)
            if known is not None and known[0] == group_id and \
                    await self._touch(tx, known[1], events, now_ms, (group_id, stream)) is not None:
                stream_id = known[1]
            else:
                await tx.execute(self.q.ensure_stream, (group_id, stream, now_ms))
                row = await tx.fetchone(self.q.stream_id, (group_id, stream))
                assert row is not None
                stream_id = int(row[0])
                await self._touch(tx, stream_id, events, now_ms)
            await self._insert(tx, group_id, stream_id, events, now_ms)
            if then is not None:
                await then(tx)
            return group_id, stream_id

    # == reading events ========================================================================
    async def stream_events(self, stream_id: int, *, start: int, end: int, cutoff: int,
                            after: tuple[int, int] | None = None, before: tuple[int, int] | None = None,
                            ascending: bool = True, limit: int = 10_000) -> list[EventRow]:
        """Events of one stream with start <= ts < end and ts >= cutoff: oldest first strictly after
        ``after``, or newest first strictly before ``before``."""
        if ascending:
            if before is not None:
                raise ValueError("an ascending read takes 'after', not 'before'")
            pos = after if after is not None else (NEVER - 1, 0)
            sql = self.q.stream_events
        else:
            if after is not None:
                raise ValueError("a descending read takes 'before', not 'after'")
            pos = before if before is not None else (FOREVER, 0)
            sql = self.q.stream_events_desc
        # The index range starts at the position, not at the time range's far end (a page deep into a
        # stream must not step over every event before it): the time bounds are tightened to it.
        lo = max(start, cutoff, pos[0]) if ascending else max(start, cutoff)
        hi = end if ascending else min(end, pos[0] + 1)
        rows = await self.store.fetchall(sql, (stream_id, lo, hi, lo, pos[0], pos[1], limit))
        return [EventRow._make(r) for r in rows]

    async def group_events(self, group_id: int, *, stream_names: Sequence[str] | None = None,
                           stream_prefix: str | None = None, start: int, end: int, cutoff: int,
                           position: tuple[int, int] | None, ascending: bool, limit: int,
                           contains: Sequence[str] = ()) -> list[EventRow]:
        """Events of a group (all streams, or the named ones, or those with a prefix) with
        start <= ts <= end and ts >= cutoff, past ``position`` in the reading direction.

        ``contains`` are substrings every returned message has (a pre-filter on up to three of them;
        the caller still applies the full filter pattern).
        """
        slots: list[str | None] = list(contains[:_CONTAINS_SLOTS])
        slots += [None] * (_CONTAINS_SLOTS - len(slots))
        if position is None:
            position = (NEVER - 1, 0) if ascending else (FOREVER, 0)
        p = stream_prefix or None
        # The index range starts at the position (see stream_events): the time bounds are tightened to it.
        lo = max(start, cutoff, position[0]) if ascending else max(start, cutoff)
        hi = end if ascending else min(end, position[0])
        params: list[Any] = [group_id, lo, hi, lo, p, p, p]
        for text in slots:
            params += [text, text]
        params += list(position)
        if stream_names is not None:
            if not stream_names:
                return []
            name = "group_events_named" if ascending else "group_events_named_desc"
            sql = self.q.expand(name, len(stream_names))
            params += list(stream_names)
        else:
            sql = self.q.group_events if ascending else self.q.group_events_desc
        params.append(limit)
        return [EventRow._make(r) for r in await self.store.fetchall(sql, params)]

    # == retention =============================================================================
    async def groups_with_retention(self) -> list[tuple[int, int]]:
        """(id, retention_days) of every group whose events expire."""
        return [(int(r[0]), int(r[1])) for r in await self.store.fetchall(self.q.groups_with_retention)]

    async def delete_expired(self, group_id: int, cutoff: int, batch: int = 5000) -> int:
        """Delete up to ``batch`` events older than ``cutoff``; returns how many went."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(self.q.delete_expired, (group_id, cutoff, batch))
            if rows:
                await tx.execute(self.q.remove_bytes, (sum(int(r[0]) for r in rows), group_id))
            return len(rows)

