"""ECS: RunTask to the task's first line of output, and tasks started per second.

The task is ``python /app/first.py`` (prints one line and exits) from the image ``bench-task``, which
``bench/servers.py`` maps to ``bench/ecs_image`` on tsunagi (``TSUNAGI_ECS_IMAGES``), with an awslogs
log configuration.

- ``first line``: one RunTask at a time; the span from sending RunTask to the line being readable with
  GetLogEvents (polled every 2 ms on another connection): p50/p99 over the rounds. It holds the whole
  way a task goes: the request, the task's record, starting the process (a Python interpreter), its
  output, and the write to CloudWatch Logs.
- ``burst``: RunTask with ``count`` 10, several at once, until every task has stopped (ListTasks with
  desiredStatus STOPPED): tasks per second and server CPU per task (the server and the tasks' processes).

MiniStack accepts RunTask but runs nothing (its task stays RUNNING, no output): "n/a". moto and
LocalStack run containers only in Docker (none here).
"""
from __future__ import annotations

import json
import time

from ..client import Conn, LoadResult, pct
from ..core import Context, log, measure, unavailable_row
from ..report import Col, Table
from ..servers import Server
from . import scenario

IMAGE = "bench-task"
GROUP = "/bench/ecs"
CLUSTER = "bench"
FAMILY = "bench-first-line"
TASK_PEERS = ("tsunagi", "tsunagi-pg")


class EcsError(Exception):
    pass


def _json_call(s: Server, conn: Conn, service: str, target: str, payload: dict) -> dict:
    raw = s.signer.json(service, target, payload, content_type="application/x-amz-json-1.1")
    status, body = conn.request(raw)
    if status != 200:
        raise EcsError(f"{target} → HTTP {status}: {body[:300]!r}")
    return json.loads(body) if body else {}


def ecs(s: Server, conn: Conn, op: str, payload: dict) -> dict:
    return _json_call(s, conn, "ecs", f"AmazonEC2ContainerServiceV20141113.{op}", payload)


def logs(s: Server, conn: Conn, op: str, payload: dict) -> dict:
    return _json_call(s, conn, "logs", f"Logs_20140328.{op}", payload)


def _setup(s: Server, conn: Conn) -> None:
    ecs(s, conn, "CreateCluster", {"clusterName": CLUSTER})
    ecs(s, conn, "RegisterTaskDefinition", {"family": FAMILY, "containerDefinitions": [{
        "name": "app", "image": IMAGE, "memory": 256, "command": ["python", "/app/first.py"],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "b",
            "awslogs-create-group": "true"}}}]})


def _first_line(s: Server, conn: Conn, poll: Conn) -> float:
    t0 = time.perf_counter()
    out = ecs(s, conn, "RunTask", {"cluster": CLUSTER, "taskDefinition": FAMILY})
    if out.get("failures") or not out.get("tasks"):
        raise EcsError(f"RunTask: {out}")
    task_id = out["tasks"][0]["taskArn"].rsplit("/", 1)[1]
    deadline = t0 + 30
    while time.perf_counter() < deadline:
        try:
            events = logs(s, poll, "GetLogEvents", {"logGroupName": GROUP, "logStreamName": f"b/app/{task_id}",
                                                    "startFromHead": True})["events"]
        except EcsError:
            events = []
        if events:
            return time.perf_counter() - t0
        time.sleep(0.002)
    raise EcsError(f"no output from task {task_id} within 30 s")


def _stopped(s: Server, conn: Conn) -> int:
    n, token = 0, None
    while True:
        payload: dict = {"cluster": CLUSTER, "desiredStatus": "STOPPED", "maxResults": 100}
        if token:
            payload["nextToken"] = token
        out = ecs(s, conn, "ListTasks", payload)
        n += len(out["taskArns"])
        token = out.get("nextToken")
        if not token:
            return n


def _burst(s: Server, conn: Conn, burst: int, before: int) -> LoadResult:
    """RunTask with count 10 until ``burst`` tasks are asked for, then wait for all of them to stop."""
    t0 = time.perf_counter()
    for _ in range(burst // 10):
        ecs(s, conn, "RunTask", {"cluster": CLUSTER, "taskDefinition": FAMILY, "count": 10})
    while _stopped(s, conn) < before + burst:
        if time.perf_counter() - t0 > 120:
            raise EcsError("the burst's tasks did not all stop within 120 s")
        time.sleep(0.02)
    return LoadResult(calls=burst, errors=0, wall=time.perf_counter() - t0, latencies=[])


@scenario("ecs", order=85)
def run(ctx: Context) -> list[Table]:
    """ECS RunTask → the task's first line in CloudWatch Logs (p50/p99), and tasks started per second."""
    rounds = 5 if ctx.quick else 20
    burst = 20 if ctx.quick else 50
    t = Table("ECS: RunTask → first line of output (python task, awslogs); a burst of tasks",
              [Col("server", "server", "text"), Col("p50", "first line p50 ms", "ms"),
               Col("p99", "first line p99 ms", "ms"), Col("tasks", "burst tasks", "int"),
               Col("rate", "tasks/s", "num"), Col("cpu_ms", "CPU ms/task", "num")])
    for s in ctx.aws():
        if not s.available:
            unavailable_row(t, s)
            continue
        if s.name not in TASK_PEERS:
            why = ("MiniStack records the task as RUNNING but runs nothing" if s.name == "ministack" else
                   f"{s.name}: an older build without ECS" if s.name.startswith("tsunagi") else
                   f"{s.name} runs containers only in Docker (none here)")
            t.add(server=s.name, _note=f"n/a: {why}")
            continue
        conn, poll = Conn(s.host, s.port), Conn(s.host, s.port)
        try:
            _setup(s, conn)
            _first_line(s, conn, poll)                 # warm-up: the interpreter's files in the page cache
            spans = [_first_line(s, conn, poll) for _ in range(rounds)]
            before = _stopped(s, conn)

            res, cpu = measure(s, lambda s=s, conn=conn, before=before: _burst(s, conn, burst, before))
            t.add(server=s.name, p50=pct(spans, 50) * 1000, p99=pct(spans, 99) * 1000, tasks=burst,
                  rate=burst / res.wall, cpu_ms=cpu / burst * 1000)
        except Exception as e:  # noqa: BLE001
            log(f"{s.name}: {type(e).__name__}: {e}")
            t.add(server=s.name, _note=f"failed: {type(e).__name__}: {str(e)[:200]}")
        finally:
            conn.close()
            poll.close()
    return [t]
