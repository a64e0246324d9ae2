"""What the rest of tsunagi may ask of SQS (implemented by ``services/sqs/port.py``).

Callers: SNS fan-out (``enqueue_in``, inside the publish transaction), the outbox's ``sqs`` deliveries
(S3 notifications, function destinations and dead-letter queues: ``send``), event source mapping
pollers (``receive``, ``delete``, ``wake``), and checks that a queue exists (``queue``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypedDict

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.store.base import Tx


class MessageAttributeValue(TypedDict, total=False):
    DataType: str
    StringValue: str
    BinaryValue: bytes


class QueueRef(Protocol):
    """A queue as another service sees it (read-only; pass it back to the port's calls)."""

    @property
    def id(self) -> int: ...
    @property
    def arn(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def fifo(self) -> bool: ...
    @property
    def visibility(self) -> int:
        """The queue's VisibilityTimeout in seconds."""
        ...
    @property
    def attributes(self) -> Mapping[str, str]:
        """The queue's stored attributes (Policy, KmsMasterKeyId, RedrivePolicy, …)."""
        ...


class SentMessage(NamedTuple):
    message_id: str
    md5_of_body: str
    sequence_number: str | None = None


class ReceivedMessage(NamedTuple):
    """A message received for an event source mapping: every system and message attribute."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: Mapping[str, str]                            # system attributes (All)
    message_attributes: Mapping[str, MessageAttributeValue]
    md5_of_message_attributes: str | None
    trace_id: str                                            # the journey the message belongs to


class DeferredRows(Protocol):
    """Opaque: rows :meth:`SqsPort.enqueue_in` collected to insert together (:meth:`SqsPort.flush_in`)."""

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class QueueGauge:
    """A queue's depths at one moment (the AWS/SQS gauges CloudWatch samples once a minute)."""

    account: str
    region: str
    name: str
    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: float         # ApproximateAgeOfOldestMessage; 0 when the queue is empty


class SqsPort(Protocol):
    async def queue(self, arn: str) -> QueueRef | None:
        """The queue an ARN names (cached like every lookup), or None."""
        ...

    async def gauges(self) -> list[QueueGauge]:
        """Every queue's depths now (all accounts and regions)."""
        ...

    async def send(self, ctx: RequestContext, queue_arn: str, body: str, *,
                   attributes: Mapping[str, MessageAttributeValue] | None = None, group_id: str | None = None,
                   dedup_id: str | None = None, delay_seconds: int | None = None) -> SentMessage:
        """SendMessage to the queue ``queue_arn`` names, as ``ctx``'s principal, in ``ctx``'s journey
        (``ctx.trace_id``; ``ctx.trace_header``, when set, becomes the message's AWSTraceHeader), with the
        validation, errors and the queue's policy of SendMessage."""
        ...

    def deferred(self) -> DeferredRows:
        """A collector for :meth:`enqueue_in`'s standard-queue rows (one INSERT for a whole fan-out)."""
        ...

    async def enqueue_in(self, tx: Tx, queue: QueueRef, body: str,
                         attributes: Mapping[str, MessageAttributeValue] | None = None, *, trace_id: str,
                         trace_header: str | None = None, group_id: str | None = None, dedup_id: str | None = None,
                         source_arn: str | None = None, sender_id: str | None = None,
                         defer: DeferredRows | None = None) -> None:
        """Add a message inside the caller's transaction (SNS fan-out commits its deliveries with the
        publish), in journey ``trace_id`` (:attr:`ReceivedMessage.trace_id`). ``trace_header`` is the
        ``X-Amzn-Trace-Id`` the cause's request carried, if any: the message's ``AWSTraceHeader``, as
        AWS passes a traced publisher's header on to the queue. Raises the ServiceError SendMessage would for a message the queue refuses. With
        ``defer``, a standard queue's row is collected there instead, for :meth:`flush_in`."""
        ...

    async def flush_in(self, tx: Tx, rows: DeferredRows) -> None:
        """Insert the rows ``enqueue_in`` collected, in ``tx``."""
        ...

    async def receive(self, queue: QueueRef, max_messages: int, wait_seconds: float,
                      stop: asyncio.Event | None = None) -> list[ReceivedMessage]:
        """ReceiveMessage for a poller: up to ``max_messages`` with the queue's visibility timeout and every
        attribute, long polling up to ``wait_seconds`` unless ``stop`` is set (call :meth:`wake` after
        setting it). Redrive to the dead-letter queue happens here as for any receive."""
        ...

    async def delete(self, queue: QueueRef, receipt_handles: Sequence[str]) -> int:
        """Delete received messages; returns how many could not be (a FIFO handle whose visibility ran out)."""
        ...

    def wake(self, queue: QueueRef) -> None:
        """Wake this node's long polls of ``queue`` (a poller that set its ``stop`` returns at once)."""
        ...

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        """The queue ``arn`` names, its owner and its policy (the gateway's authorize step), or None."""
        ...


SQS: PortKey[SqsPort] = PortKey("sqs")
