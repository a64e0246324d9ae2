"""AWS's policy evaluation logic, case by case, from the examples in AWS's documentation.

Each group of cases names the page its policies come from (IAM User Guide unless said otherwise:
https://docs.aws.amazon.com/IAM/latest/UserGuide/<page>.html). Account ids, user names and ARNs are
the documentation's own where it gives them.
"""

from __future__ import annotations

import pytest

from tsunagi.policy import Caller, CallerType, PolicyKind, Request

from .cases import (
    ALLOW,
    BOUNDARY,
    EXPLICIT,
    IDENTITY,
    IMPLICIT,
    RESOURCE,
    SESSION,
    A,
    B,
    Case,
    doc,
    session,
    user,
)

CASES: list[Case] = []
add = CASES.append

# --- reference_policies_evaluation-logic: "Example identity-based and resource-based policy evaluation"
CARLOS = user("carlossalazar", "123456789012")
CARLOS_IDENTITY = doc(
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints",
                "s3:ListAllMyBuckets"], "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"})
CARLOS_BUCKET = doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/carlossalazar"},
                     "Action": "s3:*",
                     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]})
add(Case("carlos-logs-bucket-explicit-deny",
         Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/f", resource_account="123456789012"),
         EXPLICIT, identity=[CARLOS_IDENTITY], by="DenyS3Logs"))
add(Case("carlos-own-bucket-both-allow",
         Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f", resource_account="123456789012"),
         ALLOW, identity=[CARLOS_IDENTITY], resource=CARLOS_BUCKET))
add(Case("same-account-bucket-policy-alone-allows",
         Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f", resource_account="123456789012"),
         ALLOW, resource=CARLOS_BUCKET))
add(Case("same-account-identity-policy-alone-allows",
         Request(CARLOS, "s3:GetObject", "arn:aws:s3:::carlossalazar/f", resource_account="123456789012"),
         ALLOW, identity=[CARLOS_IDENTITY], resource=doc(
             {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/other"},
              "Action": "s3:*", "Resource": "arn:aws:s3:::carlossalazar/*"}), by="AllowS3Self"))
