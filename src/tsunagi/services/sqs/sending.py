"""Sending: SendMessage and SendMessageBatch, and the messages other services add inside their own
transaction (SNS fan-out: :meth:`Sending.enqueue_in`).

Each message is checked as AWS checks it (body characters, attributes, size, delay, FIFO group and
deduplication ids), then stored: a standard queue's messages in one INSERT, a FIFO queue's in one
transaction that deduplicates over the last five minutes and numbers them. Every message keeps the
journey (trace id) of the request that caused it, and the AWSTraceHeader its sender gave. A queue with
a KMS key or SQS-managed encryption gets its messages' bodies and attributes sealed (:mod:`.sealing`)
after they were checked.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ids import uuid4
from tsunagi.ports.cloudwatch import Counting
from tsunagi.ports.kms import DataKey
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.directory import QueueDirectory
from tsunagi.services.sqs.errors import (
    BatchRequestTooLong,
    InvalidParameterValue,
    ServiceError,
    invalid_value,
    missing,
    queue_does_not_exist,
)
from tsunagi.services.sqs.md5 import md5_hex, md5_of_attributes
from tsunagi.services.sqs.messages import attributes_size, check_attributes, check_batch, check_body
from tsunagi.services.sqs.sealing import Sealer, seal
from tsunagi.services.sqs.waiters import SCAN, SENT, Waiters
from tsunagi.store.base import IntegrityError, Store, Tx
from tsunagi.store.sqs import NOTIFY_CHANNEL, NewMessage, SqsRepo
from tsunagi.trace import root_of

DEDUP_WINDOW_MS = 5 * 60 * 1000
SEQ_BASE = 10**19            # SequenceNumbers are 20-digit strings

GROUP_RE = re.compile(r"^[!-~]{1,128}$")     # group, deduplication and receive attempt ids

_tuple_new = tuple.__new__


class Prepared(NamedTuple):
    """A checked message: the row to store, the response entry, its deduplication id (FIFO)."""

    row: NewMessage
    out: dict[str, Any]
    dedup: str | None


def _sealed(msg: Prepared, key: DataKey, q: Queue) -> Prepared:
    """``msg`` with its body and attributes encrypted under ``key`` (a queue with a KMS key)."""
    row = msg.row
    blob = seal(key, q.arn, row.message_id, row.body, row.attrs)
    return msg._replace(row=row._replace(body="", attrs=None, sealed=blob))


class Sending:
    def __init__(self, store: Store, repo: SqsRepo, directory: QueueDirectory, clock: Clock, waiters: Waiters,
                 sealer: Sealer) -> None:
        self.counters: Counting | None = None     # AWS/SQS metrics, when CloudWatch is served (set at start)
        self.store = store
        self.repo = repo
        self.directory = directory
        self.clock = clock
        self.waiters = waiters
        self.sealer = sealer

    def prepare(self, sender: str, trace_header: str | None, trace_id: str, q: Queue, entry: dict[str, Any],
                now: int, batch: bool = False) -> Prepared:
        """Validate one message from ``sender`` (its SenderId; ``trace_header``: the request's X-Ray
        header, the AWSTraceHeader when the message has none; ``trace_id``: the request's journey, the
        message's unless its own AWSTraceHeader names another). A queue with SQS-managed encryption
        gets the row sealed here under the SQS-owned key (call :meth:`Sealer.owned_ready` first); a queue
        with a KMS key gets it sealed after (:func:`_sealed`), once its data key is known."""
        body = entry.get("MessageBody")
        if body is None or body == "":
            raise missing("MessageBody")
        size = check_body(body)
        delay = entry.get("DelaySeconds")
        if delay is not None:
            try:
                delay = int(delay)
            except (TypeError, ValueError):
                raise invalid_value(delay, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900.") from None
            if not 0 <= delay <= 900:
                raise invalid_value(delay, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900.")
        attrs = entry.get("MessageAttributes")
        attrs_json = md5_attrs = None
        if attrs:
            attrs_json, md5_attrs = check_attributes(attrs)
            size += attributes_size(attrs)
        if size > q.max_size:
            raise InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter "
                                        f"than {q.max_size} bytes.")
        trace = md5_sys = None
        sys_attrs = entry.get("MessageSystemAttributes")
        if sys_attrs:
            check_attributes(sys_attrs, system=True)
            trace = sys_attrs["AWSTraceHeader"]["StringValue"]
            md5_sys = md5_of_attributes(sys_attrs)
            trace_id = root_of(trace) or trace_id
        elif trace_header:
            trace = trace_header
        group = entry.get("MessageGroupId")
        dedup = entry.get("MessageDeduplicationId")
        if q.fifo:
            if delay:
                raise invalid_value(delay, "DelaySeconds", "The request include parameter that is not valid for "
                                    "this queue type.")
            if not group:
                if batch:
                    raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
                raise missing("MessageGroupId")
            if not dedup:
                if not q.content_dedup:
                    raise InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled "
                                                "or MessageDeduplicationId provided explicitly")
                dedup = hashlib.sha256(body.encode("utf-8")).hexdigest()
            for pname, pvalue in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
                if len(pvalue) > 128 or not GROUP_RE.match(pvalue):
                    raise invalid_value(pvalue, pname, f"{pname} can only include alphanumeric and punctuation "
                                        "characters. 1 to 128 in length.")
        elif dedup:
            raise invalid_value(dedup, "MessageDeduplicationId", "The request includes a parameter that is not "
                                "valid for this queue type.")
        elif group is not None and (len(group) > 128 or not GROUP_RE.match(group)):
            raise invalid_value(group, "MessageGroupId", "MessageGroupId can only include alphanumeric and "
                                "punctuation characters. 1 to 128 in length.")
        message_id = uuid4()
        md5_body = md5_hex(body)
        visible_at = now + (q.delay_ms if delay is None else delay * 1000)
        # (tuple.__new__: the named tuples' own __new__ binds every field in Python, per message)
        if q.sse_sqs:
            row = _tuple_new(NewMessage, (message_id, "", md5_body, None, md5_attrs, trace, md5_sys, sender, now, now,
                                          visible_at, group, dedup if q.fifo else None, 1 if q.fifo else 0, trace_id,
                                          self.sealer.seal_owned(message_id, body, attrs_json)))
        else:
            row = _tuple_new(NewMessage, (message_id, body, md5_body, attrs_json, md5_attrs, trace, md5_sys, sender,
                                          now, now, visible_at, group, dedup if q.fifo else None, 1 if q.fifo else 0,
                                          trace_id, None))
        out: dict[str, Any] = {"MessageId": message_id, "MD5OfMessageBody": md5_body}
        if md5_attrs:
            out["MD5OfMessageAttributes"] = md5_attrs
        if md5_sys:
            out["MD5OfMessageSystemAttributes"] = md5_sys
        return _tuple_new(Prepared, (row, out, dedup))

    async def send_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("QueueUrl")
        q = self.directory.cached(ctx, url) or await self.directory.by_url(ctx, url)
        if q.sse_sqs and not self.sealer.owned_fresh():
            await self.sealer.owned_ready()
        now = self.clock.now_ms()
        msg = self.prepare(ctx.principal_id, ctx.trace_header, ctx.trace_id, q, params, now)
        if q.kms_key is not None:
            msg = _sealed(msg, await self.sealer.data_key(ctx, q), q)
        try:
            if q.fifo:
                await self._send_fifo(q, [msg], now)
            else:
                # a poll waiting here takes the message: the other servers need not hear of it (if that
                # poll fails to, the backstop of the polls elsewhere finds it)
                await self.repo.insert(q.id, msg.row, tell_others=not self.waiters.has(q.id))
        except IntegrityError:
            self.directory.forget(q.id)
            raise queue_does_not_exist() from None
        if not (q.fifo and self.directory.shared):     # (a shared store's notification wakes this server too)
            self.waiters.wake(q.id, SENT)
        if self.counters is not None:
            self.counters.count(q.sent_metric)
        return msg.out

    async def _send_fifo(self, q: Queue, items: list[Prepared], now: int) -> None:
        async with self.store.transaction() as tx:
            await self._send_fifo_in(tx, q, items, now)

    async def _send_fifo_in(self, tx: Tx, q: Queue, items: list[Prepared], now: int) -> None:
        """Deduplicate and insert FIFO messages in ``tx``; each one's response gets its SequenceNumber
        (and the original's MessageId when it is a duplicate)."""
        for row, out, dedup in items:
            assert dedup is not None
            scope = (row.group_id or "") if q.dedup_by_group else ""
            dup = await self.repo.claim_dedup(tx, q.id, scope, dedup, out["MessageId"], now, DEDUP_WINDOW_MS)
            if dup is not None:
                out["MessageId"] = dup[0]
                out["SequenceNumber"] = str(SEQ_BASE + dup[1])
                continue
            seq = await self.repo.insert_fifo(tx, q.id, row)
            await self.repo.set_dedup_seq(tx, q.id, scope, dedup, seq)
            out["SequenceNumber"] = str(SEQ_BASE + seq)

    # == messages added for other services (SNS fan-out) ======================================
    async def enqueue_in(self, tx: Tx, queue: Queue, body: str, attributes: dict[str, Any] | None = None, *,
                         trace_id: str, trace_header: str | None = None, group_id: str | None = None,
                         dedup_id: str | None = None, source_arn: str | None = None, sender_id: str | None = None,
                         defer: list[tuple[int, NewMessage]] | None = None) -> str | None:
        """Validate one message as SendMessage would and insert it inside the caller's transaction ``tx``
        (so it commits with the caller's change), in journey ``trace_id`` (its AWSTraceHeader is
        ``trace_header``, the header the cause's request carried, if any). Returns the message id (the
        original's when a FIFO deduplication id was seen in the last 5 minutes). Raises the ServiceError SendMessage would
        (too large, missing group id …). Long polls on every node wake once ``tx`` commits.
        ``source_arn`` is who sends (kept for queue-policy checks; not enforced yet). With ``defer``, a
        standard queue's row is added to that list instead, for :meth:`insert_deferred_in` to insert
        with the others (one statement for a whole fan-out); FIFO rows are always inserted at once."""
        entry: dict[str, Any] = {"MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if group_id is not None:
            entry["MessageGroupId"] = group_id
        if dedup_id is not None:
            entry["MessageDeduplicationId"] = dedup_id
        now = self.clock.now_ms()
        # (a KMS queue's data key was primed, the SQS-owned key read, when the queue was looked up)
        msg = self.prepare(sender_id or queue.account, trace_header, trace_id, queue, entry, now)
        if queue.kms_key is not None:
            msg = _sealed(msg, self.sealer.primed(queue), queue)
        if queue.fifo:
            await self._send_fifo_in(tx, queue, [msg], now)
        elif defer is not None:
            defer.append((queue.id, msg.row))
        else:
            await self.repo.insert_in(tx, queue.id, msg.row)
        tx.notify(NOTIFY_CHANNEL, str(queue.id))
        return str(msg.out["MessageId"])

    async def insert_deferred_in(self, tx: Tx, rows: list[tuple[int, NewMessage]]) -> None:
        """Insert the rows :meth:`enqueue_in` deferred, inside the same transaction ``tx``."""
        await self.repo.insert_rows_in(tx, rows)

    async def send_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("QueueUrl")
        q = self.directory.cached(ctx, url) or await self.directory.by_url(ctx, url)
        entries = check_batch(params.get("Entries"), "SendMessageBatchRequestEntry")
        sender = ctx.principal_id
        trace_id = ctx.trace_id
        total = 0
        for e in entries:
            body = e.get("MessageBody") or ""
            total += len(body.encode("utf-8", "surrogatepass")) + attributes_size(e.get("MessageAttributes"))
        if total > q.max_size:
            raise BatchRequestTooLong(f"Batch requests cannot be longer than {q.max_size} bytes. You have sent "
                                      f"{total} bytes.")
        if q.sse_sqs and not self.sealer.owned_fresh():
            await self.sealer.owned_ready()
        now = self.clock.now_ms()
        good: list[Prepared] = []
        failed: list[dict[str, Any]] = []
        for e in entries:
            try:
                msg = self.prepare(sender, ctx.trace_header, trace_id, q, e, now, batch=True)
            except ServiceError as err:
                if q.fifo and "MessageGroupId" in err.message and "must contain" in err.message:
                    raise
                if q.fifo and "ContentBasedDeduplication" in err.message:
                    raise
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                continue
            msg.out["Id"] = e["Id"]
            good.append(msg)
        if good and q.kms_key is not None:
            key = await self.sealer.data_key(ctx, q)
            good = [_sealed(g, key, q) for g in good]
        if good:
            try:
                if q.fifo:
                    await self._send_fifo(q, good, now)
                else:
                    await self.repo.insert_many(q.id, [g.row for g in good], tell_others=not self.waiters.has(q.id))
            except IntegrityError:
                self.directory.forget(q.id)
                raise queue_does_not_exist() from None
            if not (q.fifo and self.directory.shared):
                self.waiters.wake(q.id, SENT if len(good) == 1 else SCAN)
            if self.counters is not None:
                self.counters.count(q.sent_metric, len(good))
        result: dict[str, Any] = {"Successful": [g.out for g in good]}
        result["Failed"] = failed
        return result
