"""FIFO queues, dead-letter queues, message move tasks, and the raw query form API Gateway posts."""

from __future__ import annotations

import json
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tests.integration.sqs_support import expect, name


@pytest.fixture(params=["json", "query"])
def sqs(request, server):
    return server.sqs_client(request.param)


def fifo(sqs, **attrs):
    return sqs.create_queue(QueueName=name(fifo=True), Attributes={"FifoQueue": "true", **attrs})["QueueUrl"]


def arn(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs, url, **kw):
    return sqs.receive_message(QueueUrl=url, **kw).get("Messages", [])


# -- FIFO -------------------------------------------------------------------------------------

def test_fifo_needs_a_group_id_and_a_dedup_source(sqs):
    url = fifo(sqs)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    expect(e, "MissingParameter")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    expect(e, "InvalidParameterValue")


def test_fifo_refuses_per_message_delay(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", DelaySeconds=5)
    expect(e, "InvalidParameterValue")


def test_fifo_order_within_a_group_and_sequence_numbers(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    seqs = [int(sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")["SequenceNumber"])
            for i in range(6)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    bodies = []
    while len(bodies) < 6:
        batch = receive(sqs, url, MaxNumberOfMessages=4, AttributeNames=["All"])
        assert batch, "messages of an unblocked group must be receivable"
        for m in batch:
            assert m["Attributes"]["MessageGroupId"] == "g"
            bodies.append(m["Body"])
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    assert bodies == [f"m{i}" for i in range(6)]


def test_a_group_is_blocked_while_a_message_of_it_is_in_flight(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    for body, group in [("a1", "A"), ("a2", "A"), ("b1", "B")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    [first] = receive(sqs, url, MaxNumberOfMessages=1)
    assert first["Body"] == "a1"
    [second] = receive(sqs, url, MaxNumberOfMessages=1)
    assert second["Body"] == "b1"  # A is blocked while a1 is in flight
    assert receive(sqs, url) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    [third] = receive(sqs, url)
    assert third["Body"] == "a2"


def test_failed_message_comes_back_before_the_rest_of_its_group(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    [m0] = receive(sqs, url, MaxNumberOfMessages=1)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m0["ReceiptHandle"], VisibilityTimeout=0)
    got = receive(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in got][0] == "m0"


def test_deduplication_explicit_and_content_based(sqs):
    url = fifo(sqs)
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    b = sqs.send_message(QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="d1")
    assert a["MessageId"] == b["MessageId"]
    [m] = receive(sqs, url, MaxNumberOfMessages=10)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    # the window holds after the first copy was received and deleted
    sqs.send_message(QueueUrl=url, MessageBody="z", MessageGroupId="g", MessageDeduplicationId="d1")
    assert receive(sqs, url) == []

    url2 = fifo(sqs, ContentBasedDeduplication="true")
    a = sqs.send_message(QueueUrl=url2, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=url2, MessageBody="same", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]
    sqs.send_message(QueueUrl=url2, MessageBody="different", MessageGroupId="g")
    assert [m["Body"] for m in receive(sqs, url2, MaxNumberOfMessages=10)] == ["same", "different"]


def test_receive_request_attempt_id_replays_the_same_messages(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    first = receive(sqs, url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")
    again = receive(sqs, url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in first]


def test_fifo_batch_send_keeps_order(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    res = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": f"e{i}", "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(5)])
    assert len(res["Successful"]) == 5
    assert all("SequenceNumber" in e for e in res["Successful"])
    assert [m["Body"] for m in receive(sqs, url, MaxNumberOfMessages=10)] == [f"m{i}" for i in range(5)]


def test_standard_queues_accept_group_ids(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="fair", MessageGroupId="tenant-1")
    [m] = receive(sqs, url, MessageSystemAttributeNames=["MessageGroupId"])
    assert m["Body"] == "fair"


# -- dead-letter queues and move tasks --------------------------------------------------------

def with_dlq(sqs, max_receives=2, fifo_queues=False):
    if fifo_queues:
        dlq = fifo(sqs, ContentBasedDeduplication="true")
    else:
        dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn(sqs, dlq), "maxReceiveCount": max_receives})
    attrs = {"RedrivePolicy": policy}
    if fifo_queues:
        src = fifo(sqs, ContentBasedDeduplication="true", **attrs)
    else:
        src = sqs.create_queue(QueueName=name("src"), Attributes=attrs)["QueueUrl"]
    return src, dlq


def test_a_message_moves_to_the_dlq_on_the_receive_after_max_receive_count(sqs):
    src, dlq = with_dlq(sqs, max_receives=2)
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison")
    for _ in range(2):
        [m] = receive(sqs, src, VisibilityTimeout=0)
        assert m["MessageId"] == sent["MessageId"]
    assert receive(sqs, src, VisibilityTimeout=0) == []  # the third receive moved it
    [dead] = receive(sqs, dlq, MessageSystemAttributeNames=["All"])
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn(sqs, src)


def test_fifo_dlq(sqs):
    src, dlq = with_dlq(sqs, max_receives=1, fifo_queues=True)
    sqs.send_message(QueueUrl=src, MessageBody="poison", MessageGroupId="g")
    receive(sqs, src, VisibilityTimeout=0)
    assert receive(sqs, src, VisibilityTimeout=0) == []
    [dead] = receive(sqs, dlq, AttributeNames=["MessageGroupId"])
    assert dead["Body"] == "poison" and dead["Attributes"]["MessageGroupId"] == "g"


def test_message_move_task_returns_messages_to_their_source(sqs):
    src, dlq = with_dlq(sqs, max_receives=1)
    for i in range(5):
        sqs.send_message(QueueUrl=src, MessageBody=f"m{i}")
    while receive(sqs, src, MaxNumberOfMessages=10, VisibilityTimeout=0):
        pass
    dlq_arn = arn(sqs, dlq)
    assert sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "5"
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] == "COMPLETED":
            break
        time.sleep(0.2)
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 5
    bodies = set()
    while True:
        got = receive(sqs, src, MaxNumberOfMessages=10)
        if not got:
            break
        bodies |= {m["Body"] for m in got}
    assert bodies == {f"m{i}" for i in range(5)}


def test_move_task_needs_a_dlq_source(sqs):
    plain = sqs.create_queue(QueueName=name())["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.start_message_move_task(SourceArn=arn(sqs, plain))
    assert e.value.response["Error"]["Code"] in ("InvalidParameterValue", "AWS.SimpleQueueService.UnsupportedOperation",
                                                 "UnsupportedOperation")


def test_cancel_move_task(sqs):
    src, dlq = with_dlq(sqs, max_receives=1)
    sqs.send_message_batch(QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)])
    while receive(sqs, src, MaxNumberOfMessages=10, VisibilityTimeout=0):
        pass
    handle = sqs.start_message_move_task(SourceArn=arn(sqs, dlq), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    sqs.cancel_message_move_task(TaskHandle=handle)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [task] = sqs.list_message_move_tasks(SourceArn=arn(sqs, dlq))["Results"]
        if task["Status"] in ("CANCELLED", "COMPLETED"):
            break
        time.sleep(0.2)
    assert task["Status"] == "CANCELLED"
    assert task["ApproximateNumberOfMessagesMoved"] < 10


# -- the query form as API Gateway and curl send it ------------------------------------------

# what `curl --aws-sigv4 aws:amz:us-east-1:sqs --user test:test` sends; --auth open takes any signature
# (an unsigned request is anonymous and reaches only a queue whose policy lets everyone in)
ANY_SIGNATURE = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, "
                                  "SignedHeaders=host;x-amz-date, Signature=00", "X-Amz-Date": "20260101T000000Z"}


def post_form(url: str, body: str, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", **ANY_SIGNATURE, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_api_gateway_integration_form_post_to_the_queue_url(server):
    sqs = server.sqs_client("json")
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    # Seed 002: `Action=SendMessage&MessageBody=$util.urlEncode($input.body)` posted to the queue's path.
    status, body = post_form(url, "Action=SendMessage&MessageBody=%7B%22message%22%3A%22hello%22%7D")
    assert status == 200
    root = ET.fromstring(body)
    ns = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}
    assert root.tag.endswith("SendMessageResponse")
    assert root.find("q:SendMessageResult/q:MessageId", ns) is not None
    assert root.find("q:ResponseMetadata/q:RequestId", ns) is not None
    [m] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(m["Body"]) == {"message": "hello"}


def test_query_errors_are_xml_with_the_legacy_code(server):
    status, body = post_form(f"{server.url}/000000000000/absent", "Action=SendMessage&MessageBody=x")
    assert status == 400
    root = ET.fromstring(body)
    code = root.find(".//{*}Code")
    assert code is not None and code.text == "AWS.SimpleQueueService.NonExistentQueue"


def test_query_missing_parameter(server):
    sqs = server.sqs_client("json")
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    status, body = post_form(url, "Action=SendMessage")
    assert status == 400
    assert b"MissingParameter" in body
