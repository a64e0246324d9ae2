"""The account as a whole: GetAccountAuthorizationDetails (every user, group, role and managed policy
with the policies that apply to it, what audit tools read) and GetAccountSummary (counts and quotas)."""

from __future__ import annotations

from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.iam import errors, managed, names
from tsunagi.services.iam.core import (
    ACCESS_KEYS_PER_USER,
    GROUPS_PER_USER,
    MANAGED_POLICIES_PER_ENTITY,
    VERSIONS_PER_POLICY,
    IamCore,
    ms_to_dt,
)
from tsunagi.store.iam import GROUP, ROLE, USER

_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")
_ALL = 100_000


def _attached(arns: list[str]) -> list[dict[str, str]]:
    return [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in arns]


class AccountOps(IamCore):
    async def _inline(self, account: str, kind: str, key: str) -> list[dict[str, str]]:
        return [{"PolicyName": n, "PolicyDocument": self.document_of(d)}
                for n, d in await self.repo.inline_documents(account, kind, key)]

    async def get_account_authorization_details(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        wanted = set(params.get("Filter") or _FILTERS)
        account = ctx.account
        items: list[tuple[str, dict[str, Any]]] = []
        if "User" in wanted:
            for user in await self.repo.users(account, "", "/", _ALL):
                out = self.user_out(user, await self.repo.tags(account, USER, user.name_key))
                out["UserPolicyList"] = await self._inline(account, USER, user.name_key)
                out["GroupList"] = [g.name for g in await self.repo.groups_of_user(account, user.name_key, "", _ALL)]
                out["AttachedManagedPolicies"] = _attached(await self.repo.attached(account, USER, user.name_key))
                items.append(("UserDetailList", out))
        if "Group" in wanted:
            for group in await self.repo.groups(account, "", "/", _ALL):
                out = self.group_out(group)
                out["GroupPolicyList"] = await self._inline(account, GROUP, group.name_key)
                out["AttachedManagedPolicies"] = _attached(await self.repo.attached(account, GROUP, group.name_key))
                items.append(("GroupDetailList", out))
        if "Role" in wanted:
            for role in await self.repo.roles(account, "", "/", _ALL):
                out = self.role_out(role, await self.repo.tags(account, ROLE, role.name_key))
                out["RolePolicyList"] = await self._inline(account, ROLE, role.name_key)
                out["AttachedManagedPolicies"] = _attached(await self.repo.attached(account, ROLE, role.name_key))
                out["InstanceProfileList"] = [await self.profile_out(p) for p in
                                              await self.repo.profiles_of_role(account, role.name_key, "", _ALL)]
                items.append(("RoleDetailList", out))
        counts = await self.repo.attachment_counts(account)
        if "AWSManagedPolicy" in wanted:
            for aws in managed.ALL:
                if counts.get(aws.arn):
                    items.append(("Policies", {
                        "PolicyName": aws.name, "PolicyId": aws.policy_id, "Arn": aws.arn, "Path": aws.path,
                        "DefaultVersionId": "v1", "AttachmentCount": counts[aws.arn],
                        "PermissionsBoundaryUsageCount": 0, "IsAttachable": True, "Description": aws.description,
                        "CreateDate": ms_to_dt(managed.CREATED_MS), "UpdateDate": ms_to_dt(managed.CREATED_MS),
                        "PolicyVersionList": [{"Document": self.document_of(aws.document), "VersionId": "v1",
                                               "IsDefaultVersion": True,
                                               "CreateDate": ms_to_dt(managed.CREATED_MS)}]}))
        if "LocalManagedPolicy" in wanted:
            for policy in await self.repo.policies(account, "", "/", _ALL):
                out = self.policy_out(policy, counts.get(policy.arn, 0))
                out["PermissionsBoundaryUsageCount"] = await self.repo.count_boundary_uses(account, policy.arn)
                out["PolicyVersionList"] = [
                    {"Document": self.document_of(v.document), "VersionId": f"v{v.version}",
                     "IsDefaultVersion": v.version == policy.default_version, "CreateDate": ms_to_dt(v.created_at)}
                    for v in await self.repo.versions(policy.arn)]
                items.append(("Policies", out))
        after = names.from_marker(params.get("Marker")) or "0"
        if not after.isdigit():
            raise errors.invalid_marker()
        start, limit = int(after), self.max_items(params)
        result: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
        for list_name, item in items[start:start + limit]:
            result[list_name].append(item)
        result["IsTruncated"] = start + limit < len(items)
        if result["IsTruncated"]:
            result["Marker"] = names.to_marker(str(start + limit))
        return result

    async def get_account_summary(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.account
        users = await self.repo.users(account, "", "/", _ALL)
        counts = await self.repo.attachment_counts(account)
        root_keys = await self.repo.count_keys(account, "")
        summary = {
            "Users": len(users),
            "UsersQuota": 5000,
            "Groups": len(await self.repo.groups(account, "", "/", _ALL)),
            "GroupsQuota": 300,
            "Roles": len(await self.repo.roles(account, "", "/", _ALL)),
            "RolesQuota": 1000,
            "InstanceProfiles": len(await self.repo.profiles(account, "", "/", _ALL)),
            "InstanceProfilesQuota": 1000,
            "Policies": len(await self.repo.policies(account, "", "/", _ALL)),
            "PoliciesQuota": 1500,
            "PolicySizeQuota": 6144,
            "PolicyVersionsInUse": len(counts),
            "PolicyVersionsInUseQuota": 10000,
            "VersionsPerPolicyQuota": VERSIONS_PER_POLICY,
            "AttachedPoliciesPerUserQuota": MANAGED_POLICIES_PER_ENTITY,
            "AttachedPoliciesPerGroupQuota": MANAGED_POLICIES_PER_ENTITY,
            "AttachedPoliciesPerRoleQuota": MANAGED_POLICIES_PER_ENTITY,
            "GroupsPerUserQuota": GROUPS_PER_USER,
            "AccessKeysPerUserQuota": ACCESS_KEYS_PER_USER,
            "AccountAccessKeysPresent": 1 if root_keys else 0,
            "UserPolicySizeQuota": 2048,
            "GroupPolicySizeQuota": 5120,
            "AssumeRolePolicySizeQuota": 2048,
            "RolePolicySizeQuota": 10240,
            "Providers": len(await self.repo.oidc_of_account(account)),
            "MFADevices": 0,
            "MFADevicesInUse": 0,
            "AccountMFAEnabled": 0,
        }
        return {"SummaryMap": summary}
