"""What the rest of tsunagi may ask of CloudWatch Logs (implemented by ``services/logs/port.py``).

Callers: function workers' log lines (START/END/REPORT and the function's own output), written to
the function's log group (``LoggingConfig.LogGroup``, default ``/aws/lambda/<name>``); ECS tasks'
``awslogs`` output (which first checks that the group exists unless ``awslogs-create-group`` is set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tsunagi.ports import PortKey


class LogsPort(Protocol):
    async def append(self, account: str, region: str, group: str, stream: str,
                     events: Sequence[tuple[int, str]]) -> None:
        """Append ``(timestamp ms, message)`` events, creating the group and stream when missing (as
        Lambda does for its functions' logs)."""
        ...

    async def group_exists(self, account: str, region: str, group: str) -> bool:
        """Whether the log group exists."""
        ...


LOGS: PortKey[LogsPort] = PortKey("logs")
