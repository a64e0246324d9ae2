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

A refusal is logged on one line naming the ARNs, the first time and then at most once a minute for
the same source, target and reason (with how many were not logged in between: under ``warn`` a busy
topic without a queue policy would otherwise write a line per delivery); the caller records every
refusal on the delivery record (outcome ``denied``, or ``delivered`` with :func:`warned` as its
reason). Policies are compiled once per distinct text (:func:`tsunagi.policy.compile_policy`), and a
resource check's answer is kept per distinct question (mode, policy text, ARNs, principal, action),
so a delivery repeated under the same policy costs a dictionary lookup; a changed policy is a
different question.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import NamedTuple

from tsunagi import policy as evaluator
from tsunagi.context import internal_context
from tsunagi.policy import Dialect, PolicyError
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


LOG_EVERY = 60.0            # seconds between two log lines for the same refusal
_LOGGED_MAX = 4096          # refusals remembered for that (the oldest are forgotten past it)
# (mode, source, target, what, reason) -> [monotonic time of its last line, refusals not logged since]
_logged: dict[tuple[str, str, str, str, str], list[float]] = {}
_clock = time.monotonic


def _refuse(mode: str, source_arn: str, target_arn: str, reason: str, configuring: bool = False) -> Verdict:
    note_refusal(mode, source_arn, target_arn, reason, configuring)
    return Verdict(mode != ENFORCE, reason)


def note_refusal(mode: str, source_arn: str, target_arn: str, reason: str, configuring: bool = False) -> None:
    """Log a refusal (the first time, then at most once a minute for the same one). A caller that
    keeps a check's :class:`Verdict` calls this each time it applies a kept refusal again."""
    if configuring:
        what = "configuration refused" if mode == ENFORCE else "configuration accepted anyway"
    else:
        what = "dropped" if mode == ENFORCE else "delivered anyway"
    key = (mode, source_arn, target_arn, what, reason)
    now = _clock()
    seen = _logged.get(key)
    if seen is None or now - seen[0] >= LOG_EVERY:
        more = f" ({int(seen[1])} more like it not logged since)" if seen is not None and seen[1] else ""
        log.warning("policies %s: %s -> %s %s: %s%s", mode, source_arn, target_arn, what, reason, more)
        if seen is None and len(_logged) >= _LOGGED_MAX:
            del _logged[next(iter(_logged))]
        _logged[key] = [now, 0]
    else:
        seen[1] += 1


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
    key = (policy, dialect, resource_arn, resource_account, principal, action, source_arn, source_account)
    try:
        reason = _answers[key]
    except KeyError:
        reason = _resource_reason(policy, dialect, resource_arn, resource_account, principal, action, source_arn,
                                  source_account)
        if not _timed(policy):
            if len(_answers) >= _ANSWERS_MAX:
                del _answers[next(iter(_answers))]
            _answers[key] = reason
    if reason is None:
        return ALLOW
    return _refuse(mode, source_arn, resource_arn, reason, configuring)


_ANSWERS_MAX = 4096
# resource_check's question (without the mode) -> why AWS would refuse it (None: it allows it)
_answers: dict[tuple[str | None, Dialect, str, str, str, str, str, str | None], str | None] = {}


def stable(policy: str | None) -> bool:
    """Whether the answer of :func:`resource_check` for ``policy`` stays the same while the policy
    and the question do (it does unless the policy may name the request's time)."""
    return not _timed(policy)


def _timed(policy: str | None) -> bool:
    """Whether ``policy`` may name the request's time (aws:CurrentTime, aws:EpochTime), whose answer
    changes as the clock does and so is not kept (a JSON escape could spell either: not kept either)."""
    if not policy:
        return False
    low = policy.lower()
    return "currenttime" in low or "epochtime" in low or "\\u" in low


def _resource_reason(policy: str | None, dialect: Dialect, resource_arn: str, resource_account: str, principal: str,
                     action: str, source_arn: str, source_account: str | None) -> str | None:
    what = _NAMES.get(dialect, "resource")
    context = _context(source_arn, source_account, None)
    if not policy:
        return (f"the {what} {resource_arn} has no {what} policy, so no statement allows {principal} to "
                f"{action} on it with {_with(context)}")
    try:
        compiled = evaluator.compile_policy(policy, evaluator.PolicyKind.RESOURCE, dialect,
                                            f"the {what} policy of {resource_arn}")
    except PolicyError as e:
        return f"the {what} policy of {resource_arn} cannot be read: {e}"
    request = evaluator.Request(evaluator.Caller.service(principal), action, resource_arn,
                                resource_account=resource_account, context=context)
    decision = evaluator.evaluate(request, resource=compiled)
    return None if decision.allowed else decision.reason


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
        compiled = evaluator.compile_policy(text, evaluator.PolicyKind.KEY, Dialect.KMS, label)
    except PolicyError as e:
        return _refuse(mode, source_arn, holder_arn, f"{label} cannot be read: {e}")
    context = _context(source_arn, source_account, {"kms:ViaService": f"{holder}.{region}.amazonaws.com"})
    caller = evaluator.Caller.service(principal)
    for action in KEY_ACTIONS:
        decision = evaluator.evaluate(evaluator.Request(caller, action, key.arn, resource_account=key.account,
                                                        context=context), resource=compiled)
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
        trust = evaluator.compile_policy(role.trust_policy, evaluator.PolicyKind.TRUST, Dialect.IAM,
                                         f"the trust policy of {role_arn}")
    except PolicyError as e:
        return f"the trust policy of {role_arn} cannot be read: {e}"
    request = evaluator.Request(evaluator.Caller.service(service), "sts:AssumeRole", role.arn,
                                resource_account=role.account)
    decision = evaluator.evaluate(request, resource=trust)
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
        identity = [evaluator.compile_policy(doc, evaluator.PolicyKind.IDENTITY, Dialect.IAM,
                                             f"policy {name} of role {role_arn}")
                    for name, doc in await iam.identity_policies(role_arn)]
        boundary_doc = await iam.permissions_boundary(role_arn)
        boundary = evaluator.compile_policy(boundary_doc, evaluator.PolicyKind.IDENTITY, Dialect.IAM,
                                  f"the permissions boundary of role {role_arn}") if boundary_doc else None
        resource = evaluator.compile_policy(resource_policy, evaluator.PolicyKind.RESOURCE, dialect,
                                  f"the {_NAMES.get(dialect, 'resource')} policy of {resource_arn}") \
            if resource_policy else None
    except PolicyError as e:
        return _refuse(mode, resource_arn, role_arn, f"{label} cannot be read: {e}", configuring)
    session = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/awslambda"
    caller = evaluator.Caller.session(session, role.arn)
    for action in actions:
        decision = evaluator.evaluate(evaluator.Request(caller, action, resource_arn, resource_account=resource_account),
                                      identity=identity, resource=resource, boundary=boundary)
        if not decision.allowed:
            return _refuse(mode, resource_arn, role_arn,
                           f"the execution role {role_arn} of {what} may not {action} on {resource_arn}: "
                           f"{decision.reason}", configuring)
    return ALLOW


__all__ = ["ESM_SQS_ACTIONS", "role_check", "trust_problem", "ALLOW", "ENFORCE", "KEY_ACTIONS", "OFF", "WARN", "Verdict", "key_check", "resource_check", "warned"]
