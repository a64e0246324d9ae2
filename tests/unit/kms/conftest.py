"""Fixtures for KMS service tests: each test body runs once on SQLite and once on PostgreSQL.

A test takes ``kms`` (a runner) and hands it an ``async def body(h)``; the runner opens a fresh
store, builds and starts the service on a ManualClock (its master key in the test's data dir), runs
the body and closes everything. The sweep is called by the tests (``h.svc.sweep()``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.services import expect_error, service_runner
from tsunagi.clock import ManualClock
from tsunagi.context import Principal
from tsunagi.ports.kms import KMS, KmsPort
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import RequestContext
from tsunagi.services.kms.service import KmsService

ACCOUNT = "000000000000"
DAY = 86_400.0


class Harness:
    """The service, its clock, a request context and helpers that read like the API."""

    def __init__(self, svc: KmsService, clock: ManualClock) -> None:
        self.svc = svc
        self.clock = clock
        self.ctx = self.context()
        self.port: KmsPort = svc.platform.ports.get(KMS)

    @staticmethod
    def context(account: str = ACCOUNT, region: str = "us-east-1") -> RequestContext:
        return RequestContext(account=account, region=region, request_id=str(uuid.uuid4()),
                              principal=Principal.root(account))

    async def call(self, op: str, ctx: RequestContext | None = None, **params: Any) -> dict[str, Any]:
        return await getattr(self.svc, op)(ctx or self.ctx, params)

    async def key(self, **params: Any) -> dict[str, Any]:
        md: dict[str, Any] = (await self.call("create_key", **params))["KeyMetadata"]
        return md

    async def fails(self, aw: Awaitable[Any], code: str, message: str | None = None) -> ServiceError:
        return await expect_error(aw, code, message)


Body = Callable[[Harness], Awaitable[None]]


@pytest.fixture
def kms(store_url: str, tmp_path: Any) -> Callable[[Body], None]:
    return service_runner(store_url, str(tmp_path), "kms", KmsService, Harness)
