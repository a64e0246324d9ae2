"""Seed 002 without the API Gateway, with the article's aws CLI commands: the function logs the SQS
record; a disabled mapping leaves messages in the queue (a manual receive-message sees them);
enabling it processes them; reserved concurrency 0 sends messages to the DLQ after 3 receives;
start-message-move-task brings them back and they are processed."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.integration.lambda_support import create

# The article's function, unchanged.
SEED_HANDLER = '''import json

def lambda_handler(event, context):
    print(f'LambdaがSQSから読み取ったデータ: {json.dumps(event)}')
    for i in event["Records"]:
        print(f'SQSに送信されたメッセージ: {i["body"]}')
    return {"statusCode": 200, "body": json.dumps("Hello from Lambda!")}
'''
FN = "sample-dev-lambda"
GROUP = f"/aws/lambda/{FN}"


def cli(server: Any, *args: str) -> Any:
    out = server.aws(*args).stdout.strip()
    return json.loads(out) if out else None


def logged_bodies(server: Any) -> list[str]:
    """Every body the function printed, read the article's way (latest stream by lastEventTimestamp)."""
    logs = server.client("logs")
    try:
        streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    out = []
    for st in streams:
        for e in logs.get_log_events(logGroupName=GROUP, logStreamName=st["logStreamName"],
                                     startFromHead=True)["events"]:
            if e["message"].startswith("SQSに送信されたメッセージ: "):
                out.append(e["message"].split(": ", 1)[1].strip())
    return out


def wait_logged(server: Any, body: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while body not in logged_bodies(server):
        assert time.monotonic() < deadline, f"{body!r} never logged; have {logged_bodies(server)}"
        time.sleep(0.2)


def test_seed_002_disable_enable_throttle_dlq_and_move_back(server) -> None:
    sqs = server.sqs_client()
    dlq_url = sqs.create_queue(QueueName="sample-dev-dead-letter-sqs",
                               Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="sample-dev-sqs", Attributes={
        "VisibilityTimeout": "2",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    create(server.client("lambda"), FN, "app.lambda_handler", files={"app.py": SEED_HANDLER}, runtime="python3.12",
           Timeout=2)
    cli(server, "lambda", "create-event-source-mapping", "--function-name", FN, "--event-source-arn", arn,
        "--batch-size", "1")

    # 3. the function processes what is sent and logs the record
    first = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test-1"})
    sqs.send_message(QueueUrl=url, MessageBody=first)
    wait_logged(server, first)
    stream = server.aws("logs", "describe-log-streams", "--log-group-name", GROUP, "--query",
                        "logStreams | sort_by(@, &lastEventTimestamp) | [-1].logStreamName", "--output",
                        "text").stdout.strip()
    text = server.aws("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream, "--query",
                      "events[].[timestamp,message]", "--output", "text").stdout
    assert "LambdaがSQSから読み取ったデータ: {\"Records\": [{\"messageId\": " in text
    assert '"eventSource": "aws:sqs"' in text and f'"eventSourceARN": "{arn}"' in text

    # 4. disable the mapping: messages stay, a manual receive sees them
    uuid = server.aws("lambda", "list-event-source-mappings", "--function-name", FN, "--query",
                      "EventSourceMappings[].UUID", "--output", "text").stdout.strip()
    cli(server, "lambda", "update-event-source-mapping", "--uuid", uuid, "--no-enabled")
    deadline = time.monotonic() + 10
    while server.aws("lambda", "get-event-source-mapping", "--uuid", uuid, "--query", "State", "--output",
                     "text").stdout.strip() != "Disabled":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    second = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test-2"})
    sqs.send_message(QueueUrl=url, MessageBody=second)
    got = cli(server, "sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "1")
    assert got["Messages"][0]["Body"] == second
    time.sleep(2.5)
    assert second not in logged_bodies(server)

    # enable: processed
    cli(server, "lambda", "update-event-source-mapping", "--uuid", uuid, "--enabled")
    wait_logged(server, second)

    # 5. reserved concurrency 0: the throttled function never runs, after 3 receives the message is in the DLQ
    cli(server, "lambda", "put-function-concurrency", "--function-name", FN, "--reserved-concurrent-executions", "0")
    third = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test-3"})
    sqs.send_message(QueueUrl=url, MessageBody=third)
    deadline = time.monotonic() + 30
    while True:
        got = cli(server, "sqs", "receive-message", "--queue-url", dlq_url, "--max-number-of-messages", "1")
        if got and got.get("Messages"):
            break
        assert time.monotonic() < deadline, "the message never reached the dead-letter queue"
        time.sleep(0.5)
    assert got["Messages"][0]["Body"] == third
    assert third not in logged_bodies(server)
    mapping = server.client("lambda").get_event_source_mapping(UUID=uuid)
    assert mapping["LastProcessingResult"].startswith("PROBLEM")

    # 5.4 / 5.5 remove the limit, move the messages back: processed, both queues empty
    cli(server, "lambda", "delete-function-concurrency", "--function-name", FN)
    time.sleep(1.2)                  # the DLQ's visibility timeout after the manual receive
    cli(server, "sqs", "start-message-move-task", "--source-arn", dlq_arn)
    wait_logged(server, third, timeout=20)
    deadline = time.monotonic() + 10
    while True:
        counts = [sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"] for u in (url, dlq_url)]
        total = sum(int(c["ApproximateNumberOfMessages"]) + int(c["ApproximateNumberOfMessagesNotVisible"])
                    for c in counts)
        if total == 0:
            break
        assert time.monotonic() < deadline, counts
        time.sleep(0.2)
