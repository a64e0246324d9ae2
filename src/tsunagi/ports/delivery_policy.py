"""Policies between services: whether AWS would let one service deliver to another.

On AWS a delivery from one service to another is made by the source service's principal
(``s3.amazonaws.com``, ``sns.amazonaws.com``) with the source's ARN and account in the request
context (``aws:SourceArn``, ``aws:SourceAccount``), and the target's resource policy must allow it,
even when both are in the same account: the service principal is not the account, so an account's
identity policies cannot grant it anything (SQS Developer Guide, "Basic examples of Amazon SQS
policies" and "Configuring an Amazon SQS queue to trigger ... SNS"; S3 User Guide, "Granting
permissions to publish event notification messages to a destination"; SNS Developer Guide,
"Amazon SNS security best practices: use aws:SourceArn"). When the target is encrypted with a KMS
key, the key's policy must also let that service principal ``kms:GenerateDataKey*`` and
``kms:Decrypt`` (SNS Developer Guide, "Enable compatibility between event sources from AWS services
and encrypted topics"; SQS Developer Guide, "Enable compatibility between AWS services and
encrypted queues"): an AWS managed key's policy never does, so such a target needs a customer key.
When either policy is missing a line, AWS drops the message without an error to anyone.

The pipes ask here before they deliver (:func:`resource_check`, :func:`key_check`), when the
delivery is planned; the answer depends on ``--policies``:

- ``off``: nothing is checked (:data:`ALLOW`);
- ``warn``: the delivery happens, and the :class:`Verdict` carries the reason AWS would have dropped it;
- ``enforce``: the delivery AWS would drop is dropped (``Verdict.allowed`` false), with that reason.

Each refusal is logged on one line naming the ARNs; the caller records it on the delivery record
(outcome ``denied``, or ``delivered`` with :func:`warned` as its reason). Policies are compiled once
per distinct text (:func:`tsunagi.policy.compile_policy`), so checking a publish to many queues costs
one evaluation each.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

from tsunagi.context import internal_context
from tsunagi.policy import Caller, Dialect, PolicyError, PolicyKind, Request, compile_policy, evaluate
from tsunagi.ports.iam import IamPort
from tsunagi.ports.kms import KmsError, KmsPort

log = logging.getLogger("tsunagi.policies")

OFF, WARN, ENFORCE = "off", "warn", "enforce"

# what each resource's policy is called in reasons, by dialect
_NAMES = {Dialect.SQS: "queue", Dialect.SNS: "topic", Dialect.LAMBDA: "function", Dialect.S3: "bucket"}
# what a service principal needs of a key to put a message into a resource the key encrypts
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
WARNING = "policy warning (--policies warn delivered it; enforce would drop it): "


class Verdict(NamedTuple):
    allowed: bool           # deliver it?
    reason: str | None      # why AWS would drop it (None: AWS delivers it)


ALLOW = Verdict(True, None)


def warned(reason: str) -> str:
    """The delivery record's reason for a delivery made under ``warn`` that ``enforce`` would drop."""
    return WARNING + reason


def _refuse(mode: str, source_arn: str, target_arn: str, reason: str, configuring: bool = False) -> Verdict:
    if configuring:
        what = "configuration refused" if mode == ENFORCE else "configuration accepted anyway"
    else:
        what = "dropped" if mode == ENFORCE else "delivered anyway"
    log.warning("policies %s: %s -> %s %s: %s", mode, source_arn, target_arn, what, reason)
    return Verdict(mode != ENFORCE, reason)


