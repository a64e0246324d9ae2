"""The SQS repository: every SQL statement SQS runs, for both dialects.

The service (``tsunagi.services.sqs``) calls these methods with plain values and gets named rows
(:class:`QueueRow`, :class:`MessageRow` …) back; it never sees SQL.

Claiming messages is one statement: ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …``;
on PostgreSQL the inner select takes ``FOR UPDATE SKIP LOCKED`` so that receivers on several
servers never claim the same message. FIFO receives lock the queue's row first
(``FOR NO KEY UPDATE``, which does not block sends) so that a message group is handed to one
receiver at a time across servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from tsunagi.store.base import Row, Store, Tx

NOTIFY_CHANNEL = "sqs"          # payload: queue id (a message may be available)
META_CHANNEL = "sqs-meta"       # payload: queue id (its metadata changed or it was deleted)


class QueueRow(NamedTuple):
    """A queue as stored (``attributes`` and ``tags`` are JSON; times in seconds but ``purged_at``)."""

    id: int
    account: str
    region: str
    name: str
    arn: str
    fifo: int
    attributes: str
    tags: str
    dlq_arn: str | None
    created_at: int
    modified_at: int
    purged_at: int | None


QUEUE_COLS = ", ".join(QueueRow._fields)


class NewMessage(NamedTuple):
    """A message to insert (every column but ``queue_id``, which the insert takes apart)."""

    message_id: str
    body: str
    md5_body: str
    attrs: str | None               # message attributes (JSON)
    md5_attrs: str | None
    trace_header: str | None        # the AWSTraceHeader system attribute
    md5_sys: str | None
    sender_id: str
    sent_at: int
    retain_from: int
    visible_at: int
    group_id: str | None
    dedup_id: str | None
    fifo: int
    trace_id: str | None            # the journey the message belongs to
    sealed: bytes | None = None     # body and attributes encrypted at rest (body '' and attrs None then)


class MessageRow(NamedTuple):
    """A message as a receive claims it."""

    id: int
    message_id: str
    body: str
    md5_body: str
    attrs: str | None
    md5_attrs: str | None
    trace_header: str | None
    md5_sys: str | None
    sender_id: str
    sent_at: int
    receive_count: int
    first_receive_at: int | None
    group_id: str | None
    dedup_id: str | None
    dlq_source: str | None
    retain_from: int
    receipt: int
    fifo: int
    seq: int | None
    trace_id: str | None
    sealed: bytes | None


MSG_COLS = ", ".join(MessageRow._fields)


class MessageState(NamedTuple):
    """What a receipt handle's checks read of one message."""

    queue_id: int
    receipt: int
    visible_at: int
    received_at: int | None
    fifo: int
    group_id: str | None


class ReceiveAttempt(NamedTuple):
    """A FIFO ReceiveRequestAttemptId seen lately: its receive's nonce and the message row ids (JSON)."""

    receipt: int
    ids: str


class DeadLetterSource(NamedTuple):
    account: str
    name: str


class MoveTaskRow(NamedTuple):
    handle: str
    source_arn: str
    dest_arn: str | None
    rate: int | None
    status: str
    moved: int
    to_move: int | None
    failure: str | None
    started_at: int


_MOVE_TASK_COLS = ", ".join(MoveTaskRow._fields)

_INSERT_HEAD = f"INSERT INTO sqs_messages (queue_id, {', '.join(NewMessage._fields)}) VALUES "
_ROW_MARKS = "(" + ", ".join("?" * (len(NewMessage._fields) + 1)) + ")"
_INSERT_MSG = _INSERT_HEAD + _ROW_MARKS
_ROWS_PER_STATEMENT = 500    # 17 values a row: well inside SQLite's 32,766 and PostgreSQL's 65,535 parameters


class SqsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pg = store.dialect == "postgresql"
        skip = " FOR UPDATE SKIP LOCKED" if self.pg else ""
        self._claim_sql = (
            "UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1, "
            "first_receive_at = COALESCE(first_receive_at, ?), receipt = ?, received_at = ? "
            "WHERE id IN (SELECT id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? "
            f"ORDER BY visible_at, id LIMIT ?{skip}) RETURNING {MSG_COLS}")
        self._claim_ids_sql: dict[int, str] = {}
        self._insert_rows_sql: dict[int, str] = {}
        self._move_sql = (
            "SELECT id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? "
            f"ORDER BY visible_at, id LIMIT ?{skip}")

    # == queues ================================================================================
    async def queue_by_name(self, account: str, region: str, name: str) -> QueueRow | None:
        row = await self.store.fetchone(
            f"SELECT {QUEUE_COLS} FROM sqs_queues WHERE account = ? AND region = ? AND name = ?",
            (account, region, name))
        return QueueRow(*row) if row is not None else None

    async def queue_by_id(self, queue_id: int) -> QueueRow | None:
        row = await self.store.fetchone(f"SELECT {QUEUE_COLS} FROM sqs_queues WHERE id = ?", (queue_id,))
        return QueueRow(*row) if row is not None else None

    async def queue_by_arn(self, arn: str) -> QueueRow | None:
        row = await self.store.fetchone(f"SELECT {QUEUE_COLS} FROM sqs_queues WHERE arn = ?", (arn,))
        return QueueRow(*row) if row is not None else None

    async def list_queues(self, account: str, region: str, prefix: str, after: str, limit: int) -> list[str]:
        """Names of an account's queues in a region, in order, from ``prefix`` and after ``after``."""
        rows = await self.store.fetchall(
            "SELECT name FROM sqs_queues WHERE account = ? AND region = ? AND name >= ? AND name > ? "
            "ORDER BY name LIMIT ?", (account, region, prefix, after, limit))
        return [str(r[0]) for r in rows]

    async def deleted_at(self, account: str, region: str, name: str) -> int | None:
        row = await self.store.fetchone(
            "SELECT deleted_at FROM sqs_deleted_queues WHERE account = ? AND region = ? AND name = ?",
            (account, region, name))
        return row[0] if row else None

    async def create_queue(self, account: str, region: str, name: str, arn: str, fifo: bool, attributes: str,
                           tags: str, dlq_arn: str | None, now_s: int) -> int:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO sqs_queues (account, region, name, arn, fifo, attributes, tags, dlq_arn, created_at, "
                "modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (account, region, name, arn, int(fifo), attributes, tags, dlq_arn, now_s, now_s))
            await tx.execute("DELETE FROM sqs_deleted_queues WHERE account = ? AND region = ? AND name = ?",
                             (account, region, name))
            assert row is not None
            return int(row[0])

    async def delete_queue(self, queue_id: int, account: str, region: str, name: str, now_ms: int) -> bool:
        async with self.store.transaction() as tx:
            n = await tx.execute("DELETE FROM sqs_queues WHERE id = ?", (queue_id,))
            if n:
                await tx.execute(
                    "INSERT INTO sqs_deleted_queues (account, region, name, deleted_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (account, region, name) DO UPDATE SET deleted_at = excluded.deleted_at",
                    (account, region, name, now_ms))
            tx.notify(META_CHANNEL, str(queue_id))
            tx.notify(NOTIFY_CHANNEL, str(queue_id))
            return n > 0

    async def update_queue(self, queue_id: int, attributes: str, dlq_arn: str | None, now_s: int) -> None:
        async with self.store.transaction() as tx:
            await tx.execute("UPDATE sqs_queues SET attributes = ?, dlq_arn = ?, modified_at = ? WHERE id = ?",
                             (attributes, dlq_arn, now_s, queue_id))
            tx.notify(META_CHANNEL, str(queue_id))

    async def update_tags(self, queue_id: int, tags: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute("UPDATE sqs_queues SET tags = ? WHERE id = ?", (tags, queue_id))
            tx.notify(META_CHANNEL, str(queue_id))

    async def dead_letter_sources(self, dlq_arn: str, after: str, limit: int) -> list[DeadLetterSource]:
        rows = await self.store.fetchall(
            "SELECT account, name FROM sqs_queues WHERE dlq_arn = ? AND name > ? ORDER BY name LIMIT ?",
            (dlq_arn, after, limit))
        return [DeadLetterSource(*r) for r in rows]

    async def purge(self, queue_id: int, now_ms: int, window_ms: int) -> bool:
        """Delete the messages sent until now, unless a purge ran within the window; False if one did."""
        async with self.store.transaction() as tx:
            n = await tx.execute(
                "UPDATE sqs_queues SET purged_at = ? WHERE id = ? AND (purged_at IS NULL OR purged_at <= ?)",
                (now_ms, queue_id, now_ms - window_ms))
            if not n:
                return False
            await tx.execute("DELETE FROM sqs_messages WHERE queue_id = ? AND sent_at <= ?", (queue_id, now_ms))
            await tx.execute("DELETE FROM sqs_receive_attempts WHERE queue_id = ?", (queue_id,))
            return True

    async def counts(self, queue_id: int, now_ms: int, retain_after: int) -> tuple[int, int, int]:
        """(visible, in flight, delayed), leaving out expired messages."""
        row = await self.store.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN visible_at > ? AND receive_count > 0 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN visible_at > ? AND receive_count = 0 THEN 1 ELSE 0 END), 0) "
            "FROM sqs_messages WHERE queue_id = ? AND retain_from > ?",
            (now_ms, now_ms, now_ms, queue_id, retain_after))
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    # == sending ===============================================================================
    async def insert(self, queue_id: int, row: NewMessage) -> None:
        """One standard message (``row`` is the insert's values after queue_id)."""
        if self.pg:
            async with self.store.transaction() as tx:
                await tx.execute(_INSERT_MSG, (queue_id, *row))
                tx.notify(NOTIFY_CHANNEL, str(queue_id))
        else:
            await self.store.execute(_INSERT_MSG, (queue_id, *row))

    async def insert_in(self, tx: Tx, queue_id: int, row: NewMessage) -> None:
        """One standard message inside the caller's transaction (SNS fan-out commits with its publish)."""
        await tx.execute(_INSERT_MSG, (queue_id, *row))

    async def insert_rows_in(self, tx: Tx, rows: Sequence[tuple[int, NewMessage]]) -> None:
        """Standard messages for several queues, ``(queue_id, row)`` in receive order, inside the
        caller's transaction: one statement per ``_ROWS_PER_STATEMENT`` rows (SNS fan-out)."""
        for at in range(0, len(rows), _ROWS_PER_STATEMENT):
            part = rows[at:at + _ROWS_PER_STATEMENT]
            sql = self._insert_rows_sql.get(len(part))
            if sql is None:
                sql = self._insert_rows_sql[len(part)] = _INSERT_HEAD + ", ".join([_ROW_MARKS] * len(part))
            await tx.execute(sql, [v for queue_id, r in part for v in (queue_id, *r)])

    async def insert_many(self, queue_id: int, rows: Sequence[NewMessage]) -> None:
        """Standard messages in one statement (rows in receive order): a statement is atomic by
        itself, so SQLite needs no transaction of its own around it."""
        sql = self._insert_rows_sql.get(len(rows))
        if sql is None:
            sql = self._insert_rows_sql[len(rows)] = _INSERT_HEAD + ", ".join([_ROW_MARKS] * len(rows))
        params = [v for r in rows for v in (queue_id, *r)]
        if self.pg:
            async with self.store.transaction() as tx:
                await tx.execute(sql, params)
                tx.notify(NOTIFY_CHANNEL, str(queue_id))
        else:
            await self.store.execute(sql, params)

    async def insert_fifo(self, tx: Tx, queue_id: int, row: NewMessage) -> int:
        """One FIFO message inside ``tx``; returns its sequence number (monotonic, never reused)."""
        out = await tx.fetchone(_INSERT_MSG + " RETURNING id", (queue_id, *row))
        assert out is not None
        if self.pg:
            seq = int(out[0])
            tx.notify(NOTIFY_CHANNEL, str(queue_id))
        else:
            counter = await tx.fetchone(
                "INSERT INTO sqs_counters (name, value) VALUES ('fifo_seq', 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value")
            assert counter is not None
            seq = int(counter[0])
        await tx.execute("UPDATE sqs_messages SET seq = ? WHERE id = ?", (seq, out[0]))
        return seq

    async def claim_dedup(self, tx: Tx, queue_id: int, scope: str, dedup_id: str, message_id: str,
                          now_ms: int, window_ms: int) -> tuple[str, int] | None:
        """Reserve a deduplication id; returns the original (message_id, seq) when it is a duplicate."""
        n = await tx.execute(
            "INSERT INTO sqs_dedup (queue_id, scope, dedup_id, message_id, seq, created_at) VALUES (?, ?, ?, ?, 0, ?) "
            "ON CONFLICT (queue_id, scope, dedup_id) DO UPDATE SET message_id = excluded.message_id, seq = 0, "
            "created_at = excluded.created_at WHERE sqs_dedup.created_at <= ?",
            (queue_id, scope, dedup_id, message_id, now_ms, now_ms - window_ms))
        if n:
            return None
        row = await tx.fetchone(
            "SELECT message_id, seq FROM sqs_dedup WHERE queue_id = ? AND scope = ? AND dedup_id = ?",
            (queue_id, scope, dedup_id))
        assert row is not None
        return str(row[0]), int(row[1])

    async def set_dedup_seq(self, tx: Tx, queue_id: int, scope: str, dedup_id: str, seq: int) -> None:
        await tx.execute("UPDATE sqs_dedup SET seq = ? WHERE queue_id = ? AND scope = ? AND dedup_id = ?",
                         (seq, queue_id, scope, dedup_id))

    # == receiving =============================================================================
    async def claim(self, tx: Tx | Store, queue_id: int, now_ms: int, visible_at: int, receipt: int,
                    limit: int) -> list[MessageRow]:
        """Standard queue: claim up to ``limit`` visible messages, oldest first."""
        rows = await tx.fetchall(self._claim_sql,
                                 (visible_at, now_ms, receipt, now_ms, queue_id, now_ms, limit))
        return _messages(rows)

    async def lock_queue(self, tx: Tx, queue_id: int) -> None:
        """Serialize FIFO receives of one queue across servers (SQLite transactions already are)."""
        if self.pg:
            await tx.fetchone("SELECT id FROM sqs_queues WHERE id = ? FOR NO KEY UPDATE", (queue_id,))

    async def fifo_candidates(self, tx: Tx, queue_id: int, now_ms: int, limit: int) -> list[int]:
        """FIFO: row ids of visible messages whose group has nothing in flight, in sequence order."""
        rows = await tx.fetchall(
            "SELECT id, group_id FROM sqs_messages WHERE queue_id = ? AND fifo = 1 AND visible_at <= ? "
            "AND group_id NOT IN (SELECT group_id FROM sqs_messages WHERE queue_id = ? AND visible_at > ? "
            "AND receive_count > 0 AND group_id IS NOT NULL) ORDER BY id LIMIT ?",
            (queue_id, now_ms, queue_id, now_ms, limit))
        return [int(r[0]) for r in rows]

    async def claim_ids(self, tx: Tx, ids: Sequence[int], now_ms: int, visible_at: int,
                        receipt: int) -> list[MessageRow]:
        sql = self._claim_ids_sql.get(len(ids))
        if sql is None:
            marks = ", ".join("?" * len(ids))
            sql = self._claim_ids_sql[len(ids)] = (
                "UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1, "
                "first_receive_at = COALESCE(first_receive_at, ?), receipt = ?, received_at = ? "
                f"WHERE id IN ({marks}) RETURNING {MSG_COLS}")
        rows = await tx.fetchall(sql, (visible_at, now_ms, receipt, now_ms, *ids))
        return _messages(rows)

    async def reclaim(self, tx: Tx, queue_id: int, ids: Sequence[int], receipt: int,
                      visible_at: int) -> list[MessageRow]:
        """A retried FIFO receive: the same messages again, if still held by that receive."""
        marks = ", ".join("?" * len(ids))
        rows = await tx.fetchall(
            f"UPDATE sqs_messages SET visible_at = ? WHERE queue_id = ? AND receipt = ? AND id IN ({marks}) "
            f"RETURNING {MSG_COLS}", (visible_at, queue_id, receipt, *ids))
        return _messages(rows)

    async def receive_attempt(self, tx: Tx, queue_id: int, attempt_id: str, since_ms: int) -> ReceiveAttempt | None:
        row = await tx.fetchone(
            "SELECT receipt, ids FROM sqs_receive_attempts WHERE queue_id = ? AND attempt_id = ? AND created_at > ?",
            (queue_id, attempt_id, since_ms))
        return ReceiveAttempt(int(row[0]), row[1]) if row is not None else None

    async def save_receive_attempt(self, tx: Tx, queue_id: int, attempt_id: str, now_ms: int, receipt: int,
                                   ids: str) -> None:
        await tx.execute(
            "INSERT INTO sqs_receive_attempts (queue_id, attempt_id, created_at, receipt, ids) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (queue_id, attempt_id) DO UPDATE SET created_at = excluded.created_at, "
            "receipt = excluded.receipt, ids = excluded.ids", (queue_id, attempt_id, now_ms, receipt, ids))

    async def delete_ids(self, tx: Tx | Store, ids: Sequence[int]) -> None:
        """Delete rows just read (their ids are current)."""
        marks = ", ".join("?" * len(ids))
        await tx.execute(f"DELETE FROM sqs_messages WHERE id IN ({marks})", tuple(ids))

    async def delete_handles(self, tx: Tx | Store, queue_id: int, handles: Sequence[tuple[int, str]]) -> None:
        """Delete by (row id, message id) pairs from receipt handles: a row id alone may have been reused.
        Message ids are unique, so matching both lists picks exactly these messages (``queue_id`` was
        checked against the handles already; leaving it out keeps SQLite on the rowid lookup)."""
        marks = ", ".join("?" * len(handles))
        await tx.execute(f"DELETE FROM sqs_messages WHERE id IN ({marks}) AND message_id IN ({marks})",
                         (*(h[0] for h in handles), *(h[1] for h in handles)))

    async def move_to_dlq(self, tx: Tx, ids: Sequence[int], dlq_id: int, now_ms: int, source_arn: str,
                          reset_retention: bool) -> None:
        """Move messages that exceeded maxReceiveCount; they keep id, body, attributes and SentTimestamp."""
        marks = ", ".join("?" * len(ids))
        retain = "?" if reset_retention else "retain_from"
        params: tuple[Any, ...] = (dlq_id, now_ms, source_arn)
        if reset_retention:
            params += (now_ms,)
        await tx.execute(
            f"UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receipt = 0, received_at = NULL, "
            f"receive_count = receive_count - 1, dlq_source = ?, retain_from = {retain} WHERE id IN ({marks})",
            (*params, *ids))
        tx.notify(NOTIFY_CHANNEL, str(dlq_id))

    async def next_visible(self, queue_id: int, now_ms: int) -> int | None:
        """When the next hidden (delayed or in-flight) message of a queue becomes visible."""
        row = await self.store.fetchone(
            "SELECT visible_at FROM sqs_messages WHERE queue_id = ? AND visible_at > ? ORDER BY visible_at LIMIT 1",
            (queue_id, now_ms))
        return int(row[0]) if row else None

    # == after receiving =======================================================================
    async def message_state(self, tx: Tx | Store, row_id: int, message_id: str) -> MessageState | None:
        row = await tx.fetchone(
            "SELECT queue_id, receipt, visible_at, received_at, fifo, group_id FROM sqs_messages "
            "WHERE id = ? AND message_id = ?", (row_id, message_id))
        return MessageState(*row) if row is not None else None

    async def delete_message(self, tx: Tx | Store, queue_id: int, row_id: int, message_id: str) -> int:
        return await tx.execute("DELETE FROM sqs_messages WHERE id = ? AND queue_id = ? AND message_id = ?",
                                (row_id, queue_id, message_id))

    async def delete_message_if(self, tx: Tx | Store, queue_id: int, row_id: int, receipt: int,
                                now_ms: int) -> int:
        """FIFO: delete only if this receive still holds the message (the nonce identifies the message)."""
        return await tx.execute(
            "DELETE FROM sqs_messages WHERE id = ? AND queue_id = ? AND receipt = ? AND visible_at > ?",
            (row_id, queue_id, receipt, now_ms))

    async def set_visibility(self, tx: Tx | Store, row_id: int, receipt: int, visible_at: int) -> int:
        return await tx.execute("UPDATE sqs_messages SET visible_at = ? WHERE id = ? AND receipt = ?",
                                (visible_at, row_id, receipt))

    def notify(self, tx: Tx, queue_id: int) -> None:
        """Wake long polls on other servers once ``tx`` commits (this server wakes its own)."""
        if self.pg:
            tx.notify(NOTIFY_CHANNEL, str(queue_id))

    # == SSE-SQS ================================================================================
    async def owned_key(self, name: str, candidate: bytes) -> bytes:
        """The SQS-owned key called ``name``; ``candidate`` is stored first if there is none yet
        (several servers racing agree on whichever insert won)."""
        await self.store.execute("INSERT INTO sqs_keys (name, material) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                                 (name, candidate))
        row = await self.store.fetchone("SELECT material FROM sqs_keys WHERE name = ?", (name,))
        assert row is not None
        return bytes(row[0])

    # == maintenance ===========================================================================
    async def expire(self, queue_id: int, retain_after: int, now_ms: int, limit: int = 1000) -> int:
        """Delete expired messages from the head of a queue (the oldest visible ones)."""
        rows = await self.store.fetchall(
            "SELECT id, retain_from FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? "
            "ORDER BY visible_at, id LIMIT ?", (queue_id, now_ms, limit))
        ids = [r[0] for r in rows if r[1] <= retain_after]
        if ids:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ", ".join("?" * len(chunk))
                await self.store.execute(f"DELETE FROM sqs_messages WHERE id IN ({marks})", tuple(chunk))
        return len(ids)

    async def all_queues(self) -> list[QueueRow]:
        return [QueueRow(*r) for r in await self.store.fetchall(f"SELECT {QUEUE_COLS} FROM sqs_queues")]

    async def sweep_dedup(self, before_ms: int) -> None:
        await self.store.execute("DELETE FROM sqs_dedup WHERE created_at <= ?", (before_ms,))
        await self.store.execute("DELETE FROM sqs_receive_attempts WHERE created_at <= ?", (before_ms,))

    # == message move tasks ====================================================================
    async def create_move_task(self, handle: str, account: str, region: str, source_arn: str,
                               dest_arn: str | None, rate: int | None, to_move: int, now_ms: int) -> bool:
        """Insert a RUNNING task unless one is already running for the source; False if one is."""
        async with self.store.transaction() as tx:
            if self.pg:
                await tx.fetchone("SELECT pg_advisory_xact_lock(hashtext(?))", (source_arn,))
            running = await tx.fetchone(
                "SELECT handle FROM sqs_move_tasks WHERE source_arn = ? AND status IN ('RUNNING', 'CANCELLING')",
                (source_arn,))
            if running:
                return False
            await tx.execute(
                "INSERT INTO sqs_move_tasks (handle, account, region, source_arn, dest_arn, rate, status, moved, "
                "to_move, started_at) VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', 0, ?, ?)",
                (handle, account, region, source_arn, dest_arn, rate, to_move, now_ms))
            return True

    async def move_task(self, handle: str) -> MoveTaskRow | None:
        row = await self.store.fetchone(f"SELECT {_MOVE_TASK_COLS} FROM sqs_move_tasks WHERE handle = ?", (handle,))
        return MoveTaskRow(*row) if row is not None else None

    async def move_tasks(self, source_arn: str, limit: int) -> list[MoveTaskRow]:
        rows = await self.store.fetchall(
            f"SELECT {_MOVE_TASK_COLS} FROM sqs_move_tasks WHERE source_arn = ? ORDER BY started_at DESC LIMIT ?",
            (source_arn, limit))
        return [MoveTaskRow(*r) for r in rows]

    async def running_move_tasks(self) -> list[str]:
        """Handles of the tasks running or being cancelled."""
        rows = await self.store.fetchall(
            "SELECT handle FROM sqs_move_tasks WHERE status IN ('RUNNING', 'CANCELLING')")
        return [str(r[0]) for r in rows]

    async def set_move_task_status(self, handle: str, status: str, failure: str | None = None,
                                   only_if: tuple[str, ...] = ()) -> int:
        if only_if:
            marks = ", ".join("?" * len(only_if))
            return await self.store.execute(
                f"UPDATE sqs_move_tasks SET status = ?, failure = ? WHERE handle = ? AND status IN ({marks})",
                (status, failure, handle, *only_if))
        return await self.store.execute("UPDATE sqs_move_tasks SET status = ?, failure = ? WHERE handle = ?",
                                        (status, failure, handle))

    async def move_batch(self, handle: str, source_id: int, dest_ids: dict[str, int] | int, now_ms: int,
                         limit: int, reset_retention: dict[int, bool]) -> int:
        """Move up to ``limit`` visible messages out of a DLQ; ``dest_ids`` is one queue id, or a map
        from each message's source ARN to its queue id. Returns how many moved (0: nothing left)."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT m.id, m.dlq_source FROM sqs_messages m WHERE m.id IN (" + self._move_sql + ")",
                (source_id, now_ms, limit))
            if not rows:
                return 0
            by_dest: dict[int, list[int]] = {}
            for row_id, src in rows:
                dest = dest_ids if isinstance(dest_ids, int) else dest_ids.get(src or "")
                if dest is None:
                    continue
                by_dest.setdefault(dest, []).append(row_id)
            moved = 0
            for dest, ids in by_dest.items():
                marks = ", ".join("?" * len(ids))
                retain = "?, " if reset_retention.get(dest) else ""
                params: tuple[Any, ...] = (dest, now_ms) + ((now_ms,) if retain else ())
                await tx.execute(
                    "UPDATE sqs_messages SET queue_id = ?, visible_at = ?, "
                    + ("retain_from = " + retain if retain else "")
                    + "receive_count = 0, first_receive_at = NULL, receipt = 0, received_at = NULL, dlq_source = NULL "
                    f"WHERE id IN ({marks})", (*params, *ids))
                tx.notify(NOTIFY_CHANNEL, str(dest))
                moved += len(ids)
            if moved:
                await tx.execute("UPDATE sqs_move_tasks SET moved = moved + ? WHERE handle = ?", (moved, handle))
            return moved if moved else -len(rows)


def _messages(rows: list[Row]) -> list[MessageRow]:
    """Claimed rows as :class:`MessageRow`, in receive order (RETURNING gives no order)."""
    out = [MessageRow(*r) for r in rows]
    out.sort(key=_by_id)
    return out


def _by_id(row: MessageRow) -> int:
    return row.id
