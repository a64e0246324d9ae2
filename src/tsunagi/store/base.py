"""The store contract.

SQL is written once in the SQLite dialect with ``?`` placeholders; the PostgreSQL store
translates placeholders. Where the dialects really differ (``FOR UPDATE SKIP LOCKED``,
upserts with different syntax), repositories branch on :attr:`Store.dialect`.

Within a transaction (``async with store.transaction() as tx``) every statement runs on one
connection and commits together. ``notify`` inside a transaction is delivered after commit,
to listeners on every node (PostgreSQL LISTEN/NOTIFY) or on this process (SQLite).

Errors from the drivers never leave this package: they become one of the typed errors below
(:class:`ConstraintViolation`, :class:`StoreBusy`, :class:`StoreUnavailable`, :class:`StoreFull`),
which the gateway turns into AWS's answers; nothing outside ``store/`` looks at a driver's class
or message.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

log = logging.getLogger("tsunagi.store")

Row = tuple[Any, ...]
Params = Sequence[Any]
Listener = Callable[[str], None]


class StoreError(Exception):
    """The store could not do what was asked. Callers catch the subclasses below; a plain
    ``StoreError`` is a fault of tsunagi's own (a bad statement, a broken migration)."""


class ConstraintViolation(StoreError):
    """A uniqueness or other constraint was violated: the request's data, not the machine."""


IntegrityError = ConstraintViolation   # the name the repositories grew up with


class StoreBusy(StoreError):
    """The database is locked by another writer or a lock wait timed out: retrying may succeed."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (connection lost, server down, pool exhausted)."""


class StoreFull(StoreError):
    """The disk (or the database's quota) is full: nothing was saved."""


class Tx(abc.ABC):
    """Statements inside one transaction."""

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abc.abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abc.abstractmethod
    def notify(self, channel: str, payload: str) -> None:
        """Queue a notification, delivered to every node's listeners once this transaction commits."""

    async def execute_later(self, sql: str, params: Params = ()) -> None:
        """Run a statement whose result the caller does not need (rows changed, rows returned) by the time
        the transaction's next statement runs or it commits, whichever comes first. A shared store sends it
        with that one, in one round trip; its error (a constraint violated) is raised there then, and fails
        the transaction as any statement's would. Outside a transaction: at once, as :meth:`execute`.
        The statements deferred together must not depend on each other's changes (an insert whose row
        another one updates, two upserts of one key): a shared store may run them as one statement, where
        each sees the database as it was before them (PostgreSQL: data-modifying ``WITH`` clauses)."""
        await self.execute(sql, params)


class Store(Tx):
    """A database. Statements run outside a transaction are each their own transaction."""

    dialect: str = ""
    # Whether other tsunagi servers may share this database (PostgreSQL): then a change must tell
    # them (``notify``) and in-process caches must expire. Repositories test this capability, not
    # the dialect's name; what differs in SQL lives in the dialect's queries file.
    shared: bool = False
    # Whether text columns can hold U+0000 (PostgreSQL's text cannot).
    text_keeps_nul: bool = True
    # Whether :meth:`open` created the schema from nothing (no migration had been applied before): the
    # store holds no state yet, so no service has background work to resume.
    fresh: bool = False

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def leads(self) -> bool:
        """Whether this server is the one that runs the background work that must run once across the
        servers sharing the database (sweeps, adopting abandoned move tasks). A store one server owns:
        always. PostgreSQL: the server holding the leader's advisory lock."""
        return True

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    @abc.abstractmethod
    async def reset(self) -> None:
        """Delete every row of every table (the schema stays)."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the health endpoint says about this store."""

    # -- notifications -------------------------------------------------------------------------
    def listen(self, channel: str, callback: Listener) -> None:
        """Call ``callback(payload)`` on the event loop for every notification on ``channel``."""
        self._listeners.setdefault(channel, []).append(callback)

    def unlisten(self, channel: str, callback: Listener) -> None:
        cbs = self._listeners.get(channel)
        if cbs and callback in cbs:
            cbs.remove(callback)

    def _dispatch(self, channel: str, payload: str) -> None:
        for cb in tuple(self._listeners.get(channel, ())):
            try:
                cb(payload)
            except Exception:  # a listener's bug must not break the store
                log.exception("listener for %s failed", channel)

    # -- targeted notifications (a shared store) ---------------------------------------------------
    def targeted(self, channel: str) -> None:
        """Notifications on ``channel`` name a key (their payload up to its first ``:``; what follows is
        detail for the listener) and reach, on other nodes, only those that :meth:`want` that key: a sender
        does not wake nodes that wait for nothing of it. This node's own listeners hear every notification
        as before. A store of its own has no other nodes."""

    async def want(self, channel: str, key: str) -> None:
        """This node waits for notifications of ``key`` on the targeted ``channel`` (a lease the store
        renews when asked again; cheap to call before every wait)."""

    async def execute_notify(self, sql: str, params: Params, notes: Sequence[tuple[str, str]]) -> None:
        """One statement and its notifications, committed together. A shared store sends both in one
        round trip (the statement is atomic by itself: no transaction around it)."""
        async with self.transaction() as tx:
            await tx.execute(sql, params)
            for channel, payload in notes:
                tx.notify(channel, payload)

    async def iterate(self, sql: str, params: Params = (), batch: int = 1000) -> AsyncIterator[Row]:
        """Rows one at a time (default: fetch all; stores may stream)."""
        for row in await self.fetchall(sql, params):
            yield row


