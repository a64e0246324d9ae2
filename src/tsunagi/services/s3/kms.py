"""SSE-KMS: object bytes encrypted under data keys from KMS (``x-amz-server-side-encryption: aws:kms``,
per request or as the bucket's default encryption), through KMS's port.

Without an S3 Bucket Key, every blob (an object, or a multipart upload's part) gets its own data key
from GenerateDataKey, with the encryption context ``{"aws:s3:arn": "arn:aws:s3:::<bucket>/<key>"}`` (plus
the pairs of the request's ``x-amz-server-side-encryption-context``), as AWS's S3 asks for; the blob is
AES-CTR under it, and its segment keeps the data key's KMS ciphertext (``kms``), the context (``ctx``)
and the counter block (``iv``). Each GetObject asks KMS to decrypt that data key, so a disabled key, one
pending deletion or a key policy that does not allow S3 fails it with S3's ``KMS.*`` error (PutObject
the same, before the body is read); the object stays.

With a Bucket Key (``BucketKeyEnabled``), the data key KMS generates is the bucket's (context
``{"aws:s3:arn": "arn:aws:s3:::<bucket>"}``), reused for :data:`BUCKET_KEY_REUSE_S`, and each blob gets a
random key of its own wrapped under it (``bk``): far fewer KMS calls, as on AWS; a key disabled since
is noticed once that period ends.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tsunagi.clock import Clock
from tsunagi.context import RequestContext, internal_context
from tsunagi.ports import Ports
from tsunagi.ports.kms import KMS, DataKey, DataKeyCache, KmsError, KmsPort
from tsunagi.services.s3.common import Bucket
from tsunagi.services.s3.crypto import Decryptor, Encryptor, Sse, check_context, ctr, ctr_at, new_iv
from tsunagi.services.s3.errors import err, from_kms
from tsunagi.store.s3 import S3Repo

BUCKET_KEY_REUSE_S = 300.0
MANAGED_KEY = "alias/aws/s3"
SEALED_ROOT = "sse-s3/sealed"    # s3_keys' row of SSE-S3's root key, sealed under the master key
_BK_AAD = b"tsunagi/s3/sse-kms/bucket-key/v1"
_SERVICE = "s3"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class KmsSealing:
    """One write's encryption under a KMS data key (:class:`~tsunagi.services.s3.crypto.Sealing`)."""

    __slots__ = ("key_arn", "data_key", "context", "bucket_key")

    def __init__(self, data_key: DataKey, context: dict[str, str], bucket_key: bool) -> None:
        self.key_arn = data_key.key_arn
        self.data_key = data_key
        self.context = context
        self.bucket_key = bucket_key

    def new_encryptor(self) -> tuple[dict[str, str], Encryptor]:
        iv = new_iv()
        fields = {"kms": _b64(self.data_key.ciphertext), "ctx": orjson.dumps(self.context).decode(), "iv": _b64(iv)}
        if not self.bucket_key:
            return fields, ctr(self.data_key.plaintext, iv)
        own = os.urandom(32)
        nonce = os.urandom(12)
        fields["bk"] = _b64(nonce + AESGCM(self.data_key.plaintext).encrypt(nonce, own, _BK_AAD))
        return fields, ctr(own, iv)


def decryptor(seg: Mapping[str, Any], keys: Mapping[str, bytes], offset: int) -> Decryptor:
    """A decryptor for an SSE-KMS segment at ``offset``, its data key opened already (in ``keys``)."""
    key = keys[seg["kms"]]
    if "bk" in seg:
        raw = base64.b64decode(seg["bk"])
        key = AESGCM(key).decrypt(raw[:12], raw[12:], _BK_AAD)
    return ctr_at(key, seg["iv"], offset)


