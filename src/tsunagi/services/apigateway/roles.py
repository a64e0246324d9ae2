"""The integration's ``credentials``: the role API Gateway acts as when it calls SQS, SNS or Lambda.

Under ``--policies warn`` (the default) and ``enforce`` the role must exist, its trust policy must let
``apigateway.amazonaws.com`` assume it, and its identity policies must allow the action on the resource
(``sqs:SendMessage`` on the queue, ``sns:Publish`` on the topic, ``lambda:InvokeFunction`` on the
function), as the one policy evaluator decides. ``enforce`` refuses the call (API Gateway answers 500,
its execution log says why); ``warn`` logs what would have been refused and goes on. Without IAM in this
server, or under ``off``, nothing is checked.
"""

from __future__ import annotations

import logging
import time

from tsunagi.policy import Caller, PolicyError, PolicyKind, Request, compile_policy, evaluate
from tsunagi.ports.iam import IAM, IamPort
from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi.apigateway")
SERVICE = "apigateway.amazonaws.com"
SESSION = "BackplaneAssumeRoleSession"


class RoleRefused(Exception):
    """The integration's role may not do what the integration asks (under ``enforce``)."""


DECISION_TTL_S = 5.0      # IAM changes reach API Gateway within seconds (as on AWS, eventually)


async def check_role(platform: Platform, role_arn: str, action: str, resource: str, resource_account: str,
                     cache: dict[tuple[str, str, str, str], tuple[float, str | None]] | None = None) -> None:
    mode = platform.config.policies
    iam = platform.ports.find(IAM)
    if mode == "off" or iam is None:
        return
    key = (role_arn, action, resource, resource_account)
    now = time.monotonic()
    cached = cache.get(key) if cache is not None else None
    if cached is not None and now - cached[0] < DECISION_TTL_S:
        reason = cached[1]
    else:
        reason = await _refusal(iam, role_arn, action, resource, resource_account)
        if cache is not None:
            if len(cache) > 10_000:
                cache.clear()
            cache[key] = (now, reason)
    if reason is None:
        return
    if mode == "enforce":
        raise RoleRefused(reason)
    log.warning("policy (warn): API Gateway's %s as %s on %s would be denied: %s", action, role_arn, resource, reason)


async def _refusal(port: IamPort, role_arn: str, action: str, resource: str, resource_account: str) -> str | None:
    role = await port.role(role_arn)
    if role is None:
        return f"API Gateway does not have permission to assume the provided role {role_arn}: it does not exist"
    try:
        trust = compile_policy(role.trust_policy, PolicyKind.TRUST, label=f"the trust policy of {role.arn}")
    except PolicyError as e:
        return f"the trust policy of {role.arn} is not valid: {e}"
    assumed = evaluate(Request(Caller.service(SERVICE), "sts:AssumeRole", role.arn, resource_account=role.account),
                       resource=trust)
    if not assumed.allowed:
        return f"API Gateway does not have permission to assume the provided role {role.arn}: {assumed.reason}"
    policies = []
    for i, (label, text) in enumerate(await port.identity_policies(role.arn)):
        try:
            policies.append(compile_policy(text, PolicyKind.IDENTITY, label=label or f"identity policy #{i + 1}"))
        except PolicyError:
            continue
    session = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{SESSION}"
    decision = evaluate(Request(Caller.session(session, role.arn), action, resource, resource_account=resource_account),
                        identity=policies)
    return None if decision.allowed else decision.reason
