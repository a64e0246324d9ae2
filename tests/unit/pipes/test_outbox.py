"""The outbox dispatcher: each delivery runs on its own, so a target that hangs holds only itself."""

from __future__ import annotations

import asyncio

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.pipes import install
from tsunagi.pipes.outbox import Job, Outbox
from tsunagi.ports.outbox import OutboxItem
from tsunagi.services.base import Platform
from tsunagi.store.base import open_store


def test_a_hanging_target_does_not_hold_the_deliveries_claimed_with_it(store_url: str) -> None:
    async def main() -> None:
        platform = Platform(Config(), open_store(store_url, "/tmp"), Clock())
        install(platform)
        box = platform.outbox
        assert isinstance(box, Outbox)
        await platform.store.open()
        await platform.store.reset()
        release = asyncio.Event()
        fast_done = asyncio.Event()
        seen: list[str] = []

        async def handler(job: Job) -> None:
            seen.append(job.target)
            if job.target == "slow":
                await release.wait()
            else:
                fast_done.set()

        box.register("test", handler)
        await box.start()
        try:
            async with platform.store.transaction() as tx:
                # one transaction, so both are claimed in the same batch, the slow one first
                await box.add(tx, [OutboxItem("test", "slow", {}, "1-00000000-aaaaaaaaaaaaaaaaaaaaaaaa"),
                                   OutboxItem("test", "fast", {}, None)])
            await asyncio.wait_for(fast_done.wait(), 10)
            assert not release.is_set() and seen[:2] == ["slow", "fast"]
            # the fast one is finished with (deleted) while the slow one still runs
            for _ in range(200):
                pending = [p.target for p in await box.repo.pending()]
                if pending == ["slow"]:
                    break
                await asyncio.sleep(0.01)
            assert pending == ["slow"]
            release.set()
            for _ in range(200):
                if not await box.repo.pending():
                    break
                await asyncio.sleep(0.01)
            assert await box.repo.pending() == []
        finally:
            await box.stop()
            await platform.store.close()

    asyncio.run(main())
