"""The shared store: PostgreSQL through psycopg 3's async pool.

Several tsunagi servers may share one database; they coordinate only through it:
row locks (``FOR UPDATE SKIP LOCKED``) for work claiming and LISTEN/NOTIFY to wake each other.
Notifications are sent on one PostgreSQL channel, ``tsunagi``, as ``<node>|<channel>|<payload>``;
this node delivers its own at once after commit and ignores their echo.

A *targeted* channel (``sqs``: a message may be available on queue <payload>) is not broadcast: its
payload's key is the payload up to its first ``:`` (what follows is detail for the listener); a node
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
from time import monotonic
from typing import Any, TypeVar, cast

import psycopg
from psycopg import AsyncRawCursor, adapt, pq
from psycopg import errors as pg_errors
from psycopg.abc import PQGen, Transformer
from psycopg.adapt import PyFormat
from psycopg.generators import execute as _pg_execute
from psycopg.generators import fetch_many as _pg_fetch_many
from psycopg.waiting import Ready, Wait
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
         f"{_DB_NOW_MS} + $4) ON CONFLICT (channel, key, node) DO UPDATE SET expires_at = excluded.expires_at"
         ).encode()
# the notifications of a transaction, in one statement: broadcast ones on the common channel, targeted
# ones to each node with a live lease on their key (never this node: it hears its own at once)
# (placeholders numbered from {0}: the statement they end may have parameters of its own before them)
_NOTE_BROADCAST = ("SELECT ${0} AS ch, ${1} || n.c || '|' || n.p AS msg "
                   "FROM unnest(${2}::text[], ${3}::text[]) AS n(c, p)")
_NOTE_TARGETED = ("SELECT ${0} || i.node AS ch, ${1} || n.c || '|' || n.p AS msg "
                  "FROM unnest(${2}::text[], ${3}::text[]) AS n(c, p) "
                  "JOIN tsunagi_interest i ON i.channel = n.c AND i.key = split_part(n.p, ':', 1) "
                  f"WHERE i.node <> ${{4}} AND i.expires_at > {_DB_NOW_MS}")


def _numbered(template: str, first: int, count: int) -> str:
    return template.format(*range(first, first + count))


def _text_array(items: Sequence[str]) -> str:
    """A ``text[]`` literal (the statements cast it): cheaper to build than the driver's list adaptation,
    which looks for each list's element type at every call."""
    return "{" + ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "}"

_sql_cache: dict[str, bytes] = {}


def to_pg(sql: str) -> bytes:
    """SQLite-dialect placeholders (``?``) to PostgreSQL's own (``$1``, ``$2`` …), encoded once. Statements
    go to libpq as they are: nothing parses a query for its placeholders at each call."""
    out = _sql_cache.get(sql)
    if out is None:
        parts = sql.split("?")
        out = (parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))).encode()
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


_AUTO = PyFormat.AUTO
_TEXT = pq.Format.TEXT
_BINARY = pq.Format.BINARY
# column types whose binary form psycopg loads to the very values of their text form: bool, bytea, int8,
# int2, int4, text, varchar (not floats: a float4's binary value is not the one its text names)
_BINARY_ROWS = frozenset({16, 17, 20, 21, 23, 25, 1043})
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_MERGED_PARAMS_MAX = 30_000     # deferred statements merged into one (see _merged) up to this many parameters
_PREPARED_MAX = 256     # statements prepared on one connection; later ones run unprepared
_IDLE_TX = pq.TransactionStatus.IDLE
_WAIT_R = Wait.R
_READY_R = Ready.R
RV = TypeVar("RV")
_KEEP = 4               # connections the store keeps between statements, outside the pool (see _take)
_KEEP_S = 60.0          # how long it keeps one before handing it back to the pool (which renews old ones)


