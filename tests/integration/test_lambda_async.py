"""Asynchronous invocation through the real server: event invoke configs, retries, destinations,
the function's dead-letter queue, SNS → Lambda and S3 → Lambda events.

The server runs with ``TSUNAGI_ASYNC_RETRY_BASE_SECONDS=0.3`` so that retries come in a second,
not in minutes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import require_postgres
from tests.integration.lambda_support import create
from tests.support import postgres
from tests.support.server import TsunagiServer

ENV = {"TSUNAGI_ASYNC_RETRY_BASE_SECONDS": "0.3"}

HANDLERS = """
import json, os, boto3
sqs = boto3.client("sqs")
OUT = os.environ.get("OUT_QUEUE")

def forward(event, context):
    if OUT:
        sqs.send_message(QueueUrl=OUT, MessageBody=json.dumps(event))
    return {"got": event}

def fail(event, context):
    if OUT:
        sqs.send_message(QueueUrl=OUT, MessageBody=json.dumps({"attempt": event}))
    raise ValueError("async failure")
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def _async_server(request: pytest.FixtureRequest):
    url = None
    if request.param == "sqlite":
        srv = TsunagiServer("sqlite", env=ENV)
    else:
        require_postgres()
        url = postgres.create_database("tsunagi_async")
        srv = TsunagiServer(url, env=ENV)
    srv.start()
    yield srv
    srv.stop()
    if url:
        postgres.drop_database(url)


@pytest.fixture
def srv(_async_server: TsunagiServer) -> TsunagiServer:
    _async_server.reset()
    return _async_server


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(sqs: Any, url: str, want: int, timeout: float = 15.0, **kw: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kw)
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def fn(srv: TsunagiServer, name: str, handler: str, out: str | None = None, **kw: Any) -> str:
    env = {"OUT_QUEUE": out} if out else {}
    r = create(srv.client("lambda"), name, f"app.{handler}", files={"app.py": HANDLERS},
               Environment={"Variables": env}, **kw)
    return str(r["FunctionArn"])


