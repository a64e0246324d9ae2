"""What follows a write to a log group: its subscription filters' deliveries and its metric filters' data.

Every append (PutLogEvents, and :meth:`LogsService.append` through the Logs port: function and task
output) asks :meth:`Fanout.plan` for the group's filters (cached per node for ``TTL`` seconds, cleared
at once on this node when a filter changes). Then:

- **subscription filters**: the events each filter matches become outbox rows (``lambda``, invoked as
  ``Event`` by ``logs.amazonaws.com`` with the group's ARN as the source) written *in the write's
  transaction*, so they are delivered once it commits, outside the request, retried and recorded like
  every other pipe. The function receives AWS's payload: ``{"awslogs": {"data": base64(gzip(json))}}``
  with messageType ``DATA_MESSAGE``, owner, logGroup, logStream, subscriptionFilters and logEvents
  (``id``, ``timestamp``, ``message``), at most ``MAX_PAYLOAD_BYTES`` of messages per invocation.
- **metric filters** (:mod:`.metric_filters`) and **embedded metric format** documents (:mod:`.emf`, in
  every group, with or without filters): the data points are handed to the CloudWatch metrics port after
  the write commits, in a background task; without that port they are skipped.

Loops: a function subscribed to the group its own logs go to would be invoked by its own output for
ever. Events written through the Logs port (function output) are therefore never delivered to a
function whose log group is the group written: that function's own lines cannot reach it again.
PutLogEvents' events are always delivered. (A cycle through two functions, each subscribed to the
other's group, is not detected; AWS does not detect it either.)
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tsunagi.context import Source
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.outbox import OutboxItem, to_service
from tsunagi.services.logs.patterns import FilterPattern, compile_pattern
from tsunagi.store.base import Tx
from tsunagi.store.logs_filters import METRIC, SUBSCRIPTION, FilterRow, LogsFiltersRepo

if TYPE_CHECKING:
    from tsunagi.services.logs.metric_filters import MetricFilter
    from tsunagi.services.logs.service import LogsService

log = logging.getLogger("tsunagi.logs")

LOGS_PRINCIPAL = "logs.amazonaws.com"
TTL = 2.0                           # seconds a node trusts its cached filters of a group
MAX_PAYLOAD_BYTES = 256 * 1024      # messages per invocation (before gzip)
PIPE = "logs-subscription"
CONTROL_TEXT = "CWL CONTROL MESSAGE: Checking health of destination Lambda function."

_ids = itertools.count(secrets.randbelow(10 ** 30))


def event_id(ts: int) -> str:
    """A 56-digit event id, as AWS's: the timestamp, then a number unique to this node."""
    return f"{max(ts, 0):020d}{next(_ids) % 10 ** 36:036d}"


def awslogs_payload(doc: dict[str, Any]) -> str:
    """The Invoke payload a function subscribed to a log group receives."""
    data = base64.b64encode(gzip.compress(json.dumps(doc, separators=(",", ":")).encode())).decode()
    return json.dumps({"awslogs": {"data": data}})


def group_source_arn(region: str, account: str, group: str) -> str:
    """The source ARN a delivery carries (``aws:SourceArn``): the group's ARN with ``:*``, as in AWS's
    ``add-permission --source-arn`` examples."""
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:*"


def delivery(account: str, region: str, group: str, function_arn: str, doc: dict[str, Any],
             trace_id: str | None) -> OutboxItem:
    return to_service("lambda", function_arn, {"Payload": awslogs_payload(doc), "InvocationType": "Event"},
                      source=Source(group_source_arn(region, account, group), LOGS_PRINCIPAL, account),
                      trace_id=trace_id, pipe=PIPE)


def control_message(account: str, region: str, function_arn: str, now_ms: int,
                    trace_id: str | None) -> OutboxItem:
    """What AWS sends a destination when a subscription filter is created."""
    doc = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": now_ms, "message": CONTROL_TEXT}]}
    return to_service("lambda", function_arn, {"Payload": awslogs_payload(doc), "InvocationType": "Event"},
                      source=Source(function_arn, LOGS_PRINCIPAL, account), trace_id=trace_id, pipe=PIPE)