class _Conn(psycopg.AsyncConnection[Any]):
    """A pooled connection and what this store keeps for it: one transformer (parameters to the wire, rows
    back; it caches its adapters by type) and the statements it prepared, by text and parameter types.
    Statements go straight to libpq (:func:`_run`): no cursor, query object or prepared-statement bookkeeping
    of the driver's per statement, which was most of the driver's cost of a SendMessage."""

    tg_tx: Transformer | None = None
    # None: statements are not prepared (a pooler in transaction mode may run the next on another session)
    tg_prepared: dict[tuple[bytes, Sequence[int] | None], _Prepared] | None = None
    tg_named = 0    # statements named so far (a name is never used twice: a prepare cut short may have run)
    tg_until = 0.0  # (monotonic) until when the store may keep it out of the pool
    tg_fd = -1      # the socket the event loop watches for it (see _wait), -1 none
    tg_fut: asyncio.Future[None] | None = None   # what a statement waiting for the server's answer awaits
    # the event loop the pool made it in, which every use of it runs in (Python 3.11's get_running_loop
    # costs a getpid system call, and a statement would ask for it at each wait)
    tg_loop: asyncio.AbstractEventLoop | None = None


class _Prepared:
    """A statement prepared on a connection: its name, and the format its rows come back in (None until its
    first run). Rows come back binary when that run showed only columns whose binary form loads to the
    same values as their text (``_BINARY_ROWS``): cheaper to load (a claimed message's sealed body is not
    hex to unescape, its numbers not digits to parse); text otherwise, and for statements without rows."""

    __slots__ = ("name", "rows")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.rows: pq.Format | None = None

    def learn(self, res: pq.abc.PGresult) -> None:
        n = res.nfields if res.status == _TUPLES_OK else 0
        self.rows = _BINARY if n and all(res.ftype(i) in _BINARY_ROWS for i in range(n)) else _TEXT


_Bound = tuple[_Prepared | None, Sequence[Any] | None, Sequence[int] | None, Sequence[Any] | None]


async def _bind(conn: _Conn, sql: bytes, params: Params) -> _Bound:
    """A statement's parameters for the wire, and its prepared name: prepared on its first run (in a round
    trip of its own) unless the connection goes through a pooler; None when it runs unprepared."""
    tx = conn.tg_tx
    assert tx is not None, "a connection of the store's pool"
    if params:
        values = tx.dump_sequence(params, [_AUTO] * len(params))
        types = tx.types
        formats = tx.formats
    else:
        values, types, formats = None, (), None
    prepared = conn.tg_prepared
    prep = None
    if prepared is not None:
        key = (sql, types)
        prep = prepared.get(key)
        if prep is None and len(prepared) < _PREPARED_MAX:
            name = b"tsunagi_%d" % conn.tg_named
            conn.tg_named += 1
            pgconn = conn.pgconn
            pgconn.send_prepare(name, sql, param_types=types)
            _result(conn, await _wait(conn, _pg_execute(pgconn)))
            prep = prepared[key] = _Prepared(name)
    return prep, values, types, formats


def _queue(pgconn: pq.abc.PGconn, sql: bytes, bound: _Bound) -> None:
    prep, values, types, formats = bound
    if prep is not None:
        rows = prep.rows
        pgconn.send_query_prepared(prep.name, values, param_formats=formats,
                                   result_format=_TEXT if rows is None else rows)
    else:
        pgconn.send_query_params(sql, values, param_types=types, param_formats=formats, result_format=_TEXT)


async def _run(conn: _Conn, sql: bytes, params: Params) -> pq.abc.PGresult:
    """Run one statement (extended protocol; text results, or binary for a prepared statement whose
    columns allow it) and return its result; a server error raises psycopg's error for its SQLSTATE."""
    bound = await _bind(conn, sql, params)
    pgconn = conn.pgconn
    _queue(pgconn, sql, bound)
    res = _result(conn, await _wait(conn, _pg_execute(pgconn)))
    prep = bound[0]
    if prep is not None and prep.rows is None:
        prep.learn(res)
    return res


