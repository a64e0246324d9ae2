"""Asynchronous invocation: retries, event age, destinations and the dead-letter queue.

Event invocations wait in the Lambda repository's durable ``lambda_async`` queue, with the trace id
and header of the call that made them. :class:`AsyncInvocations` runs on every node: it claims each
due one (a lease, so that another node takes it over if this one dies) and hands it to
:meth:`AsyncInvocations.attempt`, which

- gives up with ``EventAgeExceeded`` once the event is older than MaximumEventAgeInSeconds
  (default 6 hours) without invoking it again;
- invokes the function; a throttle is retried with backoff (it does not use up a retry attempt);
- after a function error retries up to MaximumRetryAttempts times (default 2), the first retry
  ``TSUNAGI_ASYNC_RETRY_BASE_SECONDS`` later (default 60, as AWS: about one minute, then two);
- finally writes, in the same transaction that removes the invocation from the queue, outbox
  deliveries (:mod:`tsunagi.pipes.outbox`) of AWS's destination record to the OnSuccess or
  OnFailure destination (an SQS queue, SNS topic or another function) and, on failure, of the
  event itself to the function's DeadLetterConfig target (SQS or SNS; message attributes
  RequestID, ErrorCode, ErrorMessage). Those deliveries run in the invocation's journey (its trace
  id) and are recorded under the pipe ``destination``.

The settings come from the function's event invoke config (:mod:`.invoke_configs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson

from tsunagi.ports.outbox import OutboxItem
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog
from tsunagi.services.awslambda.invocation import Invoker
from tsunagi.services.awslambda.invoke_configs import EventInvokeConfigs
from tsunagi.services.base import Platform
from tsunagi.store.awslambda import ASYNC_CHANNEL, AsyncRow, LambdaRepo
from tsunagi.store.esm import EsmRepo
from tsunagi.trace import lambda_header, new_trace_id

log = logging.getLogger("tsunagi.lambda.async")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600
THROTTLE_MIN_MS = 1_000
THROTTLE_MAX_MS = 300_000
ASYNC_LEASE_MS = 905_000       # a claimed invocation is this node's for longer than the longest timeout
PIPE = "destination"            # the delivery records of destinations and dead-letter sends


def _iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _json_or_text(data: bytes) -> Any:
    if not data.strip():
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def destination_record(condition: str, request_id: str, function_arn: str, invokes: int, payload: bytes,
                       response: tuple[bytes, str, str | None] | None) -> dict[str, Any]:
    """AWS's invocation record; ``response`` is (payload, executed version, function error) if it ran."""
    record: dict[str, Any] = {
        "version": "1.0", "timestamp": _iso_now(),
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invokes},
        "requestPayload": _json_or_text(payload),
    }
    if response is not None:
        body, version, error = response
        ctx: dict[str, Any] = {"statusCode": 200, "executedVersion": version}
        if error:
            ctx["functionError"] = error
        record["responseContext"] = ctx
        record["responsePayload"] = _json_or_text(body)
    return record


def _envelope(source_arn: str, request_id: str) -> dict[str, Any]:
    """What every destination delivery says about its cause (also the delivery record's pipe and id)."""
    return {"source_arn": source_arn, "source_service": "lambda.amazonaws.com", "pipe": PIPE,
            "message_id": request_id}


