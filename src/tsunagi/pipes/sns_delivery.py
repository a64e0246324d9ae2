"""SNS deliveries: one strategy class per subscription protocol, and the outbox handlers that finish
the deliveries which cannot happen inside the publish transaction.

A publish asks each matching subscription's strategy to :meth:`Strategy.prepare` a
:class:`Step` (outside the transaction: lookups), then runs every step's :meth:`Step.apply`
inside the publish transaction:

- ``sqs``: the message is inserted into the queue in that transaction (same store), through
  :meth:`SqsService.enqueue_in`; a queue that is gone or refuses the message sends it to the
  subscription's dead-letter queue (RedrivePolicy) when there is one;
- ``http``/``https``, ``lambda``, ``email``/``email-json``, ``sms``: an outbox row (kinds
  ``sns-http``, ``sns-lambda``, ``sns-mail``) written in that transaction; its handler below
  delivers it after commit, retrying per the subscription's delivery policy and then
  dead-lettering;
- ``application`` (mobile push) and ``firehose``: not available in tsunagi; recorded as failed.

Every outcome is written to ``sns_deliveries`` (publish: one record per message holding every
subscription's outcome; later outcomes by the handlers, one row each) and logged at INFO when the
message does not arrive.

Retries of outbox deliveries follow SNS rather than the outbox's own backoff: a failed attempt
writes a follow-up row due after the policy's delay (``attempt`` counts in the payload) and the
current row is finished. A crash between the two costs at most a duplicate attempt.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

import orjson

from tsunagi.context import Source, internal_context
from tsunagi.pipes import sns_http
from tsunagi.pipes.outbox import Job, PermanentFailure, outbox_for
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.outbox import OutboxItem
from tsunagi.ports.sqs import SQS, DeferredRows, MessageAttributeValue, QueueRef, SqsPort
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.sns.attributes import RetryPolicy, Subscription
from tsunagi.services.sns.envelope import SENDER, Outgoing, sqs_attributes
from tsunagi.store.sns import SnsRepo

if TYPE_CHECKING:
    from tsunagi.services.base import Platform
    from tsunagi.store.base import Tx

log = logging.getLogger("tsunagi.sns.delivery")

SNS_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"     # the SenderId SQS shows for messages SNS delivered
# Lambda subscriptions: AWS retries 3 times at once, twice 1 s apart, then backs off to 20 s.
LAMBDA_RETRY = RetryPolicy(min_delay=1, max_delay=20, num_retries=50, num_no_delay=3, num_min_delay=2,
                           num_max_delay=35, backoff="exponential")
MAIL_RETRY = RetryPolicy(min_delay=5, max_delay=300, num_retries=20, backoff="exponential")
Record = tuple[str, str, str, str, str, str | None, int]


def allowed(queue_policy: str | None, topic_arn: str) -> tuple[bool, str | None]:
    """May ``topic_arn`` send to a queue with this policy? Always yes for now (policies arrive with IAM);
    the reason is recorded with the delivery so enforcement can land without rework."""
    if not queue_policy:
        return True, "queue has no policy (not enforced yet)"
    return True, None


# == steps and strategies ===========================================================================

class Fanout:
    """What the steps of one publish transaction collect: outbox rows, and the SQS rows for standard
    queues, which are inserted together once every step has run; all in one journey (``trace_id``)."""

    __slots__ = ("outbox", "sqs_rows", "trace_id")

    def __init__(self, trace_id: str, sqs_rows: DeferredRows | None) -> None:
        self.trace_id = trace_id
        self.outbox: list[OutboxItem] = []
        self.sqs_rows = sqs_rows


class Step(ABC):
    """One subscription's part of a publish, applied inside the publish transaction."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub

    @abstractmethod
    async def apply(self, tx: Tx, fan: Fanout) -> tuple[str, str | None]:
        """Do it (or add to ``fan``); returns (outcome, reason)."""


class _Fixed(Step):
    def __init__(self, sub: Subscription, outcome: str, reason: str | None) -> None:
        super().__init__(sub)
        self.outcome = outcome
        self.reason = reason

    async def apply(self, tx: Tx, fan: Fanout) -> tuple[str, str | None]:
        return self.outcome, self.reason


