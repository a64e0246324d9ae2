"""IAM's port: what the rest of tsunagi may ask of IAM (:class:`tsunagi.ports.iam.IamPort`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsunagi.ports.iam import Credentials, RoleRef
from tsunagi.services.iam import names
from tsunagi.store.iam import GROUP, ROLE, USER, SessionRow

if TYPE_CHECKING:
    from tsunagi.services.iam.service import IamService

KEY_USE_EVERY_S = 60.0


def _parts(arn: str) -> list[str] | None:
    parts = arn.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


class IamPortImpl:
    def __init__(self, service: IamService) -> None:
        self._svc = service

    async def credentials(self, access_key_id: str) -> Credentials | None:
        svc = self._svc
        hit, creds = svc.cached_creds(access_key_id)
        if hit:
            return creds
        if access_key_id.startswith(names.TEMPORARY):
            row = await svc.repo.session(access_key_id)
            creds = None if row is None else Credentials(
                row.access_key_id, await svc.open_secret(f"{access_key_id}/secret", row.secret),
                await svc.open_secret(f"{access_key_id}/session-token", row.session_token), row.account,
                row.principal_arn, row.user_id, row.expires_at, True, row.session_policy, row.role_arn)
        else:
            creds = await svc.key_credentials(access_key_id)
        svc.cache_creds(access_key_id, creds)
        return creds

    async def identity_policies(self, principal_arn: str) -> list[tuple[str, str]]:
        svc = self._svc
        cached = svc.cached_identity(principal_arn)
        if cached is not None:
            return cached
        found: list[tuple[str, str]] = []
        parts = _parts(principal_arn)
        if parts is not None:
            account, resource = parts[4], parts[5]
            if parts[2] == "iam" and resource.startswith("user/"):
                user = await svc.repo.user(account, names.key(resource.rsplit("/", 1)[-1]))
                if user is not None:
                    found += await self._policies_of(account, USER, user.name_key, principal_arn)
                    for group in await svc.repo.groups_of_user(account, user.name_key, "", 1000):
                        found += await self._policies_of(account, GROUP, group.name_key,
                                                         names.arn(account, "group", group.path, group.name))
            else:
                role_name = self._role_name(parts)
                if role_name is not None:
                    role = await svc.repo.role(account, names.key(role_name))
                    if role is not None:
                        found += await self._policies_of(account, ROLE, role.name_key,
                                                         names.arn(account, "role", role.path, role.name))
        svc.cache_identity(principal_arn, found)
        return found

    @staticmethod
    def _role_name(parts: list[str]) -> str | None:
        resource = parts[5]
        if parts[2] == "sts" and resource.startswith("assumed-role/"):
            return resource.split("/")[1]
        if parts[2] == "iam" and resource.startswith("role/"):
            return resource.rsplit("/", 1)[-1]
        return None

    async def _policies_of(self, account: str, kind: str, owner_key: str, owner_arn: str) -> list[tuple[str, str]]:
        svc = self._svc
        out = [(f"the inline policy {name!r} of {owner_arn}", document)
               for name, document in await svc.repo.inline_documents(account, kind, owner_key)]
        for arn in await svc.repo.attached(account, kind, owner_key):
            document = await svc.managed_document(account, arn)
            if document is not None:
                out.append((f"the managed policy {arn} (attached to {owner_arn})", document))
        return out

    async def permissions_boundary(self, principal_arn: str) -> str | None:
        svc = self._svc
        parts = _parts(principal_arn)
        if parts is None:
            return None
        account = parts[4]
        boundary: str | None = None
        if parts[2] == "iam" and parts[5].startswith("user/"):
            user = await svc.repo.user(account, names.key(parts[5].rsplit("/", 1)[-1]))
            boundary = user.boundary_arn if user is not None else None
        else:
            role_name = self._role_name(parts)
            role = await svc.repo.role(account, names.key(role_name)) if role_name else None
            boundary = role.boundary_arn if role is not None else None
        return await svc.managed_document(account, boundary) if boundary else None

    async def role(self, arn: str) -> RoleRef | None:
        parts = _parts(arn)
        if parts is None or parts[2] != "iam" or not parts[5].startswith("role/"):
            return None
        account = parts[4]
        row = await self._svc.repo.role(account, names.key(parts[5].rsplit("/", 1)[-1]))
        if row is None or names.key(f"role{row.path}{row.name}") != names.key(parts[5]):
            return None
        return RoleRef(names.arn(account, "role", row.path, row.name), account, row.name, row.role_id,
                       row.trust_policy, row.max_session)

    async def issue_session(self, *, account: str, principal_arn: str, user_id: str, duration_s: int,
                            role_arn: str | None = None, source_key: str | None = None,
                            region: str | None = None, session_policy: str | None = None) -> Credentials:
        svc = self._svc
        now = svc.clock.now_ms()
        key_id, secret, token = names.access_key_id(names.TEMPORARY, account), names.secret_access_key(), \
            names.session_token()
        row = SessionRow(key_id, account, await svc.seal_secret(f"{key_id}/secret", secret),
                         await svc.seal_secret(f"{key_id}/session-token", token), principal_arn, user_id, role_arn,
                         source_key, session_policy, now, now + duration_s * 1000)
        await svc.repo.create_session(row)
        if role_arn is not None:
            parts = _parts(role_arn)
            if parts is not None:
                await svc.repo.role_used(account, names.key(parts[5].rsplit("/", 1)[-1]), now, region or "us-east-1")
        return Credentials(key_id, secret, token, account, principal_arn, user_id, row.expires_at, True,
                           session_policy, role_arn)

    async def key_used(self, access_key_id: str, service: str, region: str) -> None:
        if not access_key_id.startswith(names.LONG_TERM):
            return
        svc = self._svc
        if svc.key_use_due(access_key_id, KEY_USE_EVERY_S):
            await svc.repo.key_used(access_key_id, svc.clock.now_ms(), service, region)
