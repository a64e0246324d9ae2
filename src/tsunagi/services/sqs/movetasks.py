"""Message move tasks (DLQ redrive): StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask.

A task is a row in the store and an asyncio task on the server that started it. The runner moves
batches of visible messages out of the dead-letter queue through the store, at most
``MaxNumberOfMessagesPerSecond``, and reads its row between batches so a cancel from any server
stops it.

With several servers on one database, the runner holds the task's lease (``move:<handle>``, see
:mod:`tsunagi.store.leases`) while it runs, and the leading server (:meth:`Store.leads`) looks every
``ADOPT_S`` for running tasks whose lease it can take: those of a server that died, which it carries
on from where they stopped. After a restart on SQLite, the server resumes its own.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.directory import QueueDirectory
from tsunagi.services.sqs.errors import (
    InvalidParameterValue,
    ResourceNotFoundException,
    invalid_value,
    missing,
)
from tsunagi.services.sqs.waiters import SCAN, Waiters
from tsunagi.store.base import IntegrityError
from tsunagi.store.leases import Leases
from tsunagi.store.sqs import SqsRepo

log = logging.getLogger("tsunagi.sqs.move")

UNBOUNDED_BATCH = 100
ADOPT_S = 5.0       # how often the leading server looks for tasks a dead server left running
# the FailureReason AWS gives a task whose source or destination queue is gone
NON_EXISTENT_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"


def _handle(source_arn: str) -> str:
    raw = orjson.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn})
    return base64.b64encode(raw).decode("ascii")


def _parse_handle(handle: str) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(base64.b64decode(handle, validate=True))
        return doc if isinstance(doc, dict) and "sourceArn" in doc else None
    except Exception:
        return None


class MoveTasks:
    def __init__(self, repo: SqsRepo, directory: QueueDirectory, clock: Clock, waiters: Waiters,
                 leases: Leases | None = None) -> None:
        self.repo = repo
        self.directory = directory
        self.clock = clock
        self.waiters = waiters
        self.leases = leases if leases is not None and leases.shared else None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._adopter: asyncio.Task[None] | None = None

    # -- operations -----------------------------------------------------------------------------
    async def start_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source_arn = params.get("SourceArn")
        if not source_arn:
            raise missing("SourceArn")
        dest_arn = params.get("DestinationArn") or None
        rate = params.get("MaxNumberOfMessagesPerSecond")
        if rate is not None:
            try:
                rate = int(rate)
            except (TypeError, ValueError):
                raise invalid_value(rate, "MaxNumberOfMessagesPerSecond", "Must be between 1 and 500.") from None
            if not 1 <= rate <= 500:
                raise invalid_value(rate, "MaxNumberOfMessagesPerSecond", "Must be between 1 and 500.")
        source = await self.directory.by_arn(source_arn)
        if source is None:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter "
                                            "doesn't exist.")
        sources = await self.repo.dead_letter_sources(source_arn, "", 1)
        if not sources:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        if dest_arn is not None:
            dest = await self.directory.by_arn(dest_arn)
            if dest is None:
                raise ResourceNotFoundException("The resource that you specified for the DestinationArn "
                                                "parameter doesn't exist.")
            if dest.id == source.id:
                raise InvalidParameterValue("Source queue arn and destination queue arn cannot be the same.")
        now = self.clock.now_ms()
        visible, _, _ = await self.repo.counts(source.id, now, now - source.retention_ms)
        handle = _handle(source_arn)
        if not await self.repo.create_move_task(handle, ctx.account, ctx.region, source_arn, dest_arn, rate,
                                                visible, now):
            raise InvalidParameterValue("There is already a task running. Only one active task is allowed for "
                                        "a source queue arn at a given time.")
        self._spawn(handle)
        return {"TaskHandle": handle}

    async def list_tasks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source_arn = params.get("SourceArn")
        if not source_arn:
            raise missing("SourceArn")
        limit = params.get("MaxResults")
        limit = 1 if limit is None else int(limit)
        if not 1 <= limit <= 10:
            raise invalid_value(limit, "MaxResults", "You must enter a number that's between 1 and 10.")
        if await self.directory.by_arn(source_arn) is None:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter "
                                            "doesn't exist.")
        results = []
        for task in await self.repo.move_tasks(source_arn, limit):
            entry: dict[str, Any] = {}
            if task.status == "RUNNING":
                entry["TaskHandle"] = task.handle
            entry["Status"] = task.status
            entry["SourceArn"] = task.source_arn
            if task.dest_arn:
                entry["DestinationArn"] = task.dest_arn
            if task.rate is not None:
                entry["MaxNumberOfMessagesPerSecond"] = int(task.rate)
            entry["ApproximateNumberOfMessagesMoved"] = int(task.moved)
            if task.to_move is not None:
                entry["ApproximateNumberOfMessagesToMove"] = int(task.to_move)
            if task.failure:
                entry["FailureReason"] = task.failure
            entry["StartedTimestamp"] = int(task.started_at)
            results.append(entry)
        return {"Results": results}

    async def cancel_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        handle = params.get("TaskHandle")
        if not handle:
            raise missing("TaskHandle")
        if _parse_handle(handle) is None:
            raise InvalidParameterValue("Value for parameter TaskHandle is invalid.")
        row = await self.repo.move_task(handle)
        if row is None:
            raise ResourceNotFoundException("Task does not exist.")
        if not await self.repo.set_move_task_status(handle, "CANCELLING", only_if=("RUNNING",)):
            raise ResourceNotFoundException("Task does not exist.")
        task = self._running.get(handle)
        if task is None:  # not running here (another server, or a crash): finish the cancel now
            await self.repo.set_move_task_status(handle, "CANCELLED", only_if=("CANCELLING",))
        return {"ApproximateNumberOfMessagesMoved": int(row.moved)}

    # -- the runner -----------------------------------------------------------------------------
    def _spawn(self, handle: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(handle), name=f"tsunagi-sqs-move-{handle[:12]}")
        self._running[handle] = task
        task.add_done_callback(lambda _t: self._running.pop(handle, None))

    async def resume(self) -> None:
        """After a restart on SQLite (one server owns the store), continue the tasks that were running.
        With several servers: start looking for tasks a dead server left running (see the module)."""
        if self.directory.shared:
            if self.leases is not None and self._adopter is None:
                self._adopter = asyncio.get_running_loop().create_task(self._adopt(), name="tsunagi-sqs-adopt")
            return
        for handle in await self.repo.running_move_tasks():
            if handle not in self._running:
                self._spawn(handle)

    async def _adopt(self) -> None:
        while True:
            await asyncio.sleep(ADOPT_S)
            if not self.repo.store.leads():
                continue
            try:
                for handle in await self.repo.running_move_tasks():
                    if handle not in self._running:
                        self._spawn(handle)          # runs only if the task's lease is free
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("looking for abandoned message move tasks failed: %s", e)

    async def stop(self) -> None:
        adopter, self._adopter = self._adopter, None
        if adopter is not None:
            adopter.cancel()
        tasks = list(self._running.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._running.clear()

    async def _run(self, handle: str) -> None:
        lease = None
        if self.leases is not None:
            lease = await self.leases.take(f"move:{handle}", 1)
            if lease is None:                       # another server runs it
                return
        try:
            await self._move(handle)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("message move task %s failed", handle)
            await self.repo.set_move_task_status(handle, "FAILED", f"Internal error: {type(e).__name__}")
        finally:
            if lease is not None and self.leases is not None:
                await self.leases.give(f"move:{handle}", lease)

    async def _queue_gone(self, source_id: int, dests: dict[str, int] | int) -> bool:
        """Whether the task's source or one of its destinations was deleted (read from the store, not the
        cache: another server may have deleted it)."""
        ids = [source_id, *([dests] if isinstance(dests, int) else dests.values())]
        for queue_id in ids:
            if await self.repo.queue_by_id(queue_id) is None:
                return True
        return False

    async def _move(self, handle: str) -> None:
        row = await self.repo.move_task(handle)
        if row is None:
            return
        source_arn, dest_arn, rate = row.source_arn, row.dest_arn, row.rate
        source = await self.directory.by_arn(source_arn)
        if source is None:
            await self.repo.set_move_task_status(handle, "FAILED", NON_EXISTENT_QUEUE)
            return
        dests: dict[str, int] | int
        fifo_dest: dict[int, bool] = {}
        if dest_arn:
            dest = await self.directory.by_arn(dest_arn)
            if dest is None:
                await self.repo.set_move_task_status(handle, "FAILED", NON_EXISTENT_QUEUE)
                return
            dests = dest.id
            fifo_dest[dest.id] = dest.fifo
        else:
            dests = {}
            for src in await self.repo.dead_letter_sources(source_arn, "", 1000):
                q_row = await self.repo.queue_by_name(src.account, source.region, src.name)
                if q_row is not None:
                    q = Queue.from_row(q_row)
                    dests[q.arn] = q.id
                    fifo_dest[q.id] = q.fifo
        loop = asyncio.get_running_loop()
        started = loop.time()
        moved_total = 0
        batch = min(int(rate), UNBOUNDED_BATCH) if rate else UNBOUNDED_BATCH
        while True:
            state = await self.repo.move_task(handle)
            if state is None:
                return
            if state.status == "CANCELLING":
                await self.repo.set_move_task_status(handle, "CANCELLED", only_if=("CANCELLING",))
                return
            if state.status != "RUNNING":
                return
            # a message past the dead-letter queue's retention period is gone, not moved
            now = self.clock.now_ms()
            while await self.repo.expire(source.id, now - source.retention_ms, now, limit=batch) == batch:
                pass
            if await self._queue_gone(source.id, dests):
                await self.repo.set_move_task_status(handle, "FAILED", NON_EXISTENT_QUEUE, only_if=("RUNNING",))
                return
            try:
                moved = await self.repo.move_batch(handle, source.id, dests, self.clock.now_ms(), batch, fifo_dest)
            except IntegrityError:
                # a queue deleted between the check and the batch (its messages cannot move there)
                if not await self._queue_gone(source.id, dests):
                    raise
                await self.repo.set_move_task_status(handle, "FAILED", NON_EXISTENT_QUEUE, only_if=("RUNNING",))
                return
            if moved == 0:
                await self.repo.set_move_task_status(handle, "COMPLETED", only_if=("RUNNING",))
                return
            if moved < 0:
                await self.repo.set_move_task_status(
                    handle, "FAILED", "Some messages in the source queue did not come from a queue that uses it "
                    "as a dead-letter queue; give a DestinationArn to move them.", only_if=("RUNNING",))
                return
            moved_total += moved
            for qid in ([dests] if isinstance(dests, int) else dests.values()):
                self.waiters.wake(qid, SCAN)
            if rate:
                ahead = moved_total / rate - (loop.time() - started)
                await asyncio.sleep(max(ahead, 0.0))
            else:
                await asyncio.sleep(0)
