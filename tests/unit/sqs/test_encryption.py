"""Encryption at rest for queues with a KMS key (SSE-KMS), on both stores: the store holds no body or
message attribute of such a queue in the clear, receivers get them back, and a key KMS will not use
makes SendMessage and ReceiveMessage fail with SQS's KMS.* errors while the messages stay."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.support.services import service_runner
from tests.unit.sqs.conftest import Body, Harness

from tsunagi.ports.sqs import SQS
from tsunagi.services.kms.service import KmsService
from tsunagi.services.sqs.service import SqsService

CANARY = "canary-7f3e9b1c-body"
ATTR_CANARY = "canary-attr-51d0"


def _both(platform: Any) -> SqsService:
    platform.services["kms"] = KmsService(platform)
    return SqsService(platform)


@pytest.fixture
def sse(store_url: str, tmp_path: Any) -> Callable[[Body], None]:
    run = service_runner(store_url, str(tmp_path), "sqs", _both, Harness)

    def go(body: Body) -> None:
        async def with_kms(h: Harness) -> None:
            kms = h.svc.platform.services["kms"]
            await kms.start()
            try:
                await body(h)
            finally:
                await kms.stop()
        run(with_kms)
    return go


async def _stored(h: Harness) -> list[Any]:
    return [tuple(r) for r in await h.store.fetchall("SELECT body, attrs, sealed FROM sqs_messages")]


async def _key(h: Harness) -> str:
    kms = h.svc.platform.services["kms"]
    return (await kms.create_key(h.ctx, {}))["KeyMetadata"]["KeyId"]


def test_a_kms_queue_stores_no_body_or_attribute_in_the_clear_and_receivers_read_them(sse):
    async def body(h):
        key = await _key(h)
        url = await h.create("secret", KmsMasterKeyId=key)
        sent = await h.send(url, CANARY, MessageAttributes={"tag": {"DataType": "String", "StringValue": ATTR_CANARY}})
        for row in await _stored(h):
            assert CANARY not in repr(row) and ATTR_CANARY not in repr(row)
            assert row[0] == "" and row[1] is None and row[2]
        (m,) = await h.recv(url, MessageAttributeNames=["All"])
        assert m["Body"] == CANARY and m["MessageId"] == sent["MessageId"]
        assert m["MessageAttributes"] == {"tag": {"DataType": "String", "StringValue": ATTR_CANARY}}
        assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    sse(body)


def test_aliases_the_aws_managed_key_batches_and_fifo_queues_are_sealed_too(sse):
    async def body(h):
        kms = h.svc.platform.services["kms"]
        key = await _key(h)
        await kms.create_alias(h.ctx, {"AliasName": "alias/orders", "TargetKeyId": key})
        by_alias = await h.create("by-alias", KmsMasterKeyId="alias/orders")
        managed = await h.create("managed", KmsMasterKeyId="alias/aws/sqs")
        fifo = await h.create("ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true",
                              KmsMasterKeyId=key)
        await h.svc.send_message_batch(h.ctx, {"QueueUrl": by_alias, "Entries": [
            {"Id": "a", "MessageBody": CANARY + "-a"}, {"Id": "b", "MessageBody": CANARY + "-b"}]})
        await h.send(managed, CANARY + "-m")
        await h.send(fifo, CANARY + "-f", MessageGroupId="g")
        assert all(CANARY not in repr(r) for r in await _stored(h))
        assert sorted(m["Body"] for m in await h.recv(by_alias)) == [CANARY + "-a", CANARY + "-b"]
        assert [m["Body"] for m in await h.recv(managed)] == [CANARY + "-m"]
        assert [m["Body"] for m in await h.recv(fifo)] == [CANARY + "-f"]
        aliases = [a["AliasName"] for a in (await kms.list_aliases(h.ctx, {}))["Aliases"]]
        assert "alias/aws/sqs" in aliases          # made on first use, as AWS makes its managed keys
    sse(body)


def test_an_unencrypted_queue_keeps_the_clear_form(sse):
    async def body(h):
        url = await h.create("plain", SqsManagedSseEnabled="false")
        await h.send(url, CANARY)
        assert [r[0] for r in await _stored(h)] == [CANARY]
        assert [m["Body"] for m in await h.recv(url)] == [CANARY]
    sse(body)


def test_a_disabled_or_deleted_key_fails_sends_and_receives_and_keeps_the_messages(sse):
    async def body(h):
        kms = h.svc.platform.services["kms"]
        key = await _key(h)
        url = await h.create("secret", KmsMasterKeyId=key, KmsDataKeyReusePeriodSeconds=60)
        await h.send(url, CANARY)
        await kms.disable_key(h.ctx, {"KeyId": key})
        h.clock.advance(61)                      # past the data key's reuse period
        err = await h.fails(h.send(url, "more"), "KmsDisabled")
        assert err.query_code == "KMS.DisabledException"
        await h.fails(h.recv(url), "KmsDisabled")
        assert (await h.attrs(url))["ApproximateNumberOfMessages"] == "1"    # kept, visible again
        await kms.enable_key(h.ctx, {"KeyId": key})
        assert [m["Body"] for m in await h.recv(url)] == [CANARY]
        await kms.schedule_key_deletion(h.ctx, {"KeyId": key, "PendingWindowInDays": 7})
        h.clock.advance(61)
        await h.fails(h.send(url, "more"), "KmsInvalidState")
        missing = await h.create("no-such-key", KmsMasterKeyId="alias/does-not-exist")
        await h.fails(h.send(missing, "x"), "KmsNotFound")
    sse(body)


def test_messages_added_by_a_fan_out_are_sealed_and_a_refused_key_refuses_them(sse):
    async def body(h):
        kms = h.svc.platform.services["kms"]
        port = h.svc.platform.ports.get(SQS)
        key = await _key(h)
        url = await h.create("secret", KmsMasterKeyId=key, KmsDataKeyReusePeriodSeconds=60)
        queue = await port.queue(await h.arn(url))         # looked up before the transaction, as SNS does
        async with h.store.transaction() as tx:
            await port.enqueue_in(tx, queue, CANARY, trace_id="1-00000000-000000000000000000000000")
        assert all(CANARY not in repr(r) for r in await _stored(h))
        (m,) = await port.receive(queue, 10, 0)
        assert m.body == CANARY
        await kms.disable_key(h.ctx, {"KeyId": key})
        h.clock.advance(61)
        queue = await port.queue(queue.arn)
        with pytest.raises(Exception) as caught:
            async with h.store.transaction() as tx:
                await port.enqueue_in(tx, queue, "refused", trace_id="1-00000000-000000000000000000000000")
        assert getattr(caught.value, "code", None) == "KmsDisabled"
    sse(body)


def test_a_sealed_message_moved_to_a_dead_letter_queue_still_opens(sse):
    async def body(h):
        key = await _key(h)
        dlq = await h.create("dlq", SqsManagedSseEnabled="false")
        url = await h.create("secret", KmsMasterKeyId=key, VisibilityTimeout=0, RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": await h.arn(dlq), "maxReceiveCount": 1}))
        await h.send(url, CANARY)
        assert [m["Body"] for m in await h.recv(url)] == [CANARY]
        assert await h.recv(url) == []
        assert [m["Body"] for m in await h.recv(dlq)] == [CANARY]
    sse(body)


def test_a_queue_with_sqs_managed_encryption_the_default_stores_nothing_in_the_clear(sse):
    async def body(h):
        port = h.svc.platform.ports.get(SQS)
        default = await h.create("default")                       # SqsManagedSseEnabled is true by default
        assert (await h.attrs(default, "SqsManagedSseEnabled")) == {"SqsManagedSseEnabled": "true"}
        explicit = await h.create("ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true",
                                  SqsManagedSseEnabled="true")
        await h.send(default, CANARY + "-1", MessageAttributes={
            "tag": {"DataType": "String", "StringValue": ATTR_CANARY}})
        await h.svc.send_message_batch(h.ctx, {"QueueUrl": default, "Entries": [
            {"Id": "a", "MessageBody": CANARY + "-2"}]})
        await h.send(explicit, CANARY + "-3", MessageGroupId="g")
        queue = await port.queue(await h.arn(default))             # a fan-out's lookup, then its transaction
        async with h.store.transaction() as tx:
            await port.enqueue_in(tx, queue, CANARY + "-4", trace_id="1-00000000-000000000000000000000000")
        rows = await _stored(h)
        assert len(rows) == 4 and all(CANARY not in repr(r) and ATTR_CANARY not in repr(r) for r in rows)
        got = await h.recv(default, MessageAttributeNames=["All"])
        assert sorted(m["Body"] for m in got) == [CANARY + "-1", CANARY + "-2", CANARY + "-4"]
        (first,) = [m for m in got if m["Body"] == CANARY + "-1"]
        assert first["MessageAttributes"]["tag"]["StringValue"] == ATTR_CANARY
        assert [m["Body"] for m in await h.recv(explicit)] == [CANARY + "-3"]
        # a server that has not read the key yet (or lost it: a restart) reads it from the store
        await h.send(default, CANARY + "-5")
        h.svc.sealer.forget()
        assert [m["Body"] for m in await h.recv(default)] == [CANARY + "-5"]
    sse(body)


def test_turning_sqs_managed_encryption_off_keeps_earlier_messages_readable(sse):
    async def body(h):
        url = await h.create("switch")
        await h.send(url, "sealed")
        await h.svc.set_queue_attributes(h.ctx, {"QueueUrl": url, "Attributes": {"SqsManagedSseEnabled": "false"}})
        await h.send(url, "clear")
        assert sorted(r[0] for r in await _stored(h)) == ["", "clear"]
        assert sorted(m["Body"] for m in await h.recv(url)) == ["clear", "sealed"]
    sse(body)
