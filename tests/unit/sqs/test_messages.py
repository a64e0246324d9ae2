"""Send, receive, delete, visibility, delay, retention, sizes and attributes."""

from __future__ import annotations

import asyncio

from tsunagi.services.sqs.md5 import md5_of_attributes


def test_send_receive_delete(sqs):
    async def body(h):
        url = await h.create("q1")
        # Given a sent message
        sent = await h.send(url, "hello")
        assert sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
        # When it is received
        msgs = await h.recv(url)
        # Then it comes back once, hidden from the next receive
        assert [m["Body"] for m in msgs] == ["hello"]
        assert msgs[0]["MessageId"] == sent["MessageId"]
        assert msgs[0]["MD5OfBody"] == sent["MD5OfMessageBody"]
        assert await h.recv(url) == []
        # And once deleted it never returns, even after the visibility timeout
        await h.delete(url, msgs[0]["ReceiptHandle"])
        h.clock.advance(31)
        assert await h.recv(url) == []
    sqs(body)


def test_visibility_timeout_and_fresh_receipt_handles(sqs):
    async def body(h):
        url = await h.create("q1", VisibilityTimeout=10)
        await h.send(url, "m")
        first = (await h.recv(url))[0]
        h.clock.advance(9.9)
        assert await h.recv(url) == []
        h.clock.advance(0.2)
        second = (await h.recv(url, AttributeNames=["All"]))[0]
        assert second["ReceiptHandle"] != first["ReceiptHandle"]
        assert second["Attributes"]["ApproximateReceiveCount"] == "2"
        # an earlier handle still deletes the message on a standard queue
        await h.delete(url, first["ReceiptHandle"])
        h.clock.advance(11)
        assert await h.recv(url) == []
    sqs(body)


def test_receive_visibility_override(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "m")
        await h.recv(url, VisibilityTimeout=0)
        assert len(await h.recv(url, VisibilityTimeout=5)) == 1
        h.clock.advance(5)
        assert len(await h.recv(url)) == 1
    sqs(body)


def test_change_message_visibility(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "m")
        m = (await h.recv(url))[0]
        svc, ctx = h.svc, h.ctx
        # extend, then make visible at once
        await svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"],
                                                  "VisibilityTimeout": 100})
        h.clock.advance(50)
        assert await h.recv(url) == []
        await svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"],
                                                  "VisibilityTimeout": 0})
        m2 = (await h.recv(url, VisibilityTimeout=7200))[0]
        # the first handle is stale now
        await h.fails(svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"],
                                                          "VisibilityTimeout": 10}),
                      "InvalidParameterValue", "for parameter ReceiptHandle is invalid")
        # 12 hours from the receive is the limit
        h.clock.advance(3600)
        await h.fails(svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": m2["ReceiptHandle"],
                                                          "VisibilityTimeout": 43200}),
                      "InvalidParameterValue", "Total VisibilityTimeout for the message is beyond the limit")
        await svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": m2["ReceiptHandle"],
                                                  "VisibilityTimeout": 43200 - 3600})
        await h.fails(svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": "garbage",
                                                          "VisibilityTimeout": 1}), "ReceiptHandleIsInvalid")
        await h.fails(svc.change_message_visibility(ctx, {"QueueUrl": url, "ReceiptHandle": m2["ReceiptHandle"],
                                                          "VisibilityTimeout": 43201}), "InvalidParameterValue")
    sqs(body)


