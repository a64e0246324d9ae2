"""The authorize step for an unsigned request: anonymous, as on AWS.

A request with no signature at all (no ``Authorization`` header, no presigned query) comes from nobody,
under ``--auth open`` too (where any signature, with any key, is accepted). It reaches only what AWS
opens to anonymous callers:

- an S3 bucket or object whose bucket policy allows the action to everyone (``"Principal": "*"`` or
  ``{"AWS": "*"}``), or a bucket that does not exist (S3 answers ``NoSuchBucket`` to anyone);
- an SQS queue whose queue policy allows the action to everyone;
- operations AWS serves without credentials (``authtype: none`` in their models: STS's
  AssumeRoleWithWebIdentity and AssumeRoleWithSAML, which check the token they carry instead);
- SNS's ``ConfirmSubscription`` and ``Unsubscribe`` links (the SubscribeURL and UnsubscribeURL of SNS's
  messages, which the token in them authorizes).

Everything else is refused with AWS's answer to a request without credentials: S3's ``AccessDenied``;
SQS's ``AccessDenied`` (``Access to the resource … is denied.``) for a queue that does not open itself;
and, for a call that names no such resource or a service that takes no anonymous calls, the service's
``MissingAuthenticationToken`` (``MissingAuthenticationTokenException`` in JSON).

An allowed anonymous call runs in the account of the resource it reaches (AWS bills the owner), with
the anonymous principal as its caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsunagi import policy as evaluator
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.targets import targets
from tsunagi.policy import Dialect, PolicyError
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.protocol import sigv4
from tsunagi.protocol.errors import ServiceError

if TYPE_CHECKING:
    from tsunagi.gateway.authorize import PolicyAuthorizer

# the services a resource policy can open to anonymous callers, and the dialect their policies speak
_OPEN_TO_EVERYONE = {"s3": Dialect.S3, "sqs": Dialect.SQS}
_SNS_LINKS = frozenset({"ConfirmSubscription", "Unsubscribe"})


def missing_credentials(ex: Exchange) -> ServiceError:
    """AWS's answer to a request that carries no credentials, in the service's own words."""
    protocol = ex.codec.serializer.protocol if ex.codec is not None else "query"
    return sigv4.AuthFailure(sigv4.MISSING).error(protocol, ex.service or "")


def _denied(ex: Exchange) -> ServiceError:
    if ex.service == "s3":
        return ServiceError("Access Denied", code="AccessDenied", status=403)
    request = ex.request
    scheme = request.headers.get("x-forwarded-proto", "http")
    return ServiceError(f"Access to the resource {scheme}://{request.host}/ is denied.", code="AccessDenied",
                        status=403)


async def authorize_anonymous(authorizer: PolicyAuthorizer, ex: Exchange) -> None:
    """Allow an unsigned call only where a resource policy opens it to everyone; refuse it otherwise."""
    service, ctx, params = ex.service or "", ex.ctx, ex.params
    assert ctx is not None and params is not None
    operation = ex.operation_name
    if ex.operation is not None and ex.operation.auth_type == "none":
        return                                   # served without credentials (STS's web identity and SAML)
    if service == "sns" and operation in _SNS_LINKS and \
            str(params.get("AuthenticateOnUnsubscribe", "")).lower() != "true":
        return                                   # the token in the link is the permission
    dialect = _OPEN_TO_EVERYONE.get(service)
    if dialect is None:
        raise missing_credentials(ex)
    found = targets(service, operation, params, "", ctx.region, ex.bucket)
    if not found or any(t.lookup != service or t.creates for t in found):
        raise missing_credentials(ex) if service != "s3" else _denied(ex)
    owner: str | None = None
    for target in found:
        resource = await authorizer._resource(ctx, target)
        if resource is None:
            if service == "s3":
                continue                         # no such bucket: S3 says so to anyone
            raise _denied(ex)
        if owner is not None and resource.account != owner:
            raise _denied(ex)
        owner = resource.account
        if not open_to_everyone(resource, dialect, target.action, target.resource, now=authorizer.clock.now(),
                                secure=ex.request.headers.get("x-forwarded-proto", "http") == "https",
                                source_ip=ex.source_ip):
            raise _denied(ex)
    if owner is not None:
        ctx.account = owner                      # the call runs in the account of what it reaches


def open_to_everyone(resource: ResourcePolicy, dialect: Dialect, action: str, arn: str, *, now: float,
                     secure: bool, source_ip: str) -> bool:
    """Does the resource's policy allow ``action`` on ``arn`` to an anonymous caller?"""
    if not resource.policy:
        return False
    try:
        policy = evaluator.compile_policy(resource.policy, evaluator.PolicyKind.RESOURCE, dialect,
                                          f"the policy of {resource.arn}")
    except PolicyError:
        return False
    request = evaluator.Request(evaluator.Caller.anonymous(), action, arn, resource_account=resource.account,
                                now=now, secure_transport=secure, source_ip=source_ip)
    return evaluator.evaluate(request, identity=(), resource=policy).allowed