class _Outboxed(Step):
    """An outbox row; its payload is built when applied (a FIFO sequence number is known by then)."""

    def __init__(self, sub: Subscription, kind: str, payload: Callable[[], dict[str, Any]]) -> None:
        super().__init__(sub)
        self.kind = kind
        self.payload = payload

    async def apply(self, tx: Tx, fan: Fanout) -> tuple[str, str | None]:
        fan.outbox.append(OutboxItem(self.kind, self.sub.arn, self.payload(), fan.trace_id))
        return "queued", None


class _ToQueue(Step):
    def __init__(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription, queue: QueueRef | None, dlq: QueueRef | None,
                 note: str | None,
                 missing: str | None) -> None:
        super().__init__(sub)
        self.pipe, self.msg, self.queue, self.dlq, self.note, self.missing = pipe, msg, queue, dlq, note, missing

    async def apply(self, tx: Tx, fan: Fanout) -> tuple[str, str | None]:
        msg, sub = self.msg, self.sub
        if sub.raw:
            body = msg.text_for("sqs")
            attrs = cast("dict[str, MessageAttributeValue]", sqs_attributes(msg.attributes)) if msg.attributes else None
        else:
            body = msg.notification_json("sqs", sub.arn)
            attrs = None
        why = self.missing
        if self.queue is not None:
            fifo = self.queue.fifo
            try:
                await self.pipe.sqs.enqueue_in(tx, self.queue, body, attrs, trace_id=fan.trace_id,
                                               group_id=msg.group_id if fifo else None,
                                               dedup_id=msg.dedup_id if fifo else None, source_arn=sub.topic_arn,
                                               sender_id=SNS_SENDER_ID, defer=fan.sqs_rows)
                return "delivered", self.note
            except ServiceError as e:
                why = f"queue {sub.endpoint} refused the message: {e.code}: {e.message}"
        return await self.pipe.dead_letter_in(tx, sub, self.dlq, body, attrs, msg.group_id, msg.dedup_id,
                                              why or "queue unavailable", fan.trace_id)


class Strategy(ABC):
    protocols: tuple[str, ...] = ()

    def signs(self, sub: Subscription) -> str | None:
        """The protocol whose signed notification ``sub`` gets, or None when it gets none."""
        return None

    @abstractmethod
    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step: ...


class SqsStrategy(Strategy):
    protocols = ("sqs",)

    def signs(self, sub: Subscription) -> str | None:
        return None if sub.raw else "sqs"

    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step:
        if not sub.raw:
            await msg.presign("sqs")
        queue = await pipe.sqs.queue(sub.endpoint)
        dlq = await pipe.sqs.queue(sub.dlq_arn) if sub.dlq_arn else None
        note = None
        missing = None
        if queue is None:
            missing = f"queue {sub.endpoint} does not exist"
        else:
            ok, note = allowed(queue.attributes.get("Policy"), sub.topic_arn)
            if not ok:
                queue, missing = None, f"queue policy denies {sub.topic_arn}: {note}"
        return _ToQueue(pipe, msg, sub, queue, dlq, note, missing)


class HttpStrategy(Strategy):
    protocols = ("http", "https")

    def signs(self, sub: Subscription) -> str | None:
        return None if sub.raw else sub.protocol

    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step:
        if not sub.raw:
            await msg.presign(sub.protocol)
        headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": msg.message_id,
                   "x-amz-sns-topic-arn": msg.topic_arn, "x-amz-sns-subscription-arn": sub.arn}
        if sub.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        policy = pipe.effective_policy(sub)
        headers["Content-Type"] = (policy.get("requestPolicy") or {}).get("headerContentType") \
            or "text/plain; charset=UTF-8"

        def payload() -> dict[str, Any]:
            body = msg.text_for(sub.protocol) if sub.raw else msg.notification_json(sub.protocol, sub.arn)
            return {"url": sub.endpoint, "body": body, "headers": headers, "message_id": msg.message_id,
                    "topic": msg.topic_arn, "protocol": sub.protocol, "attempt": 1,
                    "retry": policy["healthyRetryPolicy"], "dlq": sub.dlq_arn, "account": sub.account}

        return _Outboxed(sub, "sns-http", payload)


