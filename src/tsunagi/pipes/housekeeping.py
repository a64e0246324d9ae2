"""Platform housekeeping that no one service owns: delivery records are for tracing recent journeys,
so they go after ``TSUNAGI_DELIVERY_RECORD_HOURS`` (default 24) and the table does not grow without end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi.pipes")

SWEEP_EVERY_S = 300.0


class DeliverySweeper:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tsunagi-delivery-sweep")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def on_reset(self) -> None:
        """Nothing in process to forget."""

    async def sweep(self) -> int:
        keep_ms = int(self.platform.config.delivery_record_hours * 3_600_000)
        removed = await self.platform.deliveries.sweep(self.platform.clock.now_ms() - keep_ms)
        if removed:
            log.info("removed %d delivery records older than %.1f h", removed, keep_ms / 3_600_000)
        return removed

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.platform.store.leads():    # one server sweeps for all that share the database
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as e:   # housekeeping: try again next round
                log.warning("sweeping delivery records failed: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SWEEP_EVERY_S)
