"""Encryption at rest for topics with a KMS key, on both stores: the outbox rows of an encrypted topic's
deliveries (and their retries) hold no message in the clear, the deliveries still get it, and a key KMS
will not use fails Publish with SNS's KMS errors or keeps a waiting delivery until the key is back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tsunagi.pipes.outbox import outbox_for
from tsunagi.protocol.errors import ServiceError

CANARY = "canary-5c1d7e02-topic-body"
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:on-order"
WITH_KMS = ("kms", "sqs", "sns")


async def _key(h: Any) -> str:
    kms = h.platform.services["kms"]
    return str((await kms.create_key(h.ctx(), {}))["KeyMetadata"]["KeyId"])


async def _payloads(h: Any) -> list[str]:
    return [str(r[0]) for r in await h.store.fetchall("SELECT payload FROM outbox")]


async def _fails(aw: Any, code: str) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await aw
    assert caught.value.code == code, caught.value
    return caught.value


def test_an_encrypted_topics_outbox_rows_hold_no_message_in_the_clear(sns):
    async def body(h):
        key = await _key(h)
        secret = await h.topic("secret", KmsMasterKeyId=key)
        plain = await h.topic("plain")
        for topic in (secret, plain):
            await h.subscribe(topic, "lambda", FUNCTION)
            await h.svc.subscribe(h.ctx(), {"TopicArn": topic, "Protocol": "email", "Endpoint": "ops@example.com"})
        await h.publish(h.ctx(), secret, CANARY + "-secret", Subject="s")
        await h.publish(h.ctx(), plain, CANARY + "-plain")
        rows = await _payloads(h)
        assert not any(CANARY + "-secret" in r for r in rows)
        assert any(CANARY + "-plain" in r for r in rows)        # the scan sees what is not sealed
        sealed = [json.loads(r) for r in rows if '"sealed"' in r]
        assert len(sealed) == 1 and set(sealed[0]) <= {"sealed", "message_id", "source_arn", "pipe", "protocol",
                                                         "attempt", "dlq", "kind"}
        assert sealed[0]["source_arn"] == secret
    sns(body, outbox=False, services=WITH_KMS)


def test_a_sealed_delivery_opens_when_it_runs(sns):
    async def body(h):
        key = await _key(h)
        kms = h.platform.services["kms"]
        await kms.create_alias(h.ctx(), {"AliasName": "alias/orders", "TargetKeyId": key})
        by_alias = await h.topic("by-alias", KmsMasterKeyId="alias/orders")
        managed = await h.topic("managed", KmsMasterKeyId="alias/aws/sns")
        for topic in (by_alias, managed):
            await h.subscribe(topic, "lambda", FUNCTION)
            await h.publish(h.ctx(), topic, CANARY)
        calls = await h.invoked(2)
        for call in calls:
            event = json.loads(call.payload)
            assert event["Records"][0]["Sns"]["Message"] == CANARY
    sns(body, services=WITH_KMS)


def test_a_disabled_missing_or_pending_deletion_key_fails_publish_and_writes_nothing(sns):
    async def body(h):
        kms = h.platform.services["kms"]
        key = await _key(h)
        topic = await h.topic("secret", KmsMasterKeyId=key)
        await h.subscribe(topic, "lambda", FUNCTION)
        await kms.disable_key(h.ctx(), {"KeyId": key})
        err = await _fails(h.publish(h.ctx(), topic, CANARY), "KMSDisabled")
        assert "DisabledException" in err.message
        with pytest.raises(ServiceError) as batch:
            await h.svc.publish_batch(h.ctx(), {"TopicArn": topic, "PublishBatchRequestEntries": [
                {"Id": "a", "Message": CANARY}]})
        assert batch.value.code == "KMSDisabled"
        assert await _payloads(h) == []
        await kms.enable_key(h.ctx(), {"KeyId": key})
        await h.publish(h.ctx(), topic, CANARY)
        assert len(await _payloads(h)) == 1
        await kms.schedule_key_deletion(h.ctx(), {"KeyId": key, "PendingWindowInDays": 7})
        await _fails(h.publish(h.ctx(), topic, CANARY), "KMSInvalidState")
        missing = await h.topic("missing", KmsMasterKeyId="alias/does-not-exist")
        await _fails(h.publish(h.ctx(), missing, CANARY), "KMSNotFound")
    sns(body, outbox=False, services=WITH_KMS)


def test_a_waiting_delivery_whose_key_is_disabled_is_kept_sealed_until_the_key_is_back(sns):
    async def body(h):
        kms = h.platform.services["kms"]
        key = await _key(h)
        topic = await h.topic("secret", KmsMasterKeyId=key)
        await h.subscribe(topic, "lambda", FUNCTION)
        await h.publish(h.ctx(), topic, CANARY)
        await kms.disable_key(h.ctx(), {"KeyId": key})
        outbox = outbox_for(h.platform)
        await outbox.start()
        try:
            for _ in range(3000):                # the first try finds the key disabled: the row waits
                if outbox.delivered:
                    break
                await asyncio.sleep(0.01)
            assert h.functions.invocations == []
            rows = await _payloads(h)              # the waiting row (and, for a moment, the one it replaced)
            assert rows and all(CANARY not in r and "sealed" in json.loads(r) for r in rows)
            await kms.enable_key(h.ctx(), {"KeyId": key})
            h.clock.advance(61)
            outbox.wake()
            (call,) = await h.invoked(timeout=30.0)
            assert json.loads(call.payload)["Records"][0]["Sns"]["Message"] == CANARY
        finally:
            await outbox.stop()
    sns(body, outbox=False, services=WITH_KMS)