class KmsKeys:
    """The data keys of SSE-KMS objects: generated for writes, decrypted for reads."""

    def __init__(self, ports: Ports, clock: Clock) -> None:
        self.ports = ports
        self.cache = DataKeyCache(clock)

    def _kms(self) -> KmsPort:
        kms = self.ports.find(KMS)
        if kms is None:
            raise err("KMS.NotFoundException", "KMS is not served by this tsunagi, so SSE-KMS cannot be used.", 400)
        return kms

    @staticmethod
    def _ctx_for(ctx: RequestContext, b: Bucket, operation: str) -> RequestContext:
        """The caller's context when it is in the bucket's account and region (its principal is the one
        the key policy is checked for), else S3's own for the bucket."""
        if ctx.account == b.account and ctx.region == b.region:
            return ctx
        return internal_context(b.account, b.region, _SERVICE, operation, trace_id=ctx.trace_id)

    async def sealing(self, ctx: RequestContext, b: Bucket, key: str, sse: Sse) -> KmsSealing:
        """The encryption of one write of object ``key`` under ``sse`` (aws:kms); S3's KMS.* error when
        KMS refuses."""
        context = {"aws:s3:arn": b.arn if sse.bucket_key else f"{b.arn}/{key}"}
        if sse.context:
            context = {**check_context(sse.context), **context}
        kms = self._kms()
        try:
            made = await self.cache.data_key(kms, self._ctx_for(ctx, b, "PutObject"), sse.key_id or MANAGED_KEY,
                                             context, service=_SERVICE,
                                             reuse_seconds=BUCKET_KEY_REUSE_S if sse.bucket_key else 0.0)
        except KmsError as e:
            raise from_kms(e.code, e.message) from None
        return KmsSealing(made, context, sse.bucket_key)

    async def open(self, ctx: RequestContext, b: Bucket, segments: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
        """The data keys of the SSE-KMS ``segments`` (by their ``kms`` field), decrypted by KMS; S3's
        KMS.* error when KMS refuses."""
        out: dict[str, bytes] = {}
        todo = [s for s in segments if "kms" in s]
        if not todo:
            return out
        kms = self._kms()
        kctx = self._ctx_for(ctx, b, "GetObject")
        for seg in todo:
            if seg["kms"] in out:
                continue
            try:
                opened = await self.cache.plaintext(kms, kctx, base64.b64decode(seg["kms"]), orjson.loads(seg["ctx"]),
                                                    service=_SERVICE,
                                                    reuse_seconds=BUCKET_KEY_REUSE_S if "bk" in seg else 0.0)
            except KmsError as e:
                raise from_kms(e.code, e.message) from None
            out[seg["kms"]] = opened.plaintext
        return out

    async def sealed_root(self, repo: S3Repo) -> bytes | None:
        """SSE-S3's root key, kept in the store only sealed under tsunagi's master key (None when this
        server does not run KMS)."""
        kms = self.ports.find(KMS)
        if kms is None:
            return None
        try:
            sealed = await repo.master_key(SEALED_ROOT, await kms.seal_internal(SEALED_ROOT, os.urandom(32)))
            return await kms.open_internal(SEALED_ROOT, sealed)
        except KmsError as e:
            raise err("InternalError", e.message, 500) from None

    def forget(self) -> None:
        self.cache.clear()


def record(info: dict[str, Any], sse: Sse, sealing: object) -> None:
    """Note in an object's (or upload's) ``info`` how it is encrypted."""
    info["sse"] = sse.algorithm
    if isinstance(sealing, KmsSealing):
        info["kms"] = sealing.key_arn
        if sealing.bucket_key:
            info["bk"] = True
        if sse.context:
            info["kctx"] = sse.context


def sse_of(info: Mapping[str, Any]) -> Sse:
    """The encryption an upload's parts get (what :func:`record` noted when it was created)."""
    if info.get("sse") == "aws:kms":
        return Sse("aws:kms", info.get("kms"), bool(info.get("bk")), info.get("kctx"))
    return Sse("AES256")


def sse_output(info: Mapping[str, Any], *, context: bool = False) -> dict[str, Any]:
    """The encryption members of an answer: ServerSideEncryption, and for SSE-KMS the key's ARN,
    BucketKeyEnabled and (``context``: writes) the encryption context given."""
    out: dict[str, Any] = {"ServerSideEncryption": info.get("sse") or "AES256"}
    if info.get("kms"):
        out["SSEKMSKeyId"] = info["kms"]
        if info.get("bk"):
            out["BucketKeyEnabled"] = True
        if context and info.get("kctx"):
            out["SSEKMSEncryptionContext"] = info["kctx"]
    return out
