"""The S3 service, blob stores and the outbox in-process (SQLite in memory), without HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib

import boto3

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.gateway.identity import secret_for
from tsunagi.pipes import install as install_pipes
from tsunagi.pipes.outbox import PermanentFailure, outbox_for
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.s3_post import post_params
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.s3.common import next_string, parse_range
from tsunagi.services.s3.service import S3Service
from tsunagi.store.base import open_store
from tsunagi.store.blobs import FileBlobStore


def run(tmp_path, body, store_url=":memory:"):
    async def main():
        platform = Platform(Config(data_dir=str(tmp_path)), open_store(store_url, str(tmp_path)), Clock())
        install_pipes(platform)
        s3 = S3Service(platform)
        platform.services["s3"] = s3
        await platform.start()
        try:
            return await body(platform, s3)
        finally:
            await platform.stop()

    return asyncio.run(main())


def ctx() -> RequestContext:
    return RequestContext(account="000000000000", region="us-east-1", request_id="req-1")


def test_blob_store_reads_any_range(tmp_path):
    async def main():
        store = FileBlobStore(str(tmp_path / "s3"))
        w = store.writer()
        data = bytes(range(256)) * 5000
        await w.write(data[:1000])
        await w.write(data[1000:])
        await w.finish()
        assert b"".join([c async for c in store.read(w.blob_id)]) == data
        assert b"".join([c async for c in store.read(w.blob_id, 300_000, 1234)]) == data[300_000:301_234]
        await store.delete([w.blob_id])
        aborted = store.writer()
        await aborted.write(b"x")
        await aborted.abort()
        assert list((tmp_path / "s3" / "tmp").iterdir()) == []

    asyncio.run(main())


def test_helpers():
    assert next_string("a/") == "a0"
    assert next_string("") is None
    assert parse_range("bytes=0-0", 10) == (0, 1)
    assert parse_range("bytes=-20", 10) == (0, 10)
    assert parse_range("bytes=5-2", 10) is None


def test_post_object_upload_in_process(tmp_path):
    """The POST policy flow end to end: the form read and its policy checked as the gateway's S3 route
    does, then the method it routes form uploads to."""
    client = boto3.client("s3", endpoint_url="http://localhost:4566", aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    post = client.generate_presigned_post("forms", "up/${filename}", Fields={"success_action_status": "201"},
                                          Conditions=[{"success_action_status": "201"}], ExpiresIn=60)
    boundary = "xyz"
    body = b""
    for k, v in post["fields"].items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="me.png"\r\n'
             "Content-Type: image/png\r\n\r\n").encode() + b"PNGDATA" + f"\r\n--{boundary}--\r\n".encode()

    async def main(platform, s3):
        await s3.create_bucket(ctx(), {"Bucket": "forms"})
        req = HttpRequest("POST", "/forms", "", {"host": "localhost:4566",
                                                 "content-type": f"multipart/form-data; boundary={boundary}"}, body)
        out = await s3.post_object(ctx(), post_params(req, "forms", time.time(), secret_for))
        assert out["StatusCode"] == 201 and out["Key"] == "up/me.png"
        got = await s3.get_object(ctx(), {"Bucket": "forms", "Key": "up/me.png"})
        assert b"".join([c async for c in got["Body"]]) == b"PNGDATA"
        assert got["ContentType"] == "image/png"

    run(tmp_path, main)


def test_outbox_retries_then_delivers_and_drops_permanent_failures(tmp_path):
    async def main(platform, s3):
        box = outbox_for(platform)
        calls: list[str] = []
        done = asyncio.Event()

        async def flaky(job):
            target = job.target
            calls.append(target)
            if target == "gone":
                raise PermanentFailure("no such target")
            if len(calls) < 3:
                raise RuntimeError("try again")
            done.set()

        box.register("test", flaky)
        async with platform.store.transaction() as tx:
            await box.add(tx, [("test", "t1", {"n": 1})])
        started = time.monotonic()
        await asyncio.wait_for(done.wait(), 5)
        assert time.monotonic() - started < 2
        async with platform.store.transaction() as tx:
            await box.add(tx, [("test", "gone", {})])
        for _ in range(100):
            if not await box.repo.pending():
                break
            await asyncio.sleep(0.02)
        assert await box.repo.pending() == []
        assert calls.count("t1") == 3 and "gone" in calls

    run(tmp_path, main)


def test_start_up_removes_half_written_uploads_and_old_unreferenced_blobs(tmp_path):
    import os

    from tsunagi.services.s3 import bodies as s3_bodies

    async def leave_debris(platform, s3):
        # Given an object, a half-written upload (as a killed process leaves it) and an orphan blob
        await s3.create_bucket(ctx(), {"Bucket": "bkt"})
        await s3.put_object(ctx(), {"Bucket": "bkt", "Key": "kept", "Body": b"kept bytes"})
        half = s3.bodies.blobs.writer()
        await half.write(b"half an upload")
        orphan = s3.bodies.blobs.writer()
        await orphan.write(b"committed nowhere")
        await orphan.finish()
        old = time.time() - 2 * s3_bodies.ORPHAN_AGE_S
        os.utime(s3.bodies.blobs.path(orphan.blob_id), (old, old))
        return s3.bodies.blobs.tmp_dir, s3.bodies.blobs.path(orphan.blob_id)

    # the platform is stopped without closing the half-written upload, like a crash
    db = f"sqlite:///{tmp_path}/t.db"
    tmp_dir, orphan_path = run(tmp_path, leave_debris, db)
    assert os.listdir(tmp_dir) and os.path.exists(orphan_path)

    async def after_restart(platform, s3):
        for task in list(s3.bodies._freeing):
            await task
        got = await s3.get_object(ctx(), {"Bucket": "bkt", "Key": "kept"})
        return b"".join([c async for c in got["Body"]])

    # When the service starts again, Then the debris is gone and the object is whole
    assert run(tmp_path, after_restart, db) == b"kept bytes"
    assert os.listdir(tmp_dir) == []
    assert not os.path.exists(orphan_path)


async def _pieces(data: bytes, sizes: tuple[int, ...], fail_after: int | None = None):
    """``data`` in pieces of the given sizes, cycled (as the socket hands a body over); optionally
    failing once ``fail_after`` bytes went out."""
    at, i = 0, 0
    while at < len(data):
        if fail_after is not None and at >= fail_after:
            raise ConnectionResetError("the client went away")
        n = sizes[i % len(sizes)]
        yield data[at:at + n]
        at, i = at + n, i + 1
        await asyncio.sleep(0)


def test_ingest_hashes_a_large_body_in_order(tmp_path):
    """A body of several MiB (hashed and encrypted a batch at a time off the event loop) is stored,
    digested and checksummed as if it had been read in one piece."""
    data = os.urandom(3 * 1024 * 1024 + 12345)

    async def main(platform, s3):
        ing = await s3.bodies.ingest(_pieces(data, (65536, 1000, 300_001)), encrypt=True,
                                     algorithms=["CRC32", "SHA256"])
        assert ing.size == len(data)
        assert ing.md5 == hashlib.md5(data).digest()
        assert ing.checksums == {"CRC32": base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode(),
                                 "SHA256": base64.b64encode(hashlib.sha256(data).digest()).decode()}
        assert b"".join([c async for c in s3.bodies.stream([ing.segment], 0, len(data))]) == data
        with open(s3.bodies.blobs.path(ing.segment["b"]), "rb") as f:
            assert f.read(4096) != data[:4096]        # encrypted at rest

    run(tmp_path, main)


def test_ingest_that_fails_midway_leaves_no_blob(tmp_path):
    async def main(platform, s3):
        loop = asyncio.get_running_loop()
        unretrieved = []
        loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
        try:
            await s3.bodies.ingest(_pieces(bytes(5 * 1024 * 1024), (70_000,), fail_after=2_500_000), encrypt=True,
                                   algorithms=[])
        except ConnectionResetError:
            pass
        else:
            raise AssertionError("the failed body was accepted")
        assert os.listdir(s3.bodies.blobs.tmp_dir) == []
        assert [f for _, _, files in os.walk(s3.bodies.blobs.blob_dir) for f in files] == []
        assert unretrieved == []

    run(tmp_path, main)
