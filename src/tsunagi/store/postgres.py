"""The shared store: PostgreSQL through psycopg 3's async pool.

Several tsunagi servers may share one database; they coordinate only through it:
row locks (``FOR UPDATE SKIP LOCKED``) for work claiming and LISTEN/NOTIFY to wake each other.
Notifications are sent on one PostgreSQL channel, ``tsunagi``, as ``<node>|<channel>|<payload>``;
this node delivers its own at once after commit and ignores their echo.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tsunagi.store.base import (
    ConstraintViolation,
    Params,
    Row,
    Store,
    StoreBusy,
    StoreError,
    StoreFull,
    StoreUnavailable,
    Tx,
    log,
    migrations,
    split_statements,
)

PG_CHANNEL = "tsunagi"
_MIGRATION_LOCK = 7_411_922_001  # advisory lock id held while migrating

_sql_cache: dict[str, str] = {}


def to_pg(sql: str) -> str:
    """SQLite-dialect placeholders (``?``) to psycopg's (``%s``)."""
    out = _sql_cache.get(sql)
    if out is None:
        out = sql.replace("%", "%%").replace("?", "%s")
        _sql_cache[sql] = out
    return out


_BUSY = (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected, pg_errors.SerializationFailure,
         pg_errors.QueryCanceled)
_FULL = (pg_errors.DiskFull, pg_errors.OutOfMemory, pg_errors.ProgramLimitExceeded)


def _wrap(exc: Exception) -> StoreError:
    """The store's typed error for a driver error (by psycopg's class for the SQLSTATE)."""
    if isinstance(exc, pg_errors.IntegrityError):
        return ConstraintViolation(str(exc))
    if isinstance(exc, _FULL):
        return StoreFull(f"postgresql: {exc}")
    if isinstance(exc, _BUSY):
        return StoreBusy(f"postgresql: {exc}")
    if isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"postgresql: {exc}")
    return StoreError(f"postgresql: {exc}")


class _PgTx(Tx):
    __slots__ = ("_conn", "_notes")

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn
        self._notes: list[tuple[str, str]] = []

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            cur = await self._conn.execute(to_pg(sql), params, prepare=True)
            return cur.rowcount
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            async with self._conn.cursor() as cur:
                await cur.executemany(to_pg(sql), list(rows))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            cur = await self._conn.execute(to_pg(sql), params, prepare=True)
            return await cur.fetchone()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            cur = await self._conn.execute(to_pg(sql), params, prepare=True)
            return await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    def notify(self, channel: str, payload: str) -> None:
        self._notes.append((channel, payload))


# a table with more rows than this is TRUNCATEd by a reset rather than DELETEd from
_RESET_DELETE_MAX = 1000


