"""Inline policies of users, groups and roles; managed policies (customer and AWS managed), their
versions (at most five, one the default) and their attachments."""

from __future__ import annotations

import re
from typing import Any

from tsunagi.protocol.errors import AccessDenied
from tsunagi.services.base import RequestContext
from tsunagi.services.iam import errors, managed, names
from tsunagi.services.iam.core import (
    MANAGED_POLICIES_PER_ENTITY,
    POLICIES,
    VERSIONS_PER_POLICY,
    IamCore,
    ms_to_dt,
)
from tsunagi.services.iam.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.iam import GROUP, POLICY, ROLE, USER, PolicyRow

_VERSION = re.compile(r"v([1-9][0-9]*)(?:\.[A-Za-z0-9-]*)?")
_QUOTA = {USER: "PoliciesPerUser", GROUP: "PoliciesPerGroup", ROLE: "PoliciesPerRole"}
_OWNER_PARAM = {USER: "UserName", GROUP: "GroupName", ROLE: "RoleName"}


def _path_of_arn(arn: str) -> str:
    resource = arn.split(":", 5)[5]                    # policy/path/name
    inner = resource[len("policy"):]
    return inner[: inner.rfind("/") + 1]


def _name_of_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class PolicyOps(IamCore):
    """Inline and managed policies, versions, attachments."""

    async def _owner(self, ctx: RequestContext, kind: str, params: dict[str, Any], *, writing: bool) -> tuple[str, str]:
        """(name_key, name) of the user, group or role a policy call names."""
        name: str = params[_OWNER_PARAM[kind]]
        if kind == USER:
            user = await self.user_or_fail(ctx.account, name)
            return user.name_key, user.name
        if kind == GROUP:
            group = await self.group_or_fail(ctx.account, name)
            return group.name_key, group.name
        role = await self.role_or_fail(ctx.account, name)
        if writing and role.service:
            raise errors.protected_role(role.name)
        return role.name_key, role.name

    # == inline policies =======================================================================
    async def _put_inline(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, owner_name = await self._owner(ctx, kind, params, writing=True)
        policy_name: str = params["PolicyName"]
        document: str = params["PolicyDocument"]
        self.check_document(document, limits=None)
        await self.check_inline_size(ctx.account, kind, owner_key, owner_name, policy_name, document)
        await self.repo.put_inline(ctx.account, kind, owner_key, policy_name, document)
        self.changed(POLICIES)
        return {}

    async def _get_inline(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, owner_name = await self._owner(ctx, kind, params, writing=False)
        policy_name: str = params["PolicyName"]
        document = await self.repo.inline(ctx.account, kind, owner_key, policy_name)
        if document is None:
            raise errors.no_such_inline(kind, policy_name)
        return {_OWNER_PARAM[kind]: owner_name, "PolicyName": policy_name,
                "PolicyDocument": self.document_of(document)}

    async def _list_inline(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, _ = await self._owner(ctx, kind, params, writing=False)
        limit = self.max_items(params)
        found = await self.repo.inline_names(ctx.account, kind, owner_key, names.from_marker(params.get("Marker")),
                                             limit + 1)
        return names.page(list(found), limit, found[limit - 1] if len(found) > limit else None,  # type: ignore[arg-type]
                          "PolicyNames")

    async def _delete_inline(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, _ = await self._owner(ctx, kind, params, writing=True)
        policy_name: str = params["PolicyName"]
        if not await self.repo.delete_inline(ctx.account, kind, owner_key, policy_name):
            raise errors.no_such_inline(kind, policy_name)
        self.changed(POLICIES)
        return {}

    async def put_user_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._put_inline(ctx, USER, params)

    async def put_group_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._put_inline(ctx, GROUP, params)

    async def put_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._put_inline(ctx, ROLE, params)

    async def get_user_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._get_inline(ctx, USER, params)

    async def get_group_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._get_inline(ctx, GROUP, params)

    async def get_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._get_inline(ctx, ROLE, params)

    async def list_user_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list_inline(ctx, USER, params)

    async def list_group_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list_inline(ctx, GROUP, params)

    async def list_role_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list_inline(ctx, ROLE, params)

    async def delete_user_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._delete_inline(ctx, USER, params)

    async def delete_group_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._delete_inline(ctx, GROUP, params)

    async def delete_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._delete_inline(ctx, ROLE, params)

    # == managed policies ======================================================================
    async def _local_policy(self, ctx: RequestContext, arn: str) -> PolicyRow:
        row = await self.repo.policy(arn)
        if row is None or row.account != ctx.account:
            raise errors.no_such_policy(arn)
        return row

    def _not_aws(self, ctx: RequestContext, arn: str, action: str) -> None:
        if arn.startswith(names.AWS_POLICY_PREFIX):
            raise AccessDenied(f"User: {ctx.principal_arn} is not authorized to perform: iam:{action} on resource: "
                               f"policy {arn}")

    async def create_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["PolicyName"]
        document: str = params["PolicyDocument"]
        path = self.path_of(params)
        tags = self.tag_pairs(params)
        self.check_document(document)
        now = self.clock.now_ms()
        row = PolicyRow(names.arn(ctx.account, "policy", path, name), ctx.account, names.key(name), name,
                        names.unique_id(names.POLICY_ID), path, params.get("Description"), now, now, 1, 2)
        try:
            await self.repo.create_policy(row, document, tags)
        except ConstraintViolation:
            raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.") \
                from None
        return {"Policy": self.policy_out(row, 0, tags)}

    async def get_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        attachments = await self.repo.count_attachments(ctx.account, arn)
        aws = managed.BY_ARN.get(arn)
        if aws is not None:
            return {"Policy": self._aws_out(aws, attachments)}
        if arn.startswith(names.AWS_POLICY_PREFIX):
            raise errors.no_such_policy(arn)
        row = await self._local_policy(ctx, arn)
        out = self.policy_out(row, attachments, await self.repo.tags(ctx.account, POLICY, arn))
        out["PermissionsBoundaryUsageCount"] = await self.repo.count_boundary_uses(ctx.account, arn)
        return {"Policy": out}

    @staticmethod
    def _aws_out(aws: managed.AwsPolicy, attachments: int) -> dict[str, Any]:
        return {"PolicyName": aws.name, "PolicyId": aws.policy_id, "Arn": aws.arn, "Path": aws.path,
                "DefaultVersionId": "v1", "AttachmentCount": attachments, "PermissionsBoundaryUsageCount": 0,
                "IsAttachable": True, "Description": aws.description,
                "CreateDate": ms_to_dt(managed.CREATED_MS), "UpdateDate": ms_to_dt(managed.CREATED_MS)}

    async def list_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        scope = params.get("Scope") or "All"
        only_attached = bool(params.get("OnlyAttached"))
        prefix = self.path_of(params, "PathPrefix")
        counts = await self.repo.attachment_counts(ctx.account)
        found: list[tuple[str, dict[str, Any]]] = []
        if scope in ("All", "AWS"):
            for aws in managed.ALL:
                if aws.path.startswith(prefix) and (not only_attached or counts.get(aws.arn)):
                    found.append((f"{aws.name.lower()}\x00{aws.arn}", self._aws_out(aws, counts.get(aws.arn, 0))))
        if scope in ("All", "Local"):
            for row in await self.repo.policies(ctx.account, "", prefix, 100_000):
                if not only_attached or counts.get(row.arn):
                    found.append((f"{row.name_key}\x00{row.arn}", self.policy_out(row, counts.get(row.arn, 0))))
        found.sort(key=lambda item: item[0])
        after = names.from_marker(params.get("Marker"))
        shown = [item for item in found if item[0] > after]
        limit = self.max_items(params)
        return names.page([out for _, out in shown[:limit + 1]], limit,
                          shown[limit - 1][0] if len(shown) > limit else None, "Policies")

    async def delete_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        self._not_aws(ctx, arn, "DeletePolicy")
        row = await self._local_policy(ctx, arn)
        if await self.repo.count_attachments(ctx.account, arn) or await self.repo.count_boundary_uses(ctx.account, arn):
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        if len(await self.repo.versions(arn)) > 1:
            raise DeleteConflict("This policy has more than one version. Before you delete a policy, you must delete "
                                 "the policy's versions. The default version is deleted with the policy.")
        await self.repo.delete_policy(row.account, arn)
        return {}

    async def list_entities_for_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        if arn not in managed.BY_ARN:
            await self._local_policy(ctx, arn)
        wanted = params.get("EntityFilter")
        out: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": [], "IsTruncated": False}
        for kind, key in await self.repo.entities_of_policy(ctx.account, arn):
            if kind == USER and wanted in (None, "User"):
                user = await self.repo.user(ctx.account, key)
                if user is not None:
                    out["PolicyUsers"].append({"UserName": user.name, "UserId": user.user_id})
            elif kind == GROUP and wanted in (None, "Group"):
                group = await self.repo.group(ctx.account, key)
                if group is not None:
                    out["PolicyGroups"].append({"GroupName": group.name, "GroupId": group.group_id})
            elif kind == ROLE and wanted in (None, "Role"):
                role = await self.repo.role(ctx.account, key)
                if role is not None:
                    out["PolicyRoles"].append({"RoleName": role.name, "RoleId": role.role_id})
        return out

    # == versions ==============================================================================
    @staticmethod
    def _version_number(arn: str, version_id: str) -> int:
        m = _VERSION.fullmatch(version_id)
        if m is None:
            raise errors.no_such_version(arn, version_id)
        return int(m.group(1))

    async def create_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        self._not_aws(ctx, arn, "CreatePolicyVersion")
        document: str = params["PolicyDocument"]
        self.check_document(document)
        make_default = bool(params.get("SetAsDefault"))
        now = self.clock.now_ms()
        for _ in range(5):
            row = await self._local_policy(ctx, arn)
            number = await self.repo.add_version(row, document, now, make_default, VERSIONS_PER_POLICY)
            if number == -1:
                raise LimitExceeded(f"A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you "
                                    "create a new version, you must delete an existing version.")
            if number is not None:
                if make_default:
                    self.changed(POLICIES)
                return {"PolicyVersion": {"VersionId": f"v{number}", "IsDefaultVersion": make_default,
                                          "CreateDate": ms_to_dt(now)}}
        raise errors.ServiceError("The policy was changed by another request at the same time; try again.",
                                  code="ConcurrentModification", status=409)

    async def get_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        version_id: str = params["VersionId"]
        aws = managed.BY_ARN.get(arn)
        if aws is not None:
            if version_id != "v1":
                raise errors.no_such_version(arn, version_id)
            return {"PolicyVersion": {"Document": self.document_of(aws.document), "VersionId": "v1",
                                      "IsDefaultVersion": True, "CreateDate": ms_to_dt(managed.CREATED_MS)}}
        if arn.startswith(names.AWS_POLICY_PREFIX):
            raise errors.no_such_policy(arn)
        row = await self._local_policy(ctx, arn)
        number = self._version_number(arn, version_id)
        version = await self.repo.version(arn, number)
        if version is None:
            raise errors.no_such_version(arn, version_id)
        return {"PolicyVersion": {"Document": self.document_of(version.document), "VersionId": f"v{number}",
                                  "IsDefaultVersion": number == row.default_version,
                                  "CreateDate": ms_to_dt(version.created_at)}}

    async def list_policy_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        aws = managed.BY_ARN.get(arn)
        if aws is not None:
            return {"Versions": [{"VersionId": "v1", "IsDefaultVersion": True,
                                  "CreateDate": ms_to_dt(managed.CREATED_MS)}], "IsTruncated": False}
        if arn.startswith(names.AWS_POLICY_PREFIX):
            raise errors.no_such_policy(arn)
        row = await self._local_policy(ctx, arn)
        items: list[dict[str, object]] = [
            {"VersionId": f"v{v.version}", "IsDefaultVersion": v.version == row.default_version,
             "CreateDate": ms_to_dt(v.created_at)} for v in await self.repo.versions(arn)]
        return {"Versions": items, "IsTruncated": False}

    async def delete_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        self._not_aws(ctx, arn, "DeletePolicyVersion")
        row = await self._local_policy(ctx, arn)
        version_id: str = params["VersionId"]
        number = self._version_number(arn, version_id)
        if number == row.default_version:
            raise DeleteConflict("Cannot delete the default version of a policy.")
        if not await self.repo.delete_version(arn, number):
            raise errors.no_such_version(arn, version_id)
        return {}

    async def set_default_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn: str = params["PolicyArn"]
        self._not_aws(ctx, arn, "SetDefaultPolicyVersion")
        await self._local_policy(ctx, arn)
        version_id: str = params["VersionId"]
        number = self._version_number(arn, version_id)
        if await self.repo.version(arn, number) is None:
            raise errors.no_such_version(arn, version_id)
        await self.repo.set_default_version(arn, number, self.clock.now_ms())
        self.changed(POLICIES)
        return {}

    # == attachments ===========================================================================
    async def _attach(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, _ = await self._owner(ctx, kind, params, writing=True)
        arn: str = params["PolicyArn"]
        if not await self.managed_exists(ctx.account, arn):
            raise errors.no_such_policy(arn)
        attached = await self.repo.attached(ctx.account, kind, owner_key)
        if arn not in attached:
            if len(attached) >= MANAGED_POLICIES_PER_ENTITY:
                raise errors.quota(_QUOTA[kind], MANAGED_POLICIES_PER_ENTITY)
            await self.repo.attach(ctx.account, kind, owner_key, arn)
            self.changed(POLICIES)
        return {}

    async def _detach(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, _ = await self._owner(ctx, kind, params, writing=True)
        arn: str = params["PolicyArn"]
        if not await self.repo.detach(ctx.account, kind, owner_key, arn):
            raise errors.not_attached(arn)
        self.changed(POLICIES)
        return {}

    async def _list_attached(self, ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        owner_key, _ = await self._owner(ctx, kind, params, writing=False)
        prefix = self.path_of(params, "PathPrefix")
        limit = self.max_items(params)
        arns = [a for a in await self.repo.attached(ctx.account, kind, owner_key, names.from_marker(params.get("Marker")),
                                                    100_000) if _path_of_arn(a).startswith(prefix)]
        items: list[dict[str, object]] = [{"PolicyName": _name_of_arn(a), "PolicyArn": a} for a in arns[:limit + 1]]
        return names.page(items, limit, arns[limit - 1] if len(arns) > limit else None, "AttachedPolicies")

    async def attach_user_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._attach(ctx, USER, params)

    async def attach_group_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._attach(ctx, GROUP, params)

    async def attach_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._attach(ctx, ROLE, params)

    async def detach_user_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._detach(ctx, USER, params)

    async def detach_group_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._detach(ctx, GROUP, params)

    async def detach_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._detach(ctx, ROLE, params)

    async def list_attached_user_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list_attached(ctx, USER, params)

    async def list_attached_group_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list_attached(ctx, GROUP, params)

    async def list_attached_role_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._list_attached(ctx, ROLE, params)


__all__ = ["NoSuchEntity", "PolicyOps"]
