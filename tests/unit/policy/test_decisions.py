"""What a decision tells its caller: the deciding statement, or the side that allowed nothing and why,
in a sentence a user can act on (the pipes record it when a delivery is refused)."""

from __future__ import annotations

import json

from tsunagi.policy import (
    Caller,
    Dialect,
    Effect,
    Outcome,
    PolicyKind,
    Request,
    Side,
    compile_policy,
    evaluate,
    parse_policy,
)

from .cases import A, B, user

QUEUE = f"arn:aws:sqs:us-east-2:{A}:orders"
TOPIC = f"arn:aws:sns:us-east-2:{A}:orders-topic"
QUEUE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Allow-SNS-SendMessage", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
     "Action": "sqs:SendMessage", "Resource": QUEUE, "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}}},
    {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "sqs:ReceiveMessage", "Resource": QUEUE}]})


def delivery(source: str) -> Request:
    return Request(Caller.service("sns.amazonaws.com"), "sqs:SendMessage", QUEUE, resource_account=A,
                   context={"aws:SourceArn": source, "aws:SourceAccount": A})


def test_a_refused_delivery_says_which_policy_and_what_did_not_match() -> None:
    policy = compile_policy(QUEUE_POLICY, PolicyKind.RESOURCE, Dialect.SQS, f"the queue policy of {QUEUE}")
    decision = evaluate(delivery(TOPIC + "-old"), resource=policy)
    assert decision.outcome is Outcome.IMPLICIT_DENY and not decision.allowed
    assert decision.missing == (Side.RESOURCE,)
    assert decision.statement is None
    assert decision.reason.startswith(
        f"the queue policy of {QUEUE} has no statement that allows sns.amazonaws.com to sqs:SendMessage on "
        f"{QUEUE} with aws:SourceArn {TOPIC}-old and aws:SourceAccount {A}")
    assert decision.notes == (
        f"statement 'Allow-SNS-SendMessage': its condition ArnEquals aws:SourceArn {TOPIC} is not met "
        f"(aws:SourceArn is {TOPIC}-old)",
        "statement #2: its Principal (444455556666) does not cover sns.amazonaws.com")


def test_an_allowed_delivery_names_the_statement() -> None:
    policy = compile_policy(QUEUE_POLICY, PolicyKind.RESOURCE, Dialect.SQS, f"the queue policy of {QUEUE}")
    decision = evaluate(delivery(TOPIC), resource=policy)
    assert decision.allowed
    ref = decision.statement
    assert ref is not None
    assert (ref.policy, ref.kind, ref.sid, ref.index, ref.effect) == (
        f"the queue policy of {QUEUE}", PolicyKind.RESOURCE, "Allow-SNS-SendMessage", 0, Effect.ALLOW)
    assert decision.reason == f"allowed by statement 'Allow-SNS-SendMessage' of the queue policy of {QUEUE}"


def test_an_explicit_deny_names_its_statement_by_position_when_it_has_no_sid() -> None:
    identity = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": QUEUE}]}), label="the policy ReadOnlyQueues")
    decision = evaluate(Request(user("ana"), "sqs:SendMessage", QUEUE, resource_account=A), identity=[identity])
    assert decision.outcome is Outcome.EXPLICIT_DENY
    assert str(decision.statement) == "statement #2 of the policy ReadOnlyQueues"
    assert decision.reason == (f"sqs:SendMessage on {QUEUE} by arn:aws:iam::{A}:user/ana is explicitly denied by "
                               "statement #2 of the policy ReadOnlyQueues")


def test_cross_account_says_both_sides() -> None:
    policy = compile_policy(QUEUE_POLICY, PolicyKind.RESOURCE, Dialect.SQS, f"the queue policy of {QUEUE}")
    decision = evaluate(Request(user("dev", "999988887777"), "sqs:ReceiveMessage", QUEUE, resource_account=A),
                        resource=policy)
    assert decision.missing == (Side.IDENTITY, Side.RESOURCE)
    assert "no identity-based policy of arn:aws:iam::999988887777:user/dev allows sqs:ReceiveMessage" in decision.reason
    assert f"the queue policy of {QUEUE} has no statement that allows arn:aws:iam::999988887777:user/dev" \
        in decision.reason


def test_both_sides_are_named_when_both_allow() -> None:
    policy = compile_policy(QUEUE_POLICY, PolicyKind.RESOURCE, Dialect.SQS, f"the queue policy of {QUEUE}")
    identity = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Consume", "Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}]}),
        label="the policy Consumer")
    decision = evaluate(Request(user("dev", B), "sqs:ReceiveMessage", QUEUE, resource_account=A),
                        identity=[identity], resource=policy)
    assert [str(s) for s in decision.statements] == [
        "statement 'Consume' of the policy Consumer", f"statement #2 of the queue policy of {QUEUE}"]


def test_a_key_policy_that_only_delegates_says_so() -> None:
    key = f"arn:aws:kms:us-east-1:{A}:key/k"
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM policies", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
         "Action": "kms:*", "Resource": "*"}]}), PolicyKind.KEY, dialect=Dialect.KMS, label=f"the key policy of {key}")
    decision = evaluate(Request(Caller.service("sns.amazonaws.com"), "kms:GenerateDataKey", key, resource_account=A),
                        resource=policy)
    assert decision.reason.startswith(f"the key policy of {key} has no statement that allows sns.amazonaws.com")
    user_decision = evaluate(Request(user("ana"), "kms:Decrypt", key, resource_account=A), resource=policy)
    assert user_decision.missing == (Side.IDENTITY,)
    assert user_decision.notes == (f"statement 'Enable IAM policies' of the key policy of {key} allows the account "
                                   f"{A}, so an identity-based policy must allow it too",)


def test_a_dict_and_its_json_text_decide_alike() -> None:
    document = json.loads(QUEUE_POLICY)
    from_dict = parse_policy(document, PolicyKind.RESOURCE, dialect=Dialect.SQS)
    from_text = parse_policy(QUEUE_POLICY, PolicyKind.RESOURCE, dialect=Dialect.SQS)
    for source in (TOPIC, TOPIC + "x"):
        a, b = evaluate(delivery(source), resource=from_dict), evaluate(delivery(source), resource=from_text)
        assert (a.outcome, a.reason) == (b.outcome, b.reason)
