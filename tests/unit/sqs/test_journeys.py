"""A message keeps the journey (trace id) of the request that caused it, and shows the AWSTraceHeader
its sender gave, as AWS does: set by MessageSystemAttributes, else by the request's X-Amzn-Trace-Id;
none when the sender gave neither. On both stores."""

from __future__ import annotations

import json

from tsunagi.context import internal_context
from tsunagi.ports.sqs import SQS
from tsunagi.trace import new_trace_id


def header(root: str, parent: str = "53995c3f42cd8ad8") -> str:
    return f"Root={root};Parent={parent};Sampled=1"


def test_a_sent_messages_journey_is_the_senders_and_comes_back_to_a_poller(sqs):
    async def body(h):
        port = h.svc.platform.ports.get(SQS)
        url = await h.create("q1")
        queue = await port.queue(await h.arn(url))
        untraced = h.context(trace_id=new_trace_id())
        await h.svc.send_message(untraced, {"QueueUrl": url, "MessageBody": "plain"})
        traced_root = new_trace_id()
        traced = h.context(trace_id=traced_root, trace_header=header(traced_root))
        await h.svc.send_message(traced, {"QueueUrl": url, "MessageBody": "traced"})
        (plain, tagged) = await port.receive(queue, 10, 0)
        assert (plain.body, plain.trace_id) == ("plain", untraced.trace_id)
        assert "AWSTraceHeader" not in plain.attributes          # the sender gave no header: AWS shows none
        assert (tagged.body, tagged.trace_id) == ("traced", traced_root)
        assert tagged.attributes["AWSTraceHeader"] == header(traced_root)
    sqs(body)


def test_a_messages_own_trace_header_beats_the_requests_and_names_its_journey(sqs):
    async def body(h):
        port = h.svc.platform.ports.get(SQS)
        url = await h.create("q1")
        queue = await port.queue(await h.arn(url))
        request_root, message_root = new_trace_id(), new_trace_id()
        ctx = h.context(trace_id=request_root, trace_header=header(request_root))
        await h.svc.send_message(ctx, {"QueueUrl": url, "MessageBody": "m", "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": header(message_root, "0f0f0f0f0f0f0f0f")}}})
        (m,) = await port.receive(queue, 10, 0)
        assert m.attributes["AWSTraceHeader"] == header(message_root, "0f0f0f0f0f0f0f0f")
        assert m.trace_id == message_root
    sqs(body)


def test_a_batchs_messages_share_the_requests_header_unless_an_entry_has_its_own(sqs):
    async def body(h):
        url = await h.create("q1")
        root, own = new_trace_id(), new_trace_id()
        ctx = h.context(trace_id=root, trace_header=header(root))
        out = await h.svc.send_message_batch(ctx, {"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "a"},
            {"Id": "b", "MessageBody": "b", "MessageSystemAttributes": {
                "AWSTraceHeader": {"DataType": "String", "StringValue": header(own)}}}]})
        assert [e["Id"] for e in out["Successful"]] == ["a", "b"]
        got = {m["Body"]: m["Attributes"] for m in await h.recv(url, MessageSystemAttributeNames=["AWSTraceHeader"])}
        assert got == {"a": {"AWSTraceHeader": header(root)}, "b": {"AWSTraceHeader": header(own)}}
    sqs(body)


def test_messages_added_for_another_service_keep_its_journey_and_header(sqs):
    async def body(h):
        port = h.svc.platform.ports.get(SQS)
        url = await h.create("q1")
        fifo_url = await h.create("q1.fifo", FifoQueue="true", ContentBasedDeduplication="true")
        queue = await port.queue(await h.arn(url))
        fifo = await port.queue(await h.arn(fifo_url))
        traced, untraced = new_trace_id(), new_trace_id()
        rows = port.deferred()
        async with h.store.transaction() as tx:
            # a fan-out of a traced publish, of an untraced one, and of a traced one to a FIFO queue
            await port.enqueue_in(tx, queue, "traced", trace_id=traced, trace_header=header(traced), defer=rows)
            await port.enqueue_in(tx, queue, "untraced", trace_id=untraced, defer=rows)
            await port.enqueue_in(tx, fifo, "in order", trace_id=traced, trace_header=header(traced), group_id="g")
            await port.flush_in(tx, rows)
        got = await port.receive(queue, 10, 0)
        assert [(m.body, m.trace_id, m.attributes.get("AWSTraceHeader")) for m in got] == [
            ("traced", traced, header(traced)), ("untraced", untraced, None)]
        (m,) = await port.receive(fifo, 10, 0)
        assert (m.trace_id, m.attributes["AWSTraceHeader"]) == (traced, header(traced))
        # an outbox delivery (an S3 notification, a destination) sends in its cause's journey
        journey = new_trace_id()
        ctx = internal_context("000000000000", "us-east-1", "sqs", "SendMessage", trace_id=journey)
        await port.send(ctx, queue.arn, "notified")
        (m,) = await port.receive(queue, 10, 0)
        assert (m.body, m.trace_id) == ("notified", journey) and "AWSTraceHeader" not in m.attributes
    sqs(body)


def test_a_message_moved_to_the_dead_letter_queue_stays_in_its_journey(sqs):
    async def body(h):
        port = h.svc.platform.ports.get(SQS)
        dlq_url = await h.create("dlq")
        dlq_arn = await h.arn(dlq_url)
        url = await h.create("q1", VisibilityTimeout=0,
                             RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
        root = new_trace_id()
        await h.svc.send_message(h.context(trace_id=root, trace_header=header(root)),
                                 {"QueueUrl": url, "MessageBody": "poison"})
        assert [m["Body"] for m in await h.recv(url)] == ["poison"]
        assert await h.recv(url) == []                               # second receive: moved to the DLQ
        (m,) = await port.receive(await port.queue(dlq_arn), 10, 0)
        assert (m.body, m.trace_id, m.attributes["AWSTraceHeader"]) == ("poison", root, header(root))
    sqs(body)
