"""The authorize step's policy checks: may this principal make this call on these resources?

Two levels, chosen at start:

- **Account isolation** (every server, ``--auth open`` included): a caller acts in the account its
  credentials select. A call naming a resource of another account (a queue URL, a topic, function or
  key ARN, a bucket owned by another account) is allowed only where the resource's policy allows the
  caller (its account, its user or role, or everyone); otherwise it is refused with the service's own
  error. A call on the caller's own resources costs a comparison of two account ids, except S3, whose
  bucket names do not say their owner (the S3 port answers from a one-second cache).
- **Policies** (``--auth strict`` with ``--policies warn`` or ``enforce``): every call is evaluated as
  AWS evaluates it: the principal's identity-based policies (users with their groups, role sessions
  with their session policy; permissions boundaries), the resource's policy (queue, topic, function,
  bucket, key policy), explicit deny first, both sides across accounts. The root user is allowed in its
  own account (except where a key policy must name it). ``enforce`` refuses with AWS's words; ``warn``
  logs one line and lets the call through (a call across accounts that the resource's policy does not
  allow is still refused: isolation holds in every mode).

What is evaluated comes from :mod:`tsunagi.gateway.targets` (the action and resource ARN of each
operation) and from the ports (``resource_policy``: the owner and policy of a queue, topic, function,
bucket or key; the IAM port for identity policies). The one evaluator is :mod:`tsunagi.policy`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from tsunagi import policy as evaluator
from tsunagi.context import Principal, RequestContext
from tsunagi.gateway.anonymous import authorize_anonymous
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.targets import Target, targets
from tsunagi.policy import Dialect, PolicyError
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.iam import IAM, Credentials
from tsunagi.ports.kms import KMS
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.ports.s3 import S3
from tsunagi.ports.sns import SNS
from tsunagi.ports.sqs import SQS
from tsunagi.protocol.errors import ServiceError

if TYPE_CHECKING:
    from tsunagi.gateway.identity import CredentialStore
    from tsunagi.policy import Caller, Decision, Policy
    from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi.policy")

_PORTS: dict[str, Any] = {"sqs": SQS, "sns": SNS, "lambda": LAMBDA, "s3": S3, "kms": KMS}
_DIALECT = {"sqs": Dialect.SQS, "sns": Dialect.SNS, "lambda": Dialect.LAMBDA, "s3": Dialect.S3, "kms": Dialect.KMS}
_LABEL = {"sqs": "the queue policy", "sns": "the topic policy", "lambda": "the function policy",
          "s3": "the bucket policy", "kms": "the key policy"}


# -- isolation's fast path: does a call name only the caller's own resources? -------------------------
# (True without building ARNs; False sends it the long way, which builds the targets and decides.)
# Services not listed keep other accounts out by themselves (KMS evaluates another account's key
# policy, Logs answers ResourceNotFoundException for another account's group, IAM and STS act in the
# caller's account).

_SQS_OWN: dict[tuple[str, str], bool] = {}     # (queue URL, caller's account) -> the URL names its queue


def _sqs_own(params: dict[str, Any], account: str) -> bool:
    url = params.get("QueueUrl")
    if isinstance(url, str):
        key = (url, account)
        own = _SQS_OWN.get(key)
        if own is None:
            parts = url.rstrip("/").rsplit("/", 2)
            own = len(parts) < 3 or parts[-2] == account or "/" not in url
            if len(_SQS_OWN) >= 10_000:
                _SQS_OWN.clear()
            _SQS_OWN[key] = own
        return own
    owner = params.get("QueueOwnerAWSAccountId")
    return (owner is None or owner == account) and "SourceArn" not in params


def _arn_owner(value: object) -> str | None:
    if isinstance(value, str) and value.startswith("arn:"):
        parts = value.split(":", 5)
        return parts[4] if len(parts) > 4 else None
    return None


def _sns_own(params: dict[str, Any], account: str) -> bool:
    if "Token" in params:
        return True     # ConfirmSubscription: the token (sent to the endpoint's owner) is the permission
    for member in ("TopicArn", "TargetArn", "SubscriptionArn", "ResourceArn"):
        owner = _arn_owner(params.get(member))
        if owner is not None and owner != account:
            return False
    return True


def _lambda_own(params: dict[str, Any], account: str) -> bool:
    name = params.get("FunctionName")
    if isinstance(name, str):
        if name.startswith("arn:"):
            return _arn_owner(name) == account
        if ":function:" in name:                  # a partial ARN: 123456789012:function:name
            return name.split(":", 1)[0] == account
        return True
    owner = _arn_owner(params.get("Resource"))
    return owner is None or owner == account


def _s3_own(params: dict[str, Any], account: str) -> bool:
    return not params.get("Bucket")      # a bucket's owner is not in its name: looked up (cached)


_OWN = {"sqs": _sqs_own, "sns": _sns_own, "lambda": _lambda_own, "s3": _s3_own}
_BOUNDARY_TTL_S = 1.0

@functools.cache
def _allow_all() -> Policy:
    """The identity side of an isolation check, which evaluates only the resource's policy (made on first use)."""
    return evaluator.compile_policy(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
        evaluator.PolicyKind.IDENTITY, label="(identity policies not evaluated)")


