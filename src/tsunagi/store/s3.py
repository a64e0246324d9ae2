"""The S3 repository: every SQL statement S3 runs, for both dialects.

The service (``tsunagi.services.s3``) calls these methods with plain values and gets rows back.
JSON columns (``config``, ``info``, ``segments``) arrive and leave as strings; the service owns
their shape. Object rows are in :data:`OBJ_COLS` order.

Keys are compared in UTF-8 byte order (SQLite's BINARY collation; ``COLLATE "C"`` on PostgreSQL),
the order S3 lists them in; listings take a half-open key range ``[lower, upper)`` that the
service computes from the prefix.

Writes that must be atomic with other work (an object commit with its outbox rows) take the
transaction as their first argument.
"""

from __future__ import annotations

from typing import Any

import orjson

from tsunagi.store.base import IntegrityError, Row, Store, Tx

BUCKET_COLS = "name, account, region, created_at, versioning, config"
OBJ_COLS = "id, bucket, key, version_id, latest, delete_marker, size, etag, modified_at, info, segments"
LIST_COLS = "id, key, version_id, latest, delete_marker, size, etag, modified_at, info"
UPLOAD_COLS = "upload_id, bucket, key, account, created_at, info"
PART_COLS = "part_number, size, etag, modified_at, info, segment"


class BucketExists(IntegrityError):
    """A bucket of that name exists already (in some account)."""


