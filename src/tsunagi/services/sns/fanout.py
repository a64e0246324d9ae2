"""The fan-out of a publish: what each subscription gets, decided and written in the publish's
transaction. One strategy class per subscription protocol.

For the messages of one publish (one, or a PublishBatch's), in three phases:

1. **filter** (:func:`filtered`): a subscription whose filter policy rejects a message gets a
   ``filtered`` step; every other one asks its protocol's :class:`Strategy` which notification
   it signs, and that signature is sent to a signing process at once (``sign_soon``);
2. **plan** (:meth:`Fanout.plan`, before the transaction: on SQLite a read inside it would wait on
   it): each strategy prepares a :class:`Step` (looking up queues; the signing goes on meanwhile);
3. **apply** (:meth:`FanoutRun.apply_in`, inside the publish transaction), each step:

   - ``sqs``: the message is added to the queue in that transaction, through
     :meth:`SqsPort.enqueue_in <tsunagi.ports.sqs.SqsPort.enqueue_in>` (standard queues' rows are
     collected and inserted together); a queue that is gone or refuses the message sends it to the
     subscription's dead-letter queue (RedrivePolicy) when there is one;
   - ``http``/``https``, ``lambda``, ``email``/``email-json``, ``sms``: an outbox row (kinds
     ``sns-http``, ``sns-lambda``, ``sns-mail``), delivered after commit by the handlers in
     ``pipes/sns_delivery.py``, which retry per the delivery policy and then dead-letter;
   - ``application`` (mobile push): an ``sns-mail`` outbox row for the local mailbox (:mod:`.push`); to a
     disabled endpoint, a failure (and an ``sns-event`` row for the application's EventDeliveryFailure topic);
   - ``firehose``: not available in tsunagi; recorded as failed.

Worked out once rather than per subscription and publish: a topic's :class:`Roster` (its confirmed
subscriptions, their strategies, the protocols signed), per subscription list the catalog hands out
(a new list after any change to the topic or its subscriptions); and whether a topic may send to a
queue under ``--policies`` (:meth:`Fanout.kept_verdict`), per queue object SQS returns (a new one
after any change to the queue), except for queues with a KMS key or a policy naming the time.

Every message's outcomes go to the platform's delivery records in the same transaction
(:meth:`~tsunagi.store.deliveries.DeliveryRepo.record_fanout_in`: one row per message, however
many subscriptions), in the publish's journey: the SQS messages, outbox rows and records all carry
its trace id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple, cast

import orjson

from tsunagi.filters.policy import attributes_view, body_view
from tsunagi.policy import Dialect
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.delivery_policy import (
    ALLOW,
    OFF,
    Verdict,
    key_check,
    note_refusal,
    resource_check,
    stable,
    warned,
)
from tsunagi.ports.kms import KMS, DataKey, KmsPort
from tsunagi.ports.outbox import JsonObject, OutboxItem
from tsunagi.ports.sns import SNS_SENDER_ID
from tsunagi.ports.sqs import SQS, DeferredRows, MessageAttributeValue, QueueRef, SqsPort
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform
from tsunagi.services.sns.attributes import Subscription, Topic, effective_delivery_policy
from tsunagi.services.sns.envelope import SENDER, Outgoing, sqs_attributes
from tsunagi.services.sns.phones import e164_form
from tsunagi.services.sns.push import device_payload, push_payload
from tsunagi.services.sns.sealing import seal_payload
from tsunagi.store.base import Tx
from tsunagi.store.deliveries import (
    DEAD_LETTERED,
    DELIVERED,
    DENIED,
    FAILED,
    FILTERED,
    QUEUED,
    Delivery,
    Outcome,
)
from tsunagi.store.sns_mobile import MobileRepo

log = logging.getLogger("tsunagi.sns.delivery")

PIPE = "sns"                 # the delivery records' pipe
NO_SQS = "this server does not run the sqs service"
SNS_PRINCIPAL = "sns.amazonaws.com"


async def queue_allowed(mode: str, kms: KmsPort | None, queue: QueueRef, topic: Topic) -> Verdict:
    """May ``topic`` send to ``queue``, as AWS decides it: the queue policy must allow
    ``sns.amazonaws.com`` ``sqs:SendMessage`` (the topic as ``aws:SourceArn``), and a queue encrypted
    with a KMS key needs that key's policy to let SNS use it."""
    verdict = resource_check(mode, policy=queue.attributes.get("Policy"), dialect=Dialect.SQS,
                             resource_arn=queue.arn, resource_account=queue.account, principal=SNS_PRINCIPAL,
                             action="sqs:SendMessage", source_arn=topic.arn, source_account=topic.account)
    key_id = queue.attributes.get("KmsMasterKeyId")
    if not verdict.allowed or verdict.reason or not key_id:
        return verdict
    return await key_check(mode, kms, key_id, holder="sqs", holder_arn=queue.arn,
                           account=queue.account, region=queue.region, principal=SNS_PRINCIPAL,
                           source_arn=topic.arn, source_account=topic.account)


