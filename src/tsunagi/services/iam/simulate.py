"""SimulatePrincipalPolicy and SimulateCustomPolicy: the policy evaluator answers, for each action and
resource, allowed / explicitDeny / implicitDeny and the statements that decided it, so a user can ask
"would this call be allowed?" of the policies tsunagi keeps, as they would of AWS."""

from __future__ import annotations

from typing import Any

from tsunagi.policy import (
    Caller,
    Decision,
    Outcome,
    Policy,
    PolicyError,
    PolicyKind,
    Request,
    compile_policy,
    evaluate,
)
from tsunagi.services.base import RequestContext
from tsunagi.services.iam import errors, names
from tsunagi.services.iam.core import IamCore
from tsunagi.services.iam.errors import InvalidInput, MalformedPolicyDocument
from tsunagi.store.iam import GROUP, ROLE, USER

_DECISION = {Outcome.ALLOW: "allowed", Outcome.EXPLICIT_DENY: "explicitDeny", Outcome.IMPLICIT_DENY: "implicitDeny"}
_LIST_TYPES = frozenset({"stringList", "numericList", "booleanList", "ipList", "binaryList", "dateList"})


class SimulateOps(IamCore):
    @staticmethod
    def _caller_of(arn: str) -> Caller:
        """The caller a CallerArn names: a user, a role (as one of its sessions), a session, the root."""
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/"):
            name = parts[5].rsplit("/", 1)[-1]
            return Caller.session(f"arn:aws:sts::{parts[4]}:assumed-role/{name}/simulation", arn)
        try:
            return Caller.from_arn(arn)
        except ValueError:
            raise InvalidInput(f"Invalid CallerArn: {arn}") from None

    def _compile(self, text: str, kind: PolicyKind, label: str) -> Policy:
        try:
            return compile_policy(text, kind, label=label)
        except PolicyError as e:
            raise MalformedPolicyDocument(e.message) from None

    async def _source_policies(self, ctx: RequestContext, arn: str) -> tuple[Caller, list[tuple[str, str, str]],
                                                                             str | None]:
        """The caller a PolicySourceArn stands for, its policies as (id, type, document), its boundary."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam":
            raise InvalidInput(f"Invalid ARN: {arn}")
        account, resource = parts[4], parts[5]
        name = resource.rsplit("/", 1)[-1]
        found: list[tuple[str, str, str]] = []
        boundary: str | None = None
        if resource.startswith("user/"):
            user = await self.user_or_fail(account, name)
            caller = Caller.user(names.arn(account, "user", user.path, user.name))
            found += await self._attached_to(account, USER, user.name_key)
            for group in await self.repo.groups_of_user(account, user.name_key, "", 1000):
                found += await self._attached_to(account, GROUP, group.name_key)
            boundary = user.boundary_arn
        elif resource.startswith("group/"):
            group = await self.group_or_fail(account, name)
            caller = Caller.user(names.arn(account, "group", group.path, group.name))
            found += await self._attached_to(account, GROUP, group.name_key)
        elif resource.startswith("role/"):
            role = await self.role_or_fail(account, name)
            role_arn = names.arn(account, "role", role.path, role.name)
            caller = Caller.session(f"arn:aws:sts::{account}:assumed-role/{role.name}/simulation", role_arn)
            found += await self._attached_to(account, ROLE, role.name_key)
            boundary = role.boundary_arn
        else:
            raise InvalidInput(f"Invalid ARN: {arn}: simulate a user, a group or a role")
        document = await self.managed_document(account, boundary) if boundary else None
        return caller, found, document

    async def _attached_to(self, account: str, kind: str, owner_key: str) -> list[tuple[str, str, str]]:
        out = [(name, kind, document) for name, document in await self.repo.inline_documents(account, kind, owner_key)]
        for arn in await self.repo.attached(account, kind, owner_key):
            document = await self.managed_document(account, arn)
            if document is not None:
                kind_of = "aws-managed" if arn.startswith(names.AWS_POLICY_PREFIX) else "user-managed"
                out.append((arn, kind_of, document))
        return out

    async def simulate_principal_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        caller, found, boundary = await self._source_policies(ctx, params["PolicySourceArn"])
        for i, text in enumerate(params.get("PolicyInputList") or [], 1):
            found.append((f"PolicyInputList.{i}", "none", text))
        boundaries = list(params.get("PermissionsBoundaryPolicyInputList") or [])
        if not boundaries and boundary is not None:
            boundaries = [boundary]
        return self._simulate(ctx, params, caller, found, boundaries)

    async def simulate_custom_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        found = [(f"PolicyInputList.{i}", "none", text) for i, text in enumerate(params["PolicyInputList"], 1)]
        caller_arn = params.get("CallerArn")
        caller = self._caller_of(caller_arn) if caller_arn else Caller.user(
            f"arn:aws:iam::{ctx.account}:user/simulated-user")
        return self._simulate(ctx, params, caller, found, list(params.get("PermissionsBoundaryPolicyInputList") or []))

    def _simulate(self, ctx: RequestContext, params: dict[str, Any], caller: Caller, found: list[tuple[str, str, str]],
                  boundaries: list[str]) -> dict[str, Any]:
        if params.get("CallerArn") and params.get("PolicySourceArn"):
            caller = self._caller_of(params["CallerArn"])
        types: dict[str, tuple[str, str]] = {}
        identity: list[Policy] = []
        for source_id, kind, text in found:
            label = f"{kind}:{source_id}"
            types[label] = (source_id, kind)
            identity.append(self._compile(text, PolicyKind.IDENTITY, label))
        boundary = self._compile(boundaries[0], PolicyKind.IDENTITY, "boundary:PermissionsBoundaryPolicyInputList.1") \
            if boundaries else None
        types["boundary:PermissionsBoundaryPolicyInputList.1"] = ("PermissionsBoundaryPolicyInputList.1", "none")
        resource_policy = None
        if params.get("ResourcePolicy"):
            resource_policy = self._compile(params["ResourcePolicy"], PolicyKind.RESOURCE, "resource:ResourcePolicy")
            types["resource:ResourcePolicy"] = ("ResourcePolicy", "resource")
        context: dict[str, Any] = {}
        for entry in params.get("ContextEntries") or []:
            values = list(entry.get("ContextKeyValues") or [])
            if entry.get("ContextKeyName"):
                context[entry["ContextKeyName"]] = tuple(values) if entry.get("ContextKeyType") in _LIST_TYPES \
                    else (values[0] if values else "")
        owner = params.get("ResourceOwner")
        resource_account = owner.split(":")[4] if owner and owner.count(":") >= 4 else owner
        results = []
        for action in params["ActionNames"]:
            for resource in params.get("ResourceArns") or ["*"]:
                request = Request(caller, action, resource, resource_account=resource_account or caller.account,
                                  context=context, now=self.clock.now())
                decision = evaluate(request, identity=identity, resource=resource_policy, boundary=boundary)
                results.append(self._result(action, resource, decision, types))
        limit = self.max_items(params)
        after = names.from_marker(params.get("Marker")) or "0"
        if not after.isdigit():
            raise errors.invalid_marker()
        start = int(after)
        shown = results[start:start + limit]
        out: dict[str, Any] = {"EvaluationResults": shown, "IsTruncated": start + limit < len(results)}
        if out["IsTruncated"]:
            out["Marker"] = names.to_marker(str(start + limit))
        return out

    @staticmethod
    def _result(action: str, resource: str, decision: Decision, types: dict[str, tuple[str, str]]) -> dict[str, Any]:
        matched = []
        for ref in decision.statements:
            source_id, kind = types.get(ref.policy, (ref.policy, "none"))
            matched.append({"SourcePolicyId": source_id, "SourcePolicyType": kind})
        return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": _DECISION[decision.outcome],
                "MatchedStatements": matched, "MissingContextValues": []}