class LambdaStrategy(Strategy):
    protocols = ("lambda",)

    def signs(self, sub: Subscription) -> str | None:
        return "lambda"

    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step:
        await msg.presign("lambda")
        return _Outboxed(sub, "sns-lambda", lambda: {
            "function": sub.endpoint, "event": msg.lambda_event(sub.arn).decode(), "message_id": msg.message_id,
            "topic": msg.topic_arn, "attempt": 1, "dlq": sub.dlq_arn,
            "body": msg.notification_json("lambda", sub.arn)})


class EmailStrategy(Strategy):
    protocols = ("email", "email-json")

    def signs(self, sub: Subscription) -> str | None:
        return "email-json" if sub.protocol == "email-json" else None

    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step:
        if sub.protocol == "email-json":
            await msg.presign("email-json")
        sender = f"{msg.display_name} <{SENDER}>" if msg.display_name else f"AWS Notifications <{SENDER}>"

        def payload() -> dict[str, Any]:
            subject, body = msg.email(sub.protocol, sub.arn, sub.endpoint)
            return {"kind": sub.protocol, "to": sub.endpoint, "from": sender, "subject": subject, "body": body,
                    "message_id": msg.message_id, "topic": msg.topic_arn, "account": sub.account,
                    "region": sub.region, "attempt": 1}

        return _Outboxed(sub, "sns-mail", payload)


class SmsStrategy(Strategy):
    """No SMS gateway here: texts go to the local mailbox (``tsunagi mail``), addressed to the number."""

    protocols = ("sms",)

    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step:
        text = msg.text_for("sms")
        if msg.display_name:
            text = f"{msg.display_name}> {text}"
        return _Outboxed(sub, "sns-mail", lambda: {
            "kind": "sms", "to": sub.endpoint, "from": msg.display_name or "SNS", "subject": "", "body": text,
            "message_id": msg.message_id, "topic": msg.topic_arn, "account": sub.account, "region": sub.region,
            "attempt": 1, "local_only": True})


class UnavailableStrategy(Strategy):
    protocols = ("application", "firehose")

    async def prepare(self, pipe: SnsPipe, msg: Outgoing, sub: Subscription) -> Step:
        what = "mobile push (platform applications)" if sub.protocol == "application" else "Kinesis Data Firehose"
        return _Fixed(sub, "failed", f"{what} is not available in tsunagi")


STRATEGIES: dict[str, Strategy] = {}
for _cls in (SqsStrategy, HttpStrategy, LambdaStrategy, EmailStrategy, SmsStrategy, UnavailableStrategy):
    for _p in _cls.protocols:
        STRATEGIES[_p] = _cls()


# == the pipe: strategies' shared services and the outbox handlers =====================================

