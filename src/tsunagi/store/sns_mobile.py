"""SNS's mobile push and SMS state (``queries/*/sns.sql``, ``migrations/*/0024_sns_mobile.sql``):
platform applications and their endpoints, each account's SMS settings, opted-out numbers and the
SMS sandbox's destination numbers. Rows as named tuples; the attributes are JSON text."""

from __future__ import annotations

from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store


class AppRow(NamedTuple):
    arn: str
    account: str
    region: str
    platform: str
    name: str
    attributes: str             # JSON, PlatformCredential included
    created_at: int


class EndpointRow(NamedTuple):
    arn: str
    app_arn: str
    token: str
    attributes: str             # JSON: Enabled, Token, CustomUserData
    created_at: int


class SandboxNumber(NamedTuple):
    phone: str
    status: str                 # Pending | Verified
    otp: str
    at: int


class MobileRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("sns", store.dialect)

    # == platform applications ==================================================================
    async def create_app(self, row: AppRow) -> bool:
        """Insert an application; False if its ARN exists already."""
        return await self.store.execute(self.q.create_app, tuple(row)) > 0

    async def app(self, arn: str) -> AppRow | None:
        row = await self.store.fetchone(self.q.app, (arn,))
        return AppRow._make(row) if row is not None else None

    async def list_apps(self, account: str, region: str, after: str, limit: int) -> list[AppRow]:
        return [AppRow._make(r) for r in await self.store.fetchall(self.q.list_apps, (account, region, after, limit))]

    async def set_app_attributes(self, arn: str, attributes: str) -> int:
        return await self.store.execute(self.q.set_app_attributes, (attributes, arn))

    async def delete_app(self, arn: str) -> None:
        """An application and all its endpoints."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_app_endpoints, (arn,))
            await tx.execute(self.q.delete_app, (arn,))

    # == endpoints ===============================================================================
    async def create_endpoint(self, row: EndpointRow) -> bool:
        """Insert an endpoint; False if the application has one with that token already."""
        return await self.store.execute(self.q.create_endpoint, tuple(row)) > 0

    async def endpoint(self, arn: str) -> EndpointRow | None:
        row = await self.store.fetchone(self.q.endpoint, (arn,))
        return EndpointRow._make(row) if row is not None else None

    async def endpoint_by_token(self, app_arn: str, token: str) -> EndpointRow | None:
        row = await self.store.fetchone(self.q.endpoint_by_token, (app_arn, token))
        return EndpointRow._make(row) if row is not None else None

    async def list_endpoints(self, app_arn: str, after: str, limit: int) -> list[EndpointRow]:
        rows = await self.store.fetchall(self.q.list_endpoints, (app_arn, after, limit))
        return [EndpointRow._make(r) for r in rows]

    async def set_endpoint(self, arn: str, token: str, attributes: str) -> int:
        return await self.store.execute(self.q.set_endpoint, (token, attributes, arn))

    async def delete_endpoint(self, arn: str) -> None:
        await self.store.execute(self.q.delete_endpoint, (arn,))

    # == SMS ======================================================================================
    async def sms_settings(self, account: str, region: str) -> str | None:
        row = await self.store.fetchone(self.q.sms_settings, (account, region))
        return str(row[0]) if row is not None else None

    async def put_sms_settings(self, account: str, region: str, attributes: str) -> None:
        await self.store.execute(self.q.put_sms_settings, (account, region, attributes))

    async def opted_out(self, account: str, region: str, phone: str) -> bool:
        return await self.store.fetchone(self.q.opted_out, (account, region, phone)) is not None

    async def opt_out(self, account: str, region: str, phone: str, now_ms: int) -> None:
        await self.store.execute(self.q.opt_out, (account, region, phone, now_ms))

    async def opt_in(self, account: str, region: str, phone: str) -> None:
        await self.store.execute(self.q.opt_in, (account, region, phone))

    async def opt_outs(self, account: str, region: str, after: str, limit: int) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.list_opt_outs, (account, region, after, limit))]

    async def sandbox_number(self, account: str, region: str, phone: str) -> SandboxNumber | None:
        row = await self.store.fetchone(self.q.sandbox_number, (account, region, phone))
        return SandboxNumber._make(row) if row is not None else None

    async def count_sandbox_numbers(self, account: str, region: str) -> int:
        row = await self.store.fetchone(self.q.count_sandbox_numbers, (account, region))
        return int(row[0]) if row else 0

    async def put_sandbox_number(self, account: str, region: str, number: SandboxNumber) -> None:
        await self.store.execute(self.q.put_sandbox_number, (account, region, *number))

    async def delete_sandbox_number(self, account: str, region: str, phone: str) -> int:
        return await self.store.execute(self.q.delete_sandbox_number, (account, region, phone))

    async def sandbox_numbers(self, account: str, region: str, after: str, limit: int) -> list[SandboxNumber]:
        rows = await self.store.fetchall(self.q.list_sandbox_numbers, (account, region, after, limit))
        return [SandboxNumber._make(r) for r in rows]