def filtered(sub: Subscription, msg: Outgoing) -> str | None:
    """Why the subscription's filter policy rejects the message, or None when it accepts it."""
    policy = sub.filter
    if policy is None:
        return None
    if sub.body_scope:
        view = body_view(msg.message)
        if view is None:
            return "filter policy (MessageBody scope) did not match: the message body is not a JSON object"
    else:
        view = attributes_view(msg.attributes)
    if policy.matches(view):
        return None
    return f"filter policy did not match: {orjson.dumps(policy.document).decode()[:500]}"


# == steps: one subscription's part of a publish, applied in its transaction ==========================
# (Step and Strategy are plain base classes rather than ABCs: a publish tells them apart for every
# subscription, and isinstance against an ABC costs more than the rest of that loop.)

class Step:
    __slots__ = ("sub",)

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub

    async def apply(self, tx: Tx, run: FanoutRun) -> tuple[str, str | None]:
        """Do it (or add to ``run``); returns (outcome, reason)."""
        raise NotImplementedError


class Fixed(Step):
    """An outcome known before the transaction (filtered, or a protocol tsunagi does not deliver)."""

    __slots__ = ("outcome", "reason")

    def __init__(self, sub: Subscription, outcome: str, reason: str | None) -> None:
        super().__init__(sub)
        self.outcome = outcome
        self.reason = reason

    async def apply(self, tx: Tx, run: FanoutRun) -> tuple[str, str | None]:
        return self.outcome, self.reason


class Outboxed(Step):
    """An outbox row; its payload is built when applied (a FIFO sequence number is known by then)."""

    __slots__ = ("kind", "payload", "note")

    def __init__(self, sub: Subscription, kind: str, payload: Callable[[], JsonObject], note: str | None = None) -> None:
        super().__init__(sub)
        self.kind = kind
        self.payload = payload
        self.note = note

    async def apply(self, tx: Tx, run: FanoutRun) -> tuple[str, str | None]:
        payload = self.payload()
        if run.data_key is not None:        # an encrypted topic: only the clear members stay readable
            payload = seal_payload(run.data_key, run.topic.arn, self.sub.arn, payload)
        run.outbox.append(OutboxItem(self.kind, self.sub.arn, payload, run.trace_id))
        return QUEUED, self.note


class FailedWithEvent(Step):
    """A mobile push that cannot be delivered (its endpoint or application is disabled): failed, and a
    DeliveryFailure notice for the application's EventDeliveryFailure topic goes out through the outbox."""

    __slots__ = ("reason", "topic_arn", "event")

    def __init__(self, sub: Subscription, reason: str, topic_arn: str, event: JsonObject) -> None:
        super().__init__(sub)
        self.reason = reason
        self.topic_arn = topic_arn
        self.event = event

    async def apply(self, tx: Tx, run: FanoutRun) -> tuple[str, str | None]:
        run.outbox.append(OutboxItem("sns-event", self.topic_arn, {
            "message": orjson.dumps(self.event).decode(), "account": self.sub.account, "region": self.sub.region,
            "source_arn": self.event["Resource"]}, run.trace_id))
        return FAILED, self.reason


