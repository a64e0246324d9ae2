"""Upkeep in the background: messages past their queue's retention period are deleted, and FIFO
deduplication and receive-attempt records older than their five-minute window are dropped.

Receives never return an expired message whether or not the sweep has run (they check retention as
they claim); the sweep keeps the store from growing with messages no one receives.
"""

from __future__ import annotations

import asyncio
import logging

from tsunagi.clock import Clock
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.sending import DEDUP_WINDOW_MS
from tsunagi.store.sqs import SqsRepo

log = logging.getLogger("tsunagi.sqs")

SWEEP_INTERVAL_S = 30.0


class Sweeper:
    def __init__(self, repo: SqsRepo, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="tsunagi-sqs-sweep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            if not self.repo.store.leads():      # one server sweeps for all that share the database
                continue
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SQS sweep failed")

    async def sweep(self) -> None:
        """Delete expired messages (retention) and old deduplication / receive-attempt records."""
        now = self.clock.now_ms()
        for row in await self.repo.all_queues():
            q = Queue.from_row(row)
            await self.repo.expire(q.id, now - q.retention_ms, now)
        await self.repo.sweep_dedup(now - DEDUP_WINDOW_MS)
