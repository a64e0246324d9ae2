"""Seed 000 by API: S3 (*.txt) -> SNS topic -> SQS queue -> Lambda, as the article's CloudFormation
template declares it, minus the parts tsunagi does not have yet (KMS, IAM, CloudFormation itself).

    python examples/000-s3-sns-sqs-lambda/deploy.py

Talks to $AWS_ENDPOINT_URL (default http://localhost:4566). Safe to run twice.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3

HERE = Path(__file__).resolve().parent

# The names the article's template uses.
BUCKET = "snssqstestbuckets3"
TOPIC = "snssqstesttopic"
QUEUE = "snssqstestqueue"
FUNCTION = "sqssnstestlambda"
ROLE = "sqssnstestrole"


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def zipped(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.write(HERE / name, name)
    return buf.getvalue()


def deploy(endpoint_url: str | None = None, *, queue_visibility_timeout: int = 900,
           function_timeout: int = 900) -> dict[str, str]:
    """Create (or update) every resource; return their names and ARNs.

    The two keyword arguments exist for tests only; the defaults are the template's values.
    """
    s3, sns, sqs, lam = (client(s, endpoint_url) for s in ("s3", "sns", "sqs", "lambda"))
    account = client("sts", endpoint_url).get_caller_identity()["Account"]

    # createCmk / createKeyAlias: waiting for tsunagi's KMS, so the topic and the queue carry no
    # KmsMasterKeyId yet (see README.md).

    # snsTopic + snsTopicPolicy: only S3, and only from this bucket, may publish.
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SID", "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "SNS:Publish", "Resource": topic_arn,
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}},
        }],
    }))

    # sqsQueue (VisibilityTimeout 900 >= the function's Timeout 900) + sqsQueuePolycy.
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={
        "VisibilityTimeout": str(queue_visibility_timeout),
        "Policy": json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "SID", "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*",
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        }),
    })

    # snsSubscription: the queue gets the SNS envelope (raw message delivery off, as in the template).
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(s["Protocol"] == "sqs" and s["Endpoint"] == queue_arn for s in subs):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    # s3Bucket: AES256 default encryption, public access blocked, *.txt creations notify the topic.
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True})
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "TopicConfigurations": [{
            "TopicArn": topic_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": "txt"}]}},
        }],
    })

    # lambdaFunction: python3.6 (retired by AWS; tsunagi runs it on its own Python), 1024 MB,
    # Timeout 900, ReservedConcurrentExecutions 1. lambdaRole is only a name until IAM exists.
    role_arn = f"arn:aws:iam::{account}:role/{ROLE}"
    settings = {"Runtime": "python3.6", "Handler": "index.lambda_handler", "Role": role_arn,
                "MemorySize": 1024, "Timeout": function_timeout}
    try:
        function_arn = lam.create_function(FunctionName=FUNCTION, Code={"ZipFile": zipped("index.py")},
                                           **settings)["FunctionArn"]
    except lam.exceptions.ResourceConflictException:
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=zipped("index.py"))
        lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        function_arn = lam.update_function_configuration(FunctionName=FUNCTION, **settings)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
    lam.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=1)

    # sqsTrigger: BatchSize 1, enabled. Lambda refuses it if the queue's visibility timeout is
    # shorter than the function's timeout, exactly as the article's failed deploy shows.
    mappings = lam.list_event_source_mappings(FunctionName=FUNCTION, EventSourceArn=queue_arn)["EventSourceMappings"]
    if mappings:
        uuid = mappings[0]["UUID"]
        lam.update_event_source_mapping(UUID=uuid, BatchSize=1, Enabled=True)
    else:
        uuid = lam.create_event_source_mapping(FunctionName=function_arn, EventSourceArn=queue_arn,
                                               BatchSize=1, Enabled=True)["UUID"]

    return {"bucket": BUCKET, "topic_arn": topic_arn, "queue_url": queue_url, "queue_arn": queue_arn,
            "function": FUNCTION, "function_arn": function_arn, "mapping_uuid": uuid}


def main() -> int:
    out = deploy()
    width = max(map(len, out))
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")
    print(f"\nnext: aws s3 cp hello.txt s3://{BUCKET}/   then   tsunagi logs {FUNCTION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
