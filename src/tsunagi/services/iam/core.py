"""What every IAM operation stands on: the repository, finding entities by name, checking policy
documents, pages, the answers' shapes, and the caches the port reads on every signed request.

Caches: the credentials of an access key and the identity policies of a principal are read by the
authenticator and the authorizer on every request under ``--auth strict``; they are kept in memory
and dropped when anything they depend on changes, here (at once) and on every server sharing the
database (the store's ``iam`` notifications; a 5 s limit besides when the store is shared).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from tsunagi.policy import (
    IAM_MANAGED_POLICY,
    IAM_TRUST_POLICY,
    Dialect,
    Limits,
    PolicyError,
    PolicyKind,
    parse_policy,
)
from tsunagi.ports.iam import Credentials
from tsunagi.ports.kms import KMS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.iam import errors, managed, names
from tsunagi.services.iam.errors import LimitExceeded, MalformedPolicyDocument, ValidationError
from tsunagi.store.iam import GroupRow, IamRepo, PolicyRow, ProfileRow, RoleRow, UserRow

log = logging.getLogger("tsunagi.iam")

NOTIFY_CHANNEL = "iam"
ALL_KEYS = "keys"             # payload: every cached credential is stale (a user renamed or deleted)
POLICIES = "policies"         # payload: every cached set of identity policies is stale
CACHE_TTL_SHARED_S = 5.0
SWEEP_INTERVAL_S = 3600.0
EXPIRED_KEPT_MS = 86_400_000
CACHE_MOST = 10_000

DEFAULT_MAX_ITEMS = 100
MAX_TAGS = 50
# IAM quotas (IAM User Guide, "IAM and AWS STS quotas"), in AWS's LimitExceeded wording
ACCESS_KEYS_PER_USER = 2
GROUPS_PER_USER = 10
MANAGED_POLICIES_PER_ENTITY = 10
VERSIONS_PER_POLICY = 5
ROLES_PER_PROFILE = 1
INLINE_SIZE = {"user": 2048, "group": 5120, "role": 10240}   # all of an entity's inline policies, no whitespace


SEALED = "tsunagi-sealed:v1:"     # a stored secret sealed under the master key (base64 follows)


def ms_to_dt(ms: int) -> float:
    """A stored time as the serializer takes it (epoch seconds)."""
    return ms / 1000.0


def _non_space(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


class IamCore(Service):
    name = "iam"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = IamRepo(self.store)
        self._creds: dict[str, tuple[Credentials | None, float]] = {}
        self._identity: dict[str, tuple[list[tuple[str, str]], float]] = {}
        self._key_use: dict[str, float] = {}
        self._ttl = CACHE_TTL_SHARED_S if self.store.shared else float("inf")
        self._listening = False
        self._sweeper: asyncio.Task[None] | None = None

    # == lifecycle and caches ==================================================================
    async def start(self) -> None:
        if not self._listening:
            self.store.listen(NOTIFY_CHANNEL, self._forget)
            self.store.listen("*", self._forget_all)
            self._listening = True
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="tsunagi-iam-sweep")

    async def _sweep_loop(self) -> None:
        """Forget temporary credentials a day after they expired (until then a request signed with one
        gets ExpiredToken rather than an unknown key)."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            if not self.store.leads():           # one server sweeps for all that share the database
                continue
            try:
                await self.repo.delete_expired_sessions(self.clock.now_ms() - EXPIRED_KEPT_MS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("IAM: forgetting expired sessions failed; will try again")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
            self._sweeper = None
        if self._listening:
            self.store.unlisten(NOTIFY_CHANNEL, self._forget)
            self.store.unlisten("*", self._forget_all)
            self._listening = False

    async def on_reset(self) -> None:
        self._forget_all("")

    def _forget(self, payload: str) -> None:
        if payload == POLICIES:
            self._identity.clear()
        elif payload == ALL_KEYS:
            self._creds.clear()
        else:
            self._creds.pop(payload, None)

    def _forget_all(self, _payload: str) -> None:
        self._creds.clear()
        self._identity.clear()
        self._key_use.clear()

    def changed(self, *payloads: str) -> None:
        """Something cached changed: forget it here now, and tell the other servers."""
        for payload in payloads:
            self._forget(payload)
            self.store.notify(NOTIFY_CHANNEL, payload)

    def cached_creds(self, key_id: str) -> tuple[bool, Credentials | None]:
        hit = self._creds.get(key_id)
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def cache_creds(self, key_id: str, creds: Credentials | None) -> None:
        if len(self._creds) >= CACHE_MOST:
            self._creds.clear()
        self._creds[key_id] = (creds, time.monotonic() + self._ttl)

    def cached_identity(self, principal: str) -> list[tuple[str, str]] | None:
        hit = self._identity.get(principal)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def cache_identity(self, principal: str, policies: list[tuple[str, str]]) -> None:
        if len(self._identity) >= CACHE_MOST:
            self._identity.clear()
        self._identity[principal] = (policies, time.monotonic() + self._ttl)

    def key_use_due(self, key_id: str, every_s: float) -> bool:
        """Whether a key's use should be written now (at most once every ``every_s`` per key)."""
        now = time.monotonic()
        last = self._key_use.get(key_id)
        if last is not None and now - last < every_s:
            return False
        if len(self._key_use) >= CACHE_MOST:
            self._key_use.clear()
        self._key_use[key_id] = now
        return True

    # == secrets at rest =======================================================================
    # Access key secrets and session tokens are kept in the store only sealed under the server's master
    # key (KMS's ``seal_internal``: AES-256-GCM, bound to the key id and the field, so a sealed value
    # cannot be moved to another row). A server that does not run KMS has no master key and keeps them
    # as they are; a value without the prefix (written so, or by an older tsunagi) is read as it is.
    async def seal_secret(self, name: str, value: str) -> str:
        kms = self.platform.ports.find(KMS)
        if kms is None:
            return value
        return SEALED + base64.b64encode(await kms.seal_internal(f"iam/{name}", value.encode())).decode()

    async def open_secret(self, name: str, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        kms = self.platform.ports.find(KMS)
        if kms is None:
            raise errors.service_failure(f"the {name} is sealed under a master key and this server does not run KMS")
        try:
            sealed = base64.b64decode(stored[len(SEALED):], validate=True)
        except (binascii.Error, ValueError):
            raise errors.service_failure(f"the stored {name} is damaged") from None
        return (await kms.open_internal(f"iam/{name}", sealed)).decode()

    # == finding entities ======================================================================
    async def user_or_fail(self, account: str, name: str) -> UserRow:
        row = await self.repo.user(account, names.key(name))
        if row is None:
            raise errors.no_such("user", name)
        return row

    async def group_or_fail(self, account: str, name: str) -> GroupRow:
        row = await self.repo.group(account, names.key(name))
        if row is None:
            raise errors.no_such("group", name)
        return row

    async def role_or_fail(self, account: str, name: str) -> RoleRow:
        row = await self.repo.role(account, names.key(name))
        if row is None:
            raise errors.no_such("role", name)
        return row

    async def profile_or_fail(self, account: str, name: str) -> ProfileRow:
        row = await self.repo.profile(account, names.key(name))
        if row is None:
            raise errors.no_such_profile(name)
        return row

    async def caller_user(self, ctx: RequestContext) -> UserRow | None:
        """The IAM user making the request, or None for the account's root (and role sessions)."""
        arn = ctx.principal_arn
        if ":user/" in arn:
            return await self.repo.user(ctx.account, names.key(arn.rsplit("/", 1)[-1]))
        key_id = ctx.access_key_id
        if key_id and key_id.startswith(names.LONG_TERM):
            row = await self.repo.key(key_id)
            if row is not None and row.account == ctx.account and row.user_key:
                return await self.repo.user(row.account, row.user_key)
        elif key_id and key_id.startswith(names.TEMPORARY):
            session = await self.repo.session(key_id)
            if session is not None and ":user/" in session.principal_arn:     # GetSessionToken acts as the user
                return await self.repo.user(session.account, names.key(session.principal_arn.rsplit("/", 1)[-1]))
            if session is not None and not session.principal_arn.endswith(":root"):
                raise ValidationError("Must specify userName when calling with non-User credentials")
        return None

    async def target_user(self, ctx: RequestContext, params: Mapping[str, Any]) -> tuple[str, UserRow | None]:
        """``UserName`` when given (it must exist), else the caller: (user_key, row); ('', None) for root."""
        name = params.get("UserName")
        if name is not None:
            row = await self.user_or_fail(ctx.account, name)
            return row.name_key, row
        caller = await self.caller_user(ctx)
        return (caller.name_key, caller) if caller is not None else ("", None)

    async def managed_exists(self, account: str, arn: str) -> bool:
        """A managed policy the account may attach: an AWS managed one, or one of its own."""
        if arn.startswith(names.AWS_POLICY_PREFIX):
            return arn in managed.BY_ARN
        row = await self.repo.policy(arn)
        return row is not None and row.account == account

    async def managed_document(self, account: str, arn: str) -> str | None:
        """The default version's document of a managed policy the account can see."""
        aws = managed.BY_ARN.get(arn)
        if aws is not None:
            return aws.document
        row = await self.repo.policy(arn)
        if row is None or row.account != account:
            return None
        version = await self.repo.version(arn, row.default_version)
        return version.document if version is not None else None

    async def boundary_policy(self, account: str, arn: str) -> None:
        """A permissions boundary must be a managed policy that exists."""
        if not await self.managed_exists(account, arn):
            raise errors.NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.")

    # == policy documents ======================================================================
    def check_document(self, document: str, kind: PolicyKind = PolicyKind.IDENTITY,
                       limits: Limits | None = IAM_MANAGED_POLICY) -> dict[str, Any]:
        """A policy IAM would store (MalformedPolicyDocument, or LimitExceeded over its size quota); the
        parsed document."""
        try:
            policy = parse_policy(document, kind, dialect=Dialect.IAM, limits=limits)
        except PolicyError as e:
            if e.code == "LimitExceeded":
                raise LimitExceeded(e.message) from None
            raise MalformedPolicyDocument(e.message) from None
        except RecursionError:
            raise MalformedPolicyDocument("Syntax errors in policy.") from None
        return dict(policy.document)

    async def check_trust_policy(self, document: str) -> None:
        """A role's trust policy: the grammar of trust policies, its quota, and every IAM user or role it
        names must exist (AWS resolves them to their unique ids when it stores the policy)."""
        parsed = self.check_document(document, PolicyKind.TRUST, IAM_TRUST_POLICY)
        statements = parsed.get("Statement")
        for statement in statements if isinstance(statements, list) else [statements]:
            principal = statement.get("Principal") if isinstance(statement, dict) else None
            if not isinstance(principal, dict):
                continue
            aws = principal.get("AWS")
            for arn in aws if isinstance(aws, list) else [aws]:
                if isinstance(arn, str) and not await self._principal_exists(arn):
                    raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{arn}"')

    async def _principal_exists(self, arn: str) -> bool:
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[2] != "iam" or not parts[4].isdigit():
            return True
        resource = parts[5]
        name = resource.rsplit("/", 1)[-1]
        if resource.startswith("user/"):
            return await self.repo.user(parts[4], names.key(name)) is not None
        if resource.startswith("role/"):
            return await self.repo.role(parts[4], names.key(name)) is not None
        return True

    async def check_inline_size(self, account: str, kind: str, owner_key: str, owner_name: str, policy_name: str,
                                document: str) -> None:
        limit = INLINE_SIZE[kind]
        total = _non_space(document)
        for name, other in await self.repo.inline_documents(account, kind, owner_key):
            if name != policy_name:
                total += _non_space(other)
        if total > limit:
            raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {owner_name}")

    # == lists =================================================================================
    @staticmethod
    def max_items(params: Mapping[str, Any]) -> int:
        value = params.get("MaxItems")
        return DEFAULT_MAX_ITEMS if value is None else int(value)

    @staticmethod
    def path_of(params: Mapping[str, Any], member: str = "Path") -> str:
        path = params.get(member)
        return "/" if path is None else str(path)

    # == tags ==================================================================================
    @staticmethod
    def tag_pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
        tags = params.get("Tags") or []
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for tag in tags:
            k = str(tag.get("Key"))
            if k.lower() in seen:
                raise errors.InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
            seen.add(k.lower())
            out.append((k, str(tag.get("Value", ""))))
        return out

    async def add_tags(self, account: str, kind: str, owner_key: str, tags: list[tuple[str, str]]) -> None:
        current = {k.lower() for k, _ in await self.repo.tags(account, kind, owner_key)}
        new = {k.lower() for k, _ in tags}
        if len(current | new) > MAX_TAGS:
            raise LimitExceeded("The number of tags has reached the maximum limit.")
        await self.repo.put_tags(account, kind, owner_key, tags)

    @staticmethod
    def tag_list(tags: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in tags]

    # == answers ===============================================================================
    @staticmethod
    def user_out(row: UserRow, tags: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"Path": row.path, "UserName": row.name, "UserId": row.user_id,
                               "Arn": names.arn(row.account, "user", row.path, row.name),
                               "CreateDate": ms_to_dt(row.created_at)}
        if row.boundary_arn:
            out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy",
                                          "PermissionsBoundaryArn": row.boundary_arn}
        if tags:
            out["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
        return out

    @staticmethod
    def group_out(row: GroupRow) -> dict[str, Any]:
        return {"Path": row.path, "GroupName": row.name, "GroupId": row.group_id,
                "Arn": names.arn(row.account, "group", row.path, row.name), "CreateDate": ms_to_dt(row.created_at)}

    @staticmethod
    def role_out(row: RoleRow, tags: list[tuple[str, str]] | None = None, *, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"Path": row.path, "RoleName": row.name, "RoleId": row.role_id,
                               "Arn": names.arn(row.account, "role", row.path, row.name),
                               "CreateDate": ms_to_dt(row.created_at),
                               "AssumeRolePolicyDocument": names.encode_document(row.trust_policy),
                               "MaxSessionDuration": row.max_session}
        if row.description is not None:
            out["Description"] = row.description
        if row.boundary_arn:
            out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy",
                                          "PermissionsBoundaryArn": row.boundary_arn}
        if tags:
            out["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
        if full:
            last: dict[str, Any] = {}
            if row.last_used_at is not None:
                last = {"LastUsedDate": ms_to_dt(row.last_used_at), "Region": row.last_used_region}
            out["RoleLastUsed"] = last
        return out

    @staticmethod
    def policy_out(row: PolicyRow, attachments: int, tags: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"PolicyName": row.name, "PolicyId": row.policy_id, "Arn": row.arn, "Path": row.path,
                               "DefaultVersionId": f"v{row.default_version}", "AttachmentCount": attachments,
                               "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
                               "CreateDate": ms_to_dt(row.created_at), "UpdateDate": ms_to_dt(row.updated_at)}
        if row.description:
            out["Description"] = row.description
        if tags:
            out["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
        return out

    async def profile_out(self, row: ProfileRow, tags: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        roles = []
        for role_key in await self.repo.profile_role_keys(row.account, row.name_key):
            role = await self.repo.role(row.account, role_key)
            if role is not None:
                roles.append(self.role_out(role, full=False))
        out: dict[str, Any] = {"Path": row.path, "InstanceProfileName": row.name, "InstanceProfileId": row.profile_id,
                               "Arn": names.arn(row.account, "instance-profile", row.path, row.name),
                               "CreateDate": ms_to_dt(row.created_at), "Roles": roles}
        if tags:
            out["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
        return out

    @staticmethod
    def document_of(text: str) -> str:
        """A stored document, as IAM returns it (URL-encoded)."""
        return names.encode_document(text)

    @staticmethod
    def compact(document: Mapping[str, Any]) -> str:
        return json.dumps(document, separators=(",", ":"))


__all__ = ["IamCore", "ValidationError", "ms_to_dt"]
