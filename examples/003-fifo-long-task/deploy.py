"""Seed 003 by API: a FIFO queue feeding a function that starts an ECS task per message and raises on
purpose, so that the message stays until the task deletes it; the ECS cluster and task definition the
function runs; the bucket the CSV uploads go to.

    tsunagi serve --ecs-image seed003-app=examples/003-fifo-long-task/image
    python examples/003-fifo-long-task/deploy.py

The task's image ``seed003-app`` is the folder ``image/`` (its ``/app/manage.py``), mapped by the
server's ``--ecs-image``. The article leaves the cluster, the task definition and the command as
placeholders to fill in ("実行パラメータは自分の環境に合わせてください"): the function is deployed
with them filled in with this deployment's names, the rest of its code unchanged.
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

BUCKET = "csv-uploads"
QUEUE = "que.fifo"
FUNCTION = "que-consumer"          # the article does not name it
CLUSTER = "csv-import"             # the article's [クラスター名]
FAMILY = "csv-import"              # the article's [タスク名:リビジョン] is FAMILY:<revision>
COMMAND = "import_csv"             # the article's [実行コマンド], the management command
IMAGE = "seed003-app"              # tsunagi serve --ecs-image seed003-app=examples/003-fifo-long-task/image
LOG_GROUP = "/ecs/csv-import"


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-northeast-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def function_code(task_definition: str) -> str:
    """The article's function with its placeholders filled in: the cluster, the task definition and the command."""
    code = (HERE / "lambda_function.py").read_text(encoding="utf-8")
    return (code.replace("'[クラスター名]'", repr(CLUSTER)).replace("'[タスク名:リビジョン]'", repr(task_definition))
            .replace('"[実行コマンド]"', repr(COMMAND)))


def zipped(task_definition: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lambda_function.py", function_code(task_definition))
    return buf.getvalue()


def deploy_ecs(endpoint_url: str | None = None, task_env: dict[str, str] | None = None) -> str:
    """The cluster and a new revision of the task definition (container ``app``, image ``seed003-app``,
    output to CloudWatch Logs); returns ``family:revision``."""
    ecs = client("ecs", endpoint_url)
    ecs.create_cluster(clusterName=CLUSTER)
    container = {"name": "app", "image": IMAGE, "memory": 512, "essential": True,
                 "command": ["python", "/app/manage.py", COMMAND],
                 "environment": [{"name": k, "value": v} for k, v in sorted((task_env or {}).items())],
                 "logConfiguration": {"logDriver": "awslogs", "options": {
                     "awslogs-group": LOG_GROUP, "awslogs-region": ecs.meta.region_name,
                     "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}}
    td = ecs.register_task_definition(family=FAMILY, containerDefinitions=[container])["taskDefinition"]
    return f"{td['family']}:{td['revision']}"


def deploy(endpoint_url: str | None = None, *, queue_visibility_timeout: int = 30, with_ecs: bool = True,
           task_env: dict[str, str] | None = None) -> dict[str, str]:
    """``queue_visibility_timeout`` exists for tests; 30 s is the console's default, which the article keeps.
    ``with_ecs=False`` leaves the cluster out (the function's run_task then fails: the message stays).
    ``task_env`` is added to the task's environment."""
    s3, sqs, lam = (client(s, endpoint_url) for s in ("s3", "sqs", "lambda"))
    task_definition = deploy_ecs(endpoint_url, task_env) if with_ecs else f"{FAMILY}:1"
    account = client("sts", endpoint_url).get_caller_identity()["Account"]
    try:
        region = s3.meta.region_name
        # Outside us-east-1, S3 wants the bucket's region named, as on AWS.
        s3.create_bucket(Bucket=BUCKET, **({} if region == "us-east-1" else
                                           {"CreateBucketConfiguration": {"LocationConstraint": region}}))
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass

    # The FIFO queue: one import at a time per group. The article's Sqs.send_message passes no
    # MessageDeduplicationId, so the queue deduplicates by content.
    url = sqs.create_queue(QueueName=QUEUE, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(queue_visibility_timeout)})
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    settings = {"Runtime": "python3.12", "Handler": "lambda_function.lambda_handler",
                "Role": f"arn:aws:iam::{account}:role/{FUNCTION}-role"}
    code = zipped(task_definition)
    try:
        function_arn = lam.create_function(FunctionName=FUNCTION, Code={"ZipFile": code}, **settings)[
            "FunctionArn"]
    except lam.exceptions.ResourceConflictException:
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=code)
        lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        function_arn = lam.update_function_configuration(FunctionName=FUNCTION, **settings)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)

    # "トリガーを追加" with the queue: the console's defaults.
    mappings = lam.list_event_source_mappings(FunctionName=FUNCTION, EventSourceArn=arn)["EventSourceMappings"]
    uuid = mappings[0]["UUID"] if mappings else lam.create_event_source_mapping(
        FunctionName=function_arn, EventSourceArn=arn)["UUID"]
    return {"bucket": BUCKET, "queue_url": url, "queue_arn": arn, "function": FUNCTION,
            "function_arn": function_arn, "mapping_uuid": uuid, "cluster": CLUSTER,
            "task_definition": task_definition if with_ecs else "(none)", "task_logs": LOG_GROUP}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-task-seconds", default=None,
                        help="make each import take this long (watch the extended visibility at work)")
    args = parser.parse_args()
    env = {"LONG_TASK_SECONDS": args.long_task_seconds} if args.long_task_seconds else {}
    out = deploy(task_env=env)
    width = max(map(len, out))
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")
    print("\nnext: python examples/003-fifo-long-task/task_app.py submit some.csv   then   tsunagi logs que-consumer"
          f"   and   aws logs tail {LOG_GROUP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
