"""Tsunagi servers for ECS tests, with images mapped to host directories (``--ecs-image``), once on
SQLite and once on PostgreSQL: :func:`server_fixtures` makes the pair of fixtures for a module. The
test image (``tests/support/ecs_image``, one program ``/app/task.py``) is mapped as ``tasks``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.server import TsunagiServer

IMAGE_DIR = Path(__file__).resolve().parent / "ecs_image"
IMAGE = "tasks"


def server_fixtures(images: dict[str, Path | str]):
    """(module-scoped server fixture, per-test fixture): a server with ``images`` mapped, on each store,
    wiped before each test. Bind both in the test module, the first as ``_module_server``:
    ``_module_server, ecs_server = server_fixtures({...})``."""
    args = [a for image, folder in images.items() for a in ("--ecs-image", f"{image}={folder}")]

    @pytest.fixture(scope="module", params=["sqlite", "postgres"])
    def _module_server(request: pytest.FixtureRequest):
        url = None
        if request.param == "postgres":
            why = postgres.available()
            if why:
                if postgres.MANDATORY:
                    pytest.fail(why)
                pytest.skip(why)
            url = postgres.create_database()
        srv = TsunagiServer(url or "sqlite", extra_args=list(args))
        srv.start()
        srv.kind = request.param
        yield srv
        srv.stop()
        if url:
            postgres.drop_database(url)

    @pytest.fixture
    def server_for_test(_module_server: TsunagiServer) -> TsunagiServer:
        srv = _module_server
        if srv.proc is None or srv.proc.poll() is not None:
            srv.start()
        srv.reset()
        return srv

    return _module_server, server_for_test


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
