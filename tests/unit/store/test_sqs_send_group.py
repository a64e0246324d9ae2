"""SQS sends on a shared store: the sends of one turn of the event loop go out in one statement
(``SqsRepo._grouped``); each caller still gets its own outcome."""

from __future__ import annotations

import asyncio

from tests.support.nodes import StoreNodes
from tsunagi.store.sqs import NewMessage, SqsRepo


def _msg(i: int) -> NewMessage:
    return NewMessage(message_id=f"m{i}", body=f"body {i}", md5_body="0" * 32, attrs=None, md5_attrs=None,
                      trace_header=None, md5_sys=None, sender_id="000000000000", sent_at=1, retain_from=1,
                      visible_at=0, group_id=None, dedup_id=None, fifo=0, trace_id=None)


async def _queue(repo: SqsRepo, name: str) -> int:
    return await repo.create_queue("000000000000", "us-east-1", name, f"arn:aws:sqs:us-east-1:000000000000:{name}",
                                   False, "{}", "{}", None, 1)


async def _bodies(repo: SqsRepo, queue_id: int) -> list[str]:
    rows = await repo.claim(repo.store, queue_id, 10, 10, 1, 100)
    return sorted(r.body for r in rows)


def test_sends_of_one_turn_each_land_and_a_cancelled_one_does_not_undo_the_others(pg_nodes: StoreNodes):
    async def body():
        async with pg_nodes.opened() as (a, b):
            repo, other = SqsRepo(a), SqsRepo(b)
            q = await _queue(repo, "grouped")
            sends = [asyncio.create_task(repo.insert(q, _msg(i))) for i in range(5)]
            await asyncio.sleep(0)          # every send has joined the turn's group, which has not run yet
            sends[2].cancel()
            done = await asyncio.gather(*sends, return_exceptions=True)
            return done, await _bodies(other, q)

    done, bodies = asyncio.run(body())
    assert [d for i, d in enumerate(done) if i != 2] == [None] * 4
    assert isinstance(done[2], asyncio.CancelledError)
    # the statement carried every row the group held when it ran (the cancelled caller's too: it had
    # joined before its cancel); the others are there whatever became of it
    assert {"body 0", "body 1", "body 3", "body 4"} <= set(bodies)


def test_a_send_to_a_deleted_queue_fails_alone(pg_nodes: StoreNodes):
    async def body():
        async with pg_nodes.opened() as (a, b):
            repo = SqsRepo(a)
            q1, q2 = await _queue(repo, "kept"), await _queue(repo, "gone")
            await SqsRepo(b).delete_queue(q2, "000000000000", "us-east-1", "gone", 1)
            sends = [asyncio.create_task(repo.insert(q, _msg(i))) for i, q in enumerate((q1, q2, q1))]
            done = await asyncio.gather(*sends, return_exceptions=True)
            return done, await _bodies(repo, q1)

    done, bodies = asyncio.run(body())
    assert done[0] is None and done[2] is None
    assert isinstance(done[1], Exception)
    assert bodies == ["body 0", "body 2"]
