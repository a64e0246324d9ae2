"""The outbox repository (store/outbox.py): rows written in a change's transaction wake the dispatchers, each
due row is claimed by one claimer at a time, and a claimed row is due again only once its lease has run
out. On SQLite, PostgreSQL, and two servers on one PostgreSQL database claiming at once."""

from __future__ import annotations

import asyncio

from tests.support.nodes import StoreNodes
from tsunagi.store.outbox import NOTIFY_CHANNEL, NewRow, OutboxRepo

LEASE_MS = 60_000


def test_each_row_is_claimed_once_until_its_lease_runs_out(nodes: StoreNodes) -> None:
    async def body():
        async with nodes.opened() as (a, b):
            on_a, on_b = OutboxRepo(a), OutboxRepo(b)
            woken: list[str] = []
            b.listen(NOTIFY_CHANNEL, woken.append)
            async with a.transaction() as tx:
                await on_a.add(tx, [NewRow("test", f"t{i:02}", "{}") for i in range(40)], due_ms=1_000)
            await nodes.settled(a, b)
            # claimed at once, a few rows at a time, by claimers on both servers
            batches = await asyncio.gather(*[(on_a if i % 2 else on_b).claim(1_000, LEASE_MS, 3) for i in range(20)])
            claimed = sorted(row.target for batch in batches for row in batch)
            before_lease_ends = await on_b.claim(1_000 + LEASE_MS - 1, LEASE_MS, 100)
            after_lease_ends = await on_a.claim(1_000 + LEASE_MS, LEASE_MS, 100)
            await on_b.done([row.id for row in after_lease_ends])
            return woken, claimed, before_lease_ends, after_lease_ends, await on_a.pending()

    woken, claimed, before, after, left = asyncio.run(body())
    assert woken == [""]
    assert claimed == [f"t{i:02}" for i in range(40)]
    assert before == []
    assert sorted(row.target for row in after) == claimed and {row.attempts for row in after} == {2}
    assert left == []
