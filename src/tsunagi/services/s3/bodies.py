"""Object bytes in and out: uploads streamed into blobs (hashed, checksummed, encrypted on the way),
downloads streamed out of them (decrypted), and blobs freed once nothing references them.

Writing an object: the body streams through MD5 + the requested checksums + AES-CTR into a new
blob; the caller then makes the version current in one transaction. Blobs that stop being referenced
are deleted after commit, a little later (``FREE_GRACE_S``) so that downloads already streaming them
can finish. After a crash, start-up removes half-written uploads and blobs nothing references.

An upload arrives as a :class:`~tsunagi.streams.StreamingBody` (framing already removed by the
protocol layer) or, from in-process callers, as ``bytes``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from tsunagi.services.s3 import checksums
from tsunagi.services.s3.common import json_loads
from tsunagi.services.s3.crypto import Decryptor, Encryptor, KeyRing
from tsunagi.services.s3.errors import bad_digest, err, invalid_argument
from tsunagi.store.blobs import BlobStore, BlobWriter
from tsunagi.store.s3 import S3Repo
from tsunagi.streams import MalformedBody, StreamingBody

log = logging.getLogger("tsunagi.s3")

FREE_GRACE_S = 30.0
ORPHAN_AGE_S = 3600.0      # unreferenced blobs older than this are swept at start-up
MASTER_KEY_NAME = "sse-s3"
DIGEST_BATCH = 1024 * 1024    # bytes of an upload hashed and encrypted together on a worker thread

Segment = dict[str, Any]      # {"b": blob id, "n": size, "k": wrapped data key, "iv": counter block}


@dataclass(slots=True)
class Ingested:
    """A body written to a new blob: its segment, size, MD5 and the checksums computed on the way."""

    segment: Segment
    size: int
    md5: bytes
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def blob_id(self) -> str:
        return str(self.segment["b"])

    @property
    def etag(self) -> str:
        return f'"{self.md5.hex()}"'


def body_of(params: dict[str, Any]) -> StreamingBody:
    """The ``Body`` member of a write as a stream (absent: empty; bytes: in memory)."""
    body = params.get("Body")
    if body is None:
        return StreamingBody.of(b"")
    if isinstance(body, StreamingBody):
        return body
    if isinstance(body, bytes | bytearray):
        return StreamingBody.of(bytes(body))
    raise TypeError(f"an upload's Body is bytes or a StreamingBody, not {type(body).__name__}")


def wanted_checksums(params: dict[str, Any], to_follow: Iterable[str] = (), extra: str | None = None) -> list[str]:
    """Checksum algorithms to compute for an upload: those given as values, announced to follow the
    body (``to_follow``), named by ``ChecksumAlgorithm``, and ``extra`` (the multipart upload's)."""
    algos: list[str] = []

    def add(name: str | None) -> None:
        if not name:
            return
        name = name.upper()
        if name not in checksums.ALGORITHMS:
            raise invalid_argument("Value for x-amz-checksum-algorithm header is invalid.",
                                   "x-amz-checksum-algorithm", name)
        if name not in algos:
            algos.append(name)

    for algo in checksums.requested(params):
        add(algo)
    for algo in to_follow:
        add(algo)
    add(params.get("ChecksumAlgorithm"))
    add(extra)
    return algos


class Bodies:
    """The blob store and the SSE-S3 keys: what S3's operations use to store and read object bytes."""

    def __init__(self, repo: S3Repo, blobs: BlobStore) -> None:
        self.repo = repo
        self.blobs = blobs
        self._keys: KeyRing | None = None
        self._freeing: set[asyncio.Task[None]] = set()

    # == lifecycle ================================================================================
    async def start(self) -> None:
        cleared = await self.blobs.clear_incomplete()
        if cleared:
            log.info("s3: removed %d half-written uploads left by an earlier run", cleared)
        self._later(self._sweep_orphans())

    async def _sweep_orphans(self) -> None:
        """After a crash: remove blobs nothing references (uploads cut off mid-body, frees that never ran).
        Only blobs older than an hour go, so uploads in progress on other nodes are left alone."""
        try:
            removed = await self.blobs.sweep(await self.repo.referenced_blobs(), ORPHAN_AGE_S)
            if removed:
                log.info("s3: removed %d unreferenced blobs left by an earlier run", removed)
        except Exception as e:  # the sweep is housekeeping: never stop the service for it
            log.warning("s3: sweeping unreferenced blobs failed: %s", e)

    def stop(self) -> None:
        for task in list(self._freeing):
            task.cancel()

    async def on_reset(self) -> None:
        self._keys = None
        await self.blobs.wipe()

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._freeing.add(task)
        task.add_done_callback(self._freeing.discard)

    async def keyring(self) -> KeyRing:
        if self._keys is None:
            self._keys = KeyRing(await self.repo.master_key(MASTER_KEY_NAME, os.urandom(32)))
        return self._keys

    # == freeing ==================================================================================
    def free_later(self, segments: Iterable[str | Segment | list[Segment]]) -> None:
        """Delete the blobs of segments (JSON strings, lists or one segment) once downloads in flight are done."""
        ids: list[str] = []
        for seg in segments:
            items = json_loads(seg) if isinstance(seg, str) else seg
            if isinstance(items, dict):
                items = [items]
            ids.extend(s["b"] for s in items or [] if isinstance(s, dict) and "b" in s)
        if not ids:
            return

        async def free() -> None:
            try:
                await asyncio.sleep(FREE_GRACE_S)
            finally:
                try:
                    await self.blobs.delete(ids)
                except Exception:
                    log.exception("could not delete %d blobs", len(ids))

        self._later(free())

    async def discard(self, ing: Ingested) -> None:
        """Delete a blob that was written but will not be committed."""
        await self.blobs.delete([ing.blob_id])

    # == bodies in ================================================================================
    async def ingest(self, source: AsyncIterable[bytes], *, encrypt: bool, algorithms: list[str]) -> Ingested:
        """Stream ``source`` into a new blob, hashing (and encrypting) on the way.

        A large body is gathered into batches of :data:`DIGEST_BATCH` bytes; each batch is hashed and
        encrypted on a worker thread (hashlib and the cipher release the GIL) while the event loop
        receives the next one, so an upload keeps more than one core busy. One batch is in flight at
        a time, so the digests see the bytes in order. What is left at the end (a small object's
        whole body) is done inline."""
        writer = self.blobs.writer()
        md5 = hashlib.md5()
        hashers = [checksums.new_hasher(a) for a in algorithms]
        enc: Encryptor | None = None
        segment: Segment = {"b": writer.blob_id}
        if encrypt:
            sealed, enc = (await self.keyring()).new_encryptor()
            segment["k"], segment["iv"] = sealed.wrapped, sealed.iv

        def digest(data: bytes) -> bytes:
            md5.update(data)
            for h in hashers:
                h.update(data)
            return enc.update(data) if enc is not None else data

        loop = asyncio.get_running_loop()
        job: asyncio.Future[bytes] | None = None
        held: list[bytes] = []
        size = 0
        try:
            async for piece in source:
                held.append(piece)
                size += len(piece)
                if size >= DIGEST_BATCH:
                    batch = b"".join(held)
                    held.clear()
                    size = 0
                    if job is not None:
                        ready, job = job, None
                        await writer.write(await ready)
                    job = loop.run_in_executor(None, digest, batch)
            if job is not None:
                ready, job = job, None
                await writer.write(await ready)
            if held:
                await writer.write(digest(b"".join(held)))
            await writer.finish()
        except MalformedBody as e:
            await self._abandon(writer, job)
            raise err("IncompleteBody", str(e), 400) from None
        except BaseException:
            await self._abandon(writer, job)
            raise
        segment["n"] = writer.size
        return Ingested(segment, writer.size, md5.digest(),
                        {a: checksums.b64(h.digest()) for a, h in zip(algorithms, hashers, strict=True)})

    @staticmethod
    async def _abandon(writer: BlobWriter, job: asyncio.Future[bytes] | None) -> None:
        """An upload failed: let the batch on a worker thread finish (its result is not wanted), then
        drop what was written."""
        if job is not None:
            await asyncio.wait([job])
            if not job.cancelled():
                job.exception()   # retrieved, so that it is not reported as never retrieved
        await writer.abort()

    async def validate(self, ing: Ingested, params: dict[str, Any], declared: int | None,
                       trailing: dict[str, str] | None = None) -> dict[str, str]:
        """Check length, Content-MD5 and checksums (given before the body, or ``trailing`` it) of an
        ingested body; on failure the blob is deleted and the error raised. Returns the verified
        ``{algorithm: value}``."""
        try:
            if declared is not None and ing.size != declared:
                raise err("IncompleteBody", "You did not provide the number of bytes specified by the "
                          "Content-Length HTTP header.", 400)
            md5_b64 = params.get("ContentMD5")
            if md5_b64:
                try:
                    given = checksums.unb64(md5_b64)
                except Exception:
                    given = b""
                if len(given) != 16:
                    raise err("InvalidDigest", "The Content-MD5 you specified was invalid.", 400,
                              Content_MD5=md5_b64)
                if given != ing.md5:
                    raise bad_digest()
            expected = checksums.requested(params)
            for algo, value in (trailing or {}).items():
                expected.setdefault(algo, value)
            for algo, value in expected.items():
                if ing.checksums.get(algo) != value:
                    raise bad_digest(f"The {algo} you specified did not match the calculated checksum.")
        except BaseException:
            await self.discard(ing)
            raise
        return ing.checksums

    async def upload(self, params: dict[str, Any], *, extra_checksum: str | None = None
                     ) -> tuple[Ingested, dict[str, str], list[str]]:
        """A write's ``Body`` stored and checked: (the blob, its verified checksums, the algorithms)."""
        body = body_of(params)
        algos = wanted_checksums(params, body.checksums_to_follow, extra_checksum)
        ing = await self.ingest(body, encrypt=True, algorithms=algos)
        sums = await self.validate(ing, params, body.length, body.trailing_checksums)
        return ing, sums, algos

    # == bodies out ===============================================================================
    async def stream(self, segments: list[Segment], start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of an object made of ``segments``, decrypted."""
        pos = 0
        for seg in segments:
            seg_start, seg_end = pos, pos + int(seg["n"])
            pos = seg_end
            if seg_end <= start or seg_start >= end or seg_end == seg_start:
                continue
            off = max(start, seg_start) - seg_start
            length = min(end, seg_end) - seg_start - off
            dec: Decryptor | None = None
            if "k" in seg:
                dec = (await self.keyring()).decryptor(seg["k"], seg["iv"], off)
            async for data in self.blobs.read(seg["b"], off, length):
                yield dec.update(data) if dec is not None else data