class ToQueue(Step):
    __slots__ = ("msg", "queue", "dlq", "note", "missing")

    def __init__(self, msg: Outgoing, sub: Subscription, queue: QueueRef | None, dlq: QueueRef | None,
                 note: str | None, missing: str | None) -> None:
        self.sub, self.msg, self.queue, self.dlq, self.note, self.missing = sub, msg, queue, dlq, note, missing

    async def apply(self, tx: Tx, run: FanoutRun) -> tuple[str, str | None]:
        msg, sub = self.msg, self.sub
        attrs: dict[str, MessageAttributeValue] | None
        if sub.raw:
            body = msg.text_for("sqs")
            attrs = cast("dict[str, MessageAttributeValue]", sqs_attributes(msg.attributes)) if msg.attributes else None
        else:
            body = msg.notification_json("sqs", sub.arn)
            attrs = None
        why = self.missing
        sqs = run.sqs
        assert sqs is not None          # (the queue was looked up through it)
        if self.queue is not None:
            fifo = self.queue.fifo
            try:
                await sqs.enqueue_in(tx, self.queue, body, attrs, trace_id=run.trace_id,
                                     trace_header=run.trace_header, group_id=msg.group_id if fifo else None,
                                     dedup_id=msg.dedup_id if fifo else None, source_arn=sub.topic_arn,
                                     sender_id=SNS_SENDER_ID, defer=run.sqs_rows)
                return DELIVERED, self.note
            except ServiceError as e:
                why = f"queue {sub.endpoint} refused the message: {e.code}: {e.message}"
        return await dead_letter_in(tx, sqs, sub, self.dlq, body, attrs, msg.group_id, msg.dedup_id,
                                    why or "queue unavailable", run.trace_id, run.trace_header)


async def dead_letter_in(tx: Tx, sqs: SqsPort, sub: Subscription, dlq: QueueRef | None, body: str,
                         attrs: dict[str, MessageAttributeValue] | None, group: str | None, dedup: str | None,
                         why: str, trace_id: str, trace_header: str | None = None) -> tuple[str, str | None]:
    """Send what ``sub`` could not be given to its dead-letter queue, in ``tx``; (outcome, reason)."""
    if dlq is None:
        if sub.dlq_arn:
            why += f"; dead-letter queue {sub.dlq_arn} does not exist"
        log.info("SNS: %s not delivered to %s: %s", sub.topic_arn, sub.arn, why)
        return FAILED, why
    try:
        await sqs.enqueue_in(tx, dlq, body, attrs, trace_id=trace_id, trace_header=trace_header,
                             group_id=group if dlq.fifo else None,
                             dedup_id=dedup if dlq.fifo else None, source_arn=sub.arn, sender_id=SNS_SENDER_ID)
    except ServiceError as e:
        why += f"; dead-letter queue refused it: {e.code}: {e.message}"
        log.info("SNS: %s not delivered to %s: %s", sub.topic_arn, sub.arn, why)
        return FAILED, why
    log.info("SNS: %s dead-lettered for %s into %s: %s", sub.topic_arn, sub.arn, sub.dlq_arn, why)
    return DEAD_LETTERED, why


# == strategies: one per protocol, preparing each subscription's step ================================

class Strategy:
    protocols: tuple[str, ...] = ()

    def signs(self, sub: Subscription) -> str | None:
        """The protocol whose signed notification ``sub`` gets, or None when it gets none."""
        return None

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        """The step ``sub`` gets for ``msg`` in ``run`` (lookups happen here, before the transaction)."""
        raise NotImplementedError


class SqsStrategy(Strategy):
    protocols = ("sqs",)

    def signs(self, sub: Subscription) -> str | None:
        return None if sub.raw else "sqs"

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        sqs = run.sqs
        if sqs is None:
            return Fixed(sub, FAILED, NO_SQS)
        if not sub.raw and not msg.signed("sqs"):
            await msg.presign("sqs")
        queue = await sqs.queue(sub.endpoint)
        dlq = await sqs.queue(sub.dlq_arn) if sub.dlq_arn else None
        note = None
        missing = None
        if queue is None:
            missing = f"queue {sub.endpoint} does not exist"
        elif run.mode != OFF:
            kept = run.fanout.kept_verdict(queue, run.topic)
            verdict, note = kept if kept is not None else await run.fanout.check_queue(run, queue)
            if not verdict.allowed:
                return Fixed(sub, DENIED, verdict.reason)
        return ToQueue(msg, sub, queue, dlq, note, missing)


