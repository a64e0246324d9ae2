"""SQS → function pollers: the source end of every event source mapping.

Each node runs a :class:`PollerManager` (a platform component, installed by :func:`tsunagi.pipes.install`). It keeps one
:class:`MappingPoller` per *enabled* mapping in the store, reconciling on the ``lambda-esm``
notification (sent by every change, on every node) and on a slow timer as a backstop. Applying a
change also settles the mapping's transitional state (Creating / Enabling / Updating → Enabled,
Disabling → Disabled, Deleting → row removed once this node's poller stopped).

A poller is a set of workers; each one loops: long-poll the queue through SQS's internal receive
(never HTTP), gather up to BatchSize messages or MaximumBatchingWindowInSeconds, drop the records no
filter keeps (deleting their messages), invoke the function synchronously, and delete what
succeeded (see :mod:`tsunagi.pipes.esm_processor`). A function error or a throttle deletes
nothing: the messages come back after the queue's visibility timeout with a higher receive count,
and the queue's RedrivePolicy moves them to its dead-letter queue.

Scaling: a worker that receives a full batch starts another, up to the mapping's concurrency limit
(min of ScalingConfig.MaximumConcurrency, the function's reserved concurrency and the account's
limit); an extra worker whose poll comes back empty stops. Several servers on one PostgreSQL each
poll every mapping; SQS's claim (``FOR UPDATE SKIP LOCKED``, exclusive FIFO groups) hands each
message to one of them, and a MaximumConcurrency holds across them: each worker holds one of the
mapping's slots, a lease in the database (:mod:`tsunagi.store.leases`), while it lives. A crash
loses nothing: claimed messages become visible again, and a dead server's slots expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import orjson

from tsunagi.context import internal_context
from tsunagi.pipes import esm_processor
from tsunagi.policy import Dialect
from tsunagi.ports.awslambda import (
    ESM_DENIED,
    ESM_FAILED,
    ESM_NO_FUNCTION,
    ESM_NO_QUEUE,
    ESM_NO_RECORDS,
    ESM_OK,
    ESM_THROTTLED,
    LAMBDA,
)
from tsunagi.ports.delivery_policy import ALLOW, ENFORCE, ESM_SQS_ACTIONS, OFF, role_check, warned
from tsunagi.ports.iam import IAM
from tsunagi.ports.sqs import SQS, QueueRef, ReceivedMessage, SqsPort
from tsunagi.protocol.errors import ServiceError
from tsunagi.store.deliveries import DELIVERED, DENIED, Delivery
from tsunagi.store.esm import ESM_CHANNEL, EsmRepo, MappingRow
from tsunagi.trace import root_of

if TYPE_CHECKING:
    from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi.pipes.pollers")

LONG_POLL_S = 20.0             # the first worker's long poll
EXTRA_POLL_S = 2.0             # extra workers give up sooner, so that concurrency shrinks when idle
RECONCILE_SQLITE_S = 30.0
RECONCILE_PG_S = 5.0
THROTTLE_BACKOFF_S = 1.0
MISSING_QUEUE_BACKOFF_S = 5.0
ROLE_RECHECK_S = 5.0           # how long a decision on the execution role's permissions is kept
PAYLOAD_LIMIT = 6 * 1024 * 1024 - 4096



OK, NO_RECORDS, FAILED, THROTTLED = ESM_OK, ESM_NO_RECORDS, ESM_FAILED, ESM_THROTTLED
NO_FUNCTION, NO_QUEUE, DENIED_RESULT = ESM_NO_FUNCTION, ESM_NO_QUEUE, ESM_DENIED


class MappingPoller:
    """The workers of one enabled mapping on this node."""

    def __init__(self, manager: PollerManager, row: MappingRow) -> None:
        self.manager = manager
        self.lam = manager.platform.ports.get(LAMBDA)
        self.uuid = str(row.uuid)
        self.stop_event = asyncio.Event()
        self.workers: set[asyncio.Task[None]] = set()
        self.last_result = str(row.last_result)
        self.role_checked_until = 0.0   # the execution role's permissions, decided until then (loop time)
        self.role_allows = True
        self.role_reason: str | None = None
        self.no_slot_until = 0.0        # loop time until which no extra worker is tried (slots were all taken)
        self.apply(row)

    def apply(self, row: MappingRow) -> None:
        cfg = orjson.loads(row.config)
        self.account, self.region = str(row.account), str(row.region)
        self.function_name, self.function_arn = str(row.function_name), str(row.function_arn)
        self.source_arn = str(row.source_arn)
        self.generation = int(row.generation)
        self.batch_size = int(cfg.get("BatchSize") or 10)
        self.window = float(cfg.get("MaximumBatchingWindowInSeconds") or 0)
        self.scaling_limit = (cfg.get("ScalingConfig") or {}).get("MaximumConcurrency")
        self.max_concurrency = int(self.scaling_limit or 1000)
        self.report_failures = "ReportBatchItemFailures" in (cfg.get("FunctionResponseTypes") or [])
        # (the filter language is imported with the first mapping, not with the server)
        from tsunagi.filters.criteria import FilterCriteriaError, compile_filters

        try:
            self.filters = compile_filters(cfg.get("FilterCriteria"))
        except FilterCriteriaError:
            self.filters = []
        parts = self.source_arn.split(":")
        self.queue_region = parts[3] if len(parts) > 3 else self.region

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if not self.workers:
            self._spawn(first=True)

    def _spawn(self, first: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(self._worker(first), name=f"tsunagi-esm-{self.uuid[:8]}")
        self.workers.add(task)
        task.add_done_callback(self.workers.discard)

    async def stop(self) -> None:
        """Stop polling now: waiting polls return at once; batches already received still run to the end."""
        self.stop_event.set()
        sqs = self.manager.sqs()
        if sqs is not None:
            q = await sqs.queue(self.source_arn)
            if q is not None:
                sqs.wake(q)

    async def _limit(self) -> int:
        limit = min(self.max_concurrency, self.manager.platform.config.esm_max_concurrency)
        with contextlib.suppress(Exception):
            limit = min(limit, max(await self.lam.concurrency_limit(self.function_name, self.account, self.region), 1))
        return max(limit, 1)

    # -- the loop -----------------------------------------------------------------------------------
    async def _worker(self, first: bool) -> None:
        wait = LONG_POLL_S if first else EXTRA_POLL_S
        lease: str | None = None     # a slot of the mapping's MaximumConcurrency, when shared (see _leased)
        try:
            while not self.stop_event.is_set():
                try:
                    sqs = self.manager.sqs()
                    q = await sqs.queue(self.source_arn) if sqs is not None else None
                    if q is None:
                        await self._result(NO_QUEUE)
                        await self._sleep(MISSING_QUEUE_BACKOFF_S)
                        continue
                    assert sqs is not None
                    if lease is None and self._leased():
                        lease = await self.manager.platform.leases.take(self._scope(), self.max_concurrency)
                        if lease is None:       # the mapping's slots are all busy (on this server or others)
                            self.no_slot_until = asyncio.get_running_loop().time() + THROTTLE_BACKOFF_S
                            if not first:
                                return
                            await self._sleep(THROTTLE_BACKOFF_S)
                            continue
                    if not await self._may_read(q):
                        await self._result(DENIED_RESULT)
                        await self._sleep(MISSING_QUEUE_BACKOFF_S)
                        continue
                    if self.last_result == NO_FUNCTION and \
                            await self.lam.function(self.function_arn, self.account, self.region) is None:
                        # Take no more messages while the function is gone: they wait in the queue (their
                        # receive counts untouched, nothing driven to the dead-letter queue) until it is back.
                        await self._sleep(MISSING_QUEUE_BACKOFF_S)
                        continue
                    msgs = await self._gather(sqs, q, wait)
                    if not msgs:
                        if not first and len(self.workers) > 1:
                            return
                        continue
                    if len(msgs) >= self.batch_size and len(self.workers) < await self._limit() and \
                            asyncio.get_running_loop().time() >= self.no_slot_until:
                        self._spawn()
                    await self._process(sqs, q, msgs)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event source mapping %s: poll failed", self.uuid)
                    await self._sleep(1.0)
        finally:
            if lease is not None:
                await self.manager.platform.leases.give(self._scope(), lease)

    def _scope(self) -> str:
        return f"esm:{self.uuid}"

    def _leased(self) -> bool:
        """Whether workers hold a lease on one of the mapping's MaximumConcurrency slots while they live:
        with several servers on one database, which count them together (an idle extra worker stops
        and gives its slot back; a first worker without one waits for one). One server counts its
        own workers."""
        return bool(self.scaling_limit) and self.manager.platform.leases.shared

    async def _may_read(self, q: QueueRef) -> bool:
        """Whether the function's execution role may read ``q`` (``--policies``; see
        :func:`~tsunagi.ports.delivery_policy.role_check`). Decided again every few seconds; a change is
        one delivery record (pipe ``esm``) and one log line."""
        platform = self.manager.platform
        mode = platform.config.policies
        if mode == OFF:
            return True
        now = asyncio.get_running_loop().time()
        if now < self.role_checked_until:
            return self.role_allows
        fn = await self.lam.function(self.function_arn, self.account, self.region)
        verdict = ALLOW if fn is None else await role_check(
            mode, platform.ports.find(IAM), fn.role, actions=ESM_SQS_ACTIONS, resource_arn=q.arn,
            resource_account=q.account, resource_policy=q.attributes.get("Policy"), dialect=Dialect.SQS,
            what=f"function {fn.arn}")
        self.role_checked_until = now + ROLE_RECHECK_S
        self.role_allows = verdict.allowed
        if verdict.reason != self.role_reason:
            self.role_reason = verdict.reason
            if verdict.reason:
                outcome, why = (DENIED, verdict.reason) if mode == ENFORCE else (DELIVERED, warned(verdict.reason))
                with contextlib.suppress(Exception):
                    await platform.deliveries.record_in(platform.store, [Delivery(
                        "", platform.clock.now_ms(), self.account, self.region, "esm", q.arn, None,
                        self.function_arn, "lambda", outcome, why)])
        return verdict.allowed

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)

    async def _gather(self, sqs: SqsPort, q: QueueRef, wait: float) -> list[ReceivedMessage]:
        msgs = await sqs.receive(q, self.batch_size, wait, self.stop_event)
        if not msgs or self.window <= 0 or len(msgs) >= self.batch_size:
            return msgs
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        size = sum(len(m.body) for m in msgs)
        while len(msgs) < self.batch_size and size < PAYLOAD_LIMIT // 2 and not self.stop_event.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            more = await sqs.receive(q, self.batch_size - len(msgs), remaining, self.stop_event)
            msgs.extend(more)
            size += sum(len(m.body) for m in more)
        return msgs

    async def _process(self, sqs: SqsPort, q: QueueRef, msgs: list[ReceivedMessage]) -> None:
        records = [esm_processor.sqs_record(m, self.source_arn, self.queue_region) for m in msgs]
        if self.filters:
            from tsunagi.filters.criteria import keep

            kept = [r for r in records if keep(self.filters, r)]
            if len(kept) != len(records):
                ids = {r["messageId"] for r in kept}
                await sqs.delete(q, [r["receiptHandle"] for r in records if r["messageId"] not in ids])
            records = kept
            if not records:
                return
        payload = orjson.dumps({"Records": records})
        # The batch continues the first message's journey, as Lambda's invocation continues its AWSTraceHeader.
        first = records[0]
        header = first["attributes"].get("AWSTraceHeader")
        trace_id = next((m.trace_id for m in msgs if m.message_id == first["messageId"]), "") or root_of(header)
        ctx = internal_context(self.account, self.region, "lambda", "Invoke", trace_id=trace_id,
                               trace_header=header)
        try:
            result = await self.lam.invoke(ctx, self.function_arn, payload, invocation_type="RequestResponse")
        except ServiceError as e:
            if e.code == "TooManyRequestsException":
                await self._result(THROTTLED)
                await self._sleep(THROTTLE_BACKOFF_S)
            elif e.code == "ResourceNotFoundException":
                await self._result(NO_FUNCTION)
                await self._sleep(MISSING_QUEUE_BACKOFF_S)
            else:
                log.warning("event source mapping %s: invoke failed: %s: %s", self.uuid, e.code, e.message)
                await self._result(FAILED)
            return
        if result.function_error:
            await self._result(FAILED)
            return
        if self.report_failures:
            failed = esm_processor.failed_ids(result.payload, records)
            if failed is None:
                await self._result(FAILED)
                return
            done = esm_processor.successes(records, failed, q.fifo)
        else:
            done = records
        await sqs.delete(q, [r["receiptHandle"] for r in done])
        await self._result(OK)

    async def _result(self, value: str) -> None:
        if value != self.last_result:
            self.last_result = value
            with contextlib.suppress(Exception):
                await self.manager.repo.set_last_result(self.uuid, value)


class PollerManager:
    """Every enabled mapping's poller on this node."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.store = platform.store
        self.repo = EsmRepo(platform.store)
        self.pollers: dict[str, MappingPoller] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._pending: set[asyncio.Task[None]] = set()
        self.enabled = platform.config.esm_pollers

    def sqs(self) -> SqsPort | None:
        return self.platform.ports.find(SQS)

    async def start(self) -> None:
        if not self.enabled:
            return
        self._stopping.clear()
        self.store.listen(ESM_CHANNEL, self._on_notify)
        self.store.listen("*", self._on_reconnect)
        self._task = asyncio.get_running_loop().create_task(self._backstop(), name="tsunagi-esm-reconcile")

    async def on_reset(self) -> None:
        await self.stop_all()

    async def stop(self) -> None:
        self._stopping.set()
        self.store.unlisten(ESM_CHANNEL, self._on_notify)
        self.store.unlisten("*", self._on_reconnect)
        tasks = [t for t in (self._task, *self._pending) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._task = None
        await self.stop_all()

    async def stop_all(self) -> None:
        pollers, self.pollers = list(self.pollers.values()), {}
        for p in pollers:
            p.stop_event.set()
            for w in list(p.workers):
                w.cancel()
        for p in pollers:
            await asyncio.gather(*list(p.workers), return_exceptions=True)

    def _on_notify(self, payload: str) -> None:
        if payload:
            self._spawn(self.reconcile(payload), f"mapping {payload}")

    def _on_reconnect(self, _payload: str) -> None:
        self._spawn(self.reconcile_all(), "all mappings")

    def _spawn(self, coro: Any, what: str) -> None:
        """Reconcile in the background; a failure (the store is down) is logged, and the backstop
        loop reconciles again later."""
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._pending.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("reconciling %s failed (%s); the periodic reconcile will retry", what, t.exception())

        task.add_done_callback(done)

    async def _backstop(self) -> None:
        every = RECONCILE_PG_S if self.store.dialect == "postgresql" else RECONCILE_SQLITE_S
        while not self._stopping.is_set():
            try:
                await self.reconcile_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling event source mappings failed")
            # Not a plain sleep: a cancellation swallowed by a driver mid-reconcile must not leave
            # this loop running, so stop() also sets the event.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), every)

    async def reconcile_all(self) -> None:
        rows = await self.repo.all()
        seen = {str(r.uuid) for r in rows}
        for uuid in list(self.pollers):
            if uuid not in seen:
                await self.reconcile(uuid)
        for row in rows:
            await self.reconcile(str(row.uuid), row)

    async def reconcile(self, uuid: str, row: MappingRow | None = None) -> None:
        """Bring this node's poller for ``uuid`` in line with the store, and settle its state."""
        if not self.enabled:
            return
        lock = self._locks.setdefault(uuid, asyncio.Lock())
        async with lock:
            if row is None:
                row = await self.repo.get(uuid)
            poller = self.pollers.get(uuid)
            if row is None:
                if poller is not None:
                    del self.pollers[uuid]
                    await poller.stop()
                self._locks.pop(uuid, None)
                return
            state, generation, enabled = str(row.state), int(row.generation), bool(row.enabled)
            if state == "Deleting" or not enabled:
                if poller is not None:
                    del self.pollers[uuid]
                    await poller.stop()
                if state == "Deleting":
                    await self.repo.delete(uuid)
                elif state != "Disabled":
                    await self.repo.settle(uuid, generation, "Disabled")
                return
            if poller is None:
                poller = self.pollers[uuid] = MappingPoller(self, row)
                poller.start()
            elif poller.generation != generation:
                poller.apply(row)
            if state != "Enabled":
                await self.repo.settle(uuid, generation, "Enabled")
