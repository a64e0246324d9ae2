"""STS's port: what the rest of tsunagi may ask of STS (:class:`tsunagi.ports.sts.StsPort`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsunagi.context import RequestContext
from tsunagi.ports.sts import CallerIdentity

if TYPE_CHECKING:
    from tsunagi.services.sts.service import StsService


class StsPortImpl:
    def __init__(self, service: StsService) -> None:
        self._svc = service

    async def caller_identity(self, ctx: RequestContext) -> CallerIdentity:
        return await self._svc.identity(ctx)
