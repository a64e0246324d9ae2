"""SSE-KMS (per request and as the bucket default, with and without a Bucket Key, single and multipart
uploads, copies) on both stores: the stored bytes are never the object's, reads get them back, the
answers name the key as AWS's do, and a key KMS will not use fails reads and writes with S3's KMS.*
errors while the object stays."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.context import RequestContext
from tsunagi.pipes import install as install_pipes
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform
from tsunagi.services.kms.service import KmsService
from tsunagi.services.s3.service import S3Service
from tsunagi.store.base import open_store

CANARY = b"canary-0b7d4e91-object-bytes " * 8


def ctx() -> RequestContext:
    return RequestContext(account="000000000000", region="us-east-1", request_id="req-1")


class H:
    def __init__(self, platform: Platform, data_dir: str) -> None:
        self.platform = platform
        self.store = platform.store
        self.data_dir = data_dir
        self.s3: Any = platform.services["s3"]
        self.kms: Any = platform.services["kms"]

    async def key(self) -> tuple[str, str]:
        md = (await self.kms.create_key(ctx(), {}))["KeyMetadata"]
        return md["KeyId"], md["Arn"]

    async def put(self, bucket: str, key: str, body: bytes, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = await self.s3.put_object(ctx(), {"Bucket": bucket, "Key": key, "Body": body, **params})
        return out

    async def get(self, bucket: str, key: str, **params: Any) -> tuple[dict[str, Any], bytes]:
        out = await self.s3.get_object(ctx(), {"Bucket": bucket, "Key": key, **params})
        return out, b"".join([c async for c in out.pop("Body")])

    async def stored_bytes(self) -> bytes:
        """Everything the store holds of object bodies: blob files, or PostgreSQL's chunks."""
        found = b""
        for root, _dirs, files in os.walk(self.data_dir):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    found += fh.read()
        if self.store.shared:
            for row in await self.store.fetchall("SELECT data FROM s3_blob_chunks"):
                found += bytes(row[0])
        return found


@pytest.fixture
def s3kms(store_url: str, tmp_path: Any) -> Any:
    def run(body: Any) -> None:
        async def go() -> None:
            platform = Platform(Config(data_dir=str(tmp_path)), open_store(store_url, str(tmp_path)), ManualClock())
            install_pipes(platform)
            platform.services["kms"] = KmsService(platform)
            platform.services["s3"] = S3Service(platform)
            await platform.store.open()
            await platform.store.reset()
            await platform.start()
            try:
                await body(H(platform, str(tmp_path)))
            finally:
                await platform.stop()
        asyncio.run(go())
    return run


async def _fails(aw: Any, code: str) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await aw
    assert caught.value.code == code, caught.value
    return caught.value


