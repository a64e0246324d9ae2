"""Seed 002 by API: SQS queue (dead-letter queue after 3 receives) -> Lambda, with the values of the
article's SAM template (stack ``sample-api-sqs-lambda``: service ``sample``, environment ``dev``). The API
Gateway in front waits for tsunagi's API Gateway issue; until then, POST the form it would send straight
to the queue URL (see README.md).

    python examples/002-queue-worker-dlq/deploy.py

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

SERVICE, ENVIRONMENT = "sample", "dev"
QUEUE = f"{SERVICE}-{ENVIRONMENT}-sqs"
DLQ = f"{SERVICE}-{ENVIRONMENT}-dead-letter-sqs"
FUNCTION = f"{SERVICE}-{ENVIRONMENT}-lambda"
MAX_RECEIVE_COUNT = 3


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-northeast-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def queue_attributes(visibility_timeout: int) -> dict[str, str]:
    """What the template gives both queues."""
    return {"VisibilityTimeout": str(visibility_timeout), "DelaySeconds": "0",
            "ReceiveMessageWaitTimeSeconds": "20", "MessageRetentionPeriod": "1209600",
            "MaximumMessageSize": "10240", "SqsManagedSseEnabled": "true"}


def zipped() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(HERE / "lambda_function.py", "lambda_function.py")
    return buf.getvalue()


def deploy(endpoint_url: str | None = None, *, queue_visibility_timeout: int = 60,
           dlq_visibility_timeout: int = 60, function_timeout: int = 60) -> dict[str, str]:
    """Create (or update) the queues, the function and the mapping; return names, URLs and ARNs.

    The keyword arguments exist for tests only; the defaults are the template's values.
    """
    sqs, lam = client("sqs", endpoint_url), client("lambda", endpoint_url)
    account = client("sts", endpoint_url).get_caller_identity()["Account"]

    def queue(name: str, attributes: dict[str, str]) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    # ApiQueueDLQ, then ApiQueue with its RedrivePolicy (maxReceiveCount 3).
    dlq_url, dlq_arn = queue(DLQ, queue_attributes(dlq_visibility_timeout))
    queue_url, queue_arn = queue(QUEUE, {
        **queue_attributes(queue_visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})})

    # ConsumeQueueFunction: python3.12, 128 MB, Timeout 60; the role SAM would generate is only a name.
    role = f"arn:aws:iam::{account}:role/{FUNCTION}-role"
    settings = {"Runtime": "python3.12", "Handler": "lambda_function.lambda_handler", "Role": role,
                "MemorySize": 128, "Timeout": function_timeout, "Architectures": ["x86_64"]}
    try:
        function_arn = lam.create_function(FunctionName=FUNCTION, Code={"ZipFile": zipped()},
                                           **settings)["FunctionArn"]
    except lam.exceptions.ResourceConflictException:
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=zipped())
        lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        settings.pop("Architectures")
        function_arn = lam.update_function_configuration(FunctionName=FUNCTION, **settings)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)

    # Events.ApiQueueEvent: an SQS event source with BatchSize 10.
    mappings = lam.list_event_source_mappings(FunctionName=FUNCTION, EventSourceArn=queue_arn)["EventSourceMappings"]
    if mappings:
        uuid = mappings[0]["UUID"]
    else:
        uuid = lam.create_event_source_mapping(FunctionName=function_arn, EventSourceArn=queue_arn,
                                               BatchSize=10)["UUID"]

    # ApiGateway + ApiGatewayRole: wait for tsunagi's API Gateway issue. The queue URL accepts the very
    # request the integration would send (POST, form-encoded Action=SendMessage&MessageBody=...).
    return {"queue_url": queue_url, "queue_arn": queue_arn, "dlq_url": dlq_url, "dlq_arn": dlq_arn,
            "function": FUNCTION, "function_arn": function_arn, "mapping_uuid": uuid}


def main() -> int:
    out = deploy()
    width = max(map(len, out))
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")
    print("\nnext (what API Gateway would send):\n"
          f"  curl -i -X POST {out['queue_url']} --aws-sigv4 aws:amz:us-east-1:sqs --user test:test \\\n"
          "    -H 'Content-Type: application/x-www-form-urlencoded' \\\n"
          "    --data-urlencode 'Action=SendMessage' \\\n"
          "    --data-urlencode 'MessageBody={\"message\": \"sample-api-gatewa-sqs-lambda-test\"}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
