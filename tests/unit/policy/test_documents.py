"""Malformed documents are refused with the error the service that was handed them returns.

Where each message comes from is in src/tsunagi/policy/errors.py (the issue threads users quote the
messages in; AWS documents the codes). The grammar is the IAM User Guide's
(reference_policies_grammar and the element pages); quotas are reference_iam-quotas, the KMS key
policy page and the SQS policy quotas page.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.policy import (
    IAM_MANAGED_POLICY,
    IAM_TRUST_POLICY,
    KMS_KEY_POLICY,
    SQS_QUEUE_POLICY,
    Caller,
    Dialect,
    PolicyError,
    PolicyKind,
    Problem,
    Request,
    compile_policy,
    evaluate,
    parse_policy,
)

ID, R, T, K = PolicyKind.IDENTITY, PolicyKind.RESOURCE, PolicyKind.TRUST, PolicyKind.KEY
IAM, KMS, S3, SQS, SNS = Dialect.IAM, Dialect.KMS, Dialect.S3, Dialect.SQS, Dialect.SNS
OK_STATEMENT = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
QUEUE = "arn:aws:sqs:us-east-1:111122223333:q"


def one(**statement: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


BAD: list[tuple[str, Any, PolicyKind, Dialect, str, str]] = [
    # name, document (dict or text), kind, dialect, code, message
    ("not-json", "{not json", ID, IAM, "MalformedPolicyDocument", "Syntax errors in policy."),
    ("a-list-is-not-a-policy", json.dumps([{"Version": "2012-10-17", "Statement": [OK_STATEMENT]}]), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("duplicate-json-keys", '{"Version": "2012-10-17", "Statement": [], "Statement": []}', ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("identity-policy-with-principal", one(Effect="Allow", Principal={"AWS": "arn:aws:iam::111122223333:root"},
                                           Action="sts:AssumeRole", Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Policy document should not specify a principal."),
    ("identity-policy-with-notprincipal", one(Effect="Deny", NotPrincipal={"AWS": "111122223333"}, Action="s3:*",
                                              Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Policy document should not specify a principal."),
    ("bucket-policy-without-principal", one(Effect="Allow", Action="s3:*", Resource="arn:aws:s3:::b"), R, S3,
     "MalformedPolicy", "Missing required field Principal"),
    ("trust-policy-without-principal", one(Effect="Allow", Action="sts:AssumeRole"), T, IAM,
     "MalformedPolicyDocument", "Missing required field Principal"),
    ("trust-policy-with-resource", one(Effect="Allow", Principal={"Service": "lambda.amazonaws.com"},
                                       Action="sts:AssumeRole", Resource="*"), T, IAM,
     "MalformedPolicyDocument", "Has prohibited field Resource"),
    ("no-action", one(Effect="Allow", Resource="*"), ID, IAM, "MalformedPolicyDocument",
     "Policy statement must contain actions."),
    ("empty-action-list", one(Effect="Allow", Action=[], Resource="*"), ID, IAM, "MalformedPolicyDocument",
     "Policy statement must contain actions."),
    ("no-resource", one(Effect="Allow", Action="s3:*"), ID, IAM, "MalformedPolicyDocument",
     "Policy statement must contain resources."),
    ("duplicate-sid", {"Version": "2012-10-17", "Statement": [{"Sid": "A", **OK_STATEMENT}, {"Sid": "A", **OK_STATEMENT}]},
     ID, IAM, "MalformedPolicyDocument", "Statement IDs (SID) in a single policy must be unique."),
    ("action-without-vendor", one(Effect="Allow", Action="GetObject", Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("action-with-two-colons", one(Effect="Allow", Action="codebuild:Batch:Get", Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Actions/Condition can contain only one colon."),
    ("action-vendor-wildcard", one(Effect="Allow", Action="*:Untag*", Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards"),
    ("condition-key-without-vendor", one(Effect="Allow", Action="s3:*", Resource="*",
                                         Condition={"StringEquals": {"prefix": "a"}}), ID, IAM,
     "MalformedPolicyDocument", "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("condition-without-operator", one(Effect="Allow", Action="servicecatalog:*", Resource="*",
                                       Condition={"servicecatalog:accountLevel": "self"}), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("unknown-condition-operator", one(Effect="Allow", Action="s3:*", Resource="*",
                                       Condition={"StringEqualz": {"s3:prefix": "a"}}), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("null-if-exists-is-not-an-operator", one(Effect="Allow", Action="s3:*", Resource="*",
                                              Condition={"NullIfExists": {"s3:prefix": "true"}}), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("resource-not-an-arn", one(Effect="Allow", Action="sns:Publish", Resource="sns-topic-name"), ID, IAM,
     "MalformedPolicyDocument", 'Resource sns-topic-name must be in ARN format or "*".'),
    ("resource-empty", one(Effect="Allow", Action="kms:*", Resource=""), ID, IAM,
     "MalformedPolicyDocument", 'Resource  must be in ARN format or "*".'),
    ("resource-arn-too-short", one(Effect="Allow", Action="iam:PassRole", Resource="arn:aws:iam:7934:user/dan"), ID, IAM,
     "MalformedPolicyDocument", "The policy failed legacy parsing"),
    ("iam-resource-with-region", one(Effect="Allow", Action="iam:GetRole",
                                     Resource="arn:aws:iam:us-east-1:111122223333:role/r"), ID, IAM,
     "MalformedPolicyDocument", "IAM resource arn:aws:iam:us-east-1:111122223333:role/r cannot contain region "
                                "information."),
    ("invalid-aws-principal", one(Effect="Allow", Principal={"AWS": "arn:aws:iam::1234:role/x"},
                                  Action="sts:AssumeRole"), T, IAM,
     "MalformedPolicyDocument", 'Invalid principal in policy: "AWS":"arn:aws:iam::1234:role/x"'),
    ("wildcard-in-a-principal-arn", one(Effect="Allow", Principal={"AWS": "arn:aws:iam::111122223333:user/*"},
                                        Action="s3:*", Resource="arn:aws:s3:::b/*"), R, S3,
     "MalformedPolicy", "Invalid principal in policy"),
    ("invalid-service-principal", one(Effect="Allow", Principal={"Service": "not a service"},
                                      Action="sts:AssumeRole"), T, IAM,
     "MalformedPolicyDocument", 'Invalid principal in policy: "SERVICE":"not a service"'),
    ("principal-string-other-than-star", one(Effect="Allow", Principal="111122223333", Action="s3:*",
                                             Resource="arn:aws:s3:::b"), R, S3,
     "MalformedPolicy", "Invalid principal in policy"),
    ("unknown-principal-type", one(Effect="Allow", Principal={"User": "bob"}, Action="kms:*", Resource="*"), K, KMS,
     "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals."),
    ("kms-for-all-values-with-encryption-context",
     one(Effect="Allow", Principal={"AWS": "111122223333"}, Action="kms:Decrypt", Resource="*",
         Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:Department": "IT"}}), K, KMS,
     "MalformedPolicyDocumentException",
     "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued "
     "condition key matches requests without the specified encryption context or with an unspecified encryption "
     "context. To fix, remove ForAllValues."),
    ("kms-for-all-values-with-request-tag",
     one(Effect="Allow", Principal={"AWS": "111122223333"}, Action="kms:TagResource", Resource="*",
         Condition={"ForAllValues:StringEquals": {"aws:RequestTag/Dept": "IT"}}), K, KMS,
     "MalformedPolicyDocumentException",
     "OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition key matches "
     "requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues."),
    ("s3-not-json", "[]", R, S3, "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'"),
    ("s3-invalid-effect", one(Effect="hello", Principal={"AWS": "111122223333"}, Action="s3:*",
                              Resource="arn:aws:s3:::b"), R, S3, "MalformedPolicy", "Invalid effect: hello"),
    ("s3-action-of-another-service", one(Effect="Allow", Principal="*", Action="sqs:SendMessage",
                                         Resource="arn:aws:s3:::b"), R, S3, "MalformedPolicy",
     "Policy has invalid action"),
    ("s3-resource-not-in-s3", one(Effect="Allow", Principal="*", Action="s3:GetObject",
                                  Resource="arn:aws:sqs:us-east-1:111122223333:q"), R, S3, "MalformedPolicy",
     "Policy has invalid resource"),
    ("s3-resource-too-short", one(Effect="Allow", Principal="*", Action="s3:GetObject", Resource="arn:*"), R, S3,
     "MalformedPolicy", "Policy has invalid resource"),
    ("s3-invalid-version", {"Version": "invalid policy", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                                        "Action": "s3:GetObject",
                                                                        "Resource": "arn:aws:s3:::b/*"}]}, R, S3,
     "MalformedPolicy", "The policy must contain a valid version string"),
    ("s3-missing-statement", {"Version": "2012-10-17"}, R, S3, "MalformedPolicy", "Missing required field Statement"),
    ("s3-unknown-field", one(Effect="Allow", Principle={"AWS": "*"}, Action="s3:*", Resource="arn:aws:s3:::b"), R, S3,
     "MalformedPolicy", "Unknown field Principle"),
    ("iam-unknown-field", one(Effect="Allow", Action="s3:*", Resource="*", Foo="bar"), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("iam-unknown-top-level-field", {"Version": "2012-10-17", "Statement": [OK_STATEMENT],
                                     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2013-06-30T00:00:00Z"}}},
     ID, IAM, "MalformedPolicyDocument", "Syntax errors in policy."),
    ("iam-bad-version", {"Version": "2012-10-18", "Statement": [OK_STATEMENT]}, ID, IAM, "MalformedPolicyDocument",
     "Syntax errors in policy."),
    ("iam-effect-wrong-case", one(Effect="allow", Action="s3:*", Resource="*"), ID, IAM, "MalformedPolicyDocument",
     "Syntax errors in policy."),
    ("iam-empty-statement-list", {"Version": "2012-10-17", "Statement": []}, ID, IAM, "MalformedPolicyDocument",
     "Syntax errors in policy."),
    ("action-and-notaction", one(Effect="Allow", Action="s3:*", NotAction="iam:*", Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("action-not-a-string", one(Effect="Allow", Action={"s3": "GetObject"}, Resource="*"), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("condition-value-object", one(Effect="Allow", Action="s3:*", Resource="*",
                                   Condition={"StringEquals": {"s3:prefix": {"a": "b"}}}), ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("characters-outside-latin-1", '{"Version": "2012-10-17", "Statement": [{"Sid": "日本", "Effect": "Allow", '
                                   '"Action": "s3:*", "Resource": "*"}]}', ID, IAM,
     "MalformedPolicyDocument", "Syntax errors in policy."),
    ("sqs-says-one-thing-for-everything", one(Effect="Allow", Action="sqs:SendMessage", Resource=QUEUE), R, SQS,
     "InvalidAttributeValue", "Invalid value for the parameter Policy."),
    ("sqs-action-of-another-service", one(Effect="Allow", Principal="*", Action="sns:Publish", Resource=QUEUE), R, SQS,
     "InvalidAttributeValue", "Invalid value for the parameter Policy."),
    ("sns-action-out-of-scope", one(Effect="Allow", Principal={"AWS": "111122223333"},
                                    Action="sqs:SendMessage",
                                    Resource="arn:aws:sns:us-east-1:111122223333:t"), R, SNS,
     "InvalidParameter", "Invalid parameter: Policy statement action out of service scope!"),
    ("sns-statements-need-unique-ids", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sns:Publish"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/bholt"}, "Action": "sns:Publish"}]},
     R, SNS, "InvalidParameter", "Invalid parameter: Every policy statement must have a unique ID."),
    ("sns-invalid-principal", one(Effect="Allow", Principal={"AWS": "123"}, Action="sns:Subscribe"), R, SNS,
     "InvalidParameter", "Invalid parameter: Policy Error: PrincipalNotFound"),
]


@pytest.mark.parametrize(("name", "document", "kind", "dialect", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed(name: str, document: Any, kind: PolicyKind, dialect: Dialect, code: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, kind, dialect=dialect)
    assert (caught.value.code, caught.value.message) == (code, message)
    assert caught.value.status == 400


GOOD: list[tuple[str, Any, PolicyKind, Dialect]] = [
    ("statement-object", {"Version": "2012-10-17", "Statement": OK_STATEMENT}, ID, IAM),
    ("no-version", {"Statement": [OK_STATEMENT]}, ID, IAM),
    ("version-2008", {"Version": "2008-10-17", "Statement": [OK_STATEMENT]}, ID, IAM),
    ("sids-with-spaces", {"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM policies", **OK_STATEMENT}]},
     ID, IAM),
    ("statements-without-sids", {"Version": "2012-10-17", "Statement": [OK_STATEMENT, OK_STATEMENT]}, ID, IAM),
    ("every-principal-form", one(Effect="Allow", Action="s3:GetObject", Resource="arn:aws:s3:::b/*", Principal={
        "AWS": ["*", "111122223333", "arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:user/path/Bob",
                "arn:aws:iam::111122223333:role/service-role/r", "arn:aws:sts::111122223333:assumed-role/r/s",
                "arn:aws:sts::111122223333:federated-user/f"],
        "Service": ["s3.amazonaws.com", "logs.us-east-1.amazonaws.com"],
        "Federated": ["cognito-identity.amazonaws.com", "arn:aws:iam::111122223333:saml-provider/idp"],
        "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}), R, S3),
    ("resource-policy-without-resource", {"Statement": [{
        "Principal": {"AWS": "999999999999"}, "Effect": "Allow", "Action": "sns:*",
        "Condition": {"StringLike": {"sns:endpoint": "https://example.com/${aws:username}/"}}}]}, R, SNS),
    ("sns-default-policy", {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
        "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["SNS:GetTopicAttributes", "SNS:Publish"], "Resource": "arn:aws:sns:us-east-1:111122223333:t",
        "Condition": {"StringEquals": {"AWS:SourceOwner": "111122223333"}}}]}, R, SNS),
    ("resource-arn-with-trailing-wildcard", one(Effect="Allow", Action="sqs:*", Resource="arn:aws:sqs:*"), ID, IAM),
    ("condition-with-number-and-boolean-values", one(Effect="Allow", Action="s3:*", Resource="*", Condition={
        "NumericLessThanEquals": {"s3:max-keys": 10}, "Bool": {"aws:SecureTransport": True}}), ID, IAM),
    ("kms-for-any-value-with-encryption-context-keys", one(
        Effect="Allow", Principal={"AWS": "111122223333"}, Action="kms:Decrypt", Resource="*",
        Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName"]}}), K, KMS),
]


@pytest.mark.parametrize(("name", "document", "kind", "dialect"), GOOD, ids=[g[0] for g in GOOD])
def test_accepted(name: str, document: Any, kind: PolicyKind, dialect: Dialect) -> None:
    policy = parse_policy(json.dumps(document), kind, dialect=dialect)
    assert policy.statements


def test_iam_managed_policy_size_counts_characters_but_not_whitespace() -> None:
    """reference_iam-quotas: 6,144 characters for a managed policy; IAM does not count whitespace."""
    actions = [f"s3:Get{'X' * 40}{i}" for i in range(150)]
    big = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    assert len(big) > 6144
    with pytest.raises(PolicyError) as caught:
        parse_policy(big, limits=IAM_MANAGED_POLICY)
    assert (caught.value.code, caught.value.message) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144")
    small = json.dumps({"Version": "2012-10-17", "Statement": [OK_STATEMENT]}, indent=4000)
    assert len(small) > 6144                      # whitespace only: still within the quota
    parse_policy(small, limits=IAM_MANAGED_POLICY)


def test_trust_policy_size() -> None:
    principals = [f"arn:aws:iam::111122223333:user/user-number-{i:04d}" for i in range(60)]
    text = json.dumps(one(Effect="Allow", Principal={"AWS": principals}, Action="sts:AssumeRole"))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, T, limits=IAM_TRUST_POLICY)
    assert caught.value.message == "Cannot exceed quota for ACLSizePerRole: 2048"
    parse_policy(json.dumps(one(Effect="Allow", Principal={"AWS": principals[:5]}, Action="sts:AssumeRole")), T,
                 limits=IAM_TRUST_POLICY)


def test_kms_key_policy_size() -> None:
    """KMS key-policies page: a key policy document is at most 32 KB."""
    principals = [f"arn:aws:iam::111122223333:user/u{i:05d}" for i in range(1000)]
    text = json.dumps(one(Effect="Allow", Principal={"AWS": principals}, Action="kms:*", Resource="*"))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, K, dialect=KMS, limits=KMS_KEY_POLICY)
    assert caught.value.code == "MalformedPolicyDocumentException"


@pytest.mark.parametrize(("what", "document"), [
    ("bytes", {"Version": "2012-10-17", "Statement": [
        {"Sid": f"S{i}", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
         "Resource": QUEUE + "x" * 500} for i in range(16)]}),
    ("statements", {"Version": "2012-10-17", "Statement": [
        {"Sid": f"S{i}", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": QUEUE}
        for i in range(21)]}),
    ("principals", one(Effect="Allow", Principal={"AWS": [f"1111222233{i:02d}" for i in range(51)]},
                       Action="sqs:SendMessage", Resource=QUEUE)),
    ("conditions", one(Effect="Allow", Principal="*", Action="sqs:SendMessage", Resource=QUEUE, Condition={
        "StringEquals": {f"aws:PrincipalTag/t{i}": "v" for i in range(11)}})),
    ("actions", one(Effect="Allow", Principal="*", Resource=QUEUE, Action=[
        "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility", "sqs:PurgeQueue", "sqs:ListQueueTags"])),
])
def test_sqs_policy_quotas(what: str, document: dict[str, Any]) -> None:
    """SQS developer guide, quotas-policies: 8,192 bytes, 20 statements, 50 principals, 10 conditions,
    7 actions per statement."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(json.dumps(document), R, dialect=SQS, limits=SQS_QUEUE_POLICY)
    assert (caught.value.code, caught.value.message) == ("InvalidAttributeValue", "Invalid value for the parameter Policy.")
    assert caught.value.problem in (Problem.TOO_LARGE, Problem.TOO_MANY)


