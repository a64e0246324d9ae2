"""Fixtures for SNS service tests: SNS and SQS on one platform with its pipes (the outbox and SNS's
handlers), on SQLite and on PostgreSQL, without HTTP.

A test receives ``sns``, a runner, and passes it an ``async def body(h)``; the runner assembles the
platform on a ManualClock, starts it (the outbox dispatcher too, unless ``outbox=False``: then the
rows a publish writes stay where a test can read them), runs the body in one event loop and closes
everything. Functions are a recording :class:`~tsunagi.ports.awslambda.LambdaPort` (``h.functions``):
what SNS asks of Lambda is what these tests look at, not a function's run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import pytest

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.context import Principal, RequestContext
from tsunagi.pipes import install as install_pipes
from tsunagi.ports.awslambda import LAMBDA, FunctionRef, InvokeResult
from tsunagi.ports.sqs import SQS, QueueRef, ReceivedMessage, SqsPort
from tsunagi.services.base import Platform
from tsunagi.services.registry import load_services
from tsunagi.services.sns.service import SnsService
from tsunagi.store.base import open_store
from tsunagi.store.outbox import OutboxRepo, Pending

ACCOUNT = "000000000000"
REGION = "us-east-1"


class Invocation(NamedTuple):
    ctx: RequestContext
    function: str
    payload: bytes
    invocation_type: str


class RecordingFunctions:
    """A LambdaPort that records every invocation and answers as an Event invocation does."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []

    async def function(self, arn_or_name: str, account: str, region: str) -> FunctionRef | None:
        return None

    async def invoke(self, ctx: RequestContext, function: str, payload: bytes, *,
                     invocation_type: str = "RequestResponse", qualifier: str | None = None) -> InvokeResult:
        self.invocations.append(Invocation(ctx, function, payload, invocation_type))
        return InvokeResult(202, b"", None, None, ctx.request_id)

    async def concurrency_limit(self, function: str, account: str, region: str) -> int:
        return 1000

    async def code(self, sha: str) -> bytes | None:
        return None


class Harness:
    def __init__(self, platform: Platform, clock: ManualClock, functions: RecordingFunctions) -> None:
        self.platform = platform
        self.clock = clock
        self.store = platform.store
        self.functions = functions
        svc = platform.services["sns"]
        assert isinstance(svc, SnsService)
        self.svc = svc
        self.sqs_svc: Any = platform.services["sqs"]     # SQS's operations, to make queues
        self.sqs: SqsPort = platform.ports.get(SQS)

    def ctx(self, trace_id: str = "") -> RequestContext:
        """A request from outside (the account's root), in journey ``trace_id`` (a new one if empty)."""
        return RequestContext(account=ACCOUNT, region=REGION, request_id=str(uuid.uuid4()),
                              principal=Principal.root(ACCOUNT), trace_id=trace_id)

    async def topic(self, name: str, **attributes: str) -> str:
        out = await self.svc.create_topic(self.ctx(), {"Name": name, "Attributes": attributes})
        return str(out["TopicArn"])

    async def queue(self, name: str) -> QueueRef:
        url = (await self.sqs_svc.create_queue(self.ctx(), {"QueueName": name}))["QueueUrl"]
        attrs = await self.sqs_svc.get_queue_attributes(self.ctx(), {"QueueUrl": url, "AttributeNames": ["QueueArn"]})
        queue = await self.sqs.queue(attrs["Attributes"]["QueueArn"])
        assert queue is not None
        return queue

    async def subscribe(self, topic: str, protocol: str, endpoint: str, **attributes: str) -> str:
        out = await self.svc.subscribe(self.ctx(), {"TopicArn": topic, "Protocol": protocol, "Endpoint": endpoint,
                                                    "Attributes": attributes, "ReturnSubscriptionArn": True})
        return str(out["SubscriptionArn"])

    async def publish(self, ctx: RequestContext, topic: str, message: str, **params: Any) -> str:
        out = await self.svc.publish(ctx, {"TopicArn": topic, "Message": message, **params})
        return str(out["MessageId"])

    async def receive(self, queue: QueueRef, n: int = 10) -> list[ReceivedMessage]:
        return await self.sqs.receive(queue, n, 0)

    async def pending(self, kind: str | None = None) -> list[Pending]:
        """Outbox rows not run yet."""
        return await OutboxRepo(self.store).pending(kind)

    async def invoked(self, n: int = 1, timeout: float = 10.0) -> list[Invocation]:
        """The first ``n`` invocations, once the outbox has made them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.functions.invocations) < n and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert len(self.functions.invocations) >= n, f"{len(self.functions.invocations)} invocations, wanted {n}"
        return self.functions.invocations[:n]


Body = Callable[[Harness], Awaitable[None]]
Runner = Callable[..., None]


@pytest.fixture
def sns(store_url: str, tmp_path: Any) -> Runner:
    def run(body: Body, *, outbox: bool = True, services: tuple[str, ...] = ("sqs", "sns")) -> None:
        async def go() -> None:
            store = open_store(store_url, str(tmp_path))
            clock = ManualClock()
            platform = Platform(Config(data_dir=str(tmp_path), sns_signing_processes=0), store, clock)
            install_pipes(platform)
            load_services(platform, list(services))
            functions = RecordingFunctions()
            platform.ports.provide(LAMBDA, functions)
            await store.open()
            await store.reset()
            for svc in platform.services.values():
                await svc.start()
            components = platform.components if outbox else []
            for component in components:
                await component.start()
            try:
                await body(Harness(platform, clock, functions))
            finally:
                for component in reversed(components):
                    await component.stop()
                for svc in reversed(list(platform.services.values())):
                    await svc.stop()
                await store.close()

        asyncio.run(go())

    return run
