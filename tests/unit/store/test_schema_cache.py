"""A new SQLite store copied from the cached empty database (store/schema_cache.py) is the store the
migrations make: the same tables, indexes, triggers and their SQL, the same migrations recorded, the same
file settings; a changed migration set or an unusable cache is never served a copy."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import pytest

from tsunagi.store import schema_cache
from tsunagi.store import sqlite as sqlite_store
from tsunagi.store.base import migrations, open_store


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sqlite_store, "SCHEMA_CACHE_DELAY_S", 0.0)
    return tmp_path / "cache" / "tsunagi"


def _open(folder) -> tuple[bool, str | None]:
    """Open (and close) a store in ``folder``: whether it was fresh, and the template it was copied from."""
    async def body():
        store = open_store("sqlite", str(folder))
        await store.open()
        fresh, templated = store.fresh, store._templated
        await asyncio.sleep(0.05)       # the loop runs the schema cache's callback (no delay here)
        await store.close()
        return fresh, templated

    return asyncio.run(body())


def _wait_for_template(timeout: float = 30.0) -> str:
    path = schema_cache.template_path(schema_cache.digest(migrations("sqlite")))
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "no schema template was written"
        time.sleep(0.05)
    return path


def _schema(path: str) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        return {
            "objects": sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                           "WHERE name NOT IN ('sqlite_stat1', 'sqlite_stat4')")),
            "migrations": list(conn.execute("SELECT version, name FROM tsunagi_migrations ORDER BY version")),
            "pragmas": {p: conn.execute(f"PRAGMA {p}").fetchone()[0]
                        for p in ("journal_mode", "page_size", "auto_vacuum", "user_version", "application_id",
                                  "encoding")},
            "rows": {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                     for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                              "AND name NOT LIKE 'sqlite_%' AND name <> 'tsunagi_migrations'")},
        }
    finally:
        conn.close()


def test_a_copied_store_has_the_migrated_schema(cache, tmp_path):
    # Given a first store, migrated (nothing cached yet), which then caches its schema
    assert _open(tmp_path / "a") == (True, None)
    template = _wait_for_template()
    # When a second new store opens
    fresh, templated = _open(tmp_path / "b")
    # Then it is a copy of the cached database, still a new store, with the migrated store's schema exactly
    assert fresh is True and templated is not None
    assert template.startswith(str(cache))
    migrated, copied = _schema(str(tmp_path / "a" / "tsunagi.db")), _schema(str(tmp_path / "b" / "tsunagi.db"))
    assert copied == migrated
    assert copied["migrations"] == [(v, n) for v, n, _ in migrations("sqlite")]
    # and its migrations are recorded as applied when it was made, not when the template was
    conn = sqlite3.connect(str(tmp_path / "b" / "tsunagi.db"))
    applied = [r[0] for r in conn.execute("SELECT applied_at FROM tsunagi_migrations")]
    conn.close()
    assert all(abs(a - time.time()) < 60 for a in applied)
    # And reopening it is an existing store
    assert _open(tmp_path / "b") == (False, None)


def test_another_migration_set_gets_no_copy(cache, tmp_path):
    _open(tmp_path / "a")
    _wait_for_template()
    todo = migrations("sqlite")
    changed = [*todo[:-1], (todo[-1][0], todo[-1][1], todo[-1][2] + "\n-- changed")]
    assert schema_cache.digest(changed) != schema_cache.digest(todo)
    assert schema_cache.digest(todo[:-1]) != schema_cache.digest(todo)
    assert schema_cache.copy_template(schema_cache.digest(changed), str(tmp_path / "x.db")) is False
    assert not (tmp_path / "x.db").exists()


def test_an_unusable_cache_leaves_stores_migrating(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(sqlite_store, "SCHEMA_CACHE_DELAY_S", 0.0)
    assert _open(tmp_path / "a") == (True, None)
    time.sleep(0.5)
    assert _open(tmp_path / "b") == (True, None)
    assert _schema(str(tmp_path / "a" / "tsunagi.db")) == _schema(str(tmp_path / "b" / "tsunagi.db"))