def test_change_visibility_after_timeout_expired_is_accepted_and_changes_nothing(sqs):
    async def body(h):
        url = await h.create("q1", VisibilityTimeout=5)
        await h.send(url, "m")
        m = (await h.recv(url))[0]
        h.clock.advance(6)
        # AWS answers OK for a receipt whose visibility ran out, and the message stays visible
        assert await h.svc.change_message_visibility(h.ctx, {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"],
                                                             "VisibilityTimeout": 600}) == {}
        again = await h.recv(url)
        assert [x["Body"] for x in again] == ["m"]
        assert again[0]["ReceiptHandle"] != m["ReceiptHandle"]
        await h.svc.change_message_visibility(h.ctx, {"QueueUrl": url, "ReceiptHandle": again[0]["ReceiptHandle"],
                                                      "VisibilityTimeout": 0})
        assert [x["Body"] for x in await h.recv(url)] == ["m"]
    sqs(body)


def test_malformed_receipt_handle(sqs):
    async def body(h):
        url = await h.create("q1")
        e = await h.fails(h.delete(url, "not-a-handle"), "ReceiptHandleIsInvalid")
        assert e.query_code == "ReceiptHandleIsInvalid"
    sqs(body)


def test_delay_queue_and_per_message_delay(sqs):
    async def body(h):
        url = await h.create("q1", DelaySeconds=5)
        await h.send(url, "queue-delay")
        await h.send(url, "no-delay", DelaySeconds=0)
        await h.send(url, "long", DelaySeconds=20)
        assert [m["Body"] for m in await h.recv(url, VisibilityTimeout=100)] == ["no-delay"]
        a = await h.attrs(url, "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible")
        assert a == {"ApproximateNumberOfMessagesDelayed": "2", "ApproximateNumberOfMessagesNotVisible": "1"}
        h.clock.advance(5)
        assert [m["Body"] for m in await h.recv(url, VisibilityTimeout=100)] == ["queue-delay"]
        h.clock.advance(15)
        assert [m["Body"] for m in await h.recv(url)] == ["long"]
        await h.fails(h.send(url, "x", DelaySeconds=901), "InvalidParameterValue",
                      "Value 901 for parameter DelaySeconds is invalid")
    sqs(body)


def test_retention_expiry(sqs):
    async def body(h):
        url = await h.create("q1", MessageRetentionPeriod=60)
        await h.send(url, "old")
        h.clock.advance(30)
        await h.send(url, "new")
        h.clock.advance(31)
        assert (await h.attrs(url, "ApproximateNumberOfMessages")) == {"ApproximateNumberOfMessages": "1"}
        assert [m["Body"] for m in await h.recv(url)] == ["new"]
        # the periodic sweep removes what nobody received
        await h.send(url, "swept")
        h.clock.advance(61)
        await h.svc.sweep()
        assert (await h.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")) == {
            "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    sqs(body)


def test_max_number_and_wait_validation(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.fails(h.recv(url, n=11), "InvalidParameterValue",
                      "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, "
                      "if provided.")
        await h.fails(h.recv(url, n=0), "InvalidParameterValue")
        await h.fails(h.recv(url, WaitTimeSeconds=21), "InvalidParameterValue")
        await h.fails(h.recv(url, VisibilityTimeout=43201), "InvalidParameterValue")
        for i in range(15):
            await h.send(url, f"m{i}")
        assert len(await h.recv(url, n=10)) == 10
        assert len(await h.recv(url, n=10)) == 5
    sqs(body)


def test_message_attributes_md5_and_filters(sqs):
    async def body(h):
        url = await h.create("q1")
        attrs = {"General": {"DataType": "String", "StringValue": "Kenobi"},
                 "Hello": {"DataType": "String", "StringValue": "There"},
                 "Help.Me": {"DataType": "String", "StringValue": "Me"}}
        sent = await h.send(url, "msg", MessageAttributes=attrs)
        # the digest AWS returned for these attributes
        assert sent["MD5OfMessageAttributes"] == "4c360f3fdafd970e05fae2f149d997f5"
        m = (await h.recv(url, MessageAttributeNames=["All"], VisibilityTimeout=0))[0]
        assert m["MessageAttributes"] == attrs
        assert m["MD5OfMessageAttributes"] == "4c360f3fdafd970e05fae2f149d997f5"
        m = (await h.recv(url, MessageAttributeNames=["Hel.*"], VisibilityTimeout=0))[0]
        assert set(m["MessageAttributes"]) == {"Hello", "Help.Me"}
        assert m["MD5OfMessageAttributes"] == md5_of_attributes(m["MessageAttributes"])
        m = (await h.recv(url, MessageAttributeNames=["General", "Nope"], VisibilityTimeout=0))[0]
        assert set(m["MessageAttributes"]) == {"General"}
        m = (await h.recv(url, VisibilityTimeout=0))[0]
        assert "MessageAttributes" not in m and "MD5OfMessageAttributes" not in m
    sqs(body)


def test_binary_and_number_attributes(sqs):
    async def body(h):
        url = await h.create("q1")
        attrs = {"attr1": {"DataType": "Binary",
                           "BinaryValue": b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"},
                 "n": {"DataType": "Number.int", "StringValue": "42"}}
        sent = await h.send(url, "test", MessageAttributes=attrs)
        assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs)
        m = (await h.recv(url, MessageAttributeNames=[".*"]))[0]
        assert m["MessageAttributes"] == attrs
        await h.fails(h.send(url, "x", MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}}),
                      "InvalidParameterValue")
        await h.fails(h.send(url, "x", MessageAttributes={"n": {"DataType": "Float", "StringValue": "1"}}),
                      "InvalidParameterValue")
        await h.fails(h.send(url, "x", MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "1"}}),
                      "InvalidParameterValue")
        many = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
        await h.fails(h.send(url, "x", MessageAttributes=many), "InvalidParameterValue",
                      "Number of message attributes [11] exceeds the allowed maximum [10].")
    sqs(body)


