"""SQS encryption at rest with a KMS key, end to end with boto3 on SQLite and PostgreSQL: a canary sent
to a queue with KmsMasterKeyId is nowhere on disk (the data dir, the SQLite WAL) or in the PostgreSQL
rows, while the same canary sent to an unencrypted control queue is found there (so the scan proves
something); a disabled key refuses sends with SQS's KMS.DisabledException and keeps the messages."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.sns_support import receive
from tests.support.server import TsunagiServer


def _found_on_disk(server: TsunagiServer, needle: bytes) -> list[str]:
    """The files of the server's data dir (the SQLite file, its WAL, blobs) that hold ``needle``."""
    hits = []
    for folder, _dirs, files in os.walk(server.data_dir):
        for name in files:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        hits.append(name)
            except OSError:
                continue
    return hits


def _found_in_postgres(server: TsunagiServer, needle: str) -> int:
    """How many rows of the server's PostgreSQL SQS tables hold ``needle`` anywhere, as text."""
    import psycopg

    with psycopg.connect(server.store) as conn:
        row = conn.execute("SELECT count(*) FROM sqs_messages m WHERE m::text LIKE %s OR "
                           "encode(coalesce(m.sealed, ''::bytea), 'escape') LIKE %s",
                           (f"%{needle}%", f"%{needle}%")).fetchone()
    assert row is not None
    return int(row[0])


def _found(server: TsunagiServer, needle: str) -> bool:
    if server.store == "sqlite":
        return bool(_found_on_disk(server, needle.encode()))
    return _found_in_postgres(server, needle) > 0


def _queue(sqs: Any, name: str, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


@pytest.mark.parametrize("key_form", ["key-id", "alias", "aws-managed"])
def test_a_kms_queues_canary_is_not_on_disk_while_the_control_queues_is(server, key_form: str) -> None:
    sqs, kms = server.sqs_client(), server.client("kms")
    key = kms.create_key(Description="queue key")["KeyMetadata"]
    if key_form == "alias":
        kms.create_alias(AliasName="alias/queue-key", TargetKeyId=key["KeyId"])
    key_id = {"key-id": key["KeyId"], "alias": "alias/queue-key", "aws-managed": "alias/aws/sqs"}[key_form]
    secret_url = _queue(sqs, f"secret-{key_form}", KmsMasterKeyId=key_id)
    control_url = _queue(sqs, f"control-{key_form}", SqsManagedSseEnabled="false")
    canary = f"CANARY-{uuid.uuid4().hex}"
    attr_canary = f"ATTR-{uuid.uuid4().hex}"
    attrs = {"note": {"DataType": "String", "StringValue": attr_canary}}
    sqs.send_message(QueueUrl=secret_url, MessageBody=f"secret {canary}", MessageAttributes=attrs)
    sqs.send_message(QueueUrl=control_url, MessageBody=f"control {canary}")
    assert sqs.get_queue_attributes(QueueUrl=secret_url, AttributeNames=["KmsMasterKeyId"])["Attributes"] == {
        "KmsMasterKeyId": key_id}
    # the control canary is there to be found; the encrypted queue's body and attribute are not
    assert _found(server, f"control {canary}")
    assert not _found(server, f"secret {canary}")
    assert not _found(server, attr_canary)
    (m,) = receive(server, secret_url, MessageAttributeNames=["All"])
    assert m["Body"] == f"secret {canary}" and m["MessageAttributes"]["note"]["StringValue"] == attr_canary
    (m,) = receive(server, control_url)
    assert m["Body"] == f"control {canary}"


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_a_disabled_key_refuses_sends_with_kms_disabled_and_keeps_the_messages(server, protocol: str) -> None:
    sqs, kms = server.sqs_client(protocol), server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    url = _queue(sqs, f"locked-{protocol}", KmsMasterKeyId=key, KmsDataKeyReusePeriodSeconds="60")
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    kms.disable_key(KeyId=key)
    # a new data key is needed once the reuse period is over; a fresh queue on the key needs one at once
    other = _queue(sqs, f"locked-too-{protocol}", KmsMasterKeyId=key)
    with pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=other, MessageBody="refused")
    err = caught.value.response["Error"]
    assert err["Code"] == "KMS.DisabledException" and err["Message"]
    with pytest.raises(ClientError) as caught:
        sqs.send_message_batch(QueueUrl=other, Entries=[{"Id": "a", "MessageBody": "refused"}])
    assert caught.value.response["Error"]["Code"] == "KMS.DisabledException"
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "1"
    kms.enable_key(KeyId=key)
    sqs.send_message(QueueUrl=other, MessageBody="accepted")
    assert [m["Body"] for m in receive(server, other)] == ["accepted"]
    assert [m["Body"] for m in receive(server, url)] == ["kept"]


def test_a_topics_messages_reach_an_encrypted_queue_sealed(server) -> None:
    sqs, sns, kms = server.sqs_client(), server.client("sns"), server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    url = _queue(sqs, "sealed-orders", KmsMasterKeyId=key)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="sealed-orders")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    canary = f"CANARY-{uuid.uuid4().hex}"
    sns.publish(TopicArn=topic, Message=json.dumps({"order": canary}))
    assert not _found(server, canary)
    (m,) = receive(server, url)
    assert json.loads(m["Body"]) == {"order": canary}


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_sqs_managed_encryption_the_default_keeps_canaries_off_disk(server, protocol: str) -> None:
    sqs = server.sqs_client(protocol)
    default_url = _queue(sqs, f"managed-default-{protocol}")
    fifo_url = _queue(sqs, f"managed-{protocol}.fifo", FifoQueue="true", ContentBasedDeduplication="true",
                      SqsManagedSseEnabled="true")
    control_url = _queue(sqs, f"managed-control-{protocol}", SqsManagedSseEnabled="false")
    assert sqs.get_queue_attributes(QueueUrl=default_url, AttributeNames=["SqsManagedSseEnabled"])[
        "Attributes"] == {"SqsManagedSseEnabled": "true"}
    canary = f"CANARY-{uuid.uuid4().hex}"
    sqs.send_message(QueueUrl=default_url, MessageBody=f"default {canary}")
    sqs.send_message_batch(QueueUrl=default_url, Entries=[{"Id": "b", "MessageBody": f"batched {canary}"}])
    sqs.send_message(QueueUrl=fifo_url, MessageBody=f"ordered {canary}", MessageGroupId="g")
    sqs.send_message(QueueUrl=control_url, MessageBody=f"control {canary}")
    assert _found(server, f"control {canary}")
    for sealed in ("default", "batched", "ordered"):
        assert not _found(server, f"{sealed} {canary}"), sealed
    assert sorted(m["Body"] for m in receive(server, default_url, 2)) == [f"batched {canary}", f"default {canary}"]
    assert [m["Body"] for m in receive(server, fifo_url)] == [f"ordered {canary}"]
