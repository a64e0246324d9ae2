"""Fixtures for SQS service tests: every test runs on SQLite and on PostgreSQL.

pytest-asyncio is not installed: a test receives ``sqs``, a runner, and passes it an
``async def body(h)``; the runner opens the store, starts the service on a ManualClock, runs the
body in one event loop and closes everything.
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
from tsunagi.services.sqs.service import SqsService


class Harness:
    """What a test body gets: the service, the clock, a context and small helpers."""

    def __init__(self, svc: SqsService, clock: ManualClock) -> None:
        self.svc = svc
        self.clock = clock
        self.store = svc.store
        self.ctx = self.context()

    def context(self, account: str = "000000000000", region: str = "us-east-1", **kw: Any) -> RequestContext:
        return RequestContext(account=account, region=region, request_id=str(uuid.uuid4()),
                              host="localhost:4566", **kw)

    async def create(self, name: str, ctx: RequestContext | None = None, **attributes: Any) -> str:
        params: dict[str, Any] = {"QueueName": name}
        if attributes:
            params["Attributes"] = {k: str(v) for k, v in attributes.items()}
        return (await self.svc.create_queue(ctx or self.ctx, params))["QueueUrl"]

    async def send(self, url: str, body: str = "hello", **kw: Any) -> dict[str, Any]:
        return await self.svc.send_message(self.ctx, {"QueueUrl": url, "MessageBody": body, **kw})

    async def recv(self, url: str, n: int = 10, **kw: Any) -> list[dict[str, Any]]:
        out = await self.svc.receive_message(self.ctx, {"QueueUrl": url, "MaxNumberOfMessages": n, **kw})
        return out.get("Messages", [])

    async def delete(self, url: str, handle: str) -> None:
        await self.svc.delete_message(self.ctx, {"QueueUrl": url, "ReceiptHandle": handle})

    async def attrs(self, url: str, *names: str) -> dict[str, str]:
        out = await self.svc.get_queue_attributes(self.ctx, {"QueueUrl": url, "AttributeNames": list(names)
                                                             or ["All"]})
        return out.get("Attributes", {})

    async def arn(self, url: str) -> str:
        return (await self.attrs(url, "QueueArn"))["QueueArn"]

    async def fails(self, aw: Awaitable[Any], code: str, message: str | None = None) -> ServiceError:
        return await expect_error(aw, code, message)


Body = Callable[[Harness], Awaitable[None]]


@pytest.fixture
def sqs(store_url: str, tmp_path: Any) -> Callable[[Body], None]:
    return service_runner(store_url, str(tmp_path), "sqs", SqsService, Harness)