def _context(source_arn: str, source_account: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    context = {"aws:SourceArn": source_arn}
    if source_account:
        context["aws:SourceAccount"] = source_account
    if extra:
        context.update(extra)
    return context


def _with(context: Mapping[str, str]) -> str:
    return " and ".join(f"{k} {v}" for k, v in context.items() if k.startswith("aws:Source"))


def resource_check(mode: str, *, policy: str | None, dialect: Dialect, resource_arn: str, resource_account: str,
                   principal: str, action: str, source_arn: str, source_account: str | None,
                   configuring: bool = False) -> Verdict:
    """May service ``principal`` (``sns.amazonaws.com``) do ``action`` (``sqs:SendMessage``) on
    ``resource_arn``, whose resource policy is ``policy``, for ``source_arn``? (``configuring``: asked
    when the delivery is configured, not made; only the log line differs.)"""
    if mode == OFF:
        return ALLOW
    what = _NAMES.get(dialect, "resource")
    context = _context(source_arn, source_account, None)
    if not policy:
        return _refuse(mode, source_arn, resource_arn,
                       f"the {what} {resource_arn} has no {what} policy, so no statement allows {principal} to "
                       f"{action} on it with {_with(context)}", configuring)
    try:
        compiled = compile_policy(policy, PolicyKind.RESOURCE, dialect, f"the {what} policy of {resource_arn}")
    except PolicyError as e:
        return _refuse(mode, source_arn, resource_arn, f"the {what} policy of {resource_arn} cannot be read: {e}",
                       configuring)
    decision = evaluate(Request(Caller.service(principal), action, resource_arn, resource_account=resource_account,
                                context=context), resource=compiled)
    if decision.allowed:
        return ALLOW
    return _refuse(mode, source_arn, resource_arn, decision.reason, configuring)


async def key_check(mode: str, kms: KmsPort | None, key_id: str | None, *, holder: str, holder_arn: str,
                    account: str, region: str, principal: str, source_arn: str,
                    source_account: str | None) -> Verdict:
    """May service ``principal`` put a message into ``holder_arn`` (a queue or topic of service
    ``holder``, ``"sqs"``), which KMS key ``key_id`` encrypts? The key's policy must allow it
    :data:`KEY_ACTIONS` through that service (``kms:ViaService``)."""
    if mode == OFF or not key_id or kms is None:
        return ALLOW
    try:
        found = await kms.key_policy(internal_context(account, region, "kms", "GetKeyPolicy"), key_id)
    except KmsError as e:
        return _refuse(mode, source_arn, holder_arn,
                       f"{principal} cannot use the KMS key {key_id} of {holder_arn}: {e.code}: {e.message}")
    key, text = found
    label = f"the key policy of {key.arn}"
    try:
        compiled = compile_policy(text, PolicyKind.KEY, Dialect.KMS, label)
    except PolicyError as e:
        return _refuse(mode, source_arn, holder_arn, f"{label} cannot be read: {e}")
    context = _context(source_arn, source_account, {"kms:ViaService": f"{holder}.{region}.amazonaws.com"})
    caller = Caller.service(principal)
    for action in KEY_ACTIONS:
        decision = evaluate(Request(caller, action, key.arn, resource_account=key.account, context=context),
                            resource=compiled)
        if not decision.allowed:
            managed = " (an AWS managed key, whose policy cannot allow a service principal: use a customer " \
                      "managed key)" if key.key_manager == "AWS" else ""
            return _refuse(mode, source_arn, holder_arn,
                           f"{holder_arn} is encrypted with KMS key {key.arn}{managed}: {decision.reason}")
    return ALLOW


async def trust_problem(iam: IamPort, role_arn: str, service: str) -> str | None:
    """Why ``service`` (``lambda.amazonaws.com``) cannot assume ``role_arn``: the role is not in IAM,
    or its trust policy does not allow it ``sts:AssumeRole``; None when it can."""
    role = await iam.role(role_arn)
    if role is None:
        return f"IAM has no role {role_arn}"
    try:
        trust = compile_policy(role.trust_policy, PolicyKind.TRUST, Dialect.IAM, f"the trust policy of {role_arn}")
    except PolicyError as e:
        return f"the trust policy of {role_arn} cannot be read: {e}"
    decision = evaluate(Request(Caller.service(service), "sts:AssumeRole", role.arn, resource_account=role.account),
                        resource=trust)
    return None if decision.allowed else decision.reason


# what Lambda's pollers need of a function's execution role to read a queue (AWSLambdaSQSQueueExecutionRole)
ESM_SQS_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


async def role_check(mode: str, iam: IamPort | None, role_arn: str, *, actions: tuple[str, ...], resource_arn: str,
                     resource_account: str, resource_policy: str | None, dialect: Dialect,
                     what: str, configuring: bool = False) -> Verdict:
    """May a session of ``role_arn`` (a function's execution role, as Lambda's pollers use it) do each
    of ``actions`` on ``resource_arn``? Its identity policies (and permissions boundary) through the
    IAM port, and the resource's own policy, decide, as AWS's evaluation logic says. A role that IAM
    does not know is not checked: AWS would have refused the function (CreateFunction: "The role
    defined for the function cannot be assumed by Lambda."), and tsunagi keeps functions whose role
    only names one (see docs/POLICIES.md)."""
    if mode == OFF or iam is None or not role_arn:
        return ALLOW
    role = await iam.role(role_arn)
    if role is None:
        return ALLOW
    label = f"the policies of role {role_arn}"
    try:
        identity = [compile_policy(doc, PolicyKind.IDENTITY, Dialect.IAM, f"policy {name} of role {role_arn}")
                    for name, doc in await iam.identity_policies(role_arn)]
        boundary_doc = await iam.permissions_boundary(role_arn)
        boundary = compile_policy(boundary_doc, PolicyKind.IDENTITY, Dialect.IAM,
                                  f"the permissions boundary of role {role_arn}") if boundary_doc else None
        resource = compile_policy(resource_policy, PolicyKind.RESOURCE, dialect,
                                  f"the {_NAMES.get(dialect, 'resource')} policy of {resource_arn}") \
            if resource_policy else None
    except PolicyError as e:
        return _refuse(mode, resource_arn, role_arn, f"{label} cannot be read: {e}", configuring)
    session = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/awslambda"
    caller = Caller.session(session, role.arn)
    for action in actions:
        decision = evaluate(Request(caller, action, resource_arn, resource_account=resource_account),
                            identity=identity, resource=resource, boundary=boundary)
        if not decision.allowed:
            return _refuse(mode, resource_arn, role_arn,
                           f"the execution role {role_arn} of {what} may not {action} on {resource_arn}: "
                           f"{decision.reason}", configuring)
    return ALLOW


__all__ = ["ESM_SQS_ACTIONS", "role_check", "trust_problem", "ALLOW", "ENFORCE", "KEY_ACTIONS", "OFF", "WARN", "Verdict", "key_check", "resource_check", "warned"]
