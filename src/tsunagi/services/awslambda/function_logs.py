"""Function log lines to the logs service: the workers' sink, batched per group and stream.

Workers hand their lines (INIT_START, START, the function's output, END, REPORT) to :meth:`FunctionLogs.sink`
from the event loop; one writer task appends them through the logs port, a batch per log group and
stream, so a burst of invocations is a few appends rather than one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tsunagi.ports import Ports
from tsunagi.ports.logs import LOGS

log = logging.getLogger("tsunagi.lambda")

_Item = tuple[str, str, str, str, list[tuple[int, str]]]


class FunctionLogs:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._writer())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def sink(self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """The workers' sink (:data:`tsunagi.runtime.pool.Sink`)."""
        if self._queue is not None and LOGS in self.ports:
            self._queue.put_nowait((account, region, group, stream, events))

    async def _writer(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            item = await queue.get()
            batch: dict[tuple[str, str, str, str], list[tuple[int, str]]] = {}
            while True:
                account, region, group, stream, events = item
                batch.setdefault((account, region, group, stream), []).extend(events)
                if queue.empty():
                    break
                item = queue.get_nowait()
            logs = self.ports.find(LOGS)
            if logs is None:
                continue
            for (account, region, group, stream), events in batch.items():
                try:
                    await logs.append(account, region, group, stream, events)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not write function logs to %s %s", group, stream)
