"""Export tasks to tsunagi's S3 in AWS's object layout, through boto3 and the aws CLI on both stores."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from tests.integration.lambda_support import wait_for


def test_export_task_writes_aws_layout(server):
    logs, s3 = server.client("logs"), server.client("s3")
    s3.create_bucket(Bucket="exports")
    logs.create_log_group(logGroupName="/app")
    for stream in ("web-1", "web-2", "worker-1"):
        logs.create_log_stream(logGroupName="/app", logStreamName=stream)
    t = (int(time.time()) - 600) * 1000
    logs.put_log_events(logGroupName="/app", logStreamName="web-1", logEvents=[
        {"timestamp": t, "message": "GET / 200"}, {"timestamp": t + 1500, "message": "GET /a 404"}])
    logs.put_log_events(logGroupName="/app", logStreamName="web-2", logEvents=[
        {"timestamp": t + 10, "message": "too late"}])
    logs.put_log_events(logGroupName="/app", logStreamName="worker-1", logEvents=[
        {"timestamp": t, "message": "not a web stream"}])

    task = logs.create_export_task(taskName="nightly", logGroupName="/app", logStreamNamePrefix="web-",
                                   fromTime=t, to=t + 5, destination="exports", destinationPrefix="logs/app")["taskId"]
    done = wait_for(lambda: [x for x in logs.describe_export_tasks(taskId=task)["exportTasks"]
                             if x["status"]["code"] == "COMPLETED"], timeout=30)[0]
    assert done["taskName"] == "nightly" and done["logGroupName"] == "/app"
    assert done["from"] == t and done["to"] == t + 5
    assert done["destination"] == "exports" and done["destinationPrefix"] == "logs/app"
    assert done["executionInfo"]["completionTime"] >= done["executionInfo"]["creationTime"]

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="exports")["Contents"]}
    assert keys == {"logs/app/aws-logs-write-test", f"logs/app/{task}/web-1/000000.gz"}
    assert s3.get_object(Bucket="exports", Key="logs/app/aws-logs-write-test")["Body"].read() == \
        b"Permission Check Successful"
    body = s3.get_object(Bucket="exports", Key=f"logs/app/{task}/web-1/000000.gz")["Body"].read()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / 1000))
    assert gzip.decompress(body).decode() == f"{stamp}.000Z GET / 200\n"

    # one task at a time per account; wrong buckets and ranges are refused
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.create_export_task(logGroupName="/app", fromTime=t, to=t + 5, destination="no-such-bucket")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.create_export_task(logGroupName="/app", fromTime=t + 5, to=t, destination="exports")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.create_export_task(logGroupName="/nope", fromTime=t, to=t + 5, destination="exports")

    # the aws CLI: a whole-group export with the default prefix
    out = json.loads(server.aws("logs", "create-export-task", "--log-group-name", "/app", "--from", str(t),
                                "--to", str(t + 60_000), "--destination", "exports").stdout)
    second = out["taskId"]
    wait_for(lambda: logs.describe_export_tasks(taskId=second)["exportTasks"][0]["status"]["code"] == "COMPLETED",
             timeout=30)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="exports", Prefix=f"exportedlogs/{second}/")["Contents"]}
    assert keys == {f"exportedlogs/{second}/{s}/000000.gz" for s in ("web-1", "web-2", "worker-1")}
    listed = json.loads(server.aws("logs", "describe-export-tasks", "--status-code", "COMPLETED").stdout)
    assert {x["taskId"] for x in listed["exportTasks"]} == {task, second}

    with pytest.raises(logs.exceptions.InvalidOperationException):
        logs.cancel_export_task(taskId=second)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.cancel_export_task(taskId="00000000-0000-0000-0000-000000000000")
