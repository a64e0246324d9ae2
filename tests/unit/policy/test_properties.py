"""Properties of the evaluation logic that hold for any policy (policy evaluation logic page):
statement order does not matter, an explicit deny of everything beats any allow, and a request is
decided the same way whether a statement's values are listed once or split across statements (values
within an element are OR'ed)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.policy import Caller, Outcome, PolicyError, PolicyKind, Request, evaluate, parse_policy

A = "111122223333"
ACTIONS = ["sqs:SendMessage", "sqs:*", "SQS:Send*", "sns:Publish", "*", "s3:Get*"]
RESOURCES = ["*", f"arn:aws:sqs:us-east-1:{A}:q", "arn:aws:sqs:*", f"arn:aws:sqs:us-east-1:{A}:other"]
PRINCIPALS: list[Any] = ["*", {"AWS": A}, {"AWS": f"arn:aws:iam::{A}:user/ana"}, {"Service": "sns.amazonaws.com"},
                         {"AWS": "444455556666"}, {"AWS": f"arn:aws:iam::{A}:role/r"}]
CONDITIONS: list[Any] = [
    {"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{A}:t"}},
    {"StringEquals": {"aws:SourceAccount": A}},
    {"Bool": {"aws:SecureTransport": "false"}},
    {"StringNotEqualsIfExists": {"aws:PrincipalTag/team": "ops"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"Null": {"aws:SourceArn": "true"}},
]


def statements(with_principal: bool) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, Any] = {"Effect": st.sampled_from(["Allow", "Deny"]),
                                "Action": st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3)}
    optional: dict[str, Any] = {"Condition": st.sampled_from(CONDITIONS)}
    if with_principal:
        required["Principal"] = st.sampled_from(PRINCIPALS)
        optional["Resource"] = st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2)
    else:
        required["Resource"] = st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2)
    return st.fixed_dictionaries(required, optional=optional)


CALLERS = st.sampled_from([Caller.user(f"arn:aws:iam::{A}:user/ana"), Caller.user("arn:aws:iam::444455556666:user/x"),
                           Caller.session(f"arn:aws:sts::{A}:assumed-role/r/s"), Caller.service("sns.amazonaws.com"),
                           Caller.root(A), Caller.anonymous()])
CONTEXTS = st.fixed_dictionaries({}, optional={
    "aws:SourceArn": st.sampled_from([f"arn:aws:sns:us-east-1:{A}:t", f"arn:aws:sns:us-east-1:{A}:u"]),
    "aws:SourceAccount": st.sampled_from([A, "444455556666"]),
    "aws:SecureTransport": st.booleans(),
    "aws:TagKeys": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)})


def request(caller: Caller, action: str, context: dict[str, Any]) -> Request:
    return Request(caller, action, f"arn:aws:sqs:us-east-1:{A}:q", resource_account=A, context=context, now=0)


def decide(identity: list[dict[str, Any]], resource: list[dict[str, Any]], req: Request) -> Outcome:
    def policy(items: list[dict[str, Any]], kind: PolicyKind) -> Any:
        return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": items}), kind)
    return evaluate(req, identity=[policy(identity, PolicyKind.IDENTITY)] if identity else [],
                    resource=policy(resource, PolicyKind.RESOURCE) if resource else None).outcome


@settings(max_examples=250, deadline=None)
@given(st.lists(statements(False), max_size=3), st.lists(statements(True), max_size=3), CALLERS,
       st.sampled_from(["sqs:SendMessage", "sqs:ReceiveMessage", "sns:Publish"]), CONTEXTS, st.randoms())
def test_statement_order_does_not_matter(identity: list[dict[str, Any]], resource: list[dict[str, Any]],
                                         caller: Caller, action: str, context: dict[str, Any], rnd: Any) -> None:
    req = request(caller, action, context)
    before = decide(identity, resource, req)
    rnd.shuffle(identity)
    rnd.shuffle(resource)
    assert decide(identity, resource, req) is before


@settings(max_examples=250, deadline=None)
@given(st.lists(statements(False), max_size=3), st.lists(statements(True), max_size=3), CALLERS,
       st.sampled_from(["sqs:SendMessage", "sns:Publish"]), CONTEXTS)
def test_a_deny_of_everything_beats_every_allow(identity: list[dict[str, Any]], resource: list[dict[str, Any]],
                                                caller: Caller, action: str, context: dict[str, Any]) -> None:
    req = request(caller, action, context)
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
    assert decide(identity, [*resource, deny_all], req) is Outcome.EXPLICIT_DENY


@settings(max_examples=250, deadline=None)
@given(statements(True), CALLERS, st.sampled_from(["sqs:SendMessage", "sqs:GetQueueUrl", "sns:Publish"]), CONTEXTS)
def test_listed_actions_are_ored(statement: dict[str, Any], caller: Caller, action: str,
                                 context: dict[str, Any]) -> None:
    """One statement listing actions X and Y decides like two statements, one for X, one for Y."""
    req = request(caller, action, context)
    split = [{**statement, "Action": [a]} for a in statement["Action"]]
    assert decide([], [statement], req) is decide([], split, req)


@settings(max_examples=200, deadline=None)
@given(statements(True))
def test_an_identity_policy_naming_a_principal_is_refused(statement: dict[str, Any]) -> None:
    try:
        parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [statement]}), PolicyKind.IDENTITY)
    except PolicyError as e:
        assert e.message == "Policy document should not specify a principal."
    else:
        raise AssertionError("accepted a principal in an identity policy")
