"""The shared store: PostgreSQL through psycopg 3's async pool.

Several tsunagi servers may share one database; they coordinate only through it:
row locks (``FOR UPDATE SKIP LOCKED``) for work claiming and LISTEN/NOTIFY to wake each other.
Notifications are sent on one PostgreSQL channel, ``tsunagi``, as ``<node>|<channel>|<payload>``;
this node delivers its own at once after commit and ignores their echo.

A *targeted* channel (``sqs``: a message may be available on queue <payload>) is not broadcast: a node
that waits for a key (a long poll parked on a queue) holds a lease row in ``tsunagi_interest``, and a
sender notifies, in the same statement as its change, only the nodes holding a live lease on that key,
each on its own PostgreSQL channel ``tsunagi_<node>``. Nobody waiting: no NOTIFY at all (a NOTIFY takes
a cluster-wide lock at commit). A node renews its lease when it waits again after half the lease has
passed; one that stops (or dies) is forgotten when its lease runs out. A wait that starts while a
sender's statement is already running may miss that one notification: the long poll's backstop
(``services/sqs/receiving.py``) finds the message then.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncRawCursor
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
_LEADER_LOCK = 7_411_922_002     # advisory lock id the leader holds on its own connection (see leads)
LEADER_RETRY_S = 5.0             # how often a follower tries to become the leader, and the leader checks in

_INTEREST_LEASE_MS = 60_000   # a node's lease on a key of a targeted channel
_INTEREST_RENEW_S = 30.0       # renewed when asked again this long after (a long poll lasts ≤ 20 s)
_DB_NOW_MS = "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)"
_WANT = ("INSERT INTO tsunagi_interest (node, channel, key, expires_at) VALUES ($1, $2, $3, "
         f"{_DB_NOW_MS} + $4) ON CONFLICT (channel, key, node) DO UPDATE SET expires_at = excluded.expires_at")
# the notifications of a transaction, in one statement: broadcast ones on the common channel, targeted
# ones to each node with a live lease on their key (never this node: it hears its own at once)
# (placeholders numbered from {0}: the statement they end may have parameters of its own before them)
_NOTE_BROADCAST = ("SELECT ${0} AS ch, ${1} || n.c || '|' || n.p AS msg "
                   "FROM unnest(${2}::text[], ${3}::text[]) AS n(c, p)")
_NOTE_TARGETED = ("SELECT ${0} || i.node AS ch, ${1} || n.c || '|' || n.p AS msg "
                  "FROM unnest(${2}::text[], ${3}::text[]) AS n(c, p) "
                  "JOIN tsunagi_interest i ON i.channel = n.c AND i.key = n.p "
                  f"WHERE i.node <> ${{4}} AND i.expires_at > {_DB_NOW_MS}")


def _numbered(template: str, first: int, count: int) -> str:
    return template.format(*range(first, first + count))

_sql_cache: dict[str, str] = {}


def to_pg(sql: str) -> str:
    """SQLite-dialect placeholders (``?``) to PostgreSQL's own (``$1``, ``$2`` …). The connections use
    psycopg's raw cursors, which send the text as it is: psycopg does not parse each query for its
    placeholders (a long statement, a multi-row INSERT, was parsed again at every call)."""
    out = _sql_cache.get(sql)
    if out is None:
        parts = sql.split("?")
        out = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
        if len(_sql_cache) > 20_000:
            _sql_cache.clear()
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


def _prep(conn: psycopg.AsyncConnection[Any]) -> bool | None:
    """Prepare statements, except on connections through a pooler in transaction mode (their
    ``prepare_threshold`` is None), where a prepared statement may be unknown to the next session."""
    return None if conn.prepare_threshold is None else True


class _PgTx(Tx):
    __slots__ = ("_conn", "_notes")

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn
        self._notes: list[tuple[str, str]] = []

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            cur = await self._conn.execute(to_pg(sql), params, prepare=_prep(self._conn))
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
            cur = await self._conn.execute(to_pg(sql), params, prepare=_prep(self._conn))
            return await cur.fetchone()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            cur = await self._conn.execute(to_pg(sql), params, prepare=_prep(self._conn))
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

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16, direct_url: str | None = None) -> None:
        super().__init__()
        self.url = url
        # What needs a session of its own (LISTEN, the leader's lock, migrating under a session lock)
        # connects here: ``url`` itself, or the database behind a pooler that ``url`` goes through.
        self.direct_url = direct_url or url
        self.node = uuid.uuid4().hex[:12]
        kwargs: dict[str, Any] = {"autocommit": True, "cursor_factory": AsyncRawCursor}
        if direct_url:
            # Through a pooler in transaction mode, consecutive transactions may run on different server
            # sessions: a statement prepared on one is unknown on the next.
            kwargs["prepare_threshold"] = None
        self._pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                         kwargs=kwargs, reconnect_timeout=60)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._elector: asyncio.Task[None] | None = None
        self._leader = False
        self._closing = False
        # the tables and sequences a reset empties, and the query that finds which hold rows (built once)
        self._reset_plan: tuple[list[str], list[str], str] | None = None
        self._targeted: set[str] = set()
        self._wanted: dict[tuple[str, str], float] = {}     # (channel, key) → loop time to renew the lease
        self._notes_sql: dict[tuple[str, bool, bool], str] = {}

    async def open(self) -> None:
        if self._listener is not None:
            return          # open already (tsunagi serve opens the store before it builds the platform)
        try:
            await self._pool.open(wait=True, timeout=15)
        except Exception as e:
            raise StoreError(f"cannot connect to PostgreSQL at {self._redacted()}: {e}") from e
        await self._migrate()
        self._listener = asyncio.create_task(self._listen_loop(), name="tsunagi-pg-listen")
        self._elector = asyncio.create_task(self._leader_loop(), name="tsunagi-pg-leader")
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
        try:
            session = await psycopg.AsyncConnection.connect(self.direct_url, autocommit=True, connect_timeout=15,
                                                              cursor_factory=AsyncRawCursor)
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to PostgreSQL at {self._redacted()}: {e}") from e
        async with session as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", (_MIGRATION_LOCK,))
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
                        await conn.execute("INSERT INTO tsunagi_migrations (version, name) VALUES ($1, $2)",
                                           (version, name))
            except psycopg.Error as e:
                raise StoreError(f"migration failed: {e}") from e
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", (_MIGRATION_LOCK,))

    async def _listen_loop(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                conn = await psycopg.AsyncConnection.connect(self.direct_url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {PG_CHANNEL}")
                    await conn.execute(f"LISTEN {PG_CHANNEL}_{self.node}")
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

    def leads(self) -> bool:
        return self._leader

    async def _leader_loop(self) -> None:
        """Leader election: the server that holds the session advisory lock ``_LEADER_LOCK`` on a
        connection of its own (never the pool's, so never through a transaction-mode pooler) leads.
        Followers try again every ``LEADER_RETRY_S``; the leader checks its connection as often and
        steps down when it fails. A leader that dies loses its connection, PostgreSQL releases the
        lock, and the next follower to try takes over: servers may join and leave at any time."""
        while not self._closing:
            try:
                conn = await psycopg.AsyncConnection.connect(self.direct_url, autocommit=True, connect_timeout=10)
                async with conn:
                    while not self._closing:
                        if not self._leader:
                            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_LEADER_LOCK,))
                            row = await cur.fetchone()
                            if row is not None and row[0]:
                                self._leader = True
                                log.info("this server leads the background work (node %s)", self.node)
                        else:
                            await asyncio.wait_for(conn.execute("SELECT 1"), LEADER_RETRY_S)
                        await asyncio.sleep(LEADER_RETRY_S)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._leader:
                    log.warning("PostgreSQL leader connection lost (%s); no longer leading", e)
                self._leader = False
                if self._closing:
                    return
                await asyncio.sleep(LEADER_RETRY_S)
        self._leader = False

    async def close(self) -> None:
        self._closing = True
        self._leader = False
        if self._wanted:
            try:       # other nodes stop notifying this one at once rather than when the leases run out
                async with self._pool.connection(timeout=2) as conn:
                    await conn.execute("DELETE FROM tsunagi_interest WHERE node = $1", (self.node,))
            except Exception:  # noqa: BLE001 - closing anyway; the leases run out by themselves
                pass
            self._wanted.clear()
        for task in (self._elector, self._listener):
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._pool.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": "postgresql", "url": self._redacted(), "node": self.node, "leader": self._leader}

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
                "AND tablename NOT IN ('tsunagi_migrations', 'tsunagi_interest')"))
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
                if tx._notes:
                    sql, params = self._notify_sql(tx._notes)
                    await conn.execute(sql, params, prepare=_prep(conn))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e
        for channel, payload in tx._notes:
            self._dispatch(channel, payload)

    def _notify_sql(self, notes: Iterable[tuple[str, str]], prefix: str = "",
                    prefix_params: Params = ()) -> tuple[str, list[Any]]:
        """One statement sending ``notes`` (after ``prefix``, a ``WITH`` clause, whose parameters come first)."""
        bc_c: list[str] = []
        bc_p: list[str] = []
        tg_c: list[str] = []
        tg_p: list[str] = []
        for channel, payload in dict.fromkeys(notes):      # each distinct note once, in order
            if channel in self._targeted:
                tg_c.append(channel)
                tg_p.append(payload)
            else:
                bc_c.append(channel)
                bc_p.append(payload)
        key = (prefix, bool(bc_c), bool(tg_c))
        sql = self._notes_sql.get(key)
        if sql is None:
            at = len(prefix_params) + 1
            parts = []
            if bc_c:
                parts.append(_numbered(_NOTE_BROADCAST, at, 4))
                at += 4
            if tg_c:
                parts.append(_numbered(_NOTE_TARGETED, at, 5))
            sql = f"{prefix}SELECT pg_notify(d.ch, d.msg) FROM ({' UNION ALL '.join(parts)}) d"
            if len(self._notes_sql) > 1000:
                self._notes_sql.clear()
            self._notes_sql[key] = sql
        sender = f"{self.node}|"
        params: list[Any] = list(prefix_params)
        if bc_c:
            params += [PG_CHANNEL, sender, bc_c, bc_p]
        if tg_c:
            params += [f"{PG_CHANNEL}_", sender, tg_c, tg_p, self.node]
        return sql, params

    def targeted(self, channel: str) -> None:
        self._targeted.add(channel)

    async def want(self, channel: str, key: str) -> None:
        k = (channel, key)
        now = asyncio.get_running_loop().time()
        if self._wanted.get(k, 0.0) > now:
            return
        if len(self._wanted) > 10_000:
            self._wanted.clear()
        self._wanted[k] = now + _INTEREST_RENEW_S      # set first: concurrent waits renew once
        try:
            async with self._pool.connection() as conn:
                await conn.execute(_WANT, (self.node, channel, key, _INTEREST_LEASE_MS), prepare=_prep(conn))
        except (psycopg.Error, PoolTimeout) as e:
            self._wanted.pop(k, None)
            raise _wrap(e) from e

    async def execute_notify(self, sql: str, params: Params, notes: Sequence[tuple[str, str]]) -> None:
        if not notes:
            await self.execute(sql, params)
            return
        text, all_params = self._notify_sql(notes, f"WITH w AS ({to_pg(sql)}) ", params)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(text, all_params, prepare=_prep(conn))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e
        for channel, payload in notes:
            self._dispatch(channel, payload)

    async def execute(self, sql: str, params: Params = ()) -> int:
        # one statement is atomic by itself: autocommit, no BEGIN and COMMIT round trips around it
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(to_pg(sql), params, prepare=_prep(conn))
                return cur.rowcount
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(to_pg(sql), params, prepare=_prep(conn))
                return await cur.fetchone()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(to_pg(sql), params, prepare=_prep(conn))
                return await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    def notify(self, channel: str, payload: str) -> None:
        asyncio.get_running_loop().create_task(self._notify_now(channel, payload))

    async def _notify_now(self, channel: str, payload: str) -> None:
        async with self.transaction() as tx:
            tx.notify(channel, payload)
