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

Checkpoints run on a thread of their own (:class:`_Checkpointer`, with its own connection), not
in a ``COMMIT``. SQLite's automatic checkpoint runs inside the commit that takes the WAL past
1000 pages and syncs the WAL and the database file there: on a slow disk that held the event loop
for 15-40 ms every hundred or so commits. A checkpoint on another connection copies the committed
pages while the loop goes on writing; SQLite starts the WAL over at the first write after a
checkpoint that copied everything. Under writes that never pause that moment does not come, so
when the WAL has grown past ``_WAL_CAP_PAGES`` the loop runs one checkpoint itself between two
commits: by then the thread has copied and synced all but the last few pages, so it is short.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

from tsunagi.store.base import (
    IntegrityError,
    Params,
    Row,
    Store,
    StoreError,
    Tx,
    log,
    migrations,
    split_statements,
)


def _wrap(exc: sqlite3.Error) -> StoreError:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(str(exc))
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
            return self._conn.execute(sql, params).fetchone()
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
_CKPT_EVERY_S = 0.2          # the checkpoint thread looks for new commits this often
_WAL_CAP_PAGES = 16384       # past this (64 MiB of 4 KiB pages) the loop checkpoints once itself


class _Checkpointer:
    """Checkpoints the WAL from a thread with its own connection (see the module's docstring).

    The loop marks ``dirty`` after each commit (an attribute write: no lock, no wakeup); the thread
    looks every ``_CKPT_EVERY_S`` seconds and runs a PASSIVE checkpoint, which never waits for the
    writer. ``frames`` is the WAL's size in pages at the end of the last one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dirty = False
        self.frames = 0
        self.running = False           # a checkpoint is in progress on the thread
        self._stop = threading.Event()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_CKPT_EVERY_S):
            if self.dirty:
                self.dirty = False
                self.checkpoint()

    def checkpoint(self) -> None:
        self.running = True
        try:
            busy, frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.frames = frames
        except sqlite3.Error as e:
            log.warning("sqlite: WAL checkpoint failed (it is tried again later): %s", e)
            self.dirty = True
        finally:
            self.running = False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


class _Group:
    """Transactions committed together: ``done`` resolves when their ``COMMIT`` has run."""

    __slots__ = ("done", "due", "members", "notes")

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.members = 0
        self.notes: list[tuple[str, str]] = []
        self.due = False          # its turn to commit came while a transaction was still open

    def fail(self, exc: StoreError) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
            self.done.exception()  # each member re-raises it; the future itself need not be logged

    async def committed(self) -> None:
        done = self.done
        if not done.done():
            # shielded: a member that is cancelled (its client went away) must not cancel the others' commit
            try:
                await asyncio.shield(done)
            except StoreError as e:
                raise type(e)(*e.args) from None   # each member raises its own copy
            return
        exc = done.exception()
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

    def __init__(self, path: str, *, synchronous: str = "normal") -> None:
        super().__init__()
        self.path = path
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"unknown synchronous setting {synchronous!r}")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._lockfile: Any = None
        self._group: _Group | None = None     # the open group transaction, not yet committed
        self._ckpt: _Checkpointer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
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
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   cached_statements=512)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA temp_store=MEMORY")
            # SQLite keeps up to this much of the database in memory (default 64 MiB): the server's
            # memory grows with the data until the cache is full, then stays put.
            conn.execute(f"PRAGMA cache_size=-{int(os.environ.get('TSUNAGI_SQLITE_CACHE_MB', '64')) * 1024}")
            if self.path != ":memory:":
                # The checkpoint thread does it. (No journal_size_limit: cutting a grown WAL file
                # back when SQLite starts it over cost ~60 ms of the loop on this disk.)
                conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as e:
            raise _wrap(e) from e
        self._conn = conn
        self._tx = _SqliteTx(conn)
        self._migrate()
        if self.path != ":memory:":
            try:
                self._ckpt = _Checkpointer(self.path)
            except sqlite3.Error as e:
                raise _wrap(e) from e

    def _migrate(self) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("CREATE TABLE IF NOT EXISTS tsunagi_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))")
        done = {r[0] for r in conn.execute("SELECT version FROM tsunagi_migrations")}
        for version, name, sql in migrations("sqlite"):
            if version in done:
                continue
            log.info("applying migration sqlite/%s", name)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in split_statements(sql):
                    conn.execute(stmt)
                conn.execute("INSERT INTO tsunagi_migrations (version, name) VALUES (?, ?)", (version, name))
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                conn.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed: {e}") from e

    async def close(self) -> None:
        if self._ckpt is not None:
            self._ckpt.stop()
            self._ckpt = None
        if self._conn is not None:
            async with self._lock:
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
        return {"kind": "sqlite", "path": self.path, "synchronous": self.synchronous.lower()}

    async def reset(self) -> None:
        async with self.transaction() as tx:
            for (name,) in await tx.fetchall(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                    "AND name <> 'tsunagi_migrations'"):
                await tx.execute(f'DELETE FROM "{name}"')

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
            loop = asyncio.get_running_loop()
            group = self._group = _Group(loop.create_future())
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
            asyncio.get_running_loop().call_soon(self._commit_due, group, group.members, turns + 1)
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
        group.done.set_result(None)
        for channel, payload in group.notes:
            self._dispatch(channel, payload)
        ckpt = self._ckpt
        if ckpt is not None:
            ckpt.dirty = True
            if ckpt.frames >= _WAL_CAP_PAGES and not ckpt.running:
                self._catch_up(conn, ckpt)

    @staticmethod
    def _catch_up(conn: sqlite3.Connection, ckpt: _Checkpointer) -> None:
        """The WAL grew past the cap because writes never paused for it to start over: checkpoint the
        few pages the thread has not copied yet, here between two commits, so the next write can."""
        try:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as e:
            log.warning("sqlite: WAL checkpoint failed (it is tried again later): %s", e)
            return
        if not busy and done == frames:
            ckpt.frames = 0

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