def delivery(arn: str, record: dict[str, Any], source_arn: str) -> tuple[str, str, dict[str, Any]] | None:
    """The outbox row that sends ``record`` to a destination ARN."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    text = orjson.dumps(record).decode()
    envelope = _envelope(source_arn, record["requestContext"]["requestId"])
    if service == "sqs":
        return "sqs", arn, {**envelope, "params": {"MessageBody": text}}
    if service == "sns":
        return "sns", arn, {**envelope, "params": {"Message": text}}
    if service == "lambda":
        return "lambda", arn, {**envelope, "params": {"Payload": text, "InvocationType": "Event"}}
    return None


def dead_letter(arn: str, payload: bytes, request_id: str, error_message: str,
                source_arn: str) -> tuple[str, str, dict[str, Any]] | None:
    """The outbox row that sends a failed event to the function's dead-letter queue or topic."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    attrs = {"RequestID": {"DataType": "String", "StringValue": request_id},
             "ErrorCode": {"DataType": "Number", "StringValue": "200"},
             "ErrorMessage": {"DataType": "String", "StringValue": (error_message or "Unhandled")[:1024]}}
    body = payload.decode("utf-8", "replace") or "{}"
    envelope = _envelope(source_arn, request_id)
    if service == "sqs":
        return "sqs", arn, {**envelope, "params": {"MessageBody": body, "MessageAttributes": attrs}}
    if service == "sns":
        return "sns", arn, {**envelope, "params": {"Message": body, "MessageAttributes": attrs}}
    return None


