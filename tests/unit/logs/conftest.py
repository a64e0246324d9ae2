"""Fixtures for logs service tests: each test body runs once on SQLite and once on PostgreSQL.

There is no pytest-asyncio here: a test takes ``logs`` (a runner) and hands it an
``async def body(h)``. The runner opens a fresh store, builds the service on a ManualClock,
runs the body in one event loop and closes everything. The retention sweeper is not started;
tests call ``h.svc.sweep()`` when they want one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.services import expect_error, service_runner
from tsunagi.clock import ManualClock
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import RequestContext
from tsunagi.services.logs.service import LogsService

GROUP = "/aws/lambda/fn"
STREAM = "2024/07/02/[$LATEST]0123456789abcdef"


class Harness:
    """The service, its clock, a request context and helpers that read like the API."""

    def __init__(self, svc: LogsService, clock: ManualClock) -> None:
        self.svc = svc
        self.clock = clock
        self.ctx = self.context()

    @staticmethod
    def context(account: str = "000000000000", region: str = "us-east-1") -> RequestContext:
        return RequestContext(account=account, region=region, request_id=str(uuid.uuid4()))

    def now(self) -> int:
        return self.clock.now_ms()

    async def call(self, op: str, **params: Any) -> dict[str, Any]:
        return await getattr(self.svc, op)(self.ctx, params)

    async def group(self, name: str = GROUP, **params: Any) -> None:
        await self.call("create_log_group", logGroupName=name, **params)

    async def stream(self, name: str = STREAM, group: str = GROUP) -> None:
        await self.call("create_log_stream", logGroupName=group, logStreamName=name)

    async def put(self, messages: list[str] | list[tuple[int, str]], stream: str = STREAM,
                  group: str = GROUP) -> dict[str, Any]:
        events = [{"timestamp": m[0], "message": m[1]} if isinstance(m, tuple)
                  else {"timestamp": self.now(), "message": m} for m in messages]
        return await self.call("put_log_events", logGroupName=group, logStreamName=stream, logEvents=events)

    async def get(self, stream: str = STREAM, group: str = GROUP, **params: Any) -> dict[str, Any]:
        return await self.call("get_log_events", logGroupName=group, logStreamName=stream, **params)

    async def filter(self, group: str = GROUP, **params: Any) -> dict[str, Any]:
        return await self.call("filter_log_events", logGroupName=group, **params)

    async def streams(self, group: str = GROUP, **params: Any) -> list[dict[str, Any]]:
        return (await self.call("describe_log_streams", logGroupName=group, **params))["logStreams"]

    async def fails(self, aw: Awaitable[Any], code: str, message: str | None = None) -> ServiceError:
        return await expect_error(aw, code, message)


Body = Callable[[Harness], Awaitable[None]]


@pytest.fixture
def logs(store_url: str, tmp_path: Any) -> Callable[[Body], None]:
    # The retention sweeper is not started; tests call h.svc.sweep() when they want one.
    return service_runner(store_url, str(tmp_path), "logs", LogsService, Harness, start=False)