def _readable(conn: _Conn) -> None:
    fut = conn.tg_fut
    if fut is not None:
        if not fut.done():
            fut.set_result(None)
    else:       # the server spoke while nothing waits (it is closing the connection): stop watching
        _unwatch(conn)


def _unwatch(conn: _Conn) -> None:
    """Stop watching the connection's socket: before the driver waits on it itself, before it goes back
    to the pool (which may close it: the descriptor could then be another socket's), and on any error."""
    if conn.tg_fd >= 0:
        fd, conn.tg_fd = conn.tg_fd, -1
        try:
            (conn.tg_loop or asyncio.get_running_loop()).remove_reader(fd)
        except (OSError, ValueError):       # closed already
            pass


def _resumed(s: Wait, gen: PQGen[RV]) -> PQGen[RV]:
    """``gen`` from where it stopped, having asked to wait for ``s``."""
    ready = yield s
    while True:
        try:
            s = gen.send(ready)
        except StopIteration as ex:
            return cast(RV, ex.value)
        ready = yield s


async def _wait(conn: _Conn, gen: PQGen[RV]) -> RV:
    """Run one of the driver's generators on ``conn`` (what ``conn.wait`` does, cheaper): the event loop
    watches the socket from the first statement a connection runs until it goes back to the pool, where
    the driver registers and drops a watcher at each wait (a new poll handle, a timer and several
    epoll_ctl calls per statement). Waits to write (a statement larger than the socket's buffer) and a
    wait that is cancelled closes the connection."""
    try:
        s = next(gen)
    except StopIteration as ex:
        return cast(RV, ex.value)
    loop = conn.tg_loop
    assert loop is not None, "a connection of the store's pool"
    while True:
        if s != _WAIT_R:
            _unwatch(conn)
            return await conn.wait(_resumed(s, gen))
        if conn.tg_fd < 0:
            fd = conn.pgconn.socket
            loop.add_reader(fd, _readable, conn)
            conn.tg_fd = fd
        fut = conn.tg_fut = loop.create_future()
        try:
            await fut
        except BaseException:
            conn.tg_fut = None
            _unwatch(conn)
            # the caller was cancelled with a statement in flight: the connection is closed (the server
            # ends the statement; the pool replaces the connection)
            conn.pgconn.finish()
            raise
        conn.tg_fut = None
        try:
            s = gen.send(_READY_R)
        except StopIteration as ex:
            return cast(RV, ex.value)
        except BaseException:
            _unwatch(conn)
            raise


async def _command(conn: _Conn, sql: bytes) -> None:
    """A statement without parameters nor rows (``BEGIN``, ``COMMIT``, ``ROLLBACK``), not prepared."""
    conn.pgconn.send_query_params(sql, None)
    _result(conn, await _wait(conn, _pg_execute(conn.pgconn)))


def _pipelined(pgconn: pq.abc.PGconn, count: int) -> PQGen[list[list[pq.abc.PGresult]]]:
    """Flush a pipeline of ``count`` statements and its sync; the results of each statement."""
    out = [(yield from _pg_execute(pgconn))]
    for _ in range(count):          # the other statements' results, then the sync's
        out.append((yield from _pg_fetch_many(pgconn)))
    return out[:count]


_Step = bytes | tuple[bytes, Params]      # a command without parameters (BEGIN, COMMIT), or a statement


async def _pipeline(conn: _Conn, steps: Sequence[_Step]) -> pq.abc.PGresult:
    """Run ``steps`` in one round trip (libpq's pipeline mode) and return the result of the last statement
    among them: a transaction takes no round trip of its own to begin, nor to end after its last
    statements. When a step fails the server skips the rest, and its error is raised."""
    bound = [None if isinstance(step, bytes) else await _bind(conn, step[0], step[1]) for step in steps]
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    try:
        for step, b in zip(steps, bound, strict=True):
            if isinstance(step, bytes):
                pgconn.send_query_params(step, None)
            else:
                assert b is not None
                _queue(pgconn, step[0], b)
        pgconn.pipeline_sync()
        results = await _wait(conn, _pipelined(pgconn, len(steps)))
        pgconn.exit_pipeline_mode()
    except BaseException:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            _unwatch(conn)
            pgconn.finish()         # a pipeline cut short: the pool replaces the connection
        raise
    out = [_result(conn, res) for res in results]
    for b, res in zip(bound, out, strict=True):
        if b is not None and b[0] is not None and b[0].rows is None:
            b[0].learn(res)
    last = max(i for i, b in enumerate(bound) if b is not None)
    return out[last]


