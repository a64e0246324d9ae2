"""IAM roles (trust policies, descriptions, session durations, permissions boundaries), service-linked
roles, and instance profiles."""

from __future__ import annotations

import json
from typing import Any

from tsunagi.ids import uuid4
from tsunagi.services.base import RequestContext
from tsunagi.services.iam import errors, names
from tsunagi.services.iam.core import POLICIES, ROLES_PER_PROFILE, IamCore
from tsunagi.services.iam.errors import EntityAlreadyExists, InvalidInput, NoSuchEntity
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.iam import PROFILE, ROLE, ProfileRow, RoleRow

DEFAULT_MAX_SESSION = 3600
SLR_PATH = "/aws-service-role/"

# The service-linked roles of the services users meet most: service principal -> role name.
SERVICE_LINKED: dict[str, str] = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "ecs.amazonaws.com": "AWSServiceRoleForECS",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
    "elasticbeanstalk.amazonaws.com": "AWSServiceRoleForElasticBeanstalk",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
    "apigateway.amazonaws.com": "AWSServiceRoleForAPIGateway",
    "replicator.lambda.amazonaws.com": "AWSServiceRoleForLambdaReplicator",
    "organizations.amazonaws.com": "AWSServiceRoleForOrganizations",
    "support.amazonaws.com": "AWSServiceRoleForSupport",
    "trustedadvisor.amazonaws.com": "AWSServiceRoleForTrustedAdvisor",
    "cloudtrail.amazonaws.com": "AWSServiceRoleForCloudTrail",
    "config.amazonaws.com": "AWSServiceRoleForConfig",
    "guardduty.amazonaws.com": "AWSServiceRoleForAmazonGuardDuty",
    "opensearchservice.amazonaws.com": "AWSServiceRoleForAmazonOpenSearchService",
    "es.amazonaws.com": "AWSServiceRoleForAmazonElasticsearchService",
    "dynamodb.application-autoscaling.amazonaws.com": "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
    "ecs.application-autoscaling.amazonaws.com": "AWSServiceRoleForApplicationAutoScaling_ECSService",
    "events.amazonaws.com": "AWSServiceRoleForCloudWatchEvents",
    "cloudformation.stacksets.amazonaws.com": "AWSServiceRoleForCloudFormationStackSetsOrgAdmin",
}


def service_trust_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}]})


