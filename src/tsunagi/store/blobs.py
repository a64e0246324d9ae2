"""Blob stores: where object bytes live, apart from the rows that describe them.

One small contract, two backends:

- :class:`FileBlobStore` (default, SQLite): one file per blob under ``<data dir>/s3/blobs``,
  named by a random id (never by anything a client chose), written to ``<data dir>/s3/tmp`` while
  the upload streams in and renamed into place when it is complete.
- :class:`PgBlobStore` (the store is PostgreSQL): fixed-size chunks in ``s3_blob_chunks``, so that
  every server sharing the database sees the same bytes.

A blob is written once (:meth:`BlobStore.writer` → ``write``… → ``finish``), read any number of times
from any offset (:meth:`BlobStore.read`), and deleted. It becomes *visible* only when a row that
names it commits: a blob whose writer finished but whose row never committed is an orphan, which
:meth:`BlobStore.sweep` removes later. Nothing here knows about S3.
"""

from __future__ import annotations

import abc
import asyncio
import errno
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterable

from tsunagi.store.base import Store, StoreFull

READ_CHUNK = 256 * 1024          # what readers yield
WRITE_BUFFER = 1024 * 1024       # what writers gather before touching the disk
PG_CHUNK = 1024 * 1024           # bytes per row in s3_blob_chunks


def new_blob_id() -> str:
    return uuid.uuid4().hex


class BlobWriter(abc.ABC):
    """One blob being written. ``size`` counts the bytes written so far."""

    def __init__(self, blob_id: str) -> None:
        self.blob_id = blob_id
        self.size = 0

    @abc.abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def finish(self) -> None:
        """Make the blob durable (per the store's durability setting) and readable by id."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Forget everything written (safe to call after a failure, or twice)."""


class BlobStore(abc.ABC):
    kind = ""

    @abc.abstractmethod
    def writer(self) -> BlobWriter: ...

    @abc.abstractmethod
    def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The blob's bytes from ``offset`` (``length`` of them, or to the end), in pieces."""

    @abc.abstractmethod
    async def delete(self, blob_ids: Iterable[str]) -> None: ...

    async def wipe(self) -> None:  # noqa: B027 - optional: stores whose reset already removes blobs keep it
        """Delete every blob (after the store was reset)."""

    async def clear_incomplete(self) -> int:
        """At start-up, before any request: drop uploads a previous process left half written."""
        return 0

    async def sweep(self, referenced: set[str], older_than_s: float) -> int:
        """Delete blobs not in ``referenced`` that were written more than ``older_than_s`` ago."""
        return 0


# ---------------------------------------------------------------------------------------------------
# files


class _FileWriter(BlobWriter):
    def __init__(self, store: FileBlobStore, blob_id: str) -> None:
        super().__init__(blob_id)
        self._store = store
        self._tmp = os.path.join(store.tmp_dir, blob_id)
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._buf = bytearray()

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        self._buf += data
        if len(self._buf) >= WRITE_BUFFER:
            self._flush()

    def _flush(self) -> None:
        if self._buf and self._fd is not None:
            with memoryview(self._buf) as view, _disk_errors():
                done = 0
                while done < len(view):
                    done += os.write(self._fd, view[done:])
            self._buf.clear()

    async def finish(self) -> None:
        self._flush()
        fd, self._fd = self._fd, None
        assert fd is not None
        with _disk_errors():
            try:
                if self._store.fsync:
                    await asyncio.to_thread(os.fsync, fd)
            finally:
                os.close(fd)
            final = self._store.path(self.blob_id)
            folder = os.path.dirname(final)
            if folder not in self._store.dirs:
                os.makedirs(folder, exist_ok=True)
                self._store.dirs.add(folder)
            os.rename(self._tmp, final)
            if self._store.fsync:
                await asyncio.to_thread(_fsync_dir, folder)

    async def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._buf.clear()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


class _DiskErrors:
    """A full disk while writing a blob is the store's :class:`StoreFull`, like a full database. (A
    class, not a ``contextmanager`` generator: it wraps every blob write, and a generator costs more
    than the small write it wraps.)"""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> None:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(f"blob store: {e.strerror or e}") from e


_DISK_ERRORS = _DiskErrors()


def _disk_errors() -> _DiskErrors:
    return _DISK_ERRORS


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_WIPED = ".wiped-"      # the suffix of a blob folder a reset set aside


