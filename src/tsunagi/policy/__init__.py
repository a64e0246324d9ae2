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

from typing import TYPE_CHECKING, Any

# The dialects and the error are what most of tsunagi names at import time; the evaluator itself (its
# documents, conditions and patterns: regexes, dataclasses, enums) is imported on the first use of one
# of its names, so a server that evaluates no policy (a test suite's, in --auth open) never loads it.
from tsunagi.policy.errors import Dialect, PolicyError, Problem

if TYPE_CHECKING:
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
    from tsunagi.policy.evaluate import Decision, Outcome, Side, StatementRef, evaluate
    from tsunagi.policy.patterns import Style, wildcard_match
    from tsunagi.policy.request import Caller, CallerType, Request

# name -> the submodule that defines it
_LAZY = {
    "parse_date": "conditions",
    **dict.fromkeys(("IAM_MANAGED_POLICY", "IAM_TRUST_POLICY", "KMS_KEY_POLICY", "SQS_QUEUE_POLICY", "Effect",
                     "Level", "Limits", "Policy", "PolicyKind", "Statement", "compile_policy", "parse_policy"),
                    "document"),
    **dict.fromkeys(("Decision", "Outcome", "Side", "StatementRef", "evaluate"), "evaluate"),
    **dict.fromkeys(("Style", "wildcard_match"), "patterns"),
    **dict.fromkeys(("Caller", "CallerType", "Request"), "request"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    # every submodule, then every name: importing the submodule ``evaluate`` binds this package's
    # ``evaluate`` to it, and the function of that name must be what the package gives
    modules = {m: importlib.import_module(f"{__name__}.{m}") for m in sorted(set(_LAZY.values()))}
    for attr, m in _LAZY.items():
        globals()[attr] = getattr(modules[m], attr)
    return globals()[name]


__all__ = [
    "IAM_MANAGED_POLICY", "IAM_TRUST_POLICY", "KMS_KEY_POLICY", "SQS_QUEUE_POLICY",
    "Caller", "CallerType", "Decision", "Dialect", "Effect", "Level", "Limits", "Outcome", "Policy",
    "PolicyError", "PolicyKind", "Problem", "Request", "Side", "Statement", "StatementRef", "Style",
    "compile_policy", "evaluate", "parse_date", "parse_policy", "wildcard_match",
]
