"""S3 on the store: buckets and their configurations, objects, versions, multipart uploads,
checksums, SSE-S3, presigned URLs, POST uploads and event notifications.

Plain Python: params in (botocore's member names), dicts out (the output shapes). All SQL is in
:mod:`tsunagi.store.s3`; object bytes go through a :class:`~tsunagi.store.blobs.BlobStore`.

Writing an object: the body streams through MD5 + the requested checksums + AES-CTR into a new
blob; when the blob is complete (and valid) one transaction makes the version current and writes
its notifications to the outbox. Blobs that stop being referenced are deleted after commit, a
little later (``FREE_GRACE_S``) so that downloads already streaming them can finish.

The operations are grouped in mixins: buckets (:mod:`.buckets`), objects (:mod:`.objects`),
multipart uploads (:mod:`.multipart`), notifications (:mod:`.notifications`), POST uploads
(:mod:`.post`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tsunagi.ports.s3 import S3
from tsunagi.protocol.aws_chunked import ChunkedDecoder, ChunkedError, decode_stream, is_aws_chunked
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.s3 import checksums
from tsunagi.services.s3.buckets import BucketOps
from tsunagi.services.s3.common import Bucket, Version, json_loads
from tsunagi.services.s3.crypto import KeyRing
from tsunagi.services.s3.errors import access_denied, bad_digest, err, invalid_argument, kms_key_not_found
from tsunagi.services.s3.multipart import MultipartOps
from tsunagi.services.s3.notifications import NotificationOps
from tsunagi.services.s3.objects import ObjectOps
from tsunagi.services.s3.port import S3PortImpl
from tsunagi.services.s3.post import PostOps
from tsunagi.store.blobs import BlobStore, BlobWriter, open_blob_store
from tsunagi.store.s3 import S3Repo

log = logging.getLogger("tsunagi.s3")

FREE_GRACE_S = 30.0
ORPHAN_AGE_S = 3600.0      # unreferenced blobs older than this are swept at start-up
MASTER_KEY_NAME = "sse-s3"
DIGEST_BATCH = 1024 * 1024    # bytes of an upload hashed and encrypted together on a worker thread


def secret_for(access_key: str) -> str | None:
    """The secret of an access key, when tsunagi knows it: the local convention is that the default
    key ``test`` and the 12-digit account keys sign with ``test``. Other keys are unknown until IAM
    keeps credentials, so their signatures are not checked (expiry still is)."""
    if access_key == "test" or (len(access_key) == 12 and access_key.isdigit()):
        return "test"
    return None


@dataclass(slots=True)
class Ingested:
    """A body written to a new blob: its segment, size, MD5 and the checksums computed on the way."""

    segment: dict[str, Any]
    size: int
    md5: bytes
    checksums: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'"{self.md5.hex()}"'


class S3Service(BucketOps, ObjectOps, MultipartOps, NotificationOps, PostOps, Service):
    name = "s3"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = S3Repo(self.store)
        self.blobs: BlobStore = open_blob_store(self.store, platform.config.data_dir,
                                                synchronous=platform.config.sqlite_synchronous)
        self.outbox = platform.outbox
        self._keys: KeyRing | None = None
        self._freeing: set[asyncio.Task[None]] = set()
        platform.ports.provide(S3, S3PortImpl(self))

    # == lifecycle ================================================================================
    async def start(self) -> None:
        cleared = await self.blobs.clear_incomplete()
        if cleared:
            log.info("s3: removed %d half-written uploads left by an earlier run", cleared)
        task = asyncio.get_running_loop().create_task(self._sweep_orphans())
        self._freeing.add(task)
        task.add_done_callback(self._freeing.discard)

    async def _sweep_orphans(self) -> None:
        """After a crash: remove blobs nothing references (uploads cut off mid-body, frees that never ran).
        Only blobs older than an hour go, so uploads in progress on other nodes are left alone."""
        try:
            removed = await self.blobs.sweep(await self.repo.referenced_blobs(), ORPHAN_AGE_S)
            if removed:
                log.info("s3: removed %d unreferenced blobs left by an earlier run", removed)
        except Exception as e:  # the sweep is housekeeping: never stop the service for it
            log.warning("s3: sweeping unreferenced blobs failed: %s", e)

    async def stop(self) -> None:
        for task in list(self._freeing):
            task.cancel()

    async def on_reset(self) -> None:
        self._keys = None
        await self.blobs.wipe()

    # == shared helpers ===========================================================================
    def now(self) -> float:
        return round(self.clock.now(), 3)

    async def keyring(self) -> KeyRing:
        if self._keys is None:
            self._keys = KeyRing(await self.repo.master_key(MASTER_KEY_NAME, os.urandom(32)))
        return self._keys

    async def bucket(self, ctx: RequestContext, name: str | None) -> Bucket:
        from tsunagi.services.s3.errors import no_such_bucket

        if not name:
            raise no_such_bucket("")
        row = await self.repo.bucket(name)
        if row is None:
            raise no_such_bucket(name)
        b = Bucket.from_row(row)
        if b.account != ctx.account and "policy" not in b.config:
            raise access_denied()
        return b

    def free_later(self, segments: list[Any]) -> None:
        """Delete the blobs of segments (JSON strings or lists) once downloads in flight are done."""
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

        task = asyncio.get_running_loop().create_task(free())
        self._freeing.add(task)
        task.add_done_callback(self._freeing.discard)

    # -- encryption ----------------------------------------------------------------------------------
    def sse_for(self, bucket: Bucket, params: dict[str, Any]) -> str:
        """The encryption a write gets: the request's, else the bucket default (AES256 unless configured).
        SSE-KMS fails as AWS fails for a key that does not exist until tsunagi has a KMS."""
        if params.get("SSECustomerAlgorithm") or params.get("SSECustomerKey"):
            raise err("NotImplemented", "Server-side encryption with customer-provided keys (SSE-C) is not "
                      "supported by tsunagi yet; use SSE-S3 (AES256).", 501)
        requested = params.get("ServerSideEncryption")
        key_id = params.get("SSEKMSKeyId")
        if requested is None:
            if key_id:
                raise invalid_argument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                                       "x-amz-server-side-encryption : aws:kms",
                                       "x-amz-server-side-encryption-aws-kms-key-id", key_id)
            rule = self.default_encryption(bucket)
            requested = rule.get("SSEAlgorithm", "AES256")
            key_id = rule.get("KMSMasterKeyID")
        if requested == "AES256":
            return "AES256"
        if requested in ("aws:kms", "aws:kms:dsse"):
            raise kms_key_not_found(key_id or "alias/aws/s3")
        raise invalid_argument("The encryption method specified is not supported", "x-amz-server-side-encryption",
                               requested)

    # -- bodies in -----------------------------------------------------------------------------------
    def body_source(self, ctx: RequestContext, params: dict[str, Any]
                    ) -> tuple[AsyncIterator[bytes], ChunkedDecoder | None, int | None]:
        """The payload as pieces, the aws-chunked decoder (for trailers) and the declared decoded length."""
        body = params.get("Body")
        headers = ctx.request.headers if ctx.request is not None else {}
        declared: int | None = None
        if body is None:
            raw: AsyncIterator[bytes] = _pieces(b"")
            declared = 0
        elif isinstance(body, bytes | bytearray):
            raw = _pieces(bytes(body))
            declared = len(body)
        else:
            raw = body.__aiter__()
            declared = getattr(body, "length", None)
        if is_aws_chunked(headers):
            decoder = ChunkedDecoder()
            decoded = headers.get("x-amz-decoded-content-length")
            try:
                declared = int(decoded) if decoded is not None else None
            except ValueError:
                raise invalid_argument("x-amz-decoded-content-length is not a number",
                                       "x-amz-decoded-content-length", decoded) from None
            return decode_stream(raw, decoder), decoder, declared
        return raw, None, declared

    @staticmethod
    def wanted_checksums(ctx: RequestContext, params: dict[str, Any], extra: str | None = None) -> list[str]:
        """Checksum algorithms to compute for an upload: those given as values, announced as trailers,
        named by x-amz-sdk-checksum-algorithm, and ``extra`` (the multipart upload's)."""
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
        headers = ctx.request.headers if ctx.request is not None else {}
        for name in headers.get("x-amz-trailer", "").split(","):
            name = name.strip().lower()
            if name.startswith("x-amz-checksum-"):
                add(name[len("x-amz-checksum-"):])
        add(params.get("ChecksumAlgorithm"))
        add(extra)
        return algos

    async def ingest(self, source: AsyncIterator[bytes], *, encrypt: bool, algorithms: list[str],
                     decoder: ChunkedDecoder | None = None) -> Ingested:
        """Stream ``source`` into a new blob, hashing (and encrypting) on the way.

        A large body is gathered into batches of :data:`DIGEST_BATCH` bytes; each batch is hashed and
        encrypted on a worker thread (hashlib and the cipher release the GIL) while the event loop
        receives the next one, so an upload keeps more than one core busy. One batch is in flight at
        a time, so the digests see the bytes in order. What is left at the end (a small object's
        whole body) is done inline."""
        writer = self.blobs.writer()
        md5 = hashlib.md5()
        hashers = [checksums.new_hasher(a) for a in algorithms]
        enc: Any = None
        segment: dict[str, Any] = {"b": writer.blob_id}
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
        except ChunkedError as e:
            await self._abandon(writer, job)
            raise err("IncompleteBody", f"The request body is not valid aws-chunked encoding: {e}", 400) from None
        except BaseException:
            await self._abandon(writer, job)
            raise
        segment["n"] = writer.size
        return Ingested(segment, writer.size, md5.digest(),
                        {a: checksums.b64(h.digest()) for a, h in zip(algorithms, hashers, strict=True)},
                        decoder.trailers if decoder is not None else {})

    @staticmethod
    async def _abandon(writer: BlobWriter, job: asyncio.Future[bytes] | None) -> None:
        """An upload failed: let the batch on a worker thread finish (its result is not wanted), then
        drop what was written."""
        if job is not None:
            await asyncio.wait([job])
            if not job.cancelled():
                job.exception()   # retrieved, so that it is not reported as never retrieved
        await writer.abort()

    async def validate_upload(self, ing: Ingested, params: dict[str, Any], declared: int | None) -> dict[str, str]:
        """Check length, Content-MD5 and checksums (headers or trailers) of an ingested body; on failure
        the blob is deleted and the error raised. Returns the verified ``{algorithm: value}``."""
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
            for name, value in ing.trailers.items():
                if name.startswith("x-amz-checksum-"):
                    expected.setdefault(name[len("x-amz-checksum-"):].upper(), value)
            for algo, value in expected.items():
                if ing.checksums.get(algo) != value:
                    raise bad_digest(f"The {algo} you specified did not match the calculated checksum.")
        except BaseException:
            await self.blobs.delete([ing.segment["b"]])
            raise
        return ing.checksums

    # -- bodies out ----------------------------------------------------------------------------------
    async def stream(self, segments: list[dict[str, Any]], start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of an object made of ``segments``, decrypted."""
        pos = 0
        for seg in segments:
            seg_start, seg_end = pos, pos + int(seg["n"])
            pos = seg_end
            if seg_end <= start or seg_start >= end or seg_end == seg_start:
                continue
            off = max(start, seg_start) - seg_start
            length = min(end, seg_end) - seg_start - off
            dec: Any = None
            if "k" in seg:
                dec = (await self.keyring()).decryptor(seg["k"], seg["iv"], off)
            async for data in self.blobs.read(seg["b"], off, length):
                yield dec.update(data) if dec is not None else data

    async def read_all(self, v: Version) -> bytes:
        return b"".join([piece async for piece in self.stream(v.segments, 0, v.size)])


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data
