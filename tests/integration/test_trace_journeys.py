"""Journeys through SQS, end to end with boto3, on SQLite and PostgreSQL: a request that carries
X-Amzn-Trace-Id (as the X-Ray SDK sends it) passes that header on to the messages it causes, where
ReceiveMessage shows it as the AWSTraceHeader system attribute, as AWS does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.sns_support import queue, receive
from tsunagi.trace import new_trace_id


def trace_header(root: str, parent: str = "53995c3f42cd8ad8") -> str:
    return f"Root={root};Parent={parent};Sampled=1"


def traced(client: Any, operation: str, header: str) -> Callable[..., None]:
    """Send ``header`` as X-Amzn-Trace-Id on ``client``'s calls of ``operation`` (what the X-Ray SDK does)."""
    def add(request: Any, **_kw: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    client.meta.events.register(f"before-sign.{client.meta.service_model.endpoint_prefix}.{operation}", add)
    return add


def test_a_traced_publish_reaches_its_queues_with_its_trace_header(server) -> None:
    sns = server.client("sns")
    root = new_trace_id()
    traced(sns, "Publish", trace_header(root))
    topic = sns.create_topic(Name="traced-orders")["TopicArn"]
    raw_url, raw_arn = queue(server, "traced-raw")
    env_url, env_arn = queue(server, "traced-enveloped")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env_arn)
    mid = sns.publish(TopicArn=topic, Message="order 1")["MessageId"]
    (raw,) = receive(server, raw_url, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert raw["Body"] == "order 1"
    assert raw["Attributes"] == {"AWSTraceHeader": trace_header(root)}
    (env,) = receive(server, env_url, AttributeNames=["All"])
    assert json.loads(env["Body"])["MessageId"] == mid
    assert env["Attributes"]["AWSTraceHeader"].split(";")[0] == f"Root={root}"
    # the same journey in the delivery records
    with server.internal(f"/_tsunagi/api/deliveries?trace_id={root}") as r:
        records = json.loads(r.read())["Deliveries"]
    assert sorted(d["Outcome"] for d in records) == ["delivered", "delivered"]


def test_an_untraced_publish_leaves_its_messages_without_a_trace_header(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="untraced-orders")["TopicArn"]
    url, arn = queue(server, "untraced-q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="order 2")
    (m,) = receive(server, url, AttributeNames=["All"])
    assert m["Body"] == "order 2" and "AWSTraceHeader" not in m["Attributes"]


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_send_message_with_the_http_trace_header_sets_aws_trace_header(server, protocol: str) -> None:
    sqs = server.sqs_client(protocol)
    root = new_trace_id()
    traced(sqs, "SendMessage", trace_header(root))
    traced(sqs, "SendMessageBatch", trace_header(root, "00000000000000b1"))
    url = sqs.create_queue(QueueName=f"traced-sends-{protocol}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    # a message's own AWSTraceHeader wins over the request's header
    own = trace_header(new_trace_id(), "1111111111111111")
    sent = sqs.send_message(QueueUrl=url, MessageBody="two", MessageSystemAttributes={
        "AWSTraceHeader": {"DataType": "String", "StringValue": own}})
    assert sent["MD5OfMessageSystemAttributes"]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "three"},
        {"Id": "b", "MessageBody": "four", "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": own}}}])
    got = {m["Body"]: m["Attributes"] for m in receive(server, url, 4, MessageSystemAttributeNames=["All"])}
    assert {body: attrs["AWSTraceHeader"] for body, attrs in got.items()} == {
        "one": trace_header(root), "two": own, "three": trace_header(root, "00000000000000b1"), "four": own}
    # without the header, no AWSTraceHeader
    plain = server.sqs_client(protocol)
    plain.send_message(QueueUrl=url, MessageBody="five")
    (m,) = receive(server, url, AttributeNames=["All"])
    assert m["Body"] == "five" and "AWSTraceHeader" not in m["Attributes"]
