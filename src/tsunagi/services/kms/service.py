"""KMS: keys (symmetric AES-256-GCM, RSA, ECC, HMAC), aliases, grants, tags, key policies, rotation
and scheduled deletion; Encrypt/Decrypt and friends with real cryptography (:mod:`.crypto`).

The service is put together from one class per family of operations, each on :class:`.core.KmsCore`
(state, caches, key lookup, authorization, key material): :mod:`.keys`, :mod:`.encryption`,
:mod:`.aliases` and :mod:`.grants`. Other services reach KMS through its port (:mod:`.port`).
"""

from __future__ import annotations

from tsunagi.ports.kms import KMS
from tsunagi.services.base import Platform
from tsunagi.services.kms.aliases import AliasOps
from tsunagi.services.kms.encryption import EncryptionOps
from tsunagi.services.kms.grants import GrantOps
from tsunagi.services.kms.keys import KeyOps
from tsunagi.services.kms.names import alias_arn, key_arn
from tsunagi.services.kms.port import KmsPortImpl

__all__ = ["KmsService", "alias_arn", "key_arn"]


class KmsService(KeyOps, EncryptionOps, AliasOps, GrantOps):
    name = "kms"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        platform.ports.provide(KMS, KmsPortImpl(self))
