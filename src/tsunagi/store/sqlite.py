"""The embedded store: one SQLite file in WAL mode, used from the event loop thread.

Statements are microseconds long, so they run inline on the loop (a thread hop would cost
more than the statement). A transaction holds an asyncio lock so that a coroutine which
awaits inside its transaction cannot interleave its statements with another's.

Group commit: a commit costs more than the statements before it (it writes their pages to the
WAL), so the transactions that run in one turn of the event loop share one. The first opens
the group (``BEGIN IMMEDIATE``) and schedules its ``COMMIT`` for the next turn; each transaction
runs in its own savepoint, so a failing one undoes only its own work; each then waits for the
group's commit. While the group keeps growing it stays open a few turns more; it never waits
for work that has not arrived (holding a commit for a transaction still on its way makes
concurrent clients move in lock-step, which costs more than the commits it saves). No caller
hears of success before the commit that holds its change, and a failed commit fails every
member. Reads outside a transaction do not wait for the group: they may see the changes about
to be committed, which are undone only if that commit fails (a full disk), and then every writer
among them was told so.

``synchronous=NORMAL`` (default) keeps every commit across a crash of the process (``kill -9``);
a power loss may cost the last commits. ``synchronous=FULL`` keeps them across power loss too.

Checkpoints: SQLite's automatic checkpoint runs inside the ``COMMIT`` that takes the WAL past
1000 pages and syncs the WAL, then the database file, there: on a slow disk that held the event
loop for 15-40 ms every hundred or so SNS publishes, nearly all of it in the sync of the WAL. So
tsunagi checkpoints itself (file stores, unless ``synchronous=OFF``): when the WAL has grown by
about ``_CKPT_PAGES`` pages, or ``_CKPT_SECONDS`` after the last checkpoint, a worker thread syncs
the WAL file (syncing pages that are still being appended to needs no lock), and once that is done
the checkpoint runs on the loop between two commits, where the WAL it syncs again is nearly clean.
What SQLite promises is unchanged: the same checkpoint runs, a little later, after one more sync.
(A checkpoint on a second connection, off the loop altogether, would need SQLite's shared locking
mode: its file locks cost SendMessage ~8% more CPU here, so the connection stays exclusive.)
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from tsunagi.store import schema_cache
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

_MIGRATIONS_TABLE = ("CREATE TABLE IF NOT EXISTS tsunagi_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))")
# How long after a start that migrated a new store (its schema not cached yet) the cached copy is made.
SCHEMA_CACHE_DELAY_S = 3.0

# The sqlite3 module binds int, float, str and bytearray values at once; any other value, None and
# bytes included, first goes through its adapter lookup, which, finding no adapter, raises and
# clears two AttributeErrors (a formatted message each): a few microseconds per parameter, and a
# message row has several NULLs. With these two registered, the lookup is one dictionary hit and the
# adapter hands the value back unchanged (None is still bound as NULL, bytes as a BLOB).
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))      # {}.get(None) is None
sqlite3.register_adapter(bytes, bytes)              # bytes(b) is b for a bytes object

# SQLite's primary result codes (the low byte of an extended code)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 5, 6, 10, 13, 14


def _wrap(exc: sqlite3.Error) -> StoreError:
    """The store's typed error for a driver error (by SQLite's result code, never its text)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(str(exc))
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_FULL:
        return StoreFull(f"sqlite: {exc}")
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreBusy(f"sqlite: {exc}")
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        return StoreUnavailable(f"sqlite: {exc}")
    return StoreError(f"sqlite: {exc}")


class _SqliteTx(Tx):
    __slots__ = ("_conn", "_notes")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._notes: list[tuple[str, str]] = []

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.Error as e:
            raise _wrap(e) from e

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as e:
            raise _wrap(e) from e

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            row: Row | None = self._conn.execute(sql, params).fetchone()
            return row
        except sqlite3.Error as e:
            raise _wrap(e) from e

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise _wrap(e) from e

    def notify(self, channel: str, payload: str) -> None:
        self._notes.append((channel, payload))


_GROUP_TURNS = 4   # a group stays open at most this many turns of the loop while it keeps growing
_CKPT_PAGES = 1000     # checkpoint when the WAL holds about this many pages (SQLite's own default)
_CKPT_SECONDS = 2.0    # or when this long has passed since the last checkpoint (with commits since)
_CKPT_IDLE, _CKPT_SYNCING, _CKPT_READY = 0, 1, 2


