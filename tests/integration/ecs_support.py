"""A tsunagi server for ECS tests: the test image (``tests/support/ecs_image``) mapped as ``tasks:latest``
(and ``tasks:v2``), once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.server import TsunagiServer

IMAGE_DIR = Path(__file__).resolve().parents[1] / "support" / "ecs_image"
IMAGE = "tasks"
IMAGE_ARGS = ["--ecs-image", f"{IMAGE}={IMAGE_DIR}"]


def start_server(kind: str, pg_url: str | None = None) -> TsunagiServer:
    srv = TsunagiServer(pg_url if kind == "postgres" else "sqlite", extra_args=list(IMAGE_ARGS))
    srv.start()
    srv.kind = kind
    return srv


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def _ecs_server(request: pytest.FixtureRequest):
    url = None
    if request.param == "postgres":
        why = postgres.available()
        if why:
            if postgres.MANDATORY:
                pytest.fail(why)
            pytest.skip(why)
        url = postgres.create_database()
    srv = start_server(request.param, url)
    yield srv
    srv.stop()
    if url:
        postgres.drop_database(url)


@pytest.fixture
def ecs_server(_ecs_server: TsunagiServer) -> TsunagiServer:
    if _ecs_server.proc is None or _ecs_server.proc.poll() is not None:
        _ecs_server.start()
    _ecs_server.reset()
    return _ecs_server


def container(name: str = "app", *args: str, **extra) -> dict:
    return {"name": name, "image": IMAGE, "memory": 256, "command": ["python", "/app/task.py", *args], **extra}


def awslogs(group: str, prefix: str = "ecs") -> dict:
    return {"logDriver": "awslogs", "options": {"awslogs-group": group, "awslogs-region": "us-east-1",
                                                 "awslogs-stream-prefix": prefix, "awslogs-create-group": "true"}}


def wait_task(ecs, cluster: str, arn: str, status: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        if task["lastStatus"] == status:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {arn} is {task['lastStatus']}, not {status}, after {timeout}s")
        time.sleep(0.1)


def log_lines(logs, group: str, stream: str) -> list[str]:
    try:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


def wait_lines(logs, group: str, stream: str, want: str, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(logs, group, stream)
        if want in lines:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{want!r} not in {group} {stream} after {timeout}s: {lines}")
        time.sleep(0.1)
