"""SNS deliveries end to end, on SQLite and PostgreSQL: SQS (envelope, raw, FIFO, DLQ), filter policies,
HTTP (confirmation, headers, retries, DLQ, signatures), e-mail through the local mailbox, Lambda."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.integration.sns_support import (
    Subscriber,
    deliveries,
    mailbox,
    queue,
    receive,
    verify_like_a_subscriber,
)


@pytest.fixture
def subscriber():
    sub = Subscriber()
    yield sub
    sub.close()


def test_sqs_envelope_as_seed_001_reads_it(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="connector")["TopicArn"]
    urls = []
    for name in ("service01", "service02", "service03"):
        url, arn = queue(server, name)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        urls.append(url)
    mid = sns.publish(TopicArn=topic, Message=json.dumps({"request_id": "26d84a1f"}),
                      MessageAttributes={"kind": {"DataType": "String", "StringValue": "req"},
                                         "n": {"DataType": "Number", "StringValue": "5"},
                                         "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}})["MessageId"]
    for url in urls:
        (m,) = receive(server, url, AttributeNames=["All"])
        body = json.loads(m["Body"])
        assert json.loads(body["Message"])["request_id"] == "26d84a1f"     # seed 001's handler
        # laid out as SNS writes it: a member a line, "Key" : value, attributes compact
        assert m["Body"].startswith('{\n  "Type" : "Notification",\n  "MessageId" : "')
        assert '\n    "n" : {"Type":"Number","Value":"5"},\n' in m["Body"] and m["Body"].endswith("\n  }\n}")
        assert list(body) == ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion",
                              "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]
        assert body["Type"] == "Notification" and body["MessageId"] == mid and body["TopicArn"] == topic
        assert body["MessageAttributes"] == {"kind": {"Type": "String", "Value": "req"},
                                             "n": {"Type": "Number", "Value": "5"},
                                             "blob": {"Type": "Binary", "Value": "AQI="}}
        assert body["Timestamp"].endswith("Z") and len(body["Timestamp"]) == 24
        assert m["Attributes"]["SenderId"] == "AIDAIT2UOQQY3AUEKVGXU"
        verify_like_a_subscriber(body)
    records = deliveries(server, message_id=mid)
    assert sorted(r["Outcome"] for r in records) == ["delivered"] * 3


def test_raw_delivery_subject_and_message_structure(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="raw")["TopicArn"]
    raw_url, raw_arn = queue(server, "raw-q")
    env_url, env_arn = queue(server, "env-q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env_arn)
    sns.publish(TopicArn=topic, Subject="Hello", MessageStructure="json",
                Message=json.dumps({"default": "plain", "sqs": "for queues", "email": "for mail"}),
                MessageAttributes={"color": {"DataType": "String", "StringValue": "red"},
                                   "sizes": {"DataType": "String.Array", "StringValue": '["S", "M"]'}})
    (m,) = receive(server, raw_url, MessageAttributeNames=["All"])
    assert m["Body"] == "for queues"
    assert m["MessageAttributes"]["color"] == {"DataType": "String", "StringValue": "red"}
    assert m["MessageAttributes"]["sizes"]["StringValue"] == '["S", "M"]'
    (m,) = receive(server, env_url)
    body = json.loads(m["Body"])
    assert body["Message"] == "for queues" and body["Subject"] == "Hello"
    verify_like_a_subscriber(body)


def test_filter_policies_route_and_leave_reasons(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="shop")["TopicArn"]
    red_url, red_arn = queue(server, "red")
    big_url, big_arn = queue(server, "big")
    body_url, body_arn = queue(server, "tokyo")
    red = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=red_arn,
                        Attributes={"FilterPolicy": '{"color": ["red"]}'})["SubscriptionArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=big_arn,
                  Attributes={"FilterPolicy": '{"price": [{"numeric": [">=", 100]}], "tags": ["sale"]}'})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=body_arn,
                  Attributes={"FilterPolicy": '{"order": {"city": [{"prefix": "Tok"}]}}',
                              "FilterPolicyScope": "MessageBody"})

    def publish(message: str, **attrs) -> str:
        ma = {}
        for k, (t, v) in attrs.items():
            ma[k] = {"DataType": t, "StringValue": v}
        return sns.publish(TopicArn=topic, Message=message, MessageAttributes=ma)["MessageId"]

    blue = publish('{"order": {"city": "Osaka"}}', color=("String", "blue"), price=("Number", "150"),
                   tags=("String.Array", '["new", "sale"]'))
    publish('{"order": {"city": "Tokyo"}}', color=("String", "red"), price=("Number", "5"))
    assert [json.loads(m["Body"])["Message"] for m in receive(server, red_url)] == ['{"order": {"city": "Tokyo"}}']
    assert [json.loads(m["Body"])["MessageId"] for m in receive(server, big_url)] == [blue]
    assert len(receive(server, body_url)) == 1
    assert receive(server, red_url, timeout=1.5) == [] and receive(server, big_url, timeout=1.5) == []
    filtered = [r for r in deliveries(server, message_id=blue) if r["Outcome"] == "filtered"]
    assert [r["SubscriptionArn"] for r in filtered if "color" in (r["Reason"] or "")] == [red]
    assert all(r["Reason"].startswith("filter policy") for r in filtered)


def test_fifo_topic_keeps_order_and_deduplicates(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, arn = queue(server, "orders.fifo", FifoQueue="true")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    first = sns.publish(TopicArn=topic, Message="m0", MessageGroupId="g", MessageDeduplicationId="d0")
    again = sns.publish(TopicArn=topic, Message="m0 again", MessageGroupId="g", MessageDeduplicationId="d0")
    assert again["MessageId"] == first["MessageId"] and again["SequenceNumber"] == first["SequenceNumber"]
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": f"e{i}", "Message": f"m{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"d{i}"}
        for i in range(1, 8)] + [{"Id": "dup", "Message": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d3"}])
    seqs = [int(s["SequenceNumber"]) for s in out["Successful"]]
    assert len(seqs) == 8 and seqs[:7] == sorted(seqs[:7]) and seqs[7] == seqs[2]
    got = receive(server, url, n=8, timeout=5, AttributeNames=["All"])
    assert [m["Body"] for m in got] == [f"m{i}" for i in range(8)]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}
    env_topic = sns.create_topic(Name="env.fifo", Attributes={"FifoTopic": "true",
                                                              "ContentBasedDeduplication": "true"})["TopicArn"]
    url2, arn2 = queue(server, "env.fifo", FifoQueue="true")
    sns.subscribe(TopicArn=env_topic, Protocol="sqs", Endpoint=arn2)
    r = sns.publish(TopicArn=env_topic, Message="same", MessageGroupId="g")
    assert sns.publish(TopicArn=env_topic, Message="same", MessageGroupId="g")["MessageId"] == r["MessageId"]
    (m,) = receive(server, url2)
    assert json.loads(m["Body"])["SequenceNumber"] == r["SequenceNumber"]


def test_deleted_queue_sends_to_the_dead_letter_queue(server) -> None:
    sns = server.client("sns")
    sqs = server.sqs_client()
    topic = sns.create_topic(Name="dlq-topic")["TopicArn"]
    url, arn = queue(server, "gone")
    dlq_url, dlq_arn = queue(server, "sub-dlq")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})["SubscriptionArn"]
    sqs.delete_queue(QueueUrl=url)
    mid = sns.publish(TopicArn=topic, Message="lost?")["MessageId"]
    (m,) = receive(server, dlq_url)
    assert json.loads(m["Body"])["Message"] == "lost?"
    (rec,) = deliveries(server, message_id=mid)
    assert rec["SubscriptionArn"] == sub and rec["Outcome"] == "dead-lettered" and "does not exist" in rec["Reason"]
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy", AttributeValue="")
    mid = sns.publish(TopicArn=topic, Message="really lost")["MessageId"]
    (rec,) = deliveries(server, message_id=mid)
    assert rec["Outcome"] == "failed" and "does not exist" in rec["Reason"]


def test_http_confirmation_notification_headers_and_signature(server, subscriber) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="web")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    conf = subscriber.wait("SubscriptionConfirmation")[0]
    doc = json.loads(conf["body"])
    assert doc["Type"] == "SubscriptionConfirmation" and doc["TopicArn"] == topic and doc["Token"]
    assert conf["headers"]["x-amz-sns-topic-arn"] == topic
    verify_like_a_subscriber(doc)
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attrs["PendingConfirmation"] == "true"
    assert "ConfirmSubscriptionResult" in subscriber.confirm()      # the SubscribeURL, a plain GET
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"
    mid = sns.publish(TopicArn=topic, Message="hi web", Subject="S")["MessageId"]
    (note,) = subscriber.wait("Notification")
    h = note["headers"]
    assert h["x-amz-sns-message-id"] == mid and h["x-amz-sns-topic-arn"] == topic
    assert h["x-amz-sns-subscription-arn"] == arn
    assert h["content-type"] == "text/plain; charset=UTF-8"
    assert h["user-agent"] == "Amazon Simple Notification Service Agent"
    body = json.loads(note["body"])
    assert body["Message"] == "hi web" and body["SignatureVersion"] == "2"
    verify_like_a_subscriber(body)
    # the UnsubscribeURL works too
    with urllib.request.urlopen(body["UnsubscribeURL"], timeout=10) as r:
        assert r.status == 200
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_http_retries_then_dead_letter_queue(server, subscriber) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="flaky")["TopicArn"]
    dlq_url, dlq_arn = queue(server, "http-dlq")
    policy = {"healthyRetryPolicy": {"numRetries": 2, "numNoDelayRetries": 2, "minDelayTarget": 1,
                                     "maxDelayTarget": 1}}
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url, ReturnSubscriptionArn=True,
                        Attributes={"DeliveryPolicy": json.dumps(policy),
                                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})["SubscriptionArn"]
    subscriber.confirm()
    eff = json.loads(sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["EffectiveDeliveryPolicy"])
    assert eff["healthyRetryPolicy"]["numRetries"] == 2
    subscriber.fail = 2                      # fails twice, then succeeds
    mid = sns.publish(TopicArn=topic, Message="third time lucky")["MessageId"]
    (ok,) = subscriber.wait("Notification")
    assert json.loads(ok["body"])["MessageId"] == mid
    assert len(subscriber.of_type("Notification", ok_only=False)) == 3
    subscriber.fail = 10                     # more failures than retries: the message goes to the DLQ
    mid2 = sns.publish(TopicArn=topic, Message="never arrives")["MessageId"]
    (m,) = receive(server, dlq_url, timeout=15)
    assert json.loads(m["Body"])["MessageId"] == mid2
    rec = [r for r in deliveries(server, message_id=mid2) if r["Outcome"] == "dead-lettered"]
    assert rec and "HTTP 500" in rec[0]["Reason"] and "3 attempts" in rec[0]["Reason"]


def test_email_through_the_local_mailbox_and_tsunagi_mail(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="notifier", Attributes={"DisplayName": "Notifier"})["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="me@example.com")
    deadline = time.monotonic() + 10
    while not mailbox(server, "me@example.com") and time.monotonic() < deadline:
        time.sleep(0.05)
    (conf,) = mailbox(server, "me@example.com")
    assert conf["Subject"] == "AWS Notification - Subscription Confirmation" and conf["SubscribeURL"] in conf["Body"]
    cmd = [sys.executable, "-m", "tsunagi", "mail", "me@example.com", "--confirm", "--endpoint-url", server.url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env=server.cli_env())
    assert out.returncode == 0 and "confirmed" in out.stdout, out.stdout + out.stderr
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sub["SubscriptionArn"] != "PendingConfirmation"
    sns.publish(TopicArn=topic, Message=json.dumps({"request_id": "abc"}), Subject="done")
    while len(mailbox(server, "me@example.com")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    note = mailbox(server, "me@example.com")[1]
    assert note["Subject"] == "done" and note["From"] == "Notifier <no-reply@sns.amazonaws.com>"
    assert note["Body"].startswith('{"request_id": "abc"}') and "Action=Unsubscribe" in note["Body"]
    out = subprocess.run([sys.executable, "-m", "tsunagi", "mail", "--endpoint-url", server.url, "--short"],
                         capture_output=True, text=True, timeout=60, env=server.cli_env())
    assert "to me@example.com" in out.stdout and ": done" in out.stdout


def test_lambda_subscription_invokes_the_function(server) -> None:
    from tests.integration.lambda_support import create

    lam = server.client("lambda")
    out_url, _ = queue(server, "from-lambda")
    code = ("import json, os, boto3\n"
            "def handler(event, context):\n"
            "    boto3.client('sqs').send_message(QueueUrl=os.environ['OUT'], MessageBody=json.dumps(event))\n")
    fn = create(lam, "on-sns", "app.handler", files={"app.py": code}, Timeout=30,
                Environment={"Variables": {"OUT": out_url}})["FunctionArn"]
    sns = server.client("sns")
    topic = sns.create_topic(Name="to-lambda")["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)["SubscriptionArn"]
    mid = sns.publish(TopicArn=topic, Message="run", Subject="go")["MessageId"]
    (m,) = receive(server, out_url, timeout=30)
    (record,) = json.loads(m["Body"])["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventSubscriptionArn"] == sub
    assert record["Sns"]["MessageId"] == mid and record["Sns"]["Message"] == "run" and record["Sns"]["Subject"] == "go"
    assert record["Sns"]["SigningCertUrl"].endswith(".pem")
    missing = sns.subscribe(TopicArn=topic, Protocol="lambda",
                            Endpoint=fn.replace("on-sns", "no-such-fn"))["SubscriptionArn"]
    mid = sns.publish(TopicArn=topic, Message="again")["MessageId"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        recs = {r["SubscriptionArn"]: r for r in deliveries(server, message_id=mid) if r["Outcome"] != "queued"}
        if len(recs) == 2:
            break
        time.sleep(0.1)
    assert recs[missing]["Outcome"] == "failed" and "ResourceNotFoundException" in recs[missing]["Reason"]


def test_a_publishs_delivery_records_come_back_by_its_trace_id(server) -> None:
    # A publish that arrives with X-Amzn-Trace-Id belongs to that journey: its fan-out to three
    # subscriptions (one filtered out) is one record per subscription under its Root.
    sns = server.client("sns")
    root = "1-67a5b1c2-0123456789abcdef01234567"

    def traced(request, **_kw) -> None:
        request.headers["X-Amzn-Trace-Id"] = f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1"

    sns.meta.events.register("before-sign.sns.Publish", traced)
    topic = sns.create_topic(Name="traced")["TopicArn"]
    subs = {}
    for name, attrs in (("t-a", {}), ("t-b", {"FilterPolicy": '{"kind": ["refund"]}'}), ("t-c", {})):
        _url, arn = queue(server, name)
        subs[name] = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attrs)["SubscriptionArn"]
    mid = sns.publish(TopicArn=topic, Message="hello",
                      MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})["MessageId"]
    with server.internal(f"/_tsunagi/api/deliveries?trace_id={root}") as r:
        records = json.loads(r.read())["Deliveries"]
    assert sorted((d["TargetArn"], d["Outcome"]) for d in records) == sorted([
        (subs["t-a"], "delivered"), (subs["t-b"], "filtered"), (subs["t-c"], "delivered")])
    assert {(d["TraceId"], d["Pipe"], d["SourceArn"], d["MessageId"], d["Protocol"]) for d in records} == {
        (root, "sns", topic, mid, "sqs")}
    # the SNS view of the same message agrees, and carries the journey too
    assert {(r["SubscriptionArn"], r["TraceId"]) for r in deliveries(server, message_id=mid)} == {
        (arn, root) for arn in subs.values()}
