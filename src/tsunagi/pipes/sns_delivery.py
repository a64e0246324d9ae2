"""SNS's outbox handlers: the deliveries a publish (or a Subscribe) wrote to the outbox, run after
it committed.

- ``sns-http``: POST a notification or subscription confirmation to an http/https endpoint
  (:mod:`.sns_http`);
- ``sns-lambda``: invoke a subscribed function (``Event``) through :class:`~tsunagi.ports.awslambda.LambdaPort`,
  in the publish's journey, as ``sns.amazonaws.com`` for the topic;
- ``sns-mail``: e-mail through the configured SMTP server (``TSUNAGI_SMTP_URL``), else into SNS's local
  mailbox (``tsunagi mail``), as texts and mobile push notifications always are;
- ``sns-event``: a platform application's event notice (a DeliveryFailure) published to its topic.

Everything a handler needs travels in the row's payload (the body, the URL, the retry policy, the
dead-letter queue); the fan-out that writes them is ``services/sns/fanout.py``. A notification to a
subscription deleted since is skipped. Retries follow SNS rather than the outbox's own backoff: a failed
attempt writes a follow-up row due after the delivery policy's delay (``attempt`` counts in the
payload) and the current row is finished; a crash between the two costs at most a duplicate attempt.
Once retries are used up the body goes to the subscription's dead-letter queue (through
:class:`~tsunagi.ports.sqs.SqsPort`, when it has one). Each final outcome is a delivery record
(``store/deliveries.py``) in the row's journey, and a message that does not arrive is logged at INFO.

Payload members every notification row has: ``message_id``, ``source_arn`` (the topic), ``protocol``,
``pipe`` (``"sns"``), ``attempt``, and ``dlq`` (a queue ARN or None); confirmations have no ``pipe``
(no delivery record) and direct SMS no topic.

A row of a topic with a KMS key is sealed (``services/sns/sealing.py``): only those members are in
the clear, and :meth:`~tsunagi.ports.sns.SnsPort.open_delivery` opens the rest when the row runs. While
KMS will not decrypt its data key (the key is disabled or pending deletion) the row waits and is tried
again every :data:`KMS_RETRY_S` seconds, still sealed, its attempts not counted: the message is kept.
Only a key that no longer exists ends it (a failed delivery, recorded).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tsunagi import outbound
from tsunagi.context import Source, internal_context
from tsunagi.pipes import sns_http
from tsunagi.pipes.outbox import Job, PermanentFailure
from tsunagi.ports import PortUnavailable
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.cloudwatch import COUNTERS
from tsunagi.ports.outbox import JsonObject, OutboxItem
from tsunagi.ports.sns import SEALED, SNS, SNS_SENDER_ID, NewMail, RetryPolicy, SnsPort, sealed_form
from tsunagi.ports.sqs import SQS
from tsunagi.protocol.errors import ServiceError
from tsunagi.store.deliveries import DEAD_LETTERED, DELIVERED, FAILED, SKIPPED, Delivery

if TYPE_CHECKING:
    from tsunagi.pipes.outbox import Outbox

log = logging.getLogger("tsunagi.sns.delivery")

PIPE = "sns"
# Lambda subscriptions: AWS retries 3 times at once, twice 1 s apart, then backs off to 20 s.
LAMBDA_RETRY = RetryPolicy(min_delay=1, max_delay=20, num_retries=50, num_no_delay=3, num_min_delay=2,
                           num_max_delay=35, backoff="exponential")
MAIL_RETRY = RetryPolicy(min_delay=5, max_delay=300, num_retries=20, backoff="exponential")
GONE = "the subscription was deleted before delivery"
# AWS/SNS metrics of a delivery's final outcome (a subscription gone before delivery counts as neither)
_OUTCOME_METRIC = {DELIVERED: "NumberOfNotificationsDelivered", FAILED: "NumberOfNotificationsFailed",
                   DEAD_LETTERED: "NumberOfNotificationsFailed"}
KMS_RETRY_S = 60.0      # a sealed row whose key KMS will not use now is tried again this much later


def register(outbox: Outbox) -> None:
    """Give ``outbox`` SNS's handlers."""
    handlers = SnsHandlers(outbox)
    outbox.register("sns-http", handlers.http)
    outbox.register("sns-lambda", handlers.invoke)
    outbox.register("sns-mail", handlers.mail)
    outbox.register("sns-event", handlers.event)


def _topic_of(payload: JsonObject) -> str:
    """The topic a row is for (``topic``: rows written before the rows named it ``source_arn``)."""
    return str(payload.get("source_arn") or payload.get("topic") or "")


