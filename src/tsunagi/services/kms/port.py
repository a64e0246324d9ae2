"""KMS's port: what the rest of tsunagi may ask of KMS (:class:`tsunagi.ports.kms.KmsPort`).

Each call runs the same checks as the API operation of the same name (key state, key usage, the
key's policy through ``KmsService.authorize`` with ``service`` as ``kms:ViaService``) and raises the
same :class:`~tsunagi.ports.kms.KmsError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tsunagi.context import RequestContext
from tsunagi.ports.kms import DataKey, Decrypted, Encrypted, KmsError, KmsKey
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.services.kms.names import key_arn

if TYPE_CHECKING:
    from tsunagi.services.kms.service import KmsService

MAX_PLAINTEXT = 4096


class KmsPortImpl:
    def __init__(self, service: KmsService) -> None:
        self._svc = service

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        try:
            key = await self._svc.find_key(ctx, arn, cross_account=True)
        except KmsError:
            return None
        return ResourcePolicy(key_arn(key), key.account, key.policy or None)

    async def resolve(self, ctx: RequestContext, key_id: str, *, service: str) -> KmsKey:
        key = await self._svc.find_key(ctx, key_id, cross_account=True)
        await self._svc.authorize(ctx, key, "kms:DescribeKey", via=service)
        return KmsKey(key.key_id, key_arn(key), key.account, key.region, key.key_manager, key.state,
                      key.key_usage, key.key_spec)

    async def key_policy(self, ctx: RequestContext, key_id: str) -> tuple[KmsKey, str]:
        key = await self._svc.find_key(ctx, key_id, cross_account=True)
        return KmsKey(key.key_id, key_arn(key), key.account, key.region, key.key_manager, key.state,
                      key.key_usage, key.key_spec), key.policy

    async def generate_data_key(self, ctx: RequestContext, key_id: str, context: Mapping[str, str], *, service: str,
                                number_of_bytes: int = 32) -> DataKey:
        if not 1 <= number_of_bytes <= 1024:
            raise KmsError(f"1 validation error detected: Value '{number_of_bytes}' at 'numberOfBytes' failed to "
                           "satisfy constraint: Member must have value between 1 and 1024", code="ValidationException")
        key = await self._svc.find_key(ctx, key_id, cross_account=True)
        plaintext, ciphertext = await self._svc.data_key(ctx, key, number_of_bytes, context,
                                                         operation="GenerateDataKey", action="kms:GenerateDataKey",
                                                         via=service)
        return DataKey(key_arn(key), plaintext, ciphertext)

    async def encrypt(self, ctx: RequestContext, key_id: str, plaintext: bytes, context: Mapping[str, str], *,
                      service: str) -> Encrypted:
        if not 1 <= len(plaintext) <= MAX_PLAINTEXT:
            raise KmsError("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member "
                           f"must have length between 1 and {MAX_PLAINTEXT}", code="ValidationException")
        key = await self._svc.find_key(ctx, key_id, cross_account=True)
        ciphertext, _ = await self._svc.encrypt_with(ctx, key, plaintext, context, None, via=service)
        return Encrypted(key_arn(key), ciphertext)

    async def decrypt(self, ctx: RequestContext, ciphertext: bytes, context: Mapping[str, str], *, service: str,
                      key_id: str | None = None) -> Decrypted:
        key, plaintext, _, _ = await self._svc.decrypt_with(ctx, ciphertext, context, key_id, None, via=service)
        return Decrypted(key_arn(key), plaintext)

    async def seal_internal(self, name: str, secret: bytes) -> bytes:
        return await self._svc.seal_internal(name, secret)

    async def open_internal(self, name: str, sealed: bytes) -> bytes:
        try:
            return self._svc.open_internal(name, sealed)
        except Exception as e:      # another master key than the one that sealed it
            raise KmsError(f"tsunagi cannot open its {name} key: {e}", code="KMSInternalException",
                           sender_fault=False) from None