def migrations(dialect: str, applied: Iterable[int] = ()) -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file of a dialect not in ``applied``, in order (only
    those files are read: a store that is up to date reads none).

    Files live in ``store/migrations/<dialect>/NNNN_name.sql``. Numbering leaves room per service:
    0001–0009 core, 0010–0019 sqs, 0020 sns, 0030 lambda/logs, 0040 s3, 0050 kms/iam, 0060 cfn, 0070 apigw, 0080 ecs.
    """
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations", dialect)
    found = sorted((int(name.split("_", 1)[0]), name) for name in os.listdir(folder) if name.endswith(".sql"))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration numbers in {dialect}: {versions}")
    done = set(applied)
    out = []
    for version, name in found:
        if version in done:
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            out.append((version, name, f.read()))
    return out


def split_statements(sql: str) -> list[str]:
    """Split a migration file on lines that are just ``;`` or statements ending in ``;``.

    Migrations are plain DDL: no semicolons inside string literals or function bodies.
    A function body may be wrapped between ``-- begin block`` and ``-- end block`` lines to keep it whole.
    """
    statements: list[str] = []
    buf: list[str] = []
    in_block = False
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped == "-- begin block":
            in_block = True
            statements.append("\n".join(buf))  # anything before the block (comments are dropped below)
            buf = []
            continue
        if stripped == "-- end block":
            in_block = False
            statements.append("\n".join(buf))
            buf = []
            continue
        buf.append(line)
        if not in_block and stripped.endswith(";"):
            statements.append("\n".join(buf))
            buf = []
    rest = "\n".join(buf).strip()
    if rest and not all(ln.strip().startswith("--") or not ln.strip() for ln in rest.splitlines()):
        statements.append(rest)
    return [s for s in (st.strip() for st in statements) if s and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in s.splitlines())]


def open_store(url: str | None, data_dir: str, *, synchronous: str = "normal", cache_mb: int = 64,
               direct_url: str = "") -> Store:
    """The store a URL names: ``None``/``sqlite``/``sqlite:///path``/``:memory:`` or ``postgresql://…``
    (``direct_url``: the database itself when ``url`` goes through a pooler in transaction mode)."""
    if url and url.startswith(("postgresql://", "postgres://")):
        from tsunagi.store.postgres import PostgresStore

        return PostgresStore(url, direct_url=direct_url or None)
    from tsunagi.store.sqlite import SqliteStore

    if not url or url == "sqlite":
        import os

        return SqliteStore(os.path.join(data_dir, "tsunagi.db"), synchronous=synchronous, cache_mb=cache_mb)
    if url == ":memory:" or url == "sqlite://:memory:":
        return SqliteStore(":memory:", synchronous=synchronous, cache_mb=cache_mb)
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):], synchronous=synchronous, cache_mb=cache_mb)
    raise StoreError(f"unknown store {url!r}: use 'sqlite', 'sqlite:///path/file.db' or 'postgresql://…'")
