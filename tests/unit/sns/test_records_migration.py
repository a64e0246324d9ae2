"""Migration 0023: the delivery records SNS kept in its own table come along to the platform's, on both
stores, and its table goes."""

from __future__ import annotations

import asyncio
import json

from tsunagi.store.base import open_store
from tsunagi.store.deliveries import DeliveryRepo

# sns_deliveries with the columns migrations 0020-0022 gave it.
OLD_TABLE = """CREATE TABLE sns_deliveries (
    id               BIGINT PRIMARY KEY,
    message_id       TEXT NOT NULL,
    topic_arn        TEXT NOT NULL,
    subscription_arn TEXT NOT NULL,
    protocol         TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    reason           TEXT,
    at               BIGINT NOT NULL
)"""
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"


def test_records_in_the_old_table_move_to_the_platforms(store_url, tmp_path):
    fanout = json.dumps([[f"{TOPIC}:a", "sqs", "delivered", None],
                         [f"{TOPIC}:b", "sqs", "filtered", "filter policy did not match"]])

    async def body():
        path = store_url if store_url != ":memory:" else f"sqlite:///{tmp_path / 'old.db'}"
        store = open_store(path, str(tmp_path))
        await store.open()
        await store.reset()
        # Given a store from before 0023, with a one-subscription record and a fan-out record
        await store.execute(OLD_TABLE)
        await store.executemany(
            "INSERT INTO sns_deliveries (id, message_id, topic_arn, subscription_arn, protocol, outcome, reason, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "m1", TOPIC, f"{TOPIC}:a", "lambda", "failed", "no such function", 1_000),
             (2, "m2", TOPIC, "", "", "fanout", fanout, 2_000)])
        await store.execute("DELETE FROM tsunagi_migrations WHERE version = 23")
        await store.close()
        # When the store is opened (and migrated) again
        store = open_store(path, str(tmp_path))
        await store.open()
        try:
            repo = DeliveryRepo(store)
            moved = await repo.by_source(TOPIC)
            tables = await store.fetchall(
                "SELECT name FROM sqlite_master WHERE name = 'sns_deliveries'" if store.dialect == "sqlite" else
                "SELECT tablename FROM pg_tables WHERE tablename = 'sns_deliveries'")
            return moved, tables
        finally:
            await store.close()

    moved, tables = asyncio.run(body())
    # Then every outcome is there, with the topic's account and region, and the old table is gone
    assert [(d.pipe, d.message_id, d.account, d.region, d.target_arn, d.protocol, d.outcome, d.reason, d.at)
            for d in moved] == [
        ("sns", "m1", "123456789012", "eu-west-1", f"{TOPIC}:a", "lambda", "failed", "no such function", 1_000),
        ("sns", "m2", "123456789012", "eu-west-1", f"{TOPIC}:a", "sqs", "delivered", None, 2_000),
        ("sns", "m2", "123456789012", "eu-west-1", f"{TOPIC}:b", "sqs", "filtered", "filter policy did not match",
         2_000)]
    assert all(d.trace_id == "" for d in moved)
    assert tables == []
