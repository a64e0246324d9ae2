"""Every condition operator AWS documents, with its missing-key, IfExists and set-operator rules.

Sources (IAM User Guide): reference_policies_elements_condition_operators (operators, the missing-key
rule, IfExists, Null, the ArnLike-vs-StringLike example), reference_policies_multi-value-conditions
(OR of values, NOR for negated operators, AND of keys and operators, ForAllValues/ForAnyValue and
empty sets), reference_policies_condition-keys (aws:MultiFactorAuthPresent and BoolIfExists),
reference_policies_variables (variables in condition values), access_tags (tag keys and values).
Each row is one statement ``{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
"Condition": {operator: {key: values}}}`` and one request; the row says whether it is allowed.
"""

from __future__ import annotations

import base64

import pytest

from tsunagi.policy import PolicyKind, Request, evaluate, parse_policy

from .cases import session, user

MISSING = object()
ROWS: list[tuple[str, str, str, object, object, bool]] = [
    # name, operator, key, policy value(s), request value (MISSING: key absent), allowed
    # --- string operators
    ("string-equals", "StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin", "iamuser-admin", True),
    ("string-equals-is-case-sensitive", "StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin",
     "IAMUSER-ADMIN", False),
    ("string-equals-missing-key-is-false", "StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin",
     MISSING, False),
    ("string-not-equals", "StringNotEquals", "s3:x-amz-acl", "public-read", "private", True),
    ("string-not-equals-same", "StringNotEquals", "s3:x-amz-acl", "public-read", "public-read", False),
    ("string-not-equals-missing-key-is-true", "StringNotEquals", "s3:x-amz-acl", "public-read", MISSING, True),
    ("string-equals-ignore-case", "StringEqualsIgnoreCase", "aws:PrincipalTag/team", "Ops", "OPS", True),
    ("string-not-equals-ignore-case", "StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", "Ops", "ops", False),
    ("string-like-star", "StringLike", "s3:prefix", "home/*", "home/david/photos", True),
    ("string-like-question-mark", "StringLike", "s3:prefix", "h?me/", "home/", True),
    ("string-like-question-mark-is-one-character", "StringLike", "s3:prefix", "h?me/", "hoome/", False),
    ("string-like-empty-string-value", "StringLike", "s3:prefix", ["", "home/"], "", True),
    ("string-not-like", "StringNotLike", "s3:prefix", "*.tmp", "notes.txt", True),
    ("string-not-like-match", "StringNotLike", "s3:prefix", "*.tmp", "scratch.tmp", False),
    ("string-not-like-missing-key-is-true", "StringNotLike", "s3:prefix", "*.tmp", MISSING, True),
    ("values-are-ored", "StringEquals", "aws:RequestedRegion", ["eu-west-1", "eu-west-2", "eu-west-3"],
     "eu-west-2", True),
    ("values-are-ored-none-matches", "StringEquals", "aws:RequestedRegion", ["eu-west-1", "eu-west-2"],
     "us-east-1", False),
    ("negated-values-are-nored", "StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "audit", False),
    ("negated-values-none-matches", "StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "dev", True),
    ("key-names-are-case-insensitive", "StringEquals", "AWS:PRINCIPALTAG/Role", "dev", ("aws:principaltag/role", "dev"),
     True),
    # --- numeric operators
    ("numeric-less-than-equals-at-limit", "NumericLessThanEquals", "s3:max-keys", "10", "10", True),
    ("numeric-less-than-equals-over", "NumericLessThanEquals", "s3:max-keys", "10", "11", False),
    ("numeric-equals-decimal", "NumericEquals", "s3:max-keys", "10", "10.0", True),
    ("numeric-not-equals", "NumericNotEquals", "s3:max-keys", "10", "11", True),
    ("numeric-less-than", "NumericLessThan", "s3:max-keys", "10", "9", True),
    ("numeric-less-than-equal-is-not-less", "NumericLessThan", "s3:max-keys", "10", "10", False),
    ("numeric-greater-than", "NumericGreaterThan", "s3:max-keys", 10, "11", True),
    ("numeric-greater-than-equal", "NumericGreaterThanEquals", "s3:max-keys", "10", "10", True),
    ("numeric-not-a-number", "NumericEquals", "s3:max-keys", "10", "ten", False),
    ("numeric-missing-key", "NumericLessThan", "s3:max-keys", "10", MISSING, False),
    # --- date operators
    ("date-greater-than-token-issue", "DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z",
     "2020-06-01T12:00:00Z", True),
    ("date-greater-than-missing-token", "DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", MISSING,
     False),
    ("date-equals-iso-and-epoch", "DateEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", "1577836800", True),
    ("date-not-equals", "DateNotEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", True),
    ("date-less-than", "DateLessThan", "aws:CurrentTime", "2017-12-31T23:59:59Z", "2017-09-01T12:00:00Z", True),
    ("date-less-than-equals-same", "DateLessThanEquals", "aws:CurrentTime", "2017-12-31T23:59:59Z",
     "2017-12-31T23:59:59Z", True),
    ("date-greater-than-equals-same", "DateGreaterThanEquals", "aws:CurrentTime", "2017-07-01T00:00:00Z",
     "2017-07-01T00:00:00Z", True),
    ("date-with-offset", "DateEquals", "aws:CurrentTime", "2020-01-01T09:00:00+09:00", "2020-01-01T00:00:00Z", True),
    ("date-only", "DateEquals", "aws:CurrentTime", "2020-01-01", "2020-01-01T00:00:00Z", True),
    ("date-epoch-in-policy", "DateGreaterThan", "aws:CurrentTime", "1498867200", "2017-09-01T00:00:00Z", True),
    ("date-epoch-time-key", "DateLessThan", "aws:EpochTime", "2017-07-01T00:00:00Z", "1498867199", True),
    ("date-unreadable-request-value", "DateLessThan", "aws:CurrentTime", "2017-07-01T00:00:00Z", "yesterday", False),
    # --- Bool
    ("bool-true", "Bool", "aws:SecureTransport", "true", "true", True),
    ("bool-is-case-insensitive", "Bool", "aws:SecureTransport", "true", "TRUE", True),
    ("bool-json-boolean", "Bool", "aws:SecureTransport", True, "true", True),
    ("bool-false-does-not-match-true", "Bool", "aws:SecureTransport", "false", "true", False),
    ("bool-missing-key", "Bool", "aws:MultiFactorAuthPresent", "true", MISSING, False),
    ("bool-if-exists-long-term-credentials", "BoolIfExists", "aws:MultiFactorAuthPresent", "true", MISSING, True),
    ("bool-if-exists-without-mfa", "BoolIfExists", "aws:MultiFactorAuthPresent", "true", "false", False),
    # --- BinaryEquals
    ("binary-equals", "BinaryEquals", "example:key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", b"BinaryValueInBase64", True),
    ("binary-equals-base64-request", "BinaryEquals", "example:key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==",
     base64.b64encode(b"BinaryValueInBase64").decode(), True),
    ("binary-differs", "BinaryEquals", "example:key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", b"Other", False),
    # --- IP addresses
    ("ip-in-range", "IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.7", True),
    ("ip-out-of-range", "IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.114.7", False),
    ("ip-bare-address-is-slash-32", "IpAddress", "aws:SourceIp", "203.0.113.5", "203.0.113.5", True),
    ("ip-bare-address-other", "IpAddress", "aws:SourceIp", "203.0.113.5", "203.0.113.6", False),
    ("ipv6-range", "IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8:1234:5678::/64"],
     "2001:db8:1234:5678::abcd", True),
    ("ipv4-request-ipv6-range", "IpAddress", "aws:SourceIp", "2001:DB8::/32", "203.0.113.7", False),
    ("not-ip-address-outside", "NotIpAddress", "aws:SourceIp", ["192.0.2.0/24", "203.0.113.0/24"], "198.51.100.1",
     True),
    ("not-ip-address-inside", "NotIpAddress", "aws:SourceIp", ["192.0.2.0/24", "203.0.113.0/24"], "192.0.2.9", False),
    ("ip-not-an-address", "IpAddress", "aws:SourceIp", "0.0.0.0/0", "localhost", False),
    # --- ARN operators
    ("arn-equals", "ArnEquals", "aws:SourceArn", "arn:aws:sns:us-east-2:444455556666:MyTopic",
     "arn:aws:sns:us-east-2:444455556666:MyTopic", True),
    ("arn-like-segments-are-separate", "ArnLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", False),
    ("string-like-is-not-segment-aware", "StringLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", True),
    ("arn-like-empty-segments", "ArnLike", "aws:SourceArn", "arn:aws:s3:*:*:awsexamplebucket1",
     "arn:aws:s3:::awsexamplebucket1", True),
    ("arn-like-resource-part-has-colons", "ArnLike", "aws:SourceArn", "arn:aws:lambda:*:*:function:fn*",
     "arn:aws:lambda:us-east-1:111122223333:function:fn:prod", True),
    ("arn-equals-also-takes-wildcards", "ArnEquals", "aws:SourceArn", "arn:aws:sns:*:444455556666:*",
     "arn:aws:sns:us-east-2:444455556666:MyTopic", True),
    ("arn-not-like", "ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:Other", "arn:aws:sns:us-east-2:4:MyTopic", True),
    ("arn-not-equals-same", "ArnNotEquals", "aws:PrincipalArn", "arn:aws:iam::444455556666:user/user-name",
     "arn:aws:iam::444455556666:user/user-name", False),
    ("arn-not-like-missing-key", "ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:Other", MISSING, True),
    ("arn-like-not-an-arn", "ArnLike", "aws:SourceArn", "arn:aws:sns:*:*:*", "MyTopic", False),
    # --- Null
    ("null-true-key-absent", "Null", "aws:TokenIssueTime", "true", MISSING, True),
    ("null-true-key-present", "Null", "aws:TokenIssueTime", "true", "2020-01-01T00:00:00Z", False),
    ("null-false-key-present", "Null", "aws:TokenIssueTime", "false", "2020-01-01T00:00:00Z", True),
    ("null-false-key-absent", "Null", "aws:TokenIssueTime", "false", MISSING, False),
    ("null-json-boolean", "Null", "kms:BypassPolicyLockoutSafetyCheck", True, MISSING, True),
    ("null-empty-set-is-absent", "Null", "aws:TagKeys", "true", (), True),
    # --- ...IfExists
    ("if-exists-missing", "StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], MISSING, True),
    ("if-exists-present-matching", "StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], "t2.micro",
     True),
    ("if-exists-present-other", "StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], "m5.large",
     False),
    ("without-if-exists-missing", "StringLike", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], MISSING, False),
    ("negated-if-exists-missing", "StringNotEqualsIfExists", "aws:ResourceTag/env", "prod", MISSING, True),
    ("negated-if-exists-present-same", "StringNotEqualsIfExists", "aws:ResourceTag/env", "prod", "prod", False),
    ("ip-if-exists-missing", "IpAddressIfExists", "aws:SourceIp", "203.0.113.0/24", MISSING, True),
    # --- set operators
    ("for-all-values-subset", "ForAllValues:StringLike", "dynamodb:requestedAttributes",
     ["PostDateTime", "Message", "Tags"], ("PostDateTime", "Message"), True),
    ("for-all-values-one-outside", "ForAllValues:StringLike", "dynamodb:requestedAttributes",
     ["PostDateTime", "Message", "Tags"], ("PostDateTime", "UserName"), False),
    ("for-all-values-missing-key-is-true", "ForAllValues:StringEquals", "aws:TagKeys", ["environment", "cost-center"],
     MISSING, True),
    ("for-all-values-empty-set-is-true", "ForAllValues:StringEquals", "aws:TagKeys", ["environment"], (), True),
    ("for-all-values-empty-string-is-true", "ForAllValues:StringEquals", "aws:TagKeys", ["environment"], "", True),
    ("for-any-value-one-matches", "ForAnyValue:StringLike", "dynamodb:requestedAttributes", ["ID", "PostDateTime"],
     ("UserName", "Message", "PostDateTime"), True),
    ("for-any-value-none-matches", "ForAnyValue:StringLike", "dynamodb:requestedAttributes", ["ID", "PostDateTime"],
     ("UserName",), False),
    ("for-any-value-missing-key-is-false", "ForAnyValue:StringEquals", "aws:CalledVia", "dynamodb.amazonaws.com",
     MISSING, False),
    ("for-any-value-empty-set-is-false", "ForAnyValue:StringEquals", "aws:CalledVia", "dynamodb.amazonaws.com", (),
     False),
    ("for-any-value-if-exists-missing", "ForAnyValue:StringEqualsIfExists", "aws:CalledVia", "dynamodb.amazonaws.com",
     MISSING, True),
    ("for-any-value-called-via", "ForAnyValue:StringEquals", "aws:CalledVia", ["dynamodb.amazonaws.com"],
     ("cloudformation.amazonaws.com", "dynamodb.amazonaws.com"), True),
    ("for-all-values-negated-none-forbidden", "ForAllValues:StringNotEquals", "aws:TagKeys", ["admin"],
     ("env", "team"), True),
    ("for-all-values-negated-one-forbidden", "ForAllValues:StringNotEquals", "aws:TagKeys", ["admin"],
     ("env", "admin"), False),
    ("for-any-value-negated", "ForAnyValue:StringNotEquals", "aws:TagKeys", ["admin"], ("admin", "env"), True),
    ("for-any-value-negated-all-forbidden", "ForAnyValue:StringNotEquals", "aws:TagKeys", ["admin"], ("admin",),
     False),
    ("multivalued-key-without-set-operator", "StringEquals", "aws:TagKeys", "env", ("team", "env"), True),
    ("multivalued-key-negated-without-set-operator", "StringNotEquals", "aws:TagKeys", "env", ("team", "env"), False),
    ("set-operator-on-a-single-value", "ForAllValues:StringEquals", "aws:RequestTag/Dept", "Accounting",
     "Accounting", True),
]


@pytest.mark.parametrize(("name", "operator", "key", "wanted", "got", "allowed"), ROWS, ids=[r[0] for r in ROWS])
def test_condition(name: str, operator: str, key: str, wanted: object, got: object, allowed: bool) -> None:
    policy = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {operator: {key: wanted}}}]},
        PolicyKind.IDENTITY)
    if isinstance(got, tuple) and len(got) == 2 and got[0] == key.lower():
        context = {got[0]: got[1]}                   # the request spells the key another way
    else:
        context = {} if got is MISSING else {key: got}
    decision = evaluate(Request(user("david"), "s3:GetObject", "arn:aws:s3:::b/k", context=context),
                        identity=[policy])
    assert decision.allowed is allowed, decision.reason


