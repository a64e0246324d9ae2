"""The SQS repository: every statement SQS runs, named in ``store/queries/<dialect>/sqs.sql``.

The service (``tsunagi.services.sqs``) calls these methods with plain values and gets named rows
(:class:`QueueRow`, :class:`MessageRow` …) back; it never sees SQL.

Claiming messages is one statement: ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …``;
on PostgreSQL the inner select takes ``FOR UPDATE SKIP LOCKED`` so that receivers on several
servers never claim the same message. FIFO receives lock the queue's row first
(``FOR NO KEY UPDATE``, which does not block sends) so that a message group is handed to one
receiver at a time across servers.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Sequence
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import ConstraintViolation, Row, Store, StoreError, Tx

NOTIFY_CHANNEL = "sqs"          # payload: queue id (messages may be available), see sent_note


def sent_note(queue_id: int, count: int) -> str:
    """The payload telling other servers that a statement sent ``count`` messages to ``queue_id``: the
    queue id, followed by ``:1`` when it was exactly one (a poll woken by it looks once and wakes no
    other; with more, or with no count, the woken poll wakes the next while it fills whole batches)."""
    return f"{queue_id}:1" if count == 1 else str(queue_id)
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


QUEUE_COLS = ", ".join(QueueRow._fields)      # the column lists queries/*/sqs.sql read, in these orders

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
    retain_from: int


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


_NO_EXTRAS = (None, None, None, None)   # a NewMessage's attrs, md5_attrs, trace_header, md5_sys (row[3:7]) ...
_UNGROUPED = (None, None, 0)            # ... and group_id, dedup_id, fifo (row[11:14]) in the usual message
_ROWS_PER_STATEMENT = 500    # 17 values a row: well inside SQLite's 32,766 and PostgreSQL's 65,535 parameters
_GROUP_ROWS = 200            # a shared store's send group is flushed at this many rows at the latest


class _SendGroup:
    """Sends made in one turn of the event loop, inserted together (a shared store): each member's rows
    with its queue, whether the other servers must hear of it, and the future it waits on."""

    __slots__ = ("loop", "members", "rows")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop        # (asked for once a group: in Python 3.11 that is a getpid system call)
        self.members: list[tuple[int, Sequence[NewMessage], bool, asyncio.Future[None]]] = []
        self.rows = 0


class SqsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.shared = store.shared          # other servers on this database: tell them, lock across them
        self.q = queries.load("sqs", store.dialect)
        self._insert_one = self.q.expand("insert_messages", 1)     # every SendMessage
        self._insert_plain_one = self.q.expand("insert_plain_messages", 1)
        self._insert_sealed_one = self.q.expand("insert_sealed_messages", 1)
        self._group: _SendGroup | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    # == queues ================================================================================
    async def queue_by_name(self, account: str, region: str, name: str) -> QueueRow | None:
        row = await self.store.fetchone(self.q.queue_by_name, (account, region, name))
        return QueueRow(*row) if row is not None else None

    async def queue_regions_by_name(self, account: str, name: str) -> list[str]:
        rows = await self.store.fetchall(self.q.queue_regions_by_name, (account, name))
        return [str(r[0]) for r in rows]

    async def queue_by_id(self, queue_id: int) -> QueueRow | None:
        row = await self.store.fetchone(self.q.queue_by_id, (queue_id,))
        return QueueRow(*row) if row is not None else None

    async def queue_by_arn(self, arn: str) -> QueueRow | None:
        row = await self.store.fetchone(self.q.queue_by_arn, (arn,))
        return QueueRow(*row) if row is not None else None

    async def list_queues(self, account: str, region: str, prefix: str, after: str, limit: int) -> list[str]:
        """Names of an account's queues in a region, in order, from ``prefix`` and after ``after``."""
        rows = await self.store.fetchall(self.q.list_queues, (account, region, prefix, after, limit))
        return [str(r[0]) for r in rows]

    async def deleted_at(self, account: str, region: str, name: str) -> int | None:
        row = await self.store.fetchone(self.q.deleted_at, (account, region, name))
        return int(row[0]) if row else None

    async def create_queue(self, account: str, region: str, name: str, arn: str, fifo: bool, attributes: str,
                           tags: str, dlq_arn: str | None, now_s: int) -> int:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.create_queue, (account, region, name, arn, int(fifo), attributes, tags,
                                                          dlq_arn, now_s, now_s))
            await tx.execute(self.q.forget_deleted, (account, region, name))
            assert row is not None
            return int(row[0])

    async def delete_queue(self, queue_id: int, account: str, region: str, name: str, now_ms: int) -> bool:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_queue, (queue_id,))
            if n:
                await tx.execute(self.q.remember_deleted, (account, region, name, now_ms))
            tx.notify(META_CHANNEL, str(queue_id))
            tx.notify(NOTIFY_CHANNEL, str(queue_id))
            return n > 0

    async def update_queue(self, queue_id: int, attributes: str, dlq_arn: str | None, now_s: int) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.update_queue, (attributes, dlq_arn, now_s, queue_id))
            tx.notify(META_CHANNEL, str(queue_id))

    async def update_tags(self, queue_id: int, tags: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.update_tags, (tags, queue_id))
            tx.notify(META_CHANNEL, str(queue_id))

    async def dead_letter_sources(self, dlq_arn: str, after: str, limit: int) -> list[DeadLetterSource]:
        rows = await self.store.fetchall(self.q.dead_letter_sources, (dlq_arn, after, limit))
        return [DeadLetterSource(*r) for r in rows]

    async def purge(self, queue_id: int, now_ms: int, window_ms: int) -> bool:
        """Delete the messages sent until now, unless a purge ran within the window; False if one did."""
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.mark_purged, (now_ms, queue_id, now_ms - window_ms))
            if not n:
                return False
            await tx.execute(self.q.purge_messages, (queue_id, now_ms))
            await tx.execute(self.q.purge_attempts, (queue_id,))
            await tx.execute(self.q.purge_dedup, (queue_id,))
            return True

    async def counts(self, queue_id: int, now_ms: int, retain_after: int) -> tuple[int, int, int]:
        """(visible, in flight, delayed), leaving out expired messages."""
        row = await self.store.fetchone(self.q.counts, (now_ms, now_ms, now_ms, queue_id, retain_after))
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def oldest(self, queue_id: int, retain_after: int) -> int | None:
        """When the oldest retained message was sent (ms), or None for an empty queue."""
        row = await self.store.fetchone(self.q.oldest, (queue_id, retain_after))
        return int(row[0]) if row is not None and row[0] is not None else None

    # == sending ===============================================================================
    async def insert(self, queue_id: int, row: NewMessage, tell_others: bool = True) -> None:
        """One standard message, in one statement (atomic by itself). On a shared store with
        ``tell_others``, the same statement notifies the other servers that have long polls waiting
        on the queue (none waiting: no notification); and the sends of one turn of the event loop share
        that statement (:meth:`_grouped`)."""
        if self.shared:
            await self._grouped(queue_id, (row,), tell_others)
        elif row[3:7] == _NO_EXTRAS and row[11:14] == _UNGROUPED:     # (_lean, for one row)
            sealed = row[15]
            if sealed is None:
                await self.store.execute(self._insert_plain_one, (queue_id, row[0], row[1], row[2], row[7], row[8],
                                                                  row[9], row[10], row[14]))
            else:
                await self.store.execute(self._insert_sealed_one, (queue_id, row[0], row[2], row[7], row[8], row[9],
                                                                   row[10], row[14], bytearray(sealed)))
        else:
            await self.store.execute(self._insert_one, (queue_id, *row))

    def _lean(self, pairs: Sequence[tuple[int, NewMessage]]) -> tuple[str, list[object]] | None:
        """The statement and parameters that insert ``pairs`` (queue id, row) without binding NULLs, when
        every row is a standard message without message or system attributes, trace header or group id,
        all sealed or none (``insert_plain_messages``, ``insert_sealed_messages``); None for any other
        mix. On SQLite a NULL or bytes parameter costs the driver an adapter lookup (a bytearray does
        not), and most messages are of this shape: a message binds 9 parameters instead of 17."""
        sealed = pairs[0][1][15] is not None
        params: list[object] = []
        add = params.extend
        for queue_id, r in pairs:
            blob = r[15]
            if r[3:7] != _NO_EXTRAS or r[11:14] != _UNGROUPED or (blob is not None) is not sealed:
                return None
            if blob is not None:
                add((queue_id, r[0], r[2], r[7], r[8], r[9], r[10], r[14], bytearray(blob)))
            else:
                add((queue_id, r[0], r[1], r[2], r[7], r[8], r[9], r[10], r[14]))
        return self.q.expand("insert_sealed_messages" if sealed else "insert_plain_messages", len(pairs)), params

    async def _grouped(self, queue_id: int, rows: Sequence[NewMessage], tell_others: bool) -> None:
        """Insert ``rows`` with the other sends of this turn of the loop in one statement (on a server
        talking to PostgreSQL, most of a send's cost is the driver's work per statement). The caller
        returns once the statement that holds its rows has committed; when it fails on a constraint
        (a queue deleted meanwhile), each member's rows are inserted alone so that only the sends to
        that queue fail."""
        group = self._group
        if group is None or group.rows + len(rows) > _GROUP_ROWS:
            group = self._group = _SendGroup(asyncio.get_running_loop())
            self._start_flush(group)    # its task's first step runs at the loop's next turn, after this one's
        fut: asyncio.Future[None] = group.loop.create_future()
        group.members.append((queue_id, rows, tell_others, fut))
        group.rows += len(rows)
        # the statement runs in the flush's own task: a member that is cancelled cancels only its future
        # (which the flush then leaves alone), never the others' statement
        await fut

    def _start_flush(self, group: _SendGroup) -> None:
        task = group.loop.create_task(self._flush(group))
        self._flushing.add(task)                    # (the loop keeps only a weak reference to a task)
        task.add_done_callback(self._flushing.discard)

    async def _insert_rows(self, members: Sequence[tuple[int, Sequence[NewMessage], bool, object]]) -> None:
        pairs = [(queue_id, r) for queue_id, rows, _, _ in members for r in rows]
        sql = self.q.expand("insert_messages", len(pairs))
        params = [v for queue_id, r in pairs for v in (queue_id, *r)]
        sent: dict[int, int] = {}
        for queue_id, rows, tell, _ in members:
            if tell:
                sent[queue_id] = sent.get(queue_id, 0) + len(rows)
        notes = [(NOTIFY_CHANNEL, sent_note(queue_id, n)) for queue_id, n in sent.items()]
        await self.store.execute_notify(sql, params, notes)

    async def _flush(self, group: _SendGroup) -> None:
        if self._group is group:
            self._group = None
        members = group.members
        try:
            await self._insert_rows(members)
        except ConstraintViolation as e:
            if len(members) == 1:
                _fail(members[0][3], e)
                return
            for m in members:           # which send's queue is gone: each on its own
                try:
                    await self._insert_rows((m,))
                except StoreError as e1:
                    _fail(m[3], e1)
                else:
                    if not m[3].done():
                        m[3].set_result(None)
            return
        except StoreError as e:
            for m in members:
                _fail(m[3], e)
            return
        except BaseException as e:      # not the store's: every member hears of it rather than waiting forever
            for m in members:
                _fail(m[3], StoreError(f"insert failed: {e!r}"))
            raise
        for m in members:
            if not m[3].done():
                m[3].set_result(None)

    async def insert_in(self, tx: Tx, queue_id: int, row: NewMessage) -> None:
        """One standard message inside the caller's transaction (SNS fan-out commits with its publish); a
        shared store sends it with the transaction's next statement or its commit."""
        lean = None if self.shared else self._lean(((queue_id, row),))
        if lean is not None:
            await tx.execute_later(*lean)
        else:
            await tx.execute_later(self.q.expand("insert_messages", 1), (queue_id, *row))

    async def insert_rows_in(self, tx: Tx, rows: Sequence[tuple[int, NewMessage]]) -> None:
        """Standard messages for several queues, ``(queue_id, row)`` in receive order, inside the
        caller's transaction: one statement per ``_ROWS_PER_STATEMENT`` rows (SNS fan-out)."""
        for at in range(0, len(rows), _ROWS_PER_STATEMENT):
            part = rows[at:at + _ROWS_PER_STATEMENT]
            lean = None if self.shared else self._lean(part)
            if lean is not None:
                await tx.execute_later(*lean)
            else:
                await tx.execute_later(self.q.expand("insert_messages", len(part)),
                                       [v for queue_id, r in part for v in (queue_id, *r)])

    async def insert_many(self, queue_id: int, rows: Sequence[NewMessage], tell_others: bool = True) -> None:
        """Standard messages in one statement (rows in receive order), atomic by itself; the other
        servers are told as by :meth:`insert`."""
        if self.shared and len(rows) <= _GROUP_ROWS:
            await self._grouped(queue_id, rows, tell_others)
            return
        lean = (None if self.shared or not rows or len(rows) > _ROWS_PER_STATEMENT
                else self._lean([(queue_id, r) for r in rows]))
        if lean is not None:
            await self.store.execute(*lean)
            return
        sql = self.q.expand("insert_messages", len(rows))
        params = [v for r in rows for v in (queue_id, *r)]
        if self.shared and tell_others:
            await self.store.execute_notify(sql, params, ((NOTIFY_CHANNEL, sent_note(queue_id, len(rows))),))
        else:
            await self.store.execute(sql, params)

    async def insert_fifo(self, tx: Tx, queue_id: int, row: NewMessage) -> int:
        """One FIFO message inside ``tx``; returns its sequence number (monotonic, never reused)."""
        out = await tx.fetchone(self.q.insert_fifo, (queue_id, *row))
        assert out is not None
        counter = await tx.fetchone(self.q.next_fifo_seq, (out[0],))
        assert counter is not None
        seq = int(counter[0])
        await tx.execute(self.q.set_seq, (seq, out[0]))
        if self.shared:
            tx.notify(NOTIFY_CHANNEL, str(queue_id))
        return seq

    async def claim_dedup(self, tx: Tx, queue_id: int, scope: str, dedup_id: str, message_id: str,
                          now_ms: int, window_ms: int) -> tuple[str, int] | None:
        """Reserve a deduplication id; returns the original (message_id, seq) when it is a duplicate."""
        n = await tx.execute(self.q.claim_dedup, (queue_id, scope, dedup_id, message_id, now_ms, now_ms - window_ms))
        if n:
            return None
        row = await tx.fetchone(self.q.dedup_original, (queue_id, scope, dedup_id))
        assert row is not None
        return str(row[0]), int(row[1])

    async def set_dedup_seq(self, tx: Tx, queue_id: int, scope: str, dedup_id: str, seq: int) -> None:
        await tx.execute(self.q.set_dedup_seq, (seq, queue_id, scope, dedup_id))

    # == receiving =============================================================================
    async def claim(self, tx: Tx | Store, queue_id: int, now_ms: int, visible_at: int, receipt: int,
                    limit: int) -> list[MessageRow]:
        """Standard queue: claim up to ``limit`` visible messages, oldest first."""
        rows = await tx.fetchall(self.q.claim, (visible_at, now_ms, receipt, now_ms, queue_id, now_ms, limit))
        return _messages(rows)

    async def claim_or_next(self, queue_id: int, now_ms: int, visible_at: int, receipt: int, limit: int,
                            before_ms: int) -> tuple[list[MessageRow], int | None]:
        """A long poll's look at a standard queue: :meth:`claim`, and when nothing was claimed, when the
        next message hidden as of ``before_ms`` turns visible (:meth:`next_visible`). One statement on a
        shared store (a round trip saved per poll that parks)."""
        if not self.shared:
            rows = await self.claim(self.store, queue_id, now_ms, visible_at, receipt, limit)
            if rows:
                return rows, None
            return rows, await self.next_visible(queue_id, before_ms)
        got = await self.store.fetchall(self.q.claim_or_next, (visible_at, now_ms, receipt, now_ms, queue_id, now_ms,
                                                               limit, queue_id, before_ms))
        if len(got) == 1 and got[0][0] is None:
            nxt = got[0][-1]
            return [], int(nxt) if nxt is not None else None
        return _messages([r[:-1] for r in got]), None

    async def lock_queue(self, tx: Tx, queue_id: int) -> None:
        """Serialize FIFO receives of one queue across servers (a store of its own serializes them already)."""
        if self.shared:
            await tx.fetchone(self.q.lock_queue, (queue_id,))

    async def fifo_candidates(self, tx: Tx, queue_id: int, now_ms: int, limit: int) -> list[int]:
        """FIFO: row ids of visible messages whose group has nothing in flight, in sequence order."""
        rows = await tx.fetchall(self.q.fifo_candidates, (queue_id, now_ms, queue_id, now_ms, limit))
        return [int(r[0]) for r in rows]

    async def claim_ids(self, tx: Tx, ids: Sequence[int], now_ms: int, visible_at: int,
                        receipt: int) -> list[MessageRow]:
        rows = await tx.fetchall(self.q.expand("claim_ids", len(ids)), (visible_at, now_ms, receipt, now_ms, *ids))
        return _messages(rows)

    async def reclaim(self, tx: Tx, queue_id: int, ids: Sequence[int], receipt: int,
                      visible_at: int) -> list[MessageRow]:
        """A retried FIFO receive: the same messages again, if still held by that receive."""
        rows = await tx.fetchall(self.q.expand("reclaim", len(ids)), (visible_at, queue_id, receipt, *ids))
        return _messages(rows)

    async def receive_attempt(self, tx: Tx, queue_id: int, attempt_id: str, since_ms: int) -> ReceiveAttempt | None:
        row = await tx.fetchone(self.q.receive_attempt, (queue_id, attempt_id, since_ms))
        return ReceiveAttempt(int(row[0]), row[1]) if row is not None else None

    async def save_receive_attempt(self, tx: Tx, queue_id: int, attempt_id: str, now_ms: int, receipt: int,
                                   ids: str) -> None:
        await tx.execute(self.q.save_receive_attempt, (queue_id, attempt_id, now_ms, receipt, ids))

    async def delete_ids(self, tx: Tx | Store, ids: Sequence[int]) -> None:
        """Delete rows just read (their ids are current)."""
        await tx.execute(self.q.expand("delete_ids", len(ids)), tuple(ids))

    async def delete_handles(self, tx: Tx | Store, queue_id: int, handles: Sequence[tuple[int, str]]) -> None:
        """Delete by (row id, message id) pairs from receipt handles: a row id alone may have been reused.
        Message ids are unique, so matching both lists picks exactly these messages (``queue_id`` was
        checked against the handles already; leaving it out keeps SQLite on the rowid lookup)."""
        await tx.execute(self.q.expand("delete_handles", len(handles)),
                         (*(h[0] for h in handles), *(h[1] for h in handles)))

    async def delete_pairs(self, tx: Tx | Store, row_ids: list[int], message_ids: list[str]) -> None:
        """:meth:`delete_handles` with the pairs as two lists, in the same order (the row ids, then their
        message ids): DeleteMessageBatch's form, without building the pairs."""
        await tx.execute(self.q.expand("delete_handles", len(row_ids)), row_ids + message_ids)

    async def move_to_dlq(self, tx: Tx, ids: Sequence[int], dlq_id: int, now_ms: int, source_arn: str,
                          reset_retention: bool) -> None:
        """Move messages that exceeded maxReceiveCount; they keep id, body, attributes and SentTimestamp
        (and their retention, unless the dead-letter queue is FIFO: then it starts again)."""
        if reset_retention:
            await tx.execute(self.q.expand("move_to_fifo_dlq", len(ids)), (dlq_id, now_ms, source_arn, now_ms, *ids))
        else:
            await tx.execute(self.q.expand("move_to_dlq", len(ids)), (dlq_id, now_ms, source_arn, *ids))
        tx.notify(NOTIFY_CHANNEL, str(dlq_id))

    async def next_visible(self, queue_id: int, now_ms: int) -> int | None:
        """When the next hidden (delayed or in-flight) message of a queue becomes visible."""
        row = await self.store.fetchone(self.q.next_visible, (queue_id, now_ms))
        return int(row[0]) if row else None

    # == after receiving =======================================================================
    async def message_state(self, tx: Tx | Store, row_id: int, message_id: str) -> MessageState | None:
        row = await tx.fetchone(self.q.message_state, (row_id, message_id))
        return MessageState(*row) if row is not None else None

    async def delete_message(self, tx: Tx | Store, queue_id: int, row_id: int, message_id: str) -> int:
        return await tx.execute(self.q.delete_message, (row_id, queue_id, message_id))

    async def delete_message_if(self, tx: Tx | Store, queue_id: int, row_id: int, receipt: int,
                                now_ms: int) -> int:
        """FIFO: delete only if this receive still holds the message (the nonce identifies the message)."""
        return await tx.execute(self.q.delete_message_if, (row_id, queue_id, receipt, now_ms))

    async def set_visibility(self, tx: Tx | Store, row_id: int, receipt: int, visible_at: int) -> int:
        return await tx.execute(self.q.set_visibility, (visible_at, row_id, receipt))

    def notify(self, tx: Tx, queue_id: int) -> None:
        """Wake long polls on other servers once ``tx`` commits (this server wakes its own)."""
        if self.shared:
            tx.notify(NOTIFY_CHANNEL, str(queue_id))

    # == SSE-SQS ================================================================================
    async def owned_key(self, name: str, candidate: bytes) -> bytes:
        """The SQS-owned key called ``name``; ``candidate`` is stored first if there is none yet
        (several servers racing agree on whichever insert won)."""
        await self.store.execute(self.q.owned_key_offer, (name, candidate))
        row = await self.store.fetchone(self.q.owned_key, (name,))
        assert row is not None
        return bytes(row[0])

    # == maintenance ===========================================================================
    async def expire(self, queue_id: int, retain_after: int, now_ms: int, limit: int = 1000) -> int:
        """Delete expired messages from the head of a queue (the oldest visible ones)."""
        rows = await self.store.fetchall(self.q.expire_head, (queue_id, now_ms, limit))
        ids = [int(r[0]) for r in rows if r[1] <= retain_after]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            await self.store.execute(self.q.expand("delete_ids", len(chunk)), tuple(chunk))
        return len(ids)

    async def all_queues(self) -> list[QueueRow]:
        return [QueueRow(*r) for r in await self.store.fetchall(self.q.all_queues)]

    async def sweep_dedup(self, before_ms: int) -> None:
        await self.store.execute(self.q.sweep_dedup, (before_ms,))
        await self.store.execute(self.q.sweep_attempts, (before_ms,))

    # == message move tasks ====================================================================
    async def create_move_task(self, handle: str, account: str, region: str, source_arn: str,
                               dest_arn: str | None, rate: int | None, to_move: int, now_ms: int) -> bool:
        """Insert a RUNNING task unless one is already running for the source; False if one is."""
        async with self.store.transaction() as tx:
            if self.shared:
                await tx.fetchone(self.q.lock_move_tasks, (source_arn,))
            if await tx.fetchone(self.q.running_task_for, (source_arn,)):
                return False
            await tx.execute(self.q.create_move_task, (handle, account, region, source_arn, dest_arn, rate, to_move,
                                                       now_ms))
            return True

    async def move_task(self, handle: str) -> MoveTaskRow | None:
        row = await self.store.fetchone(self.q.move_task, (handle,))
        return MoveTaskRow(*row) if row is not None else None

    async def move_tasks(self, source_arn: str, limit: int) -> list[MoveTaskRow]:
        return [MoveTaskRow(*r) for r in await self.store.fetchall(self.q.move_tasks, (source_arn, limit))]

    async def running_move_tasks(self) -> list[str]:
        """Handles of the tasks running or being cancelled."""
        return [str(r[0]) for r in await self.store.fetchall(self.q.running_move_tasks)]

    async def set_move_task_status(self, handle: str, status: str, failure: str | None = None,
                                   only_if: tuple[str, ...] = ()) -> int:
        if only_if:
            return await self.store.execute(self.q.expand("set_move_task_status_if", len(only_if)),
                                            (status, failure, handle, *only_if))
        return await self.store.execute(self.q.set_move_task_status, (status, failure, handle))

    async def move_batch(self, handle: str, source_id: int, dest_ids: dict[str, int] | int, now_ms: int,
                         limit: int, reset_retention: dict[int, bool]) -> int:
        """Move up to ``limit`` visible messages out of a DLQ; ``dest_ids`` is one queue id, or a map
        from each message's source ARN to its queue id. Returns how many moved (0: nothing left)."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(self.q.move_batch_rows, (source_id, now_ms, limit))
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
                if reset_retention.get(dest):
                    await tx.execute(self.q.expand("move_out_to_fifo", len(ids)), (dest, now_ms, now_ms, *ids))
                else:
                    await tx.execute(self.q.expand("move_out", len(ids)), (dest, now_ms, *ids))
                tx.notify(NOTIFY_CHANNEL, str(dest))
                moved += len(ids)
            if moved:
                await tx.execute(self.q.count_moved, (moved, handle))
            return moved if moved else -len(rows)


def _fail(fut: asyncio.Future[None], exc: StoreError) -> None:
    if not fut.done():
        fut.set_exception(type(exc)(*exc.args))      # each member raises its own copy


_tuple_new = tuple.__new__
_by_id = operator.itemgetter(0)      # MessageRow.id


def _messages(rows: list[Row]) -> list[MessageRow]:
    """Claimed rows as :class:`MessageRow`, in receive order (RETURNING gives no order). The rows are
    the driver's tuples of MessageRow's columns, made MessageRows without the named tuple's Python
    ``__new__`` (21 arguments bound per message)."""
    out: list[MessageRow] = [_tuple_new(MessageRow, r) for r in rows]
    out.sort(key=_by_id)
    return out
