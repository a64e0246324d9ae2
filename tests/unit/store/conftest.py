"""``nodes``: the stores a store contract test runs on. Each test runs on SQLite, on one PostgreSQL server, and
on two servers sharing one PostgreSQL database (see :class:`tests.support.nodes.StoreNodes`).

The PostgreSQL configurations use this session's service-level database, emptied before each test (a
database of its own per test would cost a second or more of migrations each); a test that needs a database
no store has opened asks for one (``nodes.on_a_fresh_database()``), dropped after the test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.nodes import StoreNodes, wipe


def _nodes(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreNodes]:
    if kind == "sqlite":
        yield StoreNodes(kind, f"sqlite:///{tmp_path}/t.db", tmp_path)
        return
    url = request.getfixturevalue("pg_service_url")
    asyncio.run(wipe(url, tmp_path))
    created: list[str] = []

    def make_database() -> str:
        created.append(postgres.create_database("tsunagi_store"))
        return created[-1]

    try:
        yield StoreNodes(kind, url, tmp_path, make_database)
    finally:
        for db in created:
            postgres.drop_database(db)


@pytest.fixture(params=["sqlite", "postgres", "postgres-two-servers"])
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreNodes]:
    yield from _nodes(request.param, request, tmp_path)


@pytest.fixture(params=["postgres", "postgres-two-servers"])
def pg_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreNodes]:
    """``nodes`` for what only PostgreSQL does."""
    yield from _nodes(request.param, request, tmp_path)
