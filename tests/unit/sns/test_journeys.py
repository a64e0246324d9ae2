"""A publish's journey: its trace id reaches what it causes (the queues' messages, the outbox rows,
the function invocations) and its delivery records, on both stores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from tsunagi.context import Source
from tsunagi.ports.sqs import SQS, DeferredRows, MessageAttributeValue, QueueRef, SqsPort
from tsunagi.store.base import Tx
from tsunagi.trace import new_trace_id

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:on-order"


class WatchedSqs:
    """SQS's port, with the journey of every message SNS adds inside a transaction noted."""

    def __init__(self, port: SqsPort) -> None:
        self.port = port
        self.enqueued: list[tuple[str, str]] = []       # (queue ARN, trace id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)

    async def enqueue_in(self, tx: Tx, queue: QueueRef, body: str,
                         attributes: Mapping[str, MessageAttributeValue] | None = None, *, trace_id: str,
                         **kw: Any) -> None:
        self.enqueued.append((queue.arn, trace_id))
        await self.port.enqueue_in(tx, queue, body, attributes, trace_id=trace_id, **kw)

    async def flush_in(self, tx: Tx, rows: DeferredRows) -> None:
        await self.port.flush_in(tx, rows)


def test_sqs_deliveries_and_dead_letters_are_added_in_the_publishs_journey(sns):
    async def body(h):
        watched = WatchedSqs(h.sqs)
        h.platform.ports.provide(SQS, watched)
        topic = await h.topic("orders")
        live = await h.queue("live")
        dlq = await h.queue("dlq")
        await h.subscribe(topic, "sqs", live.arn)
        await h.subscribe(topic, "sqs", live.arn.replace(":live", ":gone"),
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn}))
        trace = new_trace_id()
        await h.publish(h.ctx(trace), topic, "hello")
        # the message went to the live queue and, for the queue that does not exist, to the DLQ: both
        # in the publish's journey
        assert sorted(watched.enqueued) == sorted([(live.arn, trace), (dlq.arn, trace)])
        assert [m.body for m in await h.receive(dlq)] and [m.body for m in await h.receive(live)]

    sns(body)


def test_a_queue_subscriptions_message_belongs_to_the_publishs_journey(sns):
    async def body(h):
        topic = await h.topic("orders")
        raw = await h.queue("raw")
        enveloped = await h.queue("enveloped")
        await h.subscribe(topic, "sqs", raw.arn, RawMessageDelivery="true")
        await h.subscribe(topic, "sqs", enveloped.arn)
        trace = new_trace_id()
        await h.publish(h.ctx(trace), topic, "hello")
        got = [m.trace_id for m in await h.receive(raw)] + [m.trace_id for m in await h.receive(enveloped)]
        assert got == [trace, trace]

    sns(body)


def test_a_lambda_subscription_is_invoked_in_the_publishs_journey_as_sns_for_the_topic(sns):
    async def body(h):
        topic = await h.topic("orders")
        sub = await h.subscribe(topic, "lambda", FUNCTION)
        trace = new_trace_id()
        mid = await h.publish(h.ctx(trace), topic, "hello", Subject="new order")
        (call,) = await h.invoked()
        assert call.function == FUNCTION and call.invocation_type == "Event"
        assert call.ctx.trace_id == trace
        assert (call.ctx.account, call.ctx.region, call.ctx.service, call.ctx.operation) == (
            "000000000000", "us-east-1", "lambda", "Invoke")
        assert call.ctx.source == Source(topic, "sns.amazonaws.com", "000000000000")
        assert call.ctx.principal is not None and call.ctx.principal.service == "sns.amazonaws.com"
        (record,) = json.loads(call.payload)["Records"]
        assert record["EventSubscriptionArn"] == sub and record["Sns"]["MessageId"] == mid
        # the delivery records: queued by the publish, delivered by the handler, one journey
        records = await h.platform.deliveries.by_trace(trace)
        for _ in range(200):
            if len(records) == 2:
                break
            await asyncio.sleep(0.01)
            records = await h.platform.deliveries.by_trace(trace)
        assert [(d.message_id, d.target_arn, d.protocol, d.outcome) for d in records] == [
            (mid, sub, "lambda", "queued"), (mid, sub, "lambda", "delivered")]

    sns(body)


def test_every_outbox_row_sns_writes_carries_its_cause_s_journey(sns):
    async def body(h):
        topic = await h.topic("orders")
        subscribing = new_trace_id()
        await h.svc.subscribe(h.ctx(subscribing), {"TopicArn": topic, "Protocol": "https",
                                                   "Endpoint": "https://example.com/hook"})
        await h.svc.subscribe(h.ctx(subscribing), {"TopicArn": topic, "Protocol": "email",
                                                   "Endpoint": "me@example.com"})
        await h.subscribe(topic, "lambda", FUNCTION)
        await h.subscribe(topic, "sms", "+15555550100")
        publishing = new_trace_id()
        await h.publish(h.ctx(publishing), topic, "hello")
        texting = new_trace_id()
        await h.svc.publish(h.ctx(texting), {"PhoneNumber": "+15555550101", "Message": "hi"})
        rows = await h.pending()
        assert sorted((r.kind, r.trace_id) for r in rows) == sorted([
            ("sns-http", subscribing), ("sns-mail", subscribing),          # the two confirmations
            ("sns-lambda", publishing), ("sns-mail", publishing),         # the notifications
            ("sns-mail", texting)])                                       # the direct SMS

    sns(body, outbox=False)


def test_a_publishs_records_are_one_row_read_back_one_per_subscription_in_its_journey(sns):
    async def body(h):
        topic = await h.topic("orders")
        subs = []
        for name in ("a", "b", "c"):
            queue = await h.queue(name)
            attrs = {"FilterPolicy": json.dumps({"kind": ["refund"]})} if name == "b" else {}
            subs.append(await h.subscribe(topic, "sqs", queue.arn, **attrs))
        trace = new_trace_id()
        mid = await h.publish(h.ctx(trace), topic, "hello",
                              MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})
        records = await h.platform.deliveries.by_trace(trace)
        assert sorted((d.message_id, d.source_arn, d.target_arn, d.protocol, d.outcome) for d in records) == sorted([
            (mid, topic, subs[0], "sqs", "delivered"), (mid, topic, subs[1], "sqs", "filtered"),
            (mid, topic, subs[2], "sqs", "delivered")])
        (why,) = [d.reason for d in records if d.target_arn == subs[1]]
        assert why is not None and why.startswith("filter policy did not match")
        assert {(d.pipe, d.account, d.region) for d in records} == {("sns", "000000000000", "us-east-1")}
        (stored,) = await h.store.fetchall("SELECT count(*) FROM deliveries WHERE trace_id = ?", (trace,))
        assert stored[0] == 1

    sns(body, outbox=False)
