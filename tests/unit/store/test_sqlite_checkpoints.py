"""SQLite WAL checkpoints run on their own thread (tsunagi.store.sqlite._Checkpointer), not inside commits."""

from __future__ import annotations

import asyncio
import os

from tsunagi.store import sqlite as sqlite_store
from tsunagi.store.base import open_store

ROW = "x" * 3000     # about one page per row


async def _write(store, commits: int, watch: str) -> int:
    """``commits`` single-row commits with no pause between them; the WAL's largest size seen."""
    largest = 0
    for i in range(commits):
        await store.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("arn:t", f"k{i}", ROW))
        if i % 50 == 0:
            await asyncio.sleep(0)
            largest = max(largest, os.path.getsize(watch) if os.path.exists(watch) else 0)
    return largest


def test_the_wal_stays_bounded_under_writes_that_never_pause(tmp_path, monkeypatch):
    # Given a store whose checkpoint thread looks often and whose WAL cap is small
    monkeypatch.setattr(sqlite_store, "_CKPT_EVERY_S", 0.002)
    monkeypatch.setattr(sqlite_store, "_WAL_CAP_PAGES", 200)
    wal = f"{tmp_path}/t.db-wal"

    async def body():
        store = open_store(f"sqlite:///{tmp_path}/t.db", str(tmp_path))
        await store.open()
        try:
            # When 3,000 commits of one page each (~25 MB of WAL frames in all) follow one another
            largest = await _write(store, 3000, wal)
            count = (await store.fetchone("SELECT count(*) FROM tags"))[0]
        finally:
            await store.close()
        return largest, count

    largest, count = asyncio.run(body())
    # Then the WAL was checkpointed and started over along the way: it never held more than a few
    # caps' worth of pages, and every row is there
    assert count == 3000
    assert 0 < largest < 8 * 200 * 4096, largest


def test_closing_checkpoints_everything_into_the_database_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "_CKPT_EVERY_S", 0.002)
    path = f"{tmp_path}/t.db"

    async def write():
        store = open_store(f"sqlite:///{path}", str(tmp_path))
        await store.open()
        try:
            await _write(store, 300, path + "-wal")
        finally:
            await store.close()

    async def count():
        store = open_store(f"sqlite:///{path}", str(tmp_path))
        await store.open()
        try:
            return (await store.fetchone("SELECT count(*) FROM tags"))[0]
        finally:
            await store.close()

    # Given a store that wrote while its checkpoint thread ran, then closed
    asyncio.run(write())
    # Then the checkpoint thread has let go of the file: the WAL is folded into the database and removed
    assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0
    # And the rows are all there when the store opens again
    assert asyncio.run(count()) == 300


class _FailsOnce:
    """A connection whose first statement fails as a full or broken disk would make it."""

    def __init__(self, conn):
        self.conn, self.failed = conn, False

    def execute(self, sql):
        if not self.failed:
            self.failed = True
            raise sqlite_store.sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql)

    def close(self):
        self.conn.close()


def test_a_failed_checkpoint_is_logged_and_tried_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sqlite_store, "_CKPT_EVERY_S", 0.002)

    async def body():
        store = open_store(f"sqlite:///{tmp_path}/t.db", str(tmp_path))
        await store.open()
        try:
            # Given a checkpoint thread whose first checkpoint fails
            flaky = store._ckpt._conn = _FailsOnce(store._ckpt._conn)
            # When there are commits to checkpoint
            await _write(store, 20, f"{tmp_path}/t.db-wal")
            for _ in range(1000):
                if store._ckpt.frames:
                    break
                await asyncio.sleep(0.002)
            return flaky.failed, store._ckpt.frames
        finally:
            await store.close()

    failed, frames = asyncio.run(body())
    # Then the failure is in the log, and a later turn of the thread checkpoints after all
    assert failed
    assert "WAL checkpoint failed (it is tried again later): disk I/O error" in caplog.text
    assert frames > 0
