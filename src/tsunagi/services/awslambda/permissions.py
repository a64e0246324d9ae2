"""A function's resource policy: AddPermission, RemovePermission, GetPolicy.

Statements are kept per function (each names its version or alias in ``Resource``); GetPolicy shows
the ones of the qualifier asked for. The policy's revision id guards concurrent changes.
"""

from __future__ import annotations

import uuid
from typing import Any

from tsunagi.context import RequestContext
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog, dumps
from tsunagi.services.awslambda.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from tsunagi.store.awslambda import LambdaRepo

Params = dict[str, Any]
Result = dict[str, Any]

_POLICY_REVISION = ("The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to "
                    "retrieve the latest Revision Id")


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn"):
        return {"Service": principal}
    if principal.isdigit() and len(principal) == 12:
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    return {"AWS": principal}


class Permissions:
    def __init__(self, repo: LambdaRepo, catalog: Catalog) -> None:
        self.repo = repo
        self.catalog = catalog

    async def add_permission(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        if params.get("RevisionId") and params["RevisionId"] != fn.policy_rev:
            raise PreconditionFailed(_POLICY_REVISION, Type="User")
        sid = params["StatementId"]
        if any(s.get("Sid") == sid for s in fn.policy):
            raise ResourceConflict(f"The statement id ({sid}) provided already exists. Please provide a new "
                                   "statement id, or remove the existing statement.", Type="User")
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": _principal(params["Principal"]),
                                     "Action": params["Action"],
                                     "Resource": names.function_arn(region, account, name, qualifier)}
        condition: dict[str, dict[str, str]] = {}
        if params.get("SourceAccount"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("PrincipalOrgID"):
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
        if params.get("EventSourceToken"):
            condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params["EventSourceToken"]
        if params.get("FunctionUrlAuthType"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
        if params.get("SourceArn"):
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
        if condition:
            statement["Condition"] = condition
        policy = [*fn.policy, statement]
        await self.repo.set_policy(fn.id, dumps(policy), str(uuid.uuid4()), None)
        await self.catalog.changed()
        return {"Statement": dumps(statement)}

    async def remove_permission(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        if params.get("RevisionId") and params["RevisionId"] != fn.policy_rev:
            raise PreconditionFailed(_POLICY_REVISION, Type="User")
        sid = params["StatementId"]
        policy = [s for s in fn.policy if s.get("Sid") != sid]
        if len(policy) == len(fn.policy):
            raise ResourceNotFound(f"Statement {sid} is not found in resource policy.", Type="User")
        await self.repo.set_policy(fn.id, dumps(policy), str(uuid.uuid4()) if policy else None, None)
        await self.catalog.changed()
        return {}

    async def get_policy(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        fn = await self.catalog.function(account, region, name, qualifier, resolve_alias=False)
        resource = names.function_arn(region, account, name, qualifier)
        statements = [s for s in fn.policy if s.get("Resource") == resource]
        if not statements:
            raise ResourceNotFound("The resource you requested does not exist.", Type="User")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return {"Policy": dumps(doc), "RevisionId": fn.policy_rev or ""}