class S3Repo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pg = store.dialect == "postgresql"

    # == buckets ==================================================================================
    async def create_bucket(self, name: str, account: str, region: str, now: float, config: str) -> None:
        try:
            await self.store.execute(
                "INSERT INTO s3_buckets (name, account, region, created_at, config) VALUES (?, ?, ?, ?, ?)",
                (name, account, region, now, config))
        except IntegrityError:
            raise BucketExists(name) from None

    async def bucket(self, name: str) -> Row | None:
        return await self.store.fetchone(f"SELECT {BUCKET_COLS} FROM s3_buckets WHERE name = ?", (name,))

    async def buckets(self, account: str, after: str = "", prefix_lower: str = "",
                      prefix_upper: str | None = None, limit: int = 10_000) -> list[Row]:
        sql = f"SELECT {BUCKET_COLS} FROM s3_buckets WHERE account = ? AND name > ? AND name >= ?"
        params: list[Any] = [account, after, prefix_lower]
        if prefix_upper is not None:
            sql += " AND name < ?"
            params.append(prefix_upper)
        sql += " ORDER BY name LIMIT ?"
        params.append(limit)
        return await self.store.fetchall(sql, params)

    async def delete_bucket(self, name: str) -> list[str]:
        """Delete the bucket and its multipart uploads; the uploads' part segments come back (their blobs)."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT p.segment FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id "
                "WHERE u.bucket = ?", (name,))
            await tx.execute("DELETE FROM s3_parts WHERE upload_id IN "
                             "(SELECT upload_id FROM s3_uploads WHERE bucket = ?)", (name,))
            await tx.execute("DELETE FROM s3_uploads WHERE bucket = ?", (name,))
            await tx.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))
        return [r[0] for r in rows]

    async def bucket_is_empty(self, name: str) -> bool:
        row = await self.store.fetchone("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", (name,))
        return row is None

    async def set_bucket_config(self, name: str, config: str) -> None:
        await self.store.execute("UPDATE s3_buckets SET config = ? WHERE name = ?", (config, name))

    @staticmethod
    async def set_bucket_config_tx(tx: Tx, name: str, config: str) -> None:
        await tx.execute("UPDATE s3_buckets SET config = ? WHERE name = ?", (config, name))

    async def set_versioning(self, name: str, status: str) -> None:
        await self.store.execute("UPDATE s3_buckets SET versioning = ? WHERE name = ?", (status, name))

    # == objects ==================================================================================
    async def object(self, bucket: str, key: str, version_id: str | None = None) -> Row | None:
        if version_id is None:
            return await self.store.fetchone(
                f"SELECT {OBJ_COLS} FROM s3_objects WHERE bucket = ? AND key = ? AND latest = 1", (bucket, key))
        return await self.store.fetchone(
            f"SELECT {OBJ_COLS} FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
            (bucket, key, version_id))

    @staticmethod
    async def put_object(tx: Tx, bucket: str, key: str, version_id: str, *, size: int, etag: str,
                         modified_at: float, info: str, segments: str, delete_marker: bool = False) -> list[str]:
        """Make this version the current one. A ``'null'`` version replaces the existing ``'null'``
        version; the replaced rows' segments come back (their blobs are to be deleted after commit)."""
        freed: list[str] = []
        if version_id == "null":
            rows = await tx.fetchall(
                "SELECT segments FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null'", (bucket, key))
            freed = [r[0] for r in rows]
            if rows:
                await tx.execute("DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null'",
                                 (bucket, key))
        await tx.execute("UPDATE s3_objects SET latest = 0 WHERE bucket = ? AND key = ? AND latest = 1",
                         (bucket, key))
        await tx.execute(
            "INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, size, etag, modified_at, "
            "info, segments) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (bucket, key, version_id, 1 if delete_marker else 0, size, etag, modified_at, info, segments))
        return freed

    @staticmethod
    async def delete_version(tx: Tx, bucket: str, key: str, version_id: str) -> Row | None:
        """Delete one version for good; if it was the current one, the newest remaining version becomes
        current. Returns the deleted row (:data:`OBJ_COLS`), or None if there was no such version."""
        row = await tx.fetchone(
            f"SELECT {OBJ_COLS} FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
            (bucket, key, version_id))
        if row is None:
            return None
        await tx.execute("DELETE FROM s3_objects WHERE id = ?", (row[0],))
        if row[4]:
            await tx.execute(
                "UPDATE s3_objects SET latest = 1 WHERE id = (SELECT MAX(id) FROM s3_objects "
                "WHERE bucket = ? AND key = ?)", (bucket, key))
        return row

    async def set_object_info(self, object_id: int, info: str) -> None:
        await self.store.execute("UPDATE s3_objects SET info = ? WHERE id = ?", (info, object_id))

    async def list_current(self, bucket: str, lower: str, upper: str | None, after: str,
                           limit: int) -> list[Row]:
        """Current (latest, not deleted) objects with ``lower <= key < upper`` and ``key > after``, by key."""
        sql = (f"SELECT {LIST_COLS} FROM s3_objects WHERE bucket = ? AND latest = 1 AND delete_marker = 0 "
               "AND key >= ? AND key > ?")
        params: list[Any] = [bucket, lower, after]
        if upper is not None:
            sql += " AND key < ?"
            params.append(upper)
        sql += " ORDER BY key LIMIT ?"
        params.append(limit)
        return await self.store.fetchall(sql, params)

    async def list_versions(self, bucket: str, lower: str, upper: str | None, after_key: str,
                            after_id: int | None, limit: int) -> list[Row]:
        """Every version with ``lower <= key < upper``, by key then newest first, after the marker
        (``after_key`` and, within it, versions older than row ``after_id``)."""
        sql = f"SELECT {LIST_COLS} FROM s3_objects WHERE bucket = ? AND key >= ?"
        params: list[Any] = [bucket, lower]
        if after_id is not None:
            sql += " AND (key > ? OR (key = ? AND id < ?))"
            params += [after_key, after_key, after_id]
        else:
            sql += " AND key > ?"
            params.append(after_key)
        if upper is not None:
            sql += " AND key < ?"
            params.append(upper)
        sql += " ORDER BY key, id DESC LIMIT ?"
        params.append(limit)
        return await self.store.fetchall(sql, params)

    async def version_row_id(self, bucket: str, key: str, version_id: str) -> int | None:
        row = await self.store.fetchone(
            "SELECT id FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?", (bucket, key, version_id))
        return int(row[0]) if row else None

    # == multipart uploads ========================================================================
    async def create_upload(self, upload_id: str, bucket: str, key: str, account: str, now: float,
                            info: str) -> None:
        await self.store.execute(
            "INSERT INTO s3_uploads (upload_id, bucket, key, account, created_at, info) VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, bucket, key, account, now, info))

    async def upload(self, upload_id: str) -> Row | None:
        return await self.store.fetchone(f"SELECT {UPLOAD_COLS} FROM s3_uploads WHERE upload_id = ?", (upload_id,))

    async def uploads(self, bucket: str, lower: str, upper: str | None, key_marker: str,
                      after_created: tuple[float, str] | None, limit: int) -> list[Row]:
        sql = f"SELECT {UPLOAD_COLS} FROM s3_uploads WHERE bucket = ? AND key >= ?"
        params: list[Any] = [bucket, lower]
        if after_created is not None:
            sql += " AND (key > ? OR (key = ? AND (created_at > ? OR (created_at = ? AND upload_id > ?))))"
            params += [key_marker, key_marker, after_created[0], after_created[0], after_created[1]]
        else:
            sql += " AND key > ?"
            params.append(key_marker)
        if upper is not None:
            sql += " AND key < ?"
            params.append(upper)
        sql += " ORDER BY key, created_at, upload_id LIMIT ?"
        params.append(limit)
        return await self.store.fetchall(sql, params)

    async def put_part(self, upload_id: str, part_number: int, size: int, etag: str, now: float, info: str,
                       segment: str) -> str | None:
        """Store a part (replacing one with the same number, whose segment comes back). Returns
        ``"gone"`` when the upload no longer exists (aborted or completed meanwhile)."""
        async with self.store.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM s3_uploads WHERE upload_id = ?", (upload_id,)) is None:
                return "gone"
            old = await tx.fetchone("SELECT segment FROM s3_parts WHERE upload_id = ? AND part_number = ?",
                                    (upload_id, part_number))
            if old is not None:
                await tx.execute("DELETE FROM s3_parts WHERE upload_id = ? AND part_number = ?",
                                 (upload_id, part_number))
            await tx.execute(
                "INSERT INTO s3_parts (upload_id, part_number, size, etag, modified_at, info, segment) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (upload_id, part_number, size, etag, now, info, segment))
        return old[0] if old else None

    async def parts(self, upload_id: str, after: int = 0, limit: int = 100_000) -> list[Row]:
        return await self.store.fetchall(
            f"SELECT {PART_COLS} FROM s3_parts WHERE upload_id = ? AND part_number > ? "
            "ORDER BY part_number LIMIT ?", (upload_id, after, limit))

    @staticmethod
    async def finish_upload(tx: Tx, upload_id: str) -> tuple[Row | None, list[Row]]:
        """Remove an upload and its parts inside ``tx``; returns (upload row, part rows) as they were,
        or (None, []) if another request finished it first."""
        up = await tx.fetchone(f"SELECT {UPLOAD_COLS} FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        if up is None:
            return None, []
        parts = await tx.fetchall(f"SELECT {PART_COLS} FROM s3_parts WHERE upload_id = ? ORDER BY part_number",
                                  (upload_id,))
        await tx.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
        await tx.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        return up, parts

    # == SSE-S3 master key ========================================================================
    async def master_key(self, name: str, candidate: bytes) -> bytes:
        """The stored key called ``name``; ``candidate`` is stored first if there is none yet
        (several servers racing agree on whichever insert won)."""
        await self.store.execute("INSERT INTO s3_keys (name, key) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                                 (name, candidate))
        row = await self.store.fetchone("SELECT key FROM s3_keys WHERE name = ?", (name,))
        assert row is not None
        return bytes(row[0])

    async def referenced_blobs(self) -> set[str]:
        """Every blob id an object version or an uploaded part points at."""
        found: set[str] = set()
        for (segments,) in await self.store.fetchall("SELECT segments FROM s3_objects"):
            for seg in orjson.loads(segments) or []:
                if isinstance(seg, dict) and "b" in seg:
                    found.add(str(seg["b"]))
        for (segment,) in await self.store.fetchall("SELECT segment FROM s3_parts"):
            seg = orjson.loads(segment)
            if isinstance(seg, dict) and "b" in seg:
                found.add(str(seg["b"]))
        return found
