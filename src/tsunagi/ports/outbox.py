"""The outbox as services see it: deliveries written in the transaction of the change that causes them.

A service that must cause a delivery (an S3 commit → its event notifications, a function's result →
its destination) writes :class:`OutboxItem` rows with :meth:`OutboxPort.add` inside *its own*
transaction; once that commits, the dispatcher (``pipes/outbox.py``) runs them until each succeeds
or fails for good, and records the outcome (``store/deliveries.py``). Every item carries the trace
id of the journey that caused it.

Kinds the platform handles (``pipes/targets.py``): ``sqs``, ``sns`` and ``lambda``, whose payload is
:func:`to_service`'s envelope; services may register more (SNS: ``sns-http``, ``sns-lambda``,
``sns-mail``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

from tsunagi.context import Source
from tsunagi.store.base import Tx

JsonObject = dict[str, Any]     # a JSON document (the payload is stored as JSON)


class OutboxItem(NamedTuple):
    kind: str                   # the handler that delivers it
    target: str                 # usually an ARN
    payload: JsonObject
    trace_id: str | None = None


class OutboxPort(Protocol):
    async def add(self, tx: Tx, items: Iterable[OutboxItem], *, delay_ms: int = 0) -> int:
        """Write ``items`` in ``tx``, due ``delay_ms`` after now; they run once it commits. Returns how many."""
        ...


def to_service(kind: str, target: str, params: JsonObject, *, source: Source | None, trace_id: str | None,
               pipe: str, message_id: str | None = None, trace_header: str | None = None) -> OutboxItem:
    """A delivery to another service's operation (``kind`` ``sqs``: SendMessage to the queue ARN
    ``target``; ``sns``: Publish to the topic; ``lambda``: an Event invocation of the function).
    ``params`` is the operation's input without the target; ``source`` is what caused it (its
    ARN, service principal and account, for the target's resource policy); ``pipe`` and
    ``message_id`` go into the delivery record. ``trace_header`` is the ``X-Amzn-Trace-Id`` the
    cause's request carried, if any: the delivery passes it on (a message's ``AWSTraceHeader``)."""
    payload: JsonObject = {"params": params, "pipe": pipe}
    if trace_header is not None:
        payload["trace_header"] = trace_header
    if source is not None:
        payload["source_arn"] = source.arn
        if source.service:
            payload["source_service"] = source.service
        if source.account:
            payload["source_account"] = source.account
    if message_id is not None:
        payload["message_id"] = message_id
    return OutboxItem(kind, target, payload, trace_id)
