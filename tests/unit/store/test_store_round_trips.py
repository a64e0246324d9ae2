"""Transactions whose statements share round trips (PostgreSQL pipelines BEGIN, statements left for later,
notifications and COMMIT): what a caller sees must not change, on either store."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import require_postgres
from tests.support import postgres
from tsunagi.store.base import IntegrityError, open_store

INSERT = "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/t.db"
    else:
        require_postgres()
        url = postgres.create_database("tsunagi_rtt")
        yield url
        postgres.drop_database(url)


async def _opened(url, tmp_path):
    store = open_store(url, str(tmp_path))
    await store.open()
    return store


async def _keys(s, arn):
    return [r[0] for r in await s.fetchall("SELECT key FROM tags WHERE arn = ? ORDER BY key", (arn,))]


def test_statements_left_for_later_run_before_the_next_statement_and_commit_with_the_rest(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("tags", seen.append)
        try:
            async with s.transaction() as tx:
                await tx.execute_later(INSERT, ("a", "k1", "v"))
                await tx.execute_later(INSERT, ("a", "k2", "v"))
                # the next statement sees them
                counted = await tx.fetchone("SELECT COUNT(*) FROM tags WHERE arn = ?", ("a",))
                await tx.execute_later(INSERT, ("a", "k3", "v"))      # left until the commit
                tx.notify("tags", "a")
            return counted, await _keys(s, "a"), seen
        finally:
            await s.close()

    counted, keys, seen = asyncio.run(body())
    assert counted == (2,)
    assert keys == ["k1", "k2", "k3"]
    assert seen == ["a"]


def test_a_statement_left_for_later_that_fails_fails_the_transaction(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("tags", seen.append)
        try:
            await s.execute(INSERT, ("b", "dup", "v"))
            with pytest.raises(IntegrityError):
                async with s.transaction() as tx:
                    await tx.execute(INSERT, ("b", "new", "v"))
                    await tx.execute_later(INSERT, ("b", "dup", "again"))   # violates the key at commit
                    tx.notify("tags", "b")
            # the connection is usable afterwards, and nothing of the failed transaction stayed
            async with s.transaction() as tx:
                await tx.execute_later(INSERT, ("b", "after", "v"))
            return await _keys(s, "b"), seen
        finally:
            await s.close()

    keys, seen = asyncio.run(body())
    assert keys == ["after", "dup"]
    assert seen == []


def test_a_transaction_of_statements_left_for_later_only_is_all_or_nothing(store_url, tmp_path):
    # (PostgreSQL sends them without BEGIN and COMMIT, in one pipeline: its implicit transaction)
    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("tags", seen.append)
        try:
            await s.execute(INSERT, ("e", "dup", "v"))
            with pytest.raises(IntegrityError):
                async with s.transaction() as tx:
                    await tx.execute_later(INSERT, ("e", "first", "v"))
                    await tx.execute_later(INSERT, ("e", "dup", "again"))   # violates the key
                    await tx.execute_later(INSERT, ("e", "third", "v"))
                    tx.notify("tags", "e")
            failed = await _keys(s, "e"), list(seen)
            async with s.transaction() as tx:
                await tx.execute_later(INSERT, ("e", "k1", "v"))
                await tx.execute_later(INSERT, ("e", "k2", "v"))
                tx.notify("tags", "e")
            return failed, await _keys(s, "e"), seen
        finally:
            await s.close()

    failed, keys, seen = asyncio.run(body())
    assert failed == (["dup"], [])
    assert keys == ["dup", "k1", "k2"]
    assert seen == ["e"]


RECORD = ("INSERT INTO deliveries (trace_id, at, account, region, pipe, source_arn, message_id, target_arn, "
          "protocol, outcome, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
DELETED = "INSERT INTO sqs_deleted_queues (account, region, name, deleted_at) VALUES (?, ?, ?, ?)"


def test_inserts_left_for_later_into_several_tables_commit_together_or_not_at_all(store_url, tmp_path):
    # (PostgreSQL runs inserts into tables of their own as one statement, each a WITH clause of the last
    # or of the notifications' statement)
    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("tags", seen.append)

        async def names():
            return [r[0] for r in await s.fetchall("SELECT name FROM sqs_deleted_queues WHERE account = ? "
                                                   "ORDER BY name", ("111122223333",))]
        try:
            await s.execute(INSERT, ("f", "dup", "v"))
            for notify in (True, False):
                with pytest.raises(IntegrityError):
                    async with s.transaction() as tx:
                        await tx.execute_later(DELETED, ("111122223333", "us-east-1", "gone", 1))
                        await tx.execute_later(INSERT, ("f", "dup", "again"))     # violates the key
                        if notify:
                            tx.notify("tags", "f")
            failed = await _keys(s, "f"), await names(), list(seen)
            async with s.transaction() as tx:
                await tx.execute_later(INSERT, ("f", "k1", "v"))
                await tx.execute_later(DELETED, ("111122223333", "us-east-1", "q1", 1))
                tx.notify("tags", "f")
            async with s.transaction() as tx:
                await tx.execute_later(DELETED, ("111122223333", "us-east-1", "q2", 2))
                await tx.execute_later(INSERT, ("f", "k2", "v"))
            async with s.transaction() as tx:    # one insert and a notification
                await tx.execute_later(INSERT, ("f", "k3", "v"))
                tx.notify("tags", "f")
            return failed, await _keys(s, "f"), await names(), seen
        finally:
            await s.close()

    failed, keys, names, seen = asyncio.run(body())
    assert failed == (["dup"], [], [])
    assert keys == ["dup", "k1", "k2", "k3"]
    assert names == ["q1", "q2"]
    assert seen == ["f", "f"]


def test_concurrent_transactions_of_inserts_left_for_later_each_commit_or_fail_alone(store_url, tmp_path):
    # (each PostgreSQL transaction of deferred inserts is one statement of its own)
    async def body():
        s = await _opened(store_url, tmp_path)
        seen: list[str] = []
        s.listen("tags", seen.append)

        async def one(i: int, key: str) -> str:
            try:
                async with s.transaction() as tx:
                    await tx.execute_later(INSERT, ("h", key, f"v{i}"))
                    await tx.execute_later(DELETED, ("111122223333", "us-east-1", f"h{i}", i))
                    tx.notify("tags", f"h{i}")
            except IntegrityError:
                return "failed"
            return "ok"

        try:
            await s.execute(INSERT, ("h", "dup", "v"))
            outcomes = await asyncio.gather(*(one(i, "dup" if i == 2 else f"k{i}") for i in range(5)))
            together = await asyncio.gather(*(one(i, f"m{i}") for i in range(5, 9)))
            names = [r[0] for r in await s.fetchall("SELECT name FROM sqs_deleted_queues WHERE account = ? "
                                                    "ORDER BY name", ("111122223333",))]
            values = await s.fetchall("SELECT key, value FROM tags WHERE arn = ? ORDER BY key", ("h",))
            return outcomes, together, names, values, sorted(seen)
        finally:
            await s.close()

    outcomes, together, names, values, seen = asyncio.run(body())
    assert outcomes == ["ok", "ok", "failed", "ok", "ok"]
    assert together == ["ok"] * 4
    assert names == ["h0", "h1", "h3", "h4", "h5", "h6", "h7", "h8"]
    assert values == [("dup", "v"), ("k0", "v0"), ("k1", "v1"), ("k3", "v3"), ("k4", "v4"), ("m5", "v5"),
                      ("m6", "v6"), ("m7", "v7"), ("m8", "v8")]
    assert seen == ["h0", "h1", "h3", "h4", "h5", "h6", "h7", "h8"]


def test_inserts_left_for_later_into_one_table_take_ids_in_their_order(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            async with s.transaction() as tx:
                for k in ("z", "y", "x", "w"):
                    await tx.execute_later(RECORD, ("t-g", 1, "111122223333", "us-east-1", "test", "src-g", k,
                                                    "target", None, "delivered", None))
                await tx.execute_later(INSERT, ("g", "k", "v"))
                tx.notify("tags", "g")
            return [r[0] for r in await s.fetchall("SELECT message_id FROM deliveries WHERE trace_id = ? "
                                                   "ORDER BY id", ("t-g",))]
        finally:
            await s.close()

    assert asyncio.run(body()) == ["z", "y", "x", "w"]


def test_a_failed_first_statement_rolls_back_and_the_store_goes_on(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            await s.execute(INSERT, ("c", "dup", "v"))
            for _ in range(3):          # more times than the store keeps connections
                with pytest.raises(IntegrityError):
                    async with s.transaction() as tx:
                        await tx.execute(INSERT, ("c", "dup", "again"))
                        await tx.execute(INSERT, ("c", "never", "v"))
            async with s.transaction() as tx:
                await tx.execute(INSERT, ("c", "ok", "v"))
                assert await tx.fetchone("SELECT value FROM tags WHERE arn = ? AND key = ?", ("c", "ok")) == ("v",)
            return await _keys(s, "c")
        finally:
            await s.close()

    assert asyncio.run(body()) == ["dup", "ok"]


def test_a_transaction_whose_caller_is_cancelled_mid_statement_leaves_nothing(store_url, tmp_path):
    async def body():
        s = await _opened(store_url, tmp_path)
        try:
            started = asyncio.Event()

            async def slow():
                async with s.transaction() as tx:
                    await tx.execute(INSERT, ("d", "cancelled", "v"))
                    started.set()
                    await asyncio.sleep(30)

            task = asyncio.create_task(slow())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for k in ("k1", "k2", "k3"):           # the store keeps working on its connections
                await s.execute(INSERT, ("d", k, "v"))
            return await _keys(s, "d")
        finally:
            await s.close()

    assert asyncio.run(body()) == ["k1", "k2", "k3"]


def test_postgres_rows_read_the_same_on_every_run_of_a_statement(tmp_path):
    # a prepared statement's first run comes back as text, the next ones binary when all its columns allow
    # it (the first statement), text when one does not (the second: numeric and jsonb)
    require_postgres()
    url = postgres.create_database("tsunagi_rows")
    plain = ("SELECT CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS SMALLINT), CAST(? AS TEXT), "
             "CAST(? AS BYTEA), CAST(? AS BOOLEAN), CAST(? AS TEXT), CAST(? AS VARCHAR)")
    plain_params = (2**40, -7, 3, "h\u00e9llo '\\ {x}", b"\x00\xff\\x" * 100, True, None, "v")
    mixed = "SELECT CAST(? AS BIGINT), CAST(? AS NUMERIC), CAST(? AS JSONB)"
    mixed_params = (5, "1.50", '{"a": 1}')

    async def body():
        s = await _opened(url, tmp_path)
        try:
            return ([await s.fetchone(plain, plain_params) for _ in range(3)],
                    [await s.fetchone(mixed, mixed_params) for _ in range(3)])
        finally:
            await s.close()

    try:
        plain_runs, mixed_runs = asyncio.run(body())
    finally:
        postgres.drop_database(url)
    from decimal import Decimal
    assert plain_runs == [plain_params] * 3
    assert [tuple(type(v) for v in r) for r in plain_runs] == [tuple(type(v) for v in plain_params)] * 3
    assert mixed_runs == [(5, Decimal("1.50"), {"a": 1})] * 3
