"""SSE-S3: object bytes encrypted at rest with AES-256.

Every blob gets its own random 256-bit data key and counter block and is encrypted with AES-CTR,
which lets a ranged GET decrypt from any offset. The data key is stored beside the blob's row,
wrapped (AES-256-GCM) by the master key, which is kept in the store (``s3_keys``) so that every
server sharing a PostgreSQL database can read every object.

:func:`sse_for` decides which encryption a write gets: the request's, else the bucket's default.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tsunagi.services.s3.common import Bucket, default_encryption
from tsunagi.services.s3.errors import err, invalid_argument, kms_key_not_found

_AAD = b"tsunagi/s3/sse-s3/v1"


class Transform(Protocol):
    """A running AES-CTR cipher: bytes in, as many bytes out."""

    def update(self, data: bytes) -> bytes: ...


Encryptor = Transform
Decryptor = Transform


def sse_for(bucket: Bucket, params: dict[str, Any]) -> str:
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
        rule = default_encryption(bucket)
        requested = rule.get("SSEAlgorithm", "AES256")
        key_id = rule.get("KMSMasterKeyID")
    if requested == "AES256":
        return "AES256"
    if requested in ("aws:kms", "aws:kms:dsse"):
        raise kms_key_not_found(key_id or "alias/aws/s3")
    raise invalid_argument("The encryption method specified is not supported", "x-amz-server-side-encryption",
                           requested)


class Sealed:
    """A blob's encryption parameters: the wrapped data key and the initial counter block."""

    __slots__ = ("wrapped", "iv")

    def __init__(self, wrapped: str, iv: str) -> None:
        self.wrapped = wrapped
        self.iv = iv


class KeyRing:
    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the SSE-S3 master key must be 32 bytes")
        self._aead = AESGCM(master)

    def new_encryptor(self) -> tuple[Sealed, Encryptor]:
        """(parameters to store, an encryptor with ``update(bytes) -> bytes``)."""
        data_key = os.urandom(32)
        iv = os.urandom(8) + b"\0" * 8
        nonce = os.urandom(12)
        wrapped = nonce + self._aead.encrypt(nonce, data_key, _AAD)
        sealed = Sealed(base64.b64encode(wrapped).decode(), base64.b64encode(iv).decode())
        return sealed, Cipher(algorithms.AES(data_key), modes.CTR(iv)).encryptor()

    def decryptor(self, wrapped: str, iv: str, offset: int = 0) -> Decryptor:
        """A decryptor positioned at byte ``offset`` of the blob."""
        raw = base64.b64decode(wrapped)
        data_key = self._aead.decrypt(raw[:12], raw[12:], _AAD)
        counter = (int.from_bytes(base64.b64decode(iv), "big") + offset // 16) % (1 << 128)
        dec = Cipher(algorithms.AES(data_key), modes.CTR(counter.to_bytes(16, "big"))).decryptor()
        skip = offset % 16
        if skip:
            dec.update(b"\0" * skip)
        return dec