class AsyncInvocations:
    """The runner of Event invocations on this node, and the outcome of each."""

    def __init__(self, platform: Platform, repo: LambdaRepo, catalog: Catalog, invoker: Invoker,
                 configs: EventInvokeConfigs, *, capacity: int) -> None:
        self.platform = platform
        self.store = platform.store
        self.clock = platform.clock
        self.repo = repo
        self.esm_repo = EsmRepo(platform.store)
        self.catalog = catalog
        self.invoker = invoker
        self.configs = configs
        self.capacity = max(1, min(64, capacity))
        self._outbox = platform.outbox
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False

    # == life cycle ===============================================================================
    def start(self) -> None:
        self._stopping = False
        self._wake = asyncio.Event()
        self.store.listen(ASYNC_CHANNEL, self._on_notify)
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        self.store.unlisten(ASYNC_CHANNEL, self._on_notify)
        tasks = [t for t in (self._runner, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._runner = None

    def reset(self) -> None:
        """The store was wiped: the invocations running here are gone with it."""
        for task in list(self._running):
            task.cancel()

    def _on_notify(self, payload: str) -> None:
        if self._wake is not None:
            self._wake.set()

    # == the runner ===============================================================================
    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while not self._stopping:
            wake.clear()
            try:
                free = self.capacity - len(self._running)
                rows = await self.repo.claim_due(self.clock.now_ms(), ASYNC_LEASE_MS, free) if free > 0 else []
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming asynchronous invocations failed")
                rows = []
            for row in rows:
                task = asyncio.get_running_loop().create_task(self.attempt(row))
                self._running.add(task)
                task.add_done_callback(self._done)
            if len(rows) == free and free > 0:
                continue
            timeout = 1.0
            with contextlib.suppress(Exception):
                nxt = await self.repo.next_due()
                if nxt is not None:
                    timeout = min(max((nxt - self.clock.now_ms()) / 1000.0, 0.01), 1.0)
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._wake is not None:
            self._wake.set()

    # == one attempt ==============================================================================
    async def attempt(self, row: AsyncRow) -> None:
        """Run one claimed asynchronous invocation and decide what follows."""
        inv_id, account, region, name, qualifier = row.id, row.account, row.region, row.function_name, row.qualifier
        request_id, client_context, trace_header = row.request_id, row.client_context, row.trace_header
        trace_id = row.trace_id or new_trace_id()
        payload = bytes(row.payload)
        attempts, created = int(row.attempts), int(row.created_at)
        clock = self.clock
        cfg = await self.configs.of(account, region, name, qualifier)
        retries = int(cfg.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age_ms = int(cfg.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)) * 1000
        function_arn = names.function_arn(region, account, name, qualifier or "$LATEST")
        repo = self.repo
        if clock.now_ms() - created > max_age_ms:
            await self._fail(inv_id, cfg, account, region, name, qualifier, request_id, payload,
                             "EventAgeExceeded", attempts - 1, None, "Event age exceeded", trace_id)
            return
        try:
            fn = await self.catalog.function(account, region, name, qualifier, cached=True)
            outcome = await self.invoker.run(fn, qualifier, payload, request_id, client_context, None,
                                             lambda_header(trace_id, trace_header))
        except ServiceError as e:
            age = clock.now_ms() - created
            if e.code == "TooManyRequestsException" and age < max_age_ms:
                delay = min(max(age // 4, THROTTLE_MIN_MS), THROTTLE_MAX_MS)
                await self.esm_repo.uncount_async(inv_id, clock.now_ms() + delay, f"{e.code}: {e.message}")
                return
            if e.code == "TooManyRequestsException":
                await self._fail(inv_id, cfg, account, region, name, qualifier, request_id, payload,
                                 "EventAgeExceeded", attempts - 1, None, e.message, trace_id)
                return
            log.warning("asynchronous invocation %s of %s dropped: %s", request_id, name, e.message)
            await repo.finish_async(inv_id)
            return
        except Exception:
            log.exception("asynchronous invocation %s of %s failed", request_id, name)
            await repo.finish_async(inv_id)
            return
        response = (outcome.payload, fn.version, None if outcome.ok else "Unhandled")
        if outcome.ok:
            target = ((cfg.get("DestinationConfig") or {}).get("OnSuccess") or {}).get("Destination")
            items = []
            if target:
                record = destination_record("Success", request_id, function_arn, attempts, payload, response)
                item = delivery(target, record, function_arn)
                if item is not None:
                    items.append(item)
            await self._finish(inv_id, items, trace_id)
            return
        if attempts <= retries:
            await repo.retry_async(inv_id, clock.now_ms() + int(self.platform.config.async_retry_base_seconds * 1000) * attempts,
                                   outcome.payload.decode("utf-8", "replace")[:1000])
            return
        error = _json_or_text(outcome.payload)
        message = error.get("errorMessage", "") if isinstance(error, dict) else str(error or "")
        await self._fail(inv_id, cfg, account, region, name, qualifier, request_id, payload,
                         "RetriesExhausted", attempts, response, message, trace_id, fn.config.get("DeadLetterConfig"))

    async def _fail(self, inv_id: int, cfg: dict[str, Any], account: str, region: str, name: str,
                          qualifier: str | None, request_id: str, payload: bytes, condition: str, invokes: int,
                          response: tuple[bytes, str, str | None] | None, message: str, trace_id: str,
                          dead_letter_config: dict[str, Any] | None = None) -> None:
        function_arn = names.function_arn(region, account, name, qualifier or "$LATEST")
        if dead_letter_config is None:
            try:
                fn = await self.catalog.function(account, region, name, qualifier, cached=True)
                dead_letter_config = fn.config.get("DeadLetterConfig")
            except ServiceError:
                dead_letter_config = None
        items = []
        target = ((cfg.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if target:
            record = destination_record(condition, request_id, function_arn, max(invokes, 0), payload, response)
            item = delivery(target, record, function_arn)
            if item is not None:
                items.append(item)
        dlq = (dead_letter_config or {}).get("TargetArn")
        if dlq:
            item = dead_letter(dlq, payload, request_id, message, function_arn)
            if item is not None:
                items.append(item)
        if not items:
            log.warning("asynchronous invocation %s of %s failed (%s) and has no destination: dropped",
                        request_id, name, condition)
        await self._finish(inv_id, items, trace_id)

    async def _finish(self, inv_id: int, items: list[tuple[str, str, dict[str, Any]]], trace_id: str) -> None:
        """Remove the invocation and, in the same transaction, write its deliveries (in its journey)."""
        if not items:
            await self.repo.finish_async(inv_id)
            return
        async with self.store.transaction() as tx:
            await self._outbox.add(tx, [OutboxItem(kind, target, payload, trace_id)
                                         for kind, target, payload in items])
            await self.esm_repo.finish_async_in(tx, inv_id)