class SnsPipe:
    def __init__(self, platform: Platform, repo: SnsRepo) -> None:
        self.platform = platform
        self.repo = repo
        self.store = platform.store
        self.clock = platform.clock
        self.outbox = outbox_for(platform)
        self.topic_delivery_policy: dict[str, str | None] = {}   # filled by the service per publish

    @property
    def sqs(self) -> SqsPort:
        port = self.platform.ports.find(SQS)
        if port is None:
            raise PermanentFailure("this server does not run the sqs service")
        return port

    def register(self) -> None:
        self.outbox.register("sns-http", self._http)
        self.outbox.register("sns-lambda", self._lambda)
        self.outbox.register("sns-mail", self._mail)

    def effective_policy(self, sub: Subscription) -> dict[str, Any]:
        from tsunagi.services.sns.attributes import effective_delivery_policy

        return effective_delivery_policy(self.topic_delivery_policy.get(sub.topic_arn),
                                         sub.attributes.get("DeliveryPolicy"))

    def strategy(self, protocol: str) -> Strategy:
        return STRATEGIES.get(protocol) or UnavailableStrategy()

    # -- dead letters ---------------------------------------------------------------------------------
    async def dead_letter_in(self, tx: Tx, sub: Subscription, dlq: QueueRef | None, body: str,
                             attrs: dict[str, Any] | None, group: str | None, dedup: str | None, why: str,
                             trace_id: str) -> tuple[str, str | None]:
        if dlq is None:
            if sub.dlq_arn:
                why += f"; dead-letter queue {sub.dlq_arn} does not exist"
            log.info("SNS: %s not delivered to %s: %s", sub.topic_arn, sub.arn, why)
            return "failed", why
        try:
            await self.sqs.enqueue_in(tx, dlq, body, attrs, trace_id=trace_id, group_id=group if dlq.fifo else None,
                                      dedup_id=dedup if dlq.fifo else None, source_arn=sub.arn,
                                      sender_id=SNS_SENDER_ID)
        except ServiceError as e:
            why += f"; dead-letter queue refused it: {e.code}: {e.message}"
            log.info("SNS: %s not delivered to %s: %s", sub.topic_arn, sub.arn, why)
            return "failed", why
        log.info("SNS: %s dead-lettered for %s into %s: %s", sub.topic_arn, sub.arn, sub.dlq_arn, why)
        return "dead-lettered", why

    async def _finish(self, job: Job, sub_arn: str, protocol: str, outcome: str,
                      reason: str | None, dlq_body: str | None = None) -> None:
        """Record a final outcome (dead-lettering first when the subscription has a DLQ)."""
        payload = job.payload
        now = self.clock.now_ms()
        dlq_arn = payload.get("dlq")
        dlq = None
        if outcome == "failed" and dlq_arn and dlq_body is not None:
            dlq = await self.sqs.queue(dlq_arn)
        async with self.store.transaction() as tx:
            if outcome == "failed" and dlq_arn and dlq_body is not None:
                sub = Subscription(sub_arn, payload["topic"], "", "", protocol, "", {"RedrivePolicy": orjson.dumps(
                    {"deadLetterTargetArn": dlq_arn}).decode()}, False, None, 0)
                outcome, reason = await self.dead_letter_in(tx, sub, dlq, dlq_body, None, None, None,
                                                            reason or "", job.trace_id or "")
            elif outcome != "delivered":
                log.info("SNS: %s message %s not delivered to %s: %s", payload.get("topic"),
                         payload.get("message_id"), sub_arn, reason)
            await self.repo.record(tx, [(payload.get("message_id") or "", payload.get("topic") or "", sub_arn,
                                         protocol, outcome, reason, now)])

    async def _again(self, job: Job, delay_s: float) -> None:
        """Schedule the next attempt ``delay_s`` from now."""
        nxt = {**job.payload, "attempt": int(job.payload.get("attempt", 1)) + 1}
        async with self.store.transaction() as tx:
            await self.outbox.add(tx, [OutboxItem(job.kind, job.target, nxt, job.trace_id)],
                                  delay_ms=int(delay_s * 1000))

    # -- http/https ------------------------------------------------------------------------------------
    async def _http(self, job: Job) -> None:
        target, payload = job.target, job.payload
        kind = payload["headers"].get("x-amz-sns-message-type", "Notification")
        if kind == "Notification" and await self.repo.subscription(target) is None:
            await self._finish(job, target, payload.get("protocol", "http"), "skipped",
                               "the subscription was deleted before delivery")
            return
        attempt = int(payload.get("attempt", 1))
        try:
            status, _ = await sns_http.post(payload["url"], payload["body"].encode("utf-8"), payload["headers"],
                                            insecure=self.platform.config.sns_https_insecure)
        except sns_http.HttpFailure as e:
            status, why = 0, f"{payload['url']}: {e}"
        else:
            why = f"{payload['url']} answered HTTP {status}"
        if 200 <= status < 300:
            if kind == "Notification":
                await self._finish(job, target, payload.get("protocol", "http"), "delivered",
                                   f"after {attempt} attempts" if attempt > 1 else None)
            return
        retryable = status == 0 or status >= 500 or status == 429
        delay = RetryPolicy.from_json(payload.get("retry")).delay(attempt) if retryable else None
        if delay is not None:
            log.info("SNS: %s delivery to %s failed (attempt %d, next in %.1f s): %s", kind, target, attempt,
                     delay, why)
            await self._again(job, delay)
            return
        if kind != "Notification":
            log.info("SNS: %s to %s was not delivered: %s", kind, payload["url"], why)
            return
        why = f"{why}; gave up after {attempt} attempts" if retryable else f"{why} (not retried)"
        await self._finish(job, target, payload.get("protocol", "http"), "failed", why, payload["body"])

    # -- lambda -------------------------------------------------------------------------------------
    async def _lambda(self, job: Job) -> None:
        target, payload = job.target, job.payload
        lam = self.platform.ports.find(LAMBDA)
        attempt = int(payload.get("attempt", 1))
        if await self.repo.subscription(target) is None:
            await self._finish(job, target, "lambda", "skipped", "the subscription was deleted before delivery")
            return
        if lam is None:
            await self._finish(job, target, "lambda", "failed", "this server does not run the lambda service",
                               payload.get("body"))
            return
        fn = payload["function"]
        parts = fn.split(":")
        account, region = (parts[4], parts[3]) if len(parts) >= 7 else ("", "")
        try:
            ctx = internal_context(account, region, "lambda", "Invoke", trace_id=job.trace_id,
                                   source=Source(str(payload.get("topic") or ""), "sns.amazonaws.com", account))
            await lam.invoke(ctx, fn, payload["event"].encode(), invocation_type="Event")
        except ServiceError as e:
            why = f"{fn}: {e.code}: {e.message}"
            transient = not e.sender_fault or e.code in ("TooManyRequestsException", "ThrottlingException")
            delay = LAMBDA_RETRY.delay(attempt) if transient else None
            if delay is not None:
                log.info("SNS: lambda delivery to %s failed (attempt %d, next in %.1f s): %s", fn, attempt, delay,
                         why)
                await self._again(job, delay)
                return
            await self._finish(job, target, "lambda", "failed", why, payload.get("body"))
            return
        await self._finish(job, target, "lambda", "delivered",
                           f"after {attempt} attempts" if attempt > 1 else None)

    # -- e-mail, SMS ----------------------------------------------------------------------------------
    async def _mail(self, job: Job) -> None:
        target, payload = job.target, job.payload
        smtp_url = self.platform.config.smtp_url
        kind = payload["kind"]
        confirmation = bool(payload.get("subscribe_url"))
        if not confirmation and await self.repo.subscription(target) is None:
            await self._finish(job, target, kind, "skipped", "the subscription was deleted before delivery")
            return
        if smtp_url and not payload.get("local_only"):
            try:
                await asyncio.to_thread(send_smtp, smtp_url, payload)
            except (OSError, smtplib.SMTPException) as e:
                attempt = int(payload.get("attempt", 1))
                delay = MAIL_RETRY.delay(attempt)
                why = f"SMTP {_redact(smtp_url)}: {type(e).__name__}: {e}"
                if delay is not None:
                    log.info("SNS: e-mail to %s failed (attempt %d, next in %.0f s): %s", payload["to"], attempt,
                             delay, why)
                    await self._again(job, delay)
                    return
                if not confirmation:
                    await self._finish(job, target, kind, "failed", why)
                return
            outcome_note = f"sent through {_redact(smtp_url)}"
        else:
            await self.repo.add_mail(self.store, [(
                payload.get("account") or "", payload.get("region") or "", kind, payload["to"], payload["from"],
                payload["subject"], payload["body"], payload.get("topic"), target, payload.get("message_id"),
                payload.get("subscribe_url"), self.clock.now_ms())])
            outcome_note = "in the local mailbox (tsunagi mail)"
        if not confirmation:
            await self._finish(job, target, kind, "delivered", outcome_note)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"


def send_smtp(url: str, payload: dict[str, Any]) -> None:
    """Send one message through ``smtp://[user:pass@]host[:port]`` (STARTTLS when offered) or ``smtps://``."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    msg = EmailMessage()
    msg["From"] = payload["from"]
    msg["To"] = payload["to"]
    msg["Subject"] = payload["subject"]
    msg.set_content(payload["body"])
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=30,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, parts.port or 25, timeout=30)
    with client:
        if parts.scheme != "smtps":
            client.ehlo()
            if client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(msg)