def test_system_attributes_and_trace_header(sqs):
    async def body(h):
        url = await h.create("q1")
        sys_attrs = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
        sent = await h.send(url, "m", MessageSystemAttributes=sys_attrs)
        assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(sys_attrs)
        t0 = h.clock.now_ms()
        h.clock.advance(2)
        m = (await h.recv(url, MessageSystemAttributeNames=["All"]))[0]
        a = m["Attributes"]
        assert a["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
        assert a["SentTimestamp"] == str(t0)
        assert a["ApproximateFirstReceiveTimestamp"] == str(t0 + 2000)
        assert a["ApproximateReceiveCount"] == "1"
        assert a["SenderId"] == "000000000000"
        assert "SequenceNumber" not in a
        # the X-Amzn-Trace-Id header is used when the message has none
        ctx = h.context(trace_header="Root=1-abc")
        await h.svc.send_message(ctx, {"QueueUrl": url, "MessageBody": "t"})
        m = (await h.recv(url, AttributeNames=["AWSTraceHeader"]))[0]
        assert m["Attributes"] == {"AWSTraceHeader": "Root=1-abc"}
    sqs(body)


def test_message_size_counts_attributes(sqs):
    async def body(h):
        url = await h.create("q1", MaximumMessageSize=1024)
        await h.send(url, "x" * 1024)
        await h.fails(h.send(url, "x" * 1025), "InvalidParameterValue",
                      "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.")
        # body 1000 + name 4 + type 6 + value 15 = 1025
        await h.fails(h.send(url, "x" * 1000, MessageAttributes={
            "name": {"DataType": "String", "StringValue": "v" * 15}}), "InvalidParameterValue")
        await h.send(url, "x" * 1000, MessageAttributes={"name": {"DataType": "String", "StringValue": "v" * 14}})
    sqs(body)


def test_invalid_characters_and_missing_body(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "tab\tnewline\ncr\r emoji \U0001F600 \ue000")
        await h.fails(h.send(url, "bad \x00"), "InvalidMessageContents", "Invalid characters found.")
        await h.fails(h.send(url, "bad \x1f"), "InvalidMessageContents")
        await h.fails(h.send(url, "bad \ufffe"), "InvalidMessageContents")
        await h.fails(h.send(url, ""), "MissingParameter", "The request must contain the parameter MessageBody.")
    sqs(body)


def test_queue_does_not_exist_codes(sqs):
    async def body(h):
        e = await h.fails(h.send("http://localhost:4566/000000000000/nope", "x"), "QueueDoesNotExist")
        assert e.query_code == "AWS.SimpleQueueService.NonExistentQueue"
    sqs(body)


def test_long_poll_wakes_on_send(sqs):
    async def body(h):
        url = await h.create("q1")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        task = asyncio.create_task(h.recv(url, WaitTimeSeconds=10))
        await asyncio.sleep(0.05)
        assert not task.done()
        await h.send(url, "wake")
        msgs = await asyncio.wait_for(task, 2)
        assert [m["Body"] for m in msgs] == ["wake"]
        assert loop.time() - t0 < 1.0
    sqs(body)


def test_long_poll_queue_default_wait_and_timeout(sqs):
    async def body(h):
        url = await h.create("q1", ReceiveMessageWaitTimeSeconds=1)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await h.recv(url) == []
        assert 0.9 <= loop.time() - t0 < 2.5
    sqs(body)


def test_long_poll_wakes_on_visibility_expiry(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "m")
        # received with a 1 s visibility timeout
        await h.recv(url, VisibilityTimeout=1)
        task = asyncio.create_task(h.recv(url, WaitTimeSeconds=5))
        await asyncio.sleep(0.1)
        h.clock.advance(1)   # the message's visibility ends (the waiter sleeps until then)
        msgs = await asyncio.wait_for(task, 3)
        assert [m["Body"] for m in msgs] == ["m"]
    sqs(body)


def test_long_poll_sees_a_message_that_turns_visible_while_it_looks(sqs):
    # The visibility timeout ends between a long poll's look (nothing visible yet) and its working out
    # when to look again: it must look again at once, not sleep to the end of its wait.
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "m")
        await h.recv(url, VisibilityTimeout=1)
        real = h.svc.receiving._look
        looks = []

        async def look(*args):
            rows, receipt, nxt = await real(*args)
            looks.append(len(rows))
            if len(looks) == 1 and not rows:    # the long poll's first look (it registers before it)
                h.clock.advance(1)              # the message's visibility ends while it looks
            return rows, receipt, nxt

        h.svc.receiving._look = look
        msgs = await asyncio.wait_for(h.recv(url, WaitTimeSeconds=5), 2)
        assert [m["Body"] for m in msgs] == ["m"]
        assert looks[:2] == [0, 1]
    sqs(body)


