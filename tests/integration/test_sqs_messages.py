"""SQS messages: send, receive, visibility, long polling, delays, batches, attributes and MD5s."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.sqs_support import expect, name


@pytest.fixture(params=["json", "query"])
def sqs(request, server):
    return server.sqs_client(request.param)


@pytest.fixture
def queue(sqs):
    return sqs.create_queue(QueueName=name())["QueueUrl"]


def receive_all(sqs, url, **kw):
    return sqs.receive_message(QueueUrl=url, **kw).get("Messages", [])


def test_send_receive_delete(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue, MessageBody="hello 世界")
    assert sent["MD5OfMessageBody"] == hashlib.md5("hello 世界".encode()).hexdigest()
    [msg] = receive_all(sqs, queue)
    assert msg["Body"] == "hello 世界"
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["MD5OfBody"] == sent["MD5OfMessageBody"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"])
    assert receive_all(sqs, queue, VisibilityTimeout=0) == []
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_message_attributes_round_trip_with_md5s_the_sdk_verifies(sqs, queue):
    # botocore checks MD5OfMessageAttributes on send and on receive: a wrong digest fails here.
    attrs = {
        "city": {"DataType": "String", "StringValue": "東京"},
        "count": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "custom": {"DataType": "String.custom", "StringValue": "c"},
    }
    sent = sqs.send_message(QueueUrl=queue, MessageBody="m", MessageAttributes=attrs)
    assert len(sent["MD5OfMessageAttributes"]) == 32
    [msg] = receive_all(sqs, queue, MessageAttributeNames=["All"])
    assert msg["MessageAttributes"] == attrs
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]


def test_message_attribute_name_filters(sqs, queue):
    attrs = {n: {"DataType": "String", "StringValue": n} for n in ("order.id", "order.kind", "user")}
    sqs.send_message(QueueUrl=queue, MessageBody="m", MessageAttributes=attrs)
    [msg] = receive_all(sqs, queue, MessageAttributeNames=["order.*"], VisibilityTimeout=0)
    assert set(msg["MessageAttributes"]) == {"order.id", "order.kind"}
    [msg] = receive_all(sqs, queue, MessageAttributeNames=["user"], VisibilityTimeout=0)
    assert set(msg["MessageAttributes"]) == {"user"}
    [msg] = receive_all(sqs, queue)
    assert "MessageAttributes" not in msg


def test_system_attributes(sqs, queue):
    before = int(time.time() * 1000)
    sqs.send_message(QueueUrl=queue, MessageBody="m",
                     MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                                 "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}})
    [msg] = receive_all(sqs, queue, MessageSystemAttributeNames=["All"])
    a = msg["Attributes"]
    assert a["ApproximateReceiveCount"] == "1"
    assert before - 1000 <= int(a["SentTimestamp"]) <= int(time.time() * 1000) + 1000
    assert int(a["ApproximateFirstReceiveTimestamp"]) >= int(a["SentTimestamp"])
    assert a["SenderId"]
    assert a["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
    assert receive_all(sqs, queue) == []  # still in flight from the first receive


def test_visibility_timeout_hides_and_change_visibility_reveals(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="m")
    [first] = receive_all(sqs, queue, VisibilityTimeout=60)
    assert receive_all(sqs, queue) == []
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    [second] = receive_all(sqs, queue, AttributeNames=["ApproximateReceiveCount"])
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=second["ReceiptHandle"])


def test_visibility_expiry_makes_the_message_visible_again(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="m")
    [first] = receive_all(sqs, queue, VisibilityTimeout=1)
    # a long poll wakes when the visibility timeout ends, well before its own 10 s limit
    t0 = time.monotonic()
    [again] = receive_all(sqs, queue, WaitTimeSeconds=10)
    assert time.monotonic() - t0 < 8
    assert again["MessageId"] == first["MessageId"]


def test_change_visibility_limits(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="m")
    [msg] = receive_all(sqs, queue)
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=43201)
    expect(e, "InvalidParameterValue")


def test_invalid_receipt_handles(sqs, queue):
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle="not-a-receipt-handle")
    expect(e, "ReceiptHandleIsInvalid")
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle="garbage", VisibilityTimeout=10)
    expect(e, "ReceiptHandleIsInvalid")


def test_long_poll_wakes_on_send(sqs, queue, server):
    results = []

    def consumer():
        client = server.sqs_client("json")
        t0 = time.monotonic()
        got = client.receive_message(QueueUrl=queue, WaitTimeSeconds=15).get("Messages", [])
        results.append((time.monotonic() - t0, got))

    t = threading.Thread(target=consumer)
    t.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=queue, MessageBody="wake up")
    t.join(20)
    elapsed, got = results[0]
    assert [m["Body"] for m in got] == ["wake up"]
    assert elapsed < 10  # woke on the send, not at the end of the 15 s wait


def test_long_poll_returns_empty_after_wait_time(sqs, queue):
    t0 = time.monotonic()
    assert receive_all(sqs, queue, WaitTimeSeconds=1) == []
    assert time.monotonic() - t0 >= 0.9


def test_queue_receive_wait_time_is_the_default_long_poll(sqs):
    url = sqs.create_queue(QueueName=name(), Attributes={"ReceiveMessageWaitTimeSeconds": "1"})["QueueUrl"]
    t0 = time.monotonic()
    assert receive_all(sqs, url) == []
    assert time.monotonic() - t0 >= 0.9


def test_per_message_delay(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=1)
    assert receive_all(sqs, queue) == []
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    [msg] = receive_all(sqs, queue, WaitTimeSeconds=5)
    assert msg["Body"] == "later"


def test_queue_delay(sqs):
    url = sqs.create_queue(QueueName=name(), Attributes={"DelaySeconds": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later")
    assert receive_all(sqs, url) == []
    assert receive_all(sqs, url, WaitTimeSeconds=5)[0]["Body"] == "later"


@pytest.mark.parametrize("n", [0, 11])
def test_max_number_of_messages_range(sqs, queue, n):
    with pytest.raises(ClientError) as e:
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=n)
    expect(e, "InvalidParameterValue")


def test_receive_up_to_ten(sqs, queue):
    for i in range(15):
        sqs.send_message(QueueUrl=queue, MessageBody=str(i))
    got = receive_all(sqs, queue, MaxNumberOfMessages=10)
    assert 1 <= len(got) <= 10
    bodies = {m["Body"] for m in got}
    while True:
        more = receive_all(sqs, queue, MaxNumberOfMessages=10)
        if not more:
            break
        bodies |= {m["Body"] for m in more}
    assert bodies == {str(i) for i in range(15)}


def test_message_size_limit_counts_body_and_attributes(sqs):
    url = sqs.create_queue(QueueName=name(), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    expect(e, "InvalidParameterValue")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1000,
                         MessageAttributes={"a": {"DataType": "String", "StringValue": "y" * 100}})
    expect(e, "InvalidParameterValue")


def test_a_one_mebibyte_message_fits_the_maximum(sqs):
    url = sqs.create_queue(QueueName=name(), Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
    body = "b" * 1_048_576
    sqs.send_message(QueueUrl=url, MessageBody=body)
    assert receive_all(sqs, url)[0]["Body"] == body


@pytest.mark.parametrize("body", ["bad \x00 nul", "bad \x08 backspace", "bad \ufffe"])
def test_invalid_characters(sqs, queue, body):
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    expect(e, "InvalidMessageContents")
    assert receive_all(sqs, queue) == []


def test_empty_body_is_missing_or_invalid(sqs, queue):
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=queue, MessageBody="")
    assert e.value.response["Error"]["Code"] in ("MissingParameter", "InvalidParameterValue")


def test_send_batch(sqs, queue):
    res = sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": f"m{i}", "MessageBody": f"body {i}",
         "MessageAttributes": {"i": {"DataType": "Number", "StringValue": str(i)}}} for i in range(10)])
    assert sorted(e["Id"] for e in res["Successful"]) == sorted(f"m{i}" for i in range(10))
    assert not res.get("Failed")
    for e in res["Successful"]:
        assert e["MD5OfMessageBody"] == hashlib.md5(f"body {e['Id'][1:]}".encode()).hexdigest()
        assert e["MD5OfMessageAttributes"]


def test_send_batch_partial_failure(sqs, queue):
    res = sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": "nul \x00"}])
    assert [e["Id"] for e in res["Successful"]] == ["ok"]
    [failed] = res["Failed"]
    assert failed["Id"] == "bad" and failed["SenderFault"] is True
    assert failed["Code"] == "InvalidMessageContents"


def test_batch_rules(sqs, queue, server):
    unchecked = server.client("sqs", parameter_validation=False)
    with pytest.raises(ClientError) as e:
        unchecked.send_message_batch(QueueUrl=queue, Entries=[])
    expect(e, "EmptyBatchRequest")
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)])
    expect(e, "TooManyEntriesInBatchRequest")
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "same", "MessageBody": "x"}] * 2)
    expect(e, "BatchEntryIdsNotDistinct")
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "not valid!", "MessageBody": "x"}])
    expect(e, "InvalidBatchEntryId")
    assert receive_all(sqs, queue) == []


def test_batch_total_size_limit(sqs):
    url = sqs.create_queue(QueueName=name(), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"m{i}", "MessageBody": "x" * 300} for i in range(4)])
    expect(e, "BatchRequestTooLong")


def test_delete_and_change_visibility_batches(sqs, queue):
    for i in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=str(i))
    msgs = []
    while len(msgs) < 3:
        msgs += receive_all(sqs, queue, MaxNumberOfMessages=10, VisibilityTimeout=60)
    res = sqs.change_message_visibility_batch(QueueUrl=queue, Entries=[
        {"Id": "a", "ReceiptHandle": msgs[0]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": "garbage", "VisibilityTimeout": 0}])
    assert [e["Id"] for e in res["Successful"]] == ["a"]
    assert res["Failed"][0]["Id"] == "b" and res["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    res = sqs.delete_message_batch(QueueUrl=queue, Entries=[
        {"Id": "x", "ReceiptHandle": msgs[1]["ReceiptHandle"]},
        {"Id": "y", "ReceiptHandle": msgs[2]["ReceiptHandle"]},
        {"Id": "z", "ReceiptHandle": "garbage"}])
    assert sorted(e["Id"] for e in res["Successful"]) == ["x", "y"]
    assert res["Failed"][0]["Id"] == "z"
    [left] = receive_all(sqs, queue)
    assert left["MessageId"] == msgs[0]["MessageId"]


def test_purge(sqs, queue):
    for i in range(5):
        sqs.send_message(QueueUrl=queue, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=queue)
    assert receive_all(sqs, queue) == []
    with pytest.raises(ClientError) as e:
        sqs.purge_queue(QueueUrl=queue)
    expect(e, "PurgeQueueInProgress")


def test_counts(sqs, queue):
    for i in range(4):
        sqs.send_message(QueueUrl=queue, MessageBody=str(i))
    sqs.send_message(QueueUrl=queue, MessageBody="d", DelaySeconds=60)
    receive_all(sqs, queue, MaxNumberOfMessages=1, VisibilityTimeout=60)
    a = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
            a["ApproximateNumberOfMessagesDelayed"]) == ("3", "1", "1")


def test_md5_checks_are_real(server, queue):
    # A client that validates checksums (botocore's default) accepts tsunagi's MD5s; prove the
    # validation is on by checking the digest of an attribute-bearing message independently.
    client = server.client("sqs", **{})
    sent = client.send_message(QueueUrl=queue, MessageBody="abc",
                               MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    # AWS's algorithm: for each name (sorted): len(name) name len(type) type 1 len(value) value, big-endian u32
    import struct

    def enc(b: bytes) -> bytes:
        return struct.pack("!I", len(b)) + b

    expected = hashlib.md5(enc(b"k") + enc(b"String") + b"\x01" + enc(b"v")).hexdigest()
    assert sent["MD5OfMessageAttributes"] == expected


def test_a_visibility_timeout_changed_during_a_long_poll_applies_to_what_it_receives(server) -> None:
    """The queue's VisibilityTimeout at the moment a message is received is the one it gets, even for a
    consumer (an event source mapping, a worker) already parked in a long poll when it was changed."""
    sqs = server.sqs_client()
    url = sqs.create_queue(QueueName=name("vis"), Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    got: list[dict] = []
    parked = threading.Thread(target=lambda: got.extend(
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages", [])))
    parked.start()
    time.sleep(1.0)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    parked.join(20)
    assert [m["Body"] for m in got] == ["hello"]
    deadline = time.monotonic() + 10
    again: list[dict] = []
    while not again:
        assert time.monotonic() < deadline, "the message stayed hidden for the old 60 s timeout"
        again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
    assert again[0]["Body"] == "hello" and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_deleting_a_queue_answers_its_parked_long_polls_at_once(sqs) -> None:
    url = sqs.create_queue(QueueName=name("parked"))["QueueUrl"]
    outcome: dict = {}

    def park() -> None:
        started = time.monotonic()
        try:
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
            outcome["answer"] = "empty success"
        except ClientError as e:
            outcome["answer"] = e.response["Error"]["Code"]
        outcome["seconds"] = time.monotonic() - started

    parked = threading.Thread(target=park)
    parked.start()
    time.sleep(1.0)
    sqs.delete_queue(QueueUrl=url)
    parked.join(25)
    assert outcome["answer"] in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
    assert outcome["seconds"] < 10          # not the poll's full 20 s


def test_purge_clears_the_fifo_deduplication_window(sqs) -> None:
    url = sqs.create_queue(QueueName=name("purge", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="same")
    sqs.purge_queue(QueueUrl=url)
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="g", MessageDeduplicationId="same")
    got = receive_all(sqs, url, WaitTimeSeconds=2)
    assert [m["Body"] for m in got] == ["b"]


def test_fifo_queue_true_is_accepted_on_a_fifo_queue_only(sqs) -> None:
    fifo = sqs.create_queue(QueueName=name("attr", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=fifo, Attributes={"FifoQueue": "true"})
    assert sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["FifoQueue"])["Attributes"]["FifoQueue"] == "true"
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=fifo, Attributes={"FifoQueue": "false"})
    expect(e, "InvalidAttributeValue")      # "Modifying queue type is not supported."
    standard = sqs.create_queue(QueueName=name("attr"))["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=standard, Attributes={"FifoQueue": "true"})
    expect(e, "InvalidAttributeName")


def test_sender_id_is_the_account_id_for_any_key_in_open_mode(server) -> None:
    """In open mode a key names only an account (its root): SenderId is that account's id, as AWS shows
    for root credentials, not the access key the client happened to send."""
    url = server.sqs_client().create_queue(QueueName=name("sender"))["QueueUrl"]
    server.sqs_client().send_message(QueueUrl=url, MessageBody="x")
    (m,) = receive_all(server.sqs_client(), url, WaitTimeSeconds=2, MessageSystemAttributeNames=["SenderId"])
    assert m["Attributes"]["SenderId"] == "000000000000"