def _sync_file(path: str) -> None:
    """fdatasync ``path`` (run on a worker thread); a file that is not there needs no sync."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class _Group:
    """Transactions committed together: each member awaits a future of its own, resolved when the
    group's ``COMMIT`` has run (or failed)."""

    __slots__ = ("loop", "waiters", "finished", "error", "due", "members", "notes")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiters: list[asyncio.Future[None]] = []   # the members awaiting the commit
        self.finished = False
        self.error: StoreError | None = None
        self.members = 0
        self.notes: list[tuple[str, str]] = []
        self.due = False          # its turn to commit came while a transaction was still open

    def succeed(self) -> None:
        self.finished = True
        for waiter in self.waiters:
            if not waiter.done():          # (a member cancelled meanwhile: its client went away)
                waiter.set_result(None)

    def fail(self, exc: StoreError) -> None:
        if self.finished:
            return
        self.finished = True
        self.error = exc
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(type(exc)(*exc.args))   # each member raises its own copy
                waiter.exception()     # (marked seen: a member cancelled before it awaits it is not logged)

    async def committed(self) -> None:
        if not self.finished:
            # a future per member (not one shared and shielded): a member that is cancelled cancels
            # only its own wait, never the others' commit
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            await waiter
            return
        exc = self.error
        if exc is not None:
            raise type(exc)(*exc.args)


