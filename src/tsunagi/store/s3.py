"""The S3 repository: the statements S3 runs (``queries/*/s3.sql``).

The service (``tsunagi.services.s3``) calls these methods with plain values and gets rows back.
JSON columns (``config``, ``info``, ``segments``) arrive and leave as strings; the service owns
their shape. Rows come back as the named tuples below.

Keys are compared in UTF-8 byte order (SQLite's BINARY collation; ``COLLATE "C"`` on PostgreSQL),
the order S3 lists them in; listings take a half-open key range ``[lower, upper)`` that the
service computes from the prefix.

Writes that must be atomic with other work (an object commit with its outbox rows) take the
transaction as their first argument.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from tsunagi.store import queries
from tsunagi.store.base import IntegrityError, Store, Tx

# payload: a bucket created, deleted or configured, on a shared store (servers keep its metrics
# configurations in memory; a reconnected listener hears "*" and reads them all again)
META_CHANNEL = "s3-meta"


class BucketRow(NamedTuple):
    name: str
    account: str
    region: str
    created_at: float
    versioning: str | None
    config: str


class ObjectRow(NamedTuple):
    id: int
    bucket: str
    key: str
    version_id: str
    latest: int
    delete_marker: int
    size: int
    etag: str
    modified_at: float
    info: str
    segments: str


class ListRow(NamedTuple):
    """An object version as listings need it (no segments)."""

    id: int
    key: str
    version_id: str
    latest: int
    delete_marker: int
    size: int
    etag: str
    modified_at: float
    info: str


class UploadRow(NamedTuple):
    upload_id: str
    bucket: str
    key: str
    account: str
    created_at: float
    info: str


class PartRow(NamedTuple):
    part_number: int
    size: int
    etag: str
    modified_at: float
    info: str
    segment: str


class BucketExists(IntegrityError):
    """A bucket of that name exists already (in some account)."""


class S3Repo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("s3", store.dialect)

    # == buckets ==================================================================================
    async def create_bucket(self, name: str, account: str, region: str, now: float, config: str) -> None:
        try:
            await self.store.execute(self.q.create_bucket, (name, account, region, now, config))
        except IntegrityError:
            raise BucketExists(name) from None
        if self.store.shared:
            self.store.notify(META_CHANNEL, name)

    async def bucket(self, name: str) -> BucketRow | None:
        row = await self.store.fetchone(self.q.bucket, (name,))
        return BucketRow._make(row) if row else None

    async def buckets(self, account: str, after: str = "", prefix_lower: str = "",
                      prefix_upper: str | None = None, limit: int = 10_000) -> list[BucketRow]:
        if prefix_upper is None:
            rows = await self.store.fetchall(self.q.buckets, (account, after, prefix_lower, limit))
        else:
            rows = await self.store.fetchall(self.q.buckets_below, (account, after, prefix_lower, prefix_upper, limit))
        return [BucketRow._make(r) for r in rows]

    async def delete_bucket(self, name: str) -> list[str]:
        """Delete the bucket and its multipart uploads; the uploads' part segments come back (their blobs)."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(self.q.bucket_upload_segments, (name,))
            await tx.execute(self.q.delete_bucket_parts, (name,))
            await tx.execute(self.q.delete_bucket_uploads, (name,))
            await tx.execute(self.q.delete_bucket, (name,))
            if self.store.shared:
                tx.notify(META_CHANNEL, name)
        return [r[0] for r in rows]

    async def bucket_is_empty(self, name: str) -> bool:
        return await self.store.fetchone(self.q.any_object, (name,)) is None

    async def set_bucket_config(self, name: str, config: str) -> None:
        if not self.store.shared:
            await self.store.execute(self.q.set_bucket_config, (config, name))
            return
        async with self.store.transaction() as tx:
            await tx.execute(self.q.set_bucket_config, (config, name))
            tx.notify(META_CHANNEL, name)

    async def set_bucket_config_tx(self, tx: Tx, name: str, config: str) -> None:
        await tx.execute(self.q.set_bucket_config, (config, name))

    async def set_versioning(self, name: str, status: str) -> None:
        await self.store.execute(self.q.set_versioning, (status, name))

    # == objects ==================================================================================
    async def object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectRow | None:
        if version_id is None:
            row = await self.store.fetchone(self.q.current_object, (bucket, key))
        else:
            row = await self.store.fetchone(self.q.object_version, (bucket, key, version_id))
        return ObjectRow._make(row) if row else None

    async def lock_key(self, tx: Tx, bucket: str, key: str) -> None:
        """Hold the key until ``tx`` ends: another writer to it (on any server) waits, so each sees the
        versions the one before committed, one version stays current, and the last commit wins."""
        await tx.fetchone(self.q.lock_key, (f"{bucket}/{key}",))

    async def next_sequencer(self, tx: Tx) -> int:
        """The next event sequencer, drawn inside ``tx`` after ``lock_key``: for one key, greater for
        each later commit (across servers)."""
        row = await tx.fetchone(self.q.next_sequencer)
        assert row is not None
        return int(row[0])

    async def current_in(self, tx: Tx, bucket: str, key: str) -> ObjectRow | None:
        """The current version of ``key`` as ``tx`` sees it (after ``lock_key``: as the last commit left it)."""
        row = await tx.fetchone(self.q.current_object, (bucket, key))
        return ObjectRow._make(row) if row else None

    async def put_object(self, tx: Tx, bucket: str, key: str, version_id: str, *, size: int, etag: str,
                         modified_at: float, info: str, segments: str, delete_marker: bool = False) -> list[str]:
        """Make this version the current one. A ``'null'`` version replaces the existing ``'null'``
        version; the replaced rows' segments come back (their blobs are to be deleted after commit).
        Writers to the key take turns until ``tx`` commits (see ``lock_key``)."""
        await self.lock_key(tx, bucket, key)
        freed: list[str] = []
        if version_id == "null":
            rows = await tx.fetchall(self.q.null_version_segments, (bucket, key))
            freed = [r[0] for r in rows]
            if rows:
                await tx.execute(self.q.delete_null_version, (bucket, key))
        await tx.execute(self.q.unset_latest, (bucket, key))
        await tx.execute(self.q.insert_object, (bucket, key, version_id, 1 if delete_marker else 0, size, etag,
                                                modified_at, info, segments))
        return freed

    async def delete_version(self, tx: Tx, bucket: str, key: str, version_id: str) -> ObjectRow | None:
        """Delete one version for good; if it was the current one, the newest remaining version becomes
        current. Returns the deleted row, or None if there was no such version. Writers to the key
        take turns until ``tx`` commits (see ``lock_key``)."""
        await self.lock_key(tx, bucket, key)
        found = await tx.fetchone(self.q.object_version, (bucket, key, version_id))
        if found is None:
            return None
        row = ObjectRow._make(found)
        await tx.execute(self.q.delete_object_row, (row.id,))
        if row.latest:
            await tx.execute(self.q.promote_newest, (bucket, key))
        return row

    async def set_object_info(self, object_id: int, info: str) -> None:
        await self.store.execute(self.q.set_object_info, (info, object_id))

    async def set_object_info_in(self, tx: Tx, object_id: int, info: str) -> None:
        await tx.execute(self.q.set_object_info, (info, object_id))

    async def list_current(self, bucket: str, lower: str, upper: str | None, after: str,
                           limit: int) -> list[ListRow]:
        """Current (latest, not deleted) objects with ``lower <= key < upper`` and ``key > after``, by key."""
        if upper is None:
            rows = await self.store.fetchall(self.q.list_current, (bucket, lower, after, limit))
        else:
            rows = await self.store.fetchall(self.q.list_current_below, (bucket, lower, after, upper, limit))
        return [ListRow._make(r) for r in rows]

    async def list_versions(self, bucket: str, lower: str, upper: str | None, after_key: str,
                            after_id: int | None, limit: int) -> list[ListRow]:
        """Every version with ``lower <= key < upper``, by key then newest first, after the marker
        (``after_key`` and, within it, versions older than row ``after_id``)."""
        params: tuple[object, ...]
        if after_id is not None:
            name, params = "list_versions_after", (bucket, lower, after_key, after_key, after_id)
        else:
            name, params = "list_versions", (bucket, lower, after_key)
        if upper is not None:
            name, params = name + "_below", (*params, upper)
        rows = await self.store.fetchall(self.q[name], (*params, limit))
        return [ListRow._make(r) for r in rows]

    async def version_row_id(self, bucket: str, key: str, version_id: str) -> int | None:
        row = await self.store.fetchone(self.q.version_row_id, (bucket, key, version_id))
        return int(row[0]) if row else None

    # == multipart uploads ========================================================================
    async def create_upload(self, upload_id: str, bucket: str, key: str, account: str, now: float,
                            info: str) -> None:
        await self.store.execute(self.q.create_upload, (upload_id, bucket, key, account, now, info))

    async def upload(self, upload_id: str) -> UploadRow | None:
        row = await self.store.fetchone(self.q.upload, (upload_id,))
        return UploadRow._make(row) if row else None

    async def uploads(self, bucket: str, lower: str, upper: str | None, key_marker: str,
                      after_created: tuple[float, str] | None, limit: int) -> list[UploadRow]:
        params: tuple[object, ...]
        if after_created is not None:
            name, params = "uploads_after", (bucket, lower, key_marker, key_marker, after_created[0],
                                             after_created[0], after_created[1])
        else:
            name, params = "uploads", (bucket, lower, key_marker)
        if upper is not None:
            name, params = name + "_below", (*params, upper)
        rows = await self.store.fetchall(self.q[name], (*params, limit))
        return [UploadRow._make(r) for r in rows]

    async def put_part(self, upload_id: str, part_number: int, size: int, etag: str, now: float, info: str,
                       segment: str) -> str | None:
        """Store a part (replacing one with the same number, whose segment comes back). Returns
        ``"gone"`` when the upload no longer exists (aborted or completed meanwhile)."""
        async with self.store.transaction() as tx:
            if await tx.fetchone(self.q.upload_exists, (upload_id,)) is None:
                return "gone"
            old = await tx.fetchone(self.q.part_segment, (upload_id, part_number))
            if old is not None:
                await tx.execute(self.q.delete_part, (upload_id, part_number))
            await tx.execute(self.q.insert_part, (upload_id, part_number, size, etag, now, info, segment))
        return old[0] if old else None

    async def parts(self, upload_id: str, after: int = 0, limit: int = 100_000) -> list[PartRow]:
        rows = await self.store.fetchall(self.q.parts, (upload_id, after, limit))
        return [PartRow._make(r) for r in rows]

    async def finish_upload(self, tx: Tx, upload_id: str) -> tuple[UploadRow | None, list[PartRow]]:
        """Remove an upload and its parts inside ``tx``; returns (upload row, part rows) as they were,
        or (None, []) if another request finished it first."""
        up = await tx.fetchone(self.q.upload, (upload_id,))
        if up is None:
            return None, []
        parts = await tx.fetchall(self.q.all_parts, (upload_id,))
        await tx.execute(self.q.delete_parts, (upload_id,))
        await tx.execute(self.q.delete_upload, (upload_id,))
        return UploadRow._make(up), [PartRow._make(p) for p in parts]

    # == SSE-S3 master key ========================================================================
    async def master_key(self, name: str, candidate: bytes) -> bytes:
        """The stored key called ``name``; ``candidate`` is stored first if there is none yet
        (several servers racing agree on whichever insert won)."""
        await self.store.execute(self.q.offer_key, (name, candidate))
        row = await self.store.fetchone(self.q.key, (name,))
        assert row is not None
        return bytes(row[0])

    async def stored_key(self, name: str) -> bytes | None:
        """The stored key called ``name``, or None."""
        row = await self.store.fetchone(self.q.key, (name,))
        return bytes(row[0]) if row is not None else None

    async def referenced_blobs(self) -> set[str]:
        """Every blob id an object version or an uploaded part points at."""
        found: set[str] = set()
        for (segments,) in await self.store.fetchall(self.q.all_segments):
            for seg in orjson.loads(segments) or []:
                if isinstance(seg, dict) and "b" in seg:
                    found.add(str(seg["b"]))
        for (segment,) in await self.store.fetchall(self.q.all_part_segments):
            seg = orjson.loads(segment)
            if isinstance(seg, dict) and "b" in seg:
                found.add(str(seg["b"]))
        return found