class HttpStrategy(Strategy):
    protocols = ("http", "https")

    def signs(self, sub: Subscription) -> str | None:
        return None if sub.raw else sub.protocol

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        topic = run.topic
        if not sub.raw and not msg.signed(sub.protocol):
            await msg.presign(sub.protocol)
        headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": msg.message_id,
                   "x-amz-sns-topic-arn": msg.topic_arn, "x-amz-sns-subscription-arn": sub.arn}
        if sub.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        policy = effective_delivery_policy(topic.attributes.get("DeliveryPolicy"), sub.attributes.get("DeliveryPolicy"))
        headers["Content-Type"] = (policy.get("requestPolicy") or {}).get("headerContentType") \
            or "text/plain; charset=UTF-8"

        def payload() -> JsonObject:
            body = msg.text_for(sub.protocol) if sub.raw else msg.notification_json(sub.protocol, sub.arn)
            return {"url": sub.endpoint, "body": body, "headers": headers, "message_id": msg.message_id,
                    "pipe": PIPE, "source_arn": msg.topic_arn, "protocol": sub.protocol, "attempt": 1,
                    "retry": policy["healthyRetryPolicy"], "dlq": sub.dlq_arn}

        return Outboxed(sub, "sns-http", payload)


class LambdaStrategy(Strategy):
    protocols = ("lambda",)

    def signs(self, sub: Subscription) -> str | None:
        return "lambda"

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        note = None
        if run.mode != OFF:
            verdict = await function_allowed(run, sub)
            if not verdict.allowed:
                return Fixed(sub, DENIED, verdict.reason)
            note = warned(verdict.reason) if verdict.reason else None
        await msg.presign("lambda")
        return Outboxed(sub, "sns-lambda", lambda: {
            "function": sub.endpoint, "event": msg.lambda_event(sub.arn).decode(), "message_id": msg.message_id,
            "pipe": PIPE, "source_arn": msg.topic_arn, "protocol": "lambda", "attempt": 1, "dlq": sub.dlq_arn,
            "body": msg.notification_json("lambda", sub.arn)}, note)


async def function_allowed(run: FanoutRun, sub: Subscription) -> Verdict:
    """May ``topic`` invoke the function ``sub`` names: its resource-based policy must allow
    ``sns.amazonaws.com`` ``lambda:InvokeFunction`` with the topic as ``aws:SourceArn`` (AddPermission)."""
    topic = run.topic
    lam = run.platform.ports.find(LAMBDA)
    if lam is None:
        return ALLOW
    fn = await lam.function(sub.endpoint, sub.account, sub.region)
    if fn is None:
        return ALLOW            # (the delivery records that it does not exist)
    return resource_check(run.mode, policy=fn.policy, dialect=Dialect.LAMBDA, resource_arn=fn.arn,
                          resource_account=fn.account, principal=SNS_PRINCIPAL, action="lambda:InvokeFunction",
                          source_arn=topic.arn, source_account=topic.account)


class EmailStrategy(Strategy):
    protocols = ("email", "email-json")

    def signs(self, sub: Subscription) -> str | None:
        return "email-json" if sub.protocol == "email-json" else None

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        if sub.protocol == "email-json":
            await msg.presign("email-json")
        sender = f"{msg.display_name} <{SENDER}>" if msg.display_name else f"AWS Notifications <{SENDER}>"

        def payload() -> JsonObject:
            subject, body = msg.email(sub.protocol, sub.arn, sub.endpoint)
            return {"kind": sub.protocol, "to": sub.endpoint, "from": sender, "subject": subject, "body": body,
                    "message_id": msg.message_id, "pipe": PIPE, "source_arn": msg.topic_arn,
                    "protocol": sub.protocol, "account": sub.account, "region": sub.region, "attempt": 1}

        return Outboxed(sub, "sns-mail", payload)