add(Case("deny-in-identity-beats-allow-in-bucket-policy",
         Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/f", resource_account="123456789012"),
         EXPLICIT, identity=[CARLOS_IDENTITY], resource=doc(
             {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::carlossalazar-logs/*"}),
         by="DenyS3Logs"))
# "The difference between explicit and implicit denies"
GET_LIST = doc({"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
               {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"})
add(Case("deny-reports", Request(user("u"), "iam:GetOrganizationsAccessReport", "*"), EXPLICIT,
         identity=[GET_LIST, doc({"Effect": "Allow", "Action": "iam:GenerateCredentialReport", "Resource": "*"})],
         by="DenyReports"))
add(Case("get-list-allowed", Request(user("u"), "iam:GetUser", "*"), ALLOW, identity=[GET_LIST], by="AllowGetList"))
add(Case("create-policy-implicitly-denied", Request(user("u"), "iam:CreatePolicy", "*"), IMPLICIT,
         identity=[GET_LIST], missing=(IDENTITY,)))
add(Case("no-policy-at-all", Request(user("u"), "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{A}:q",
                                      resource_account=A), IMPLICIT, missing=(IDENTITY,)))

# --- reference_policies_evaluation-logic: resource-based policies and implicit denies (same account)
QUEUE = f"arn:aws:sqs:us-east-1:{A}:q"
ROLE = f"arn:aws:iam::{A}:role/examplerole"
SESSION_ARN = f"arn:aws:sts::{A}:assumed-role/examplerole/examplerolesessionname"
ROLE_SESSION = session("examplerole", "examplerolesessionname")
NOTHING = doc({"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"})      # allows nothing here
SEND = doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})


def queue_policy(principal: object) -> dict[str, object]:
    return doc({"Sid": "Grant", "Effect": "Allow", "Principal": principal, "Action": "sqs:SendMessage",
                "Resource": QUEUE})


def send(caller: Caller, **context: str) -> Request:
    return Request(caller, "sqs:SendMessage", QUEUE, resource_account=A, context=context)


add(Case("role-arn-grant-without-identity-policy", send(ROLE_SESSION), ALLOW,
         resource=queue_policy({"AWS": ROLE}), by="Grant"))
add(Case("role-arn-grant-limited-by-boundary", send(ROLE_SESSION), IMPLICIT,
         resource=queue_policy({"AWS": ROLE}), boundary=NOTHING, missing=(BOUNDARY,)))
add(Case("role-arn-grant-limited-by-session-policy", send(ROLE_SESSION), IMPLICIT,
         resource=queue_policy({"AWS": ROLE}), session=NOTHING, missing=(SESSION,)))
add(Case("role-arn-grant-within-boundary", send(ROLE_SESSION), ALLOW,
         resource=queue_policy({"AWS": ROLE}), boundary=SEND))
add(Case("session-arn-grant-not-limited-by-boundary-or-session-policy", send(ROLE_SESSION), ALLOW,
         resource=queue_policy({"AWS": SESSION_ARN}), boundary=NOTHING, session=NOTHING, by="Grant"))
add(Case("user-arn-grant-not-limited-by-boundary", send(user("exampleuser")), ALLOW,
         resource=queue_policy({"AWS": f"arn:aws:iam::{A}:user/exampleuser"}), boundary=NOTHING))
add(Case("account-grant-needs-identity-policy", send(user("exampleuser")), IMPLICIT,
         resource=queue_policy({"AWS": A}), missing=(IDENTITY,)))
add(Case("account-grant-with-identity-policy", send(user("exampleuser")), ALLOW,
         resource=queue_policy({"AWS": f"arn:aws:iam::{A}:root"}), identity=[SEND]))
add(Case("identity-allow-limited-by-boundary", send(user("u")), IMPLICIT, identity=[SEND], boundary=NOTHING,
         missing=(BOUNDARY,)))
add(Case("identity-allow-limited-by-session-policy", send(ROLE_SESSION), IMPLICIT, identity=[SEND],
         session=NOTHING, missing=(SESSION,)))
add(Case("identity-allow-within-session-policy", send(ROLE_SESSION), ALLOW, identity=[SEND], session=SEND))
add(Case("federated-user-session-needs-a-session-policy",
         send(Caller.federated_user(f"arn:aws:sts::{A}:federated-user/bob")), IMPLICIT, identity=[SEND],
         missing=(SESSION,)))
add(Case("deny-in-boundary-is-explicit", send(user("u")), EXPLICIT, identity=[SEND],
         boundary=doc({"Sid": "NoSqs", "Effect": "Deny", "Action": "sqs:*", "Resource": "*"}), by="NoSqs"))
add(Case("deny-in-session-policy-is-explicit", send(ROLE_SESSION), EXPLICIT, identity=[SEND],
         session=doc({"Sid": "NoSend", "Effect": "Deny", "Action": "sqs:Send*", "Resource": "*"}), by="NoSend"))
add(Case("principal-star-grants-users-of-the-account-directly", send(user("u")), ALLOW,
         resource=queue_policy("*"), boundary=NOTHING))
add(Case("root-user-needs-no-policy-in-its-account", send(Caller.root(A)), ALLOW))
add(Case("root-user-is-denied-by-a-resource-policy-deny", send(Caller.root(A)), EXPLICIT,
         resource=doc({"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE}),
         by="NoOne"))

# --- reference_policies_evaluation-logic-cross-account: both sides must allow
OTHER = user("dev", B)
add(Case("cross-account-both-sides", send(OTHER), ALLOW, identity=[SEND], resource=queue_policy({"AWS": B})))
add(Case("cross-account-resource-only", send(OTHER), IMPLICIT, resource=queue_policy({"AWS": B}),
         missing=(IDENTITY,)))
add(Case("cross-account-identity-only", send(OTHER), IMPLICIT, identity=[SEND],
         resource=queue_policy({"AWS": f"arn:aws:iam::{A}:root"}), missing=(RESOURCE,)))
add(Case("cross-account-without-resource-policy", send(OTHER), IMPLICIT, identity=[SEND], missing=(RESOURCE,)))
add(Case("cross-account-user-named-still-needs-identity-policy", send(OTHER), IMPLICIT,
         resource=queue_policy({"AWS": f"arn:aws:iam::{B}:user/dev"}), missing=(IDENTITY,)))
add(Case("cross-account-boundary-limits", send(OTHER), IMPLICIT, identity=[SEND], boundary=NOTHING,
         resource=queue_policy({"AWS": B}), missing=(BOUNDARY,)))
add(Case("cross-account-root-user", send(Caller.root(B)), ALLOW, resource=queue_policy({"AWS": B})))
add(Case("cross-account-deny-in-resource-policy", send(OTHER), EXPLICIT, identity=[SEND], resource=doc(
    {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "sqs:*", "Resource": QUEUE},
    {"Sid": "NotFromB", "Effect": "Deny", "Principal": {"AWS": B}, "Action": "sqs:SendMessage", "Resource": QUEUE}),
    by="NotFromB"))

# --- reference_policies_elements_principal
add(Case("two-accounts-as-principal", send(user("dev", "555555555555")), ALLOW, identity=[SEND],
         resource=queue_policy({"AWS": ["123456789012", "555555555555"]})))
add(Case("anonymous-with-principal-star", Request(Caller.anonymous(), "s3:GetObject", "arn:aws:s3:::b/k",
                                                  resource_account=A), ALLOW,
         resource=doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})))
add(Case("anonymous-with-aws-star", Request(Caller.anonymous(), "s3:GetObject", "arn:aws:s3:::b/k",
                                            resource_account=A), ALLOW,
         resource=doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::b/*"})))
add(Case("anonymous-not-covered-by-an-account", Request(Caller.anonymous(), "s3:GetObject", "arn:aws:s3:::b/k",
                                                        resource_account=A), IMPLICIT,
         resource=doc({"Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::b/*"}), missing=(RESOURCE,)))
add(Case("canonical-user", Request(Caller(CallerType.ANONYMOUS, canonical_user="79a59df900b949e55d96a1e698fbac"
                                                                                   "edfd6e09d98eacf8f8d5218e7cd47ef2be"),
                                   "s3:GetObject", "arn:aws:s3:::b/k", resource_account=A), ALLOW,
         resource=doc({"Effect": "Allow", "Principal": {
             "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})))
PRINCIPAL_ARN_DENY = doc(
    {"Sid": "UsePrincipalArnInsteadOfNotPrincipalWithDeny", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
     "Resource": ["arn:aws:s3:::BUCKETNAME/*", "arn:aws:s3:::BUCKETNAME"],
     "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::444455556666:user/user-name"}}},
    {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::BUCKETNAME/*"})
add(Case("principal-arn-deny-spares-the-named-user",
         Request(user("user-name", B), "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", resource_account=A), ALLOW,
         identity=[doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})], resource=PRINCIPAL_ARN_DENY))
add(Case("principal-arn-deny-denies-everyone-else",
         Request(user("other", B), "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", resource_account=A), EXPLICIT,
         identity=[doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})], resource=PRINCIPAL_ARN_DENY,
         by="UsePrincipalArnInsteadOfNotPrincipalWithDeny"))

# --- reference_policies_elements_notprincipal: NotPrincipal with Deny
BOB_ONLY = doc({"Sid": "AllButBob", "Effect": "Deny", "NotPrincipal": {"AWS": [
    "arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root"]},
    "Action": "s3:*", "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"]},
    {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:*", "Resource": "arn:aws:s3:::BUCKETNAME/*"})
S3_ALL = doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


def get(caller: Caller) -> Request:
    return Request(caller, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", resource_account=A)


add(Case("notprincipal-deny-spares-bob", get(user("Bob", B)), ALLOW, identity=[S3_ALL], resource=BOB_ONLY))
add(Case("notprincipal-deny-denies-alice", get(user("Alice", B)), EXPLICIT, identity=[S3_ALL], resource=BOB_ONLY,
         by="AllButBob"))
add(Case("notprincipal-without-the-account-denies-bob-too", get(user("Bob", B)), EXPLICIT, identity=[S3_ALL],
         resource=doc({"Sid": "OnlyBobArn", "Effect": "Deny",
                       "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:user/Bob"},
                       "Action": "s3:*", "Resource": "arn:aws:s3:::BUCKETNAME/*"}), by="OnlyBobArn"))
AUDIT = doc({"Sid": "AllButAudit", "Effect": "Deny", "NotPrincipal": {"AWS": [
    "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
    "arn:aws:iam::444455556666:role/cross-account-read-only-role",
    "arn:aws:iam::444455556666:root"]},
    "Action": "s3:*", "Resource": ["arn:aws:s3:::Bucket_AccountAudit", "arn:aws:s3:::Bucket_AccountAudit/*"]},
    {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:*", "Resource": "arn:aws:s3:::Bucket_AccountAudit/*"})


def audit(caller: Caller) -> Request:
    return Request(caller, "s3:GetObject", "arn:aws:s3:::Bucket_AccountAudit/k", resource_account=A)


add(Case("notprincipal-spares-the-audit-session",
         audit(session("cross-account-read-only-role", "cross-account-audit-app", B)), ALLOW, identity=[S3_ALL],
         resource=AUDIT))
add(Case("notprincipal-denies-another-session-of-the-role",
         audit(session("cross-account-read-only-role", "someone-else", B)), EXPLICIT, identity=[S3_ALL],
         resource=AUDIT, by="AllButAudit"))
add(Case("notprincipal-without-the-role-denies-the-session",
         audit(session("cross-account-read-only-role", "cross-account-audit-app", B)), EXPLICIT, identity=[S3_ALL],
         resource=doc({"Sid": "NoRole", "Effect": "Deny", "NotPrincipal": {"AWS": [
             "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
             "arn:aws:iam::444455556666:root"]}, "Action": "s3:*", "Resource": "arn:aws:s3:::Bucket_AccountAudit/*"}),
         by="NoRole"))

# --- reference_policies_elements_notaction / notresource
add(Case("notaction-allows-all-but-iam", Request(user("u"), "s3:GetObject", "arn:aws:s3:::b/k"), ALLOW,
         identity=[doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]))
add(Case("notaction-leaves-iam-out", Request(user("u"), "iam:CreateUser", "*"), IMPLICIT,
         identity=[doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]))
add(Case("deny-notresource-denies-other-buckets", Request(user("u"), "s3:GetObject", "arn:aws:s3:::other/k"),
         EXPLICIT, identity=[S3_ALL, doc({"Sid": "OnlyMine", "Effect": "Deny", "Action": "s3:*",
                                          "NotResource": ["arn:aws:s3:::mine", "arn:aws:s3:::mine/*"]})],
         by="OnlyMine"))
add(Case("deny-notresource-spares-its-bucket", Request(user("u"), "s3:GetObject", "arn:aws:s3:::mine/k"), ALLOW,
         identity=[S3_ALL, doc({"Effect": "Deny", "Action": "s3:*",
                                "NotResource": ["arn:aws:s3:::mine", "arn:aws:s3:::mine/*"]})]))

# --- AWS SNS developer guide, sns-access-policy-use-cases
#     https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
MY_QUEUE = "arn:aws:sqs:us-east-2:444455556666:MyQueue"
MY_TOPIC = "arn:aws:sns:us-east-2:444455556666:MyTopic"
SNS_TO_SQS = {"Statement": [{"Sid": "Allow-SNS-SendMessage", "Effect": "Allow",
                             "Principal": {"Service": "sns.amazonaws.com"}, "Action": ["sqs:SendMessage"],
                             "Resource": MY_QUEUE,
                             "Condition": {"ArnEquals": {"aws:SourceArn": MY_TOPIC}}}]}
SNS = Caller.service("sns.amazonaws.com")
add(Case("sns-delivers-to-its-queue", Request(SNS, "sqs:SendMessage", MY_QUEUE, resource_account=B,
                                              context={"aws:SourceArn": MY_TOPIC}), ALLOW, resource=SNS_TO_SQS,
         by="Allow-SNS-SendMessage"))
add(Case("sns-delivery-from-another-topic", Request(SNS, "sqs:SendMessage", MY_QUEUE, resource_account=B,
                                                    context={"aws:SourceArn": MY_TOPIC + "2"}), IMPLICIT,
         resource=SNS_TO_SQS, missing=(RESOURCE,)))
add(Case("sns-delivery-without-source-arn", Request(SNS, "sqs:SendMessage", MY_QUEUE, resource_account=B),
         IMPLICIT, resource=SNS_TO_SQS))
add(Case("a-user-is-not-the-sns-service", Request(user("u", B), "sqs:SendMessage", MY_QUEUE, resource_account=B,
                                                  context={"aws:SourceArn": MY_TOPIC}), IMPLICIT,
         resource=SNS_TO_SQS, missing=(IDENTITY, RESOURCE)))
add(Case("service-principal-identity-policies-do-not-apply",
         Request(Caller.service("events.amazonaws.com"), "sqs:SendMessage", MY_QUEUE, resource_account=B,
                 context={"aws:SourceArn": MY_TOPIC}), IMPLICIT, identity=[SEND], resource=SNS_TO_SQS))
GRANT_PUBLISH = {"Statement": [{"Sid": "grant-1234-publish", "Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                "Action": ["sns:Publish"], "Resource": MY_TOPIC}]}
PUBLISH = doc({"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})
add(Case("add-permission-grant-with-identity-policy",
         Request(user("pub"), "sns:Publish", MY_TOPIC, resource_account=B), ALLOW, identity=[PUBLISH],
         resource=GRANT_PUBLISH))
add(Case("add-permission-grant-needs-identity-policy",
         Request(user("pub"), "sns:Publish", MY_TOPIC, resource_account=B), IMPLICIT, resource=GRANT_PUBLISH,
         missing=(IDENTITY,)))
HTTPS_ONLY = {"Statement": [{"Sid": "Statement1", "Effect": "Allow", "Principal": {"AWS": "111122223333"},
                             "Action": ["sns:Subscribe"], "Resource": MY_TOPIC,
                             "Condition": {"StringEquals": {"sns:Protocol": "https"}}}]}
SUBSCRIBE = doc({"Effect": "Allow", "Action": "sns:Subscribe", "Resource": "*"})
add(Case("subscribe-https", Request(user("s"), "sns:Subscribe", MY_TOPIC, resource_account=B,
                                    context={"sns:Protocol": "https"}), ALLOW, identity=[SUBSCRIBE],
         resource=HTTPS_ONLY))
add(Case("subscribe-http-refused", Request(user("s"), "sns:Subscribe", MY_TOPIC, resource_account=B,
                                           context={"sns:Protocol": "http"}), IMPLICIT, identity=[SUBSCRIBE],
         resource=HTTPS_ONLY))
S3_TO_TOPIC = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                              "Action": "sns:Publish", "Resource": "arn:aws:sns:us-east-2:111122223333:MyTopic",
                              "Condition": {"StringEquals": {"AWS:SourceAccount": "444455556666"}}}]}
add(Case("upper-case-condition-key-matches", Request(Caller.service("s3.amazonaws.com"), "sns:Publish",
                                                     "arn:aws:sns:us-east-2:111122223333:MyTopic",
                                                     resource_account=A, context={"aws:SourceAccount": B}),
         ALLOW, resource=S3_TO_TOPIC))
add(Case("bucket-of-another-account", Request(Caller.service("s3.amazonaws.com"), "sns:Publish",
                                              "arn:aws:sns:us-east-2:111122223333:MyTopic", resource_account=A,
                                              context={"aws:SourceAccount": "999988887777"}),
         IMPLICIT, resource=S3_TO_TOPIC))
ALARMS = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": MY_TOPIC,
                         "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-2:111122223333:alarm:*"}}}]}
add(Case("any-alarm-of-the-account", Request(Caller.service("cloudwatch.amazonaws.com"), "sns:Publish", MY_TOPIC,
                                             resource_account=B, context={
                                                 "aws:SourceArn": "arn:aws:cloudwatch:us-east-2:111122223333:alarm:cpu"}),
         ALLOW, resource=ALARMS))
add(Case("alarm-of-another-account", Request(Caller.service("cloudwatch.amazonaws.com"), "sns:Publish", MY_TOPIC,
                                             resource_account=B, context={
                                                 "aws:SourceArn": "arn:aws:cloudwatch:us-east-2:999988887777:alarm:cpu"}),
         IMPLICIT, resource=ALARMS))
ORG = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": MY_TOPIC,
                      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "myOrgId"}}}]}
add(Case("organization-member-publishes", Request(user("p"), "sns:Publish", MY_TOPIC, resource_account=B,
                                                  context={"aws:PrincipalOrgID": "myOrgId"}), ALLOW,
         identity=[PUBLISH], resource=ORG))
add(Case("outsider-of-the-organization", Request(user("p"), "sns:Publish", MY_TOPIC, resource_account=B,
                                                 context={"aws:PrincipalOrgID": "o-other"}), IMPLICIT,
         identity=[PUBLISH], resource=ORG))
VPCE = {"Statement": [{"Sid": "OnlyVpce", "Effect": "Deny", "Principal": "*", "Action": "SNS:Publish",
                       "Resource": MY_TOPIC, "Condition": {"StringNotEquals": {"aws:sourceVpce": "vpce-1ab2c34d"}}},
                      {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "SNS:Publish", "Resource": MY_TOPIC}]}
add(Case("vpc-endpoint-deny-without-the-key", Request(user("p", B), "sns:Publish", MY_TOPIC, resource_account=B),
         EXPLICIT, identity=[PUBLISH], resource=VPCE, by="OnlyVpce"))
add(Case("vpc-endpoint-allowed-through-it", Request(user("p", B), "sns:Publish", MY_TOPIC, resource_account=B,
                                                    context={"aws:SourceVpce": "vpce-1ab2c34d"}),
         ALLOW, identity=[PUBLISH], resource=VPCE))

# --- Amazon S3 user guide, grant-destinations-permissions-to-s3
#     https://docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html
S3Q = "arn:aws:sqs:us-east-1:111122223333:queue-name"
S3_TO_QUEUE = {"Version": "2012-10-17", "Id": "example-ID", "Statement": [{
    "Sid": "example-statement-ID", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
    "Action": ["SQS:SendMessage"], "Resource": S3Q,
    "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:*:*:awsexamplebucket1"},
                  "StringEquals": {"aws:SourceAccount": "111122223333"}}}]}
S3_SERVICE = Caller.service("s3.amazonaws.com")


def notify(bucket: str, owner: str = A) -> Request:
    return Request(S3_SERVICE, "sqs:SendMessage", S3Q, resource_account=A,
                   context={"aws:SourceArn": f"arn:aws:s3:::{bucket}", "aws:SourceAccount": owner})


add(Case("s3-notification-to-queue", notify("awsexamplebucket1"), ALLOW, resource=S3_TO_QUEUE,
         by="example-statement-ID"))
add(Case("s3-notification-other-bucket", notify("awsexamplebucket2"), IMPLICIT, resource=S3_TO_QUEUE))
add(Case("s3-notification-bucket-of-another-owner", notify("awsexamplebucket1", B), IMPLICIT,
         resource=S3_TO_QUEUE))
add(Case("s3-notification-string-like-variant", notify("bucket-name"), ALLOW, resource={
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                            "Action": "SQS:SendMessage", "Resource": S3Q,
                                            "Condition": {"StringLike": {"aws:SourceArn": "arn:aws:s3:*:*:bucket-name"}}}]}))
add(Case("s3-notification-to-topic", Request(S3_SERVICE, "sns:Publish", "arn:aws:sns:us-east-1:111122223333:t",
                                             resource_account=A, context={"aws:SourceArn": "arn:aws:s3:::bucket-name",
                                                                          "aws:SourceAccount": A}),
         ALLOW, resource={"Version": "2012-10-17", "Id": "example-ID", "Statement": [{
             "Sid": "Example SNS topic policy", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
             "Action": ["SNS:Publish"], "Resource": "arn:aws:sns:us-east-1:111122223333:t",
             "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:*:*:bucket-name"},
                           "StringEquals": {"aws:SourceAccount": A}}}]}, by="Example SNS topic policy"))

# --- KMS developer guide, key-policy-default
#     https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENABLE_IAM = {"Sid": "Enable IAM policies", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
              "Action": "kms:*", "Resource": "*"}
KEY_USERS = {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": [
    "arn:aws:iam::111122223333:user/ExampleUser", "arn:aws:iam::111122223333:role/ExampleRole",
    "arn:aws:iam::444455556666:root"]},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
    "Resource": "*"}
PERSISTENT = {"Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": {"AWS": [
    "arn:aws:iam::111122223333:user/ExampleUser", "arn:aws:iam::111122223333:role/ExampleRole",
    "arn:aws:iam::444455556666:root"]},
    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
    "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}}
DECRYPT = doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})


def kms(caller: Caller, action: str = "kms:Decrypt", **context: object) -> Request:
    return Request(caller, action, KEY, resource_account=A, context=context)


K = PolicyKind.KEY
add(Case("default-key-policy-enables-iam-policies", kms(user("dev")), ALLOW, kind=K, resource=doc(ENABLE_IAM),
         identity=[DECRYPT]))
add(Case("default-key-policy-alone-allows-no-user", kms(user("dev")), IMPLICIT, kind=K, resource=doc(ENABLE_IAM),
         missing=(IDENTITY,)))
add(Case("default-key-policy-root-user", kms(Caller.root(A)), ALLOW, kind=K, resource=doc(ENABLE_IAM),
         by="Enable IAM policies"))
add(Case("key-policy-is-required-even-with-iam-policy", kms(user("dev")), IMPLICIT, kind=K,
         resource=doc(KEY_USERS), identity=[doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})],
         missing=(RESOURCE,)))
add(Case("key-policy-without-root-locks-out-root", kms(Caller.root(A)), IMPLICIT, kind=K, resource=doc(KEY_USERS),
         missing=(RESOURCE,)))
add(Case("key-user-named-directly", kms(user("ExampleUser")), ALLOW, kind=K, resource=doc(KEY_USERS),
         by="Allow use of the key"))
add(Case("key-user-role-session", kms(session("ExampleRole", "s1")), ALLOW, kind=K, resource=doc(KEY_USERS)))
add(Case("key-users-cannot-administer", kms(user("ExampleUser"), "kms:ScheduleKeyDeletion"), IMPLICIT, kind=K,
         resource=doc(KEY_USERS)))
add(Case("external-account-key-user-with-iam-policy", kms(user("dev", B), "kms:Encrypt"), ALLOW, kind=K,
         resource=doc(KEY_USERS), identity=[doc({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": KEY})]))
add(Case("external-account-key-user-without-iam-policy", kms(user("dev", B), "kms:Encrypt"), IMPLICIT, kind=K,
         resource=doc(KEY_USERS), missing=(IDENTITY,)))
add(Case("grant-for-aws-resource", kms(user("ExampleUser"), "kms:CreateGrant", **{"kms:GrantIsForAWSResource": True}),
         ALLOW, kind=K, resource=doc(PERSISTENT)))
add(Case("grant-not-for-aws-resource", kms(user("ExampleUser"), "kms:CreateGrant",
                                           **{"kms:GrantIsForAWSResource": False}), IMPLICIT, kind=K,
         resource=doc(PERSISTENT)))
add(Case("key-administrators-reenc-wildcard", kms(user("ExampleUser"), "kms:ReEncryptFrom"), ALLOW, kind=K,
         resource=doc(KEY_USERS)))
# conditions-kms: kms:CallerAccount with kms:ViaService (the AWS managed key for Amazon EBS)
EBS = doc({"Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
           "Effect": "Allow", "Principal": {"AWS": "*"},
           "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333",
                                          "kms:ViaService": "ec2.us-west-2.amazonaws.com"}},
           "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                      "kms:DescribeKey"], "Resource": "*"})
add(Case("via-ebs-in-the-account", kms(user("dev"), **{"kms:CallerAccount": A,
                                                        "kms:ViaService": "ec2.us-west-2.amazonaws.com"}),
         ALLOW, kind=K, resource=EBS))
add(Case("not-via-ebs", kms(user("dev"), **{"kms:CallerAccount": A}), IMPLICIT, kind=K, resource=EBS))
add(Case("via-ebs-other-account", kms(user("dev", B), **{"kms:CallerAccount": B,
                                                          "kms:ViaService": "ec2.us-west-2.amazonaws.com"}),
         IMPLICIT, kind=K, resource=EBS, identity=[DECRYPT]))
# S3 user guide (as above): a key policy for S3 event notifications into encrypted queues and topics
S3_KEY = {"Version": "2012-10-17", "Id": "example-ID", "Statement": [{
    "Sid": "example-statement-ID", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
    "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}]}
add(Case("s3-may-use-the-queue-key", kms(S3_SERVICE, "kms:GenerateDataKey"), ALLOW, kind=K, resource=S3_KEY))
add(Case("sns-may-not-use-the-queue-key", kms(SNS, "kms:GenerateDataKey"), IMPLICIT, kind=K, resource=S3_KEY,
         missing=(RESOURCE,)))
# conditions-kms: kms:EncryptionContext:context-key
APP = f"arn:aws:iam::{A}:role/RoleForExampleApp"
APP_SESSION = session("RoleForExampleApp", "app")
EC_APP = doc({"Effect": "Allow", "Principal": {"AWS": APP}, "Action": "kms:GenerateDataKey", "Resource": "*",
              "Condition": {"StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"}}},
             {"Sid": "NoRestricted", "Effect": "Deny", "Principal": {"AWS": APP}, "Action": "kms:GenerateDataKey",
              "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:Stage": ["Restricted",
                                                                                            "Production"]}}})
add(Case("encryption-context-required-pair", kms(APP_SESSION, "kms:GenerateDataKey",
                                                 **{"kms:EncryptionContext:AppName": "ExampleApp"}),
         ALLOW, kind=K, resource=EC_APP))
add(Case("encryption-context-key-name-is-case-insensitive", kms(APP_SESSION, "kms:GenerateDataKey",
                                                                **{"KMS:encryptioncontext:APPNAME": "ExampleApp"}),
         ALLOW, kind=K, resource=EC_APP))
add(Case("encryption-context-value-is-case-sensitive", kms(APP_SESSION, "kms:GenerateDataKey",
                                                           **{"kms:EncryptionContext:AppName": "exampleapp"}),
         IMPLICIT, kind=K, resource=EC_APP))
add(Case("encryption-context-forbidden-pair", kms(APP_SESSION, "kms:GenerateDataKey",
                                                  **{"kms:EncryptionContext:AppName": "ExampleApp",
                                                     "kms:EncryptionContext:Stage": "Production"}),
         EXPLICIT, kind=K, resource=EC_APP, by="NoRestricted"))
EC_ONLY_APP = doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::712816755609:user/alice"},
                   "Action": "kms:GenerateDataKey", "Resource": "*", "Condition": {
                       "StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"},
                       "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName"]}}})
ALICE = user("alice", "712816755609")
add(Case("encryption-context-only-appname", Request(ALICE, "kms:GenerateDataKey", KEY, resource_account="712816755609",
                                                    context={"kms:EncryptionContext:AppName": "ExampleApp",
                                                             "kms:EncryptionContextKeys": ["AppName"]}),
         ALLOW, kind=K, resource=EC_ONLY_APP))
add(Case("encryption-context-extra-key-refused", Request(ALICE, "kms:GenerateDataKey", KEY,
                                                         resource_account="712816755609",
                                                         context={"kms:EncryptionContext:AppName": "ExampleApp",
                                                                  "kms:EncryptionContext:Stage": "Test",
                                                                  "kms:EncryptionContextKeys": ["AppName", "Stage"]}),
         IMPLICIT, kind=K, resource=EC_ONLY_APP))
TWO_PAIRS = doc({"Effect": "Allow", "Principal": {"AWS": APP}, "Action": "kms:Decrypt", "Resource": "*",
                 "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "IT",
                                                "kms:EncryptionContext:Project": "Alpha"}}})
add(Case("two-pairs-both-present", kms(APP_SESSION, **{"kms:EncryptionContext:Department": "IT",
                                                        "kms:EncryptionContext:Project": "Alpha"}), ALLOW,
         kind=K, resource=TWO_PAIRS))
add(Case("two-pairs-one-missing", kms(APP_SESSION, **{"kms:EncryptionContext:Department": "IT"}), IMPLICIT,
         kind=K, resource=TWO_PAIRS))
LOCKOUT = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:user/admin"}, "Action": "kms:PutKeyPolicy",
               "Resource": "*", "Condition": {"Null": {"kms:BypassPolicyLockoutSafetyCheck": True}}})
add(Case("put-key-policy-without-bypass", kms(user("admin"), "kms:PutKeyPolicy"), ALLOW, kind=K, resource=LOCKOUT))
add(Case("put-key-policy-with-bypass", kms(user("admin"), "kms:PutKeyPolicy",
                                           **{"kms:BypassPolicyLockoutSafetyCheck": True}), IMPLICIT, kind=K,
         resource=LOCKOUT))
RSA_ONLY = doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/ExampleUser"},
                "Action": ["kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext"], "Resource": "*",
                "Condition": {"StringLike": {"kms:DataKeyPairSpec": "RSA*"}}})
add(Case("rsa-data-key-pair", kms(user("ExampleUser"), "kms:GenerateDataKeyPair",
                                  **{"kms:DataKeyPairSpec": "RSA_2048"}), ALLOW, kind=K, resource=RSA_ONLY))
add(Case("ecc-data-key-pair-refused", kms(user("ExampleUser"), "kms:GenerateDataKeyPair",
                                          **{"kms:DataKeyPairSpec": "ECC_NIST_P256"}), IMPLICIT, kind=K,
         resource=RSA_ONLY))

# --- Role trust policies: id_roles_create_for-user, id_roles_create_for-user_externalid,
#     reference_policies_elements_principal (services), id_roles_providers_oidc_cognito
TRUST = PolicyKind.TRUST
TARGET_ROLE = f"arn:aws:iam::{B}:role/UpdateApp"
ASSUME = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": TARGET_ROLE})


def assume(caller: Caller, action: str = "sts:AssumeRole", **context: object) -> Request:
    return Request(caller, action, TARGET_ROLE, resource_account=B, context=context)


TRUST_A = doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole",
               "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})
add(Case("cross-account-assume-role-with-mfa", assume(user("dev"), **{"aws:MultiFactorAuthPresent": "true"}), ALLOW,
         kind=TRUST, resource=TRUST_A, identity=[ASSUME]))
add(Case("cross-account-assume-role-without-mfa", assume(user("dev")), IMPLICIT, kind=TRUST, resource=TRUST_A,
         identity=[ASSUME], missing=(RESOURCE,)))
add(Case("cross-account-assume-role-needs-identity-policy", assume(user("dev"), **{"aws:MultiFactorAuthPresent": "true"}),
         IMPLICIT, kind=TRUST, resource=TRUST_A, missing=(IDENTITY,)))
EXTERNAL_ID = doc({"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:ExternalId": "Unique ID Assigned by Example Corp"}}})
add(Case("external-id-matches", assume(user("corp"), **{"sts:ExternalId": "Unique ID Assigned by Example Corp"}),
         ALLOW, kind=TRUST, resource=EXTERNAL_ID, identity=[ASSUME]))
add(Case("external-id-differs", assume(user("corp"), **{"sts:ExternalId": "guess"}), IMPLICIT, kind=TRUST,
         resource=EXTERNAL_ID, identity=[ASSUME]))
SERVICES = doc({"Effect": "Allow", "Principal": {"Service": ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com"]},
                "Action": "sts:AssumeRole"})
add(Case("service-role-assumed-by-ecs", assume(Caller.service("ecs.amazonaws.com")), ALLOW, kind=TRUST,
         resource=SERVICES))
add(Case("service-role-not-for-ec2", assume(Caller.service("ec2.amazonaws.com")), IMPLICIT, kind=TRUST,
         resource=SERVICES))
SAME = Request(user("ops", B), "sts:AssumeRole", TARGET_ROLE, resource_account=B)
add(Case("same-account-trust-naming-the-user", SAME, ALLOW, kind=TRUST,
         resource=doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:user/ops"}, "Action": "sts:AssumeRole"})))
add(Case("same-account-trust-naming-the-account", SAME, IMPLICIT, kind=TRUST,
         resource=doc({"Effect": "Allow", "Principal": {"AWS": B}, "Action": "sts:AssumeRole"}), missing=(IDENTITY,)))
add(Case("trust-policy-is-required", SAME, IMPLICIT, kind=TRUST, identity=[ASSUME],
         resource=doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:user/someone"},
                       "Action": "sts:AssumeRole"}), missing=(RESOURCE,)))
COGNITO = doc({"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
               "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {
                   "StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-2:12345678-abcd-abcd-abcd-123456"},
                   "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"}}})
WEB = Caller(CallerType.ANONYMOUS, federated_provider="cognito-identity.amazonaws.com")
add(Case("cognito-unauthenticated-identity", assume(WEB, "sts:AssumeRoleWithWebIdentity", **{
    "cognito-identity.amazonaws.com:aud": "us-east-2:12345678-abcd-abcd-abcd-123456",
    "cognito-identity.amazonaws.com:amr": ["unauthenticated"]}), ALLOW, kind=TRUST, resource=COGNITO))
add(Case("cognito-other-pool", assume(WEB, "sts:AssumeRoleWithWebIdentity", **{
    "cognito-identity.amazonaws.com:aud": "us-east-2:other",
    "cognito-identity.amazonaws.com:amr": ["unauthenticated"]}), IMPLICIT, kind=TRUST, resource=COGNITO))

# --- reference_policies_variables
add(Case("username-queue", Request(user("alice"), "sqs:SendMessage", f"arn:aws:sqs:us-east-2:{A}:alice-queue"),
         ALLOW, identity=[doc({"Sid": "AllQueueActions", "Effect": "Allow", "Action": "sqs:*",
                               "Resource": "arn:aws:sqs:us-east-2:*:${aws:username}-queue"})]))
add(Case("someone-elses-queue", Request(user("alice"), "sqs:SendMessage", f"arn:aws:sqs:us-east-2:{A}:bob-queue"),
         IMPLICIT, identity=[doc({"Effect": "Allow", "Action": "sqs:*",
                                  "Resource": "arn:aws:sqs:us-east-2:*:${aws:username}-queue"})]))
add(Case("department-tag-bucket", Request(user("u"), "s3:GetObject", "arn:aws:s3:::bucket/Finance",
                                          context={"aws:PrincipalTag/department": "Finance"}),
         ALLOW, identity=[doc({"Effect": "Allow", "Action": "s3:GetObject",
                               "Resource": ["arn:aws:s3:::bucket/${aws:PrincipalTag/department}"]})]))
add(Case("untagged-principal-resolves-nothing", Request(user("u"), "s3:GetObject", "arn:aws:s3:::bucket/Finance"),
         IMPLICIT, identity=[doc({"Effect": "Allow", "Action": "s3:GetObject",
                                  "Resource": ["arn:aws:s3:::bucket/${aws:PrincipalTag/department}"]})]))
ENDPOINT = doc({"Principal": {"AWS": "999999999999"}, "Effect": "Allow", "Action": "sns:*",
                "Condition": {"StringLike": {"sns:endpoint": "https://example.com/${aws:username}/"},
                              "StringEquals": {"sns:Protocol": "https"}}})
add(Case("endpoint-of-the-user", Request(user("david", "999999999999"), "sns:Subscribe", MY_TOPIC, resource_account=B,
                                         context={"sns:Endpoint": "https://example.com/david/",
                                                  "sns:Protocol": "https"}),
         ALLOW, resource=ENDPOINT, identity=[SUBSCRIBE]))
add(Case("endpoint-of-another-user", Request(user("david", "999999999999"), "sns:Subscribe", MY_TOPIC,
                                             resource_account=B, context={"sns:Endpoint": "https://example.com/eve/",
                                                                          "sns:Protocol": "https"}),
         IMPLICIT, resource=ENDPOINT, identity=[SUBSCRIBE]))
DEFAULTED = doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::bucket/${aws:username, 'anonymous'}/*"})
add(Case("variable-default-for-anonymous", Request(Caller.anonymous(), "s3:GetObject", "arn:aws:s3:::bucket/anonymous/x",
                                                   resource_account=A), ALLOW, resource=DEFAULTED))
add(Case("variable-default-not-used-for-a-user", Request(user("carol"), "s3:GetObject",
                                                         "arn:aws:s3:::bucket/anonymous/x", resource_account=A),
         IMPLICIT, resource=DEFAULTED))
add(Case("version-2008-treats-variables-as-text", Request(user("alice"), "sqs:SendMessage",
                                                          f"arn:aws:sqs:us-east-2:{A}:alice-queue"),
         IMPLICIT, identity=[doc({"Effect": "Allow", "Action": "sqs:*",
                                  "Resource": "arn:aws:sqs:us-east-2:*:${aws:username}-queue"}, version="2008-10-17")]))
add(Case("star-variable-is-a-literal-star", Request(user("u"), "s3:GetObject", "arn:aws:s3:::bucket/a-file"),
         IMPLICIT, identity=[doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/a${*}"})]))
add(Case("star-variable-matches-a-star", Request(user("u"), "s3:GetObject", "arn:aws:s3:::bucket/a*"),
         ALLOW, identity=[doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/a${*}"})]))

# --- reference_policies_elements_action / _resource: matching
add(Case("action-names-are-case-insensitive", send(user("u")), ALLOW,
         identity=[doc({"Effect": "Allow", "Action": "SQS:sendmessage", "Resource": QUEUE})]))
add(Case("resource-arns-are-case-sensitive", Request(user("u"), "s3:GetObject", "arn:aws:s3:::bucket/k"), IMPLICIT,
         identity=[doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::Bucket/k"})]))
add(Case("trailing-wildcard-crosses-segments", send(user("u")), ALLOW,
         identity=[doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:*"})]))
add(Case("statement-as-a-single-object", send(user("u")), ALLOW,
         identity=[{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}}]))
add(Case("wildcard-in-the-middle-of-an-action", Request(user("u"), "iam:GetAccessKeyLastUsed", "*"), ALLOW,
         identity=[doc({"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "*"})]))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_evaluation(case: Case) -> None:
    case.check()


def test_the_table_is_not_small() -> None:
    assert len(CASES) >= 100
