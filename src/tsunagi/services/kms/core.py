"""What every KMS operation stands on: the master key, caches, finding a key by any of its names,
authorization, key material, and the cryptographic calls the API operations and the port share.

Key material is created here, sealed under the master key (:class:`~.crypto.MasterKey`) and stored;
every version is kept, so a ciphertext made before a rotation still decrypts. Opened material is
cached per (key, version): it never changes. Key rows and aliases are cached too and dropped when
any server changes them (the store's notifications, and a 5 s limit when the store is shared).

Who may do what: :meth:`KmsCore.authorize` is called by every operation on a key, with the
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
import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from tsunagi.config import ConfigError
from tsunagi.policy import (
    KMS_KEY_POLICY,
    Caller,
    Dialect,
    PolicyError,
    PolicyKind,
    Request,
    compile_policy,
    evaluate,
    parse_policy,
)
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.kms import crypto, errors, policies
from tsunagi.services.kms.errors import (
    DRY_RUN,
    INCORRECT_KEY,
    INVALID_MARKER,
    SYNTAX_ERRORS,
    UNKNOWN_CIPHERTEXT_KEY,
    DryRun,
    IncorrectKey,
    Internal,
    InvalidCiphertext,
    InvalidGrantToken,
    InvalidMarker,
    MalformedPolicy,
    NotFound,
    Unsupported,
    Validation,
)
from tsunagi.services.kms.names import alias_arn, key_arn
from tsunagi.services.kms.specs import (
    ENCRYPT_DECRYPT,
    SPECS,
    SYMMETRIC_DEFAULT,
)
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.kms import ALIAS_CHANGED, NOTIFY_CHANNEL, AliasRow, KeyRow, KmsRepo, MaterialRow

log = logging.getLogger("tsunagi.kms")

ENABLED, DISABLED, PENDING_DELETION = "Enabled", "Disabled", "PendingDeletion"
CUSTOMER, AWS = "CUSTOMER", "AWS"
DAY_MS = 86_400_000
MAX_TAGS = 50
MAX_ON_DEMAND_ROTATIONS = 25
DEFAULT_ROTATION_DAYS = 365
SWEEP_INTERVAL_S = 60.0
CACHE_TTL_SHARED_S = 5.0          # cached key rows and aliases, when other servers share the database
MATERIAL_CACHE = 10_000           # opened key material versions kept in memory
GRANT_TOKEN_VERSION = b"\x01"

KEY_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32}")
KEY_ARN = re.compile(r"arn:aws[\w-]*:kms:([^:]*):([^:]*):key/(.*)")
ALIAS_ARN = re.compile(r"arn:aws[\w-]*:kms:([^:]*):([^:]*):(alias/.*)")
ALIAS_NAME = re.compile(r"[a-zA-Z0-9:/_-]+")
_POLICY_TEXT = re.compile(r"[\u0009\u000A\u000D\u0020-\u00FF]+")


def seconds(ms: int) -> float:
    return ms / 1000.0


def to_marker(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def from_marker(marker: str | None) -> str:
    if marker is None:
        return ""
    try:
        return base64.b64decode(marker + "=" * (-len(marker) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise InvalidMarker(INVALID_MARKER) from None


def limit_of(params: dict[str, Any], default: int, most: int) -> int:
    limit = params.get("Limit")
    if limit is None:
        return default
    if limit > most:
        raise errors.constraint(limit, "limit", f"Member must have value less than or equal to {most}")
    return int(limit)


# The caller's side of a call across accounts: its identity policies are checked by the gateway.
_ANY = compile_policy('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
                      PolicyKind.IDENTITY, label="(the caller's identity policies)")


def check_policy_text(policy: str) -> None:
    """A key policy KMS would store: the model's character pattern, then the policy evaluator's parser
    (:func:`tsunagi.policy.parse_policy`, KMS's wording and its 32 KB quota)."""
    if not _POLICY_TEXT.fullmatch(policy):
        raise errors.constraint(policy, "policy", "Member must satisfy regular expression pattern: "
                                "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
    try:
        parse_policy(policy, PolicyKind.KEY, dialect=Dialect.KMS, label="the key policy", limits=KMS_KEY_POLICY)
    except PolicyError as e:
        raise MalformedPolicy(e.message) from None
    except RecursionError:                      # nested deeper than Python's JSON parser goes
        raise MalformedPolicy(SYNTAX_ERRORS) from None


def page_of(items: list[dict[str, Any]], limit: int, marker_of: str | None, name: str) -> dict[str, Any]:
    """A list answer: ``items`` holds up to ``limit + 1`` entries, the last one only to tell there are more."""
    out: dict[str, Any] = {name: items[:limit], "Truncated": len(items) > limit}
    if len(items) > limit and marker_of is not None:
        out["NextMarker"] = to_marker(marker_of)
    return out


class KmsCore(Service):
    """What every KMS operation stands on: state, caches, key lookup, authorization, key material and
    the cryptographic calls the API and the port share."""

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
        self._managed.clear()
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
            if not self.store.leads():           # one server sweeps for all that share the database
                continue
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
            m = KEY_ARN.fullmatch(ident)
            a = None if m else ALIAS_ARN.fullmatch(ident)
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
            if not KEY_ID.fullmatch(key_id):
                raise errors.invalid_key_id(key_id)
        elif ident.startswith("alias/"):
            if not aliases:
                raise errors.invalid_key_id(ident)
            return await self._by_alias(ctx, account, region, ident)
        else:
            if not KEY_ID.fullmatch(ident):
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
    async def authorize(self, ctx: RequestContext, key: KeyRow, action: str, *, via: str | None = None,
                        context: Mapping[str, str] | None = None) -> None:
        """Whether ``ctx``'s principal may do ``action`` (``kms:Encrypt``) with ``key``, called directly
        (``via`` None) or by another service for its caller (``via="sqs"``: ``kms:ViaService``), with
        the request's encryption context (``kms:EncryptionContext:<k>``, grant constraints).

        This is where a key's policy and grants are to be checked with the policy evaluator
        (:mod:`tsunagi.policy`). Customer managed keys' policies are stored (validated by that
        evaluator's parser) but not evaluated here yet: any principal of the key's account may use
        the key. What is decided here today:

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
        if key.account != ctx.account and not self._grants_other_account(ctx, key, action):
            raise errors.access_denied(ctx.principal_arn, action, key_arn(key))

    def _grants_other_account(self, ctx: RequestContext, key: KeyRow, action: str) -> bool:
        """Whether the key policy of another account's key allows ``ctx``'s principal ``action``
        (the caller's own identity policies are the gateway's authorize step's to check)."""
        principal = ctx.principal
        if principal is not None and principal.service is not None:
            caller = Caller.service(principal.service)
        else:
            try:
                caller = Caller.from_arn(ctx.principal_arn)
            except ValueError:
                return False
        try:
            policy = compile_policy(key.policy, PolicyKind.KEY, Dialect.KMS, f"the key policy of {key_arn(key)}")
        except PolicyError:
            return False
        request = Request(caller, action, key_arn(key), resource_account=key.account, now=self.clock.now(),
                          context={"kms:CallerAccount": ctx.account})
        return evaluate(request, identity=(_ANY,), resource=policy).allowed

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

    async def seal_internal(self, name: str, secret: bytes) -> bytes:
        """``secret`` (a key another part of tsunagi keeps in the store, e.g. S3's SSE-S3 root key)
        sealed under the master key, bound to ``name``."""
        await self._record_master()
        return self.master.seal(f"tsunagi:{name}", 0, secret)

    def open_internal(self, name: str, sealed: bytes) -> bytes:
        """What :meth:`seal_internal` sealed as ``name``; BadMaster under another master key."""
        return self.master.unseal(f"tsunagi:{name}", 0, sealed)

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
        await self.authorize(ctx, key, action, via=via, context=context)
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
        if key is None or key.region != ctx.region or (named is None and key.account != ctx.account
                                                       and not self._grants_other_account(ctx, key, "kms:Decrypt")):
            raise errors.AccessDenied(UNKNOWN_CIPHERTEXT_KEY)
        self._usable(key)
        self._usage(key, ENCRYPT_DECRYPT, operation)
        if algorithm is not None and algorithm != SYMMETRIC_DEFAULT:
            raise errors.incompatible(algorithm, key.key_spec)
        await self.authorize(ctx, key, action, via=via, context=context)
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
        await self.authorize(ctx, key, action, via=via, context=context)
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
        await self.authorize(ctx, key, action, via=via, context=context)
        material = await self._material(key)
        if dry_run:
            raise DryRun(DRY_RUN)
        plaintext = os.urandom(size)
        return plaintext, crypto.encrypt(material, key.key_id, key.material_version, plaintext, context)

    # == keys ==================================================================================










    # == key policies ==========================================================================



    # == rotation ==============================================================================






    # == cryptography ==========================================================================


















    # == aliases ===============================================================================







    # == grants ================================================================================
    def _grant_token(self, grant_id: str) -> str:
        body = GRANT_TOKEN_VERSION + bytes.fromhex(grant_id) + os.urandom(16)
        return base64.urlsafe_b64encode(body + self.master.token_tag(body)).decode().rstrip("=")

    def _grant_of_token(self, token: str) -> str | None:
        """The grant id a token names, or None when this server did not make the token."""
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 65 or raw[:1] != GRANT_TOKEN_VERSION:
            return None
        body, tag = raw[:49], raw[49:]
        if not self.master.token_valid(body, tag):
            return None
        return body[1:33].hex()







    # == tags ==================================================================================




    # == what tsunagi's keys cannot do, answered as AWS answers it for such keys ================







