"""Journeys through Lambda: the caller's trace id reaches the function's ``_X_AMZN_TRACE_ID``.

An SQS message's ``AWSTraceHeader`` reaches the function an event source mapping invokes with it; a
synchronous Invoke's ``X-Amzn-Trace-Id`` reaches the handler; an Event invocation keeps it through
its wait in the async queue, into the handler and into its destination and dead-letter deliveries.
Workers are reused, so each invocation sees its own header, never the previous one's."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

import pytest

from tests.integration.lambda_support import create, invoke

HANDLERS = """
import json, os, boto3
sqs = boto3.client("sqs")
OUT = os.environ["OUT_QUEUE"]

def report(event, context):
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    sqs.send_message(QueueUrl=OUT, MessageBody=json.dumps({"trace": trace, "event": event}))
    return {"trace": trace}

def fail(event, context):
    report(event, context)
    raise ValueError("on purpose")
"""

ROOT = "1-67a5b1c2-0123456789abcdef01234567"
HEADER = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(sqs: Any, url: str, want: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                MessageSystemAttributeNames=["AWSTraceHeader"])
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert len(got) >= want, f"{len(got)} of {want} messages arrived"
    return got


def fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def traced(client: Any, operation: str, header: str) -> None:
    def add(request: Any, **_kw: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    client.meta.events.register(f"before-sign.{client.meta.service_model.endpoint_prefix}.{operation}", add)


def deliveries(server: Any, trace_id: str) -> list[dict[str, Any]]:
    with server.internal(f"/_tsunagi/api/deliveries?trace_id={trace_id}") as r:
        return list(json.loads(r.read())["Deliveries"])


def test_esm_function_continues_the_messages_aws_trace_header(server) -> None:
    lam, sqs = server.client("lambda"), server.sqs_client()
    out_url, _ = queue(sqs, "out")
    src_url, src_arn = queue(sqs, "src")
    create(lam, "on-queue", "app.report", files={"app.py": HANDLERS}, Environment={"Variables": {"OUT_QUEUE": out_url}})
    lam.create_event_source_mapping(EventSourceArn=src_arn, FunctionName="on-queue", BatchSize=1)
    sqs.send_message(QueueUrl=src_url, MessageBody="traced", MessageSystemAttributes={
        "AWSTraceHeader": {"DataType": "String", "StringValue": HEADER}})
    [msg] = receive(sqs, out_url)
    seen = json.loads(msg["Body"])
    assert seen["event"]["Records"][0]["attributes"]["AWSTraceHeader"] == HEADER
    assert fields(seen["trace"]) == {"Root": ROOT, "Parent": "53995c3f42cd8ad8", "Sampled": "1"}
    # the function's own SQS call carries its _X_AMZN_TRACE_ID on (boto3 sends it as X-Amzn-Trace-Id)
    assert fields(msg["Attributes"]["AWSTraceHeader"])["Root"] == ROOT

    # The same warm worker, a message without a header: a journey of its own, not the previous one.
    sqs.send_message(QueueUrl=src_url, MessageBody="untraced")
    [msg] = receive(sqs, out_url)
    other = fields(json.loads(msg["Body"])["trace"])
    assert other["Root"] != ROOT and other["Root"].startswith("1-") and len(other["Root"]) == 35
    assert other["Sampled"] == "0" and len(other["Parent"]) == 16


def test_sync_invoke_passes_x_amzn_trace_id_to_the_handler(server) -> None:
    lam, sqs = server.client("lambda"), server.sqs_client()
    out_url, _ = queue(sqs, "out")
    create(lam, "sync", "app.report", files={"app.py": HANDLERS}, Environment={"Variables": {"OUT_QUEUE": out_url}})
    plain = server.client("lambda")
    traced(lam, "Invoke", HEADER)
    _r, body = invoke(lam, "sync", {"n": 1})
    assert fields(body["trace"]) == {"Root": ROOT, "Parent": "53995c3f42cd8ad8", "Sampled": "1"}
    _r, body = invoke(plain, "sync", {"n": 2})         # same worker, no header: a new journey
    assert fields(body["trace"])["Root"] != ROOT


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")
def test_node_handler_sees_the_trace_in_env_and_context(server) -> None:
    lam = server.client("lambda")
    create(lam, "node-trace", "index.handler", runtime="nodejs20.x", files={"index.js": (
        "exports.handler = async (event, context) => "
        "({env: process.env._X_AMZN_TRACE_ID || null, ctx: context.xRayTraceId || null});\n")})
    plain = server.client("lambda")
    traced(lam, "Invoke", HEADER)
    _r, body = invoke(lam, "node-trace")
    assert fields(body["env"]) == {"Root": ROOT, "Parent": "53995c3f42cd8ad8", "Sampled": "1"}
    assert body["ctx"] == body["env"]
    _r, body = invoke(plain, "node-trace")
    assert fields(body["env"])["Root"] != ROOT and body["ctx"] == body["env"]


def test_async_invoke_keeps_the_callers_trace_into_handler_destination_and_dlq(server) -> None:
    lam, sqs = server.client("lambda"), server.sqs_client()
    out_url, _ = queue(sqs, "out")
    dest_url, dest_arn = queue(sqs, "on-failure")
    dlq_url, dlq_arn = queue(sqs, "dead-letters")
    arn = create(lam, "async", "app.fail", files={"app.py": HANDLERS},
                 Environment={"Variables": {"OUT_QUEUE": out_url}},
                 DeadLetterConfig={"TargetArn": dlq_arn})["FunctionArn"]
    lam.put_function_event_invoke_config(FunctionName="async", MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    traced(lam, "Invoke", HEADER)
    r = lam.invoke(FunctionName="async", InvocationType="Event", Payload=b'{"order": 7}')
    assert r["StatusCode"] == 202
    request_id = r["ResponseMetadata"]["RequestId"]
    [msg] = receive(sqs, out_url)
    assert fields(json.loads(msg["Body"])["trace"])["Root"] == ROOT
    [failure] = receive(sqs, dest_url)
    assert json.loads(failure["Body"])["requestContext"]["requestId"] == request_id
    [dead] = receive(sqs, dlq_url)
    assert json.loads(dead["Body"]) == {"order": 7}

    # both sends are in the caller's journey, recorded as the function's destination deliveries
    deadline = time.monotonic() + 10
    while True:
        records = [d for d in deliveries(server, ROOT) if d["Pipe"] == "destination"]
        if len(records) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted((d["TargetArn"], d["Outcome"]) for d in records) == sorted(
        [(dest_arn, "delivered"), (dlq_arn, "delivered")])
    assert {(d["TraceId"], d["SourceArn"], d["MessageId"], d["Protocol"]) for d in records} == {
        (ROOT, f"{arn}:$LATEST", request_id, "sqs")}
