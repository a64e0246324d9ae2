"""The CloudWatch Logs repository: every SQL statement the logs service runs, for both dialects.

The service (``tsunagi.services.logs``) passes plain values and gets rows (tuples) back.
Events are ordered by ``(ts, id)``: ``id`` is the insertion order and breaks ties between equal
timestamps, so an event's position in a stream is the pair, and paging tokens carry it.

Locks are always taken group row first, then stream row (appends, stream deletion and group
deletion all follow that order), so that concurrent writers on PostgreSQL never deadlock.
PostgreSQL text cannot hold NUL characters: they are stored as U+FFFD there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tsunagi.store.base import Row, Store, Tx

GROUP_COLS = ("id, account, region, name, created_at, retention_days, kms_key_id, group_class, "
              "deletion_protection, stored_bytes")
STREAM_COLS = "id, name, created_at, first_event_at, last_event_at, last_ingestion_at, upload_seq"
# An event as reads return it.
EVENT_COLS = "e.id, s.name, e.ts, e.ingested_at, e.message, e.size"

NEVER = -(2 ** 62)      # a cutoff that excludes nothing
FOREVER = 2 ** 62

_INSERT_EVENT = ("INSERT INTO logs_events (group_id, stream_id, ts, ingested_at, size, message) "
                 "VALUES (?, ?, ?, ?, ?, ?)")

# Event = (timestamp_ms, message, utf8_size)
Event = tuple[int, str, int]


class _Gone(Exception):
    """Raised inside a transaction to roll it back: the stream was deleted meanwhile."""


class LogsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pg = store.dialect == "postgresql"
        least, greatest = ("LEAST", "GREATEST") if self.pg else ("min", "max")
        self._touch_stream = (
            f"UPDATE logs_streams SET first_event_at = {least}(COALESCE(first_event_at, ?), ?), "
            f"last_event_at = {greatest}(COALESCE(last_event_at, ?), ?), last_ingestion_at = ?, "
            "upload_seq = upload_seq + 1 WHERE id = ? RETURNING upload_seq")
        self._contains = "strpos({col}, ?) > 0" if self.pg else "instr({col}, ?) > 0"

    def _text(self, message: str) -> str:
        if self.pg and "\x00" in message:
            return message.replace("\x00", "\ufffd")
        return message

    # == groups ================================================================================
    async def group(self, account: str, region: str, name: str) -> Row | None:
        return await self.store.fetchone(
            f"SELECT {GROUP_COLS} FROM logs_groups WHERE account = ? AND region = ? AND name = ?",
            (account, region, name))

    async def create_group(self, account: str, region: str, name: str, now_ms: int, kms_key_id: str | None,
                           group_class: str, deletion_protection: bool, arn: str,
                           tags: dict[str, str]) -> bool:
        """False when a group of that name exists already."""
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO logs_groups (account, region, name, created_at, kms_key_id, group_class, "
                "deletion_protection) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (account, region, name) DO NOTHING RETURNING id",
                (account, region, name, now_ms, kms_key_id, group_class, int(deletion_protection)))
            if row is None:
                return False
            await tx.execute("DELETE FROM tags WHERE arn = ?", (arn,))
            if tags:
                await tx.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)",
                                     [(arn, k, v) for k, v in tags.items()])
            return True

    async def delete_group(self, group_id: int, arn: str) -> bool:
        async with self.store.transaction() as tx:
            n = await tx.execute("DELETE FROM logs_groups WHERE id = ?", (group_id,))
            await tx.execute("DELETE FROM tags WHERE arn = ?", (arn,))
            return n > 0

    async def list_groups(self, account: str, region: str, *, prefix: str | None = None,
                          contains: str | None = None, names: Sequence[str] | None = None,
                          after: str | None = None, limit: int = 50) -> list[Row]:
        """Groups in name order (ASCII), after ``after``; filtered by prefix, substring or exact names."""
        sql = [f"SELECT {GROUP_COLS} FROM logs_groups WHERE account = ? AND region = ?"]
        params: list[Any] = [account, region]
        if prefix:
            sql.append("AND substr(name, 1, ?) = ?")
            params += [len(prefix), prefix]
        if contains:
            sql.append("AND " + self._contains.format(col="name"))
            params.append(contains)
        if names is not None:
            if not names:
                return []
            sql.append(f"AND name IN ({', '.join('?' * len(names))})")
            params += list(names)
        if after is not None:
            sql.append("AND name > ?")
            params.append(after)
        sql.append("ORDER BY name LIMIT ?")
        params.append(limit)
        return await self.store.fetchall(" ".join(sql), params)

    async def set_retention(self, group_id: int, days: int | None) -> None:
        await self.store.execute("UPDATE logs_groups SET retention_days = ? WHERE id = ?", (days, group_id))

    async def set_protection(self, group_id: int, enabled: bool) -> None:
        await self.store.execute("UPDATE logs_groups SET deletion_protection = ? WHERE id = ?",
                                 (int(enabled), group_id))

    # == tags ==================================================================================
    async def tags(self, arn: str) -> dict[str, str]:
        rows = await self.store.fetchall("SELECT key, value FROM tags WHERE arn = ? ORDER BY key", (arn,))
        return {str(k): str(v) for k, v in rows}

    async def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        async with self.store.transaction() as tx:
            await tx.executemany(
                "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
                [(arn, k, v) for k, v in tags.items()])

    async def remove_tags(self, arn: str, keys: Sequence[str]) -> None:
        if keys:
            async with self.store.transaction() as tx:
                await tx.executemany("DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys])

    # == streams ===============================================================================
    async def stream(self, group_id: int, name: str) -> Row | None:
        return await self.store.fetchone(
            f"SELECT {STREAM_COLS} FROM logs_streams WHERE group_id = ? AND name = ?", (group_id, name))

    async def create_stream(self, group_id: int, name: str, now_ms: int) -> bool:
        """False when the stream exists already."""
        row = await self.store.fetchone(
            "INSERT INTO logs_streams (group_id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (group_id, name) DO NOTHING RETURNING id", (group_id, name, now_ms))
        return row is not None

    async def delete_stream(self, group_id: int, stream_id: int) -> bool:
        async with self.store.transaction() as tx:
            row = await tx.fetchone("SELECT COALESCE(SUM(size), 0) FROM logs_events WHERE stream_id = ?",
                                    (stream_id,))
            freed = int(row[0]) if row else 0
            await tx.execute("UPDATE logs_groups SET stored_bytes = stored_bytes - ? WHERE id = ?",
                             (freed, group_id))
            n = await tx.execute("DELETE FROM logs_streams WHERE id = ?", (stream_id,))
            return n > 0

    async def list_streams(self, group_id: int, *, prefix: str | None, by_last_event: bool, descending: bool,
                           after: tuple[int, str] | None, limit: int) -> list[Row]:
        """Streams by name, or by (last event time, name); ``after`` is the key of the previous page's last."""
        sql = [f"SELECT {STREAM_COLS} FROM logs_streams WHERE group_id = ?"]
        params: list[Any] = [group_id]
        if prefix:
            sql.append("AND substr(name, 1, ?) = ?")
            params += [len(prefix), prefix]
        cmp = "<" if descending else ">"
        direction = "DESC" if descending else "ASC"
        if by_last_event:
            if after is not None:
                sql.append(f"AND (COALESCE(last_event_at, {NEVER}), name) {cmp} (?, ?)")
                params += [after[0], after[1]]
            sql.append(f"ORDER BY COALESCE(last_event_at, {NEVER}) {direction}, name {direction}")
        else:
            if after is not None:
                sql.append(f"AND name {cmp} ?")
                params.append(after[1])
            sql.append(f"ORDER BY name {direction}")
        sql.append("LIMIT ?")
        params.append(limit)
        return await self.store.fetchall(" ".join(sql), params)

    # == writing events ========================================================================
    async def _add_bytes(self, tx: Tx, group_id: int, events: Sequence[Event]) -> None:
        total = sum(e[2] for e in events)
        if total:
            await tx.execute("UPDATE logs_groups SET stored_bytes = stored_bytes + ? WHERE id = ?",
                             (total, group_id))

    async def _touch(self, tx: Tx, stream_id: int, events: Sequence[Event], now_ms: int,
                     check: tuple[int, str] | None = None) -> int | None:
        """Update a stream's summary for new events; its new sequence number, or None if it is gone.

        ``check`` = (group_id, name) the stream must still have (cached ids may be stale)."""
        sql = self._touch_stream
        params: list[Any] = [0, 0, 0, 0, now_ms, stream_id]
        if events:
            lo = min(e[0] for e in events)
            hi = max(e[0] for e in events)
            params[:4] = [lo, lo, hi, hi]
        else:
            sql = "SELECT upload_seq FROM logs_streams WHERE id = ?"
            params = [stream_id]
        if check is not None:
            sql = sql.replace(" WHERE id = ?", " WHERE id = ? AND group_id = ? AND name = ?")
            params += list(check)
        row = await tx.fetchone(sql, params)
        return None if row is None else int(row[0])

    async def _insert(self, tx: Tx, group_id: int, stream_id: int, events: Sequence[Event], now_ms: int) -> None:
        if events:
            await tx.executemany(_INSERT_EVENT, [(group_id, stream_id, ts, now_ms, size, self._text(msg))
                                                 for ts, msg, size in events])

    async def put(self, group_id: int, stream_id: int, events: Sequence[Event], now_ms: int) -> int | None:
        """PutLogEvents: the stream's new sequence number, or None (and nothing written) when the
        stream was deleted meanwhile."""
        try:
            async with self.store.transaction() as tx:
                await self._add_bytes(tx, group_id, events)
                seq = await self._touch(tx, stream_id, events, now_ms)
                if seq is None:
                    raise _Gone
                await self._insert(tx, group_id, stream_id, events, now_ms)
                return seq
        except _Gone:
            return None

    async def append(self, account: str, region: str, group: str, stream: str, events: Sequence[Event],
                     now_ms: int, known: tuple[int, int] | None) -> tuple[int, int]:
        """Write events, creating the group and stream when missing, in one transaction.

        ``known`` is (group_id, stream_id) from an earlier call: when both still name this group
        and stream, writing is three statements; otherwise the names are resolved (and created)
        again. Returns the ids used.
        """
        total = sum(e[2] for e in events)
        async with self.store.transaction() as tx:
            group_id = stream_id = None
            if known is not None:
                row = await tx.fetchone(
                    "UPDATE logs_groups SET stored_bytes = stored_bytes + ? WHERE id = ? AND account = ? "
                    "AND region = ? AND name = ? RETURNING id", (total, known[0], account, region, group))
                if row is not None:
                    group_id = known[0]
            if group_id is None:
                await tx.execute(
                    "INSERT INTO logs_groups (account, region, name, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (account, region, name) DO NOTHING", (account, region, group, now_ms))
                row = await tx.fetchone(
                    "SELECT id FROM logs_groups WHERE account = ? AND region = ? AND name = ?",
                    (account, region, group))
                assert row is not None
                group_id = int(row[0])
                await self._add_bytes(tx, group_id, events)
            if known is not None and known[0] == group_id and \
                    await self._touch(tx, known[1], events, now_ms, (group_id, stream)) is not None:
                stream_id = known[1]
            else:
                await tx.execute(
                    "INSERT INTO logs_streams (group_id, name, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (group_id, name) DO NOTHING", (group_id, stream, now_ms))
                row = await tx.fetchone("SELECT id FROM logs_streams WHERE group_id = ? AND name = ?",
                                        (group_id, stream))
                assert row is not None
                stream_id = int(row[0])
                await self._touch(tx, stream_id, events, now_ms)
            await self._insert(tx, group_id, stream_id, events, now_ms)
            return group_id, stream_id

    # == reading events ========================================================================
    async def stream_events(self, stream_id: int, *, start: int, end: int, cutoff: int,
                            after: tuple[int, int] | None = None, before: tuple[int, int] | None = None,
                            ascending: bool = True, limit: int = 10_000) -> list[Row]:
        """Events of one stream with start <= ts < end and ts >= cutoff, strictly after/before a position."""
        sql = [f"SELECT {EVENT_COLS} FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id "
               "WHERE e.stream_id = ? AND e.ts >= ? AND e.ts < ? AND e.ts >= ?"]
        params: list[Any] = [stream_id, start, end, cutoff]
        if after is not None:
            sql.append("AND (e.ts, e.id) > (?, ?)")
            params += list(after)
        if before is not None:
            sql.append("AND (e.ts, e.id) < (?, ?)")
            params += list(before)
        direction = "ASC" if ascending else "DESC"
        sql.append(f"ORDER BY e.ts {direction}, e.id {direction} LIMIT ?")
        params.append(limit)
        return await self.store.fetchall(" ".join(sql), params)

    async def group_events(self, group_id: int, *, stream_names: Sequence[str] | None = None,
                           stream_prefix: str | None = None, start: int, end: int, cutoff: int,
                           position: tuple[int, int] | None, ascending: bool, limit: int,
                           contains: Sequence[str] = ()) -> list[Row]:
        """Events of a group (all streams, or the named ones, or those with a prefix) with
        start <= ts <= end and ts >= cutoff, past ``position`` in the reading direction.

        ``contains`` are substrings every returned message has (a pre-filter; the caller still
        applies the full filter pattern).
        """
        sql = [f"SELECT {EVENT_COLS} FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id "
               "WHERE e.group_id = ? AND e.ts >= ? AND e.ts <= ? AND e.ts >= ?"]
        params: list[Any] = [group_id, start, end, cutoff]
        if stream_names is not None:
            sql.append(f"AND s.name IN ({', '.join('?' * len(stream_names))})")
            params += list(stream_names)
        if stream_prefix:
            sql.append("AND substr(s.name, 1, ?) = ?")
            params += [len(stream_prefix), stream_prefix]
        for text in contains:
            sql.append("AND " + self._contains.format(col="e.message"))
            params.append(text)
        if position is not None:
            sql.append(f"AND (e.ts, e.id) {'>' if ascending else '<'} (?, ?)")
            params += list(position)
        direction = "ASC" if ascending else "DESC"
        sql.append(f"ORDER BY e.ts {direction}, e.id {direction} LIMIT ?")
        params.append(limit)
        return await self.store.fetchall(" ".join(sql), params)

    # == retention =============================================================================
    async def groups_with_retention(self) -> list[Row]:
        """(id, retention_days) of every group whose events expire."""
        return await self.store.fetchall(
            "SELECT id, retention_days FROM logs_groups WHERE retention_days IS NOT NULL ORDER BY id")

    async def delete_expired(self, group_id: int, cutoff: int, batch: int = 5000) -> int:
        """Delete up to ``batch`` events older than ``cutoff``; returns how many went."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                "DELETE FROM logs_events WHERE id IN (SELECT id FROM logs_events WHERE group_id = ? AND ts < ? "
                "ORDER BY ts LIMIT ?) RETURNING size", (group_id, cutoff, batch))
            if rows:
                await tx.execute("UPDATE logs_groups SET stored_bytes = stored_bytes - ? WHERE id = ?",
                                 (sum(int(r[0]) for r in rows), group_id))
            return len(rows)
