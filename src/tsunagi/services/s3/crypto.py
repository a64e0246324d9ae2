"""Object bytes encrypted at rest with AES-256: SSE-S3 here, SSE-KMS in :mod:`.kms`.

Every blob gets its own random 256-bit data key and counter block and is encrypted with AES-CTR,
which lets a ranged GET decrypt from any offset. SSE-S3: the data key is stored beside the blob's
row, wrapped (AES-256-GCM) by the master key, which is kept in the store (``s3_keys``) so that every
server sharing a PostgreSQL database can read every object. SSE-KMS: the data key comes from KMS
(:mod:`.kms`).

:func:`sse_for` decides which encryption a write gets: the request's, else the bucket's default.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tsunagi.services.s3.common import Bucket, default_encryption
from tsunagi.services.s3.errors import err, invalid_argument

_AAD = b"tsunagi/s3/sse-s3/v1"


class Transform(Protocol):
    """A running AES-CTR cipher: bytes in, as many bytes out."""

    def update(self, data: bytes) -> bytes: ...


Encryptor = Transform
Decryptor = Transform


@dataclass(frozen=True, slots=True)
class Sse:
    """The encryption a write gets."""

    algorithm: str                  # AES256 | aws:kms
    key_id: str | None = None       # aws:kms: the key as asked for (None: alias/aws/s3)
    bucket_key: bool = False        # aws:kms: an S3 Bucket Key
    context: str | None = None      # aws:kms: the request's SSEKMSEncryptionContext (base64 JSON)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def sse_for(bucket: Bucket, params: dict[str, Any]) -> Sse:
    """The encryption a write gets: the request's, else the bucket default (AES256 unless configured)."""
    if params.get("SSECustomerAlgorithm") or params.get("SSECustomerKey"):
        raise err("NotImplemented", "Server-side encryption with customer-provided keys (SSE-C) is not "
                  "supported by tsunagi yet; use SSE-S3 (AES256) or SSE-KMS (aws:kms).", 501)
    requested = params.get("ServerSideEncryption")
    key_id = params.get("SSEKMSKeyId")
    context = params.get("SSEKMSEncryptionContext")
    bucket_key = params.get("BucketKeyEnabled")
    if requested is None:
        if key_id:
            raise invalid_argument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                                   "x-amz-server-side-encryption : aws:kms",
                                   "x-amz-server-side-encryption-aws-kms-key-id", key_id)
        if context:
            raise invalid_argument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                                   "x-amz-server-side-encryption : aws:kms",
                                   "x-amz-server-side-encryption-context", context)
        conf = bucket.config.get("encryption") or {}
        rule = default_encryption(bucket)
        requested = rule.get("SSEAlgorithm", "AES256")
        key_id = rule.get("KMSMasterKeyID")
        if bucket_key is None and conf:
            bucket_key = (conf.get("Rules") or [{}])[0].get("BucketKeyEnabled")
    elif requested != "aws:kms" and (key_id or context):
        raise invalid_argument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                               "x-amz-server-side-encryption : aws:kms", "x-amz-server-side-encryption", requested)
    elif requested == "aws:kms" and bucket_key is None:
        conf = bucket.config.get("encryption") or {}
        if conf and default_encryption(bucket).get("SSEAlgorithm") == "aws:kms":
            bucket_key = (conf.get("Rules") or [{}])[0].get("BucketKeyEnabled")
    if requested == "AES256":
        return Sse("AES256")
    if requested == "aws:kms":
        if context is not None:
            check_context(context)
        return Sse("aws:kms", key_id or None, _truthy(bucket_key), context or None)
    if requested == "aws:kms:dsse":
        raise err("NotImplemented", "Dual-layer server-side encryption with AWS KMS keys (DSSE-KMS) is not "
                  "supported by tsunagi; use SSE-KMS (aws:kms) or SSE-S3 (AES256).", 501)
    raise invalid_argument("The encryption method specified is not supported", "x-amz-server-side-encryption",
                           requested)


def check_context(context: str) -> dict[str, str]:
    """The pairs of an ``x-amz-server-side-encryption-context`` header (base64 of a JSON object of strings)."""
    try:
        doc = orjson.loads(base64.b64decode(context, validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise invalid_argument("The encryption context must be a base64-encoded UTF-8 string holding JSON which "
                               "represents a string-string map", "x-amz-server-side-encryption-context", context)
    return doc


class Sealing(Protocol):
    """How one blob is encrypted: the fields to store in its segment, and the running encryptor."""

    def new_encryptor(self) -> tuple[dict[str, str], Encryptor]: ...


def ctr(key: bytes, iv: bytes) -> Encryptor:
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()


def ctr_at(key: bytes, iv_b64: str, offset: int) -> Decryptor:
    """An AES-CTR decryptor under ``key`` positioned at byte ``offset`` of a blob."""
    counter = (int.from_bytes(base64.b64decode(iv_b64), "big") + offset // 16) % (1 << 128)
    dec = Cipher(algorithms.AES(key), modes.CTR(counter.to_bytes(16, "big"))).decryptor()
    skip = offset % 16
    if skip:
        dec.update(b"\0" * skip)
    return dec


def new_iv() -> bytes:
    return os.urandom(8) + b"\0" * 8


class KeyRing:
    """SSE-S3 under one root key. ``tag`` marks the segments it writes (``r``), so that a read picks
    the same root: ``"s"`` for the root kept sealed under tsunagi's master key, none for the older root
    kept as it is in the store (stores from before, or a server without KMS)."""

    def __init__(self, master: bytes, tag: str | None = None) -> None:
        if len(master) != 32:
            raise ValueError("the SSE-S3 master key must be 32 bytes")
        self._aead = AESGCM(master)
        self.tag = tag

    def new_encryptor(self) -> tuple[dict[str, str], Encryptor]:
        """(the segment's fields: the wrapped data key ``k`` and counter block ``iv``, an encryptor)."""
        data_key = os.urandom(32)
        iv = new_iv()
        nonce = os.urandom(12)
        wrapped = nonce + self._aead.encrypt(nonce, data_key, _AAD)
        fields = {"k": base64.b64encode(wrapped).decode(), "iv": base64.b64encode(iv).decode()}
        if self.tag:
            fields["r"] = self.tag
        return fields, ctr(data_key, iv)

    def decryptor(self, wrapped: str, iv: str, offset: int = 0) -> Decryptor:
        """A decryptor positioned at byte ``offset`` of the blob."""
        raw = base64.b64decode(wrapped)
        return ctr_at(self._aead.decrypt(raw[:12], raw[12:], _AAD), iv, offset)
