"""Fixtures for SQS service tests: every test runs on SQLite and on PostgreSQL.

pytest-asyncio is not installed: a test receives ``sqs``, a runner, and passes it an
``async def body(h)``; the runner opens the store, starts the service on a ManualClock, runs the
body in one event loop and closes everything.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.sqs.service import SqsService
from tsunagi.store.base import open_store

PG_ADMIN = os.environ.get("TSUNAGI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    try:
        import psycopg

        conn = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as e:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"PostgreSQL is required in CI: {e}") from e
        yield None
        return
    name = f"tsunagi_sqs_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


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
        try:
            await aw
        except ServiceError as e:
            assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
            if message is not None:
                assert message in e.message, e.message
            return e
        raise AssertionError(f"expected {code}, but the call succeeded")


Body = Callable[[Harness], Awaitable[None]]


@pytest.fixture(params=["sqlite", "postgresql"])
def sqs(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[[Body], None]:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        if url is None:
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    else:
        url = ":memory:"

    def run(body: Body) -> None:
        async def go() -> None:
            store = open_store(url, str(tmp_path))
            clock = ManualClock()
            platform = Platform(Config(), store, clock)
            svc = SqsService(platform)
            platform.services["sqs"] = svc
            await store.open()
            await store.reset()
            await svc.start()
            try:
                await body(Harness(svc, clock))
            finally:
                await svc.stop()
                await store.close()

        asyncio.run(go())

    return run
