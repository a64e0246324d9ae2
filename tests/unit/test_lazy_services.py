"""Services load when first needed on a new store, and all at the start on a store with state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tsunagi.config import Config
from tsunagi.context import RequestContext
from tsunagi.ports import StartPending
from tsunagi.ports.cloudwatch import COUNTERS
from tsunagi.ports.kms import KMS
from tsunagi.ports.sqs import SQS
from tsunagi.server import assemble
from tsunagi.services.base import Platform
from tsunagi.store.base import open_store


def _platform(data: Path) -> Platform:
    store = open_store("sqlite", str(data))
    return assemble(Config(data_dir=str(data), sns_signing_processes=0), store, lazy=True)


def test_a_new_store_loads_a_service_on_its_first_port_lookup(tmp_path: Path) -> None:
    async def go() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            assert platform.store.fresh
            assert platform.services == {}
            assert platform.serves("sqs") and "sqs" in platform.served()
            port = platform.ports.find(SQS)        # loaded now; its start runs before any call goes through
            assert port is not None
            assert "sqs" in platform.services and "kms" not in platform.services
            await platform.ensure("sqs")
            assert platform.starting == {}
            assert platform.ports.find(SQS) is not None
            assert platform.ports.find(KMS) is not None
            assert platform.load("no-such-service") is None
        finally:
            await platform.stop()

    asyncio.run(go())


def test_the_rest_load_in_the_background(tmp_path: Path, monkeypatch) -> None:
    import tsunagi.services.base as base

    monkeypatch.setattr(base, "BACKGROUND_LOAD_DELAY_S", 0.0)

    async def go() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            for _ in range(500):
                if not platform.available and not platform.starting:
                    break
                await asyncio.sleep(0.01)
            assert platform.available == {}
            assert sorted(platform.services) == platform.served()
        finally:
            await platform.stop()

    asyncio.run(go())


def test_a_store_with_state_starts_every_service_before_serving(tmp_path: Path) -> None:
    async def first() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        await platform.stop()

    async def again() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            assert not platform.store.fresh
            assert platform.available == {} and platform.starting == {}
            assert "sqs" in platform.services and "kms" in platform.services
        finally:
            await platform.stop()

    asyncio.run(first())
    asyncio.run(again())


def test_a_service_loaded_while_a_reset_runs_does_not_break_it(tmp_path: Path) -> None:
    """A reset awaits each service's on_reset; a service loaded meanwhile (a request for it, or the
    background load) joins the platform's services then, and the reset must still finish."""
    async def go() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            platform.ports.find(SQS)
            await platform.ensure("sqs")
            sqs = platform.services["sqs"]
            real = sqs.on_reset

            async def load_another_meanwhile() -> None:
                platform.ports.find(KMS)          # loads KMS during the reset
                await real()

            sqs.on_reset = load_another_meanwhile  # type: ignore[method-assign]
            await platform.reset()
            assert "kms" in platform.services
            await platform.ensure("kms")
        finally:
            await platform.stop()

    asyncio.run(go())


def test_sqs_loads_cloudwatch_with_the_first_message_it_counts(tmp_path: Path) -> None:
    """SQS's start does not load CloudWatch (a new store's first CreateQueue need not wait for it); the
    first message sent does, and is counted in AWS/SQS as before."""
    async def go() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            sqs: Any = await platform.ensure("sqs")
            ctx = RequestContext(account="123456789012", region="us-east-1", request_id="r1", host="localhost")
            url = (await sqs.create_queue(ctx, {"QueueName": "jobs"}))["QueueUrl"]
            assert "cloudwatch" not in platform.services
            await sqs.send_message(ctx, {"QueueUrl": url, "MessageBody": "one"})
            assert "cloudwatch" in platform.services
            await platform.ensure("cloudwatch")
            await sqs.send_message(ctx, {"QueueUrl": url, "MessageBody": "two"})
            counters = platform.ports.find(COUNTERS)
            assert counters is not None and sqs.sending.counters is counters     # no wrapper left once started
            sent = [d for data in counters.drain().values() for d in data if d.name == "NumberOfMessagesSent"]
            assert [(d.namespace, d.dimensions, d.count) for d in sent] == [("AWS/SQS", (("QueueName", "jobs"),), 2.0)]
        finally:
            await platform.stop()

    asyncio.run(go())


def test_a_publish_while_sqs_is_starting_does_not_wait_on_it(tmp_path: Path) -> None:
    """A topic's first publish on a new store loads SQS (its port is looked up for the fan-out) and
    starts it; the publish's transaction must not wait for that start, which reads the store. (It
    did: the server stopped answering with every request waiting on the store.)"""
    async def go() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            sns: Any = await platform.ensure("sns")
            assert "sqs" not in platform.services
            ctx = RequestContext(account="123456789012", region="us-east-1", request_id="r1", host="localhost")
            topic = (await sns.create_topic(ctx, {"Name": "news"}))["TopicArn"]
            await sns.subscribe(ctx, {"TopicArn": topic, "Protocol": "sms", "Endpoint": "+15555550100"})
            published = await asyncio.wait_for(sns.publish(ctx, {"TopicArn": topic, "Message": "hi"}), 10)
            assert published["MessageId"]
            assert "sqs" in platform.services
            await asyncio.wait_for(platform.ensure("sqs"), 10)
        finally:
            await platform.stop()

    asyncio.run(go())


def test_a_method_in_a_callers_transaction_is_refused_before_the_start_not_awaited(tmp_path: Path) -> None:
    async def go() -> None:
        platform = _platform(tmp_path)
        await platform.start()
        try:
            async with platform.store.transaction() as tx:
                port = platform.ports.find(SQS)       # loads SQS; its start needs the store
                assert port is not None
                with pytest.raises(StartPending, match="flush_in was called in a transaction"):
                    await asyncio.wait_for(port.flush_in(tx, port.deferred()), 10)
            await asyncio.wait_for(platform.ensure("sqs"), 10)
            async with platform.store.transaction() as tx:
                await platform.ports.get(SQS).flush_in(tx, platform.ports.get(SQS).deferred())
        finally:
            await platform.stop()

    asyncio.run(go())