async def _abandon(conn: _Conn) -> None:
    """Roll back a transaction that failed (or whose caller failed); a connection that cannot is closed
    (the pool replaces it)."""
    status = conn.pgconn.transaction_status
    if status == _IDLE_TX or conn.closed:
        return
    if status == pq.TransactionStatus.ACTIVE:      # a statement cut short and still running
        _unwatch(conn)
        conn.pgconn.finish()
        return
    try:
        await _command(conn, b"ROLLBACK")
    except Exception as e:  # noqa: BLE001 - the caller's error is the one to raise
        log.warning("rollback failed (%s); closing the connection", e)
        _unwatch(conn)
        conn.pgconn.finish()


def _result(conn: _Conn, results: list[pq.abc.PGresult]) -> pq.abc.PGresult:
    for res in results:
        status = res.status
        if status != _TUPLES_OK and status != _COMMAND_OK:
            if status == pq.ExecStatus.FATAL_ERROR:
                raise pg_errors.error_from_result(res, encoding=conn.info.encoding)
            raise pg_errors.InternalError(f"unexpected result status: {pq.ExecStatus(status).name}")
    if not results:
        raise pg_errors.InternalError("no result from the statement")
    return results[-1]


def _rowcount(res: pq.abc.PGresult) -> int:
    if res.status == _TUPLES_OK:
        return res.ntuples
    n = res.command_tuples
    return n if n is not None else -1


def _rows(conn: _Conn, res: pq.abc.PGresult) -> list[Row]:
    tx = conn.tg_tx
    assert tx is not None
    tx.set_pgresult(res)
    return tx.load_rows(0, res.ntuples, tuple)


def _row(conn: _Conn, res: pq.abc.PGresult) -> Row | None:
    if not res.ntuples:
        return None
    tx = conn.tg_tx
    assert tx is not None
    tx.set_pgresult(res)
    return tx.load_row(0, tuple)


def _mergeable(texts: Sequence[str]) -> bool:
    """Whether deferred statements may run as one: plain inserts (``INSERT INTO t … VALUES``, no ``ON
    CONFLICT``, nothing returned), each into a table of its own. One statement's inserts into a table
    take its identity ids in the order of their rows; two ``WITH`` clauses inserting into one table
    would take them in whichever order PostgreSQL runs the clauses."""
    tables = set()
    for t in texts:
        words = t.split(None, 3)
        if len(words) < 4 or words[0].upper() != "INSERT" or words[1].upper() != "INTO":
            return False
        upper = t.upper()
        if " ON CONFLICT" in upper or " RETURNING " in upper or " SELECT " in upper or "\nSELECT " in upper:
            return False
        tables.add(words[2])
    return len(tables) == len(texts)


