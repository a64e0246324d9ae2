"""The authorize step's pieces: which IAM action and resource each call is (operation names IAM spells
differently, resources from URLs and ARNs), and AWS's refusal text in each service's error form."""

from __future__ import annotations

import pytest

from tsunagi.context import Principal
from tsunagi.gateway.authorize import because, caller_of, refusal
from tsunagi.gateway.targets import Target, action_of, targets
from tsunagi.policy import Caller, CallerType, Outcome, PolicyKind, Request, compile_policy, evaluate

ME = "111111111111"
THEM = "222222222222"


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("sqs", "SendMessage", "sqs:SendMessage"),
    ("sqs", "SendMessageBatch", "sqs:SendMessage"),
    ("sqs", "DeleteMessageBatch", "sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
    ("sns", "PublishBatch", "sns:Publish"),
    ("lambda", "Invoke", "lambda:InvokeFunction"),
    ("lambda", "GetFunction", "lambda:GetFunction"),
    ("s3", "GetObject", "s3:GetObject"),
    ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "ListObjectsV2", "s3:ListBucket"),
    ("s3", "ListObjectVersions", "s3:ListBucketVersions"),
    ("s3", "CopyObject", "s3:PutObject"),
    ("s3", "CreateMultipartUpload", "s3:PutObject"),
    ("s3", "ListBuckets", "s3:ListAllMyBuckets"),
    ("s3", "DeleteObjects", "s3:DeleteObject"),
    ("s3", "PutBucketNotificationConfiguration", "s3:PutBucketNotification"),
    ("s3", "DeleteBucketCors", "s3:PutBucketCORS"),
    ("kms", "GenerateDataKey", "kms:GenerateDataKey"),
    ("logs", "PutLogEvents", "logs:PutLogEvents"),
])
def test_actions(service, operation, action):
    assert action_of(service, operation) == action


def test_sqs_resource_from_the_queue_url():
    [t] = targets("sqs", "SendMessage", {"QueueUrl": f"http://localhost:4566/{THEM}/q"}, ME, "us-east-1")
    assert t == Target("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{THEM}:q", THEM, "sqs")
    [t] = targets("sqs", "ReceiveMessage", {"QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/{ME}/q"}, ME,
                  "us-east-1")
    assert t.resource == f"arn:aws:sqs:eu-west-1:{ME}:q" and t.account == ME
    [t] = targets("sqs", "GetQueueUrl", {"QueueName": "q", "QueueOwnerAWSAccountId": THEM}, ME, "us-east-1")
    assert t.account == THEM and t.lookup == "sqs"
    [t] = targets("sqs", "CreateQueue", {"QueueName": "q"}, ME, "us-east-1")
    assert t.creates and t.account == ME


def test_sns_subscription_is_checked_against_its_topic():
    [t] = targets("sns", "Unsubscribe", {"SubscriptionArn": f"arn:aws:sns:us-east-1:{THEM}:t:0f1e"}, ME, "us-east-1")
    assert t.resource == f"arn:aws:sns:us-east-1:{THEM}:t" and t.account == THEM


def test_lambda_names_partial_arns_and_arns():
    [t] = targets("lambda", "Invoke", {"FunctionName": "f"}, ME, "us-east-1")
    assert t.resource == f"arn:aws:lambda:us-east-1:{ME}:function:f" and t.account == ME
    [t] = targets("lambda", "Invoke", {"FunctionName": f"{THEM}:function:f:prod"}, ME, "us-east-1")
    assert t.resource == f"arn:aws:lambda:us-east-1:{THEM}:function:f" and t.account == THEM
    [t] = targets("lambda", "CreateFunction", {"FunctionName": f"arn:aws:lambda:us-east-1:{THEM}:function:f"}, ME,
                  "us-east-1")
    assert t.creates and t.account == THEM and t.lookup is None


def test_s3_objects_keys_and_copy_sources():
    [t] = targets("s3", "GetObject", {"Bucket": "b", "Key": "a/b.txt"}, ME, "us-east-1")
    assert t.resource == "arn:aws:s3:::b/a/b.txt" and t.account is None and t.lookup == "s3"
    [t] = targets("s3", "ListObjectsV2", {"Bucket": "b"}, ME, "us-east-1")
    assert t.resource == "arn:aws:s3:::b"
    found = targets("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}]}}, ME,
                    "us-east-1")
    assert [t.resource for t in found] == ["arn:aws:s3:::b/x", "arn:aws:s3:::b/y"]
    put, get = targets("s3", "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "src/some%20key?versionId=1"},
                       ME, "us-east-1")
    assert (put.action, get.action, get.resource) == ("s3:PutObject", "s3:GetObject", "arn:aws:s3:::src/some key")