def _account_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


class SnsHandlers:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.platform = outbox.platform
        self.store = outbox.store
        self.clock = outbox.clock
        config = self.platform.config
        self.guard = outbound.SelfNames([*config.hostnames, config.public_host()])

    @property
    def sns(self) -> SnsPort:
        try:
            return self.platform.ports.get(SNS)
        except PortUnavailable as e:
            raise PermanentFailure(str(e)) from None

    # -- the end of a delivery ----------------------------------------------------------------------
    async def _finish(self, job: Job, protocol: str, outcome: str, reason: str | None,
                      dlq_body: str | None = None) -> None:
        """Record a notification's final outcome, dead-lettering first when it failed and the
        subscription has a dead-letter queue."""
        payload = job.payload
        topic = _topic_of(payload)
        dlq_arn = str(payload.get("dlq") or "")
        trace_id = job.trace_id or ""
        dead_letter = outcome == FAILED and bool(dlq_arn) and dlq_body is not None
        sqs = self.platform.ports.find(SQS) if dead_letter else None
        dlq = await sqs.queue(dlq_arn) if sqs is not None else None
        async with self.store.transaction() as tx:
            if dead_letter:
                why = reason or ""
                if sqs is None:
                    why += f"; dead-letter queue {dlq_arn}: this server does not run the sqs service"
                elif dlq is None:
                    why += f"; dead-letter queue {dlq_arn} does not exist"
                else:
                    assert dlq_body is not None
                    try:
                        await sqs.enqueue_in(tx, dlq, dlq_body, trace_id=trace_id, source_arn=job.target,
                                             sender_id=SNS_SENDER_ID)
                        outcome = DEAD_LETTERED
                    except ServiceError as e:
                        why += f"; dead-letter queue refused it: {e.code}: {e.message}"
                reason = why
                if outcome == DEAD_LETTERED:
                    log.info("SNS: %s dead-lettered for %s into %s: %s", topic, job.target, dlq_arn, reason)
                else:
                    log.info("SNS: %s not delivered to %s: %s", topic, job.target, reason)
            elif outcome != DELIVERED:
                log.info("SNS: %s message %s not delivered to %s: %s", topic, payload.get("message_id"), job.target,
                         reason)
            account, region = _account_region(topic)
            await self.platform.deliveries.record_in(tx, [Delivery(
                trace_id, self.clock.now_ms(), account, region, PIPE, topic, payload.get("message_id") or "",
                job.target, protocol, outcome, reason)])
        counters = self.platform.ports.find(COUNTERS)
        name = _OUTCOME_METRIC.get(outcome)
        if counters is not None and topic and name is not None:
            counters.add(account, region, "AWS/SNS", name, (("TopicName", topic.rsplit(":", 1)[-1]),))

    async def _opened(self, job: Job, protocol: str) -> Job | None:
        """``job`` with its payload opened when it is sealed; None when it cannot be now (tried again
        later) or ever (a key that no longer exists: recorded as failed)."""
        if SEALED not in job.payload:
            return job
        try:
            return job._replace(payload=await self.sns.open_delivery(job.target, job.payload))
        except ServiceError as e:
            why = f"the topic's KMS key cannot decrypt the message: {e.code}: {e.message}"
            if e.code == "KMSNotFound":
                await self._finish(job, protocol, FAILED, why)
                return None
            log.info("SNS: delivery to %s waits (next try in %.0f s): %s", job.target, KMS_RETRY_S, why)
            await self._again(job, KMS_RETRY_S, count=False)
            return None

    async def _again(self, job: Job, delay_s: float, *, count: bool = True) -> None:
        """Schedule the next attempt ``delay_s`` from now, in the same journey (a sealed row stays
        sealed; ``count=False``: the attempt number is not advanced)."""
        nxt = sealed_form({**job.payload, "attempt": int(job.payload.get("attempt", 1)) + (1 if count else 0)})
        async with self.store.transaction() as tx:
            await self.outbox.add(tx, [OutboxItem(job.kind, job.target, nxt, job.trace_id)],
                                  delay_ms=int(delay_s * 1000))

    # -- http/https ---------------------------------------------------------------------------------
    async def http(self, job: Job) -> None:
        opened = await self._opened(job, str(job.payload.get("protocol", "http")))
        if opened is None:
            return
        job = opened
        target, payload = job.target, job.payload
        protocol = payload.get("protocol", "http")
        kind = payload["headers"].get("x-amz-sns-message-type", "Notification")
        if kind == "Notification" and not await self.sns.subscribed(target):
            await self._finish(job, protocol, SKIPPED, GONE)
            return
        attempt = int(payload.get("attempt", 1))
        try:
            status, _ = await sns_http.post(payload["url"], payload["body"].encode("utf-8"), payload["headers"],
                                            guard=self.guard, insecure=self.platform.config.sns_https_insecure)
        except sns_http.Refused as e:
            log.warning("SNS: %s to %s refused: %s", kind, target, e)
            if kind == "Notification":
                await self._finish(job, protocol, FAILED, f"{e} (not retried)", payload["body"])
            return
        except sns_http.HttpFailure as e:
            status, why = 0, f"{payload['url']}: {e}"
        else:
            why = f"{payload['url']} answered HTTP {status}"
        if 200 <= status < 300:
            if kind == "Notification":
                await self._finish(job, protocol, DELIVERED, f"after {attempt} attempts" if attempt > 1 else None)
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
        await self._finish(job, protocol, FAILED, why, payload["body"])

    # -- lambda -------------------------------------------------------------------------------------
    async def invoke(self, job: Job) -> None:
        opened = await self._opened(job, "lambda")
        if opened is None:
            return
        job = opened
        target, payload = job.target, job.payload
        attempt = int(payload.get("attempt", 1))
        if not await self.sns.subscribed(target):
            await self._finish(job, "lambda", SKIPPED, GONE)
            return
        lam = self.platform.ports.find(LAMBDA)
        if lam is None:
            await self._finish(job, "lambda", FAILED, "this server does not run the lambda service", payload.get("body"))
            return
        fn = payload["function"]
        topic = _topic_of(payload)
        account, region = _account_region(fn)
        topic_account, _region = _account_region(topic)
        ctx = internal_context(account, region, "lambda", "Invoke", trace_id=job.trace_id,
                               source=Source(topic, "sns.amazonaws.com", topic_account or account))
        try:
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
            await self._finish(job, "lambda", FAILED, why, payload.get("body"))
            return
        await self._finish(job, "lambda", DELIVERED, f"after {attempt} attempts" if attempt > 1 else None)

    # -- e-mail, SMS --------------------------------------------------------------------------------
    async def mail(self, job: Job) -> None:
        opened = await self._opened(job, str(job.payload.get("kind") or job.payload.get("protocol") or "email"))
        if opened is None:
            return
        job = opened
        target, payload = job.target, job.payload
        smtp_url = self.platform.config.smtp_url
        kind = payload["kind"]
        protocol = str(payload.get("protocol") or kind)     # a push notification's kind is push, its protocol application
        confirmation = bool(payload.get("subscribe_url"))
        if not confirmation and not await self.sns.subscribed(target):
            await self._finish(job, protocol, SKIPPED, GONE)
            return
        if smtp_url and not payload.get("local_only"):
            import smtplib  # only a server given an SMTP server sends mail through one

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
                    await self._finish(job, protocol, FAILED, why)
                return
            outcome_note = f"sent through {_redact(smtp_url)}"
        else:
            await self.sns.add_mail(NewMail(
                payload.get("account") or "", payload.get("region") or "", kind, payload["to"], payload["from"],
                payload["subject"], payload["body"], _topic_of(payload) or None, target, payload.get("message_id"),
                payload.get("subscribe_url"), self.clock.now_ms()))
            outcome_note = "in the local mailbox (tsunagi mail)"
        if not confirmation:
            await self._finish(job, protocol, DELIVERED, outcome_note)


    # -- a platform application's events -------------------------------------------------------------
    async def event(self, job: Job) -> None:
        """Publish a platform application's event notice to its Event* topic (``job.target``), as the
        application's owner. A topic that is gone or refuses it costs the notice only, as on AWS."""
        payload = job.payload
        ctx = internal_context(str(payload.get("account") or ""), str(payload.get("region") or ""), "sns",
                               "Publish", trace_id=job.trace_id,
                               source=Source(str(payload.get("source_arn") or ""), None, payload.get("account")))
        try:
            await self.sns.publish(ctx, job.target, str(payload["message"]))
        except ServiceError as e:
            log.info("SNS: event of %s not published to %s: %s: %s", payload.get("source_arn"), job.target, e.code,
                     e.message)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"


def send_smtp(url: str, payload: dict[str, Any]) -> None:
    """Send one message through ``smtp://[user:pass@]host[:port]`` (STARTTLS when offered) or ``smtps://``."""
    import smtplib
    from email.message import EmailMessage

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
