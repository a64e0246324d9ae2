"""kill -9 while a mapping's batch is inside the function: after a restart the batch is received
again and processed; nothing is lost."""

from __future__ import annotations

import json
import time

from tests.integration.lambda_support import create

HANDLER = """
import json, os, time, boto3
sqs = boto3.client("sqs")

def handler(event, context):
    for r in event["Records"]:
        if r["attributes"]["ApproximateReceiveCount"] == "1":
            sqs.send_message(QueueUrl=os.environ["STARTED"], MessageBody=r["body"])
            time.sleep(30)              # killed in here
        sqs.send_message(QueueUrl=os.environ["DONE"], MessageBody=r["body"])
"""


def _receive(sqs, url: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if r.get("Messages"):
            return [m["Body"] for m in r["Messages"]]
    return []


def test_kill_9_mid_batch_then_the_batch_is_processed_again(crash_server) -> None:
    srv = crash_server.start()
    sqs, lam = srv.sqs_client(), srv.client("lambda")
    started = sqs.create_queue(QueueName="started")["QueueUrl"]
    done = sqs.create_queue(QueueName="done")["QueueUrl"]
    url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "4"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    create(lam, "worker", "app.handler", files={"app.py": HANDLER}, Timeout=3,
           Environment={"Variables": {"STARTED": started, "DONE": done}})
    lam.create_event_source_mapping(FunctionName="worker", EventSourceArn=arn, BatchSize=1)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job": 1}))
    assert _receive(sqs, started, 15) == [json.dumps({"job": 1})]

    srv.kill()                          # the batch is in flight: received, not deleted
    srv.start()
    sqs = srv.sqs_client()
    assert _receive(sqs, done, 25) == [json.dumps({"job": 1})]
    deadline = time.monotonic() + 5
    while True:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) == 0:
            break
        assert time.monotonic() < deadline, a
        time.sleep(0.2)