def test_compiled_once_per_text() -> None:
    text = json.dumps(one(Effect="Allow", Principal="*", Action="sqs:SendMessage", Resource=QUEUE))
    first = compile_policy(text, R, SQS, "the queue policy of q")
    assert compile_policy(text, R, SQS, "the queue policy of q") is first
    assert compile_policy(text, R, SQS, "another label") is not first
    with pytest.raises(PolicyError):
        compile_policy("{", R, SQS)


def test_a_policy_keeps_its_document_and_can_be_renamed() -> None:
    document = one(Sid="S", Effect="Allow", Principal="*", Action="sqs:SendMessage", Resource=QUEUE)
    policy = parse_policy(json.dumps(document), R, dialect=SQS)
    assert policy.document == document
    assert policy.label == "the resource-based policy"
    renamed = policy.labelled(f"the queue policy of {QUEUE}")
    assert renamed.label == f"the queue policy of {QUEUE}" and renamed.statements is policy.statements
    assert policy.version == "2012-10-17" and policy.statements[0].sid == "S"


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["*", "", "Allow", "Deny", "s3:GetObject", "sqs:*", "arn:aws:s3:::b/*", "arn:aws:iam::111122223333:root",
     "111122223333", "sns.amazonaws.com", "2012-10-17", "aws:SourceArn", "${aws:username}", "a:b:c"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["AWS", "Service", "StringEquals", "ForAllValues:StringLike", "aws:SourceArn",
                                     "Null", "x"]), inner, max_size=3)), max_leaves=8)
