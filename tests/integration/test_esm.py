"""Event source mappings through the real server: CRUD and validation, records in AWS's format,
partial batch failures, filters, the batching window, FIFO order under failures, seed 003's pattern."""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import create

HANDLERS = """
import json, os, boto3
sqs = boto3.client("sqs")
OUT = os.environ.get("OUT_QUEUE")
MARKS = os.environ.get("MARKS", "/tmp")

def _forward(event):
    if OUT:
        sqs.send_message(QueueUrl=OUT, MessageBody=json.dumps(event))

def record(event, context):
    for r in event["Records"]:
        print("BODY", r["body"])
    _forward(event)
    return {"statusCode": 200}

def fail(event, context):
    _forward(event)
    raise RuntimeError("on purpose")

def partial(event, context):
    _forward(event)
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if "bad" in r["body"]]}

def malformed(event, context):
    _forward(event)
    return {"batchItemFailures": [{"itemIdentifier": ""}]}

def fail_once(event, context):
    # fails the first time it sees a body starting with "fail": reports it and what follows as failures
    _forward(event)
    failures = []
    for r in event["Records"]:
        mark = os.path.join(MARKS, r["messageId"])
        if failures or (r["body"].startswith("fail") and not os.path.exists(mark)):
            if not failures:
                open(mark, "w").close()
            failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}

def fail_one_claim_rest(event, context):
    # reports only the first "fail" body as failed, claims the rest of its group succeeded
    _forward(event)
    for r in event["Records"]:
        mark = os.path.join(MARKS, r["messageId"])
        if r["body"].startswith("fail") and not os.path.exists(mark):
            open(mark, "w").close()
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}]}
    return {}
"""


