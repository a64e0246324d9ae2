"""Seed 001 by API: a preprocessor function -> "connector" SNS topic -> one SQS queue per service ->
service functions -> "notifier" SNS topic -> e-mail. The article builds it in the console; these are
the same resources, made with plain boto3.

    python examples/001-pipeline/deploy.py [--email you@example.com]

Talks to $AWS_ENDPOINT_URL (default http://localhost:4566). Safe to run twice.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3

HERE = Path(__file__).resolve().parent

# The article leaves names to the reader ("適当なリソース名で"); these are ours.
BUCKET = "connector-demo"
PREFIX = "requests"
CONNECTOR = "connector"          # one topic per connector
NOTIFIER = "notifier"
PREPROCESSOR = "preprocessor"
SERVICES = ("service01",)        # one queue and one function per service; the article shows service01
EMAIL = "you@example.com"
RUNTIME = "python3.12"           # the article does not say; any Python runtime runs its code
TIMEOUT = 30                     # nor this; the queues keep the console's 30 s visibility timeout (>= it)


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def zipped(folder: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(HERE / folder / "lambda_function.py", "lambda_function.py")
    return buf.getvalue()


def put_function(lam: Any, name: str, role: str, env: dict[str, str]) -> str:
    settings = {"Runtime": RUNTIME, "Handler": "lambda_function.lambda_handler", "Role": role,
                "Timeout": TIMEOUT, "Environment": {"Variables": env}}
    try:
        arn = lam.create_function(FunctionName=name, Code={"ZipFile": zipped(name)}, **settings)["FunctionArn"]
    except lam.exceptions.ResourceConflictException:
        lam.update_function_code(FunctionName=name, ZipFile=zipped(name))
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        arn = lam.update_function_configuration(FunctionName=name, **settings)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return str(arn)


def deploy(endpoint_url: str | None = None, *, email: str = EMAIL) -> dict[str, Any]:
    s3, sns, sqs, lam = (client(s, endpoint_url) for s in ("s3", "sns", "sqs", "lambda"))
    account = client("sts", endpoint_url).get_caller_identity()["Account"]
    role = f"arn:aws:iam::{account}:role/connector-demo-role"     # a name only: no IAM in tsunagi yet

    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    connector = sns.create_topic(Name=CONNECTOR)["TopicArn"]
    notifier = sns.create_topic(Name=NOTIFIER)["TopicArn"]

    # The notifier's e-mail subscription. tsunagi keeps the mail in its local mailbox (`tsunagi mail`);
    # as on AWS, the address must confirm first: `tsunagi mail --confirm <address>`.
    subs = sns.list_subscriptions_by_topic(TopicArn=notifier)["Subscriptions"]
    if not any(s["Protocol"] == "email" and s["Endpoint"] == email for s in subs):
        sns.subscribe(TopicArn=notifier, Protocol="email", Endpoint=email)

    common = {"S3_BUCKET": BUCKET, "S3_PREFIX": PREFIX}
    out: dict[str, Any] = {"bucket": BUCKET, "connector_topic_arn": connector, "notifier_topic_arn": notifier,
                           "email": email,
                           "preprocessor": put_function(lam, PREPROCESSOR, role,
                                                        {**common, "SNS_TOPIC_ARN_CONNECTOR": connector})}

    for service in SERVICES:
        # "SNS subscriptions" tab: the service's queue subscribes to the connector topic. The console
        # also writes the queue policy that lets the topic send.
        url = sqs.create_queue(QueueName=service)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},'
            f'"Action":"sqs:SendMessage","Resource":"{arn}",'
            f'"Condition":{{"ArnEquals":{{"aws:SourceArn":"{connector}"}}}}}}]}}')})
        subs = sns.list_subscriptions_by_topic(TopicArn=connector)["Subscriptions"]
        if not any(s["Protocol"] == "sqs" and s["Endpoint"] == arn for s in subs):
            sns.subscribe(TopicArn=connector, Protocol="sqs", Endpoint=arn)
        fn = put_function(lam, service, role, {**common, "SNS_TOPIC_ARN_NOTIFIER": notifier})
        # "Lambda triggers" tab: the queue feeds the service function (console defaults).
        if not lam.list_event_source_mappings(FunctionName=service, EventSourceArn=arn)["EventSourceMappings"]:
            lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn)
        out[service] = {"function_arn": fn, "queue_url": url, "queue_arn": arn}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--email", default=EMAIL, help=f"the notifier's e-mail address (default {EMAIL})")
    args = parser.parse_args()
    out = deploy(email=args.email)
    for key, value in out.items():
        print(f"{key:<20}  {value}")
    print(f"\nnext: tsunagi mail --confirm {args.email}   then   aws lambda invoke --function-name "
          f"{PREPROCESSOR} out.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
