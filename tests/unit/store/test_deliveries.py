"""Delivery records: written in a transaction, read back by journey, message and source, fan-out rows
expanded, old records swept. On both stores, and on two servers sharing one PostgreSQL database (written on
one, read and swept on the other)."""

from __future__ import annotations

import asyncio

from tests.support.nodes import StoreNodes
from tsunagi.store.deliveries import Delivery, DeliveryRepo, Outcome


def _run(nodes: StoreNodes, body) -> None:
    async def go() -> None:
        async with nodes.opened() as (a, b):
            await body(a, DeliveryRepo(a), DeliveryRepo(b))
    asyncio.run(go())


def test_records_by_trace_message_and_source(nodes: StoreNodes) -> None:
    async def body(store, repo: DeliveryRepo, other: DeliveryRepo) -> None:
        base = Delivery("1-aaaaaaaa-000000000000000000000001", 1000, "000000000000", "us-east-1", "sns",
                        "arn:aws:sns:us-east-1:000000000000:t", "m1", "", None, "", None)
        async with store.transaction() as tx:
            await repo.record_fanout_in(tx, [
                (base, [Outcome("sub-a", "sqs", "delivered", None), Outcome("sub-b", "lambda", "queued", None)]),
                (base._replace(message_id="m2"), [Outcome("sub-a", "sqs", "filtered", "no match")]),
            ])
            await repo.record_in(tx, [base._replace(trace_id="1-bbbbbbbb-000000000000000000000002", pipe="s3",
                                                    source_arn="arn:aws:s3:::b", message_id="e1",
                                                    target_arn="arn:aws:sqs:us-east-1:000000000000:q",
                                                    protocol="sqs", outcome="delivered")])
        by_trace = await other.by_trace("1-aaaaaaaa-000000000000000000000001")
        assert [(d.message_id, d.target_arn, d.outcome) for d in by_trace] == [
            ("m1", "sub-a", "delivered"), ("m1", "sub-b", "queued"), ("m2", "sub-a", "filtered")]
        assert [d.reason for d in await other.by_message("m2")] == ["no match"]
        s3 = await other.by_source("arn:aws:s3:::b")
        assert len(s3) == 1 and s3[0].pipe == "s3" and s3[0].trace_id.endswith("2")
    _run(nodes, body)


def test_sweep_removes_only_old_records(nodes: StoreNodes) -> None:
    async def body(store, repo: DeliveryRepo, other: DeliveryRepo) -> None:
        rec = Delivery("t", 0, "000000000000", "us-east-1", "sqs", "src", "m", "dst", None, "delivered", None)
        await repo.record_in(store, [rec._replace(at=t, message_id=f"m{t}") for t in (100, 200, 300, 400)])
        assert await other.sweep(before_ms=250, batch=1) == 2
        assert sorted(d.message_id or "" for d in await repo.by_trace("t")) == ["m300", "m400"]
    _run(nodes, body)
