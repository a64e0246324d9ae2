"""Receiving and what follows it: ReceiveMessage (long polls, FIFO groups and receive attempts,
redrive to the dead-letter queue, retention), DeleteMessage(Batch) and ChangeMessageVisibility(Batch),
and the same for event source mapping pollers through the port.

A receive claims messages in one statement (the store's ``claim``); a long poll waits on this
server's :class:`~.waiters.Waiters`, woken by sends here and by the store's notifications from other
servers, and looks again at least when the next hidden message turns visible.
"""

from __future__ import annotations

import asyncio
import binascii
import random
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ports.cloudwatch import Counting
from tsunagi.ports.sqs import ReceivedMessage
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.directory import QueueDirectory
from tsunagi.services.sqs.errors import (
    ReceiptHandleIsInvalid,
    ServiceError,
    int_param,
    invalid_value,
    missing,
    queue_does_not_exist,
)
from tsunagi.services.sqs.md5 import md5_of_attributes
from tsunagi.services.sqs.messages import (
    check_batch,
    load_attributes,
    make_handle,
    parse_handle,
    select_attributes,
)
from tsunagi.services.sqs.sealing import Sealer
from tsunagi.services.sqs.sending import DEDUP_WINDOW_MS, GROUP_RE, SEQ_BASE
from tsunagi.services.sqs.waiters import SCAN, SENT, Waiters
from tsunagi.store.base import Store
from tsunagi.store.sqs import NOTIFY_CHANNEL, MessageRow, SqsRepo

MAX_VISIBILITY_S = 43_200
PG_POLL_BACKSTOP_S = 1.0

_ALL_SYSTEM = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
               "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
               "DeadLetterQueueSourceArn")
_EVERYTHING = frozenset({"All"})
_tuple_new = tuple.__new__
_b2a = binascii.b2a_base64


