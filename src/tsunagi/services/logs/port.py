"""CloudWatch Logs' port: what the rest of tsunagi may ask of Logs (:class:`tsunagi.ports.logs.LogsPort`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService


class LogsPortImpl:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    async def append(self, account: str, region: str, group: str, stream: str,
                     events: Sequence[tuple[int, str]]) -> None:
        await self._svc.append(account, region, group, stream, list(events))

    async def group_exists(self, account: str, region: str, group: str) -> bool:
        return await self._svc.repo.group(account, region, group) is not None
