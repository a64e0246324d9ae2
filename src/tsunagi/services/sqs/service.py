"""SQS: queues and messages with AWS's semantics, on the store.

Plain Python: params in (botocore's member names), dicts out (the operation's output shape),
:mod:`tsunagi.services.sqs.errors` raised. All SQL lives in :mod:`tsunagi.store.sqs`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import re
from typing import Any

import orjson

from tsunagi.ids import uuid4
from tsunagi.ports.sqs import SQS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.sqs import attributes as qattrs
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidAttributeName,
    InvalidBatchEntryId,
    InvalidParameterValue,
    MessageNotInflight,
    OverLimit,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    ServiceError,
    TooManyEntriesInBatchRequest,
    invalid_value,
    missing,
    queue_does_not_exist,
)
from tsunagi.services.sqs.md5 import md5_hex, md5_of_attributes
from tsunagi.services.sqs.messages import (
    attributes_size,
    check_attributes,
    check_body,
    load_attributes,
    make_handle,
    parse_handle,
    select_attributes,
)
from tsunagi.services.sqs.movetasks import MoveTasks
from tsunagi.services.sqs.port import SqsPortImpl
from tsunagi.services.sqs.waiters import Waiters
from tsunagi.store.base import IntegrityError, Tx
from tsunagi.store.sqs import META_CHANNEL, NOTIFY_CHANNEL, SqsRepo
from tsunagi.trace import root_of

log = logging.getLogger("tsunagi.sqs")

DEDUP_WINDOW_MS = 5 * 60 * 1000
PURGE_WINDOW_MS = 60 * 1000
DELETED_WINDOW_MS = 60 * 1000
MAX_VISIBILITY_S = 43_200
SEQ_BASE = 10**19            # SequenceNumbers are 20-digit strings
PG_POLL_BACKSTOP_S = 1.0
CACHE_TTL_PG_S = 5.0
SWEEP_INTERVAL_S = 30.0

_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
_SQS_HOST_REGION = re.compile(r"(?:^|\.)sqs\.([a-z0-9-]+)\.")
_ALL_SYSTEM = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
               "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
               "DeadLetterQueueSourceArn")
_PERMISSION_ACTIONS = frozenset({"*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
                                 "GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues",
                                 "PurgeQueue", "ListQueueTags", "SendMessageBatch", "DeleteMessageBatch",
                                 "ChangeMessageVisibilityBatch"})


def _int_param(params: dict[str, Any], name: str, lo: int, hi: int, reason: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid_value(value, name, reason) from None
    if not lo <= n <= hi:
        raise invalid_value(value, name, reason)
    return n


class SqsService(Service):
    name = "sqs"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = SqsRepo(self.store)
        self.pg = self.store.dialect == "postgresql"
        self.waiters = Waiters()
        self.moves = MoveTasks(self)
        self._by_url: dict[tuple[str, str, str], Queue] = {}
        self._by_arn: dict[str, Queue] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._listening = False
        platform.ports.provide(SQS, SqsPortImpl(self))

    # == lifecycle =============================================================================
    async def start(self) -> None:
        self._listen()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="tsunagi-sqs-sweep")
        await self.moves.resume()

    def _listen(self) -> None:
        if not self._listening:
            self.store.listen(NOTIFY_CHANNEL, self._on_notify)
            self.store.listen(META_CHANNEL, self._on_meta)
            self.store.listen("*", self._on_reconnect)
            self._listening = True

    async def stop(self) -> None:
        self.waiters.closed = True
        self.waiters.wake_all()
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except (asyncio.CancelledError, Exception):
                pass
            self._sweeper = None
        await self.moves.stop()

    async def on_reset(self) -> None:
        self._forget_all()
        await self.moves.stop()
        self.waiters.wake_all()

    def _on_notify(self, payload: str) -> None:
        try:
            self.waiters.wake(int(payload))
        except ValueError:
            pass

    def _on_meta(self, payload: str) -> None:
        try:
            self._forget(int(payload))
        except ValueError:
            pass

    def _on_reconnect(self, _payload: str) -> None:
        self._forget_all()
        self.waiters.wake_all()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SQS sweep failed")

    async def sweep(self) -> None:
        """Delete expired messages (retention) and old deduplication / receive-attempt records."""
        now = self.clock.now_ms()
        for row in await self.repo.all_queues():
            q = Queue.from_row(row)
            await self.repo.expire(q.id, now - q.retention_ms, now)
        await self.repo.sweep_dedup(now - DEDUP_WINDOW_MS)

    # == queue lookup (cached) =================================================================
    def _forget(self, queue_id: int) -> None:
        for key in [k for k, q in self._by_url.items() if q.id == queue_id]:
            del self._by_url[key]
        for arn in [k for k, q in self._by_arn.items() if q.id == queue_id]:
            del self._by_arn[arn]

    def _forget_all(self) -> None:
        self._by_url.clear()
        self._by_arn.clear()

    def _now_mono(self) -> float:
        return asyncio.get_running_loop().time()

    def _fresh(self, q: Queue) -> bool:
        return not self.pg or self._now_mono() - q.loaded_at < CACHE_TTL_PG_S

    async def _queue(self, ctx: RequestContext, url: str | None) -> Queue:
        if not url:
            raise missing("QueueUrl")
        key = (ctx.account, ctx.region, url)
        q = self._by_url.get(key)
        if q is not None and self._fresh(q):
            return q
        account, region, name = self._parse_url(ctx, url)
        row = await self.repo.queue_by_name(account, region, name)
        if row is None:
            raise queue_does_not_exist()
        if not self._listening:
            self._listen()
        q = Queue.from_row(row, self._now_mono())
        if len(self._by_url) > 10_000:
            self._by_url.clear()
        self._by_url[key] = q
        return q

    def _parse_url(self, ctx: RequestContext, url: str) -> tuple[str, str, str]:
        path = url.split("?", 1)[0].rstrip("/")
        if "://" in path:
            host, _, path = path.split("://", 1)[1].partition("/")
        else:
            host = ""
        parts = [p for p in path.split("/") if p]
        region = ctx.region
        m = _SQS_HOST_REGION.search(host) if host else None
        if m:
            region = m.group(1)
        if len(parts) >= 2:
            return parts[-2], region, parts[-1]
        if len(parts) == 1 and not host:
            return ctx.account, region, parts[0]
        raise queue_does_not_exist()

    async def _queue_by_arn(self, arn: str) -> Queue | None:
        q = self._by_arn.get(arn)
        if q is not None and self._fresh(q):
            return q
        row = await self.repo.queue_by_arn(arn)
        if row is None:
            return None
        q = Queue.from_row(row, self._now_mono())
        self._by_arn[arn] = q
        return q

    def _url(self, ctx: RequestContext, account: str, name: str) -> str:
        return f"{ctx.scheme}://{ctx.host}/{account}/{name}"

    def _arn(self, region: str, account: str, name: str) -> str:
        return f"arn:aws:sqs:{region}:{account}:{name}"

    # == queues ================================================================================
    async def create_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not name:
            raise missing("QueueName")
        given = dict(params.get("Attributes") or {})
        fifo = str(given.get("FifoQueue", "false")).strip().lower() == "true"
        if fifo:
            if not _FIFO_NAME.match(name):
                raise InvalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, "
                                            "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 "
                                            "in length.")
        elif not qattrs.NAME_RE.match(name):
            raise InvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. 1 to "
                                        "80 in length")
        changes = qattrs.normalize(given, fifo=fifo, creating=True)
        tags = dict(params.get("tags") or {})
        _check_tags(tags)
        if len(tags) > 50:
            raise InvalidParameterValue("Too many tags added for queue " + name + ".")
        account, region = ctx.account, ctx.region
        existing = await self.repo.queue_by_name(account, region, name)
        if existing is not None:
            return self._same_queue(ctx, Queue.from_row(existing), changes)
        deleted = await self.repo.deleted_at(account, region, name)
        if deleted is not None and deleted > self.clock.now_ms() - DELETED_WINDOW_MS:
            raise QueueDeletedRecently("You must wait 60 seconds after deleting a queue before you can create "
                                       "another with the same name.")
        arn = self._arn(region, account, name)
        stored = dict(qattrs.DEFAULTS)
        if fifo:
            stored.update(qattrs.FIFO_DEFAULTS)
        stored = qattrs.merge(stored, changes)
        dlq_arn = await self._check_redrive(stored, arn, fifo)
        now_s = int(self.clock.now())
        try:
            await self.repo.create_queue(account, region, name, arn, fifo, orjson.dumps(stored).decode(),
                                         orjson.dumps(tags).decode(), dlq_arn, now_s)
        except IntegrityError:
            existing = await self.repo.queue_by_name(account, region, name)
            if existing is None:
                raise
            return self._same_queue(ctx, Queue.from_row(existing), changes)
        return {"QueueUrl": self._url(ctx, account, name)}

    def _same_queue(self, ctx: RequestContext, q: Queue, changes: dict[str, str]) -> dict[str, Any]:
        current = q.attributes
        for name, value in changes.items():
            have = current.get(name, "")
            if name == "FifoQueue":
                have = "true" if q.fifo else "false"
            if have != value:
                raise QueueNameExists(f"A queue already exists with the same name and a different value for "
                                      f"attribute {name}")
        return {"QueueUrl": self._url(ctx, q.account, q.name)}

    async def _check_redrive(self, stored: dict[str, str], arn: str, fifo: bool) -> str | None:
        """Check a RedrivePolicy's target (exists, same type, allows this source); its ARN or None."""
        value = stored.get("RedrivePolicy")
        if not value:
            return None
        policy = qattrs.parse_redrive_policy(value)
        target = await self._queue_by_arn(policy.dlq_arn)
        if target is None:
            raise InvalidParameterValue(f"Value {value} for parameter RedrivePolicy is invalid. Reason: Dead "
                                        "letter target does not exist.")
        if target.fifo != fifo:
            raise InvalidParameterValue(f"Value {value} for parameter RedrivePolicy is invalid. Reason: "
                                        "Dead-letter queue must be same type of queue as the source..")
        if target.allow is not None and not target.allow.allows(arn):
            raise InvalidParameterValue(f"Value {value} for parameter RedrivePolicy is invalid. Reason: Queue "
                                        f"{target.arn} does not allow this queue to use it as a dead-letter "
                                        "queue.")
        return policy.dlq_arn

    async def delete_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        await self.repo.delete_queue(q.id, q.account, q.region, q.name, self.clock.now_ms())
        self._forget(q.id)
        self.waiters.wake(q.id)
        return {}

    async def get_queue_url(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not name:
            raise missing("QueueName")
        account = params.get("QueueOwnerAWSAccountId") or ctx.account
        row = await self.repo.queue_by_name(account, ctx.region, name)
        if row is None:
            raise queue_does_not_exist()
        return {"QueueUrl": self._url(ctx, account, name)}

    async def list_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("QueueNamePrefix") or ""
        limit = _int_param(params, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000.")
        after = self._decode_token(params.get("NextToken"))
        rows = await self.repo.list_queues(ctx.account, ctx.region, prefix, after, (limit or 1000) + 1)
        names = [r[0] for r in rows if r[0].startswith(prefix)]
        out: dict[str, Any] = {}
        more = len(names) > (limit or 1000)
        names = names[:limit or 1000]
        if names:
            out["QueueUrls"] = [self._url(ctx, ctx.account, n) for n in names]
        if more and limit is not None:
            out["NextToken"] = self._encode_token(names[-1])
        return out

    @staticmethod
    def _encode_token(name: str) -> str:
        return base64.urlsafe_b64encode(orjson.dumps({"after": name})).decode()

    @staticmethod
    def _decode_token(token: str | None) -> str:
        if not token:
            return ""
        try:
            return str(orjson.loads(base64.urlsafe_b64decode(token))["after"])
        except Exception:
            raise InvalidParameterValue("Invalid NextToken value.") from None

    async def get_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        names = list(params.get("AttributeNames") or [])
        for n in names:
            if n != "All" and n not in qattrs.ALL_NAMES:
                raise InvalidAttributeName(f"Unknown Attribute {n}.")
        if not names:
            return {}
        want_all = "All" in names
        wanted = set(qattrs.ORDER) if want_all else set(names)
        # Fresh from the store: attributes may have changed on another server.
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        q = Queue.from_row(row)
        values: dict[str, str] = dict(q.visible_attributes())
        values["QueueArn"] = q.arn
        values["CreatedTimestamp"] = str(q.created_at)
        values["LastModifiedTimestamp"] = str(q.modified_at)
        if wanted & {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                     "ApproximateNumberOfMessagesDelayed"}:
            now = self.clock.now_ms()
            visible, inflight, delayed = await self.repo.counts(q.id, now, now - q.retention_ms)
            values["ApproximateNumberOfMessages"] = str(visible)
            values["ApproximateNumberOfMessagesNotVisible"] = str(inflight)
            values["ApproximateNumberOfMessagesDelayed"] = str(delayed)
        out = {n: values[n] for n in qattrs.ORDER if n in wanted and n in values}
        return {"Attributes": out} if out else {}

    async def set_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        given = dict(params.get("Attributes") or {})
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        q = Queue.from_row(row)
        changes = qattrs.normalize(given, fifo=q.fifo, creating=False)
        stored = qattrs.merge(q.attributes, changes)
        dlq_arn = await self._check_redrive(stored, q.arn, q.fifo)
        await self.repo.update_queue(q.id, orjson.dumps(stored).decode(), dlq_arn, int(self.clock.now()))
        self._forget(q.id)
        self.waiters.wake(q.id)
        return {}

    async def purge_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        if not await self.repo.purge(q.id, self.clock.now_ms(), PURGE_WINDOW_MS):
            raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {q.name} is allowed every 60 seconds.")
        return {}

    # -- tags -----------------------------------------------------------------------------------
    async def tag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        tags = dict(Queue.from_row(row).tags)
        _check_tags(params.get("Tags") or {})
        tags.update(params.get("Tags") or {})
        if len(tags) > 50:
            raise InvalidParameterValue(f"Too many tags added for queue {q.name}.")
        await self.repo.update_tags(q.id, orjson.dumps(tags).decode())
        return {}

    async def untag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        tags = dict(Queue.from_row(row).tags)
        for key in params.get("TagKeys") or []:
            tags.pop(key, None)
        await self.repo.update_tags(q.id, orjson.dumps(tags).decode())
        return {}

    async def list_queue_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        tags = Queue.from_row(row).tags
        return {"Tags": tags} if tags else {}

    # -- permissions ----------------------------------------------------------------------------
    async def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        label = params.get("Label") or ""
        if not qattrs.NAME_RE.match(label):
            raise invalid_value(label, "Label", "Can only include alphanumeric characters, hyphens, or "
                                "underscores. 1 to 80 in length")
        accounts = list(params.get("AWSAccountIds") or [])
        actions = list(params.get("Actions") or [])
        if not accounts:
            raise missing("AWSAccountIds")
        if not actions:
            raise missing("Actions")
        for action in actions:
            if action not in _PERMISSION_ACTIONS:
                raise invalid_value(action, "ActionName", "Only the queue owner is allowed to invoke this "
                                    "action.")
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        q = Queue.from_row(row)
        policy: dict[str, Any] = orjson.loads(q.attributes["Policy"]) if q.attributes.get("Policy") else {
            "Version": "2008-10-17", "Id": f"{q.arn}/SQSDefaultPolicy", "Statement": []}
        statements: list[dict[str, Any]] = policy.setdefault("Statement", [])
        if isinstance(statements, dict):
            statements = policy["Statement"] = [statements]
        if any(s.get("Sid") == label for s in statements):
            raise invalid_value(label, "Label", "Already exists.")
        if len(statements) >= 20:
            raise OverLimit(f"{len(statements) + 1} Statements were found, maximum allowed is 20.")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        sqs_actions = [f"SQS:{a}" for a in actions]
        statements.append({
            "Sid": label, "Effect": "Allow",
            "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
            "Action": sqs_actions[0] if len(sqs_actions) == 1 else sqs_actions,
            "Resource": q.arn,
        })
        stored = dict(q.attributes)
        stored["Policy"] = orjson.dumps(policy).decode()
        await self.repo.update_queue(q.id, orjson.dumps(stored).decode(), q.redrive.dlq_arn if q.redrive else None,
                                     int(self.clock.now()))
        self._forget(q.id)
        return {}

    async def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        label = params.get("Label") or ""
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        q = Queue.from_row(row)
        policy = orjson.loads(q.attributes["Policy"]) if q.attributes.get("Policy") else {}
        statements = policy.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        kept = [s for s in statements if s.get("Sid") != label]
        if len(kept) == len(statements):
            raise invalid_value(label, "Label", "can't find label.")
        stored = dict(q.attributes)
        if kept:
            policy["Statement"] = kept
            stored["Policy"] = orjson.dumps(policy).decode()
        else:
            stored.pop("Policy", None)
        await self.repo.update_queue(q.id, orjson.dumps(stored).decode(), q.redrive.dlq_arn if q.redrive else None,
                                     int(self.clock.now()))
        self._forget(q.id)
        return {}

    async def list_dead_letter_source_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        limit = _int_param(params, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000.")
        after = self._decode_token(params.get("NextToken"))
        rows = await self.repo.dead_letter_sources(q.arn, after, (limit or 1000) + 1)
        more = len(rows) > (limit or 1000)
        rows = rows[:limit or 1000]
        out: dict[str, Any] = {"queueUrls": [self._url(ctx, account, name) for account, name in rows]}
        if more and limit is not None:
            out["NextToken"] = self._encode_token(rows[-1][1])
        return out

    # == sending ===============================================================================
    def _prepare(self, sender: str, trace_header: str | None, trace_id: str, q: Queue, entry: dict[str, Any],
                 now: int, batch: bool = False) -> tuple[tuple[Any, ...], dict[str, Any], str | None]:
        """Validate one message from ``sender`` (its SenderId; ``trace_header``: the request's X-Ray
        header, the AWSTraceHeader when the message has none; ``trace_id``: the request's journey, the
        message's unless its own AWSTraceHeader names another); return (row after queue_id, response
        fields, dedup id)."""
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
                if len(pvalue) > 128 or not _GROUP_RE.match(pvalue):
                    raise invalid_value(pvalue, pname, f"{pname} can only include alphanumeric and punctuation "
                                        "characters. 1 to 128 in length.")
        elif dedup:
            raise invalid_value(dedup, "MessageDeduplicationId", "The request includes a parameter that is not "
                                "valid for this queue type.")
        elif group is not None and (len(group) > 128 or not _GROUP_RE.match(group)):
            raise invalid_value(group, "MessageGroupId", "MessageGroupId can only include alphanumeric and "
                                "punctuation characters. 1 to 128 in length.")
        message_id = uuid4()
        md5_body = md5_hex(body)
        visible_at = now + (q.delay_ms if delay is None else delay * 1000)
        row = (message_id, body, md5_body, attrs_json, md5_attrs, trace, md5_sys, sender,
               now, now, visible_at, group, dedup if q.fifo else None, 1 if q.fifo else 0, trace_id)
        out: dict[str, Any] = {"MessageId": message_id, "MD5OfMessageBody": md5_body}
        if md5_attrs:
            out["MD5OfMessageAttributes"] = md5_attrs
        if md5_sys:
            out["MD5OfMessageSystemAttributes"] = md5_sys
        return row, out, dedup

    async def send_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        now = self.clock.now_ms()
        row, out, dedup = self._prepare(ctx.access_key_id or ctx.account, ctx.trace_header, ctx.trace_id, q,
                                        params, now)
        try:
            if q.fifo:
                await self._send_fifo(q, [(row, out, dedup)], now)
            else:
                await self.repo.insert(q.id, row)
        except IntegrityError:
            self._forget(q.id)
            raise queue_does_not_exist() from None
        self.waiters.wake(q.id)
        return out

    async def _send_fifo(self, q: Queue, items: list[tuple[tuple[Any, ...], dict[str, Any], str | None]],
                         now: int) -> None:
        async with self.store.transaction() as tx:
            await self._send_fifo_in(tx, q, items, now)

    async def _send_fifo_in(self, tx: Tx, q: Queue, items: list[tuple[tuple[Any, ...], dict[str, Any], str | None]],
                            now: int) -> None:
        for row, out, dedup in items:
            assert dedup is not None
            scope = row[11] if q.dedup_by_group else ""
            dup = await self.repo.claim_dedup(tx, q.id, scope, dedup, out["MessageId"], now, DEDUP_WINDOW_MS)
            if dup is not None:
                out["MessageId"] = dup[0]
                out["SequenceNumber"] = str(SEQ_BASE + dup[1])
                continue
            seq = await self.repo.insert_fifo(tx, q.id, row)
            await self.repo.set_dedup_seq(tx, q.id, scope, dedup, seq)
            out["SequenceNumber"] = str(SEQ_BASE + seq)

    # == deliveries from other services (SNS fan-out) ==========================================
    async def lookup_queue(self, arn: str) -> Queue | None:
        """The queue an ARN names, or None; call it *before* opening the transaction :meth:`enqueue_in`
        runs in (on SQLite a plain read inside an open transaction would wait for that transaction)."""
        return await self._queue_by_arn(arn)

    async def enqueue_in(self, tx: Tx, queue: Queue, body: str, attributes: dict[str, Any] | None = None, *,
                         trace_id: str, trace_header: str | None = None, group_id: str | None = None,
                         dedup_id: str | None = None, source_arn: str | None = None, sender_id: str | None = None,
                         defer: list[tuple[int, tuple[Any, ...]]] | None = None) -> str | None:
        """Validate one message as SendMessage would and insert it inside the caller's transaction ``tx``
        (so it commits with the caller's change), in journey ``trace_id`` (its AWSTraceHeader is
        ``trace_header``, the header the cause's request carried, if any). Returns the message id (the original's when a FIFO
        deduplication id was seen in the last 5 minutes). Raises the ServiceError SendMessage would
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
        row, out, dedup = self._prepare(sender_id or queue.account, trace_header, trace_id, queue, entry, now)
        if queue.fifo:
            await self._send_fifo_in(tx, queue, [(row, out, dedup)], now)
        elif defer is not None:
            defer.append((queue.id, row))
        else:
            await self.repo.insert_in(tx, queue.id, row)
        tx.notify(NOTIFY_CHANNEL, str(queue.id))
        return str(out["MessageId"])

    async def insert_deferred_in(self, tx: Tx, rows: list[tuple[int, tuple[Any, ...]]]) -> None:
        """Insert the rows :meth:`enqueue_in` deferred, inside the same transaction ``tx``."""
        await self.repo.insert_rows_in(tx, rows)

    async def send_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        entries = self._check_batch(params.get("Entries"), "SendMessageBatchRequestEntry")
        sender = ctx.access_key_id or ctx.account
        trace_id = ctx.trace_id
        total = 0
        for e in entries:
            body = e.get("MessageBody") or ""
            total += len(body.encode("utf-8", "surrogatepass")) + attributes_size(e.get("MessageAttributes"))
        if total > q.max_size:
            raise BatchRequestTooLong(f"Batch requests cannot be longer than {q.max_size} bytes. You have sent "
                                      f"{total} bytes.")
        now = self.clock.now_ms()
        good: list[tuple[tuple[Any, ...], dict[str, Any], str | None]] = []
        failed: list[dict[str, Any]] = []
        for e in entries:
            try:
                row, out, dedup = self._prepare(sender, ctx.trace_header, trace_id, q, e, now, batch=True)
            except ServiceError as err:
                if q.fifo and "MessageGroupId" in err.message and "must contain" in err.message:
                    raise
                if q.fifo and "ContentBasedDeduplication" in err.message:
                    raise
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                continue
            out["Id"] = e["Id"]
            good.append((row, out, dedup))
        if good:
            try:
                if q.fifo:
                    await self._send_fifo(q, good, now)
                else:
                    await self.repo.insert_many(q.id, [g[0] for g in good])
            except IntegrityError:
                self._forget(q.id)
                raise queue_does_not_exist() from None
            self.waiters.wake(q.id)
        result: dict[str, Any] = {"Successful": [g[1] for g in good]}
        result["Failed"] = failed
        return result

    @staticmethod
    def _check_batch(entries: Any, entry_name: str) -> list[dict[str, Any]]:
        entries = list(entries or [])
        if not entries:
            raise EmptyBatchRequest(f"There should be at least one {entry_name} in the request.")
        if len(entries) > 10:
            raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are 10. You have sent "
                                               f"{len(entries)}.")
        seen: set[str] = set()
        for e in entries:
            entry_id = e.get("Id")
            if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
                raise InvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                          "underscores. It can be at most 80 letters long.")
            if entry_id in seen:
                raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
            seen.add(entry_id)
        return entries

    # == receiving =============================================================================
    async def receive_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        n = _int_param(params, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided.") or 1
        vt = _int_param(params, "VisibilityTimeout", 0, MAX_VISIBILITY_S,
                        "Must be >= 0 and <= 43200, if provided.")
        wait = _int_param(params, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided.")
        if wait is None:
            wait = q.wait
        attempt = params.get("ReceiveRequestAttemptId") if q.fifo else None
        if attempt is not None and (len(attempt) > 128 or not _GROUP_RE.match(attempt)):
            raise invalid_value(attempt, "ReceiveRequestAttemptId", "ReceiveRequestAttemptId can only include "
                                "alphanumeric and punctuation characters. 1 to 128 in length.")
        sys_names = set(params.get("AttributeNames") or ()) | set(params.get("MessageSystemAttributeNames") or ())
        attr_names = list(params.get("MessageAttributeNames") or ())
        visibility = q.visibility if vt is None else vt

        rows, receipt = await self._receive_once(q, n, visibility, attempt)
        if not rows and wait > 0 and not self.waiters.closed:
            rows, receipt = await self._long_poll(q, n, visibility, attempt, wait)
        if not rows:
            return {}
        return {"Messages": [self._message(q, r, receipt, sys_names, attr_names) for r in rows]}

    async def _long_poll(self, q: Queue, n: int, visibility: int, attempt: str | None,
                         wait: float, stop: asyncio.Event | None = None) -> tuple[list[tuple[Any, ...]], int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not self.waiters.closed and not (stop is not None and stop.is_set()):
            fut = self.waiters.register(q.id)
            try:
                # "hidden" is judged as of before the attempt: a message that turns visible while the
                # attempt runs (after it looked) must still set the wake-up, or the poll would sleep
                # to its end beside a visible message
                before = self.clock.now_ms()
                rows, receipt = await self._receive_once(q, n, visibility, attempt)
                if rows:
                    return rows, receipt
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                nxt = await self.repo.next_visible(q.id, before)
                timeout = remaining
                if nxt is not None:
                    timeout = min(timeout, max((nxt - self.clock.now_ms()) / 1000.0, 0.001))
                if self.pg:
                    timeout = min(timeout, PG_POLL_BACKSTOP_S)
                await self.waiters.wait(fut, timeout)
            finally:
                self.waiters.discard(q.id, fut)
        return [], 0

    async def _receive_once(self, q: Queue, n: int, visibility: int,
                            attempt: str | None) -> tuple[list[tuple[Any, ...]], int]:
        """Claim up to ``n`` messages; returns (rows, receive nonce)."""
        now = self.clock.now_ms()
        receipt = random.getrandbits(48) or 1
        visible_at = now + visibility * 1000
        retain_after = now - q.retention_ms
        dlq = await self._queue_by_arn(q.redrive.dlq_arn) if q.redrive else None
        if not q.fifo and dlq is None:
            rows = await self.repo.claim(self.store, q.id, now, visible_at, receipt, n)
            expired = [r[0] for r in rows if r[15] <= retain_after]
            if expired:
                await self.repo.delete_ids(self.store, expired)
                rows = [r for r in rows if r[15] > retain_after]
            return rows, receipt
        async with self.store.transaction() as tx:
            if q.fifo:
                await self.repo.lock_queue(tx, q.id)
                if attempt is not None:
                    prev = await self.repo.receive_attempt(tx, q.id, attempt, now - DEDUP_WINDOW_MS)
                    if prev is not None:
                        ids = orjson.loads(prev[1])
                        if ids:
                            rows = await self.repo.reclaim(tx, q.id, ids, int(prev[0]), visible_at)
                            if rows:
                                return rows, int(prev[0])
            rows = []
            for _ in range(3):
                if q.fifo:
                    cands = await self.repo.fifo_candidates(tx, q.id, now, n - len(rows))
                    if not cands:
                        break
                    got = await self.repo.claim_ids(tx, [c[0] for c in cands], now, visible_at, receipt)
                else:
                    got = await self.repo.claim(tx, q.id, now, visible_at, receipt, n - len(rows))
                    if not got:
                        break
                expired = [r[0] for r in got if r[15] <= retain_after]
                if expired:
                    await self.repo.delete_ids(tx, expired)
                over = [r[0] for r in got if dlq is not None and q.redrive is not None
                        and r[10] > q.redrive.max_receive and r[15] > retain_after]
                if over:
                    assert dlq is not None
                    await self.repo.move_to_dlq(tx, over, dlq.id, now, q.arn, reset_retention=dlq.fifo)
                drop = set(expired) | set(over)
                rows.extend(r for r in got if r[0] not in drop)
                if len(rows) >= n or not drop:
                    break
            if attempt is not None:
                await self.repo.save_receive_attempt(tx, q.id, attempt, now, receipt,
                                                     orjson.dumps([r[0] for r in rows]).decode())
        if dlq is not None:
            self.waiters.wake(dlq.id)
        return rows, receipt

    def _message(self, q: Queue, r: tuple[Any, ...], receipt: int, sys_names: set[str],
                 attr_names: list[str]) -> dict[str, Any]:
        (row_id, message_id, body, md5_body, attrs, md5_attrs, trace, _md5_sys, sender, sent_at, count,
         first_receive, group, dedup, dlq_source, _retain, _receipt, fifo, seq, _trace_id) = r
        msg: dict[str, Any] = {"MessageId": message_id, "ReceiptHandle": make_handle(q.id, row_id, receipt,
                                                                                       message_id),
                               "MD5OfBody": md5_body, "Body": body}
        if sys_names:
            everything = "All" in sys_names
            values: dict[str, str] = {}
            for name in _ALL_SYSTEM:
                if not everything and name not in sys_names:
                    continue
                if name == "SenderId":
                    values[name] = sender
                elif name == "SentTimestamp":
                    values[name] = str(sent_at)
                elif name == "ApproximateReceiveCount":
                    values[name] = str(count)
                elif name == "ApproximateFirstReceiveTimestamp":
                    values[name] = str(first_receive)
                elif name == "SequenceNumber" and fifo and seq is not None:
                    values[name] = str(SEQ_BASE + seq)
                elif name == "MessageGroupId" and group is not None:
                    values[name] = group
                elif name == "MessageDeduplicationId" and dedup is not None:
                    values[name] = dedup
                elif name == "AWSTraceHeader" and trace is not None:
                    values[name] = trace
                elif name == "DeadLetterQueueSourceArn" and dlq_source is not None:
                    values[name] = dlq_source
            if values:
                msg["Attributes"] = values
        if attrs and attr_names:
            loaded = load_attributes(attrs)
            chosen = select_attributes(loaded, attr_names)
            if chosen:
                msg["MD5OfMessageAttributes"] = md5_attrs if len(chosen) == len(loaded) else \
                    md5_of_attributes(chosen)
                msg["MessageAttributes"] = chosen
        return msg

    # == after receiving =======================================================================
    def _handle(self, q: Queue, handle: str | None) -> tuple[int, int, str]:
        if not handle:
            raise missing("ReceiptHandle")
        queue_id, row_id, receipt, message_id = parse_handle(handle)
        if queue_id != q.id:
            raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')
        return row_id, receipt, message_id

    async def delete_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        await self._delete(q, params.get("ReceiptHandle"))
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
            self.waiters.wake(q.id)

    async def delete_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        entries = self._check_batch(params.get("Entries"), "DeleteMessageBatchRequestEntry")
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        if not q.fifo:
            handles: list[tuple[int, str]] = []
            for e in entries:
                try:
                    row_id, _, message_id = self._handle(q, e.get("ReceiptHandle"))
                except ServiceError as err:
                    failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                    continue
                handles.append((row_id, message_id))
                ok.append({"Id": e["Id"]})
            if handles:
                await self.repo.delete_handles(self.store, q.id, handles)
            return {"Successful": ok, "Failed": failed}
        for e in entries:
            try:
                await self._delete(q, e.get("ReceiptHandle"))
            except ServiceError as err:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
                continue
            ok.append({"Id": e["Id"]})
        return {"Successful": ok, "Failed": failed}

    async def change_message_visibility(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
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
        if state is None or state[0] != q.id:
            raise invalid_value(handle, "ReceiptHandle", gone)
        _qid, current, visible_at, received_at, _fifo, _group = state
        if current != receipt:
            raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired." if q.fifo else gone)
        if visible_at <= now:
            if q.fifo:
                raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
            raise MessageNotInflight("The specified message isn't in flight.")
        if received_at is not None and now + vt * 1000 - received_at > MAX_VISIBILITY_S * 1000:
            raise invalid_value(vt, "VisibilityTimeout", "Total VisibilityTimeout for the message is beyond the "
                                f"limit [{MAX_VISIBILITY_S} seconds].")
        if vt == 0:
            async with self.store.transaction() as tx:
                n = await self.repo.set_visibility(tx, row_id, receipt, now)
                self.repo.notify(tx, q.id)
            self.waiters.wake(q.id)
        else:
            n = await self.repo.set_visibility(self.store, row_id, receipt, now + vt * 1000)
        if not n:
            raise invalid_value(handle, "ReceiptHandle", gone)

    async def change_message_visibility_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self._queue(ctx, params.get("QueueUrl"))
        entries = self._check_batch(params.get("Entries"), "ChangeMessageVisibilityBatchRequestEntry")
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

    # == internal API for event source mappings (tsunagi.pipes.pollers) ========================
    async def queue_for_poller(self, arn: str) -> Queue | None:
        """The queue an ARN names (cached like every lookup), or None."""
        return await self._queue_by_arn(arn)

    async def receive_internal(self, q: Queue, max_messages: int, wait_seconds: float,
                               stop: asyncio.Event | None = None) -> list[tuple[dict[str, Any], str]]:
        """ReceiveMessage for a poller: up to ``max_messages`` (any number; one claim statement), long
        polling up to ``wait_seconds`` unless ``stop`` is set (wake the queue after setting it), with the
        queue's visibility timeout, every system attribute and every message attribute. Redrive to the
        dead-letter queue happens here as for any receive. Each message comes with its journey's trace id."""
        rows, receipt = await self._receive_once(q, max_messages, q.visibility, None)
        if not rows and wait_seconds > 0 and not self.waiters.closed and not (stop is not None and stop.is_set()):
            rows, receipt = await self._long_poll(q, max_messages, q.visibility, None, wait_seconds, stop)
        return [(self._message(q, r, receipt, {"All"}, ["All"]), r[19] or "") for r in rows]

    def wake_queue(self, queue_id: int) -> None:
        """Wake long polls of a queue on this node (a poller that set its ``stop`` returns at once)."""
        self.waiters.wake(queue_id)

    async def delete_internal(self, q: Queue, handles: list[str]) -> int:
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

    # == message move tasks ====================================================================
    async def start_message_move_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.moves.start_task(ctx, params)

    async def list_message_move_tasks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.moves.list_tasks(ctx, params)

    async def cancel_message_move_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.moves.cancel_task(ctx, params)


_GROUP_RE = re.compile(r"^[!-~]{1,128}$")

__all__ = ["SqsService"]


def _check_tags(tags: dict[str, Any]) -> None:
    """AWS's tag rules: keys 1 to 128 characters and not under the reserved ``aws:`` prefix, values up
    to 256 characters."""
    for key, value in tags.items():
        if not key or len(key) > 128:
            raise InvalidParameterValue(f"Tag key {key[:128]!r} must be 1 to 128 characters long.")
        if key.lower().startswith("aws:"):
            raise InvalidParameterValue(f"Tag key {key!r} uses the prefix aws:, which is reserved for AWS.")
        if value is not None and len(value) > 256:
            raise InvalidParameterValue(f"The value of tag {key!r} must be at most 256 characters long.")
