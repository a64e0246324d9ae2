"""The durable outbox and its dispatcher: deliveries between services that survive crashes.

A change that must cause a delivery (an S3 object commit → a notification, an SNS publish →
its subscriptions, …) writes outbox rows in *its own* transaction with :meth:`Outbox.add`;
once that transaction commits the rows exist, and the dispatcher runs them until each
succeeds, fails for good, or runs out of attempts. Nothing is lost between a 200 and the
delivery.

Services write rows through the platform's :class:`~tsunagi.ports.outbox.OutboxPort`
(``platform.outbox``), which this class implements; every row carries the trace id of the journey
that caused it::

    async with store.transaction() as tx:
        ...                                # the change itself
        await platform.outbox.add(tx, [to_service("sqs", queue_arn, {"MessageBody": body}, source=…,
                                                  trace_id=ctx.trace_id, pipe="s3")])

Kinds and their handlers live in :mod:`tsunagi.pipes.targets` (``sqs``, ``sns``, ``lambda``);
``outbox.register(kind, handler)`` adds more. A handler is ``async (job: Job) -> None``;
it raises :class:`PermanentFailure` when retrying cannot help (the queue was deleted), any other
exception to be retried with exponential backoff. ``last_error`` keeps why.

The dispatcher wakes on the store notification the transaction sends after commit (in-process
at once; on PostgreSQL other nodes wake through LISTEN/NOTIFY), and polls as a backstop. Rows are
claimed with a lease (``next_attempt_at`` pushed forward), so a node that dies mid-delivery leaves
them to another after the lease: delivery is at least once, like AWS's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from tsunagi.ports.outbox import JsonObject, OutboxItem
from tsunagi.store.outbox import NOTIFY_CHANNEL, Claimed, NewRow, OutboxRepo

if TYPE_CHECKING:
    from tsunagi.services.base import Platform
    from tsunagi.store.base import Tx

log = logging.getLogger("tsunagi.pipes.outbox")


class Job(NamedTuple):
    """One delivery the dispatcher runs: what :class:`OutboxItem` wrote, and how many attempts so far."""

    kind: str
    target: str
    payload: JsonObject
    trace_id: str | None
    attempts: int
    created_at: int


Handler = Callable[[Job], Awaitable[None]]

LEASE_MS = 30_000            # a claimed row is someone's for this long
BATCH = 64                   # rows claimed at once
MAX_INFLIGHT = 512           # deliveries running at once on this server
MAX_ATTEMPTS = 25            # then the delivery is dropped (logged with its last error)
BACKOFF_BASE_S = 0.1         # 0.1 s, 0.2 s, 0.4 s … capped at BACKOFF_MAX_S
BACKOFF_MAX_S = 300.0
POLL_SQLITE_S = 30.0         # backstop polls: nothing else writes a SQLite store
POLL_PG_S = 1.0              # other nodes may add rows; their NOTIFY usually wakes us first


class PermanentFailure(Exception):
    """The delivery can never succeed (its target is gone): drop it and say why."""


class Outbox:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.store = platform.store
        self.clock = platform.clock
        self.repo = OutboxRepo(platform.store)
        self.handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._users = 0
        self._stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self._finished: list[int] = []   # rows delivered or dropped, not yet deleted
        self.delivered = 0           # counters for health/bench
        self.failed = 0

    # -- producers (OutboxPort) ----------------------------------------------------------------------
    async def add(self, tx: Tx, items: Iterable[OutboxItem | tuple[str, str, JsonObject]], *,
                  delay_ms: int = 0) -> int:
        """Write deliveries in ``tx``, due ``delay_ms`` from now; they run once it commits."""
        rows = []
        for item in items:
            kind, target, payload = item[0], item[1], item[2]
            trace_id = item.trace_id if isinstance(item, OutboxItem) else None
            rows.append(NewRow(kind, target, orjson.dumps(payload).decode(), trace_id))
        now = self.clock.now_ms()
        return await self.repo.add(tx, rows, now + delay_ms, now)

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._users += 1
        if self._task is not None:
            return
        self._stopping = False
        self.store.listen(NOTIFY_CHANNEL, self._on_notify)
        self.store.listen("*", self._on_notify)          # PostgreSQL listener reconnected
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tsunagi-outbox")

    async def stop(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users or self._task is None:
            return
        self.store.unlisten(NOTIFY_CHANNEL, self._on_notify)
        self.store.unlisten("*", self._on_notify)
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        running = list(self._inflight)
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        try:
            await self._flush_finished()
        except Exception as e:   # the rows are delivered again after their lease: at least once
            log.warning("outbox: could not mark %d finished deliveries at stop: %s", len(self._finished), e)

    async def on_reset(self) -> None:
        """Nothing in process to forget: the rows went with the store."""

    def wake(self) -> None:
        self._wake.set()

    def _on_notify(self, _payload: str) -> None:
        self._wake.set()

    # -- the dispatcher ----------------------------------------------------------------------------
    async def _run(self) -> None:
        """Claim due rows while there is room, run each as its own task (a slow target holds only its
        own delivery, never a batch), and delete finished rows together, a statement per loop turn."""
        poll = POLL_PG_S if self.store.shared else POLL_SQLITE_S
        while not self._stopping:   # (a cancellation a driver swallows must not keep the loop alive)
            try:
                self._wake.clear()
                await self._flush_finished()
                room = MAX_INFLIGHT - len(self._inflight)
                if room > 0:
                    want = min(BATCH, room)
                    rows = await self.repo.claim(self.clock.now_ms(), LEASE_MS, want)
                    for row in rows:
                        task = asyncio.get_running_loop().create_task(self._run_one(row))
                        self._inflight.add(task)
                        task.add_done_callback(self._inflight.discard)
                    if len(rows) == want:
                        await asyncio.sleep(0)      # let them start; then claim more
                        continue
                elif self._wake.is_set():
                    continue
                timeout = poll
                due = await self.repo.next_due()
                if due is not None:
                    timeout = min(poll, max(0.0, (due - self.clock.now_ms()) / 1000))
                if timeout > 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    except TimeoutError:
                        pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _run_one(self, row: Claimed) -> None:
        if await self._deliver(row):
            self._finished.append(row.id)
        self._wake.set()          # a slot is free, and a row waits to be deleted

    async def _flush_finished(self) -> None:
        if self._finished:
            ids, self._finished = self._finished, []
            try:
                await self.repo.done(ids)
            except BaseException:
                self._finished.extend(ids)
                raise

    async def _deliver(self, row: Claimed) -> bool:
        """Run one delivery; True when the row is finished with (delivered or dropped)."""
        row_id, kind, target, attempts = row.id, row.kind, row.target, row.attempts
        handler = self.handlers.get(kind)
        try:
            if handler is None:
                raise LookupError(f"no outbox handler for kind {kind!r} on this server")
            await handler(Job(kind, target, orjson.loads(row.payload), row.trace_id, attempts, row.created_at))
            self.delivered += 1
            return True
        except asyncio.CancelledError:
            raise
        except PermanentFailure as e:
            self.failed += 1
            log.warning("outbox: dropped %s delivery to %s: %s", kind, target, e)
            await self._gave_up(row, str(e))
            return True
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
            if attempts >= MAX_ATTEMPTS:
                self.failed += 1
                log.error("outbox: gave up on %s delivery to %s after %d attempts: %s", kind, target,
                          attempts, why)
                await self._gave_up(row, f"gave up after {attempts} attempts: {why}")
                return True
            delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
            log.info("outbox: %s delivery to %s failed (attempt %d, retry in %.1fs): %s", kind, target,
                     attempts, delay, why)
            await self.repo.retry(row_id, self.clock.now_ms() + int(delay * 1000), why)
            return False

    async def _gave_up(self, row: Claimed, reason: str) -> None:
        """Record a delivery that will not happen (the job's pipe keeps delivery records)."""
        from tsunagi.pipes.targets import record_failure

        try:
            await record_failure(self, Job(row.kind, row.target, orjson.loads(row.payload), row.trace_id,
                                           row.attempts, row.created_at), reason)
        except Exception:
            log.exception("outbox: could not record the failed %s delivery to %s", row.kind, row.target)


def outbox_for(platform: Platform) -> Outbox:
    """The platform's outbox (installed by :func:`tsunagi.pipes.install`; made here when a test
    assembled a platform by hand)."""
    box = platform._outbox
    if isinstance(box, Outbox):
        return box
    from tsunagi.pipes import install

    install(platform)
    assert isinstance(platform._outbox, Outbox)
    return platform._outbox