def caller_of(principal: Principal, credentials: Credentials | None = None) -> Caller:
    """The evaluator's caller for a gateway principal."""
    arn = principal.arn
    if principal.service is not None:
        return evaluator.Caller.service(principal.service)
    if not principal.account:
        return evaluator.Caller.anonymous()
    if arn.endswith(":root"):
        return evaluator.Caller.root(principal.account)
    if ":assumed-role/" in arn:
        return evaluator.Caller.session(arn, credentials.role_arn if credentials is not None else None)
    try:
        return evaluator.Caller.from_arn(arn)
    except ValueError:
        return evaluator.Caller.root(principal.account)


def refusal(service: str, operation: str, principal_arn: str, target: Target, decision: Decision | None) -> ServiceError:
    """AWS's refusal of ``operation`` for ``service``: SQS's ``AccessDenied`` (``NonExistentQueue`` for
    GetQueueUrl of another account's queue), SNS's ``AuthorizationError``, Lambda's and Logs'
    ``AccessDeniedException``, KMS's ``AccessDeniedException``, S3's ``AccessDenied``, IAM's ``AccessDenied``."""
    if service == "sqs" and operation == "GetQueueUrl":
        return ServiceError("The specified queue does not exist.", code="QueueDoesNotExist", status=400,
                            query_code="AWS.SimpleQueueService.NonExistentQueue")
    if service == "s3":
        return ServiceError("Access Denied", code="AccessDenied", status=403)
    action = target.action
    if service == "sqs":
        action = action.lower()                  # SQS words its refusals in lower case ("sqs:sendmessage")
    elif service == "sns":
        action = "SNS:" + action.partition(":")[2]
    text = f"User: {principal_arn} is not authorized to perform: {action} on resource: {target.resource} " \
           f"{because(decision, action)}"
    if service == "sqs":
        return ServiceError(text, code="AccessDenied", status=403)
    if service == "sns":
        return ServiceError(text, code="AuthorizationError", status=403)
    if service in ("lambda",):
        return ServiceError(text, code="AccessDeniedException", status=403, Type="User")
    if service in ("kms", "logs"):
        return ServiceError(text, code="AccessDeniedException", status=400)
    return ServiceError(text, code="AccessDenied", status=403)


def because(decision: Decision | None, action: str) -> str:
    """The end of AWS's refusal: which kind of policy denied, or which kind has no statement allowing."""
    if decision is not None and decision.outcome is evaluator.Outcome.EXPLICIT_DENY:
        ref = decision.statement
        kind = ref.kind if ref is not None else evaluator.PolicyKind.RESOURCE
        label = ref.policy if ref is not None else ""
        if kind in (evaluator.PolicyKind.RESOURCE, evaluator.PolicyKind.KEY):
            where = "a resource-based policy"
        elif "permissions boundary" in label:
            where = "a permissions boundary"
        elif "session policy" in label:
            where = "a session policy"
        else:
            where = "an identity-based policy"
        return f"with an explicit deny in {where}"
    missing = decision.missing if decision is not None else (evaluator.Side.RESOURCE,)
    if evaluator.Side.IDENTITY in missing:
        what = "identity-based policy"
    elif evaluator.Side.BOUNDARY in missing:
        what = "permissions boundary"
    elif evaluator.Side.SESSION in missing:
        what = "session policy"
    else:
        what = "resource-based policy"
    return f"because no {what} allows the {action} action"


