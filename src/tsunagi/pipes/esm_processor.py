"""The processor between an SQS poller and a function: records in AWS's format, and what to delete.

:func:`sqs_record` turns a message as SQS's internal receive returns it (ReceiveMessage's output
shape, every attribute) into the record Lambda hands a function::

    {"messageId", "receiptHandle", "body",
     "attributes": {"ApproximateReceiveCount", ["AWSTraceHeader"], "SentTimestamp",
                    [FIFO: "SequenceNumber", "MessageGroupId"], "SenderId", [FIFO: "MessageDeduplicationId"],
                    "ApproximateFirstReceiveTimestamp"},
     "messageAttributes": {name: {"stringValue" | "binaryValue" (base64), "stringListValues": [],
                                  "binaryListValues": [], "dataType"}},
     "md5OfBody", ["md5OfMessageAttributes"], "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}

:func:`successes` reads the function's answer: with ``ReportBatchItemFailures`` a response
``{"batchItemFailures": [{"itemIdentifier": <messageId>}, …]}`` deletes every other record; an empty
or null list, an empty or null response count as full success; a response that is not JSON, an
identifier that is empty, null, under another key or not in the batch fail the whole batch (AWS's
rules). For FIFO queues a failed record holds back every later record of its message group.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from tsunagi.ports.sqs import ReceivedMessage

_SYSTEM_ORDER = ("ApproximateReceiveCount", "AWSTraceHeader", "SentTimestamp", "SequenceNumber", "MessageGroupId",
                 "SenderId", "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp")


def sqs_record(msg: ReceivedMessage, source_arn: str, region: str) -> dict[str, Any]:
    given = msg.attributes
    attributes = {name: given[name] for name in _SYSTEM_ORDER if name in given}
    message_attributes: dict[str, Any] = {}
    for name, attr in msg.message_attributes.items():
        value: dict[str, Any] = {}
        if attr.get("BinaryValue") is not None:
            raw = attr["BinaryValue"]
            value["binaryValue"] = base64.b64encode(raw if isinstance(raw, bytes) else bytes(raw)).decode("ascii")
        else:
            value["stringValue"] = attr.get("StringValue")
        value["stringListValues"] = []
        value["binaryListValues"] = []
        value["dataType"] = attr.get("DataType")
        message_attributes[name] = value
    record: dict[str, Any] = {
        "messageId": msg.message_id, "receiptHandle": msg.receipt_handle, "body": msg.body,
        "attributes": attributes, "messageAttributes": message_attributes, "md5OfBody": msg.md5_of_body,
    }
    if msg.md5_of_message_attributes:
        record["md5OfMessageAttributes"] = msg.md5_of_message_attributes
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = source_arn
    record["awsRegion"] = region
    return record


def failed_ids(payload: bytes, records: list[dict[str, Any]]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response names; None when the whole batch failed."""
    if not payload.strip():
        return set()
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if doc is None:
        return set()
    if not isinstance(doc, dict):
        return None
    items = doc.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    ids = {r["messageId"] for r in records}
    out: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            return None
        ident = item.get("itemIdentifier")
        if not isinstance(ident, str) or not ident or ident not in ids:
            return None
        out.add(ident)
    return out


def successes(records: list[dict[str, Any]], failed: set[str], fifo: bool) -> list[dict[str, Any]]:
    """The records to delete: every one not failed; for FIFO, none after a failure in the same group."""
    if not failed:
        return list(records)
    held: set[str] = set()
    out = []
    for r in records:
        group = r["attributes"].get("MessageGroupId") if fifo else None
        if r["messageId"] in failed:
            if group is not None:
                held.add(group)
            continue
        if group is not None and group in held:
            continue
        out.append(r)
    return out
