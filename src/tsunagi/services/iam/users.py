"""IAM users, groups and membership, access keys and login profiles."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from tsunagi.ports.iam import Credentials
from tsunagi.services.base import RequestContext
from tsunagi.services.iam import errors, names
from tsunagi.services.iam.core import (
    ACCESS_KEYS_PER_USER,
    ALL_KEYS,
    GROUPS_PER_USER,
    POLICIES,
    IamCore,
    ms_to_dt,
)
from tsunagi.services.iam.errors import EntityAlreadyExists, NoSuchEntity, PasswordPolicyViolation
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.iam import GROUP, USER, AccessKeyRow, GroupRow, LoginRow, UserRow

ROOT_USER_NAME = "root"      # what an access key of the account's root answers as its UserName
MIN_PASSWORD = 8             # the default account password policy's minimum length


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


class UserOps(IamCore):
    """Users, groups, access keys, login profiles."""

    # == users =================================================================================
    async def create_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["UserName"]
        path = self.path_of(params)
        tags = self.tag_pairs(params)
        boundary = params.get("PermissionsBoundary")
        if boundary is not None:
            await self.boundary_policy(ctx.account, boundary)
        row = UserRow(ctx.account, names.key(name), name, names.unique_id(names.USER_ID), path,
                      self.clock.now_ms(), boundary)
        try:
            await self.repo.create_user(row, tags)
        except ConstraintViolation:
            raise errors.exists("user", name) from None
        return {"User": self.user_out(row, tags)}

    async def get_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, row = await self.target_user(ctx, params)
        if row is None:      # the account's root user
            return {"User": {"UserId": ctx.account, "Arn": f"arn:aws:iam::{ctx.account}:root",
                             "CreateDate": ms_to_dt(0)}}
        out = self.user_out(row, await self.repo.tags(row.account, USER, row.name_key))
        return {"User": out}

    async def list_users(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = self.max_items(params)
        rows = await self.repo.users(ctx.account, names.from_marker(params.get("Marker")),
                                     self.path_of(params, "PathPrefix"), limit + 1)
        return names.page([self.user_out(r) for r in rows], limit,
                          rows[limit - 1].name_key if len(rows) > limit else None, "Users")

    async def update_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.user_or_fail(ctx.account, params["UserName"])
        new_name: str = params.get("NewUserName") or row.name
        path: str = params.get("NewPath") or row.path
        try:
            await self.repo.rename_user(ctx.account, row.name_key, names.key(new_name), new_name, path)
        except ConstraintViolation:
            raise errors.exists("user", new_name) from None
        self.changed(ALL_KEYS, POLICIES)
        return {}

    async def delete_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.user_or_fail(ctx.account, params["UserName"])
        account, key = row.account, row.name_key
        if await self.repo.login(account, key) is not None:
            raise errors.delete_conflict("delete login profile")
        if await self.repo.count_keys(account, key):
            raise errors.delete_conflict("delete access keys")
        if await self.repo.count_groups_of_user(account, key):
            raise errors.delete_conflict("remove users from group")
        if await self.repo.count_inline(account, USER, key):
            raise errors.delete_conflict("delete policies")
        if await self.repo.count_attached(account, USER, key):
            raise errors.delete_conflict("detach all policies")
        await self.repo.delete_user(account, key)
        self.changed(ALL_KEYS, POLICIES)
        return {}

    async def put_user_permissions_boundary(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.user_or_fail(ctx.account, params["UserName"])
        await self.boundary_policy(ctx.account, params["PermissionsBoundary"])
        await self.repo.set_user_boundary(ctx.account, row.name_key, params["PermissionsBoundary"])
        self.changed(POLICIES)
        return {}

    async def delete_user_permissions_boundary(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.user_or_fail(ctx.account, params["UserName"])
        await self.repo.set_user_boundary(ctx.account, row.name_key, None)
        self.changed(POLICIES)
        return {}

    # == groups ================================================================================
    async def create_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["GroupName"]
        row = GroupRow(ctx.account, names.key(name), name, names.unique_id(names.GROUP_ID), self.path_of(params),
                       self.clock.now_ms())
        try:
            await self.repo.create_group(row)
        except ConstraintViolation:
            raise errors.exists("group", name) from None
        return {"Group": self.group_out(row)}

    async def get_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self.group_or_fail(ctx.account, params["GroupName"])
        limit = self.max_items(params)
        rows = await self.repo.members(ctx.account, group.name_key, names.from_marker(params.get("Marker")), limit + 1)
        out = names.page([self.user_out(r) for r in rows], limit,
                         rows[limit - 1].name_key if len(rows) > limit else None, "Users")
        out["Group"] = self.group_out(group)
        return out

    async def list_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = self.max_items(params)
        rows = await self.repo.groups(ctx.account, names.from_marker(params.get("Marker")),
                                      self.path_of(params, "PathPrefix"), limit + 1)
        return names.page([self.group_out(r) for r in rows], limit,
                          rows[limit - 1].name_key if len(rows) > limit else None, "Groups")

    async def update_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.group_or_fail(ctx.account, params["GroupName"])
        new_name: str = params.get("NewGroupName") or row.name
        path: str = params.get("NewPath") or row.path
        try:
            await self.repo.rename_group(ctx.account, row.name_key, names.key(new_name), new_name, path)
        except ConstraintViolation:
            raise errors.exists("group", new_name) from None
        self.changed(POLICIES)
        return {}

    async def delete_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.group_or_fail(ctx.account, params["GroupName"])
        if await self.repo.count_members(ctx.account, row.name_key):
            raise errors.delete_conflict("remove users from group")
        if await self.repo.count_inline(ctx.account, GROUP, row.name_key):
            raise errors.delete_conflict("delete policies")
        if await self.repo.count_attached(ctx.account, GROUP, row.name_key):
            raise errors.delete_conflict("detach all policies")
        await self.repo.delete_group(ctx.account, row.name_key)
        return {}

    async def add_user_to_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self.group_or_fail(ctx.account, params["GroupName"])
        user = await self.user_or_fail(ctx.account, params["UserName"])
        current = await self.repo.groups_of_user(ctx.account, user.name_key, "", GROUPS_PER_USER + 1)
        if all(g.name_key != group.name_key for g in current):
            if len(current) >= GROUPS_PER_USER:
                raise errors.quota("GroupsPerUser", GROUPS_PER_USER)
            await self.repo.add_member(ctx.account, group.name_key, user.name_key)
            self.changed(POLICIES)
        return {}

    async def remove_user_from_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self.group_or_fail(ctx.account, params["GroupName"])
        user = await self.user_or_fail(ctx.account, params["UserName"])
        if not await self.repo.remove_member(ctx.account, group.name_key, user.name_key):
            raise NoSuchEntity(f"The user with name {user.name} cannot be found in group {group.name}.")
        self.changed(POLICIES)
        return {}

    async def list_groups_for_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user = await self.user_or_fail(ctx.account, params["UserName"])
        limit = self.max_items(params)
        rows = await self.repo.groups_of_user(ctx.account, user.name_key, names.from_marker(params.get("Marker")),
                                              limit + 1)
        return names.page([self.group_out(r) for r in rows], limit,
                          rows[limit - 1].name_key if len(rows) > limit else None, "Groups")

    # == access keys ===========================================================================
    async def create_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, user = await self.target_user(ctx, params)
        if await self.repo.count_keys(ctx.account, user_key) >= ACCESS_KEYS_PER_USER:
            raise errors.quota("AccessKeysPerUser", ACCESS_KEYS_PER_USER)
        key_id, secret = names.access_key_id(names.LONG_TERM, ctx.account), names.secret_access_key()
        row = AccessKeyRow(key_id, ctx.account, user_key, await self.seal_secret(f"{key_id}/secret", secret),
                           "Active", self.clock.now_ms(), None, None, None)
        await self.repo.create_key(row)
        self.changed(row.access_key_id)
        return {"AccessKey": {"UserName": user.name if user else ROOT_USER_NAME, "AccessKeyId": row.access_key_id,
                              "Status": row.status, "SecretAccessKey": secret,
                              "CreateDate": ms_to_dt(row.created_at)}}

    async def list_access_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, user = await self.target_user(ctx, params)
        limit = self.max_items(params)
        rows = await self.repo.keys_of_user(ctx.account, user_key, names.from_marker(params.get("Marker")), limit + 1)
        shown = user.name if user else ROOT_USER_NAME
        items: list[dict[str, object]] = [
            {"UserName": shown, "AccessKeyId": r.access_key_id, "Status": r.status,
             "CreateDate": ms_to_dt(r.created_at)} for r in rows]
        return names.page(items, limit, rows[limit - 1].access_key_id if len(rows) > limit else None,
                          "AccessKeyMetadata")

    async def update_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, _ = await self.target_user(ctx, params)
        key_id: str = params["AccessKeyId"]
        status: str = params["Status"]
        if status not in ("Active", "Inactive"):
            raise errors.constraint(status, "status", "Member must satisfy enum value set: [Active, Inactive]")
        if not await self.repo.set_key_status(key_id, ctx.account, user_key, status):
            raise errors.no_such_key(key_id)
        self.changed(key_id)
        return {}

    async def delete_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, _ = await self.target_user(ctx, params)
        key_id: str = params["AccessKeyId"]
        if not await self.repo.delete_key(key_id, ctx.account, user_key):
            raise errors.no_such_key(key_id)
        self.changed(key_id)
        return {}

    async def get_access_key_last_used(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key_id: str = params["AccessKeyId"]
        row = await self.repo.key(key_id)
        if row is None or row.account != ctx.account:
            raise errors.no_such_key(key_id)
        user = await self.repo.user(row.account, row.user_key) if row.user_key else None
        last: dict[str, Any] = {"ServiceName": row.last_used_service or "N/A",
                                "Region": row.last_used_region or "N/A"}
        if row.last_used_at is not None:
            last["LastUsedDate"] = ms_to_dt(row.last_used_at)
        return {"UserName": user.name if user else ROOT_USER_NAME, "AccessKeyLastUsed": last}

    async def key_credentials(self, key_id: str) -> Credentials | None:
        """A long-term key as the authenticator needs it."""
        row = await self.repo.key(key_id)
        if row is None:
            return None
        secret = await self.open_secret(f"{key_id}/secret", row.secret)
        if not row.user_key:
            return Credentials(key_id, secret, None, row.account, f"arn:aws:iam::{row.account}:root",
                               row.account, None, row.status == "Active")
        user = await self.repo.user(row.account, row.user_key)
        if user is None:
            return None
        return Credentials(key_id, secret, None, row.account,
                           names.arn(user.account, "user", user.path, user.name), user.user_id, None,
                           row.status == "Active")

    # == login profiles ========================================================================
    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise PasswordPolicyViolation(f"Password should have a minimum length of {MIN_PASSWORD}")

    async def create_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, user = await self.target_user(ctx, params)
        if user is None:
            raise errors.ValidationError("The root user has no login profile to create: sign in with its e-mail.")
        password = params.get("Password")
        if password is None:
            raise errors.ValidationError("1 validation error detected: Value null at 'password' failed to satisfy "
                                         "constraint: Member must not be null")
        self._check_password(password)
        row = LoginRow(ctx.account, user_key, hash_password(password), int(bool(params.get("PasswordResetRequired"))),
                       self.clock.now_ms())
        try:
            await self.repo.create_login(row)
        except ConstraintViolation:
            raise EntityAlreadyExists(f"Login Profile for user {user.name} already exists.") from None
        return {"LoginProfile": {"UserName": user.name, "CreateDate": ms_to_dt(row.created_at),
                                 "PasswordResetRequired": bool(row.reset_required)}}

    async def get_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, user = await self.target_user(ctx, params)
        row = await self.repo.login(ctx.account, user_key)
        if row is None or user is None:
            raise errors.no_such_login(user.name if user else ROOT_USER_NAME)
        return {"LoginProfile": {"UserName": user.name, "CreateDate": ms_to_dt(row.created_at),
                                 "PasswordResetRequired": bool(row.reset_required)}}

    async def update_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, user = await self.target_user(ctx, params)
        password = params.get("Password")
        if password is not None:
            self._check_password(password)
        reset = params.get("PasswordResetRequired")
        done = await self.repo.update_login(ctx.account, user_key, hash_password(password) if password else None,
                                            None if reset is None else int(bool(reset)))
        if not done:
            raise errors.no_such_login(user.name if user else ROOT_USER_NAME)
        return {}

    async def delete_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_key, user = await self.target_user(ctx, params)
        if not await self.repo.delete_login(ctx.account, user_key):
            raise errors.no_such_login(user.name if user else ROOT_USER_NAME)
        return {}
