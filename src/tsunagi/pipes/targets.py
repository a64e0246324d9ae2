"""Outbox handlers that deliver to another service through its own operations.

Every payload has the same envelope::

    {"params": {...},                 # the target operation's input, minus the target itself
     "source_arn": "arn:aws:s3:::b",  # who caused the delivery (optional)
     "source_service": "s3.amazonaws.com",
     "source_account": "000000000000"}

- ``sqs``: target a queue ARN; ``params`` as for SendMessage (``MessageBody``, attributes, …).
- ``sns``: target a topic ARN; ``params`` as for Publish (``Message``, ``Subject``, …).
- ``lambda``: target a function ARN; ``params`` as for Invoke, ``Payload`` a JSON string;
  invoked with ``InvocationType=Event``.

The call runs with a :class:`RequestContext` for the target's account and region, with
``ctx.extra`` carrying ``source_arn`` / ``source_service`` / ``source_account`` so the target can
apply its resource policy. A target that does not exist (or a service this server does not
run) fails for good, as does any error that is the sender's fault (except throttling);
anything else is retried by the outbox.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tsunagi.pipes.outbox import PermanentFailure
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import RequestContext

if TYPE_CHECKING:
    from tsunagi.pipes.outbox import Outbox
    from tsunagi.services.base import Service

_TRANSIENT = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestThrottled",
                        "ServiceUnavailable", "KMSThrottlingException"})


def parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of ``arn:aws:<service>:<region>:<account>:<resource>``."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise PermanentFailure(f"{arn!r} is not an ARN")
    return parts[2], parts[3], parts[4], parts[5]


def context_for(arn: str, service: str, operation: str, payload: dict[str, Any]) -> RequestContext:
    _svc, region, account, _res = parse_arn(arn)
    ctx = RequestContext(account=account, region=region, request_id=str(uuid.uuid4()), service=service,
                         operation=operation, principal_arn=payload.get("source_arn"))
    for k in ("source_arn", "source_service", "source_account"):
        if payload.get(k) is not None:
            ctx.extra[k] = payload[k]
    return ctx


def _service(outbox: Outbox, name: str) -> Service:
    svc = outbox.platform.services.get(name)
    if svc is None:
        raise PermanentFailure(f"this server does not run the {name} service")
    return svc


def register_standard(outbox: Outbox) -> None:
    async def to_sqs(target: str, payload: dict[str, Any]) -> None:
        svc = _service(outbox, "sqs")
        _s, _region, account, name = parse_arn(target)
        ctx = context_for(target, "sqs", "SendMessage", payload)
        params = {**payload.get("params", {}), "QueueUrl": f"http://localhost/{account}/{name}"}
        await _call(svc, "send_message", ctx, params, target)

    async def to_sns(target: str, payload: dict[str, Any]) -> None:
        svc = _service(outbox, "sns")
        ctx = context_for(target, "sns", "Publish", payload)
        await _call(svc, "publish", ctx, {**payload.get("params", {}), "TopicArn": target}, target)

    async def to_lambda(target: str, payload: dict[str, Any]) -> None:
        svc = _service(outbox, "lambda")
        ctx = context_for(target, "lambda", "Invoke", payload)
        params = dict(payload.get("params", {}))
        body = params.get("Payload")
        if isinstance(body, str):
            params["Payload"] = body.encode()
        params.setdefault("InvocationType", "Event")
        await _call(svc, "invoke", ctx, {**params, "FunctionName": target}, target)

    outbox.register("sqs", to_sqs)
    outbox.register("sns", to_sns)
    outbox.register("lambda", to_lambda)


async def _call(svc: Service, method: str, ctx: RequestContext, params: dict[str, Any], target: str) -> None:
    fn = getattr(svc, method, None)
    if fn is None:
        raise PermanentFailure(f"the {svc.name} service has no {method}")
    try:
        await fn(ctx, params)
    except ServiceError as e:
        if e.sender_fault and e.code not in _TRANSIENT:   # the target is gone or refuses: retrying won't help
            raise PermanentFailure(f"{target}: {e.code}: {e.message}") from None
        raise
