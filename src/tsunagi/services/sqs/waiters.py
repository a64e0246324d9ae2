"""Long polls waiting for a queue: woken by a send (here or, through the store's notifications,
on another server), a visibility change, a deletion that unblocks a FIFO group, or shutdown."""

from __future__ import annotations

import asyncio


class Waiters:
    def __init__(self) -> None:
        self._by_queue: dict[int, set[asyncio.Future[bool]]] = {}
        self.closed = False
        self.deleted: set[int] = set()      # queues deleted on this server: their polls answer at once

    def gone(self, queue_id: int) -> None:
        """The queue was deleted: wake its polls, which then answer QueueDoesNotExist."""
        if len(self.deleted) > 10_000:
            self.deleted.clear()
        self.deleted.add(queue_id)
        self.wake(queue_id)

    def register(self, queue_id: int) -> asyncio.Future[bool]:
        """A future resolved at the next wake of ``queue_id``; register *before* looking for messages."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.closed:
            fut.set_result(True)
        else:
            self._by_queue.setdefault(queue_id, set()).add(fut)
        return fut

    def discard(self, queue_id: int, fut: asyncio.Future[bool]) -> None:
        futs = self._by_queue.get(queue_id)
        if futs is not None:
            futs.discard(fut)
            if not futs:
                del self._by_queue[queue_id]

    def wake(self, queue_id: int) -> None:
        futs = self._by_queue.pop(queue_id, None)
        if futs:
            for fut in futs:
                if not fut.done():
                    fut.set_result(True)

    def wake_all(self) -> None:
        for queue_id in list(self._by_queue):
            self.wake(queue_id)

    def __len__(self) -> int:
        return sum(len(f) for f in self._by_queue.values())

    @staticmethod
    async def wait(fut: asyncio.Future[bool], timeout: float) -> bool:
        """Wait for a wake or the timeout (seconds); True when woken."""
        if fut.done():
            return bool(fut.result())
        timer = asyncio.get_running_loop().call_later(max(timeout, 0.0), _expire, fut)
        try:
            return bool(await fut)
        finally:
            timer.cancel()


def _expire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)