class _PgTx(Tx):
    """Statements of one transaction. ``BEGIN`` goes out with the first statement, and the statements
    given to :meth:`execute_later` with the next one (or with ``COMMIT``), in the same round trip. A
    transaction of nothing but such statements needs neither: they run as one statement when they may
    (:meth:`PostgresStore._merged`), else as one pipeline."""

    __slots__ = ("_conn", "_notes", "_begun", "_later", "_texts")

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn
        self._notes: list[tuple[str, str]] = []
        self._begun = False
        self._later: list[_Step] = []
        self._texts: list[str] = []         # the statements of _later as given (``?`` placeholders)

    def _steps(self) -> list[_Step]:
        """What must go out before the next statement: BEGIN, the statements left for later."""
        steps: list[_Step] = []
        if not self._begun:
            self._begun = True
            steps.append(b"BEGIN")
        if self._later:
            steps += self._later
            self._later = []
            self._texts = []
        return steps

    async def _run(self, sql: bytes, params: Params) -> pq.abc.PGresult:
        if self._begun and not self._later:
            return await _run(self._conn, sql, params)
        return await _pipeline(self._conn, [*self._steps(), (sql, params)])

    async def execute_later(self, sql: str, params: Params = ()) -> None:
        self._later.append((to_pg(sql), params))
        self._texts.append(sql)

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return _rowcount(await self._run(to_pg(sql), params))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:        # the driver's executemany: one round trip for all the rows (pipeline mode)
            steps = self._steps()
            if len(steps) == 1:
                await _command(self._conn, b"BEGIN")
            elif steps:
                await _pipeline(self._conn, steps)
            _unwatch(self._conn)        # the driver waits on the socket itself
            async with self._conn.cursor() as cur:
                await cur.executemany(to_pg(sql), list(rows))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            return _row(self._conn, await self._run(to_pg(sql), params))
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return _rows(self._conn, await self._run(to_pg(sql), params))
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
        # Through a pooler in transaction mode, consecutive transactions may run on different server
        # sessions: a statement prepared on one is unknown on the next, so nothing is prepared then (see
        # _run, which prepares what this store runs; the driver itself never prepares on these connections).
        self._prepares = not direct_url
        kwargs: dict[str, Any] = {"autocommit": True, "cursor_factory": AsyncRawCursor, "prepare_threshold": None}
        self._pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            url, connection_class=_Conn, min_size=min_size, max_size=max_size, open=False, kwargs=kwargs,
            configure=self._configure, reconnect_timeout=60)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._elector: asyncio.Task[None] | None = None
        self._leader = False
        self._closing = False
        # the tables and sequences a reset empties, and the query that finds which hold rows (built once)
        self._reset_plan: tuple[list[str], list[str], str] | None = None
        self._targeted: set[str] = set()
        self._wanted: dict[tuple[str, str], float] = {}     # (channel, key) → loop time to renew the lease
        self._notes_sql: dict[tuple[tuple[str, ...], bool, bool], bytes] = {}
        self._later_sql: dict[tuple[str, ...], bytes] = {}     # deferred statements as one (see _merged)
        # notifications → (any broadcast, any targeted, their parameters), built once for each set of them
        self._notes_tail: dict[tuple[tuple[str, str], ...], tuple[bool, bool, tuple[Any, ...]]] = {}
        self._idle: list[_Conn] = []        # connections kept between uses (see _take)

    async def _configure(self, conn: _Conn) -> None:
        conn.tg_tx = adapt.Transformer(conn)
        conn.tg_loop = asyncio.get_running_loop()
        conn.tg_prepared = {} if self._prepares else None

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
        while self._idle:
            conn = self._idle.pop()
            _unwatch(conn)
            await self._pool.putconn(conn)
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
            _unwatch(tx._conn)
            await tx._conn.execute(";\n".join(script))      # one round trip (no parameters: several statements)
        except psycopg.Error as e:
            raise _wrap(e) from e

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        try:
            conn = await self._take()
            try:
                tx = _PgTx(conn)
                try:
                    yield tx
                    if tx._notes and not tx._begun and not tx._later:
                        sql, params = self._notify_sql(tx._notes)
                        await _run(conn, sql, params)   # nothing else ran: one statement, atomic by itself
                    elif not tx._begun and tx._later:
                        # only statements left for later (and notifications): without BEGIN and COMMIT,
                        # one statement when they fit in one (each a WITH clause of the last, or of the
                        # notifications' statement: one statement is atomic by itself); else one round
                        # trip: the statements of a pipeline up to its sync are one transaction
                        # (PostgreSQL's implicit transaction block), committed at the sync, or rolled back
                        # whole when one of them fails
                        steps = tx._later
                        texts = tx._texts
                        tx._later, tx._texts = [], []
                        merged = self._merged(texts, steps, tx._notes)
                        if merged is not None:
                            await _run(conn, *merged)
                        else:
                            if tx._notes:
                                steps.append(self._notify_sql(tx._notes))
                            await _pipeline(conn, steps)
                    elif tx._notes or tx._later:
                        # what was left for later, the notifications and COMMIT: one round trip
                        steps = tx._steps()
                        if tx._notes:
                            steps.append(self._notify_sql(tx._notes))
                        await _pipeline(conn, [*steps, b"COMMIT"])
                    elif tx._begun:
                        await _command(conn, b"COMMIT")
                except BaseException:
                    if tx._begun:
                        await _abandon(conn)
                    raise
            finally:
                await self._give(conn)
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e
        for channel, payload in tx._notes:
            self._dispatch(channel, payload)

    async def _take(self) -> _Conn:
        """A connection for a statement or a transaction: one the store kept from its last use, or the
        pool's. Taking one from the pool and giving it back costs more driver work than a small statement
        (a lock, statistics, checks), so the store keeps a few idle ones itself, each for ``_KEEP_S`` at
        most; a connection it takes back from a caller in any state but idle (an error in a transaction,
        a statement cut short, a broken connection) goes back to the pool, which repairs or replaces it."""
        if self._idle:
            return self._idle.pop()
        conn = await self._pool.getconn()
        conn.tg_until = monotonic() + _KEEP_S
        return conn

    async def _give(self, conn: _Conn) -> None:
        if (len(self._idle) < _KEEP and conn.pgconn.transaction_status == _IDLE_TX and not self._closing
                and conn.tg_until > monotonic()):
            self._idle.append(conn)
        else:
            _unwatch(conn)
            await self._pool.putconn(conn)

    def _merged(self, texts: list[str], steps: list[_Step],
                notes: list[tuple[str, str]]) -> tuple[bytes, list[Any]] | None:
        """The statements ``texts`` (with their ``steps``' parameters) and the notifications ``notes`` as
        one statement: each statement but the last a ``WITH`` clause of the next (data-modifying ``WITH``
        clauses run once, to completion, whether or not anything reads them), the notifications' ``SELECT``
        last; None when there is a single statement and nothing to notify, or too many parameters.
        Every statement sees the database as it was before the statement began, which is what
        :meth:`Tx.execute_later` promises its callers."""
        if len(texts) == 1 and not notes:
            return None
        key = tuple(texts)
        sql = self._later_sql.get(key)
        if sql is None:
            sql = b""
            if _mergeable(texts):
                if len(texts) > 1:
                    clauses = ", ".join(f"w{i} AS ({t})" for i, t in enumerate(texts[:-1]))
                    sql = to_pg(f"WITH {clauses} {texts[-1]}")
                else:
                    sql = to_pg(texts[0])
            if len(self._later_sql) > 1000:
                self._later_sql.clear()
            self._later_sql[key] = sql
        if not sql:
            return None
        params: list[Any] = []
        for step in steps:
            assert not isinstance(step, bytes)
            params.extend(step[1])
        if len(params) > _MERGED_PARAMS_MAX:
            return None
        if notes:
            return self._notify_sql(notes, key, params)
        return sql, params

    def _notify_sql(self, notes: Iterable[tuple[str, str]], first: tuple[str, ...] = (),
                    first_params: Params = ()) -> tuple[bytes, list[Any]]:
        """One statement sending ``notes`` (after ``first``, statements run as its ``WITH`` clauses, whose
        parameters come first, in order)."""
        key_n = tuple(notes)
        tail = self._notes_tail.get(key_n)
        if tail is None:
            bc_c: list[str] = []
            bc_p: list[str] = []
            tg_c: list[str] = []
            tg_p: list[str] = []
            for channel, payload in dict.fromkeys(key_n):      # each distinct note once, in order
                if channel in self._targeted:
                    tg_c.append(channel)
                    tg_p.append(payload)
                else:
                    bc_c.append(channel)
                    bc_p.append(payload)
            sender = f"{self.node}|"
            params_n: list[Any] = []
            if bc_c:
                params_n += [PG_CHANNEL, sender, _text_array(bc_c), _text_array(bc_p)]
            if tg_c:
                params_n += [f"{PG_CHANNEL}_", sender, _text_array(tg_c), _text_array(tg_p), self.node]
            tail = (bool(bc_c), bool(tg_c), tuple(params_n))
            if len(self._notes_tail) > 1000:
                self._notes_tail.clear()
            self._notes_tail[key_n] = tail
        broadcast, targeted, tail_params = tail
        key = (first, broadcast, targeted)
        sql = self._notes_sql.get(key)
        if sql is None:
            prefix = to_pg("WITH " + ", ".join(f"w{i} AS ({t})" for i, t in enumerate(first)) + " ").decode() \
                if first else ""
            at = len(first_params) + 1
            parts = []
            if broadcast:
                parts.append(_numbered(_NOTE_BROADCAST, at, 4))
                at += 4
            if targeted:
                parts.append(_numbered(_NOTE_TARGETED, at, 5))
            sql = f"{prefix}SELECT pg_notify(d.ch, d.msg) FROM ({' UNION ALL '.join(parts)}) d".encode()
            if len(self._notes_sql) > 1000:
                self._notes_sql.clear()
            self._notes_sql[key] = sql
        params = [*first_params, *tail_params]
        return sql, params

    def targeted(self, channel: str) -> None:
        self._targeted.add(channel)
        self._notes_tail.clear()

    async def want(self, channel: str, key: str) -> None:
        k = (channel, key)
        now = asyncio.get_running_loop().time()
        if self._wanted.get(k, 0.0) > now:
            return
        if len(self._wanted) > 10_000:
            self._wanted.clear()
        self._wanted[k] = now + _INTEREST_RENEW_S      # set first: concurrent waits renew once
        try:
            conn = await self._take()
            try:
                await _run(conn, _WANT, (self.node, channel, key, _INTEREST_LEASE_MS))
            finally:
                await self._give(conn)
        except (psycopg.Error, PoolTimeout) as e:
            self._wanted.pop(k, None)
            raise _wrap(e) from e

    async def execute_notify(self, sql: str, params: Params, notes: Sequence[tuple[str, str]]) -> None:
        if not notes:
            await self.execute(sql, params)
            return
        text, all_params = self._notify_sql(notes, (sql,), params)
        try:
            conn = await self._take()
            try:
                await _run(conn, text, all_params)
            finally:
                await self._give(conn)
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e
        for channel, payload in notes:
            self._dispatch(channel, payload)

    async def execute(self, sql: str, params: Params = ()) -> int:
        # one statement is atomic by itself: autocommit, no BEGIN and COMMIT round trips around it
        # (a connection of the pool is taken and given back without its context manager: that would
        # commit, under the connection's lock, a transaction an autocommit connection never has)
        try:
            conn = await self._take()
            try:
                return _rowcount(await _run(conn, to_pg(sql), params))
            finally:
                await self._give(conn)
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            conn = await self._take()
            try:
                return _row(conn, await _run(conn, to_pg(sql), params))
            finally:
                await self._give(conn)
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            conn = await self._take()
            try:
                return _rows(conn, await _run(conn, to_pg(sql), params))
            finally:
                await self._give(conn)
        except (psycopg.Error, PoolTimeout) as e:
            raise _wrap(e) from e

    def notify(self, channel: str, payload: str) -> None:
        asyncio.get_running_loop().create_task(self._notify_now(channel, payload))

    async def _notify_now(self, channel: str, payload: str) -> None:
        async with self.transaction() as tx:
            tx.notify(channel, payload)
