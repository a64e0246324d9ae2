"""The store contract, run on every backend from one parametrized fixture: SQLite, PostgreSQL, and two
servers on one PostgreSQL database (``nodes``, see ``conftest.py``). On two servers each test splits its
work between them (writes on ``a``, reads, deletes, resets or listening on ``b``), so that what one
process keeps to itself (caches, wake-ups, sequences) and the other does not see fails it."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.nodes import StoreNodes
from tsunagi.store.base import IntegrityError, StoreError, migrations, open_store, split_statements


def run(coro):
    return asyncio.run(coro)


def test_migrations_are_applied_once(nodes: StoreNodes):
    fresh = nodes.on_a_fresh_database()

    async def body():
        # Given a store opened twice in a row (two servers: both open a new database at once, twice)
        async with fresh.opened():
            pass
        async with fresh.opened() as (_, b):
            # Then every migration file is recorded exactly once
            rows = await b.fetchall("SELECT version FROM tsunagi_migrations ORDER BY version")
        return [r[0] for r in rows]

    versions = run(body())
    assert versions == [v for v, _, _ in migrations("sqlite")]
    assert versions == [v for v, _, _ in migrations("postgres")]


def test_transaction_commits_together_and_rolls_back_together(nodes: StoreNodes):
    async def body():
        async with nodes.opened() as (a, b):
            async with a.transaction() as tx:
                await tx.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k1", "v"))
                await tx.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k2", "v"))
            with pytest.raises(RuntimeError):
                async with b.transaction() as tx:
                    await tx.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("b", "k1", "v"))
                    raise RuntimeError("boom")
            return await b.fetchall("SELECT arn, key FROM tags ORDER BY arn, key")

    assert run(body()) == [("a", "k1"), ("a", "k2")]


def test_constraint_violations_become_integrity_error(nodes: StoreNodes):
    async def body():
        async with nodes.opened() as (a, b):
            await a.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k", "1"))
            with pytest.raises(IntegrityError):
                await b.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k", "2"))
            # and the failed statement changed nothing
            return await a.fetchall("SELECT value FROM tags")

    assert run(body()) == [("1",)]


def test_bad_sql_becomes_store_error(nodes: StoreNodes):
    async def body():
        async with nodes.opened() as (a, b):
            for store in (a, b):
                with pytest.raises(StoreError):
                    await store.fetchall("SELECT nope FROM no_such_table")

    run(body())


def test_placeholders_and_percent_literals(nodes: StoreNodes):
    async def body():
        async with nodes.opened() as (a, b):
            await a.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)",
                                [("x", "100%", "a"), ("x", "k?", "b"), ("y", "z", "c")])
            return await b.fetchall("SELECT key FROM tags WHERE arn = ? AND key LIKE '%\\%' ESCAPE '\\' ", ("x",))

    assert run(body()) == [("100%",)]


def test_notify_is_delivered_after_commit_not_on_rollback(nodes: StoreNodes):
    async def body():
        async with nodes.opened() as (a, b):
            seen: list[str] = []
            b.listen("sqs", seen.append)
            async with a.transaction() as tx:
                tx.notify("sqs", "q1")
                assert seen == []  # not before commit
            with pytest.raises(RuntimeError):
                async with a.transaction() as tx:
                    tx.notify("sqs", "q2")
                    raise RuntimeError
            await nodes.settled(a, b)
            return seen

    assert run(body()) == ["q1"]


def test_concurrent_transactions_commit_apart_from_a_failing_one(nodes: StoreNodes):
    # SQLite commits the transactions of one loop turn together (group commit); each must still
    # succeed or fail on its own, and a transaction that awaits inside must not block the others forever.
    # Two servers: the transactions alternate between them, and ``b`` hears what both committed.
    insert = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"

    async def ok(s, key):
        async with s.transaction() as tx:
            await tx.execute(insert, ("a", key, "v"))
            tx.notify("tags", key)

    async def fails(s):
        async with s.transaction() as tx:
            await tx.execute(insert, ("a", "bad", "v"))
            tx.notify("tags", "bad")
            raise RuntimeError("the caller changed its mind")

    async def slow(s):
        async with s.transaction() as tx:
            await asyncio.sleep(0.02)           # holds its transaction open across turns
            await tx.execute(insert, ("a", "slow", "v"))
            tx.notify("tags", "slow")

    async def plain(s):
        await s.execute(insert, ("a", "plain", "v"))

    async def body():
        async with nodes.opened() as (a, b):
            seen: list[str] = []
            b.listen("tags", seen.append)
            results = await asyncio.gather(ok(a, "one"), fails(b), slow(a), ok(b, "two"), plain(a), ok(b, "three"),
                                           return_exceptions=True)
            await nodes.settled(a, b)
        # Then, read back from freshly opened stores (what reached the database):
        async with nodes.opened() as (_, b):
            rows = await b.fetchall("SELECT key FROM tags WHERE arn = ? ORDER BY key", ("a",))
        return results, sorted(seen), [r[0] for r in rows]

    results, seen, keys = run(body())
    assert [type(r).__name__ for r in results] == ["NoneType", "RuntimeError", "NoneType", "NoneType", "NoneType",
                                                   "NoneType"]
    assert keys == ["one", "plain", "slow", "three", "two"]
    assert seen == ["one", "slow", "three", "two"]


async def _b_waits_for_q1(a, b) -> list[str]:
    """Both stores treat ``sqs`` as targeted and ``b`` waits for key ``q1``: what ``b`` hears on it."""
    seen: list[str] = []
    for s in (a, b):
        s.targeted("sqs")
    b.listen("sqs", seen.append)
    await b.want("sqs", "q1")
    return seen


def test_a_targeted_notification_reaches_the_node_waiting_for_its_key_with_its_change(nodes: StoreNodes):
    """What a long poll relies on: the node waiting for a key (a queue) hears a change to it made anywhere,
    once the change is committed, also after a reset between its wait and the change."""
    insert = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"

    async def body():
        async with nodes.opened() as (a, b):
            seen = await _b_waits_for_q1(a, b)
            await a.reset()
            await a.execute_notify(insert, ("q1", "k", "v"), [("sqs", "q1")])
            await nodes.settled(a, b)
            rows = await b.fetchall("SELECT arn FROM tags")
            return seen, rows

    seen, rows = run(body())
    assert seen == ["q1"]
    assert rows == [("q1",)]


def test_a_targeted_notifications_key_is_its_payload_up_to_the_first_colon(nodes: StoreNodes):
    """A payload may carry detail after its key ("q1:1": one message sent to q1): it reaches the node
    waiting for q1, whole, and not the node waiting for q10."""
    insert = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"

    async def body():
        async with nodes.opened() as (a, b):
            seen = await _b_waits_for_q1(a, b)
            await a.execute_notify(insert, ("q1", "k", "v"), [("sqs", "q1:1")])
            await a.execute_notify(insert, ("q10", "k", "v"), [("sqs", "q10:1")])
            await nodes.settled(a, b)
            return seen

    seen = run(body())
    # one server: a store hears its own notifications, all of them
    assert seen == (["q1:1"] if nodes.two else ["q1:1", "q10:1"])


def test_a_caller_cancelled_while_its_group_commits_does_not_undo_the_others(nodes: StoreNodes):
    insert = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"

    async def body():
        async with nodes.opened() as (a, b):
            tasks = [asyncio.create_task(s.execute(insert, ("c", k, "v"))) for s, k in ((a, "k1"), (b, "k2"), (a, "k3"))]
            await asyncio.sleep(0)          # each has run its statement and waits for the commit
            tasks[1].cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            rows = await b.fetchall("SELECT key FROM tags WHERE arn = ? ORDER BY key", ("c",))
            return done, [r[0] for r in rows]

    done, keys = run(body())
    assert done[0] == 1 and done[2] == 1
    assert {"k1", "k3"} <= set(keys)


def test_reset_wipes_rows_but_keeps_schema(nodes: StoreNodes):
    async def body():
        async with nodes.opened() as (a, b):
            await a.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("a", "k", "v"))
            await b.reset()
            rows = await a.fetchall("SELECT * FROM tags")
            versions = await a.fetchall("SELECT version FROM tsunagi_migrations")
            return rows, versions

    rows, versions = run(body())
    assert rows == [] and versions


def test_reset_empties_large_and_small_tables_alike(nodes: StoreNodes):
    """A table with many rows (PostgreSQL TRUNCATEs it) and one with a few (DELETE) both end empty."""
    async def body():
        async with nodes.opened() as (a, b):
            await a.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)",
                                [("big", f"k{i}", "v") for i in range(1500)])
            await a.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("small", "k", "v"))
            await b.reset()
            first = await a.fetchall("SELECT COUNT(*) FROM tags")
            await b.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", ("again", "k", "v"))
            await a.reset()
            await b.reset()         # nothing to empty: still fine
            return first, await b.fetchall("SELECT COUNT(*) FROM tags")

    first, second = run(body())
    assert first[0][0] == 0 and second[0][0] == 0


def test_postgres_reset_restarts_identities(pg_nodes: StoreNodes):
    mail = ("INSERT INTO sns_mail (account, region, kind, recipient, sender, subject, body, created_at) "
            "VALUES ('1', 'r', 'email', 'a@example.com', 's', 'subj', 'b', 0) RETURNING id")

    async def body():
        async with pg_nodes.opened() as (a, b):
            async with a.transaction() as tx:
                await tx.fetchone(mail)
                await tx.fetchone(mail)
            await b.reset()
            async with a.transaction() as tx:
                row = await tx.fetchone(mail)
            return row

    assert run(body())[0] == 1


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