def test_event_invoke_config_crud_and_validation(srv) -> None:
    lam = srv.client("lambda")
    sqs = srv.sqs_client()
    _, qarn = queue(sqs, "dest")
    arn = fn(srv, "f", "forward")
    with pytest.raises(ClientError) as ei:
        lam.get_function_event_invoke_config(FunctionName="f")
    assert ei.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert ei.value.response["Error"]["Message"] == f"The function {arn}:$LATEST doesn't have an EventInvokeConfig"
    out = lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1,
                                               DestinationConfig={"OnFailure": {"Destination": qarn}})
    assert out["FunctionArn"] == f"{arn}:$LATEST"
    assert out["MaximumRetryAttempts"] == 1
    assert out["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": qarn}}
    up = lam.update_function_event_invoke_config(FunctionName="f", MaximumEventAgeInSeconds=120)
    assert up["MaximumRetryAttempts"] == 1 and up["MaximumEventAgeInSeconds"] == 120
    assert up["DestinationConfig"]["OnFailure"] == {"Destination": qarn}
    got = lam.get_function_event_invoke_config(FunctionName="f")
    assert got["MaximumEventAgeInSeconds"] == 120
    listed = lam.list_function_event_invoke_configs(FunctionName="f")["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{arn}:$LATEST"]
    raw = srv.client("lambda", parameter_validation=False)
    for bad in ({"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 59}):
        with pytest.raises(ClientError) as ei:
            raw.put_function_event_invoke_config(FunctionName="f", **bad)
        assert ei.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as ei:
        lam.put_function_event_invoke_config(FunctionName="f", DestinationConfig={
            "OnSuccess": {"Destination": "arn:aws:events:us-east-1:000000000000:event-bus/default"}})
    assert ei.value.response["Error"]["Code"] == "InvalidParameterValueException"
    lam.delete_function_event_invoke_config(FunctionName="f")
    assert lam.list_function_event_invoke_configs(FunctionName="f")["FunctionEventInvokeConfigs"] == []


def test_retries_then_on_failure_destination_record(srv) -> None:
    lam, sqs = srv.client("lambda"), srv.sqs_client()
    attempts_url, _ = queue(sqs, "attempts")
    dest_url, dest_arn = queue(sqs, "failures")
    arn = fn(srv, "f", "fail", attempts_url)
    lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1,
                                         DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    r = lam.invoke(FunctionName="f", InvocationType="Event", Payload=json.dumps({"order": 1}).encode())
    assert r["StatusCode"] == 202
    request_id = r["ResponseMetadata"]["RequestId"]
    records = receive(sqs, dest_url, 1, timeout=20)
    record = json.loads(records[0]["Body"])
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{arn}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert record["requestPayload"] == {"order": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "async failure"
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert len(receive(sqs, attempts_url, 3, timeout=2)) == 2          # the first try and one retry


def test_on_success_destinations_sqs_sns_and_function(srv) -> None:
    lam, sqs, sns = srv.client("lambda"), srv.sqs_client(), srv.client("sns")
    ok_url, ok_arn = queue(sqs, "ok")
    topic_out, topic_out_arn = queue(sqs, "from-topic")
    fwd_url, _ = queue(sqs, "from-function")
    topic = sns.create_topic(Name="ok-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_out_arn, Attributes={"RawMessageDelivery": "true"})
    fn(srv, "f", "forward")
    next_arn = fn(srv, "next", "forward", fwd_url)
    lam.put_function_event_invoke_config(FunctionName="f", DestinationConfig={"OnSuccess": {"Destination": ok_arn}})
    lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": 1}')
    record = json.loads(receive(sqs, ok_url, 1)[0]["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"got": {"n": 1}}

    lam.put_function_event_invoke_config(FunctionName="f", DestinationConfig={"OnSuccess": {"Destination": topic}})
    lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": 2}')
    record = json.loads(receive(sqs, topic_out, 1)[0]["Body"])
    assert record["requestPayload"] == {"n": 2} and record["requestContext"]["condition"] == "Success"

    lam.put_function_event_invoke_config(FunctionName="f", DestinationConfig={"OnSuccess": {"Destination": next_arn}})
    lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": 3}')
    record = json.loads(receive(sqs, fwd_url, 1)[0]["Body"])
    assert record["requestPayload"] == {"n": 3} and record["responsePayload"] == {"got": {"n": 3}}


def test_dead_letter_config_gets_the_event(srv) -> None:
    lam, sqs = srv.client("lambda"), srv.sqs_client()
    dlq_url, dlq_arn = queue(sqs, "fn-dlq")
    fn(srv, "f", "fail", DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=0)
    r = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"k": "v"}')
    msgs = receive(sqs, dlq_url, 1, MessageAttributeNames=["All"])
    assert json.loads(msgs[0]["Body"]) == {"k": "v"}
    attrs = msgs[0]["MessageAttributes"]
    assert attrs["RequestID"]["StringValue"] == r["ResponseMetadata"]["RequestId"]
    assert attrs["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attrs["ErrorMessage"]["StringValue"] == "async failure"


def test_sns_to_lambda_records(srv) -> None:
    lam, sqs, sns = srv.client("lambda"), srv.sqs_client(), srv.client("sns")
    out, _ = queue(sqs, "out")
    arn = fn(srv, "f", "forward", out)
    topic = sns.create_topic(Name="t")["TopicArn"]
    lam.add_permission(FunctionName="f", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)["SubscriptionArn"]
    sns.publish(TopicArn=topic, Message="hello", Subject="subj",
                MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    event = json.loads(receive(sqs, out, 1)[0]["Body"])
    rec = event["Records"][0]
    assert rec["EventSource"] == "aws:sns" and rec["EventVersion"] == "1.0"
    assert rec["EventSubscriptionArn"] == sub
    s = rec["Sns"]
    assert s["Type"] == "Notification" and s["TopicArn"] == topic
    assert s["Message"] == "hello" and s["Subject"] == "subj"
    assert s["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    for key in ("MessageId", "Timestamp", "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl"):
        assert s[key], key


def test_s3_to_lambda_event(srv) -> None:
    lam, sqs, s3 = srv.client("lambda"), srv.sqs_client(), srv.client("s3")
    out, _ = queue(sqs, "out")
    arn = fn(srv, "f", "forward", out)
    s3.create_bucket(Bucket="uploads")
    lam.add_permission(FunctionName="f", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads")
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
                                          "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".txt"}]}}}]})
    s3.put_object(Bucket="uploads", Key="skip.bin", Body=b"x")
    s3.put_object(Bucket="uploads", Key="a.txt", Body=b"hello")
    msgs = [json.loads(m["Body"]) for m in receive(sqs, out, 2, timeout=8)]
    records = [r for e in msgs for r in e.get("Records", [])]
    assert [r["s3"]["object"]["key"] for r in records] == ["a.txt"]
    assert records[0]["eventSource"] == "aws:s3" and records[0]["eventName"].startswith("ObjectCreated:")
