"""What a publish keeps between publishes (a topic's roster, a queue's policy verdict, the envelope
text) follows every change: a changed queue policy, a new or changed subscription."""

from __future__ import annotations

import json
from itertools import product
from typing import Any

from tsunagi.ports.cloudwatch import Counters
from tsunagi.ports.sns import SNS
from tsunagi.services.sns.envelope import Outgoing, sns_json

WARNING = "policy warning (--policies warn delivered it; enforce would drop it): "


def allow_topic(queue_arn: str, topic_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})


def test_a_queue_policy_set_or_removed_between_publishes_changes_the_next_record(sns: Any) -> None:
    async def body(h: Any) -> None:
        topic = await h.topic("orders")
        url = (await h.sqs_svc.create_queue(h.ctx(), {"QueueName": "q"}))["QueueUrl"]
        queue = (await h.sqs_svc.get_queue_attributes(h.ctx(), {"QueueUrl": url, "AttributeNames": ["QueueArn"]}))
        queue_arn = queue["Attributes"]["QueueArn"]
        sub = await h.subscribe(topic, "sqs", queue_arn)
        port = h.platform.ports.get(SNS)

        async def reason_of_next() -> str | None:
            message_id = await h.publish(h.ctx(), topic, "hello")
            [record] = await port.deliveries(message_id=message_id)
            assert record.target_arn == sub and record.outcome == "delivered"
            return record.reason

        first, again = await reason_of_next(), await reason_of_next()
        assert first is not None and first.startswith(WARNING + f"the queue {queue_arn} has no queue policy")
        assert again == first
        await h.sqs_svc.set_queue_attributes(h.ctx(), {"QueueUrl": url,
                                                       "Attributes": {"Policy": allow_topic(queue_arn, topic)}})
        assert await reason_of_next() is None
        await h.sqs_svc.set_queue_attributes(h.ctx(), {"QueueUrl": url, "Attributes": {"Policy": ""}})
        assert await reason_of_next() == first

    sns(body)


def test_a_subscription_added_or_made_raw_between_publishes_gets_the_next_message(sns: Any) -> None:
    async def body(h: Any) -> None:
        topic = await h.topic("orders")
        a, b = await h.queue("a"), await h.queue("b")
        await h.subscribe(topic, "sqs", a.arn)
        await h.publish(h.ctx(), topic, "one")
        sub_b = await h.subscribe(topic, "sqs", b.arn)
        await h.publish(h.ctx(), topic, "two")
        await h.svc.set_subscription_attributes(h.ctx(), {"SubscriptionArn": sub_b, "AttributeName":
                                                          "RawMessageDelivery", "AttributeValue": "true"})
        await h.publish(h.ctx(), topic, "three")
        got_a = [json.loads(m.body)["Message"] for m in await h.receive(a)]
        got_b = [m.body for m in await h.receive(b)]
        assert sorted(got_a) == ["one", "three", "two"]
        assert [json.loads(m)["Message"] for m in got_b if m.startswith("{")] == ["two"]    # enveloped
        assert [m for m in got_b if not m.startswith("{")] == ["three"]                     # raw

    sns(body)


class _Signer:
    cert_name = "cert.pem"

    def sign(self, doc: dict[str, Any], version: str) -> str:
        return f"sig-{version}-{len(json.dumps(doc))}"


def _outgoing(subject: str | None, sequence: str | None, unsigned: bool, attrs: dict[str, Any]) -> Outgoing:
    msg = Outgoing("m-1", "arn:aws:sns:us-east-1:000000000000:t", 'text "\\ \u2028 ü',
                   {"default": "d", "sqs": "for sqs\x01"}, subject, attrs, 1700000000123, "http://localhost:4566",
                   _Signer(), "1", unsigned=unsigned)  # type: ignore[arg-type]
    msg.sequence_number = sequence
    return msg


def test_the_notification_text_is_the_document_laid_out_as_sns_writes_it() -> None:
    attributes = {"s": {"DataType": "String", "StringValue": 'a "q"\n'},
                  "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
                  "n": {"DataType": "Number", "StringValue": "1.5"}}
    for subject, sequence, unsigned, attrs in product((None, 'Über "this"'), (None, "10000000000000000001"),
                                                      (False, True), ({}, attributes)):
        rendered = _outgoing(subject, sequence, unsigned, attrs)
        documented = _outgoing(subject, sequence, unsigned, attrs)
        for protocol in ("sqs", "http"):
            for sub in ("arn:aws:sns:us-east-1:000000000000:t:1", "arn:aws:sns:us-east-1:000000000000:t:2"):
                assert rendered.notification_json(protocol, sub) == sns_json(documented.notification(protocol, sub))


def test_counting_several_at_once_is_counting_them_one_by_one() -> None:
    one, many = Counters(lambda: 120.0), Counters(lambda: 120.0)
    for counters in (one, many):
        counters.add("1", "r", "AWS/SNS", "m", (("TopicName", "t"),), 0.5)
    for _ in range(3):
        one.add("1", "r", "AWS/SNS", "m", (("TopicName", "t"),))
    many.add_count("1", "r", "AWS/SNS", "m", (("TopicName", "t"),), 3)
    assert one.drain() == many.drain()
