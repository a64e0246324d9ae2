"""KMS: keys (symmetric AES-256-GCM, RSA, ECC, HMAC), aliases, grants, tags, key policies, rotation
and scheduled deletion; Encrypt/Decrypt and friends with real cryptography (:mod:`.crypto`).

Key material is created here, sealed under the master key (:class:`~.crypto.MasterKey`) and stored;
every version is kept, so a ciphertext made before a rotation still decrypts. Opened material is
cached per (key, version): it never changes. Key rows and aliases are cached too and dropped when
any server changes them (the store's notifications, and a 5 s limit when the store is shared).

Who may do what: :meth:`KmsService.authorize` is called by every operation on a key, with the
action (``kms:Encrypt``) and, for calls from other services, the service (``kms:ViaService``). Key
policies are stored and returned but not evaluated there yet (the policy evaluator plugs in there);
what it decides today is said in its docstring.

The sweep (every minute) deletes keys whose waiting period is over and rotates keys whose automatic
rotation is due; a lookup never returns a key past its deletion date, sweep or not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from tsunagi.config import ConfigError
from tsunagi.ports.kms import KMS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.kms import crypto, errors, policies
from tsunagi.services.kms.errors import (
    DRY_RUN,
    INCORRECT_KEY,
    INVALID_MARKER,
    UNKNOWN_CIPHERTEXT_KEY,
    AlreadyExists,
    CustomKeyStoreNotFound,
    DryRun,
    IncorrectKey,
    Internal,
    InvalidCiphertext,
    InvalidGrantId,
    InvalidGrantToken,
    InvalidMac,
    InvalidMarker,
    InvalidSignature,
    InvalidState,
    LimitExceeded,
    NotAuthorized,
    NotFound,
    TagError,
    Unsupported,
    Validation,
)
from tsunagi.services.kms.names import alias_arn, key_arn
from tsunagi.services.kms.port import KmsPortImpl
from tsunagi.services.kms.specs import (
    DATA_KEY_BYTES,
    DATA_KEY_PAIR_SPECS,
    DIGEST_BYTES,
    ENCRYPT_DECRYPT,
    GENERATE_VERIFY_MAC,
    NOT_SERVED,
    SIGN_VERIFY,
    SPECS,
    SYMMETRIC_DEFAULT,
    hash_of,
)
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.kms import ALIAS_CHANGED, NOTIFY_CHANNEL, AliasRow, GrantRow, KeyRow, KmsRepo, MaterialRow

log = logging.getLogger("tsunagi.kms")

ENABLED, DISABLED, PENDING_DELETION = "Enabled", "Disabled", "PendingDeletion"
CUSTOMER, AWS = "CUSTOMER", "AWS"
DAY_MS = 86_400_000
MAX_PLAINTEXT = 4096
MAX_TAGS = 50
MAX_ON_DEMAND_ROTATIONS = 25
DEFAULT_ROTATION_DAYS = 365
SWEEP_INTERVAL_S = 60.0
CACHE_TTL_SHARED_S = 5.0          # cached key rows and aliases, when other servers share the database
MATERIAL_CACHE = 10_000           # opened key material versions kept in memory
GRANT_TOKEN_VERSION = b"\x01"

_KEY_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32}")
_KEY_ARN = re.compile(r"arn:aws[\w-]*:kms:([^:]*):([^:]*):key/(.*)")
_ALIAS_ARN = re.compile(r"arn:aws[\w-]*:kms:([^:]*):([^:]*):(alias/.*)")
_ALIAS_NAME = re.compile(r"[a-zA-Z0-9:/_-]+")

# Operations whose grants may carry encryption context constraints (the others take no context).
_CONTEXT_OPERATIONS = {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                       "ReEncryptTo", "CreateGrant", "RetireGrant", "GenerateDataKeyPair",
                       "GenerateDataKeyPairWithoutPlaintext"}
_GRANT_OPERATIONS_BY_USAGE = {
    ENCRYPT_DECRYPT: {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                      "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GetPublicKey"},
    SIGN_VERIFY: {"Sign", "Verify", "GetPublicKey"},
    GENERATE_VERIFY_MAC: {"GenerateMac", "VerifyMac"},
}
_GRANT_OPERATIONS_ANY_KEY = {"CreateGrant", "RetireGrant", "DescribeKey"}


def _seconds(ms: int) -> float:
    return ms / 1000.0


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _unmarker(marker: str | None) -> str:
    if marker is None:
        return ""
    try:
        return base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidMarker(INVALID_MARKER) from None


def _limit(params: dict[str, Any], default: int, most: int) -> int:
    limit = params.get("Limit")
    if limit is None:
        return default
    if limit > most:
        raise errors.constraint(limit, "limit", f"Member must have value less than or equal to {most}")
    return int(limit)


def _page(items: list[dict[str, Any]], limit: int, marker_of: str | None, name: str) -> dict[str, Any]:
    """A list answer: ``items`` holds up to ``limit + 1`` entries, the last one only to tell there are more."""
    out: dict[str, Any] = {name: items[:limit], "Truncated": len(items) > limit}
    if len(items) > limit and marker_of is not None:
        out["NextMarker"] = _b64(marker_of)
    return out


class KmsService(Service):
    name = "kms"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = KmsRepo(self.store)
        self._master: crypto.MasterKey | None = None
        self._master_source = ""
        self._master_recorded = False
        self._keys: dict[str, tuple[KeyRow, float]] = {}
        self._aliases: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._materials: dict[str, dict[int, crypto.Material]] = {}
        self._material_count = 0
        self._managed: dict[str, policies.Managed | None] = {}     # AWS managed keys never change hands
        self._listening = False
        self._sweeper: asyncio.Task[None] | None = None
        platform.ports.provide(KMS, KmsPortImpl(self))

    # == lifecycle =============================================================================
    async def start(self) -> None:
        self._open_master()
        recorded = await self.repo.master_check()
        assert self._master is not None
        if recorded is not None and recorded != self._master.check:
            raise ConfigError(self._mismatch())
        self._master_recorded = recorded is not None
        self._listen()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="tsunagi-kms-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
            self._sweeper = None
        if self._listening:
            self.store.unlisten(NOTIFY_CHANNEL, self._on_notify)
            self.store.unlisten("*", self._on_reconnect)
            self._listening = False

    async def on_reset(self) -> None:
        self._forget_all()
        self._master_recorded = False

    def _listen(self) -> None:
        if not self._listening:
            self.store.listen(NOTIFY_CHANNEL, self._on_notify)
            self.store.listen("*", self._on_reconnect)
            self._listening = True

    def _on_notify(self, payload: str) -> None:
        if payload == ALIAS_CHANGED:
            self._aliases.clear()
        else:
            self._keys.pop(payload, None)

    def _on_reconnect(self, _payload: str) -> None:
        self._forget_all()

    def _forget_all(self) -> None:
        self._keys.clear()
        self._aliases.clear()
        self._materials.clear()
        self._material_count = 0

    def _open_master(self) -> None:
        if self._master is not None:
            return
        raw = self.platform.config.master_key_bytes()
        if raw is not None:
            self._master_source = "TSUNAGI_MASTER_KEY"
        else:
            path = os.path.join(self.platform.config.data_dir, crypto.MASTER_KEY_FILE)
            raw = crypto.master_key_from_file(path)
            self._master_source = path
            if self.store.shared:
                log.warning("KMS: the master key is the file %s; every server sharing this database needs the "
                            "same key: set TSUNAGI_MASTER_KEY to its contents on each of them", path)
        self._master = crypto.MasterKey(raw)

    def _mismatch(self) -> str:
        return ("the KMS keys in this database were sealed under another master key than this server's "
                f"(from {self._master_source}): give every server sharing the database the same "
                "TSUNAGI_MASTER_KEY")

    @property
    def master(self) -> crypto.MasterKey:
        if self._master is None:
            self._open_master()
        assert self._master is not None
        return self._master

    async def _record_master(self) -> None:
        """Before the first material is sealed: record the master key's check value (or find that
        another server recorded another one)."""
        if self._master_recorded:
            return
        recorded = await self.repo.claim_master_check(self.master.check)
        if recorded != self.master.check:
            log.error("KMS: %s", self._mismatch())
            raise Internal(f"tsunagi cannot open this key: {self._mismatch()}.")
        self._master_recorded = True

    # == the sweep =============================================================================
    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("KMS sweep failed; will try again")

    async def sweep(self) -> None:
        """Delete the keys whose waiting period is over; rotate the keys whose rotation is due."""
        now = self.clock.now_ms()
        for key_id in await self.repo.due_deletions(now):
            await self._delete_key(key_id)
        for due in await self.repo.due_rotations(now):
            key = await self.repo.key(due.key_id)
            if key is None or key.state == PENDING_DELETION:
                continue
            upcoming = due.next_rotation_at + due.rotation_days * DAY_MS
            while upcoming <= now:
                upcoming += due.rotation_days * DAY_MS
            await self._rotate(key, "AUTOMATIC", scheduled=(due.next_rotation_at, upcoming))

    async def _delete_key(self, key_id: str) -> None:
        await self.repo.delete_key(key_id)
        self._keys.pop(key_id, None)
        self._aliases.clear()
        dropped = self._materials.pop(key_id, None)
        if dropped:
            self._material_count -= len(dropped)
        log.info("KMS: deleted key %s at the end of its waiting period", key_id)

    # == keys by any name ======================================================================
    def _fresh(self, loaded_at: float) -> bool:
        return not self.store.shared or asyncio.get_running_loop().time() - loaded_at < CACHE_TTL_SHARED_S

    async def _row(self, key_id: str) -> KeyRow | None:
        hit = self._keys.get(key_id)
        key: KeyRow | None
        if hit is not None and self._fresh(hit[1]):
            key = hit[0]
        else:
            key = await self.repo.key(key_id)
            if key is None:
                self._keys.pop(key_id, None)
                return None
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key_id] = (key, asyncio.get_running_loop().time())
        if key.deletion_at is not None and key.deletion_at <= self.clock.now_ms():
            await self._delete_key(key_id)      # its waiting period is over: it is gone
            return None
        return key

    def _drop(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    async def find_key(self, ctx: RequestContext, ident: str | None, *, aliases: bool = True,
                       cross_account: bool = False, member: str = "keyId") -> KeyRow:
        """The key ``ident`` names for ``ctx``: a key id or key ARN, and an alias name or alias ARN
        where the operation takes one (``aliases``). ARNs of another account name that account's key
        where AWS allows it (``cross_account``). NotFoundException with AWS's words otherwise."""
        if not ident:
            raise errors.missing(member)
        account, region = ctx.account, ctx.region
        if ident.startswith("arn:"):
            m = _KEY_ARN.fullmatch(ident)
            a = None if m else _ALIAS_ARN.fullmatch(ident)
            if m is None and (a is None or not aliases):
                raise errors.invalid_key_id(ident)
            found = m or a
            assert found is not None
            arn_region, arn_account, rest = found.groups()
            if arn_region != region:
                raise NotFound(f"Invalid arn {arn_region}")
            if arn_account != account:
                if not cross_account:
                    raise errors.key_not_found(ident) if m else errors.alias_not_found(ident)
                account = arn_account
            if a is not None:
                return await self._by_alias(ctx, account, region, rest)
            key_id = rest
            if not _KEY_ID.fullmatch(key_id):
                raise errors.invalid_key_id(key_id)
        elif ident.startswith("alias/"):
            if not aliases:
                raise errors.invalid_key_id(ident)
            return await self._by_alias(ctx, account, region, ident)
        else:
            if not _KEY_ID.fullmatch(ident):
                raise errors.invalid_key_id(ident)
            key_id = ident
        key = await self._row(key_id.lower())
        if key is None or key.account != account or key.region != region:
            raise errors.key_not_found(f"arn:aws:kms:{region}:{account}:key/{key_id}")
        return key

    async def _by_alias(self, ctx: RequestContext, account: str, region: str, name: str) -> KeyRow:
        cached = self._aliases.get((account, region, name))
        key_id: str | None = None
        if cached is not None and self._fresh(cached[1]):
            key_id = cached[0]
        else:
            row = await self.repo.alias(account, region, name)
            if row is None and name in policies.MANAGED and account == ctx.account:
                row = await self._create_managed(account, region, policies.MANAGED[name])
            if row is not None:
                key_id = row.key_id
                if len(self._aliases) > 10_000:
                    self._aliases.clear()
                self._aliases[(account, region, name)] = (key_id, asyncio.get_running_loop().time())
        key = await self._row(key_id) if key_id is not None else None
        if key is None:
            self._aliases.pop((account, region, name), None)
            raise errors.alias_not_found(alias_arn(account, region, name))
        return key

    async def _create_managed(self, account: str, region: str, managed: policies.Managed) -> AliasRow | None:
        """An AWS managed key and its alias, made on first use; when another request (or server) made
        them first, theirs."""
        now = self.clock.now_ms()
        key = KeyRow(str(uuid.uuid4()), account, region, now, managed.description, ENCRYPT_DECRYPT,
                     SYMMETRIC_DEFAULT, AWS, ENABLED, None, None, 0, managed.policy(account, region),
                     DEFAULT_ROTATION_DAYS, now + DEFAULT_ROTATION_DAYS * DAY_MS, 1)
        alias = AliasRow(account, region, managed.alias, key.key_id, now, now)
        try:
            await self.repo.create_key(key, await self._sealed(key, 1, crypto.new_material(SYMMETRIC_DEFAULT)),
                                       alias=alias)
        except ConstraintViolation:
            return await self.repo.alias(account, region, managed.alias)
        log.info("KMS: created the AWS managed key %s (%s) in %s/%s", key.key_id, managed.alias, account, region)
        return alias

    # == who may do what =======================================================================
    async def authorize(self, ctx: RequestContext, key: KeyRow, action: str, *, via: str | None = None) -> None:
        """Whether ``ctx``'s principal may do ``action`` (``kms:Encrypt``) with ``key``, called directly
        (``via`` None) or by another service for its caller (``via="sqs"``: ``kms:ViaService``).

        This is where a key's policy and grants are checked, with the policy evaluator. Until it lands,
        customer managed keys' policies are stored but not evaluated here: any principal of the key's
        account may use the key. What is decided here today:

        - AWS managed keys: their policy is AWS's and cannot be changed, so it is applied exactly
          (:func:`~.policies.managed_allows`): cryptographic use only through their service, metadata
          reads for the account, and nothing else (no disabling, deleting, tagging, ...);
        - a key of another account: its policy would have to allow the caller's account, which cannot
          be known without evaluating it; such calls are refused.

        AccessDeniedException, worded as AWS words a refusal by a key policy."""
        if key.key_manager == AWS:
            managed = await self._managed_by(key)
            if managed is not None and policies.managed_allows(managed, action, key_account=key.account,
                                                               caller_account=ctx.account, via=via):
                return
            raise errors.access_denied(ctx.principal_arn, action, key_arn(key))
        if key.account != ctx.account:
            raise errors.access_denied(ctx.principal_arn, action, key_arn(key))

    async def _managed_by(self, key: KeyRow) -> policies.Managed | None:
        """The AWS managed key ``key`` is (found by its alias, which users cannot move or delete)."""
        if key.key_id not in self._managed:
            found = None
            for row in await self.repo.aliases_of_key(key.key_id):
                found = found or policies.MANAGED.get(row.name)
            self._managed[key.key_id] = found
        return self._managed[key.key_id]

    # == key material ==========================================================================
    async def _sealed(self, key: KeyRow, version: int, raw: bytes, rotation_type: str | None = None) -> MaterialRow:
        await self._record_master()
        return MaterialRow(key.key_id, version, self.master.seal(key.key_id, version, raw), self.clock.now_ms(),
                           rotation_type)

    async def _material(self, key: KeyRow, version: int | None = None) -> crypto.Material:
        """A version of ``key``'s material (the current one by default), opened."""
        v = key.material_version if version is None else version
        versions = self._materials.get(key.key_id)
        if versions is not None:
            found = versions.get(v)
            if found is not None:
                return found
        row = await self.repo.material(key.key_id, v)
        if row is None:
            raise InvalidCiphertext("")          # a blob naming a version this key never had
        try:
            raw = self.master.unseal(key.key_id, v, row.sealed)
        except crypto.BadMaster:
            log.error("KMS: %s", self._mismatch())
            raise Internal(f"tsunagi cannot open this key: {self._mismatch()}.") from None
        material = crypto.Material(key.key_spec, raw)
        if self._material_count >= MATERIAL_CACHE:
            self._materials.clear()
            self._material_count = 0
        self._materials.setdefault(key.key_id, {})[v] = material
        self._material_count += 1
        return material

    async def _new_material(self, key_spec: str) -> bytes:
        if SPECS[key_spec].family == "rsa":
            return await asyncio.to_thread(crypto.new_material, key_spec)   # seconds for RSA_4096
        return crypto.new_material(key_spec)

    async def _rotate(self, key: KeyRow, rotation_type: str, scheduled: tuple[int, int] | None = None) -> bool:
        row = await self._sealed(key, key.material_version + 1, crypto.new_material(key.key_spec), rotation_type)
        done = await self.repo.rotate(key.key_id, key.material_version, row, scheduled)
        self._drop(key.key_id)
        return done

    # == checks shared by operations ===========================================================
    @staticmethod
    def _usable(key: KeyRow) -> None:
        """Cryptographic operations need an enabled key."""
        if key.state == DISABLED:
            raise errors.disabled(key_arn(key))
        if key.state == PENDING_DELETION:
            raise errors.pending_deletion(key_arn(key))

    @staticmethod
    def _not_pending(key: KeyRow) -> None:
        if key.state == PENDING_DELETION:
            raise errors.pending_deletion(key_arn(key))

    @staticmethod
    def _usage(key: KeyRow, usage: str, operation: str) -> None:
        if key.key_usage != usage:
            raise errors.wrong_usage(key_arn(key), key.key_usage, operation)

    def _grant_tokens(self, params: dict[str, Any]) -> None:
        for token in params.get("GrantTokens") or ():
            if self._grant_of_token(token) is None:
                raise InvalidGrantToken("Invalid grant token")

    @staticmethod
    def _no_recipient(params: dict[str, Any]) -> None:
        if params.get("Recipient"):
            raise Unsupported("tsunagi does not verify Nitro Enclaves attestation documents: omit Recipient.")

    @staticmethod
    def _dry_run(params: dict[str, Any]) -> None:
        if params.get("DryRun"):
            raise DryRun(DRY_RUN)

    @staticmethod
    def _context(params: dict[str, Any], name: str = "EncryptionContext") -> dict[str, str] | None:
        context: dict[str, str] | None = params.get(name)
        return context or None

    def _material_id(self, key: KeyRow, version: int | None = None) -> str:
        return self.master.material_id(key.key_id, key.material_version if version is None else version)

    # == the internal API (the port and the operations below) ==================================
    async def encrypt_with(self, ctx: RequestContext, key: KeyRow, plaintext: bytes, context: Mapping[str, str] | None,
                           algorithm: str | None, *, operation: str = "Encrypt", action: str = "kms:Encrypt",
                           via: str | None = None, dry_run: bool = False) -> tuple[bytes, str]:
        """``plaintext`` encrypted under ``key``: (ciphertext blob, the algorithm used)."""
        self._usable(key)
        self._usage(key, ENCRYPT_DECRYPT, operation)
        algorithm = algorithm or SYMMETRIC_DEFAULT
        if algorithm not in SPECS[key.key_spec].encryption:
            raise errors.incompatible(algorithm, key.key_spec)
        await self.authorize(ctx, key, action, via=via)
        if key.key_spec == SYMMETRIC_DEFAULT:
            material = await self._material(key)
            if dry_run:
                raise DryRun(DRY_RUN)
            return crypto.encrypt(material, key.key_id, key.material_version, plaintext, context), algorithm
        if context:
            raise Validation("EncryptionContext is not supported with asymmetric KMS keys.")
        most = crypto.rsa_max_plaintext(key.key_spec, algorithm)
        if len(plaintext) > most:
            raise Validation(f"Algorithm {algorithm} and key spec {key.key_spec} cannot encrypt data larger than "
                             f"{most} bytes.")
        material = await self._material(key)
        if dry_run:
            raise DryRun(DRY_RUN)
        return crypto.rsa_encrypt(material, algorithm, plaintext), algorithm

    async def decrypt_with(self, ctx: RequestContext, blob: bytes, context: Mapping[str, str] | None,
                           key_ident: str | None, algorithm: str | None, *, operation: str = "Decrypt",
                           action: str = "kms:Decrypt", via: str | None = None,
                           dry_run: bool = False) -> tuple[KeyRow, bytes, str, int | None]:
        """What ``blob`` holds: (the key, the plaintext, the algorithm, the material version (None for
        RSA)). A symmetric blob names its key; ``key_ident`` (needed for RSA keys) must name the same."""
        named = await self.find_key(ctx, key_ident, cross_account=True) if key_ident else None
        if named is not None and named.key_spec != SYMMETRIC_DEFAULT and named.key_usage == ENCRYPT_DECRYPT:
            return await self._rsa_decrypt(ctx, named, blob, context, algorithm, operation, action, via, dry_run)
        parsed = crypto.parse(blob)
        if parsed is None:
            if named is not None:
                self._usable(named)
                self._usage(named, ENCRYPT_DECRYPT, operation)
            raise InvalidCiphertext("")
        if named is not None and parsed.key_id != named.key_id:
            raise IncorrectKey(INCORRECT_KEY)
        key = named or await self._row(parsed.key_id)
        if key is None or key.region != ctx.region or (named is None and key.account != ctx.account):
            raise errors.AccessDenied(UNKNOWN_CIPHERTEXT_KEY)
        self._usable(key)
        self._usage(key, ENCRYPT_DECRYPT, operation)
        if algorithm is not None and algorithm != SYMMETRIC_DEFAULT:
            raise errors.incompatible(algorithm, key.key_spec)
        await self.authorize(ctx, key, action, via=via)
        if parsed.version < 1 or parsed.version > key.material_version:
            raise InvalidCiphertext("")
        material = await self._material(key, parsed.version)
        if dry_run:
            raise DryRun(DRY_RUN)
        try:
            plaintext = crypto.decrypt(material, parsed, context)
        except crypto.BadCiphertext:
            raise InvalidCiphertext("") from None
        return key, plaintext, SYMMETRIC_DEFAULT, parsed.version

    async def _rsa_decrypt(self, ctx: RequestContext, key: KeyRow, blob: bytes, context: Mapping[str, str] | None,
                           algorithm: str | None, operation: str, action: str, via: str | None,
                           dry_run: bool) -> tuple[KeyRow, bytes, str, int | None]:
        self._usable(key)
        self._usage(key, ENCRYPT_DECRYPT, operation)
        algorithm = algorithm or SYMMETRIC_DEFAULT
        if algorithm not in SPECS[key.key_spec].encryption:
            raise errors.incompatible(algorithm, key.key_spec)
        if context:
            raise Validation("EncryptionContext is not supported with asymmetric KMS keys.")
        await self.authorize(ctx, key, action, via=via)
        material = await self._material(key)
        if dry_run:
            raise DryRun(DRY_RUN)
        try:
            return key, crypto.rsa_decrypt(material, algorithm, blob), algorithm, None
        except crypto.BadCiphertext:
            raise InvalidCiphertext("") from None

    async def data_key(self, ctx: RequestContext, key: KeyRow, size: int, context: Mapping[str, str] | None, *,
                       operation: str, action: str, via: str | None = None,
                       dry_run: bool = False) -> tuple[bytes, bytes]:
        """A new random data key of ``size`` bytes: (plaintext, ciphertext under ``key``)."""
        self._usable(key)
        self._usage(key, ENCRYPT_DECRYPT, operation)
        if key.key_spec != SYMMETRIC_DEFAULT:
            raise errors.incompatible(SYMMETRIC_DEFAULT, key.key_spec)
        await self.authorize(ctx, key, action, via=via)
        material = await self._material(key)
        if dry_run:
            raise DryRun(DRY_RUN)
        plaintext = os.urandom(size)
        return plaintext, crypto.encrypt(material, key.key_id, key.material_version, plaintext, context)

    # == keys ==================================================================================
    async def create_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        origin = params.get("Origin") or "AWS_KMS"
        if params.get("CustomKeyStoreId"):
            raise CustomKeyStoreNotFound(f"Custom key store {params['CustomKeyStoreId']} does not exist: tsunagi "
                                         "has no custom key stores.")
        if origin != "AWS_KMS":
            raise Unsupported(f"Origin {origin} is not supported by tsunagi: it makes its own key material "
                              "(Origin AWS_KMS) and neither imports key material nor uses custom key stores.")
        if params.get("XksKeyId"):
            raise Unsupported("XksKeyId is valid only for keys in an external key store, which tsunagi does not have.")
        if params.get("KeySpec") and params.get("CustomerMasterKeySpec"):
            raise Validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                             "CustomerMasterKeySpec is deprecated.")
        spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or SYMMETRIC_DEFAULT
        if spec in NOT_SERVED:
            raise Unsupported(f"KeySpec {spec} is not supported by tsunagi. It makes SYMMETRIC_DEFAULT, RSA_2048, "
                              "RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1 and "
                              "HMAC_224/256/384/512 keys.")
        usage = params.get("KeyUsage")
        if usage is None:
            if spec != SYMMETRIC_DEFAULT:
                raise Validation("You must specify a KeyUsage value for all KMS keys except for symmetric "
                                 "encryption keys.")
            usage = ENCRYPT_DECRYPT
        if usage not in SPECS[spec].usages:
            raise Validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        policy = params.get("Policy")
        if policy is not None:
            policies.check_policy(policy)
        else:
            policy = policies.default_policy(ctx.account)
        tags = self._check_tags(params.get("Tags") or [])
        if len(tags) > MAX_TAGS:
            raise TagError("Too many tags")
        multi = bool(params.get("MultiRegion"))
        key_id = f"mrk-{uuid.uuid4().hex}" if multi else str(uuid.uuid4())
        now = self.clock.now_ms()
        key = KeyRow(key_id, ctx.account, ctx.region, now, params.get("Description") or "", usage, spec, CUSTOMER,
                     ENABLED, None, None, int(multi), policy, None, None, 1)
        material = await self._sealed(key, 1, await self._new_material(spec))
        await self.repo.create_key(key, material, tags.items())
        return {"KeyMetadata": self._metadata(key)}

    def _metadata(self, key: KeyRow) -> dict[str, Any]:
        spec = SPECS[key.key_spec]
        arn = key_arn(key)
        out: dict[str, Any] = {
            "AWSAccountId": key.account, "KeyId": key.key_id, "Arn": arn,
            "CreationDate": _seconds(key.created_at), "Enabled": key.state == ENABLED,
            "Description": key.description, "KeyUsage": key.key_usage, "KeyState": key.state,
            "Origin": "AWS_KMS", "KeyManager": key.key_manager, "CustomerMasterKeySpec": key.key_spec,
            "KeySpec": key.key_spec, "MultiRegion": bool(key.multi_region),
        }
        if key.deletion_at is not None:
            out["DeletionDate"] = _seconds(key.deletion_at)
        if spec.encryption_algorithms(key.key_usage):
            out["EncryptionAlgorithms"] = list(spec.encryption_algorithms(key.key_usage))
        if spec.signing_algorithms(key.key_usage):
            out["SigningAlgorithms"] = list(spec.signing_algorithms(key.key_usage))
        if spec.mac:
            out["MacAlgorithms"] = list(spec.mac)
        if key.multi_region:
            out["MultiRegionConfiguration"] = {"MultiRegionKeyType": "PRIMARY",
                                               "PrimaryKey": {"Arn": arn, "Region": key.region}, "ReplicaKeys": []}
        if key.key_spec == SYMMETRIC_DEFAULT:
            out["CurrentKeyMaterialId"] = self._material_id(key)
        return out

    async def describe_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._grant_tokens(params)
        await self.authorize(ctx, key, "kms:DescribeKey")
        return {"KeyMetadata": self._metadata(key)}

    async def list_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(params, 100, 1000)
        ids = await self.repo.key_ids(ctx.account, ctx.region, _unmarker(params.get("Marker")), limit + 1)
        items = [{"KeyId": k, "KeyArn": f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{k}"} for k in ids]
        return _page(items, limit, ids[limit - 1] if len(ids) > limit else None, "Keys")

    async def update_key_description(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:UpdateKeyDescription")
        await self.repo.set_description(key.key_id, params.get("Description") or "")
        self._drop(key.key_id)
        return {}

    async def enable_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:EnableKey")
        await self.repo.set_state(key.key_id, ENABLED)
        self._drop(key.key_id)
        return {}

    async def disable_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:DisableKey")
        await self.repo.set_state(key.key_id, DISABLED)
        self._drop(key.key_id)
        return {}

    async def schedule_key_deletion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        days = params.get("PendingWindowInDays")
        days = 30 if days is None else int(days)
        if not 7 <= days <= 30:
            raise Validation(f"PendingWindowInDays should be between 7 and 30, but it is {days}")
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:ScheduleKeyDeletion")
        deletion_at = self.clock.now_ms() + days * DAY_MS
        await self.repo.set_state(key.key_id, PENDING_DELETION, deletion_at, days)
        self._drop(key.key_id)
        return {"KeyId": key_arn(key), "DeletionDate": _seconds(deletion_at), "KeyState": PENDING_DELETION,
                "PendingWindowInDays": days}

    async def cancel_key_deletion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        await self.authorize(ctx, key, "kms:CancelKeyDeletion")
        if key.state != PENDING_DELETION:
            raise InvalidState(f"{key_arn(key)} is not pending deletion.")
        await self.repo.set_state(key.key_id, DISABLED)
        self._drop(key.key_id)
        return {"KeyId": key_arn(key)}

    async def replicate_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        if not key.multi_region:
            raise Unsupported(f"Unable to replicate a non-MultiRegion key {key.key_id}")
        raise Unsupported(f"tsunagi keeps each multi-Region key in the Region it was created in "
                          f"({key.region}); replicating {key.key_id} to {params.get('ReplicaRegion')} is not "
                          "supported. Create a key in that Region instead.")

    # == key policies ==========================================================================
    async def get_key_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise NotFound("No such policy exists")
        await self.authorize(ctx, key, "kms:GetKeyPolicy")
        return {"Policy": key.policy, "PolicyName": "default"}

    async def put_key_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise NotFound("No such policy exists")
        policy: str = params["Policy"]
        policies.check_policy(policy)
        await self.authorize(ctx, key, "kms:PutKeyPolicy")
        await self.repo.set_policy(key.key_id, policy)
        self._drop(key.key_id)
        return {}

    async def list_key_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        _limit(params, 100, 1000)
        await self.authorize(ctx, key, "kms:ListKeyPolicies")
        return {"PolicyNames": ["default"], "Truncated": False}

    # == rotation ==============================================================================
    def _rotatable(self, key: KeyRow) -> None:
        if key.key_spec != SYMMETRIC_DEFAULT:
            raise Unsupported(f"{key_arn(key)} key spec is {key.key_spec}: only symmetric encryption keys "
                              "(SYMMETRIC_DEFAULT) have their key material rotated.")

    async def enable_key_rotation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._usable(key)
        await self.authorize(ctx, key, "kms:EnableKeyRotation")
        self._rotatable(key)
        days = int(params.get("RotationPeriodInDays") or DEFAULT_ROTATION_DAYS)
        await self.repo.set_rotation(key.key_id, days, self.clock.now_ms() + days * DAY_MS)
        self._drop(key.key_id)
        return {}

    async def disable_key_rotation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._usable(key)
        await self.authorize(ctx, key, "kms:DisableKeyRotation")
        self._rotatable(key)
        await self.repo.set_rotation(key.key_id, None, None)
        self._drop(key.key_id)
        return {}

    async def get_key_rotation_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        await self.authorize(ctx, key, "kms:GetKeyRotationStatus")
        self._rotatable(key)
        out: dict[str, Any] = {"KeyId": key.key_id, "KeyRotationEnabled": key.rotation_days is not None}
        if key.rotation_days is not None and key.next_rotation_at is not None:
            out["RotationPeriodInDays"] = key.rotation_days
            out["NextRotationDate"] = _seconds(key.next_rotation_at)
        return out

    async def rotate_key_on_demand(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._usable(key)
        await self.authorize(ctx, key, "kms:RotateKeyOnDemand")
        self._rotatable(key)
        rotations = [m for m in await self.repo.materials(key.key_id) if m.rotation_type == "ON_DEMAND"]
        if len(rotations) >= MAX_ON_DEMAND_ROTATIONS:
            raise LimitExceeded("The on-demand rotations limit has been reached for the given keyId. No more "
                                f"on-demand rotations can be performed for this key: {key_arn(key)}")
        if not await self._rotate(key, "ON_DEMAND"):
            raise errors.Conflict(f"{key_arn(key)} is being rotated; try again.")
        return {"KeyId": key.key_id}

    async def list_key_rotations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        await self.authorize(ctx, key, "kms:ListKeyRotations")
        self._rotatable(key)
        limit = _limit(params, 100, 1000)
        after = int(_unmarker(params.get("Marker")) or 0)
        every = params.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
        rows = [m for m in await self.repo.materials(key.key_id)
                if m.version > after and (every or m.rotation_type is not None)]
        items = []
        for m in rows[:limit + 1]:
            entry: dict[str, Any] = {"KeyId": key.key_id, "KeyMaterialId": self._material_id(key, m.version),
                                     "KeyMaterialState": "CURRENT" if m.version == key.material_version
                                     else "NON_CURRENT",
                                     "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
            if m.rotation_type is not None:
                entry["RotationDate"] = _seconds(m.created_at)
                entry["RotationType"] = m.rotation_type
            items.append(entry)
        last = str(rows[limit - 1].version) if len(rows) > limit else None
        return _page(items, limit, last, "Rotations")

    # == cryptography ==========================================================================
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
        await self.authorize(ctx, key, f"kms:{operation}")
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

    # == aliases ===============================================================================
    @staticmethod
    def _check_alias_name(name: str) -> None:
        if not name.startswith("alias/"):
            raise Validation(errors.ALIAS_PREFIX)
        if not _ALIAS_NAME.fullmatch(name):
            raise errors.constraint(name, "aliasName", "Member must satisfy regular expression pattern: "
                                    "^[a-zA-Z0-9:/_-]+$")
        if ":" in name:
            raise Validation(f"{name} contains invalid characters for an alias")

    async def _alias_target(self, ctx: RequestContext, target: str | None, action: str) -> KeyRow:
        if target and (target.startswith("alias/") or _ALIAS_ARN.fullmatch(target)):
            raise Validation("Aliases must refer to keys. Not aliases")
        key = await self.find_key(ctx, target, aliases=False, member="targetKeyId")
        self._not_pending(key)
        await self.authorize(ctx, key, action)
        return key

    async def create_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["AliasName"]
        self._check_alias_name(name)
        if name.startswith("alias/aws/"):
            raise NotAuthorized("")
        key = await self._alias_target(ctx, params.get("TargetKeyId"), "kms:CreateAlias")
        now = self.clock.now_ms()
        try:
            await self.repo.create_alias(AliasRow(ctx.account, ctx.region, name, key.key_id, now, now))
        except ConstraintViolation:
            raise AlreadyExists(f"An alias with the name {alias_arn(ctx.account, ctx.region, name)} already exists") \
                from None
        self._aliases.clear()
        return {}

    async def update_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["AliasName"]
        self._check_alias_name(name)
        if name.startswith("alias/aws/"):
            raise NotAuthorized("")
        current = await self.repo.alias(ctx.account, ctx.region, name)
        if current is None:
            raise errors.alias_not_found(alias_arn(ctx.account, ctx.region, name))
        key = await self._alias_target(ctx, params.get("TargetKeyId"), "kms:UpdateAlias")
        old = await self.repo.key(current.key_id)
        if old is not None and (SPECS[old.key_spec].family != SPECS[key.key_spec].family
                                or old.key_usage != key.key_usage):
            raise Validation("The current KMS key and the new KMS key must be the same type (both symmetric or "
                             "both asymmetric or both HMAC) and they must have the same key usage.")
        await self.repo.retarget_alias(ctx.account, ctx.region, name, key.key_id, self.clock.now_ms())
        self._aliases.clear()
        return {}

    async def delete_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["AliasName"]
        self._check_alias_name(name)
        if name.startswith("alias/aws/"):
            raise NotAuthorized("")
        current = await self.repo.alias(ctx.account, ctx.region, name)
        if current is None:
            raise errors.alias_not_found(alias_arn(ctx.account, ctx.region, name))
        key = await self.repo.key(current.key_id)
        if key is not None:
            await self.authorize(ctx, key, "kms:DeleteAlias")
        await self.repo.delete_alias(ctx.account, ctx.region, name)
        self._aliases.clear()
        return {}

    def _alias_entry(self, row: AliasRow) -> dict[str, Any]:
        return {"AliasName": row.name, "AliasArn": alias_arn(row.account, row.region, row.name),
                "TargetKeyId": row.key_id, "CreationDate": _seconds(row.created_at),
                "LastUpdatedDate": _seconds(row.updated_at)}

    async def list_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(params, 50, 100)
        after = _unmarker(params.get("Marker"))
        if params.get("KeyId"):
            key = await self.find_key(ctx, params["KeyId"], aliases=False)
            rows = [r for r in await self.repo.aliases_of_key(key.key_id) if r.name > after]
            items = [self._alias_entry(r) for r in rows[:limit + 1]]
        else:
            rows = await self.repo.aliases(ctx.account, ctx.region, after, limit + 1)
            entries = {r.name: self._alias_entry(r) for r in rows}
            for name in policies.MANAGED:          # AWS lists its predefined aliases before they have a key
                if name > after and name not in entries and \
                        await self.repo.alias(ctx.account, ctx.region, name) is None:
                    entries[name] = {"AliasName": name, "AliasArn": alias_arn(ctx.account, ctx.region, name)}
            items = [entries[n] for n in sorted(entries)][:limit + 1]
        return _page(items, limit, items[limit - 1]["AliasName"] if len(items) > limit else None, "Aliases")

    # == grants ================================================================================
    def _grant_token(self, grant_id: str) -> str:
        body = GRANT_TOKEN_VERSION + bytes.fromhex(grant_id) + os.urandom(16)
        return base64.urlsafe_b64encode(body + self.master.token_tag(body)).decode().rstrip("=")

    def _grant_of_token(self, token: str) -> str | None:
        """The grant id a token names, or None when this server did not make the token."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 65 or raw[:1] != GRANT_TOKEN_VERSION:
            return None
        body, tag = raw[:49], raw[49:]
        if not self.master.token_valid(body, tag):
            return None
        return body[1:33].hex()

    def _grant_entry(self, key: KeyRow, g: GrantRow) -> dict[str, Any]:
        out: dict[str, Any] = {"KeyId": key_arn(key), "GrantId": g.grant_id, "Name": g.name or "",
                               "CreationDate": _seconds(g.created_at), "GranteePrincipal": g.grantee,
                               "IssuingAccount": g.issuing_account, "Operations": json.loads(g.operations)}
        if g.retiring is not None:
            out["RetiringPrincipal"] = g.retiring
        if g.constraints is not None:
            out["Constraints"] = json.loads(g.constraints)
        return out

    async def create_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
        if not grantee:
            raise errors.missing("granteePrincipal")
        operations: list[str] = params["Operations"]
        if not operations:
            raise errors.constraint("[]", "operations", "Member must have length greater than or equal to 1")
        allowed = _GRANT_OPERATIONS_BY_USAGE.get(key.key_usage, set()) | _GRANT_OPERATIONS_ANY_KEY
        if key.key_usage == ENCRYPT_DECRYPT and key.key_spec == SYMMETRIC_DEFAULT:
            allowed = allowed - {"GetPublicKey"}
        wrong = [op for op in operations if op not in allowed]
        if wrong:
            raise Validation(f"Grant operations {', '.join(wrong)} are not valid for a {key.key_spec} key with "
                             f"KeyUsage {key.key_usage}.")
        constraints = params.get("Constraints") or None
        if constraints:
            if constraints.get("EncryptionContextSubset") is not None and \
                    constraints.get("EncryptionContextEquals") is not None:
                raise Validation("A grant constraint can have EncryptionContextSubset or EncryptionContextEquals, "
                                 "not both.")
            no_context = [op for op in operations if op not in _CONTEXT_OPERATIONS]
            if no_context and (constraints.get("EncryptionContextSubset") is not None
                               or constraints.get("EncryptionContextEquals") is not None):
                raise Validation(f"Encryption context grant constraints are not valid for operations that take no "
                                 f"encryption context: {', '.join(no_context)}.")
        self._grant_tokens(params)
        self._usable(key)
        await self.authorize(ctx, key, "kms:CreateGrant")
        self._dry_run(params)
        name = params.get("Name")
        retiring = params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")
        ops_json = json.dumps(sorted(set(operations), key=operations.index))
        constraints_json = json.dumps(constraints, sort_keys=True) if constraints else None
        if name:
            for g in await self.repo.grants_named(key.key_id, name):
                if (g.grantee, g.retiring, g.operations, g.constraints) == (grantee, retiring, ops_json,
                                                                             constraints_json):
                    return {"GrantId": g.grant_id, "GrantToken": self._grant_token(g.grant_id)}
        grant_id = os.urandom(32).hex()
        await self.repo.add_grant(GrantRow(grant_id, key.key_id, key.account, key.region, name, grantee, retiring,
                                           f"arn:aws:iam::{ctx.account}:root", ops_json, constraints_json,
                                           self.clock.now_ms()))
        return {"GrantId": grant_id, "GrantToken": self._grant_token(grant_id)}

    async def list_grants(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        await self.authorize(ctx, key, "kms:ListGrants")
        limit = _limit(params, 50, 100)
        if params.get("GrantId"):
            g = await self.repo.grant(params["GrantId"])
            if g is None or g.key_id != key.key_id:
                raise InvalidGrantId(f"Grant ID {params['GrantId']} is not valid for {key_arn(key)}.")
            return {"Grants": [self._grant_entry(key, g)], "Truncated": False}
        grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
        rows = await self.repo.grants(key.key_id, _unmarker(params.get("Marker")), limit + 1, grantee)
        return _page([self._grant_entry(key, g) for g in rows], limit,
                     rows[limit - 1].grant_id if len(rows) > limit else None, "Grants")

    async def list_retirable_grants(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        retiring = params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")
        if not retiring:
            raise errors.missing("retiringPrincipal")
        limit = _limit(params, 50, 100)
        rows = await self.repo.retirable(ctx.account, ctx.region, retiring, _unmarker(params.get("Marker")),
                                         limit + 1)
        items = []
        for g in rows:
            key = await self.repo.key(g.key_id)
            if key is not None:
                items.append(self._grant_entry(key, g))
        return _page(items, limit, rows[limit - 1].grant_id if len(rows) > limit else None, "Grants")

    async def retire_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        token, grant_id = params.get("GrantToken"), params.get("GrantId")
        if token:
            grant_id = self._grant_of_token(token)
            if grant_id is None:
                raise InvalidGrantToken("Invalid grant token")
        elif not (grant_id and params.get("KeyId")):
            raise Validation("Grant token OR (grant ID, key ID) must be specified")
        key = None
        if params.get("KeyId"):
            key = await self.find_key(ctx, params["KeyId"], aliases=False, cross_account=True)
        assert grant_id is not None
        grant = await self.repo.grant(grant_id)
        if grant is None or (key is not None and grant.key_id != key.key_id):
            if token and key is None:
                raise NotFound(f"Grant {grant_id} does not exist (it was retired or revoked).")
            raise InvalidGrantId(f"Grant ID {grant_id} is not valid"
                                 + (f" for {key_arn(key)}." if key is not None else "."))
        if key is None:
            key = await self.repo.key(grant.key_id)
        if key is not None:
            await self.authorize(ctx, key, "kms:RetireGrant")
        self._dry_run(params)
        await self.repo.delete_grant(grant.grant_id)
        return {}

    async def revoke_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        await self.authorize(ctx, key, "kms:RevokeGrant")
        grant = await self.repo.grant(params["GrantId"])
        if grant is None or grant.key_id != key.key_id:
            raise InvalidGrantId(f"Grant ID {params['GrantId']} is not valid for {key_arn(key)}.")
        self._dry_run(params)
        await self.repo.delete_grant(grant.grant_id)
        return {}

    # == tags ==================================================================================
    @staticmethod
    def _check_tags(tags: list[dict[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for tag in tags:
            k = tag["TagKey"]
            if k.lower().startswith("aws:"):
                raise TagError("Tags beginning with aws: are reserved")
            if k in out:
                raise TagError("Duplicate tag keys")
            out[k] = tag["TagValue"]
        return out

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        tags = self._check_tags(params["Tags"])
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:TagResource")
        existing = dict(await self.repo.tags(key.key_id))
        if len(existing | tags) > MAX_TAGS:
            raise LimitExceeded(f"A KMS key can have at most {MAX_TAGS} tags; {key_arn(key)} would have "
                                f"{len(existing | tags)}.")
        await self.repo.put_tags(key.key_id, tags.items())
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:UntagResource")
        await self.repo.delete_tags(key.key_id, list(dict.fromkeys(params["TagKeys"])))
        return {}

    async def list_resource_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        await self.authorize(ctx, key, "kms:ListResourceTags")
        limit = _limit(params, 50, 50)
        tags = await self.repo.tags(key.key_id, _unmarker(params.get("Marker")), limit + 1)
        return _page([{"TagKey": k, "TagValue": v} for k, v in tags], limit,
                     tags[limit - 1][0] if len(tags) > limit else None, "Tags")

    # == what tsunagi's keys cannot do, answered as AWS answers it for such keys ================
    async def _aws_kms_origin(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The import operations need a key with Origin EXTERNAL; every tsunagi key has AWS_KMS."""
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        raise Unsupported(f"{key_arn(key)} origin is AWS_KMS which is not valid for this operation.")

    get_parameters_for_import = _aws_kms_origin
    import_key_material = _aws_kms_origin
    delete_imported_key_material = _aws_kms_origin

    async def derive_shared_secret(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._usable(key)
        raise errors.wrong_usage(key_arn(key), key.key_usage, "DeriveSharedSecret")

    async def update_primary_region(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        if not key.multi_region:
            raise Unsupported(f"{key_arn(key)} is not a multi-Region key.")
        raise Unsupported(f"{key_arn(key)} has no replica in {params.get('PrimaryRegion')}: tsunagi does not "
                          "replicate multi-Region keys.")

    async def describe_custom_key_stores(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = params.get("CustomKeyStoreId") or params.get("CustomKeyStoreName")
        if ident:
            raise CustomKeyStoreNotFound(f"Custom key store {ident} does not exist: tsunagi has no custom key "
                                         "stores.")
        return {"CustomKeyStores": [], "Truncated": False}

    async def create_custom_key_store(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise Unsupported("tsunagi keeps key material itself: custom key stores (AWS CloudHSM, external key "
                          "stores) are not supported.")

    async def _no_custom_key_store(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise CustomKeyStoreNotFound(f"Custom key store {params.get('CustomKeyStoreId')} does not exist: tsunagi "
                                     "has no custom key stores.")

    connect_custom_key_store = _no_custom_key_store
    disconnect_custom_key_store = _no_custom_key_store
    delete_custom_key_store = _no_custom_key_store
    update_custom_key_store = _no_custom_key_store