class RoleOps(IamCore):
    """Roles, service-linked roles, instance profiles."""

    async def writable_role(self, account: str, name: str) -> RoleRow:
        """A role the account may change: service-linked roles are AWS's."""
        row = await self.role_or_fail(account, name)
        if row.service:
            raise errors.protected_role(row.name)
        return row

    # == roles =================================================================================
    async def create_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["RoleName"]
        document: str = params["AssumeRolePolicyDocument"]
        path = self.path_of(params)
        if path.startswith(SLR_PATH):
            raise InvalidInput(f"The path {SLR_PATH} is reserved for service-linked roles.")
        tags = self.tag_pairs(params)
        await self.check_trust_policy(document)
        boundary = params.get("PermissionsBoundary")
        if boundary is not None:
            await self.boundary_policy(ctx.account, boundary)
        row = RoleRow(ctx.account, names.key(name), name, names.unique_id(names.ROLE_ID), path, self.clock.now_ms(),
                      document, params.get("Description"), params.get("MaxSessionDuration") or DEFAULT_MAX_SESSION,
                      boundary, None, None, None)
        try:
            await self.repo.create_role(row, tags)
        except ConstraintViolation:
            raise errors.exists("role", name) from None
        return {"Role": self.role_out(row, tags, full=False)}

    async def get_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.role_or_fail(ctx.account, params["RoleName"])
        return {"Role": self.role_out(row, await self.repo.tags(ctx.account, ROLE, row.name_key))}

    async def list_roles(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = self.max_items(params)
        rows = await self.repo.roles(ctx.account, names.from_marker(params.get("Marker")),
                                     self.path_of(params, "PathPrefix"), limit + 1)
        return names.page([self.role_out(r, full=False) for r in rows], limit,
                          rows[limit - 1].name_key if len(rows) > limit else None, "Roles")

    async def update_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.writable_role(ctx.account, params["RoleName"])
        await self.repo.update_role(ctx.account, row.name_key, params.get("Description"),
                                    params.get("MaxSessionDuration"))
        return {}

    async def update_role_description(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.role_or_fail(ctx.account, params["RoleName"])
        await self.repo.update_role(ctx.account, row.name_key, params["Description"], None)
        return await self.get_role(ctx, {"RoleName": row.name})

    async def update_assume_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.writable_role(ctx.account, params["RoleName"])
        document: str = params["PolicyDocument"]
        await self.check_trust_policy(document)
        await self.repo.set_trust_policy(ctx.account, row.name_key, document)
        return {}

    async def delete_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.writable_role(ctx.account, params["RoleName"])
        await self._delete_role(row)
        return {}

    async def _delete_role(self, row: RoleRow) -> None:
        account, key = row.account, row.name_key
        if await self.repo.count_profiles_of_role(account, key):
            raise errors.delete_conflict("remove roles from instance profile")
        if await self.repo.count_inline(account, ROLE, key):
            raise errors.delete_conflict("delete policies")
        if await self.repo.count_attached(account, ROLE, key):
            raise errors.delete_conflict("detach all policies")
        await self.repo.delete_role(account, key)
        self.changed(POLICIES)

    async def put_role_permissions_boundary(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.writable_role(ctx.account, params["RoleName"])
        await self.boundary_policy(ctx.account, params["PermissionsBoundary"])
        await self.repo.set_role_boundary(ctx.account, row.name_key, params["PermissionsBoundary"])
        self.changed(POLICIES)
        return {}

    async def delete_role_permissions_boundary(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.writable_role(ctx.account, params["RoleName"])
        await self.repo.set_role_boundary(ctx.account, row.name_key, None)
        self.changed(POLICIES)
        return {}

    # == service-linked roles ==================================================================
    async def create_service_linked_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        service: str = params["AWSServiceName"]
        base = SERVICE_LINKED.get(service)
        if base is None:
            raise InvalidInput(f"Service-linked roles for {service} are not supported by tsunagi: the services it "
                               f"knows are {', '.join(sorted(SERVICE_LINKED))}.")
        suffix = params.get("CustomSuffix")
        name = f"{base}_{suffix}" if suffix else base
        row = RoleRow(ctx.account, names.key(name), name, names.unique_id(names.ROLE_ID), f"{SLR_PATH}{service}/",
                      self.clock.now_ms(), service_trust_policy(service), params.get("Description"),
                      DEFAULT_MAX_SESSION, None, service, None, None)
        try:
            await self.repo.create_role(row)
        except ConstraintViolation:
            raise InvalidInput(f"Service role name {name} has been taken in this account, please try a different "
                               "suffix.") from None
        return {"Role": self.role_out(row, full=False)}

    async def delete_service_linked_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.role_or_fail(ctx.account, params["RoleName"])
        if not row.service:
            raise errors.ValidationError(f"Role {row.name} is not a service-linked role.")
        await self._delete_role(row)
        return {"DeletionTaskId": f"task{row.path}{row.name}/{uuid4()}"}

    async def get_service_linked_role_deletion_status(self, ctx: RequestContext,
                                                      params: dict[str, Any]) -> dict[str, Any]:
        task: str = params["DeletionTaskId"]
        parts = task.split("/")
        if len(parts) != 5 or parts[0] != "task" or parts[1] != SLR_PATH.strip("/"):
            raise InvalidInput(f"Invalid deletion task id: {task}")
        # deletion is done before DeleteServiceLinkedRole answers: the task has succeeded
        return {"Status": "SUCCEEDED"}

    # == instance profiles =====================================================================
    async def create_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["InstanceProfileName"]
        tags = self.tag_pairs(params)
        row = ProfileRow(ctx.account, names.key(name), name, names.unique_id(names.PROFILE_ID), self.path_of(params),
                         self.clock.now_ms())
        try:
            await self.repo.create_profile(row, tags)
        except ConstraintViolation:
            raise EntityAlreadyExists(f"Instance Profile {name} already exists.") from None
        return {"InstanceProfile": await self.profile_out(row, tags)}

    async def get_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.profile_or_fail(ctx.account, params["InstanceProfileName"])
        return {"InstanceProfile": await self.profile_out(row, await self.repo.tags(ctx.account, PROFILE,
                                                                                     row.name_key))}

    async def list_instance_profiles(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = self.max_items(params)
        rows = await self.repo.profiles(ctx.account, names.from_marker(params.get("Marker")),
                                        self.path_of(params, "PathPrefix"), limit + 1)
        return names.page([await self.profile_out(r) for r in rows],
                          limit, rows[limit - 1].name_key if len(rows) > limit else None, "InstanceProfiles")

    async def list_instance_profiles_for_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        role = await self.role_or_fail(ctx.account, params["RoleName"])
        limit = self.max_items(params)
        rows = await self.repo.profiles_of_role(ctx.account, role.name_key, names.from_marker(params.get("Marker")),
                                                limit + 1)
        return names.page([await self.profile_out(r) for r in rows],
                          limit, rows[limit - 1].name_key if len(rows) > limit else None, "InstanceProfiles")

    async def delete_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.profile_or_fail(ctx.account, params["InstanceProfileName"])
        if await self.repo.profile_role_keys(ctx.account, row.name_key):
            raise errors.delete_conflict("remove roles from instance profile")
        await self.repo.delete_profile(ctx.account, row.name_key)
        return {}

    async def add_role_to_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        profile = await self.profile_or_fail(ctx.account, params["InstanceProfileName"])
        role = await self.role_or_fail(ctx.account, params["RoleName"])
        if len(await self.repo.profile_role_keys(ctx.account, profile.name_key)) >= ROLES_PER_PROFILE:
            raise errors.quota("InstanceSessionsPerInstanceProfile", ROLES_PER_PROFILE)
        await self.repo.add_profile_role(ctx.account, profile.name_key, role.name_key)
        return {}

    async def remove_role_from_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        profile = await self.profile_or_fail(ctx.account, params["InstanceProfileName"])
        role = await self.role_or_fail(ctx.account, params["RoleName"])
        if not await self.repo.remove_profile_role(ctx.account, profile.name_key, role.name_key):
            raise NoSuchEntity(f"The role with name {role.name} cannot be found in instance profile {profile.name}.")
        return {}
