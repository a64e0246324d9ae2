"""Batches, dead-letter queues, redrive policies and message move tasks."""

from __future__ import annotations

import asyncio
import json


def test_send_message_batch(sqs):
    async def body(h):
        url = await h.create("q1")
        out = await h.svc.send_message_batch(h.ctx, {"QueueUrl": url, "Entries": [
            {"Id": "1", "MessageBody": "a", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "2", "MessageBody": "b", "DelaySeconds": 10},
            {"Id": "3", "MessageBody": "bad \x00"},
        ]})
        assert [s["Id"] for s in out["Successful"]] == ["1", "2"]
        assert out["Successful"][0]["MD5OfMessageAttributes"]
        assert out["Failed"] == [{"Id": "3", "SenderFault": True, "Code": "InvalidMessageContents",
                                  "Message": out["Failed"][0]["Message"]}]
        assert [m["Body"] for m in await h.recv(url)] == ["a"]
        h.clock.advance(10)
        assert [m["Body"] for m in await h.recv(url)] == ["b"]
    sqs(body)


def test_batch_request_rules(sqs):
    async def body(h):
        url = await h.create("q1", MaximumMessageSize=1024)
        svc, ctx = h.svc, h.ctx
        e = await h.fails(svc.send_message_batch(ctx, {"QueueUrl": url, "Entries": []}), "EmptyBatchRequest",
                          "There should be at least one SendMessageBatchRequestEntry in the request.")
        assert e.query_code == "AWS.SimpleQueueService.EmptyBatchRequest"
        await h.fails(svc.send_message_batch(ctx, {"QueueUrl": url, "Entries": [
            {"Id": str(i), "MessageBody": "x"} for i in range(20)]}), "TooManyEntriesInBatchRequest",
            "Maximum number of entries per request are 10. You have sent 20.")
        await h.fails(svc.send_message_batch(ctx, {"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]}), "BatchEntryIdsNotDistinct",
            "Id a repeated.")
        for bad in ("", "invalid:id", "x" * 81):
            await h.fails(svc.delete_message_batch(ctx, {"QueueUrl": url, "Entries": [
                {"Id": bad, "ReceiptHandle": "h"}]}), "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at "
                "most 80 letters long.")
        await h.fails(svc.send_message_batch(ctx, {"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "x" * 600}, {"Id": "b", "MessageBody": "y" * 425}]}), "BatchRequestTooLong",
            "Batch requests cannot be longer than 1024 bytes. You have sent 1025 bytes.")
        await h.fails(svc.change_message_visibility_batch(ctx, {"QueueUrl": url, "Entries": [
            {"Id": str(i), "ReceiptHandle": "h", "VisibilityTimeout": 1} for i in range(11)]}),
            "TooManyEntriesInBatchRequest")
    sqs(body)


def test_delete_and_change_visibility_batches(sqs):
    async def body(h):
        url = await h.create("q1")
        for i in range(4):
            await h.send(url, f"m{i}")
        msgs = await h.recv(url)
        out = await h.svc.delete_message_batch(h.ctx, {"QueueUrl": url, "Entries": [
            {"Id": "a", "ReceiptHandle": msgs[0]["ReceiptHandle"]},
            {"Id": "b", "ReceiptHandle": msgs[1]["ReceiptHandle"]},
            {"Id": "c", "ReceiptHandle": "garbage"}]})
        assert out["Successful"] == [{"Id": "a"}, {"Id": "b"}]
        assert out["Failed"][0]["Id"] == "c" and out["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
        out = await h.svc.change_message_visibility_batch(h.ctx, {"QueueUrl": url, "Entries": [
            {"Id": "x", "ReceiptHandle": msgs[2]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "y", "ReceiptHandle": msgs[0]["ReceiptHandle"], "VisibilityTimeout": 0}]})
        assert out["Successful"] == [{"Id": "x"}]
        assert out["Failed"][0]["Id"] == "y" and out["Failed"][0]["SenderFault"] is True
        assert [m["Body"] for m in await h.recv(url)] == ["m2"]
    sqs(body)


def test_fifo_batch_requires_group(sqs):
    async def body(h):
        url = await h.create("f.fifo", FifoQueue="true", ContentBasedDeduplication="true")
        await h.fails(h.svc.send_message_batch(h.ctx, {"QueueUrl": url, "Entries": [
            {"Id": "1", "MessageBody": "a"}]}), "InvalidParameterValue",
            "The request must contain the parameter MessageGroupId.")
        out = await h.svc.send_message_batch(h.ctx, {"QueueUrl": url, "Entries": [
            {"Id": "1", "MessageBody": "a", "MessageGroupId": "g"},
            {"Id": "2", "MessageBody": "b", "MessageGroupId": "g"},
            {"Id": "3", "MessageBody": "a", "MessageGroupId": "g"}]})
        seqs = [int(s["SequenceNumber"]) for s in out["Successful"]]
        assert seqs[0] < seqs[1] and seqs[2] == seqs[0]
        assert [m["Body"] for m in await h.recv(url)] == ["a", "b"]
    sqs(body)


async def _with_dlq(h, max_receive=2, fifo=False):
    kw = {"FifoQueue": "true"} if fifo else {}
    suffix = ".fifo" if fifo else ""
    dlq = await h.create("dlq" + suffix, **kw)
    dlq_arn = await h.arn(dlq)
    src = await h.create("src" + suffix, RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}), **kw)
    return src, dlq, dlq_arn


def test_redrive_to_dead_letter_queue(sqs):
    async def body(h):
        src, dlq, _ = await _with_dlq(h, max_receive=2)
        sent = await h.send(src, "poison", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        t_sent = h.clock.now_ms()
        for _ in range(2):
            assert len(await h.recv(src, VisibilityTimeout=0)) == 1
            h.clock.advance(1)
        # the third receive exceeds maxReceiveCount: the message moves instead
        assert await h.recv(src) == []
        m = (await h.recv(dlq, AttributeNames=["All"], MessageAttributeNames=["All"]))[0]
        assert m["MessageId"] == sent["MessageId"] and m["Body"] == "poison"
        assert m["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}
        assert m["Attributes"]["SentTimestamp"] == str(t_sent)
        assert m["Attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-1:000000000000:src"
        out = await h.svc.list_dead_letter_source_queues(h.ctx, {"QueueUrl": dlq})
        assert out == {"queueUrls": ["http://localhost:4566/000000000000/src"]}
    sqs(body)


def test_redrive_fifo(sqs):
    async def body(h):
        src, dlq, _ = await _with_dlq(h, max_receive=1, fifo=True)
        await h.send(src, "a", MessageGroupId="g", MessageDeduplicationId="1")
        await h.send(src, "b", MessageGroupId="g", MessageDeduplicationId="2")
        await h.recv(src, n=1, VisibilityTimeout=0)
        # a moves to the DLQ; b, next in the group, is delivered
        assert [m["Body"] for m in await h.recv(src, n=1)] == ["b"]
        assert [m["Body"] for m in await h.recv(dlq)] == ["a"]
    sqs(body)


def test_redrive_policy_validation(sqs):
    async def body(h):
        fifo_dlq = await h.create("d.fifo", FifoQueue="true")
        std = await h.create("std")
        svc, ctx = h.svc, h.ctx

        async def set_rp(value):
            await svc.set_queue_attributes(ctx, {"QueueUrl": std, "Attributes": {"RedrivePolicy": value}})

        await h.fails(set_rp('{"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}'), "InvalidParameterValue",
                      'Value {"deadLetterTargetArn": "dummy", "maxReceiveCount": 42} for parameter RedrivePolicy is '
                      "invalid. Reason: Invalid value for deadLetterTargetArn.")
        await h.fails(set_rp("not json"), "InvalidParameterValue")
        await h.fails(set_rp('{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope", '
                             '"maxReceiveCount": 1}'), "InvalidParameterValue", "Dead letter target does not exist")
        await h.fails(set_rp(json.dumps({"deadLetterTargetArn": await h.arn(fifo_dlq), "maxReceiveCount": 1})),
                      "InvalidParameterValue", "same type")
        dlq_arn = await h.arn(await h.create("dlq"))
        await h.fails(set_rp(json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1001})),
                      "InvalidParameterValue", "maxReceiveCount")
        await h.fails(set_rp(json.dumps({"deadLetterTargetArn": dlq_arn})), "InvalidParameterValue",
                      "mandatory attribute: maxReceiveCount")
        await set_rp(json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}))
        assert json.loads((await h.attrs(std, "RedrivePolicy"))["RedrivePolicy"]) == {
            "deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
        await set_rp("")
        assert await h.attrs(std, "RedrivePolicy") == {}
    sqs(body)


def test_redrive_allow_policy(sqs):
    async def body(h):
        dlq = await h.create("dlq")
        dlq_arn = await h.arn(dlq)
        allowed = await h.create("allowed")
        other = await h.create("other")
        svc, ctx = h.svc, h.ctx
        await svc.set_queue_attributes(ctx, {"QueueUrl": dlq, "Attributes": {"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [await h.arn(allowed)]})}})
        rp = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
        await svc.set_queue_attributes(ctx, {"QueueUrl": allowed, "Attributes": {"RedrivePolicy": rp}})
        await h.fails(svc.set_queue_attributes(ctx, {"QueueUrl": other, "Attributes": {"RedrivePolicy": rp}}),
                      "InvalidParameterValue", "does not allow")
        await svc.set_queue_attributes(ctx, {"QueueUrl": dlq, "Attributes": {"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "denyAll"})}})
        await h.fails(h.create("new", RedrivePolicy=rp), "InvalidParameterValue", "does not allow")
        for bad in ('{"redrivePermission": "byQueue"}', '{"redrivePermission": "nope"}',
                    json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [
                        f"arn:aws:sqs:us-east-1:000000000000:q{i}" for i in range(11)]}),
                    json.dumps({"redrivePermission": "allowAll", "sourceQueueArns": [dlq_arn]})):
            await h.fails(svc.set_queue_attributes(ctx, {"QueueUrl": dlq, "Attributes": {
                "RedriveAllowPolicy": bad}}), "InvalidParameterValue")
    sqs(body)


async def _wait_status(h, arn, status, timeout=5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        out = await h.svc.list_message_move_tasks(h.ctx, {"SourceArn": arn})
        if out["Results"] and out["Results"][0]["Status"] == status:
            return out["Results"][0]
        assert loop.time() < end, out
        await asyncio.sleep(0.02)


def test_message_move_task_back_to_source(sqs):
    async def body(h):
        src, dlq, dlq_arn = await _with_dlq(h, max_receive=1)
        for i in range(5):
            await h.send(src, f"m{i}")
        await h.recv(src, VisibilityTimeout=0)
        await h.recv(src)   # all five move to the DLQ
        assert (await h.attrs(dlq, "ApproximateNumberOfMessages"))["ApproximateNumberOfMessages"] == "5"
        out = await h.svc.start_message_move_task(h.ctx, {"SourceArn": dlq_arn})
        assert out["TaskHandle"]
        task = await _wait_status(h, dlq_arn, "COMPLETED")
        assert task["ApproximateNumberOfMessagesMoved"] == 5
        assert task["ApproximateNumberOfMessagesToMove"] == 5
        assert "TaskHandle" not in task
        msgs = await h.recv(src, AttributeNames=["ApproximateReceiveCount"])
        assert sorted(m["Body"] for m in msgs) == [f"m{i}" for i in range(5)]
        assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in msgs)
    sqs(body)


def test_message_move_task_rules_and_cancel(sqs):
    async def body(h):
        src, dlq, dlq_arn = await _with_dlq(h, max_receive=1)
        dest = await h.create("dest")
        dest_arn = await h.arn(dest)
        svc, ctx = h.svc, h.ctx
        await h.fails(svc.start_message_move_task(ctx, {"SourceArn": "arn:aws:sqs:us-east-1:000000000000:x"}),
                      "ResourceNotFoundException")
        await h.fails(svc.start_message_move_task(ctx, {"SourceArn": await h.arn(src)}), "InvalidParameterValue",
                      "Source queue must be configured as a Dead Letter Queue.")
        await h.fails(svc.start_message_move_task(ctx, {"SourceArn": dlq_arn, "MaxNumberOfMessagesPerSecond": 501}),
                      "InvalidParameterValue")
        for i in range(30):
            await h.send(dlq, f"direct{i}")
        out = await svc.start_message_move_task(ctx, {"SourceArn": dlq_arn, "DestinationArn": dest_arn,
                                                      "MaxNumberOfMessagesPerSecond": 10})
        await h.fails(svc.start_message_move_task(ctx, {"SourceArn": dlq_arn}), "InvalidParameterValue",
                      "There is already a task running.")
        running = (await svc.list_message_move_tasks(ctx, {"SourceArn": dlq_arn}))["Results"][0]
        assert running["Status"] == "RUNNING" and running["TaskHandle"] == out["TaskHandle"]
        assert running["MaxNumberOfMessagesPerSecond"] == 10 and running["DestinationArn"] == dest_arn
        await asyncio.sleep(0.3)
        cancelled = await svc.cancel_message_move_task(ctx, {"TaskHandle": out["TaskHandle"]})
        assert 1 <= cancelled["ApproximateNumberOfMessagesMoved"] < 30
        task = await _wait_status(h, dlq_arn, "CANCELLED")
        assert 1 <= task["ApproximateNumberOfMessagesMoved"] < 30
        await h.fails(svc.cancel_message_move_task(ctx, {"TaskHandle": out["TaskHandle"]}),
                      "ResourceNotFoundException")
        await h.fails(svc.cancel_message_move_task(ctx, {"TaskHandle": "bogus"}), "InvalidParameterValue",
                      "Value for parameter TaskHandle is invalid.")
        # a second task finishes the job; the history lists newest first
        h.clock.advance(1)
        await svc.start_message_move_task(ctx, {"SourceArn": dlq_arn, "DestinationArn": dest_arn})
        await _wait_status(h, dlq_arn, "COMPLETED")
        hist = (await svc.list_message_move_tasks(ctx, {"SourceArn": dlq_arn, "MaxResults": 10}))["Results"]
        assert [t["Status"] for t in hist] == ["COMPLETED", "CANCELLED"]
        assert (await h.attrs(dest, "ApproximateNumberOfMessages"))["ApproximateNumberOfMessages"] == "30"
    sqs(body)
