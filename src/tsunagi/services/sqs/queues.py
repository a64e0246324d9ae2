"""Queues and their settings: CreateQueue, DeleteQueue, GetQueueUrl, ListQueues, Get/SetQueueAttributes,
PurgeQueue, tags, AddPermission/RemovePermission and ListDeadLetterSourceQueues.

What a queue's attributes mean and how they are checked is :mod:`.attributes`; finding the queue a
request names is :mod:`.directory`.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.sqs import attributes as qattrs
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.directory import QueueDirectory, queue_arn
from tsunagi.services.sqs.errors import (
    InvalidAttributeName,
    InvalidParameterValue,
    OverLimit,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueNameExists,
    int_param,
    invalid_value,
    missing,
    queue_does_not_exist,
)
from tsunagi.services.sqs.waiters import Waiters
from tsunagi.store.base import IntegrityError
from tsunagi.store.sqs import SqsRepo

PURGE_WINDOW_MS = 60 * 1000
DELETED_WINDOW_MS = 60 * 1000

_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
_PERMISSION_ACTIONS = frozenset({"*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
                                 "GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues",
                                 "PurgeQueue", "ListQueueTags", "SendMessageBatch", "DeleteMessageBatch",
                                 "ChangeMessageVisibilityBatch"})


class Queues:
    def __init__(self, repo: SqsRepo, directory: QueueDirectory, clock: Clock, waiters: Waiters) -> None:
        self.repo = repo
        self.directory = directory
        self.clock = clock
        self.waiters = waiters

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
        arn = queue_arn(region, account, name)
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
        return {"QueueUrl": self.directory.url(ctx, account, region, name)}

    def _same_queue(self, ctx: RequestContext, q: Queue, changes: dict[str, str]) -> dict[str, Any]:
        current = q.attributes
        for name, value in changes.items():
            have = current.get(name, "")
            if name == "FifoQueue":
                have = "true" if q.fifo else "false"
            if have != value:
                raise QueueNameExists(f"A queue already exists with the same name and a different value for "
                                      f"attribute {name}")
        return {"QueueUrl": self.directory.url(ctx, q.account, q.region, q.name)}

    async def _check_redrive(self, stored: dict[str, str], arn: str, fifo: bool) -> str | None:
        """Check a RedrivePolicy's target (exists, same type, allows this source); its ARN or None."""
        value = stored.get("RedrivePolicy")
        if not value:
            return None
        policy = qattrs.parse_redrive_policy(value)
        target = await self.directory.by_arn(policy.dlq_arn)
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
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        await self.repo.delete_queue(q.id, q.account, q.region, q.name, self.clock.now_ms())
        self.directory.forget(q.id)
        self.waiters.gone(q.id)
        return {}

    async def get_queue_url(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not name:
            raise missing("QueueName")
        account = params.get("QueueOwnerAWSAccountId") or ctx.account
        row = await self.repo.queue_by_name(account, ctx.region, name)
        if row is None:
            raise queue_does_not_exist()
        return {"QueueUrl": self.directory.url(ctx, account, ctx.region, name)}

    async def list_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("QueueNamePrefix") or ""
        limit = int_param(params, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000.")
        after = _decode_token(params.get("NextToken"))
        rows = await self.repo.list_queues(ctx.account, ctx.region, prefix, after, (limit or 1000) + 1)
        names = [n for n in rows if n.startswith(prefix)]
        out: dict[str, Any] = {}
        more = len(names) > (limit or 1000)
        names = names[:limit or 1000]
        if names:
            out["QueueUrls"] = [self.directory.url(ctx, ctx.account, ctx.region, n) for n in names]
        if more and limit is not None:
            out["NextToken"] = _encode_token(names[-1])
        return out

    async def get_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        names = list(params.get("AttributeNames") or [])
        for n in names:
            if n != "All" and n not in qattrs.ALL_NAMES:
                raise InvalidAttributeName(f"Unknown Attribute {n}.")
        if not names:
            return {}
        want_all = "All" in names
        wanted = set(qattrs.ORDER) if want_all else set(names)
        # Fresh from the store: attributes may have changed on another server.
        q = await self.directory.current(q)
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
        return {"Attributes": out}      # {} when none of those asked for is set, as AWS answers

    async def set_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        given = dict(params.get("Attributes") or {})
        q = await self.directory.current(q)
        changes = qattrs.normalize(given, fifo=q.fifo, creating=False)
        stored = qattrs.merge(q.attributes, changes)
        dlq_arn = await self._check_redrive(stored, q.arn, q.fifo)
        await self.repo.update_queue(q.id, orjson.dumps(stored).decode(), dlq_arn, int(self.clock.now()))
        self.directory.forget(q.id)
        self.waiters.wake_all(q.id)        # every poll applies the new attributes
        return {}

    async def purge_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        if not await self.repo.purge(q.id, self.clock.now_ms(), PURGE_WINDOW_MS):
            raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {q.name} is allowed every 60 seconds.")
        return {}

    # -- tags -----------------------------------------------------------------------------------
    async def tag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        tags = dict((await self.directory.current(q)).tags)
        new = params.get("Tags") or {}
        if not new:
            raise missing("Tags")
        _check_tags(new)
        tags.update(new)
        if len(new) > 50 or len(tags) > 50:     # 1 to 50 tags a call, and on the queue
            raise InvalidParameterValue(f"Too many tags added for queue {q.name}.")
        await self.repo.update_tags(q.id, orjson.dumps(tags).decode())
        return {}

    async def untag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        tags = dict((await self.directory.current(q)).tags)
        for key in params.get("TagKeys") or []:
            tags.pop(key, None)
        await self.repo.update_tags(q.id, orjson.dumps(tags).decode())
        return {}

    async def list_queue_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        tags = (await self.directory.current(q)).tags
        return {"Tags": tags}           # {} when the queue has none, as AWS answers

    # -- permissions ----------------------------------------------------------------------------
    async def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
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
        q = await self.directory.current(q)
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
        self.directory.forget(q.id)
        return {}

    async def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        label = params.get("Label") or ""
        q = await self.directory.current(q)
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
        self.directory.forget(q.id)
        return {}

    async def list_dead_letter_source_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        q = await self.directory.by_url(ctx, params.get("QueueUrl"))
        limit = int_param(params, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000.")
        after = _decode_token(params.get("NextToken"))
        rows = await self.repo.dead_letter_sources(q.arn, after, (limit or 1000) + 1)
        more = len(rows) > (limit or 1000)
        rows = rows[:limit or 1000]
        out: dict[str, Any] = {"queueUrls": [self.directory.url(ctx, r.account, q.region, r.name) for r in rows]}
        if more and limit is not None:
            out["NextToken"] = _encode_token(rows[-1].name)
        return out


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": name})).decode()


def _decode_token(token: str | None) -> str:
    if not token:
        return ""
    try:
        return str(orjson.loads(base64.urlsafe_b64decode(token))["after"])
    except Exception:
        raise InvalidParameterValue("Invalid NextToken value.") from None


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
