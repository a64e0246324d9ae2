"""Long polls waiting for a queue: woken by a send (here or, through the store's notifications,
on another server), a visibility change, a deletion that unblocks a FIFO group, or shutdown.

A wake goes to *one* poll, the one that has waited longest: one message needs one receiver, and
waking every poll parked on a queue for each message made each of them look in the database (with
100 parked polls, ~180 statements per message). What a woken poll is told:

- :data:`SENT`: one message arrived; the poll looks once.
- :data:`SCAN`: an unknown number may be there (a batch, another server's send, a hidden message
  turning visible, the backstop): the poll looks, and if it filled its whole batch it wakes the next
  poll, which does the same, until one comes back with less than it asked for.

A poll that is woken but leaves without looking (its client went away) passes the wake on. Queues
deleted and the store reconnecting wake every poll (:meth:`wake_all`). The time a hidden message
turns visible (:meth:`due`) and, on a shared store, a periodic backstop are kept per queue, not per
poll: one timer wakes one poll.
"""

from __future__ import annotations

import asyncio

TIMEOUT, SENT, SCAN = 0, 1, 2


class Waiters:
    def __init__(self, backstop: float | None = None) -> None:
        # queue id → its polls' futures in the order they started waiting (a dict keeps insertion order)
        self._by_queue: dict[int, dict[asyncio.Future[int], None]] = {}
        self.closed = False
        self.deleted: set[int] = set()      # queues deleted on this server: their polls answer at once
        self.backstop = backstop            # seconds between looks while polls wait (shared store)
        self._due: dict[int, tuple[float, asyncio.TimerHandle]] = {}
        self._backstops: dict[int, asyncio.TimerHandle] = {}

    def gone(self, queue_id: int) -> None:
        """The queue was deleted: wake its polls, which then answer QueueDoesNotExist."""
        if len(self.deleted) > 10_000:
            self.deleted.clear()
        self.deleted.add(queue_id)
        self.wake_all(queue_id)

    def register(self, queue_id: int) -> asyncio.Future[int]:
        """A future resolved at a wake of ``queue_id``; register *before* looking for messages."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if self.closed:
            fut.set_result(SCAN)
            return fut
        futs = self._by_queue.get(queue_id)
        if futs is None:
            futs = self._by_queue[queue_id] = {}
            if self.backstop is not None and queue_id not in self._backstops:
                self._backstops[queue_id] = loop.call_later(self.backstop, self._on_backstop, queue_id)
        futs[fut] = None
        return fut

    def discard(self, queue_id: int, fut: asyncio.Future[int], pass_on: bool = False) -> None:
        """``fut``'s poll stops waiting. ``pass_on``: it leaves without looking, so a wake it got goes
        to the next poll."""
        futs = self._by_queue.get(queue_id)
        if futs is not None:
            futs.pop(fut, None)
            if not futs:
                del self._by_queue[queue_id]
        if pass_on and fut.done() and not fut.cancelled() and fut.result() != TIMEOUT:
            self.wake(queue_id, fut.result())

    def has(self, queue_id: int) -> bool:
        """Whether a poll on this server waits for ``queue_id``."""
        return queue_id in self._by_queue

    def wake(self, queue_id: int, why: int = SENT) -> None:
        """Wake the poll of ``queue_id`` that has waited longest (none waiting: nothing happens)."""
        futs = self._by_queue.get(queue_id)
        if not futs:
            return
        while futs:
            fut = next(iter(futs))
            del futs[fut]
            if not fut.done():
                fut.set_result(why)
                break
        if not futs:
            del self._by_queue[queue_id]

    def wake_all(self, queue_id: int | None = None) -> None:
        """Wake every poll of ``queue_id`` (of every queue when None)."""
        ids = list(self._by_queue) if queue_id is None else [queue_id]
        for qid in ids:
            futs = self._by_queue.pop(qid, None)
            for fut in futs or ():
                if not fut.done():
                    fut.set_result(SCAN)

    def due(self, queue_id: int, delay: float) -> None:
        """A hidden message of ``queue_id`` turns visible in ``delay`` seconds: wake one poll then."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(delay, 0.0)
        cur = self._due.get(queue_id)
        if cur is not None:
            if cur[0] <= when:
                return
            cur[1].cancel()
        self._due[queue_id] = (when, loop.call_at(when, self._on_due, queue_id))

    def _on_due(self, queue_id: int) -> None:
        self._due.pop(queue_id, None)
        self.wake(queue_id, SCAN)

    def _on_backstop(self, queue_id: int) -> None:
        self._backstops.pop(queue_id, None)
        if queue_id in self._by_queue and self.backstop is not None:
            self.wake(queue_id, SCAN)
            loop = asyncio.get_running_loop()
            self._backstops[queue_id] = loop.call_later(self.backstop, self._on_backstop, queue_id)

    def close(self) -> None:
        self.closed = True
        for _, handle in self._due.values():
            handle.cancel()
        for handle in self._backstops.values():
            handle.cancel()
        self._due.clear()
        self._backstops.clear()
        self.wake_all()

    def __len__(self) -> int:
        return sum(len(f) for f in self._by_queue.values())

    @staticmethod
    async def wait(fut: asyncio.Future[int], timeout: float) -> int:
        """Wait for a wake or the timeout (seconds); what woke the poll (:data:`TIMEOUT` when nothing did)."""
        if fut.done():
            return fut.result()
        timer = asyncio.get_running_loop().call_later(max(timeout, 0.0), _expire, fut)
        try:
            return await fut
        finally:
            timer.cancel()


def _expire(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_result(TIMEOUT)
