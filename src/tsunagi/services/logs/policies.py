"""Resource policies, account policies and data protection policies: stored and returned as AWS
shapes them.

- Resource policies (Put/Describe/DeleteResourcePolicy): account-scoped ones by name (at most 10 in a
  region), or one per log group (``resourceArn``, with a ``revisionId`` that a change must name). The
  document is at most 5120 characters of JSON. tsunagi keeps them for tools that manage them; the
  services that deliver logs into an account with them (Route 53, …) are not run here.
- Account policies (Put/Describe/DeleteAccountPolicy): one data protection, one subscription filter and
  one metric extraction policy per account, up to 40 field index and 20 transformer policies.
- Data protection policies (Put/Get/DeleteDataProtectionPolicy), one per log group, deleted with it;
  DescribeLogGroups reports its dataProtectionStatus (ACTIVATED, then DELETED once the policy is deleted).

These are stored only: tsunagi does not mask data, nor apply account-level subscription filters,
field indexes or transformers.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import (
    BAD_TOKEN,
    InvalidParameter,
    LimitExceeded,
    OperationAborted,
    ResourceNotFound,
    constraint,
)
from tsunagi.services.logs.tokens import decode, encode
from tsunagi.store.logs_documents import LogsDocumentsRepo

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

RESOURCE_POLICY = "resource-policy"
GROUP_POLICY = "group-resource-policy"      # named by the log group's ARN
DATA_PROTECTION = "data-protection"         # named by the log group's name
ACCOUNT_POLICY = "account-policy:"          # + the policy type

MAX_RESOURCE_POLICIES = 10
MAX_POLICY_CHARS = 5120
ACCOUNT_LIMITS = {"DATA_PROTECTION_POLICY": 1, "SUBSCRIPTION_FILTER_POLICY": 1, "METRIC_EXTRACTION_POLICY": 1,
                  "FIELD_INDEX_POLICY": 40, "TRANSFORMER_POLICY": 20}
SELECTABLE = ("SUBSCRIPTION_FILTER_POLICY", "FIELD_INDEX_POLICY", "TRANSFORMER_POLICY")


def json_document(text: str, member: str) -> None:
    try:
        doc = json.loads(text)
    except ValueError:
        raise InvalidParameter(f"The {member} is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise InvalidParameter(f"The {member} must be a JSON object.")


def _no_policy(name: str) -> ResourceNotFound:  # type: ignore[valid-type]
    return ResourceNotFound(f"Policy with name [{name}] does not exist")


class Policies:
    def __init__(self, service: LogsService) -> None:
        self._svc = service
        self.repo = LogsDocumentsRepo(service.store)

    # == resource policies =====================================================================
    async def put_resource_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        text = params.get("policyDocument")
        if not text:
            raise InvalidParameter("policyDocument is required.")
        if len(text) > MAX_POLICY_CHARS:
            raise constraint(text, "policyDocument", f"Member must have length less than or equal to {MAX_POLICY_CHARS}")
        json_document(text, "policy document")
        now = svc.clock.now_ms()
        arn = params.get("resourceArn")
        if arn:
            group = await svc._group_by_identifier(ctx, arn.removesuffix(":*"))
            key = svc._group_arn(group.region, group.account, group.name)
            current = await self.repo.get(ctx.account, ctx.region, GROUP_POLICY, key)
            expected = params.get("expectedRevisionId")
            if current is not None and expected != current.fields.get("revisionId"):
                raise OperationAborted("The expected revision ID does not match the resource policy's current "
                                       "revision ID.")
            doc = {"policyName": params.get("policyName") or current and current.fields.get("policyName") or key,
                   "policyDocument": text, "lastUpdatedTime": now, "policyScope": "RESOURCE", "resourceArn": key,
                   "revisionId": uuid.uuid4().hex}
            await self.repo.put(ctx.account, ctx.region, GROUP_POLICY, key, doc, now)
            return {"resourcePolicy": doc, "revisionId": doc["revisionId"]}
        name = params.get("policyName")
        if not name:
            raise InvalidParameter("policyName is required.")
        doc = {"policyName": name, "policyDocument": text, "lastUpdatedTime": now, "policyScope": "ACCOUNT"}
        if not await self.repo.put(ctx.account, ctx.region, RESOURCE_POLICY, name, doc, now,
                                   limit=MAX_RESOURCE_POLICIES):
            raise LimitExceeded("Resource limit exceeded.")
        return {"resourcePolicy": doc}

    async def describe_resource_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        scope = params.get("policyScope") or ("RESOURCE" if params.get("resourceArn") else "ACCOUNT")
        if scope == "RESOURCE":
            arn = params.get("resourceArn")
            if not arn:
                raise InvalidParameter("resourceArn is required when policyScope is RESOURCE.")
            group = await svc._group_by_identifier(ctx, arn.removesuffix(":*"))
            row = await self.repo.get(ctx.account, ctx.region, GROUP_POLICY,
                                      svc._group_arn(group.region, group.account, group.name))
            return {"resourcePolicies": [row.fields] if row else []}
        limit = int(params.get("limit") or 50)
        after = self._after(params)
        rows = await self.repo.list(ctx.account, ctx.region, RESOURCE_POLICY, after=after, limit=limit + 1)
        out: dict[str, Any] = {"resourcePolicies": [r.fields for r in rows[:limit]]}
        if len(rows) > limit:
            out["nextToken"] = encode({"n": rows[limit - 1].name})
        return out

    async def delete_resource_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        arn = params.get("resourceArn")
        if arn:
            group = await svc._group_by_identifier(ctx, arn.removesuffix(":*"))
            key = svc._group_arn(group.region, group.account, group.name)
            current = await self.repo.get(ctx.account, ctx.region, GROUP_POLICY, key)
            if current is None:
                raise ResourceNotFound("The specified resource does not exist.")
            if params.get("expectedRevisionId") != current.fields.get("revisionId"):
                raise OperationAborted("The expected revision ID does not match the resource policy's current "
                                       "revision ID.")
            await self.repo.delete(ctx.account, ctx.region, GROUP_POLICY, key)
            return {}
        name = params.get("policyName")
        if not name:
            raise InvalidParameter("policyName is required.")
        if not await self.repo.delete(ctx.account, ctx.region, RESOURCE_POLICY, name):
            raise _no_policy(name)
        return {}

    @staticmethod
    def _after(params: dict[str, Any]) -> str | None:
        if not params.get("nextToken"):
            return None
        doc = decode(params["nextToken"])
        if not isinstance(doc, dict) or not isinstance(doc.get("n"), str):
            raise InvalidParameter(BAD_TOKEN)
        return str(doc["n"])

    # == account policies ======================================================================
    async def put_account_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name, kind, text = params["policyName"], params["policyType"], params["policyDocument"]
        if name.startswith("aws/"):
            raise InvalidParameter("A policy name cannot start with aws/.")
        json_document(text, "policy document")
        if params.get("selectionCriteria") and kind not in SELECTABLE:
            raise InvalidParameter(f"selectionCriteria is not supported for {kind}.")
        now = self._svc.clock.now_ms()
        doc: dict[str, Any] = {"policyName": name, "policyDocument": text, "lastUpdatedTime": now,
                               "policyType": kind, "scope": params.get("scope") or "ALL"}
        if params.get("selectionCriteria"):
            doc["selectionCriteria"] = params["selectionCriteria"]
        doc["accountId"] = ctx.account
        if not await self.repo.put(ctx.account, ctx.region, ACCOUNT_POLICY + kind, name, doc, now,
                                   limit=ACCOUNT_LIMITS.get(kind)):
            raise LimitExceeded("Resource limit exceeded.")
        return {"accountPolicy": doc}

    async def describe_account_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        kind = params["policyType"]
        accounts = params.get("accountIdentifiers") or [ctx.account]
        if ctx.account not in accounts:
            return {"accountPolicies": []}
        name = params.get("policyName")
        if name:
            row = await self.repo.get(ctx.account, ctx.region, ACCOUNT_POLICY + kind, name)
            return {"accountPolicies": [row.fields] if row else []}
        after = self._after(params)
        rows = await self.repo.list(ctx.account, ctx.region, ACCOUNT_POLICY + kind, after=after, limit=51)
        out: dict[str, Any] = {"accountPolicies": [r.fields for r in rows[:50]]}
        if len(rows) > 50:
            out["nextToken"] = encode({"n": rows[49].name})
        return out

    async def delete_account_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name, kind = params["policyName"], params["policyType"]
        if not await self.repo.delete(ctx.account, ctx.region, ACCOUNT_POLICY + kind, name):
            raise _no_policy(name)
        return {}

    # == data protection policies ==============================================================
    async def put_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = params["logGroupIdentifier"]
        group = await self._svc._group_by_identifier(ctx, ident)
        text = params["policyDocument"]
        json_document(text, "data protection policy")
        now = self._svc.clock.now_ms()
        doc = {"policyDocument": text, "lastUpdatedTime": now}
        await self.repo.put(ctx.account, ctx.region, DATA_PROTECTION, group.name, doc, now)
        return {"logGroupIdentifier": ident, **doc}

    async def get_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = params["logGroupIdentifier"]
        group = await self._svc._group_by_identifier(ctx, ident)
        row = await self.repo.get(ctx.account, ctx.region, DATA_PROTECTION, group.name)
        fields = row.fields if row is not None else {}
        return {"logGroupIdentifier": ident, **({} if fields.get("deleted") else fields)}

    async def delete_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._svc._group_by_identifier(ctx, params["logGroupIdentifier"])
        row = await self.repo.get(ctx.account, ctx.region, DATA_PROTECTION, group.name)
        if row is None or row.fields.get("deleted"):
            raise ResourceNotFound("The specified resource does not exist.")
        # kept as a tombstone: DescribeLogGroups reports dataProtectionStatus DELETED, as AWS does
        await self.repo.put(ctx.account, ctx.region, DATA_PROTECTION, group.name, {"deleted": True},
                            self._svc.clock.now_ms())
        return {}

    async def protection_statuses(self, account: str, region: str) -> dict[str, str]:
        """dataProtectionStatus by log group name: ACTIVATED, or DELETED once its policy was deleted."""
        rows = await self.repo.list(account, region, DATA_PROTECTION, limit=100_000)
        return {r.name: "DELETED" if r.fields.get("deleted") else "ACTIVATED" for r in rows}

    async def forget_group(self, account: str, region: str, name: str, arn: str) -> None:
        """A deleted log group takes its data protection and resource policies with it."""
        await self.repo.delete(account, region, DATA_PROTECTION, name)
        await self.repo.delete(account, region, GROUP_POLICY, arn)
