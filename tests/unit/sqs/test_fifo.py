"""FIFO queues: group order and exclusivity, deduplication, sequence numbers, attempt ids."""

from __future__ import annotations

import hashlib


async def _fifo(h, name="f.fifo", **attrs):
    return await h.create(name, FifoQueue="true", **attrs)


def test_group_order_and_blocking(sqs):
    async def body(h):
        url = await _fifo(h)
        for i in range(3):
            await h.send(url, f"a{i}", MessageGroupId="A", MessageDeduplicationId=f"a{i}")
        await h.send(url, "b0", MessageGroupId="B", MessageDeduplicationId="b0")
        # Given the first of group A in flight
        first = await h.recv(url, n=1)
        assert [m["Body"] for m in first] == ["a0"]
        # Then the rest of A is blocked, B is not
        assert [m["Body"] for m in await h.recv(url)] == ["b0"]
        assert await h.recv(url) == []
        # When a0 is deleted, A continues in order
        await h.delete(url, first[0]["ReceiptHandle"])
        assert [m["Body"] for m in await h.recv(url)] == ["a1", "a2"]
    sqs(body)


def test_group_unblocks_after_visibility_timeout_and_keeps_order(sqs):
    async def body(h):
        url = await _fifo(h, VisibilityTimeout=10)
        for i in range(3):
            await h.send(url, f"m{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
        assert [m["Body"] for m in await h.recv(url, n=1)] == ["m0"]
        h.clock.advance(10)
        assert [m["Body"] for m in await h.recv(url)] == ["m0", "m1", "m2"]
    sqs(body)


def test_sequence_numbers_and_system_attributes(sqs):
    async def body(h):
        url = await _fifo(h)
        a = await h.send(url, "1", MessageGroupId="g", MessageDeduplicationId="d1")
        b = await h.send(url, "2", MessageGroupId="g", MessageDeduplicationId="d2")
        assert len(a["SequenceNumber"]) == 20 and int(b["SequenceNumber"]) > int(a["SequenceNumber"])
        m = (await h.recv(url, n=1, AttributeNames=["All"]))[0]
        assert m["Attributes"]["SequenceNumber"] == a["SequenceNumber"]
        assert m["Attributes"]["MessageGroupId"] == "g"
        assert m["Attributes"]["MessageDeduplicationId"] == "d1"
    sqs(body)


def test_deduplication_window_holds_after_delete(sqs):
    async def body(h):
        url = await _fifo(h)
        first = await h.send(url, "x", MessageGroupId="g", MessageDeduplicationId="same")
        m = (await h.recv(url))[0]
        await h.delete(url, m["ReceiptHandle"])
        dup = await h.send(url, "x", MessageGroupId="g", MessageDeduplicationId="same")
        assert dup["MessageId"] == first["MessageId"]
        assert dup["SequenceNumber"] == first["SequenceNumber"]
        assert await h.recv(url) == []
        h.clock.advance(301)
        again = await h.send(url, "x", MessageGroupId="g", MessageDeduplicationId="same")
        assert again["MessageId"] != first["MessageId"]
        assert [m["Body"] for m in await h.recv(url)] == ["x"]
    sqs(body)


def test_content_based_deduplication(sqs):
    async def body(h):
        url = await _fifo(h, ContentBasedDeduplication="true")
        await h.send(url, "same body", MessageGroupId="g")
        await h.send(url, "same body", MessageGroupId="g2")
        # an explicit id equal to the generated one is a duplicate too
        await h.send(url, "other", MessageGroupId="g",
                     MessageDeduplicationId=hashlib.sha256(b"same body").hexdigest())
        msgs = await h.recv(url, AttributeNames=["MessageDeduplicationId"])
        assert [m["Body"] for m in msgs] == ["same body"]
        assert msgs[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same body").hexdigest()
    sqs(body)


def test_deduplication_scope_message_group(sqs):
    async def body(h):
        url = await _fifo(h, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
        await h.send(url, "a", MessageGroupId="g1", MessageDeduplicationId="d")
        await h.send(url, "b", MessageGroupId="g2", MessageDeduplicationId="d")
        await h.send(url, "c", MessageGroupId="g1", MessageDeduplicationId="d")
        assert sorted(m["Body"] for m in await h.recv(url)) == ["a", "b"]
    sqs(body)


def test_fifo_send_rules(sqs):
    async def body(h):
        url = await _fifo(h)
        await h.fails(h.send(url, "x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=2),
                      "InvalidParameterValue",
                      "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that "
                      "is not valid for this queue type.")
        await h.fails(h.send(url, "x", MessageDeduplicationId="d"), "MissingParameter",
                      "The request must contain the parameter MessageGroupId.")
        await h.fails(h.send(url, "x", MessageGroupId="g"), "InvalidParameterValue",
                      "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                      "provided explicitly")
        # a queue-level delay is allowed on FIFO queues
        await h.svc.set_queue_attributes(h.ctx, {"QueueUrl": url, "Attributes": {"DelaySeconds": "5"}})
        await h.send(url, "late", MessageGroupId="g", MessageDeduplicationId="d9")
        assert await h.recv(url) == []
        h.clock.advance(5)
        assert [m["Body"] for m in await h.recv(url)] == ["late"]
    sqs(body)


def test_fifo_stale_receipt_handle(sqs):
    async def body(h):
        url = await _fifo(h, VisibilityTimeout=5)
        await h.send(url, "g1-m1", MessageGroupId="g", MessageDeduplicationId="d")
        m = (await h.recv(url))[0]
        h.clock.advance(6)
        await h.fails(h.delete(url, m["ReceiptHandle"]), "InvalidParameterValue",
                      "for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.")
        m2 = (await h.recv(url))[0]
        await h.fails(h.delete(url, m["ReceiptHandle"]), "InvalidParameterValue", "The receipt handle has expired.")
        await h.fails(h.svc.change_message_visibility(h.ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"],
                                                              "VisibilityTimeout": 1}),
                      "InvalidParameterValue", "The receipt handle has expired.")
        await h.delete(url, m2["ReceiptHandle"])
        # deleting an already deleted message succeeds
        await h.delete(url, m2["ReceiptHandle"])
    sqs(body)


def test_receive_request_attempt_id(sqs):
    async def body(h):
        url = await _fifo(h)
        for i in range(3):
            await h.send(url, f"m{i}", MessageGroupId=f"g{i}", MessageDeduplicationId=f"d{i}")
        first = await h.recv(url, n=2, ReceiveRequestAttemptId="attempt-1")
        retry = await h.recv(url, n=2, ReceiveRequestAttemptId="attempt-1")
        assert [m["MessageId"] for m in retry] == [m["MessageId"] for m in first]
        assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in first]
        other = await h.recv(url, n=2, ReceiveRequestAttemptId="attempt-2")
        assert [m["Body"] for m in other] == ["m2"]
        await h.delete(url, retry[0]["ReceiptHandle"])
    sqs(body)


def test_fifo_queue_attributes_changes(sqs):
    async def body(h):
        url = await _fifo(h, ContentBasedDeduplication="true")
        await h.svc.set_queue_attributes(h.ctx, {"QueueUrl": url, "Attributes": {
            "ContentBasedDeduplication": "false"}})
        assert (await h.attrs(url, "ContentBasedDeduplication")) == {"ContentBasedDeduplication": "false"}
        await h.fails(h.svc.set_queue_attributes(h.ctx, {"QueueUrl": url, "Attributes": {
            "FifoThroughputLimit": "perMessageGroupId"}}), "InvalidAttributeValue")
    sqs(body)