def test_keys_and_operators_are_anded() -> None:
    """reference_policies_condition-logic-multiple-context-keys-or-values: several keys under one
    operator, and several operators, must all hold."""
    policy = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/department": ["finance", "hr"],
                                       "aws:PrincipalTag/role": ["audit", "security"]},
                      "ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::222222222222:user/Ana",
                                                       "arn:aws:iam::222222222222:user/Mary"]}}}]})

    def allowed(name: str, **tags: str) -> bool:
        context = {f"aws:PrincipalTag/{k}": v for k, v in tags.items()}
        request = Request(user(name, "222222222222"), "s3:GetObject", "arn:aws:s3:::b/k", context=context)
        return evaluate(request, identity=[policy]).allowed

    assert allowed("Mary", department="hr", role="audit")
    assert not allowed("Mary", department="hr")                      # one key missing
    assert not allowed("Mary", department="hr", role="dev")          # one key not matching
    assert not allowed("John", department="hr", role="audit")        # the other operator


@pytest.mark.parametrize(("owner", "allowed"), [("david", True), ("eve", False)])
def test_policy_variable_in_a_condition_value(owner: str, allowed: bool) -> None:
    """reference_policies_variables: a variable in a string condition is the request's value."""
    policy = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Owner": "${aws:username}"}}}]})
    request = Request(user("david"), "ec2:StartInstances", "*", context={"aws:ResourceTag/Owner": owner})
    assert evaluate(request, identity=[policy]).allowed is allowed


