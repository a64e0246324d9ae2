"""The outbox repository: every SQL statement the delivery dispatcher runs, for both dialects.

Rows are written inside the transaction of the change that caused them (:meth:`OutboxRepo.add`
takes that transaction). Claiming is one statement: ``UPDATE … WHERE id IN (SELECT … LIMIT n)
RETURNING …``, which also pushes ``next_attempt_at`` forward by a lease, so a row whose claimer
died is claimed again once the lease runs out. On PostgreSQL the inner select takes
``FOR UPDATE SKIP LOCKED`` so that dispatchers on several servers never claim the same row.
"""

from __future__ import annotations

from collections.abc import Iterable

from tsunagi.store.base import Row, Store, Tx

NOTIFY_CHANNEL = "outbox"     # payload: "" (new rows are due)

COLS = "id, kind, target, payload, attempts, created_at"


class OutboxRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        skip = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
        self._claim_sql = (
            "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1 WHERE id IN "
            f"(SELECT id FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?{skip}) "
            f"RETURNING {COLS}")

    @staticmethod
    async def add(tx: Tx, rows: Iterable[tuple[str, str, str]], now_ms: int) -> int:
        """Insert ``(kind, target, payload)`` rows, due now; returns how many."""
        batch = [(kind, target, payload, now_ms, now_ms) for kind, target, payload in rows]
        if batch:
            await tx.executemany(
                "INSERT INTO outbox (kind, target, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
                batch)
        return len(batch)

    async def claim(self, now_ms: int, lease_ms: int, limit: int) -> list[Row]:
        async with self.store.transaction() as tx:
            return await tx.fetchall(self._claim_sql, (now_ms + lease_ms, now_ms, limit))

    async def done(self, ids: list[int]) -> None:
        if not ids:
            return
        marks = ", ".join("?" for _ in ids)
        await self.store.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)

    async def retry(self, row_id: int, next_attempt_ms: int, error: str) -> None:
        await self.store.execute("UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?",
                                 (next_attempt_ms, error[:2000], row_id))

    async def next_due(self) -> int | None:
        row = await self.store.fetchone("SELECT MIN(next_attempt_at) FROM outbox")
        return int(row[0]) if row and row[0] is not None else None

    async def pending(self, kind: str | None = None) -> list[Row]:
        """Rows not delivered yet (for the CLI, the console and tests): id, kind, target, attempts, last_error."""
        sql = "SELECT id, kind, target, attempts, next_attempt_at, last_error FROM outbox"
        if kind is not None:
            return await self.store.fetchall(sql + " WHERE kind = ? ORDER BY id", (kind,))
        return await self.store.fetchall(sql + " ORDER BY id")