def queue(sqs: Any, name: str, **attrs: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def function(server: Any, name: str, handler: str, out_url: str | None = None, timeout: int = 1,
             marks: str | None = None) -> None:
    env = {}
    if out_url:
        env["OUT_QUEUE"] = out_url
    if marks:
        env["MARKS"] = marks
    create(server.client("lambda"), name, f"app.{handler}", files={"app.py": HANDLERS}, Timeout=timeout,
           Environment={"Variables": env})


def events(sqs: Any, out_url: str, want: int, timeout: float = 30.0,
           distinct: bool = False) -> list[dict[str, Any]]:
    """Events the handler forwarded to the output queue (deleted as read), until ``want`` records arrived
    (``distinct``: ``want`` different bodies, where a message may be delivered twice)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout

    def enough() -> bool:
        if distinct:
            return len(set(bodies(got))) >= want
        return sum(len(e["Records"]) for e in got) >= want

    while not enough() and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=out_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in r.get("Messages", []):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=out_url, ReceiptHandle=m["ReceiptHandle"])
    return got


def bodies(evs: list[dict[str, Any]]) -> list[str]:
    return [r["body"] for e in evs for r in e["Records"]]


def wait_state(lam: Any, uuid: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        m = lam.get_event_source_mapping(UUID=uuid)
        if m["State"] == state or time.monotonic() > deadline:
            assert m["State"] == state, m
            return m
        time.sleep(0.05)


def source_with_dlq(sqs: Any) -> tuple[str, str, str, str]:
    """An output queue, and a source queue (1 s visibility) redriving to a DLQ after 2 receives:
    (out url, dlq url, source url, source arn)."""
    out, _ = queue(sqs, "out")
    dlq_url, dlq_arn = queue(sqs, "dlq")
    url, arn = queue(sqs, "src", VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    return out, dlq_url, url, arn


def count(sqs: Any, url: str) -> int:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                "ApproximateNumberOfMessagesNotVisible"])
    return int(a["Attributes"]["ApproximateNumberOfMessages"]) + int(a["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


# == CRUD and validation ===========================================================================

def test_crud_states_and_output_shape(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    _, arn = queue(sqs, "crud")
    function(server, "fn", "record")
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn)
    assert m["State"] == "Creating"
    assert m["BatchSize"] == 10 and m["MaximumBatchingWindowInSeconds"] == 0
    assert m["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert m["EventSourceArn"] == arn and m["StateTransitionReason"] == "USER_INITIATED"
    assert m["FunctionResponseTypes"] == [] and m["LastProcessingResult"] == "No records processed"
    assert m["EventSourceMappingArn"].endswith(f":event-source-mapping:{m['UUID']}")
    wait_state(lam, m["UUID"], "Enabled")

    u = lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    assert u["State"] == "Disabling"
    wait_state(lam, m["UUID"], "Disabled")
    u = lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True, BatchSize=5,
                                        FunctionResponseTypes=["ReportBatchItemFailures"],
                                        ScalingConfig={"MaximumConcurrency": 2})
    assert u["State"] == "Enabling" and u["BatchSize"] == 5
    assert u["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert u["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    wait_state(lam, m["UUID"], "Enabled")
    u = lam.update_event_source_mapping(UUID=m["UUID"], BatchSize=3)
    assert u["State"] == "Updating"
    wait_state(lam, m["UUID"], "Enabled")

    listed = lam.list_event_source_mappings(FunctionName="fn")["EventSourceMappings"]
    assert [x["UUID"] for x in listed] == [m["UUID"]]
    assert [x["UUID"] for x in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == \
        [m["UUID"]]
    assert lam.list_event_source_mappings(FunctionName="other-fn")["EventSourceMappings"] == []

    with pytest.raises(ClientError) as ei:
        lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn)
    code, message = error(ei)
    assert code == "ResourceConflictException"
    assert message == (f'The event source arn (" {arn} ") and function (" fn ") provided mapping already exists. '
                       f"Please update or delete the existing mapping with UUID {m['UUID']}")

    d = lam.delete_event_source_mapping(UUID=m["UUID"])
    assert d["State"] == "Deleting"
    deadline = time.monotonic() + 5
    while lam.list_event_source_mappings()["EventSourceMappings"] and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(ClientError) as ei:
        lam.get_event_source_mapping(UUID=m["UUID"])
    assert error(ei) == ("ResourceNotFoundException", "The resource you requested does not exist.")


def test_validation_messages(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    _, arn = queue(sqs, "val")
    _, fifo_arn = queue(sqs, "val.fifo", FifoQueue="true", VisibilityTimeout="30")
    function(server, "fn", "record")
    function(server, "slow", "record", timeout=900)
    raw = server.client("lambda", parameter_validation=False)     # let the server check ranges

    def bad(**kw: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as ei:
            raw.create_event_source_mapping(**kw)
        return error(ei)

    # seed 000's message
    assert bad(FunctionName="slow", EventSourceArn=arn) == (
        "InvalidParameterValueException",
        "Invalid request provided: Queue visibility timeout: 30 seconds is less than Function timeout: 900 seconds")
    assert bad(FunctionName="fn", EventSourceArn=arn, BatchSize=11) == (
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
    assert bad(FunctionName="fn", EventSourceArn=fifo_arn, BatchSize=5, MaximumBatchingWindowInSeconds=2)[1] == \
        "Invalid request provided: Batching window is not supported for FIFO queues"
    code, _ = bad(FunctionName="fn", EventSourceArn=arn, BatchSize=10001, MaximumBatchingWindowInSeconds=1)
    assert code == "ValidationException"
    code, _ = bad(FunctionName="fn", EventSourceArn=arn, MaximumBatchingWindowInSeconds=301)
    assert code == "ValidationException"
    code, _ = bad(FunctionName="fn", EventSourceArn=arn, ScalingConfig={"MaximumConcurrency": 1})
    assert code == "ValidationException"
    code, _ = bad(FunctionName="fn", EventSourceArn=arn, FunctionResponseTypes=["Nope"])
    assert code == "ValidationException"
    assert bad(FunctionName="fn", EventSourceArn=arn, FilterCriteria={"Filters": [{"Pattern": "{nope"}]})[0] == \
        "InvalidParameterValueException"
    assert bad(FunctionName="fn", EventSourceArn=arn + "-missing") == (
        "InvalidParameterValueException",
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error "
        "Message: The specified queue does not exist or you do not have access to it.")
    assert bad(FunctionName="nofn", EventSourceArn=arn)[0] == "ResourceNotFoundException"
    assert bad(FunctionName="fn", EventSourceArn=arn, StartingPosition="LATEST")[0] == "InvalidParameterValueException"
    # batch size up to 10,000 with a window on a standard queue
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=10000,
                                        MaximumBatchingWindowInSeconds=1, Enabled=False)
    assert m["BatchSize"] == 10000
    wait_state(lam, m["UUID"], "Disabled")
    with pytest.raises(ClientError) as ei:
        lam.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert error(ei)[0] == "ResourceNotFoundException"


# == records and outcomes ==========================================================================

def test_record_format_standard_and_fifo(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src")
    furl, farn = queue(sqs, "src.fifo", FifoQueue="true")
    function(server, "fn", "record", out)
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=1)
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=farn, BatchSize=1)
    sent = sqs.send_message(QueueUrl=url, MessageBody='{"message": "hi"}', MessageAttributes={
        "s": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "n": {"DataType": "Number", "StringValue": "42"}},
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}})
    sqs.send_message(QueueUrl=furl, MessageBody="fifo body", MessageGroupId="g1", MessageDeduplicationId="d1")
    evs = events(sqs, out, 2)
    recs = {r["eventSourceARN"]: r for e in evs for r in e["Records"]}
    r = recs[arn]
    assert list(r) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                       "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"]
    assert r["messageId"] == sent["MessageId"] and r["body"] == '{"message": "hi"}'
    assert r["md5OfBody"] == sent["MD5OfMessageBody"]
    assert r["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert r["eventSource"] == "aws:sqs" and r["awsRegion"] == "us-east-1"
    assert list(r["attributes"]) == ["ApproximateReceiveCount", "AWSTraceHeader", "SentTimestamp", "SenderId",
                                     "ApproximateFirstReceiveTimestamp"]
    assert r["attributes"]["ApproximateReceiveCount"] == "1"
    assert r["attributes"]["AWSTraceHeader"] == "Root=1-abc"
    assert r["messageAttributes"]["s"] == {"stringValue": "v", "stringListValues": [], "binaryListValues": [],
                                           "dataType": "String"}
    assert r["messageAttributes"]["b"] == {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [],
                                           "dataType": "Binary"}
    assert r["messageAttributes"]["n"]["stringValue"] == "42"
    f = recs[farn]
    assert list(f["attributes"]) == ["ApproximateReceiveCount", "SentTimestamp", "SequenceNumber", "MessageGroupId",
                                     "SenderId", "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp"]
    assert f["attributes"]["MessageGroupId"] == "g1" and f["attributes"]["MessageDeduplicationId"] == "d1"
    assert "md5OfMessageAttributes" not in f and f["messageAttributes"] == {}
    # processed batches are deleted
    deadline = time.monotonic() + 5
    while (count(sqs, url) or count(sqs, furl)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count(sqs, url) == 0 and count(sqs, furl) == 0


def test_function_error_leaves_messages_and_redrive_moves_them(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, dlq_url, url, arn = source_with_dlq(sqs)
    function(server, "fn", "fail", out)
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=1)
    sqs.send_message(QueueUrl=url, MessageBody="doomed")
    evs = events(sqs, out, 2)
    counts = [r["attributes"]["ApproximateReceiveCount"] for e in evs for r in e["Records"]]
    assert counts[:2] == ["1", "2"]
    r = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=10)
    assert [x["Body"] for x in r["Messages"]] == ["doomed"]
    assert lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "PROBLEM: Function call failed"


def _preload(sqs: Any, lam: Any, url: str, arn: str, fn: str, msgs: list[dict[str, Any]], **kw: Any) -> str:
    """Create a disabled mapping, send ``msgs``, then enable it: the first poll sees them all."""
    m = lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, Enabled=False, **kw)
    wait_state(lam, m["UUID"], "Disabled")
    for i in range(0, len(msgs), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), **e} for j, e in enumerate(msgs[i:i + 10])])
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    return str(m["UUID"])


def test_partial_batch_failures(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src", VisibilityTimeout="2")
    function(server, "fn", "partial", out)
    _preload(sqs, lam, url, arn, "fn", [{"MessageBody": b} for b in ("good-1", "bad-1", "good-2")],
             FunctionResponseTypes=["ReportBatchItemFailures"])
    first = events(sqs, out, 3)
    assert sorted(bodies(first)) == ["bad-1", "good-1", "good-2"]
    again = events(sqs, out, 1, timeout=10)
    assert bodies(again)[0] == "bad-1"
    assert again[0]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert count(sqs, url) == 1        # the good ones were deleted, the bad one keeps failing


def test_malformed_batch_item_failures_fail_the_whole_batch(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src", VisibilityTimeout="1")
    function(server, "fn", "malformed", out)
    _preload(sqs, lam, url, arn, "fn", [{"MessageBody": b} for b in ("a", "b")],
             FunctionResponseTypes=["ReportBatchItemFailures"])
    evs = events(sqs, out, 4, timeout=10)
    assert sorted(bodies(evs)[:4]) == ["a", "a", "b", "b"]


def test_filter_criteria_keep_matching_and_delete_the_rest(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src")
    function(server, "fn", "record", out)
    filters = {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["keep"]}})},
                           {"Pattern": json.dumps({"body": [{"prefix": "plain-keep"}]})},
                           {"Pattern": json.dumps({"messageAttributes": {"tag": {"stringValue": ["yes"]}}})}]}
    m = _preload(sqs, lam, url, arn, "fn", [
        {"MessageBody": json.dumps({"kind": "keep", "n": 1})},
        {"MessageBody": json.dumps({"kind": "drop", "n": 2})},
        {"MessageBody": "plain-keep me"},
        {"MessageBody": "plain-drop me"},
        {"MessageBody": "tagged", "MessageAttributes": {"tag": {"DataType": "String", "StringValue": "yes"}}},
    ], FilterCriteria=filters)
    assert lam.get_event_source_mapping(UUID=m)["FilterCriteria"] == filters
    evs = events(sqs, out, 3)
    assert sorted(bodies(evs)) == sorted([json.dumps({"kind": "keep", "n": 1}), "plain-keep me", "tagged"])
    deadline = time.monotonic() + 5
    while count(sqs, url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count(sqs, url) == 0          # filtered-out messages are deleted


def test_batching_window_gathers_more_than_ten(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src")
    function(server, "fn", "record", out)
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=100,
                                    MaximumBatchingWindowInSeconds=2)
    time.sleep(0.3)
    for i in range(3):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{i}-{j}"}
                                                       for j in range(10)])
    evs = events(sqs, out, 30)
    assert sum(len(e["Records"]) for e in evs) == 30
    assert len(evs) == 1, [len(e["Records"]) for e in evs]


def shared_folder(tmp_path) -> str:
    """A folder the function may write its marks in: functions run as an unprivileged user when the
    server is root, and pytest's tmp_path is root's alone."""
    folder = tempfile.mkdtemp(prefix="tsunagi-esm-marks-")
    os.chmod(folder, 0o777)
    return folder


def test_fifo_order_kept_under_failures(server, tmp_path) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src.fifo", FifoQueue="true", VisibilityTimeout="2")
    function(server, "fn", "fail_once", out, marks=shared_folder(tmp_path))
    msgs = [{"MessageBody": b, "MessageGroupId": "A", "MessageDeduplicationId": b}
            for b in ("a1", "fail-a2", "a3")]
    msgs += [{"MessageBody": b, "MessageGroupId": "B", "MessageDeduplicationId": b} for b in ("b1", "b2")]
    _preload(sqs, lam, url, arn, "fn", msgs, FunctionResponseTypes=["ReportBatchItemFailures"])
    evs = events(sqs, out, 9, timeout=15)
    seen = bodies(evs)
    # the handler reports the failed record and everything after it (group B came later in the batch)
    assert [b for b in seen if b.startswith(("a", "fail-a"))] == ["a1", "fail-a2", "a3", "fail-a2", "a3"]
    assert [b for b in seen if b.startswith("b")] == ["b1", "b2", "b1", "b2"]
    deadline = time.monotonic() + 5
    while count(sqs, url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count(sqs, url) == 0


def test_fifo_failure_holds_back_the_rest_of_its_group(server, tmp_path) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src.fifo", FifoQueue="true", VisibilityTimeout="2")
    function(server, "fn", "fail_one_claim_rest", out, marks=shared_folder(tmp_path))
    msgs = [{"MessageBody": b, "MessageGroupId": "A", "MessageDeduplicationId": b} for b in ("fail-1", "x2")]
    _preload(sqs, lam, url, arn, "fn", msgs, FunctionResponseTypes=["ReportBatchItemFailures"])
    evs = events(sqs, out, 4, timeout=15)
    # x2 was reported as a success, but it follows a failure in its group: it is not deleted, and comes
    # back after fail-1, in order
    assert bodies(evs) == ["fail-1", "x2", "fail-1", "x2"]


def test_seed_003_raise_then_extend_and_delete_from_another_client(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "jobs.fifo", FifoQueue="true", VisibilityTimeout="5", ContentBasedDeduplication="true")
    function(server, "fn", "fail", out, timeout=3)
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=1)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"que_id": 7}), MessageGroupId="csv")
    evs = events(sqs, out, 1)
    handle = evs[0]["Records"][0]["receiptHandle"]
    # the long task (another process) extends the visibility, works, then deletes with the record's handle
    worker = server.sqs_client()
    worker.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=60)
    assert count(sqs, url) == 1
    time.sleep(6)                      # past the queue's own visibility timeout: still held
    assert events(sqs, out, 1, timeout=1) == []
    worker.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert count(sqs, url) == 0


def test_concurrency_scales_with_backlog(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, _ = queue(sqs, "out")
    url, arn = queue(sqs, "src")
    code = HANDLERS + ("\nimport time\ndef slow(event, context):\n    began = time.time()\n    time.sleep(0.3)\n"
                       "    event['ran'] = [began, time.time()]\n    return record(event, context)\n")
    create(lam, "fn", "app.slow", files={"app.py": code}, Timeout=2, Environment={"Variables": {"OUT_QUEUE": out}})
    _preload(sqs, lam, url, arn, "fn", [{"MessageBody": f"m{i}"} for i in range(60)], BatchSize=2,
             ScalingConfig={"MaximumConcurrency": 5})
    evs = events(sqs, out, 60, timeout=60)
    assert sorted(bodies(evs)) == sorted(f"m{i}" for i in range(60))
    # With a backlog, batches ran side by side (one at a time never overlaps), never more than
    # MaximumConcurrency at once.
    edges = sorted([(e["ran"][0], 1) for e in evs] + [(e["ran"][1], -1) for e in evs], key=lambda x: (x[0], x[1]))
    running = most = 0
    for _at, step in edges:
        running += step
        most = max(most, running)
    assert 2 <= most <= 5, most


def test_a_deleted_function_stops_the_mapping_and_leaves_the_messages_in_the_queue(server) -> None:
    """Messages wait in the queue while the mapping's function is gone (none driven to the dead-letter
    queue by receives that cannot invoke), the mapping says why, and a function re-created under the
    name takes them."""
    sqs, lam = server.sqs_client(), server.client("lambda")
    out, dlq_url, url, arn = source_with_dlq(sqs)
    function(server, "fn", "record", out)
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=1)
    wait_state(lam, m["UUID"], "Enabled")
    lam.delete_function(FunctionName="fn")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"waiting-{i}")
    deadline = time.monotonic() + 20
    while lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] != "PROBLEM: Function does not exist":
        assert time.monotonic() < deadline, "the mapping never reported the missing function"
        time.sleep(0.2)
    time.sleep(8)       # several visibility timeouts: a mapping still receiving would have redriven them
    assert count(sqs, dlq_url) == 0
    assert count(sqs, url) == 3
    function(server, "fn", "record", out)
    # (a 1 s visibility timeout is shorter than a cold start: a message may be delivered twice, as on AWS)
    assert sorted(set(bodies(events(sqs, out, 3, distinct=True)))) == ["waiting-0", "waiting-1", "waiting-2"]
