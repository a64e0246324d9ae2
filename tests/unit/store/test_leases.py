"""Shared limits (store/leases.py) on PostgreSQL: two servers' lease holders on one database count
together, a lease given back or expired frees its share, and a closed server gives back all of its own."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import require_postgres
from tests.support import postgres
from tsunagi.store import leases as leases_module
from tsunagi.store.base import open_store
from tsunagi.store.leases import Leases


@pytest.fixture
def pg_url():
    require_postgres()
    url = postgres.create_database("tsunagi_leases")
    yield url
    postgres.drop_database(url)


def test_two_servers_share_a_limit_and_expired_or_given_leases_free_it(pg_url, tmp_path, monkeypatch) -> None:
    async def body() -> None:
        one, two = open_store(pg_url, str(tmp_path / "a")), open_store(pg_url, str(tmp_path / "b"))
        await one.open()
        await two.open()
        a, b = Leases(one), Leases(two)
        assert a.shared and b.shared
        try:
            first = await a.take("esm:x", 2)
            second = await b.take("esm:x", 2)
            assert first and second
            assert await a.take("esm:x", 2) is None and await b.take("esm:x", 2) is None
            assert await b.take("esm:other", 1)                    # scopes count apart
            await a.give("esm:x", first)
            third = await a.take("esm:x", 2)
            assert third is not None
            # taken at once from both servers: never more than the limit
            got = await asyncio.gather(*[(a if i % 2 else b).take("burst", 3) for i in range(12)])
            assert sum(1 for g in got if g) == 3
            # a server that stops renewing (killed): its leases expire and free their share
            monkeypatch.setattr(leases_module, "LEASE_S", 0.2)
            short = Leases(one)
            assert await short.take("expiring", 1)
            assert await b.take("expiring", 1) is None
            await asyncio.sleep(0.3)                                # not renewed (every 10 s) by then
            assert await b.take("expiring", 1) is not None
            await short.close()
            # a server that closes gives back what it holds
            await a.close()
            assert await b.take("esm:x", 2) is not None
        finally:
            await a.close()
            await b.close()
            await one.close()
            await two.close()

    asyncio.run(body())


def test_sqlite_takes_no_leases(tmp_path) -> None:
    async def body() -> None:
        store = open_store(f"sqlite:///{tmp_path}/t.db", str(tmp_path))
        await store.open()
        try:
            assert not Leases(store).shared
        finally:
            await store.close()

    asyncio.run(body())
