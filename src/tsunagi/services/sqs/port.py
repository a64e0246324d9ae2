"""SQS's port (:class:`tsunagi.ports.sqs.SqsPort`): what the rest of tsunagi may ask of SQS, served by
the same parts the API's operations use."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

from tsunagi.context import RequestContext
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.ports.sqs import (
    DeferredRows,
    MessageAttributeValue,
    QueueGauge,
    QueueRef,
    ReceivedMessage,
    SentMessage,
)
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.directory import QueueDirectory
from tsunagi.services.sqs.receiving import Receiving
from tsunagi.services.sqs.sealing import Sealer
from tsunagi.services.sqs.sending import Sending
from tsunagi.store.base import Tx
from tsunagi.store.sqs import NewMessage


class _Deferred(list[tuple[int, NewMessage]]):
    """Standard-queue rows collected by ``enqueue_in`` for one INSERT."""


class SqsPortImpl:
    def __init__(self, directory: QueueDirectory, sending: Sending, receiving: Receiving, sealer: Sealer) -> None:
        self._directory = directory
        self._sending = sending
        self._receiving = receiving
        self._sealer = sealer

    async def gauges(self) -> list[QueueGauge]:
        repo = self._directory.repo
        now = self._sending.clock.now_ms()
        out = []
        for row in await repo.all_queues():
            q = await self._directory.by_arn(row.arn)
            if q is None:
                continue
            retain_after = now - q.retention_ms
            visible, in_flight, delayed = await repo.counts(q.id, now, retain_after)
            oldest = await repo.oldest(q.id, retain_after) if visible + in_flight + delayed else None
            out.append(QueueGauge(q.account, q.region, q.name, visible, in_flight, delayed,
                                  max(0.0, (now - oldest) / 1000) if oldest is not None else 0.0))
        return out

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        q = await self._directory.by_arn(arn)
        if q is None:
            return None
        return ResourcePolicy(q.arn, q.account, q.attributes.get("Policy") or None)

    async def queue(self, arn: str) -> QueueRef | None:
        q = await self._directory.by_arn(arn)
        if q is not None:                       # enqueue_in, inside a transaction, cannot ask KMS or the store
            if q.kms_key is not None:
                await self._sealer.prime(q)
            elif q.sse_sqs and not self._sealer.owned_fresh():
                await self._sealer.owned_ready()
        return q

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
        out = await self._sending.send_message(ctx, params)
        return SentMessage(out["MessageId"], out["MD5OfMessageBody"], out.get("SequenceNumber"))

    def deferred(self) -> DeferredRows:
        return _Deferred()

    async def enqueue_in(self, tx: Tx, queue: QueueRef, body: str,
                         attributes: Mapping[str, MessageAttributeValue] | None = None, *, trace_id: str,
                         trace_header: str | None = None, group_id: str | None = None, dedup_id: str | None = None,
                         source_arn: str | None = None, sender_id: str | None = None,
                         defer: DeferredRows | None = None) -> None:
        await self._sending.enqueue_in(tx, cast(Queue, queue), body, dict(attributes) if attributes else None,
                                       trace_id=trace_id, trace_header=trace_header, group_id=group_id,
                                       dedup_id=dedup_id, source_arn=source_arn, sender_id=sender_id,
                                       defer=cast(_Deferred, defer) if defer is not None else None)

    async def flush_in(self, tx: Tx, rows: DeferredRows) -> None:
        deferred = cast(_Deferred, rows)
        if deferred:
            await self._sending.insert_deferred_in(tx, deferred)

    async def receive(self, queue: QueueRef, max_messages: int, wait_seconds: float,
                      stop: asyncio.Event | None = None) -> list[ReceivedMessage]:
        return await self._receiving.receive_for_poller(cast(Queue, queue), max_messages, wait_seconds, stop)

    async def delete(self, queue: QueueRef, receipt_handles: Sequence[str]) -> int:
        return await self._receiving.delete_for_poller(cast(Queue, queue), list(receipt_handles))

    def wake(self, queue: QueueRef) -> None:
        self._receiving.waiters.wake_all(queue.id)     # the poller that was told to stop is among them
