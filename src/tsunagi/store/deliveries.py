"""Delivery records: what every pipe delivered, or did not deliver, and why, by journey.

Every pipe (SNS fan-out, S3 event notifications, event source mappings, async invocations and
their destinations, …) writes its outcomes here, in the transaction that caused or finished the
delivery. A record names the journey (``trace_id``), the source (topic, bucket, queue, function),
the target, the outcome and a reason a user can act on.

One cause with several outcomes (an SNS message fanned out to many subscriptions) may be written
as one row (:meth:`DeliveryRepo.record_fanout_in`): target ``*``, outcome :data:`FANOUT`, the
outcomes as JSON in ``reason``. Readers get one :class:`Delivery` per outcome either way. That keeps
a publish to many subscriptions at one row and one entry per index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx

FANOUT = "fanout"
_BATCH = 200   # records per INSERT statement (11 values each)

# Outcomes, as users see them.
DELIVERED = "delivered"          # the target accepted it
QUEUED = "queued"                # written to the outbox; a later record says how it ended
FILTERED = "filtered"            # a filter policy or filter criteria left it out
FAILED = "failed"                # not delivered, and not dead-lettered
DEAD_LETTERED = "dead-lettered"  # not delivered; sent to a dead-letter queue or on-failure destination
SKIPPED = "skipped"              # nothing to deliver to any more (the subscription or mapping went away)
DENIED = "denied"                # a policy did not allow it


class Outcome(NamedTuple):
    """One target's outcome, inside a fan-out."""

    target_arn: str
    protocol: str | None
    outcome: str
    reason: str | None


class Delivery(NamedTuple):
    """One delivery record (one target's outcome)."""

    trace_id: str
    at: int                     # ms since the epoch
    account: str
    region: str
    pipe: str                   # sns | s3 | esm | async | destination | …
    source_arn: str
    message_id: str | None
    target_arn: str
    protocol: str | None
    outcome: str
    reason: str | None


class _Row(NamedTuple):
    id: int
    trace_id: str
    at: int
    account: str
    region: str
    pipe: str
    source_arn: str
    message_id: str | None
    target_arn: str
    protocol: str | None
    outcome: str
    reason: str | None


class DeliveryRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("deliveries", store.dialect)

    async def record_in(self, tx: Tx | Store, records: Sequence[Delivery]) -> None:
        """Write ``records`` in ``tx`` (the transaction that caused or finished the deliveries)."""
        await self._insert(tx, records)

    async def record_fanout_in(self, tx: Tx | Store, fanouts: Sequence[tuple[Delivery, Sequence[Outcome]]]) -> None:
        """Write what happened to each cause: ``(template, outcomes)``, where ``template`` gives the
        trace, time, account, region, pipe, source and message id. A cause with one outcome is one
        ordinary record; one with several is one fan-out row."""
        rows: list[tuple[Any, ...]] = []
        for t, outcomes in fanouts:     # (rows built as plain tuples: a publish writes one each)
            if len(outcomes) == 1:
                o = outcomes[0]
                rows.append((t.trace_id, t.at, t.account, t.region, t.pipe, t.source_arn, t.message_id, o.target_arn,
                             o.protocol, o.outcome, o.reason))
            elif outcomes:
                rows.append((t.trace_id, t.at, t.account, t.region, t.pipe, t.source_arn, t.message_id, "*", None,
                             FANOUT, orjson.dumps([list(o) for o in outcomes]).decode()))
        await self._insert(tx, rows)

    async def _insert(self, tx: Tx | Store, rows: Sequence[tuple[Any, ...]]) -> None:
        # (nothing reads what an insert returns: a shared store sends them with the transaction's next
        # statement or its commit, in one round trip)
        if len(rows) == 1:
            await tx.execute_later(self.q.expand("insert", 1), rows[0])
            return
        for at in range(0, len(rows), _BATCH):
            part = rows[at:at + _BATCH]
            await tx.execute_later(self.q.expand("insert", len(part)), [v for r in part for v in r])

    # -- reading -------------------------------------------------------------------------------
    async def by_trace(self, trace_id: str, limit: int = 1000) -> list[Delivery]:
        return await self._read(self.q.by_trace, trace_id, limit)

    async def by_message(self, message_id: str, limit: int = 1000) -> list[Delivery]:
        return await self._read(self.q.by_message, message_id, limit)

    async def by_source(self, source_arn: str, limit: int = 1000) -> list[Delivery]:
        return await self._read(self.q.by_source, source_arn, limit)

    async def by_account(self, account: str, limit: int = 1000) -> list[Delivery]:
        return await self._read(self.q.by_account, account, limit)

    async def recent_by_source(self, source_arn: str, limit: int = 1000) -> list[Delivery]:
        """A source's records, the most recent first."""
        return await self._recent(self.q.recent_by_source, source_arn, limit)

    async def recent_of_pipe(self, pipe: str, limit: int = 1000) -> list[Delivery]:
        """A pipe's records, the most recent first."""
        return await self._recent(self.q.recent_of_pipe, pipe, limit)

    async def _recent(self, sql: str, key: str, limit: int) -> list[Delivery]:
        # every row is at least one record, so ``limit`` rows are enough
        out: list[Delivery] = []
        for r in await self.store.fetchall(sql, (key, limit)):
            out.extend(_expand(_Row._make(r)))
        return out[:limit]

    async def _read(self, sql: str, key: str, limit: int) -> list[Delivery]:
        out: list[Delivery] = []
        after = 0
        while len(out) < limit:
            rows = [_Row._make(r) for r in await self.store.fetchall(sql, (key, after, limit))]
            for r in rows:
                out.extend(_expand(r))
            if len(rows) < limit:
                break
            after = rows[-1].id
        return out[:limit]

    # -- housekeeping ----------------------------------------------------------------------------
    async def sweep(self, before_ms: int, batch: int = 5000) -> int:
        """Delete records written before ``before_ms``, a batch at a time; returns how many went."""
        removed = 0
        while True:
            n = await self.store.execute(self.q.sweep, (batch, before_ms))
            removed += n
            if n < batch:
                return removed


def _expand(r: _Row) -> list[Delivery]:
    base = Delivery(r.trace_id, r.at, r.account, r.region, r.pipe, r.source_arn, r.message_id, r.target_arn,
                    r.protocol, r.outcome, r.reason)
    if r.outcome != FANOUT:
        return [base]
    return [base._replace(target_arn=t, protocol=p, outcome=o, reason=why)
            for t, p, o, why in orjson.loads(r.reason or "[]")]
