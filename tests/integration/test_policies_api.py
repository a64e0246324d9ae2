"""API calls authorized as AWS authorizes them: ``--auth strict --policies enforce``, real boto3 clients.

An IAM user with no identity policy is refused, with AWS's words in each service's error form; an
identity policy lets it do what it grants and nothing else; an explicit deny beats any allow; a role
session gets its role's permissions, limited by its session policy; a user of another account gets in
only where the resource's policy (queue, topic, bucket, function, key policy) grants it and its own
identity policy allows it too. SQS, SNS, S3, Lambda and KMS; on both stores.

Account B's user is made while the server runs open (B has no root key under strict), then the server
restarts strict on the same data.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer

ROOT_KEY = "AKIAROOTPOLICIES0001"
ROOT_SECRET = "policies/root+secret0123456789abcdefgh"
ACCOUNT = "000000000000"
B = "222222222222"
REGION = "us-east-1"
STRICT = {"TSUNAGI_AUTH": "strict", "TSUNAGI_POLICIES": "enforce", "TSUNAGI_ACCESS_KEY_ID": ROOT_KEY,
          "TSUNAGI_SECRET_ACCESS_KEY": ROOT_SECRET}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


class World:
    def __init__(self, srv: TsunagiServer, bob: dict[str, str]) -> None:
        self.srv = srv
        self.bob = bob

    def client(self, service: str, key: str = ROOT_KEY, secret: str = ROOT_SECRET, token: str | None = None) -> Any:
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60, connect_timeout=5)
        return boto3.client(service, endpoint_url=self.srv.url, aws_access_key_id=key, aws_secret_access_key=secret,
                            aws_session_token=token, region_name=REGION, config=cfg)

    def as_(self, service: str, creds: dict[str, str]) -> Any:
        return self.client(service, creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    store = "sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with tempfile.TemporaryDirectory() as data:
        srv = TsunagiServer(store, data_dir=data).start()
        try:
            if request.param == "postgres":
                srv.reset()
            # account B's user bob, allowed by his own identity policy to use other accounts' resources
            iam_b = srv.client("iam", access_key=B)
            iam_b.create_user(UserName="bob")
            iam_b.put_user_policy(UserName="bob", PolicyName="outbound", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
                    "sqs:SendMessage", "sns:Publish", "s3:GetObject", "lambda:InvokeFunction", "kms:Encrypt"]}]}))
            bob = iam_b.create_access_key(UserName="bob")["AccessKey"]
        finally:
            srv.stop()
        srv.env.update(STRICT)
        srv.start()
        try:
            yield World(srv, bob)
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def things(world: World) -> dict[str, str]:
    """What the default account's root made: a queue, a topic, a bucket with an object, a function, a key."""
    sqs, sns, s3 = world.client("sqs"), world.client("sns"), world.client("s3")
    iam, lam, kms = world.client("iam"), world.client("lambda"), world.client("kms")
    out = {"queue": sqs.create_queue(QueueName="orders")["QueueUrl"],
           "topic": sns.create_topic(Name="events")["TopicArn"]}
    s3.create_bucket(Bucket="reports")
    s3.put_object(Bucket="reports", Key="r.txt", Body=b"report")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    out["function"] = lam.create_function(FunctionName="worker", Runtime="python3.12", Handler="app.handler",
                                          Role=role, Code={"ZipFile": _zip()})["FunctionArn"]
    out["key"] = kms.create_key()["KeyMetadata"]["Arn"]
    out["queue_arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    return out


def refused(call: Callable[..., Any], **kw: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        call(**kw)
    err = e.value.response["Error"]
    return err["Code"], err.get("Message", ""), e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _user(world: World, name: str, policy: dict[str, Any] | None = None) -> dict[str, str]:
    iam = world.client("iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    creds: dict[str, str] = iam.create_access_key(UserName=name)["AccessKey"]
    return creds


def test_the_root_user_may_do_everything_in_its_account(world, things):
    sqs = world.client("sqs")
    sqs.send_message(QueueUrl=things["queue"], MessageBody="root")
    assert world.client("kms").encrypt(KeyId=things["key"], Plaintext=b"x")["KeyId"] == things["key"]
    assert world.client("s3").get_object(Bucket="reports", Key="r.txt")["Body"].read() == b"report"


def test_a_user_without_identity_policies_is_refused_in_each_services_words(world, things):
    alice = _user(world, "alice")
    user = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert refused(world.as_("sqs", alice).send_message, QueueUrl=things["queue"], MessageBody="x") == (
        "AccessDenied", f"User: {user} is not authorized to perform: sqs:sendmessage on resource: "
        f"{things['queue_arn']} because no identity-based policy allows the sqs:sendmessage action", 403)
    assert refused(world.as_("sns", alice).publish, TopicArn=things["topic"], Message="x") == (
        "AuthorizationError", f"User: {user} is not authorized to perform: SNS:Publish on resource: "
        f"{things['topic']} because no identity-based policy allows the SNS:Publish action", 403)
    assert refused(world.as_("lambda", alice).invoke, FunctionName="worker", Payload=b"{}") == (
        "AccessDeniedException", f"User: {user} is not authorized to perform: lambda:InvokeFunction on resource: "
        f"{things['function']} because no identity-based policy allows the lambda:InvokeFunction action", 403)
    assert refused(world.as_("kms", alice).encrypt, KeyId=things["key"], Plaintext=b"x") == (
        "AccessDeniedException", f"User: {user} is not authorized to perform: kms:Encrypt on resource: "
        f"{things['key']} because no identity-based policy allows the kms:Encrypt action", 400)
    assert refused(world.as_("s3", alice).get_object, Bucket="reports", Key="r.txt") == (
        "AccessDenied", "Access Denied", 403)
    sqs_query = world.as_("sqs", alice)
    assert refused(sqs_query.receive_message, QueueUrl=things["queue"])[0] == "AccessDenied"


def test_an_identity_policy_allows_what_it_grants_and_nothing_else(world, things):
    carol = _user(world, "carol", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": things["queue_arn"]},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": things["topic"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::reports/*"},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": things["function"]},
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": things["key"]}]})
    world.as_("sqs", carol).send_message(QueueUrl=things["queue"], MessageBody="carol")
    assert world.as_("sns", carol).publish(TopicArn=things["topic"], Message="carol")["MessageId"]
    assert world.as_("s3", carol).get_object(Bucket="reports", Key="r.txt")["Body"].read() == b"report"
    assert json.loads(world.as_("lambda", carol).invoke(FunctionName="worker", Payload=b"{}")["Payload"].read()) \
        == {"ok": True}
    assert world.as_("kms", carol).encrypt(KeyId=things["key"], Plaintext=b"x")["CiphertextBlob"]
    # not granted
    assert refused(world.as_("sqs", carol).receive_message, QueueUrl=things["queue"])[0] == "AccessDenied"
    assert refused(world.as_("sns", carol).delete_topic, TopicArn=things["topic"])[0] == "AuthorizationError"
    assert refused(world.as_("s3", carol).list_objects_v2, Bucket="reports")[0] == "AccessDenied"   # s3:ListBucket
    assert refused(world.as_("s3", carol).put_object, Bucket="reports", Key="x", Body=b"x")[0] == "AccessDenied"
    assert refused(world.as_("lambda", carol).delete_function, FunctionName="worker")[0] == "AccessDeniedException"
    assert refused(world.as_("kms", carol).disable_key, KeyId=things["key"])[0] == "AccessDeniedException"


def test_an_explicit_deny_beats_every_allow(world, things):
    dave = _user(world, "dave", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:*", "sns:*", "s3:*", "lambda:*", "kms:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["sqs:DeleteQueue", "sns:DeleteTopic", "s3:DeleteObject",
                                      "lambda:DeleteFunction", "kms:ScheduleKeyDeletion"], "Resource": "*"}]})
    world.as_("sqs", dave).send_message(QueueUrl=things["queue"], MessageBody="dave")
    code, text, _ = refused(world.as_("sqs", dave).delete_queue, QueueUrl=things["queue"])
    assert code == "AccessDenied" and text == (
        f"User: arn:aws:iam::{ACCOUNT}:user/dave is not authorized to perform: sqs:deletequeue on resource: "
        f"{things['queue_arn']} with an explicit deny in an identity-based policy")
    assert refused(world.as_("sns", dave).delete_topic, TopicArn=things["topic"])[0] == "AuthorizationError"
    assert refused(world.as_("s3", dave).delete_object, Bucket="reports", Key="r.txt")[0] == "AccessDenied"
    assert refused(world.as_("lambda", dave).delete_function, FunctionName="worker")[0] == "AccessDeniedException"
    assert refused(world.as_("kms", dave).schedule_key_deletion, KeyId=things["key"])[0] == "AccessDeniedException"
    # a resource policy's deny too
    sqs = world.client("sqs")
    url = sqs.create_queue(QueueName="guarded")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:guarded"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/dave"}, "Action": "sqs:SendMessage",
         "Resource": arn}]})})
    code, text, _ = refused(world.as_("sqs", dave).send_message, QueueUrl=url, MessageBody="x")
    assert text.endswith("with an explicit deny in a resource-based policy")
    assert world.client("s3").get_object(Bucket="reports", Key="r.txt")["Body"].read() == b"report"


def test_a_resource_policy_naming_a_user_grants_it_in_its_account(world, things):
    erin = _user(world, "erin")
    sqs = world.client("sqs")
    url = sqs.create_queue(QueueName="for-erin")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:for-erin"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/erin"}, "Action": "sqs:SendMessage",
         "Resource": arn}]})})
    world.as_("sqs", erin).send_message(QueueUrl=url, MessageBody="erin")
    assert refused(world.as_("sqs", erin).send_message, QueueUrl=things["queue"], MessageBody="x")[0] == "AccessDenied"


def test_another_accounts_user_needs_the_resource_policy_too(world, things):
    bob = world.bob
    who = f"arn:aws:iam::{B}:user/bob"
    sqs, sns, s3, lam, kms = (world.client(s) for s in ("sqs", "sns", "s3", "lambda", "kms"))
    # nothing grants B yet: each service refuses, naming the missing resource-based policy
    assert refused(world.as_("sqs", bob).send_message, QueueUrl=things["queue"], MessageBody="x") == (
        "AccessDenied", f"User: {who} is not authorized to perform: sqs:sendmessage on resource: "
        f"{things['queue_arn']} because no resource-based policy allows the sqs:sendmessage action", 403)
    assert refused(world.as_("sns", bob).publish, TopicArn=things["topic"], Message="x")[0] == "AuthorizationError"
    assert refused(world.as_("s3", bob).get_object, Bucket="reports", Key="r.txt")[0] == "AccessDenied"
    assert refused(world.as_("lambda", bob).invoke, FunctionName=things["function"], Payload=b"{}")[0] == \
        "AccessDeniedException"
    assert refused(world.as_("kms", bob).encrypt, KeyId=things["key"], Plaintext=b"x")[0] == "AccessDeniedException"
    # the resource policies grant B
    sqs.set_queue_attributes(QueueUrl=things["queue"], Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": B},
                                                "Action": "sqs:SendMessage", "Resource": things["queue_arn"]}]})})
    sns.set_topic_attributes(TopicArn=things["topic"], AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": who},
                                                "Action": "sns:Publish", "Resource": things["topic"]}]}))
    s3.put_bucket_policy(Bucket="reports", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                                                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}))
    lam.add_permission(FunctionName="worker", StatementId="b", Action="lambda:InvokeFunction", Principal=B)
    key = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:Encrypt",
         "Resource": "*"}]}))["KeyMetadata"]["Arn"]
    world.as_("sqs", bob).send_message(QueueUrl=things["queue"], MessageBody="from B")
    assert world.as_("sns", bob).publish(TopicArn=things["topic"], Message="from B")["MessageId"]
    assert world.as_("s3", bob).get_object(Bucket="reports", Key="r.txt")["Body"].read() == b"report"
    assert world.as_("lambda", bob).invoke(FunctionName=things["function"], Payload=b"{}")["StatusCode"] == 200
    assert world.as_("kms", bob).encrypt(KeyId=key, Plaintext=b"x")["KeyId"] == key
    # granted by the resource, but not by bob's own identity policy: both sides are needed
    assert refused(world.as_("s3", bob).put_object, Bucket="reports", Key="b", Body=b"x")[0] == "AccessDenied"
    code, text, _ = refused(world.as_("sqs", bob).receive_message, QueueUrl=things["queue"])
    assert code == "AccessDenied" and "because no identity-based policy allows the sqs:receivemessage action" in text
    s3.delete_bucket_policy(Bucket="reports")
    sqs.set_queue_attributes(QueueUrl=things["queue"], Attributes={"Policy": ""})


def test_an_assumed_role_session_has_its_roles_permissions_within_its_session_policy(world, things):
    iam, sts = world.client("iam"), world.client("sts")
    role = iam.create_role(RoleName="sender", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="sender", PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"], "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}))
    creds = sts.assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/sender/s1"
    world.as_("sqs", creds).send_message(QueueUrl=things["queue"], MessageBody="role")
    assert world.as_("s3", creds).get_object(Bucket="reports", Key="r.txt")["Body"].read() == b"report"
    code, text, _ = refused(world.as_("sqs", creds).receive_message, QueueUrl=things["queue"])
    assert text == (f"User: {session} is not authorized to perform: sqs:receivemessage on resource: "
                    f"{things['queue_arn']} because no identity-based policy allows the sqs:receivemessage action")
    assert refused(world.as_("sns", creds).publish, TopicArn=things["topic"], Message="x")[0] == "AuthorizationError"
    assert refused(world.as_("kms", creds).encrypt, KeyId=things["key"], Plaintext=b"x")[0] == "AccessDeniedException"
    # a session policy limits the role: only GetQueueAttributes is left
    limited = sts.assume_role(RoleArn=role, RoleSessionName="s2", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:GetQueueAttributes",
                                                "Resource": "*"}]}))["Credentials"]
    assert world.as_("sqs", limited).get_queue_attributes(QueueUrl=things["queue"], AttributeNames=["QueueArn"])
    code, text, _ = refused(world.as_("sqs", limited).send_message, QueueUrl=things["queue"], MessageBody="x")
    assert text.endswith("because no session policy allows the sqs:sendmessage action")


# == --policies warn ===============================================================================
@pytest.fixture(scope="module")
def warned() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as data:
        srv = TsunagiServer("sqlite", data_dir=data).start()
        try:
            iam_b = srv.client("iam", access_key=B)
            iam_b.create_user(UserName="bob")
            iam_b.put_user_policy(UserName="bob", PolicyName="all", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            bob = iam_b.create_access_key(UserName="bob")["AccessKey"]
        finally:
            srv.stop()
        srv.env.update({**STRICT, "TSUNAGI_POLICIES": "warn"})
        srv.start()
        try:
            yield World(srv, bob)
        finally:
            srv.stop()


def test_warn_lets_the_call_through_and_logs_the_denial_but_keeps_accounts_apart(warned):
    url = warned.client("sqs").create_queue(QueueName="w")["QueueUrl"]
    frank = _user(warned, "frank")
    warned.as_("sqs", frank).send_message(QueueUrl=url, MessageBody="allowed under warn")
    assert f"policy (warn): sqs:SendMessage by arn:aws:iam::{ACCOUNT}:user/frank on " \
           f"arn:aws:sqs:{REGION}:{ACCOUNT}:w would be denied" in warned.srv.log()
    code, text, status = refused(warned.as_("sqs", warned.bob).send_message, QueueUrl=url, MessageBody="x")
    assert (code, status) == ("AccessDenied", 403)
    assert text.endswith("because no resource-based policy allows the sqs:sendmessage action")
