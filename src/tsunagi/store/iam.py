"""The IAM repository (``queries/*/iam.sql``): users, groups and their members, access keys, login
profiles, roles, instance profiles, inline and managed policies with their versions, attachments,
tags, and the temporary credentials STS issues (kept here: IAM answers for every access key).

Everything is scoped by account (IAM is global: no region). Names are matched by ``name_key``, the
name in lower case, because IAM names are unique per account whatever their case. Renaming a user
or a group (UpdateUser, UpdateGroup) moves every row that refers to it, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx

USER, GROUP, ROLE, POLICY, PROFILE, OIDC = "user", "group", "role", "policy", "instance-profile", "oidc-provider"


class UserRow(NamedTuple):
    account: str
    name_key: str
    name: str
    user_id: str
    path: str
    created_at: int
    boundary_arn: str | None


class GroupRow(NamedTuple):
    account: str
    name_key: str
    name: str
    group_id: str
    path: str
    created_at: int


class AccessKeyRow(NamedTuple):
    access_key_id: str
    account: str
    user_key: str                   # '' for the account root's keys
    secret: str
    status: str                     # Active | Inactive
    created_at: int
    last_used_at: int | None
    last_used_service: str | None
    last_used_region: str | None


class LoginRow(NamedTuple):
    account: str
    user_key: str
    password_hash: str
    reset_required: int
    created_at: int


class RoleRow(NamedTuple):
    account: str
    name_key: str
    name: str
    role_id: str
    path: str
    created_at: int
    trust_policy: str
    description: str | None
    max_session: int
    boundary_arn: str | None
    service: str | None             # set for a service-linked role
    last_used_at: int | None
    last_used_region: str | None


class ProfileRow(NamedTuple):
    account: str
    name_key: str
    name: str
    profile_id: str
    path: str
    created_at: int


class PolicyRow(NamedTuple):
    arn: str
    account: str
    name_key: str
    name: str
    policy_id: str
    path: str
    description: str | None
    created_at: int
    updated_at: int
    default_version: int
    next_version: int


class VersionRow(NamedTuple):
    arn: str
    version: int
    document: str
    created_at: int


class OidcRow(NamedTuple):
    arn: str
    account: str
    url: str
    client_ids: str                 # JSON list
    thumbprints: str                # JSON list
    created_at: int


class SessionRow(NamedTuple):
    access_key_id: str
    account: str
    secret: str
    session_token: str
    principal_arn: str
    user_id: str
    role_arn: str | None
    source_key: str | None
    session_policy: str | None
    created_at: int
    expires_at: int


def _count(row: Sequence[object] | None) -> int:
    return int(str(row[0])) if row is not None else 0


class IamRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("iam", store.dialect)

    async def _count(self, sql: str, params: Sequence[object]) -> int:
        return _count(await self.store.fetchone(sql, params))

    # == users =================================================================================
    async def create_user(self, user: UserRow, tags: Iterable[tuple[str, str]] = ()) -> None:
        """ConstraintViolation when the account has a user of that name already."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_user, user)
            await self._put_tags(tx, user.account, USER, user.name_key, tags)

    async def user(self, account: str, name_key: str) -> UserRow | None:
        row = await self.store.fetchone(self.q.user, (account, name_key))
        return UserRow._make(row) if row is not None else None

    async def users(self, account: str, after: str, prefix: str, limit: int) -> list[UserRow]:
        rows = await self.store.fetchall(self.q.users_page, (account, after, len(prefix), prefix, limit))
        return [UserRow._make(r) for r in rows]

    async def rename_user(self, account: str, old_key: str, new_key: str, new_name: str, path: str) -> None:
        """ConstraintViolation when the new name is taken."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.rename_user, (new_key, new_name, path, account, old_key))
            if new_key != old_key:
                await tx.execute(self.q.rename_member_user, (new_key, account, old_key))
                await tx.execute(self.q.rename_key_user, (new_key, account, old_key))
                await tx.execute(self.q.rename_login_user, (new_key, account, old_key))
                for sql in (self.q.rename_inline_owner, self.q.rename_attachment_owner, self.q.rename_tags_owner):
                    await tx.execute(sql, (new_key, account, USER, old_key))

    async def set_user_boundary(self, account: str, name_key: str, arn: str | None) -> None:
        await self.store.execute(self.q.set_user_boundary, (arn, account, name_key))

    async def delete_user(self, account: str, name_key: str) -> int:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_tags_of, (account, USER, name_key))
            return await tx.execute(self.q.delete_user, (account, name_key))

    # == groups ================================================================================
    async def create_group(self, group: GroupRow) -> None:
        await self.store.execute(self.q.insert_group, group)

    async def group(self, account: str, name_key: str) -> GroupRow | None:
        row = await self.store.fetchone(self.q.group, (account, name_key))
        return GroupRow._make(row) if row is not None else None

    async def groups(self, account: str, after: str, prefix: str, limit: int) -> list[GroupRow]:
        rows = await self.store.fetchall(self.q.groups_page, (account, after, len(prefix), prefix, limit))
        return [GroupRow._make(r) for r in rows]

    async def rename_group(self, account: str, old_key: str, new_key: str, new_name: str, path: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.rename_group, (new_key, new_name, path, account, old_key))
            if new_key != old_key:
                await tx.execute(self.q.rename_member_group, (new_key, account, old_key))
                for sql in (self.q.rename_inline_owner, self.q.rename_attachment_owner):
                    await tx.execute(sql, (new_key, account, GROUP, old_key))

    async def delete_group(self, account: str, name_key: str) -> int:
        return await self.store.execute(self.q.delete_group, (account, name_key))

    async def add_member(self, account: str, group_key: str, user_key: str) -> None:
        await self.store.execute(self.q.add_member, (account, group_key, user_key))

    async def remove_member(self, account: str, group_key: str, user_key: str) -> int:
        return await self.store.execute(self.q.remove_member, (account, group_key, user_key))

    async def members(self, account: str, group_key: str, after: str, limit: int) -> list[UserRow]:
        rows = await self.store.fetchall(self.q.members_page, (account, group_key, after, limit))
        return [UserRow._make(r) for r in rows]

    async def groups_of_user(self, account: str, user_key: str, after: str, limit: int) -> list[GroupRow]:
        rows = await self.store.fetchall(self.q.groups_of_user_page, (account, user_key, after, limit))
        return [GroupRow._make(r) for r in rows]

    async def count_groups_of_user(self, account: str, user_key: str) -> int:
        return await self._count(self.q.count_groups_of_user, (account, user_key))

    async def count_members(self, account: str, group_key: str) -> int:
        return await self._count(self.q.count_members, (account, group_key))

    # == access keys ===========================================================================
    async def create_key(self, key: AccessKeyRow) -> None:
        await self.store.execute(self.q.insert_key, key)

    async def key(self, access_key_id: str) -> AccessKeyRow | None:
        row = await self.store.fetchone(self.q.key, (access_key_id,))
        return AccessKeyRow._make(row) if row is not None else None

    async def keys_of_user(self, account: str, user_key: str, after: str = "", limit: int = 1000) -> list[AccessKeyRow]:
        rows = await self.store.fetchall(self.q.keys_of_user, (account, user_key, after, limit))
        return [AccessKeyRow._make(r) for r in rows]

    async def count_keys(self, account: str, user_key: str) -> int:
        return await self._count(self.q.count_keys_of_user, (account, user_key))

    async def set_key_status(self, access_key_id: str, account: str, user_key: str, status: str) -> int:
        return await self.store.execute(self.q.set_key_status, (status, access_key_id, account, user_key))

    async def key_used(self, access_key_id: str, when_ms: int, service: str, region: str) -> None:
        await self.store.execute(self.q.key_used, (when_ms, service, region, access_key_id))

    async def delete_key(self, access_key_id: str, account: str, user_key: str) -> int:
        return await self.store.execute(self.q.delete_key, (access_key_id, account, user_key))

    # == login profiles ========================================================================
    async def create_login(self, login: LoginRow) -> None:
        await self.store.execute(self.q.insert_login, login)

    async def login(self, account: str, user_key: str) -> LoginRow | None:
        row = await self.store.fetchone(self.q.login, (account, user_key))
        return LoginRow._make(row) if row is not None else None

    async def update_login(self, account: str, user_key: str, password_hash: str | None,
                           reset_required: int | None) -> int:
        return await self.store.execute(self.q.update_login, (password_hash, reset_required, account, user_key))

    async def delete_login(self, account: str, user_key: str) -> int:
        return await self.store.execute(self.q.delete_login, (account, user_key))

    # == roles =================================================================================
    async def create_role(self, role: RoleRow, tags: Iterable[tuple[str, str]] = ()) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_role, role)
            await self._put_tags(tx, role.account, ROLE, role.name_key, tags)

    async def role(self, account: str, name_key: str) -> RoleRow | None:
        row = await self.store.fetchone(self.q.role, (account, name_key))
        return RoleRow._make(row) if row is not None else None

    async def roles(self, account: str, after: str, prefix: str, limit: int) -> list[RoleRow]:
        rows = await self.store.fetchall(self.q.roles_page, (account, after, len(prefix), prefix, limit))
        return [RoleRow._make(r) for r in rows]

    async def update_role(self, account: str, name_key: str, description: str | None,
                          max_session: int | None) -> int:
        return await self.store.execute(self.q.update_role, (description, max_session, account, name_key))

    async def set_trust_policy(self, account: str, name_key: str, document: str) -> int:
        return await self.store.execute(self.q.set_trust_policy, (document, account, name_key))

    async def set_role_boundary(self, account: str, name_key: str, arn: str | None) -> None:
        await self.store.execute(self.q.set_role_boundary, (arn, account, name_key))

    async def role_used(self, account: str, name_key: str, when_ms: int, region: str) -> None:
        await self.store.execute(self.q.role_used, (when_ms, region, account, name_key))

    async def delete_role(self, account: str, name_key: str) -> int:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_tags_of, (account, ROLE, name_key))
            return await tx.execute(self.q.delete_role, (account, name_key))

    # == instance profiles =====================================================================
    async def create_profile(self, profile: ProfileRow, tags: Iterable[tuple[str, str]] = ()) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_profile, profile)
            await self._put_tags(tx, profile.account, PROFILE, profile.name_key, tags)

    async def profile(self, account: str, name_key: str) -> ProfileRow | None:
        row = await self.store.fetchone(self.q.profile, (account, name_key))
        return ProfileRow._make(row) if row is not None else None

    async def profiles(self, account: str, after: str, prefix: str, limit: int) -> list[ProfileRow]:
        rows = await self.store.fetchall(self.q.profiles_page, (account, after, len(prefix), prefix, limit))
        return [ProfileRow._make(r) for r in rows]

    async def profiles_of_role(self, account: str, role_key: str, after: str, limit: int) -> list[ProfileRow]:
        rows = await self.store.fetchall(self.q.profiles_of_role_page, (account, role_key, after, limit))
        return [ProfileRow._make(r) for r in rows]

    async def profile_role_keys(self, account: str, profile_key: str) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.profile_role_keys, (account, profile_key))]

    async def add_profile_role(self, account: str, profile_key: str, role_key: str) -> None:
        await self.store.execute(self.q.add_profile_role, (account, profile_key, role_key))

    async def remove_profile_role(self, account: str, profile_key: str, role_key: str) -> int:
        return await self.store.execute(self.q.remove_profile_role, (account, profile_key, role_key))

    async def count_profiles_of_role(self, account: str, role_key: str) -> int:
        return await self._count(self.q.count_profiles_of_role, (account, role_key))

    async def delete_profile(self, account: str, name_key: str) -> int:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_tags_of, (account, PROFILE, name_key))
            return await tx.execute(self.q.delete_profile, (account, name_key))

    # == inline policies =======================================================================
    async def put_inline(self, account: str, kind: str, owner_key: str, name: str, document: str) -> None:
        await self.store.execute(self.q.put_inline, (account, kind, owner_key, name, document))

    async def inline(self, account: str, kind: str, owner_key: str, name: str) -> str | None:
        row = await self.store.fetchone(self.q.inline, (account, kind, owner_key, name))
        return str(row[0]) if row is not None else None

    async def inline_names(self, account: str, kind: str, owner_key: str, after: str, limit: int) -> list[str]:
        rows = await self.store.fetchall(self.q.inline_names_page, (account, kind, owner_key, after, limit))
        return [str(r[0]) for r in rows]

    async def inline_documents(self, account: str, kind: str, owner_key: str) -> list[tuple[str, str]]:
        rows = await self.store.fetchall(self.q.inline_documents, (account, kind, owner_key))
        return [(str(n), str(d)) for n, d in rows]

    async def count_inline(self, account: str, kind: str, owner_key: str) -> int:
        return await self._count(self.q.count_inline, (account, kind, owner_key))

    async def delete_inline(self, account: str, kind: str, owner_key: str, name: str) -> int:
        return await self.store.execute(self.q.delete_inline, (account, kind, owner_key, name))

    # == managed policies ======================================================================
    async def create_policy(self, policy: PolicyRow, document: str, tags: Iterable[tuple[str, str]] = ()) -> None:
        """The policy and its version 1; ConstraintViolation when the name is taken."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_policy, policy)
            await tx.execute(self.q.insert_version, (policy.arn, 1, document, policy.created_at))
            await self._put_tags(tx, policy.account, POLICY, policy.arn, tags)

    async def policy(self, arn: str) -> PolicyRow | None:
        row = await self.store.fetchone(self.q.policy, (arn,))
        return PolicyRow._make(row) if row is not None else None

    async def policies(self, account: str, after: str, prefix: str, limit: int) -> list[PolicyRow]:
        rows = await self.store.fetchall(self.q.policies_page, (account, after, len(prefix), prefix, limit))
        return [PolicyRow._make(r) for r in rows]

    async def delete_policy(self, account: str, arn: str) -> int:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_versions, (arn,))
            await tx.execute(self.q.delete_tags_of, (account, POLICY, arn))
            return await tx.execute(self.q.delete_policy, (arn,))

    async def version(self, arn: str, version: int) -> VersionRow | None:
        row = await self.store.fetchone(self.q.version, (arn, version))
        return VersionRow._make(row) if row is not None else None

    async def versions(self, arn: str) -> list[VersionRow]:
        return [VersionRow._make(r) for r in await self.store.fetchall(self.q.versions, (arn,))]

    async def add_version(self, policy: PolicyRow, document: str, now_ms: int, make_default: bool,
                          most: int) -> int | None:
        """A new version numbered ``policy.next_version``: its number, or None when another request took
        that number first. -1 when the policy has ``most`` versions already."""
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.count_versions, (policy.arn,))
            if _count(row) >= most:
                return -1
            if await tx.execute(self.q.advance_version, (now_ms, policy.arn, policy.next_version)) == 0:
                return None
            await tx.execute(self.q.insert_version, (policy.arn, policy.next_version, document, now_ms))
            if make_default:
                await tx.execute(self.q.set_default_version, (policy.next_version, now_ms, policy.arn))
        return policy.next_version

    async def delete_version(self, arn: str, version: int) -> int:
        return await self.store.execute(self.q.delete_version, (arn, version))

    async def set_default_version(self, arn: str, version: int, now_ms: int) -> None:
        await self.store.execute(self.q.set_default_version, (version, now_ms, arn))

    # == attachments ===========================================================================
    async def attach(self, account: str, kind: str, owner_key: str, arn: str) -> None:
        await self.store.execute(self.q.attach, (account, kind, owner_key, arn))

    async def detach(self, account: str, kind: str, owner_key: str, arn: str) -> int:
        return await self.store.execute(self.q.detach, (account, kind, owner_key, arn))

    async def attached(self, account: str, kind: str, owner_key: str, after: str = "",
                       limit: int | None = None) -> list[str]:
        if limit is None:
            rows = await self.store.fetchall(self.q.attached_all, (account, kind, owner_key))
        else:
            rows = await self.store.fetchall(self.q.attached_page, (account, kind, owner_key, after, limit))
        return [str(r[0]) for r in rows]

    async def count_attached(self, account: str, kind: str, owner_key: str) -> int:
        return await self._count(self.q.count_attached, (account, kind, owner_key))

    async def count_attachments(self, account: str, arn: str) -> int:
        return await self._count(self.q.count_attachments, (account, arn))

    async def attachment_counts(self, account: str) -> dict[str, int]:
        return {str(a): int(n) for a, n in await self.store.fetchall(self.q.attached_policy_arns, (account,))}

    async def entities_of_policy(self, account: str, arn: str) -> list[tuple[str, str]]:
        return [(str(k), str(o)) for k, o in await self.store.fetchall(self.q.entities_of_policy, (account, arn))]

    async def count_boundary_uses(self, account: str, arn: str) -> int:
        return (await self._count(self.q.count_boundary_users, (account, arn))
                + await self._count(self.q.count_boundary_roles, (account, arn)))

    # == tags ==================================================================================
    async def _put_tags(self, tx: Tx, account: str, kind: str, owner_key: str,
                        tags: Iterable[tuple[str, str]]) -> None:
        rows = [(account, kind, owner_key, k.lower(), k, v) for k, v in tags]
        if rows:
            await tx.executemany(self.q.put_tag, rows)

    async def tags(self, account: str, kind: str, owner_key: str) -> list[tuple[str, str]]:
        rows = await self.store.fetchall(self.q.tags, (account, kind, owner_key))
        return [(str(k), str(v)) for k, v in rows]

    async def tags_page(self, account: str, kind: str, owner_key: str, after: str,
                        limit: int) -> list[tuple[str, str, str]]:
        rows = await self.store.fetchall(self.q.tags_page, (account, kind, owner_key, after, limit))
        return [(str(k), str(v), str(lk)) for k, v, lk in rows]

    async def count_tags(self, account: str, kind: str, owner_key: str) -> int:
        return await self._count(self.q.count_tags, (account, kind, owner_key))

    async def put_tags(self, account: str, kind: str, owner_key: str, tags: Iterable[tuple[str, str]]) -> None:
        async with self.store.transaction() as tx:
            await self._put_tags(tx, account, kind, owner_key, tags)

    async def delete_tags(self, account: str, kind: str, owner_key: str, keys: Iterable[str]) -> None:
        rows = [(account, kind, owner_key, k.lower()) for k in keys]
        if rows:
            async with self.store.transaction() as tx:
                await tx.executemany(self.q.delete_tag, rows)

    # == OpenID Connect providers =============================================================
    async def create_oidc(self, row: OidcRow, tags: Iterable[tuple[str, str]] = ()) -> None:
        """ConstraintViolation when the account has a provider for that URL already."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_oidc, row)
            await self._put_tags(tx, row.account, OIDC, row.arn, tags)

    async def oidc(self, arn: str) -> OidcRow | None:
        row = await self.store.fetchone(self.q.oidc, (arn,))
        return OidcRow._make(row) if row is not None else None

    async def oidc_of_account(self, account: str) -> list[OidcRow]:
        return [OidcRow._make(r) for r in await self.store.fetchall(self.q.oidc_of_account, (account,))]

    async def update_oidc(self, arn: str, client_ids: str, thumbprints: str) -> None:
        await self.store.execute(self.q.update_oidc, (client_ids, thumbprints, arn))

    async def delete_oidc(self, account: str, arn: str) -> int:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_tags_of, (account, OIDC, arn))
            return await tx.execute(self.q.delete_oidc, (arn,))

    # == STS sessions ==========================================================================
    async def create_session(self, session: SessionRow) -> None:
        await self.store.execute(self.q.insert_session, session)

    async def session(self, access_key_id: str) -> SessionRow | None:
        row = await self.store.fetchone(self.q.session, (access_key_id,))
        return SessionRow._make(row) if row is not None else None

    async def delete_expired_sessions(self, before_ms: int) -> int:
        return await self.store.execute(self.q.delete_expired_sessions, (before_ms,))
