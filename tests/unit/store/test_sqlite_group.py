"""The SQLite store's group commit: each member waits on a future of its own (tsunagi.store.sqlite._Group)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from tsunagi.store.base import StoreError, open_store
from tsunagi.store.sqlite import _Group


def test_a_cancelled_member_does_not_cancel_the_others_wait():
    async def main() -> list[object]:
        group = _Group(asyncio.get_running_loop())
        members = [asyncio.create_task(group.committed()) for _ in range(3)]
        await asyncio.sleep(0)
        members[1].cancel()
        await asyncio.sleep(0)
        group.succeed()
        return await asyncio.gather(*members, return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert first is None and third is None
    assert isinstance(second, asyncio.CancelledError)


def test_a_failed_commit_gives_each_member_its_own_error_and_logs_nothing(caplog: pytest.LogCaptureFixture):
    async def main() -> list[object]:
        group = _Group(asyncio.get_running_loop())
        members = [asyncio.create_task(group.committed()) for _ in range(3)]
        await asyncio.sleep(0)
        group.fail(StoreError("sqlite: disk full"))
        members[2].cancel()       # cancelled after the failure, before it read its error
        return await asyncio.gather(*members, return_exceptions=True)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        first, second, third = asyncio.run(main())
        gc.collect()
    assert isinstance(first, StoreError) and isinstance(second, StoreError) and first is not second
    assert str(first) == "sqlite: disk full"
    assert isinstance(third, asyncio.CancelledError)
    assert "never retrieved" not in caplog.text


def test_a_member_that_joins_after_the_commit_returns_at_once(tmp_path):
    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path}/t.db", str(tmp_path))
        await store.open()
        try:
            await store.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("arn:t", "k", "v"))
            group = _Group(asyncio.get_running_loop())
            group.succeed()
            await asyncio.wait_for(group.committed(), 1)
            failed = _Group(asyncio.get_running_loop())
            failed.fail(StoreError("sqlite: gone"))
            with pytest.raises(StoreError, match="gone"):
                await failed.committed()
        finally:
            await store.close()

    asyncio.run(main())
