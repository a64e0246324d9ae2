"""Publish and PublishBatch: to a topic, each entry validated (message, subject, structure, message
attributes, FIFO group and deduplication), then published in one transaction; to a phone number or a
platform endpoint, handed to :class:`DirectPublish` (``sms.py``, ``mobile.py``).

A publish is one transaction: the FIFO deduplication record and sequence number, the fan-out to
every subscription (:mod:`.fanout`: SQS messages in that same store, outbox rows for the rest) and
the delivery records. Once Publish answers 200, every matching subscription gets the message or its
dead-letter queue does, across crashes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from tsunagi.context import RequestContext
from tsunagi.ids import uuid7
from tsunagi.ports.cloudwatch import COUNTERS, Counters
from tsunagi.services.base import Platform
from tsunagi.services.sns.attributes import Subscription, Topic
from tsunagi.services.sns.catalog import Catalog
from tsunagi.services.sns.envelope import Outgoing, base_url
from tsunagi.services.sns.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameterValue,
    ServiceError,
    TooManyEntriesInBatchRequest,
    invalid,
)
from tsunagi.services.sns.fanout import Fanout
from tsunagi.services.sns.keys import SigningKeys
from tsunagi.services.sns.sealing import TopicSealer
from tsunagi.store.deliveries import DEAD_LETTERED, DELIVERED, DENIED, FAILED, FILTERED, Delivery, Outcome
from tsunagi.store.sns import SnsRepo

MAX_MESSAGE_BYTES = 262_144
DEDUP_WINDOW_MS = 5 * 60 * 1000
SEQ_BASE = 10**19
MAX_BATCH = 10

APP_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:endpoint/.+$")
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_GROUP = re.compile(r"^[!-~]{1,128}$")


@dataclass(slots=True)
class Entry:
    """A validated message to publish."""

    message: str
    per_protocol: dict[str, str] | None
    subject: str | None
    attributes: dict[str, dict[str, Any]]
    group_id: str | None
    dedup_id: str | None
    id: str | None = None        # PublishBatch entry id


def message_attributes(given: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Publish's MessageAttributes checked as AWS checks them, in the form the fan-out uses."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in given.items():
        if not _ATTR_NAME.match(name) or name.startswith((".", "AWS.", "Amazon.")) or name.endswith(".") \
                or ".." in name:
            raise InvalidParameterValue(f"The message attribute name '{name}' is invalid.")
        dtype = (attr or {}).get("DataType")
        if not dtype:
            raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                        "attribute type.")
        base, dot, label = dtype.partition(".")
        if base not in ("String", "Number", "Binary") or (dot and not label):     # "String." names no type
            raise InvalidParameterValue(f"The message attribute '{name}' has an invalid message attribute "
                                        "type, the set of supported type prefixes is Binary, Number, and "
                                        "String.")
        if base == "Binary":
            value = attr.get("BinaryValue")
            if value is None or len(value) == 0:
                raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                            f"attribute value for message attribute type '{dtype}'.")
            out[name] = {"DataType": dtype, "BinaryValue": bytes(value)}
            continue
        value = attr.get("StringValue")
        if value is None or value == "":
            raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                        f"attribute value for message attribute type '{dtype}'.")
        if base == "Number":
            try:
                float(value)
            except ValueError:
                raise InvalidParameterValue(f"An invalid or out-of-range value '{value}' was supplied for "
                                            f"the message attribute '{name}'.") from None
        if dtype == "String.Array":
            try:
                arr = orjson.loads(value)
            except orjson.JSONDecodeError:
                arr = None
            if not isinstance(arr, list) or any(isinstance(x, dict | list) for x in arr):
                raise InvalidParameterValue(f"The message attribute '{name}' with type 'String.Array' has "
                                            "an invalid value.")
        out[name] = {"DataType": dtype, "StringValue": value}
    return out


def message_parts(params: dict[str, Any]) -> tuple[str, str | None, dict[str, str] | None]:
    """A publish's Message, Subject and (with MessageStructure=json) its texts by protocol or platform,
    checked as AWS checks them, whatever it is published to; AWS's error otherwise."""
    message = params.get("Message")
    if message is None:
        raise invalid("Message")
    if message == "":
        raise invalid("Empty message")
    subject = params.get("Subject")
    if subject is not None and (subject == "" or len(subject) > 100
                                or any(not (32 <= ord(c) < 127) for c in subject)):
        raise invalid("Subject")
    per: dict[str, str] | None = None
    structure = params.get("MessageStructure")
    if structure is not None:
        if structure != "json":
            raise invalid("MessageStructure")
        try:
            doc = orjson.loads(message)
        except orjson.JSONDecodeError:
            raise invalid("Message Structure - JSON message body failed to parse") from None
        if not isinstance(doc, dict) or "default" not in doc:
            raise invalid("Message Structure - No default entry in JSON message body")
        per = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in doc.items()}
    return message, subject, per


