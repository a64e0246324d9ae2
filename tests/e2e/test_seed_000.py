"""Seed 000 end to end: ``examples/000-s3-sns-sqs-lambda/deploy.py`` against a real server, then the
article's trigger (an upload). A ``.txt`` reaches the function through S3 -> SNS -> SQS, with the S3
event inside the SNS envelope inside the SQS record; a ``.csv`` goes nowhere.

The seed's own values (queue VisibilityTimeout 900, function Timeout 900) are kept: the function
succeeds at once, so nothing here waits on either of them."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import require_postgres
from tests.e2e.support import EXAMPLES, load_example, log_messages, queue_counts, wait_for
from tests.support import postgres
from tests.support.server import TsunagiServer

FOLDER = "000-s3-sns-sqs-lambda"


def events_seen(server, function: str) -> list[dict]:
    """The events the seed's handler printed (``print(event)``: a Python dict repr per invocation)."""
    return [ast.literal_eval(m) for m in log_messages(server, function) if m.startswith("{'Records'")]


def s3_records(event: dict) -> list[dict]:
    """SQS record -> SNS envelope (body) -> S3 event (Message) -> its records."""
    out = []
    for record in event["Records"]:
        assert record["eventSource"] == "aws:sqs"
        envelope = json.loads(record["body"])
        assert envelope["Type"] == "Notification"
        out += json.loads(envelope["Message"]).get("Records", [])   # s3:TestEvent has no Records
    return out