class SmsStrategy(Strategy):
    """No SMS gateway here: texts go to the local mailbox (``tsunagi mail``), addressed to the number;
    none to a number that opted out (recorded as failed)."""

    protocols = ("sms",)

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        if await MobileRepo(run.platform.store).opted_out(sub.account, sub.region, e164_form(sub.endpoint)):
            return Fixed(sub, FAILED, f"the phone number {sub.endpoint} is opted out")
        text = msg.text_for("sms")
        if msg.display_name:
            text = f"{msg.display_name}> {text}"
        return Outboxed(sub, "sns-mail", lambda: {
            "kind": "sms", "to": sub.endpoint, "from": msg.display_name or "SNS", "subject": "", "body": text,
            "message_id": msg.message_id, "pipe": PIPE, "source_arn": msg.topic_arn, "protocol": "sms",
            "account": sub.account, "region": sub.region, "attempt": 1, "local_only": True})


class ApplicationStrategy(Strategy):
    """Mobile push: no push service can be reached from here, so the notification goes to the local
    mailbox (``tsunagi mail --kind push``) as the endpoint's platform would carry it (:mod:`.push`).
    An endpoint (or application) that is gone or disabled fails the delivery, as on AWS."""

    protocols = ("application",)

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        repo = MobileRepo(run.platform.store)
        endpoint = await repo.endpoint(sub.endpoint)
        app = await repo.app(endpoint.app_arn) if endpoint is not None else None
        if endpoint is None or app is None:
            return Fixed(sub, FAILED, f"endpoint {sub.endpoint} does not exist")
        app_attrs = orjson.loads(app.attributes)
        failure = None
        if app_attrs.get("Enabled", "true") != "true":
            failure = ("PlatformApplicationDisabled", "Platform application is disabled",
                       f"platform application {app.arn} is disabled")
        elif orjson.loads(endpoint.attributes).get("Enabled", "true") != "true":
            failure = ("EndpointDisabled", "Endpoint is disabled", f"endpoint {endpoint.arn} is disabled")
        if failure is not None:
            kind, message, reason = failure
            events = app_attrs.get("EventDeliveryFailure")
            if not events:
                return Fixed(sub, FAILED, reason)
            return FailedWithEvent(sub, reason, events, {
                "DeliveryAttempts": 1, "EndpointArn": endpoint.arn, "EventType": "DeliveryFailure",
                "FailureMessage": message, "FailureType": kind, "MessageId": msg.message_id, "Resource": app.arn,
                "Service": "SNS", "Time": msg.timestamp})
        return Outboxed(sub, "sns-mail", lambda: push_payload(
            endpoint_arn=endpoint.arn, app_arn=app.arn, platform=app.platform,
            body=device_payload(app.platform, msg.message, msg.per_protocol), message_id=msg.message_id,
            account=sub.account, region=sub.region, topic_arn=msg.topic_arn))


class UnavailableStrategy(Strategy):
    protocols = ("firehose",)

    async def prepare(self, run: FanoutRun, msg: Outgoing, sub: Subscription) -> Step:
        return Fixed(sub, FAILED, "Kinesis Data Firehose is not available in tsunagi")


STRATEGIES: dict[str, Strategy] = {}
for _cls in (SqsStrategy, HttpStrategy, LambdaStrategy, EmailStrategy, SmsStrategy, ApplicationStrategy,
             UnavailableStrategy):
    for _p in _cls.protocols:
        STRATEGIES[_p] = _cls()
_UNAVAILABLE = UnavailableStrategy()


# == the fan-out ======================================================================================

Plan = list[Step]             # one message's steps, one per live subscription, in subscription order
_new = tuple.__new__          # (the named tuples' own __new__ binds every field in Python, per outcome)


class Roster(NamedTuple):
    """A topic's confirmed subscriptions as a publish goes through them: each one with its strategy
    and the protocol whose signed notification it gets (None: none); whether any has a filter
    policy; and the protocols signed for a message no filter policy can keep from anyone."""

    entries: list[tuple[Subscription, Strategy, str | None]]
    filters: bool
    signs: list[str]


