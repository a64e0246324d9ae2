"""Seed 003 by API: a FIFO queue feeding a function that starts an ECS task per message and raises on
purpose, so that the message stays until the task deletes it; plus the bucket the CSV uploads go to.

    python examples/003-fifo-long-task/deploy.py [--ecs-endpoint http://localhost:4577]

ECS waits for tsunagi's ECS issue. ``--ecs-endpoint`` points the function's ECS calls at a stand-in
(``ecs_standin.py``) meanwhile; without it, ``run_task`` fails with NotImplemented (the message stays
all the same). Talks to $AWS_ENDPOINT_URL (default http://localhost:4566). Safe to run twice.
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

BUCKET = "csv-uploads"
QUEUE = "que.fifo"
FUNCTION = "que-consumer"          # the article does not name it


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def zipped() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(HERE / "lambda_function.py", "lambda_function.py")
    return buf.getvalue()


def deploy(endpoint_url: str | None = None, *, ecs_endpoint: str | None = None,
           queue_visibility_timeout: int = 30) -> dict[str, str]:
    """``queue_visibility_timeout`` exists for tests; 30 s is the console's default, which the article keeps."""
    s3, sqs, lam = (client(s, endpoint_url) for s in ("s3", "sqs", "lambda"))
    account = client("sts", endpoint_url).get_caller_identity()["Account"]
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass

    # The FIFO queue: one import at a time per group. The article's Sqs.send_message passes no
    # MessageDeduplicationId, so the queue deduplicates by content.
    url = sqs.create_queue(QueueName=QUEUE, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(queue_visibility_timeout)})
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    env = {"AWS_ENDPOINT_URL_ECS": ecs_endpoint} if ecs_endpoint else {}
    settings = {"Runtime": "python3.12", "Handler": "lambda_function.lambda_handler",
                "Role": f"arn:aws:iam::{account}:role/{FUNCTION}-role", "Environment": {"Variables": env}}
    try:
        function_arn = lam.create_function(FunctionName=FUNCTION, Code={"ZipFile": zipped()}, **settings)[
            "FunctionArn"]
    except lam.exceptions.ResourceConflictException:
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=zipped())
        lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        function_arn = lam.update_function_configuration(FunctionName=FUNCTION, **settings)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)

    # "トリガーを追加" with the queue: the console's defaults.
    mappings = lam.list_event_source_mappings(FunctionName=FUNCTION, EventSourceArn=arn)["EventSourceMappings"]
    uuid = mappings[0]["UUID"] if mappings else lam.create_event_source_mapping(
        FunctionName=function_arn, EventSourceArn=arn)["UUID"]
    return {"bucket": BUCKET, "queue_url": url, "queue_arn": arn, "function": FUNCTION,
            "function_arn": function_arn, "mapping_uuid": uuid, "ecs_endpoint": ecs_endpoint or "(none: ECS pending)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecs-endpoint", default=None, help="where the function's ECS calls go (ecs_standin.py)")
    args = parser.parse_args()
    out = deploy(ecs_endpoint=args.ecs_endpoint)
    width = max(map(len, out))
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")
    print("\nnext: python examples/003-fifo-long-task/task_app.py submit some.csv   then   tsunagi logs que-consumer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
