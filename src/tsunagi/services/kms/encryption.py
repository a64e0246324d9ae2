"""KMS cryptographic operations: Encrypt, Decrypt, ReEncrypt, data keys and data key pairs, random
bytes, public keys, signatures and MACs. The checks and the cryptography they share with the port
live in :class:`~.core.KmsCore`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.kms import crypto, errors
from tsunagi.services.kms.core import (
    KmsCore,
)
from tsunagi.services.kms.errors import (
    CustomKeyStoreNotFound,
    InvalidMac,
    InvalidSignature,
    Unsupported,
    Validation,
)
from tsunagi.services.kms.names import key_arn
from tsunagi.services.kms.specs import (
    DATA_KEY_BYTES,
    DATA_KEY_PAIR_SPECS,
    DIGEST_BYTES,
    ENCRYPT_DECRYPT,
    GENERATE_VERIFY_MAC,
    SIGN_VERIFY,
    SPECS,
    SYMMETRIC_DEFAULT,
    hash_of,
)
from tsunagi.store.kms import KeyRow


class EncryptionOps(KmsCore):
    """The cryptographic operations."""

    async def encrypt(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._grant_tokens(params)
        blob, algorithm = await self.encrypt_with(ctx, key, params["Plaintext"], self._context(params),
                                                  params.get("EncryptionAlgorithm"), dry_run=bool(params.get("DryRun")))
        return {"CiphertextBlob": blob, "KeyId": key_arn(key), "EncryptionAlgorithm": algorithm}

    async def decrypt(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        blob = params.get("CiphertextBlob")
        if blob is None:
            raise errors.missing("ciphertextBlob")
        self._grant_tokens(params)
        self._no_recipient(params)
        key, plaintext, algorithm, version = await self.decrypt_with(
            ctx, blob, self._context(params), params.get("KeyId"), params.get("EncryptionAlgorithm"),
            dry_run=bool(params.get("DryRun")))
        out = {"KeyId": key_arn(key), "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
        if version is not None:
            out["KeyMaterialId"] = self._material_id(key, version)
        return out

    async def re_encrypt(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        blob = params.get("CiphertextBlob")
        if blob is None:
            raise errors.missing("ciphertextBlob")
        self._grant_tokens(params)
        dry = bool(params.get("DryRun"))
        destination = await self.find_key(ctx, params.get("DestinationKeyId"), cross_account=True,
                                          member="destinationKeyId")
        source, plaintext, source_algorithm, version = await self.decrypt_with(
            ctx, blob, self._context(params, "SourceEncryptionContext"), params.get("SourceKeyId"),
            params.get("SourceEncryptionAlgorithm"), operation="ReEncrypt", action="kms:ReEncryptFrom")
        new_blob, algorithm = await self.encrypt_with(
            ctx, destination, plaintext, self._context(params, "DestinationEncryptionContext"),
            params.get("DestinationEncryptionAlgorithm"), operation="ReEncrypt", action="kms:ReEncryptTo",
            dry_run=dry)
        out: dict[str, Any] = {"CiphertextBlob": new_blob, "SourceKeyId": key_arn(source),
                               "KeyId": key_arn(destination), "SourceEncryptionAlgorithm": source_algorithm,
                               "DestinationEncryptionAlgorithm": algorithm}
        if version is not None:
            out["SourceKeyMaterialId"] = self._material_id(source, version)
        if destination.key_spec == SYMMETRIC_DEFAULT:
            out["DestinationKeyMaterialId"] = self._material_id(destination)
        return out

    @staticmethod
    def _data_key_size(params: dict[str, Any]) -> int:
        spec, n = params.get("KeySpec"), params.get("NumberOfBytes")
        if (spec is None) == (n is None):
            raise Validation("Please specify either number of bytes or key spec.")
        return DATA_KEY_BYTES[spec] if spec is not None else int(n)   # type: ignore[arg-type]

    async def generate_data_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._generate_data_key(ctx, params, "GenerateDataKey", plaintext=True)

    async def generate_data_key_without_plaintext(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._generate_data_key(ctx, params, "GenerateDataKeyWithoutPlaintext", plaintext=False)

    async def _generate_data_key(self, ctx: RequestContext, params: dict[str, Any], operation: str, *,
                                 plaintext: bool) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        size = self._data_key_size(params)
        self._grant_tokens(params)
        self._no_recipient(params)
        clear, blob = await self.data_key(ctx, key, size, self._context(params), operation=operation,
                                          action=f"kms:{operation}", dry_run=bool(params.get("DryRun")))
        out: dict[str, Any] = {"CiphertextBlob": blob, "KeyId": key_arn(key), "KeyMaterialId": self._material_id(key)}
        if plaintext:
            out["Plaintext"] = clear
        return out

    async def generate_data_key_pair(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._generate_data_key_pair(ctx, params, "GenerateDataKeyPair", plaintext=True)

    async def generate_data_key_pair_without_plaintext(self, ctx: RequestContext,
                                                       params: dict[str, Any]) -> dict[str, Any]:
        return await self._generate_data_key_pair(ctx, params, "GenerateDataKeyPairWithoutPlaintext", plaintext=False)

    async def _generate_data_key_pair(self, ctx: RequestContext, params: dict[str, Any], operation: str, *,
                                      plaintext: bool) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        pair_spec = params["KeyPairSpec"]
        if pair_spec not in DATA_KEY_PAIR_SPECS:
            raise Unsupported(f"KeyPairSpec {pair_spec} is not supported by tsunagi.")
        self._grant_tokens(params)
        self._no_recipient(params)
        self._usable(key)
        self._usage(key, ENCRYPT_DECRYPT, operation)
        if key.key_spec != SYMMETRIC_DEFAULT:
            raise errors.incompatible(SYMMETRIC_DEFAULT, key.key_spec)
        await self.authorize(ctx, key, f"kms:{operation}", context=self._context(params))
        material = await self._material(key)
        self._dry_run(params)
        private, public = await asyncio.to_thread(crypto.new_key_pair, pair_spec)
        out: dict[str, Any] = {
            "PrivateKeyCiphertextBlob": crypto.encrypt(material, key.key_id, key.material_version, private,
                                                       self._context(params)),
            "PublicKey": public, "KeyId": key_arn(key), "KeyPairSpec": pair_spec,
            "KeyMaterialId": self._material_id(key)}
        if plaintext:
            out["PrivateKeyPlaintext"] = private
        return out

    async def generate_random(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("CustomKeyStoreId"):
            raise CustomKeyStoreNotFound(f"Custom key store {params['CustomKeyStoreId']} does not exist: tsunagi "
                                         "has no custom key stores.")
        self._no_recipient(params)
        n = params.get("NumberOfBytes")
        if n is None:
            raise Validation("NumberOfBytes is required.")
        return {"Plaintext": os.urandom(int(n))}

    async def get_public_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._grant_tokens(params)
        self._not_pending(key)
        spec = SPECS[key.key_spec]
        if spec.family not in ("rsa", "ecc"):
            raise Unsupported(f"{key_arn(key)} key spec is {key.key_spec}, which has no public key: GetPublicKey "
                              "works on asymmetric keys.")
        await self.authorize(ctx, key, "kms:GetPublicKey")
        material = await self._material(key)
        out: dict[str, Any] = {"KeyId": key_arn(key), "PublicKey": material.public_key_der(),
                               "CustomerMasterKeySpec": key.key_spec, "KeySpec": key.key_spec,
                               "KeyUsage": key.key_usage}
        if spec.encryption_algorithms(key.key_usage):
            out["EncryptionAlgorithms"] = list(spec.encryption_algorithms(key.key_usage))
        if spec.signing_algorithms(key.key_usage):
            out["SigningAlgorithms"] = list(spec.signing_algorithms(key.key_usage))
        return out

    async def _signing(self, ctx: RequestContext, params: dict[str, Any], operation: str) -> tuple[KeyRow, bool]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._grant_tokens(params)
        self._usable(key)
        self._usage(key, SIGN_VERIFY, operation)
        algorithm = params["SigningAlgorithm"]
        if algorithm not in SPECS[key.key_spec].signing:
            raise errors.incompatible(algorithm, key.key_spec)
        message_type = params.get("MessageType") or "RAW"
        digest = message_type == "DIGEST"
        if message_type == "EXTERNAL_MU":
            raise errors.incompatible(f"{algorithm} with MessageType EXTERNAL_MU", key.key_spec)
        if digest and len(params["Message"]) != DIGEST_BYTES[hash_of(algorithm)]:
            raise Validation(f"Digest is invalid length for algorithm {algorithm}.")
        await self.authorize(ctx, key, f"kms:{operation}")
        return key, digest

    async def sign(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, digest = await self._signing(ctx, params, "Sign")
        material = await self._material(key)
        self._dry_run(params)
        signature = crypto.sign(material, params["SigningAlgorithm"], params["Message"], digest)
        return {"KeyId": key_arn(key), "Signature": signature, "SigningAlgorithm": params["SigningAlgorithm"]}

    async def verify(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, digest = await self._signing(ctx, params, "Verify")
        material = await self._material(key)
        self._dry_run(params)
        if not crypto.verify(material, params["SigningAlgorithm"], params["Message"], params["Signature"], digest):
            raise InvalidSignature("")
        return {"KeyId": key_arn(key), "SignatureValid": True, "SigningAlgorithm": params["SigningAlgorithm"]}

    async def _mac_key(self, ctx: RequestContext, params: dict[str, Any], operation: str) -> KeyRow:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._grant_tokens(params)
        self._usable(key)
        self._usage(key, GENERATE_VERIFY_MAC, operation)
        if params["MacAlgorithm"] not in SPECS[key.key_spec].mac:
            raise errors.incompatible(params["MacAlgorithm"], key.key_spec)
        await self.authorize(ctx, key, f"kms:{operation}")
        return key

    async def generate_mac(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self._mac_key(ctx, params, "GenerateMac")
        material = await self._material(key)
        self._dry_run(params)
        return {"KeyId": key_arn(key), "Mac": crypto.mac(material, params["MacAlgorithm"], params["Message"]),
                "MacAlgorithm": params["MacAlgorithm"]}

    async def verify_mac(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self._mac_key(ctx, params, "VerifyMac")
        material = await self._material(key)
        self._dry_run(params)
        if not crypto.verify_mac(material, params["MacAlgorithm"], params["Message"], params["Mac"]):
            raise InvalidMac("")
        return {"KeyId": key_arn(key), "MacValid": True, "MacAlgorithm": params["MacAlgorithm"]}

    async def derive_shared_secret(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._usable(key)
        raise errors.wrong_usage(key_arn(key), key.key_usage, "DeriveSharedSecret")
