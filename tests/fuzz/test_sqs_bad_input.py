"""Property: invalid SQS calls change nothing.

A standard and a FIFO queue hold known messages, attributes and tags. Hypothesis draws
sequences of calls that are each invalid in at least one way (a bad value next to good ones,
a batch with duplicate or too many ids, attributes out of range, bodies with forbidden
characters, foreign or forged receipt handles, same-name CreateQueue with other attributes).
Each must fail with a 4xx ``ServiceError`` (a batch may instead report every entry as failed),
and afterwards the queues' attributes, tags and message counts are exactly what they were; at
the end every original message is still there, unchanged, and nothing else is.

The service runs in-process on SQLite (``:memory:``) with a manual clock, so nothing expires
while hypothesis works. Values are typed as the protocol parser would hand them over.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.sqs.service import SqsService
from tsunagi.store.base import open_store

MiB = 1024 * 1024
BODIES = [f"message {i} \u00e9\U0001f600" for i in range(5)]


class World:
    def __init__(self, tmp: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = open_store(":memory:", tmp)
        platform = Platform(Config(), self.store, ManualClock())
        self.svc = SqsService(platform)
        platform.services["sqs"] = self.svc
        self.run(self.store.open())
        self.run(self.store.reset())
        self.run(self.svc.start())
        self.ctx = RequestContext(account="000000000000", region="us-east-1", request_id="r", host="localhost:4566")
        self.std = self.call("create_queue", {"QueueName": "std", "Attributes": {"VisibilityTimeout": "45"},
                                              "tags": {"team": "a"}})["QueueUrl"]
        self.fifo = self.call("create_queue", {"QueueName": "q.fifo", "Attributes": {
            "FifoQueue": "true", "ContentBasedDeduplication": "true"}})["QueueUrl"]
        for i, body in enumerate(BODIES):
            self.call("send_message", {"QueueUrl": self.std, "MessageBody": body, "MessageAttributes": {
                "n": {"DataType": "Number", "StringValue": str(i)}}})
            self.call("send_message", {"QueueUrl": self.fifo, "MessageBody": body, "MessageGroupId": "g"})

    def run(self, aw: Any) -> Any:
        return self.loop.run_until_complete(aw)

    def call(self, op: str, params: dict) -> dict:
        ctx = RequestContext(account=self.ctx.account, region=self.ctx.region, request_id=str(uuid.uuid4()),
                             host=self.ctx.host)
        return self.run(getattr(self.svc, op)(ctx, params))

    def snapshot(self) -> dict:
        out = {}
        for url in (self.std, self.fifo):
            out[url] = (self.call("get_queue_attributes", {"QueueUrl": url, "AttributeNames": ["All"]})["Attributes"],
                        self.call("list_queue_tags", {"QueueUrl": url}).get("Tags", {}))
        out["queues"] = sorted(self.call("list_queues", {}).get("QueueUrls", []))
        return out

    def close(self) -> None:
        self.run(self.svc.stop())
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("sqs-bad-input")))
    w.initial = w.snapshot()
    yield w
    w.close()


# -- invalid values ---------------------------------------------------------------------------------

FORBIDDEN_CHARS = st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff", "\ud800"])
BAD_BODIES = st.one_of(
    st.tuples(st.text(max_size=10), FORBIDDEN_CHARS, st.text(max_size=10)).map("".join),
    st.just(""),
    st.just("x" * (MiB + 1)),
)
BAD_ATTRIBUTE_VALUES = {
    "DelaySeconds": ["-1", "901", "abc", "", "1.5", "99999999999999999999"],
    "MaximumMessageSize": ["1023", str(MiB + 1), "x"],
    "MessageRetentionPeriod": ["59", "1209601", "-5"],
    "ReceiveMessageWaitTimeSeconds": ["21", "-1", "nan"],
    "VisibilityTimeout": ["43201", "-1", "1e3"],
    "RedrivePolicy": ["{", "[]", '{"maxReceiveCount": 5}', '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:'
                      '000000000000:nope", "maxReceiveCount": 5}', '{"deadLetterTargetArn": 1, "maxReceiveCount": "x"}'],
    "Policy": ["{", "not json"],
    "KmsDataKeyReusePeriodSeconds": ["59", "86401"],
    "FifoQueue": ["true", "false", "yes"],   # cannot change a queue's type
    "NoSuchAttribute": ["1"],
    "ContentBasedDeduplication": ["maybe"],
}
GOOD_ATTRIBUTE_VALUES = {"VisibilityTimeout": "7", "DelaySeconds": "3", "MaximumMessageSize": "2048",
                         "MessageRetentionPeriod": "600", "ReceiveMessageWaitTimeSeconds": "2"}

BAD_MESSAGE_ATTRIBUTES = st.sampled_from([
    {"a": {"DataType": "Nope", "StringValue": "x"}},
    {"a": {"DataType": "String"}},
    {"a": {"DataType": "String", "StringValue": ""}},
    {"a": {"DataType": "Number", "StringValue": "not a number"}},
    {"a": {"DataType": "Binary", "StringValue": "x"}},
    {"AWS.reserved": {"DataType": "String", "StringValue": "x"}},
    {"Amazon.reserved": {"DataType": "String", "StringValue": "x"}},
    {".dot": {"DataType": "String", "StringValue": "x"}},
    {"a..b": {"DataType": "String", "StringValue": "x"}},
    {"": {"DataType": "String", "StringValue": "x"}},
    {"x" * 257: {"DataType": "String", "StringValue": "x"}},
    {f"k{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)},
    {"a": {"DataType": "String", "StringValue": "\x00"}},
])
FORGED_HANDLES = st.one_of(st.sampled_from(["", "x", "AAAA", "null", "%ff"]), st.text(max_size=40),
                           st.binary(max_size=40).map(lambda b: b.hex()))


@st.composite
def invalid_calls(draw, world_urls: tuple[str, str]) -> tuple[str, dict]:
    std, fifo = world_urls
    url = draw(st.sampled_from([std, fifo]))
    kind = draw(st.sampled_from(["send-body", "send-delay", "send-attrs", "send-fifo", "batch-ids", "batch-many",
                                 "batch-empty", "batch-entry-id", "batch-size", "set-attrs", "create-clash",
                                 "delete-handle", "visibility-handle", "delete-batch-handles", "tag-bad",
                                 "bad-url"]))
    good_body = draw(st.sampled_from(["fine", "also fine", "\u00e9"]))
    fifo_extra = {"MessageGroupId": "g"} if url == fifo else {}
    if kind == "send-body":
        return "send_message", {"QueueUrl": url, "MessageBody": draw(BAD_BODIES), **fifo_extra}
    if kind == "send-delay":
        return "send_message", {"QueueUrl": std, "MessageBody": good_body,
                                "DelaySeconds": draw(st.one_of(st.integers(901, 2 ** 31), st.integers(-(2 ** 31), -1)))}
    if kind == "send-attrs":
        return "send_message", {"QueueUrl": url, "MessageBody": good_body,
                                "MessageAttributes": draw(BAD_MESSAGE_ATTRIBUTES), **fifo_extra}
    if kind == "send-fifo":
        bad = draw(st.sampled_from(["no-group", "delay", "long-group", "bad-group-chars"]))
        params: dict[str, Any] = {"QueueUrl": fifo, "MessageBody": good_body, "MessageGroupId": "g"}
        if bad == "no-group":
            del params["MessageGroupId"]
        elif bad == "delay":
            params["DelaySeconds"] = 5
        elif bad == "long-group":
            params["MessageGroupId"] = "g" * 129
        else:
            params["MessageGroupId"] = "bad group \u00e9"
        return "send_message", params
    if kind.startswith("batch"):
        entries = [{"Id": f"e{i}", "MessageBody": good_body, **fifo_extra} for i in range(draw(st.integers(1, 5)))]
        if kind == "batch-ids":
            entries.append(dict(entries[0]))
        elif kind == "batch-many":
            entries = [{"Id": f"e{i}", "MessageBody": good_body, **fifo_extra} for i in range(11)]
        elif kind == "batch-empty":
            entries = []
        elif kind == "batch-entry-id":
            entries[0]["Id"] = draw(st.sampled_from(["", "bad id", "x" * 81, "\u00e9", "a.b"]))
        else:
            entries = [{"Id": f"e{i}", "MessageBody": "x" * (MiB // 2), **fifo_extra} for i in range(3)]
        return "send_message_batch", {"QueueUrl": url, "Entries": entries}
    if kind == "set-attrs":
        name = draw(st.sampled_from(sorted(BAD_ATTRIBUTE_VALUES)))
        value = draw(st.sampled_from(BAD_ATTRIBUTE_VALUES[name]))
        if name == "FifoQueue":
            value = "false" if url == fifo else "true"
        good = draw(st.dictionaries(st.sampled_from(sorted(GOOD_ATTRIBUTE_VALUES)),
                                    st.just(""), max_size=3))
        attrs = {k: GOOD_ATTRIBUTE_VALUES[k] for k in good}
        attrs[name] = value
        return "set_queue_attributes", {"QueueUrl": url, "Attributes": attrs}
    if kind == "create-clash":
        name = "std" if url == std else "q.fifo"
        attrs = {"VisibilityTimeout": draw(st.sampled_from(["0", "46", "600"]))}
        if url == fifo:
            attrs["FifoQueue"] = "true"
        return "create_queue", {"QueueName": name, "Attributes": attrs}
    if kind == "delete-handle":
        return "delete_message", {"QueueUrl": url, "ReceiptHandle": draw(FORGED_HANDLES)}
    if kind == "visibility-handle":
        return "change_message_visibility", {"QueueUrl": url, "ReceiptHandle": draw(FORGED_HANDLES),
                                             "VisibilityTimeout": draw(st.integers(0, 43200))}
    if kind == "delete-batch-handles":
        handles = draw(st.lists(FORGED_HANDLES, min_size=1, max_size=5))
        return "delete_message_batch", {"QueueUrl": url, "Entries": [
            {"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles)]}
    if kind == "tag-bad":
        tags = draw(st.sampled_from([{"": "x"}, {"aws:reserved": "x"}, {"k" * 129: "v"}, {"k": "v" * 257},
                                     {f"t{i}": "v" for i in range(51)}]))
        return "tag_queue", {"QueueUrl": url, "Tags": tags}
    bad_url = draw(st.sampled_from(["http://localhost/000000000000/nope", "http://localhost/111111111111/std",
                                    "", "not a url", "http://localhost/000000000000/"]))
    return "send_message", {"QueueUrl": bad_url, "MessageBody": good_body}


@given(data=st.data())
def test_invalid_calls_change_nothing(world, data) -> None:
    calls = data.draw(st.lists(invalid_calls((world.std, world.fifo)), min_size=1, max_size=4), label="calls")
    for op, params in calls:
        note(f"{op} {str(params)[:300]}")
        try:
            result = world.call(op, params)
        except ServiceError as e:
            assert 400 <= e.status < 500, repr(e)
        else:
            # batches report per-entry failures in a 200: then every entry must have failed
            assert op in ("send_message_batch", "delete_message_batch"), f"{op} succeeded: {result}"
            assert not result.get("Successful"), f"{op} partly succeeded: {result}"
        assert world.snapshot() == world.initial, f"{op} changed the queues"


def test_every_original_message_is_still_there_unchanged(world) -> None:
    for url in (world.std, world.fifo):
        bodies = []
        for _ in range(10):
            msgs = world.call("receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                                  "MessageAttributeNames": ["All"],
                                                  "VisibilityTimeout": 600}).get("Messages", [])
            if not msgs:
                break
            bodies += [m["Body"] for m in msgs]
        assert sorted(bodies) == sorted(BODIES), url