@dataclass
class Subscription:
    name: str
    pattern: FilterPattern
    destination: str
    loops: bool             # the destination function logs to this very group


@dataclass
class Plan:
    """The filters of one group, compiled."""

    subscriptions: list[Subscription] = field(default_factory=list)
    metrics: list[MetricFilter] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.subscriptions or self.metrics)


class Fanout:
    def __init__(self, service: LogsService) -> None:
        self._svc = service
        self.repo = LogsFiltersRepo(service.store)
        self._cache: dict[tuple[str, str, str], tuple[float, Plan]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def forget(self, account: str, region: str, group: str) -> None:
        self._cache.pop((account, region, group), None)

    def clear(self) -> None:
        self._cache.clear()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def plan(self, account: str, region: str, group: str) -> Plan:
        key = (account, region, group)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        plan = await self._load(account, region, group, await self.repo.of_group_named(account, region, group))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + TTL, plan)
        return plan

    async def _load(self, account: str, region: str, group: str, rows: Sequence[FilterRow]) -> Plan:
        from tsunagi.services.logs.metric_filters import MetricFilter
        plan = Plan()
        lam = self._svc.platform.ports.find(LAMBDA)
        for row in rows:
            try:
                pattern = compile_pattern(row.pattern)
            except ValueError:
                log.warning("filter %s of %s has a pattern that no longer compiles; skipped", row.name, group)
                continue
            doc = row.fields
            if row.kind == SUBSCRIPTION:
                dest = str(doc.get("destinationArn", ""))
                fn = await lam.function(dest, account, region) if lam is not None else None
                plan.subscriptions.append(Subscription(row.name, pattern, fn.arn if fn else dest,
                                                       fn is not None and fn.log_group == group))
            elif row.kind == METRIC:
                plan.metrics.append(MetricFilter.of(row.name, pattern, doc))
        return plan

    # == on a write ============================================================================
    def deliveries(self, plan: Plan, account: str, region: str, group: str, stream: str,
                   events: Sequence[tuple[int, str]], *, through_port: bool,
                   trace_id: str | None) -> list[OutboxItem]:
        out: list[OutboxItem] = []
        for sub in plan.subscriptions:
            if sub.loops and through_port:
                continue
            matched = [(ts, msg) for ts, msg in events if sub.pattern.match(msg)]
            batch: list[dict[str, Any]] = []
            size = 0
            for ts, msg in matched:
                n = len(msg.encode("utf-8", "surrogatepass"))
                if batch and size + n > MAX_PAYLOAD_BYTES:
                    out.append(self._data(account, region, group, stream, sub, batch, trace_id))
                    batch, size = [], 0
                batch.append({"id": event_id(ts), "timestamp": ts, "message": msg})
                size += n
            if batch:
                out.append(self._data(account, region, group, stream, sub, batch, trace_id))
        return out

    @staticmethod
    def _data(account: str, region: str, group: str, stream: str, sub: Subscription,
              events: list[dict[str, Any]], trace_id: str | None) -> OutboxItem:
        doc = {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": group, "logStream": stream,
               "subscriptionFilters": [sub.name], "logEvents": events}
        return delivery(account, region, group, sub.destination, doc, trace_id)

    def in_transaction(self, items: list[OutboxItem]) -> Any:
        """The repository's ``then``: writes the deliveries in the write's transaction."""
        outbox = self._svc.platform.outbox

        async def then(tx: Tx) -> None:
            await outbox.add(tx, items)
        return then if items else None

    def after_commit(self, plan: Plan, account: str, region: str, group: str,
                     events: Sequence[tuple[int, str]]) -> None:
        """Metric filters' data points and the embedded metric format's (:mod:`.emf`), off the request
        path. Only events that may be EMF documents are kept for the task (a substring test per event,
        about 0.2 µs; :func:`.emf.data` looks closer)."""
        embedded = [e for e in events if "_aws" in e[1]]
        if not plan.metrics and not embedded:
            return
        from tsunagi.services.logs.metric_filters import emit
        task = asyncio.get_running_loop().create_task(emit(self._svc.platform, plan.metrics, account, region,
                                                           group, list(events) if plan.metrics else [], embedded))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