def test_seed_000_txt_reaches_the_function_csv_does_not(server) -> None:
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url)
    lam, s3, sqs = server.client("lambda"), server.client("s3"), server.sqs_client()

    # what the template declares, as deployed
    cfg = lam.get_function(FunctionName=deploy.FUNCTION)
    assert cfg["Configuration"]["Runtime"] == "python3.6" and cfg["Configuration"]["Timeout"] == 900
    assert cfg["Concurrency"]["ReservedConcurrentExecutions"] == 1
    mapping = lam.get_event_source_mapping(UUID=out["mapping_uuid"])
    assert mapping["BatchSize"] == 1 and mapping["EventSourceArn"] == out["queue_arn"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=out["mapping_uuid"])["State"] == "Enabled",
             what="mapping enabled")
    policy = json.loads(server.client("sns").get_topic_attributes(TopicArn=out["topic_arn"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"] == {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{deploy.BUCKET}"}}

    s3.put_object(Bucket=deploy.BUCKET, Key="skip.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=deploy.BUCKET, Key="hello.txt", Body=b"hello")

    def txt_records() -> list[dict]:
        return [r for e in events_seen(server, deploy.FUNCTION) for r in s3_records(e)]

    (record,) = wait_for(txt_records, timeout=20, what="the .txt upload reaching the function")
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == deploy.BUCKET and record["s3"]["object"]["key"] == "hello.txt"
    # the SQS record in the function's event names the seed's queue, and the envelope the topic
    (event,) = [e for e in events_seen(server, deploy.FUNCTION) if s3_records(e)]
    assert event["Records"][0]["eventSourceARN"] == out["queue_arn"]
    assert json.loads(event["Records"][0]["body"])["TopicArn"] == out["topic_arn"]
    # processed: the mapping deleted the message; the .csv never produced anything
    wait_for(lambda: queue_counts(sqs, out["queue_url"]) == (0, 0), what="queue drained")
    assert not any(r["s3"]["object"]["key"].endswith(".csv") for r in txt_records())

    # the mini-CLI of the README: tsunagi logs shows the same event
    shown = subprocess.run([sys.executable, "-m", "tsunagi", "logs", deploy.FUNCTION, "--endpoint-url", server.url],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "hello.txt" in shown.stdout and "skip.csv" not in shown.stdout, shown.stderr

    # running deploy.py a second time changes nothing and fails nothing
    assert deploy.deploy(server.url)["mapping_uuid"] == out["mapping_uuid"]


def test_seed_000_visibility_shorter_than_timeout_is_refused_as_in_the_article(server) -> None:
    """The article's failed first deploy: a 30 s queue under a 900 s function."""
    deploy = load_example(FOLDER)
    with pytest.raises(ClientError) as e:
        deploy.deploy(server.url, queue_visibility_timeout=30)
    assert e.value.response["Error"]["Message"] == (
        "Invalid request provided: Queue visibility timeout: 30 seconds is less than Function timeout: "
        "900 seconds")


def test_seed_000_deploy_script_runs_as_documented(server) -> None:
    """``python examples/000-.../deploy.py`` with AWS_ENDPOINT_URL set, as the README says."""
    env = {**os.environ, "AWS_ENDPOINT_URL": server.url}
    proc = subprocess.run([sys.executable, str(EXAMPLES / FOLDER / "deploy.py")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "snssqstestqueue" in proc.stdout


def test_seed_000_with_the_templates_kms_key(server) -> None:
    deploy = load_example(FOLDER)
    kms = server.client("kms")
    account = server.client("sts").get_caller_identity()["Account"]
    key = kms.create_key(Description="Encrypt sensitive data for Billboard site.", Policy=json.dumps({
        "Version": "2012-10-17", "Id": "key-consolepolicy-3",
        "Statement": [
            {"Sid": "Allow administration of the key", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": ["kms:*"], "Resource": "*"},
            {"Sid": "Allow Amazon SNS of the key", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
            {"Sid": "Allow Amazon S3 of the key", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}]}))["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/testcmk", TargetKeyId=key)
    out = deploy.deploy(server.url)
    server.client("sns").set_topic_attributes(TopicArn=out["topic_arn"], AttributeName="KmsMasterKeyId",
                                              AttributeValue="alias/testcmk")
    server.sqs_client().set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"KmsMasterKeyId": "alias/testcmk"})
    server.client("s3").put_object(Bucket=deploy.BUCKET, Key="secret.txt", Body=b"hello")
    wait_for(lambda: [r for e in events_seen(server, deploy.FUNCTION) for r in s3_records(e)
                      if r["s3"]["object"]["key"] == "secret.txt"], timeout=20, what="the encrypted path")


# == under --policies enforce: the template's policies decide, as on AWS ==============================

@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def enforcing(request: pytest.FixtureRequest) -> Iterator[TsunagiServer]:
    url = None
    if request.param == "sqlite":
        srv = TsunagiServer("sqlite", env={"TSUNAGI_POLICIES": "enforce"})
    else:
        require_postgres()
        url = postgres.create_database("tsunagi_seed000_enforce")
        srv = TsunagiServer(url, env={"TSUNAGI_POLICIES": "enforce"})
    srv.start()
    yield srv
    srv.stop()
    if url:
        postgres.drop_database(url)


def template_key_policy(account: str, *, sns: bool = True, s3: bool = True) -> str:
    statements = [{"Sid": "Allow administration of the key", "Effect": "Allow",
                   "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": ["kms:*"], "Resource": "*"}]
    for name, keep in (("SNS", sns), ("S3", s3)):
        if keep:
            statements.append({"Sid": f"Allow Amazon {name} of the key", "Effect": "Allow",
                               "Principal": {"Service": f"{name.lower()}.amazonaws.com"},
                               "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": statements})


def deploy_whole_template(server: TsunagiServer) -> tuple[Any, dict[str, str]]:
    """deploy.py plus the template's KMS key (on the topic and the queue) and its IAM role (trusting
    Lambda, with the template's managed policies), all through the APIs."""
    deploy = load_example(FOLDER)
    account = server.client("sts").get_caller_identity()["Account"]
    kms, iam = server.client("kms"), server.client("iam")
    key = kms.create_key(Description="Encrypt sensitive data for Billboard site.",
                         Policy=template_key_policy(account))["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/testcmk", TargetKeyId=key)
    iam.create_role(RoleName=deploy.ROLE, Path="/", MaxSessionDuration=3600, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]},
                                                "Action": ["sts:AssumeRole"]}]}))
    for managed in ("AmazonS3FullAccess", "ReadOnlyAccess", "service-role/AWSLambdaBasicExecutionRole",
                    "AmazonSQSFullAccess", "AWSKeyManagementServicePowerUser"):
        iam.attach_role_policy(RoleName=deploy.ROLE, PolicyArn=f"arn:aws:iam::aws:policy/{managed}")
    out = deploy.deploy(server.url)
    server.client("sns").set_topic_attributes(TopicArn=out["topic_arn"], AttributeName="KmsMasterKeyId",
                                              AttributeValue="alias/testcmk")
    server.sqs_client().set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"KmsMasterKeyId": "alias/testcmk"})
    out.update(account=account, key=key, bucket_arn=f"arn:aws:s3:::{deploy.BUCKET}")
    return deploy, out