class PolicyAuthorizer:
    """The authorizer of :class:`tsunagi.gateway.steps.Authorize`: account isolation always, and the
    principal's identity-based policies when ``identity`` (``--auth strict`` with policies ``warn`` or
    ``enforce``)."""

    def __init__(self, platform: Platform, *, identity: bool = False, enforce: bool = False,
                 credentials: CredentialStore | None = None) -> None:
        self.platform = platform
        self.ports = platform.ports
        self.clock = platform.clock
        self.identity = identity
        self.enforce = enforce
        self.credentials = credentials
        self._boundaries: dict[str, tuple[float, Policy | None]] = {}
        self._callers: dict[Principal, Caller] = {}     # principals are immutable, made once per key

    # == the step ==============================================================================
    def authorize(self, ex: Exchange) -> Awaitable[None] | None:
        principal = ex.principal
        ctx = ex.ctx
        if principal is None or ctx is None or ex.service is None or ex.operation is None or ex.params is None:
            return None
        if principal.service is not None:
            return None
        if not principal.account:
            # an unsigned request: anonymous, as on AWS (tsunagi.gateway.anonymous)
            return authorize_anonymous(self, ex)
        if not self.identity:
            own = _OWN.get(ex.service)
            if own is None or own(ex.params, principal.account):
                return None      # the caller's own resources (or a service that keeps accounts apart itself)
        elif ex.service == "sts":
            return None          # STS decides itself (trust policies); GetCallerIdentity needs no permission
        found = targets(ex.service, ex.operation.name, ex.params, principal.account, ctx.region, ex.bucket)
        if self.identity:
            if ex.service == "apigateway":
                # API Gateway's management permissions are HTTP verbs on resource paths (apigateway:POST)
                request = ex.request
                found = [Target(f"apigateway:{request.method}", f"arn:aws:apigateway:{ctx.region}::{request.path}",
                                None, None)]
            return self._located(ex, self._evaluate(ex, ctx, principal, found))
        for target in found:
            if target.account != principal.account and (target.lookup is not None or target.creates):
                return self._located(ex, self._isolate(ex, ctx, principal, found))
        return None

    def _located(self, ex: Exchange, check: Awaitable[None]) -> Awaitable[None]:
        """S3's HeadBucket refused on another account's bucket still tells the bucket's region."""
        if ex.service != "s3" or ex.operation_name != "HeadBucket":
            return check
        return self._with_region(ex, check)

    async def _with_region(self, ex: Exchange, check: Awaitable[None]) -> None:
        try:
            await check
        except ServiceError as e:
            port = self.ports.find(S3)
            name = (ex.params or {}).get("Bucket")
            if e.code == "AccessDenied" and port is not None and name:
                region = await port.bucket_region(str(name))
                if region is not None:
                    e.output.update({"BucketRegion": region, "AccessPointAlias": False})
            raise

    # == isolation =============================================================================
    async def _isolate(self, ex: Exchange, ctx: RequestContext, principal: Principal, found: list[Target]) -> None:
        caller = self._callers.get(principal) or caller_of(principal)
        for target in found:
            if target.account == principal.account:
                continue
            if target.creates:
                raise refusal(ex.service or "", ex.operation_name, principal.arn, target, None)
            if target.lookup is None:
                continue
            resource = await self._resource(ctx, target)
            if resource is None or resource.account == principal.account:
                continue                 # nothing there (the operation says so), or the caller's own
            decision = self._decide(ex, ctx, caller, target, resource, (_allow_all(),), None, None)
            if not decision.allowed:
                log.info("policy: %s by %s on %s refused (another account's resource): %s", target.action,
                         principal.arn, target.resource, decision.reason)
                raise refusal(ex.service or "", ex.operation_name, principal.arn, target, decision)

    # == policies ==============================================================================
    async def _evaluate(self, ex: Exchange, ctx: RequestContext, principal: Principal, found: list[Target]) -> None:
        creds: Credentials | None = None
        store = self.credentials
        if store is not None and principal.access_key_id:
            creds = store.cached(principal.access_key_id) or await store.fetch(principal.access_key_id)
        caller = self._callers.get(principal)
        if caller is None:
            caller = caller_of(principal, creds)
            if len(self._callers) >= 10_000:
                self._callers.clear()
            self._callers[principal] = caller
        identity: tuple[Policy, ...] = ()
        boundary: Policy | None = None
        session: Policy | None = None
        if caller.type is not evaluator.CallerType.ROOT:
            identity, boundary = await self._identity_of(principal.arn)
            if creds is not None and creds.session_policy:
                try:
                    session = evaluator.compile_policy(creds.session_policy, evaluator.PolicyKind.IDENTITY,
                                                       label="the session policy")
                except PolicyError:
                    session = None
        for target in found:
            resource = await self._resource(ctx, target) if target.lookup is not None else None
            if target.creates and target.account not in (None, principal.account):
                raise refusal(ex.service or "", ex.operation_name, principal.arn, target, None)
            decision = self._decide(ex, ctx, caller, target, resource, identity, boundary, session)
            if decision.allowed:
                continue
            owner = resource.account if resource is not None else target.account
            across = owner is not None and owner != principal.account
            if self.enforce:
                log.info("policy: %s by %s on %s refused: %s", target.action, principal.arn, target.resource,
                         decision.reason)
                raise refusal(ex.service or "", ex.operation_name, principal.arn, target, decision)
            if across:
                isolated = self._decide(ex, ctx, caller, target, resource, (_allow_all(),), None, None)
                if not isolated.allowed:
                    raise refusal(ex.service or "", ex.operation_name, principal.arn, target, isolated)
            log.warning("policy (warn): %s by %s on %s would be denied: %s", target.action, principal.arn,
                        target.resource, decision.reason)

    def _decide(self, ex: Exchange, ctx: RequestContext, caller: Caller, target: Target,
                resource: ResourcePolicy | None, identity: tuple[Policy, ...], boundary: Policy | None,
                session: Policy | None) -> Decision:
        service = target.lookup or ""
        policy: Policy | None = None
        owner = target.account
        arn = target.resource
        if resource is not None:
            owner = resource.account
            if service == "kms":
                arn = resource.arn
                target = target._replace(resource=arn)
            if resource.policy:
                try:
                    kind = evaluator.PolicyKind.KEY if service == "kms" else evaluator.PolicyKind.RESOURCE
                    policy = evaluator.compile_policy(resource.policy, kind, _DIALECT.get(service, Dialect.IAM),
                                                      f"{_LABEL.get(service, 'the policy')} of {resource.arn}")
                except PolicyError:
                    policy = None
        headers = ex.request.headers
        request = evaluator.Request(caller, target.action, arn, resource_account=owner, now=self.clock.now(),
                          secure_transport=headers.get("x-forwarded-proto", "http") == "https",
                          source_ip=ex.source_ip)
        if policy is None and service == "kms" and resource is not None:
            # a key with no policy (not possible through the API) allows nobody
            return evaluator.Decision(evaluator.Outcome.IMPLICIT_DENY, request, (), (evaluator.Side.RESOURCE,))
        return evaluator.evaluate(request, identity=identity, resource=policy, boundary=boundary, session=session)

    async def _resource(self, ctx: RequestContext, target: Target) -> ResourcePolicy | None:
        key = _PORTS.get(target.lookup or "")
        port = self.ports.find(key) if key is not None else None
        if port is None:
            return None
        found: ResourcePolicy | None = await port.resource_policy(ctx, target.resource)
        return found

    async def _identity_of(self, principal_arn: str) -> tuple[tuple[Policy, ...], Policy | None]:
        """The principal's identity-based policies (IAM keeps them cached and forgets them when they
        change) and its permissions boundary (kept here a second)."""
        iam = self.ports.find(IAM)
        if iam is None:
            return (), None
        policies: list[Policy] = []
        for label, text in await iam.identity_policies(principal_arn):
            try:
                policies.append(evaluator.compile_policy(text, evaluator.PolicyKind.IDENTITY, label=label))
            except PolicyError:
                continue
        now = time.monotonic()
        hit = self._boundaries.get(principal_arn)
        if hit is not None and hit[0] > now:
            return tuple(policies), hit[1]
        boundary: Policy | None = None
        boundary_text = await iam.permissions_boundary(principal_arn)
        if boundary_text:
            try:
                boundary = evaluator.compile_policy(boundary_text, evaluator.PolicyKind.IDENTITY,
                                          label=f"the permissions boundary of {principal_arn}")
            except PolicyError:
                boundary = None
        if len(self._boundaries) >= 10_000:
            self._boundaries.clear()
        self._boundaries[principal_arn] = (now + _BOUNDARY_TTL_S, boundary)
        return tuple(policies), boundary
