"""Two SQS services on two PostgreSQL stores sharing one database act as one SQS."""

from __future__ import annotations

import asyncio

import pytest

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.sqs.service import SqsService
from tsunagi.store.base import open_store

CTX = RequestContext(account="000000000000", region="us-east-1", request_id="r")


def _two_nodes(pg_service_url, body):
    if pg_service_url is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")

    async def go():
        nodes = []
        for _ in range(2):
            store = open_store(pg_service_url, "/tmp")
            svc = SqsService(Platform(Config(), store, Clock()))
            await store.open()
            nodes.append(svc)
        await nodes[0].store.reset()
        for svc in nodes:
            await svc.start()
        try:
            await body(*nodes)
        finally:
            for svc in nodes:
                await svc.stop()
                await svc.store.close()

    asyncio.run(go())


def test_long_poll_on_one_node_wakes_on_send_from_another(pg_service_url):
    async def body(a, b):
        url = (await a.create_queue(CTX, {"QueueName": "mn"}))["QueueUrl"]
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(a.receive_message(CTX, {"QueueUrl": url, "WaitTimeSeconds": 10}))
        await asyncio.sleep(0.1)
        t0 = loop.time()
        await b.send_message(CTX, {"QueueUrl": url, "MessageBody": "cross"})
        out = await asyncio.wait_for(task, 5)
        assert [m["Body"] for m in out["Messages"]] == ["cross"]
        assert loop.time() - t0 < 0.5   # woken by NOTIFY, not the 1 s backstop
    _two_nodes(pg_service_url, body)


def test_no_message_to_two_receivers_and_fifo_groups_exclusive(pg_service_url):
    async def body(a, b):
        url = (await a.create_queue(CTX, {"QueueName": "mn2"}))["QueueUrl"]
        furl = (await a.create_queue(CTX, {"QueueName": "mn2.fifo", "Attributes": {
            "FifoQueue": "true", "ContentBasedDeduplication": "true"}}))["QueueUrl"]
        for i in range(0, 200, 10):
            await b.send_message_batch(CTX, {"QueueUrl": url, "Entries": [
                {"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(10)]})
        for i in range(60):
            await b.send_message(CTX, {"QueueUrl": furl, "MessageBody": f"g{i % 3}-{i}", "MessageGroupId": f"g{i % 3}"})
        seen: list[str] = []
        fifo_seen: dict[str, list[int]] = {}

        async def consumer(svc):
            while True:
                out = await svc.receive_message(CTX, {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                                      "VisibilityTimeout": 60})
                msgs = out.get("Messages", [])
                if not msgs:
                    return
                seen.extend(m["Body"] for m in msgs)

        async def fifo_consumer(svc):
            empty = 0
            while empty < 5:
                out = await svc.receive_message(CTX, {"QueueUrl": furl, "MaxNumberOfMessages": 3,
                                                      "VisibilityTimeout": 60})
                msgs = out.get("Messages", [])
                if not msgs:
                    empty += 1
                    await asyncio.sleep(0.01)
                    continue
                empty = 0
                for m in msgs:
                    g, n = m["Body"].split("-")
                    fifo_seen.setdefault(g, []).append(int(n))
                    await svc.delete_message(CTX, {"QueueUrl": furl, "ReceiptHandle": m["ReceiptHandle"]})

        await asyncio.gather(consumer(a), consumer(b), consumer(a), consumer(b))
        assert sorted(seen) == sorted(f"m{i}" for i in range(200))   # each once, none twice
        await asyncio.gather(fifo_consumer(a), fifo_consumer(b), fifo_consumer(a), fifo_consumer(b))
        for g, ns in fifo_seen.items():
            assert ns == sorted(ns), g
        assert sum(len(v) for v in fifo_seen.values()) == 60
    _two_nodes(pg_service_url, body)


def test_attribute_change_seen_by_other_node(pg_service_url):
    async def body(a, b):
        url = (await a.create_queue(CTX, {"QueueName": "mn3"}))["QueueUrl"]
        await b.send_message(CTX, {"QueueUrl": url, "MessageBody": "x"})   # b caches the queue
        await a.set_queue_attributes(CTX, {"QueueUrl": url, "Attributes": {"MaximumMessageSize": "1024"}})
        await asyncio.sleep(0.2)   # the NOTIFY reaches b
        try:
            await b.send_message(CTX, {"QueueUrl": url, "MessageBody": "y" * 2000})
        except Exception as e:
            assert getattr(e, "code", "") == "InvalidParameterValue"
        else:
            raise AssertionError("b used a stale MaximumMessageSize")
        await a.delete_queue(CTX, {"QueueUrl": url})
        await asyncio.sleep(0.2)
        try:
            await b.send_message(CTX, {"QueueUrl": url, "MessageBody": "z"})
        except Exception as e:
            assert getattr(e, "code", "") == "QueueDoesNotExist"
        else:
            raise AssertionError("b sent to a deleted queue")
    _two_nodes(pg_service_url, body)
