"""Delivery records (why each delivery happened or not) are kept for a while, then swept by age."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tsunagi.store.base import Store, open_store
from tsunagi.store.sns import SnsRepo


@asynccontextmanager
async def empty_repo(store_url, tmp_path) -> AsyncIterator[tuple[SnsRepo, Store]]:
    """An SNS repository on a freshly emptied store, closed afterwards."""
    store = open_store(store_url, str(tmp_path))
    await store.open()
    await store.reset()
    try:
        yield SnsRepo(store), store
    finally:
        await store.close()


def test_old_delivery_records_are_swept_and_recent_ones_stay(store_url, tmp_path):
    async def body():
        async with empty_repo(store_url, tmp_path) as (repo, store):
            rows = [(f"m{i}", "arn:aws:sns:us-east-1:000000000000:t", "sub", "sqs", "delivered", None, at)
                    for i, at in enumerate([1_000, 2_000, 3_000, 9_000, 10_000])]
            await repo.record(store, rows)
            # When records before t=5,000 are swept (in batches smaller than their number)
            removed = await repo.prune_deliveries(5_000, batch=2)
            # Then exactly the three old ones are gone
            left = await repo.deliveries(limit=10)
            return removed, sorted(r[0] for r in left)

    assert asyncio.run(body()) == (3, ["m3", "m4"])


def test_a_fanout_is_one_record_read_back_as_one_row_per_subscription(store_url, tmp_path):
    topic = "arn:aws:sns:us-east-1:000000000000:t"

    async def body():
        async with empty_repo(store_url, tmp_path) as (repo, store):
            # Given a publish to three subscriptions (one filtered out) and one to a single subscription
            await repo.record_fanout(store, [
                ("m1", topic, 1_000, [(f"{topic}:a", "sqs", "delivered", None),
                                      (f"{topic}:b", "sqs", "filtered", "filter policy did not match"),
                                      (f"{topic}:c", "lambda", "queued", None)]),
                ("m2", topic, 2_000, [(f"{topic}:a", "sqs", "delivered", None)]),
            ])
            stored = await store.fetchall("SELECT count(*) FROM sns_deliveries")
            by_message = await repo.deliveries(message_id="m1")
            by_topic = await repo.deliveries(topic_arn=topic)
            # When the older one is swept, its whole record goes
            removed = await repo.prune_deliveries(1_500)
            left = await repo.deliveries()
            return stored[0][0], by_message, by_topic, removed, left

    stored, by_message, by_topic, removed, left = asyncio.run(body())
    assert stored == 2
    assert [(r[0], r[2], r[4], r[5], r[6]) for r in by_message] == [
        ("m1", f"{topic}:a", "delivered", None, 1_000),
        ("m1", f"{topic}:b", "filtered", "filter policy did not match", 1_000),
        ("m1", f"{topic}:c", "queued", None, 1_000)]
    assert [r[0] for r in by_topic] == ["m2", "m1", "m1", "m1"]
    assert removed == 1 and [(r[0], r[4]) for r in left] == [("m2", "delivered")]
