"""Policies between services, as AWS applies them: seed 000's pipeline (S3 -> SNS -> SQS, topic and
queue encrypted with one customer KMS key) set up through the APIs with the template's policies.

Under ``--policies enforce`` the pipeline delivers; remove the topic policy, the queue policy, or the
SNS or the S3 statement of the key policy, one at a time, and the message is dropped, with a delivery
record (outcome ``denied``) whose reason names what is missing. Under ``warn`` the message arrives and
the same reason is recorded on the ``delivered`` record. Other pipes: S3 -> SQS (queue policy),
S3 -> Lambda and SNS -> Lambda (function policy), and an explicit deny named by its Sid.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.server import TsunagiServer

BUCKET = "snssqstestbuckets3"
ALIAS = "alias/testcmk"


def _start(store: str, mode: str) -> Iterator[TsunagiServer]:
    url = None
    if store == "sqlite":
        srv = TsunagiServer("sqlite", env={"TSUNAGI_POLICIES": mode})
    else:
        require_postgres()
        url = postgres.create_database(f"tsunagi_pol_{mode}")
        srv = TsunagiServer(url, env={"TSUNAGI_POLICIES": mode})
    srv.start()
    yield srv
    srv.stop()
    if url:
        postgres.drop_database(url)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def enforcing(request: pytest.FixtureRequest) -> Iterator[TsunagiServer]:
    yield from _start(request.param, "enforce")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def warning(request: pytest.FixtureRequest) -> Iterator[TsunagiServer]:
    yield from _start(request.param, "warn")


@pytest.fixture
def enforce(enforcing: TsunagiServer) -> TsunagiServer:
    enforcing.reset()
    return enforcing


@pytest.fixture
def warn(warning: TsunagiServer) -> TsunagiServer:
    warning.reset()
    return warning


def key_policy(account: str, *, sns: bool = True, s3: bool = True) -> str:
    statements: list[dict[str, Any]] = [
        {"Sid": "Allow administration of the key", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": ["kms:*"], "Resource": "*"}]
    if sns:
        statements.append({"Sid": "Allow Amazon SNS of the key", "Effect": "Allow",
                           "Principal": {"Service": "sns.amazonaws.com"},
                           "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"})
    if s3:
        statements.append({"Sid": "Allow Amazon S3 of the key", "Effect": "Allow",
                           "Principal": {"Service": "s3.amazonaws.com"},
                           "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": statements})


def topic_policy(topic_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "SID", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "SNS:Publish",
        "Resource": topic_arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}}}]})


def queue_policy(topic_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "SID", "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})


def seed(server: TsunagiServer) -> dict[str, str]:
    """Seed 000's resources and policies, through the APIs (the function and its mapping left out:
    the queue is read here directly)."""
    kms, sns, sqs, s3 = (server.client(s) for s in ("kms", "sns", "sqs", "s3"))
    account = server.client("sts").get_caller_identity()["Account"]
    key_id = kms.create_key(Description="Encrypt sensitive data for Billboard site.",
                            Policy=key_policy(account))["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=key_id)
    queue_url = sqs.create_queue(QueueName="snssqstestqueue",
                                 Attributes={"KmsMasterKeyId": ALIAS, "VisibilityTimeout": "900"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name="snssqstesttopic", Attributes={"KmsMasterKeyId": ALIAS})["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=topic_policy(topic_arn))
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": queue_policy(topic_arn)})
    sub_arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"TopicConfigurations": [{
        "TopicArn": topic_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": "txt"}]}}}]})
    return {"account": account, "key_id": key_id, "key_arn": kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"],
            "queue_url": queue_url, "queue_arn": queue_arn, "topic_arn": topic_arn, "sub_arn": sub_arn,
            "bucket_arn": f"arn:aws:s3:::{BUCKET}"}


def records(server: TsunagiServer, source_arn: str) -> list[dict[str, Any]]:
    with server.internal(f"/_tsunagi/api/deliveries?source_arn={source_arn}") as r:
        return list(json.loads(r.read())["Deliveries"])


def wait_record(server: TsunagiServer, source_arn: str, match: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in records(server, source_arn) if match(d)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no such delivery record from {source_arn}: {records(server, source_arn)}")
        time.sleep(0.1)


def uploaded(server: TsunagiServer, queue_url: str, key: str, timeout: float = 20.0) -> bool:
    """Whether the S3 event for ``key`` reached the queue (the s3:TestEvent and others are skipped)."""
    sqs = server.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            body = json.loads(m["Body"])
            inner = json.loads(body.get("Message", "{}")) if "Message" in body else body
            if any(r["s3"]["object"]["key"] == key for r in inner.get("Records", [])):
                return True
    return False


def upload(server: TsunagiServer, key: str) -> None:
    server.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"hello")


def drain_test_events(server: TsunagiServer, out: dict[str, str]) -> None:
    """Wait for the S3 test event's journey to finish, so later records are the upload's."""
    wait_record(server, out["bucket_arn"], lambda d: d["TargetArn"] == out["topic_arn"])


# == enforce ==========================================================================================

def test_enforce_the_seed_policies_deliver(enforce: TsunagiServer) -> None:
    out = seed(enforce)
    upload(enforce, "hello.txt")
    assert uploaded(enforce, out["queue_url"], "hello.txt")
    assert not [d for d in records(enforce, out["topic_arn"]) + records(enforce, out["bucket_arn"])
                if d["Outcome"] == "denied" or (d["Reason"] or "").startswith("policy warning")]


def test_enforce_without_the_topic_policy_s3_is_dropped(enforce: TsunagiServer) -> None:
    out = seed(enforce)
    # SetTopicAttributes with an empty Policy restores the default one, which lets only the account publish
    enforce.client("sns").set_topic_attributes(TopicArn=out["topic_arn"], AttributeName="Policy", AttributeValue="")
    upload(enforce, "a.txt")
    rec = wait_record(enforce, out["bucket_arn"], lambda d: d["Outcome"] == "denied")
    assert rec["TargetArn"] == out["topic_arn"] and rec["Pipe"] == "s3"
    assert f"the topic policy of {out['topic_arn']} has no statement that allows s3.amazonaws.com to SNS:Publish" \
        in rec["Reason"]
    assert f"aws:SourceArn {out['bucket_arn']}" in rec["Reason"]
    assert not uploaded(enforce, out["queue_url"], "a.txt", timeout=3)
    log = enforce.log()
    assert any("policies enforce" in line and out["topic_arn"] in line and "dropped" in line for line in log.splitlines())


def test_enforce_without_the_queue_policy_sns_is_dropped(enforce: TsunagiServer) -> None:
    out = seed(enforce)
    enforce.client("sqs").set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"Policy": ""})
    upload(enforce, "b.txt")
    rec = wait_record(enforce, out["topic_arn"], lambda d: d["Outcome"] == "denied")
    assert rec["TargetArn"] == out["sub_arn"] and rec["Pipe"] == "sns"
    assert rec["Reason"].startswith(f"the queue {out['queue_arn']} has no queue policy, so no statement allows "
                                    f"sns.amazonaws.com to sqs:SendMessage on it with aws:SourceArn "
                                    f"{out['topic_arn']}")
    assert not uploaded(enforce, out["queue_url"], "b.txt", timeout=3)


def test_enforce_without_the_sns_statement_of_the_key_policy(enforce: TsunagiServer) -> None:
    out = seed(enforce)
    enforce.client("kms").put_key_policy(KeyId=out["key_id"], PolicyName="default",
                                         Policy=key_policy(out["account"], sns=False))
    upload(enforce, "c.txt")
    rec = wait_record(enforce, out["topic_arn"], lambda d: d["Outcome"] == "denied")
    assert rec["TargetArn"] == out["sub_arn"]
    assert f"{out['queue_arn']} is encrypted with KMS key {out['key_arn']}" in rec["Reason"]
    assert f"the key policy of {out['key_arn']} has no statement that allows sns.amazonaws.com to " \
           "kms:GenerateDataKey" in rec["Reason"]
    assert not uploaded(enforce, out["queue_url"], "c.txt", timeout=3)


def test_enforce_without_the_s3_statement_of_the_key_policy(enforce: TsunagiServer) -> None:
    out = seed(enforce)
    enforce.client("kms").put_key_policy(KeyId=out["key_id"], PolicyName="default",
                                         Policy=key_policy(out["account"], s3=False))
    upload(enforce, "d.txt")
    rec = wait_record(enforce, out["bucket_arn"], lambda d: d["Outcome"] == "denied")
    assert rec["TargetArn"] == out["topic_arn"]
    assert f"{out['topic_arn']} is encrypted with KMS key {out['key_arn']}" in rec["Reason"]
    assert "has no statement that allows s3.amazonaws.com to kms:GenerateDataKey" in rec["Reason"]
    assert not uploaded(enforce, out["queue_url"], "d.txt", timeout=3)


def test_enforce_an_explicit_deny_is_named_by_its_sid(enforce: TsunagiServer) -> None:
    out = seed(enforce)
    policy = json.loads(queue_policy(out["topic_arn"]))
    policy["Statement"].append({"Sid": "NoSnsHere", "Effect": "Deny", "Principal": {"Service": "sns.amazonaws.com"},
                                "Action": "sqs:SendMessage", "Resource": out["queue_arn"]})
    enforce.client("sqs").set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"Policy": json.dumps(policy)})
    upload(enforce, "e.txt")
    rec = wait_record(enforce, out["topic_arn"], lambda d: d["Outcome"] == "denied")
    assert "explicitly denied by statement 'NoSnsHere'" in rec["Reason"]


def test_enforce_same_account_s3_to_sqs_needs_the_queue_policy(enforce: TsunagiServer) -> None:
    """The service principal is not the account: a queue of the bucket's own account still needs a
    statement for s3.amazonaws.com. AWS checks it when the configuration is set; with
    SkipDestinationValidation it is set anyway, and each event is dropped."""
    sqs, s3 = enforce.client("sqs"), enforce.client("s3")
    url = sqs.create_queue(QueueName="direct")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="direct-bucket")
    conf = {"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket="direct-bucket", NotificationConfiguration=conf)
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidArgument"
    assert err["Message"] == "Unable to validate the following destination configurations"
    assert err["ArgumentName1"] == arn
    assert err["ArgumentValue1"] == "Permissions on the destination queue do not allow S3 to publish notifications " \
                                    "from this bucket"

    s3.put_bucket_notification_configuration(Bucket="direct-bucket", NotificationConfiguration=conf,
                                             SkipDestinationValidation=True)
    s3.put_object(Bucket="direct-bucket", Key="x", Body=b"1")
    rec = wait_record(enforce, "arn:aws:s3:::direct-bucket", lambda d: d["Outcome"] == "denied")
    assert rec["TargetArn"] == arn and "no queue policy" in rec["Reason"] and "s3.amazonaws.com" in rec["Reason"]

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::direct-bucket"}}}]})})
    s3.put_bucket_notification_configuration(Bucket="direct-bucket", NotificationConfiguration=conf)
    s3.put_object(Bucket="direct-bucket", Key="y", Body=b"2")
    assert uploaded(enforce, url, "y")


def test_enforce_s3_checks_a_topic_policy_when_configured(enforce: TsunagiServer) -> None:
    topic = enforce.client("sns").create_topic(Name="plain")["TopicArn"]     # the default policy: the account only
    s3 = enforce.client("s3")
    s3.create_bucket(Bucket="topic-bucket")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket="topic-bucket", NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    assert e.value.response["Error"]["ArgumentValue1"] == ("Permissions on the destination topic do not allow S3 to "
                                                           "publish notifications from this bucket")


def test_warn_s3_accepts_the_configuration_and_logs(warn: TsunagiServer) -> None:
    sqs, s3 = warn.client("sqs"), warn.client("s3")
    url = sqs.create_queue(QueueName="lax")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="lax-bucket")
    s3.put_bucket_notification_configuration(Bucket="lax-bucket", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket="lax-bucket", Key="z", Body=b"1")
    assert uploaded(warn, url, "z")
    rec = wait_record(warn, "arn:aws:s3:::lax-bucket", lambda d: d["TargetArn"] == arn and d["Outcome"] == "delivered"
                      and "policy warning" in (d["Reason"] or ""))
    assert "no queue policy" in rec["Reason"]
    assert "configuration accepted anyway" in warn.log()


FUNCTION = "def handler(event, context):\n    return None\n"


LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _zip(code: str = FUNCTION) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", code)
    return buf.getvalue()


def _role(server: TsunagiServer, name: str, *managed: str) -> str:
    iam = server.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    for policy in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    return str(arn)


def _function(server: TsunagiServer, name: str, role: str | None = None, code: str = FUNCTION) -> str:
    lam = server.client("lambda")
    arn = lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                              Role=role or _role(server, f"{name}-role"), Code={"ZipFile": _zip(code)})["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return str(arn)


def test_enforce_a_function_needs_a_role_lambda_can_assume(enforce: TsunagiServer) -> None:
    lam, iam = enforce.client("lambda"), enforce.client("iam")
    account = enforce.client("sts").get_caller_identity()["Account"]
    for role in (f"arn:aws:iam::{account}:role/not-in-iam",
                 iam.create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps({
                     "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": "ec2.amazonaws.com"}}]}))
                 ["Role"]["Arn"]):
        with pytest.raises(ClientError) as e:
            lam.create_function(FunctionName="nope", Runtime="python3.12", Handler="index.handler", Role=role,
                                Code={"ZipFile": _zip()})
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidParameterValueException"
        assert err["Message"] == "The role defined for the function cannot be assumed by Lambda."
    _function(enforce, "yes")


def test_warn_a_role_not_in_iam_is_kept(warn: TsunagiServer) -> None:
    account = warn.client("sts").get_caller_identity()["Account"]
    _function(warn, "kept", role=f"arn:aws:iam::{account}:role/not-in-iam")
    assert "cannot be assumed by Lambda" in warn.log()


def _drained(sqs: Any, url: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    attrs: dict[str, str] = {}
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}:
            return
        time.sleep(0.5)
    raise AssertionError(f"the mapping never read the queue: {attrs}")


def test_enforce_an_event_source_mapping_reads_only_with_its_roles_permissions(enforce: TsunagiServer) -> None:
    sqs, lam, iam = enforce.client("sqs"), enforce.client("lambda"), enforce.client("iam")
    url = sqs.create_queue(QueueName="esm-src")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = _role(enforce, "basic-only", "service-role/AWSLambdaBasicExecutionRole")
    fn = _function(enforce, "reader", role=role)
    # AWS refuses the mapping while the role may not read the queue
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName="reader", EventSourceArn=arn, BatchSize=1)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == \
        "The function execution role does not have permissions to call ReceiveMessage on SQS"

    sqs_policy = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    iam.attach_role_policy(RoleName="basic-only", PolicyArn=sqs_policy)
    uuid = lam.create_event_source_mapping(FunctionName="reader", EventSourceArn=arn, BatchSize=1)["UUID"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    _drained(sqs, url)

    # the permission taken away later: the poller stops reading, and says why
    iam.detach_role_policy(RoleName="basic-only", PolicyArn=sqs_policy)
    # (decided again before each poll: the one waiting when it changed, up to 20 s, ends first)
    rec = wait_record(enforce, arn, lambda d: d["Outcome"] == "denied" and d["Pipe"] == "esm", timeout=45)
    assert rec["TargetArn"] == fn
    assert f"the execution role {role} of function {fn} may not sqs:ReceiveMessage on {arn}" in rec["Reason"]
    sqs.send_message(QueueUrl=url, MessageBody="two")
    time.sleep(2)
    assert lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"].startswith(
        "PROBLEM: Lambda could not read from the queue")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"          # still waiting, not consumed

    iam.attach_role_policy(RoleName="basic-only", PolicyArn=sqs_policy)
    _drained(sqs, url)


# == warn =============================================================================================

@pytest.mark.parametrize("remove", ["topic policy", "queue policy", "sns key statement", "s3 key statement"])
def test_warn_delivers_and_records_the_same_reason(warn: TsunagiServer, remove: str) -> None:
    out = seed(warn)
    if remove == "topic policy":
        warn.client("sns").set_topic_attributes(TopicArn=out["topic_arn"], AttributeName="Policy", AttributeValue="")
        source, target, names = out["bucket_arn"], out["topic_arn"], f"the topic policy of {out['topic_arn']}"
    elif remove == "queue policy":
        warn.client("sqs").set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"Policy": ""})
        source, target, names = out["topic_arn"], out["sub_arn"], f"the queue {out['queue_arn']} has no queue policy"
    else:
        sns_side = remove.startswith("sns")
        warn.client("kms").put_key_policy(KeyId=out["key_id"], PolicyName="default",
                                          Policy=key_policy(out["account"], sns=not sns_side, s3=sns_side))
        source, target = (out["topic_arn"], out["sub_arn"]) if sns_side else (out["bucket_arn"], out["topic_arn"])
        names = f"no statement that allows {'sns' if sns_side else 's3'}.amazonaws.com to kms:GenerateDataKey"
    upload(warn, "w.txt")
    assert uploaded(warn, out["queue_url"], "w.txt")
    rec = wait_record(warn, source, lambda d: d["TargetArn"] == target and "policy warning" in (d["Reason"] or ""))
    assert rec["Outcome"] == "delivered" and names in rec["Reason"]
    assert not [d for d in records(warn, source) if d["Outcome"] == "denied"]
