"""The store contract, run on every backend from one parametrized fixture (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import require_postgres
from tests.support import postgres
from tsunagi.store.base import IntegrityError, StoreError, migrations, open_store, split_statements


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/t.db"
    else:
        require_postgres()
        url = postgres.create_database("tsunagi_store")
        yield url
        postgres.drop_database(url)


def run(coro):
    return asyncio.run(coro)


async def _opened(url, tmp_path):
    store = open_store(url, str(tmp_path))
    await store.open()
    return store


def test_migrations_are_applied_once(store_url, tmp_path):
    async def body():
        # Given a store opened twice in a row
        s = await _opened(store_url, tmp_path)
        await s.close()
        s = await _opened(store_url, tmp_path)
        # Then every migration file is recorded exactly once
        rows = await s.fetchall("SELECT version FROM tsunagi_migrations ORDER BY version")
        await s.close()
        return [r[0] for r in rows]

    versions = run(body())
    assert versions == [v for v, _, _ in migrations("sqlite")]
    assert versions == [v for v, _, _ in migrations("postgres")]


def test_transaction_commits_together_and_rolls_back_together(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            async with s.transaction() as tx:
                await tx.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k1", "v"))
                await tx.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k2", "v"))
            with pytest.raises(RuntimeError):
                async with s.transaction() as tx:
                    await tx.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("b", "k1", "v"))
                    raise RuntimeError("boom")
            return await s.fetchall("SELECT arn, key FROM tags ORDER BY arn, key")
        finally:
            await s.close()

    assert run(body()) == [("a", "k1"), ("a", "k2")]


def test_constraint_violations_become_integrity_error(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            await s.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k", "1"))
            with pytest.raises(IntegrityError):
                await s.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k", "2"))
            # and the failed statement changed nothing
            return await s.fetchall("SELECT value FROM tags")
        finally:
            await s.close()

    assert run(body()) == [("1",)]


def test_bad_sql_becomes_store_error(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            with pytest.raises(StoreError):
                await s.fetchall("SELECT nope FROM no_such_table")
        finally:
            await s.close()

    run(body())


def test_placeholders_and_percent_literals(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            await s.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)",
                                [("x", "100%", "a"), ("x", "k?", "b"), ("y", "z", "c")])
            return await s.fetchall("SELECT key FROM tags WHERE arn = ? AND key LIKE '%\\%' ESCAPE '\\' ", ("x",))
        finally:
            await s.close()

    assert run(body()) == [("100%",)]


def test_notify_is_delivered_after_commit_not_on_rollback(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("sqs", seen.append)
        try:
            async with s.transaction() as tx:
                tx.notify("sqs", "q1")
                assert seen == []  # not before commit
            with pytest.raises(RuntimeError):
                async with s.transaction() as tx:
                    tx.notify("sqs", "q2")
                    raise RuntimeError
            return seen
        finally:
            await s.close()

    assert run(body()) == ["q1"]


def test_concurrent_transactions_commit_apart_from_a_failing_one(store_url, tmp_path):
    # SQLite commits the transactions of one loop turn together (group commit); each must still
    # succeed or fail on its own, and a transaction that awaits inside must not block the others forever.
    insert = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"

    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("tags", seen.append)

        async def ok(key):
            async with s.transaction() as tx:
                await tx.execute(insert, ("a", key, "v"))
                tx.notify("tags", key)

        async def fails():
            async with s.transaction() as tx:
                await tx.execute(insert, ("a", "bad", "v"))
                tx.notify("tags", "bad")
                raise RuntimeError("the caller changed its mind")

        async def slow():
            async with s.transaction() as tx:
                await asyncio.sleep(0.02)           # holds its transaction open across turns
                await tx.execute(insert, ("a", "slow", "v"))
                tx.notify("tags", "slow")

        async def plain():
            await s.execute(insert, ("a", "plain", "v"))

        try:
            results = await asyncio.gather(ok("one"), fails(), slow(), ok("two"), plain(), ok("three"),
                                           return_exceptions=True)
            await s.close()
            # Then, read back from a freshly opened store (what reached the database):
            s = await _opened(store_url, tmp_path)
            rows = await s.fetchall("SELECT key FROM tags WHERE arn = ? ORDER BY key", ("a",))
            return results, sorted(seen), [r[0] for r in rows]
        finally:
            await s.close()

    results, seen, keys = run(body())
    assert [type(r).__name__ for r in results] == ["NoneType", "RuntimeError", "NoneType", "NoneType", "NoneType",
                                                   "NoneType"]
    assert keys == ["one", "plain", "slow", "three", "two"]
    assert seen == ["one", "slow", "three", "two"]


def test_a_caller_cancelled_while_its_group_commits_does_not_undo_the_others(store_url, tmp_path):
    insert = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"

    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            tasks = [asyncio.create_task(s.execute(insert, ("c", k, "v"))) for k in ("k1", "k2", "k3")]
            await asyncio.sleep(0)          # each has run its statement and waits for the commit
            tasks[1].cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            rows = await s.fetchall("SELECT key FROM tags WHERE arn = ? ORDER BY key", ("c",))
            return done, [r[0] for r in rows]
        finally:
            await s.close()

    done, keys = run(body())
    assert done[0] == 1 and done[2] == 1
    assert {"k1", "k3"} <= set(keys)


def test_reset_wipes_rows_but_keeps_schema(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            await s.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k", "v"))
            await s.reset()
            rows = await s.fetchall("SELECT * FROM tags")
            versions = await s.fetchall("SELECT version FROM tsunagi_migrations")
            return rows, versions
        finally:
            await s.close()

    rows, versions = run(body())
    assert rows == [] and versions


def test_reset_empties_large_and_small_tables_alike(store_url, tmp_path):
    """A table with many rows (PostgreSQL TRUNCATEs it) and one with a few (DELETE) both end empty."""
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            await s.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)",
                                [("big", f"k{i}", "v") for i in range(1500)])
            await s.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("small", "k", "v"))
            await s.reset()
            first = await s.fetchall("SELECT COUNT(*) FROM tags")
            await s.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("again", "k", "v"))
            await s.reset()
            await s.reset()         # nothing to empty: still fine
            return first, await s.fetchall("SELECT COUNT(*) FROM tags")
        finally:
            await s.close()

    first, second = run(body())
    assert first[0][0] == 0 and second[0][0] == 0


def test_postgres_reset_restarts_identities(tmp_path):
    require_postgres()
    url = postgres.create_database("tsunagi_reset")
    mail = ("INSERT INTO sns_mail (account, region, kind, recipient, sender, subject, body, created_at) "
            "VALUES ('1', 'r', 'email', 'a@example.com', 's', 'subj', 'b', 0) RETURNING id")

    async def body():
        s = open_store(url, str(tmp_path))
        await s.open()
        try:
            async with s.transaction() as tx:
                await tx.fetchone(mail)
                await tx.fetchone(mail)
            await s.reset()
            async with s.transaction() as tx:
                row = await tx.fetchone(mail)
            return row
        finally:
            await s.close()

    try:
        assert run(body())[0] == 1
    finally:
        postgres.drop_database(url)


def test_postgres_notifications_reach_other_nodes():
    require_postgres()
    url = postgres.create_database("tsunagi_store")

    async def body():
        a = open_store(url, "/tmp")
        b = open_store(url, "/tmp")
        await a.open()
        await b.open()
        got = asyncio.get_running_loop().create_future()
        b.listen("sqs", lambda p: got.done() or got.set_result(p))
        try:
            async with a.transaction() as tx:
                tx.notify("sqs", "queue-7")
            return await asyncio.wait_for(got, 5)
        finally:
            await a.close()
            await b.close()

    try:
        assert run(body()) == "queue-7"
    finally:
        postgres.drop_database(url)


def test_sqlite_file_serves_one_process_only(tmp_path):
    async def body():
        a = open_store(None, str(tmp_path))
        await a.open()
        try:
            b = open_store(None, str(tmp_path))
            with pytest.raises(StoreError, match="in use by another tsunagi process"):
                await b.open()
        finally:
            await a.close()

    run(body())


def test_unknown_store_url_is_refused(tmp_path):
    with pytest.raises(StoreError, match="unknown store"):
        open_store("mysql://x", str(tmp_path))


def test_split_statements_keeps_blocks_whole():
    sql = "CREATE TABLE a (x int);\n-- a comment\n-- begin block\nCREATE FUNCTION f() AS $$ a; b; $$;\n-- end block\n"
    assert split_statements(sql) == ["CREATE TABLE a (x int);", "CREATE FUNCTION f() AS $$ a; b; $$;"]
