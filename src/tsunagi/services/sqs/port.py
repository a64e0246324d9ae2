"""SQS's port: what the rest of tsunagi may ask of SQS (:class:`tsunagi.ports.sqs.SqsPort`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from tsunagi.context import RequestContext
from tsunagi.ports.sqs import DeferredRows, MessageAttributeValue, QueueRef, ReceivedMessage, SentMessage
from tsunagi.store.base import Tx

if TYPE_CHECKING:
    from tsunagi.services.sqs.attributes import Queue
    from tsunagi.services.sqs.service import SqsService


class _Deferred(list[tuple[int, tuple[Any, ...]]]):
    """Standard-queue rows collected by ``enqueue_in`` for one INSERT."""


class SqsPortImpl:
    def __init__(self, service: SqsService) -> None:
        self._svc = service

    async def queue(self, arn: str) -> QueueRef | None:
        return await self._svc.lookup_queue(arn)

    async def send(self, ctx: RequestContext, queue_arn: str, body: str, *,
                   attributes: Mapping[str, MessageAttributeValue] | None = None, group_id: str | None = None,
                   dedup_id: str | None = None, delay_seconds: int | None = None) -> SentMessage:
        parts = queue_arn.split(":", 5)
        account, name = (parts[4], parts[5]) if len(parts) == 6 else (ctx.account, queue_arn)
        params: dict[str, Any] = {"QueueUrl": f"http://localhost/{account}/{name}", "MessageBody": body}
        if attributes:
            params["MessageAttributes"] = dict(attributes)
        if group_id is not None:
            params["MessageGroupId"] = group_id
        if dedup_id is not None:
            params["MessageDeduplicationId"] = dedup_id
        if delay_seconds is not None:
            params["DelaySeconds"] = delay_seconds
        out = await self._svc.send_message(ctx, params)
        return SentMessage(out["MessageId"], out["MD5OfMessageBody"], out.get("SequenceNumber"))

    def deferred(self) -> DeferredRows:
        return _Deferred()

    async def enqueue_in(self, tx: Tx, queue: QueueRef, body: str,
                         attributes: Mapping[str, MessageAttributeValue] | None = None, *, trace_id: str,
                         trace_header: str | None = None, group_id: str | None = None, dedup_id: str | None = None,
                         source_arn: str | None = None, sender_id: str | None = None,
                         defer: DeferredRows | None = None) -> None:
        await self._svc.enqueue_in(tx, cast("Queue", queue), body, dict(attributes) if attributes else None,
                                   trace_id=trace_id, trace_header=trace_header, group_id=group_id, dedup_id=dedup_id, source_arn=source_arn,
                                   sender_id=sender_id, defer=cast(_Deferred, defer) if defer is not None else None)

    async def flush_in(self, tx: Tx, rows: DeferredRows) -> None:
        deferred = cast(_Deferred, rows)
        if deferred:
            await self._svc.insert_deferred_in(tx, deferred)

    async def receive(self, queue: QueueRef, max_messages: int, wait_seconds: float,
                      stop: asyncio.Event | None = None) -> list[ReceivedMessage]:
        msgs = await self._svc.receive_internal(cast("Queue", queue), max_messages, wait_seconds, stop)
        return [ReceivedMessage(m["MessageId"], m["ReceiptHandle"], m["Body"], m["MD5OfBody"],
                                m.get("Attributes") or {}, m.get("MessageAttributes") or {},
                                m.get("MD5OfMessageAttributes"), trace_id) for m, trace_id in msgs]

    async def delete(self, queue: QueueRef, receipt_handles: Sequence[str]) -> int:
        return await self._svc.delete_internal(cast("Queue", queue), list(receipt_handles))

    def wake(self, queue: QueueRef) -> None:
        self._svc.wake_queue(queue.id)
