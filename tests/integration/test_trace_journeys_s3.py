"""Journeys that start with an S3 request: the trace id of the request that changed an object follows
its event notification to every destination, and each delivery is recorded under that trace.

A request carrying ``X-Amzn-Trace-Id: Root=…`` belongs to that journey: the notification's outbox row
keeps the Root (and the header, which a queue shows as the message's ``AWSTraceHeader``), and
``/_tsunagi/api/deliveries?trace_id=<Root>`` lists the delivery to each queue, topic or function
(and, through a topic, SNS's own deliveries to its subscriptions).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from tests.integration.lambda_support import create

BUCKET = "journeys"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"


def new_root() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def traced(client: Any, root: str) -> Any:
    """Every request ``client`` sends from now on carries ``root`` in ``X-Amzn-Trace-Id``."""
    def add_header(request: Any, **_kw: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1"

    client.meta.events.register(f"before-sign.{client.meta.service_model.endpoint_prefix}", add_header)
    return add_header


def untraced(client: Any, handler: Any) -> None:
    client.meta.events.unregister(f"before-sign.{client.meta.service_model.endpoint_prefix}", handler)


def deliveries(server: Any, root: str, want: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The delivery records under ``root`` once there are ``want`` of them (deliveries run after the commit)."""
    deadline = time.monotonic() + timeout
    while True:
        with server.internal(f"/_tsunagi/api/deliveries?trace_id={root}") as r:
            records: list[dict[str, Any]] = json.loads(r.read())["Deliveries"]
        if len(records) >= want or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def queue(server: Any, name: str) -> tuple[str, str]:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(server: Any, url: str, want: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    sqs = server.client("sqs")
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                MessageSystemAttributeNames=["All"])
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def s3_record(records: list[dict[str, Any]], target: str) -> dict[str, Any]:
    (rec,) = [d for d in records if d["Pipe"] == "s3" and d["TargetArn"] == target]
    return rec


