"""Requests that cost a naive server its memory or its event loop (issue 21): an ``$or`` bomb in an SNS
filter policy and in an event source mapping's FilterCriteria, a catastrophically backtracking log
filter regex, megabytes of aws-chunked framing, and a valid request pipelined before a malformed one.
Each asserts the refusal or the bound (the server's resident memory growth, the longest stall of a
probe request while it runs) and that the server keeps serving. Real server, loopback only."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import create
from tests.security.probe import StallProbe, rss_mb
from tests.security.rawhttp import any_signature, request, send_raw
from tests.support.server import TsunagiServer

MAX_STALL_S = 1.0


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def _or_bomb(keys: int) -> dict:
    """2**keys alternatives in under a kilobyte (each key an ``$or`` of two branches)."""
    return {f"k{i}": {"$or": [{"x": ["1"]}, {"y": ["1"]}]} for i in range(keys)}


def _keeps_serving(srv) -> None:
    assert srv.sqs_client().list_queues() is not None


def test_an_or_bomb_filter_policy_is_refused_without_expanding_it(srv):
    sns = srv.client("sns")
    sqs = srv.sqs_client()
    topic = sns.create_topic(Name="or-bomb")["TopicArn"]
    queue = sqs.create_queue(QueueName="or-bomb")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bomb = json.dumps(_or_bomb(24), separators=(",", ":"))
    assert len(bomb) < 1000
    before = rss_mb(srv.proc.pid)
    with StallProbe(srv.port) as probe:
        for _ in range(3):
            with pytest.raises(ClientError) as e:
                sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"FilterPolicy": bomb})
            assert e.value.response["Error"]["Code"] == "InvalidParameter"
            assert "FilterPolicy" in e.value.response["Error"]["Message"]
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=bomb)
        assert e.value.response["Error"]["Code"] == "InvalidParameter"
    grown = rss_mb(srv.proc.pid) - before
    assert grown < 50, f"the server grew {grown:.0f} MB on a {len(bomb)}-byte filter policy"
    assert probe.longest < MAX_STALL_S, f"the event loop stalled {probe.longest:.2f} s"
    _keeps_serving(srv)


def test_an_or_bomb_in_filter_criteria_is_refused_without_expanding_it(srv):
    lam = srv.client("lambda")
    sqs = srv.sqs_client()
    create(lam, "or-bomb-target", "app.handler")
    queue = sqs.create_queue(QueueName="or-bomb-esm")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"body": _or_bomb(24)})
    before = rss_mb(srv.proc.pid)
    with StallProbe(srv.port) as probe:
        with pytest.raises(ClientError) as e:
            lam.create_event_source_mapping(FunctionName="or-bomb-target", EventSourceArn=arn,
                                            FilterCriteria={"Filters": [{"Pattern": pattern}]})
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    grown = rss_mb(srv.proc.pid) - before
    assert grown < 50, f"the server grew {grown:.0f} MB on a FilterCriteria pattern"
    assert probe.longest < MAX_STALL_S, f"the event loop stalled {probe.longest:.2f} s"
    assert lam.list_event_source_mappings(FunctionName="or-bomb-target")["EventSourceMappings"] == []
    _keeps_serving(srv)


def test_a_backtracking_regex_in_filter_log_events_runs_in_linear_time(srv):
    logs = srv.client("logs")
    logs.create_log_group(logGroupName="regex-bomb")
    logs.create_log_stream(logGroupName="regex-bomb", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="regex-bomb", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": "a" * 5000} for i in range(50)]
                        + [{"timestamp": now + 50, "message": "a" * 5000 + "b"}])
    with StallProbe(srv.port) as probe:
        started = time.monotonic()
        events = logs.filter_log_events(logGroupName="regex-bomb", filterPattern="%^(a|a)*b%")["events"]
        took = time.monotonic() - started
    assert [len(e["message"]) for e in events] == [5001]
    assert took < 5, f"FilterLogEvents took {took:.1f} s"          # a backtracking engine: 2**5000 steps
    assert probe.longest < MAX_STALL_S, f"the event loop stalled {probe.longest:.2f} s"
    _keeps_serving(srv)


def _chunked(payload: bytes, size: int) -> bytes:
    signature = ";chunk-signature=" + "0" * 64
    out = bytearray()
    for i in range(0, len(payload), size):
        piece = payload[i:i + size]
        out += f"{len(piece):x}{signature}\r\n".encode() + piece + b"\r\n"
    out += f"0{signature}\r\n\r\n".encode()
    return bytes(out)


def test_megabytes_of_aws_chunked_framing_keep_no_per_chunk_state(srv):
    srv.client("s3").create_bucket(Bucket="chunk-bomb")
    payload = b"z" * (4 * 1024 * 1024)
    body = _chunked(payload, 16)                       # 262,144 chunks: ~27 MB of framing for 4 MB
    assert len(body) > 6 * len(payload)
    headers = {**any_signature("s3"), "Content-Encoding": "aws-chunked",
               "X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "X-Amz-Decoded-Content-Length": str(len(payload))}
    before = rss_mb(srv.proc.pid)
    with StallProbe(srv.port) as probe:
        answer = send_raw(srv.port, request("PUT", "/chunk-bomb/framed", headers, body), timeout=120)
    assert answer.status == 200, str(answer)
    grown = rss_mb(srv.proc.pid) - before
    assert grown < 60, f"the server grew {grown:.0f} MB on {len(body) >> 20} MB of aws-chunked framing"
    assert probe.answered > 0
    got = srv.client("s3").get_object(Bucket="chunk-bomb", Key="framed")["Body"].read()
    assert got == payload


def test_a_request_pipelined_before_a_malformed_one_is_answered_first(srv):
    good = request("POST", "/", {"Content-Type": "application/x-amz-json-1.0", **any_signature("sqs"),
                                 "X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}")
    bad = b"GARBAGE / NOT-HTTP\r\n\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(good + bad)
        sock.shutdown(socket.SHUT_WR)
        raw = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    assert statuses[:1] == [200], raw[:500]
    assert len(statuses) == 2 and statuses[1] == 400, raw[:500]
    _keeps_serving(srv)