def entry_of(topic: Topic, params: dict[str, Any], entry_id: str | None = None) -> Entry:
    """One message to publish on ``topic`` (Publish's params, or a PublishBatch entry), or AWS's error."""
    message, subject, per_protocol = message_parts(params)
    attributes = message_attributes(params.get("MessageAttributes") or {})
    size = len(message.encode("utf-8", "surrogatepass"))
    for name, attr in attributes.items():
        size += len(name.encode()) + len(attr["DataType"].encode())
        value = attr.get("StringValue")
        size += len(value.encode("utf-8", "surrogatepass")) if value is not None else len(
            attr.get("BinaryValue") or b"")
    if size > MAX_MESSAGE_BYTES:
        raise invalid("Message too long")
    group = params.get("MessageGroupId")
    dedup = params.get("MessageDeduplicationId")
    if topic.fifo:
        if not group:
            raise invalid("The MessageGroupId parameter is required for FIFO topics")
        if not _GROUP.match(group):
            raise invalid("MessageGroupId Reason: The MessageGroupId can contain up to 128 alphanumeric "
                          "characters (a-z, A-Z, 0-9) and punctuation")
        if dedup:
            if not _GROUP.match(dedup):
                raise invalid("MessageDeduplicationId Reason: The MessageDeduplicationId can contain up to "
                              "128 alphanumeric characters (a-z, A-Z, 0-9) and punctuation")
        elif topic.content_dedup:
            dedup = hashlib.sha256(message.encode("utf-8", "surrogatepass")).hexdigest()
        else:
            raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                          "MessageDeduplicationId provided explicitly")
    else:
        if dedup:
            raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
                          "parameter that is not valid for this topic type")
        group = None
    return Entry(message, per_protocol, subject, attributes, group, dedup, entry_id)


class DirectPublish(Protocol):
    """Publish to a phone number or a platform endpoint (no topic): set by the service."""

    async def publish_sms(self, ctx: RequestContext, phone: str, params: dict[str, Any]) -> dict[str, Any]: ...

    async def publish_to_endpoint(self, ctx: RequestContext, target_arn: str,
                                  params: dict[str, Any]) -> dict[str, Any]: ...