def test_kms_reencrypt_names_both_keys():
    found = targets("kms", "ReEncrypt", {"SourceKeyId": "alias/a", "DestinationKeyId": f"arn:aws:kms:us-east-1:{THEM}:"
                                         "key/1234abcd-12ab-34cd-56ef-1234567890ab"}, ME, "us-east-1")
    assert [(t.action, t.account) for t in found] == [("kms:ReEncryptFrom", ME), ("kms:ReEncryptTo", THEM)]


def test_callers():
    assert caller_of(Principal.root(ME)).type is CallerType.ROOT
    assert caller_of(Principal(ME, f"arn:aws:iam::{ME}:user/alice")).type is CallerType.USER
    session = caller_of(Principal(ME, f"arn:aws:sts::{ME}:assumed-role/r/s"))
    assert session.type is CallerType.ROLE_SESSION and session.role_arn == f"arn:aws:iam::{ME}:role/r"


def _denied(policy: str | None, identity: str | None, caller: Caller) -> object:
    request = Request(caller, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{THEM}:q", resource_account=THEM)
    return evaluate(request, identity=[compile_policy(identity)] if identity else [],
                    resource=compile_policy(policy, PolicyKind.RESOURCE) if policy else None)


def test_refusal_words_per_service():
    t = Target("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{THEM}:q", THEM, "sqs")
    decision = _denied(None, None, Caller.root(ME))
    e = refusal("sqs", "SendMessage", f"arn:aws:iam::{ME}:root", t, decision)
    assert (e.code, e.status) == ("AccessDenied", 403)
    assert e.message == (f"User: arn:aws:iam::{ME}:root is not authorized to perform: sqs:sendmessage on resource: "
                         f"arn:aws:sqs:us-east-1:{THEM}:q because no resource-based policy allows the sqs:sendmessage "
                         "action")
    assert refusal("sqs", "GetQueueUrl", "x", t, decision).query_code == "AWS.SimpleQueueService.NonExistentQueue"
    sns = refusal("sns", "Publish", "x", Target("sns:Publish", "arn:aws:sns:us-east-1:1:t", "1", "sns"), decision)
    assert sns.code == "AuthorizationError" and "SNS:Publish" in sns.message
    s3 = refusal("s3", "GetObject", "x", Target("s3:GetObject", "arn:aws:s3:::b/k", None, "s3"), decision)
    assert (s3.code, s3.message, s3.status) == ("AccessDenied", "Access Denied", 403)
    assert refusal("lambda", "Invoke", "x", t, decision).code == "AccessDeniedException"
    assert refusal("kms", "Encrypt", "x", t, decision).status == 400


def test_because_names_the_side():
    allow = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    deny = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
    user = Caller.user(f"arn:aws:iam::{ME}:user/u")
    assert because(_denied(None, None, user), "a") == "because no identity-based policy allows the a action"
    assert because(_denied(None, allow, user), "a") == "because no resource-based policy allows the a action"
    explicit = _denied(None, deny, user)
    assert explicit.outcome is Outcome.EXPLICIT_DENY
    assert because(explicit, "a") == "with an explicit deny in an identity-based policy"


def test_api_gateway_permissions_are_http_verbs_on_paths():
    import asyncio

    from tsunagi.gateway.authorize import PolicyAuthorizer
    from tsunagi.ports import Ports

    class Clock:
        def now(self) -> float:
            return 1_700_000_000.0

    class Iam:
        async def identity_policies(self, arn):
            return [("p", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"apigateway:GET",'
                          '"Resource":"arn:aws:apigateway:us-east-1::/restapis*"}]}')]

        async def permissions_boundary(self, arn):
            return None

    from types import SimpleNamespace

    from tsunagi.context import RequestContext
    from tsunagi.ports.iam import IAM
    from tsunagi.protocol.errors import ServiceError

    ports = Ports()
    ports.provide(IAM, Iam())
    authorizer = PolicyAuthorizer(SimpleNamespace(ports=ports, clock=Clock()), identity=True, enforce=True)
    user = Principal(ME, f"arn:aws:iam::{ME}:user/u")

    def ex(method: str) -> SimpleNamespace:
        return SimpleNamespace(principal=user, ctx=RequestContext(ME, "us-east-1", "r"), service="apigateway",
                               operation=SimpleNamespace(name="GetRestApis"), params={}, bucket=None,
                               request=SimpleNamespace(method=method, path="/restapis", headers={}),
                               source_ip="127.0.0.1", operation_name="GetRestApis")

    asyncio.run(authorizer.authorize(ex("GET")))
    with pytest.raises(ServiceError) as e:
        asyncio.run(authorizer.authorize(ex("POST")))
    assert "apigateway:POST on resource: arn:aws:apigateway:us-east-1::/restapis" in e.value.message