class Receiving:
    def __init__(self, store: Store, repo: SqsRepo, directory: QueueDirectory, clock: Clock, waiters: Waiters,
                 sealer: Sealer) -> None:
        self.counters: Counting | None = None     # AWS/SQS metrics, when CloudWatch is served (set at start)
        self.store = store
        self.repo = repo
        self.directory = directory
        self.clock = clock
        self.waiters = waiters
        self.shared = directory.shared
        self.sealer = sealer

    async def receive_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("QueueUrl")
        q = self.directory.cached(ctx, url) or await self.directory.by_url(ctx, url)
        n = int_param(params, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided.") or 1
        vt = int_param(params, "VisibilityTimeout", 0, MAX_VISIBILITY_S,
                        "Must be >= 0 and <= 43200, if provided.")
        wait = int_param(params, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided.")
        if wait is None:
            wait = q.wait
        attempt = params.get("ReceiveRequestAttemptId") if q.fifo else None
        if attempt is not None and (len(attempt) > 128 or not GROUP_RE.match(attempt)):
            raise invalid_value(attempt, "ReceiveRequestAttemptId", "ReceiveRequestAttemptId can only include "
                                "alphanumeric and punctuation characters. 1 to 128 in length.")
        sys_names = set(params.get("AttributeNames") or ()) | set(params.get("MessageSystemAttributeNames") or ())
        attr_names = list(params.get("MessageAttributeNames") or ())
        visibility = q.visibility if vt is None else vt

        if wait > 0 and not self.waiters.closed:
            # the poll registers before its first look (a send in between wakes it), so it looks once
            rows, receipt = await self._long_poll(q, n, vt, attempt, wait)
        else:
            rows, receipt = await self._receive_once(q, n, visibility, attempt)
        if not rows:
            return {"Messages": []}     # AWS's JSON answer; the query protocol writes <ReceiveMessageResult/>
        messages = await self._members(ctx, q, rows, receipt, sys_names, attr_names)
        if self.counters is not None:
            self.counters.count(q.received_metric, len(messages))
        return {"Messages": messages}

    async def _members(self, ctx: RequestContext, q: Queue, rows: list[MessageRow], receipt: int,
                       sys_names: set[str], attr_names: list[str]) -> list[dict[str, Any]]:
        """ReceiveMessage's ``Messages``: each claimed row opened (:meth:`_opened`'s rules, its error
        included) and made the answer's member in one pass, without a row rebuilt in between."""
        out = []
        sealer = self.sealer
        open_now = sealer.open_owned_now
        b2a = _b2a
        head = f"{q.id}:"           # a receipt handle: queue id, row id, receive nonce, message id
        nonce = f":{receipt}:"
        extras = self._extras
        try:
            for r in rows:
                message_id = r.message_id
                blob = r.sealed
                if blob is None:
                    body, attrs = r.body, r.attrs
                else:
                    body, attrs = open_now(message_id, blob) or await sealer.open(ctx, q, message_id, blob)
                msg = {"MessageId": message_id,
                       "ReceiptHandle": b2a(f"{head}{r.id}{nonce}{message_id}".encode("ascii"),
                                            newline=False).decode("ascii"),
                       "MD5OfBody": r.md5_body, "Body": body}
                if sys_names or (attrs and attr_names):
                    extras(msg, r, attrs, sys_names, attr_names)
                out.append(msg)
        except ServiceError:
            await self._unclaim(q, rows, receipt)
            raise
        return out

    async def _opened(self, ctx: RequestContext | None, q: Queue, rows: list[MessageRow],
                      receipt: int) -> list[MessageRow]:
        """``rows`` with the bodies and attributes of sealed messages (a queue with a KMS key) decrypted.
        When KMS will not decrypt one (its key disabled, pending deletion, not allowed), the claimed
        messages are made visible again, as they were, and SQS's KMS.* error is raised."""
        out = []
        sealer = self.sealer
        try:
            for r in rows:
                blob = r.sealed
                if blob is not None:
                    # the SQS-owned key, loaded: opened at once; else (a KMS data key) through KMS's cache
                    opened = sealer.open_owned_now(r.message_id, blob) or \
                        await sealer.open(ctx, q, r.message_id, blob)
                    # (tuple.__new__: MessageRow's own __new__ binds 21 arguments in Python)
                    r = _tuple_new(MessageRow, (r[0], r[1], opened[0], r[3], opened[1], *r[5:]))
                out.append(r)
        except ServiceError:
            await self._unclaim(q, rows, receipt)
            raise
        return out

    async def _unclaim(self, q: Queue, rows: list[MessageRow], receipt: int) -> None:
        """Make claimed messages visible again, as they were (their messages could not be opened)."""
        now = self.clock.now_ms()
        async with self.store.transaction() as tx:
            for r in rows:
                await self.repo.set_visibility(tx, r.id, receipt, now)
            self.repo.notify(tx, q.id)
        self._wake(q.id)

    async def _long_poll(self, q: Queue, n: int, visibility: int | None, attempt: str | None,
                         wait: float, stop: asyncio.Event | None = None) -> tuple[list[MessageRow], int]:
        """Wait up to ``wait`` seconds for messages. ``visibility`` None: the queue's visibility timeout
        as it is when a message is claimed (SetQueueAttributes during the wait applies, as on AWS)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        waiters = self.waiters
        why = SENT            # what woke the poll last (a fresh poll: nothing to chain)
        while not waiters.closed and not (stop is not None and stop.is_set()):
            if q.id in self.waiters.deleted:
                # deleted while this poll waited: answered at once (current() raises QueueDoesNotExist);
                # a queue made since under a reused id carries on
                now = await self.directory.current(q)
                if now.arn != q.arn:
                    raise queue_does_not_exist()
                q = now
                self.waiters.deleted.discard(q.id)
            fut = waiters.register(q.id)
            clean = False           # False: leaving on an error, a wake it got goes on to the next poll
            try:
                if self.shared:
                    await self.store.want(NOTIFY_CHANNEL, str(q.id))   # other servers' sends reach this one
                if visibility is None:
                    q = await self.directory.by_arn(q.arn) or q     # cached; forgotten when the queue changes
                # "hidden" is judged as of before the attempt: a message that turns visible while the
                # attempt runs (after it looked) must still set the wake-up, or the poll would sleep
                # to its end beside a visible message
                before = self.clock.now_ms()
                rows, receipt, nxt = await self._look(q, n, q.visibility if visibility is None else visibility,
                                                      attempt, before)
                clean = True
                if rows:
                    if why == SCAN and len(rows) >= n:
                        waiters.wake(q.id, SCAN)    # a full batch after a scan: there may be more
                    return rows, receipt
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                clean = False
                if nxt is not None:       # one timer per queue wakes one poll then
                    waiters.due(q.id, (nxt - self.clock.now_ms()) / 1000.0)
                why = await waiters.wait(fut, remaining)
                clean = True
            finally:
                waiters.discard(q.id, fut, pass_on=not clean)
        return [], 0

    async def _look(self, q: Queue, n: int, visibility: int, attempt: str | None,
                    before: int) -> tuple[list[MessageRow], int, int | None]:
        """A long poll's look: (rows, receive nonce, when the next message hidden as of ``before``
        turns visible if nothing was claimed); a standard queue without redrive in one statement."""
        if q.fifo or q.redrive is not None:
            rows, receipt = await self._receive_once(q, n, visibility, attempt)
            return rows, receipt, (None if rows else await self.repo.next_visible(q.id, before))
        now = self.clock.now_ms()
        receipt = random.getrandbits(48) or 1
        rows, nxt = await self.repo.claim_or_next(q.id, now, now + visibility * 1000, receipt, n, before)
        retain_after = now - q.retention_ms
        expired = [r.id for r in rows if r.retain_from <= retain_after]
        if expired:
            await self.repo.delete_ids(self.store, expired)
            rows = [r for r in rows if r.retain_from > retain_after]
            if not rows:
                nxt = await self.repo.next_visible(q.id, before)
        return rows, receipt, nxt

    async def _receive_once(self, q: Queue, n: int, visibility: int,
                            attempt: str | None) -> tuple[list[MessageRow], int]:
        """Claim up to ``n`` messages; returns (rows, receive nonce)."""
        now = self.clock.now_ms()
        receipt = random.getrandbits(48) or 1
        visible_at = now + visibility * 1000
        retain_after = now - q.retention_ms
        dlq = await self.directory.by_arn(q.redrive.dlq_arn) if q.redrive else None
        if not q.fifo and dlq is None:
            rows = await self.repo.claim(self.store, q.id, now, visible_at, receipt, n)
            expired = [r.id for r in rows if r.retain_from <= retain_after]
            if expired:
                await self.repo.delete_ids(self.store, expired)
                rows = [r for r in rows if r.retain_from > retain_after]
            return rows, receipt
        async with self.store.transaction() as tx:
            if q.fifo:
                await self.repo.lock_queue(tx, q.id)
                if attempt is not None:
                    prev = await self.repo.receive_attempt(tx, q.id, attempt, now - DEDUP_WINDOW_MS)
                    if prev is not None:
                        ids = orjson.loads(prev.ids)
                        if ids:
                            rows = await self.repo.reclaim(tx, q.id, ids, prev.receipt, visible_at)
                            if rows:
                                return rows, prev.receipt
            rows = []
            for _ in range(3):
                if q.fifo:
                    cands = await self.repo.fifo_candidates(tx, q.id, now, n - len(rows))
                    if not cands:
                        break
                    got = await self.repo.claim_ids(tx, cands, now, visible_at, receipt)
                    # in the candidates' order (one group's messages together), not the update's
                    order = {row_id: i for i, row_id in enumerate(cands)}
                    got.sort(key=lambda r: order[r.id])
                else:
                    got = await self.repo.claim(tx, q.id, now, visible_at, receipt, n - len(rows))
                    if not got:
                        break
                expired = [r.id for r in got if r.retain_from <= retain_after]
                if expired:
                    await self.repo.delete_ids(tx, expired)
                over = [r.id for r in got if dlq is not None and q.redrive is not None
                        and r.receive_count > q.redrive.max_receive and r.retain_from > retain_after]
                if over:
                    assert dlq is not None
                    await self.repo.move_to_dlq(tx, over, dlq.id, now, q.arn, reset_retention=dlq.fifo)
                drop = set(expired) | set(over)
                rows.extend(r for r in got if r.id not in drop)
                if len(rows) >= n or not drop:
                    break
            if attempt is not None:
                await self.repo.save_receive_attempt(tx, q.id, attempt, now, receipt,
                                                     orjson.dumps([r.id for r in rows]).decode())
        if dlq is not None:
            self.waiters.wake(dlq.id, SCAN)
        return rows, receipt

    def _wake(self, queue_id: int) -> None:
        """Messages of ``queue_id`` turned visible: wake a poll here (a shared store's notification,
        which the caller sent in its transaction, wakes this server's too)."""
        if not self.shared:
            self.waiters.wake(queue_id, SCAN)

    @staticmethod
    def _message(q: Queue, r: MessageRow, receipt: int, sys_names: set[str] | frozenset[str],
                 attr_names: list[str]) -> dict[str, Any]:
        """A claimed message as ReceiveMessage returns it, with the system attributes ``sys_names``
        asks for and the message attributes ``attr_names`` selects."""
        msg: dict[str, Any] = {"MessageId": r.message_id, "ReceiptHandle": make_handle(q.id, r.id, receipt,
                                                                                         r.message_id),
                               "MD5OfBody": r.md5_body, "Body": r.body}
        Receiving._extras(msg, r, r.attrs, sys_names, attr_names)
        return msg

    @staticmethod
    def _extras(msg: dict[str, Any], r: MessageRow, attrs: str | None, sys_names: set[str] | frozenset[str],
                attr_names: list[str]) -> None:
        """Add to ``msg`` the system attributes ``sys_names`` asks for and the message attributes (``attrs``,
        as stored) that ``attr_names`` selects."""
        if sys_names:
            everything = "All" in sys_names
            values: dict[str, str] = {}
            for name in _ALL_SYSTEM:
                if not everything and name not in sys_names:
                    continue
                if name == "SenderId":
                    values[name] = r.sender_id
                elif name == "SentTimestamp":
                    values[name] = str(r.sent_at)
                elif name == "ApproximateReceiveCount":
                    values[name] = str(r.receive_count)
                elif name == "ApproximateFirstReceiveTimestamp":
                    values[name] = str(r.first_receive_at)
                elif name == "SequenceNumber" and r.fifo and r.seq is not None:
                    values[name] = str(SEQ_BASE + r.seq)
                elif name == "MessageGroupId" and r.group_id is not None:
                    values[name] = r.group_id
                elif name == "MessageDeduplicationId" and r.dedup_id is not None:
                    values[name] = r.dedup_id
                elif name == "AWSTraceHeader" and r.trace_header is not None:
                    values[name] = r.trace_header
                elif name == "DeadLetterQueueSourceArn" and r.dlq_source is not None:
                    values[name] = r.dlq_source
            if values:
                msg["Attributes"] = values
        if attrs and attr_names:
            loaded = load_attributes(attrs)
            chosen = select_attributes(loaded, attr_names)
            if chosen:
                msg["MD5OfMessageAttributes"] = r.md5_attrs if len(chosen) == len(loaded) else \
                    md5_of_attributes(chosen)
            msg["MessageAttributes"] = chosen       # AWS answers {} when none of the names asked for is there

    # == after receiving =======================================================================
    def _handle(self, q: Queue, handle: str | None) -> tuple[int, int, str]:
        if not handle:
            raise missing("ReceiptHandle")
        queue_id, row_id, receipt, message_id = parse_handle(handle)
        if queue_id != q.id:
            raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')
        return row_id, receipt, message_id

    async def delete_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        await self._delete(q, params.get("ReceiptHandle"))
        if self.counters is not None:
            self.counters.count(q.deleted_metric)
        return {}

    async def _delete(self, q: Queue, handle: str | None) -> None:
        row_id, receipt, message_id = self._handle(q, handle)
        if not q.fifo:
            await self.repo.delete_message(self.store, q.id, row_id, message_id)
            return
        now = self.clock.now_ms()
        async with self.store.transaction() as tx:
            n = await self.repo.delete_message_if(tx, q.id, row_id, receipt, now)
            if n:
                self.repo.notify(tx, q.id)
            elif await self.repo.message_state(tx, row_id, message_id) is not None:
                raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
        if n:
            self._wake(q.id)

    async def delete_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("QueueUrl")
        q = self.directory.cached(ctx, url) or await self.directory.by_url(ctx, url)
        entries = check_batch(params.get("Entries"), "DeleteMessageBatchRequestEntry")
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        if not q.fifo:
            # every handle parsed here (what _handle checks, inline), then one statement deletes them all
            queue_id = q.id
            row_ids: list[int] = []
            message_ids: list[str] = []
            for e in entries:
                handle = e.get("ReceiptHandle")
                try:
                    if not handle:
                        raise missing("ReceiptHandle")
                    owner, row_id, _, message_id = parse_handle(handle)
                    if owner != queue_id:
                        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt '
                                                     'handle.')
                except ServiceError as err:
                    failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                    continue
                row_ids.append(row_id)
                message_ids.append(message_id)
                ok.append({"Id": e["Id"]})
            if row_ids:
                await self.repo.delete_pairs(self.store, row_ids, message_ids)
                self._count_deleted(q, len(row_ids))
            return {"Successful": ok, "Failed": failed}
        for e in entries:
            try:
                await self._delete(q, e.get("ReceiptHandle"))
            except ServiceError as err:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                continue
            ok.append({"Id": e["Id"]})
        self._count_deleted(q, len(ok))
        return {"Successful": ok, "Failed": failed}

    def _count_deleted(self, q: Queue, n: int) -> None:
        if self.counters is not None and n:
            self.counters.count(q.deleted_metric, n)

    async def change_message_visibility(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        await self._change_visibility(q, params.get("ReceiptHandle"), params.get("VisibilityTimeout"))
        return {}

    async def _change_visibility(self, q: Queue, handle: str | None, timeout: Any) -> None:
        row_id, receipt, message_id = self._handle(q, handle)
        if timeout is None:
            raise missing("VisibilityTimeout")
        try:
            vt = int(timeout)
        except (TypeError, ValueError):
            raise invalid_value(timeout, "VisibilityTimeout", "Must be >= 0 and <= 43200, if provided.") from None
        if not 0 <= vt <= MAX_VISIBILITY_S:
            raise invalid_value(vt, "VisibilityTimeout", "Must be >= 0 and <= 43200, if provided.")
        now = self.clock.now_ms()
        state = await self.repo.message_state(self.store, row_id, message_id)
        gone = "Message does not exist or is not available for visibility timeout change."
        if state is None or state.queue_id != q.id or state.retain_from <= now - q.retention_ms:
            # deleted, or past the queue's retention period (gone for every call, swept or not)
            raise invalid_value(handle, "ReceiptHandle", gone)
        visible_at, received_at = state.visible_at, state.received_at
        if state.receipt != receipt:
            raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired." if q.fifo else gone)
        if visible_at <= now:
            if q.fifo:
                raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
            # Its visibility timeout ran out and nobody received it since: AWS answers OK and changes
            # nothing (the message stays visible; hiding it again would take it from the next consumer).
            return
        if received_at is not None and now + vt * 1000 - received_at > MAX_VISIBILITY_S * 1000:
            raise invalid_value(vt, "VisibilityTimeout", "Total VisibilityTimeout for the message is beyond the "
                                f"limit [{MAX_VISIBILITY_S} seconds].")
        if vt == 0:
            async with self.store.transaction() as tx:
                n = await self.repo.set_visibility(tx, row_id, receipt, now)
                self.repo.notify(tx, q.id)
            self._wake(q.id)
        else:
            n = await self.repo.set_visibility(self.store, row_id, receipt, now + vt * 1000)
        if not n:
            raise invalid_value(handle, "ReceiptHandle", gone)

    async def change_message_visibility_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        entries = check_batch(params.get("Entries"), "ChangeMessageVisibilityBatchRequestEntry")
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for e in entries:
            try:
                await self._change_visibility(q, e.get("ReceiptHandle"), e.get("VisibilityTimeout"))
            except ServiceError as err:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                continue
            ok.append({"Id": e["Id"]})
        return {"Successful": ok, "Failed": failed}

    # == for event source mappings (the port) =================================================
    async def receive_for_poller(self, q: Queue, max_messages: int, wait_seconds: float,
                                 stop: asyncio.Event | None = None) -> list[ReceivedMessage]:
        """ReceiveMessage for a poller: up to ``max_messages`` (any number; one claim statement), long
        polling up to ``wait_seconds`` unless ``stop`` is set (wake the queue after setting it), with the
        queue's visibility timeout, every system attribute and every message attribute, and each
        message's journey. Redrive to the dead-letter queue happens here as for any receive."""
        rows, receipt = await self._receive_once(q, max_messages, q.visibility, None)
        if not rows and wait_seconds > 0 and not self.waiters.closed and not (stop is not None and stop.is_set()):
            try:
                rows, receipt = await self._long_poll(q, max_messages, None, None, wait_seconds, stop)
            except ServiceError as e:
                if e.code != "QueueDoesNotExist":
                    raise
                return []           # the poller finds the queue gone on its next round
        rows = await self._opened(None, q, rows, receipt)
        out = []
        for r in rows:
            m = self._message(q, r, receipt, _EVERYTHING, ["All"])
            out.append(ReceivedMessage(r.message_id, m["ReceiptHandle"], r.body, r.md5_body, m.get("Attributes") or {},
                                       m.get("MessageAttributes") or {}, m.get("MD5OfMessageAttributes"),
                                       r.trace_id or ""))
        return out

    async def delete_for_poller(self, q: Queue, handles: list[str]) -> int:
        """DeleteMessageBatch for a poller, any number of handles; returns how many could not be deleted
        (a FIFO handle whose visibility ran out)."""
        if not handles:
            return 0
        if not q.fifo:
            pairs = []
            for handle in handles:
                row_id, _, message_id = self._handle(q, handle)
                pairs.append((row_id, message_id))
            for i in range(0, len(pairs), 500):
                await self.repo.delete_handles(self.store, q.id, pairs[i:i + 500])
            return 0
        failed = 0
        for handle in handles:
            try:
                await self._delete(q, handle)
            except ServiceError:
                failed += 1
        return failed