class Publishing:
    direct: DirectPublish | None = None

    def __init__(self, platform: Platform, repo: SnsRepo, catalog: Catalog, keys: SigningKeys,
                 fanout: Fanout, sealer: TopicSealer) -> None:
        self.platform = platform
        self.sealer = sealer
        self.store = platform.store
        self.clock = platform.clock
        self.repo = repo
        self.catalog = catalog
        self.keys = keys
        self.fanout = fanout

    async def publish(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = params.get("PhoneNumber")
        topic_arn = params.get("TopicArn")
        target_arn = params.get("TargetArn")
        given = [x for x in (topic_arn, target_arn, phone) if x]
        if not given:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        if len(given) > 1:
            raise invalid("TopicArn or TargetArn or PhoneNumber Reason: Only one of them may be specified")
        if phone:                                   # SMS attributes, opt-outs, the sandbox (sms.py)
            return await self._direct().publish_sms(ctx, phone, params)
        if target_arn:
            if APP_ARN.match(target_arn):           # a platform endpoint (mobile.py)
                return await self._direct().publish_to_endpoint(ctx, target_arn, params)
            topic_arn = target_arn
        topic, subs = await self.catalog.topic(topic_arn, "TopicArn" if params.get("TopicArn") else "TargetArn")
        entry = entry_of(topic, params)
        results = await self.publish_entries(ctx, topic, subs, [entry])
        return results[0]

    def _direct(self) -> DirectPublish:
        if self.direct is None:
            raise RuntimeError("the SNS service sets Publishing.direct when it starts")
        return self.direct

    async def publish_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic, subs = await self.catalog.topic(params.get("TopicArn"))
        entries = list(params.get("PublishBatchRequestEntries") or [])
        if not entries:
            raise EmptyBatchRequest("The batch request doesn't contain any entries")
        if len(entries) > MAX_BATCH:
            raise TooManyEntriesInBatchRequest("The batch request contains more entries than permissible")
        seen: set[str] = set()
        total = 0
        for e in entries:
            entry_id = e.get("Id")
            if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
                raise InvalidBatchEntryId("The Id of a batch entry in a batch request doesn't abide by the "
                                          "specification.")
            if entry_id in seen:
                raise BatchEntryIdsNotDistinct("Two or more batch entries in the request have the same Id.")
            seen.add(entry_id)
            total += len((e.get("Message") or "").encode("utf-8", "surrogatepass"))
        if total > MAX_MESSAGE_BYTES:
            raise BatchRequestTooLong("The length of all the messages put together is more than the limit.")
        if topic.fifo and any(not e.get("MessageGroupId") for e in entries):
            # AWS fails the whole request here, not the entry
            raise invalid("The MessageGroupId parameter is required for FIFO topics")
        good: list[Entry] = []
        failed: list[dict[str, Any]] = []
        for e in entries:
            try:
                good.append(entry_of(topic, e, e["Id"]))
            except ServiceError as err:
                failed.append({"Id": e["Id"], "Code": err.code, "Message": err.message, "SenderFault": True})
        successful: list[dict[str, Any]] = []
        if good:
            published = await self.publish_entries(ctx, topic, subs, good)
            for entry, out in zip(good, published, strict=True):
                successful.append({"Id": entry.id, **out})
        return {"Successful": successful, "Failed": failed}

    async def publish_entries(self, ctx: RequestContext, topic: Topic, subs: list[Subscription],
                              entries: list[Entry]) -> list[dict[str, Any]]:
        """Publish validated entries to ``topic``'s subscriptions ``subs`` in one transaction, in ``ctx``'s
        journey; returns each entry's result. An encrypted topic's data key is asked for first: a key KMS
        will not use fails the publish before anything is written."""
        data_key = await self.sealer.data_key(ctx, topic) if topic.attributes.get("KmsMasterKeyId") else None
        signer = await self.keys.signer_now()
        base = base_url(ctx, self.platform.config)
        now = self.clock.now_ms()
        version = topic.signature_version
        display = topic.attributes.get("DisplayName", "")
        msgs = [Outgoing(uuid7(), topic.arn, e.message, e.per_protocol, e.subject, e.attributes, now, base, signer,
                         version, e.group_id, e.dedup_id, display_name=display, unsigned=topic.fifo)
                for e in entries]
        run = self.fanout.begin(topic, ctx.trace_id, now, ctx.trace_header, data_key)
        plans = await self.fanout.plan(run, msgs, subs)
        results: list[dict[str, Any]] = []
        async with self.store.transaction() as tx:
            last_seq = await self.repo.next_seq(tx, topic.arn, len(msgs)) if topic.fifo else 0
            for i, (msg, steps) in enumerate(zip(msgs, plans, strict=True)):
                out: dict[str, Any] = {"MessageId": msg.message_id}
                if topic.fifo:
                    seq = str(SEQ_BASE + last_seq - len(msgs) + 1 + i)
                    assert msg.dedup_id is not None
                    dup = await self.repo.claim_dedup(tx, topic.arn, msg.dedup_id, msg.message_id, seq, now,
                                                      DEDUP_WINDOW_MS)
                    if dup is not None:
                        out["MessageId"], out["SequenceNumber"] = dup.message_id, dup.seq
                        results.append(out)
                        continue
                    msg.sequence_number = out["SequenceNumber"] = seq   # steps build envelopes when applied
                await run.apply_in(tx, msg, steps)
                results.append(out)
            await run.finish_in(tx)
        run.log_filtered()
        counters = self.platform.ports.find(COUNTERS)
        if counters is not None:
            count_fanout(counters, topic.account, topic.region, topic.arn, len(msgs), run.records)
        return results


_FANOUT_METRIC = {DELIVERED: "NumberOfNotificationsDelivered", FILTERED: "NumberOfNotificationsFilteredOut",
                  FAILED: "NumberOfNotificationsFailed", DENIED: "NumberOfNotificationsFailed",
                  DEAD_LETTERED: "NumberOfNotificationsFailed"}
_DIMS_MAX = 10_000
_dims: dict[str, tuple[tuple[str, str], ...]] = {}     # topic ARN -> its metrics' dimensions


def count_fanout(counters: Counters, account: str, region: str, topic_arn: str, published: int,
                 records: Sequence[tuple[Delivery, Sequence[Outcome]]]) -> None:
    """AWS/SNS metrics of one publish: the messages, and the notifications whose outcome is known at
    once (queued ones are counted when the outbox finishes them)."""
    dims = _dims.get(topic_arn)
    if dims is None:
        if len(_dims) >= _DIMS_MAX:
            _dims.clear()
        dims = _dims[topic_arn] = (("TopicName", topic_arn.rsplit(":", 1)[-1]),)
    counters.add(account, region, "AWS/SNS", "NumberOfMessagesPublished", dims, float(published))
    delivered = 0
    tally: dict[str, int] | None = None
    for _, outcomes in records:
        for o in outcomes:
            outcome = o[2]
            if outcome == DELIVERED:            # (nearly every notification a publish counts at once)
                delivered += 1
                continue
            name = _FANOUT_METRIC.get(outcome)
            if name is not None:
                if tally is None:
                    tally = {}
                tally[name] = tally.get(name, 0) + 1
    if delivered:
        counters.add_count(account, region, "AWS/SNS", "NumberOfNotificationsDelivered", dims, delivered)
    if tally is not None:
        for name, n in tally.items():
            counters.add_count(account, region, "AWS/SNS", name, dims, n)