def test_long_poll_returns_empty_on_stop(sqs):
    async def body(h):
        url = await h.create("q1")
        task = asyncio.create_task(h.recv(url, WaitTimeSeconds=20))
        await asyncio.sleep(0.05)
        await h.svc.stop()
        assert await asyncio.wait_for(task, 1) == []
    sqs(body)


def test_purge_queue(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "a")
        await h.send(url, "b")
        await h.svc.purge_queue(h.ctx, {"QueueUrl": url})
        assert await h.recv(url) == []
        h.clock.advance(30)
        e = await h.fails(h.svc.purge_queue(h.ctx, {"QueueUrl": url}), "PurgeQueueInProgress",
                          "Only one PurgeQueue operation on q1 is allowed every 60 seconds.")
        assert e.status == 403 and e.query_code == "AWS.SimpleQueueService.PurgeQueueInProgress"
        h.clock.advance(31)
        await h.send(url, "c")
        await h.svc.purge_queue(h.ctx, {"QueueUrl": url})
        assert await h.recv(url) == []
    sqs(body)


def test_fair_queue_accepts_group_id(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "a", MessageGroupId="tenant-1")
        await h.send(url, "b", MessageGroupId="tenant-1")
        msgs = await h.recv(url, MessageSystemAttributeNames=["MessageGroupId"])
        assert [m["Body"] for m in msgs] == ["a", "b"]
        assert msgs[0]["Attributes"] == {"MessageGroupId": "tenant-1"}
        await h.fails(h.send(url, "c", MessageDeduplicationId="d"), "InvalidParameterValue")
    sqs(body)


