"""Export tasks: CreateExportTask, DescribeExportTasks, CancelExportTask, writing to tsunagi's S3.

A task exports the events of one log group (optionally the streams with a prefix) with
``from <= timestamp < to`` to a bucket, in AWS's layout::

    <destinationPrefix>/aws-logs-write-test                 "Permission Check Successful"
    <destinationPrefix>/<task id>/<stream name>/000000.gz   gzip of "<ISO 8601 time> <message>" lines
    <destinationPrefix>/<task id>/<stream name>/000001.gz   … each file at most PART_BYTES before gzip

``destinationPrefix`` defaults to ``exportedlogs``. As on AWS, an account runs one task at a time
(another while one is PENDING or RUNNING is LimitExceededException), the bucket must be in the
log group's region, and its policy must let ``logs.<region>.amazonaws.com`` call GetBucketAcl and
PutObject under the prefix (checked under ``--policies enforce``; ``warn`` logs a refusal and goes on). Objects are written through the S3 port as ``logs.<region>.amazonaws.com``.
The task runs in the background on the node that accepted it; its status (PENDING, RUNNING, then
COMPLETED, FAILED or CANCELLED) is kept in the store. A task a stopped node was running stays
RUNNING (it is not resumed elsewhere).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tsunagi.context import Source
from tsunagi.policy import Dialect
from tsunagi.ports.delivery_policy import resource_check
from tsunagi.ports.s3 import S3
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import (
    BAD_TOKEN,
    InvalidOperation,
    InvalidParameter,
    LimitExceeded,
    ResourceNotFound,
)
from tsunagi.services.logs.tokens import decode, encode
from tsunagi.store.logs import FOREVER, NEVER

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

log = logging.getLogger("tsunagi.logs")

EXPORT = "export-task"
PART_BYTES = 64 * 1024 * 1024
ACTIVE = ("PENDING", "RUNNING", "PENDING_CANCEL")
NO_TASK = "The specified export task does not exist."
NO_ACL = ("GetBucketAcl call on the given bucket failed. Please check if CloudWatch Logs has been granted "
          "permission to perform this operation.")
NO_PUT = ("PutObject call on the given bucket failed. Please check if CloudWatch Logs has been granted "
          "permission to perform this operation.")


def _line(ts: int, message: str) -> bytes:
    when = datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"
    return f"{when} {message}\n".encode("utf-8", "surrogatepass")


class Exports:
    def __init__(self, service: LogsService) -> None:
        self._svc = service
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def repo(self) -> Any:
        return self._svc.policies.repo

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()

    async def _set(self, account: str, region: str, task_id: str, code: str, message: str,
                   done: bool = False) -> None:
        row = await self.repo.get(account, region, EXPORT, task_id)
        if row is None:
            return
        doc = row.fields
        if doc["status"]["code"] == "CANCELLED" and code != "CANCELLED":
            return
        doc["status"] = {"code": code, "message": message}
        if done:
            doc["executionInfo"]["completionTime"] = self._svc.clock.now_ms()
        await self.repo.put(account, region, EXPORT, task_id, doc, self._svc.clock.now_ms())

    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        group = await svc._group(ctx, params["logGroupName"])
        start, end = int(params["from"]), int(params["to"])
        if start > end:
            raise InvalidParameter("Specified time range of 'from' and 'to' is not valid.")
        bucket = params["destination"]
        prefix = params.get("destinationPrefix") or "exportedlogs"
        stream_prefix = params.get("logStreamNamePrefix")
        if stream_prefix:
            svc._check_stream_name(stream_prefix, "logStreamNamePrefix")
        s3 = svc.platform.ports.find(S3)
        if s3 is None or not await s3.bucket_exists(bucket):
            raise InvalidParameter("The specified bucket does not exist.")
        if await s3.bucket_region(bucket) != ctx.region:
            raise InvalidParameter("The specified bucket is not in the same region as the log group.")
        found = await s3.resource_policy(ctx, f"arn:aws:s3:::{bucket}")
        if found is not None:       # the bucket's policy must let CloudWatch Logs in (under --policies enforce)
            principal = f"logs.{ctx.region}.amazonaws.com"
            source = svc._group_arn(ctx.region, ctx.account, group.name)
            for action, resource, refusal in (("s3:GetBucketAcl", found.arn, NO_ACL),
                                              ("s3:PutObject", f"{found.arn}/{prefix}/*", NO_PUT)):
                verdict = resource_check(svc.platform.config.policies, policy=found.policy, dialect=Dialect.S3,
                                         resource_arn=resource, resource_account=found.account,
                                         principal=principal, action=action, source_arn=source,
                                         source_account=ctx.account, configuring=True)
                if not verdict.allowed:
                    raise InvalidParameter(refusal)
        running = [r for r in await self.repo.list(ctx.account, ctx.region, EXPORT, limit=10_000)
                   if r.fields.get("status", {}).get("code") in ACTIVE]
        if running:
            raise LimitExceeded("Resource limit exceeded.")
        task_id = str(uuid.uuid4())
        now = svc.clock.now_ms()
        doc: dict[str, Any] = {"taskId": task_id}
        if params.get("taskName"):
            doc["taskName"] = params["taskName"]
        doc.update({"logGroupName": group.name, "from": start, "to": end, "destination": bucket,
                    "destinationPrefix": prefix, "status": {"code": "PENDING", "message": "Pending"},
                    "executionInfo": {"creationTime": now}})
        await self.repo.put(ctx.account, ctx.region, EXPORT, task_id, doc, now)
        write_ctx = ctx.on_behalf(account=ctx.account, region=ctx.region, service="s3", operation="PutObject",
                                  source=Source(svc._group_arn(ctx.region, ctx.account, group.name),
                                                f"logs.{ctx.region}.amazonaws.com", ctx.account))
        task = asyncio.get_running_loop().create_task(
            self._run(write_ctx, task_id, group.id, group.name, stream_prefix, start, end, bucket, prefix),
            name=f"tsunagi-logs-export-{task_id}")
        self._tasks[task_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(task_id, None))
        return {"taskId": task_id}

    async def _run(self, ctx: RequestContext, task_id: str, group_id: int, group: str, stream_prefix: str | None,
                   start: int, end: int, bucket: str, prefix: str) -> None:
        account, region = ctx.account, ctx.region
        svc = self._svc
        s3 = svc.platform.ports.get(S3)
        try:
            await self._set(account, region, task_id, "RUNNING", "Started")
            await s3.write_object(ctx, bucket, f"{prefix}/aws-logs-write-test", b"Permission Check Successful")
            group_row = await svc.repo.group(account, region, group)
            cutoff = svc._cutoff(group_row) if group_row is not None else NEVER
            after_stream: tuple[int, str] | None = None
            while True:
                streams = await svc.repo.list_streams(group_id, prefix=stream_prefix, by_last_event=False,
                                                      descending=False, after=after_stream, limit=100)
                for stream in streams:
                    await self._export_stream(ctx, task_id, stream.id, stream.name, start, end, cutoff, bucket,
                                              prefix)
                if len(streams) < 100:
                    break
                after_stream = (0, streams[-1].name)
            await self._set(account, region, task_id, "COMPLETED", "Completed successfully", done=True)
        except asyncio.CancelledError:
            raise
        except ServiceError as e:
            await self._set(account, region, task_id, "FAILED", f"{e.code}: {e.message}", done=True)
        except Exception as e:
            log.exception("export task %s failed", task_id)
            await self._set(account, region, task_id, "FAILED", str(e) or type(e).__name__, done=True)

    async def _export_stream(self, ctx: RequestContext, task_id: str, stream_id: int, stream: str, start: int,
                             end: int, cutoff: int, bucket: str, prefix: str) -> None:
        svc = self._svc
        part = 0
        buf: list[bytes] = []
        size = 0
        after: tuple[int, int] | None = None

        async def flush() -> None:
            nonlocal part, buf, size
            data = await asyncio.to_thread(gzip.compress, b"".join(buf))
            await svc.platform.ports.get(S3).write_object(ctx, bucket, f"{prefix}/{task_id}/{stream}/{part:06d}.gz",
                                                          data, content_type="application/octet-stream",
                                                          content_encoding="gzip")
            part += 1
            buf, size = [], 0

        while True:
            row = await self.repo.get(ctx.account, ctx.region, EXPORT, task_id)
            if row is None or row.fields["status"]["code"] == "CANCELLED":
                raise asyncio.CancelledError
            rows = await svc.repo.stream_events(stream_id, start=start, end=end if end else FOREVER, cutoff=cutoff,
                                                after=after, ascending=True, limit=5000)
            for r in rows:
                line = _line(r.ts, r.message)
                if buf and size + len(line) > PART_BYTES:
                    await flush()
                buf.append(line)
                size += len(line)
            if len(rows) < 5000:
                break
            after = (rows[-1].ts, rows[-1].id)
        if buf:
            await flush()

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        code = params.get("statusCode")
        if params.get("taskId"):
            row = await self.repo.get(ctx.account, ctx.region, EXPORT, params["taskId"])
            tasks = [row.fields] if row and (not code or row.fields["status"]["code"] == code) else []
            return {"exportTasks": tasks}
        limit = int(params.get("limit") or 50)
        after = None
        if params.get("nextToken"):
            doc = decode(params["nextToken"])
            if not isinstance(doc, dict) or not isinstance(doc.get("n"), str):
                raise InvalidParameter(BAD_TOKEN)
            after = doc["n"]
        found: list[dict[str, Any]] = []
        more = False
        while not more:
            rows = await self.repo.list(ctx.account, ctx.region, EXPORT, after=after, limit=200)
            for r in rows:
                if code and r.fields["status"]["code"] != code:
                    continue
                if len(found) == limit:
                    more = True
                    break
                found.append(r.fields)
            if len(rows) < 200:
                break
            after = rows[-1].name
        out: dict[str, Any] = {"exportTasks": found}
        if more:
            out["nextToken"] = encode({"n": found[-1]["taskId"]})
        return out

    async def cancel(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        task_id = params["taskId"]
        row = await self.repo.get(ctx.account, ctx.region, EXPORT, task_id)
        if row is None:
            raise ResourceNotFound(NO_TASK)
        if row.fields["status"]["code"] not in ACTIVE:
            raise InvalidOperation("The specified export task has already finished")
        await self._set(ctx.account, ctx.region, task_id, "CANCELLED", "Cancelled by user", done=True)
        running = self._tasks.get(task_id)
        if running is not None:
            running.cancel()
        return {}