STATEMENTS = st.dictionaries(st.sampled_from(["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                                              "Resource", "NotResource", "Condition", "Other"]), VALUES, max_size=6)
DOCUMENTS = st.fixed_dictionaries({"Statement": st.one_of(STATEMENTS, st.lists(STATEMENTS, max_size=3), VALUES)},
                                  optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17", "x"]),
                                            "Id": VALUES})


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS, st.sampled_from(list(PolicyKind)), st.sampled_from(list(Dialect)))
def test_any_document_is_accepted_or_refused_with_a_policy_error(document: dict[str, Any], kind: PolicyKind,
                                                                  dialect: Dialect) -> None:
    """Whatever arrives, the answer is a compiled policy or AWS's error, never a crash."""
    try:
        policy = parse_policy(json.dumps(document), kind, dialect=dialect)
    except PolicyError as e:
        assert e.code and e.message
    else:
        assert policy.statements
        for caller in (Caller.user("arn:aws:iam::111122223333:user/u"), Caller.service("sns.amazonaws.com"),
                       Caller.anonymous()):
            request = Request(caller, "s3:GetObject", "arn:aws:s3:::b/k", resource_account="111122223333",
                              context={"aws:SourceArn": "arn:aws:s3:::b", "aws:TagKeys": ["a"]})
            identity = [policy] if kind is PolicyKind.IDENTITY else []
            resource = policy if kind is not PolicyKind.IDENTITY else None
            decision = evaluate(request, identity=identity, resource=resource)
            assert decision.reason and isinstance(decision.notes, tuple)


def test_nesting_deeper_than_any_policy_is_malformed_not_a_crash() -> None:
    deep = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
            '"Condition":{"StringEquals":{"a":' + "[" * 5000 + "]" * 5000 + "}}}]}")
    with pytest.raises(PolicyError):
        parse_policy(deep, PolicyKind.IDENTITY)
