"""Encryption at rest, end to end (issue 16's acceptance), on SQLite and on PostgreSQL.

A unique canary goes through each encrypted place tsunagi keeps data: a queue with a customer KMS key,
the outbox of a topic with that key (an HTTP delivery that keeps failing, so its retry waits there), a
bucket whose default encryption is SSE-KMS, and a bucket with SSE-S3. Then everything the server
keeps is scanned (every file in the data dir: the SQLite file, its WAL, the blob files; and the whole
PostgreSQL database through ``pg_dump``) for the canary as text, as hex (how PostgreSQL dumps bytea)
and as base64: none of the encrypted ones may be there. Control canaries sent the same ways to an
unencrypted queue and an unencrypted topic's outbox must be found, so the scan is shown to see what it
is looking for.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid

import boto3
import pytest

from tests.integration.sns_support import Subscriber


def _forms(canary: str) -> list[bytes]:
    """The ways a canary could sit in storage: text, hex (bytea in a dump), base64 (at each alignment)."""
    raw = canary.encode()
    forms = [raw, raw.hex().encode()]
    for shift in range(3):
        b64 = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0:-4]
        forms.append(b64)
    return forms


def _files(data_dir: str, *, logs: bool = True) -> bytes:
    found = []
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            if not logs and name.endswith(".log"):
                continue
            try:
                with open(os.path.join(root, name), "rb") as fh:
                    found.append(fh.read())
            except OSError:
                pass
    return b"\n".join(found)


def _database(server) -> bytes:
    if server.kind == "sqlite":
        return b""
    out = subprocess.run(["pg_dump", "--data-only", "--no-owner", server.store], capture_output=True, timeout=120,
                         check=True)
    return out.stdout


def _seen(haystack: bytes, canary: str) -> bool:
    return any(form in haystack for form in _forms(canary))


@pytest.fixture
def failing_endpoint():
    sub = Subscriber()
    yield sub
    sub.close()


def test_no_plaintext_canary_at_rest_for_encrypted_resources(server, failing_endpoint) -> None:
    tag = uuid.uuid4().hex
    secret = {name: f"canary-{name}-{tag}" for name in ("queue", "topic", "kms-bucket", "sse-s3-bucket")}
    control = {name: f"control-{name}-{tag}" for name in ("queue", "topic")}
    kms, sqs, sns, s3 = (server.client(s) for s in ("kms", "sqs", "sns", "s3"))
    key = kms.create_key(Description="at rest")["KeyMetadata"]["KeyId"]

    # SQS: a queue with the key, and a control queue with no encryption at all
    sealed_q = sqs.create_queue(QueueName=f"sealed-{tag[:8]}", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    plain_q = sqs.create_queue(QueueName=f"plain-{tag[:8]}", Attributes={"SqsManagedSseEnabled": "false"})["QueueUrl"]
    sqs.send_message(QueueUrl=sealed_q, MessageBody=secret["queue"])
    sqs.send_message(QueueUrl=plain_q, MessageBody=control["queue"])

    # SNS: an HTTP subscription that keeps failing, so each delivery waits in the outbox for its retry
    retry = json.dumps({"healthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 60, "maxDelayTarget": 60}})
    topics = {}
    for name, attrs in (("topic", {"KmsMasterKeyId": key}), ("control", {})):
        arn = sns.create_topic(Name=f"{name}-{tag[:8]}", Attributes=attrs)["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=failing_endpoint.url + f"/{name}",
                      Attributes={"DeliveryPolicy": retry})
        topics[name] = arn
    deadline = time.monotonic() + 30
    while len(failing_endpoint.of_type("SubscriptionConfirmation")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(failing_endpoint.of_type("SubscriptionConfirmation")) == 2
    for req in failing_endpoint.of_type("SubscriptionConfirmation"):
        doc = json.loads(req["body"])
        sns.confirm_subscription(TopicArn=doc["TopicArn"], Token=doc["Token"])
    failing_endpoint.fail = 1000
    sns.publish(TopicArn=topics["topic"], Message=secret["topic"])
    sns.publish(TopicArn=topics["control"], Message=control["topic"])
    # both first attempts were made (so the sealed row did open for its delivery) and failed: both wait
    tried = failing_endpoint.wait("Notification", 2, timeout=30.0, ok_only=False)
    bodies = " ".join(r["body"] for r in tried)
    assert secret["topic"] in bodies and control["topic"] in bodies

    # S3: a bucket with SSE-KMS by default (and a Bucket Key), and a bucket with SSE-S3
    kms_bucket, s3_bucket = f"kms-{tag[:12]}", f"sses3-{tag[:12]}"
    s3.create_bucket(Bucket=kms_bucket)
    s3.put_bucket_encryption(Bucket=kms_bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
         "BucketKeyEnabled": True}]})
    s3.create_bucket(Bucket=s3_bucket)
    put = s3.put_object(Bucket=kms_bucket, Key="k.txt", Body=secret["kms-bucket"].encode())
    assert put["ServerSideEncryption"] == "aws:kms" and put["BucketKeyEnabled"] is True
    assert s3.put_object(Bucket=s3_bucket, Key="s.txt", Body=secret["sse-s3-bucket"].encode())[
        "ServerSideEncryption"] == "AES256"

    # everything reads back as written
    assert s3.get_object(Bucket=kms_bucket, Key="k.txt")["Body"].read() == secret["kms-bucket"].encode()
    assert s3.get_object(Bucket=s3_bucket, Key="s.txt")["Body"].read() == secret["sse-s3-bucket"].encode()

    # the scan: the data dir's files (the server's log too), and the PostgreSQL database; the control
    # canaries must be found in the store itself (not only in a log line)
    database = _database(server)
    store_only = _files(server.data_dir, logs=False) + database
    for name, canary in control.items():
        assert _seen(store_only, canary), f"the unencrypted control canary ({name}) was not found: the scan is blind"
    stored = _files(server.data_dir) + database
    for name, canary in secret.items():
        assert not _seen(stored, canary), f"the {name} canary is stored in the clear"

    # and the queue's message is still there for its receiver
    got = sqs.receive_message(QueueUrl=sealed_q, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in got] == [secret["queue"]]


def _signing_as(server, service: str, creds: dict):
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"))


def test_access_key_secrets_and_session_tokens_are_not_stored_in_the_clear(server) -> None:
    """The secret of an IAM access key, and the secret and session token of AssumeRole's and
    GetSessionToken's credentials, are kept sealed under the master key: scanning the data dir, the WAL
    and the PostgreSQL database finds none of them, while a tag value IAM keeps as it is (the control)
    is found. The credentials still work after the server has restarted (read back from the store)."""
    tag = uuid.uuid4().hex
    control = f"control-iam-{tag}"
    iam, sts = server.client("iam"), server.client("sts")
    iam.create_user(UserName=f"canary-{tag[:8]}", Tags=[{"Key": "note", "Value": control}])
    user_key = iam.create_access_key(UserName=f"canary-{tag[:8]}")["AccessKey"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName=f"canary-{tag[:8]}", AssumeRolePolicyDocument=trust)["Role"]
    assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="canary")["Credentials"]
    session = _signing_as(server, "sts", user_key).get_session_token()["Credentials"]
    canaries = {"the access key's secret": user_key["SecretAccessKey"],
                "AssumeRole's secret": assumed["SecretAccessKey"], "AssumeRole's session token": assumed["SessionToken"],
                "GetSessionToken's secret": session["SecretAccessKey"],
                "GetSessionToken's session token": session["SessionToken"]}

    database = _database(server)
    store_only = _files(server.data_dir, logs=False) + database
    assert _seen(store_only, control), "the unencrypted control (a user's tag) was not found: the scan is blind"
    stored = _files(server.data_dir) + database
    for name, canary in canaries.items():
        assert not _seen(stored, canary[:40]), f"{name} is stored in the clear"

    # read back from the store (no cache): each key still names its caller
    server.restart()
    for creds, arn in ((user_key, f"user/canary-{tag[:8]}"), (assumed, f"assumed-role/canary-{tag[:8]}/canary"),
                       (session, f"user/canary-{tag[:8]}")):
        who = _signing_as(server, "sts", creds).get_caller_identity()
        assert who["Arn"].endswith(arn)


def test_a_disabled_key_fails_the_calls_that_need_it_with_each_services_error_and_loses_nothing(server) -> None:
    from botocore.exceptions import ClientError

    kms, sns, s3 = (server.client(s) for s in ("kms", "sns", "s3"))
    md = kms.create_key()["KeyMetadata"]
    key, arn = md["KeyId"], md["Arn"]
    topic = sns.create_topic(Name="sealed-news", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    sns.publish(TopicArn=topic, Message="before")
    s3.create_bucket(Bucket="sealed-objects")
    put = s3.put_object(Bucket="sealed-objects", Key="a.txt", Body=b"kept", ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key)
    assert put["SSEKMSKeyId"] == arn and "BucketKeyEnabled" not in put
    head = s3.head_object(Bucket="sealed-objects", Key="a.txt")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == arn

    kms.disable_key(KeyId=key)
    with pytest.raises(sns.exceptions.KMSDisabledException) as published:
        sns.publish(TopicArn=topic, Message="refused")
    assert "DisabledException" in published.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as read:
        s3.get_object(Bucket="sealed-objects", Key="a.txt")
    assert read.value.response["Error"]["Code"] == "KMS.DisabledException"
    assert read.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as wrote:
        s3.put_object(Bucket="sealed-objects", Key="b.txt", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=key)
    assert wrote.value.response["Error"]["Code"] == "KMS.DisabledException"

    kms.enable_key(KeyId=key)
    assert s3.get_object(Bucket="sealed-objects", Key="a.txt")["Body"].read() == b"kept"
    sns.publish(TopicArn=topic, Message="after")
    with pytest.raises(sns.exceptions.KMSNotFoundException):
        sns.publish(TopicArn=sns.create_topic(Name="no-key", Attributes={"KmsMasterKeyId": "alias/none"})["TopicArn"],
                    Message="x")


def test_the_aws_cli_uploads_with_sse_kms_in_one_part_and_in_many(server, tmp_path) -> None:
    key = server.client("kms").create_key()["KeyMetadata"]
    server.aws("s3", "mb", "s3://cli-sealed")
    small, large = tmp_path / "small.txt", tmp_path / "large.bin"
    small.write_bytes(b"a small sealed file\n")
    large.write_bytes(os.urandom(9 * 1024 * 1024))       # over the CLI's 8 MiB threshold: a multipart upload
    for f in (small, large):
        server.aws("s3", "cp", str(f), f"s3://cli-sealed/{f.name}", "--sse", "aws:kms", "--sse-kms-key-id",
                   key["KeyId"])
        head = json.loads(server.aws("s3api", "head-object", "--bucket", "cli-sealed", "--key", f.name).stdout)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key["Arn"]
        back = tmp_path / f"{f.name}.back"
        server.aws("s3", "cp", f"s3://cli-sealed/{f.name}", str(back))
        assert back.read_bytes() == f.read_bytes()
    etag = json.loads(server.aws("s3api", "head-object", "--bucket", "cli-sealed", "--key", "large.bin").stdout)["ETag"]
    assert etag.strip('"').endswith("-2")                  # it was written in parts
