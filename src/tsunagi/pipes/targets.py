"""The outbox's standard targets: deliveries to another service's operation, through its port.

Every payload has the envelope :func:`tsunagi.ports.outbox.to_service` writes::

    {"params": {...},                 # the target operation's input, minus the target itself
     "pipe": "s3",                    # which pipe it belongs to (for the delivery record)
     "message_id": "…",               # the source's id for what is delivered (optional)
     "source_arn": "arn:aws:s3:::b",  # who caused the delivery (optional)
     "source_service": "s3.amazonaws.com",
     "source_account": "000000000000",
     "trace_header": "Root=1-…;Parent=…"}  # the cause's X-Amzn-Trace-Id, when it had one (optional)

- ``sqs``: target a queue ARN; ``params`` as for SendMessage (``MessageBody``, attributes, …).
- ``sns``: target a topic ARN; ``params`` as for Publish (``Message``, ``Subject``, …).
- ``lambda``: target a function ARN; ``params`` as for Invoke, ``Payload`` a JSON string;
  invoked with ``InvocationType=Event``.

The call runs in the target's account and region, in the journey of the change that caused it
(the outbox row's trace id, and the trace header its request carried), as the source's service
principal, with the source's ARN and account in the context so that the target's resource policy
can be applied. A target that does not exist (or a service this server does not run) fails for
good, as does any error that is the sender's fault (except throttling); anything else is retried
by the outbox. Each delivery's outcome is one delivery record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tsunagi.context import RequestContext, Source, internal_context
from tsunagi.pipes.outbox import Job, PermanentFailure
from tsunagi.policy import Dialect
from tsunagi.ports import PortUnavailable
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.delivery_policy import ALLOW, OFF, Verdict, key_check, resource_check, warned
from tsunagi.ports.kms import KMS
from tsunagi.ports.sns import SNS
from tsunagi.ports.sqs import SQS
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform
from tsunagi.store.deliveries import DELIVERED, DENIED, FAILED, Delivery

if TYPE_CHECKING:
    from tsunagi.pipes.outbox import Outbox

T = TypeVar("T")

_TRANSIENT = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestThrottled",
                        "ServiceUnavailable", "KMSThrottlingException"})


def parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of ``arn:aws:<service>:<region>:<account>:<resource>``."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise PermanentFailure(f"{arn!r} is not an ARN")
    return parts[2], parts[3], parts[4], parts[5]


def source_of(payload: dict[str, Any]) -> Source | None:
    arn = payload.get("source_arn")
    if not arn:
        return None
    return Source(str(arn), payload.get("source_service"), payload.get("source_account"))


def context_for(job: Job, service: str, operation: str) -> RequestContext:
    """The context a delivery runs in: the target's account and region, the job's journey and source."""
    _svc, region, account, _res = parse_arn(job.target)
    header = job.payload.get("trace_header")
    return internal_context(account, region, service, operation, trace_id=job.trace_id,
                            trace_header=header if isinstance(header, str) else None, source=source_of(job.payload))


def register_standard(outbox: Outbox) -> None:
    platform = outbox.platform

    mode = platform.config.policies

    async def to_sqs(job: Job) -> None:
        ctx = context_for(job, "sqs", "SendMessage")
        params = job.payload.get("params", {})
        attributes = params.get("MessageAttributes")
        verdict = await _allowed(platform, mode, job, "sqs")
        if not verdict.allowed:
            return await record(outbox, job, "sqs", DENIED, verdict.reason)
        await _call(outbox, job, lambda: platform.ports.get(SQS).send(
            ctx, job.target, params.get("MessageBody", ""), attributes=attributes,
            group_id=params.get("MessageGroupId"), dedup_id=params.get("MessageDeduplicationId"),
            delay_seconds=params.get("DelaySeconds")), "sqs", verdict.reason)

    async def to_sns(job: Job) -> None:
        ctx = context_for(job, "sns", "Publish")
        params = job.payload.get("params", {})
        verdict = await _allowed(platform, mode, job, "sns")
        if not verdict.allowed:
            return await record(outbox, job, "sns", DENIED, verdict.reason)
        await _call(outbox, job, lambda: platform.ports.get(SNS).publish(
            ctx, job.target, params.get("Message", ""), subject=params.get("Subject"),
            attributes=params.get("MessageAttributes"), group_id=params.get("MessageGroupId"),
            dedup_id=params.get("MessageDeduplicationId")), "sns", verdict.reason)

    async def to_lambda(job: Job) -> None:
        ctx = context_for(job, "lambda", "Invoke")
        params = job.payload.get("params", {})
        body = params.get("Payload") or b""
        if isinstance(body, str):
            body = body.encode()
        verdict = await _allowed(platform, mode, job, "lambda")
        if not verdict.allowed:
            return await record(outbox, job, "lambda", DENIED, verdict.reason)
        await _call(outbox, job, lambda: platform.ports.get(LAMBDA).invoke(
            ctx, job.target, body, invocation_type=params.get("InvocationType", "Event"),
            qualifier=params.get("Qualifier")), "lambda", verdict.reason)

    outbox.register("sqs", to_sqs)
    outbox.register("sns", to_sns)
    outbox.register("lambda", to_lambda)


async def _allowed(platform: Platform, mode: str, job: Job, kind: str) -> Verdict:
    """Whether the target's policies let the source's service principal deliver ``job`` (see
    :mod:`tsunagi.ports.delivery_policy`): only deliveries made by a service principal (an S3
    notification) are checked; a target that does not exist is left to the call to report."""
    source = source_of(job.payload)
    if mode == OFF or source is None or not source.service:
        return ALLOW
    principal = source.service
    ports = platform.ports
    if kind == "sqs":
        sqs = ports.find(SQS)
        queue = await sqs.queue(job.target) if sqs is not None else None
        if queue is None:
            return ALLOW
        verdict = resource_check(mode, policy=queue.attributes.get("Policy"), dialect=Dialect.SQS,
                                 resource_arn=queue.arn, resource_account=queue.account, principal=principal,
                                 action="sqs:SendMessage", source_arn=source.arn, source_account=source.account)
        if verdict.reason:
            return verdict
        return await key_check(mode, ports.find(KMS), queue.attributes.get("KmsMasterKeyId"), holder="sqs",
                               holder_arn=queue.arn, account=queue.account, region=queue.region,
                               principal=principal, source_arn=source.arn, source_account=source.account)
    if kind == "sns":
        sns = ports.find(SNS)
        topic = await sns.topic(job.target) if sns is not None else None
        if topic is None:
            return ALLOW
        verdict = resource_check(mode, policy=topic.attributes.get("Policy"), dialect=Dialect.SNS,
                                 resource_arn=topic.arn, resource_account=topic.account, principal=principal,
                                 action="SNS:Publish", source_arn=source.arn, source_account=source.account)
        if verdict.reason:
            return verdict
        return await key_check(mode, ports.find(KMS), topic.attributes.get("KmsMasterKeyId"), holder="sns",
                               holder_arn=topic.arn, account=topic.account, region=topic.region,
                               principal=principal, source_arn=source.arn, source_account=source.account)
    lam = ports.find(LAMBDA)
    _svc, region, account, _res = parse_arn(job.target)
    fn = await lam.function(job.target, account, region) if lam is not None else None
    if fn is None:
        return ALLOW
    return resource_check(mode, policy=fn.policy, dialect=Dialect.LAMBDA, resource_arn=fn.arn,
                          resource_account=fn.account, principal=principal, action="lambda:InvokeFunction",
                          source_arn=source.arn, source_account=source.account)


async def _call(outbox: Outbox, job: Job, call: Callable[[], Awaitable[T]], protocol: str,
                warning: str | None = None) -> T:
    try:
        result = await call()
    except PortUnavailable as e:
        raise PermanentFailure(str(e)) from None
    except ServiceError as e:
        if e.sender_fault and e.code not in _TRANSIENT:   # the target is gone or refuses: retrying won't help
            raise PermanentFailure(f"{job.target}: {e.code}: {e.message}") from None
        raise
    await record(outbox, job, protocol, DELIVERED, warned(warning) if warning else None)
    return result


async def record(outbox: Outbox, job: Job, protocol: str | None, outcome: str, reason: str | None) -> None:
    """One delivery record for a job whose payload names its pipe (envelopes from ``to_service``)."""
    pipe = job.payload.get("pipe")
    if not pipe:
        return
    source = source_of(job.payload)
    _svc, region, account, _res = parse_arn(job.target)
    await outbox.platform.deliveries.record_in(outbox.store, [Delivery(
        job.trace_id or "", outbox.clock.now_ms(), (source.account if source and source.account else account),
        region, str(pipe), source.arn if source else "", job.payload.get("message_id"), job.target, protocol,
        outcome, reason)])


async def record_failure(outbox: Outbox, job: Job, reason: str) -> None:
    """The outbox gave up on a job (it failed for good, or ran out of attempts)."""
    try:
        await record(outbox, job, job.kind, FAILED, reason)
    except PermanentFailure:
        pass