@pytest.mark.parametrize(("principal_project", "resource_project", "allowed"),
                         [("blue", "blue", True), ("blue", "red", False), (None, "blue", False)])
def test_attribute_based_access_principal_tag_against_resource_tag(principal_project: str | None,
                                                                  resource_project: str, allowed: bool) -> None:
    """tutorial_attribute-based-access-control: the principal's tag must equal the resource's."""
    policy = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/access-project": "${aws:PrincipalTag/access-project}"}}}]})
    context = {"aws:ResourceTag/access-project": resource_project}
    if principal_project is not None:
        context["aws:PrincipalTag/access-project"] = principal_project
    request = Request(session("access-peg", "s"), "secretsmanager:GetSecretValue", "*", context=context)
    assert evaluate(request, identity=[policy]).allowed is allowed


def test_a_negated_operator_is_the_negation_of_its_positive_one() -> None:
    """For every pair, whatever the request value (present or missing): NotX == not X."""
    pairs = [("StringEquals", "StringNotEquals"), ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
             ("StringLike", "StringNotLike"), ("NumericEquals", "NumericNotEquals"), ("DateEquals", "DateNotEquals"),
             ("IpAddress", "NotIpAddress"), ("ArnLike", "ArnNotLike"), ("ArnEquals", "ArnNotEquals")]
    values = {"String": ["a", "A", "b*", None], "Numeric": ["1", "2", None], "Date": ["2020-01-01", "1577836800", None],
              "Ip": ["10.0.0.1", "10.1.0.1", None], "Arn": ["arn:aws:s3:::a", "arn:aws:s3:::b", None]}
    policy_value = {"String": "a", "Numeric": "1", "Date": "2020-01-01T00:00:00Z", "Ip": "10.0.0.0/16",
                    "Arn": "arn:aws:s3:::a*"}
    for positive, negative in pairs:
        family = next(f for f in values if positive.startswith(f))
        for got in values[family]:
            results = []
            for operator in (positive, negative):
                policy = parse_policy({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                    "Condition": {operator: {"test:key": policy_value[family]}}}]})
                context = {} if got is None else {"test:key": got}
                results.append(evaluate(Request(user("u"), "s3:GetObject", "*", context=context),
                                        identity=[policy]).allowed)
            assert results[0] is not results[1], (positive, got)
