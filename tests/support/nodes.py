"""Several tsunagi servers on one PostgreSQL database: what the multi-node and node-death tests run, and the
stores the store contract tests run on (one server, or two on one database)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from tests.support import postgres
from tests.support.server import TsunagiServer
from tsunagi.store.base import Store, open_store


@contextmanager
def nodes_on_one_database(tmp_path: Path, name: str, count: int = 2,
                          env: dict[str, str] | None = None) -> Iterator[tuple[TsunagiServer, ...]]:
    """``count`` servers sharing a fresh database ``name_…``; afterwards every server still running is
    stopped (a test may have killed some) and the database dropped. They share one master key, as
    servers sharing a database must."""
    url = postgres.share(postgres.create_database(name))
    nodes: list[TsunagiServer] = []
    try:
        for i in range(count):
            nodes.append(TsunagiServer(url, data_dir=str(tmp_path / f"node{i}"), env=env).start())
        yield tuple(nodes)
    finally:
        for node in nodes:
            node.stop()
        postgres.drop_database(url)


SETTLE_CHANNEL = "tsunagi-test-settle"


class StoreNodes:
    """The store a contract test runs on, seen as two servers ``a`` and ``b``.

    One server (``sqlite``, ``postgres``): ``a`` and ``b`` are the same store. Two servers on one
    PostgreSQL database (``postgres-two-servers``): two stores, opened as two ``tsunagi serve`` processes
    open theirs, each with its own pool, listener, node id and caches. A test writes on one and reads,
    deletes or listens on the other, so that state one process keeps to itself fails it on two servers.
    """

    def __init__(self, kind: str, url: str, data_dir: Path, make_database: Callable[[], str] | None = None) -> None:
        self.kind = kind
        self.url = url
        self.two = kind.endswith("two-servers")
        self.data_dir = data_dir
        self._make_database = make_database

    def on_a_fresh_database(self) -> StoreNodes:
        """The same configuration on a database no store has opened yet."""
        if self._make_database is None:        # SQLite: a new file
            fresh = self.data_dir / f"fresh-{uuid.uuid4().hex[:8]}"
            fresh.mkdir()
            return StoreNodes(self.kind, f"sqlite:///{fresh}/t.db", fresh)
        return StoreNodes(self.kind, self._make_database(), self.data_dir, self._make_database)

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[tuple[Store, Store]]:
        """``(a, b)`` open (two servers open theirs at once, as servers starting together do); closed after."""
        a = open_store(self.url, str(self.data_dir))
        stores = [a, open_store(self.url, str(self.data_dir))] if self.two else [a]
        results = await asyncio.gather(*(s.open() for s in stores), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            for store, result in zip(stores, results, strict=True):
                if not isinstance(result, BaseException):
                    await store.close()
            raise failed[0]
        try:
            yield a, stores[-1]
        finally:
            for store in stores:
                await store.close()

    async def settled(self, a: Store, b: Store) -> None:
        """Return once ``b``'s listeners have heard every notification ``a`` committed before the call.
        PostgreSQL delivers notifications in commit order, so a marker ``a`` sends now arrives after them.
        One server hears its own when they commit: nothing to wait for."""
        if b is a:
            return
        token = uuid.uuid4().hex
        heard = asyncio.get_running_loop().create_future()

        def on_note(payload: str) -> None:
            if payload == token and not heard.done():
                heard.set_result(None)

        b.listen(SETTLE_CHANNEL, on_note)
        try:
            async with a.transaction() as tx:
                tx.notify(SETTLE_CHANNEL, token)
            await asyncio.wait_for(heard, 10)
        finally:
            b.unlisten(SETTLE_CHANNEL, on_note)


async def wipe(url: str, data_dir: Path) -> None:
    """Every row of a database other tests used too (the schema stays)."""
    store = open_store(url, str(data_dir))
    await store.open()
    try:
        await store.reset()
    finally:
        await store.close()