def denied(server: TsunagiServer, source_arn: str) -> list[dict[str, Any]]:
    with server.internal(f"/_tsunagi/api/deliveries?source_arn={source_arn}") as r:
        return [d for d in json.loads(r.read())["Deliveries"] if d["Outcome"] == "denied"]


def reached(server: TsunagiServer, deploy: Any, key: str) -> bool:
    return any(r["s3"]["object"]["key"] == key for e in events_seen(server, deploy.FUNCTION) for r in s3_records(e))


def test_seed_000_under_enforce_delivers_then_drops_what_a_missing_line_stops(enforcing: TsunagiServer) -> None:
    server = enforcing
    server.reset()
    deploy, out = deploy_whole_template(server)
    s3, sns, sqs, kms = server.client("s3"), server.client("sns"), server.sqs_client(), server.client("kms")
    wait_for(lambda: server.client("lambda").get_event_source_mapping(UUID=out["mapping_uuid"])["State"] == "Enabled",
             what="mapping enabled")

    s3.put_object(Bucket=deploy.BUCKET, Key="hello.txt", Body=b"hello")
    wait_for(lambda: reached(server, deploy, "hello.txt"), timeout=30, what="hello.txt through the whole pipeline")
    assert not denied(server, out["bucket_arn"]) and not denied(server, out["topic_arn"])

    # one line missing at a time: the upload goes nowhere, and the record says which line
    policy = sns.get_topic_attributes(TopicArn=out["topic_arn"])["Attributes"]["Policy"]
    queue_policy = sqs.get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["Policy"])["Attributes"]["Policy"]
    steps = [
        ("no-topic-policy.txt", out["bucket_arn"], f"the topic policy of {out['topic_arn']} has no statement",
         lambda: sns.set_topic_attributes(TopicArn=out["topic_arn"], AttributeName="Policy", AttributeValue=""),
         lambda: sns.set_topic_attributes(TopicArn=out["topic_arn"], AttributeName="Policy", AttributeValue=policy)),
        ("no-queue-policy.txt", out["topic_arn"], f"the queue {out['queue_arn']} has no queue policy",
         lambda: sqs.set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"Policy": ""}),
         lambda: sqs.set_queue_attributes(QueueUrl=out["queue_url"], Attributes={"Policy": queue_policy})),
        ("no-sns-key-line.txt", out["topic_arn"], "no statement that allows sns.amazonaws.com to kms:GenerateDataKey",
         lambda: kms.put_key_policy(KeyId=out["key"], PolicyName="default",
                                    Policy=template_key_policy(out["account"], sns=False)),
         lambda: kms.put_key_policy(KeyId=out["key"], PolicyName="default", Policy=template_key_policy(out["account"]))),
        ("no-s3-key-line.txt", out["bucket_arn"], "no statement that allows s3.amazonaws.com to kms:GenerateDataKey",
         lambda: kms.put_key_policy(KeyId=out["key"], PolicyName="default",
                                    Policy=template_key_policy(out["account"], s3=False)),
         lambda: kms.put_key_policy(KeyId=out["key"], PolicyName="default", Policy=template_key_policy(out["account"]))),
    ]
    for key, source, names, remove, restore in steps:
        before = len(denied(server, source))
        remove()
        s3.put_object(Bucket=deploy.BUCKET, Key=key, Body=b"x")
        (rec, *_) = wait_for(lambda source=source, before=before: denied(server, source)[before:], timeout=20,
                             what=f"the denial of {key}")
        assert names in rec["Reason"], rec
        restore()
    s3.put_object(Bucket=deploy.BUCKET, Key="restored.txt", Body=b"x")
    wait_for(lambda: reached(server, deploy, "restored.txt"), timeout=30, what="the restored pipeline")
    assert not any(reached(server, deploy, step[0]) for step in steps)
