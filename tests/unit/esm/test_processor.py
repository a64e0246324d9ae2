"""The ESM processor and filters alone: records, batch item failure rules, FIFO hold-back, patterns."""

from __future__ import annotations

import json

import pytest

from tsunagi.filters.criteria import FilterCriteriaError, compile_filters, keep
from tsunagi.pipes import esm_processor as p
from tsunagi.ports.sqs import ReceivedMessage

ARN = "arn:aws:sqs:us-east-1:000000000000:q"


def msg(mid: str, body: str = "b", group: str | None = None, message_attributes: dict | None = None,
        md5_attrs: str | None = None, **attrs: str) -> ReceivedMessage:
    a = {"SenderId": "s", "SentTimestamp": "1", "ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": "2",
         **attrs}
    if group:
        a.update(MessageGroupId=group, SequenceNumber="10000000000000000001", MessageDeduplicationId="d")
    return ReceivedMessage(mid, "h-" + mid, body, "m", a, message_attributes or {}, md5_attrs, "1-00000000-x")


def test_record_shape_and_attribute_order() -> None:
    m = msg("1", AWSTraceHeader="Root=1", DeadLetterQueueSourceArn="x",
            message_attributes={"b": {"DataType": "Binary", "BinaryValue": b"\x01"}}, md5_attrs="ma")
    r = p.sqs_record(m, ARN, "us-east-1")
    assert list(r) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                       "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"]
    assert list(r["attributes"]) == ["ApproximateReceiveCount", "AWSTraceHeader", "SentTimestamp", "SenderId",
                                     "ApproximateFirstReceiveTimestamp"]
    assert r["messageAttributes"]["b"] == {"binaryValue": "AQ==", "stringListValues": [], "binaryListValues": [],
                                           "dataType": "Binary"}
    f = p.sqs_record(msg("2", group="g"), ARN, "us-east-1")
    assert list(f["attributes"]) == ["ApproximateReceiveCount", "SentTimestamp", "SequenceNumber", "MessageGroupId",
                                     "SenderId", "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp"]
    assert "md5OfMessageAttributes" not in f


@pytest.mark.parametrize("payload,expect", [
    (b"", set()), (b"null", set()), (b"{}", set()), (b'{"batchItemFailures": []}', set()),
    (b'{"batchItemFailures": null}', set()), (b'{"batchItemFailures": [{"itemIdentifier": "2"}]}', {"2"}),
    (b"not json", None), (b'"text"', None), (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
    (b'{"batchItemFailures": [{"id": "2"}]}', None), (b'{"batchItemFailures": [{"itemIdentifier": "9"}]}', None),
    (b'{"batchItemFailures": "2"}', None),
])
def test_batch_item_failure_rules(payload: bytes, expect: set | None) -> None:
    records = [p.sqs_record(msg(i), ARN, "us-east-1") for i in ("1", "2", "3")]
    assert p.failed_ids(payload, records) == expect


def test_fifo_failure_holds_back_later_records_of_its_group_only() -> None:
    recs = [p.sqs_record(msg(i, group=g), ARN, "us-east-1") for i, g in
            (("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A"), ("b2", "B"))]
    assert [r["messageId"] for r in p.successes(recs, {"a2"}, fifo=True)] == ["a1", "b1", "b2"]
    assert [r["messageId"] for r in p.successes(recs, {"a2"}, fifo=False)] == ["a1", "b1", "a3", "b2"]


def test_filters_on_json_body_plain_body_and_metadata() -> None:
    filters = compile_filters({"Filters": [{"Pattern": json.dumps({"body": {"n": [{"numeric": [">", 5]}]}})},
                                           {"Pattern": json.dumps({"body": [{"prefix": "hi"}]})},
                                           {"Pattern": json.dumps({"attributes": {"SenderId": ["vip"]}})}]})
    rec = lambda body, **a: p.sqs_record(msg("1", body, **a), ARN, "us-east-1")  # noqa: E731
    assert keep(filters, rec('{"n": 7}'))
    assert not keep(filters, rec('{"n": 3}'))
    assert keep(filters, rec("hi there"))
    assert not keep(filters, rec("bye"))
    assert keep(filters, rec("bye", SenderId="vip"))
    assert keep([], rec("anything"))


@pytest.mark.parametrize("criteria", [
    {"Filters": [{"Pattern": "{not json"}]}, {"Filters": [{"Pattern": "[]"}]}, {"Filters": [{}]},
    {"Filters": [{"Pattern": json.dumps({"body": "x"})}]},
    {"Filters": [{"Pattern": "{}"}] * 6},
])
def test_invalid_filter_criteria(criteria: dict) -> None:
    with pytest.raises(FilterCriteriaError):
        compile_filters(criteria)