class PostgresStore(Store):
    dialect = "postgresql"
    shared = True
    text_keeps_nul = False

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16) -> None:
        super().__init__()
        self.url = url
        self.node = uuid.uuid4().hex[:12]
        self._pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                         kwargs={"autocommit": True}, reconnect_timeout=60)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closing = False
        # the tables and sequences a reset empties, and the query that finds which hold rows (built once)
        self._reset_plan: tuple[list[str], list[str], str] | None = None

    async def open(self) -> None:
        if self._listener is not None:
            return          # open already (tsunagi serve opens the store before it builds the platform)
        try:
            await self._pool.open(wait=True, timeout=15)
        except Exception as e:
            raise StoreError(f"cannot connect to PostgreSQL at {self._redacted()}: {e}") from e
        await self._migrate()
        self._listener = asyncio.create_task(self._listen_loop(), name="tsunagi-pg-listen")
        try:
            await asyncio.wait_for(self._listening.wait(), 10)
        except TimeoutError:
            log.warning("PostgreSQL LISTEN not established yet; will keep trying")

    def _redacted(self) -> str:
        from urllib.parse import urlsplit

        p = urlsplit(self.url)
        host = p.hostname or ""
        return f"{p.scheme}://{host}:{p.port or 5432}{p.path}"

    async def _migrate(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS tsunagi_migrations (version INTEGER PRIMARY KEY, "
                                   "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                cur = await conn.execute("SELECT version FROM tsunagi_migrations")
                done = {r[0] for r in await cur.fetchall()}
                todo = migrations("postgres", done)
                self.fresh = not done
                if todo and not done:
                    log.info("new store: creating its tables (%d migrations)", len(todo))
                for version, name, sql in todo:
                    log.log(logging.DEBUG if not done else logging.INFO, "applying migration postgres/%s", name)
                    async with conn.transaction():
                        for stmt in split_statements(sql):
                            await conn.execute(stmt)
                        await conn.execute("INSERT INTO tsunagi_migrations (version, name) VALUES (%s, %s)",
                                           (version, name))
            except psycopg.Error as e:
                raise StoreError(f"migration failed: {e}") from e
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    async def _listen_loop(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {PG_CHANNEL}")
                    self._listening.set()
                    delay = 0.1
                    # A reconnect may have missed notifications: wake everyone once.
                    self._dispatch("*", "reconnected")
                    async for note in conn.notifies():
                        node, _, rest = note.payload.partition("|")
                        if node == self.node:
                            continue
                        channel, _, payload = rest.partition("|")
                        self._dispatch(channel, payload)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._closing:
                    return
                self._listening.clear()
                log.warning("PostgreSQL listener lost (%s); reconnecting in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass
        await self._pool.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": "postgresql", "url": self._redacted(), "node": self.node}

    async def reset(self) -> None:
        # Test suites reset between tests, so a reset must cost milliseconds. TRUNCATE gives each table it
        # names new files (~15 ms a table here, a second for all of them), so only the tables that hold
        # rows are emptied: DELETE for small ones, TRUNCATE for those with many rows (where it is the
        # cheaper), then every identity sequence starts again at 1 (what RESTART IDENTITY did).
        # A transaction of a background task (a delivery, a log write) that holds one table and waits on
        # another may deadlock with the reset; PostgreSQL then aborts one of the two. The reset tries again.
        for attempt in range(10):
            try:
                async with self.transaction() as tx:
                    await self._empty_tables(tx)
                return
            except StoreBusy:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _empty_tables(self, tx: Tx) -> None:
        assert isinstance(tx, _PgTx)
        if self._reset_plan is None:
            tables = sorted(r[0] for r in await tx.fetchall(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'tsunagi_migrations'"))
            sequences = sorted(r[0] for r in await tx.fetchall(
                "SELECT s.relname FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace "
                "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
                "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                "WHERE s.relkind = 'S' AND n.nspname = current_schema()"))
            probe = " UNION ALL ".join(
                f'SELECT {i}, EXISTS (SELECT 1 FROM "{t}"), EXISTS (SELECT 1 FROM "{t}" OFFSET {_RESET_DELETE_MAX})'
                for i, t in enumerate(tables))
            self._reset_plan = (tables, sequences, probe)
        tables, sequences, probe = self._reset_plan
        if not tables:
            return
        small: list[str] = []
        large: list[str] = []
        for i, has_rows, has_many in await tx.fetchall(probe):
            if has_many:
                large.append(tables[i])
            elif has_rows:
                small.append(tables[i])
        if not small and not large:
            return
        # a reset need not wait for its commit to reach the disk (a crash right after it at worst
        # brings back what it removed): no WAL flush wait, which is most of a small reset's time
        script = ["SET LOCAL synchronous_commit TO off"]
        script += [f'DELETE FROM "{t}"' for t in small]
        if large:
            script.append("TRUNCATE " + ", ".join(f'"{t}"' for t in large) + " CASCADE")
        script += [f"SELECT setval('\"{q}\"', 1, false)" for q in sequences]
        try:
            await tx._conn.execute(";\n".join(script))      # one round trip (no parameters: several statements)
        except psycopg.Error as e:
            raise _wrap(e) from e

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                tx = _PgTx(conn)
                yield tx
                for channel, payload in tx._notes:
                    await conn.execute("SELECT pg_notify(%s, %s)",
                                       (PG_CHANNEL, f"{self.node}|{channel}|{payload}"))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e
        for channel, payload in tx._notes:
            self._dispatch(channel, payload)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(to_pg(sql), params, prepare=True)
                return await cur.fetchone()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(to_pg(sql), params, prepare=True)
                return await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    def notify(self, channel: str, payload: str) -> None:
        asyncio.get_running_loop().create_task(self._notify_now(channel, payload))

    async def _notify_now(self, channel: str, payload: str) -> None:
        async with self.transaction() as tx:
            tx.notify(channel, payload)