def test_durable_across_reopen(tmp_path):
    """A sent message is in the file once the call returns; a deleted one stays gone."""
    from tsunagi.clock import ManualClock
    from tsunagi.config import Config
    from tsunagi.services.base import Platform, RequestContext
    from tsunagi.services.sqs.service import SqsService
    from tsunagi.store.base import open_store

    path = f"sqlite:///{tmp_path}/d.db"
    ctx = RequestContext(account="000000000000", region="us-east-1", request_id="r")

    async def phase(fn):
        store = open_store(path, str(tmp_path))
        platform = Platform(Config(), store, ManualClock())
        svc = SqsService(platform)
        await store.open()
        await svc.start()
        try:
            return await fn(svc)
        finally:
            await svc.stop()
            await store.close()

    async def one(svc):
        url = (await svc.create_queue(ctx, {"QueueName": "d"}))["QueueUrl"]
        await svc.send_message(ctx, {"QueueUrl": url, "MessageBody": "keep"})
        await svc.send_message(ctx, {"QueueUrl": url, "MessageBody": "drop"})
        msgs = (await svc.receive_message(ctx, {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                                "VisibilityTimeout": 0}))["Messages"]
        drop = next(m for m in msgs if m["Body"] == "drop")
        await svc.delete_message(ctx, {"QueueUrl": url, "ReceiptHandle": drop["ReceiptHandle"]})
        return url

    async def two(svc):
        url = "http://localhost:4566/000000000000/d"
        out = await svc.receive_message(ctx, {"QueueUrl": url, "MaxNumberOfMessages": 10})
        return [m["Body"] for m in out["Messages"]]

    asyncio.run(phase(one))
    assert asyncio.run(phase(two)) == ["keep"]


def test_concurrent_sends_to_a_queue_deleted_underneath_fail_alone(sqs):
    # On PostgreSQL the sends of one turn of the event loop share one INSERT: when one of them names a
    # queue that another server deleted (this one still has it cached), only that send fails.
    async def body(h):
        u1 = await h.create("q1")
        u2 = await h.create("q2")
        q2 = await h.svc.directory.by_url(h.ctx, u2)            # cached here
        await h.store.execute("DELETE FROM sqs_queues WHERE id = ?", (q2.id,))
        sends = [h.send(u1, f"a{i}") for i in range(4)] + [h.send(u2, "b")] + [h.send(u1, "a4")]
        results = await asyncio.gather(*sends, return_exceptions=True)
        assert [type(r).__name__ for r in results] == ["dict"] * 4 + ["QueueDoesNotExist"] + ["dict"]
        got = await h.recv(u1)
        assert sorted(m["Body"] for m in got) == [f"a{i}" for i in range(5)]
    sqs(body)


def test_a_send_answers_one_of_two_parked_polls_and_the_other_keeps_waiting(sqs):
    async def body(h):
        url = await h.create("q1")
        polls = [asyncio.create_task(h.recv(url, 1, WaitTimeSeconds=5)) for _ in range(2)]
        await asyncio.sleep(0.1)                        # both parked
        await h.send(url, "m")
        done, pending = await asyncio.wait(polls, timeout=2, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1
        assert [m["Body"] for m in done.pop().result()] == ["m"]
        await asyncio.sleep(0.2)
        assert len(pending) == 1 and not pending.pop().done()    # still waiting for a message of its own
        await h.send(url, "n")
        results = await asyncio.wait_for(asyncio.gather(*polls), 2)
        assert sorted(m["Body"] for r in results for m in r) == ["m", "n"]
    sqs(body)