def test_s3_to_sqs_each_write_and_delete_keeps_its_callers_trace(server) -> None:
    # Four operations that notify, each in its own journey: every notification is recorded under the
    # Root its request carried, delivered to the queue from the bucket.
    s3 = server.client("s3")
    url, qarn = queue(server, "journey-q")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": qarn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    (test_event,) = receive(server, url, 1)
    assert json.loads(test_event["Body"])["Event"] == "s3:TestEvent"
    assert "AWSTraceHeader" not in test_event["Attributes"]      # that request sent no trace header

    roots = {}
    for op in ("Put", "Copy", "CompleteMultipartUpload", "Delete"):
        root = roots[op] = new_root()
        hook = traced(s3, root)
        try:
            if op == "Put":
                s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"hello")
            elif op == "Copy":
                s3.copy_object(Bucket=BUCKET, Key="b.txt", CopySource=f"{BUCKET}/a.txt")
            elif op == "CompleteMultipartUpload":
                up = s3.create_multipart_upload(Bucket=BUCKET, Key="c.txt")["UploadId"]
                etag = s3.upload_part(Bucket=BUCKET, Key="c.txt", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
                s3.complete_multipart_upload(Bucket=BUCKET, Key="c.txt", UploadId=up,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
            else:
                s3.delete_object(Bucket=BUCKET, Key="a.txt")
        finally:
            untraced(s3, hook)

    events = {json.loads(m["Body"])["Records"][0]["eventName"]: m for m in receive(server, url, 4)}
    assert sorted(events) == ["ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Copy", "ObjectCreated:Put",
                              "ObjectRemoved:Delete"]
    # each message shows the journey of the request that caused it as its AWSTraceHeader
    for op, event in (("Put", "ObjectCreated:Put"), ("Copy", "ObjectCreated:Copy"),
                      ("CompleteMultipartUpload", "ObjectCreated:CompleteMultipartUpload"),
                      ("Delete", "ObjectRemoved:Delete")):
        assert events[event]["Attributes"]["AWSTraceHeader"].split(";")[0] == f"Root={roots[op]}", op
    for op, root in roots.items():
        records = deliveries(server, root, 1)
        assert [(d["Pipe"], d["TargetArn"], d["Outcome"]) for d in records] == [("s3", qarn, "delivered")], op
        (rec,) = records
        assert rec["TraceId"] == root and rec["SourceArn"] == BUCKET_ARN and rec["Protocol"] == "sqs"
        assert rec["Account"] == "000000000000" and rec["Region"] == "us-east-1"


def test_s3_to_sns_to_sqs_records_both_hops_under_one_trace(server) -> None:
    # Seed 000's path: the upload's journey reaches the topic (S3's delivery) and then the queue
    # (SNS's fan-out), and both hops are recorded under the Root of the PutObject.
    s3, sns, sqs = server.client("s3"), server.client("sns"), server.client("sqs")
    url, qarn = queue(server, "journey-sns-q")
    topic = sns.create_topic(Name="journey-topic")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "SNS:Publish",
            "Resource": topic, "Condition": {"ArnLike": {"aws:SourceArn": BUCKET_ARN}}}]}))
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
                                                "Resource": qarn,
                                                "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"TopicConfigurations": [
        {"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    receive(server, url, 1)                          # the s3:TestEvent

    root = new_root()
    hook = traced(s3, root)
    s3.put_object(Bucket=BUCKET, Key="report.txt", Body=b"hello")
    untraced(s3, hook)

    (msg,) = receive(server, url, 1)
    assert msg["Attributes"]["AWSTraceHeader"].split(";")[0] == f"Root={root}"
    envelope = json.loads(msg["Body"])
    assert envelope["TopicArn"] == topic
    assert json.loads(envelope["Message"])["Records"][0]["s3"]["object"]["key"] == "report.txt"
    records = deliveries(server, root, 2)
    assert sorted((d["Pipe"], d["TargetArn"], d["Outcome"]) for d in records) == [
        ("s3", topic, "delivered"), ("sns", sub, "delivered")]
    assert {d["TraceId"] for d in records} == {root}
    hop = s3_record(records, topic)
    assert hop["SourceArn"] == BUCKET_ARN and hop["Protocol"] == "sns"
    (fanout,) = [d for d in records if d["Pipe"] == "sns"]
    assert fanout["SourceArn"] == topic and fanout["Protocol"] == "sqs"


HANDLER = """
import json, os, boto3
sqs = boto3.client("sqs")

def forward(event, context):
    sqs.send_message(QueueUrl=os.environ["OUT_QUEUE"],
                     MessageBody=json.dumps({"event": event, "trace": os.environ.get("_X_AMZN_TRACE_ID")}))
"""


def test_s3_to_lambda_records_the_invocation_under_the_uploads_trace(server) -> None:
    # The function is invoked (asynchronously) in the upload's journey: the delivery to it is
    # recorded under the PutObject's Root, and the function gets the event with that Root in its
    # _X_AMZN_TRACE_ID.
    s3, lam = server.client("s3"), server.client("lambda")
    out, _ = queue(server, "journey-out")
    arn = create(lam, "journey-fn", "app.forward", files={"app.py": HANDLER},
                 Environment={"Variables": {"OUT_QUEUE": out}})["FunctionArn"]
    lam.add_permission(FunctionName="journey-fn", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=BUCKET_ARN)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})

    root = new_root()
    hook = traced(s3, root)
    s3.put_object(Bucket=BUCKET, Key="upload.txt", Body=b"hello")
    untraced(s3, hook)

    (msg,) = receive(server, out, 1)
    got = json.loads(msg["Body"])
    assert got["event"]["Records"][0]["s3"]["object"]["key"] == "upload.txt"
    assert got["trace"].split(";")[0] == f"Root={root}"          # the handler runs in the upload's journey
    rec = s3_record(deliveries(server, root, 1), arn)
    assert rec["TraceId"] == root and rec["Outcome"] == "delivered" and rec["Protocol"] == "lambda"
    assert rec["SourceArn"] == BUCKET_ARN


def test_an_untraced_upload_gets_a_journey_of_its_own(server) -> None:
    # No X-Amzn-Trace-Id: the upload starts a journey, and its notification is recorded under it
    # (found by the bucket as source), never under an empty trace id.
    s3 = server.client("s3")
    url, qarn = queue(server, "journey-untraced")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": qarn, "Events": ["s3:ObjectCreated:*"]}]})
    receive(server, url, 1)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    (msg,) = receive(server, url, 1)
    assert "AWSTraceHeader" not in msg["Attributes"]             # shown only when the sender traced
    deadline = time.monotonic() + 15
    while True:
        with server.internal(f"/_tsunagi/api/deliveries?source_arn={BUCKET_ARN}") as r:
            records = json.loads(r.read())["Deliveries"]
        if len(records) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(records) == 2                         # the TestEvent and the upload's event
    traces = {d["TraceId"] for d in records}
    assert len(traces) == 2 and all(t.startswith("1-") for t in traces)
