"""The one policy evaluator: IAM identity policies, resource-based policies (SQS, SNS, S3, Lambda),
KMS key policies and role trust policies, parsed and validated as AWS does and evaluated with AWS's
policy evaluation logic. Pure functions: no I/O, nothing from the rest of tsunagi.

    queue_policy = compile_policy(text, PolicyKind.RESOURCE, Dialect.SQS, label=f"the queue policy of {arn}")
    request = Request(Caller.service("sns.amazonaws.com"), "sqs:SendMessage", arn,
                      resource_account=owner, context={"aws:SourceArn": topic_arn})
    decision = evaluate(request, resource=queue_policy)
    if not decision.allowed:
        record(decision.reason)   # "the queue policy of arn:… has no statement that allows …"

docs/POLICIES.md says what is supported; tests/unit/policy is the reference.
"""

from tsunagi.policy.conditions import parse_date
from tsunagi.policy.document import (
    IAM_MANAGED_POLICY,
    IAM_TRUST_POLICY,
    KMS_KEY_POLICY,
    SQS_QUEUE_POLICY,
    Effect,
    Level,
    Limits,
    Policy,
    PolicyKind,
    Statement,
    compile_policy,
    parse_policy,
)
from tsunagi.policy.errors import Dialect, PolicyError, Problem
from tsunagi.policy.evaluate import Decision, Outcome, Side, StatementRef, evaluate
from tsunagi.policy.patterns import Style, wildcard_match
from tsunagi.policy.request import Caller, CallerType, Request

__all__ = [
    "IAM_MANAGED_POLICY", "IAM_TRUST_POLICY", "KMS_KEY_POLICY", "SQS_QUEUE_POLICY",
    "Caller", "CallerType", "Decision", "Dialect", "Effect", "Level", "Limits", "Outcome", "Policy",
    "PolicyError", "PolicyKind", "Problem", "Request", "Side", "Statement", "StatementRef", "Style",
    "compile_policy", "evaluate", "parse_date", "parse_policy", "wildcard_match",
]
