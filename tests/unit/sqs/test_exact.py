"""Issue 22 service rules that need the clock moved: a message past its queue's retention period."""

from __future__ import annotations

import asyncio
import json

GONE = "Reason: Message does not exist or is not available for visibility timeout change."


def test_a_message_past_retention_is_gone_for_change_visibility_too(sqs):
    async def body(h):
        url = await h.create("q1", MessageRetentionPeriod=60)
        await h.send(url, "old")
        [m] = await h.recv(url, VisibilityTimeout=3600)
        h.clock.advance(61)
        err = await h.fails(h.svc.change_message_visibility(
            h.ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}),
            "InvalidParameterValue")
        assert err.message == f"Value {m['ReceiptHandle']} for parameter ReceiptHandle is invalid. {GONE}"
        out = await h.svc.change_message_visibility_batch(h.ctx, {"QueueUrl": url, "Entries": [
            {"Id": "a", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}]})
        assert out["Failed"][0]["Code"] == "InvalidParameterValue"
        assert await h.recv(url) == []
        assert await h.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible") == {
            "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    sqs(body)


def test_a_fifo_message_past_retention_is_gone_for_change_visibility_too(sqs):
    async def body(h):
        url = await h.create("q1.fifo", FifoQueue="true", ContentBasedDeduplication="true",
                             MessageRetentionPeriod=60)
        await h.send(url, "old", MessageGroupId="g")
        [m] = await h.recv(url, VisibilityTimeout=3600)
        h.clock.advance(61)
        await h.fails(h.svc.change_message_visibility(
            h.ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}),
            "InvalidParameterValue", GONE)
        assert await h.recv(url) == []
    sqs(body)


def test_a_move_task_does_not_move_messages_past_the_dead_letter_queues_retention(sqs):
    async def body(h):
        dlq = await h.create("dlq", MessageRetentionPeriod=60)
        dlq_arn = await h.arn(dlq)
        await h.create("src", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
        dest = await h.create("dest")
        for i in range(3):
            await h.send(dlq, f"old{i}")
        h.clock.advance(61)                                 # past retention, not swept yet
        await h.send(dlq, "fresh")
        await h.svc.start_message_move_task(h.ctx, {"SourceArn": dlq_arn, "DestinationArn": await h.arn(dest)})
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while True:
            [task] = (await h.svc.list_message_move_tasks(h.ctx, {"SourceArn": dlq_arn}))["Results"]
            if task["Status"] != "RUNNING" or loop.time() > end:
                break
            await asyncio.sleep(0.02)
        assert task["Status"] == "COMPLETED"
        assert task["ApproximateNumberOfMessagesMoved"] == 1
        assert [m["Body"] for m in await h.recv(dest)] == ["fresh"]
    sqs(body)
