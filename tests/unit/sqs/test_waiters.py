"""Long polls parked on a queue: a wake goes to one poll, the one that has waited longest."""

from __future__ import annotations

import asyncio

from tsunagi.services.sqs.waiters import SCAN, SENT, TIMEOUT, Waiters


def test_a_wake_goes_to_the_poll_that_waited_longest_and_only_to_it():
    async def body():
        w = Waiters()
        futs = [w.register(7) for _ in range(3)]
        w.wake(7)
        assert [f.done() for f in futs] == [True, False, False]
        assert futs[0].result() == SENT
        w.wake(7, SCAN)
        assert [f.done() for f in futs] == [True, True, False]
        w.wake(8)                        # another queue's wake reaches none of them
        assert not futs[2].done()
        w.wake_all(7)
        assert futs[2].result() == SCAN
        assert not w.has(7)
    asyncio.run(body())


def test_a_poll_that_leaves_without_looking_passes_its_wake_on():
    async def body():
        w = Waiters()
        first, second = w.register(7), w.register(7)
        w.wake(7)
        w.discard(7, first, pass_on=True)    # its client went away before it looked
        assert second.done() and second.result() == SENT
        third = w.register(7)
        w.discard(7, third, pass_on=True)    # never woken: nothing to pass on
        assert not w.has(7)
    asyncio.run(body())


def test_a_poll_that_timed_out_is_skipped_by_a_wake():
    async def body():
        w = Waiters()
        first, second = w.register(7), w.register(7)
        assert await w.wait(first, 0.01) == TIMEOUT
        w.wake(7)                            # the first is done (timed out) but not yet discarded
        assert second.result() == SENT
    asyncio.run(body())


def test_one_timer_per_queue_wakes_one_poll_when_a_message_turns_visible():
    async def body():
        w = Waiters()
        futs = [w.register(7) for _ in range(3)]
        w.due(7, 0.05)
        w.due(7, 0.01)                       # the earlier time wins
        w.due(7, 0.2)
        await asyncio.sleep(0.03)
        assert [f.done() for f in futs] == [True, False, False]
        assert futs[0].result() == SCAN
    asyncio.run(body())


def test_the_backstop_wakes_one_poll_a_period_while_polls_wait():
    async def body():
        w = Waiters(backstop=0.02)
        futs = [w.register(7) for _ in range(3)]
        await asyncio.sleep(0.03)
        assert sum(f.done() for f in futs) == 1
        w.close()
        assert all(f.done() for f in futs)
    asyncio.run(body())
