"""Export tasks on the service with a recording S3 port (SQLite and PostgreSQL): the layout written,
the bucket policy AWS requires under --policies enforce, cancelling."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

from tests.unit.logs.conftest import GROUP, STREAM, Harness
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.ports.s3 import S3

ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"}, "Action": "s3:GetBucketAcl",
     "Resource": "arn:aws:s3:::exports"},
    {"Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"}, "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::exports/*"}]})


class Buckets:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.policy: str | None = None

    async def bucket_exists(self, name: str) -> bool:
        return name == "exports"

    async def bucket_region(self, name: str) -> str | None:
        return "us-east-1" if name == "exports" else None

    async def resource_policy(self, ctx: Any, arn: str) -> ResourcePolicy | None:
        return ResourcePolicy("arn:aws:s3:::exports", "000000000000", self.policy)

    async def write_object(self, ctx: Any, bucket: str, key: str, data: bytes, **kw: Any) -> None:
        assert ctx.source.service == "logs.us-east-1.amazonaws.com"     # written as CloudWatch Logs
        self.objects[key] = data


async def finished(h: Harness, task_id: str) -> dict[str, Any]:
    for _ in range(500):
        task = (await h.call("describe_export_tasks", taskId=task_id))["exportTasks"][0]
        if task["status"]["code"] not in ("PENDING", "RUNNING"):
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("the export did not finish")


def test_export_layout_and_bucket_policy(logs):
    async def body(h: Harness) -> None:
        buckets = Buckets()
        h.svc.platform.ports.provide(S3, buckets)  # type: ignore[arg-type]
        await h.group()
        await h.stream()
        now = h.now()
        await h.put([(now, "one"), (now + 1, "two")])
        h.svc.platform.config.policies = "enforce"
        await h.fails(h.call("create_export_task", logGroupName=GROUP, **{"from": now, "to": now + 10},
                             destination="exports"), "InvalidParameterException",
                      "GetBucketAcl call on the given bucket failed. Please check if CloudWatch Logs has been "
                      "granted permission to perform this operation.")
        buckets.policy = ALLOW
        task_id = (await h.call("create_export_task", logGroupName=GROUP, **{"from": now, "to": now + 10},
                                destination="exports", destinationPrefix="p"))["taskId"]
        task = await finished(h, task_id)
        assert task["status"] == {"code": "COMPLETED", "message": "Completed successfully"}
        assert set(buckets.objects) == {"p/aws-logs-write-test", f"p/{task_id}/{STREAM}/000000.gz"}
        lines = gzip.decompress(buckets.objects[f"p/{task_id}/{STREAM}/000000.gz"]).decode().splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == ["one", "two"]
        assert all(line[:24].endswith("Z") for line in lines)
        # a finished task cannot be cancelled; a second task may start once the first is done
        await h.fails(h.call("cancel_export_task", taskId=task_id), "InvalidOperationException")
        second = (await h.call("create_export_task", logGroupName=GROUP, **{"from": now, "to": now + 10},
                               destination="exports"))["taskId"]
        await finished(h, second)
        done = (await h.call("describe_export_tasks", statusCode="COMPLETED"))["exportTasks"]
        assert {t["taskId"] for t in done} == {task_id, second}

    logs(body)
