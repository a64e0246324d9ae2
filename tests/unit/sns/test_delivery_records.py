"""SNS's delivery records (why each delivery happened or not) live in the platform's delivery-record
table: kept for a while, then swept by age, and read back through SNS's port by message and by topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.ports.sns import SNS, SnsPort
from tsunagi.services.base import Platform
from tsunagi.services.sns.service import SnsService
from tsunagi.store.base import Store, open_store
from tsunagi.store.deliveries import Delivery, DeliveryRepo, Outcome

TOPIC = "arn:aws:sns:us-east-1:000000000000:t"


@asynccontextmanager
async def empty_platform(store_url, tmp_path) -> AsyncIterator[tuple[SnsPort, DeliveryRepo, Store]]:
    """SNS's port and the platform's delivery records on a freshly emptied store, closed afterwards."""
    store = open_store(store_url, str(tmp_path))
    platform = Platform(Config(data_dir=str(tmp_path)), store, ManualClock())
    SnsService(platform)
    await store.open()
    await store.reset()
    try:
        yield platform.ports.get(SNS), platform.deliveries, store
    finally:
        await store.close()


def _record(message_id: str, at: int) -> Delivery:
    """What a publish of ``message_id`` on TOPIC at ``at`` writes, before its outcomes."""
    return Delivery("1-00000000-000000000000000000000001", at, "000000000000", "us-east-1", "sns", TOPIC, message_id,
                    "", None, "", None)


def test_old_delivery_records_are_swept_and_recent_ones_stay(store_url, tmp_path):
    async def body():
        async with empty_platform(store_url, tmp_path) as (sns, records, store):
            await records.record_fanout_in(store, [
                (_record(f"m{i}", at), [Outcome("sub", "sqs", "delivered", None)])
                for i, at in enumerate([1_000, 2_000, 3_000, 9_000, 10_000])])
            # When records before t=5,000 are swept (in batches smaller than their number)
            removed = await records.sweep(5_000, batch=2)
            # Then exactly the three old ones are gone
            left = await sns.deliveries(limit=10)
            return removed, sorted(d.message_id or "" for d in left)

    assert asyncio.run(body()) == (3, ["m3", "m4"])


def test_a_fanout_is_one_record_read_back_as_one_row_per_subscription(store_url, tmp_path):
    async def body():
        async with empty_platform(store_url, tmp_path) as (sns, records, store):
            # Given a publish to three subscriptions (one filtered out) and one to a single subscription
            await records.record_fanout_in(store, [
                (_record("m1", 1_000), [Outcome(f"{TOPIC}:a", "sqs", "delivered", None),
                                        Outcome(f"{TOPIC}:b", "sqs", "filtered", "filter policy did not match"),
                                        Outcome(f"{TOPIC}:c", "lambda", "queued", None)]),
                (_record("m2", 2_000), [Outcome(f"{TOPIC}:a", "sqs", "delivered", None)]),
            ])
            stored = await store.fetchall("SELECT count(*) FROM deliveries")
            by_message = await sns.deliveries(message_id="m1")
            by_topic = await sns.deliveries(topic_arn=TOPIC)
            # When the older one is swept, its whole record goes
            removed = await records.sweep(1_500)
            left = await sns.deliveries()
            return stored[0][0], by_message, by_topic, removed, left

    stored, by_message, by_topic, removed, left = asyncio.run(body())
    assert stored == 2
    assert [(d.message_id, d.target_arn, d.outcome, d.reason, d.at) for d in by_message] == [
        ("m1", f"{TOPIC}:a", "delivered", None, 1_000),
        ("m1", f"{TOPIC}:b", "filtered", "filter policy did not match", 1_000),
        ("m1", f"{TOPIC}:c", "queued", None, 1_000)]
    assert [d.message_id for d in by_topic] == ["m2", "m1", "m1", "m1"]
    assert removed == 1 and [(d.message_id, d.outcome) for d in left] == [("m2", "delivered")]


def test_records_of_other_pipes_are_not_snss(store_url, tmp_path):
    async def body():
        async with empty_platform(store_url, tmp_path) as (sns, records, store):
            # Given an S3 notification record that shares a message id with an SNS publish
            await records.record_in(store, [_record("m1", 1_000)._replace(
                pipe="s3", source_arn="arn:aws:s3:::b", target_arn=TOPIC, protocol="sns", outcome="delivered")])
            await records.record_fanout_in(store, [(_record("m1", 2_000), [Outcome(f"{TOPIC}:a", "sqs", "delivered",
                                                                                   None)])])
            return await sns.deliveries(message_id="m1"), await sns.deliveries()

    by_message, recent = asyncio.run(body())
    assert [(d.pipe, d.target_arn) for d in by_message] == [("sns", f"{TOPIC}:a")]
    assert [(d.pipe, d.target_arn) for d in recent] == [("sns", f"{TOPIC}:a")]
