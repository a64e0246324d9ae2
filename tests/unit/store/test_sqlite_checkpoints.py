"""SQLite WAL checkpoints: tsunagi runs them itself, after syncing the WAL on a worker thread, instead
of SQLite's automatic checkpoint inside a COMMIT (tsunagi.store.sqlite's docstring)."""

from __future__ import annotations

import asyncio
import os

from tsunagi.store import sqlite as sqlite_store
from tsunagi.store.base import open_store

ROW = "x" * 3000     # about one page per row
PAGE = 4096


async def _write(store, commits: int, watch: str, first: int = 0) -> int:
    """``commits`` single-row commits with no pause between them; the WAL's largest size seen."""
    largest = 0
    for i in range(first, first + commits):
        await store.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("arn:t", f"k{i}", ROW))
        if i % 20 == 0:
            # the worker thread's sync finishes in the meantime (however loaded the machine is)
            while store._ckpt_state == sqlite_store._CKPT_SYNCING:
                await asyncio.sleep(0.001)
            largest = max(largest, os.path.getsize(watch) if os.path.exists(watch) else 0)
    return largest


async def _write_and_count(tmp_path, commits: int, first: int = 0) -> tuple[int, int]:
    store = open_store(f"sqlite:///{tmp_path}/t.db", str(tmp_path))
    await store.open()
    try:
        largest = await _write(store, commits, f"{tmp_path}/t.db-wal", first)
        count = (await store.fetchone("SELECT count(*) FROM tags"))[0]
    finally:
        await store.close()
    return largest, count


def test_the_wal_is_checkpointed_as_it_grows(tmp_path, monkeypatch):
    # Given a store that checkpoints every 100 pages
    monkeypatch.setattr(sqlite_store, "_CKPT_PAGES", 100)
    # When 2,000 commits of one page each (~8 MB of WAL frames in all) follow one another
    largest, count = asyncio.run(_write_and_count(tmp_path, 2000))
    # Then the WAL was checkpointed and started over along the way (SQLite's own checkpoint at 1000
    # pages would have let it reach ~4 MB; none at all, ~8 MB), and every row is there
    assert count == 2000
    assert 0 < largest < 6 * 100 * PAGE, largest


def test_closing_checkpoints_everything_into_the_database_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "_CKPT_PAGES", 100)
    # Given a store that wrote 300 pages and closed
    asyncio.run(_write_and_count(tmp_path, 300))
    # Then the WAL is folded into the database file and removed
    wal = f"{tmp_path}/t.db-wal"
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0
    # And the rows are all there when the store opens again
    _, count = asyncio.run(_write_and_count(tmp_path, 1, first=300))
    assert count == 301


def test_a_failed_sync_is_logged_and_the_checkpoint_still_runs(tmp_path, monkeypatch, caplog):
    # Given a store whose syncs of the WAL on the worker thread fail
    monkeypatch.setattr(sqlite_store, "_CKPT_PAGES", 100)

    def broken(path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sqlite_store, "_sync_file", broken)
    # When it writes
    largest, count = asyncio.run(_write_and_count(tmp_path, 1000))
    # Then the failure is in the log, the checkpoints ran anyway (SQLite syncs in them), and no row is lost
    assert "syncing the WAL before a checkpoint failed (the checkpoint syncs it)" in caplog.text
    assert count == 1000
    assert 0 < largest < 6 * 100 * PAGE, largest