class _Transaction:
    """``async with store.transaction() as tx``: the store's lock, a savepoint in the open group,
    and after the block the group's commit. (A class rather than an ``asynccontextmanager``: it
    runs for every write, and a generator-based manager costs several times as much.)"""

    __slots__ = ("_store", "_group", "_tx")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def __aenter__(self) -> Tx:
        store = self._store
        conn = store._conn
        if conn is None:
            raise StoreError("store is closed")
        await store._lock.acquire()
        try:
            group = store._join_group(conn)
        except BaseException:
            store._lock.release()
            raise
        try:
            conn.execute("SAVEPOINT tx")
        except sqlite3.Error as e:
            store._end_member(group)
            store._lock.release()
            raise _wrap(e) from e
        self._group = group
        tx = self._tx = _SqliteTx(conn)
        return tx

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> bool:
        store, group = self._store, self._group
        conn = self._tx._conn
        try:
            if exc_type is not None:
                store._undo(conn)
                store._end_member(group)
                return False
            try:
                conn.execute("RELEASE tx")
            except sqlite3.Error as e:
                store._undo(conn)
                store._end_member(group)
                raise _wrap(e) from e
            group.notes.extend(self._tx._notes)
            store._end_member(group)
        finally:
            store._lock.release()
        await group.committed()
        return False


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "normal", cache_mb: int = 64) -> None:
        super().__init__()
        self.path = path
        self.cache_mb = cache_mb     # SQLite keeps up to this much of the database in memory
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"unknown synchronous setting {synchronous!r}")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._lockfile: Any = None
        self._group: _Group | None = None     # the open group transaction, not yet committed
        self._loop: asyncio.AbstractEventLoop | None = None   # the loop groups commit on (while it runs)
        # tsunagi's own WAL checkpoints (see the module's docstring)
        self._ckpt_on = path != ":memory:" and self.synchronous != "OFF"
        self._ckpt_state = _CKPT_IDLE
        self._ckpt_commits = 0                # commits since the last checkpoint
        self._ckpt_pages_per_commit = 8.0     # learnt from each checkpoint's size
        self._ckpt_last = time.monotonic()
        # the tables a reset empties and the query that finds which hold rows (built on the first reset)
        self._reset_plan: tuple[list[str], str] | None = None
        self._schema_key: str | None = None      # a new file's schema digest (schema_cache)
        self._templated: str | None = None       # ... when the file is a copy of its cached empty database

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._conn is not None:
            return          # open already (tsunagi serve opens the store before it builds the platform)
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            self._lockfile = open(self.path + ".lock", "w")  # noqa: SIM115 - held for the store's lifetime
            try:
                fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lockfile.close()
                self._lockfile = None
                raise StoreError(
                    f"{self.path} is in use by another tsunagi process; one SQLite store serves one "
                    "process (use PostgreSQL to run several servers on one store)") from None
        # a new file: a copy of the cached empty database of this schema when there is one (schema_cache)
        self._schema_key = self._templated = None
        if self.path != ":memory:" and not any(os.path.exists(self.path + s) for s in ("", "-wal", "-journal")):
            self._schema_key = schema_cache.digest(migrations("sqlite"))
            if schema_cache.copy_template(self._schema_key, self.path):
                self._templated = self._schema_key
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   cached_statements=512)
            if self.path != ":memory:":
                # One process owns the file (the lock file above), so SQLite may keep its locks for the
                # connection's lifetime: no lock syscalls per transaction, no shared-memory WAL index.
                conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA temp_store=MEMORY")
            # SQLite keeps up to this much of the database in memory (default 64 MiB): the server's
            # memory grows with the data until the cache is full, then stays put.
            conn.execute(f"PRAGMA cache_size=-{self.cache_mb * 1024}")
            if self._ckpt_on:
                conn.execute("PRAGMA wal_autocheckpoint=0")      # tsunagi checkpoints itself
        except sqlite3.Error as e:
            raise _wrap(e) from e
        self._conn = conn
        self._tx = _SqliteTx(conn)
        self._migrate()

    def _migrate(self) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute(_MIGRATIONS_TABLE)
        done = {r[0] for r in conn.execute("SELECT version FROM tsunagi_migrations")}
        todo = migrations("sqlite", done)
        self.fresh = not done
        if self._templated is not None and not todo:
            # a copy of the cached empty schema: as new as a migrated store, migrated now
            log.info("new store: its tables copied from %s", schema_cache.template_path(self._templated))
            self.fresh = True
            conn.execute("UPDATE tsunagi_migrations SET applied_at = (julianday('now') - 2440587.5) * 86400.0")
        elif todo and not done:
            log.info("new store: creating its tables (%d migrations)", len(todo))
            # a new store's schema in one transaction: one commit (one write of the WAL) instead of one
            # per migration; nothing is there if any of them fails
            self._apply(todo, conn, each=False)
            if self._schema_key is not None and self._templated is None:
                self._cache_schema(self._schema_key, todo)
        else:
            self._apply(todo, conn, each=True)

    def _cache_schema(self, key: str, todo: list[tuple[int, str, str]]) -> None:
        """A little after this start, on a thread, make the empty database later new stores copy."""
        def prepare(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(_MIGRATIONS_TABLE)
            self._apply(todo, conn, each=False)

        def begin() -> None:
            threading.Thread(target=schema_cache.make_template, args=(key, prepare), name="tsunagi-schema-cache",
                             daemon=True).start()

        try:
            asyncio.get_running_loop().call_later(SCHEMA_CACHE_DELAY_S, begin)
        except RuntimeError:        # opened outside an event loop: no later to put it off to
            pass

    @staticmethod
    def _apply(todo: list[tuple[int, str, str]], conn: sqlite3.Connection, *, each: bool) -> None:
        """Apply migrations: each in a transaction of its own (an upgrade names each step it takes), or
        all in one (a new store's schema, one line in the log above)."""
        if not each:
            conn.execute("BEGIN IMMEDIATE")
        name = ""
        try:
            for version, name, sql in todo:
                log.log(logging.INFO if each else logging.DEBUG, "applying migration sqlite/%s", name)
                if each:
                    conn.execute("BEGIN IMMEDIATE")
                for stmt in split_statements(sql):
                    conn.execute(stmt)
                conn.execute("INSERT INTO tsunagi_migrations (version, name) VALUES (?, ?)", (version, name))
                if each:
                    conn.execute("COMMIT")
            if not each:
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"migration {name} failed: {e}") from e

    async def close(self) -> None:
        if self._conn is not None:
            async with self._lock:
                self._ckpt_on = False       # closing the connection checkpoints the WAL itself
                self._commit_group()
                try:
                    self._conn.execute("PRAGMA optimize")
                except sqlite3.Error:
                    pass
                self._conn.close()
                self._conn = None
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    def describe(self) -> dict[str, Any]:
        path = self.path if self.path == ":memory:" else os.path.abspath(self.path)
        return {"kind": "sqlite", "path": path, "synchronous": self.synchronous.lower()}

    async def reset(self) -> None:
        # Test suites reset between tests: one query finds the tables that hold rows, and only those
        # are emptied (the table list is read once; migrations only run at open).
        async with self.transaction() as tx:
            if self._reset_plan is None:
                tables = [r[0] for r in await tx.fetchall(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                    "AND name <> 'tsunagi_migrations' ORDER BY name")]
                probe = " UNION ALL ".join(f'SELECT {i} WHERE EXISTS (SELECT 1 FROM "{t}")'
                                           for i, t in enumerate(tables))
                self._reset_plan = (tables, probe)
            tables, probe = self._reset_plan
            if not tables:
                return
            for (i,) in await tx.fetchall(probe):
                await tx.execute(f'DELETE FROM "{tables[i]}"')

    # -- statements ------------------------------------------------------------------------------
    def _join_group(self, conn: sqlite3.Connection) -> _Group:
        """The open group, opening one (and scheduling its commit) if there is none. The caller
        holds the lock or runs without awaiting."""
        group = self._group
        if group is not None and not conn.in_transaction:
            # SQLite rolled the group back by itself (a full disk, an I/O error): its members fail.
            self._group = None
            group.fail(StoreError("sqlite: the transaction was rolled back by the database"))
            group = None
        if group is None:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise _wrap(e) from e
            loop = self._loop
            if loop is None or not loop.is_running():
                # (asyncio.get_running_loop makes a getpid system call in Python 3.11: the loop is kept
                # while it runs; the store is used from one event loop's thread, see the docstring)
                loop = self._loop = asyncio.get_running_loop()
            group = self._group = _Group(loop)
            loop.call_soon(self._commit_due, group, 1, 1)
        group.members += 1
        return group

    def _commit_due(self, group: _Group, seen: int = 1, turns: int = 1) -> None:
        """A turn after ``group`` opened: commit it, unless it grew during the last turn (requests
        are arriving: give the next turn's a place too, a few turns at most) or a transaction is
        still open (one that awaits inside; it commits the group when it ends)."""
        if self._group is not group:
            return
        if group.members > seen and turns < _GROUP_TURNS:
            group.loop.call_soon(self._commit_due, group, group.members, turns + 1)
            return
        if self._lock.locked():
            group.due = True
        else:
            self._commit_group()

    def _commit_group(self) -> None:
        group, conn = self._group, self._conn
        if group is None:
            return
        self._group = None
        if conn is None:
            group.fail(StoreError("store is closed"))
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            group.fail(_wrap(e))
            return
        group.succeed()
        for channel, payload in group.notes:
            self._dispatch(channel, payload)
        if self._ckpt_on:
            self._after_commit()

    # -- checkpoints -----------------------------------------------------------------------------
    def _after_commit(self) -> None:
        self._ckpt_commits += 1
        state = self._ckpt_state
        if state == _CKPT_READY:
            self._checkpoint()
        elif state == _CKPT_IDLE and (
                self._ckpt_commits * self._ckpt_pages_per_commit >= _CKPT_PAGES
                or time.monotonic() - self._ckpt_last >= _CKPT_SECONDS):
            self._ckpt_state = _CKPT_SYNCING
            loop = asyncio.get_running_loop()
            loop.run_in_executor(None, _sync_file, self.path + "-wal").add_done_callback(self._wal_synced)

    def _wal_synced(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            self._ckpt_state = _CKPT_IDLE
            return
        exc = fut.exception()
        if exc is not None:
            log.warning("sqlite: syncing the WAL before a checkpoint failed (the checkpoint syncs it): %s", exc)
        self._ckpt_state = _CKPT_READY
        if self._group is None and not self._lock.locked():
            self._checkpoint()       # idle now; otherwise the next commit runs it

    def _checkpoint(self) -> None:
        conn = self._conn
        if conn is None or not self._ckpt_on or conn.in_transaction:
            return                   # stays ready: the next commit runs it
        self._ckpt_state = _CKPT_IDLE
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as e:
            log.warning("sqlite: WAL checkpoint failed (it is tried again later): %s", e)
            row = None
        if row is not None and row[1] > 0 and self._ckpt_commits:
            self._ckpt_pages_per_commit = max(1.0, row[1] / self._ckpt_commits)
        self._ckpt_commits = 0
        self._ckpt_last = time.monotonic()

    def _end_member(self, group: _Group) -> None:
        """A transaction ended (committed to its savepoint or undone), the lock still held: if the
        group's turn came while it was open, commit the group now."""
        if group.due and self._group is group:
            self._commit_group()

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    @staticmethod
    def _undo(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("ROLLBACK TO tx")
            conn.execute("RELEASE tx")
        except sqlite3.Error:
            pass  # SQLite already rolled back the whole group; its commit reports that to every member

    def _plain(self) -> _SqliteTx:
        if self._conn is None:
            raise StoreError("store is closed")
        return self._tx

    def _execute_in_group(self, sql: str, params: Params) -> tuple[_Group, int]:
        conn = self._conn
        if conn is None:
            raise StoreError("store is closed")
        group = self._join_group(conn)
        try:
            # no savepoint: a failing statement undoes only its own changes
            return group, conn.execute(sql, params).rowcount
        except sqlite3.Error as e:
            raise _wrap(e) from e

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement, committed (with the rest of its group) before this returns."""
        if self._lock.locked():
            async with self._lock:
                group, count = self._execute_in_group(sql, params)
        else:
            group, count = self._execute_in_group(sql, params)
        await group.committed()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        if self._lock.locked():
            async with self._lock:
                return await self._plain().fetchone(sql, params)
        return await self._plain().fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if self._lock.locked():
            async with self._lock:
                return await self._plain().fetchall(sql, params)
        return await self._plain().fetchall(sql, params)

    def notify(self, channel: str, payload: str) -> None:
        self._dispatch(channel, payload)