def roster_of(subs: Sequence[Subscription]) -> Roster:
    entries: list[tuple[Subscription, Strategy, str | None]] = []
    signs: list[str] = []
    for sub in subs:
        if sub.pending:
            continue
        strategy = STRATEGIES.get(sub.protocol) or _UNAVAILABLE
        signed = strategy.signs(sub)
        entries.append((sub, strategy, signed))
        if signed is not None and signed not in signs:
            signs.append(signed)
    return Roster(entries, any(sub.filter is not None for sub, _, _ in entries), signs)


class Fanout:
    """Plans publishes' deliveries and applies them in their transactions."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.mode = platform.config.policies      # --policies: off | warn | enforce
        # a topic's subscription list (the catalog's, replaced whenever they change) -> its roster
        self._rosters: dict[int, tuple[Sequence[Subscription], Roster]] = {}
        # (queue ARN, topic ARN) -> (the queue as looked up, the policy check's verdict, the record's note)
        self._verdicts: dict[tuple[str, str], tuple[QueueRef, Verdict, str | None]] = {}

    def kept_verdict(self, queue: QueueRef, topic: Topic) -> tuple[Verdict, str | None] | None:
        """May ``topic`` send to ``queue`` (:func:`queue_allowed`), as last answered for this very
        queue object (SQS looks a queue up again, as a new object, once it changes); None when not
        kept. A kept refusal is logged again as a new one would be."""
        hit = self._verdicts.get((queue.arn, topic.arn))
        if hit is None or hit[0] is not queue:
            return None
        verdict = hit[1]
        if verdict.reason:
            note_refusal(self.mode, topic.arn, queue.arn, verdict.reason)
        return verdict, hit[2]

    async def check_queue(self, run: FanoutRun, queue: QueueRef) -> tuple[Verdict, str | None]:
        """:func:`queue_allowed` and the delivery record's note, kept for :meth:`kept_verdict` unless it
        may change while the queue does not (a KMS key's policy or state, a policy naming the time)."""
        topic = run.topic
        verdict = await queue_allowed(self.mode, run.kms, queue, topic)
        note = warned(verdict.reason) if verdict.allowed and verdict.reason else None
        attributes = queue.attributes
        if not attributes.get("KmsMasterKeyId") and stable(attributes.get("Policy")):
            if len(self._verdicts) >= _ROSTERS_MAX:
                self._verdicts.clear()
            self._verdicts[(queue.arn, topic.arn)] = (queue, verdict, note)
        return verdict, note

    def roster(self, subs: Sequence[Subscription]) -> Roster:
        """``subs``'s roster, made once per list: the catalog hands out the same list until the topic
        or its subscriptions change, and then a new one (the entry keeps the list, so its id is not
        reused while it is cached)."""
        hit = self._rosters.get(id(subs))
        if hit is not None and hit[0] is subs:
            return hit[1]
        roster = roster_of(subs)
        if len(self._rosters) >= _ROSTERS_MAX:
            self._rosters.clear()
        self._rosters[id(subs)] = (subs, roster)
        return roster

    async def plan(self, run: FanoutRun, msgs: Sequence[Outgoing], subs: Sequence[Subscription]) -> list[Plan]:
        """Each message's steps for the confirmed subscriptions in ``subs``: filters first, then every
        signature a subscription that takes the message needs goes to a signing process, then the
        steps are prepared (their lookups overlap the signing)."""
        roster = self.roster(subs)
        staged: list[list[Step | None]] = []      # None: a step to prepare
        for msg in msgs:
            if not roster.filters:
                for protocol in roster.signs:
                    msg.sign_soon(protocol)
                staged.append([None] * len(roster.entries))
                continue
            stage: list[Step | None] = []
            for sub, _strategy, signed in roster.entries:
                reason = filtered(sub, msg)
                if reason is not None:
                    stage.append(Fixed(sub, FILTERED, reason))
                    continue
                if signed is not None:
                    msg.sign_soon(signed)
                stage.append(None)
            staged.append(stage)
        plans: list[Plan] = []
        for msg, stage in zip(msgs, staged, strict=True):
            steps: Plan = []
            for (sub, strategy, _signed), fixed in zip(roster.entries, stage, strict=True):
                steps.append(fixed if fixed is not None else await strategy.prepare(run, msg, sub))
            plans.append(steps)
        return plans

    def begin(self, topic: Topic, trace_id: str, now_ms: int, trace_header: str | None = None,
              data_key: DataKey | None = None) -> FanoutRun:
        """The collector for one publish in journey ``trace_id`` (``trace_header``: the publish
        request's X-Amzn-Trace-Id, passed on to the queues as AWS does; ``data_key``: an encrypted
        topic's, its outbox rows are sealed under it); :meth:`plan` prepares its steps."""
        ports = self.platform.ports
        return FanoutRun(self, topic, trace_id, now_ms, ports.find(SQS), trace_header, data_key,
                         ports.find(KMS) if self.mode != OFF else None)


_ROSTERS_MAX = 10_000


class FanoutRun:
    """One publish's fan-out: the ports its steps use, and what the steps of its transaction collect
    (the SQS rows of standard queues, inserted together; the outbox rows; the delivery records),
    written by :meth:`finish_in`."""

    __slots__ = ("fanout", "platform", "topic", "trace_id", "trace_header", "now_ms", "sqs", "sqs_rows", "outbox",
                 "records", "filtered", "data_key", "mode", "kms")

    def __init__(self, fanout: Fanout, topic: Topic, trace_id: str, now_ms: int, sqs: SqsPort | None,
                 trace_header: str | None = None, data_key: DataKey | None = None,
                 kms: KmsPort | None = None) -> None:
        self.fanout = fanout
        self.platform = fanout.platform
        self.mode = fanout.mode         # --policies
        self.data_key = data_key
        self.topic = topic
        self.trace_id = trace_id
        self.trace_header = trace_header
        self.now_ms = now_ms
        self.kms = kms                  # KMS's port, for queues' key policies (None: not served, or not asked)
        self.sqs = sqs                  # SQS's port; a queue step exists only when SQS is served here
        self.sqs_rows: DeferredRows | None = sqs.deferred() if sqs is not None else None
        self.outbox: list[OutboxItem] = []
        self.records: list[tuple[Delivery, list[Outcome]]] = []
        self.filtered = False           # whether a filter policy kept a message from a subscription

    async def apply_in(self, tx: Tx, msg: Outgoing, steps: Plan) -> None:
        """Apply one message's steps in ``tx`` and keep its outcomes for the delivery record."""
        outcomes: list[Outcome] = []
        for step in steps:
            outcome, why = await step.apply(tx, self)
            sub = step.sub
            outcomes.append(_new(Outcome, (sub.arn, sub.protocol, outcome, why)))
            if outcome == FILTERED:
                self.filtered = True
        topic = self.topic
        self.records.append((_new(Delivery, (self.trace_id, self.now_ms, topic.account, topic.region, PIPE, topic.arn,
                                             msg.message_id, "", None, "", None)), outcomes))

    async def finish_in(self, tx: Tx) -> None:
        """Write what the steps collected, in ``tx``."""
        if self.sqs is not None and self.sqs_rows:     # (rows only when a step looked its queue up, so SQS has started)
            await self.sqs.flush_in(tx, self.sqs_rows)
        if self.outbox:
            await self.platform.outbox.add(tx, self.outbox)
        await self.platform.deliveries.record_fanout_in(tx, self.records)

    def log_filtered(self) -> None:
        """Log, after commit, each message a filter policy kept from a subscription."""
        if not self.filtered:
            return
        for template, outcomes in self.records:
            for o in outcomes:
                if o.outcome == FILTERED:
                    log.info("SNS: message %s on %s not delivered to %s: %s", template.message_id,
                             template.source_arn, o.target_arn, o.reason)


__all__ = ["Fanout", "FanoutRun", "Plan", "Step", "Strategy", "filtered"]
