"""The SNS repository: every SQL statement SNS runs, for both dialects.

Topics and subscriptions are small tables read on every publish (the service caches them and
invalidates the cache through :data:`META_CHANNEL`). A publish writes, in its own transaction:
the FIFO deduplication record and sequence number, the SQS messages (through the SQS service),
the outbox rows for every other protocol, and the delivery records (one row per message, holding
every subscription's outcome).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from tsunagi.store.base import Row, Store, Tx

Outcome = tuple[str, str, str, str | None]   # (subscription ARN, protocol, outcome, reason)
FANOUT = "fanout"    # a delivery record holding every outcome of one published message

META_CHANNEL = "sns-meta"     # payload: a topic ARN whose topic or subscriptions changed ("*": all)

TOPIC_COLS = "id, account, region, name, arn, fifo, attributes, tags, created_at"
SUB_COLS = "arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at"


class SnsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pg = store.dialect == "postgresql"

    # == topics ================================================================================
    async def create_topic(self, account: str, region: str, name: str, arn: str, fifo: bool, attributes: str,
                           tags: str, now_ms: int) -> bool:
        """Insert a topic; False if one with that name exists already."""
        async with self.store.transaction() as tx:
            n = await tx.execute(
                "INSERT INTO sns_topics (account, region, name, arn, fifo, attributes, tags, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (account, region, name, arn, int(fifo), attributes, tags, now_ms))
            if n:
                tx.notify(META_CHANNEL, arn)
            return n > 0

    async def topic(self, arn: str) -> Row | None:
        return await self.store.fetchone(f"SELECT {TOPIC_COLS} FROM sns_topics WHERE arn = ?", (arn,))

    async def list_topics(self, account: str, region: str, after: str, limit: int) -> list[Row]:
        return await self.store.fetchall(
            "SELECT arn FROM sns_topics WHERE account = ? AND region = ? AND arn > ? ORDER BY arn LIMIT ?",
            (account, region, after, limit))

    async def count_topics(self, account: str, region: str) -> int:
        row = await self.store.fetchone("SELECT COUNT(*) FROM sns_topics WHERE account = ? AND region = ?",
                                        (account, region))
        return int(row[0]) if row else 0

    async def update_topic(self, arn: str, attributes: str | None = None, tags: str | None = None) -> int:
        n = 0
        async with self.store.transaction() as tx:
            if attributes is not None:
                n = await tx.execute("UPDATE sns_topics SET attributes = ? WHERE arn = ?", (attributes, arn))
            if tags is not None:
                n = await tx.execute("UPDATE sns_topics SET tags = ? WHERE arn = ?", (tags, arn))
            tx.notify(META_CHANNEL, arn)
            return n

    async def delete_topic(self, arn: str) -> None:
        """A topic and its subscriptions."""
        async with self.store.transaction() as tx:
            await tx.execute("DELETE FROM sns_subscriptions WHERE topic_arn = ?", (arn,))
            await tx.execute("DELETE FROM sns_topics WHERE arn = ?", (arn,))
            await tx.execute("DELETE FROM sns_dedup WHERE topic_arn = ?", (arn,))
            tx.notify(META_CHANNEL, arn)

    async def next_seq(self, tx: Tx, arn: str, n: int = 1) -> int:
        """Reserve ``n`` FIFO sequence numbers of a topic inside ``tx``; returns the last one."""
        row = await tx.fetchone("UPDATE sns_topics SET seq = seq + ? WHERE arn = ? RETURNING seq", (n, arn))
        return int(row[0]) if row else 0

    # == subscriptions =========================================================================
    async def add_subscription(self, arn: str, topic_arn: str, account: str, region: str, protocol: str,
                               endpoint: str, attributes: str, pending: bool, token: str | None,
                               now_ms: int) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(
                f"INSERT INTO sns_subscriptions ({SUB_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (arn, topic_arn, account, region, protocol, endpoint, attributes, int(pending), token, now_ms))
            tx.notify(META_CHANNEL, topic_arn)

    async def subscription(self, arn: str) -> Row | None:
        return await self.store.fetchone(f"SELECT {SUB_COLS} FROM sns_subscriptions WHERE arn = ?", (arn,))

    async def find_subscription(self, topic_arn: str, protocol: str, endpoint: str) -> Row | None:
        return await self.store.fetchone(
            f"SELECT {SUB_COLS} FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?",
            (topic_arn, protocol, endpoint))

    async def subscriptions_of(self, topic_arn: str) -> list[Row]:
        return await self.store.fetchall(
            f"SELECT {SUB_COLS} FROM sns_subscriptions WHERE topic_arn = ? ORDER BY arn", (topic_arn,))

    async def list_subscriptions(self, account: str, region: str, after: str, limit: int) -> list[Row]:
        return await self.store.fetchall(
            f"SELECT {SUB_COLS} FROM sns_subscriptions WHERE account = ? AND region = ? AND arn > ? "
            "ORDER BY arn LIMIT ?", (account, region, after, limit))

    async def list_by_topic(self, topic_arn: str, after: str, limit: int) -> list[Row]:
        return await self.store.fetchall(
            f"SELECT {SUB_COLS} FROM sns_subscriptions WHERE topic_arn = ? AND arn > ? ORDER BY arn LIMIT ?",
            (topic_arn, after, limit))

    async def count_subscriptions(self, topic_arn: str) -> tuple[int, int]:
        """(confirmed, pending) subscriptions of a topic."""
        row = await self.store.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN pending = 0 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(pending), 0) FROM sns_subscriptions WHERE topic_arn = ?", (topic_arn,))
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def update_subscription(self, arn: str, topic_arn: str, attributes: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute("UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?", (attributes, arn))
            tx.notify(META_CHANNEL, topic_arn)

    async def confirm(self, arn: str, topic_arn: str, attributes: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute("UPDATE sns_subscriptions SET pending = 0, attributes = ? WHERE arn = ?",
                             (attributes, arn))
            tx.notify(META_CHANNEL, topic_arn)

    async def pending_by_token(self, topic_arn: str, token: str) -> Row | None:
        return await self.store.fetchone(
            f"SELECT {SUB_COLS} FROM sns_subscriptions WHERE topic_arn = ? AND token = ?", (topic_arn, token))

    async def delete_subscription(self, arn: str, topic_arn: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute("DELETE FROM sns_subscriptions WHERE arn = ?", (arn,))
            tx.notify(META_CHANNEL, topic_arn)
            return n

    # == FIFO deduplication ======================================================================
    async def claim_dedup(self, tx: Tx, topic_arn: str, dedup_id: str, message_id: str, seq: str, now_ms: int,
                          window_ms: int) -> tuple[str, str] | None:
        """Reserve a deduplication id in ``tx``; returns the original (message id, sequence number) if taken."""
        n = await tx.execute(
            "INSERT INTO sns_dedup (topic_arn, dedup_id, message_id, seq, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (topic_arn, dedup_id) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq, "
            "created_at = excluded.created_at WHERE sns_dedup.created_at <= ?",
            (topic_arn, dedup_id, message_id, seq, now_ms, now_ms - window_ms))
        if n:
            return None
        row = await tx.fetchone("SELECT message_id, seq FROM sns_dedup WHERE topic_arn = ? AND dedup_id = ?",
                                (topic_arn, dedup_id))
        return (str(row[0]), str(row[1])) if row else None

    async def sweep_dedup(self, before_ms: int) -> None:
        await self.store.execute("DELETE FROM sns_dedup WHERE created_at <= ?", (before_ms,))

    # == the signing key ========================================================================
    async def signing_key(self) -> Row | None:
        return await self.store.fetchone("SELECT id, private_pem, cert_pem FROM sns_keys ORDER BY created_at, id "
                                         "LIMIT 1")

    async def add_signing_key(self, key_id: str, private_pem: str, cert_pem: str, now_ms: int) -> None:
        """Keep the first key written (another node may have won the race; read it back)."""
        await self.store.execute(
            "INSERT INTO sns_keys (id, private_pem, cert_pem, created_at) SELECT ?, ?, ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM sns_keys)", (key_id, private_pem, cert_pem, now_ms))

    async def certificate(self, key_id: str) -> str | None:
        row = await self.store.fetchone("SELECT cert_pem FROM sns_keys WHERE id = ?", (key_id,))
        return str(row[0]) if row else None

    # == delivery records =========================================================================
    @staticmethod
    async def record(tx: Tx | Store, rows: Sequence[tuple[str, str, str, str, str, str | None, int]]) -> None:
        """(message id, topic ARN, subscription ARN, protocol, outcome, reason, at) rows, one statement."""
        if not rows:
            return
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in rows)
        flat: list[Any] = [v for r in rows for v in r]
        await tx.execute(
            "INSERT INTO sns_deliveries (message_id, topic_arn, subscription_arn, protocol, outcome, reason, at) "
            f"VALUES {values}", flat)

    @staticmethod
    async def record_fanout(tx: Tx | Store, messages: Sequence[tuple[str, str, int, Sequence[Outcome]]]) -> None:
        """What a publish did with each message: ``(message id, topic ARN, at, outcomes)``, an outcome
        being ``(subscription ARN, protocol, outcome, reason)``. A message with several outcomes is
        one row (kind :data:`FANOUT`, the outcomes as JSON in ``reason``): a publish to many
        subscriptions writes one record, not one per subscription. :meth:`deliveries` reads it back
        as one row per subscription."""
        rows: list[tuple[str, str, str, str, str, str | None, int]] = []
        for message_id, topic_arn, at, outcomes in messages:
            if len(outcomes) == 1:
                sub, protocol, outcome, reason = outcomes[0]
                rows.append((message_id, topic_arn, sub, protocol, outcome, reason, at))
            elif outcomes:
                rows.append((message_id, topic_arn, "", "", FANOUT, orjson.dumps(outcomes).decode(), at))
        await SnsRepo.record(tx, rows)

    async def deliveries(self, *, message_id: str | None = None, topic_arn: str | None = None,
                         limit: int = 1000) -> list[Row]:
        cols = "message_id, topic_arn, subscription_arn, protocol, outcome, reason, at"
        if message_id is not None:
            rows = await self.store.fetchall(
                f"SELECT {cols} FROM sns_deliveries WHERE message_id = ? ORDER BY id LIMIT ?", (message_id, limit))
        elif topic_arn is not None:
            rows = await self.store.fetchall(
                f"SELECT {cols} FROM sns_deliveries WHERE topic_arn = ? ORDER BY id DESC LIMIT ?", (topic_arn, limit))
        else:
            rows = await self.store.fetchall(f"SELECT {cols} FROM sns_deliveries ORDER BY id DESC LIMIT ?", (limit,))
        out: list[Row] = []
        for r in rows:
            if r[4] == FANOUT:
                out.extend((r[0], r[1], sub, protocol, outcome, reason, r[6])
                           for sub, protocol, outcome, reason in orjson.loads(r[5]))
            else:
                out.append(r)
        return out[:limit]

    async def prune_deliveries(self, before_ms: int, batch: int = 5000) -> int:
        """Delete delivery records older than ``before_ms``, a batch at a time; returns how many went.

        Records are written in time order, so the oldest are the lowest ids: each round looks at the
        ``batch`` oldest and deletes those that are old enough, and a round that finds a recent one
        ends the sweep (no index on ``at`` is needed, and none is paid for by every publish)."""
        removed = 0
        while True:
            n = await self.store.execute(
                "DELETE FROM sns_deliveries WHERE id IN (SELECT id FROM sns_deliveries ORDER BY id LIMIT ?) "
                "AND at < ?", (batch, before_ms))
            removed += n
            if n < batch:
                return removed

    # == the local mailbox ========================================================================
    @staticmethod
    async def add_mail(tx: Tx | Store, rows: Iterable[tuple[Any, ...]]) -> None:
        """(account, region, kind, recipient, sender, subject, body, topic ARN, subscription ARN, message id,
        subscribe URL, created_at) rows."""
        await tx.executemany(
            "INSERT INTO sns_mail (account, region, kind, recipient, sender, subject, body, topic_arn, "
            "subscription_arn, message_id, subscribe_url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(rows))

    async def mail(self, recipient: str | None, after_id: int, limit: int) -> list[Row]:
        cols = ("id, account, region, kind, recipient, sender, subject, body, topic_arn, subscription_arn, "
                "message_id, subscribe_url, created_at")
        if recipient:
            return await self.store.fetchall(
                f"SELECT {cols} FROM sns_mail WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?",
                (recipient, after_id, limit))
        return await self.store.fetchall(f"SELECT {cols} FROM sns_mail WHERE id > ? ORDER BY id LIMIT ?",
                                         (after_id, limit))
