"""The outbox repository: the statements the delivery dispatcher runs (``queries/*/outbox.sql``).

Rows are written inside the transaction of the change that caused them (:meth:`OutboxRepo.add`
takes that transaction). Claiming is one statement: ``UPDATE … WHERE id IN (SELECT … LIMIT n)
RETURNING …``, which also pushes ``next_attempt_at`` forward by a lease, so a row whose claimer
died is claimed again once the lease runs out. On PostgreSQL the inner select takes
``FOR UPDATE SKIP LOCKED`` so that dispatchers on several servers never claim the same row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx

NOTIFY_CHANNEL = "outbox"     # payload: "" (new rows are due)


class NewRow(NamedTuple):
    """An outbox row to write: its handler, target, JSON payload and journey."""

    kind: str
    target: str
    payload: str
    trace_id: str | None = None


class Claimed(NamedTuple):
    """A row the dispatcher claimed."""

    id: int
    kind: str
    target: str
    payload: str
    attempts: int
    created_at: int
    trace_id: str | None


class Pending(NamedTuple):
    """A row not delivered yet (the CLI, the console and tests read these)."""

    id: int
    kind: str
    target: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    trace_id: str | None


class OutboxRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("outbox", store.dialect)

    async def add(self, tx: Tx, rows: Iterable[NewRow], due_ms: int, created_ms: int | None = None) -> int:
        """Insert rows due at ``due_ms`` in ``tx`` and wake the dispatchers once it commits; returns how many."""
        created = due_ms if created_ms is None else created_ms
        batch = [(r.kind, r.target, r.payload, due_ms, created, r.trace_id) for r in rows]
        if batch:
            await tx.executemany(self.q.add, batch)
            tx.notify(NOTIFY_CHANNEL, "")
        return len(batch)

    async def claim(self, now_ms: int, lease_ms: int, limit: int) -> list[Claimed]:
        async with self.store.transaction() as tx:
            return [Claimed._make(r) for r in await tx.fetchall(self.q.claim, (now_ms + lease_ms, now_ms, limit))]

    async def done(self, ids: Sequence[int]) -> None:
        if ids:
            await self.store.execute(self.q.expand("done", len(ids)), tuple(ids))

    async def retry(self, row_id: int, next_attempt_ms: int, error: str) -> None:
        await self.store.execute(self.q.retry, (next_attempt_ms, error[:2000], row_id))

    async def next_due(self) -> int | None:
        row = await self.store.fetchone(self.q.next_due)
        return int(row[0]) if row and row[0] is not None else None

    async def pending(self, kind: str | None = None) -> list[Pending]:
        """Rows not delivered yet, oldest first."""
        if kind is not None:
            rows = await self.store.fetchall(self.q.pending_of_kind, (kind,))
        else:
            rows = await self.store.fetchall(self.q.pending)
        return [Pending._make(r) for r in rows]