class FileBlobStore(BlobStore):
    """Blobs as files. ``fsync=True`` (``--sqlite-synchronous full``) syncs each blob and its folder
    before the row naming it commits; otherwise a blob survives a process crash (the page cache
    keeps it) but not necessarily a power loss, the same promise SQLite's ``NORMAL`` makes."""

    kind = "file"

    def __init__(self, root: str, *, fsync: bool = False) -> None:
        self.root = root
        self.blob_dir = os.path.join(root, "blobs")
        self.tmp_dir = os.path.join(root, "tmp")
        self.fsync = fsync
        self.dirs: set[str] = set()
        os.makedirs(self.blob_dir, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)

    def path(self, blob_id: str) -> str:
        if len(blob_id) != 32 or not all(c in "0123456789abcdef" for c in blob_id):
            raise ValueError(f"not a blob id: {blob_id!r}")
        return os.path.join(self.blob_dir, blob_id[:2], blob_id)

    def writer(self) -> BlobWriter:
        return _FileWriter(self, new_blob_id())

    async def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        fd = os.open(self.path(blob_id), os.O_RDONLY)
        try:
            end = os.fstat(fd).st_size if length is None else offset + length
            pos = offset
            while pos < end:
                data = os.pread(fd, min(READ_CHUNK, end - pos), pos)
                if not data:
                    raise OSError(f"blob {blob_id} is shorter than expected ({pos} < {end} bytes)")
                pos += len(data)
                yield data
        finally:
            os.close(fd)

    async def delete(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            try:
                os.unlink(self.path(blob_id))
            except (FileNotFoundError, ValueError):
                pass

    async def clear_incomplete(self) -> int:
        # One process owns a file blob store (it goes with the SQLite store and its lock), so at
        # start-up everything in tmp/ is an upload whose process died.
        for name in _listdir(self.root):
            if _WIPED in name:      # set aside by a reset whose process ended before removing it
                shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
        removed = 0
        for name in _listdir(self.tmp_dir):
            try:
                os.unlink(os.path.join(self.tmp_dir, name))
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    async def wipe(self) -> None:
        # A reset between tests must be quick, and removing a tree of files is not (most of a reset's
        # time, measured): each folder is renamed aside, one system call, and removed on a thread.
        for folder in (self.blob_dir, self.tmp_dir):
            if not _listdir(folder) and os.path.isdir(folder):
                continue        # nothing to remove
            trash = f"{folder}{_WIPED}{uuid.uuid4().hex}"
            try:
                os.rename(folder, trash)
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, trash, True)
            os.makedirs(folder, exist_ok=True)
        self.dirs.clear()

    async def sweep(self, referenced: set[str], older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for folder in (self.tmp_dir, *(os.path.join(self.blob_dir, d) for d in _listdir(self.blob_dir))):
            for name in _listdir(folder):
                full = os.path.join(folder, name)
                if name in referenced:
                    continue
                try:
                    if os.stat(full).st_mtime < cutoff:
                        os.unlink(full)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------------------------------------------
# PostgreSQL


class _PgWriter(BlobWriter):
    def __init__(self, store: PgBlobStore, blob_id: str) -> None:
        super().__init__(blob_id)
        self._store = store
        self._buf = bytearray()
        self._seq = 0

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        self._buf += data
        while len(self._buf) >= PG_CHUNK:
            chunk = bytes(self._buf[:PG_CHUNK])
            del self._buf[:PG_CHUNK]
            await self._put(chunk)

    async def _put(self, chunk: bytes) -> None:
        await self._store.store.execute(
            "INSERT INTO s3_blob_chunks (blob_id, seq, data, created_at) VALUES (?, ?, ?, ?)",
            (self.blob_id, self._seq, chunk, time.time()))
        self._seq += 1

    async def finish(self) -> None:
        if self._buf or self._seq == 0:
            chunk = bytes(self._buf)
            self._buf.clear()
            await self._put(chunk)

    async def abort(self) -> None:
        self._buf.clear()
        await self._store.delete([self.blob_id])


class PgBlobStore(BlobStore):
    """Blobs as ``PG_CHUNK``-byte rows: every server on the database reads the same bytes."""

    kind = "postgresql"

    def __init__(self, store: Store) -> None:
        self.store = store

    def writer(self) -> BlobWriter:
        return _PgWriter(self, new_blob_id())

    async def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if length is None:
            row = await self.store.fetchone(
                "SELECT COALESCE(MAX(seq), -1), COALESCE(SUM(LENGTH(data)), 0) FROM s3_blob_chunks "
                "WHERE blob_id = ?", (blob_id,))
            length = max(0, int(row[1]) - offset) if row else 0
        if length <= 0:
            return
        end = offset + length
        seq = offset // PG_CHUNK
        last = (end - 1) // PG_CHUNK
        skip = offset - seq * PG_CHUNK
        while seq <= last:
            upto = min(last, seq + 3)                # at most 4 MiB in hand at once
            rows = await self.store.fetchall(
                "SELECT seq, data FROM s3_blob_chunks WHERE blob_id = ? AND seq >= ? AND seq <= ? ORDER BY seq",
                (blob_id, seq, upto))
            if len(rows) != upto - seq + 1:
                raise OSError(f"blob {blob_id} is missing chunks {seq}..{upto}")
            for s, data in rows:
                data = bytes(data)
                start = skip if s == offset // PG_CHUNK else 0
                stop = end - s * PG_CHUNK if s == last else len(data)
                piece = data[start:stop]
                for i in range(0, len(piece), READ_CHUNK):
                    yield piece[i:i + READ_CHUNK]
            seq = upto + 1

    async def delete(self, blob_ids: Iterable[str]) -> None:
        ids = list(blob_ids)
        for i in range(0, len(ids), 500):
            batch = ids[i:i + 500]
            marks = ", ".join("?" for _ in batch)
            await self.store.execute(f"DELETE FROM s3_blob_chunks WHERE blob_id IN ({marks})", batch)

    async def sweep(self, referenced: set[str], older_than_s: float) -> int:
        rows = await self.store.fetchall(
            "SELECT DISTINCT blob_id FROM s3_blob_chunks WHERE seq = 0 AND created_at < ?",
            (time.time() - older_than_s,))
        orphans = [r[0] for r in rows if r[0] not in referenced]
        await self.delete(orphans)
        return len(orphans)


def open_blob_store(store: Store, data_dir: str, *, synchronous: str = "normal") -> BlobStore:
    """The blob store that goes with ``store``: chunks in PostgreSQL, files beside SQLite."""
    if store.dialect == "postgresql":
        return PgBlobStore(store)
    return FileBlobStore(os.path.join(data_dir, "s3"), fsync=synchronous.lower() in ("full", "extra"))