def test_an_sse_kms_object_is_stored_sealed_and_read_back_with_the_keys_arn(s3kms):
    async def body(h):
        key, arn = await h.key()
        await h.s3.create_bucket(ctx(), {"Bucket": "secret"})
        put = await h.put("secret", "a.txt", CANARY, ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
        assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == arn
        assert "BucketKeyEnabled" not in put
        assert b"canary-0b7d4e91" not in await h.stored_bytes()
        got, data = await h.get("secret", "a.txt")
        assert data == CANARY and got["SSEKMSKeyId"] == arn and got["ServerSideEncryption"] == "aws:kms"
        _, part = await h.get("secret", "a.txt", Range="bytes=5-40")
        assert part == CANARY[5:41]
        head = await h.s3.head_object(ctx(), {"Bucket": "secret", "Key": "a.txt"})
        assert head["SSEKMSKeyId"] == arn
        managed = await h.put("secret", "m.txt", CANARY, ServerSideEncryption="aws:kms")
        assert managed["SSEKMSKeyId"].startswith("arn:aws:kms:us-east-1:000000000000:key/")
        context = base64.b64encode(json.dumps({"team": "orders"}).encode()).decode()
        with_ctx = await h.put("secret", "c.txt", CANARY, ServerSideEncryption="aws:kms", SSEKMSKeyId=arn,
                               SSEKMSEncryptionContext=context)
        assert with_ctx["SSEKMSEncryptionContext"] == context
        assert (await h.get("secret", "c.txt"))[1] == CANARY
    s3kms(body)


def test_the_bucket_default_with_a_bucket_key_copies_and_multipart_uploads(s3kms):
    async def body(h):
        key, arn = await h.key()
        await h.s3.create_bucket(ctx(), {"Bucket": "vault"})
        await h.s3.put_bucket_encryption(ctx(), {"Bucket": "vault", "ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
             "BucketKeyEnabled": True}]}})
        put = await h.put("vault", "d.txt", CANARY)
        assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == arn and put["BucketKeyEnabled"]
        copied = await h.s3.copy_object(ctx(), {"Bucket": "vault", "Key": "copy.txt", "CopySource": "vault/d.txt"})
        assert copied["SSEKMSKeyId"] == arn
        up = await h.s3.create_multipart_upload(ctx(), {"Bucket": "vault", "Key": "big.bin"})
        assert up["SSEKMSKeyId"] == arn and up["BucketKeyEnabled"]
        first = CANARY * (5 * 1024 * 1024 // len(CANARY) + 1)
        parts = []
        for n, data in ((1, first), (2, CANARY)):
            p = await h.s3.upload_part(ctx(), {"Bucket": "vault", "Key": "big.bin", "UploadId": up["UploadId"],
                                               "PartNumber": n, "Body": data})
            assert p["ServerSideEncryption"] == "aws:kms" and p["SSEKMSKeyId"] == arn
            parts.append({"PartNumber": n, "ETag": p["ETag"]})
        done = await h.s3.complete_multipart_upload(ctx(), {"Bucket": "vault", "Key": "big.bin",
                                                            "UploadId": up["UploadId"],
                                                            "MultipartUpload": {"Parts": parts}})
        assert done["SSEKMSKeyId"] == arn and done["BucketKeyEnabled"]
        assert b"canary-0b7d4e91" not in await h.stored_bytes()
        assert (await h.get("vault", "d.txt"))[1] == CANARY
        assert (await h.get("vault", "copy.txt"))[1] == CANARY
        assert (await h.get("vault", "big.bin"))[1] == first + CANARY
        _, tail = await h.get("vault", "big.bin", Range=f"bytes={len(first) - 3}-{len(first) + 5}")
        assert tail == (first + CANARY)[len(first) - 3:len(first) + 6]
        plain = await h.put("vault", "plain.txt", CANARY, ServerSideEncryption="AES256")
        assert plain["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in plain
    s3kms(body)


def test_a_disabled_or_missing_key_fails_reads_and_writes_and_keeps_the_object(s3kms):
    async def body(h):
        key, _arn = await h.key()
        await h.s3.create_bucket(ctx(), {"Bucket": "secret"})
        await h.put("secret", "a.txt", CANARY, ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
        await h.kms.disable_key(ctx(), {"KeyId": key})
        err = await _fails(h.get("secret", "a.txt"), "KMS.DisabledException")
        assert err.status == 400 and "is disabled" in err.message
        await _fails(h.put("secret", "b.txt", CANARY, ServerSideEncryption="aws:kms", SSEKMSKeyId=key),
                     "KMS.DisabledException")
        await _fails(h.s3.create_multipart_upload(ctx(), {"Bucket": "secret", "Key": "m", "SSEKMSKeyId": key,
                                                          "ServerSideEncryption": "aws:kms"}),
                     "KMS.DisabledException")
        await _fails(h.s3.copy_object(ctx(), {"Bucket": "secret", "Key": "c.txt", "CopySource": "secret/a.txt"}),
                     "KMS.DisabledException")
        assert (await h.s3.head_object(ctx(), {"Bucket": "secret", "Key": "a.txt"}))["ContentLength"] == len(CANARY)
        await h.kms.enable_key(ctx(), {"KeyId": key})
        assert (await h.get("secret", "a.txt"))[1] == CANARY
        await h.kms.schedule_key_deletion(ctx(), {"KeyId": key, "PendingWindowInDays": 7})
        await _fails(h.get("secret", "a.txt"), "KMS.KMSInvalidStateException")
        await _fails(h.put("secret", "x", CANARY, ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/nope"),
                     "KMS.NotFoundException")
        await _fails(h.put("secret", "x", CANARY, ServerSideEncryption="aws:kms:dsse"), "NotImplemented")
        await _fails(h.put("secret", "x", CANARY, ServerSideEncryption="AES256", SSEKMSKeyId=key), "InvalidArgument")
        await _fails(h.put("secret", "x", CANARY, ServerSideEncryption="aws:kms", SSEKMSEncryptionContext="%%"),
                     "InvalidArgument")
    s3kms(body)


def test_sse_s3s_root_key_is_kept_only_sealed_under_the_master_key_and_older_objects_still_open(s3kms):
    async def body(h):
        await h.s3.create_bucket(ctx(), {"Bucket": "plain"})
        # an object from before: its segment under the root key kept as it is in the store
        older = await h.s3.bodies.ingest(_pieces(CANARY), encrypt=True, algorithms=[],
                                         sealing=await h.s3.bodies.plain_keyring())
        assert "r" not in older.segment
        put = await h.put("plain", "new.txt", CANARY)
        assert put["ServerSideEncryption"] == "AES256"
        rows = {r[0]: bytes(r[1]) for r in await h.store.fetchall("SELECT name, key FROM s3_keys")}
        assert set(rows) == {"sse-s3", "sse-s3/sealed"} and len(rows["sse-s3/sealed"]) > 32
        assert b"canary-0b7d4e91" not in await h.stored_bytes()
        assert (await h.get("plain", "new.txt"))[1] == CANARY
        assert b"".join([c async for c in h.s3.bodies.stream([older.segment], 0, len(CANARY))]) == CANARY
    s3kms(body)


async def _pieces(data: bytes):
    yield data
